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
    // One thread drives every transfer: a download is mostly waiting, and
    // on a few cores the work-stealing scheduler's cross-thread wake-ups
    // cost more CPU than they save (BENCHMARKS.md: about a third of the
    // CPU on 10,000 small files). Disk writes of any size that matters go
    // to the blocking pool, and the input is read on a thread of its own.
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
