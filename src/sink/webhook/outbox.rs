//! A durable outbox: one endpoint's alerts, appended to a log on disk
//! before they count as accepted, read back by the endpoint's deliverer.
//!
//! Layout of `<outbox_dir>/<endpoint>/`:
//! - `<first seq, 20 digits>.outbox`: segments of records
//!   `[u32 LE length][u32 LE CRC-32 of the payload][payload]`, payload
//!   `[u64 LE seq][u64 LE created ms][u16 LE id length][id][body]`;
//! - `cursor`: every record below this sequence number is done (delivered
//!   or dead-lettered), written atomically (temporary file, rename);
//! - `dead-letters.ndjson`: alerts the endpoint refused or that ran out of
//!   attempts, with the last response (written by the deliverer);
//! - `disabled`: present once the endpoint answered 410 Gone.
//!
//! Memory stays bounded however long an endpoint is down: the backlog is on
//! disk, and the deliverer holds only its in-flight window. A segment is
//! deleted once every record in it is done. A torn last record (a crash in
//! the middle of an append) is cut off when the outbox is opened; it was
//! never accepted, so nothing accepted is lost. The cursor is written
//! lazily (about every 200 ms), so a crash can deliver a few records
//! twice, under the same `webhook-id`, never zero times.

use std::collections::{BTreeSet, VecDeque};
use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};

/// Fixed part of a record: length and CRC.
const HEADER: usize = 8;
/// Fixed part of a payload: seq, created, id length.
const PAYLOAD_FIXED: usize = 18;
/// Largest payload accepted; an alert is capped at 64 KiB of JSON, so a
/// larger length can only be damage.
pub const MAX_RECORD: usize = 4 << 20;
const SUFFIX: &str = ".outbox";

#[derive(Debug, thiserror::Error)]
pub enum OutboxError {
    #[error("outbox {dir}: {what}: {source}")]
    Io {
        dir: PathBuf,
        what: &'static str,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "outbox {dir} is full ({bytes} bytes, limit delivery.max_bytes = {limit}): its endpoint has not taken alerts for a long while"
    )]
    Full {
        dir: PathBuf,
        bytes: u64,
        limit: u64,
    },
    #[error("outbox {dir}: record of {len} bytes is over the limit of {MAX_RECORD}")]
    TooLarge { dir: PathBuf, len: usize },
}

/// When appended records reach the disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fsync {
    /// [`Outbox::sync`] calls fsync (once per input batch with alerts):
    /// accepted alerts survive a power cut.
    Batch,
    /// Left to the operating system: accepted alerts survive a crash of
    /// kawal, not of the machine.
    Never,
}

#[derive(Debug, Clone)]
pub struct Options {
    pub fsync: Fsync,
    pub segment_bytes: u64,
    pub max_bytes: u64,
}

/// One record as the deliverer reads it.
#[derive(Debug, Clone, PartialEq)]
pub struct Record {
    pub seq: u64,
    pub created_ms: i64,
    pub id: String,
    pub body: Vec<u8>,
}

#[derive(Debug)]
struct Segment {
    start: u64,
    /// Bytes of whole records written (what a reader may read).
    len: u64,
    path: PathBuf,
}

#[derive(Debug)]
struct Inner {
    writer: File,
    segments: VecDeque<Segment>,
    next_seq: u64,
    /// Every record below is done.
    done_below: u64,
    /// Done records above `done_below` (at most the deliverer's window).
    done: BTreeSet<u64>,
    cursor_dirty: bool,
    unsynced: bool,
    bytes: u64,
    buf: Vec<u8>,
}

#[derive(Debug)]
pub struct Outbox {
    dir: PathBuf,
    opts: Options,
    inner: Mutex<Inner>,
    /// Woken after every append, so an idle deliverer need not poll.
    pub appended: Arc<tokio::sync::Notify>,
}

fn seg_path(dir: &Path, start: u64) -> PathBuf {
    dir.join(format!("{start:020}{SUFFIX}"))
}

