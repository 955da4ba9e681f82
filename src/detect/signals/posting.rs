//! Posting habits: hours, bursts, clients, apps and link domains.
//!
//! Scoring and explanation of one family of signals, in one place.

use super::*;

impl Model {
    /// Post signals; a late post (`in_order` false) is never a burst.
    pub fn post_signals(
        &self,
        ev: &Event<'_>,
        st: &AccountState,
        pop: &Population,
        in_order: bool,
        hits: &mut Vec<Hit>,
    ) {
        let w = &self.cfg.weights;
        let p = &self.cfg.posting;
        let posting = &st.posting;
        let start = hits.len();
        let (hour, weekend) = crate::time::hour_and_weekend(ev.time, p.weekend_utc_offset_minutes);
        let (wk, hr) = (weekend as usize, hour as usize);
        // Summed as integers (48 bytes, one vector add): a float sum of
        // the same bytes was 1% of decode + detect on the simulation.
        let total = posting
            .hours
            .iter()
            .flatten()
            .map(|&h| u32::from(h))
            .sum::<u32>() as f64
            / crate::detect::state::HOUR_UNIT as f64;

        if posting.posts >= p.min_posts_for_hours {
            // Smoothed share of this hour; the attacker posts at any hour.
            let p_user = (posting.hours[wk][hr] as f64 / crate::detect::state::HOUR_UNIT as f64
                + 0.1)
                / (total + 4.8);
            let c = ((1.0 / 48.0) / p_user).ln().min(2.5);
            if c > 0.5 {
                hits.push(Hit::new(Sig::UnusualPostHour, c).with(
                    hour as f64,
                    posting.hours[wk][hr] as f64
                        / crate::detect::state::HOUR_UNIT as f64
                        / total.max(1.0),
                ));
            }
        }

        // Burst: posts in the window (this one included) against the
        // account's own rate at this hour, over-dispersed.
        let now = secs32(ev.time);
        let window = (self.burst_ms / 1000) as u32;
        let k = 1 + posting
            .recent
            .iter()
            .filter(|&&t| t != 0 && now.saturating_sub(t) <= window)
            .count() as u32;
        if k >= p.burst_min_posts && in_order {
            let hour_share = if total >= 10.0 {
                (posting.hours[wk][hr] as f64 / crate::detect::state::HOUR_UNIT as f64 + 0.5)
                    / (total + 24.0)
                    * 48.0
            } else {
                1.0
            };
            let per_hour = (posting.per_day as f64).max(1.0) / 10.0 * hour_share.clamp(0.2, 5.0);
            let lambda = per_hour * (self.burst_ms as f64 / HOUR as f64) * p.burst_dispersion;
            let tail = poisson_tail(lambda, k).max(1e-300);
            let c = (0.5 * (-tail.ln()) - 1.0).clamp(0.0, w.novelty_cap);
            if c > 0.0 {
                hits.push(Hit::new(Sig::PostBurst, c).with(k as f64, lambda / p.burst_dispersion));
            }
        }

        let Some(post) = ev.post.as_ref() else { return };
        let acc_actor = ev.actor.as_deref().map_or(0, key32);
        let first = hits.len();
        let (new_domains, fewest) = self.new_link_domains(post, st, pop);
        if let Some(client) = post.client.as_deref() {
            let key = key32_ignore_case(client);
            let grant = st
                .app_grants
                .iter()
                .find(|g| g.key == key && g.age(ev.time) <= self.long_ms);
            if let Some(g) = grant
                && self.spreading_again(ev, post, key, g, acc_actor, st, pop)
            {
                // The app posts again, right after its grant, its own
                // links: the consent-phishing app's campaign.
                hits.push(
                    Hit::new(
                        Sig::PostsViaNewApp,
                        w.posts_via_new_app + w.posts_via_new_app_soon,
                    )
                    .with(g.age(ev.time) as f64 / MINUTE as f64, 1.0),
                );
            } else if st.post_clients.count(key) == 0 {
                if let Some(g) = grant
                    && !self.is_management_app(client)
                {
                    // An app granted in a trusted context (see `learn`) is
                    // expected to post; what it posts decides: the usual
                    // links at the usual pace are the team's new tool, new
                    // domains or a burst are an app spreading its own.
                    let spreading =
                        new_domains > 0 || hits[..first].iter().any(|h| h.sig == Sig::PostBurst);
                    let hit = if g.trusted() && !spreading {
                        Hit::new(
                            Sig::PostsViaNewApp,
                            w.posts_via_new_app * self.cfg.detect.vouched_weight,
                        )
                    } else {
                        Hit::new(Sig::PostsViaNewApp, w.posts_via_new_app)
                    };
                    hits.push(hit);
                    // A first post linking a domain no account links is
                    // what a team's try-out of a new tool does too (its
                    // own page, a campaign site); the consent-phishing app
                    // goes on: its second such post carries the bonus
                    // (`spreading_again`).
                } else if st.post_clients.n >= 5 {
                    let mut c = self.novelty(0.7, st.post_clients.p_new());
                    if self.is_management_app(client) {
                        c *= 0.3;
                    }
                    if c > 0.0 {
                        hits.push(
                            Hit::new(Sig::NewPostClient, c)
                                .with(st.post_clients.iter().count() as f64, 0.0),
                        );
                    }
                }
            }
        }
        if new_domains > 0 {
            let c = (self.novelty(0.8, st.domains.p_new()).min(3.0)
                + pop.domain_commonness(fewest))
            .max(0.0);
            if c > 0.0 {
                hits.push(
                    Hit::new(Sig::NewLinkDomain, c).with(new_domains as f64, st.domains.n as f64),
                );
            }
        }
        // Posting habits of one post are dependent (a night-time
        // announcement is both an odd hour and a quick thread): the
        // strongest counts fully, the others at the correlated weight, as
        // the novelties of one access do.
        discount_correlated(
            &mut hits[start..],
            w.correlated_novelty,
            Sig::is_posting_habit,
        );
        // A vouched actor's new tools and sites are the ones they were
        // brought in with, and so are the posts of the tool they brought
        // (platforms that attribute a tool's post to the tool alone name
        // no actor).
        if self.vouched(ev.time, acc_actor, st) || self.app_brought(ev, st) {
            for h in hits[first..].iter_mut() {
                h.c *= self.cfg.detect.vouched_weight;
                h.raw = h.c;
            }
        }
    }

