//! What one alert looks like to each kind of receiver. Every body is
//! rendered at delivery time from the alert as the outbox keeps it (the
//! alert contract, `docs/ALERTS.md`), so a format's time fields (the
//! Alertmanager `endsAt`) are of the attempt, not of the append.
//!
//! Input strings quoted in alerts are hostile (account names, user
//! agents): each format escapes them for its own markup and cuts them, at
//! char boundaries, to the receiver's documented limits.

use serde_json::{Value, json};

use crate::detect::{Alert, Severity};
use crate::time::rfc3339;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// The alert contract as it is.
    Native,
    /// Slack incoming webhook: `text` fallback plus Block Kit blocks.
    Slack,
    /// Microsoft Teams Workflows webhook: a message with an Adaptive Card.
    Teams,
    /// PagerDuty Events API v2.
    PagerDuty,
    /// OCSF 1.3 Detection Finding (class 2004).
    Ocsf,
    /// CloudEvents 1.0, structured JSON mode.
    CloudEvents,
    /// Prometheus Alertmanager's `POST /api/v2/alerts`.
    Alertmanager,
}

impl Format {
    pub const ALL: [(&'static str, Format); 7] = [
        ("native", Format::Native),
        ("slack", Format::Slack),
        ("teams", Format::Teams),
        ("pagerduty", Format::PagerDuty),
        ("ocsf", Format::Ocsf),
        ("cloudevents", Format::CloudEvents),
        ("alertmanager", Format::Alertmanager),
    ];

    pub fn parse(s: &str) -> Option<Format> {
        Format::ALL.iter().find(|(n, _)| *n == s).map(|(_, f)| *f)
    }

    /// The configuration's name of the format.
    pub fn name(self) -> &'static str {
        Format::ALL
            .iter()
            .find(|(_, f)| *f == self)
            .map_or("native", |(n, _)| n)
    }

    /// Formats whose receivers are told when an incident closes: the
    /// deliverer tracks open incidents for them. Alertmanager and
    /// PagerDuty keep incidents open until resolved; Slack and Teams
    /// channels get a closing message, OCSF a Close of the finding,
    /// CloudEvents an `kawal.incident.resolved` event. Native receivers
    /// get alerts only (the alert contract has no closing record).
    pub fn tracks_incidents(self) -> bool {
        !matches!(self, Format::Native)
    }

    pub fn content_type(self) -> &'static str {
        match self {
            Format::CloudEvents => "application/cloudevents+json",
            _ => "application/json",
        }
    }

    /// Messages per second the receiver takes, when it documents a limit:
    /// Slack's incoming webhooks allow one per second per webhook.
    pub fn default_rate(self) -> f64 {
        match self {
            Format::Slack => 1.0,
            _ => 0.0,
        }
    }
}

/// What a body needs beyond the alert.
#[derive(Debug, Clone)]
pub struct Context<'a> {
    /// PagerDuty's integration key.
    pub routing_key: &'a str,
    /// Who sends: PagerDuty `source`, CloudEvents `source`.
    pub source: &'a str,
    /// Wall clock of the attempt.
    pub now_ms: i64,
    /// Alertmanager: `endsAt` this far after `now_ms` while the incident
    /// is open; `None` sends it resolved (`endsAt` now).
    pub ends_after_ms: Option<i64>,
}

/// Cuts `s` to at most `max` chars (never inside a char), marking a cut.
pub fn cut(s: &str, max: usize) -> String {
    match s.char_indices().nth(max.saturating_sub(1)) {
        Some((i, _)) if s.len() > i + 1 && s[i..].chars().nth(1).is_some() => {
            let mut out = s[..i].to_string();
            out.push('…');
            out
        }
        _ => s.to_string(),
    }
}

/// Slack's mrkdwn control characters (Slack: "Escaping text").
fn slack_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// Renders `alert` for `format` into `out`.
pub fn render(format: Format, alert: &Alert, ctx: &Context<'_>, out: &mut Vec<u8>) {
    out.clear();
    let v = match format {
        Format::Native => {
            serde_json::to_writer(&mut *out, alert).expect("alerts serialise");
            return;
        }
        Format::Slack => slack(alert),
        Format::Teams => teams(alert),
        Format::PagerDuty => pagerduty(alert, ctx),
        Format::Ocsf => ocsf(alert),
        Format::CloudEvents => cloudevents(alert, ctx),
        Format::Alertmanager => Value::Array(vec![alertmanager(alert, ctx)]),
    };
    serde_json::to_writer(&mut *out, &v).expect("values serialise");
}

