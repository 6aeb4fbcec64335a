//! SOCKS5 proxies from the environment (reqwest's `socks` feature):
//! `ALL_PROXY`, `HTTP_PROXY` and `HTTPS_PROXY` with a `socks5h://` URL (the
//! proxy resolves the name: a name that cannot resolve here still
//! downloads) or a `socks5://` URL (haul resolves it and sends an address),
//! plain HTTP and TLS through the tunnel, `NO_PROXY` exemptions, and a proxy
//! that is down or refuses the CONNECT failing the URL (exit 1, no file).
//! The proxy is [`socks`](crate::support::socks), which records each CONNECT
//! target as the client sent it.
//!
//! Also `-x/--proxy` and `--noproxy`, which go over the environment (an
//! HTTP proxy played by the test server, which answers for any host).
//! Not here: HTTP proxies from the environment (http.rs).

use std::net::SocketAddr;

use tempfile::TempDir;

use crate::support::socks::{self, Target};
use crate::support::{Output, assert_out_holds, haul_in, run, server};

/// A name that no resolver answers (RFC 6761): only a proxy that resolves
/// names itself (and routes it to the test server) can reach it.
const UNRESOLVABLE: &str = "haul-test.invalid";

fn addr(server: &server::Server) -> SocketAddr {
    server.authority().parse().expect("test server address")
}

/// Contract: with a `socks5h://` proxy (in `ALL_PROXY`, `all_proxy`, or
/// `HTTP_PROXY` for an `http://` URL) the name goes to the proxy unresolved,
/// in a domain-type CONNECT, and the request travels through the tunnel.
/// The URL failed (exit 1) with a SOCKS error on its failure line, and no
/// file was written.
#[track_caller]
fn assert_failed_at_the_proxy(out: &Output, url: &str, tmp: &TempDir) {
    out.assert_code(1)
        .assert_failure(url, &["socks"])
        .assert_summary(0, 0, 1);
    assert_out_holds(tmp.path(), []);
}

#[test]
fn socks5h_proxy_resolves_the_name() {
    for var in ["ALL_PROXY", "all_proxy", "HTTP_PROXY"] {
        let origin = server::files([("/a.txt", b"via socks".to_vec())]);
        let proxy = socks::to(addr(&origin));
        let port = addr(&origin).port();
        let tmp = TempDir::new().unwrap();

        let out = run(haul_in(tmp.path()).env(var, proxy.url()).args([
            &format!("http://{UNRESOLVABLE}:{port}/a.txt"),
            "--retries",
            "0",
            "-d",
            "out",
        ]));

        out.assert_code(0).assert_summary(1, 0, 0);
        assert_eq!(
            proxy.targets(),
            [Target::Domain(UNRESOLVABLE.to_string(), port)],
            "{var}: the proxy did not get the name\n{out}"
        );
        let req = &origin.requests()[0];
        assert_eq!(req.uri, "/a.txt", "{var}: {req:?}");
        assert_eq!(
            req.header("host"),
            Some(format!("{UNRESOLVABLE}:{port}").as_str()),
            "{var}: {req:?}"
        );
        assert_out_holds(tmp.path(), [("a.txt", &b"via socks"[..])]);
    }
}

/// Contract: with a `socks5://` proxy haul resolves the host itself and the
/// proxy gets an IP-type CONNECT for the address.
#[test]
fn socks5_proxy_gets_an_address() {
    let origin = server::files([("/a.txt", b"via socks".to_vec())]);
    let proxy = socks::direct();
    let tmp = TempDir::new().unwrap();

    let out = run(haul_in(tmp.path())
        .env("ALL_PROXY", proxy.url_local_dns())
        .args([&origin.url("/a.txt"), "--retries", "0", "-d", "out"]));

    out.assert_code(0).assert_summary(1, 0, 0);
    assert_eq!(proxy.targets(), [Target::Ip(addr(&origin))], "{out}");
    assert_eq!(origin.hits(), 1);
    assert_out_holds(tmp.path(), [("a.txt", &b"via socks"[..])]);
}

