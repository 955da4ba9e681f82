//! Webhook delivery against real parts: the pipeline on librdkafka's mock
//! cluster with an endpoint that is down and comes back, and the
//! Alertmanager format's re-sends and resolves, each against an HTTP
//! receiver on loopback. (Signatures are checked by the standardwebhooks
//! package in tests/e2e/webhooks_e2e.py.)

mod common;

use std::collections::BTreeSet;
use std::net::TcpListener;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::http::{self, Receiver};
use common::*;
use kawal::config::{Config, WebhookConfig};
use kawal::detect::{Alert, Severity};
use kawal::metrics::Metrics;
use kawal::sink::webhook::Delivery;
use kawal::sink::{Ack, Sink};
use kawal::source::kafka::start_with_metrics;

fn webhook(cfg: &Config, name: &str, url: &str, format: &str) -> WebhookConfig {
    WebhookConfig {
        name: name.into(),
        url: url.into(),
        format: format.into(),
        ..cfg.delivery.webhook.clone()
    }
}

type Got = Arc<Mutex<Vec<(String, serde_json::Value)>>>;

/// Records (webhook-id, body) and answers 200.
fn recorder(got: &Got) -> http::Answer {
    let got = Arc::clone(got);
    Arc::new(move |headers, body| {
        let v = serde_json::from_slice(body).unwrap_or(serde_json::Value::Null);
        got.lock()
            .unwrap()
            .push((http::header(headers, "webhook-id").to_string(), v));
        200
    })
}

/// `kawal run`'s pipeline whose only sinks are `cfg`'s webhooks.
fn run_with_webhooks(
    cfg: &Config,
) -> (Arc<Delivery>, kawal::source::kafka::Pipeline, Arc<Metrics>) {
    let metrics = Arc::new(Metrics::new());
    let delivery = Arc::new(Delivery::start(cfg, Arc::clone(&metrics)).unwrap().unwrap());
    let d2 = Arc::clone(&delivery);
    let sinks: kawal::source::kafka::SinkFactory =
        Arc::new(move |_| Ok(vec![Box::new(d2.sink()) as Box<dyn Sink>]));
    let p = start_with_metrics(cfg, None, sinks, Arc::clone(&metrics)).unwrap();
    (delivery, p, metrics)
}

/// `kawal run`'s pipeline with a webhook whose receiver is down: the
/// alerts are accepted into the outbox (offsets committed), nothing is
/// delivered; the pipeline stops; a new Delivery on the same outbox, with
/// the receiver up, delivers every alert a replay raises, each once.
#[test]
fn alerts_accepted_while_the_endpoint_is_down_are_delivered_after_a_restart() {
    let (_c, brokers) = cluster(4);
    let outbox = tempfile::tempdir().unwrap();
    let (port, url) = http::closed_port();
    let mut cfg = config(&brokers, 2);
    cfg.state.topic = String::new();
    cfg.delivery.outbox_dir = outbox.path().display().to_string();
    cfg.delivery.retry_schedule = vec!["0s".into(), "1h".into()];
    cfg.webhooks = vec![webhook(&cfg, "soc", &url, "native")];

    let (delivery, p, metrics) = run_with_webhooks(&cfg);
    feed(&p, &brokers, GOLDEN);
    let expected = replay_ids(GOLDEN, 4);
    wait_for("every alert accepted", Duration::from_secs(30), || {
        metrics.webhooks.accepted.with_label_values(&["soc"]).get() >= expected.len() as u64
    });
    p.stop();
    p.join().unwrap();
    // Offsets were stored: the pipeline committed past every event.
    let done: i64 = (0..4).filter_map(|q| committed(&brokers, q)).sum();
    assert_eq!(done, GOLDEN.lines().count() as i64);
    delivery.shutdown();
    let delivered = |m: &Metrics| {
        m.webhooks
            .done
            .with_label_values(&["soc", "delivered"])
            .get()
    };
    assert_eq!(delivered(&metrics), 0, "nothing reached a closed port");
    assert_eq!(
        delivery.endpoints[0].outbox.backlog().0,
        expected.len() as u64
    );
    drop(delivery);

    // The receiver comes up; a new process opens the same outbox.
    let got: Got = Arc::default();
    let _r = Receiver::start(
        TcpListener::bind(("127.0.0.1", port)).unwrap(),
        recorder(&got),
    )
    .unwrap();
    let metrics = Arc::new(Metrics::new());
    let again = Delivery::start(&cfg, Arc::clone(&metrics))
        .unwrap()
        .unwrap();
    assert_eq!(again.wait_idle(Duration::from_secs(30)), 0);
    again.shutdown();
    let got = got.lock().unwrap();
    let ids: BTreeSet<String> = got.iter().map(|(id, _)| id.clone()).collect();
    assert_eq!(ids, expected);
    assert_eq!(got.len(), expected.len(), "each delivered once");
    assert!(got.iter().all(|(id, body)| body["id"] == id.as_str()));
}

