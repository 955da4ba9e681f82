//! Google Workspace Admin SDK Reports activities (applications `login`,
//! `user_accounts`, `admin`, `token`) to kawal events: as the API returns
//! them (`items[]`, each with an `events` array) or one activity per line
//! (with `events` an array or, as some exporters write it, one object).
//! Mapping table: `docs/adapters/google_workspace.md`.

use std::borrow::Cow;

use serde_json::Value;

use super::{AdaptError, Batch, Format, at, country, event, integer, lower, not, text};
use crate::decode::{EventKind, Outcome};

const F: Format = Format::GoogleWorkspace;

/// What an activity's event name becomes: kind, `change.action` or
/// `change.field`, and whether it is done to the user named by the
/// `USER_EMAIL` parameter (an admin's action).
fn map(app: &str, name: &str) -> Option<(EventKind, &'static str, bool)> {
    use EventKind::*;
    Some(match (app, name) {
        ("login", "login_success") | ("login", "login_failure") => (Login, "", false),
        ("login", "logout") => (Logout, "", false),
        ("user_accounts", "2sv_enroll") => (MfaChange, "enable", false),
        ("user_accounts", "2sv_disable") => (MfaChange, "disable", false),
        ("user_accounts", "titanium_enroll") => (MfaChange, "add_method", false),
        ("user_accounts", "titanium_unenroll") => (MfaChange, "remove_method", false),
        ("user_accounts", "password_change") => (PasswordChange, "", false),
        ("user_accounts", "recovery_email_edit") => (RecoveryChange, "email", false),
        ("user_accounts", "recovery_phone_edit") => (RecoveryChange, "phone", false),
        ("admin", "ASSIGN_ROLE") | ("admin", "GRANT_ADMIN_PRIVILEGE") => {
            (RoleChange, "grant", true)
        }
        ("admin", "UNASSIGN_ROLE") | ("admin", "REVOKE_ADMIN_PRIVILEGE") => {
            (RoleChange, "revoke", true)
        }
        ("admin", "CHANGE_PASSWORD") => (PasswordReset, "", true),
        ("admin", "CHANGE_RECOVERY_EMAIL") => (RecoveryChange, "email", true),
        ("admin", "CHANGE_RECOVERY_PHONE") => (RecoveryChange, "phone", true),
        ("token", "authorize") => (AppAuthorization, "grant", false),
        ("token", "revoke") => (AppAuthorization, "revoke", false),
        _ => return None,
    })
}

pub fn record<'v>(v: &'v Value, out: &mut Batch<'v>) -> Result<(), AdaptError> {
    if !v.is_object() {
        return Err(not(F, "not a JSON object"));
    }
    let app = text(v, &["id", "applicationName"]).ok_or(not(F, "no id.applicationName"))?;
    let time = at(v, &["id", "time"])
        .and_then(super::time_of)
        .ok_or(not(F, "no id.time"))?;
    // The API's id is the time and a qualifier that is unique only among
    // activities of that same time.
    let unique = match at(v, &["id", "uniqueQualifier"]) {
        Some(Value::String(s)) if !s.is_empty() => s.clone(),
        Some(Value::Number(n)) => n.to_string(),
        _ => return Err(not(F, "no id.uniqueQualifier")),
    };
    let stamp = text(v, &["id", "time"]).unwrap_or("");
    let unique = format!("{app}:{stamp}:{unique}");
    let events: Vec<&Value> = match v.get("events") {
        Some(Value::Array(a)) => a.iter().collect(),
        Some(e @ Value::Object(_)) => vec![e],
        _ => return Err(not(F, "no events")),
    };
    let account = text(v, &["actor", "email"]).map(lower);
    for (i, e) in events.iter().enumerate() {
        let name = text(e, &["name"]).unwrap_or("");
        let Some((kind, word, to_user)) = map(app, name) else {
            out.skip(format!("{app}.{name}"));
            continue;
        };
        // An activity without a person (a service account's key) has no
        // account to protect.
        let Some(account) = account.clone() else {
            out.skip(format!("{app}.{name}"));
            continue;
        };
        let id = if events.len() == 1 {
            unique.clone()
        } else {
            format!("{unique}.{i}")
        };
        let mut ev = event(id, time, account.clone(), kind);
        ev.actor = Some(account.clone());
        context(v, &mut ev);
        match kind {
            EventKind::Login => {
                ev.outcome = Some(if name == "login_failure" {
                    Outcome::Failure
                } else {
                    Outcome::Success
                });
            }
            EventKind::RecoveryChange => ev.change.field = Some(Cow::Borrowed(word)),
            EventKind::AppAuthorization => {
                ev.change.action = Some(Cow::Borrowed(word));
                ev.change.app = param(e, "app_name")
                    .or_else(|| param(e, "client_id"))
                    .map(Cow::Borrowed);
            }
            _ if !word.is_empty() => ev.change.action = Some(Cow::Borrowed(word)),
            _ => {}
        }
        if kind == EventKind::RoleChange {
            ev.change.role = param(e, "ROLE_NAME")
                .map(Cow::Borrowed)
                .or(Some(Cow::Borrowed("super admin")));
        }
        let target = to_user.then(|| param(e, "USER_EMAIL").map(lower)).flatten();
        ev.change.target = target.clone();
        super::push_both(out, ev, target);
    }
    Ok(())
}

/// The string value of the parameter called `name`.
fn param<'v>(e: &'v Value, name: &str) -> Option<&'v str> {
    e.get("parameters")?
        .as_array()?
        .iter()
        .find(|p| text(p, &["name"]) == Some(name))
        .and_then(|p| text(p, &["value"]))
}

/// The network: `ipAddress`, and `networkInfo` (ASN, region) where the
/// API gives it. No geolocation: GeoIP enrichment supplies it.
fn context<'v>(v: &'v Value, ev: &mut crate::decode::Event<'v>) {
    ev.source.ip = text(v, &["ipAddress"]).map(Cow::Borrowed);
    ev.source.asn = at(v, &["networkInfo", "ipAsn"])
        .and_then(Value::as_array)
        .and_then(|a| a.first())
        .and_then(|n| integer(n, &[]));
    ev.source.country = text(v, &["networkInfo", "regionCode"])
        .and_then(country)
        .map(Cow::Borrowed);
}
