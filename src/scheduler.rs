//! What runs next, and what runs: the planned jobs not yet started (looking
//! ahead past those whose host is busy), the downloads in flight (a
//! `JoinSet`, each on the least busy transfer thread), the retries waiting
//! for their time, those whose host is at its limit, the hosts that asked
//! for a pause, and the `--split` files that could use more connections
//! (topped up with the room no planned file waits for). Every start goes
//! through the slot accounting (`slots.rs`). The runner feeds it and
//! decides when the run ends; this module picks what starts, starts it and
//! takes it back.

use std::collections::{HashMap, VecDeque};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::anyhow;
use tokio::task::JoinSet;
use url::Url;

use crate::error::FailureKind;
use crate::fetch::{Step, Task, fetch};
use crate::host::Host;
use crate::outcome::{Failure, Outcome};
use crate::plan::Planned;
use crate::redact::masked;
use crate::retry::Waiting;
use crate::session::{Ctx, MoreConnections};
use crate::slots::Slots;
use crate::workers::Worker;

/// With `--per-host`, how many planned downloads may wait for their host
/// while others start (memory: one `Job` each).
const LOOK_AHEAD: usize = 1024;

/// The planned jobs, the tasks in flight and the retries waiting for their
/// time. A task waiting to retry holds no `--jobs` slot.
pub(crate) struct Scheduler {
    slots: Slots,
    /// Jobs received from the planner, not yet started.
    pending: VecDeque<Planned>,
    /// `--split` files that asked for more connections and may still want
    /// them.
    splits: Vec<Arc<dyn MoreConnections>>,
    /// The transfer threads; a download runs on the least busy one.
    workers: Vec<Worker>,
    set: JoinSet<Step>,
    /// Each running task's thread, and what it is about (to name it if it
    /// panics).
    in_flight: HashMap<tokio::task::Id, About>,
    waiting: Waiting<Task>,
    /// Retries whose time has come but whose host is at `--per-host`.
    blocked: VecDeque<Task>,
}

impl Scheduler {
    pub(crate) fn new(slots: Slots, workers: Vec<Worker>) -> Scheduler {
        Scheduler {
            slots,
            pending: VecDeque::new(),
            splits: Vec::new(),
            workers,
            set: JoinSet::new(),
            in_flight: HashMap::new(),
            waiting: Waiting::default(),
            blocked: VecDeque::new(),
        }
    }

    pub(crate) fn has_room(&self) -> bool {
        self.slots.free()
    }

    /// Nothing is planned, running or waiting.
    pub(crate) fn is_idle(&self) -> bool {
        self.pending.is_empty()
            && self.set.is_empty()
            && self.waiting.is_empty()
            && self.blocked.is_empty()
    }

    /// Planned jobs from the planner, to start in order as room allows.
    pub(crate) fn plan(&mut self, batch: Vec<Planned>) {
        self.pending.extend(batch);
    }

    /// Whether to take another batch from the planner: when there is room
    /// and nothing planned can start; with `--per-host` or `--rate`, up to
    /// [`LOOK_AHEAD`] jobs may wait for their hosts while others start.
    pub(crate) fn wants_more(&self) -> bool {
        self.has_room()
            && (self.pending.is_empty()
                || (self.slots.limits_hosts() && self.pending.len() < LOOK_AHEAD))
    }

    /// How many planned downloads never started.
    pub(crate) fn not_started(&self) -> usize {
        let is_fetch = |p: &&Planned| matches!(p, Planned::Fetch(_));
        self.pending.iter().filter(is_fetch).count()
    }

    /// Starts the next planned job that may start now (the first, or with
    /// `--per-host` or `--rate` the first whose host has room), or hands
    /// back the next outcome the planner decided (a skip, a refusal).
    pub(crate) fn start_next(&mut self) -> Next {
        if !self.has_room() {
            return Next::Nothing;
        }
        let now = Instant::now();
        let next = self.pending.iter().position(|p| match p {
            Planned::Fetch(job) => self.slots.free_for(&job.url, now),
            Planned::Done(_) => true,
        });
        match next.and_then(|i| self.pending.remove(i)) {
            Some(Planned::Fetch(job)) => {
                self.launch(Task::new(job));
                Next::Started
            }
            Some(Planned::Done(outcome)) => Next::Decided(outcome),
            None => Next::Nothing,
        }
    }

