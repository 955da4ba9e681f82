//! # kawal
//!
//! A streaming detector of account takeovers for institutional social media
//! accounts: it reads account activity events, keeps per-account
//! behavioural baselines in memory, and raises explainable alerts within
//! seconds of a likely hijack.
//!
//! # Layout
//!
//! The modules follow the data:
//!
//! ```text
//!  source::ndjson (file, stdin)          decode          detect (one owner per partition/shard)
//!  source::kafka  (consumer group) ──▶  bytes → Event  ──▶  state ─ signals ─ score
//!                                     (borrowed)                 │
//!                                                                ▼ Alert (batch Ack)
//!           offsets stored behind acks ◀── sink (kafka topic, stdout, file; dead letters)
//! ```
//!
//! - [`source`]: where events come from (NDJSON files, Kafka consumer
//!   group with at-least-once offsets).
//! - [`adapt`]: vendor logs (Okta, Entra ID, Google Workspace, OCSF)
//!   translated to native events at the edge (`--format`).
//! - [`decode`]: bytes to a borrowed [`decode::Event`], typed errors; a
//!   schema-specific scanner for plain events, serde for the rest.
//! - [`enrich`]: optional GeoIP enrichment of events that carry only an IP.
//! - [`detect`]: the synchronous core. [`detect::Detector::process`] takes
//!   no locks, awaits nothing and reads no clock.
//!   - [`detect::state`]: fixed-size per-account baselines, in a slab
//!     behind a one-miss index from account hash to position.
//!   - [`detect::signals`]: likelihood-ratio signals with explanations.
//!   - [`detect::score`]: cases, severities, alerts.
//! - [`sink`]: where alerts go; a sink acknowledges what it accepted
//!   (synchronously, or later through the batch's [`sink::Ack`]).
//! - [`kafka`]: client settings shared by source, sink and `produce`.
//! - [`produce`]: NDJSON files into a topic, keyed by account.
//! - [`demo`]: the whole pipeline on an embedded Kafka.
//! - [`metrics`]: Prometheus metrics and the `/metrics` endpoint.
//! - [`replay`]: the file pipeline (sharded detectors, ordered output).
//! - [`sim`]: the activity generator with labelled takeovers.
//! - [`eval`]: scoring alerts against the truth.
//! - [`config`], [`telemetry`]: configuration layers and logging.
//! - [`fuzz`]: the fuzz harness (decode then detect, invariants checked),
//!   shared by `cargo fuzz` and the corpus test.

pub mod adapt;
pub mod config;
pub mod decode;
pub mod demo;
pub mod detect;
pub mod enrich;
pub mod eval;
pub mod feedback;
pub mod fuzz;
pub mod hash;
pub mod kafka;
pub mod loopback;
pub mod metrics;
pub mod produce;
pub mod replay;
pub mod sim;
pub mod sink;
pub mod source;
pub mod state;
pub mod suppress;
pub mod telemetry;
pub mod time;
pub mod view;
