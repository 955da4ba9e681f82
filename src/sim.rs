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
//! After a warm-up, some accounts are taken over, each in one of several
//! styles (credential stuffing, foreign phishing, session hijack, OAuth
//! consent phishing, SIM swap with slow follow-up, admin hijack). The
//! attacker's events are listed in `truth.json` with the style and the
//! attack's time span.
//!
//! Randomness comes from a small seeded PRNG of our own (xoshiro256**),
//! one stream per account, so a seed gives the same files on every
//! platform and every version of the dependencies.

use serde::{Deserialize, Serialize};
use std::fmt::Write as _;
use std::io::Write;

use crate::time::{DAY, HOUR, MINUTE, Millis, SECOND, days_from_civil, rfc3339};

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

#[derive(Debug, Clone, Copy)]
pub struct City {
    pub name: &'static str,
    pub country: &'static str,
    pub lat: f64,
    pub lon: f64,
}

const fn city(name: &'static str, country: &'static str, lat: f64, lon: f64) -> City {
    City {
        name,
        country,
        lat,
        lon,
    }
}

#[derive(Debug, Clone, Copy)]
pub struct Net {
    pub asn: u32,
    pub org: &'static str,
}

const fn net(asn: u32, org: &'static str) -> Net {
    Net { asn, org }
}

/// Home countries: a city list, broadband ISPs, mobile carriers, UTC offset (minutes).
struct Country {
    cities: &'static [City],
    isps: &'static [Net],
    mobile: &'static [Net],
    offset_min: i32,
}

const ID_CITIES: &[City] = &[
    city("Jakarta", "ID", -6.21, 106.85),
    city("Surabaya", "ID", -7.25, 112.75),
    city("Bandung", "ID", -6.91, 107.61),
    city("Medan", "ID", 3.59, 98.67),
    city("Makassar", "ID", -5.14, 119.42),
    city("Denpasar", "ID", -8.65, 115.22),
    city("Yogyakarta", "ID", -7.80, 110.36),
    city("Semarang", "ID", -6.97, 110.42),
    city("Balikpapan", "ID", -1.27, 116.83),
    city("Jayapura", "ID", -2.53, 140.72),
];

const COUNTRIES: &[Country] = &[
    Country {
        cities: ID_CITIES,
        isps: &[
            net(7713, "PT Telekomunikasi Indonesia"),
            net(17451, "Biznet Networks"),
            net(23700, "Linknet-Fastnet ASN"),
            net(63859, "MyRepublic Indonesia"),
            net(4787, "PT Cyberindo Aditama"),
        ],
        mobile: &[
            net(23693, "PT. Telekomunikasi Selular"),
            net(4761, "Indosat Ooredoo Hutchison"),
            net(24203, "PT XL Axiata Tbk"),
        ],
        offset_min: 420,
    },
    Country {
        cities: &[
            city("Kuala Lumpur", "MY", 3.139, 101.69),
            city("Johor Bahru", "MY", 1.49, 103.74),
            city("Penang", "MY", 5.41, 100.33),
        ],
        isps: &[net(4788, "TM Net"), net(9534, "Maxis Broadband")],
        mobile: &[net(10030, "Celcom Axiata"), net(38466, "U Mobile")],
        offset_min: 480,
    },
    Country {
        cities: &[
            city("Manila", "PH", 14.60, 120.98),
            city("Cebu", "PH", 10.32, 123.89),
            city("Davao", "PH", 7.19, 125.46),
        ],
        isps: &[
            net(9299, "Philippine Long Distance Telephone"),
            net(132199, "Globe Telecom"),
        ],
        mobile: &[
            net(4775, "Globe Telecoms mobile"),
            net(10139, "Smart Communications"),
        ],
        offset_min: 480,
    },
    Country {
        cities: &[
            city("Bangkok", "TH", 13.75, 100.50),
            city("Chiang Mai", "TH", 18.79, 98.98),
        ],
        isps: &[net(7470, "True Internet"), net(45758, "Triple T Broadband")],
        mobile: &[
            net(131445, "Advanced Wireless Network"),
            net(24378, "Total Access Communication"),
        ],
        offset_min: 420,
    },
];

/// Where staff travel (with the hotel's or venue's network).
const TRIPS: &[(City, Net)] = &[
    (
        city("Singapore", "SG", 1.35, 103.82),
        net(7473, "Singapore Telecommunications"),
    ),
    (
        city("Kuala Lumpur", "MY", 3.139, 101.69),
        net(4788, "TM Net"),
    ),
    (
        city("Tokyo", "JP", 35.68, 139.69),
        net(4713, "NTT Communications"),
    ),
    (city("Sydney", "AU", -33.87, 151.21), net(1221, "Telstra")),
    (city("Amsterdam", "NL", 52.37, 4.90), net(1136, "KPN")),
    (
        city("Washington", "US", 38.90, -77.04),
        net(7922, "Comcast Cable"),
    ),
    (
        city("Jeddah", "SA", 21.49, 39.19),
        net(25019, "Saudi Telecom Company"),
    ),
    (
        city("Seoul", "KR", 37.57, 126.98),
        net(4766, "Korea Telecom"),
    ),
    (city("Geneva", "CH", 46.20, 6.14), net(3303, "Swisscom")),
    (
        city("London", "GB", 51.51, -0.13),
        net(2856, "British Telecommunications"),
    ),
    (city("Beijing", "CN", 39.90, 116.40), net(4134, "Chinanet")),
    (
        city("Bangkok", "TH", 13.75, 100.50),
        net(7470, "True Internet"),
    ),
];

