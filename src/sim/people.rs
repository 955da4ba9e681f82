//! The people and places of a simulated account, and the emitter that
//! writes their events as contract NDJSON.

use std::fmt::Write as _;

use super::Rng;
use super::world::{City, Country, DESKTOP_UAS, FIRST_NAMES, MOBILE_UAS, Net};
use crate::time::{HOUR, MINUTE, Millis, rfc3339};

#[derive(Clone)]
pub(crate) struct Device {
    pub(crate) id: String,
    pub(crate) client: &'static str,
    pub(crate) ua: String,
}

#[derive(Clone)]
pub(crate) struct Staff {
    pub(crate) actor: String,
    pub(crate) laptop: Device,
    pub(crate) phone: Device,
    pub(crate) home_city: City,
    pub(crate) home_net: Net,
    pub(crate) home_range: u32,
    /// Joined at this day (0 for founders).
    pub(crate) joined: u32,
    pub(crate) left: Option<u32>,
    pub(crate) admin: bool,
    /// Where each device last signed in, and its session id: later
    /// activity of that device comes from there, or from another of the
    /// person's usual places when the laptop went home with its session.
    pub(crate) laptop_at: Option<(Place, String)>,
    pub(crate) phone_at: Option<(Place, String)>,
}

pub(crate) struct Account {
    pub(crate) id: String,
    pub(crate) country: &'static Country,
    pub(crate) office_city: City,
    pub(crate) office_net: Net,
    pub(crate) office_range: u32,
    pub(crate) vpn: Option<(City, Net)>,
    pub(crate) staff: Vec<Staff>,
    pub(crate) clients: Vec<&'static str>,
    pub(crate) domains: Vec<String>,
    pub(crate) posts_per_day: f64,
    /// The platform reports session ids (`device.session`); about half do
    /// (Entra and Okta logs carry one, many social platforms' do not).
    pub(crate) sessions: bool,
}

/// Generated events: (time, order, json line).
pub(crate) struct Out {
    pub(crate) lines: Vec<(Millis, u64, String)>,
    pub(crate) seq: u64,
    pub(crate) account_no: usize,
}

#[derive(Default, Clone)]
pub(crate) struct Ev<'a> {
    pub(crate) kind: &'a str,
    pub(crate) actor: Option<&'a str>,
    pub(crate) outcome: Option<&'a str>,
    pub(crate) ip: Option<String>,
    pub(crate) city: Option<City>,
    pub(crate) net: Option<Net>,
    pub(crate) accuracy_km: Option<f64>,
    pub(crate) device: Option<&'a Device>,
    pub(crate) device_client_only: Option<&'a str>,
    pub(crate) post_client: Option<&'a str>,
    pub(crate) links: Vec<String>,
    pub(crate) text_len: Option<u32>,
    pub(crate) change: Vec<(&'a str, String)>,
    /// The platform's session id (`device.session`), when it reports one.
    pub(crate) session: Option<String>,
}

/// The `change` of a role grant: `target` given `role`.
pub(crate) fn role_grant<'a>(target: &str, role: &str) -> Vec<(&'a str, String)> {
    vec![
        ("action", "grant".into()),
        ("target", target.to_string()),
        ("role", role.to_string()),
    ]
}

impl<'a> Ev<'a> {
    /// An event of `kind` by `actor` on `device` from `place`.
    pub(crate) fn from(kind: &'a str, actor: &'a str, device: &'a Device, place: &Place) -> Ev<'a> {
        Ev {
            kind,
            actor: Some(actor),
            device: Some(device),
            ..Ev::at(place)
        }
    }

    /// Only the source of an event: `place`.
    pub(crate) fn at(place: &Place) -> Ev<'a> {
        Ev {
            ip: Some(place.ip.clone()),
            city: Some(place.city),
            net: Some(place.net),
            accuracy_km: Some(place.accuracy_km),
            ..Default::default()
        }
    }
}

