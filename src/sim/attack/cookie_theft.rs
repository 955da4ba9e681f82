//! Attack style `cookie_theft`: an infostealer took the victim's session
//! cookie. The attacker never signs in: posts and profile changes simply
//! appear from a hosting network or a residential network abroad,
//! carrying the victim's own device id and browser (the cookie and the
//! fingerprint travel together), and the platform's session id when it
//! reports one. Nothing about the device is new; only where the session
//! is used from, with no sign-in there.

use super::{Attack, Trail};
use crate::sim::Rng;
use crate::sim::people::*;

pub(crate) fn run(a: &Attack<'_>, tr: &mut Trail, rng: &mut Rng, out: &mut Out) {
    let v = &a.victim;
    let session = v
        .laptop_at
        .as_ref()
        .map(|(_, id)| id.clone())
        .filter(|_| a.acct.sessions);
    let from = if rng.chance(0.5) {
        a.via_host(rng)
    } else {
        a.via_home(rng)
    };
    let base = Ev {
        actor: Some(&v.actor),
        device: Some(&v.laptop),
        session: session.clone(),
        ..from.clone()
    };
    tr.step(rng, 0, 10);
    if rng.chance(0.6) {
        let field = *rng.pick(&["display_name", "bio", "website", "avatar"]);
        let at = tr.step(rng, 0, 60);
        let e = Ev {
            kind: "profile_change",
            change: vec![("field", field.into())],
            ..base.clone()
        };
        tr.emit(out, a.acct, at, &e);
    }
    let post = Ev {
        post_client: Some("X Web App"),
        ..base
    };
    tr.posts(a, out, rng, post, (2, 7));
}
