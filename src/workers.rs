//! Transfer threads. Downloads run on one current-thread tokio runtime per
//! core: the caller's runtime (which also runs the scheduler) and one
//! extra thread per further core, each with HTTP clients of its own so
//! that a connection, its socket and the task reading it stay on one
//! thread. The scheduler hands each download to the least busy thread;
//! nothing else crosses threads per file.
//!
//! Why not tokio's multi-thread runtime: its work stealing wakes idle
//! threads through futexes for every task it moves, a large share of the
//! CPU on many small files (BENCHMARKS.md has the profile). Threads that
//! share nothing but the scheduler's hand-offs keep a download's socket
//! reads, its parsing and its small-file writes on the thread that owns
//! the connection, and still give each core its share of the bytes (a
//! 512 MiB download on each of two cores).
//!
//! This module does not decide what runs where (that is `runner/`) or
//! how a download goes (that is `fetch/`).

use std::sync::Arc;
use std::thread::JoinHandle;

use anyhow::{Context, Result};
use tokio::runtime::Handle;
use tokio::sync::oneshot;

use crate::session::Ctx;

/// At most this many transfer threads, however many cores there are:
/// beyond it, more threads only split the connection pools further.
const MAX_THREADS: usize = 8;

/// One transfer thread: where its tasks run, and the context (HTTP client
/// included) they use.
pub(crate) struct Worker {
    pub(crate) handle: Handle,
    pub(crate) ctx: Arc<Ctx>,
    /// Downloads running on it now.
    pub(crate) load: usize,
    /// `None` for the caller's own runtime.
    thread: Option<(oneshot::Sender<()>, JoinHandle<()>)>,
}

/// How many transfer threads a run of `jobs` concurrent downloads gets.
pub(crate) fn count(jobs: usize) -> usize {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    cores.min(jobs).clamp(1, MAX_THREADS)
}

/// Starts `n` transfer threads, the first being the caller's runtime.
/// `ctx` builds each thread's context; the threads build theirs at the
/// same time as the caller (an HTTP client reads the system's root
/// certificates, a few milliseconds each).
pub(crate) fn start<F>(n: usize, ctx: F) -> Result<Vec<Worker>>
where
    F: Fn() -> Result<Ctx> + Send + Sync + 'static,
{
    let ctx = Arc::new(ctx);
    let mut starting = Vec::with_capacity(n.saturating_sub(1));
    for i in 1..n {
        let (stop, stopped) = oneshot::channel::<()>();
        let (ready, started) = std::sync::mpsc::channel::<Result<(Handle, Ctx)>>();
        let ctx = ctx.clone();
        let thread = std::thread::Builder::new()
            .name(format!("haul-transfer-{i}"))
            .spawn(move || {
                let runtime = match tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                {
                    Ok(runtime) => runtime,
                    Err(err) => {
                        let err = anyhow::Error::new(err).context("cannot start a runtime");
                        let _ = ready.send(Err(err));
                        return;
                    }
                };
                let built = {
                    let _entered = runtime.enter();
                    ctx()
                };
                let failed = built.is_err();
                let _ = ready.send(built.map(|ctx| (runtime.handle().clone(), ctx)));
                if failed {
                    return;
                }
                // Runs the thread's tasks until the run is over.
                runtime.block_on(async {
                    let _ = stopped.await;
                });
                // The scheduler has drained or aborted every download by
                // now; what may still run on the blocking pool is a
                // `--split` file's periodic sync (main.rs): not waited for.
                runtime.shutdown_background();
            })
            .context("cannot start a transfer thread")?;
        starting.push((started, stop, thread));
    }
    let mut workers = vec![Worker {
        handle: Handle::current(),
        ctx: Arc::new(ctx()?),
        load: 0,
        thread: None,
    }];
    for (started, stop, thread) in starting {
        // On an error, the threads not yet pushed see their stop sender
        // dropped and end; the pushed ones are stopped by `Drop`.
        let (handle, built) = match started.recv() {
            Ok(Ok((handle, ctx))) => (handle, ctx),
            Ok(Err(err)) => {
                let _ = thread.join();
                return Err(err.context("cannot start a transfer thread"));
            }
            Err(_) => {
                let _ = thread.join();
                anyhow::bail!("a transfer thread ended at start");
            }
        };
        workers.push(Worker {
            handle,
            ctx: Arc::new(built),
            load: 0,
            thread: Some((stop, thread)),
        });
    }
    Ok(workers)
}

impl Drop for Worker {
    fn drop(&mut self) {
        if let Some((stop, thread)) = self.thread.take() {
            let _ = stop.send(());
            let _ = thread.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_thread_per_core_within_jobs_and_the_cap() {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        assert_eq!(count(1), 1, "-j 1 needs no second thread");
        assert_eq!(count(2), cores.min(2));
        assert_eq!(count(10_000), cores.min(MAX_THREADS));
    }
}
