//! Attack style `local_proxy`: phished credentials used through a
//! residential proxy in the victim's own country, on a common broadband
//! network, with an ordinary desktop browser: no hosting network, no new
//! country, no impossible travel, no automation. The attacker changes the
//! password and the recovery email, then posts scam links.

use super::{Attack, Trail};
use crate::sim::Rng;
use crate::sim::people::*;

pub(crate) fn run(a: &Attack<'_>, tr: &mut Trail, rng: &mut Rng, out: &mut Out) {
    let acct = a.acct;
    let isp = *rng.pick(acct.country.isps);
    let city = *rng.pick(acct.country.cities);
    let place = Place {
        city,
        net: isp,
        ip: ip_in(isp, 180 + rng.below(30) as u32, rng.below(250)),
        accuracy_km: 30.0,
    };
    let v = &a.victim;
    let at = tr.step(rng, 0, 10);
    let login = Ev {
        outcome: Some("success"),
        ..Ev::from("login", &v.actor, &a.device, &place)
    };
    tr.emit(out, acct, at, &login);
    let at = tr.step(rng, 120, 900);
    tr.emit(
        out,
        acct,
        at,
        &Ev::from("password_change", &v.actor, &a.device, &place),
    );
    let at = tr.step(rng, 30, 600);
    let recovery = Ev {
        change: vec![("field", "email".into())],
        ..Ev::from("recovery_change", &v.actor, &a.device, &place)
    };
    tr.emit(out, acct, at, &recovery);
    tr.step(rng, 600, 7200);
    let post = Ev {
        post_client: Some("X Web App"),
        ..Ev::from("post", &v.actor, &a.device, &place)
    };
    tr.posts(a, out, rng, post, (2, 6));
}
