//! One file over several connections (`--split`). The first connection's
//! answer (a whole `200`, or a proven `206` resuming a `.part`) says the
//! file's size and version; the bytes still missing are cut into ranges no
//! smaller than `--min-split-size`, and each connection fetches one range
//! at a time with `Range` + `If-Range`, writing at its offset into
//! `DEST.part` (positioned writes, no reassembly). A connection whose work
//! runs out takes over the second half of the largest range left, so one
//! slow connection does not hold up the end.
//!
//! The connections beyond the first are not started here: the file asks
//! the runner for them (as a `MoreConnections`, over `Shared::splits`), and the
//! runner starts each as a task of its own when the slot accounting allows
//! (`-j`, `--per-host`, `--rate`) and no planned file waits for a slot. A
//! connection ends when no work is left for it.
//!
//! Every range answer must prove the version: a `206` with exactly the
//! asked `Content-Range` and the recorded validator. A `200` of the same
//! version means the server ignores ranges (no more connections; the first
//! one fetches the rest); anything else that is not an error means another
//! version, and the whole file starts over from zero on one connection
//! ([`Ended::Restart`]). The `.part`'s note lists the complete ranges, so
//! a later attempt or run fetches only what is missing; it claims only
//! bytes already synced to disk ([`Journal`]: at most one sync a second,
//! off the transfer thread, and one when the download stops), so a power
//! loss cannot leave a note vouching for zeros. What it does not do: the
//! checks and the rename of the whole file (`fetch/mod.rs`), or decide
//! retries.
//!
//! - `work.rs`: which bytes are done, being fetched, or free to take (pure
//!   bookkeeping: no byte goes to two writers).
//! - `auto.rs`: how many connections `--split auto` gives a file.

use std::fs::File;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use anyhow::anyhow;
use bytes::Bytes;
use reqwest::header::{IF_RANGE, RANGE};
use reqwest::{Response, StatusCode};
use tokio_util::sync::CancellationToken;
use url::Url;

mod auto;
mod shared;
mod work;

use self::shared::SharedPart;
use self::work::Work;
use super::body::{self, BodyEnd, BodyError, Sink, Taken, cancelled};
use super::request::{base_request, send_request};
use super::resume::{ContentRange, Note, Ranges};
use crate::error::FailureKind;
use crate::outcome::Failure;
use crate::progress::FileBar;
use crate::redact::masked;
use crate::session::{Ctx, MoreConnections};
use crate::settings::Split as SplitMode;

/// The note is brought up to date at least this often while bytes come.
const NOTE_EVERY: Duration = Duration::from_secs(1);

/// A file being fetched over several connections, shared by them and the
/// runner.
struct Split {
    url: Url,
    /// The version every answer must prove (its ranges are not used).
    note: Note,
    size: u64,
    /// The `.part`'s shared descriptor and its note.
    part: Arc<SharedPart>,
    /// `DEST.part` as shown in messages.
    shown: String,
    min: u64,
    auto: bool,
    /// The answers come over HTTP/2 (or later): the ranges a transfer
    /// thread fetches are streams on that thread's one connection.
    multiplexed: bool,
    inner: Mutex<Inner>,
    /// A connection ended or gave work back: the first one looks again.
    changed: tokio::sync::Notify,
    /// Cancelled when the file stops (a new version, a failure): every
    /// connection stops at once, not at its next byte.
    stopped: CancellationToken,
    bar: Option<FileBar>,
    name: String,
}

struct Inner {
    work: Work,
    ended: Option<Ended>,
    /// Connections the runner may still start for this file.
    wanted: u32,
    /// Ranges being fetched now (a connection each over HTTP/1.1), the
    /// first included.
    open: u32,
    /// The transfer thread of each range being fetched: over HTTP/2 the
    /// ranges of one thread share its connection.
    threads: Vec<std::thread::ThreadId>,
    /// The most connections open at once.
    most: u32,
    noted_at: Instant,
}

/// Why the connections stopped before the file was whole.
enum Ended {
    /// An answer of another version: start the file over from zero.
    Restart(anyhow::Error),
    /// The first connection failed, a write failed, or the run stops.
    Failed(Failure),
    /// The download is over: a connection started late does nothing.
    Closed,
}

