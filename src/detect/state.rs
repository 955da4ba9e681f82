//! Per-account baselines: a plain, fixed-size, serialisable struct.
//!
//! Each categorical baseline (countries, networks, IP ranges, devices,
//! agents, actors, posting clients, link domains) is a [`Slots`]: a few
//! `(key, count, last day)` slots kept by frequency with ageing, plus two
//! counters, how many observations (`n`) and how many of them were a value
//! not held at the time (`d`). `d / n` is the account's own rate of
//! novelty, which the scoring uses as P(new value | legitimate user), in the
//! way Freeman et al. back off from unseen values: an account whose staff
//! roam sees new networks often and is not alarmed by one more.
//!
//! Nothing here grows with the account's history: the struct is the same
//! size for an account seen once and one seen a million times (the one
//! exception is [`Case`](super::Case), boxed, present only while an account is under
//! suspicion). Times are kept as compact day numbers and seconds to keep
//! the whole under the 1 KiB per account budget; see `size_of` in the tests.

use serde::{Deserialize, Serialize};

use crate::time::{DAY, Millis};

/// Days since 2000-01-01, the compact day number used in slots.
pub type Day = u16;
const DAY_EPOCH: i64 = 10_957; // days_from_civil(2000, 1, 1)

#[inline]
pub fn day16(ms: Millis) -> Day {
    (ms.div_euclid(DAY) - DAY_EPOCH).clamp(0, u16::MAX as i64) as Day
}

/// Seconds since 2000-01-01 in 32 bits (good until 2136).
pub type Secs = u32;
const SECS_EPOCH: i64 = DAY_EPOCH * 86_400;

#[inline]
pub fn secs32(ms: Millis) -> Secs {
    (ms.div_euclid(1000) - SECS_EPOCH).clamp(0, u32::MAX as i64) as Secs
}

#[inline]
pub fn secs_to_ms(s: Secs) -> Millis {
    (s as i64 + SECS_EPOCH) * 1000
}

/// Slot key of a packed country code: shifted by one, because key 0 marks
/// an empty slot and `AA` packs to 0.
#[inline]
pub fn country_key(code: u16) -> u32 {
    code as u32 + 1
}

/// The packed country code of a [`country_key`].
#[inline]
pub fn country_of_key(key: u32) -> u16 {
    key.saturating_sub(1) as u16
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Slot {
    /// Hash of the value; 0 marks an empty slot.
    pub key: u32,
    pub count: u16,
    pub last_day: Day,
}

/// A small frequency table of one categorical feature, and the keys of
/// the last `G` values it evicted. A table too small for the values an
/// account really uses thrashes: two networks taking turns in the last
/// slot each come back "never seen", as count 1, and neither builds a
/// count. On seed 3 of the simulation, 6,423 sign-ins came from a network
/// the account had used before but no longer held (8 slots; 244 with 10
/// slots, 138 with 8 and two evicted keys), and 2,775 from such a device
/// (14 slots; 114 with two evicted keys). An institutional account shared
/// by a dozen staff, each with a home network and a carrier, uses more
/// networks than 8; the evicted keys cost 8 bytes where 2 more slots cost
/// 16 and keep fewer. A value whose key was evicted counts as seen once
/// ([`Slots::count`] is 1) and comes back with a count of 2, not as new.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Slots<const N: usize, const G: usize = 0> {
    /// Observations.
    pub n: u16,
    /// Observations of a value not held at the time.
    pub d: u16,
    pub slots: [Slot; N],
    /// Keys of the last values evicted, newest first (0: none).
    pub evicted: [u32; G],
}

impl<const N: usize, const G: usize> Default for Slots<N, G> {
    fn default() -> Self {
        Slots {
            n: 0,
            d: 0,
            slots: [Slot::default(); N],
            evicted: [0; G],
        }
    }
}

impl<const N: usize, const G: usize> Slots<N, G> {
    #[inline]
    pub fn get(&self, key: u32) -> Option<&Slot> {
        self.slots.iter().find(|s| s.key == key && key != 0)
    }

    /// Uses of `key` held; 1 for a key evicted lately (seen, count lost).
    #[inline]
    pub fn count(&self, key: u32) -> u16 {
        match self.get(key) {
            Some(s) => s.count,
            None => u16::from(self.was_evicted(key)),
        }
    }

    #[inline]
    fn was_evicted(&self, key: u32) -> bool {
        key != 0 && self.evicted.contains(&key)
    }