fn signal_lines(alert: &Alert, max: usize) -> Vec<String> {
    alert
        .signals
        .iter()
        .take(max)
        .map(|s| format!("{} (+{:.1}): {}", s.name, s.contribution, s.detail))
        .collect()
}

/// The recovery steps as numbered lines.
fn recovery_lines(alert: &Alert) -> Vec<String> {
    alert
        .recovery
        .iter()
        .enumerate()
        .map(|(i, s)| format!("{}. {}", i + 1, s.text))
        .collect()
}

fn slack(a: &Alert) -> Value {
    let sev = a.severity.as_str().to_uppercase();
    // Limits (Slack Block Kit reference): header text 150 chars, section
    // text 3000, a field 2000, a context element 2000; text fallback is
    // truncated by Slack past 40,000, and we keep it short.
    let title = cut(&format!("{sev}: likely takeover of {}", a.account), 150);
    let signals: Vec<String> = signal_lines(a, 10)
        .iter()
        .map(|l| format!("• {}", slack_escape(l)))
        .collect();
    let steps = recovery_lines(a).join("\n");
    json!({
        "text": cut(&slack_escape(&format!("[{sev}] {}", a.summary)), 3000),
        "blocks": [
            {"type": "header", "text": {"type": "plain_text", "text": title}},
            {"type": "section", "text": {"type": "mrkdwn", "text": cut(&slack_escape(&a.summary), 3000)}},
            {"type": "section", "fields": [
                {"type": "mrkdwn", "text": format!("*Account*\n{}", cut(&slack_escape(&a.account), 1900))},
                {"type": "mrkdwn", "text": format!("*Severity*\n{}", a.severity.as_str())},
                {"type": "mrkdwn", "text": format!("*Score*\n{:.2}", a.score)},
                {"type": "mrkdwn", "text": format!("*Event time*\n{}", a.time)},
            ]},
            {"type": "section", "text": {"type": "mrkdwn", "text": cut(&format!("*Signals*\n{}", signals.join("\n")), 3000)}},
            {"type": "section", "text": {"type": "mrkdwn", "text": cut(&format!("*What to do*\n{}", slack_escape(&steps)), 3000)}},
            {"type": "context", "elements": [
                {"type": "mrkdwn", "text": cut(&slack_escape(&format!("alert {} · incident {} · evidence {}", a.id, a.incident, a.events.join(", "))), 2000)},
            ]},
        ],
    })
}

fn teams(a: &Alert) -> Value {
    let facts = json!([
        {"title": "Account", "value": a.account},
        {"title": "Severity", "value": a.severity.as_str()},
        {"title": "Score", "value": format!("{:.2}", a.score)},
        {"title": "Event time", "value": a.time},
        {"title": "Incident", "value": a.incident},
        {"title": "Alert", "value": a.id},
    ]);
    let signals: Vec<Value> = signal_lines(a, 10)
        .into_iter()
        .map(|l| json!({"type": "TextBlock", "text": format!("- {l}"), "wrap": true, "spacing": "None"}))
        .collect();
    let mut body = vec![
        json!({"type": "TextBlock", "size": "Medium", "weight": "Bolder", "wrap": true,
               "color": if a.severity >= Severity::High { "Attention" } else { "Warning" },
               "text": format!("{}: likely takeover of {}", a.severity.as_str().to_uppercase(), a.account)}),
        json!({"type": "TextBlock", "text": a.summary, "wrap": true}),
        json!({"type": "FactSet", "facts": facts}),
        json!({"type": "TextBlock", "text": "Signals", "weight": "Bolder"}),
    ];
    body.extend(signals);
    if !a.recovery.is_empty() {
        body.push(json!({"type": "TextBlock", "text": "What to do", "weight": "Bolder"}));
        body.extend(
            recovery_lines(a)
                .into_iter()
                .map(|l| json!({"type": "TextBlock", "text": l, "wrap": true, "spacing": "None"})),
        );
    }
    teams_card(body)
}

/// A Workflows webhook message holding one Adaptive Card 1.4 of `body`.
fn teams_card(body: Vec<Value>) -> Value {
    json!({
        "type": "message",
        "attachments": [{
            "contentType": "application/vnd.microsoft.card.adaptive",
            "contentUrl": null,
            "content": {
                "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
                "type": "AdaptiveCard",
                "version": "1.4",
                "body": body,
            },
        }],
    })
}

