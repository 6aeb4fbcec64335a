//! Several hauls at once on one `--dir`: the contract's "Across processes
//! and crashes". A download owns its `DEST.part` for its whole life, across
//! processes (an advisory lock held on the open `.part`): a second haul
//! never writes, resumes or renames it, and that URL fails with "in use by
//! another haul"; a file is renamed only at its proven length, and no file
//! is ever reported `ok` with bytes another process wrote.
//!
//! Two fixed cases (one slow file, a second haul started while the first is
//! at it, with and without a digest), and a property test: two to four
//! hauls started at random moments on one list, some killed with SIGKILL,
//! then a clean run. Its seed is printed; `HAUL_PROP_SEED=N` replays a
//! case and `HAUL_PROP_CASES=N` runs more of them (default 6).
//!
//! Not here: one haul killed and restarted (crash.rs), a second haul on the
//! same `--state` or `--report` (state.rs).

use std::collections::HashMap;
use std::path::Path;
use std::process::Command;
use std::thread;
use std::time::{Duration, Instant};

use bytes::Bytes;
use tempfile::TempDir;

use super::crash::{Observer, seed_from, xorshift};
use super::{FAST, assert_records_true, report_lines};
use crate::support::server::{self, Resource, Shape};
use crate::support::{
    Output, Running, assert_out_holds, haul_in, pseudo_random, record, sha256_hex, spawn, tree,
    wait_for, write_list,
};

/// The slow file of the fixed cases.
const SIZE: usize = 600_000;

/// 30 kB every 100 ms: some 300 kB/s, two seconds for [`SIZE`].
const SLOW: Shape = Shape::Drip {
    chunk: 30_000,
    every: Duration::from_millis(100),
};

/// The length of the file at `path` (0 when there is none).
fn len_of(path: &Path) -> u64 {
    std::fs::metadata(path).map_or(0, |m| m.len())
}

/// `haul -i urls.txt -d out --report REPORT -A AGENT` in `dir`: the user
/// agent tells the server which haul sent a request.
fn haul_as(dir: &Path, agent: &str, report: &str) -> Command {
    let mut cmd = haul_in(dir);
    cmd.args([
        "-i", "urls.txt", "-d", "out", "--report", report, "-A", agent,
    ])
    .args(FAST);
    cmd
}

/// Haul A fetches `/f.bin` (600 kB at 300 kB/s, ETag, ranges); haul B, on
/// the same list and `-d`, starts once A's `.part` holds 60 kB, while A is
/// still at it. B must leave A's `.part` alone: its URL fails with "in use
/// by another haul" (exit 1), A exits 0 with the exact file, and both
/// reports are true of the disk.
fn second_haul_on_a_part_in_use(digest: bool) {
    let body = pseudo_random(900 + u64::from(digest), SIZE);
    let resource = Resource::new(body.clone()).etag("\"v1\"");
    let server = server::http(move |req| {
        let res = resource.respond(req.headers(), SLOW);
        async move { res }
    });
    let tmp = TempDir::new().unwrap();
    let url = server.url("/f.bin");
    let line = match digest {
        true => format!("{url} sha256={}", sha256_hex(&body)),
        false => url.clone(),
    };
    write_list(tmp.path(), "urls.txt", &[line]);

    let mut a = spawn(&mut haul_as(tmp.path(), "haul-a", "a.jsonl"));
    let part = tmp.path().join("out/f.bin.part");
    wait_for(Duration::from_secs(10), "60 kB in A's f.bin.part", || {
        len_of(&part) >= 60_000
    });
    assert!(
        !a.has_exited(),
        "A ended before B could start: the case proves nothing"
    );
    let b = spawn(&mut haul_as(tmp.path(), "haul-b", "b.jsonl")).wait(Duration::from_secs(30));
    let a = a.wait(Duration::from_secs(30));

    let got = tree(&tmp.path().join("out"));
    let requests = super::show(&server.requests());
    let agents: Vec<_> = server
        .requests()
        .iter()
        .map(|r| {
            format!(
                "{} range={:?}",
                r.header("user-agent").unwrap_or("?"),
                r.header("range")
            )
        })
        .collect();
    let context = format!("{requests}\n{agents:?}\n--- A:\n{a}\n--- B:\n{b}");
    if let Some(file) = got.get("f.bin") {
        assert!(
            file.len() == SIZE && file[..] == body[..],
            "f.bin is not the resource ({} bytes of {SIZE}): two hauls wrote one .part\n{context}",
            file.len()
        );
    }
    a.assert_code(0);
    assert_out_holds(tmp.path(), [("f.bin", &body[..])]);

    let a_report = report_lines(&tmp.path().join("a.jsonl"));
    let rec = record(&a_report, &url);
    assert_eq!(rec["status"], "ok", "{rec}\n{context}");
    assert_eq!(rec["bytes"], SIZE as u64, "{rec}\n{context}");
    assert_records_true(tmp.path(), &a_report, "A's report");

    b.assert_code(1);
    b.assert_failure("in use by another haul", &[]);
    let b_report = report_lines(&tmp.path().join("b.jsonl"));
    let rec = record(&b_report, &url);
    assert_eq!(rec["status"], "failed", "{rec}\n{context}");
    assert!(
        rec["error"]
            .as_str()
            .is_some_and(|e| e.contains("in use by another haul")),
        "{rec}\n{context}"
    );
    assert_records_true(tmp.path(), &b_report, "B's report");
    // A range request from B would continue A's bytes as its own.
    let continued: Vec<_> = server
        .requests()
        .into_iter()
        .filter(|r| r.header("user-agent") == Some("haul-b") && r.header("range").is_some())
        .collect();
    assert!(
        continued.is_empty(),
        "B asked for a range of the file A is writing\n{context}"
    );
}

