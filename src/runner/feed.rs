//! The planner's side of a run: the thread it runs on (it reads files and
//! stdin with blocking calls), the bounded channel its jobs travel over in
//! batches, and, when a budget stops the run, the count of what it planned
//! that never started.

use std::sync::atomic::Ordering::Relaxed;
use std::time::Duration;

use anyhow::{Context, Result};
use tokio::sync::mpsc;

use crate::plan::{Planned, Planner};
use crate::progress::Progress;

/// How far the planner may run ahead of the downloads. Bounded, so a
/// list of ten million lines is never held in memory.
const PLAN_AHEAD: usize = 1024;

/// Planned jobs travel in batches: one thread wake-up per batch instead of
/// one per URL.
const BATCH: usize = 64;

pub(super) type Batch = Vec<Planned>;

/// How long a run stopped by a budget counts what was planned but not
/// started, before it says the input was not read to the end.
const COUNT_NOT_STARTED: Duration = Duration::from_millis(200);

/// The line a run stopped by the budget `flag` ends with: how many planned
/// downloads never started, `pending` and what the planner still hands
/// over (all of it when the budget was spent before the first batch came,
/// counted for a moment: a short input is then counted whole), and whether
/// the input was read to its end.
pub(super) async fn not_started(
    flag: &str,
    pending: usize,
    planned: &mut mpsc::Receiver<Vec<Planned>>,
    input_open: bool,
) -> String {
    let is_fetch = |p: &Planned| matches!(p, Planned::Fetch(_));
    let mut count = pending;
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

/// Runs the planner on a thread of its own (it reads files and stdin with
/// blocking calls) and hands its output over a bounded channel.
pub(super) fn spawn_planner(
    mut planner: Planner,
    progress: &Progress,
) -> Result<mpsc::Receiver<Batch>> {
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
