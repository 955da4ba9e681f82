//! Recovery steps: what the person on call should do, from the evidence.
//!
//! Each piece of case evidence keeps its *subject*, the concrete value it
//! is about (the device id, the network, the actor granted a role, the
//! app, the link domain), and the subject's baseline key. An alert's steps
//! are a pure function of its case's evidence: the same alert always
//! carries the same steps, and every step names what the evidence named
//! (who, which app, which device, since when). The plan follows the usual
//! order of an account recovery: confirm, contain (sessions, password,
//! two-factor, recovery contact), remove what the intruder added (roles,
//! apps), restore what was taken (admins, profile), clean up (posts), and
//! tell the platform.
//!
//! Steps are advice, not automation: kawal never acts on an account.

use std::fmt::Write;

use serde::{Deserialize, Serialize};

use super::budget::{MAX_QUOTED, capped};
use super::score::{Case, CaseSignal, Severity};
use super::signals::{Access, Hit, Sig, url_host};
use super::state::AccountState;
use crate::decode::{Event, NO_COUNTRY};
use crate::hash::{key32, key32_ignore_case};
use crate::time::rfc3339;

/// One recommended step. `action` is a stable name integrations can
/// match on; `text` says it for a person, with the evidence's names.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Step {
    pub action: String,
    pub text: String,
}

/// Writes the subject of hit `h` on event `ev` into `out` (cleared first)
/// and returns its baseline key (0: none). Every string is capped.
pub fn subject(h: &Hit, ev: &Event<'_>, acc: &Access, st: &AccountState, out: &mut String) -> u32 {
    out.clear();
    let mut put = |s: Option<&str>| {
        if let Some(s) = s {
            out.push_str(&capped(s, MAX_QUOTED));
        }
    };
    match h.sig {
        Sig::NewCountry => {
            if acc.country != NO_COUNTRY {
                let cc = crate::decode::country_str(acc.country);
                put(std::str::from_utf8(&cc).ok());
                return super::state::country_key(acc.country);
            }
            0
        }
        Sig::NewNetwork | Sig::HostingNetwork => {
            match (ev.source.asn, ev.source.as_org.as_deref()) {
                (Some(a), Some(o)) => {
                    let _ = write!(out, "AS{a} {}", capped(o, MAX_QUOTED));
                }
                (Some(a), None) => {
                    let _ = write!(out, "AS{a}");
                }
                (None, o) => put(o),
            }
            acc.network
        }
        Sig::NewIpRange | Sig::KnownNetwork => {
            put(ev.source.ip.as_deref());
            acc.ip_range
        }
        Sig::NewDevice | Sig::KnownDevice => {
            put(ev.device.id.as_deref());
            acc.device
        }
        Sig::SessionWithoutSignIn | Sig::SessionMoved => {
            // The device whose session was replayed (its network is in
            // the access keys, which feedback teaches).
            put(ev.device.id.as_deref().or(ev.device.session.as_deref()));
            0
        }
        Sig::NewUserAgent | Sig::AutomationUserAgent => {
            put(ev.device.user_agent.as_deref());
            acc.agent
        }
        Sig::NewActor | Sig::ImpossibleTravel | Sig::RoleGrantedByNewActor => {
            put(ev.actor.as_deref());
            acc.actor
        }
        Sig::NewPostClient | Sig::PostsViaNewApp => {
            let client = ev.post.as_ref().and_then(|p| p.client.as_deref());
            put(client);
            client.map_or(0, key32_ignore_case)
        }
        Sig::NewLinkDomain => {
            // The first linked host the account never linked (as the
            // detail names it).
            let host = ev.post.as_ref().and_then(|p| {
                p.links
                    .iter()
                    .map(url_host)
                    .find(|h| !h.is_empty() && st.domains.count(key32_ignore_case(h)) == 0)
            });
            put(host);
            host.map_or(0, key32_ignore_case)
        }
        Sig::RoleGrantedToNewActor | Sig::AdminRevoked => {
            let t = ev.change.target.as_deref();
            put(t);
            t.map_or(0, key32)
        }
        Sig::AppGranted => {
            let app = ev.change.app.as_deref();
            put(app);
            app.map_or(0, key32)
        }
        Sig::RecoveryChanged | Sig::ProfileChanged => {
            put(ev.change.field.as_deref());
            0
        }
        Sig::FailedLoginBurst
        | Sig::UnusualPostHour
        | Sig::PostBurst
        | Sig::MfaDisabled
        | Sig::MfaMethodRemoved
        | Sig::PasswordReset
        | Sig::PasswordChanged
        | Sig::SecurityCluster => 0,
    }
}

