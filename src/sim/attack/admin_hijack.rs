//! Attack style `admin_hijack`: an admin's credentials used from a new context to hand the account to
//! outsiders and lock the staff out.

use super::{Attack, Trail};
use crate::sim::Rng;
use crate::sim::people::*;

pub(crate) fn run(a: &Attack<'_>, tr: &mut Trail, rng: &mut Rng, out: &mut Out) {
    // admin_hijack: an admin's credentials used from a new context
    // to hand the account to outsiders and lock the staff out.
    let admin = a
        .acct
        .staff
        .iter()
        .find(|s| s.admin && s.left.is_none())
        .unwrap_or(&a.victim)
        .clone();
    let ctx = if rng.chance(0.5) {
        a.via_home(rng)
    } else {
        a.via_host(rng)
    };
    let outsider = format!(
        "ext:{}{}",
        rng.pick(&["helper", "media", "support", "ops"]),
        rng.below(1000)
    );
    let at = tr.step(rng, 0, 10);
    let e = Ev {
        kind: "login",
        actor: Some(&admin.actor),
        outcome: Some("success"),
        device: Some(&a.device),
        ..ctx.clone()
    };
    tr.emit(out, a.acct, at, &e);
    let at = tr.step(rng, 60, 600);
    let e = Ev {
        kind: "role_change",
        actor: Some(&admin.actor),
        device: Some(&a.device),
        change: vec![
            ("action", "grant".into()),
            ("target", outsider.clone()),
            ("role", "admin".into()),
        ],
        ..ctx.clone()
    };
    tr.emit(out, a.acct, at, &e);
    for s in a
        .acct
        .staff
        .iter()
        .filter(|s| s.actor != admin.actor && s.left.is_none())
        .take(2)
    {
        let at = tr.step(rng, 30, 300);
        let e = Ev {
            kind: "role_change",
            actor: Some(&outsider),
            device: Some(&a.device),
            change: vec![("action", "revoke".into()), ("target", s.actor.clone())],
            ..ctx.clone()
        };
        tr.emit(out, a.acct, at, &e);
    }
    let at = tr.step(rng, 30, 300);
    let e = Ev {
        kind: "profile_change",
        actor: Some(&outsider),
        device: Some(&a.device),
        change: vec![("field", "handle".into())],
        ..ctx.clone()
    };
    tr.emit(out, a.acct, at, &e);
}
