//! The fast path of [`decode`](super::decode): a scanner written for the
//! event schema, tried before serde on every event.
//!
//! It is exact only where it accepts. Whatever is not plain — an escape in
//! a string, a field of the wrong type, a repeated field, an integer
//! written as `7713.0`, nesting deeper than [`MAX_DEPTH`], malformed JSON —
//! makes it return `None`, and the caller hands the event to serde, which
//! either accepts it the same way or produces the canonical error and its
//! kind. So the fast path never has to get an error right, only agree with
//! serde on what it accepts; `tests::agrees_with_serde` checks exactly
//! that on generated and mutated events.
//!
//! Why: decoding through serde's derive cost about 850 ns of a 261-byte
//! event, more than the detector itself (visitor dispatch per field, a
//! map-access state machine, `deserialize_any` for the integer fields,
//! large intermediate values moved around). This scanner walks the bytes
//! once, borrows every string, and knows each field's type in advance.

use std::borrow::Cow;

#[cfg(test)]
use super::Wire;
use super::{Change, Device, Event, Links, MAX_LINKS, Post, Source};

/// Deepest nesting of an unknown value skipped here; deeper ones go to
/// serde (whose own limit is 128).
const MAX_DEPTH: u32 = 32;

/// What the fast path read but left for validation to interpret: the
/// time and outcome as written.
pub(super) struct Raw<'a> {
    pub time: Cow<'a, str>,
    pub outcome: Option<Cow<'a, str>>,
    /// Which of source, device and change were present and not null
    /// (bits 0, 1 and 3; the event keeps their defaults otherwise), for
    /// the tests' comparison with serde.
    #[cfg_attr(not(test), allow(dead_code))]
    present: u8,
}

/// Reads the event in `text` into `ev` (a blank event), or `None` when it
/// is not plain (see the module comment; `ev` is then partly written and
/// must be dropped); `text` is already known to be UTF-8. The event is
/// filled where it lies: reading into an intermediate form and moving it
/// (a 768-byte value, its 168- to 240-byte parts moved into it first)
/// cost several copies of the event per decode.
#[inline]
pub(super) fn parse_into<'a>(text: &'a str, ev: &mut Event<'a>) -> Option<Raw<'a>> {
    let mut p = Scanner {
        s: text,
        b: text.as_bytes(),
        i: 0,
    };
    p.ws();
    let raw = p.event(ev)?;
    p.ws();
    (p.i == p.b.len()).then_some(raw)
}

/// The fast path's reading of `text` in serde's form, for the tests that
/// hold the two to the same result.
#[cfg(test)]
pub(super) fn parse(text: &str) -> Option<Wire<'_>> {
    let mut ev = Event::blank();
    let raw = parse_into(text, &mut ev)?;
    let has = |bit: u8| raw.present & (1 << bit) != 0;
    Some(Wire {
        id: ev.id,
        time: raw.time,
        account: ev.account,
        kind: ev.type_name,
        actor: ev.actor,
        outcome: raw.outcome,
        source: has(0).then_some(ev.source),
        device: has(1).then_some(ev.device),
        post: ev.post,
        change: has(3).then_some(ev.change),
    })
}

struct Scanner<'a> {
    s: &'a str,
    b: &'a [u8],
    i: usize,
}

impl<'a> Scanner<'a> {
    #[inline]
    fn peek(&self) -> Option<u8> {
        self.b.get(self.i).copied()
    }

    #[inline]
    fn ws(&mut self) {
        while let Some(b' ' | b'\t' | b'\r' | b'\n') = self.peek() {
            self.i += 1;
        }
    }

    #[inline]
    fn eat(&mut self, c: u8) -> Option<()> {
        if self.peek() == Some(c) {
            self.i += 1;
            Some(())
        } else {
            None
        }
    }

