//! One download: the request, the status check (before any file exists), the
//! body streamed chunk by chunk into `DEST.part` (hashed on the way when a
//! digest is expected), the length and digest checks, and the rename to
//! `DEST`. A failed download never leaves a file under the final name. It
//! does not schedule, retry or print: it returns an [`Outcome`].

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Instant, SystemTime};

use anyhow::{Context, anyhow, bail};
use reqwest::StatusCode;
use reqwest::header::{CONTENT_DISPOSITION, IF_MODIFIED_SINCE, LAST_MODIFIED};
use sha2::{Digest, Sha256};

use crate::cli::OnExists;
use crate::naming::{content_disposition_name, safe_relative};
use crate::plan::Job;
use crate::progress::Handle;
use crate::report::{Done, Failure, Outcome};

/// Bytes gathered in memory before one write to the `.part` file. Small
/// files are written with a single system call; large ones in steps of
/// this size, each on the blocking pool so a slow disk does not stall the
/// runtime.
const WRITE_BUFFER: usize = 256 * 1024;

/// What every download shares.
pub(crate) struct Ctx {
    pub(crate) client: reqwest::Client,
    /// `--dir`, canonicalised once: symlinks must not lead out of it.
    pub(crate) root: PathBuf,
    pub(crate) on_exists: OnExists,
    pub(crate) content_disposition: bool,
    pub(crate) stall_timeout: std::time::Duration,
    pub(crate) timeout: Option<std::time::Duration>,
    pub(crate) progress: Handle,
}

pub(crate) async fn fetch(ctx: Arc<Ctx>, job: Job) -> Outcome {
    let started = Instant::now();
    let mut path = job.path.clone();
    let result = attempt(&ctx, &job, &mut path).await;
    Outcome {
        url: job.url.to_string(),
        path: Some(path),
        origin: None,
        result,
        attempts: 1,
        elapsed: started.elapsed(),
    }
}

/// One attempt. `path` is updated when the server names the file.
async fn attempt(ctx: &Ctx, job: &Job, path: &mut PathBuf) -> Result<Done, Failure> {
    let fail = |error: anyhow::Error| Failure {
        http_status: None,
        bytes: 0,
        error,
    };
    let mut request = ctx.client.get(job.url.clone());
    if let Some(timeout) = ctx.timeout {
        request = request.timeout(timeout);
    }
    if ctx.on_exists == OnExists::Update
        && let Ok(modified) = std::fs::metadata(&job.path).and_then(|m| m.modified())
    {
        request = request.header(IF_MODIFIED_SINCE, httpdate::fmt_http_date(modified));
    }
    let mut response = tokio::time::timeout(ctx.stall_timeout, request.send())
        .await
        .map_err(|_| fail(stalled(ctx.stall_timeout)))?
        .map_err(|e| fail(e.into()))?;
    let status = response.status();
    if status == StatusCode::NOT_MODIFIED && ctx.on_exists == OnExists::Update {
        return Ok(Done::NotModified {
            http_status: status.as_u16(),
        });
    }
    if !status.is_success() {
        // No file is created for an error answer, not even a `.part`.
        return Err(Failure {
            http_status: Some(status.as_u16()),
            bytes: 0,
            error: anyhow!("HTTP {status}"),
        });
    }
    let fail = |error: anyhow::Error, bytes: u64| Failure {
        http_status: Some(status.as_u16()),
        bytes,
        error,
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
        let checked = safe_relative(&suggested.to_string_lossy()).map_err(|e| fail(e.into(), 0))?;
        *path = job.path.with_file_name(&name);
        rel = checked;
        if ctx.on_exists == OnExists::Skip && std::fs::symlink_metadata(&*path).is_ok() {
            return Ok(Done::Skipped);
        }
    }

    let expected_len = response.content_length();
    let modified = response
        .headers()
        .get(LAST_MODIFIED)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| httpdate::parse_http_date(v).ok());
    let name = path
        .file_name()
        .unwrap_or_default()
        .to_string_lossy()
        .into_owned();
    let bar = ctx.progress.file_bar(&name, expected_len);
    let mut part = PartFile::new(ctx.root.clone(), rel, path.clone());
    let mut hasher = job.sha256.map(|_| Sha256::new());

    let body = async {
        loop {
            let chunk = tokio::time::timeout(ctx.stall_timeout, response.chunk())
                .await
                .map_err(|_| stalled(ctx.stall_timeout))?
                .context("body transfer failed")?;
            let Some(chunk) = chunk else { break };
            if let Some(hasher) = &mut hasher {
                hasher.update(&chunk);
            }
            ctx.progress.add_bytes(chunk.len() as u64);
            if let Some(bar) = &bar {
                bar.inc(chunk.len() as u64);
            }
            part.write(&chunk).await?;
        }
        if let Some(expected) = expected_len
            && part.len() != expected
        {
            bail!("truncated: received {} of {expected} bytes", part.len());
        }
        anyhow::Ok(())
    };
    if let Err(error) = body.await {
        let bytes = part.len();
        part.abandon(true).await;
        return Err(fail(error, bytes));
    }

    let digest: Option<[u8; 32]> = hasher.map(|h| h.finalize().into());
    if let (Some(want), Some(got)) = (job.sha256, digest)
        && want != got
    {
        let bytes = part.len();
        // Wrong bytes are worth nothing for a later resume.
        part.abandon(false).await;
        return Err(fail(
            anyhow!(
                "sha256 mismatch: expected {}, got {}",
                hex::encode(want),
                hex::encode(got)
            ),
            bytes,
        ));
    }
    let bytes = part.len();
    part.finish(modified)
        .await
        .map_err(|error| fail(error, bytes))?;
    Ok(Done::Saved {
        http_status: status.as_u16(),
        bytes,
        sha256: digest,
    })
}

