//! The Kafka pipeline: consumer group in, detection, acknowledged sinks
//! out, offsets stored only behind delivered alerts.
//!
//! ```text
//!  worker 0 (thread): consumer ─▶ decode ─▶ detector[partition] ─┐ batch
//!  worker 1 (thread): consumer ─▶ decode ─▶ detector[partition] ─┤ close
//!                                     │ bad bytes                ▼
//!                                     └──▶ dead-letter topic   sinks (Ack held
//!                                                               per delivery)
//!        offsets of a batch: stored when its Ack is free and all earlier
//!        batches are; committed every commit_interval, on revoke, on exit
//! ```
//!
//! Each worker is a full consumer in the group, on its own thread. Kafka
//! itself then decides which worker owns which partition, so partition
//! affinity needs no dispatcher, no copies of message bytes between
//! threads and no locks on the hot path; a second kawal process joins the
//! same group the same way. A worker keeps one detector per assigned
//! partition number (one topic: cooperative-sticky; several topics are
//! co-partitioned and range-assigned, so an account's events from every
//! topic arrive at the same one). That detector is the unit of durable
//! state: snapshotted and restored with its partition (`crate::state`).
//!
//! Messages are handled in batches (up to `batch_max`, or until the
//! consumer has nothing more at once, or `batch_linger`). A batch that
//! raised no alerts and no dead letters, with nothing older in flight, is
//! done at once: its offsets are recorded without any allocation. One that
//! did gets an [`Ack`] and waits in order behind older batches. Recorded
//! offsets go to librdkafka's offset store just before each commit, so the
//! per-message cost is a comparison and a store into a small table.
//!
//! Rebalances: librdkafka runs the rebalance callback inside the worker's
//! own `poll`. On revoke the callback flushes the sinks, settles the
//! batches, stores and commits synchronously, then snapshots the
//! partitions before they go. On assign it restores each new partition's
//! state and sets its start offset in the assignment; input re-read below
//! the committed offset rebuilds state with its alerts held back. Under
//! the eager protocol (range) a worker keeps the detectors of partitions
//! it gets back.
//!
//! A delivery that fails for good (librdkafka has retried until
//! `message.timeout.ms`) stops the worker without storing the failed
//! batch's offsets: a restart re-reads it, so nothing is lost.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use rdkafka::ClientContext;
use rdkafka::Message;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer, ConsumerContext, RebalanceProtocol};
use rdkafka::error::KafkaError;
use rdkafka::message::BorrowedMessage;
use rdkafka::types::RDKafkaRespErr;
use rdkafka::{Offset, TopicPartitionList};

use crate::config::Config;
use crate::decode::{ErrorKind, decode};
use crate::detect::{Alert, Sig, Stats};
use crate::enrich::Enricher;
use crate::kafka::{Health, Role, client_config, describe};
use crate::metrics::Metrics;
use crate::sink::kafka::{DeadLetter, KafkaSink};
use crate::sink::{Ack, Sink, SinkError};
use crate::state::keeper::{Keeper, Part};
use crate::time::wall_clock_ms;

#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    #[error("kafka: {0}")]
    Kafka(#[from] KafkaError),
    #[error(transparent)]
    Sink(#[from] SinkError),
    #[error(
        "worker {worker}: {failed} deliveries failed for good; stopping without storing their offsets (a restart re-reads them)"
    )]
    DeliveryFailed { worker: usize, failed: usize },
    #[error("worker {0} panicked")]
    Panicked(usize),
    #[error(transparent)]
    State(#[from] crate::state::StateError),
}

impl SourceError {
    /// A metric label.
    pub fn kind(&self) -> &'static str {
        match self {
            SourceError::Kafka(_) => "kafka",
            SourceError::Sink(e) => e.kind(),
            SourceError::DeliveryFailed { .. } => "delivery_failed",
            SourceError::Panicked(_) => "panicked",
            SourceError::State(e) => e.kind(),
        }
    }
}

/// The pipeline's progress, updated once per batch by each worker (not per
/// event), read by `kawal demo`, the tests and the benchmark. Everything
/// else it counts (invalid events, dead letters, alerts, commits,
/// rebalances, assigned partitions) lives only in [`Metrics`], which are
/// always kept; these are the counts the metrics keep only when enabled.
#[derive(Debug, Default)]
pub struct Counters {
    pub messages: AtomicU64,
    pub events: AtomicU64,
    pub batches: AtomicU64,
}

/// Makes a worker's extra sinks (files, stdout, test doubles), called
/// once per worker on its own thread.
pub type SinkFactory = Arc<dyn Fn(usize) -> Result<Vec<Box<dyn Sink>>, SinkError> + Send + Sync>;

/// What a worker ends with.
#[derive(Debug, Default)]
pub struct WorkerEnd {
    pub stats: Stats,
    pub state_bytes: usize,
}

/// A running pipeline: `stop` it, then `join`.
pub struct Pipeline {
    handles: Vec<(usize, JoinHandle<Result<WorkerEnd, SourceError>>)>,
    pub counters: Arc<Counters>,
    pub metrics: Arc<Metrics>,
    stop: Arc<AtomicBool>,
    workers: usize,
    health: Arc<Health>,
    group: String,
}

impl Pipeline {
    /// Ready: brokers reachable, partitions assigned and every worker
    /// running (`/readyz`); when not, the reason.
    pub fn readiness(&self) -> crate::metrics::Ready {
        let m = Arc::clone(&self.metrics);
        let n = self.workers as i64;
        let health = Arc::clone(&self.health);
        let group = self.group.clone();
        Arc::new(move || {
            if let Some(why) = health.describe() {
                return Err(why);
            }
            let up = m.up_workers.get();
            if up < n {
                return Err(format!("{up} of {n} workers running"));
            }
            if m.assigned.get() == 0 {
                return Err(format!(
                    "no partitions assigned yet (joining consumer group {group})"
                ));
            }
            Ok(())
        })
    }

    /// Asks every worker to drain, commit and leave the group.
    pub fn stop(&self) {
        self.stop.store(true, Ordering::Release);
    }

    /// A handle that stops the pipeline from elsewhere (a signal handler).
    pub fn stopper(&self) -> Arc<AtomicBool> {
        Arc::clone(&self.stop)
    }

