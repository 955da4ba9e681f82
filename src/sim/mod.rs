//! `kawal simulate`: realistic activity of institutional accounts, with
//! labelled takeovers.
//!
//! Each account is a ministry or agency account run by a few staff members.
//! Staff have laptops and phones, sign in from the office network, from
//! home broadband (whose addresses drift between ranges) and from mobile
//! carriers (whose geolocation jumps between the carrier's gateway cities
//! with a wide `accuracy_km`). Some agencies route sign-ins through a
//! corporate VPN that exits abroad. Staff travel, buy new phones, join and
//! leave (role grants and revocations), change passwords on schedule; the
//! account posts in office hours of its time zone through one or two
//! management tools, with campaign days, threads, and the occasional
//! night-time emergency announcement.
//!
//! Beyond the routine, accounts live through benign stories that fire
//! kawal's signals for innocent reasons (a campaign agency given a role, a
//! phone replacement with two-factor re-enrolled, cloud desktops, posting
//! by API, a new app, travel on a borrowed laptop); the truth lists them
//! so that false alerts can be traced to a story.
//!
//! After a warm-up, some accounts are taken over, each in one of several
//! styles (credential stuffing, foreign phishing, session hijack, OAuth
//! consent phishing, SIM swap with slow follow-up, admin hijack, a stolen
//! session cookie, phishing through a local residential proxy). The
//! attacker's events are listed in `truth.json` with the style and the
//! attack's time span.
//!
//! Layout: `world` (places, networks, clients), `people` (accounts,
//! staff, devices, the event emitter), `benign/` (one file per behaviour
//! family), `attack/` (one file per style).
//!
//! Randomness comes from a small seeded PRNG of our own (xoshiro256**),
//! one stream per account, so a seed gives the same files on every
//! platform and every version of the dependencies.

mod attack;
mod benign;
mod people;
mod world;

pub use attack::STYLES;
pub use benign::BEHAVIOURS;

use serde::{Deserialize, Serialize};
use std::io::Write;

use benign::{Life, Today};
use people::{Account, Out, new_staff};
use world::{AGENCIES, COMMON_DOMAINS, COUNTRIES, PLATFORMS, POST_CLIENTS, VPN_EXITS, net};

use crate::time::{DAY, Millis, days_from_civil, rfc3339};

/// xoshiro256** seeded through SplitMix64.
#[derive(Clone)]
pub struct Rng([u64; 4]);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        let mut x = seed;
        let mut next = || {
            x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut z = x;
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            z ^ (z >> 31)
        };
        Rng([next(), next(), next(), next()])
    }

    pub fn u64(&mut self) -> u64 {
        let s = &mut self.0;
        let out = s[1].wrapping_mul(5).rotate_left(7).wrapping_mul(9);
        let t = s[1] << 17;
        s[2] ^= s[0];
        s[3] ^= s[1];
        s[1] ^= s[2];
        s[0] ^= s[3];
        s[2] ^= t;
        s[3] = s[3].rotate_left(45);
        out
    }

    /// Uniform in [0, 1).
    pub fn f64(&mut self) -> f64 {
        (self.u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    pub fn below(&mut self, n: u64) -> u64 {
        if n == 0 { 0 } else { self.u64() % n }
    }

    pub fn range(&mut self, lo: i64, hi: i64) -> i64 {
        lo + self.below((hi - lo).max(0) as u64 + 1) as i64
    }

    pub fn chance(&mut self, p: f64) -> bool {
        self.f64() < p
    }

    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len() as u64) as usize]
    }

    /// Poisson by inversion (small means) or a normal approximation.
    pub fn poisson(&mut self, mean: f64) -> u32 {
        if mean <= 0.0 {
            return 0;
        }
        if mean > 30.0 {
            return (mean + mean.sqrt() * self.normal()).round().max(0.0) as u32;
        }
        let l = (-mean).exp();
        let mut k = 0;
        let mut p = 1.0;
        loop {
            p *= self.f64();
            if p <= l {
                return k;
            }
            k += 1;
        }
    }

    pub fn normal(&mut self) -> f64 {
        let u1 = self.f64().max(1e-12);
        let u2 = self.f64();
        (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
    }

    /// Exponential with the given mean.
    pub fn exp(&mut self, mean: f64) -> f64 {
        -mean * (1.0 - self.f64()).max(1e-12).ln()
    }
}

