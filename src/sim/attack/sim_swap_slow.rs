//! Attack style `sim_swap_slow`: same country, a mobile carrier, a new phone: a password reset through
//! the recovery phone, lock-out, then activity a day or two later.

use super::{Attack, Trail};
use crate::sim::Rng;
use crate::sim::people::*;

pub(crate) fn run(a: &Attack<'_>, tr: &mut Trail, rng: &mut Rng, out: &mut Out) {
    // Same country, a mobile carrier, a new phone: reset, lock-out,
    // then activity a day or two later.
    let carrier = *rng.pick(a.acct.country.mobile);
    let c = a.acct.country.cities[rng.below(a.acct.country.cities.len() as u64) as usize];
    let phone = new_device(rng, true);
    let ctx = |rng: &mut Rng| Ev {
        ip: Some(ip_in(carrier, 230 + rng.below(5) as u32, rng.below(250))),
        city: Some(c),
        net: Some(carrier),
        accuracy_km: Some(200.0),
        ..Default::default()
    };
    let at = tr.step(rng, 0, 10);
    let e = Ev {
        kind: "password_reset",
        actor: Some(&a.victim.actor),
        device: Some(&phone),
        ..ctx(rng)
    };
    tr.emit(out, a.acct, at, &e);
    let at = tr.step(rng, 30, 200);
    let e = Ev {
        kind: "login",
        actor: Some(&a.victim.actor),
        outcome: Some("success"),
        device: Some(&phone),
        ..ctx(rng)
    };
    tr.emit(out, a.acct, at, &e);
    let at = tr.step(rng, 60, 600);
    let e = Ev {
        kind: "recovery_change",
        actor: Some(&a.victim.actor),
        device: Some(&phone),
        change: vec![("field", "phone".into())],
        ..ctx(rng)
    };
    tr.emit(out, a.acct, at, &e);
    let at = tr.step(rng, 60, 600);
    let e = Ev {
        kind: "mfa_change",
        actor: Some(&a.victim.actor),
        device: Some(&phone),
        change: vec![("action", "remove_method".into())],
        ..ctx(rng)
    };
    tr.emit(out, a.acct, at, &e);
    tr.step(rng, 20 * 3600, 44 * 3600);
    let at = tr.step(rng, 0, 60);
    let e = Ev {
        kind: "profile_change",
        actor: Some(&a.victim.actor),
        device: Some(&phone),
        change: vec![("field", "handle".into())],
        ..ctx(rng)
    };
    tr.emit(out, a.acct, at, &e);
    let base = Ev {
        actor: Some(&a.victim.actor),
        device: Some(&phone),
        post_client: Some("X for iPhone"),
        ..ctx(rng)
    };
    tr.posts(a, out, rng, base, (3, 8));
}
