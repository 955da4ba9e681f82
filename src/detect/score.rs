//! Cases, scores, severities and alerts.
//!
//! A [`Case`] is the account's open incident: the evidence gathered while
//! the account is under suspicion. Its score is the sum, over signal names,
//! of the strongest contribution each name has shown (so twenty posts with
//! a new link domain count once, not twenty times), plus sequence signals:
//! an action after a risky access, or a cluster of lock-out changes.
//! Severity is a cut-off on that score. An alert is raised when the case
//! reaches a severity it has not reached before: evidence that repeats
//! pages nobody twice, and an escalation names the same incident.
//!
//! Cases are boxed and exist only for accounts under suspicion, which keeps
//! the fixed-size baseline small; they own their strings (event ids,
//! explanations) because evidence outlives the input buffer it came from.

use serde::{Deserialize, Serialize};
use std::fmt;

use super::signals::Sig;
use crate::time::{Millis, rfc3339};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Low,
    Medium,
    High,
    Critical,
}

impl Severity {
    pub const ALL: [Severity; 4] = [
        Severity::Low,
        Severity::Medium,
        Severity::High,
        Severity::Critical,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Low => "low",
            Severity::Medium => "medium",
            Severity::High => "high",
            Severity::Critical => "critical",
        }
    }

    pub fn parse(s: &str) -> Option<Severity> {
        Severity::ALL.into_iter().find(|v| v.as_str() == s)
    }

    pub fn from_score(score: f64, cfg: &crate::config::SeverityConfig) -> Option<Severity> {
        if score >= cfg.critical {
            Some(Severity::Critical)
        } else if score >= cfg.high {
            Some(Severity::High)
        } else if score >= cfg.medium {
            Some(Severity::Medium)
        } else if score >= cfg.low {
            Some(Severity::Low)
        } else {
            None
        }
    }
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One signal's strongest showing in a case.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CaseSignal {
    pub sig: Sig,
    /// A sequence signal: `sig` after a risky access.
    pub sequence: bool,
    pub contribution: f64,
    pub detail: String,
    pub phrase: String,
    pub at: Millis,
    /// What the signal is about, as the event named it (the device id,
    /// the network, the actor granted a role, the app, the link domain),
    /// capped; empty for signals about no one thing. Recovery steps name
    /// it (see `recovery`).
    pub subject: String,
    /// The subject's key in the baseline table the signal compared it
    /// with (0: none), so analyst feedback can teach exactly that value.
    pub key: u32,
    /// The access context of the event that raised it (see
    /// [`AccessKeys`]): feedback teaches the whole context, not only the
    /// value that happened to be flagged first.
    pub access: AccessKeys,
}

/// Baseline keys of an event's access context, 0 where absent: the
/// country (as a slot key), network, IP range, device, agent and actor.
pub type AccessKeys = [u32; 6];

/// A lock-out change in an open case: its kind, time and raw weight, who
/// made it (actor and device keys), and for a role grant whom it named
/// (0 where absent or unknown).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Lockout {
    pub sig: Sig,
    pub at: Millis,
    pub raw: f64,
    pub actor: u32,
    pub device: u32,
    pub target: u32,
    /// Made by the account's own people where they work (a reset by an
    /// established actor from a fixed-line place the account uses, or a
    /// re-enrolment: see `Model::familiar_change`). A cluster of such
    /// changes only is a phone replaced, not a lock-out.
    pub familiar: bool,
}

impl Lockout {
    /// Whether two changes may be one party's: the same actor or the same
    /// device, or one made by the person the other granted a role (an
    /// intruder who gives an outsider admin and has the outsider remove
    /// the owners is one party, with or without device ids); or either
    /// with no actor and no device (then nothing tells them apart, and
    /// they count together as before state format 7).
    pub fn same_party(&self, o: &Lockout) -> bool {
        let unknown = |l: &Lockout| l.actor == 0 && l.device == 0;
        let brought = |a: &Lockout, b: &Lockout| a.target != 0 && a.target == b.actor;
        unknown(self)
            || unknown(o)
            || (self.actor != 0 && self.actor == o.actor)
            || (self.device != 0 && self.device == o.device)
            || brought(self, o)
            || brought(o, self)
    }
}