/// The recovery steps for an alert of severity `sev` on `account`, from
/// its case's evidence.
pub fn steps(account: &str, case: &Case, sev: Severity) -> Vec<Step> {
    let mut plan = Plan {
        steps: Vec::with_capacity(8),
    };
    let ev = Evidence { case };
    let t = |at| rfc3339(at);

    if sev < Severity::High {
        plan.add(
            "confirm_with_owner",
            format!(
                "Ask the team that runs {account} whether the activity in this alert was theirs; if it was not, treat it as a takeover and follow the remaining steps now"
            ),
        );
    }

    // Contain: end the intruder's sessions and take back the credentials.
    let device = ev.subject(&[Sig::NewDevice]);
    let network = ev.subject(&[Sig::HostingNetwork, Sig::NewNetwork]);
    let mut text = format!("Sign out every session of {account} and revoke its access tokens");
    if let Some((d, at)) = device.filter(|(d, _)| !d.is_empty()) {
        let _ = write!(text, ", including device {d} (used at {})", t(at));
    }
    if let Some((n, _)) = network.filter(|(n, _)| !n.is_empty()) {
        let _ = write!(text, "; sign-ins came through {n}");
    }
    plan.add("sign_out_sessions", text);
    if let Some((d, at)) = ev
        .subject(&[Sig::SessionMoved, Sig::SessionWithoutSignIn])
        .filter(|(d, _)| !d.is_empty())
    {
        plan.add(
            "check_device_for_malware",
            format!(
                "A session of {d} was used at {} from a network where it never signed in: its cookies or tokens were copied. Check {d} for an infostealer and clear its browser sessions before it signs in again",
                t(at)
            ),
        );
    }

    // A reset through recovery, then two-factor or the recovery phone
    // changed: how a SIM swap takes an account, and how a person who lost
    // a phone gets back in. The events cannot tell the two apart (on
    // kawal's simulation the lost phones were half the false pages at
    // high); the person can, reached on another channel than the number.
    // Only changes at or after the reset count, as the step says: a
    // recovery phone updated days before a reset is no part of one.
    if let Some((_, at)) = ev.any(Sig::PasswordReset)
        && ev.since(at, |s| match s.sig {
            Sig::MfaDisabled | Sig::MfaMethodRemoved => true,
            // A sequence copy names no field.
            Sig::RecoveryChanged => !s.sequence && (s.subject.is_empty() || s.subject == "phone"),
            _ => false,
        })
    {
        plan.add(
            "verify_phone_number",
            format!(
                "The password was reset through recovery at {} and two-factor or the recovery phone changed after it: a SIM swap does this, and so does someone who lost their phone. Reach the person in person or on a channel other than their phone number; if it was not them, ask their carrier whether the number was moved to a new SIM",
                t(at)
            ),
        );
    }

    let mut text = String::from("Reset the password from a device the team has used before");
    if let Some((d, _)) = device.filter(|(d, _)| !d.is_empty()) {
        let _ = write!(text, " (not {d})");
    }
    if let Some((_, at)) = ev.first(&[Sig::PasswordReset, Sig::PasswordChanged]) {
        let _ = write!(text, "; the password was changed at {}", t(at));
    }
    plan.add("reset_password", text);

    if let Some((_, at)) = ev.first(&[Sig::MfaDisabled, Sig::MfaMethodRemoved]) {
        plan.add(
            "reenable_two_factor",
            format!(
                "Re-enable two-factor authentication (changed at {}) and remove every method the team does not hold",
                t(at)
            ),
        );
    }
    if let Some((field, at)) = ev.any(Sig::RecoveryChanged) {
        let what = if field.is_empty() { "contact" } else { field };
        plan.add(
            "undo_recovery_change",
            format!(
                "Restore the recovery {what} changed at {} to one the agency controls",
                t(at)
            ),
        );
    }

    // Remove what the intruder added.
    if let Some((who, at)) = ev.subject(&[Sig::RoleGrantedToNewActor]) {
        plan.add(
            "revoke_role",
            format!(
                "Revoke the role granted to {} at {}",
                or(who, "the new actor"),
                t(at)
            ),
        );
    }
    if let Some((who, at)) = ev.subject(&[Sig::RoleGrantedByNewActor]) {
        plan.add(
            "review_actor",
            format!(
                "Check who {} is: they granted a role at {} without being an established admin; remove their access if the team does not know them",
                or(who, "the granting actor"),
                t(at)
            ),
        );
    }
    if let Some((app, at)) = ev.subject(&[Sig::AppGranted, Sig::PostsViaNewApp]) {
        plan.add(
            "remove_app",
            format!(
                "Remove the third-party app {} (granted or first used at {}) and revoke its tokens",
                or(app, "named in the evidence"),
                t(at)
            ),
        );
    }

    // Restore what was taken.
    if let Some((who, at)) = ev.subject(&[Sig::AdminRevoked]) {
        plan.add(
            "restore_admin",
            format!(
                "Restore the access of {}, revoked at {}",
                or(who, "the revoked admin"),
                t(at)
            ),
        );
    }
    if let Some((field, at)) = ev.any(Sig::ProfileChanged) {
        let what = if field.is_empty() { "details" } else { field };
        plan.add(
            "restore_profile",
            format!("Restore the profile {what} changed at {}", t(at)),
        );
    }

    // Clean up what was published.
    const POSTING: [Sig; 5] = [
        Sig::PostBurst,
        Sig::NewLinkDomain,
        Sig::UnusualPostHour,
        Sig::NewPostClient,
        Sig::PostsViaNewApp,
    ];
    if let Some((_, at)) = ev.first(&POSTING) {
        let mut text = format!(
            "Review the posts published since {} and delete those the team did not write",
            t(at)
        );
        if let Some((host, _)) = ev
            .subject(&[Sig::NewLinkDomain])
            .filter(|(h, _)| !h.is_empty())
        {
            let _ = write!(text, ", starting with those linking to {host}");
        }
        plan.add("review_posts", text);
    }

    if sev >= Severity::High {
        let via = match platform(account) {
            Some(p) => format!("{p}'s"),
            None => "the platform's".to_string(),
        };
        plan.add(
            "contact_platform",
            format!(
                "Report the incident through {via} official channel for government accounts, and warn the public on the agency's other channels if anything was published"
            ),
        );
    }
    plan.steps
}

