//! Failures and exit codes: HTTP errors mixed with successes, truncated bodies,
//! checksum mismatches, unsupported schemes, unreadable list files, usage
//! errors, `--fail-fast` and `--max-failures`.
//!
//! Not here: refused destinations (naming.rs) or the report's content (output.rs).

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use hyper::StatusCode;
use tempfile::TempDir;

use crate::support::{
    assert_out_holds, assert_tree_eq, expected, haul_in, pseudo_random, run, run_list_in, server,
    sha256_hex, tree, write_list,
};

/// Writes `dir/urls.txt` with the one line `URL sha256=HEX`.
fn write_sha256_line(dir: &TempDir, url: &str, hex: &str) {
    write_list(dir.path(), "urls.txt", &[format!("{url} sha256={hex}")]);
}

#[test]
fn not_found_mixed_with_successes() {
    let server = server::files([
        ("/a.txt", b"alpha".to_vec()),
        ("/b.txt", b"beta".to_vec()),
        ("/c.txt", b"gamma".to_vec()),
    ]);
    let tmp = TempDir::new().unwrap();
    let missing1 = server.url("/missing1.txt");
    let missing2 = server.url("/sub/missing2.txt");

    let out = run(haul_in(tmp.path()).args([
        &server.url("/a.txt"),
        &missing1,
        &server.url("/b.txt"),
        &missing2,
        &server.url("/c.txt"),
        "-d",
        "out",
    ]));

    out.assert_code(1)
        .assert_stdout_empty()
        .assert_summary(3, 0, 2);
    out.assert_failure(&missing1, &["missing1.txt", "404"]);
    out.assert_failure(&missing2, &["missing2.txt", "404"]);
    // The error pages are never written, not even as `.part`.
    assert_out_holds(
        tmp.path(),
        [
            ("a.txt", &b"alpha"[..]),
            ("b.txt", b"beta"),
            ("c.txt", b"gamma"),
        ],
    );
    assert_eq!(server.hits(), 5);
}

#[test]
fn truncated_body_leaves_no_final_file() {
    let full = pseudo_random(7, 100_000);
    let served = full.clone();
    let server = server::http(move |req| {
        let full = served.clone();
        async move {
            match req.uri().path() {
                "/ok.bin" => server::ok(b"whole".to_vec()),
                "/cut.bin" => server::truncated(full[..40_000].to_vec(), full.len()),
                _ => server::status(StatusCode::NOT_FOUND),
            }
        }
    });
    let tmp = TempDir::new().unwrap();
    let cut = server.url("/cut.bin");

    let out = run(haul_in(tmp.path()).args([&cut, &server.url("/ok.bin"), "-d", "out"]));

    out.assert_code(1)
        .assert_stdout_empty()
        .assert_summary(1, 0, 1);
    out.assert_failure(&cut, &["cut.bin"]);
    // Without a validator every attempt starts from zero; the last one's
    // 40,000 bytes stay in `cut.bin.part`.
    assert_tree_eq(
        &tree(&tmp.path().join("out")),
        &expected([("ok.bin", &b"whole"[..]), ("cut.bin.part", &full[..40_000])]),
    );
    assert_eq!(
        server.hits_for("/cut.bin"),
        4,
        "1 attempt + 3 retries by default"
    );
}

#[test]
fn sha256_match_is_saved() {
    let body = pseudo_random(3, 10_000);
    let server = server::files([("/a.bin", body.clone())]);
    let tmp = TempDir::new().unwrap();
    write_sha256_line(&tmp, &server.url("/a.bin"), &sha256_hex(&body));

    let out = run_list_in(tmp.path());

    out.assert_code(0).assert_summary(1, 0, 0);
    assert_out_holds(tmp.path(), [("a.bin", &body[..])]);
}

#[test]
fn sha256_uppercase_hex_is_accepted() {
    let body = b"case does not matter".to_vec();
    let server = server::files([("/a.bin", body.clone())]);
    let tmp = TempDir::new().unwrap();
    write_sha256_line(
        &tmp,
        &server.url("/a.bin"),
        &sha256_hex(&body).to_uppercase(),
    );

    let out = run_list_in(tmp.path());

    out.assert_code(0);
    assert_out_holds(tmp.path(), [("a.bin", &body[..])]);
}

#[test]
fn sha256_mismatch_fails_and_keeps_no_final_file() {
    let body = pseudo_random(4, 10_000);
    let server = server::files([("/a.bin", body.clone()), ("/b.bin", b"fine".to_vec())]);
    let tmp = TempDir::new().unwrap();
    let url = server.url("/a.bin");
    write_list(
        tmp.path(),
        "urls.txt",
        &[
            format!("{url} sha256={}", sha256_hex(b"something else")),
            server.url("/b.bin"),
        ],
    );

    let out = run_list_in(tmp.path());

    out.assert_code(1).assert_summary(1, 0, 1);
    out.assert_failure(&url, &["a.bin"]);
    // A digest mismatch removes the `.part` too.
    assert_out_holds(tmp.path(), [("b.bin", &b"fine"[..])]);
}

