//! Attack style `credential_stuffing`: automated guessing through a proxy pool, then a sign-in from a hosting
//! network, two-factor disabled, the recovery email changed, scam posts.

use super::{Attack, Trail};
use crate::sim::Rng;
use crate::sim::people::*;
use crate::sim::world::*;

pub(crate) fn run(a: &Attack<'_>, tr: &mut Trail, rng: &mut Rng, out: &mut Out) {
    // Automated guessing through a proxy pool: seconds apart.
    for _ in 0..rng.range(6, 25) {
        let (c, n) = *rng.pick(ATTACK_HOSTING);
        let at = tr.step(rng, 2, 20);
        let e = Ev {
            kind: "login",
            actor: Some(&a.victim.actor),
            outcome: Some("failure"),
            ip: Some(ip_in(n, 210, rng.below(250))),
            city: Some(c),
            net: Some(n),
            accuracy_km: Some(50.0),
            device: Some(&a.bot),
            ..Default::default()
        };
        tr.emit(out, a.acct, at, &e);
    }
    let at = tr.step(rng, 5, 60);
    let e = Ev {
        kind: "login",
        actor: Some(&a.victim.actor),
        outcome: Some("success"),
        device: Some(&a.device),
        ..a.via_host(rng)
    };
    tr.emit(out, a.acct, at, &e);
    let at = tr.step(rng, 60, 400);
    let e = Ev {
        kind: "mfa_change",
        actor: Some(&a.victim.actor),
        device: Some(&a.device),
        change: vec![("action", "disable".into())],
        ..a.via_host(rng)
    };
    tr.emit(out, a.acct, at, &e);
    let at = tr.step(rng, 30, 300);
    let e = Ev {
        kind: "recovery_change",
        actor: Some(&a.victim.actor),
        device: Some(&a.device),
        change: vec![("field", "email".into())],
        ..a.via_host(rng)
    };
    tr.emit(out, a.acct, at, &e);
    let base = Ev {
        actor: Some(&a.victim.actor),
        device: Some(&a.device),
        post_client: Some("X Web App"),
        ..a.via_host(rng)
    };
    tr.posts(a, out, rng, base, (4, 12));
}
