//! Throughput and latency through Kafka, in one run.
//!
//! Run: `cargo bench --bench kafka` (embedded mock cluster), or against a
//! real broker: `KAWAL_BENCH_BROKERS=127.0.0.1:9092 cargo bench --bench
//! kafka`. Options by environment: `KAWAL_BENCH_ACCOUNTS` (default 1000),
//! `KAWAL_BENCH_DAYS` (30), `KAWAL_BENCH_RATE` (50000 events/s for the
//! latency phase), `KAWAL_BENCH_SECONDS` (10), `KAWAL_BENCH_PARTITIONS`
//! (by data size: the mock cluster keeps only 5 MiB per partition).
//!
//! 1. Throughput: the same simulated events are loaded into a topic; a bare
//!    rdkafka consumer that only reads them is timed, then kawal's pipeline
//!    (consume, decode, detect, deliver alerts to the alerts topic, store
//!    offsets) on the same topic and broker. Reported: both rates and their
//!    ratio (goal >= 0.5).
//! 2. Latency: events are produced at a steady rate while kawal runs; a
//!    downstream consumer reads the alerts topic, and each alert's latency
//!    is the time from the produce call of the event that triggered it to
//!    the alert's arrival downstream. Reported: p50/p99/max (goal p99 < 50
//!    ms at 50,000 events/s). Each latency is also split in two legs at
//!    the alert record's create time (stamped by kawal's producer, same
//!    machine clock): event produced -> kawal produced the alert (broker
//!    in, fetch, detect), and alert produced -> read downstream (linger,
//!    broker, the reader's fetch); the slowest alerts are listed with both.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use kawal::config::Config;
use kawal::decode::decode;
use kawal::detect::Alert;
use kawal::kafka::{Role, client_config};
use kawal::sim::{SimConfig, simulate};
use kawal::source::kafka::start;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::producer::{BaseRecord, DefaultProducerContext, Producer, ThreadedProducer};
use rdkafka::{ClientConfig, Message};

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// The producer `kawal produce` uses.
fn producer(brokers: &str) -> ThreadedProducer<DefaultProducerContext> {
    let mut cfg = Config::default();
    cfg.kafka.brokers = brokers.into();
    client_config(&cfg.kafka, Role::Producer)
        // Its default context would print 3 KB of statistics at info
        // every 5 s into the bench's log (kawal's own clients do not).
        .set("statistics.interval.ms", "0")
        .create()
        .expect("producer")
}

fn send(p: &ThreadedProducer<DefaultProducerContext>, topic: &str, line: &[u8], key: &[u8]) {
    let mut rec = BaseRecord::to(topic).payload(line).key(key);
    loop {
        match p.send(rec) {
            Ok(()) => return,
            Err((_, r)) => {
                rec = r;
                std::thread::sleep(Duration::from_millis(1));
            }
        }
    }
}

fn bare_consumer_rate(brokers: &str, topic: &str, n: u64) -> f64 {
    let c: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .set("group.id", "bench-bare")
        .set("auto.offset.reset", "earliest")
        .set("enable.auto.commit", "false")
        .create()
        .expect("consumer");
    c.subscribe(&[topic]).unwrap();
    let mut got = 0u64;
    let mut bytes = 0usize;
    let mut first = None;
    while got < n {
        if let Some(Ok(m)) = c.poll(Duration::from_millis(100)) {
            first.get_or_insert_with(Instant::now);
            bytes += m.payload().map_or(0, |p| p.len());
            got += 1;
        }
    }
    std::hint::black_box(bytes);
    n as f64 / first.expect("messages").elapsed().as_secs_f64()
}

