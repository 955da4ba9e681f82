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

mod access;
mod changes;
mod posting;
mod session;
mod travel;

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
    /// Whether this lock-out change was the account's own people where
    /// they work: a reset at home (`a` is 1, see `Model::reset_at_home`)
    /// or a security change counted as re-enrolment (`a`, its factor,
    /// below 1). Role grants and revocations never are.
    pub fn familiar_lockout(&self) -> bool {
        match self.sig {
            Sig::PasswordReset => self.a > 0.0,
            Sig::MfaDisabled | Sig::MfaMethodRemoved | Sig::RecoveryChanged => self.a < 1.0,
            _ => false,
        }
    }

    /// A change that re-enrolment may explain, counted at `weight` times
    /// `factor` (1: not re-enrolment); `a` keeps the factor for the
    /// explanation, and `raw` the full weight, which a lock-out cluster
    /// counts whatever the context.
    pub(super) fn re_enrolment(sig: Sig, weight: f64, factor: f64) -> Hit {
        Hit {
            raw: weight,
            ..Hit::new(sig, weight * factor).with(factor, 0.0)
        }
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
    /// Accounts that linked each domain (key32 of the host).
    pub domains: HashMap<u32, u32>,
    /// Accounts that posted a link.
    pub linking_accounts: u32,
}

/// Half a nat per e-fold between the share of `total` accounts that use
/// a value (`users`) and the 5% reference; 0 under 20 accounts (see
/// [`Population::rarity`]).
fn share_nats(users: u32, total: u32) -> f64 {
    if total < 20 {
        return 0.0;
    }
    let share = (users as f64 + 0.5) / (total as f64 + 1.0);
    0.5 * (0.05 / share).ln()
}

/// One more account on `key` in a bounded population table; past
/// [`MAX_POPULATION_NETWORKS`], keys not yet held are not counted (they
/// stay "rare", the cautious reading).
fn count_one(table: &mut HashMap<u32, u32>, key: u32) {
    if table.len() >= MAX_POPULATION_NETWORKS && !table.contains_key(&key) {
        return;
    }
    let n = table.entry(key).or_default();
    *n = n.saturating_add(1);
}

/// One account fewer on `key`; a key no account uses leaves the table.
fn uncount_one(table: &mut HashMap<u32, u32>, key: u32) {
    if let Some(n) = table.get_mut(&key) {
        *n = n.saturating_sub(1);
        if *n == 0 {
            table.remove(&key);
        }
    }
}

/// Networks a population table holds at most (a flood of made-up ASNs
/// must not grow it without bound; there are about 80,000 ASNs in use).
pub const MAX_POPULATION_NETWORKS: usize = 1 << 18;

impl Population {
    /// Counts one more account on `network`; past the bound, networks
    /// not yet held are not counted (they stay "rare", the cautious
    /// reading).
    pub fn add_network(&mut self, network: u32) {
        count_one(&mut self.networks, network);
    }

    /// Counts one more account linking `domain`, within the same bound as
    /// networks (past it, domains not yet held stay uncounted: "rare").
    pub fn add_domain(&mut self, domain: u32) {
        count_one(&mut self.domains, domain);
    }

    /// Counts an account's linked domains in (the reverse of that part of
    /// [`Population::forget`]): state formats before 4 kept no domain
    /// table, so loading one rebuilds it from the accounts.
    pub fn count_domains_of(&mut self, st: &AccountState) {
        for s in st.domains.iter() {
            self.add_domain(s.key);
        }
        if st.domains.n > 0 {
            self.linking_accounts = self.linking_accounts.saturating_add(1);
        }
    }

    /// Takes an evicted account's countries, networks and linked domains
    /// out.
    pub fn forget(&mut self, st: &AccountState) {
        for s in st.domains.iter() {
            uncount_one(&mut self.domains, s.key);
        }
        if st.domains.n > 0 {
            self.linking_accounts = self.linking_accounts.saturating_sub(1);
        }
        for s in st.countries.iter() {
            let c = country_of_key(s.key);
            if let Some(n) = self.countries.get_mut(&c) {
                *n = n.saturating_sub(1);
            }
        }
        for s in st.networks.iter() {
            uncount_one(&mut self.networks, s.key);
        }
        if st.countries.n > 0 || st.networks.n > 0 {
            self.located_accounts = self.located_accounts.saturating_sub(1);
        }
    }

