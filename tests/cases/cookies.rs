//! `-b FILE` and `-c FILE`: cookies from a Netscape cookie file sent where
//! their domain, path, secure flag and expiry allow (two servers are two
//! hosts as `127.0.0.1` and `localhost`, since cookies do not tell ports
//! apart; more names reach the test server as an HTTP proxy), a cookie
//! set by a redirect sent on the next hop, the jar written at the end
//! (mode 0600, readable by `-b`, `-b` and `-c` one file), bad lines as
//! warnings, and the files haul refuses before the run: a `-c` that is an
//! input or another output, a symlink, a folder or in a missing folder; a
//! `-b` that is a folder, `/dev/zero`, too long, or missing. Cookie values
//! never reach stderr, the report or a dry run.

use std::os::unix::fs::PermissionsExt as _;
use std::path::Path;
use std::time::Duration;

use hyper::StatusCode;
use tempfile::TempDir;

use crate::support::server::{self, Server, ok, status, with_header};
use crate::support::{Output, haul_in, mkfifo, run, run_with_timeout, write_file, write_list};

const FAST: [&str; 2] = ["--retry-wait", "10ms"];

/// A cookie file's line: host-only (`FALSE`) unless `domain` starts with
/// a dot, not secure, path `/`, session.
fn cookie(domain: &str, name: &str, value: &str) -> String {
    let subdomains = if domain.starts_with('.') {
        "TRUE"
    } else {
        "FALSE"
    };
    format!("{domain}\t{subdomains}\t/\tFALSE\t0\t{name}\t{value}\n")
}

/// `text` written to `tmp/jar.txt`; its path.
fn jar_file(tmp: &TempDir, text: &str) -> String {
    let path = write_file(tmp.path(), "jar.txt", text.as_bytes());
    path.display().to_string()
}

/// A server that answers 200 to everything.
fn answering() -> Server {
    server::http(|_| async { ok("body") })
}

/// The port of `server`.
fn port(server: &Server) -> String {
    let authority = server.authority();
    authority.rsplit(':').next().unwrap().to_string()
}

/// The `Cookie` header of every request `server` got, in order.
fn cookies_sent(server: &Server) -> Vec<Option<String>> {
    server
        .requests()
        .iter()
        .map(|r| r.header("cookie").map(str::to_string))
        .collect()
}

fn haul_urls(tmp: &TempDir, urls: &[String], extra: &[&str]) -> Output {
    run(haul_in(tmp.path())
        .args(urls)
        .args(["-d", "out", "-j", "1"])
        .args(FAST)
        .args(extra))
}

/// Contract: "-b FILE reads a Netscape cookie file". Each cookie goes to
/// its own host only: the one for 127.0.0.1 to both servers there (a
/// cookie does not tell ports apart, RFC 6265 section 8.5), the one for
/// localhost only to the server reached by that name.
#[test]
fn b_sends_each_cookie_to_its_own_host_only() {
    let a = answering();
    let b = answering();
    let tmp = TempDir::new().unwrap();
    let jar = jar_file(
        &tmp,
        &format!(
            "# Netscape HTTP Cookie File\n{}{}",
            cookie("127.0.0.1", "ip", "one"),
            cookie("localhost", "name", "two")
        ),
    );
    let urls = [
        a.url("/x"),
        format!("http://localhost:{}/y", port(&b)),
        b.url("/z"),
    ];
    let out = haul_urls(&tmp, &urls, &["-b", &jar]);
    out.assert_code(0).assert_summary(3, 0, 0);
    assert_eq!(cookies_sent(&a), [Some("ip=one".into())], "{out}");
    let mut got = cookies_sent(&b);
    got.sort();
    assert_eq!(
        got,
        [Some("ip=one".into()), Some("name=two".into())],
        "{out}"
    );
}

/// `res` with a `Set-Cookie` header for each of `cookies`.
fn setting(
    mut res: hyper::Response<server::Body>,
    cookies: &[&str],
) -> hyper::Response<server::Body> {
    for cookie in cookies {
        res.headers_mut()
            .append("set-cookie", cookie.parse().unwrap());
    }
    res
}

