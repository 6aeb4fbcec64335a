//! The `--jobs` bound, as observed by the server's in-flight gauge (handler
//! plus body streaming), with handlers slow enough that requests overlap.
//!
//! `--per-host` against two servers (two `host:port`s), with the list
//! sorted by host so that only the look-ahead keeps the second host busy.
//! `--rate`: the start times the servers saw, for one host, two hosts at
//! once, decimals and `/m`, retries, and a 429 that halves the rate.
//! `--limit-rate`: how long a transfer of known size takes.
//! `EMFILE` (a low `ulimit -n` under a high `-j`) is back-pressure.

use std::time::Duration;

use tempfile::TempDir;

use crate::support::{assert_tree_eq, haul_in, run, server, tree};

/// Serves `/f1.bin` .. `/f{count}.bin` after `delay`, runs haul with `extra`
/// args on all of them, checks every file, and returns the server's peak.
fn peak_in_flight(count: usize, delay: Duration, extra: &[&str]) -> usize {
    let files: Vec<(String, Vec<u8>)> = (1..=count)
        .map(|i| {
            (
                format!("/f{i}.bin"),
                format!("body {i}\n").repeat(i).into_bytes(),
            )
        })
        .collect();
    let server = server::files_delayed(files.clone(), delay);
    let tmp = TempDir::new().unwrap();

    let out = run(haul_in(tmp.path())
        .arg(server.url(&format!("/f[1-{count}].bin")))
        .args(extra)
        .args(["-d", "out"]));

    out.assert_code(0)
        .assert_stdout_empty()
        .assert_summary(count, 0, 0);
    let want = files
        .iter()
        .map(|(p, b)| (p[1..].to_string(), b.clone()))
        .collect();
    assert_tree_eq(&tree(&tmp.path().join("out")), &want);
    assert_eq!(server.hits(), count);
    server.max_in_flight()
}

#[test]
fn jobs_3_keeps_exactly_3_in_flight() {
    let peak = peak_in_flight(10, Duration::from_millis(100), &["-j", "3"]);
    assert_eq!(peak, 3);
}

#[test]
fn jobs_1_downloads_one_at_a_time() {
    let peak = peak_in_flight(10, Duration::from_millis(100), &["-j", "1"]);
    assert_eq!(peak, 1);
}

#[test]
fn jobs_long_form_is_accepted() {
    let peak = peak_in_flight(6, Duration::from_millis(100), &["--jobs", "2"]);
    assert_eq!(peak, 2);
}

#[test]
fn default_jobs_is_16() {
    // A longer delay so all sixteen connections are surely open at once.
    let peak = peak_in_flight(24, Duration::from_millis(400), &[]);
    assert_eq!(peak, 16);
}

/// Contract: `--per-host N` bounds each host, while other hosts use the
/// remaining `-j` slots: with all of A's URLs listed before B's, B's
/// downloads start while A's are still queued.
#[test]
fn per_host_bounds_each_host_and_lets_others_use_the_rest() {
    let delay = Duration::from_millis(250);
    let make = |prefix: &str| -> Vec<(String, Vec<u8>)> {
        (1..=6)
            .map(|i| (format!("/{prefix}{i}"), format!("{prefix}{i}").into_bytes()))
            .collect()
    };
    let a = server::files_delayed(make("a"), delay);
    let b = server::files_delayed(make("b"), delay);
    let tmp = TempDir::new().unwrap();
    let mut lines: Vec<String> = (1..=6).map(|i| a.url(&format!("/a{i}"))).collect();
    lines.extend((1..=6).map(|i| b.url(&format!("/b{i}"))));
    crate::support::write_list(tmp.path(), "urls.txt", &lines);

    let out = run(haul_in(tmp.path()).args([
        "-i",
        "urls.txt",
        "-j",
        "4",
        "--per-host",
        "2",
        "-d",
        "out",
    ]));

    out.assert_code(0).assert_summary(12, 0, 0);
    assert_eq!(a.max_in_flight(), 2, "host A");
    assert_eq!(b.max_in_flight(), 2, "host B");
    let last_a = a.requests().iter().map(|r| r.at).max().unwrap();
    let first_b = b.requests().iter().map(|r| r.at).min().unwrap();
    assert!(
        first_b < last_a,
        "B waited for all of A: the look-ahead did not start B's jobs"
    );
    assert_eq!(tree(&tmp.path().join("out")).len(), 12);
}

