//! Which failures are retried and how often (`--retries`), the backoff
//! (`--retry-wait`, full jitter), `Retry-After` and the host-wide pause it
//! causes, a waiting retry not holding a `-j` slot, `--connect-timeout`,
//! `--stall-timeout`, `--timeout`, duration syntax, and write errors
//! (`RLIMIT_FSIZE`).
//!
//! Not here: what a retry sends to resume (resume.rs).

use std::time::{Duration, SystemTime};

use hyper::StatusCode;
use tempfile::TempDir;

use super::{FAST, assert_saved, gap, logged_requests, show};
use crate::support::{
    assert_out_holds, assert_tree_eq, expected, haul_in, pseudo_random, record, run, server, tree,
};

/// A retry wait at most this much longer than its bound still counts as
/// within it: process start-up, connection set-up and a busy CI machine.
const SLACK: Duration = Duration::from_millis(150);

/// A server whose first answer for a path is `first(body)` and every later
/// one a plain 200 with `body`.
fn first_then_ok(
    body: &[u8],
    first: impl Fn(&[u8]) -> hyper::Response<server::Body> + Send + Sync + 'static,
) -> server::Server {
    let body = body.to_vec();
    server::http_nth(move |_req, n| {
        let res = if n == 0 {
            first(&body)
        } else {
            server::ok(body.clone())
        };
        async move { res }
    })
}

/// Asserts that the server saw exactly two requests (an attempt and one
/// retry) and returns the time between them.
#[track_caller]
fn wait_before_the_retry(server: &server::Server) -> Duration {
    let (reqs, log) = logged_requests(server);
    assert_eq!(reqs.len(), 2, "{log}");
    gap(&reqs[0], &reqs[1])
}

#[test]
fn retryable_statuses_are_retried_until_success() {
    // Contract: 408, 425, 429, 500, 502, 503 and 504 are retried.
    const CODES: [u16; 7] = [408, 425, 429, 500, 502, 503, 504];
    let body = pseudo_random(1, 5_000);
    let served = body.clone();
    let server = server::http_nth(move |_req, n| {
        let body = served.clone();
        async move {
            match CODES.get(n) {
                Some(&code) => server::status(StatusCode::from_u16(code).unwrap()),
                None => server::ok(body),
            }
        }
    });
    let tmp = TempDir::new().unwrap();
    let url = server.url("/flaky.bin");

    let out = run(haul_in(tmp.path())
        .args([&url, "--retries", "7", "--report", "-", "-d", "out"])
        .args(FAST));

    assert_saved(&out, &tmp, "flaky.bin", &body);
    assert_eq!(server.hits(), 8, "{}", show(&server.requests()));
    let rec = record(&out.stdout_report(), &url).clone();
    assert_eq!(rec["status"], "ok", "{rec}");
    assert_eq!(rec["http_status"], 200, "{rec}");
    assert_eq!(rec["attempts"], 8, "attempts = requests made: {rec}");
}

#[test]
fn other_client_errors_are_final_at_once() {
    const CODES: [u16; 8] = [400, 401, 403, 404, 405, 410, 418, 451];
    let server = server::http(|req| async move {
        let code: u16 = req.uri().path()[1..].parse().unwrap();
        server::status(StatusCode::from_u16(code).unwrap())
    });
    let tmp = TempDir::new().unwrap();
    let urls: Vec<String> = CODES.iter().map(|c| server.url(&format!("/{c}"))).collect();

    let out = run(haul_in(tmp.path())
        .args(&urls)
        .args(["--retries", "3", "--report", "-", "-d", "out"])
        .args(FAST));

    out.assert_code(1).assert_summary(0, 0, CODES.len());
    let records = out.stdout_report();
    for (code, url) in CODES.iter().zip(&urls) {
        assert_eq!(
            server.hits_for(&format!("/{code}")),
            1,
            "{code} must not be retried: {}",
            show(&server.requests())
        );
        out.assert_failure(url, &[&code.to_string()]);
        let rec = record(&records, url);
        assert_eq!(rec["attempts"], 1, "{rec}");
        assert_eq!(rec["http_status"], *code, "{rec}");
    }
    // Error pages are never written, not even as `.part`.
    assert_out_holds(tmp.path(), []);
}