impl Serialize for Lockout {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let l = self;
        (l.sig, l.at, l.raw, l.actor, l.device, l.target, l.familiar).serialize(s)
    }
}

/// Formats 1 to 6 wrote (kind, time, raw weight): those read with no
/// actor, device or target, which counts them with every other change.
/// Formats 7 and 8 had no `familiar`: those read as not familiar, which
/// counts their clusters fully, as those formats did.
impl<'de> Deserialize<'de> for Lockout {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let (sig, at, raw, actor, device, target, familiar) = if reading() < 7 {
            let (sig, at, raw) = Deserialize::deserialize(d)?;
            (sig, at, raw, 0, 0, 0, false)
        } else if reading() < 9 {
            let (sig, at, raw, actor, device, target) = Deserialize::deserialize(d)?;
            (sig, at, raw, actor, device, target, false)
        } else {
            Deserialize::deserialize(d)?
        };
        Ok(Lockout {
            sig,
            at,
            raw,
            actor,
            device,
            target,
            familiar,
        })
    }
}

/// State format 1 had no `subject`, `key` and `access` (postcard is not
/// self-describing: the reader must know which layout it reads). Format 2
/// is this layout followed by those three, read as a tuple: postcard
/// writes a struct as the tuple of its fields.
#[derive(Deserialize)]
struct CaseSignalV1 {
    sig: Sig,
    sequence: bool,
    contribution: f64,
    detail: String,
    phrase: String,
    at: Millis,
}

impl CaseSignalV1 {
    fn with(self, subject: String, key: u32, access: AccessKeys) -> CaseSignal {
        CaseSignal {
            sig: self.sig,
            sequence: self.sequence,
            contribution: self.contribution,
            detail: self.detail,
            phrase: self.phrase,
            at: self.at,
            subject,
            key,
            access,
        }
    }
}

thread_local! {
    /// The format of the state being read, 0 for the current one (see
    /// [`reading_format`]).
    static READING: std::cell::Cell<u32> = const { std::cell::Cell::new(0) };
}

/// The state format being read (`u32::MAX`: the current one).
pub fn reading() -> u32 {
    match READING.with(|v| v.get()) {
        0 => u32::MAX,
        f => f,
    }
}

/// Runs `f` reading case signals in the layout of state `format`. The
/// layout is a property of the whole snapshot, and serde offers no way to
/// pass it down to a nested type: a thread-local flag, set for the call,
/// is the narrowest way.
pub fn reading_format<T>(format: u32, f: impl FnOnce() -> T) -> T {
    READING.with(|v| v.set(format));
    let out = f();
    READING.with(|v| v.set(0));
    out
}

impl<'de> Deserialize<'de> for CaseSignal {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        if reading() == 1 {
            return Ok(CaseSignalV1::deserialize(d)?.with(String::new(), 0, [0; 6]));
        }
        let (v1, subject, key, access) = <(CaseSignalV1, String, u32, AccessKeys)>::deserialize(d)?;
        Ok(v1.with(subject, key, access))
    }
}

impl CaseSignal {
    /// Evidence of `sig` worth `contribution` at `at` about `subject`,
    /// with no explanation and no baseline keys: what tests build cases of.
    #[cfg(test)]
    pub(crate) fn bare(sig: Sig, contribution: f64, at: Millis, subject: &str) -> CaseSignal {
        CaseSignal {
            sig,
            sequence: false,
            contribution,
            detail: String::new(),
            phrase: String::new(),
            at,
            subject: subject.to_string(),
            key: 0,
            access: [0; 6],
        }
    }

    pub fn name(&self) -> &'static str {
        if self.sequence {
            self.sig.sequence_name()
        } else {
            self.sig.name()
        }
    }

    /// The contribution as it stands at `now`: evidence fades with a
    /// half-life (0 disables fading).
    pub fn effective(&self, now: Millis, half_life: Millis) -> f64 {
        if half_life <= 0 || now <= self.at {
            return self.contribution;
        }
        self.contribution * 0.5f64.powf((now - self.at) as f64 / half_life as f64)
    }
}

