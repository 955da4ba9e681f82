//! A detector's state as bytes, and back: what `process` depends on.
//!
//! The body is a sequence of postcard items: a [`Head`] (the sweep hand,
//! the watermark, the population tables, the account count), a [`Tail`]
//! (the linked-domain table; format 4 on) and then one
//! `(key, AccountState)` per account in slab order. Slab order is kept
//! because eviction samples at the hand's slab position: a restored
//! detector must evict the same accounts as one that never stopped. The
//! index is rebuilt from the keys (it is a pure function of them), and
//! the per-detector caches (org classes, agent keys) are pure functions
//! of strings and start empty. Counters ([`super::Stats`]) are not state:
//! the account gauges are recomputed, the rest count this process's work.
//!
//! The population tables are written sorted, so that two detectors with
//! the same state write the same bytes (tests compare snapshots for
//! byte equality, the crash test's "final baselines are equal").
//!
//! Framing, compression, checksums and versions are the business of
//! `crate::state`; this file only turns a detector into items and back.

use std::io::Write;

use serde::{Deserialize, Serialize};

use super::signals::Population;
use super::{AccountState, Detector};
use crate::config::Config;

/// The version of the state layout below and of [`AccountState`]. Bump it
/// whenever either changes: an older snapshot is then refused (counted,
/// the partition starts cold) rather than misread. The golden-file test
/// in `crate::state` fails when the layout changes without a bump.
///
/// Format 2 added the subject and key of each piece of case evidence;
/// format 1 still loads (those read as empty). Format 3 added
/// `AccountState::ext` (session sign-ins, two more role grants); formats 1
/// and 2 still load (it reads as empty). Format 4 added the population's
/// linked domains after the head (`Tail`); older formats rebuild them from the
/// accounts' own domain tables at load. Format 5 lets a grant's trust
/// byte be 2 (`Trust::Brought`, an app a vouched newcomer granted), where
/// formats 1 to 4 wrote a bool: their bytes read unchanged, and an older
/// kawal refuses format 5 instead of failing on the new value. Format 6
/// adds the keys of the last two networks and devices each account's
/// tables evicted (`Slots::evicted`); formats 1 to 5 read with none.
/// Format 7 adds who made each lock-out change of an open case (actor and
/// device keys, `score::Lockout`); formats 1 to 6 read with neither,
/// which counts their changes together, as they were counted. Format 8
/// adds when an open case last paged and the party it paged about
/// (`Case::paged`, `Case::paged_by`); formats 1 to 7 read a case that
/// paged as paged at its `last` by a party unknown (it never pages again).
/// Format 9 adds whether each lock-out change was the account's own
/// people where they work (`Lockout::familiar`) and whether a case's
/// password reset came from elsewhere (`Case::reset_elsewhere`); formats
/// 1 to 8 read every change as unfamiliar and every reset as from
/// elsewhere, as they were counted.
pub const STATE_FORMAT: u32 = 9;

/// The head of every format. Format 4 follows it with the population's
/// linked domains and the count of linking accounts (`Tail`); formats 1
/// to 3 end the head here.
#[derive(Serialize, Deserialize)]
struct Head {
    hand: u64,
    watermark: Option<i64>,
    countries: Vec<(u16, u32)>,
    networks: Vec<(u32, u32)>,
    located_accounts: u32,
    accounts: u64,
}

/// Format 4's linked domains and linking accounts, after the head.
type Tail = (Vec<(u32, u32)>, u32);

/// A population table as sorted pairs: two detectors with the same state
/// write the same bytes.
fn sorted<K: Copy + Ord>(table: &std::collections::HashMap<K, u32>) -> Vec<(K, u32)> {
    let mut v: Vec<(K, u32)> = table.iter().map(|(k, n)| (*k, *n)).collect();
    v.sort_unstable();
    v
}