/// The names of the cookies in `req`'s `Cookie` header, sorted.
fn names(req: &crate::support::server::Recorded) -> Vec<String> {
    let mut names: Vec<String> = req
        .header("cookie")
        .unwrap_or_default()
        .split("; ")
        .filter(|p| !p.is_empty())
        .map(|p| p.split('=').next().unwrap().to_string())
        .collect();
    names.sort();
    names
}

/// Domain, subdomain, path, secure and expiry rules, for names that are
/// not loopback (a secure cookie may go to http://127.0.0.1 and
/// http://localhost, as browsers let it): the test server plays an HTTP
/// proxy, so `*.invalid` hosts reach it without a resolver. `.shop.invalid`
/// goes to its subdomains, `shop.invalid` (host only) does not; `/docs`
/// goes to `/docs` and below; a secure cookie not over http; an expired one
/// nowhere. A cookie an answer sets for its parent domain goes there next;
/// one for a top-level domain (`Domain=invalid`) nowhere.
#[test]
fn domain_path_secure_and_expiry_rules_hold() {
    let proxy = server::http(|req| {
        let host = req.headers()["host"].to_str().unwrap().to_string();
        let res = match (host.as_str(), req.uri().path()) {
            ("a.shop.invalid", "/login") => setting(
                ok("in"),
                &[
                    "parent=p; Domain=shop.invalid; Path=/",
                    "tld=t; Domain=invalid; Path=/",
                ],
            ),
            _ => ok("body"),
        };
        async move { res }
    });
    let tmp = TempDir::new().unwrap();
    let text = [
        ".shop.invalid\tTRUE\t/\tFALSE\t0\twide\tw\n",
        "shop.invalid\tFALSE\t/\tFALSE\t4102444800\thost\th\n",
        "shop.invalid\tFALSE\t/docs\tFALSE\t0\tdocs\td\n",
        "shop.invalid\tFALSE\t/\tTRUE\t0\tsafe\ts\n",
        "shop.invalid\tFALSE\t/\tFALSE\t1000000000\told\to\n",
    ]
    .concat();
    let jar = jar_file(&tmp, &text);
    let urls = [
        "http://shop.invalid/docs/a",
        "http://shop.invalid/docsx",
        "http://a.shop.invalid/login",
        "http://shop.invalid/after",
        "http://other.invalid/x",
    ]
    .map(String::from);
    let out = run(haul_in(tmp.path())
        .env("HTTP_PROXY", proxy.url(""))
        .args(&urls)
        .args(["-d", "out", "-j", "1", "-b", &jar])
        .args(FAST));
    out.assert_code(0).assert_summary(5, 0, 0);
    let reqs = proxy.requests();
    let sent = |host: &str, path: &str| {
        let req = reqs
            .iter()
            .find(|r| r.header("host") == Some(host) && r.uri == path)
            .unwrap_or_else(|| panic!("no request for {host}{path}\n{out}"));
        names(req)
    };
    assert_eq!(
        sent("shop.invalid", "/docs/a"),
        ["docs", "host", "wide"],
        "{out}"
    );
    assert_eq!(sent("shop.invalid", "/docsx"), ["host", "wide"], "{out}");
    assert_eq!(sent("a.shop.invalid", "/login"), ["wide"], "{out}");
    assert_eq!(
        sent("shop.invalid", "/after"),
        ["host", "parent", "wide"],
        "{out}"
    );
    assert_eq!(sent("other.invalid", "/x"), Vec::<String>::new(), "{out}");
}

/// A secure cookie goes over HTTPS.
#[test]
fn a_secure_cookie_goes_over_https() {
    let https = server::https(|_| async { ok("body") });
    let tmp = TempDir::new().unwrap();
    let jar = jar_file(&tmp, "127.0.0.1\tFALSE\t/\tTRUE\t0\tsafe\ts\n");
    let out = haul_urls(&tmp, &[https.url("/a")], &["-b", &jar, "-k", "-q"]);
    out.assert_code(0);
    assert_eq!(cookies_sent(&https), [Some("safe=s".into())]);
}

/// A server whose `/start` answers 302 to `next` with a cookie, and whose
/// other paths answer 200.
fn redirecting(next: String) -> Server {
    server::http(move |req| {
        let res = if req.uri().path() == "/start" {
            let res = with_header(status(StatusCode::FOUND), "location", &next);
            with_header(res, "set-cookie", "sid=from-the-redirect; Path=/")
        } else {
            ok("body")
        };
        async move { res }
    })
}

