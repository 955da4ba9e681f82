//! Takeovers, one style per file. Each style is a story of what a real
//! attacker does; several are written to avoid a signal kawal has (the
//! stolen cookie carries the victim's own device, the local proxy sits in
//! the victim's country on a common broadband network), so that the
//! detector is measured on what it cannot see as well as what it can.

mod admin_hijack;
mod cookie_theft;
mod credential_stuffing;
mod foreign_phishing;
mod local_proxy;
mod oauth_consent;
mod session_hijack;
mod sim_swap_slow;

use super::Rng;
use super::people::{Account, Device, Ev, Out, Place, Staff, ip_in, new_device};
use super::world::{ATTACK_HOMES, ATTACK_HOSTING, City, Net};
use crate::time::{Millis, SECOND};

/// Attack styles, by the name the truth and the evaluation use.
pub const STYLES: &[&str] = &[
    "credential_stuffing",
    "foreign_phishing",
    "session_hijack",
    "oauth_consent",
    "sim_swap_slow",
    "admin_hijack",
    "cookie_theft",
    "local_proxy",
];

/// What the attacker has to work with.
pub(crate) struct Attack<'a> {
    pub(crate) acct: &'a Account,
    pub(crate) victim: Staff,
    /// A residential or mobile origin abroad (or at home).
    pub(crate) home: (City, Net),
    /// A hosting or VPN exit.
    pub(crate) host: (City, Net),
    /// The attacker's own browser.
    pub(crate) device: Device,
    /// A script.
    pub(crate) bot: Device,
    pub(crate) scam: String,
}

/// The attacker's events so far, and the clock.
pub(crate) struct Trail {
    pub(crate) t: Millis,
    pub(crate) evs: Vec<(Millis, String)>,
}

impl Trail {
    /// Moves the clock on by lo..hi seconds; returns the new time.
    pub(crate) fn step(&mut self, rng: &mut Rng, lo: i64, hi: i64) -> Millis {
        self.t += rng.range(lo, hi) * SECOND;
        self.t
    }

    pub(crate) fn emit(&mut self, out: &mut Out, acct: &Account, at: Millis, ev: &Ev<'_>) {
        self.evs.push((at, out.emit(acct, at, ev)));
    }

    /// n.0..n.1 posts linking to the scam site, 20-150 s apart.
    pub(crate) fn posts(
        &mut self,
        a: &Attack<'_>,
        out: &mut Out,
        rng: &mut Rng,
        base: Ev<'_>,
        n: (i64, i64),
    ) {
        for _ in 0..rng.range(n.0, n.1) {
            let at = self.step(rng, 20, 150);
            let e = Ev {
                kind: "post",
                links: vec![format!("https://{}/{}", a.scam, rng.below(1000))],
                text_len: Some(100 + rng.below(150) as u32),
                ..base.clone()
            };
            self.emit(out, a.acct, at, &e);
        }
    }
}

impl Attack<'_> {
    /// The source of an event through the attacker's hosting exit.
    pub(crate) fn via_host(&self, rng: &mut Rng) -> Ev<'static> {
        via(self.host, 200, 50.0, rng)
    }

    /// The source of an event from the attacker's own (residential) origin.
    pub(crate) fn via_home(&self, rng: &mut Rng) -> Ev<'static> {
        via(self.home, 100, 30.0, rng)
    }
}

/// An address in one of 20 ranges of `place`'s network from `range`.
fn via((city, net): (City, Net), range: u32, accuracy_km: f64, rng: &mut Rng) -> Ev<'static> {
    Ev::at(&Place {
        city,
        net,
        ip: ip_in(net, range + rng.below(20) as u32, rng.below(250)),
        accuracy_km,
    })
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
pub(crate) fn attack(
    style: &str,
    acct: &Account,
    t0: Millis,
    rng: &mut Rng,
    out: &mut Out,
) -> Vec<(Millis, String)> {
    let victim = acct
        .staff
        .iter()
        .find(|s| s.left.is_none())
        .expect("staff")
        .clone();
    let home = *rng.pick(ATTACK_HOMES);
    let host = *rng.pick(ATTACK_HOSTING);
    let device = new_device(rng, false);
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
    let a = Attack {
        acct,
        victim,
        home,
        host,
        device,
        bot,
        scam: scam_domain(rng),
    };
    let mut trail = Trail {
        t: t0,
        evs: Vec::new(),
    };
    match style {
        "credential_stuffing" => credential_stuffing::run(&a, &mut trail, rng, out),
        "foreign_phishing" => foreign_phishing::run(&a, &mut trail, rng, out),
        "session_hijack" => session_hijack::run(&a, &mut trail, rng, out),
        "oauth_consent" => oauth_consent::run(&a, &mut trail, rng, out),
        "sim_swap_slow" => sim_swap_slow::run(&a, &mut trail, rng, out),
        "cookie_theft" => cookie_theft::run(&a, &mut trail, rng, out),
        "local_proxy" => local_proxy::run(&a, &mut trail, rng, out),
        _ => admin_hijack::run(&a, &mut trail, rng, out),
    }
    trail.evs
}
