//! Invariants and reference models shared by the property tests and the fuzz
//! targets: `fuzz/src/lib.rs` declares this module and adds the
//! `arbitrary`-driven construction, `tests/cases/properties.rs` includes the
//! same file with `#[path]` and adds the proptest strategies. So it uses only
//! std and `haul::testing` (no `arbitrary`, no `proptest`), and everything in
//! it is used by both sides (the test crate would warn about dead code).
//!
//! Each `check_*` function (and `check` method) panics on a violation; both
//! proptest and libFuzzer report a panic as a failing case.

use std::fmt::Display;
use std::path::{Component, Path, PathBuf};

use haul::testing::{
    claim_all, content_disposition_name, destination, expand, fold_name, parse_line, safe_relative,
};

// ---------------------------------------------------------------------------
// Paths.

/// A destination that stays inside `--dir`: relative, not empty, and made of
/// plain names only (no `..`, no root, no prefix, no `.`), none with a NUL.
#[track_caller]
pub fn assert_safe_path(path: &Path, what: &dyn Display) {
    assert!(!path.as_os_str().is_empty(), "{what}: empty path");
    assert!(
        path.is_relative() && !path.has_root(),
        "{what}: {path:?} is not relative"
    );
    assert!(
        !path.as_os_str().as_encoded_bytes().contains(&0),
        "{what}: {path:?} contains NUL"
    );
    assert!(
        !path.to_string_lossy().chars().any(forbidden),
        "{what}: {path:?} contains a control or bidirectional character"
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

/// What no file name may hold: controls and bidirectional marks.
pub fn forbidden(c: char) -> bool {
    c.is_control()
        || matches!(c, '\u{200E}' | '\u{200F}' | '\u{061C}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
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

/// `content_disposition_name`: an accepted suggestion is a single plain
/// name that `safe_relative` takes as is; a refused one is empty, `.`,
/// `..`, or holds a character no file name may (NUL, controls, bidi marks).
#[track_caller]
pub fn check_content_disposition(header: &str) {
    match content_disposition_name(header) {
        None => {}
        Some(Ok(name)) => {
            assert!(
                !name.is_empty() && name != "." && name != "..",
                "{header:?} -> {name:?}"
            );
            assert!(!name.contains(['/', '\\']), "{header:?} -> {name:?}");
            assert_eq!(name.trim(), name, "{header:?} -> {name:?}");
            let path = check_safe_relative(&name)
                .unwrap_or_else(|err| panic!("{header:?} -> {name:?}: {err}"));
            assert_eq!(path, Path::new(&name), "{header:?}");
        }
        Some(Err(err)) => assert!(err.contains("refusing destination"), "{header:?}: {err}"),
    }
}

// ---------------------------------------------------------------------------
// Claims.

/// `claim_all`: a model in terms of files. Every accepted name occupies two
/// files, `NAME` and `NAME.part` (compared after case folding on a
/// case-insensitive folder); a name is accepted exactly when it is safe and
/// both of its files are still free. So no two downloads ever share a file.
#[track_caller]
pub fn check_claims(names: &[String], case_insensitive: bool) {
    let got = claim_all(names, case_insensitive);
    assert_eq!(got.len(), names.len());
    let mut occupied = std::collections::HashSet::new();
    for (name, got) in names.iter().zip(&got) {
        let Ok(path) = safe_relative(name) else {
            assert!(got.is_err(), "{name:?} is unsafe but was claimed");
            continue;
        };
        let mut key = joined(&path);
        if case_insensitive {
            key = fold_name(&key);
        }
        let files = [key.clone(), format!("{key}.part")];
        let free = files.iter().all(|f| !occupied.contains(f));
        match got {
            Ok(()) => {
                assert!(
                    free,
                    "{name:?} was claimed, but a file of it is taken: {names:?}"
                );
                occupied.extend(files);
            }
            Err(err) => {
                assert!(!free, "{name:?} was refused with its files free: {err}");
                assert!(err.contains("out/"), "the refusal names the path: {err}");
            }
        }
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
pub const SPACES: &[char] = &[
    ' ', '\t', '\r', '\n', '\u{b}', '\u{c}', '\u{85}', '\u{a0}', '\u{2003}', '\u{2028}', '\u{3000}',
];

/// Characters the generated words favour (the rest are arbitrary, minus
/// whitespace).
pub const WORD_CHARS: &[char] = &['a', '/', ':', '.', '#', '=', '%', '[', '{', '1', '\0', 'é'];

/// Lowercase hex, two digits a byte.
pub fn hex_lower(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A list line built from parts, and what it must parse to.
#[derive(Debug, Clone)]
pub struct LineCase {
    pub line: String,
    pub url: String,
    pub out: Option<String>,
    pub sha256: Option<[u8; 32]>,
}

impl LineCase {
    /// `LEAD URL GAP FIELD GAP FIELD TRAIL`, the fields being `out=OUT` and
    /// `sha256=HEX` when present, in that order or (`sha_first`) reversed;
    /// `spaces` is `[LEAD, GAP, GAP, TRAIL]`. `url` must be one word not
    /// starting with `#`, `out` one word, the gaps not empty.
    pub fn assemble(
        url: String,
        out: Option<String>,
        sha256: Option<([u8; 32], String)>,
        sha_first: bool,
        spaces: [&str; 4],
    ) -> LineCase {
        let [lead, gap1, gap2, trail] = spaces;
        let mut fields = Vec::new();
        if let Some(out) = &out {
            fields.push(format!("out={out}"));
        }
        if let Some((_, hex)) = &sha256 {
            fields.push(format!("sha256={hex}"));
        }
        if sha_first {
            fields.reverse();
        }
        let mut line = format!("{lead}{url}");
        for (field, gap) in fields.iter().zip([gap1, gap2]) {
            line.push_str(gap);
            line.push_str(field);
        }
        line.push_str(trail);
        LineCase {
            line,
            url,
            out,
            sha256: sha256.map(|(digest, _)| digest),
        }
    }

    /// It parses to exactly its parts, and [`check_line`] holds.
    #[track_caller]
    pub fn check(self) {
        let digest = self.sha256.map(|d| format!("sha256:{}", hex::encode(d)));
        let want = (self.url, self.out, digest);
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

/// The characters a backslash escapes in a pattern.
pub fn is_escapable(c: char) -> bool {
    matches!(c, '[' | ']' | '{' | '}' | ',' | '\\')
}

/// Characters the generated literals favour (the rest are arbitrary).
pub const LITERAL_CHARS: &[char] = &[
    'a', 'Z', '0', '9', '/', ':', '.', '-', '%', '?', '&', '=', '#', ' ', 'é', '\0', '[', ']', '{',
    '}', ',', '\\',
];

/// Large steps, besides small ones: a step past the range, and overflow.
/// URL hosts for destination cases: plain, with a port, IPv6, IPv4, IDNA,
/// and hosts that spell `..` (which must never reach a path).
pub const HOSTS: [&str; 8] = [
    "h",
    "example.com:8080",
    "[::1]",
    "127.0.0.1",
    "xn--n3h.de",
    "..",
    "%2e%2e",
    "a.b",
];

pub const BIG_STEPS: &[u64] = &[25, 26, 100, 1 << 63, u64::MAX];

/// Literal text as written in a pattern and what it means: every special
/// character escaped, plus backslashes before ordinary characters (which
/// stay backslashes).
#[derive(Debug, Clone, Default)]
pub struct Literal {
    pub source: String,
    pub meaning: String,
}

impl Literal {
    /// `c` itself, escaped in the source if it is special.
    pub fn push_char(&mut self, c: char) {
        if is_escapable(c) {
            self.source.push('\\');
        }
        self.source.push(c);
        self.meaning.push(c);
    }

    /// A backslash before the ordinary character `next`: both stay.
    pub fn push_raw_backslash(&mut self, next: char) {
        debug_assert!(!is_escapable(next));
        for out in [&mut self.source, &mut self.meaning] {
            out.push('\\');
            out.push(next);
        }
    }
}

/// One glob set: a numeric range, a letter range or a `{...}` list.
#[derive(Debug, Clone)]
pub enum Set {
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

impl Set {
    /// `[START-END:STEP]` with `pad` and `end_pad` extra leading zeros on
    /// the bounds (`start <= end`).
    pub fn numbers(start: u64, end: u64, step: Option<u64>, pad: usize, end_pad: usize) -> Set {
        Set::Numbers {
            start,
            end,
            step,
            start_text: format!("{start:0w$}", w = start.to_string().len() + pad),
            end_text: format!("{end:0w$}", w = end.to_string().len() + end_pad),
        }
    }

    /// A letter range between letters `a` and `b` (0..26, either order) of
    /// the alphabet, upper or lower case.
    pub fn letters(upper: bool, a: u8, b: u8, step: Option<u64>) -> Set {
        let base = if upper { b'A' } else { b'a' };
        Set::Letters {
            start: base + a.min(b),
            end: base + a.max(b),
            step,
        }
    }

    /// The set as written in a pattern.
    pub fn source(&self) -> String {
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

    /// How many values the set has (up to 2^64).
    pub fn size(&self) -> u128 {
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

    /// The value at `index` (below `size()`): zero padded to the width of
    /// the start when the start is written with a leading zero.
    pub fn value(&self, index: u128) -> String {
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

/// A valid pattern: literal pieces around glob sets (one more literal than
/// sets), maybe behind a URL prefix and ending with a lone backslash.
#[derive(Debug, Clone)]
pub struct GlobPattern {
    pub literals: Vec<Literal>,
    pub sets: Vec<Set>,
}

impl GlobPattern {
    /// `first`, then each set with the literal after it. `url_prefix` puts
    /// `http://[::1]:80/` in front (what real patterns look like, IPv6 host
    /// included); `trailing_backslash` ends the pattern with a lone `\`.
    pub fn new(
        first: Literal,
        rest: Vec<(Set, Literal)>,
        trailing_backslash: bool,
        url_prefix: bool,
    ) -> GlobPattern {
        let mut literals = vec![first];
        if url_prefix {
            let host = "http://[::1]:80/";
            literals[0].source.insert_str(0, host);
            literals[0].meaning.insert_str(0, host);
        }
        let mut sets = Vec::new();
        for (set, literal) in rest {
            sets.push(set);
            literals.push(literal);
        }
        if trailing_backslash {
            let last = literals.last_mut().expect("one literal at least");
            last.source.push('\\');
            last.meaning.push('\\');
        }
        GlobPattern { literals, sets }
    }

    /// The pattern as written.
    pub fn source(&self) -> String {
        let mut out = self.literals[0].source.clone();
        for (set, literal) in self.sets.iter().zip(&self.literals[1..]) {
            out.push_str(&set.source());
            out.push_str(&literal.source);
        }
        out
    }

    /// The skeleton with `values` substituted, in order.
    pub fn fill(&self, values: &[String]) -> String {
        let mut out = self.literals[0].meaning.clone();
        for (value, literal) in values.iter().zip(&self.literals[1..]) {
            out.push_str(value);
            out.push_str(&literal.meaning);
        }
        out
    }

    /// Product of the set sizes, saturating at u64::MAX.
    pub fn count(&self) -> u64 {
        self.sets
            .iter()
            .try_fold(1u128, |acc, s| acc.checked_mul(s.size()))
            .and_then(|c| u64::try_from(c).ok())
            .unwrap_or(u64::MAX)
    }

    /// The `k`th expansion (0-based): leftmost set varying slowest.
    pub fn expansion(&self, mut k: u128) -> (String, Vec<String>) {
        let mut values = vec![String::new(); self.sets.len()];
        for (value, set) in values.iter_mut().zip(&self.sets).rev() {
            *value = set.value(k % set.size());
            k /= set.size();
        }
        assert_eq!(k, 0, "expansion past the end");
        (self.fill(&values), values)
    }

    /// `expand` with `limit` agrees with the model: it parses, the count is
    /// the product of the set sizes, the expansions are the first `limit`
    /// of the model's, each one's values fill the skeleton to its text; and
    /// [`check_expand`] holds.
    #[track_caller]
    pub fn check(&self, limit: usize) {
        let source = self.source();
        let (count, items) =
            expand(&source, limit).unwrap_or_else(|e| panic!("{source:?} should parse: {e}"));
        assert_eq!(count, self.count(), "count of {source:?}");
        let want = usize::try_from(count).unwrap_or(usize::MAX).min(limit);
        assert_eq!(items.len(), want, "expansions of {source:?}");
        for (k, (text, values)) in items.iter().enumerate() {
            assert_eq!(values.len(), self.sets.len(), "{source:?}");
            assert_eq!(&self.fill(values), text, "{source:?} #{k}");
            let (want_text, want_values) = self.expansion(k as u128);
            assert_eq!(values, &want_values, "{source:?} #{k}");
            assert_eq!(text, &want_text, "{source:?} #{k}");
        }
        check_expand(&source, limit);
    }
}
