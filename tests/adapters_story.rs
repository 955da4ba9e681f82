//! End to end per adapter: a short takeover story written in each vendor's
//! own format goes through `--format` translation and the detector, and
//! must raise an alert naming the right account and evidence.
//!
//! The story (the same in every format): for four weeks Rina signs in on
//! working days from her office network in Jakarta, on her laptop, and
//! signs out. Then password guesses fail from four countries, one succeeds
//! from a hosting network abroad on a browser she never used, two-factor
//! is removed and a new administrator is granted, all from that session.
//! A colleague, Andi, keeps his own routine and must not be named.

use std::io::Read;

use kawal::adapt::{Format, Input};
use kawal::config::Config;
use kawal::detect::{Alert, Severity};
use kawal::sink::ndjson::NdjsonSink;
use serde_json::{Value, json};

const DAY: i64 = 86_400_000;
const START: i64 = 1_772_409_600_000; // 2026-03-02T00:00:00Z, a Monday

#[derive(Clone)]
enum What {
    SignIn(bool),
    SignOut,
    MfaRemoved,
    Grant(&'static str),
}

#[derive(Clone)]
struct Step {
    id: String,
    ms: i64,
    user: &'static str,
    what: What,
    ip: String,
    country: (&'static str, &'static str), // code, English name
    city: &'static str,
    at: (f64, f64),
    asn: u64,
    org: &'static str,
    ua: &'static str,
    device: &'static str,
    session: String,
}

const LAPTOP_UA: &str = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0 Safari/537.36";
const ATTACKER_UA: &str = "Mozilla/5.0 (X11; Linux x86_64; rv:125.0) Gecko/20100101 Firefox/125.0";

fn story() -> Vec<Step> {
    let mut steps = Vec::new();
    let mut n = 0;
    let mut id = || {
        n += 1;
        format!("ev-{n:04}")
    };
    for (user, device, last) in [
        ("rina@agency.go.id", "laptop-rina", 7),
        ("andi@agency.go.id", "laptop-andi", 9),
    ] {
        for day in 0..28 {
            if day % 7 >= 5 {
                continue; // weekend
            }
            let t = START + day * DAY + (1 + (day % 3)) * 3_600_000; // 08-10 WIB
            let session = format!("s-{user}-{day}");
            let office = |what, ms, id: String| Step {
                id,
                ms,
                user,
                what,
                ip: format!("36.72.14.{last}"),
                country: ("ID", "Indonesia"),
                city: "Jakarta",
                at: (-6.21, 106.85),
                asn: 7713,
                org: "Telkom Indonesia",
                ua: LAPTOP_UA,
                device,
                session: session.clone(),
            };
            steps.push(office(What::SignIn(true), t, id()));
            steps.push(office(What::SignOut, t + 8 * 3_600_000, id()));
        }
    }
    let attack = START + 29 * DAY + 2 * 3_600_000;
    let guesses = [
        (
            "RU",
            "Russia",
            "Moscow",
            (55.75, 37.62),
            12389,
            "Rostelecom",
            "95.167.1.9",
        ),
        (
            "BR",
            "Brazil",
            "Sao Paulo",
            (-23.55, -46.63),
            28573,
            "Claro NXT",
            "177.12.4.2",
        ),
        (
            "NG",
            "Nigeria",
            "Lagos",
            (6.45, 3.39),
            29465,
            "MTN Nigeria",
            "105.112.3.8",
        ),
        (
            "VN",
            "Vietnam",
            "Hanoi",
            (21.03, 105.85),
            45899,
            "VNPT",
            "14.160.2.77",
        ),
    ];
    for (i, (code, name, city, at, asn, org, ip)) in guesses.into_iter().enumerate() {
        steps.push(Step {
            id: id(),
            ms: attack + i as i64 * 60_000,
            user: "rina@agency.go.id",
            what: What::SignIn(false),
            ip: ip.into(),
            country: (code, name),
            city,
            at,
            asn,
            org,
            ua: ATTACKER_UA,
            device: "",
            session: String::new(),
        });
    }
    let intruder = |what, ms, id: String| Step {
        id,
        ms,
        user: "rina@agency.go.id",
        what,
        ip: "178.62.9.14".into(),
        country: ("NL", "Netherlands"),
        city: "Amsterdam",
        at: (52.37, 4.89),
        asn: 14061,
        org: "DigitalOcean, LLC",
        ua: ATTACKER_UA,
        device: "",
        session: "s-intruder".into(),
    };
    steps.push(intruder(What::SignIn(true), attack + 10 * 60_000, id()));
    steps.push(intruder(What::MfaRemoved, attack + 14 * 60_000, id()));
    steps.push(intruder(
        What::Grant("backdoor@agency.go.id"),
        attack + 16 * 60_000,
        id(),
    ));
    steps.sort_by_key(|s| s.ms);
    steps
}

fn rfc3339(ms: i64) -> String {
    kawal::time::rfc3339(ms)
}

fn okta(s: &Step) -> Value {
    let (event_type, result) = match &s.what {
        What::SignIn(ok) => (
            "user.session.start",
            if *ok { "SUCCESS" } else { "FAILURE" },
        ),
        What::SignOut => ("user.session.end", "SUCCESS"),
        What::MfaRemoved => ("user.mfa.factor.deactivate", "SUCCESS"),
        What::Grant(_) => ("user.account.privilege.grant", "SUCCESS"),
    };
    let mut target = Value::Null;
    let mut debug = json!({"requestId": "r"});
    if !s.device.is_empty() {
        debug["deviceFingerprint"] = s.device.into();
    }
    if let What::Grant(who) = s.what {
        target = json!([{"type": "User", "alternateId": who, "id": "00u2"}]);
        debug["privilegeGranted"] = "Super administrator".into();
    }
    json!({
        "uuid": s.id, "published": rfc3339(s.ms), "eventType": event_type,
        "version": "0", "severity": "INFO",
        "actor": {"id": "00u1", "type": "User", "alternateId": s.user, "displayName": s.user},
        "client": {"ipAddress": s.ip, "device": "Computer",
            "userAgent": {"rawUserAgent": s.ua, "browser": "CHROME", "os": "Windows"},
            "geographicalContext": {"country": s.country.1, "city": s.city,
                "geolocation": {"lat": s.at.0, "lon": s.at.1}}},
        "securityContext": {"asNumber": s.asn, "asOrg": s.org, "isProxy": false},
        "authenticationContext": {"externalSessionId": if s.session.is_empty() { "unknown".to_string() } else { s.session.clone() }},
        "debugContext": {"debugData": debug},
        "outcome": {"result": result},
        "target": target,
    })
}

fn entra(s: &Step) -> Value {
    let device = json!({"deviceId": s.device, "browser": "Chrome", "operatingSystem": "Windows"});
    match &s.what {
        What::SignIn(ok) => json!({
            "time": rfc3339(s.ms), "category": "SignInLogs", "operationName": "Sign-in activity",
            "resultType": if *ok { "0" } else { "50126" },
            "properties": {
                "id": s.id, "createdDateTime": rfc3339(s.ms), "userPrincipalName": s.user,
                "ipAddress": s.ip, "isInteractive": true, "userAgent": s.ua,
                "status": {"errorCode": if *ok { 0 } else { 50126 }},
                "deviceDetail": device, "sessionId": s.session,
                "autonomousSystemNumber": s.asn,
                "location": {"city": s.city, "countryOrRegion": s.country.0,
                    "geoCoordinates": {"latitude": s.at.0, "longitude": s.at.1}},
            }
        }),
        // The sign-in log has no sign-outs; what it has in their place is
        // the session's own token refreshes (non-interactive sign-ins).
        What::SignOut => json!({
            "time": rfc3339(s.ms), "category": "NonInteractiveUserSignInLogs",
            "resultType": "0",
            "properties": {
                "id": s.id, "createdDateTime": rfc3339(s.ms), "userPrincipalName": s.user,
                "ipAddress": s.ip, "isInteractive": false, "userAgent": s.ua,
                "status": {"errorCode": 0}, "deviceDetail": device, "sessionId": s.session,
                "autonomousSystemNumber": s.asn,
                "location": {"city": s.city, "countryOrRegion": s.country.0,
                    "geoCoordinates": {"latitude": s.at.0, "longitude": s.at.1}},
            }
        }),
        What::MfaRemoved => json!({
            "time": rfc3339(s.ms), "category": "AuditLogs", "callerIpAddress": s.ip,
            "properties": {"id": s.id, "activityDateTime": rfc3339(s.ms),
                "activityDisplayName": "User deleted security info", "result": "success",
                "initiatedBy": {"user": {"userPrincipalName": s.user, "ipAddress": s.ip}},
                "targetResources": [{"type": "User", "userPrincipalName": s.user}]}
        }),
        What::Grant(who) => json!({
            "time": rfc3339(s.ms), "category": "AuditLogs", "callerIpAddress": s.ip,
            "properties": {"id": s.id, "activityDateTime": rfc3339(s.ms),
                "activityDisplayName": "Add member to role", "result": "success",
                "initiatedBy": {"user": {"userPrincipalName": s.user, "ipAddress": s.ip}},
                "targetResources": [{"type": "User", "userPrincipalName": who,
                    "modifiedProperties": [{"displayName": "Role.DisplayName",
                        "oldValue": null, "newValue": "\"Global Administrator\""}]}]}
        }),
    }
}

fn google_workspace(s: &Step) -> Value {
    let (app, event) = match &s.what {
        What::SignIn(true) => ("login", json!({"type": "login", "name": "login_success"})),
        What::SignIn(false) => ("login", json!({"type": "login", "name": "login_failure"})),
        What::SignOut => ("login", json!({"type": "login", "name": "logout"})),
        What::MfaRemoved => (
            "user_accounts",
            json!({"type": "2sv_change", "name": "2sv_disable"}),
        ),
        What::Grant(who) => (
            "admin",
            json!({"type": "DELEGATED_ADMIN_SETTINGS", "name": "ASSIGN_ROLE", "parameters": [
                {"name": "ROLE_NAME", "value": "_SEED_ADMIN_ROLE"},
                {"name": "USER_EMAIL", "value": who}]}),
        ),
    };
    json!({
        "kind": "admin#reports#activity",
        "id": {"time": rfc3339(s.ms), "uniqueQualifier": s.id, "applicationName": app, "customerId": "C01"},
        "actor": {"email": s.user, "profileId": "1", "callerType": "USER"},
        "ipAddress": s.ip,
        "networkInfo": {"ipAsn": [s.asn], "regionCode": s.country.0},
        "events": [event],
    })
}

fn ocsf(s: &Step) -> Value {
    let (class, activity) = match &s.what {
        What::SignIn(_) => (3002, 1),
        What::SignOut => (3002, 2),
        What::MfaRemoved => (3001, 11),
        What::Grant(_) => (3005, 1),
    };
    let status = match s.what {
        What::SignIn(false) => 2,
        _ => 1,
    };
    let mut v = json!({
        "class_uid": class, "activity_id": activity, "category_uid": 3, "time": s.ms,
        "status_id": status, "metadata": {"uid": s.id, "version": "1.3.0",
            "product": {"name": "IdP", "vendor_name": "Example"}},
        "actor": {"user": {"email_addr": s.user}, "session": {"uid": s.session}},
        "user": {"email_addr": s.user},
        "src_endpoint": {"ip": s.ip, "location": {"country": s.country.0, "city": s.city,
            "lat": s.at.0, "long": s.at.1},
            "autonomous_system": {"number": s.asn, "name": s.org}},
        "http_request": {"user_agent": s.ua},
    });
    if !s.device.is_empty() {
        v["device"] = json!({"uid": s.device});
    }
    if let What::Grant(who) = s.what {
        v["user"] = json!({"email_addr": who});
        v["privileges"] = json!(["Administrator"]);
    }
    v
}

fn alerts(format: Format, write: fn(&Step) -> Value) -> (Vec<Alert>, Vec<Step>) {
    let steps = story();
    let mut file = String::new();
    for s in &steps {
        file.push_str(&write(s).to_string());
        file.push('\n');
    }
    let mut input = Input::from_reader(Box::new(std::io::Cursor::new(file)), None, format);
    let mut sink = NdjsonSink::new(Vec::new(), false);
    let summary = kawal::replay::replay(
        input.take_reader(),
        &Config::default(),
        None,
        &mut sink,
        &mut |_| {},
    )
    .unwrap();
    let counts = input.counts().unwrap();
    assert_eq!(counts.invalid_total(), 0, "{:?}", counts.invalid);
    assert_eq!(summary.invalid_total(), 0);
    assert!(summary.stats.events > 80, "{} events", summary.stats.events);
    let text = String::from_utf8(sink.into_inner()).unwrap();
    let alerts = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    (alerts, steps)
}

fn check(format: Format, write: fn(&Step) -> Value) {
    let (alerts, steps) = alerts(format, write);
    let id_of = |pred: fn(&What) -> bool| {
        steps
            .iter()
            .find(|s| s.user.starts_with("rina") && s.session == "s-intruder" && pred(&s.what))
            .map(|s| s.id.clone())
            .unwrap()
    };
    let intruder_sign_in = id_of(|w| matches!(w, What::SignIn(true)));
    let mfa = id_of(|w| matches!(w, What::MfaRemoved));
    let grant = id_of(|w| matches!(w, What::Grant(_)));
    assert!(
        alerts.iter().all(|a| a.account != "andi@agency.go.id"),
        "{format}: the colleague was named"
    );
    let rina: Vec<&Alert> = alerts
        .iter()
        .filter(|a| a.account == "rina@agency.go.id")
        .collect();
    let top = rina
        .iter()
        .max_by_key(|a| a.severity)
        .unwrap_or_else(|| panic!("{format}: no alert on the account; alerts: {alerts:?}"));
    assert!(top.severity >= Severity::High, "{format}: {top:?}");
    let evidence: Vec<&String> = rina.iter().flat_map(|a| &a.events).collect();
    for (what, id) in [
        ("sign-in", &intruder_sign_in),
        ("two-factor", &mfa),
        ("grant", &grant),
    ] {
        // Admin SDK ids are the application, time and qualifier.
        assert!(
            evidence
                .iter()
                .any(|e| *e == id || e.ends_with(&format!(":{id}"))),
            "{format}: the {what} ({id}) is not in the evidence {evidence:?}"
        );
    }
}

#[test]
fn okta_story_raises_an_alert_on_the_right_account() {
    check(Format::Okta, okta);
}

#[test]
fn entra_story_raises_an_alert_on_the_right_account() {
    check(Format::Entra, entra);
}

#[test]
fn google_workspace_story_raises_an_alert_on_the_right_account() {
    check(Format::GoogleWorkspace, google_workspace);
}

#[test]
fn ocsf_story_raises_an_alert_on_the_right_account() {
    check(Format::Ocsf, ocsf);
}

#[test]
fn the_story_is_read_whole() {
    // Every record of the story maps: nothing silently dropped.
    for (format, write, unmapped) in [
        (Format::Okta, okta as fn(&Step) -> Value, 0),
        (Format::GoogleWorkspace, google_workspace, 0),
        (Format::Ocsf, ocsf, 0),
        (Format::Entra, entra, 0),
    ] {
        let steps = story();
        let file: String = steps.iter().map(|s| write(s).to_string() + "\n").collect();
        let mut input = Input::from_reader(Box::new(std::io::Cursor::new(file)), None, format);
        let mut out = String::new();
        input.take_reader().read_to_string(&mut out).unwrap();
        let c = input.counts().unwrap();
        assert_eq!(c.records as usize, steps.len(), "{format}");
        assert_eq!(c.unmapped_total(), unmapped, "{format}: {:?}", c.unmapped);
    }
}
