//! The Kafka pipeline against librdkafka's in-process mock cluster:
//! exactly the alerts of a replay in the normal case, offsets never past
//! undelivered alerts, dead letters with their reasons, and two instances
//! of one group sharing the partitions.

use std::collections::{BTreeSet, HashMap};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use kawal::config::Config;
use kawal::detect::Severity;
use kawal::kafka::{Role, client_config};
use kawal::sink::{Sink, SinkError};
use kawal::source::kafka::{SinkFactory, SourceError, start};
use rdkafka::Message;

mod common;
use common::*;

#[test]
fn every_event_once_and_the_same_alerts_as_replay() {
    let (_c, brokers) = cluster(3);
    // With the metrics endpoint off (the per-batch metric work skipped),
    // the pipeline's own counts must stay exact.
    let mut cfg = config(&brokers, 2);
    cfg.metrics.listen = String::new();
    let p = start(&cfg, None, no_sinks()).unwrap();
    // Exactly once holds only without a rebalance mid-stream (at least
    // once is the promise across one: a partition moved while the group
    // forms can be read again, as it was before this test waited, about
    // one run in four on a loaded machine). So: produce once the two
    // workers have settled.
    wait_for_stable_group(&p, 3);
    let sent = produce(&brokers, GOLDEN);
    run_until_handled(&p, sent);
    let counters = Arc::clone(&p.counters);
    p.stop();
    let end = p.join().expect("clean shutdown");
    assert_eq!(counters.messages.load(Ordering::Relaxed), sent);
    assert_eq!(end.stats.events, sent, "every event detected on once");
    let expected = replay_ids(GOLDEN, 3);
    assert!(!expected.is_empty());
    let alerts = alerts_of(&read_topic(&brokers, ALERTS, expected.len()));
    let ids: Vec<String> = alerts.iter().map(|a| a.id.clone()).collect();
    let unique: BTreeSet<String> = ids.iter().cloned().collect();
    assert_eq!(ids.len(), unique.len(), "no alert delivered twice");
    assert_eq!(unique, expected);
    // Offsets were committed on the way out: a restart reads nothing again.
    let total: i64 = (0..3).filter_map(|p| committed(&brokers, p)).sum();
    assert_eq!(total as u64, sent);
}

const LOCKOUT: &str = r#"{"id":"k1","time":"2026-03-02T08:00:00Z","account":"x:lock","type":"login","actor":"staff:andi","outcome":"success","source":{"country":"ID","asn":7713,"ip":"1.2.3.4"}}
{"id":"k2","time":"2026-03-02T08:05:00Z","account":"x:lock","type":"mfa_change","actor":"staff:andi","change":{"action":"disable"}}
{"id":"k3","time":"2026-03-02T08:06:00Z","account":"x:lock","type":"recovery_change","actor":"staff:andi","change":{"field":"email"}}
{"id":"k4","time":"2026-03-02T08:07:00Z","account":"x:lock","type":"role_change","actor":"staff:andi","change":{"action":"grant","target":"ext:helper","role":"admin"}}
{"id":"k5","time":"2026-03-02T08:08:00Z","account":"x:lock","type":"role_change","actor":"ext:helper","change":{"action":"revoke","target":"staff:andi"}}
{"id":"k6","time":"2026-03-02T08:30:00Z","account":"x:other","type":"login","actor":"staff:budi","outcome":"success","source":{"country":"ID","asn":7713,"ip":"1.2.3.9"}}
"#;

/// The index of the first line of `ndjson` on which a fresh detector
/// raises an alert (one partition: offsets are line numbers).
fn first_alerting_line(ndjson: &str) -> usize {
    let mut det = kawal::detect::Detector::new(Config::default());
    let mut out = Vec::new();
    for (i, line) in ndjson.lines().enumerate() {
        det.process(&kawal::decode::decode(line.as_bytes()).unwrap(), &mut out);
        if !out.is_empty() {
            return i;
        }
    }
    panic!("no alert in {ndjson}");
}

