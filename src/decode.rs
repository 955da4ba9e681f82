//! Decoding activity events (contract: `docs/EVENTS.md`).
//!
//! Events are decoded straight from the input bytes with borrowed strings:
//! every text field is a `Cow<str>` that points into the input buffer and
//! only owns a copy when the JSON string holds an escape sequence, so the
//! usual event costs no allocation. Links in a post are kept in a fixed
//! array (the first [`MAX_LINKS`]; the total is counted) for the same reason.
//!
//! Decoding is strict where the contract is (required fields, RFC 3339 time,
//! coordinate ranges, country codes, the outcome enum) and lenient where it
//! allows more: unknown fields are ignored and unknown `type`s are kept as
//! [`EventKind::Other`]. A post without a `post` object, or a change without
//! a `change` object, is accepted: the contract names them but its schema
//! does not require them, and such events still carry timing and context.
//!
//! Two parsers, one result: a scanner written for this schema (`fast`)
//! reads the plain events that make up nearly all traffic, and gives up on
//! anything else (escapes, odd number forms, wrong types, malformed JSON),
//! which serde's derive then reads or rejects with a precise error. Both
//! produce the same wire form, validated by one function, so the two paths
//! cannot disagree on what is valid; a property test holds the scanner to
//! serde's result on everything it accepts.
//!
//! Errors are a small `Copy` enum plus the underlying serde message when
//! there is one; [`DecodeError::kind`] is a static string suitable as a
//! metric label.

use serde::Deserialize;
use serde::de::{self, Deserializer, SeqAccess, Visitor};
use std::borrow::Cow;
use std::fmt;

use crate::time::{Millis, parse_rfc3339};

mod fast;
pub(crate) use fast::skip_plain;

/// Links kept per post; more are counted, not kept.
pub const MAX_LINKS: usize = 8;
/// Events larger than this are rejected before parsing (memory guard).
pub const MAX_EVENT_BYTES: usize = 1 << 20;

/// What happened, by contract `type`. Unknown types are valid: `Other`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EventKind {
    Login,
    Logout,
    Post,
    ProfileChange,
    PasswordChange,
    PasswordReset,
    MfaChange,
    RecoveryChange,
    RoleChange,
    AppAuthorization,
    /// An analyst's verdict on an incident (`change.action`: the verdict,
    /// `change.target`: the incident id); see `detect::feedback`.
    Feedback,
    Other,
}

impl EventKind {
    pub const ALL: [EventKind; 12] = [
        EventKind::Login,
        EventKind::Logout,
        EventKind::Post,
        EventKind::ProfileChange,
        EventKind::PasswordChange,
        EventKind::PasswordReset,
        EventKind::MfaChange,
        EventKind::RecoveryChange,
        EventKind::RoleChange,
        EventKind::AppAuthorization,
        EventKind::Feedback,
        EventKind::Other,
    ];

    pub fn parse(s: &str) -> EventKind {
        match s {
            "login" => EventKind::Login,
            "logout" => EventKind::Logout,
            "post" => EventKind::Post,
            "profile_change" => EventKind::ProfileChange,
            "password_change" => EventKind::PasswordChange,
            "password_reset" => EventKind::PasswordReset,
            "mfa_change" => EventKind::MfaChange,
            "recovery_change" => EventKind::RecoveryChange,
            "role_change" => EventKind::RoleChange,
            "app_authorization" => EventKind::AppAuthorization,
            "feedback" => EventKind::Feedback,
            _ => EventKind::Other,
        }
    }

    /// Contract name; `other` for unknown types (a metric label).
    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::Login => "login",
            EventKind::Logout => "logout",
            EventKind::Post => "post",
            EventKind::ProfileChange => "profile_change",
            EventKind::PasswordChange => "password_change",
            EventKind::PasswordReset => "password_reset",
            EventKind::MfaChange => "mfa_change",
            EventKind::RecoveryChange => "recovery_change",
            EventKind::RoleChange => "role_change",
            EventKind::AppAuthorization => "app_authorization",
            EventKind::Feedback => "feedback",
            EventKind::Other => "other",
        }
    }

    pub fn index(self) -> usize {
        self as usize
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Success,
    Failure,
}

