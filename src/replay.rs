//! The replay pipeline: NDJSON in, alerts out, on every core.
//!
//! ```text
//!  reader thread ──chunk (Arc)──▶ shard 0: scan account → own? decode → detect ─┐
//!        │       ──chunk (Arc)──▶ shard 1: scan account → own? decode → detect ─┤
//!        ◀──────────── alerts tagged with line numbers, per chunk ──────────────┘
//!        └─▶ merge by line → sink (ack) → next chunk
//! ```
//!
//! Accounts are split between shards by the same hash that keys their
//! state, so each account is owned by one detector and its events are seen
//! in file order. Every shard walks every line of a chunk but decodes only
//! its own (finding the account costs a short byte scan, decoding costs the
//! rest). Alerts from one chunk are merged by line number before they are
//! written, so the output does not depend on thread timing, and the reader
//! reads the next chunk while the shards work on this one.
//!
//! Population statistics (how many accounts use a country) are per shard,
//! as they will be per partition under Kafka: each shard sees a random
//! half of the accounts, which estimates the same shares.

use std::borrow::Cow;
use std::collections::VecDeque;
use std::io::Read;
use std::path::Path;
use std::sync::Arc;
use std::sync::mpsc;
use std::time::Instant;

use crate::config::Config;
use crate::decode::{ErrorKind, decode};
use crate::detect::{Alert, Detector, Stats};
use crate::enrich::Enricher;
use crate::hash::hash_bytes;
use crate::sink::{Sink, SinkError};
use crate::source::ndjson::{Chunk, ChunkReader, line_account, scan_account};
use crate::state::Layout;
use crate::time::wall_clock_ms;

