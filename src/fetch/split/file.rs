//! The file being fetched over several connections, as its connections
//! and the runner share it: the bookkeeping of its ranges (`work.rs`) under
//! one lock, the connections open and the most at once, how the download
//! ended, and the runner's side ([`MoreConnections`]: whether it wants
//! another connection). No I/O but the note's update (`shared.rs`).

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use tokio_util::sync::CancellationToken;
use url::Url;

use super::auto;
use super::shared::SharedPart;
use super::work::Work;
use crate::fetch::resume::Note;
use crate::outcome::Failure;
use crate::progress::{Expecting, FileBar};
use crate::session::{Ctx, MoreConnections};

/// The note is brought up to date this often while bytes come, unless
/// the file is about to be whole ([`worth_noting`]).
const NOTE_EVERY: Duration = Duration::from_secs(1);

/// A file being fetched over several connections, shared by them and the
/// runner.
pub(super) struct Split {
    /// The URL of the first connection.
    pub(super) url: Url,
    /// A line's other URLs for the file, which ranges may come from too
    /// (`range.rs`: only with the digest known or the version proven).
    pub(super) mirrors: Vec<Url>,
    /// Whether each of `mirrors` wrote bytes into the file.
    pub(super) served: Vec<AtomicBool>,
    /// A digest will check the whole file: a mirror's range need not prove
    /// the first answer's validator.
    pub(super) digest_known: bool,
    /// The version every answer must prove (its ranges are not used).
    pub(super) note: Note,
    pub(super) size: u64,
    /// The `.part`'s shared descriptor and its note.
    pub(super) part: Arc<SharedPart>,
    /// `DEST.part` as shown in messages.
    pub(super) shown: String,
    pub(super) min: u64,
    pub(super) auto: bool,
    /// The answers come over HTTP/2 (or later): the ranges a transfer
    /// thread fetches are streams on that thread's one connection.
    pub(super) multiplexed: bool,
    pub(super) inner: Mutex<Inner>,
    /// A connection ended or gave work back: the first one looks again.
    pub(super) changed: tokio::sync::Notify,
    /// Cancelled when the file stops (a new version, a failure): every
    /// connection stops at once, not at its next byte.
    pub(super) stopped: CancellationToken,
    pub(super) bar: Option<FileBar>,
    pub(super) name: String,
    /// The bytes still missing, for the overall display.
    pub(super) expecting: Expecting,
}

pub(super) struct Inner {
    pub(super) work: Work,
    pub(super) ended: Option<Ended>,
    /// Connections the runner may still start for this file.
    pub(super) wanted: u32,
    /// Ranges being fetched now (a connection each over HTTP/1.1), the
    /// first included.
    pub(super) open: u32,
    /// The transfer thread of each range being fetched: over HTTP/2 the
    /// ranges of one thread share its connection.
    pub(super) threads: Vec<std::thread::ThreadId>,
    /// The most connections open at once.
    pub(super) most: u32,
    pub(super) noted_at: Instant,
    /// Bytes on disk at `noted_at`.
    pub(super) noted_received: u64,
    /// Where the next connection goes: 0 for `url`, `i` for `mirrors[i - 1]`
    /// (taken in turn, skipping those that failed).
    pub(super) turn: usize,
    /// The mirrors that failed a range: no connection goes there again.
    pub(super) failed: Vec<bool>,
}

/// Why the connections stopped before the file was whole.
pub(super) enum Ended {
    /// An answer of another version: start the file over from zero.
    Restart(anyhow::Error),
    /// The first connection failed, a write failed, or the run stops.
    Failed(Failure),
    /// The download is over: a connection started late does nothing.
    Closed,
}

impl MoreConnections for Split {
    fn url(&self) -> &Url {
        let inner = self.lock();
        self.url_at(self.turn(&inner))
    }

    fn wants_connection(&self) -> bool {
        let inner = self.lock();
        inner.ended.is_none() && inner.wanted > 0 && inner.work.has_work(self.min)
    }

    fn starting(&self) {
        let mut inner = self.lock();
        inner.wanted = inner.wanted.saturating_sub(1);
        inner.turn = self.turn(&inner) + 1;
    }

    fn connection(
        self: Arc<Self>,
        ctx: Arc<Ctx>,
        url: Url,
    ) -> Pin<Box<dyn Future<Output = ()> + Send>> {
        Box::pin(super::connection(ctx, self, url))
    }
}

impl Split {
    /// The next connection's URL, as a turn (see [`Inner::turn`]).
    fn turn(&self, inner: &Inner) -> usize {
        let n = self.mirrors.len() + 1;
        (inner.turn..inner.turn + n)
            .map(|turn| turn % n)
            .find(|&turn| turn == 0 || !inner.failed[turn - 1])
            .unwrap_or(0)
    }

    fn url_at(&self, turn: usize) -> &Url {
        match turn {
            0 => &self.url,
            i => &self.mirrors[i - 1],
        }
    }