#[derive(Debug, Default, Clone, PartialEq, Deserialize)]
pub struct Source<'a> {
    #[serde(borrow, default, deserialize_with = "de_opt_cow")]
    pub ip: Option<Cow<'a, str>>,
    #[serde(default, deserialize_with = "de_opt_uint")]
    pub asn: Option<u64>,
    #[serde(borrow, default, deserialize_with = "de_opt_cow")]
    pub as_org: Option<Cow<'a, str>>,
    #[serde(borrow, default, deserialize_with = "de_opt_cow")]
    pub country: Option<Cow<'a, str>>,
    #[serde(borrow, default, deserialize_with = "de_opt_cow")]
    pub city: Option<Cow<'a, str>>,
    #[serde(default)]
    pub lat: Option<f64>,
    #[serde(default)]
    pub lon: Option<f64>,
    #[serde(default)]
    pub accuracy_km: Option<f64>,
    /// Extension: the network is a hosting, VPN, proxy or Tor network (set
    /// by GeoIP enrichment, or by a producer that knows).
    #[serde(default)]
    pub hosting: Option<bool>,
}

impl Source<'_> {
    /// Both coordinates, when given.
    pub fn position(&self) -> Option<(f64, f64)> {
        Some((self.lat?, self.lon?))
    }
}

#[derive(Debug, Default, Clone, PartialEq, Deserialize)]
pub struct Device<'a> {
    #[serde(borrow, default, deserialize_with = "de_opt_cow")]
    pub id: Option<Cow<'a, str>>,
    #[serde(borrow, default, deserialize_with = "de_opt_cow")]
    pub user_agent: Option<Cow<'a, str>>,
    #[serde(borrow, default, deserialize_with = "de_opt_cow")]
    pub client: Option<Cow<'a, str>>,
    /// Extension: the platform's id of the sign-in session this event
    /// belongs to (Entra `sessionId`, Okta
    /// `authenticationContext.externalSessionId`). Optional; without it
    /// sessions are inferred from the device and time.
    #[serde(borrow, default, deserialize_with = "de_opt_cow")]
    pub session: Option<Cow<'a, str>>,
}

#[derive(Debug, Default, Clone, PartialEq, Deserialize)]
pub struct Post<'a> {
    #[serde(borrow, default, deserialize_with = "de_opt_cow")]
    pub client: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    pub links: Links<'a>,
    #[serde(default, deserialize_with = "de_opt_uint")]
    pub text_len: Option<u64>,
}

#[derive(Debug, Default, Clone, PartialEq, Deserialize)]
pub struct Change<'a> {
    #[serde(borrow, default, deserialize_with = "de_opt_cow")]
    pub action: Option<Cow<'a, str>>,
    #[serde(borrow, default, deserialize_with = "de_opt_cow")]
    pub field: Option<Cow<'a, str>>,
    #[serde(borrow, default, deserialize_with = "de_opt_cow")]
    pub target: Option<Cow<'a, str>>,
    #[serde(borrow, default, deserialize_with = "de_opt_cow")]
    pub role: Option<Cow<'a, str>>,
    #[serde(borrow, default, deserialize_with = "de_opt_cow")]
    pub app: Option<Cow<'a, str>>,
}

/// The first [`MAX_LINKS`] links of a post, borrowed, and how many there were.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Links<'a> {
    items: [Cow<'a, str>; MAX_LINKS],
    kept: u8,
    /// All links in the post, kept or not.
    pub total: u32,
}

impl<'a> Links<'a> {
    pub fn iter(&self) -> impl Iterator<Item = &str> {
        self.items[..self.kept as usize].iter().map(|c| c.as_ref())
    }
    pub fn is_empty(&self) -> bool {
        self.total == 0
    }
}

