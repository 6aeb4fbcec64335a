//! One download, one attempt at a time. An attempt goes through named
//! stages: the request (`request.rs`: with `Range` + `If-Range` when the
//! `.part` may be continued, starting over when the answer does not prove
//! the recorded version; the status checked before any file is touched),
//! [`destination`] (under `--content-disposition`, the name the answer
//! gives, claimed now), the body into `DEST.part` (`body.rs`'s one chunk
//! loop, here with the digest taken on the way; over several connections
//! with `split/`) and [`finish`] (length and digest checks, the rename). A
//! failed attempt never leaves a file under the final name. What it does
//! not do: decide whether to try again (`retry.rs`; [`fetch`] only asks),
//! schedule (`runner/`, `scheduler.rs`), or touch a file other than through `outdir/`.
//!
//! - `request.rs`: build and send a request, `.netrc`, the status check.
//! - `body.rs`: the chunk loop every download reads its body with (stalls,
//!   cancellation, `--limit-rate` and `--max-bytes` accounting).
//! - `destination.rs`: what is already at the destination (a file hashed
//!   first; a name a server gives, claimed when the answer comes).
//! - `resume.rs`: the note on a `.part`, which `.part` may be continued, and
//!   whether an answer proves the recorded version.
//! - `part.rs`: the temp file, its writes and its rename.
//! - `split/`: one file over several connections.

mod body;
mod destination;
mod finish;
mod part;
mod request;
mod resume;
mod split;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::anyhow;
use bytes::Bytes;
use reqwest::header::{ACCEPT_RANGES, ETAG, HeaderMap, LAST_MODIFIED};
use reqwest::{Response, StatusCode};
use sha2::{Digest, Sha256};

use self::body::{BodyError, Sink, Taken, cancelled};
use self::destination::{Destination, destination, verify_existing};
use self::finish::{Saved, finish, finish_from_part};
use self::part::PartFile;
use self::request::{Checked, check_status, request};
use self::resume::{Note, Ranges, Resumable, open_resumable};
use crate::digest::{digest_from_disk, hash_prefix};
use crate::error::FailureKind;
use crate::naming::part_path;
use crate::outcome::{Done, Failure, Outcome};
use crate::plan::Job;
use crate::progress::{FileBar, SLOW_FILE};
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
    /// Where the file goes, as reported: `job.path`, or the name the server
    /// gave under `--content-disposition`.
    path: PathBuf,
    /// Under `--content-disposition`: the name this download claimed. Kept
    /// across attempts, so a retry continues its own `.part`.
    claimed: Option<PathBuf>,
    /// Why a file already there is fetched again.
    replaced: Option<&'static str>,
    /// The status of the last answer an attempt got, for a task stopped
    /// while it waits for its next attempt.
    last_status: Option<u16>,
    /// Bytes of the file a `.part` held before this run fetched any (`None`
    /// until the first attempt looks): the report's `bytes` are the rest.
    held: Option<u64>,
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
        Outcome::new(masked(&self.job.url), Some(self.path), result)
            .with_attempts(self.attempts, self.started.elapsed())
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
    Retry {
        task: Task,
        /// Wait this long before the next attempt.
        wait: Duration,
        /// The server asked the whole host to wait (429/503 + Retry-After).
        pause_host: bool,
        /// A 429 without Retry-After: with `--rate`, slow the host down.
        slow_down: bool,
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
    if let Some(retry) = task.budget.next(ctx.retry_policy(), &failure) {
        return Step::Retry {
            task,
            wait: retry.wait,
            pause_host: retry.pause_host,
            slow_down: failure.kind == FailureKind::Http(429) && failure.retry_after.is_none(),
            error: failure.error,
        };
    }
    if task.attempts > 1 && failure.kind != FailureKind::Cancelled {
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
        digest: None,
        modified,
        etag,
        last_modified,
        replaced: task.replaced,
        status,
        connections: None,
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
    } = answer;
    let result = async {
        let (part, hasher) = open_part(ctx, &task.job, rel, resumable, response.headers())
            .await
            .map_err(|f| f.with_status(status.as_u16()))?;
        let body = Body {
            response,
            part,
            hasher,
            total,
        };
        let (part, digest) = stream_body(ctx, &task.job, &name, body).await?;
        finish(ctx, part, &task.job, Saved { digest, ..saved })
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
}

/// The request (continuing a `.part` when one may be), the status check and
/// the destination.
async fn prepare(ctx: &Ctx, task: &mut Task) -> Result<Prepared, Failure> {
    // The destination, when it is known before the answer (under
    // --content-disposition only once an attempt has claimed one).
    let known = if ctx.settings.content_disposition {
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
            return finish_from_part(ctx, &task.job, &rel, r, status, held)
                .await
                .map(Prepared::Done);
        }
    };
    let rel = match known {
        Some(rel) => rel,
        None => match destination(ctx, task, response.headers()).await? {
            Destination::Write(rel) => rel,
            Destination::Done(done) => return Ok(Prepared::Done(done)),
        },
    };
    Ok(Prepared::Body(Answer {
        response,
        rel,
        resumable,
        total,
    }))
}

