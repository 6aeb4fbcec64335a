//! `--netrc` and `--netrc-file`: credentials go only to the origin (scheme,
//! host, port) a URL names, redirects to that same origin included, and to
//! no other host or port a redirect leads to, the `default` entry included
//! (curl's CVE-2024-11053 and CVE-2025-0167 were that leak); a user and
//! password in the URL or `-H Authorization` win; a URL user without a
//! password gets that user's password; a password's bytes are sent as they
//! are; a file others can read gets a warning; a damaged entry is skipped
//! with a warning naming `FILE:LINE` and the rest of the file is used; a
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
    basic_of(login.as_bytes(), password.as_bytes())
}

/// `Basic` of `login:password`, as bytes (neither need be UTF-8).
fn basic_of(login: &[u8], password: &[u8]) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let bytes = [login, b":", password].concat();
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
    netrc_file_of(tmp, text.as_bytes())
}

/// The same for bytes, which need not be UTF-8.
fn netrc_file_of(tmp: &TempDir, text: &[u8]) -> String {
    let path = write_file(tmp.path(), "netrc", text);
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

/// A server that answers each path in `want` only when the request carries
/// that `Authorization` header, and 401 otherwise.
fn wanting(want: &[(&str, String)]) -> Server {
    let want: Vec<(String, String)> = want
        .iter()
        .map(|(path, header)| (path.to_string(), header.clone()))
        .collect();
    server::http(move |req| {
        let got = req
            .headers()
            .get("authorization")
            .map(|v| v.as_bytes().to_vec());
        let wanted = want
            .iter()
            .find(|(path, _)| path == req.uri().path())
            .map(|(_, header)| header.as_bytes().to_vec());
        let res = if got.is_some() && got == wanted {
            ok("yes")
        } else {
            status(StatusCode::UNAUTHORIZED)
        };
        async move { res }
    })
}

#[test]
fn a_damaged_entry_is_skipped_with_a_warning_and_the_good_ones_used() {
    // Each of these refused the whole file (exit 2, nothing downloaded),
    // where curl used the good entry.
    let cases = [
        (
            "machine 127.0.0.1 login alice password s3cret\nmachine b.example login bob password \"br oken\n",
            "2: unterminated quoted token; skipping the machine entry from line 2",
        ),
        (
            "# c\nmachine 127.0.0.1 login alice password s3cret\n\nmachine",
            "4: 'machine' without a host name at the end of the file; ignoring it",
        ),
        (
            "machine 127.0.0.1 login alice password s3cret\nmachine b.example\n  login",
            "3: 'login' without a value at the end of the file; ignoring it",
        ),
        (
            "machine b.example\n  password \"x\nmachine 127.0.0.1 login alice password s3cret\n",
            "2: unterminated quoted token; skipping the machine entry from line 1",
        ),
    ];
    for (text, warning) in cases {
        let server = wanting(&[("/a", basic("alice", "s3cret"))]);
        let tmp = TempDir::new().unwrap();
        let netrc = netrc_file(&tmp, text);

        let out =
            run(haul_in(tmp.path()).args([&server.url("/a"), "--netrc-file", &netrc, "-d", "out"]));

        out.assert_code(0).assert_summary(1, 0, 0);
        let want = format!("haul: warning: {netrc}:{warning}");
        assert!(
            out.stderr_lines().any(|l| l == want),
            "{text:?}: want {want:?}\n{out}"
        );
        // -q keeps the warning out, as it does the others.
        let server = wanting(&[("/a", basic("alice", "s3cret"))]);
        let out = run(haul_in(tmp.path()).args([
            &server.url("/a"),
            "--netrc-file",
            &netrc,
            "-d",
            "q",
            "-q",
        ]));
        out.assert_code(0);
        assert_eq!(out.stderr, "", "{text:?}");
    }
}

#[test]
fn a_url_user_without_a_password_gets_its_password_from_netrc() {
    let server = wanting(&[
        ("/alice", basic("alice", "alices-s3cret")),
        // No entry with that login: the user, with an empty password.
        ("/carol", basic("carol", "")),
        // Percent-encoded in the URL, as the login in the file.
        ("/dave", basic("dave@home", "daves-s3cret")),
    ]);
    let tmp = TempDir::new().unwrap();
    let netrc = netrc_file(
        &tmp,
        "machine 127.0.0.1 login bob password bobs-s3cret\n\
         machine 127.0.0.1 login alice password alices-s3cret\n\
         machine 127.0.0.1 login dave@home password daves-s3cret\n",
    );
    let with_user = |user: &str, path: &str| {
        server
            .url(path)
            .replacen("http://", &format!("http://{user}@"), 1)
    };

    let out = run(haul_in(tmp.path()).args([
        &with_user("alice", "/alice"),
        &with_user("carol", "/carol"),
        &with_user("dave%40home", "/dave"),
        "--netrc-file",
        &netrc,
        "-d",
        "out",
        "-vv",
    ]));

    out.assert_code(0).assert_summary(3, 0, 0);
    for (path, want) in [
        ("/alice", basic("alice", "alices-s3cret")),
        ("/carol", basic("carol", "")),
        ("/dave", basic("dave@home", "daves-s3cret")),
    ] {
        let reqs = server.requests_for(path);
        assert_eq!(
            reqs[0].header("authorization"),
            Some(want.as_str()),
            "{path}"
        );
    }
    // Not even the debug log shows a password, nor its Basic form.
    for secret in ["s3cret", &basic("alice", "alices-s3cret")[6..]] {
        assert!(!out.stderr.contains(secret), "{secret}\n{out}");
    }
}

#[test]
fn a_password_that_is_not_utf8_reaches_the_server_byte_exact() {
    let password: &[u8] = b"p\xff\xfe \x80q\xc3\x28";
    let server = wanting(&[
        ("/a", basic_of(b"u", password)),
        ("/b", basic_of(b"\xe9", b"x\xff")),
    ]);
    let tmp = TempDir::new().unwrap();
    // Quoted, with an escape before a byte that is not UTF-8; then a
    // `default` whose login is not UTF-8 either.
    let text = [
        &b"machine 127.0.0.1 login u password "[..],
        b"\"p\xff\xfe \\\x80q\xc3\x28\"\n",
    ]
    .concat();
    let netrc = netrc_file_of(&tmp, &text);
    let b_tmp = TempDir::new().unwrap();
    let b_netrc = netrc_file_of(&b_tmp, b"default login \xe9 password x\xff\n");

    let out =
        run(haul_in(tmp.path()).args([&server.url("/a"), "--netrc-file", &netrc, "-d", "out"]));
    out.assert_code(0).assert_summary(1, 0, 0);
    let out =
        run(haul_in(tmp.path()).args([&server.url("/b"), "--netrc-file", &b_netrc, "-d", "out"]));
    out.assert_code(0).assert_summary(1, 0, 0);
    assert_eq!(
        server.requests_for("/a")[0].header("authorization"),
        Some(basic_of(b"u", password).as_str())
    );
}
