//! A session, in three steps: [`start`] (the output folder, the report,
//! the transfer threads, the planner thread), [`drive`] (pulls planned jobs
//! in batches and starts what may start, as the slot accounting allows:
//! `-j`, `--per-host`, `--rate`, looking ahead past jobs whose host is
//! busy; parks failed attempts until their retry time; feeds every outcome
//! to the summary, the report and the failure lines) and [`shutdown`]. It
//! owns stopping: `--fail-fast`/`--max-failures`, a disk that fails every
//! write, the run budgets (`--deadline`, `--max-bytes`) and the `stop`
//! future it is given (`main.rs` turns SIGINT/SIGTERM into it; a test can
//! use a timer) stop new downloads and cancel the ones in flight, which
//! flush what they received to their `.part` for a later resume. What runs
//! is `scheduler.rs`'s; it does not speak HTTP (`http.rs`, `fetch/`),
//! decide retries (`retry.rs`) or read inputs (`plan.rs`).

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;
use std::time::{Duration, Instant, SystemTime};

use anyhow::{Context, Result, anyhow};
use tokio::sync::mpsc;
use tokio::time::sleep_until;
use tokio_util::sync::CancellationToken;

use crate::annotate::{Annotations, END_GROUP, GROUP};
use crate::claims::Claims;
use crate::config::Config;
use crate::error::FailureKind;
use crate::fetch::{Step, Task};
use crate::limit::{ByteBudget, ByteRate};
use crate::outcome::{Done, Failure, Outcome};
use crate::outdir::OutDir;
use crate::plan::{Planned, Planner};
use crate::progress::Progress;
use crate::redact::masked;
use crate::report::{Held, Interrupt, Report, Summary};
use crate::scheduler::Scheduler;
use crate::session::{self, Ctx, MoreConnections, Shared};
use crate::settings::{Deadline, ProgressMode};
use crate::slots::Slots;
use crate::state::{State, unix_now};
use crate::workers;

/// How far the planner may run ahead of the downloads. Bounded, so a
/// list of ten million lines is never held in memory.
const PLAN_AHEAD: usize = 1024;
/// With `--per-host`, how many planned downloads may wait for their host
/// while others start (memory: one `Job` each).
const LOOK_AHEAD: usize = 1024;
/// Planned jobs travel in batches: one thread wake-up per batch instead of
/// one per URL.
const BATCH: usize = 64;
type Batch = Vec<Planned>;

/// Runs a whole download session: [`start`], [`drive`] until the input is
/// done or `stop` (a signal, turned into an [`Interrupt`] by `main.rs`; a
/// test's timer) or a stop condition ends it, then [`shutdown`].
pub(crate) async fn run(
    config: Arc<Config>,
    progress: &mut Progress,
    stop: impl Future<Output = Interrupt>,
) -> Result<Summary> {
    let started = Instant::now();
    let mut run = start(config, progress)?;
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
    config: Arc<Config>,
    sched: Scheduler,
    sink: Sink,
    planned: mpsc::Receiver<Batch>,
    /// Jobs received from the planner, not yet started.
    pending: VecDeque<Planned>,
    /// `--split`: files that ask for more connections, as they ask...
    split_rx: Option<mpsc::UnboundedReceiver<Arc<dyn MoreConnections>>>,
    /// ...and those still asking.
    splits: Vec<Arc<dyn MoreConnections>>,
    /// The planner may still send jobs.
    input_open: bool,
    /// Stops the attempts in flight (they keep their `.part`).
    cancel: CancellationToken,
    /// `--max-bytes`, counted by the downloads.
    budget: Option<Arc<ByteBudget>>,
    /// `--deadline`.
    deadline: Option<Instant>,
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
            pending,
            deadline,
            splits,
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
        while sink.stop.is_none() && sched.has_room() {
            let now = Instant::now();
            let next = pending.iter().position(|p| match p {
                Planned::Fetch(job) => sched.may_start(&job.url, now),
                Planned::Done(_) => true,
            });
            match next.and_then(|i| pending.remove(i)) {
                Some(Planned::Fetch(job)) => sched.launch(Task::new(job)),
                Some(Planned::Done(outcome)) => sink.record(outcome, progress),
                None => break,
            }
        }
        // A file's extra connections get what room is left once no planned
        // file waits for it.
        if sched.has_room() && pending.is_empty() && planned.is_empty() {
            splits.retain(|split| {
                while sched.has_room() && split.wants_connection() {
                    if !sched.launch_connection(split) {
                        return true;
                    }
                }
                split.wants_connection()
            });
        }
    }

    /// Nothing is left: the input is done and no download runs or waits.
    fn is_done(&self) -> bool {
        !self.input_open && self.pending.is_empty() && self.sched.is_idle()
    }
}