    /// Waits until `partitions` are assigned and no rebalance has
    /// happened for 1.5 s: the group has settled. False if `limit` passes
    /// or `stop` is set first. (Producing before then makes a start-up
    /// rebalance re-read what was read: librdkafka's mock coordinator
    /// refuses commits meanwhile.)
    pub fn wait_settled(&self, partitions: i64, limit: Duration, stop: &AtomicBool) -> bool {
        let m = &self.metrics;
        let started = Instant::now();
        let mut last = (m.rebalances.get(), Instant::now());
        while started.elapsed() < limit && !stop.load(Ordering::Acquire) {
            let n = m.rebalances.get();
            if n != last.0 {
                last = (n, Instant::now());
            }
            if m.assigned.get() == partitions
                && n > 0
                && last.1.elapsed() > Duration::from_millis(1500)
            {
                return true;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        false
    }

    /// True once any worker has ended (done, failed or stopped).
    pub fn any_finished(&self) -> bool {
        self.handles.iter().any(|(_, h)| h.is_finished())
    }

    /// Waits for every worker; the first error wins, the stats of the
    /// others are still merged.
    pub fn join(self) -> Result<WorkerEnd, SourceError> {
        let mut end = WorkerEnd::default();
        let mut first_err = None;
        for (id, h) in self.handles {
            match h.join() {
                Ok(Ok(w)) => {
                    end.stats.merge(&w.stats);
                    end.state_bytes += w.state_bytes;
                }
                Ok(Err(e)) => {
                    first_err.get_or_insert(e);
                }
                Err(_) => {
                    first_err.get_or_insert(SourceError::Panicked(id));
                }
            }
        }
        match first_err {
            Some(e) => Err(e),
            None => Ok(end),
        }
    }
}

/// Starts `cfg.kafka.workers` consumers in the configured group.
pub fn start(
    cfg: &Config,
    enricher: Option<&'static Enricher>,
    extra_sinks: SinkFactory,
) -> Result<Pipeline, SourceError> {
    start_with_metrics(cfg, enricher, extra_sinks, Arc::new(Metrics::new()))
}

/// [`start`], counting into `metrics` (shared with sinks made outside the
/// pipeline, such as webhooks).
pub fn start_with_metrics(
    cfg: &Config,
    enricher: Option<&'static Enricher>,
    extra_sinks: SinkFactory,
    metrics: Arc<Metrics>,
) -> Result<Pipeline, SourceError> {
    let counters = Arc::new(Counters::default());
    let stop = Arc::new(AtomicBool::new(false));
    let leaving = Arc::new(Leaving::new(cfg.kafka.workers));
    let health = Health::new(&cfg.kafka.brokers);
    let consumer_cfg = client_config(&cfg.kafka, Role::Consumer);
    let producer_cfg = client_config(&cfg.kafka, Role::Producer);
    tracing::info!(consumer = %describe(&consumer_cfg), producer = %describe(&producer_cfg), topics = ?cfg.kafka.topics, "kafka clients");
    let mut handles = Vec::with_capacity(cfg.kafka.workers);
    for id in 0..cfg.kafka.workers {
        // Create clients here so that configuration errors surface at
        // start-up, not in a thread.
        let drain = Duration::from_millis(cfg.kafka.drain_timeout_ms().max(0) as u64);
        let kafka = if cfg.kafka.alerts_topic.is_empty() && cfg.kafka.dead_letter_topic.is_empty() {
            None
        } else {
            Some(
                KafkaSink::new(
                    &producer_cfg,
                    &cfg.kafka.alerts_topic,
                    &cfg.kafka.dead_letter_topic,
                    drain,
                    Arc::clone(&health),
                )?
                .with_cloudevents(cfg.kafka.alerts_format == "cloudevents"),
            )
        };
        let context = WorkerContext {
            id,
            delivery: Mutex::new(Delivery {
                kafka,
                sinks: Vec::new(),
                tracker: Tracker::default(),
                open: OpenBatch::default(),
                metrics_on: !cfg.metrics.listen.is_empty(),
                seen: [0; 3],
                parts: Vec::new(),
                parked: Vec::new(),
                replaying: Vec::new(),
                revoked: Vec::new(),
                retired: Stats::default(),
            }),
            keeper: Keeper::new(cfg, Arc::clone(&metrics))?,
            rebuild: cfg.state.cold_start == "earliest",
            topics: cfg.kafka.topics.clone(),
            metrics: Arc::clone(&metrics),
            health: Arc::clone(&health),
        };
        let mut consumer_cfg = consumer_cfg.clone();
        if !cfg.kafka.instance.is_empty() {
            // Static membership (see `[kafka] instance`).
            consumer_cfg.set("group.instance.id", format!("{}-{id}", cfg.kafka.instance));
        }
        let consumer: BaseConsumer<WorkerContext> = consumer_cfg.create_with_context(context)?;
        let topics: Vec<&str> = cfg.kafka.topics.iter().map(String::as_str).collect();
        consumer.subscribe(&topics)?;
        let cfg = cfg.clone();
        let stop = Arc::clone(&stop);
        let extra = Arc::clone(&extra_sinks);
        let counters = Arc::clone(&counters);
        let metrics = Arc::clone(&metrics);
        let leaving = Arc::clone(&leaving);
        let handle = std::thread::Builder::new()
            .name(format!("kawal-worker-{id}"))
            .spawn(move || {
                let _span = tracing::info_span!("worker", worker = id).entered();
                let result = (|| {
                    let sinks = extra(id)?;
                    consumer.context().delivery.lock().expect("delivery").sinks = sinks;
                    metrics.up_workers.inc();
                    let r = Worker::new(
                        id,
                        cfg,
                        enricher,
                        counters,
                        Arc::clone(&metrics),
                        Arc::clone(&stop),
                    )
                    .run(&consumer);
                    metrics.up_workers.dec();
                    r
                })();
                if let Err(e) = &result {
                    tracing::error!(error = %e, "worker stopped");
                    // One worker failing stops the process: the others
                    // drain and commit what they have.
                    stop.store(true, Ordering::Release);
                }
                // The consumer leaves the group when dropped, which starts
                // a rebalance; a sibling still committing would then be
                // refused. So everyone commits first, then all leave.
                leaving.arrive_and_wait(Duration::from_secs(10));
                drop(consumer);
                result
            })
            .expect("spawn worker thread");
        handles.push((id, handle));
    }
    Ok(Pipeline {
        handles,
        counters,
        metrics,
        stop,
        workers: cfg.kafka.workers,
        health,
        group: cfg.kafka.group_id.clone(),
    })
}

/// A barrier with a time limit: workers wait here after their final
/// commit so that none leaves the group while another still commits.
struct Leaving {
    arrived: Mutex<usize>,
    all: std::sync::Condvar,
    workers: usize,
}

impl Leaving {
    fn new(workers: usize) -> Leaving {
        Leaving {
            arrived: Mutex::new(0),
            all: std::sync::Condvar::new(),
            workers,
        }
    }

    fn arrive_and_wait(&self, limit: Duration) {
        let mut n = self.arrived.lock().expect("leaving");
        *n += 1;
        self.all.notify_all();
        let _ = self
            .all
            .wait_timeout_while(n, limit, |n| *n < self.workers)
            .expect("leaving");
    }
}

/// Offsets of one batch: (topic index, partition, last offset handled).
type Offsets = Vec<(u16, i32, i64)>;

fn note_offset(offsets: &mut Offsets, topic: u16, partition: i32, offset: i64) {
    match offsets
        .iter_mut()
        .find(|(t, p, _)| *t == topic && *p == partition)
    {
        Some(e) => e.2 = e.2.max(offset),
        None => offsets.push((topic, partition, offset)),
    }
}

/// Batches waiting for deliveries, in input order, and the offsets that
/// are done.
#[derive(Default)]
struct Tracker {
    waiting: std::collections::VecDeque<(Ack, Offsets)>,
    /// Done offsets not yet given to librdkafka's store.
    done: Offsets,
}

impl Tracker {
    /// A closed batch: `ack` is None when it queued no deliveries.
    fn close(&mut self, ack: Option<Ack>, offsets: &Offsets) {
        match ack {
            None if self.waiting.is_empty() => {
                for &(t, p, o) in offsets {
                    note_offset(&mut self.done, t, p, o);
                }
            }
            ack => self
                .waiting
                .push_back((ack.unwrap_or_default(), offsets.clone())),
        }
    }

    /// Moves finished batches (in order) to `done`. A batch with a failed
    /// delivery stops the walk: its offsets must never be stored.
    fn settle(&mut self) -> Result<(), usize> {
        while let Some((ack, _)) = self.waiting.front() {
            if ack.pending() > 0 {
                break;
            }
            if ack.failed() > 0 {
                return Err(ack.failed());
            }
            let (_, offsets) = self.waiting.pop_front().expect("front");
            for (t, p, o) in offsets {
                note_offset(&mut self.done, t, p, o);
            }
        }
        Ok(())
    }

    fn in_flight(&self) -> usize {
        self.waiting.len()
    }
}

impl Delivery {
    /// The position in `parts` of `partition` (one the callback did not
    /// announce, which cannot normally happen, is owned cold).
    fn part_index(&mut self, partition: i32, keeper: &Keeper) -> usize {
        match self.parts.iter().position(|p| p.partition == partition) {
            Some(i) => i,
            None => {
                self.parts.push(keeper.restore(partition).part);
                self.parts.len() - 1
            }
        }
    }

    /// True when the message at `offset` is below its partition's
    /// committed offset after a restore (its alerts were delivered).
    #[inline]
    fn replayed(&mut self, topic: u16, partition: i32, offset: i64) -> bool {
        if self.replaying.is_empty() {
            return false;
        }
        let Some(i) = self
            .replaying
            .iter()
            .position(|(t, p, _)| *t == topic && *p == partition)
        else {
            return false;
        };
        if offset < self.replaying[i].2 {
            return true;
        }
        self.replaying.swap_remove(i);
        tracing::info!(
            partition,
            "caught up with the committed offset after a restore: live"
        );
        false
    }

    /// Snapshots every part that changed, once everything up to now is
    /// delivered and committed (the offset rule). Skipped when deliveries
    /// are still outstanding: the next interval tries again.
    fn snapshot_all(
        &mut self,
        worker: usize,
        topics: &[String],
        consumer: &BaseConsumer<WorkerContext>,
        metrics: &Metrics,
        keeper: &Keeper,
    ) -> Result<(), SourceError> {
        if !keeper.enabled() {
            return Ok(());
        }
        if !self.parts.iter().any(|p| p.dirty) {
            for part in &mut self.parts {
                keeper.save(part);
            }
            return Ok(());
        }
        self.close_open(metrics)?;
        match self.drain_and_commit(worker, topics, consumer, metrics) {
            Ok(()) => {}
            // A sink slower than `drain_timeout`: not every alert below
            // the offsets is delivered, so no snapshot now (the next
            // interval tries again); the partition goes on.
            Err(SourceError::Sink(SinkError::Timeout { pending, .. })) => {
                tracing::warn!(
                    worker,
                    pending,
                    "snapshot postponed: deliveries still outstanding"
                );
                return Ok(());
            }
            Err(e) => return Err(e),
        }
        for part in &mut self.parts {
            keeper.save(part);
        }
        Ok(())
    }
}

/// Delivery state: the sinks and the batches waiting on them. Shared
/// between the worker and its rebalance callback through a std Mutex:
/// both run on the worker's thread (librdkafka calls the callback from
/// inside the worker's own `poll`, when the worker does not hold the
/// lock), so it is never contended and never held across a poll; it is
/// there because the callback only gets `&self`.
struct Delivery {
    kafka: Option<KafkaSink>,
    sinks: Vec<Box<dyn Sink>>,
    tracker: Tracker,
    /// The batch being filled: offsets handled, alerts raised, the Ack of
    /// its dead letters. It lives here, not in the worker, so that a revoke
    /// (whose callback runs inside the worker's `poll`, between two
    /// messages) can close it before committing: otherwise up to a batch
    /// of handled messages went uncommitted to the partition's next owner,
    /// which handled them again.
    open: OpenBatch,
    /// Whether metrics are published, and the Kafka sink's delivered,
    /// failed and retried counts as last published.
    metrics_on: bool,
    seen: [u64; 3],
    /// The detectors of assigned partitions. They live here, beside the
    /// deliveries, because the rebalance callback (which only gets the
    /// context) must snapshot them on revoke and restore them on assign;
    /// the worker takes this lock once per message anyway.
    parts: Vec<Part>,
    /// Revoked under the eager protocol (several topics, range), kept in
    /// case the assignment that follows gives them back.
    parked: Vec<Part>,
    /// Restored partitions being re-read up to their committed offset:
    /// (topic index, partition, committed offset). Their alerts were
    /// delivered before the restart; they rebuild state only.
    replaying: Vec<(u16, i32, i64)>,
    /// Partitions revoked since the worker last looked: messages of
    /// theirs that it polled before the revoke and still holds unhandled
    /// (see [`LOOKAHEAD`]) are dropped, never handled by a worker that
    /// no longer owns them.
    revoked: Vec<i32>,
    /// Final stats of detectors given up.
    retired: Stats,
}

/// See [`Delivery::open`].
#[derive(Default)]
struct OpenBatch {
    offsets: Offsets,
    alerts: Vec<Alert>,
    /// Analysts' verdicts applied in the batch, sent after its alerts.
    verdicts: Vec<crate::detect::feedback::Applied>,
    /// Incidents the batch's events closed, sent after its verdicts.
    closed: Vec<crate::detect::incidents::Closed>,
    ack: Option<Ack>,
}

impl Delivery {
    /// Sends the open batch's alerts and hands its offsets to the tracker.
    fn close_open(&mut self, m: &Metrics) -> Result<(), SinkError> {
        let mut open = std::mem::take(&mut self.open);
        let mut sent = if open.alerts.is_empty() {
            Ok(())
        } else {
            let ack = open.ack.get_or_insert_with(Ack::new);
            self.send(&open.alerts, ack, m)
        };
        if sent.is_ok() && !open.verdicts.is_empty() {
            let ack = open.ack.get_or_insert_with(Ack::new);
            sent = self
                .sinks
                .iter_mut()
                .try_for_each(|s| s.verdicts(&open.verdicts, ack));
        }
        if sent.is_ok() && !open.closed.is_empty() {
            let ack = open.ack.get_or_insert_with(Ack::new);
            sent = self
                .sinks
                .iter_mut()
                .try_for_each(|s| s.closed(&open.closed, ack));
        }
        self.tracker.close(open.ack.take(), &open.offsets);
        // Keep the buffers' capacity for the next batch.
        open.alerts.clear();
        open.verdicts.clear();
        open.closed.clear();
        open.offsets.clear();
        self.open = open;
        sent
    }

    fn send(&mut self, alerts: &[Alert], ack: &Ack, m: &Metrics) -> Result<(), SinkError> {
        if let Some(k) = self.kafka.as_mut() {
            // Deliveries of the Kafka sink are counted from its callbacks.
            k.send(alerts, ack)?;
        }
        let n = alerts.len() as u64;
        for s in &mut self.sinks {
            match s.send(alerts, ack) {
                Ok(()) => m.sink_deliveries.with_label_values(&[s.name()]).inc_by(n),
                Err(e) => {
                    m.sink_failures.with_label_values(&[s.name()]).inc_by(n);
                    return Err(e);
                }
            }
        }
        Ok(())
    }

    /// Publishes the Kafka sink's delivery counts since the last call
    /// (after every poll or drain, so the last deliveries are counted too).
    fn publish(&mut self, m: &Metrics) {
        if !self.metrics_on {
            return;
        }
        let seen = &mut self.seen;
        if let Some(k) = self.kafka.as_ref() {
            let c = k.context();
            let now = [
                c.delivered.load(Ordering::Relaxed),
                c.failed.load(Ordering::Relaxed),
                c.retries.load(Ordering::Relaxed),
            ];
            let vecs = [&m.sink_deliveries, &m.sink_failures, &m.sink_retries];
            for ((v, n), s) in vecs.iter().zip(now).zip(seen.iter_mut()) {
                // Touched even at zero, so the series exist for dashboards.
                v.with_label_values(&["kafka"]).inc_by(n.saturating_sub(*s));
                *s = (*s).max(n);
            }
            m.sink_queue
                .with_label_values(&["kafka"])
                .set(k.in_flight() as i64);
        }
    }

    fn poll(&mut self) {
        if let Some(k) = self.kafka.as_mut() {
            k.poll();
        }
        for s in &mut self.sinks {
            s.poll();
        }
    }

    fn flush(&mut self) -> Result<(), SinkError> {
        let mut first = Ok(());
        if let Some(k) = self.kafka.as_mut()
            && let Err(e) = k.flush()
        {
            first = Err(e);
        }
        for s in &mut self.sinks {
            if let Err(e) = s.flush() {
                tracing::error!(sink = s.name(), error = %e, "flush failed");
                if first.is_ok() {
                    first = Err(e);
                }
            }
        }
        first
    }

    /// Gives done offsets to librdkafka's store. Offsets of partitions no
    /// longer assigned are refused by librdkafka and dropped here: their
    /// new owner re-reads from the last commit.
    fn store(&mut self, worker: usize, topics: &[String], consumer: &BaseConsumer<WorkerContext>) {
        for (t, p, o) in self.tracker.done.drain(..) {
            if let Err(e) = consumer.store_offset(&topics[t as usize], p, o) {
                tracing::debug!(worker, partition = p, error = %e, "offset not stored");
            }
        }
    }

    /// Flush, settle, store and commit: before partitions are given up
    /// and on shutdown.
    fn drain_and_commit(
        &mut self,
        worker: usize,
        topics: &[String],
        consumer: &BaseConsumer<WorkerContext>,
        metrics: &Metrics,
    ) -> Result<(), SourceError> {
        let flushed = self.flush();
        let settled = self.tracker.settle();
        self.store(worker, topics, consumer);
        match consumer.commit_consumer_state(CommitMode::Sync) {
            Ok(()) => metrics.commits.inc(),
            // Nothing stored since the last commit.
            Err(KafkaError::ConsumerCommit(rdkafka::types::RDKafkaErrorCode::NoOffset)) => {}
            Err(e) => tracing::warn!(worker, error = %e, "commit failed"),
        }
        if let Err(failed) = settled {
            return Err(SourceError::DeliveryFailed { worker, failed });
        }
        self.publish(metrics);
        flushed?;
        if self.tracker.in_flight() > 0 {
            return Err(SinkError::Timeout {
                sink: "pipeline",
                pending: self.tracker.in_flight(),
                waited_ms: 0,
            }
            .into());
        }
        Ok(())
    }
}

struct WorkerContext {
    health: Arc<Health>,
    id: usize,
    delivery: Mutex<Delivery>,
    keeper: Keeper,
    /// `state.cold_start = "earliest"`.
    rebuild: bool,
    topics: Vec<String>,
    metrics: Arc<Metrics>,
}

impl ClientContext for WorkerContext {
    /// librdkafka statistics (every `statistics.interval.ms`): consumer
    /// lag per assigned partition.
    fn log(&self, level: rdkafka::config::RDKafkaLogLevel, fac: &str, message: &str) {
        self.health.log(level, fac, message);
    }

    fn error(&self, error: KafkaError, reason: &str) {
        self.health.error(&error, reason);
    }

    fn stats(&self, stats: rdkafka::Statistics) {
        self.health.from_stats(&stats);
        for (name, topic) in &stats.topics {
            for (p, part) in &topic.partitions {
                // -1 is librdkafka's "internal" partition; lag -1 unknown.
                if *p >= 0 && part.consumer_lag >= 0 {
                    self.metrics
                        .consumer_lag
                        .with_label_values(&[name.as_str(), &p.to_string()])
                        .set(part.consumer_lag);
                }
            }
        }
    }
}

impl ConsumerContext for WorkerContext {
    /// librdkafka calls this inside the worker's own `poll`. Revoke:
    /// deliver, commit, snapshot, then let go. Assign: restore each new
    /// partition's state and set where it starts reading in the
    /// assignment itself (not by a seek after it).
    fn rebalance(
        &self,
        consumer: &BaseConsumer<Self>,
        err: RDKafkaRespErr,
        tpl: &mut TopicPartitionList,
    ) {
        let cooperative = matches!(
            consumer.rebalance_protocol(),
            RebalanceProtocol::Cooperative
        );
        self.metrics.rebalances.inc();
        let done = match err {
            RDKafkaRespErr::RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS => {
                self.assigned(consumer, tpl);
                if cooperative {
                    consumer.incremental_assign(tpl)
                } else {
                    consumer.assign(tpl)
                }
            }
            RDKafkaRespErr::RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS => {
                self.revoked(consumer, tpl, cooperative);
                if cooperative {
                    consumer.incremental_unassign(tpl)
                } else {
                    consumer.unassign()
                }
            }
            other => {
                let e = rdkafka::types::RDKafkaErrorCode::from(other);
                tracing::warn!(worker = self.id, error = %e, "rebalance error");
                consumer.unassign()
            }
        };
        if let Err(e) = done {
            tracing::error!(worker = self.id, error = %e, "applying the assignment failed");
        }
    }
}

impl WorkerContext {
    fn revoked(&self, consumer: &BaseConsumer<Self>, tpl: &TopicPartitionList, cooperative: bool) {
        let parts = partitions(tpl);
        tracing::info!(worker = self.id, partitions = ?parts, "partitions revoked: delivering, committing, snapshotting");
        let mut d = self.delivery.lock().expect("delivery");
        let d = &mut *d;
        if let Err(e) = d.close_open(&self.metrics) {
            tracing::error!(worker = self.id, error = %e, "revoke: the open batch's alerts were not accepted");
        }
        let drained = d.drain_and_commit(self.id, &self.topics, consumer, &self.metrics);
        if let Err(e) = &drained {
            // The partitions go anyway; what was not committed is re-read
            // by their next owner (at-least-once). No snapshot: it would
            // reflect input whose alerts are not delivered.
            tracing::error!(worker = self.id, error = %e, "revoke: not everything was delivered before giving partitions up; no snapshot");
        }
        let (gone, kept): (Vec<Part>, Vec<Part>) = std::mem::take(&mut d.parts)
            .into_iter()
            .partition(|p| parts.contains(&p.partition));
        d.parts = kept;
        d.replaying.retain(|(_, p, _)| !parts.contains(p));
        d.revoked.extend_from_slice(&parts);
        for mut part in gone {
            if drained.is_ok() {
                self.keeper.save_now(&mut part);
            }
            self.keeper.released(part.partition);
            if cooperative {
                // Gone for good: another member owns it from now on.
                d.retired.merge(&part.det.stats);
            } else {
                d.parked.push(part);
            }
        }
        self.metrics.assigned.sub(tpl.count() as i64);
        for e in tpl.elements() {
            // Lag of a partition no longer ours is someone else's.
            let _ = self
                .metrics
                .consumer_lag
                .remove_label_values(&[e.topic(), &e.partition().to_string()]);
        }
    }

    fn assigned(&self, consumer: &BaseConsumer<Self>, tpl: &mut TopicPartitionList) {
        let parts = partitions(tpl);
        tracing::info!(worker = self.id, partitions = ?parts, "partitions assigned");
        self.metrics.assigned.add(tpl.count() as i64);
        let mut d = self.delivery.lock().expect("delivery");
        let d = &mut *d;
        for p in parts {
            if d.parts.iter().any(|q| q.partition == p) {
                continue;
            }
            // Given back after an eager revoke: this detector is current,
            // and everything it read was delivered and committed then;
            // start where it stopped (a refused commit would otherwise
            // have it re-read what it already learnt).
            if let Some(i) = d.parked.iter().position(|q| q.partition == p) {
                let part = d.parked.swap_remove(i);
                self.start_at(tpl, p, &part.next);
                d.parts.push(part);
                continue;
            }
            let mut restored = self.keeper.restore(p);
            if restored.start.is_none() && self.rebuild {
                // No snapshot: rebuild from the start of the log, holding
                // back the alerts below the committed offset.
                for t in &self.topics {
                    set_start(tpl, t, p, Offset::Beginning);
                }
                restored.start = Some(vec![0; self.topics.len()]);
                tracing::info!(
                    partition = p,
                    "no snapshot: rebuilding baselines from the start of the log (state.cold_start = \"earliest\")"
                );
            } else if let Some(start) = &restored.start {
                self.start_at(tpl, p, start);
            }
            if let Some(start) = &restored.start {
                let committed = self.committed(consumer, p);
                for (t, &o) in start.iter().enumerate() {
                    let c = committed
                        .iter()
                        .find(|(u, _)| *u as usize == t)
                        .map(|x| x.1);
                    match c {
                        Some(c) if c > o && o >= 0 => d.replaying.push((t as u16, p, c)),
                        // The snapshot is ahead of the group's commit (a
                        // crash between the two): everything below it was
                        // delivered, so the commit moves up to it.
                        _ if o > 0 && c.is_none_or(|c| c < o) => {
                            note_offset(&mut d.tracker.done, t as u16, p, o - 1)
                        }
                        _ => {}
                    }
                }
            }
            d.parts.push(restored.part);
        }
        // Revoked and not given back: someone else's now.
        for part in d.parked.drain(..) {
            d.retired.merge(&part.det.stats);
        }
        // Counters keep what retired detectors counted; the account
        // gauges drop their accounts.
        d.retired.accounts = 0;
        d.retired.learning = 0;
    }

    /// Sets the start offsets of partition `p` (per topic; -1 keeps the
    /// committed offset) in the assignment.
    fn start_at(&self, tpl: &mut TopicPartitionList, p: i32, next: &[i64]) {
        for (t, &o) in self.topics.iter().zip(next) {
            if o >= 0 {
                set_start(tpl, t, p, Offset::Offset(o));
            }
        }
    }

    /// The group's committed offsets of partition `p`, per topic index
    /// (none for a topic without one).
    fn committed(&self, consumer: &BaseConsumer<Self>, p: i32) -> Vec<(u16, i64)> {
        let mut q = TopicPartitionList::new();
        for t in &self.topics {
            q.add_partition(t, p);
        }
        match consumer.committed_offsets(q, Duration::from_secs(10)) {
            Ok(got) => self
                .topics
                .iter()
                .enumerate()
                .filter_map(|(i, t)| match got.find_partition(t, p)?.offset() {
                    Offset::Offset(o) => Some((i as u16, o)),
                    _ => None,
                })
                .collect(),
            Err(e) => {
                // Without it, the re-read input's alerts are sent again
                // (at-least-once: duplicates carry the same alert ids).
                tracing::warn!(partition = p, error = %e, "committed offsets unknown: alerts of the re-read input may repeat");
                Vec::new()
            }
        }
    }
}

/// How many polled messages a worker holds before handling the oldest,
/// so that each message's account is hinted into cache ahead of its turn
/// ([`crate::detect::Detector::hint`] loads in two steps; the replay looks
/// the same two lines ahead). Holding adds no wait: the held messages are
/// handled as soon as a poll finds nothing more, before the batch closes.
const LOOKAHEAD: usize = 2;

/// Drops the held messages of partitions revoked since the last look.
/// They were polled before the revoke and not handled, so their offsets
/// were neither noted nor committed: the partition's next owner (or this
/// worker, given it back at its committed offset) reads them again.
fn forget_revoked(worker: usize, d: &mut Delivery, held: &mut VecDeque<BorrowedMessage<'_>>) {
    let dropped = drop_revoked(&mut d.revoked, held);
    if dropped > 0 {
        tracing::info!(
            worker,
            dropped,
            "held messages of revoked partitions dropped; their next owner reads them"
        );
    }
}

/// The held messages of the `revoked` partitions go (the others keep
/// their order), and `revoked` is cleared; returns how many went.
fn drop_revoked<M: Message>(revoked: &mut Vec<i32>, held: &mut VecDeque<M>) -> usize {
    if revoked.is_empty() {
        return 0;
    }
    let before = held.len();
    held.retain(|m| !revoked.contains(&m.partition()));
    revoked.clear();
    before - held.len()
}

/// Sets where `topic`/`p` starts reading in the assignment `tpl`, if it
/// is in it.
fn set_start(tpl: &mut TopicPartitionList, topic: &str, p: i32, offset: Offset) {
    if tpl.find_partition(topic, p).is_some()
        && let Err(e) = tpl.set_partition_offset(topic, p, offset)
    {
        tracing::warn!(partition = p, error = %e, "cannot set the start offset");
    }
}

fn partitions(tpl: &rdkafka::TopicPartitionList) -> Vec<i32> {
    let mut v: Vec<i32> = tpl.elements().iter().map(|e| e.partition()).collect();
    v.sort_unstable();
    v.dedup();
    v
}

struct Worker {
    id: usize,
    cfg: Config,
    enricher: Option<&'static Enricher>,
    counters: Arc<Counters>,
    metrics: Arc<Metrics>,
    /// False when no endpoint serves the metrics (`[metrics] listen = ""`):
    /// the per-batch metric work is skipped (the benchmark compares).
    metrics_on: bool,
    stop: Arc<AtomicBool>,
    /// Detector stats (live and retired) as last published to metrics.
    published: Stats,
    /// State bytes as last published, and when.
    state_bytes: usize,
    bytes_at: Instant,
    /// Event time of the last event handled (event-time lag).
    last_event_ms: i64,
    /// The wall clock at the start of the current batch, and how far
    /// ahead of it an event may be dated (`time.future_tolerance`).
    batch_wall_ms: i64,
    future_ms: i64,
    /// Per-batch scratch, reused.
    out: Vec<Alert>,
    /// Per-batch counts, added to the shared counters when it closes.
    local: LocalCounts,
}

#[derive(Default)]
struct LocalCounts {
    messages: u64,
    events: u64,
    invalid: [u64; ErrorKind::ALL.len()],
    /// Rejected valid events: future, internal (see [`Reject`]).
    rejected: [u64; 2],
    /// Rejections of each kind since start (invalid kinds, then future,
    /// internal), for rate-limited logging.
    seen: [u64; ErrorKind::ALL.len() + 2],
    dead_letters: u64,
    alerts: [u64; 4],
    /// Events re-read after a restore (see `Delivery::replaying`).
    replayed: u64,
}

/// Why a message is set aside (dead-lettered, counted, logged).
#[derive(Debug, Clone, Copy)]
enum Reject {
    /// It does not decode or breaks the contract.
    Invalid(ErrorKind),
    /// Dated further ahead of the wall clock than `time.future_tolerance`.
    Future,
    /// Processing it panicked (a bug, contained: see
    /// `Detector::process_guarded`).
    Internal,
}

impl Reject {
    /// The dead-letter `kawal.error.kind` and metric label.
    fn as_str(self) -> &'static str {
        match self {
            Reject::Invalid(k) => k.as_str(),
            Reject::Future => "future",
            Reject::Internal => "internal",
        }
    }

    fn index(self) -> usize {
        match self {
            Reject::Invalid(k) => k.index(),
            Reject::Future => ErrorKind::ALL.len(),
            Reject::Internal => ErrorKind::ALL.len() + 1,
        }
    }
}

impl Worker {
    fn new(
        id: usize,
        cfg: Config,
        enricher: Option<&'static Enricher>,
        counters: Arc<Counters>,
        metrics: Arc<Metrics>,
        stop: Arc<AtomicBool>,
    ) -> Worker {
        let future_ms = cfg.time.future_tolerance_ms();
        Worker {
            future_ms,
            id,
            metrics_on: !cfg.metrics.listen.is_empty(),
            cfg,
            enricher,
            counters,
            metrics,
            published: Stats::default(),
            state_bytes: 0,
            bytes_at: Instant::now(),
            last_event_ms: 0,
            batch_wall_ms: wall_clock_ms(),
            stop,
            out: Vec::new(),
            local: LocalCounts::default(),
        }
    }

