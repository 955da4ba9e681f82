//! One endpoint's deliverer: reads its outbox in order, keeps up to
//! `delivery.concurrency` alerts in flight, and settles each one as
//! delivered, dead-lettered, or left in the outbox (endpoint disabled,
//! kawal stopping).
//!
//! Retries follow `delivery.retry_schedule` per alert, jittered. While an
//! endpoint is down every in-flight alert waits on its own schedule and
//! nothing new is read (the window is full), so a dead endpoint costs a
//! few requests per step, not one per alert; the first success wakes the
//! waiting alerts, so catch-up starts as soon as the endpoint answers.
//!
//! The thread runs its own small tokio runtime: the pipeline's workers are
//! synchronous, and a replay has no runtime at all.

use std::collections::HashMap;
use std::io::Write;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use serde_json::json;
use tokio::sync::Notify;
use tokio::task::JoinSet;

use super::format::{self, Context, Format};
use super::outbox::Record;
use super::{ClosedRecord, Endpoint, Signer};
use crate::config::{DeliveryConfig, WebhookConfig};
use crate::detect::Alert;
use crate::time::{rfc3339, wall_clock_ms};

/// Longest honoured `Retry-After` (a receiver asking for more is treated
/// as asking for an hour; the schedule goes on after that).
const MAX_RETRY_AFTER: Duration = Duration::from_secs(3600);
/// What a dead letter keeps of a response body.
const MAX_RESPONSE: usize = 1024;
/// Grace for in-flight attempts when kawal stops.
const STOP_GRACE: Duration = Duration::from_secs(2);
/// Open incidents an Alertmanager endpoint re-sends at most (the oldest
/// is sent resolved past this).
const MAX_OPEN_INCIDENTS: usize = 10_000;

/// One attempt's result.
#[derive(Debug)]
enum Attempt {
    Ok,
    /// 5xx, 429, 408, timeout, connection error: try again later.
    Retry {
        result: &'static str,
        status: Option<u16>,
        detail: String,
        after: Option<Duration>,
    },
    /// 410: disable the endpoint.
    Gone {
        detail: String,
    },
    /// 3xx, other 4xx: dead letter at once.
    Refused {
        status: u16,
        detail: String,
    },
}

/// An alert given up on, with what the dead-letter file keeps.
struct DeadLetter {
    id: String,
    body: Vec<u8>,
    reason: String,
    status: Option<u16>,
    response: String,
    attempts: usize,
}

fn dead(
    rec: Record,
    reason: String,
    status: Option<u16>,
    response: String,
    attempts: usize,
) -> Settled {
    Settled::DeadLetter(Box::new(DeadLetter {
        id: rec.id,
        body: rec.body,
        reason,
        status,
        response,
        attempts,
    }))
}

/// How an alert ended.
enum Settled {
    /// With the alert when it was parsed (formats other than native).
    Delivered {
        alert: Option<Box<Alert>>,
    },
    DeadLetter(Box<DeadLetter>),
    /// Not done: stays in the outbox (endpoint disabled, kawal stopping);
    /// a closing puts its incident back among the open ones.
    Kept {
        reopen: Option<Box<Alert>>,
    },
}

/// What one outbox record sends.
enum Payload {
    /// The record's bytes as they are (the native format).
    Native,
    /// An alert, rendered in the endpoint's format at each attempt.
    Alert(Box<Alert>),
    /// An incident's closing message, rendered once; `last` is the
    /// incident's latest alert, open again if the closing is kept.
    Closing { body: Vec<u8>, last: Box<Alert> },
}

impl Payload {
    /// How a record that is not done settles: a closing puts its incident
    /// back among the open ones.
    fn kept(self) -> Settled {
        Settled::Kept {
            reopen: match self {
                Payload::Closing { last, .. } => Some(last),
                _ => None,
            },
        }
    }
}

pub struct Deliverer {
    ep: Arc<Endpoint>,
    url: String,
    client: reqwest::Client,
    signer: Signer,
    routing_key: String,
    source: String,
    schedule: Vec<Duration>,
    concurrency: usize,
    /// Least time between two requests (0: none).
    interval: Duration,
    next_slot: std::sync::Mutex<Instant>,
    recovered: Notify,
    resend: Duration,
    ends_after: i64,
    resolve_after: Duration,
    dead_letters: std::path::PathBuf,
}