/// Parses one record at the start of `buf`: `Some((record, size))`, or
/// `None` when the bytes there are not a whole, intact record.
pub fn parse_record(buf: &[u8]) -> Option<(Record, usize)> {
    let len = u32::from_le_bytes(buf.get(0..4)?.try_into().ok()?) as usize;
    let crc = u32::from_le_bytes(buf.get(4..8)?.try_into().ok()?);
    if !(PAYLOAD_FIXED..=MAX_RECORD).contains(&len) {
        return None;
    }
    let payload = buf.get(HEADER..HEADER + len)?;
    if crc32fast::hash(payload) != crc {
        return None;
    }
    let seq = u64::from_le_bytes(payload[0..8].try_into().ok()?);
    let created_ms = i64::from_le_bytes(payload[8..16].try_into().ok()?);
    let id_len = u16::from_le_bytes(payload[16..18].try_into().ok()?) as usize;
    let id = payload.get(PAYLOAD_FIXED..PAYLOAD_FIXED + id_len)?;
    let id = std::str::from_utf8(id).ok()?.to_string();
    let body = payload[PAYLOAD_FIXED + id_len..].to_vec();
    Some((
        Record {
            seq,
            created_ms,
            id,
            body,
        },
        HEADER + len,
    ))
}

fn encode_record(buf: &mut Vec<u8>, seq: u64, created_ms: i64, id: &str, body: &[u8]) {
    // Ids are alert ids (short); a longer one is cut at a char boundary.
    let mut id_len = id.len().min(u16::MAX as usize);
    while !id.is_char_boundary(id_len) {
        id_len -= 1;
    }
    let len = PAYLOAD_FIXED + id_len + body.len();
    buf.clear();
    buf.extend_from_slice(&(len as u32).to_le_bytes());
    buf.extend_from_slice(&[0; 4]);
    buf.extend_from_slice(&seq.to_le_bytes());
    buf.extend_from_slice(&created_ms.to_le_bytes());
    buf.extend_from_slice(&(id_len as u16).to_le_bytes());
    buf.extend_from_slice(&id.as_bytes()[..id_len]);
    buf.extend_from_slice(body);
    let crc = crc32fast::hash(&buf[HEADER..]);
    buf[4..8].copy_from_slice(&crc.to_le_bytes());
}

