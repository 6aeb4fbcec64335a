//! The temp file of one download, `DEST.part`: created fresh on the first
//! write (through `outdir/`, with the resume note unless the whole body is
//! written in that one step), written in `writev` steps on the transfer
//! thread within a process-wide buffer budget, flushed at least once a
//! second while bytes trickle in, and renamed to `DEST` (note removed) only
//! while it is still this download's file. It does not decide whether a
//! body may be appended (`resume.rs`) or check digests (`digest.rs`).

use std::fs::File;
use std::io::{IoSlice, Write};
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};
use std::time::{Duration, Instant, SystemTime};

use anyhow::Context;
use bytes::Bytes;

use super::resume::{self, Pending};
use crate::naming::part_path;
use crate::outdir::OutDir;

/// Bytes gathered (as received, not copied) before one `writev` to the
/// `.part` file, on the transfer thread that receives them, as curl and
/// wget2 do: no hand-off to another thread, and hyper's read buffers stay
/// few (BENCHMARKS.md, "What the profiles showed", has why). A small file
/// is opened, written, renamed and closed in one go. On a disk slower than
/// the network, the transfer thread waits for it: the disk is then the
/// limit anyway.
const WRITE_BUFFER: usize = 256 * 1024;
/// Past this much buffered by all downloads together, every chunk is
/// written as it comes: memory stays bounded whatever `--jobs` is.
const WRITE_BUDGET: usize = 32 * 1024 * 1024;

/// Body bytes buffered by every download of the process.
static HELD: AtomicUsize = AtomicUsize::new(0);

/// Bytes received are on disk within about this long, however slowly they
/// come (what a crash can lose, and what a later run can resume).
const WRITE_DELAY_MAX: Duration = Duration::from_secs(1);

/// `DEST.part` and the bytes not yet written to it. The body's chunks are
/// kept as they arrived (no copy) and written with one `writev` per
/// [`WRITE_BUFFER`], on the transfer thread. A fresh file is created on the
/// first write, so an attempt that fails before its first byte leaves
/// nothing behind.
pub(super) struct PartFile<'a> {
    out: &'a OutDir,
    /// The destination, relative to `--dir`.
    rel: PathBuf,
    /// `DEST.part`, relative to `--dir`.
    part: PathBuf,
    /// A fresh file's resume note, recorded when the file is created
    /// (unless the whole body is written in that one step).
    note: Option<Pending>,
    /// The file carries a note, to be removed before the rename.
    noted: bool,
    /// Writes so far: a file created and finished in one (a small body)
    /// was never left alone between its creation and its rename.
    flushes: u32,
    /// `None` before the first write of a fresh file.
    file: Option<File>,
    chunks: Vec<Bytes>,
    buffered: usize,
    /// When the oldest buffered chunk arrived.
    buffered_since: Option<Instant>,
    /// Bytes in the file on disk.
    written: u64,
    /// What this download has counted in [`HELD`].
    held: usize,
}

