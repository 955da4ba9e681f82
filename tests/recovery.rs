//! Recovery steps name what the evidence named.
//!
//! A simulated month in which a third of the accounts are taken over, in every
//! attack style of the simulator, is replayed. For each takeover that was
//! alerted, the last alert's steps must name the concrete device, actor,
//! app, recovery field and link domain of the account's own events, and
//! every time a step gives must be the time of one of those events. The
//! steps of the first takeover of each style are also a golden file
//! (`tests/golden/recovery.ndjson`; regenerate with
//! `KAWAL_BLESS=1 cargo test --test recovery` and review the diff).

mod common;

use std::collections::{BTreeMap, BTreeSet};

use kawal::config::Config;
use kawal::detect::{Alert, Severity};
use kawal::replay::replay;
use kawal::sim::{STYLES, Truth};
use kawal::sink::ndjson::NdjsonSink;
use serde_json::{Value, json};

const GOLDEN: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/golden/recovery.ndjson");

fn month() -> (Vec<Value>, Truth, Vec<Alert>) {
    let (input, truth) = common::month_with_truth(200, 7);
    let input = input.into_bytes();
    let mut sink = NdjsonSink::new(Vec::new(), false);
    replay(&input[..], &Config::default(), None, &mut sink, &mut |_| {}).unwrap();
    let alerts = String::from_utf8(sink.into_inner())
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let events = input
        .split(|b| *b == b'\n')
        .filter(|l| !l.is_empty())
        .map(|l| serde_json::from_slice(l).unwrap())
        .collect();
    (events, truth, alerts)
}

/// What the account's events named between two times (inclusive).
#[derive(Default)]
struct Named {
    times: BTreeSet<String>,
    devices: BTreeSet<String>,
    targets: BTreeSet<String>,
    actors: BTreeSet<String>,
    apps: BTreeSet<String>,
    fields: BTreeSet<String>,
    hosts: BTreeSet<String>,
}

fn named(events: &[Value], account: &str, from: &str, to: &str) -> Named {
    let mut n = Named::default();
    let ms = |t: &str| kawal::time::parse_rfc3339(t).unwrap();
    let (from, to) = (ms(from), ms(to));
    for e in events.iter().filter(|e| e["account"] == account) {
        let t = ms(e["time"].as_str().unwrap());
        if t < from || t > to {
            continue;
        }
        n.times.insert(kawal::time::rfc3339(t));
        let put = |set: &mut BTreeSet<String>, v: &Value| {
            if let Some(s) = v.as_str() {
                set.insert(s.to_string());
            }
        };
        put(&mut n.devices, &e["device"]["id"]);
        put(&mut n.actors, &e["actor"]);
        put(&mut n.targets, &e["change"]["target"]);
        put(&mut n.apps, &e["change"]["app"]);
        put(&mut n.apps, &e["post"]["client"]);
        put(&mut n.fields, &e["change"]["field"]);
        for l in e["post"]["links"].as_array().into_iter().flatten() {
            let host = l.as_str().unwrap().split('/').nth(2).unwrap_or("");
            n.hosts.insert(host.trim_start_matches("www.").to_string());
        }
    }
    n
}

fn step<'a>(a: &'a Alert, action: &str) -> &'a str {
    a.recovery
        .iter()
        .find(|s| s.action == action)
        .map(|s| s.text.as_str())
        .unwrap_or_else(|| panic!("{}: no {action} step in {:#?}", a.id, a.recovery))
}

fn names_one_of(text: &str, set: &BTreeSet<String>, what: &str) {
    assert!(
        set.iter().any(|v| text.contains(v.as_str())),
        "{text:?} names no {what} of the evidence ({set:?})"
    );
}

