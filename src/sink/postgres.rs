//! Alert history in PostgreSQL: an `kawal_alerts` row per alert and a
//! `kawal_incidents` row per incident, where analysts and Grafana's
//! built-in PostgreSQL data source look (docs/TRIAGE.md).
//!
//! One writer thread per process owns the connection. Worker sinks queue
//! each batch's alerts with a hold on its ack; the writer inserts every
//! queued batch (up to `[postgres] batch` alerts) in one statement and
//! releases the holds when the transaction commits, so input offsets are
//! stored only once the rows are in the database. While the database is
//! down the writer retries (0.5 s doubling to 30 s) and the queue fills to
//! its bound, which stops the workers: nothing is dropped, and the lag
//! shows on the consumer-lag panel.
//!
//! Analysts' verdicts the detector applied set their incident's `status`
//! (`true_positive`, `benign`, `false_positive`) and `verdict_by`, after
//! the alerts of the same batch. An incident the detector closed (quiet
//! for `detect.long_window` of event time) goes from `open` to `resolved`;
//! a verdict already given stays.
//!
//! Idempotent on the alert id: a redelivered alert inserts nothing, and
//! only the alerts actually inserted count towards their incident, in the
//! same statement (`INSERT ... ON CONFLICT DO NOTHING RETURNING` feeding
//! the incident upsert), so at-least-once delivery never double-counts.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError, SyncSender, sync_channel};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

use super::{Ack, Sink, SinkError};
use crate::detect::Alert;

/// The tables (created when missing). `severity_rank` orders severities
/// (0 low .. 3 critical); times are event times except `detected_at`.
pub const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS kawal_alerts (
    id text PRIMARY KEY,
    incident text NOT NULL,
    account text NOT NULL,
    time timestamptz NOT NULL,
    detected_at timestamptz,
    severity text NOT NULL,
    severity_rank smallint NOT NULL,
    score double precision NOT NULL,
    summary text NOT NULL,
    alert jsonb NOT NULL
);
CREATE INDEX IF NOT EXISTS kawal_alerts_account_time ON kawal_alerts (account, time);
CREATE INDEX IF NOT EXISTS kawal_alerts_incident ON kawal_alerts (incident);
CREATE TABLE IF NOT EXISTS kawal_incidents (
    id text PRIMARY KEY,
    account text NOT NULL,
    severity text NOT NULL,
    severity_rank smallint NOT NULL,
    summary text NOT NULL,
    opened_at timestamptz NOT NULL,
    last_alert_at timestamptz NOT NULL,
    alerts integer NOT NULL,
    status text NOT NULL DEFAULT 'open',
    verdict_by text,
    updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS kawal_incidents_status ON kawal_incidents (status, last_alert_at);
";

/// Inserts a batch: the alerts new to the table, then their incidents.
const INSERT: &str = "
WITH new AS (
    INSERT INTO kawal_alerts
        (id, incident, account, time, detected_at, severity, severity_rank, score, summary, alert)
    SELECT id, incident, account, time::timestamptz, nullif(detected_at, '')::timestamptz,
           severity, severity_rank, score, summary, alert::jsonb
    FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[],
                $7::int2[], $8::float8[], $9::text[], $10::text[])
        AS u(id, incident, account, time, detected_at, severity, severity_rank, score, summary, alert)
    ON CONFLICT (id) DO NOTHING
    RETURNING incident, account, time, severity, severity_rank, summary
), per AS (
    SELECT DISTINCT ON (incident) incident, account, severity, severity_rank, summary,
        min(time) OVER (PARTITION BY incident) AS first,
        max(time) OVER (PARTITION BY incident) AS last,
        count(*) OVER (PARTITION BY incident) AS n
    FROM new
    WHERE incident <> ''
    ORDER BY incident, severity_rank DESC, time DESC
), up AS (
INSERT INTO kawal_incidents AS i
    (id, account, severity, severity_rank, summary, opened_at, last_alert_at, alerts)
SELECT incident, account, severity, severity_rank, summary, first, last, n FROM per
ON CONFLICT (id) DO UPDATE SET
    severity = CASE WHEN excluded.severity_rank > i.severity_rank
        THEN excluded.severity ELSE i.severity END,
    summary = CASE WHEN excluded.severity_rank > i.severity_rank
        THEN excluded.summary ELSE i.summary END,
    severity_rank = greatest(i.severity_rank, excluded.severity_rank),
    opened_at = least(i.opened_at, excluded.opened_at),
    last_alert_at = greatest(i.last_alert_at, excluded.last_alert_at),
    alerts = i.alerts + excluded.alerts,
    updated_at = now()
RETURNING 1
)
SELECT count(*) FROM new
";

/// One alert as the statement's columns.
struct Row {
    id: String,
    incident: String,
    account: String,
    time: String,
    detected_at: String,
    severity: &'static str,
    rank: i16,
    score: f64,
    summary: String,
    alert: String,
}

