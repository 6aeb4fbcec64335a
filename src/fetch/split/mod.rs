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
use std::os::unix::fs::FileExt;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard, RwLock};
use std::time::{Duration, Instant};

use anyhow::anyhow;
use reqwest::header::{IF_RANGE, RANGE};
use reqwest::{Response, StatusCode};
use tokio_util::sync::CancellationToken;
use url::Url;

mod auto;
mod work;

use self::work::Work;
use super::resume::{MAX_NOTE_RANGES, Note, Ranges, content_range_start};
use super::{BodyError, after_chunk, base_request, send_request, stalled};
use crate::cli::Split as SplitMode;
use crate::error::FailureKind;
use crate::http::{Ctx, MoreConnections, network_error};
use crate::progress::FileBar;
use crate::report::{Failure, masked};

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
    /// Connections open now, the first included, and the most at once.
    open: u32,
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

/// The `.part` as the connections share it: one descriptor for their
/// positioned writes, and the note, kept honest. The note names only ranges
/// whose bytes were synced to disk first: a note written after data that a
/// power loss can still lose would make a later run trust zeros, while a
/// note that lags the data only costs a later run some bytes fetched again.
///
/// The descriptor is closed when the download ends ([`SharedPart::close`]),
/// whoever still holds the `Split` (the runner, a connection's task ending):
/// the `.part`'s lock (`outdir.rs`) belongs to the open file, so only the
/// descriptor handed back to `fetch/mod.rs` keeps it, and a retry in this
/// process can take the file again once that one is dropped.
struct SharedPart {
    file: RwLock<Option<File>>,
    /// The version; its ranges are not used.
    note: Note,
    size: u64,
    state: Mutex<Noted>,
    /// A sync ended.
    idle: tokio::sync::Notify,
}

struct Noted {
    /// Bytes the note on disk claims.
    bytes: u64,
    /// A sync runs now.
    syncing: bool,
    /// The download is over: no more syncs or notes (none lands on the
    /// file after its rename).
    closed: bool,
}

