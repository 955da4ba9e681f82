//! Story `new_app`: the admin authorises a harmless app the account has
//! not used (a design tool, an analytics or link-in-bio service that can
//! post), from the office, and the team then posts through it now and
//! then, at the usual hours, linking to the usual sites.

use super::{Life, Today};
use crate::sim::Rng;
use crate::sim::people::{Account, Ev, Out, ip_in};
use crate::time::DAY;

pub(crate) struct Plan {
    first: u32,
    app: &'static str,
}

impl Plan {
    pub(crate) fn draw(rng: &mut Rng, days: u32) -> Option<Plan> {
        if days < 5 || !rng.chance(0.10) {
            return None;
        }
        Some(Plan {
            first: rng.below(days as u64) as u32,
            app: {
                const APPS: &[&str] = &[
                    "Canva",
                    "Linktree",
                    "Flick",
                    "Sked Social",
                    "Iconosquare",
                    "Vista Social",
                ];
                APPS[rng.below(APPS.len() as u64) as usize]
            },
        })
    }
}

pub(crate) fn day(acct: &Account, life: &mut Life, d: Today, rng: &mut Rng, out: &mut Out) {
    let Some(plan) = life.app.as_ref() else {
        return;
    };
    if d.day < plan.first || d.day > plan.first + 20 {
        return;
    }
    let admin = &acct.staff[super::staff::admin(acct)];
    let app = plan.app;
    if d.day == plan.first {
        let at = d.at(acct, 9.0 + rng.f64() * 6.0);
        let place = acct.office(rng);
        let grant = Ev {
            change: vec![("action", "grant".into()), ("app", app.into())],
            ..Ev::from("app_authorization", &admin.actor, &admin.laptop, &place)
        };
        out.emit(acct, at, &grant);
        life.told(acct, "new_app", at, at + 20 * DAY);
        life.ended("new_app");
    }
    if !d.weekday || !rng.chance(0.5) {
        return;
    }
    let (city, net) = super::posting::tool_server(app);
    for _ in 0..rng.range(1, 3) {
        let t = d.at(acct, crate::sim::people::post_hour(rng));
        let s = &acct.staff[rng.below(acct.staff.len() as u64) as usize];
        let ev = Ev {
            kind: "post",
            actor: Some(&s.actor),
            device_client_only: Some("api"),
            post_client: Some(app),
            links: vec![super::posting::usual_link(acct, rng)],
            ip: Some(ip_in(net, 90, rng.below(250))),
            city: Some(city),
            net: Some(net),
            accuracy_km: Some(50.0),
            ..Default::default()
        };
        out.emit(acct, t, &ev);
    }
}
