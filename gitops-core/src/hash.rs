//! A fast, non-cryptographic hasher (FxHash's multiply-rotate) for the maps on the diff's hot
//! path: schema field names, object identities, cached verdicts. It is not resistant to
//! collision attacks; use it only for keys that come from the caller's own objects and schema.
//! Keys read from a repository (paths, resource ids) go in a [`SeededHashMap`] instead.

use std::hash::{BuildHasherDefault, Hasher};

/// The hasher.
#[derive(Clone, Copy, Debug, Default)]
pub struct FxHasher(u64);

/// Builds [`FxHasher`]s, for `HashMap::with_hasher` and friends.
pub type FxBuildHasher = BuildHasherDefault<FxHasher>;

/// A `HashMap` with [`FxHasher`].
pub type FxHashMap<K, V> = std::collections::HashMap<K, V, FxBuildHasher>;

/// A `HashMap` whose hasher is seeded at random per process (foldhash): nearly as fast as
/// [`FxHashMap`] on short keys and far faster than SipHash on paths, for keys that come from a
/// repository, where a chosen set of colliding keys must not slow a build down.
pub type SeededHashMap<K, V> = std::collections::HashMap<K, V, foldhash::fast::RandomState>;

/// A `HashSet` with [`FxHasher`].
pub type FxHashSet<T> = std::collections::HashSet<T, FxBuildHasher>;

impl FxHasher {
    /// A hasher seeded with `seed` (two hashers with different seeds give unrelated values).
    pub fn with_seed(seed: u64) -> Self {
        Self(seed)
    }

    /// Mixes in one word.
    #[inline]
    pub fn add(&mut self, v: u64) {
        self.0 = (self.0.rotate_left(5) ^ v).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
    }
}

impl Hasher for FxHasher {
    #[inline]
    fn finish(&self) -> u64 {
        self.0
    }

    #[inline]
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for c in &mut chunks {
            let mut word = [0u8; 8];
            word.copy_from_slice(c);
            self.add(u64::from_le_bytes(word));
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            let mut buf = [0u8; 8];
            buf[..rest.len()].copy_from_slice(rest);
            self.add(u64::from_le_bytes(buf) ^ (rest.len() as u64) << 59);
        }
    }

    #[inline]
    fn write_u8(&mut self, i: u8) {
        self.add(u64::from(i));
    }

    #[inline]
    fn write_u64(&mut self, i: u64) {
        self.add(i);
    }

    #[inline]
    fn write_usize(&mut self, i: usize) {
        self.add(i as u64);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hash(bytes: &[u8]) -> u64 {
        let mut h = FxHasher::default();
        h.write(bytes);
        h.finish()
    }

    #[test]
    fn different_inputs_hash_differently() {
        assert_ne!(hash(b"spec"), hash(b"status"));
        // A tail shorter than a word is told apart from its zero-padded form.
        assert_ne!(hash(b"ab"), hash(b"ab\0"));
        assert_ne!(hash(b""), hash(b"\0"));
        assert_eq!(hash(b"containers"), hash(b"containers"));
        let mut a = FxHasher::with_seed(1);
        let mut b = FxHasher::with_seed(2);
        a.write(b"x");
        b.write(b"x");
        assert_ne!(a.finish(), b.finish());
    }

    #[test]
    fn maps_work() {
        let mut m: FxHashMap<String, usize> = FxHashMap::default();
        for i in 0..1000 {
            m.insert(format!("field-{i}"), i);
        }
        assert_eq!(m.len(), 1000);
        assert!((0..1000).all(|i| m[&format!("field-{i}")] == i));
    }
}
