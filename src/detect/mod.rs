//! The detection core: per-account baselines, signals, cases, alerts.
//!
//! [`Detector::process`] is synchronous and lock-free: one detector owns
//! the state of its accounts (one Kafka partition, or one replay shard),
//! and nothing else touches it. It reads no clock: time is the event's
//! time, so replaying a file gives what live processing gave.
//!
//! Per event: hash the account once, find its state in a dense slab, score
//! the event against the baseline as it was *before* the event (signals),
//! fold the evidence into the account's case and raise an alert when the
//! case reaches a new severity (score), then learn from the event (unless
//! the account is under a high-severity case: a hijacker's network must
//! not become familiar while the incident is open).
//!
//! Memory: states live inline in a `Vec<AccountState>` and a table from
//! account hash to slab index (16 bytes an entry, see `index`). A hash map
//! of states would over-allocate whole states by up to 2x when it grows;
//! the slab's unused capacity is never touched, so it is never resident.

pub mod budget;
pub mod feedback;
#[cfg(test)]
mod hostile_tests;
pub mod incidents;
mod index;
pub mod recovery;
pub mod score;
pub mod signals;
pub mod snapshot;
pub mod state;
#[cfg(test)]
mod tests;

use std::collections::HashMap;
use std::fmt::Write;

use crate::config::Config;
use crate::decode::{Event, EventKind, NO_COUNTRY};
use crate::hash::{BuildPassThrough, hash_bytes, hash_str, key32, key32_ignore_case};
use crate::time::{MINUTE, Millis, rfc3339};
use index::Index;
pub use score::{Alert, AlertSignal, Case, CaseSignal, Severity};
pub use signals::{Hit, Model, Population, Sig};
pub use state::AccountState;
use state::{Grant, Trust, day16, push_grant, secs32};

/// Counters of what the detector did; the metrics layer reads them.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Stats {
    pub events: u64,
    pub by_kind: [u64; 12],
    /// Analyst feedback applied to an open incident, by verdict (see
    /// `feedback::Verdict`), and feedback that found no such incident.
    pub feedback: [u64; 3],
    pub feedback_unmatched: u64,
    pub alerts: [u64; 4],
    /// Signal firings (every positive hit, evidence or not).
    pub fired: [u64; Sig::COUNT],
    /// Signals that entered a case as evidence.
    pub evidence: [u64; Sig::COUNT],
    pub accounts: u64,
    pub learning: u64,
    pub cases_opened: u64,
    /// Accounts evicted (over `state.max_accounts`, or idle past
    /// `state.idle_ttl` of event time).
    pub evicted: u64,
    /// Alerts cut down to `detect.alert_max_bytes` (see `budget`).
    pub alerts_trimmed: u64,
    /// Incidents closed and handed to the sinks (quiet, or a verdict; see
    /// `incidents`).
    pub incidents_closed: u64,
    /// Events further behind their account's newest event than
    /// `time.allowed_lateness` (scored without order-dependent signals).
    pub late: u64,
    /// Events skipped as repeats of one of their account's last few
    /// event ids (redeliveries, retries, floods of one event).
    pub duplicates: u64,
    /// Signals dropped by suppressions, by rule (`suppress::Rule`).
    pub suppressed: [u64; 4],
    /// Events whose processing panicked: the account was reset (see
    /// [`Detector::process_guarded`]).
    pub internal_errors: u64,
}

impl Stats {
    pub fn merge(&mut self, o: &Stats) {
        self.events += o.events;
        for (a, b) in self.by_kind.iter_mut().zip(o.by_kind) {
            *a += b;
        }
        for (a, b) in self.alerts.iter_mut().zip(o.alerts) {
            *a += b;
        }
        for (a, b) in self.fired.iter_mut().zip(o.fired) {
            *a += b;
        }
        for (a, b) in self.evidence.iter_mut().zip(o.evidence) {
            *a += b;
        }
        self.accounts += o.accounts;
        self.learning += o.learning;
        self.cases_opened += o.cases_opened;
        self.evicted += o.evicted;
        self.alerts_trimmed += o.alerts_trimmed;
        self.incidents_closed += o.incidents_closed;
        for (a, b) in self.feedback.iter_mut().zip(o.feedback) {
            *a += b;
        }
        self.feedback_unmatched += o.feedback_unmatched;
        for (a, b) in self.suppressed.iter_mut().zip(o.suppressed) {
            *a += b;
        }
        self.late += o.late;
        self.duplicates += o.duplicates;
        self.internal_errors += o.internal_errors;
    }
}

pub struct Detector {
    model: Model,
    index: Index,
    states: Vec<AccountState>,
    /// The index key of each state (same positions as `states`), so a
    /// state moved by a swap-remove can be re-indexed.
    keys: Vec<u64>,
    /// The eviction sweep's position in the slab.
    hand: usize,
    max_accounts: usize,
    idle_ttl: Millis,
    /// The account of the last [`Detector::hint`], whose state is loaded
    /// at the next hint.
    hinted: Option<u64>,
    pop: Population,
    /// Keyword classification of `as_org` names by their hash: scanning a
    /// name against the keyword lists costs more than the rest of the
    /// event, and a detector sees few distinct names.
    orgs: HashMap<u64, signals::OrgClass, BuildPassThrough>,
    /// Agent key and automation class of user agents, by string hash.
    agents: HashMap<u64, (u32, bool), BuildPassThrough>,
    /// Reused per event (cleared, refilled): no allocation on the hot path.
    hits: Vec<Hit>,
    detail: String,
    /// Reused per event as `detail`: the summary phrase and the subject.
    phrase: (String, String),
    /// The newest event time processed (event time only: deterministic).
    watermark: Option<Millis>,
    lateness: Millis,
    /// Suppressions in force and their generation (see `suppress`): set
    /// by the worker between events, read here without a lock.
    suppressions: std::sync::Arc<crate::suppress::Suppressions>,
    suppressions_generation: u64,
    /// Verdicts applied since the last [`Detector::take_verdicts`].
    verdicts: Vec<feedback::Applied>,
    /// Alerted incidents still open, and those closed since the last
    /// [`Detector::take_closed`].
    ledger: incidents::Ledger,
    pub stats: Stats,
}

/// Test hook: an event with this id panics inside
/// [`Detector::process_guarded`], to prove that a panic is contained (the
/// Kafka mock-cluster test sets it). Never set outside tests.
#[doc(hidden)]
pub static PANIC_TEST_EVENT_ID: std::sync::OnceLock<String> = std::sync::OnceLock::new();

impl Detector {
    pub fn new(cfg: Config) -> Detector {
        let lateness = cfg.time.allowed_lateness_ms();
        Detector {
            max_accounts: cfg.state.max_accounts.max(1),
            idle_ttl: cfg.state.idle_ttl_ms(),
            keys: Vec::new(),
            hand: 0,
            model: Model::new(cfg),
            index: Index::default(),
            states: Vec::new(),
            hinted: None,
            pop: Population::default(),
            orgs: HashMap::default(),
            agents: HashMap::default(),
            hits: Vec::with_capacity(16),
            detail: String::new(),
            phrase: (String::new(), String::new()),
            watermark: None,
            lateness,
            suppressions: Default::default(),
            suppressions_generation: 0,
            verdicts: Vec::new(),
            ledger: incidents::Ledger::default(),
            stats: Stats::default(),
        }
    }