    /// The consumer is passed in rather than owned: a polled message
    /// borrows it while the worker's own state changes.
    fn run(mut self, consumer: &BaseConsumer<WorkerContext>) -> Result<WorkerEnd, SourceError> {
        let linger = Duration::from_millis(self.cfg.kafka.batch_linger_ms().max(0) as u64);
        let commit_every = Duration::from_millis(self.cfg.kafka.commit_interval_ms().max(1) as u64);
        let batch_max = self.cfg.kafka.batch_max;
        let mut last_commit = Instant::now();
        let snapshot_every =
            Duration::from_millis(self.cfg.state.snapshot_interval_ms().max(1) as u64);
        let mut last_snapshot = Instant::now();
        let mut batch_started = Instant::now();
        let mut in_batch = 0usize;
        let mut held = VecDeque::with_capacity(LOOKAHEAD + 1);
        let result = loop {
            if self.stop.load(Ordering::Acquire) {
                break Ok(());
            }
            let timeout = if in_batch == 0 {
                Duration::from_millis(100)
            } else {
                Duration::ZERO
            };
            let polled = consumer.poll(timeout);
            if !matches!(polled, Some(Ok(_))) {
                // The poll may have run a revoke (`take` looks too).
                let mut d = consumer.context().delivery.lock().expect("delivery");
                forget_revoked(consumer.context().id, &mut d, &mut held);
            }
            let got = match polled {
                Some(Ok(msg)) => {
                    if in_batch == 0 {
                        batch_started = Instant::now();
                        self.batch_wall_ms = wall_clock_ms();
                    }
                    in_batch += 1;
                    if let Err(e) = self.take(consumer.context(), msg, &mut held) {
                        break Err(e);
                    }
                    true
                }
                Some(Err(e)) => {
                    // The same failures reach the error callback, where
                    // `Health` folds them into one line per 30 s; others
                    // it rate-limits.
                    if !Health::is_transport(&e) {
                        consumer.context().health.error(&e, "consuming");
                    }
                    false
                }
                None => false,
            };
            let full = in_batch >= batch_max
                || (in_batch > 0
                    && (!got
                        || (in_batch.is_multiple_of(64) && batch_started.elapsed() >= linger)));
            if full {
                if let Err(e) = self.handle_held(consumer.context(), &mut held) {
                    break Err(e);
                }
                if let Err(e) = self.close_batch(consumer, batch_started) {
                    break Err(e);
                }
                in_batch = 0;
            } else if in_batch == 0 {
                // Idle: still run delivery callbacks and settle.
                if let Err(e) = self.settle(consumer) {
                    break Err(e);
                }
            }
            // The clock is read once per batch or idle poll, not per message.
            if in_batch == 0 && last_commit.elapsed() >= commit_every {
                last_commit = Instant::now();
                self.commit(consumer);
            }
            if in_batch == 0 && last_snapshot.elapsed() >= snapshot_every {
                last_snapshot = Instant::now();
                let ctx = consumer.context();
                let mut d = ctx.delivery.lock().expect("delivery");
                if let Err(e) =
                    d.snapshot_all(self.id, &ctx.topics, consumer, &self.metrics, &ctx.keeper)
                {
                    break Err(e);
                }
            }
        };
        // Shutdown or failure: close what is open, drain, commit. Held
        // messages are handled on a shutdown (they were fetched, and the
        // shutdown snapshot then reflects them); after a failure they are
        // left, unhandled and uncommitted, for the next owner.
        let closed = if in_batch > 0 {
            let held = if result.is_ok() {
                self.handle_held(consumer.context(), &mut held)
            } else {
                Ok(())
            };
            held.and_then(|()| self.close_batch(consumer, batch_started))
        } else {
            Ok(())
        };
        drop(held);
        let ctx = consumer.context();
        let mut d = ctx.delivery.lock().expect("delivery");
        let drained = d.drain_and_commit(self.id, &ctx.topics, consumer, &self.metrics);
        if drained.is_ok() && closed.is_ok() {
            // Shutdown snapshot: a restart resumes exactly here.
            for part in &mut d.parts {
                ctx.keeper.save_now(part);
            }
        }
        let mut end = WorkerEnd {
            stats: std::mem::take(&mut d.retired),
            state_bytes: 0,
        };
        for part in d.parts.iter().chain(d.parked.iter()) {
            end.stats.merge(&part.det.stats);
            end.state_bytes += part.det.state_bytes();
        }
        drop(d);
        tracing::info!(
            events = end.stats.events,
            alerts = end.stats.alerts.iter().sum::<u64>(),
            "worker done"
        );
        result.and(closed).and(drained).map(|()| end)
    }

