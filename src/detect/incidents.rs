//! When an incident closes, on the detector's one clock: event time.
//!
//! A case closes once `detect.long_window` of event time passes without
//! evidence strong enough to open one (see `evaluate`), or when an analyst
//! calls it benign or a false positive (see `feedback`). The case itself
//! is dropped lazily, at the account's next event; the receivers of
//! alerts (PagerDuty, Alertmanager, Slack, PostgreSQL...) need to hear of
//! it when it happens, whether or not the account ever speaks again. The
//! ledger keeps the accounts with an alerted, open case and, when the
//! detector's watermark passes the earliest moment one of them may be
//! quiet, sweeps them: each whose case is gone, replaced, or quiet for the
//! window yields a [`Closed`] the pipeline hands to the sinks after the
//! alerts of the same batch.
//!
//! Until 2026-11-27 the webhook deliverers closed incidents on their own,
//! after a day of wall clock without a new alert: a second clock, so a
//! replay never closed anything, and an incident the detector still held
//! open (a takeover going on for 30 hours) was announced resolved. The
//! deliverers keep a wall-clock close only as a safety net for what the
//! detector never closes (`delivery.resolve_after`).
//!
//! Cost: one comparison per event; a sweep only when the watermark passes
//! the earliest due time (it visits the open incidents, a few thousand at
//! most, and closes at least one or moves the due time on). The ledger is
//! not in the snapshot: it is rebuilt from the cases on load.

use std::collections::HashMap;

use super::feedback::Verdict;
use crate::hash::BuildPassThrough;
use crate::time::Millis;

/// Why an incident closed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Why {
    /// No evidence strong enough to open a case for `quiet_ms` of event
    /// time (the account's state may also have been evicted).
    Quiet { quiet_ms: Millis },
    /// An analyst's verdict closed it.
    Verdict(Verdict),
}

impl Why {
    pub fn as_str(self) -> &'static str {
        match self {
            Why::Quiet { .. } => "quiet",
            Why::Verdict(v) => v.as_str(),
        }
    }
}

/// An incident that closed, for the sinks that follow incidents.
#[derive(Debug, Clone, PartialEq)]
pub struct Closed {
    /// As alerts name it: `inc-<16 hex>`.
    pub incident: String,
    /// Event time of the close: the watermark that found it quiet, or the
    /// verdict's time.
    pub at: Millis,
    pub why: Why,
}

fn closed(case: u64, at: Millis, why: Why) -> Closed {
    Closed {
        incident: format!("inc-{case:016x}"),
        at,
        why,
    }
}

/// The accounts whose case has alerted and not yet closed.
#[derive(Debug)]
pub(super) struct Ledger {
    /// Account key -> case id of its alerted, open case.
    open: HashMap<u64, u64, BuildPassThrough>,
    /// No entry can be quiet before this event time (`Millis::MAX`: none
    /// open). Conservative: a case's `last` only grows.
    due: Millis,
    closed: Vec<Closed>,
}

impl Default for Ledger {
    fn default() -> Ledger {
        Ledger {
            open: HashMap::default(),
            due: Millis::MAX,
            closed: Vec::new(),
        }
    }
}

/// At most this many closings wait between two `take`s (the pipelines
/// take them after every event that made one; a bound all the same).
const MAX_WAITING: usize = 4096;

impl Ledger {
    /// Whether a sweep at watermark `now` may close something.
    #[inline]
    pub fn due(&self, now: Millis) -> bool {
        now >= self.due
    }

    /// The account `key`'s case `case` alerted; it closes after `long_ms`
    /// of quiet from `last`. A different case still on the ledger for the
    /// account has closed (quiet: a new case only opens once the old one
    /// has gone), at `now`.
    pub fn alerted(&mut self, key: u64, case: u64, last: Millis, long_ms: Millis, now: Millis) {
        if let Some(old) = self.open.insert(key, case)
            && old != case
        {
            self.push(closed(old, now, Why::Quiet { quiet_ms: long_ms }));
        }
        self.due = self.due.min(last.saturating_add(long_ms));
    }