#[derive(Debug, Clone)]
pub struct SimConfig {
    pub accounts: usize,
    pub days: u32,
    pub seed: u64,
    /// First day (midnight UTC).
    pub start: Millis,
    /// Share of accounts taken over after the warm-up.
    pub attack_share: f64,
    pub warmup_days: u32,
    /// Attack styles and benign stories not to generate (to tune with them
    /// held back, then measure on them).
    pub without: Vec<String>,
}

impl SimConfig {
    /// Whether the style or story `name` is generated.
    pub fn generates(&self, name: &str) -> bool {
        !self.without.iter().any(|w| w == name)
    }
}

impl Default for SimConfig {
    fn default() -> Self {
        SimConfig {
            accounts: 200,
            days: 30,
            seed: 1,
            start: days_from_civil(2026, 1, 5) * DAY,
            attack_share: 0.05,
            warmup_days: 14,
            without: Vec::new(),
        }
    }
}

/// One injected takeover.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Takeover {
    pub account: String,
    pub style: String,
    pub start: String,
    pub end: String,
    pub events: Vec<String>,
}

/// `truth.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Truth {
    pub generator: String,
    pub seed: u64,
    pub accounts: usize,
    pub days: u32,
    pub start: String,
    pub end: String,
    pub takeovers: Vec<Takeover>,
    /// Benign stories (absent in truth files of kawal-sim/1).
    #[serde(default)]
    pub benign: Vec<Story>,
}

/// One benign story (see `sim::benign`): false alerts on its account
/// within its span are attributed to it by `kawal evaluate`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Story {
    pub account: String,
    pub behaviour: String,
    pub start: String,
    pub end: String,
    /// Still being told (generation only).
    #[serde(skip)]
    pub open: bool,
}

/// The account: its country, office, staff, clients and sites.
fn new_account(no: usize, rng: &mut Rng) -> Account {
    let country = if rng.chance(0.8) {
        &COUNTRIES[0]
    } else {
        rng.pick(&COUNTRIES[1..])
    };
    let handle = format!("{}{}", rng.pick(AGENCIES), no);
    let office_city = country.cities[if rng.chance(0.6) {
        0
    } else {
        rng.below(country.cities.len() as u64) as usize
    }];
    let mut acct = Account {
        id: format!("{}:{handle}", rng.pick(PLATFORMS)),
        country,
        office_city,
        office_net: if rng.chance(0.5) {
            net(64_500 + (no % 900) as u32, "Government Network (SPBE)")
        } else {
            *rng.pick(country.isps)
        },
        office_range: rng.below(256) as u32,
        vpn: if rng.chance(0.2) {
            Some(*rng.pick(VPN_EXITS))
        } else {
            None
        },
        staff: Vec::new(),
        clients: Vec::new(),
        domains: Vec::new(),
        posts_per_day: 1.5 + rng.exp(5.0).min(25.0),
        sessions: rng.chance(0.5),
    };
    let n_staff = rng.range(2, 6) as usize;
    for i in 0..n_staff {
        let mut s = new_staff(rng, country, office_city, 0, i);
        s.admin = i == 0 || rng.chance(0.3);
        acct.staff.push(s);
    }
    acct.clients.push(*rng.pick(POST_CLIENTS));
    if rng.chance(0.4) {
        acct.clients.push(*rng.pick(POST_CLIENTS));
    }
    // The agency's own site, under its government's suffix or not.
    acct.domains
        .push(format!("{handle}.{}", country.gov_suffix));
    for _ in 0..rng.range(3, 7) {
        acct.domains.push(rng.pick(COMMON_DOMAINS).to_string());
    }
    acct
}

