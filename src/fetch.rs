//! One attempt at one download: the request (with `Range` + `If-Range` when
//! a `.part` that haul recorded can be continued), the status check (before
//! any file is touched), the destination's claim when the server names the
//! file (`--content-disposition`), the body streamed chunk by chunk into
//! `DEST.part` (hashed on the way when a digest is expected), the length and
//! digest checks, and the rename to `DEST`. A failed attempt never leaves a
//! file under the final name, and every file access goes through
//! `outdir.rs`. Whether an answer may be appended to a `.part` is
//! `resume.rs`'s rule. It does not schedule or wait: it returns a [`Step`],
//! and the runner decides when a retry runs.

use std::fs::File;
use std::io::{IoSlice, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};
use std::time::{Duration, Instant, SystemTime};

use anyhow::{Context, anyhow};
use bytes::Bytes;
use reqwest::StatusCode;
use reqwest::header::{
    CONTENT_DISPOSITION, CONTENT_RANGE, HeaderMap, IF_MODIFIED_SINCE, IF_RANGE, LAST_MODIFIED,
    RANGE,
};
use sha2::{Digest, Sha256};
use tokio_util::sync::CancellationToken;
use url::Url;

use crate::claims::Claims;
use crate::cli::OnExists;
use crate::error::{FailureKind, backoff, retry_after};
use crate::naming::{part_path, safe_relative, suggested_name};
use crate::outdir::{Existing, OutDir};
use crate::plan::Job;
use crate::progress::Handle;
use crate::report::{Done, Failure, Outcome, masked};
use crate::resume::{self, Note};

/// Bytes gathered (as received, not copied) before one `writev` to the
/// `.part` file, on the transfer thread that receives them, as curl and
/// wget2 do. A small file is opened, written, renamed and closed there in
/// one go: a hand-off to another thread per file (a writer thread, the
/// blocking pool) cost two wake-ups and two context switches per file,
/// about a fifth more CPU on 10,000 × 16 KiB. Writing
/// as the bytes come keeps hyper's read buffers few and warm: holding 4 MiB
/// of them for a write on the blocking pool cost 40,000 page faults and
/// two thread hand-offs per step on 2 × 512 MiB (0.90 s → 0.71 s;
/// BENCHMARKS.md). On a disk slower than the network, the transfer
/// thread waits for it: the disk is then the limit anyway.
const WRITE_BUFFER: usize = 256 * 1024;
/// Past this much buffered by all downloads together, every chunk is
/// written as it comes: memory stays bounded whatever `--jobs` is.
const WRITE_BUDGET: usize = 32 * 1024 * 1024;

/// Body bytes buffered by every download of the process.
static HELD: AtomicUsize = AtomicUsize::new(0);

/// Bytes received are on disk within about this long, however slowly they
/// come (what a crash can lose, and what a later run can resume).
const WRITE_DELAY_MAX: Duration = Duration::from_secs(1);

/// What every download shares.
pub(crate) struct Ctx {
    pub(crate) client: reqwest::Client,
    /// `-H` headers, set on every request (repeats kept, and they win over
    /// the client's defaults such as User-Agent).
    pub(crate) headers: HeaderMap,
    /// `--dir`: every file access of a download goes through it.
    pub(crate) out: Arc<OutDir>,
    /// Names taken by downloads; a `Content-Disposition` name is claimed
    /// here when the answer arrives.
    pub(crate) claims: Arc<Claims>,
    pub(crate) on_exists: OnExists,
    pub(crate) content_disposition: bool,
    pub(crate) stall_timeout: Duration,
    pub(crate) timeout: Option<Duration>,
    pub(crate) retries: u32,
    pub(crate) retry_wait: Duration,
    pub(crate) resume: bool,
    pub(crate) progress: Handle,
    /// Cancelled on Ctrl-C, SIGTERM or `--fail-fast`: attempts in flight
    /// stop, keeping their `.part`.
    pub(crate) cancel: CancellationToken,
}

