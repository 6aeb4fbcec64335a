//! Property tests for the parsers that read untrusted input, through
//! `haul::testing`: list lines, curl-style globs, output templates with the
//! path-safety check, `Content-Disposition` names, the names
//! `--trust-server-names` takes from a URL, and the collision
//! registry that keeps downloads from sharing a file. No binary, no server:
//! each property runs a bounded number of cases so the file stays fast in
//! debug builds. The same invariants are fuzzed by the targets in `fuzz/`:
//! the checkers and the glob model are one file, `fuzz/src/invariants.rs`,
//! included below; only the proptest strategies are here.
//!
//! Not here: how the binary acts on what these parsers return (template.rs,
//! naming.rs, list.rs).

use std::path::PathBuf;

use haul::testing::{content_disposition_name, destination, parse_line, url_file_name};
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
// Invariants and the glob model, shared with the fuzz targets: the `check_*`
// functions (and `check` methods) panic on a violation.

#[path = "../../fuzz/src/invariants.rs"]
mod invariants;

use invariants::{
    BIG_STEPS, GlobPattern, HOSTS, LITERAL_CHARS, LineCase, Literal, SPACES, Set, WORD_CHARS,
    check_claims, check_content_disposition, check_destination, check_expand, check_line,
    check_safe_relative, forbidden, hex_lower, is_escapable,
};

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
        select(&HOSTS[..]),
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
    /// only separator): refused for NUL or another control or bidirectional
    /// character, a leading or trailing `/`, any `..`
    /// component, or nothing left once `.` and empty components are dropped;
    /// otherwise those remaining components, in order.
    #[test]
    fn safe_relative_matches_model(name in name()) {
        let got = check_safe_relative(&name);
        let kept: Vec<&str> = name.split('/').filter(|c| !matches!(*c, "" | ".")).collect();
        let refused = name.contains('\0')
            || name.chars().any(forbidden)
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
// Glob expansion against an independent model (`GlobPattern`).

fn literal() -> impl Strategy<Value = Literal> {
    let plain = prop_oneof![
        3 => select(LITERAL_CHARS),
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

fn step() -> impl Strategy<Value = Option<u64>> {
    proptest::option::of(prop_oneof![
        4 => 1u64..12,
        1 => select(BIG_STEPS),
    ])
}

fn numbers() -> impl Strategy<Value = Set> {
    let bounds = prop_oneof![
        4 => (0u64..1000, 0u64..40).prop_map(|(s, len)| (s, s + len)),
        1 => (0u64..50, 0u64..50)
            .prop_map(|(a, b)| (u64::MAX - a.max(b), u64::MAX - a.min(b))),
        1 => (0u64..3).prop_map(|s| (s, u64::MAX)),
    ];
    (bounds, step(), 0usize..4, 0usize..3)
        .prop_map(|((start, end), step, pad, end_pad)| Set::numbers(start, end, step, pad, end_pad))
}

fn letters() -> impl Strategy<Value = Set> {
    (any::<bool>(), 0u8..26, 0u8..26, step())
        .prop_map(|(upper, a, b, step)| Set::letters(upper, a, b, step))
}

fn set() -> impl Strategy<Value = Set> {
    prop_oneof![
        2 => numbers(),
        1 => letters(),
        2 => vec(literal(), 1..5).prop_map(Set::List),
    ]
}

fn glob_pattern() -> impl Strategy<Value = GlobPattern> {
    (
        literal(),
        vec((set(), literal()), 0..4),
        any::<bool>(),
        any::<bool>(),
    )
        .prop_map(|(first, rest, trailing_backslash, url_prefix)| {
            GlobPattern::new(first, rest, trailing_backslash, url_prefix)
        })
}

proptest! {
    #![proptest_config(config(512))]

    #[test]
    fn globs_expand_like_the_model(pattern in glob_pattern(), limit in 0usize..50) {
        pattern.check(limit);
    }
}

// ---------------------------------------------------------------------------
// List lines.

fn spaces(min: usize) -> impl Strategy<Value = String> {
    vec(select(SPACES), min..min + 4).prop_map(|s| s.into_iter().collect())
}

/// One whitespace-free word.
fn word() -> impl Strategy<Value = String> {
    let c = prop_oneof![
        3 => select(WORD_CHARS),
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
        LineCase::assemble(url, out, sha, sha_first, [&lead, &gaps.0, &gaps.1, &trail]).check();
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
                && !n.chars().any(forbidden)
        }),
        fallback in text(),
    ) {
        let quoted = name.replace('"', "\\\"");
        let plain = format!("attachment; filename=\"{quoted}\"");
        prop_assert_eq!(content_disposition_name(&plain), Some(Ok(name.clone())), "{:?}", plain);
        check_content_disposition(&plain);
        let fallback = fallback.replace(['"', '\\'], "_");
        let extended = format!(
            "attachment; filename=\"{fallback}\"; filename*=UTF-8''{}",
            percent_encode_all(&name)
        );
        prop_assert_eq!(content_disposition_name(&extended), Some(Ok(name)), "{:?}", extended);
        check_content_disposition(&extended);
    }
}

// ---------------------------------------------------------------------------
// The last URL of a redirect chain (`--trust-server-names`).

proptest! {
    #![proptest_config(config(256))]

    /// Whatever the last segment decodes to (arbitrary text, or the
    /// hostile segments `segment()` builds from dot segments and encoded
    /// separators), the name is one plain component that `safe_relative`
    /// takes as is, or refused; and a plain name, however encoded, comes
    /// back unchanged.
    #[test]
    fn redirect_names_are_one_plain_component(
        segment in text(),
        encode_all in any::<bool>(),
        hostile in vec(segment(), 1..4),
    ) {
        let encoded = if encode_all {
            percent_encode_all(&segment)
        } else {
            segment.replace('%', "%25").replace(['/', '?', '#'], "_")
        };
        for url in [
            format!("http://h/dir/{encoded}"),
            format!("http://h/dir/{}", hostile.join("/")),
        ] {
            check_redirect_name(&url);
        }
        let plain = !segment.is_empty()
            && !segment.contains(['/', '\\'])
            && segment != "."
            && segment != ".."
            && !segment.chars().any(forbidden);
        if plain && encode_all {
            let url = format!("http://h/dir/{encoded}");
            prop_assert_eq!(url_file_name(&url), Ok(segment), "{:?}", url);
        }
    }
}

/// `url_file_name`: an accepted name is a single plain component that
/// `safe_relative` takes as is; a refused one says so.
#[track_caller]
fn check_redirect_name(url: &str) {
    match url_file_name(url) {
        Ok(name) => {
            assert!(!name.contains(['/', '\\']), "{url:?} -> {name:?}");
            assert!(name != "." && name != "..", "{url:?} -> {name:?}");
            let path = check_safe_relative(&name)
                .unwrap_or_else(|err| panic!("{url:?} -> {name:?}: {err}"));
            assert_eq!(path, PathBuf::from(&name), "{url:?}");
        }
        Err(err) => assert!(err.contains("refusing destination"), "{url:?}: {err}"),
    }
}

// ---------------------------------------------------------------------------
// Claims: no two downloads share a file.

/// Names from a small pool, so that they collide in every way: equal, one
/// the other's `.part`, in other case or normalisation, through `./` and
/// `//`, in folders.
fn colliding_name() -> impl Strategy<Value = String> {
    let stem = select(
        &[
            "a", "A", "b", "\u{e9}", "e\u{301}", "\u{c9}", "\u{212a}", "k", "d/a",
        ][..],
    );
    let suffix = select(&["", ".part", ".PART", ".part.part", ".Part"][..]);
    let prefix = select(&["", "./", "d/", "d//", "D/"][..]);
    prop_oneof![
        8 => (prefix, stem, suffix).prop_map(|(p, s, x)| format!("{p}{s}{x}")),
        1 => text(),
    ]
}

proptest! {
    #![proptest_config(config(512))]

    #[test]
    fn claimed_names_never_share_a_file(
        names in vec(colliding_name(), 0..12),
        case_insensitive in any::<bool>(),
    ) {
        check_claims(&names, case_insensitive);
    }
}

#[test]
fn claims_collide_as_files_do() {
    let names: Vec<String> = ["x", "x.part", "X", "y.part", "y", "y.part.part"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    let got = haul::testing::claim_all(&names, false);
    let ok: Vec<bool> = got.iter().map(Result::is_ok).collect();
    assert_eq!(ok, [true, false, true, true, false, false]);
    let got = haul::testing::claim_all(&names, true);
    let ok: Vec<bool> = got.iter().map(Result::is_ok).collect();
    assert_eq!(ok, [true, false, false, true, false, false]);
    check_claims(&names, false);
    check_claims(&names, true);
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
