//! Helpers shared by the tests against librdkafka's mock cluster.
#![allow(dead_code)]

pub mod http;

use std::collections::BTreeSet;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use kawal::config::Config;
use kawal::detect::Alert;
use kawal::kafka::{Role, client_config};
use kawal::source::kafka::{Pipeline, SinkFactory};
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::{Headers, OwnedMessage};
use rdkafka::mocking::MockCluster;
use rdkafka::{ClientConfig, Message, Offset, TopicPartitionList};

pub const GOLDEN: &str = include_str!("../golden/events.ndjson");
pub const EVENTS: &str = "events";
pub const ALERTS: &str = "alerts";
pub const DLQ: &str = "dead";
pub const STATE: &str = "state";

pub fn cluster(
    partitions: i32,
) -> (
    MockCluster<'static, rdkafka::producer::DefaultProducerContext>,
    String,
) {
    let c = MockCluster::new(1).expect("mock cluster");
    c.create_topic(EVENTS, partitions, 1).unwrap();
    c.create_topic(ALERTS, partitions, 1).unwrap();
    c.create_topic(DLQ, 1, 1).unwrap();
    // The mock cluster has no CreateTopics (kawal's own attempt times out).
    c.create_topic(STATE, partitions, 1).unwrap();
    let b = c.bootstrap_servers();
    (c, b)
}

pub fn config(brokers: &str, workers: usize) -> Config {
    let mut cfg = Config::default();
    cfg.kafka.brokers = brokers.to_string();
    cfg.kafka.group_id = "kawal-test".into();
    cfg.kafka.topics = vec![EVENTS.into()];
    cfg.kafka.alerts_topic = ALERTS.into();
    cfg.kafka.dead_letter_topic = DLQ.into();
    cfg.kafka.workers = workers;
    cfg.kafka.commit_interval = "200ms".into();
    cfg.state.topic = STATE.into();
    // The mock coordinator keeps a member that has sent LeaveGroup until
    // its session times out (seen in cgrp debug logs: the leave is sent
    // and answered, yet a new member waits ~45 s), so the restart test
    // would wait out the default 45 s.
    cfg.kafka
        .consumer
        .insert("session.timeout.ms".into(), "6000".into());
    cfg
}

pub fn no_sinks() -> SinkFactory {
    Arc::new(|_| Ok(Vec::new()))
}

pub fn produce(brokers: &str, lines: &str) -> u64 {
    let mut cfg = Config::default();
    cfg.kafka.brokers = brokers.to_string();
    let p = client_config(&cfg.kafka, Role::Producer);
    kawal::produce::produce(lines.as_bytes(), &p, EVENTS, 0.0, &mut |_| {})
        .expect("produce")
        .messages
}

