//! Takeover signals: what an event shows against the account's baseline.
//!
//! Every signal is a log-likelihood ratio in nats, ln(P(x | takeover) /
//! P(x | the account's own behaviour)), so signals add up and each one can
//! say why it counts. Sign-in context follows Freeman et al. ("Who Are
//! You?", NDSS 2016): location is a hierarchy, country > network (ASN) >
//! IP range, and only the first level whose value the account has never
//! used carries evidence (below it, user and attacker are equally new). The
//! user's probability of a new value is the account's own novelty rate
//! (`Slots::p_new`), and the attacker's is a configured prior; how rare the
//! value is across all accounts ([`Population`]) raises or lowers it.
//! Familiar context (a device the account uses, its usual IP range) is
//! evidence too, with a negative sign: it is what makes a business trip on
//! the staff laptop quiet.
//!
//! Signals are computed into a reused `Vec<Hit>` of plain numbers; words
//! are rendered ([`Model::render`]) only for events that become evidence.

use serde::{Deserialize, Serialize};
use std::borrow::Cow;
use std::collections::HashMap;
use std::fmt::Write;

use statrs::distribution::{DiscreteCDF, Poisson};

use super::budget::{MAX_QUOTED, capped, quoted};
use super::state::{AccountState, Grant, Slots, country_key, country_of_key, secs32};
use crate::config::Config;
use crate::decode::{Event, EventKind, NO_COUNTRY, country_code, country_str};
use crate::hash::{fold32, hash_bytes, key32, key32_ignore_case};
use crate::time::{HOUR, MINUTE, Millis};

/// Every signal kind. The name is part of the alert contract.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Sig {
    // Access: where, with what, by whom.
    NewCountry,
    NewNetwork,
    NewIpRange,
    KnownNetwork,
    HostingNetwork,
    ImpossibleTravel,
    NewDevice,
    KnownDevice,
    NewUserAgent,
    AutomationUserAgent,
    NewActor,
    FailedLoginBurst,
    // Posting.
    UnusualPostHour,
    PostBurst,
    NewPostClient,
    NewLinkDomain,
    PostsViaNewApp,
    // Security and administration.
    MfaDisabled,
    MfaMethodRemoved,
    RecoveryChanged,
    PasswordReset,
    PasswordChanged,
    RoleGrantedToNewActor,
    RoleGrantedByNewActor,
    AdminRevoked,
    AppGranted,
    ProfileChanged,
    // Sequences.
    SecurityCluster,
    // Session continuity (access signals added in state format 3, after
    // the others so that older snapshots' signal indices still read).
    SessionWithoutSignIn,
    SessionMoved,
}

impl Sig {
    pub const COUNT: usize = Sig::SessionMoved as usize + 1;
    /// Every signal, in index order (metric labels are made from it).
    pub const ALL: [Sig; Sig::COUNT] = [
        Sig::NewCountry,
        Sig::NewNetwork,
        Sig::NewIpRange,
        Sig::KnownNetwork,
        Sig::HostingNetwork,
        Sig::ImpossibleTravel,
        Sig::NewDevice,
        Sig::KnownDevice,
        Sig::NewUserAgent,
        Sig::AutomationUserAgent,
        Sig::NewActor,
        Sig::FailedLoginBurst,
        Sig::UnusualPostHour,
        Sig::PostBurst,
        Sig::NewPostClient,
        Sig::NewLinkDomain,
        Sig::PostsViaNewApp,
        Sig::MfaDisabled,
        Sig::MfaMethodRemoved,
        Sig::RecoveryChanged,
        Sig::PasswordReset,
        Sig::PasswordChanged,
        Sig::RoleGrantedToNewActor,
        Sig::RoleGrantedByNewActor,
        Sig::AdminRevoked,
        Sig::AppGranted,
        Sig::ProfileChanged,
        Sig::SecurityCluster,
        Sig::SessionWithoutSignIn,
        Sig::SessionMoved,
    ];