/// The platform of a `platform:handle` account id (EVENTS.md), named as
/// its owner names it when the prefix is a common one.
fn platform(account: &str) -> Option<String> {
    let (p, _) = account.split_once(':')?;
    let name = match p.to_ascii_lowercase().as_str() {
        "x" | "twitter" => "X",
        "fb" | "facebook" => "Facebook",
        "ig" | "instagram" => "Instagram",
        "yt" | "youtube" => "YouTube",
        "tt" | "tiktok" => "TikTok",
        "li" | "linkedin" => "LinkedIn",
        "th" | "threads" => "Threads",
        "" => return None,
        _ => return Some(format!("the {p} platform")),
    };
    Some(name.to_string())
}

struct Plan {
    steps: Vec<Step>,
}

impl Plan {
    fn add(&mut self, action: &str, text: String) {
        self.steps.push(Step {
            action: action.to_string(),
            text,
        });
    }
}

/// Lookups over a case's evidence.
struct Evidence<'a> {
    case: &'a Case,
}

impl<'a> Evidence<'a> {
    /// The earliest evidence of any of `sigs` (sequence copies count).
    fn first(&self, sigs: &[Sig]) -> Option<(&'a str, i64)> {
        self.case
            .signals
            .iter()
            .filter(|s| sigs.contains(&s.sig))
            .min_by_key(|s| s.at)
            .map(|s| (s.subject.as_str(), s.at))
    }