fn alert(incident: &str, severity: Severity) -> Alert {
    let line = GOLDEN_ALERT.replace("INC", incident).replace(
        "\"severity\":\"high\"",
        &format!("\"severity\":\"{}\"", severity.as_str()),
    );
    let mut a: Alert = serde_json::from_str(&line).unwrap();
    a.id = format!("al-{incident}-{}", severity.as_str());
    a
}

const GOLDEN_ALERT: &str = r#"{"id":"x","account":"x:kemkominfo","time":"2026-03-09T19:02:44Z","detected_at":"2026-03-09T19:02:44.031Z","severity":"high","score":9.5,"summary":"Likely takeover","signals":[{"name":"new_country","contribution":3.1,"detail":"NG never seen"}],"events":["e-1"],"incident":"INC","learning":false,"first_event_time":"2026-03-09T18:22:00Z"}"#;

/// A recording receiver and a configuration whose incidents close after
/// 1.5 s of quiet, checked every `resend`.
fn quick_closing(resend: &str) -> (Got, Receiver, tempfile::TempDir, Config) {
    let got: Got = Arc::default();
    let r = Receiver::start(TcpListener::bind("127.0.0.1:0").unwrap(), recorder(&got)).unwrap();
    let outbox = tempfile::tempdir().unwrap();
    let mut cfg = Config::default();
    cfg.delivery.outbox_dir = outbox.path().display().to_string();
    cfg.delivery.resend_interval = resend.into();
    cfg.delivery.resolve_after = "1500ms".into();
    (got, r, outbox, cfg)
}

/// Alertmanager's client contract: an open incident is re-sent with
/// endsAt ahead; an escalation ends the old severity's label set; an
/// incident quiet for resolve_after is sent with endsAt now (resolved).
#[test]
fn alertmanager_alerts_are_re_sent_while_open_and_resolved_when_quiet() {
    let (got, r, _outbox, mut cfg) = quick_closing("300ms");
    cfg.delivery.ends_after = "5m".into();
    let base = r.url.trim_end_matches("/hook").to_string();
    cfg.webhooks = vec![webhook(&cfg, "am", &base, "alertmanager")];
    let d = Delivery::start(&cfg, Arc::new(Metrics::new()))
        .unwrap()
        .unwrap();
    let mut sink = d.sink();
    sink.send(
        &[
            alert("inc-1", Severity::High),
            alert("inc-2", Severity::Medium),
        ],
        &Ack::new(),
    )
    .unwrap();
    d.wait_idle(Duration::from_secs(10));
    std::thread::sleep(Duration::from_millis(200));
    sink.send(&[alert("inc-1", Severity::Critical)], &Ack::new())
        .unwrap();
    std::thread::sleep(Duration::from_millis(3000));
    d.shutdown();

    let now = kawal::time::wall_clock_ms();
    let posts = got.lock().unwrap().clone();
    // (incident, severity, endsAt in ms) of every alert posted, in order.
    let sent: Vec<(String, String, i64)> = posts
        .iter()
        .flat_map(|(_, body)| body.as_array().cloned().unwrap_or_default())
        .map(|a| {
            (
                a["labels"]["incident"].as_str().unwrap().to_string(),
                a["labels"]["severity"].as_str().unwrap().to_string(),
                kawal::time::parse_rfc3339(a["endsAt"].as_str().unwrap()).unwrap(),
            )
        })
        .collect();
    let ahead = |(_, _, ends): &&(String, String, i64)| *ends > now + 60_000;
    let of = |inc: &str, sev: &str| -> Vec<&(String, String, i64)> {
        sent.iter()
            .filter(|(i, s, _)| i == inc && s == sev)
            .collect()
    };
    // Re-sent while open: inc-2 (medium) posted at least three times
    // with endsAt minutes ahead, then once with endsAt now.
    let inc2 = of("inc-2", "medium");
    assert!(
        inc2.iter().filter(|x| ahead(x)).count() >= 3,
        "re-sent while open: {inc2:?}"
    );
    assert!(
        !ahead(inc2.last().unwrap()),
        "resolved after resolve_after: {inc2:?}"
    );
    // The escalation: inc-1 high ended, inc-1 critical open then resolved.
    let high = of("inc-1", "high");
    assert!(ahead(&high[0]) && !ahead(high.last().unwrap()), "{high:?}");
    let critical = of("inc-1", "critical");
    assert!(critical.iter().filter(|x| ahead(x)).count() >= 2);
    assert!(
        posts.iter().all(
            |(_, b)| b.as_array().is_some_and(|a| a.iter().all(|x| x["labels"]
                .as_object()
                .unwrap()
                .len()
                == 4))
        ),
        "labels: alertname, account, incident, severity"
    );
}

