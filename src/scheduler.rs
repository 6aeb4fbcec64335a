//! What runs: the downloads in flight (a `JoinSet`, each on the least busy
//! transfer thread), the retries waiting for their time, those whose host
//! is at its limit, and the hosts that asked for a pause. Every start goes
//! through the slot accounting (`slots.rs`). The runner decides what to
//! start and when the run ends; this module starts it and takes it back.

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
use crate::redact::masked;
use crate::retry::{HostPauses, Waiting};
use crate::session::{Ctx, MoreConnections};
use crate::slots::Slots;
use crate::workers::Worker;

/// The tasks in flight and the retries waiting for their time. A task
/// waiting to retry holds no `--jobs` slot.
pub(crate) struct Scheduler {
    slots: Slots,
    /// The transfer threads; a download runs on the least busy one.
    workers: Vec<Worker>,
    set: JoinSet<Step>,
    /// Each running task's thread, and what it is about (to name it if it
    /// panics).
    in_flight: HashMap<tokio::task::Id, About>,
    waiting: Waiting<Task>,
    /// Retries whose time has come but whose host is at `--per-host`.
    blocked: VecDeque<Task>,
    /// Hosts that asked for a pause (429/503 + Retry-After), until when.
    paused: HostPauses,
}

impl Scheduler {
    pub(crate) fn new(slots: Slots, workers: Vec<Worker>) -> Scheduler {
        Scheduler {
            slots,
            workers,
            set: JoinSet::new(),
            in_flight: HashMap::new(),
            waiting: Waiting::default(),
            blocked: VecDeque::new(),
            paused: HostPauses::default(),
        }
    }

    pub(crate) fn has_room(&self) -> bool {
        self.slots.free()
    }

    pub(crate) fn is_idle(&self) -> bool {
        self.set.is_empty() && self.waiting.is_empty() && self.blocked.is_empty()
    }

    /// When to look again without another event: a retry's time, or (when
    /// downloads or `--split` connections wait for a host's `--rate`) the
    /// next time a host may start.
    pub(crate) fn next_wake(&self, planned_waiting: bool) -> Option<Instant> {
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
    pub(crate) fn launch(&mut self, task: Task) {
        let now = Instant::now();
        if !self.slots.free_for(&task.job.url, now) {
            self.blocked.push_back(task);
            return;
        }
        // Hosts are named only when some host asked for a pause: the
        // common case costs no allocation per file.
        if !self.paused.is_empty()
            && let Some(until) = self.paused.paused_until(task.host())
        {
            self.wait(task, until);
            return;
        }
        let about = self.about(&task.job.url, task.job.path.clone(), now);
        self.spawn(about, |ctx| fetch(ctx, task));
    }

    /// Starts one more connection for `split` if its host allows it now;
    /// `false` when it does not.
    pub(crate) fn launch_connection(&mut self, split: &Arc<dyn MoreConnections>) -> bool {
        let now = Instant::now();
        if !self.slots.free_for(split.url(), now) {
            return false;
        }
        if !self.paused.is_empty() && self.paused.paused_until(Host::of(split.url())).is_some() {
            return false;
        }
        split.starting();
        let about = self.about(split.url(), PathBuf::new(), now);
        let connection = split.clone();
        self.spawn(about, |ctx| async move {
            connection.connection(ctx).await;
            Step::Connection
        });
        true
    }

    /// Takes the slot for a start to `url` (and the least busy transfer
    /// thread): what the start is about; `path` names it if it panics.
    fn about(&mut self, url: &Url, path: PathBuf, now: Instant) -> About {
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
            self.paused.pause(task.host(), at);
        }
        self.wait(task, at);
    }

    fn wait(&mut self, task: Task, at: Instant) {
        self.waiting.push(at, task);
    }

    /// Forgets a finished task; returns what it was about.
    fn done(&mut self, id: tokio::task::Id) -> Option<(String, PathBuf)> {
        let about = self.in_flight.remove(&id)?;
        self.workers[about.thread].load -= 1;
        self.slots.give_back(about.host);
        Some((about.url, about.path))
    }

    /// Whether a download of `url` may start now (`-j`, `--per-host`,
    /// `--rate`).
    pub(crate) fn may_start(&self, url: &url::Url, now: Instant) -> bool {
        self.slots.free_for(url, now)
    }

    /// Whether some host may have to wait while others start: the runner
    /// then looks further ahead for a download that can start.
    pub(crate) fn limits_hosts(&self) -> bool {
        self.slots.limits_hosts()
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
                let (url, path) = self.done(err.id()).unwrap_or_default();
                let kind = if err.is_cancelled() {
                    FailureKind::Cancelled
                } else {
                    FailureKind::Refused
                };
                let failure = Failure::new(kind, None, anyhow!("download task ended: {err}"));
                Step::Finished(Outcome::new(url, Some(path), Err(failure)))
            }
        }
    }
}

/// What a running download is about: its thread and host (for the slot
/// accounting) and its URL and path (to name it if it panics).
struct About {
    thread: usize,
    host: Option<Host>,
    url: String,
    path: PathBuf,
}