    /// Reserves room for `n` accounts (avoids rehashing during a load).
    pub fn reserve(&mut self, n: usize) {
        let n = n.min(self.max_accounts);
        self.index.reserve(n);
        self.states.reserve(n);
        self.keys.reserve(n);
        index::advise_huge(&self.states);
    }

    pub fn config(&self) -> &Config {
        &self.model.cfg
    }

    pub fn state(&self, account: &str) -> Option<&AccountState> {
        self.index
            .get(hash_str(account))
            .map(|i| &self.states[i as usize])
    }

    pub fn accounts(&self) -> usize {
        self.states.len()
    }

    /// The newest event time this detector has processed: the watermark
    /// of its partition or replay shard (None before the first event).
    pub fn watermark(&self) -> Option<Millis> {
        self.watermark
    }

    /// [`Detector::process`] with a panic contained: should processing
    /// panic (a bug: nothing the decoder accepts may cause one, and the
    /// fuzz and property tests look for it), the account's state, which
    /// the panic may have left half-updated, is reset to a fresh one, the
    /// event raises no alert, and the panic's message is returned so the
    /// caller can dead-letter the event (kind `internal`) and go on. A
    /// stream processor that dies on one message dies on it again after a
    /// restart: a crash loop that stops the partition for good.
    pub fn process_guarded(&mut self, ev: &Event<'_>, out: &mut Vec<Alert>) -> Result<(), String> {
        let before = out.len();
        let run = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            if PANIC_TEST_EVENT_ID
                .get()
                .is_some_and(|id| *id == ev.id.as_ref())
            {
                panic!("test hook: event {} panics", ev.id);
            }
            self.process(ev, out)
        }));
        match run {
            Ok(()) => Ok(()),
            Err(payload) => {
                out.truncate(before);
                self.reset_account(&ev.account, ev.time);
                self.stats.internal_errors += 1;
                Err(panic_message(payload.as_ref()))
            }
        }
    }

    /// One step of the idle sweep: the account under the hand is evicted
    /// if it has been idle for `state.idle_ttl` of event time. One state a
    /// event, in slab order (a sequential read the prefetcher follows), so
    /// a full pass takes as many events as there are accounts.
    #[inline]
    fn sweep_idle(&mut self) {
        let n = self.states.len();
        if n == 0 {
            return;
        }
        if self.hand >= n {
            self.hand = 0;
        }
        let Some(now) = self.watermark else { return };
        // The hand moves one state an event: start loading the one it
        // reaches sixteen events from now, so this read is a cache hit (a
        // miss here cost 12% of decode + detect at 1M accounts).
        let ahead = self.hand + 16;
        if ahead < n {
            index::prefetch(&self.states[ahead].last_seen);
        }
        let last = state::secs_to_ms(self.states[self.hand].last_seen);
        if now - last > self.idle_ttl {
            self.evict(self.hand);
        } else {
            self.hand += 1;
        }
    }

    /// Makes room for one more account: evicts the least recently active
    /// of eight accounts sampled at the hand, preferring those without an
    /// open case (sampled LRU, as Redis evicts: no recency list to keep).
    fn evict_for_room(&mut self) {
        let n = self.states.len();
        if n == 0 {
            return;
        }
        let mut victim = self.hand % n;
        let mut best = (true, u32::MAX);
        for k in 0..8.min(n) {
            let i = (self.hand + k) % n;
            let st = &self.states[i];
            let rank = (st.case.is_some(), st.last_seen);
            if rank < best {
                best = rank;
                victim = i;
            }
        }
        self.hand = (self.hand + 8) % n;
        self.evict(victim);
    }

    /// Forgets the account at slab position `i`: its index entry, its
    /// share of the population tables, its state (the last state moves
    /// into its place).
    fn evict(&mut self, i: usize) {
        let key = self.keys[i];
        self.index.remove(key);
        let st = &self.states[i];
        self.pop.forget(st);
        if !st.graduated {
            self.stats.learning = self.stats.learning.saturating_sub(1);
        }
        self.stats.accounts = self.stats.accounts.saturating_sub(1);
        self.stats.evicted += 1;
        self.states.swap_remove(i);
        self.keys.swap_remove(i);
        if i < self.states.len() {
            self.index.set(self.keys[i], i as u32);
        }
        if self.hinted == Some(key) {
            self.hinted = None;
        }
    }

    /// Replaces an account's state with a fresh one (after a panic). The
    /// population tables keep the account's old contributions: they are
    /// estimates, and one account more or less does not move them.
    fn reset_account(&mut self, account: &str, at: Millis) {
        if let Some(i) = self.index.get(hash_str(account)) {
            let st = &mut self.states[i as usize];
            if st.graduated {
                self.stats.learning += 1;
            }
            *st = AccountState::new(at);
        }
    }

    /// Bytes held for account state: slab, index, open cases.
    /// Puts a set of suppressions in force (between events).
    pub fn set_suppressions(
        &mut self,
        s: std::sync::Arc<crate::suppress::Suppressions>,
        generation: u64,
    ) {
        self.suppressions = s;
        self.suppressions_generation = generation;
    }

    /// Takes up the process's suppressions if they changed since the
    /// last call (one atomic load when they did not).
    pub fn follow_suppressions(&mut self) {
        let shared = crate::suppress::shared();
        let g = shared.generation();
        if g != self.suppressions_generation {
            self.set_suppressions(shared.current(), g);
        }
    }

    /// Accounts with an open case (under suspicion).
    pub fn open_cases(&self) -> usize {
        self.cases().count()
    }

    /// The open cases.
    fn cases(&self) -> impl Iterator<Item = &Case> {
        self.states.iter().filter_map(|s| s.case.as_deref())
    }

    /// Lock-out changes held in open cases, and how many of them say who
    /// made them (the state tests check that a snapshot carries both).
    #[cfg(test)]
    pub(crate) fn lockouts(&self) -> (usize, usize) {
        let held: Vec<_> = self.cases().flat_map(|c| c.lockouts.iter()).collect();
        let known = held.iter().filter(|l| l.actor != 0 || l.device != 0);
        (held.len(), known.count())
    }

    /// Lock-out changes held in open cases that were resets at home, and
    /// open cases with a reset from elsewhere (format 9 on).
    #[cfg(test)]
    pub(crate) fn resets(&self) -> (usize, usize) {
        let home = self
            .cases()
            .flat_map(|c| c.lockouts.iter())
            .filter(|l| l.sig == Sig::PasswordReset && l.familiar);
        (
            home.count(),
            self.cases().filter(|c| c.reset_elsewhere).count(),
        )
    }

    /// Open cases holding a password reset (see [`Case::holds_reset`]).
    #[cfg(test)]
    pub(crate) fn cases_with_resets(&self) -> usize {
        self.cases().filter(|c| c.holds_reset()).count()
    }

    /// Open cases that paged (high or above), and how many of them know
    /// the party they paged about (format 8 on).
    #[cfg(test)]
    pub(crate) fn paged_cases(&self) -> (usize, usize) {
        let paged: Vec<_> = self
            .cases()
            .filter(|c| c.emitted >= Some(Severity::High))
            .collect();
        let known = paged.iter().filter(|c| c.paged_by != [0; 3]);
        (paged.len(), known.count())
    }

    pub fn state_bytes(&self) -> usize {
        let slab = self.states.len() * std::mem::size_of::<AccountState>();
        let index = self.index.bytes();
        let cases: usize = self
            .cases()
            .map(|c| {
                std::mem::size_of::<Case>()
                    + c.events.iter().map(|e| e.len() + 24).sum::<usize>()
                    + c.signals
                        .iter()
                        .map(|s| s.detail.len() + s.phrase.len() + s.subject.len() + 104)
                        .sum::<usize>()
            })
            .sum();
        slab + index + cases
    }

    /// Tells the detector that an event of `account` (raw bytes of the
    /// id) comes soon, so that memory loads overlap other work: this
    /// starts loading the account's index entry, and the state of the
    /// account of the previous hint (whose entry has arrived meanwhile).
    /// Hint each event about two events before processing it, as the
    /// replay does; hints change timing only, never results.
    #[inline]
    pub fn hint(&mut self, account: &[u8]) {
        let key = hash_bytes(account);
        self.index.prefetch(key);
        if let Some(prev) = self.hinted.replace(key)
            && let Some(i) = self.index.get(prev)
        {
            index::prefetch_all(&self.states[i as usize]);
        }
    }

    /// Checks the bounds an account's state must keep whatever the input
    /// (the fuzz harness and the property tests call it after every
    /// event); panics on a violation.
    pub fn check_invariants(&self, account: &str) {
        let Some(st) = self.state(account) else {
            return;
        };
        if let Some(c) = &st.case {
            let max_ev = self.model.cfg.detect.max_evidence;
            assert!(c.events.len() <= max_ev, "{} evidence ids", c.events.len());
            assert!(
                c.events
                    .iter()
                    .all(|e| e.len() <= budget::MAX_EVENT_ID + 32),
                "an evidence id over its cap"
            );
            assert!(
                c.signals.len() <= 2 * Sig::COUNT,
                "{} signals",
                c.signals.len()
            );
            assert!(c.lockouts.len() <= budget::MAX_LOCKOUTS, "lockouts");
            assert!(c.tentative.len() <= 32, "tentative values");
            assert!(c.score.is_finite(), "case score {}", c.score);
            for s in &c.signals {
                assert!(s.detail.len() <= 4096, "detail of {} bytes", s.detail.len());
                assert!(s.phrase.len() <= 4096, "phrase of {} bytes", s.phrase.len());
                assert!(
                    s.subject.len() <= 4096,
                    "subject of {} bytes",
                    s.subject.len()
                );
            }
        }
        assert!(st.posting.per_day.is_finite(), "posting rate");
        assert!(self.states.len() <= self.max_accounts, "over the cap");
        assert_eq!(self.keys.len(), self.states.len());
        assert_eq!(
            self.index
                .get(hash_str(account))
                .map(|i| self.keys[i as usize]),
            Some(hash_str(account))
        );
    }

    /// Checks that every tracked account is indexed at its own position
    /// (tests: O(accounts)).
    #[doc(hidden)]
    pub fn check_index(&self) {
        for (i, k) in self.keys.iter().enumerate() {
            assert_eq!(self.index.get(*k), Some(i as u32), "account {i}");
        }
    }

    fn is_learning(cfg: &Config, st: &AccountState) -> bool {
        st.history_days() < cfg.learning.min_days as f64 || st.events < cfg.learning.min_events
    }

    /// Processes one event (in event-time order per account) and appends
    /// any alert it raises to `out`. Alerts leave with `detected_at` empty:
    /// the caller stamps it with the wall clock ([`Alert::stamp`]).
    pub fn process(&mut self, ev: &Event<'_>, out: &mut Vec<Alert>) {
        let key = hash_str(&ev.account);
        let now = self.watermark.map_or(ev.time, |w| w.max(ev.time));
        self.watermark = Some(now);
        self.sweep_idle();
        if self.ledger.due(now) {
            self.close_quiet(now);
        }
        if ev.kind == EventKind::Feedback {
            self.feedback(key, ev);
            return;
        }
        let idx = match self.index.get(key) {
            Some(i) => i as usize,
            None => {
                if self.states.len() >= self.max_accounts {
                    self.evict_for_room();
                }
                let i = self.states.len();
                let cap = self.states.capacity();
                self.states.push(AccountState::new(ev.time));
                self.keys.push(key);
                if self.states.capacity() != cap {
                    index::advise_huge(&self.states);
                }
                self.index.insert(key, i as u32);
                self.stats.accounts += 1;
                self.stats.learning += 1;
                i
            }
        };
        if self.states[idx].seen_recently(key32(&ev.id)) {
            self.stats.duplicates += 1;
            return;
        }
        self.stats.events += 1;
        self.stats.by_kind[ev.kind.index()] += 1;
        let lateness = self.lateness;

        // Split borrows: the state is mutated while the model is read.
        let Detector {
            model,
            states,
            pop,
            orgs,
            agents,
            hits,
            detail,
            phrase,
            stats,
            suppressions,
            ledger,
            ..
        } = self;
        let st = &mut states[idx];
        let cfg = &model.cfg;
        // Event-time policy: an event further behind the account's newest
        // than the allowed lateness is late. It still teaches the baseline
        // and carries its own intrinsic signals, but raises nothing that
        // compares it with its neighbours in time (travel, failure and post
        // bursts, sequences), whose order it has lost.
        let in_order = st.events == 0 || ev.time >= state::secs_to_ms(st.last_seen) - lateness;
        if !in_order {
            stats.late += 1;
        }

        if let Some(case) = &st.case
            && ev.time - case.last > model.long_ms
        {
            st.case = None;
        }

        let org = match ev.source.as_org.as_deref() {
            None | Some("") => signals::OrgClass::default(),
            Some(name) => {
                if orgs.len() >= 1 << 16 {
                    orgs.clear(); // bound: a flood of made-up names
                }
                *orgs
                    .entry(crate::hash::cache_key(name.as_bytes()))
                    .or_insert_with(|| model.classify_org(name))
            }
        };
        let agent = match ev.device.user_agent.as_deref() {
            None => (0, false),
            Some(ua) => {
                // The agent key (version digits stripped) and the
                // automation scan (a dozen substring searches) cost a pass
                // over the string each; most events come from agents seen
                // before, so both are cached by a hash of the full string
                // (64 bits: the 32-bit agent key may collide).
                if agents.len() >= 1 << 16 {
                    agents.clear(); // bound, as for organisation names
                }
                *agents
                    .entry(crate::hash::cache_key(ua.as_bytes()))
                    .or_insert_with(|| (signals::agent_key(ua), model.is_automation(ua)))
            }
        };
        let acc = model.access(ev, org, agent);
        let login = ev.kind == EventKind::Login;
        if login && !ev.is_success() {
            // A failed attempt is not the account's behaviour; it only
            // feeds the failure-burst window.
            record_failure(st, &acc, ev.time);
            touch(st, ev.time);
            return;
        }

        let learning = Self::is_learning(cfg, st);
        hits.clear();
        model.access_signals(ev, &acc, st, pop, in_order, hits);
        match ev.kind {
            EventKind::Post => model.post_signals(ev, st, pop, in_order, hits),
            EventKind::Login | EventKind::Logout | EventKind::Other => {}
            _ => model.change_signals(ev, &acc, st, learning, hits),
        }

        for h in hits.iter().filter(|h| h.c > 0.0) {
            stats.fired[h.sig as usize] += 1;
        }
        if !suppressions.is_empty() {
            suppressions.filter(key, ev, hits, &mut stats.suppressed);
        }
        if learning {
            for h in hits.iter_mut() {
                if h.sig.is_novelty() {
                    h.c *= cfg.learning.weight;
                }
            }
        }

        let alerts_before = out.len();
        let net = evaluate(
            model, ev, &acc, st, hits, detail, phrase, learning, in_order, stats, out,
        );
        if out.len() > alerts_before
            && let Some(case) = &st.case
        {
            ledger.alerted(key, case.id, case.last, model.long_ms, now);
        }
        let quarantined = st
            .case
            .as_ref()
            .is_some_and(|c| c.emitted >= Some(Severity::High));
        let suspicious = net >= cfg.detect.open_threshold;
        // The part of the event that says where it came from and who did
        // it (the event's own hits; sequences follow them in `hits`). Only
        // an app grant reads it (see `learn`), so only one sums it.
        let calm_access = ev.kind != EventKind::AppAuthorization
            || hits
                .iter()
                .filter(|h| h.sig.is_access() && h.c > 0.0)
                .map(|h| h.c)
                .sum::<f64>()
                < cfg.detect.open_threshold;
        let how = How {
            quarantined,
            suspicious,
            calm_access,
            in_order,
        };
        learn(model, pop, st, ev, &acc, how);
        touch(st, ev.time);
        if !st.graduated && !Self::is_learning(cfg, st) {
            st.graduated = true;
            stats.learning = stats.learning.saturating_sub(1);
        }
    }
}

