//! Posting: office hours of the account's time zone with a weekly rhythm,
//! campaign days, threads, the occasional night-time emergency
//! announcement, links mostly to the account's own sites. A post through
//! the platform's own web or phone client comes from the poster's device
//! session; one through a management tool comes from the tool's servers
//! (a cloud network, no device), as the platforms log it.

use super::Today;
use crate::sim::Rng;
use crate::sim::people::{Account, Ev, Out, post_hour};
use crate::sim::world::{City, EXTRA_DOMAINS, Net, TOOL_SERVERS};
use crate::time::{MINUTE, Millis, SECOND};

/// The platform's own clients (device sessions); others are tools.
pub(crate) fn is_native(client: &str) -> bool {
    client.starts_with("X ") || client.ends_with(" app")
}

/// Where a tool's servers post from (a stable pick per tool).
pub(crate) fn tool_server(client: &str) -> (City, Net) {
    let h = crate::hash::hash_bytes(client.as_bytes()) as usize;
    TOOL_SERVERS[h % TOOL_SERVERS.len()]
}

/// A post `person` published through the tool `app`: from the tool's
/// cloud servers, with no device, and naming the person only where the
/// platform does (`tool_publisher`).
pub(crate) fn tool_post<'a>(
    acct: &Account,
    person: &'a str,
    app: &'a str,
    links: Vec<String>,
    rng: &mut Rng,
) -> Ev<'a> {
    let (city, net) = tool_server(app);
    Ev {
        kind: "post",
        actor: crate::sim::people::tool_publisher(acct, person),
        device_client_only: Some("api"),
        post_client: Some(app),
        links,
        ip: Some(crate::sim::people::ip_in(net, 90, rng.below(250))),
        city: Some(city),
        net: Some(net),
        accuracy_km: Some(50.0),
        ..Default::default()
    }
}

/// A link to one of the account's usual sites (Zipf-like: its own site
/// most often), rarely to another site.
pub(crate) fn usual_link(acct: &Account, rng: &mut Rng) -> String {
    let d = if rng.chance(0.05) {
        rng.pick(EXTRA_DOMAINS).to_string()
    } else {
        let i = (rng.f64().powi(2) * acct.domains.len() as f64) as usize;
        acct.domains[i.min(acct.domains.len() - 1)].clone()
    };
    format!("https://{d}/{}", rng.below(100_000))
}

fn times(acct: &Account, d: Today, rng: &mut Rng) -> Vec<Millis> {
    let campaign = rng.chance(0.05);
    let rate =
        acct.posts_per_day * if d.weekday { 1.0 } else { 0.35 } * if campaign { 3.0 } else { 1.0 };
    let mut times: Vec<Millis> = (0..rng.poisson(rate))
        .map(|_| d.at(acct, post_hour(rng)))
        .collect();
    if campaign || rng.chance(0.04) {
        // A thread: several posts within minutes.
        let t0 = d.at(acct, 9.0 + rng.f64() * 8.0);
        for k in 0..rng.range(3, 7) {
            times.push(t0 + k * (30 + rng.below(90) as i64) * SECOND);
        }
    }
    if rng.chance(0.015) {
        // Night-time emergency announcement (earthquake, flood).
        let t0 = d.at(acct, rng.f64() * 5.0);
        for k in 0..rng.range(1, 4) {
            times.push(t0 + k * (2 + rng.below(10) as i64) * MINUTE);
        }
    }
    times
}

pub(crate) fn day(acct: &Account, d: Today, rng: &mut Rng, out: &mut Out) {
    let active: Vec<usize> = (0..acct.staff.len())
        .filter(|&i| acct.staff[i].joined <= d.day && acct.staff[i].left.is_none_or(|l| l > d.day))
        .collect();
    for t in times(acct, d, rng) {
        let s = &acct.staff[*rng.pick(&active)];
        let links = if rng.chance(0.6) {
            vec![usual_link(acct, rng)]
        } else {
            Vec::new()
        };
        let client = if acct.clients.len() > 1 && rng.chance(0.3) {
            acct.clients[1]
        } else {
            acct.clients[0]
        };
        let text_len = Some(40 + rng.below(240) as u32);
        let ev = if is_native(client) {
            let laptop = rng.chance(0.7);
            let (place, session) = acct.session_place(s, laptop, rng, d.day);
            let device = if laptop { &s.laptop } else { &s.phone };
            Ev {
                post_client: Some(client),
                links,
                text_len,
                session,
                ..Ev::from("post", &s.actor, device, &place)
            }
        } else {
            Ev {
                text_len,
                ..tool_post(acct, &s.actor, client, links, rng)
            }
        };
        out.emit(acct, t, &ev);
    }
    // Other activity types (valid, unknown to the detector).
    for _ in 0..rng.poisson(1.0) {
        let s = &acct.staff[*rng.pick(&active)];
        let at = d.at(acct, post_hour(rng));
        let kind = if rng.chance(0.5) {
            "comment_reply"
        } else {
            "dm_read"
        };
        let (place, session) = acct.session_place(s, true, rng, d.day);
        let ev = Ev {
            session,
            ..Ev::from(kind, &s.actor, &s.laptop, &place)
        };
        out.emit(acct, at, &ev);
    }
}
