//! Password trouble, two stories that fire the password signals for
//! innocent reasons (until these, no benign event ever fired
//! `password_reset` or `failed_login_burst` in the simulation, so both
//! separated perfectly on its data and nowhere else).
//!
//! - `forgotten_password`: a staff member mistypes a few times (or not), resets
//!   the password through the recovery email or phone, and signs in, from
//!   the office or home on their own device. Sometimes the phone was
//!   lost: the reset comes from the new phone (at home, or on
//!   the carrier), the recovery phone is often updated afterwards, and
//!   half the time the authenticator moves to the new phone (a method
//!   removed, one added). That is a SIM swap's sequence, lock-out
//!   cluster included, on a network the account knows.
//! - `stale_password`: after a password change, the person's other
//!   devices keep trying the old one (a mail client, the phone's app):
//!   failures from home, the carrier and the office within the hour, then
//!   a successful sign-in once the new password is typed in. That is the
//!   shape of password spraying (failures from three networks, then a
//!   success), made by one person.
//!
//! Both draw from a random stream of their own, so adding them left every
//! other event of a simulation as it was (ids and sessions aside).

use super::{Life, Today, signins};
use crate::sim::Rng;
use crate::sim::people::{Account, Ev, Out, Place, new_device};
use crate::time::{MINUTE, Millis, SECOND};

/// Per active staff member and day: a forgotten password about once a
/// year, stale credentials after a change about once a year (a quarter of
/// the routine changes, which come about four times a year), and one
/// forgotten password in seven on a replacement for a lost phone. Our
/// judgement, not measured: password resets are the commonest help-desk
/// request, and a phone is lost or replaced every few years. (Drawn at
/// twice a year and one in four at first, these stories alone added 30
/// false alerts at high and 300 at low on seed 1.)
const FORGOT_PER_DAY: f64 = 1.0 / 365.0;
const STALE_PER_DAY: f64 = 1.0 / 365.0;
const LOST_PHONE: f64 = 0.15;
/// Share of lost-phone resets that also move the authenticator (the lost
/// phone's method removed, the new one's added): with the reset and the
/// new recovery phone, three kinds of lock-out change by one person on
/// one device, which is a SIM swap's lock-out cluster. Our judgement.
const MOVE_AUTHENTICATOR: f64 = 0.5;
const AUTHENTICATOR_STREAM: u64 = 0x6175_7468_6e74_6372;

pub(crate) fn day(
    acct: &mut Account,
    life: &mut Life,
    d: Today,
    rng: &mut Rng,
    out: &mut Out,
    on: (bool, bool),
) {
    for si in 0..acct.staff.len() {
        let s = &acct.staff[si];
        if s.joined > d.day || s.left.is_some_and(|l| l <= d.day) {
            continue;
        }
        if on.0 && rng.chance(FORGOT_PER_DAY) {
            forgotten(acct, life, si, d, rng, out);
        } else if on.1 && rng.chance(STALE_PER_DAY) {
            stale(acct, life, si, d, rng, out);
        }
    }
}

fn forgotten(
    acct: &mut Account,
    life: &mut Life,
    si: usize,
    d: Today,
    rng: &mut Rng,
    out: &mut Out,
) {
    let lost_phone = rng.chance(LOST_PHONE);
    if lost_phone {
        acct.staff[si].phone = new_device(rng, true);
        acct.staff[si].phone_at = None;
    }
    let s = acct.staff[si].clone();
    let laptop = !lost_phone && rng.chance(0.6);
    let device = if laptop { &s.laptop } else { &s.phone };
    let place = match (lost_phone, rng.below(10)) {
        (true, 0..7) | (false, 4..8) => acct.home(&s, rng, d.day),
        (true, _) => acct.mobile(rng),
        (false, _) => acct.office(rng),
    };
    let mut t = d.at(acct, 7.5 + rng.f64() * 13.0);
    let start = t;
    for _ in 0..rng.range(0, 3) {
        let typo = Ev {
            outcome: Some("failure"),
            ..Ev::from("login", &s.actor, device, &place)
        };
        out.emit(acct, t, &typo);
        t += (10 + rng.below(40)) as Millis * SECOND;
    }
    t += (1 + rng.below(5)) as Millis * MINUTE;
    out.emit(
        acct,
        t,
        &Ev::from("password_reset", &s.actor, device, &place),
    );
    t += (1 + rng.below(4)) as Millis * MINUTE;
    signins::sign_in(acct, si, device, &place, t, rng, out);
    // The lost phone's authenticator is removed and the new phone's
    // added, half the time, from a stream of the story's own (seeded by
    // its start) so that the later stream's draws stay as they were.
    let mut own = Rng::new(crate::hash::mix64(start as u64) ^ AUTHENTICATOR_STREAM);
    let move_authenticator = lost_phone && own.chance(MOVE_AUTHENTICATOR);
    if lost_phone && rng.chance(0.6) {
        t += (2 + rng.below(30)) as Millis * MINUTE;
        let session = acct.reported_session(&acct.staff[si].phone_at);
        let ev = Ev {
            change: vec![("field", "phone".into())],
            session,
            ..Ev::from("recovery_change", &s.actor, device, &place)
        };
        out.emit(acct, t, &ev);
    }
    if move_authenticator {
        let session = acct.reported_session(&acct.staff[si].phone_at);
        for action in ["remove_method", "add_method"] {
            t += (1 + own.below(6)) as Millis * MINUTE;
            let ev = Ev {
                change: vec![("action", action.into())],
                session: session.clone(),
                ..Ev::from("mfa_change", &s.actor, device, &place)
            };
            out.emit(acct, t, &ev);
        }
    }
    life.told(acct, "forgotten_password", start, t);
    life.ended("forgotten_password");
}

