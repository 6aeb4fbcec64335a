//! Compaction of the `--state` file: the header and the live entries,
//! written to `FILE.compact` beside the real file (created exclusively and
//! never through a symlink, locked before it takes the name, synced), then
//! renamed over it. When an open compacts is `mod.rs`'s rule; the header,
//! the framing and reading records back are `log.rs`'s.

use std::fs::File;
use std::hash::{BuildHasher, RandomState};
use std::io::{self, BufWriter, Write};
use std::os::unix::fs::MetadataExt;
use std::path::Path;

use anyhow::{Context, Result};
use rustix::fs::{FlockOperation, Mode, OFlags};
use rustix::io::Errno;

use super::log::{Log, encode_header, frame, read_record};
use super::record::record_path;
use super::{CHUNK, DirId, Index};

/// Writes the header and the live entries to `FILE.compact` beside the
/// real file (created exclusively, locked before it takes the name,
/// synced), then renames it over the file.
pub(super) fn compact(
    real: &Path,
    shown: &Path,
    file: &File,
    version: u8,
    log: &Log,
    hasher: &RandomState,
    dir: &DirId,
) -> Result<(File, Index, u64)> {
    let context = || format!("cannot compact the --state file {}", shown.display());
    let tmp_path = super::compacting(real);
    let tmp = create_new(&tmp_path).with_context(context)?;
    let written = (|| -> Result<(Index, u64)> {
        rustix::fs::flock(&tmp, FlockOperation::NonBlockingLockExclusive)
            .map_err(io::Error::from)?;
        let mode = file.metadata()?.mode() & 0o7777;
        rustix::fs::fchmod(&tmp, Mode::from_raw_mode(mode)).map_err(io::Error::from)?;
        let mut offsets: Vec<u64> = log.index.values().copied().collect();
        offsets.sort_unstable();
        let header = encode_header(dir);
        let mut out = BufWriter::with_capacity(CHUNK, &tmp);
        out.write_all(&header)?;
        let mut index = Index::default();
        let mut end = header.len() as u64;
        for offset in offsets {
            let payload = read_record(file, offset, version)?;
            let Some((_, rel)) = record_path(&payload) else {
                continue;
            };
            index.insert(hasher.hash_one(rel), end);
            let record = frame(&payload);
            out.write_all(&record)?;
            end += record.len() as u64;
        }
        out.flush()?;
        drop(out);
        tmp.sync_all()?;
        std::fs::rename(&tmp_path, real)?;
        Ok((index, end))
    })();
    match written {
        Ok((index, end)) => {
            // The rename itself is durable once the folder is synced.
            if let Some(parent) = real.parent()
                && let Ok(parent) = File::open(parent)
            {
                let _ = parent.sync_all();
            }
            Ok((tmp, index, end))
        }
        Err(err) => {
            let _ = std::fs::remove_file(&tmp_path);
            Err(err.context(context()))
        }
    }
}

/// Creates `path` as a new file, never opening what is there: a stale
/// temp file from a crash, a symlink or a FIFO at that name is unlinked
/// (the name, never its target) and the create tried again.
fn create_new(path: &Path) -> io::Result<File> {
    let flags = OFlags::RDWR
        | OFlags::CREATE
        | OFlags::EXCL
        | OFlags::NOFOLLOW
        | OFlags::NONBLOCK
        | OFlags::CLOEXEC;
    let mut tries = 0;
    loop {
        match rustix::fs::open(path, flags, Mode::from_raw_mode(0o600)) {
            Ok(fd) => return Ok(File::from(fd)),
            Err(Errno::EXIST) if tries < 3 => {
                tries += 1;
                match rustix::fs::unlink(path) {
                    Ok(()) | Err(Errno::NOENT) => {}
                    Err(e) => return Err(e.into()),
                }
            }
            Err(e) => return Err(e.into()),
        }
    }
}
