//! The state of a worker's partitions: restored on assignment, saved by
//! snapshot, counted and logged in one place.
//!
//! Restore: the local copy and the newest manifest in the snapshot topic
//! are compared by the input offsets they reflect; the newer is loaded
//! (the local copy when it is at least as new, so a plain restart does
//! not read the topic). A copy that fails to load (corrupt, incompatible,
//! unreadable) is counted and logged, and the other copy is tried; with
//! none, the partition starts cold. Never a crash.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::kafka::SnapshotStore;
use super::{Layout, Manifest, Snapshot, StateError, Taken, file_name};
use crate::config::Config;
use crate::detect::Detector;
use crate::metrics::Metrics;
use crate::time::wall_clock_ms;

/// One partition's detector and where its input stands.
pub struct Part {
    pub partition: i32,
    pub det: Detector,
    /// Next input offset per topic (the order of `[kafka] topics`): the
    /// detector reflects every message below. -1: none read yet and none
    /// known from a snapshot (the partition starts at its committed
    /// offset).
    pub next: Vec<i64>,
    /// Sequence number of the next snapshot (alternates the slots).
    pub seq: u64,
    /// Changed since its last snapshot.
    pub dirty: bool,
}

/// What a restore gave.
pub struct Restored {
    pub part: Part,
    /// Where to start reading, per topic (-1: from the committed offset),
    /// when the state came with offsets.
    pub start: Option<Vec<i64>>,
}

pub struct Keeper {
    store: Option<Arc<SnapshotStore>>,
    dir: Option<PathBuf>,
    /// The same destinations, as the writer thread shares them.
    dest: Arc<Destinations>,
    cfg: Config,
    topics: Vec<String>,
    metrics: Arc<Metrics>,
    /// Writes the periodic snapshots off the worker's thread.
    writer: Writer,
}

/// Where snapshots go, and the code that writes one there: shared by the
/// worker (snapshots that must land before it goes on: revoke, shutdown)
/// and the writer thread (periodic ones).
struct Destinations {
    store: Option<Arc<SnapshotStore>>,
    dir: Option<PathBuf>,
    metrics: Arc<Metrics>,
}

/// A snapshot taken on the worker, on its way to the destinations.
struct Job {
    snap: Snapshot,
    partition: i32,
    /// When the worker began taking it (the histogram measures to the
    /// end of the write).
    started: Instant,
}

/// The writer thread's bookkeeping, shared with the worker.
#[derive(Default)]
struct Flight {
    /// Partitions with a snapshot taken and not yet written.
    pending: Vec<i32>,
    /// Partitions whose last background write failed: the worker takes
    /// a new snapshot at the next interval even if nothing changed.
    failed: Vec<i32>,
}

impl Flight {
    /// A failed write of `part` makes it dirty: taken again even if
    /// nothing changed.
    fn retry(&mut self, part: &mut Part) {
        if let Some(i) = self.failed.iter().position(|p| *p == part.partition) {
            self.failed.swap_remove(i);
            part.dirty = true;
        }
    }
}

/// The writer thread. Periodic snapshots are taken on the worker (a
/// consistent state needs it: encode and compress, 1.2 s for 1,000,000
/// accounts) and published and written here (1.8 s more to the topic on
/// tansu, which paused the worker until 2026-11-27; `cargo bench --bench
/// state`). A partition with a snapshot still in flight is not taken
/// again; snapshots that must land before the worker goes on (revoke,
/// shutdown) wait for the writer to be idle and are written on the
/// worker, so one producer never has two snapshots in flight.
struct Writer {
    tx: Option<std::sync::mpsc::Sender<Job>>,
    thread: Option<std::thread::JoinHandle<()>>,
    flight: Arc<(std::sync::Mutex<Flight>, std::sync::Condvar)>,
}

