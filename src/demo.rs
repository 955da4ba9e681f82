//! `kawal demo`: the whole pipeline on one machine with no services.
//!
//! It starts librdkafka's in-process mock cluster, creates the topics,
//! simulates activity with injected takeovers, produces it (as fast as
//! possible or at a given rate), runs the same pipeline as `kawal run`
//! against the cluster, reads the alerts topic back as a downstream
//! consumer would (printing each alert as it arrives), and ends with the
//! evaluation against the simulation's truth.

use std::io::BufWriter;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use rdkafka::Message;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::mocking::MockCluster;

use crate::config::{Config, WebhookConfig};
use crate::detect::Alert;
use crate::eval::{self, Report};
use crate::kafka::{Role, client_config};
use crate::loopback;
use crate::produce::{Produced, produce};
use crate::sim::{self, SimConfig, Truth};
use crate::sink::Sink;
use crate::sink::webhook::{Delivery, DeliveryError};
use crate::source::kafka::{SourceError, start_with_metrics};

#[derive(Debug, thiserror::Error)]
pub enum DemoError {
    #[error("kafka: {0}")]
    Kafka(#[from] rdkafka::error::KafkaError),
    #[error("{0}")]
    Io(#[from] std::io::Error),
    #[error(transparent)]
    Produce(#[from] crate::produce::ProduceError),
    #[error(transparent)]
    Pipeline(#[from] SourceError),
    #[error(transparent)]
    Eval(#[from] crate::eval::EvalError),
    #[error("the pipeline did not finish: {0}")]
    Stalled(String),
    #[error("too much for the embedded cluster: {0}")]
    TooLarge(String),
    #[error(transparent)]
    Delivery(#[from] DeliveryError),
    #[error("interrupted")]
    Interrupted,
}

pub struct DemoOptions {
    pub sim: SimConfig,
    /// Events per second into Kafka (0: as fast as possible).
    pub rate: f64,
    pub partitions: i32,
    pub dir: PathBuf,
    /// Keep the pipeline and its metrics up this long once the results
    /// are out (for a Prometheus to scrape, or to look at the dashboard).
    pub hold: Duration,
    /// Set (by a signal) to end the demo early: during the run it stops
    /// the pipeline and returns [`DemoError::Interrupted`]; during the hold
    /// it ends the hold.
    pub interrupt: Arc<AtomicBool>,
}

pub struct DemoOutcome {
    pub truth: Truth,
    pub produced: Produced,
    pub alerts: Vec<Alert>,
    /// Events the pipeline detected on.
    pub events: u64,
    pub invalid: u64,
    pub seconds: f64,
    pub report: Report,
    /// Alerts that `kawal replay --partitions N` of the same file gives,
    /// and how many of them the Kafka run delivered (same ids).
    pub replay_alerts: usize,
    pub replay_matched: usize,
    /// Alerts of medium severity and above, and how many of them the
    /// demo's loopback receiver accepted with a verified signature.
    pub webhook_expected: usize,
    pub webhook_verified: usize,
}

/// The severity the demo's webhook gets (a typical SOC integration).
const DEMO_WEBHOOK_MIN: crate::detect::Severity = crate::detect::Severity::Medium;

/// The demo endpoint's answer: 204 for a request whose Standard Webhooks
/// signature holds (any of the space-separated ones, as in a rotation),
/// its webhook-id recorded in `verified`; 401 otherwise.
fn verifying(
    secret: &str,
    verified: Arc<std::sync::Mutex<std::collections::HashSet<String>>>,
) -> loopback::Answer {
    let signer = crate::sink::webhook::Signer::parse(secret).expect("a secret made here");
    Arc::new(move |headers, body| {
        let id = loopback::header(headers, "webhook-id");
        let ts: i64 = loopback::header(headers, "webhook-timestamp")
            .parse()
            .unwrap_or(0);
        let expected = signer.header(id, ts, body);
        let ok = !id.is_empty()
            && loopback::header(headers, "webhook-signature")
                .split(' ')
                .any(|s| expected.split(' ').any(|e| e == s));
        if !ok {
            return 401;
        }
        if let Ok(mut v) = verified.lock() {
            v.insert(id.to_string());
        }
        204
    })
}

/// A fresh Standard Webhooks secret for one demo run.
fn demo_secret() -> String {
    use base64::Engine;
    let seed = crate::time::wall_clock_ms() as u64 ^ ((std::process::id() as u64) << 32);
    let key: Vec<u8> = (0..4u64)
        .flat_map(|i| crate::hash::mix64(seed.wrapping_add(i)).to_le_bytes())
        .collect();
    format!(
        "whsec_{}",
        base64::engine::general_purpose::STANDARD.encode(key)
    )
}

/// Reads alerts from `topic` until `expect` (set once the pipeline has
/// stopped: the number of alerts it delivered) have arrived; gives up
/// after `stop` plus 30 s without a message (a reader that has not even
/// joined its group yet under load must not end early).
fn read_alerts(
    brokers: &str,
    topic: &str,
    stop: &AtomicBool,
    expect: &std::sync::atomic::AtomicU64,
    on_alert: &mut dyn FnMut(&Alert),
) -> Result<Vec<Alert>, rdkafka::error::KafkaError> {
    let mut cfg = rdkafka::ClientConfig::new();
    cfg.set("bootstrap.servers", brokers)
        .set("group.id", "kawal-demo-reader")
        .set("auto.offset.reset", "earliest")
        .set("fetch.wait.max.ms", "10")
        .set("enable.auto.commit", "false");
    let consumer: BaseConsumer = cfg.create()?;
    consumer.subscribe(&[topic])?;
    let mut alerts = Vec::new();
    let mut quiet_since: Option<Instant> = None;
    loop {
        match consumer.poll(Duration::from_millis(50)) {
            Some(Ok(m)) => {
                quiet_since = None;
                if let Some(Ok(a)) = m.payload().map(serde_json::from_slice::<Alert>) {
                    on_alert(&a);
                    alerts.push(a);
                }
            }
            Some(Err(e)) => tracing::warn!(error = %e, "alerts reader"),
            None => {
                if alerts.len() as u64 >= expect.load(Ordering::Acquire) {
                    break;
                }
                if stop.load(Ordering::Acquire) {
                    let since = *quiet_since.get_or_insert_with(Instant::now);
                    if since.elapsed() > Duration::from_secs(30) {
                        tracing::warn!(read = alerts.len(), "alerts reader gave up waiting");
                        break;
                    }
                }
            }
        }
    }
    Ok(alerts)
}

/// Runs the demo. `cfg.kafka` topics and brokers are replaced by the mock
/// cluster's; `on_alert` sees each alert as the downstream reader gets it.
/// Runs the demo. `on_outcome` gets the results as soon as they are
/// complete (to print them and write files), before the hold: a demo held
/// for scrapes has said everything already, and a signal during the hold
/// loses nothing.
pub fn run(
    opts: &DemoOptions,
    mut cfg: Config,
    on_alert: &mut (dyn FnMut(&Alert) + Send),
    progress: &mut dyn FnMut(&str),
    on_outcome: &mut dyn FnMut(&DemoOutcome) -> std::io::Result<()>,
) -> Result<DemoOutcome, DemoError> {
    let started = Instant::now();
    progress("simulating activity");
    let (events_path, truth) = simulate_files(opts)?;
    progress("starting the embedded Kafka (librdkafka mock cluster)");
    let (cluster, brokers, events_topic) = embedded_kafka(opts, &events_path, &mut cfg)?;
    let (_receiver, verified) = demo_webhook(opts, &mut cfg)?;
    let metrics = Arc::new(crate::metrics::Metrics::new());
    let delivery = Delivery::start(&cfg, Arc::clone(&metrics))?.map(Arc::new);

    progress("starting the pipeline");
    let hooks = delivery.clone();
    let pipeline = start_with_metrics(
        &cfg,
        None,
        Arc::new(move |_| {
            Ok(hooks
                .iter()
                .map(|d| Box::new(d.sink()) as Box<dyn Sink>)
                .collect())
        }),
        metrics,
    )?;
    let counters = Arc::clone(&pipeline.counters);
    let metrics = Arc::clone(&pipeline.metrics);
    if !cfg.metrics.listen.is_empty() {
        // The demo is a try-out: a busy port costs the endpoint, not the run.
        match crate::metrics::serve_in_background(
            &cfg.metrics.listen,
            Arc::clone(&pipeline.metrics),
            pipeline.readiness(),
        ) {
            Ok(addr) => progress(&format!("serving http://{addr}/metrics, /healthz, /readyz")),
            Err(e) => progress(&format!(
                "metrics endpoint not started ({}: {e})",
                cfg.metrics.listen
            )),
        }
    }
    let reader_stop = AtomicBool::new(false);
    let reader_expect = std::sync::atomic::AtomicU64::new(u64::MAX);

    let result = std::thread::scope(|s| -> Result<_, DemoError> {
        let reader = s.spawn(|| {
            read_alerts(
                &brokers,
                &cfg.kafka.alerts_topic,
                &reader_stop,
                &reader_expect,
                on_alert,
            )
        });
        // Produce once the group has settled (every partition assigned, no
        // rebalance for 1.5 s): the mock coordinator refuses commits while
        // an uneven start rebalances, and partitions read before it are
        // then read again.
        pipeline.wait_settled(
            opts.partitions as i64,
            Duration::from_secs(60),
            &opts.interrupt,
        );
        progress("producing simulated activity");
        let producer_cfg = client_config(&cfg.kafka, Role::Producer);
        let produced = produce(
            std::fs::File::open(&events_path)?,
            &producer_cfg,
            events_topic,
            opts.rate,
            &mut |_| {},
        );
        let produced = match produced {
            Ok(p) => p,
            Err(e) => {
                pipeline.stop();
                reader_stop.store(true, Ordering::Release);
                return Err(e.into());
            }
        };
        progress("waiting for the pipeline to catch up");
        if let Err(e) = catch_up(&pipeline, &counters, produced.messages, &opts.interrupt) {
            pipeline.stop();
            reader_stop.store(true, Ordering::Release);
            return Err(e);
        }
        // Everything is handled: read every alert delivered (the count
        // is final), then compare and evaluate while the pipeline idles.
        reader_expect.store(metrics.alerts_total(), Ordering::Release);
        reader_stop.store(true, Ordering::Release);
        let alerts = reader.join().expect("alerts reader")?;
        let run = Run {
            produced,
            alerts,
            events: counters.events.load(Ordering::Acquire),
            invalid: metrics.invalid_total(),
            seconds: started.elapsed().as_secs_f64(),
        };
        if let Some(d) = &delivery {
            progress("waiting for the webhook deliveries");
            d.wait_idle(Duration::from_secs(30));
        }
        let outcome = match finish(opts, &cfg, &events_path, truth, run, progress) {
            Ok(mut o) => {
                o.webhook_expected = o
                    .alerts
                    .iter()
                    .filter(|a| a.severity >= DEMO_WEBHOOK_MIN)
                    .count();
                o.webhook_verified = verified.lock().map(|v| v.len()).unwrap_or(0);
                o
            }
            Err(e) => {
                pipeline.stop();
                let _ = pipeline.join();
                return Err(e);
            }
        };
        let said = on_outcome(&outcome);
        if said.is_ok() && !opts.hold.is_zero() {
            progress(&format!(
                "holding {} s for metrics scrapes (Ctrl-C or SIGTERM ends it)",
                opts.hold.as_secs()
            ));
            let until = Instant::now() + opts.hold;
            while Instant::now() < until && !opts.interrupt.load(Ordering::Acquire) {
                std::thread::sleep(Duration::from_millis(50));
            }
        }
        pipeline.stop();
        pipeline.join()?;
        if let Some(d) = &delivery {
            d.shutdown();
        }
        said?;
        Ok(outcome)
    });
    drop(cluster);
    result
}

/// The simulation's files in the demo's folder: events and truth.
fn simulate_files(opts: &DemoOptions) -> Result<(std::path::PathBuf, sim::Truth), DemoError> {
    std::fs::create_dir_all(&opts.dir)?;
    let events_path = opts.dir.join("events.ndjson");
    let truth = {
        let mut f = BufWriter::new(std::fs::File::create(&events_path)?);
        let t = sim::simulate(&opts.sim, &mut f, &mut |_| {})?;
        std::io::Write::flush(&mut f)?;
        t
    };
    std::fs::write(
        opts.dir.join("truth.json"),
        serde_json::to_vec_pretty(&truth).expect("truth serialises"),
    )?;
    Ok((events_path, truth))
}

/// The in-process cluster with the demo's topics, and `cfg` pointed at it.
fn embedded_kafka(
    opts: &DemoOptions,
    events_path: &std::path::Path,
    cfg: &mut Config,
) -> Result<
    (
        MockCluster<'static, rdkafka::producer::DefaultProducerContext>,
        String,
        &'static str,
    ),
    DemoError,
> {
    // The mock cluster keeps at most 100,000 messages or 5 MiB (compressed)
    // per partition and silently drops older ones; JSON events compress
    // about 5x, so ask for more partitions before that bites.
    let bytes = std::fs::metadata(events_path)?.len();
    let per_partition = bytes / opts.partitions.max(1) as u64;
    if per_partition > 20 << 20 {
        return Err(DemoError::TooLarge(format!(
            "{} MiB of events over {} partitions is more than the embedded cluster keeps per partition (5 MiB compressed); use --partitions {} or fewer accounts or days",
            bytes >> 20,
            opts.partitions,
            bytes / (20 << 20) + 1
        )));
    }
    let cluster = MockCluster::new(1)?;
    let brokers = cluster.bootstrap_servers();
    let events_topic = "kawal-events";
    cfg.kafka.brokers = brokers.clone();
    cfg.kafka.topics = vec![events_topic.to_string()];
    cfg.kafka.alerts_topic = "kawal-alerts".into();
    cfg.kafka.dead_letter_topic = "kawal-dead-letters".into();
    // librdkafka's mock coordinator waits out a member's whole session
    // (45 s by default) when the group forms unevenly, which stalled the
    // demo's start now and then; its own in-process cluster needs no
    // long session (the mock-cluster tests shorten it the same way).
    cfg.kafka
        .consumer
        .entry("session.timeout.ms".into())
        .or_insert_with(|| "6000".into());
    cluster.create_topic(events_topic, opts.partitions, 1)?;
    cluster.create_topic(&cfg.kafka.alerts_topic, opts.partitions, 1)?;
    cluster.create_topic(&cfg.kafka.dead_letter_topic, 1, 1)?;
    // The mock cluster has no CreateTopics: the state topic is made here.
    cfg.state.topic = "kawal-state".into();
    // A short demo: snapshots every ten seconds, so that the state panel
    // and metrics have something to show (docs/STATE.md).
    cfg.state.snapshot_interval = "10s".into();
    cluster.create_topic(&cfg.state.topic, opts.partitions, 1)?;

    Ok((cluster, brokers, events_topic))
}

/// A receiver on loopback that checks every signature, configured as the
/// demo's webhook; the ids it verified.
#[allow(clippy::type_complexity)]
fn demo_webhook(
    opts: &DemoOptions,
    cfg: &mut Config,
) -> Result<
    (
        loopback::Receiver,
        Arc<std::sync::Mutex<std::collections::HashSet<String>>>,
    ),
    DemoError,
> {
    // Alerts also go to a signed webhook: a receiver on loopback that
    // checks every signature (docs/DELIVERY.md).
    let secret = demo_secret();
    let verified = Arc::new(std::sync::Mutex::new(std::collections::HashSet::new()));
    let receiver = loopback::Receiver::start(
        std::net::TcpListener::bind("127.0.0.1:0")?,
        verifying(&secret, Arc::clone(&verified)),
    )?;
    let outbox = opts.dir.join("outbox");
    let _ = std::fs::remove_dir_all(&outbox);
    cfg.delivery.outbox_dir = outbox.display().to_string();
    cfg.webhooks.push(WebhookConfig {
        name: "demo".into(),
        url: receiver.url.clone(),
        secret,
        min_severity: DEMO_WEBHOOK_MIN.as_str().into(),
        ..cfg.delivery.webhook.clone()
    });
    Ok((receiver, verified))
}

/// Waits until every produced message is handled (or a worker stopped
/// early, which `join` reports); a stall is no progress for a minute
/// (joining the group on a loaded machine can take a while; it counts).
fn catch_up(
    pipeline: &crate::source::kafka::Pipeline,
    counters: &crate::source::kafka::Counters,
    produced: u64,
    interrupt: &AtomicBool,
) -> Result<(), DemoError> {
    let mut last = (0, Instant::now());
    while counters.messages.load(Ordering::Acquire) < produced && !pipeline.any_finished() {
        std::thread::sleep(Duration::from_millis(20));
        if interrupt.load(Ordering::Acquire) {
            return Err(DemoError::Interrupted);
        }
        let n = counters.messages.load(Ordering::Acquire);
        if n != last.0 {
            last = (n, Instant::now());
        } else if last.1.elapsed() > Duration::from_secs(60) {
            return Err(DemoError::Stalled(format!(
                "{n} of {produced} messages handled, none for 60 s"
            )));
        }
    }
    Ok(())
}

/// What the Kafka run gave, for [`finish`].
struct Run {
    produced: Produced,
    alerts: Vec<Alert>,
    events: u64,
    invalid: u64,
    seconds: f64,
}

/// Evaluates the delivered alerts and replays the same file for the
/// comparison that proves replay equals live.
fn finish(
    opts: &DemoOptions,
    cfg: &Config,
    events_path: &std::path::Path,
    truth: Truth,
    run: Run,
    progress: &mut dyn FnMut(&str),
) -> Result<DemoOutcome, DemoError> {
    let Run {
        produced,
        mut alerts,
        events,
        invalid,
        seconds,
    } = run;
    // The reader sees partitions in no particular order; evaluation and
    // display want time order.
    alerts.sort_by(|a, b| a.time.cmp(&b.time).then_with(|| a.id.cmp(&b.id)));
    let report = eval::evaluate(&truth, &alerts, eval::DEFAULT_GRACE)?;

    // Replay equals live: the file pipeline, splitting accounts as the
    // topic's partitions do, must raise the very same alerts.
    progress("replaying the same file for comparison");
    let mut replay_cfg = cfg.clone();
    replay_cfg.replay.partitions = opts.partitions as u32;
    let mut sink = crate::sink::ndjson::NdjsonSink::new(Vec::new(), false);
    crate::replay::replay(
        std::fs::File::open(events_path)?,
        &replay_cfg,
        None,
        &mut sink,
        &mut |_| {},
    )
    .map_err(|e| DemoError::Stalled(format!("replay: {e}")))?;
    let live: std::collections::HashSet<&str> = alerts.iter().map(|a| a.id.as_str()).collect();
    let replayed = String::from_utf8(sink.into_inner()).expect("utf-8 alerts");
    let mut replay_alerts = 0;
    let mut replay_matched = 0;
    for line in replayed.lines() {
        let a: Alert = serde_json::from_str(line).expect("replay wrote an alert");
        replay_alerts += 1;
        replay_matched += usize::from(live.contains(a.id.as_str()));
    }
    Ok(DemoOutcome {
        truth,
        produced,
        alerts,
        events,
        invalid,
        seconds,
        report,
        replay_alerts,
        replay_matched,
        webhook_expected: 0,
        webhook_verified: 0,
    })
}
