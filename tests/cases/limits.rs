//! Limits on what haul is given: numeric flags out of range are usage
//! errors naming the flag (never a panic), impossible `--deadline` dates are
//! refused, `--min-split-size` cannot wrap into a storm of range requests,
//! auxiliary files (`--netrc-file`, `--checksums`) are read with a cap and
//! without waiting on a FIFO, and `-j` is fitted to the file descriptors
//! `ulimit -n` allows.
//!
//! Not here: each parser's table of values (unit tests in `src/cli/values.rs`),
//! the property over every flag (`src/config.rs`).

use std::process::{Command, Stdio};
use std::time::Duration;

use tempfile::TempDir;

use crate::support::server::{self, Resource, Shape};
use crate::support::{
    assert_out_holds, haul_in, mkfifo, pseudo_random, run, run_with_timeout, spawn, write_list,
};

/// The bound of the runs below that must end quickly.
const QUICK: Duration = Duration::from_secs(10);

#[test]
fn numbers_out_of_range_are_usage_errors_naming_the_flag() {
    let tmp = TempDir::new().unwrap();
    let cases = [
        // These three panicked (exit 101) adding to an Instant.
        (&["--deadline", "10000000000000000000"][..], "--deadline"),
        (&["--deadline", "153722867280912930m"], "--deadline"),
        (&["--rate", "1e-19"], "--rate"),
        (&["--rate", "1e300"], "--rate"),
        (&["-j", "18446744073709551615"], "--jobs"),
        (&["--per-host", "100000"], "--per-host"),
        (&["--retries", "4294967295"], "--retries"),
        (
            &["--max-redirects", "18446744073709551615"],
            "--max-redirects",
        ),
        (&["--retry-wait", "876601h"], "--retry-wait"),
        (&["--connect-timeout", "0"], "--connect-timeout"),
        (&["--stall-timeout", "1e400"], "--stall-timeout"),
        (&["--timeout", "99999999999999999999h"], "--timeout"),
        (&["--max-bytes", "8589934592G"], "--max-bytes"),
        (&["--limit-rate", "18446744073709551615"], "--limit-rate"),
        (&["--max-failures", "0"], "--max-failures"),
        (&["--split", "17"], "--split"),
        (&["--shard", "1/0"], "--shard"),
    ];
    for (args, flag) in cases {
        let out = run_with_timeout(
            haul_in(tmp.path())
                .args(args)
                .args(["http://127.0.0.1:1/x", "-d", "out"]),
            QUICK,
        );
        assert_eq!(out.code(), Some(2), "{args:?}\n{out}");
        assert!(out.stderr.contains(flag), "{args:?}\n{out}");
        assert!(
            out.stderr.contains("expected") && !out.stderr.contains("panicked"),
            "{args:?}\n{out}"
        );
    }
    assert!(!tmp.path().join("out").exists());
}

#[test]
fn impossible_deadline_dates_are_refused_and_real_ones_kept() {
    let tmp = TempDir::new().unwrap();
    for bad in [
        "2030-02-30T00:00:00Z",
        "2031-02-29T12:00:00Z",
        "2030-01-01T00:00:00+99:99",
        "2030-01-01T25:00:00Z",
    ] {
        let out = run_with_timeout(
            haul_in(tmp.path()).args(["--deadline", bad, "http://127.0.0.1:1/x", "-d", "out"]),
            QUICK,
        );
        assert_eq!(out.code(), Some(2), "{bad}\n{out}");
        assert!(
            out.stderr.contains("'--deadline <DUR|TIME>'"),
            "{bad}\n{out}"
        );
    }
    // Valid times, with Z or an offset, still run; a past one stops at once.
    let server = server::files([("/a.txt", b"alpha".to_vec())]);
    for good in ["2099-12-31T23:59:59Z", "2099-12-31T23:59:59.5+05:30"] {
        let tmp = TempDir::new().unwrap();
        let out =
            run(haul_in(tmp.path()).args(["--deadline", good, &server.url("/a.txt"), "-d", "out"]));
        out.assert_code(0);
        assert_out_holds(tmp.path(), [("a.txt", &b"alpha"[..])]);
    }
    let out = run(haul_in(tmp.path()).args([
        "--deadline",
        "2000-01-01T00:00:00-08:00",
        &server.url("/a.txt"),
        "-d",
        "out",
    ]));
    out.assert_code(3);
}

#[test]
fn a_huge_min_split_size_is_refused_and_the_largest_one_splits_nothing() {
    let body = pseudo_random(77, 1 << 20);
    let resource = Resource::new(body.clone()).etag("\"v1\"");
    let server = server::http(move |req| {
        let res = resource.respond(req.headers(), Shape::Whole);
        async move { res }
    });
    let url = server.url("/big.bin");
    let tmp = TempDir::new().unwrap();

    // 2^63 bytes: twice it wrapped to 0, and a 1 MiB file went out in 319
    // requests, some of them malformed (`bytes=552213-552212`).
    let out = run_with_timeout(
        haul_in(tmp.path()).args(["--split", "4", "--min-split-size", "8589934592G", &url]),
        QUICK,
    );
    out.assert_code(2);
    assert!(
        out.stderr.contains("'--min-split-size <SIZE>'") && out.stderr.contains("1 EiB"),
        "{out}"
    );
    assert_eq!(server.hits(), 0);

    // The largest accepted: one request, the file whole.
    let out = run_with_timeout(
        haul_in(tmp.path()).args([
            "--split",
            "4",
            "--min-split-size",
            "1073741824G",
            &url,
            "-d",
            "out",
        ]),
        QUICK,
    );
    out.assert_code(0);
    assert_out_holds(tmp.path(), [("big.bin", &body[..])]);
    let requests = server.requests();
    assert!(requests.len() <= 2, "{} requests", requests.len());
    for req in &requests {
        if let Some(range) = req.header("range") {
            let spec = range.strip_prefix("bytes=").expect(range);
            let (a, b) = spec.split_once('-').expect(range);
            let a: u64 = a.parse().expect(range);
            assert!(
                b.is_empty() || b.parse::<u64>().expect(range) >= a,
                "{range}"
            );
        }
    }
}