impl Out {
    pub(crate) fn emit(&mut self, acct: &Account, t: Millis, ev: &Ev<'_>) -> String {
        self.seq += 1;
        let id = format!("e{:x}-{:x}", self.account_no, self.seq);
        let mut s = String::with_capacity(320);
        let _ = write!(
            s,
            "{{\"id\":\"{id}\",\"time\":\"{}\",\"account\":\"{}\",\"type\":\"{}\"",
            rfc3339(t),
            acct.id,
            ev.kind
        );
        if let Some(a) = ev.actor {
            let _ = write!(s, ",\"actor\":\"{a}\"");
        }
        if let Some(o) = ev.outcome {
            let _ = write!(s, ",\"outcome\":\"{o}\"");
        }
        if ev.ip.is_some() || ev.city.is_some() || ev.net.is_some() {
            s.push_str(",\"source\":{");
            let mut first = true;
            let mut sep = |s: &mut String| {
                if !first {
                    s.push(',');
                }
                first = false;
            };
            if let Some(ip) = &ev.ip {
                sep(&mut s);
                let _ = write!(s, "\"ip\":\"{ip}\"");
            }
            if let Some(n) = ev.net {
                sep(&mut s);
                let _ = write!(
                    s,
                    "\"asn\":{},\"as_org\":{}",
                    n.asn,
                    serde_json::to_string(n.org).expect("str")
                );
            }
            if let Some(c) = ev.city {
                sep(&mut s);
                let _ = write!(
                    s,
                    "\"country\":\"{}\",\"city\":\"{}\",\"lat\":{:.2},\"lon\":{:.2}",
                    c.country, c.name, c.lat, c.lon
                );
            }
            if let Some(a) = ev.accuracy_km {
                sep(&mut s);
                let _ = write!(s, "\"accuracy_km\":{a:.0}");
            }
            s.push('}');
        }
        if let Some(d) = ev.device {
            let _ = write!(
                s,
                ",\"device\":{{\"id\":\"{}\",\"user_agent\":{},\"client\":\"{}\"",
                d.id,
                serde_json::to_string(&d.ua).expect("str"),
                d.client
            );
            if let Some(session) = &ev.session {
                let _ = write!(s, ",\"session\":\"{session}\"");
            }
            s.push('}');
        } else if let Some(c) = ev.device_client_only {
            let _ = write!(s, ",\"device\":{{\"client\":\"{c}\"}}");
        }
        if ev.kind == "post" {
            s.push_str(",\"post\":{");
            if let Some(c) = ev.post_client {
                let _ = write!(s, "\"client\":\"{c}\",");
            }
            s.push_str("\"links\":[");
            for (i, l) in ev.links.iter().enumerate() {
                if i > 0 {
                    s.push(',');
                }
                let _ = write!(s, "\"{l}\"");
            }
            let _ = write!(s, "],\"text_len\":{}}}", ev.text_len.unwrap_or(120));
        }
        if !ev.change.is_empty() {
            s.push_str(",\"change\":{");
            for (i, (k, v)) in ev.change.iter().enumerate() {
                if i > 0 {
                    s.push(',');
                }
                let _ = write!(s, "\"{k}\":{}", serde_json::to_string(v).expect("str"));
            }
            s.push('}');
        }
        s.push('}');
        self.lines.push((t, self.seq, s));
        id
    }
}

/// Who published a post made through a third-party tool, as the
/// platform's log says: Meta's (fb, ig) name the person who published
/// through the tool; the others attribute the post to the app alone. So
/// on those a team's tool post and a malicious app's post both come
/// without an actor, and the detector cannot tell them apart by who.
pub(crate) fn tool_publisher<'a>(acct: &Account, person: &'a str) -> Option<&'a str> {
    (acct.id.starts_with("fb:") || acct.id.starts_with("ig:")).then_some(person)
}

pub(crate) fn ip_in(net: Net, range: u32, host: u64) -> String {
    // A stable /16 per network, then the /24 "range" and a host.
    let h = crate::hash::mix64(net.asn as u64);
    let a = 11 + (h % 200) as u32;
    let b = ((h >> 8) % 256) as u32;
    format!("{a}.{b}.{}.{}", range % 256, 1 + host % 253)
}

pub(crate) fn new_device(rng: &mut Rng, mobile: bool) -> Device {
    let id = format!("d-{:08x}", rng.u64() as u32);
    if mobile {
        let (client, ua) = *rng.pick(MOBILE_UAS);
        Device {
            id,
            client,
            ua: ua.replace("{v}", &rng.range(10, 60).to_string()),
        }
    } else {
        let ua = rng
            .pick(DESKTOP_UAS)
            .replace("{v}", &rng.range(118, 131).to_string());
        Device {
            id,
            client: "web",
            ua,
        }
    }
}

