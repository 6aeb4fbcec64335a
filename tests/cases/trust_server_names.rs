//! `--trust-server-names` (contract, Output): a redirected download is named
//! after the last URL of its redirect chain, under the rules and the
//! collision registry of `--content-disposition`: only the last component
//! of the decoded segment is kept, a name that cannot be used fails the
//! URL, the first download to claim a name wins, and nothing lands outside
//! `-d`. A `Content-Disposition` name wins when both flags are given.
//!
//! Not here: `--content-disposition` alone (naming.rs, safety/).

use hyper::{Response, StatusCode};
use tempfile::TempDir;

use crate::support::server::{self, Body, ok, status, with_header};
use crate::support::{assert_tree_eq, expected, haul_in, record, run, tree};

/// A `302 Found` to `to`.
fn redirect(to: &str) -> Response<Body> {
    with_header(status(StatusCode::FOUND), "location", to)
}

/// A server that redirects `/start` to `target` and answers every other
/// path with the bytes `final bytes`.
fn redirecting_to(target: &'static str) -> server::Server {
    server::http(move |req| {
        let res = match req.uri().path() {
            "/start" => redirect(target),
            _ => ok("final bytes"),
        };
        async move { res }
    })
}

/// The main case: `/download` redirects to `/files/real-name.bin`, which is
/// the name the file gets (in the folder `-o` chose), and the report's
/// `path` is the path written. A URL that is not redirected keeps the name
/// `-o` gave it.
#[test]
fn trust_server_names_names_the_file_after_the_redirect_target() {
    let server = server::http(|req| {
        let res = match req.uri().path() {
            "/download" => redirect("/files/real-name.bin"),
            "/files/real-name.bin" => ok("the real bytes"),
            "/plain.bin" => ok("plain bytes"),
            _ => status(StatusCode::NOT_FOUND),
        };
        async move { res }
    });
    let tmp = TempDir::new().unwrap();
    let (redirected, plain) = (server.url("/download"), server.url("/plain.bin"));

    let out = run(haul_in(tmp.path()).args([
        &redirected,
        &plain,
        "--trust-server-names",
        "-o",
        "sub/{n}",
        "-d",
        "out",
        "-j1",
        "--report",
        "-",
    ]));

    out.assert_code(0).assert_summary(2, 0, 0);
    assert_tree_eq(
        &tree(tmp.path()),
        &expected([
            ("out/sub/real-name.bin", &b"the real bytes"[..]),
            ("out/sub/2", b"plain bytes"),
        ]),
    );
    let records = out.stdout_report();
    assert_eq!(
        record(&records, &redirected)["path"],
        "out/sub/real-name.bin"
    );
    assert_eq!(record(&records, &plain)["path"], "out/sub/2");
}

/// Without a redirect the final URL is the planned one: the default
/// `{name}` is kept, with the flag as without it.
#[test]
fn trust_server_names_keeps_the_url_name_without_a_redirect() {
    let server = server::files([("/files/kept.bin", b"kept".to_vec())]);
    let tmp = TempDir::new().unwrap();

    let out = run(haul_in(tmp.path()).args([
        &server.url("/files/kept.bin"),
        "--trust-server-names",
        "-d",
        "out",
    ]));

    out.assert_code(0).assert_summary(1, 0, 0);
    assert_tree_eq(
        &tree(tmp.path()),
        &expected([("out/kept.bin", &b"kept"[..])]),
    );
}

/// A chain of three redirects: the name is the last URL's, none of the
/// ones on the way.
#[test]
fn trust_server_names_uses_the_last_url_of_a_redirect_chain() {
    let server = server::http(|req| {
        let res = match req.uri().path() {
            "/first.bin" => redirect("/second.bin"),
            "/second.bin" => redirect("/third.bin"),
            "/third.bin" => redirect("/deep/last.bin?sig=abc"),
            "/deep/last.bin" => ok("last bytes"),
            _ => status(StatusCode::NOT_FOUND),
        };
        async move { res }
    });
    let tmp = TempDir::new().unwrap();

    let out = run(haul_in(tmp.path()).args([
        &server.url("/first.bin"),
        "--trust-server-names",
        "-d",
        "out",
    ]));

    out.assert_code(0).assert_summary(1, 0, 0);
    assert_tree_eq(
        &tree(tmp.path()),
        &expected([("out/last.bin", &b"last bytes"[..])]),
    );
    assert_eq!(server.hits(), 4);
}

