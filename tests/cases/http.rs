//! Request-side behaviour seen by the server: extra headers, the user agent,
//! no compression by default, redirects and `--max-redirects`, `--shard`,
//! proxies from the environment, and TLS: certificates verified unless
//! `-k`, HTTP/2 when offered.
//!
//! Not here: response failures (errors.rs).

use hyper::StatusCode;
use hyper::header::LOCATION;
use tempfile::TempDir;

use crate::support::{assert_out_holds, assert_tree_eq, expected, haul_in, run, server, tree};

#[test]
fn extra_headers_and_user_agent_are_sent() {
    let server = server::files([("/a.txt", b"alpha".to_vec())]);
    let tmp = TempDir::new().unwrap();

    let out = run(haul_in(tmp.path()).args([
        &server.url("/a.txt"),
        "-H",
        "X-Test: yes",
        "-A",
        "test-agent/1.0",
        "-d",
        "out",
    ]));

    out.assert_code(0);
    let req = &server.requests()[0];
    assert_eq!(req.headers["x-test"], "yes", "{req:?}");
    assert_eq!(req.headers["user-agent"], "test-agent/1.0", "{req:?}");
}

#[test]
fn no_compression_is_requested_by_default() {
    let server = server::files([("/a.txt", b"alpha".to_vec())]);
    let tmp = TempDir::new().unwrap();

    let out = run(haul_in(tmp.path()).args([&server.url("/a.txt"), "-d", "out"]));

    out.assert_code(0);
    let req = &server.requests()[0];
    // No `Accept-Encoding` at all (not even `identity`).
    assert!(
        req.headers.get("accept-encoding").is_none(),
        "bytes on disk must equal the resource: {req:?}"
    );
}

fn redirecting() -> server::Server {
    server::http(|req| async move {
        match req.uri().path() {
            "/old" => {
                let mut res = server::status(StatusCode::FOUND);
                res.headers_mut()
                    .insert(LOCATION, "/new.txt".parse().unwrap());
                res
            }
            "/new.txt" => server::ok("moved here"),
            _ => server::status(StatusCode::NOT_FOUND),
        }
    })
}

#[test]
fn redirects_are_followed() {
    let server = redirecting();
    let tmp = TempDir::new().unwrap();

    let out = run(haul_in(tmp.path()).args([&server.url("/old"), "-o", "saved.txt", "-d", "out"]));

    out.assert_code(0);
    assert_tree_eq(
        &tree(&tmp.path().join("out")),
        &expected([("saved.txt", &b"moved here"[..])]),
    );
    assert_eq!(server.uris_sorted(), ["/new.txt", "/old"]);
}

#[test]
fn max_redirects_0_fails_without_following_or_retrying() {
    let server = redirecting();
    let tmp = TempDir::new().unwrap();
    let url = server.url("/old");

    let out = run(haul_in(tmp.path()).args([
        &url,
        "--max-redirects",
        "0",
        "-o",
        "saved.txt",
        "-d",
        "out",
    ]));

    out.assert_code(1).assert_summary(0, 0, 1);
    out.assert_failure(&url, &["saved.txt"]);
    assert_eq!(server.uris_sorted(), ["/old"]);
    assert_tree_eq(&tree(&tmp.path().join("out")), &expected([]));
}

#[test]
fn shard_takes_every_nth_position() {
    let files: Vec<(String, Vec<u8>)> = (1..=10)
        .map(|i| (format!("/f{i}.txt"), format!("{i}").into_bytes()))
        .collect();
    let server = server::files(files);
    let tmp = TempDir::new().unwrap();

    let out =
        run(haul_in(tmp.path()).args([&server.url("/f[1-10].txt"), "--shard", "2/3", "-d", "out"]));

    // 0-based positions 1, 4, 7 satisfy i % 3 == 1.
    out.assert_code(0).assert_summary(3, 0, 0);
    assert_eq!(server.uris_sorted(), ["/f2.txt", "/f5.txt", "/f8.txt"]);
    assert_tree_eq(
        &tree(&tmp.path().join("out")),
        &expected([("f2.txt", &b"2"[..]), ("f5.txt", b"5"), ("f8.txt", b"8")]),
    );
}

/// Contract, HTTP: credentials-bearing headers are never sent to another
/// host after a redirect; other `-H` headers (and repeats) still are.
#[test]
fn credentials_are_not_forwarded_to_another_host() {
    let other = server::files([("/file.txt", b"elsewhere".to_vec())]);
    let target = other.url("/file.txt");
    let origin = server::http(move |_req| {
        let target = target.clone();
        async move {
            let mut res = server::status(StatusCode::FOUND);
            res.headers_mut().insert(LOCATION, target.parse().unwrap());
            res
        }
    });
    let tmp = TempDir::new().unwrap();

    let out = run(haul_in(tmp.path()).args([
        &origin.url("/file.txt"),
        "-H",
        "Authorization: Bearer secret",
        "-H",
        "Cookie: session=1",
        "-H",
        "Proxy-Authorization: Basic eDp5",
        "-H",
        "X-Trace: a",
        "-H",
        "X-Trace: b",
        "-d",
        "out",
    ]));

    out.assert_code(0);
    assert_eq!(
        std::fs::read(tmp.path().join("out/file.txt")).unwrap(),
        b"elsewhere"
    );
    let first = &origin.requests()[0];
    assert_eq!(first.headers["authorization"], "Bearer secret", "{first:?}");
    let second = &other.requests()[0];
    for name in ["authorization", "cookie", "proxy-authorization"] {
        assert!(
            second.headers.get(name).is_none(),
            "{name} leaked: {second:?}"
        );
    }
    let traces: Vec<_> = second.headers.get_all("x-trace").iter().collect();
    assert_eq!(traces, ["a", "b"], "{second:?}");
}

