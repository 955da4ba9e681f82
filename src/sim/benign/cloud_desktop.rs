//! Story `cloud_desktop`: some staff work through a cloud desktop or a
//! corporate secure web gateway, so their sign-ins come from a hosting
//! network (Microsoft, Amazon, Google, Zscaler, Cloudflare address
//! space). For some accounts that is how it has always been; for others
//! the desktops are rolled out during the period, and the first weeks of
//! hosting sign-ins are new.

use super::{Life, Today};
use crate::sim::Rng;
use crate::sim::people::{Account, Place, ip_in};
use crate::sim::world::{CLOUD_DESKTOPS, City, Net};
use crate::time::DAY;

pub(crate) struct Plan {
    from: u32,
    /// Staff (by index, below this) who use it.
    staff: usize,
    /// Share of their sign-ins through it.
    share: f64,
    exit: (City, Net),
    told: bool,
}

impl Plan {
    pub(crate) fn draw(rng: &mut Rng, days: u32) -> Option<Plan> {
        if !rng.chance(0.10) {
            return None;
        }
        Some(Plan {
            from: if rng.chance(0.6) {
                0
            } else {
                rng.below(days as u64) as u32
            },
            staff: rng.range(1, 6) as usize,
            share: 0.4 + rng.f64() * 0.6,
            exit: *rng.pick(CLOUD_DESKTOPS),
            told: false,
        })
    }
}

/// Where staff member `si` signs in today, if through the cloud desktop.
pub(crate) fn sign_in_place(
    plan: &Plan,
    _acct: &Account,
    si: usize,
    d: Today,
    rng: &mut Rng,
) -> Option<Place> {
    if d.day < plan.from || si >= plan.staff || !rng.chance(plan.share) {
        return None;
    }
    let (city, net) = plan.exit;
    Some(Place {
        city,
        net,
        ip: ip_in(net, 40 + rng.below(6) as u32, rng.below(250)),
        accuracy_km: 50.0,
    })
}

/// Records the story once it starts (its first two weeks are the novel part).
pub(crate) fn day(acct: &Account, life: &mut Life, d: Today) {
    let Some(plan) = life.cloud.as_mut() else {
        return;
    };
    if d.day == plan.from && !plan.told {
        plan.told = true;
        life.told(acct, "cloud_desktop", d.start, d.start + 14 * DAY);
        life.ended("cloud_desktop");
    }
}