#[derive(Debug, thiserror::Error)]
pub enum StateDecodeError {
    #[error("state body: {0}")]
    Body(#[from] postcard::Error),
    #[error("state body: {0} bytes after the last account")]
    Trailing(usize),
    #[error("state body: account {0} is listed twice")]
    Duplicate(usize),
}

impl Detector {
    /// Writes this detector's state to `w` (see the module comment).
    pub fn save_state<W: Write>(&self, w: W) -> Result<W, postcard::Error> {
        let head = Head {
            hand: self.hand as u64,
            watermark: self.watermark,
            countries: sorted(&self.pop.countries),
            networks: sorted(&self.pop.networks),
            located_accounts: self.pop.located_accounts,
            accounts: self.states.len() as u64,
        };
        let tail: Tail = (sorted(&self.pop.domains), self.pop.linking_accounts);
        let w = postcard::to_io(&head, w)?;
        let mut w = postcard::to_io(&tail, w)?;
        for (k, st) in self.keys.iter().zip(&self.states) {
            w = postcard::to_io(&(k, st), w)?;
        }
        Ok(w)
    }

    /// A detector with the state [`Detector::save_state`] wrote. Accounts
    /// beyond this configuration's `state.max_accounts` are evicted as
    /// they would be live (the cap may have been lowered since).
    pub fn load_state(cfg: Config, raw: &[u8]) -> Result<Detector, StateDecodeError> {
        Self::load_state_format(cfg, raw, STATE_FORMAT)
    }

    /// [`Detector::load_state`] of a body written in state `format`.
    pub fn load_state_format(
        cfg: Config,
        raw: &[u8],
        format: u32,
    ) -> Result<Detector, StateDecodeError> {
        super::score::reading_format(format, || Self::decode_body(cfg, raw, format))
    }

    fn decode_body(cfg: Config, raw: &[u8], format: u32) -> Result<Detector, StateDecodeError> {
        let mut det = Detector::new(cfg);
        let (head, rest): (Head, &[u8]) = postcard::take_from_bytes(raw)?;
        let ((domains, linking_accounts), mut rest): (Tail, &[u8]) = if format >= 4 {
            postcard::take_from_bytes(rest)?
        } else {
            (Tail::default(), rest)
        };
        let n = usize::try_from(head.accounts).unwrap_or(usize::MAX);
        // Reserve only what the bytes can hold (a corrupt count must not
        // allocate terabytes): an account takes well over 16 bytes.
        det.reserve(n.min(raw.len() / 16));
        det.pop = Population {
            countries: head.countries.into_iter().collect(),
            networks: head.networks.into_iter().collect(),
            located_accounts: head.located_accounts,
            domains: domains.into_iter().collect(),
            linking_accounts,
        };
        det.watermark = head.watermark;
        for i in 0..n {
            let ((key, st), r): ((u64, AccountState), &[u8]) = postcard::take_from_bytes(rest)?;
            rest = r;
            if det.index.get(key).is_some() {
                return Err(StateDecodeError::Duplicate(i));
            }
            if !st.graduated {
                det.stats.learning += 1;
            }
            det.index.insert(key, det.states.len() as u32);
            det.states.push(st);
            det.keys.push(key);
        }
        if !rest.is_empty() {
            return Err(StateDecodeError::Trailing(rest.len()));
        }
        if format < 4 {
            // Older formats kept no linked-domain table: rebuild it from
            // the accounts (each counts once per domain it holds).
            for st in &det.states {
                det.pop.count_domains_of(st);
            }
        }
        det.stats.accounts = det.states.len() as u64;
        det.hand = usize::try_from(head.hand).unwrap_or(0);
        while det.states.len() > det.max_accounts {
            det.evict_for_room();
        }
        // Evictions at load are not the stream's: count none.
        det.stats.evicted = 0;
        det.rebuild_ledger();
        Ok(det)
    }

    /// The state as bytes (tests compare detectors with it).
    pub fn state_bytes_exact(&self) -> Vec<u8> {
        self.save_state(Vec::new()).expect("writing to memory")
    }
}