    /// Holds a polled message and hints its account to its partition's
    /// detector; handles the oldest held message once more than
    /// [`LOOKAHEAD`] wait, so each account's state is on its way into
    /// cache two messages before its event is processed.
    fn take<'c>(
        &mut self,
        ctx: &WorkerContext,
        msg: BorrowedMessage<'c>,
        held: &mut VecDeque<BorrowedMessage<'c>>,
    ) -> Result<(), SourceError> {
        // One uncontended lock a message: the open batch and the
        // partitions' detectors must be where the rebalance callback can
        // reach them (see `Delivery::open`, `Delivery::parts`).
        let mut d = ctx.delivery.lock().expect("delivery");
        let d = &mut *d;
        // The poll that returned `msg` may have run a revoke: what was
        // polled before it of the partitions that went is not ours now.
        forget_revoked(ctx.id, d, held);
        // Events are keyed by account (`kawal produce`, the relay); for
        // another producer's records the payload is scanned. A wrong or
        // missing account only costs the hint, never a result.
        let account = msg
            .key()
            .or_else(|| msg.payload().and_then(crate::source::ndjson::scan_account));
        if let (Some(account), Some(part)) = (
            account,
            d.parts.iter_mut().find(|p| p.partition == msg.partition()),
        ) {
            part.det.hint(account);
        }
        held.push_back(msg);
        if held.len() > LOOKAHEAD
            && let Some(oldest) = held.pop_front()
        {
            self.handle(ctx, d, &oldest)?;
        }
        Ok(())
    }

