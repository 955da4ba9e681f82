//! Analyst feedback through the admin endpoint and through a feedback
//! topic, against librdkafka's mock cluster.
//!
//! Three accounts with the same five weeks of office life each sign in
//! once from a cloud network abroad on a new device, which alerts. An
//! analyst marks the first incident a false positive through
//! `POST /feedback`, the second through the feedback topic (a second input
//! topic, co-partitioned); the third gets no verdict. When all three do
//! the same again, only the third alerts.

mod common;

use std::io::{Read, Write};
use std::sync::Arc;
use std::time::Duration;

use common::*;
use kawal::detect::Alert;
use kawal::kafka::{Role, client_config};
use kawal::source::kafka::start;
use kawal::time::{DAY, HOUR, MINUTE, Millis, rfc3339};

const FEEDBACK: &str = "feedback";
const TOKEN: &str = "test-token-0123456789";

fn login(account: &str, id: &str, at: Millis, actor: &str, place: &str, device: &str) -> String {
    format!(
        r#"{{"id":"{id}","time":"{}","account":"{account}","type":"login","actor":"{actor}","outcome":"success","source":{place},"device":{{"id":"{device}","user_agent":"Mozilla/5.0 (Windows NT 10.0; Win64; x64) Chrome/120.0","client":"web"}}}}"#,
        rfc3339(at)
    )
}

const OFFICE: &str = r#"{"ip":"36.72.14.9","asn":7713,"as_org":"PT Telekomunikasi Indonesia","country":"ID","city":"Jakarta","lat":-6.21,"lon":106.85,"accuracy_km":20}"#;
const ABROAD: &str = r#"{"ip":"165.22.1.2","asn":14061,"as_org":"DigitalOcean","country":"NG","city":"Lagos","lat":6.45,"lon":3.39,"accuracy_km":50}"#;

/// Five weeks of weekday office sign-ins by two staff, ending `end`.
fn history(account: &str, end: Millis) -> String {
    let start = end - 35 * DAY;
    let mut out = String::new();
    for d in (0..35).filter(|d| d % 7 < 5) {
        let day = start + d * DAY + 2 * HOUR;
        out += &login(
            account,
            &format!("{account}-r{d}"),
            day,
            "staff:rina",
            OFFICE,
            "d-laptop",
        );
        out.push('\n');
        out += &login(
            account,
            &format!("{account}-a{d}"),
            day + 5 * MINUTE,
            "staff:andi",
            OFFICE,
            "d-andi",
        );
        out.push('\n');
    }
    out
}

/// An office sign-in, then 40 minutes later one from a cloud network in
/// another continent on a new device (impossible travel: a page).
fn abroad(account: &str, id: &str, at: Millis) -> String {
    let office = login(
        account,
        &format!("{id}-o"),
        at - 40 * MINUTE,
        "staff:rina",
        OFFICE,
        "d-laptop",
    );
    office + "\n" + &login(account, id, at, "staff:rina", ABROAD, "d-travel") + "\n"
}

