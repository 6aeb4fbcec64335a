//! `-o -`: every URL's bytes to stdout, whole files in input order, while
//! downloads run ahead; a file reaches stdout only once complete and
//! verified, a failure stops the stream after the last whole file (exit 1),
//! a reader that goes away ends the run quietly (141), files waiting their
//! turn spill to a private temporary folder that is gone at the end, and
//! nothing is written into `--dir`.

use std::io::Read;
use std::process::Stdio;
use std::time::Duration;

use hyper::StatusCode;
use tempfile::TempDir;

use crate::support::server::{self, Resource, Shape, drip, ok, status};
use crate::support::{
    Output, haul_in, pseudo_random, run, sha256_hex, spawn, tree, wait_for, write_list,
};

/// haul in `tmp` with `TMPDIR` at `tmp/spool`, `-d out`, `-o -`.
fn haul_stdout(tmp: &TempDir) -> std::process::Command {
    let spool = tmp.path().join("spool");
    std::fs::create_dir_all(&spool).unwrap();
    let mut cmd = haul_in(tmp.path());
    cmd.env("TMPDIR", &spool).args(["-d", "out", "-o", "-"]);
    cmd
}

/// Nothing in `--dir` (never created) and nothing left in the spool folder.
#[track_caller]
fn nothing_left(tmp: &TempDir) {
    let files = tree(tmp.path());
    assert!(
        files
            .keys()
            .all(|k| !k.starts_with("out") && !k.starts_with("spool/")),
        "{:?}",
        files.keys()
    );
    assert_eq!(
        std::fs::read_dir(tmp.path().join("spool")).unwrap().count(),
        0
    );
    assert!(!tmp.path().join("out").exists());
}

/// A server of `bodies` at `/0`, `/1`, ..., each answer delayed by a
/// pseudo-random 0 to 20 ms, so they end out of order.
fn shuffled(bodies: Vec<Vec<u8>>) -> server::Server {
    server::http(move |req| {
        let i: usize = req.uri().path()[1..].parse().unwrap();
        let body = bodies[i].clone();
        async move {
            let delay = (i as u64 * 7919) % 21;
            tokio::time::sleep(Duration::from_millis(delay)).await;
            ok(body)
        }
    })
}

#[test]
fn two_hundred_urls_come_out_whole_and_in_order() {
    let bodies: Vec<Vec<u8>> = (0..200)
        .map(|i| pseudo_random(i, 100 + (i as usize * 37) % 3000))
        .collect();
    let want: Vec<u8> = bodies.concat();
    let server = shuffled(bodies);
    let tmp = TempDir::new().unwrap();
    let out = run(haul_stdout(&tmp)
        .arg(server.url("/[0-199]"))
        .args(["-j", "32"]));
    out.assert_code(0).assert_summary(200, 0, 0);
    assert_eq!(out.stdout_bytes.len(), want.len());
    assert!(out.stdout_bytes == want, "bytes out of order");
    nothing_left(&tmp);
}

#[test]
fn a_large_file_among_small_ones_and_a_split_one() {
    let large = pseudo_random(1, 3 << 20);
    let split = pseudo_random(2, 4 << 20);
    let small: Vec<Vec<u8>> = (0..5).map(|i| pseudo_random(10 + i, 1000)).collect();
    let split_resource = Resource::new(split.clone()).etag("\"s\"");
    let server = server::http({
        let (large, small) = (large.clone(), small.clone());
        move |req| {
            let res = match req.uri().path() {
                "/large" => ok(large.clone()),
                "/split" => split_resource.respond(req.headers(), Shape::Whole),
                path => ok(small[path[2..].parse::<usize>().unwrap()].clone()),
            };
            async move { res }
        }
    });
    let tmp = TempDir::new().unwrap();
    let urls = [
        server.url("/s0"),
        server.url("/large"),
        server.url("/s1"),
        server.url("/split"),
        server.url("/s{2,3,4}"),
    ];
    let out = run(haul_stdout(&tmp)
        .args(&urls)
        .args(["--split", "4", "--min-split-size", "256K"]));
    out.assert_code(0).assert_summary(7, 0, 0);
    let want = [
        &small[0][..],
        &large,
        &small[1],
        &split,
        &small[2],
        &small[3],
        &small[4],
    ]
    .concat();
    assert!(out.stdout_bytes == want, "bytes out of order or damaged");
    assert!(
        server
            .requests()
            .iter()
            .any(|r| r.header("range").is_some()),
        "the split file was not split"
    );
    nothing_left(&tmp);
}

