//! Attack style `sim_swap_slow`: same country, a mobile carrier, a new phone: a password reset through
//! the recovery phone, lock-out, then activity a day or two later.
//!
//! Half of these attackers browse through a residential proxy on the
//! victim's own broadband provider (proxy services sell exits by country
//! and by network), in a range the victim never used: the reset and the
//! lock-out then come from a fixed-line network the account knows, not
//! from a carrier. They are written to avoid what kawal reads from where
//! a change comes (a known person's new phone on a network the account
//! uses counts `weights.familiar_change`), so that its cost is measured.

use super::{Attack, Trail};
use crate::sim::Rng;
use crate::sim::people::*;

/// Share of SIM swappers behind a proxy on the victim's own provider:
/// our judgement (the evasive variant is the one worth measuring).
const PROXIED: f64 = 0.5;
const PROXY_STREAM: u64 = 0x7072_6f78_795f_7377;

pub(crate) fn run(a: &Attack<'_>, tr: &mut Trail, rng: &mut Rng, out: &mut Out) {
    // Same country, a mobile carrier, a new phone: reset, lock-out,
    // then activity a day or two later.
    let carrier = *rng.pick(a.acct.country.mobile);
    let c = a.acct.country.cities[rng.below(a.acct.country.cities.len() as u64) as usize];
    let phone = new_device(rng, true);
    // The proxy is drawn from a stream of its own (seeded by the start),
    // so that the simulation's other events stay as they were.
    let mut own = Rng::new(crate::hash::mix64(tr.t as u64) ^ PROXY_STREAM);
    let proxy = own
        .chance(PROXIED)
        .then(|| (180 + own.below(30) as u32, *own.pick(a.acct.country.cities)));
    let ctx = |rng: &mut Rng| {
        let (range, host) = (230 + rng.below(5) as u32, rng.below(250));
        match &proxy {
            // The proxy's exits share a range; the host part varies.
            Some((proxy_range, city)) => Ev {
                ip: Some(ip_in(a.victim.home_net, *proxy_range, host)),
                city: Some(*city),
                net: Some(a.victim.home_net),
                accuracy_km: Some(30.0),
                ..Default::default()
            },
            None => Ev {
                ip: Some(ip_in(carrier, range, host)),
                city: Some(c),
                net: Some(carrier),
                accuracy_km: Some(200.0),
                ..Default::default()
            },
        }
    };
    let at = tr.step(rng, 0, 10);
    let e = Ev {
        kind: "password_reset",
        actor: Some(&a.victim.actor),
        device: Some(&phone),
        ..ctx(rng)
    };
    tr.emit(out, a.acct, at, &e);
    let at = tr.step(rng, 30, 200);
    let e = Ev {
        kind: "login",
        actor: Some(&a.victim.actor),
        outcome: Some("success"),
        device: Some(&phone),
        ..ctx(rng)
    };
    tr.emit(out, a.acct, at, &e);
    let at = tr.step(rng, 60, 600);
    let e = Ev {
        kind: "recovery_change",
        actor: Some(&a.victim.actor),
        device: Some(&phone),
        change: vec![("field", "phone".into())],
        ..ctx(rng)
    };
    tr.emit(out, a.acct, at, &e);
    let at = tr.step(rng, 60, 600);
    let e = Ev {
        kind: "mfa_change",
        actor: Some(&a.victim.actor),
        device: Some(&phone),
        change: vec![("action", "remove_method".into())],
        ..ctx(rng)
    };
    tr.emit(out, a.acct, at, &e);
    tr.step(rng, 20 * 3600, 44 * 3600);
    let at = tr.step(rng, 0, 60);
    let e = Ev {
        kind: "profile_change",
        actor: Some(&a.victim.actor),
        device: Some(&phone),
        change: vec![("field", "handle".into())],
        ..ctx(rng)
    };
    tr.emit(out, a.acct, at, &e);
    let base = Ev {
        actor: Some(&a.victim.actor),
        device: Some(&phone),
        post_client: Some("X for iPhone"),
        ..ctx(rng)
    };
    tr.posts(a, out, rng, base, (3, 8));
}

#[cfg(test)]
mod tests {
    use crate::decode::{EventKind, decode};
    use crate::sim::world::COUNTRIES;
    use crate::sim::{STYLES, SimConfig, simulate};
    use crate::time::parse_rfc3339;

    /// Of each SIM swap's reset: whether its network was a broadband one
    /// (not a carrier) the account used before the takeover, and whether
    /// its address range was one the account used.
    fn resets() -> Vec<(bool, bool)> {
        let cfg = SimConfig {
            accounts: 120,
            days: 40,
            seed: 9,
            attack_share: 0.5,
            without: STYLES
                .iter()
                .filter(|s| **s != "sim_swap_slow")
                .map(|s| s.to_string())
                .collect(),
            ..Default::default()
        };
        let mut buf = Vec::new();
        let truth = simulate(&cfg, &mut buf, &mut |_| {}).unwrap();
        let text = String::from_utf8(buf).unwrap();
        let events: Vec<_> = text
            .lines()
            .map(|l| decode(l.as_bytes()).unwrap())
            .collect();
        let range = |ip: &str| ip.rsplit_once('.').map(|(r, _)| r.to_string());
        truth
            .takeovers
            .iter()
            .map(|tk| {
                let start = parse_rfc3339(&tk.start).unwrap();
                let mine = || events.iter().filter(|e| e.account == tk.account);
                let reset = mine()
                    .find(|e| e.time >= start && e.kind == EventKind::PasswordReset)
                    .expect("a SIM swap resets the password");
                let before = || mine().filter(|e| e.time < start);
                let broadband = COUNTRIES
                    .iter()
                    .flat_map(|c| c.isps)
                    .any(|n| Some(n.asn as u64) == reset.source.asn);
                let net = broadband && before().any(|e| e.source.asn == reset.source.asn);
                let r = range(reset.source.ip.as_deref().unwrap());
                let rng = before().any(|e| e.source.ip.as_deref().and_then(range) == r);
                (net, rng)
            })
            .collect()
    }

    #[test]
    fn half_the_sim_swappers_reset_from_the_victims_own_provider_in_a_new_range() {
        let all = resets();
        assert!(all.len() >= 20, "only {} SIM swaps", all.len());
        let proxied = all.iter().filter(|(net, _)| *net).count();
        // Half behind a proxy on the victim's provider, give or take the
        // draw; the rest on a carrier.
        assert!(proxied * 4 >= all.len(), "{proxied} of {}", all.len());
        assert!(proxied * 4 <= 3 * all.len(), "{proxied} of {}", all.len());
        // The proxy's range is not the victim's (but for a chance draw):
        // the network is the victim's, the address is not.
        let known_range = all.iter().filter(|(_, r)| *r).count();
        assert!(
            known_range * 10 <= all.len(),
            "{known_range} of {}",
            all.len()
        );
    }
}