impl SharedPart {
    fn new(file: File, note: Note, size: u64, done: &[(u64, u64)]) -> SharedPart {
        let part = SharedPart {
            file: RwLock::new(Some(file)),
            note,
            size,
            state: Mutex::new(Noted {
                bytes: total(done),
                syncing: false,
                closed: false,
            }),
            idle: tokio::sync::Notify::new(),
        };
        // What the file already holds durably (the ranges a note claimed
        // when the download began, or a contiguous `.part`'s length).
        if let Some(file) = part.read().as_ref() {
            part.write_note(file, done);
        }
        part
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, Option<File>> {
        self.file.read().unwrap_or_else(|e| e.into_inner())
    }

    /// Writes `bytes` at `at`.
    fn write_at(&self, bytes: &[u8], at: u64) -> std::io::Result<()> {
        match self.read().as_ref() {
            Some(file) => file.write_all_at(bytes, at),
            None => Err(std::io::Error::other("the download has ended")),
        }
    }

    /// Syncs the file in the background, then notes `done` (skipped while
    /// an earlier sync still runs: the next call catches up).
    fn advance(self: &Arc<Self>, done: Vec<(u64, u64)>) {
        {
            let mut state = self.lock();
            if state.closed || state.syncing || total(&done) <= state.bytes {
                return;
            }
            state.syncing = true;
        }
        let part = self.clone();
        tokio::task::spawn_blocking(move || part.sync_and_note(&done));
    }

    /// The download stops with the file kept: syncs and notes `done` (after
    /// a sync already running), so a later run resumes from everything
    /// received.
    async fn settle(self: &Arc<Self>, done: Vec<(u64, u64)>) {
        if !self.until_idle(|state| state.syncing = true).await {
            return;
        }
        let part = self.clone();
        if tokio::task::spawn_blocking(move || part.sync_and_note(&done))
            .await
            .is_err()
        {
            // It never ran (the runtime is going away): nothing syncs.
            self.lock().syncing = false;
            self.idle.notify_waiters();
        }
    }

    /// The download is over: waits for a sync still running, then closes
    /// the shared descriptor (no more notes).
    async fn close(&self) {
        self.until_idle(|state| state.closed = true).await;
        drop(self.file.write().unwrap_or_else(|e| e.into_inner()).take());
    }

    /// Waits until no sync runs, then applies `then` to the state under
    /// its lock; `false` when the part was closed already.
    async fn until_idle(&self, then: impl Fn(&mut Noted)) -> bool {
        loop {
            // Created before the check: a sync that ends in between wakes it.
            let ended = self.idle.notified();
            {
                let mut state = self.lock();
                if state.closed {
                    return false;
                }
                if !state.syncing {
                    then(&mut state);
                    return true;
                }
            }
            ended.await;
        }
    }

    fn sync_and_note(&self, done: &[(u64, u64)]) {
        {
            let file = self.read();
            let synced = file.as_ref().map(rustix::fs::fdatasync);
            let mut state = self.lock();
            state.syncing = false;
            match (synced, file.as_ref()) {
                (Some(Ok(())), Some(file)) if !state.closed && total(done) > state.bytes => {
                    // Notes only grow: a slower sync of fewer bytes never
                    // overwrites a later one.
                    state.bytes = total(done);
                    self.write_note(file, done);
                }
                (Some(Err(err)), _) => {
                    tracing::debug!("cannot sync a .part: {err}; its note stays as it was");
                }
                _ => {}
            }
        }
        self.idle.notify_waiters();
    }

    fn write_note(&self, file: &File, done: &[(u64, u64)]) {
        // Past the cap (never reached with ranges cut as here), no note is
        // better than one that a later run cannot read.
        if done.len() <= MAX_NOTE_RANGES {
            self.note
                .with_ranges(Ranges::Sparse {
                    size: self.size,
                    done: done.to_vec(),
                })
                .write(file);
        }
    }

    fn lock(&self) -> MutexGuard<'_, Noted> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

fn total(ranges: &[(u64, u64)]) -> u64 {
    ranges.iter().map(|(a, b)| b - a).sum()
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

    fn connect(&self) {
        let mut inner = self.lock();
        inner.open += 1;
        inner.most = inner.most.max(inner.open);
        let open = inner.open;
        drop(inner);
        if let Some(bar) = &self.bar {
            bar.connections(&self.name, open);
        }
    }

    fn disconnect(&self) {
        let mut inner = self.lock();
        inner.open -= 1;
        let open = inner.open;
        drop(inner);
        if let Some(bar) = &self.bar {
            bar.connections(&self.name, open.max(1));
        }
        self.changed.notify_one();
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
        let stall = ctx.http().stall_timeout;
        let result = async {
            loop {
                let chunk = tokio::select! {
                    chunk = tokio::time::timeout(stall, response.chunk()) => chunk,
                    () = ctx.cancel.cancelled() => return Err(BodyError::Cancelled),
                    // The reason is the file's, recorded by whoever stopped it.
                    () = self.stopped.cancelled() => return Ok(()),
                };
                let chunk = chunk
                    .map_err(|_| BodyError::Network(stalled(stall)))?
                    .map_err(|e| {
                        BodyError::Network(
                            network_error(e, &self.url).context("body transfer failed"),
                        )
                    })?;
                let Some(mut chunk) = chunk else {
                    if self.remaining(id) == 0 {
                        return Ok(());
                    }
                    return Err(BodyError::Network(anyhow!(
                        "truncated: the range ended early"
                    )));
                };
                while !chunk.is_empty() {
                    let Some((at, n)) = self.reserve(id, chunk.len()) else {
                        return Ok(());
                    };
                    let bytes = chunk.split_to(n);
                    self.part.write_at(&bytes, at).map_err(|e| {
                        BodyError::Write(
                            anyhow::Error::new(e).context(format!("cannot write {}", self.shown)),
                        )
                    })?;
                    self.written(at, at + n as u64);
                    if let Some(bar) = &self.bar {
                        bar.inc(n as u64);
                    }
                    after_chunk(ctx, n).await?;
                }
            }
        }
        .await;
        self.release(id);
        match result {
            Ok(()) => Fetched::Done,
            Err(BodyError::Network(e)) => {
                Fetched::Failed(Failure::new(FailureKind::Network, Some(status), e))
            }
            Err(BodyError::Write(e)) => {
                let mut failure = Failure::new(FailureKind::of_write(&e), Some(status), e);
                failure.bytes = self.received();
                self.end(Ended::Failed(failure));
                Fetched::Done
            }
            Err(BodyError::Cancelled) => {
                let mut failure = super::cancelled();
                failure.bytes = self.received();
                self.end(Ended::Failed(failure));
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

/// `Content-Range: bytes A-B/SIZE` → `(A, B, SIZE)`.
fn exact_range(response: &Response) -> Option<(u64, u64, u64)> {
    let value = response
        .headers()
        .get(reqwest::header::CONTENT_RANGE)?
        .to_str()
        .ok()?;
    let (start, total) = content_range_start(response.headers())?;
    let end = value
        .split_once('-')?
        .1
        .split_once('/')?
        .0
        .trim()
        .parse()
        .ok()?;
    Some((start, end, total?))
}

/// How a file over several connections may begin: the first connection's
/// answer and the `.part` it continues.
pub(super) struct Start {
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

/// Fetches the file over up to `mode`'s connections, the first reading
/// `response`, and waits for every connection to end.
pub(super) async fn download(
    ctx: &Ctx,
    url: &Url,
    name: &str,
    shown: String,
    start: Start,
    mode: SplitMode,
    response: Response,
) -> Outcome {
    let Start {
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
            return Outcome::Failed {
                file,
                failure,
                empty: false,
            };
        }
    };
    let done = match note.ranges() {
        Ranges::Sparse { done, .. } => done.clone(),
        Ranges::Contiguous => vec![(0, from)].into_iter().filter(|r| r.1 > 0).collect(),
    };
    let min = ctx.config.min_split_size;
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
        inner: Mutex::new(Inner {
            work,
            ended: None,
            wanted: n.saturating_sub(1),
            open: 0,
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
    let work = async {
        // The bytes on disk at the first connection's last network failure.
        let mut progress: Option<u64> = None;
        let mut fetched = match first {
            Some((id, ..)) => split.pump(ctx, id, response).await,
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
                    split.end(Ended::Restart(anyhow!("the server ignores ranges")));
                    return;
                }
                Fetched::Failed(failure)
                    if failure.kind == FailureKind::Network
                        && progress.is_none_or(|at| split.received() > at) =>
                {
                    // A cut or a stall: the range went back, and this
                    // connection goes on with a new request, as long as
                    // the file moved since its last such failure.
                    tracing::debug!("{}: {:#}; going on", masked(url), failure.error);
                    progress = Some(split.received());
                }
                Fetched::Failed(mut failure) => {
                    // Otherwise the first connection's failure ends the
                    // attempt; the retry continues from the ranges
                    // complete by then.
                    failure.bytes = split.received();
                    split.end(Ended::Failed(failure));
                    return;
                }
            }
            if let Some(range) = split.take() {
                fetched = split.fetch_range(ctx, range).await;
                continue;
            }
            let notified = split.changed.notified();
            {
                let inner = split.lock();
                if inner.ended.is_some() || inner.work.is_idle() {
                    return;
                }
            }
            // Others are still fetching: wait for one to end or give work
            // back.
            tokio::select! {
                () = notified => {}
                () = ctx.cancel.cancelled() => {
                    let mut failure = super::cancelled();
                    failure.bytes = split.received();
                    split.end(Ended::Failed(failure));
                    return;
                }
            }
            fetched = Fetched::Done;
        }
    };
    // `--split auto`: more connections while they pay off.
    let grow = async {
        if !split.auto {
            return std::future::pending().await;
        }
        let mut growth = auto::Growth::new(split.received(), Instant::now());
        loop {
            tokio::time::sleep(auto::TICK).await;
            let more = growth.more(split.sample(), Instant::now());
            if more > 0 {
                tracing::debug!("{}: --split auto: {more} more connections", masked(url));
                split.lock().wanted += more;
                ctx.shared.ask_connections(split.clone());
            }
        }
    };
    tokio::select! {
        () = work => {}
        () = grow => {}
    }
    split.disconnect();
    // No more connections start; wait for the open ones to end (each ends
    // at its range's end, a stall, or at once once the file stopped).
    split.lock().wanted = 0;
    loop {
        let notified = split.changed.notified();
        if split.lock().open == 0 {
            break;
        }
        notified.await;
    }
    let (ended, complete, done, connections, received) = {
        let mut inner = split.lock();
        let ended = inner.ended.replace(Ended::Closed);
        let complete = inner.work.complete(size);
        let done = inner.work.done().to_vec();
        (ended, complete, done, inner.most, inner.work.received())
    };
    let empty = done.is_empty();
    if !complete && !matches!(ended, Some(Ended::Restart(_))) {
        // Kept for a later attempt or run: noted whole, once synced.
        split.part.settle(done).await;
    }
    // The file is checked and renamed (or removed) next, on the descriptor
    // handed back: no note may land on it after that, and nothing else of
    // this download holds it open.
    split.part.close().await;
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
            let mut failure = Failure::new(
                FailureKind::Network,
                None,
                anyhow!("ranges still missing after every connection ended"),
            );
            failure.bytes = received;
            Outcome::Failed {
                file: keep,
                failure,
                empty,
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
    use super::*;
    use reqwest::header::{ETAG, HeaderMap, HeaderValue};

    fn version() -> Note {
        let mut headers = HeaderMap::new();
        headers.insert(ETAG, HeaderValue::from_static("\"v1\""));
        Note::for_answer("u", &headers).unwrap()
    }

    fn noted(file: &File) -> Option<Vec<(u64, u64)>> {
        match Note::read(file)?.ranges() {
            Ranges::Sparse { done, .. } => Some(done.clone()),
            Ranges::Contiguous => None,
        }
    }

    /// The note claims a range only once a sync is done with it; a stale
    /// sync never takes a note back; once closed, nothing more is noted and
    /// the shared descriptor is gone (the one handed back keeps the file).
    #[tokio::test]
    async fn the_note_follows_the_syncs_and_stops_at_close() {
        let dir = tempfile::tempdir().unwrap();
        if !crate::test_support::xattrs(dir.path(), "the note a split keeps") {
            return;
        }
        let file = File::options()
            .read(true)
            .write(true)
            .create(true)
            .truncate(true)
            .open(dir.path().join("a.part"))
            .unwrap();
        use rustix::fs::FlockOperation::NonBlockingLockExclusive;
        // As `outdir.rs` hands it over: locked.
        rustix::fs::flock(&file, NonBlockingLockExclusive).unwrap();
        let keep = file.try_clone().unwrap();
        let part = Arc::new(SharedPart::new(file, version(), 100, &[(0, 10)]));
        assert_eq!(noted(&keep), Some(vec![(0, 10)]), "what it began with");

        part.write_at(&[7; 40], 10).unwrap();
        part.settle(vec![(0, 50)]).await;
        assert_eq!(noted(&keep), Some(vec![(0, 50)]));
        // A sync of fewer bytes (one that started earlier and ends later)
        // leaves the note as it is.
        part.lock().syncing = true;
        part.sync_and_note(&[(0, 20)]);
        assert_eq!(noted(&keep), Some(vec![(0, 50)]));

        part.close().await;
        part.advance(vec![(0, 100)]);
        part.settle(vec![(0, 100)]).await;
        assert_eq!(noted(&keep), Some(vec![(0, 50)]), "nothing after close");
        assert!(
            part.write_at(b"x", 60).is_err(),
            "the shared descriptor is closed"
        );
        // Only `keep` holds the file's lock now, and once it is dropped
        // the file is free for a retry.
        let again = File::open(dir.path().join("a.part")).unwrap();
        assert!(rustix::fs::flock(&again, NonBlockingLockExclusive).is_err());
        drop(keep);
        rustix::fs::flock(&again, NonBlockingLockExclusive).unwrap();
    }
}