impl Outbox {
    /// Opens (creating) the outbox in `dir`; cuts a torn last record.
    pub fn open(dir: &Path, opts: Options) -> Result<Arc<Outbox>, OutboxError> {
        let io = |what: &'static str| {
            let dir = dir.to_path_buf();
            move |source| OutboxError::Io { dir, what, source }
        };
        std::fs::create_dir_all(dir).map_err(io("cannot create"))?;
        let done_below = read_cursor(dir).map_err(io("cannot read the cursor"))?;
        let mut starts: Vec<u64> = std::fs::read_dir(dir)
            .map_err(io("cannot list"))?
            .filter_map(|e| e.ok())
            .filter_map(|e| {
                let name = e.file_name().into_string().ok()?;
                name.strip_suffix(SUFFIX)?.parse::<u64>().ok()
            })
            .collect();
        starts.sort_unstable();
        let mut segments = VecDeque::new();
        for &start in &starts {
            let path = seg_path(dir, start);
            let len = std::fs::metadata(&path)
                .map_err(io("cannot read a segment"))?
                .len();
            segments.push_back(Segment { start, len, path });
        }
        // The last segment: keep whole records only; they give next_seq.
        let mut next_seq = done_below;
        if let Some(last) = segments.back_mut() {
            let bytes = std::fs::read(&last.path).map_err(io("cannot read a segment"))?;
            let mut at = 0;
            next_seq = next_seq.max(last.start);
            while let Some((rec, size)) = parse_record(&bytes[at..]) {
                next_seq = next_seq.max(rec.seq + 1);
                at += size;
            }
            if (at as u64) < last.len {
                tracing::warn!(
                    segment = %last.path.display(),
                    kept = at,
                    cut = last.len - at as u64,
                    "outbox: cutting a torn last record (written when kawal stopped; never accepted)"
                );
                let f = OpenOptions::new()
                    .write(true)
                    .open(&last.path)
                    .map_err(io("cannot open a segment"))?;
                f.set_len(at as u64).map_err(io("cannot cut a segment"))?;
                f.sync_all().map_err(io("cannot sync a segment"))?;
                last.len = at as u64;
            }
        }
        if segments.is_empty() {
            segments.push_back(Segment {
                start: next_seq,
                len: 0,
                path: seg_path(dir, next_seq),
            });
        }
        let active = segments.back().expect("one segment");
        let writer = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&active.path)
            .map_err(io("cannot open a segment"))?;
        let bytes = segments.iter().map(|s| s.len).sum();
        let outbox = Outbox {
            dir: dir.to_path_buf(),
            opts,
            inner: Mutex::new(Inner {
                writer,
                segments,
                next_seq,
                done_below,
                done: BTreeSet::new(),
                cursor_dirty: false,
                unsynced: false,
                bytes,
                buf: Vec::with_capacity(4096),
            }),
            appended: Arc::new(tokio::sync::Notify::new()),
        };
        outbox.drop_done_segments(&mut outbox.lock());
        Ok(Arc::new(outbox))
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panic while holding the lock leaves whole records behind it
        // (lengths are updated after the write), so the data is usable.
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn io(&self, what: &'static str) -> impl FnOnce(std::io::Error) -> OutboxError + '_ {
        move |source| OutboxError::Io {
            dir: self.dir.clone(),
            what,
            source,
        }
    }

    /// Appends one record; returns its sequence number. Not durable until
    /// [`Outbox::sync`] (with `fsync = "batch"`).
    pub fn append(&self, id: &str, created_ms: i64, body: &[u8]) -> Result<u64, OutboxError> {
        let mut g = self.lock();
        let inner = &mut *g;
        if inner.bytes >= self.opts.max_bytes && inner.done_below == inner.next_seq {
            // All done, but the active segment holds the bytes: start a
            // new one so that the old can go.
            let seq = inner.next_seq;
            self.roll(inner, seq)?;
            self.drop_done_segments(inner);
        }
        if inner.bytes >= self.opts.max_bytes {
            return Err(OutboxError::Full {
                dir: self.dir.clone(),
                bytes: inner.bytes,
                limit: self.opts.max_bytes,
            });
        }
        let seq = inner.next_seq;
        encode_record(&mut inner.buf, seq, created_ms, id, body);
        if inner.buf.len() - HEADER > MAX_RECORD {
            return Err(OutboxError::TooLarge {
                dir: self.dir.clone(),
                len: inner.buf.len(),
            });
        }
        let active = inner.segments.back().expect("one segment");
        if active.len > 0 && active.len + inner.buf.len() as u64 > self.opts.segment_bytes {
            self.roll(inner, seq)?;
        }
        inner
            .writer
            .write_all(&inner.buf)
            .map_err(self.io("cannot append"))?;
        let size = inner.buf.len() as u64;
        inner.segments.back_mut().expect("one segment").len += size;
        inner.bytes += size;
        inner.next_seq += 1;
        inner.unsynced = true;
        drop(g);
        self.appended.notify_one();
        Ok(seq)
    }

    /// Starts a new segment at `seq`, syncing the one it closes.
    fn roll(&self, inner: &mut Inner, seq: u64) -> Result<(), OutboxError> {
        if self.opts.fsync == Fsync::Batch {
            inner.writer.sync_data().map_err(self.io("cannot sync"))?;
        }
        let path = seg_path(&self.dir, seq);
        inner.writer = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .map_err(self.io("cannot create a segment"))?;
        inner.segments.push_back(Segment {
            start: seq,
            len: 0,
            path,
        });
        if self.opts.fsync == Fsync::Batch {
            sync_dir(&self.dir).map_err(self.io("cannot sync the directory"))?;
        }
        Ok(())
    }

    /// Whether records were appended since the last [`Outbox::sync`].
    pub fn unsynced(&self) -> bool {
        self.lock().unsynced
    }

    /// Makes appended records durable (per the fsync policy).
    pub fn sync(&self) -> Result<(), OutboxError> {
        let mut g = self.lock();
        if g.unsynced && self.opts.fsync == Fsync::Batch {
            g.writer.sync_data().map_err(self.io("cannot sync"))?;
        }
        g.unsynced = false;
        Ok(())
    }

    /// Marks one record done (delivered, or dead-lettered).
    pub fn done(&self, seq: u64) {
        let mut g = self.lock();
        let inner = &mut *g;
        if seq < inner.done_below {
            return;
        }
        inner.done.insert(seq);
        while inner.done.remove(&inner.done_below) {
            inner.done_below += 1;
            inner.cursor_dirty = true;
        }
        self.drop_done_segments(inner);
    }

    /// Deletes segments whose every record is done (never the active one).
    fn drop_done_segments(&self, inner: &mut Inner) {
        while inner.segments.len() > 1 && inner.segments[1].start <= inner.done_below {
            let s = inner.segments.pop_front().expect("checked");
            inner.bytes -= s.len;
            if let Err(e) = std::fs::remove_file(&s.path) {
                tracing::warn!(segment = %s.path.display(), error = %e, "outbox: cannot delete a delivered segment");
            }
        }
    }

    /// Writes the cursor if it moved (temporary file, rename).
    pub fn persist_cursor(&self) -> Result<(), OutboxError> {
        let below = {
            let mut g = self.lock();
            if !g.cursor_dirty {
                return Ok(());
            }
            g.cursor_dirty = false;
            g.done_below
        };
        let tmp = self.dir.join("cursor.tmp");
        std::fs::write(&tmp, format!("{below}\n")).map_err(self.io("cannot write the cursor"))?;
        std::fs::rename(&tmp, self.dir.join("cursor")).map_err(self.io("cannot write the cursor"))
    }

    /// Records not yet done, and the bytes the outbox holds on disk.
    pub fn backlog(&self) -> (u64, u64) {
        let g = self.lock();
        (g.next_seq - g.done_below, g.bytes)
    }

    /// A reader from the first record not yet done.
    pub fn reader(&self) -> Reader {
        let g = self.lock();
        Reader {
            next: g.done_below,
            file: None,
            buf: Vec::new(),
            pos: 0,
            filled: 0,
        }
    }

    /// The segment holding `seq` (start, readable length), and whether a
    /// later segment exists.
    fn locate(&self, seq: u64) -> Option<(u64, u64, PathBuf, bool)> {
        let g = self.lock();
        let i = g.segments.iter().rposition(|s| s.start <= seq)?;
        let s = &g.segments[i];
        Some((s.start, s.len, s.path.clone(), i + 1 < g.segments.len()))
    }
}