/// A job and what its attempts so far have used up.
#[derive(Debug)]
pub(crate) struct Task {
    pub(crate) job: Job,
    /// Requests made so far.
    pub(crate) attempts: u32,
    retries_used: u32,
    checksum_retry_used: bool,
    started: Instant,
    /// Where the file goes, as reported: `job.path`, or the name the server
    /// gave under `--content-disposition`.
    path: PathBuf,
    /// Under `--content-disposition`: the name this download claimed. Kept
    /// across attempts, so a retry continues its own `.part`.
    claimed: Option<PathBuf>,
    /// Why a file already there is fetched again.
    replaced: Option<&'static str>,
}

impl Task {
    pub(crate) fn new(job: Job) -> Task {
        Task {
            path: job.path.clone(),
            job,
            attempts: 0,
            retries_used: 0,
            checksum_retry_used: false,
            started: Instant::now(),
            claimed: None,
            replaced: None,
        }
    }

    /// The host whose requests a `Retry-After` pauses (host and port).
    pub(crate) fn host(&self) -> String {
        let url = &self.job.url;
        format!(
            "{}:{}",
            url.host_str().unwrap_or_default(),
            url.port_or_known_default().unwrap_or_default()
        )
    }

    /// The outcome for a task that never got its next attempt.
    pub(crate) fn into_outcome(self, failure: Failure) -> Outcome {
        self.finish(Err(failure))
    }

    fn finish(self, result: Result<Done, Failure>) -> Outcome {
        Outcome {
            url: masked(&self.job.url),
            path: Some(self.path),
            origin: None,
            result,
            attempts: self.attempts,
            elapsed: self.started.elapsed(),
        }
    }
}

/// How an attempt ended, for the runner.
pub(crate) enum Step {
    Finished(Outcome),
    Retry {
        task: Task,
        /// Wait this long before the next attempt.
        wait: Duration,
        /// The server asked the whole host to wait (429/503 + Retry-After).
        pause_host: bool,
        /// Why the attempt failed, for the log line.
        error: anyhow::Error,
    },
}

pub(crate) async fn fetch(ctx: Arc<Ctx>, mut task: Task) -> Step {
    if task.job.verify_existing {
        // A digest says what the file there must hold: no request when it
        // does (the planner found the file; hashing is this slot's work).
        task.job.verify_existing = false;
        match digest_of_existing(&ctx.out, &task.job.rel).await {
            Ok(Some(digest)) if Some(digest) == task.job.sha256 => {
                let done = Done::Skipped {
                    sha256: Some(digest),
                };
                return Step::Finished(task.finish(Ok(done)));
            }
            Ok(Some(_)) => task.replaced = Some("sha256 mismatch"),
            Ok(None) => {}
            Err(err) => {
                let failure = Failure::new(FailureKind::Refused, None, err);
                return Step::Finished(task.finish(Err(failure)));
            }
        }
    }
    task.attempts += 1;
    let failure = match attempt(&ctx, &mut task).await {
        Ok(done) => return Step::Finished(task.finish(Ok(done))),
        Err(failure) => failure,
    };
    if failure.kind == FailureKind::Checksum && !task.checksum_retry_used {
        // Exactly one more attempt from zero, whatever --retries says (the
        // `.part` was removed, so nothing is resumed).
        task.checksum_retry_used = true;
        return Step::Retry {
            task,
            wait: Duration::ZERO,
            pause_host: false,
            error: failure.error,
        };
    }
    if failure.kind.is_transient() && task.retries_used < ctx.retries {
        task.retries_used += 1;
        let (wait, pause_host) = match failure.retry_after {
            Some(wait) => (wait, matches!(failure.kind, FailureKind::Http(429 | 503))),
            None => (backoff(ctx.retry_wait, task.retries_used), false),
        };
        return Step::Retry {
            task,
            wait,
            pause_host,
            error: failure.error,
        };
    }
    let mut failure = failure;
    if task.attempts > 1 && failure.kind != FailureKind::Cancelled {
        failure.error = failure
            .error
            .context(format!("gave up after {} attempts", task.attempts));
    }
    Step::Finished(task.finish(Err(failure)))
}