    /// The index in `mirrors` of `url`, when it is one of them.
    pub(super) fn mirror(&self, url: &Url) -> Option<usize> {
        if *url == self.url {
            return None;
        }
        self.mirrors.iter().position(|m| m == url)
    }

    /// A range from mirror `i` failed: no connection goes there again, and
    /// one more is asked for in its place.
    pub(super) fn mirror_failed(&self, i: usize) {
        let mut inner = self.lock();
        inner.failed[i] = true;
        if inner.ended.is_none() {
            inner.wanted += 1;
        }
    }

    /// The mirrors that wrote bytes into the file.
    pub(super) fn served_by(&self) -> Vec<Url> {
        let served = self.served.iter().map(|s| s.load(Ordering::Relaxed));
        served
            .zip(&self.mirrors)
            .filter(|(served, _)| *served)
            .map(|(_, url)| url.clone())
            .collect()
    }
}

impl Split {
    pub(super) fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A range fetcher starts on this transfer thread.
    pub(super) fn connect(&self) {
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
    pub(super) fn disconnect(&self) {
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
    pub(super) fn no_ranges(&self) {
        let mut inner = self.lock();
        inner.wanted = 0;
        inner.work.read_on(self.size);
    }

    /// Stops every connection (the first reason wins).
    pub(super) fn end(&self, why: Ended) {
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
    pub(super) fn take(&self) -> Option<(u64, u64, u64)> {
        let mut inner = self.lock();
        if inner.ended.is_some() {
            return None;
        }
        inner.work.take(self.min)
    }

    /// Up to `want` bytes of range `id` to write, and where: `None` when
    /// the range is done (or was taken over) or the file stops.
    pub(super) fn reserve(&self, id: u64, want: usize) -> Option<(u64, usize)> {
        let mut inner = self.lock();
        if inner.ended.is_some() {
            return None;
        }
        inner.work.reserve(id, want)
    }

    /// Bytes `start..end` are written (not yet synced).
    pub(super) fn written(&self, start: u64, end: u64) {
        let mut inner = self.lock();
        inner.work.written(start, end);
        let since = inner.noted_at.elapsed();
        if since >= NOTE_EVERY {
            let received = inner.work.received();
            let came = received.saturating_sub(inner.noted_received);
            inner.noted_at = Instant::now();
            inner.noted_received = received;
            if !worth_noting(self.size.saturating_sub(received), came, since) {
                return;
            }
            let done = inner.work.done().to_vec();
            drop(inner);
            self.part.advance(done);
        }
    }

    /// Range `id` ends: what it did not receive goes back to the others.
    pub(super) fn release(&self, id: u64) {
        let mut inner = self.lock();
        inner.work.release(id);
        drop(inner);
        self.changed.notify_one();
    }

    /// Bytes of the file on disk.
    pub(super) fn received(&self) -> u64 {
        self.lock().work.received()
    }

    /// Bytes range `id` has yet to receive (0 once it is gone).
    pub(super) fn remaining(&self, id: u64) -> u64 {
        self.lock().work.remaining(id)
    }

    /// What `--split auto` looks at.
    pub(super) fn sample(&self) -> auto::Sample {
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

/// Whether a note is worth its sync, with `missing` bytes to go after
/// `came` bytes in the last `since`: not when, at that pace, the file is
/// whole within half a [`NOTE_EVERY`]. A note is for a later run, and the
/// sync (a whole second's bytes to disk) slows the transfer it races: so
/// near its end, where the note is removed moments later, it is skipped.
/// A file that slows down there is noted at the next check; the note lags
/// by at most two periods, and a stopped download is noted as it stops.
fn worth_noting(missing: u64, came: u64, since: Duration) -> bool {
    let soon = came as f64 * (NOTE_EVERY.as_secs_f64() / 2.0) / since.as_secs_f64().max(1e-3);
    missing as f64 >= soon
}

#[cfg(test)]
mod tests {
    use super::{Duration, connections, worth_noting};

    #[test]
    fn a_note_is_skipped_only_when_the_file_is_about_to_be_whole() {
        let second = Duration::from_secs(1);
        // 100 bytes a second: 50 or more to go is half a second or more.
        assert!(worth_noting(1_000, 100, second));
        assert!(worth_noting(50, 100, second));
        assert!(!worth_noting(49, 100, second));
        assert!(!worth_noting(0, 100, second));
        // The pace is over the time that passed, not over a second.
        assert!(worth_noting(150, 100, Duration::from_millis(500)));
        assert!(!worth_noting(90, 100, Duration::from_millis(500)));
        // Nothing came: the file is not about to be whole.
        assert!(worth_noting(1, 0, second));
        assert!(!worth_noting(u64::MAX / 4, u64::MAX, second));
    }

    #[test]
    fn over_http2_the_ranges_of_one_thread_are_one_connection() {
        let threads = ["a", "b", "a", "a", "c", "b"];
        assert_eq!(connections(false, &threads), 6);
        assert_eq!(connections(true, &threads), 3);
        assert_eq!(connections(true, &["a"; 16]), 1);
        assert_eq!(connections::<&str>(true, &[]), 0);
    }
}
