//! Okta System Log `LogEvent`s (System Log API, Log Streaming, Event
//! Hooks' `data.events[]`) to kawal events. Mapping table:
//! `docs/adapters/okta.md`.

use std::borrow::Cow;

use serde_json::Value;

use super::{AdaptError, Batch, Format, at, country, event, integer, lower, not, number, text};
use crate::decode::{EventKind, Outcome};

/// What an Okta `eventType` becomes.
enum Map {
    Kind(EventKind),
    /// A sign-in step that is only evidence when it failed (a wrong
    /// password, a refused factor); its success is part of the
    /// `user.session.start` that follows.
    FailureOnly,
    Change(EventKind, &'static str),
    /// A change made to the target user: the actor's event, and the
    /// target's (see the module rule in `adapt`).
    ToTarget(EventKind, &'static str),
}

fn map(event_type: &str) -> Option<Map> {
    use EventKind::*;
    Some(match event_type {
        "user.session.start" => Map::Kind(Login),
        "user.session.end" => Map::Kind(Logout),
        "user.authentication.auth_via_mfa" | "user.authentication.verify" => Map::FailureOnly,
        "user.mfa.factor.activate" => Map::Change(MfaChange, "add_method"),
        "user.mfa.factor.deactivate" => Map::ToTarget(MfaChange, "remove_method"),
        "user.mfa.factor.reset_all" => Map::ToTarget(MfaChange, "disable"),
        "user.account.update_password" => Map::Kind(PasswordChange),
        "user.account.reset_password" => Map::ToTarget(PasswordReset, ""),
        "user.account.update_profile" => Map::Kind(ProfileChange),
        "user.account.privilege.grant" => Map::ToTarget(RoleChange, "grant"),
        "user.account.privilege.revoke" => Map::ToTarget(RoleChange, "revoke"),
        "app.oauth2.as.consent.grant" | "system.api_token.create" => {
            Map::Change(AppAuthorization, "grant")
        }
        "app.oauth2.as.consent.revoke" | "system.api_token.revoke" => {
            Map::Change(AppAuthorization, "revoke")
        }
        _ => return None,
    })
}

/// One `LogEvent` (or an Event Hook's `{"data":{"events":[...]}}`).
pub fn record<'v>(v: &'v Value, out: &mut Batch<'v>) -> Result<(), AdaptError> {
    const F: Format = Format::Okta;
    if let Some(events) = at(v, &["data", "events"]).and_then(Value::as_array) {
        for e in events {
            record(e, out)?;
        }
        return Ok(());
    }
    if !v.is_object() {
        return Err(not(F, "not a JSON object"));
    }
    let event_type = text(v, &["eventType"]).ok_or(not(F, "no eventType"))?;
    let published = v.get("published").ok_or(not(F, "no published time"))?;
    let time = super::time_of(published).ok_or(not(F, "published is not an RFC 3339 time"))?;
    let id = text(v, &["uuid"]).ok_or(not(F, "no uuid"))?;
    let Some(how) = map(event_type) else {
        out.skip(event_type);
        return Ok(());
    };
    let result = text(v, &["outcome", "result"]).and_then(super::outcome_word);
    if matches!(how, Map::FailureOnly) && result != Some(Outcome::Failure) {
        out.skip(event_type);
        return Ok(());
    }
    let target = target_user(v);
    // The protected account is the user who acted; a system actor's
    // change to a user is that user's.
    let actor_login = user_login(at(v, &["actor"]));
    let Some(account) = actor_login.clone().or_else(|| target.clone()) else {
        out.skip(event_type);
        return Ok(());
    };
    let kind = match how {
        Map::Kind(k) | Map::Change(k, _) | Map::ToTarget(k, _) => k,
        Map::FailureOnly => EventKind::Login,
    };
    let mut ev = event(id, time, account, kind);
    ev.actor = actor_login.or_else(|| text(v, &["actor", "displayName"]).map(Cow::Borrowed));
    ev.outcome = result;
    context(v, &mut ev);
    change(v, &how, target.as_ref(), &mut ev);
    super::push_both(out, ev, target.filter(|_| matches!(how, Map::ToTarget(..))));
    Ok(())
}

/// The login of a user object (`actor`, a `target[]` entry).
fn user_login(u: Option<&Value>) -> Option<Cow<'_, str>> {
    let u = u?;
    if text(u, &["type"]).is_some_and(|t| !t.eq_ignore_ascii_case("user")) {
        return None;
    }
    text(u, &["alternateId"])
        .filter(|s| *s != "unknown")
        .or_else(|| text(u, &["id"]))
        .map(lower)
}