/// How a file goes over several connections: how many, its size, where
/// the first answer's body starts, and the version every range must prove.
struct SplitPlan {
    mode: crate::settings::Split,
    size: u64,
    from: u64,
    note: Note,
}

/// Whether this answer's file goes over several connections: with
/// `--split` (or a `.part` written that way), a known size, and either a
/// proven range answer or a whole answer that offers ranges and names its
/// version; and enough bytes missing for two ranges of `--min-split-size`
/// (a `.part` with holes is continued this way whatever is missing).
fn split_plan(ctx: &Ctx, job: &Job, answer: &Answer) -> Option<SplitPlan> {
    let resumable = answer.resumable.as_ref();
    let sparse = resumable.is_some_and(|r| matches!(r.note.ranges(), Ranges::Sparse { .. }));
    let mode = ctx
        .settings
        .split
        .or(sparse.then_some(crate::settings::Split::Fixed(1)))?;
    let size = answer.total?;
    let min = ctx.settings.min_split_size;
    let (from, note) = match resumable {
        Some(r) => (r.len, r.note.clone()),
        None => {
            let headers = answer.response.headers();
            let ranges = headers
                .get(ACCEPT_RANGES)
                .and_then(|v| v.to_str().ok())
                .is_some_and(|v| v.trim().eq_ignore_ascii_case("bytes"));
            if answer.response.status() != StatusCode::OK || !ranges {
                return None;
            }
            (0, Note::for_answer(job.url.as_str(), headers)?)
        }
    };
    (sparse || size.saturating_sub(from) >= min.saturating_mul(2)).then_some(SplitPlan {
        mode,
        size,
        from,
        note,
    })
}

/// Fetches the file over several connections (`split/`), then checks
/// and renames it as [`finish`] does.
async fn over_connections(
    ctx: &Ctx,
    job: &Job,
    name: &str,
    answer: Answer,
    plan: SplitPlan,
    saved: Saved,
) -> Attempted {
    let Answer {
        response,
        rel,
        resumable,
        ..
    } = answer;
    let status = saved.status.as_u16();
    let fail = |e: anyhow::Error| Failure::new(FailureKind::of_write(&e), Some(status), e);
    let part = part_path(&rel);
    let opened = match resumable {
        Some(r) => positioned(r.file).map_err(|e| {
            fail(e.context(format!(
                "cannot reopen {}",
                ctx.out.display(&part).display()
            )))
        }),
        None => ctx.out.create(&part).map_err(fail),
    };
    let file = match opened {
        Ok(file) => file,
        Err(failure) => return Attempted::Done(Err(failure)),
    };
    let start = split::Start {
        url: &job.url,
        name,
        shown: ctx.out.display(&part).display().to_string(),
        file,
        note: plan.note,
        size: plan.size,
        from: plan.from,
    };
    let ended = split::download(ctx, start, plan.mode, response).await;
    let (file, connections) = match ended {
        split::Outcome::Complete { file, connections } => (file, connections),
        split::Outcome::Restart { file, why } => {
            tracing::debug!(
                "{}: {why:#}; starting over on one connection",
                masked(&job.url)
            );
            if let Err(err) = ctx.out.remove_own(&file, &part) {
                tracing::warn!("{err:#}");
            }
            return Attempted::Restart;
        }
        split::Outcome::Failed {
            file,
            failure,
            empty,
        } => {
            if empty && let Err(err) = ctx.out.remove_own(&file, &part) {
                tracing::warn!("{err:#}");
            }
            return Attempted::Done(Err(failure.with_status(status)));
        }
    };
    let result = async {
        // The bytes came in no fixed order: the digest is taken from the
        // disk, once.
        let (file, digest) = digest_from_disk(file, plan.size, job.sha256.is_some())
            .await
            .map_err(fail)?;
        let part = PartFile::append(&ctx.out, rel, file, plan.size);
        let saved = Saved {
            digest,
            connections: Some(connections),
            ..saved
        };
        finish(ctx, part, job, saved)
    }
    .await;
    Attempted::Done(result)
}

