//! `--state FILE`: the record of saved files that makes nightly runs cheap.
//! `update` sends the recorded ETag and keeps the file on 304; both `skip`
//! and `update` fetch again a file whose size differs from its entry, and
//! trust a file whose size and mtime match an entry with the wanted digest;
//! `--list` prints the entries; a second haul on the file exits 2; a kill
//! -9 leaves a file whose every entry is on disk.
//!
//! The contract's "Across processes and crashes": a refused run (the state
//! or the report held by another haul) creates and changes nothing, and
//! `--report` is owned by one haul at a time; a damaged record costs only
//! itself (with one warning); a stale `FILE.compact` is never written
//! through.
//!
//! Not here: the log format and its repair (unit tests in `src/state.rs`),
//! and damage between killed runs (reliability/crash.rs).

use std::time::Duration;

use hyper::StatusCode;
use tempfile::TempDir;

use crate::support::server::{self, Server, drip, ok, status, with_header};
use crate::support::{
    Running, haul_in, parse_json_lines, pseudo_random, record, run, sha256_hex, spawn, tree,
    wait_for, write_list,
};

const BODY: &[u8] = b"the first version of the file\n";

/// `/f` with ETag "v1", answering 304 to `If-None-Match: "v1"`.
fn versioned() -> Server {
    server::http(|req| {
        let res = if req
            .headers()
            .get("if-none-match")
            .and_then(|v| v.to_str().ok())
            == Some("\"v1\"")
        {
            status(StatusCode::NOT_MODIFIED)
        } else {
            with_header(ok(BODY), "etag", "\"v1\"")
        };
        async move { res }
    })
}

#[test]
fn update_sends_the_recorded_etag_and_keeps_the_file_on_304() {
    let server = versioned();
    let tmp = TempDir::new().unwrap();
    let url = server.url("/f");
    let first = run(haul_in(tmp.path()).args([&url, "--state", "s.haul", "-d", "out"]));
    first.assert_code(0);

    let second = run(haul_in(tmp.path()).args([
        &url,
        "--state",
        "s.haul",
        "--on-exists",
        "update",
        "--report",
        "-",
        "-d",
        "out",
    ]));

    second.assert_code(0);
    let reqs = server.requests_for("/f");
    assert_eq!(reqs.len(), 2);
    assert_eq!(reqs[0].header("if-none-match"), None);
    assert_eq!(reqs[1].header("if-none-match"), Some("\"v1\""));
    assert_eq!(
        record(&second.stdout_report(), &url)["status"],
        "not_modified"
    );
    assert_eq!(std::fs::read(tmp.path().join("out/f")).unwrap(), BODY);
}

#[test]
fn skip_fetches_again_a_file_whose_size_differs_from_its_entry() {
    let server = server::files([("/f", BODY.to_vec())]);
    let tmp = TempDir::new().unwrap();
    let url = server.url("/f");
    run(haul_in(tmp.path()).args([&url, "--state", "s.haul", "-d", "out"])).assert_code(0);
    std::fs::write(tmp.path().join("out/f"), &BODY[..10]).unwrap();

    let out =
        run(haul_in(tmp.path()).args([&url, "--state", "s.haul", "--report", "-", "-d", "out"]));

    out.assert_code(0);
    let rec = record(&out.stdout_report(), &url).clone();
    assert_eq!(rec["status"], "ok", "{rec}");
    assert_eq!(rec["replaced"], "size differs from --state", "{rec}");
    assert_eq!(std::fs::read(tmp.path().join("out/f")).unwrap(), BODY);
    assert_eq!(server.hits_for("/f"), 2);

    // Without the state, a file that is there is simply skipped.
    std::fs::write(tmp.path().join("out/f"), &BODY[..10]).unwrap();
    run(haul_in(tmp.path()).args([&url, "-d", "out"])).assert_code(0);
    assert_eq!(server.hits_for("/f"), 2);
}

