//! Attack style `oauth_consent`: the victim authorises a malicious app from their own device at the
//! office; the app then posts from its servers.

use super::{Attack, Trail};
use crate::sim::Rng;
use crate::sim::people::*;

pub(crate) fn run(a: &Attack<'_>, tr: &mut Trail, rng: &mut Rng, out: &mut Out) {
    // The a.victim grants a malicious app from their own device; the
    // app then posts from its servers.
    let app = *rng.pick(&[
        "Verified Badge Center",
        "Free Followers Pro",
        "Analytics Insight+",
        "Blue Tick Helper",
    ]);
    let place = a.acct.office(rng);
    let at = tr.step(rng, 0, 10);
    let e = Ev {
        kind: "app_authorization",
        actor: Some(&a.victim.actor),
        device: Some(&a.victim.laptop),
        ip: Some(place.ip),
        city: Some(place.city),
        net: Some(place.net),
        accuracy_km: Some(place.accuracy_km),
        change: vec![("action", "grant".into()), ("app", app.into())],
        ..Default::default()
    };
    tr.emit(out, a.acct, at, &e);
    if rng.chance(0.25) {
        // A sleeper: the app waits hours before it posts, past any window
        // that ties its posts to the grant.
        tr.step(rng, 3 * 3600, 20 * 3600);
    } else {
        tr.step(rng, 300, 1800);
    }
    let base = Ev {
        device_client_only: Some("api"),
        post_client: Some(app),
        ..a.via_host(rng)
    };
    tr.posts(a, out, rng, base, (5, 15));
}