/// The gaps between the request start times `server` saw, in order.
fn start_gaps(server: &server::Server) -> Vec<Duration> {
    let mut at: Vec<_> = server.requests().iter().map(|r| r.at).collect();
    at.sort();
    at.windows(2).map(|w| w[1] - w[0]).collect()
}

/// Every gap is at least `interval`, give or take the slack of a busy
/// machine (the server notes each start on its own thread), and the run did
/// not take much longer than the rate allows.
#[track_caller]
fn assert_paced(gaps: &[Duration], interval: Duration, what: &str) {
    let slack = Duration::from_millis(50);
    for gap in gaps {
        assert!(
            *gap + slack >= interval,
            "{what}: a gap of {gap:?} under {interval:?}: {gaps:?}"
        );
    }
    let total: Duration = gaps.iter().sum();
    let want = interval * gaps.len() as u32;
    assert!(
        total < want + Duration::from_millis(400),
        "{what}: {total:?} for {want:?}: {gaps:?}"
    );
}

/// Contract: `--rate N` is per host and smooth (no burst of N at once):
/// two hosts at 4/s each start every 250 ms, side by side, with -j 8.
#[test]
fn rate_spaces_the_starts_to_each_host() {
    let files = |p: &str| -> Vec<(String, Vec<u8>)> {
        (1..=4)
            .map(|i| (format!("/{p}{i}"), vec![b'x'; 10]))
            .collect()
    };
    let a = server::files(files("a"));
    let b = server::files(files("b"));
    let tmp = TempDir::new().unwrap();

    let out = run(haul_in(tmp.path()).args([
        &a.url("/a[1-4]"),
        &b.url("/b[1-4]"),
        "--rate",
        "4",
        "-j",
        "8",
        "-d",
        "out",
    ]));

    out.assert_code(0).assert_summary(8, 0, 0);
    let interval = Duration::from_millis(250);
    assert_paced(&start_gaps(&a), interval, "host a");
    assert_paced(&start_gaps(&b), interval, "host b");
    // Side by side: b's first start does not wait for a's last.
    let last_a = a.requests().iter().map(|r| r.at).max().unwrap();
    let first_b = b.requests().iter().map(|r| r.at).min().unwrap();
    assert!(first_b < last_a, "b waited for a");
}

/// Decimals and per-minute rates; a retry is a start like any other.
#[test]
fn rate_takes_decimals_minutes_and_counts_retries() {
    for (rate, ms) in [("2.5", 400), ("150/m", 400)] {
        let server = server::http_nth(|req, n| async move {
            if req.uri().path() == "/flaky" && n == 0 {
                server::status(hyper::StatusCode::SERVICE_UNAVAILABLE)
            } else {
                server::ok("fine")
            }
        });
        let tmp = TempDir::new().unwrap();
        let out = run(haul_in(tmp.path()).args([
            &server.url("/flaky"),
            &server.url("/f[1-2]"),
            "--rate",
            rate,
            "--retry-wait",
            "10ms",
            "-d",
            "out",
        ]));
        out.assert_code(0).assert_summary(3, 0, 0);
        assert_eq!(server.hits(), 4, "{rate}");
        assert_paced(&start_gaps(&server), Duration::from_millis(ms), rate);
    }
}

