use super::*;

fn events(format: Format, json: &str) -> (Vec<String>, Vec<String>) {
    let v: Value = serde_json::from_str(json).unwrap();
    let mut b = Batch::default();
    adapt(format, &v, &mut b).unwrap();
    let evs = b
        .events
        .iter()
        .map(|e| {
            let mut out = Vec::new();
            write_native(e, &mut out);
            String::from_utf8(out).unwrap()
        })
        .collect();
    (evs, b.unmapped.iter().map(|u| u.to_string()).collect())
}

#[test]
fn country_names_and_codes() {
    assert_eq!(country("United States"), Some("US"));
    assert_eq!(country("viet nam"), Some("VN"));
    assert_eq!(country("Vietnam"), Some("VN"));
    assert_eq!(country("South Korea"), Some("KR"));
    assert_eq!(country("Indonesia"), Some("ID"));
    assert_eq!(country("fr"), Some("FR"));
    assert_eq!(country("UK"), None, "not an ISO code");
    assert_eq!(country("Atlantis"), None);
    assert_eq!(country(""), None);
}

#[test]
fn times_in_seconds_or_millis_or_text() {
    let ms = 1_723_564_700_000;
    assert_eq!(time_of(&Value::from(1_723_564_700u64)), Some(ms));
    assert_eq!(time_of(&Value::from(ms)), Some(ms));
    assert_eq!(time_of(&Value::from("2024-08-13T15:58:20Z")), Some(ms));
    assert_eq!(time_of(&Value::from(-5)), None);
    assert_eq!(time_of(&Value::from(1e300)), None);
}

#[test]
fn okta_grant_counts_on_actor_and_target() {
    let rec = r#"{"uuid":"u1","published":"2026-03-02T08:00:00.000Z","eventType":"user.account.privilege.grant",
      "actor":{"type":"User","alternateId":"Admin@Agency.go.id"},
      "target":[{"type":"User","alternateId":"rina@agency.go.id"}],
      "client":{"ipAddress":"36.72.14.9","geographicalContext":{"country":"Indonesia","city":"Jakarta","geolocation":{"lat":-6.2,"lon":106.8}}},
      "securityContext":{"asNumber":7713,"asOrg":"Telkom","isProxy":true},
      "debugContext":{"debugData":{"privilegeGranted":"Super administrator"}},
      "outcome":{"result":"SUCCESS"}}"#;
    let (evs, unmapped) = events(Format::Okta, rec);
    assert!(unmapped.is_empty());
    assert_eq!(evs.len(), 2, "{evs:?}");
    for (e, account) in evs.iter().zip(["admin@agency.go.id", "rina@agency.go.id"]) {
        let v: Value = serde_json::from_str(e).unwrap();
        assert_eq!(v["account"], account);
        assert_eq!(v["type"], "role_change");
        assert_eq!(v["actor"], "admin@agency.go.id");
        assert_eq!(v["change"]["target"], "rina@agency.go.id");
        assert_eq!(v["change"]["role"], "Super administrator");
        assert_eq!(v["source"]["country"], "ID");
        assert_eq!(v["source"]["hosting"], true);
        // What the adapter writes is a valid native event.
        crate::decode::decode(e.as_bytes()).unwrap();
    }
}