/// Seed of the stream of stories added after the simulator's first sets.
const LATER_STREAM: u64 = 0x7061_7373_776f_7264;
/// Seeds of the streams of the stories added after those (`handover`,
/// `new_browser`), one each, so that they leave the earlier stories'
/// draws as they were and leaving one out leaves the other as it was.
const HANDOVER_STREAM: u64 = 0x6861_6e64_6f76_6572;
const BROWSER_STREAM: u64 = 0x6272_6f77_7365_7273;

fn generate_account(
    cfg: &SimConfig,
    no: usize,
    rng: &mut Rng,
    truth: &mut Vec<Takeover>,
    stories: &mut Vec<Story>,
    out: &mut Out,
) {
    let mut acct = new_account(no, rng);
    // Takeover plan.
    let attacked = cfg.days > cfg.warmup_days + 2 && rng.chance(cfg.attack_share);
    let attack_day = if attacked {
        cfg.warmup_days + rng.below((cfg.days - cfg.warmup_days - 2) as u64) as u32
    } else {
        u32::MAX
    };
    let styles: Vec<&str> = STYLES
        .iter()
        .copied()
        .filter(|s| cfg.generates(s))
        .collect();
    let style = *rng.pick(&styles);
    let mut life = Life::new(cfg, rng);
    // Stories added later draw from a stream of their own, so that they
    // leave the others' events as they were.
    let stream = |salt: u64| Rng::new(cfg.seed ^ crate::hash::mix64(no as u64 + 1) ^ salt);
    let mut later = stream(LATER_STREAM);
    let (mut handover, mut browser) = (stream(HANDOVER_STREAM), stream(BROWSER_STREAM));

    for day in 0..cfg.days {
        let start = cfg.start + day as Millis * DAY;
        let d = Today {
            day,
            start,
            weekday: ((start / DAY + 3) % 7) < 5,
        };
        benign::phone_replacement::day(
            &mut acct,
            &mut life,
            d,
            rng,
            &mut later,
            out,
            cfg.generates("phone_replacement"),
        );
        benign::staff::day(&mut acct, &mut life.staff, d, rng, out);
        benign::cloud_desktop::day(&acct, &mut life, d);
        benign::signins::day(&mut acct, &mut life, d, rng, out);
        benign::upkeep::day(&acct, d, rng, out);
        benign::posting::day(&acct, d, rng, out);
        benign::agency::day(&mut acct, &mut life, d, rng, out);
        benign::scheduled_api::day(&acct, &mut life, d, rng, out);
        benign::new_app::day(&acct, &mut life, d, rng, out);
        benign::password_trouble::day(
            &mut acct,
            &mut life,
            d,
            &mut later,
            out,
            (
                cfg.generates("forgotten_password"),
                cfg.generates("stale_password"),
            ),
        );
        if cfg.generates("handover") {
            benign::handover::day(&mut acct, &mut life, d, &mut handover, out, cfg.days);
        }
        if cfg.generates("new_browser") {
            benign::new_browser::day(&mut acct, &mut life, d, &mut browser, out);
        }

        if day == attack_day {
            let t0 = start + rng.below(DAY as u64) as Millis;
            let events = attack::attack(style, &acct, t0, rng, out);
            truth.push(Takeover {
                account: acct.id.clone(),
                style: style.to_string(),
                start: rfc3339(events.first().map_or(t0, |e| e.0)),
                end: rfc3339(events.last().map_or(t0, |e| e.0)),
                events: events.into_iter().map(|e| e.1).collect(),
            });
        }
    }
    stories.append(&mut life.stories);
}

