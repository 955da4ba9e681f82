//! Sign-in context: new and familiar countries, networks, IP ranges, devices,
//! agents and actors, hosting networks, automation, failure bursts.
//!
//! Scoring and explanation of one family of signals, in one place.

use super::*;

impl Model {
    /// Access signals (sign-in context, device, agent, actor). A late
    /// event (`in_order` false: further behind the account's newest event
    /// than the allowed lateness) raises none of the signals that compare
    /// it with the events before it (travel, failure bursts).
    pub fn access_signals(
        &self,
        ev: &Event<'_>,
        acc: &Access,
        st: &AccountState,
        pop: &Population,
        in_order: bool,
        hits: &mut Vec<Hit>,
    ) {
        let w = &self.cfg.weights;
        let first = hits.len();
        let login = ev.kind == EventKind::Login;
        // Whom an established actor vouched for: novelties count less. A
        // post through an app vouched for comes from the app's servers:
        // their network and agent are the app's, expected too.
        let vouched = self.vouched(ev.time, acc.actor, st) || self.app_vouched(ev, st);
        let vouch = if vouched {
            self.cfg.detect.vouched_weight
        } else {
            1.0
        };

        // Location: sign-ins and events of a device session carry it (posts
        // through an app's servers, without a device, do not).
        let session = login || ev.kind == EventKind::PasswordReset || acc.device != 0;
        let new_country = acc.country != NO_COUNTRY
            && st.countries.n > 0
            && st.countries.count(country_key(acc.country)) == 0;
        let new_country_hit = || {
            let c = self.novelty(w.attacker_new_country, st.countries.p_new())
                + pop.country_rarity(acc.country);
            Hit::new(Sig::NewCountry, c.max(0.0))
        };
        if acc.located && session {
            if new_country {
                hits.push(new_country_hit());
            } else if acc.network != 0 && st.networks.n > 0 && st.networks.count(acc.network) == 0 {
                let c = self.novelty(w.attacker_new_network, st.networks.p_new())
                    + pop.network_rarity(acc.network);
                hits.push(Hit::new(Sig::NewNetwork, c.max(0.0)));
            } else if acc.ip_range != 0
                && !acc.mobile
                && st.ip_ranges.n > 0
                && st.ip_ranges.count(acc.ip_range) == 0
            {
                // Mobile carriers draw addresses from shared pools (CGNAT):
                // a new range inside a known carrier says nothing.
                let c = self.novelty(w.attacker_new_ip_range, st.ip_ranges.p_new());
                hits.push(Hit::new(Sig::NewIpRange, c.max(0.0)));
            } else if let Some(c) = self.familiar(
                1.0 - w.attacker_new_ip_range,
                &st.ip_ranges,
                acc.ip_range,
                st,
            ) {
                let n = st.ip_ranges.count(acc.ip_range) as f64;
                hits.push(Hit::new(Sig::KnownNetwork, c).with(n, 0.0));
            }
            if acc.hosting {
                let p_user = (st.hosting_logins as f64 + 0.5) / (st.logins_ok as f64 + 1.0);
                let c = self.cap((w.attacker_hosting / p_user).ln());
                if c > 0.0 && st.networks.count(acc.network) < self.cfg.familiar.network_uses {
                    hits.push(
                        Hit::new(Sig::HostingNetwork, c)
                            .with(st.hosting_logins as f64, st.logins_ok as f64),
                    );
                }
            }
            if login && ev.is_success() && in_order {
                self.travel(ev, acc, st, hits);
            }
        } else if new_country && ev.kind != EventKind::Post {
            hits.push(new_country_hit());
        }

        // A device session acting from a network the account barely knows,
        // with no sign-in from there behind it: a replayed cookie or token.
        let replayed = !login && self.session_signals(ev, acc, st, hits);

        // Device, or the agent family when there is no device id. A familiar
        // device id with a browser family the account never used is not a
        // familiar device (a replayed session carries the id, unless a
        // known person uses it where they work); nor is a familiar device
        // id carried by a session that moved (the id travels with it).
        let agent_new = acc.agent != 0 && st.agents.n > 0 && st.agents.count(acc.agent) == 0;
        // A known person's new device, or new browser, where they work is
        // a replacement (a new phone, a new laptop, another browser on
        // the same laptop) far more often than a theft: the thief's
        // session comes from elsewhere, which the session signals weigh.
        let replacement = || {
            if self.established(acc.actor, st) && self.familiar_place(acc, st) {
                w.familiar_change
            } else {
                1.0
            }
        };
        if acc.device != 0 && st.devices.n > 0 {
            if st.devices.count(acc.device) == 0 {
                let c = self.novelty(w.attacker_new_device, st.devices.p_new()) * replacement();
                hits.push(
                    Hit::new(Sig::NewDevice, c.max(0.0))
                        .with(st.devices.iter().count() as f64, 0.0),
                );
            } else if agent_new {
                hits.push(self.new_agent(st, replacement()));
            } else if !replayed
                && let Some(c) = self.familiar(w.attacker_known_device, &st.devices, acc.device, st)
            {
                let n = st.devices.count(acc.device) as f64;
                hits.push(Hit::new(Sig::KnownDevice, c).with(n, 0.0));
            }
        } else if agent_new {
            hits.push(self.new_agent(st, replacement()));
        }
        // An automation agent the account has seen as often as a familiar
        // network is its own integration.
        if acc.automation && st.agents.count(acc.agent) < self.cfg.familiar.network_uses {
            hits.push(Hit::new(Sig::AutomationUserAgent, w.automation_user_agent));
        }

        // Actor never seen acting on this account (and not vouched for).
        if acc.actor != 0 && st.actors.n > 0 && st.actors.count(acc.actor) == 0 && !vouched {
            let c = self.novelty(w.attacker_new_actor, st.actors.p_new());
            hits.push(
                Hit::new(Sig::NewActor, c.max(0.0)).with(st.actors.iter().count() as f64, 0.0),
            );
        }

        // Failed sign-ins from many places, then this success. The shape
        // of credential stuffing and password spraying as identity
        // providers describe it (Entra's "password spray", Okta's
        // ThreatInsight): five or more failures in the hour before, from
        // three networks or two countries. One person mistyping fails from
        // one place; a proxy pool rotates. The weight grows with the log
        // of the count past five, half a nat per e-fold. kawal's own
        // judgement of those descriptions, not measured.
        if login && ev.is_success() && in_order {
            let f = &st.failures;
            let recent = secs32(ev.time).saturating_sub(f.last) <= 3600;
            if recent && f.count >= 5 && (f.distinct_networks() >= 3 || f.distinct_countries() >= 2)
            {
                let c = w.failed_login_burst + 0.5 * (f.count as f64 / 5.0).ln();
                hits.push(Hit::new(Sig::FailedLoginBurst, self.cap(c)).with(
                    f.count as f64,
                    (f.last.saturating_sub(f.since)) as f64 / 60.0,
                ));
            }
        }

        if vouched {
            for h in hits[first..]
                .iter_mut()
                .filter(|h| h.sig.is_novelty() || h.sig == Sig::AutomationUserAgent)
            {
                h.c *= vouch;
                h.raw = h.c;
            }
        }

        // Dependence between novelties of one access: keep the strongest,
        // discount the rest.
        discount_correlated(&mut hits[first..], w.correlated_novelty, Sig::is_novelty);
    }