/// A cookie set by a redirect answer goes with the next hop to its host,
/// and never to another host the redirect leads to.
#[test]
fn a_cookie_set_by_a_redirect_goes_with_the_next_hop_to_its_host() {
    let tmp = TempDir::new().unwrap();
    let here = redirecting("/final".into());
    let out = haul_urls(&tmp, &[here.url("/start")], &["-c", "jar.txt"]);
    out.assert_code(0).assert_summary(1, 0, 0);
    let reqs = here.requests();
    assert_eq!(reqs.len(), 2, "{out}");
    assert_eq!(reqs[0].header("cookie"), None);
    assert_eq!(reqs[1].uri, "/final");
    assert_eq!(reqs[1].header("cookie"), Some("sid=from-the-redirect"));

    let elsewhere = answering();
    let there = redirecting(format!("http://localhost:{}/final", port(&elsewhere)));
    let tmp = TempDir::new().unwrap();
    let out = haul_urls(&tmp, &[there.url("/start")], &["-c", "jar.txt"]);
    out.assert_code(0).assert_summary(1, 0, 0);
    assert_eq!(cookies_sent(&elsewhere), [None], "{out}");
}

/// Contract: "-c FILE writes the jar (mode 0600)". The jar holds the -b
/// cookies and those the answers set, session cookies included (expiry
/// 0), not the expired ones nor those a server deleted; -b reads it back.
#[test]
fn c_writes_the_jar_with_mode_0600_and_b_reads_it_back() {
    let server = server::http(|req| {
        let res = match req.uri().path() {
            "/login" => setting(
                ok("in"),
                &["sid=s3ss10n; Path=/", "stale=x; Max-Age=0; Path=/"],
            ),
            _ => ok("body"),
        };
        async move { res }
    });
    let tmp = TempDir::new().unwrap();
    let text = [
        cookie("127.0.0.1", "kept", "k"),
        cookie("127.0.0.1", "stale", "s"),
        "127.0.0.1\tFALSE\t/\tFALSE\t1000000000\texpired\te\n".into(),
        "#HttpOnly_.example.org\tTRUE\t/p\tTRUE\t4102444800\tother\to\n".into(),
    ]
    .concat();
    let input = jar_file(&tmp, &text);
    let out = haul_urls(
        &tmp,
        &[server.url("/login")],
        &["-b", &input, "-c", "saved.txt"],
    );
    out.assert_code(0).assert_summary(1, 0, 0);
    let saved = tmp.path().join("saved.txt");
    let mode = std::fs::metadata(&saved).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    let written = std::fs::read_to_string(&saved).unwrap();
    assert!(
        written.starts_with("# Netscape HTTP Cookie File\n"),
        "{written}"
    );
    let mut lines: Vec<&str> = written
        .lines()
        .filter(|l| !l.starts_with("# ") && !l.is_empty())
        .collect();
    lines.sort();
    assert_eq!(
        lines,
        [
            "#HttpOnly_.example.org\tTRUE\t/p\tTRUE\t4102444800\tother\to",
            "127.0.0.1\tFALSE\t/\tFALSE\t0\tkept\tk",
            "127.0.0.1\tFALSE\t/\tFALSE\t0\tsid\ts3ss10n",
        ],
        "{written}"
    );

    // The written jar is a -b file.
    let again = answering();
    let out = haul_urls(&tmp, &[again.url("/next")], &["-b", "saved.txt"]);
    out.assert_code(0);
    let sent = cookies_sent(&again);
    assert_eq!(sent.len(), 1, "{out}");
    let pairs = sorted_pairs(sent[0].as_deref().unwrap_or_default());
    assert_eq!(pairs, ["kept=k", "sid=s3ss10n"], "{out}");
}

/// `a; b` pairs, sorted.
fn sorted_pairs(header: &str) -> Vec<String> {
    let mut pairs: Vec<String> = header.split("; ").map(str::to_string).collect();
    pairs.sort();
    pairs
}