fn stalled(limit: std::time::Duration) -> anyhow::Error {
    let limit = if limit.subsec_millis() == 0 {
        format!("{}s", limit.as_secs())
    } else {
        format!("{}ms", limit.as_millis())
    };
    anyhow!("stalled: no data for {limit} (--stall-timeout)")
}

/// `DEST.part` and the bytes not yet written to it. The file is created on
/// the first write that reaches the disk, so a download that fails before
/// its first byte leaves nothing behind.
struct PartFile {
    root: PathBuf,
    rel: PathBuf,
    dest: PathBuf,
    part: PathBuf,
    file: Option<File>,
    buf: Vec<u8>,
    written: u64,
}

impl PartFile {
    fn new(root: PathBuf, rel: PathBuf, dest: PathBuf) -> PartFile {
        let mut part = dest.clone().into_os_string();
        part.push(".part");
        PartFile {
            root,
            rel,
            dest,
            part: part.into(),
            file: None,
            buf: Vec::new(),
            written: 0,
        }
    }

    /// Bytes received so far (buffered or on disk).
    fn len(&self) -> u64 {
        self.written + self.buf.len() as u64
    }

    async fn write(&mut self, chunk: &[u8]) -> anyhow::Result<()> {
        if self.buf.capacity() == 0 {
            self.buf.reserve_exact(WRITE_BUFFER.max(chunk.len()));
        }
        self.buf.extend_from_slice(chunk);
        if self.buf.len() >= WRITE_BUFFER {
            self.flush(None, false).await?;
        }
        Ok(())
    }

    /// Writes the buffer on the blocking pool; with `finish`, also sets the
    /// modification time and renames `.part` to the destination.
    async fn flush(&mut self, modified: Option<SystemTime>, finish: bool) -> anyhow::Result<()> {
        let mut file = self.file.take();
        let mut buf = std::mem::take(&mut self.buf);
        let n = buf.len() as u64;
        let (root, rel, part, dest) = (
            self.root.clone(),
            self.rel.clone(),
            self.part.clone(),
            self.dest.clone(),
        );
        let (file, buf) = tokio::task::spawn_blocking(move || -> anyhow::Result<_> {
            let f = match &mut file {
                Some(f) => f,
                None => file.insert(create_part(&root, &rel, &part)?),
            };
            f.write_all(&buf)
                .with_context(|| format!("cannot write {}", part.display()))?;
            buf.clear();
            if finish {
                if let Some(modified) = modified {
                    // Best effort: `--on-exists update` relies on it, but a
                    // file system without mtimes should not fail the download.
                    let _ = f.set_modified(modified);
                }
                drop(file.take());
                std::fs::rename(&part, &dest).with_context(|| {
                    format!("cannot rename {} to {}", part.display(), dest.display())
                })?;
            }
            Ok((file, buf))
        })
        .await
        .context("writer task failed")??;
        self.written += n;
        self.file = file;
        self.buf = buf;
        Ok(())
    }

    async fn finish(mut self, modified: Option<SystemTime>) -> anyhow::Result<()> {
        self.flush(modified, true).await
    }

    /// Gives up: keeps a non-empty `.part` for a later resume when `keep`,
    /// removes it otherwise.
    async fn abandon(mut self, keep: bool) {
        if keep && !self.buf.is_empty() {
            // Best effort: a write error here was probably the cause.
            let _ = self.flush(None, false).await;
        }
        drop(self.file.take());
        if !keep || self.written == 0 {
            match tokio::fs::remove_file(&self.part).await {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => tracing::warn!("cannot remove {}: {e}", self.part.display()),
            }
        }
    }
}

/// Creates the folders leading to `rel` under `root` (refusing to follow a
/// symlink that leads out of it) and a fresh `.part` file.
fn create_part(root: &Path, rel: &Path, part: &Path) -> anyhow::Result<File> {
    let mut dir = root.to_path_buf();
    if let Some(parent) = rel.parent() {
        for component in parent.components() {
            dir.push(component);
            match std::fs::symlink_metadata(&dir) {
                Ok(meta) if meta.file_type().is_symlink() => {
                    let target = dir
                        .canonicalize()
                        .with_context(|| format!("cannot resolve symlink {}", dir.display()))?;
                    if !target.starts_with(root) {
                        bail!(
                            "refusing to write through {}: it is a symlink that leads out of the output folder",
                            dir.display()
                        );
                    }
                }
                Ok(_) => {}
                Err(_) => {
                    std::fs::create_dir_all(root.join(parent)).with_context(|| {
                        format!("cannot create folder {}", root.join(parent).display())
                    })?;
                    break;
                }
            }
        }
    }
    // A stale `.part` (or a symlink planted in its place) is replaced, never
    // followed.
    match std::fs::remove_file(part) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(e).with_context(|| format!("cannot remove {}", part.display())),
    }
    OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(part)
        .with_context(|| format!("cannot create {}", part.display()))
}