fn target_user(v: &Value) -> Option<Cow<'_, str>> {
    v.get("target")?
        .as_array()?
        .iter()
        .filter(|t| text(t, &["type"]).is_some_and(|t| t.eq_ignore_ascii_case("user")))
        .find_map(|t| user_login(Some(t)))
}

/// Network, place, device and session.
fn context<'v>(v: &'v Value, ev: &mut crate::decode::Event<'v>) {
    let s = &mut ev.source;
    s.ip = text(v, &["client", "ipAddress"]).map(Cow::Borrowed);
    let geo = at(v, &["client", "geographicalContext"]);
    if let Some(g) = geo {
        s.country = text(g, &["country"]).and_then(country).map(Cow::Borrowed);
        s.city = text(g, &["city"]).map(Cow::Borrowed);
        s.lat = number(g, &["geolocation", "lat"]);
        s.lon = number(g, &["geolocation", "lon"]);
    }
    s.asn = integer(v, &["securityContext", "asNumber"]).filter(|&a| a > 0);
    s.as_org = text(v, &["securityContext", "asOrg"])
        .or_else(|| text(v, &["securityContext", "isp"]))
        .map(Cow::Borrowed);
    // Okta's proxy flag marks anonymising proxies and Tor; its absence
    // says nothing (the ASN lists still apply).
    if at(v, &["securityContext", "isProxy"]).and_then(Value::as_bool) == Some(true) {
        s.hosting = Some(true);
    }
    let d = &mut ev.device;
    d.id = text(v, &["debugContext", "debugData", "deviceFingerprint"])
        .or_else(|| text(v, &["device", "id"]))
        .map(Cow::Borrowed);
    d.user_agent = text(v, &["client", "userAgent", "rawUserAgent"])
        .filter(|ua| *ua != "UNKNOWN")
        .map(Cow::Borrowed);
    d.session = text(v, &["authenticationContext", "externalSessionId"])
        .filter(|s| *s != "unknown")
        .map(Cow::Borrowed);
}

fn change<'v>(
    v: &'v Value,
    how: &Map,
    target: Option<&Cow<'v, str>>,
    ev: &mut crate::decode::Event<'v>,
) {
    let action = match how {
        Map::Change(_, a) | Map::ToTarget(_, a) => *a,
        _ => return,
    };
    let c = &mut ev.change;
    if !action.is_empty() {
        c.action = Some(Cow::Borrowed(action));
    }
    match ev.kind {
        EventKind::RoleChange => {
            c.target = target.cloned();
            c.role = text(v, &["debugContext", "debugData", "privilegeGranted"])
                .or_else(|| text(v, &["debugContext", "debugData", "privilegeRevoked"]))
                .map(Cow::Borrowed)
                .or(Some(Cow::Borrowed("admin")));
        }
        EventKind::AppAuthorization => {
            // The app (or token) is the non-user target.
            c.app = v
                .get("target")
                .and_then(Value::as_array)
                .and_then(|ts| {
                    ts.iter()
                        .filter(|t| {
                            text(t, &["type"]).is_some_and(|t| !t.eq_ignore_ascii_case("user"))
                        })
                        .find_map(|t| text(t, &["displayName"]))
                })
                .or_else(|| text(v, &["debugContext", "debugData", "clientId"]))
                .map(Cow::Borrowed);
        }
        EventKind::MfaChange => {
            c.target = target.cloned();
            c.field = text(v, &["debugContext", "debugData", "factor"]).map(Cow::Borrowed);
        }
        _ => c.target = target.cloned(),
    }
}