    pub fn name(self) -> &'static str {
        use Sig::*;
        match self {
            NewCountry => "new_country",
            NewNetwork => "new_network",
            NewIpRange => "new_ip_range",
            KnownNetwork => "known_network",
            HostingNetwork => "hosting_network",
            ImpossibleTravel => "impossible_travel",
            NewDevice => "new_device",
            KnownDevice => "known_device",
            NewUserAgent => "new_user_agent",
            AutomationUserAgent => "automation_user_agent",
            NewActor => "new_actor",
            FailedLoginBurst => "failed_login_burst",
            UnusualPostHour => "unusual_post_hour",
            PostBurst => "post_burst",
            NewPostClient => "new_post_client",
            NewLinkDomain => "new_link_domain",
            PostsViaNewApp => "posts_via_new_app",
            MfaDisabled => "mfa_disabled",
            MfaMethodRemoved => "mfa_method_removed",
            RecoveryChanged => "recovery_changed",
            PasswordReset => "password_reset",
            PasswordChanged => "password_changed",
            RoleGrantedToNewActor => "role_granted_to_new_actor",
            RoleGrantedByNewActor => "role_granted_by_new_actor",
            AdminRevoked => "admin_revoked",
            AppGranted => "app_granted",
            ProfileChanged => "profile_changed",
            SecurityCluster => "security_change_cluster",
            SessionWithoutSignIn => "session_without_sign_in",
            SessionMoved => "session_moved",
        }
    }

    /// Name of the sequence signal: this action after a risky access.
    pub fn sequence_name(self) -> &'static str {
        use Sig::*;
        match self {
            MfaDisabled => "mfa_disabled_after_risky_login",
            MfaMethodRemoved => "mfa_method_removed_after_risky_login",
            RecoveryChanged => "recovery_changed_after_risky_login",
            PasswordReset => "password_reset_after_risky_login",
            PasswordChanged => "password_changed_after_risky_login",
            RoleGrantedToNewActor | RoleGrantedByNewActor => "role_granted_after_risky_login",
            AdminRevoked => "admin_revoked_after_risky_login",
            AppGranted => "app_granted_after_risky_login",
            ProfileChanged => "profile_changed_after_risky_login",
            PostBurst => "post_burst_after_risky_login",
            NewLinkDomain => "new_link_domain_after_risky_login",
            NewPostClient | PostsViaNewApp => "new_post_client_after_risky_login",
            UnusualPostHour => "unusual_post_hour_after_risky_login",
            _ => "activity_after_risky_login",
        }
    }

    /// Access signals describe the session (where / what / who).
    pub fn is_access(self) -> bool {
        (self as u8) <= (Sig::FailedLoginBurst as u8)
            || matches!(self, Sig::SessionWithoutSignIn | Sig::SessionMoved)
    }

    /// Novelty signals depend on a learned baseline, so they count less
    /// while an account is learning.
    pub fn is_novelty(self) -> bool {
        use Sig::*;
        matches!(
            self,
            NewCountry
                | NewNetwork
                | NewIpRange
                | HostingNetwork
                | ImpossibleTravel
                | NewDevice
                | NewUserAgent
                | NewActor
                | UnusualPostHour
                | PostBurst
                | NewPostClient
                | NewLinkDomain
                | SessionWithoutSignIn
                | SessionMoved
        )
    }

    /// Posting habits: what was posted and when, not who posted it.
    pub fn is_posting_habit(self) -> bool {
        matches!(
            self,
            Sig::UnusualPostHour | Sig::PostBurst | Sig::NewLinkDomain | Sig::NewPostClient
        )
    }

    /// Actions (what was done, rather than from where).
    pub fn is_action(self) -> bool {
        (self as u8) >= (Sig::UnusualPostHour as u8) && (self as u8) < (Sig::SecurityCluster as u8)
    }

    /// Actions that a risky access before them turns into a sequence: the
    /// moves of a hijacker (lock-out, defacement, handing over access,
    /// spreading links). Weak posting habits (hour, client) are not.
    pub fn is_sequence_action(self) -> bool {
        self.is_action() && !matches!(self, Sig::UnusualPostHour | Sig::NewPostClient)
    }

    /// Security changes counted towards a lock-out cluster.
    pub fn is_lockout(self) -> bool {
        use Sig::*;
        matches!(
            self,
            MfaDisabled
                | MfaMethodRemoved
                | RecoveryChanged
                | PasswordReset
                | AdminRevoked
                | RoleGrantedByNewActor
                | RoleGrantedToNewActor
        )
    }

    pub fn all() -> impl Iterator<Item = Sig> {
        ALL_SIGS.into_iter()
    }
}

const ALL_SIGS: [Sig; Sig::COUNT] = {
    use Sig::*;
    [
        NewCountry,
        NewNetwork,
        NewIpRange,
        KnownNetwork,
        HostingNetwork,
        ImpossibleTravel,
        NewDevice,
        KnownDevice,
        NewUserAgent,
        AutomationUserAgent,
        NewActor,
        FailedLoginBurst,
        UnusualPostHour,
        PostBurst,
        NewPostClient,
        NewLinkDomain,
        PostsViaNewApp,
        MfaDisabled,
        MfaMethodRemoved,
        RecoveryChanged,
        PasswordReset,
        PasswordChanged,
        RoleGrantedToNewActor,
        RoleGrantedByNewActor,
        AdminRevoked,
        AppGranted,
        ProfileChanged,
        SecurityCluster,
        SessionWithoutSignIn,
        SessionMoved,
    ]
};

/// One signal fired by one event: numbers only, words come later.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Hit {
    pub sig: Sig,
    /// Contribution in nats (negative for reassuring context).
    pub c: f64,
    /// Signal-specific figures for the explanation.
    pub a: f64,
    pub b: f64,
    /// Raw weight before reassurance (for lock-out clusters).
    pub raw: f64,
}

impl Hit {
    fn new(sig: Sig, c: f64) -> Hit {
        Hit {
            sig,
            c,
            a: 0.0,
            b: 0.0,
            raw: c,
        }
    }
    fn with(mut self, a: f64, b: f64) -> Hit {
        self.a = a;
        self.b = b;
        self
    }
}

