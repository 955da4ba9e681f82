//! OCSF 1.x Identity & Access Management events to kawal events:
//! Authentication (3002), Account Change (3001), Authorize Session (3003)
//! and User Access Management (3005). This also reads CloudTrail through
//! Amazon Security Lake and whatever a pipeline (Cribl, Datadog, Bento)
//! normalises to OCSF. Mapping table: `docs/adapters/ocsf.md`.

use std::borrow::Cow;

use serde_json::Value;

use super::{AdaptError, Batch, Format, at, country, event, integer, lower, not, number, text};
use crate::decode::{EventKind, Outcome};

const F: Format = Format::Ocsf;

/// (kind, change.action) of a class and activity.
fn map(class: u64, activity: u64) -> Option<(EventKind, &'static str)> {
    use EventKind::*;
    Some(match (class, activity) {
        (3002, 1) => (Login, ""),
        (3002, 2) => (Logout, ""),
        (3001, 3) => (PasswordChange, ""),
        (3001, 4) => (PasswordReset, ""),
        (3001, 10) => (MfaChange, "add_method"),
        (3001, 11) => (MfaChange, "remove_method"),
        // Privileges given to a session (a Windows special logon, an
        // assumed role): activity of that session, scored for its access.
        (3003, 1) | (3003, 2) => (Other, ""),
        (3005, 1) => (RoleChange, "grant"),
        (3005, 2) => (RoleChange, "revoke"),
        _ => return None,
    })
}

pub fn record<'v>(v: &'v Value, out: &mut Batch<'v>) -> Result<(), AdaptError> {
    if !v.is_object() {
        return Err(not(F, "not a JSON object"));
    }
    let class = integer(v, &["class_uid"]).ok_or(not(F, "no class_uid"))?;
    let activity = integer(v, &["activity_id"]).unwrap_or(0);
    let Some((kind, action)) = map(class, activity) else {
        let name = text(v, &["class_name"]).unwrap_or("class");
        let act = text(v, &["activity_name"]).unwrap_or("activity");
        out.skip(format!("{class} {name}: {act}"));
        return Ok(());
    };
    let time = v
        .get("time")
        .and_then(super::time_of)
        .or_else(|| v.get("time_dt").and_then(super::time_of))
        .ok_or(not(F, "no time"))?;
    let actor = user(at(v, &["actor", "user"]));
    let subject = user(v.get("user"));
    // Authentication's `user` is who signed in; a change's is who was
    // changed, and the actor is whose session did it.
    let account = match kind {
        EventKind::Login | EventKind::Logout | EventKind::Other => {
            subject.clone().or(actor.clone())
        }
        _ => actor.clone().or(subject.clone()),
    };
    let Some(account) = account else {
        out.skip(format!("{class} without a user"));
        return Ok(());
    };
    let id: Cow<'v, str> = match text(v, &["metadata", "uid"]) {
        Some(u) => Cow::Borrowed(u),
        // No event id: one derived from what the record says, stable
        // across redeliveries of the same record.
        None => Cow::Owned(format!("ocsf-{class}-{activity}-{time}-{account}")),
    };
    let mut ev = event(id, time, account.clone(), kind);
    if kind == EventKind::Other {
        ev = super::other(ev, "authorize_session");
    }
    ev.actor = actor.clone().or(Some(account.clone()));
    ev.outcome = match integer(v, &["status_id"]) {
        Some(1) => Some(Outcome::Success),
        Some(2) => Some(Outcome::Failure),
        _ => text(v, &["status"]).and_then(super::outcome_word),
    };
    context(v, &mut ev);
    if !action.is_empty() {
        ev.change.action = Some(Cow::Borrowed(action));
    }
    let changed_other = subject.filter(|s| *s != account);
    if kind == EventKind::RoleChange {
        ev.change.role = at(v, &["privileges"])
            .and_then(Value::as_array)
            .and_then(|p| p.first())
            .and_then(Value::as_str)
            .or_else(|| text(v, &["group", "name"]))
            .map(Cow::Borrowed);
    }
    let to_target = !matches!(
        kind,
        EventKind::Login | EventKind::Logout | EventKind::Other
    );
    let target = changed_other.filter(|_| to_target);
    if target.is_some() {
        ev.change.target = target.clone();
    }
    super::push_both(out, ev, target);
    Ok(())
}

/// A user object's login: email, else name, else uid.
fn user(u: Option<&Value>) -> Option<Cow<'_, str>> {
    let u = u?;
    text(u, &["email_addr"])
        .or_else(|| text(u, &["name"]))
        .or_else(|| text(u, &["uid"]))
        .map(lower)
}

fn context<'v>(v: &'v Value, ev: &mut crate::decode::Event<'v>) {
    let s = &mut ev.source;
    if let Some(src) = v.get("src_endpoint") {
        s.ip = text(src, &["ip"]).map(Cow::Borrowed);
        s.country = text(src, &["location", "country"])
            .and_then(country)
            .map(Cow::Borrowed);
        s.city = text(src, &["location", "city"]).map(Cow::Borrowed);
        s.lat = number(src, &["location", "lat"]);
        s.lon = number(src, &["location", "long"]);
        s.asn = integer(src, &["autonomous_system", "number"]).filter(|&a| a > 0);
        s.as_org = text(src, &["autonomous_system", "name"]).map(Cow::Borrowed);
    }
    let d = &mut ev.device;
    d.id = text(v, &["device", "uid"])
        .or_else(|| text(v, &["src_endpoint", "uid"]))
        .map(Cow::Borrowed);
    d.user_agent = text(v, &["http_request", "user_agent"]).map(Cow::Borrowed);
    d.session = text(v, &["actor", "session", "uid"])
        .or_else(|| text(v, &["session", "uid"]))
        .map(Cow::Borrowed);
}
