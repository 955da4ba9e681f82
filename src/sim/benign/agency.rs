//! Story `agency`: a campaign agency is given an editor role by the
//! account's long-standing admin, from the office, on the admin's usual
//! device. The agency's staff then sign in from the agency's own network
//! on their own laptops, authorise their scheduling tool, and post through
//! it, linking to the campaign's site, for one or two weeks; then the
//! admin usually revokes the role. Everything about the agency is new to
//! the account: network, devices, actors, posting client, link domain.

use super::{Life, Today, staff};
use crate::sim::Rng;
use crate::sim::people::{
    Account, Device, Ev, Out, Place, ip_in, new_device, role_grant, session_id,
};
use crate::sim::world::{AGENCY_NETS, AGENCY_TOOLS, City, FIRST_NAMES, Net};
use crate::time::{DAY, HOUR, Millis, SECOND};

pub(crate) struct Plan {
    first: u32,
    days: u32,
    members: Vec<(String, Device)>,
    net: (City, Net),
    tool: &'static str,
    site: String,
    /// The admin authorises the tool (else an agency member does).
    admin_authorises: bool,
}

impl Plan {
    pub(crate) fn draw(rng: &mut Rng, days: u32) -> Option<Plan> {
        if days < 10 || !rng.chance(0.12) {
            return None;
        }
        let name = format!(
            "{}{}",
            rng.pick(&["kreasi", "media", "prima", "cipta", "studio"]),
            rng.below(100)
        );
        let members = (0..rng.range(1, 3))
            .map(|_| {
                let actor = format!("{}@{name}", rng.pick(FIRST_NAMES));
                (actor, new_device(rng, false))
            })
            .collect();
        Some(Plan {
            first: 3 + rng.below((days - 6) as u64) as u32,
            days: rng.range(7, 15) as u32,
            members,
            net: *rng.pick(AGENCY_NETS),
            tool: AGENCY_TOOLS[rng.below(AGENCY_TOOLS.len() as u64) as usize],
            site: format!(
                "{}{}.id",
                rng.pick(&["ayo", "gerakan", "sehat", "bangga", "pintar"]),
                rng.pick(&["vaksin", "pajak", "sekolah", "umkm", "pangan"])
            ),
            admin_authorises: rng.chance(0.5),
        })
    }
}

fn place(plan: &Plan, rng: &mut Rng) -> Place {
    let (city, net) = plan.net;
    Place {
        city,
        net,
        ip: ip_in(net, 60 + rng.below(3) as u32, rng.below(250)),
        accuracy_km: 20.0,
    }
}

