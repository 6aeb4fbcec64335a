//! Secrets in headers (issue 18): `--host-header` reaches only its host,
//! on every hop that goes there; `@env:` and `@file:` values and `-H @FILE`
//! keep secrets out of argv; credentials never follow a redirect to another
//! origin; secret values never appear in anything haul prints or stores.
//!
//! Not here: the basic `-H` and redirect behaviour (http.rs), `.netrc`
//! (netrc.rs).

use std::sync::{Arc, OnceLock};

use hyper::StatusCode;
use hyper::header::LOCATION;
use tempfile::TempDir;

use crate::support::{haul_in, run, server, write_file};

/// A server whose `/to/...` paths redirect to `elsewhere` + the rest, and
/// whose other paths answer with their own path.
fn hopping(elsewhere: Arc<OnceLock<String>>) -> server::Server {
    server::http(move |req| {
        let elsewhere = elsewhere.clone();
        async move {
            let path = req.uri().path().to_string();
            match path.strip_prefix("/to") {
                Some(rest) => {
                    let target = format!("{}{rest}", elsewhere.get().unwrap());
                    let mut res = server::status(StatusCode::FOUND);
                    res.headers_mut().insert(LOCATION, target.parse().unwrap());
                    res
                }
                None => server::ok(path),
            }
        }
    })
}

/// Two servers on 127.0.0.1 (two origins: their ports differ), each able
/// to redirect to the other.
fn two_hosts() -> (server::Server, server::Server) {
    let (a_url, b_url) = (Arc::new(OnceLock::new()), Arc::new(OnceLock::new()));
    let a = hopping(b_url.clone());
    let b = hopping(a_url.clone());
    a_url.set(a.url("")).unwrap();
    b_url.set(b.url("")).unwrap();
    (a, b)
}

fn header<'a>(req: &'a server::Recorded, name: &str) -> Option<&'a str> {
    req.header(name)
}

#[test]
fn a_host_header_reaches_only_its_host_on_every_hop() {
    let (a, b) = two_hosts();
    let tmp = TempDir::new().unwrap();

    // a -> b, b -> a, and b directly.
    let out = run(haul_in(tmp.path()).args([
        &a.url("/to/b1.txt"),
        &b.url("/to/a1.txt"),
        &b.url("/b2.txt"),
        "--host-header",
        &a.authority(),
        "X-Key: for-a-only",
        "-H",
        "X-All: everyone",
        "-d",
        "out",
    ]));

    out.assert_code(0).assert_summary(3, 0, 0);
    for req in a.requests() {
        assert_eq!(header(&req, "x-key"), Some("for-a-only"), "{req:?}");
        assert_eq!(header(&req, "x-all"), Some("everyone"), "{req:?}");
    }
    assert_eq!(a.uris_sorted(), ["/a1.txt", "/to/b1.txt"]);
    for req in b.requests() {
        assert_eq!(header(&req, "x-key"), None, "leaked to b: {req:?}");
        assert_eq!(header(&req, "x-all"), Some("everyone"), "{req:?}");
    }
    assert_eq!(b.uris_sorted(), ["/b1.txt", "/b2.txt", "/to/a1.txt"]);
}

#[test]
fn a_host_header_without_a_port_reaches_every_port_of_that_host() {
    let (a, b) = two_hosts();
    let tmp = TempDir::new().unwrap();

    let out = run(haul_in(tmp.path()).args([
        &a.url("/to/x.txt"),
        "--host-header",
        "127.0.0.1",
        "X-Key: both",
        "--host-header",
        "localhost",
        "X-Other: never",
        "-d",
        "out",
    ]));

    out.assert_code(0);
    for req in a.requests().iter().chain(b.requests().iter()) {
        assert_eq!(header(req, "x-key"), Some("both"), "{req:?}");
        assert_eq!(header(req, "x-other"), None, "{req:?}");
    }
}

#[test]
fn env_and_file_secrets_are_sent_and_never_printed_or_stored() {
    const TOKEN: &str = "tok-3b1f9a7c5e";
    const FROM_FILE: &str = "filesecret-77aa21";
    let server = server::http(|req| async move {
        // The token also rides in the URL, so a failure line would show it.
        match req.uri().path() {
            "/ok.txt" => server::ok("fine"),
            _ => server::status(StatusCode::NOT_FOUND),
        }
    });
    let tmp = TempDir::new().unwrap();
    let secret_file = write_file(
        tmp.path(),
        "secret.txt",
        format!("{FROM_FILE}\nignored\n").as_bytes(),
    );
    let failing = server.url(&format!("/missing?sig={TOKEN}"));

    let out = run(haul_in(tmp.path()).env("HAUL_TEST_TOKEN", TOKEN).args([
        &server.url("/ok.txt"),
        &failing,
        "-H",
        "Authorization: Bearer @env:HAUL_TEST_TOKEN",
        "-H",
        &format!("X-File: @file:{}", secret_file.display()),
        "--retries",
        "0",
        "-vv",
        "--report",
        "report.jsonl",
        "-d",
        "out",
    ]));

    out.assert_code(1).assert_summary(1, 0, 1);
    for req in server.requests() {
        assert_eq!(
            header(&req, "authorization"),
            Some(&*format!("Bearer {TOKEN}"))
        );
        assert_eq!(header(&req, "x-file"), Some(FROM_FILE));
    }
    let report = std::fs::read_to_string(tmp.path().join("report.jsonl")).unwrap();
    for (what, text) in [
        ("stderr", &out.stderr),
        ("stdout", &out.stdout),
        ("report", &report),
    ] {
        assert!(!text.contains(TOKEN), "{what} holds the token:\n{text}");
        assert!(
            !text.contains(FROM_FILE),
            "{what} holds the file secret:\n{text}"
        );
    }
    assert!(out.stderr.contains("sig=***"), "{out}");
    assert!(report.contains("sig=***"), "{report}");

    // A dry run prints the plan masked too.
    let dry = run(haul_in(tmp.path()).env("HAUL_TEST_TOKEN", TOKEN).args([
        &failing,
        "-H",
        "X-T: @env:HAUL_TEST_TOKEN",
        "--dry-run",
        "-d",
        "out",
    ]));
    dry.assert_code(0);
    assert!(
        !dry.stdout.contains(TOKEN) && dry.stdout.contains("sig=***"),
        "{dry}"
    );
}