/// Reads records in order. Holds one segment open and a read buffer that
/// grows to the largest record read (alerts are at most 64 KiB).
pub struct Reader {
    /// The next sequence number wanted.
    next: u64,
    /// (segment start, file, bytes of it consumed).
    file: Option<(u64, File, u64)>,
    buf: Vec<u8>,
    pos: usize,
    filled: usize,
}

impl Reader {
    /// The next record, or `None` when the reader has caught up with the
    /// writer. A damaged record in the middle of the log (not a torn tail,
    /// which `open` cuts) is skipped with the rest of its segment, logged.
    pub fn next(&mut self, outbox: &Outbox) -> Result<Option<Record>, OutboxError> {
        loop {
            let Some((start, len, path, later)) = outbox.locate(self.next) else {
                return Ok(None);
            };
            if self.file.as_ref().map(|f| f.0) != Some(start) {
                let f = File::open(&path).map_err(outbox.io("cannot open a segment"))?;
                self.file = Some((start, f, 0));
                self.pos = 0;
                self.filled = 0;
            }
            let (_, f, consumed) = self.file.as_mut().expect("set above");
            // Whole records in the buffer first.
            if let Some((rec, size)) = parse_record(&self.buf[self.pos..self.filled]) {
                self.pos += size;
                if rec.seq < self.next {
                    continue;
                }
                self.next = rec.seq + 1;
                return Ok(Some(rec));
            }
            let unread = len.saturating_sub(*consumed);
            if unread == 0 {
                if self.pos < self.filled {
                    // Bytes left that are not a record, and nothing to add.
                    if later {
                        tracing::error!(segment = %path.display(), "outbox: damaged record; skipping the rest of the segment");
                        self.skip_segment(outbox, start);
                        continue;
                    }
                    return Ok(None);
                }
                if later {
                    self.skip_segment(outbox, start);
                    continue;
                }
                return Ok(None);
            }
            // Compact, then read more (up to the segment's readable end).
            self.buf.copy_within(self.pos..self.filled, 0);
            self.filled -= self.pos;
            self.pos = 0;
            let want = (unread as usize).min(256 << 10);
            if self.buf.len() < self.filled + want {
                self.buf.resize(self.filled + want, 0);
            }
            f.seek(SeekFrom::Start(*consumed))
                .map_err(outbox.io("cannot read a segment"))?;
            let n = f
                .read(&mut self.buf[self.filled..self.filled + want])
                .map_err(outbox.io("cannot read a segment"))?;
            if n == 0 {
                return Ok(None);
            }
            *consumed += n as u64;
            self.filled += n;
            if self.filled - self.pos > MAX_RECORD + HEADER
                && parse_record(&self.buf[self.pos..self.filled]).is_none()
            {
                tracing::error!(segment = %path.display(), "outbox: damaged record; skipping the rest of the segment");
                self.skip_segment(outbox, start);
            }
        }
    }

    fn skip_segment(&mut self, outbox: &Outbox, start: u64) {
        let g = outbox.lock();
        if let Some(next) = g.segments.iter().find(|s| s.start > start) {
            self.next = self.next.max(next.start);
        }
        drop(g);
        self.file = None;
        self.pos = 0;
        self.filled = 0;
    }
}