/// A `.part` this download may continue: opened, its length, its note.
struct Resumable {
    file: File,
    len: u64,
    note: Note,
}

/// One attempt (one request, or two when a range answer proves to be of
/// another version and the file starts over).
async fn attempt(ctx: &Ctx, task: &mut Task) -> Result<Done, Failure> {
    let job = &task.job;
    let url = job.url.as_str();
    // The destination, when it is known before the answer (under
    // --content-disposition only once an attempt has claimed one).
    let known = if ctx.content_disposition {
        task.claimed.clone()
    } else {
        Some(job.rel.clone())
    };
    let mut resumable = match &known {
        Some(rel) if ctx.resume && (job.had_part || task.attempts > 1) => {
            open_resumable(&ctx.out, &part_path(rel), url)
                .map_err(|e| Failure::new(FailureKind::Refused, None, e))?
        }
        _ => None,
    };

    let mut response = loop {
        let response = send(ctx, job, resumable.as_ref()).await?;
        let Some(r) = &resumable else { break response };
        let (status, headers) = (response.status(), response.headers());
        // Bytes are appended only when the answer proves it is the version
        // the `.part` holds (resume.rs); otherwise the file starts over.
        let proven = match status {
            StatusCode::PARTIAL_CONTENT => {
                content_range_start(headers).is_some_and(|(start, _)| start == r.len)
                    && r.note.proves(headers)
            }
            StatusCode::RANGE_NOT_SATISFIABLE => {
                unsatisfied_range_total(headers) == Some(r.len) && r.note.proves(headers)
            }
            // An error: the `.part` stays for a later attempt.
            _ if !status.is_success() => true,
            _ => false,
        };
        if proven {
            break response;
        }
        let old = resumable.take().expect("checked above");
        let part = part_path(known.as_deref().expect("resuming a known name"));
        if let Err(err) = ctx.out.remove_own(&old.file, &part) {
            tracing::warn!("{err:#}");
        }
        if status.is_success() && status != StatusCode::PARTIAL_CONTENT {
            // A whole answer (200): the server ignored the range or the
            // version changed. Its body is the file, from zero.
            break response;
        }
        tracing::debug!(
            "{}: the range answer ({status}) is not of the recorded version; starting over",
            masked(&job.url)
        );
        task.attempts += 1;
    };

    let status = response.status();
    let fail = |kind, error: anyhow::Error| Failure::new(kind, Some(status.as_u16()), error);
    if status == StatusCode::NOT_MODIFIED && ctx.on_exists == OnExists::Update {
        return Ok(Done::NotModified {
            http_status: status.as_u16(),
        });
    }
    if !status.is_success() {
        if status == StatusCode::RANGE_NOT_SATISFIABLE
            && let (Some(r), Some(rel)) = (resumable, &known)
        {
            // Proven above: the `.part` already holds the whole version.
            return finish_from_part(ctx, job, rel, r, status).await;
        }
        // No file is touched for an error answer: its body is not the
        // resource, so it is never written, not even into a `.part`.
        let mut failure = fail(FailureKind::Http(status.as_u16()), anyhow!("HTTP {status}"));
        failure.retry_after = retry_after(response.headers());
        return Err(failure);
    }
    if status == StatusCode::PARTIAL_CONTENT && resumable.is_none() {
        return Err(fail(
            FailureKind::Network,
            anyhow!("unexpected 206 Partial Content to a request without Range"),
        ));
    }
    let offset = resumable.as_ref().map_or(0, |r| r.len);
    let total = match offset {
        0 => response.content_length(),
        _ => content_range_start(response.headers()).and_then(|(_, total)| total),
    };

    let rel = match known {
        Some(rel) => rel,
        None => {
            // --content-disposition: the name is claimed now, before any
            // byte is written, first come first served.
            let rel = answer_name(&ctx.claims, job, response.headers())
                .map_err(|e| fail(FailureKind::Refused, e))?;
            task.path = ctx.out.display(&rel);
            task.claimed = Some(rel.clone());
            match ctx.out.existing(&rel) {
                Ok(Existing::File { .. }) => match ctx.on_exists {
                    OnExists::Skip if job.sha256.is_some() => {
                        let digest = digest_of_existing(&ctx.out, &rel)
                            .await
                            .map_err(|e| fail(FailureKind::Refused, e))?;
                        if digest.is_some() && digest == job.sha256 {
                            return Ok(Done::Skipped { sha256: digest });
                        }
                        task.replaced = digest.map(|_| "sha256 mismatch");
                    }
                    OnExists::Skip => return Ok(Done::Skipped { sha256: None }),
                    OnExists::Update | OnExists::Overwrite => {}
                },
                Ok(Existing::Other(what)) => {
                    let error = anyhow!("refusing {}: it is {what}", task.path.display());
                    return Err(fail(FailureKind::Refused, error));
                }
                Ok(Existing::Missing | Existing::Symlink) => {}
                Err(err) => return Err(fail(FailureKind::Refused, err)),
            }
            rel
        }
    };
    let job = &task.job;

    let modified = response
        .headers()
        .get(LAST_MODIFIED)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| httpdate::parse_http_date(v).ok());
    let mut hasher = job.sha256.map(|_| Sha256::new());
    let mut part = match resumable {
        Some(r) => {
            let file = match &mut hasher {
                Some(hasher) => {
                    // The digest covers every byte of the file, the
                    // earlier ones too.
                    let (file, state) = hash_prefix(r.file, r.len)
                        .await
                        .map_err(|e| fail(FailureKind::of_write(&e), e))?;
                    *hasher = state;
                    file
                }
                None => r.file,
            };
            PartFile::append(&ctx.out, rel, file, offset)
        }
        None => PartFile::fresh(&ctx.out, rel, Note::for_answer(url, response.headers())),
    };
    let name = task.path.file_name().unwrap_or_default().to_string_lossy();
    let bar = ctx.progress.file_bar(&name, total);
    if let Some(bar) = &bar {
        bar.inc(part.len());
    }

    let body = async {
        loop {
            let chunk = tokio::select! {
                chunk = tokio::time::timeout(ctx.stall_timeout, response.chunk()) => chunk,
                () = ctx.cancel.cancelled() => return Err(BodyError::Cancelled),
            };
            let chunk = chunk
                .map_err(|_| BodyError::Network(stalled(ctx.stall_timeout)))?
                .map_err(|e| {
                    BodyError::Network(network_error(e, &job.url).context("body transfer failed"))
                })?;
            let Some(chunk) = chunk else { break };
            if let Some(hasher) = &mut hasher {
                hasher.update(&chunk);
            }
            ctx.progress.add_bytes(chunk.len() as u64);
            if let Some(bar) = &bar {
                bar.inc(chunk.len() as u64);
            }
            part.write(chunk).map_err(BodyError::Write)?;
        }
        if let Some(expected) = total
            && part.len() != expected
        {
            return Err(BodyError::Network(anyhow!(
                "truncated: received {} of {expected} bytes",
                part.len()
            )));
        }
        Ok(())
    };
    if let Err(error) = body.await {
        let bytes = part.len();
        // Every byte received is kept for a later resume.
        part.abandon(true);
        let (kind, error) = match error {
            BodyError::Network(e) => (FailureKind::Network, e),
            BodyError::Write(e) => (FailureKind::of_write(&e), e),
            BodyError::Cancelled => return Err(cancelled()),
        };
        let mut failure = fail(kind, error);
        failure.bytes = bytes;
        return Err(failure);
    }

    let digest: Option<[u8; 32]> = hasher.map(|h| h.finalize().into());
    let bytes = part.len();
    if let Err(mut failure) = check_digest(job.sha256, digest) {
        // Wrong bytes are worth nothing for a later resume.
        part.abandon(false);
        failure.http_status = Some(status.as_u16());
        failure.bytes = bytes;
        return Err(failure);
    }
    part.finish(modified).map_err(|e| {
        let mut failure = fail(FailureKind::of_write(&e), e);
        failure.bytes = bytes;
        failure
    })?;
    Ok(Done::Saved {
        http_status: status.as_u16(),
        bytes,
        sha256: digest,
        replaced: task.replaced,
    })
}

