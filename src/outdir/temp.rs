//! A download's temp file (`DEST.part`) from creation to rename: created
//! fresh (`O_CREAT | O_EXCL`, after unlinking what was at its name, never
//! written through), or reopened to continue it (a regular file with a
//! single link only); locked with `flock` before its first byte, so that a
//! file another haul holds is never written, unlinked or renamed
//! ([`InUse`]); renamed to `DEST` only while it is still the file this
//! download created and only at the length the download proved; removed
//! when it is a kept file's leftover. Paths are resolved by `mod.rs`.

use std::fs::File;
use std::io;
use std::os::fd::AsFd;
use std::path::{Path, PathBuf};

use anyhow::{Result, anyhow, bail};
use rustix::fs::{AtFlags, FileType, Mode, OFlags};
use rustix::io::Errno;

use super::{At, OutDir};

/// A temp file that another process (another haul) holds: the download
/// that wants it fails instead of writing into it.
#[derive(Debug)]
pub(crate) struct InUse(pub(crate) PathBuf);

impl std::fmt::Display for InUse {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} is in use by another haul", self.0.display())
    }
}

impl std::error::Error for InUse {}

/// How many times a temp file's name may change under us (another haul
/// taking or dropping it) before giving up.
const TRIES: usize = 8;

impl OutDir {
    /// Opens the `.part` at `rel` to continue it: only a regular file with
    /// a single link (a hard link would write through to its other name).
    /// `None` when anything else is there; [`OutDir::create`] replaces it.
    /// The file is locked for this download; one another haul holds is
    /// [`InUse`].
    pub(crate) fn open_append(&self, rel: &Path) -> Result<Option<File>> {
        self.writable(rel)?;
        let Some(file) = self.open_existing(rel, OFlags::RDWR | OFlags::APPEND, true)? else {
            return Ok(None);
        };
        self.lock(&file, rel)?;
        // Locked now: the name may have moved on since it was opened (the
        // haul that held it renamed or removed it).
        Ok(self.still_at(&file, rel)?.then_some(file))
    }

    /// Removes the temp file at `rel` left beside a file that is kept (a
    /// haul killed while it fetched again a file another one finished, or
    /// `--on-exists overwrite` stopped half-way), unless another haul holds
    /// it; a symlink or special file there is left alone. One `statat` when
    /// nothing is there.
    pub(crate) fn remove_leftover(&self, rel: &Path) -> Result<()> {
        if self.read_only {
            return Ok(()); // a dry run changes nothing
        }
        let Some(at) = self.resolve(rel, false)? else {
            return Ok(());
        };
        match rustix::fs::statat(&at.dir, at.name, AtFlags::SYMLINK_NOFOLLOW) {
            Ok(stat) if FileType::from_raw_mode(stat.st_mode) == FileType::RegularFile => {}
            Ok(_) | Err(Errno::NOENT) => return Ok(()),
            Err(e) => return Err(self.io_error(e, "cannot look at", rel)),
        }
        let flags = OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::NONBLOCK | OFlags::CLOEXEC;
        let fd = match rustix::fs::openat(&at.dir, at.name, flags, Mode::empty()) {
            Ok(fd) => fd,
            Err(Errno::NOENT) => return Ok(()),
            Err(e) => return Err(self.io_error(e, "cannot open", rel)),
        };
        match self.lock(&fd, rel) {
            Ok(()) => {}
            Err(err) if err.is::<InUse>() => return Ok(()),
            Err(err) => return Err(err),
        }
        if !self.still_at(&fd, rel)? {
            return Ok(());
        }
        match rustix::fs::unlinkat(&at.dir, at.name, AtFlags::empty()) {
            Ok(()) | Err(Errno::NOENT) => Ok(()),
            Err(e) => Err(self.io_error(e, "cannot remove", rel)),
        }
    }

