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