impl<'a> PartFile<'a> {
    /// A new `.part`, replacing whatever was at that name.
    pub(super) fn fresh(out: &'a OutDir, rel: PathBuf, note: Option<Pending>) -> PartFile<'a> {
        PartFile::new(out, rel, note, None, 0)
    }

    /// The opened `.part` of a resumed download, `len` bytes long.
    pub(super) fn append(out: &'a OutDir, rel: PathBuf, file: File, len: u64) -> PartFile<'a> {
        let mut part = PartFile::new(out, rel, None, Some(file), len);
        part.noted = true;
        part
    }

    fn new(
        out: &'a OutDir,
        rel: PathBuf,
        note: Option<Pending>,
        file: Option<File>,
        written: u64,
    ) -> PartFile<'a> {
        PartFile {
            out,
            part: part_path(&rel),
            rel,
            note,
            noted: false,
            flushes: 0,
            file,
            chunks: Vec::new(),
            buffered: 0,
            buffered_since: None,
            written,
            held: 0,
        }
    }

    /// Brings [`HELD`] up to date with what this download holds now.
    fn account(&mut self) {
        let now = self.buffered;
        if now >= self.held {
            HELD.fetch_add(now - self.held, Relaxed);
        } else {
            HELD.fetch_sub(self.held - now, Relaxed);
        }
        self.held = now;
    }

    /// The destination, relative to `--dir`.
    pub(super) fn rel(&self) -> &std::path::Path {
        &self.rel
    }

    /// Bytes of the file so far (on disk or buffered).
    pub(super) fn len(&self) -> u64 {
        self.written + self.buffered as u64
    }

    pub(super) fn write(&mut self, chunk: Bytes) -> anyhow::Result<()> {
        self.buffered += chunk.len();
        self.chunks.push(chunk);
        self.account();
        let since = *self.buffered_since.get_or_insert_with(Instant::now);
        // Past the budget every chunk goes to the disk as it comes.
        let step = if HELD.load(Relaxed) <= WRITE_BUDGET {
            WRITE_BUFFER
        } else {
            0
        };
        if self.buffered >= step || since.elapsed() >= WRITE_DELAY_MAX {
            self.flush(false)?;
        }
        Ok(())
    }

    /// Writes the buffered chunks, creating the `.part` on the first call
    /// (with its note unless this is the `last` write). A chunk that failed
    /// to be written is dropped, never written twice: the file stays a
    /// prefix of the body.
    fn flush(&mut self, last: bool) -> anyhow::Result<()> {
        self.flushes += 1;
        let chunks = std::mem::take(&mut self.chunks);
        let len = std::mem::take(&mut self.buffered);
        self.buffered_since = None;
        self.account();
        let file = match &mut self.file {
            Some(file) => file,
            None => {
                let file = self.out.create(&self.part)?;
                if !last && let Some(note) = self.note.take() {
                    note.note().write(&file);
                    self.noted = true;
                }
                self.file.insert(file)
            }
        };
        // Bytes that reached the file count even when a later step of the
        // same write fails: the `.part` keeps them, as a prefix of the body.
        let (written, result) = write_chunks(file, &chunks);
        debug_assert!(written <= len);
        self.written += written as u64;
        result.with_context(|| format!("cannot write {}", self.out.display(&self.part).display()))
    }

    /// Writes what is buffered, sets the modification time, removes the
    /// note and renames `.part` to the destination, if the `.part` is still
    /// this download's file.
    /// With `stat`, also returns what the file is on disk once renamed
    /// (for `--state`: its mtime, inode and status-change time).
    pub(super) fn finish(
        mut self,
        modified: Option<SystemTime>,
        stat: bool,
    ) -> anyhow::Result<Option<std::fs::Metadata>> {
        if self.file.is_none()
            && let Some(spool) = self.out.spool()
        {
            // `-o -`: a body held whole waits for stdout in memory, if
            // there is room, and never touches the disk.
            let chunks = std::mem::take(&mut self.chunks);
            let len = std::mem::take(&mut self.buffered);
            match spool.hold(&self.rel, chunks, len as u64) {
                Ok(()) => {
                    self.account();
                    return Ok(None);
                }
                Err(chunks) => {
                    self.chunks = chunks;
                    self.buffered = len;
                }
            }
        }
        let result = self.flush(true).and_then(|()| {
            let file = self.file.as_ref().expect("created by flush");
            if let Some(modified) = modified {
                // Best effort: `--on-exists update` relies on it, but a file
                // system without mtimes should not fail the download.
                let _ = file.set_modified(modified);
            }
            if self.noted {
                resume::clear(file).with_context(|| {
                    format!("cannot clear {}", self.out.display(&self.part).display())
                })?;
            }
            let in_one_go = self.flushes == 1 && !self.noted;
            self.out
                .promote(file, &self.part, &self.rel, !in_one_go, self.written)?;
            // After the rename, which sets the status-change time.
            Ok(if stat { file.metadata().ok() } else { None })
        });
        if result.is_err() {
            self.abandon(true);
        }
        result
    }

    /// Gives up: keeps a non-empty `.part` for a later resume when `keep`,
    /// removes it otherwise (only if it is still this download's file).
    pub(super) fn abandon(mut self, keep: bool) {
        if keep && self.buffered > 0 {
            // Best effort: a write error here was probably the cause.
            let _ = self.flush(false);
        }
        if let Some(file) = self.file.take()
            && (!keep || self.written == 0)
            && let Err(err) = self.out.remove_own(&file, &self.part)
        {
            tracing::warn!("{err:#}");
        }
    }
}

impl Drop for PartFile<'_> {
    fn drop(&mut self) {
        // Whatever path ended the download, its bytes leave the budget.
        HELD.fetch_sub(self.held, Relaxed);
    }
}

/// `write_all` for a list of chunks, with as few `writev` calls as the
/// kernel allows; also says how many bytes were written before an error.
fn write_chunks(file: &mut File, chunks: &[Bytes]) -> (usize, std::io::Result<()>) {
    let mut slices: Vec<IoSlice<'_>> = chunks.iter().map(|c| IoSlice::new(c)).collect();
    let mut slices = &mut slices[..];
    let mut written = 0;
    IoSlice::advance_slices(&mut slices, 0);
    while !slices.is_empty() {
        match file.write_vectored(slices) {
            Ok(0) => return (written, Err(std::io::ErrorKind::WriteZero.into())),
            Ok(n) => {
                written += n;
                IoSlice::advance_slices(&mut slices, n);
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return (written, Err(e)),
        }
    }
    (written, Ok(()))
}