/// Corporate VPN exits abroad (the organisation's own gateway networks).
const VPN_EXITS: &[(City, Net)] = &[
    (
        city("Singapore", "SG", 1.29, 103.85),
        net(138915, "Kementerian Gateway SG"),
    ),
    (
        city("Hong Kong", "HK", 22.32, 114.17),
        net(141995, "Regional Secure Gateway"),
    ),
    (
        city("Tokyo", "JP", 35.69, 139.75),
        net(142032, "Agency Remote Access"),
    ),
];

/// Attackers: residential or mobile origins, and hosting/VPN exits.
const ATTACK_HOMES: &[(City, Net)] = &[
    (city("Lagos", "NG", 6.45, 3.39), net(29465, "MTN Nigeria")),
    (
        city("Ho Chi Minh City", "VN", 10.82, 106.63),
        net(7552, "Viettel Group"),
    ),
    (city("Moscow", "RU", 55.76, 37.62), net(12389, "Rostelecom")),
    (
        city("Sao Paulo", "BR", -23.55, -46.63),
        net(28573, "Claro NXT"),
    ),
    (city("Kyiv", "UA", 50.45, 30.52), net(15895, "Kyivstar")),
    (
        city("Karachi", "PK", 24.86, 67.01),
        net(17557, "Pakistan Telecommunication"),
    ),
    (
        city("Dhaka", "BD", 23.81, 90.41),
        net(24389, "Grameenphone"),
    ),
    (
        city("Bucharest", "RO", 44.43, 26.10),
        net(8708, "RCS & RDS"),
    ),
    (
        city("Jakarta", "ID", -6.21, 106.85),
        net(17451, "Biznet Networks"),
    ),
    (
        city("Medan", "ID", 3.59, 98.67),
        net(7713, "PT Telekomunikasi Indonesia"),
    ),
];

const ATTACK_HOSTING: &[(City, Net)] = &[
    (
        city("Ashburn", "US", 39.04, -77.49),
        net(16509, "Amazon.com"),
    ),
    (
        city("Frankfurt", "DE", 50.11, 8.68),
        net(24940, "Hetzner Online"),
    ),
    (
        city("Amsterdam", "NL", 52.37, 4.90),
        net(14061, "DigitalOcean"),
    ),
    (
        city("Singapore", "SG", 1.35, 103.82),
        net(20473, "The Constant Company (Vultr)"),
    ),
    (city("Paris", "FR", 48.86, 2.35), net(16276, "OVH SAS")),
    (
        city("Bucharest", "RO", 44.43, 26.10),
        net(9009, "M247 Europe"),
    ),
];

const POST_CLIENTS: &[&str] = &[
    "Hootsuite",
    "Meta Business Suite",
    "X Web App",
    "Buffer",
    "Sprout Social",
    "X for iPhone",
];
const COMMON_DOMAINS: &[&str] = &[
    "indonesia.go.id",
    "youtube.com",
    "instagram.com",
    "antaranews.com",
    "kompas.com",
    "detik.com",
    "tempo.co",
    "cnnindonesia.com",
    "bit.ly",
    "s.id",
    "setkab.go.id",
    "presidenri.go.id",
];
const EXTRA_DOMAINS: &[&str] = &[
    "tribunnews.com",
    "liputan6.com",
    "republika.co.id",
    "jakartapost.com",
    "thejakartapost.com",
    "who.int",
    "un.org",
    "worldbank.org",
    "bmkg.go.id",
    "bnpb.go.id",
    "kemlu.go.id",
    "kemkes.go.id",
    "katadata.co.id",
    "bisnis.com",
    "okezone.com",
    "suara.com",
    "viva.co.id",
    "tiktok.com",
    "facebook.com",
    "linkedin.com",
    "medium.com",
    "docs.google.com",
    "forms.gle",
    "drive.google.com",
];
const AGENCIES: &[&str] = &[
    "kemenkes",
    "kemendikbud",
    "kominfo",
    "bmkg",
    "bnpb",
    "polri",
    "kemenkeu",
    "bappenas",
    "kemlu",
    "kemnaker",
    "kementan",
    "kemenhub",
    "kemenpar",
    "bpom",
    "bps",
    "bi",
    "ojk",
    "kpk",
    "bkn",
    "lapan",
];
const FIRST_NAMES: &[&str] = &[
    "rina", "andi", "budi", "sari", "dewi", "agus", "putri", "eko", "wati", "hendra", "yuni",
    "fajar", "indah", "rizky", "nur", "dian", "bayu", "maya", "tono", "lestari", "arif", "sinta",
    "joko", "ratna",
];
const PLATFORMS: &[&str] = &["x", "ig", "fb", "tiktok", "yt"];
const DESKTOP_UAS: &[&str] = &[
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/{v}.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/{v}.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:{v}.0) Gecko/20100101 Firefox/{v}.0",
];
const MOBILE_UAS: &[(&str, &str)] = &[
    ("ios", "Twitter-iPhone/10.{v} iOS/17.4 (Apple;iPhone15,2)"),
    (
        "android",
        "TwitterAndroid/10.{v} Dalvik/2.1.0 (Linux; U; Android 14; SM-S918B)",
    ),
    ("ios", "Instagram 3{v}.0 (iPhone14,5; iOS 17_3; id_ID)"),
    (
        "android",
        "Instagram 3{v}.0 Android (33/13; 420dpi; Xiaomi; 2201117TY)",
    ),
];

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
}