#[test]
fn offsets_wait_for_delivery_and_a_restart_still_delivers_the_alert() {
    let (_c, brokers) = cluster(1);
    let sent = produce(&brokers, LOCKOUT);
    // First life: the only sink never confirms; the process is stopped
    // with the alert undelivered.
    let held = Arc::new(Mutex::new(Vec::new()));
    let mut cfg = config(&brokers, 1);
    cfg.kafka.alerts_topic = String::new();
    cfg.kafka.batch_max = 1;
    cfg.kafka.drain_timeout = "300ms".into();
    let h = Arc::clone(&held);
    let sinks: SinkFactory =
        Arc::new(move |_| Ok(vec![Box::new(Hanging(Arc::clone(&h))) as Box<dyn Sink>]));
    let p = start(&cfg, None, sinks).unwrap();
    run_until_handled(&p, sent);
    // Let a periodic commit or two pass: they must not move past the alert.
    std::thread::sleep(Duration::from_millis(500));
    p.stop();
    let err = p
        .join()
        .expect_err("shutdown with undelivered alerts is an error");
    assert!(
        matches!(err, SourceError::Sink(SinkError::Timeout { .. })),
        "{err}"
    );
    assert!(!held.lock().unwrap().is_empty(), "an alert was raised");
    // Nothing from the event that raised the first alert on may be
    // committed, though k6 and the rest were handled.
    let raised_at = first_alerting_line(LOCKOUT);
    assert!(raised_at < 5, "the lock-out alerts before k6");
    let first = committed(&brokers, 0);
    assert!(
        first.unwrap_or(0) <= raised_at as i64,
        "committed {first:?} past an undelivered alert (raised by line {raised_at})"
    );

    // Second life, with the alerts topic: the takeover alert arrives.
    let p = start(&config(&brokers, 1), None, no_sinks()).unwrap();
    run_until_handled(&p, sent - first.unwrap_or(0) as u64);
    p.stop();
    p.join().expect("clean shutdown");
    let alerts = alerts_of(&read_topic(&brokers, ALERTS, 1));
    assert!(
        alerts
            .iter()
            .any(|a| a.account == "x:lock" && a.severity >= Severity::High),
        "{alerts:#?}"
    );
    assert_eq!(committed(&brokers, 0), Some(sent as i64));
}

#[test]
fn bad_messages_go_to_the_dead_letter_topic_with_their_reasons() {
    let (_c, brokers) = cluster(1);
    let lines = [
        r#"{"id":"g1","time":"2026-03-02T08:00:00Z","account":"x:a","type":"login","outcome":"success"}"#,
        "this is not json",
        r#"{"id":"g2","account":"x:a","type":"login"}"#,
        r#"{"id":"g3","time":"2026-03-02T08:01:00Z","account":"x:a","type":"login","source":{"lat":123}}"#,
        r#"{"id":"g4","time":"2026-03-02T08:02:00Z","account":"x:a","type":"some_future_type"}"#,
    ];
    let text = lines.join("\n");
    let sent = produce(&brokers, &text);
    let p = start(&config(&brokers, 1), None, no_sinks()).unwrap();
    run_until_handled(&p, sent);
    let metrics = Arc::clone(&p.metrics);
    p.stop();
    let end = p.join().expect("clean shutdown");
    assert_eq!(
        end.stats.events, 2,
        "valid events (unknown types too) processed"
    );
    assert_eq!(metrics.dead_letters.get(), 3);
    // The same outcomes in the Prometheus exposition.
    let text = String::from_utf8(metrics.render()).unwrap();
    assert_exposes(
        &text,
        &[
            "kawal_dead_letters_total 3",
            r#"kawal_invalid_events_total{kind="bad_json"} 1"#,
            r#"kawal_invalid_events_total{kind="missing_field"} 1"#,
            r#"kawal_invalid_events_total{kind="out_of_range"} 1"#,
            r#"kawal_events_total{outcome="processed",type="login"} 1"#,
            r#"kawal_events_total{outcome="processed",type="other"} 1"#,
            r#"kawal_sink_deliveries_total{sink="kafka"} 3"#,
        ],
    );
    let dead = read_topic(&brokers, DLQ, 3);
    assert_eq!(dead.len(), 3);
    let mut by_kind = HashMap::new();
    for m in &dead {
        let get = |k: &str| header(m, k).unwrap_or_else(|| panic!("header {k}"));
        assert_eq!(get("kawal.source.topic"), EVENTS);
        assert_eq!(get("kawal.source.partition"), "0");
        let offset: usize = get("kawal.source.offset").parse().unwrap();
        // Original bytes, untouched.
        assert_eq!(m.payload().unwrap(), lines[offset].as_bytes());
        assert!(!get("kawal.error").is_empty());
        by_kind.insert(get("kawal.error.kind"), offset);
    }
    assert_eq!(by_kind["bad_json"], 1);
    assert_eq!(by_kind["missing_field"], 2);
    assert_eq!(by_kind["out_of_range"], 3);
    // Dead letters do not hold the partition back.
    assert_eq!(committed(&brokers, 0), Some(sent as i64));
}

