//! What the user and scripts see: stdout stays empty unless asked, `-q`,
//! the summary line, `--report FILE|-` JSON Lines, `--dry-run` plans and
//! `--progress` modes.
//!
//! Not here: the failure causes themselves (errors.rs).

use hyper::StatusCode;
use serde_json::Value;
use tempfile::TempDir;

use crate::support::{
    REPORT_KEYS, assert_tree_eq, expected, haul_in, parse_json_lines, record, run, run_with_stdin,
    server, sha256_hex, tree, write_file, write_list,
};

/// The types every record's fields have; each test pins which of a
/// nullable field's two forms its records take.
#[track_caller]
fn assert_record_shape(rec: &Value) {
    let obj = rec.as_object().expect("a report record is a JSON object");
    for key in REPORT_KEYS {
        assert!(obj.contains_key(*key), "record lacks {key:?}: {rec}");
    }
    assert!(rec["url"].is_string(), "{rec}");
    // Null for a bad list line, which has no destination.
    assert!(rec["path"].is_string() || rec["path"].is_null(), "{rec}");
    assert!(
        rec["http_status"].is_u64() || rec["http_status"].is_null(),
        "{rec}"
    );
    assert!(rec["bytes"].is_u64(), "{rec}");
    assert!(rec["size"].is_u64() || rec["size"].is_null(), "{rec}");
    assert!(
        rec["sha256"].is_string() || rec["sha256"].is_null(),
        "{rec}"
    );
    assert!(rec["attempts"].is_u64(), "{rec}");
    assert!(rec["elapsed_ms"].is_u64(), "{rec}");
    assert!(rec["error"].is_string() || rec["error"].is_null(), "{rec}");
}

/// Asserts `rec` is a first-attempt `ok` of `body` saved as `path` (`--dir`
/// joined with the destination, as given); `sha256` is the digest when one
/// was `checked`, else null.
#[track_caller]
fn assert_ok_record(rec: &Value, path: &str, body: &[u8], checked: bool) {
    assert_record_shape(rec);
    assert_eq!(rec["status"], "ok", "{rec}");
    assert_eq!(rec["http_status"], 200, "{rec}");
    assert_eq!(rec["bytes"], body.len() as u64, "{rec}");
    assert_eq!(rec["size"], body.len() as u64, "{rec}");
    assert_eq!(rec["path"], path, "{rec}");
    if checked {
        assert_eq!(rec["sha256"], sha256_hex(body), "{rec}");
    } else {
        assert!(rec["sha256"].is_null(), "no digest was checked: {rec}");
    }
    assert_eq!(rec["attempts"], 1, "{rec}");
    assert!(rec["error"].is_null(), "{rec}");
}

#[test]
fn stdout_is_empty_by_default_even_with_failures() {
    let server = server::files([("/a.txt", b"alpha".to_vec())]);
    let tmp = TempDir::new().unwrap();

    let out = run(haul_in(tmp.path()).args([
        &server.url("/a.txt"),
        &server.url("/missing.txt"),
        "-d",
        "out",
    ]));

    out.assert_code(1)
        .assert_stdout_empty()
        .assert_summary(1, 0, 1);
}

#[test]
fn summary_is_the_last_stderr_line() {
    let server = server::files([("/a.txt", b"alpha".to_vec()), ("/b.txt", b"beta".to_vec())]);
    let tmp = TempDir::new().unwrap();
    write_file(tmp.path(), "out/c.txt", b"present");

    let out = run(haul_in(tmp.path()).args([
        &server.url("/a.txt"),
        &server.url("/b.txt"),
        &server.url("/c.txt"),
        &server.url("/d.txt"),
        "-d",
        "out",
    ]));

    out.assert_code(1)
        .assert_stdout_empty()
        .assert_summary(2, 1, 1);
    assert!(
        out.stderr.ends_with('\n'),
        "stderr should end with a newline\n{out}"
    );
}

#[test]
fn quiet_success_prints_nothing_at_all() {
    let server = server::files([("/a.txt", b"alpha".to_vec())]);
    let tmp = TempDir::new().unwrap();

    let out = run(haul_in(tmp.path()).args([&server.url("/a.txt"), "-q", "-d", "out"]));

    out.assert_code(0).assert_stdout_empty();
    assert!(
        out.stderr.is_empty(),
        "-q must print nothing on success\n{out}"
    );
    assert_tree_eq(
        &tree(&tmp.path().join("out")),
        &expected([("a.txt", &b"alpha"[..])]),
    );
}

