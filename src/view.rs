//! `kawal alerts`: alerts as an analyst reads them. One block per
//! incident, in the time order of its first evidence, its escalations
//! folded into it (the latest alert speaks for the incident), filtered by
//! severity and account.
//!
//! Alerts quote input strings (account names, details), which are hostile:
//! control characters are shown escaped, so an alert cannot move the
//! cursor, clear the screen or retitle the terminal it is read on.

use std::collections::HashMap;
use std::fmt::Write as _;

use crate::detect::{Alert, Severity};

#[derive(Debug, thiserror::Error)]
pub enum ViewError {
    #[error("{name}:{line}: not an alert")]
    NotAnAlert {
        name: String,
        line: usize,
        #[source]
        source: serde_json::Error,
    },
    #[error("{name}: cannot read")]
    Io {
        name: String,
        #[source]
        source: std::io::Error,
    },
    #[error("alerts topic {topic}")]
    Kafka {
        topic: String,
        #[source]
        source: rdkafka::error::KafkaError,
    },
}

/// Alerts from NDJSON (a file or standard input). Blank lines are skipped;
/// a line that is not an alert is an error naming it.
pub fn read_ndjson(r: impl std::io::BufRead, name: &str) -> Result<Vec<Alert>, ViewError> {
    let mut alerts = Vec::new();
    for (i, line) in r.lines().enumerate() {
        let line = line.map_err(|source| ViewError::Io {
            name: name.to_string(),
            source,
        })?;
        if line.trim().is_empty() {
            continue;
        }
        alerts.push(
            serde_json::from_str(&line).map_err(|source| ViewError::NotAnAlert {
                name: name.to_string(),
                line: i + 1,
                source,
            })?,
        );
    }
    Ok(alerts)
}

/// Every alert on `topic` now: each partition read from its start to its
/// high watermark at the time of the call (assigned, no consumer group,
/// nothing committed). Messages that are not alerts are counted, skipped.
pub fn read_topic(
    client: &rdkafka::ClientConfig,
    topic: &str,
    timeout: std::time::Duration,
) -> Result<(Vec<Alert>, u64), ViewError> {
    use rdkafka::Message;
    use rdkafka::consumer::{BaseConsumer, Consumer};
    let kafka = |source| ViewError::Kafka {
        topic: topic.to_string(),
        source,
    };
    let mut cfg = client.clone();
    cfg.set("group.id", "kawal-alerts-view")
        .set("enable.auto.commit", "false")
        .set("enable.partition.eof", "true");
    let consumer: BaseConsumer = cfg.create().map_err(kafka)?;
    let md = consumer
        .fetch_metadata(Some(topic), timeout)
        .map_err(kafka)?;
    let parts: Vec<i32> = md
        .topics()
        .iter()
        .flat_map(|t| t.partitions().iter().map(|p| p.id()))
        .collect();
    // Each non-empty partition, from its start to its end now.
    let mut tpl = rdkafka::TopicPartitionList::new();
    let mut ends: HashMap<i32, i64> = HashMap::new();
    for &p in &parts {
        let (lo, hi) = consumer
            .fetch_watermarks(topic, p, timeout)
            .map_err(kafka)?;
        if hi > lo {
            tpl.add_partition_offset(topic, p, rdkafka::Offset::Offset(lo))
                .map_err(kafka)?;
            ends.insert(p, hi);
        }
    }
    let mut remaining = ends.len();
    consumer.assign(&tpl).map_err(kafka)?;
    let (mut alerts, mut skipped) = (Vec::new(), 0u64);
    let deadline = std::time::Instant::now() + timeout.max(std::time::Duration::from_secs(5)) * 6;
    while remaining > 0 && std::time::Instant::now() < deadline {
        match consumer.poll(std::time::Duration::from_millis(200)) {
            Some(Ok(m)) => {
                match m.payload().map(serde_json::from_slice::<Alert>) {
                    Some(Ok(a)) => alerts.push(a),
                    _ => skipped += 1,
                }
                if ends
                    .get(&m.partition())
                    .is_some_and(|&e| m.offset() + 1 >= e)
                {
                    ends.remove(&m.partition());
                    remaining -= 1;
                }
            }
            Some(Err(rdkafka::error::KafkaError::PartitionEOF(p))) if ends.remove(&p).is_some() => {
                remaining = remaining.saturating_sub(1);
            }
            Some(Err(rdkafka::error::KafkaError::PartitionEOF(_))) => {}
            Some(Err(e)) => return Err(kafka(e)),
            None => {}
        }
    }
    Ok((alerts, skipped))
}

/// One incident: its alerts in the order raised.
pub struct Incident {
    pub id: String,
    pub alerts: Vec<Alert>,
}

impl Incident {
    /// The alert that speaks for the incident: the highest severity, the
    /// latest among equals.
    pub fn head(&self) -> &Alert {
        self.alerts
            .iter()
            .max_by(|a, b| a.severity.cmp(&b.severity).then(a.time.cmp(&b.time)))
            .expect("an incident has alerts")
    }

