//! The detector against hostile but valid input: arbitrary Unicode in
//! every string field, the extremes of every number, times across the
//! whole accepted range in any order, a few accounts with long histories.
//! Every generated event is valid by the contract (it goes through the
//! real decoder); the detector must never panic on it and must keep its
//! bounds (`Detector::check_invariants`, the alert budget).

use proptest::prelude::*;
use serde_json::{Value, json};

use crate::config::Config;
use crate::decode::decode;
use crate::detect::{Alert, Detector};
use crate::fuzz::{check_alert, eager_config};

/// Strings as producers send them, and as attackers would.
fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => "[a-z:._-]{1,12}",
        2 => "\\PC{0,24}",
        2 => prop::sample::select(vec![
            "รัฐบาล.ไทย", "ñoño", "日本語.jp", "🇮🇩🔥", "e\u{301}", "\u{200b}",
            "ä", "go.id", "a.go.id", "Ωmega.ελ", "x:kemkominfo",
        ]).prop_map(str::to_string),
        1 => Just(String::new()),
        1 => ("[aไ🔥]", 300usize..20_000).prop_map(|(c, n)| c.repeat(n)),
    ]
}

fn url() -> impl Strategy<Value = String> {
    (
        prop::sample::select(vec!["https://", "http://", "", "ftp://", "://"]),
        prop::option::of("[a-z]{1,5}@"),
        text(),
        prop::option::of(":[0-9]{1,5}"),
        prop::option::of("/\\PC{0,12}"),
    )
        .prop_map(|(scheme, user, host, port, path)| {
            format!(
                "{scheme}{}{host}{}{}",
                user.unwrap_or_default(),
                port.unwrap_or_default(),
                path.unwrap_or_default()
            )
        })
}

/// Numbers at their extremes, and ordinary ones.
fn coordinate(limit: f64) -> impl Strategy<Value = f64> {
    prop_oneof![
        Just(limit),
        Just(-limit),
        Just(0.0),
        Just(f64::MIN_POSITIVE),
        -limit..=limit,
    ]
}

fn big_uint() -> impl Strategy<Value = u64> {
    prop_oneof![
        Just(0u64),
        Just(u64::MAX),
        Just(u32::MAX as u64),
        1u64..70_000
    ]
}

/// Event times: mostly a stream moving forward with jitter (minutes to a
/// day, either way), sometimes anywhere from year 0 to 9999.
fn time(step: i64) -> impl Strategy<Value = i64> {
    let base = 1_767_225_600_000i64 + step * 7 * 60_000; // 2026-01-01
    prop_oneof![
        6 => (-86_400_000i64..86_400_000).prop_map(move |j| base + j / 64),
        1 => (-86_400_000i64..86_400_000).prop_map(move |j| base + j),
        1 => -62_167_219_200_000i64..253_402_300_799_000, // 0000..9999
        1 => prop::sample::select(vec![0i64, 9_224_286_400_000, 4_102_444_800_000]),
    ]
}

const TYPES: &[&str] = &[
    "login",
    "login",
    "post",
    "post",
    "logout",
    "profile_change",
    "password_change",
    "password_reset",
    "mfa_change",
    "recovery_change",
    "role_change",
    "app_authorization",
    "live_stream_started",
];

fn event(step: i64) -> impl Strategy<Value = Value> {
    let source = (
        prop::option::of(prop_oneof![
            "[0-9]{1,3}\\.[0-9]{1,3}\\.[0-9]{1,3}\\.[0-9]{1,3}",
            "[0-9a-f:]{2,30}",
            text()
        ]),
        prop::option::of(big_uint()),
        prop::option::of(text()),
        prop::option::of("[A-Z]{2}"),
        prop::option::of(text()),
        prop::option::of((coordinate(90.0), coordinate(180.0))),
        prop::option::of(prop_oneof![Just(0.0), Just(1e308), 0.0..20_000.0f64]),
        prop::option::of(any::<bool>()),
    );
    let device = (
        prop::option::of(text()),
        prop::option::of(text()),
        prop::option::of(text()),
    );
    let post = (
        prop::option::of(text()),
        prop::collection::vec(url(), 0..12),
        prop::option::of(big_uint()),
    );
    let change = (
        prop::option::of(prop_oneof![
            Just("grant".to_string()),
            Just("revoke".to_string()),
            Just("disable".to_string()),
            Just("remove_method".to_string()),
            text()
        ]),
        prop::option::of(text()),
        prop::option::of(text()),
        prop::option::of(prop_oneof![Just("admin".to_string()), text()]),
        prop::option::of(text()),
    );
    (
        (
            prop_oneof![
                8 => prop::sample::select(vec!["x:a", "x:b", "ig:c"]).prop_map(str::to_string),
                1 => text().prop_filter("account is non-empty", |s| !s.is_empty()),
            ],
            text().prop_filter("id is non-empty", |s| !s.is_empty()),
            time(step),
            prop::sample::select(TYPES),
            prop::option::of(prop_oneof![
                prop::sample::select(vec!["staff:rina", "staff:andi"]).prop_map(str::to_string),
                text()
            ]),
            prop::option::of(prop::sample::select(vec!["success", "failure"])),
        ),
        prop::option::of(source),
        prop::option::of(device),
        prop::option::of(post),
        prop::option::of(change),
    )
        .prop_map(
            |((account, id, t, kind, actor, outcome), source, device, post, change)| {
                let mut e = json!({
                    "id": id, "time": crate::time::rfc3339(t),
                    "account": account, "type": kind,
                });
                if let Some(a) = actor {
                    e["actor"] = json!(a);
                }
                if let Some(o) = outcome {
                    e["outcome"] = json!(o);
                }
                if let Some((ip, asn, org, country, city, pos, acc, hosting)) = source {
                    let mut s = json!({});
                    for (k, v) in [
                        ("ip", ip.map(Value::from)),
                        ("asn", asn.map(Value::from)),
                        ("as_org", org.map(Value::from)),
                        ("country", country.map(Value::from)),
                        ("city", city.map(Value::from)),
                        ("accuracy_km", acc.map(Value::from)),
                        ("hosting", hosting.map(Value::from)),
                    ] {
                        if let Some(v) = v {
                            s[k] = v;
                        }
                    }
                    if let Some((lat, lon)) = pos {
                        s["lat"] = json!(lat);
                        s["lon"] = json!(lon);
                    }
                    e["source"] = s;
                }
                if let Some((id, ua, client)) = device {
                    e["device"] = json!({"id": id, "user_agent": ua, "client": client});
                }
                if let Some((client, links, len)) = post {
                    e["post"] = json!({"client": client, "links": links, "text_len": len});
                }
                if let Some((action, field, target, role, app)) = change {
                    e["change"] = json!({
                        "action": action, "field": field, "target": target,
                        "role": role, "app": app,
                    });
                }
                e
            },
        )
}

