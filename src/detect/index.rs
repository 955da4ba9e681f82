//! The account index: account hash -> position of its state in the slab,
//! and the memory hints that keep a million accounts fast.
//!
//! At a million accounts the detector's time per event is dominated by
//! three cache misses that depend on each other: the index entry, then the
//! account's state, then the rest of the state. std's `HashMap` (hashbrown)
//! keeps control bytes and entries apart, so its lookup alone is two
//! misses, and it gives no address to prefetch. This table is plain linear
//! probing over 16-byte entries (key and position together: one miss), at
//! most half full (probe runs stay short), with a [`Index::prefetch`] that
//! needs only the key, so a caller can start loading an event's entry
//! while it decodes the previous one ([`super::Detector::hint`]).
//!
//! Both the table and the state slab ask the kernel for transparent huge
//! pages ([`advise_huge`]): a gigabyte of state in 4 KiB pages costs a TLB
//! miss (a page walk of its own) on nearly every access; in 2 MiB pages the
//! walks mostly hit. Measured on the 1M-account bench: +15% from the slab's
//! advice alone.
//!
//! Removal (eviction, for bounded memory) is backward-shift deletion,
//! which linear probing allows without tombstones: the entries after the
//! hole move back while their home position allows, so every probe run
//! stays unbroken and lookups stay one miss.

/// One table entry: the account's 64-bit hash and its slab position plus
/// one (0 marks an empty entry, so every key value is usable).
#[derive(Debug, Clone, Copy, Default)]
#[repr(C, align(16))]
struct Entry {
    key: u64,
    pos1: u32,
}

#[derive(Debug, Default)]
pub struct Index {
    entries: Vec<Entry>,
    len: usize,
}

impl Index {
    /// Entries for `n` accounts at most half full (a power of two).
    fn capacity_for(n: usize) -> usize {
        (n.max(8) * 2).next_power_of_two()
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.len
    }

    /// Bytes allocated (all of it is touched: keys land everywhere).
    pub fn bytes(&self) -> usize {
        self.entries.capacity() * std::mem::size_of::<Entry>()
    }

    /// Makes room for `n` accounts in total without growing.
    pub fn reserve(&mut self, n: usize) {
        if Self::capacity_for(n) > self.entries.len() {
            self.rebuild(Self::capacity_for(n));
        }
    }

    #[inline]
    fn start(&self, key: u64) -> usize {
        // The keys are full-avalanche hashes: the low bits are as good as
        // any.
        key as usize & (self.entries.len() - 1)
    }

    #[inline]
    pub fn get(&self, key: u64) -> Option<u32> {
        self.find(key).map(|i| self.entries[i].pos1 - 1)
    }

    /// Records `key -> pos`; the key must not be present.
    pub fn insert(&mut self, key: u64, pos: u32) {
        debug_assert!(self.get(key).is_none());
        if (self.len + 1) * 2 > self.entries.len() {
            self.rebuild(Self::capacity_for(self.len + 1).max(self.entries.len() * 2));
        }
        self.put(key, pos);
        self.len += 1;
    }

    /// Moves an existing key to a new slab position (after a swap-remove).
    pub fn set(&mut self, key: u64, pos: u32) {
        if let Some(i) = self.find(key) {
            self.entries[i].pos1 = pos + 1;
        }
    }

    /// Removes `key`, returning its position.
    pub fn remove(&mut self, key: u64) -> Option<u32> {
        let mut hole = self.find(key)?;
        let pos = self.entries[hole].pos1 - 1;
        let mask = self.entries.len() - 1;
        let mut j = (hole + 1) & mask;
        loop {
            let e = self.entries[j];
            if e.pos1 == 0 {
                break;
            }
            // `e` may fill the hole unless its home lies cyclically in
            // (hole, j]: then it would be placed before its home.
            let home = self.start(e.key);
            if (j.wrapping_sub(home) & mask) >= (j.wrapping_sub(hole) & mask) {
                self.entries[hole] = e;
                hole = j;
            }
            j = (j + 1) & mask;
        }
        self.entries[hole] = Entry::default();
        self.len -= 1;
        Some(pos)
    }

    /// The entry holding `key`.
    #[inline]
    fn find(&self, key: u64) -> Option<usize> {
        if self.entries.is_empty() {
            return None;
        }
        let mask = self.entries.len() - 1;
        let mut i = self.start(key);
        loop {
            let e = self.entries[i];
            if e.pos1 == 0 {
                return None;
            }
            if e.key == key {
                return Some(i);
            }
            i = (i + 1) & mask;
        }
    }

    fn put(&mut self, key: u64, pos: u32) {
        let mask = self.entries.len() - 1;
        let mut i = self.start(key);
        while self.entries[i].pos1 != 0 {
            i = (i + 1) & mask;
        }
        self.entries[i] = Entry { key, pos1: pos + 1 };
    }

    fn rebuild(&mut self, cap: usize) {
        let old = std::mem::replace(&mut self.entries, vec![Entry::default(); cap]);
        advise_huge(&self.entries);
        for e in old.into_iter().filter(|e| e.pos1 != 0) {
            self.put(e.key, e.pos1 - 1);
        }
    }

