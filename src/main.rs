#![forbid(unsafe_code)]

use std::future::{Future, pending};
use std::pin::Pin;
use std::process::ExitCode;

use anyhow::Context;
use clap::Parser;
use haul::{Cli, Config, Display, Interrupt, Mode, Progress, WithConfig};
use tokio::signal::unix::{SignalKind, signal};

/// The static (musl) build uses mimalloc: musl's allocator costs 1.4x the
/// time on many small files (BENCHMARKS.md, "The static (musl) release
/// binary").
#[cfg(target_env = "musl")]
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    // The config file's flags go first, so that the command line's win.
    let WithConfig { args, warnings } = match haul::args_with_config(
        std::env::args_os().collect(),
        |name| std::env::var_os(name),
    ) {
        Ok(with) => with,
        Err(err) => {
            eprintln!("haul: error: {}", haul::mask_secrets(&format!("{err:#}")));
            return ExitCode::from(2);
        }
    };
    let cli = Cli::parse_from(args);
    if let Some(text) = cli.generated() {
        // --completions or --man: print and exit, nothing else runs.
        return match std::io::Write::write_all(&mut std::io::stdout(), &text) {
            Ok(()) => ExitCode::SUCCESS,
            Err(_) => ExitCode::from(2),
        };
    }
    // More descriptors for more downloads at once, before anything opens
    // one; -j is then fitted to what there is.
    let open_files = Config::raise_open_files_limit();
    let mut config = match Config::from_cli_with_open_files(cli, open_files) {
        Ok(config) => config,
        Err(err) => {
            eprintln!("haul: error: {}", haul::mask_secrets(&format!("{err:#}")));
            return ExitCode::from(2);
        }
    };
    config.display.warnings.splice(0..0, warnings);
    let Display {
        progress,
        color,
        verbose,
        quiet,
        ..
    } = config.display;
    let progress = Progress::new(progress, color);
    haul::logging::init(verbose, quiet, progress.log_writer());
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
    let dry_run = config.mode == Mode::DryRun;
    let run = async {
        // A dry run only prints: Ctrl-C ends it the usual way.
        let stop = if dry_run {
            Box::pin(pending())
        } else {
            stop_on_signals()?
        };
        haul::run(config, progress, stop).await
    };
    let ran = runtime.block_on(run);
    // Every download has ended and said so; what may still run on the
    // blocking pool is a `--split` file's periodic sync, whose note is
    // moot once its download closed it. Exit without waiting for it.
    runtime.shutdown_background();
    match ran {
        Ok(summary) => summary.exit_code(),
        Err(err) => {
            eprintln!("haul: error: {}", haul::mask_secrets(&format!("{err:#}")));
            ExitCode::from(2)
        }
    }
}

/// SIGINT or SIGTERM becomes the run's stop (downloads in flight keep their
/// `.part`, exit 130 or 143); a second SIGINT exits at once, since the run
/// is then only waiting for downloads to flush.
fn stop_on_signals() -> anyhow::Result<Pin<Box<dyn Future<Output = Interrupt>>>> {
    let mut sigint = signal(SignalKind::interrupt()).context("cannot listen for SIGINT")?;
    let mut sigterm = signal(SignalKind::terminate()).context("cannot listen for SIGTERM")?;
    Ok(Box::pin(async move {
        let first = tokio::select! {
            _ = sigint.recv() => Interrupt::Sigint,
            _ = sigterm.recv() => Interrupt::Sigterm,
        };
        tokio::spawn(async move {
            sigint.recv().await;
            std::process::exit(130);
        });
        first
    }))
}