impl Detector {
    /// Applies an analyst's verdict (see `feedback`). Feedback on an
    /// account this detector does not hold creates no state.
    fn feedback(&mut self, key: u64, ev: &Event<'_>) {
        let Some(idx) = self.index.get(key) else {
            self.stats.feedback_unmatched += 1;
            return;
        };
        let st = &mut self.states[idx as usize];
        if st.seen_recently(key32(&ev.id)) {
            self.stats.duplicates += 1;
            return;
        }
        self.stats.events += 1;
        self.stats.by_kind[ev.kind.index()] += 1;
        let verdict = ev
            .change
            .action
            .as_deref()
            .and_then(feedback::Verdict::parse);
        let incident = ev.change.target.as_deref().unwrap_or("");
        let Some(v) = feedback::apply(st, verdict, incident, day16(ev.time), &mut self.stats)
        else {
            return;
        };
        if v != feedback::Verdict::TruePositive {
            self.ledger.verdict(key, ev.time, v);
        }
        if self.verdicts.len() < 1024 {
            self.verdicts.push(feedback::Applied {
                incident: budget::capped(incident, budget::MAX_QUOTED).into_owned(),
                verdict: v,
                by: budget::capped(ev.actor.as_deref().unwrap_or(""), budget::MAX_QUOTED)
                    .into_owned(),
            });
        }
    }