/// Contract: `socks5://` resolves locally, so a name that does not resolve
/// fails the URL (a failure line about the SOCKS lookup) without the proxy
/// ever being asked: the counterpart of the `socks5h://` case.
#[test]
fn socks5_proxy_never_sees_a_name_that_does_not_resolve() {
    let proxy = socks::direct().expect_no_hits();
    let tmp = TempDir::new().unwrap();
    let url = format!("http://{UNRESOLVABLE}/a.txt");

    let out = run(haul_in(tmp.path())
        .env("ALL_PROXY", proxy.url_local_dns())
        .args([&url, "--retries", "0", "-d", "out"]));

    assert_failed_at_the_proxy(&out, &url, &tmp);
}

/// Contract: `HTTPS_PROXY` with a SOCKS URL carries `https://` URLs; TLS
/// runs inside the tunnel (the default port 443 is what the proxy is asked
/// for).
#[test]
fn https_goes_through_a_socks_tunnel() {
    let origin = server::https_files([("/a.txt", b"over tls via socks".to_vec())]);
    let proxy = socks::to(addr(&origin));
    let tmp = TempDir::new().unwrap();

    let out = run(haul_in(tmp.path()).env("HTTPS_PROXY", proxy.url()).args([
        &format!("https://{UNRESOLVABLE}/a.txt"),
        "-k",
        "--retries",
        "0",
        "-d",
        "out",
    ]));

    out.assert_code(0).assert_summary(1, 0, 0);
    assert_eq!(
        proxy.targets(),
        [Target::Domain(UNRESOLVABLE.to_string(), 443)],
        "{out}"
    );
    assert_eq!(origin.hits(), 1);
    assert_out_holds(tmp.path(), [("a.txt", &b"over tls via socks"[..])]);
}

/// Contract: `NO_PROXY` hosts are reached directly, SOCKS proxy or not.
#[test]
fn no_proxy_hosts_bypass_the_socks_proxy() {
    let proxy = socks::direct().expect_no_hits();
    let origin = server::files([("/a.txt", b"direct".to_vec())]);
    let tmp = TempDir::new().unwrap();

    let out = run(haul_in(tmp.path())
        .env("ALL_PROXY", proxy.url_local_dns())
        .env("NO_PROXY", "127.0.0.1")
        .args([&origin.url("/a.txt"), "--retries", "0", "-d", "out"]));

    out.assert_code(0).assert_summary(1, 0, 0);
    assert_out_holds(tmp.path(), [("a.txt", &b"direct"[..])]);
}

/// Contract: a SOCKS proxy that cannot be reached fails the URL (exit 1, a
/// failure line that blames the SOCKS proxy, no file); haul does not fall
/// back to a direct connection, although the origin is up.
#[test]
fn a_socks_proxy_that_is_down_fails_the_url() {
    let origin = server::files([("/a.txt", b"direct".to_vec())]).expect_no_hits();
    // A port on 127.0.0.1 that nothing listens on any more.
    let down = std::net::TcpListener::bind(("127.0.0.1", 0))
        .and_then(|l| l.local_addr())
        .expect("free port");
    let tmp = TempDir::new().unwrap();
    let url = origin.url("/a.txt");

    let out = run(haul_in(tmp.path())
        .env("ALL_PROXY", format!("socks5://{down}"))
        .args([&url, "--retries", "0", "-d", "out"]));

    assert_failed_at_the_proxy(&out, &url, &tmp);
}

/// Contract: a SOCKS proxy that refuses the CONNECT (reply 0x05) fails the
/// URL (exit 1, a failure line with the proxy's answer, no file), without a
/// direct attempt.
#[test]
fn a_socks_proxy_that_refuses_the_connect_fails_the_url() {
    let origin = server::files([("/a.txt", b"direct".to_vec())]).expect_no_hits();
    let proxy = socks::refusing();
    let tmp = TempDir::new().unwrap();
    let url = origin.url("/a.txt");

    let out = run(haul_in(tmp.path())
        .env("ALL_PROXY", proxy.url_local_dns())
        .args([&url, "--retries", "0", "-d", "out"]));

    out.assert_code(1)
        .assert_failure(&url, &["socks", "refused"])
        .assert_summary(0, 0, 1);
    assert_eq!(proxy.targets(), [Target::Ip(addr(&origin))], "{out}");
    assert_out_holds(tmp.path(), []);
}