impl Writer {
    fn start(dest: Arc<Destinations>) -> Writer {
        let (tx, rx) = std::sync::mpsc::channel::<Job>();
        let flight: Arc<(std::sync::Mutex<Flight>, std::sync::Condvar)> = Arc::default();
        let f = Arc::clone(&flight);
        let thread = std::thread::Builder::new()
            .name("kawal-snapshots".into())
            .spawn(move || {
                for mut job in rx {
                    let ok = dest.write(&mut job.snap, job.partition, job.started);
                    let (lock, done) = &*f;
                    let mut fl = lock.lock().expect("flight");
                    fl.pending.retain(|p| *p != job.partition);
                    if !ok && !fl.failed.contains(&job.partition) {
                        fl.failed.push(job.partition);
                    }
                    done.notify_all();
                }
            })
            .expect("spawn the snapshot writer");
        Writer {
            tx: Some(tx),
            thread: Some(thread),
            flight,
        }
    }

    fn flight(&self) -> std::sync::MutexGuard<'_, Flight> {
        self.flight.0.lock().expect("flight")
    }

    /// Blocks until no snapshot is in flight.
    fn wait_idle(&self) {
        let (lock, done) = &*self.flight;
        let mut fl = lock.lock().expect("flight");
        while !fl.pending.is_empty() {
            fl = done.wait(fl).expect("flight");
        }
    }

    fn send(&self, job: Job) {
        self.flight().pending.push(job.partition);
        if let Some(tx) = &self.tx {
            // The thread lives as long as the sender: a send fails only
            // if it panicked, and then the snapshot is lost like a failed
            // write (the next one is taken from scratch).
            if tx.send(job).is_err() {
                tracing::error!("the snapshot writer is gone; snapshot dropped");
            }
        }
    }
}

impl Drop for Writer {
    fn drop(&mut self) {
        // Close the channel, then let the thread finish what it holds.
        self.tx.take();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

#[derive(Clone, Copy, PartialEq, Debug)]
enum Origin {
    Local,
    Topic,
}

impl Origin {
    fn as_str(self) -> &'static str {
        match self {
            Origin::Local => "local",
            Origin::Topic => "topic",
        }
    }
}

impl Keeper {
    pub fn new(cfg: &Config, metrics: Arc<Metrics>) -> Result<Keeper, StateError> {
        let timeout = Duration::from_millis(cfg.state.restore_timeout_ms().max(1) as u64);
        let store = if cfg.state.topic.is_empty() {
            None
        } else {
            let store = SnapshotStore::new(&cfg.kafka, &cfg.state.topic, timeout)?;
            let events = cfg
                .kafka
                .topics
                .iter()
                .map(|t| store.partitions_of(t))
                .max()
                .unwrap_or(1);
            store.ensure(&cfg.kafka, events)?;
            Some(store)
        };
        let store = store.map(Arc::new);
        let dir = (!cfg.state.dir.is_empty()).then(|| PathBuf::from(&cfg.state.dir));
        let dest = Arc::new(Destinations {
            store: store.clone(),
            dir: dir.clone(),
            metrics: Arc::clone(&metrics),
        });
        let writer = Writer::start(Arc::clone(&dest));
        Ok(Keeper {
            store,
            dir,
            dest,
            cfg: cfg.clone(),
            topics: cfg.kafka.topics.clone(),
            metrics,
            writer,
        })
    }

    /// True when snapshots go anywhere.
    pub fn enabled(&self) -> bool {
        self.store.is_some() || self.dir.is_some()
    }

    fn cold(&self, partition: i32) -> Part {
        Part {
            partition,
            det: Detector::new(self.cfg.clone()),
            next: vec![-1; self.topics.len()],
            seq: 0,
            dirty: false,
        }
    }

    fn failed(&self, partition: i32, from: Origin, e: &StateError) {
        self.metrics
            .state
            .restore_failures
            .with_label_values(&[e.kind()])
            .inc();
        tracing::warn!(partition, from = from.as_str(), error = %e, "snapshot not used");
    }

    /// Whether a snapshot is of this partition, group and topics.
    fn fits(&self, layout: &Layout, m: &Manifest) -> Result<(), StateError> {
        m.check(layout, Some((&self.cfg.kafka.group_id, &self.topics)))
    }