    /// Closes the ledger's incidents whose case is quiet at `now` (see
    /// `incidents`).
    fn close_quiet(&mut self, now: Millis) {
        let Detector {
            ledger,
            index,
            states,
            model,
            ..
        } = self;
        ledger.sweep(now, model.long_ms, |key| {
            let case = states[index.get(key)? as usize].case.as_ref()?;
            Some((case.id, case.last))
        });
    }

    /// Rebuilds the open incidents from the cases (after a load).
    fn rebuild_ledger(&mut self) {
        let now = self.watermark.unwrap_or(Millis::MIN);
        for (st, key) in self.states.iter().zip(&self.keys) {
            if let Some(case) = &st.case
                && case.emitted.is_some()
            {
                self.ledger
                    .alerted(*key, case.id, case.last, self.model.long_ms, now);
            }
        }
    }

    /// Whether incidents closed since the last [`Detector::take_closed`].
    #[inline]
    pub fn has_closed(&self) -> bool {
        self.ledger.has_closed()
    }

    /// The incidents that closed since the last call, in order: the
    /// pipeline hands them to the sinks after the alerts of the same batch.
    pub fn take_closed(&mut self) -> Vec<incidents::Closed> {
        let closed = self.ledger.take();
        self.stats.incidents_closed += closed.len() as u64;
        closed
    }

    /// Incidents that alerted and are still open.
    pub fn open_incidents(&self) -> usize {
        self.ledger.open()
    }

    /// The verdicts applied since the last call, in order (the caller
    /// hands them to the sinks after the alerts of the same batch; at most
    /// 1,024 are kept between calls).
    pub fn take_verdicts(&mut self) -> Vec<feedback::Applied> {
        std::mem::take(&mut self.verdicts)
    }
}

/// The message of a caught panic (a `&str` or `String` payload).
pub fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a panic without a message".into())
}

fn touch(st: &mut AccountState, t: Millis) {
    st.events = st.events.saturating_add(1);
    st.last_seen = st.last_seen.max(secs32(t));
}

fn record_failure(st: &mut AccountState, acc: &signals::Access, t: Millis) {
    let now = secs32(t);
    let f = &mut st.failures;
    if f.count == 0 || now.saturating_sub(f.last) > 1800 {
        *f = state::Failures {
            since: now,
            ..Default::default()
        };
    }
    f.count = f.count.saturating_add(1);
    f.last = now;
    let net = if acc.network != 0 {
        acc.network
    } else {
        acc.ip_range
    };
    insert_distinct(&mut f.networks, net);
    if acc.country != NO_COUNTRY {
        insert_distinct(&mut f.countries, state::country_key(acc.country) as u16);
    }
}

/// Puts a non-zero value into the first free (zero) slot unless present;
/// a full array keeps what it has.
fn insert_distinct<T: Copy + PartialEq + Default>(slots: &mut [T], v: T) {
    if v == T::default() || slots.contains(&v) {
        return;
    }
    if let Some(s) = slots.iter_mut().find(|k| **k == T::default()) {
        *s = v;
    }
}

