//! Attack style `foreign_phishing`: phished credentials used from a residential network abroad (or at
//! home): password and recovery phone changed, profile defaced, posts.

use super::{Attack, Trail};
use crate::sim::Rng;
use crate::sim::people::*;

pub(crate) fn run(a: &Attack<'_>, tr: &mut Trail, rng: &mut Rng, out: &mut Out) {
    let at = tr.step(rng, 0, 10);
    let e = Ev {
        kind: "login",
        actor: Some(&a.victim.actor),
        outcome: Some("success"),
        device: Some(&a.device),
        ..a.via_home(rng)
    };
    tr.emit(out, a.acct, at, &e);
    let at = tr.step(rng, 60, 480);
    let e = Ev {
        kind: "password_change",
        actor: Some(&a.victim.actor),
        device: Some(&a.device),
        ..a.via_home(rng)
    };
    tr.emit(out, a.acct, at, &e);
    let at = tr.step(rng, 30, 300);
    let e = Ev {
        kind: "recovery_change",
        actor: Some(&a.victim.actor),
        device: Some(&a.device),
        change: vec![("field", "phone".into())],
        ..a.via_home(rng)
    };
    tr.emit(out, a.acct, at, &e);
    for field in ["display_name", "avatar"] {
        let at = tr.step(rng, 30, 400);
        let e = Ev {
            kind: "profile_change",
            actor: Some(&a.victim.actor),
            device: Some(&a.device),
            change: vec![("field", field.into())],
            ..a.via_home(rng)
        };
        tr.emit(out, a.acct, at, &e);
    }
    let base = Ev {
        actor: Some(&a.victim.actor),
        device: Some(&a.device),
        post_client: Some("X Web App"),
        ..a.via_home(rng)
    };
    tr.posts(a, out, rng, base, (2, 6));
}
