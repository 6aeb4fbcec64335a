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
    let mut close = None;
    for (j, &c) in chars.iter().enumerate().skip(open + 1) {
        match c {
            ']' => {
                close = Some(j);
                break;
            }
            '[' | '{' => return Err(nested(j + 1, c)),
            _ => {}
        }
    }
    let Some(close) = close else {
        return Err(GlobError::new(
            open + 1,
            "unclosed \"[\": there is no matching \"]\"".to_string(),
        ));
    };
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
    let set = match start_kind {
        Kind::Number => {
            let start = parse_number(&start_text, start_column, &bad)?;
            let end = parse_number(&end_text, end_column, &bad)?;
            if start > end {
                return Err(bad(open + 1, "start is after end"));
            }
            let width = if start_text.len() > 1 && start_text.starts_with('0') {
                start_text.len()
            } else {
                0
            };
            GlobSet::Numbers {
                start,
                step,
                last: (end - start) / step,
                width,
            }
        }
        Kind::Letter => {
            let start = start_text.as_bytes()[0];
            let end = end_text.as_bytes()[0];
            if start.is_ascii_lowercase() != end.is_ascii_lowercase() {
                return Err(bad(open + 1, "start and end letters differ in case"));
            }
            if start > end {
                return Err(bad(open + 1, "start is after end"));
            }
            GlobSet::Letters {
                start,
                step,
                last: u64::from(end - start) / step,
            }
        }
    };
    Ok((set, close + 1))
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
mod tests {
    use super::*;
    use std::time::{Duration, Instant};

    fn texts(pattern: &str) -> Vec<String> {
        Pattern::parse(pattern)
            .unwrap_or_else(|e| panic!("{pattern}: {e}"))
            .into_iter()
            .map(|e| e.text)
            .collect()
    }