/// Folds the event's hits into the account's case; raises an alert on a
/// new severity. Returns the event's net contribution (after familiar
/// context), which says how suspicious the event itself was.
#[allow(clippy::too_many_arguments)]
fn evaluate(
    model: &Model,
    ev: &Event<'_>,
    acc: &signals::Access,
    st: &mut AccountState,
    hits: &mut Vec<Hit>,
    detail: &mut String,
    (phrase, subject): &mut (String, String),
    learning: bool,
    in_order: bool,
    stats: &mut Stats,
    out: &mut Vec<Alert>,
) -> f64 {
    let cfg = &model.cfg;
    let t = Tally::of(hits);
    if t.pos <= 0.0 && !t.lockout {
        return 0.0;
    }
    let net = (t.pos + t.neg).max(0.0);
    // Familiar context discounts the event's suspicious signals evenly.
    let factor = if t.pos > 0.0 { net / t.pos } else { 0.0 };
    // A late event's access is not a start of a sequence: what came
    // after it has been seen already, out of order.
    let risky = t.access_risk >= cfg.detect.risky_access && in_order;
    let n_before = hits.len();
    push_sequences(model, ev, st, hits, risky, t.access_risk, in_order);

    let opens = net >= cfg.detect.open_threshold || t.lockout || hits.len() > n_before;
    let joins = st.case.is_some()
        && (net >= cfg.detect.join_threshold || t.lockout || hits.len() > n_before);
    if !(opens || joins) {
        return net;
    }
    // The case is taken out of the state while evidence is folded in, so
    // explanations can read the baseline; it goes back at the end.
    let half_life = cfg.detect.evidence_half_life_ms();
    let mut case = st.case.take().unwrap_or_else(|| open_case(ev, st, stats));
    // Only evidence that would open a case keeps it open: weak evidence
    // joins it but does not extend its life. Until 2026-11-27 every join
    // did, and an integration posting from a cloud network first seen in
    // a case kept that case (and so the network's tentativeness) alive
    // for weeks on its own weak signals (kawal's simulation, seed 1: 201
    // of 556 false alerts came from cases two days old or more).
    if opens {
        case.last = case.last.max(ev.time);
    }
    // The latest risky access is the one later actions follow.
    if risky && case.risky_access.is_none_or(|(t, _)| ev.time >= t) {
        case.risky_access = Some((ev.time, t.access_risk));
    }
    lockout_cluster(model, ev, acc, &mut case, hits, n_before);
    let fold = Fold {
        ev,
        acc,
        st,
        n_before,
        factor,
        half_life,
    };
    fold.evidence(model, &mut case, hits, detail, phrase, subject, stats);

    case.add_event(&ev.id, cfg.detect.max_evidence);
    case.rescore(ev.time, half_life);
    let severity = case.severity(&cfg.severity, ev.time, half_life);
    let party = paged_by(acc.keys());
    if let Some(sev) = severity
        && (Some(sev) > case.emitted
            || (opens && pages_again(model, &case, ev.time, half_life, party, sev)))
    {
        case.emitted = case.emitted.max(Some(sev));
        if sev >= Severity::High {
            case.paged = ev.time;
            case.paged_by = party;
        }
        stats.alerts[sev as usize] += 1;
        let mut alert = build_alert(ev, &case, sev, learning, half_life);
        if budget::fit_alert(&mut alert, cfg.detect.alert_max_bytes) {
            stats.alerts_trimmed += 1;
        }
        out.push(alert);
    }
    st.case = Some(case);
    net
}

/// The party an alert is about: the network, address range and device
/// keys of its access (0 where unknown).
fn paged_by(k: score::AccessKeys) -> [u32; 3] {
    [k[1], k[2], k[3]]
}

/// Whether a case that already paged (high or above) pages again, as a
/// new alert of the same incident, for an event of `party` that opened
/// evidence and left the case at `sev` (`detect.repage_after`): its page
/// is `repage_after` old, the case had no evidence between that page and
/// this short window, the event is not the paged party's (its network,
/// address range or device; a case read from a snapshot older than format
/// 8 knows no party and never pages again), and the evidence of parties
/// other than the paged one since the page reaches high on its own.
/// Without it an incident left open without a verdict absorbed a takeover
/// the next day (see the configuration's comment for what it measured).
fn pages_again(
    model: &Model,
    case: &Case,
    now: Millis,
    half_life: Millis,
    party: [u32; 3],
    sev: Severity,
) -> bool {
    let same = |p: [u32; 3]| p.iter().zip(case.paged_by).any(|(&a, b)| a != 0 && a == b);
    if sev < Severity::High
        || case.emitted < Some(Severity::High)
        || now - case.paged < model.repage_ms
        || case.paged_by == [0; 3]
        || same(party)
        || case
            .signals
            .iter()
            .any(|s| s.at > case.paged && now - s.at > model.short_ms)
    {
        return false;
    }
    let mut fresh = case.clone();
    fresh
        .signals
        .retain(|s| s.at > case.paged && !same(paged_by(s.access)));
    fresh.rescore(now, half_life);
    fresh.severity(&model.cfg.severity, now, half_life) >= Some(Severity::High)
}

/// An event's hits summed: suspicious, reassuring, the part that is
/// access, and whether one is a lock-out change.
struct Tally {
    pos: f64,
    neg: f64,
    access_risk: f64,
    lockout: bool,
}

impl Tally {
    fn of(hits: &[Hit]) -> Tally {
        let mut t = Tally {
            pos: 0.0,
            neg: 0.0,
            access_risk: 0.0,
            lockout: false,
        };
        for h in hits {
            if h.c > 0.0 {
                t.pos += h.c;
            } else {
                t.neg += h.c;
            }
            if part_of_access(h.sig) {
                t.access_risk += h.c;
            }
            t.lockout |= h.sig.is_lockout();
        }
        t
    }
}

/// Whether a hit counts toward its event's access risk. A reset through
/// recovery is how a SIM swapper gets in: it is part of the access, not
/// only an action.
fn part_of_access(sig: Sig) -> bool {
    sig.is_access() || sig == Sig::PasswordReset
}

/// Sequence hits: this event's actions after a risky access (earlier, or
/// this event's), and, when this event is a risky access that arrived
/// late, the actions already seen after it.
fn push_sequences(
    model: &Model,
    ev: &Event<'_>,
    st: &AccountState,
    hits: &mut Vec<Hit>,
    risky: bool,
    access_risk: f64,
    in_order: bool,
) {
    let (risky_at, risk) = if risky {
        (Some(ev.time), access_risk)
    } else {
        st.case
            .as_ref()
            .and_then(|c| c.risky_access)
            .map_or((None, 0.0), |(t, r)| (Some(t), r))
    };
    let n_before = hits.len();
    if let Some(at) = risky_at
        && in_order
    {
        for i in 0..n_before {
            let h = hits[i];
            // What made this event the risky access does not follow it:
            // a reset counted again as "a reset 0 min after a risky
            // sign-in" had its weight twice, and every reset from a new
            // phone looked like a SIM swap's second step (the simulation's
            // `forgotten_password` story at its first rates, a lost phone:
            // 11 of its 32 false alerts at high on seed 1 had that hit).
            if risky && part_of_access(h.sig) {
                continue;
            }
            if h.sig.is_sequence_action() && h.c > 0.0 {
                push_sequence(model, hits, h.sig, h.c, ev.time - at, risk);
            }
        }
    }
    // A risky access that arrives after actions that happened after it
    // (out of order, within the allowed lateness): those actions are its
    // sequence, as they would have been in order.
    if risky && let Some(case) = st.case.as_ref() {
        for s in case.signals.iter() {
            if !s.sequence && s.sig.is_sequence_action() && s.at > ev.time {
                push_sequence(model, hits, s.sig, s.contribution, s.at - ev.time, risk);
            }
        }
    }
}

