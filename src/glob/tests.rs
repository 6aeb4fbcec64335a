//! Table tests for glob parsing and expansion (ranges, padding, steps,
//! lists, escapes, IPv6 literals, the cap, lazy `nth` jumps).

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
fn a_line_without_glob_characters_is_one_literal() {
    // The fast path of `parse` must give what the scan gives: one literal,
    // every character kept (percent escapes, IPv6-free hosts, Unicode).
    for text in [
        "http://h/a/b.bin",
        "https://example.com:8443/x%5By%5D?q=1&r=%7B#frag",
        "http://h/é/ü.txt",
        "",
    ] {
        let p = Pattern::parse(text).unwrap();
        assert_eq!(p.glob_count(), 0, "{text}");
        assert_eq!(p.len(), 1, "{text}");
        let got: Vec<Expansion> = p.into_iter().collect();
        assert_eq!(
            got,
            vec![Expansion {
                text: text.to_string(),
                values: vec![]
            }],
            "{text}"
        );
    }
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
