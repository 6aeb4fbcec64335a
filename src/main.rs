use std::process::ExitCode;

use clap::Parser;
use haul::{Cli, Config, Progress};

fn main() -> ExitCode {
    let cli = Cli::parse();
    let config = match Config::from_cli(cli) {
        Ok(config) => config,
        Err(err) => {
            eprintln!("haul: error: {err:#}");
            return ExitCode::from(2);
        }
    };
    let progress = Progress::new(config.progress, config.color);
    haul::logging::init(config.verbose, config.quiet, progress.log_writer());
    // A current-thread runtime: it runs the scheduler and its share of the
    // downloads; `workers.rs` adds one such runtime per further core.
    // tokio's work-stealing runtime costs more CPU in cross-thread
    // wake-ups than it saves (BENCHMARKS.md).
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("haul: error: cannot start the async runtime: {err}");
            return ExitCode::from(2);
        }
    };
    match runtime.block_on(haul::run(config, progress)) {
        Ok(summary) => summary.exit_code(),
        Err(err) => {
            eprintln!("haul: error: {err:#}");
            ExitCode::from(2)
        }
    }
}