/// A download owns its `.part` across processes: a second haul started
/// on the same list and `-d` while the first writes the file fails that
/// URL with "in use by another haul" and never touches the `.part`; the
/// file is renamed at its proven length, and the `ok` record is true.
#[test]
fn a_second_haul_leaves_a_part_in_use_alone() {
    second_haul_on_a_part_in_use(false);
}

/// [`a_second_haul_leaves_a_part_in_use_alone`] with a `sha256=` on the
/// list line: the digest must not be what saves the file.
#[test]
fn a_second_haul_leaves_a_part_in_use_alone_with_a_digest() {
    second_haul_on_a_part_in_use(true);
}

/// One file of the property test.
struct Case {
    name: String,
    body: Bytes,
    digest: bool,
    shape: Shape,
}

/// The files of one case: small ones sent at once, slow ones dripped, and
/// large ones that `--split 4 --min-split-size 64K` fetches over several
/// connections; about half with a `sha256=`.
fn files(rng: &mut u64) -> Vec<Case> {
    let pool = Bytes::from(pseudo_random(*rng, 3 << 20));
    let mut out = Vec::new();
    let kinds: [(usize, usize, usize, Shape); 3] = [
        (4, 8 << 10, 60 << 10, Shape::Whole),
        (
            4,
            150 << 10,
            400 << 10,
            Shape::Drip {
                chunk: 32 << 10,
                every: Duration::from_millis(40),
            },
        ),
        (
            2,
            1 << 20,
            3 << 19,
            Shape::Drip {
                chunk: 64 << 10,
                every: Duration::from_millis(30),
            },
        ),
    ];
    for (count, min, max, shape) in kinds {
        for _ in 0..count {
            let len = min + (xorshift(rng) as usize) % (max - min);
            let off = (xorshift(rng) as usize) % (pool.len() - len);
            out.push(Case {
                name: format!("f{:02}.bin", out.len()),
                body: pool.slice(off..off + len),
                digest: xorshift(rng).is_multiple_of(2),
                shape,
            });
        }
    }
    out
}

/// One haul of a case: when it starts, whether it splits, when it is killed.
#[derive(Debug)]
struct Plan {
    start: Duration,
    split: bool,
    kill: Option<Duration>,
}