    /// Handles every held message, oldest first (before a batch closes).
    fn handle_held(
        &mut self,
        ctx: &WorkerContext,
        held: &mut VecDeque<BorrowedMessage<'_>>,
    ) -> Result<(), SourceError> {
        if held.is_empty() {
            return Ok(());
        }
        let mut d = ctx.delivery.lock().expect("delivery");
        while let Some(msg) = held.pop_front() {
            self.handle(ctx, &mut d, &msg)?;
        }
        Ok(())
    }

    fn handle(
        &mut self,
        ctx: &WorkerContext,
        d: &mut Delivery,
        msg: &BorrowedMessage<'_>,
    ) -> Result<(), SourceError> {
        self.local.messages += 1;
        let topic = ctx
            .topics
            .iter()
            .position(|t| t == msg.topic())
            .unwrap_or(0) as u16;
        let (partition, offset) = (msg.partition(), msg.offset());
        note_offset(&mut d.open.offsets, topic, partition, offset);
        let replayed = d.replayed(topic, partition, offset);
        let i = d.part_index(partition, &ctx.keeper);
        // The partition's state reflects this message, processed or set
        // aside (which leaves the state as it was): snapshots say so.
        if let Some(n) = d.parts[i].next.get_mut(topic as usize) {
            *n = offset + 1;
        }
        let payload = msg.payload().unwrap_or(&[]);
        let (reject, error) = match decode(payload) {
            Err(e) => (Reject::Invalid(e.kind()), e.to_string()),
            Ok(ev) if ev.time > self.batch_wall_ms.saturating_add(self.future_ms) => {
                let ahead = (ev.time - self.batch_wall_ms) / 1000;
                let error = format!(
                    "time {} is {ahead} s ahead of the wall clock (time.future_tolerance {})",
                    crate::time::rfc3339(ev.time),
                    self.cfg.time.future_tolerance
                );
                (Reject::Future, error)
            }
            Ok(mut ev) => {
                if let Some(e) = self.enricher {
                    e.enrich(&mut ev);
                }
                let mut out = std::mem::take(&mut self.out);
                let part = &mut d.parts[i];
                part.det.follow_suppressions();
                let processed = part.det.process_guarded(&ev, &mut out);
                part.dirty = true;
                self.local.events += 1;
                self.last_event_ms = ev.time;
                if replayed {
                    // Delivered before the restart (the offset rule).
                    self.local.replayed += 1;
                    out.clear();
                } else {
                    self.take_alerts(d, &mut out);
                }
                if ev.kind == crate::decode::EventKind::Feedback {
                    let applied = d.parts[i].det.take_verdicts();
                    d.open.verdicts.extend(applied);
                }
                if d.parts[i].det.has_closed() {
                    let closed = d.parts[i].det.take_closed();
                    // Announced before the restart, as alerts were.
                    if !replayed {
                        d.open.closed.extend(closed);
                    }
                }
                self.out = out;
                match processed {
                    Ok(()) => return Ok(()),
                    Err(panic) => (Reject::Internal, format!("processing panicked: {panic}")),
                }
            }
        };
        if replayed {
            // Dead-lettered before the restart.
            return Ok(());
        }
        self.reject(d, msg, reject, &error)
    }