/// One connection's range of the file as a body [`Sink`]: each chunk goes
/// to the offsets the bookkeeping reserves for the range, until the range
/// is done or taken over.
struct RangeSink<'a> {
    split: &'a Split,
    id: u64,
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
            if let Some(bar) = &split.bar {
                bar.inc(n as u64);
            }
            bytes += n;
        }
        Ok(Taken { bytes, more: true })
    }
}

/// What a connection got for one range.
enum Fetched {
    /// The range is written (or was taken over by another connection).
    Done,
    /// The server ignores ranges: no more connections.
    NoRanges,
    Failed(Failure),
}

impl MoreConnections for Split {
    fn url(&self) -> &Url {
        &self.url
    }

    fn wants_connection(&self) -> bool {
        let inner = self.lock();
        inner.ended.is_none() && inner.wanted > 0 && inner.work.has_work(self.min)
    }

    fn starting(&self) {
        let mut inner = self.lock();
        inner.wanted = inner.wanted.saturating_sub(1);
    }

    fn connection(self: Arc<Self>, ctx: Arc<Ctx>) -> Pin<Box<dyn Future<Output = ()> + Send>> {
        Box::pin(connection(ctx, self))
    }
}

impl Split {
    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A range fetcher starts on this transfer thread.
    fn connect(&self) {
        let mut inner = self.lock();
        inner.open += 1;
        inner.threads.push(std::thread::current().id());
        let connections = self.connections(&inner);
        inner.most = inner.most.max(connections);
        drop(inner);
        if let Some(bar) = &self.bar {
            bar.connections(&self.name, connections);
        }
    }

    /// A range fetcher of this transfer thread ends.
    fn disconnect(&self) {
        let mut inner = self.lock();
        inner.open -= 1;
        let thread = std::thread::current().id();
        if let Some(i) = inner.threads.iter().position(|t| *t == thread) {
            inner.threads.swap_remove(i);
        }
        let connections = self.connections(&inner);
        drop(inner);
        if let Some(bar) = &self.bar {
            bar.connections(&self.name, connections.max(1));
        }
        self.changed.notify_one();
    }

    fn connections(&self, inner: &Inner) -> u32 {
        connections(self.multiplexed, &inner.threads)
    }

    /// A range answer was whole (of the same version): the server ignores
    /// ranges. No more connections; the first answer, if it is still being
    /// read, is read to the end of the file.
    fn no_ranges(&self) {
        let mut inner = self.lock();
        inner.wanted = 0;
        inner.work.read_on(self.size);
    }

    /// Stops every connection (the first reason wins).
    fn end(&self, why: Ended) {
        let mut inner = self.lock();
        if inner.ended.is_none() {
            inner.ended = Some(why);
        }
        inner.wanted = 0;
        drop(inner);
        self.stopped.cancel();
        self.changed.notify_one();
    }

    /// The next range for a connection (see [`Work::take`]); none once the
    /// file stopped.
    fn take(&self) -> Option<(u64, u64, u64)> {
        let mut inner = self.lock();
        if inner.ended.is_some() {
            return None;
        }
        inner.work.take(self.min)
    }

    /// Up to `want` bytes of range `id` to write, and where: `None` when
    /// the range is done (or was taken over) or the file stops.
    fn reserve(&self, id: u64, want: usize) -> Option<(u64, usize)> {
        let mut inner = self.lock();
        if inner.ended.is_some() {
            return None;
        }
        inner.work.reserve(id, want)
    }

    /// Bytes `start..end` are written (not yet synced).
    fn written(&self, start: u64, end: u64) {
        let mut inner = self.lock();
        inner.work.written(start, end);
        if inner.noted_at.elapsed() >= NOTE_EVERY {
            inner.noted_at = Instant::now();
            let done = inner.work.done().to_vec();
            drop(inner);
            self.part.advance(done);
        }
    }

    /// Range `id` ends: what it did not receive goes back to the others.
    fn release(&self, id: u64) {
        let mut inner = self.lock();
        inner.work.release(id);
        drop(inner);
        self.changed.notify_one();
    }

