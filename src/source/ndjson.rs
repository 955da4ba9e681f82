//! NDJSON input read in chunks of whole lines.
//!
//! A chunk is a few MiB of complete lines: it is the unit handed to the
//! detector shards, so each shard walks lines in the same order and output
//! can be merged deterministically. The reader keeps the partial last line
//! for the next chunk; buffers are recycled through the channel that
//! returns them, so a long replay allocates a handful of buffers in all.

use std::io::{self, Read};

/// Target size of a chunk. Large enough to amortise hand-offs between
/// threads, small enough that alerts stream out at a steady pace.
pub const CHUNK_BYTES: usize = 4 << 20;

/// A run of complete lines and the number of the first one (1-based).
#[derive(Debug, Default)]
pub struct Chunk {
    pub data: Vec<u8>,
    pub first_line: u64,
}

impl Chunk {
    /// Lines without their terminators (`\n` or `\r\n`); blank lines are
    /// kept (so numbering is exact) and skipped by the caller.
    pub fn lines(&self) -> impl Iterator<Item = (u64, &[u8])> {
        let mut at = 0;
        let data = &self.data[..];
        let mut n = self.first_line;
        std::iter::from_fn(move || {
            if at >= data.len() {
                return None;
            }
            let end = memchr::memchr(b'\n', &data[at..]).map_or(data.len(), |i| at + i);
            let mut line = &data[at..end];
            if line.last() == Some(&b'\r') {
                line = &line[..line.len() - 1];
            }
            at = end + 1;
            let this = n;
            n += 1;
            Some((this, line))
        })
    }
}

/// Splits a byte stream into chunks of whole lines.
pub struct ChunkReader<R> {
    inner: R,
    carry: Vec<u8>,
    next_line: u64,
    done: bool,
    /// Bytes read so far (for progress).
    pub bytes_read: u64,
}

impl<R: Read> ChunkReader<R> {
    pub fn new(inner: R) -> Self {
        ChunkReader {
            inner,
            carry: Vec::new(),
            next_line: 1,
            done: false,
            bytes_read: 0,
        }
    }

    /// Fills `chunk` (its buffer is reused) with the next lines. Returns
    /// false at the end of input.
    pub fn next_chunk(&mut self, chunk: &mut Chunk) -> io::Result<bool> {
        chunk.data.clear();
        if self.done && self.carry.is_empty() {
            return Ok(false);
        }
        chunk.data.append(&mut self.carry);
        // Read until a chunk's worth holds at least one line end (a single
        // line longer than a chunk simply makes a larger chunk).
        while !self.done
            && (chunk.data.len() < CHUNK_BYTES || memchr::memrchr(b'\n', &chunk.data).is_none())
        {
            let start = chunk.data.len();
            chunk.data.resize(start + CHUNK_BYTES, 0);
            let n = loop {
                match self.inner.read(&mut chunk.data[start..]) {
                    Ok(n) => break n,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    Err(e) => {
                        chunk.data.truncate(start);
                        return Err(e);
                    }
                }
            };
            chunk.data.truncate(start + n);
            self.bytes_read += n as u64;
            if n == 0 {
                self.done = true;
            }
        }
        if !self.done {
            // Hand the partial last line over to the next chunk.
            let i = memchr::memrchr(b'\n', &chunk.data).expect("loop ends on a line end");
            self.carry.extend_from_slice(&chunk.data[i + 1..]);
            chunk.data.truncate(i + 1);
        }
        chunk.first_line = self.next_line;
        self.next_line += memchr::memchr_iter(b'\n', &chunk.data).count() as u64;
        if !chunk.data.is_empty() && chunk.data.last() != Some(&b'\n') {
            self.next_line += 1;
        }
        Ok(!chunk.data.is_empty() || !self.carry.is_empty())
    }
}

/// The account of an event line: [`scan_account`]'s byte scan, or a full
/// decode when the scan cannot read it plainly (escapes, odd layout).
/// `None` when the line does not decode at all.
pub fn line_account(line: &[u8]) -> Option<std::borrow::Cow<'_, [u8]>> {
    use std::borrow::Cow;
    if let Some(raw) = scan_account(line) {
        return Some(Cow::Borrowed(raw));
    }
    Some(match crate::decode::decode(line).ok()?.account {
        Cow::Borrowed(s) => Cow::Borrowed(s.as_bytes()),
        Cow::Owned(s) => Cow::Owned(s.into_bytes()),
    })
}

/// Finds the raw value of the top-level `"account"` string without
/// decoding the event: a byte scanner that skips nested values and strings
/// correctly. Returns `None` for anything it cannot read plainly (malformed
/// JSON, no account, or an account written with escapes); the caller then
/// decides ownership some other way.
pub fn scan_account(line: &[u8]) -> Option<&[u8]> {
    let mut i = skip_ws(line, 0);
    if line.get(i) != Some(&b'{') {
        return None;
    }
    i += 1;
    loop {
        i = skip_ws(line, i);
        if line.get(i) != Some(&b'"') {
            return None;
        }
        let (key_end, key_escaped) = string_end(line, i + 1)?;
        let key = &line[i + 1..key_end];
        i = skip_ws(line, key_end + 1);
        if line.get(i) != Some(&b':') {
            return None;
        }
        i = skip_ws(line, i + 1);
        if key == b"account" && !key_escaped {
            if line.get(i) != Some(&b'"') {
                return None;
            }
            let (end, escaped) = string_end(line, i + 1)?;
            return if escaped {
                None
            } else {
                Some(&line[i + 1..end])
            };
        }
        i = skip_value(line, i)?;
        i = skip_ws(line, i);
        match line.get(i) {
            Some(b',') => i += 1,
            _ => return None,
        }
    }
}

