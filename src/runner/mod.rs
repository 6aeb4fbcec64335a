//! A session, in three steps: [`start`] (what the session holds, the
//! transfer threads, the planner thread), [`drive`] (pulls planned jobs in
//! batches and starts what may start, as the scheduler allows: `-j`,
//! `--per-host`, `--rate`, looking ahead past jobs whose host is busy;
//! parks failed attempts until their retry time; feeds every outcome to the
//! sink) and [`shutdown`]. It owns stopping: `--fail-fast`/`--max-failures`,
//! a disk that fails every write, the run budgets (`--deadline`,
//! `--max-bytes`) and the `stop` future it is given (`main.rs` turns
//! SIGINT/SIGTERM into it; a test can use a timer) stop new downloads and
//! cancel the ones in flight, which flush what they received to their
//! `.part` for a later resume. What runs next is `scheduler.rs`'s; it does
//! not speak HTTP (`fetch/`), decide retries (`retry.rs`) or read inputs
//! (`plan.rs`).
//!
//! - `open.rs`: what a session opens first (locks, `--dir`, the claims),
//!   for a run and a dry run alike.
//! - `feed.rs`: the planner's thread and the batches it hands over.
//! - `sink.rs`: where outcomes go (summary, report, failure lines) and the
//!   early stops they bring.
//! - `dry_run.rs`: `--dry-run`, the plan printed instead of fetched.
//! - `stream.rs`: `-o -`, every file to stdout in input order.

mod dry_run;
mod feed;
mod open;
mod sink;
mod stream;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;
use std::time::{Duration, Instant, SystemTime};

use anyhow::{Result, anyhow};
use tokio::sync::mpsc;
use tokio::time::sleep_until;
use tokio_util::sync::CancellationToken;

use crate::annotate::{Annotations, END_GROUP, GROUP};
use crate::config::{Config, Stops};
use crate::cookies::Jar;
use crate::error::FailureKind;
use crate::fetch::{Step, Task, fetch_manifests};
use crate::limit::{ByteBudget, ByteRate};
use crate::outcome::Failure;
use crate::plan::Planner;
use crate::progress::Progress;
use crate::redact::masked;
use crate::report::{Interrupt, Summary};
use crate::scheduler::{Next, Scheduler};
use crate::session::{self, Ctx, MoreConnections, Shared};
use crate::settings::{Deadline, ProgressMode};
use crate::slots::Slots;
use crate::workers;

pub(crate) use self::dry_run::dry_run;
use self::feed::{Batch, not_started, spawn_planner};
use self::open::Opened;
use self::sink::{Sink, Stop};

/// Runs a whole download session: [`start`], [`drive`] until the input is
/// done or `stop` (a signal, turned into an [`Interrupt`] by `main.rs`; a
/// test's timer) or a stop condition ends it, then [`shutdown`].
pub(crate) async fn run(
    config: Config,
    progress: &mut Progress,
    stop: impl Future<Output = Interrupt>,
) -> Result<Summary> {
    let started = Instant::now();
    let mut run = start(config, progress).await?;
    if run.sink.grouped {
        progress.println(GROUP);
    }
    progress.start();
    drive(&mut run, progress, stop).await;
    Ok(shutdown(run, progress, started).await)
}

/// A session under way: the scheduler, where outcomes go, and the planned
/// jobs not yet started.
struct Run {
    /// `-q`: no summary line.
    quiet: bool,
    sched: Scheduler,
    sink: Sink,
    planned: mpsc::Receiver<Batch>,
    /// `--split`: files that ask for more connections, as they ask.
    split_rx: Option<mpsc::UnboundedReceiver<Arc<dyn MoreConnections>>>,
    /// The planner may still send jobs.
    input_open: bool,
    /// Stops the attempts in flight (they keep their `.part`).
    cancel: CancellationToken,
    /// `--max-bytes`, counted by the downloads.
    budget: Option<Arc<ByteBudget>>,
    /// `--deadline`.
    deadline: Option<Instant>,
    /// `-o -`: resolves when stdout cannot be written.
    output: Option<tokio::sync::oneshot::Receiver<std::io::Error>>,
    /// `-c`: where the cookies go when the run ends.
    cookie_jar: Option<(PathBuf, Arc<Jar>)>,
}