    /// The members of an object: calls `field` with each key, the scanner
    /// placed on the value, which `field` must consume.
    #[inline]
    fn object(&mut self, mut field: impl FnMut(&mut Self, &'a [u8]) -> Option<()>) -> Option<()> {
        self.eat(b'{')?;
        self.ws();
        if self.eat(b'}').is_some() {
            return Some(());
        }
        loop {
            let key = self.string()?;
            self.ws();
            self.eat(b':')?;
            self.ws();
            field(self, key.as_bytes())?;
            self.ws();
            match self.peek()? {
                b',' => {
                    self.i += 1;
                    self.ws();
                }
                b'}' => {
                    self.i += 1;
                    return Some(());
                }
                _ => return None,
            }
        }
    }

    /// A string without escapes or control characters, borrowed.
    #[inline]
    fn string(&mut self) -> Option<&'a str> {
        self.eat(b'"')?;
        let start = self.i;
        self.i = skip_plain(self.b, self.i);
        loop {
            match *self.b.get(self.i)? {
                b'"' => break,
                b'\\' | 0..=0x1f => return None,
                _ => self.i += 1,
            }
        }
        // Both ends sit next to an ASCII quote, so they are char
        // boundaries of the (already valid) UTF-8 text.
        let s = &self.s[start..self.i];
        self.i += 1;
        Some(s)
    }

    /// `null`, consumed; false (nothing consumed) for anything else.
    #[inline]
    fn null(&mut self) -> bool {
        if self.b[self.i..].starts_with(b"null") {
            self.i += 4;
            true
        } else {
            false
        }
    }