/// An account's open incident.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Case {
    /// Incident id (stable: account and first evidence event).
    pub id: u64,
    pub opened: Millis,
    pub last: Millis,
    /// The latest risky access: its time and access score.
    pub risky_access: Option<(Millis, f64)>,
    pub signals: Vec<CaseSignal>,
    /// Evidence event ids, oldest first; the first is kept when capped.
    pub events: Vec<String>,
    /// Lock-out changes seen, for clusters.
    pub lockouts: Vec<Lockout>,
    pub emitted: Option<Severity>,
    pub score: f64,
    /// Devices, networks and actors first seen while this case is open:
    /// possibly the intruder's, so they never count as familiar (nor as an
    /// onboarded newcomer) while the case lives.
    pub tentative: Vec<u32>,
    /// Event time of the case's latest alert at high or above (0: none).
    pub paged: Millis,
    /// The network, address range and device keys of the event that
    /// raised that alert: the party the page was about.
    pub paged_by: [u32; 3],
    /// A password reset in this case was made by someone other than an
    /// established actor at a fixed-line place the account uses: a SIM
    /// swap's or a phished recovery's first step, after which no security
    /// change counts as re-enrolment (see `Model::familiar_change`).
    pub reset_elsewhere: bool,
}

/// [`Case`] as formats 1 to 7 laid it out (without `paged` and
/// `paged_by`, added in format 8: an older snapshot's case that paged
/// reads as paged at its `last` by nobody known, which never pages again
/// for another party, as before format 8).
#[derive(Deserialize)]
struct CaseV7 {
    id: u64,
    opened: Millis,
    last: Millis,
    risky_access: Option<(Millis, f64)>,
    signals: Vec<CaseSignal>,
    events: Vec<String>,
    lockouts: Vec<Lockout>,
    emitted: Option<Severity>,
    score: f64,
    tentative: Vec<u32>,
}

impl<'de> Deserialize<'de> for Case {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        // The layout is positional (postcard): format 8 is format 7's
        // fields followed by `paged` and `paged_by`; format 9 adds
        // `reset_elsewhere`. Before format 9 every reset counted as made
        // elsewhere, so an older case with one in its record still does.
        let (v, paged, paged_by, reset_elsewhere) = if reading() < 8 {
            let v = CaseV7::deserialize(d)?;
            let paged = if v.emitted >= Some(Severity::High) {
                v.last
            } else {
                0
            };
            (v, paged, [0; 3], None)
        } else if reading() < 9 {
            let (v, paged, paged_by) = <(CaseV7, Millis, [u32; 3])>::deserialize(d)?;
            (v, paged, paged_by, None)
        } else {
            let (v, paged, paged_by, r) = <(CaseV7, Millis, [u32; 3], bool)>::deserialize(d)?;
            (v, paged, paged_by, Some(r))
        };
        let mut case = Case {
            id: v.id,
            opened: v.opened,
            last: v.last,
            risky_access: v.risky_access,
            signals: v.signals,
            events: v.events,
            lockouts: v.lockouts,
            emitted: v.emitted,
            score: v.score,
            tentative: v.tentative,
            paged,
            paged_by,
            reset_elsewhere: false,
        };
        case.reset_elsewhere = reset_elsewhere.unwrap_or_else(|| case.holds_reset());
        Ok(case)
    }
}

/// Evidence that has faded below this (in nats, at the time of the
/// alert) is neither shown in an alert nor counted by the evidence
/// policy: what the analyst reads is what the decision rested on.
pub const SHOWN: f64 = 0.05;

