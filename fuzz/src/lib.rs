//! Invariants shared by the fuzz targets, the same ones that
//! `tests/cases/properties.rs` checks with proptest: each `check_*` function
//! panics on a violation. Besides raw inputs, the glob and list-line targets
//! read a structured case from the fuzz input ([`GlobCase`], [`LineCase`])
//! and compare haul against an independent model of the grammar.

use std::path::{Component, Path, PathBuf};

use arbitrary::{Result, Unstructured};
use haul::testing::{content_disposition_name, destination, expand, parse_line, safe_relative};

// ---------------------------------------------------------------------------
// Paths.

/// A destination that stays inside `--dir`: relative, not empty, and made of
/// plain names only (no `..`, no root, no prefix, no `.`), none with a NUL.
#[track_caller]
pub fn assert_safe_path(path: &Path, what: &dyn std::fmt::Display) {
    assert!(!path.as_os_str().is_empty(), "{what}: empty path");
    assert!(
        path.is_relative() && !path.has_root(),
        "{what}: {path:?} is not relative"
    );
    assert!(
        !path.as_os_str().as_encoded_bytes().contains(&0),
        "{what}: {path:?} contains NUL"
    );
    for component in path.components() {
        match component {
            Component::Normal(name) => {
                assert!(name != "..", "{what}: {path:?} has a '..' component");
            }
            other => panic!("{what}: {path:?} has a {other:?} component"),
        }
    }
}

/// The path rendered back the way a user would write it.
pub fn joined(path: &Path) -> String {
    path.components()
        .map(|c| c.as_os_str().to_str().expect("paths built from str"))
        .collect::<Vec<_>>()
        .join("/")
}

/// `safe_relative`: Ok results are safe and it is idempotent on them.
#[track_caller]
pub fn check_safe_relative(name: &str) -> Result<PathBuf, String> {
    let got = safe_relative(name);
    if let Ok(path) = &got {
        assert_safe_path(path, &format_args!("safe_relative({name:?})"));
        let again = joined(path);
        assert_eq!(
            safe_relative(&again).as_ref(),
            Ok(path),
            "safe_relative is not idempotent: {name:?} -> {again:?}"
        );
    }
    got
}

/// `destination`: Ok results are safe paths.
#[track_caller]
pub fn check_destination(template: &str, url: &str, n: u64, globs: &[String]) {
    if let Ok(path) = destination(template, url, n, globs) {
        assert_safe_path(
            &path,
            &format_args!("destination({template:?}, {url:?}, {n}, {globs:?})"),
        );
        let again = joined(&path);
        assert_eq!(safe_relative(&again).as_ref(), Ok(&path), "{again:?}");
    }
}

/// `content_disposition_name`: a single plain name, which `safe_relative`
/// takes as is unless it holds a NUL (the caller refuses that).
#[track_caller]
pub fn check_content_disposition(header: &str) {
    let Some(name) = content_disposition_name(header) else {
        return;
    };
    assert!(
        !name.is_empty() && name != "." && name != "..",
        "{header:?} -> {name:?}"
    );
    assert!(!name.contains(['/', '\\']), "{header:?} -> {name:?}");
    assert_eq!(name.trim(), name, "{header:?} -> {name:?}");
    match check_safe_relative(&name) {
        Ok(path) => assert_eq!(path, Path::new(&name), "{header:?}"),
        Err(err) => assert!(name.contains('\0'), "{header:?} -> {name:?}: {err}"),
    }
}

// ---------------------------------------------------------------------------
// List lines.

/// `parse_line`: `None` exactly for blanks and comments; an entry's URL is
/// the first whitespace-separated word and its fields are whole words.
#[track_caller]
pub fn check_line(text: &str) {
    let trimmed = text.trim();
    let skipped = trimmed.is_empty() || trimmed.starts_with('#');
    match parse_line(text) {
        None => assert!(skipped, "{text:?} was skipped"),
        Some(result) => {
            assert!(!skipped, "{text:?} should be skipped");
            let first = trimmed.split_whitespace().next();
            if let Ok((url, out, _sha)) = result {
                assert_eq!(Some(url.as_str()), first, "{text:?}");
                if let Some(out) = out {
                    assert!(!out.is_empty(), "{text:?}: empty out=");
                    assert!(
                        trimmed
                            .split_whitespace()
                            .skip(1)
                            .any(|w| w.strip_prefix("out=") == Some(out.as_str())),
                        "{text:?}: out={out:?} is not a field of the line"
                    );
                }
            }
        }
    }
}