#[test]
fn exhausted_retries_fail_the_url_with_one_line() {
    let server = server::http(|_req| async { server::status(StatusCode::SERVICE_UNAVAILABLE) });
    let tmp = TempDir::new().unwrap();
    let url = server.url("/down.bin");

    let out = run(haul_in(tmp.path())
        .args([&url, "--retries", "2", "--report", "-", "-d", "out"])
        .args(FAST));

    out.assert_code(1).assert_summary(0, 0, 1);
    assert_eq!(server.hits(), 3, "1 attempt + 2 retries");
    let lines = out.failure_lines(&url);
    assert_eq!(
        lines.len(),
        1,
        "one failure line per URL, not one per attempt\n{out}"
    );
    assert!(
        lines[0].starts_with(&format!("haul: {url} -> ")),
        "`haul: URL -> PATH: reason`\n{out}"
    );
    out.assert_failure(&url, &["down.bin", "503"]);
    let rec = record(&out.stdout_report(), &url).clone();
    assert_eq!(rec["status"], "failed", "{rec}");
    assert_eq!(rec["attempts"], 3, "{rec}");
    assert_out_holds(tmp.path(), []);
}

#[test]
fn retries_default_to_three() {
    let server = server::http(|_req| async { server::status(StatusCode::INTERNAL_SERVER_ERROR) });
    let tmp = TempDir::new().unwrap();

    let out = run(haul_in(tmp.path())
        .args([&server.url("/e.bin"), "-d", "out"])
        .args(FAST));

    out.assert_code(1);
    assert_eq!(server.hits(), 4, "1 attempt + 3 retries by default");
}

#[test]
fn retries_zero_makes_one_attempt() {
    let server = server::http(|_req| async { server::status(StatusCode::BAD_GATEWAY) });
    let tmp = TempDir::new().unwrap();

    let out = run(haul_in(tmp.path())
        .args([&server.url("/e.bin"), "--retries", "0", "-d", "out"])
        .args(FAST));

    out.assert_code(1);
    assert_eq!(server.hits(), 1);
}

#[test]
fn a_dropped_connection_is_retried() {
    // The first answer is cut before its headers go out: a connection error, not an HTTP one.
    let body = pseudo_random(2, 3_000);
    let server = first_then_ok(&body, |_| {
        hyper::Response::new(server::Body::steps([server::Step::Cut]))
    });
    let tmp = TempDir::new().unwrap();

    let out = run(haul_in(tmp.path())
        .args([&server.url("/reset.bin"), "-d", "out"])
        .args(FAST));

    assert_saved(&out, &tmp, "reset.bin", &body);
    assert_eq!(server.hits(), 2, "{}", show(&server.requests()));
}

#[test]
fn a_refused_connection_is_retried() {
    // A port that was just free: nothing listens there.
    let port = {
        let listener = std::net::TcpListener::bind(("127.0.0.1", 0)).unwrap();
        listener.local_addr().unwrap().port()
    };
    let tmp = TempDir::new().unwrap();
    let url = format!("http://127.0.0.1:{port}/nobody.bin");

    let out = run(haul_in(tmp.path())
        .args([&url, "--retries", "2", "--report", "-", "-d", "out"])
        .args(FAST));

    out.assert_code(1).assert_summary(0, 0, 1);
    out.assert_failure(&url, &["nobody.bin"]);
    assert_eq!(out.failure_lines(&url).len(), 1, "{out}");
    let rec = record(&out.stdout_report(), &url).clone();
    assert_eq!(rec["attempts"], 3, "{rec}");
}