    #[inline]
    fn opt_string(&mut self) -> Option<Option<Cow<'a, str>>> {
        self.or_null(|p| p.string().map(Cow::Borrowed))
    }

    /// A JSON number token; returns it and whether it is a plain
    /// non-negative integer (digits only).
    fn number(&mut self) -> Option<(&'a str, bool)> {
        let start = self.i;
        let b = self.b;
        let digits = |mut i: usize| {
            while i < b.len() && b[i].is_ascii_digit() {
                i += 1;
            }
            i
        };
        let mut i = start;
        if b.get(i) == Some(&b'-') {
            i += 1;
        }
        match b.get(i) {
            Some(b'0') => i += 1,
            Some(b'1'..=b'9') => i = digits(i),
            _ => return None,
        }
        let mut plain = b[start] != b'-';
        if b.get(i) == Some(&b'.') {
            let j = digits(i + 1);
            if j == i + 1 {
                return None;
            }
            i = j;
            plain = false;
        }
        if let Some(b'e' | b'E') = b.get(i) {
            i += 1;
            if let Some(b'+' | b'-') = b.get(i) {
                i += 1;
            }
            let j = digits(i);
            if j == i {
                return None;
            }
            i = j;
            plain = false;
        }
        self.i = i;
        Some((&self.s[start..i], plain))
    }

    /// Any number as `f64`, as serde reads it: the token is JSON, so std's
    /// correctly rounded parser gives serde's value (serde_json is built
    /// with `float_roundtrip`, which makes its parser correctly rounded).
    #[inline]
    fn opt_f64(&mut self) -> Option<Option<f64>> {
        self.or_null(|p| {
            let (tok, _) = p.number()?;
            let v: f64 = match short_decimal(tok.as_bytes()) {
                Some(v) => v,
                None => tok.parse().ok()?,
            };
            // serde rejects numbers beyond f64's range; leave those to it.
            v.is_finite().then_some(v)
        })
    }

    /// A count written with digits only (`7713`, not `7713.0`: serde
    /// accepts that too, and gets it).
    #[inline]
    fn opt_uint(&mut self) -> Option<Option<u64>> {
        self.or_null(|p| {
            let (tok, plain) = p.number()?;
            if !plain {
                return None;
            }
            tok.parse().ok()
        })
    }

    #[inline]
    fn opt_bool(&mut self) -> Option<Option<bool>> {
        let rest = &self.b[self.i..];
        let (v, n) = if rest.starts_with(b"true") {
            (Some(true), 4)
        } else if rest.starts_with(b"false") {
            (Some(false), 5)
        } else if rest.starts_with(b"null") {
            (None, 4)
        } else {
            return None;
        };
        self.i += n;
        Some(v)
    }

    /// Skips any value, checking its grammar (serde checks the values it
    /// ignores too).
    fn skip(&mut self, depth: u32) -> Option<()> {
        match self.peek()? {
            b'"' => self.string().map(drop),
            b'{' => {
                if depth >= MAX_DEPTH {
                    return None;
                }
                self.object(|p, _| p.skip(depth + 1))
            }
            b'[' => {
                if depth >= MAX_DEPTH {
                    return None;
                }
                self.array(|p| p.skip(depth + 1))
            }
            b't' | b'f' => self.opt_bool().map(drop),
            b'n' => self.null().then_some(()),
            _ => self.number().map(drop),
        }
    }

    /// The elements of an array, each consumed by `item`.
    #[inline]
    fn array(&mut self, mut item: impl FnMut(&mut Self) -> Option<()>) -> Option<()> {
        self.eat(b'[')?;
        self.ws();
        if self.eat(b']').is_some() {
            return Some(());
        }
        loop {
            item(self)?;
            self.ws();
            match self.peek()? {
                b',' => {
                    self.i += 1;
                    self.ws();
                }
                b']' => {
                    self.i += 1;
                    return Some(());
                }
                _ => return None,
            }
        }
    }

    /// `null`, or a value read by `read` (serde's `Option<T>`).
    #[inline]
    fn or_null<T>(&mut self, read: impl FnOnce(&mut Self) -> Option<T>) -> Option<Option<T>> {
        if self.null() {
            return Some(None);
        }
        read(self).map(Some)
    }

    /// `null` (leaving `out` as it is: false) or an object read into
    /// `out` (true).
    #[inline]
    fn or_null_into<T>(
        &mut self,
        out: &mut T,
        read: impl FnOnce(&mut Self, &mut T) -> Option<()>,
    ) -> Option<bool> {
        if self.null() {
            return Some(false);
        }
        read(self, out).map(|()| true)
    }

    /// Reads the value of field number `bit` of an object with `read`;
    /// `None` when the field was seen already (serde rejects a repeated
    /// field, so the fast path must not pick either copy).
    #[inline]
    fn once<T>(
        &mut self,
        seen: &mut u32,
        bit: u32,
        read: impl FnOnce(&mut Self) -> Option<T>,
    ) -> Option<T> {
        let m = 1 << bit;
        if *seen & m != 0 {
            return None;
        }
        *seen |= m;
        read(self)
    }

    fn event(&mut self, ev: &mut Event<'a>) -> Option<Raw<'a>> {
        // The required strings wait in locals and enter `ev` once at the
        // end: assigning each as it comes (dropping the placeholder
        // first) measured 3% slower on the decode bench.
        let (mut id, mut time, mut account, mut kind) = (None, None, None, None);
        let mut outcome = None;
        let (mut seen, mut present) = (0, 0u8);
        self.object(|p, key| {
            match key {
                b"id" => id = Some(p.once(&mut seen, 0, Self::string)?),
                b"time" => time = Some(p.once(&mut seen, 1, Self::string)?),
                b"account" => account = Some(p.once(&mut seen, 2, Self::string)?),
                b"type" => kind = Some(p.once(&mut seen, 3, Self::string)?),
                b"actor" => ev.actor = p.once(&mut seen, 4, Self::opt_string)?,
                b"outcome" => outcome = p.once(&mut seen, 5, Self::opt_string)?,
                b"source" => {
                    let read = p.once(&mut seen, 6, |p| {
                        p.or_null_into(&mut ev.source, Self::source)
                    })?;
                    present |= u8::from(read);
                }
                b"device" => {
                    let read = p.once(&mut seen, 7, |p| {
                        p.or_null_into(&mut ev.device, Self::device)
                    })?;
                    present |= u8::from(read) << 1;
                }
                b"post" => {
                    p.once(&mut seen, 8, |p| {
                        if p.null() {
                            return Some(());
                        }
                        p.post(ev.post.insert(Post::default()))
                    })?;
                }
                b"change" => {
                    let read = p.once(&mut seen, 9, |p| {
                        p.or_null_into(&mut ev.change, Self::change)
                    })?;
                    present |= u8::from(read) << 3;
                }
                _ => p.skip(1)?,
            }
            Some(())
        })?;
        // A missing required field is serde's to report.
        ev.id = Cow::Borrowed(id?);
        ev.account = Cow::Borrowed(account?);
        ev.type_name = Cow::Borrowed(kind?);
        Some(Raw {
            time: Cow::Borrowed(time?),
            outcome,
            present,
        })
    }

    fn source(&mut self, s: &mut Source<'a>) -> Option<()> {
        let mut seen = 0;
        self.object(|p, key| {
            match key {
                b"ip" => s.ip = p.once(&mut seen, 0, Self::opt_string)?,
                b"asn" => s.asn = p.once(&mut seen, 1, Self::opt_uint)?,
                b"as_org" => s.as_org = p.once(&mut seen, 2, Self::opt_string)?,
                b"country" => s.country = p.once(&mut seen, 3, Self::opt_string)?,
                b"city" => s.city = p.once(&mut seen, 4, Self::opt_string)?,
                b"lat" => s.lat = p.once(&mut seen, 5, Self::opt_f64)?,
                b"lon" => s.lon = p.once(&mut seen, 6, Self::opt_f64)?,
                b"accuracy_km" => s.accuracy_km = p.once(&mut seen, 7, Self::opt_f64)?,
                b"hosting" => s.hosting = p.once(&mut seen, 8, Self::opt_bool)?,
                _ => p.skip(2)?,
            }
            Some(())
        })
    }

    fn device(&mut self, d: &mut Device<'a>) -> Option<()> {
        let mut seen = 0;
        self.object(|p, key| {
            match key {
                b"id" => d.id = p.once(&mut seen, 0, Self::opt_string)?,
                b"user_agent" => d.user_agent = p.once(&mut seen, 1, Self::opt_string)?,
                b"client" => d.client = p.once(&mut seen, 2, Self::opt_string)?,
                b"session" => d.session = p.once(&mut seen, 3, Self::opt_string)?,
                _ => p.skip(2)?,
            }
            Some(())
        })
    }

    fn post(&mut self, post: &mut Post<'a>) -> Option<()> {
        let mut seen = 0;
        self.object(|p, key| {
            match key {
                b"client" => post.client = p.once(&mut seen, 0, Self::opt_string)?,
                b"links" => post.links = p.once(&mut seen, 1, Self::links)?,
                b"text_len" => post.text_len = p.once(&mut seen, 2, Self::opt_uint)?,
                _ => p.skip(2)?,
            }
            Some(())
        })
    }

    /// `null` (no links) or an array of strings.
    fn links(&mut self) -> Option<Links<'a>> {
        let mut links = Links::default();
        if self.null() {
            return Some(links);
        }
        self.array(|p| {
            let s = p.string()?;
            if (links.kept as usize) < MAX_LINKS {
                links.items[links.kept as usize] = Cow::Borrowed(s);
                links.kept += 1;
            }
            links.total = links.total.saturating_add(1);
            Some(())
        })?;
        Some(links)
    }

    fn change(&mut self, c: &mut Change<'a>) -> Option<()> {
        let mut seen = 0;
        self.object(|p, key| {
            match key {
                b"action" => c.action = p.once(&mut seen, 0, Self::opt_string)?,
                b"field" => c.field = p.once(&mut seen, 1, Self::opt_string)?,
                b"target" => c.target = p.once(&mut seen, 2, Self::opt_string)?,
                b"role" => c.role = p.once(&mut seen, 3, Self::opt_string)?,
                b"app" => c.app = p.once(&mut seen, 4, Self::opt_string)?,
                _ => p.skip(2)?,
            }
            Some(())
        })
    }
}

