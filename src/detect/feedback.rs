//! Analyst feedback: a verdict on an incident, applied by the account's
//! owner like any other event.
//!
//! Feedback is an event of type `feedback` in the account's own stream
//! (`change.action`: the verdict, `change.target`: the incident id,
//! `actor`: the analyst). It is keyed by account like every event, so it
//! reaches the one worker that owns the account, in order, is covered by
//! snapshots and replays like the rest: a backtest with the analysts'
//! verdicts gives what live processing gave. (The admin endpoint and the
//! feedback topic only turn a verdict into such an event; see
//! `docs/TRIAGE.md`.)
//!
//! - `false_positive`: the incident was the account's own behaviour. The
//!   case closes, and the context its evidence flagged (the country, the
//!   network, the IP range, the device, the browser, the actor, the
//!   posting client, the link domain) is taught to the baseline as
//!   familiar, so the same behaviour no longer alerts. What no table holds
//!   (an hour, a burst, a security change) is not taught: a later
//!   two-factor removal still fires, weighed like any change made from
//!   familiar context.
//! - `benign`: real, authorised activity that should not teach (a one-off
//!   test, a sanctioned change): the case closes, nothing is learnt.
//! - `true_positive`: a confirmed takeover: the case stays open and keeps
//!   escalating; the verdict is counted for the record.
//!
//! Feedback naming an incident that is not the account's open case (it
//! closed, or a newer one opened) is counted as unmatched and changes
//! nothing: a verdict is about one incident's evidence.

use super::Stats;
use super::score::Case;
use super::signals::Sig;
use super::state::{AccountState, Day, Slots};

/// An analyst's verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    TruePositive,
    Benign,
    FalsePositive,
}

impl Verdict {
    pub const ALL: [Verdict; 3] = [
        Verdict::TruePositive,
        Verdict::Benign,
        Verdict::FalsePositive,
    ];

    pub fn parse(s: &str) -> Option<Verdict> {
        Verdict::ALL.into_iter().find(|v| v.as_str() == s)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::TruePositive => "true_positive",
            Verdict::Benign => "benign",
            Verdict::FalsePositive => "false_positive",
        }
    }
}

/// A verdict the detector applied, for the sinks that keep incident
/// status (PostgreSQL): what the analyst said about which incident.
#[derive(Debug, Clone, PartialEq)]
pub struct Applied {
    pub incident: String,
    pub verdict: Verdict,
    /// The analyst (the event's actor), capped.
    pub by: String,
}

/// Count a taught value is given: enough to be familiar (two uses) and
/// to stop a hosting network from counting as one (three).
const TAUGHT: u16 = 3;

/// Whether `incident` (as alerts show it, `inc-<16 hex>`) names `case`.
fn names(incident: &str, case: &Case) -> bool {
    incident
        .strip_prefix("inc-")
        .and_then(|h| u64::from_str_radix(h, 16).ok())
        .is_some_and(|id| id == case.id)
}

/// Applies a verdict on `incident` to the account's state; returns the
/// verdict when it named the account's open case.
pub fn apply(
    st: &mut AccountState,
    verdict: Option<Verdict>,
    incident: &str,
    day: Day,
    stats: &mut Stats,
) -> Option<Verdict> {
    let (Some(verdict), Some(case)) = (verdict, st.case.as_ref()) else {
        stats.feedback_unmatched += 1;
        return None;
    };
    if !names(incident, case) {
        stats.feedback_unmatched += 1;
        return None;
    }
    stats.feedback[verdict as usize] += 1;
    match verdict {
        Verdict::TruePositive => {}
        Verdict::Benign => st.case = None,
        Verdict::FalsePositive => {
            if let Some(case) = st.case.take() {
                teach(st, &case, day);
            }
        }
    }
    Some(verdict)
}

/// Teaches the values a case's evidence flagged, and the access context
/// of the events that raised it (see the module comment).
fn teach(st: &mut AccountState, case: &Case, day: Day) {
    for s in case.signals.iter().filter(|s| !s.sequence) {
        let [country, network, ip_range, device, agent, actor] = s.access;
        raise(&mut st.countries, country, day);
        raise(&mut st.networks, network, day);
        raise(&mut st.ip_ranges, ip_range, day);
        raise(&mut st.devices, device, day);
        raise(&mut st.agents, agent, day);
        raise(&mut st.actors, actor, day);
    }
    for s in case.signals.iter().filter(|s| !s.sequence && s.key != 0) {
        match s.sig {
            Sig::NewCountry => raise(&mut st.countries, s.key, day),
            Sig::NewNetwork | Sig::HostingNetwork => raise(&mut st.networks, s.key, day),
            Sig::NewIpRange | Sig::KnownNetwork => raise(&mut st.ip_ranges, s.key, day),
            Sig::NewDevice | Sig::KnownDevice => raise(&mut st.devices, s.key, day),
            Sig::NewUserAgent | Sig::AutomationUserAgent => raise(&mut st.agents, s.key, day),
            Sig::NewActor | Sig::RoleGrantedToNewActor | Sig::RoleGrantedByNewActor => {
                raise(&mut st.actors, s.key, day)
            }
            Sig::NewPostClient | Sig::PostsViaNewApp => raise(&mut st.post_clients, s.key, day),
            Sig::NewLinkDomain => raise(&mut st.domains, s.key, day),
            _ => {}
        }
    }
}

fn raise<const N: usize, const G: usize>(slots: &mut Slots<N, G>, key: u32, day: Day) {
    slots.teach(key, TAUGHT, day);
}