/// Characters `str::trim` and `split_whitespace` treat as whitespace.
const SPACES: &[char] = &[
    ' ', '\t', '\r', '\n', '\u{b}', '\u{c}', '\u{85}', '\u{a0}', '\u{2003}', '\u{2028}', '\u{3000}',
];

fn spaces(u: &mut Unstructured, min: usize) -> Result<String> {
    let n = u.int_in_range(min..=min + 3)?;
    (0..n).map(|_| u.choose(SPACES).copied()).collect()
}

fn word(u: &mut Unstructured) -> Result<String> {
    let n = u.int_in_range(1..=15)?;
    let mut out = String::new();
    for _ in 0..n {
        let c = if u.ratio(3, 4)? {
            *u.choose(&['a', '/', ':', '.', '#', '=', '%', '[', '{', '1', '\0', 'é'])?
        } else {
            u.arbitrary::<char>()?
        };
        out.push(if c.is_whitespace() { 'w' } else { c });
    }
    Ok(out)
}

/// A list line built from parts, and what it must parse to.
#[derive(Debug)]
pub struct LineCase {
    pub line: String,
    pub url: String,
    pub out: Option<String>,
    pub sha256: Option<[u8; 32]>,
}

impl LineCase {
    pub fn new(u: &mut Unstructured) -> Result<LineCase> {
        let mut url = word(u)?;
        if url.starts_with('#') || u.arbitrary()? {
            url = format!("https://h/{url}");
        }
        let out = if u.arbitrary()? { Some(word(u)?) } else { None };
        let sha256 = if u.arbitrary()? {
            let digest: [u8; 32] = u.arbitrary()?;
            let mut hex = String::new();
            for b in digest {
                for c in format!("{b:02x}").chars() {
                    hex.push(if u.arbitrary()? {
                        c.to_ascii_uppercase()
                    } else {
                        c
                    });
                }
            }
            Some((digest, hex))
        } else {
            None
        };
        let mut fields = Vec::new();
        if let Some(out) = &out {
            fields.push(format!("out={out}"));
        }
        if let Some((_, hex)) = &sha256 {
            fields.push(format!("sha256={hex}"));
        }
        if u.arbitrary()? {
            fields.reverse();
        }
        let mut line = spaces(u, 0)? + &url;
        for field in fields {
            line += &spaces(u, 1)?;
            line += &field;
        }
        line += &spaces(u, 0)?;
        Ok(LineCase {
            line,
            url,
            out,
            sha256: sha256.map(|(digest, _)| digest),
        })
    }

    #[track_caller]
    pub fn check(self) {
        let want = (self.url, self.out, self.sha256);
        assert_eq!(parse_line(&self.line), Some(Ok(want)), "{:?}", self.line);
        check_line(&self.line);
    }
}

// ---------------------------------------------------------------------------
// Globs.

/// `expand`: what holds for any pattern that parses.
#[track_caller]
pub fn check_expand(pattern: &str, limit: usize) {
    let Ok((count, items)) = expand(pattern, limit) else {
        return;
    };
    assert!(count >= 1, "{pattern:?}: count 0");
    let want = usize::try_from(count).unwrap_or(usize::MAX).min(limit);
    assert_eq!(
        items.len(),
        want,
        "{pattern:?}: count {count}, limit {limit}"
    );
    if let Some((first_text, first_values)) = items.first() {
        let literal = first_text.len() - first_values.iter().map(String::len).sum::<usize>();
        for (text, values) in &items {
            assert_eq!(values.len(), first_values.len(), "{pattern:?}");
            assert_eq!(
                text.len() - values.iter().map(String::len).sum::<usize>(),
                literal,
                "{pattern:?}: the literal text changed between expansions"
            );
        }
        if first_values.is_empty() {
            assert_eq!(count, 1, "{pattern:?}: no glob but {count} expansions");
        }
    }
}