#[test]
fn okta_successful_factor_step_is_unmapped_and_failed_one_is_a_failed_sign_in() {
    let rec = |result: &str| {
        format!(
            r#"{{"uuid":"u","published":"2026-03-02T08:00:00Z","eventType":"user.authentication.auth_via_mfa","actor":{{"type":"User","alternateId":"a@b.c"}},"outcome":{{"result":"{result}"}}}}"#
        )
    };
    let (evs, unmapped) = events(Format::Okta, &rec("SUCCESS"));
    assert!(evs.is_empty());
    assert_eq!(unmapped, ["user.authentication.auth_via_mfa"]);
    let (evs, _) = events(Format::Okta, &rec("FAILURE"));
    assert!(evs[0].contains(r#""type":"login""#) && evs[0].contains(r#""outcome":"failure""#));
}

#[test]
fn entra_log_analytics_columns_hold_json_text() {
    let rec = r#"{"Type":"SigninLogs","TimeGenerated":"2026-03-02T08:00:00Z","Id":"s1","UserPrincipalName":"Rina@Agency.go.id",
      "IPAddress":"36.72.14.9","ResultType":"0","SessionId":"sess-1","AutonomousSystemNumber":7713,
      "LocationDetails":"{\"city\":\"Jakarta\",\"countryOrRegion\":\"ID\",\"geoCoordinates\":{\"latitude\":-6.2,\"longitude\":106.8}}",
      "DeviceDetail":"{\"deviceId\":\"dev-9\",\"browser\":\"Edge\"}","Status":"{\"errorCode\":0}"}"#;
    let (evs, _) = events(Format::Entra, rec);
    let v: Value = serde_json::from_str(&evs[0]).unwrap();
    assert_eq!(v["account"], "rina@agency.go.id");
    assert_eq!(v["type"], "login");
    assert_eq!(v["outcome"], "success");
    assert_eq!(v["source"]["city"], "Jakarta");
    assert_eq!(v["source"]["country"], "ID");
    assert_eq!(v["source"]["asn"], 7713);
    assert_eq!(v["device"]["id"], "dev-9");
    assert_eq!(v["device"]["session"], "sess-1");
}

#[test]
fn entra_interrupts_are_not_failures_and_refreshes_are_not_sign_ins() {
    let rec = |code: u32, interactive: bool| {
        format!(
            r#"{{"id":"s","createdDateTime":"2026-03-02T08:00:00Z","userPrincipalName":"a@b.c","isInteractive":{interactive},"status":{{"errorCode":{code}}}}}"#
        )
    };
    assert_eq!(
        events(Format::Entra, &rec(50140, true)).1,
        ["sign_in_interrupted"]
    );
    let (evs, _) = events(Format::Entra, &rec(50126, true));
    assert!(evs[0].contains(r#""outcome":"failure""#));
    let (evs, _) = events(Format::Entra, &rec(0, false));
    assert!(evs[0].contains(r#""type":"session_refresh""#), "{evs:?}");
}

#[test]
fn google_workspace_api_page_with_several_events() {
    let page = r#"{"kind":"admin#reports#activities","items":[
      {"id":{"time":"2026-03-02T08:00:00Z","uniqueQualifier":"42","applicationName":"admin"},
       "actor":{"email":"Admin@agency.go.id"},"ipAddress":"36.72.14.9",
       "events":[{"name":"ASSIGN_ROLE","parameters":[{"name":"ROLE_NAME","value":"_SEED_ADMIN_ROLE"},{"name":"USER_EMAIL","value":"rina@agency.go.id"}]},
                 {"name":"CHANGE_DOMAIN_NAME"}]}]}"#;
    let (evs, unmapped) = events(Format::GoogleWorkspace, page);
    assert_eq!(unmapped, ["admin.CHANGE_DOMAIN_NAME"]);
    assert_eq!(evs.len(), 2);
    assert!(
        evs[0].contains(r#""id":"admin:2026-03-02T08:00:00Z:42.0""#)
            && evs[0].contains(r#""account":"admin@agency.go.id""#)
    );
    assert!(evs[1].contains(r#""account":"rina@agency.go.id""#));
    assert!(evs[1].contains(r#""role":"_SEED_ADMIN_ROLE""#));
}

#[test]
fn ocsf_account_change_by_another_user() {
    let rec = r#"{"class_uid":3001,"activity_id":11,"time":1772438400000,"metadata":{"uid":"m1"},
      "actor":{"user":{"email_addr":"admin@agency.go.id"},"session":{"uid":"s9"}},
      "user":{"email_addr":"rina@agency.go.id"},"status_id":1,
      "src_endpoint":{"ip":"36.72.14.9","location":{"country":"ID","lat":-6.2,"long":106.8}}}"#;
    let (evs, _) = events(Format::Ocsf, rec);
    assert_eq!(evs.len(), 2);
    assert!(evs[0].contains(r#""account":"admin@agency.go.id""#));
    assert!(evs[0].contains(r#""action":"remove_method""#));
    assert!(evs[1].contains(r#""account":"rina@agency.go.id""#));
    assert!(evs[1].contains(r#""session":"s9""#));
}

#[test]
fn records_that_are_not_the_format_are_errors() {
    for f in [
        Format::Okta,
        Format::Entra,
        Format::GoogleWorkspace,
        Format::Ocsf,
    ] {
        let v: Value = serde_json::from_str(r#"{"hello":"world"}"#).unwrap();
        let err = adapt(f, &v, &mut Batch::default()).unwrap_err();
        assert_eq!(err.kind(), "not_format", "{f}");
        assert!(adapt(f, &Value::from(5), &mut Batch::default()).is_err());
    }
}

#[test]
fn translate_reads_pretty_json_and_counts() {
    let input = "{\n  \"class_uid\": 3002,\n  \"activity_id\": 1,\n  \"time\": 1772438400000,\n  \"user\": {\"name\": \"rina\"}\n}\n\nnot json\n{\"class_uid\": 4001, \"class_name\": \"Network Activity\", \"activity_name\": \"Open\"}\n{\"class_uid\": 3002, \"activity_id\": 1,";
    let mut t = Translate::new(input.as_bytes(), Format::Ocsf);
    let counts = t.counts();
    let mut out = String::new();
    t.read_to_string(&mut out).unwrap();
    assert_eq!(out.lines().count(), 1, "{out}");
    crate::decode::decode(out.lines().next().unwrap().as_bytes()).unwrap();
    let c = counts.lock().unwrap();
    assert_eq!(c.records, 2);
    assert_eq!(c.events, 1);
    assert_eq!(c.unmapped.get("4001 Network Activity: Open"), Some(&1));
    // "not json" and the record cut short by the end of the input.
    assert_eq!(c.invalid.get("bad_json"), Some(&2), "{:?}", c.invalid);
}

#[test]
fn hostile_values_never_panic() {
    let odd = [
        r#"{"uuid":"u","published":"2026-03-02T08:00:00Z","eventType":"user.session.start","actor":{"alternateId":5},"client":{"geographicalContext":{"country":"\u00e9\u00e9","geolocation":{"lat":"x","lon":1e308}}}}"#,
        r#"{"category":"SignInLogs","properties":{"id":"x","createdDateTime":"2026-03-02T08:00:00Z","userPrincipalName":"a","status":{"errorCode":-1},"location":"{broken"}}"#,
        r#"{"id":{"time":"2026-03-02T08:00:00Z","uniqueQualifier":1e30,"applicationName":"login"},"events":[{"name":"login_success"}],"actor":{"email":""}}"#,
        r#"{"class_uid":3002,"activity_id":1,"time":1e30,"user":{"name":"ñ"}}"#,
        r#"[[[[]]]]"#,
    ];
    for f in [
        Format::Okta,
        Format::Entra,
        Format::GoogleWorkspace,
        Format::Ocsf,
    ] {
        for o in odd {
            let v: Value = serde_json::from_str(o).unwrap();
            let mut b = Batch::default();
            if adapt(f, &v, &mut b).is_ok() {
                for e in &b.events {
                    let mut line = Vec::new();
                    write_native(e, &mut line);
                    crate::decode::decode(&line).unwrap();
                }
            }
        }
    }
}

#[test]
fn okta_event_hook_calls_and_system_actors() {
    // An Event Hook call wraps LogEvents in data.events; a system actor's
    // change to a user is that user's.
    let call = r#"{"eventType":"com.okta.event_hook","data":{"events":[
      {"uuid":"h1","published":"2026-03-02T08:00:00Z","eventType":"user.mfa.factor.reset_all",
       "actor":{"type":"SystemPrincipal","alternateId":"system@okta.com","displayName":"Okta System"},
       "target":[{"type":"User","alternateId":"rina@agency.go.id"}],"outcome":{"result":"SUCCESS"}},
      {"uuid":"h2","published":"2026-03-02T08:01:00Z","eventType":"user.session.start",
       "actor":{"type":"User","alternateId":"rina@agency.go.id"},"outcome":{"result":"FAILURE"}}]}}"#;
    let (evs, unmapped) = events(Format::Okta, call);
    assert!(unmapped.is_empty());
    assert_eq!(evs.len(), 2, "{evs:?}");
    let reset: Value = serde_json::from_str(&evs[0]).unwrap();
    assert_eq!(reset["account"], "rina@agency.go.id");
    assert_eq!(reset["actor"], "Okta System");
    assert_eq!(reset["change"]["action"], "disable");
    assert!(evs[1].contains(r#""outcome":"failure""#));
}
