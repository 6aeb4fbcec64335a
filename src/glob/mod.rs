//! Parsing and lazily expanding curl-style URL globs: numeric ranges
//! (`[1-100]`, `[001-100]`, `[1-100:5]`), letter ranges (`[a-z]`, `[A-Z:2]`)
//! and lists (`{one,two,three}`), with backslash escapes and bracketed IPv6
//! literals left alone. Several globs expand as a cartesian product, leftmost
//! varying slowest, one item at a time from a per-glob index vector, so huge
//! ranges cost nothing up front. This module does not validate URLs and does
//! not name output files; it only reports each expansion's text and the value
//! chosen for every glob set.
//!
//! - `mod.rs`: the types (`Pattern`, `Expansion`, `GlobError`, a glob set
//!   and its values) and `Pattern`'s other methods (`literal`,
//!   `glob_count`, `len`).
//! - `parse.rs`: the parser, `Pattern::parse`.
//! - `expand.rs`: the lazy expansion, `Pattern::iter` and `Expansions`.
//!
//! [`Pattern::pieces`] and [`Pattern::value_sets`] describe a pattern's
//! shape (its fixed text and what each glob set can produce) for
//! `distinct.rs`, which proves when expansions cannot repeat.

use std::fmt;
use std::sync::Arc;

mod expand;
mod parse;

/// A malformed glob: what is wrong and the 1-based character column where
/// the problem starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct GlobError {
    pub(crate) column: usize,
    pub(crate) message: String,
}

impl GlobError {
    fn new(column: usize, message: String) -> GlobError {
        GlobError { column, message }
    }
}

impl fmt::Display for GlobError {
    /// `what at column N: why` when the message reads `what: why`,
    /// otherwise `message at column N`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.message.rsplit_once(": ") {
            Some((what, why)) => write!(f, "{what} at column {}: {why}", self.column),
            None => write!(f, "{} at column {}", self.message, self.column),
        }
    }
}

impl std::error::Error for GlobError {}

/// One glob set. Every set has at least one value; `last` is the highest
/// valid index (so the set has `last + 1` values, which may be 2^64).
#[derive(Debug)]
enum GlobSet {
    Numbers {
        start: u64,
        step: u64,
        last: u64,
        width: usize,
    },
    Letters {
        start: u8,
        step: u64,
        last: u64,
    },
    List(Vec<String>),
}

impl GlobSet {
    fn last_index(&self) -> u64 {
        match self {
            GlobSet::Numbers { last, .. } | GlobSet::Letters { last, .. } => *last,
            GlobSet::List(items) => items.len() as u64 - 1,
        }
    }

    fn radix(&self) -> u128 {
        u128::from(self.last_index()) + 1
    }

    fn value_set(&self) -> ValueSet {
        match self {
            GlobSet::Numbers {
                start,
                step,
                last,
                width,
            } => {
                let digits = |n: u64| n.checked_ilog10().unwrap_or(0) as usize + 1;
                // The last value is the largest: start + last * step <= end.
                let (low, high) = (*start, start + last * step);
                ValueSet::Digits {
                    same_len: digits(low).max(*width) == digits(high).max(*width),
                }
            }
            GlobSet::Letters { last, .. } => {
                ValueSet::Strings((0..=*last).map(|i| self.value(i)).collect())
            }
            GlobSet::List(items) => ValueSet::Strings(items.clone()),
        }
    }

    /// The value at `index`, which must be at most `last_index()`.
    fn value(&self, index: u64) -> String {
        match self {
            // start + index * step <= end, so neither operation overflows.
            GlobSet::Numbers {
                start, step, width, ..
            } => format!("{:0width$}", start + index * step, width = *width),
            GlobSet::Letters { start, step, .. } => {
                char::from(start + (index * step) as u8).to_string()
            }
            GlobSet::List(items) => items[index as usize].clone(),
        }
    }
}

/// A piece of every expansion's text, in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Piece<'a> {
    Text(&'a str),
    /// The value of glob set `k` (0-based).
    Glob(usize),
}

/// What one glob set's values can be, for telling expansions apart.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ValueSet {
    /// Distinct decimal numbers (zero padded); `same_len` when every value
    /// has the same number of digits.
    Digits { same_len: bool },
    /// Every value, as written (a list may repeat an item).
    Strings(Vec<String>),
}

#[derive(Debug)]
struct Inner {
    /// Literal text around the globs: always `globs.len() + 1` pieces.
    literals: Vec<String>,
    globs: Vec<GlobSet>,
    /// Total length of the literal pieces, to size each expansion's text.
    literal_len: usize,
}

/// A parsed pattern: literal pieces and glob sets. Cheap to clone.
#[derive(Debug, Clone)]
pub(crate) struct Pattern {
    inner: Arc<Inner>,
}

/// One expansion of a pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Expansion {
    /// The expanded URL text.
    pub(crate) text: String,
    /// The value chosen for each glob set, in order (len == glob_count).
    pub(crate) values: Vec<String>,
}

impl Pattern {
    fn from_parts(literals: Vec<String>, globs: Vec<GlobSet>) -> Pattern {
        debug_assert_eq!(literals.len(), globs.len() + 1);
        let literal_len = literals.iter().map(String::len).sum();
        Pattern {
            inner: Arc::new(Inner {
                literals,
                globs,
                literal_len,
            }),
        }
    }

    /// A pattern with no globs: the text is taken literally (for --globoff).
    pub(crate) fn literal(text: &str) -> Pattern {
        Pattern::from_parts(vec![text.to_string()], Vec::new())
    }

    /// Number of glob sets in the pattern ({1}, {2}... in output templates
    /// refer to them, 1-based).
    pub(crate) fn glob_count(&self) -> usize {
        self.inner.globs.len()
    }

    /// The pattern's text as fixed pieces and glob values, in order
    /// (empty text pieces left out).
    pub(crate) fn pieces(&self) -> Vec<Piece<'_>> {
        let mut pieces = Vec::with_capacity(self.inner.literals.len() * 2);
        for (k, literal) in self.inner.literals.iter().enumerate() {
            if !literal.is_empty() {
                pieces.push(Piece::Text(literal));
            }
            if k < self.inner.globs.len() {
                pieces.push(Piece::Glob(k));
            }
        }
        pieces
    }

    /// What each glob set's values can be, in glob order.
    pub(crate) fn value_sets(&self) -> Vec<ValueSet> {
        self.inner.globs.iter().map(GlobSet::value_set).collect()
    }

    /// Number of expansions, saturating at u64::MAX. 1 for a pattern without
    /// globs.
    pub(crate) fn len(&self) -> u64 {
        let total = self
            .inner
            .globs
            .iter()
            .fold(1u128, |acc, g| acc.saturating_mul(g.radix()));
        u64::try_from(total).unwrap_or(u64::MAX)
    }
}

#[cfg(test)]
mod tests;
