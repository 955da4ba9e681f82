//! A detector's state as bytes, and back: what `process` depends on.
//!
//! The body is a sequence of postcard items: a [`Head`] (the sweep hand,
//! the watermark, the population tables, the account count) and then one
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
/// linked domains to the head; older formats rebuild them from the
/// accounts' own domain tables at load.
pub const STATE_FORMAT: u32 = 4;

/// What every format's head holds; format 4 follows it with the linked
/// domains. (postcard writes a struct as its fields in order, with no
/// framing, so `Head` is `Base` then the rest.)
#[derive(Serialize, Deserialize)]
struct Base {
    hand: u64,
    watermark: Option<i64>,
    countries: Vec<(u16, u32)>,
    networks: Vec<(u32, u32)>,
    located_accounts: u32,
    accounts: u64,
}

#[derive(Serialize, Deserialize)]
struct Head {
    base: Base,
    domains: Vec<(u32, u32)>,
    linking_accounts: u32,
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
        let mut countries: Vec<(u16, u32)> =
            self.pop.countries.iter().map(|(k, v)| (*k, *v)).collect();
        countries.sort_unstable();
        let mut networks: Vec<(u32, u32)> =
            self.pop.networks.iter().map(|(k, v)| (*k, *v)).collect();
        networks.sort_unstable();
        let mut domains: Vec<(u32, u32)> = self.pop.domains.iter().map(|(k, v)| (*k, *v)).collect();
        domains.sort_unstable();
        let head = Head {
            base: Base {
                hand: self.hand as u64,
                watermark: self.watermark,
                countries,
                networks,
                located_accounts: self.pop.located_accounts,
                accounts: self.states.len() as u64,
            },
            domains,
            linking_accounts: self.pop.linking_accounts,
        };
        let mut w = postcard::to_io(&head, w)?;
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
        let (head, mut rest): (Head, &[u8]) = if format >= 4 {
            postcard::take_from_bytes(raw)?
        } else {
            let (base, rest): (Base, &[u8]) = postcard::take_from_bytes(raw)?;
            let head = Head {
                base,
                domains: Vec::new(),
                linking_accounts: 0,
            };
            (head, rest)
        };
        let Head {
            base: head,
            domains,
            linking_accounts,
        } = head;
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
                for s in st.domains.iter() {
                    det.pop.add_domain(s.key);
                }
                if st.domains.n > 0 {
                    det.pop.linking_accounts = det.pop.linking_accounts.saturating_add(1);
                }
            }
        }
        det.stats.accounts = det.states.len() as u64;
        det.hand = usize::try_from(head.hand).unwrap_or(0);
        while det.states.len() > det.max_accounts {
            det.evict_for_room();
        }
        // Evictions at load are not the stream's: count none.
        det.stats.evicted = 0;
        Ok(det)
    }

    /// The state as bytes (tests compare detectors with it).
    pub fn state_bytes_exact(&self) -> Vec<u8> {
        self.save_state(Vec::new()).expect("writing to memory")
    }
}
