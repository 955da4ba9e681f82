//! Attack style `session_hijack`: a stolen session replayed from a hosting network with the attacker's
//! own browser: no sign-in, a burst of scam posts.

use super::{Attack, Trail};
use crate::sim::Rng;
use crate::sim::people::*;

pub(crate) fn run(a: &Attack<'_>, tr: &mut Trail, rng: &mut Rng, out: &mut Out) {
    // a stolen session: no sign-in; the victim's session id replayed
    // from a hosting network, posting scam links in a burst.
    let stolen = Device {
        id: a.victim.laptop.id.clone(),
        client: "web",
        ua: a.device.ua.clone(),
    };
    let base = Ev {
        actor: Some(&a.victim.actor),
        device: Some(&stolen),
        post_client: Some("X Web App"),
        ..a.via_host(rng)
    };
    tr.posts(a, out, rng, base, (6, 15));
}