/// PagerDuty: an incident's alerts trigger with its id as `dedup_key`
/// (an escalation updates the same PagerDuty incident); once quiet for
/// resolve_after it is resolved with the same `dedup_key`, even by a new
/// process (open incidents are kept beside the outbox).
#[test]
fn pagerduty_incidents_trigger_then_resolve_with_the_same_dedup_key_across_a_restart() {
    let (got, r, _outbox, mut cfg) = quick_closing("200ms");
    let mut pd = webhook(&cfg, "pd", &r.url, "pagerduty");
    pd.routing_key = "R0UT1NG".into();
    cfg.webhooks = vec![pd];

    let first = Delivery::start(&cfg, Arc::new(Metrics::new()))
        .unwrap()
        .unwrap();
    first
        .sink()
        .send(
            &[
                alert("inc-9", Severity::High),
                alert("inc-9", Severity::Critical),
            ],
            &Ack::new(),
        )
        .unwrap();
    assert_eq!(first.wait_idle(Duration::from_secs(10)), 0);
    first.shutdown();
    let actions = |got: &Got| -> Vec<(String, String)> {
        got.lock()
            .unwrap()
            .iter()
            .map(|(_, b)| {
                (
                    b["event_action"].as_str().unwrap().to_string(),
                    b["dedup_key"].as_str().unwrap().to_string(),
                )
            })
            .collect()
    };
    assert_eq!(
        actions(&got),
        [
            ("trigger".into(), "inc-9".into()),
            ("trigger".into(), "inc-9".into())
        ]
    );
    // A new process: it knows the open incident and resolves it when quiet.
    let second = Delivery::start(&cfg, Arc::new(Metrics::new()))
        .unwrap()
        .unwrap();
    wait_for("the resolve", Duration::from_secs(10), || {
        actions(&got).len() == 3
    });
    second.shutdown();
    let all = actions(&got);
    assert_eq!(all[2], ("resolve".to_string(), "inc-9".to_string()));
    let resolve = got.lock().unwrap()[2].1.clone();
    assert_eq!(resolve["routing_key"], "R0UT1NG");
    // Resolved once: nothing more after it.
    std::thread::sleep(Duration::from_millis(600));
    assert_eq!(actions(&got).len(), 3);
}

