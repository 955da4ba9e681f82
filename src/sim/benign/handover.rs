//! Story `handover`: the person who runs the account leaves, and a
//! successor takes it over. The outgoing admin grants the successor an
//! admin role (from the office, or from home); the successor signs in on
//! a laptop the account has never seen; a few days later the successor
//! revokes the predecessor (from the office, home or the carrier), and
//! often points the recovery email at themselves and changes the
//! password, as a departure checklist asks.
//!
//! On the wire that is an admin hijack's sequence: an admin role for a
//! new actor, then that actor removing an established admin and changing
//! the recovery. What differs is the evidence around it: the grant comes
//! from the outgoing admin's own context, and the successor works from
//! the account's places for days before the removal. Until this story no
//! benign event in the simulation revoked an established admin or gave
//! an admin role to a newcomer who then acted (`admin_revoked` and
//! `role_granted_to_new_actor` separated perfectly on our data).

use super::{Life, Today, signins, staff};
use crate::sim::Rng;
use crate::sim::people::{Account, Ev, Out, new_staff};
use crate::time::{MINUTE, Millis};

/// Chance per account and day that its lead hands over: about one
/// handover per account in two years. Our judgement, not measured:
/// communication posts in government turn over every few years, and an
/// election or a reshuffle moves several at once.
const PER_DAY: f64 = 1.0 / 730.0;

/// A handover in progress: the successor's staff index, the outgoing
/// admin's, and the day the successor removes the predecessor.
pub(crate) struct Plan {
    successor: usize,
    outgoing: usize,
    removal: u32,
    start: Millis,
}

pub(crate) fn day(
    acct: &mut Account,
    life: &mut Life,
    d: Today,
    rng: &mut Rng,
    out: &mut Out,
    days: u32,
) {
    match life.handover.take() {
        Some(plan) if plan.removal == d.day => removal(acct, life, plan, d, rng, out),
        Some(plan) => life.handover = Some(plan),
        None if d.day >= 3 && d.day + 10 < days && rng.chance(PER_DAY) => {
            life.handover = grant(acct, life, d, rng, out);
        }
        None => {}
    }
}

/// The outgoing admin grants the successor an admin role; the successor
/// signs in on a new laptop at the office within the hour.
fn grant(
    acct: &mut Account,
    life: &mut Life,
    d: Today,
    rng: &mut Rng,
    out: &mut Out,
) -> Option<Plan> {
    let outgoing = staff::admin(acct);
    let old = acct.staff[outgoing].clone();
    if !old.admin || old.left.is_some() {
        return None;
    }
    let place = if rng.chance(0.8) {
        acct.office(rng)
    } else {
        acct.home(&old, rng, d.day)
    };
    let at = d.at(acct, 9.0 + rng.f64() * 6.0);
    let n = acct.staff.len();
    let mut successor = new_staff(rng, acct.country, acct.office_city, d.day + 1, n);
    successor.admin = true;
    let session = acct.reported_session(&old.laptop_at);
    let ev = Ev {
        change: vec![
            ("action", "grant".into()),
            ("target", successor.actor.clone()),
            ("role", "admin".into()),
        ],
        session,
        ..Ev::from("role_change", &old.actor, &old.laptop, &place)
    };
    out.emit(acct, at, &ev);
    let laptop = successor.laptop.clone();
    acct.staff.push(successor);
    let office = acct.office(rng);
    let first = at + (10 + rng.below(50) as Millis) * MINUTE;
    signins::sign_in(acct, n, &laptop, &office, first, rng, out);
    life.told(acct, "handover", at, first);
    Some(Plan {
        successor: n,
        outgoing,
        removal: d.day + 2 + rng.below(8) as u32,
        start: at,
    })
}

