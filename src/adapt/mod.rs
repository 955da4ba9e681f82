//! Vendor log formats in: adapters from identity-provider and workspace
//! logs to kawal's events (`docs/adapters/`).
//!
//! The platforms that host official accounts publish no security log for
//! them; the identity provider behind the people who hold the credentials
//! does. Each adapter reads one vendor's JSON (already parsed into a
//! [`serde_json::Value`]) and writes zero or more [`Event`]s that borrow
//! their strings from it, so a record costs one parse and few copies.
//!
//! One rule for whose account an event is, in every adapter: the protected
//! account is the user whose session acted. An event that changes another
//! user (an admin's grant, a reset of someone's two-factor) is the actor's
//! event with the other user in `change.target`, and is written a second
//! time on the target's account (actor: the admin), because a grant
//! received or a factor reset by someone else is what a takeover of the
//! target looks like.
//!
//! Types an adapter does not map are counted per format and type
//! ([`Batch::unmapped`]), never errors. A record that is not the named
//! format at all is an [`AdaptError`] with the reason.
//!
//! Outside the detector's hot path: the native decoder stays the zero-copy
//! path; vendor logs arrive at identity-provider rates (thousands of
//! records a second at the largest tenants), and `benches/adapters.rs`
//! holds each adapter to at least half the speed of a bare parse.

use std::borrow::Cow;
use std::io::{self, BufRead, Read};

use serde_json::Value;

use crate::decode::{Event, EventKind, MAX_EVENT_BYTES, NO_COUNTRY, Outcome, country_code};
use crate::time::{Millis, parse_rfc3339};

pub use input::Input;

mod countries;
pub mod entra;
pub mod google_workspace;
mod input;
pub mod ocsf;
pub mod okta;

/// An input format: kawal's own contract, or a vendor's.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Format {
    #[default]
    Native,
    Okta,
    Entra,
    GoogleWorkspace,
    Ocsf,
}

impl Format {
    pub const ALL: [Format; 5] = [
        Format::Native,
        Format::Okta,
        Format::Entra,
        Format::GoogleWorkspace,
        Format::Ocsf,
    ];

    /// The name used in the config (`format = "okta"`), on the command
    /// line (`--format okta`) and as a metric label.
    pub fn as_str(self) -> &'static str {
        match self {
            Format::Native => "native",
            Format::Okta => "okta",
            Format::Entra => "entra",
            Format::GoogleWorkspace => "google_workspace",
            Format::Ocsf => "ocsf",
        }
    }

    pub fn parse(s: &str) -> Option<Format> {
        Format::ALL.into_iter().find(|f| f.as_str() == s)
    }

    /// The accepted names, for error messages and `--help`.
    pub fn names() -> String {
        Format::ALL.map(|f| f.as_str()).join(", ")
    }
}

impl std::fmt::Display for Format {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What one record became: events, and the vendor types it held that
/// kawal does not map (an Admin SDK activity can hold several events).
#[derive(Debug, Default)]
pub struct Batch<'v> {
    pub events: Vec<Event<'v>>,
    pub unmapped: Vec<Cow<'v, str>>,
}

impl<'v> Batch<'v> {
    fn skip(&mut self, vendor_type: impl Into<Cow<'v, str>>) {
        self.unmapped.push(vendor_type.into());
    }
}

