//! Suppressions: what the account's team announced, so it does not page.
//!
//! A TOML file (`[suppressions] file`) of rules, each for one account (or
//! `"*"`, every account) and until a time:
//!
//! ```toml
//! [[travel]]       # a trip: sign-ins from this country are expected
//! account = "x:kemkominfo"
//! country = "JP"
//! until = "2026-03-20T00:00:00Z"
//! note = "Minister's visit to Tokyo"
//!
//! [[network]]      # a known network (the agency's cloud VPN, a vendor)
//! account = "*"
//! asn = 14061
//! until = "2026-12-31T00:00:00Z"
//!
//! [[app]]          # a known app (a newly bought scheduling tool)
//! account = "x:kemkominfo"
//! app = "Buffer"
//! until = "2026-06-01T00:00:00Z"
//!
//! [[maintenance]]  # the team is reorganising the account: no alerts
//! account = "x:kemkominfo"
//! until = "2026-03-10T18:00:00Z"
//! ```
//!
//! A rule silences only the signals its announcement explains, and only
//! for events before `until` (event time, so a replay suppresses what live
//! processing did): a travel notice silences the new country, network, IP
//! range, hosting network and impossible travel of sign-ins *from that
//! country*, not a new device or a two-factor removal; a network rule the
//! network signals of that ASN; an app rule the app grant and posting
//! through that app; maintenance every signal of the account. Suppressed
//! signals are counted (`kawal_suppressed_signals_total{rule}`).
//!
//! The file is read at start and again on SIGHUP and when it changes
//! ([`Shared::poll`]); a file with an error is reported and the rules in
//! force stay. Workers pick up a new set between messages: the detector
//! holds an `Arc` and a generation number, so `process` takes no lock.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use serde::Deserialize;

use crate::decode::{Event, NO_COUNTRY, country_code};
use crate::detect::{Hit, Sig};
use crate::hash::{BuildPassThrough, hash_str};
use crate::time::{Millis, parse_rfc3339};

/// The kinds of rule, in the order of their counters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rule {
    Travel,
    Network,
    App,
    Maintenance,
}

impl Rule {
    pub const ALL: [Rule; 4] = [Rule::Travel, Rule::Network, Rule::App, Rule::Maintenance];

    pub fn as_str(self) -> &'static str {
        match self {
            Rule::Travel => "travel",
            Rule::Network => "network",
            Rule::App => "app",
            Rule::Maintenance => "maintenance",
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SuppressError {
    #[error("{path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("{path}: {source}")]
    Parse {
        path: String,
        source: Box<toml::de::Error>,
    },
    #[error("{path}: {}", .problems.join("; "))]
    Invalid { path: String, problems: Vec<String> },
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    #[serde(default)]
    travel: Vec<Entry>,
    #[serde(default)]
    network: Vec<Entry>,
    #[serde(default)]
    app: Vec<Entry>,
    #[serde(default)]
    maintenance: Vec<Entry>,
}

/// One rule as written: `account`, `until`, an optional `note`, and what
/// its kind suppresses (`country`, `asn`, `app`; checked per kind).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Entry {
    account: String,
    until: String,
    #[serde(default)]
    #[allow(dead_code)]
    note: String,
    country: Option<String>,
    asn: Option<u64>,
    app: Option<String>,
}

/// One rule, compiled.
#[derive(Debug, Clone, PartialEq)]
enum What {
    Travel(u16),
    Network(u64),
    App(String),
    Maintenance,
}

#[derive(Debug, Clone, PartialEq)]
struct Compiled {
    what: What,
    until: Millis,
}

/// A set of suppressions, by account hash (`"*"` rules apply to all).
#[derive(Debug, Default)]
pub struct Suppressions {
    by_account: HashMap<u64, Vec<Compiled>, BuildPassThrough>,
    all: Vec<Compiled>,
}

impl Suppressions {
    pub fn is_empty(&self) -> bool {
        self.by_account.is_empty() && self.all.is_empty()
    }

    /// Reads a suppressions file; every problem is reported at once.
    pub fn load(path: &Path) -> Result<Suppressions, SuppressError> {
        let p = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|source| SuppressError::Read {
            path: p.clone(),
            source,
        })?;
        Self::parse(&text).map_err(|e| match e {
            Err(source) => SuppressError::Parse {
                path: p,
                source: Box::new(source),
            },
            Ok(problems) => SuppressError::Invalid { path: p, problems },
        })
    }

    /// Parses the TOML text: Err(Err) for a syntax error, Err(Ok) for
    /// invalid rules.
    fn parse(text: &str) -> Result<Suppressions, Result<Vec<String>, toml::de::Error>> {
        let f: File = toml::from_str(text).map_err(Err)?;
        let mut problems = Vec::new();
        let mut out = Suppressions::default();
        let mut add = |kind: &str, i: usize, account: &str, until: &str, what: Option<What>| {
            let at = format!("{kind}[{i}]");
            if account.is_empty() {
                problems.push(format!("{at}.account: empty (use \"*\" for every account)"));
            }
            let until = match parse_rfc3339(until) {
                Some(t) => t,
                None => {
                    problems.push(format!("{at}.until: {until:?} is not an RFC 3339 time"));
                    return;
                }
            };
            let Some(what) = what else {
                problems.push(format!(
                    "{at}: what it suppresses is missing or invalid (travel: country, a two-letter code; network: asn; app: app; maintenance: nothing else)"
                ));
                return;
            };
            let rule = Compiled { what, until };
            if account == "*" {
                out.all.push(rule);
            } else {
                out.by_account
                    .entry(hash_str(account))
                    .or_default()
                    .push(rule);
            }
        };
        let kinds: [(&str, &[Entry]); 4] = [
            ("travel", &f.travel),
            ("network", &f.network),
            ("app", &f.app),
            ("maintenance", &f.maintenance),
        ];
        for (kind, entries) in kinds {
            for (i, r) in entries.iter().enumerate() {
                let what = match (kind, &r.country, r.asn, &r.app) {
                    ("travel", Some(c), None, None) => {
                        let c = country_code(c);
                        (c != NO_COUNTRY).then_some(What::Travel(c))
                    }
                    ("network", None, Some(asn), None) => Some(What::Network(asn)),
                    ("app", None, None, Some(app)) if !app.is_empty() => {
                        Some(What::App(app.to_lowercase()))
                    }
                    ("maintenance", None, None, None) => Some(What::Maintenance),
                    _ => None,
                };
                add(kind, i, &r.account, &r.until, what);
            }
        }
        if problems.is_empty() {
            Ok(out)
        } else {
            Err(Ok(problems))
        }
    }

