//! Globs (`[1-5]`, `[08-10]`, `[a-c]`, `[1-9:4]`, `{a,b}`, `-g`) and `-o`
//! templates (`{name}`, `{path}`, `{host}`, `{n}`, `{1}` `{2}`), checked by
//! what the server was asked for and what landed on disk.
//!
//! Not here: refusal of names that escape `-d` (naming.rs).

use hyper::StatusCode;
use tempfile::TempDir;

use crate::support::{assert_tree_eq, expected, haul_in, run, server, tree, write_list};

fn numbered(paths: &[&str]) -> Vec<(String, Vec<u8>)> {
    paths
        .iter()
        .map(|p| (p.to_string(), format!("content of {p}\n").into_bytes()))
        .collect()
}

#[test]
fn range_glob_expands_in_order() {
    let files = numbered(&["/f1.txt", "/f2.txt", "/f3.txt", "/f4.txt", "/f5.txt"]);
    let server = server::files(files.clone());
    let tmp = TempDir::new().unwrap();

    let out = run(haul_in(tmp.path()).args([&server.url("/f[1-5].txt"), "-d", "out"]));

    out.assert_code(0).assert_summary(5, 0, 0);
    let want = files
        .iter()
        .map(|(p, b)| (p[1..].to_string(), b.clone()))
        .collect();
    assert_tree_eq(&tree(&tmp.path().join("out")), &want);
    assert_eq!(
        server.uris_sorted(),
        ["/f1.txt", "/f2.txt", "/f3.txt", "/f4.txt", "/f5.txt"]
    );
}

#[test]
fn brace_glob_with_capture_in_template() {
    let server = server::files([
        ("/a/data.txt", b"from a".to_vec()),
        ("/b/data.txt", b"from b".to_vec()),
    ]);
    let tmp = TempDir::new().unwrap();

    let out = run(haul_in(tmp.path()).args([
        &server.url("/{a,b}/data.txt"),
        "-o",
        "{1}-{name}",
        "-d",
        "out",
    ]));

    out.assert_code(0).assert_summary(2, 0, 0);
    assert_tree_eq(
        &tree(&tmp.path().join("out")),
        &expected([("a-data.txt", &b"from a"[..]), ("b-data.txt", b"from b")]),
    );
}

#[test]
fn zero_padded_range_keeps_its_width_in_url_and_capture() {
    let server = server::files(numbered(&["/img/08.png", "/img/09.png", "/img/10.png"]));
    let tmp = TempDir::new().unwrap();

    let out = run(haul_in(tmp.path()).args([
        &server.url("/img/[08-10].png"),
        "-o",
        "pic-{1}.png",
        "-d",
        "out",
    ]));

    out.assert_code(0);
    let names: Vec<_> = tree(&tmp.path().join("out")).into_keys().collect();
    assert_eq!(names, ["pic-08.png", "pic-09.png", "pic-10.png"]);
    assert_eq!(
        server.uris_sorted(),
        ["/img/08.png", "/img/09.png", "/img/10.png"]
    );
}

#[test]
fn stepped_and_letter_ranges() {
    let server = server::files(numbered(&[
        "/n1.txt", "/n5.txt", "/n9.txt", "/la.txt", "/lb.txt", "/lc.txt",
    ]));
    let tmp = TempDir::new().unwrap();

    let out = run(haul_in(tmp.path()).args([
        &server.url("/n[1-9:4].txt"),
        &server.url("/l[a-c].txt"),
        "-d",
        "out",
    ]));

    out.assert_code(0).assert_summary(6, 0, 0);
    assert_eq!(
        server.uris_sorted(),
        [
            "/la.txt", "/lb.txt", "/lc.txt", "/n1.txt", "/n5.txt", "/n9.txt"
        ]
    );
    let names: Vec<_> = tree(&tmp.path().join("out")).into_keys().collect();
    assert_eq!(
        names,
        ["la.txt", "lb.txt", "lc.txt", "n1.txt", "n5.txt", "n9.txt"]
    );
}

#[test]
fn two_globs_are_a_cartesian_product_leftmost_slowest() {
    let server = server::files(numbered(&["/1/x.txt", "/1/y.txt", "/2/x.txt", "/2/y.txt"]));
    let tmp = TempDir::new().unwrap();

    let out = run(haul_in(tmp.path()).args([
        &server.url("/[1-2]/{x,y}.txt"),
        "-o",
        "{n}-{1}{2}.txt",
        "-d",
        "out",
    ]));

    out.assert_code(0).assert_summary(4, 0, 0);
    assert_tree_eq(
        &tree(&tmp.path().join("out")),
        &expected([
            ("1-1x.txt", &b"content of /1/x.txt\n"[..]),
            ("2-1y.txt", b"content of /1/y.txt\n"),
            ("3-2x.txt", b"content of /2/x.txt\n"),
            ("4-2y.txt", b"content of /2/y.txt\n"),
        ]),
    );
}