/// A 304 must not keep a file that was cut short since it was saved: the
/// recorded ETag names the whole file, not what is on disk.
#[test]
fn update_fetches_again_a_file_whose_size_differs_from_its_entry() {
    let server = versioned();
    let tmp = TempDir::new().unwrap();
    let url = server.url("/f");
    run(haul_in(tmp.path()).args([&url, "--state", "s.haul", "-d", "out"])).assert_code(0);
    std::fs::write(tmp.path().join("out/f"), &BODY[..10]).unwrap();

    let out = run(haul_in(tmp.path()).args([
        &url,
        "--state",
        "s.haul",
        "--on-exists",
        "update",
        "--report",
        "-",
        "-d",
        "out",
    ]));

    out.assert_code(0);
    let rec = record(&out.stdout_report(), &url).clone();
    assert_eq!(rec["status"], "ok", "{rec}");
    assert_eq!(rec["replaced"], "size differs from --state", "{rec}");
    assert_eq!(std::fs::read(tmp.path().join("out/f")).unwrap(), BODY);
    let reqs = server.requests_for("/f");
    assert_eq!(reqs.len(), 2);
    assert_eq!(reqs[1].header("if-none-match"), None);
    assert_eq!(reqs[1].header("if-modified-since"), None);
}

/// The quick check rsync makes: a file whose size and mtime match an entry
/// that recorded the wanted digest is skipped without being read. Shown
/// with a file changed behind haul's back with its size and mtime kept:
/// with the state it is trusted; without, hashing finds the change.
#[test]
fn a_matching_size_and_mtime_skip_hashing() {
    let server = server::files([("/f", BODY.to_vec())]);
    let tmp = TempDir::new().unwrap();
    let url = server.url("/f");
    let line = format!("{url} sha256={}", sha256_hex(BODY));
    crate::support::write_list(tmp.path(), "urls.txt", &[line]);
    let args = ["-i", "urls.txt", "--report", "-", "-d", "out"];
    run(haul_in(tmp.path()).args(args).args(["--state", "s.haul"])).assert_code(0);
    let path = tmp.path().join("out/f");
    let mtime = std::fs::metadata(&path).unwrap().modified().unwrap();
    let mut changed = BODY.to_vec();
    changed[0] ^= 1;
    std::fs::write(&path, &changed).unwrap();
    std::fs::File::options()
        .write(true)
        .open(&path)
        .unwrap()
        .set_modified(mtime)
        .unwrap();

    let trusted = run(haul_in(tmp.path()).args(args).args(["--state", "s.haul"]));
    trusted.assert_code(0).assert_summary(0, 1, 0);
    assert_eq!(
        record(&trusted.stdout_report(), &url)["sha256"],
        sha256_hex(BODY)
    );
    assert_eq!(server.hits_for("/f"), 1);

    let hashed = run(haul_in(tmp.path()).args(args));
    hashed.assert_code(0);
    assert_eq!(
        record(&hashed.stdout_report(), &url)["replaced"],
        "sha256 mismatch"
    );
    assert_eq!(std::fs::read(&path).unwrap(), BODY);
}

#[test]
fn list_prints_the_entries() {
    let server = versioned();
    let tmp = TempDir::new().unwrap();
    let url = server.url("/f");
    run(haul_in(tmp.path()).args([&url, "--state", "s.haul", "-d", "out"])).assert_code(0);

    let out = run(haul_in(tmp.path()).args(["--state", "s.haul", "--list"]));

    out.assert_code(0);
    assert!(out.stderr.is_empty(), "{out}");
    let entries = parse_json_lines(&out.stdout);
    assert_eq!(entries.len(), 1, "{out}");
    let e = &entries[0];
    assert_eq!(e["url"], url.as_str());
    assert_eq!(e["path"], "f");
    assert_eq!(e["bytes"], BODY.len() as u64);
    assert_eq!(e["etag"], "\"v1\"");
    assert!(e["saved_at"].as_u64().unwrap() > 1_700_000_000, "{e}");
    assert!(e["run"].as_u64().unwrap() > 1_700_000_000, "{e}");
}

#[test]
fn a_second_haul_on_the_same_state_exits_2() {
    let body = pseudo_random(71, 64 * 1024);
    let server = server::http(move |_req| {
        let res = drip(body.clone(), 4096, Duration::from_millis(100));
        async move { res }
    })
    .any_hits();
    let tmp = TempDir::new().unwrap();
    let url = server.url("/slow");
    let mut first = spawn(haul_in(tmp.path()).args([&url, "--state", "s.haul", "-d", "out"]));
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while server.hits() == 0 && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }

    let second = run(haul_in(tmp.path()).args([&url, "--state", "s.haul", "-d", "other"]));

    second.assert_code(2);
    assert!(
        second.stderr.contains("s.haul") && second.stderr.contains("in use by another haul"),
        "{second}"
    );
    first.signal(libc::SIGKILL);
    drop(first);
}