pub fn wait_for(what: &str, limit: Duration, mut cond: impl FnMut() -> bool) {
    let started = Instant::now();
    while !cond() {
        assert!(started.elapsed() < limit, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

static READS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// Every message of `topic` from the beginning, waiting until `min`
/// arrived and then until nothing more comes for a moment.
pub fn read_topic(brokers: &str, topic: &str, min: usize) -> Vec<OwnedMessage> {
    let c: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        // A group of its own per call: a second reader in one group would
        // wait out the first one's session.
        .set(
            "group.id",
            format!(
                "reader-{topic}-{}-{}",
                std::process::id(),
                READS.fetch_add(1, Ordering::Relaxed)
            ),
        )
        .set("auto.offset.reset", "earliest")
        .set("enable.auto.commit", "false")
        .create()
        .unwrap();
    c.subscribe(&[topic]).unwrap();
    let mut out = Vec::new();
    let started = Instant::now();
    let mut quiet = Instant::now();
    while started.elapsed() < Duration::from_secs(30) {
        match c.poll(Duration::from_millis(50)) {
            Some(Ok(m)) => {
                out.push(m.detach());
                quiet = Instant::now();
            }
            Some(Err(e)) => panic!("reading {topic}: {e}"),
            None if out.len() >= min && quiet.elapsed() > Duration::from_millis(700) => break,
            None => {}
        }
    }
    out
}

/// A header of a message, as text.
pub fn header(m: &OwnedMessage, key: &str) -> Option<String> {
    m.headers()?
        .iter()
        .find(|x| x.key == key)
        .and_then(|x| x.value)
        .map(|v| String::from_utf8_lossy(v).into_owned())
}

/// Every line is in the Prometheus exposition `text`.
pub fn assert_exposes(text: &str, lines: &[&str]) {
    for line in lines {
        assert!(text.contains(line), "{line} missing from:\n{text}");
    }
}

pub fn alerts_of(msgs: &[OwnedMessage]) -> Vec<Alert> {
    msgs.iter()
        .map(|m| serde_json::from_slice(m.payload().expect("payload")).expect("an alert"))
        .collect()
}

/// Alert ids that `kawal replay --partitions n` gives for `lines`.
pub fn replay_ids(lines: &str, partitions: u32) -> BTreeSet<String> {
    replay_ids_saving(lines, partitions, None)
}

/// [`replay_ids`], saving the detectors' state in `state` at the end
/// (`kawal replay --partitions N --state DIR`).
pub fn replay_ids_saving(
    lines: &str,
    partitions: u32,
    state: Option<&std::path::Path>,
) -> BTreeSet<String> {
    let mut cfg = Config::default();
    cfg.replay.partitions = partitions;
    let mut sink = kawal::sink::ndjson::NdjsonSink::new(Vec::new(), false);
    kawal::replay::replay_with_state(lines.as_bytes(), &cfg, None, &mut sink, &mut |_| {}, state)
        .unwrap();
    String::from_utf8(sink.into_inner())
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str::<Alert>(l).unwrap().id)
        .collect()
}

/// Produces `events` and waits until `p` has handled them.
pub fn feed(p: &Pipeline, brokers: &str, events: &str) {
    let before = p.counters.messages.load(Ordering::Acquire);
    let sent = produce(brokers, events);
    run_until_handled(p, before + sent);
}

pub fn run_until_handled(p: &Pipeline, n: u64) {
    wait_for(
        "the pipeline to handle every message",
        Duration::from_secs(60),
        || p.counters.messages.load(Ordering::Acquire) >= n || p.any_finished(),
    );
}

/// Waits until `partitions` are assigned and the group has settled.
pub fn wait_for_stable_group(p: &Pipeline, partitions: i64) {
    let never = std::sync::atomic::AtomicBool::new(false);
    assert!(
        p.wait_settled(partitions, Duration::from_secs(60), &never),
        "the group never settled"
    );
}

pub fn committed(brokers: &str, partition: i32) -> Option<i64> {
    committed_in(brokers, "kawal-test", partition)
}

/// The committed offset of `partition` of the events topic in `group`.
pub fn committed_in(brokers: &str, group: &str, partition: i32) -> Option<i64> {
    let c: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .set("group.id", group)
        .create()
        .unwrap();
    let mut tpl = TopicPartitionList::new();
    tpl.add_partition(EVENTS, partition);
    let got = c.committed_offsets(tpl, Duration::from_secs(10)).unwrap();
    match got.find_partition(EVENTS, partition).unwrap().offset() {
        Offset::Offset(o) => Some(o),
        _ => None,
    }
}

/// A simulated month of `accounts` accounts (a quarter taken over), as
/// NDJSON: baselines decide its alerts, so a detector that forgot them
/// raises others.
pub fn month(accounts: usize, seed: u64) -> String {
    month_with_truth(accounts, seed).0
}

/// [`month`] and its truth (which accounts were taken over, how, when).
pub fn month_with_truth(accounts: usize, seed: u64) -> (String, kawal::sim::Truth) {
    let cfg = kawal::sim::SimConfig {
        accounts,
        days: 30,
        seed,
        attack_share: 0.3,
        ..Default::default()
    };
    let mut events = Vec::new();
    let truth = kawal::sim::simulate(&cfg, &mut events, &mut |_| {}).unwrap();
    (String::from_utf8(events).unwrap(), truth)
}

/// Splits NDJSON into `n` runs of whole lines of about equal length.
pub fn parts(lines: &str, n: usize) -> Vec<String> {
    let all: Vec<&str> = lines.lines().collect();
    let per = all.len().div_ceil(n);
    all.chunks(per).map(|c| c.join("\n") + "\n").collect()
}

/// A sink that accepts alerts and never confirms them (a webhook that
/// hangs, a broker that is gone): the stand-in for a crash between
/// detection and delivery.
pub struct Hanging(pub Arc<std::sync::Mutex<Vec<kawal::sink::Ack>>>);

impl kawal::sink::Sink for Hanging {
    fn name(&self) -> &'static str {
        "hanging"
    }
    fn send(
        &mut self,
        alerts: &[Alert],
        ack: &kawal::sink::Ack,
    ) -> Result<(), kawal::sink::SinkError> {
        for _ in alerts {
            ack.hold();
            self.0.lock().unwrap().push(ack.clone());
        }
        Ok(())
    }
    fn flush(&mut self) -> Result<(), kawal::sink::SinkError> {
        Ok(())
    }
}

/// The end (high watermark) of `partition` of the events topic.
pub fn end_offset(brokers: &str, partition: i32) -> i64 {
    let c: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .create()
        .unwrap();
    c.fetch_watermarks(EVENTS, partition, Duration::from_secs(10))
        .unwrap()
        .1
}