/// Two URLs redirected to one final name (from different folders): the
/// first claims it, the second fails naming the path and the earlier URL,
/// and the first file is not overwritten.
#[test]
fn trust_server_names_claims_a_redirect_name_once() {
    let server = server::http(|req| {
        let res = match req.uri().path() {
            "/one" => redirect("/x/same.bin"),
            "/two" => redirect("/y/same.bin"),
            "/x/same.bin" => ok("bytes of x"),
            "/y/same.bin" => ok("bytes of y"),
            _ => status(StatusCode::NOT_FOUND),
        };
        async move { res }
    });
    let tmp = TempDir::new().unwrap();
    let (one, two) = (server.url("/one"), server.url("/two"));

    let out = run(haul_in(tmp.path()).args([
        &one,
        &two,
        "--trust-server-names",
        "-j1",
        "-d",
        "out",
        "--report",
        "-",
    ]));

    out.assert_code(1).assert_summary(1, 0, 1);
    out.assert_failure(&two, &["out/same.bin", &one]);
    assert_tree_eq(
        &tree(tmp.path()),
        &expected([("out/same.bin", &b"bytes of x"[..])]),
    );
    let records = out.stdout_report();
    assert_eq!(record(&records, &one)["status"], "ok");
    // Reported under the name the redirect gave, not the URL's.
    assert_eq!(record(&records, &two)["path"], "out/same.bin");
    assert_eq!(server.hits_for("/y/same.bin"), 1);
}

/// A file already under the redirect's name is dealt with by `--on-exists`
/// as any other: `skip` keeps it, `overwrite` replaces it.
#[test]
fn trust_server_names_applies_on_exists_to_the_redirect_name() {
    let server = redirecting_to("/files/there.bin");
    let tmp = TempDir::new().unwrap();
    let out_dir = tmp.path().join("out");
    std::fs::create_dir(&out_dir).unwrap();
    std::fs::write(out_dir.join("there.bin"), "old bytes").unwrap();
    let url = server.url("/start");

    let out = run(haul_in(tmp.path()).args([&url, "--trust-server-names", "-d", "out"]));
    out.assert_code(0).assert_summary(0, 1, 0);
    assert_tree_eq(
        &tree(tmp.path()),
        &expected([("out/there.bin", &b"old bytes"[..])]),
    );

    let out = run(haul_in(tmp.path()).args([
        &url,
        "--trust-server-names",
        "--on-exists",
        "overwrite",
        "-d",
        "out",
    ]));
    out.assert_code(0).assert_summary(1, 0, 0);
    assert_tree_eq(
        &tree(tmp.path()),
        &expected([("out/there.bin", &b"final bytes"[..])]),
    );
}

/// With both flags, a `Content-Disposition` name wins when the answer has
/// one (as wget does); without one, the last URL names the file.
#[test]
fn trust_server_names_yields_to_content_disposition() {
    let server = server::http(|req| {
        let res = match req.uri().path() {
            "/a" => redirect("/files/url-name-a.bin"),
            "/b" => redirect("/files/url-name-b.bin"),
            "/files/url-name-a.bin" => with_header(
                ok("bytes of a"),
                "content-disposition",
                "attachment; filename=\"header-name.bin\"",
            ),
            "/files/url-name-b.bin" => ok("bytes of b"),
            _ => status(StatusCode::NOT_FOUND),
        };
        async move { res }
    });
    let tmp = TempDir::new().unwrap();

    let out = run(haul_in(tmp.path()).args([
        &server.url("/a"),
        &server.url("/b"),
        "--trust-server-names",
        "--content-disposition",
        "-d",
        "out",
    ]));

    out.assert_code(0).assert_summary(2, 0, 0);
    assert_tree_eq(
        &tree(tmp.path()),
        &expected([
            ("out/header-name.bin", &b"bytes of a"[..]),
            ("out/url-name-b.bin", b"bytes of b"),
        ]),
    );
}