/// kill -9 at some moment of a run with --state: the file opens again, and
/// every entry in it describes a file that is on disk, whole.
#[test]
fn a_kill_leaves_a_state_whose_entries_are_all_on_disk() {
    let files: Vec<(String, Vec<u8>)> = (0..40)
        .map(|i| {
            (
                format!("/f{i}"),
                pseudo_random(80 + i, 20_000 + 997 * i as usize),
            )
        })
        .collect();
    let served = files.clone();
    let server = server::http(move |req| {
        let body = served
            .iter()
            .find(|(p, _)| p == req.uri().path())
            .map(|(_, b)| b.clone())
            .unwrap_or_default();
        let res = drip(body, 8192, Duration::from_millis(15));
        async move { res }
    })
    .any_hits();
    let tmp = TempDir::new().unwrap();
    let pattern = server.url("/f[0-39]");
    let mut running =
        spawn(haul_in(tmp.path()).args([&pattern, "-j", "8", "--state", "s.haul", "-d", "out"]));
    std::thread::sleep(Duration::from_millis(400));
    running.signal(libc::SIGKILL);
    drop(running);

    let listed = run(haul_in(tmp.path()).args(["--state", "s.haul", "--list"]));
    listed.assert_code(0);
    let on_disk = tree(&tmp.path().join("out"));
    for entry in parse_json_lines(&listed.stdout) {
        let name = entry["path"].as_str().unwrap();
        let want = &files.iter().find(|(p, _)| &p[1..] == name).unwrap().1;
        assert_eq!(on_disk.get(name), Some(want), "{entry}");
        assert_eq!(entry["bytes"], want.len() as u64);
    }

    // The next run finishes the rest, with the same state.
    run(haul_in(tmp.path()).args([&pattern, "--state", "s.haul", "-d", "out"])).assert_code(0);
    let listed = run(haul_in(tmp.path()).args(["--state", "s.haul", "--list"]));
    assert_eq!(parse_json_lines(&listed.stdout).len(), 40);
}

/// `/fast` at once, `/slow` (60 kB) over some three seconds, `/other` at once.
fn fast_and_slow() -> Server {
    let slow = pseudo_random(72, 60_000);
    server::http(move |req| {
        let res = match req.uri().path() {
            "/slow" => drip(slow.clone(), 4000, Duration::from_millis(200)),
            "/fast" | "/other" => ok(BODY),
            _ => status(StatusCode::NOT_FOUND),
        };
        async move { res }
    })
}

/// Starts `haul /fast /slow -d out` with `extra` in `tmp` and waits until
/// `/fast`'s record is in `r.jsonl`; returns the run and that report.
fn first_run_with_a_report(tmp: &TempDir, server: &Server, extra: &[&str]) -> (Running, Vec<u8>) {
    let first = spawn(
        haul_in(tmp.path())
            .args([&server.url("/fast"), &server.url("/slow")])
            .args(["--report", "r.jsonl", "-d", "out"])
            .args(extra),
    );
    let report = tmp.path().join("r.jsonl");
    wait_for(
        Duration::from_secs(10),
        "the first record in r.jsonl",
        || std::fs::read(&report).is_ok_and(|r| r.ends_with(b"\n")),
    );
    (first, std::fs::read(&report).unwrap())
}

/// Asserts that `r.jsonl` under `tmp` holds exactly the first run's two
/// records, as valid JSON Lines without NUL bytes.
#[track_caller]
fn assert_first_runs_report(tmp: &TempDir, server: &Server) {
    let bytes = std::fs::read(tmp.path().join("r.jsonl")).unwrap();
    assert!(
        !bytes.contains(&0),
        "r.jsonl holds NUL bytes (truncated under the first run's feet): {:?}",
        String::from_utf8_lossy(&bytes)
    );
    let records = parse_json_lines(&String::from_utf8(bytes).unwrap());
    let mut urls: Vec<_> = records
        .iter()
        .map(|r| r["url"].as_str().unwrap().to_string())
        .collect();
    urls.sort();
    assert_eq!(
        urls,
        [server.url("/fast"), server.url("/slow")],
        "{records:#?}"
    );
}

