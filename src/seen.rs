//! A compact set of 64-bit hashes for the planner's bookkeeping (URLs
//! already seen, destinations already taken), which is the only state that
//! grows with the input. A `HashSet<u64>` costs 18 to 36 bytes a key once
//! its load factor and doubling are counted; this keeps most keys in one
//! sorted `Vec<u64>` (8 bytes a key) and only the newest in a small hash
//! set, merged into the sorted part when it grows past a fraction of it.
//! Lookups are a hash probe plus a binary search within one slice of a
//! directory indexed by the key's top bits (keys are uniform hashes, so a
//! slice holds a handful of keys and costs one or two cache misses, not
//! twenty). It knows nothing about URLs.

use std::collections::HashSet;
use std::hash::{BuildHasherDefault, Hasher};

/// The recent keys are merged once they reach this share of the sorted
/// ones (and at least [`MIN_RECENT`]): merges then cost O(1) amortised per
/// key, and the hash set stays small.
const RECENT_SHARE: usize = 16;
const MIN_RECENT: usize = 4096;

/// The directory has `2^DIRECTORY_BITS` slices (512 KiB of offsets).
const DIRECTORY_BITS: u32 = 16;

#[derive(Default)]
pub(crate) struct SeenSet {
    sorted: Vec<u64>,
    /// `directory[b]` is the index in `sorted` of the first key whose top
    /// bits are `>= b`; empty until the first merge.
    directory: Vec<usize>,
    recent: HashSet<u64, BuildHasherDefault<IdentityHasher>>,
}

impl SeenSet {
    /// Adds `key`; `false` when it was already there.
    pub(crate) fn insert(&mut self, key: u64) -> bool {
        if self.in_sorted(key) || !self.recent.insert(key) {
            return false;
        }
        if self.recent.len() >= MIN_RECENT.max(self.sorted.len() / RECENT_SHARE) {
            self.merge();
        }
        true
    }

    fn in_sorted(&self, key: u64) -> bool {
        if self.directory.is_empty() {
            return false;
        }
        let slice = (key >> (64 - DIRECTORY_BITS)) as usize;
        let (start, end) = (self.directory[slice], self.directory[slice + 1]);
        self.sorted[start..end].binary_search(&key).is_ok()
    }

    pub(crate) fn contains(&self, key: u64) -> bool {
        self.recent.contains(&key) || self.in_sorted(key)
    }

    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.sorted.len() + self.recent.len()
    }

    /// Moves the recent keys into the sorted vector, merging in place from
    /// the back so no second copy of the vector is ever allocated.
    fn merge(&mut self) {
        let mut recent: Vec<u64> = self.recent.drain().collect();
        recent.sort_unstable();
        let old = self.sorted.len();
        self.sorted.reserve_exact(recent.len());
        self.sorted.resize(old + recent.len(), 0);
        let (mut i, mut j, mut out) = (old, recent.len(), old + recent.len());
        while j > 0 {
            out -= 1;
            if i > 0 && self.sorted[i - 1] > recent[j - 1] {
                self.sorted[out] = self.sorted[i - 1];
                i -= 1;
            } else {
                self.sorted[out] = recent[j - 1];
                j -= 1;
            }
        }
        // The recent set shrinks back so its table does not stay at its
        // largest size between merges.
        self.recent.shrink_to(MIN_RECENT);
        self.rebuild_directory();
    }

    fn rebuild_directory(&mut self) {
        let slices = 1usize << DIRECTORY_BITS;
        self.directory.clear();
        self.directory.reserve_exact(slices + 1);
        let mut at = 0usize;
        for slice in 0..slices {
            while at < self.sorted.len()
                && ((self.sorted[at] >> (64 - DIRECTORY_BITS)) as usize) < slice
            {
                at += 1;
            }
            self.directory.push(at);
        }
        self.directory.push(self.sorted.len());
    }
}

/// Keys are already hashes; hashing them again is wasted work.
#[derive(Default)]
pub(crate) struct IdentityHasher(u64);

impl Hasher for IdentityHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0 << 8) | u64::from(b);
        }
    }
    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A cheap deterministic stream of keys with repeats.
    fn keys(n: usize) -> impl Iterator<Item = u64> {
        let mut x = 0x9E37_79B9_7F4A_7C15_u64;
        (0..n).map(move |i| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            // Every seventh key repeats an earlier small one.
            if i % 7 == 0 { (i as u64) / 3 } else { x }
        })
    }

    #[test]
    fn agrees_with_a_hash_set() {
        let mut seen = SeenSet::default();
        let mut reference = HashSet::new();
        for key in keys(200_000) {
            assert_eq!(seen.insert(key), reference.insert(key), "key {key}");
        }
        assert_eq!(seen.len(), reference.len());
        assert!(
            seen.sorted.windows(2).all(|w| w[0] < w[1]),
            "sorted, no repeats"
        );
        for key in keys(1000) {
            assert!(seen.contains(key));
        }
        assert!(!seen.contains(1 << 63 | 12345) || reference.contains(&(1 << 63 | 12345)));
    }

    #[test]
    fn extremes() {
        let mut seen = SeenSet::default();
        assert!(seen.insert(0));
        assert!(seen.insert(u64::MAX));
        assert!(!seen.insert(0));
        for k in 1..10_000 {
            assert!(seen.insert(k));
        }
        assert!(!seen.insert(u64::MAX));
        assert!(!seen.insert(5000));
        assert_eq!(seen.len(), 10_001);
    }
}
