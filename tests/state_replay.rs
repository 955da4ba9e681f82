//! `kawal replay --state DIR`: a backtest in parts equals one replay of
//! the whole, through the library and through the binary.

use std::process::Command;

use kawal::config::Config;
use kawal::replay::{ReplayError, replay, replay_with_state};
use kawal::sim::{SimConfig, simulate};
use kawal::sink::ndjson::NdjsonSink;

fn events() -> Vec<u8> {
    let cfg = SimConfig {
        accounts: 120,
        days: 30,
        seed: 5,
        attack_share: 0.3,
        ..Default::default()
    };
    let mut events = Vec::new();
    simulate(&cfg, &mut events, &mut |_| {}).unwrap();
    events
}

/// Alerts without their wall-clock stamp, in output order.
fn alerts(ndjson: &[u8]) -> Vec<serde_json::Value> {
    String::from_utf8_lossy(ndjson)
        .lines()
        .map(|l| {
            let mut v: serde_json::Value = serde_json::from_str(l).unwrap();
            v.as_object_mut().unwrap().remove("detected_at");
            v
        })
        .collect()
}

fn run(input: &[u8], cfg: &Config, state: Option<&std::path::Path>) -> Vec<serde_json::Value> {
    let mut sink = NdjsonSink::new(Vec::new(), false);
    replay_with_state(input, cfg, None, &mut sink, &mut |_| {}, state).unwrap();
    alerts(&sink.into_inner())
}

/// Splits NDJSON at the line boundary nearest `share` of its bytes.
fn halves(events: &[u8], share: f64) -> (&[u8], &[u8]) {
    let mut cut = (events.len() as f64 * share) as usize;
    while events[cut - 1] != b'\n' {
        cut += 1;
    }
    events.split_at(cut)
}

#[test]
fn a_replay_in_parts_with_state_equals_one_replay_of_the_whole() {
    let events = events();
    for (shards, partitions) in [(2, 0), (1, 0), (2, 5)] {
        let mut cfg = Config::default();
        cfg.replay.shards = shards;
        cfg.replay.partitions = partitions;
        let mut sink = NdjsonSink::new(Vec::new(), false);
        replay(&events[..], &cfg, None, &mut sink, &mut |_| {}).unwrap();
        let whole = alerts(&sink.into_inner());
        assert!(whole.len() >= 20, "{} alerts", whole.len());

        for share in [0.3, 0.55] {
            let dir = tempfile::tempdir().unwrap();
            let (a, b) = halves(&events, share);
            let mut got = run(a, &cfg, Some(dir.path()));
            got.extend(run(b, &cfg, Some(dir.path())));
            assert_eq!(
                got.len(),
                whole.len(),
                "shards {shards} partitions {partitions}"
            );
            assert!(
                got == whole,
                "shards {shards} partitions {partitions} split {share}"
            );
        }
        // Without the state, the second half starts cold: the alerts
        // differ (the test can tell state from no state).
        let (a, b) = halves(&events, 0.55);
        let mut cold = run(a, &cfg, None);
        cold.extend(run(b, &cfg, None));
        assert!(cold != whole, "the baselines matter to the second half");
    }
}

#[test]
fn a_state_directory_of_another_split_is_refused() {
    let events = events();
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = Config::default();
    cfg.replay.partitions = 4;
    run(&events[..2000], &cfg, Some(dir.path()));
    let names: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    assert_eq!(names.len(), 4, "{names:?}");
    cfg.replay.partitions = 3;
    let mut sink = NdjsonSink::new(Vec::new(), false);
    let err = replay_with_state(
        &events[..],
        &cfg,
        None,
        &mut sink,
        &mut |_| {},
        Some(dir.path()),
    )
    .unwrap_err();
    assert!(matches!(err, ReplayError::StateLayout { .. }), "{err}");
    assert!(err.to_string().contains("partition-3.kawal-state"), "{err}");
}

#[test]
fn the_binary_resumes_from_its_state_directory() {
    let events = events();
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = halves(&events, 0.5);
    let files = [
        dir.path().join("a.ndjson"),
        dir.path().join("b.ndjson"),
        dir.path().join("all.ndjson"),
    ];
    std::fs::write(&files[0], a).unwrap();
    std::fs::write(&files[1], b).unwrap();
    std::fs::write(&files[2], &events).unwrap();
    let state = dir.path().join("state");
    let replay = |file: &std::path::Path, state: Option<&std::path::Path>| {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_kawal"));
        cmd.arg("replay").arg(file);
        if let Some(s) = state {
            cmd.arg("--state").arg(s);
        }
        let out = cmd.output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        alerts(&out.stdout)
    };
    let whole = replay(&files[2], None);
    let mut parts = replay(&files[0], Some(&state));
    parts.extend(replay(&files[1], Some(&state)));
    assert!(!whole.is_empty());
    assert!(parts == whole);
}