/// Every lock is taken before any output is created or truncated: a
/// second haul on a `--state` in use exits 2 before it truncates the
/// `--report` the first one is writing, and before it creates its own
/// `-d`.
#[test]
fn a_run_refused_for_the_state_touches_nothing() {
    let server = fast_and_slow();
    let tmp = TempDir::new().unwrap();
    let (first, before) = first_run_with_a_report(&tmp, &server, &["--state", "s.haul"]);

    let second = run(haul_in(tmp.path()).args([
        &server.url("/other"),
        "--state",
        "s.haul",
        "--report",
        "r.jsonl",
        "-d",
        "elsewhere",
    ]));

    second.assert_code(2);
    assert!(
        second.stderr.contains("s.haul") && second.stderr.contains("in use by another haul"),
        "{second}"
    );
    let after = std::fs::read(tmp.path().join("r.jsonl")).unwrap();
    assert!(
        after.starts_with(&before),
        "the refused run changed r.jsonl: {:?} became {:?}",
        String::from_utf8_lossy(&before),
        String::from_utf8_lossy(&after)
    );
    assert!(
        !tmp.path().join("elsewhere").exists(),
        "the refused run created its -d"
    );
    assert_eq!(server.hits_for("/other"), 0);
    first.wait(Duration::from_secs(30)).assert_code(0);
    assert_first_runs_report(&tmp, &server);
}

/// `--report` is owned by one haul at a time: a second haul given the
/// report file another one is writing exits 2 naming it, whatever its
/// `--state` (none for the first, its own for the second), and creates and
/// changes nothing: not the report, not its state, not its `-d`.
#[test]
fn a_second_haul_on_the_same_report_exits_2() {
    let server = fast_and_slow();
    let tmp = TempDir::new().unwrap();
    let (first, before) = first_run_with_a_report(&tmp, &server, &[]);

    let second = run(haul_in(tmp.path()).args([
        &server.url("/other"),
        "--state",
        "b.haul",
        "--report",
        "r.jsonl",
        "-d",
        "elsewhere",
    ]));

    second.assert_code(2);
    assert!(
        second.stderr.contains("r.jsonl") && second.stderr.contains("in use by another haul"),
        "{second}"
    );
    let after = std::fs::read(tmp.path().join("r.jsonl")).unwrap();
    assert!(
        after.starts_with(&before),
        "the refused run changed r.jsonl: {:?} became {:?}",
        String::from_utf8_lossy(&before),
        String::from_utf8_lossy(&after)
    );
    for made in ["elsewhere", "b.haul"] {
        assert!(
            !tmp.path().join(made).exists(),
            "the refused run created {made}"
        );
    }
    assert_eq!(server.hits_for("/other"), 0);
    first.wait(Duration::from_secs(30)).assert_code(0);
    assert_first_runs_report(&tmp, &server);
}

/// `/f0` .. `/f9` with ETags `"v0"` .. `"v9"`, answering 304 to their own
/// `If-None-Match`.
fn ten_versioned() -> Server {
    server::http(|req| {
        let path = req.uri().path().to_string();
        let etag = format!("\"v{}\"", &path[2..]);
        let matches = req
            .headers()
            .get("if-none-match")
            .and_then(|v| v.to_str().ok())
            == Some(etag.as_str());
        let res = if matches {
            status(StatusCode::NOT_MODIFIED)
        } else {
            with_header(ok(format!("body of {path}\n")), "etag", &etag)
        };
        async move { res }
    })
}

/// Lines of `out`'s stderr that are warnings.
fn warnings(stderr: &str) -> Vec<&str> {
    stderr.lines().filter(|l| l.contains("warning")).collect()
}