    pub fn severity(&self) -> Severity {
        self.head().severity
    }

    /// Time of the first evidence (RFC 3339 sorts as text).
    pub fn first(&self) -> &str {
        self.alerts
            .iter()
            .map(|a| {
                if a.first_event_time.is_empty() {
                    a.time.as_str()
                } else {
                    a.first_event_time.as_str()
                }
            })
            .min()
            .unwrap_or("")
    }

    pub fn last(&self) -> &str {
        self.alerts
            .iter()
            .map(|a| a.time.as_str())
            .max()
            .unwrap_or("")
    }
}

/// What to show.
#[derive(Debug, Clone, Default)]
pub struct Filter {
    /// Incidents whose highest severity is at least this.
    pub min_severity: Option<Severity>,
    /// Only these accounts (empty: all).
    pub accounts: Vec<String>,
}

/// Groups alerts by incident (an alert without one is its own), drops
/// repeats of an alert id (at-least-once delivery), applies `filter`, and
/// orders incidents by their first evidence.
pub fn incidents(alerts: Vec<Alert>, filter: &Filter) -> Vec<Incident> {
    let mut by: HashMap<String, usize> = HashMap::new();
    let mut out: Vec<Incident> = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for a in alerts {
        if !seen.insert(a.id.clone()) {
            continue;
        }
        if !filter.accounts.is_empty() && !filter.accounts.contains(&a.account) {
            continue;
        }
        let key = if a.incident.is_empty() {
            a.id.clone()
        } else {
            a.incident.clone()
        };
        match by.get(&key) {
            Some(&i) => out[i].alerts.push(a),
            None => {
                by.insert(key.clone(), out.len());
                out.push(Incident {
                    id: key,
                    alerts: vec![a],
                });
            }
        }
    }
    out.retain(|i| filter.min_severity.is_none_or(|m| i.severity() >= m));
    for i in &mut out {
        i.alerts
            .sort_by(|a, b| a.time.cmp(&b.time).then(a.severity.cmp(&b.severity)));
    }
    out.sort_by(|a, b| a.first().cmp(b.first()).then(a.id.cmp(&b.id)));
    out
}

/// `s` with control characters escaped (`\u{1b}` and the like).
pub fn clean(s: &str) -> String {
    if !s.chars().any(char::is_control) {
        return s.to_string();
    }
    s.chars()
        .map(|c| {
            if c.is_control() {
                c.escape_unicode().to_string()
            } else {
                c.to_string()
            }
        })
        .collect()
}

/// `2026-03-09T19:02:44.031Z` as `2026-03-09 19:02:44`.
fn short_time(t: &str) -> String {
    let t = clean(t);
    let t = t.replace('T', " ");
    match t.char_indices().nth(19) {
        Some((i, _)) => t[..i].to_string(),
        None => t.trim_end_matches('Z').to_string(),
    }
}

fn minutes_between(a: &str, b: &str) -> Option<i64> {
    let (a, b) = (
        crate::time::parse_rfc3339(a)?,
        crate::time::parse_rfc3339(b)?,
    );
    Some((b - a) / 60_000)
}

/// One incident as text.
pub fn render(i: &Incident, out: &mut String) {
    let head = i.head();
    let span = minutes_between(i.first(), i.last())
        .map(|m| format!(" ({m} min)"))
        .unwrap_or_default();
    let _ = writeln!(
        out,
        "{:<8}  {}  {} -> {}{}  incident {}",
        i.severity().as_str().to_uppercase(),
        clean(&head.account),
        short_time(i.first()),
        short_time(i.last()),
        span,
        clean(&i.id)
    );
    let _ = writeln!(out, "  {}", clean(&head.summary));
    if i.alerts.len() > 1 {
        // A step that does not rise above the incident's severity so far
        // is a page again for another party (`detect.repage_after`).
        let mut reached = None;
        let steps: Vec<String> = i
            .alerts
            .iter()
            .map(|a| {
                let again = if Some(a.severity) <= reached {
                    " again"
                } else {
                    ""
                };
                reached = reached.max(Some(a.severity));
                format!("{}{again} at {}", a.severity.as_str(), short_time(&a.time))
            })
            .collect();
        let _ = writeln!(out, "  escalations: {}", steps.join(" -> "));
    }
    let _ = writeln!(
        out,
        "  score {:.2}{}",
        head.score,
        if head.learning {
            " (baseline still learning)"
        } else {
            ""
        }
    );
    for s in &head.signals {
        let _ = writeln!(
            out,
            "  - {} (+{:.2}): {}",
            clean(&s.name),
            s.contribution,
            clean(&s.detail)
        );
    }
    if !head.recovery.is_empty() {
        let _ = writeln!(out, "  what to do:");
        for (n, s) in head.recovery.iter().enumerate() {
            let _ = writeln!(out, "  {}. {}", n + 1, clean(&s.text));
        }
    }
    let ids: Vec<String> = i.alerts.iter().map(|a| clean(&a.id)).collect();
    let _ = writeln!(
        out,
        "  evidence: {}\n  alerts: {}",
        clean(&head.events.join(", ")),
        ids.join(", ")
    );
}