fn is_escapable(c: char) -> bool {
    matches!(c, '[' | ']' | '{' | '}' | ',' | '\\')
}

/// Literal text as written in a pattern and what it means.
#[derive(Debug, Clone, Default)]
struct Literal {
    source: String,
    meaning: String,
}

impl Literal {
    fn new(u: &mut Unstructured) -> Result<Literal> {
        let mut literal = Literal::default();
        for _ in 0..u.int_in_range(0..=5)? {
            let c = if u.ratio(3, 4)? {
                *u.choose(&[
                    'a', 'Z', '0', '9', '/', ':', '.', '-', '%', '?', '&', '=', '#', ' ', 'é',
                    '\0', '[', ']', '{', '}', ',', '\\',
                ])?
            } else {
                u.arbitrary::<char>()?
            };
            if is_escapable(c) {
                literal.source.push('\\');
            } else if u.ratio(1, 5)? {
                // A backslash before an ordinary character stays.
                literal.source.push('\\');
                literal.meaning.push('\\');
            }
            literal.source.push(c);
            literal.meaning.push(c);
        }
        Ok(literal)
    }
}

#[derive(Debug)]
enum Set {
    Numbers {
        start: u64,
        end: u64,
        step: Option<u64>,
        start_text: String,
        end_text: String,
    },
    Letters {
        start: u8,
        end: u8,
        step: Option<u64>,
    },
    List(Vec<Literal>),
}

fn step(u: &mut Unstructured) -> Result<Option<u64>> {
    Ok(match u.int_in_range(0..=4)? {
        0 | 1 => None,
        2 | 3 => Some(u.int_in_range(1..=11)?),
        _ => Some(*u.choose(&[25, 26, 100, 1 << 63, u64::MAX])?),
    })
}

impl Set {
    fn new(u: &mut Unstructured) -> Result<Set> {
        Ok(match u.int_in_range(0..=4)? {
            0 | 1 => {
                let (start, end) = match u.int_in_range(0..=5)? {
                    0 => {
                        let (a, b) = (u.int_in_range(0..=49)?, u.int_in_range(0..=49)?);
                        (u64::MAX - a.max(b), u64::MAX - a.min(b))
                    }
                    1 => (u.int_in_range(0..=2)?, u64::MAX),
                    _ => {
                        let start = u.int_in_range(0..=999)?;
                        (start, start + u.int_in_range(0..=39)?)
                    }
                };
                let step = step(u)?;
                let pad = u.int_in_range(0..=3)?;
                let end_pad = u.int_in_range(0..=2)?;
                Set::Numbers {
                    start,
                    end,
                    step,
                    start_text: format!("{start:0w$}", w = start.to_string().len() + pad),
                    end_text: format!("{end:0w$}", w = end.to_string().len() + end_pad),
                }
            }
            2 => {
                let base = if u.arbitrary()? { b'A' } else { b'a' };
                let (a, b) = (u.int_in_range(0..=25)?, u.int_in_range(0..=25)?);
                Set::Letters {
                    start: base + u8::min(a, b),
                    end: base + u8::max(a, b),
                    step: step(u)?,
                }
            }
            _ => {
                let n = u.int_in_range(1..=4)?;
                Set::List((0..n).map(|_| Literal::new(u)).collect::<Result<_>>()?)
            }
        })
    }

    fn source(&self) -> String {
        let suffix = |step: &Option<u64>| step.map(|s| format!(":{s}")).unwrap_or_default();
        match self {
            Set::Numbers {
                step,
                start_text,
                end_text,
                ..
            } => format!("[{start_text}-{end_text}{}]", suffix(step)),
            Set::Letters { start, end, step } => {
                format!(
                    "[{}-{}{}]",
                    char::from(*start),
                    char::from(*end),
                    suffix(step)
                )
            }
            Set::List(items) => {
                let items: Vec<&str> = items.iter().map(|i| i.source.as_str()).collect();
                format!("{{{}}}", items.join(","))
            }
        }
    }

    fn size(&self) -> u128 {
        match self {
            Set::Numbers {
                start, end, step, ..
            } => u128::from(end - start) / u128::from(step.unwrap_or(1)) + 1,
            Set::Letters { start, end, step } => {
                u128::from(end - start) / u128::from(step.unwrap_or(1)) + 1
            }
            Set::List(items) => items.len() as u128,
        }
    }

