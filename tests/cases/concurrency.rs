//! The `--jobs` bound, as observed by the server's in-flight gauge (handler
//! plus body streaming), with handlers slow enough that requests overlap.
//!
//! `--per-host` against two servers (two `host:port`s), with the list
//! sorted by host so that only the look-ahead keeps the second host busy.
//!
//! Not here: rate limits.

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