pub(crate) fn new_staff(
    rng: &mut Rng,
    acct_country: &'static Country,
    office: City,
    joined: u32,
    n: usize,
) -> Staff {
    let name = format!(
        "staff:{}{}",
        rng.pick(FIRST_NAMES),
        if n > 0 { format!("{n}") } else { String::new() }
    );
    let home_city = if rng.chance(0.85) {
        office
    } else {
        *rng.pick(acct_country.cities)
    };
    Staff {
        actor: name,
        laptop: new_device(rng, false),
        phone: new_device(rng, true),
        home_city,
        home_net: *rng.pick(acct_country.isps),
        home_range: rng.below(256) as u32,
        joined,
        left: None,
        admin: false,
        laptop_at: None,
        phone_at: None,
    }
}

/// Context of one sign-in or action: where it comes from.
#[derive(Clone)]
pub(crate) struct Place {
    pub(crate) city: City,
    pub(crate) net: Net,
    pub(crate) ip: String,
    pub(crate) accuracy_km: f64,
}

impl Account {
    pub(crate) fn office(&self, rng: &mut Rng) -> Place {
        Place {
            city: self.office_city,
            net: self.office_net,
            ip: ip_in(self.office_net, self.office_range, rng.below(40)),
            accuracy_km: 10.0 + rng.below(15) as f64,
        }
    }
    pub(crate) fn home(&self, s: &Staff, rng: &mut Rng, day: u32) -> Place {
        // Broadband addresses drift to a new range every few weeks.
        let range = s.home_range + day / 24;
        Place {
            city: s.home_city,
            net: s.home_net,
            ip: ip_in(s.home_net, range, rng.below(250)),
            accuracy_km: 20.0 + rng.below(30) as f64,
        }
    }
    pub(crate) fn mobile(&self, rng: &mut Rng) -> Place {
        // Carrier geolocation: one of the carrier's gateway cities.
        let carrier = *rng.pick(self.country.mobile);
        let hubs = &self.country.cities[..self.country.cities.len().min(4)];
        Place {
            city: *rng.pick(hubs),
            net: carrier,
            ip: ip_in(carrier, rng.below(64) as u32, rng.below(250)),
            accuracy_km: 100.0 + rng.below(400) as f64,
        }
    }
    pub(crate) fn vpn(&self, rng: &mut Rng) -> Option<Place> {
        let (city, net) = self.vpn?;
        Some(Place {
            city,
            net,
            ip: ip_in(net, 7, rng.below(30)),
            accuracy_km: 25.0,
        })
    }
}

impl Account {
    /// Where a staff member's device acts from between sign-ins: mostly
    /// where it last signed in, sometimes another of the person's usual
    /// places (the laptop carried home, the phone on the carrier), with
    /// the session id of that sign-in.
    pub(crate) fn session_place(
        &self,
        s: &Staff,
        laptop: bool,
        rng: &mut Rng,
        day: u32,
    ) -> (Place, Option<String>) {
        let last = if laptop { &s.laptop_at } else { &s.phone_at };
        let session = self.reported_session(last);
        match last {
            Some((p, _)) if rng.chance(0.75) => (p.clone(), session),
            _ if laptop && rng.chance(0.5) => (self.home(s, rng, day), session),
            _ if laptop => (self.office(rng), session),
            _ => (self.mobile(rng), session),
        }
    }

    /// The session id of a device's last sign-in (`Staff::laptop_at` or
    /// `phone_at`), when the platform reports sessions.
    pub(crate) fn reported_session(&self, last: &Option<(Place, String)>) -> Option<String> {
        last.as_ref()
            .map(|(_, id)| id.clone())
            .filter(|_| self.sessions)
    }
}

/// A new session id.
pub(crate) fn session_id(rng: &mut Rng) -> String {
    format!("s-{:012x}", rng.u64() & 0xffff_ffff_ffff)
}

pub(crate) fn local_time(day_start: Millis, offset_min: i32, local_hour: f64) -> Millis {
    day_start + (local_hour * HOUR as f64) as Millis - offset_min as Millis * MINUTE
}

/// Samples a posting hour (local time) from office-hours weights.
pub(crate) fn post_hour(rng: &mut Rng) -> f64 {
    let r = rng.f64();
    if r < 0.82 {
        7.5 + rng.f64() * 9.5
    } else if r < 0.97 {
        17.0 + rng.f64() * 5.0
    } else {
        5.5 + rng.f64() * 2.0
    }
}
