//! Account changes: two-factor, recovery, passwords, roles, apps, profile;
//! vouching of people and apps an established admin introduces, and the
//! re-enrolment discount.
//!
//! Scoring and explanation of one family of signals, in one place.

use super::*;

impl Model {
    /// Whether `actor` was vouched for: granted a role, within the vouch
    /// window before `t`, in a grant that was trusted (by an established
    /// actor from a familiar device outside any risky session; `learn`
    /// decides). The newcomer is new to the account by definition: that
    /// they first act while a case is open does not undo the vouching.
    pub fn vouched(&self, t: Millis, actor: u32, st: &AccountState) -> bool {
        actor != 0 && self.vouches(st.grants(), actor, t)
    }

    /// Whether `ev` is a post through an app granted in a trusted context
    /// (see `learn`) within the vouch window.
    pub fn app_vouched(&self, ev: &Event<'_>, st: &AccountState) -> bool {
        let Some(client) = ev.post.as_ref().and_then(|p| p.client.as_deref()) else {
            return false;
        };
        self.vouches(st.app_grants.iter(), key32_ignore_case(client), ev.time)
    }

    /// Whether someone other than `actor` is a vouched newcomer at `t`: an
    /// onboarding (an agency's engagement) is under way.
    pub fn onboarding(&self, t: Millis, actor: u32, st: &AccountState) -> bool {
        st.grants()
            .any(|g| g.key != actor && g.key != 0 && g.trusted_within(t, self.onboarding_ms))
    }

    /// Whether `ev` is a post through an app a vouched newcomer granted
    /// within the vouch window: it came with them, so what it posts is
    /// theirs.
    pub fn app_brought(&self, ev: &Event<'_>, st: &AccountState) -> bool {
        let Some(client) = ev.post.as_ref().and_then(|p| p.client.as_deref()) else {
            return false;
        };
        let brought = st
            .app_grants
            .iter()
            .filter(|g| g.trust == crate::detect::state::Trust::Brought);
        self.vouches(brought, key32_ignore_case(client), ev.time)
    }

