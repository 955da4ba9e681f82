//! Microsoft Entra ID sign-in and audit logs to kawal events, in the three
//! shapes they come in: Microsoft Graph (`signIn`, `directoryAudit`,
//! camelCase), the diagnostic-settings export through Event Hub or storage
//! (`category` + `properties`, often wrapped in `records[]`), and Log
//! Analytics rows (PascalCase columns whose nested values are JSON
//! strings). Mapping table: `docs/adapters/entra.md`.

use std::borrow::Cow;

use serde_json::Value;

use super::{AdaptError, Batch, Format, country, event, lower, not};
use crate::decode::{EventKind, Outcome};

const F: Format = Format::Entra;

/// A value of the record: borrowed from it, or parsed from a JSON string
/// column (Log Analytics), in which case its strings are copied out.
enum Node<'v> {
    B(&'v Value),
    O(Value),
}

impl<'v> Node<'v> {
    fn value(&self) -> &Value {
        match self {
            Node::B(v) => v,
            Node::O(v) => v,
        }
    }

    fn text(&self, path: &[&str]) -> Option<Cow<'v, str>> {
        match self {
            Node::B(v) => super::text(v, path).map(Cow::Borrowed),
            Node::O(v) => super::text(v, path).map(|s| Cow::Owned(s.to_owned())),
        }
    }

    fn number(&self, path: &[&str]) -> Option<f64> {
        super::number(self.value(), path)
    }
}

/// The record seen through one set of names: the Graph name of a field is
/// looked up in `properties` (export envelope), then at the top (Graph),
/// then as the Log Analytics column.
struct Rec<'v> {
    top: &'v Value,
    props: Option<&'v Value>,
}

impl<'v> Rec<'v> {
    fn get(&self, name: &str) -> Option<Node<'v>> {
        let found = self
            .props
            .and_then(|p| p.get(name))
            .or_else(|| self.top.get(name))
            .or_else(|| self.top.get(column(name).as_ref()))
            .filter(|v| !v.is_null())?;
        // Log Analytics keeps objects and arrays as JSON text.
        if let Value::String(s) = found
            && (s.starts_with('{') || s.starts_with('['))
            && let Ok(parsed) = serde_json::from_str::<Value>(s)
        {
            return Some(Node::O(parsed));
        }
        Some(Node::B(found))
    }

    fn text(&self, name: &str) -> Option<Cow<'v, str>> {
        self.get(name)?.text(&[])
    }

    fn text_in(&self, name: &str, path: &[&str]) -> Option<Cow<'v, str>> {
        self.get(name)?.text(path)
    }
}

/// The Log Analytics column of a Graph field name.
fn column(name: &str) -> Cow<'static, str> {
    Cow::Borrowed(match name {
        "ipAddress" => "IPAddress",
        "location" => "LocationDetails",
        "createdDateTime" => "TimeGenerated",
        "id" => "Id",
        "status" => "Status",
        "deviceDetail" => "DeviceDetail",
        "userPrincipalName" => "UserPrincipalName",
        "userAgent" => "UserAgent",
        "sessionId" => "SessionId",
        "isInteractive" => "IsInteractive",
        "autonomousSystemNumber" => "AutonomousSystemNumber",
        "appDisplayName" => "AppDisplayName",
        "activityDisplayName" => "ActivityDisplayName",
        "activityDateTime" => "ActivityDateTime",
        "initiatedBy" => "InitiatedBy",
        "targetResources" => "TargetResources",
        "correlationId" => "CorrelationId",
        other => {
            let mut c = other.chars();
            return Cow::Owned(match c.next() {
                Some(f) => f.to_ascii_uppercase().to_string() + c.as_str(),
                None => String::new(),
            });
        }
    })
}

/// What a record is, by its category (export), `Type` (Log Analytics) or
/// fields (Graph).
#[derive(Clone, Copy, PartialEq, Debug)]
enum Log {
    SignIn {
        interactive: Option<bool>,
    },
    Audit,
    /// Service principal and managed identity sign-ins: no person.
    NoUser(&'static str),
}

fn log_of(v: &Value, rec: &Rec<'_>) -> Option<Log> {
    let cat = super::text(v, &["category"]).or_else(|| super::text(v, &["Type"]));
    let interactive = rec.get("isInteractive").and_then(|n| match n.value() {
        Value::Bool(b) => Some(*b),
        Value::String(s) => s.parse().ok(),
        _ => None,
    });
    Some(match cat.map(|c| c.to_ascii_lowercase()) {
        Some(c) if c == "auditlogs" => Log::Audit,
        Some(c) if c == "signinlogs" => Log::SignIn {
            interactive: interactive.or(Some(true)),
        },
        Some(c) if c.contains("noninteractiveusersignin") => Log::SignIn {
            interactive: Some(false),
        },
        Some(c) if c.contains("serviceprincipalsignin") => Log::NoUser("service_principal_sign_in"),
        Some(c) if c.contains("managedidentitysignin") => Log::NoUser("managed_identity_sign_in"),
        Some(_) => return None,
        None if rec.get("activityDisplayName").is_some() => Log::Audit,
        None if rec.get("userPrincipalName").is_some() && rec.get("status").is_some() => {
            Log::SignIn { interactive }
        }
        None => return None,
    })
}

pub fn record<'v>(v: &'v Value, out: &mut Batch<'v>) -> Result<(), AdaptError> {
    if !v.is_object() {
        return Err(not(F, "not a JSON object"));
    }
    let rec = Rec {
        top: v,
        props: v.get("properties").filter(|p| p.is_object()),
    };
    match log_of(v, &rec) {
        Some(Log::SignIn { interactive }) => sign_in(v, &rec, interactive, out),
        Some(Log::Audit) => audit(v, &rec, out),
        Some(Log::NoUser(t)) => {
            out.skip(t);
            Ok(())
        }
        None => match super::text(v, &["category"]).or_else(|| super::text(v, &["Type"])) {
            Some(c) => {
                out.skip(c);
                Ok(())
            }
            None => Err(not(F, "neither a sign-in nor an audit record")),
        },
    }
}