#[test]
fn backoff_doubles_with_full_jitter() {
    // The k-th retry waits uniform(0, retry_wait * 2^(k-1)): 20, 40, ... 640 ms here.
    let server = server::http(|_req| async { server::status(StatusCode::INTERNAL_SERVER_ERROR) });
    let tmp = TempDir::new().unwrap();

    let out = run(haul_in(tmp.path()).args([
        &server.url("/e.bin"),
        "--retries",
        "6",
        "--retry-wait",
        "20ms",
        "-d",
        "out",
    ]));

    out.assert_code(1);
    let reqs = server.requests();
    assert_eq!(reqs.len(), 7, "{}", show(&reqs));
    let gaps: Vec<Duration> = reqs.windows(2).map(|w| gap(&w[0], &w[1])).collect();
    let bounds: Vec<Duration> = (0..6).map(|k| Duration::from_millis(20 << k)).collect();
    for (k, (g, b)) in gaps.iter().zip(&bounds).enumerate() {
        assert!(
            *g <= *b + SLACK,
            "retry {} waited {g:?}, more than its bound {b:?}\n{}",
            k + 1,
            show(&reqs)
        );
    }
    // Waits do happen: under full jitter all six adding up to less than
    // 20 ms has a probability of about 3e-5.
    let total: Duration = gaps.iter().sum();
    assert!(
        total >= Duration::from_millis(20),
        "no backoff at all?\n{}",
        show(&reqs)
    );
    // And they are jittered: the last four all landing in the top tenth of
    // their range has a probability of 1e-4 (a fixed schedule always does).
    assert!(
        gaps.iter()
            .zip(&bounds)
            .skip(2)
            .any(|(g, b)| g.as_secs_f64() < 0.9 * b.as_secs_f64()),
        "waits look unjittered\n{}",
        show(&reqs)
    );
}

/// A server whose `path` answers `code` with `Retry-After: retry_after` the
/// first time and 200 afterwards; every other path is a 200 at once.
fn retry_after_once(path: &'static str, code: StatusCode, retry_after: String) -> server::Server {
    server::http_nth(move |req, n| {
        let retry_after = retry_after.clone();
        async move {
            if req.uri().path() == path && n == 0 {
                server::with_header(server::status(code), "retry-after", &retry_after)
            } else {
                server::ok(format!("body of {}", req.uri().path()))
            }
        }
    })
}

#[test]
fn retry_after_seconds_sets_the_wait() {
    // 503 on 127.0.0.1, 429 on localhost: two hosts, so neither pause touches the other.
    let server = server::http_nth(|req, n| async move {
        let code = match req.uri().path() {
            "/a.txt" => StatusCode::SERVICE_UNAVAILABLE,
            _ => StatusCode::TOO_MANY_REQUESTS,
        };
        if n == 0 {
            server::with_header(server::status(code), "retry-after", "1")
        } else {
            server::ok(format!("body of {}", req.uri().path()))
        }
    });
    let tmp = TempDir::new().unwrap();
    let port = server.authority().rsplit(':').next().unwrap().to_string();

    let out = run(haul_in(tmp.path())
        .args([
            &server.url("/a.txt"),
            &format!("http://localhost:{port}/b.txt"),
            "-d",
            "out",
        ])
        .args(FAST));

    out.assert_code(0).assert_summary(2, 0, 0);
    for path in ["/a.txt", "/b.txt"] {
        let reqs = server.requests_for(path);
        assert_eq!(reqs.len(), 2, "{}", show(&server.requests()));
        let waited = gap(&reqs[0], &reqs[1]);
        assert!(
            waited >= Duration::from_millis(950)
                && waited <= Duration::from_millis(1000) + SLACK * 4,
            "{path}: Retry-After: 1 should mean a 1s wait, not {waited:?}\n{}",
            show(&server.requests())
        );
    }
}

#[test]
fn retry_after_http_date_sets_the_wait() {
    // An HTTP date has one-second resolution: now + 2s names a moment 1-2s away.
    let when = httpdate::fmt_http_date(SystemTime::now() + Duration::from_secs(2));
    let server = retry_after_once("/d.txt", StatusCode::TOO_MANY_REQUESTS, when.clone());
    let tmp = TempDir::new().unwrap();

    let out = run(haul_in(tmp.path())
        .args([&server.url("/d.txt"), "-d", "out"])
        .args(FAST));

    out.assert_code(0).assert_summary(1, 0, 0);
    let waited = wait_before_the_retry(&server);
    assert!(
        waited >= Duration::from_millis(800) && waited <= Duration::from_millis(2600),
        "Retry-After: {when} should mean a wait of 1-2s, not {waited:?}\n{}",
        show(&server.requests())
    );
}

