//! Crash safety: haul is killed with SIGKILL at random moments while it
//! fetches a few hundred files, and restarted each time. Throughout, every
//! file under a final name (anything not ending in `.part`) must be whole and
//! byte-exact; the last run completes with exit 0 and leaves no `.part`.
//!
//! The moments come from a xorshift seeded from the clock; the seed is
//! printed, and `HAUL_CRASH_SEED=N` replays it.
//!
//! With `--state`, and damage between the killed runs of what a crash or
//! another tool leaves (a `.part` cut below its note's claim or zeroed at
//! its tail, bytes flipped in the state log, a stale `STATE.compact`, as a
//! file and as a symlink leading out): no run reports a wrong file as `ok`
//! or `skipped`, and a clean run ends exact. `HAUL_DAMAGE_SEED=N` replays.
//!
//! Not here: graceful interruption (signals.rs).

use std::collections::HashMap;
use std::fs::File;
use std::io::Read;
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::thread;
use std::time::{Duration, Instant, SystemTime};

use bytes::Bytes;
use tempfile::TempDir;

use super::{assert_records_true, read_note, report_lines};
use crate::support::require;
use crate::support::server::{self, Resource, Shape};
use crate::support::{
    assert_out_holds, haul_in, pseudo_random, run, sha256_hex, spawn, write_list,
};

const FILES: usize = 300;
const KILLS: usize = 5;
const MIN_LEN: usize = 20 * 1024;
const MAX_LEN: usize = 600 * 1024;

pub(super) fn xorshift(state: &mut u64) -> u64 {
    *state ^= *state << 13;
    *state ^= *state >> 7;
    *state ^= *state << 17;
    *state
}

/// Checks the output folder as it is at one moment: every name is one of the
/// expected files or its `.part`, and every final file is byte-exact. Files
/// already verified are recognised by (inode, mtime, size) and not reread.
pub(super) struct Observer<'a> {
    want: &'a HashMap<String, Bytes>,
    verified: HashMap<String, (u64, i64, i64, u64)>,
    observations: usize,
    seed: u64,
}

impl<'a> Observer<'a> {
    /// An observer of a folder that should end up holding `want`; `seed`
    /// goes into its messages.
    pub(super) fn new(want: &'a HashMap<String, Bytes>, seed: u64) -> Self {
        Observer {
            want,
            verified: HashMap::new(),
            observations: 0,
            seed,
        }
    }

    pub(super) fn observe(&mut self, dir: &Path) {
        self.observations += 1;
        let Ok(entries) = std::fs::read_dir(dir) else {
            return; // not created yet
        };
        for entry in entries {
            let Ok(entry) = entry else { continue };
            let name = entry.file_name().to_string_lossy().into_owned();
            if let Some(stem) = name.strip_suffix(".part") {
                assert!(
                    self.want.contains_key(stem),
                    "unexpected file {name} (seed {})",
                    self.seed
                );
                continue;
            }
            let want = self.want.get(&name).unwrap_or_else(|| {
                panic!("unexpected file {name} (seed {})", self.seed);
            });
            // Renamed away or replaced between listing and opening: nothing seen.
            let Ok(mut file) = File::open(entry.path()) else {
                continue;
            };
            let meta = file.metadata().expect("fstat");
            let key = (meta.ino(), meta.mtime(), meta.mtime_nsec(), meta.len());
            if self.verified.get(&name) == Some(&key) {
                continue;
            }
            assert_eq!(
                meta.len(),
                want.len() as u64,
                "{name} is under its final name with {} of {} bytes (observation {}, seed {})",
                meta.len(),
                want.len(),
                self.observations,
                self.seed
            );
            let mut got = Vec::with_capacity(want.len());
            file.read_to_end(&mut got).expect("read a final file");
            assert!(
                got == want[..],
                "{name} is under its final name with wrong bytes (observation {}, seed {})",
                self.observations,
                self.seed
            );
            self.verified.insert(name, key);
        }
    }
}

/// The seed named by the environment variable `var`, else one from the
/// clock (never zero: xorshift would stay at zero).
pub(super) fn seed_from(var: &str) -> u64 {
    std::env::var(var)
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            let nanos = SystemTime::now()
                .duration_since(SystemTime::UNIX_EPOCH)
                .unwrap()
                .as_nanos();
            (nanos as u64) | 1
        })
}