#[test]
fn quiet_still_prints_failures() {
    let server = server::files([("/a.txt", b"alpha".to_vec())]);
    let tmp = TempDir::new().unwrap();
    let missing = server.url("/missing.txt");

    let out = run(haul_in(tmp.path()).args([&server.url("/a.txt"), &missing, "-q", "-d", "out"]));

    out.assert_code(1).assert_stdout_empty();
    out.assert_failure(&missing, &["missing.txt", "404"]);
}

#[test]
fn progress_modes_are_accepted_and_keep_stdout_empty() {
    let server = server::files([("/a.txt", b"alpha".to_vec())]);
    for mode in ["bar", "log", "none"] {
        let tmp = TempDir::new().unwrap();
        let out =
            run(haul_in(tmp.path()).args([&server.url("/a.txt"), "--progress", mode, "-d", "out"]));
        out.assert_code(0)
            .assert_stdout_empty()
            .assert_summary(1, 0, 0);
        assert_tree_eq(
            &tree(&tmp.path().join("out")),
            &expected([("a.txt", &b"alpha"[..])]),
        );
    }
}

#[test]
fn verbose_logs_go_to_stderr_not_stdout() {
    let server = server::files([("/a.txt", b"alpha".to_vec())]);
    let tmp = TempDir::new().unwrap();

    let out = run(haul_in(tmp.path()).args([&server.url("/a.txt"), "-v", "-d", "out"]));

    out.assert_code(0)
        .assert_stdout_empty()
        .assert_summary(1, 0, 0);
}

#[test]
fn report_file_has_one_record_per_url() {
    let server = server::files([("/a.txt", b"alpha".to_vec()), ("/b.bin", vec![0u8; 4096])]);
    let tmp = TempDir::new().unwrap();
    write_file(tmp.path(), "out/old.txt", b"already here");
    let (a, b, old, missing) = (
        server.url("/a.txt"),
        server.url("/b.bin"),
        server.url("/old.txt"),
        server.url("/missing.txt"),
    );

    let out = run(haul_in(tmp.path()).args([
        &a,
        &b,
        &old,
        &missing,
        "--report",
        "report.jsonl",
        "-d",
        "out",
    ]));

    out.assert_code(1).assert_stdout_empty();
    let text = std::fs::read_to_string(tmp.path().join("report.jsonl")).unwrap();
    let records = parse_json_lines(&text);
    assert_eq!(records.len(), 4, "one record per URL:\n{text}");
    records.iter().for_each(assert_record_shape);

    assert_ok_record(record(&records, &a), "out/a.txt", b"alpha", false);
    assert_ok_record(record(&records, &b), "out/b.bin", &[0u8; 4096], false);

    let skipped = record(&records, &old);
    assert_eq!(skipped["status"], "skipped", "{skipped}");
    assert!(skipped["error"].is_null(), "{skipped}");
    assert_eq!(skipped["path"], "out/old.txt", "{skipped}");
    // No request, no digest; the size of the file found there.
    assert_eq!(skipped["size"], b"already here".len() as u64, "{skipped}");
    assert!(skipped["http_status"].is_null(), "{skipped}");
    assert!(skipped["sha256"].is_null(), "{skipped}");

    let failed = record(&records, &missing);
    assert_eq!(failed["status"], "failed", "{failed}");
    assert_eq!(failed["http_status"], 404, "{failed}");
    assert!(failed["error"].is_string(), "{failed}");
    assert_eq!(failed["path"], "out/missing.txt", "{failed}");
    assert!(failed["sha256"].is_null(), "{failed}");
    assert!(failed["size"].is_null(), "{failed}");
}

