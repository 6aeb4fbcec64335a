//! Where a run's outcomes go: the summary, the `--report` file, the
//! failure lines (and GitHub annotations), the retry warnings; and the
//! decision to stop early that an outcome can bring (`--fail-fast`,
//! `--max-failures`, a disk that fails every write).

use std::collections::HashMap;
use std::sync::atomic::Ordering::Relaxed;

use super::stream::Stream;
use crate::annotate::Annotations;
use crate::error::FailureKind;
use crate::fetch::Task;
use crate::outcome::{Done, Outcome};
use crate::progress::Progress;
use crate::report::{Interrupt, Report, Summary};

/// Why the run stops before its input is done.
pub(super) enum Stop {
    Signal(Interrupt),
    /// `--deadline` or `--max-bytes` is spent.
    Budget(&'static str),
    /// `--fail-fast` / `--max-failures`.
    Failures,
    /// A write error that every download would meet (disk full, read-only).
    Storage(String),
    /// `-o -`: stdout could not be written (`EPIPE`: the reader went away).
    Output(std::io::Error),
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
pub(super) struct Sink {
    pub(super) summary: Summary,
    /// `GITHUB_ACTIONS=true`: failures as workflow annotations.
    pub(super) annotations: Option<Annotations>,
    /// The progress lines are folded in a `::group::` (log mode on GitHub).
    pub(super) grouped: bool,
    /// Retries so far per host, for the warnings (shown at the 1st, 10th,
    /// 100th... of each host).
    pub(super) retries: HashMap<crate::host::Host, u64>,
    /// Failures per host after which a file moved on to another of its
    /// URLs, for the same warnings.
    pub(super) moved_on: HashMap<crate::host::Host, u64>,
    /// The run ran out of file descriptors at least once (said once).
    pub(super) descriptors_said: bool,
    pub(super) report: Option<Report>,
    pub(super) max_failures: Option<u64>,
    pub(super) stop: Option<Stop>,
    /// `-o -`: the files' way to stdout.
    pub(super) stream: Option<Stream>,
}

impl Sink {
    /// Counts a retry against its host and warns at the host's 1st, 10th,
    /// 100th... retry: one line, not one per attempt, on a big flaky run.
    pub(super) fn note_retry(&mut self, task: &Task, error: &anyhow::Error) {
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

    /// Counts a failure at `failed` after which a file moved on to
    /// another of its URLs, and warns at the host's 1st, 10th, 100th...
    pub(super) fn note_moved_on(&mut self, failed: &url::Url, error: &anyhow::Error) {
        let count = self
            .moved_on
            .entry(crate::host::Host::of(failed))
            .or_default();
        *count += 1;
        let n = *count;
        if is_power_of_ten(n) {
            let what = if n == 1 { "failure" } else { "failures" };
            let host = crate::host::name(failed);
            tracing::warn!(
                "{host}: {n} {what} so far handed on to another URL of the line (last: {error:#})"
            );
        }
    }

    /// Where an outcome goes: the summary, the report, a failure line. Under
    /// `-o -`, in input order, as its file goes to stdout (`stream.rs`); the
    /// first URL that does not end ok stops the run.
    pub(super) fn record(&mut self, outcome: Outcome, progress: &Progress) {
        let Some(stream) = &mut self.stream else {
            return self.record_one(outcome, progress);
        };
        let ready = stream.ended(outcome);
        let stopped = stream.stopped();
        for outcome in ready {
            self.record_one(outcome, progress);
        }
        if stopped && self.stop.is_none() {
            self.stop = Some(Stop::Failures);
        }
    }

    /// `-o -`: what never got its turn, recorded as not written.
    pub(super) fn record_rest(&mut self, progress: &Progress) {
        let rest = self.stream.as_mut().map(Stream::rest).unwrap_or_default();
        for outcome in rest {
            self.record_one(outcome, progress);
        }
    }

    fn record_one(&mut self, outcome: Outcome, progress: &Progress) {
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
