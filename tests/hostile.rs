//! A corpus of hostile but valid events (`tests/data/hostile.ndjson`,
//! written by `scripts/hostile-corpus.py`: multi-byte, empty and very long
//! strings in every field, extreme numbers and coordinates, repeated ids,
//! a flood on one account, times from year 1 to 9999 in no order) is
//! replayed into the golden history, aimed at its accounts, days before
//! their takeovers. Nothing may crash, every alert must stay within its
//! budget, and every takeover the clean history pages on must still page.

use std::collections::BTreeSet;
use std::process::Command;

use kawal::config::Config;
use kawal::detect::{Alert, Severity};
use kawal::replay::{Summary, replay};
use kawal::sink::ndjson::NdjsonSink;

const GOLDEN: &str = include_str!("golden/events.ndjson");
const HOSTILE: &str = include_str!("data/hostile.ndjson");
/// Where the hostile lines go in: the golden stream's first event of
/// 2026-01-10 (its takeovers start on 2026-01-21).
const AT: &str = "\"time\":\"2026-01-10";

fn with_hostile() -> String {
    let at = GOLDEN.find(AT).expect("the golden set covers 2026-01-10");
    let at = GOLDEN[..at].rfind('\n').map_or(0, |i| i + 1);
    format!("{}{}{}", &GOLDEN[..at], HOSTILE, &GOLDEN[at..])
}

fn run(input: &str) -> (Summary, Vec<Alert>) {
    let cfg = Config::default();
    let mut sink = NdjsonSink::new(Vec::new(), false);
    let summary = replay(input.as_bytes(), &cfg, None, &mut sink, &mut |_| {}).unwrap();
    let alerts = String::from_utf8(sink.into_inner())
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).expect("an alert"))
        .collect();
    (summary, alerts)
}

fn paged(alerts: &[Alert]) -> BTreeSet<String> {
    alerts
        .iter()
        .filter(|a| a.severity >= Severity::High && a.time.as_str() >= "2026-01-21")
        .map(|a| a.account.clone())
        .collect()
}

#[test]
fn hostile_events_crash_nothing_and_takeovers_are_still_found() {
    let hostile_lines = HOSTILE.lines().count() as u64;
    let (clean, clean_alerts) = run(GOLDEN);
    let (summary, alerts) = run(&with_hostile());
    assert_eq!(summary.lines, clean.lines + hostile_lines);
    assert_eq!(summary.stats.internal_errors, 0);
    assert_eq!(summary.invalid_total(), 0, "every hostile event is valid");
    // Dated 2099, 2262 and 9999 while the stream is in 2026: skipped.
    assert!(summary.future > 0, "{}", summary.render());
    // Dated 1970 and year 1 after weeks of history: late.
    assert!(summary.stats.late > 0, "{}", summary.render());
    let budget = Config::default().detect.alert_max_bytes;
    for a in &alerts {
        let size = serde_json::to_vec(a).unwrap().len();
        assert!(size <= budget, "alert of {size} bytes");
        assert!(a.account.len() <= 600);
        assert!(a.events.iter().all(|e| e.len() <= 160));
    }
    let before = paged(&clean_alerts);
    assert!(before.len() >= 4, "{before:?}");
    assert_eq!(
        paged(&alerts),
        before,
        "takeovers paged on, without and with"
    );
}

#[test]
fn the_cli_replays_the_hostile_corpus_and_exits_zero() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in.ndjson");
    std::fs::write(&input, with_hostile()).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_kawal"))
        .arg("replay")
        .arg(&input)
        .arg("--out")
        .arg(dir.path().join("alerts.ndjson"))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(stderr.contains("future (skipped)"), "{stderr}");
}

#[test]
fn input_with_no_valid_event_exits_non_zero() {
    let out = Command::new(env!("CARGO_BIN_EXE_kawal"))
        .args(["replay", "-"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .and_then(|mut child| {
            use std::io::Write;
            child
                .stdin
                .take()
                .unwrap()
                .write_all(b"not json\n{\"id\":1}\n")?;
            child.wait_with_output()
        })
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("no valid event"), "{stderr}");
}
