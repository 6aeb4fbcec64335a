//! A download on one connection: its `.part` opened (a proven one
//! continued, with the digests fed the bytes already there, or a fresh
//! one), and the answer's body streamed into it by the one body loop
//! (`body.rs`) with the digests taken on the way and the progress line
//! kept; the bytes received are kept for a later resume when it fails.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::anyhow;
use bytes::Bytes;
use reqwest::Response;

use super::body::{self, BodyError, Sink, Taken, cancelled};
use super::part::PartFile;
use super::resume::{Pending, Resumable};
use crate::digest::{Check, Hashing, hash_prefix};
use crate::error::FailureKind;
use crate::outcome::Failure;
use crate::plan::Job;
use crate::progress::{Expecting, FileBar, SLOW_FILE};
use crate::session::Ctx;

/// The `.part` to write to (the proven one continued, or a fresh one with
/// `note`, if the answer allows one) and the digests to take of it
/// (`checks`), already fed the bytes the `.part` holds when they cover the
/// whole file.
pub(super) async fn open_part<'a>(
    ctx: &'a Ctx,
    rel: PathBuf,
    resumable: Option<Resumable>,
    note: Option<Pending>,
    checks: Vec<Check>,
) -> Result<(PartFile<'a>, Hashing), Failure> {
    let hashing = Hashing::new(checks);
    let Some(r) = resumable else {
        return Ok((PartFile::fresh(&ctx.out, rel, note), hashing));
    };
    // A whole-file digest covers every byte of the file, the earlier ones
    // too.
    let (file, hashing) = hash_prefix(r.file, r.len, hashing)
        .await
        .map_err(|e| Failure::new(FailureKind::of_write(&e), None, e))?;
    Ok((PartFile::append(&ctx.out, rel, file, r.len), hashing))
}

/// An answer's body on its way into its `.part`.
pub(super) struct Body<'a> {
    pub(super) response: Response,
    pub(super) part: PartFile<'a>,
    pub(super) hashing: Hashing,
    /// The file's whole length, when the answer says it.
    pub(super) total: Option<u64>,
}

/// A download on one connection as a [`Sink`]: its `.part`, the digest
/// taken on the way, and its progress line (given once it runs a while).
struct PartSink<'a, 'c> {
    ctx: &'c Ctx,
    name: &'c str,
    part: PartFile<'a>,
    hashing: Hashing,
    total: Option<u64>,
    bar: Option<FileBar>,
    started: Instant,
    expecting: Expecting,
}

impl Sink for PartSink<'_, '_> {
    fn put(&mut self, chunk: Bytes) -> Result<Taken, BodyError> {
        self.hashing.update(&chunk);
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
        self.expecting.received(bytes as u64);
        self.part.write(chunk).map_err(BodyError::Write)?;
        Ok(Taken { bytes, more: true })
    }
}

/// Streams the body into the `.part` until it ends, stalls, is cut or the
/// run stops; the bytes received are kept for a later resume when it fails.
pub(super) async fn stream_body<'a>(
    ctx: &Ctx,
    job: &Job,
    name: &str,
    incoming: Body<'a>,
) -> Result<(PartFile<'a>, Hashing), Failure> {
    let Body {
        mut response,
        part,
        hashing,
        total,
    } = incoming;
    let status = response.status().as_u16();
    let bar = ctx.progress.file_bar(name, total, false);
    if let Some(bar) = &bar {
        bar.inc(part.len());
    }
    let expecting = ctx
        .progress
        .expect(total.map(|total| total.saturating_sub(part.len())));
    let mut sink = PartSink {
        ctx,
        name,
        part,
        hashing,
        total,
        bar,
        started: Instant::now(),
        expecting,
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
    let PartSink { part, hashing, .. } = sink;
    let Err(error) = result else {
        return Ok((part, hashing));
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
