//! Stable, fast hashing of identifiers into compact keys.
//!
//! The account id is hashed once per event into a `u64` that keys the state
//! table; values kept in baselines (devices, networks, domains, actors) are
//! kept as `u32` hashes so per-account state stays fixed-size. The function
//! is fixed (no random seed) because these keys are part of the state that
//! will be checkpointed and moved between instances: a key must mean the
//! same thing in every process and every version. It is not a defence
//! against chosen collisions; an attacker who controls account ids controls
//! nothing else with them (collisions merge two accounts' baselines, which
//! at 64 bits and a million accounts has odds around 3e-8).

const K: u64 = 0x9E37_79B9_7F4A_7C15;

/// murmur3's 64-bit finaliser: every input bit affects every output bit.
#[inline]
pub fn mix64(mut x: u64) -> u64 {
    x ^= x >> 33;
    x = x.wrapping_mul(0xff51_afd7_ed55_8ccd);
    x ^= x >> 33;
    x = x.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    x ^= x >> 33;
    x
}

/// Hashes bytes, eight at a time. Each word goes through `mix64`, a
/// bijection with full avalanche: two inputs of one length that differ in
/// one word cannot collide before the final mix. (A cheaper
/// multiply-rotate step collided on 2% of a million `x:acct{i}` ids.)
#[inline]
pub fn hash_bytes(b: &[u8]) -> u64 {
    let mut h = (b.len() as u64).wrapping_mul(K);
    let mut chunks = b.chunks_exact(8);
    for c in &mut chunks {
        let w = u64::from_le_bytes(c.try_into().expect("chunk of 8"));
        h = mix64(h ^ w).wrapping_add(K);
    }
    let rest = chunks.remainder();
    if !rest.is_empty() {
        let mut buf = [0u8; 8];
        buf[..rest.len()].copy_from_slice(rest);
        h = mix64(h ^ u64::from_le_bytes(buf)).wrapping_add(K);
    }
    mix64(h)
}

#[inline]
pub fn hash_str(s: &str) -> u64 {
    hash_bytes(s.as_bytes())
}

/// A 32-bit key for values kept in per-account baselines. Zero is reserved
/// for "empty slot", so a value that hashes to zero is moved to one.
#[inline]
pub fn key32(s: &str) -> u32 {
    fold32(hash_str(s))
}

#[inline]
pub fn fold32(h: u64) -> u32 {
    let k = (h ^ (h >> 32)) as u32;
    if k == 0 { 1 } else { k }
}

/// Hash ASCII-case-insensitively (domains, app names).
pub fn key32_ignore_case(s: &str) -> u32 {
    let mut buf = [0u8; 64];
    if s.len() <= buf.len() {
        for (d, c) in buf.iter_mut().zip(s.bytes()) {
            *d = c.to_ascii_lowercase();
        }
        fold32(hash_bytes(&buf[..s.len()]))
    } else {
        fold32(hash_bytes(s.to_ascii_lowercase().as_bytes()))
    }
}

/// A 64-bit key for in-process caches only (user agents, organisation
/// names): never persisted, so it may differ between versions. Sixteen
/// bytes per step through one 64x64->128 multiply folded to 64 bits,
/// where [`hash_bytes`] chains two multiplies per eight bytes; a user
/// agent of 100-odd bytes took 3% of decode + detect on the simulation
/// through `hash_bytes`. Not a defence against chosen collisions either: a
/// user agent made to collide with another only borrows that agent's
/// reading, which sending that agent's string would give outright.
#[inline]
pub fn cache_key(b: &[u8]) -> u64 {
    const P0: u64 = 0xa076_1d64_78bd_642f;
    const P1: u64 = 0xe703_7ed1_a0b4_28db;
    #[inline]
    fn fold_mul(a: u64, b: u64) -> u64 {
        let r = u128::from(a) * u128::from(b);
        (r as u64) ^ ((r >> 64) as u64)
    }
    let word = |c: &[u8]| u64::from_le_bytes(c.try_into().expect("8 bytes"));
    let mut h = (b.len() as u64).wrapping_mul(K) ^ P0;
    let mut chunks = b.chunks_exact(16);
    for c in &mut chunks {
        // Adding h back keeps what came before even when a word makes the
        // product zero.
        h = fold_mul(word(&c[..8]) ^ P1, word(&c[8..]) ^ h).wrapping_add(h);
    }
    let rest = chunks.remainder();
    if !rest.is_empty() {
        let mut buf = [0u8; 16];
        buf[..rest.len()].copy_from_slice(rest);
        h = fold_mul(word(&buf[..8]) ^ P1, word(&buf[8..]) ^ h).wrapping_add(h);
    }
    mix64(h)
}