/// Every incident, then a count line.
pub fn render_all(list: &[Incident]) -> String {
    let mut out = String::new();
    for i in list {
        render(i, &mut out);
        out.push('\n');
    }
    let mut by = [0usize; 4];
    for i in list {
        by[i.severity() as usize] += 1;
    }
    let _ = writeln!(
        out,
        "{} incidents ({} critical, {} high, {} medium, {} low), {} alerts",
        list.len(),
        by[3],
        by[2],
        by[1],
        by[0],
        list.iter().map(|i| i.alerts.len()).sum::<usize>()
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn alert(id: &str, incident: &str, account: &str, sev: Severity, time: &str) -> Alert {
        let mut a = crate::sink::webhook::tests::alert(account, sev);
        a.id = id.into();
        a.incident = incident.into();
        a.time = time.into();
        a.first_event_time = time.into();
        a
    }

    #[test]
    fn escalations_fold_into_their_incident_in_time_order() {
        let alerts = vec![
            alert(
                "a2",
                "inc-b",
                "x:b",
                Severity::Medium,
                "2026-03-02T10:00:00Z",
            ),
            alert("a1", "inc-a", "x:a", Severity::High, "2026-03-01T10:05:00Z"),
            alert(
                "a0",
                "inc-a",
                "x:a",
                Severity::Medium,
                "2026-03-01T10:00:00Z",
            ),
            alert("a1", "inc-a", "x:a", Severity::High, "2026-03-01T10:05:00Z"),
            alert(
                "a3",
                "inc-a",
                "x:a",
                Severity::Critical,
                "2026-03-01T10:09:00Z",
            ),
        ];
        let list = incidents(alerts, &Filter::default());
        assert_eq!(list.len(), 2);
        assert_eq!(list[0].id, "inc-a", "first evidence first");
        let ids: Vec<&str> = list[0].alerts.iter().map(|a| a.id.as_str()).collect();
        assert_eq!(ids, ["a0", "a1", "a3"], "a repeated id once, in time order");
        assert_eq!(list[0].severity(), Severity::Critical);
        let text = render_all(&list);
        assert!(
            text.contains("medium at 2026-03-01 10:00:00 -> high at"),
            "{text}"
        );
        assert!(text.contains("(9 min)"), "{text}");
        assert!(text.contains("2 incidents (1 critical, 0 high, 1 medium, 0 low), 4 alerts"));
    }

    #[test]
    fn a_page_again_reads_as_such_among_the_escalations() {
        let alerts = vec![
            alert("a0", "inc-a", "x:a", Severity::High, "2026-03-01T10:00:00Z"),
            alert(
                "a1",
                "inc-a",
                "x:a",
                Severity::Critical,
                "2026-03-01T10:05:00Z",
            ),
            alert(
                "a2",
                "inc-a",
                "x:a",
                Severity::Critical,
                "2026-03-03T08:00:00Z",
            ),
        ];
        let text = render_all(&incidents(alerts, &Filter::default()));
        assert!(
            text.contains(
                "escalations: high at 2026-03-01 10:00:00 -> critical at 2026-03-01 10:05:00 -> critical again at 2026-03-03 08:00:00"
            ),
            "{text}"
        );
    }

    #[test]
    fn filters_by_incident_severity_and_account() {
        let alerts = vec![
            alert(
                "a0",
                "inc-a",
                "x:a",
                Severity::Medium,
                "2026-03-01T10:00:00Z",
            ),
            alert("a1", "inc-a", "x:a", Severity::High, "2026-03-01T10:05:00Z"),
            alert(
                "a2",
                "inc-b",
                "x:b",
                Severity::Medium,
                "2026-03-02T10:00:00Z",
            ),
        ];
        let high = Filter {
            min_severity: Some(Severity::High),
            ..Filter::default()
        };
        let list = incidents(alerts.clone(), &high);
        assert_eq!(list.len(), 1);
        assert_eq!(
            list[0].alerts.len(),
            2,
            "the whole incident, not its high alerts only"
        );
        let b = Filter {
            accounts: vec!["x:b".into()],
            ..Filter::default()
        };
        assert_eq!(incidents(alerts, &b)[0].id, "inc-b");
    }

    #[test]
    fn control_characters_from_input_are_shown_escaped() {
        let a = alert(
            "a0",
            "inc",
            "x:\u{1b}]0;pwned\u{7}\u{1b}[2J",
            Severity::High,
            "2026-03-01T10:00:00Z",
        );
        let text = render_all(&incidents(vec![a], &Filter::default()));
        assert!(
            !text.chars().any(|c| c.is_control() && c != '\n'),
            "{text:?}"
        );
        assert!(text.contains("\\u{1b}]0;pwned"));
    }
}