/// `Retry-After` in seconds (the HTTP-date form is not used by the
/// receivers we know; it falls back to the schedule).
fn retry_after(h: &reqwest::header::HeaderMap) -> Option<Duration> {
    let v = h.get(reqwest::header::RETRY_AFTER)?.to_str().ok()?;
    let secs: f64 = v.trim().parse().ok()?;
    (secs.is_finite() && secs >= 0.0).then(|| Duration::from_secs_f64(secs).min(MAX_RETRY_AFTER))
}

/// A wait from the schedule, jittered by up to ±20% so that endpoints
/// that failed together do not retry together.
fn jitter(d: Duration, seed: u64) -> Duration {
    let x = crate::hash::mix64(seed ^ wall_clock_ms() as u64);
    let f = 0.8 + 0.4 * ((x >> 11) as f64 / (1u64 << 53) as f64);
    d.mul_f64(f)
}

impl Deliverer {
    pub fn new(
        ep: Arc<Endpoint>,
        d: &DeliveryConfig,
        w: &WebhookConfig,
        signer: Signer,
        routing_key: String,
    ) -> Result<Deliverer, String> {
        let mut url = w.url.clone();
        if ep.format == Format::Alertmanager {
            let after_scheme = url.split_once("://").map(|x| x.1).unwrap_or("");
            if !after_scheme.trim_end_matches('/').contains('/') {
                url = format!("{}/api/v2/alerts", url.trim_end_matches('/'));
            }
        }
        let client = reqwest::Client::builder()
            .timeout(DeliveryConfig::duration(&d.attempt_timeout))
            .connect_timeout(DeliveryConfig::duration(&d.attempt_timeout))
            .user_agent(concat!("kawal/", env!("CARGO_PKG_VERSION")))
            // A redirect is the receiver's answer (3xx is not followed, by
            // the specification: it goes to the dead letters).
            .redirect(reqwest::redirect::Policy::none())
            .pool_max_idle_per_host(d.concurrency)
            .build()
            .map_err(|e| format!("HTTP client: {e}"))?;
        let rate = if w.rate_per_second > 0.0 {
            w.rate_per_second
        } else {
            ep.format.default_rate()
        };
        Ok(Deliverer {
            dead_letters: ep.outbox.dir().join("dead-letters.ndjson"),
            ep,
            url,
            client,
            signer,
            routing_key,
            source: w.source.clone(),
            schedule: d
                .retry_schedule
                .iter()
                .map(|s| DeliveryConfig::duration(s))
                .collect(),
            concurrency: d.concurrency,
            interval: if rate > 0.0 {
                Duration::from_secs_f64(1.0 / rate)
            } else {
                Duration::ZERO
            },
            next_slot: std::sync::Mutex::new(Instant::now()),
            recovered: Notify::new(),
            resend: DeliveryConfig::duration(&d.resend_interval),
            ends_after: DeliveryConfig::duration(&d.ends_after).as_millis() as i64,
            resolve_after: DeliveryConfig::duration(&d.resolve_after),
        })
    }

    /// The thread's body: until `stop`, then a short grace.
    pub fn run(self, stop: Arc<AtomicBool>) {
        let rt = match tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
        {
            Ok(rt) => rt,
            Err(e) => {
                tracing::error!(endpoint = %self.ep.name, error = %e, "webhook deliverer cannot start");
                return;
            }
        };
        rt.block_on(Arc::new(self).main(stop));
    }