pub(crate) fn day(acct: &mut Account, life: &mut Life, d: Today, rng: &mut Rng, out: &mut Out) {
    let Some(plan) = life.agency.as_ref() else {
        return;
    };
    if d.day < plan.first || d.day > plan.first + plan.days {
        return;
    }
    let admin = acct.staff[staff::admin(acct)].clone();
    let office = acct.office(rng);
    let t0 = d.at(acct, 9.5 + rng.f64() * 4.0);
    let mut last = t0;
    if d.day == plan.first {
        for (actor, _) in &plan.members {
            let grant = Ev {
                change: role_grant(actor, "editor"),
                ..Ev::from("role_change", &admin.actor, &admin.laptop, &office)
            };
            out.emit(acct, t0, &grant);
        }
    }
    if d.day == plan.first + plan.days {
        if rng.chance(0.6) {
            for (actor, _) in &plan.members {
                let revoke = Ev {
                    change: vec![("action", "revoke".into()), ("target", actor.clone())],
                    ..Ev::from("role_change", &admin.actor, &admin.laptop, &office)
                };
                out.emit(acct, t0, &revoke);
            }
        }
        return;
    }
    if !d.weekday && d.day != plan.first {
        return;
    }
    let plan = life.agency.as_ref().expect("agency");
    // When the tool was authorised, on the first day: nobody's posts go
    // through it before then (a platform refuses an app it has not been
    // granted), so a colleague who starts earlier posts from the web.
    // Until 2026-11-28 the second member's tool posts could come first,
    // which made the first sign of the tool a post through an app nobody
    // had granted: 3 of seed 1's 7 agency false alerts at high.
    let mut authorised: Option<Millis> = None;
    for (i, (actor, laptop)) in plan.members.iter().enumerate() {
        let at = t0 + (1 + rng.below(3)) as Millis * HOUR + rng.below(600) as Millis * SECOND;
        let here = place(plan, rng);
        let session = session_id(rng);
        let session = acct.sessions.then_some(session);
        let login = Ev {
            outcome: Some("success"),
            session: session.clone(),
            ..Ev::from("login", actor, laptop, &here)
        };
        out.emit(acct, at, &login);
        let mut t = at + (5 + rng.below(20)) as Millis * 60 * SECOND;
        if d.day == plan.first && i == 0 {
            let (who, device, from) = if plan.admin_authorises {
                (&admin.actor, &admin.laptop, office.clone())
            } else {
                (actor, laptop, here.clone())
            };
            let grant = Ev {
                change: vec![("action", "grant".into()), ("app", plan.tool.into())],
                session: session.clone().filter(|_| !plan.admin_authorises),
                ..Ev::from("app_authorization", who, device, &from)
            };
            out.emit(acct, t, &grant);
            authorised = Some(t);
        }
        for _ in 0..rng.range(1, 5) {
            t += (10 + rng.below(90)) as Millis * 60 * SECOND;
            let links = if rng.chance(0.7) {
                vec![format!("https://{}/{}", plan.site, rng.below(1000))]
            } else {
                vec![super::posting::usual_link(acct, rng)]
            };
            let granted = d.day != plan.first || authorised.is_some_and(|a| a < t);
            let ev = if rng.chance(0.6) && granted {
                super::posting::tool_post(acct, actor, plan.tool, links, rng)
            } else {
                Ev {
                    post_client: Some("X Web App"),
                    links,
                    session: session.clone(),
                    ..Ev::from("post", actor, laptop, &here)
                }
            };
            out.emit(acct, t, &ev);
        }
        last = last.max(t);
    }
    let end = d.start.max(last) + DAY;
    life.told(acct, "agency", d.start, end);
}

#[cfg(test)]
mod tests {
    use crate::decode::{EventKind, decode};
    use std::collections::HashMap;

    /// A platform refuses an app it has not been granted: on every
    /// account, no post goes through an app before the app's first
    /// grant there (the agency's tool and the others alike), and some
    /// agencies do post through their tool.
    #[test]
    fn no_post_goes_through_an_app_before_it_is_granted() {
        let (truth, text) = crate::sim::benign_run(120, 40, 7);
        let agencies = truth
            .benign
            .iter()
            .filter(|s| s.behaviour == "agency")
            .count();
        assert!(agencies >= 3, "only {agencies} agencies");
        let mut events: Vec<_> = text
            .lines()
            .map(|l| decode(l.as_bytes()).unwrap())
            .collect();
        events.sort_by_key(|e| e.time);
        // (account, app) -> time of the first grant.
        let mut granted: HashMap<(String, String), i64> = HashMap::new();
        let mut tool_posts = 0;
        for e in &events {
            match e.kind {
                EventKind::AppAuthorization => {
                    let app = e.change.app.as_deref().unwrap_or("").to_lowercase();
                    granted
                        .entry((e.account.to_string(), app))
                        .or_insert(e.time);
                }
                EventKind::Post => {
                    let Some(client) = e.post.as_ref().and_then(|p| p.client.as_deref()) else {
                        continue;
                    };
                    let key = (e.account.to_string(), client.to_lowercase());
                    if let Some(at) = granted.get(&key) {
                        assert!(*at <= e.time, "{key:?} posted before its grant");
                        tool_posts += 1;
                    } else {
                        // Apps the account never granted are its usual
                        // posting clients (web, phone apps, the
                        // management tools it had from the start), never
                        // an agency's tool.
                        let story = truth.benign.iter().any(|s| {
                            s.account == e.account.as_ref()
                                && s.behaviour == "agency"
                                && crate::sim::world::AGENCY_TOOLS
                                    .iter()
                                    .any(|t| t.eq_ignore_ascii_case(client))
                        });
                        assert!(!story, "{key:?} posted through an ungranted agency tool");
                    }
                }
                _ => {}
            }
        }
        assert!(tool_posts > 0, "no post through a granted app");
    }
}