    /// The local copy of `partition`, if it is there and fits.
    fn local(&self, partition: i32) -> Option<Snapshot> {
        let dir = self.dir.as_ref()?;
        let layout = Layout::Partition(partition);
        let read = super::read_file(&dir.join(file_name(&layout))).and_then(|s| match s {
            Some(s) => self.fits(&layout, &s.manifest).map(|()| Some(s)),
            None => Ok(None),
        });
        read.unwrap_or_else(|e| {
            self.failed(partition, Origin::Local, &e);
            None
        })
    }

    /// The newest manifest of `partition` in the snapshot topic.
    fn remote(&self, partition: i32) -> Option<(i64, Manifest)> {
        let store = self.store.as_ref()?;
        let layout = Layout::Partition(partition);
        let found = store.latest_manifest(partition).and_then(|m| match m {
            Some((at, m)) => self.fits(&layout, &m).map(|()| Some((at, m))),
            None => Ok(None),
        });
        found.unwrap_or_else(|e| {
            self.failed(partition, Origin::Topic, &e);
            None
        })
    }

    /// The state of a newly assigned partition (see the module comment).
    pub fn restore(&self, partition: i32) -> Restored {
        let started = Instant::now();
        let local = self.local(partition);
        let remote = self.remote(partition);
        let prefer_local = match (&local, &remote) {
            (Some(l), Some((_, r))) => l.manifest.at_least_as_new_as(r),
            (Some(_), None) => true,
            _ => false,
        };
        let order = if prefer_local {
            [Origin::Local, Origin::Topic]
        } else {
            [Origin::Topic, Origin::Local]
        };
        let mut local = local;
        let mut remote = remote;
        for from in order {
            let snap = match from {
                Origin::Local => local.take(),
                Origin::Topic => remote.take().and_then(|(at, m)| {
                    let store = self.store.as_ref()?;
                    store.fetch(partition, m, at).map_or_else(
                        |e| {
                            self.failed(partition, from, &e);
                            None
                        },
                        Some,
                    )
                }),
            };
            let Some(snap) = snap else { continue };
            match super::restore(&snap, self.cfg.clone()) {
                Ok(det) => return self.restored(partition, det, &snap, from, started),
                Err(e) => self.failed(partition, from, &e),
            }
        }
        self.metrics
            .state
            .restores
            .with_label_values(&["cold"])
            .inc();
        if self.enabled() {
            tracing::info!(partition, "no snapshot: the partition starts cold");
        }
        Restored {
            part: self.cold(partition),
            start: None,
        }
    }

    fn restored(
        &self,
        partition: i32,
        det: Detector,
        snap: &Snapshot,
        from: Origin,
        started: Instant,
    ) -> Restored {
        let m = &snap.manifest;
        let s = &self.metrics.state;
        s.restores.with_label_values(&[from.as_str()]).inc();
        s.restore_bytes.inc_by(snap.bytes() as u64);
        s.restore_seconds.observe(started.elapsed().as_secs_f64());
        let age_s = (wall_clock_ms() - m.created_ms).max(0) / 1000;
        tracing::info!(
            partition,
            from = from.as_str(),
            accounts = m.accounts,
            bytes = snap.bytes(),
            ms = started.elapsed().as_millis() as u64,
            age_s,
            offsets = ?m.offsets,
            "state restored"
        );
        let next = if m.offsets.len() == self.topics.len() {
            m.offsets.clone()
        } else {
            vec![-1; self.topics.len()]
        };
        let start = (!m.offsets.is_empty()).then(|| next.clone());
        Restored {
            part: Part {
                partition,
                det,
                next,
                seq: m.seq + 1,
                dirty: false,
            },
            start,
        }
    }

    /// Snapshots `part` if it changed since its last snapshot (or its
    /// last write failed): taken here, written by the writer thread. A
    /// partition whose previous snapshot is still being written waits for
    /// the next interval. The caller has delivered every alert of the
    /// input below `part.next` (the offset rule).
    pub fn save(&self, part: &mut Part) {
        if !self.enabled() {
            return;
        }
        {
            let mut fl = self.writer.flight();
            if fl.pending.contains(&part.partition) {
                tracing::debug!(
                    partition = part.partition,
                    "the previous snapshot is still being written; next interval"
                );
                return;
            }
            fl.retry(part);
        }
        if !self.fresh(part) {
            return;
        }
        let (snap, started) = self.take(part);
        self.writer.send(Job {
            snap,
            partition: part.partition,
            started,
        });
        part.seq += 1;
        part.dirty = false;
    }

