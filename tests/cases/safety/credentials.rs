//! Credentials and private URLs stay private (issue 8, items 7 to 9): no
//! `Referer` after a redirect, a password in a URL is masked wherever haul
//! prints or stores the URL, and the resume note on a `.part` holds no URL
//! and is gone from the finished file.
//!
//! Not here: credential headers dropped on a cross-host redirect
//! (http.rs).

use std::path::Path;

use hyper::StatusCode;
use tempfile::TempDir;

use crate::support::require;
use crate::support::server::{self, Resource, Shape, ok, status, with_header};
use crate::support::{haul_in, pseudo_random, run, tree};

const SECRET: &str = "s3cret";
const NOTE: &str = "user.haul.resume";

/// `http://alice:s3cret@127.0.0.1:PORT{path}`.
fn with_password(url: &str) -> String {
    url.replacen("http://", &format!("http://alice:{SECRET}@"), 1)
}

#[test]
fn no_referer_is_sent_after_a_redirect() {
    let server = server::http(|req| {
        let res = match req.uri().path() {
            "/start" => with_header(
                status(StatusCode::FOUND),
                "location",
                "/target?after=redirect",
            ),
            _ => ok("landed"),
        };
        async move { res }
    });
    let tmp = TempDir::new().unwrap();

    let url = format!("{}?token=private", server.url("/start"));
    let out = run(haul_in(tmp.path()).args([&url, "-o", "t", "-d", "out"]));

    out.assert_code(0);
    let target = server.requests_for("/target?after=redirect");
    assert_eq!(target.len(), 1);
    assert_eq!(target[0].header("referer"), None, "{:?}", target[0].headers);
}

/// Failure lines, retry warnings, `-v` logs, the report and `--dry-run`:
/// the password never appears, the user name does.
#[test]
fn a_password_in_a_url_is_masked_everywhere() {
    let server = server::http(|req| {
        let code = match req.uri().path() {
            "/busy" => StatusCode::SERVICE_UNAVAILABLE,
            _ => StatusCode::NOT_FOUND,
        };
        async move { status(code) }
    });
    let refused = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let closed = format!("http://{}/x", refused.local_addr().unwrap());
    drop(refused);
    let tmp = TempDir::new().unwrap();
    let urls = [
        with_password(&server.url("/missing?sig=1")),
        with_password(&server.url("/busy")),
        with_password(&closed),
    ];

    // A bad line in a list (a malformed glob) is reported masked too.
    crate::support::write_list(
        tmp.path(),
        "bad.txt",
        &[with_password(&server.url("/[bad"))],
    );

    let out = run(haul_in(tmp.path())
        .args(&urls)
        .args(["-i", "bad.txt"])
        .args([
            "-v",
            "--retries",
            "1",
            "--retry-wait",
            "10ms",
            "--report",
            "-",
        ])
        .args(["--connect-timeout", "2s", "-d", "out"]));

    out.assert_code(1);
    let all = format!("{}{}", out.stdout, out.stderr);
    assert!(!all.contains(SECRET), "{out}");
    assert!(out.stderr.contains("alice:***@"), "{out}");
    let records = out.stdout_report();
    assert_eq!(records.len(), 4, "{out}");
    for rec in &records {
        assert!(rec["url"].as_str().unwrap().contains("alice:***@"), "{rec}");
    }

    let plan = run(haul_in(tmp.path()).args([&urls[0], "--dry-run", "-d", "out"]));
    plan.assert_code(0);
    assert!(!plan.stdout.contains(SECRET), "{plan}");
    assert!(plan.stdout.contains("alice:***@"), "{plan}");
}

/// The extended attribute `name` of `path`, if it has one.
fn xattr(path: &Path, name: &str) -> Option<Vec<u8>> {
    let mut buf = vec![0u8; 4096];
    let n = rustix::fs::getxattr(path, name, &mut buf[..]).ok()?;
    buf.truncate(n);
    Some(buf)
}

/// A `.part` left by a cut download (URL with a password and a signed
/// query) carries a note without either, and the resumed, finished file
/// carries no note at all (`cp -a` and `rsync -X` copy xattrs along).
#[test]
fn the_resume_note_holds_no_url_and_leaves_with_the_part() {
    let tmp = TempDir::new().unwrap();
    // A file system without user xattrs keeps no note, and cannot resume.
    if !require::xattrs(tmp.path(), "the resume note") {
        return;
    }
    let body = pseudo_random(9, 512 * 1024);
    let resource = Resource::new(body.clone()).etag("\"v1\"");
    let server = server::http_nth(move |req, n| {
        let shape = if n == 0 {
            Shape::CutAfter(300 * 1024)
        } else {
            Shape::Whole
        };
        let res = resource.respond(req.headers(), shape);
        async move { res }
    });
    let url = with_password(&server.url("/r.bin?X-Amz-Signature=SIGNATURE"));
    let part = tmp.path().join("out/r.bin.part");

    let first = run(haul_in(tmp.path()).args([&url, "--retries", "0", "-d", "out"]));
    first.assert_code(1);
    let note = xattr(&part, NOTE).expect("the .part has its resume note");
    let note = String::from_utf8_lossy(&note);
    assert!(!note.contains(SECRET), "{note}");
    assert!(
        !note.contains("SIGNATURE") && !note.contains("r.bin"),
        "{note}"
    );

    let second = run(haul_in(tmp.path()).args([&url, "-d", "out"]));
    second.assert_code(0);
    let requests = server.requests();
    assert_eq!(requests.len(), 2);
    assert_eq!(requests[1].range_start(), Some(300 * 1024), "resumed");
    let finished = tmp.path().join("out/r.bin");
    assert_eq!(tree(&tmp.path().join("out")).get("r.bin"), Some(&body));
    assert_eq!(xattr(&finished, NOTE), None, "the note left with the .part");
}