/// Takes every lock the run needs (the `--report` file, the `--state`
/// file) before it creates or changes anything, so that a run refused
/// because another haul holds one of them leaves everything as it was;
/// then creates `--dir` and empties the report.
fn open_own_files(config: &Config) -> Result<Own> {
    let held = match &config.report {
        Some(target) => Held::open(target, true)?,
        None => None,
    };
    let state = match &config.state {
        // Creates `--dir` once the state is known to serve it.
        Some(path) => match State::open_for(path, unix_now(), &config.dir) {
            Ok(state) => Some(Arc::new(state)),
            Err(err) => {
                if let Some(held) = held {
                    held.abandon();
                }
                return Err(err);
            }
        },
        None => None,
    };
    let out = Arc::new(OutDir::open(&config.dir, true)?);
    let held = match (held, &config.report) {
        (Some(held), _) => Some(held),
        // Its folder is (inside) `--dir`, which exists now.
        (None, Some(target)) => Held::open(target, false)?,
        (None, None) => None,
    };
    let report = held.map(Held::start).transpose()?;
    Ok(Own { out, state, report })
}

/// What [`open_own_files`] opened and holds for the run.
struct Own {
    out: Arc<OutDir>,
    state: Option<Arc<State>>,
    report: Option<Report>,
}