/// Sends the request for `job`, continuing `resumable` when given.
async fn send(
    ctx: &Ctx,
    job: &Job,
    resumable: Option<&Resumable>,
) -> Result<reqwest::Response, Failure> {
    let fail = |kind, error: anyhow::Error| Failure::new(kind, None, error);
    let mut request = ctx.client.get(job.url.clone()).headers(ctx.headers.clone());
    if let Some(timeout) = ctx.timeout {
        request = request.timeout(timeout);
    }
    if let Some(r) = resumable {
        request = request
            .header(RANGE, format!("bytes={}-", r.len))
            .header(IF_RANGE, r.note.if_range());
    }
    if ctx.on_exists == OnExists::Update
        && let Some(modified) = job.modified
    {
        request = request.header(IF_MODIFIED_SINCE, httpdate::fmt_http_date(modified));
    }
    let send = tokio::time::timeout(ctx.stall_timeout, request.send());
    tokio::select! {
        sent = send => sent
            .map_err(|_| fail(FailureKind::Network, stalled(ctx.stall_timeout)))?
            .map_err(|e| fail(FailureKind::of_reqwest(&e), network_error(e, &job.url))),
        () = ctx.cancel.cancelled() => Err(cancelled()),
    }
}

/// A reqwest error without the URL it carries (which may hold a password):
/// the failure line names the URL, masked. A redirect target is named, masked.
fn network_error(err: reqwest::Error, url: &Url) -> anyhow::Error {
    let elsewhere = err.url().filter(|at| *at != url).map(masked);
    let err = anyhow::Error::new(err.without_url());
    match elsewhere {
        Some(at) => err.context(format!("at {at}")),
        None => err,
    }
}

