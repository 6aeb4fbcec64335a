//! Parsing and lazily expanding curl-style URL globs: numeric ranges
//! (`[1-100]`, `[001-100]`, `[1-100:5]`), letter ranges (`[a-z]`, `[A-Z:2]`)
//! and lists (`{one,two,three}`), with backslash escapes and bracketed IPv6
//! literals left alone. Several globs expand as a cartesian product, leftmost
//! varying slowest, one item at a time from a per-glob index vector, so huge
//! ranges cost nothing up front. This module does not validate URLs and does
//! not name output files; it only reports each expansion's text and the value
//! chosen for every glob set.

use std::fmt;
use std::iter::FusedIterator;
use std::sync::Arc;

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

/// Characters that a backslash turns into literals.
fn is_escapable(c: char) -> bool {
    matches!(c, '[' | ']' | '{' | '}' | ',' | '\\')
}

/// Bracket content that is an IPv6 literal rather than a range: hex digits,
/// ':' and '.', at least one ':', optionally followed by a `%zone`.
fn is_ipv6(content: &[char]) -> bool {
    let (addr, zone) = match content.iter().position(|&c| c == '%') {
        Some(p) => (&content[..p], Some(&content[p + 1..])),
        None => (content, None),
    };
    let addr_ok = addr.contains(&':')
        && addr
            .iter()
            .all(|&c| c.is_ascii_hexdigit() || c == ':' || c == '.');
    let zone_ok = zone.is_none_or(|z| {
        !z.is_empty()
            && z.iter()
                .all(|&c| c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_' | '~' | '%'))
    });
    addr_ok && zone_ok
}

fn nested(column: usize, c: char) -> GlobError {
    GlobError::new(
        column,
        format!("nested \"{c}\" inside a glob: globs cannot be nested (escape it as \\{c})"),
    )
}

fn stray(column: usize, c: char) -> GlobError {
    let open = if c == ']' { '[' } else { '{' };
    GlobError::new(
        column,
        format!("stray \"{c}\": there is no \"{open}\" to close (escape it as \\{c})"),
    )
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Number,
    Letter,
}

/// Classifies one end of a range, `text` starting at 1-based `column`.
fn classify(
    text: &str,
    column: usize,
    bad: &dyn Fn(usize, &str) -> GlobError,
) -> Result<Kind, GlobError> {
    if !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit()) {
        Ok(Kind::Number)
    } else if text.len() == 1 && text.bytes().all(|b| b.is_ascii_alphabetic()) {
        Ok(Kind::Letter)
    } else if !text.is_empty() && text.bytes().all(|b| b.is_ascii_alphabetic()) {
        Err(bad(column, "letter ranges take single letters"))
    } else {
        Err(bad(
            column,
            "expected a range like [1-10], [001-100:5] or [a-z]",
        ))
    }
}

fn parse_number(
    text: &str,
    column: usize,
    bad: &dyn Fn(usize, &str) -> GlobError,
) -> Result<u64, GlobError> {
    text.parse::<u64>()
        .map_err(|_| bad(column, "number is too large"))
}

/// Parses the range whose `[` is at index `open`; returns it and the index
/// just past its `]`.
fn parse_range(chars: &[char], open: usize) -> Result<(GlobSet, usize), GlobError> {
    let close = closing_bracket(chars, open)?;
    let content = &chars[open + 1..close];
    let whole: String = chars[open..=close].iter().collect();
    let bad =
        |column: usize, why: &str| GlobError::new(column, format!("bad range \"{whole}\": {why}"));
    if content.is_empty() {
        return Err(GlobError::new(
            open + 1,
            "empty range \"[]\": expected something like [1-10] or [a-z]".to_string(),
        ));
    }
    if let Some(p) = content.iter().position(|&c| c == ',') {
        return Err(bad(open + 2 + p, "lists use braces, as in {a,b}"));
    }
    // Column of content[k] is open + 2 + k.
    let (range_len, step) = match content.iter().position(|&c| c == ':') {
        Some(p) => {
            let text: String = content[p + 1..].iter().collect();
            let column = open + 3 + p;
            if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
                return Err(bad(column, "the step is not a number"));
            }
            let step = parse_number(&text, column, &bad)?;
            if step == 0 {
                return Err(bad(column, "the step must be at least 1"));
            }
            (p, step)
        }
        None => (content.len(), 1),
    };
    let range = &content[..range_len];
    let Some(dash) = range.iter().position(|&c| c == '-') else {
        return Err(bad(
            open + 1,
            "expected a range like [1-10], [001-100:5] or [a-z]",
        ));
    };
    let start_text: String = range[..dash].iter().collect();
    let end_text: String = range[dash + 1..].iter().collect();
    let start_column = open + 2;
    let end_column = open + 3 + dash;
    let start_kind = classify(&start_text, start_column, &bad)?;
    let end_kind = classify(&end_text, end_column, &bad)?;
    if start_kind != end_kind {
        return Err(bad(open + 1, "start and end are of different kinds"));
    }
    let bounds = Bounds {
        start: &start_text,
        end: &end_text,
        start_column,
        end_column,
        column: open + 1,
    };
    let set = match start_kind {
        Kind::Number => numbers(&bounds, step, &bad)?,
        Kind::Letter => letters(&bounds, step, &bad)?,
    };
    Ok((set, close + 1))
}

