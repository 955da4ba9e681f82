//! Prometheus metrics and the HTTP endpoint that serves them.
//!
//! One [`Metrics`] per pipeline, in its own registry. Workers never touch
//! it per event: they count into plain integers and publish once per batch
//! (and the detector's own [`Stats`] as deltas), so the hot path stays
//! free of atomics and label lookups; label handles are resolved once at
//! start-up. No metric carries an account id: labels are event types,
//! error kinds, severities, signal names, sinks, topics and partitions.
//!
//! The endpoint (`[metrics] listen`, loopback by default) serves
//! `/metrics` (Prometheus text format), `/healthz` (alive) and `/readyz`
//! (partitions assigned and every worker running). It is a deliberately
//! small HTTP/1.1 responder on tokio: three read-only routes need no
//! framework.

use std::sync::Arc;

use prometheus::{
    Encoder, Histogram, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge,
    IntGaugeVec, Opts, Registry, TextEncoder,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::decode::{ErrorKind, EventKind};
use crate::detect::{Severity, Sig, Stats};

pub struct Metrics {
    pub registry: Registry,
    events_vec: IntCounterVec,
    /// Processed events by type (label handles resolved once).
    pub events: Vec<IntCounter>,
    /// Invalid events by error kind (also `events_total{outcome="invalid"}`).
    pub invalid: Vec<IntCounter>,
    invalid_events: IntCounter,
    pub dead_letters: IntCounter,
    /// Valid events set aside, by reason: `future`, `internal`.
    pub rejected: Vec<IntCounter>,
    pub late: IntCounter,
    pub duplicates: IntCounter,
    /// Analyst feedback by verdict (`Verdict` order), then `unmatched`.
    pub feedback: Vec<IntCounter>,
    /// Signals dropped by suppressions, by rule (`suppress::Rule` order).
    pub suppressed: Vec<IntCounter>,
    pub evicted: IntCounter,
    pub alerts_trimmed: IntCounter,
    pub incidents_closed: IntCounter,
    pub alerts: Vec<IntCounter>,
    pub alerts_by_signal: Vec<IntCounter>,
    pub signals: Vec<IntCounter>,
    pub accounts: IntGauge,
    pub learning: IntGauge,
    pub state_bytes: IntGauge,
    pub batch_seconds: Histogram,
    pub event_lag: Histogram,
    pub consumer_lag: IntGaugeVec,
    pub commits: IntCounter,
    pub rebalances: IntCounter,
    pub assigned: IntGauge,
    pub sink_deliveries: IntCounterVec,
    pub sink_failures: IntCounterVec,
    pub sink_retries: IntCounterVec,
    pub sink_queue: IntGaugeVec,
    pub up_workers: IntGauge,
    pub state: StateMetrics,
    pub webhooks: WebhookMetrics,
    pub adapt: AdapterMetrics,
}

/// The relay of vendor topics (`source::relay`), by format (a bounded
/// label set) and, for types kawal does not map, the vendor's type (capped
/// per format by the relay: beyond it, `other`).
pub struct AdapterMetrics {
    pub records: IntCounterVec,
    pub events: IntCounterVec,
    pub unmapped: IntCounterVec,
    pub invalid: IntCounterVec,
}

impl AdapterMetrics {
    fn new(r: &Registry) -> AdapterMetrics {
        AdapterMetrics {
            records: counter_vec(
                r,
                "kawal_adapter_records_total",
                "Vendor records read from [kafka.adapt] topics, by format.",
                &["format"],
            ),
            events: counter_vec(
                r,
                "kawal_adapter_events_total",
                "Native events the relay produced from vendor records, by format.",
                &["format"],
            ),
            unmapped: counter_vec(
                r,
                "kawal_adapter_unmapped_total",
                "Vendor events of types kawal does not map, by format and vendor type (at most 100 types per format, then other).",
                &["format", "type"],
            ),
            invalid: counter_vec(
                r,
                "kawal_adapter_invalid_total",
                "Records that were not the named format (dead-lettered), by format and kind (bad_json, too_large, not_format).",
                &["format", "kind"],
            ),
        }
    }
}

/// Webhook delivery (docs/DELIVERY.md), by endpoint name (from the
/// config: a bounded label set).
pub struct WebhookMetrics {
    /// Alerts appended to an endpoint's outbox (accepted).
    pub accepted: IntCounterVec,
    /// Alerts not queued, by reason: `disabled` (the endpoint answered 410).
    pub dropped: IntCounterVec,
    /// Alerts done, by outcome: `delivered`, `dead_lettered`.
    pub done: IntCounterVec,
    /// HTTP attempts, by result: `ok`, `retry` (5xx, 429, 408), `timeout`,
    /// `connect`, `refused` (other 4xx, 3xx), `gone` (410).
    pub attempts: IntCounterVec,
    /// Alerts in the outbox not yet done, and its bytes on disk.
    pub backlog: IntGaugeVec,
    pub outbox_bytes: IntGaugeVec,
    /// From acceptance (append) to the receiver's 2xx.
    pub latency: HistogramVec,
    /// 1 while an endpoint is disabled (410 Gone).
    pub disabled: IntGaugeVec,
}

impl WebhookMetrics {
    fn new(r: &Registry) -> WebhookMetrics {
        WebhookMetrics {
            accepted: counter_vec(
                r,
                "kawal_webhook_accepted_total",
                "Alerts appended to an endpoint's durable outbox, by endpoint.",
                &["endpoint"],
            ),
            dropped: counter_vec(
                r,
                "kawal_webhook_dropped_total",
                "Alerts not queued for an endpoint, by endpoint and reason (disabled: it answered 410 Gone).",
                &["endpoint", "reason"],
            ),
            done: counter_vec(
                r,
                "kawal_webhook_deliveries_total",
                "Alerts done with, by endpoint and outcome (delivered, dead_lettered).",
                &["endpoint", "outcome"],
            ),
            attempts: counter_vec(
                r,
                "kawal_webhook_attempts_total",
                "HTTP attempts, by endpoint and result (ok, retry, timeout, connect, refused, gone).",
                &["endpoint", "result"],
            ),
            backlog: gauge_vec(
                r,
                "kawal_webhook_backlog",
                "Alerts in an endpoint's outbox not yet delivered or dead-lettered.",
                &["endpoint"],
            ),
            outbox_bytes: gauge_vec(
                r,
                "kawal_webhook_outbox_bytes",
                "Bytes an endpoint's outbox holds on disk.",
                &["endpoint"],
            ),
            latency: {
                let h = HistogramVec::new(
                    prometheus::HistogramOpts::new(
                        "kawal_webhook_delivery_seconds",
                        "From an alert's acceptance into the outbox to the endpoint's 2xx, by endpoint.",
                    )
                    .buckets(vec![
                        0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0, 30.0, 300.0,
                        3600.0,
                    ]),
                    &["endpoint"],
                )
                .expect("valid histogram");
                r.register(Box::new(h.clone())).expect("unique metric");
                h
            },
            disabled: gauge_vec(
                r,
                "kawal_webhook_endpoint_disabled",
                "1 while an endpoint is disabled because it answered 410 Gone.",
                &["endpoint"],
            ),
        }
    }

    /// Creates an endpoint's series at zero (dashboards see a rise).
    pub fn touch(&self, endpoint: &str) {
        self.accepted.with_label_values(&[endpoint]);
        self.dropped.with_label_values(&[endpoint, "disabled"]);
        for o in ["delivered", "dead_lettered"] {
            self.done.with_label_values(&[endpoint, o]);
        }
        for r in ["ok", "retry", "timeout", "connect", "refused", "gone"] {
            self.attempts.with_label_values(&[endpoint, r]);
        }
        self.backlog.with_label_values(&[endpoint]);
        self.outbox_bytes.with_label_values(&[endpoint]);
        self.latency.with_label_values(&[endpoint]);
        self.disabled.with_label_values(&[endpoint]);
    }
}

/// Durable state: snapshots taken, restores made (docs/STATE.md).
pub struct StateMetrics {
    /// Partitions given a detector on assignment, by where its state came
    /// from: `local` (file), `topic` (snapshot topic), `cold` (none).
    pub restores: IntCounterVec,
    /// Snapshots that could not be used, by reason (corrupt,
    /// incompatible, io, kafka).
    pub restore_failures: IntCounterVec,
    pub restore_seconds: Histogram,
    pub restore_bytes: IntCounter,
    /// Events re-read after a restore, below the committed offset: their
    /// alerts were delivered before, so they only rebuild state.
    pub replayed: IntCounter,
    /// Snapshots written, failed, and bytes written, by destination
    /// (`local`, `topic`).
    pub snapshots: IntCounterVec,
    pub snapshot_failures: IntCounterVec,
    pub snapshot_bytes: IntCounterVec,
    pub snapshot_seconds: Histogram,
    /// Time a worker stops for a snapshot (taking it; the writing is done
    /// on a thread of its own, but at revoke and shutdown).
    pub snapshot_pause: Histogram,
    /// Wall-clock time of each assigned partition's last snapshot.
    pub snapshot_time: IntGaugeVec,
}

impl StateMetrics {
    fn new(r: &Registry) -> StateMetrics {
        let m = StateMetrics::register(r);
        // Every series exists from the start, at zero, so dashboards and
        // rate() see a rise from nothing.
        for from in ["local", "topic", "cold"] {
            m.restores.with_label_values(&[from]);
        }
        for reason in ["corrupt", "incompatible", "io", "kafka"] {
            m.restore_failures.with_label_values(&[reason]);
        }
        for to in ["local", "topic"] {
            m.snapshots.with_label_values(&[to]);
            m.snapshot_failures.with_label_values(&[to]);
            m.snapshot_bytes.with_label_values(&[to]);
        }
        m
    }

    /// Partitions restored from `from` (`local`, `topic`, `cold`).
    pub fn restored_from(&self, from: &str) -> u64 {
        self.restores.with_label_values(&[from]).get()
    }

    /// Snapshots not used for `reason`.
    pub fn not_used(&self, reason: &str) -> u64 {
        self.restore_failures.with_label_values(&[reason]).get()
    }

    fn register(r: &Registry) -> StateMetrics {
        StateMetrics {
            restores: counter_vec(
                r,
                "kawal_state_restores_total",
                "Partitions assigned, by where their detector state came from: local (file), topic (snapshot topic) or cold (none: baselines start empty).",
                &["from"],
            ),
            restore_failures: counter_vec(
                r,
                "kawal_state_restore_failures_total",
                "Snapshots found but not used, by reason (corrupt, incompatible, io, kafka); the partition then used the other copy or started cold.",
                &["reason"],
            ),
            restore_seconds: histogram(
                r,
                "kawal_state_restore_seconds",
                "Time to load one partition's state on assignment (finding, reading, checking, decoding).",
                prometheus::exponential_buckets(0.001, 2.0, 17).expect("buckets"),
            ),
            restore_bytes: counter(
                r,
                "kawal_state_restore_bytes_total",
                "Compressed snapshot bytes loaded on assignment.",
            ),
            replayed: counter(
                r,
                "kawal_state_replayed_events_total",
                "Events re-read after a restore, below the committed offset: they rebuild state, their alerts (delivered before) are held back.",
            ),
            snapshots: counter_vec(
                r,
                "kawal_state_snapshots_total",
                "Partition snapshots written, by destination (local, topic).",
                &["to"],
            ),
            snapshot_failures: counter_vec(
                r,
                "kawal_state_snapshot_failures_total",
                "Partition snapshots that failed, by destination (local, topic).",
                &["to"],
            ),
            snapshot_bytes: counter_vec(
                r,
                "kawal_state_snapshot_bytes_total",
                "Compressed snapshot bytes written, by destination (local, topic).",
                &["to"],
            ),
            snapshot_seconds: histogram(
                r,
                "kawal_state_snapshot_seconds",
                "Time to snapshot one partition (encode, compress, write to every destination).",
                prometheus::exponential_buckets(0.001, 2.0, 17).expect("buckets"),
            ),
            snapshot_pause: histogram(
                r,
                "kawal_state_snapshot_pause_seconds",
                "Time a worker stops its partitions for one snapshot (encode and compress; the writes run on their own thread, except at revoke and shutdown).",
                prometheus::exponential_buckets(0.001, 2.0, 17).expect("buckets"),
            ),
            snapshot_time: gauge_vec(
                r,
                "kawal_state_snapshot_timestamp_seconds",
                "Unix time up to which each assigned partition's state is saved: its last snapshot, or the last interval at which nothing had changed since (age: time() minus this).",
                &["partition"],
            ),
        }
    }
}

fn counter_vec(r: &Registry, name: &str, help: &str, labels: &[&str]) -> IntCounterVec {
    let v = IntCounterVec::new(Opts::new(name, help), labels).expect("metric");
    r.register(Box::new(v.clone())).expect("register");
    v
}

fn counter(r: &Registry, name: &str, help: &str) -> IntCounter {
    let c = IntCounter::new(name, help).expect("metric");
    r.register(Box::new(c.clone())).expect("register");
    c
}

fn gauge(r: &Registry, name: &str, help: &str) -> IntGauge {
    let g = IntGauge::new(name, help).expect("metric");
    r.register(Box::new(g.clone())).expect("register");
    g
}

fn gauge_vec(r: &Registry, name: &str, help: &str, labels: &[&str]) -> IntGaugeVec {
    let v = IntGaugeVec::new(Opts::new(name, help), labels).expect("metric");
    r.register(Box::new(v.clone())).expect("register");
    v
}

fn histogram(r: &Registry, name: &str, help: &str, buckets: Vec<f64>) -> Histogram {
    let h = Histogram::with_opts(HistogramOpts::new(name, help).buckets(buckets)).expect("metric");
    r.register(Box::new(h.clone())).expect("register");
    h
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

impl Metrics {
    pub fn new() -> Metrics {
        let r = Registry::new();
        let events_vec = counter_vec(
            &r,
            "kawal_events_total",
            "Events consumed, by event type and outcome (processed, or invalid and skipped).",
            &["type", "outcome"],
        );
        let events = EventKind::ALL
            .iter()
            .map(|k| events_vec.with_label_values(&[k.as_str(), "processed"]))
            .collect();
        let invalid_events = events_vec.with_label_values(&["unknown", "invalid"]);
        let invalid_vec = counter_vec(
            &r,
            "kawal_invalid_events_total",
            "Events that could not be decoded or broke the contract, by error kind.",
            &["kind"],
        );
        let invalid = ErrorKind::ALL
            .iter()
            .map(|k| invalid_vec.with_label_values(&[k.as_str()]))
            .collect();
        let alerts_vec = counter_vec(
            &r,
            "kawal_alerts_total",
            "Alerts raised, by severity.",
            &["severity"],
        );
        let alerts = Severity::ALL
            .iter()
            .map(|s| alerts_vec.with_label_values(&[s.as_str()]))
            .collect();
        let by_signal = counter_vec(
            &r,
            "kawal_alert_signals_total",
            "Signals named in raised alerts, by signal.",
            &["signal"],
        );
        let alerts_by_signal = Sig::ALL
            .iter()
            .map(|s| by_signal.with_label_values(&[s.name()]))
            .collect();
        let fired = counter_vec(
            &r,
            "kawal_signal_firings_total",
            "Signal firings (every positive observation, in an alert or not), by signal.",
            &["signal"],
        );
        let signals = Sig::ALL
            .iter()
            .map(|s| fired.with_label_values(&[s.name()]))
            .collect();
        let rejected_vec = counter_vec(
            &r,
            "kawal_rejected_events_total",
            "Valid events set aside (dead-lettered), by reason: future (dated too far ahead of the wall clock), internal (processing failed; the account was reset).",
            &["reason"],
        );
        let rejected = ["future", "internal"]
            .iter()
            .map(|k| rejected_vec.with_label_values(&[k]))
            .collect();
        let feedback_vec = counter_vec(
            &r,
            "kawal_feedback_total",
            "Analyst verdicts on incidents, by verdict (true_positive, benign, false_positive) and outcome (applied to the account's open incident, or unmatched: no such open incident, or an unknown verdict).",
            &["verdict", "outcome"],
        );
        let mut feedback: Vec<IntCounter> = crate::detect::feedback::Verdict::ALL
            .iter()
            .map(|v| feedback_vec.with_label_values(&[v.as_str(), "applied"]))
            .collect();
        feedback.push(feedback_vec.with_label_values(&["any", "unmatched"]));
        let suppressed_vec = counter_vec(
            &r,
            "kawal_suppressed_signals_total",
            "Signals dropped by a suppression in force (docs/TRIAGE.md), by rule: travel, network, app, maintenance.",
            &["rule"],
        );
        let suppressed = crate::suppress::Rule::ALL
            .iter()
            .map(|k| suppressed_vec.with_label_values(&[k.as_str()]))
            .collect();
        Metrics {
            rejected,
            feedback,
            suppressed,
            late: counter(
                &r,
                "kawal_late_events_total",
                "Events further behind their account's newest event than time.allowed_lateness (scored without order-dependent signals).",
            ),
            evicted: counter(
                &r,
                "kawal_accounts_evicted_total",
                "Accounts whose baseline was dropped: over state.max_accounts, or idle for state.idle_ttl of event time.",
            ),
            duplicates: counter(
                &r,
                "kawal_duplicate_events_total",
                "Events skipped as repeats of one of their account's last four event ids (redeliveries, retries).",
            ),
            alerts_trimmed: counter(
                &r,
                "kawal_alerts_trimmed_total",
                "Alerts cut down to detect.alert_max_bytes.",
            ),
            incidents_closed: counter(
                &r,
                "kawal_incidents_closed_total",
                "Incidents the detector closed and handed to the sinks: quiet for detect.long_window of event time, or closed by a benign or false_positive verdict.",
            ),
            events_vec,
            events,
            invalid,
            invalid_events,
            dead_letters: counter(
                &r,
                "kawal_dead_letters_total",
                "Messages sent to the dead-letter topic.",
            ),
            alerts,
            alerts_by_signal,
            signals,
            accounts: gauge(
                &r,
                "kawal_accounts",
                "Accounts tracked (with a baseline in memory).",
            ),
            learning: gauge(
                &r,
                "kawal_accounts_learning",
                "Tracked accounts still in their learning period.",
            ),
            state_bytes: gauge(
                &r,
                "kawal_state_bytes",
                "Estimated bytes of per-account state held.",
            ),
            batch_seconds: histogram(
                &r,
                "kawal_batch_processing_seconds",
                "Time to decode, detect and hand one batch of messages to the sinks.",
                prometheus::exponential_buckets(0.000_05, 2.0, 16).expect("buckets"),
            ),
            event_lag: histogram(
                &r,
                "kawal_event_lag_seconds",
                "Wall-clock time minus event time, for the last event of each batch.",
                vec![
                    0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 3600.0,
                ],
            ),
            consumer_lag: gauge_vec(
                &r,
                "kawal_consumer_lag_messages",
                "Messages behind the partition's end, from librdkafka statistics.",
                &["topic", "partition"],
            ),
            commits: counter(&r, "kawal_offset_commits_total", "Offset commits made."),
            rebalances: counter(
                &r,
                "kawal_rebalances_total",
                "Partition assignment changes (assign or revoke) seen by the workers.",
            ),
            assigned: gauge(
                &r,
                "kawal_assigned_partitions",
                "Partitions currently assigned to this instance.",
            ),
            sink_deliveries: counter_vec(
                &r,
                "kawal_sink_deliveries_total",
                "Messages a sink confirmed delivered, by sink.",
                &["sink"],
            ),
            sink_failures: counter_vec(
                &r,
                "kawal_sink_failures_total",
                "Messages a sink gave up on, by sink.",
                &["sink"],
            ),
            sink_retries: counter_vec(
                &r,
                "kawal_sink_retries_total",
                "Send retries by a sink (librdkafka's for the Kafka sink), by sink.",
                &["sink"],
            ),
            sink_queue: gauge_vec(
                &r,
                "kawal_sink_queue_depth",
                "Messages queued in a sink, not yet confirmed, by sink.",
                &["sink"],
            ),
            up_workers: gauge(&r, "kawal_workers_running", "Pipeline workers running."),
            state: StateMetrics::new(&r),
            webhooks: WebhookMetrics::new(&r),
            adapt: AdapterMetrics::new(&r),
            registry: r,
        }
    }

    /// Alerts raised, all severities.
    pub fn alerts_total(&self) -> u64 {
        self.alerts.iter().map(|c| c.get()).sum()
    }

    /// Invalid events, all kinds.
    pub fn invalid_total(&self) -> u64 {
        self.invalid.iter().map(|c| c.get()).sum()
    }

    /// Adds the invalid events of one batch.
    pub fn add_invalid(&self, kind: usize, n: u64) {
        self.invalid[kind].inc_by(n);
        self.invalid_events.inc_by(n);
    }

    /// Publishes the change in a detector's stats since `last`.
    pub fn add_stats(&self, now: &Stats, last: &Stats) {
        for (i, c) in self.events.iter().enumerate() {
            let d = now.by_kind[i] - last.by_kind[i];
            if d > 0 {
                c.inc_by(d);
            }
        }
        for (i, c) in self.signals.iter().enumerate() {
            let d = now.fired[i] - last.fired[i];
            if d > 0 {
                c.inc_by(d);
            }
        }
        if now.late > last.late {
            self.late.inc_by(now.late - last.late);
        }
        if now.evicted > last.evicted {
            self.evicted.inc_by(now.evicted - last.evicted);
        }
        if now.duplicates > last.duplicates {
            self.duplicates.inc_by(now.duplicates - last.duplicates);
        }
        for ((c, n), l) in self
            .suppressed
            .iter()
            .zip(now.suppressed)
            .zip(last.suppressed)
        {
            if n > l {
                c.inc_by(n - l);
            }
        }
        let feedback = now.feedback.iter().chain([&now.feedback_unmatched]);
        let before = last.feedback.iter().chain([&last.feedback_unmatched]);
        for ((c, n), l) in self.feedback.iter().zip(feedback).zip(before) {
            if n > l {
                c.inc_by(n - l);
            }
        }
        if now.incidents_closed > last.incidents_closed {
            self.incidents_closed
                .inc_by(now.incidents_closed - last.incidents_closed);
        }
        if now.alerts_trimmed > last.alerts_trimmed {
            self.alerts_trimmed
                .inc_by(now.alerts_trimmed - last.alerts_trimmed);
        }
        self.accounts
            .add(now.accounts as i64 - last.accounts as i64);
        self.learning
            .add(now.learning as i64 - last.learning as i64);
    }

    /// The Prometheus text exposition of every metric.
    pub fn render(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(16 * 1024);
        TextEncoder::new()
            .encode(&self.registry.gather(), &mut out)
            .expect("text encoding");
        out
    }

    /// The label values in use for `kawal_events_total` (tests).
    pub fn events_total(&self, kind: &str) -> u64 {
        self.events_vec
            .with_label_values(&[kind, "processed"])
            .get()
    }
}

/// Readiness: Ok, or the reason the instance is not ready.
pub type Ready = Arc<dyn Fn() -> Result<(), String> + Send + Sync>;

/// Serves `/metrics`, `/healthz` and `/readyz` on `listener` until the
/// task is dropped.
pub async fn serve(listener: tokio::net::TcpListener, metrics: Arc<Metrics>, ready: Ready) {
    serve_admin(listener, metrics, ready, None).await
}

/// [`serve`], and `POST /feedback` through `intake` (analyst verdicts).
pub async fn serve_admin(
    listener: tokio::net::TcpListener,
    metrics: Arc<Metrics>,
    ready: Ready,
    intake: Option<Arc<crate::feedback::Intake>>,
) {
    loop {
        let Ok((mut sock, _)) = listener.accept().await else {
            continue;
        };
        let metrics = Arc::clone(&metrics);
        let ready = Arc::clone(&ready);
        let intake = intake.clone();
        tokio::spawn(async move {
            // A request head fits in 8 KiB; anything longer is refused.
            let mut buf = vec![0u8; 8192];
            let mut n = 0;
            let head_end = loop {
                match tokio::time::timeout(
                    std::time::Duration::from_secs(5),
                    sock.read(&mut buf[n..]),
                )
                .await
                {
                    Ok(Ok(0)) | Err(_) | Ok(Err(_)) => return,
                    Ok(Ok(k)) => n += k,
                }
                if let Some(i) = memchr::memmem::find(&buf[..n], b"\r\n\r\n") {
                    break i;
                }
                if n == buf.len() {
                    return;
                }
            };
            let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
            let mut parts = head.split_whitespace();
            let method = parts.next().unwrap_or("");
            let path = parts.next().unwrap_or("").split('?').next().unwrap_or("");
            if (method, path) == ("POST", "/feedback") {
                let answer = match read_body(&mut sock, &head, &buf[head_end + 4..n]).await {
                    Ok(body) => match &intake {
                        Some(i) => i.submit(header(&head, "authorization"), &body).await,
                        None => (404, "not found".into()),
                    },
                    Err(answer) => answer,
                };
                let status = match answer.0 {
                    202 => "202 Accepted",
                    400 => "400 Bad Request",
                    401 => "401 Unauthorized",
                    403 => "403 Forbidden",
                    404 => "404 Not Found",
                    411 => "411 Length Required",
                    413 => "413 Payload Too Large",
                    _ => "503 Service Unavailable",
                };
                let body = format!("{}\n", answer.1);
                let mut header = format!(
                    "HTTP/1.1 {status}\r\nContent-Type: text/plain\r\nContent-Length: {}\r\nConnection: close\r\n",
                    body.len()
                );
                if answer.0 == 401 {
                    header.push_str("WWW-Authenticate: Bearer\r\n");
                }
                header.push_str("\r\n");
                let _ = sock.write_all(header.as_bytes()).await;
                let _ = sock.write_all(body.as_bytes()).await;
                let _ = sock.shutdown().await;
                return;
            }
            let (status, ctype, body): (&str, &str, Vec<u8>) = match (method, path) {
                ("GET", "/metrics") => (
                    "200 OK",
                    "text/plain; version=0.0.4; charset=utf-8",
                    metrics.render(),
                ),
                ("GET", "/healthz") => ("200 OK", "text/plain", b"ok\n".to_vec()),
                ("GET", "/readyz") => match ready() {
                    Ok(()) => ("200 OK", "text/plain", b"ready\n".to_vec()),
                    Err(why) => (
                        "503 Service Unavailable",
                        "text/plain",
                        format!("not ready: {why}\n").into_bytes(),
                    ),
                },
                ("GET", _) => ("404 Not Found", "text/plain", b"not found\n".to_vec()),
                _ => (
                    "405 Method Not Allowed",
                    "text/plain",
                    b"GET only (and POST /feedback)\n".to_vec(),
                ),
            };
            let header = format!(
                "HTTP/1.1 {status}\r\nContent-Type: {ctype}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                body.len()
            );
            let _ = sock.write_all(header.as_bytes()).await;
            let _ = sock.write_all(&body).await;
            let _ = sock.shutdown().await;
        });
    }
}

/// The value of header `name` (lower case) in a request head.
fn header<'a>(head: &'a str, name: &str) -> Option<&'a str> {
    head.lines().skip(1).find_map(|l| {
        let (k, v) = l.split_once(':')?;
        k.trim().eq_ignore_ascii_case(name).then(|| v.trim())
    })
}

