//! `--state FILE`: the record of saved files that makes nightly runs cheap.
//! `update` sends the recorded ETag and keeps the file on 304; both `skip`
//! and `update` fetch again a file whose size differs from its entry, and
//! trust a file whose size and mtime match an entry with the wanted digest;
//! `--list` prints the entries; a second haul on the file exits 2; a kill
//! -9 leaves a file whose every entry is on disk.
//!
//! Not here: the log format and its repair (unit tests in `src/state.rs`).

use std::time::Duration;

use hyper::StatusCode;
use tempfile::TempDir;

use crate::support::server::{self, Server, drip, ok, status, with_header};
use crate::support::{
    haul_in, parse_json_lines, pseudo_random, record, run, sha256_hex, spawn, tree,
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