#[test]
fn globoff_sends_brackets_and_braces_literally() {
    let server = server::http(|_req| async { server::ok("literal") });
    let tmp = TempDir::new().unwrap();

    let out = run(haul_in(tmp.path()).args([
        "-g",
        &server.url("/{a,b}.txt"),
        "-o",
        "literal.txt",
        "-d",
        "out",
    ]));

    out.assert_code(0);
    assert_eq!(server.hits(), 1, "-g must not expand the glob");
    let uri = &server.requests()[0].uri;
    // The comma goes as it is, not as `%2C`.
    assert!(
        uri.contains("a,b"),
        "the literal braces should reach the server: {uri}"
    );
    assert_tree_eq(
        &tree(&tmp.path().join("out")),
        &expected([("literal.txt", &b"literal"[..])]),
    );
}

#[test]
fn path_placeholder_keeps_folders() {
    let server = server::files([("/a/b/c.txt", b"deep".to_vec())]);
    let tmp = TempDir::new().unwrap();

    let out =
        run(haul_in(tmp.path()).args([&server.url("/a/b/c.txt"), "-o", "{path}", "-d", "out"]));

    out.assert_code(0);
    assert_tree_eq(
        &tree(&tmp.path().join("out")),
        &expected([("a/b/c.txt", &b"deep"[..])]),
    );
}

#[test]
fn host_placeholder() {
    let server = server::files([("/a/c.txt", b"hosted".to_vec())]);
    let tmp = TempDir::new().unwrap();

    let out = run(haul_in(tmp.path()).args([
        &server.url("/a/c.txt"),
        "-o",
        "{host}/{name}",
        "-d",
        "out",
    ]));

    out.assert_code(0);
    // `{host}` is the host name alone, without the port.
    assert_tree_eq(
        &tree(&tmp.path().join("out")),
        &expected([("127.0.0.1/c.txt", &b"hosted"[..])]),
    );
}

#[test]
fn n_placeholder_numbers_urls_in_input_order() {
    let server = server::files([
        ("/c.txt", b"third-ish".to_vec()),
        ("/a.txt", b"alpha".to_vec()),
        ("/b.txt", b"beta".to_vec()),
    ]);
    let tmp = TempDir::new().unwrap();

    let out = run(haul_in(tmp.path()).args([
        &server.url("/c.txt"),
        &server.url("/a.txt"),
        &server.url("/b.txt"),
        "-o",
        "{n}.bin",
        "-d",
        "out",
    ]));

    out.assert_code(0);
    assert_tree_eq(
        &tree(&tmp.path().join("out")),
        &expected([
            ("1.bin", &b"third-ish"[..]),
            ("2.bin", b"alpha"),
            ("3.bin", b"beta"),
        ]),
    );
}

#[test]
fn n_counts_arguments_first_then_lists_and_skips_comments_and_bad_lines() {
    let server = server::files([
        ("/p.txt", b"P".to_vec()),
        ("/g1.txt", b"G1".to_vec()),
        ("/g2.txt", b"G2".to_vec()),
        ("/z.txt", b"Z".to_vec()),
    ]);
    let tmp = TempDir::new().unwrap();
    write_list(
        tmp.path(),
        "urls.txt",
        &[
            "# comment".to_string(),
            String::new(),
            server.url("/g[1-2].txt"),
            "bogus line".to_string(),
            server.url("/z.txt"),
        ],
    );

    let out = run(haul_in(tmp.path()).args([
        "-i",
        "urls.txt",
        &server.url("/p.txt"),
        "-o",
        "{n}-{name}",
        "-d",
        "out",
    ]));

    out.assert_code(1).assert_summary(4, 0, 1);
    assert_tree_eq(
        &tree(&tmp.path().join("out")),
        &expected([
            ("1-p.txt", &b"P"[..]),
            ("2-g1.txt", b"G1"),
            ("3-g2.txt", b"G2"),
            ("4-z.txt", b"Z"),
        ]),
    );
}

#[test]
fn empty_last_segment_is_named_index_html() {
    let server = server::http(|req| async move {
        match req.uri().path() {
            "/" => server::ok("root page"),
            "/dir/" => server::ok("dir page"),
            _ => server::status(StatusCode::NOT_FOUND),
        }
    });
    let tmp = TempDir::new().unwrap();

    let out = run(haul_in(tmp.path()).args([&server.url("/"), "-d", "root"]));
    out.assert_code(0);
    let out = run(haul_in(tmp.path()).args([&server.url("/dir/"), "-d", "dir"]));
    out.assert_code(0);

    assert_tree_eq(
        &tree(tmp.path()),
        &expected([
            ("root/index.html", &b"root page"[..]),
            ("dir/index.html", b"dir page"),
        ]),
    );
}

#[test]
fn query_string_is_sent_but_not_part_of_the_name() {
    let server = server::files([("/a.txt", b"alpha".to_vec())]);
    let tmp = TempDir::new().unwrap();

    let out = run(haul_in(tmp.path()).args([&server.url("/a.txt?x=1&y=2"), "-d", "out"]));

    out.assert_code(0);
    assert_eq!(server.uris_sorted(), ["/a.txt?x=1&y=2"]);
    assert_tree_eq(
        &tree(&tmp.path().join("out")),
        &expected([("a.txt", &b"alpha"[..])]),
    );
}