    /// Takes the lock on `file` (the temp file at `rel`), or says who
    /// holds it.
    fn lock(&self, file: &impl AsFd, rel: &Path) -> Result<()> {
        use rustix::fs::FlockOperation::NonBlockingLockExclusive;
        match rustix::fs::flock(file, NonBlockingLockExclusive) {
            Ok(()) => Ok(()),
            Err(Errno::WOULDBLOCK) => Err(InUse(self.display(rel)).into()),
            Err(e) => Err(self.io_error(e, "cannot lock", rel)),
        }
    }

    /// Whether the name `rel` still leads to `file`.
    fn still_at(&self, file: &impl AsFd, rel: &Path) -> Result<bool> {
        let Some(at) = self.resolve(rel, false)? else {
            return Ok(false);
        };
        let ours = rustix::fs::fstat(file).map_err(|e| self.io_error(e, "cannot look at", rel))?;
        match rustix::fs::statat(&at.dir, at.name, AtFlags::SYMLINK_NOFOLLOW) {
            Ok(now) => Ok((now.st_dev, now.st_ino) == (ours.st_dev, ours.st_ino)),
            Err(Errno::NOENT) => Ok(false),
            Err(e) => Err(self.io_error(e, "cannot look at", rel)),
        }
    }

    /// Creates `rel` as a new, empty file, locked for this download,
    /// replacing whatever file, symlink or special file was at that name
    /// (unlinked, never written through), unless another haul holds the
    /// file there ([`InUse`]). Folders on the way are created.
    pub(crate) fn create(&self, rel: &Path) -> Result<File> {
        self.writable(rel)?;
        let at = self
            .resolve(rel, true)?
            .ok_or_else(|| anyhow!("cannot create {}", self.display(rel).display()))?;
        // O_EXCL never opens what is there, a FIFO or a link included; only
        // when something is in the way is it looked at (one open and one
        // lock per file in the common case, where nothing is).
        // Read too: a file written over several connections is hashed from
        // the disk once whole.
        let flags = OFlags::RDWR
            | OFlags::CREATE
            | OFlags::EXCL
            | OFlags::NOFOLLOW
            | OFlags::NONBLOCK
            | OFlags::CLOEXEC;
        let mode = Mode::from_raw_mode(0o666);
        for _ in 0..TRIES {
            match rustix::fs::openat(&at.dir, at.name, flags, mode) {
                Ok(fd) => {
                    // Another haul may have opened the name in between and
                    // locked it first: then it is that haul's file.
                    self.lock(&fd, rel)?;
                    return Ok(File::from(fd));
                }
                Err(Errno::EXIST) => self.clear_for_create(&at, rel)?,
                Err(e) => return Err(self.io_error(e, "cannot create", rel)),
            }
        }
        bail!(
            "cannot create {}: something else keeps taking its name",
            self.display(rel).display()
        )
    }

    /// Unlinks what is at a temp file's name, unless it is a file another
    /// haul holds: a regular file is locked first (and checked to be still
    /// at the name), so a live download's file is never taken from it.
    fn clear_for_create(&self, at: &At<'_>, rel: &Path) -> Result<()> {
        let stat = match rustix::fs::statat(&at.dir, at.name, AtFlags::SYMLINK_NOFOLLOW) {
            Ok(stat) => stat,
            Err(Errno::NOENT) => return Ok(()),
            Err(e) => return Err(self.io_error(e, "cannot look at", rel)),
        };
        // Held until the name is gone: no other haul can take the file
        // between the check and the unlink.
        let mut _held = None;
        match FileType::from_raw_mode(stat.st_mode) {
            FileType::Directory => {
                bail!("refusing {}: it is a folder", self.display(rel).display())
            }
            // Special files and links are never opened (a device's open can
            // act); no haul writes through one, so none holds it.
            FileType::RegularFile => {
                let flags = OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::NONBLOCK | OFlags::CLOEXEC;
                match rustix::fs::openat(&at.dir, at.name, flags, Mode::empty()) {
                    Ok(fd) => {
                        self.lock(&fd, rel)?;
                        if !self.still_at(&fd, rel)? {
                            return Ok(());
                        }
                        _held = Some(fd);
                    }
                    Err(Errno::NOENT) => return Ok(()),
                    // Unreadable (another user's): nobody here can hold it.
                    Err(_) => {}
                }
            }
            _ => {}
        }
        match rustix::fs::unlinkat(&at.dir, at.name, AtFlags::empty()) {
            Ok(()) | Err(Errno::NOENT) => Ok(()),
            Err(Errno::ISDIR | Errno::PERM) if self.is_folder(at) => {
                bail!("refusing {}: it is a folder", self.display(rel).display())
            }
            Err(e) => Err(self.io_error(e, "cannot replace", rel)),
        }
    }