/// Reads a request body of Content-Length bytes (at most
/// `feedback::MAX_BODY`), `early` being what came with the head.
async fn read_body(
    sock: &mut tokio::net::TcpStream,
    head: &str,
    early: &[u8],
) -> Result<Vec<u8>, (u16, String)> {
    let Some(len) = header(head, "content-length").and_then(|v| v.parse::<usize>().ok()) else {
        return Err((411, "Content-Length is required".into()));
    };
    if len > crate::feedback::MAX_BODY {
        return Err((413, format!("at most {} bytes", crate::feedback::MAX_BODY)));
    }
    let mut body = early[..early.len().min(len)].to_vec();
    while body.len() < len {
        let mut chunk = vec![0u8; len - body.len()];
        match tokio::time::timeout(std::time::Duration::from_secs(5), sock.read(&mut chunk)).await {
            Ok(Ok(k)) if k > 0 => body.extend_from_slice(&chunk[..k]),
            _ => return Err((400, "the body ended early".into())),
        }
    }
    Ok(body)
}

/// Binds `addr` and serves in a background thread with its own small
/// runtime (for the synchronous commands: demo). Returns the bound address.
pub fn serve_in_background(
    addr: &str,
    metrics: Arc<Metrics>,
    ready: Ready,
) -> std::io::Result<std::net::SocketAddr> {
    serve_admin_in_background(addr, metrics, ready, None)
}