impl Run {
    /// Starts what may start now: retries whose time has come, then planned
    /// downloads while there is room (the first one, or with --per-host or
    /// --rate the first whose host has room). Nothing starts once the run
    /// is stopping.
    fn start_ready(&mut self, progress: &Progress) {
        let Run {
            sched,
            sink,
            deadline,
            planned,
            ..
        } = self;
        // Checked here as well as waited for in `drive`: a timer may fire a
        // little late, and nothing may start once the time is up.
        if sink.stop.is_none() && deadline.is_some_and(|d| Instant::now() >= d) {
            sink.stop = Some(Stop::Budget("--deadline"));
        }
        if sink.stop.is_some() {
            return;
        }
        sched.launch_blocked();
        sched.launch_due();
        while sink.stop.is_none() {
            match sched.start_next() {
                Next::Started => {}
                Next::Decided(outcome) => sink.record(outcome, progress),
                Next::Nothing => break,
            }
        }
        sched.top_up(!planned.is_empty());
    }

    /// Nothing is left: the input is done and no download runs or waits.
    fn is_done(&self) -> bool {
        !self.input_open && self.sched.is_idle()
    }
}

/// Opens what the session holds (`open.rs`), starts the transfer threads,
/// fetches the `--checksums` URLs, and starts the planner thread; each part
/// gets its own group of the settings.
async fn start(config: Config, progress: &Progress) -> Result<Run> {
    let Opened {
        out,
        mut stream,
        claims,
        state,
        report,
    } = Opened::for_run(&config)?;
    if !config.display.quiet {
        say_warnings(&config, state.as_deref(), progress);
    }
    let cookie_jar = config
        .own
        .cookie_jar
        .clone()
        .zip(config.downloads.http.cookies.clone());
    let Config {
        mut plan,
        downloads,
        pace,
        stops,
        display,
        ..
    } = config;
    let cancel = CancellationToken::new();
    let sidecar = downloads.sidecar.is_some();
    let budget = stops.max_bytes.map(|n| Arc::new(ByteBudget::new(n)));
    let jobs = pace.jobs.get();
    let threads = workers::count(jobs);
    let (split_tx, split_rx) = match downloads.split {
        Some(_) => {
            let (tx, rx) = mpsc::unbounded_channel();
            (Some(tx), Some(rx))
        }
        None => (None, None),
    };
    let make_ctx = {
        let settings = Arc::new(downloads);
        let run = session::Run {
            out: out.clone(),
            claims: claims.clone(),
            progress: progress.handle(),
            cancel: cancel.clone(),
            shared: Shared {
                limit: pace.limit_rate.map(|rate| Arc::new(ByteRate::new(rate))),
                budget: budget.clone(),
                state: state.clone(),
                splits: split_tx,
            },
        };
        // Each thread's connections are its own.
        let idle_per_host = jobs.div_ceil(threads);
        move || Ctx::new(settings.clone(), run.clone(), idle_per_host)
    };
    if !plan.checksum_urls.is_empty() {
        // Before any plan: every download may need them.
        fetch_manifests(&make_ctx()?, &plan.checksum_urls, &mut plan.checksums).await?;
    }
    let expects_digests = !plan.checksums.is_empty() || sidecar;
    let workers = workers::start(threads, make_ctx)?;
    let planned = spawn_planner(Planner::new(plan, out, claims, state), progress)?;
    let output = stream.as_mut().and_then(stream::Stream::take_failure);
    Ok(Run {
        quiet: display.quiet,
        sched: Scheduler::new(
            Slots::new(jobs, pace.per_host.map(|n| n.get()), pace.rate),
            workers,
        ),
        sink: Sink {
            summary: Summary {
                expects_digests,
                ..Summary::default()
            },
            annotations: display.github_actions.then(Annotations::default),
            grouped: display.github_actions && display.progress == ProgressMode::Log,
            retries: HashMap::new(),
            moved_on: HashMap::new(),
            descriptors_said: false,
            report,
            max_failures: stops.max_failures.map(|n| n.get() as u64),
            stop: None,
            stream,
        },
        planned,
        split_rx,
        input_open: true,
        cancel,
        budget,
        deadline: deadline(&stops),
        output,
        cookie_jar,
    })
}

/// What a run says before it starts: a damaged `--state`, `-k`, and the
/// flags' own warnings.
fn say_warnings(config: &Config, state: Option<&crate::state::State>, progress: &Progress) {
    let damage = state.and_then(|s| s.damage());
    let insecure = config
        .downloads
        .http
        .insecure
        .then(|| "TLS certificates are not verified (-k/--insecure)".to_string());
    for warning in damage
        .into_iter()
        .chain(insecure)
        .chain(config.display.warnings.iter().cloned())
    {
        progress.println(&format!("haul: warning: {warning}"));
    }
}