    /// Stamps the event's alerts and moves them to the batch.
    fn take_alerts(&mut self, d: &mut Delivery, out: &mut Vec<Alert>) {
        if out.is_empty() {
            return;
        }
        let now = wall_clock_ms();
        for mut a in out.drain(..) {
            a.stamp(now);
            self.local.alerts[a.severity as usize] += 1;
            for s in &a.signals {
                if let Some(i) = Sig::ALL.iter().position(|x| x.name() == s.name) {
                    self.metrics.alerts_by_signal[i].inc();
                }
            }
            d.open.alerts.push(a);
        }
    }

    /// The one place a rejected message is counted, logged (rate-limited:
    /// the first few of each kind, then every power of two; the counters
    /// have them all) and dead-lettered, holding the batch's Ack.
    fn reject(
        &mut self,
        d: &mut Delivery,
        msg: &BorrowedMessage<'_>,
        reject: Reject,
        error: &str,
    ) -> Result<(), SourceError> {
        match reject {
            Reject::Invalid(k) => self.local.invalid[k.index()] += 1,
            Reject::Future => self.local.rejected[0] += 1,
            Reject::Internal => self.local.rejected[1] += 1,
        }
        let seen = &mut self.local.seen[reject.index()];
        *seen += 1;
        if *seen <= 3 || seen.is_power_of_two() {
            let error = crate::detect::budget::capped(error, 512);
            if let Reject::Internal = reject {
                tracing::error!(kind = reject.as_str(), error = %error, topic = msg.topic(), partition = msg.partition(), offset = msg.offset(), count = *seen, "event dead-lettered: its account was reset");
            } else {
                tracing::warn!(kind = reject.as_str(), error = %error, topic = msg.topic(), partition = msg.partition(), offset = msg.offset(), count = *seen, "event set aside");
            }
        }
        if let Some(k) = d.kafka.as_mut().filter(|k| k.has_dead_letter_topic()) {
            let ack = d.open.ack.get_or_insert_with(Ack::new).clone();
            k.dead_letter(
                msg.key(),
                msg.payload(),
                msg.headers(),
                DeadLetter {
                    kind: reject.as_str(),
                    error,
                    topic: msg.topic(),
                    partition: msg.partition(),
                    offset: msg.offset(),
                },
                &ack,
            )?;
            self.local.dead_letters += 1;
        }
        Ok(())
    }