/// A `.part` opened to append, made fit for positioned writes (`pwrite`
/// ignores the offset on a file opened with `O_APPEND`).
fn positioned(file: std::fs::File) -> anyhow::Result<std::fs::File> {
    let flags = rustix::fs::fcntl_getfl(&file)?;
    rustix::fs::fcntl_setfl(&file, flags - rustix::fs::OFlags::APPEND)?;
    Ok(file)
}

/// The `.part` to write to (the proven one continued, or a fresh one) and
/// the hasher, already fed the bytes the `.part` holds.
async fn open_part<'a>(
    ctx: &'a Ctx,
    job: &Job,
    rel: PathBuf,
    resumable: Option<Resumable>,
    headers: &HeaderMap,
) -> Result<(PartFile<'a>, Option<Sha256>), Failure> {
    let Some(r) = resumable else {
        let note = Note::for_answer(job.url.as_str(), headers);
        let hasher = job.sha256.map(|_| Sha256::new());
        return Ok((PartFile::fresh(&ctx.out, rel, note), hasher));
    };
    if job.sha256.is_none() {
        return Ok((PartFile::append(&ctx.out, rel, r.file, r.len), None));
    }
    // The digest covers every byte of the file, the earlier ones too.
    let (file, hasher) = hash_prefix(r.file, r.len)
        .await
        .map_err(|e| Failure::new(FailureKind::of_write(&e), None, e))?;
    Ok((PartFile::append(&ctx.out, rel, file, r.len), Some(hasher)))
}

/// An answer's body on its way into its `.part`.
struct Body<'a> {
    response: Response,
    part: PartFile<'a>,
    hasher: Option<Sha256>,
    /// The file's whole length, when the answer says it.
    total: Option<u64>,
}

/// A download on one connection as a [`Sink`]: its `.part`, the digest
/// taken on the way, and its progress line (given once it runs a while).
struct PartSink<'a, 'c> {
    ctx: &'c Ctx,
    name: &'c str,
    part: PartFile<'a>,
    hasher: Option<Sha256>,
    total: Option<u64>,
    bar: Option<FileBar>,
    started: Instant,
}

impl Sink for PartSink<'_, '_> {
    fn put(&mut self, chunk: Bytes) -> Result<Taken, BodyError> {
        if let Some(hasher) = &mut self.hasher {
            hasher.update(&chunk);
        }
        if self.bar.is_none()
            && self.ctx.progress.shows_bars()
            && self.started.elapsed() >= SLOW_FILE
        {
            // A download that takes a while gets its line, whatever its size.
            self.bar = self.ctx.progress.file_bar(self.name, self.total, true);
            if let Some(bar) = &self.bar {
                bar.inc(self.part.len());
            }
        }
        if let Some(bar) = &self.bar {
            bar.inc(chunk.len() as u64);
        }
        let bytes = chunk.len();
        self.part.write(chunk).map_err(BodyError::Write)?;
        Ok(Taken { bytes, more: true })
    }
}

/// Streams the body into the `.part` until it ends, stalls, is cut or the
/// run stops; the bytes received are kept for a later resume when it fails.
async fn stream_body<'a>(
    ctx: &Ctx,
    job: &Job,
    name: &str,
    incoming: Body<'a>,
) -> Result<(PartFile<'a>, Option<[u8; 32]>), Failure> {
    let Body {
        mut response,
        part,
        hasher,
        total,
    } = incoming;
    let status = response.status().as_u16();
    let bar = ctx.progress.file_bar(name, total, false);
    if let Some(bar) = &bar {
        bar.inc(part.len());
    }
    let mut sink = PartSink {
        ctx,
        name,
        part,
        hasher,
        total,
        bar,
        started: Instant::now(),
    };
    let result = match body::read(ctx, &job.url, &mut response, None, &mut sink).await {
        Ok(_) => match total {
            Some(expected) if sink.part.len() != expected => Err(BodyError::Network(anyhow!(
                "truncated: received {} of {expected} bytes",
                sink.part.len()
            ))),
            _ => Ok(()),
        },
        Err(error) => Err(error),
    };
    let PartSink { part, hasher, .. } = sink;
    let Err(error) = result else {
        return Ok((part, hasher.map(|h| h.finalize().into())));
    };
    let bytes = part.len();
    // Every byte received is kept for a later resume.
    part.abandon(true);
    let (kind, error) = match error {
        BodyError::Network(e) => (FailureKind::Network, e),
        BodyError::Write(e) => (FailureKind::of_write(&e), e),
        BodyError::Cancelled => return Err(cancelled().with_bytes(bytes)),
    };
    Err(Failure::new(kind, Some(status), error).with_bytes(bytes))
}