    fn strings(items: &[&str]) -> Vec<String> {
        items.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn expands_to_exact_texts() {
        let cases: &[(&str, &[&str])] = &[
            ("a[1-3]b", &["a1b", "a2b", "a3b"]),
            ("[0-2]", &["0", "1", "2"]),
            ("[5-5]", &["5"]),
            ("[8-11]", &["8", "9", "10", "11"]),
            ("[1-10:3]", &["1", "4", "7", "10"]),
            ("[1-10:4]", &["1", "5", "9"]),
            ("[1-10:20]", &["1"]),
            ("[0-0:7]", &["0"]),
            ("[08-11]", &["08", "09", "10", "11"]),
            ("[001-003]", &["001", "002", "003"]),
            ("[0-3:2]", &["0", "2"]),
            ("[a-e]", &["a", "b", "c", "d", "e"]),
            ("[A-C]", &["A", "B", "C"]),
            ("[x-x]", &["x"]),
            ("[a-z:10]", &["a", "k", "u"]),
            ("[A-Z:25]", &["A", "Z"]),
            ("[a-c:99]", &["a"]),
            ("{one,two,three}", &["one", "two", "three"]),
            ("x{,y}z", &["xz", "xyz"]),
            ("{a,,b,}", &["a", "", "b", ""]),
            ("{}", &[""]),
            ("{only}", &["only"]),
            ("{a,b}[1-2]", &["a1", "a2", "b1", "b2"]),
            (
                "[1-2]{x,y}[a-b]",
                &["1xa", "1xb", "1ya", "1yb", "2xa", "2xb", "2ya", "2yb"],
            ),
            ("plain", &["plain"]),
            ("", &[""]),
            // escapes
            (r"a\[1-2\]", &["a[1-2]"]),
            (r"\{a,b\}", &["{a,b}"]),
            (r"{a\,b,c}", &["a,b", "c"]),
            (r"{a\}b,\{}", &["a}b", "{"]),
            (r"{\[x\]}", &["[x]"]),
            (r"\\[1-2]", &[r"\1", r"\2"]),
            (r"a\b\%20", &[r"a\b\%20"]),
            (r"{a\b}", &[r"a\b"]),
            (r"a\,b", &["a,b"]),
            (r"end\", &[r"end\"]),
            // IPv6 literals stay literal
            (
                "http://[::1]:8080/a[1-3].txt",
                &[
                    "http://[::1]:8080/a1.txt",
                    "http://[::1]:8080/a2.txt",
                    "http://[::1]:8080/a3.txt",
                ],
            ),
            (
                "http://[fe80::1%25eth0]/{a,b}",
                &["http://[fe80::1%25eth0]/a", "http://[fe80::1%25eth0]/b"],
            ),
            ("http://[2001:db8::ff]/", &["http://[2001:db8::ff]/"]),
            ("[::ffff:1.2.3.4]", &["[::ffff:1.2.3.4]"]),
            ("é[1-2]ü", &["é1ü", "é2ü"]),
        ];
        for (pattern, want) in cases {
            assert_eq!(texts(pattern), strings(want), "pattern {pattern:?}");
        }
    }

    #[test]
    fn escaped_close_brace_leaves_list_unclosed() {
        let err = Pattern::parse(r"{x\}").unwrap_err();
        assert_eq!(err.column, 1);
        assert!(err.message.contains("unclosed"), "{err}");
    }

    #[test]
    fn padding() {
        let all = texts("[001-100]");
        assert_eq!(all.len(), 100);
        assert_eq!(all[0], "001");
        assert_eq!(all[9], "010");
        assert_eq!(all[98], "099");
        assert_eq!(all[99], "100");

        let all = texts("[01-100]");
        assert_eq!(all.len(), 100);
        assert_eq!(&all[..3], &strings(&["01", "02", "03"])[..]);
        assert_eq!(&all[97..], &strings(&["98", "99", "100"])[..]);

        let all = texts("[1-10]");
        assert_eq!(
            all,
            strings(&["1", "2", "3", "4", "5", "6", "7", "8", "9", "10"])
        );

        // An end written with zeros does not pad.
        assert_eq!(texts("[1-003]"), strings(&["1", "2", "3"]));
    }

    #[test]
    fn plain_range_and_steps() {
        let all = texts("[1-100]");
        assert_eq!(all.len(), 100);
        assert_eq!(all.first().map(String::as_str), Some("1"));
        assert_eq!(all.last().map(String::as_str), Some("100"));

        let all = texts("[1-100:5]");
        let want: Vec<String> = (0..20).map(|k| (1 + 5 * k).to_string()).collect();
        assert_eq!(all, want);
        assert_eq!(all.last().map(String::as_str), Some("96"));

        let all = texts("[a-z:2]");
        assert_eq!(all.len(), 13);
        assert_eq!(all.concat(), "acegikmoqsuwy");
    }

    #[test]
    fn values_follow_globs_in_order() {
        let got: Vec<Expansion> = Pattern::parse("{a,b}[1-2]").unwrap().into_iter().collect();
        let want: Vec<Expansion> = [
            ("a1", "a", "1"),
            ("a2", "a", "2"),
            ("b1", "b", "1"),
            ("b2", "b", "2"),
        ]
        .iter()
        .map(|(t, x, y)| Expansion {
            text: t.to_string(),
            values: strings(&[x, y]),
        })
        .collect();
        assert_eq!(got, want);

        let p = Pattern::parse("http://h/[01-02]/{x,}.txt").unwrap();
        assert_eq!(p.glob_count(), 2);
        let got: Vec<(String, Vec<String>)> = p.iter().map(|e| (e.text, e.values)).collect();
        assert_eq!(
            got,
            vec![
                ("http://h/01/x.txt".to_string(), strings(&["01", "x"])),
                ("http://h/01/.txt".to_string(), strings(&["01", ""])),
                ("http://h/02/x.txt".to_string(), strings(&["02", "x"])),
                ("http://h/02/.txt".to_string(), strings(&["02", ""])),
            ]
        );

        let plain: Vec<Expansion> = Pattern::parse("http://h/x").unwrap().into_iter().collect();
        assert_eq!(
            plain,
            vec![Expansion {
                text: "http://h/x".to_string(),
                values: vec![]
            }]
        );
    }

    #[test]
    fn glob_count_and_ipv6() {
        let cases: &[(&str, usize)] = &[
            ("http://x/", 0),
            ("http://[::1]:8080/a[1-3].txt", 1),
            ("http://[::1]/{a,b}/[1-2]/[a-c]", 3),
            (r"\[1-2\]{a}", 1),
            ("[fe80::1%eth0]", 0),
        ];
        for (pattern, want) in cases {
            let p = Pattern::parse(pattern).unwrap();
            assert_eq!(p.glob_count(), *want, "pattern {pattern:?}");
        }
        // A colon without IPv6 look is still parsed as a range.
        assert!(Pattern::parse("[1-5:x]").is_err());
        // A zone needs a name.
        assert!(Pattern::parse("[::1%]").is_err());
    }

    #[test]
    fn literal_keeps_everything() {
        let p = Pattern::literal(r"http://h/a[1-2]{x,y}\[]}");
        assert_eq!(p.glob_count(), 0);
        assert_eq!(p.len(), 1);
        let got: Vec<Expansion> = p.into_iter().collect();
        assert_eq!(
            got,
            vec![Expansion {
                text: r"http://h/a[1-2]{x,y}\[]}".to_string(),
                values: vec![]
            }]
        );
    }

    #[test]
    fn len_counts_products_and_saturates() {
        let cases: &[(&str, u64)] = &[
            ("x", 1),
            ("[1-10]", 10),
            ("[1-100:5]", 20),
            ("[a-z:2]", 13),
            ("{a,b}[1-10]", 20),
            ("{a,b,c}[1-10][a-z]", 780),
            ("[1-18446744073709551615]", u64::MAX),
            ("[0-18446744073709551615]", u64::MAX),
            ("[1-18446744073709551615][1-10]", u64::MAX),
            (
                "[0-18446744073709551615][0-18446744073709551615][0-18446744073709551615]",
                u64::MAX,
            ),
        ];
        for (pattern, want) in cases {
            assert_eq!(
                Pattern::parse(pattern).unwrap().len(),
                *want,
                "pattern {pattern:?}"
            );
        }
    }

    #[test]
    fn expansion_is_lazy() {
        let started = Instant::now();
        let p = Pattern::parse("[1-100000000]").unwrap();
        let mut it = p.clone().into_iter();
        assert_eq!(it.size_hint(), (100_000_000, Some(100_000_000)));
        assert_eq!(
            it.nth(99_999_999).map(|e| e.text),
            Some("100000000".to_string())
        );
        assert_eq!(it.next(), None);
        assert_eq!(it.size_hint(), (0, Some(0)));
        assert_eq!(p.clone().into_iter().nth(100_000_000), None);

        let huge = Pattern::parse(
            "[0-18446744073709551615]/[0-18446744073709551615]/[0-18446744073709551615]/{a,b}",
        )
        .unwrap();
        let first: Vec<String> = huge.iter().take(3).map(|e| e.text).collect();
        assert_eq!(first, strings(&["0/0/0/a", "0/0/0/b", "0/0/1/a"]));
        assert_eq!(huge.iter().size_hint(), (usize::MAX, None));
        // Jump to the very end: every glob at its last value.
        let mut it = huge.iter();
        it.indices = vec![u64::MAX, u64::MAX, u64::MAX, 0];
        assert_eq!(it.size_hint(), (2, Some(2)));
        let last: Vec<String> = it.map(|e| e.text).collect();
        let m = u64::MAX;
        assert_eq!(
            last,
            vec![format!("{m}/{m}/{m}/a"), format!("{m}/{m}/{m}/b")]
        );
        // Odometer carries across a 2^64 radix.
        let mut it = huge.iter();
        it.indices = vec![0, u64::MAX, u64::MAX, 1];
        assert_eq!(it.next().unwrap().text, format!("0/{m}/{m}/b"));
        assert_eq!(it.next().unwrap().text, "1/0/0/a");
        // A huge skip carries into the next glob.
        let mut it = huge.iter();
        it.indices = vec![0, 0, u64::MAX, 1];
        assert_eq!(
            it.nth(usize::MAX).unwrap().text,
            format!("0/1/{}/a", (1u64 << 63) - 1)
        );

        assert!(started.elapsed() < Duration::from_secs(2));
    }

    #[test]
    fn nth_in_a_product() {
        let p = Pattern::parse("{a,b}[1-3]").unwrap();
        let mut it = p.iter();
        assert_eq!(it.nth(4).map(|e| e.text), Some("b2".to_string()));
        assert_eq!(it.size_hint(), (1, Some(1)));
        assert_eq!(it.next().map(|e| e.values), Some(strings(&["b", "3"])));
        assert_eq!(it.next(), None);
        assert_eq!(it.nth(2), None);
        let all: Vec<String> = p.iter().map(|e| e.text).collect();
        assert_eq!(all, strings(&["a1", "a2", "a3", "b1", "b2", "b3"]));
        for n in 0..7 {
            let want = all.get(n).cloned();
            assert_eq!(p.iter().nth(n).map(|e| e.text), want, "nth({n})");
        }
        let mut it = Pattern::literal("x").into_iter();
        assert_eq!(it.nth(1), None);
        assert_eq!(it.next(), None);
    }

    #[test]
    fn ten_thousand_items_are_fast() {
        let started = Instant::now();
        let p = Pattern::parse("https://example.com/{img,doc}/[0001-5000].jpg").unwrap();
        let mut count = 0;
        let mut last = String::new();
        for e in p.iter() {
            count += 1;
            last = e.text;
        }
        assert_eq!(count, 10_000);
        assert_eq!(last, "https://example.com/doc/5000.jpg");
        assert!(started.elapsed() < Duration::from_secs(1));
    }

    #[test]
    fn malformed_patterns() {
        // (pattern, column, exact message)
        let cases: &[(&str, usize, &str)] = &[
            ("a[1-3", 2, "unclosed \"[\": there is no matching \"]\""),
            ("a{x,y", 2, "unclosed \"{\": there is no matching \"}\""),
            (
                "a]b",
                2,
                "stray \"]\": there is no \"[\" to close (escape it as \\])",
            ),
            (
                "a}b",
                2,
                "stray \"}\": there is no \"{\" to close (escape it as \\})",
            ),
            (
                "{a]}",
                3,
                "stray \"]\": there is no \"[\" to close (escape it as \\])",
            ),
            (
                "{a,{b}}",
                4,
                "nested \"{\" inside a glob: globs cannot be nested (escape it as \\{)",
            ),
            (
                "{a,[1-2]}",
                4,
                "nested \"[\" inside a glob: globs cannot be nested (escape it as \\[)",
            ),
            (
                "[1-{2}]",
                4,
                "nested \"{\" inside a glob: globs cannot be nested (escape it as \\{)",
            ),
            (
                "[1-[2]]",
                4,
                "nested \"[\" inside a glob: globs cannot be nested (escape it as \\[)",
            ),
            (
                "x[]",
                2,
                "empty range \"[]\": expected something like [1-10] or [a-z]",
            ),
            (
                "[1-z]",
                1,
                "bad range \"[1-z]\": start and end are of different kinds",
            ),
            (
                "[a-9]",
                1,
                "bad range \"[a-9]\": start and end are of different kinds",
            ),
            (
                "http://x/ab[5-1]",
                12,
                "bad range \"[5-1]\": start is after end",
            ),
            ("[z-a]", 1, "bad range \"[z-a]\": start is after end"),
            ("éé[5-1]", 3, "bad range \"[5-1]\": start is after end"),
            (
                "[1-5:0]",
                6,
                "bad range \"[1-5:0]\": the step must be at least 1",
            ),
            (
                "[a-z:0]",
                6,
                "bad range \"[a-z:0]\": the step must be at least 1",
            ),
            (
                "[1-5:x]",
                6,
                "bad range \"[1-5:x]\": the step is not a number",
            ),
            (
                "[1-5:]",
                6,
                "bad range \"[1-5:]\": the step is not a number",
            ),
            (
                "[1-5:-1]",
                6,
                "bad range \"[1-5:-1]\": the step is not a number",
            ),
            (
                "[1-5:2:3]",
                6,
                "bad range \"[1-5:2:3]\": the step is not a number",
            ),
            (
                "[a-Z]",
                1,
                "bad range \"[a-Z]\": start and end letters differ in case",
            ),
            (
                "[A-z]",
                1,
                "bad range \"[A-z]\": start and end letters differ in case",
            ),
            (
                "[aa-zz]",
                2,
                "bad range \"[aa-zz]\": letter ranges take single letters",
            ),
            (
                "[a-zz]",
                4,
                "bad range \"[a-zz]\": letter ranges take single letters",
            ),
            (
                "[1-99999999999999999999]",
                4,
                "bad range \"[1-99999999999999999999]\": number is too large",
            ),
            (
                "[18446744073709551616-1]",
                2,
                "bad range \"[18446744073709551616-1]\": number is too large",
            ),
            (
                "[1-5:99999999999999999999]",
                6,
                "bad range \"[1-5:99999999999999999999]\": number is too large",
            ),
            (
                "[a,b]",
                3,
                "bad range \"[a,b]\": lists use braces, as in {a,b}",
            ),
            (
                "[1,2,3]",
                3,
                "bad range \"[1,2,3]\": lists use braces, as in {a,b}",
            ),
            (
                "[5]",
                1,
                "bad range \"[5]\": expected a range like [1-10], [001-100:5] or [a-z]",
            ),
            (
                "[-5]",
                2,
                "bad range \"[-5]\": expected a range like [1-10], [001-100:5] or [a-z]",
            ),
            (
                "[1-]",
                4,
                "bad range \"[1-]\": expected a range like [1-10], [001-100:5] or [a-z]",
            ),
            (
                "[1-2-3]",
                4,
                "bad range \"[1-2-3]\": expected a range like [1-10], [001-100:5] or [a-z]",
            ),
            (
                "[ 1-2]",
                2,
                "bad range \"[ 1-2]\": expected a range like [1-10], [001-100:5] or [a-z]",
            ),
            (
                "[é-ü]",
                2,
                "bad range \"[é-ü]\": expected a range like [1-10], [001-100:5] or [a-z]",
            ),
        ];
        for (pattern, column, message) in cases {
            let err = Pattern::parse(pattern).expect_err(pattern);
            assert_eq!(
                err,
                GlobError {
                    column: *column,
                    message: message.to_string()
                },
                "pattern {pattern:?}"
            );
        }
    }

    #[test]
    fn error_display() {
        let err = Pattern::parse("http://x/ab[5-1]").unwrap_err();
        assert_eq!(
            err.to_string(),
            "bad range \"[5-1]\" at column 12: start is after end"
        );
        let err = GlobError {
            column: 3,
            message: "something odd".to_string(),
        };
        assert_eq!(err.to_string(), "something odd at column 3");
        let boxed: Box<dyn std::error::Error> = Box::new(err);
        assert!(boxed.to_string().starts_with("something"));
    }
}