pub const STYLES: &[&str] = &[
    "credential_stuffing",
    "foreign_phishing",
    "session_hijack",
    "oauth_consent",
    "sim_swap_slow",
    "admin_hijack",
];

#[derive(Clone)]
struct Device {
    id: String,
    client: &'static str,
    ua: String,
}

#[derive(Clone)]
struct Staff {
    actor: String,
    laptop: Device,
    phone: Device,
    home_city: City,
    home_net: Net,
    home_range: u32,
    /// Joined at this day (0 for founders).
    joined: u32,
    left: Option<u32>,
    admin: bool,
}

struct Account {
    id: String,
    country: &'static Country,
    office_city: City,
    office_net: Net,
    office_range: u32,
    vpn: Option<(City, Net)>,
    staff: Vec<Staff>,
    clients: Vec<&'static str>,
    domains: Vec<String>,
    posts_per_day: f64,
}

/// Generated events: (time, order, json line).
struct Out {
    lines: Vec<(Millis, u64, String)>,
    seq: u64,
    account_no: usize,
}

#[derive(Default, Clone)]
struct Ev<'a> {
    kind: &'a str,
    actor: Option<&'a str>,
    outcome: Option<&'a str>,
    ip: Option<String>,
    city: Option<City>,
    net: Option<Net>,
    accuracy_km: Option<f64>,
    device: Option<&'a Device>,
    device_client_only: Option<&'a str>,
    post_client: Option<&'a str>,
    links: Vec<String>,
    text_len: Option<u32>,
    change: Vec<(&'a str, String)>,
}

