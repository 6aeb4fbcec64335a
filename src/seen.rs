//! Compact sets of 64-bit hashes for the planner's bookkeeping (URLs
//! already seen, destinations already taken), which is the only state that
//! grows with the input. A `HashSet<u64>` costs 18 to 36 bytes a key once
//! its load factor and doubling are counted; this keeps most keys in one
//! sorted vector and only the newest in a small hash map, merged into the
//! sorted part when it grows past a sixty-fourth of it. The sorted part is
//! a directory indexed by a key's top 16 bits and, for each key, only its
//! other 48 bits (6 bytes: the directory holds the rest, so no bit of the
//! hash is lost), with a 32-bit tag beside it in a [`TaggedSet`] (10
//! bytes). Lookups are a hash probe plus a binary search within one slice
//! of the directory (keys are uniform hashes, so a slice holds a few
//! hundred keys at ten million). It knows nothing about URLs.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

/// The recent keys are merged once they reach this share of the sorted
/// ones (and at least [`MIN_RECENT`]): merges then cost O(1) amortised per
/// key (a 6-byte move for each of the 64 merges a doubling takes), and the
/// hash map stays under 2% of the set.
const RECENT_SHARE: usize = 64;
const MIN_RECENT: usize = 4096;

/// The directory has `2^DIRECTORY_BITS` slices (256 KiB of offsets).
const DIRECTORY_BITS: u32 = 16;

/// Keys only, 6 bytes each.
pub(crate) type SeenSet = KeySet<3>;
/// Keys with a 32-bit tag each, 10 bytes.
pub(crate) type TaggedSet = KeySet<5>;

/// A set of 64-bit keys, each with a tag when `W` is 5: the sorted part
/// holds per key `W` big-endian 16-bit limbs, the key's low 48 bits then
/// the tag's 32.
#[derive(Default)]
pub(crate) struct KeySet<const W: usize> {
    sorted: Vec<[u16; W]>,
    /// `directory[b]` is the index in `sorted` of the first key whose top
    /// bits are `>= b`; empty until the first merge.
    directory: Vec<u32>,
    recent: HashMap<u64, u32, BuildHasherDefault<IdentityHasher>>,
}

impl KeySet<3> {
    /// Adds `key`; `false` when it was already there.
    pub(crate) fn insert(&mut self, key: u64) -> bool {
        self.insert_tagged(key, 0).is_none()
    }

    pub(crate) fn contains(&self, key: u64) -> bool {
        self.tag(key).is_some()
    }
}

impl<const W: usize> KeySet<W> {
    /// Adds `key` with `tag`, unless it is there: then the tag it has
    /// (always 0 in a [`SeenSet`]).
    pub(crate) fn insert_tagged(&mut self, key: u64, tag: u32) -> Option<u32> {
        if let Some(found) = self.in_sorted(key) {
            return Some(found);
        }
        if let Some(&found) = self.recent.get(&key) {
            return Some(found);
        }
        self.recent.insert(key, tag);
        if self.recent.len() >= MIN_RECENT.max(self.sorted.len() / RECENT_SHARE) {
            self.merge();
        }
        None
    }

    /// The tag `key` has, when it is there.
    pub(crate) fn tag(&self, key: u64) -> Option<u32> {
        self.recent
            .get(&key)
            .copied()
            .or_else(|| self.in_sorted(key))
    }

