//! `-o -`: the files that wait their turn for stdout in memory instead of
//! the temporary folder. A small body that a download holds whole when it
//! finishes (one that never reached its first write to disk: under
//! `fetch/part.rs`'s write buffer) is handed here under its name, while
//! every held file together stays under [`SPOOL_MEMORY`]; past that, or
//! for a larger file, the file is renamed in the folder as usual. The
//! runner's writer takes each one when its turn comes and gives its bytes
//! back to the budget once they are written.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

use bytes::Bytes;

/// The most body bytes `-o -` holds in memory for files waiting their turn
/// (docs/reference.md says so).
pub(crate) const SPOOL_MEMORY: u64 = 64 * 1024 * 1024;

/// Whole files held in memory, by their name in the temporary folder.
#[derive(Debug, Default)]
pub(crate) struct Spool {
    files: Mutex<HashMap<PathBuf, Bytes>>,
    /// Bytes held, or taken and not yet written.
    bytes: AtomicU64,
}

impl Spool {
    /// Holds the whole file `rel` (`len` bytes in `chunks`), unless that
    /// would take the held bytes past [`SPOOL_MEMORY`]: then the chunks
    /// come back, to be written to the folder.
    pub(crate) fn hold(&self, rel: &Path, chunks: Vec<Bytes>, len: u64) -> Result<(), Vec<Bytes>> {
        let before = self.bytes.fetch_add(len, Relaxed);
        if before + len > SPOOL_MEMORY {
            self.bytes.fetch_sub(len, Relaxed);
            return Err(chunks);
        }
        // Copied into one buffer of the body's size: a chunk is a slice of
        // the connection's read buffer, which it would keep whole (the
        // budget counts body bytes, not what they hold on to).
        let body = Bytes::from(chunks.concat());
        self.lock().insert(rel.to_path_buf(), body);
        Ok(())
    }

    /// The file `rel`, if it is held here; its bytes count against the
    /// budget until [`Spool::written`].
    pub(crate) fn take(&self, rel: &Path) -> Option<Bytes> {
        self.lock().remove(rel)
    }

    /// `len` bytes taken were written (or dropped).
    pub(crate) fn written(&self, len: u64) {
        self.bytes.fetch_sub(len, Relaxed);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<PathBuf, Bytes>> {
        self.files.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn holds_up_to_the_budget_and_gives_it_back_once_written() {
        let spool = Spool::default();
        let half = SPOOL_MEMORY / 2;
        let chunk = || vec![Bytes::from_static(b"x")];
        assert!(spool.hold(Path::new("1"), chunk(), half).is_ok());
        assert!(spool.hold(Path::new("2"), chunk(), half).is_ok());
        assert!(
            spool.hold(Path::new("3"), chunk(), 1).is_err(),
            "past the budget"
        );
        assert_eq!(spool.take(Path::new("1")), Some(Bytes::from_static(b"x")));
        assert_eq!(spool.take(Path::new("1")), None);
        assert!(
            spool.hold(Path::new("3"), chunk(), 1).is_err(),
            "taken, not written"
        );
        spool.written(half);
        assert!(spool.hold(Path::new("3"), chunk(), 1).is_ok());
    }
}