/// POSTs `body` to `/feedback` at `addr`; returns the status code.
fn post(addr: std::net::SocketAddr, token: Option<&str>, body: &str) -> u16 {
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    let auth = token.map_or(String::new(), |t| format!("Authorization: Bearer {t}\r\n"));
    write!(
        s,
        "POST /feedback HTTP/1.1\r\nHost: kawal\r\n{auth}Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut answer = String::new();
    s.read_to_string(&mut answer).unwrap();
    answer
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or_else(|| panic!("no status in {answer:?}"))
}

fn alerts_for(alerts: &[Alert], account: &str) -> usize {
    alerts.iter().filter(|a| a.account == account).count()
}

#[test]
fn a_false_positive_through_the_endpoint_or_the_topic_stops_the_same_behaviour() {
    let (cluster, brokers) = cluster(2);
    cluster.create_topic(FEEDBACK, 2, 1).unwrap();
    let mut cfg = config(&brokers, 1);
    cfg.kafka.topics = vec![EVENTS.into(), FEEDBACK.into()];
    let p = start(&cfg, None, no_sinks()).unwrap();
    wait_for_stable_group(&p, 4);

    // The admin endpoint, as `kawal run` serves it.
    let producer = client_config(&cfg.kafka, Role::Producer).create().unwrap();
    let intake = kawal::feedback::Intake::new(Some(producer), EVENTS, Some(TOKEN.into()));
    let addr = kawal::metrics::serve_admin_in_background(
        "127.0.0.1:0",
        Arc::clone(&p.metrics),
        Arc::new(|| Ok(())),
        Some(Arc::new(intake)),
    )
    .unwrap();

    let now = kawal::time::wall_clock_ms();
    let trip = now - 4 * DAY;
    let accounts = ["x:via-endpoint", "x:via-topic", "x:no-verdict"];
    let mut events = String::new();
    for a in accounts {
        events += &history(a, trip - DAY);
        events += &abroad(a, &format!("{a}-trip1"), trip);
    }
    feed(&p, &brokers, &events);
    let first = alerts_of(&read_topic(&brokers, ALERTS, 3));
    assert!(
        first
            .iter()
            .all(|a| a.severity >= kawal::detect::Severity::High),
        "the trip pages (so it is quarantined, never learnt): {first:#?}"
    );
    let incident = |account: &str| {
        first
            .iter()
            .find(|a| a.account == account)
            .unwrap_or_else(|| panic!("{account} did not alert: {first:#?}"))
            .incident
            .clone()
    };

    // The endpoint refuses a request without the token, or a wrong one.
    let body = format!(
        r#"{{"account":"x:via-endpoint","incident":"{}","verdict":"false_positive","analyst":"analyst:dewi"}}"#,
        incident("x:via-endpoint")
    );
    // Counted before the first verdict goes in: the endpoint's may be
    // handled before the topic's is even produced (the check below read
    // this count after the endpoint's verdict, and failed in one CI run
    // of 2026-12-08 when that verdict had been handled by then).
    let before = p
        .counters
        .messages
        .load(std::sync::atomic::Ordering::Acquire);
    assert_eq!(post(addr, None, &body), 401);
    assert_eq!(post(addr, Some("wrong-token-0123456789"), &body), 401);
    assert_eq!(post(addr, Some(TOKEN), "{\"account\":1}"), 400);
    assert_eq!(post(addr, Some(TOKEN), &body), 202);

    // Through the feedback topic: the same event, keyed by account.
    let verdict = format!(
        r#"{{"id":"fb-topic-1","time":"{}","account":"x:via-topic","type":"feedback","actor":"analyst:dewi","change":{{"action":"false_positive","target":"{}"}}}}"#,
        rfc3339(now),
        incident("x:via-topic")
    );
    let producer_cfg = client_config(&cfg.kafka, Role::Producer);
    kawal::produce::produce(
        verdict.as_bytes(),
        &producer_cfg,
        FEEDBACK,
        0.0,
        &mut |_| {},
    )
    .unwrap();
    let applied =
        || p.metrics.feedback[kawal::detect::feedback::Verdict::FalsePositive as usize].get();
    wait_for("both verdicts applied", Duration::from_secs(30), || {
        applied() >= 2
    });
    assert!(
        p.counters
            .messages
            .load(std::sync::atomic::Ordering::Acquire)
            >= before + 2
    );

    // The same behaviour again, after the verdicts.
    let mut again = String::new();
    for a in accounts {
        again += &abroad(a, &format!("{a}-trip2"), now - HOUR);
    }
    feed(&p, &brokers, &again);
    let all = alerts_of(&read_topic(&brokers, ALERTS, first.len() + 1));
    assert_eq!(
        alerts_for(&all, "x:no-verdict"),
        alerts_for(&first, "x:no-verdict") + 1,
        "without a verdict the behaviour alerts again"
    );
    // read_topic waited for the control's alert, which comes after the
    // others' second sign-ins in the same partition order or another
    // partition; the taught accounts raised nothing new.
    for a in ["x:via-endpoint", "x:via-topic"] {
        assert_eq!(
            alerts_for(&all, a),
            alerts_for(&first, a),
            "{a} alerted again"
        );
    }
    drop(p);
}
