//! Story `new_app`: the admin authorises a harmless app the account has
//! not used (a design tool, an analytics or link-in-bio service that can
//! post), from the office, and the team then posts through it now and
//! then, at the usual hours, linking to the usual sites.

use super::{Life, Today};
use crate::sim::Rng;
use crate::sim::people::Staff;
use crate::sim::people::{Account, Ev, Out};
use crate::time::{DAY, Millis, SECOND};

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
        if rng.chance(0.5) {
            try_out(acct, admin, app, at, rng, out);
        }
    }
    if !d.weekday || !rng.chance(0.5) {
        return;
    }
    for _ in 0..rng.range(1, 3) {
        let t = d.at(acct, crate::sim::people::post_hour(rng));
        let s = &acct.staff[rng.below(acct.staff.len() as u64) as usize];
        let links = vec![super::posting::usual_link(acct, rng)];
        let ev = super::posting::tool_post(acct, &s.actor, app, links, rng);
        out.emit(acct, t, &ev);
    }
}

/// The admin tries the tool out minutes after granting it: the post links
/// the tool's own page (a link-in-bio page, a shared design), a new
/// campaign site no other account links, or a usual site. This is the
/// benign traffic that fires `posts_via_new_app_soon` (an app linking a
/// new domain within the short window of its grant).
fn try_out(
    acct: &Account,
    admin: &Staff,
    app: &str,
    granted: Millis,
    rng: &mut Rng,
    out: &mut Out,
) {
    let link = match rng.below(10) {
        0..=3 => format!("https://{}/{}", tool_site(app), rng.below(100_000)),
        4 => format!("https://kampanye{}.id/", rng.below(1_000_000)),
        _ => super::posting::usual_link(acct, rng),
    };
    let ev = super::posting::tool_post(acct, &admin.actor, app, vec![link], rng);
    out.emit(acct, granted + rng.range(300, 2700) * SECOND, &ev);
}

/// The site of a tool's own pages.
fn tool_site(app: &str) -> &'static str {
    match app {
        "Canva" => "canva.com",
        "Linktree" => "linktr.ee",
        "Flick" => "flick.social",
        "Sked Social" => "skedsocial.com",
        "Iconosquare" => "iconosquare.com",
        _ => "vistasocial.com",
    }
}