    /// Snapshots `part` and writes it before returning (a revoke, a
    /// shutdown: the next owner or the next start must find it). Waits
    /// for the writer thread to be idle first, so no older snapshot of
    /// the partition lands after this one.
    pub fn save_now(&self, part: &mut Part) {
        if !self.enabled() {
            return;
        }
        self.writer.wait_idle();
        self.writer.flight().retry(part);
        if !self.fresh(part) {
            return;
        }
        let (mut snap, started) = self.take(part);
        part.seq += 1;
        if self.dest.write(&mut snap, part.partition, started) {
            part.dirty = false;
        }
    }

    /// False when `part` has not changed since its last snapshot (which
    /// is then current as of now, and its time says so).
    fn fresh(&self, part: &Part) -> bool {
        if !part.dirty {
            self.metrics
                .state
                .snapshot_time
                .with_label_values(&[&part.partition.to_string()])
                .set(wall_clock_ms() / 1000);
        }
        part.dirty
    }

    /// The snapshot of `part` as of now, and when taking it began (the
    /// worker's pause is counted here).
    fn take(&self, part: &Part) -> (Snapshot, Instant) {
        let started = Instant::now();
        let snap = super::take(
            &part.det,
            &Taken {
                layout: Layout::Partition(part.partition),
                group: &self.cfg.kafka.group_id,
                topics: &self.topics,
                offsets: &part.next,
                seq: part.seq,
                created_ms: wall_clock_ms(),
            },
        );
        self.metrics
            .state
            .snapshot_pause
            .observe(started.elapsed().as_secs_f64());
        (snap, started)
    }

    /// Forgets a partition's snapshot time series (no longer assigned).
    pub fn released(&self, partition: i32) {
        let _ = self
            .metrics
            .state
            .snapshot_time
            .remove_label_values(&[&partition.to_string()]);
    }
}

impl Destinations {
    /// Writes `snap` to every destination; true when all took it. Counted
    /// and logged here, for both the worker and the writer thread.
    fn write(&self, snap: &mut Snapshot, partition: i32, started: Instant) -> bool {
        let s = &self.metrics.state;
        let bytes = snap.bytes() as u64;
        let mut ok = true;
        if let Some(store) = &self.store {
            match store.publish(snap) {
                Ok(()) => {
                    s.snapshots.with_label_values(&["topic"]).inc();
                    s.snapshot_bytes.with_label_values(&["topic"]).inc_by(bytes);
                }
                Err(e) => {
                    ok = false;
                    s.snapshot_failures.with_label_values(&["topic"]).inc();
                    tracing::warn!(partition, topic = store.topic(), error = %e, "snapshot not written to the topic");
                }
            }
        }
        if let Some(dir) = &self.dir {
            let name = file_name(&Layout::Partition(partition));
            match super::write_file(dir, &name, snap) {
                Ok(_) => {
                    s.snapshots.with_label_values(&["local"]).inc();
                    s.snapshot_bytes.with_label_values(&["local"]).inc_by(bytes);
                }
                Err(e) => {
                    ok = false;
                    s.snapshot_failures.with_label_values(&["local"]).inc();
                    tracing::warn!(partition, error = %e, "snapshot not written to disk");
                }
            }
        }
        s.snapshot_seconds.observe(started.elapsed().as_secs_f64());
        if ok {
            s.snapshot_time
                .with_label_values(&[&partition.to_string()])
                .set(snap.manifest.created_ms / 1000);
        }
        tracing::debug!(
            partition,
            bytes,
            accounts = snap.manifest.accounts,
            ms = started.elapsed().as_millis() as u64,
            "snapshot written"
        );
        ok
    }
}