impl<'de: 'a, 'a> Deserialize<'de> for Links<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<'a>(std::marker::PhantomData<&'a ()>);
        impl<'de: 'a, 'a> Visitor<'de> for V<'a> {
            type Value = Links<'a>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("an array of URL strings")
            }
            fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
                Ok(Links::default())
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
                let mut links = Links::default();
                while let Some(s) = seq.next_element::<BorrowedStr<'a>>()? {
                    if (links.kept as usize) < MAX_LINKS {
                        links.items[links.kept as usize] = s.0;
                        links.kept += 1;
                    }
                    links.total = links.total.saturating_add(1);
                }
                Ok(links)
            }
        }
        d.deserialize_any(V(std::marker::PhantomData))
    }
}

/// A `Cow<str>` that borrows whenever serde can (newtype so that sequence
/// elements borrow too; `Cow`'s own impl always copies).
struct BorrowedStr<'a>(Cow<'a, str>);

impl<'de: 'a, 'a> Deserialize<'de> for BorrowedStr<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        struct W<'a>(#[serde(borrow)] Cow<'a, str>);
        W::deserialize(d).map(|w| BorrowedStr(w.0))
    }
}

/// `Option<Cow<str>>` that borrows: serde's derive only borrows a `Cow`
/// field itself, and silently copies one inside an `Option`.
fn de_opt_cow<'de: 'a, 'a, D: Deserializer<'de>>(d: D) -> Result<Option<Cow<'a, str>>, D::Error> {
    Ok(Option::<BorrowedStr<'a>>::deserialize(d)?.map(|s| s.0))
}

/// Non-negative integers, also written as floats with no fraction
/// (JSON Schema counts `7713.0` as an integer).
fn de_opt_uint<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
    struct V;
    impl<'de> Visitor<'de> for V {
        type Value = Option<u64>;
        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("a non-negative integer")
        }
        fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
            Ok(Some(v))
        }
        fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
            u64::try_from(v)
                .map(Some)
                .map_err(|_| E::invalid_value(de::Unexpected::Signed(v), &self))
        }
        fn visit_f64<E: de::Error>(self, v: f64) -> Result<Self::Value, E> {
            if v >= 0.0 && v.fract() == 0.0 && v <= u64::MAX as f64 {
                Ok(Some(v as u64))
            } else {
                Err(E::invalid_value(de::Unexpected::Float(v), &self))
            }
        }
    }
    d.deserialize_any(V)
}

#[derive(Deserialize)]
#[cfg_attr(test, derive(Debug, PartialEq))]
struct Wire<'a> {
    #[serde(borrow)]
    id: Cow<'a, str>,
    #[serde(borrow)]
    time: Cow<'a, str>,
    #[serde(borrow)]
    account: Cow<'a, str>,
    #[serde(borrow, rename = "type")]
    kind: Cow<'a, str>,
    #[serde(borrow, default, deserialize_with = "de_opt_cow")]
    actor: Option<Cow<'a, str>>,
    #[serde(borrow, default, deserialize_with = "de_opt_cow")]
    outcome: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    source: Option<Source<'a>>,
    #[serde(borrow, default)]
    device: Option<Device<'a>>,
    #[serde(borrow, default)]
    post: Option<Post<'a>>,
    #[serde(borrow, default)]
    change: Option<Change<'a>>,
}

/// A decoded, validated event borrowing from its input.
#[derive(Debug, Clone)]
pub struct Event<'a> {
    pub id: Cow<'a, str>,
    /// Event time, Unix milliseconds.
    pub time: Millis,
    pub account: Cow<'a, str>,
    pub kind: EventKind,
    /// The contract `type` as written (kept for unknown types).
    pub type_name: Cow<'a, str>,
    pub actor: Option<Cow<'a, str>>,
    pub outcome: Option<Outcome>,
    pub source: Source<'a>,
    pub device: Device<'a>,
    pub post: Option<Post<'a>>,
    pub change: Change<'a>,
}

impl Event<'_> {
    pub fn is_success(&self) -> bool {
        self.outcome != Some(Outcome::Failure)
    }
}