    /// Fetches one range on this connection (a new request).
    async fn fetch_range(&self, ctx: &Ctx, (id, start, end): (u64, u64, u64)) -> Fetched {
        let request = base_request(ctx, &self.url)
            .header(RANGE, format!("bytes={start}-{}", end - 1))
            .header(IF_RANGE, self.note.if_range());
        let sent = tokio::select! {
            sent = send_request(ctx, &self.url, request) => sent,
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
        let proven = self.note.proves(headers);
        match status {
            StatusCode::PARTIAL_CONTENT
                if proven && exact_range(&response) == Some((start, end - 1, self.size)) => {}
            StatusCode::OK if proven => {
                self.release(id);
                return Fetched::NoRanges;
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
        self.pump(ctx, id, response).await
    }

    /// Writes the body of range `id` at its offsets until the range is
    /// done, taken over, or the file stops.
    async fn pump(&self, ctx: &Ctx, id: u64, mut response: Response) -> Fetched {
        let status = response.status().as_u16();
        let mut sink = RangeSink { split: self, id };
        let read = body::read(
            ctx,
            &self.url,
            &mut response,
            Some(&self.stopped),
            &mut sink,
        )
        .await;
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

    /// Bytes of the file on disk.
    fn received(&self) -> u64 {
        self.lock().work.received()
    }

    /// Bytes range `id` has yet to receive (0 once it is gone).
    fn remaining(&self, id: u64) -> u64 {
        self.lock().work.remaining(id)
    }

    /// What `--split auto` looks at.
    fn sample(&self) -> auto::Sample {
        let inner = self.lock();
        auto::Sample {
            open: inner.open,
            flowing: inner.work.flowing(),
            has_work: inner.work.has_work(self.min),
            bytes: inner.work.received(),
        }
    }
}

/// Connections open for ranges fetched on `threads` (a transfer thread
/// each): one per range over HTTP/1.1, one per transfer thread over HTTP/2,
/// whose client keeps one connection to the host and sends the thread's
/// ranges as streams on it.
fn connections<T: PartialEq>(multiplexed: bool, threads: &[T]) -> u32 {
    let n = if multiplexed {
        (0..threads.len())
            .filter(|&i| !threads[..i].contains(&threads[i]))
            .count()
    } else {
        threads.len()
    };
    u32::try_from(n).unwrap_or(u32::MAX)
}

/// `Content-Range: bytes A-B/SIZE` → `(A, B, SIZE)`.
fn exact_range(response: &Response) -> Option<(u64, u64, u64)> {
    let range = ContentRange::of(response.headers())?;
    let (first, last) = range.range?;
    Some((first, last, range.size?))
}

/// How a file over several connections may begin: the first connection's
/// answer and the `.part` it continues.
pub(super) struct Start<'a> {
    pub(super) url: &'a Url,
    /// The file's name, for its progress line.
    pub(super) name: &'a str,
    /// `DEST.part` as shown in messages.
    pub(super) shown: String,
    /// The `.part`, open for positioned writes and reads.
    pub(super) file: File,
    /// The version, with the ranges already complete.
    pub(super) note: Note,
    pub(super) size: u64,
    /// Where the first answer's body starts.
    pub(super) from: u64,
}

/// What the connections achieved.
pub(super) enum Outcome {
    /// Every byte is on disk; the most connections open at once.
    Complete {
        file: File,
        connections: u32,
    },
    Restart {
        file: File,
        why: anyhow::Error,
    },
    Failed {
        file: File,
        failure: Failure,
        empty: bool,
    },
}

/// Fetches the file `start` describes over several connections, the first
/// of which already has `response`: sets the file up, reads on the first
/// connection (and, with `--split auto`, asks for more while they pay off),
/// then winds down and says how it ended.
pub(super) async fn download(
    ctx: &Ctx,
    start: Start<'_>,
    mode: SplitMode,
    response: Response,
) -> Outcome {
    let multiplexed = response.version() >= reqwest::Version::HTTP_2;
    let (split, keep, first) = match Split::begin(ctx, start, mode, multiplexed) {
        Ok(begun) => begun,
        Err(outcome) => return *outcome,
    };
    tokio::select! {
        () = split.first_connection(ctx, first, response) => {}
        () = split.grow(ctx) => {}
    }
    split.wind_down(keep).await
}

impl Split {
    /// The file set up from `start`: its bookkeeping, its shared `.part`
    /// and progress line, the first connection counted and more asked for;
    /// also the descriptor the finished file is handed back on and the
    /// first answer's range.
    #[allow(clippy::type_complexity)]
    fn begin(
        ctx: &Ctx,
        start: Start<'_>,
        mode: SplitMode,
        multiplexed: bool,
    ) -> Result<(Arc<Split>, File, Option<(u64, u64, u64)>), Box<Outcome>> {
        let Start {
            url,
            name,
            shown,
            file,
            note,
            size,
            from,
        } = start;
        // The finished file is handed back on a descriptor of its own; the
        // shared one is closed when the download ends.
        let keep = match file.try_clone() {
            Ok(keep) => keep,
            Err(e) => {
                let e = anyhow::Error::new(e).context(format!("cannot reopen {shown}"));
                let failure = Failure::new(FailureKind::of_write(&e), None, e);
                return Err(Box::new(Outcome::Failed {
                    file,
                    failure,
                    empty: false,
                }));
            }
        };
        let done = match note.ranges() {
            Ranges::Sparse { done, .. } => done.clone(),
            Ranges::Contiguous => vec![(0, from)].into_iter().filter(|r| r.1 > 0).collect(),
        };
        let min = ctx.settings.min_split_size;
        let (n, auto) = match mode {
            SplitMode::Fixed(n) => (n as u32, false),
            SplitMode::Auto => (1, true),
        };
        let received: u64 = done.iter().map(|(a, b)| b - a).sum();
        let mut work = Work::new(size, done.clone(), n, min);
        // The first answer's body begins at `from`: its range is the piece
        // that starts there.
        let first = work.start_at(from);
        let bar = ctx.progress.file_bar(name, Some(size), false);
        if let Some(bar) = &bar {
            bar.inc(received);
        }
        let part = Arc::new(SharedPart::new(file, note.clone(), size, &done));
        let split = Arc::new(Split {
            url: url.clone(),
            note: note.with_ranges(Ranges::Sparse { size, done }),
            size,
            part,
            shown,
            min,
            auto,
            multiplexed,
            inner: Mutex::new(Inner {
                work,
                ended: None,
                wanted: n.saturating_sub(1),
                open: 0,
                threads: Vec::new(),
                most: 0,
                noted_at: Instant::now(),
            }),
            changed: tokio::sync::Notify::new(),
            stopped: CancellationToken::new(),
            bar,
            name: name.to_string(),
        });
        split.connect();
        if split.wants_connection() {
            ctx.shared.ask_connections(split.clone());
        }
        Ok((split, keep, first))
    }

    /// The first connection: reads its answer, then takes range after range
    /// until no work is left for it, going on after a cut or a stall while
    /// the file moves; any other failure ends the attempt.
    async fn first_connection(
        &self,
        ctx: &Ctx,
        first: Option<(u64, u64, u64)>,
        response: Response,
    ) {
        // The bytes on disk at the first connection's last network failure.
        let mut progress: Option<u64> = None;
        let mut fetched = match first {
            Some((id, ..)) => self.pump(ctx, id, response).await,
            None => {
                drop(response);
                Fetched::Done
            }
        };
        loop {
            match fetched {
                Fetched::Done => {}
                Fetched::NoRanges => {
                    // This connection's own range answer was whole: the rest
                    // can only come from zero, on one connection.
                    self.end(Ended::Restart(anyhow!("the server ignores ranges")));
                    return;
                }
                Fetched::Failed(failure)
                    if failure.kind == FailureKind::Network
                        && progress.is_none_or(|at| self.received() > at) =>
                {
                    // A cut or a stall: the range went back, and this
                    // connection goes on with a new request, as long as
                    // the file moved since its last such failure.
                    tracing::debug!("{}: {:#}; going on", masked(&self.url), failure.error);
                    progress = Some(self.received());
                }
                Fetched::Failed(failure) => {
                    // Otherwise the first connection's failure ends the
                    // attempt; the retry continues from the ranges
                    // complete by then.
                    self.end(Ended::Failed(failure.with_bytes(self.received())));
                    return;
                }
            }
            if let Some(range) = self.take() {
                fetched = self.fetch_range(ctx, range).await;
                continue;
            }
            let notified = self.changed.notified();
            {
                let inner = self.lock();
                if inner.ended.is_some() || inner.work.is_idle() {
                    return;
                }
            }
            // Others are still fetching: wait for one to end or give work
            // back.
            tokio::select! {
                () = notified => {}
                () = ctx.cancel.cancelled() => {
                    self.end(Ended::Failed(cancelled().with_bytes(self.received())));
                    return;
                }
            }
            fetched = Fetched::Done;
        }
    }

    /// `--split auto`: more connections while they pay off (never returns;
    /// without `auto`, waits forever).
    async fn grow(self: &Arc<Self>, ctx: &Ctx) {
        if !self.auto {
            return std::future::pending().await;
        }
        let mut growth = auto::Growth::new(self.received(), Instant::now());
        loop {
            tokio::time::sleep(auto::TICK).await;
            let more = growth.more(self.sample(), Instant::now());
            if more > 0 {
                tracing::debug!(
                    "{}: --split auto: {more} more connections",
                    masked(&self.url)
                );
                self.lock().wanted += more;
                ctx.shared.ask_connections(self.clone());
            }
        }
    }

    /// The first connection is done: no more connections start; once the
    /// open ones end (each at its range's end, a stall, or at once once the
    /// file stopped), a kept file is noted whole, the shared descriptor is
    /// closed and the outcome says how it ended (`keep` handed back).
    async fn wind_down(&self, keep: File) -> Outcome {
        self.disconnect();
        self.lock().wanted = 0;
        loop {
            let notified = self.changed.notified();
            if self.lock().open == 0 {
                break;
            }
            notified.await;
        }
        let (ended, complete, done, connections, received) = {
            let mut inner = self.lock();
            let ended = inner.ended.replace(Ended::Closed);
            let complete = inner.work.complete(self.size);
            let done = inner.work.done().to_vec();
            (ended, complete, done, inner.most, inner.work.received())
        };
        let empty = done.is_empty();
        if !complete && !matches!(ended, Some(Ended::Restart(_))) {
            // Kept for a later attempt or run: noted whole, once synced.
            self.part.settle(done).await;
        }
        // The file is checked and renamed (or removed) next, on the
        // descriptor handed back: no note may land on it after that, and
        // nothing else of this download holds it open.
        self.part.close().await;
        match ended {
            Some(Ended::Restart(why)) => Outcome::Restart { file: keep, why },
            Some(Ended::Failed(failure)) => Outcome::Failed {
                file: keep,
                failure,
                empty,
            },
            None if complete => Outcome::Complete {
                file: keep,
                connections,
            },
            None | Some(Ended::Closed) => {
                let failure = Failure::new(
                    FailureKind::Network,
                    None,
                    anyhow!("ranges still missing after every connection ended"),
                )
                .with_bytes(received);
                Outcome::Failed {
                    file: keep,
                    failure,
                    empty,
                }
            }
        }
    }
}

/// A connection the runner started for `split`: fetches ranges until no
/// work is left for it.
async fn connection(ctx: Arc<Ctx>, split: Arc<Split>) {
    split.connect();
    while let Some(range) = split.take() {
        match split.fetch_range(&ctx, range).await {
            Fetched::Done => {}
            Fetched::NoRanges => {
                split.no_ranges();
                break;
            }
            Fetched::Failed(failure) => {
                tracing::debug!(
                    "{}: a connection of a split download ended: {:#}",
                    masked(&split.url),
                    failure.error
                );
                break;
            }
        }
    }
    split.disconnect();
}

#[cfg(test)]
mod tests {
    use super::connections;

    #[test]
    fn over_http2_the_ranges_of_one_thread_are_one_connection() {
        let threads = ["a", "b", "a", "a", "c", "b"];
        assert_eq!(connections(false, &threads), 6);
        assert_eq!(connections(true, &threads), 3);
        assert_eq!(connections(true, &["a"; 16]), 1);
        assert_eq!(connections::<&str>(true, &[]), 0);
    }
}
