//! The scheduler: pulls planned jobs from the planner thread only while
//! fewer than `--jobs` downloads are in flight, runs each on its own task
//! in a `JoinSet`, and feeds every outcome to the summary, the report and
//! the failure lines. It also owns stopping: `--fail-fast`/`--max-failures`
//! and SIGINT/SIGTERM stop new downloads and abort the ones in flight
//! (their `.part` files stay for a later resume). It does not know HTTP
//! (that is `fetch.rs`) or how inputs are read (that is `plan.rs`).

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow};
use tokio::signal::unix::{SignalKind, signal};
use tokio::sync::mpsc;
use tokio::task::JoinSet;

use crate::config::{Config, HttpConfig};
use crate::fetch::{Ctx, fetch};
use crate::plan::{Job, Planned, Planner, Rejected};
use crate::progress::Progress;
use crate::report::{Done, Failure, Interrupt, Outcome, Report, Summary};

/// How far the planner may run ahead of the downloads. Bounded, so a
/// list of ten million lines is never held in memory.
const PLAN_AHEAD: usize = 1024;

pub(crate) async fn run(config: Arc<Config>, progress: &mut Progress) -> Result<Summary> {
    let started = Instant::now();
    std::fs::create_dir_all(&config.dir)
        .with_context(|| format!("cannot create output folder {}", config.dir.display()))?;
    let root = config
        .dir
        .canonicalize()
        .with_context(|| format!("cannot resolve output folder {}", config.dir.display()))?;
    let mut report = config.report.as_ref().map(Report::open).transpose()?;
    if config.http.insecure {
        progress.println("haul: warning: TLS certificates are not verified (-k/--insecure)");
    }
    let ctx = Arc::new(Ctx {
        client: build_client(&config.http, config.jobs.get())?,
        root,
        on_exists: config.on_exists,
        content_disposition: config.content_disposition,
        stall_timeout: config.http.stall_timeout,
        timeout: config.http.timeout,
        progress: progress.handle(),
    });

    let mut sigint = signal(SignalKind::interrupt()).context("cannot listen for SIGINT")?;
    let mut sigterm = signal(SignalKind::terminate()).context("cannot listen for SIGTERM")?;
    let mut planned = spawn_planner(config.clone(), progress)?;
    progress.start();

    let jobs = config.jobs.get();
    let mut set = JoinSet::new();
    // URL of each task in flight, to name it if the task panics.
    let mut in_flight: HashMap<tokio::task::Id, (String, std::path::PathBuf)> = HashMap::new();
    let mut summary = Summary::default();
    let mut input_open = true;

    let mut record = |outcome: Outcome, summary: &mut Summary, progress: &Progress| {
        summary.record(&outcome);
        progress.stats().finished.fetch_add(1, Relaxed);
        if let Some(line) = outcome.failure_line() {
            progress.println(&line);
            tracing::debug!("{:?}", outcome.result);
        } else if let Some(path) = &outcome.path {
            tracing::info!(
                "{} -> {}: {}",
                outcome.url,
                path.display(),
                describe(&outcome)
            );
        }
        if let Some(r) = &mut report
            && let Err(err) = r.write(&outcome)
        {
            progress.println(&format!("haul: error: {err:#}; no more report lines"));
            report = None;
        }
    };

    while input_open || !set.is_empty() {
        tokio::select! {
            biased;
            _ = sigint.recv() => {
                summary.interrupted = Some(Interrupt::Sigint);
                break;
            }
            _ = sigterm.recv() => {
                summary.interrupted = Some(Interrupt::Sigterm);
                break;
            }
            Some(joined) = set.join_next_with_id(), if !set.is_empty() => {
                let outcome = match joined {
                    Ok((id, outcome)) => {
                        in_flight.remove(&id);
                        outcome
                    }
                    Err(err) => {
                        let (url, path) = in_flight.remove(&err.id()).unwrap_or_default();
                        failed(url, Some(path), None, anyhow!("internal error: {err}"))
                    }
                };
                record(outcome, &mut summary, progress);
            }
            next = planned.recv(), if input_open && set.len() < jobs => match next {
                None => input_open = false,
                Some(Planned::Fetch(job)) => {
                    let entry = (job.url.to_string(), job.path.clone());
                    let id = set.spawn(fetch(ctx.clone(), job)).id();
                    in_flight.insert(id, entry);
                }
                Some(Planned::Skip(job)) => record(skipped(job), &mut summary, progress),
                Some(Planned::Rejected(rejected)) => {
                    record(rejected_outcome(rejected), &mut summary, progress);
                }
            },
        }
        if let Some(max) = config.max_failures
            && summary.failed >= max.get() as u64
            && (input_open || !set.is_empty())
        {
            summary.stopped_early = true;
            break;
        }
    }

    if summary.interrupted.is_some() {
        // A second Ctrl-C does not wait for anything.
        tokio::spawn(async move {
            sigint.recv().await;
            std::process::exit(130);
        });
    }
    // Stop whatever is still running; their `.part` files stay on disk.
    drop(planned);
    set.abort_all();
    while let Some(joined) = set.join_next().await {
        if let Ok(outcome) = joined {
            record(outcome, &mut summary, progress);
        }
    }
    progress.finish();
    summary.elapsed = started.elapsed();
    if !config.quiet {
        progress.println(&summary.line());
    }
    Ok(summary)
}