/// A new case on the account of `ev`.
fn open_case(ev: &Event<'_>, st: &AccountState, stats: &mut Stats) -> Box<Case> {
    stats.cases_opened += 1;
    let id = hash_bytes(format!("{}\0{}", ev.account, ev.id).as_bytes());
    let mut case = Box::new(Case::new(id, ev.time));
    // Values first seen today, once or twice, came just before the
    // case: possibly with it (a sign-in that arrived before the reset
    // it followed, within the allowed lateness). They are tentative
    // like those seen during the case, so they never reassure.
    let today = day16(ev.time);
    let fresh = |s: &state::Slot| s.count <= 2 && s.last_day == today;
    let keys = st
        .devices
        .iter()
        .filter(|s| fresh(s))
        .chain(st.networks.iter().filter(|s| fresh(s)))
        .chain(st.ip_ranges.iter().filter(|s| fresh(s)))
        .chain(st.agents.iter().filter(|s| fresh(s)))
        .map(|s| s.key);
    for k in keys {
        case.add_tentative(k);
    }
    case
}

/// Lock-out cluster: three distinct lock-out kinds (two-factor, recovery,
/// password, admin) within the short window, made by one party (the same
/// actor or device, or someone that party granted a role), add
/// `security_cluster`. One party: an intruder locks the owners out from
/// the session it holds, while two colleagues each doing one thing in the
/// same hour (a phone re-enrolled, a newcomer given a role from the
/// office) are no lock-out. On kawal's simulation, seeds
/// 1-3 of 2026-11-27, every lock-out cluster of a takeover (38, all SIM
/// swaps) was one party's and every false page with a cluster at high (7)
/// was two people's.
fn lockout_cluster(
    model: &Model,
    ev: &Event<'_>,
    acc: &signals::Access,
    case: &mut Case,
    hits: &mut Vec<Hit>,
    n_before: usize,
) {
    let target = match ev.kind {
        EventKind::RoleChange if ev.change.action.as_deref() == Some("grant") => {
            ev.change.target.as_deref().map_or(0, key32)
        }
        _ => 0,
    };
    for h in hits[..n_before].iter().filter(|h| h.sig.is_lockout()) {
        let familiar = h.familiar_lockout();
        if h.sig == Sig::PasswordReset && !familiar {
            case.reset_elsewhere = true;
        }
        case.lockouts.push(score::Lockout {
            sig: h.sig,
            at: ev.time,
            raw: h.raw,
            actor: acc.actor,
            device: acc.device,
            target,
            familiar,
        });
    }
    case.lockouts.retain(|l| ev.time - l.at <= model.short_ms);
    // A flood of changes inside the window: keep the latest.
    if case.lockouts.len() > budget::MAX_LOCKOUTS {
        let extra = case.lockouts.len() - budget::MAX_LOCKOUTS;
        case.lockouts.drain(..extra);
    }
    // The party with the most kinds of change (at most MAX_LOCKOUTS
    // changes: the pairs are few, and only a case's events get here).
    // Each kind keeps its highest raw weight and whether all its changes
    // were familiar.
    let mut kinds: Vec<(Sig, f64, bool)> = Vec::new();
    let mut party: Vec<(Sig, f64, bool)> = Vec::new();
    for me in &case.lockouts {
        party.clear();
        for l in case.lockouts.iter().filter(|l| l.same_party(me)) {
            match party.iter_mut().find(|(k, _, _)| *k == l.sig) {
                Some((_, r, f)) => {
                    *r = r.max(l.raw);
                    *f &= l.familiar;
                }
                None => party.push((l.sig, l.raw, l.familiar)),
            }
        }
        if party.len() > kinds.len() {
            std::mem::swap(&mut kinds, &mut party);
        }
    }
    if kinds.len() >= 3 {
        let sum: f64 = kinds.iter().map(|(_, r, _)| r).sum();
        // A reset at home, then the recovery phone and the authenticator
        // moved from there: a lost phone replaced by its owner. The
        // cluster counts at the re-enrolment weight; one change from
        // elsewhere (or a role change) and it counts fully. Without a
        // reset at home it counts fully too: the re-enrolment test is
        // the network, which a residential proxy on the staff's own
        // provider passes, while the reset's is the address range.
        let home_reset = kinds.iter().any(|(k, _, _)| *k == Sig::PasswordReset);
        let factor = if home_reset && kinds.iter().all(|(_, _, f)| *f) {
            model.cfg.weights.familiar_change
        } else {
            1.0
        };
        hits.push(Hit {
            sig: Sig::SecurityCluster,
            c: (model.cfg.weights.security_cluster + 0.5 * sum) * factor,
            a: kinds.len() as f64,
            b: factor,
            raw: 0.0,
        });
    }
}

/// What folding an event's hits into its case needs to know.
struct Fold<'a, 'e> {
    ev: &'a Event<'e>,
    acc: &'a signals::Access,
    st: &'a AccountState,
    /// Hits before this index are the event's own; after it, sequences
    /// (and the lock-out cluster).
    n_before: usize,
    /// The familiar-context discount.
    factor: f64,
    half_life: Millis,
}

impl Fold<'_, '_> {
    /// Adds each hit's contribution, explained, to the case.
    #[allow(clippy::too_many_arguments)]
    fn evidence(
        &self,
        model: &Model,
        case: &mut Case,
        hits: &[Hit],
        detail: &mut String,
        phrase: &mut String,
        subject: &mut String,
        stats: &mut Stats,
    ) {
        let (ev, acc, st, factor) = (self.ev, self.acc, self.st, self.factor);
        for (i, h) in hits.iter().enumerate() {
            let sequence = i >= self.n_before && h.sig != Sig::SecurityCluster;
            let contribution = if sequence {
                h.raw * factor.max(0.5)
            } else if h.sig == Sig::SecurityCluster {
                h.c
            } else if h.c > 0.0 {
                h.c * factor
            } else {
                continue;
            };
            // Below what an alert shows, it is not evidence.
            if contribution < score::SHOWN {
                continue;
            }
            stats.evidence[h.sig as usize] += 1;
            let mut key = 0;
            if sequence {
                detail.clear();
                phrase.clear();
                subject.clear();
                let what = h.sig.name().replace('_', " ");
                let _ = write!(detail, "{what} {:.0} min after a risky sign-in", h.a);
                let _ = write!(phrase, "{what} {:.0} min after it", h.a);
            } else {
                model.render(h, ev, acc, st, detail, phrase);
                key = recovery::subject(h, ev, acc, st, subject);
                if factor < 0.999 && h.sig != Sig::SecurityCluster {
                    let _ = write!(
                        detail,
                        " (discounted to {:.0}% by familiar context)",
                        factor * 100.0
                    );
                }
            }
            case.add_signal(
                CaseSignal {
                    sig: h.sig,
                    sequence,
                    contribution,
                    detail: detail.clone(),
                    phrase: phrase.clone(),
                    at: ev.time,
                    subject: subject.clone(),
                    key,
                    access: acc.keys(),
                },
                self.half_life,
            );
        }
    }
}