/// The name the answer gives the file under `--content-disposition` (or the
/// name from the URL when it suggests none), checked and claimed.
fn answer_name(claims: &Claims, job: &Job, headers: &HeaderMap) -> anyhow::Result<PathBuf> {
    let suggested = headers
        .get(CONTENT_DISPOSITION)
        .and_then(|v| v.to_str().ok())
        .and_then(suggested_name);
    let rel = match suggested {
        None => job.rel.clone(),
        Some(Ok(name)) => safe_relative(&job.rel.with_file_name(name).to_string_lossy())?,
        Some(Err(unsafe_name)) => return Err(unsafe_name.into()),
    };
    claims
        .claim(&rel, &masked(&job.url))
        .map_err(|collision| anyhow!(collision.0))?;
    Ok(rel)
}

/// The `.part` at `part` if this download may continue it: a regular file
/// of its own (one link, inside `--dir`), not empty, whose note says it
/// holds the start of this URL's body.
fn open_resumable(out: &OutDir, part: &Path, url: &str) -> anyhow::Result<Option<Resumable>> {
    let Some(file) = out.open_append(part)? else {
        return Ok(None);
    };
    let len = file
        .metadata()
        .with_context(|| format!("cannot look at {}", out.display(part).display()))?
        .len();
    let note = Note::read(&file).filter(|note| note.continues(url));
    Ok(note
        .filter(|_| len > 0)
        .map(|note| Resumable { file, len, note }))
}

enum BodyError {
    Network(anyhow::Error),
    Write(anyhow::Error),
    Cancelled,
}

fn cancelled() -> Failure {
    Failure::new(FailureKind::Cancelled, None, anyhow!("interrupted"))
}

fn check_digest(want: Option<[u8; 32]>, got: Option<[u8; 32]>) -> Result<(), Failure> {
    match (want, got) {
        (Some(want), Some(got)) if want != got => Err(Failure::new(
            FailureKind::Checksum,
            None,
            anyhow!(
                "sha256 mismatch: expected {}, got {}",
                hex::encode(want),
                hex::encode(got)
            ),
        )),
        _ => Ok(()),
    }
}