/// How common values are across all accounts of this detector: the
/// stand-in for where an attacker comes from.
#[derive(Debug, Default, Clone, Serialize, Deserialize)]
pub struct Population {
    pub countries: HashMap<u16, u32>,
    pub networks: HashMap<u32, u32>,
    /// Accounts with at least one located sign-in.
    pub located_accounts: u32,
}

/// Networks a population table holds at most (a flood of made-up ASNs
/// must not grow it without bound; there are about 80,000 ASNs in use).
pub const MAX_POPULATION_NETWORKS: usize = 1 << 18;

impl Population {
    /// Counts one more account on `network`; past the bound, networks
    /// not yet held are not counted (they stay "rare", the cautious
    /// reading).
    pub fn add_network(&mut self, network: u32) {
        if self.networks.len() >= MAX_POPULATION_NETWORKS && !self.networks.contains_key(&network) {
            return;
        }
        let n = self.networks.entry(network).or_default();
        *n = n.saturating_add(1);
    }

    /// Takes an evicted account's countries and networks out.
    pub fn forget(&mut self, st: &AccountState) {
        for s in st.countries.iter() {
            let c = country_of_key(s.key);
            if let Some(n) = self.countries.get_mut(&c) {
                *n = n.saturating_sub(1);
            }
        }
        for s in st.networks.iter() {
            if let Some(n) = self.networks.get_mut(&s.key) {
                *n = n.saturating_sub(1);
                if *n == 0 {
                    self.networks.remove(&s.key);
                }
            }
        }
        if st.countries.n > 0 || st.networks.n > 0 {
            self.located_accounts = self.located_accounts.saturating_sub(1);
        }
    }

    /// Rarity adjustment in nats: positive for values few accounts use,
    /// negative for values most use. Zero until the population is large
    /// enough to say.
    pub fn rarity(&self, users: u32) -> f64 {
        let total = self.located_accounts;
        if total < 20 {
            return 0.0;
        }
        let share = (users as f64 + 0.5) / (total as f64 + 1.0);
        (0.5 * (0.05 / share).ln()).clamp(-1.0, 1.5)
    }
    pub fn country_rarity(&self, c: u16) -> f64 {
        self.rarity(self.countries.get(&c).copied().unwrap_or(0))
    }
    pub fn network_rarity(&self, asn: u32) -> f64 {
        self.rarity(self.networks.get(&asn).copied().unwrap_or(0))
    }
}

/// Config-derived lookups, built once.
#[derive(Debug, Clone)]
pub struct Model {
    pub cfg: Config,
    /// Sorted, deduplicated: built-in list and configured ones.
    hosting_asns: Vec<u64>,
    corporate_asns: Vec<u64>,
    platform_words: Vec<String>,
    hosting_words: Vec<String>,
    mobile_words: Vec<String>,
    automation_words: Vec<String>,
    management_apps: Vec<u32>,
    trusted_domains: Vec<String>,
    pub short_ms: Millis,
    pub long_ms: Millis,
    burst_ms: Millis,
    vouch_ms: Millis,
}

/// Keyword classification of a network's organisation name.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct OrgClass {
    pub hosting: bool,
    pub mobile: bool,
}

/// Facts about the event's access context computed once and shared by the
/// signals and the baseline update.
#[derive(Debug, Clone, Copy, Default)]
pub struct Access {
    pub country: u16,
    pub network: u32,
    pub ip_range: u32,
    pub device: u32,
    pub agent: u32,
    pub actor: u32,
    pub hosting: bool,
    pub mobile: bool,
    pub corporate: bool,
    pub located: bool,
    /// The user agent names an automation tool (set by the detector from
    /// its per-agent cache; see `Model::is_automation`).
    pub automation: bool,
    /// The session: a hash of the platform's session id
    /// (`device.session`) when given, else the device key; 0 for none.
    pub session: u32,
    /// `session` is the platform's session id.
    pub session_id: bool,
}

impl Access {
    /// The baseline keys of this context (see `score::AccessKeys`).
    pub fn keys(&self) -> super::score::AccessKeys {
        let country = if self.located && self.country != NO_COUNTRY {
            country_key(self.country)
        } else {
            0
        };
        let (network, ip_range) = if self.located {
            (self.network, self.ip_range)
        } else {
            (0, 0)
        };
        [
            country,
            network,
            ip_range,
            self.device,
            self.agent,
            self.actor,
        ]
    }
}

impl Model {
    /// Whether a user agent names an automation tool (curl, headless
    /// browsers...). A substring scan over the configured words: callers
    /// cache the answer per agent key.
    pub fn is_automation(&self, user_agent: &str) -> bool {
        lower_contains(user_agent, &self.automation_words)
            || (!self.platform_words.is_empty()
                && !user_agent.trim().is_empty()
                && !lower_contains(user_agent, &self.platform_words))
    }
}

/// The built-in hosting ASNs (`config/hosting-asns.txt`: lines "AS123 #
/// comment"; see its header for the source and licence).
pub fn builtin_hosting_asns() -> impl Iterator<Item = u64> {
    include_str!("../../config/hosting-asns.txt")
        .lines()
        .filter_map(|l| l.strip_prefix("AS"))
        .filter_map(|l| {
            let end = l.find(|c: char| !c.is_ascii_digit()).unwrap_or(l.len());
            l[..end].parse().ok()
        })
}