/// Why an event was rejected. `Copy` and allocation-free, except for the
/// serde error it may wrap.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorKind {
    /// Not JSON, truncated, or not valid UTF-8.
    BadJson,
    /// A required field (`id`, `time`, `account`, `type`) is absent.
    MissingField,
    /// A field has the wrong JSON type (a number where a string belongs...).
    BadType,
    /// `time` is not RFC 3339.
    BadTime,
    /// A number outside its range (latitude, longitude, accuracy, counts).
    OutOfRange,
    /// A value outside its set (outcome, country code, empty id).
    BadValue,
    /// Larger than [`MAX_EVENT_BYTES`].
    TooLarge,
}

impl ErrorKind {
    pub const ALL: [ErrorKind; 7] = [
        ErrorKind::BadJson,
        ErrorKind::MissingField,
        ErrorKind::BadType,
        ErrorKind::BadTime,
        ErrorKind::OutOfRange,
        ErrorKind::BadValue,
        ErrorKind::TooLarge,
    ];

    /// A stable label (metrics, dead-letter headers, summaries).
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorKind::BadJson => "bad_json",
            ErrorKind::MissingField => "missing_field",
            ErrorKind::BadType => "bad_type",
            ErrorKind::BadTime => "bad_time",
            ErrorKind::OutOfRange => "out_of_range",
            ErrorKind::BadValue => "bad_value",
            ErrorKind::TooLarge => "too_large",
        }
    }

    pub fn index(self) -> usize {
        self as usize
    }
}

#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    #[error("{kind}: {field}{sep}{message}", kind = .kind.as_str(), sep = if .field.is_empty() { "" } else { ": " })]
    Json {
        kind: ErrorKind,
        /// Where it went wrong (`source.lat`, `time`), when a field did.
        field: String,
        message: String,
        #[source]
        source: serde_json::Error,
    },
    #[error("{}: {what}", .kind.as_str())]
    Invalid { kind: ErrorKind, what: &'static str },
}

impl DecodeError {
    pub fn kind(&self) -> ErrorKind {
        match self {
            DecodeError::Json { kind, .. } | DecodeError::Invalid { kind, .. } => *kind,
        }
    }

    fn invalid(kind: ErrorKind, what: &'static str) -> Self {
        DecodeError::Invalid { kind, what }
    }

    /// The error of a line serde refused, naming the field: the line is
    /// read again, on this error path only, tracking the path to where it
    /// failed (valid events never pay for it).
    fn from_json_in(e: serde_json::Error, text: &str) -> Self {
        let mut err = Self::from_json(e);
        // "missing field `time`" names it already.
        if let DecodeError::Json { kind, field, .. } = &mut err
            && *kind != ErrorKind::MissingField
        {
            let mut de = serde_json::Deserializer::from_str(text);
            if let Err(pe) = serde_path_to_error::deserialize::<_, Wire<'_>>(&mut de) {
                let path = pe.path().to_string();
                if path != "." {
                    *field = path;
                }
            }
        }
        err
    }

    fn from_json(e: serde_json::Error) -> Self {
        use serde_json::error::Category;
        let kind = match e.classify() {
            Category::Io | Category::Syntax | Category::Eof => ErrorKind::BadJson,
            Category::Data => {
                // serde's data errors carry their class only in the message;
                // this runs on the error path alone.
                let msg = e.to_string();
                if msg.starts_with("missing field") {
                    ErrorKind::MissingField
                } else if msg.starts_with("invalid type") {
                    ErrorKind::BadType
                } else if msg.starts_with("invalid value") {
                    ErrorKind::OutOfRange
                } else {
                    ErrorKind::BadValue
                }
            }
        };
        // serde's wording, made plain: its borrowed strings are strings.
        let message = e.to_string().replace("a borrowed string", "a string");
        DecodeError::Json {
            kind,
            field: String::new(),
            message,
            source: e,
        }
    }
}