impl Case {
    /// The severity the case's score earns at `now` under the evidence
    /// policy (`[severity]` in the configuration): evidence of access and
    /// of action alerts at any severity; critical needs a misuse (a
    /// change, grant, burst or new link); access alone alerts from
    /// `access_only_min` up; action alone from `action_only_min` up;
    /// posting habits alone at most `posting_habits_max` (by default
    /// never: "none").
    ///
    /// The policy weighs evidence as it stands at `now`, faded by its
    /// half-life, as the score does. It weighed the raw contributions
    /// until 2026-11-27: a case kept open for days by weak evidence then
    /// paired a new device seen a week earlier with tonight's burst of
    /// posts as one "access and action" story. On kawal's simulation
    /// (seed 1, 2,000 accounts x 60 days, held-out styles left out) 316
    /// of the 725 false alerts came from cases opened two days or more
    /// before the alert.
    pub fn severity(
        &self,
        cfg: &crate::config::SeverityConfig,
        now: Millis,
        half_life: Millis,
    ) -> Option<Severity> {
        let mut sev = Severity::from_score(self.score, cfg)?;
        let live = || {
            self.signals
                .iter()
                .map(move |s| (s.effective(now, half_life), s))
                .filter(|(c, _)| *c >= SHOWN)
        };
        // Each kind must carry weight (a nat or more in all), not only a
        // trace of some weak signal.
        let weight = |access: bool| -> f64 {
            live()
                .filter(|(_, s)| s.sig.is_access() == access)
                .map(|(c, _)| c)
                .sum()
        };
        // Access and action make one story when the action came from the
        // access (the same device or the same person; a sequence signal
        // says so by itself): a new laptop on one trip and a night-time
        // thread by the office are two stories, each of one kind.
        let linked = |s: &CaseSignal| {
            s.sequence
                || live().any(|(_, a)| {
                    a.sig.is_access()
                        && ((a.access[3] != 0 && a.access[3] == s.access[3])
                            || (a.access[5] != 0 && a.access[5] == s.access[5]))
                })
        };
        let linked_action: f64 = live()
            .filter(|(_, s)| !s.sig.is_access() && linked(s))
            .map(|(c, _)| c)
            .sum();
        let (access, action) = (weight(true) >= 1.0, weight(false) >= 1.0);
        let story = access && linked_action >= 1.0;
        let habits_only = live().all(|(_, s)| !s.sequence && s.sig.is_posting_habit());
        let min = |name: &str| Severity::parse(name).unwrap_or(Severity::High);
        // Critical is a promise of misuse: a change, a grant, a burst or a
        // new link, not only access or a new posting client or hour.
        if !live().any(|(_, s)| s.sig.is_sequence_action()) {
            sev = sev.min(Severity::High);
        }
        if habits_only {
            // "none": posting habits alone never alert.
            sev = sev.min(Severity::parse(&cfg.posting_habits_max)?);
        }
        // Access whose only actions are posting hours and clients: the
        // traveller on a lent laptop, not yet a misuse. Only when those
        // actions carry weight: a trace of them (under a nat) leaves the
        // case one of access alone, judged as such below. Until
        // 2026-11-27 a trace capped it: a credential-stuffing sign-in
        // (new country, a failure burst, a new device: 9.6 nats) joined
        // a case holding 0.55 of an unusual hour and raised nothing
        // until its next step, 6 minutes later.
        let acts = || live().filter(|(_, s)| !s.sig.is_access());
        if action && acts().all(|(_, s)| matches!(s.sig, Sig::UnusualPostHour | Sig::NewPostClient))
        {
            sev = sev.min(Severity::parse(&cfg.hour_and_client_max)?);
        }
        let floor = match (story, access, action) {
            (true, ..) => Severity::Low,
            (false, true, true) => min(&cfg.action_only_min).min(min(&cfg.access_only_min)),
            (false, true, false) => min(&cfg.access_only_min),
            _ => min(&cfg.action_only_min),
        };
        (sev >= floor).then_some(sev)
    }

    pub fn new(id: u64, at: Millis) -> Case {
        Case {
            id,
            opened: at,
            last: at,
            risky_access: None,
            signals: Vec::new(),
            events: Vec::new(),
            lockouts: Vec::new(),
            emitted: None,
            score: 0.0,
            tentative: Vec::new(),
            paged: 0,
            paged_by: [0; 3],
            reset_elsewhere: false,
        }
    }