#[derive(Debug, thiserror::Error)]
pub enum ReplayError {
    #[error("reading input: {0}")]
    Read(#[from] std::io::Error),
    #[error(transparent)]
    Sink(#[from] SinkError),
    #[error("a detector shard stopped unexpectedly")]
    ShardLost,
    #[error("--state: {0}")]
    State(#[from] crate::state::StateError),
    #[error("--state {dir}: {why}")]
    StateLayout { dir: String, why: String },
}

/// What a replay did.
#[derive(Debug, Clone, Default)]
pub struct Summary {
    pub lines: u64,
    pub blank: u64,
    pub invalid: [u64; ErrorKind::ALL.len()],
    /// Valid events skipped: dated further ahead of their detector's
    /// watermark than `time.replay_future_tolerance`.
    pub future: u64,
    pub stats: Stats,
    pub alerts_written: u64,
    pub state_bytes: usize,
    pub seconds: f64,
    pub bytes: u64,
}

impl Summary {
    pub fn invalid_total(&self) -> u64 {
        self.invalid.iter().sum()
    }

    pub fn events_per_second(&self) -> f64 {
        self.stats.events as f64 / self.seconds.max(1e-9)
    }

    /// Human-readable summary (stderr at the end of a replay).
    pub fn render(&self) -> String {
        use std::fmt::Write;
        let mut s = String::new();
        let _ = writeln!(
            s,
            "events: {} valid of {} lines ({} blank) in {:.2}s, {:.0} events/s",
            self.stats.events,
            self.lines,
            self.blank,
            self.seconds,
            self.events_per_second()
        );
        let invalid: Vec<String> = ErrorKind::ALL
            .iter()
            .filter(|k| self.invalid[k.index()] > 0)
            .map(|k| format!("{} {}", self.invalid[k.index()], k.as_str()))
            .collect();
        let _ = writeln!(
            s,
            "invalid: {}{}",
            self.invalid_total(),
            if invalid.is_empty() {
                String::new()
            } else {
                format!(" ({})", invalid.join(", "))
            }
        );
        let _ = writeln!(
            s,
            "event time: {} late (scored without order-dependent signals), {} future (skipped); {} repeated event ids (skipped)",
            self.stats.late, self.future, self.stats.duplicates
        );
        if self.stats.internal_errors > 0 {
            let _ = writeln!(
                s,
                "internal errors: {} events failed to process; their accounts were reset (a bug: please report it with the events)",
                self.stats.internal_errors
            );
        }
        let f = &self.stats.feedback;
        if f.iter().sum::<u64>() + self.stats.feedback_unmatched > 0 {
            let _ = writeln!(
                s,
                "feedback: {} false positive, {} benign, {} true positive applied; {} unmatched (no such open incident)",
                f[2], f[1], f[0], self.stats.feedback_unmatched
            );
        }
        let _ = writeln!(
            s,
            "alerts: {} (critical {}, high {}, medium {}, low {}); incidents closed: {}",
            self.alerts_written,
            self.stats.alerts[3],
            self.stats.alerts[2],
            self.stats.alerts[1],
            self.stats.alerts[0],
            self.stats.incidents_closed
        );
        let _ = write!(
            s,
            "accounts: {} ({} learning), state {:.1} MiB, cases opened {}",
            self.stats.accounts,
            self.stats.learning,
            self.state_bytes as f64 / (1 << 20) as f64,
            self.stats.cases_opened
        );
        s
    }
}

/// Progress callback: bytes read so far.
pub type Progress<'a> = &'a mut dyn FnMut(u64);

struct ShardResult {
    alerts: Vec<(u64, Alert)>,
    /// Analysts' verdicts applied, by line (sent after the alerts).
    verdicts: Vec<(u64, crate::detect::feedback::Applied)>,
    /// Incidents closed, by line (sent after the verdicts).
    closed: Vec<(u64, crate::detect::incidents::Closed)>,
    lines: u64,
    blank: u64,
}

struct ShardEnd {
    stats: Stats,
    invalid: [u64; ErrorKind::ALL.len()],
    future: u64,
    state_bytes: usize,
}

/// The Kafka partition librdkafka's default partitioner
/// (`consistent_random`) gives a message keyed by `account`: CRC-32 of the
/// key modulo the partition count. Replay uses it to split accounts the
/// way a topic with that many partitions would.
pub fn kafka_partition(account: &[u8], partitions: u32) -> u32 {
    crc32fast::hash(account) % partitions
}

/// Which detector owns a line, which shard runs that detector, and the
/// line's account (for [`Detector::hint`]). With `partitions == 0` there is
/// one detector per shard, split by account hash; otherwise one per
/// emulated Kafka partition, spread over shards. Lines whose account the
/// scanner cannot read plainly are decoded to find it; lines that do not
/// decode at all belong to shard 0 (which counts them).
fn owner(line: &[u8], shards: usize, partitions: u32) -> (usize, u32, Option<Cow<'_, [u8]>>) {
    if shards == 1 && partitions == 0 {
        // The account only serves the hint here: the cheap scan or nothing.
        return (0, 0, scan_account(line).map(Cow::Borrowed));
    }
    let Some(account) = line_account(line) else {
        return (0, 0, None);
    };
    let (shard, partition) = if partitions == 0 {
        let h = hash_bytes(&account);
        ((crate::hash::mix64(h) % shards as u64) as usize, 0)
    } else {
        let p = kafka_partition(&account, partitions);
        (p as usize % shards, p)
    };
    (shard, partition, Some(account))
}

/// How many lines ahead of the one being processed the shard looks, to
/// hint their accounts' state into cache ([`Detector::hint`] loads in two
/// steps, so two lines are enough to hide a miss behind a decode).
const LOOKAHEAD: usize = 2;

/// The state layout of each detector of shard `me` (by partition, or
/// the shard's one detector).
fn layouts(me: usize, shards: usize, partitions: u32) -> Vec<Option<Layout>> {
    if partitions == 0 {
        vec![Some(Layout::Shard {
            shard: me,
            of: shards,
        })]
    } else {
        (0..partitions)
            .map(|p| (p as usize % shards == me).then_some(Layout::Partition(p as i32)))
            .collect()
    }
}

/// The detectors of shard `me`: fresh, or loaded from the state
/// directory (with each one's last snapshot sequence number).
fn shard_detectors(
    me: usize,
    shards: usize,
    cfg: &Config,
    state: Option<&Path>,
) -> Result<Vec<Option<(Detector, u64)>>, ReplayError> {
    let mut dets = Vec::new();
    for layout in layouts(me, shards, cfg.replay.partitions) {
        let Some(layout) = layout else {
            dets.push(None);
            continue;
        };
        let loaded = match state {
            Some(dir) => crate::state::load_dir(dir, &layout, cfg)?,
            None => None,
        };
        dets.push(Some(match loaded {
            Some((d, m)) => (d, m.seq + 1),
            None => (Detector::new(cfg.clone()), 0),
        }));
    }
    Ok(dets)
}

/// Refuses a state directory written with another split of accounts
/// (its files would silently not be found, and every account would
/// start cold).
fn check_state_dir(dir: &Path, shards: usize, partitions: u32) -> Result<(), ReplayError> {
    let found: Vec<String> = match std::fs::read_dir(dir) {
        Ok(entries) => entries
            .filter_map(|e| e.ok())
            .filter_map(|e| e.file_name().into_string().ok())
            .filter(|n| n.ends_with(".kawal-state") && !n.starts_with('.'))
            .collect(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(ReplayError::Read(e)),
    };
    if found.is_empty() {
        return Ok(());
    }
    let expected: Vec<String> = (0..shards)
        .flat_map(|me| layouts(me, shards, partitions))
        .flatten()
        .map(|l| crate::state::file_name(&l))
        .collect();
    let mut found = found;
    found.sort();
    let mut want = expected.clone();
    want.sort();
    if found == want {
        return Ok(());
    }
    Err(ReplayError::StateLayout {
        dir: dir.display().to_string(),
        why: format!(
            "it holds {} but this replay splits accounts into {}: replay with the same --partitions (or replay.shards) as the run that saved it, or start from an empty directory",
            found.join(", "),
            expected.join(", "),
        ),
    })
}

#[allow(clippy::too_many_arguments)]
fn shard_worker(
    me: usize,
    shards: usize,
    cfg: Config,
    mut dets: Vec<Option<(Detector, u64)>>,
    state: Option<&Path>,
    enricher: Option<&'static Enricher>,
    chunks: mpsc::Receiver<Arc<Chunk>>,
    results: mpsc::SyncSender<ShardResult>,
) -> Result<ShardEnd, ReplayError> {
    let _span = tracing::info_span!("shard", shard = me).entered();
    let partitions = cfg.replay.partitions;
    let cfg_future_ms = cfg.time.replay_future_tolerance_ms();
    let mut invalid = [0u64; ErrorKind::ALL.len()];
    let mut future = 0u64;
    let future_ms = cfg_future_ms;
    let mut out = Vec::new();
    for chunk in chunks {
        let mut res = ShardResult {
            alerts: Vec::new(),
            verdicts: Vec::new(),
            closed: Vec::new(),
            lines: 0,
            blank: 0,
        };
        // Lines are classified LOOKAHEAD ahead of processing: blank,
        // someone else's, or this shard's (then its account is hinted).
        let mut ahead = chunk.lines();
        let mut queue = VecDeque::with_capacity(LOOKAHEAD + 1);
        loop {
            while queue.len() <= LOOKAHEAD {
                let Some((n, line)) = ahead.next() else {
                    break;
                };
                let own = if line.iter().all(|b| b.is_ascii_whitespace()) {
                    None
                } else {
                    let (shard, partition, account) = owner(line, shards, partitions);
                    if shard == me
                        && let (Some(a), Some((det, _))) = (account, &mut dets[partition as usize])
                    {
                        det.hint(&a);
                    }
                    Some((shard, partition))
                };
                queue.push_back((n, line, own));
            }
            let Some((n, line, own)) = queue.pop_front() else {
                break;
            };
            res.lines += 1;
            let Some((shard, partition)) = own else {
                res.blank += 1;
                continue;
            };
            if shard != me {
                continue;
            }
            let (det, _) = dets[partition as usize]
                .as_mut()
                .expect("a shard owns the detectors of its partitions");
            match decode(line) {
                Ok(ev)
                    if det
                        .watermark()
                        .is_some_and(|w| ev.time > w.saturating_add(future_ms)) =>
                {
                    future += 1;
                    if future <= 3 {
                        tracing::warn!(line = n, time = %crate::time::rfc3339(ev.time), "event dated too far ahead of the stream (time.replay_future_tolerance): skipped");
                    }
                }
                Ok(mut ev) => {
                    if let Some(e) = enricher {
                        e.enrich(&mut ev);
                    }
                    det.follow_suppressions();
                    if let Err(panic) = det.process_guarded(&ev, &mut out)
                        && (det.stats.internal_errors <= 3
                            || det.stats.internal_errors.is_power_of_two())
                    {
                        tracing::error!(line = n, error = %crate::detect::budget::capped(&panic, 512), "processing the event panicked; its account was reset");
                    }
                    if !out.is_empty() {
                        let now = wall_clock_ms();
                        for mut a in out.drain(..) {
                            a.stamp(now);
                            res.alerts.push((n, a));
                        }
                    }
                    if ev.kind == crate::decode::EventKind::Feedback {
                        res.verdicts
                            .extend(det.take_verdicts().into_iter().map(|v| (n, v)));
                    }
                    if det.has_closed() {
                        res.closed
                            .extend(det.take_closed().into_iter().map(|c| (n, c)));
                    }
                }
                Err(e) => {
                    let k = e.kind();
                    invalid[k.index()] += 1;
                    // Rate-limited: the first few of each kind, then silence
                    // (the summary counts them all).
                    if invalid[k.index()] <= 3 {
                        tracing::warn!(line = n, kind = k.as_str(), error = %e, "invalid event skipped");
                    } else if invalid[k.index()] == 4 {
                        tracing::warn!(
                            kind = k.as_str(),
                            "more invalid events of this kind; counting them silently"
                        );
                    }
                }
            }
        }
        if results.send(res).is_err() {
            break;
        }
    }
    let mut end = ShardEnd {
        state_bytes: 0,
        stats: Stats::default(),
        invalid,
        future,
    };
    for (d, _) in dets.iter().flatten() {
        end.state_bytes += d.state_bytes();
        end.stats.merge(&d.stats);
    }
    if let Some(dir) = state {
        for (layout, det) in layouts(me, shards, partitions).iter().zip(&dets) {
            if let (Some(layout), Some((det, seq))) = (layout, det) {
                let snap = crate::state::take(
                    det,
                    &crate::state::Taken {
                        layout: *layout,
                        group: "",
                        topics: &[],
                        offsets: &[],
                        seq: *seq,
                        created_ms: wall_clock_ms(),
                    },
                );
                crate::state::write_file(dir, &crate::state::file_name(layout), &snap)?;
            }
        }
    }
    Ok(end)
}

/// Replays NDJSON events from `input` through `cfg.replay.shards`
/// detectors into `sink`.
pub fn replay<R: Read>(
    input: R,
    cfg: &Config,
    enricher: Option<&'static Enricher>,
    sink: &mut dyn Sink,
    progress: Progress<'_>,
) -> Result<Summary, ReplayError> {
    replay_with_state(input, cfg, enricher, sink, progress, None)
}

/// [`replay`], starting from the detector state saved in `state` (if it
/// holds any) and saving the state there at the end (`--state DIR`): a
/// replay in parts gives the alerts of one replay of the whole, and the
/// files seed `kawal run` (same names as its `state.dir`).
pub fn replay_with_state<R: Read>(
    input: R,
    cfg: &Config,
    enricher: Option<&'static Enricher>,
    sink: &mut dyn Sink,
    progress: Progress<'_>,
    state: Option<&Path>,
) -> Result<Summary, ReplayError> {
    let started = Instant::now();
    let shards = cfg.replay.shards.max(1);
    if let Some(dir) = state {
        check_state_dir(dir, shards, cfg.replay.partitions)?;
    }
    let mut reader = ChunkReader::new(input);
    let mut summary = Summary::default();

    std::thread::scope(|scope| -> Result<(), ReplayError> {
        let mut to_shards = Vec::with_capacity(shards);
        let mut from_shards = Vec::with_capacity(shards);
        let mut handles = Vec::with_capacity(shards);
        for me in 0..shards {
            // Two chunks in flight per shard: one being worked on, one queued.
            let (ctx, crx) = mpsc::sync_channel::<Arc<Chunk>>(1);
            let (rtx, rrx) = mpsc::sync_channel::<ShardResult>(2);
            let cfg = cfg.clone();
            let dets = shard_detectors(me, shards, &cfg, state)?;
            handles.push(
                scope.spawn(move || shard_worker(me, shards, cfg, dets, state, enricher, crx, rtx)),
            );
            to_shards.push(ctx);
            from_shards.push(rrx);
        }

        let mut spare: Vec<Chunk> = Vec::new();
        let mut in_flight = std::collections::VecDeque::new();
        let mut merged: Vec<(u64, Alert)> = Vec::new();
        let mut batch: Vec<Alert> = Vec::new();
        // Replay has no offsets to store: sinks that hold acks are
        // waited for by the final flush.
        let no_ack = crate::sink::Ack::untracked();
        loop {
            let mut chunk = spare.pop().unwrap_or_default();
            let more = reader.next_chunk(&mut chunk)?;
            progress(reader.bytes_read);
            if more {
                let chunk = Arc::new(chunk);
                for tx in &to_shards {
                    tx.send(Arc::clone(&chunk))
                        .map_err(|_| ReplayError::ShardLost)?;
                }
                in_flight.push_back(chunk);
            }
            // Keep one chunk queued ahead; collect the oldest when two are
            // out, or everything at the end.
            while in_flight.len() > usize::from(more) {
                let done = in_flight.pop_front().expect("in flight");
                merged.clear();
                let mut verdicts = Vec::new();
                let mut closed = Vec::new();
                let mut lines = 0;
                let mut blank = 0;
                for rx in &from_shards {
                    let r = rx.recv().map_err(|_| ReplayError::ShardLost)?;
                    lines = r.lines;
                    blank = r.blank;
                    merged.extend(r.alerts);
                    verdicts.extend(r.verdicts);
                    closed.extend(r.closed);
                }
                summary.lines += lines;
                summary.blank += blank;
                merged.sort_by_key(|(n, _)| *n);
                batch.clear();
                batch.extend(merged.drain(..).map(|(_, a)| a));
                sink.send(&batch, &no_ack)?;
                summary.alerts_written += batch.len() as u64;
                if !verdicts.is_empty() {
                    verdicts.sort_by_key(|(n, _)| *n);
                    let applied: Vec<_> = verdicts.into_iter().map(|(_, v)| v).collect();
                    sink.verdicts(&applied, &no_ack)?;
                }
                if !closed.is_empty() {
                    // Stable: a sweep's closings keep their incident order.
                    closed.sort_by_key(|(n, _)| *n);
                    let closed: Vec<_> = closed.into_iter().map(|(_, c)| c).collect();
                    sink.closed(&closed, &no_ack)?;
                }
                if let Ok(c) = Arc::try_unwrap(done) {
                    spare.push(c);
                }
            }
            if !more {
                break;
            }
        }
        // Flushed before the shards hear the end: they save `--state` then,
        // and the outboxes (synced only here in a replay) must be on disk
        // first, or a power cut between the two would lose alerts a rerun
        // from that state no longer raises.
        sink.flush()?;
        drop(to_shards);
        for h in handles {
            let end = h.join().map_err(|_| ReplayError::ShardLost)??;
            summary.stats.merge(&end.stats);
            summary.state_bytes += end.state_bytes;
            summary.future += end.future;
            for (a, b) in summary.invalid.iter_mut().zip(end.invalid) {
                *a += b;
            }
        }
        Ok(())
    })?;
    summary.bytes = reader.bytes_read;
    summary.seconds = started.elapsed().as_secs_f64();
    Ok(summary)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sink::ndjson::NdjsonSink;

    fn run(input: &str, shards: usize) -> (Summary, Vec<Alert>) {
        let mut cfg = Config::default();
        cfg.replay.shards = shards;
        let mut sink = NdjsonSink::new(Vec::new(), false);
        let summary = replay(input.as_bytes(), &cfg, None, &mut sink, &mut |_| {}).unwrap();
        let alerts = String::from_utf8(sink.into_inner())
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        (summary, alerts)
    }

    #[test]
    fn counts_invalid_lines_by_kind_and_keeps_going() {
        let input = "\
{\"id\":\"1\",\"time\":\"2026-03-02T08:15:27Z\",\"account\":\"a\",\"type\":\"login\"}
not json

{\"id\":\"2\",\"account\":\"a\",\"type\":\"login\"}
{\"id\":\"3\",\"time\":\"2026-03-02T08:15:27Z\",\"account\":\"a\",\"type\":\"login\",\"source\":{\"lat\":123}}
{\"id\":\"4\",\"time\":\"2026-03-02T08:16:27Z\",\"account\":\"b\",\"type\":\"whatever\"}
";
        for shards in [1, 2, 3] {
            let (s, _) = run(input, shards);
            assert_eq!(s.lines, 6);
            assert_eq!(s.blank, 1);
            assert_eq!(s.stats.events, 2, "shards {shards}");
            assert_eq!(s.invalid[ErrorKind::BadJson.index()], 1);
            assert_eq!(s.invalid[ErrorKind::MissingField.index()], 1);
            assert_eq!(s.invalid[ErrorKind::OutOfRange.index()], 1);
            assert_eq!(s.stats.accounts, 2);
        }
    }
}