    /// Forgets that `key` was evicted (it is held again).
    fn unevict(&mut self, key: u32) {
        if let Some(i) = self.evicted.iter().position(|k| *k == key) {
            self.evicted[i..].rotate_left(1);
            if let Some(last) = self.evicted.last_mut() {
                *last = 0;
            }
        }
    }

    pub fn iter(&self) -> impl Iterator<Item = &Slot> {
        self.slots.iter().filter(|s| s.key != 0)
    }

    /// The most used value.
    pub fn top(&self) -> Option<&Slot> {
        self.iter().max_by_key(|s| s.count)
    }

    /// P(a value not seen before | this account), smoothed: the account's
    /// own novelty rate with one pseudo-observation of each kind.
    #[inline]
    pub fn p_new(&self) -> f64 {
        (self.d as f64 + 1.0) / (self.n as f64 + 2.0)
    }

    /// The share of observations with this value (0 if not held).
    #[inline]
    pub fn share(&self, key: u32) -> f64 {
        self.count(key) as f64 / (self.n as f64 + 1.0)
    }

    /// Records one observation; returns whether the value was new.
    pub fn observe(&mut self, key: u32, day: Day) -> bool {
        if key == 0 {
            return false;
        }
        if self.n == u16::MAX {
            self.halve();
        }
        self.n += 1;
        if let Some(s) = self.slots.iter_mut().find(|s| s.key == key) {
            s.count = s.count.saturating_add(1);
            s.last_day = day;
            return false;
        }
        if self.was_evicted(key) {
            self.unevict(key);
            self.replace_weakest(key, 2, day);
            return false;
        }
        self.d = self.d.saturating_add(1);
        self.replace_weakest(key, 1, day);
        true
    }

    /// Puts `key` in an empty slot, else in the weakest: low count, long
    /// unused. A count halves in weight for every 30 days without use, so
    /// a network used heavily last year yields to this month's.
    fn replace_weakest(&mut self, key: u32, count: u16, day: Day) {
        let victim = self
            .slots
            .iter_mut()
            .min_by(|a, b| weight(a, day).total_cmp(&weight(b, day)))
            .expect("N > 0");
        let gone = std::mem::replace(
            victim,
            Slot {
                key,
                count,
                last_day: day,
            },
        );
        if G > 0 && gone.key != 0 {
            self.evicted.rotate_right(1);
            self.evicted[0] = gone.key;
        }
    }

    /// Makes `key` held with at least `count` uses (analyst feedback:
    /// "this value is the account's"). A value not held was never learnt
    /// (its case was quarantined): it is counted as the one new value the
    /// account's own user brought, which raises the account's novelty
    /// rate as the observation would have.
    pub fn teach(&mut self, key: u32, count: u16, day: Day) {
        if key == 0 {
            return;
        }
        if let Some(s) = self.slots.iter_mut().find(|s| s.key == key) {
            s.count = s.count.max(count);
            s.last_day = day;
            return;
        }
        self.unevict(key);
        if self.n == u16::MAX {
            self.halve();
        }
        self.n += 1;
        self.d = self.d.saturating_add(1);
        self.replace_weakest(key, count, day);
    }

    /// Halves every counter, keeping proportions (saturation guard).
    fn halve(&mut self) {
        self.n /= 2;
        self.d /= 2;
        for s in &mut self.slots {
            s.count = (s.count / 2).max(1);
        }
    }
}

#[inline]
fn weight(s: &Slot, today: Day) -> f64 {
    if s.key == 0 {
        return -1.0;
    }
    let age = today.saturating_sub(s.last_day) as f64;
    s.count as f64 * (-age / 30.0 * std::f64::consts::LN_2).exp()
}

// Slots<N> are serialised as (n, d, [non-empty slots]); from state format
// 6, a table that keeps evicted keys (G > 0) adds them, and reads none
// from an older format.
impl<const N: usize, const G: usize> Serialize for Slots<N, G> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let held: Vec<Slot> = self.iter().copied().collect();
        if G == 0 {
            (self.n, self.d, held).serialize(s)
        } else {
            (self.n, self.d, held, self.evicted.to_vec()).serialize(s)
        }
    }
}

