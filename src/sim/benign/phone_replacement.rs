//! Story `phone_replacement`: a staff member replaces a phone. Often that
//! is all (the new phone simply signs in); about half the time the
//! authenticator moves too: the new phone signs in on a familiar network
//! (the office Wi-Fi, home, sometimes the carrier), the old two-factor
//! method is removed and a new one added within minutes (or, one time in
//! four, two-factor is switched off and on again), and sometimes the
//! recovery phone is updated.

use super::{Life, Today, signins};
use crate::sim::Rng;
use crate::sim::people::{Account, Ev, Out, new_device};
use crate::time::{MINUTE, Millis, SECOND};

/// Share of authenticator moves done by switching two-factor off and on
/// (as some people move an authenticator app). Our judgement.
const OFF_AND_ON: f64 = 0.25;

pub(crate) fn day(
    acct: &mut Account,
    life: &mut Life,
    d: Today,
    rng: &mut Rng,
    later: &mut Rng,
    out: &mut Out,
    on: bool,
) {
    for si in 0..acct.staff.len() {
        let s = &acct.staff[si];
        if s.joined > d.day || s.left.is_some_and(|l| l <= d.day) || !rng.chance(1.0 / 150.0) {
            continue;
        }
        acct.staff[si].phone = new_device(rng, true);
        acct.staff[si].phone_at = None;
        if !on || !rng.chance(0.5) {
            continue;
        }
        let s = acct.staff[si].clone();
        let place = match rng.below(10) {
            0..5 => acct.office(rng),
            5..8 => acct.home(&s, rng, d.day),
            _ => acct.mobile(rng),
        };
        let mut t = d.at(acct, 8.5 + rng.f64() * 8.0);
        let start = t;
        signins::sign_in(acct, si, &s.phone, &place, t, rng, out);
        let session = acct.reported_session(&acct.staff[si].phone_at);
        let mut change = |kind: &'static str, what: Vec<(&'static str, String)>, t: Millis| {
            let ev = Ev {
                change: what,
                session: session.clone(),
                ..Ev::from(kind, &s.actor, &s.phone, &place)
            };
            out.emit(acct, t, &ev);
        };
        // Some switch two-factor off and on again rather than swap the
        // method (drawn from the later stream: see `sim::LATER_STREAM`).
        let (off, on) = if later.chance(OFF_AND_ON) {
            ("disable", "enable")
        } else {
            ("remove_method", "add_method")
        };
        t += (2 + rng.below(8)) as Millis * MINUTE;
        change("mfa_change", vec![("action", off.into())], t);
        t += (30 + rng.below(15 * 60)) as Millis * SECOND;
        change("mfa_change", vec![("action", on.into())], t);
        if rng.chance(0.3) {
            t += (1 + rng.below(20)) as Millis * MINUTE;
            change("recovery_change", vec![("field", "phone".into())], t);
        }
        life.told(acct, "phone_replacement", start, t);
        life.ended("phone_replacement");
    }
}
