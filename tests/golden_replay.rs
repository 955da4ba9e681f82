//! Golden replay: events in, alerts out.
//!
//! `tests/golden/events.ndjson` (six simulated accounts, each taken over
//! once) is replayed and the alerts are compared, field by field except
//! the wall-clock `detected_at`, with `tests/golden/expected.ndjson`.
//! After an intended change in detection, regenerate the expected file with
//! `KAWAL_BLESS=1 cargo test --test golden_replay` and review the diff.

use kawal::config::Config;
use kawal::detect::Alert;
use kawal::replay::replay;
use kawal::sink::ndjson::NdjsonSink;
use serde_json::{Value, json};

const DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/golden/");

fn run(shards: usize) -> Vec<Alert> {
    let mut cfg = Config::default();
    cfg.replay.shards = shards;
    let input = std::fs::read(format!("{DIR}events.ndjson")).unwrap();
    let mut sink = NdjsonSink::new(Vec::new(), false);
    let summary = replay(&input[..], &cfg, None, &mut sink, &mut |_| {}).unwrap();
    assert_eq!(summary.invalid_total(), 0);
    String::from_utf8(sink.into_inner())
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// Everything but the wall clock.
fn project(a: &Alert) -> Value {
    json!({
        "id": a.id, "account": a.account, "time": a.time, "severity": a.severity,
        "score": a.score, "summary": a.summary, "signals": a.signals, "events": a.events,
        "incident": a.incident, "learning": a.learning, "first_event_time": a.first_event_time,
        "recovery": a.recovery,
    })
}

#[test]
fn golden_alerts_match() {
    let got: Vec<Value> = run(1).iter().map(project).collect();
    let path = format!("{DIR}expected.ndjson");
    if std::env::var_os("KAWAL_BLESS").is_some() {
        let text: String = got.iter().map(|v| format!("{v}\n")).collect();
        std::fs::write(&path, text).unwrap();
    }
    let expected: Vec<Value> = std::fs::read_to_string(&path)
        .expect("expected.ndjson (KAWAL_BLESS=1 creates it)")
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(got.len(), expected.len(), "alert count");
    for (g, e) in got.iter().zip(&expected) {
        assert_eq!(g, e);
    }
    // Takeovers in the golden set page someone. One does not: an OAuth
    // consent on an account that posts a lot, whose app burst is within its
    // normal rate (it stays at medium); a known limitation, pinned here so
    // that a change to it is seen.
    let truth: Value =
        serde_json::from_str(&std::fs::read_to_string(format!("{DIR}truth.json")).unwrap())
            .unwrap();
    let takeovers = truth["takeovers"].as_array().unwrap();
    let paged = takeovers
        .iter()
        .filter(|t| {
            got.iter().any(|a| {
                a["account"] == t["account"]
                    && (a["severity"] == "high" || a["severity"] == "critical")
            })
        })
        .count();
    assert_eq!(takeovers.len(), 6);
    assert!(paged >= 5, "{paged} of 6 takeovers paged");
}

#[test]
fn alerts_carry_every_contract_field() {
    let input = std::fs::read_to_string(format!("{DIR}expected.ndjson")).unwrap();
    assert!(!input.is_empty());
    for a in run(1) {
        let v = serde_json::to_value(&a).unwrap();
        for field in [
            "id",
            "account",
            "time",
            "detected_at",
            "severity",
            "score",
            "summary",
            "signals",
            "events",
        ] {
            assert!(v.get(field).is_some(), "{field} missing");
        }
        assert!(kawal::time::parse_rfc3339(&a.detected_at).is_some());
        assert!(!a.events.is_empty() && !a.signals.is_empty());
        for s in &a.signals {
            assert!(!s.name.is_empty() && !s.detail.is_empty() && s.contribution.is_finite());
        }
    }
}

#[test]
fn sharding_does_not_change_the_alerts() {
    let one: Vec<Value> = run(1).iter().map(project).collect();
    let two: Vec<Value> = run(2).iter().map(project).collect();
    let three: Vec<Value> = run(3).iter().map(project).collect();
    assert_eq!(one, two);
    assert_eq!(one, three);
}
