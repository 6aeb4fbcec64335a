//! One attempt at one download: the request (with `Range` + `If-Range` when
//! a `.part` that haul recorded can be continued), the status check (before
//! any file is touched), the body streamed chunk by chunk into `DEST.part`
//! (hashed on the way when a digest is expected), the length and digest
//! checks, and the rename to `DEST`. A failed attempt never leaves a file
//! under the final name. It does not schedule or wait: it returns a
//! [`Step`], and the runner decides when a retry runs.

use std::fs::{File, OpenOptions};
use std::io::{IoSlice, Read, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};
use std::time::{Duration, Instant, SystemTime};

use anyhow::{Context, anyhow};
use bytes::Bytes;
use reqwest::StatusCode;
use reqwest::header::{
    CONTENT_DISPOSITION, CONTENT_RANGE, ETAG, HeaderMap, IF_MODIFIED_SINCE, IF_RANGE,
    LAST_MODIFIED, RANGE,
};
use sha2::{Digest, Sha256};
use tokio_util::sync::CancellationToken;

use crate::cli::OnExists;
use crate::error::{FailureKind, backoff, retry_after};
use crate::naming::{content_disposition_name, part_path, safe_relative};
use crate::plan::Job;
use crate::progress::Handle;
use crate::report::{Done, Failure, Outcome};

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

/// The extended attribute on `DEST.part` that records which URL and which
/// version of it (`ETag` or `Last-Modified`) its bytes came from. Only a
/// `.part` carrying it is ever continued; it goes away with the file.
const RESUME_XATTR: &str = "user.haul.resume";

/// What every download shares.
pub(crate) struct Ctx {
    pub(crate) client: reqwest::Client,
    /// `-H` headers, set on every request (repeats kept, and they win over
    /// the client's defaults such as User-Agent).
    pub(crate) headers: HeaderMap,
    /// `--dir`, canonicalised once: symlinks must not lead out of it.
    pub(crate) root: PathBuf,
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
}