fn lower_contains(hay: &str, words: &[String]) -> bool {
    // as_org and user agents are short; lowering a stack copy avoids a
    // String per event.
    let mut buf = [0u8; 256];
    let n = hay.len().min(buf.len());
    for (d, c) in buf[..n].iter_mut().zip(hay.bytes()) {
        *d = c.to_ascii_lowercase();
    }
    let low = &buf[..n];
    words
        .iter()
        .any(|w| memchr::memmem::find(low, w.as_bytes()).is_some())
}

/// Positively dependent signals of one event (`dependent`): the strongest
/// counts fully, the others at `weight`.
fn discount_correlated(hits: &mut [Hit], weight: f64, dependent: fn(Sig) -> bool) {
    let strongest = hits
        .iter()
        .enumerate()
        .filter(|(_, h)| dependent(h.sig) && h.c > 0.0)
        .max_by(|a, b| a.1.c.total_cmp(&b.1.c))
        .map(|(i, _)| i);
    if let Some(top) = strongest {
        for (i, h) in hits.iter_mut().enumerate() {
            if i != top && dependent(h.sig) && h.c > 0.0 {
                h.c *= weight;
                h.raw = h.c;
            }
        }
    }
}

/// The /24 (IPv4) or /48 (IPv6) containing an address, as a key.
pub fn ip_range_key(ip: &str) -> u32 {
    if !ip.contains(':') {
        return match ip.rfind('.') {
            Some(i) => key32(&ip[..i]),
            None => key32(ip),
        };
    }
    match ip.parse::<std::net::Ipv6Addr>() {
        Ok(a) => {
            let s = a.segments();
            fold32(crate::hash::mix64(
                ((s[0] as u64) << 32) | ((s[1] as u64) << 16) | s[2] as u64,
            ))
        }
        Err(_) => key32(ip),
    }
}

/// A user agent's family: the text without version digits, so that a
/// browser update is not a new agent.
pub fn agent_key(ua: &str) -> u32 {
    let mut buf = [0u8; 256];
    let mut n = 0;
    for c in ua.bytes() {
        if c.is_ascii_digit() || c == b'.' || c == b'_' {
            continue;
        }
        if n == buf.len() {
            break;
        }
        buf[n] = c;
        n += 1;
    }
    fold32(hash_bytes(&buf[..n]))
}

/// The host of a URL, lower-cased by the caller's hash, without `www.`.
pub fn url_host(url: &str) -> &str {
    let rest = match url.find("://") {
        Some(i) => &url[i + 3..],
        None => url,
    };
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let mut host = &rest[..end];
    if let Some(at) = host.rfind('@') {
        host = &host[at + 1..];
    }
    if let Some(colon) = host.rfind(':')
        && !host.ends_with(']')
    {
        host = &host[..colon];
    }
    host.strip_prefix("www.").unwrap_or(host)
}

/// Whether `host` is `domain` or one of its subdomains (ASCII case
/// ignored). Compared as bytes: a host is input, and an internationalised
/// one (`รัฐบาล.ไทย`) has no character boundary where a `str` slice at
/// `len - domain.len()` would need one (that slice was a crash loop).
pub fn is_under_domain(host: &str, domain: &str) -> bool {
    let (h, d) = (host.as_bytes(), domain.as_bytes());
    let Some(cut) = h.len().checked_sub(d.len()) else {
        return false;
    };
    h[cut..].eq_ignore_ascii_case(d) && (cut == 0 || h[cut - 1] == b'.')
}

/// Roles that hand over control of the account.
pub fn is_admin_role(role: &str) -> bool {
    ["admin", "owner", "manager", "administrator", "superadmin"]
        .iter()
        .any(|r| role.eq_ignore_ascii_case(r))
}

/// Great-circle distance in km.
pub fn haversine_km(lat1: f64, lon1: f64, lat2: f64, lon2: f64) -> f64 {
    let (p1, p2) = (lat1.to_radians(), lat2.to_radians());
    let dp = p2 - p1;
    let dl = (lon2 - lon1).to_radians();
    let h = (dp / 2.0).sin().powi(2) + p1.cos() * p2.cos() * (dl / 2.0).sin().powi(2);
    2.0 * 6371.0 * h.sqrt().min(1.0).asin()
}

/// P(X >= k) for X ~ Poisson(lambda).
pub fn poisson_tail(lambda: f64, k: u32) -> f64 {
    if k == 0 {
        return 1.0;
    }
    match Poisson::new(lambda.max(1e-9)) {
        Ok(p) => p.sf((k - 1) as u64),
        Err(_) => 1.0,
    }
}