impl Out {
    fn emit(&mut self, acct: &Account, t: Millis, ev: &Ev<'_>) -> String {
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
                ",\"device\":{{\"id\":\"{}\",\"user_agent\":{},\"client\":\"{}\"}}",
                d.id,
                serde_json::to_string(&d.ua).expect("str"),
                d.client
            );
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

fn ip_in(net: Net, range: u32, host: u64) -> String {
    // A stable /16 per network, then the /24 "range" and a host.
    let h = crate::hash::mix64(net.asn as u64);
    let a = 11 + (h % 200) as u32;
    let b = ((h >> 8) % 256) as u32;
    format!("{a}.{b}.{}.{}", range % 256, 1 + host % 253)
}

fn new_device(rng: &mut Rng, mobile: bool) -> Device {
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

fn new_staff(
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
    }
}

/// Context of one sign-in or action: where it comes from.
struct Place {
    city: City,
    net: Net,
    ip: String,
    accuracy_km: f64,
}

impl Account {
    fn office(&self, rng: &mut Rng) -> Place {
        Place {
            city: self.office_city,
            net: self.office_net,
            ip: ip_in(self.office_net, self.office_range, rng.below(40)),
            accuracy_km: 10.0 + rng.below(15) as f64,
        }
    }
    fn home(&self, s: &Staff, rng: &mut Rng, day: u32) -> Place {
        // Broadband addresses drift to a new range every few weeks.
        let range = s.home_range + day / 24;
        Place {
            city: s.home_city,
            net: s.home_net,
            ip: ip_in(s.home_net, range, rng.below(250)),
            accuracy_km: 20.0 + rng.below(30) as f64,
        }
    }
    fn mobile(&self, rng: &mut Rng) -> Place {
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
    fn vpn(&self, rng: &mut Rng) -> Option<Place> {
        let (city, net) = self.vpn?;
        Some(Place {
            city,
            net,
            ip: ip_in(net, 7, rng.below(30)),
            accuracy_km: 25.0,
        })
    }
}

fn local_time(day_start: Millis, offset_min: i32, local_hour: f64) -> Millis {
    day_start + (local_hour * HOUR as f64) as Millis - offset_min as Millis * MINUTE
}

/// Samples a posting hour (local time) from office-hours weights.
fn post_hour(rng: &mut Rng) -> f64 {
    let r = rng.f64();
    if r < 0.82 {
        7.5 + rng.f64() * 9.5
    } else if r < 0.97 {
        17.0 + rng.f64() * 5.0
    } else {
        5.5 + rng.f64() * 2.0
    }
}

fn generate_account(
    cfg: &SimConfig,
    no: usize,
    rng: &mut Rng,
    truth: &mut Vec<Takeover>,
    out: &mut Out,
) {
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
    acct.domains.push(format!("{handle}.go.id"));
    for _ in 0..rng.range(3, 7) {
        acct.domains.push(rng.pick(COMMON_DOMAINS).to_string());
    }

    // Takeover plan.
    let attacked = cfg.days > cfg.warmup_days + 2 && rng.chance(cfg.attack_share);
    let attack_day = if attacked {
        cfg.warmup_days + rng.below((cfg.days - cfg.warmup_days - 2) as u64) as u32
    } else {
        u32::MAX
    };
    let style = *rng.pick(STYLES);

    // Trips: (staff index, first day, days, destination).
    let mut trip: Option<(usize, u32, u32, (City, Net))> = None;
    let mut next_trip = rng.exp(45.0) as u32;
    let mut next_onboarding = rng.exp(90.0) as u32 + 5;
    let mut attack_done = false;

    for day in 0..cfg.days {
        let day_start = cfg.start + day as Millis * DAY;
        let weekday = ((day_start / DAY + 3) % 7) < 5;
        if day == next_trip && trip.is_none() {
            let who = rng.below(acct.staff.len() as u64) as usize;
            trip = Some((who, day, rng.range(2, 6) as u32, *rng.pick(TRIPS)));
        }
        if let Some((_, first, len, _)) = trip
            && day >= first + len
        {
            trip = None;
            next_trip = day + 10 + rng.exp(45.0) as u32;
        }
        // New phones.
        for s in acct.staff.iter_mut() {
            if rng.chance(1.0 / 150.0) {
                s.phone = new_device(rng, true);
            }
        }
        // Onboarding: an admin grants a role to a new staff member.
        if day == next_onboarding {
            let admin_idx = acct
                .staff
                .iter()
                .position(|s| s.admin && s.left.is_none())
                .unwrap_or(0);
            let n = acct.staff.len();
            let newcomer = new_staff(rng, country, office_city, day + 1, n);
            let at = local_time(day_start, country.offset_min, 9.0 + rng.f64() * 6.0);
            let admin = acct.staff[admin_idx].clone();
            let place = acct.office(rng);
            out.emit(
                &acct,
                at,
                &Ev {
                    kind: "role_change",
                    actor: Some(&admin.actor),
                    ip: Some(place.ip),
                    city: Some(place.city),
                    net: Some(place.net),
                    accuracy_km: Some(place.accuracy_km),
                    device: Some(&admin.laptop),
                    change: vec![
                        ("action", "grant".into()),
                        ("target", newcomer.actor.clone()),
                        (
                            "role",
                            if rng.chance(0.2) {
                                "admin".into()
                            } else {
                                "editor".into()
                            },
                        ),
                    ],
                    ..Default::default()
                },
            );
            acct.staff.push(newcomer);
            // Sometimes someone leaves.
            if rng.chance(0.3) && acct.staff.len() > 3 {
                let leaver = 1 + rng.below((acct.staff.len() - 2) as u64) as usize;
                if acct.staff[leaver].left.is_none() {
                    acct.staff[leaver].left = Some(day);
                    let target = acct.staff[leaver].actor.clone();
                    out.emit(
                        &acct,
                        at + 20 * MINUTE,
                        &Ev {
                            kind: "role_change",
                            actor: Some(&admin.actor),
                            device: Some(&admin.laptop),
                            change: vec![("action", "revoke".into()), ("target", target)],
                            ..Default::default()
                        },
                    );
                }
            }
            next_onboarding = day + 30 + rng.exp(90.0) as u32;
        }

        // Staff sign-ins.
        for si in 0..acct.staff.len() {
            let s = acct.staff[si].clone();
            if s.joined > day || s.left.is_some_and(|l| l <= day) {
                continue;
            }
            let traveling = trip.filter(|(who, ..)| *who == si).map(|t| t.3);
            let works = if weekday {
                rng.chance(0.85)
            } else {
                rng.chance(0.12)
            };
            if !works && traveling.is_none() {
                continue;
            }
            let n_logins = 1 + rng.below(2) as u32;
            for k in 0..n_logins {
                let hour = if k == 0 {
                    7.0 + rng.f64() * 2.5
                } else {
                    12.5 + rng.f64() * 6.0
                };
                let at = local_time(day_start, country.offset_min, hour)
                    + rng.below(600) as Millis * SECOND;
                let (place, device) = if let Some((city, net)) = traveling {
                    let p = Place {
                        city,
                        net,
                        ip: ip_in(net, 50 + rng.below(4) as u32, rng.below(250)),
                        accuracy_km: 15.0 + rng.below(30) as f64,
                    };
                    (p, if rng.chance(0.6) { &s.laptop } else { &s.phone })
                } else {
                    let r = rng.f64();
                    if acct.vpn.is_some() && r < 0.3 {
                        (acct.vpn(rng).expect("vpn"), &s.laptop)
                    } else if r < 0.65 {
                        (acct.office(rng), &s.laptop)
                    } else if r < 0.82 {
                        (acct.home(&s, rng, day), &s.laptop)
                    } else {
                        (acct.mobile(rng), &s.phone)
                    }
                };
                // Typos.
                if rng.chance(0.03) {
                    for f in 0..rng.range(1, 2) {
                        out.emit(
                            &acct,
                            at - (f + 1) as Millis * 20 * SECOND,
                            &Ev {
                                kind: "login",
                                actor: Some(&s.actor),
                                outcome: Some("failure"),
                                ip: Some(place.ip.clone()),
                                city: Some(place.city),
                                net: Some(place.net),
                                accuracy_km: Some(place.accuracy_km),
                                device: Some(device),
                                ..Default::default()
                            },
                        );
                    }
                }
                out.emit(
                    &acct,
                    at,
                    &Ev {
                        kind: "login",
                        actor: Some(&s.actor),
                        outcome: Some("success"),
                        ip: Some(place.ip),
                        city: Some(place.city),
                        net: Some(place.net),
                        accuracy_km: Some(place.accuracy_km),
                        device: Some(device),
                        ..Default::default()
                    },
                );
                if rng.chance(0.3) {
                    out.emit(
                        &acct,
                        at + (2 + rng.below(8)) as Millis * HOUR,
                        &Ev {
                            kind: "logout",
                            actor: Some(&s.actor),
                            device: Some(device),
                            ..Default::default()
                        },
                    );
                }
            }
            // Routine security upkeep.
            if rng.chance(1.0 / 80.0) {
                let at = local_time(day_start, country.offset_min, 10.0 + rng.f64() * 5.0);
                out.emit(
                    &acct,
                    at,
                    &Ev {
                        kind: "password_change",
                        actor: Some(&s.actor),
                        device: Some(&s.laptop),
                        ..Default::default()
                    },
                );
            }
            if rng.chance(1.0 / 400.0) {
                let at = local_time(day_start, country.offset_min, 10.0 + rng.f64() * 5.0);
                out.emit(
                    &acct,
                    at,
                    &Ev {
                        kind: "mfa_change",
                        actor: Some(&s.actor),
                        device: Some(&s.phone),
                        change: vec![("action", "add_method".into())],
                        ..Default::default()
                    },
                );
            }
        }
        if rng.chance(1.0 / 365.0) {
            let s = acct.staff[0].clone();
            let at = local_time(day_start, country.offset_min, 10.0 + rng.f64() * 5.0);
            out.emit(
                &acct,
                at,
                &Ev {
                    kind: "recovery_change",
                    actor: Some(&s.actor),
                    device: Some(&s.laptop),
                    change: vec![("field", "email".into())],
                    ..Default::default()
                },
            );
        }
        if rng.chance(1.0 / 40.0) {
            let s = acct.staff[0].clone();
            let at = local_time(day_start, country.offset_min, 9.0 + rng.f64() * 7.0);
            let field = *rng.pick(&["bio", "website", "avatar", "bio", "banner"]);
            out.emit(
                &acct,
                at,
                &Ev {
                    kind: "profile_change",
                    actor: Some(&s.actor),
                    device: Some(&s.laptop),
                    change: vec![("field", field.into())],
                    ..Default::default()
                },
            );
        }
        if rng.chance(1.0 / 200.0) {
            let s = acct.staff[0].clone();
            let app = *rng.pick(&["Hootsuite", "Buffer", "Later", "Canva"]);
            let at = local_time(day_start, country.offset_min, 9.0 + rng.f64() * 7.0);
            out.emit(
                &acct,
                at,
                &Ev {
                    kind: "app_authorization",
                    actor: Some(&s.actor),
                    device: Some(&s.laptop),
                    change: vec![("action", "grant".into()), ("app", app.into())],
                    ..Default::default()
                },
            );
        }

        // Posting.
        let campaign = rng.chance(0.05);
        let rate = acct.posts_per_day
            * if weekday { 1.0 } else { 0.35 }
            * if campaign { 3.0 } else { 1.0 };
        let active: Vec<usize> = (0..acct.staff.len())
            .filter(|&i| acct.staff[i].joined <= day && acct.staff[i].left.is_none_or(|l| l > day))
            .collect();
        let mut post_times: Vec<Millis> = (0..rng.poisson(rate))
            .map(|_| local_time(day_start, country.offset_min, post_hour(rng)))
            .collect();
        if campaign || rng.chance(0.04) {
            // A thread: several posts within minutes.
            let t0 = local_time(day_start, country.offset_min, 9.0 + rng.f64() * 8.0);
            for k in 0..rng.range(3, 7) {
                post_times.push(t0 + k * (30 + rng.below(90) as i64) * SECOND);
            }
        }
        if rng.chance(0.015) {
            // Night-time emergency announcement (earthquake, flood).
            let t0 = local_time(day_start, country.offset_min, rng.f64() * 5.0);
            for k in 0..rng.range(1, 4) {
                post_times.push(t0 + k * (2 + rng.below(10) as i64) * MINUTE);
            }
        }
        for t in post_times {
            let s = acct.staff[*rng.pick(&active)].clone();
            let mut links = Vec::new();
            if rng.chance(0.6) {
                let d = if rng.chance(0.05) {
                    rng.pick(EXTRA_DOMAINS).to_string()
                } else {
                    // Zipf-like: the agency's own site most often.
                    let i = (rng.f64().powi(2) * acct.domains.len() as f64) as usize;
                    acct.domains[i.min(acct.domains.len() - 1)].clone()
                };
                links.push(format!("https://{d}/{}", rng.below(100_000)));
            }
            let client = if acct.clients.len() > 1 && rng.chance(0.3) {
                acct.clients[1]
            } else {
                acct.clients[0]
            };
            let device = if rng.chance(0.7) { &s.laptop } else { &s.phone };
            out.emit(
                &acct,
                t,
                &Ev {
                    kind: "post",
                    actor: Some(&s.actor),
                    device: Some(device),
                    post_client: Some(client),
                    links,
                    text_len: Some(40 + rng.below(240) as u32),
                    ..Default::default()
                },
            );
        }
        // Other activity types (valid, unknown to the detector).
        for _ in 0..rng.poisson(1.0) {
            let s = acct.staff[*rng.pick(&active)].clone();
            let at = local_time(day_start, country.offset_min, post_hour(rng));
            out.emit(
                &acct,
                at,
                &Ev {
                    kind: if rng.chance(0.5) {
                        "comment_reply"
                    } else {
                        "dm_read"
                    },
                    actor: Some(&s.actor),
                    device: Some(&s.laptop),
                    ..Default::default()
                },
            );
        }

        if day == attack_day && !attack_done {
            attack_done = true;
            let t0 = day_start + rng.below(DAY as u64) as Millis;
            let events = attack(style, &acct, t0, rng, out);
            truth.push(Takeover {
                account: acct.id.clone(),
                style: style.to_string(),
                start: rfc3339(events.first().map_or(t0, |e| e.0)),
                end: rfc3339(events.last().map_or(t0, |e| e.0)),
                events: events.into_iter().map(|e| e.1).collect(),
            });
        }
    }
}

fn scam_domain(rng: &mut Rng) -> String {
    let stem = *rng.pick(&[
        "claim-bansos",
        "crypto-giveaway",
        "verifikasi-akun",
        "hadiah-kominfo",
        "bonus-subsidi",
        "airdrop-gov",
        "promo-bumn",
    ]);
    let tld = *rng.pick(&["xyz", "top", "info", "site", "online", "click"]);
    format!("{stem}-{}.{tld}", rng.below(10_000))
}

/// Injects one takeover; returns (time, event id) of the attacker's events.
fn attack(
    style: &str,
    acct: &Account,
    t0: Millis,
    rng: &mut Rng,
    out: &mut Out,
) -> Vec<(Millis, String)> {
    let mut evs = Vec::new();
    let victim = acct
        .staff
        .iter()
        .find(|s| s.left.is_none())
        .expect("staff")
        .clone();
    let (home_city, home_net) = *rng.pick(ATTACK_HOMES);
    let (host_city, host_net) = *rng.pick(ATTACK_HOSTING);
    let att_device = new_device(rng, false);
    let bot = Device {
        id: format!("d-{:08x}", rng.u64() as u32),
        client: "api",
        ua: (*rng.pick(&[
            "python-requests/2.31.0",
            "Go-http-client/2.0",
            "curl/8.5.0",
            "okhttp/4.12.0",
        ]))
        .to_string(),
    };
    let mut t = t0;
    let mut step = |rng: &mut Rng, lo: i64, hi: i64| {
        t += rng.range(lo, hi) * SECOND;
        t
    };
    let scam = scam_domain(rng);
    let from_host = |rng: &mut Rng| Ev {
        ip: Some(ip_in(host_net, 200 + rng.below(20) as u32, rng.below(250))),
        city: Some(host_city),
        net: Some(host_net),
        accuracy_km: Some(50.0),
        ..Default::default()
    };
    let from_home = |rng: &mut Rng| Ev {
        ip: Some(ip_in(home_net, 100 + rng.below(20) as u32, rng.below(250))),
        city: Some(home_city),
        net: Some(home_net),
        accuracy_km: Some(30.0),
        ..Default::default()
    };
    let posts = |out: &mut Out,
                 rng: &mut Rng,
                 t: &mut Millis,
                 evs: &mut Vec<(Millis, String)>,
                 base: Ev<'_>,
                 n: (i64, i64)| {
        for _ in 0..rng.range(n.0, n.1) {
            *t += rng.range(20, 150) * SECOND;
            let mut e = base.clone();
            e.kind = "post";
            e.links = vec![format!("https://{scam}/{}", rng.below(1000))];
            e.text_len = Some(100 + rng.below(150) as u32);
            evs.push((*t, out.emit(acct, *t, &e)));
        }
    };
    match style {
        "credential_stuffing" => {
            // Automated guessing through a proxy pool: seconds apart.
            for _ in 0..rng.range(6, 25) {
                let (c, n) = *rng.pick(ATTACK_HOSTING);
                let at = step(rng, 2, 20);
                let e = Ev {
                    kind: "login",
                    actor: Some(&victim.actor),
                    outcome: Some("failure"),
                    ip: Some(ip_in(n, 210, rng.below(250))),
                    city: Some(c),
                    net: Some(n),
                    accuracy_km: Some(50.0),
                    device: Some(&bot),
                    ..Default::default()
                };
                evs.push((at, out.emit(acct, at, &e)));
            }
            let at = step(rng, 5, 60);
            let e = Ev {
                kind: "login",
                actor: Some(&victim.actor),
                outcome: Some("success"),
                device: Some(&att_device),
                ..from_host(rng)
            };
            evs.push((at, out.emit(acct, at, &e)));
            let at = step(rng, 60, 400);
            let e = Ev {
                kind: "mfa_change",
                actor: Some(&victim.actor),
                device: Some(&att_device),
                change: vec![("action", "disable".into())],
                ..from_host(rng)
            };
            evs.push((at, out.emit(acct, at, &e)));
            let at = step(rng, 30, 300);
            let e = Ev {
                kind: "recovery_change",
                actor: Some(&victim.actor),
                device: Some(&att_device),
                change: vec![("field", "email".into())],
                ..from_host(rng)
            };
            evs.push((at, out.emit(acct, at, &e)));
            let base = Ev {
                actor: Some(&victim.actor),
                device: Some(&att_device),
                post_client: Some("X Web App"),
                ..from_host(rng)
            };
            posts(out, rng, &mut t, &mut evs, base, (4, 12));
        }
        "foreign_phishing" => {
            let at = step(rng, 0, 10);
            let e = Ev {
                kind: "login",
                actor: Some(&victim.actor),
                outcome: Some("success"),
                device: Some(&att_device),
                ..from_home(rng)
            };
            evs.push((at, out.emit(acct, at, &e)));
            let at = step(rng, 60, 480);
            let e = Ev {
                kind: "password_change",
                actor: Some(&victim.actor),
                device: Some(&att_device),
                ..from_home(rng)
            };
            evs.push((at, out.emit(acct, at, &e)));
            let at = step(rng, 30, 300);
            let e = Ev {
                kind: "recovery_change",
                actor: Some(&victim.actor),
                device: Some(&att_device),
                change: vec![("field", "phone".into())],
                ..from_home(rng)
            };
            evs.push((at, out.emit(acct, at, &e)));
            for field in ["display_name", "avatar"] {
                let at = step(rng, 30, 400);
                let e = Ev {
                    kind: "profile_change",
                    actor: Some(&victim.actor),
                    device: Some(&att_device),
                    change: vec![("field", field.into())],
                    ..from_home(rng)
                };
                evs.push((at, out.emit(acct, at, &e)));
            }
            let base = Ev {
                actor: Some(&victim.actor),
                device: Some(&att_device),
                post_client: Some("X Web App"),
                ..from_home(rng)
            };
            posts(out, rng, &mut t, &mut evs, base, (2, 6));
        }
        "session_hijack" => {
            // A stolen session: no sign-in; the victim's session id replayed
            // from a hosting network, posting scam links in a burst.
            let stolen = Device {
                id: victim.laptop.id.clone(),
                client: "web",
                ua: att_device.ua.clone(),
            };
            let base = Ev {
                actor: Some(&victim.actor),
                device: Some(&stolen),
                post_client: Some("X Web App"),
                ..from_host(rng)
            };
            posts(out, rng, &mut t, &mut evs, base, (6, 15));
        }
        "oauth_consent" => {
            // The victim grants a malicious app from their own device; the
            // app then posts from its servers.
            let app = *rng.pick(&[
                "Verified Badge Center",
                "Free Followers Pro",
                "Analytics Insight+",
                "Blue Tick Helper",
            ]);
            let place = acct.office(rng);
            let at = step(rng, 0, 10);
            let e = Ev {
                kind: "app_authorization",
                actor: Some(&victim.actor),
                device: Some(&victim.laptop),
                ip: Some(place.ip),
                city: Some(place.city),
                net: Some(place.net),
                accuracy_km: Some(place.accuracy_km),
                change: vec![("action", "grant".into()), ("app", app.into())],
                ..Default::default()
            };
            evs.push((at, out.emit(acct, at, &e)));
            step(rng, 300, 1800);
            let base = Ev {
                device_client_only: Some("api"),
                post_client: Some(app),
                ..from_host(rng)
            };
            posts(out, rng, &mut t, &mut evs, base, (5, 15));
        }
        "sim_swap_slow" => {
            // Same country, a mobile carrier, a new phone: reset, lock-out,
            // then activity a day or two later.
            let carrier = *rng.pick(acct.country.mobile);
            let c = acct.country.cities[rng.below(acct.country.cities.len() as u64) as usize];
            let phone = new_device(rng, true);
            let ctx = |rng: &mut Rng| Ev {
                ip: Some(ip_in(carrier, 230 + rng.below(5) as u32, rng.below(250))),
                city: Some(c),
                net: Some(carrier),
                accuracy_km: Some(200.0),
                ..Default::default()
            };
            let at = step(rng, 0, 10);
            let e = Ev {
                kind: "password_reset",
                actor: Some(&victim.actor),
                device: Some(&phone),
                ..ctx(rng)
            };
            evs.push((at, out.emit(acct, at, &e)));
            let at = step(rng, 30, 200);
            let e = Ev {
                kind: "login",
                actor: Some(&victim.actor),
                outcome: Some("success"),
                device: Some(&phone),
                ..ctx(rng)
            };
            evs.push((at, out.emit(acct, at, &e)));
            let at = step(rng, 60, 600);
            let e = Ev {
                kind: "recovery_change",
                actor: Some(&victim.actor),
                device: Some(&phone),
                change: vec![("field", "phone".into())],
                ..ctx(rng)
            };
            evs.push((at, out.emit(acct, at, &e)));
            let at = step(rng, 60, 600);
            let e = Ev {
                kind: "mfa_change",
                actor: Some(&victim.actor),
                device: Some(&phone),
                change: vec![("action", "remove_method".into())],
                ..ctx(rng)
            };
            evs.push((at, out.emit(acct, at, &e)));
            step(rng, 20 * 3600, 44 * 3600);
            let at = step(rng, 0, 60);
            let e = Ev {
                kind: "profile_change",
                actor: Some(&victim.actor),
                device: Some(&phone),
                change: vec![("field", "handle".into())],
                ..ctx(rng)
            };
            evs.push((at, out.emit(acct, at, &e)));
            let base = Ev {
                actor: Some(&victim.actor),
                device: Some(&phone),
                post_client: Some("X for iPhone"),
                ..ctx(rng)
            };
            posts(out, rng, &mut t, &mut evs, base, (3, 8));
        }
        _ => {
            // admin_hijack: an admin's credentials used from a new context
            // to hand the account to outsiders and lock the staff out.
            let admin = acct
                .staff
                .iter()
                .find(|s| s.admin && s.left.is_none())
                .unwrap_or(&victim)
                .clone();
            let ctx = if rng.chance(0.5) {
                from_home(rng)
            } else {
                from_host(rng)
            };
            let outsider = format!(
                "ext:{}{}",
                rng.pick(&["helper", "media", "support", "ops"]),
                rng.below(1000)
            );
            let at = step(rng, 0, 10);
            let e = Ev {
                kind: "login",
                actor: Some(&admin.actor),
                outcome: Some("success"),
                device: Some(&att_device),
                ..ctx.clone()
            };
            evs.push((at, out.emit(acct, at, &e)));
            let at = step(rng, 60, 600);
            let e = Ev {
                kind: "role_change",
                actor: Some(&admin.actor),
                device: Some(&att_device),
                change: vec![
                    ("action", "grant".into()),
                    ("target", outsider.clone()),
                    ("role", "admin".into()),
                ],
                ..ctx.clone()
            };
            evs.push((at, out.emit(acct, at, &e)));
            for s in acct
                .staff
                .iter()
                .filter(|s| s.actor != admin.actor && s.left.is_none())
                .take(2)
            {
                let at = step(rng, 30, 300);
                let e = Ev {
                    kind: "role_change",
                    actor: Some(&outsider),
                    device: Some(&att_device),
                    change: vec![("action", "revoke".into()), ("target", s.actor.clone())],
                    ..ctx.clone()
                };
                evs.push((at, out.emit(acct, at, &e)));
            }
            let at = step(rng, 30, 300);
            let e = Ev {
                kind: "profile_change",
                actor: Some(&outsider),
                device: Some(&att_device),
                change: vec![("field", "handle".into())],
                ..ctx.clone()
            };
            evs.push((at, out.emit(acct, at, &e)));
        }
    }
    evs
}

/// Generates the whole data set: events (time-ordered NDJSON) and truth.
pub fn simulate(
    cfg: &SimConfig,
    events: &mut dyn Write,
    progress: &mut dyn FnMut(usize),
) -> std::io::Result<Truth> {
    let mut truth = Vec::new();
    let mut all: Vec<(Millis, u64, String)> = Vec::new();
    for no in 0..cfg.accounts {
        let mut rng = Rng::new(cfg.seed ^ crate::hash::mix64(no as u64 + 1));
        let mut out = Out {
            lines: Vec::new(),
            seq: 0,
            account_no: no,
        };
        generate_account(cfg, no, &mut rng, &mut truth, &mut out);
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
    Ok(Truth {
        generator: "kawal-sim/1".into(),
        seed: cfg.seed,
        accounts: cfg.accounts,
        days: cfg.days,
        start: rfc3339(cfg.start),
        end: rfc3339(end),
        takeovers: truth,
    })
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
