//! Property tests for the parsers that read untrusted input, through
//! `haul::testing`: list lines, curl-style globs, output templates with the
//! path-safety check, and `Content-Disposition` names. No binary, no server:
//! each property runs a bounded number of cases so the file stays fast in
//! debug builds. The same invariants are fuzzed by the targets in `fuzz/`.
//!
//! Not here: how the binary acts on what these parsers return (template.rs,
//! naming.rs, list.rs).

use std::path::{Component, Path, PathBuf};

use haul::testing::{content_disposition_name, destination, expand, parse_line, safe_relative};
use proptest::collection::vec;
use proptest::prelude::*;
use proptest::sample::select;

/// A bounded number of cases (`PROPTEST_CASES=N` overrides it, for a
/// longer search), and no regression files written next to the sources (a
/// found case belongs in a named regression test below).
fn config(cases: u32) -> ProptestConfig {
    let default = ProptestConfig::default();
    let cases = if std::env::var_os("PROPTEST_CASES").is_some() {
        default.cases
    } else {
        cases
    };
    ProptestConfig {
        cases,
        failure_persistence: None,
        ..default
    }
}

// ---------------------------------------------------------------------------
// Invariants, shared by the properties (and mirrored in fuzz/src/lib.rs).

/// A destination that stays inside `--dir`: relative, not empty, and made of
/// plain names only (no `..`, no root, no prefix, no `.`), none with a NUL.
#[track_caller]
fn assert_safe_path(path: &Path, what: &str) {
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
fn joined(path: &Path) -> String {
    path.components()
        .map(|c| c.as_os_str().to_str().expect("paths built from str"))
        .collect::<Vec<_>>()
        .join("/")
}

/// `safe_relative`: Ok results are safe and it is idempotent on them.
#[track_caller]
fn check_safe_relative(name: &str) -> Result<PathBuf, String> {
    let got = safe_relative(name);
    if let Ok(path) = &got {
        assert_safe_path(path, &format!("safe_relative({name:?})"));
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
fn check_destination(template: &str, url: &str, n: u64, globs: &[String]) {
    if let Ok(path) = destination(template, url, n, globs) {
        assert_safe_path(
            &path,
            &format!("destination({template:?}, {url:?}, {n}, {globs:?})"),
        );
        let again = joined(&path);
        assert_eq!(safe_relative(&again).as_ref(), Ok(&path), "{again:?}");
    }
}

/// `parse_line`: `None` exactly for blanks and comments; an entry's URL is
/// the first whitespace-separated word and its fields are whole words.
#[track_caller]
fn check_line(text: &str) {
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

/// `expand`: what holds for any pattern that parses.
#[track_caller]
fn check_expand(pattern: &str, limit: usize) {
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

/// `content_disposition_name`: a single plain name, which `safe_relative`
/// takes as is unless it holds a NUL (the caller refuses that).
#[track_caller]
fn check_content_disposition(header: &str) {
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
// Strategies.

/// Pieces of the grammars the parsers read (globs, templates, list fields,
/// URL escapes, header parameters).
const PIECES: &[&str] = &[
    "[",
    "]",
    "{",
    "}",
    "-",
    ":",
    ",",
    "\\",
    "0",
    "1",
    "9",
    "007",
    "18446744073709551615",
    "18446744073709551616",
    "a",
    "z",
    "A",
    "Z",
    "%",
    "%2e",
    "%2E",
    "%2f",
    "%2F",
    "%00",
    "%5c",
    "..",
    ".",
    "/",
    "\0",
    "=",
    "#",
    " ",
    "\t",
    "\r\n",
    "{name}",
    "{path}",
    "{host}",
    "{n}",
    "{1}",
    "{2}",
    "{{",
    "}}",
    "out=",
    "sha256=",
    "http://",
    "https://h/",
    "::1",
    "%25eth0",
    "é",
    "\u{a0}",
    ";",
    "\"",
    "'",
    "filename=",
    "filename*=",
    "UTF-8''",
    "attachment",
];

fn grammar_string() -> impl Strategy<Value = String> {
    vec(
        prop_oneof![
            4 => select(PIECES).prop_map(str::to_string),
            1 => any::<char>().prop_map(String::from),
        ],
        0..24,
    )
    .prop_map(|pieces| pieces.concat())
}

/// Arbitrary text, half of it built from grammar pieces.
fn text() -> impl Strategy<Value = String> {
    prop_oneof![any::<String>(), grammar_string()]
}

/// URL path segments, with dot segments and separators percent-encoded.
fn segment() -> impl Strategy<Value = String> {
    prop_oneof![
        2 => select(&[
            "", ".", "..", "...", "%2e", "%2e%2e", "%2E%2E", ".%2e", "%2e.", "%2f", "%2F",
            "..%2f", "..%2F..", "%2f..%2f", "%2F%2e%2e%2Fetc", "%5c..%5c", "%00", "a%00b",
            "%20", "%ff", "%", "C:", "~", "a", "b.txt", "index.html", "%E2%80%AE",
        ][..])
        .prop_map(str::to_string),
        1 => text(),
    ]
}

fn url() -> impl Strategy<Value = String> {
    (
        select(&["http", "https", "HTTP", "ftp"][..]),
        select(
            &[
                "h",
                "example.com:8080",
                "[::1]",
                "127.0.0.1",
                "xn--n3h.de",
                "..",
                "%2e%2e",
            ][..],
        ),
        vec(segment(), 0..5),
        proptest::option::of(text()),
        proptest::option::of(text()),
    )
        .prop_map(|(scheme, host, segments, query, fragment)| {
            let mut url = format!("{scheme}://{host}/{}", segments.join("/"));
            if let Some(query) = query {
                url = format!("{url}?{query}");
            }
            if let Some(fragment) = fragment {
                url = format!("{url}#{fragment}");
            }
            url
        })
}

/// Output templates: placeholders mixed with hostile literal text.
fn template() -> impl Strategy<Value = String> {
    vec(
        prop_oneof![
            3 => select(&[
                "{name}", "{path}", "{host}", "{n}", "{1}", "{2}", "{3}", "{{", "}}", "/",
                "..", "../", "./", ".", "\0", "a", "%2e", "\\", "C:", "~",
            ][..])
            .prop_map(str::to_string),
            1 => text(),
        ],
        1..6,
    )
    .prop_map(|parts| parts.concat())
}

fn glob_value() -> impl Strategy<Value = String> {
    prop_oneof![
        select(
            &[
                "", ".", "..", "/", "../x", "a/..", "x/", "/etc", "\0", "a", "01"
            ][..]
        )
        .prop_map(str::to_string),
        text(),
    ]
}

/// Path names made of hostile components.
fn name() -> impl Strategy<Value = String> {
    prop_oneof![
        (
            any::<bool>(),
            vec(
                prop_oneof![
                    3 => select(&[
                        "", ".", "..", "...", "a", "b c", "..a", "a..", "\\", "..\\..", "C:", "~",
                        "\0", " ..", ".. ",
                    ][..])
                    .prop_map(str::to_string),
                    1 => text(),
                ],
                0..6,
            ),
        )
            .prop_map(|(rooted, parts)| {
                let name = parts.join("/");
                if rooted { format!("/{name}") } else { name }
            }),
        text(),
    ]
}

// ---------------------------------------------------------------------------
// No input panics any parser.

proptest! {
    #![proptest_config(config(512))]

    #[test]
    fn no_parser_panics(
        text in text(),
        other in text(),
        globs in vec(text(), 0..4),
        n in any::<u64>(),
        limit in 0usize..40,
    ) {
        check_line(&text);
        check_expand(&text, limit);
        check_destination(&text, &other, n, &globs);
        check_destination(&text, &format!("http://h/{other}"), n, &globs);
        let _ = check_safe_relative(&text);
        check_content_disposition(&text);
        check_content_disposition(&format!("attachment; filename={other}"));
    }
}

// ---------------------------------------------------------------------------
// Destinations never leave --dir.

proptest! {
    #![proptest_config(config(1024))]

    #[test]
    fn destinations_are_safe_relative_paths(
        template in template(),
        url in url(),
        n in any::<u64>(),
        globs in vec(glob_value(), 0..4),
    ) {
        check_destination(&template, &url, n, &globs);
    }

    /// An independent model of `safe_relative` (on Unix, where `/` is the
    /// only separator): refused for NUL, a leading or trailing `/`, any `..`
    /// component, or nothing left once `.` and empty components are dropped;
    /// otherwise those remaining components, in order.
    #[test]
    fn safe_relative_matches_model(name in name()) {
        let got = check_safe_relative(&name);
        let kept: Vec<&str> = name.split('/').filter(|c| !matches!(*c, "" | ".")).collect();
        let refused = name.contains('\0')
            || name.starts_with('/')
            || name.ends_with('/')
            || name.split('/').any(|c| c == "..")
            || kept.is_empty();
        if cfg!(unix) {
            if refused {
                prop_assert!(got.is_err(), "{:?} -> {:?}", name, got);
            } else {
                prop_assert_eq!(got, Ok(kept.iter().collect::<PathBuf>()), "{:?}", name);
            }
        }
    }
}

// ---------------------------------------------------------------------------
// Glob expansion against an independent model.

fn is_escapable(c: char) -> bool {
    matches!(c, '[' | ']' | '{' | '}' | ',' | '\\')
}

/// Literal text as written in a pattern and what it means: every special
/// character escaped, plus backslashes before ordinary characters (which
/// stay backslashes).
#[derive(Debug, Clone, Default)]
struct Literal {
    source: String,
    meaning: String,
}

impl Literal {
    fn push_char(&mut self, c: char) {
        if is_escapable(c) {
            self.source.push('\\');
        }
        self.source.push(c);
        self.meaning.push(c);
    }

    fn push_raw_backslash(&mut self, next: char) {
        debug_assert!(!is_escapable(next));
        for out in [&mut self.source, &mut self.meaning] {
            out.push('\\');
            out.push(next);
        }
    }
}

fn literal() -> impl Strategy<Value = Literal> {
    let plain = prop_oneof![
        3 => select(&[
            'a', 'Z', '0', '9', '/', ':', '.', '-', '%', '?', '&', '=', '#', ' ', 'é', '\0',
            '[', ']', '{', '}', ',', '\\',
        ][..]),
        1 => any::<char>(),
    ];
    let token = prop_oneof![
        4 => plain.clone().prop_map(|c| (false, c)),
        1 => plain.prop_filter("ordinary", |c| !is_escapable(*c)).prop_map(|c| (true, c)),
    ];
    vec(token, 0..6).prop_map(|tokens| {
        let mut literal = Literal::default();
        for (raw_backslash, c) in tokens {
            if raw_backslash {
                literal.push_raw_backslash(c);
            } else {
                literal.push_char(c);
            }
        }
        literal
    })
}

#[derive(Debug, Clone)]
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

impl Set {
    fn source(&self) -> String {
        let suffix = |step: &Option<u64>| step.map(|s| format!(":{s}")).unwrap_or_default();
        match self {
            Set::Numbers {
                step,
                start_text,
                end_text,
                ..
            } => format!("[{start_text}-{end_text}{}]", suffix(step)),
            Set::Letters {
                start,
                end,
                step: s,
            } => {
                format!("[{}-{}{}]", char::from(*start), char::from(*end), suffix(s))
            }
            Set::List(items) => {
                let items: Vec<&str> = items.iter().map(|i| i.source.as_str()).collect();
                format!("{{{}}}", items.join(","))
            }
        }
    }

    /// How many values the set has (up to 2^64).
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

    /// The value at `index` (below `size()`): zero padded to the width of
    /// the start when the start is written with a leading zero.
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

fn step() -> impl Strategy<Value = Option<u64>> {
    proptest::option::of(prop_oneof![
        4 => 1u64..12,
        1 => select(&[25, 26, 100, 1 << 63, u64::MAX][..]),
    ])
}

fn numbers() -> impl Strategy<Value = Set> {
    let bounds = prop_oneof![
        4 => (0u64..1000, 0u64..40).prop_map(|(s, len)| (s, s + len)),
        1 => (0u64..50, 0u64..50)
            .prop_map(|(a, b)| (u64::MAX - a.max(b), u64::MAX - a.min(b))),
        1 => (0u64..3).prop_map(|s| (s, u64::MAX)),
    ];
    (bounds, step(), 0usize..4, 0usize..3).prop_map(|((start, end), step, pad, end_pad)| {
        let start_text = format!("{start:0w$}", w = start.to_string().len() + pad);
        let end_text = format!("{end:0w$}", w = end.to_string().len() + end_pad);
        Set::Numbers {
            start,
            end,
            step,
            start_text,
            end_text,
        }
    })
}

fn letters() -> impl Strategy<Value = Set> {
    (any::<bool>(), 0u8..26, 0u8..26, step()).prop_map(|(upper, a, b, step)| {
        let base = if upper { b'A' } else { b'a' };
        Set::Letters {
            start: base + a.min(b),
            end: base + a.max(b),
            step,
        }
    })
}

fn set() -> impl Strategy<Value = Set> {
    prop_oneof![
        2 => numbers(),
        1 => letters(),
        2 => vec(literal(), 1..5).prop_map(Set::List),
    ]
}

/// A valid pattern: literal pieces around glob sets, maybe ending with a
/// lone backslash.
#[derive(Debug, Clone)]
struct GlobPattern {
    literals: Vec<Literal>,
    sets: Vec<Set>,
}

impl GlobPattern {
    fn source(&self) -> String {
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
}

fn glob_pattern() -> impl Strategy<Value = GlobPattern> {
    (
        literal(),
        vec((set(), literal()), 0..4),
        any::<bool>(),
        any::<bool>(),
    )
        .prop_map(|(first, rest, trailing_backslash, url_prefix)| {
            let mut literals = vec![first];
            if url_prefix {
                // What real patterns look like, IPv6 host included.
                let host = Literal {
                    source: "http://[::1]:80/".into(),
                    meaning: "http://[::1]:80/".into(),
                };
                literals[0] = Literal {
                    source: host.source + &literals[0].source,
                    meaning: host.meaning + &literals[0].meaning,
                };
            }
            let mut sets = Vec::new();
            for (set, literal) in rest {
                sets.push(set);
                literals.push(literal);
            }
            if trailing_backslash {
                let last = literals.last_mut().unwrap();
                last.source.push('\\');
                last.meaning.push('\\');
            }
            GlobPattern { literals, sets }
        })
}

proptest! {
    #![proptest_config(config(512))]

    #[test]
    fn globs_expand_like_the_model(pattern in glob_pattern(), limit in 0usize..50) {
        let source = pattern.source();
        let (count, items) = expand(&source, limit)
            .unwrap_or_else(|e| panic!("{source:?} should parse: {e}"));
        prop_assert_eq!(count, pattern.count(), "count of {:?}", source);
        let want = usize::try_from(count).unwrap_or(usize::MAX).min(limit);
        prop_assert_eq!(items.len(), want, "expansions of {:?}", source);
        for (k, (text, values)) in items.iter().enumerate() {
            prop_assert_eq!(values.len(), pattern.sets.len(), "{:?}", source);
            prop_assert_eq!(&pattern.fill(values), text, "{:?} #{}", source, k);
            let (want_text, want_values) = pattern.expansion(k as u128);
            prop_assert_eq!(values, &want_values, "{:?} #{}", source, k);
            prop_assert_eq!(text, &want_text, "{:?} #{}", source, k);
        }
        check_expand(&source, limit);
    }
}

// ---------------------------------------------------------------------------
// List lines.

/// Characters `str::trim` and `split_whitespace` treat as whitespace.
const SPACES: &[char] = &[
    ' ', '\t', '\r', '\n', '\u{b}', '\u{c}', '\u{85}', '\u{a0}', '\u{2003}', '\u{2028}', '\u{3000}',
];

fn spaces(min: usize) -> impl Strategy<Value = String> {
    vec(select(SPACES), min..min + 4).prop_map(|s| s.into_iter().collect())
}

/// One whitespace-free word.
fn word() -> impl Strategy<Value = String> {
    let c = prop_oneof![
        3 => select(&['a', '/', ':', '.', '#', '=', '%', '[', '{', '1', '\0', 'é'][..]),
        1 => any::<char>().prop_filter("not whitespace", |c| !c.is_whitespace()),
    ];
    vec(c, 1..16).prop_map(|c| c.into_iter().collect())
}

fn list_url() -> impl Strategy<Value = String> {
    prop_oneof![
        word().prop_map(|w| format!("https://h/{w}")),
        word().prop_filter("not a comment", |w| !w.starts_with('#')),
    ]
}

fn hex_digest() -> impl Strategy<Value = ([u8; 32], String)> {
    (any::<[u8; 32]>(), vec(any::<bool>(), 64)).prop_map(|(digest, upper)| {
        let hex: String = hex_lower(&digest)
            .chars()
            .zip(upper)
            .map(|(c, up)| if up { c.to_ascii_uppercase() } else { c })
            .collect();
        (digest, hex)
    })
}

fn hex_lower(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

proptest! {
    #![proptest_config(config(512))]

    #[test]
    fn list_lines_round_trip(
        url in list_url(),
        out in proptest::option::of(word()),
        sha in proptest::option::of(hex_digest()),
        sha_first in any::<bool>(),
        lead in spaces(0),
        gaps in (spaces(1), spaces(1)),
        trail in spaces(0),
    ) {
        let mut fields = Vec::new();
        if let Some(out) = &out {
            fields.push(format!("out={out}"));
        }
        if let Some((_, hex)) = &sha {
            fields.push(format!("sha256={hex}"));
        }
        if sha_first {
            fields.reverse();
        }
        let mut line = format!("{lead}{url}");
        for (field, gap) in fields.iter().zip([&gaps.0, &gaps.1]) {
            line.push_str(gap);
            line.push_str(field);
        }
        line.push_str(&trail);
        let want = (url, out, sha.map(|(digest, _)| digest));
        prop_assert_eq!(parse_line(&line), Some(Ok(want)), "{:?}", line);
        check_line(&line);
    }

    #[test]
    fn comments_and_blank_lines_are_skipped(
        lead in spaces(0),
        comment in proptest::option::of(text()),
    ) {
        let line = match comment {
            Some(comment) => format!("{lead}#{comment}"),
            None => lead,
        };
        prop_assert_eq!(parse_line(&line), None, "{:?}", line);
    }
}

// ---------------------------------------------------------------------------
// Content-Disposition.

fn percent_encode_all(text: &str) -> String {
    text.bytes().map(|b| format!("%{b:02X}")).collect()
}

proptest! {
    #![proptest_config(config(256))]

    #[test]
    fn content_disposition_names_round_trip(
        name in text().prop_filter("a plain file name", |n| {
            !n.is_empty()
                && n.trim() == n
                && !n.contains(['/', '\\'])
                && n != "."
                && n != ".."
        }),
        fallback in text(),
    ) {
        let quoted = name.replace('"', "\\\"");
        let plain = format!("attachment; filename=\"{quoted}\"");
        prop_assert_eq!(content_disposition_name(&plain), Some(name.clone()), "{:?}", plain);
        check_content_disposition(&plain);
        let fallback = fallback.replace(['"', '\\'], "_");
        let extended = format!(
            "attachment; filename=\"{fallback}\"; filename*=UTF-8''{}",
            percent_encode_all(&name)
        );
        prop_assert_eq!(content_disposition_name(&extended), Some(name), "{:?}", extended);
        check_content_disposition(&extended);
    }
}

// ---------------------------------------------------------------------------
// Anchors: the properties above are not vacuous.

#[test]
fn destinations_render_at_all() {
    let globs = ["a".to_string(), "01".to_string()];
    let cases = [
        ("{path}", "http://h/x/y.txt", "x/y.txt"),
        ("{host}/{1}-{2}-{n}", "http://h/", "h/a-01-7"),
        ("{name}", "http://h/%2e%2e", "index.html"),
        ("{name}", "http://h/a/%2e%2e/b", "b"),
    ];
    for (template, url, want) in cases {
        assert_eq!(
            destination(template, url, 7, &globs),
            Ok(PathBuf::from(want)),
            "{template} {url}"
        );
    }
    for (template, url) in [
        ("{name}", "http://h/..%2fetc"),
        ("{1}/x", "http://h/"),
        ("a/{n}/../../b", "http://h/"),
    ] {
        let globs = ["..".to_string()];
        assert!(
            destination(template, url, 1, &globs).is_err(),
            "{template} {url}"
        );
    }
}