/// A damaged record is skipped with one warning; the records after it are
/// kept. Bytes flipped inside one record of the log (the one for `f4`, in
/// the middle of ten written in order): `--list` still prints the nine
/// others, and an `update` run still sends each of them its ETag.
#[test]
fn a_damaged_record_costs_only_itself() {
    let server = ten_versioned();
    let tmp = TempDir::new().unwrap();
    let pattern = server.url("/f[0-9]");
    run(haul_in(tmp.path()).args([&pattern, "-j", "1", "--state", "s.haul", "-d", "out"]))
        .assert_code(0);
    let state = tmp.path().join("s.haul");
    let mut log = std::fs::read(&state).unwrap();
    let url = server.url("/f4");
    let at = log
        .windows(url.len())
        .position(|w| w == url.as_bytes())
        .expect("f4's URL is in the log");
    assert_eq!(
        log.windows(url.len())
            .filter(|w| *w == url.as_bytes())
            .count(),
        1,
        "one record names f4"
    );
    // The port's digits, inside the URL: the record stays as long as it was.
    let colon = at + url.rfind(':').unwrap();
    log[colon + 1] ^= 0x04;
    log[colon + 2] ^= 0x01;
    std::fs::write(&state, &log).unwrap();
    let others: Vec<String> = (0..10)
        .filter(|&i| i != 4)
        .map(|i| format!("f{i}"))
        .collect();

    let listed = run(haul_in(tmp.path()).args(["--state", "s.haul", "--list"]));
    listed.assert_code(0);
    let mut paths: Vec<String> = parse_json_lines(&listed.stdout)
        .iter()
        .map(|e| e["path"].as_str().unwrap().to_string())
        .collect();
    paths.sort();
    assert_eq!(paths, others, "{listed}");
    assert_eq!(
        warnings(&listed.stderr).len(),
        1,
        "one warning
{listed}"
    );
    assert_eq!(
        std::fs::read(&state).unwrap(),
        log,
        "--list never writes the file"
    );

    let updated = run(haul_in(tmp.path()).args([
        &pattern,
        "--state",
        "s.haul",
        "--on-exists",
        "update",
        "-d",
        "out",
    ]));
    updated.assert_code(0);
    assert_eq!(
        warnings(&updated.stderr).len(),
        1,
        "one warning
{updated}"
    );
    for name in &others {
        let reqs = server.requests_for(&format!("/{name}"));
        let etag = format!("\"v{}\"", &name[1..]);
        assert_eq!(
            reqs.last().and_then(|r| r.header("if-none-match")),
            Some(etag.as_str()),
            "{name}'s entry was lost with the damaged one
{updated}"
        );
    }
}

/// haul's temp files are created exclusively, never through a symlink: a
/// stale `s.haul.compact` that is a symlink to a file outside (left by
/// whoever) is not followed when the log is compacted. The log is made
/// large and mostly dead (entries with 8 kB URLs, replaced twice by
/// `--on-exists overwrite`) so that opening it compacts it.
#[test]
fn a_stale_compact_symlink_is_never_followed() {
    let files: Vec<(String, Vec<u8>)> = (0..100)
        .map(|i| (format!("/f{i:02}"), format!("file {i}\n").into_bytes()))
        .collect();
    let server = server::files(files);
    let tmp = TempDir::new().unwrap();
    let pad = "p".repeat(8000);
    let lines: Vec<String> = (0..100)
        .map(|i| server.url(&format!("/f{i:02}?pad={pad}")))
        .collect();
    write_list(tmp.path(), "urls.txt", &lines);
    let args = [
        "-i",
        "urls.txt",
        "--state",
        "s.haul",
        "--on-exists",
        "overwrite",
        "-d",
        "out",
    ];
    for _ in 0..2 {
        run(haul_in(tmp.path()).args(args)).assert_code(0);
    }
    let outside = TempDir::new().unwrap();
    let precious = outside.path().join("precious.txt");
    std::fs::write(&precious, b"not haul's\n").unwrap();
    std::os::unix::fs::symlink(&precious, tmp.path().join("s.haul.compact")).unwrap();
    let size = std::fs::metadata(tmp.path().join("s.haul")).unwrap().len();
    println!("the log is {size} bytes before the third run");

    let third = run(haul_in(tmp.path()).args(args));

    let now = std::fs::read(&precious).unwrap();
    assert!(
        now == b"not haul's\n",
        "a file outside was written through s.haul.compact: it now holds {} bytes \
         starting {:?}\n{third}",
        now.len(),
        String::from_utf8_lossy(&now[..now.len().min(16)])
    );
    let kind = std::fs::symlink_metadata(tmp.path().join("s.haul"))
        .unwrap()
        .file_type();
    assert!(kind.is_file(), "s.haul is no longer a file: {kind:?}");
    third.assert_code(0);
    let listed = run(haul_in(tmp.path()).args(["--state", "s.haul", "--list"]));
    listed.assert_code(0);
    assert_eq!(parse_json_lines(&listed.stdout).len(), 100, "{listed}");
}