/// Slack, Teams, OCSF and CloudEvents receivers hear when an incident
/// closes: once quiet for resolve_after, each gets its format's closing
/// message, once.
#[test]
fn chat_ocsf_and_cloudevents_receivers_hear_when_an_incident_closes() {
    let (got, r, _outbox, mut cfg) = quick_closing("200ms");
    cfg.webhooks = ["slack", "teams", "ocsf", "cloudevents"]
        .into_iter()
        .map(|f| webhook(&cfg, f, &r.url, f))
        .collect();
    let d = Delivery::start(&cfg, Arc::new(Metrics::new()))
        .unwrap()
        .unwrap();
    d.sink()
        .send(&[alert("inc-7", Severity::High)], &Ack::new())
        .unwrap();
    assert_eq!(d.wait_idle(Duration::from_secs(10)), 0);
    wait_for("four closings", Duration::from_secs(15), || {
        got.lock().unwrap().len() >= 8
    });
    std::thread::sleep(Duration::from_millis(600));
    d.shutdown();
    let got = got.lock().unwrap();
    assert_eq!(got.len(), 8, "one alert and one closing each: {got:#?}");
    let closings: Vec<&serde_json::Value> = got
        .iter()
        .filter(|(id, _)| id == "inc-7-resolved")
        .map(|(_, b)| b)
        .collect();
    assert_eq!(closings.len(), 4, "{got:#?}");
    let has = |f: &dyn Fn(&serde_json::Value) -> bool| closings.iter().any(|b| f(b));
    assert!(has(&|b| b["text"]
        .as_str()
        .is_some_and(|t| t.starts_with("Resolved: incident inc-7"))));
    assert!(has(
        &|b| b["attachments"][0]["content"]["body"][0]["color"] == "Good"
    ));
    assert!(has(&|b| b["class_uid"] == 2004 && b["status"] == "Resolved"));
    assert!(has(
        &|b| b["type"] == "kawal.incident.resolved" && b["subject"] == "x:kemkominfo"
    ));
}

