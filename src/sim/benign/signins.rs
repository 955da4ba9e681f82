//! Daily sign-ins of the staff: the office, home broadband, mobile
//! carriers, the corporate VPN exit, trips abroad (story
//! `travel_new_device`: sometimes on a borrowed or new laptop), typos
//! before a success, and logouts. Each sign-in starts a session (a new
//! session id) that the device's later activity carries.

use super::{Life, Today, cloud_desktop};
use crate::sim::Rng;
use crate::sim::people::{Account, Device, Ev, Out, Place, ip_in, new_device, session_id};
use crate::sim::world::{City, Net, TRIPS};
use crate::time::{DAY, HOUR, Millis, SECOND};

/// A trip: staff index, first day, days, destination, and the laptop
/// lent for it (if any).
type Trip = (usize, u32, u32, (City, Net), Option<Device>);

pub(crate) struct Plan {
    trip: Option<Trip>,
    next_trip: u32,
    new_devices: bool,
}

impl Plan {
    pub(crate) fn new(rng: &mut Rng, new_devices: bool) -> Plan {
        Plan {
            trip: None,
            next_trip: rng.exp(45.0) as u32,
            new_devices,
        }
    }
}

fn plan_trip(acct: &Account, life: &mut Life, d: Today, rng: &mut Rng) {
    let plan = &mut life.signins;
    if d.day == plan.next_trip && plan.trip.is_none() {
        let who = rng.below(acct.staff.len() as u64) as usize;
        let len = rng.range(2, 6) as u32;
        // A third of trips use a laptop lent for the trip or bought for it.
        let laptop = (plan.new_devices && rng.chance(0.35)).then(|| new_device(rng, false));
        let dest = *rng.pick(TRIPS);
        if laptop.is_some() {
            let end = d.start + len as Millis * DAY;
            life.told(acct, "travel_new_device", d.start, end);
            life.ended("travel_new_device");
        }
        life.signins.trip = Some((who, d.day, len, dest, laptop));
    }
    let plan = &mut life.signins;
    if let Some((_, first, len, ..)) = plan.trip
        && d.day >= first + len
    {
        plan.trip = None;
        plan.next_trip = d.day + 10 + rng.exp(45.0) as u32;
    }
}

pub(crate) fn day(acct: &mut Account, life: &mut Life, d: Today, rng: &mut Rng, out: &mut Out) {
    plan_trip(acct, life, d, rng);
    for si in 0..acct.staff.len() {
        let s = acct.staff[si].clone();
        if s.joined > d.day || s.left.is_some_and(|l| l <= d.day) {
            continue;
        }
        let traveling = life.signins.trip.as_ref().filter(|t| t.0 == si);
        let works = rng.chance(if d.weekday { 0.85 } else { 0.12 });
        if !works && traveling.is_none() {
            continue;
        }
        for k in 0..1 + rng.below(2) {
            let hour = if k == 0 {
                7.0 + rng.f64() * 2.5
            } else {
                12.5 + rng.f64() * 6.0
            };
            let at = d.at(acct, hour) + rng.below(600) as Millis * SECOND;
            let (place, laptop, trip_laptop) = if let Some((.., (city, net), lent)) = traveling {
                let p = Place {
                    city: *city,
                    net: *net,
                    ip: ip_in(*net, 50 + rng.below(4) as u32, rng.below(250)),
                    accuracy_km: 15.0 + rng.below(30) as f64,
                };
                (p, rng.chance(0.6), lent.clone())
            } else if let Some(p) = life
                .cloud
                .as_ref()
                .and_then(|c| cloud_desktop::sign_in_place(c, acct, si, d, rng))
            {
                (p, true, None)
            } else {
                let r = rng.f64();
                if acct.vpn.is_some() && r < 0.3 {
                    (acct.vpn(rng).expect("vpn"), true, None)
                } else if r < 0.65 {
                    (acct.office(rng), true, None)
                } else if r < 0.82 {
                    (acct.home(&s, rng, d.day), true, None)
                } else {
                    (acct.mobile(rng), false, None)
                }
            };
            let device = match (&trip_laptop, laptop) {
                (Some(lent), true) => lent.clone(),
                (_, true) => s.laptop.clone(),
                _ => s.phone.clone(),
            };
            sign_in(acct, si, &device, &place, at, rng, out);
        }
    }
}

/// One successful sign-in (after a typo or two, sometimes) that starts a
/// session of `device`; a logout a few hours later, sometimes.
#[allow(clippy::too_many_arguments)]
pub(crate) fn sign_in(
    acct: &mut Account,
    si: usize,
    device: &Device,
    place: &Place,
    at: Millis,
    rng: &mut Rng,
    out: &mut Out,
) {
    let actor = acct.staff[si].actor.clone();
    let session = session_id(rng);
    let reported = acct.sessions.then(|| session.clone());
    if rng.chance(0.03) {
        for f in 0..rng.range(1, 2) {
            let typo = Ev {
                outcome: Some("failure"),
                ..Ev::from("login", &actor, device, place)
            };
            out.emit(acct, at - (f + 1) * 20 * SECOND, &typo);
        }
    }
    let login = Ev {
        outcome: Some("success"),
        session: reported.clone(),
        ..Ev::from("login", &actor, device, place)
    };
    out.emit(acct, at, &login);
    if rng.chance(0.3) {
        let logout = Ev {
            session: reported,
            ..Ev::from("logout", &actor, device, place)
        };
        out.emit(acct, at + (2 + rng.below(8)) as Millis * HOUR, &logout);
    }
    let s = &mut acct.staff[si];
    // The session of the staff member's own device (a lent laptop's
    // session ends with the trip).
    if device.id == s.laptop.id {
        s.laptop_at = Some((place.clone(), session));
    } else if device.id == s.phone.id {
        s.phone_at = Some((place.clone(), session));
    }
}
