//! Alert sinks: where alerts go once detection has raised them.
//!
//! A sink *acknowledges*. [`Sink::send`] hands it the alerts of one input
//! batch together with that batch's [`Ack`]. A sink that writes at once
//! (a file) is done when `send` returns; a sink that delivers later (the
//! Kafka alerts topic, later webhooks with retries) takes a hold on the
//! `Ack` per alert and releases it from its delivery callback. The
//! pipeline stores a batch's input offsets only when its `Ack` has no
//! holds left and every earlier batch is done, which is what makes
//! delivery at-least-once: a crash before that re-reads the batch.

pub mod kafka;
pub mod ndjson;
pub mod postgres;
pub mod webhook;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use crate::detect::Alert;

/// Outstanding deliveries of one input batch, shared between the pipeline
/// and the sinks' delivery callbacks (which may run on other threads, so
/// the counts are atomics).
#[derive(Debug, Clone, Default)]
pub struct Ack(Arc<AckInner>);

#[derive(Debug, Default)]
struct AckInner {
    pending: AtomicUsize,
    failed: AtomicUsize,
    /// No input offsets wait on this batch (a replay's): see
    /// [`Ack::guards_offsets`].
    untracked: bool,
}

impl Ack {
    pub fn new() -> Ack {
        Ack::default()
    }

    /// The ack of batches whose acceptance stores no input offsets: a
    /// replay's, which has none (it is run again from its file, and saves
    /// `--state` only after every sink's `flush`).
    pub fn untracked() -> Ack {
        Ack(Arc::new(AckInner {
            untracked: true,
            ..AckInner::default()
        }))
    }

    /// Whether input offsets will be stored once this batch is accepted.
    /// A sink whose "accepted" means "on disk" (the webhook outboxes) must
    /// then make the batch durable before returning; otherwise it may wait
    /// for `flush`.
    pub fn guards_offsets(&self) -> bool {
        !self.0.untracked
    }

    /// One more delivery to wait for; call before queueing it.
    pub fn hold(&self) {
        self.0.pending.fetch_add(1, Ordering::AcqRel);
    }

    /// A held delivery finished; `ok` is false when the sink gave up.
    pub fn release(&self, ok: bool) {
        if !ok {
            self.0.failed.fetch_add(1, Ordering::AcqRel);
        }
        self.0.pending.fetch_sub(1, Ordering::AcqRel);
    }

    pub fn pending(&self) -> usize {
        self.0.pending.load(Ordering::Acquire)
    }

    pub fn failed(&self) -> usize {
        self.0.failed.load(Ordering::Acquire)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SinkError {
    #[error("{sink}: write failed: {source}")]
    Io {
        sink: &'static str,
        #[source]
        source: std::io::Error,
    },
    #[error("{sink}: cannot queue: {reason}")]
    Queue { sink: &'static str, reason: String },
    #[error("{sink}: {pending} deliveries still pending after {waited_ms} ms")]
    Timeout {
        sink: &'static str,
        pending: usize,
        waited_ms: u64,
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
            SinkError::Queue { .. } => "queue",
            SinkError::Timeout { .. } => "timeout",
        }
    }
}

pub trait Sink: Send {
    /// A short name (logs, metric labels).
    fn name(&self) -> &'static str;
    /// Accepts the alerts of one input batch. `Ok` means accepted: written,
    /// or queued with a hold on `ack` per alert that the delivery releases.
    fn send(&mut self, alerts: &[Alert], ack: &Ack) -> Result<(), SinkError>;
    /// Records analysts' verdicts the detector applied, after the alerts
    /// of the same batch (sinks that keep incident status; others ignore
    /// them). Held on `ack` as alerts are.
    fn verdicts(
        &mut self,
        _verdicts: &[crate::detect::feedback::Applied],
        _ack: &Ack,
    ) -> Result<(), SinkError> {
        Ok(())
    }
    /// Records incidents the detector closed (quiet for
    /// `detect.long_window` of event time, or closed by a verdict), after
    /// the alerts and verdicts of the same batch. Sinks that follow
    /// incidents announce the close (webhook formats that have one,
    /// Alertmanager, PagerDuty; PostgreSQL's status); the alert streams
    /// (NDJSON, Kafka) carry alerts only and ignore them. Held on `ack` as
    /// alerts are.
    fn closed(
        &mut self,
        _closed: &[crate::detect::incidents::Closed],
        _ack: &Ack,
    ) -> Result<(), SinkError> {
        Ok(())
    }
    /// Runs pending delivery callbacks without waiting.
    fn poll(&mut self) {}
    /// Pushes buffered alerts down and waits (up to the sink's own bound)
    /// for queued deliveries (end of input, revoke, shutdown).
    fn flush(&mut self) -> Result<(), SinkError>;
}

/// Several sinks as one: each accepts every batch, in order.
pub struct Fanout<'a>(pub Vec<Box<dyn Sink + 'a>>);

impl Sink for Fanout<'_> {
    fn name(&self) -> &'static str {
        "fanout"
    }

    fn send(&mut self, alerts: &[Alert], ack: &Ack) -> Result<(), SinkError> {
        self.0.iter_mut().try_for_each(|s| s.send(alerts, ack))
    }

    fn verdicts(
        &mut self,
        verdicts: &[crate::detect::feedback::Applied],
        ack: &Ack,
    ) -> Result<(), SinkError> {
        self.0
            .iter_mut()
            .try_for_each(|s| s.verdicts(verdicts, ack))
    }

    fn closed(
        &mut self,
        closed: &[crate::detect::incidents::Closed],
        ack: &Ack,
    ) -> Result<(), SinkError> {
        self.0.iter_mut().try_for_each(|s| s.closed(closed, ack))
    }

    fn poll(&mut self) {
        self.0.iter_mut().for_each(|s| s.poll());
    }

    fn flush(&mut self) -> Result<(), SinkError> {
        self.0.iter_mut().try_for_each(|s| s.flush())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ack_counts_holds_and_failures_across_clones() {
        let ack = Ack::new();
        let theirs = ack.clone();
        ack.hold();
        ack.hold();
        assert_eq!(ack.pending(), 2);
        theirs.release(true);
        assert_eq!(ack.pending(), 1);
        std::thread::spawn(move || theirs.release(false))
            .join()
            .unwrap();
        assert_eq!(ack.pending(), 0);
        assert_eq!(ack.failed(), 1);
    }
}