    /// Whether a password reset is in the case's record, as a lock-out
    /// change or as evidence (before format 9, every such reset counted
    /// as made elsewhere).
    pub fn holds_reset(&self) -> bool {
        self.lockouts.iter().any(|l| l.sig == Sig::PasswordReset)
            || self.signals.iter().any(|s| s.sig == Sig::PasswordReset)
    }

    /// Keeps the strongest showing of each signal name, as it stands now.
    pub fn add_signal(&mut self, s: CaseSignal, half_life: Millis) {
        let now = s.at;
        match self
            .signals
            .iter_mut()
            .find(|x| x.sig == s.sig && x.sequence == s.sequence)
        {
            Some(x) if x.effective(now, half_life) >= s.contribution => {}
            Some(x) => *x = s,
            None => self.signals.push(s),
        }
    }

    /// Recomputes the score at `now`.
    pub fn rescore(&mut self, now: Millis, half_life: Millis) -> f64 {
        self.score = self
            .signals
            .iter()
            .map(|s| s.effective(now, half_life))
            .sum();
        self.score
    }

    pub fn add_event(&mut self, id: &str, max: usize) {
        let id = super::budget::capped(id, super::budget::MAX_EVENT_ID);
        if self.events.iter().any(|e| *e == id) {
            return;
        }
        if self.events.len() >= max {
            // Keep the first (how it started) and the most recent.
            self.events.remove(1);
        }
        self.events.push(id.into_owned());
    }

    pub fn is_tentative(&self, key: u32) -> bool {
        self.tentative.contains(&key)
    }

    pub fn add_tentative(&mut self, key: u32) {
        if key != 0 && !self.is_tentative(key) && self.tentative.len() < 32 {
            self.tentative.push(key);
        }
    }

    pub fn incident_id(&self) -> String {
        format!("inc-{:016x}", self.id)
    }
}

/// A signal as the alert contract shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AlertSignal {
    pub name: String,
    pub contribution: f64,
    pub detail: String,
}

/// An alert (contract: `docs/ALERTS.md`), with extensions:
/// `incident` groups an incident's escalations, `learning` says the
/// account's baseline was still young, `first_event_time` is the time of
/// the case's first evidence.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Alert {
    pub id: String,
    pub account: String,
    pub time: String,
    /// Wall clock: absent from golden files (and read as empty).
    #[serde(default)]
    pub detected_at: String,
    pub severity: Severity,
    pub score: f64,
    pub summary: String,
    pub signals: Vec<AlertSignal>,
    pub events: Vec<String>,
    // kawal's extensions: alerts from elsewhere may lack them.
    #[serde(default)]
    pub incident: String,
    #[serde(default)]
    pub learning: bool,
    #[serde(default)]
    pub first_event_time: String,
    /// What to do, derived from this alert's own evidence (see
    /// `recovery`).
    #[serde(default)]
    pub recovery: Vec<super::recovery::Step>,
    /// Event time of the trigger, for ordering and latency (not serialised).
    #[serde(skip)]
    pub trigger_ms: Millis,
}

impl Alert {
    /// Sets `detected_at` from the wall clock. Called by the pipeline edge
    /// right after detection, never inside it.
    pub fn stamp(&mut self, wall_ms: Millis) {
        self.detected_at = rfc3339(wall_ms);
    }
}