/// A record that is not the named format.
#[derive(Debug, thiserror::Error)]
pub enum AdaptError {
    #[error("not JSON: {0}")]
    Json(#[from] serde_json::Error),
    #[error("record larger than 1 MiB")]
    TooLarge,
    #[error("not {format}: {why}")]
    NotFormat { format: Format, why: &'static str },
}

impl AdaptError {
    /// A stable label (metrics, dead-letter headers).
    pub fn kind(&self) -> &'static str {
        match self {
            AdaptError::Json(_) => "bad_json",
            AdaptError::TooLarge => "too_large",
            AdaptError::NotFormat { .. } => "not_format",
        }
    }
}

fn not(format: Format, why: &'static str) -> AdaptError {
    AdaptError::NotFormat { format, why }
}

/// Maps one parsed vendor record into `out`. A JSON array, or an object
/// whose only content is a `records` (Azure Event Hub) or `items` (Admin
/// SDK response) array, is read as its elements.
pub fn adapt<'v>(format: Format, v: &'v Value, out: &mut Batch<'v>) -> Result<(), AdaptError> {
    if let Some(items) = envelope(v) {
        for item in items {
            adapt(format, item, out)?;
        }
        return Ok(());
    }
    match format {
        // Native events are decoded, not adapted (`decode`): zero-copy.
        Format::Native => Err(not(format, "native events go through the decoder")),
        Format::Okta => okta::record(v, out),
        Format::Entra => entra::record(v, out),
        Format::GoogleWorkspace => google_workspace::record(v, out),
        Format::Ocsf => ocsf::record(v, out),
    }
}

/// The elements of a batch wrapper, if `v` is one.
fn envelope(v: &Value) -> Option<&Vec<Value>> {
    match v {
        Value::Array(a) => Some(a),
        Value::Object(o) => {
            let key = ["records", "items", "events"]
                .into_iter()
                .find(|k| o.get(*k).is_some_and(Value::is_array))?;
            // An Admin SDK activity has an `events` array of its own, next
            // to `id` and `actor`: only a bare wrapper is unwrapped.
            let wrapper = o
                .keys()
                .all(|k| k == key || matches!(k.as_str(), "kind" | "etag" | "nextPageToken"));
            wrapper
                .then(|| o.get(key).and_then(Value::as_array))
                .flatten()
        }
        _ => None,
    }
}

// ---- reading values -------------------------------------------------------

/// The value at `path` (object keys), if every step exists.
pub(crate) fn at<'v>(v: &'v Value, path: &[&str]) -> Option<&'v Value> {
    path.iter().try_fold(v, |v, k| v.get(k))
}

/// A non-empty string at `path`.
pub(crate) fn text<'v>(v: &'v Value, path: &[&str]) -> Option<&'v str> {
    at(v, path)?.as_str().filter(|s| !s.is_empty())
}

/// A number at `path`, written as a number or as a decimal string.
pub(crate) fn number(v: &Value, path: &[&str]) -> Option<f64> {
    match at(v, path)? {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
    .filter(|x: &f64| x.is_finite())
}

/// A non-negative integer at `path` (numbers, integral floats, strings).
pub(crate) fn integer(v: &Value, path: &[&str]) -> Option<u64> {
    let x = number(v, path)?;
    (x >= 0.0 && x.fract() == 0.0 && x < u64::MAX as f64).then_some(x as u64)
}

/// `s` lower-cased, borrowed when it already is (logins, UPNs and email
/// addresses differ in case between sources; one person, one baseline).
pub(crate) fn lower(s: &str) -> Cow<'_, str> {
    if s.bytes().any(|b| b.is_ascii_uppercase()) {
        Cow::Owned(s.to_ascii_lowercase())
    } else {
        Cow::Borrowed(s)
    }
}

/// An ISO 3166-1 alpha-2 code from a code in any case or an English
/// country name ("United States", "Viet Nam", "South Korea").
pub(crate) fn country(s: &str) -> Option<&'static str> {
    let t = s.trim();
    if t.len() == 2 && t.bytes().all(|b| b.is_ascii_alphabetic()) {
        let up = t.to_ascii_uppercase();
        return countries::NAMES
            .iter()
            .find(|(_, c)| *c == up)
            .map(|(_, c)| *c);
    }
    if t.len() > 64 {
        return None;
    }
    let key = t.to_lowercase();
    countries::NAMES
        .binary_search_by(|(n, _)| n.cmp(&key.as_str()))
        .ok()
        .map(|i| countries::NAMES[i].1)
}