fn read_cursor(dir: &Path) -> std::io::Result<u64> {
    match std::fs::read_to_string(dir.join("cursor")) {
        Ok(s) => s.trim().parse().map_err(|_| {
            std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                format!("not a number: {:?}", s.trim()),
            )
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(0),
        Err(e) => Err(e),
    }
}

fn sync_dir(dir: &Path) -> std::io::Result<()> {
    File::open(dir)?.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts(segment_bytes: u64) -> Options {
        Options {
            fsync: Fsync::Batch,
            segment_bytes,
            max_bytes: 1 << 30,
        }
    }

    fn drain(o: &Outbox, r: &mut Reader) -> Vec<Record> {
        let mut out = Vec::new();
        while let Some(rec) = r.next(o).unwrap() {
            out.push(rec);
        }
        out
    }

    #[test]
    fn records_come_back_in_order_across_segments_and_done_segments_go() {
        let dir = tempfile::tempdir().unwrap();
        let o = Outbox::open(dir.path(), opts(300)).unwrap();
        let mut r = o.reader();
        for i in 0..20u64 {
            let body = format!("{{\"n\":{i}}}");
            assert_eq!(
                o.append(&format!("al-{i}"), i as i64, body.as_bytes())
                    .unwrap(),
                i
            );
        }
        o.sync().unwrap();
        let got = drain(&o, &mut r);
        assert_eq!(got.len(), 20);
        assert!(got.iter().enumerate().all(|(i, r)| r.seq == i as u64
            && r.id == format!("al-{i}")
            && r.body == format!("{{\"n\":{i}}}").as_bytes()));
        let segs = || {
            std::fs::read_dir(dir.path())
                .unwrap()
                .filter(|e| {
                    e.as_ref()
                        .unwrap()
                        .path()
                        .extension()
                        .is_some_and(|x| x == "outbox")
                })
                .count()
        };
        let before = segs();
        assert!(before >= 3, "300-byte segments roll: {before}");
        // Out of order: the cursor moves only over a done prefix.
        for seq in (0..10).rev() {
            o.done(seq);
        }
        assert_eq!(o.backlog().0, 10);
        assert!(segs() < before, "segments wholly done are deleted");
        // Appends after catching up are read too.
        o.append("al-20", 20, b"late").unwrap();
        assert_eq!(drain(&o, &mut r)[0].id, "al-20");
    }

    #[test]
    fn reopening_resumes_after_the_cursor_and_cuts_a_torn_tail() {
        let dir = tempfile::tempdir().unwrap();
        {
            let o = Outbox::open(dir.path(), opts(1 << 20)).unwrap();
            for i in 0..5 {
                o.append(&format!("al-{i}"), 0, b"body").unwrap();
            }
            o.sync().unwrap();
            o.done(0);
            o.done(1);
            o.persist_cursor().unwrap();
        }
        // A crash in the middle of the sixth append.
        let seg = seg_path(dir.path(), 0);
        let mut f = OpenOptions::new().append(true).open(&seg).unwrap();
        f.write_all(&[40, 0, 0, 0, 1, 2, 3]).unwrap();
        drop(f);
        let o = Outbox::open(dir.path(), opts(1 << 20)).unwrap();
        let mut r = o.reader();
        let ids: Vec<String> = drain(&o, &mut r).into_iter().map(|r| r.id).collect();
        assert_eq!(ids, ["al-2", "al-3", "al-4"]);
        // The next append continues the numbering after the cut.
        assert_eq!(o.append("al-5", 0, b"body").unwrap(), 5);
        assert_eq!(drain(&o, &mut r)[0].id, "al-5");
    }

    #[test]
    fn a_full_outbox_refuses_instead_of_growing() {
        let dir = tempfile::tempdir().unwrap();
        let o = Outbox::open(
            dir.path(),
            Options {
                fsync: Fsync::Never,
                segment_bytes: 1 << 20,
                max_bytes: 100,
            },
        )
        .unwrap();
        let mut n = 0;
        while o.append("al", 0, &[b'x'; 30]).is_ok() {
            n += 1;
            assert!(n < 10);
        }
        assert!(matches!(
            o.append("al", 0, b"x"),
            Err(OutboxError::Full { .. })
        ));
        // Once delivered, there is room again.
        for s in 0..n {
            o.done(s);
        }
        o.append("al", 0, b"x").unwrap_or_else(|e| panic!("{e}"));
    }

    proptest::proptest! {
        /// Whatever the bytes of a segment, parsing never panics and never
        /// returns a record whose CRC does not hold.
        #[test]
        fn parse_never_panics(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..200)) {
            if let Some((rec, size)) = parse_record(&bytes) {
                proptest::prop_assert!(size <= bytes.len());
                let mut again = Vec::new();
                encode_record(&mut again, rec.seq, rec.created_ms, &rec.id, &rec.body);
                proptest::prop_assert_eq!(&again[..], &bytes[..size]);
            }
        }
    }
}
