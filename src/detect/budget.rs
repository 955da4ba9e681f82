//! Size budgets: what the detector keeps of an input string, and the most
//! an alert may weigh.
//!
//! The contract sets no length on any string, so a producer may send a
//! 400 KB user agent or a 300 KB change target, and every one of them is a
//! valid event. Nothing from the input is kept or quoted whole: each kind
//! of string has a cap below, and a capped string ends with a marker that
//! says how much was cut (`…[+409312 bytes]`), cut on a character
//! boundary. An alert is then held to `detect.alert_max_bytes` (64 KiB by
//! default, far below librdkafka's 1,000,000-byte `message.max.bytes`): an
//! alert over the producer's limit is a fatal producer error, which under
//! `kawal run` would be a crash loop.
//!
//! By construction an alert stays well inside the budget: at most
//! 2 x 28 signals (one per signal name, plain and in sequence) whose
//! details quote at most a few capped strings, `max_evidence` ids of at
//! most [`MAX_EVENT_ID`] bytes, a summary of five phrases. [`fit_alert`]
//! is the last guard for configurations that raise `max_evidence` or
//! lower the budget.

use std::borrow::Cow;

use super::score::Alert;

/// An input string quoted in an explanation: a user agent, a device id,
/// an actor, a change target, an app, a link host, a city, an as_org.
/// Real user agents run to about 150-250 bytes; 256 keeps them whole.
pub const MAX_QUOTED: usize = 256;
/// An event id kept as evidence (UUIDs are 36 bytes, ULIDs 26).
pub const MAX_EVENT_ID: usize = 128;
/// The account id as an alert shows it (`platform:handle` ids are short;
/// the alert id and the incident id hash the full account, so they stay
/// distinct for accounts that only differ past the cut).
pub const MAX_ACCOUNT: usize = 512;
/// Lock-out changes a case remembers within the short window (a flood of
/// one change repeated is one kind; the cluster counts kinds).
pub const MAX_LOCKOUTS: usize = 32;

/// `s` cut to at most `max` bytes of its own text on a character
/// boundary, with a marker of how many bytes were cut; borrowed when it
/// fits.
pub fn capped(s: &str, max: usize) -> Cow<'_, str> {
    if s.len() <= max {
        return Cow::Borrowed(s);
    }
    let mut cut = max;
    while !s.is_char_boundary(cut) {
        cut -= 1;
    }
    Cow::Owned(format!("{}…[+{} bytes]", &s[..cut], s.len() - cut))
}

/// A quoted input value, capped, or `?` when absent.
pub fn quoted<'a>(s: Option<&'a str>) -> Cow<'a, str> {
    s.map_or(Cow::Borrowed("?"), |s| capped(s, MAX_QUOTED))
}

/// Holds an alert to `max` bytes of JSON: drops the weakest signals, then
/// evidence ids from the middle (the first, how it started, and the
/// latest are kept), then the last recovery steps, then shortens the summary. Returns whether it had to.
pub fn fit_alert(alert: &mut Alert, max: usize) -> bool {
    let size = |a: &Alert| serde_json::to_vec(a).map_or(usize::MAX, |v| v.len());
    if size(alert) <= max {
        return false;
    }
    // Signals are sorted strongest first.
    while alert.signals.len() > 1 && size(alert) > max {
        alert.signals.pop();
    }
    while alert.events.len() > 2 && size(alert) > max {
        alert.events.remove(1);
    }
    // The first recovery steps (confirm, contain) matter most.
    while alert.recovery.len() > 2 && size(alert) > max {
        alert.recovery.pop();
    }
    if size(alert) > max {
        let keep = alert.summary.len().min(max / 4);
        alert.summary = capped(&alert.summary, keep).into_owned();
    }
    while size(alert) > max && !alert.signals.is_empty() {
        alert.signals.pop();
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn short_strings_are_borrowed_long_ones_marked() {
        assert!(matches!(capped("abc", 3), Cow::Borrowed("abc")));
        assert_eq!(capped("abcdef", 3), "abc…[+3 bytes]");
        // 'ไ' is three bytes: a cut at 4 backs off to 3.
        assert_eq!(capped("aไไ", 4), "aไ…[+3 bytes]");
    }

    proptest! {
        #[test]
        fn capped_is_a_prefix_on_a_char_boundary(s in "\\PC{0,64}", max in 0usize..80) {
            let c = capped(&s, max);
            if s.len() <= max {
                prop_assert_eq!(c.as_ref(), s.as_str());
            } else {
                let (kept, marker) = c.rsplit_once('…').unwrap();
                prop_assert!(s.starts_with(kept));
                prop_assert!(kept.len() <= max);
                prop_assert_eq!(marker, format!("[+{} bytes]", s.len() - kept.len()));
            }
        }
    }
}
