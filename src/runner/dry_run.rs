//! `--dry-run`: the session opened as for a run but to look only
//! (`open.rs`), and the planner's output printed as `URL -> PATH` lines on
//! stdout instead of fetched (`URL -> -` under `-o -`). Nothing runs beside it, so the input is read
//! on the caller's thread.

use std::io::Write;
use std::time::Instant;

use anyhow::{Context, Result};

use super::open::Opened;
use crate::config::Config;
use crate::plan::{Planned, Planner};
use crate::progress::Progress;
use crate::redact::Masked;
use crate::report::Summary;

/// `--dry-run`: prints `URL -> PATH` for every planned download.
pub(crate) fn dry_run(config: Config, progress: &Progress) -> Result<Summary> {
    let started = Instant::now();
    let mut summary = Summary::default();
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    let quiet = config.display.quiet;
    // `-o -`: every file would go to stdout.
    let stdout = config.stream.is_some();
    let Opened {
        out: dir,
        claims,
        state,
        ..
    } = Opened::for_dry_run(&config)?;
    for planned in Planner::new(config.plan, dir, claims, state) {
        let result = match planned {
            Planned::Fetch(job) => {
                summary.ok += 1;
                let path = match stdout {
                    true => std::path::Path::new("-"),
                    false => &job.path,
                };
                let line = format!("{} -> {}", Masked(&job.url), path.display());
                writeln!(out, "{}", crate::redact::scrub(&line))
            }
            Planned::Done(outcome) => {
                summary.record(&outcome);
                if let Some(line) = outcome.failure_line() {
                    progress.println(&line);
                }
                Ok(())
            }
        };
        match result {
            Ok(()) => {}
            // `haul --dry-run ... | head` is not an error.
            Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => return Ok(summary),
            Err(e) => return Err(e).context("cannot write the plan to stdout"),
        }
    }
    match out.flush() {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => {
            return Err(e).context("cannot write the plan to stdout");
        }
        _ => {}
    }
    summary.elapsed = started.elapsed();
    if !quiet {
        progress.println(&format!(
            "dry run: {} to download, {} skipped (already there), {} failed",
            summary.ok, summary.skipped, summary.failed
        ));
    }
    Ok(summary)
}