/// Decodes one event from bytes (one NDJSON line or one Kafka message).
pub fn decode(bytes: &[u8]) -> Result<Event<'_>, DecodeError> {
    if bytes.len() > MAX_EVENT_BYTES {
        return Err(DecodeError::invalid(
            ErrorKind::TooLarge,
            "event larger than 1 MiB",
        ));
    }
    // One UTF-8 check of the whole line (std's is fast on ASCII) lets
    // serde_json borrow every string without checking each one again, as
    // it does when given bytes.
    let text = std::str::from_utf8(bytes)
        .map_err(|_| DecodeError::invalid(ErrorKind::BadJson, "not UTF-8"))?;
    // The fast path takes plain events; serde takes the rest, and gives
    // the canonical error for invalid ones (see `fast`).
    let mut ev = Event::blank();
    if let Some(raw) = fast::parse_into(text, &mut ev) {
        finish(&mut ev, raw.time, raw.outcome)?;
        return Ok(ev);
    }
    let w: Wire<'_> = serde_json::from_str(text).map_err(|e| DecodeError::from_json_in(e, text))?;
    let mut ev = Event {
        id: w.id,
        account: w.account,
        type_name: w.kind,
        actor: w.actor,
        source: w.source.unwrap_or_default(),
        device: w.device.unwrap_or_default(),
        post: w.post,
        change: w.change.unwrap_or_default(),
        ..Event::blank()
    };
    finish(&mut ev, w.time, w.outcome)?;
    Ok(ev)
}

impl Event<'_> {
    /// An event with every field empty, for the fast path and the
    /// adapters to fill.
    pub(crate) fn blank() -> Self {
        Event {
            id: Cow::Borrowed(""),
            time: 0,
            account: Cow::Borrowed(""),
            kind: EventKind::Other,
            type_name: Cow::Borrowed(""),
            actor: None,
            outcome: None,
            source: Source::default(),
            device: Device::default(),
            post: None,
            change: Change::default(),
        }
    }
}

/// Validates a read event in place: its time and outcome as written go
/// in as values, its type is named, its ranges are checked. The checks
/// run in one order for both paths, so an event gets the same error
/// whichever read it.
#[inline]
fn finish<'a>(
    ev: &mut Event<'a>,
    time: Cow<'a, str>,
    outcome: Option<Cow<'a, str>>,
) -> Result<(), DecodeError> {
    use ErrorKind::*;
    if ev.id.is_empty() {
        return Err(DecodeError::invalid(BadValue, "empty id"));
    }
    if ev.account.is_empty() {
        return Err(DecodeError::invalid(BadValue, "empty account"));
    }
    if ev.type_name.is_empty() {
        return Err(DecodeError::invalid(BadValue, "empty type"));
    }
    ev.time = parse_rfc3339(&time).ok_or(DecodeError::invalid(
        BadTime,
        "time: not an RFC 3339 date-time (like 2026-03-02T08:15:27Z)",
    ))?;
    ev.outcome = match outcome.as_deref() {
        None => None,
        Some("success") => Some(Outcome::Success),
        Some("failure") => Some(Outcome::Failure),
        Some(_) => {
            return Err(DecodeError::invalid(
                BadValue,
                "outcome is not success or failure",
            ));
        }
    };
    let source = &ev.source;
    if let Some(lat) = source.lat
        && !(-90.0..=90.0).contains(&lat)
    {
        return Err(DecodeError::invalid(OutOfRange, "lat outside -90..90"));
    }
    if let Some(lon) = source.lon
        && !(-180.0..=180.0).contains(&lon)
    {
        return Err(DecodeError::invalid(OutOfRange, "lon outside -180..180"));
    }
    if let Some(acc) = source.accuracy_km
        && !(acc >= 0.0 && acc.is_finite())
    {
        return Err(DecodeError::invalid(OutOfRange, "accuracy_km negative"));
    }
    if let Some(c) = source.country.as_deref() {
        let b = c.as_bytes();
        if b.len() != 2 || !b[0].is_ascii_uppercase() || !b[1].is_ascii_uppercase() {
            return Err(DecodeError::invalid(
                BadValue,
                "country is not ISO 3166-1 alpha-2",
            ));
        }
    }
    ev.kind = EventKind::parse(&ev.type_name);
    Ok(())
}

