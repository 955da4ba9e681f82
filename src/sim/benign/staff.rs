//! Staff come and go: an established admin grants a newcomer a role from
//! the office, and sometimes revokes someone who left.

use super::Today;
use crate::sim::Rng;
use crate::sim::people::{Account, Ev, Out, new_staff, role_grant};
use crate::time::MINUTE;

pub(crate) struct Plan {
    next_onboarding: u32,
}

impl Plan {
    pub(crate) fn new(rng: &mut Rng) -> Plan {
        Plan {
            next_onboarding: rng.exp(90.0) as u32 + 5,
        }
    }
}

/// The admin who acts for the account: the first active admin, else
/// (the admins have all left) the first active member of staff. Until
/// 2026-11-28 it fell back to the first member of staff, who could have
/// left and then went on changing the profile.
pub(crate) fn admin(acct: &Account) -> usize {
    acct.staff
        .iter()
        .position(|s| s.admin && s.left.is_none())
        .or_else(|| acct.staff.iter().position(|s| s.left.is_none()))
        .unwrap_or(0)
}

pub(crate) fn day(acct: &mut Account, plan: &mut Plan, d: Today, rng: &mut Rng, out: &mut Out) {
    if d.day != plan.next_onboarding {
        return;
    }
    plan.next_onboarding = d.day + 30 + rng.exp(90.0) as u32;
    let admin = acct.staff[admin(acct)].clone();
    let n = acct.staff.len();
    let newcomer = new_staff(rng, acct.country, acct.office_city, d.day + 1, n);
    let at = d.at(acct, 9.0 + rng.f64() * 6.0);
    let place = acct.office(rng);
    let role = if rng.chance(0.2) { "admin" } else { "editor" };
    let grant = Ev {
        change: role_grant(&newcomer.actor, role),
        ..Ev::from("role_change", &admin.actor, &admin.laptop, &place)
    };
    out.emit(acct, at, &grant);
    acct.staff.push(newcomer);
    // Sometimes someone leaves.
    if rng.chance(0.3) && acct.staff.len() > 3 {
        let leaver = 1 + rng.below((acct.staff.len() - 2) as u64) as usize;
        if acct.staff[leaver].left.is_none() {
            acct.staff[leaver].left = Some(d.day);
            let target = acct.staff[leaver].actor.clone();
            let revoke = Ev {
                change: vec![("action", "revoke".into()), ("target", target)],
                ..Ev::from("role_change", &admin.actor, &admin.laptop, &place)
            };
            out.emit(acct, at + 20 * MINUTE, &revoke);
        }
    }
}