/// A report inside `--dir` works when the folder does not exist yet (it
/// is created once every lock is held); a report whose folder is missing
/// otherwise is an input error naming it, before anything is fetched.
/// The file that was there is emptied only once the run starts.
#[test]
fn a_report_file_is_created_in_a_new_dir_but_not_in_a_missing_folder() {
    let server = server::files([("/a.txt", b"alpha".to_vec())]).any_hits();
    let tmp = TempDir::new().unwrap();
    let url = server.url("/a.txt");

    let out = run(haul_in(tmp.path()).args([&url, "--report", "out/r.jsonl", "-d", "out"]));
    out.assert_code(0);
    let text = std::fs::read_to_string(tmp.path().join("out/r.jsonl")).unwrap();
    assert_eq!(parse_json_lines(&text).len(), 1, "{text}");

    let hits = server.hits();
    let out = run(haul_in(tmp.path()).args([&url, "--report", "nowhere/r.jsonl", "-d", "out2"]));
    out.assert_code(2);
    assert!(
        out.stderr.contains("nowhere/r.jsonl") && out.stderr.contains("--report"),
        "{out}"
    );
    assert_eq!(server.hits(), hits, "nothing fetched");

    std::fs::write(tmp.path().join("old.jsonl"), b"{\"old\":1}\n").unwrap();
    let out = run(haul_in(tmp.path()).args([&url, "--report", "old.jsonl", "-d", "out"]));
    out.assert_code(0);
    let text = std::fs::read_to_string(tmp.path().join("old.jsonl")).unwrap();
    assert!(!text.contains("old"), "emptied first: {text}");
    assert_eq!(parse_json_lines(&text).len(), 1, "{text}");
}

#[test]
fn report_to_stdout_is_json_lines_only() {
    let server = server::files([("/a.txt", b"alpha".to_vec()), ("/b.txt", b"beta".to_vec())]);
    let tmp = TempDir::new().unwrap();
    let (a, b) = (server.url("/a.txt"), server.url("/b.txt"));

    let out = run(haul_in(tmp.path()).args([&a, &b, "--report", "-", "-d", "out"]));

    out.assert_code(0).assert_summary(2, 0, 0);
    // Every stdout line is a record; nothing else shares stdout.
    let records = out.stdout_report();
    assert_eq!(records.len(), 2, "{out}");
    assert_eq!(out.stdout.lines().count(), 2, "{out}");
    assert_ok_record(record(&records, &a), "out/a.txt", b"alpha", false);
    assert_ok_record(record(&records, &b), "out/b.txt", b"beta", false);
}

#[test]
fn report_records_checksum_and_bad_lines() {
    let body = b"checked".to_vec();
    let server = server::files([("/a.txt", body.clone())]);
    let tmp = TempDir::new().unwrap();
    let url = server.url("/a.txt");
    write_list(
        tmp.path(),
        "urls.txt",
        &[
            format!("{url} sha256={}", sha256_hex(&body)),
            "this is not a url".to_string(),
        ],
    );

    let out =
        run(haul_in(tmp.path()).args(["-i", "urls.txt", "--report", "report.jsonl", "-d", "out"]));

    out.assert_code(1)
        .assert_stdout_empty()
        .assert_summary(1, 0, 1);
    let text = std::fs::read_to_string(tmp.path().join("report.jsonl")).unwrap();
    let records = parse_json_lines(&text);
    assert_eq!(records.len(), 2, "{text}");
    records.iter().for_each(assert_record_shape);
    let ok = record(&records, &url);
    assert_ok_record(ok, "out/a.txt", &body, true);
    assert_eq!(ok["sha256"], sha256_hex(&body), "sha256 was computed: {ok}");
    let bad: Vec<_> = records.iter().filter(|r| r["status"] == "failed").collect();
    assert_eq!(bad.len(), 1, "{text}");
    assert!(bad[0]["error"].is_string(), "{}", bad[0]);
    // A bad line has no destination and made no request.
    for key in ["path", "http_status", "sha256"] {
        assert!(bad[0][key].is_null(), "{key}: {}", bad[0]);
    }
}

#[test]
fn dry_run_prints_the_plan_and_fetches_nothing() {
    let server = server::files([("/a.txt", b"alpha".to_vec())]).expect_no_hits();
    let tmp = TempDir::new().unwrap();
    let (a, b) = (server.url("/x/a.txt"), server.url("/b.txt"));
    write_list(
        tmp.path(),
        "urls.txt",
        &[format!("{b} out=sub/renamed.txt")],
    );

    let out = run(haul_in(tmp.path()).args([&a, "-i", "urls.txt", "--dry-run", "-d", "out"]));

    out.assert_code(0);
    assert_eq!(
        out.stdout,
        format!("{a} -> out/a.txt\n{b} -> out/sub/renamed.txt\n"),
        "{out}"
    );
    let list = std::fs::read(tmp.path().join("urls.txt")).unwrap();
    assert_tree_eq(&tree(tmp.path()), &expected([("urls.txt", &list[..])]));
}