#[test]
fn dev_zero_as_an_auxiliary_file_is_an_input_error_naming_it() {
    let server = server::files([("/a", b"a".to_vec())]).expect_no_hits();
    let tmp = TempDir::new().unwrap();
    for flag in ["--netrc-file", "--checksums"] {
        let out = run_with_timeout(
            haul_in(tmp.path()).args([flag, "/dev/zero", &server.url("/a"), "-d", "out"]),
            QUICK,
        );
        assert_eq!(out.code(), Some(2), "{flag}\n{out}");
        assert!(
            out.stderr.contains(flag)
                && out.stderr.contains("/dev/zero")
                && out.stderr.contains("16 MiB"),
            "{flag}\n{out}"
        );
    }
}

#[test]
fn a_fifo_without_a_writer_hangs_nothing() {
    let server = server::files([("/a", b"alpha".to_vec())]);
    let tmp = TempDir::new().unwrap();
    let fifo = tmp.path().join("fifo");
    mkfifo(&fifo, 0o600);
    let fifo = fifo.to_str().unwrap();

    // An auxiliary file: read as empty (no credentials, no digests).
    for flag in ["--netrc-file", "--checksums"] {
        let out = run_with_timeout(
            haul_in(tmp.path()).args([flag, fifo, &server.url("/a"), "-d", "out", "-o", "{n}"]),
            QUICK,
        );
        out.assert_code(0);
    }

    // A list: opened at once and waited on for its writer, as a blocking
    // read of a pipe would, while Ctrl-C still ends the run.
    let mut running = spawn(haul_in(tmp.path()).args(["-i", fifo, "-d", "out"]));
    std::thread::sleep(Duration::from_millis(500));
    running.signal(libc::SIGINT);
    let out = running.wait(QUICK);
    out.assert_code(130);
}

/// `haul ARGS` in `dir` under `bash -c 'ulimit ULIMIT; exec haul ...'`,
/// with the environment `haul_in` gives.
fn haul_under_ulimit(dir: &std::path::Path, ulimit: &str, args: &[&str]) -> Command {
    let base = haul_in(dir);
    let mut cmd = Command::new("bash");
    cmd.arg("-c")
        .arg(format!("ulimit {ulimit} && exec \"$0\" \"$@\""))
        .arg(base.get_program())
        .args(args)
        .current_dir(dir)
        .stdin(Stdio::null());
    for (key, value) in base.get_envs() {
        match value {
            Some(value) => cmd.env(key, value),
            None => cmd.env_remove(key),
        };
    }
    cmd
}

#[test]
fn jobs_are_lowered_to_fit_the_file_descriptors() {
    let files: Vec<(String, Vec<u8>)> = (0..300)
        .map(|i| (format!("/f{i}.txt"), format!("file {i}\n").into_bytes()))
        .collect();
    let server = server::files_delayed(files.clone(), Duration::from_millis(5));
    let tmp = TempDir::new().unwrap();
    let lines: Vec<String> = files.iter().map(|(p, _)| server.url(p)).collect();
    write_list(tmp.path(), "urls.txt", &lines);

    // Soft and hard limit 64: (64 - 32 kept for haul) / 3 per download.
    let out = run(&mut haul_under_ulimit(
        tmp.path(),
        "-n 64",
        &["-j", "200", "-i", "urls.txt", "-d", "out"],
    ));

    out.assert_code(0).assert_summary(300, 0, 0);
    let expected: Vec<(String, Vec<u8>)> = files
        .iter()
        .map(|(p, b)| (p.trim_start_matches('/').to_string(), b.clone()))
        .collect();
    assert_out_holds(
        tmp.path(),
        expected.iter().map(|(p, b)| (p.as_str(), b.as_slice())),
    );
    let warning = "haul: warning: -j 200 lowered to 10: only 64 file descriptors (ulimit -n)";
    assert_eq!(out.stderr.matches(warning).count(), 1, "{out}");
    assert!(server.max_in_flight() <= 10, "{}", server.max_in_flight());

    // -q says nothing about it.
    let tmp = TempDir::new().unwrap();
    write_list(tmp.path(), "urls.txt", &lines[..20]);
    let out = run(&mut haul_under_ulimit(
        tmp.path(),
        "-n 64",
        &["-q", "-j", "200", "-i", "urls.txt", "-d", "out"],
    ));
    out.assert_code(0);
    assert_eq!(out.stderr, "", "{out}");

    // A soft limit under a higher hard one is raised: no warning.
    let hard = hard_open_files_limit();
    if hard >= 200 * 3 + 32 {
        let tmp = TempDir::new().unwrap();
        write_list(tmp.path(), "urls.txt", &lines);
        let out = run(&mut haul_under_ulimit(
            tmp.path(),
            "-Sn 64",
            &["-j", "200", "-i", "urls.txt", "-d", "out"],
        ));
        out.assert_code(0).assert_summary(300, 0, 0);
        assert!(!out.stderr.contains("lowered"), "{out}");
    }
}

/// The hard `RLIMIT_NOFILE` of this process (what a child may raise to).
fn hard_open_files_limit() -> u64 {
    // `None` is unlimited.
    rustix::process::getrlimit(rustix::process::Resource::Nofile)
        .maximum
        .unwrap_or(u64::MAX)
}