    /// Drops from `hits` the signals of `ev` (on the account hashed
    /// `account`) that a rule in force explains; counts them by rule.
    pub fn filter(&self, account: u64, ev: &Event<'_>, hits: &mut Vec<Hit>, counts: &mut [u64; 4]) {
        let own = self
            .by_account
            .get(&account)
            .map_or(&[][..], |v| v.as_slice());
        for rule in own.iter().chain(&self.all) {
            if ev.time >= rule.until {
                continue;
            }
            let before = hits.len();
            let kind = match &rule.what {
                What::Travel(c) => {
                    if ev.source.country.as_deref().map(country_code) == Some(*c) {
                        hits.retain(|h| !is_place(h.sig));
                    }
                    Rule::Travel
                }
                What::Network(asn) => {
                    if ev.source.asn == Some(*asn) {
                        hits.retain(|h| {
                            !matches!(
                                h.sig,
                                Sig::NewNetwork | Sig::NewIpRange | Sig::HostingNetwork
                            )
                        });
                    }
                    Rule::Network
                }
                What::App(app) => {
                    let granted = ev
                        .change
                        .app
                        .as_deref()
                        .is_some_and(|a| a.to_lowercase() == *app);
                    let posted = ev
                        .post
                        .as_ref()
                        .and_then(|p| p.client.as_deref())
                        .is_some_and(|c| c.to_lowercase() == *app);
                    if granted || posted {
                        hits.retain(|h| {
                            !matches!(
                                h.sig,
                                Sig::AppGranted | Sig::PostsViaNewApp | Sig::NewPostClient
                            )
                        });
                    }
                    Rule::App
                }
                What::Maintenance => {
                    hits.clear();
                    Rule::Maintenance
                }
            };
            counts[kind as usize] += (before - hits.len()) as u64;
        }
    }
}

/// Signals of where a sign-in came from.
fn is_place(s: Sig) -> bool {
    matches!(
        s,
        Sig::NewCountry
            | Sig::NewNetwork
            | Sig::NewIpRange
            | Sig::HostingNetwork
            | Sig::ImpossibleTravel
    )
}

/// The suppressions in force for this process, and their generation.
pub struct Shared {
    generation: AtomicU64,
    current: Mutex<Arc<Suppressions>>,
    watched: Mutex<Option<(PathBuf, Option<std::time::SystemTime>)>>,
}

impl Shared {
    pub fn new() -> Shared {
        Shared {
            generation: AtomicU64::new(0),
            current: Mutex::new(Arc::new(Suppressions::default())),
            watched: Mutex::new(None),
        }
    }

    /// The generation of the set in force (bumped by every load).
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    pub fn current(&self) -> Arc<Suppressions> {
        Arc::clone(&self.current.lock().expect("suppressions"))
    }

    /// Loads `path` and watches it from now on.
    pub fn watch(&self, path: &Path) -> Result<usize, SuppressError> {
        *self.watched.lock().expect("suppressions") = Some((path.to_path_buf(), mtime(path)));
        self.reload()
    }

    /// Reads the watched file again and puts it in force; returns the
    /// number of rules. On error the rules in force stay.
    pub fn reload(&self) -> Result<usize, SuppressError> {
        let Some((path, _)) = self.watched.lock().expect("suppressions").clone() else {
            return Ok(0);
        };
        let s = Suppressions::load(&path)?;
        let n = s.all.len() + s.by_account.values().map(Vec::len).sum::<usize>();
        *self.current.lock().expect("suppressions") = Arc::new(s);
        self.generation.fetch_add(1, Ordering::AcqRel);
        Ok(n)
    }

    /// Reloads when the watched file's modification time changed; None
    /// when it did not.
    pub fn poll(&self) -> Option<Result<usize, SuppressError>> {
        let mut w = self.watched.lock().expect("suppressions");
        let (path, seen) = w.as_mut()?;
        let now = mtime(path);
        if now == *seen {
            return None;
        }
        *seen = now;
        drop(w);
        Some(self.reload())
    }
}

impl Default for Shared {
    fn default() -> Self {
        Shared::new()
    }
}

fn mtime(path: &Path) -> Option<std::time::SystemTime> {
    std::fs::metadata(path).and_then(|m| m.modified()).ok()
}

/// The suppressions of this process (`kawal run` and `kawal replay` load
/// `[suppressions] file` into it; workers read it between messages).
pub fn shared() -> &'static Shared {
    static SHARED: OnceLock<Shared> = OnceLock::new();
    SHARED.get_or_init(Shared::new)
}