    async fn main(self: Arc<Self>, stop: Arc<AtomicBool>) {
        let ep = Arc::clone(&self.ep);
        let m = &ep.metrics.webhooks;
        let mut reader = ep.outbox.reader();
        let mut tasks: JoinSet<(u64, Settled)> = JoinSet::new();
        let mut tick = tokio::time::interval(Duration::from_millis(200));
        let tracks = ep.format.tracks_incidents();
        let incidents_file = ep.outbox.dir().join("incidents.json");
        let mut open = if tracks {
            Incidents::load(&incidents_file)
        } else {
            Incidents::default()
        };
        let mut last_resend = Instant::now();
        let mut stopping: Option<Instant> = None;
        // A closing read from the outbox waits here until every alert
        // before it has settled, so it is sent after the incident's last
        // alert (closings are one per incident: the pause is short).
        let mut held: Option<(Record, ClosedRecord)> = None;
        loop {
            if stop.load(Ordering::Acquire) {
                let since = *stopping.get_or_insert_with(Instant::now);
                if tasks.is_empty() || since.elapsed() >= STOP_GRACE {
                    break;
                }
            }
            // Fill the window.
            while stopping.is_none()
                && !ep.disabled.load(Ordering::Acquire)
                && tasks.len() < self.concurrency
            {
                if let Some((rec, closed)) = held.take() {
                    if !tasks.is_empty() {
                        held = Some((rec, closed));
                        break;
                    }
                    self.start_closing(rec, closed, &mut open, &mut tasks).await;
                    continue;
                }
                match reader.next(&ep.outbox) {
                    Ok(Some(rec)) => {
                        if tracks && let Some(c) = ClosedRecord::parse(&rec.id, &rec.body) {
                            held = Some((rec, c));
                            continue;
                        }
                        let me = Arc::clone(&self);
                        tasks.spawn(async move {
                            let seq = rec.seq;
                            (seq, me.deliver(rec).await)
                        });
                    }
                    Ok(None) => break,
                    Err(e) => {
                        tracing::error!(endpoint = %ep.name, error = %e, "cannot read the outbox");
                        break;
                    }
                }
            }
            tokio::select! {
                Some(joined) = tasks.join_next() => {
                    if let Ok((seq, settled)) = joined {
                        self.settle(seq, settled, &mut open).await;
                    }
                }
                _ = ep.outbox.appended.notified() => {}
                _ = tick.tick() => {
                    self.persist_cursor();
                    let (records, bytes) = ep.outbox.backlog();
                    m.backlog.with_label_values(&[&ep.name]).set(records as i64);
                    m.outbox_bytes.with_label_values(&[&ep.name]).set(bytes as i64);
                    if tracks && last_resend.elapsed() >= self.resend {
                        last_resend = Instant::now();
                        if ep.format == Format::Alertmanager {
                            self.resend_open(&mut open).await;
                        } else {
                            self.resolve_quiet(&mut open).await;
                        }
                    }
                    if tracks {
                        open.save(&incidents_file);
                    }
                }
            }
        }
        tasks.abort_all();
        if tracks {
            open.save(&incidents_file);
        }
        self.persist_cursor();
    }

    fn persist_cursor(&self) {
        if let Err(e) = self.ep.outbox.persist_cursor() {
            tracing::warn!(endpoint = %self.ep.name, error = %e, "cannot write the outbox cursor");
        }
    }

    /// Records the outcome of one alert.
    async fn settle(&self, seq: u64, settled: Settled, open: &mut Incidents) {
        let ep = &self.ep;
        let m = &ep.metrics.webhooks;
        match settled {
            Settled::Delivered { alert } => {
                m.done.with_label_values(&[&ep.name, "delivered"]).inc();
                ep.outbox.done(seq);
                let ended = match alert {
                    Some(a) if ep.format.tracks_incidents() => open.opened(*a, wall_clock_ms()),
                    _ => None,
                };
                // PagerDuty keeps one incident per dedup_key whatever the
                // severity: nothing to end there.
                if ep.format == Format::Alertmanager
                    && let Some(old) = ended
                {
                    // An escalation changes the severity label: the old
                    // label set is a different Alertmanager alert, ended.
                    self.post_alertmanager(&[old], false).await;
                }
            }
            Settled::DeadLetter(d) => {
                let counter = m.done.with_label_values(&[&ep.name, "dead_lettered"]);
                let n = counter.get();
                counter.inc();
                if let Err(e) = self.dead_letter(&d) {
                    // Not done then: it stays in the outbox.
                    tracing::error!(endpoint = %ep.name, error = %e, "cannot write a dead letter; the alert stays in the outbox");
                    return;
                }
                // A refusing receiver refuses everything: say the first
                // few, then every thousandth (the metric counts them all).
                if n < 5 || n.is_multiple_of(1000) {
                    tracing::warn!(endpoint = %ep.name, reason = d.reason, status = d.status, total = n + 1, file = %self.dead_letters.display(), "alert dead-lettered");
                }
                ep.outbox.done(seq);
            }
            Settled::Kept { reopen } => {
                if let Some(a) = reopen {
                    open.reopen(*a, wall_clock_ms());
                }
            }
        }
    }