/// Sign-in error codes that interrupt a sign-in which then goes on (Entra
/// ID's "authentication and authorization error codes"): asking for the
/// second factor (50074, 50076), for registration (50072, 50079), "stay
/// signed in?" (50140), device authentication (50097, 50129), an expired
/// flow or silent SSO that must become interactive (50058, 50089), seamless
/// SSO (81010, 81012), consent (65001) and account selection (16000,
/// 16001). They are neither successes nor failed guesses of a password.
const INTERRUPTS: [u64; 15] = [
    16000, 16001, 50058, 50072, 50074, 50076, 50079, 50089, 50097, 50125, 50129, 50140, 65001,
    81010, 81012,
];

fn sign_in<'v>(
    v: &'v Value,
    rec: &Rec<'v>,
    interactive: Option<bool>,
    out: &mut Batch<'v>,
) -> Result<(), AdaptError> {
    let time = time(v, rec, "createdDateTime").ok_or(not(F, "no sign-in time"))?;
    let id = rec.text("id").ok_or(not(F, "no sign-in id"))?;
    let Some(account) = rec.text("userPrincipalName").map(lower_cow) else {
        out.skip("sign_in_without_user");
        return Ok(());
    };
    let code = rec
        .get("status")
        .and_then(|s| s.number(&["errorCode"]))
        .or_else(|| super::number(v, &["resultType"]))
        .or_else(|| super::number(v, &["ResultType"]))
        .map(|c| c as u64);
    let outcome = match code {
        Some(0) => Outcome::Success,
        Some(c) if INTERRUPTS.contains(&c) => {
            out.skip("sign_in_interrupted");
            return Ok(());
        }
        Some(_) => Outcome::Failure,
        None => return Err(not(F, "sign-in without a status")),
    };
    let mut ev = event(id, time, account.clone(), EventKind::Login);
    if interactive == Some(false) {
        // A token refreshed by an app without the user: activity of an
        // existing session, not a sign-in. Its network is still evidence
        // (a replayed refresh token is how a stolen session shows here).
        if outcome == Outcome::Failure {
            out.skip("non_interactive_sign_in_failure");
            return Ok(());
        }
        ev = super::other(ev, "session_refresh");
    }
    ev.actor = Some(account);
    ev.outcome = Some(outcome);
    ev.source.ip = rec.text("ipAddress");
    if let Some(loc) = rec.get("location").filter(|l| l.value().is_object()) {
        ev.source.country = loc
            .text(&["countryOrRegion"])
            .and_then(|c| country(&c))
            .map(Cow::Borrowed);
        ev.source.city = loc.text(&["city"]);
        ev.source.lat = loc.number(&["geoCoordinates", "latitude"]);
        ev.source.lon = loc.number(&["geoCoordinates", "longitude"]);
    }
    ev.source.asn = rec
        .get("autonomousSystemNumber")
        .and_then(|n| n.number(&[]))
        .filter(|a| *a > 0.0 && a.fract() == 0.0)
        .map(|a| a as u64);
    ev.device.id = rec
        .text_in("deviceDetail", &["deviceId"])
        .filter(|d| d != "00000000-0000-0000-0000-000000000000");
    ev.device.user_agent = rec.text("userAgent");
    ev.device.session = rec.text("sessionId");
    super::push(out, ev);
    Ok(())
}

/// Audit activities kawal maps, by `activityDisplayName`.
fn audit_map(activity: &str) -> Option<(EventKind, &'static str, bool)> {
    use EventKind::*;
    // (kind, change.action, whether it is done to another user)
    Some(match activity {
        "User registered security info" | "User registered all required security info" => {
            (MfaChange, "add_method", false)
        }
        "User deleted security info" => (MfaChange, "remove_method", false),
        "Admin registered security info" => (MfaChange, "add_method", true),
        "Admin deleted security info" => (MfaChange, "remove_method", true),
        "Change user password" | "Change password (self-service)" => (PasswordChange, "", false),
        "Reset password (self-service)" => (PasswordReset, "", false),
        "Reset user password" | "Reset password (by admin)" => (PasswordReset, "", true),
        "Add member to role" | "Add eligible member to role" => (RoleChange, "grant", true),
        "Remove member from role" | "Remove eligible member from role" => {
            (RoleChange, "revoke", true)
        }
        "Consent to application" => (AppAuthorization, "grant", false),
        _ => return None,
    })
}