#[test]
fn dry_run_expands_globs_in_order_with_template() {
    let server =
        server::http(|_req| async { server::status(StatusCode::IM_A_TEAPOT) }).expect_no_hits();
    let tmp = TempDir::new().unwrap();

    let out = run(haul_in(tmp.path()).args([
        &server.url("/[1-2]/{x,y}.txt"),
        "-o",
        "{n}/{1}-{2}.txt",
        "--dry-run",
        "-d",
        "plan",
    ]));

    out.assert_code(0);
    let want: String = [("1", "x", 1), ("1", "y", 2), ("2", "x", 3), ("2", "y", 4)]
        .iter()
        .map(|(d, f, n)| {
            format!(
                "{} -> plan/{n}/{d}-{f}.txt\n",
                server.url(&format!("/{d}/{f}.txt"))
            )
        })
        .collect();
    assert_eq!(out.stdout, want, "{out}");
    assert_tree_eq(&tree(tmp.path()), &expected([]));
}

#[test]
fn dry_run_from_stdin_lists_each_url_once() {
    let server = server::http(|_req| async { server::ok("never") }).expect_no_hits();
    let tmp = TempDir::new().unwrap();
    let a = server.url("/a.txt");
    let list = format!("{a}\n# comment\n{a}\n");

    let out = run_with_stdin(
        haul_in(tmp.path()).args(["-i", "-", "--dry-run", "-d", "out"]),
        list.as_bytes(),
    );

    out.assert_code(0);
    assert_eq!(out.stdout, format!("{a} -> out/a.txt\n"), "{out}");
}

/// Contract: `--progress bar|log|none` overrides the terminal check, so
/// `bar` draws the overall bar even when stderr is a pipe.
#[test]
fn progress_bar_is_drawn_when_asked_for_even_without_a_terminal() {
    let server = server::http(|_req| async move {
        server::drip(
            vec![b'x'; 64 * 1024],
            8 * 1024,
            std::time::Duration::from_millis(100),
        )
    });
    let tmp = TempDir::new().unwrap();

    let out =
        run(haul_in(tmp.path()).args([&server.url("/slow.bin"), "--progress", "bar", "-d", "out"]));

    out.assert_code(0)
        .assert_stdout_empty()
        .assert_summary(1, 0, 0);
    assert!(
        out.stderr.contains("files"),
        "no progress bar on stderr:\n{}",
        out.stderr
    );
}

/// Not a terminal (cron, CI): no escape codes, and a progress line at most
/// every 10 s. A run of about 13 s prints exactly one, then the summary.
#[test]
fn log_mode_prints_a_plain_progress_line_every_ten_seconds() {
    let body = crate::support::pseudo_random(91, 1280 * 1024);
    let server = server::files([("/slow.bin", body.clone())]);
    let tmp = TempDir::new().unwrap();

    let out = crate::support::run_with_timeout(
        haul_in(tmp.path()).args([
            &server.url("/slow.bin"),
            "--progress",
            "log",
            "--limit-rate",
            "100K",
            "-d",
            "out",
        ]),
        std::time::Duration::from_secs(40),
    );

    out.assert_code(0)
        .assert_stdout_empty()
        .assert_summary(1, 0, 0);
    assert!(!out.stderr.contains('\u{1b}'), "escape codes:\n{out}");
    let lines: Vec<&str> = out.stderr.lines().collect();
    let progress: Vec<&&str> = lines
        .iter()
        .filter(|l| l.starts_with("haul: 0/1 files, "))
        .collect();
    assert_eq!(progress.len(), 1, "one line in about 13 s:\n{out}");
    assert_eq!(lines, [*progress[0], out.summary()], "the summary is last");
    assert_eq!(
        std::fs::read(tmp.path().join("out/slow.bin")).unwrap(),
        body
    );
}
