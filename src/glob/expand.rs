//! Lazy expansion: [`Pattern::iter`] and the [`Expansions`] iterator, an
//! odometer of one index per glob set (the rightmost turning fastest) that
//! builds an expansion's text only when it is asked for, jumps ahead in
//! `nth` without building what it skips, and knows how many are left. It
//! does not parse (`parse.rs` does); the pattern and glob set types it
//! reads are `mod.rs`'s.

use std::iter::FusedIterator;
use std::sync::Arc;

use super::{Expansion, Inner, Pattern};

impl Pattern {
    /// Lazy expansion in order; the iterator shares the parsed pattern and
    /// does not borrow `self`.
    pub(crate) fn iter(&self) -> Expansions {
        Expansions {
            indices: vec![0; self.inner.globs.len()],
            inner: Arc::clone(&self.inner),
            done: false,
        }
    }
}

impl IntoIterator for Pattern {
    type Item = Expansion;
    type IntoIter = Expansions;

    fn into_iter(self) -> Expansions {
        self.iter()
    }
}

impl IntoIterator for &Pattern {
    type Item = Expansion;
    type IntoIter = Expansions;

    fn into_iter(self) -> Expansions {
        self.iter()
    }
}

/// Lazy iterator over a pattern's expansions; its state is one index per
/// glob set.
#[derive(Debug, Clone)]
pub(crate) struct Expansions {
    inner: Arc<Inner>,
    /// Visible to `glob`'s tests, which set it to jump near the end.
    pub(super) indices: Vec<u64>,
    done: bool,
}

impl Expansions {
    fn current(&self) -> Expansion {
        let values: Vec<String> = self
            .inner
            .globs
            .iter()
            .zip(&self.indices)
            .map(|(g, &i)| g.value(i))
            .collect();
        let capacity = self.inner.literal_len + values.iter().map(String::len).sum::<usize>();
        let mut text = String::with_capacity(capacity);
        text.push_str(&self.inner.literals[0]);
        for (value, literal) in values.iter().zip(&self.inner.literals[1..]) {
            text.push_str(value);
            text.push_str(literal);
        }
        Expansion { text, values }
    }

    /// Moves the odometer `n` positions forward (rightmost glob fastest);
    /// false when that runs past the last expansion.
    fn advance(&mut self, n: u128) -> bool {
        let mut carry = n;
        for (index, glob) in self.indices.iter_mut().zip(&self.inner.globs).rev() {
            if carry == 0 {
                break;
            }
            let radix = glob.radix();
            // index < 2^64 and carry < 2^65 (it starts below 2^64 and never
            // grows), so this cannot overflow.
            let sum = u128::from(*index) + carry;
            let (digit, next) = (sum % radix, sum / radix);
            *index = digit as u64;
            carry = next;
        }
        carry == 0
    }

    /// Expansions left (including the current one), saturating at
    /// u128::MAX: the sum over globs of (values still to come) × (product of
    /// the radices to its right), plus one.
    fn remaining(&self) -> u128 {
        if self.done {
            return 0;
        }
        let mut weight = 1u128;
        let mut left = 1u128;
        for (glob, &index) in self.inner.globs.iter().zip(&self.indices).rev() {
            let ahead = u128::from(glob.last_index() - index);
            left = left.saturating_add(ahead.saturating_mul(weight));
            weight = weight.saturating_mul(glob.radix());
        }
        left
    }
}

impl Iterator for Expansions {
    type Item = Expansion;

    fn next(&mut self) -> Option<Expansion> {
        if self.done {
            return None;
        }
        let expansion = self.current();
        if !self.advance(1) {
            self.done = true;
        }
        Some(expansion)
    }

    fn nth(&mut self, n: usize) -> Option<Expansion> {
        if !self.done && n > 0 && !self.advance(n as u128) {
            self.done = true;
        }
        self.next()
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let left = self.remaining();
        let exact = if left < u128::MAX {
            usize::try_from(left).ok()
        } else {
            None
        };
        (usize::try_from(left).unwrap_or(usize::MAX), exact)
    }
}

impl FusedIterator for Expansions {}