/// PagerDuty's severities: critical, error, warning, info.
pub fn pagerduty_severity(s: Severity) -> &'static str {
    match s {
        Severity::Critical => "critical",
        Severity::High => "error",
        Severity::Medium => "warning",
        Severity::Low => "info",
    }
}

fn pagerduty(a: &Alert, ctx: &Context<'_>) -> Value {
    // Events API v2: summary at most 1024 chars; dedup_key at most 255.
    json!({
        "routing_key": ctx.routing_key,
        "event_action": "trigger",
        "dedup_key": cut(&a.incident, 255),
        "client": "kawal",
        "payload": {
            "summary": cut(&a.summary, 1024),
            "source": ctx.source,
            "severity": pagerduty_severity(a.severity),
            "timestamp": a.time,
            "component": a.account,
            "group": "account-takeover",
            "class": a.signals.first().map(|s| s.name.as_str()).unwrap_or("takeover"),
            "custom_details": a,
        },
    })
}

/// A resolve for the incident `incident` (Events API v2).
pub fn pagerduty_resolve(incident: &str, routing_key: &str) -> Value {
    json!({
        "routing_key": routing_key,
        "event_action": "resolve",
        "dedup_key": cut(incident, 255),
    })
}

/// Why an incident closed, as its closing message says it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Reason<'a> {
    /// `quiet` (the detector: no new evidence for `quiet_ms` of event
    /// time), `no_alert` (the deliverer's wall-clock safety net), or the
    /// analyst's verdict (`false_positive`, `benign`).
    pub why: &'a str,
    pub quiet_ms: i64,
}

/// The message that closes the incident whose latest alert is `last`
/// (Alertmanager is resolved by its own re-send; native receivers get
/// alerts only). `ctx.now_ms` is when it closed.
pub fn closing(
    format: Format,
    last: &Alert,
    ctx: &Context<'_>,
    reason: Reason<'_>,
) -> Option<Value> {
    let hours = reason.quiet_ms as f64 / 3_600_000.0;
    let how = match reason.why {
        "quiet" | "no_alert" => format!("had no new alert for {hours:.1} h"),
        verdict => format!("was closed by an analyst's verdict: {verdict}"),
    };
    let said = format!(
        "Resolved: incident {} on {} (last alert {}, {}) {how}",
        last.incident,
        last.account,
        last.severity.as_str(),
        last.time
    );
    Some(match format {
        Format::Native | Format::Alertmanager => return None,
        Format::PagerDuty => pagerduty_resolve(&last.incident, ctx.routing_key),
        Format::Slack => {
            let text = cut(&slack_escape(&said), 3000);
            json!({
                "text": text,
                "blocks": [
                    {"type": "section", "text": {"type": "mrkdwn", "text": text}},
                    {"type": "context", "elements": [
                        {"type": "mrkdwn", "text": cut(&slack_escape(&format!("incident {} · last alert {}", last.incident, last.id)), 2000)},
                    ]},
                ],
            })
        }
        Format::Teams => teams_card(vec![
            json!({"type": "TextBlock", "size": "Medium", "weight": "Bolder", "wrap": true,
                   "color": "Good", "text": format!("Resolved: {}", last.account)}),
            json!({"type": "TextBlock", "text": said, "wrap": true}),
        ]),
        Format::Ocsf => ocsf_close(last, ctx, &said),
        Format::CloudEvents => json!({
            "specversion": "1.0",
            "id": format!("{}-resolved", last.incident),
            "source": ctx.source,
            "type": "kawal.incident.resolved",
            "subject": last.account,
            "time": rfc3339(ctx.now_ms),
            "datacontenttype": "application/json",
            "data": {
                "incident": last.incident,
                "account": last.account,
                "last_alert": last.id,
                "severity": last.severity.as_str(),
                "reason": reason.why,
                "quiet_seconds": reason.quiet_ms / 1000,
            },
        }),
    })
}

/// OCSF: the incident's latest finding closed (activity 3 Close, status
/// 4 Resolved), the same `finding_info.uid` as when it was created.
fn ocsf_close(last: &Alert, ctx: &Context<'_>, said: &str) -> Value {
    let mut v = ocsf(last);
    let o = v.as_object_mut().expect("an object");
    for (k, val) in [
        ("activity_id", json!(3)),
        ("activity_name", json!("Close")),
        ("type_uid", json!(200403)),
        ("type_name", json!("Detection Finding: Close")),
        ("status_id", json!(4)),
        ("status", json!("Resolved")),
        ("time", json!(ctx.now_ms)),
        ("end_time", json!(ctx.now_ms)),
        ("message", json!(said)),
    ] {
        o.insert(k.into(), val);
    }
    v["metadata"]["uid"] = json!(format!("{}-resolved", last.incident));
    v
}