impl Task {
    pub(crate) fn new(job: Job) -> Task {
        Task {
            job,
            attempts: 0,
            retries_used: 0,
            checksum_retry_used: false,
            started: Instant::now(),
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
        let path = self.job.path.clone();
        self.finish(path, Err(failure))
    }

    fn finish(self, path: PathBuf, result: Result<Done, Failure>) -> Outcome {
        Outcome {
            url: self.job.url.to_string(),
            path: Some(path),
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
    task.attempts += 1;
    let mut path = task.job.path.clone();
    let result = attempt(&ctx, &task.job, task.attempts > 1, &mut path).await;
    let failure = match result {
        Ok(done) => return Step::Finished(task.finish(path, Ok(done))),
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
    Step::Finished(task.finish(path, Err(failure)))
}

/// A `.part` that may be continued: its length and the validator to send.
struct Resumable {
    len: u64,
    validator: String,
}

/// One attempt. `path` is updated when the server names the file.
/// One attempt; `retry` when an earlier attempt may have left a `.part`.
async fn attempt(ctx: &Ctx, job: &Job, retry: bool, path: &mut PathBuf) -> Result<Done, Failure> {
    let fail = |kind, error: anyhow::Error| Failure::new(kind, None, error);
    let url = job.url.as_str();
    let part_path = part_path(&job.path);
    // A name from Content-Disposition is known only from the answer, so
    // such downloads start over instead of guessing which `.part` is theirs.
    let resumable = if ctx.resume && !ctx.content_disposition && (job.had_part || retry) {
        // A stat and an xattr read: cheaper inline than a trip to the
        // blocking pool.
        read_resumable(&part_path, url)
    } else {
        None
    };

    let mut request = ctx.client.get(job.url.clone()).headers(ctx.headers.clone());
    if let Some(timeout) = ctx.timeout {
        request = request.timeout(timeout);
    }
    if let Some(r) = &resumable {
        request = request
            .header(RANGE, format!("bytes={}-", r.len))
            .header(IF_RANGE, &r.validator);
    }
    if ctx.on_exists == OnExists::Update
        && let Ok(modified) = std::fs::metadata(&job.path).and_then(|m| m.modified())
    {
        request = request.header(IF_MODIFIED_SINCE, httpdate::fmt_http_date(modified));
    }
    let send = tokio::time::timeout(ctx.stall_timeout, request.send());
    let mut response = tokio::select! {
        sent = send => sent
            .map_err(|_| fail(FailureKind::Network, stalled(ctx.stall_timeout)))?
            .map_err(|e| fail(FailureKind::of_reqwest(&e), e.into()))?,
        () = ctx.cancel.cancelled() => return Err(cancelled()),
    };
    let status = response.status();
    if status == StatusCode::NOT_MODIFIED && ctx.on_exists == OnExists::Update {
        return Ok(Done::NotModified {
            http_status: status.as_u16(),
        });
    }
    let fail = |kind, error: anyhow::Error| Failure::new(kind, Some(status.as_u16()), error);
    if status == StatusCode::RANGE_NOT_SATISFIABLE
        && let Some(r) = &resumable
    {
        return finish_from_part(ctx, job, path, r, response.headers(), status).await;
    }
    if !status.is_success() {
        // No file is touched for an error answer: its body is not the
        // resource, so it is never written, not even into a `.part`.
        let mut failure = fail(FailureKind::Http(status.as_u16()), anyhow!("HTTP {status}"));
        failure.retry_after = retry_after(response.headers());
        return Err(failure);
    }

    // Where the body goes, and from which offset.
    let offset = match (&resumable, status) {
        (Some(r), StatusCode::PARTIAL_CONTENT) => {
            let problem = match content_range_start(response.headers()) {
                Some((start, _)) if start != r.len => Some("with another range"),
                None => Some("without a usable Content-Range"),
                // A server that ignores If-Range may send the tail of a
                // newer version: never append it to the old bytes.
                Some(_) if !same_version(&r.validator, response.headers()) => {
                    Some("with bytes of another version")
                }
                Some(_) => None,
            };
            if let Some(problem) = problem {
                let _ = tokio::fs::remove_file(&part_path).await;
                return Err(fail(
                    FailureKind::Network,
                    anyhow!("the server answered the range request {problem}; starting over"),
                ));
            }
            r.len
        }
        (_, StatusCode::PARTIAL_CONTENT) => {
            return Err(fail(
                FailureKind::Network,
                anyhow!("unexpected 206 Partial Content to a request without Range"),
            ));
        }
        // 200: the server ignored the range or the validator changed: the
        // download starts from zero, the old bytes are dropped.
        _ => 0,
    };
    let total = match offset {
        0 => response.content_length(),
        _ => content_range_start(response.headers()).and_then(|(_, total)| total),
    };

    let mut rel = job.rel.clone();
    if ctx.content_disposition
        && let Some(name) = response
            .headers()
            .get(CONTENT_DISPOSITION)
            .and_then(|v| v.to_str().ok())
            .and_then(content_disposition_name)
    {
        let suggested = rel.with_file_name(&name);
        rel = safe_relative(&suggested.to_string_lossy())
            .map_err(|e| fail(FailureKind::Refused, e.into()))?;
        *path = job.path.with_file_name(&name);
        if ctx.on_exists == OnExists::Skip && std::fs::symlink_metadata(&*path).is_ok() {
            return Ok(Done::Skipped);
        }
    }

    let modified = response
        .headers()
        .get(LAST_MODIFIED)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| httpdate::parse_http_date(v).ok());
    let mut hasher = job.sha256.map(|_| Sha256::new());
    let mut part = if offset > 0 {
        if let Some(hasher) = &mut hasher {
            // The digest covers every byte of the file, the earlier ones too.
            *hasher = hash_file(&part_path, offset)
                .await
                .map_err(|e| fail(FailureKind::of_write(&e), e))?;
        }
        PartFile::append(ctx.root.clone(), rel, path.clone(), offset)
    } else {
        PartFile::fresh(
            ctx.root.clone(),
            rel,
            path.clone(),
            validator(response.headers()).map(|v| format!("{url}\n{v}")),
        )
    };
    let name = path.file_name().unwrap_or_default().to_string_lossy();
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
                .map_err(|e| BodyError::Network(anyhow!(e).context("body transfer failed")))?;
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
    })
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

/// `416 Range Not Satisfiable` to `Range: bytes=LEN-`: when the resource is
/// exactly `LEN` bytes long, the `.part` already holds all of it (the run
/// that wrote it stopped before the rename). Anything else starts over.
async fn finish_from_part(
    ctx: &Ctx,
    job: &Job,
    path: &Path,
    resumable: &Resumable,
    headers: &HeaderMap,
    status: StatusCode,
) -> Result<Done, Failure> {
    let fail = |kind, error: anyhow::Error| Failure::new(kind, Some(status.as_u16()), error);
    let part_path = part_path(path);
    let complete = unsatisfied_range_total(headers) == Some(resumable.len);
    if !complete {
        let _ = tokio::fs::remove_file(&part_path).await;
        return Err(fail(
            FailureKind::Network,
            anyhow!("the server cannot continue the partial download; starting over"),
        ));
    }
    let digest = match job.sha256 {
        Some(_) => Some(
            hash_file(&part_path, resumable.len)
                .await
                .map_err(|e| fail(FailureKind::of_write(&e), e))?
                .finalize()
                .into(),
        ),
        None => None,
    };
    if let Err(failure) = check_digest(job.sha256, digest) {
        let _ = tokio::fs::remove_file(&part_path).await;
        return Err(failure);
    }
    let len = resumable.len;
    let part = PartFile::append(ctx.root.clone(), job.rel.clone(), path.into(), len);
    part.finish(None)
        .map_err(|e| fail(FailureKind::of_write(&e), e))?;
    Ok(Done::Saved {
        http_status: status.as_u16(),
        bytes: resumable.len,
        sha256: digest,
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

/// The validator to record for a later `If-Range`: a strong ETag, else
/// Last-Modified. Weak ETags cannot be used in `If-Range` (RFC 9110 13.1.5).
fn validator(headers: &HeaderMap) -> Option<String> {
    let etag = headers.get(ETAG).and_then(|v| v.to_str().ok());
    match etag {
        Some(etag) if !etag.starts_with("W/") => Some(etag.to_string()),
        _ => headers
            .get(LAST_MODIFIED)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string),
    }
}

/// Whether a 206 answer is of the version recorded for the `.part`: its
/// ETag (or Last-Modified, whichever was recorded) must not differ.
fn same_version(recorded: &str, headers: &HeaderMap) -> bool {
    let header = if recorded.starts_with('"') {
        ETAG
    } else {
        LAST_MODIFIED
    };
    match headers.get(header).and_then(|v| v.to_str().ok()) {
        Some(current) => current == recorded,
        None => true,
    }
}

/// A `.part` this run may continue: a regular file, not empty, carrying
/// haul's record for this very URL.
fn read_resumable(part: &Path, url: &str) -> Option<Resumable> {
    let meta = std::fs::symlink_metadata(part).ok()?;
    if !meta.is_file() || meta.len() == 0 {
        return None;
    }
    let record = xattr::get(part, RESUME_XATTR).ok()??;
    let record = String::from_utf8(record).ok()?;
    let (recorded_url, validator) = record.split_once('\n')?;
    (recorded_url == url && !validator.is_empty()).then(|| Resumable {
        len: meta.len(),
        validator: validator.to_string(),
    })
}

/// Hashes the first `len` bytes of `path` on the blocking pool.
async fn hash_file(path: &Path, len: u64) -> anyhow::Result<Sha256> {
    let path = path.to_path_buf();
    tokio::task::spawn_blocking(move || {
        let file = File::open(&path).with_context(|| format!("cannot read {}", path.display()))?;
        let mut hasher = Sha256::new();
        let mut reader = file.take(len);
        let mut buf = vec![0; WRITE_BUFFER];
        loop {
            let n = reader
                .read(&mut buf)
                .with_context(|| format!("cannot read {}", path.display()))?;
            if n == 0 {
                break;
            }
            hasher.update(&buf[..n]);
        }
        Ok(hasher)
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
/// [`WRITE_BUFFER`], on the transfer thread. The file is opened on the
/// first write, so an attempt that fails before its first byte leaves
/// nothing behind.
struct PartFile {
    root: PathBuf,
    rel: PathBuf,
    dest: PathBuf,
    part: PathBuf,
    mode: Mode,
    /// `None` before the first write.
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

enum Mode {
    /// A new `.part`, replacing any old one, with its resume record.
    Fresh { record: Option<String> },
    /// Continue the existing `.part`.
    Append,
}

impl PartFile {
    fn fresh(root: PathBuf, rel: PathBuf, dest: PathBuf, record: Option<String>) -> PartFile {
        PartFile::new(root, rel, dest, Mode::Fresh { record }, 0)
    }

    fn append(root: PathBuf, rel: PathBuf, dest: PathBuf, len: u64) -> PartFile {
        PartFile::new(root, rel, dest, Mode::Append, len)
    }

    fn new(root: PathBuf, rel: PathBuf, dest: PathBuf, mode: Mode, written: u64) -> PartFile {
        PartFile {
            part: part_path(&dest),
            root,
            rel,
            dest,
            mode,
            file: None,
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
            self.flush(None)?;
        }
        Ok(())
    }

    /// Writes the buffered chunks (opening the `.part` on the first call);
    /// `finish` is `Some(mtime)` to also set the modification time and
    /// rename the file to its final name. A chunk that failed to be written
    /// is dropped, never written twice: the file stays a prefix of the body.
    fn flush(&mut self, finish: Option<Option<SystemTime>>) -> anyhow::Result<()> {
        let chunks = std::mem::take(&mut self.chunks);
        let len = std::mem::take(&mut self.buffered);
        self.buffered_since = None;
        self.account();
        let mut file = match self.file.take() {
            Some(file) => file,
            None => {
                let record = match &mut self.mode {
                    // A file written whole in this one step never outlives
                    // it as a `.part`: no resume record needed.
                    Mode::Fresh { record } => Some(record.take().filter(|_| finish.is_none())),
                    Mode::Append => None,
                };
                let file = open_part(&self.root, &self.rel, &self.part, record)?;
                // From here on the file exists: later steps append to it.
                self.mode = Mode::Append;
                file
            }
        };
        write_chunks(&mut file, &chunks)
            .with_context(|| format!("cannot write {}", self.part.display()))?;
        self.written += len as u64;
        let Some(modified) = finish else {
            self.file = Some(file);
            return Ok(());
        };
        if let Some(modified) = modified {
            // Best effort: `--on-exists update` relies on it, but a file
            // system without mtimes should not fail the download.
            let _ = file.set_modified(modified);
        }
        drop(file);
        std::fs::rename(&self.part, &self.dest).with_context(|| {
            format!(
                "cannot rename {} to {}",
                self.part.display(),
                self.dest.display()
            )
        })
    }

    /// Writes what is buffered, sets the modification time and renames
    /// `.part` to the destination.
    fn finish(mut self, modified: Option<SystemTime>) -> anyhow::Result<()> {
        let result = self.flush(Some(modified));
        if result.is_err() {
            self.abandon(true);
        }
        result
    }

    /// Gives up: keeps a non-empty `.part` for a later resume when `keep`,
    /// removes it otherwise.
    fn abandon(mut self, keep: bool) {
        if keep && self.buffered > 0 {
            // Best effort: a write error here was probably the cause.
            let _ = self.flush(None);
        }
        drop(self.file.take());
        // Also when a failed first write left the file empty behind it.
        if !keep || self.written == 0 {
            match std::fs::remove_file(&self.part) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => tracing::warn!("cannot remove {}: {e}", self.part.display()),
            }
        }
    }
}

impl Drop for PartFile {
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

/// Opens `.part` for writing: `record` is `Some` for a fresh file (which
/// replaces any old one and carries the resume record), `None` to append
/// to the existing one.
fn open_part(
    root: &Path,
    rel: &Path,
    part: &Path,
    record: Option<Option<String>>,
) -> anyhow::Result<File> {
    let Some(record) = record else {
        return OpenOptions::new()
            .append(true)
            .open(part)
            .with_context(|| format!("cannot open {}", part.display()));
    };
    create_parents(root, rel)?;
    // A stale `.part` is truncated; a symlink planted in its place is
    // replaced, never followed (O_NOFOLLOW fails on it with ELOOP).
    let open = || {
        OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .custom_flags(libc::O_NOFOLLOW)
            .open(part)
    };
    let file = match open() {
        Err(e) if e.raw_os_error() == Some(libc::ELOOP) => std::fs::remove_file(part)
            .and_then(|()| open())
            .with_context(|| format!("cannot replace symlink {}", part.display()))?,
        opened => opened.with_context(|| format!("cannot create {}", part.display()))?,
    };
    if let Some(record) = record
        && let Err(err) = xattr::set(part, RESUME_XATTR, record.as_bytes())
    {
        // Without the record the download still works; it just cannot be
        // continued later (file systems without user xattrs).
        tracing::debug!("cannot record resume data on {}: {err}", part.display());
    }
    Ok(file)
}

/// Creates the folders leading to `rel` under `root`, refusing to follow a
/// symlink that leads out of it.
fn create_parents(root: &Path, rel: &Path) -> anyhow::Result<()> {
    let Some(parent) = rel.parent() else {
        return Ok(());
    };
    let mut dir = root.to_path_buf();
    for component in parent.components() {
        dir.push(component);
        match std::fs::symlink_metadata(&dir) {
            Ok(meta) if meta.file_type().is_symlink() => {
                let target = dir
                    .canonicalize()
                    .with_context(|| format!("cannot resolve symlink {}", dir.display()))?;
                if !target.starts_with(root) {
                    anyhow::bail!(
                        "refusing to write through {}: a symlink that leads out of the output folder",
                        dir.display()
                    );
                }
            }
            Ok(_) => {}
            Err(_) => {
                let all = root.join(parent);
                return std::fs::create_dir_all(&all)
                    .with_context(|| format!("cannot create folder {}", all.display()));
            }
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

    #[test]
    fn versions_of_a_206() {
        assert!(same_version("\"v1\"", &headers(ETAG, "\"v1\"")));
        assert!(!same_version("\"v1\"", &headers(ETAG, "\"v2\"")));
        assert!(same_version("\"v1\"", &HeaderMap::new()));
        let date = "Wed, 21 Oct 2015 07:28:00 GMT";
        assert!(same_version(date, &headers(LAST_MODIFIED, date)));
        assert!(!same_version(
            date,
            &headers(LAST_MODIFIED, "Thu, 22 Oct 2015 07:28:00 GMT")
        ));
        assert!(same_version(date, &headers(ETAG, "\"v9\"")));
    }

    #[test]
    fn validators() {
        assert_eq!(
            validator(&headers(ETAG, "\"v1\"")).as_deref(),
            Some("\"v1\"")
        );
        assert_eq!(validator(&headers(ETAG, "W/\"v1\"")), None);
        let mut both = headers(ETAG, "W/\"v1\"");
        both.insert(
            LAST_MODIFIED,
            HeaderValue::from_static("Wed, 21 Oct 2015 07:28:00 GMT"),
        );
        assert_eq!(
            validator(&both).as_deref(),
            Some("Wed, 21 Oct 2015 07:28:00 GMT")
        );
        assert_eq!(validator(&HeaderMap::new()), None);
    }

    #[test]
    fn resume_record_must_match_the_url() {
        let dir = tempfile::tempdir().unwrap();
        let part = dir.path().join("a.part");
        std::fs::write(&part, b"12345").unwrap();
        assert!(read_resumable(&part, "http://h/a").is_none(), "no record");
        xattr::set(&part, RESUME_XATTR, b"http://h/a\n\"v1\"").unwrap();
        let r = read_resumable(&part, "http://h/a").unwrap();
        assert_eq!((r.len, r.validator.as_str()), (5, "\"v1\""));
        assert!(read_resumable(&part, "http://h/b").is_none(), "other URL");
        std::fs::write(&part, b"").unwrap();
        assert!(read_resumable(&part, "http://h/a").is_none(), "empty");
    }
}