#[test]
fn a_failure_stops_the_stream_after_the_last_whole_file() {
    let a = pseudo_random(3, 5000);
    let c = pseudo_random(4, 5000);
    let server = server::http({
        let (a, c) = (a.clone(), c.clone());
        move |req| {
            let res = match req.uri().path() {
                "/a" => ok(a.clone()),
                "/c" => ok(c.clone()),
                _ => status(StatusCode::NOT_FOUND),
            };
            async move { res }
        }
    });
    let tmp = TempDir::new().unwrap();
    let report = tmp.path().join("report.jsonl");
    let out = run(haul_stdout(&tmp)
        .args([server.url("/a"), server.url("/b"), server.url("/c")])
        .arg("--report")
        .arg(&report));
    out.assert_code(1);
    assert!(out.stdout_bytes == a, "{} bytes", out.stdout_bytes.len());
    out.assert_failure(&server.url("/b"), &["404"]);
    let lines = crate::support::parse_json_lines(&std::fs::read_to_string(&report).unwrap());
    let statuses: Vec<_> = lines
        .iter()
        .map(|r| {
            (
                r["url"].as_str().unwrap().to_string(),
                r["status"].clone(),
                r["path"].clone(),
            )
        })
        .collect();
    assert_eq!(statuses[0].0, server.url("/a"), "{statuses:?}");
    assert_eq!(statuses[0].1, "ok");
    assert_eq!(statuses[0].2, "-");
    assert_eq!(statuses[1].1, "failed");
    nothing_left(&tmp);
}

#[test]
fn bytes_that_fail_their_digest_never_reach_stdout() {
    let a = pseudo_random(5, 5000);
    let b = pseudo_random(6, 5000);
    let server = server::files([("/a", a.clone()), ("/b", b.clone())]);
    let tmp = TempDir::new().unwrap();
    let list = write_list(
        tmp.path(),
        "urls.txt",
        &[
            format!("{} sha256={}", server.url("/a"), sha256_hex(&a)),
            format!("{} sha256={}", server.url("/b"), sha256_hex(&a)),
        ],
    );
    let out = run(haul_stdout(&tmp).arg("-i").arg(&list));
    out.assert_code(1);
    assert!(out.stdout_bytes == a);
    out.assert_failure(&server.url("/b"), &["sha256 mismatch"]);
    nothing_left(&tmp);
}

