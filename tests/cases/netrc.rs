//! `--netrc` and `--netrc-file`: credentials go only to the origin (scheme,
//! host, port) a URL names, redirects to that same origin included, and to
//! no other host or port a redirect leads to, the `default` entry included
//! (curl's CVE-2024-11053 and CVE-2025-0167 were that leak); a user in the URL or
//! `-H Authorization` wins; a file others can read gets a warning; a
//! `--netrc-file` that cannot be read is an input error.
//!
//! Not here: the file's grammar (unit tests in `src/netrc.rs`).

use std::os::unix::fs::PermissionsExt;

use hyper::StatusCode;
use tempfile::TempDir;

use crate::support::server::{self, Server, ok, status, with_header};
use crate::support::{haul_in, run, write_file};

/// `Basic` of `login:password`.
fn basic(login: &str, password: &str) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let bytes = format!("{login}:{password}").into_bytes();
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let n = chunk.iter().fold(0u32, |n, b| (n << 8) | u32::from(*b)) << (8 * (3 - chunk.len()));
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    format!("Basic {out}")
}

/// Server B (reached as `localhost`, another host) and server A, whose
/// `/r` redirects to B and whose other paths answer.
fn servers() -> (Server, Server) {
    let b = server::http(|_req| async { ok("from b") });
    let target = format!(
        "http://localhost:{}/x",
        b.authority().rsplit(':').next().unwrap()
    );
    let a = server::http(move |req| {
        let res = if req.uri().path() == "/r" {
            with_header(status(StatusCode::FOUND), "location", &target)
        } else {
            ok("from a")
        };
        async move { res }
    });
    (a, b)
}

fn netrc_file(tmp: &TempDir, text: &str) -> String {
    let path = write_file(tmp.path(), "netrc", text.as_bytes());
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
    path.display().to_string()
}

#[test]
fn credentials_go_to_the_named_host_and_never_to_another_host_redirected_to() {
    for entry in ["machine 127.0.0.1", "default"] {
        let (a, b) = servers();
        let tmp = TempDir::new().unwrap();
        let netrc = netrc_file(&tmp, &format!("{entry} login alice password s3cret\n"));

        let out = run(haul_in(tmp.path()).args([
            &a.url("/direct"),
            &a.url("/r"),
            "--netrc-file",
            &netrc,
            "-o",
            "{n}",
            "-d",
            "out",
        ]));

        out.assert_code(0).assert_summary(2, 0, 0);
        let want = basic("alice", "s3cret");
        for path in ["/direct", "/r"] {
            let got = a.requests_for(path)[0]
                .header("authorization")
                .map(str::to_string);
            assert_eq!(got.as_deref(), Some(want.as_str()), "{entry}: {path}");
        }
        let redirected = b.requests_for("/x");
        assert_eq!(redirected.len(), 1, "{entry}");
        assert_eq!(
            redirected[0].header("authorization"),
            None,
            "{entry}: leaked"
        );
    }
}

#[test]
fn credentials_follow_a_redirect_to_the_same_origin_only() {
    // B listens on another port of the same host, 127.0.0.1.
    let b = server::http(|_req| async { ok("from b") });
    let other_port = b.url("/x");
    let a = server::http(move |req| {
        let res = match req.uri().path() {
            "/same" => with_header(status(StatusCode::FOUND), "location", "/target"),
            "/port" => with_header(status(StatusCode::FOUND), "location", &other_port),
            _ => ok("from a"),
        };
        async move { res }
    });
    let tmp = TempDir::new().unwrap();
    let netrc = netrc_file(&tmp, "machine 127.0.0.1 login alice password s3cret\n");

    let out = run(haul_in(tmp.path()).args([
        &a.url("/same"),
        &a.url("/port"),
        "--netrc-file",
        &netrc,
        "-o",
        "{n}",
        "-d",
        "out",
    ]));

    out.assert_code(0).assert_summary(2, 0, 0);
    let want = basic("alice", "s3cret");
    // Same scheme, host and port: the redirect carries them.
    for path in ["/same", "/target", "/port"] {
        let reqs = a.requests_for(path);
        assert_eq!(reqs.len(), 1, "{path}");
        assert_eq!(
            reqs[0].header("authorization"),
            Some(want.as_str()),
            "{path}"
        );
    }
    // Same host, another port: another origin, even though the .netrc
    // entry names that host.
    let redirected = b.requests_for("/x");
    assert_eq!(redirected.len(), 1);
    assert_eq!(redirected[0].header("authorization"), None, "leaked");
}

#[test]
fn netrc_reads_the_file_netrc_names_and_the_url_user_wins() {
    let (a, b) = servers();
    let _b = b.any_hits();
    let tmp = TempDir::new().unwrap();
    let netrc = netrc_file(&tmp, "machine 127.0.0.1 login alice password s3cret\n");
    let with_user = a.url("/mine").replacen("http://", "http://carol:pw@", 1);

    let out = run(haul_in(tmp.path()).env("NETRC", &netrc).args([
        &a.url("/theirs"),
        &with_user,
        "--netrc",
        "-d",
        "out",
    ]));

    out.assert_code(0);
    let theirs = a.requests_for("/theirs");
    assert_eq!(
        theirs[0].header("authorization"),
        Some(basic("alice", "s3cret").as_str())
    );
    let mine = a.requests_for("/mine");
    assert_eq!(
        mine[0].header("authorization"),
        Some(basic("carol", "pw").as_str())
    );
}

#[test]
fn a_netrc_others_can_read_gets_a_warning_not_a_refusal() {
    let server = server::files([("/a", b"a".to_vec())]);
    let tmp = TempDir::new().unwrap();
    let netrc = netrc_file(&tmp, "default login u password p\n");
    std::fs::set_permissions(&netrc, std::fs::Permissions::from_mode(0o644)).unwrap();

    let out =
        run(haul_in(tmp.path()).args([&server.url("/a"), "--netrc-file", &netrc, "-d", "out"]));

    out.assert_code(0);
    assert!(
        out.stderr.contains("readable by others") && out.stderr.contains("chmod 600"),
        "{out}"
    );
}

#[test]
fn a_missing_netrc_file_is_an_input_error() {
    let server = server::files([("/a", b"a".to_vec())]).expect_no_hits();
    let tmp = TempDir::new().unwrap();

    let out =
        run(haul_in(tmp.path()).args([&server.url("/a"), "--netrc-file", "nope", "-d", "out"]));

    out.assert_code(2);
    assert!(out.stderr.contains("nope"), "{out}");
    // Without the file, plain --netrc is no error: there are simply no
    // credentials.
    let server = server::files([("/a", b"a".to_vec())]);
    let out = run(haul_in(tmp.path())
        .env("NETRC", tmp.path().join("absent"))
        .args([&server.url("/a"), "--netrc", "-d", "out"]));
    out.assert_code(0);
    assert_eq!(server.requests()[0].header("authorization"), None);
}
