//! `--state` at scale: how long a state file of N entries takes to open,
//! how much resident memory its index adds, and how long recording a run's
//! changes and opening the result take.
//!
//!     cargo run --release --example state_bench -- [N] [CHANGES] [DIR]
//!
//! Defaults: 1,000,000 entries, 10,000 changes, a temporary folder (give
//! DIR to measure a disk rather than tmpfs). Prints one line per step.

use std::time::Instant;

fn rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

fn main() -> Result<(), String> {
    let mut args = std::env::args().skip(1);
    let n: u64 = args
        .next()
        .map_or(Ok(1_000_000), |a| a.parse())
        .map_err(|e| format!("{e}"))?;
    let changes: u64 = args
        .next()
        .map_or(Ok(10_000), |a| a.parse())
        .map_err(|e| format!("{e}"))?;
    let dir = match args.next() {
        Some(dir) => std::path::PathBuf::from(dir),
        None => std::env::temp_dir().join(format!("haul-state-bench-{}", std::process::id())),
    };
    std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    let path = dir.join("bench.state");
    let _ = std::fs::remove_file(&path);

    let t = Instant::now();
    haul::testing::state_fill(&path, 0, n, 1)?;
    let size = std::fs::metadata(&path).map_err(|e| e.to_string())?.len();
    println!(
        "write {n} entries: {:.2} s, file {:.1} MiB",
        t.elapsed().as_secs_f64(),
        size as f64 / 1048576.0
    );

    let before = rss_kib();
    let t = Instant::now();
    let (count, held) = haul::testing::state_open(&path)?;
    let open = t.elapsed();
    let grown = rss_kib().saturating_sub(before);
    println!(
        "open {count} entries: {:.3} s; resident memory {:.1} bytes per entry",
        open.as_secs_f64(),
        grown as f64 * 1024.0 / count as f64
    );
    drop(held);

    let t = Instant::now();
    haul::testing::state_fill(&path, 0, changes, 2)?;
    let (count, _held) = haul::testing::state_open(&path)?;
    println!(
        "record {changes} changes and open again ({count} entries): {:.3} s",
        t.elapsed().as_secs_f64()
    );
    let _ = std::fs::remove_file(&path);
    Ok(())
}