    /// Starts sending the closing `closed` (read as record `rec`), whose
    /// incident's alerts have all settled: the format's closing message
    /// for the incident's latest alert. An incident this endpoint never
    /// got an alert of (below its `min_severity`, another account) or
    /// already closed sends nothing.
    async fn start_closing(
        self: &Arc<Self>,
        rec: Record,
        closed: ClosedRecord,
        open: &mut Incidents,
        tasks: &mut JoinSet<(u64, Settled)>,
    ) {
        let ep = &self.ep;
        let Some(last) = open.close(&closed.incident) else {
            ep.outbox.done(rec.seq);
            return;
        };
        if ep.format == Format::Alertmanager {
            // Resolved by one post with `endsAt` now (best effort, as the
            // re-sends are; Alertmanager also ends it at its `endsAt`).
            self.post_alertmanager(std::slice::from_ref(&last), false)
                .await;
            ep.outbox.done(rec.seq);
            return;
        }
        let ctx = Context {
            now_ms: closed.at,
            ..self.context(None)
        };
        let reason = format::Reason {
            why: &closed.why,
            quiet_ms: closed.quiet_ms,
        };
        let Some(body) = format::closing(ep.format, &last, &ctx, reason) else {
            ep.outbox.done(rec.seq);
            return;
        };
        let payload = Payload::Closing {
            body: serde_json::to_vec(&body).expect("values serialise"),
            last: Box::new(last),
        };
        let me = Arc::clone(self);
        tasks.spawn(async move {
            let seq = rec.seq;
            (seq, me.send(rec, payload).await)
        });
    }