#[test]
fn two_instances_split_the_partitions_and_deliver_every_alert() {
    let (_c, brokers) = cluster(4);
    let mut cfg = config(&brokers, 1);
    cfg.kafka.group_id = "kawal-test".into();
    let a = start(&cfg, None, no_sinks()).unwrap();
    let b = start(&cfg, None, no_sinks()).unwrap();
    // Produce only once the group has settled, so no partition changes
    // owner (and starts cold) half-way.
    wait_for(
        "both instances to own partitions",
        Duration::from_secs(60),
        || {
            let (x, y) = (a.metrics.assigned.get(), b.metrics.assigned.get());
            x > 0 && y > 0 && x + y == 4
        },
    );
    let sent = produce(&brokers, GOLDEN);
    wait_for(
        "both instances to handle every message",
        Duration::from_secs(60),
        || {
            a.counters.messages.load(Ordering::Acquire)
                + b.counters.messages.load(Ordering::Acquire)
                >= sent
        },
    );
    let (na, nb) = (
        a.counters.messages.load(Ordering::Acquire),
        b.counters.messages.load(Ordering::Acquire),
    );
    assert!(na > 0 && nb > 0, "both worked: {na} + {nb}");
    assert_eq!(na + nb, sent);
    a.stop();
    b.stop();
    a.join().unwrap();
    b.join().unwrap();
    let expected = replay_ids(GOLDEN, 4);
    let got: BTreeSet<String> = alerts_of(&read_topic(&brokers, ALERTS, expected.len()))
        .into_iter()
        .map(|a| a.id)
        .collect();
    assert_eq!(got, expected);
}

/// The robustness contract of `kawal run`: a message whose processing
/// panics (made to by the test hook), one dated 2099 and one too large to
/// forward whole are each dead-lettered with their reason, and the
/// partition goes on: the events after them are processed and the
/// committed offset passes them all.
#[test]
fn a_panic_a_future_event_and_an_oversized_message_do_not_stop_the_partition() {
    use sha2::{Digest, Sha256};
    let _ = kawal::detect::PANIC_TEST_EVENT_ID.set("kawal-test-panic".into());
    let (_c, brokers) = cluster(1);
    let huge = format!(
        r#"{{"id":"big","time":"2026-03-02T08:00:30Z","account":"x:a","type":"login","pad":"{}"}}"#,
        "x".repeat(1_100_000)
    );
    let lines = [
        r#"{"id":"g1","time":"2026-03-02T08:00:00Z","account":"x:a","type":"login","outcome":"success"}"#.to_string(),
        r#"{"id":"kawal-test-panic","time":"2026-03-02T08:01:00Z","account":"x:a","type":"login"}"#.to_string(),
        r#"{"id":"g2","time":"2099-01-01T00:00:00Z","account":"x:a","type":"login"}"#.to_string(),
        huge.clone(),
        r#"{"id":"g3","time":"2026-03-02T08:03:00Z","account":"x:a","type":"post"}"#.to_string(),
        r#"{"id":"g4","time":"2026-03-02T08:04:00Z","account":"x:b","type":"login"}"#.to_string(),
    ];
    // The test's own producer takes messages up to 2 MB (kawal's dead
    // letter producer keeps librdkafka's default limit of 1,000,000).
    let mut pcfg = Config::default();
    pcfg.kafka.brokers = brokers.clone();
    pcfg.kafka
        .producer
        .insert("message.max.bytes".into(), "2000000".into());
    let p = client_config(&pcfg.kafka, Role::Producer);
    let sent = kawal::produce::produce(lines.join("\n").as_bytes(), &p, EVENTS, 0.0, &mut |_| {})
        .expect("produce")
        .messages;
    assert_eq!(sent, 6);

    let mut cfg = config(&brokers, 1);
    cfg.kafka
        .consumer
        .insert("fetch.message.max.bytes".into(), "2000000".into());
    let p = start(&cfg, None, no_sinks()).unwrap();
    run_until_handled(&p, sent);
    let metrics = Arc::clone(&p.metrics);
    p.stop();
    let end = p.join().expect("clean shutdown");
    // g1, g3 and g4 (the hook panics before the detector counts its event).
    assert_eq!(end.stats.events, 3);
    assert_eq!(end.stats.internal_errors, 1);
    let text = String::from_utf8(metrics.render()).unwrap();
    assert_exposes(
        &text,
        &[
            "kawal_dead_letters_total 3",
            r#"kawal_rejected_events_total{reason="internal"} 1"#,
            r#"kawal_rejected_events_total{reason="future"} 1"#,
            r#"kawal_invalid_events_total{kind="too_large"} 1"#,
        ],
    );

    let dead = read_topic(&brokers, DLQ, 3);
    assert_eq!(dead.len(), 3);
    let mut kinds = Vec::new();
    for m in &dead {
        let get = |k: &str| header(m, k);
        let kind = get("kawal.error.kind").expect("kind");
        let offset: usize = get("kawal.source.offset").unwrap().parse().unwrap();
        match kind.as_str() {
            "internal" => {
                assert_eq!(offset, 1);
                assert!(get("kawal.error").unwrap().contains("panicked"));
                assert_eq!(m.payload().unwrap(), lines[1].as_bytes());
            }
            "future" => {
                assert_eq!(offset, 2);
                assert!(
                    get("kawal.error")
                        .unwrap()
                        .contains("ahead of the wall clock")
                );
            }
            "too_large" => {
                assert_eq!(offset, 3);
                let payload = m.payload().unwrap();
                assert!(payload.len() < 1_000_000, "{}", payload.len());
                assert!(huge.as_bytes().starts_with(payload));
                assert_eq!(
                    get("kawal.original.length").unwrap(),
                    huge.len().to_string()
                );
                let digest: String = Sha256::digest(huge.as_bytes())
                    .iter()
                    .map(|b| format!("{b:02x}"))
                    .collect();
                assert_eq!(get("kawal.original.sha256").unwrap(), digest);
                assert_eq!(get("kawal.truncated").unwrap(), "payload");
            }
            other => panic!("unexpected dead letter kind {other}"),
        }
        kinds.push(kind);
    }
    kinds.sort();
    assert_eq!(kinds, ["future", "internal", "too_large"]);
    assert_eq!(committed(&brokers, 0), Some(sent as i64));
}