    fn in_sorted(&self, key: u64) -> Option<u32> {
        if self.directory.is_empty() {
            return None;
        }
        let slice = (key >> (64 - DIRECTORY_BITS)) as usize;
        let (start, end) = (self.directory[slice], self.directory[slice + 1]);
        let low = Self::low(key);
        let slice = &self.sorted[start as usize..end as usize];
        let at = slice.binary_search_by(|e| e[..3].cmp(&low[..])).ok()?;
        Some(Self::tag_of(&slice[at]))
    }

    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.sorted.len() + self.recent.len()
    }

    /// The key's low 48 bits as big-endian limbs.
    fn low(key: u64) -> [u16; 3] {
        [(key >> 32) as u16, (key >> 16) as u16, key as u16]
    }

    fn entry(key: u64, tag: u32) -> [u16; W] {
        let mut entry = [0; W];
        entry[..3].copy_from_slice(&Self::low(key));
        if W == 5 {
            entry[3] = (tag >> 16) as u16;
            entry[4] = tag as u16;
        }
        entry
    }

    fn tag_of(entry: &[u16; W]) -> u32 {
        if W == 5 {
            u32::from(entry[3]) << 16 | u32::from(entry[4])
        } else {
            0
        }
    }

    /// The order of the sorted part: the top bits (the directory's), then
    /// the low 48.
    fn order(key: u64) -> (u64, [u16; 3]) {
        (key >> (64 - DIRECTORY_BITS), Self::low(key))
    }

    /// Moves the recent keys into the sorted vector, merging in place from
    /// the back so no second copy of the vector is ever allocated. A
    /// sorted entry does not hold its top bits: the directory says which
    /// slice it lies in, and is then moved on by the count of keys merged
    /// below each slice.
    fn merge(&mut self) {
        let slices = 1usize << DIRECTORY_BITS;
        let mut recent: Vec<(u64, u32)> = self.recent.drain().collect();
        recent.sort_unstable_by_key(|&(key, _)| Self::order(key));
        // The map shrinks back so its table does not stay at its largest
        // size between merges.
        self.recent.shrink_to(MIN_RECENT);
        let old = self.sorted.len();
        let total = old + recent.len();
        let total32 = u32::try_from(total).expect("fewer than 2^32 keys");
        if self.directory.is_empty() {
            self.directory = vec![0; slices + 1];
        }
        self.sorted.reserve_exact(recent.len());
        self.sorted.resize(total, [0; W]);
        // The slice of the old entry at `i - 1`, walked down from the top.
        let mut slice = slices - 1;
        let (mut i, mut j, mut out) = (old, recent.len(), total);
        while j > 0 {
            out -= 1;
            let (key, tag) = recent[j - 1];
            let new = Self::order(key);
            let old_entry = if i > 0 {
                while self.directory[slice] as usize > i - 1 {
                    slice -= 1;
                }
                let entry = self.sorted[i - 1];
                let low = [entry[0], entry[1], entry[2]];
                ((slice as u64, low) > new).then_some(entry)
            } else {
                None
            };
            match old_entry {
                Some(entry) => {
                    self.sorted[out] = entry;
                    i -= 1;
                }
                None => {
                    self.sorted[out] = Self::entry(key, tag);
                    j -= 1;
                }
            }
        }
        let mut below = 0;
        for (b, start) in self.directory.iter_mut().enumerate() {
            while below < recent.len() && ((recent[below].0 >> (64 - DIRECTORY_BITS)) as usize) < b
            {
                below += 1;
            }
            *start += below as u32;
        }
        debug_assert_eq!(self.directory[slices], total32);
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
    use std::collections::{HashMap, HashSet};

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

    #[test]
    fn keys_apart_only_in_the_directory_bits() {
        let mut seen = SeenSet::default();
        let low = 0x0000_1234_5678_9abc_u64;
        for top in 0..5000u64 {
            assert!(seen.insert(top << 48 | low));
        }
        for top in 0..5000u64 {
            assert!(seen.contains(top << 48 | low), "{top}");
            assert!(!seen.insert(top << 48 | low));
        }
        assert!(!seen.contains(5000 << 48 | low));
        assert!(!seen.contains(low + 1));
    }

    #[test]
    fn tags_agree_with_a_hash_map() {
        let mut set = TaggedSet::default();
        let mut reference = HashMap::new();
        for (i, key) in keys(300_000).enumerate() {
            let tag = (i as u32).wrapping_mul(2_654_435_761);
            let expected = match reference.get(&key) {
                Some(&t) => Some(t),
                None => {
                    reference.insert(key, tag);
                    None
                }
            };
            assert_eq!(set.insert_tagged(key, tag), expected, "key {key}");
        }
        assert_eq!(set.len(), reference.len());
        for (&key, &tag) in reference.iter().take(20_000) {
            assert_eq!(set.tag(key), Some(tag));
        }
    }
}
