//! Alert sinks: where alerts go once detection has raised them.
//!
//! A sink *acknowledges*: [`Sink::send`] returns only when the sink has
//! accepted the alerts (written them to its file, or later: a Kafka
//! delivery report, a webhook's 2xx). The pipeline stores an input offset
//! only after every sink has acknowledged every alert raised before it,
//! which is what makes delivery at-least-once. Sinks are synchronous here
//! because the replay pipeline is; the Kafka pipeline wraps the same
//! contract around delivery futures.

pub mod ndjson;

use crate::detect::Alert;

#[derive(Debug, thiserror::Error)]
pub enum SinkError {
    #[error("{sink}: write failed: {source}")]
    Io {
        sink: &'static str,
        #[source]
        source: std::io::Error,
    },
    #[error("{sink}: cannot encode alert: {source}")]
    Encode {
        sink: &'static str,
        #[source]
        source: serde_json::Error,
    },
}

impl SinkError {
    /// A metric label.
    pub fn kind(&self) -> &'static str {
        match self {
            SinkError::Io { .. } => "io",
            SinkError::Encode { .. } => "encode",
        }
    }
}

pub trait Sink: Send {
    /// A short name (logs, metric labels).
    fn name(&self) -> &'static str;
    /// Accepts alerts; `Ok` is the acknowledgement.
    fn send(&mut self, alerts: &[Alert]) -> Result<(), SinkError>;
    /// Pushes buffered alerts down (end of input, shutdown, before a commit).
    fn flush(&mut self) -> Result<(), SinkError>;
}
