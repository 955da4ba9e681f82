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
use crate::sim::people::{Account, Ev, Out, new_staff, role_grant};
use crate::time::{MINUTE, Millis};

/// Chance per account and day that its lead hands over: about one
/// handover per account in two years. Our judgement, not measured:
/// communication posts in government turn over every few years, and an
/// election or a reshuffle moves several at once.
const PER_DAY: f64 = 1.0 / 730.0;

/// Share of handovers made in the organisation's business settings
/// (Meta's Business Manager, a Google Workspace group) rather than on the
/// account: its log then shows no grant, and the successor simply
/// appears. Our judgement, not measured.
const THROUGH_SETTINGS: f64 = 0.3;
/// Share of successors who bring an assistant on their first day (an
/// editor role). With a grant the detector saw, the successor is an admin
/// and that is routine; with none, a newcomer nobody granted anything is
/// granting roles, which is what `role_granted_by_new_actor` looks for
/// (until 2026-11-28 nothing in the simulation fired it). Our judgement.
const ASSISTANT: f64 = 0.5;

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
        change: role_grant(&successor.actor, "admin"),
        session,
        ..Ev::from("role_change", &old.actor, &old.laptop, &place)
    };
    if !rng.chance(THROUGH_SETTINGS) {
        out.emit(acct, at, &ev);
    }
    let laptop = successor.laptop.clone();
    acct.staff.push(successor);
    let office = acct.office(rng);
    let first = at + (10 + rng.below(50) as Millis) * MINUTE;
    signins::sign_in(acct, n, &laptop, &office, first, rng, out);
    let mut end = first;
    if rng.chance(ASSISTANT) {
        end = assistant(acct, n, first, &office, d, rng, out);
    }
    life.told(acct, "handover", at, end);
    Some(Plan {
        successor: n,
        outgoing,
        removal: d.day + 2 + rng.below(8) as u32,
        start: at,
    })
}

/// The successor (staff `boss`, signed in at `t`) grants a new assistant
/// an editor role from the office; the assistant signs in on a new laptop
/// there within the hour. Returns the time of that sign-in.
fn assistant(
    acct: &mut Account,
    boss: usize,
    t: Millis,
    office: &crate::sim::people::Place,
    d: Today,
    rng: &mut Rng,
    out: &mut Out,
) -> Millis {
    let n = acct.staff.len();
    let helper = new_staff(rng, acct.country, acct.office_city, d.day + 1, n);
    let s = &acct.staff[boss];
    let at = t + (5 + rng.below(40) as Millis) * MINUTE;
    let ev = Ev {
        change: role_grant(&helper.actor, "editor"),
        session: acct.reported_session(&s.laptop_at),
        ..Ev::from("role_change", &s.actor, &s.laptop, office)
    };
    out.emit(acct, at, &ev);
    let laptop = helper.laptop.clone();
    acct.staff.push(helper);
    let first = at + (10 + rng.below(50) as Millis) * MINUTE;
    signins::sign_in(acct, n, &laptop, office, first, rng, out);
    first
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
        let (truth, text) = crate::sim::benign_run(300, 60, 11);
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
        let n = stories.len();
        let (mut unseen, mut assistants) = (0, 0);
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
            // The story opens with the grant, or (made in the business
            // settings) with nothing: the successor is then the first actor
            // of the story new to the account.
            let first = mine[0];
            let new_to_account = |actor: &str| {
                !events.iter().any(|e| {
                    e["account"] == s.account.as_str()
                        && str_of(e, &["actor"]) == actor
                        && parse_rfc3339(e["time"].as_str().unwrap()).unwrap() < from
                })
            };
            let (outgoing, successor) = if str_of(first, &["type"]) == "role_change"
                && str_of(first, &["change", "action"]) == "grant"
            {
                assert_eq!(str_of(first, &["change", "role"]), "admin");
                (
                    str_of(first, &["actor"]),
                    str_of(first, &["change", "target"]),
                )
            } else {
                unseen += 1;
                let newcomer = mine
                    .iter()
                    .map(|e| str_of(e, &["actor"]))
                    .find(|a| !a.is_empty() && new_to_account(a))
                    .expect("a successor");
                let revoke = mine
                    .iter()
                    .find(|e| {
                        str_of(e, &["change", "action"]) == "revoke"
                            && str_of(e, &["actor"]) == newcomer
                    })
                    .expect("a removal by the successor");
                (str_of(revoke, &["change", "target"]), newcomer)
            };
            // An assistant brought in by the successor, as an editor.
            assistants += usize::from(mine.iter().any(|e| {
                str_of(e, &["actor"]) == successor
                    && str_of(e, &["change", "action"]) == "grant"
                    && str_of(e, &["change", "role"]) == "editor"
            }));
            // The successor is new to the account when granted.
            assert!(
                new_to_account(&successor),
                "{successor} acted before the story"
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
        // Some handovers leave no grant on the account, some successors
        // bring an assistant, and most do neither.
        assert!(unseen >= 1 && unseen < n, "{unseen} of {n} without a grant");
        assert!(
            assistants >= 1 && assistants < n,
            "{assistants} of {n} assistants"
        );
    }
}