impl<'de, const N: usize, const G: usize> Deserialize<'de> for Slots<N, G> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let (n, dd, held, evicted): (u16, u16, Vec<Slot>, Vec<u32>) =
            if G == 0 || super::score::reading() < 6 {
                let (n, dd, held) = Deserialize::deserialize(d)?;
                (n, dd, held, Vec::new())
            } else {
                Deserialize::deserialize(d)?
            };
        let mut out = Slots {
            n,
            d: dd,
            ..Slots::default()
        };
        for (dst, src) in out.slots.iter_mut().zip(held) {
            *dst = src;
        }
        for (dst, src) in out.evicted.iter_mut().zip(evicted) {
            *dst = src;
        }
        Ok(out)
    }
}

/// A place the account signs in from (city or coordinates).
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Place {
    pub lat: f32,
    pub lon: f32,
    pub count: u16,
    pub last_day: Day,
}

/// The last successful sign-in, for impossible travel.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct LastLogin {
    /// Actor key (0: sign-ins without an actor).
    pub actor: u32,
    pub at: Secs,
    pub lat: f32,
    pub lon: f32,
    pub accuracy_km: f32,
    pub asn: u32,
    pub country: u16,
    pub has_position: bool,
    pub mobile: bool,
}

/// Failed sign-ins in the current burst window.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Failures {
    /// First failure of the window.
    pub since: Secs,
    pub last: Secs,
    pub count: u16,
    /// Distinct networks and countries among them (first few).
    pub networks: [u32; 4],
    pub countries: [u16; 4],
}

impl Failures {
    pub fn distinct_networks(&self) -> usize {
        self.networks.iter().filter(|k| **k != 0).count()
    }
    pub fn distinct_countries(&self) -> usize {
        self.countries.iter().filter(|k| **k != 0).count()
    }
}

/// Recent grants (roles to people, access to apps), for onboarding and for
/// posts through a freshly granted app.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Grant {
    pub key: u32,
    pub at: Secs,
    /// Who granted it, from where (see `learn`).
    pub trust: Trust,
}

impl Grant {
    /// Granted in a trusted context: it vouches for what it introduces.
    pub fn trusted(&self) -> bool {
        self.trust != Trust::None
    }

    /// How long before `t` it was granted (negative: after `t`).
    pub fn age(&self, t: Millis) -> Millis {
        t - secs_to_ms(self.at)
    }

    /// Granted in a trusted context at most `window` before `t`.
    pub fn trusted_within(&self, t: Millis, window: Millis) -> bool {
        self.trusted() && (0..=window).contains(&self.age(t))
    }
}

/// How far a grant is trusted. One byte, written as 0, 1 or 2: formats 1
/// to 4 wrote a `bool` here (0 or 1, the same bytes as `None` and
/// `Trusted`), so their snapshots read unchanged.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Trust {
    /// Granted by a newcomer, from an unfamiliar device, or in a risky
    /// sitting.
    #[default]
    None,
    /// Granted by an established actor from a familiar context.
    Trusted,
    /// An app granted by a vouched newcomer (an agency's own scheduling
    /// tool): it came with them, so its posts are theirs (format 5).
    Brought,
}

impl Serialize for Trust {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u8(*self as u8)
    }
}

impl<'de> Deserialize<'de> for Trust {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        match u8::deserialize(d)? {
            0 => Ok(Trust::None),
            1 => Ok(Trust::Trusted),
            2 => Ok(Trust::Brought),
            n => Err(serde::de::Error::custom(format!("grant trust {n}"))),
        }
    }
}

/// Weight of one post in the hour profile.
pub const HOUR_UNIT: u8 = 8;

/// Posting behaviour.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Posting {
    /// Posts per hour-of-day, weekdays then weekends, decayed weekly.
    /// Fixed point in a byte (one post adds [`HOUR_UNIT`]; all bins halve
    /// when one would overflow): only the shape of the profile matters.
    pub hours: [[u8; 24]; 2],
    pub hours_day: Day,
    /// Exponentially weighted posts per day (over all days, idle ones too).
    pub per_day: f32,
    pub today: Day,
    pub today_count: u16,
    /// Total posts (saturating).
    pub posts: u32,
    /// Times of the most recent posts (ring).
    pub recent: [Secs; 6],
    pub recent_next: u8,
}

