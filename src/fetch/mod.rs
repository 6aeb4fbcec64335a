//! One download, one attempt at a time. An attempt goes through named
//! stages: the request (`request.rs`: with `Range` + `If-Range` when the
//! `.part` may be continued, starting over when the answer does not prove
//! the recorded version; the status checked before any file is touched),
//! `destination.rs` (under `--content-disposition` or
//! `--trust-server-names`, the name the answer gives, claimed now), the
//! body into `DEST.part` (`body.rs`'s one chunk loop, here with the digest
//! taken on the way; over several connections with `split/`) and
//! `finish.rs` (length and digest checks, the rename). A failed attempt
//! never leaves a file under the final name. What it does not do: decide
//! whether to try again (`retry.rs`; [`fetch`] only asks), schedule
//! (`runner/`, `scheduler.rs`), or touch a file other than through
//! `outdir/`.
//!
//! - `request.rs`: build and send a request, `.netrc`, the status check.
//! - `body.rs`: the chunk loop every download reads its body with (stalls,
//!   cancellation, `--limit-rate` and `--max-bytes` accounting).
//! - `destination.rs`: what is already at the destination (a file hashed
//!   first; a name the answer gives, claimed when it comes).
//! - `resume.rs`: the note on a `.part`, which `.part` may be continued, and
//!   whether an answer proves the recorded version.
//! - `coding.rs`: `--compressed`: which answers may have been decoded, and
//!   range requests kept to uncoded bytes.
//! - `part.rs`: the temp file, its writes and its rename.
//! - `stream.rs`: a body on one connection into its `.part`.
//! - `split/`: one file over several connections (`split/entry.rs`: when,
//!   and the way there and back).

mod body;
mod coding;
mod destination;
mod digests;
mod finish;
mod part;
mod request;
mod resume;
mod split;
mod stream;

pub(crate) use self::digests::fetch_manifests;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use reqwest::Response;
use reqwest::header::{ETAG, LAST_MODIFIED};

use self::destination::{Destination, destination, verify_existing};
use self::digests::{checks, sidecar};
use self::finish::{Saved, finish, finish_from_part};
use self::request::{Checked, check_status, request};
use self::resume::{Pending, Resumable, open_resumable};
use self::split::entry::{over_connections, split_plan};
use self::stream::{Body, open_part, stream_body};
use crate::digest::{Check, Hashing};
use crate::error::FailureKind;
use crate::mirrors::Next;
use crate::naming::part_path;
use crate::outcome::{Done, Failure, Outcome};
use crate::plan::Job;
use crate::redact::masked;
use crate::retry::Budget;
use crate::session::Ctx;

/// A job and what its attempts so far have used up.
#[derive(Debug)]
pub(crate) struct Task {
    pub(crate) job: Job,
    /// Requests made so far.
    pub(crate) attempts: u32,
    budget: Budget,
    started: Instant,
    /// Where the file goes, as reported: `job.path`, or the name the answer
    /// gave under `--content-disposition` or `--trust-server-names`.
    path: PathBuf,
    /// Under `--content-disposition` or `--trust-server-names`: the name
    /// this download claimed. Kept across attempts, so a retry continues
    /// its own `.part`.
    claimed: Option<PathBuf>,
    /// Why a file already there is fetched again.
    replaced: Option<&'static str>,
    /// The status of the last answer an attempt got, for a task stopped
    /// while it waits for its next attempt.
    last_status: Option<u16>,
    /// Bytes of the file a `.part` held before this run fetched any (`None`
    /// until the first attempt looks): the report's `bytes` are the rest.
    held: Option<u64>,
    /// `--checksum-sidecar`: the sidecar was looked for (found or not).
    sidecar_done: bool,
}

impl Task {
    pub(crate) fn new(job: Job) -> Task {
        let job_replaced = job.replaced;
        Task {
            path: job.path.clone(),
            job,
            attempts: 0,
            budget: Budget::default(),
            started: Instant::now(),
            claimed: None,
            replaced: job_replaced,
            last_status: None,
            held: None,
            sidecar_done: false,
        }
    }

    /// The host whose requests a `Retry-After` pauses (host and port).
    pub(crate) fn host(&self) -> crate::host::Host {
        crate::host::Host::of(&self.job.url)
    }

    /// The outcome for a task that never got its next attempt: with the
    /// status its last attempt was answered with, if any.
    pub(crate) fn into_outcome(self, mut failure: Failure) -> Outcome {
        failure.http_status = failure.http_status.or(self.last_status);
        self.finish(Err(failure))
    }

    fn finish(self, result: Result<Done, Failure>) -> Outcome {
        let mut outcome = Outcome::new(masked(self.job.line_url()), Some(self.path), result)
            .with_attempts(self.attempts, self.started.elapsed());
        outcome.seq = self.job.seq;
        outcome
    }
}