fn stale(acct: &mut Account, life: &mut Life, si: usize, d: Today, rng: &mut Rng, out: &mut Out) {
    let s = acct.staff[si].clone();
    let office = acct.office(rng);
    let mut t = d.at(acct, 9.0 + rng.f64() * 7.0);
    let start = t;
    let change = Ev::from("password_change", &s.actor, &s.laptop, &office);
    out.emit(acct, t, &change);
    // The other devices, each from where it happens to be, retrying the
    // old password every few minutes: the phone at home, then on the
    // carrier on the way, the laptop's mail client back at the office.
    let places: [Place; 3] = [
        acct.home(&s, rng, d.day),
        acct.mobile(rng),
        acct.office(rng),
    ];
    for (i, place) in places.iter().enumerate() {
        let device = if i == 2 { &s.laptop } else { &s.phone };
        for _ in 0..rng.range(2, 4) {
            t += (2 + rng.below(8)) as Millis * MINUTE;
            let fail = Ev {
                outcome: Some("failure"),
                ..Ev::from("login", &s.actor, device, place)
            };
            out.emit(acct, t, &fail);
        }
    }
    t += (1 + rng.below(10)) as Millis * MINUTE;
    signins::sign_in(acct, si, &s.phone, &places[1], t, rng, out);
    life.told(acct, "stale_password", start, t);
    life.ended("stale_password");
}

#[cfg(test)]
mod tests {
    use crate::decode::{EventKind, Outcome, decode};
    use crate::time::parse_rfc3339;

    /// What these tests read of an event.
    #[derive(Debug)]
    struct Seen {
        kind: EventKind,
        outcome: Option<Outcome>,
        actor: String,
        asn: Option<u64>,
        device: String,
    }

    /// Each story's window of its account's events.
    fn told(behaviour: &str) -> Vec<Vec<Seen>> {
        let (truth, text) = crate::sim::benign_run(80, 60, 5);
        let events: Vec<_> = text
            .lines()
            .map(|l| decode(l.as_bytes()).unwrap())
            .collect();
        truth
            .benign
            .iter()
            .filter(|s| s.behaviour == behaviour)
            .map(|s| {
                let from = parse_rfc3339(&s.start).unwrap();
                let to = parse_rfc3339(&s.end).unwrap();
                events
                    .iter()
                    .filter(|e| e.account == s.account && (from..=to).contains(&e.time))
                    .map(|e| Seen {
                        kind: e.kind,
                        outcome: e.outcome,
                        actor: e.actor.as_deref().unwrap_or("").to_string(),
                        asn: e.source.asn,
                        device: e.device.id.as_deref().unwrap_or("").to_string(),
                    })
                    .collect()
            })
            .collect()
    }

    #[test]
    fn a_forgotten_password_is_a_reset_then_a_sign_in_on_the_same_device() {
        let stories = told("forgotten_password");
        assert!(stories.len() >= 5, "only {} stories", stories.len());
        // Some lost phones move the authenticator: two two-factor changes
        // from the device that reset the password.
        let moved = stories.iter().filter(|evs| {
            let reset = evs.iter().find(|e| e.kind == EventKind::PasswordReset);
            reset.is_some_and(|r| {
                evs.iter()
                    .filter(|e| e.kind == EventKind::MfaChange && e.device == r.device)
                    .count()
                    == 2
            })
        });
        assert!(moved.count() >= 1, "no authenticator moved");
        for evs in &stories {
            let reset = evs
                .iter()
                .position(|e| e.kind == EventKind::PasswordReset)
                .expect("a reset");
            let r = &evs[reset];
            assert!(
                evs[reset..].iter().any(|e| e.kind == EventKind::Login
                    && e.outcome == Some(Outcome::Success)
                    && e.actor == r.actor
                    && e.device == r.device),
                "no sign-in after the reset: {evs:?}"
            );
        }
    }

    #[test]
    fn stale_credentials_fail_from_three_networks_then_succeed() {
        let stories = told("stale_password");
        assert!(stories.len() >= 5, "only {} stories", stories.len());
        let mut three = 0;
        for evs in &stories {
            let mine: Vec<&Seen> = evs.iter().filter(|e| e.actor == evs[0].actor).collect();
            let failures: Vec<&&Seen> = mine
                .iter()
                .filter(|e| e.outcome == Some(Outcome::Failure))
                .collect();
            let networks: std::collections::HashSet<_> = failures.iter().map(|e| e.asn).collect();
            assert!(failures.len() >= 6, "{evs:?}");
            // Home broadband is sometimes the office's ISP.
            assert!(networks.len() >= 2, "{evs:?}");
            three += usize::from(networks.len() >= 3);
            let last = mine.last().unwrap();
            assert_eq!(
                (last.kind, last.outcome),
                (EventKind::Login, Some(Outcome::Success))
            );
        }
        // The detector's `failed_login_burst` asks for five failures from
        // three networks before a success: most of these stories have them.
        assert!(three * 2 > stories.len(), "{three} of {}", stories.len());
    }
}