/// One case of [`two_to_four_hauls_at_once`].
fn hauls_at_once(seed: u64) {
    let mut rng = seed;
    let files = files(&mut rng);
    let want: HashMap<String, Bytes> = files
        .iter()
        .map(|f| (f.name.clone(), f.body.clone()))
        .collect();
    let served: HashMap<String, (Resource, Shape)> = files
        .iter()
        .map(|f| {
            let etag = format!("\"{}-{}\"", f.name, f.body.len());
            let resource = Resource::new(f.body.clone()).etag(&etag);
            (format!("/{}", f.name), (resource, f.shape))
        })
        .collect();
    let server = server::http(move |req| {
        let res = match served.get(req.uri().path()) {
            Some((resource, shape)) => resource.respond(req.headers(), *shape),
            None => server::status(hyper::StatusCode::NOT_FOUND),
        };
        async move { res }
    });
    let tmp = TempDir::new().unwrap();
    let lines: Vec<String> = files
        .iter()
        .map(|f| {
            let url = server.url(&format!("/{}", f.name));
            match f.digest {
                true => format!("{url} sha256={}", sha256_hex(&f.body)),
                false => url,
            }
        })
        .collect();
    write_list(tmp.path(), "urls.txt", &lines);
    let count = 2 + (xorshift(&mut rng) % 3) as usize;
    let plans: Vec<Plan> = (0..count)
        .map(|_| {
            let start = Duration::from_millis(xorshift(&mut rng) % 1501);
            let split = xorshift(&mut rng).is_multiple_of(2);
            let kill = (xorshift(&mut rng).is_multiple_of(2))
                .then(|| start + Duration::from_millis(100 + xorshift(&mut rng) % 1500));
            Plan { start, split, kill }
        })
        .collect();
    println!("case seed {seed} (HAUL_PROP_SEED={seed} HAUL_PROP_CASES=1 replays it): {plans:?}");

    let out_dir = tmp.path().join("out");
    let mut observer = Observer::new(&want, seed);
    let mut running: Vec<Option<Running>> = (0..count).map(|_| None).collect();
    let mut ended: Vec<Option<Output>> = (0..count).map(|_| None).collect();
    let began = Instant::now();
    while ended.iter().any(Option::is_none) {
        assert!(
            began.elapsed() < Duration::from_secs(90),
            "the hauls did not end (seed {seed})"
        );
        let now = began.elapsed();
        for (i, plan) in plans.iter().enumerate() {
            if ended[i].is_some() {
                continue;
            }
            let exited = running[i].as_mut().map(Running::has_exited);
            match exited {
                None if now >= plan.start => {
                    let mut cmd = haul_in(tmp.path());
                    cmd.args(["-i", "urls.txt", "-d", "out", "-j", "4"])
                        .args(["--report", &format!("r{i}.jsonl")])
                        .args(FAST);
                    if plan.split {
                        cmd.args(["--split", "4", "--min-split-size", "64K"]);
                    }
                    running[i] = Some(spawn(&mut cmd));
                }
                None => {}
                Some(true) => {
                    let out = running[i].take().unwrap().wait(Duration::from_secs(5));
                    ended[i] = Some(out);
                }
                Some(false) if plan.kill.is_some_and(|at| now >= at) => {
                    ended[i] = Some(running[i].take().unwrap().kill());
                }
                Some(false) => {
                    let child = running[i].as_ref().unwrap();
                    assert!(
                        child.elapsed() < Duration::from_secs(60),
                        "haul {i} did not finish (seed {seed})"
                    );
                }
            }
        }
        observer.observe(&out_dir);
        thread::sleep(Duration::from_millis(5));
    }
    observer.observe(&out_dir);

    for (i, (plan, out)) in plans.iter().zip(&ended).enumerate() {
        let out = out.as_ref().unwrap();
        println!("haul {i} {plan:?}: {}", out.status);
        assert!(
            !out.stderr.contains("panicked"),
            "haul {i} panicked (seed {seed})\n{out}"
        );
        if out.status.code().is_some() {
            assert!(
                matches!(out.code(), Some(0 | 1)),
                "haul {i} (seed {seed})\n{out}"
            );
        }
        let report = report_lines(&tmp.path().join(format!("r{i}.jsonl")));
        assert_records_true(
            tmp.path(),
            &report,
            &format!("haul {i}'s report (seed {seed})"),
        );
    }

    let mut last = spawn(
        haul_in(tmp.path())
            .args(["-i", "urls.txt", "-d", "out", "--report", "last.jsonl"])
            .args(FAST),
    );
    while !last.has_exited() {
        assert!(
            last.elapsed() < Duration::from_secs(60),
            "the clean run did not finish (seed {seed})"
        );
        observer.observe(&out_dir);
        thread::sleep(Duration::from_millis(5));
    }
    let last = last.wait(Duration::from_secs(60));
    observer.observe(&out_dir);
    assert_eq!(last.code(), Some(0), "the clean run (seed {seed})\n{last}");
    assert_out_holds(
        tmp.path(),
        files.iter().map(|f| (f.name.as_str(), &f.body[..])),
    );
    let report = report_lines(&tmp.path().join("last.jsonl"));
    assert_records_true(
        tmp.path(),
        &report,
        &format!("the clean run's report (seed {seed})"),
    );
    for (i, _) in plans.iter().enumerate() {
        let report = report_lines(&tmp.path().join(format!("r{i}.jsonl")));
        assert_records_true(
            tmp.path(),
            &report,
            &format!("haul {i}'s report, after the clean run (seed {seed})"),
        );
    }
}