/// Contract: with `--rate`, a 429 without Retry-After halves the host's
/// rate: the next start waits twice the interval.
#[test]
fn a_429_without_retry_after_halves_the_rate() {
    let server = server::http_nth(|_req, n| async move {
        if n == 0 {
            server::status(hyper::StatusCode::TOO_MANY_REQUESTS)
        } else {
            server::ok("fine")
        }
    });
    let tmp = TempDir::new().unwrap();

    let out = run(haul_in(tmp.path()).args([
        &server.url("/x"),
        "--rate",
        "5",
        "--retry-wait",
        "10ms",
        "-d",
        "out",
    ]));

    out.assert_code(0).assert_summary(1, 0, 0);
    let gaps = start_gaps(&server);
    assert_eq!(gaps.len(), 1, "{gaps:?}");
    assert!(
        gaps[0] + Duration::from_millis(15) >= Duration::from_millis(400),
        "{gaps:?}"
    );
}

/// Contract: `--limit-rate` caps all downloads together: 768 KiB over two
/// files at 512K/s takes about 1.5 s (less the 0.1 s burst), not the few
/// milliseconds loopback needs.
#[test]
fn limit_rate_caps_the_bytes_per_second_of_all_downloads() {
    let body = crate::support::pseudo_random(41, 384 * 1024);
    let server = server::files([("/a", body.clone()), ("/b", body.clone())]);
    let tmp = TempDir::new().unwrap();

    let out = run(haul_in(tmp.path()).args([
        &server.url("/a"),
        &server.url("/b"),
        "--limit-rate",
        "512K",
        "-d",
        "out",
    ]));

    out.assert_code(0).assert_summary(2, 0, 0);
    assert!(
        out.elapsed >= Duration::from_millis(1300) && out.elapsed < Duration::from_secs(5),
        "768 KiB at 512 KiB/s took {:?}",
        out.elapsed
    );
    let got = tree(&tmp.path().join("out"));
    assert!(got["a"] == body && got["b"] == body);
}

/// A retry whose time has come while its host is at `--per-host` waits for
/// the host's room (it never runs beside another download of the host).
#[test]
fn a_retry_waits_for_its_hosts_room() {
    let server = server::http_nth(|req, n| async move {
        if req.uri().path() == "/r1" && n == 0 {
            return server::status(hyper::StatusCode::SERVICE_UNAVAILABLE);
        }
        tokio::time::sleep(Duration::from_millis(150)).await;
        server::ok("fine")
    });
    let tmp = TempDir::new().unwrap();

    let out = run(haul_in(tmp.path()).args([
        &server.url("/r[1-3]"),
        "--per-host",
        "1",
        "-j",
        "4",
        "--retry-wait",
        "10ms",
        "-d",
        "out",
    ]));

    out.assert_code(0).assert_summary(3, 0, 0);
    assert_eq!(server.hits(), 4);
    assert_eq!(server.max_in_flight(), 1);
}

/// Running out of file descriptors is back-pressure, not a failure: under
/// `ulimit -n 64` with `-j 64`, 300 small files (each answer 20 ms late, so
/// many overlap) all arrive whole, exit 0, without spending retries on it
/// (`--retries 0`).
#[cfg(unix)]
#[test]
fn too_many_open_files_is_back_pressure() {
    let files: Vec<(String, Vec<u8>)> = (1..=300)
        .map(|i| {
            (
                format!("/f{i:03}.bin"),
                format!("body {i}\n").repeat(50).into_bytes(),
            )
        })
        .collect();
    let server = server::files_delayed(files.clone(), Duration::from_millis(20));
    let tmp = TempDir::new().unwrap();
    let mut cmd = haul_in(tmp.path());
    cmd.arg(server.url("/f[001-300].bin"))
        .args(["-j", "64", "--retries", "0", "-d", "out"]);
    crate::support::limit_open_files(&mut cmd, 64);

    let out = run(&mut cmd);

    out.assert_code(0).assert_summary(300, 0, 0);
    let want = files
        .iter()
        .map(|(p, b)| (p[1..].to_string(), b.clone()))
        .collect();
    assert_tree_eq(&tree(&tmp.path().join("out")), &want);
}