#[test]
fn retry_after_pauses_the_whole_host() {
    // -j 1 and input order a, d, e, b, c: /a gets 429 + Retry-After: 2. /d
    // (localhost) and /e (another port) are other hosts and go at once; /b and
    // /c share /a's host and wait for the pause to end, although a slot is free.
    let server = retry_after_once("/a.txt", StatusCode::TOO_MANY_REQUESTS, "2".into());
    let other_port = server::files([("/e.txt", b"e".to_vec())]);
    let tmp = TempDir::new().unwrap();
    let port = server.authority().rsplit(':').next().unwrap().to_string();

    let out = run(haul_in(tmp.path())
        .args([
            &server.url("/a.txt"),
            &format!("http://localhost:{port}/d.txt"),
            &other_port.url("/e.txt"),
            &server.url("/b.txt"),
            &server.url("/c.txt"),
            "-j",
            "1",
            "-d",
            "out",
        ])
        .args(FAST));

    out.assert_code(0).assert_summary(5, 0, 0);
    let reqs = server.requests();
    let log = show(&reqs);
    assert_eq!(reqs.len(), 5, "{log}");
    assert_eq!(
        reqs[0].uri, "/a.txt",
        "-j 1 starts with the first URL\n{log}"
    );
    let first_a = &reqs[0];
    let d = &server.requests_for("/d.txt")[0];
    assert!(
        gap(first_a, d) < Duration::from_millis(1000),
        "another host name must not be paused\n{log}"
    );
    let e = &other_port.requests()[0];
    assert!(
        gap(first_a, e) < Duration::from_millis(1000),
        "another port must not be paused: /e.txt came {:?} after /a.txt\n{log}",
        gap(first_a, e)
    );
    for later in reqs[1..].iter().filter(|r| r.uri != "/d.txt") {
        assert!(
            gap(first_a, later) >= Duration::from_millis(1900),
            "{} went to the paused host before Retry-After ran out\n{log}",
            later.uri
        );
    }
    assert!(
        out.elapsed < Duration::from_millis(4500),
        "the pause should cost ~2s, not {:?}\n{log}",
        out.elapsed
    );
}

