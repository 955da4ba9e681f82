//! Alerts as NDJSON to standard output or a file.

use std::io::Write;

use super::{Sink, SinkError};
use crate::detect::Alert;

/// Writes one alert per line. The encoding buffer is reused between calls;
/// a send is acknowledged once the lines are handed to the writer, and
/// `flush` makes them durable as far as the writer goes.
pub struct NdjsonSink<W: Write + Send> {
    out: W,
    buf: Vec<u8>,
    /// Flush after every send (interactive output, tailing a file).
    flush_each: bool,
}

impl<W: Write + Send> NdjsonSink<W> {
    pub fn new(out: W, flush_each: bool) -> Self {
        NdjsonSink {
            out,
            buf: Vec::with_capacity(4096),
            flush_each,
        }
    }

    pub fn into_inner(self) -> W {
        self.out
    }
}

impl<W: Write + Send> Sink for NdjsonSink<W> {
    fn name(&self) -> &'static str {
        "ndjson"
    }

    fn send(&mut self, alerts: &[Alert]) -> Result<(), SinkError> {
        if alerts.is_empty() {
            return Ok(());
        }
        self.buf.clear();
        for a in alerts {
            serde_json::to_writer(&mut self.buf, a).map_err(|source| SinkError::Encode {
                sink: "ndjson",
                source,
            })?;
            self.buf.push(b'\n');
        }
        self.out
            .write_all(&self.buf)
            .map_err(|source| SinkError::Io {
                sink: "ndjson",
                source,
            })?;
        if self.flush_each {
            self.flush()?;
        }
        Ok(())
    }

    fn flush(&mut self) -> Result<(), SinkError> {
        self.out.flush().map_err(|source| SinkError::Io {
            sink: "ndjson",
            source,
        })
    }
}