struct Job {
    rows: Vec<Row>,
    /// Verdicts to record after the rows: (incident, status, analyst).
    verdicts: Vec<(String, &'static str, String)>,
    /// Incidents the detector closed as quiet, after the verdicts.
    closed: Vec<String>,
    ack: Ack,
}

/// Marks an incident the detector closed, unless a verdict says more.
const RESOLVED: &str = "UPDATE kawal_incidents SET status = 'resolved', updated_at = now() WHERE id = $1 AND status = 'open'";

/// Records an analyst's verdict as the incident's status.
const VERDICT: &str =
    "UPDATE kawal_incidents SET status = $2, verdict_by = $3, updated_at = now() WHERE id = $1";

/// Queued jobs not yet committed, for `flush`.
#[derive(Default)]
struct Pending {
    n: Mutex<usize>,
    zero: Condvar,
}

/// The process's PostgreSQL writer.
pub struct Postgres {
    tx: SyncSender<Job>,
    pending: Arc<Pending>,
    written: Arc<AtomicUsize>,
}

impl Postgres {
    /// Starts the writer for `url` (a libpq connection string or URL).
    /// Connecting happens in the writer, with retries: a database that is
    /// down at start holds the alerts, it does not stop kawal.
    pub fn start(url: &str, batch: usize) -> Result<Postgres, postgres::Error> {
        let config: postgres::Config = url.parse()?;
        // A bounded queue: a few batches ahead of the writer.
        let (tx, rx) = sync_channel::<Job>(64);
        let pending = Arc::new(Pending::default());
        let written = Arc::new(AtomicUsize::new(0));
        let (p, w) = (Arc::clone(&pending), Arc::clone(&written));
        std::thread::Builder::new()
            .name("kawal-postgres".into())
            .spawn(move || writer(config, rx, batch.max(1), p, w))
            .expect("postgres writer thread");
        Ok(Postgres {
            tx,
            pending,
            written,
        })
    }

    /// A sink for one worker.
    pub fn sink(&self) -> PostgresSink {
        PostgresSink {
            tx: self.tx.clone(),
            pending: Arc::clone(&self.pending),
        }
    }

    /// Alerts inserted so far (new rows; duplicates are not counted).
    pub fn written(&self) -> usize {
        self.written.load(Ordering::Acquire)
    }

    /// Waits until every queued alert is committed, up to `limit`.
    pub fn wait_idle(&self, limit: Duration) -> bool {
        wait_idle(&self.pending, limit)
    }
}

fn wait_idle(p: &Pending, limit: Duration) -> bool {
    let n = p.n.lock().expect("pending");
    let (n, _) = p
        .zero
        .wait_timeout_while(n, limit, |n| *n > 0)
        .expect("pending");
    *n == 0
}

/// A worker's handle on the writer.
pub struct PostgresSink {
    tx: SyncSender<Job>,
    pending: Arc<Pending>,
}

impl PostgresSink {
    /// Queues a job with a hold on its ack, released on commit.
    fn queue(&mut self, job: Job) -> Result<(), SinkError> {
        job.ack.hold();
        *self.pending.n.lock().expect("pending") += 1;
        if let Err(e) = self.tx.send(job) {
            e.0.ack.release(false);
            *self.pending.n.lock().expect("pending") -= 1;
            return Err(SinkError::Queue {
                sink: "postgres",
                reason: "the writer has stopped".into(),
            });
        }
        Ok(())
    }
}

impl Sink for PostgresSink {
    fn name(&self) -> &'static str {
        "postgres"
    }

    fn send(&mut self, alerts: &[Alert], ack: &Ack) -> Result<(), SinkError> {
        if alerts.is_empty() {
            return Ok(());
        }
        let mut rows = Vec::with_capacity(alerts.len());
        for a in alerts {
            let alert = serde_json::to_string(a).map_err(|source| SinkError::Encode {
                sink: "postgres",
                source,
            })?;
            rows.push(Row {
                id: a.id.clone(),
                incident: a.incident.clone(),
                account: a.account.clone(),
                time: a.time.clone(),
                detected_at: a.detected_at.clone(),
                severity: a.severity.as_str(),
                rank: a.severity as i16,
                score: a.score,
                summary: a.summary.clone(),
                alert,
            });
        }
        self.queue(Job {
            rows,
            verdicts: Vec::new(),
            closed: Vec::new(),
            ack: ack.clone(),
        })
    }

    fn verdicts(
        &mut self,
        verdicts: &[crate::detect::feedback::Applied],
        ack: &Ack,
    ) -> Result<(), SinkError> {
        if verdicts.is_empty() {
            return Ok(());
        }
        let verdicts = verdicts
            .iter()
            .map(|v| (v.incident.clone(), v.verdict.as_str(), v.by.clone()))
            .collect();
        self.queue(Job {
            rows: Vec::new(),
            verdicts,
            closed: Vec::new(),
            ack: ack.clone(),
        })
    }