// ---------------------------------------------------------------------------
// -x/--proxy and --noproxy over the environment.

/// A test server playing an HTTP proxy: it answers every request itself.
fn http_proxy(body: &'static str) -> server::Server {
    server::http(move |_req| async move { server::ok(body) })
}

#[test]
fn x_goes_over_the_environments_proxy_with_or_without_a_scheme() {
    for with_scheme in [true, false] {
        let env_proxy = http_proxy("wrong proxy").expect_no_hits();
        let proxy = http_proxy("via -x");
        let tmp = TempDir::new().unwrap();
        let given = match with_scheme {
            true => proxy.url(""),
            false => proxy.authority(),
        };
        let out = run(haul_in(tmp.path())
            .env("HTTP_PROXY", env_proxy.url(""))
            .env("ALL_PROXY", env_proxy.url(""))
            .args(["-x", &given, "http://haul-test.invalid/a.txt"])
            .args(["--retries", "0", "-d", "out"]));
        out.assert_code(0).assert_summary(1, 0, 0);
        assert_eq!(
            proxy.requests()[0].header("host"),
            Some("haul-test.invalid"),
            "{with_scheme}"
        );
        assert_out_holds(tmp.path(), [("a.txt", &b"via -x"[..])]);
    }
}

#[test]
fn x_takes_a_socks5h_proxy() {
    let origin = server::files([("/a.txt", b"via socks".to_vec())]);
    let proxy = socks::to(addr(&origin));
    let port = addr(&origin).port();
    let tmp = TempDir::new().unwrap();
    let out = run(haul_in(tmp.path())
        .args(["-x", &proxy.url()])
        .arg(format!("http://{UNRESOLVABLE}:{port}/a.txt"))
        .args(["--retries", "0", "-d", "out"]));
    out.assert_code(0).assert_summary(1, 0, 0);
    assert_eq!(
        proxy.targets(),
        [Target::Domain(UNRESOLVABLE.to_string(), port)]
    );
    assert_out_holds(tmp.path(), [("a.txt", &b"via socks"[..])]);
}

#[test]
fn noproxy_goes_over_no_proxy() {
    // NO_PROXY says go direct; --noproxy names another host: the proxy.
    let proxy = http_proxy("via proxy");
    let origin = server::files([("/a.txt", b"direct".to_vec())]).expect_no_hits();
    let tmp = TempDir::new().unwrap();
    let out = run(haul_in(tmp.path())
        .env("HTTP_PROXY", proxy.url(""))
        .env("NO_PROXY", "127.0.0.1")
        .args([&origin.url("/a.txt"), "--noproxy", "example.org"])
        .args(["--retries", "0", "-d", "out"]));
    out.assert_code(0);
    assert_eq!(proxy.hits(), 1);
    assert_out_holds(tmp.path(), [("a.txt", &b"via proxy"[..])]);

    // And the other way round, with -x: --noproxy names the origin.
    let proxy = http_proxy("via proxy").expect_no_hits();
    let origin = server::files([("/a.txt", b"direct".to_vec())]);
    let tmp = TempDir::new().unwrap();
    let out = run(haul_in(tmp.path())
        .env("NO_PROXY", "example.org")
        .args(["-x", &proxy.url(""), &origin.url("/a.txt")])
        .args(["--noproxy", "localhost, 127.0.0.1"])
        .args(["--retries", "0", "-d", "out"]));
    out.assert_code(0);
    assert_out_holds(tmp.path(), [("a.txt", &b"direct"[..])]);
}

#[test]
fn noproxy_star_turns_every_proxy_off() {
    let proxy = http_proxy("via proxy").expect_no_hits();
    let origin = server::files([("/a.txt", b"direct".to_vec())]);
    let tmp = TempDir::new().unwrap();
    let out = run(haul_in(tmp.path())
        .env("HTTP_PROXY", proxy.url(""))
        .args([
            "-x",
            &proxy.url(""),
            &origin.url("/a.txt"),
            "--noproxy",
            "*",
        ])
        .args(["--retries", "0", "-d", "out"]));
    out.assert_code(0);
    assert_out_holds(tmp.path(), [("a.txt", &b"direct"[..])]);
}

