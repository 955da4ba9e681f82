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
use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt::Write;

use crate::detect::{Alert, Severity};
use crate::sim::Truth;
use crate::time::{HOUR, MINUTE, Millis, parse_rfc3339};

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
    pub median_minutes_to_detect: Option<f64>,
    pub p90_minutes_to_detect: Option<f64>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub account_days: f64,
    pub alerts: usize,
    pub levels: Vec<Level>,
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

/// Scores alerts against the truth. `grace` extends each attack's window.
pub fn evaluate(truth: &Truth, alerts: &[Alert], grace: Millis) -> Result<Report, EvalError> {
    let t = |s: &str| parse_rfc3339(s).ok_or_else(|| EvalError::BadTime(s.to_string()));
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
    let account_days = truth.accounts as f64 * truth.days as f64;
    let mut levels = Vec::new();
    for sev in Severity::ALL {
        let mut first: HashMap<usize, Millis> = HashMap::new();
        let mut false_alerts = 0;
        let mut false_incidents = HashSet::new();
        for (a, (hit, at)) in alerts.iter().zip(&matched) {
            if a.severity < sev {
                continue;
            }
            match hit {
                Some(i) => {
                    let e = first.entry(*i).or_insert(*at);
                    *e = (*e).min(*at);
                }
                None => {
                    false_alerts += 1;
                    false_incidents.insert(a.incident.as_str());
                }
            }
        }
        let mut by_style: BTreeMap<String, (usize, usize)> = BTreeMap::new();
        let mut minutes = Vec::new();
        for (i, to) in truth.takeovers.iter().enumerate() {
            let e = by_style.entry(to.style.clone()).or_default();
            e.1 += 1;
            if let Some(at) = first.get(&i) {
                e.0 += 1;
                let start = t(&to.start)?;
                minutes.push(((*at - start).max(0)) as f64 / MINUTE as f64);
            }
        }
        minutes.sort_by(f64::total_cmp);
        let n = truth.takeovers.len();
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
            median_minutes_to_detect: quantile(&minutes, 0.5),
            p90_minutes_to_detect: quantile(&minutes, 0.9),
        });
    }
    Ok(Report {
        account_days,
        alerts: alerts.len(),
        levels,
    })
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
        s
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
            trigger_ms: 0,
        }
    }

    #[test]
    fn recall_false_alerts_and_latency() {
        let truth = Truth {
            generator: "test".into(),
            seed: 0,
            accounts: 10,
            days: 100,
            start: "2026-01-01T00:00:00Z".into(),
            end: "2026-04-11T00:00:00Z".into(),
            takeovers: vec![
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
            ],
        };
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
}
