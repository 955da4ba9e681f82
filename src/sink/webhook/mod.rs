//! Alerts to webhooks: Standard Webhooks signatures, a durable outbox per
//! endpoint, retries on the specification's schedule, dead letters, and
//! the receivers' formats (Slack, Teams, PagerDuty, OCSF, CloudEvents,
//! Alertmanager). User guide: `docs/DELIVERY.md`.
//!
//! Flow: a pipeline worker's [`WebhookSink`] appends each alert an
//! endpoint wants to that endpoint's [`Outbox`] and syncs it before
//! `send` returns; that is acceptance, so the batch's offsets may then be
//! stored. One deliverer thread per endpoint reads the outbox and sends.
//! Workers and deliverers share nothing else.

pub mod deliver;
pub mod format;
pub mod outbox;
pub mod sign;

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

pub use format::Format;
pub use outbox::{Fsync, Outbox, OutboxError};
pub use sign::Signer;

use super::{Ack, Sink, SinkError};
use crate::config::{Config, DeliveryConfig, WebhookConfig};
use crate::detect::{Alert, Severity};
use crate::metrics::Metrics;

#[derive(Debug, thiserror::Error)]
pub enum DeliveryError {
    #[error(transparent)]
    Outbox(#[from] OutboxError),
    #[error("webhook {endpoint}: {reason}")]
    Setup { endpoint: String, reason: String },
}

/// One endpoint, shared by the workers' sinks (which append) and its
/// deliverer (which sends).
pub struct Endpoint {
    pub name: String,
    pub format: Format,
    min_severity: Severity,
    accounts: HashSet<String>,
    pub outbox: Arc<Outbox>,
    /// Set when the endpoint answered 410 Gone (and at start while the
    /// `disabled` marker file is there).
    pub disabled: AtomicBool,
    metrics: Arc<Metrics>,
}

impl Endpoint {
    fn wants(&self, a: &Alert) -> bool {
        a.severity >= self.min_severity
            && (self.accounts.is_empty() || self.accounts.contains(&a.account))
    }

    fn marker(&self) -> PathBuf {
        self.outbox.dir().join("disabled")
    }

    /// Stops queueing and sending to the endpoint (its marker file is
    /// there, or it answered 410). False if it already was.
    fn mark_disabled(&self) -> bool {
        let first = !self.disabled.swap(true, Ordering::AcqRel);
        self.metrics
            .webhooks
            .disabled
            .with_label_values(&[&self.name])
            .set(1);
        first
    }

    /// Why the endpoint is disabled, if it is.
    pub fn disabled_reason(&self) -> Option<String> {
        if !self.disabled.load(Ordering::Acquire) {
            return None;
        }
        let why = std::fs::read_to_string(self.marker()).unwrap_or_default();
        Some(format!(
            "webhook {} disabled: {} (delete {} and restart to enable it)",
            self.name,
            why.trim(),
            self.marker().display()
        ))
    }
}

/// Every configured endpoint and its deliverer thread.
pub struct Delivery {
    pub endpoints: Vec<Arc<Endpoint>>,
    stop: Arc<AtomicBool>,
    threads: std::sync::Mutex<Vec<std::thread::JoinHandle<()>>>,
}

fn secret_of(value: &str, env: &str, what: &str, name: &str) -> Result<String, DeliveryError> {
    if env.is_empty() {
        return Ok(value.to_string());
    }
    std::env::var(env).map_err(|_| DeliveryError::Setup {
        endpoint: name.to_string(),
        reason: format!("{what}_env names {env}, which is not set"),
    })
}

impl Delivery {
    /// Opens every endpoint's outbox and starts its deliverer. No
    /// endpoints: `None`.
    pub fn start(cfg: &Config, metrics: Arc<Metrics>) -> Result<Option<Delivery>, DeliveryError> {
        if cfg.webhooks.is_empty() {
            return Ok(None);
        }
        let stop = Arc::new(AtomicBool::new(false));
        let mut endpoints = Vec::new();
        let mut threads = Vec::new();
        for w in &cfg.webhooks {
            let (ep, deliverer) = Self::endpoint(&cfg.delivery, w, Arc::clone(&metrics))?;
            let stop = Arc::clone(&stop);
            threads.push(
                std::thread::Builder::new()
                    .name(format!("webhook-{}", w.name))
                    .spawn(move || deliverer.run(stop))
                    .map_err(|e| DeliveryError::Setup {
                        endpoint: w.name.clone(),
                        reason: format!("cannot start its thread: {e}"),
                    })?,
            );
            endpoints.push(ep);
        }
        Ok(Some(Delivery {
            endpoints,
            stop,
            threads: std::sync::Mutex::new(threads),
        }))
    }

