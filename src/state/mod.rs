//! Durable detector state: snapshots, their manifest, local copies.
//!
//! A snapshot is one detector's state (see `detect::snapshot` for what is
//! in it) cut into chunks of at most [`CHUNK_RAW`] bytes, each compressed
//! on its own with LZ4 and checksummed (CRC-32), plus a [`Manifest`]
//! naming what the state reflects: the input offsets of the partition
//! (the next offset to read, per topic), the watermark, the format and
//! kawal versions, a fingerprint of the detection configuration, and each
//! chunk's length and checksum. The same chunks and manifest are written
//! to the snapshot topic (`state::kafka`) and to the local copy (a file
//! per partition, written atomically, see [`write_file`]).
//!
//! Chunks are compressed independently so that a snapshot is written and
//! read in a stream, chunk by chunk, and each Kafka message stays under
//! the broker's limit (LZ4's worst case adds 0.4%: 512 KiB raw stays
//! under 530 KB, half of the default `message.max.bytes`).

pub mod kafka;
pub mod keeper;

use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::config::Config;
use crate::detect::Detector;
use crate::detect::snapshot::STATE_FORMAT;

/// Raw bytes of state per chunk, before compression.
pub const CHUNK_RAW: usize = 512 * 1024;

/// Magic at the start of a local state file.
const FILE_MAGIC: &[u8; 8] = b"KAWALST\x01";

/// The file name of a partition's (or replay shard's) state in a state
/// directory. Replay with `--partitions N` and `kawal run` on an
/// N-partition topic name their files alike, so history replayed with
/// `--state DIR` seeds a live deployment whose `state.dir` is DIR.
pub fn file_name(layout: &Layout) -> String {
    match layout {
        Layout::Partition(p) => format!("partition-{p}.kawal-state"),
        Layout::Shard { shard, of } => format!("shard-{shard}-of-{of}.kawal-state"),
    }
}

/// Which detector a snapshot belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layout {
    /// The detector of input partition N (`kawal run`, replay with
    /// `--partitions`).
    Partition(i32),
    /// A replay shard with accounts split by hash among `of` shards.
    Shard { shard: usize, of: usize },
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChunkInfo {
    /// Compressed length.
    pub len: u32,
    pub crc32: u32,
}

/// What a snapshot is: see the module comment.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    /// [`STATE_FORMAT`] of the writer.
    pub format: u32,
    /// kawal's version (informational).
    pub kawal: String,
    /// Fingerprint of the detection configuration (informational: a
    /// baseline stays valid when a threshold changes; a change is logged).
    pub config: String,
    /// Input partition, or -1 for a replay shard.
    pub partition: i32,
    /// Replay shard layout (shard, shards), absent for partitions.
    #[serde(default)]
    pub shard: Option<(usize, usize)>,
    /// Consumer group (empty for a replay): a state topic shared by two
    /// groups must not mix their states.
    #[serde(default)]
    pub group: String,
    /// Input topics (empty for a replay).
    pub topics: Vec<String>,
    /// Next input offset per topic (same order): the state reflects every
    /// message below. Empty for a replay (history has no offsets): such a
    /// state seeds a partition, which then reads from its committed offset.
    pub offsets: Vec<i64>,
    pub watermark: Option<i64>,
    pub accounts: u64,
    /// Wall-clock time the snapshot was taken (its age is a metric).
    pub created_ms: i64,
    /// Increases with every snapshot of this partition by this writer.
    pub seq: u64,
    /// Which of the two alternating chunk slots holds this snapshot.
    pub slot: u8,
    /// Offset in the snapshot topic partition of the first chunk.
    #[serde(default)]
    pub first_chunk_offset: Option<i64>,
    pub raw_len: u64,
    pub chunks: Vec<ChunkInfo>,
}

