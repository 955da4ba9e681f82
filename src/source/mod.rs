//! Event sources. Each yields raw event bytes; decoding is the next stage.
//!
//! - [`ndjson`]: NDJSON from a file or standard input, read in large
//!   chunks split on line boundaries, for replay and tests.
//! - [`kafka`]: a consumer group, one message per event, partitions owned
//!   by worker threads; offsets stored only behind delivered alerts.
//! - [`relay`]: vendor log topics (`[kafka.adapt]`) translated to native
//!   events and produced, keyed by account, to the events topic.

pub mod kafka;
pub mod ndjson;
pub mod relay;