    fn endpoint(
        d: &DeliveryConfig,
        w: &WebhookConfig,
        metrics: Arc<Metrics>,
    ) -> Result<(Arc<Endpoint>, deliver::Deliverer), DeliveryError> {
        let setup = |reason: String| DeliveryError::Setup {
            endpoint: w.name.clone(),
            reason,
        };
        let format = Format::parse(&w.format).expect("validated");
        let signer = Signer::parse(&secret_of(&w.secret, &w.secret_env, "secret", &w.name)?)
            .map_err(|e| setup(format!("secret_env {}: {e}", w.secret_env)))?;
        let routing_key = secret_of(&w.routing_key, &w.routing_key_env, "routing_key", &w.name)?;
        let dir = Path::new(&d.outbox_dir).join(&w.name);
        let outbox = Outbox::open(
            &dir,
            outbox::Options {
                fsync: if d.fsync == "never" {
                    Fsync::Never
                } else {
                    Fsync::Batch
                },
                segment_bytes: d.segment_bytes,
                max_bytes: d.max_bytes,
            },
        )?;
        metrics.webhooks.touch(&w.name);
        let ep = Arc::new(Endpoint {
            name: w.name.clone(),
            format,
            min_severity: Severity::parse(&w.min_severity).expect("validated"),
            accounts: w.accounts.iter().cloned().collect(),
            outbox,
            disabled: AtomicBool::new(false),
            metrics,
        });
        if ep.marker().exists() {
            ep.mark_disabled();
            tracing::error!(endpoint = %ep.name, reason = ?ep.disabled_reason(), "webhook endpoint disabled");
        }
        let deliverer =
            deliver::Deliverer::new(Arc::clone(&ep), d, w, signer, routing_key).map_err(setup)?;
        Ok((ep, deliverer))
    }

    /// A sink for one pipeline worker (or a replay).
    pub fn sink(&self) -> WebhookSink {
        WebhookSink {
            endpoints: self.endpoints.clone(),
            buf: Vec::with_capacity(4096),
        }
    }

    /// Alerts waiting in the outboxes of the enabled endpoints.
    pub fn pending(&self) -> u64 {
        self.endpoints
            .iter()
            .filter(|e| !e.disabled.load(Ordering::Acquire))
            .map(|e| e.outbox.backlog().0)
            .sum()
    }

    /// Waits until every enabled endpoint's outbox is empty, or `limit`.
    /// Returns the alerts still waiting.
    pub fn wait_idle(&self, limit: Duration) -> u64 {
        let start = Instant::now();
        loop {
            let left = self.pending();
            if left == 0 || start.elapsed() >= limit {
                return left;
            }
            std::thread::sleep(Duration::from_millis(2));
        }
    }

    /// Why the instance is not ready: a disabled endpoint.
    pub fn not_ready(&self) -> Option<String> {
        self.endpoints.iter().find_map(|e| e.disabled_reason())
    }

    /// Stops the deliverers (in-flight attempts get a short grace; what is
    /// not delivered stays in the outbox for the next start).
    pub fn shutdown(&self) {
        self.stop.store(true, Ordering::Release);
        for e in &self.endpoints {
            e.outbox.appended.notify_one();
        }
        let threads = std::mem::take(&mut *self.threads.lock().unwrap_or_else(|p| p.into_inner()));
        // Each deliverer writes its cursor as it ends.
        for t in threads {
            let _ = t.join();
        }
    }
}

/// An incident the detector closed, as an endpoint's outbox keeps it (the
/// record's id is the incident's followed by [`CLOSED_SUFFIX`]; an alert
/// id never ends so). The deliverer turns it into the format's closing
/// message once the incident's alerts before it have settled.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ClosedRecord {
    pub incident: String,
    /// Event time of the close (ms).
    pub at: i64,
    /// `quiet`, `false_positive` or `benign`.
    pub why: String,
    pub quiet_ms: i64,
}

pub const CLOSED_SUFFIX: &str = "-resolved";

impl ClosedRecord {
    fn of(c: &crate::detect::incidents::Closed) -> ClosedRecord {
        ClosedRecord {
            incident: c.incident.clone(),
            at: c.at,
            why: c.why.as_str().to_string(),
            quiet_ms: match c.why {
                crate::detect::incidents::Why::Quiet { quiet_ms } => quiet_ms,
                crate::detect::incidents::Why::Verdict(_) => 0,
            },
        }
    }

    /// The closing an outbox record holds, if it is one.
    pub fn parse(id: &str, body: &[u8]) -> Option<ClosedRecord> {
        if !id.ends_with(CLOSED_SUFFIX) {
            return None;
        }
        serde_json::from_slice(body).ok()
    }
}

/// A worker's handle on the endpoints: appends, then syncs, per batch.
pub struct WebhookSink {
    endpoints: Vec<Arc<Endpoint>>,
    buf: Vec<u8>,
}

fn queue(e: OutboxError) -> SinkError {
    SinkError::Queue {
        sink: "webhooks",
        reason: e.to_string(),
    }
}

impl WebhookSink {
    /// Accepted means durable: syncs each outbox written (`touched`, by
    /// endpoint), once, when input offsets wait on the batch. A replay's
    /// batches guard none, and its outboxes are synced at `flush`: one
    /// fsync per chunk with alerts and endpoint made three endpoints cost
    /// a replay 10.6% of its wall clock (cargo bench --bench webhooks,
    /// 2026-11-27; 2.6% with `fsync = "never"`).
    fn sync(&self, touched: &[bool], ack: &Ack) -> Result<(), SinkError> {
        if !ack.guards_offsets() {
            return Ok(());
        }
        for (ep, t) in self.endpoints.iter().zip(touched) {
            if *t {
                ep.outbox.sync().map_err(queue)?;
            }
        }
        Ok(())
    }
}

