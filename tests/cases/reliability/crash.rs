//! Crash safety: haul is killed with SIGKILL at random moments while it
//! fetches a few hundred files, and restarted each time. Throughout, every
//! file under a final name (anything not ending in `.part`) must be whole and
//! byte-exact; the last run completes with exit 0 and leaves no `.part`.
//!
//! The moments come from a xorshift seeded from the clock; the seed is
//! printed, and `HAUL_CRASH_SEED=N` replays it.
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

use crate::support::server::{self, Resource, Shape};
use crate::support::{haul_in, pseudo_random, spawn};

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