    /// A `--split` file asks for more connections.
    pub(crate) fn wants_connections(&mut self, split: Arc<dyn MoreConnections>) {
        if !self.splits.iter().any(|s| Arc::ptr_eq(s, &split)) {
            self.splits.push(split);
        }
    }

    /// Gives the `--split` files the room left once no planned file waits
    /// for it (`more_planned`: the planner has handed over more).
    pub(crate) fn top_up(&mut self, more_planned: bool) {
        if !self.has_room() || !self.pending.is_empty() || more_planned {
            return;
        }
        let mut splits = std::mem::take(&mut self.splits);
        splits.retain(|split| {
            while self.has_room() && split.wants_connection() {
                if !self.launch_connection(split) {
                    return true;
                }
            }
            split.wants_connection()
        });
        self.splits = splits;
    }

    /// When to look again without another event: a retry's time, or (when
    /// downloads or `--split` connections wait for a host's `--rate`) the
    /// next time a host may start.
    pub(crate) fn next_wake(&self) -> Option<Instant> {
        let planned_waiting = !self.pending.is_empty() || !self.splits.is_empty();
        let rate_due = if planned_waiting || !self.blocked.is_empty() {
            self.slots.next_due(Instant::now())
        } else {
            None
        };
        match (self.waiting.next_at(), rate_due) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Starts the retries that waited for their host's room, while there is.
    pub(crate) fn launch_blocked(&mut self) {
        let mut i = 0;
        while self.has_room() && i < self.blocked.len() {
            if self
                .slots
                .free_for(&self.blocked[i].job.url, Instant::now())
            {
                let task = self.blocked.remove(i).expect("in range");
                self.launch(task);
            } else {
                i += 1;
            }
        }
    }

    /// Starts `task` now, or later if its host asked for a pause or (a
    /// retry) is at `--per-host`.
    fn launch(&mut self, task: Task) {
        let now = Instant::now();
        if !self.slots.free_for(&task.job.url, now) {
            self.blocked.push_back(task);
            return;
        }
        if let Some(until) = self.slots.paused_until(&task.job.url) {
            self.wait(task, until);
            return;
        }
        let about = self.about(&task.job.url, task.job.path.clone(), task.job.seq, now);
        // Boxed: a download's future is kilobytes, and tokio moves a task's
        // whole stage (future or output) several times per task; boxed, each
        // move is of a pointer and the `Step` (callgrind on the small-file
        // benchmark: about 2,900 instructions of memcpy per file unboxed).
        self.spawn(about, |ctx| Box::pin(fetch(ctx, task)));
    }

    /// Starts one more connection for `split` if its host allows it now;
    /// `false` when it does not.
    fn launch_connection(&mut self, split: &Arc<dyn MoreConnections>) -> bool {
        let now = Instant::now();
        let url = split.url().clone();
        if !self.slots.free_for(&url, now) {
            return false;
        }
        if self.slots.paused_until(&url).is_some() {
            return false;
        }
        split.starting();
        let about = self.about(&url, PathBuf::new(), 0, now);
        let connection = split.clone();
        self.spawn(about, |ctx| async move {
            connection.connection(ctx, url).await;
            Step::Connection
        });
        true
    }

    /// Takes the slot for a start to `url` (and the least busy transfer
    /// thread): what the start is about; `path` names it if it panics.
    fn about(&mut self, url: &Url, path: PathBuf, seq: u64, now: Instant) -> About {
        let (thread, worker) = self
            .workers
            .iter_mut()
            .enumerate()
            .min_by_key(|(_, w)| w.load)
            .expect("at least one transfer thread");
        worker.load += 1;
        About {
            thread,
            host: self.slots.take(url, now),
            url: masked(url),
            path,
            seq,
        }
    }

    /// Runs `task` on the thread `about` chose.
    fn spawn<F, Fut>(&mut self, about: About, task: F)
    where
        F: FnOnce(Arc<Ctx>) -> Fut,
        Fut: Future<Output = Step> + Send + 'static,
    {
        let worker = &self.workers[about.thread];
        let id = self
            .set
            .spawn_on(task(worker.ctx.clone()), &worker.handle)
            .id();
        self.in_flight.insert(id, about);
    }

    /// Starts the waiting tasks whose time has come, while there is room.
    pub(crate) fn launch_due(&mut self) {
        let now = Instant::now();
        while self.has_room()
            && let Some(task) = self.waiting.pop_due(now)
        {
            self.launch(task);
        }
    }

    pub(crate) fn retry_later(&mut self, task: Task, wait: Duration, pause_host: bool) {
        let at = Instant::now() + wait;
        if pause_host {
            self.slots.pause(task.host(), at);
        }
        self.wait(task, at);
    }

    fn wait(&mut self, task: Task, at: Instant) {
        self.waiting.push(at, task);
    }

    /// Forgets a finished task; returns what it was about.
    fn done(&mut self, id: tokio::task::Id) -> Option<(String, PathBuf, u64)> {
        let about = self.in_flight.remove(&id)?;
        self.workers[about.thread].load -= 1;
        self.slots.give_back(about.host);
        Some((about.url, about.path, about.seq))
    }

    /// A download found no file descriptor: fewer run at once for a while.
    pub(crate) fn short_of_descriptors(&mut self, now: Instant) {
        self.slots.out_of_descriptors(now);
    }

    /// A 429 without `Retry-After` from `url`'s host: with `--rate`, that
    /// host is slowed down.
    pub(crate) fn slow_down(&mut self, url: &url::Url, now: Instant) {
        self.slots.slow_down(url, now);
    }

    /// Whether a download runs now.
    pub(crate) fn is_running(&self) -> bool {
        !self.set.is_empty()
    }

    /// The next download or connection to end, as it ended; `None` when
    /// none runs.
    pub(crate) async fn next_step(&mut self) -> Option<Step> {
        let joined = self.set.join_next_with_id().await?;
        Some(self.finished(joined))
    }

    /// Stops every download still running at once (the end of a run whose
    /// downloads did not stop in time).
    pub(crate) fn abort_all(&mut self) {
        self.set.abort_all();
    }

    /// The downloads that wait (for their retry, or for their host): they
    /// will not start.
    pub(crate) fn take_waiting(&mut self) -> impl Iterator<Item = Task> + '_ {
        let blocked = std::mem::take(&mut self.blocked);
        self.waiting.drain().chain(blocked)
    }