    /// Whether one of `grants` is a trusted grant of `key` within the
    /// vouch window before `t`.
    pub(super) fn vouches<'a>(
        &self,
        mut grants: impl Iterator<Item = &'a Grant>,
        key: u32,
        t: Millis,
    ) -> bool {
        grants.any(|g| g.key == key && g.trusted_within(t, self.vouch_ms))
    }

    /// Whether a security change is the account's own people re-enrolling:
    /// by an established actor (an admin, or ten actions or more), from a
    /// network the account uses (three uses or more, not first seen in
    /// the open case), in a case with no replayed session and no reset
    /// through recovery other than one at home ([`Model::reset_at_home`]).
    /// A phone replacement looks like this; a SIM swap starts with a reset
    /// from the swapped phone or a proxy, a stolen session or phished
    /// password comes from somewhere the account does not work.
    pub(super) fn familiar_change(&self, acc: &Access, st: &AccountState) -> bool {
        let case = st.case.as_ref();
        // (A reset counts even when familiar context cancelled its score:
        // the case records it whatever its contribution.)
        let alarming = case.is_some_and(|c| {
            c.reset_elsewhere
                || c.signals
                    .iter()
                    .any(|s| matches!(s.sig, Sig::SessionWithoutSignIn | Sig::SessionMoved))
        });
        self.established(acc.actor, st) && self.familiar_place(acc, st) && !alarming
    }

    /// Whether a password reset is the account's own person at home or
    /// at the office: an established actor, from an IP range the account
    /// has used (`familiar.ip_range_uses`) and not first seen in the open
    /// case, on a fixed-line network (not a mobile carrier, not hosting).
    ///
    /// Someone who lost their phone resets the password, moves the
    /// recovery phone and the authenticator: a SIM swap's three lock-out
    /// changes, by the same person. What the SIM swapper does not hold is
    /// the victim's home or office line: they act from the phone they
    /// took the number to, on a carrier, or from wherever they are. The
    /// range, not the network, because one broadband provider can carry
    /// most of a country's homes (a residential proxy on it would pass a
    /// network test); carriers' ranges are shared pools (CGNAT), so a
    /// carrier range says nothing of who holds it.
    pub fn reset_at_home(&self, acc: &Access, st: &AccountState) -> bool {
        let tentative = |k| st.case.as_ref().is_some_and(|c| c.is_tentative(k));
        acc.located
            && !acc.mobile
            && !acc.hosting
            && acc.ip_range != 0
            && st.ip_ranges.count(acc.ip_range) >= self.cfg.familiar.ip_range_uses
            && !tentative(acc.ip_range)
            && self.established(acc.actor, st)
    }

    /// An admin, or an actor with ten actions or more on the account.
    pub fn established(&self, actor: u32, st: &AccountState) -> bool {
        actor != 0
            && (st.is_admin(actor)
                || st.actors.count(actor) >= self.cfg.familiar.established_actions)
    }

    /// Where the account's people work from: a network (not a hosting
    /// one) the account has used three times or more, or an IP range it
    /// has used before; neither first seen in the open case. Broadband
    /// ranges drift and carriers draw from shared pools, so the network
    /// is the level that says "the office, someone's home, the usual
    /// carrier". (A residential proxy on the staff's own ISP passes this
    /// test; the `local_proxy` attack style measures what that costs.)
    pub fn familiar_place(&self, acc: &Access, st: &AccountState) -> bool {
        let tentative = |k| st.case.as_ref().is_some_and(|c| c.is_tentative(k));
        let f = &self.cfg.familiar;
        let range = acc.ip_range != 0
            && st.ip_ranges.count(acc.ip_range) >= f.ip_range_uses
            && !tentative(acc.ip_range);
        let network = !acc.hosting
            && acc.network != 0
            && st.networks.count(acc.network) >= f.network_uses
            && !tentative(acc.network);
        acc.located && (range || network)
    }

    /// Security and administration signals.
    pub fn change_signals(
        &self,
        ev: &Event<'_>,
        acc: &Access,
        st: &AccountState,
        learning: bool,
        hits: &mut Vec<Hit>,
    ) {
        let w = &self.cfg.weights;
        let ch = &ev.change;
        let action = ch.action.as_deref().unwrap_or("");
        // Re-enrolment (a phone replacement) by the account's own people
        // from where they work counts less; see `familiar_change`.
        let re_enrol = if self.familiar_change(acc, st) {
            w.familiar_change
        } else {
            1.0
        };
        match ev.kind {
            EventKind::MfaChange => match action {
                // Switching two-factor off to move it to a new phone is
                // re-enrolment too (some people move an authenticator
                // that way); from elsewhere, or after a reset or a
                // replayed session, it is the lock-out.
                "disable" => hits.push(Hit::re_enrolment(
                    Sig::MfaDisabled,
                    w.mfa_disabled,
                    re_enrol,
                )),
                // A lock-out cluster counts the change at full weight
                // (`raw`): three kinds of change within minutes is no
                // phone replacement, in whatever order they arrive.
                "remove_method" => hits.push(Hit::re_enrolment(
                    Sig::MfaMethodRemoved,
                    w.mfa_method_removed,
                    re_enrol,
                )),
                _ => {}
            },
            EventKind::RecoveryChange => hits.push(Hit::re_enrolment(
                Sig::RecoveryChanged,
                w.recovery_changed,
                re_enrol,
            )),
            // Counted fully wherever it comes from (a reset is a reset); at
            // home it marks what follows as the owner's re-enrolment.
            EventKind::PasswordReset => {
                let home = self.reset_at_home(acc, st);
                hits.push(
                    Hit::new(Sig::PasswordReset, w.password_reset)
                        .with(f64::from(u8::from(home)), 0.0),
                )
            }
            EventKind::PasswordChange => {
                hits.push(Hit::new(Sig::PasswordChanged, w.password_changed))
            }
            EventKind::RoleChange => {
                let target = ch.target.as_deref().map_or(0, key32);
                match action {
                    "grant" => {
                        // A granter with fewer actions than a familiar
                        // device has uses is as new as such a device.
                        if acc.actor != 0
                            && !st.is_admin(acc.actor)
                            && st.actors.count(acc.actor) < self.cfg.familiar.device_uses
                        {
                            hits.push(Hit::new(
                                Sig::RoleGrantedByNewActor,
                                w.role_granted_by_new_actor,
                            ));
                        }
                        if target != 0 && st.actors.count(target) == 0 {
                            let admin_role = is_admin_role(ch.role.as_deref().unwrap_or(""));
                            let c = if admin_role {
                                w.role_granted_admin_to_new_actor
                            } else {
                                w.role_granted_to_new_actor
                            };
                            hits.push(Hit::new(Sig::RoleGrantedToNewActor, c));
                        }
                    }
                    "revoke" => {
                        // While learning, nobody is established yet: revoking
                        // anyone who has acted on the account counts. Else
                        // an admin, or half an admin's actions: revoking a
                        // regular who was not yet made admin still locks
                        // a person out.
                        let seen = st.actors.count(target);
                        let established = st.is_admin(target)
                            || seen >= self.cfg.familiar.admin_actions / 2
                            || (learning && seen >= 1);
                        if target != 0 && established {
                            let n = st.actors.count(target) as f64;
                            hits.push(Hit::new(Sig::AdminRevoked, w.admin_revoked).with(n, 0.0));
                        }
                    }
                    _ => {}
                }
            }
            EventKind::AppAuthorization if action == "grant" => {
                let app = ch.app.as_deref().unwrap_or("");
                let mut c = w.app_granted;
                // A management tool the configuration names (apps.management)
                // is expected; its grant is still said, at 0.3 of the
                // weight: kawal's own judgement, of the order of the
                // familiar-context discounts (weights.familiar_change 0.35,
                // weights.session_residential 0.3).
                if self.is_management_app(app) {
                    c *= 0.3;
                }
                hits.push(Hit::new(Sig::AppGranted, c));
            }
            EventKind::ProfileChange => {
                let c = match ch.field.as_deref().unwrap_or("") {
                    "handle" | "username" | "name" => w.profile_handle,
                    "display_name" => w.profile_display_name,
                    "avatar" | "banner" => w.profile_avatar,
                    _ => w.profile_other,
                };
                hits.push(Hit::new(Sig::ProfileChanged, c));
            }
            _ => {}
        }
    }

    /// The detail and phrase of this family's signals; false for others.
    pub(super) fn explain_changes(
        &self,
        s: &Say<'_, '_>,
        detail: &mut String,
        phrase: &mut String,
    ) -> bool {
        let h = s.h;
        let ev = s.ev;
        match h.sig {
            Sig::MfaDisabled => {
                detail.push_str("two-factor authentication disabled");
                phrase.push_str("two-factor disabled");
                if h.a < 1.0 {
                    detail.push_str(RE_ENROL);
                }
            }
            Sig::MfaMethodRemoved => {
                detail.push_str("a two-factor method was removed");
                phrase.push_str("a two-factor method removed");
                if h.a < 1.0 {
                    detail.push_str(RE_ENROL);
                }
            }
            Sig::RecoveryChanged => {
                let f = capped(ev.change.field.as_deref().unwrap_or("contact"), MAX_QUOTED);
                let _ = write!(detail, "recovery {f} changed");
                let _ = write!(phrase, "recovery {f} changed");
                if h.a < 1.0 {
                    detail.push_str(RE_ENROL);
                }
            }
            Sig::PasswordReset => {
                detail.push_str("password reset through recovery");
                phrase.push_str("password reset");
                if h.a > 0.0 {
                    detail.push_str(
                        " by an established actor from an IP range the account uses \
                         (not a mobile or hosting network)",
                    );
                }
            }
            Sig::PasswordChanged => {
                detail.push_str("password changed");
                phrase.push_str("password changed");
            }
            Sig::RoleGrantedToNewActor | Sig::RoleGrantedByNewActor => {
                let role = capped(ev.change.role.as_deref().unwrap_or("a role"), MAX_QUOTED);
                let target = quoted(ev.change.target.as_deref());
                let actor = quoted(ev.actor.as_deref());
                if h.sig == Sig::RoleGrantedToNewActor {
                    let _ = write!(
                        detail,
                        "{role} granted to {target}, never seen on this account"
                    );
                } else {
                    let _ = write!(
                        detail,
                        "{role} granted by {actor}, not an established admin"
                    );
                }
                let _ = write!(phrase, "{role} granted to {target}");
            }
            Sig::AdminRevoked => {
                let target = quoted(ev.change.target.as_deref());
                let _ = write!(
                    detail,
                    "access of {target}, an established admin ({} actions), revoked",
                    h.a
                );
                let _ = write!(phrase, "admin {target} revoked");
            }
            Sig::AppGranted => {
                let app = quoted(ev.change.app.as_deref());
                let _ = write!(detail, "third-party app {app:?} granted access");
                let _ = write!(phrase, "app {app} granted access");
            }
            Sig::ProfileChanged => {
                let f = capped(ev.change.field.as_deref().unwrap_or("profile"), MAX_QUOTED);
                let _ = write!(detail, "profile {f} changed");
                let _ = write!(phrase, "{f} changed");
            }
            Sig::SecurityCluster => {
                let _ = write!(
                    detail,
                    "{} distinct security changes within {} min",
                    h.a,
                    self.short_ms / MINUTE
                );
                let _ = write!(phrase, "{} security changes in quick succession", h.a);
                if h.b < 1.0 {
                    let _ = write!(
                        detail,
                        ", all by an established actor where the account's people work \
                         (counted at {:.0}%: likely a phone replaced after a lost one)",
                        h.b * 100.0
                    );
                }
            }
            _ => return false,
        }
        true
    }
}

/// Appended to a security change's detail when it was discounted as a
/// re-enrolment (`Model::familiar_change`).
const RE_ENROL: &str =
    " by an established actor from a familiar network (counted as a likely re-enrolment)";
