//! Story `scheduled_api`: the account's communications team posts through
//! a script or an in-house integration on a server: the admin registers
//! it as an app from the office (platforms require an authorised app for
//! API posting), then it posts through the platform's API, with an HTTP
//! library's user agent, from a cloud network, at fixed times each day.
//! Some accounts have had it all along; others start it during the
//! period.

use super::{Life, Today};
use crate::sim::Rng;
use crate::sim::people::{Account, Device, Ev, Out, Place, ip_in};
use crate::sim::world::{CLOUD_DESKTOPS, City, Net};
use crate::time::{DAY, MINUTE, Millis};

pub(crate) struct Plan {
    from: u32,
    server: Device,
    host: (City, Net),
    hours: Vec<f64>,
    app: String,
    told: bool,
}

impl Plan {
    pub(crate) fn draw(rng: &mut Rng, days: u32) -> Option<Plan> {
        if !rng.chance(0.08) {
            return None;
        }
        let ua = rng.pick(&[
            "node-fetch/1.0 (+https://github.com/bitinn/node-fetch)",
            "axios/1.6.8",
            "Apache-HttpClient/4.5.14 (Java/17.0.2)",
            "Ruby",
            "Faraday v2.9.0",
            "GuzzleHttp/7",
        ]);
        Some(Plan {
            from: if rng.chance(0.5) {
                0
            } else {
                rng.below(days as u64) as u32
            },
            server: Device {
                id: format!("d-srv{:06x}", rng.u64() as u32 & 0xffffff),
                client: "api",
                ua: ua.to_string(),
            },
            host: *rng.pick(CLOUD_DESKTOPS),
            hours: (0..rng.range(1, 3))
                .map(|_| 6.0 + rng.f64() * 12.0)
                .collect(),
            app: format!(
                "{} {}",
                rng.pick(&["Humas", "Info", "Siaran", "Publikasi"]),
                rng.pick(&["Scheduler", "Bot", "Autopost", "Integrasi"])
            ),
            told: false,
        })
    }
}

pub(crate) fn day(acct: &Account, life: &mut Life, d: Today, rng: &mut Rng, out: &mut Out) {
    let Some(plan) = life.api.as_mut() else {
        return;
    };
    if d.day < plan.from {
        return;
    }
    let start_story = !plan.told;
    plan.told = true;
    let admin = &acct.staff[super::staff::admin(acct)];
    let actor = admin.actor.clone();
    if start_story {
        let office = acct.office(rng);
        let grant = Ev {
            change: vec![("action", "grant".into()), ("app", plan.app.clone())],
            ..Ev::from("app_authorization", &actor, &admin.laptop, &office)
        };
        out.emit(acct, d.at(acct, 5.0), &grant);
    }
    let (city, net) = plan.host;
    let place = Place {
        city,
        net,
        ip: ip_in(net, 77, 10 + rng.below(3)),
        accuracy_km: 50.0,
    };
    for h in plan.hours.clone() {
        let t = d.at(acct, h) + rng.below(3) as Millis * MINUTE;
        let ev = Ev {
            post_client: Some(&plan.app),
            links: vec![super::posting::usual_link(acct, rng)],
            ..Ev::from("post", &actor, &plan.server, &place)
        };
        out.emit(acct, t, &ev);
    }
    if start_story {
        life.told(acct, "scheduled_api", d.start, d.start + 7 * DAY);
        life.ended("scheduled_api");
    }
}