    fn dead_letter(&self, d: &DeadLetter) -> std::io::Result<()> {
        let body: serde_json::Value = serde_json::from_slice(&d.body)
            .unwrap_or_else(|_| json!(String::from_utf8_lossy(&d.body)));
        let line = json!({
            "endpoint": self.ep.name,
            "id": d.id,
            "at": rfc3339(wall_clock_ms()),
            "reason": d.reason,
            "status": d.status,
            "response": d.response,
            "attempts": d.attempts,
            "alert": body,
        });
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.dead_letters)?;
        let mut text = line.to_string();
        text.push('\n');
        f.write_all(text.as_bytes())?;
        f.sync_data()
    }

    /// Every attempt for one alert, on the schedule.
    async fn deliver(&self, rec: Record) -> Settled {
        // The native format sends the outbox's bytes as they are (they are
        // the alert contract); the others are rendered from the alert.
        let payload = if self.ep.format == Format::Native {
            Payload::Native
        } else {
            match serde_json::from_slice(&rec.body) {
                Ok(a) => Payload::Alert(Box::new(a)),
                Err(e) => {
                    return dead(rec, format!("not an alert: {e}"), None, String::new(), 0);
                }
            }
        };
        self.send(rec, payload).await
    }

    /// Every attempt for one record, on the schedule.
    async fn send(&self, rec: Record, payload: Payload) -> Settled {
        let mut body = Vec::with_capacity(rec.body.len() + 512);
        let mut attempt = 0;
        loop {
            if self.ep.disabled.load(Ordering::Acquire) {
                return payload.kept();
            }
            self.pace().await;
            let sent: &[u8] = match &payload {
                Payload::Native => &rec.body,
                Payload::Alert(a) => {
                    let ctx = self.context(Some(self.ends_after));
                    format::render(self.ep.format, a, &ctx, &mut body);
                    &body
                }
                Payload::Closing { body, .. } => body,
            };
            let result = self.attempt(&rec.id, sent).await;
            let m = &self.ep.metrics.webhooks;
            let label = match &result {
                Attempt::Ok => "ok",
                Attempt::Retry { result, .. } => result,
                Attempt::Gone { .. } => "gone",
                Attempt::Refused { .. } => "refused",
            };
            m.attempts.with_label_values(&[&self.ep.name, label]).inc();
            attempt += 1;
            match result {
                Attempt::Ok => {
                    let secs = (wall_clock_ms() - rec.created_ms).max(0) as f64 / 1000.0;
                    m.latency.with_label_values(&[&self.ep.name]).observe(secs);
                    self.recovered.notify_waiters();
                    return Settled::Delivered {
                        alert: match payload {
                            Payload::Alert(a) => Some(a),
                            _ => None,
                        },
                    };
                }
                Attempt::Gone { detail } => {
                    self.disable(&detail);
                    return payload.kept();
                }
                Attempt::Refused { status, detail } => {
                    return dead(
                        rec,
                        format!("refused with {status}"),
                        Some(status),
                        detail,
                        attempt,
                    );
                }
                Attempt::Retry {
                    result,
                    status,
                    detail,
                    after,
                } => {
                    let Some(step) = self.schedule.get(attempt) else {
                        return dead(
                            rec,
                            format!("{attempt} attempts failed (last: {result})"),
                            status,
                            detail,
                            attempt,
                        );
                    };
                    let wait = after.unwrap_or_else(|| jitter(*step, rec.seq));
                    if attempt == 1 {
                        tracing::info!(endpoint = %self.ep.name, id = %rec.id, result, status, wait_ms = wait.as_millis() as u64, "webhook attempt failed; retrying");
                    }
                    tokio::select! {
                        _ = tokio::time::sleep(wait) => {}
                        _ = self.recovered.notified() => {}
                    }
                }
            }
        }
    }

    fn context(&self, ends_after_ms: Option<i64>) -> Context<'_> {
        Context {
            routing_key: &self.routing_key,
            source: &self.source,
            now_ms: wall_clock_ms(),
            ends_after_ms,
        }
    }

    /// Waits for the endpoint's next request slot (rate limit).
    async fn pace(&self) {
        if self.interval.is_zero() {
            return;
        }
        let at = {
            let mut next = self.next_slot.lock().unwrap_or_else(|p| p.into_inner());
            let at = (*next).max(Instant::now());
            *next = at + self.interval;
            at
        };
        tokio::time::sleep_until(at.into()).await;
    }

    /// One HTTP request, signed when the endpoint has secrets.
    async fn attempt(&self, id: &str, body: &[u8]) -> Attempt {
        let ts = wall_clock_ms().div_euclid(1000);
        let mut req = self
            .client
            .post(&self.url)
            .header(reqwest::header::CONTENT_TYPE, self.ep.format.content_type())
            .header("webhook-id", id)
            .header("webhook-timestamp", ts.to_string());
        if !self.signer.is_empty() {
            req = req.header("webhook-signature", self.signer.header(id, ts, body));
        }
        let resp = match req.body(body.to_vec()).send().await {
            Ok(r) => r,
            Err(e) => {
                return Attempt::Retry {
                    result: if e.is_timeout() { "timeout" } else { "connect" },
                    status: None,
                    detail: error_chain(&e),
                    after: None,
                };
            }
        };
        let status = resp.status().as_u16();
        let after = retry_after(resp.headers());
        if resp.status().is_success() {
            return Attempt::Ok;
        }
        let text = resp.text().await.unwrap_or_default();
        let detail = format::cut(&text, MAX_RESPONSE);
        match status {
            410 => Attempt::Gone { detail },
            408 | 429 | 500..=599 => Attempt::Retry {
                result: "retry",
                status: Some(status),
                detail,
                after,
            },
            _ => Attempt::Refused { status, detail },
        }
    }

    fn disable(&self, detail: &str) {
        let ep = &self.ep;
        if !ep.mark_disabled() {
            return;
        }
        let why = format!(
            "answered 410 Gone at {} ({})",
            rfc3339(wall_clock_ms()),
            format::cut(detail, 200)
        );
        if let Err(e) = std::fs::write(ep.marker(), &why) {
            tracing::warn!(endpoint = %ep.name, error = %e, "cannot write the disabled marker");
        }
        tracing::error!(endpoint = %ep.name, reason = %why, "webhook endpoint disabled; its undelivered alerts stay in the outbox");
    }

    /// Alertmanager: re-sends open incidents with `endsAt` ahead, and
    /// sends resolved those quiet for `resolve_after`.
    async fn resend_open(&self, open: &mut Incidents) {
        let quiet = open.take_quiet(self.resolve_after, wall_clock_ms());
        if !quiet.is_empty() {
            self.post_alertmanager(&quiet, false).await;
        }
        let still: Vec<Alert> = open.alerts();
        if !still.is_empty() {
            self.post_alertmanager(&still, true).await;
        }
    }

    /// An incident quiet for `resolve_after` is closed by its format's
    /// closing message (PagerDuty: Events API v2 `resolve` with its
    /// `dedup_key`; see `format::closing`). A close that fails for a
    /// reason worth retrying is tried again at the next check.
    async fn resolve_quiet(&self, open: &mut Incidents) {
        let now = wall_clock_ms();
        let quiet = self.resolve_after.as_millis() as i64;
        let reason = format::Reason {
            why: "no_alert",
            quiet_ms: quiet,
        };
        for a in open.take_quiet(self.resolve_after, now) {
            let Some(body) = format::closing(self.ep.format, &a, &self.context(None), reason)
            else {
                continue;
            };
            let body = serde_json::to_vec(&body).expect("values serialise");
            let id = format!("{}{}", a.incident, super::CLOSED_SUFFIX);
            self.pace().await; // Slack: one message a second, closings too
            match self.attempt(&id, &body).await {
                Attempt::Ok => {
                    tracing::info!(endpoint = %self.ep.name, incident = %a.incident, "incident quiet: closed");
                }
                Attempt::Retry { result, .. } => {
                    tracing::warn!(endpoint = %self.ep.name, incident = %a.incident, result, "closing message failed; trying again later");
                    open.reopen(a, now - quiet);
                }
                r => {
                    tracing::warn!(endpoint = %self.ep.name, incident = %a.incident, result = ?r, "the receiver refused the closing message");
                }
            }
        }
    }

    /// One best-effort Alertmanager post (re-sends are not durable: the
    /// next one comes a minute later).
    async fn post_alertmanager(&self, alerts: &[Alert], firing: bool) {
        let ctx = self.context(firing.then_some(self.ends_after));
        let list: Vec<serde_json::Value> = alerts
            .iter()
            .map(|a| format::alertmanager(a, &ctx))
            .collect();
        let body = serde_json::to_vec(&list).expect("values serialise");
        let id = format!("resend-{}", wall_clock_ms());
        let r = self.attempt(&id, &body).await;
        if !matches!(r, Attempt::Ok) {
            tracing::warn!(endpoint = %self.ep.name, result = ?r, firing, "Alertmanager re-send failed");
        }
    }
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        s.push_str(": ");
        s.push_str(&c.to_string());
        cur = c.source();
    }
    format::cut(&s, MAX_RESPONSE)
}