impl Model {
    pub fn new(cfg: Config) -> Model {
        let low = |v: &[String]| v.iter().map(|s| s.to_ascii_lowercase()).collect::<Vec<_>>();
        let mut hosting_asns = cfg.networks.hosting_asns.clone();
        if cfg.networks.builtin_hosting_asns {
            hosting_asns.extend(builtin_hosting_asns());
        }
        hosting_asns.sort_unstable();
        hosting_asns.dedup();
        Model {
            hosting_asns,
            platform_words: low(&cfg.networks.platform_tokens),
            corporate_asns: cfg.networks.corporate_asns.clone(),
            hosting_words: low(&cfg.networks.hosting_org_keywords),
            mobile_words: low(&cfg.networks.mobile_org_keywords),
            automation_words: low(&cfg.networks.automation_user_agents),
            management_apps: cfg
                .apps
                .management_apps
                .iter()
                .map(|a| key32_ignore_case(a))
                .collect(),
            trusted_domains: low(&cfg.apps.trusted_link_domains),
            short_ms: cfg.detect.short_window_ms(),
            long_ms: cfg.detect.long_window_ms(),
            burst_ms: cfg.posting.burst_window_ms(),
            vouch_ms: cfg.detect.vouch_window_ms(),
            cfg,
        }
    }

    pub fn is_management_app(&self, name: &str) -> bool {
        self.management_apps.contains(&key32_ignore_case(name))
    }

    fn trusted_domain(&self, host: &str) -> bool {
        self.trusted_domains
            .iter()
            .any(|d| is_under_domain(host, d))
    }

    /// What an organisation's name says about its network, by keyword.
    pub fn classify_org(&self, org: &str) -> OrgClass {
        OrgClass {
            hosting: lower_contains(org, &self.hosting_words),
            mobile: lower_contains(org, &self.mobile_words),
        }
    }

    /// Keys and network facts of the event's context; `org` is
    /// [`Model::classify_org`] of its `as_org` (cached by the caller).
    /// The access facts of `ev`. `agent` is the user agent's key and
    /// automation class, which the detector caches per agent string.
    pub fn access(&self, ev: &Event<'_>, org: OrgClass, agent: (u32, bool)) -> Access {
        let src = &ev.source;
        let country = src.country.as_deref().map_or(NO_COUNTRY, country_code);
        let asn = src.asn.unwrap_or(0);
        let corporate = asn != 0 && self.corporate_asns.contains(&asn);
        let hosting = !corporate
            && (src.hosting == Some(true)
                || (asn != 0 && self.hosting_asns.binary_search(&asn).is_ok())
                || org.hosting);
        Access {
            country,
            network: if asn != 0 {
                fold32(crate::hash::mix64(asn))
            } else {
                0
            },
            ip_range: src.ip.as_deref().map_or(0, ip_range_key),
            device: ev.device.id.as_deref().map_or(0, key32),
            agent: agent.0,
            actor: ev.actor.as_deref().map_or(0, key32),
            hosting,
            mobile: !hosting && org.mobile,
            corporate,
            located: country != NO_COUNTRY || asn != 0 || src.ip.is_some(),
            automation: agent.1,
            session: match ev.device.session.as_deref() {
                Some(id) if !id.is_empty() => key32(id),
                _ => ev.device.id.as_deref().map_or(0, key32),
            },
            session_id: ev
                .device
                .session
                .as_deref()
                .is_some_and(|id| !id.is_empty()),
        }
    }

    fn cap(&self, v: f64) -> f64 {
        v.min(self.cfg.weights.novelty_cap)
    }

    /// Novelty of a value: ln(P_attacker(new) / P_user(new)).
    fn novelty(&self, p_attacker: f64, slots_p_new: f64) -> f64 {
        self.cap((p_attacker / slots_p_new).ln())
    }

    /// Familiar value: ln(P_attacker(this) / P_user(this)), negative.
    /// Values first seen during the open case are not familiar.
    fn familiar<const N: usize>(
        &self,
        p_attacker_seen: f64,
        s: &Slots<N>,
        key: u32,
        st: &AccountState,
    ) -> Option<f64> {
        let count = s.count(key);
        if count < 2 || st.case.as_ref().is_some_and(|c| c.is_tentative(key)) {
            return None;
        }
        let p_user_seen = 1.0 - s.p_new();
        Some((p_attacker_seen / p_user_seen.max(1e-3)).ln().min(0.0))
    }

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
                if c > 0.0 && st.networks.count(acc.network) < 3 {
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
        // device id with a browser family the account never used is a
        // replayed session, not a familiar device; nor is a familiar device
        // id carried by a session that moved (the id travels with it).
        let agent_new = acc.agent != 0 && st.agents.n > 0 && st.agents.count(acc.agent) == 0;
        if acc.device != 0 && st.devices.n > 0 {
            if st.devices.count(acc.device) == 0 {
                // A known person's new device where they work is a
                // replacement (a new phone, a new laptop) far more often.
                let replacement = if self.established(acc.actor, st) && self.familiar_place(acc, st)
                {
                    w.familiar_change
                } else {
                    1.0
                };
                let c = self.novelty(w.attacker_new_device, st.devices.p_new()) * replacement;
                hits.push(
                    Hit::new(Sig::NewDevice, c.max(0.0))
                        .with(st.devices.iter().count() as f64, 0.0),
                );
            } else if agent_new {
                let c = self.novelty(w.attacker_new_user_agent, st.agents.p_new());
                hits.push(Hit::new(Sig::NewUserAgent, c.max(0.0)));
            } else if !replayed
                && let Some(c) = self.familiar(w.attacker_known_device, &st.devices, acc.device, st)
            {
                let n = st.devices.count(acc.device) as f64;
                hits.push(Hit::new(Sig::KnownDevice, c).with(n, 0.0));
            }
        } else if agent_new {
            let c = self.novelty(w.attacker_new_user_agent, st.agents.p_new());
            hits.push(Hit::new(Sig::NewUserAgent, c.max(0.0)));
        }
        if acc.automation && st.agents.count(acc.agent) < 3 {
            hits.push(Hit::new(Sig::AutomationUserAgent, w.automation_user_agent));
        }

        // Actor never seen acting on this account (and not vouched for).
        if acc.actor != 0 && st.actors.n > 0 && st.actors.count(acc.actor) == 0 && !vouched {
            let c = self.novelty(w.attacker_new_actor, st.actors.p_new());
            hits.push(
                Hit::new(Sig::NewActor, c.max(0.0)).with(st.actors.iter().count() as f64, 0.0),
            );
        }

        // Failed sign-ins from many places, then this success.
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

    /// Whether one of `grants` is a trusted grant of `key` within the
    /// vouch window before `t`.
    fn vouches<'a>(
        &self,
        mut grants: impl Iterator<Item = &'a Grant>,
        key: u32,
        t: Millis,
    ) -> bool {
        grants.any(|g| {
            g.key == key
                && g.trusted
                && (0..=self.vouch_ms).contains(&(t - super::state::secs_to_ms(g.at)))
        })
    }