/// Rounds a score for output (stable text across platforms).
pub fn round3(v: f64) -> f64 {
    (v * 1000.0).round() / 1000.0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sig(sig: Sig, c: f64) -> CaseSignal {
        CaseSignal::bare(sig, c, 0, "")
    }

    /// A case of `signals` (signal, contribution, device key), scored.
    fn case_of(signals: &[(Sig, f64, u32)]) -> Case {
        let mut case = Case::new(1, 0);
        for (s, c, device) in signals {
            let mut cs = sig(*s, *c);
            cs.access[3] = *device;
            case.add_signal(cs, 0);
        }
        case.rescore(0, 0);
        case
    }

    #[test]
    fn the_evidence_policy_sets_the_lowest_severity_of_each_kind_of_case() {
        let cfg = crate::config::Config::default().severity;
        // Access and action from one device: a story, alerts from low.
        let story = case_of(&[(Sig::NewCountry, 3.0, 7), (Sig::ProfileChanged, 2.0, 7)]);
        assert_eq!(story.severity(&cfg, 0, 0), Some(Severity::Low));
        // The same weights from two devices: two stories of one kind
        // each, below medium: nothing.
        let apart = case_of(&[(Sig::NewCountry, 3.0, 7), (Sig::ProfileChanged, 2.0, 8)]);
        assert_eq!(apart.severity(&cfg, 0, 0), None);
        // Access alone: nothing until high, and never critical.
        assert_eq!(
            case_of(&[(Sig::NewCountry, 3.0, 7), (Sig::NewDevice, 3.5, 7)]).severity(&cfg, 0, 0),
            None
        );
        let strong = case_of(&[
            (Sig::NewCountry, 4.0, 7),
            (Sig::NewDevice, 4.0, 7),
            (Sig::HostingNetwork, 4.0, 7),
        ]);
        assert_eq!(strong.severity(&cfg, 0, 0), Some(Severity::High));
        // Action alone: from medium.
        assert_eq!(
            case_of(&[(Sig::MfaDisabled, 3.0, 0), (Sig::RecoveryChanged, 2.0, 0)])
                .severity(&cfg, 0, 0),
            None
        );
        assert_eq!(
            case_of(&[(Sig::MfaDisabled, 3.0, 0), (Sig::RecoveryChanged, 3.5, 0)])
                .severity(&cfg, 0, 0),
            Some(Severity::Medium)
        );
        // Posting habits alone: never, however strong; or at most the
        // configured severity.
        let habits = case_of(&[
            (Sig::PostBurst, 4.0, 7),
            (Sig::UnusualPostHour, 2.5, 7),
            (Sig::NewLinkDomain, 3.0, 7),
        ]);
        assert!(habits.score >= cfg.high);
        assert_eq!(habits.severity(&cfg, 0, 0), None);
        let medium = crate::config::SeverityConfig {
            posting_habits_max: "medium".into(),
            ..cfg.clone()
        };
        assert_eq!(habits.severity(&medium, 0, 0), Some(Severity::Medium));
        // With access from the same device, they are a story.
        let mut access = habits.clone();
        let mut device = sig(Sig::NewDevice, 2.0);
        device.access[3] = 7;
        access.add_signal(device, 0);
        access.rescore(0, 0);
        assert_eq!(access.severity(&cfg, 0, 0), Some(Severity::Critical));
        // A trace of access (under a nat) does not make a story.
        assert_eq!(
            case_of(&[(Sig::NewIpRange, 0.5, 7), (Sig::ProfileChanged, 4.5, 7)])
                .severity(&cfg, 0, 0),
            None
        );
    }

    /// A new country and a new laptop that post at an odd hour through a
    /// client the account never used: a traveller, at most medium; the
    /// same with a new link is a misuse, and pages.
    #[test]
    fn access_with_only_an_hour_and_a_client_is_at_most_medium() {
        let cfg = crate::config::Config::default().severity;
        let trip = case_of(&[
            (Sig::NewCountry, 3.8, 7),
            (Sig::NewDevice, 2.1, 7),
            (Sig::UnusualPostHour, 2.5, 7),
            (Sig::NewPostClient, 1.0, 7),
        ]);
        assert!(trip.score >= cfg.high);
        assert_eq!(trip.severity(&cfg, 0, 0), Some(Severity::Medium));
        let old = crate::config::SeverityConfig {
            hour_and_client_max: "high".into(),
            ..cfg.clone()
        };
        assert_eq!(trip.severity(&old, 0, 0), Some(Severity::High));
        let mut spam = trip.clone();
        let mut link = sig(Sig::NewLinkDomain, 1.5);
        link.access[3] = 7;
        spam.add_signal(link, 0);
        spam.rescore(0, 0);
        assert_eq!(spam.severity(&cfg, 0, 0), Some(Severity::High));
    }

    /// A trace of an odd hour (under a nat) does not make a strong access
    /// a traveller's: the case is access alone, and pages as such.
    #[test]
    fn a_trace_of_an_odd_hour_does_not_cap_a_strong_access() {
        let cfg = crate::config::Config::default().severity;
        let stuffing = case_of(&[
            (Sig::NewCountry, 4.9, 7),
            (Sig::FailedLoginBurst, 3.2, 7),
            (Sig::NewDevice, 1.5, 7),
            (Sig::UnusualPostHour, 0.55, 7),
        ]);
        assert!(stuffing.score >= cfg.high);
        assert_eq!(stuffing.severity(&cfg, 0, 0), Some(Severity::High));
        // With the hour at full weight it is the traveller's case.
        let trip = case_of(&[
            (Sig::NewCountry, 4.9, 7),
            (Sig::FailedLoginBurst, 3.2, 7),
            (Sig::NewDevice, 1.5, 7),
            (Sig::UnusualPostHour, 2.5, 7),
        ]);
        assert_eq!(trip.severity(&cfg, 0, 0), Some(Severity::Medium));
    }

    #[test]
    fn faded_evidence_makes_no_story_with_fresh_evidence() {
        let cfg = crate::config::Config::default().severity;
        let hour = crate::time::HOUR;
        // A new device on Monday and a burst of posts from it on Friday:
        // the device is weeks-old news by then, not the access behind
        // the burst.
        let mut case = Case::new(1, 0);
        let mut device = sig(Sig::NewDevice, 4.0);
        device.access[3] = 7;
        case.add_signal(device, 3 * hour);
        for (s, c) in [(Sig::PostBurst, 3.0), (Sig::NewLinkDomain, 2.0)] {
            let mut post = sig(s, c);
            post.access[3] = 7;
            post.at = 96 * hour;
            case.add_signal(post, 3 * hour);
        }
        case.rescore(96 * hour, 3 * hour);
        assert!(case.score >= cfg.low && case.score < cfg.medium);
        assert_eq!(case.severity(&cfg, 96 * hour, 3 * hour), None);
        // The same evidence within the hour is one story.
        let at_once = case_of(&[
            (Sig::NewDevice, 4.0, 7),
            (Sig::PostBurst, 3.0, 7),
            (Sig::NewLinkDomain, 2.0, 7),
        ]);
        assert_eq!(at_once.severity(&cfg, 0, 3 * hour), Some(Severity::High));
    }

    #[test]
    fn case_keeps_strongest_per_signal() {
        let mut case = Case::new(1, 0);
        case.add_signal(sig(Sig::NewLinkDomain, 1.0), 0);
        case.add_signal(sig(Sig::NewLinkDomain, 2.0), 0);
        case.add_signal(sig(Sig::NewLinkDomain, 1.5), 0);
        case.add_signal(sig(Sig::MfaDisabled, 3.0), 0);
        assert_eq!(case.signals.len(), 2);
        assert!((case.rescore(0, 0) - 5.0).abs() < 1e-9);
        let mut seq = sig(Sig::MfaDisabled, 2.0);
        seq.sequence = true;
        case.add_signal(seq, 0);
        assert!((case.rescore(0, 0) - 7.0).abs() < 1e-9);
    }

    #[test]
    fn evidence_fades_with_its_half_life() {
        let hour = crate::time::HOUR;
        let mut case = Case::new(1, 0);
        case.add_signal(sig(Sig::NewDevice, 4.0), hour);
        assert!((case.rescore(hour, hour) - 2.0).abs() < 1e-9);
        assert!((case.rescore(3 * hour, hour) - 0.5).abs() < 1e-9);
        // A weaker but fresh showing replaces a faded stronger one.
        let mut fresh = sig(Sig::NewDevice, 1.0);
        fresh.at = 3 * hour;
        case.add_signal(fresh, hour);
        assert!((case.rescore(3 * hour, hour) - 1.0).abs() < 1e-9);
    }

    #[test]
    fn evidence_is_capped_keeping_first_and_latest() {
        let mut case = Case::new(1, 0);
        for i in 0..10 {
            case.add_event(&format!("e{i}"), 4);
        }
        case.add_event("e9", 4);
        assert_eq!(case.events, vec!["e0", "e7", "e8", "e9"]);
    }

    #[test]
    fn severity_cutoffs() {
        let cfg = crate::config::Config::default().severity;
        assert_eq!(Severity::from_score(cfg.low - 0.01, &cfg), None);
        assert_eq!(Severity::from_score(cfg.low, &cfg), Some(Severity::Low));
        assert_eq!(
            Severity::from_score(cfg.critical + 5.0, &cfg),
            Some(Severity::Critical)
        );
        assert!(Severity::High > Severity::Medium);
        assert_eq!(Severity::parse("high"), Some(Severity::High));
    }
}

