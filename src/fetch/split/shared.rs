//! The `.part` of a file over several connections as they share it: one
//! descriptor for their positioned writes, closed when the download ends,
//! and the note, which claims only ranges already synced to disk.

use std::fs::File;
use std::os::unix::fs::FileExt;
use std::sync::{Arc, Mutex, MutexGuard, RwLock};

use super::super::resume::{MAX_NOTE_RANGES, Note, Ranges};

/// The `.part` as the connections share it: one descriptor for their
/// positioned writes, and the note, kept honest. The note names only ranges
/// whose bytes were synced to disk first: a note written after data that a
/// power loss can still lose would make a later run trust zeros, while a
/// note that lags the data only costs a later run some bytes fetched again.
///
/// The descriptor is closed when the download ends ([`SharedPart::close`]),
/// whoever still holds the `Split` (the runner, a connection's task ending):
/// the `.part`'s lock (`outdir/temp.rs`) belongs to the open file, so only the
/// descriptor handed back to `fetch/mod.rs` keeps it, and a retry in this
/// process can take the file again once that one is dropped. A sync still
/// running then holds the descriptor until it returns, and notes nothing:
/// closing never waits for it (a sync of a whole file just received can
/// take longer than the last second of its download).
pub(super) struct SharedPart {
    file: RwLock<Option<Arc<File>>>,
    /// The version; its ranges are not used.
    note: Note,
    size: u64,
    state: Mutex<Noted>,
    /// A sync ended.
    idle: tokio::sync::Notify,
}

pub(super) struct Noted {
    /// Bytes the note on disk claims.
    bytes: u64,
    /// A sync runs now.
    pub(super) syncing: bool,
    /// The download is over: no more syncs or notes (none lands on the
    /// file after its rename).
    closed: bool,
}

pub(super) fn total(ranges: &[(u64, u64)]) -> u64 {
    ranges.iter().map(|(a, b)| b - a).sum()
}

impl SharedPart {
    pub(super) fn new(file: File, note: Note, size: u64, done: &[(u64, u64)]) -> SharedPart {
        let part = SharedPart {
            file: RwLock::new(Some(Arc::new(file))),
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

    fn read(&self) -> std::sync::RwLockReadGuard<'_, Option<Arc<File>>> {
        self.file.read().unwrap_or_else(|e| e.into_inner())
    }

    /// Writes `bytes` at `at`.
    pub(super) fn write_at(&self, bytes: &[u8], at: u64) -> std::io::Result<()> {
        match self.read().as_ref() {
            Some(file) => file.write_all_at(bytes, at),
            None => Err(std::io::Error::other("the download has ended")),
        }
    }

    /// Syncs the file in the background, then notes `done` (skipped while
    /// an earlier sync still runs: the next call catches up).
    pub(super) fn advance(self: &Arc<Self>, done: Vec<(u64, u64)>) {
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
    pub(super) async fn settle(self: &Arc<Self>, done: Vec<(u64, u64)>) {
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

    /// The download is over: no more notes, and the shared descriptor is
    /// closed (by the sync still running, if one is, once it returns).
    /// A kept file was settled first, so only a complete or restarting
    /// download finds a sync running. Neither needs its note, and the lock
    /// the sync's handle keeps until it returns stops nobody: a restarting
    /// file is removed and started on a new `.part`, and a complete one is
    /// renamed, or removed when its digest fails (a write failure is final
    /// for the URL in this run).
    pub(super) fn close(&self) {
        self.lock().closed = true;
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

    pub(super) fn sync_and_note(&self, done: &[(u64, u64)]) {
        {
            // Its own handle: `close` does not wait for the sync.
            let file = self.read().clone();
            let synced = file.as_deref().map(rustix::fs::fdatasync);
            let mut state = self.lock();
            state.syncing = false;
            // Under the state lock: a note never lands after `close`.
            match (synced, file.as_deref()) {
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

    pub(super) fn lock(&self) -> MutexGuard<'_, Noted> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
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
        // As `outdir/temp.rs` hands it over: locked.
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

        // A sync still running (as one started just before the last
        // bytes came) does not hold up the close, and notes nothing after.
        part.lock().syncing = true;
        part.close();
        part.sync_and_note(&[(0, 90)]);
        assert_eq!(noted(&keep), Some(vec![(0, 50)]), "no note after close");
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