/// How an attempt ended, for the runner. One per attempt, moved once: the
/// retry's task is kept inline rather than boxed (an allocation per retry).
#[allow(clippy::large_enum_variant)]
pub(crate) enum Step {
    Finished(Outcome),
    /// An extra connection of a `--split` download ended (the download
    /// itself reports).
    Connection,
    /// A failure at one of a file's several URLs: the next one is asked
    /// at once (holding a slot of its own host's).
    NextUrl {
        task: Task,
        /// The URL that failed.
        failed: url::Url,
        error: anyhow::Error,
    },
    Retry {
        task: Task,
        /// Wait this long before the next attempt.
        wait: Duration,
        /// The server asked the whole host to wait (429/503 + Retry-After).
        pause_host: bool,
        /// A 429 without Retry-After: with `--rate`, slow the host down.
        slow_down: bool,
        /// The server never processed the request: sent again at once, not
        /// counted as an attempt or a retry.
        resend: bool,
        /// Why the attempt failed, for the log line.
        error: anyhow::Error,
    },
}

/// Runs the next attempt of `task` (after hashing a file already there
/// when a digest says what it must hold) and says what comes next.
pub(crate) async fn fetch(ctx: Arc<Ctx>, mut task: Task) -> Step {
    if task.job.verify_existing {
        task.job.verify_existing = false;
        if let Some(done) = verify_existing(&ctx, &mut task).await {
            return Step::Finished(task.finish(done));
        }
    }
    task.attempts += 1;
    let mut failure = match attempt(&ctx, &mut task).await {
        Ok(done) => return Step::Finished(task.finish(Ok(done))),
        Err(failure) => failure,
    };
    if failure.kind != FailureKind::Cancelled && FailureKind::out_of_descriptors(&failure.error) {
        // Not an attempt of this URL's: it waits for a descriptor.
        failure.kind = FailureKind::Descriptors;
        task.attempts -= 1;
    }
    task.last_status = failure.http_status.or(task.last_status);
    // A file with several URLs moves on to the next after a failure of the
    // server's; the last one's ends a round, which the budget may renew.
    let (kind, retry_after, round_over) = match task.job.mirrors.as_mut().map(|m| m.after(&failure))
    {
        Some(Next::Url(next)) => {
            let failed = std::mem::replace(&mut task.job.url, next);
            return Step::NextUrl {
                task,
                failed,
                error: failure.error,
            };
        }
        Some(Next::RoundOver { kind, retry_after }) => (kind, retry_after, true),
        Some(Next::Stay) | None => (failure.kind, failure.retry_after, false),
    };
    if let Some(retry) = task.budget.next(ctx.retry_policy(), kind, retry_after) {
        if let Some(mirrors) = &mut task.job.mirrors
            && round_over
        {
            task.job.url = mirrors.restart();
        }
        if retry.resend {
            // Not an attempt: the server did nothing with it.
            task.attempts -= 1;
        }
        return Step::Retry {
            task,
            wait: retry.wait,
            pause_host: retry.pause_host,
            slow_down: failure.kind == FailureKind::Http(429) && failure.retry_after.is_none(),
            resend: retry.resend,
            error: failure.error,
        };
    }
    if failure.kind == FailureKind::Unprocessed {
        failure.error = failure.error.context(format!(
            "the server processed none of {} requests",
            task.attempts + task.budget.resends()
        ));
    }
    if let Some(mirrors) = &task.job.mirrors {
        failure.error = failure.error.context(masked(&task.job.url));
        if failure.kind != FailureKind::Cancelled {
            failure.error = failure.error.context(format!(
                "gave up after {} attempts at {} URLs",
                task.attempts,
                mirrors.len()
            ));
        }
    } else if task.attempts > 1 && failure.kind != FailureKind::Cancelled {
        failure.error = failure
            .error
            .context(format!("gave up after {} attempts", task.attempts));
    }
    Step::Finished(task.finish(Err(failure)))
}

/// One attempt (one request, or two when a range answer proves to be of
/// another version and the file starts over; or, with `--split`, several
/// connections, and one more from zero when one of them meets another
/// version).
async fn attempt(ctx: &Ctx, task: &mut Task) -> Result<Done, Failure> {
    if let Some(suffix) = &ctx.settings.sidecar
        && task.job.digest.is_none()
        && !task.sidecar_done
    {
        sidecar(ctx, task, suffix).await?;
        task.sidecar_done = true;
    }
    let mut split = true;
    loop {
        match attempt_once(ctx, task, split).await {
            Attempted::Done(result) => return result,
            Attempted::Restart => {
                split = false;
                task.attempts += 1;
                // The `.part` is gone: the file comes whole in this run.
                task.held = Some(0);
            }
        }
    }
}

/// How [`attempt_once`] ended.
enum Attempted {
    Done(Result<Done, Failure>),
    /// A split download met another version: start over from zero, on one
    /// connection (the `.part` is gone).
    Restart,
}