    /// Renames `part` (open as `file`) to `dest`, in the same folder, if
    /// `part` is still the file this download made: `check` compares the
    /// file at that name with `file` first (two system calls; a file created
    /// and renamed in one go, microseconds apart, skips it). A file or a
    /// symlink at `dest` is replaced (the symlink itself, never its target);
    /// a folder there makes the rename fail. Special files at `dest` are
    /// refused when the download is planned (`existing`).
    ///
    /// With `check`, the file must also be `len` bytes long on disk, the
    /// length the download proved: a file of any other length (something
    /// wrote to it, or cut it) is removed, never renamed. A file created,
    /// written and renamed in one go needs neither check: it was locked
    /// from its creation and never left alone, and its one write's count is
    /// its length.
    pub(crate) fn promote(
        &self,
        file: &File,
        part: &Path,
        dest: &Path,
        check: bool,
        len: u64,
    ) -> Result<()> {
        self.writable(dest)?;
        let at = self
            .resolve(part, false)?
            .ok_or_else(|| anyhow!("{} is gone", self.display(part).display()))?;
        let dest_name = dest.file_name().unwrap_or_default();
        debug_assert_eq!(part.parent(), dest.parent(), "a .part sits beside its file");
        if check {
            let ours =
                rustix::fs::fstat(file).map_err(|e| self.io_error(e, "cannot look at", part))?;
            if ours.st_size as u64 != len {
                let _ = self.remove_own(file, part);
                bail!(
                    "{} holds {} bytes, not the {len} the download received; removed",
                    self.display(part).display(),
                    ours.st_size
                );
            }
            match rustix::fs::statat(&at.dir, at.name, AtFlags::SYMLINK_NOFOLLOW) {
                Ok(now) if (now.st_dev, now.st_ino) == (ours.st_dev, ours.st_ino) => {}
                Ok(_) | Err(Errno::NOENT) => bail!(
                    "{} was replaced or removed by something else during the download",
                    self.display(part).display()
                ),
                Err(e) => return Err(self.io_error(e, "cannot look at", part)),
            }
        }
        rustix::fs::renameat(&at.dir, at.name, &at.dir, dest_name).map_err(|e| {
            let what = match e {
                Errno::ISDIR => {
                    anyhow!("refusing {}: it is a folder", self.display(dest).display())
                }
                e => anyhow::Error::new(io::Error::from(e)),
            };
            what.context(format!(
                "cannot rename {} to {}",
                self.display(part).display(),
                self.display(dest).display()
            ))
        })
    }

    /// Removes the file at `rel` if it is still `file` (what this download
    /// opened or created): never a file something else put there since.
    pub(crate) fn remove_own(&self, file: &File, rel: &Path) -> Result<()> {
        self.writable(rel)?;
        let Some(at) = self.resolve(rel, false)? else {
            return Ok(());
        };
        let ours = rustix::fs::fstat(file).map_err(|e| self.io_error(e, "cannot look at", rel))?;
        match rustix::fs::statat(&at.dir, at.name, AtFlags::SYMLINK_NOFOLLOW) {
            Ok(now) if (now.st_dev, now.st_ino) == (ours.st_dev, ours.st_ino) => {}
            Ok(_) | Err(Errno::NOENT) => return Ok(()),
            Err(e) => return Err(self.io_error(e, "cannot look at", rel)),
        }
        match rustix::fs::unlinkat(&at.dir, at.name, AtFlags::empty()) {
            Ok(()) | Err(Errno::NOENT) => Ok(()),
            Err(e) => Err(self.io_error(e, "cannot remove", rel)),
        }
    }
}