/// Contract: TLS is verified. A self-signed certificate fails the URL
/// (exit 1, a failure line naming it) before any request is made, and
/// leaves no file.
#[test]
fn an_unverifiable_certificate_fails_the_url() {
    let server = server::https(|_req| async { server::ok("secret") }).expect_no_hits();
    let tmp = TempDir::new().unwrap();
    let url = server.url("/a.txt");

    let out = run(haul_in(tmp.path()).args([&url, "--retries", "0", "-d", "out"]));

    out.assert_code(1)
        .assert_failure(&url, &["certificate"])
        .assert_summary(0, 0, 1);
    assert_out_holds(tmp.path(), []);

    // With -q: the one failure line, no library log besides it.
    let quiet = run(haul_in(tmp.path()).args([&url, "--retries", "0", "-q", "-d", "out"]));
    quiet.assert_code(1);
    let lines: Vec<&str> = quiet.stderr.lines().collect();
    assert_eq!(lines.len(), 1, "{quiet}");
    assert!(lines[0].starts_with(&format!("haul: {url}")), "{quiet}");
}

/// Contract: `-k, --insecure` turns verification off and says so on stderr.
#[test]
fn insecure_accepts_a_self_signed_certificate_and_says_so() {
    let server = server::https(|_req| async { server::ok("over tls") });
    let tmp = TempDir::new().unwrap();

    let out = run(haul_in(tmp.path()).args([&server.url("/a.txt"), "-k", "-d", "out"]));

    out.assert_code(0).assert_summary(1, 0, 0);
    assert!(
        out.stderr.contains("TLS certificates are not verified"),
        "no warning for -k:\n{}",
        out.stderr
    );
    assert_out_holds(tmp.path(), [("a.txt", &b"over tls"[..])]);

    // Contract: `-q` with no failure prints nothing at all, this warning
    // included (asking for both is the acknowledgement).
    let quiet = run(haul_in(tmp.path()).args([&server.url("/b.txt"), "-k", "-q", "-d", "out"]));
    quiet.assert_code(0);
    assert_eq!(quiet.stderr, "", "-q -k");
}

/// Contract: HTTP/2 is used when the server offers it (ALPN), and many
/// downloads share its connections.
#[test]
fn http2_is_used_when_the_server_offers_it() {
    let files: Vec<(String, Vec<u8>)> = (0..20)
        .map(|i| {
            (
                format!("/f{i}.bin"),
                vec![b'a' + i as u8; 50_000 + i * 1000],
            )
        })
        .collect();
    let server = server::https_files(files.clone());
    let tmp = TempDir::new().unwrap();
    let urls: Vec<String> = files.iter().map(|(path, _)| server.url(path)).collect();

    let out = run(haul_in(tmp.path())
        .args(&urls)
        .args(["-k", "-j", "4", "-d", "out"]));

    out.assert_code(0).assert_summary(20, 0, 0);
    let versions: Vec<_> = server.requests().iter().map(|r| r.version).collect();
    assert!(
        versions.iter().all(|v| *v == hyper::Version::HTTP_2),
        "not all over HTTP/2: {versions:?}"
    );
    assert_out_holds(
        tmp.path(),
        files
            .iter()
            .map(|(path, body)| (path.trim_start_matches('/'), &body[..])),
    );
}

/// Contract: proxies come from `HTTP_PROXY` (and `http_proxy`). The test
/// server plays the proxy: it receives the request for another host, in
/// absolute form, and answers it.
#[test]
fn http_proxy_from_the_environment_is_used() {
    for var in ["HTTP_PROXY", "http_proxy"] {
        let proxy = server::http(|_req| async { server::ok("via proxy") });
        let tmp = TempDir::new().unwrap();

        let out = run(haul_in(tmp.path()).env(var, proxy.url("")).args([
            "http://haul-test.invalid/a.txt",
            "--retries",
            "0",
            "-d",
            "out",
        ]));

        out.assert_code(0).assert_summary(1, 0, 0);
        let req = &proxy.requests()[0];
        assert_eq!(
            req.header("host"),
            Some("haul-test.invalid"),
            "{var}: the proxy did not get the request for the origin: {req:?}"
        );
        assert_out_holds(tmp.path(), [("a.txt", &b"via proxy"[..])]);
    }
}

/// Contract: `NO_PROXY` names hosts reached directly, proxy or not.
#[test]
fn no_proxy_hosts_are_reached_directly() {
    let proxy = server::http(|_req| async { server::ok("via proxy") }).expect_no_hits();
    let origin = server::files([("/a.txt", b"direct".to_vec())]);
    let tmp = TempDir::new().unwrap();

    let out = run(haul_in(tmp.path())
        .env("HTTP_PROXY", proxy.url(""))
        .env("NO_PROXY", "127.0.0.1")
        .args([&origin.url("/a.txt"), "--retries", "0", "-d", "out"]));

    out.assert_code(0).assert_summary(1, 0, 0);
    assert_out_holds(tmp.path(), [("a.txt", &b"direct"[..])]);
}
