//! `kawal evaluate`: alerts against the truth of a simulated data set.
//!
//! An alert is *true* when it is about an account that was taken over and
//! either names one of the attacker's events as evidence or was triggered
//! between the attack's first event and `grace` after its last (the case
//! stays open that long). Every other alert is *false*. For each severity
//! level the report counts alerts at that level or above:
//! recall (takeovers with at least one true alert), recall per attack
//! style, false alerts per 1,000 account-days, and the median minutes from
//! the attacker's first event to the first true alert (in event time, so a
//! replay measures what live processing would).

use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::fmt::Write;

use crate::detect::{Alert, Severity};
use crate::sim::Truth;
use crate::time::{DAY, HOUR, MINUTE, Millis, parse_rfc3339, rfc3339};

#[derive(Debug, Clone, Serialize)]
pub struct Level {
    pub severity: Severity,
    pub detected: usize,
    pub takeovers: usize,
    pub recall: f64,
    pub recall_by_style: BTreeMap<String, (usize, usize)>,
    pub false_alerts: usize,
    pub false_per_1000_account_days: f64,
    /// Distinct incidents among the false alerts.
    pub false_incidents: usize,
    /// False alerts by the benign story (truth `benign`) active on their
    /// account at the time, "routine" for none.
    pub false_by_story: BTreeMap<String, usize>,
    pub median_minutes_to_detect: Option<f64>,
    pub p90_minutes_to_detect: Option<f64>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub account_days: f64,
    pub alerts: usize,
    pub levels: Vec<Level>,
    /// Each signal that counts toward an alert (a sequence signal under
    /// its own name): in how many false and true alerts of any severity
    /// it contributed, and the attack styles it contributed for. A signal
    /// that no false alert carries separates perfectly on this data set,
    /// which real traffic will not do (issue 13: "for every signal,
    /// benign traffic that fires it").
    pub signals: BTreeMap<String, SignalUse>,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct SignalUse {
    pub false_alerts: usize,
    pub true_alerts: usize,
    pub styles: BTreeSet<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum EvalError {
    #[error("truth: bad time {0:?}")]
    BadTime(String),
}

fn quantile(sorted: &[f64], q: f64) -> Option<f64> {
    if sorted.is_empty() {
        return None;
    }
    let pos = q * (sorted.len() - 1) as f64;
    let (lo, hi) = (pos.floor() as usize, pos.ceil() as usize);
    Some(sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - lo as f64))
}

fn t(s: &str) -> Result<Millis, EvalError> {
    parse_rfc3339(s).ok_or_else(|| EvalError::BadTime(s.to_string()))
}

/// Scores alerts against the truth. `grace` extends each attack's window.
pub fn evaluate(truth: &Truth, alerts: &[Alert], grace: Millis) -> Result<Report, EvalError> {
    evaluate_from(truth, alerts, grace, None)
}

/// For each alert: the takeover it belongs to, if any, and its time.
fn match_alerts(
    truth: &Truth,
    alerts: &[Alert],
    grace: Millis,
) -> Result<Vec<(Option<usize>, Millis)>, EvalError> {
    struct Attack<'a> {
        start: Millis,
        end: Millis,
        events: HashSet<&'a str>,
    }
    let mut by_account: HashMap<&str, Vec<(usize, Attack<'_>)>> = HashMap::new();
    for (i, to) in truth.takeovers.iter().enumerate() {
        by_account.entry(to.account.as_str()).or_default().push((
            i,
            Attack {
                start: t(&to.start)?,
                end: t(&to.end)?,
                events: to.events.iter().map(|s| s.as_str()).collect(),
            },
        ));
    }
    // For each alert: which takeover it belongs to, if any.
    let mut matched: Vec<(Option<usize>, Millis)> = Vec::with_capacity(alerts.len());
    for a in alerts {
        let at = t(&a.time)?;
        let hit = by_account.get(a.account.as_str()).and_then(|list| {
            list.iter()
                .find(|(_, k)| {
                    a.events.iter().any(|e| k.events.contains(e.as_str()))
                        || (at >= k.start && at <= k.end + grace)
                })
                .map(|(i, _)| *i)
        });
        matched.push((hit, at));
    }
    Ok(matched)
}

/// [`evaluate`] over the part of the data set from `from` on: alerts at or
/// after it, takeovers that start at or after it, and the account-days
/// after it (the before/after comparison of analyst feedback).
pub fn evaluate_from(
    truth: &Truth,
    alerts: &[Alert],
    grace: Millis,
    from: Option<Millis>,
) -> Result<Report, EvalError> {
    let matched = match_alerts(truth, alerts, grace)?;
    let start = t(&truth.start)?;
    let from = from.unwrap_or(start).max(start);
    let days = truth.days as f64 - (from - start) as f64 / DAY as f64;
    let account_days = truth.accounts as f64 * days.max(0.0);
    let counted = |i: usize| t(&truth.takeovers[i].start).map(|s| s >= from);
    let stories = StoryIndex::new(truth, grace)?;
    let mut levels = Vec::new();
    for sev in Severity::ALL {
        let mut first: HashMap<usize, Millis> = HashMap::new();
        let mut false_alerts = 0;
        let mut false_incidents = HashSet::new();
        let mut false_by_story: BTreeMap<String, usize> = BTreeMap::new();
        for (a, (hit, at)) in alerts.iter().zip(&matched) {
            if a.severity < sev || *at < from {
                continue;
            }
            match hit {
                Some(i) if !counted(*i)? => {}
                Some(i) => {
                    let e = first.entry(*i).or_insert(*at);
                    *e = (*e).min(*at);
                }
                None => {
                    false_alerts += 1;
                    false_incidents.insert(a.incident.as_str());
                    *false_by_story
                        .entry(stories.of(&a.account, *at).to_string())
                        .or_default() += 1;
                }
            }
        }
        let mut by_style: BTreeMap<String, (usize, usize)> = BTreeMap::new();
        let mut minutes = Vec::new();
        for (i, to) in truth.takeovers.iter().enumerate() {
            if !counted(i)? {
                continue;
            }
            let e = by_style.entry(to.style.clone()).or_default();
            e.1 += 1;
            if let Some(at) = first.get(&i) {
                e.0 += 1;
                let start = t(&to.start)?;
                minutes.push(((*at - start).max(0)) as f64 / MINUTE as f64);
            }
        }
        minutes.sort_by(f64::total_cmp);
        let n = by_style.values().map(|(_, n)| n).sum::<usize>();
        levels.push(Level {
            severity: sev,
            detected: first.len(),
            takeovers: n,
            recall: if n == 0 {
                1.0
            } else {
                first.len() as f64 / n as f64
            },
            recall_by_style: by_style,
            false_alerts,
            false_per_1000_account_days: false_alerts as f64 / account_days.max(1.0) * 1000.0,
            false_incidents: false_incidents.len(),
            false_by_story,
            median_minutes_to_detect: quantile(&minutes, 0.5),
            p90_minutes_to_detect: quantile(&minutes, 0.9),
        });
    }
    Ok(Report {
        account_days,
        alerts: matched.iter().filter(|(_, at)| *at >= from).count(),
        levels,
        signals: signal_use(truth, alerts, &matched, from, &counted)?,
    })
}

/// Which signals contributed to the false and the true alerts (any
/// severity, from `from` on). Every signal that can add to a score is
/// listed, those that never did with zeros.
fn signal_use(
    truth: &Truth,
    alerts: &[Alert],
    matched: &[(Option<usize>, Millis)],
    from: Millis,
    counted: &dyn Fn(usize) -> Result<bool, EvalError>,
) -> Result<BTreeMap<String, SignalUse>, EvalError> {
    use crate::detect::signals::Sig;
    let mut uses: BTreeMap<String, SignalUse> = Sig::ALL
        .iter()
        .filter(|s| !matches!(s, Sig::KnownDevice | Sig::KnownNetwork))
        .map(|s| (s.name().to_string(), SignalUse::default()))
        .collect();
    for (a, (hit, at)) in alerts.iter().zip(matched) {
        if *at < from {
            continue;
        }
        let style = match hit {
            Some(i) if !counted(*i)? => continue,
            Some(i) => Some(truth.takeovers[*i].style.as_str()),
            None => None,
        };
        for sig in a.signals.iter().filter(|s| s.contribution > 0.0) {
            let u = uses.entry(sig.name.clone()).or_default();
            match style {
                Some(style) => {
                    u.true_alerts += 1;
                    u.styles.insert(style.to_string());
                }
                None => u.false_alerts += 1,
            }
        }
    }
    Ok(uses)
}

/// The benign stories of a truth, by account: which one is active on
/// an account at a time (from its start to `grace` after its end).
struct StoryIndex<'a>(HashMap<&'a str, Vec<(Millis, Millis, &'a str)>>);

impl<'a> StoryIndex<'a> {
    fn new(truth: &'a Truth, grace: Millis) -> Result<StoryIndex<'a>, EvalError> {
        let mut by_account: HashMap<&str, Vec<(Millis, Millis, &str)>> = HashMap::new();
        for s in &truth.benign {
            by_account.entry(s.account.as_str()).or_default().push((
                t(&s.start)?,
                t(&s.end)? + grace,
                s.behaviour.as_str(),
            ));
        }
        Ok(StoryIndex(by_account))
    }

    /// The story on `account` at `at`, or "routine". Of stories that
    /// overlap, the one begun last: what changed most recently is the
    /// likelier cause (a phone replaced during a handover is the phone's).
    fn of(&self, account: &str, at: Millis) -> &'a str {
        self.0
            .get(account)
            .and_then(|v| {
                v.iter()
                    .filter(|(a, b, _)| at >= *a && at <= *b)
                    .max_by_key(|(a, ..)| *a)
            })
            .map_or("routine", |(_, _, name)| *name)
    }
}

/// An analyst's `false_positive` verdict on every false incident whose
/// last alert before `before` is at `t`, given at `t + delay` (the time an
/// analyst takes to look), as contract events (`docs/EVENTS.md`), in time
/// order. Alerts at or after `before` get none: they are what the
/// feedback is judged on.
pub fn false_positive_verdicts(
    truth: &Truth,
    alerts: &[Alert],
    grace: Millis,
    before: Millis,
    delay: Millis,
) -> Result<Vec<(Millis, String)>, EvalError> {
    let matched = match_alerts(truth, alerts, grace)?;
    let mut last: BTreeMap<(&str, &str), Millis> = BTreeMap::new();
    for (a, (hit, at)) in alerts.iter().zip(&matched) {
        if hit.is_none() && *at < before && !a.incident.is_empty() {
            let e = last.entry((&a.account, &a.incident)).or_insert(*at);
            *e = (*e).max(*at);
        }
    }
    let mut out: Vec<(Millis, String)> = last
        .into_iter()
        .map(|((account, incident), at)| {
            let when = at + delay;
            let line = serde_json::json!({
                "id": format!("fb-{incident}"),
                "time": rfc3339(when),
                "account": account,
                "type": "feedback",
                "actor": "kawal-evaluate",
                "change": {"action": "false_positive", "target": incident},
            });
            (when, line.to_string())
        })
        .collect();
    out.sort();
    Ok(out)
}

/// Copies NDJSON events from `events` to `out`, inserting each of
/// `extra` (time, line; in time order) before the first event later than
/// it. Lines whose time cannot be read are copied as they are.
pub fn merge_events(
    events: impl std::io::BufRead,
    extra: &[(Millis, String)],
    mut out: impl std::io::Write,
) -> std::io::Result<()> {
    #[derive(serde::Deserialize)]
    struct Timed<'a> {
        #[serde(borrow)]
        time: std::borrow::Cow<'a, str>,
    }
    let mut next = extra.iter().peekable();
    for line in events.lines() {
        let line = line?;
        let at = serde_json::from_str::<Timed<'_>>(&line)
            .ok()
            .and_then(|e| parse_rfc3339(&e.time));
        if let Some(at) = at {
            while let Some((_, l)) = next.next_if(|(t, _)| *t < at) {
                writeln!(out, "{l}")?;
            }
        }
        writeln!(out, "{line}")?;
    }
    for (_, l) in next {
        writeln!(out, "{l}")?;
    }
    out.flush()
}

/// The default grace: the detector's default long window.
pub const DEFAULT_GRACE: Millis = 48 * HOUR;

impl Report {
    pub fn render(&self) -> String {
        let mut s = String::new();
        let _ = writeln!(
            s,
            "{} alerts over {:.0} account-days",
            self.alerts, self.account_days
        );
        let _ = writeln!(
            s,
            "{:<10} {:>9} {:>8} {:>13} {:>12} {:>13} {:>11}",
            "severity>=",
            "detected",
            "recall",
            "false alerts",
            "per 1k a-d",
            "median min",
            "p90 min"
        );
        for l in &self.levels {
            let m = |v: Option<f64>| v.map_or("-".to_string(), |v| format!("{v:.1}"));
            let _ = writeln!(
                s,
                "{:<10} {:>4}/{:<4} {:>8.3} {:>13} {:>12.3} {:>13} {:>11}",
                l.severity.as_str(),
                l.detected,
                l.takeovers,
                l.recall,
                l.false_alerts,
                l.false_per_1000_account_days,
                m(l.median_minutes_to_detect),
                m(l.p90_minutes_to_detect)
            );
        }
        let _ = writeln!(s, "recall by attack style:");
        let styles: Vec<&String> = self.levels[0].recall_by_style.keys().collect();
        let _ = write!(s, "{:<22}", "style");
        for l in &self.levels {
            let _ = write!(s, " {:>10}", l.severity.as_str());
        }
        s.push('\n');
        for st in styles {
            let _ = write!(s, "{st:<22}");
            for l in &self.levels {
                let (d, n) = l.recall_by_style[st];
                let _ = write!(s, " {:>10}", format!("{d}/{n}"));
            }
            s.push('\n');
        }
        let mut stories: Vec<&String> = self
            .levels
            .iter()
            .flat_map(|l| l.false_by_story.keys())
            .collect();
        stories.sort();
        stories.dedup();
        if !stories.is_empty() {
            let _ = writeln!(s, "false alerts by benign story:");
            let _ = write!(s, "{:<22}", "story");
            for l in &self.levels {
                let _ = write!(s, " {:>10}", l.severity.as_str());
            }
            s.push('\n');
            for st in stories {
                let _ = write!(s, "{st:<22}");
                for l in &self.levels {
                    let n = l.false_by_story.get(st).copied().unwrap_or(0);
                    let _ = write!(s, " {n:>10}");
                }
                s.push('\n');
            }
        }
        s
    }