fn ms_of(rfc: &str) -> i64 {
    crate::time::parse_rfc3339(rfc).unwrap_or(0)
}

/// OCSF severity_id: 1 informational ... 5 critical, 6 fatal.
fn ocsf_severity(s: Severity) -> (u8, &'static str) {
    match s {
        Severity::Low => (2, "Low"),
        Severity::Medium => (3, "Medium"),
        Severity::High => (4, "High"),
        Severity::Critical => (5, "Critical"),
    }
}

fn ocsf(a: &Alert) -> Value {
    let (severity_id, severity) = ocsf_severity(a.severity);
    let time = ms_of(&a.time);
    json!({
        "class_uid": 2004,
        "class_name": "Detection Finding",
        "category_uid": 2,
        "category_name": "Findings",
        "activity_id": 1,
        "activity_name": "Create",
        "type_uid": 200401,
        "type_name": "Detection Finding: Create",
        "severity_id": severity_id,
        "severity": severity,
        "status_id": 1,
        "status": "New",
        "time": time,
        "message": a.summary,
        "risk_score": (a.score * 10.0).round().clamp(0.0, 100.0) as i64,
        "metadata": {
            "version": "1.3.0",
            "uid": a.id,
            "correlation_uid": a.incident,
            "product": {"name": "kawal", "vendor_name": "kawal", "version": env!("CARGO_PKG_VERSION")},
        },
        "finding_info": {
            "uid": a.id,
            "title": cut(&format!("Likely takeover of {}", a.account), 200),
            "desc": a.summary,
            "types": ["Account Takeover"],
            "created_time": ms_of(&a.detected_at),
            "first_seen_time": ms_of(&a.first_event_time),
            "last_seen_time": time,
            "related_events": a.events.iter().map(|e| json!({"uid": e})).collect::<Vec<_>>(),
        },
        "resources": [{"uid": a.account, "type": "Social Media Account"}],
        "remediation": {"desc": recovery_lines(a).join("\n")},
        "unmapped": {"signals": a.signals, "learning": a.learning, "score": a.score},
    })
}

fn cloudevents(a: &Alert, ctx: &Context<'_>) -> Value {
    json!({
        "specversion": "1.0",
        "id": a.id,
        "source": ctx.source,
        "type": "kawal.alert",
        "subject": a.account,
        "time": a.detected_at,
        "datacontenttype": "application/json",
        "data": a,
    })
}

/// The alertname every kawal alert carries in Alertmanager.
pub const ALERTNAME: &str = "KawalAccountTakeover";