    /// Whether a post through the app `key` (granted `g`) is its second
    /// spreading post within `detect.short_window` of the grant: its first
    /// is evidence in the open case (posting through the new app, not
    /// discounted), the account used it to post at most twice, and this
    /// post links a domain no other account links, with no established
    /// actor behind it. (Weights: `weights.posts_via_new_app_soon`.)
    #[allow(clippy::too_many_arguments)]
    fn spreading_again(
        &self,
        ev: &Event<'_>,
        post: &crate::decode::Post<'_>,
        key: u32,
        g: &crate::detect::state::Grant,
        actor: u32,
        st: &AccountState,
        pop: &Population,
    ) -> bool {
        let w = &self.cfg.weights;
        let uses = st.post_clients.count(key);
        (1..=2).contains(&uses)
            && (0..=self.short_ms).contains(&g.age(ev.time))
            && !self.established(actor, st)
            && st.case.as_ref().is_some_and(|c| {
                c.signals.iter().any(|s| {
                    s.sig == Sig::PostsViaNewApp
                        && !s.sequence
                        && s.key == key
                        && s.contribution >= w.posts_via_new_app * 0.999
                        && s.contribution < (w.posts_via_new_app + w.posts_via_new_app_soon) * 0.999
                })
            })
            && post.links.iter().any(|link| {
                let host = url_host(link);
                !host.is_empty()
                    && !self.trusted_domain(host)
                    && pop
                        .domains
                        .get(&key32_ignore_case(host))
                        .is_none_or(|n| *n <= 1)
            })
    }

    /// Links of `post` to domains the account never linked (none until
    /// five links are known; trusted domains never count).
    pub(super) fn new_link_domains(
        &self,
        post: &crate::decode::Post<'_>,
        st: &AccountState,
        pop: &Population,
    ) -> (u32, u32) {
        if st.domains.n < 5 {
            return (0, 0);
        }
        let (mut new, mut fewest) = (0, u32::MAX);
        for link in post.links.iter() {
            let host = url_host(link);
            if host.is_empty() || self.trusted_domain(host) {
                continue;
            }
            let key = key32_ignore_case(host);
            if st.domains.count(key) == 0 {
                new += 1;
                fewest = fewest.min(pop.domains.get(&key).copied().unwrap_or(0));
            }
        }
        (new, fewest)
    }

    /// The detail and phrase of this family's signals; false for others.
    pub(super) fn explain_posting(
        &self,
        s: &Say<'_, '_>,
        detail: &mut String,
        phrase: &mut String,
    ) -> bool {
        let h = s.h;
        let ev = s.ev;
        let st = s.st;
        let post_client = &s.post_client;
        match h.sig {
            Sig::UnusualPostHour => {
                let _ = write!(
                    detail,
                    "posted at {:02}:00 UTC, an hour with {:.1}% of the account's posts",
                    h.a,
                    h.b * 100.0
                );
                let _ = write!(phrase, "posting at {:02}:00 UTC (unusual hour)", h.a);
            }
            Sig::PostBurst => {
                let _ = write!(
                    detail,
                    "{} posts within {} min; usual rate about {:.1} in that time",
                    h.a,
                    self.burst_ms / MINUTE,
                    h.b
                );
                let _ = write!(phrase, "a burst of {} posts", h.a);
            }
            Sig::NewPostClient => {
                let _ = write!(
                    detail,
                    "posted with {post_client:?}, never used before ({} clients known)",
                    h.a
                );
                let _ = write!(phrase, "posting with a new client ({post_client})");
            }
            Sig::PostsViaNewApp if h.b > 0.0 => {
                let _ = write!(
                    detail,
                    "posted again through {post_client:?}, an app granted access {:.0} min before, linking a domain no other account links",
                    h.a
                );
                let _ = write!(
                    phrase,
                    "the app {post_client} spreading its own links {:.0} min after it was granted",
                    h.a
                );
            }
            Sig::PostsViaNewApp => {
                let _ = write!(
                    detail,
                    "posted through {post_client:?}, an app granted access recently and never used to post"
                );
                let _ = write!(
                    phrase,
                    "posting through the newly granted app {post_client}"
                );
            }
            Sig::NewLinkDomain => {
                let host = ev
                    .post
                    .as_ref()
                    .and_then(|p| {
                        p.links.iter().map(url_host).find(|h| {
                            st.domains.count(key32_ignore_case(h)) == 0 && !self.trusted_domain(h)
                        })
                    })
                    .map_or(Cow::Borrowed("?"), |h| capped(h, MAX_QUOTED));
                let _ = write!(
                    detail,
                    "links to {host} (and {} other new domains); never linked in {} links",
                    h.a - 1.0,
                    h.b
                );
                let _ = write!(phrase, "links to {host} (never linked)");
            }
            _ => return false,
        }
        true
    }
}
