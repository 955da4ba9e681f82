//! Session continuity: a session or a known device acting where it never
//! signed in (a stolen cookie or token).
//!
//! Scoring and explanation of one family of signals, in one place.

use super::*;

impl Model {
    /// Session continuity (not for sign-ins, which start sessions): an
    /// event of an existing device session, located on a network the account
    /// barely knows (fewer than three uses, or first seen during the open
    /// case), whose session did not sign in from that network. With the
    /// platform's session id and a sign-in of that very session elsewhere,
    /// the session moved mid-life; otherwise the session is inferred from
    /// the device. Returns whether it fired.
    pub(super) fn session_signals(
        &self,
        ev: &Event<'_>,
        acc: &Access,
        st: &AccountState,
        hits: &mut Vec<Hit>,
    ) -> bool {
        if acc.session == 0 || acc.network == 0 || !acc.located || st.networks.n == 0 {
            return false;
        }
        if ev.kind == EventKind::PasswordReset {
            return false; // a reset is its own sign-in
        }
        let behind = st.session(acc.session);
        if behind.is_some_and(|s| s.network == acc.network) {
            return false;
        }
        // A session that exists: one that signed in (by its id), or one
        // of a device the account knows (a stolen cookie carries the
        // victim's device). A device never seen, that never signed in,
        // is new, which the device signals say; it has no session to
        // have moved (a server posting through the API is such a one).
        if behind.is_none() && (acc.device == 0 || st.devices.count(acc.device) == 0) {
            return false;
        }
        let tentative = st
            .case
            .as_ref()
            .is_some_and(|c| c.is_tentative(acc.network));
        if st.networks.count(acc.network) >= self.cfg.familiar.network_uses && !tentative {
            return false;
        }
        let w = &self.cfg.weights;
        let domestic = !acc.hosting
            && acc.country != NO_COUNTRY
            && st.countries.count(country_key(acc.country)) >= self.cfg.familiar.country_uses;
        let scale = if domestic { w.session_residential } else { 1.0 };
        let hit = match behind {
            Some(b) if acc.session_id => {
                Hit::new(Sig::SessionMoved, w.session_moved * scale).with(b.at as f64, 0.0)
            }
            _ => Hit::new(Sig::SessionWithoutSignIn, w.session_without_sign_in * scale),
        };
        hits.push(hit);
        true
    }

    /// The detail and phrase of this family's signals; false for others.
    pub(super) fn explain_session(
        &self,
        s: &Say<'_, '_>,
        detail: &mut String,
        phrase: &mut String,
    ) -> bool {
        let h = s.h;
        let ev = s.ev;
        let acc = s.acc;
        let st = s.st;
        let net = || s.net();
        match h.sig {
            Sig::SessionWithoutSignIn | Sig::SessionMoved => {
                let what = match (ev.device.session.as_deref(), ev.device.id.as_deref()) {
                    (Some(s), _) if h.sig == Sig::SessionMoved || acc.session_id => {
                        format!("session {}", quoted(Some(s)))
                    }
                    (_, Some(d)) => format!("device {}", quoted(Some(d))),
                    _ => "a session".into(),
                };
                if h.sig == Sig::SessionMoved {
                    let _ = write!(
                        detail,
                        "{what}, which signed in from another network at {}, acted from {} (seen {} times) with no sign-in there",
                        crate::time::rfc3339(crate::detect::state::secs_to_ms(
                            h.a as crate::detect::state::Secs
                        )),
                        net(),
                        st.networks.count(acc.network)
                    );
                    let _ = write!(phrase, "{what} moved to {} without signing in", net());
                } else {
                    let _ = write!(
                        detail,
                        "{what} acted from {} (seen {} times) with no sign-in from there",
                        net(),
                        st.networks.count(acc.network)
                    );
                    let _ = write!(phrase, "{what} used from {} without a sign-in", net());
                }
            }
            _ => return false,
        }
        true
    }
}