/// Runs `/start` redirected to `target` with `-d out` from `tmp/work`, so
/// an escape to `..` (or `../..`) would still land inside `tmp`, where
/// [`tree`] sees it.
fn run_redirected_to(target: &'static str) -> (TempDir, String, crate::support::Output) {
    let server = redirecting_to(target);
    let tmp = TempDir::new().unwrap();
    let work = tmp.path().join("work");
    std::fs::create_dir(&work).unwrap();
    let url = server.url("/start");
    let out = run(haul_in(&work).args([&url, "--trust-server-names", "-d", "out"]));
    (tmp, url, out)
}

/// Encoded separators in the last segment do not make folders or lead
/// out: only what follows the last one names the file. `..` segments,
/// encoded or not, are resolved away by the URL itself, and a final URL
/// that names a folder saves `index.html`, as `{name}` does.
#[test]
fn trust_server_names_keeps_hostile_redirect_names_inside_the_dir() {
    let cases = [
        ("/a/..%2F..%2Fescape", "work/out/escape"),
        ("/a/..%5C..%5Cescape", "work/out/escape"),
        ("/a/%2Fetc%2Fpasswd", "work/out/passwd"),
        ("/a/%2e%2e", "work/out/index.html"),
        ("/%2e%2e/%2E%2E/up.bin", "work/out/up.bin"),
        ("/dir/", "work/out/index.html"),
    ];
    for (target, saved) in cases {
        let (tmp, _url, out) = run_redirected_to(target);
        out.assert_code(0).assert_summary(1, 0, 0);
        assert_tree_eq(&tree(tmp.path()), &expected([(saved, &b"final bytes"[..])]));
    }
}

/// A last segment that is no usable name (`..` once decoded, nothing after
/// an encoded `/`) or that holds a control character or NUL fails the URL
/// with a message naming it; no file is created anywhere and the character
/// is never printed raw.
#[test]
fn trust_server_names_refuses_unusable_redirect_names() {
    let cases = [
        ("/a/x%2F..", "x/..", None),
        ("/a/..%2F", "../", None),
        // Shown escaped on its one line (the line itself ends in a raw
        // newline, so that one is not looked for).
        ("/evil%0A.txt", "evil\\n.txt", None),
        ("/evil%1B%5B2J.txt", "evil\\u{1b}[2J.txt", Some('\u{1b}')),
        ("/nul%00.txt", "nul\\0.txt", Some('\0')),
    ];
    for (target, shown, raw) in cases {
        let (tmp, url, out) = run_redirected_to(target);
        out.assert_code(1).assert_summary(0, 0, 1);
        out.assert_failure(&url, &[shown]);
        if let Some(raw) = raw {
            assert!(!out.stderr.contains(raw), "raw {raw:?} on stderr\n{out}");
        }
        assert_tree_eq(&tree(tmp.path()), &expected([]));
    }
}

/// `--dry-run` cannot know where a URL will be redirected: it prints the
/// planned path, as under `--content-disposition`, and sends nothing. That
/// path is provisional, so it is not claimed: two URLs planned under one
/// name are both listed (a real run gives each the name its answer does).
#[test]
fn trust_server_names_dry_run_prints_the_planned_path() {
    let server = redirecting_to("/files/real-name.bin").expect_no_hits();
    let tmp = TempDir::new().unwrap();
    let (a, b) = (server.url("/a/start"), server.url("/b/start"));

    let out =
        run(haul_in(tmp.path()).args([&a, &b, "--trust-server-names", "--dry-run", "-d", "out"]));

    out.assert_code(0);
    assert_eq!(out.stdout, format!("{a} -> out/start\n{b} -> out/start\n"));
    assert_tree_eq(&tree(tmp.path()), &expected([]));
}