fn config(brokers: &str, topic: &str, alerts: &str, group: &str) -> Config {
    // The embedded defaults and KAWAL__... variables, as `kawal run` reads
    // them (KAWAL__KAFKA__CONSUMER__FETCH_WAIT_MAX_MS=2, for one).
    let mut cfg = Config::load(None, std::env::vars()).expect("configuration");
    cfg.kafka.brokers = brokers.into();
    cfg.kafka.topics = vec![topic.into()];
    cfg.kafka.alerts_topic = alerts.into();
    cfg.kafka.dead_letter_topic = String::new();
    cfg.kafka.group_id = group.into();
    // Each round is a fresh group reading from the start: no state.
    cfg.state.topic = String::new();
    if std::env::var("KAWAL_BENCH_BROKERS").is_err()
        && !cfg.kafka.consumer.contains_key("session.timeout.ms")
    {
        // librdkafka's mock coordinator sometimes holds a new group's
        // second assignment until a session times out: one round in seven
        // stalled 44 s with the default 45 s (docs/BENCHMARKS.md), none in
        // 32 with 6 s. The tests shorten it for the same coordinator.
        cfg.kafka
            .consumer
            .insert("session.timeout.ms".into(), "6000".into());
    }
    cfg
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    // kawal's own warnings (and more with RUST_LOG=info: rebalances,
    // assignments) on standard error, beside the bench's lines.
    kawal::telemetry::init(&kawal::config::LogConfig {
        format: "text".into(),
        level: "warn".into(),
    });
    let accounts: usize = env_or("KAWAL_BENCH_ACCOUNTS", 1000);
    let days: u32 = env_or("KAWAL_BENCH_DAYS", 30);
    let rate: f64 = env_or("KAWAL_BENCH_RATE", 50_000.0);
    let seconds: f64 = env_or("KAWAL_BENCH_SECONDS", 10.0);
    let mut events = Vec::new();
    let sim = SimConfig {
        accounts,
        days,
        seed: 5,
        ..Default::default()
    };
    simulate(&sim, &mut events, &mut |_| {}).expect("simulate");
    let lines: Vec<&[u8]> = events
        .split(|b| *b == b'\n')
        .filter(|l| !l.is_empty())
        .collect();
    let keys: Vec<String> = lines
        .iter()
        .map(|l| decode(l).expect("valid").account.into_owned())
        .collect();
    // librdkafka's mock cluster keeps at most 100,000 messages or 5 MiB
    // (compressed) per partition and drops older ones, so large sets get
    // more partitions there.
    let partitions: i32 = env_or(
        "KAWAL_BENCH_PARTITIONS",
        (4 + (events.len() >> 20) / 8).max(4) as i32,
    );

    let cluster;
    let brokers = match std::env::var("KAWAL_BENCH_BROKERS") {
        Ok(b) => b,
        Err(_) => {
            cluster = rdkafka::mocking::MockCluster::new(1).expect("mock cluster");
            for t in ["bench-events", "bench-alerts", "lat-events", "lat-alerts"] {
                cluster.create_topic(t, partitions, 1).unwrap();
            }
            cluster.bootstrap_servers()
        }
    };
    let n = lines.len() as u64;
    println!(
        "brokers: {brokers}; {n} events ({accounts} accounts x {days} days, {} MiB), {partitions} partitions",
        events.len() >> 20
    );

    // Phase 1: throughput.
    let p = producer(&brokers);
    for (l, k) in lines.iter().zip(&keys) {
        send(&p, "bench-events", l, k.as_bytes());
    }
    p.flush(Duration::from_secs(120)).expect("flush");
    eprintln!("loaded; timing a bare consumer");
    let bare = bare_consumer_rate(&brokers, "bench-events", n);
    eprintln!("bare consumer done; timing kawal (metrics on, off, on, off)");
    let mut rates = [Vec::new(), Vec::new()];
    let mut alerts = 0;
    for round in 0..4 {
        let metrics_on = round % 2 == 0;
        // A fresh group each round reads the topic from the start.
        let mut cfg = config(
            &brokers,
            "bench-events",
            "bench-alerts",
            &format!("bench-kawal-{round}"),
        );
        // metrics.listen = "" switches the per-batch metric work off; the
        // endpoint itself is not started by the bench either way.
        cfg.metrics.listen = if metrics_on {
            "127.0.0.1:0".into()
        } else {
            String::new()
        };
        let started = Instant::now();
        let pipeline = start(&cfg, None, Arc::new(|_| Ok(Vec::new()))).expect("pipeline");
        // Timed from the first message handled, as the bare consumer is
        // (group join excluded from both).
        let mut first = None;
        while pipeline.counters.messages.load(Ordering::Acquire) < n {
            if first.is_none() && pipeline.counters.messages.load(Ordering::Acquire) > 0 {
                first = Some(Instant::now());
            }
            std::thread::sleep(Duration::from_micros(200));
        }
        rates[usize::from(!metrics_on)]
            .push(n as f64 / first.unwrap_or(started).elapsed().as_secs_f64());
        alerts = pipeline.metrics.alerts_total();
        eprintln!(
            "round {round} (metrics {}): {:.0} events/s, {} events, {alerts} alerts",
            if metrics_on { "on" } else { "off" },
            rates[usize::from(!metrics_on)].last().unwrap(),
            pipeline.counters.events.load(Ordering::Relaxed)
        );
        pipeline.stop();
        pipeline.join().expect("pipeline");
    }
    let best = |v: &Vec<f64>| v.iter().cloned().fold(0.0, f64::max);
    let (on, off) = (best(&rates[0]), best(&rates[1]));
    println!(
        "throughput: bare consumer {bare:.0} msg/s; kawal {on:.0} events/s end to end with metrics ({alerts} alerts delivered, offsets stored); ratio {:.2} (goal >= 0.5)",
        on / bare
    );
    println!(
        "metrics cost: best of 2 with metrics {on:.0} events/s, without {off:.0} events/s: {:.1}% (goal < 3%)",
        (1.0 - on / off) * 100.0
    );

    // Phase 2: latency at a steady rate.
    let cfg = config(&brokers, "lat-events", "lat-alerts", "lat-kawal");
    let pipeline = start(&cfg, None, Arc::new(|_| Ok(Vec::new()))).expect("pipeline");
    let done = AtomicBool::new(false);
    let reader_ready = AtomicBool::new(false);
    let latencies = std::thread::scope(|s| {
        let reader = s.spawn(|| {
            let c: BaseConsumer = ClientConfig::new()
                .set("bootstrap.servers", &brokers)
                .set("group.id", "lat-reader")
                .set("auto.offset.reset", "earliest")
                .set("fetch.wait.max.ms", "5")
                .create()
                .expect("reader");
            c.subscribe(&["lat-alerts"]).unwrap();
            let mut got: Vec<(Alert, Instant, Option<i64>)> = Vec::new();
            let mut quiet = Instant::now();
            loop {
                match c.poll(Duration::from_millis(5)) {
                    Some(Ok(m)) => {
                        let now = Instant::now();
                        match m.payload() {
                            Some(WARM_UP) => reader_ready.store(true, Ordering::Release),
                            Some(b) => {
                                if let Ok(a) = serde_json::from_slice::<Alert>(b) {
                                    got.push((a, now, m.timestamp().to_millis()));
                                }
                            }
                            None => {}
                        }
                        quiet = now;
                    }
                    _ => {
                        if done.load(Ordering::Acquire) && quiet.elapsed() > Duration::from_secs(2)
                        {
                            break;
                        }
                    }
                }
            }
            got
        });
        // Wait for the group to settle before the clock starts.
        while pipeline.metrics.assigned.get() < i64::from(partitions) {
            std::thread::sleep(Duration::from_millis(50));
        }
        let p = producer(&brokers);
        warm_up(&p, &pipeline, &reader_ready, lines[0], keys[0].as_bytes());
        let total = ((rate * seconds) as usize).min(lines.len());
        // Each event's position in the sequence and when it was produced.
        let mut sent_at: HashMap<&str, (usize, Instant, SystemTime)> =
            HashMap::with_capacity(total);
        let ids: Vec<String> = lines[..total]
            .iter()
            .map(|l| decode(l).unwrap().id.into_owned())
            .collect();
        let t0 = Instant::now();
        // lines[0] went through during the warm-up.
        for i in 1..total {
            if i % 50 == 0 {
                let due = t0 + Duration::from_secs_f64(i as f64 / rate);
                if let Some(w) = due.checked_duration_since(Instant::now()) {
                    std::thread::sleep(w);
                }
            }
            sent_at.insert(&ids[i], (i, Instant::now(), SystemTime::now()));
            send(&p, "lat-events", lines[i], keys[i].as_bytes());
        }
        let achieved = total as f64 / t0.elapsed().as_secs_f64();
        p.flush(Duration::from_secs(60)).expect("flush");
        while pipeline.counters.messages.load(Ordering::Acquire) < total as u64 {
            std::thread::sleep(Duration::from_millis(10));
        }
        done.store(true, Ordering::Release);
        let got = reader.join().expect("reader");
        let mut lat: Vec<Latency> = got
            .iter()
            .filter_map(|(a, at, created)| {
                // The trigger is the newest evidence event.
                let trigger = a.events.last()?;
                let &(trigger_index, sent, sent_wall) = sent_at.get(trigger.as_str())?;
                let total = at.duration_since(sent).as_secs_f64() * 1e3;
                let sent_ms = sent_wall.duration_since(UNIX_EPOCH).ok()?.as_secs_f64() * 1e3;
                let inbound = created.map(|c| c as f64 - sent_ms);
                Some(Latency {
                    total,
                    inbound,
                    trigger_index,
                })
            })
            .collect();
        lat.sort_by(|a, b| a.total.total_cmp(&b.total));
        (achieved, total, lat)
    });
    pipeline.stop();
    pipeline.join().expect("pipeline");
    let (achieved, total, lat) = latencies;
    report_latency(achieved, total, &lat);
}

