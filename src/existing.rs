//! The existing-file rule, one place for every name (the planner's and the
//! one an answer gives under `--content-disposition` or
//! `--trust-server-names`, `fetch/destination.rs`):
//! what is already at a destination makes of a download (`--on-exists`, a
//! digest that must be checked first, a folder or special file refused),
//! when a `--state` entry may vouch for a file instead of hashing it, and
//! what goes with a file that is kept (a `.part` left beside it).

use std::path::Path;
use std::time::SystemTime;

use crate::naming::part_path;
use crate::outdir::{Existing, OutDir};
use crate::settings::OnExists;

/// What to do about what is already at a destination: `--on-exists`, and
/// a digest that says what the file must hold. The one rule for names the
/// planner knows and for names a server gives (`fetch/`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum AtDestination {
    /// Nothing there (or a symlink, which the file will replace): download.
    Fetch,
    /// Keep the file, no request.
    Skip,
    /// Hash the file first; download only when it does not match.
    Verify,
    /// Download only if newer than the file's modification time.
    Update(Option<SystemTime>),
    /// A folder or special file, or a path leading out of `--dir`.
    Refuse(String),
}

/// The rule: a digest is checked before a file counts as done (`skip` and
/// `update` alike); without one, `skip` keeps the file and `update` asks
/// `If-Modified-Since`; `overwrite` always downloads.
pub(crate) fn at_destination(
    existing: anyhow::Result<Existing>,
    on_exists: OnExists,
    has_digest: bool,
    path: &Path,
) -> AtDestination {
    match existing {
        Ok(Existing::File { modified, .. }) => match on_exists {
            OnExists::Skip | OnExists::Update if has_digest => AtDestination::Verify,
            OnExists::Skip => AtDestination::Skip,
            OnExists::Update => AtDestination::Update(modified),
            OnExists::Overwrite => AtDestination::Fetch,
        },
        Ok(Existing::Other(what)) => {
            AtDestination::Refuse(format!("refusing {}: it is {what}", path.display()))
        }
        Ok(Existing::Missing | Existing::Symlink) => AtDestination::Fetch,
        Err(err) => AtDestination::Refuse(format!("{err:#}")),
    }
}

/// A file at `rel` is kept as it is (skipped): a `.part` left beside it (a
/// haul killed while it fetched the file again after another finished it)
/// can never be continued into it, and goes, unless another haul holds it.
pub(crate) fn kept(out: &OutDir, rel: &Path) {
    if let Err(err) = out.remove_leftover(&part_path(rel)) {
        tracing::debug!("{err:#}");
    }
}

/// Whether a state entry still describes the file at its path, so that its
/// digest may stand for the file's without hashing it (the quick check
/// rsync makes, made stronger): the same size and mtime, which anyone can
/// set, and the same inode and status-change time, which no one can set
/// back (a file edited in place, its mtime restored, or replaced by a copy,
/// is hashed again). An entry without them (from a version-1 state) never
/// vouches.
pub(crate) fn vouches(entry: &crate::state::Entry, existing: &Existing) -> bool {
    let Existing::File {
        len,
        modified,
        ino,
        ctime,
    } = existing
    else {
        return false;
    };
    entry.bytes == *len
        && entry.modified() == *modified
        && entry.ino == Some(*ino)
        && entry.ctime == Some(*ctime)
}
