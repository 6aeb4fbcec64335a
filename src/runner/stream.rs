//! `-o -`: every URL's bytes to stdout, whole files in input order, while
//! the downloads run ahead. A download writes into a private temporary
//! folder (its files named by their place in the input) or, for a small
//! file, hands its body to the folder's memory spool (`outdir/spool.rs`);
//! its outcome comes here, and once every earlier one has come, the file
//! goes to the writer thread, which copies it to stdout and removes it.
//! So stdout only ever holds whole files that passed every check. The
//! first URL that did not end ok stops the stream there: what came before
//! it was written whole, nothing after it is. The writer's own failure
//! (the reader went away: `EPIPE`) stops the run.
//!
//! How far the downloads may run ahead of stdout is bounded ([`Stream::has_room`]),
//! so the folder holds at most that many files.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{self, Write};
use std::os::fd::AsFd;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::mpsc;
use std::thread::JoinHandle;

use anyhow::{Context, Result, anyhow};
use bytes::Bytes;
use tokio::sync::{Notify, oneshot};

use crate::error::FailureKind;
use crate::outcome::{Done, Failure, Outcome};
use crate::outdir::Spool;

/// What goes to stdout next: a file held in memory, or one in the folder.
enum Emit {
    Held(Bytes),
    File(PathBuf),
}

/// The files on their way to stdout, and the writer thread.
pub(crate) struct Stream {
    /// Outcomes that came before their turn, by their place.
    ended: BTreeMap<u64, Outcome>,
    /// The place whose turn it is.
    next: u64,
    /// The last place handed to the scheduler.
    planned: u64,
    /// Downloads may run this far ahead of stdout.
    ahead: u64,
    /// A file did not end ok: nothing more is written.
    stopped: bool,
    /// Files sent to the writer, and written (or dropped) by it.
    sent: u64,
    written: Arc<AtomicU64>,
    /// The writer wrote one: there may be room for more.
    wrote: Arc<Notify>,
    spool: Arc<Spool>,
    /// The temporary folder (removed, with whatever is left in it, at the
    /// end).
    folder: tempfile::TempDir,
    writer: Option<mpsc::Sender<Emit>>,
    thread: Option<JoinHandle<()>>,
    /// The writer's failure, once.
    failed: Option<oneshot::Receiver<io::Error>>,
}

impl Stream {
    /// A private temporary folder in `parent`, its spool, and the writer
    /// on stdout; downloads may run `ahead` files ahead of it.
    pub(crate) fn start(parent: &Path, ahead: u64) -> Result<Stream> {
        let folder = tempfile::Builder::new()
            .prefix("haul-stdout-")
            // Its files are the user's downloads: nobody else's to read.
            .permissions(std::os::unix::fs::PermissionsExt::from_mode(0o700))
            .tempdir_in(parent)
            .with_context(|| format!("cannot make a temporary folder in {}", parent.display()))?;
        let stdout = io::stdout()
            .as_fd()
            .try_clone_to_owned()
            .context("cannot use stdout")?;
        let spool = Arc::new(Spool::default());
        let (tx, rx) = mpsc::channel();
        let (failed_tx, failed_rx) = oneshot::channel();
        let written = Arc::new(AtomicU64::new(0));
        let wrote = Arc::new(Notify::new());
        let writer = Writer {
            out: File::from(stdout),
            spool: spool.clone(),
            failed: Some(failed_tx),
            written: written.clone(),
            wrote: wrote.clone(),
        };
        let thread = std::thread::Builder::new()
            .name("haul-stdout".into())
            .spawn(move || writer.run(&rx))
            .context("cannot start the stdout writer")?;
        Ok(Stream {
            ended: BTreeMap::new(),
            next: 1,
            planned: 0,
            ahead,
            stopped: false,
            sent: 0,
            written,
            wrote,
            spool,
            folder,
            writer: Some(tx),
            thread: Some(thread),
            failed: Some(failed_rx),
        })
    }

    /// The temporary folder the downloads write into.
    pub(crate) fn folder(&self) -> &Path {
        self.folder.path()
    }

    pub(crate) fn spool(&self) -> Arc<Spool> {
        self.spool.clone()
    }

    /// Places up to `seq` were handed to the scheduler.
    pub(crate) fn planned(&mut self, seq: u64) {
        self.planned = self.planned.max(seq);
    }