/// A `Hasher` for keys that are already hashes: it passes the `u64`
/// through, so the state table does not hash twice.
#[derive(Default, Clone, Copy)]
pub struct PassThrough(u64);

impl std::hash::Hasher for PassThrough {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        self.0 = hash_bytes(bytes);
    }
    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
    fn write_u32(&mut self, n: u32) {
        self.0 = mix64(n as u64);
    }
    fn write_u16(&mut self, n: u16) {
        self.0 = mix64(n as u64);
    }
}

pub type BuildPassThrough = std::hash::BuildHasherDefault<PassThrough>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stable_values() {
        // Fixed outputs: these keys will be persisted, so they must not drift.
        assert_eq!(hash_str(""), mix64(0));
        assert_eq!(
            hash_str("x:kemkominfo"),
            0x00de_3a21_1b8f_936c,
            "{:#x}",
            hash_str("x:kemkominfo")
        );
        assert_eq!(hash_str("x:kemkominfo"), hash_str("x:kemkominfo"));
        assert_ne!(hash_str("x:kemkominfo"), hash_str("x:kemkominfO"));
        assert_ne!(hash_str("ab"), hash_str("ab\0"));
    }

    #[test]
    fn a_million_structured_ids_do_not_collide() {
        let mut seen = std::collections::HashSet::with_capacity(1_000_000);
        for i in 0..1_000_000 {
            assert!(
                seen.insert(hash_str(&format!("x:acct{i}"))),
                "collision at {i}"
            );
        }
    }

    #[test]
    fn cache_keys_of_a_million_agents_do_not_collide() {
        // User agents differ in a version digit deep in the string, or in
        // their length; every byte position and every tail length matters.
        let base = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/128.0.0.0 Safari/537.36";
        let mut seen = std::collections::HashSet::with_capacity(1_000_000);
        for i in 0..1_000_000usize {
            let mut s = base[..base.len() - i % 40].to_string();
            s.push_str(&format!("/{i}"));
            assert!(seen.insert(cache_key(s.as_bytes())), "collision at {i}");
        }
        assert_ne!(cache_key(b""), cache_key(b"\0"));
        assert_ne!(cache_key(&[0u8; 16]), cache_key(&[0u8; 17]));
    }

    #[test]
    fn case_insensitive_keys() {
        assert_eq!(
            key32_ignore_case("Evil.Example"),
            key32_ignore_case("evil.example")
        );
        let long = "A".repeat(100);
        assert_eq!(
            key32_ignore_case(&long),
            key32_ignore_case(&long.to_lowercase())
        );
        assert_ne!(key32("a"), 0);
    }

    #[test]
    fn spreads_sequential_ids() {
        let mut full = std::collections::HashSet::new();
        let mut short = std::collections::HashSet::new();
        for i in 0..100_000 {
            let id = format!("x:acct{i}");
            assert!(full.insert(hash_str(&id)));
            short.insert(key32(&id));
        }
        // 100k values in 32 bits expect about 1.2 birthday collisions.
        assert!(
            100_000 - short.len() <= 6,
            "{} collisions",
            100_000 - short.len()
        );
    }
}