#[test]
fn sha256_mismatch_is_retried_exactly_once_from_zero() {
    // Contract, "Details that scripts rely on": one more attempt from zero, whatever --retries says.
    let body = b"stable but not what the list expects".to_vec();
    let server = server::files([("/a.bin", body)]);
    let tmp = TempDir::new().unwrap();
    write_sha256_line(&tmp, &server.url("/a.bin"), &sha256_hex(b"x"));

    let out = run_list_in(tmp.path());

    out.assert_code(1);
    let requests = server.requests();
    assert_eq!(requests.len(), 2, "expected two attempts: {requests:?}");
    assert!(
        requests.iter().all(|r| !r.headers.contains_key("range")),
        "the retry must start from zero (no Range): {requests:?}"
    );
}

#[test]
fn unsupported_scheme_in_a_list_is_a_failed_line() {
    let server = server::files([("/a.txt", b"alpha".to_vec())]);
    let tmp = TempDir::new().unwrap();
    write_list(
        tmp.path(),
        "urls.txt",
        &[
            server.url("/a.txt"),
            "ftp://127.0.0.1:1/file.txt".to_string(),
        ],
    );

    let out = run_list_in(tmp.path());

    out.assert_code(1).assert_summary(1, 0, 1);
    assert!(
        out.stderr_lines()
            .any(|l| l.starts_with("haul: urls.txt:2:")),
        "expected `haul: urls.txt:2: ...`\n{out}"
    );
    assert_out_holds(tmp.path(), [("a.txt", &b"alpha"[..])]);
}

#[test]
fn unsupported_scheme_as_an_argument_fails_that_url_only() {
    let server = server::files([("/a.txt", b"alpha".to_vec())]);
    let tmp = TempDir::new().unwrap();
    let ftp = "ftp://127.0.0.1:1/file.txt";

    let out = run(haul_in(tmp.path()).args([ftp, &server.url("/a.txt"), "-d", "out"]));

    out.assert_code(1).assert_summary(1, 0, 1);
    assert!(
        out.stderr_lines()
            .any(|l| l.starts_with("haul: ") && l.contains(ftp)),
        "the ftp URL should be named in a failure line\n{out}"
    );
    assert_out_holds(tmp.path(), [("a.txt", &b"alpha"[..])]);
}

/// Runs `haul -i LIST -d out` and asserts a usage error: exit 2, nothing on
/// stdout, `LIST` named on stderr, and nothing written.
#[track_caller]
fn assert_list_file_refused(tmp: &TempDir, list: &str) {
    let out = run(haul_in(tmp.path()).args(["-i", list, "-d", "out"]));
    out.assert_code(2).assert_stdout_empty();
    assert!(out.stderr.contains(list), "{out}");
    assert_tree_eq(&tree(tmp.path()), &expected([]));
}

#[test]
fn missing_list_file_exits_2_and_names_it() {
    let tmp = TempDir::new().unwrap();
    assert_list_file_refused(&tmp, "no-such-list.txt");
}

#[test]
fn directory_as_list_file_exits_2_and_names_it() {
    let tmp = TempDir::new().unwrap();
    std::fs::create_dir(tmp.path().join("a-folder")).unwrap();

    assert_list_file_refused(&tmp, "a-folder");
}

#[test]
fn usage_errors_exit_2() {
    let tmp = TempDir::new().unwrap();
    for args in [
        &["--no-such-flag", "http://127.0.0.1:1/x"][..],
        &["-j", "0", "http://127.0.0.1:1/x"],
        &["-j", "many", "http://127.0.0.1:1/x"],
        &["--on-exists", "sometimes", "http://127.0.0.1:1/x"],
        &["--progress", "fancy", "http://127.0.0.1:1/x"],
    ] {
        let out = run(haul_in(tmp.path()).args(args).args(["-d", "out"]));
        assert_eq!(out.code(), Some(2), "args {args:?}\n{out}");
        assert!(out.stdout.is_empty(), "args {args:?}\n{out}");
    }
    assert_tree_eq(&tree(tmp.path()), &expected([]));
}

