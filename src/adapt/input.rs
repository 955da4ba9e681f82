//! An events file (or standard input) in a format: native events as they
//! are, a vendor's records translated to native ones on the way (what
//! `kawal replay --format` and `kawal produce --format` read).

use std::fs::File;
use std::io::{self, Read};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use super::{Counts, Format, Translate};

pub struct Input {
    reader: Box<dyn Read + Send>,
    /// The file's length, for progress (none for standard input).
    pub len: Option<u64>,
    /// Bytes of the input read so far: the progress of a translation is
    /// measured on the vendor file, not on what it became.
    read: Arc<AtomicU64>,
    counts: Option<Arc<Mutex<Counts>>>,
    format: Format,
}

impl Input {
    /// Opens `path` (`-`: standard input) in `format`.
    pub fn open(path: &str, format: Format) -> io::Result<Input> {
        let (raw, len): (Box<dyn Read + Send>, Option<u64>) = if path == "-" {
            (Box::new(io::stdin()), None)
        } else {
            let f = File::open(path)?;
            let len = f.metadata().ok().map(|m| m.len());
            (Box::new(f), len)
        };
        Ok(Input::from_reader(raw, len, format))
    }

    pub fn from_reader(raw: Box<dyn Read + Send>, len: Option<u64>, format: Format) -> Input {
        let read = Arc::new(AtomicU64::new(0));
        let (reader, counts): (Box<dyn Read + Send>, _) = match format {
            Format::Native => (raw, None),
            f => {
                let t = Translate::new(
                    Counted {
                        inner: raw,
                        read: read.clone(),
                    },
                    f,
                );
                let counts = t.counts();
                (Box::new(t), Some(counts))
            }
        };
        Input {
            reader,
            len,
            read,
            counts,
            format,
        }
    }

    /// The native event stream (once; later calls get an empty one).
    pub fn take_reader(&mut self) -> Box<dyn Read + Send> {
        std::mem::replace(&mut self.reader, Box::new(io::empty()))
    }

    /// The position to show, given the bytes the pipeline consumed.
    pub fn progress(&self, consumed: u64) -> u64 {
        match self.counts {
            None => consumed,
            Some(_) => self.read.load(Ordering::Relaxed),
        }
    }

    /// What the adapter did so far (none for native input).
    pub fn counts(&self) -> Option<Counts> {
        Some(self.counts.as_ref()?.lock().expect("counts").clone())
    }

    /// One line for the summary (none for native input).
    pub fn report(&self) -> Option<String> {
        let c = self.counts()?;
        let mut top: Vec<_> = c.unmapped.iter().collect();
        top.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
        let top: Vec<String> = top
            .iter()
            .take(8)
            .map(|(t, n)| format!("{t} {n}"))
            .collect();
        let top = if top.is_empty() {
            String::new()
        } else {
            format!(" ({})", top.join(", "))
        };
        let invalid = if c.invalid.is_empty() {
            String::new()
        } else {
            format!(" {:?}", c.invalid)
        };
        Some(format!(
            "{f}: {} records, {} events; {} of types kawal does not map{top}; {} not {f}{invalid}",
            c.records,
            c.events,
            c.unmapped_total(),
            c.invalid_total(),
            f = self.format,
        ))
    }
}

/// A reader that counts the bytes read through it.
struct Counted<R> {
    inner: R,
    read: Arc<AtomicU64>,
}

impl<R: Read> Read for Counted<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.read.fetch_add(n as u64, Ordering::Relaxed);
        Ok(n)
    }
}
