//! Attack style `admin_hijack`: an admin's credentials used from a new context to hand the account to
//! outsiders and lock the staff out.

use super::{Attack, Trail};
use crate::sim::Rng;
use crate::sim::people::*;

/// Share of hijacks in which the outsider, once admin, makes a second
/// outsider admin too, so that one removal does not end the takeover
/// (hijackers of pages commonly add several admins). That grant is by an
/// actor nobody trusted, which `role_granted_by_new_actor` looks for. Our
/// judgement. Drawn from a stream of its own (seeded by the first grant's
/// time), so the rest of the attack's draws are as they were.
const BACKUP_ADMIN: f64 = 0.5;
const BACKUP_STREAM: u64 = 0x6261_636b_7570_6164;

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
        change: role_grant(&outsider, "admin"),
        ..ctx.clone()
    };
    tr.emit(out, a.acct, at, &e);
    let mut own = Rng::new(crate::hash::mix64(at as u64) ^ BACKUP_STREAM);
    if own.chance(BACKUP_ADMIN) {
        let backup = format!(
            "ext:{}{}",
            own.pick(&["admin", "team", "page"]),
            own.below(1000)
        );
        let at = at + own.range(20, 120) * crate::time::SECOND;
        let e = Ev {
            kind: "role_change",
            actor: Some(&outsider),
            device: Some(&a.device),
            change: role_grant(&backup, "admin"),
            ..ctx.clone()
        };
        tr.emit(out, a.acct, at, &e);
    }
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