    /// Rarity adjustment in nats: positive for values few accounts use,
    /// negative for values most use. Zero until the population is large
    /// enough to say (20 located accounts: below that one account moves
    /// a share by 5%). The reference share is 5%: a value used by one
    /// account in twenty is neither rare nor common; half a nat per
    /// e-fold away from it, capped at -1 and +1.5 so that population
    /// evidence never outweighs the account's own (a novelty weighs up to
    /// `weights.novelty_cap`). kawal's own judgement, not measured.
    pub fn rarity(&self, users: u32) -> f64 {
        share_nats(users, self.located_accounts).clamp(-1.0, 1.5)
    }
    /// How widely linked a domain is, in nats, never positive: a domain
    /// many accounts link is not a hijacker's fresh one (the same scale
    /// as [`Population::rarity`], the discount side only).
    pub fn domain_commonness(&self, users: u32) -> f64 {
        share_nats(users, self.linking_accounts).clamp(-1.0, 0.0)
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
    pub onboarding_ms: Millis,
    pub long_ms: Millis,
    /// `detect.repage_after`.
    pub repage_ms: Millis,
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
    include_str!("../../../config/hosting-asns.txt")
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
            onboarding_ms: cfg.detect.onboarding_window_ms(),
            long_ms: cfg.detect.long_window_ms(),
            repage_ms: cfg.detect.repage_after_ms(),
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
    fn familiar<const N: usize, const G: usize>(
        &self,
        p_attacker_seen: f64,
        s: &Slots<N, G>,
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

    /// Writes the detail (what was seen against the baseline) and the
    /// phrase (for the alert's summary) of hit `h`; each family explains
    /// its own signals (`access`, `travel`, `session`, `posting`,
    /// `changes`).
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
        let s = Say {
            h,
            ev,
            acc,
            st,
            // Every input string is quoted capped (see `budget`).
            city: ev.source.city.as_deref().map(|c| capped(c, MAX_QUOTED)),
            post_client: quoted(ev.post.as_ref().and_then(|p| p.client.as_deref())),
            verb: match ev.kind {
                EventKind::Login => "sign-in",
                EventKind::Post => "post",
                _ => "change",
            },
        };
        let _ = self.explain_access(&s, detail, phrase)
            || self.explain_travel(&s, detail, phrase)
            || self.explain_session(&s, detail, phrase)
            || self.explain_posting(&s, detail, phrase)
            || self.explain_changes(&s, detail, phrase);
    }
}

/// What an explanation may quote of an event and its account, capped:
/// the families' `explain_*` read it.
pub(super) struct Say<'e, 'a> {
    pub h: &'e Hit,
    pub ev: &'e Event<'a>,
    pub acc: &'e Access,
    pub st: &'e AccountState,
    pub city: Option<Cow<'e, str>>,
    pub post_client: Cow<'e, str>,
    pub verb: &'static str,
}

impl Say<'_, '_> {
    /// "AS7713 Telkom Indonesia", as much of it as is known.
    fn net(&self) -> String {
        let src = &self.ev.source;
        match (
            src.asn,
            src.as_org.as_deref().map(|o| capped(o, MAX_QUOTED)),
        ) {
            (Some(a), Some(o)) => format!("AS{a} {o}"),
            (Some(a), None) => format!("AS{a}"),
            (None, Some(o)) => o.into_owned(),
            (None, None) => "an unknown network".into(),
        }
    }

    /// The account's most used country, or "none".
    fn usual_country(&self) -> String {
        self.st
            .countries
            .top()
            .map(|s| country_name(country_of_key(s.key)))
            .unwrap_or_else(|| "none".into())
    }
}

/// A packed country code's two letters.
fn country_name(c: u16) -> String {
    String::from_utf8_lossy(&country_str(c)).into_owned()
}

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