/// `[kafka] alerts_format = "cloudevents"`: each alert message is a
/// CloudEvent in binary mode (the Kafka protocol binding): the required
/// attributes as `ce_` headers, `content-type`, and the alert contract as
/// the value, so the topic's consumers can use a CloudEvents SDK.
#[test]
fn alerts_as_cloudevents_in_binary_mode_carry_the_required_ce_headers() {
    let (_c, brokers) = cluster(2);
    let mut cfg = config(&brokers, 1);
    cfg.state.topic = String::new();
    cfg.kafka.alerts_format = "cloudevents".into();
    let expected = golden_through(&cfg);
    let msgs = read_topic(&brokers, ALERTS, expected.len());
    assert_eq!(msgs.len(), expected.len());
    for (m, a) in msgs.iter().zip(alerts_of(&msgs)) {
        assert_eq!(header(m, "ce_specversion").as_deref(), Some("1.0"));
        assert_eq!(header(m, "ce_id"), Some(a.id.clone()));
        assert_eq!(header(m, "ce_source").as_deref(), Some("kawal"));
        assert_eq!(header(m, "ce_type").as_deref(), Some("kawal.alert"));
        assert_eq!(header(m, "ce_subject"), Some(a.account.clone()));
        assert_eq!(header(m, "ce_time"), Some(a.detected_at.clone()));
        assert_eq!(
            header(m, "content-type").as_deref(),
            Some("application/json")
        );
    }
}

/// `kawal alerts` reading the alerts topic: every alert the pipeline
/// delivered, as incidents (the topic read from start to its end, no
/// consumer group needed).
#[test]
fn the_alerts_command_reads_the_alerts_topic() {
    let (_c, brokers) = cluster(2);
    let mut cfg = config(&brokers, 1);
    cfg.state.topic = String::new();
    let expected = golden_through(&cfg);
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_kawal"))
        .args(["alerts", "--brokers", &brokers, "--topic", ALERTS])
        .output()
        .unwrap();
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains(&format!("), {} alerts", expected.len())),
        "{stdout}"
    );
    for id in &expected {
        assert!(stdout.contains(id.as_str()), "{id} missing:\n{stdout}");
    }
}

/// Runs the golden events through a pipeline with `cfg` (its brokers'
/// events topic of two partitions) to the end; returns the alert ids a
/// replay split the same way raises.
fn golden_through(cfg: &kawal::config::Config) -> BTreeSet<String> {
    let p = start(cfg, None, no_sinks()).unwrap();
    let sent = produce(&cfg.kafka.brokers, GOLDEN);
    run_until_handled(&p, sent);
    p.stop();
    p.join().unwrap();
    replay_ids(GOLDEN, 2)
}