#[cfg(test)]
mod lockout_tests {
    use super::*;

    #[test]
    fn lockouts_of_format_6_read_with_nobody_and_count_with_everyone() {
        let old = postcard::to_allocvec(&(Sig::MfaDisabled, 1_000i64, 2.5f64)).unwrap();
        let l: Lockout = reading_format(6, || postcard::from_bytes(&old)).unwrap();
        assert_eq!(
            (l.sig, l.at, l.raw, l.actor, l.device),
            (Sig::MfaDisabled, 1_000, 2.5, 0, 0)
        );
        let mine = Lockout {
            actor: 7,
            device: 9,
            ..l
        };
        let theirs = Lockout {
            actor: 8,
            device: 10,
            ..l
        };
        assert!(l.same_party(&theirs) && mine.same_party(&l));
        assert!(!mine.same_party(&theirs));
        // Same device, another actor name (a shared phone): one party.
        assert!(mine.same_party(&Lockout { actor: 8, ..mine }));
        // A grant's target acting later is the granter's party, either way
        // round.
        let grant = Lockout { target: 8, ..mine };
        assert!(grant.same_party(&theirs) && theirs.same_party(&grant));
        // Format 7 round-trips all six.
        let bytes = postcard::to_allocvec(&grant).unwrap();
        assert_eq!(postcard::from_bytes::<Lockout>(&bytes).unwrap(), grant);
    }
}