    /// Starts loading the entry where a lookup of `key` begins.
    #[inline]
    pub fn prefetch(&self, key: u64) {
        if !self.entries.is_empty() {
            prefetch(&self.entries[self.start(key)]);
        }
    }
}

/// Asks the CPU to start loading the cache line holding `*p` (a hint: no
/// effect on results, and a no-op where there is no instruction for it).
#[inline(always)]
pub fn prefetch<T>(p: &T) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: prefetching is a hint that never faults, and `p` is a valid
    // reference anyway.
    unsafe {
        use std::arch::x86_64::{_MM_HINT_T0, _mm_prefetch};
        _mm_prefetch::<_MM_HINT_T0>((p as *const T).cast());
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = p;
}

/// Prefetches every cache line of `*p` (for a struct of a few lines).
#[inline(always)]
pub fn prefetch_all<T>(p: &T) {
    let base = (p as *const T).cast::<u8>();
    let mut off = 0;
    while off < std::mem::size_of::<T>() {
        // `wrapping_add` keeps this free of pointer-arithmetic UB claims;
        // every address stays inside `*p`.
        let line = base.wrapping_add(off);
        // SAFETY: `line` points inside `*p`, which is a live reference.
        prefetch(unsafe { &*line });
        off += 64;
    }
}

/// Asks the kernel to back `v`'s buffer with transparent huge pages (where
/// THP is in `madvise` mode, as on Debian; a no-op elsewhere). Called on
/// every reallocation, since a new buffer does not inherit the advice.
pub fn advise_huge<T>(v: &Vec<T>) {
    #[cfg(target_os = "linux")]
    {
        const PAGE: usize = 4096;
        let bytes = v.capacity() * std::mem::size_of::<T>();
        // Below a huge page there is nothing to gain.
        if bytes < 2 << 20 {
            return;
        }
        let start = v.as_ptr() as usize;
        let aligned = (start + PAGE - 1) & !(PAGE - 1);
        let end = (start + bytes) & !(PAGE - 1);
        if end > aligned {
            // SAFETY: the range lies inside `v`'s own allocation, page
            // aligned; MADV_HUGEPAGE only changes how the kernel backs it
            // (contents are kept). A failure (THP off) is harmless.
            unsafe {
                libc::madvise(
                    aligned as *mut libc::c_void,
                    end - aligned,
                    libc::MADV_HUGEPAGE,
                );
            }
        }
    }
    #[cfg(not(target_os = "linux"))]
    let _ = v;
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::HashMap;

    #[test]
    fn keys_colliding_in_the_low_bits_are_kept_apart() {
        let mut ix = Index::default();
        // Same start entry, probed past each other; one key is 0.
        let keys = [0u64, 1 << 40, 2 << 40, 3 << 40, 16];
        for (i, k) in keys.iter().enumerate() {
            ix.insert(*k, i as u32);
        }
        for (i, k) in keys.iter().enumerate() {
            assert_eq!(ix.get(*k), Some(i as u32));
        }
        assert_eq!(ix.get(4 << 40), None);
        assert_eq!(ix.len(), keys.len());
    }

    proptest! {
        #[test]
        fn removals_agree_with_a_hash_map(ops in proptest::collection::vec((0u64..400, any::<bool>()), 0..4000)) {
            // Small key space with low-bit collisions: long probe runs
            // that removals must keep unbroken.
            let mut ix = Index::default();
            let mut map = HashMap::new();
            for (i, (k, insert)) in ops.into_iter().enumerate() {
                let key = (k << 40) | (k % 7);
                if insert {
                    if let std::collections::hash_map::Entry::Vacant(v) = map.entry(key) {
                        v.insert(i as u32);
                        ix.insert(key, i as u32);
                    } else {
                        ix.set(key, i as u32);
                        map.insert(key, i as u32);
                    }
                } else {
                    prop_assert_eq!(ix.remove(key), map.remove(&key));
                }
            }
            prop_assert_eq!(ix.len(), map.len());
            for (k, v) in &map {
                prop_assert_eq!(ix.get(*k), Some(*v));
            }
        }

        #[test]
        fn agrees_with_a_hash_map(keys in proptest::collection::vec(any::<u64>(), 0..3000), probes in proptest::collection::vec(any::<u64>(), 0..50)) {
            let mut ix = Index::default();
            let mut map = HashMap::new();
            for k in keys {
                if let std::collections::hash_map::Entry::Vacant(v) = map.entry(k) {
                    let pos = v.key().wrapping_mul(7) as u32 >> 1;
                    v.insert(pos);
                    ix.insert(k, pos);
                }
                // Never more than half full, so probes always end.
                prop_assert!(ix.len() * 2 <= ix.entries.len());
            }
            prop_assert_eq!(ix.len(), map.len());
            for (k, v) in &map {
                prop_assert_eq!(ix.get(*k), Some(*v));
            }
            for p in probes {
                prop_assert_eq!(ix.get(p), map.get(&p).copied());
            }
        }
    }
}