/// One Alertmanager alert: labels for identity and routing only
/// (alertname, account, incident, severity), the rest as annotations.
pub fn alertmanager(a: &Alert, ctx: &Context<'_>) -> Value {
    let ends = match ctx.ends_after_ms {
        Some(after) => ctx.now_ms + after,
        None => ctx.now_ms,
    };
    let signals: Vec<&str> = a.signals.iter().map(|s| s.name.as_str()).collect();
    json!({
        "labels": {
            "alertname": ALERTNAME,
            "account": a.account,
            "incident": a.incident,
            "severity": a.severity.as_str(),
        },
        "annotations": {
            "summary": a.summary,
            "score": format!("{:.3}", a.score),
            "signals": signals.join(", "),
            "details": signal_lines(a, 10).join("\n"),
            "evidence": a.events.join(" "),
            "recovery": recovery_lines(a).join("\n"),
            "alert_id": a.id,
        },
        "startsAt": if a.first_event_time.is_empty() { a.time.clone() } else { a.first_event_time.clone() },
        "endsAt": rfc3339(ends),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cut_keeps_whole_chars_and_marks_the_cut() {
        assert_eq!(cut("abc", 5), "abc");
        assert_eq!(cut("abc", 3), "abc");
        assert_eq!(cut("abcd", 3), "ab…");
        assert_eq!(cut("ééééé", 3), "éé…");
        assert_eq!(cut("", 0), "");
        assert!(cut(&"🙂".repeat(300), 150).chars().count() <= 150);
    }

    fn ctx() -> Context<'static> {
        Context {
            routing_key: "key",
            source: "kawal",
            now_ms: 1_773_083_000_000,
            ends_after_ms: Some(300_000),
        }
    }

    fn rendered(f: Format, a: &Alert) -> Value {
        let mut out = Vec::new();
        render(f, a, &ctx(), &mut out);
        serde_json::from_slice(&out).unwrap()
    }

    /// OCSF 1.3 Detection Finding: the attributes the class and its
    /// base event require, with their enumerated values.
    #[test]
    fn ocsf_detection_finding_has_its_required_attributes() {
        let a = crate::sink::webhook::tests::alert("x:kemkominfo", Severity::Critical);
        let v = rendered(Format::Ocsf, &a);
        assert_eq!(v["class_uid"], 2004);
        assert_eq!(v["category_uid"], 2);
        assert_eq!(v["activity_id"], 1);
        assert_eq!(v["type_uid"], 2004 * 100 + 1);
        assert_eq!(v["severity_id"], 5);
        assert!(v["time"].as_i64().unwrap() > 0);
        assert_eq!(v["metadata"]["product"]["name"], "kawal");
        assert!(v["metadata"]["version"].as_str().unwrap().starts_with("1."));
        assert_eq!(v["finding_info"]["uid"], a.id.as_str());
        assert!(!v["finding_info"]["title"].as_str().unwrap().is_empty());
        let related: Vec<&str> = v["finding_info"]["related_events"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["uid"].as_str().unwrap())
            .collect();
        assert_eq!(related, ["e-1", "e-2"]);
        for (sev, id) in [
            (Severity::Low, 2),
            (Severity::Medium, 3),
            (Severity::High, 4),
        ] {
            let a = crate::sink::webhook::tests::alert("x:a", sev);
            assert_eq!(rendered(Format::Ocsf, &a)["severity_id"], id);
        }
    }

    #[test]
    fn pagerduty_teams_and_cloudevents_carry_their_required_fields() {
        let a = crate::sink::webhook::tests::alert("x:kemkominfo", Severity::High);
        let pd = rendered(Format::PagerDuty, &a);
        assert_eq!(pd["routing_key"], "key");
        assert_eq!(pd["event_action"], "trigger");
        assert_eq!(pd["dedup_key"], a.incident.as_str());
        for k in ["summary", "source", "severity"] {
            assert!(pd["payload"][k].is_string(), "payload.{k}");
        }
        assert_eq!(pd["payload"]["severity"], "error");
        let r = pagerduty_resolve(&a.incident, "key");
        assert_eq!(r["event_action"], "resolve");
        let teams = rendered(Format::Teams, &a);
        let card = &teams["attachments"][0];
        assert_eq!(
            card["contentType"],
            "application/vnd.microsoft.card.adaptive"
        );
        assert_eq!(card["content"]["type"], "AdaptiveCard");
        assert!(card["content"]["body"].as_array().unwrap().len() >= 4);
        let ce = rendered(Format::CloudEvents, &a);
        for k in ["specversion", "id", "source", "type"] {
            assert!(ce[k].is_string(), "{k}");
        }
        assert_eq!(ce["data"]["id"], a.id.as_str());
        let am = rendered(Format::Alertmanager, &a);
        assert_eq!(am[0]["labels"].as_object().unwrap().len(), 4);
        let ends = crate::time::parse_rfc3339(am[0]["endsAt"].as_str().unwrap()).unwrap();
        assert_eq!(ends, ctx().now_ms + 300_000);
    }

    #[test]
    fn closing_messages_name_the_incident_in_each_format() {
        let mut a = crate::sink::webhook::tests::alert("x:<!here>", Severity::Critical);
        a.incident = "inc-0000000000000042".into();
        let quiet = Reason {
            why: "quiet",
            quiet_ms: 24 * 3_600_000,
        };
        let close = |f| closing(f, &a, &ctx(), quiet);
        assert!(close(Format::Native).is_none());
        assert!(close(Format::Alertmanager).is_none(), "resolved by re-send");
        let pd = close(Format::PagerDuty).unwrap();
        assert_eq!(
            (&pd["event_action"], &pd["dedup_key"]),
            (&json!("resolve"), &json!(a.incident))
        );
        let slack = close(Format::Slack).unwrap();
        let text = slack["text"].as_str().unwrap();
        assert!(
            text.starts_with("Resolved: incident inc-0000000000000042"),
            "{text}"
        );
        assert!(
            text.contains("24.0 h") && text.contains("&lt;!here&gt;"),
            "{text}"
        );
        assert!(!slack.to_string().contains("<!here>"), "unescaped mention");
        let teams = close(Format::Teams).unwrap();
        let body = &teams["attachments"][0]["content"]["body"];
        assert_eq!(body[0]["color"], "Good");
        assert!(body[1]["text"].as_str().unwrap().contains(&a.incident));
        // OCSF: the same finding, closed.
        let created = rendered(Format::Ocsf, &a);
        let ocsf = close(Format::Ocsf).unwrap();
        assert_eq!(ocsf["finding_info"]["uid"], created["finding_info"]["uid"]);
        assert_eq!(ocsf["metadata"]["correlation_uid"], a.incident.as_str());
        assert_eq!(
            (&ocsf["activity_id"], &ocsf["type_uid"]),
            (&json!(3), &json!(200403))
        );
        assert_eq!(
            (&ocsf["status_id"], &ocsf["status"]),
            (&json!(4), &json!("Resolved"))
        );
        assert_eq!(ocsf["time"], ctx().now_ms);
        assert_ne!(ocsf["metadata"]["uid"], created["metadata"]["uid"]);
        let ce = close(Format::CloudEvents).unwrap();
        assert_eq!(ce["type"], "kawal.incident.resolved");
        assert_eq!(ce["id"], format!("{}-resolved", a.incident));
        assert_eq!(ce["data"]["last_alert"], a.id.as_str());
        assert_eq!(ce["data"]["quiet_seconds"], 86_400);
        assert_eq!(ce["data"]["reason"], "quiet");
        // A verdict's close says so.
        let by_verdict = Reason {
            why: "false_positive",
            quiet_ms: 0,
        };
        let slack = closing(Format::Slack, &a, &ctx(), by_verdict).unwrap();
        assert!(
            slack["text"]
                .as_str()
                .unwrap()
                .ends_with("closed by an analyst's verdict: false_positive"),
            "{slack}"
        );
    }

    /// Each format's closing message, as bytes a receiver gets, is pinned
    /// in `tests/golden/closing.json`; the end-to-end script
    /// (`tests/e2e/webhooks_e2e.py`) checks that file with the receivers'
    /// own models (slack_sdk, the Adaptive Card schema, py-ocsf-models,
    /// the CloudEvents SDK). Bless with `KAWAL_BLESS=1`.
    #[test]
    fn closing_messages_match_their_golden_file() {
        let mut a = crate::sink::webhook::tests::alert("x:kemkominfo", Severity::Critical);
        a.incident = "inc-0000000000000042".into();
        let mut all = serde_json::Map::new();
        for f in [
            Format::Slack,
            Format::Teams,
            Format::PagerDuty,
            Format::Ocsf,
            Format::CloudEvents,
        ] {
            let quiet = Reason {
                why: "quiet",
                quiet_ms: 48 * 3_600_000,
            };
            let mut v = closing(f, &a, &ctx(), quiet).unwrap();
            if f == Format::Ocsf {
                // The one field that moves with every release.
                v["metadata"]["product"]["version"] = json!("VERSION");
            }
            all.insert(f.name().into(), v);
        }
        let got = serde_json::to_string_pretty(&Value::Object(all)).unwrap() + "\n";
        let path =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden/closing.json");
        if std::env::var_os("KAWAL_BLESS").is_some() {
            std::fs::write(&path, &got).unwrap();
        }
        let want = std::fs::read_to_string(&path).expect("tests/golden/closing.json");
        assert_eq!(
            got, want,
            "closing messages changed: bless with KAWAL_BLESS=1"
        );
    }

    #[test]
    fn slack_escapes_hostile_markup() {
        let mut a = crate::sink::webhook::tests::alert("x:<!channel>&co", Severity::High);
        a.summary = "<https://evil|click> now".into();
        let v = slack(&a);
        // Every text Slack parses as mrkdwn (plain_text is shown as is).
        fn mrkdwn(v: &Value, out: &mut Vec<String>) {
            match v {
                Value::Object(o) => {
                    if o.get("type") == Some(&json!("mrkdwn")) {
                        out.push(o["text"].as_str().unwrap().to_string());
                    }
                    o.values().for_each(|x| mrkdwn(x, out));
                }
                Value::Array(a) => a.iter().for_each(|x| mrkdwn(x, out)),
                _ => {}
            }
        }
        let mut texts = vec![v["text"].as_str().unwrap().to_string()];
        mrkdwn(&v, &mut texts);
        assert!(texts.len() > 5);
        for t in &texts {
            assert!(!t.contains('<') && !t.contains('>'), "{t}");
        }
        assert!(texts.iter().any(|t| t.contains("&lt;!channel&gt;&amp;co")));
    }
}
