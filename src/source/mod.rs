//! Event sources. Each yields raw event bytes; decoding is the next stage.
//!
//! - [`ndjson`]: NDJSON from a file or standard input, read in large
//!   chunks split on line boundaries, for replay and tests.
//! - Kafka comes with the pipeline issue: a consumer per partition group,
//!   each message one event.

pub mod ndjson;
