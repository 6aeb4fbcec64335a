//! The last stage of a download: the digest check, the rename of `DEST.part`
//! to `DEST` (through `part.rs` and `outdir/temp.rs`, at the proven length), and
//! the `--state` entry: the file it replaces is forgotten before the rename
//! and the new one recorded after it, so that no entry ever describes a
//! file that is not on disk. Also the `.part` that a proven `416` says is
//! already whole.

use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::time::SystemTime;

use reqwest::StatusCode;

use super::part::PartFile;
use super::resume::Resumable;
use crate::digest::{Check, Hashing, hash_from_disk};
use crate::error::FailureKind;
use crate::outcome::{Done, Failure};
use crate::plan::Job;
use crate::redact::masked;
use crate::session::Ctx;
use crate::state::{Entry, State, epoch, unix_now};

/// What an answer says of the file it carries, for the final name and the
/// state.
pub(super) struct Saved {
    /// The digests taken of the file, to check.
    pub(super) hashing: Hashing,
    /// Last-Modified, parsed: the file's modification time.
    pub(super) modified: Option<SystemTime>,
    pub(super) etag: Option<String>,
    pub(super) last_modified: Option<String>,
    pub(super) replaced: Option<&'static str>,
    pub(super) status: StatusCode,
    /// `--split`: the most connections used at once.
    pub(super) connections: Option<u32>,
    /// `--split` over a line's several URLs: the others that sent ranges.
    pub(super) also_served: Vec<url::Url>,
    /// Bytes of the file a `.part` held before this run.
    pub(super) held: u64,
}

/// Checks the digest and renames the `.part` to its final name; with
/// `--state`, forgets the file it replaces before the rename and records
/// the new one after.
pub(super) fn finish(
    ctx: &Ctx,
    part: PartFile<'_>,
    job: &Job,
    saved: Saved,
) -> Result<Done, Failure> {
    let bytes = part.len();
    let status = saved.status.as_u16();
    let verified = match saved.hashing.verify() {
        Ok(verified) => verified,
        Err(failure) => {
            // Wrong bytes are worth nothing for a later resume.
            part.abandon(false);
            return Err(failure.with_status(status).with_bytes(bytes));
        }
    };
    // The name is kept past the rename only for the state's entry.
    let recorded = ctx
        .shared
        .state
        .as_deref()
        .map(|state| (state, part.rel().to_path_buf()));
    if let Some((state, rel)) = &recorded {
        forget(state, rel);
    }
    let on_disk = part
        .finish(saved.modified, recorded.is_some())
        .map_err(|e| Failure::new(FailureKind::of_write(&e), Some(status), e).with_bytes(bytes))?;
    if let Some((state, rel)) = recorded {
        let entry = Entry {
            url: masked(job.line_url()),
            path: rel.to_string_lossy().into_owned(),
            bytes,
            mtime: on_disk
                .as_ref()
                .and_then(|m| m.modified().ok())
                .and_then(epoch),
            ino: on_disk.as_ref().map(MetadataExt::ino),
            ctime: on_disk.as_ref().map(|m| (m.ctime(), m.ctime_nsec() as u32)),
            etag: saved.etag,
            last_modified: saved.last_modified,
            sha256: verified.sha256,
            saved_at: unix_now(),
            run: state.run(),
        };
        if let Err(err) = state.record(&entry) {
            tracing::warn!("{err:#}");
        }
    }
    Ok(Done::Saved {
        http_status: status,
        bytes: bytes.saturating_sub(saved.held),
        size: bytes,
        verified,
        replaced: saved.replaced,
        connections: saved.connections,
        served_by: job.mirrors.is_some().then(|| {
            let also = saved.also_served.iter().filter(|url| **url != job.url);
            std::iter::once(&job.url).chain(also).map(masked).collect()
        }),
    })
}

/// Forgets `rel` in the state before the file is replaced (so no entry
/// ever describes a file that is not on disk).
fn forget(state: &State, rel: &Path) {
    if let Some(rel) = rel.to_str()
        && state.has(rel)
        && let Err(err) = state.forget(rel)
    {
        tracing::warn!("{err:#}");
    }
}

/// A proven `416` to `Range: bytes=LEN-`: the `.part` already holds the
/// whole version (the run that wrote it stopped before the rename).
pub(super) async fn finish_from_part(
    ctx: &Ctx,
    job: &Job,
    rel: &Path,
    resumable: Resumable,
    status: StatusCode,
    held: u64,
    checks: Vec<Check>,
) -> Result<Done, Failure> {
    let fail = |kind, error: anyhow::Error| Failure::new(kind, Some(status.as_u16()), error);
    let Resumable {
        file, len, note, ..
    } = resumable;
    let (file, hashing) = hash_from_disk(file, len, Hashing::new(checks))
        .await
        .map_err(|e| fail(FailureKind::of_write(&e), e))?;
    let part = PartFile::append(&ctx.out, rel.to_path_buf(), file, len);
    // `finish` checks the digests; a mismatch removes the `.part`.
    let saved = Saved {
        hashing,
        modified: note.modified(),
        etag: note.etag().map(str::to_string),
        last_modified: note.last_modified().map(str::to_string),
        replaced: None,
        status,
        connections: None,
        also_served: Vec::new(),
        held,
    };
    finish(ctx, part, job, saved)
}