/// Adds the sequence hit of an action `dt` after a risky access of
/// strength `risk`: full weight in the short window, reduced in the long
/// one, none outside it or before the access (`dt` < 0: the action came
/// first, which is no sequence).
fn push_sequence(model: &Model, hits: &mut Vec<Hit>, sig: Sig, c: f64, dt: Millis, risk: f64) {
    let cfg = &model.cfg;
    let w = if dt < 0 {
        return;
    } else if dt <= model.short_ms {
        1.0
    } else if dt <= model.long_ms {
        cfg.detect.long_window_weight
    } else {
        return;
    };
    // Stronger for a stronger action and a riskier access.
    let strength = (c / 2.0).min(1.0) * (risk / (2.0 * cfg.detect.risky_access)).min(1.0);
    hits.push(Hit {
        sig,
        c: 0.0,
        a: dt as f64 / MINUTE as f64,
        b: w,
        raw: cfg.weights.sequence * w * strength,
    });
}

fn build_alert(
    ev: &Event<'_>,
    case: &Case,
    sev: Severity,
    learning: bool,
    half_life: Millis,
) -> Alert {
    let id =
        hash_bytes(format!("{}\0{}\0takeover\0{}", ev.account, ev.id, sev.as_str()).as_bytes());
    // Signals as they stand now (faded evidence at its current weight).
    let mut signals: Vec<(f64, &CaseSignal)> = case
        .signals
        .iter()
        .map(|s| (s.effective(ev.time, half_life), s))
        .filter(|(c, _)| *c >= score::SHOWN)
        .collect();
    signals.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.name().cmp(b.1.name())));

    // Summary: the strongest signals' phrases, in the order they happened.
    let mut top: Vec<&CaseSignal> = signals
        .iter()
        .filter(|(c, _)| *c >= 0.75)
        .map(|(_, s)| *s)
        .take(5)
        .collect();
    top.sort_by_key(|s| s.at);
    let mut summary = String::with_capacity(160);
    summary.push_str(match sev {
        Severity::Critical | Severity::High => "Likely takeover of ",
        Severity::Medium => "Possible takeover of ",
        Severity::Low => "Unusual activity on ",
    });
    let account = budget::capped(&ev.account, budget::MAX_ACCOUNT);
    summary.push_str(&account);
    summary.push_str(": ");
    let first_at = top.first().map_or(ev.time, |s| s.at);
    for (i, s) in top.iter().enumerate() {
        if i > 0 {
            if s.at - first_at >= MINUTE && s.at != top[i - 1].at {
                summary.push_str(", then ");
            } else {
                summary.push_str(", ");
            }
        }
        summary.push_str(&s.phrase);
    }

    let recovery = recovery::steps(&account, case, sev);
    Alert {
        id: format!("al-{id:016x}"),
        account: account.into_owned(),
        time: rfc3339(ev.time),
        detected_at: String::new(),
        severity: sev,
        score: score::round3(case.score),
        summary,
        signals: signals
            .iter()
            .map(|(c, s)| AlertSignal {
                name: s.name().to_string(),
                contribution: score::round3(*c),
                detail: s.detail.clone(),
            })
            .collect(),
        events: case.events.clone(),
        incident: case.incident_id(),
        learning,
        first_event_time: rfc3339(case.opened),
        recovery,
        trigger_ms: ev.time,
    }
}

/// How an event is learnt from.
#[derive(Clone, Copy)]
struct How {
    /// The account is under a high-severity case: locations and devices
    /// are not learnt (a hijacker's must not become familiar).
    quarantined: bool,
    /// The event itself reached the open threshold.
    suspicious: bool,
    /// Its access part (where, which device, who) stayed below it
    /// (computed for app grants only; true for other events).
    calm_access: bool,
    /// Not late (see the event-time policy in `process`).
    in_order: bool,
}

/// Learns from the event: the baseline after it includes it.
fn learn(
    model: &Model,
    pop: &mut Population,
    st: &mut AccountState,
    ev: &Event<'_>,
    acc: &signals::Access,
    how: How,
) {
    let How {
        quarantined,
        suspicious,
        calm_access,
        in_order,
    } = how;
    let day = day16(ev.time);
    let login = ev.kind == EventKind::Login;
    if login {
        st.logins_ok = st.logins_ok.saturating_add(1);
        if acc.hosting {
            st.hosting_logins = st.hosting_logins.saturating_add(1);
        }
        st.failures = Default::default();
    }
    let session = login || ev.kind == EventKind::PasswordReset || acc.device != 0;
    if !quarantined && (login || ev.kind == EventKind::PasswordReset) {
        // The sign-in behind this session (session continuity).
        st.set_session(acc.session, acc.network, secs32(ev.time));
    }
    if !quarantined {
        if session && acc.located {
            let first_located = st.countries.n == 0 && st.networks.n == 0;
            if acc.country != NO_COUNTRY
                && st.countries.observe(state::country_key(acc.country), day)
            {
                let n = pop.countries.entry(acc.country).or_default();
                *n = n.saturating_add(1);
            }
            if acc.network != 0 && st.networks.observe(acc.network, day) {
                pop.add_network(acc.network);
                tentative(st, acc.network);
            }
            if st.ip_ranges.observe(acc.ip_range, day) {
                tentative(st, acc.ip_range);
            }
            if first_located && (st.countries.n > 0 || st.networks.n > 0) {
                pop.located_accounts = pop.located_accounts.saturating_add(1);
            }
            // A late sign-in is not the actor's latest whereabouts.
            if login
                && in_order
                && let Some((lat, lon)) = ev.source.position()
            {
                learn_place(st, lat, lon, day, model.cfg.familiar.place_radius_km);
                st.set_last_login(state::LastLogin {
                    actor: acc.actor,
                    at: secs32(ev.time),
                    lat: lat as f32,
                    lon: lon as f32,
                    accuracy_km: ev
                        .source
                        .accuracy_km
                        .unwrap_or(model.cfg.travel.default_accuracy_km)
                        as f32,
                    asn: acc.network,
                    country: acc.country,
                    has_position: true,
                    mobile: acc.mobile,
                });
            }
        }
        if st.devices.observe(acc.device, day) {
            tentative(st, acc.device);
        }
        if st.agents.observe(acc.agent, day) {
            tentative(st, acc.agent);
        }
        if st.actors.observe(acc.actor, day) {
            tentative(st, acc.actor);
        }
    }

    match ev.kind {
        EventKind::Post => learn_post(model, st, pop, ev, day, quarantined),
        EventKind::RoleChange => {
            let ch = &ev.change;
            let target = ch.target.as_deref().map_or(0, key32);
            match ch.action.as_deref() {
                Some("grant") => {
                    // Onboarding is trusted only when an established actor
                    // grants from a familiar device, outside any risky session.
                    let g = GrantContext::of(model, st, acc, ev.time);
                    let trusted =
                        !suspicious && !g.case_risky && g.familiar_device && g.established;
                    st.push_role_grant(Grant {
                        key: target,
                        at: secs32(ev.time),
                        trust: if trusted { Trust::Trusted } else { Trust::None },
                    });
                    if trusted && signals::is_admin_role(ch.role.as_deref().unwrap_or("")) {
                        st.add_admin(target);
                    }
                }
                Some("revoke") => st.remove_admin(target),
                _ => {}
            }
        }
        EventKind::AppAuthorization if ev.change.action.as_deref() == Some("grant") => {
            let app = ev.change.app.as_deref().map_or(0, key32_ignore_case);
            // An app is vouched for like a person: granted by an
            // established actor from a familiar device outside any risky
            // session. A vouched newcomer's app came with them (their
            // scheduling tool): its posts are theirs, whoever the platform
            // names as publisher. Their grant is weighed in full (a
            // newcomer's grants are not discounted) and their device is
            // new to any open case, so what decides is that they signed
            // in as themselves: a calm access, not within a sitting of the
            // case's risky access.
            let vouched = model.vouched(ev.time, acc.actor, st);
            let g = GrantContext::of(model, st, acc, ev.time);
            let trust = if !suspicious && !g.case_risky && g.established && g.familiar_device {
                // An admin who brought newcomers in (an agency) and now
                // connects an app brings it in with them: their tool.
                if model.onboarding(ev.time, acc.actor, st) {
                    Trust::Brought
                } else {
                    Trust::Trusted
                }
            } else if vouched && calm_access && !g.risky_sitting {
                Trust::Brought
            } else {
                Trust::None
            };
            push_grant(
                &mut st.app_grants,
                Grant {
                    key: app,
                    at: secs32(ev.time),
                    trust,
                },
            );
        }
        _ => {}
    }
    // Actors active for weeks with many actions are established admins.
    if acc.actor != 0
        && !quarantined
        && st.actors.count(acc.actor) >= model.cfg.familiar.admin_actions
        && !suspicious
    {
        st.add_admin(acc.actor);
    }
}