#[test]
fn repeated_sigkill_never_leaves_a_broken_file() {
    let seed = seed_from("HAUL_CRASH_SEED");
    println!("crash test seed: {seed} (HAUL_CRASH_SEED={seed} replays it)");
    let mut rng = seed;

    // Every file is a slice of one random pool at its own offset and length.
    let pool = Bytes::from(pseudo_random(seed, 2 * MAX_LEN));
    let want: HashMap<String, Bytes> = (1..=FILES)
        .map(|i| {
            let len = MIN_LEN + (xorshift(&mut rng) as usize) % (MAX_LEN - MIN_LEN + 1);
            let off = (xorshift(&mut rng) as usize) % (pool.len() - len);
            (format!("f{i:03}.bin"), pool.slice(off..off + len))
        })
        .collect();
    let resources: HashMap<String, Resource> = want
        .iter()
        .map(|(name, body)| {
            let etag = format!("\"{}-{}\"", name, body.len());
            (format!("/{name}"), Resource::new(body.clone()).etag(&etag))
        })
        .collect();
    let server = server::http(move |req| {
        let res = match resources.get(req.uri().path()) {
            Some(resource) => resource.respond(
                req.headers(),
                Shape::Drip {
                    chunk: 64 * 1024,
                    every: Duration::from_millis(3),
                },
            ),
            None => server::status(hyper::StatusCode::NOT_FOUND),
        };
        async move { res }
    });
    let tmp = TempDir::new().unwrap();
    let out_dir = tmp.path().join("out");
    let pattern = server.url(&format!("/f[001-{FILES:03}].bin"));
    let mut observer = Observer::new(&want, seed);
    let started = Instant::now();

    for round in 0..KILLS {
        let delay = Duration::from_millis(50 + xorshift(&mut rng) % 351);
        let mut running = spawn(haul_in(tmp.path()).args([
            &pattern,
            "-j",
            "8",
            "--retry-wait",
            "10ms",
            "-d",
            "out",
        ]));
        while running.elapsed() < delay && !running.has_exited() {
            observer.observe(&out_dir);
            thread::sleep(Duration::from_millis(3));
        }
        let out = running.kill();
        observer.observe(&out_dir);
        println!(
            "round {round}: killed after {delay:?} ({}), {} of {FILES} files done",
            out.status,
            observer.verified.len()
        );
    }

    let mut running =
        spawn(haul_in(tmp.path()).args([&pattern, "-j", "8", "--retry-wait", "10ms", "-d", "out"]));
    while !running.has_exited() {
        assert!(
            running.elapsed() < Duration::from_secs(60),
            "the final run did not finish (seed {seed})"
        );
        observer.observe(&out_dir);
        thread::sleep(Duration::from_millis(3));
    }
    let out = running.wait(Duration::from_secs(60));
    observer.observe(&out_dir);
    out.assert_code(0);

    let mut names: Vec<String> = std::fs::read_dir(&out_dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    let mut expected_names: Vec<String> = want.keys().cloned().collect();
    expected_names.sort();
    assert_eq!(
        names, expected_names,
        "exactly the files, no .part left (seed {seed})"
    );
    assert_eq!(observer.verified.len(), FILES, "(seed {seed})");
    let ranged = server
        .requests()
        .iter()
        .filter(|r| r.header("range").is_some())
        .count();
    println!(
        "{} observations, {} requests ({ranged} with Range), {:?} in all",
        observer.observations,
        server.hits(),
        started.elapsed()
    );
}

/// The end of the last range a note claims: `Some(size-bound end)` for a
/// note with `size` (a `.part` written over several connections), `None`
/// for one written from zero (`ranges 0-`: it claims the file's length).
fn claimed_end(note: &str) -> Option<u64> {
    note.lines().find(|l| l.starts_with("size "))?;
    let ranges = note.lines().find_map(|l| l.strip_prefix("ranges "))?;
    ranges
        .split(',')
        .filter_map(|r| r.split_once('-')?.1.parse::<u64>().ok())
        .max()
        .map(|last| last + 1)
}

/// Damages what killed runs leave under `tmp`, the way a crash or another
/// tool could: one `.part` cut below what its note claims, the tail of one
/// `.part` whose list line has a digest zeroed (a length check cannot see
/// that; the digest must), a few bytes flipped in the second half of the
/// state log, and a stale `s.haul.compact` (a file in `round` 0, then a
/// symlink to `outside`). Returns what it did, for the log.
fn damage(
    tmp: &Path,
    rng: &mut u64,
    digests: &HashMap<String, bool>,
    outside: &Path,
    round: usize,
) -> Vec<String> {
    let mut done = Vec::new();
    let mut parts: Vec<_> = std::fs::read_dir(tmp.join("out"))
        .map(|d| {
            d.filter_map(Result::ok)
                .map(|e| e.path())
                .filter(|p| p.extension().is_some_and(|x| x == "part"))
                .collect()
        })
        .unwrap_or_default();
    parts.sort();
    // A `.part` whose note claims ranges is the one worth cutting.
    let claiming: Vec<_> = parts
        .iter()
        .filter(|p| {
            read_note(p)
                .and_then(|n| claimed_end(&n))
                .is_some_and(|e| e > 0)
        })
        .collect();
    let pick = match claiming.is_empty() {
        true => parts.iter().collect(),
        false => claiming,
    };
    if !pick.is_empty() {
        let part = pick[(xorshift(rng) as usize) % pick.len()];
        let len = std::fs::metadata(part).map_or(0, |m| m.len());
        let note = read_note(part).unwrap_or_default();
        let below = claimed_end(&note).unwrap_or(len).min(len);
        if below > 0 {
            let to = xorshift(rng) % below;
            let file = std::fs::OpenOptions::new().write(true).open(part).unwrap();
            file.set_len(to).unwrap();
            done.push(format!(
                "cut {} from {len} to {to} (note: {note:?})",
                part.display()
            ));
        }
    }
    let with_digest: Vec<_> = parts
        .iter()
        .filter(|p| {
            let name = p.file_name().unwrap().to_string_lossy();
            digests.get(name.trim_end_matches(".part")) == Some(&true)
        })
        .collect();
    if !with_digest.is_empty() {
        let part = with_digest[(xorshift(rng) as usize) % with_digest.len()];
        let len = std::fs::metadata(part).map_or(0, |m| m.len());
        if len > 1 {
            use std::os::unix::fs::FileExt;
            let from = len / 2;
            let file = std::fs::OpenOptions::new().write(true).open(part).unwrap();
            file.write_all_at(&vec![0; (len - from) as usize], from)
                .unwrap();
            done.push(format!("zeroed {} from {from} to {len}", part.display()));
        }
    }
    let state = tmp.join("s.haul");
    if let Ok(mut log) = std::fs::read(&state)
        && log.len() > 256
    {
        let half = log.len() / 2;
        for _ in 0..3 {
            let at = half + (xorshift(rng) as usize) % (log.len() - half);
            log[at] ^= 1 << (xorshift(rng) % 8);
            done.push(format!("flipped a bit at {at} of {} in s.haul", log.len()));
        }
        std::fs::write(&state, &log).unwrap();
    }
    let compact = tmp.join("s.haul.compact");
    let _ = std::fs::remove_file(&compact);
    if round == 0 {
        std::fs::write(&compact, b"stale compaction left by a crash").unwrap();
        done.push("a stale s.haul.compact file".into());
    } else {
        std::os::unix::fs::symlink(outside, &compact).unwrap();
        done.push("s.haul.compact a symlink leading out".into());
    }
    done
}

/// With `--state`: runs killed at random moments (some with `--split`),
/// and between them damage (see [`damage`]) of what they leave. Every
/// file under a final name is exact whenever looked at; every `ok` record,
/// and every `skipped` one with a sha256, is true of the disk when its run
/// ends; the file outside that `s.haul.compact` leads to is never written;
/// a clean run exits 0 with exactly the files.
#[test]
fn damage_between_killed_runs_never_yields_a_wrong_file() {
    const ROUNDS: usize = 6;
    let seed = seed_from("HAUL_DAMAGE_SEED");
    println!("damage test seed: {seed} (HAUL_DAMAGE_SEED={seed} replays it)");
    let mut rng = seed;
    let pool = Bytes::from(pseudo_random(seed, 3 << 20));
    let mut want = HashMap::new();
    let mut digests = HashMap::new();
    let mut resources = HashMap::new();
    for i in 0..24 {
        let name = format!("d{i:02}.bin");
        let len = (100 << 10) + (xorshift(&mut rng) as usize) % (924 << 10);
        let off = (xorshift(&mut rng) as usize) % (pool.len() - len);
        let body = pool.slice(off..off + len);
        let etag = format!("\"{name}-{len}\"");
        resources.insert(format!("/{name}"), Resource::new(body.clone()).etag(&etag));
        digests.insert(name.clone(), xorshift(&mut rng).is_multiple_of(2));
        want.insert(name, body);
    }
    let server = server::http(move |req| {
        let res = match resources.get(req.uri().path()) {
            Some(resource) => resource.respond(
                req.headers(),
                Shape::Drip {
                    chunk: 32 * 1024,
                    every: Duration::from_millis(40),
                },
            ),
            None => server::status(hyper::StatusCode::NOT_FOUND),
        };
        async move { res }
    });
    let tmp = TempDir::new().unwrap();
    // Without user xattrs there are no notes: the rest is still damaged.
    require::xattrs(tmp.path(), "damage to resume notes");
    let mut names: Vec<_> = want.keys().cloned().collect();
    names.sort();
    let lines: Vec<String> = names
        .iter()
        .map(|name| {
            let url = server.url(&format!("/{name}"));
            match digests[name] {
                true => format!("{url} sha256={}", sha256_hex(&want[name])),
                false => url,
            }
        })
        .collect();
    write_list(tmp.path(), "urls.txt", &lines);
    let outside = TempDir::new().unwrap();
    let precious = outside.path().join("precious.txt");
    std::fs::write(&precious, b"not haul's\n").unwrap();
    let out_dir = tmp.path().join("out");
    let mut observer = Observer::new(&want, seed);
    let base = [
        "-i", "urls.txt", "-d", "out", "--state", "s.haul", "-j", "6",
    ];

    for round in 0..ROUNDS {
        let report = format!("r{round}.jsonl");
        let mut cmd = haul_in(tmp.path());
        cmd.args(base)
            .args(["--report", &report, "--retry-wait", "10ms"]);
        if round % 2 == 0 {
            cmd.args(["--split", "4", "--min-split-size", "64K"]);
        }
        let delay = Duration::from_millis(400 + xorshift(&mut rng) % 1801);
        let mut running = spawn(&mut cmd);
        while running.elapsed() < delay && !running.has_exited() {
            observer.observe(&out_dir);
            thread::sleep(Duration::from_millis(3));
        }
        let out = running.kill();
        observer.observe(&out_dir);
        assert!(
            !out.stderr.contains("panicked"),
            "round {round} (seed {seed})\n{out}"
        );
        assert_records_true(
            tmp.path(),
            &report_lines(&tmp.path().join(&report)),
            &format!("round {round}'s report (seed {seed})"),
        );
        let did = damage(tmp.path(), &mut rng, &digests, &precious, round);
        println!(
            "round {round}: killed after {delay:?} ({}); then {did:#?}",
            out.status
        );
        assert_eq!(
            std::fs::read(&precious).unwrap(),
            b"not haul's\n",
            "written through s.haul.compact (seed {seed})"
        );
    }

    let mut last = spawn(haul_in(tmp.path()).args(base).args([
        "--report",
        "last.jsonl",
        "--retry-wait",
        "10ms",
    ]));
    while !last.has_exited() {
        assert!(
            last.elapsed() < Duration::from_secs(60),
            "the clean run did not finish (seed {seed})"
        );
        observer.observe(&out_dir);
        thread::sleep(Duration::from_millis(3));
    }
    let last = last.wait(Duration::from_secs(60));
    observer.observe(&out_dir);
    assert_eq!(last.code(), Some(0), "the clean run (seed {seed})\n{last}");
    assert_records_true(
        tmp.path(),
        &report_lines(&tmp.path().join("last.jsonl")),
        &format!("the clean run's report (seed {seed})"),
    );
    assert_out_holds(tmp.path(), names.iter().map(|n| (n.as_str(), &want[n][..])));
    assert_eq!(
        std::fs::read(&precious).unwrap(),
        b"not haul's\n",
        "written through s.haul.compact (seed {seed})"
    );
    run(haul_in(tmp.path()).args(["--state", "s.haul", "--list"])).assert_code(0);
}