/// `416 Range Not Satisfiable` to `Range: bytes=LEN-`, proven to be of the
/// recorded version, with the resource exactly `LEN` bytes long: the
/// `.part` already holds all of it (the run that wrote it stopped before
/// the rename).
async fn finish_from_part(
    ctx: &Ctx,
    job: &Job,
    rel: &Path,
    resumable: Resumable,
    status: StatusCode,
) -> Result<Done, Failure> {
    let fail = |kind, error: anyhow::Error| Failure::new(kind, Some(status.as_u16()), error);
    let Resumable { file, len, note } = resumable;
    let (file, digest) = match job.sha256 {
        Some(_) => {
            let (file, hasher) = hash_prefix(file, len)
                .await
                .map_err(|e| fail(FailureKind::of_write(&e), e))?;
            (file, Some(hasher.finalize().into()))
        }
        None => (file, None),
    };
    if let Err(failure) = check_digest(job.sha256, digest) {
        if let Err(err) = ctx.out.remove_own(&file, &part_path(rel)) {
            tracing::warn!("{err:#}");
        }
        return Err(failure);
    }
    let part = PartFile::append(&ctx.out, rel.to_path_buf(), file, len);
    part.finish(note.modified())
        .map_err(|e| fail(FailureKind::of_write(&e), e))?;
    Ok(Done::Saved {
        http_status: status.as_u16(),
        bytes: len,
        sha256: digest,
        replaced: None,
    })
}

/// `Content-Range: bytes START-END/TOTAL` → `(START, TOTAL)`; TOTAL may be
/// `*`. See <https://www.rfc-editor.org/rfc/rfc9110#section-14.4>.
fn content_range_start(headers: &HeaderMap) -> Option<(u64, Option<u64>)> {
    let value = headers.get(CONTENT_RANGE)?.to_str().ok()?;
    let (range, total) = value.trim().strip_prefix("bytes ")?.split_once('/')?;
    let (start, end) = range.split_once('-')?;
    let (start, end): (u64, u64) = (start.trim().parse().ok()?, end.trim().parse().ok()?);
    if end < start {
        return None;
    }
    let total = match total.trim() {
        "*" => None,
        total => {
            let total: u64 = total.parse().ok()?;
            if end >= total {
                return None;
            }
            Some(total)
        }
    };
    Some((start, total))
}

/// `Content-Range: bytes */TOTAL` (with a 416) → TOTAL.
fn unsatisfied_range_total(headers: &HeaderMap) -> Option<u64> {
    let value = headers.get(CONTENT_RANGE)?.to_str().ok()?;
    value.trim().strip_prefix("bytes */")?.trim().parse().ok()
}

/// The digest of the regular file at `rel`, hashed on the blocking pool;
/// `None` when no regular file is there (any more).
async fn digest_of_existing(out: &OutDir, rel: &Path) -> anyhow::Result<Option<[u8; 32]>> {
    let Some(file) = out.open_read(rel)? else {
        return Ok(None);
    };
    let len = file
        .metadata()
        .with_context(|| format!("cannot look at {}", out.display(rel).display()))?
        .len();
    let (_, hasher) = hash_prefix(file, len)
        .await
        .with_context(|| format!("cannot read {}", out.display(rel).display()))?;
    Ok(Some(hasher.finalize().into()))
}

/// Hashes the first `len` bytes of `file` on the blocking pool (positioned
/// reads: an append-mode file is left as it was) and hands it back.
async fn hash_prefix(file: File, len: u64) -> anyhow::Result<(File, Sha256)> {
    tokio::task::spawn_blocking(move || {
        let mut hasher = Sha256::new();
        let mut buf = vec![0; WRITE_BUFFER];
        let mut at = 0;
        while at < len {
            let want = buf.len().min((len - at) as usize);
            let n = file.read_at(&mut buf[..want], at).context("cannot read")?;
            if n == 0 {
                anyhow::bail!("the file is shorter than {len} bytes");
            }
            hasher.update(&buf[..n]);
            at += n as u64;
        }
        Ok((file, hasher))
    })
    .await
    .context("hashing task failed")?
}