#[test]
fn fail_fast_stops_after_the_first_failure() {
    let mut files: Vec<(String, Vec<u8>)> = (1..=10)
        .map(|i| (format!("/f{i}.txt"), format!("file {i}").into_bytes()))
        .collect();
    files.remove(1); // /f2.txt is a 404
    let server = server::files(files);
    let tmp = TempDir::new().unwrap();

    let out = run(haul_in(tmp.path()).args([
        &server.url("/f[1-10].txt"),
        "--fail-fast",
        "-j",
        "1",
        "-d",
        "out",
    ]));

    out.assert_code(1).assert_stdout_empty();
    out.assert_failure(&server.url("/f2.txt"), &["404"]);
    assert_eq!(
        server.uris_sorted(),
        ["/f1.txt", "/f2.txt"],
        "--fail-fast -j 1 should stop right after /f2.txt"
    );
    assert_out_holds(tmp.path(), [("f1.txt", &b"file 1"[..])]);
}

#[test]
fn max_failures_stops_after_n_failures() {
    let server = server::files(Vec::<(String, Vec<u8>)>::new());
    let tmp = TempDir::new().unwrap();

    let out = run(haul_in(tmp.path()).args([
        &server.url("/gone[1-10].txt"),
        "--max-failures",
        "3",
        "-j",
        "1",
        "-d",
        "out",
    ]));

    out.assert_code(1);
    assert_eq!(
        server.uris_sorted(),
        ["/gone1.txt", "/gone2.txt", "/gone3.txt"],
        "--max-failures 3 -j 1 should stop after three 404s"
    );
    assert_out_holds(tmp.path(), []);
}

#[test]
fn without_fail_fast_every_url_is_tried() {
    let server = server::files(Vec::<(String, Vec<u8>)>::new());
    let tmp = TempDir::new().unwrap();

    let out = run(haul_in(tmp.path()).args([&server.url("/gone[1-10].txt"), "-d", "out"]));

    out.assert_code(1).assert_summary(0, 0, 10);
    assert_eq!(server.hits(), 10);
}

#[test]
fn stalled_body_is_abandoned_after_stall_timeout() {
    let full = pseudo_random(9, 50_000);
    let served = full.clone();
    // Each attempt sends a fifth of the body, then goes silent far longer than --stall-timeout.
    let server = server::http(move |_req| {
        let full = served.clone();
        async move { server::stall_after(full[..10_000].to_vec(), full.len(), Duration::from_secs(30)) }
    });
    let tmp = TempDir::new().unwrap();
    let url = server.url("/stall.bin");

    let out = run(haul_in(tmp.path()).args([&url, "--stall-timeout", "500ms", "-d", "out"]));

    out.assert_code(1)
        .assert_stdout_empty()
        .assert_summary(0, 0, 1);
    out.assert_failure(&url, &["stall.bin"]);
    // Every attempt starts from zero (no validator); the last one's 10,000
    // bytes stay in `stall.bin.part`.
    assert_tree_eq(
        &tree(&tmp.path().join("out")),
        &expected([("stall.bin.part", &full[..10_000])]),
    );
    assert!(
        out.elapsed < Duration::from_secs(30),
        "the stall timeout did not fire: {:?}",
        out.elapsed
    );
}

#[test]
fn slow_drip_within_stall_timeout_completes() {
    let full = pseudo_random(10, 20_000);
    let served = full.clone();
    let server = server::http(move |_req| {
        let full = served.clone();
        async move { server::drip(full, 2_000, Duration::from_millis(50)) }
    });
    let tmp = TempDir::new().unwrap();

    let out = run(haul_in(tmp.path()).args([
        &server.url("/drip.bin"),
        "--stall-timeout",
        "2s",
        "-d",
        "out",
    ]));

    out.assert_code(0).assert_summary(1, 0, 0);
    assert_out_holds(tmp.path(), [("drip.bin", &full[..])]);
    assert_eq!(server.hits(), 1);
}

#[test]
fn truncated_body_is_retried_and_then_saved_whole() {
    // Contract, "Reliability": truncated bodies are retried (--retries defaults to 3).
    let full = pseudo_random(11, 60_000);
    let served = full.clone();
    let attempts = Arc::new(AtomicUsize::new(0));
    let seen = attempts.clone();
    let server = server::http(move |_req| {
        let full = served.clone();
        let n = seen.fetch_add(1, Ordering::SeqCst);
        async move {
            if n == 0 {
                server::truncated(full[..20_000].to_vec(), full.len())
            } else {
                // No validator was offered, so a resume is not allowed: a 200 restarts from zero.
                server::ok(full)
            }
        }
    });
    let tmp = TempDir::new().unwrap();

    let out = run(haul_in(tmp.path()).args([&server.url("/r.bin"), "-d", "out"]));

    out.assert_code(0).assert_summary(1, 0, 0);
    assert_out_holds(tmp.path(), [("r.bin", &full[..])]);
    assert_eq!(attempts.load(Ordering::SeqCst), 2);
}