/// The index of the `]` closing the range opened at `open`.
fn closing_bracket(chars: &[char], open: usize) -> Result<usize, GlobError> {
    for (j, &c) in chars.iter().enumerate().skip(open + 1) {
        match c {
            ']' => return Ok(j),
            '[' | '{' => return Err(nested(j + 1, c)),
            _ => {}
        }
    }
    Err(GlobError::new(
        open + 1,
        "unclosed \"[\": there is no matching \"]\"".to_string(),
    ))
}

/// A range's two ends as written, and where they stand in the pattern.
struct Bounds<'a> {
    start: &'a str,
    end: &'a str,
    start_column: usize,
    end_column: usize,
    /// The range's own column, for errors about it as a whole.
    column: usize,
}

/// `[1-100]`, `[001-100:5]`: zero padded to the width written.
fn numbers(
    b: &Bounds<'_>,
    step: u64,
    bad: &dyn Fn(usize, &str) -> GlobError,
) -> Result<GlobSet, GlobError> {
    let start = parse_number(b.start, b.start_column, bad)?;
    let end = parse_number(b.end, b.end_column, bad)?;
    if start > end {
        return Err(bad(b.column, "start is after end"));
    }
    let width = if b.start.len() > 1 && b.start.starts_with('0') {
        b.start.len()
    } else {
        0
    };
    Ok(GlobSet::Numbers {
        start,
        step,
        last: (end - start) / step,
        width,
    })
}

/// `[a-z]`, `[A-Z:2]`: one case.
fn letters(
    b: &Bounds<'_>,
    step: u64,
    bad: &dyn Fn(usize, &str) -> GlobError,
) -> Result<GlobSet, GlobError> {
    let start = b.start.as_bytes()[0];
    let end = b.end.as_bytes()[0];
    if start.is_ascii_lowercase() != end.is_ascii_lowercase() {
        return Err(bad(b.column, "start and end letters differ in case"));
    }
    if start > end {
        return Err(bad(b.column, "start is after end"));
    }
    Ok(GlobSet::Letters {
        start,
        step,
        last: u64::from(end - start) / step,
    })
}

/// Parses the list whose `{` is at index `open`; returns it and the index
/// just past its `}`.
fn parse_list(chars: &[char], open: usize) -> Result<(GlobSet, usize), GlobError> {
    let mut items = Vec::new();
    let mut item = String::new();
    let mut j = open + 1;
    while let Some(&c) = chars.get(j) {
        match c {
            '\\' => match chars.get(j + 1) {
                Some(&n) if is_escapable(n) => {
                    item.push(n);
                    j += 1;
                }
                _ => item.push('\\'),
            },
            ',' => items.push(std::mem::take(&mut item)),
            '}' => {
                items.push(item);
                return Ok((GlobSet::List(items), j + 1));
            }
            '{' | '[' => return Err(nested(j + 1, c)),
            ']' => return Err(stray(j + 1, c)),
            _ => item.push(c),
        }
        j += 1;
    }
    Err(GlobError::new(
        open + 1,
        "unclosed \"{\": there is no matching \"}\"".to_string(),
    ))
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

    /// Parse with globbing enabled.
    pub(crate) fn parse(pattern: &str) -> Result<Pattern, GlobError> {
        let chars: Vec<char> = pattern.chars().collect();
        let mut literals = Vec::new();
        let mut globs = Vec::new();
        let mut literal = String::new();
        let mut i = 0;
        while let Some(&c) = chars.get(i) {
            match c {
                '\\' => match chars.get(i + 1) {
                    Some(&n) if is_escapable(n) => {
                        literal.push(n);
                        i += 2;
                    }
                    _ => {
                        literal.push('\\');
                        i += 1;
                    }
                },
                '[' => {
                    let close = chars[i + 1..]
                        .iter()
                        .position(|&c| c == ']')
                        .map(|p| i + 1 + p);
                    if let Some(close) = close
                        && is_ipv6(&chars[i + 1..close])
                    {
                        literal.extend(&chars[i..=close]);
                        i = close + 1;
                        continue;
                    }
                    let (set, next) = parse_range(&chars, i)?;
                    literals.push(std::mem::take(&mut literal));
                    globs.push(set);
                    i = next;
                }
                '{' => {
                    let (set, next) = parse_list(&chars, i)?;
                    literals.push(std::mem::take(&mut literal));
                    globs.push(set);
                    i = next;
                }
                ']' | '}' => return Err(stray(i + 1, c)),
                _ => {
                    literal.push(c);
                    i += 1;
                }
            }
        }
        literals.push(literal);
        Ok(Pattern::from_parts(literals, globs))
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
    indices: Vec<u64>,
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

#[cfg(test)]
mod tests;