/// The whole baseline of one account.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct AccountState {
    pub first_seen: Secs,
    pub last_seen: Secs,
    pub events: u32,
    /// Left the learning period (counted once).
    pub graduated: bool,
    pub logins_ok: u16,
    /// Successful sign-ins through hosting / VPN networks.
    pub hosting_logins: u16,
    pub countries: Slots<6>,
    pub networks: Slots<8, 2>,
    pub ip_ranges: Slots<6>,
    pub places: [Place; 3],
    /// Shared institutional accounts see many devices: staff laptops and
    /// phones, replacements, newcomers. Too few slots would evict familiar
    /// devices and make them look new again.
    pub devices: Slots<14, 2>,
    pub agents: Slots<8>,
    pub actors: Slots<10>,
    /// Actors established as administrators: granted an admin role, or
    /// acting for weeks (keys into `actors`).
    pub admins: [u32; 4],
    pub post_clients: Slots<4>,
    pub domains: Slots<10>,
    /// Last successful sign-in of the most recent actors: travel is a
    /// person's, and several staff share one account.
    pub last_logins: [LastLogin; 3],
    pub failures: Failures,
    pub posting: Posting,
    pub role_grants: [Grant; 2],
    pub app_grants: [Grant; 1],
    /// Hashes of the account's last few event ids: a repeated event (an
    /// at-least-once redelivery, a producer's retry, a replayed flood of
    /// one event) is counted and skipped, never learnt twice.
    pub recent_ids: [u32; 4],
    /// Open case: evidence under correlation. None for almost every account.
    pub case: Option<Box<super::score::Case>>,
    /// Added in state format 3 (last, so that older formats read without
    /// it: see [`Ext`]'s `Deserialize`).
    pub ext: Ext,
}

/// The sign-in behind a device session: where the session (a platform
/// session id, or else the device) last signed in.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionSlot {
    /// Hash of the session id, or the device key; 0: empty.
    pub key: u32,
    /// Network (ASN key) of the sign-in, 0 if it had none.
    pub network: u32,
    pub at: Secs,
}

/// Per-account state added in state format 3.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Ext {
    /// Sign-ins behind the most recent device sessions (session
    /// continuity, `Model::session_signals`). Three: the staff who work
    /// on an account at once, each with a laptop or a phone.
    pub sessions: [SessionSlot; 3],
    /// One more recent role grant: a team is often granted roles
    /// together, and `role_grants` keeps two.
    pub more_grants: [Grant; 1],
}

impl Serialize for Ext {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        (self.sessions, self.more_grants).serialize(s)
    }
}

impl<'de> Deserialize<'de> for Ext {
    /// A state of format 1 or 2 has no `Ext`: it reads as empty, taking
    /// nothing from the input (postcard writes a struct as the sequence
    /// of its fields, so the field that is not there is simply not read).
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        if super::score::reading() < 3 {
            return Ok(Ext::default());
        }
        let (sessions, more_grants) = <([SessionSlot; 3], [Grant; 1])>::deserialize(d)?;
        Ok(Ext {
            sessions,
            more_grants,
        })
    }
}

impl AccountState {
    /// Every recent role grant.
    pub fn grants(&self) -> impl Iterator<Item = &Grant> {
        self.role_grants.iter().chain(self.ext.more_grants.iter())
    }

    /// Records a role grant, replacing the oldest of the three kept.
    pub fn push_role_grant(&mut self, g: Grant) {
        let oldest = self
            .role_grants
            .iter_mut()
            .chain(self.ext.more_grants.iter_mut())
            .min_by_key(|g| g.at)
            .expect("grants");
        *oldest = g;
    }

    /// The sign-in behind session `key`.
    pub fn session(&self, key: u32) -> Option<&SessionSlot> {
        self.ext.sessions.iter().find(|s| s.key == key && key != 0)
    }

    /// Records a sign-in of session `key` from `network`.
    pub fn set_session(&mut self, key: u32, network: u32, at: Secs) {
        if key == 0 {
            return;
        }
        let slots = &mut self.ext.sessions;
        let i = slots.iter().position(|s| s.key == key).unwrap_or_else(|| {
            let (i, _) = slots
                .iter()
                .enumerate()
                .min_by_key(|(_, s)| s.at)
                .expect("3 slots");
            i
        });
        slots[i] = SessionSlot { key, network, at };
    }
}

impl AccountState {
    pub fn new(at: Millis) -> Self {
        AccountState {
            first_seen: secs32(at),
            last_seen: secs32(at),
            ..Default::default()
        }
    }

    /// Days of history.
    pub fn history_days(&self) -> f64 {
        self.last_seen.saturating_sub(self.first_seen) as f64 / 86_400.0
    }

    pub fn is_admin(&self, key: u32) -> bool {
        key != 0 && self.admins.contains(&key)
    }