    /// A user-agent family the account never used, at `factor` of its
    /// weight (`weights.familiar_change` for an established actor on a
    /// familiar network, else 1); the factor is kept for the explanation.
    fn new_agent(&self, st: &AccountState, factor: f64) -> Hit {
        let c = self.novelty(self.cfg.weights.attacker_new_user_agent, st.agents.p_new()) * factor;
        Hit::new(Sig::NewUserAgent, c.max(0.0)).with(0.0, factor)
    }

    /// The detail and phrase of this family's signals; false for others.
    pub(super) fn explain_access(
        &self,
        s: &Say<'_, '_>,
        detail: &mut String,
        phrase: &mut String,
    ) -> bool {
        let h = s.h;
        let ev = s.ev;
        let acc = s.acc;
        let st = s.st;
        let src = &s.ev.source;
        let city = s.city.as_deref();
        let net = || s.net();
        let usual_country = || s.usual_country();
        let cc = country_name;
        let verb = s.verb;
        match h.sig {
            Sig::NewCountry => {
                let c = cc(acc.country);
                let _ = write!(
                    detail,
                    "{c} never seen in {} located sign-ins (usual: {})",
                    st.countries.n,
                    usual_country()
                );
                let _ = write!(
                    phrase,
                    "{verb} from {c}{} (never seen; usual: {})",
                    city.map(|x| format!(", {x}")).unwrap_or_default(),
                    usual_country()
                );
            }
            Sig::NewNetwork => {
                let _ = write!(
                    detail,
                    "{} never seen in {} sign-ins ({} networks known)",
                    net(),
                    st.networks.n,
                    st.networks.iter().count()
                );
                let _ = write!(phrase, "{verb} through a new network ({})", net());
            }
            Sig::NewIpRange => {
                let _ = write!(
                    detail,
                    "IP {} in a range never seen, on a known network",
                    quoted(src.ip.as_deref())
                );
                let _ = write!(phrase, "new IP range {}", quoted(src.ip.as_deref()));
            }
            Sig::KnownNetwork => {
                let _ = write!(
                    detail,
                    "IP range of {} used in {} sign-ins",
                    quoted(src.ip.as_deref()),
                    h.a
                );
                let _ = write!(phrase, "from a familiar network");
            }
            Sig::HostingNetwork => {
                let _ = write!(
                    detail,
                    "{} is a hosting/VPN network; {} of {} sign-ins used one",
                    net(),
                    h.a,
                    h.b
                );
                let _ = write!(phrase, "through a hosting/VPN network");
            }
            Sig::NewDevice => {
                let _ = write!(
                    detail,
                    "device {} never seen ({} devices known)",
                    quoted(ev.device.id.as_deref()),
                    h.a
                );
                let _ = write!(phrase, "on a new device");
            }
            Sig::KnownDevice => {
                let _ = write!(
                    detail,
                    "device {} used {} times before",
                    quoted(ev.device.id.as_deref()),
                    h.a
                );
                let _ = write!(phrase, "on a familiar device");
            }
            Sig::NewUserAgent => {
                let _ = write!(
                    detail,
                    "user agent {:?} never seen",
                    quoted(ev.device.user_agent.as_deref())
                );
                if h.b < 1.0 {
                    let _ = write!(
                        detail,
                        ", by an established actor from a familiar network \
                         (counted at {:.0}%: likely another browser of the account's own staff)",
                        h.b * 100.0
                    );
                }
                let _ = write!(phrase, "with a new browser or app");
            }
            Sig::AutomationUserAgent => {
                let _ = write!(
                    detail,
                    "automation user agent {:?}",
                    quoted(ev.device.user_agent.as_deref())
                );
                let _ = write!(phrase, "by an automation tool");
            }
            Sig::NewActor => {
                let _ = write!(
                    detail,
                    "{} never seen acting on this account ({} actors known)",
                    quoted(ev.actor.as_deref()),
                    h.a
                );
                let _ = write!(phrase, "by {} (never seen)", quoted(ev.actor.as_deref()));
            }
            Sig::FailedLoginBurst => {
                let f = &st.failures;
                let _ = write!(
                    detail,
                    "{} failed sign-ins from {} networks in {} countries within {:.0} min before this success",
                    h.a,
                    f.distinct_networks(),
                    f.distinct_countries(),
                    h.b
                );
                let _ = write!(phrase, "after {} failed sign-ins", h.a);
            }
            _ => return false,
        }
        true
    }
}