/// Open incidents of an Alertmanager or PagerDuty endpoint: the latest
/// (highest) alert of each, and when its last alert was delivered (wall
/// clock, ms). Kept in `incidents.json` beside the outbox, so that a
/// restart still re-sends and resolves them.
#[derive(Default, serde::Serialize, serde::Deserialize)]
struct Incidents {
    open: HashMap<String, (Alert, i64)>,
    #[serde(skip)]
    dirty: bool,
}

impl Incidents {
    /// Loads the saved incidents (none if the file is missing or bad).
    fn load(path: &std::path::Path) -> Incidents {
        let Ok(bytes) = std::fs::read(path) else {
            return Incidents::default();
        };
        serde_json::from_slice(&bytes).unwrap_or_else(|e| {
            tracing::warn!(file = %path.display(), error = %e, "open incidents not read; starting with none");
            Incidents::default()
        })
    }

    /// Writes the incidents if they changed (temporary file, rename).
    fn save(&mut self, path: &std::path::Path) {
        if !self.dirty {
            return;
        }
        let tmp = path.with_extension("tmp");
        let written = serde_json::to_vec(self)
            .map_err(std::io::Error::other)
            .and_then(|b| std::fs::write(&tmp, b))
            .and_then(|()| std::fs::rename(&tmp, path));
        match written {
            Ok(()) => self.dirty = false,
            Err(e) => {
                tracing::warn!(file = %path.display(), error = %e, "cannot save open incidents")
            }
        }
    }

    /// Records a delivered alert at `now`; returns an alert whose label
    /// set must be ended (Alertmanager: an escalation changes the severity
    /// label).
    /// An incident's key: its id (an alert without one is its own).
    fn key(a: &Alert) -> String {
        if a.incident.is_empty() {
            a.id.clone()
        } else {
            a.incident.clone()
        }
    }