fn stream() -> impl Strategy<Value = Vec<Value>> {
    (1usize..160).prop_flat_map(|n| (0..n as i64).map(event).collect::<Vec<_>>())
}

fn run(cfg: Config, events: &[Value]) -> usize {
    let budget = cfg.detect.alert_max_bytes;
    let mut det = Detector::new(cfg);
    let mut out: Vec<Alert> = Vec::new();
    let mut alerts = 0;
    for e in events {
        let line = serde_json::to_string(e).unwrap();
        let ev = decode(line.as_bytes()).expect("generated events are valid");
        det.process(&ev, &mut out);
        for a in out.drain(..) {
            check_alert(&a, budget);
            alerts += 1;
        }
        det.check_invariants(&ev.account);
    }
    det.check_index();
    alerts
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 400, ..ProptestConfig::default() })]

    #[test]
    fn no_valid_event_stream_breaks_the_detector(events in stream()) {
        run(Config::default(), &events);
        run(eager_config(), &events);
    }
}

/// The crash loop of the issue: a post whose link host is not ASCII, once
/// the account has a few link observations.
#[test]
fn an_internationalised_link_host_is_scored_not_a_crash() {
    let mut events = Vec::new();
    for i in 0..8 {
        events.push(json!({
            "id": format!("p{i}"), "time": crate::time::rfc3339(1_767_225_600_000 + i * 3_600_000),
            "account": "x:a", "type": "post",
            "post": {"client": "web", "links": [format!("https://site{i}.example/")]},
        }));
    }
    events.push(json!({
        "id": "idn", "time": "2026-01-01T09:00:00Z", "account": "x:a", "type": "post",
        "post": {"client": "web", "links": ["https://รัฐบาล.ไทย/", "https://ä.go.iä/x"]},
    }));
    run(Config::default(), &events);
    run(eager_config(), &events);
}

/// Runs `events` through `det`, returning the alerts as JSON without the
/// wall-clock stamp.
fn alerts_of(det: &mut Detector, events: &[Value]) -> Vec<String> {
    let mut out: Vec<Alert> = Vec::new();
    let mut all = Vec::new();
    for e in events {
        let line = serde_json::to_string(e).unwrap();
        let ev = decode(line.as_bytes()).expect("generated events are valid");
        det.process(&ev, &mut out);
        all.extend(out.drain(..).map(|a| serde_json::to_string(&a).unwrap()));
    }
    all
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]

    /// Snapshot round trip: stopping anywhere, saving, loading into a
    /// fresh detector and going on gives the alerts and the final state
    /// of one uninterrupted run (with a cap of 2 accounts, so eviction's
    /// hand and slab order are part of what must survive).
    #[test]
    fn a_restored_detector_goes_on_as_if_never_stopped(
        events in stream(), split in 0.0f64..=1.0, cap in prop_oneof![Just(2usize), Just(1_000_000)],
    ) {
        let mut cfg = eager_config();
        cfg.state.max_accounts = cap;
        let cut = ((events.len() as f64) * split) as usize;
        let mut whole = Detector::new(cfg.clone());
        let expected = alerts_of(&mut whole, &events);

        let mut first = Detector::new(cfg.clone());
        let mut got = alerts_of(&mut first, &events[..cut]);
        let saved = first.state_bytes_exact();
        let mut second = Detector::load_state(cfg, &saved).expect("own snapshot loads");
        prop_assert_eq!(second.state_bytes_exact(), saved, "load then save is the identity");
        got.extend(alerts_of(&mut second, &events[cut..]));
        second.check_index();
        prop_assert_eq!(got, expected);
        prop_assert_eq!(second.state_bytes_exact(), whole.state_bytes_exact());
        prop_assert_eq!(second.stats.accounts, whole.stats.accounts);
        prop_assert_eq!(second.stats.learning, whole.stats.learning);
    }
}