#[inline]
fn skip_ws(b: &[u8], mut i: usize) -> usize {
    while i < b.len() && matches!(b[i], b' ' | b'\t' | b'\r' | b'\n') {
        i += 1;
    }
    i
}

/// Index of the closing quote of a string whose body starts at `i`, and
/// whether it holds escapes. Eight bytes at a time ([`skip_plain`]):
/// `memchr2` per string (the id, time and account strings are short, and
/// it pays a vector set-up on each) was 3.8% of decode + detect on the
/// simulation. The scan's other cost is the first touch of each line,
/// which it brings into cache for the decoder: 9% of the time in all
/// before, under 9% after.
///
/// [`skip_plain`]: crate::decode::skip_plain
#[inline]
fn string_end(b: &[u8], mut i: usize) -> Option<(usize, bool)> {
    let mut escaped = false;
    loop {
        i = crate::decode::skip_plain(b, i);
        match *b.get(i)? {
            b'"' => return Some((i, escaped)),
            b'\\' => {
                escaped = true;
                i += 2;
            }
            // A control byte (skip_plain stops there too) or the tail of
            // the line, looked at one byte at a time.
            _ => i += 1,
        }
    }
}

fn skip_value(b: &[u8], i: usize) -> Option<usize> {
    match *b.get(i)? {
        b'"' => Some(string_end(b, i + 1)?.0 + 1),
        b'{' | b'[' => {
            let mut depth = 0usize;
            let mut j = i;
            while j < b.len() {
                match b[j] {
                    b'"' => j = string_end(b, j + 1)?.0,
                    b'{' | b'[' => depth += 1,
                    b'}' | b']' => {
                        depth -= 1;
                        if depth == 0 {
                            return Some(j + 1);
                        }
                    }
                    _ => {}
                }
                j += 1;
            }
            None
        }
        _ => {
            let mut j = i;
            while j < b.len() && !matches!(b[j], b',' | b'}' | b' ' | b'\t' | b'\r' | b'\n') {
                j += 1;
            }
            Some(j)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn scans_top_level_account_only() {
        let line = br#"{"id":"1","extra":{"account":"nested","a":[1,{"account":"x"}]},"note":"the \"account\":\"no\"","account":"x:real","type":"login"}"#;
        assert_eq!(scan_account(line), Some(&b"x:real"[..]));
        assert_eq!(scan_account(br#"{"account" : "a" }"#), Some(&b"a"[..]));
        assert_eq!(scan_account(br#"{"account":"a\u0062"}"#), None);
        assert_eq!(scan_account(br#"{"id":1"#), None);
        assert_eq!(scan_account(b"garbage"), None);
        assert_eq!(scan_account(br#"{"account":5}"#), None);
    }

    #[test]
    fn chunks_keep_lines_whole_and_numbered() {
        let mut text = String::new();
        for i in 0..500_000 {
            text.push_str(&format!("{{\"n\":{i}}}\n"));
        }
        text.push_str("{\"n\":\"last, no newline\"}");
        let mut r = ChunkReader::new(text.as_bytes());
        let mut chunk = Chunk::default();
        let mut expected = 1u64;
        let mut chunks = 0;
        while r.next_chunk(&mut chunk).unwrap() {
            chunks += 1;
            for (n, line) in chunk.lines() {
                assert_eq!(n, expected);
                assert!(
                    line.starts_with(b"{") && line.ends_with(b"}"),
                    "{}",
                    String::from_utf8_lossy(line)
                );
                expected += 1;
            }
        }
        assert!(chunks > 1);
        assert_eq!(expected, 500_002);
    }

    #[test]
    fn a_line_longer_than_a_chunk_is_kept_whole() {
        let long = format!("{{\"x\":\"{}\"}}", "a".repeat(CHUNK_BYTES + 10));
        let text = format!("{{}}\n{long}\n{{}}\n");
        let mut r = ChunkReader::new(text.as_bytes());
        let mut chunk = Chunk::default();
        let mut lens = Vec::new();
        while r.next_chunk(&mut chunk).unwrap() {
            lens.extend(chunk.lines().map(|(n, l)| (n, l.len())));
        }
        assert_eq!(lens, vec![(1, 2), (2, long.len()), (3, 2)]);
    }

    proptest! {
        #[test]
        fn scanner_agrees_with_serde(
            account in "[a-z:_0-9]{1,20}",
            before in proptest::collection::vec(("[a-z]{1,5}", "(?s).{0,30}"), 0..4),
        ) {
            // Decoys before the account: nested accounts, and strings of
            // any length with quotes, backslashes and control bytes (serde
            // escapes them), so a scan eight bytes at a time meets them
            // at every offset.
            let mut obj = serde_json::Map::new();
            for (i, (k, text)) in before.iter().enumerate() {
                obj.insert(format!("{k}{i}"), serde_json::json!({"account": "decoy", "l": [1, "]}", text]}));
                obj.insert(format!("t{i}"), serde_json::Value::String(text.clone()));
            }
            obj.insert("account".into(), serde_json::Value::String(account.clone()));
            let line = serde_json::to_vec(&obj).unwrap();
            prop_assert_eq!(scan_account(&line), Some(account.as_bytes()));
        }

        #[test]
        fn an_account_with_escapes_is_left_to_the_decoder(account in "(?s).{0,30}") {
            let line = serde_json::to_vec(&serde_json::json!({"id": "1", "account": account})).unwrap();
            let plain = !account.chars().any(|c| c == '"' || c == '\\' || c < ' ');
            let expected = plain.then_some(account.as_bytes());
            prop_assert_eq!(scan_account(&line), expected);
        }
    }
}