/// Country code packed into 10 bits (`AA` = 0 .. `ZZ` = 675); 0xFFFF = none.
pub fn country_code(c: &str) -> u16 {
    let b = c.as_bytes();
    if b.len() == 2 && b[0].is_ascii_uppercase() && b[1].is_ascii_uppercase() {
        (b[0] - b'A') as u16 * 26 + (b[1] - b'A') as u16
    } else {
        NO_COUNTRY
    }
}

pub const NO_COUNTRY: u16 = 0xFFFF;

/// The two letters of a packed country code.
pub fn country_str(code: u16) -> [u8; 2] {
    if code >= 676 {
        return *b"??";
    }
    [b'A' + (code / 26) as u8, b'A' + (code % 26) as u8]
}

#[cfg(test)]
mod tests {
    use super::*;

    const EXAMPLE: &str = r#"{"id":"e-18f2","time":"2026-03-02T08:15:27Z","account":"x:kemkominfo","type":"login","actor":"staff:rina","outcome":"success","source":{"ip":"36.72.14.9","asn":7713,"as_org":"Telkom Indonesia","country":"ID","city":"Jakarta","lat":-6.21,"lon":106.85,"accuracy_km":20},"device":{"id":"d-91f2","user_agent":"Mozilla/5.0 (Windows NT 10.0; Win64; x64)","client":"web"}}"#;

    #[test]
    fn decodes_contract_example_without_copies() {
        let ev = decode(EXAMPLE.as_bytes()).unwrap();
        assert_eq!(ev.kind, EventKind::Login);
        assert_eq!(ev.outcome, Some(Outcome::Success));
        assert_eq!(ev.source.asn, Some(7713));
        assert_eq!(ev.source.position(), Some((-6.21, 106.85)));
        assert!(matches!(ev.id, Cow::Borrowed(_)));
        assert!(matches!(ev.account, Cow::Borrowed(_)));
        assert!(matches!(ev.device.user_agent, Some(Cow::Borrowed(_))));
    }

    #[test]
    fn decodes_post_links_borrowed_and_counts_extra() {
        let links: Vec<String> = (0..12)
            .map(|i| format!("\"https://a{i}.example/x\""))
            .collect();
        let line = format!(
            r#"{{"id":"p","time":"2026-03-02T08:21:03Z","account":"a","type":"post","post":{{"client":"Hootsuite","links":[{}],"text_len":212}}}}"#,
            links.join(",")
        );
        let ev = decode(line.as_bytes()).unwrap();
        let post = ev.post.as_ref().unwrap();
        assert_eq!(post.links.total, 12);
        assert_eq!(post.links.iter().count(), MAX_LINKS);
        assert_eq!(post.links.iter().next(), Some("https://a0.example/x"));
        assert!(matches!(post.links.items[0], Cow::Borrowed(_)));
    }

    #[test]
    fn escaped_strings_are_accepted() {
        let line = r#"{"id":"e\u0031","time":"2026-03-02T08:21:03+07:00","account":"x:a\"b","type":"post","post":{"links":["https:\/\/evil.example\/x"]}}"#;
        let ev = decode(line.as_bytes()).unwrap();
        assert_eq!(ev.id, "e1");
        assert_eq!(ev.account, "x:a\"b");
        assert_eq!(
            ev.post.unwrap().links.iter().next(),
            Some("https://evil.example/x")
        );
    }

    #[test]
    fn unknown_fields_and_types_are_valid() {
        let line = r#"{"id":"1","time":"2026-03-02T08:21:03Z","account":"a","type":"live_stream_started","extra":{"deep":[1,2,{"x":null}]},"outcome":"success"}"#;
        let ev = decode(line.as_bytes()).unwrap();
        assert_eq!(ev.kind, EventKind::Other);
        assert_eq!(ev.type_name, "live_stream_started");
    }

    #[test]
    fn integers_written_as_floats_are_integers() {
        let line = r#"{"id":"1","time":"2026-03-02T08:21:03Z","account":"a","type":"login","source":{"asn":7713.0}}"#;
        assert_eq!(decode(line.as_bytes()).unwrap().source.asn, Some(7713));
    }