    /// Whether evidence at or after `at` is of a kind `wanted` accepts.
    fn since(&self, at: i64, wanted: impl Fn(&CaseSignal) -> bool) -> bool {
        self.case.signals.iter().any(|s| s.at >= at && wanted(s))
    }

    /// The earliest evidence of `sig` itself (not its sequence copy, whose
    /// subject is empty).
    fn any(&self, sig: Sig) -> Option<(&'a str, i64)> {
        self.case
            .signals
            .iter()
            .filter(|s| s.sig == sig && !s.sequence)
            .min_by_key(|s| s.at)
            .map(|s| (s.subject.as_str(), s.at))
    }

    /// The strongest evidence of any of `sigs`, preferring one that names
    /// its subject (evidence restored from a format-1 state names none).
    fn subject(&self, sigs: &[Sig]) -> Option<(&'a str, i64)> {
        self.case
            .signals
            .iter()
            .filter(|s| sigs.contains(&s.sig) && !s.sequence)
            .max_by(|a, b| {
                (!a.subject.is_empty(), a.contribution)
                    .partial_cmp(&(!b.subject.is_empty(), b.contribution))
                    .unwrap_or(std::cmp::Ordering::Equal)
            })
            .map(|s| (s.subject.as_str(), s.at))
    }
}

/// `s`, or `unnamed` when the evidence did not name it.
fn or<'a>(s: &'a str, unnamed: &'a str) -> &'a str {
    if s.is_empty() { unnamed } else { s }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::time::MINUTE;

    fn evidence(sig: Sig, at: i64, subject: &str) -> CaseSignal {
        CaseSignal::bare(sig, 2.0, at, subject)
    }

    fn has_verify(signals: Vec<CaseSignal>) -> bool {
        let mut case = Case::new(1, 0);
        case.signals = signals;
        steps("x:acct", &case, Severity::High)
            .iter()
            .any(|s| s.action == "verify_phone_number")
    }

    /// The step says "changed after it": a phone's factors changed after a
    /// reset ask for it, the same changes before the reset do not, and a
    /// recovery email is no phone.
    #[test]
    fn verify_phone_number_needs_a_phone_change_after_the_reset() {
        let reset = evidence(Sig::PasswordReset, 10 * MINUTE, "");
        for (sig, subject) in [
            (Sig::MfaMethodRemoved, ""),
            (Sig::MfaDisabled, ""),
            (Sig::RecoveryChanged, "phone"),
        ] {
            let after = evidence(sig, 20 * MINUTE, subject);
            let before = evidence(sig, 5 * MINUTE, subject);
            assert!(has_verify(vec![reset.clone(), after]), "{sig:?} after");
            assert!(!has_verify(vec![before, reset.clone()]), "{sig:?} before");
        }
        let email = evidence(Sig::RecoveryChanged, 20 * MINUTE, "email");
        assert!(!has_verify(vec![reset.clone(), email]));
        let alone = evidence(Sig::MfaMethodRemoved, 20 * MINUTE, "");
        assert!(!has_verify(vec![alone]));
    }
}