/// Opens what the session writes (`--dir`, the report), claims haul's own
/// files, starts the transfer threads and the planner thread.
fn start(config: Arc<Config>, progress: &Progress) -> Result<Run> {
    let Own { out, state, report } = open_own_files(&config)?;
    let claims = Arc::new(Claims::for_run(&config, &out));
    if !config.quiet {
        if let Some(damage) = state.as_ref().and_then(|s| s.damage()) {
            progress.println(&format!("haul: warning: {damage}"));
        }
        if config.http.insecure {
            progress.println("haul: warning: TLS certificates are not verified (-k/--insecure)");
        }
        for warning in &config.warnings {
            progress.println(&format!("haul: warning: {warning}"));
        }
    }
    let cancel = CancellationToken::new();
    let budget = config.max_bytes.map(|n| Arc::new(ByteBudget::new(n)));
    let deadline = config.deadline.and_then(|d| match d {
        // `cli.rs` bounds both to 100 years; past the clock's range (never
        // in practice) there is no deadline to keep.
        Deadline::After(after) => Instant::now().checked_add(after),
        // A time already past stops the run at once.
        Deadline::At(at) => {
            Instant::now().checked_add(at.duration_since(SystemTime::now()).unwrap_or_default())
        }
    });
    let jobs = config.jobs.get();
    let threads = workers::count(jobs);
    let (split_tx, split_rx) = match config.split {
        Some(_) => {
            let (tx, rx) = mpsc::unbounded_channel();
            (Some(tx), Some(rx))
        }
        None => (None, None),
    };
    let make_ctx = {
        let settings = Arc::new(config.downloads());
        let run = session::Run {
            out: out.clone(),
            claims: claims.clone(),
            progress: progress.handle(),
            cancel: cancel.clone(),
            shared: Shared {
                limit: config.limit_rate.map(|rate| Arc::new(ByteRate::new(rate))),
                budget: budget.clone(),
                state: state.clone(),
                splits: split_tx,
            },
        };
        // Each thread's connections are its own.
        let idle_per_host = jobs.div_ceil(threads);
        move || Ctx::new(settings.clone(), run.clone(), idle_per_host)
    };
    let workers = workers::start(threads, make_ctx)?;
    let planner = Planner::new(config.clone(), out, claims, state);
    let planned = spawn_planner(planner, progress)?;
    Ok(Run {
        sched: Scheduler::new(
            Slots::new(jobs, config.per_host.map(|n| n.get()), config.rate),
            workers,
        ),
        sink: Sink {
            summary: Summary::default(),
            annotations: config.github_actions.then(Annotations::default),
            grouped: config.github_actions && config.progress == ProgressMode::Log,
            retries: HashMap::new(),
            descriptors_said: false,
            report,
            max_failures: config.max_failures.map(|n| n.get() as u64),
            stop: None,
        },
        config,
        planned,
        pending: VecDeque::new(),
        split_rx,
        splits: Vec::new(),
        input_open: true,
        cancel,
        budget,
        deadline,
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
            pending,
            planned,
            input_open,
            budget,
            deadline,
            split_rx,
            splits,
            ..
        } = run;
        let spent = async {
            match budget {
                Some(budget) => budget.spent().await,
                None => std::future::pending().await,
            }
        };
        let next_wake = sched.next_wake(!pending.is_empty() || !splits.is_empty());
        tokio::select! {
            biased;
            signal = &mut stop => sink.stop = Some(Stop::Signal(signal)),
            () = sleep_until(deadline.unwrap_or_else(Instant::now).into()), if deadline.is_some() => {
                sink.stop = Some(Stop::Budget("--deadline"));
            }
            () = spent => sink.stop = Some(Stop::Budget("--max-bytes")),
            Some(step) = sched.next_step(), if sched.is_running() => {
                match step {
                    Step::Finished(outcome) => sink.record(outcome, progress),
                    Step::Connection => {}
                    Step::Retry { task, wait, pause_host, slow_down, error } => {
                        // Every attempt at -v; by default a line per host
                        // at its 1st, 10th, 100th... retry.
                        if FailureKind::out_of_descriptors(&error) {
                            tracing::debug!(
                                "{}: no file descriptor; waiting {:.1}s",
                                masked(&task.job.url), wait.as_secs_f64()
                            );
                        } else {
                            tracing::info!(
                                "{}: attempt {} failed: {error:#}; retrying in {:.1}s",
                                masked(&task.job.url), task.attempts, wait.as_secs_f64()
                            );
                        }
                        sink.note_retry(&task, &error);
                        if FailureKind::out_of_descriptors(&error) {
                            sched.short_of_descriptors(Instant::now());
                        }
                        if slow_down {
                            sched.slow_down(&task.job.url, Instant::now());
                        }
                        sched.retry_later(task, wait, pause_host);
                    }
                }
            }
            Some(split) = recv_split(split_rx) => {
                if !splits.iter().any(|s| Arc::ptr_eq(s, &split)) {
                    splits.push(split);
                }
            }
            () = sleep_until(next_wake.unwrap_or_else(Instant::now).into()),
                if next_wake.is_some() && sched.has_room() => sched.launch_due(),
            // More jobs when there is room and nothing planned can start:
            // with --per-host, up to LOOK_AHEAD of them wait for their hosts.
            batch = planned.recv(), if *input_open && sched.has_room()
                && (pending.is_empty() || (sched.limits_hosts() && pending.len() < LOOK_AHEAD)) => {
                match batch {
                    Some(batch) => pending.extend(batch),
                    None => *input_open = false,
                }
            }
        }
    }
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

/// How long a run stopped by a budget counts what was planned but not
/// started, before it says the input was not read to the end.
const COUNT_NOT_STARTED: Duration = Duration::from_millis(200);

/// The line a run stopped by the budget `flag` ends with: how many planned
/// downloads never started, `pending` and what the planner still hands
/// over (all of it when the budget was spent before the first batch came,
/// counted for a moment: a short input is then counted whole), and whether
/// the input was read to its end.
async fn not_started(
    flag: &str,
    pending: &VecDeque<Planned>,
    planned: &mut mpsc::Receiver<Vec<Planned>>,
    input_open: bool,
) -> String {
    let is_fetch = |p: &Planned| matches!(p, Planned::Fetch(_));
    let mut count = pending.iter().filter(|p| is_fetch(p)).count();
    let mut unread = input_open;
    let drain = async {
        while let Some(batch) = planned.recv().await {
            count += batch.iter().filter(|p| is_fetch(p)).count();
        }
        unread = false;
    };
    let _ = tokio::time::timeout(COUNT_NOT_STARTED, drain).await;
    let input = if unread {
        "; input not read to the end"
    } else {
        ""
    };
    format!("haul: stopped by {flag}: {count} planned but not started{input}")
}

/// Stops whatever still runs (attempts in flight flush what they received
/// to their `.part` and return; the planner thread ends when its channel
/// closes), records what never finished, and prints the summary.
async fn shutdown(run: Run, progress: &mut Progress, started: Instant) -> Summary {
    let done = run.is_done();
    let Run {
        config,
        mut sched,
        mut sink,
        mut planned,
        pending,
        input_open,
        cancel,
        ..
    } = run;
    match &sink.stop {
        Some(Stop::Signal(signal)) => sink.summary.interrupted = Some(*signal),
        Some(Stop::Budget(flag)) => {
            sink.summary.budget = Some(flag);
            let line = not_started(flag, &pending, &mut planned, input_open).await;
            progress.println(&line);
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
    progress.finish();
    let mut summary = sink.summary;
    summary.elapsed = started.elapsed();
    summary.bytes = progress.stats().bytes.load(Relaxed);
    if sink.grouped {
        progress.println(END_GROUP);
    }
    if let Some(more) = sink.annotations.as_ref().and_then(Annotations::more) {
        progress.println(&more);
    }
    if !config.quiet {
        progress.println(&summary.line());
    }
    summary
}

/// How long stopped downloads get to flush their `.part` files.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(5);

/// Why the run stops before its input is done.
enum Stop {
    Signal(Interrupt),
    /// `--deadline` or `--max-bytes` is spent.
    Budget(&'static str),
    /// `--fail-fast` / `--max-failures`.
    Failures,
    /// A write error that every download would meet (disk full, read-only).
    Storage(String),
}

/// 1, 10, 100, ...
fn is_power_of_ten(mut n: u64) -> bool {
    while n >= 10 && n.is_multiple_of(10) {
        n /= 10;
    }
    n == 1
}

/// Where outcomes go: the summary, the report, the failure lines; and the
/// decision to stop early.
struct Sink {
    summary: Summary,
    /// `GITHUB_ACTIONS=true`: failures as workflow annotations.
    annotations: Option<Annotations>,
    /// The progress lines are folded in a `::group::` (log mode on GitHub).
    grouped: bool,
    /// Retries so far per host, for the warnings (shown at the 1st, 10th,
    /// 100th... of each host).
    retries: HashMap<crate::host::Host, u64>,
    /// The run ran out of file descriptors at least once (said once).
    descriptors_said: bool,
    report: Option<Report>,
    max_failures: Option<u64>,
    stop: Option<Stop>,
}

impl Sink {
    /// Counts a retry against its host and warns at the host's 1st, 10th,
    /// 100th... retry: one line, not one per attempt, on a big flaky run.
    fn note_retry(&mut self, task: &Task, error: &anyhow::Error) {
        if FailureKind::out_of_descriptors(error) {
            // Not the host's fault: said once for the run.
            if !self.descriptors_said {
                self.descriptors_said = true;
                tracing::warn!(
                    "out of file descriptors ({error:#}); downloads wait for one \
                     (raise `ulimit -n` or lower -j)"
                );
            }
            return;
        }
        let count = self.retries.entry(task.host()).or_default();
        *count += 1;
        let n = *count;
        if is_power_of_ten(n) {
            let what = if n == 1 { "retry" } else { "retries" };
            let host = crate::host::name(&task.job.url);
            tracing::warn!("{host}: {n} {what} so far (last: {error:#})");
        }
    }

    fn record(&mut self, outcome: Outcome, progress: &Progress) {
        self.summary.record(&outcome);
        progress.stats().finished.fetch_add(1, Relaxed);
        match &outcome.result {
            Err(failure) if failure.kind == FailureKind::Cancelled => {}
            Err(failure) => {
                if let Some(line) = outcome.failure_line() {
                    progress.println(&line);
                    if let Some(error) = self.annotations.as_mut().and_then(|a| a.error(&line)) {
                        progress.println(&error);
                    }
                }
                tracing::debug!("{:?}", failure.error);
                if failure.kind == (FailureKind::Write { storage: true }) && self.stop.is_none() {
                    self.stop = Some(Stop::Storage(format!("{:#}", failure.error)));
                }
            }
            Ok(_) => {
                if let Some(path) = &outcome.path {
                    tracing::info!(
                        "{} -> {}: {}",
                        outcome.url,
                        path.display(),
                        describe(&outcome)
                    );
                }
            }
        }
        if let Some(max) = self.max_failures
            && self.summary.failed >= max
            && self.stop.is_none()
        {
            self.stop = Some(Stop::Failures);
        }
        if let Some(r) = &mut self.report
            && let Err(err) = r.write(&outcome)
        {
            progress.println(&format!("haul: error: {err:#}; no more report lines"));
            self.report = None;
        }
    }
}

/// Runs the planner on a thread of its own (it reads files and stdin with
/// blocking calls) and hands its output over a bounded channel.
fn spawn_planner(mut planner: Planner, progress: &Progress) -> Result<mpsc::Receiver<Batch>> {
    let (tx, rx) = mpsc::channel(PLAN_AHEAD / BATCH);
    let stats = progress.stats().clone();
    std::thread::Builder::new()
        .name("haul-planner".into())
        .spawn(move || {
            let mut batch = Vec::with_capacity(BATCH);
            loop {
                let next = planner.next();
                let done = next.is_none();
                if let Some(planned) = next {
                    stats.planned.fetch_add(1, Relaxed);
                    batch.push(planned);
                }
                // Hand over a full batch, the last one, or whatever is ready
                // before a read that may wait (a slow producer on stdin).
                if !batch.is_empty() && (done || batch.len() == BATCH || planner.may_block()) {
                    let full = std::mem::replace(&mut batch, Vec::with_capacity(BATCH));
                    if tx.blocking_send(full).is_err() {
                        return; // the runner stopped
                    }
                }
                if done {
                    break;
                }
            }
            stats.planning_done.store(true, Relaxed);
        })
        .context("cannot start the planner thread")?;
    Ok(rx)
}

fn describe(outcome: &Outcome) -> String {
    match &outcome.result {
        Ok(Done::Saved { bytes, .. }) => format!(
            "{} in {:.2}s",
            indicatif::HumanBytes(*bytes),
            outcome.elapsed.as_secs_f64()
        ),
        Ok(Done::Skipped { .. }) => "skipped (exists)".into(),
        Ok(Done::NotModified { .. }) => "not modified".into(),
        Err(_) => "failed".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_warnings_come_at_powers_of_ten() {
        let shown: Vec<u64> = (1..=1000).filter(|&n| is_power_of_ten(n)).collect();
        assert_eq!(shown, [1, 10, 100, 1000]);
        assert!(!is_power_of_ten(0) && !is_power_of_ten(20) && !is_power_of_ten(110));
    }
}