    /// Zero padded to the width of the start when the start is written with
    /// a leading zero.
    fn value(&self, index: u128) -> String {
        match self {
            Set::Numbers {
                start,
                step,
                start_text,
                ..
            } => {
                let number = u128::from(*start) + index * u128::from(step.unwrap_or(1));
                let width = if start_text.len() > 1 && start_text.starts_with('0') {
                    start_text.len()
                } else {
                    0
                };
                format!("{number:0width$}")
            }
            Set::Letters { start, step, .. } => {
                let offset = index * u128::from(step.unwrap_or(1));
                char::from(*start + u8::try_from(offset).unwrap()).to_string()
            }
            Set::List(items) => items[usize::try_from(index).unwrap()].meaning.clone(),
        }
    }
}

/// A valid glob pattern built from the fuzz input, with its model.
#[derive(Debug)]
pub struct GlobCase {
    literals: Vec<Literal>,
    sets: Vec<Set>,
    limit: usize,
}

impl GlobCase {
    pub fn new(u: &mut Unstructured) -> Result<GlobCase> {
        let mut literals = vec![Literal::new(u)?];
        if u.arbitrary()? {
            let host = "http://[::1]:80/";
            literals[0].source.insert_str(0, host);
            literals[0].meaning.insert_str(0, host);
        }
        let mut sets = Vec::new();
        for _ in 0..u.int_in_range(0..=4)? {
            sets.push(Set::new(u)?);
            literals.push(Literal::new(u)?);
        }
        if u.arbitrary()? {
            let last = literals.last_mut().expect("one literal at least");
            last.source.push('\\');
            last.meaning.push('\\');
        }
        let limit = u.int_in_range(0..=64)?;
        Ok(GlobCase {
            literals,
            sets,
            limit,
        })
    }

    pub fn source(&self) -> String {
        let mut out = self.literals[0].source.clone();
        for (set, literal) in self.sets.iter().zip(&self.literals[1..]) {
            out.push_str(&set.source());
            out.push_str(&literal.source);
        }
        out
    }

    /// The skeleton with `values` substituted, in order.
    fn fill(&self, values: &[String]) -> String {
        let mut out = self.literals[0].meaning.clone();
        for (value, literal) in values.iter().zip(&self.literals[1..]) {
            out.push_str(value);
            out.push_str(&literal.meaning);
        }
        out
    }

    /// Product of the set sizes, saturating at u64::MAX.
    fn count(&self) -> u64 {
        self.sets
            .iter()
            .try_fold(1u128, |acc, s| acc.checked_mul(s.size()))
            .and_then(|c| u64::try_from(c).ok())
            .unwrap_or(u64::MAX)
    }

    /// The `k`th expansion (0-based): leftmost set varying slowest.
    fn expansion(&self, mut k: u128) -> (String, Vec<String>) {
        let mut values = vec![String::new(); self.sets.len()];
        for (value, set) in values.iter_mut().zip(&self.sets).rev() {
            *value = set.value(k % set.size());
            k /= set.size();
        }
        assert_eq!(k, 0, "expansion past the end");
        (self.fill(&values), values)
    }

    #[track_caller]
    pub fn check(&self) {
        let source = self.source();
        let (count, items) =
            expand(&source, self.limit).unwrap_or_else(|e| panic!("{source:?} should parse: {e}"));
        assert_eq!(count, self.count(), "count of {source:?}");
        let want = usize::try_from(count).unwrap_or(usize::MAX).min(self.limit);
        assert_eq!(items.len(), want, "expansions of {source:?}");
        for (k, (text, values)) in items.iter().enumerate() {
            assert_eq!(values.len(), self.sets.len(), "{source:?}");
            assert_eq!(&self.fill(values), text, "{source:?} #{k}");
            let (want_text, want_values) = self.expansion(k as u128);
            assert_eq!(values, &want_values, "{source:?} #{k}");
            assert_eq!(text, &want_text, "{source:?} #{k}");
        }
        check_expand(&source, self.limit);
    }
}