/// `-b jar -c jar`: a jar that is not there yet is an empty one (its first
/// run); the next run reads what the first wrote.
#[test]
fn b_and_c_may_name_one_file_missing_on_the_first_run() {
    let server = server::http(|req| {
        let res = match req.uri().path() {
            "/login" => with_header(ok("in"), "set-cookie", "sid=abc123; Path=/"),
            _ => ok("body"),
        };
        async move { res }
    });
    let tmp = TempDir::new().unwrap();
    let both = ["-b", "jar.txt", "-c", "jar.txt"];
    let out = haul_urls(&tmp, &[server.url("/login")], &both);
    out.assert_code(0).assert_summary(1, 0, 0);
    let out = haul_urls(&tmp, &[server.url("/next")], &both);
    out.assert_code(0).assert_summary(1, 0, 0);
    assert_eq!(
        cookies_sent(&server),
        [None, Some("sid=abc123".into())],
        "{out}"
    );
    let jar = std::fs::read_to_string(tmp.path().join("jar.txt")).unwrap();
    assert!(jar.contains("\tsid\tabc123\n"), "{jar}");
    let names: Vec<_> = std::fs::read_dir(tmp.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.contains(".tmp"))
        .collect();
    assert!(names.is_empty(), "temp files left: {names:?}");
}

/// A failed run still writes the jar (the cookies are as good), and -b
/// without -c writes nothing.
#[test]
fn a_failed_run_writes_the_jar_and_b_alone_writes_nothing() {
    let server = server::http(|_| async {
        with_header(
            status(StatusCode::NOT_FOUND),
            "set-cookie",
            "seen=yes; Path=/",
        )
    });
    let tmp = TempDir::new().unwrap();
    let input = jar_file(&tmp, &cookie("127.0.0.1", "a", "b"));
    let before = std::fs::read(&input).unwrap();
    let out = haul_urls(&tmp, &[server.url("/gone")], &["-b", &input]);
    out.assert_code(1);
    assert_eq!(std::fs::read(&input).unwrap(), before);
    let out = haul_urls(&tmp, &[server.url("/gone")], &["-c", "out.txt"]);
    out.assert_code(1);
    let jar = std::fs::read_to_string(tmp.path().join("out.txt")).unwrap();
    assert!(jar.contains("\tseen\tyes\n"), "{jar}");
}

/// A line that is not a cookie is skipped with a warning naming FILE:LINE
/// (curl is as lenient); the others are sent. The warning never shows the
/// value, and -q says nothing.
#[test]
fn a_bad_line_is_a_warning_naming_file_and_line() {
    let server = answering();
    let tmp = TempDir::new().unwrap();
    let text = format!(
        "# Netscape HTTP Cookie File\n{}127.0.0.1 FALSE / FALSE 0 spaced v4lue-secret\n\
         127.0.0.1\tMAYBE\t/\tFALSE\t0\tflag\tv4lue-secret\n",
        cookie("127.0.0.1", "good", "g")
    );
    let jar = jar_file(&tmp, &text);
    let out = haul_urls(&tmp, &[server.url("/a")], &["-b", &jar]);
    out.assert_code(0).assert_summary(1, 0, 0);
    assert!(
        out.stderr.contains("jar.txt:3: expected 7 fields") && out.stderr.contains("jar.txt:4: "),
        "{out}"
    );
    assert!(!out.stderr.contains("v4lue-secret"), "{out}");
    assert_eq!(cookies_sent(&server), [Some("good=g".into())]);

    let out = haul_urls(&tmp, &[server.url("/b")], &["-b", &jar, "-q"]);
    out.assert_code(0);
    assert_eq!(out.stderr, "", "-q prints nothing");
}