/// [`serve_in_background`], with `POST /feedback` through `intake`.
pub fn serve_admin_in_background(
    addr: &str,
    metrics: Arc<Metrics>,
    ready: Ready,
    intake: Option<Arc<crate::feedback::Intake>>,
) -> std::io::Result<std::net::SocketAddr> {
    let std_listener = std::net::TcpListener::bind(addr)?;
    std_listener.set_nonblocking(true)?;
    let local = std_listener.local_addr()?;
    std::thread::Builder::new()
        .name("kawal-metrics".into())
        .spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("metrics runtime");
            rt.block_on(async move {
                let listener =
                    tokio::net::TcpListener::from_std(std_listener).expect("tokio listener");
                serve_admin(listener, metrics, ready, intake).await
            });
        })?;
    Ok(local)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_conventions_and_every_metric_has_help() {
        let m = Metrics::new();
        m.dead_letters.inc();
        m.sink_queue.with_label_values(&["kafka"]).set(0);
        m.consumer_lag.with_label_values(&["t", "0"]).set(0);
        for f in m.registry.gather() {
            assert!(f.name().starts_with("kawal_"), "{}", f.name());
            assert!(!f.help().is_empty(), "{}", f.name());
            if f.get_field_type() == prometheus::proto::MetricType::COUNTER {
                assert!(f.name().ends_with("_total"), "{}", f.name());
            }
            for metric in f.get_metric() {
                for l in metric.get_label() {
                    assert_ne!(l.name(), "account", "{}", f.name());
                }
            }
        }
    }

    #[test]
    fn counters_move_with_events_invalid_events_and_signals() {
        use crate::config::Config;
        use crate::decode::decode;
        use crate::detect::Detector;
        let m = Metrics::new();
        let mut det = Detector::new(Config::default());
        let mut out = Vec::new();
        let mut last = Stats::default();
        for line in [
            r#"{"id":"1","time":"2026-03-02T08:00:00Z","account":"x:a","type":"login","outcome":"success","source":{"country":"ID"}}"#,
            r#"{"id":"2","time":"2026-03-02T08:05:00Z","account":"x:a","type":"mfa_change","change":{"action":"disable"}}"#,
            r#"{"id":"3","time":"2026-03-02T08:06:00Z","account":"x:a","type":"recovery_change","change":{"field":"email"}}"#,
        ] {
            det.process(&decode(line.as_bytes()).unwrap(), &mut out);
            m.add_stats(&det.stats, &last);
            last = det.stats.clone();
        }
        m.add_invalid(ErrorKind::BadJson.index(), 2);
        assert_eq!(m.events_total("login"), 1);
        assert_eq!(m.events_total("mfa_change"), 1);
        assert_eq!(m.accounts.get(), 1);
        assert_eq!(m.learning.get(), 1);
        assert_eq!(m.invalid[ErrorKind::BadJson.index()].get(), 2);
        let mfa = Sig::ALL
            .iter()
            .position(|s| *s == Sig::MfaDisabled)
            .unwrap();
        assert_eq!(m.signals[mfa].get(), 1);
        let text = String::from_utf8(m.render()).unwrap();
        assert!(
            text.contains(r#"kawal_events_total{outcome="invalid",type="unknown"} 2"#),
            "{text}"
        );
        // Publishing the same stats again adds nothing.
        m.add_stats(&det.stats, &last);
        assert_eq!(m.events_total("login"), 1);
    }

    #[test]
    fn the_endpoint_serves_metrics_health_and_readiness() {
        use std::io::{Read, Write};
        let m = Arc::new(Metrics::new());
        m.dead_letters.inc_by(3);
        let ready = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let r = Arc::clone(&ready);
        let addr = serve_in_background(
            "127.0.0.1:0",
            Arc::clone(&m),
            Arc::new(move || {
                if r.load(std::sync::atomic::Ordering::Acquire) {
                    Ok(())
                } else {
                    Err("no partitions assigned yet".into())
                }
            }),
        )
        .unwrap();
        let get = |path: &str| {
            let mut s = std::net::TcpStream::connect(addr).unwrap();
            write!(s, "GET {path} HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
            let mut out = String::new();
            s.read_to_string(&mut out).unwrap();
            out
        };
        let metrics = get("/metrics");
        assert!(metrics.starts_with("HTTP/1.1 200"), "{metrics}");
        assert!(metrics.contains("kawal_dead_letters_total 3"), "{metrics}");
        assert!(get("/healthz").starts_with("HTTP/1.1 200"));
        let not_ready = get("/readyz");
        assert!(not_ready.starts_with("HTTP/1.1 503"), "{not_ready}");
        assert!(
            not_ready.ends_with("not ready: no partitions assigned yet\n"),
            "{not_ready}"
        );
        ready.store(true, std::sync::atomic::Ordering::Release);
        assert!(get("/readyz").starts_with("HTTP/1.1 200"));
        assert!(get("/nope").starts_with("HTTP/1.1 404"));
    }
}
