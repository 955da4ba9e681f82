//! Benign behaviour, one family per file. The routine families (staff,
//! sign-ins, upkeep, posting) run every account every day; the stories
//! (an agency given a role, a phone replacement, cloud desktops, posting
//! by API, a new app, travel with a borrowed laptop, a forgotten password,
//! stale credentials after a password change, a handover to a successor,
//! a switch to another browser) are episodes an
//! account may have, each recorded in the truth so that `kawal evaluate`
//! can say which story a false alert came from. Every story exists to
//! fire some signal for a benign reason (issue 13: "a simulator that
//! argues with its detector").

pub(crate) mod agency;
pub(crate) mod cloud_desktop;
pub(crate) mod handover;
pub(crate) mod new_app;
pub(crate) mod new_browser;
pub(crate) mod password_trouble;
pub(crate) mod phone_replacement;
pub(crate) mod posting;
pub(crate) mod scheduled_api;
pub(crate) mod signins;
pub(crate) mod staff;
pub(crate) mod upkeep;

use super::people::Account;
use super::{Rng, SimConfig, Story};
use crate::time::{Millis, rfc3339};

/// Benign stories, by the name the truth and the evaluation use.
pub const BEHAVIOURS: &[&str] = &[
    "agency",
    "phone_replacement",
    "cloud_desktop",
    "scheduled_api",
    "new_app",
    "travel_new_device",
    "forgotten_password",
    "stale_password",
    "handover",
    "new_browser",
];

/// The day being generated.
#[derive(Clone, Copy)]
pub(crate) struct Today {
    pub(crate) day: u32,
    /// Midnight UTC.
    pub(crate) start: Millis,
    pub(crate) weekday: bool,
}

impl Today {
    /// A local time of this day in the account's time zone.
    pub(crate) fn at(&self, acct: &Account, local_hour: f64) -> Millis {
        super::people::local_time(self.start, acct.country.offset_min, local_hour)
    }
}

/// What an account's staff do beyond the routine, drawn once per account.
pub(crate) struct Life {
    pub(crate) staff: staff::Plan,
    pub(crate) signins: signins::Plan,
    pub(crate) agency: Option<agency::Plan>,
    pub(crate) cloud: Option<cloud_desktop::Plan>,
    pub(crate) api: Option<scheduled_api::Plan>,
    pub(crate) app: Option<new_app::Plan>,
    /// A handover under way (drawn day by day from its own stream).
    pub(crate) handover: Option<handover::Plan>,
    /// Stories told so far (into the truth).
    pub(crate) stories: Vec<Story>,
}

impl Life {
    pub(crate) fn new(cfg: &SimConfig, rng: &mut Rng) -> Life {
        let on = |name: &str| cfg.generates(name);
        let days = cfg.days;
        Life {
            staff: staff::Plan::new(rng),
            signins: signins::Plan::new(rng, on("travel_new_device")),
            agency: agency::Plan::draw(rng, days).filter(|_| on("agency")),
            cloud: cloud_desktop::Plan::draw(rng, days).filter(|_| on("cloud_desktop")),
            api: scheduled_api::Plan::draw(rng, days).filter(|_| on("scheduled_api")),
            app: new_app::Plan::draw(rng, days).filter(|_| on("new_app")),
            handover: None,
            stories: Vec::new(),
        }
    }

    /// Records that `behaviour` happened on the account from `start` to
    /// `end` (extending the story if it is the latest of its kind).
    pub(crate) fn told(&mut self, acct: &Account, behaviour: &str, start: Millis, end: Millis) {
        if let Some(s) = self
            .stories
            .iter_mut()
            .rev()
            .find(|s| s.behaviour == behaviour && s.open)
        {
            s.end = rfc3339(end);
            return;
        }
        self.stories.push(Story {
            account: acct.id.clone(),
            behaviour: behaviour.to_string(),
            start: rfc3339(start),
            end: rfc3339(end),
            open: true,
        });
    }

    /// Ends the latest story of `behaviour` (the next one is a new story).
    pub(crate) fn ended(&mut self, behaviour: &str) {
        for s in self.stories.iter_mut().filter(|s| s.behaviour == behaviour) {
            s.open = false;
        }
    }
}