/// What the reader recognises as the bench's own record, not an alert.
const WARM_UP: &[u8] = b"kawal-bench-warm-up";

/// Before the clock starts, each client on the alert's path has done
/// its first round trip: the producer has connected (its first records
/// waited 0.3-0.4 s for that on tansu, in two of three runs), kawal has
/// consumed an event, and the reader has joined its group and read a
/// record (its join delayed the first alerts of another run by 0.6 s).
/// Without this the p99 of ~60 alerts measured the bench's start-up.
fn warm_up(
    p: &ThreadedProducer<DefaultProducerContext>,
    pipeline: &kawal::source::kafka::Pipeline,
    reader_ready: &AtomicBool,
    first: &[u8],
    key: &[u8],
) {
    send(p, "lat-events", first, key);
    send(p, "lat-alerts", WARM_UP, b"bench");
    p.flush(Duration::from_secs(30)).expect("flush warm-up");
    let deadline = Instant::now() + Duration::from_secs(60);
    while pipeline.counters.messages.load(Ordering::Acquire) < 1
        || !reader_ready.load(Ordering::Acquire)
    {
        assert!(Instant::now() < deadline, "warm-up: the path never opened");
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// One alert's trip: from the produce call of its trigger event to its
/// arrival downstream, and the first leg of it (to kawal's produce call
/// of the alert), when the record carries its create time.
struct Latency {
    total: f64,
    inbound: Option<f64>,
    /// Position of the trigger event in the produced sequence.
    trigger_index: usize,
}

fn report_latency(achieved: f64, total: usize, lat: &[Latency]) {
    if lat.is_empty() {
        println!("latency: no alerts in {total} events; raise KAWAL_BENCH_SECONDS");
        return;
    }
    let q = |p: f64| lat[((lat.len() as f64 - 1.0) * p).round() as usize].total;
    println!(
        "latency at {achieved:.0} events/s ({total} events, {} alerts): produce -> alert delivered downstream p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms (goal p99 < 50 ms)",
        lat.len(),
        q(0.5),
        q(0.99),
        q(1.0)
    );
    let mut inbound: Vec<f64> = lat.iter().filter_map(|l| l.inbound).collect();
    inbound.sort_by(f64::total_cmp);
    if let (Some(first), Some(last)) = (inbound.first(), inbound.last()) {
        let mid = inbound[inbound.len() / 2];
        println!(
            "  first leg (event produced -> kawal produced the alert): min {first:.1}, p50 {mid:.1}, max {last:.1} ms"
        );
    }
    for l in lat.iter().rev().take(3) {
        let first = l.inbound.map_or("?".into(), |i| format!("{i:.1}"));
        let second = l
            .inbound
            .map_or("?".into(), |i| format!("{:.1}", l.total - i));
        println!(
            "  slow: {:.1} ms = {first} in + {second} out; trigger was event {} of {total} ({:.2} s into the run)",
            l.total,
            l.trigger_index,
            l.trigger_index as f64 / achieved
        );
    }
}