fn audit<'v>(v: &'v Value, rec: &Rec<'v>, out: &mut Batch<'v>) -> Result<(), AdaptError> {
    let activity = rec
        .text("activityDisplayName")
        .or_else(|| rec.text("operationName"))
        .ok_or(not(F, "audit record without an activity"))?;
    let time = time(v, rec, "activityDateTime").ok_or(not(F, "no audit time"))?;
    let id = rec.text("id").ok_or(not(F, "no audit id"))?;
    let Some((kind, action, to_other)) = audit_map(&activity) else {
        out.skip(activity);
        return Ok(());
    };
    let by = rec.get("initiatedBy");
    let by_user = by
        .as_ref()
        .and_then(|b| b.text(&["user", "userPrincipalName"]))
        .map(lower_cow);
    let by_app = by.as_ref().and_then(|b| b.text(&["app", "displayName"]));
    let targets = rec.get("targetResources");
    let target_user = targets.as_ref().and_then(|t| target_of(t, "User"));
    // A change by an app (self-service flows) belongs to the user it
    // changed.
    let Some(account) = by_user.clone().or_else(|| target_user.clone()) else {
        out.skip(activity);
        return Ok(());
    };
    let mut ev = event(id, time, account, kind);
    ev.actor = by_user.or(by_app);
    let result = rec.text("result").and_then(|r| super::outcome_word(&r));
    ev.outcome = result;
    ev.source.ip = by
        .as_ref()
        .and_then(|b| b.text(&["user", "ipAddress"]))
        .or_else(|| super::text(v, &["callerIpAddress"]).map(Cow::Borrowed));
    if !action.is_empty() {
        ev.change.action = Some(Cow::Borrowed(action));
    }
    match kind {
        EventKind::RoleChange => {
            ev.change.target = target_user.clone();
            ev.change.role = targets
                .as_ref()
                .and_then(|t| role_of(t))
                .or(Some(Cow::Borrowed("directory role")));
        }
        EventKind::AppAuthorization => {
            ev.change.app = targets.as_ref().and_then(|t| {
                t.text(&[]).or_else(|| match t.value() {
                    Value::Array(a) => a
                        .iter()
                        .find_map(|r| super::text(r, &["displayName"]))
                        .map(|s| Cow::Owned(s.to_owned())),
                    _ => None,
                })
            });
        }
        _ if to_other => ev.change.target = target_user.clone(),
        _ => {}
    }
    super::push_both(out, ev, target_user.filter(|_| to_other));
    Ok(())
}

/// The userPrincipalName of the first target of `kind`.
fn target_of<'v>(targets: &Node<'v>, kind: &str) -> Option<Cow<'v, str>> {
    let Value::Array(items) = targets.value() else {
        return None;
    };
    let i = items
        .iter()
        .position(|t| super::text(t, &["type"]).is_some_and(|t| t.eq_ignore_ascii_case(kind)))?;
    let path = ["userPrincipalName"];
    match targets {
        Node::B(Value::Array(a)) => super::text(&a[i], &path).map(lower),
        _ => super::text(&items[i], &path).map(|s| Cow::Owned(s.to_ascii_lowercase())),
    }
}

/// The role a role change names: the `Role.DisplayName` modified property
/// (its values are JSON-quoted) or a `Role` target.
fn role_of<'v>(targets: &Node<'v>) -> Option<Cow<'v, str>> {
    let Value::Array(items) = targets.value() else {
        return None;
    };
    for t in items {
        if super::text(t, &["type"]).is_some_and(|k| k.eq_ignore_ascii_case("role"))
            && let Some(n) = super::text(t, &["displayName"])
        {
            return Some(Cow::Owned(n.to_owned()));
        }
        let props = t.get("modifiedProperties").and_then(Value::as_array);
        for p in props.into_iter().flatten() {
            if super::text(p, &["displayName"]) == Some("Role.DisplayName")
                && let Some(n) = super::text(p, &["newValue"])
            {
                return Some(Cow::Owned(n.trim_matches('"').to_owned()));
            }
        }
    }
    None
}

fn time(v: &Value, rec: &Rec<'_>, name: &str) -> Option<crate::time::Millis> {
    rec.get(name)
        .and_then(|n| super::time_of(n.value()))
        .or_else(|| v.get("time").and_then(super::time_of))
        .or_else(|| v.get("TimeGenerated").and_then(super::time_of))
}

fn lower_cow(s: Cow<'_, str>) -> Cow<'_, str> {
    match s {
        Cow::Borrowed(b) => lower(b),
        Cow::Owned(o) => Cow::Owned(o.to_ascii_lowercase()),
    }
}