/// The first position at or after `i`, in steps of 8 bytes, where a
/// byte may end a plain string (a quote, a backslash or a control byte),
/// or the last whole step; the caller checks byte by byte from there.
/// Bit tricks on 8 bytes at once: for each byte, (x - 1) & !x has its high
/// bit set when x is zero (x = the byte xor a quote or a backslash), and
/// (x - 0x20) & !x when x is below 0x20. Borrows only run upwards, so the
/// lowest flagged byte is a true one. User agents (about 100 bytes) made
/// the byte-at-a-time loop 7% of decode + detect on the simulation.
/// The source's account scan uses it too.
#[inline]
pub(crate) fn skip_plain(b: &[u8], mut i: usize) -> usize {
    const LO: u64 = 0x0101_0101_0101_0101;
    const HI: u64 = 0x8080_8080_8080_8080;
    while let Some(chunk) = b.get(i..i + 8) {
        let w = u64::from_le_bytes(chunk.try_into().expect("8 bytes"));
        let quote = w ^ (LO * u64::from(b'"'));
        let backslash = w ^ (LO * u64::from(b'\\'));
        let flagged = (quote.wrapping_sub(LO) & !quote)
            | (backslash.wrapping_sub(LO) & !backslash)
            | (w.wrapping_sub(LO * 0x20) & !w);
        let flagged = flagged & HI;
        if flagged != 0 {
            return i + (flagged.trailing_zeros() / 8) as usize;
        }
        i += 8;
    }
    i
}