/// Who grants, from where: what decides whether a grant (of a role or an
/// app) is trusted, and so vouches for what it introduces.
struct GrantContext {
    /// An admin, or an actor with ten actions or more.
    established: bool,
    /// No device, or one used three times or more.
    familiar_device: bool,
    /// The grant is part of a risky session: the open case's latest
    /// risky access is at most the short window (one sitting) before
    /// it, or the device is new to the case.
    case_risky: bool,
    /// The first half of that: within a sitting of the risky access.
    risky_sitting: bool,
}

impl GrantContext {
    /// Until 2026-11-27 any risky access in the open case made a grant
    /// risky, however long before; a case can stay open for weeks while
    /// weak evidence keeps joining it, so an admin's grant from the
    /// office vouched for nobody because someone else had signed in from
    /// abroad days earlier. A hijacker's grant follows their access in
    /// the same sitting, from their own device (new to the case) or from
    /// a stolen session (suspicious by itself).
    fn of(model: &Model, st: &AccountState, acc: &signals::Access, t: Millis) -> GrantContext {
        let sitting = model.cfg.detect.short_window_ms();
        let case = st.case.as_ref();
        let risky_sitting =
            case.is_some_and(|c| c.risky_access.is_some_and(|(at, _)| t - at <= sitting));
        GrantContext {
            established: model.established(acc.actor, st),
            familiar_device: acc.device == 0
                || st.devices.count(acc.device) >= model.cfg.familiar.device_uses,
            case_risky: risky_sitting || case.is_some_and(|c| c.is_tentative(acc.device)),
            risky_sitting,
        }
    }
}

/// Marks a value first seen while a case is open.
fn tentative(st: &mut AccountState, key: u32) {
    if let Some(case) = st.case.as_mut() {
        case.add_tentative(key);
    }
}

fn learn_place(st: &mut AccountState, lat: f64, lon: f64, day: state::Day, radius_km: f64) {
    if let Some(p) = st.places.iter_mut().find(|p| {
        p.count > 0 && signals::haversine_km(lat, lon, p.lat as f64, p.lon as f64) <= radius_km
    }) {
        p.count = p.count.saturating_add(1);
        p.last_day = day;
        return;
    }
    let weakest = st
        .places
        .iter_mut()
        .min_by_key(|p| (p.count, p.last_day))
        .expect("places");
    *weakest = state::Place {
        lat: lat as f32,
        lon: lon as f32,
        count: 1,
        last_day: day,
    };
}

fn learn_post(
    model: &Model,
    st: &mut AccountState,
    pop: &mut Population,
    ev: &Event<'_>,
    day: state::Day,
    quarantined: bool,
) {
    let cfg = &model.cfg.posting;
    let p = &mut st.posting;
    // Hours: weekly decay with a four-week half-life.
    if p.hours_day == 0 {
        p.hours_day = day;
    }
    let weeks = day.saturating_sub(p.hours_day) / 7;
    if weeks > 0 {
        let f = 0.5f32.powf(weeks as f32 / 4.0);
        for h in p.hours.iter_mut().flatten() {
            *h = (*h as f32 * f) as u8;
        }
        p.hours_day = p.hours_day.saturating_add(weeks * 7);
    }
    let (hour, weekend) = crate::time::hour_and_weekend(ev.time, cfg.weekend_utc_offset_minutes);
    let (wk, hr) = (weekend as usize, hour as usize);
    if !quarantined {
        if p.hours[wk][hr] > u8::MAX - state::HOUR_UNIT {
            for h in p.hours.iter_mut().flatten() {
                *h /= 2;
            }
        }
        p.hours[wk][hr] += state::HOUR_UNIT;
    }
    // Daily rate: EWMA over days (idle days count as zero). A post from
    // an earlier day (out of order) counts in today's tally rather than
    // rewinding the day.
    if day > p.today {
        if p.today != 0 {
            let alpha = 1.0 / 14.0;
            p.per_day = p.per_day * (1.0 - alpha) + alpha * p.today_count as f32;
            let idle = day.saturating_sub(p.today).saturating_sub(1).min(365);
            p.per_day *= (1.0 - alpha).powi(idle as i32);
        }
        p.today = day;
        p.today_count = 0;
    }
    p.today_count = p.today_count.saturating_add(1);
    p.posts = p.posts.saturating_add(1);
    p.recent[p.recent_next as usize % p.recent.len()] = secs32(ev.time);
    p.recent_next = p.recent_next.wrapping_add(1) % p.recent.len() as u8;
    if quarantined {
        return;
    }
    if let Some(post) = ev.post.as_ref() {
        if let Some(client) = post.client.as_deref() {
            st.post_clients.observe(key32_ignore_case(client), day);
        }
        let first_links = st.domains.n == 0;
        for link in post.links.iter() {
            let host = signals::url_host(link);
            if !host.is_empty() {
                let key = key32_ignore_case(host);
                if st.domains.observe(key, day) {
                    pop.add_domain(key);
                }
            }
        }
        if first_links && st.domains.n > 0 {
            pop.linking_accounts = pop.linking_accounts.saturating_add(1);
        }
    }
}
