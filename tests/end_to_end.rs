//! simulate -> replay -> evaluate agree, through the library and through
//! the `kawal` binary.

use std::process::Command;

use kawal::config::Config;
use kawal::detect::{Alert, Severity};
use kawal::eval::{DEFAULT_GRACE, evaluate};
use kawal::replay::replay;
use kawal::sim::{SimConfig, simulate};
use kawal::sink::ndjson::NdjsonSink;

/// Held out of tuning (README, Figures: the leave-out table).
const HELD_OUT: &[&str] = &["local_proxy", "new_app", "scheduled_api"];

#[test]
fn simulated_takeovers_are_detected_and_false_alerts_are_rare() {
    let cfg = SimConfig {
        accounts: 150,
        days: 35,
        seed: 11,
        attack_share: 0.25,
        // The styles and stories held out of tuning are measured in the
        // README (Figures), not held to the tuned set's bounds here.
        without: HELD_OUT.iter().map(|s| s.to_string()).collect(),
        ..Default::default()
    };
    let mut events = Vec::new();
    let truth = simulate(&cfg, &mut events, &mut |_| {}).unwrap();
    assert!(truth.takeovers.len() >= 20);
    assert!(truth.takeovers.iter().all(|t| t.style != "local_proxy"));
    assert!(truth.benign.iter().all(|b| b.behaviour != "scheduled_api"));
    let mut sink = NdjsonSink::new(Vec::new(), false);
    let summary = replay(
        &events[..],
        &Config::default(),
        None,
        &mut sink,
        &mut |_| {},
    )
    .unwrap();
    assert_eq!(summary.invalid_total(), 0);
    assert_eq!(summary.stats.accounts, 150);
    let alerts: Vec<Alert> = String::from_utf8(sink.into_inner())
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(alerts.len() as u64, summary.alerts_written);
    let report = evaluate(&truth, &alerts, DEFAULT_GRACE).unwrap();
    let high = report.level(Severity::High);
    assert!(high.recall >= 0.9, "{}", report.render());
    // 5,250 account-days: one false page is 0.19 per 1,000 (the goal,
    // 0.5 at 2,000 accounts x 60 days, is measured in the README).
    assert!(
        high.false_per_1000_account_days <= 1.0,
        "{}",
        report.render()
    );
    assert!(
        report.level(Severity::Low).false_per_1000_account_days <= 10.0,
        "{}",
        report.render()
    );
    assert!(
        high.median_minutes_to_detect.unwrap() <= 15.0,
        "{}",
        report.render()
    );
}

fn kawal() -> Command {
    Command::new(env!("CARGO_BIN_EXE_kawal"))
}

#[test]
fn cli_simulate_replay_evaluate() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let st = kawal()
        .args([
            "simulate",
            "--accounts",
            "40",
            "--days",
            "25",
            "--seed",
            "3",
            "--attack-share",
            "0.3",
            "--out",
        ])
        .arg(d)
        .status()
        .unwrap();
    assert!(st.success());
    let out = kawal()
        .arg("replay")
        .arg(d.join("events.ndjson"))
        .arg("--out")
        .arg(d.join("alerts.ndjson"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("events:") && stderr.contains("alerts:"),
        "{stderr}"
    );
    let out = kawal()
        .args(["evaluate", "--json", "--truth"])
        .arg(d.join("truth.json"))
        .arg("--alerts")
        .arg(d.join("alerts.ndjson"))
        .output()
        .unwrap();
    assert!(out.status.success());
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["levels"].as_array().unwrap().len(), 4);
    assert!(report["levels"][2]["recall"].as_f64().unwrap() > 0.5);
    // Every signal is listed; those that served a true alert say for
    // which styles.
    let signals = report["signals"].as_object().unwrap();
    assert!(signals.contains_key("new_device") && signals.contains_key("session_moved"));
    assert!(signals.values().any(
        |u| u["true_alerts"].as_u64() > Some(0) && !u["styles"].as_array().unwrap().is_empty()
    ));
    // The text report ends with the signal table.
    let out = kawal()
        .args(["evaluate", "--truth"])
        .arg(d.join("truth.json"))
        .arg("--alerts")
        .arg(d.join("alerts.ndjson"))
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&out.stdout).contains("signals in alerts (any severity):"));
}