    fn closed(
        &mut self,
        closed: &[crate::detect::incidents::Closed],
        ack: &Ack,
    ) -> Result<(), SinkError> {
        // A verdict's close is the verdict's status, already recorded.
        let closed: Vec<String> = closed
            .iter()
            .filter(|c| matches!(c.why, crate::detect::incidents::Why::Quiet { .. }))
            .map(|c| c.incident.clone())
            .collect();
        if closed.is_empty() {
            return Ok(());
        }
        self.queue(Job {
            rows: Vec::new(),
            verdicts: Vec::new(),
            closed,
            ack: ack.clone(),
        })
    }

    fn flush(&mut self) -> Result<(), SinkError> {
        // Bounded as the other sinks' flushes are; what is still queued
        // keeps its hold, so its offsets are not stored.
        let limit = Duration::from_secs(30);
        if wait_idle(&self.pending, limit) {
            Ok(())
        } else {
            Err(SinkError::Timeout {
                sink: "postgres",
                pending: *self.pending.n.lock().expect("pending"),
                waited_ms: limit.as_millis() as u64,
            })
        }
    }
}

fn writer(
    config: postgres::Config,
    rx: Receiver<Job>,
    batch: usize,
    pending: Arc<Pending>,
    written: Arc<AtomicUsize>,
) {
    let mut client: Option<postgres::Client> = None;
    let mut jobs: Vec<Job> = Vec::new();
    loop {
        if jobs.is_empty() {
            match rx.recv_timeout(Duration::from_secs(1)) {
                Ok(j) => jobs.push(j),
                Err(RecvTimeoutError::Timeout) => continue,
                Err(RecvTimeoutError::Disconnected) => return,
            }
        }
        // Take what else is queued, up to `batch` alerts.
        let mut n: usize = jobs.iter().map(|j| j.rows.len()).sum();
        while n < batch {
            match rx.try_recv() {
                Ok(j) => {
                    n += j.rows.len();
                    jobs.push(j);
                }
                Err(_) => break,
            }
        }
        let mut backoff = Duration::from_millis(500);
        loop {
            match write(&config, &mut client, &jobs) {
                Ok(inserted) => {
                    written.fetch_add(inserted, Ordering::AcqRel);
                    break;
                }
                Err(e) => {
                    tracing::warn!(error = %e, retry_in = ?backoff, "postgres: alerts not written yet");
                    client = None;
                    std::thread::sleep(backoff);
                    backoff = (backoff * 2).min(Duration::from_secs(30));
                }
            }
        }
        let done = jobs.len();
        for j in jobs.drain(..) {
            j.ack.release(true);
        }
        let mut p = pending.n.lock().expect("pending");
        *p -= done;
        if *p == 0 {
            pending.zero.notify_all();
        }
    }
}

/// Connects if needed, and inserts every job's rows in one transaction.
/// Returns the number of alerts new to the table.
fn write(
    config: &postgres::Config,
    client: &mut Option<postgres::Client>,
    jobs: &[Job],
) -> Result<usize, postgres::Error> {
    if client.is_none() {
        let mut c = config.connect(postgres::NoTls)?;
        c.batch_execute(SCHEMA)?;
        *client = Some(c);
    }
    let c = client.as_mut().expect("connected");
    let rows = jobs.iter().flat_map(|j| &j.rows);
    let col = |f: fn(&Row) -> String| rows.clone().map(f).collect::<Vec<String>>();
    let ids = col(|r| r.id.clone());
    let incidents = col(|r| r.incident.clone());
    let accounts = col(|r| r.account.clone());
    let times = col(|r| r.time.clone());
    let detected = col(|r| r.detected_at.clone());
    let severities: Vec<&str> = rows.clone().map(|r| r.severity).collect();
    let ranks: Vec<i16> = rows.clone().map(|r| r.rank).collect();
    let scores: Vec<f64> = rows.clone().map(|r| r.score).collect();
    let summaries = col(|r| r.summary.clone());
    let alerts = col(|r| r.alert.clone());
    let mut tx = c.transaction()?;
    // Verdicts come after the alerts of their batch, and jobs in order:
    // the rows go first, then every job's verdicts.
    let row = tx.query_one(
        INSERT,
        &[
            &ids,
            &incidents,
            &accounts,
            &times,
            &detected,
            &severities,
            &ranks,
            &scores,
            &summaries,
            &alerts,
        ],
    )?;
    for (incident, status, by) in jobs.iter().flat_map(|j| &j.verdicts) {
        tx.execute(VERDICT, &[incident, status, by])?;
    }
    for incident in jobs.iter().flat_map(|j| &j.closed) {
        tx.execute(RESOLVED, &[incident])?;
    }
    tx.commit()?;
    let new: i64 = row.get(0);
    Ok(new as usize)
}