    fn kind_of(line: &str) -> ErrorKind {
        decode(line.as_bytes()).unwrap_err().kind()
    }

    #[test]
    fn invalid_events_have_kinds() {
        let ok = r#""id":"1","time":"2026-03-02T08:21:03Z","account":"a","type":"login""#;
        assert_eq!(kind_of("not json"), ErrorKind::BadJson);
        assert_eq!(kind_of(r#"{"id":"1""#), ErrorKind::BadJson);
        // Invalid UTF-8 inside a string value.
        let mut bytes = format!(r#"{{{ok},"actor":"x"}}"#).into_bytes();
        let at = bytes.len() - 3;
        bytes[at] = 0xff;
        assert_eq!(decode(&bytes).unwrap_err().kind(), ErrorKind::BadJson);
        // Multi-byte UTF-8 is borrowed intact.
        let line = format!(r#"{{{ok},"actor":"staff:ñoño"}}"#);
        let ev = decode(line.as_bytes()).unwrap();
        assert_eq!(ev.actor.as_deref(), Some("staff:ñoño"));
        assert_eq!(
            kind_of(r#"{"id":"1","source":{"lat":NaN}}"#),
            ErrorKind::BadJson
        );
        assert_eq!(
            kind_of(r#"{"id":"1","account":"a","type":"login"}"#),
            ErrorKind::MissingField
        );
        assert_eq!(kind_of("[1,2]"), ErrorKind::BadType);
        assert_eq!(
            kind_of(&format!(r#"{{{ok},"actor":5}}"#)),
            ErrorKind::BadType
        );
        // Errors name the field.
        let e = decode(br#"{"id":"1","time":5,"account":"a","type":"login"}"#).unwrap_err();
        assert!(
            e.to_string()
                .starts_with("bad_type: time: invalid type: integer `5`, expected a string"),
            "{e}"
        );
        let e = decode(format!(r#"{{{ok},"source":{{"asn":"x"}}}}"#).as_bytes()).unwrap_err();
        assert!(e.to_string().contains("source.asn: invalid type"), "{e}");
        let e = decode(format!(r#"{{{ok},"post":{{"links":[1]}}}}"#).as_bytes()).unwrap_err();
        assert!(e.to_string().contains("post.links[0]: invalid type"), "{e}");
        assert_eq!(
            kind_of(r#"{"id":"1","time":"2026-03-02 soon","account":"a","type":"login"}"#),
            ErrorKind::BadTime
        );
        assert_eq!(
            kind_of(&format!(r#"{{{ok},"source":{{"lat":91}}}}"#)),
            ErrorKind::OutOfRange
        );
        assert_eq!(
            kind_of(&format!(r#"{{{ok},"source":{{"lon":-180.5}}}}"#)),
            ErrorKind::OutOfRange
        );
        assert_eq!(
            kind_of(&format!(r#"{{{ok},"source":{{"asn":-1}}}}"#)),
            ErrorKind::OutOfRange
        );
        assert_eq!(
            kind_of(&format!(r#"{{{ok},"outcome":"maybe"}}"#)),
            ErrorKind::BadValue
        );
        assert_eq!(
            kind_of(&format!(r#"{{{ok},"source":{{"country":"id"}}}}"#)),
            ErrorKind::BadValue
        );
        assert_eq!(
            kind_of(r#"{"id":"","time":"2026-03-02T08:21:03Z","account":"a","type":"login"}"#),
            ErrorKind::BadValue
        );
        let huge = format!(r#"{{{ok},"x":"{}"}}"#, "a".repeat(MAX_EVENT_BYTES));
        assert_eq!(kind_of(&huge), ErrorKind::TooLarge);
    }

    #[test]
    fn country_codes_round_trip() {
        assert_eq!(&country_str(country_code("ID")), b"ID");
        assert_eq!(&country_str(country_code("ZZ")), b"ZZ");
        assert_eq!(country_code("id"), NO_COUNTRY);
    }
}
