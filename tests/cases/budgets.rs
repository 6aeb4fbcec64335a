//! Run budgets for cron: `--deadline DUR|TIME` and `--max-bytes SIZE` stop
//! the run as Ctrl-C does (no new downloads, those in flight keep their
//! `.part`), say what was not started, and exit 3.
//!
//! Not here: exit-code precedence between 130/143, 3 and 1 (unit tests in
//! `src/report.rs`).

use std::time::Duration;

use tempfile::TempDir;

use crate::support::server::{self, drip};
use crate::support::{haul_in, pseudo_random, run, tree};

#[test]
fn a_deadline_stops_the_run_and_keeps_the_parts() {
    let body = pseudo_random(51, 64 * 1024);
    let server = server::http(move |_req| {
        let res = drip(body.clone(), 4 * 1024, Duration::from_millis(100));
        async move { res }
    })
    .any_hits();
    let tmp = TempDir::new().unwrap();

    let out = run(haul_in(tmp.path()).args([
        &server.url("/f[1-6]"),
        "-j",
        "2",
        "--deadline",
        "600ms",
        "-d",
        "out",
    ]));

    out.assert_code(3);
    assert!(out.elapsed < Duration::from_secs(5), "{out}");
    // All six URLs were planned (the input was read to its end).
    assert!(
        out.stderr
            .lines()
            .any(|l| l == "haul: stopped by --deadline: 4 planned but not started"),
        "{out}"
    );
    assert!(out.summary().ends_with("(stopped by --deadline)"), "{out}");
    let files = tree(&tmp.path().join("out"));
    let parts: Vec<_> = files.keys().filter(|k| k.ends_with(".part")).collect();
    assert_eq!(
        parts.len(),
        2,
        "the two in flight keep their .part: {files:?}"
    );
    assert_eq!(server.hits(), 2, "nothing started after the deadline");
}

#[test]
fn a_deadline_already_past_starts_nothing() {
    let server = server::files([("/a", b"a".to_vec())]).expect_no_hits();
    let tmp = TempDir::new().unwrap();

    let out = run(haul_in(tmp.path()).args([
        &server.url("/a[1-100000]"),
        "--deadline",
        "2001-01-01T00:00:00Z",
        "-d",
        "out",
    ]));

    out.assert_code(3);
    // A hundred thousand URLs: the planner was still reading ahead.
    assert!(
        out.stderr.contains("stopped by --deadline")
            && out.stderr.contains("input not read to the end"),
        "{out}"
    );
    assert!(!tmp.path().join("out").read_dir().unwrap().any(|_| true));
}

#[test]
fn max_bytes_stops_the_run_once_spent() {
    let files: Vec<(String, Vec<u8>)> = (1..=5)
        .map(|i| (format!("/f{i}"), pseudo_random(60 + i, 60 * 1024)))
        .collect();
    let server = server::files(files.clone()).any_hits();
    let tmp = TempDir::new().unwrap();

    let out = run(haul_in(tmp.path()).args([
        &server.url("/f[1-5]"),
        "-j",
        "1",
        "--max-bytes",
        "100K",
        "--report",
        "-",
        "-d",
        "out",
    ]));

    out.assert_code(3);
    assert!(out.stderr.contains("haul: stopped by --max-bytes"), "{out}");
    // The first file (60 KiB) fits; the second spends the budget and stops
    // there, its bytes kept in its .part; the rest never start.
    let got = tree(&tmp.path().join("out"));
    assert_eq!(got.get("f1"), Some(&files[0].1), "{:?}", got.keys());
    assert!(got.contains_key("f2.part"), "{:?}", got.keys());
    assert!(server.hits() <= 2, "{}", server.hits());
    let ok = out
        .stdout_report()
        .iter()
        .filter(|r| r["status"] == "ok")
        .count();
    assert_eq!(ok, 1, "{out}");
}

/// Issue 16: a URL the budget stopped before it started is counted as
/// planned but not started, even when the budget was spent before the
/// runner took the planner's first batch (it used to say 0).
#[test]
fn a_deadline_of_zero_counts_the_url_it_never_started() {
    let server = server::files([("/a", b"a".to_vec())]).expect_no_hits();
    let tmp = TempDir::new().unwrap();

    let out = run(haul_in(tmp.path()).args([&server.url("/a"), "--deadline", "0", "-d", "out"]));

    out.assert_code(3);
    assert!(
        out.stderr
            .lines()
            .any(|l| l == "haul: stopped by --deadline: 1 planned but not started"),
        "{out}"
    );
}

/// Issue 16: a URL stopped while it waits for its retry is reported with
/// the status its last attempt got (it used to be `http_status: null`).
#[test]
fn a_url_stopped_while_waiting_to_retry_keeps_its_last_status() {
    let server = server::http(|_req| {
        let res = server::with_header(
            server::status(hyper::StatusCode::SERVICE_UNAVAILABLE),
            "retry-after",
            "30",
        );
        async move { res }
    });
    let tmp = TempDir::new().unwrap();
    let url = server.url("/a");

    let out =
        run(haul_in(tmp.path()).args([&url, "--deadline", "1s", "--report", "-", "-d", "out"]));

    out.assert_code(3);
    let records = out.stdout_report();
    let record = crate::support::record(&records, &url);
    assert_eq!(record["status"], "failed", "{out}");
    assert_eq!(record["http_status"], 503, "{out}");
    assert_eq!(server.hits(), 1);
}