    /// Unwraps a joined task; a panic becomes that URL's failure.
    fn finished(
        &mut self,
        joined: Result<(tokio::task::Id, Step), tokio::task::JoinError>,
    ) -> Step {
        match joined {
            Ok((id, step)) => {
                self.done(id);
                step
            }
            Err(err) => {
                let (url, path, seq) = self.done(err.id()).unwrap_or_default();
                let kind = if err.is_cancelled() {
                    FailureKind::Cancelled
                } else {
                    FailureKind::Refused
                };
                let failure = Failure::new(kind, None, anyhow!("download task ended: {err}"));
                let mut outcome = Outcome::new(url, Some(path), Err(failure));
                outcome.seq = seq;
                Step::Finished(outcome)
            }
        }
    }
}

/// What [`Scheduler::start_next`] did. Returned and matched at once, so
/// the outcome stays inline rather than boxed (an allocation per skipped
/// file).
#[allow(clippy::large_enum_variant)]
pub(crate) enum Next {
    /// A planned download started.
    Started,
    /// The planner decided this one without a request.
    Decided(Outcome),
    /// Nothing may start now.
    Nothing,
}

/// What a running download is about: its thread and host (for the slot
/// accounting) and its URL and path (to name it if it panics).
struct About {
    thread: usize,
    host: Option<Host>,
    url: String,
    path: PathBuf,
    /// The job's `seq` (0 for a `--split` file's extra connection).
    seq: u64,
}
