//! Story `new_browser`: a staff member starts using another browser on
//! the same laptop (IT rolls out a new default, or the old one breaks)
//! and signs in with it at the office or at home. Platforms that name the
//! machine rather than the browser (Entra's registered device id, a
//! managed laptop's certificate) then report a familiar device with an
//! agent family the account never used, which is what
//! `new_user_agent` looks for in a stolen session. Until this story no
//! benign event in the simulation fired it.

use super::{Life, Today, signins};
use crate::detect::signals::agent_key;
use crate::sim::Rng;
use crate::sim::people::{Account, Out};
use crate::time::DAY;

/// Chance per active staff member and day: a browser change about once
/// in two years. Our judgement, not measured.
const PER_DAY: f64 = 1.0 / 730.0;

pub(crate) fn day(acct: &mut Account, life: &mut Life, d: Today, rng: &mut Rng, out: &mut Out) {
    for si in 0..acct.staff.len() {
        let s = &acct.staff[si];
        if s.joined > d.day || s.left.is_some_and(|l| l <= d.day) || !rng.chance(PER_DAY) {
            continue;
        }
        let Some(ua) = switch(&s.laptop.ua, rng) else {
            continue;
        };
        let s = &mut acct.staff[si];
        s.laptop.ua = ua;
        s.laptop_at = None;
        let s = s.clone();
        let place = if rng.chance(0.7) {
            acct.office(rng)
        } else {
            acct.home(&s, rng, d.day)
        };
        let at = d.at(acct, 8.0 + rng.f64() * 9.0);
        signins::sign_in(acct, si, &s.laptop, &place, at, rng, out);
        life.told(acct, "new_browser", at, at + 2 * DAY);
        life.ended("new_browser");
    }
}

/// Browsers by operating system: a switch stays on the laptop's system.
const BROWSERS: &[(&str, &str)] = &[
    (
        "Windows NT",
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/{v}.0.0.0 Safari/537.36",
    ),
    (
        "Windows NT",
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/{v}.0.0.0 Safari/537.36 Edg/{v}.0.0.0",
    ),
    (
        "Windows NT",
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:{v}.0) Gecko/20100101 Firefox/{v}.0",
    ),
    (
        "Macintosh",
        "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/{v}.0.0.0 Safari/537.36",
    ),
    (
        "Macintosh",
        "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.{v} Safari/605.1.15",
    ),
    (
        "Macintosh",
        "Mozilla/5.0 (Macintosh; Intel Mac OS X 10.15; rv:{v}.0) Gecko/20100101 Firefox/{v}.0",
    ),
];

/// Another browser on the same system as `ua` (None for an unknown
/// system).
fn switch(ua: &str, rng: &mut Rng) -> Option<String> {
    let options: Vec<&str> = BROWSERS
        .iter()
        .filter(|(os, t)| ua.contains(os) && !same_family(t, ua))
        .map(|(_, t)| *t)
        .collect();
    if options.is_empty() {
        return None;
    }
    let t = options[rng.below(options.len() as u64) as usize];
    Some(t.replace("{v}", &rng.range(118, 131).to_string()))
}

/// Whether `ua` was made from `template` (equal but for the version),
/// by the detector's own notion of an agent family (`agent_key`).
fn same_family(template: &str, ua: &str) -> bool {
    agent_key(&template.replace("{v}", "")) == agent_key(ua)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_switch_keeps_the_system_and_changes_the_agent_key() {
        let mut rng = Rng::new(7);
        for (os, template) in BROWSERS {
            let ua = template.replace("{v}", "121");
            for _ in 0..20 {
                let next = switch(&ua, &mut rng).expect("a browser on the same system");
                assert!(next.contains(os), "{next} left {os}");
                assert_ne!(agent_key(&next), agent_key(&ua), "{next} is still {ua}");
            }
        }
        // The simulator's own laptops all have somewhere to switch to.
        for template in crate::sim::world::DESKTOP_UAS {
            assert!(switch(&template.replace("{v}", "120"), &mut rng).is_some());
        }
        assert!(switch("curl/8.5.0", &mut rng).is_none());
    }
}

#[cfg(test)]
mod story_tests {
    use crate::detect::signals::agent_key;
    use crate::time::parse_rfc3339;
    use serde_json::Value;
    use std::collections::HashMap;

    #[test]
    fn the_known_laptop_signs_in_with_an_agent_family_it_never_used() {
        let (truth, text) = crate::sim::benign_run(60, 40, 4);
        let starts: Vec<(String, i64)> = truth
            .benign
            .iter()
            .filter(|s| s.behaviour == "new_browser")
            .map(|s| (s.account.clone(), parse_rfc3339(&s.start).unwrap()))
            .collect();
        assert!(starts.len() >= 5, "only {} stories", starts.len());
        // Agent keys each (account, device) used so far, in time order.
        let mut seen: HashMap<(String, String), Vec<u32>> = HashMap::new();
        let mut switched = 0;
        for line in text.lines() {
            let e: Value = serde_json::from_str(line).unwrap();
            let (Some(id), Some(ua)) = (
                e["device"]["id"].as_str(),
                e["device"]["user_agent"].as_str(),
            ) else {
                continue;
            };
            let key = (e["account"].as_str().unwrap().to_string(), id.to_string());
            let t = parse_rfc3339(e["time"].as_str().unwrap()).unwrap();
            let agent = agent_key(ua);
            let known = seen.entry(key.clone()).or_default();
            if starts.iter().any(|(a, s)| *a == key.0 && *s == t) {
                assert_eq!(e["type"], "login", "{e}");
                assert!(!known.is_empty(), "the laptop was new: {e}");
                assert!(!known.contains(&agent), "same agent family: {e}");
                switched += 1;
            }
            if !known.contains(&agent) {
                known.push(agent);
            }
        }
        assert_eq!(switched, starts.len());
    }
}