    /// Session continuity (not for sign-ins, which start sessions): an
    /// event of an existing device session, located on a network the account
    /// barely knows (fewer than three uses, or first seen during the open
    /// case), whose session did not sign in from that network. With the
    /// platform's session id and a sign-in of that very session elsewhere,
    /// the session moved mid-life; otherwise the session is inferred from
    /// the device. Returns whether it fired.
    fn session_signals(
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
        if st.networks.count(acc.network) >= 3 && !tentative {
            return false;
        }
        let w = &self.cfg.weights;
        let domestic = !acc.hosting
            && acc.country != NO_COUNTRY
            && st.countries.count(country_key(acc.country)) >= 3;
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

    fn travel(&self, ev: &Event<'_>, acc: &Access, st: &AccountState, hits: &mut Vec<Hit>) {
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
                    && haversine_km(la, lo, p.lat as f64, p.lon as f64) <= 100.0
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

    /// Post signals; a late post (`in_order` false) is never a burst.
    pub fn post_signals(
        &self,
        ev: &Event<'_>,
        st: &AccountState,
        in_order: bool,
        hits: &mut Vec<Hit>,
    ) {
        let w = &self.cfg.weights;
        let p = &self.cfg.posting;
        let posting = &st.posting;
        let start = hits.len();
        let (hour, weekend) = crate::time::hour_and_weekend(ev.time, p.weekend_utc_offset_minutes);
        let (wk, hr) = (weekend as usize, hour as usize);
        let total: f64 = posting
            .hours
            .iter()
            .flatten()
            .map(|h| *h as f64)
            .sum::<f64>()
            / super::state::HOUR_UNIT as f64;

        if posting.posts >= p.min_posts_for_hours {
            // Smoothed share of this hour; the attacker posts at any hour.
            let p_user = (posting.hours[wk][hr] as f64 / super::state::HOUR_UNIT as f64 + 0.1)
                / (total + 4.8);
            let c = ((1.0 / 48.0) / p_user).ln().min(2.5);
            if c > 0.5 {
                hits.push(Hit::new(Sig::UnusualPostHour, c).with(
                    hour as f64,
                    posting.hours[wk][hr] as f64 / super::state::HOUR_UNIT as f64 / total.max(1.0),
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
                (posting.hours[wk][hr] as f64 / super::state::HOUR_UNIT as f64 + 0.5)
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
        let first = hits.len();
        let new_domains = self.new_link_domains(post, st);
        if let Some(client) = post.client.as_deref() {
            let key = key32_ignore_case(client);
            let grant = st
                .app_grants
                .iter()
                .find(|g| g.key == key && ev.time - super::state::secs_to_ms(g.at) <= self.long_ms);
            if st.post_clients.count(key) == 0 {
                if let Some(g) = grant
                    && !self.is_management_app(client)
                {
                    // An app granted in a trusted context (see `learn`) is
                    // expected to post; what it posts decides: the usual
                    // links at the usual pace are the team's new tool, new
                    // domains or a burst are an app spreading its own.
                    let spreading =
                        new_domains > 0 || hits[..first].iter().any(|h| h.sig == Sig::PostBurst);
                    let c = if g.trusted && !spreading {
                        w.posts_via_new_app * self.cfg.detect.vouched_weight
                    } else {
                        w.posts_via_new_app
                    };
                    hits.push(Hit::new(Sig::PostsViaNewApp, c));
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
            let c = self.novelty(0.8, st.domains.p_new()).min(3.0);
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
        // brought in with.
        let acc_actor = ev.actor.as_deref().map_or(0, key32);
        if self.vouched(ev.time, acc_actor, st) {
            for h in hits[first..].iter_mut() {
                h.c *= self.cfg.detect.vouched_weight;
                h.raw = h.c;
            }
        }
    }

    /// Links of `post` to domains the account never linked (none until
    /// five links are known; trusted domains never count).
    fn new_link_domains(&self, post: &crate::decode::Post<'_>, st: &AccountState) -> u32 {
        if st.domains.n < 5 {
            return 0;
        }
        let mut new = 0;
        for link in post.links.iter() {
            let host = url_host(link);
            if host.is_empty() || self.trusted_domain(host) {
                continue;
            }
            if st.domains.count(key32_ignore_case(host)) == 0 {
                new += 1;
            }
        }
        new
    }

    /// Whether a security change is the account's own people re-enrolling:
    /// by an established actor (an admin, or ten actions or more), from a
    /// network the account uses (three uses or more, not first seen in
    /// the open case), in a case with no reset through recovery and no
    /// replayed session. A phone replacement looks like this; a SIM swap
    /// starts with a reset, a stolen session or phished password comes
    /// from somewhere the account does not work.
    fn familiar_change(&self, acc: &Access, st: &AccountState) -> bool {
        let case = st.case.as_ref();
        // (A reset counts even when familiar context cancelled its score:
        // the case's lock-out record keeps every reset of the short window.)
        let alarming = case.is_some_and(|c| {
            c.lockouts.iter().any(|(s, ..)| *s == Sig::PasswordReset)
                || c.signals.iter().any(|s| {
                    matches!(
                        s.sig,
                        Sig::PasswordReset | Sig::SessionWithoutSignIn | Sig::SessionMoved
                    )
                })
        });
        self.established(acc.actor, st) && self.familiar_place(acc, st) && !alarming
    }

    /// An admin, or an actor with ten actions or more on the account.
    pub fn established(&self, actor: u32, st: &AccountState) -> bool {
        actor != 0 && (st.is_admin(actor) || st.actors.count(actor) >= 10)
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
        let range =
            acc.ip_range != 0 && st.ip_ranges.count(acc.ip_range) >= 2 && !tentative(acc.ip_range);
        let network = !acc.hosting
            && acc.network != 0
            && st.networks.count(acc.network) >= 3
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
                "disable" => hits.push(Hit::new(Sig::MfaDisabled, w.mfa_disabled)),
                "remove_method" => hits.push(Hit {
                    // A lock-out cluster counts the change at full weight:
                    // three kinds of change within minutes is no phone
                    // replacement, in whatever order they arrive.
                    raw: w.mfa_method_removed,
                    ..Hit::new(Sig::MfaMethodRemoved, w.mfa_method_removed * re_enrol)
                        .with(re_enrol, 0.0)
                }),
                _ => {}
            },
            EventKind::RecoveryChange => hits.push(Hit {
                raw: w.recovery_changed,
                ..Hit::new(Sig::RecoveryChanged, w.recovery_changed * re_enrol).with(re_enrol, 0.0)
            }),
            EventKind::PasswordReset => hits.push(Hit::new(Sig::PasswordReset, w.password_reset)),
            EventKind::PasswordChange => {
                hits.push(Hit::new(Sig::PasswordChanged, w.password_changed))
            }
            EventKind::RoleChange => {
                let target = ch.target.as_deref().map_or(0, key32);
                match action {
                    "grant" => {
                        if acc.actor != 0
                            && !st.is_admin(acc.actor)
                            && st.actors.count(acc.actor) < 3
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
                        // anyone who has acted on the account counts.
                        let seen = st.actors.count(target);
                        let established =
                            st.is_admin(target) || seen >= 20 || (learning && seen >= 1);
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

    /// Renders a hit's detail (what was seen against the baseline) and a
    /// short phrase for the alert summary. Runs only for evidence.
    pub fn render(
        &self,
        h: &Hit,
        ev: &Event<'_>,
        acc: &Access,
        st: &AccountState,
        detail: &mut String,
        phrase: &mut String,
    ) {
        detail.clear();
        phrase.clear();
        let cc = |c: u16| String::from_utf8_lossy(&country_str(c)).into_owned();
        let usual_country = || {
            st.countries
                .top()
                .map(|s| cc(country_of_key(s.key)))
                .unwrap_or_else(|| "none".into())
        };
        // Every input string is quoted capped (see `budget`).
        let city = ev.source.city.as_deref().map(|c| capped(c, MAX_QUOTED));
        let src = &ev.source;
        let net = || match (
            src.asn,
            src.as_org.as_deref().map(|o| capped(o, MAX_QUOTED)),
        ) {
            (Some(a), Some(o)) => format!("AS{a} {o}"),
            (Some(a), None) => format!("AS{a}"),
            (None, Some(o)) => o.into_owned(),
            (None, None) => "an unknown network".into(),
        };
        let post_client = quoted(ev.post.as_ref().and_then(|p| p.client.as_deref()));
        let verb = match ev.kind {
            EventKind::Login => "sign-in",
            EventKind::Post => "post",
            _ => "change",
        };
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
            Sig::MfaDisabled => {
                detail.push_str("two-factor authentication disabled");
                phrase.push_str("two-factor disabled");
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
            }
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
                        super::super::time::rfc3339(super::state::secs_to_ms(
                            h.a as super::state::Secs
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
        }
    }
}

/// Appended to a security change's detail when it was discounted as a
/// re-enrolment (`Model::familiar_change`).
const RE_ENROL: &str =
    " by an established actor from a familiar network (counted as a likely re-enrolment)";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_hosting_list_is_read_whole() {
        let asns: Vec<u64> = builtin_hosting_asns().collect();
        // The header says how many; every line that names one is read.
        assert_eq!(asns.len(), 904);
        assert!(asns.contains(&16509) && asns.contains(&14061)); // Amazon, DigitalOcean
        assert!(!asns.contains(&7713)); // Telkom Indonesia, a broadband ISP
    }

    #[test]
    fn automation_is_told_by_tool_names_and_by_agents_without_a_platform() {
        let m = Model::new(Config::default());
        for tool in [
            "python-requests/2.31.0",
            "Go-http-client/2.0",
            "MyScheduler/1.4",
            "Ruby",
            "Apache-HttpClient/4.5.14 (Java/17.0.2)",
        ] {
            assert!(m.is_automation(tool), "{tool}");
        }
        for person in [
            "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0 Safari/537.36",
            "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15",
            "Twitter-iPhone/10.40 iOS/17.4 (Apple;iPhone15,2)",
            "Instagram 320.0 Android (33/13; 420dpi; Xiaomi; 2201117TY)",
            "Mozilla/5.0 (X11; Linux x86_64; rv:125.0) Gecko/20100101 Firefox/125.0",
        ] {
            assert!(!m.is_automation(person), "{person}");
        }
    }

    #[test]
    fn url_hosts() {
        assert_eq!(
            url_host("https://www.kominfo.go.id/berita"),
            "kominfo.go.id"
        );
        assert_eq!(
            url_host("http://user@evil.example:8080/x?y"),
            "evil.example"
        );
        assert_eq!(url_host("evil.example/path"), "evil.example");
        assert_eq!(url_host("https://[2001:db8::1]/"), "[2001:db8::1]");
    }

    #[test]
    fn domains_match_on_labels_and_never_split_characters() {
        assert!(is_under_domain("kominfo.go.id", "go.id"));
        assert!(is_under_domain("GO.ID", "go.id"));
        assert!(!is_under_domain("notgo.id", "go.id"));
        assert!(!is_under_domain("id", "go.id"));
        // Multi-byte hosts: the cut falls inside a character.
        assert!(!is_under_domain("รัฐบาล.ไทย", "go.id"));
        assert!(!is_under_domain("ä.go.iä", "go.id"));
        assert!(is_under_domain("รัฐบาล.go.id", "go.id"));
        assert!(is_under_domain("รัฐบาล.ไทย", "ไทย"));
    }

    #[test]
    fn ip_ranges_group_neighbours() {
        assert_eq!(ip_range_key("36.72.14.9"), ip_range_key("36.72.14.200"));
        assert_ne!(ip_range_key("36.72.14.9"), ip_range_key("36.72.15.9"));
        assert_eq!(
            ip_range_key("2001:db8:1:2::1"),
            ip_range_key("2001:db8:1:ffff::9")
        );
        assert_ne!(ip_range_key("2001:db8:1::1"), ip_range_key("2001:db8:2::1"));
    }

    #[test]
    fn agent_family_ignores_versions() {
        assert_eq!(
            agent_key("Mozilla/5.0 (Windows NT 10.0) Chrome/120.0.6099.71"),
            agent_key("Mozilla/5.0 (Windows NT 10.0) Chrome/121.0.6167.85")
        );
        assert_ne!(
            agent_key("Mozilla/5.0 Firefox/120.0"),
            agent_key("Mozilla/5.0 Chrome/120.0")
        );
    }

    #[test]
    fn haversine_known_distance() {
        // Jakarta to Lagos is about 11,560 km great-circle.
        let d = haversine_km(-6.21, 106.85, 6.45, 3.39);
        assert!((d - 11_560.0).abs() < 50.0, "{d}");
        assert!(haversine_km(1.0, 1.0, 1.0, 1.0) < 1e-9);
    }

    #[test]
    fn poisson_tail_matches_direct_sum() {
        let lambda: f64 = 0.8;
        let direct: f64 = 1.0
            - (0..5)
                .map(|k| lambda.powi(k) * (-lambda).exp() / (1..=k).product::<i32>().max(1) as f64)
                .sum::<f64>();
        assert!((poisson_tail(lambda, 5) - direct).abs() < 1e-9);
        assert_eq!(poisson_tail(3.0, 0), 1.0);
    }

    #[test]
    fn signal_names_are_unique() {
        let mut names: Vec<&str> = Sig::all().map(Sig::name).collect();
        names.sort();
        let n = names.len();
        names.dedup();
        assert_eq!(n, names.len());
        assert_eq!(n, Sig::COUNT);
    }
}

#[cfg(test)]
mod all_signals {
    use super::Sig;

    #[test]
    fn all_lists_every_signal_in_index_order() {
        for (i, s) in Sig::ALL.iter().enumerate() {
            assert_eq!(*s as usize, i);
        }
    }
}