/// An RFC 3339 time, or Unix milliseconds (seconds when the number is too
/// small to be milliseconds of this century: producers that write OCSF
/// `time` in seconds exist, ocsf/examples has some).
pub(crate) fn time_of(v: &Value) -> Option<Millis> {
    match v {
        Value::String(s) => parse_rfc3339(s),
        Value::Number(n) => {
            let x = n.as_f64()?;
            if !(x.is_finite() && x > 0.0) {
                return None;
            }
            // 1e11 ms is 1973-03-03; 1e11 s is the year 5138.
            let ms = if x < 1e11 { x * 1000.0 } else { x };
            (ms < 32_503_680_000_000.0).then_some(ms as Millis) // before 3000
        }
        _ => None,
    }
}

// ---- building events ------------------------------------------------------

/// An event with the required fields; the adapter fills the rest.
pub(crate) fn event<'v>(
    id: impl Into<Cow<'v, str>>,
    time: Millis,
    account: Cow<'v, str>,
    kind: EventKind,
) -> Event<'v> {
    Event {
        id: id.into(),
        time,
        account,
        kind,
        type_name: Cow::Borrowed(kind.as_str()),
        ..Event::blank()
    }
}

/// `ev` with an extension type name (a kind kawal has no name for, kept
/// as `Other`: the access it shows is scored, nothing else).
pub(crate) fn other<'v>(mut ev: Event<'v>, type_name: &'static str) -> Event<'v> {
    ev.kind = EventKind::Other;
    ev.type_name = Cow::Borrowed(type_name);
    ev
}

/// Pushes `ev`, and when it changed another user, `target`, a copy on the
/// target's own account: the same evidence, seen from the person it
/// happened to (the module rule).
pub(crate) fn push_both<'v>(out: &mut Batch<'v>, ev: Event<'v>, target: Option<Cow<'v, str>>) {
    match target.filter(|t| *t != ev.account) {
        Some(t) => {
            let mut copy = ev.clone();
            copy.account = t;
            push(out, ev);
            push(out, copy);
        }
        None => push(out, ev),
    }
}

/// Source fields the contract validates, made valid: a vendor's odd value
/// is dropped, not the event (its other fields are still evidence).
pub(crate) fn sanitize(ev: &mut Event<'_>) {
    let s = &mut ev.source;
    if s.lat.is_some_and(|x| !(-90.0..=90.0).contains(&x))
        || s.lon.is_some_and(|x| !(-180.0..=180.0).contains(&x))
        || s.lat.is_some() != s.lon.is_some()
        || s.lat == Some(0.0) && s.lon == Some(0.0)
    {
        s.lat = None;
        s.lon = None;
    }
    if s.country.as_deref().map(country_code) == Some(NO_COUNTRY) {
        s.country = None;
    }
}

/// Pushes `ev` when it has an id and an account.
pub(crate) fn push<'v>(out: &mut Batch<'v>, mut ev: Event<'v>) {
    if ev.id.is_empty() || ev.account.is_empty() {
        return;
    }
    sanitize(&mut ev);
    out.events.push(ev);
}

/// `success`/`failure` from a vendor's result word.
pub(crate) fn outcome_word(s: &str) -> Option<Outcome> {
    match s.to_ascii_lowercase().as_str() {
        "success" | "allow" | "succeeded" | "true" => Some(Outcome::Success),
        "failure" | "deny" | "failed" | "false" => Some(Outcome::Failure),
        _ => None,
    }
}

// ---- native output --------------------------------------------------------