/// Cookie values, from -b and from answers, appear nowhere haul writes:
/// not in -vv logs (libraries' debug logs included), the report or a dry
/// run.
#[test]
fn cookie_values_never_reach_the_output() {
    let server = server::http(|req| {
        let res = match req.uri().path() {
            "/redirect" => {
                let res = with_header(status(StatusCode::FOUND), "location", "/next");
                with_header(res, "set-cookie", "set=server-secret-value; Path=/")
            }
            _ => status(StatusCode::NOT_FOUND),
        };
        async move { res }
    });
    let tmp = TempDir::new().unwrap();
    let jar = jar_file(&tmp, &cookie("127.0.0.1", "sid", "file-secret-value"));
    let url = server.url("/redirect");
    for (env, extra) in [(None, "-vv"), (Some("debug"), "-v")] {
        let mut cmd = haul_in(tmp.path());
        if let Some(filter) = env {
            cmd.env("RUST_LOG", filter);
        }
        let out = run(cmd
            .args([
                &url,
                "-d",
                "out",
                "--retries",
                "0",
                "--report",
                "-",
                "-b",
                &jar,
            ])
            .args(["-c", "out.txt", extra]));
        out.assert_code(1);
        for secret in ["file-secret-value", "server-secret-value"] {
            assert!(!out.stderr.contains(secret), "{secret} in stderr\n{out}");
            assert!(
                !out.stdout.contains(secret),
                "{secret} in the report\n{out}"
            );
        }
    }
    let out = run(haul_in(tmp.path()).args([&url, "-d", "out", "--dry-run", "-b", &jar]));
    out.assert_code(0);
    assert!(!out.stdout.contains("file-secret-value"), "{out}");
    assert!(!out.stderr.contains("file-secret-value"), "{out}");
    // A dry run writes no jar.
    let dry = tmp.path().join("dry.txt");
    let out = run(haul_in(tmp.path()).args([&url, "-d", "out", "--dry-run", "-c", "dry.txt"]));
    out.assert_code(0);
    assert!(!dry.exists(), "{out}");
    // The server saw them all the same.
    let sent = cookies_sent(&server);
    assert!(
        sent.iter()
            .flatten()
            .any(|c| c.contains("server-secret-value")),
        "{sent:?}"
    );
}

/// A -H Cookie is sent as given: the jar adds nothing to the requests it
/// goes to.
#[test]
fn a_cookie_header_wins_over_the_jar() {
    let server = answering();
    let tmp = TempDir::new().unwrap();
    let jar = jar_file(&tmp, &cookie("127.0.0.1", "jar", "j"));
    let out = haul_urls(
        &tmp,
        &[server.url("/a")],
        &["-b", &jar, "-H", "Cookie: given=1"],
    );
    out.assert_code(0);
    assert_eq!(cookies_sent(&server), [Some("given=1".into())]);
}

/// Runs haul with `extra` and expects a usage error (exit 2) that contains
/// every one of `says`, before any request.
#[track_caller]
fn assert_refused(tmp: &TempDir, extra: &[&str], says: &[&str]) {
    let server = answering().expect_no_hits();
    let out = run_with_timeout(
        haul_in(tmp.path())
            .args([&server.url("/a"), "-d", "out"])
            .args(extra),
        Duration::from_secs(20),
    );
    out.assert_code(2);
    for text in says {
        assert!(out.stderr.contains(text), "expected {text:?}\n{out}");
    }
    assert!(!tmp.path().join("out").exists(), "{out}");
}

/// A -c that is a file haul reads or writes otherwise is a usage error
/// before anything is touched: an -i list, a --checksums file, the
/// --report or the --state (there yet or not); nor may --report be the -b
/// file. -b and -c may be one file.
#[test]
fn c_that_is_an_input_or_another_output_is_a_usage_error() {
    let tmp = TempDir::new().unwrap();
    let list = write_list(tmp.path(), "urls.txt", &["http://127.0.0.1:9/x".into()]);
    let list = list.display().to_string();
    let before = std::fs::read(&list).unwrap();
    assert_refused(&tmp, &["-i", &list, "-c", &list], &["-c", "-i list"]);
    assert_eq!(std::fs::read(&list).unwrap(), before);
    write_file(tmp.path(), "SUMS", b"");
    assert_refused(
        &tmp,
        &["--checksums", "SUMS", "-c", "SUMS"],
        &["--checksums file"],
    );
    assert_refused(
        &tmp,
        &["--report", "r.jsonl", "-c", "r.jsonl"],
        &["-c r.jsonl is also the --report file"],
    );
    assert_refused(
        &tmp,
        &["--state", "st", "-c", "./st"],
        &["-c ./st is also the --state file"],
    );
    let jar = jar_file(&tmp, &cookie("127.0.0.1", "a", "b"));
    assert_refused(
        &tmp,
        &["-b", &jar, "--report", &jar],
        &["--report", "-b cookie file"],
    );
}