    /// A verdict closed the account's case.
    pub fn verdict(&mut self, key: u64, at: Millis, v: Verdict) {
        if let Some(case) = self.open.remove(&key) {
            self.push(closed(case, at, Why::Verdict(v)));
        }
    }

    /// Closes every entry whose case `case_of` no longer shows open with
    /// the same id, or shows quiet at `now`; `case_of` gives an account's
    /// (case id, last evidence time). Closings come out in incident order,
    /// so a sweep's output does not depend on the table's layout.
    pub fn sweep(
        &mut self,
        now: Millis,
        long_ms: Millis,
        case_of: impl Fn(u64) -> Option<(u64, Millis)>,
    ) {
        let mut due = Millis::MAX;
        let start = self.closed.len();
        let Ledger {
            open, closed: out, ..
        } = self;
        open.retain(|key, id| match case_of(*key) {
            Some((c, last)) if c == *id && now - last <= long_ms => {
                due = due.min(last.saturating_add(long_ms));
                true
            }
            _ => {
                if out.len() < MAX_WAITING {
                    out.push(closed(*id, now, Why::Quiet { quiet_ms: long_ms }));
                }
                false
            }
        });
        self.closed[start..].sort_by(|a, b| a.incident.cmp(&b.incident));
        self.due = due;
    }

    fn push(&mut self, c: Closed) {
        if self.closed.len() < MAX_WAITING {
            self.closed.push(c);
        }
    }

    pub fn has_closed(&self) -> bool {
        !self.closed.is_empty()
    }

    pub fn take(&mut self) -> Vec<Closed> {
        std::mem::take(&mut self.closed)
    }

    pub fn open(&self) -> usize {
        self.open.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const H: Millis = 3_600_000;

    #[test]
    fn an_incident_closes_once_its_case_is_quiet_or_gone() {
        let mut l = Ledger::default();
        let long = 48 * H;
        l.alerted(1, 0xa, 0, long, 0);
        l.alerted(2, 0xb, 10 * H, long, 10 * H);
        assert!(!l.due(47 * H) && l.due(48 * H));
        // Account 1's case had evidence at 20 h: not quiet yet at 48 h.
        let cases = |k: u64| match k {
            1 => Some((0xa, 20 * H)),
            2 => Some((0xb, 10 * H)),
            _ => None,
        };
        l.sweep(49 * H, long, cases);
        assert!(!l.has_closed());
        assert!(!l.due(57 * H) && l.due(58 * H + 1));
        l.sweep(58 * H + 1, long, cases);
        let c = l.take();
        assert_eq!(c.len(), 1);
        assert_eq!(c[0].incident, "inc-000000000000000b");
        assert_eq!(c[0].why, Why::Quiet { quiet_ms: long });
        assert_eq!(l.open(), 1);
        // An evicted account's incident closes at the next sweep.
        l.sweep(59 * H, long, |_| None);
        assert_eq!(l.take()[0].incident, "inc-000000000000000a");
        assert!(!l.due(i64::MAX - 1), "nothing open, nothing due");
    }

    #[test]
    fn a_new_case_or_a_verdict_closes_the_old_incident_at_once() {
        let mut l = Ledger::default();
        l.alerted(7, 1, 0, 10, 0);
        l.alerted(7, 1, 5, 10, 5); // an escalation of the same case
        assert!(!l.has_closed());
        l.alerted(7, 2, 30, 10, 30);
        assert_eq!(l.take()[0].incident, "inc-0000000000000001");
        l.verdict(7, 31, Verdict::FalsePositive);
        l.verdict(7, 32, Verdict::FalsePositive); // nothing open: nothing
        let c = l.take();
        assert_eq!(c.len(), 1);
        assert_eq!(c[0].why, Why::Verdict(Verdict::FalsePositive));
        assert_eq!(l.open(), 0);
    }
}