/// The successor removes the predecessor, then often takes over the
/// recovery email and changes the password.
fn removal(
    acct: &mut Account,
    life: &mut Life,
    plan: Plan,
    d: Today,
    rng: &mut Rng,
    out: &mut Out,
) {
    let s = acct.staff[plan.successor].clone();
    let (place, laptop) = match rng.below(20) {
        0..11 => (acct.office(rng), true),
        11..17 => (acct.home(&s, rng, d.day), true),
        _ => (acct.mobile(rng), false),
    };
    let device = if laptop { &s.laptop } else { &s.phone };
    let mut t = d.at(acct, 9.0 + rng.f64() * 7.0);
    signins::sign_in(acct, plan.successor, device, &place, t, rng, out);
    let last = if laptop {
        &acct.staff[plan.successor].laptop_at
    } else {
        &acct.staff[plan.successor].phone_at
    };
    let session = acct.reported_session(last);
    let outgoing = acct.staff[plan.outgoing].actor.clone();
    let mut steps: Vec<(&str, Vec<(&str, String)>)> = vec![(
        "role_change",
        vec![("action", "revoke".into()), ("target", outgoing)],
    )];
    if rng.chance(0.4) {
        steps.push(("recovery_change", vec![("field", "email".into())]));
    }
    if rng.chance(0.3) {
        steps.push(("password_change", vec![]));
    }
    for (kind, change) in steps {
        t += (2 + rng.below(30) as Millis) * MINUTE;
        let ev = Ev {
            change,
            session: session.clone(),
            ..Ev::from(kind, &s.actor, device, &place)
        };
        out.emit(acct, t, &ev);
    }
    let old = &mut acct.staff[plan.outgoing];
    old.left = Some(d.day);
    old.admin = false;
    life.told(acct, "handover", plan.start, t);
    life.ended("handover");
}

#[cfg(test)]
mod tests {
    use crate::time::parse_rfc3339;
    use serde_json::Value;

    #[test]
    fn a_successor_granted_admin_later_removes_the_predecessor() {
        let (truth, text) = crate::sim::benign_run(150, 60, 11);
        let events: Vec<Value> = text
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        let stories: Vec<_> = truth
            .benign
            .iter()
            .filter(|s| s.behaviour == "handover")
            .collect();
        assert!(stories.len() >= 3, "only {} handovers", stories.len());
        let str_of = |e: &Value, path: &[&str]| {
            path.iter()
                .fold(e, |v, k| &v[*k])
                .as_str()
                .unwrap_or("")
                .to_string()
        };
        for s in stories {
            let (from, to) = (
                parse_rfc3339(&s.start).unwrap(),
                parse_rfc3339(&s.end).unwrap(),
            );
            let mine: Vec<&Value> = events
                .iter()
                .filter(|e| {
                    let t = parse_rfc3339(e["time"].as_str().unwrap()).unwrap();
                    e["account"] == s.account.as_str() && (from..=to).contains(&t)
                })
                .collect();
            let grant = mine[0];
            assert_eq!(str_of(grant, &["type"]), "role_change", "{grant}");
            assert_eq!(str_of(grant, &["change", "role"]), "admin");
            let (outgoing, successor) = (
                str_of(grant, &["actor"]),
                str_of(grant, &["change", "target"]),
            );
            // The successor is new to the account when granted.
            let before = events.iter().take_while(|e| !std::ptr::eq(*e, grant));
            assert!(
                !before
                    .filter(|e| e["account"] == s.account.as_str())
                    .any(|e| str_of(e, &["actor"]) == successor),
                "{successor} acted before the grant"
            );
            assert!(
                mine.iter()
                    .any(|e| str_of(e, &["type"]) == "login" && str_of(e, &["actor"]) == successor)
            );
            let revoke = mine
                .iter()
                .position(|e| {
                    str_of(e, &["change", "action"]) == "revoke"
                        && str_of(e, &["change", "target"]) == outgoing
                })
                .unwrap_or_else(|| panic!("no removal of {outgoing}"));
            assert_eq!(str_of(mine[revoke], &["actor"]), successor);
            // The predecessor is gone once removed.
            let removed = parse_rfc3339(mine[revoke]["time"].as_str().unwrap()).unwrap();
            let next_day = removed - removed % crate::time::DAY + crate::time::DAY;
            assert!(
                !events.iter().any(|e| {
                    e["account"] == s.account.as_str()
                        && str_of(e, &["actor"]) == outgoing
                        && parse_rfc3339(e["time"].as_str().unwrap()).unwrap() >= next_day
                }),
                "{outgoing} still acts after the day of the removal"
            );
        }
    }
}