    /// [`Report::render`] followed by the signal table (what `kawal
    /// evaluate` prints; the demo shows the report alone).
    pub fn render_with_signals(&self) -> String {
        let mut s = self.render();
        self.render_signals(&mut s);
        s
    }

    /// The signal table: what fired in false and in true alerts.
    fn render_signals(&self, s: &mut String) {
        let styles = self.levels[0].recall_by_style.len();
        let _ = writeln!(s, "signals in alerts (any severity):");
        let _ = writeln!(
            s,
            "{:<38} {:>6} {:>6} {:>7}",
            "signal", "false", "true", "styles"
        );
        for (name, u) in &self.signals {
            let _ = writeln!(
                s,
                "{name:<38} {:>6} {:>6} {:>7}",
                u.false_alerts,
                u.true_alerts,
                format!("{}/{styles}", u.styles.len())
            );
        }
        let perfect: Vec<&str> = self
            .signals
            .iter()
            .filter(|(_, u)| u.false_alerts == 0 && u.true_alerts > 0)
            .map(|(n, _)| n.as_str())
            .collect();
        if !perfect.is_empty() {
            let _ = writeln!(
                s,
                "in no false alert (they separate perfectly here, which real traffic will not): {}",
                perfect.join(", ")
            );
        }
    }

    pub fn level(&self, sev: Severity) -> &Level {
        &self.levels[sev as usize]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sim::Takeover;

    fn alert(account: &str, time: &str, sev: Severity, events: &[&str], incident: &str) -> Alert {
        Alert {
            id: format!("al-{account}-{time}"),
            account: account.into(),
            time: time.into(),
            detected_at: time.into(),
            severity: sev,
            score: 1.0,
            summary: String::new(),
            signals: vec![],
            events: events.iter().map(|s| s.to_string()).collect(),
            incident: incident.into(),
            learning: false,
            first_event_time: time.into(),
            recovery: vec![],
            trigger_ms: 0,
        }
    }

    #[test]
    fn recall_false_alerts_and_latency() {
        let truth = truth_of(vec![
            Takeover {
                account: "a".into(),
                style: "s1".into(),
                start: "2026-02-01T10:00:00Z".into(),
                end: "2026-02-01T10:30:00Z".into(),
                events: vec!["a1".into()],
            },
            Takeover {
                account: "b".into(),
                style: "s2".into(),
                start: "2026-02-01T10:00:00Z".into(),
                end: "2026-02-01T10:30:00Z".into(),
                events: vec!["b1".into()],
            },
        ]);
        let alerts = vec![
            alert("a", "2026-02-01T10:04:00Z", Severity::Medium, &["a1"], "i1"),
            alert(
                "a",
                "2026-02-01T10:10:00Z",
                Severity::Critical,
                &["a1", "a2"],
                "i1",
            ),
            alert("b", "2026-02-05T10:00:00Z", Severity::High, &["b9"], "i2"),
            alert("c", "2026-02-05T10:00:00Z", Severity::Low, &["c1"], "i3"),
        ];
        let r = evaluate(&truth, &alerts, DEFAULT_GRACE).unwrap();
        let low = r.level(Severity::Low);
        assert_eq!((low.detected, low.false_alerts), (1, 2));
        assert_eq!(low.median_minutes_to_detect, Some(4.0));
        let high = r.level(Severity::High);
        assert_eq!((high.detected, high.false_alerts), (1, 1));
        assert_eq!(high.median_minutes_to_detect, Some(10.0));
        assert!((high.false_per_1000_account_days - 1.0).abs() < 1e-9);
        assert_eq!(high.recall_by_style["s2"], (0, 1));
        assert!((high.recall - 0.5).abs() < 1e-9);
        assert!(r.render().contains("s1"));
    }

    fn truth_of(takeovers: Vec<Takeover>) -> Truth {
        Truth {
            generator: "test".into(),
            seed: 0,
            accounts: 10,
            days: 100,
            start: "2026-01-01T00:00:00Z".into(),
            end: "2026-04-11T00:00:00Z".into(),
            takeovers,
            benign: Vec::new(),
        }
    }

    #[test]
    fn false_alerts_are_traced_to_the_benign_story_around_them() {
        let mut truth = truth_of(vec![]);
        truth.benign.push(crate::sim::Story {
            account: "c".into(),
            behaviour: "agency".into(),
            start: "2026-02-01T00:00:00Z".into(),
            end: "2026-02-10T00:00:00Z".into(),
            open: false,
        });
        let alerts = vec![
            // Inside the story, and within the grace after its end.
            alert("c", "2026-02-03T10:00:00Z", Severity::High, &["c1"], "i1"),
            alert("c", "2026-02-11T10:00:00Z", Severity::Low, &["c2"], "i2"),
            // After the grace; and on another account.
            alert("c", "2026-02-20T10:00:00Z", Severity::Low, &["c3"], "i3"),
            alert("d", "2026-02-03T10:00:00Z", Severity::Low, &["d1"], "i4"),
        ];
        let r = evaluate(&truth, &alerts, DEFAULT_GRACE).unwrap();
        let low = r.level(Severity::Low);
        assert_eq!(low.false_by_story["agency"], 2);
        assert_eq!(low.false_by_story["routine"], 2);
        assert_eq!(r.level(Severity::High).false_by_story["agency"], 1);
        assert!(
            !r.level(Severity::High)
                .false_by_story
                .contains_key("routine")
        );
        assert!(r.render().contains("false alerts by benign story"));
    }

    #[test]
    fn signals_are_counted_in_false_and_true_alerts_and_perfect_ones_named() {
        use crate::detect::AlertSignal;
        let truth = truth_of(vec![takeover("a", "2026-02-01T10:00:00Z", "a1")]);
        let with = |mut a: Alert, sigs: &[(&str, f64)]| {
            a.signals = sigs
                .iter()
                .map(|(n, c)| AlertSignal {
                    name: n.to_string(),
                    contribution: *c,
                    detail: String::new(),
                })
                .collect();
            a
        };
        let alerts = vec![
            with(
                alert("a", "2026-02-01T10:05:00Z", Severity::High, &["a1"], "i1"),
                &[("admin_revoked", 3.0), ("new_device", 1.0)],
            ),
            with(
                alert("c", "2026-02-05T10:00:00Z", Severity::Low, &["c1"], "i2"),
                // A reassuring signal counts toward nothing.
                &[("new_device", 1.0), ("admin_revoked", -0.5)],
            ),
        ];
        let r = evaluate(&truth, &alerts, DEFAULT_GRACE).unwrap();
        let (dev, rev) = (&r.signals["new_device"], &r.signals["admin_revoked"]);
        assert_eq!((dev.false_alerts, dev.true_alerts), (1, 1));
        assert_eq!((rev.false_alerts, rev.true_alerts), (0, 1));
        assert!(rev.styles.contains("s"), "{rev:?}");
        // Signals that never fired are listed too, reassuring ones not.
        assert_eq!(r.signals["session_moved"].true_alerts, 0);
        assert!(!r.signals.contains_key("known_device"));
        assert!(!r.render().contains("in no false alert"));
        let text = r.render_with_signals();
        let perfect = text
            .lines()
            .find(|l| l.starts_with("in no false alert"))
            .expect("the perfect signals named");
        assert!(perfect.ends_with(": admin_revoked"), "{perfect}");
    }

    #[test]
    fn of_overlapping_stories_the_latest_begun_takes_the_alert() {
        let mut truth = truth_of(vec![]);
        for (behaviour, start) in [
            ("handover", "2026-02-01T00:00:00Z"),
            ("phone_replacement", "2026-02-03T00:00:00Z"),
        ] {
            truth.benign.push(crate::sim::Story {
                account: "c".into(),
                behaviour: behaviour.into(),
                start: start.into(),
                end: "2026-02-04T00:00:00Z".into(),
                open: false,
            });
        }
        let alerts = vec![
            alert("c", "2026-02-02T10:00:00Z", Severity::Low, &["c1"], "i1"),
            alert("c", "2026-02-03T10:00:00Z", Severity::Low, &["c2"], "i2"),
        ];
        let r = evaluate(&truth, &alerts, DEFAULT_GRACE).unwrap();
        let low = r.level(Severity::Low);
        assert_eq!(low.false_by_story["handover"], 1);
        assert_eq!(low.false_by_story["phone_replacement"], 1);
    }

    fn takeover(account: &str, start: &str, event: &str) -> Takeover {
        Takeover {
            account: account.into(),
            style: "s".into(),
            start: start.into(),
            end: start.into(),
            events: vec![event.into()],
        }
    }

    #[test]
    fn from_counts_only_the_later_part() {
        let truth = truth_of(vec![
            takeover("a", "2026-01-10T00:00:00Z", "a1"),
            takeover("b", "2026-03-10T00:00:00Z", "b1"),
        ]);
        let alerts = vec![
            alert("a", "2026-01-10T00:00:00Z", Severity::High, &["a1"], "i1"),
            alert("c", "2026-01-20T00:00:00Z", Severity::High, &["c1"], "i2"),
            alert("c", "2026-03-01T00:00:00Z", Severity::High, &["c2"], "i3"),
        ];
        let from = parse_rfc3339("2026-02-20T00:00:00Z");
        let r = evaluate_from(&truth, &alerts, DEFAULT_GRACE, from).unwrap();
        let high = r.level(Severity::High);
        // Only b's takeover (missed) and c's later false alert count.
        assert_eq!(
            (high.detected, high.takeovers, high.false_alerts),
            (0, 1, 1)
        );
        assert_eq!(r.alerts, 1);
        assert!((r.account_days - 10.0 * 50.0).abs() < 1e-9);
    }

    #[test]
    fn verdicts_go_to_false_incidents_before_the_cut_in_time_order() {
        let truth = truth_of(vec![takeover("a", "2026-01-10T00:00:00Z", "a1")]);
        let alerts = vec![
            alert("a", "2026-01-10T00:00:00Z", Severity::High, &["a1"], "i1"),
            alert("c", "2026-01-20T00:00:00Z", Severity::Low, &["c1"], "i2"),
            alert("c", "2026-01-20T02:00:00Z", Severity::High, &["c1"], "i2"),
            alert("d", "2026-01-05T00:00:00Z", Severity::Medium, &["d1"], "i4"),
            alert("c", "2026-03-01T00:00:00Z", Severity::High, &["c2"], "i3"),
        ];
        let cut = parse_rfc3339("2026-02-01T00:00:00Z").unwrap();
        let v = false_positive_verdicts(&truth, &alerts, DEFAULT_GRACE, cut, HOUR).unwrap();
        let got: Vec<(String, serde_json::Value)> = v
            .iter()
            .map(|(t, l)| (rfc3339(*t), serde_json::from_str(l).unwrap()))
            .collect();
        assert_eq!(got.len(), 2, "{got:?}");
        assert_eq!(got[0].0, "2026-01-05T01:00:00Z");
        assert_eq!(got[0].1["change"]["target"], "i4");
        // One verdict per incident, an hour after its last alert.
        assert_eq!(got[1].0, "2026-01-20T03:00:00Z");
        assert_eq!(got[1].1["account"], "c");
        assert_eq!(got[1].1["type"], "feedback");
        assert_eq!(got[1].1["change"]["action"], "false_positive");
        // Merged into events by time; events without a time stay put.
        let events =
            "{\"time\":\"2026-01-04T00:00:00Z\"}\nnot json\n{\"time\":\"2026-01-20T05:00:00Z\"}\n";
        let mut out = Vec::new();
        merge_events(events.as_bytes(), &v, &mut out).unwrap();
        let lines: Vec<String> = String::from_utf8(out)
            .unwrap()
            .lines()
            .map(String::from)
            .collect();
        assert_eq!(lines.len(), 5);
        assert!(lines[0].contains("2026-01-04"));
        assert_eq!(lines[1], "not json");
        assert!(lines[2].contains("i4") && lines[3].contains("i2"));
        assert!(lines[4].contains("2026-01-20T05"));
    }
}