    /// Sends the batch's alerts, hands its offsets to the tracker, and
    /// settles what has been delivered meanwhile.
    fn close_batch(
        &mut self,
        consumer: &BaseConsumer<WorkerContext>,
        started: Instant,
    ) -> Result<(), SourceError> {
        let ctx = consumer.context();
        let mut d = ctx.delivery.lock().expect("delivery");
        d.close_open(&self.metrics)?;
        d.poll();
        let settled = d.tracker.settle();
        d.publish(&self.metrics);
        if self.metrics_on {
            self.metrics
                .batch_seconds
                .observe(started.elapsed().as_secs_f64());
            if self.last_event_ms > 0 {
                let lag = (wall_clock_ms() - self.last_event_ms) as f64 / 1000.0;
                self.metrics.event_lag.observe(lag.max(0.0));
            }
        }
        self.publish(&d);
        drop(d);
        settled.map_err(|failed| SourceError::DeliveryFailed {
            worker: self.id,
            failed,
        })
    }

    fn settle(&mut self, consumer: &BaseConsumer<WorkerContext>) -> Result<(), SourceError> {
        let ctx = consumer.context();
        let mut d = ctx.delivery.lock().expect("delivery");
        d.poll();
        d.publish(&self.metrics);
        d.tracker
            .settle()
            .map_err(|failed| SourceError::DeliveryFailed {
                worker: self.id,
                failed,
            })
    }