/// Property: two to four hauls on one list and one `-d`, started 0 to 1.5 s
/// apart, some with `--split`, some killed with SIGKILL at a random moment,
/// then a clean run. No file is ever under its final name unless whole and
/// exact (the folder is watched throughout); every `ok` record, and every
/// `skipped` one with a sha256, in every report is true of the disk; the
/// clean run exits 0 with exactly the files and no `.part`.
#[test]
fn two_to_four_hauls_at_once() {
    let seed = seed_from("HAUL_PROP_SEED");
    let cases: u64 = std::env::var("HAUL_PROP_CASES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(6);
    println!("property seed {seed} (HAUL_PROP_SEED={seed} replays it; HAUL_PROP_CASES={cases})");
    for case in 0..cases {
        let case_seed = seed.wrapping_add(case.wrapping_mul(0x9e37_79b9_7f4a_7c15)) | 1;
        hauls_at_once(case_seed);
    }
}

/// A `.part` left beside a file that is kept (a haul killed while it
/// fetched again a file another one had finished) is removed when the file
/// is skipped, so overlapping runs end with an exact tree; one another
/// process holds is left alone.
#[test]
fn a_leftover_part_beside_a_kept_file_goes_unless_held() {
    let server =
        server::files([("/a.bin", b"a".to_vec()), ("/b.bin", b"b".to_vec())]).expect_no_hits();
    let tmp = TempDir::new().unwrap();
    let out = tmp.path().join("out");
    std::fs::create_dir(&out).unwrap();
    for name in ["a.bin", "b.bin"] {
        std::fs::write(out.join(name), b"kept").unwrap();
        std::fs::write(out.join(format!("{name}.part")), b"left over").unwrap();
    }
    // This process holds b.bin.part, as a running haul would.
    let held = std::fs::File::open(out.join("b.bin.part")).unwrap();
    rustix::fs::flock(&held, rustix::fs::FlockOperation::NonBlockingLockExclusive).unwrap();

    let run = crate::support::run(haul_in(tmp.path()).args([
        &server.url("/a.bin"),
        &server.url("/b.bin"),
        "-d",
        "out",
    ]));

    run.assert_code(0).assert_summary(0, 2, 0);
    assert!(!out.join("a.bin.part").exists(), "{run}");
    assert_eq!(std::fs::read(out.join("b.bin.part")).unwrap(), b"left over");
    assert_eq!(std::fs::read(out.join("a.bin")).unwrap(), b"kept");
    drop(held);
}

/// A dry run changes nothing, a leftover `.part` beside a kept file
/// included.
#[test]
fn a_dry_run_leaves_a_leftover_part_alone() {
    let server = server::files([("/a.bin", b"a".to_vec())]).expect_no_hits();
    let tmp = TempDir::new().unwrap();
    let out = tmp.path().join("out");
    std::fs::create_dir(&out).unwrap();
    std::fs::write(out.join("a.bin"), b"kept").unwrap();
    std::fs::write(out.join("a.bin.part"), b"left over").unwrap();

    let run = crate::support::run(haul_in(tmp.path()).args([
        &server.url("/a.bin"),
        "--dry-run",
        "-d",
        "out",
    ]));

    run.assert_code(0);
    assert_eq!(std::fs::read(out.join("a.bin.part")).unwrap(), b"left over");
}
