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
//! bytes already synced to disk (`shared.rs`: at most one sync a second,
//! off the transfer thread, and one when the download stops), so a power
//! loss cannot leave a note vouching for zeros. What it does not do: the
//! checks and the rename of the whole file (`fetch/mod.rs`), or decide
//! retries.
//!
//! - `entry.rs`: whether an attempt's file goes this way, and the way
//!   there and back.
//! - `mod.rs`: the download from start to end (set up, the first
//!   connection, growing, winding down) and a connection the runner starts.
//! - `file.rs`: the file as its connections and the runner share it (the
//!   bookkeeping under one lock, the connections counted).
//! - `range.rs`: one range: its request, the checks on its answer, its
//!   body into the file.
//! - `shared.rs`: the `.part` they share and its note, synced.
//! - `work.rs`: which bytes are done, being fetched, or free to take (pure
//!   bookkeeping: no byte goes to two writers).
//! - `auto.rs`: how many connections `--split auto` gives a file.

use std::fs::File;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use anyhow::anyhow;
use reqwest::Response;
use tokio_util::sync::CancellationToken;
use url::Url;

mod auto;
pub(super) mod entry;
mod file;
mod range;
mod shared;
mod work;

use self::file::{Ended, Inner, Split};
use self::range::Fetched;
use self::shared::SharedPart;
use self::work::Work;
use super::body::cancelled;
use super::resume::{Note, Ranges};
use crate::error::FailureKind;
use crate::outcome::Failure;
use crate::redact::masked;
use crate::session::{Ctx, MoreConnections};
use crate::settings::Split as SplitMode;

/// How a file over several connections may begin: the first connection's
/// answer and the `.part` it continues.
pub(super) struct Start<'a> {
    pub(super) url: &'a Url,
    /// The line's other URLs for the file (none for a file with one).
    pub(super) mirrors: Vec<Url>,
    /// A digest will check the whole file.
    pub(super) digest_known: bool,
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
    /// Every byte is on disk; the most connections open at once, and the
    /// mirrors that sent ranges.
    Complete {
        file: File,
        connections: u32,
        also_served: Vec<Url>,
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
            mirrors,
            digest_known,
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
            served: mirrors.iter().map(|_| Default::default()).collect(),
            digest_known,
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
                noted_received: received,
                turn: 1,
                failed: vec![false; mirrors.len()],
            }),
            mirrors,
            changed: tokio::sync::Notify::new(),
            stopped: CancellationToken::new(),
            bar,
            name: name.to_string(),
            expecting: ctx.progress.expect(Some(size.saturating_sub(received))),
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
            Some((id, ..)) => self.pump(ctx, id, response, &self.url).await,
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
                fetched = self.fetch_range(ctx, range, &self.url).await;
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
        self.part.close();
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
                also_served: self.served_by(),
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
async fn connection(ctx: Arc<Ctx>, split: Arc<Split>, url: Url) {
    split.connect();
    while let Some(range) = split.take() {
        match split.fetch_range(&ctx, range, &url).await {
            Fetched::Done => {}
            Fetched::NoRanges => {
                split.no_ranges();
                break;
            }
            Fetched::Failed(failure) => {
                tracing::debug!(
                    "{}: a connection of a split download ended: {:#}",
                    masked(&url),
                    failure.error
                );
                if let Some(i) = split.mirror(&url) {
                    // Another connection takes its place, elsewhere.
                    split.mirror_failed(i);
                    ctx.shared.ask_connections(split.clone());
                }
                break;
            }
        }
    }
    split.disconnect();
}