fn stalled(limit: Duration) -> anyhow::Error {
    let limit = if limit.subsec_millis() == 0 {
        format!("{}s", limit.as_secs())
    } else {
        format!("{}ms", limit.as_millis())
    };
    anyhow!("stalled: no data for {limit} (--stall-timeout)")
}

/// `DEST.part` and the bytes not yet written to it. The body's chunks are
/// kept as they arrived (no copy) and written with one `writev` per
/// [`WRITE_BUFFER`], on the transfer thread. A fresh file is created on the
/// first write, so an attempt that fails before its first byte leaves
/// nothing behind.
struct PartFile<'a> {
    out: &'a OutDir,
    /// The destination, relative to `--dir`.
    rel: PathBuf,
    /// `DEST.part`, relative to `--dir`.
    part: PathBuf,
    /// A fresh file's resume note, recorded when the file is created
    /// (unless the whole body is written in that one step).
    note: Option<Note>,
    /// The file carries a note, to be removed before the rename.
    noted: bool,
    /// Writes so far: a file created and finished in one (a small body)
    /// was never left alone between its creation and its rename.
    flushes: u32,
    /// `None` before the first write of a fresh file.
    file: Option<File>,
    chunks: Vec<Bytes>,
    buffered: usize,
    /// When the oldest buffered chunk arrived.
    buffered_since: Option<Instant>,
    /// Bytes in the file on disk.
    written: u64,
    /// What this download has counted in [`HELD`].
    held: usize,
}

impl<'a> PartFile<'a> {
    /// A new `.part`, replacing whatever was at that name.
    fn fresh(out: &'a OutDir, rel: PathBuf, note: Option<Note>) -> PartFile<'a> {
        PartFile::new(out, rel, note, None, 0)
    }

    /// The opened `.part` of a resumed download, `len` bytes long.
    fn append(out: &'a OutDir, rel: PathBuf, file: File, len: u64) -> PartFile<'a> {
        let mut part = PartFile::new(out, rel, None, Some(file), len);
        part.noted = true;
        part
    }

    fn new(
        out: &'a OutDir,
        rel: PathBuf,
        note: Option<Note>,
        file: Option<File>,
        written: u64,
    ) -> PartFile<'a> {
        PartFile {
            out,
            part: part_path(&rel),
            rel,
            note,
            noted: false,
            flushes: 0,
            file,
            chunks: Vec::new(),
            buffered: 0,
            buffered_since: None,
            written,
            held: 0,
        }
    }

    /// Brings [`HELD`] up to date with what this download holds now.
    fn account(&mut self) {
        let now = self.buffered;
        if now >= self.held {
            HELD.fetch_add(now - self.held, Relaxed);
        } else {
            HELD.fetch_sub(self.held - now, Relaxed);
        }
        self.held = now;
    }

    /// Bytes of the file so far (on disk or buffered).
    fn len(&self) -> u64 {
        self.written + self.buffered as u64
    }

    fn write(&mut self, chunk: Bytes) -> anyhow::Result<()> {
        self.buffered += chunk.len();
        self.chunks.push(chunk);
        self.account();
        let since = *self.buffered_since.get_or_insert_with(Instant::now);
        // Past the budget every chunk goes to the disk as it comes.
        let step = if HELD.load(Relaxed) <= WRITE_BUDGET {
            WRITE_BUFFER
        } else {
            0
        };
        if self.buffered >= step || since.elapsed() >= WRITE_DELAY_MAX {
            self.flush(false)?;
        }
        Ok(())
    }

    /// Writes the buffered chunks, creating the `.part` on the first call
    /// (with its note unless this is the `last` write). A chunk that failed
    /// to be written is dropped, never written twice: the file stays a
    /// prefix of the body.
    fn flush(&mut self, last: bool) -> anyhow::Result<()> {
        self.flushes += 1;
        let chunks = std::mem::take(&mut self.chunks);
        let len = std::mem::take(&mut self.buffered);
        self.buffered_since = None;
        self.account();
        let file = match &mut self.file {
            Some(file) => file,
            None => {
                let file = self.out.create(&self.part)?;
                if !last && let Some(note) = self.note.take() {
                    note.write(&file);
                    self.noted = true;
                }
                self.file.insert(file)
            }
        };
        write_chunks(file, &chunks)
            .with_context(|| format!("cannot write {}", self.out.display(&self.part).display()))?;
        self.written += len as u64;
        Ok(())
    }

    /// Writes what is buffered, sets the modification time, removes the
    /// note and renames `.part` to the destination, if the `.part` is still
    /// this download's file.
    fn finish(mut self, modified: Option<SystemTime>) -> anyhow::Result<()> {
        let result = self.flush(true).and_then(|()| {
            let file = self.file.as_ref().expect("created by flush");
            if let Some(modified) = modified {
                // Best effort: `--on-exists update` relies on it, but a file
                // system without mtimes should not fail the download.
                let _ = file.set_modified(modified);
            }
            if self.noted {
                resume::clear(file).with_context(|| {
                    format!("cannot clear {}", self.out.display(&self.part).display())
                })?;
            }
            let in_one_go = self.flushes == 1 && !self.noted;
            self.out.promote(file, &self.part, &self.rel, !in_one_go)
        });
        if result.is_err() {
            self.abandon(true);
        }
        result
    }

    /// Gives up: keeps a non-empty `.part` for a later resume when `keep`,
    /// removes it otherwise (only if it is still this download's file).
    fn abandon(mut self, keep: bool) {
        if keep && self.buffered > 0 {
            // Best effort: a write error here was probably the cause.
            let _ = self.flush(false);
        }
        if let Some(file) = self.file.take()
            && (!keep || self.written == 0)
            && let Err(err) = self.out.remove_own(&file, &self.part)
        {
            tracing::warn!("{err:#}");
        }
    }
}

impl Drop for PartFile<'_> {
    fn drop(&mut self) {
        // Whatever path ended the download, its bytes leave the budget.
        HELD.fetch_sub(self.held, Relaxed);
    }
}

