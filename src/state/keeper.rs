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
    store: Option<SnapshotStore>,
    dir: Option<PathBuf>,
    cfg: Config,
    topics: Vec<String>,
    metrics: Arc<Metrics>,
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
        let dir = (!cfg.state.dir.is_empty()).then(|| PathBuf::from(&cfg.state.dir));
        Ok(Keeper {
            store,
            dir,
            cfg: cfg.clone(),
            topics: cfg.kafka.topics.clone(),
            metrics,
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

    /// Snapshots `part` to every destination if it changed since its
    /// last snapshot. The caller has delivered every alert of the input
    /// below `part.next` (the offset rule).
    pub fn save(&self, part: &mut Part) {
        if !self.enabled() {
            return;
        }
        if !part.dirty {
            // Nothing changed: the last snapshot is current as of now.
            self.metrics
                .state
                .snapshot_time
                .with_label_values(&[&part.partition.to_string()])
                .set(wall_clock_ms() / 1000);
            return;
        }
        let started = Instant::now();
        let now = wall_clock_ms();
        let mut snap = super::take(
            &part.det,
            &Taken {
                layout: Layout::Partition(part.partition),
                group: &self.cfg.kafka.group_id,
                topics: &self.topics,
                offsets: &part.next,
                seq: part.seq,
                created_ms: now,
            },
        );
        let s = &self.metrics.state;
        let bytes = snap.bytes() as u64;
        let mut ok = true;
        if let Some(store) = &self.store {
            match store.publish(&mut snap) {
                Ok(()) => {
                    s.snapshots.with_label_values(&["topic"]).inc();
                    s.snapshot_bytes.with_label_values(&["topic"]).inc_by(bytes);
                }
                Err(e) => {
                    ok = false;
                    s.snapshot_failures.with_label_values(&["topic"]).inc();
                    tracing::warn!(partition = part.partition, topic = store.topic(), error = %e, "snapshot not written to the topic");
                }
            }
        }
        if let Some(dir) = &self.dir {
            let name = file_name(&Layout::Partition(part.partition));
            match super::write_file(dir, &name, &snap) {
                Ok(_) => {
                    s.snapshots.with_label_values(&["local"]).inc();
                    s.snapshot_bytes.with_label_values(&["local"]).inc_by(bytes);
                }
                Err(e) => {
                    ok = false;
                    s.snapshot_failures.with_label_values(&["local"]).inc();
                    tracing::warn!(partition = part.partition, error = %e, "snapshot not written to disk");
                }
            }
        }
        s.snapshot_seconds.observe(started.elapsed().as_secs_f64());
        part.seq += 1;
        if ok {
            part.dirty = false;
            s.snapshot_time
                .with_label_values(&[&part.partition.to_string()])
                .set(now / 1000);
        }
        tracing::debug!(
            partition = part.partition,
            bytes,
            accounts = part.det.accounts(),
            ms = started.elapsed().as_millis() as u64,
            "snapshot taken"
        );
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