#[test]
fn a_waiting_retry_does_not_hold_a_slot() {
    // -j 1: /flaky on 127.0.0.1 answers 503 + Retry-After: 2 once. While it
    // waits, the one slot serves five URLs on localhost (another host); /same
    // on 127.0.0.1 waits for the host pause.
    let server = server::http_nth(|req, n| async move {
        let path = req.uri().path().to_string();
        if path == "/flaky.txt" && n == 0 {
            return server::with_header(
                server::status(StatusCode::SERVICE_UNAVAILABLE),
                "retry-after",
                "2",
            );
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        server::ok(format!("body of {path}"))
    });
    let tmp = TempDir::new().unwrap();
    let port = server.authority().rsplit(':').next().unwrap().to_string();
    let mut args = vec![server.url("/flaky.txt")];
    args.extend((1..=5).map(|i| format!("http://localhost:{port}/ok{i}.txt")));
    args.push(server.url("/same.txt"));

    let out = run(haul_in(tmp.path())
        .args(&args)
        .args(["-j", "1", "-d", "out"])
        .args(FAST));

    out.assert_code(0).assert_summary(7, 0, 0);
    let log = show(&server.requests());
    let flaky = server.requests_for("/flaky.txt");
    assert_eq!(flaky.len(), 2, "{log}");
    assert!(
        gap(&flaky[0], &flaky[1]) >= Duration::from_millis(1900),
        "{log}"
    );
    for i in 1..=5 {
        let ok = server.requests_for(&format!("/ok{i}.txt"));
        assert_eq!(ok.len(), 1, "{log}");
        assert!(
            ok[0].at < flaky[1].at,
            "/ok{i}.txt should be fetched while /flaky.txt waits\n{log}"
        );
    }
    let same = &server.requests_for("/same.txt")[0];
    assert!(
        gap(&flaky[0], same) >= Duration::from_millis(1900),
        "a 503 with Retry-After pauses its host\n{log}"
    );
    assert_eq!(server.max_in_flight(), 1, "-j 1 still holds\n{log}");
    assert!(
        out.elapsed < Duration::from_millis(3500),
        "the run should take ~2s, not {:?}\n{log}",
        out.elapsed
    );
}

#[test]
fn a_stalled_attempt_is_abandoned_and_retried() {
    let full = pseudo_random(3, 50_000);
    let server = first_then_ok(&full, |full| {
        server::stall_after(full[..10_000].to_vec(), full.len(), Duration::from_secs(30))
    });
    let tmp = TempDir::new().unwrap();

    let out = run(haul_in(tmp.path())
        .args([
            &server.url("/stall.bin"),
            "--stall-timeout",
            "300ms",
            "-d",
            "out",
        ])
        .args(FAST));

    assert_saved(&out, &tmp, "stall.bin", &full);
    let waited = wait_before_the_retry(&server);
    assert!(
        waited >= Duration::from_millis(290) && waited < Duration::from_secs(5),
        "the stall timeout should fire after ~300ms, not {waited:?}"
    );
}

#[test]
fn timeout_limits_a_whole_attempt() {
    // The first answer trickles for 2.5s, never silent for long: only --timeout can stop it.
    let full = pseudo_random(4, 50_000);
    let server = first_then_ok(&full, |full| {
        server::drip(full.to_vec(), 1_000, Duration::from_millis(50))
    });
    let tmp = TempDir::new().unwrap();

    let out = run(haul_in(tmp.path())
        .args([
            &server.url("/slow.bin"),
            "--timeout",
            "500ms",
            "--stall-timeout",
            "5s",
            "-d",
            "out",
        ])
        .args(FAST));

    assert_saved(&out, &tmp, "slow.bin", &full);
    let waited = wait_before_the_retry(&server);
    assert!(
        waited >= Duration::from_millis(490) && waited < Duration::from_millis(2000),
        "the first attempt should end after ~500ms, not {waited:?}"
    );
}

#[test]
fn durations_take_ms_s_and_m() {
    let server = server::files([("/a.txt", b"alpha".to_vec())]);
    let tmp = TempDir::new().unwrap();

    let out = run(haul_in(tmp.path()).args([
        &server.url("/a.txt"),
        "--connect-timeout",
        "500ms",
        "--stall-timeout",
        "1m",
        "--timeout",
        "2m",
        "--retry-wait",
        "2s",
        "--retries",
        "5",
        "-d",
        "out",
    ]));

    out.assert_code(0);
    assert_out_holds(tmp.path(), [("a.txt", &b"alpha"[..])]);
}

#[test]
fn bad_reliability_flags_are_usage_errors() {
    let tmp = TempDir::new().unwrap();
    for args in [
        &["--retries", "-1"][..],
        &["--retries", "many"],
        &["--retry-wait", "soon"],
        &["--stall-timeout", "5 parsecs"],
        &["--timeout", "ms"],
        &["--connect-timeout", "-2s"],
    ] {
        let out = run(haul_in(tmp.path())
            .args(args)
            .args(["http://127.0.0.1:1/x", "-d", "out"]));
        assert_eq!(out.code(), Some(2), "args {args:?}\n{out}");
        assert!(out.stdout.is_empty(), "args {args:?}\n{out}");
    }
    assert_tree_eq(&tree(tmp.path()), &expected([]));
}

#[cfg(unix)]
#[test]
fn a_write_error_fails_that_download_only() {
    // RLIMIT_FSIZE of 256 KiB: the 1 MiB file cannot be written, the small ones can.
    const LIMIT: u64 = 256 * 1024;
    let big = pseudo_random(5, 1024 * 1024);
    let smalls: Vec<Vec<u8>> = (0..3).map(|i| pseudo_random(10 + i, 20_000)).collect();
    let server = server::files([
        ("/s0.bin", smalls[0].clone()),
        ("/big.bin", big.clone()),
        ("/s1.bin", smalls[1].clone()),
        ("/s2.bin", smalls[2].clone()),
    ]);
    let tmp = TempDir::new().unwrap();
    let big_url = server.url("/big.bin");

    let mut cmd = haul_in(tmp.path());
    crate::support::limit_file_size(&mut cmd, LIMIT);
    let out = run(cmd
        .args([
            &server.url("/s0.bin"),
            &big_url,
            &server.url("/s1.bin"),
            &server.url("/s2.bin"),
            "-d",
            "out",
        ])
        .args(FAST));

    out.assert_code(1).assert_summary(3, 0, 1);
    out.assert_failure(&big_url, &["big.bin.part", "File too large"]);
    // What reached the disk before the limit stays, for a later resume.
    assert_tree_eq(
        &tree(&tmp.path().join("out")),
        &expected([
            ("s0.bin", &smalls[0][..]),
            ("big.bin.part", &big[..LIMIT as usize]),
            ("s1.bin", &smalls[1][..]),
            ("s2.bin", &smalls[2][..]),
        ]),
    );
}

#[cfg(unix)]
#[test]
fn an_empty_part_is_removed_after_a_write_error() {
    // RLIMIT_FSIZE of 0: the `.part` can be created but not written to.
    let server = server::files([("/a.bin", pseudo_random(6, 50_000))]);
    let tmp = TempDir::new().unwrap();
    let url = server.url("/a.bin");

    let mut cmd = haul_in(tmp.path());
    crate::support::limit_file_size(&mut cmd, 0);
    let out = run(cmd.args([&url, "-d", "out"]).args(FAST));

    out.assert_code(1);
    out.assert_failure(&url, &["a.bin.part", "File too large"]);
    assert_out_holds(tmp.path(), []);
    // The file is requested; a write error is not retried.
    assert_eq!(server.hits(), 1);
}

#[test]
fn quiet_prints_nothing_when_a_retry_succeeds() {
    // Contract: "-q with no failure prints nothing at all"; a retried attempt is not a failure.
    let server = first_then_ok(b"fine", |_| server::status(StatusCode::SERVICE_UNAVAILABLE));
    let tmp = TempDir::new().unwrap();

    let out = run(haul_in(tmp.path())
        .args([&server.url("/a.txt"), "-q", "-d", "out"])
        .args(FAST));

    out.assert_code(0).assert_stdout_empty();
    assert!(out.stderr.is_empty(), "-q must print nothing\n{out}");
    assert_eq!(server.hits(), 2);
}

#[cfg(unix)]
#[test]
fn connect_timeout_abandons_an_unanswered_connect() {
    let hole = crate::support::unanswered_port();
    let tmp = TempDir::new().unwrap();
    let url = format!("http://127.0.0.1:{}/x.bin", hole.port);

    let out = run(haul_in(tmp.path())
        .args([&url, "--connect-timeout", "300ms", "--retries", "1"])
        .args(["--report", "-", "-d", "out"])
        .args(FAST));

    out.assert_code(1).assert_summary(0, 0, 1);
    out.assert_failure(&url, &["x.bin"]);
    let rec = record(&out.stdout_report(), &url).clone();
    assert_eq!(rec["attempts"], 2, "a connect timeout is retried: {rec}");
    assert!(
        out.elapsed >= Duration::from_millis(550) && out.elapsed < Duration::from_secs(4),
        "two attempts of ~300ms each, not {:?}\n{out}",
        out.elapsed
    );
}

/// A big flaky run is not a wall of warnings: one line per host at its
/// 1st, 10th, 100th... retry, each attempt only at `-v`.
#[test]
fn retry_warnings_are_counted_per_host() {
    let server = first_then_ok(b"fine", |_| server::status(StatusCode::SERVICE_UNAVAILABLE));
    let tmp = TempDir::new().unwrap();
    let pattern = server.url("/f[1-12]");

    let out = run(haul_in(tmp.path()).args([&pattern, "-d", "out"]).args(FAST));

    out.assert_code(0).assert_summary(12, 0, 0);
    let warnings: Vec<&str> = out
        .stderr
        .lines()
        .filter(|l| l.contains("so far"))
        .collect();
    assert_eq!(warnings.len(), 2, "{out}");
    assert!(
        warnings[0].contains("1 retry so far") && warnings[0].contains("503"),
        "{out}"
    );
    assert!(warnings[1].contains("10 retries so far"), "{out}");

    // At -v, every attempt has its line (a fresh server fails each path once).
    let again = first_then_ok(b"fine", |_| server::status(StatusCode::SERVICE_UNAVAILABLE));
    let verbose = run(haul_in(tmp.path())
        .args([&again.url("/f[1-12]"), "-d", "again", "-v"])
        .args(FAST));
    verbose.assert_code(0);
    let attempts = verbose
        .stderr
        .lines()
        .filter(|l| l.contains("attempt 1 failed"))
        .count();
    assert_eq!(attempts, 12, "{verbose}");
}