    fn opened(&mut self, a: Alert, now: i64) -> Option<Alert> {
        self.dirty = true;
        let key = Incidents::key(&a);
        if !self.open.contains_key(&key) && self.open.len() >= MAX_OPEN_INCIDENTS {
            // Oldest first out; Alertmanager ends it at its endsAt.
            if let Some(k) = self
                .open
                .iter()
                .min_by_key(|(_, (_, t))| *t)
                .map(|(k, _)| k.clone())
            {
                self.open.remove(&k);
            }
        }
        // Deliveries run concurrently, so an incident's alerts can arrive
        // out of order: the highest severity stays open, a lower label set
        // is ended, whichever came first.
        match self.open.get_mut(&key) {
            None => {
                self.open.insert(key, (a, now));
                None
            }
            Some((cur, t)) => {
                *t = now;
                if a.severity >= cur.severity {
                    let old = std::mem::replace(cur, a);
                    (old.severity != cur.severity).then_some(old)
                } else {
                    Some(a)
                }
            }
        }
    }

    /// Removes and returns the incidents quiet for `after` at `now`.
    fn take_quiet(&mut self, after: Duration, now: i64) -> Vec<Alert> {
        let after = after.as_millis() as i64;
        let quiet: Vec<String> = self
            .open
            .iter()
            .filter(|(_, (_, t))| now - *t >= after)
            .map(|(k, _)| k.clone())
            .collect();
        if !quiet.is_empty() {
            self.dirty = true;
        }
        quiet
            .into_iter()
            .filter_map(|k| self.open.remove(&k).map(|(a, _)| a))
            .collect()
    }

    /// Removes and returns the incident `incident` (a closing for it).
    fn close(&mut self, incident: &str) -> Option<Alert> {
        let (a, _) = self.open.remove(incident)?;
        self.dirty = true;
        Some(a)
    }

    /// Puts back an incident whose resolve did not go through.
    fn reopen(&mut self, a: Alert, at: i64) {
        self.dirty = true;
        self.open.insert(Incidents::key(&a), (a, at));
    }

    fn alerts(&self) -> Vec<Alert> {
        self.open.values().map(|(a, _)| a.clone()).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::detect::Severity;
    use crate::sink::webhook::tests::alert;

    #[test]
    fn jitter_stays_within_a_fifth() {
        for seed in 0..200 {
            let d = jitter(Duration::from_secs(100), seed);
            assert!((80.0..=120.0).contains(&d.as_secs_f64()), "{d:?}");
        }
        assert_eq!(jitter(Duration::ZERO, 1), Duration::ZERO);
    }

    #[test]
    fn an_escalation_ends_the_old_severity_label_set() {
        let mut open = Incidents::default();
        assert!(open.opened(alert("x:a", Severity::Medium), 0).is_none());
        assert!(open.opened(alert("x:a", Severity::Medium), 10).is_none());
        let old = open.opened(alert("x:a", Severity::Critical), 20).unwrap();
        assert_eq!(old.severity, Severity::Medium);
        // A lower alert delivered late is the one ended.
        let late = open.opened(alert("x:a", Severity::High), 30).unwrap();
        assert_eq!(late.severity, Severity::High);
        assert_eq!(open.alerts().len(), 1);
        assert_eq!(open.alerts()[0].severity, Severity::Critical);
        // Quiet is measured from the last alert (30).
        assert!(open.take_quiet(Duration::from_millis(60), 60).is_empty());
        assert_eq!(open.take_quiet(Duration::from_millis(60), 90).len(), 1);
        assert!(open.alerts().is_empty());
    }

    #[test]
    fn open_incidents_survive_a_restart() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("incidents.json");
        let mut open = Incidents::default();
        open.opened(alert("x:a", Severity::High), 5);
        open.save(&path);
        let mut again = Incidents::load(&path);
        assert_eq!(again.alerts().len(), 1);
        assert_eq!(again.take_quiet(Duration::from_millis(10), 15).len(), 1);
        assert!(
            Incidents::load(&dir.path().join("missing"))
                .alerts()
                .is_empty()
        );
    }
}