    /// Whether the downloads may take more work: not more than `ahead`
    /// files planned and not yet written (on their way, waiting their turn,
    /// or sent to a writer slower than the network).
    pub(crate) fn has_room(&self) -> bool {
        let unwritten = self.sent - self.written.load(Relaxed);
        self.planned + unwritten < self.next + self.ahead
    }

    /// Notified each time the writer finishes a file.
    pub(crate) fn wrote(&self) -> Arc<Notify> {
        self.wrote.clone()
    }

    /// A URL ended: the outcomes whose turn has now come, in order, their
    /// files sent to stdout (or, past a failure, not). An outcome that is
    /// no planned job's goes straight through.
    pub(crate) fn ended(&mut self, outcome: Outcome) -> Vec<Outcome> {
        if outcome.seq == 0 {
            return vec![outcome];
        }
        self.ended.insert(outcome.seq, outcome);
        let mut ready = Vec::new();
        while let Some(outcome) = self.ended.remove(&self.next) {
            self.next += 1;
            ready.push(self.emit(outcome));
        }
        ready
    }

    /// A URL did not end ok: the stream stopped there.
    pub(crate) fn stopped(&self) -> bool {
        self.stopped
    }

    /// Whatever never got its turn (the run stopped before an earlier
    /// one ended), as not written.
    pub(crate) fn rest(&mut self) -> Vec<Outcome> {
        self.stopped = true;
        let ended = std::mem::take(&mut self.ended);
        ended.into_values().map(|o| self.emit(o)).collect()
    }

    /// Sends the file of `outcome` to stdout while the stream goes on; a
    /// URL that did not end ok stops it, and what ends ok after that is
    /// not written. The outcome is named `-`, where its bytes went.
    fn emit(&mut self, mut outcome: Outcome) -> Outcome {
        let path = outcome.path.replace(PathBuf::from("-"));
        match outcome.result {
            Ok(Done::Saved { .. }) => {}
            // Nothing to write (never so in a fresh folder).
            Ok(_) => return outcome,
            Err(_) => {
                self.stopped = true;
                return outcome;
            }
        }
        let Some(rel) = path
            .as_deref()
            .and_then(|p| p.strip_prefix(self.folder()).ok())
        else {
            return outcome;
        };
        let emit = match self.spool.take(rel) {
            Some(body) => Emit::Held(body),
            None => Emit::File(self.folder().join(rel)),
        };
        if self.stopped {
            if let Emit::Held(body) = emit {
                self.spool.written(body.len() as u64);
            }
            outcome.result = Err(Failure::new(
                FailureKind::Cancelled,
                None,
                anyhow!("not written to stdout: an earlier URL did not end ok"),
            ));
            return outcome;
        }
        if let Some(writer) = &self.writer
            // A writer that has stopped drops what it is sent.
            && writer.send(emit).is_ok()
        {
            self.sent += 1;
        }
        outcome
    }

    /// What resolves when the writer fails (`EPIPE`: the reader went
    /// away); taken once, by the runner.
    pub(crate) fn take_failure(&mut self) -> Option<oneshot::Receiver<io::Error>> {
        self.failed.take()
    }

    /// Waits for the writer to write everything it was sent.
    pub(crate) fn close(mut self) {
        drop(self.writer.take());
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// The writer thread's side: stdout, and what it reports.
struct Writer {
    out: File,
    spool: Arc<Spool>,
    /// Said once, at the first failure.
    failed: Option<oneshot::Sender<io::Error>>,
    written: Arc<AtomicU64>,
    wrote: Arc<Notify>,
}

impl Writer {
    /// Each file, in the order sent, to stdout; held files give their
    /// bytes back to the spool's budget, files in the folder are removed.
    /// After a failure, what comes is dropped.
    fn run(mut self, rx: &mpsc::Receiver<Emit>) {
        for emit in rx {
            let result = self.write(emit);
            if let Err(err) = result
                && let Some(failed) = self.failed.take()
            {
                let _ = failed.send(err);
            }
            self.written.fetch_add(1, Relaxed);
            self.wrote.notify_one();
        }
    }

    fn write(&mut self, emit: Emit) -> io::Result<()> {
        let live = self.failed.is_some();
        match emit {
            Emit::Held(body) => {
                let result = match live {
                    true => self.out.write_all(&body),
                    false => Ok(()),
                };
                self.spool.written(body.len() as u64);
                result
            }
            Emit::File(path) => {
                let result = match live {
                    true => File::open(&path).and_then(|mut f| io::copy(&mut f, &mut self.out)),
                    false => Ok(0),
                };
                let _ = std::fs::remove_file(&path);
                result.map(drop)
            }
        }
    }
}