/// Runs the planner on a thread of its own (it reads files and stdin with
/// blocking calls) and hands its output over a bounded channel.
fn spawn_planner(config: Arc<Config>, progress: &Progress) -> Result<mpsc::Receiver<Planned>> {
    let (tx, rx) = mpsc::channel(PLAN_AHEAD);
    let stats = progress.stats().clone();
    std::thread::Builder::new()
        .name("haul-planner".into())
        .spawn(move || {
            for planned in Planner::new(config) {
                stats.planned.fetch_add(1, Relaxed);
                if tx.blocking_send(planned).is_err() {
                    return; // the runner stopped
                }
            }
            stats.planning_done.store(true, Relaxed);
        })
        .context("cannot start the planner thread")?;
    Ok(rx)
}

/// `--dry-run`: prints `URL -> PATH` for every planned download.
pub(crate) fn dry_run(config: Arc<Config>, progress: &Progress) -> Result<Summary> {
    use std::io::Write;
    let started = Instant::now();
    let mut summary = Summary::default();
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    let quiet = config.quiet;
    for planned in Planner::new(config) {
        let result = match planned {
            Planned::Fetch(job) => {
                summary.ok += 1;
                writeln!(out, "{} -> {}", job.url, job.path.display())
            }
            Planned::Skip(_) => {
                summary.skipped += 1;
                Ok(())
            }
            Planned::Rejected(rejected) => {
                let outcome = rejected_outcome(rejected);
                summary.record(&outcome);
                progress.println(&outcome.failure_line().unwrap_or_default());
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

fn build_client(http: &HttpConfig, jobs: usize) -> Result<reqwest::Client> {
    let max_redirects = http.max_redirects;
    let policy = reqwest::redirect::Policy::custom(move |attempt| {
        // `previous()` holds every URL requested so far, the first included.
        if attempt.previous().len() > max_redirects {
            attempt.error(format!(
                "more than {max_redirects} redirects (--max-redirects)"
            ))
        } else {
            attempt.follow()
        }
    });
    let mut headers = reqwest::header::HeaderMap::new();
    for (name, value) in &http.headers {
        headers.append(name.clone(), value.clone());
    }
    reqwest::Client::builder()
        .user_agent(&http.user_agent)
        .default_headers(headers)
        .connect_timeout(http.connect_timeout)
        .redirect(policy)
        .danger_accept_invalid_certs(http.insecure)
        .pool_max_idle_per_host(jobs)
        .pool_idle_timeout(Duration::from_secs(30))
        .tcp_nodelay(true)
        .build()
        .context("cannot build the HTTP client")
}

fn describe(outcome: &Outcome) -> String {
    match &outcome.result {
        Ok(Done::Saved { bytes, .. }) => format!(
            "{} in {:.2}s",
            indicatif::HumanBytes(*bytes),
            outcome.elapsed.as_secs_f64()
        ),
        Ok(Done::Skipped) => "skipped (exists)".into(),
        Ok(Done::NotModified { .. }) => "not modified".into(),
        Err(_) => "failed".into(),
    }
}

fn skipped(job: Job) -> Outcome {
    Outcome {
        url: job.url.to_string(),
        path: Some(job.path),
        origin: None,
        result: Ok(Done::Skipped),
        attempts: 0,
        elapsed: Duration::ZERO,
    }
}

fn rejected_outcome(r: Rejected) -> Outcome {
    let origin = (r.path.is_none()).then_some(r.origin);
    failed(r.url.unwrap_or_default(), r.path, origin, anyhow!(r.error))
}

fn failed(
    url: String,
    path: Option<std::path::PathBuf>,
    origin: Option<String>,
    error: anyhow::Error,
) -> Outcome {
    Outcome {
        url,
        path,
        origin,
        result: Err(Failure {
            http_status: None,
            bytes: 0,
            error,
        }),
        attempts: 0,
        elapsed: Duration::ZERO,
    }
}
