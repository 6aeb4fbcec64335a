//! haul: a bulk downloader. The pipeline, in data-flow order:
//! `cli` (flags) -> `config` (validated settings) -> `source` + `template`
//! (lazy URL stream) -> `plan` (jobs with safe destinations) -> `runner`
//! (bounded task set) -> `fetch` (one download) -> `report` (outcomes,
//! summary, exit code); `progress` and `logging` own stderr.

mod cli;
mod config;
mod fetch;
pub mod logging;
mod naming;
mod plan;
mod progress;
mod report;
mod runner;
mod source;
mod template;

use std::sync::Arc;

pub use cli::{Cli, OnExists, ProgressMode, Shard};
pub use config::{Config, Input, ReportTarget};
pub use progress::Progress;
pub use report::{Interrupt, Summary};

/// Runs a whole download session (or prints the plan with `--dry-run`).
/// Per-URL failures are counted in the [`Summary`]; an `Err` means the run
/// could not start or continue at all (an output folder that cannot be
/// created, a report file that cannot be opened).
pub async fn run(config: Config, mut progress: Progress) -> anyhow::Result<Summary> {
    let config = Arc::new(config);
    if config.dry_run {
        let progress = &progress;
        return tokio::task::block_in_place(|| runner::dry_run(config, progress));
    }
    runner::run(config, &mut progress).await
}
