//! SIGINT and SIGTERM mid-run: no new downloads start, the one in flight
//! stops and keeps its `.part`, the summary is printed, the exit code is 130
//! or 143, and a rerun finishes the file with a `Range` request.
//!
//! Not here: SIGKILL (crash.rs).

use std::path::Path;
use std::thread;
use std::time::{Duration, Instant};

use tempfile::TempDir;

use super::show;
use crate::support::server::{self, Resource, Server, Shape};
use crate::support::{
    assert_no_final_file, assert_tree_eq, expected, haul_in, pseudo_random, run, spawn, tree,
};

/// The slow body drips 8 KiB every 20 ms: about 5 s for 2 MiB, far longer
/// than the signal takes to act.
const SLOW_LEN: usize = 2 * 1024 * 1024;

struct Scene {
    server: Server,
    slow: Vec<u8>,
    tmp: TempDir,
    urls: [String; 3],
}

/// `/first.txt` (quick), `/slow.bin` (a slow drip with ETag "v1" the first
/// time, whole afterwards) and `/later.txt` (quick), to be fetched with `-j 1`.
fn scene(seed: u64) -> Scene {
    let slow = pseudo_random(seed, SLOW_LEN);
    let resource = Resource::new(slow.clone()).etag("\"v1\"");
    let server = server::http_nth(move |req, n| {
        let res = match req.uri().path() {
            "/slow.bin" if n == 0 => resource.respond(
                req.headers(),
                Shape::Drip {
                    chunk: 8 * 1024,
                    every: Duration::from_millis(20),
                },
            ),
            "/slow.bin" => resource.respond(req.headers(), Shape::Whole),
            path => server::ok(format!("body of {path}")),
        };
        async move { res }
    });
    let tmp = TempDir::new().unwrap();
    let urls = [
        server.url("/first.txt"),
        server.url("/slow.bin"),
        server.url("/later.txt"),
    ];
    Scene {
        server,
        slow,
        tmp,
        urls,
    }
}

/// Waits until `part` holds at least `min` bytes (the download is well under way).
#[track_caller]
fn wait_for_part(part: &Path, min: u64, running: &mut crate::support::Running) {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let len = std::fs::metadata(part).map(|m| m.len()).unwrap_or(0);
        if len >= min {
            return;
        }
        assert!(
            !running.has_exited(),
            "haul exited before {} reached {min} bytes",
            part.display()
        );
        assert!(
            Instant::now() < deadline,
            "{} never reached {min} bytes (has {len})",
            part.display()
        );
        thread::sleep(Duration::from_millis(10));
    }
}

/// Runs the scene, sends `signal` once `/slow.bin` is under way, checks the
/// interrupted run exits with `code`, then reruns and checks the resume.
fn interrupt_and_resume(seed: u64, signal: libc::c_int, code: i32) {
    let Scene {
        server,
        slow,
        tmp,
        urls,
    } = scene(seed);
    let out_dir = tmp.path().join("out");
    let mut cmd = haul_in(tmp.path());
    cmd.args(&urls).args(["-j", "1", "-d", "out"]);

    let mut running = spawn(&mut cmd);
    wait_for_part(&out_dir.join("slow.bin.part"), 64 * 1024, &mut running);
    running.signal(signal);
    let signalled = running.elapsed();
    let out = running.wait(signalled + Duration::from_secs(10));

    out.assert_code(code);
    assert!(
        out.elapsed - signalled < Duration::from_secs(3),
        "haul took {:?} to stop after the signal\n{out}",
        out.elapsed - signalled
    );
    assert!(
        out.summary().contains("ok"),
        "the summary is still printed\n{out}"
    );
    let got = tree(&out_dir);
    assert_no_final_file(&got, "slow.bin", &slow);
    let part = got
        .get("slow.bin.part")
        .unwrap_or_else(|| panic!("the interrupted download keeps its .part\n{out}"))
        .len();
    assert_eq!(
        got.get("first.txt").map(Vec::as_slice),
        Some(&b"body of /first.txt"[..])
    );
    assert!(!got.contains_key("later.txt"), "{:?}", got.keys());
    assert_eq!(
        server.hits_for("/later.txt"),
        0,
        "no new download starts after the signal\n{}",
        show(&server.requests())
    );

    let rerun = run(haul_in(tmp.path())
        .args(&urls)
        .args(["-j", "1", "-d", "out"]));

    rerun.assert_code(0).assert_summary(2, 1, 0);
    assert_tree_eq(
        &tree(&out_dir),
        &expected([
            ("first.txt", &b"body of /first.txt"[..]),
            ("slow.bin", &slow[..]),
            ("later.txt", b"body of /later.txt"),
        ]),
    );
    let slow_reqs = server.requests_for("/slow.bin");
    let log = show(&server.requests());
    assert_eq!(slow_reqs.len(), 2, "{log}");
    assert_eq!(slow_reqs[1].range_start(), Some(part as u64), "{log}");
    assert_eq!(slow_reqs[1].header("if-range"), Some("\"v1\""), "{log}");
}

#[test]
fn sigint_keeps_the_part_exits_130_and_a_rerun_resumes() {
    interrupt_and_resume(50, libc::SIGINT, 130);
}

#[test]
fn sigterm_keeps_the_part_exits_143_and_a_rerun_resumes() {
    interrupt_and_resume(51, libc::SIGTERM, 143);
}

#[test]
fn sigint_during_a_retry_wait_exits_at_once() {
    // A URL waiting 30s for its retry is not in flight: the signal ends the run now.
    let server = server::http(|_req| async {
        server::with_header(
            server::status(hyper::StatusCode::SERVICE_UNAVAILABLE),
            "retry-after",
            "30",
        )
    });
    let tmp = TempDir::new().unwrap();
    let mut cmd = haul_in(tmp.path());
    cmd.args([&server.url("/wait.bin"), "-d", "out"]);

    let mut running = spawn(&mut cmd);
    let deadline = Instant::now() + Duration::from_secs(15);
    while server.hits() == 0 {
        assert!(Instant::now() < deadline, "haul never sent its request");
        assert!(!running.has_exited(), "haul exited before its retry wait");
        thread::sleep(Duration::from_millis(10));
    }
    thread::sleep(Duration::from_millis(200));
    running.signal(libc::SIGINT);
    let signalled = running.elapsed();
    let out = running.wait(signalled + Duration::from_secs(10));

    out.assert_code(130);
    assert!(
        out.elapsed - signalled < Duration::from_secs(3),
        "haul sat out the retry wait after SIGINT: {:?}\n{out}",
        out.elapsed - signalled
    );
    assert_eq!(server.hits(), 1);
    assert_tree_eq(&tree(&tmp.path().join("out")), &expected([]));
}