    /// Stores done offsets and commits without waiting, every interval,
    /// also when nothing new is done: librdkafka commits only the stored
    /// offsets above what it last had confirmed, so an idle call costs one
    /// queued operation and no request, while a commit the broker refused
    /// ("rebalance in progress", routine while a group forms) is tried
    /// again. When this returned early with nothing new done, a refused
    /// commit of a partition's last messages stayed refused for good: its
    /// committed offset stayed short, its lag never reached zero, and its
    /// next owner read the tail again (seen in 5 of 15 runs of
    /// `partitions_change_hands_mid_backlog...`; the refusals come back
    /// through no callback here, so the retry cannot wait for one).
    fn commit(&mut self, consumer: &BaseConsumer<WorkerContext>) {
        let ctx = consumer.context();
        let mut d = ctx.delivery.lock().expect("delivery");
        let fresh = !d.tracker.done.is_empty();
        d.store(self.id, &ctx.topics, consumer);
        drop(d);
        match consumer.commit_consumer_state(CommitMode::Async) {
            Ok(()) if fresh => self.metrics.commits.inc(),
            Ok(()) => {}
            Err(e) => tracing::warn!(error = %e, "commit failed"),
        }
    }

    /// Adds the batch's counts to the shared counters.
    fn publish(&mut self, d: &Delivery) {
        let c = &self.counters;
        let l = &mut self.local;
        c.batches.fetch_add(1, Ordering::Relaxed);
        c.messages.fetch_add(l.messages, Ordering::Relaxed);
        c.events.fetch_add(l.events, Ordering::Relaxed);
        let m = &self.metrics;
        if l.dead_letters > 0 {
            m.dead_letters.inc_by(l.dead_letters);
        }
        if l.replayed > 0 {
            m.state.replayed.inc_by(l.replayed);
        }
        l.messages = 0;
        l.events = 0;
        l.dead_letters = 0;
        l.replayed = 0;
        for (k, v) in l.invalid.iter_mut().enumerate() {
            if *v > 0 {
                m.add_invalid(k, *v);
                *v = 0;
            }
        }
        for (c, v) in m.rejected.iter().zip(l.rejected.iter_mut()) {
            if *v > 0 {
                c.inc_by(*v);
                *v = 0;
            }
        }
        for (k, v) in l.alerts.iter_mut().enumerate() {
            if *v > 0 {
                m.alerts[k].inc_by(*v);
                *v = 0;
            }
        }
        if !self.metrics_on {
            return;
        }
        // Detector stats as deltas: events by type, signal firings,
        // accounts and learning.
        let mut now = d.retired.clone();
        for part in d.parts.iter().chain(d.parked.iter()) {
            now.merge(&part.det.stats);
        }
        m.add_stats(&now, &self.published);
        self.published = now;
        // The state estimate walks every account: every few seconds only.
        if self.bytes_at.elapsed() >= Duration::from_secs(5) {
            self.bytes_at = Instant::now();
            let bytes: usize = d
                .parts
                .iter()
                .chain(d.parked.iter())
                .map(|p| p.det.state_bytes())
                .sum();
            m.state_bytes.add(bytes as i64 - self.state_bytes as i64);
            self.state_bytes = bytes;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tracker_stores_in_order_behind_pending_deliveries() {
        let mut t = Tracker::default();
        t.close(None, &vec![(0, 0, 10)]);
        assert_eq!(t.done, vec![(0, 0, 10)]);
        let slow = Ack::new();
        slow.hold();
        t.close(Some(slow.clone()), &vec![(0, 0, 20), (0, 1, 5)]);
        // Nothing queued, but behind a pending batch: must wait too.
        t.close(None, &vec![(0, 0, 30)]);
        t.settle().unwrap();
        assert_eq!(t.done, vec![(0, 0, 10)]);
        slow.release(true);
        t.settle().unwrap();
        assert_eq!(t.done, vec![(0, 0, 30), (0, 1, 5)]);
        assert_eq!(t.in_flight(), 0);
    }

    #[test]
    fn tracker_never_passes_a_failed_delivery() {
        let mut t = Tracker::default();
        let bad = Ack::new();
        bad.hold();
        t.close(Some(bad.clone()), &vec![(0, 3, 7)]);
        t.close(None, &vec![(0, 3, 8)]);
        bad.release(false);
        assert_eq!(t.settle(), Err(1));
        assert!(t.done.is_empty());
    }

    #[test]
    fn a_revoke_drops_only_the_held_messages_of_the_partitions_that_went() {
        use rdkafka::Timestamp;
        use rdkafka::message::OwnedMessage;
        let msg = |partition: i32, offset: i64| {
            OwnedMessage::new(
                None,
                None,
                "events".into(),
                Timestamp::NotAvailable,
                partition,
                offset,
                None,
            )
        };
        let mut held: VecDeque<OwnedMessage> = [msg(0, 5), msg(1, 9), msg(0, 6), msg(2, 1)]
            .into_iter()
            .collect();
        let mut revoked = Vec::new();
        assert_eq!(drop_revoked(&mut revoked, &mut held), 0);
        assert_eq!(held.len(), 4, "no revoke, nothing dropped");
        revoked.extend([0, 3]);
        assert_eq!(drop_revoked(&mut revoked, &mut held), 2);
        let left: Vec<(i32, i64)> = held.iter().map(|m| (m.partition(), m.offset())).collect();
        assert_eq!(left, vec![(1, 9), (2, 1)], "the rest keep their order");
        assert!(revoked.is_empty(), "a revoke is acted on once");
        held.push_back(msg(0, 7));
        assert_eq!(
            drop_revoked(&mut revoked, &mut held),
            0,
            "polled after the revoke: kept"
        );
        assert_eq!(held.len(), 3);
    }
}