#[cfg(test)]
mod format_tests {
    use super::*;

    /// A case as format 8 wrote it, holding one reset as a lock-out change
    /// (`with_reset`) or none.
    fn format_8_case(with_reset: bool) -> Vec<u8> {
        let lockouts: Vec<(Sig, Millis, f64, u32, u32, u32)> = if with_reset {
            vec![(Sig::PasswordReset, 5, 1.5, 7, 8, 0)]
        } else {
            vec![(Sig::MfaDisabled, 5, 2.0, 7, 8, 0)]
        };
        let signals: Vec<CaseSignal> = Vec::new();
        let body = (
            (
                1u64,
                2 as Millis,
                5 as Millis,
                None::<(Millis, f64)>,
                signals,
            ),
            (Vec::<String>::new(), lockouts, None::<Severity>, 3.0f64),
            (Vec::<u32>::new(), 0 as Millis, [0u32; 3]),
        );
        postcard::to_allocvec(&body).unwrap()
    }

    /// Before format 9 every reset counted as made elsewhere: a case of
    /// format 8 with one still does, and its changes are not familiar.
    #[test]
    fn a_format_8_case_with_a_reset_reads_as_reset_elsewhere() {
        for with_reset in [true, false] {
            let bytes = format_8_case(with_reset);
            let case: Case = reading_format(8, || postcard::from_bytes(&bytes)).unwrap();
            assert_eq!(case.reset_elsewhere, with_reset);
            assert_eq!(case.lockouts.len(), 1);
            assert!(!case.lockouts[0].familiar);
            assert_eq!((case.lockouts[0].actor, case.lockouts[0].device), (7, 8));
        }
        // The current format writes both and reads them back.
        let mut case = Case::new(1, 2);
        case.reset_elsewhere = true;
        case.lockouts.push(Lockout {
            sig: Sig::PasswordReset,
            at: 5,
            raw: 1.5,
            actor: 7,
            device: 8,
            target: 0,
            familiar: true,
        });
        let bytes = postcard::to_allocvec(&case).unwrap();
        assert_eq!(postcard::from_bytes::<Case>(&bytes).unwrap(), case);
    }
}
