//! Impossible travel between two located sign-ins.
//!
//! Scoring and explanation of one family of signals, in one place.

use super::*;

impl Model {
    pub(super) fn travel(
        &self,
        ev: &Event<'_>,
        acc: &Access,
        st: &AccountState,
        hits: &mut Vec<Hit>,
    ) {
        let t = &self.cfg.travel;
        let Some(last) = st.last_login(acc.actor) else {
            return;
        };
        let Some((lat, lon)) = ev.source.position() else {
            return;
        };
        if !last.has_position || acc.corporate {
            return;
        }
        // Inside one country, one network, or a mobile carrier on either
        // side: carrier geolocation jumps between gateway cities, the
        // person did not move.
        if acc.country == last.country && (acc.network == last.asn || acc.mobile || last.mobile) {
            return;
        }
        let regular = |la: f64, lo: f64| {
            st.places.iter().any(|p| {
                p.count as u32 >= t.regular_place_logins
                    // Two points of one place are at most two radii apart.
                    && haversine_km(la, lo, p.lat as f64, p.lon as f64)
                        <= 2.0 * self.cfg.familiar.place_radius_km
            })
        };
        // Places used regularly (an office, the corporate VPN exit abroad).
        if regular(lat, lon) && st.networks.count(acc.network) >= t.regular_place_logins as u16 {
            return;
        }
        let acc_now = ev.source.accuracy_km.unwrap_or(t.default_accuracy_km);
        let dist = haversine_km(last.lat as f64, last.lon as f64, lat, lon);
        let effective = dist - acc_now - last.accuracy_km as f64;
        if effective < t.min_distance_km {
            return;
        }
        // Either order: a sign-in a little older than the previous one
        // (within the allowed lateness) is as far from it in time as a
        // newer one, not zero minutes away.
        let minutes = (secs32(ev.time).abs_diff(last.at) as f64 / 60.0).max(1.0);
        let speed = effective / (minutes / 60.0);
        if speed < t.max_speed_kmh {
            return;
        }
        let c = self.cap(1.5 + (speed / t.max_speed_kmh).ln() * 0.5);
        hits.push(Hit::new(Sig::ImpossibleTravel, c).with(dist, minutes));
    }

    /// The detail and phrase of this family's signals; false for others.
    pub(super) fn explain_travel(
        &self,
        s: &Say<'_, '_>,
        detail: &mut String,
        phrase: &mut String,
    ) -> bool {
        let h = s.h;
        let ev = s.ev;
        match h.sig {
            Sig::ImpossibleTravel => {
                let from = "the previous sign-in";
                let kmh = h.a / (h.b / 60.0);
                let who = ev
                    .actor
                    .as_deref()
                    .map(|a| format!(" of {}", capped(a, MAX_QUOTED)))
                    .unwrap_or_default();
                let _ = write!(
                    detail,
                    "{:.0} km in {:.0} min ({:.0} km/h) from {from}{who}",
                    h.a, h.b, kmh
                );
                let _ = write!(
                    phrase,
                    "impossible travel ({:.0} km in {:.0} min)",
                    h.a, h.b
                );
            }
            _ => return false,
        }
        true
    }
}