/// Checks one alert's steps against what the account's events named.
fn check(a: &Alert, n: &Named) -> BTreeSet<&'static str> {
    let mut checked = BTreeSet::new();
    let has = |name: &str| a.signals.iter().any(|s| s.name == name);
    for s in &a.recovery {
        for word in s.text.split([' ', '(', ')', ',', ';']) {
            if word.len() >= 20 && word.starts_with("20") && word.ends_with('Z') {
                assert!(
                    n.times.contains(word),
                    "{word} in {:?} is no event time",
                    s.text
                );
            }
        }
    }
    if a.severity >= Severity::High {
        step(a, "contact_platform");
    } else {
        assert_eq!(a.recovery[0].action, "confirm_with_owner");
    }
    // (signals, step, what the step must name, from which events' field)
    let named: [(&[&str], &str, &'static str, &BTreeSet<String>); 7] = [
        (&["new_device"], "sign_out_sessions", "device", &n.devices),
        (
            &["role_granted_to_new_actor"],
            "revoke_role",
            "actor",
            &n.targets,
        ),
        (&["admin_revoked"], "restore_admin", "admin", &n.targets),
        (
            &["role_granted_by_new_actor"],
            "review_actor",
            "actor",
            &n.actors,
        ),
        (
            &["app_granted", "posts_via_new_app"],
            "remove_app",
            "app",
            &n.apps,
        ),
        (
            &["recovery_changed"],
            "undo_recovery_change",
            "recovery",
            &n.fields,
        ),
        (&["new_link_domain"], "review_posts", "posts", &n.hosts),
    ];
    for (signals, action, what, values) in named {
        if signals.iter().any(|s| has(s)) {
            names_one_of(step(a, action), values, what);
            checked.insert(what);
        }
    }
    if has("mfa_disabled") || has("mfa_method_removed") {
        step(a, "reenable_two_factor");
        checked.insert("two-factor");
    }
    // A reset through recovery, then the phone's factors: ask the person
    // on another channel (a SIM swap and a lost phone look the same).
    if has("password_reset") && (has("mfa_disabled") || has("mfa_method_removed")) {
        assert!(
            step(a, "verify_phone_number").contains("other than their phone number"),
            "{:?}",
            a.recovery
        );
        checked.insert("phone number");
    }
    checked
}

#[test]
fn steps_name_the_evidence_of_every_attack_style() {
    let (events, truth, alerts) = month();
    let mut styles: BTreeMap<&str, BTreeSet<&'static str>> = BTreeMap::new();
    let mut golden = Vec::new();
    for t in &truth.takeovers {
        let last = alerts
            .iter()
            .filter(|a| a.account == t.account && a.time >= t.start)
            .filter(|a| a.events.iter().any(|e| t.events.contains(e)))
            .max_by_key(|a| a.severity);
        let Some(a) = last else { continue };
        let n = named(&events, &a.account, &a.first_event_time, &a.time);
        let checked = check(a, &n);
        let seen = styles.entry(t.style.as_str()).or_default();
        if seen.is_empty() {
            golden.push(json!({
                "style": t.style, "account": a.account, "severity": a.severity,
                "signals": a.signals.iter().map(|s| &s.name).collect::<Vec<_>>(),
                "recovery": a.recovery,
            }));
        }
        seen.insert("alerted");
        seen.extend(checked);
    }
    for style in STYLES {
        assert!(
            styles.contains_key(style),
            "no alerted takeover of style {style}"
        );
    }
    // The steps that name something were exercised: each by some style.
    let all: BTreeSet<&str> = styles.values().flatten().copied().collect();
    for what in [
        "device",
        "actor",
        "app",
        "recovery",
        "two-factor",
        "phone number",
        "posts",
    ] {
        assert!(
            all.contains(what),
            "no takeover exercised the {what} step: {styles:?}"
        );
    }

    golden.sort_by_key(|g| g["style"].as_str().unwrap().to_string());
    if std::env::var_os("KAWAL_BLESS").is_some() {
        let text: String = golden.iter().map(|v| format!("{v}\n")).collect();
        std::fs::write(GOLDEN, text).unwrap();
    }
    let expected: Vec<Value> = std::fs::read_to_string(GOLDEN)
        .expect("recovery.ndjson (KAWAL_BLESS=1 creates it)")
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(golden, expected);
}