/// `write_all` for a list of chunks, with as few `writev` calls as the
/// kernel allows.
fn write_chunks(file: &mut File, chunks: &[Bytes]) -> std::io::Result<()> {
    let mut slices: Vec<IoSlice<'_>> = chunks.iter().map(|c| IoSlice::new(c)).collect();
    let mut slices = &mut slices[..];
    IoSlice::advance_slices(&mut slices, 0);
    while !slices.is_empty() {
        match file.write_vectored(slices) {
            Ok(0) => return Err(std::io::ErrorKind::WriteZero.into()),
            Ok(n) => IoSlice::advance_slices(&mut slices, n),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::HeaderValue;

    fn headers(name: reqwest::header::HeaderName, value: &str) -> HeaderMap {
        let mut map = HeaderMap::new();
        map.insert(name, HeaderValue::from_str(value).unwrap());
        map
    }

    #[test]
    fn content_range_parsing() {
        let cases = [
            ("bytes 0-499/1234", Some((0, Some(1234)))),
            ("bytes 500-1233/1234", Some((500, Some(1234)))),
            ("bytes 500-1233/*", Some((500, None))),
            ("bytes 500-1234/1234", None),
            ("bytes 9-8/20", None),
            ("bytes */1234", None),
            ("items 0-1/2", None),
            ("bytes x-1/2", None),
        ];
        for (value, want) in cases {
            assert_eq!(
                content_range_start(&headers(CONTENT_RANGE, value)),
                want,
                "{value}"
            );
        }
        assert_eq!(
            unsatisfied_range_total(&headers(CONTENT_RANGE, "bytes */1000")),
            Some(1000)
        );
        assert_eq!(
            unsatisfied_range_total(&headers(CONTENT_RANGE, "bytes 0-1/1000")),
            None
        );
    }
}