    pub fn add_admin(&mut self, key: u32) {
        if key == 0 || self.is_admin(key) {
            return;
        }
        if let Some(slot) = self.admins.iter_mut().find(|k| **k == 0) {
            *slot = key;
        } else {
            // Keep the most active admins.
            let (i, _) = self
                .admins
                .iter()
                .enumerate()
                .min_by_key(|(_, k)| self.actors.count(**k))
                .expect("4 admins");
            self.admins[i] = key;
        }
    }

    pub fn remove_admin(&mut self, key: u32) {
        for k in &mut self.admins {
            if *k == key {
                *k = 0;
            }
        }
    }
}

impl AccountState {
    /// The last sign-in of this actor, if kept.
    pub fn last_login(&self, actor: u32) -> Option<&LastLogin> {
        self.last_logins
            .iter()
            .find(|l| l.at != 0 && l.actor == actor)
    }

    /// Records a sign-in, replacing this actor's previous one or the oldest.
    pub fn set_last_login(&mut self, l: LastLogin) {
        let i = self
            .last_logins
            .iter()
            .position(|x| x.at != 0 && x.actor == l.actor)
            .unwrap_or_else(|| {
                let (i, _) = self
                    .last_logins
                    .iter()
                    .enumerate()
                    .min_by_key(|(_, x)| x.at)
                    .expect("3 slots");
                i
            });
        self.last_logins[i] = l;
    }
}

impl AccountState {
    /// Whether `id_hash` is among the last event ids seen; records it if
    /// not (0, an empty slot, is never recorded).
    pub fn seen_recently(&mut self, id_hash: u32) -> bool {
        let id_hash = id_hash.max(1);
        if self.recent_ids.contains(&id_hash) {
            return true;
        }
        self.recent_ids.rotate_right(1);
        self.recent_ids[0] = id_hash;
        false
    }
}