/// Where -c cannot be written at the end, the run is refused at the start:
/// a missing folder, a folder, a symlink (left as it was, and its target
/// too: the jar would replace the link, not write where it points).
#[test]
fn c_that_cannot_be_replaced_is_refused_before_the_run() {
    let tmp = TempDir::new().unwrap();
    assert_refused(
        &tmp,
        &["-c", "no/such/jar.txt"],
        &["folder no/such does not exist"],
    );
    std::fs::create_dir(tmp.path().join("folder")).unwrap();
    assert_refused(&tmp, &["-c", "folder"], &["-c folder is a folder"]);
    let target = write_file(tmp.path(), "target.txt", b"keep me");
    std::os::unix::fs::symlink(&target, tmp.path().join("link.txt")).unwrap();
    assert_refused(
        &tmp,
        &["-c", "link.txt"],
        &["-c link.txt is a symbolic link"],
    );
    assert!(
        std::fs::symlink_metadata(tmp.path().join("link.txt"))
            .unwrap()
            .file_type()
            .is_symlink()
    );
    assert_eq!(std::fs::read(&target).unwrap(), b"keep me");
}

/// A -b that cannot be read is an input error naming it (exit 2) before
/// any request: missing, a folder, /dev/zero or a file over 16 MiB (read
/// no further than that); a cookie given as -b gets a hint. A FIFO with no
/// writer reads as empty, without hanging.
#[test]
fn b_that_cannot_be_read_is_refused_and_a_fifo_does_not_hang() {
    let tmp = TempDir::new().unwrap();
    assert_refused(
        &tmp,
        &["-b", "missing.txt"],
        &["-b cookie file", "missing.txt"],
    );
    assert_refused(
        &tmp,
        &["-b", "sid=s3cret"],
        &["-b takes a cookie file", "-H 'Cookie"],
    );
    std::fs::create_dir(tmp.path().join("dir")).unwrap();
    assert_refused(&tmp, &["-b", "dir"], &["dir", "is a folder"]);
    if Path::new("/dev/zero").exists() {
        assert_refused(
            &tmp,
            &["-b", "/dev/zero"],
            &["/dev/zero", "longer than 16 MiB"],
        );
    }
    let huge = tmp.path().join("huge.txt");
    std::fs::File::create(&huge)
        .unwrap()
        .set_len(17 << 20)
        .unwrap();
    assert_refused(
        &tmp,
        &["-b", "huge.txt"],
        &["huge.txt", "longer than 16 MiB"],
    );

    let fifo = tmp.path().join("fifo");
    mkfifo(&fifo, 0o600);
    let server = answering();
    let out = run_with_timeout(
        haul_in(tmp.path()).args([&server.url("/a"), "-d", "out", "-b", "fifo"]),
        Duration::from_secs(20),
    );
    out.assert_code(0).assert_summary(1, 0, 0);
    assert_eq!(cookies_sent(&server), [None]);
}

/// The -b and -c files are haul's own: a download named like one of them
/// in --dir fails instead of writing over it.
#[test]
fn no_download_writes_over_the_cookie_files() {
    let server = server::files([
        ("/in.txt", b"downloaded".to_vec()),
        ("/jar.txt", b"downloaded".to_vec()),
    ])
    .expect_no_hits();
    let tmp = TempDir::new().unwrap();
    let input = cookie("127.0.0.1", "a", "b");
    write_file(tmp.path(), "in.txt", input.as_bytes());
    let out = run(haul_in(tmp.path())
        .args([server.url("/in.txt"), server.url("/jar.txt")])
        .args([
            "-d",
            ".",
            "-b",
            "in.txt",
            "-c",
            "jar.txt",
            "--on-exists",
            "overwrite",
        ]));
    out.assert_code(1).assert_summary(0, 0, 2);
    out.assert_failure(&server.url("/in.txt"), &["-b cookie file"]);
    out.assert_failure(&server.url("/jar.txt"), &["-c cookie jar"]);
    assert_eq!(
        std::fs::read_to_string(tmp.path().join("in.txt")).unwrap(),
        input
    );
    let jar = std::fs::read_to_string(tmp.path().join("jar.txt")).unwrap();
    assert!(jar.contains("\ta\tb\n"), "{jar}");
}
