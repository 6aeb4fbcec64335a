//! Reading an answer's body: the one chunk loop of every download, on one
//! connection or as one range of a file over several (`split/`). It waits
//! at most `--stall-timeout` for each chunk, stops at once when the run
//! stops (or the file's own stop token is cancelled), hands each chunk to
//! the caller's [`Sink`] and then accounts for it (progress, `--max-bytes`,
//! `--limit-rate`). Where the bytes go and what they prove is the sink's
//! business.

use std::time::{Duration, Instant};

use anyhow::anyhow;
use bytes::Bytes;
use reqwest::Response;
use tokio_util::sync::CancellationToken;
use url::Url;

use crate::error::FailureKind;
use crate::http::network_error;
use crate::outcome::Failure;
use crate::session::Ctx;

/// Where a body's bytes go: the `.part` of a download on one connection
/// (`fetch/mod.rs`), or a range of a file over several (`split/`).
pub(super) trait Sink {
    /// Writes `chunk`, or as much of it as is still wanted: how many bytes
    /// it took, and whether it wants more.
    fn put(&mut self, chunk: Bytes) -> Result<Taken, BodyError>;
}

/// What a [`Sink`] did with a chunk.
pub(super) struct Taken {
    pub(super) bytes: usize,
    /// `false`: the sink wants no more of this body (its range was taken
    /// over by another connection, or is done).
    pub(super) more: bool,
}

/// How a body read ended without an error.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum BodyEnd {
    /// The body ended: every byte of it went to the sink.
    Whole,
    /// The sink wanted no more, or `stop` was cancelled.
    Stopped,
}

/// Reads `response`'s body into `sink`, chunk by chunk, until it ends,
/// stalls (`--stall-timeout` without a byte), fails, the sink wants no
/// more, the run stops, or `stop` (a file's own stop) is cancelled.
pub(super) async fn read(
    ctx: &Ctx,
    url: &Url,
    response: &mut Response,
    stop: Option<&CancellationToken>,
    sink: &mut impl Sink,
) -> Result<BodyEnd, BodyError> {
    let stall = ctx.http().stall_timeout;
    let stopped = async {
        match stop {
            Some(stop) => stop.cancelled().await,
            None => std::future::pending().await,
        }
    };
    tokio::pin!(stopped);
    loop {
        let chunk = tokio::select! {
            chunk = tokio::time::timeout(stall, response.chunk()) => chunk,
            () = ctx.cancel.cancelled() => return Err(BodyError::Cancelled),
            // The reason is the file's, recorded by whoever stopped it.
            () = &mut stopped => return Ok(BodyEnd::Stopped),
        };
        let chunk = chunk
            .map_err(|_| BodyError::Network(stalled(stall)))?
            .map_err(|e| {
                BodyError::Network(network_error(e, url).context("body transfer failed"))
            })?;
        let Some(chunk) = chunk else {
            return Ok(BodyEnd::Whole);
        };
        let taken = sink.put(chunk)?;
        after_chunk(ctx, taken.bytes).await?;
        if !taken.more {
            return Ok(BodyEnd::Stopped);
        }
    }
}

/// After `received` body bytes: count them, and keep `--max-bytes` and
/// `--limit-rate`.
pub(super) async fn after_chunk(ctx: &Ctx, received: usize) -> Result<(), BodyError> {
    ctx.progress.add_bytes(received as u64);
    if let Some(budget) = &ctx.shared.budget
        && budget.add(received as u64)
    {
        // --max-bytes is spent: stop here, the `.part` kept, as the runner
        // stops the others.
        return Err(BodyError::Cancelled);
    }
    if let Some(limit) = &ctx.shared.limit {
        let wait = limit.take(received, Instant::now());
        if !wait.is_zero() {
            tokio::select! {
                () = tokio::time::sleep(wait) => {}
                () = ctx.cancel.cancelled() => return Err(BodyError::Cancelled),
            }
        }
    }
    Ok(())
}

pub(super) enum BodyError {
    Network(anyhow::Error),
    Write(anyhow::Error),
    Cancelled,
}

pub(super) fn cancelled() -> Failure {
    Failure::new(FailureKind::Cancelled, None, anyhow!("interrupted"))
}

pub(super) fn stalled(limit: Duration) -> anyhow::Error {
    let limit = if limit.subsec_millis() == 0 {
        format!("{}s", limit.as_secs())
    } else {
        format!("{}ms", limit.as_millis())
    };
    anyhow!("stalled: no data for {limit} (--stall-timeout)")
}