/// One clock: a replay closes incidents as the detector does, in event
/// time, with no wall-clock wait (the safety net, `resolve_after`, stays
/// at its default of 72 h). PagerDuty gets a `resolve` with the incident's
/// `dedup_key` for every incident the detector closed, after that
/// incident's every trigger, and once; CloudEvents gets the close dated
/// at the event time it happened.
#[test]
fn a_replay_closes_its_incidents_through_the_webhooks_in_event_time() {
    let got: Got = Arc::default();
    let r = Receiver::start(TcpListener::bind("127.0.0.1:0").unwrap(), recorder(&got)).unwrap();
    let outbox = tempfile::tempdir().unwrap();
    let mut cfg = Config::default();
    cfg.replay.partitions = 4;
    cfg.delivery.outbox_dir = outbox.path().display().to_string();
    let mut pd = webhook(&cfg, "pd", &r.url, "pagerduty");
    pd.routing_key = "R0UT1NG".into();
    cfg.webhooks = vec![pd, webhook(&cfg, "ce", &r.url, "cloudevents")];
    let d = Delivery::start(&cfg, Arc::new(Metrics::new()))
        .unwrap()
        .unwrap();
    let mut sink = d.sink();
    let summary =
        kawal::replay::replay(GOLDEN.as_bytes(), &cfg, None, &mut sink, &mut |_| {}).unwrap();
    assert_eq!(d.wait_idle(Duration::from_secs(30)), 0);
    d.shutdown();
    let got = got.lock().unwrap();
    let pd: Vec<(String, String)> = got
        .iter()
        .filter(|(_, b)| b["routing_key"] == "R0UT1NG")
        .map(|(_, b)| {
            (
                b["event_action"].as_str().unwrap().to_string(),
                b["dedup_key"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    let resolved: Vec<&String> = pd
        .iter()
        .filter(|(a, _)| a == "resolve")
        .map(|(_, k)| k)
        .collect();
    assert!(
        summary.stats.incidents_closed > 0,
        "the golden stream spans 20 days: some incident goes quiet"
    );
    assert_eq!(
        resolved.len() as u64,
        summary.stats.incidents_closed,
        "{pd:?}"
    );
    let unique: BTreeSet<&String> = resolved.iter().copied().collect();
    assert_eq!(unique.len(), resolved.len(), "each resolved once");
    for inc in &unique {
        let at = |action: &str| -> Vec<usize> {
            pd.iter()
                .enumerate()
                .filter(|(_, (a, k))| a == action && k == *inc)
                .map(|(i, _)| i)
                .collect()
        };
        let triggers = at("trigger");
        assert!(!triggers.is_empty(), "{inc}: resolved, never triggered");
        assert!(
            triggers.iter().all(|t| *t < at("resolve")[0]),
            "{inc}: a trigger came after its resolve"
        );
    }
    // An incident still open at the end of the stream is not resolved.
    let triggered: BTreeSet<&String> = pd.iter().map(|(_, k)| k).collect();
    assert!(triggered.len() > unique.len(), "some incident stays open");
    // CloudEvents: the close's time is the event time that closed it,
    // inside the stream, not the wall clock of the test.
    let last_event = GOLDEN
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter_map(|v| kawal::time::parse_rfc3339(v["time"].as_str()?))
        .max()
        .unwrap();
    let ce: Vec<&serde_json::Value> = got
        .iter()
        .map(|(_, b)| b)
        .filter(|b| b["type"] == "kawal.incident.resolved")
        .collect();
    assert_eq!(ce.len(), resolved.len());
    for b in ce {
        let t = kawal::time::parse_rfc3339(b["time"].as_str().unwrap()).unwrap();
        assert!(t <= last_event, "{b}");
        assert_eq!(b["data"]["reason"], "quiet");
        assert_eq!(b["data"]["quiet_seconds"], 48 * 3600);
    }
}

fn closed(incident: &str) -> kawal::detect::incidents::Closed {
    kawal::detect::incidents::Closed {
        incident: incident.into(),
        at: kawal::time::parse_rfc3339("2026-03-11T19:03:00Z").unwrap(),
        why: kawal::detect::incidents::Why::Quiet {
            quiet_ms: 48 * 3_600_000,
        },
    }
}

/// A closing queued right behind its incident's alert waits for that
/// alert, even while the alert is being retried: PagerDuty never sees a
/// resolve before its trigger. Alertmanager gets the incident with endsAt
/// now. An endpoint that never had the incident sends nothing for it.
#[test]
fn a_closing_waits_for_its_incidents_alerts_and_unknown_incidents_send_nothing() {
    let got: Got = Arc::default();
    let failed_once = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let answer: http::Answer = {
        let (got, failed_once) = (Arc::clone(&got), Arc::clone(&failed_once));
        Arc::new(move |headers, body| {
            if !failed_once.swap(true, std::sync::atomic::Ordering::AcqRel) {
                return 503;
            }
            let v = serde_json::from_slice(body).unwrap_or(serde_json::Value::Null);
            got.lock()
                .unwrap()
                .push((http::header(headers, "webhook-id").to_string(), v));
            200
        })
    };
    let r = Receiver::start(TcpListener::bind("127.0.0.1:0").unwrap(), answer).unwrap();
    let outbox = tempfile::tempdir().unwrap();
    let mut cfg = Config::default();
    cfg.delivery.outbox_dir = outbox.path().display().to_string();
    cfg.delivery.retry_schedule = vec!["0s".into(), "300ms".into(), "1h".into()];
    let base = r.url.trim_end_matches("/hook").to_string();
    cfg.webhooks = vec![
        webhook(&cfg, "pd", &r.url, "pagerduty"),
        webhook(&cfg, "am", &base, "alertmanager"),
    ];
    cfg.webhooks[1].min_severity = "critical".into();
    let d = Delivery::start(&cfg, Arc::new(Metrics::new()))
        .unwrap()
        .unwrap();
    let mut sink = d.sink();
    sink.send(&[alert("inc-5", Severity::High)], &Ack::new())
        .unwrap();
    sink.send(&[alert("inc-6", Severity::Critical)], &Ack::new())
        .unwrap();
    sink.closed(&[closed("inc-5"), closed("inc-6")], &Ack::new())
        .unwrap();
    assert_eq!(d.wait_idle(Duration::from_secs(10)), 0);
    d.shutdown();
    let got = got.lock().unwrap();
    let pd: Vec<(String, String)> = got
        .iter()
        .filter_map(|(_, b)| {
            Some((
                b["event_action"].as_str()?.to_string(),
                b["dedup_key"].as_str()?.to_string(),
            ))
        })
        .collect();
    let first = |action: &str, key: &str| pd.iter().position(|(a, k)| a == action && k == key);
    for inc in ["inc-5", "inc-6"] {
        let (t, r) = (first("trigger", inc), first("resolve", inc));
        assert!(t.is_some() && r.is_some() && t < r, "{inc}: {pd:?}");
    }
    assert!(failed_once.load(std::sync::atomic::Ordering::Acquire));
    // Alertmanager had only the critical inc-6: firing, then ended.
    let am: Vec<(String, i64)> = got
        .iter()
        .filter_map(|(_, b)| b.as_array().cloned())
        .flatten()
        .map(|a| {
            (
                a["labels"]["incident"].as_str().unwrap().to_string(),
                kawal::time::parse_rfc3339(a["endsAt"].as_str().unwrap()).unwrap(),
            )
        })
        .collect();
    let now = kawal::time::wall_clock_ms();
    assert!(am.iter().all(|(i, _)| i == "inc-6"), "{am:?}");
    assert!(am.first().is_some_and(|(_, e)| *e > now), "firing: {am:?}");
    assert!(am.last().is_some_and(|(_, e)| *e <= now), "ended: {am:?}");
}

/// Records the incidents a replay closes.
#[derive(Default)]
struct Closings(Vec<String>);

impl Sink for Closings {
    fn name(&self) -> &'static str {
        "closings"
    }
    fn send(&mut self, _: &[Alert], _: &Ack) -> Result<(), kawal::sink::SinkError> {
        Ok(())
    }
    fn closed(
        &mut self,
        closed: &[kawal::detect::incidents::Closed],
        _: &Ack,
    ) -> Result<(), kawal::sink::SinkError> {
        self.0.extend(closed.iter().map(|c| c.incident.clone()));
        Ok(())
    }
    fn flush(&mut self) -> Result<(), kawal::sink::SinkError> {
        Ok(())
    }
}

/// Live equals replay for closes too: `kawal run` on the mock cluster
/// resolves in PagerDuty exactly the incidents a replay with the same
/// partitions closes.
#[test]
fn the_kafka_pipeline_closes_the_incidents_a_replay_closes() {
    let mut rcfg = Config::default();
    rcfg.replay.partitions = 4;
    let mut want = Closings::default();
    kawal::replay::replay(GOLDEN.as_bytes(), &rcfg, None, &mut want, &mut |_| {}).unwrap();
    let want: BTreeSet<String> = want.0.into_iter().collect();
    assert!(!want.is_empty());

    let (_c, brokers) = cluster(4);
    let got: Got = Arc::default();
    let r = Receiver::start(TcpListener::bind("127.0.0.1:0").unwrap(), recorder(&got)).unwrap();
    let outbox = tempfile::tempdir().unwrap();
    let mut cfg = config(&brokers, 2);
    cfg.state.topic = String::new();
    cfg.delivery.outbox_dir = outbox.path().display().to_string();
    cfg.webhooks = vec![webhook(&cfg, "pd", &r.url, "pagerduty")];
    let (delivery, p, metrics) = run_with_webhooks(&cfg);
    feed(&p, &brokers, GOLDEN);
    let resolved = |got: &Got| -> BTreeSet<String> {
        got.lock()
            .unwrap()
            .iter()
            .filter(|(_, b)| b["event_action"] == "resolve")
            .map(|(_, b)| b["dedup_key"].as_str().unwrap().to_string())
            .collect()
    };
    wait_for("the resolves", Duration::from_secs(30), || {
        resolved(&got).len() >= want.len()
    });
    p.stop();
    p.join().unwrap();
    delivery.shutdown();
    assert_eq!(resolved(&got), want);
    // Counted once, where the detector closed them.
    assert_eq!(metrics.incidents_closed.get(), want.len() as u64);
}