#[test]
fn cli_errors_are_clear_and_non_zero() {
    let out = kawal()
        .args(["replay", "/nonexistent/events.ndjson"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot open events file"));

    let out = kawal()
        .args(["replay", "-"])
        .env("KAWAL__SEVERITY__NOPE", "1")
        .env("KAWAL__DETECT__LONG_WINDOW", "\"forever\"")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("severity.nope") && err.contains("detect.long_window"),
        "{err}"
    );

    let out = kawal().arg("--help").output().unwrap();
    assert!(out.status.success());
    for cmd in ["replay", "simulate", "evaluate", "demo"] {
        assert!(String::from_utf8_lossy(&out.stdout).contains(cmd));
        assert!(
            kawal()
                .args([cmd, "--help"])
                .output()
                .unwrap()
                .status
                .success()
        );
    }
}

#[test]
fn replay_from_stdin_skips_bad_lines() {
    use std::io::Write;
    let mut child = kawal()
        .args(["replay", "-"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    stdin
        .write_all(b"{\"id\":\"1\",\"time\":\"2026-03-02T08:15:27Z\",\"account\":\"a\",\"type\":\"login\"}\n{broken\n\n{\"id\":\"2\",\"time\":\"nope\",\"account\":\"a\",\"type\":\"login\"}\n")
        .unwrap();
    drop(stdin);
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("invalid: 2 (1 bad_json, 1 bad_time)"), "{err}");
    assert!(err.contains("events: 1 valid of 4 lines"), "{err}");
}

#[test]
fn demo_runs_through_the_embedded_kafka_and_matches_replay() {
    let dir = tempfile::tempdir().unwrap();
    let out = kawal()
        .args([
            "demo",
            "--accounts",
            "60",
            "--days",
            "20",
            "--seed",
            "3",
            "--out",
        ])
        .arg(dir.path())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("messages through Kafka"), "{stdout}");
    // The Kafka run and a replay with the topic's partitioning agree.
    assert!(stdout.contains("(identical)"), "{stdout}");
    assert!(stdout.contains("recall by attack style"), "{stdout}");
    // Every alert of medium severity and above reached the demo's signed
    // webhook, and the receiver verified each signature.
    let alerts = std::fs::read_to_string(dir.path().join("alerts.ndjson")).unwrap();
    let medium = alerts
        .lines()
        .filter(|l| !l.contains(r#""severity":"low""#))
        .count();
    assert!(
        stdout.contains(&format!("{medium} of {medium} alerts of medium severity")),
        "{stdout}"
    );
    let events = std::fs::read_to_string(dir.path().join("events.ndjson")).unwrap();
    let n = events.lines().filter(|l| !l.trim().is_empty()).count();
    assert!(
        stdout.contains(&format!("{n} messages through Kafka, {n} events")),
        "{stdout}"
    );
}

/// `kawal alerts`: the golden alerts as incidents (escalations folded,
/// first evidence first), the same from standard input, filtered by
/// severity and account; a line that is not an alert exits 2 naming it.
#[test]
fn alerts_command_shows_one_block_per_incident() {
    let golden =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden/expected.ndjson");
    let text = std::fs::read_to_string(&golden).unwrap();
    let alerts: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let incidents: std::collections::BTreeSet<&str> = alerts
        .iter()
        .map(|a| a["incident"].as_str().unwrap())
        .collect();
    let out = kawal().arg("alerts").arg(&golden).output().unwrap();
    assert!(out.status.success());
    let stdout = String::from_utf8(out.stdout).unwrap();
    let heads: Vec<&str> = stdout
        .lines()
        .filter(|l| l.contains("  incident inc-"))
        .collect();
    assert_eq!(heads.len(), incidents.len(), "{stdout}");
    assert!(stdout.contains(&format!("{} incidents (", incidents.len())));
    assert!(stdout.contains(&format!("), {} alerts", alerts.len())));
    // Escalations fold into their incident: one line lists them in order.
    assert!(
        stdout
            .lines()
            .any(|l| l.contains("escalations: ") && l.contains(" -> ")),
        "{stdout}"
    );

    // Standard input, a severity floor and an account.
    let critical_account = alerts.iter().find(|a| a["severity"] == "critical").unwrap()["account"]
        .as_str()
        .unwrap();
    let mut child = kawal()
        .args([
            "alerts",
            "-",
            "--min-severity",
            "critical",
            "--account",
            critical_account,
        ])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert!(stdout.starts_with("CRITICAL"), "{stdout}");
    assert!(stdout.contains("1 incidents (1 critical"), "{stdout}");

    let bad = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(bad.path(), "\n{\"id\": 5}\n").unwrap();
    let out = kawal().arg("alerts").arg(bad.path()).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(stderr.contains(":2: not an alert"), "{stderr}");
    let out = kawal()
        .args(["alerts", "-", "--min-severity", "urgent"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
}