/// When `--deadline` stops the run, as an instant.
fn deadline(stops: &Stops) -> Option<Instant> {
    stops.deadline.and_then(|d| match d {
        // `cli/values.rs` bounds both to 100 years; past the clock's range
        // (never in practice) there is no deadline to keep.
        Deadline::After(after) => Instant::now().checked_add(after),
        // A time already past stops the run at once.
        Deadline::At(at) => {
            Instant::now().checked_add(at.duration_since(SystemTime::now()).unwrap_or_default())
        }
    })
}

/// The scheduling loop: retries whose time has come first, then new work
/// while there is room; then waits for a download to end, a retry's time,
/// the next batch of jobs, or `stop`.
async fn drive(run: &mut Run, progress: &Progress, stop: impl Future<Output = Interrupt>) {
    tokio::pin!(stop);
    loop {
        run.start_ready(progress);
        if run.sink.stop.is_some() || run.is_done() {
            return;
        }
        let Run {
            sched,
            sink,
            planned,
            input_open,
            budget,
            deadline,
            split_rx,
            output,
            ..
        } = run;
        let spent = async {
            match budget {
                Some(budget) => budget.spent().await,
                None => std::future::pending().await,
            }
        };
        let next_wake = sched.next_wake();
        let output_failed = async {
            match output {
                Some(rx) => match rx.await {
                    Ok(err) => err,
                    // The writer ended without failing.
                    Err(_) => std::future::pending().await,
                },
                None => std::future::pending().await,
            }
        };
        let room = sink.stream.as_ref().is_none_or(|s| s.has_room());
        // `-o -` without room: the writer's next file may make some.
        let wrote = sink.stream.as_ref().map(stream::Stream::wrote);
        let written = async {
            match &wrote {
                Some(wrote) => wrote.notified().await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            biased;
            signal = &mut stop => sink.stop = Some(Stop::Signal(signal)),
            err = output_failed => sink.stop = Some(Stop::Output(err)),
            () = written, if !room => {}
            () = sleep_until(deadline.unwrap_or_else(Instant::now).into()), if deadline.is_some() => {
                sink.stop = Some(Stop::Budget("--deadline"));
            }
            () = spent => sink.stop = Some(Stop::Budget("--max-bytes")),
            Some(step) = sched.next_step(), if sched.is_running() => {
                match step {
                    Step::Finished(outcome) => sink.record(outcome, progress),
                    Step::Connection => {}
                    Step::Retry { task, resend: true, error, .. } => {
                        // Not a failure of the URL's (a GOAWAY, a refused
                        // stream): no warning, no wait.
                        tracing::debug!(
                            "{}: the server did not process the request ({error:#}); sending it again",
                            masked(&task.job.url)
                        );
                        sched.retry_later(task, Duration::ZERO, false);
                    }
                    Step::Retry { task, wait, pause_host, slow_down, error, resend: false } => {
                        retry_later(sched, sink, task, wait, pause_host, slow_down, &error);
                    }
                    Step::NextUrl { task, failed, error } => {
                        tracing::info!(
                            "{}: {error:#}; trying {} next",
                            masked(&failed),
                            masked(&task.job.url)
                        );
                        sink.note_moved_on(&failed, &error);
                        sched.retry_later(task, Duration::ZERO, false);
                    }
                }
            }
            Some(split) = recv_split(split_rx) => sched.wants_connections(split),
            () = sleep_until(next_wake.unwrap_or_else(Instant::now).into()),
                if next_wake.is_some() && sched.has_room() => sched.launch_due(),
            // More jobs when there is room and nothing planned can start.
            batch = planned.recv(), if *input_open && sched.wants_more() && room => {
                match batch {
                    Some(batch) => {
                        if let (Some(stream), Some(last)) = (&mut sink.stream, batch.last()) {
                            stream.planned(last.seq());
                        }
                        sched.plan(batch);
                    }
                    None => *input_open = false,
                }
            }
        }
    }
}

/// A failed attempt waits for its retry: said (every attempt at -v; by
/// default a line per host at its 1st, 10th, 100th... retry), counted,
/// and parked in the scheduler, which slows its host down when the server
/// asked for that and starts fewer at once when descriptors ran out.
fn retry_later(
    sched: &mut Scheduler,
    sink: &mut Sink,
    task: Task,
    wait: Duration,
    pause_host: bool,
    slow_down: bool,
    error: &anyhow::Error,
) {
    let short_of_descriptors = FailureKind::out_of_descriptors(error);
    if short_of_descriptors {
        tracing::debug!(
            "{}: no file descriptor; waiting {:.1}s",
            masked(&task.job.url),
            wait.as_secs_f64()
        );
    } else {
        tracing::info!(
            "{}: attempt {} failed: {error:#}; retrying in {:.1}s",
            masked(&task.job.url),
            task.attempts,
            wait.as_secs_f64()
        );
    }
    sink.note_retry(&task, error);
    if short_of_descriptors {
        sched.short_of_descriptors(Instant::now());
    }
    if slow_down {
        sched.slow_down(&task.job.url, Instant::now());
    }
    sched.retry_later(task, wait, pause_host);
}

/// The next file asking for connections (never, without `--split`).
async fn recv_split(
    rx: &mut Option<mpsc::UnboundedReceiver<Arc<dyn MoreConnections>>>,
) -> Option<Arc<dyn MoreConnections>> {
    match rx {
        Some(rx) => rx.recv().await,
        None => std::future::pending().await,
    }
}

/// Stops whatever still runs (attempts in flight flush what they received
/// to their `.part` and return; the planner thread ends when its channel
/// closes), records what never finished, writes the `-c` cookie jar (once
/// no request is left to set a cookie) and prints the summary.
async fn shutdown(run: Run, progress: &mut Progress, started: Instant) -> Summary {
    let done = run.is_done();
    let Run {
        quiet,
        mut sched,
        mut sink,
        mut planned,
        input_open,
        cancel,
        mut output,
        cookie_jar,
        ..
    } = run;
    match &sink.stop {
        Some(Stop::Signal(signal)) => sink.summary.interrupted = Some(*signal),
        Some(Stop::Budget(flag)) => {
            sink.summary.budget = Some(flag);
            let line = not_started(flag, sched.not_started(), &mut planned, input_open).await;
            progress.println(&line);
        }
        Some(Stop::Output(err)) if err.kind() == std::io::ErrorKind::BrokenPipe => {
            sink.summary.output_closed = true;
        }
        Some(Stop::Output(err)) => {
            progress.println(&format!(
                "haul: error: cannot write to stdout: {err}; stopping"
            ));
            sink.summary.output_failed = true;
        }
        Some(stop) => {
            sink.summary.stopped_early = !done;
            if let Stop::Storage(message) = stop {
                progress.println(&format!("haul: error: {message}; stopping"));
            }
        }
        None => {}
    }
    drop(planned);
    cancel.cancel();
    let drain = async {
        while let Some(step) = sched.next_step().await {
            if let Step::Finished(outcome) = step {
                sink.record(outcome, progress);
            }
        }
    };
    if tokio::time::timeout(DRAIN_TIMEOUT, drain).await.is_err() {
        sched.abort_all();
    }
    for task in sched.take_waiting() {
        let outcome = task.into_outcome(Failure::new(
            FailureKind::Cancelled,
            None,
            anyhow!("interrupted while waiting to retry"),
        ));
        sink.record(outcome, progress);
    }
    sink.record_rest(progress);
    if let Some(stream) = sink.stream.take() {
        stream.close();
    }
    if let Some(err) = output.as_mut().and_then(|rx| rx.try_recv().ok()) {
        // The writer failed after the last outcome was heard.
        match err.kind() {
            std::io::ErrorKind::BrokenPipe => sink.summary.output_closed = true,
            _ => {
                progress.println(&format!("haul: error: cannot write to stdout: {err}"));
                sink.summary.output_failed = true;
            }
        }
    }
    let cookie_jar_unsaved = cookie_jar.is_some_and(|(path, jar)| match jar.save(&path) {
        Ok(()) => false,
        Err(err) => {
            progress.println(&format!("haul: error: {err:#}"));
            true
        }
    });
    progress.finish();
    let mut summary = sink.summary;
    summary.cookie_jar_unsaved = cookie_jar_unsaved;
    summary.elapsed = started.elapsed();
    summary.bytes = progress.stats().bytes.load(Relaxed);
    if sink.grouped {
        progress.println(END_GROUP);
    }
    if let Some(more) = sink.annotations.as_ref().and_then(Annotations::more) {
        progress.println(&more);
    }
    // The reader went away: ended quietly, as a pipe's writer is.
    if !quiet && !summary.output_closed {
        progress.println(&summary.line());
    }
    summary
}

/// How long stopped downloads get to flush their `.part` files.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(5);