/// Writes `ev` as one line of kawal's native contract (no newline).
pub fn write_native(ev: &Event<'_>, out: &mut Vec<u8>) {
    let mut o = serde_json::Map::new();
    let s = |x: &str| Value::String(x.to_owned());
    o.insert("id".into(), s(&ev.id));
    o.insert("time".into(), s(&crate::time::rfc3339(ev.time)));
    o.insert("account".into(), s(&ev.account));
    o.insert("type".into(), s(&ev.type_name));
    if let Some(a) = &ev.actor {
        o.insert("actor".into(), s(a));
    }
    if let Some(r) = ev.outcome {
        let w = if r == Outcome::Success {
            "success"
        } else {
            "failure"
        };
        o.insert("outcome".into(), s(w));
    }
    let mut src = serde_json::Map::new();
    let opt = |m: &mut serde_json::Map<String, Value>, k: &str, v: &Option<Cow<'_, str>>| {
        if let Some(v) = v {
            m.insert(k.into(), s(v));
        }
    };
    opt(&mut src, "ip", &ev.source.ip);
    if let Some(a) = ev.source.asn {
        src.insert("asn".into(), a.into());
    }
    opt(&mut src, "as_org", &ev.source.as_org);
    opt(&mut src, "country", &ev.source.country);
    opt(&mut src, "city", &ev.source.city);
    for (k, v) in [
        ("lat", ev.source.lat),
        ("lon", ev.source.lon),
        ("accuracy_km", ev.source.accuracy_km),
    ] {
        if let Some(x) = v.and_then(serde_json::Number::from_f64) {
            src.insert(k.into(), Value::Number(x));
        }
    }
    if let Some(h) = ev.source.hosting {
        src.insert("hosting".into(), h.into());
    }
    if !src.is_empty() {
        o.insert("source".into(), src.into());
    }
    let mut dev = serde_json::Map::new();
    opt(&mut dev, "id", &ev.device.id);
    opt(&mut dev, "user_agent", &ev.device.user_agent);
    opt(&mut dev, "client", &ev.device.client);
    opt(&mut dev, "session", &ev.device.session);
    if !dev.is_empty() {
        o.insert("device".into(), dev.into());
    }
    if let Some(p) = &ev.post {
        let mut m = serde_json::Map::new();
        opt(&mut m, "client", &p.client);
        m.insert("links".into(), p.links.iter().map(s).collect());
        if let Some(n) = p.text_len {
            m.insert("text_len".into(), n.into());
        }
        o.insert("post".into(), m.into());
    }
    let mut ch = serde_json::Map::new();
    opt(&mut ch, "action", &ev.change.action);
    opt(&mut ch, "field", &ev.change.field);
    opt(&mut ch, "target", &ev.change.target);
    opt(&mut ch, "role", &ev.change.role);
    opt(&mut ch, "app", &ev.change.app);
    if !ch.is_empty() {
        o.insert("change".into(), ch.into());
    }
    serde_json::to_writer(&mut *out, &Value::Object(o)).expect("a map serialises");
}

// ---- translating a stream -------------------------------------------------

/// What a translation read: records, events written, types not mapped
/// (per vendor type), records that were not the format (by kind).
#[derive(Debug, Default, Clone)]
pub struct Counts {
    pub records: u64,
    pub events: u64,
    pub unmapped: std::collections::BTreeMap<String, u64>,
    pub invalid: std::collections::BTreeMap<&'static str, u64>,
}

impl Counts {
    pub fn unmapped_total(&self) -> u64 {
        self.unmapped.values().sum()
    }

    pub fn invalid_total(&self) -> u64 {
        self.invalid.values().sum()
    }

    fn note_unmapped(&mut self, t: &str) {
        // Bounded: vendor types are a few hundred; a flood of made-up ones
        // is folded into one row.
        if self.unmapped.len() < 1024 || self.unmapped.contains_key(t) {
            *self.unmapped.entry(t.to_owned()).or_default() += 1;
        } else {
            *self.unmapped.entry("(other types)".to_owned()).or_default() += 1;
        }
    }
}

