//! Routine account upkeep: scheduled password changes, a two-factor method
//! added, the recovery email updated, profile edits, a management tool
//! authorised. Each comes from the acting person's current session.

use super::Today;
use crate::sim::Rng;
use crate::sim::people::{Account, Ev, Out};

fn active(acct: &Account, day: u32) -> Vec<usize> {
    (0..acct.staff.len())
        .filter(|&i| acct.staff[i].joined <= day && acct.staff[i].left.is_none_or(|l| l > day))
        .collect()
}

/// One change by staff member `si` from their laptop's (or phone's) session.
#[allow(clippy::too_many_arguments)]
pub(crate) fn change(
    acct: &Account,
    si: usize,
    laptop: bool,
    kind: &str,
    change: Vec<(&str, String)>,
    at: crate::time::Millis,
    day: u32,
    rng: &mut Rng,
    out: &mut Out,
) -> String {
    let s = &acct.staff[si];
    let (place, session) = acct.session_place(s, laptop, rng, day);
    let device = if laptop { &s.laptop } else { &s.phone };
    let ev = Ev {
        change,
        session,
        ..Ev::from(kind, &s.actor, device, &place)
    };
    out.emit(acct, at, &ev)
}

pub(crate) fn day(acct: &Account, d: Today, rng: &mut Rng, out: &mut Out) {
    for si in active(acct, d.day) {
        if rng.chance(1.0 / 95.0) {
            let at = d.at(acct, 10.0 + rng.f64() * 5.0);
            change(
                acct,
                si,
                true,
                "password_change",
                vec![],
                at,
                d.day,
                rng,
                out,
            );
        }
        if rng.chance(1.0 / 400.0) {
            let at = d.at(acct, 10.0 + rng.f64() * 5.0);
            let add = vec![("action", "add_method".into())];
            change(acct, si, false, "mfa_change", add, at, d.day, rng, out);
        }
    }
    let owner = super::staff::admin(acct);
    if rng.chance(1.0 / 365.0) {
        let at = d.at(acct, 10.0 + rng.f64() * 5.0);
        let field = vec![("field", "email".into())];
        change(
            acct,
            owner,
            true,
            "recovery_change",
            field,
            at,
            d.day,
            rng,
            out,
        );
    }
    if rng.chance(1.0 / 40.0) {
        let at = d.at(acct, 9.0 + rng.f64() * 7.0);
        let field = *rng.pick(&["bio", "website", "avatar", "bio", "banner"]);
        let field = vec![("field", field.into())];
        change(
            acct,
            owner,
            true,
            "profile_change",
            field,
            at,
            d.day,
            rng,
            out,
        );
    }
    if rng.chance(1.0 / 200.0) {
        let app = *rng.pick(&["Hootsuite", "Buffer", "Later", "Canva"]);
        let at = d.at(acct, 9.0 + rng.f64() * 7.0);
        let grant = vec![("action", "grant".into()), ("app", app.into())];
        change(
            acct,
            owner,
            true,
            "app_authorization",
            grant,
            at,
            d.day,
            rng,
            out,
        );
    }
}