impl Manifest {
    /// True when this snapshot reflects at least as much input as `other`
    /// (same topics, every offset at least as far).
    pub fn at_least_as_new_as(&self, other: &Manifest) -> bool {
        if other.offsets.is_empty() {
            return true;
        }
        self.topics == other.topics
            && self.offsets.len() == other.offsets.len()
            && self.offsets.iter().zip(&other.offsets).all(|(a, b)| a >= b)
    }

    /// Whether this snapshot can be loaded into a detector of `layout`
    /// reading `topics` (None: a replay, which reads no topic).
    pub fn check(
        &self,
        layout: &Layout,
        topics: Option<(&str, &[String])>,
    ) -> Result<(), StateError> {
        check_format(self.format)?;
        let matches = match *layout {
            Layout::Partition(p) => self.partition == p && self.shard.is_none(),
            Layout::Shard { shard, of } => self.shard == Some((shard, of)),
        };
        if !matches {
            return Err(StateError::Incompatible(format!(
                "snapshot of {} loaded as {}",
                self.describe_layout(),
                describe(layout)
            )));
        }
        if let Some((group, topics)) = topics
            && !self.topics.is_empty()
            && (self.topics != topics || self.group != group)
        {
            return Err(StateError::Incompatible(format!(
                "snapshot of group {:?} reading {:?}; this is group {group:?} reading {topics:?}",
                self.group, self.topics
            )));
        }
        Ok(())
    }

    fn describe_layout(&self) -> String {
        match self.shard {
            Some((s, n)) => describe(&Layout::Shard { shard: s, of: n }),
            None => describe(&Layout::Partition(self.partition)),
        }
    }
}

fn describe(l: &Layout) -> String {
    match l {
        Layout::Partition(p) => format!("partition {p}"),
        Layout::Shard { shard, of } => format!("replay shard {shard} of {of}"),
    }
}

/// Refuses a state format this kawal does not read.
fn check_format(format: u32) -> Result<(), StateError> {
    // Format 1 lacks the subjects of case evidence; it reads with them
    // empty (see `score::reading_format`), so an upgrade keeps baselines.
    if (1..=STATE_FORMAT).contains(&format) {
        return Ok(());
    }
    Err(StateError::Incompatible(format!(
        "state format {format} (this kawal reads 1 to {STATE_FORMAT})"
    )))
}

/// A snapshot in memory: manifest and compressed chunks.
#[derive(Debug, Clone)]
pub struct Snapshot {
    pub manifest: Manifest,
    pub chunks: Vec<Vec<u8>>,
}

impl Snapshot {
    pub fn bytes(&self) -> usize {
        self.chunks.iter().map(Vec::len).sum()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum StateError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("corrupt snapshot: {0}")]
    Corrupt(String),
    #[error("incompatible snapshot: {0}")]
    Incompatible(String),
    #[error("snapshot topic: {0}")]
    Kafka(#[from] rdkafka::error::KafkaError),
}

impl StateError {
    /// A metric label.
    pub fn kind(&self) -> &'static str {
        match self {
            StateError::Io { .. } => "io",
            StateError::Corrupt(_) => "corrupt",
            StateError::Incompatible(_) => "incompatible",
            StateError::Kafka(_) => "kafka",
        }
    }
}

/// What a snapshot is taken of, besides the detector.
pub struct Taken<'a> {
    pub layout: Layout,
    pub group: &'a str,
    pub topics: &'a [String],
    pub offsets: &'a [i64],
    pub seq: u64,
    pub created_ms: i64,
}

/// Cuts the state into compressed chunks as it is written.
struct ChunkWriter {
    raw: Vec<u8>,
    raw_len: u64,
    chunks: Vec<Vec<u8>>,
    infos: Vec<ChunkInfo>,
}

impl ChunkWriter {
    fn seal(&mut self) {
        if self.raw.is_empty() {
            return;
        }
        let c = lz4_flex::block::compress_prepend_size(&self.raw);
        self.infos.push(ChunkInfo {
            len: c.len() as u32,
            crc32: crc32fast::hash(&c),
        });
        self.chunks.push(c);
        self.raw.clear();
    }
}