impl Sink for WebhookSink {
    fn name(&self) -> &'static str {
        "webhooks"
    }

    fn send(&mut self, alerts: &[Alert], ack: &Ack) -> Result<(), SinkError> {
        if alerts.is_empty() {
            return Ok(());
        }
        let mut touched = vec![false; self.endpoints.len()];
        for a in alerts {
            self.buf.clear();
            serde_json::to_writer(&mut self.buf, a).map_err(|source| SinkError::Encode {
                sink: "webhooks",
                source,
            })?;
            let now = crate::time::wall_clock_ms();
            for (i, ep) in self.endpoints.iter().enumerate() {
                if !ep.wants(a) {
                    continue;
                }
                let m = &ep.metrics.webhooks;
                if ep.disabled.load(Ordering::Acquire) {
                    m.dropped.with_label_values(&[&ep.name, "disabled"]).inc();
                    continue;
                }
                ep.outbox.append(&a.id, now, &self.buf).map_err(queue)?;
                m.accepted.with_label_values(&[&ep.name]).inc();
                touched[i] = true;
            }
        }
        self.sync(&touched, ack)
    }

    /// Closings go to the endpoints whose format has one (all but
    /// `native`), durably like alerts; an endpoint that never got an alert
    /// of the incident sends nothing for it.
    fn closed(
        &mut self,
        closed: &[crate::detect::incidents::Closed],
        ack: &Ack,
    ) -> Result<(), SinkError> {
        let mut touched = vec![false; self.endpoints.len()];
        for c in closed {
            let id = format!("{}{CLOSED_SUFFIX}", c.incident);
            self.buf.clear();
            serde_json::to_writer(&mut self.buf, &ClosedRecord::of(c)).map_err(|source| {
                SinkError::Encode {
                    sink: "webhooks",
                    source,
                }
            })?;
            let now = crate::time::wall_clock_ms();
            for (i, ep) in self.endpoints.iter().enumerate() {
                if !ep.format.tracks_incidents() || ep.disabled.load(Ordering::Acquire) {
                    continue;
                }
                ep.outbox.append(&id, now, &self.buf).map_err(queue)?;
                touched[i] = true;
            }
        }
        self.sync(&touched, ack)
    }

    fn flush(&mut self) -> Result<(), SinkError> {
        for ep in &self.endpoints {
            ep.outbox.sync().map_err(queue)?;
        }
        Ok(())
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::detect::AlertSignal;

    pub fn alert(account: &str, severity: Severity) -> Alert {
        Alert {
            id: format!("al-{account}"),
            account: account.into(),
            time: "2026-03-09T19:02:44Z".into(),
            detected_at: "2026-03-09T19:02:44.031Z".into(),
            severity,
            score: 9.5,
            summary: format!("Likely takeover of {account}"),
            signals: vec![AlertSignal {
                name: "new_country".into(),
                contribution: 3.1,
                detail: "NG never seen".into(),
            }],
            events: vec!["e-1".into(), "e-2".into()],
            incident: format!("in-{account}"),
            learning: false,
            first_event_time: "2026-03-09T18:22:00Z".into(),
            recovery: vec![crate::detect::recovery::Step {
                action: "sign_out_sessions".into(),
                text: format!("Sign out every session of {account}"),
            }],
            trigger_ms: 0,
        }
    }

    /// Offsets wait on a run's batch: its alerts are on disk when `send`
    /// returns. A replay's guard none: they are synced at `flush`.
    #[test]
    fn outboxes_sync_per_batch_only_when_offsets_wait_on_it() {
        let dir = tempfile::tempdir().unwrap();
        let mut cfg = Config::default();
        cfg.delivery.outbox_dir = dir.path().display().to_string();
        cfg.webhooks = vec![WebhookConfig {
            name: "ep".into(),
            // Nothing listens on the discard port: the alerts stay queued.
            url: "http://127.0.0.1:9/hook".into(),
            secret: "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw".into(),
            ..cfg.delivery.webhook.clone()
        }];
        let d = Delivery::start(&cfg, Arc::new(Metrics::new()))
            .unwrap()
            .expect("one endpoint");
        let mut sink = d.sink();
        let outbox = &d.endpoints[0].outbox;
        sink.send(&[alert("x:a", Severity::High)], &Ack::untracked())
            .unwrap();
        assert!(outbox.unsynced(), "a replay's batch waits for flush");
        sink.flush().unwrap();
        assert!(!outbox.unsynced());
        sink.send(&[alert("x:b", Severity::High)], &Ack::new())
            .unwrap();
        assert!(
            !outbox.unsynced(),
            "a run's batch is synced before send returns"
        );
        d.shutdown();
    }
}
