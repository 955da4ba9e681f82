//! Alerts as NDJSON to standard output or a file. Writes are synchronous,
//! so a send is acknowledged when it returns and takes no hold on the ack.

use std::io::Write;

use super::{Ack, Sink, SinkError};
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

    fn send(&mut self, alerts: &[Alert], _ack: &Ack) -> Result<(), SinkError> {
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

/// One output (standard output, a file) written by several pipeline
/// workers. Each `write_all` from [`NdjsonSink::send`] is one batch of
/// whole lines, written under the lock, so lines never interleave. A std
/// Mutex: it is held for one buffered write, never across a wait.
#[derive(Clone)]
pub struct SharedWriter(std::sync::Arc<std::sync::Mutex<Box<dyn Write + Send>>>);

impl SharedWriter {
    pub fn new(w: Box<dyn Write + Send>) -> SharedWriter {
        SharedWriter(std::sync::Arc::new(std::sync::Mutex::new(w)))
    }
}

impl Write for SharedWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.write_all(buf).map(|()| buf.len())
    }

    fn write_all(&mut self, buf: &[u8]) -> std::io::Result<()> {
        self.0
            .lock()
            .map_err(|_| std::io::Error::other("alert writer poisoned"))?
            .write_all(buf)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.0
            .lock()
            .map_err(|_| std::io::Error::other("alert writer poisoned"))?
            .flush()
    }
}