#[test]
fn a_missing_secret_is_a_usage_error_naming_it_and_nothing_is_sent() {
    let server = server::files([("/a.txt", b"a".to_vec())]).expect_no_hits();
    let tmp = TempDir::new().unwrap();
    let url = server.url("/a.txt");

    let unset = run(haul_in(tmp.path()).env_remove("HAUL_TEST_UNSET").args([
        &url,
        "-H",
        "Authorization: Bearer @env:HAUL_TEST_UNSET",
        "-d",
        "out",
    ]));
    unset.assert_code(2);
    assert!(
        unset.stderr.contains("HAUL_TEST_UNSET is not set"),
        "{unset}"
    );

    let empty = run(haul_in(tmp.path()).env("HAUL_TEST_EMPTY", "").args([
        &url,
        "--host-header",
        "h",
        "X: @env:HAUL_TEST_EMPTY",
        "-d",
        "out",
    ]));
    empty.assert_code(2);
    assert!(empty.stderr.contains("HAUL_TEST_EMPTY is empty"), "{empty}");

    let missing = tmp.path().join("no-such-token");
    let file = run(haul_in(tmp.path()).args([
        &url,
        "-H",
        &format!("X: @file:{}", missing.display()),
        "-d",
        "out",
    ]));
    file.assert_code(2);
    assert!(file.stderr.contains("no-such-token"), "{file}");

    let headers = write_file(
        tmp.path(),
        "headers.txt",
        b"X-Ok: 1\nno colon here hunter2\n",
    );
    let bad = run(haul_in(tmp.path()).args([
        &url,
        "-H",
        &format!("@{}", headers.display()),
        "-d",
        "out",
    ]));
    bad.assert_code(2);
    assert!(
        bad.stderr.contains(&format!("{}:2", headers.display())),
        "{bad}"
    );
    assert!(!bad.stderr.contains("hunter2"), "{bad}");

    let host =
        run(haul_in(tmp.path()).args([&url, "--host-header", "https://h/", "X: 1", "-d", "out"]));
    host.assert_code(2);
    assert!(host.stderr.contains("'https://h/' is not a host"), "{host}");
    assert!(!tmp.path().join("out").exists());
}

/// A secret in any header, and every header of `-H @FILE`, is a credential:
/// sent to the URL's own origin, never after a redirect to another one
/// (reqwest alone would forward a custom header such as `PRIVATE-TOKEN`).
#[test]
fn secret_headers_do_not_follow_a_redirect_to_another_origin() {
    let (a, b) = two_hosts();
    let tmp = TempDir::new().unwrap();
    let headers = write_file(
        tmp.path(),
        "headers.txt",
        b"# for a\nJOB-TOKEN: from-the-file\n\n",
    );

    let out = run(haul_in(tmp.path())
        .env("HAUL_TEST_TOKEN", "private-0123456")
        .args([
            &a.url("/to/file.bin"),
            &a.url("/mine.bin"),
            "-H",
            "PRIVATE-TOKEN: @env:HAUL_TEST_TOKEN",
            "-H",
            &format!("@{}", headers.display()),
            "-H",
            "X-Plain: kept",
            "-d",
            "out",
        ]));

    out.assert_code(0).assert_summary(2, 0, 0);
    for req in a.requests() {
        assert_eq!(
            header(&req, "private-token"),
            Some("private-0123456"),
            "{req:?}"
        );
        assert_eq!(header(&req, "job-token"), Some("from-the-file"), "{req:?}");
    }
    let at_b = b.requests();
    assert_eq!(at_b.len(), 1);
    assert_eq!(header(&at_b[0], "private-token"), None, "{:?}", at_b[0]);
    assert_eq!(header(&at_b[0], "job-token"), None, "{:?}", at_b[0]);
    assert_eq!(header(&at_b[0], "x-plain"), Some("kept"), "{:?}", at_b[0]);
}

/// Redirects are followed by haul itself now: a chain longer than
/// `--max-redirects` fails without a retry, and one within it ends at the
/// last hop.
#[test]
fn redirect_chains_are_counted_hop_by_hop() {
    let (a, b) = two_hosts();
    let tmp = TempDir::new().unwrap();

    // a -> b -> a -> b: three redirects.
    let chain = a.url("/to/to/to/end.txt");
    let ok = run(haul_in(tmp.path()).args([
        &chain,
        "--max-redirects",
        "3",
        "-o",
        "end.txt",
        "-d",
        "out",
    ]));
    ok.assert_code(0);
    assert_eq!(
        std::fs::read(tmp.path().join("out/end.txt")).unwrap(),
        b"/end.txt"
    );

    let short = run(haul_in(tmp.path()).args([
        &chain,
        "--max-redirects",
        "2",
        "-o",
        "short.txt",
        "-d",
        "out",
    ]));
    short.assert_code(1);
    short.assert_failure(&chain, &["more than 2 redirects"]);
    assert!(!tmp.path().join("out/short.txt").exists());
    // One attempt: 2 hops at a, 2 at b for the first run; the second run
    // stops after its third answer.
    assert_eq!(a.hits() + b.hits(), 4 + 3);
}