#[test]
fn a_proxy_password_is_sent_to_the_proxy_and_masked_everywhere() {
    let proxy = http_proxy("via proxy");
    let tmp = TempDir::new().unwrap();
    let given = proxy.url("").replace("://", "://ann:pw-Qx7%2Fz@");
    let out = run(haul_in(tmp.path())
        .args(["-x", &given, "http://haul-test.invalid/a.txt", "-vv"])
        .args(["--retries", "0", "-d", "out", "--report", "-"]));
    out.assert_code(0);
    // ann:pw-Qx7/z
    assert_eq!(
        proxy.requests()[0].header("proxy-authorization"),
        Some("Basic YW5uOnB3LVF4Ny96")
    );
    for text in [&out.stdout, &out.stderr] {
        assert!(
            !text.contains("pw-Qx7") && !text.contains("YW5uOnB3LVF4Ny96"),
            "{text}"
        );
    }

    // A failure names the proxy, masked.
    let tmp = TempDir::new().unwrap();
    let out = run(haul_in(tmp.path())
        .args([
            "-x",
            "http://ann:pw-Qx7z@127.0.0.1:9",
            "http://haul-test.invalid/a",
        ])
        .args(["--retries", "0", "-d", "out", "-vv"]));
    out.assert_code(1);
    assert!(!out.stderr.contains("pw-Qx7z"), "{}", out.stderr);
}

#[test]
fn a_bad_proxy_url_is_a_usage_error_naming_it() {
    let tmp = TempDir::new().unwrap();
    for (given, culprit) in [
        ("ftp://127.0.0.1:21", "scheme"),
        ("http://", "-x/--proxy"),
        ("http://u:secret-pw@[::1", "-x/--proxy"),
    ] {
        let out = run(haul_in(tmp.path()).args(["-x", given, "http://127.0.0.1:9/a"]));
        out.assert_code(2);
        assert!(out.stderr.contains(culprit), "{given}: {}", out.stderr);
        assert!(!out.stderr.contains("secret-pw"), "{}", out.stderr);
    }
}

#[test]
fn an_unusable_proxy_variable_is_a_warning_under_noproxy() {
    // What some desktops export: reqwest ignores it; with --noproxy haul
    // reads the variables itself, says so and goes on without it.
    let origin = server::files([("/a.txt", b"direct".to_vec())]);
    let tmp = TempDir::new().unwrap();
    let out = run(haul_in(tmp.path())
        .env("ALL_PROXY", "gopher://h")
        .args(["--noproxy", "example.org", &origin.url("/a.txt")])
        .args(["--retries", "0", "-d", "out"]));
    out.assert_code(0);
    assert!(
        out.stderr.contains("warning") && out.stderr.contains("ALL_PROXY"),
        "{}",
        out.stderr
    );
    assert_out_holds(tmp.path(), [("a.txt", &b"direct"[..])]);
}

#[test]
fn an_empty_x_or_a_star_no_proxy_is_no_proxy() {
    for (x, no_proxy) in [("", None), ("PROXY", Some("*"))] {
        let proxy = http_proxy("via proxy").expect_no_hits();
        let origin = server::files([("/a.txt", b"direct".to_vec())]);
        let tmp = TempDir::new().unwrap();
        let mut cmd = haul_in(tmp.path());
        cmd.env("HTTP_PROXY", proxy.url(""))
            .args(["-x", &x.replace("PROXY", &proxy.url(""))]);
        if let Some(list) = no_proxy {
            cmd.env("NO_PROXY", list);
        }
        let out = run(cmd
            .arg(origin.url("/a.txt"))
            .args(["--retries", "0", "-d", "out"]));
        out.assert_code(0);
        assert_out_holds(tmp.path(), [("a.txt", &b"direct"[..])]);
    }
}