async fn attempt_once(ctx: &Ctx, task: &mut Task, split: bool) -> Attempted {
    let answer = match prepare(ctx, task).await {
        Ok(Prepared::Done(done)) => return Attempted::Done(Ok(done)),
        Ok(Prepared::Body(answer)) => answer,
        Err(failure) => return Attempted::Done(Err(failure)),
    };
    let status = answer.response.status();
    let header = |name| {
        answer
            .response
            .headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    };
    let (etag, last_modified) = (header(ETAG), header(LAST_MODIFIED));
    let modified = last_modified
        .as_deref()
        .and_then(|v| httpdate::parse_http_date(v).ok());
    let saved = Saved {
        hashing: Hashing::new(Vec::new()),
        modified,
        etag,
        last_modified,
        replaced: task.replaced,
        status,
        connections: None,
        also_served: Vec::new(),
        held: task.held.unwrap_or(0),
    };
    let name = task.path.file_name().unwrap_or_default().to_string_lossy();
    if split && let Some(plan) = split_plan(ctx, &task.job, &answer) {
        return over_connections(ctx, &task.job, &name, answer, plan, saved).await;
    }
    let Answer {
        response,
        rel,
        resumable,
        total,
        checks,
        decoded,
    } = answer;
    let result = async {
        // A decoded body gets no resume note: it is never continued.
        let note = match decoded {
            true => None,
            false => Pending::for_answer(task.job.url.as_str(), response.headers()),
        };
        let (part, hashing) = open_part(ctx, rel, resumable, note, checks)
            .await
            .map_err(|f| f.with_status(status.as_u16()))?;
        let body = Body {
            response,
            part,
            hashing,
            total,
        };
        let (part, hashing) = stream_body(ctx, &task.job, &name, body).await?;
        finish(ctx, part, &task.job, Saved { hashing, ..saved })
    }
    .await;
    Attempted::Done(result)
}

/// What [`prepare`] found. Returned once per attempt, so the size of the
/// `Body` variant costs nothing worth an allocation.
#[allow(clippy::large_enum_variant)]
enum Prepared {
    /// No body to write (a 304, a proven 416, a server-given name whose file
    /// is already right).
    Done(Done),
    Body(Answer),
}

/// An answer with a body to write, and where.
struct Answer {
    response: Response,
    rel: PathBuf,
    /// The `.part` the answer continues (proven).
    resumable: Option<Resumable>,
    /// The file's whole length, when the answer says it.
    total: Option<u64>,
    /// The digests the file is checked against.
    checks: Vec<Check>,
    /// `--compressed`: the body may have been decoded (`coding.rs`).
    decoded: bool,
}

/// The request (continuing a `.part` when one may be), the status check and
/// the destination.
async fn prepare(ctx: &Ctx, task: &mut Task) -> Result<Prepared, Failure> {
    // The destination, when it is known before the answer (under
    // --content-disposition or --trust-server-names only once an attempt
    // has claimed one).
    let known = if ctx.settings.name_from_answer() {
        task.claimed.clone()
    } else {
        Some(task.job.rel.clone())
    };
    let mut resumable = match &known {
        Some(rel) if ctx.http().resume && (task.job.had_part || task.attempts > 1) => {
            open_resumable(&ctx.out, &part_path(rel), task.job.url.as_str())
                .map_err(|e| Failure::new(FailureKind::Refused, None, e))?
        }
        _ => None,
    };
    match (task.held, &resumable) {
        (None, r) => task.held = Some(r.as_ref().map_or(0, Resumable::held)),
        // Starting from zero (the `.part` went: a digest mismatch, a
        // removed file): whatever was held is not in the file.
        (Some(_), None) => task.held = Some(0),
        (Some(_), Some(_)) => {}
    }
    let response = request(ctx, task, known.as_deref(), &mut resumable).await?;
    let status = response.status();
    let total = match check_status(ctx, &response, resumable.as_ref())? {
        Checked::Body { total } => total,
        Checked::NotModified => {
            return Ok(Prepared::Done(Done::NotModified {
                http_status: status.as_u16(),
            }));
        }
        Checked::Complete => {
            let (r, rel) = resumable.zip(known).expect("a 416 is proven for a .part");
            let held = task.held.unwrap_or(0);
            let checks = checks(ctx, &task.job, None, false, false)?;
            return finish_from_part(ctx, &task.job, &rel, r, status, held, checks)
                .await
                .map(Prepared::Done);
        }
    };
    let partial = status == reqwest::StatusCode::PARTIAL_CONTENT;
    let decoded =
        coding::decoded(ctx, response.headers()).map_err(|f| f.with_status(status.as_u16()))?;
    let checks = checks(ctx, &task.job, Some(response.headers()), partial, decoded)?;
    let rel = match known {
        Some(rel) => rel,
        None => match destination(ctx, task, &response).await? {
            Destination::Write(rel) => rel,
            Destination::Done(done) => return Ok(Prepared::Done(done)),
        },
    };
    Ok(Prepared::Body(Answer {
        response,
        rel,
        resumable,
        total,
        checks,
        decoded,
    }))
}