/// Powers of ten that `f64` holds exactly.
const POW10: [f64; 16] = [
    1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15,
];

/// A JSON number token with at most 15 digits and no exponent (`14.60`,
/// `-6.26`, `18`: the coordinates and accuracies of every source), the
/// way std would read it, without std's general algorithm. The digits
/// make an integer below 2^53 and the divisor is an exact power of ten,
/// so the one IEEE division rounds correctly: the result is std's, bit
/// for bit (Clinger's fast path; checked against std by a property test).
/// std's parser was 5% of decode + detect on the simulation's events.
#[inline]
fn short_decimal(tok: &[u8]) -> Option<f64> {
    let (neg, body) = match tok.split_first() {
        Some((b'-', rest)) => (true, rest),
        _ => (false, tok),
    };
    let mut mantissa = 0u64;
    let mut digits = 0usize;
    let mut fraction: Option<usize> = None;
    for &c in body {
        match c {
            b'0'..=b'9' => {
                mantissa = mantissa * 10 + u64::from(c - b'0');
                digits += 1;
                if digits > 15 {
                    return None;
                }
                if let Some(f) = fraction.as_mut() {
                    *f += 1;
                }
            }
            b'.' if fraction.is_none() => fraction = Some(0),
            _ => return None,
        }
    }
    if digits == 0 {
        return None;
    }
    let v = mantissa as f64 / POW10[fraction.unwrap_or(0)];
    Some(if neg { -v } else { v })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn serde(text: &str) -> Option<Wire<'_>> {
        serde_json::from_str(text).ok()
    }

    /// Every event the simulator writes is plain, so all of it takes the
    /// fast path, and reads as serde reads it.
    #[test]
    fn simulated_events_take_the_fast_path() {
        let cfg = crate::sim::SimConfig {
            accounts: 30,
            days: 20,
            ..Default::default()
        };
        let mut buf = Vec::new();
        crate::sim::simulate(&cfg, &mut buf, &mut |_| {}).unwrap();
        let text = std::str::from_utf8(&buf).unwrap();
        let mut n = 0;
        for line in text.lines() {
            let fast = parse(line);
            assert!(fast.is_some(), "fast path refused {line}");
            assert_eq!(fast, serde(line), "{line}");
            n += 1;
        }
        assert!(n > 1000, "only {n} events");
    }

    #[test]
    fn unusual_but_valid_events_fall_back_to_serde() {
        let ok = r#""id":"1","time":"2026-03-02T08:21:03Z","account":"a","type":"login""#;
        for line in [
            format!(r#"{{{ok},"actor":"a\"b"}}"#),
            format!(r#"{{{ok},"source":{{"asn":7713.0}}}}"#),
            r#"{"i\u0064":"1","time":"2026-03-02T08:21:03Z","account":"a","type":"login"}"#
                .to_string(),
        ] {
            assert_eq!(parse(&line), None, "{line}");
            assert!(serde(&line).is_some(), "{line}");
        }
        // Whitespace anywhere JSON allows it, nulls, unknown values and
        // numbers in every JSON form are plain.
        let line = format!(
            " {{ {ok} , \"x\" : [ {{ \"y\" : [ ] }} , -0.5e-3 , true , null ] ,\n\"source\":{{\"lat\":-6E0,\"lon\":1.5e+2,\"asn\":null,\"hosting\":false}},\"post\":{{\"links\":null}},\"device\":null }}\t"
        );
        let fast = parse(&line).expect("plain");
        assert_eq!(Some(&fast), serde(&line).as_ref());
        let src = fast.source.unwrap();
        assert_eq!(
            (src.lat, src.lon, src.hosting),
            (Some(-6.0), Some(150.0), Some(false))
        );
    }

    #[test]
    fn invalid_json_is_never_accepted() {
        let ok = r#""id":"1","time":"2026-03-02T08:21:03Z","account":"a","type":"login""#;
        for line in [
            format!(r#"{{{ok},"actor":"a"}} x"#),
            format!(r#"{{{ok},}}"#),
            format!(r#"{{{ok},"x":01}}"#),
            format!(r#"{{{ok},"x":1.}}"#),
            format!(r#"{{{ok},"x":[1,]}}"#),
            format!(r#"{{{ok},"x":nul}}"#),
            format!("{{{ok},\"x\":\"tab\there\"}}"),
            format!(r#"{{{ok},"id":"2"}}"#),
            format!(r#"{{{ok},"source":{{"lat":1e999}}}}"#),
            format!(r#"{{{ok},"source":{{"asn":99999999999999999999}}}}"#),
            format!(r#"{{{ok},"x":{}}}"#, "[".repeat(40) + &"]".repeat(40)),
            r#"{"id":"1","account":"a","type":"login"}"#.to_string(),
        ] {
            assert_eq!(parse(&line), None, "{line}");
        }
    }

    /// JSON text of a scalar, in the forms events use and the odd ones.
    fn scalar() -> BoxedStrategy<String> {
        prop_oneof![
            Just("null".to_string()),
            Just("true".to_string()),
            Just("false".to_string()),
            plain_string(),
            odd_string(),
            number(),
        ]
        .boxed()
    }

    fn plain_string() -> BoxedStrategy<String> {
        "[a-zA-Z0-9:._/ -]{0,10}"
            .prop_map(|s| format!("\"{s}\""))
            .boxed()
    }

    /// Escapes, multi-byte UTF-8, a raw control character.
    fn odd_string() -> BoxedStrategy<String> {
        "[a-z]{0,3}(\\\\[\"\\\\/bfnrt]|\\\\u00[0-7][0-9a-f]|é|\t)[a-z]{0,3}"
            .prop_map(|s| format!("\"{s}\""))
            .boxed()
    }

    /// Numbers in every JSON form (and some beyond f64 and u64).
    fn number() -> BoxedStrategy<String> {
        prop_oneof![
            "-?(0|[1-9][0-9]{0,21})(\\.[0-9]{1,6})?([eE][+-]?[0-9]{1,3})?",
            (-180.0..180.0f64).prop_map(|v| v.to_string()),
            "[0-9]{1,6}",
            // Not JSON: leading zeros, empty fractions or exponents.
            "-?0[0-9]{1,2}|-?[0-9]{1,2}\\.([eE][0-9])?|[0-9][eE][+-]?|-",
        ]
        .boxed()
    }

    fn ws() -> impl Strategy<Value = &'static str> {
        prop_oneof![4 => Just(""), 1 => Just(" "), 1 => Just("\n\t ")]
    }

    fn object(members: Vec<(String, String)>, ws: &str) -> String {
        let body: Vec<String> = members
            .iter()
            .map(|(k, v)| format!("{ws}\"{k}\"{ws}:{ws}{v}{ws}"))
            .collect();
        format!("{{{}}}", body.join(","))
    }

    /// JSON text of any value (for unknown fields and wrong types).
    fn value() -> BoxedStrategy<String> {
        scalar()
            .prop_recursive(3, 24, 5, |inner| {
                prop_oneof![
                    (proptest::collection::vec(inner.clone(), 0..4), ws())
                        .prop_map(|(items, ws)| format!("[{ws}{}{ws}]", items.join(","))),
                    (proptest::collection::vec(("[a-z]{1,3}", inner), 0..4), ws())
                        .prop_map(|(m, ws)| object(m, ws)),
                ]
            })
            .boxed()
    }

    #[derive(Debug, Clone, Copy)]
    enum Ty {
        Str,
        F64,
        Uint,
        Bool,
        Links,
        Obj(&'static [(&'static str, Ty)]),
    }

    const SOURCE: &[(&str, Ty)] = &[
        ("ip", Ty::Str),
        ("asn", Ty::Uint),
        ("as_org", Ty::Str),
        ("country", Ty::Str),
        ("city", Ty::Str),
        ("lat", Ty::F64),
        ("lon", Ty::F64),
        ("accuracy_km", Ty::F64),
        ("hosting", Ty::Bool),
    ];
    const DEVICE: &[(&str, Ty)] = &[
        ("id", Ty::Str),
        ("user_agent", Ty::Str),
        ("client", Ty::Str),
        ("session", Ty::Str),
    ];
    const POST: &[(&str, Ty)] = &[
        ("client", Ty::Str),
        ("links", Ty::Links),
        ("text_len", Ty::Uint),
    ];
    const CHANGE: &[(&str, Ty)] = &[
        ("action", Ty::Str),
        ("field", Ty::Str),
        ("target", Ty::Str),
        ("role", Ty::Str),
        ("app", Ty::Str),
    ];
    const EVENT: &[(&str, Ty)] = &[
        ("id", Ty::Str),
        ("time", Ty::Str),
        ("account", Ty::Str),
        ("type", Ty::Str),
        ("actor", Ty::Str),
        ("outcome", Ty::Str),
        ("source", Ty::Obj(SOURCE)),
        ("device", Ty::Obj(DEVICE)),
        ("post", Ty::Obj(POST)),
        ("change", Ty::Obj(CHANGE)),
    ];

    /// A value of a field: mostly of its type, sometimes null, sometimes
    /// anything at all.
    fn typed(ty: Ty) -> BoxedStrategy<String> {
        let good = match ty {
            Ty::Str => prop_oneof![30 => plain_string(), 1 => odd_string()].boxed(),
            Ty::F64 => number(),
            Ty::Uint => prop_oneof![
                10 => "(0|[1-9][0-9]{0,5})",
                1 => number(),
            ]
            .boxed(),
            Ty::Bool => prop_oneof![Just("true".to_string()), Just("false".to_string())].boxed(),
            Ty::Links => (proptest::collection::vec(plain_string(), 0..12), ws())
                .prop_map(|(l, ws)| format!("[{ws}{}{ws}]", l.join(",")))
                .boxed(),
            Ty::Obj(fields) => members(fields, 0),
        };
        prop_oneof![60 => good, 2 => Just("null".to_string()), 1 => value()].boxed()
    }

    /// An object of `fields`: each present or not (the first `required`
    /// nearly always), in any order, perhaps with an unknown member and
    /// perhaps with a field repeated.
    fn members(fields: &'static [(&'static str, Ty)], required: usize) -> BoxedStrategy<String> {
        let each: Vec<_> = fields
            .iter()
            .enumerate()
            .map(|(i, &(k, ty))| {
                let p = if i < required { 0.98 } else { 0.6 };
                proptest::option::weighted(p, typed(ty)).prop_map(move |v| v.map(|v| (k, v)))
            })
            .collect();
        (
            each,
            proptest::option::weighted(0.3, value()),
            proptest::option::weighted(0.05, any::<prop::sample::Index>()),
            ws(),
        )
            .prop_flat_map(|(each, unknown, repeat, ws)| {
                let mut m: Vec<(String, String)> = each
                    .into_iter()
                    .flatten()
                    .map(|(k, v)| (k.to_string(), v))
                    .collect();
                if let Some(v) = unknown {
                    m.push(("x".to_string(), v));
                }
                if let (Some(at), false) = (repeat, m.is_empty()) {
                    m.push(m[at.index(m.len())].clone());
                }
                Just(m).prop_shuffle().prop_map(move |m| object(m, ws))
            })
            .boxed()
    }

    /// An event, then perhaps one byte inserted or removed.
    fn event() -> impl Strategy<Value = Vec<u8>> {
        let mutation = prop_oneof![
            4 => Just(None),
            1 => (any::<prop::sample::Index>(), proptest::sample::select(
                &[None, Some(b'{'), Some(b'}'), Some(b'['), Some(b'"'), Some(b','), Some(b':'), Some(b'\\'), Some(b'0'), Some(b'-'), Some(b' ')][..]
            )).prop_map(Some),
        ];
        (members(EVENT, 4), mutation).prop_map(|(text, mutation)| {
            let mut bytes = text.into_bytes();
            if let Some((at, byte)) = mutation {
                let at = at.index(bytes.len());
                match byte {
                    Some(c) => bytes.insert(at, c),
                    None => {
                        bytes.remove(at);
                    }
                }
            }
            bytes
        })
    }

    /// The property below means something only if the generator reaches
    /// the fast path often: check that it does.
    #[test]
    fn generated_events_often_take_the_fast_path() {
        use proptest::strategy::ValueTree;
        let mut runner = proptest::test_runner::TestRunner::deterministic();
        let strategy = event();
        let n = 2000;
        let accepted = (0..n)
            .filter(|_| {
                let bytes = strategy.new_tree(&mut runner).unwrap().current();
                std::str::from_utf8(&bytes).ok().and_then(parse).is_some()
            })
            .count();
        assert!(accepted * 6 > n, "fast path took {accepted} of {n}");
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(4000))]

        /// The fast path's one obligation: whatever it accepts, serde
        /// accepts with the same result.
        #[test]
        fn agrees_with_serde(bytes in event()) {
            // Invalid UTF-8 never reaches either parser.
            if let Ok(text) = std::str::from_utf8(&bytes)
                && let Some(fast) = parse(text)
            {
                prop_assert_eq!(Some(fast), serde(text), "{}", text);
            }
        }

        /// The short-decimal path reads a number exactly as std does, bit
        /// for bit, or leaves it to std.
        #[test]
        fn short_decimals_are_read_as_std_reads_them(
            tok in prop_oneof![
                number(),
                "-?(0|[1-9][0-9]{0,8})\\.[0-9]{1,8}",
                (-1e6..1e6f64).prop_map(|v| format!("{v}")),
            ]
        ) {
            if let Some(v) = super::short_decimal(tok.as_bytes()) {
                let std: f64 = tok.parse().unwrap();
                prop_assert_eq!(v.to_bits(), std.to_bits(), "{}", tok);
            }
        }
    }

    proptest! {
        /// Eight bytes at a time stops where a byte-by-byte scan would:
        /// never past an ending byte, and short only by a partial step.
        #[test]
        fn skip_plain_stops_where_a_byte_scan_would(
            bytes in prop::collection::vec(prop_oneof![
                8 => 0x20u8..0x7f,
                1 => Just(b'"'),
                1 => Just(b'\\'),
                1 => 0u8..0x20,
                2 => 0x80u8..=0xff,
            ], 0..64),
            from in 0usize..8,
        ) {
            let from = from.min(bytes.len());
            let ends = |c: u8| c == b'"' || c == b'\\' || c < 0x20;
            let naive = bytes[from..].iter().position(|&c| ends(c)).map(|p| from + p);
            let got = super::skip_plain(&bytes, from);
            if let Some(p) = naive {
                prop_assert!(got <= p, "{got} past {p}");
                prop_assert!(got == p || p - got < 8 && got + 8 > bytes.len(), "{got} short of {p}");
            } else {
                prop_assert!(bytes.len() - got < 8);
            }
        }
    }

    #[test]
    fn short_decimals_cover_the_coordinates_and_leave_the_rest() {
        assert_eq!(super::short_decimal(b"14.60"), Some(14.6));
        assert_eq!(super::short_decimal(b"-6.26"), Some(-6.26));
        assert_eq!(super::short_decimal(b"18"), Some(18.0));
        assert_eq!(
            super::short_decimal(b"-0").map(f64::to_bits),
            Some((-0.0f64).to_bits())
        );
        // Exponents and 16 digits or more go to std.
        assert_eq!(super::short_decimal(b"1e3"), None);
        assert_eq!(super::short_decimal(b"0.1234567890123456"), None);
        assert_eq!(super::short_decimal(b"9007199254740993"), None);
    }
}