pub fn simulate(
    cfg: &SimConfig,
    events: &mut dyn Write,
    progress: &mut dyn FnMut(usize),
) -> std::io::Result<Truth> {
    let mut truth = Vec::new();
    let mut stories = Vec::new();
    let mut all: Vec<(Millis, u64, String)> = Vec::new();
    for no in 0..cfg.accounts {
        let mut rng = Rng::new(cfg.seed ^ crate::hash::mix64(no as u64 + 1));
        let mut out = Out {
            lines: Vec::new(),
            seq: 0,
            account_no: no,
        };
        generate_account(cfg, no, &mut rng, &mut truth, &mut stories, &mut out);
        let base = (no as u64) << 32;
        all.extend(out.lines.into_iter().map(|(t, s, l)| (t, base | s, l)));
        progress(no + 1);
    }
    // Global event-time order; ties keep each account's own order.
    all.sort_by_key(|(t, o, _)| (*t, *o));
    let end = cfg.start + cfg.days as Millis * DAY;
    let mut w = std::io::BufWriter::with_capacity(1 << 20, events);
    for (t, _, line) in &all {
        if *t < cfg.start || *t >= end + 3 * DAY {
            continue;
        }
        w.write_all(line.as_bytes())?;
        w.write_all(b"\n")?;
    }
    w.flush()?;
    truth.sort_by(|a, b| a.start.cmp(&b.start).then(a.account.cmp(&b.account)));
    stories.sort_by(|a, b| a.start.cmp(&b.start).then(a.account.cmp(&b.account)));
    Ok(Truth {
        generator: "kawal-sim/2".into(),
        seed: cfg.seed,
        accounts: cfg.accounts,
        days: cfg.days,
        start: rfc3339(cfg.start),
        end: rfc3339(end),
        takeovers: truth,
        benign: stories,
    })
}

/// A simulation without takeovers, as its truth and its NDJSON: what the
/// benign stories' tests read.
#[cfg(test)]
pub(crate) fn benign_run(accounts: usize, days: u32, seed: u64) -> (Truth, String) {
    let cfg = SimConfig {
        accounts,
        days,
        seed,
        attack_share: 0.0,
        ..Default::default()
    };
    let mut buf = Vec::new();
    let truth = simulate(&cfg, &mut buf, &mut |_| {}).unwrap();
    (truth, String::from_utf8(buf).unwrap())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decode::decode;

    #[test]
    fn rng_is_deterministic_and_uniformish() {
        let mut a = Rng::new(7);
        let mut b = Rng::new(7);
        let xs: Vec<u64> = (0..10).map(|_| a.u64()).collect();
        let ys: Vec<u64> = (0..10).map(|_| b.u64()).collect();
        assert_eq!(xs, ys);
        let mean: f64 = (0..100_000).map(|_| a.f64()).sum::<f64>() / 100_000.0;
        assert!((mean - 0.5).abs() < 0.01);
        let pm: f64 = (0..20_000).map(|_| a.poisson(3.0) as f64).sum::<f64>() / 20_000.0;
        assert!((pm - 3.0).abs() < 0.1, "{pm}");
    }

    #[test]
    fn simulated_events_are_valid_ordered_and_labelled() {
        let cfg = SimConfig {
            accounts: 60,
            days: 30,
            seed: 3,
            attack_share: 0.3,
            ..Default::default()
        };
        let mut buf = Vec::new();
        let truth = simulate(&cfg, &mut buf, &mut |_| {}).unwrap();
        let text = String::from_utf8(buf).unwrap();
        let mut last = i64::MIN;
        let mut ids = std::collections::HashSet::new();
        for line in text.lines() {
            let ev = decode(line.as_bytes()).unwrap_or_else(|e| panic!("{e}: {line}"));
            assert!(ev.time >= last, "out of order: {line}");
            last = ev.time;
            assert!(ids.insert(ev.id.to_string()));
        }
        assert!(!truth.takeovers.is_empty());
        let styles: std::collections::HashSet<&str> =
            truth.takeovers.iter().map(|t| t.style.as_str()).collect();
        assert!(styles.len() >= 4, "{styles:?}");
        for t in &truth.takeovers {
            assert!(!t.events.is_empty());
            assert!(t.events.iter().all(|e| ids.contains(e)));
            assert!(t.start <= t.end);
        }
        // Same seed, same bytes.
        let mut again = Vec::new();
        let truth2 = simulate(&cfg, &mut again, &mut |_| {}).unwrap();
        assert_eq!(text.as_bytes(), &again[..]);
        assert_eq!(truth, truth2);
    }
}