/// Records a grant, replacing the oldest.
pub fn push_grant(grants: &mut [Grant], g: Grant) {
    let Some(oldest) = grants.iter_mut().min_by_key(|g| g.at) else {
        return;
    };
    *oldest = g;
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// A grant's trust is the byte formats 1-4 wrote as a bool: those
    /// bytes read as before, the new value round-trips, and any other
    /// byte is refused rather than misread.
    #[test]
    fn grant_trust_reads_the_old_bool_and_refuses_unknown_bytes() {
        for (byte, trust) in [(0u8, Trust::None), (1, Trust::Trusted), (2, Trust::Brought)] {
            let g = Grant {
                key: 7,
                at: 9,
                trust,
            };
            let bytes = postcard::to_allocvec(&g).unwrap();
            assert_eq!(*bytes.last().unwrap(), byte);
            assert_eq!(postcard::from_bytes::<Grant>(&bytes).unwrap(), g);
        }
        let old = postcard::to_allocvec(&(7u32, 9u32, true)).unwrap();
        let g: Grant = postcard::from_bytes(&old).unwrap();
        assert_eq!(g.trust, Trust::Trusted);
        assert!(g.trusted());
        let mut bad = old;
        *bad.last_mut().unwrap() = 3;
        assert!(postcard::from_bytes::<Grant>(&bad).is_err());
    }

    #[test]
    fn account_state_fits_the_memory_budget() {
        // The slab stores states inline; 1 KiB per account includes the
        // index and allocator overhead, so the struct itself must stay well
        // under it.
        let size = std::mem::size_of::<AccountState>();
        // 904 until state format 3 added 48 bytes of session sign-ins and
        // a third role grant (`Ext`), 952 until format 6 added 16 bytes of
        // evicted network and device keys; resident memory stays under
        // 1 KiB per account (cargo bench --bench memory: 1,012 bytes).
        assert!(size <= 968, "AccountState is {size} bytes");
        eprintln!("AccountState: {size} bytes");
    }

    #[test]
    fn slots_learn_and_evict_stale_values() {
        let mut s = Slots::<2>::default();
        assert!(s.observe(10, 100));
        assert!(!s.observe(10, 101));
        assert!(s.observe(20, 101));
        assert_eq!(s.count(10), 2);
        // A third value evicts the weaker (20: one use).
        assert!(s.observe(30, 102));
        assert_eq!(s.count(20), 0);
        assert_eq!(s.count(10), 2);
        // A heavily used but long-unused value yields to a recent one.
        for _ in 0..10 {
            s.observe(30, 102);
        }
        assert!(s.observe(40, 400));
        assert_eq!(s.count(10), 0, "10 was last used 300 days ago");
        assert_eq!((s.n, s.d), (15, 4));
    }

    #[test]
    fn values_taking_turns_in_the_last_slot_stay_known() {
        // Two slots held by a heavily used pair; two more values take
        // turns in the weakest slot. Without evicted keys each comes back
        // new; with them, seen (count 1) and restored with a count of 2.
        let mut plain = Slots::<2>::default();
        let mut kept = Slots::<2, 2>::default();
        for _ in 0..20 {
            plain.observe(1, 10);
            kept.observe(1, 10);
        }
        let mut new_plain = 0;
        let mut new_kept = 0;
        for round in 0..6 {
            let key = 2 + round % 2;
            if plain.count(key) == 0 {
                new_plain += 1;
            }
            if kept.count(key) == 0 {
                new_kept += 1;
            }
            plain.observe(key, 10);
            kept.observe(key, 10);
        }
        assert_eq!(new_plain, 6, "every turn comes back new");
        assert_eq!(new_kept, 2, "only the first use of each is new");
        assert_eq!(kept.d, 3, "new: the first use of 1, 2 and 3");
        assert!(kept.count(2) >= 1 && kept.count(3) >= 1);
        // Taught (analyst feedback) or observed, a held key is no longer
        // listed as evicted, and the list never repeats a key.
        kept.teach(2, 5, 11);
        kept.teach(3, 5, 11);
        let listed: Vec<u32> = kept.evicted.iter().copied().filter(|k| *k != 0).collect();
        assert!(listed.iter().all(|k| kept.get(*k).is_none()), "{listed:?}");
    }

    #[test]
    fn serde_round_trip() {
        let mut st = AccountState::new(1_700_000_000_000);
        st.countries.observe(5, 9000);
        st.devices.observe(77, 9000);
        st.admins[0] = 3;
        let json = serde_json::to_string(&st).unwrap();
        let back: AccountState = serde_json::from_str(&json).unwrap();
        assert_eq!(back, st);
    }

    proptest! {
        #[test]
        fn novelty_rate_is_a_probability_and_counts_stay_consistent(
            keys in proptest::collection::vec(1u32..20, 0..3000)
        ) {
            let mut s = Slots::<6>::default();
            for (i, k) in keys.iter().enumerate() {
                s.observe(*k, (i / 50) as u16);
            }
            let p = s.p_new();
            prop_assert!(p > 0.0 && p < 1.0);
            prop_assert!(s.d <= s.n);
            let held: u32 = s.iter().map(|x| x.count as u32).sum();
            prop_assert!(held <= s.n as u32);
            // Distinct keys held are unique.
            let mut ks: Vec<u32> = s.iter().map(|x| x.key).collect();
            ks.sort();
            ks.dedup();
            prop_assert_eq!(ks.len(), s.iter().count());
        }

        #[test]
        fn evicted_keys_are_distinct_not_held_and_never_new_before_held(
            keys in proptest::collection::vec(1u32..20, 0..3000)
        ) {
            let mut s = Slots::<6, 2>::default();
            let mut ever = std::collections::HashSet::new();
            for (i, k) in keys.iter().enumerate() {
                let listed_before = s.evicted.contains(k);
                prop_assert_eq!(s.count(*k) > 0, s.get(*k).is_some() || listed_before);
                let new = s.observe(*k, (i / 50) as u16);
                // A value never seen is new; one listed as evicted is not.
                prop_assert!(ever.contains(k) || new);
                prop_assert!(!(listed_before && new));
                ever.insert(*k);
                let listed: Vec<u32> = s.evicted.iter().copied().filter(|e| *e != 0).collect();
                prop_assert!(listed.iter().all(|e| s.get(*e).is_none()), "{:?} held", listed);
                prop_assert!(listed.len() < 2 || listed[0] != listed[1]);
                prop_assert!(s.d <= s.n);
            }
        }

        #[test]
        fn saturation_keeps_proportions(extra in 0u32..5000) {
            let mut s = Slots::<2>::default();
            for i in 0..(65_535u32 + extra) {
                s.observe(if i % 4 == 0 { 1 } else { 2 }, 0);
            }
            let share1 = s.count(1) as f64 / s.n as f64;
            prop_assert!((share1 - 0.25).abs() < 0.02, "share {}", share1);
        }
    }
}