impl Write for ChunkWriter {
    fn write(&mut self, mut buf: &[u8]) -> std::io::Result<usize> {
        let n = buf.len();
        self.raw_len += n as u64;
        while !buf.is_empty() {
            let room = CHUNK_RAW - self.raw.len();
            let take = room.min(buf.len());
            self.raw.extend_from_slice(&buf[..take]);
            buf = &buf[take..];
            if self.raw.len() == CHUNK_RAW {
                self.seal();
            }
        }
        Ok(n)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// A fingerprint of the configuration the detector runs with.
pub fn config_fingerprint(cfg: &Config) -> String {
    let text = format!(
        "{:?}{:?}{:?}{:?}{:?}{:?}{:?}{:?}{:?}{:?}",
        cfg.detect,
        cfg.learning,
        cfg.severity,
        cfg.travel,
        cfg.posting,
        cfg.networks,
        cfg.apps,
        cfg.weights,
        cfg.time,
        cfg.state.max_accounts
    );
    format!("{:016x}", crate::hash::hash_str(&text))
}

/// Takes a snapshot of `det`.
pub fn take(det: &Detector, what: &Taken<'_>) -> Snapshot {
    let w = ChunkWriter {
        raw: Vec::with_capacity(CHUNK_RAW),
        raw_len: 0,
        chunks: Vec::new(),
        infos: Vec::new(),
    };
    let mut w = det
        .save_state(w)
        .expect("writing state to memory cannot fail");
    w.seal();
    let (partition, shard) = match what.layout {
        Layout::Partition(p) => (p, None),
        Layout::Shard { shard, of } => (-1, Some((shard, of))),
    };
    Snapshot {
        manifest: Manifest {
            format: STATE_FORMAT,
            kawal: env!("CARGO_PKG_VERSION").to_string(),
            config: config_fingerprint(det.config()),
            partition,
            shard,
            group: what.group.to_string(),
            topics: what.topics.to_vec(),
            offsets: what.offsets.to_vec(),
            watermark: det.watermark(),
            accounts: det.accounts() as u64,
            created_ms: what.created_ms,
            seq: what.seq,
            slot: (what.seq % 2) as u8,
            first_chunk_offset: None,
            raw_len: w.raw_len,
            chunks: w.infos,
        },
        chunks: w.chunks,
    }
}

/// Loads a snapshot into a detector running `cfg`, checking every chunk.
pub fn restore(snap: &Snapshot, cfg: Config) -> Result<Detector, StateError> {
    let m = &snap.manifest;
    check_format(m.format)?;
    if snap.chunks.len() != m.chunks.len() {
        return Err(StateError::Corrupt(format!(
            "{} chunks, the manifest names {}",
            snap.chunks.len(),
            m.chunks.len()
        )));
    }
    let fits = usize::try_from(m.raw_len)
        .ok()
        .filter(|n| *n <= m.chunks.len().saturating_mul(CHUNK_RAW));
    let Some(raw_len) = fits else {
        return Err(StateError::Corrupt(format!(
            "{} raw bytes in {} chunks",
            m.raw_len,
            m.chunks.len()
        )));
    };
    let mut raw = Vec::with_capacity(raw_len);
    for (i, (c, info)) in snap.chunks.iter().zip(&m.chunks).enumerate() {
        if c.len() != info.len as usize || crc32fast::hash(c) != info.crc32 {
            return Err(StateError::Corrupt(format!("chunk {i}: checksum mismatch")));
        }
        let part = lz4_flex::block::decompress_size_prepended(c)
            .map_err(|e| StateError::Corrupt(format!("chunk {i}: {e}")))?;
        if part.len() > CHUNK_RAW {
            return Err(StateError::Corrupt(format!("chunk {i}: too long")));
        }
        raw.extend_from_slice(&part);
    }
    if raw.len() != raw_len {
        return Err(StateError::Corrupt(format!(
            "{} raw bytes, the manifest says {raw_len}",
            raw.len()
        )));
    }
    if m.config != config_fingerprint(&cfg) {
        tracing::info!(
            partition = m.partition,
            "the detection configuration changed since this snapshot: baselines are kept, the new settings apply from now"
        );
    }
    Detector::load_state_format(cfg, &raw, m.format).map_err(|e| StateError::Corrupt(e.to_string()))
}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> StateError + '_ {
    move |source| StateError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Writes `snap` to `dir/name` atomically: a temporary file in the same
/// directory, written and fsynced, renamed over the old copy, then the
/// directory fsynced (so the rename itself survives a power cut). A
/// reader sees the old copy or the new one, never half of one.
pub fn write_file(dir: &Path, name: &str, snap: &Snapshot) -> Result<PathBuf, StateError> {
    std::fs::create_dir_all(dir).map_err(io_err(dir))?;
    let path = dir.join(name);
    let tmp = dir.join(format!(".{name}.tmp"));
    let manifest = serde_json::to_vec(&snap.manifest).expect("manifest serialises");
    let write = || -> std::io::Result<()> {
        let f = std::fs::File::create(&tmp)?;
        let mut w = std::io::BufWriter::with_capacity(1 << 20, f);
        w.write_all(FILE_MAGIC)?;
        w.write_all(&(manifest.len() as u32).to_le_bytes())?;
        w.write_all(&crc32fast::hash(&manifest).to_le_bytes())?;
        w.write_all(&manifest)?;
        for c in &snap.chunks {
            w.write_all(c)?;
        }
        let f = w.into_inner().map_err(|e| e.into_error())?;
        f.sync_all()?;
        Ok(())
    };
    write().map_err(io_err(&tmp))?;
    std::fs::rename(&tmp, &path).map_err(io_err(&path))?;
    std::fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(io_err(dir))?;
    Ok(path)
}

/// Reads a state file; `Ok(None)` when there is none.
pub fn read_file(path: &Path) -> Result<Option<Snapshot>, StateError> {
    let bytes = match std::fs::read(path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(io_err(path)(e)),
    };
    let corrupt = |why: &str| StateError::Corrupt(format!("{}: {why}", path.display()));
    if bytes.len() < 16 || &bytes[..8] != FILE_MAGIC {
        return Err(corrupt("not a kawal state file (or another version)"));
    }
    let len = u32::from_le_bytes(bytes[8..12].try_into().expect("4 bytes")) as usize;
    let crc = u32::from_le_bytes(bytes[12..16].try_into().expect("4 bytes"));
    let Some(mbytes) = bytes.get(16..16 + len) else {
        return Err(corrupt("truncated manifest"));
    };
    if crc32fast::hash(mbytes) != crc {
        return Err(corrupt("manifest checksum mismatch"));
    }
    let manifest: Manifest =
        serde_json::from_slice(mbytes).map_err(|e| corrupt(&format!("manifest: {e}")))?;
    let mut at = 16 + len;
    let mut chunks = Vec::with_capacity(manifest.chunks.len().min(1 << 16));
    for (i, c) in manifest.chunks.iter().enumerate() {
        let Some(b) = bytes.get(at..at + c.len as usize) else {
            return Err(corrupt(&format!("truncated at chunk {i}")));
        };
        chunks.push(b.to_vec());
        at += c.len as usize;
    }
    if at != bytes.len() {
        return Err(corrupt("bytes after the last chunk"));
    }
    Ok(Some(Snapshot { manifest, chunks }))
}

/// Loads the state of `layout` from `dir` for replay: `Ok(None)` when the
/// directory holds none for it.
pub fn load_dir(
    dir: &Path,
    layout: &Layout,
    cfg: &Config,
) -> Result<Option<(Detector, Manifest)>, StateError> {
    let path = dir.join(file_name(layout));
    let Some(snap) = read_file(&path)? else {
        return Ok(None);
    };
    snap.manifest.check(layout, None)?;
    let det = restore(&snap, cfg.clone())?;
    Ok(Some((det, snap.manifest)))
}

#[cfg(test)]
mod tests;