/// A reader of native NDJSON made from a reader of vendor records: what
/// `kawal replay --format` and `kawal produce --format` read, so the rest
/// of the pipeline (sharding by account, keys, invalid counts) is the one
/// native events take.
///
/// Records are one JSON value per line, or pretty-printed values spread
/// over lines (a line that ends a value early is joined with the next, up
/// to 1 MiB), or wrapped in `records`/`items` arrays.
pub struct Translate<R> {
    input: io::BufReader<R>,
    format: Format,
    record: Vec<u8>,
    line: Vec<u8>,
    ready: Vec<u8>,
    pos: usize,
    line_no: u64,
    eof: bool,
    counts: std::sync::Arc<std::sync::Mutex<Counts>>,
}

impl<R: Read> Translate<R> {
    pub fn new(input: R, format: Format) -> Self {
        Translate {
            input: io::BufReader::with_capacity(1 << 16, input),
            format,
            record: Vec::new(),
            line: Vec::new(),
            ready: Vec::new(),
            pos: 0,
            line_no: 0,
            eof: false,
            counts: Default::default(),
        }
    }

    /// The running counts (shared: read them after the reader is done).
    pub fn counts(&self) -> std::sync::Arc<std::sync::Mutex<Counts>> {
        self.counts.clone()
    }

    /// Reads lines until one record is complete, and translates it into
    /// `ready`. Returns false at the end of the input.
    fn fill(&mut self) -> io::Result<bool> {
        self.ready.clear();
        self.pos = 0;
        while self.ready.is_empty() {
            if self.eof {
                return Ok(false);
            }
            self.line.clear();
            let n = self.input.read_until(b'\n', &mut self.line)?;
            if n == 0 {
                self.eof = true;
                if self.record.iter().all(u8::is_ascii_whitespace) {
                    return Ok(false);
                }
                // A value cut short by the end of the input.
                let rec = std::mem::take(&mut self.record);
                self.translate(&rec, true);
                continue;
            }
            self.line_no += 1;
            self.record.extend_from_slice(&self.line);
            if self.record.iter().all(u8::is_ascii_whitespace) {
                self.record.clear();
                continue;
            }
            let rec = std::mem::take(&mut self.record);
            if !self.translate(&rec, false) {
                self.record = rec; // incomplete: join the next line
            }
        }
        Ok(true)
    }

    /// Translates one record; false when it is JSON cut short (and may
    /// continue on the next line).
    fn translate(&mut self, rec: &[u8], last: bool) -> bool {
        let mut counts = self.counts.lock().expect("counts");
        let parsed = if rec.len() > MAX_EVENT_BYTES {
            Err(AdaptError::TooLarge)
        } else {
            serde_json::from_slice::<Value>(rec).map_err(AdaptError::from)
        };
        let v = match parsed {
            Ok(v) => v,
            Err(AdaptError::Json(e)) if e.is_eof() && !last => return false,
            Err(e) => {
                self.invalid(&mut counts, &e);
                return true;
            }
        };
        counts.records += 1;
        let mut batch = Batch::default();
        match adapt(self.format, &v, &mut batch) {
            Ok(()) => {
                for t in &batch.unmapped {
                    counts.note_unmapped(t);
                }
                for ev in &batch.events {
                    write_native(ev, &mut self.ready);
                    self.ready.push(b'\n');
                    counts.events += 1;
                }
            }
            Err(e) => self.invalid(&mut counts, &e),
        }
        true
    }

    fn invalid(&self, counts: &mut Counts, e: &AdaptError) {
        let n = counts.invalid.entry(e.kind()).or_default();
        *n += 1;
        if *n <= 3 {
            tracing::warn!(format = self.format.as_str(), line = self.line_no, kind = e.kind(), error = %e, "record skipped: not the format");
        }
    }
}

impl<R: Read> Read for Translate<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.pos >= self.ready.len() && !self.fill()? {
            return Ok(0);
        }
        let n = buf.len().min(self.ready.len() - self.pos);
        buf[..n].copy_from_slice(&self.ready[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}

#[cfg(test)]
mod tests;