#[test]
fn a_reader_that_goes_away_ends_the_run_quietly() {
    let body = pseudo_random(7, 1 << 20);
    let server = server::files([("/f", body)]);
    let tmp = TempDir::new().unwrap();
    let mut child = haul_stdout(&tmp)
        .arg(server.url("/f?[1-50]"))
        .args(["-j", "2"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = child.stdout.take().unwrap();
    let mut first = [0u8; 1];
    stdout.read_exact(&mut first).unwrap();
    drop(stdout);
    let started = std::time::Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "haul kept running"
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    let mut stderr = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    assert_eq!(status.code(), Some(141), "{stderr}");
    assert_eq!(stderr, "", "not quiet");
    assert!(
        server.hits() < 50,
        "the run went on: {} requests",
        server.hits()
    );
    nothing_left(&tmp);
}

#[test]
fn files_waiting_their_turn_spill_to_a_private_folder() {
    let slow = pseudo_random(8, 64 * 1024);
    let large = pseudo_random(9, 2 << 20);
    let server = server::http({
        let (slow, large) = (slow.clone(), large.clone());
        move |req| {
            let res = match req.uri().path() {
                "/slow" => drip(slow.clone(), 4096, Duration::from_millis(100)),
                _ => ok(large.clone()),
            };
            async move { res }
        }
    });
    let tmp = TempDir::new().unwrap();
    let running = spawn(haul_stdout(&tmp).args([server.url("/slow"), server.url("/large")]));
    // While the first file drips, the second waits whole in the folder.
    let spool = tmp.path().join("spool");
    wait_for(
        Duration::from_secs(20),
        "the second file in the folder",
        || {
            walk(&spool)
                .iter()
                .any(|(_, len)| *len == large.len() as u64)
        },
    );
    let folders: Vec<_> = std::fs::read_dir(&spool).unwrap().flatten().collect();
    assert_eq!(folders.len(), 1);
    let mode =
        std::os::unix::fs::PermissionsExt::mode(&folders[0].metadata().unwrap().permissions());
    assert_eq!(mode & 0o077, 0, "the folder is private: {mode:o}");
    let out: Output = running.wait(Duration::from_secs(60));
    out.assert_code(0);
    assert!(out.stdout_bytes == [&slow[..], &large].concat());
    nothing_left(&tmp);
}

/// Every file under `dir`, with its length.
fn walk(dir: &std::path::Path) -> Vec<(std::path::PathBuf, u64)> {
    let mut found = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return found;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        match entry.metadata() {
            Ok(meta) if meta.is_dir() => found.extend(walk(&path)),
            Ok(meta) => found.push((path, meta.len())),
            Err(_) => {}
        }
    }
    found
}

#[test]
fn flags_that_name_files_are_refused_with_it() {
    let tmp = TempDir::new().unwrap();
    for flags in [
        &["--state", "s.haul"][..],
        &["--report", "-"],
        &["--content-disposition"],
        &["--trust-server-names"],
    ] {
        let out = run(haul_stdout(&tmp).arg("http://127.0.0.1:9/x").args(flags));
        out.assert_code(2);
        assert!(out.stderr.contains(flags[0]), "{flags:?}: {}", out.stderr);
        assert!(out.stdout_bytes.is_empty());
    }
    nothing_left(&tmp);
}

#[test]
fn a_dry_run_names_stdout() {
    let tmp = TempDir::new().unwrap();
    let out = run(haul_stdout(&tmp).args(["http://127.0.0.1:9/a", "--dry-run"]));
    out.assert_code(0);
    assert_eq!(out.stdout, "http://127.0.0.1:9/a -> -\n");
    nothing_left(&tmp);
}

#[test]
fn a_slow_reader_holds_the_downloads_back() {
    // 400 files over the in-memory size, and a reader that does not read:
    // at most max(4 x -j, 256) files (and a planner batch) are fetched
    // ahead of it, never the whole list into the folder.
    let body = pseudo_random(12, 300 * 1024);
    let server = server::files([("/f", body.clone())]);
    let tmp = TempDir::new().unwrap();
    let mut child = haul_stdout(&tmp)
        .arg(server.url("/f?[1-400]"))
        .args(["-j", "4"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut seen = 0;
    let mut still = 0;
    let started = std::time::Instant::now();
    while still < 10 && started.elapsed() < Duration::from_secs(20) {
        std::thread::sleep(Duration::from_millis(100));
        let hits = server.hits();
        still = if hits == seen { still + 1 } else { 0 };
        seen = hits;
    }
    assert!(
        seen <= 256 + 64 + 4,
        "{seen} files fetched ahead of the reader"
    );
    let mut stdout = child.stdout.take().unwrap();
    let mut all = Vec::new();
    stdout.read_to_end(&mut all).unwrap();
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(0));
    assert_eq!(all.len(), 400 * body.len());
    assert!(all.chunks(body.len()).all(|c| c == body));
    assert_eq!(server.hits(), 400);
    nothing_left(&tmp);
}

/// The peak resident memory of process `pid` so far (`VmHWM`), in bytes.
fn peak_rss(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

#[test]
fn files_larger_than_the_memory_cap_keep_memory_small() {
    if !std::path::Path::new("/proc/self/status").exists() {
        return;
    }
    // Two files of 70 MiB each (over the 64 MiB held in memory), the
    // first slowed so that the second waits its turn whole.
    let big = pseudo_random(13, 70 << 20);
    let server = server::http({
        let big = big.clone();
        move |req| {
            let res = match req.uri().path() {
                "/slow" => drip(big.clone(), 4 << 20, Duration::from_millis(40)),
                _ => ok(big.clone()),
            };
            async move { res }
        }
    });
    let tmp = TempDir::new().unwrap();
    let mut child = haul_stdout(&tmp)
        .args([server.url("/slow"), server.url("/fast")])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let pid = child.id();
    let mut stdout = child.stdout.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut all = Vec::new();
        stdout.read_to_end(&mut all).unwrap();
        all
    });
    let mut peak = 0;
    while !reader.is_finished() {
        peak = peak_rss(pid).unwrap_or(0).max(peak);
        std::thread::sleep(Duration::from_millis(20));
    }
    let all = reader.join().unwrap();
    assert_eq!(child.wait().unwrap().code(), Some(0));
    assert_eq!(all.len(), 140 << 20);
    assert!(all[..big.len()] == big[..] && all[big.len()..] == big[..]);
    assert!(peak > 0, "no sample of the peak");
    assert!(peak < 64 << 20, "peak RSS {} MiB", peak >> 20);
    nothing_left(&tmp);
}
