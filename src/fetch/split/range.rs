//! One range of a file over several connections: the `Range` request
//! with `If-Range`, the checks its answer must pass (a 206 of the same
//! version for exactly the range asked; a whole answer means the server
//! ignores ranges), and its body read by the one body loop (`body.rs`)
//! into the offsets the bookkeeping reserves ([`RangeSink`]).

use anyhow::anyhow;
use bytes::Bytes;
use reqwest::header::{HeaderMap, IF_RANGE, RANGE};
use reqwest::{Response, StatusCode};
use url::Url;

use super::file::{Ended, Split};
use crate::error::FailureKind;
use crate::fetch::body::{self, BodyEnd, BodyError, Sink, Taken, cancelled};
use crate::fetch::coding;
use crate::fetch::request::{send_request, value};
use crate::fetch::resume::ContentRange;
use crate::outcome::Failure;
use crate::session::Ctx;

/// One connection's range of the file as a body [`Sink`]: each chunk goes
/// to the offsets the bookkeeping reserves for the range, until the range
/// is done or taken over.
pub(super) struct RangeSink<'a> {
    split: &'a Split,
    id: u64,
    /// The mirror the range comes from, if it does.
    mirror: Option<usize>,
}

impl Sink for RangeSink<'_> {
    fn put(&mut self, mut chunk: Bytes) -> Result<Taken, BodyError> {
        let split = self.split;
        let mut bytes = 0;
        while !chunk.is_empty() {
            let Some((at, n)) = split.reserve(self.id, chunk.len()) else {
                return Ok(Taken { bytes, more: false });
            };
            let piece = chunk.split_to(n);
            split.part.write_at(&piece, at).map_err(|e| {
                BodyError::Write(
                    anyhow::Error::new(e).context(format!("cannot write {}", split.shown)),
                )
            })?;
            split.written(at, at + n as u64);
            split.expecting.received(n as u64);
            if let Some(bar) = &split.bar {
                bar.inc(n as u64);
            }
            bytes += n;
        }
        if let Some(i) = self.mirror
            && bytes > 0
        {
            split.served[i].store(true, std::sync::atomic::Ordering::Relaxed);
        }
        Ok(Taken { bytes, more: true })
    }
}

/// What a connection got for one range.
pub(super) enum Fetched {
    /// The range is written (or was taken over by another connection).
    Done,
    /// The server ignores ranges: no more connections.
    NoRanges,
    Failed(Failure),
}

impl Split {
    /// Fetches one range on this connection (a new request to `url`: the
    /// first connection's, or one of the line's other URLs).
    pub(super) async fn fetch_range(
        &self,
        ctx: &Ctx,
        (id, start, end): (u64, u64, u64),
        url: &Url,
    ) -> Fetched {
        let mirror = self.mirror(url);
        // A mirror's range is taken on the digest's word when there is one
        // (its validator may differ); else it must prove the same version.
        let unproven_ok = mirror.is_some() && self.digest_known;
        let mut extra = HeaderMap::new();
        let values = value(&format!("bytes={start}-{}", end - 1)).and_then(|range| {
            let if_range = (!unproven_ok)
                .then(|| value(self.note.if_range()))
                .transpose()?;
            Ok((range, if_range))
        });
        match values {
            Ok((range, if_range)) => {
                extra.insert(RANGE, range);
                if let Some(if_range) = if_range {
                    extra.insert(IF_RANGE, if_range);
                }
            }
            Err(failure) => {
                self.release(id);
                return Fetched::Failed(failure);
            }
        }
        let sent = tokio::select! {
            sent = send_request(ctx, url, extra) => sent,
            () = self.stopped.cancelled() => {
                self.release(id);
                return Fetched::Done;
            }
        };
        let response = match sent {
            Ok(response) => response,
            Err(failure) => {
                self.release(id);
                return Fetched::Failed(failure);
            }
        };
        let status = response.status();
        let headers = response.headers();
        // Under --compressed, a range that may have been decoded is not
        // the bytes asked for, whoever sent it (`coding.rs`).
        let proven =
            (unproven_ok || self.note.proves(headers)) && coding::range_intact(ctx, headers);
        match status {
            StatusCode::PARTIAL_CONTENT
                if proven && exact_range(&response) == Some((start, end - 1, self.size)) => {}
            StatusCode::OK if proven && mirror.is_none() => {
                self.release(id);
                return Fetched::NoRanges;
            }
            _ if status.is_success() && mirror.is_some() => {
                // A mirror that does not send this version's range: the
                // file goes on without it.
                self.release(id);
                return Fetched::Failed(Failure::new(
                    FailureKind::Http(status.as_u16()),
                    Some(status.as_u16()),
                    anyhow!(
                        "its answer to a range request ({status}) is not of the version being fetched"
                    ),
                ));
            }
            _ if status.is_success() => {
                // Another version (or a range not as asked): nothing of it
                // may join the bytes already there.
                let why = anyhow!(
                    "the answer to a range request ({status}) is not of the version being fetched"
                );
                self.release(id);
                self.end(Ended::Restart(why));
                return Fetched::Done;
            }
            _ => {
                self.release(id);
                let code = status.as_u16();
                let failure = Failure::new(
                    FailureKind::Http(code),
                    Some(code),
                    anyhow!("HTTP {status}"),
                );
                return Fetched::Failed(failure);
            }
        }
        self.pump(ctx, id, response, url).await
    }

    /// Writes the body of range `id` at its offsets until the range is
    /// done, taken over, or the file stops.
    pub(super) async fn pump(
        &self,
        ctx: &Ctx,
        id: u64,
        mut response: Response,
        url: &Url,
    ) -> Fetched {
        let status = response.status().as_u16();
        let mirror = self.mirror(url);
        let mut sink = RangeSink {
            split: self,
            id,
            mirror,
        };
        let read = body::read(ctx, url, &mut response, Some(&self.stopped), &mut sink).await;
        let result = match read {
            Ok(BodyEnd::Whole) if self.remaining(id) > 0 => Err(BodyError::Network(anyhow!(
                "truncated: the range ended early"
            ))),
            Ok(_) => Ok(()),
            Err(error) => Err(error),
        };
        self.release(id);
        match result {
            Ok(()) => Fetched::Done,
            Err(BodyError::Network(e)) => {
                Fetched::Failed(Failure::new(FailureKind::Network, Some(status), e))
            }
            Err(BodyError::Write(e)) => {
                let failure = Failure::new(FailureKind::of_write(&e), Some(status), e);
                self.end(Ended::Failed(failure.with_bytes(self.received())));
                Fetched::Done
            }
            Err(BodyError::Cancelled) => {
                self.end(Ended::Failed(cancelled().with_bytes(self.received())));
                Fetched::Done
            }
        }
    }
}

/// `Content-Range: bytes A-B/SIZE` → `(A, B, SIZE)`.
pub(super) fn exact_range(response: &Response) -> Option<(u64, u64, u64)> {
    let range = ContentRange::of(response.headers())?;
    let (first, last) = range.range?;
    Some((first, last, range.size?))
}
