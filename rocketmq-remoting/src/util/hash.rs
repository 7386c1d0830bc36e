//! A cheap hasher for internal lookup tables keyed by short strings (the client's route cache
//! and connection pool, the broker store's queue maps).

use std::collections::HashMap;
use std::hash::{BuildHasher, Hasher};

/// A `HashMap` hashed with [`KeyHasher`].
pub type KeyMap<K, V> = HashMap<K, V, BuildKeyHasher>;

/// Builds [`KeyHasher`]s (no per-map random seed).
///
/// ```
/// use rocketmq_rs_remoting::util::hash::KeyMap;
///
/// let mut brokers: KeyMap<String, u32> = KeyMap::default();
/// brokers.insert("broker-a".to_owned(), 1);
/// assert_eq!(brokers.get("broker-a"), Some(&1));
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct BuildKeyHasher;

impl BuildHasher for BuildKeyHasher {
    type Hasher = KeyHasher;

    #[inline]
    fn build_hasher(&self) -> KeyHasher {
        KeyHasher(0)
    }
}

/// A multiply-rotate hasher over 8-byte words, for tables whose keys are short strings looked
/// up on every message: topic names, broker names, broker addresses, queue ids.
///
/// The default SipHash resists hash flooding by keys an attacker chooses freely. The client's
/// keys come from the application and from the NameServer's route data; the broker store's are
/// the topics that exist on it (created by an admin, or by clients where auto-creation is on,
/// and a client allowed to create topics at will has cheaper ways to load the broker). SipHash
/// was ~0.2k instructions per lookup, several lookups per message. Not for maps whose keys
/// arrive from the network in bulk (e.g. statistics keyed by consumer group).
#[derive(Debug, Clone, Copy, Default)]
pub struct KeyHasher(u64);

const SEED: u64 = 0xf135_7aea_2e62_a9c5;

impl KeyHasher {
    #[inline]
    fn mix(&mut self, word: u64) {
        self.0 = (self.0.rotate_left(5) ^ word).wrapping_mul(SEED);
    }
}

impl Hasher for KeyHasher {
    #[inline]
    fn finish(&self) -> u64 {
        // The multiply leaves the best-mixed bits on top; the table indexes by the low ones.
        self.0.rotate_left(26)
    }

    #[inline]
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for chunk in &mut chunks {
            let mut word = [0u8; 8];
            word.copy_from_slice(chunk);
            self.mix(u64::from_le_bytes(word));
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            let mut word = [0u8; 8];
            word[..rest.len()].copy_from_slice(rest);
            // The length keeps "ab" and "ab\0" apart.
            self.mix(u64::from_le_bytes(word) ^ ((rest.len() as u64) << 56));
        }
    }

    #[inline]
    fn write_u8(&mut self, n: u8) {
        self.mix(u64::from(n));
    }

    #[inline]
    fn write_u32(&mut self, n: u32) {
        self.mix(u64::from(n));
    }

    #[inline]
    fn write_u64(&mut self, n: u64) {
        self.mix(n);
    }

    #[inline]
    fn write_usize(&mut self, n: usize) {
        self.mix(n as u64);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::hash::BuildHasher;

    #[test]
    fn distinct_short_keys_hash_apart() {
        let b = BuildKeyHasher;
        let keys = [
            "",
            "a",
            "b",
            "ab",
            "ba",
            "ab\0",
            "broker-a",
            "broker-b",
            "broker-a0",
            "TopicTest",
            "127.0.0.1:10911",
            "127.0.0.1:10912",
            "127.0.0.1:10921",
        ];
        let hashes: Vec<u64> = keys.iter().map(|k| b.hash_one(k)).collect();
        for i in 0..hashes.len() {
            for j in i + 1..hashes.len() {
                assert_ne!(hashes[i], hashes[j], "{:?} vs {:?}", keys[i], keys[j]);
            }
        }
        // Sequentially numbered names spread over the low bits a small table uses.
        let buckets: std::collections::HashSet<u64> = (0..64)
            .map(|i| b.hash_one(format!("broker-{i}")) & 63)
            .collect();
        assert!(buckets.len() > 32, "{} of 64 buckets used", buckets.len());
    }
}
