//! The output folder (`--dir`): the one place where a download touches the
//! file system. Every access of a download (the skip check, the resume
//! probe, creating and writing `DEST.part`, the rename to `DEST`, removing a
//! `.part`, hashing a file already there) resolves its path here, relative to
//! a descriptor of `--dir` opened once, so that:
//!
//! - nothing outside `--dir` is reached, and no file is reached under two
//!   names: the folders on the way are opened with `openat2(RESOLVE_BENEATH
//!   | RESOLVE_NO_SYMLINKS)`, so the kernel refuses, in the same call, a
//!   path through any symlinked folder. One that leads out would write
//!   outside; one that stays inside would let two names the registry tells
//!   apart (`real/x`, `alias/x`) be one file, and two downloads share it.
//!   Where the kernel has no `openat2` (Linux before 5.6, other Unixes),
//!   each folder is opened with `O_NOFOLLOW`, to the same effect;
//! - the last component is never followed (`O_NOFOLLOW`), and no open can
//!   wait (`O_NONBLOCK`: a FIFO planted at a `.part` cannot hang the run);
//! - only a regular file with a single link is ever appended to; a temp file
//!   is created fresh (`O_CREAT | O_EXCL`, after unlinking what was at its
//!   name) and renamed only while it is still the file this download
//!   created, and only at the length the download proved; a folder or
//!   special file at a destination is refused, never replaced;
//! - a temp file belongs to one download at a time, across processes: it
//!   is locked (`flock`, released by the kernel when the file is closed or
//!   the process dies) before its first byte, and a file another haul
//!   holds is never opened to write, unlinked or renamed: that download
//!   fails with [`InUse`]. Every `.part` is opened, created and removed
//!   here, so this is the one place the rule is kept.
//!
//! It knows nothing of HTTP or of where names come from: `naming.rs` checks
//! names, `claims.rs` keeps downloads from sharing one.
//!
//! A dry run opens `--dir` with [`OutDir::look`]: it can look, and every
//! change (a folder, a temp file, a rename, a removal) is refused, so "a
//! dry run changes nothing" is kept here too.
//!
//! - `mod.rs`: opening `--dir`, resolving a path beneath it, looking at
//!   what is there, reading a file.
//! - `temp.rs`: a download's temp file from creation to rename, and its
//!   lock.
//! - `spool.rs`: under `-o -` (whose folder is a private temporary one),
//!   the small files held in memory until they are written to stdout.

mod spool;
mod temp;

pub(crate) use spool::Spool;
pub(crate) use temp::InUse;

use std::ffi::OsStr;
use std::fs::File;
use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use anyhow::{Context, Result, anyhow, bail};
use rustix::fs::{AtFlags, FileType, Mode, OFlags, Stat};
use rustix::io::Errno;

/// `--dir`, opened once for the whole run.
#[derive(Debug)]
pub(crate) struct OutDir {
    /// As the user gave it: error messages and reports name paths under it.
    path: PathBuf,
    /// `None` when the folder does not exist (a dry run creates nothing):
    /// then nothing exists under it either.
    fd: Option<OwnedFd>,
    /// The kernel resolves paths with `openat2` (one call for a whole path).
    beneath: bool,
    /// Names that differ only in case or Unicode normalisation are one file
    /// here (macOS's default, ext4 casefold folders).
    case_insensitive: bool,
    /// Opened by [`OutDir::look`] (a dry run): every change is refused.
    read_only: bool,
    /// `-o -`: finished small files may be held in memory instead.
    spool: Option<std::sync::Arc<Spool>>,
}

/// What sits at a path, the last component not followed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Existing {
    Missing,
    File {
        len: u64,
        modified: Option<SystemTime>,
        /// The inode and the status-change time: what `--state`'s quick
        /// check compares besides size and mtime (nobody can set a ctime
        /// back, and an edit in place changes it).
        ino: u64,
        ctime: (i64, u32),
    },
    Symlink,
    /// A folder or a special file (FIFO, socket, device), by name.
    Other(&'static str),
}

/// A folder under `--dir` and a name in it: where one `*at` call acts.
struct At<'a> {
    dir: Dir<'a>,
    name: &'a OsStr,
}

enum Dir<'a> {
    Root(BorrowedFd<'a>),
    Sub(OwnedFd),
}

impl AsFd for Dir<'_> {
    fn as_fd(&self) -> BorrowedFd<'_> {
        match self {
            Dir::Root(fd) => *fd,
            Dir::Sub(fd) => fd.as_fd(),
        }
    }
}

impl OutDir {
    /// Opens `dir` for a run, creating it first, and probes once, without
    /// writing, whether its names are case-insensitive.
    pub(crate) fn for_run(dir: &Path) -> Result<OutDir> {
        std::fs::create_dir_all(dir)
            .with_context(|| format!("cannot create output folder {}", dir.display()))?;
        OutDir::open(dir, false)
    }

    /// Opens `dir`, a private temporary folder, for `-o -`: files that
    /// wait their turn for stdout go there, or into `spool`.
    pub(crate) fn for_stream(dir: &Path, spool: std::sync::Arc<Spool>) -> Result<OutDir> {
        let mut out = OutDir::open(dir, false)?;
        out.spool = Some(spool);
        Ok(out)
    }

    /// Under `-o -`: where finished small files may be held.
    pub(crate) fn spool(&self) -> Option<&Spool> {
        self.spool.as_deref()
    }

    /// Opens `dir` for a dry run: to look only. A folder that does not
    /// exist is not created: nothing is under it.
    pub(crate) fn look(dir: &Path) -> Result<OutDir> {
        OutDir::open(dir, true)
    }

    fn open(dir: &Path, read_only: bool) -> Result<OutDir> {
        let flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC;
        let fd = match rustix::fs::open(dir, flags, Mode::empty()) {
            Ok(fd) => Some(fd),
            Err(Errno::NOENT) if read_only => None,
            Err(e) => {
                return Err(io::Error::from(e))
                    .with_context(|| format!("cannot open output folder {}", dir.display()));
            }
        };
        let mut out = OutDir {
            path: dir.to_path_buf(),
            beneath: fd.as_ref().is_some_and(|fd| beneath_works(fd.as_fd())),
            case_insensitive: false,
            read_only,
            fd,
            spool: None,
        };
        out.case_insensitive = out.probe_case();
        Ok(out)
    }

    /// Whether `--dir` holds nothing (or does not exist): then no file is
    /// there but the ones this run makes.
    pub(crate) fn is_empty(&self) -> bool {
        let Some(fd) = &self.fd else {
            return true;
        };
        let Ok(mut entries) = rustix::fs::Dir::read_from(fd) else {
            return false;
        };
        entries.all(|entry| entry.is_ok_and(|e| matches!(e.file_name().to_bytes(), b"." | b"..")))
    }

    /// Refuses a change to `rel` when `--dir` was opened to look only.
    fn writable(&self, rel: &Path) -> Result<()> {
        if self.read_only {
            bail!(
                "cannot change {}: a dry run changes nothing",
                self.display(rel).display()
            );
        }
        Ok(())
    }

    /// `--dir` joined with `rel`, for messages and reports.
    pub(crate) fn display(&self, rel: &Path) -> PathBuf {
        self.path.join(rel)
    }

    pub(crate) fn case_insensitive(&self) -> bool {
        self.case_insensitive
    }

    /// What is at `rel` now. A path whose folders lead out of `--dir`
    /// through a symlink is an error, never a file found outside.
    pub(crate) fn existing(&self, rel: &Path) -> Result<Existing> {
        let Some(at) = self.resolve(rel, false)? else {
            return Ok(Existing::Missing);
        };
        match rustix::fs::statat(&at.dir, at.name, AtFlags::SYMLINK_NOFOLLOW) {
            Ok(stat) => Ok(kind(&stat)),
            Err(Errno::NOENT | Errno::NOTDIR) => Ok(Existing::Missing),
            Err(e) => Err(self.io_error(e, "cannot look at", rel)),
        }
    }

    /// Opens the regular file at `rel` to read it; `None` when nothing,
    /// or something else than a regular file, is there.
    pub(crate) fn open_read(&self, rel: &Path) -> Result<Option<File>> {
        self.open_existing(rel, OFlags::RDONLY, false)
    }

    fn open_existing(&self, rel: &Path, flags: OFlags, single_link: bool) -> Result<Option<File>> {
        let Some(at) = self.resolve(rel, false)? else {
            return Ok(None);
        };
        let flags = flags | OFlags::NOFOLLOW | OFlags::NONBLOCK | OFlags::CLOEXEC;
        let fd = match rustix::fs::openat(&at.dir, at.name, flags, Mode::empty()) {
            Ok(fd) => fd,
            // Missing, a symlink (ELOOP), a folder, a socket: not a file
            // of ours.
            Err(
                Errno::NOENT
                | Errno::LOOP
                | Errno::ISDIR
                | Errno::NXIO
                | Errno::NOTDIR
                | Errno::MLINK,
            ) => return Ok(None),
            Err(e) => return Err(self.io_error(e, "cannot open", rel)),
        };
        let stat = rustix::fs::fstat(&fd).map_err(|e| self.io_error(e, "cannot look at", rel))?;
        let regular = FileType::from_raw_mode(stat.st_mode) == FileType::RegularFile;
        if !regular || (single_link && stat.st_nlink != 1) {
            return Ok(None);
        }
        // O_NONBLOCK means nothing to a regular file's reads and writes.
        Ok(Some(File::from(fd)))
    }

    /// The folder of `rel` (created when `create`) and its last name;
    /// `None` when a folder on the way does not exist.
    fn resolve<'a>(&'a self, rel: &'a Path, create: bool) -> Result<Option<At<'a>>> {
        let Some(root) = &self.fd else {
            return Ok(None);
        };
        let name = rel
            .file_name()
            .ok_or_else(|| anyhow!("refusing destination {}: no file name", rel.display()))?;
        let parent = rel.parent().filter(|p| !p.as_os_str().is_empty());
        let Some(parent) = parent else {
            return Ok(Some(At {
                dir: Dir::Root(root.as_fd()),
                name,
            }));
        };
        let dir = match self.open_dir(root.as_fd(), parent) {
            Ok(fd) => fd,
            Err(Errno::NOENT) if create => self.create_dirs(root.as_fd(), parent)?,
            Err(Errno::NOENT) => return Ok(None),
            Err(e) => return Err(self.refusal(parent, e)),
        };
        Ok(Some(At {
            dir: Dir::Sub(dir),
            name,
        }))
    }

    /// Opens the folder `rel` under `root` without leaving `root`.
    fn open_dir(&self, root: BorrowedFd<'_>, rel: &Path) -> rustix::io::Result<OwnedFd> {
        #[cfg(any(target_os = "linux", target_os = "android"))]
        if self.beneath {
            use rustix::fs::ResolveFlags;
            return rustix::fs::openat2(
                root,
                rel,
                OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
                Mode::empty(),
                ResolveFlags::BENEATH | ResolveFlags::NO_SYMLINKS,
            );
        }
        // No openat2: one folder at a time, none of them a symlink.
        let flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC;
        let mut dir: Option<OwnedFd> = None;
        for component in rel.components() {
            let base = dir.as_ref().map_or(root, AsFd::as_fd);
            dir = Some(rustix::fs::openat(
                base,
                component.as_os_str(),
                flags,
                Mode::empty(),
            )?);
        }
        dir.ok_or(Errno::NOENT)
    }

    /// Creates the folders of `rel` one by one, each checked as it is
    /// opened, and returns the last one.
    fn create_dirs(&self, root: BorrowedFd<'_>, rel: &Path) -> Result<OwnedFd> {
        let mut prefix = PathBuf::new();
        let mut dir: Option<OwnedFd> = None;
        for component in rel.components() {
            prefix.push(component);
            let opened = match self.open_dir(root, &prefix) {
                Err(Errno::NOENT) => {
                    let base = dir.as_ref().map_or(root, AsFd::as_fd);
                    match rustix::fs::mkdirat(
                        base,
                        component.as_os_str(),
                        Mode::from_raw_mode(0o777),
                    ) {
                        Ok(()) | Err(Errno::EXIST) => {}
                        Err(e) => return Err(self.io_error(e, "cannot create folder", &prefix)),
                    }
                    self.open_dir(root, &prefix)
                }
                opened => opened,
            };
            dir = Some(opened.map_err(|e| self.refusal(&prefix, e))?);
        }
        dir.ok_or_else(|| anyhow!("cannot create folder {}", self.display(rel).display()))
    }

    fn is_folder(&self, at: &At<'_>) -> bool {
        rustix::fs::statat(&at.dir, at.name, AtFlags::SYMLINK_NOFOLLOW)
            .is_ok_and(|s| FileType::from_raw_mode(s.st_mode) == FileType::Directory)
    }

    /// Why the folder `rel` could not be used.
    fn refusal(&self, rel: &Path, errno: Errno) -> anyhow::Error {
        let path = self.display(rel);
        match errno {
            Errno::XDEV => anyhow!(
                "refusing to write through {}: a symlink that leads out of the output folder",
                path.display()
            ),
            Errno::LOOP => anyhow!(
                "refusing to write through {}: a symlinked folder (haul follows no symlink \
                 under the output folder)",
                path.display()
            ),
            Errno::NOTDIR => anyhow!("cannot use {}: it is not a folder", path.display()),
            e => anyhow::Error::new(io::Error::from(e))
                .context(format!("cannot open folder {}", path.display())),
        }
    }

    fn io_error(&self, errno: Errno, what: &str, rel: &Path) -> anyhow::Error {
        anyhow::Error::new(io::Error::from(errno))
            .context(format!("{what} {}", self.display(rel).display()))
    }

    /// Whether `--dir` treats `Name` and `NAME` as one file, found
    /// without writing anything: a case-folding folder on Linux (ext4 and
    /// f2fs `casefold`), else an entry of the folder (or the folder itself,
    /// in its parent) looked up by its name in another case.
    fn probe_case(&self) -> bool {
        let Some(root) = &self.fd else {
            return false;
        };
        #[cfg(any(target_os = "linux", target_os = "android"))]
        {
            /// `FS_CASEFOLD_FL` (linux/fs.h).
            const CASEFOLD: u32 = 0x4000_0000;
            if rustix::fs::ioctl_getflags(root).is_ok_and(|f| f.bits() & CASEFOLD != 0) {
                return true;
            }
        }
        let same = |dir: BorrowedFd<'_>, name: &str| {
            let flipped = flip_case(name);
            if flipped == name {
                return None;
            }
            let a = rustix::fs::statat(dir, name, AtFlags::SYMLINK_NOFOLLOW).ok()?;
            let found = match rustix::fs::statat(dir, flipped.as_str(), AtFlags::SYMLINK_NOFOLLOW) {
                Ok(b) => (a.st_dev, a.st_ino) == (b.st_dev, b.st_ino),
                Err(_) => false,
            };
            Some(found)
        };
        if let Ok(entries) = std::fs::read_dir(&self.path) {
            for entry in entries.flatten().take(64) {
                if let Some(name) = entry.file_name().to_str()
                    && let Some(found) = same(root.as_fd(), name)
                {
                    return found;
                }
            }
        }
        // An empty folder: its own name, in its parent.
        let Ok(canonical) = self.path.canonicalize() else {
            return false;
        };
        let (Some(parent), Some(name)) = (canonical.parent(), canonical.file_name()) else {
            return false;
        };
        let Ok(parent) = rustix::fs::open(
            parent,
            OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
        ) else {
            return false;
        };
        name.to_str()
            .and_then(|name| same(parent.as_fd(), name))
            .unwrap_or(false)
    }
}

/// `name` with its ASCII letters in the other case.
fn flip_case(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_ascii_lowercase() {
                c.to_ascii_uppercase()
            } else {
                c.to_ascii_lowercase()
            }
        })
        .collect()
}

/// Whether `openat2(RESOLVE_BENEATH)` works here (Linux 5.6 and later,
/// unless a seccomp filter refuses it).
fn beneath_works(root: BorrowedFd<'_>) -> bool {
    #[cfg(any(target_os = "linux", target_os = "android"))]
    {
        use rustix::fs::ResolveFlags;
        rustix::fs::openat2(
            root,
            ".",
            OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
            ResolveFlags::BENEATH,
        )
        .is_ok()
    }
    #[cfg(not(any(target_os = "linux", target_os = "android")))]
    {
        let _ = root;
        false
    }
}

fn kind(stat: &Stat) -> Existing {
    match FileType::from_raw_mode(stat.st_mode) {
        FileType::RegularFile => Existing::File {
            len: stat.st_size as u64,
            modified: mtime(stat),
            ino: stat.st_ino,
            ctime: ctime(stat),
        },
        FileType::Symlink => Existing::Symlink,
        FileType::Directory => Existing::Other("a folder"),
        FileType::Fifo => Existing::Other("a FIFO"),
        FileType::Socket => Existing::Other("a socket"),
        FileType::CharacterDevice | FileType::BlockDevice => Existing::Other("a device"),
        FileType::Unknown => Existing::Other("not a regular file"),
    }
}

/// The status-change time, in seconds and nanoseconds since the epoch.
#[allow(clippy::unnecessary_cast)] // the field types differ between platforms
pub(crate) fn ctime(stat: &Stat) -> (i64, u32) {
    (stat.st_ctime as i64, stat.st_ctime_nsec as u32)
}

#[allow(clippy::unnecessary_cast)] // the field types differ between platforms
fn mtime(stat: &Stat) -> Option<SystemTime> {
    let secs = stat.st_mtime as i64;
    let nanos = stat.st_mtime_nsec as u32;
    if secs >= 0 {
        SystemTime::UNIX_EPOCH.checked_add(Duration::new(secs as u64, nanos))
    } else {
        SystemTime::UNIX_EPOCH.checked_sub(Duration::from_secs(secs.unsigned_abs()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};

    fn out() -> (tempfile::TempDir, OutDir) {
        let tmp = tempfile::tempdir().unwrap();
        let out = OutDir::for_run(&tmp.path().join("out")).unwrap();
        (tmp, out)
    }

    #[test]
    fn creates_folders_and_promotes() {
        let (tmp, out) = out();
        let mut file = out.create(Path::new("a/b/c.part")).unwrap();
        file.write_all(b"hello").unwrap();
        out.promote(&file, Path::new("a/b/c.part"), Path::new("a/b/c"), true, 5)
            .unwrap();
        let got = std::fs::read(tmp.path().join("out/a/b/c")).unwrap();
        assert_eq!(got, b"hello");
        assert!(matches!(
            out.existing(Path::new("a/b/c")).unwrap(),
            Existing::File { len: 5, .. }
        ));
        assert_eq!(out.existing(Path::new("a/x/y")).unwrap(), Existing::Missing);
    }

    #[test]
    fn symlinks_leading_out_are_refused_everywhere() {
        let (tmp, out) = out();
        let outside = tmp.path().join("outside");
        std::fs::create_dir(&outside).unwrap();
        std::fs::write(outside.join("f"), b"secret").unwrap();
        std::fs::write(outside.join("f.part"), b"secret").unwrap();
        std::os::unix::fs::symlink(&outside, tmp.path().join("out/link")).unwrap();
        let f = Path::new("link/f");
        let part = Path::new("link/f.part");
        let err = out.existing(f).unwrap_err().to_string();
        assert!(err.contains("refusing"), "{err}");
        assert!(out.open_read(f).is_err());
        assert!(out.open_append(part).is_err());
        assert!(out.create(Path::new("link/new.part")).is_err());
        let mine = File::open(outside.join("f.part")).unwrap();
        assert!(out.remove_own(&mine, part).is_err());
        assert_eq!(std::fs::read(outside.join("f.part")).unwrap(), b"secret");
        assert!(!outside.join("new.part").exists());
    }

    #[test]
    fn a_symlinked_folder_inside_is_refused_too() {
        // `real/x` and `alias/x` would be one file under two names.
        let (tmp, out) = out();
        std::fs::create_dir(tmp.path().join("out/real")).unwrap();
        std::os::unix::fs::symlink("real", tmp.path().join("out/alias")).unwrap();
        let err = out.create(Path::new("alias/x.part")).unwrap_err();
        assert!(format!("{err:#}").contains("a symlinked folder"), "{err:#}");
        assert!(out.existing(Path::new("alias/x")).is_err());
        assert!(out.create(Path::new("real/x.part")).is_ok());
        assert!(!tmp.path().join("out/real/x").exists());
    }

    #[test]
    fn special_files_and_links_are_not_ours() {
        let (tmp, out) = out();
        let root = tmp.path().join("out");
        // A FIFO: never opened (an open would wait for a writer).
        let fifo = root.join("f.part");
        crate::test_support::mkfifo(&fifo, 0o644);
        assert!(out.open_append(Path::new("f.part")).unwrap().is_none());
        assert_eq!(
            out.existing(Path::new("f.part")).unwrap(),
            Existing::Other("a FIFO")
        );
        let file = out.create(Path::new("f.part")).unwrap();
        drop(file);
        assert!(std::fs::metadata(&fifo).unwrap().is_file(), "replaced");

        // A hard link: appending would write through to the other name.
        std::fs::write(root.join("other"), b"keep").unwrap();
        std::fs::hard_link(root.join("other"), root.join("h.part")).unwrap();
        assert!(out.open_append(Path::new("h.part")).unwrap().is_none());
        assert!(out.open_read(Path::new("h.part")).unwrap().is_some());
        let mut file = out.create(Path::new("h.part")).unwrap();
        file.write_all(b"new").unwrap();
        assert_eq!(std::fs::read(root.join("other")).unwrap(), b"keep");

        // A symlink at the destination is replaced, not written through.
        std::fs::write(tmp.path().join("target"), b"keep").unwrap();
        std::os::unix::fs::symlink(tmp.path().join("target"), root.join("h")).unwrap();
        out.promote(&file, Path::new("h.part"), Path::new("h"), true, 3)
            .unwrap();
        assert_eq!(std::fs::read(tmp.path().join("target")).unwrap(), b"keep");
        let mut text = String::new();
        File::open(root.join("h"))
            .unwrap()
            .read_to_string(&mut text)
            .unwrap();
        assert_eq!(text, "new");

        // A folder at the destination is refused.
        std::fs::create_dir(root.join("d")).unwrap();
        let file = out.create(Path::new("d.part")).unwrap();
        let err = out
            .promote(&file, Path::new("d.part"), Path::new("d"), false, 0)
            .unwrap_err();
        assert!(format!("{err:#}").contains("it is a folder"), "{err:#}");
    }

    /// The names in `dir`, sorted.
    fn listing(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        names.sort();
        names
    }

    /// The probe answers what the file system does, found here by trying
    /// (a file `a`, looked up as `A`), whichever it is: case-sensitive
    /// (ext4, tmpfs) or not (APFS, NTFS, ext4 `casefold`). It asks both
    /// ways (an empty folder by its own name in its parent, a folder with
    /// entries by one of them), and writes nothing.
    #[test]
    fn the_case_probe_agrees_with_the_file_system_and_writes_nothing() {
        let (tmp, out) = out();
        let trial = tmp.path().join("trial");
        std::fs::create_dir(&trial).unwrap();
        std::fs::write(trial.join("a"), b"").unwrap();
        let folds = trial.join("A").exists();

        assert_eq!(out.case_insensitive(), folds, "an empty folder");
        assert_eq!(listing(&tmp.path().join("out")), Vec::<String>::new());

        std::fs::write(tmp.path().join("out/Name.txt"), b"x").unwrap();
        let out = OutDir::look(&tmp.path().join("out")).unwrap();
        assert_eq!(out.case_insensitive(), folds, "a folder with an entry");
        assert_eq!(listing(&tmp.path().join("out")), ["Name.txt"]);
        assert_eq!(listing(tmp.path()), ["out", "trial"]);
        assert_eq!(flip_case("Ab-1.txt"), "aB-1.TXT");
    }

    /// A folder where `Name.txt` and `nAME.TXT` are one file is taken for
    /// case-insensitive on any machine: on a case-sensitive file system a
    /// hard link makes them one (on another they are one already).
    #[test]
    fn one_file_under_both_cases_is_a_case_insensitive_folder() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("out");
        std::fs::create_dir(&dir).unwrap();
        std::fs::write(dir.join("Name.txt"), b"x").unwrap();
        match std::fs::hard_link(dir.join("Name.txt"), dir.join("nAME.TXT")) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
            Err(e) => panic!("hard link: {e}"),
        }
        let before = listing(&dir);

        assert!(OutDir::look(&dir).unwrap().case_insensitive());
        assert_eq!(listing(&dir), before, "the probe wrote nothing");
    }

    #[test]
    fn promote_refuses_a_replaced_temp_file() {
        let (tmp, out) = out();
        let file = out.create(Path::new("x.part")).unwrap();
        std::fs::remove_file(tmp.path().join("out/x.part")).unwrap();
        std::fs::write(tmp.path().join("out/x.part"), b"someone else").unwrap();
        let err = out
            .promote(&file, Path::new("x.part"), Path::new("x"), true, 0)
            .unwrap_err();
        assert!(err.to_string().contains("replaced"), "{err}");
        assert!(!tmp.path().join("out/x").exists());
    }

    /// Issue 16, item 1: a temp file belongs to one download at a time,
    /// across processes (each `OutDir` opens the folder anew, as a second
    /// haul would; `flock` locks belong to the open file, so this is the
    /// same as two processes).
    #[test]
    fn a_temp_file_another_holder_has_is_left_alone() {
        let (tmp, out) = out();
        let other = OutDir::for_run(&tmp.path().join("out")).unwrap();
        let mut mine = out.create(Path::new("x.part")).unwrap();
        mine.write_all(b"mine").unwrap();
        let err = other.create(Path::new("x.part")).unwrap_err();
        assert!(err.downcast_ref::<InUse>().is_some(), "{err:#}");
        assert!(err.to_string().contains("in use by another haul"), "{err}");
        let err = other.open_append(Path::new("x.part")).unwrap_err();
        assert!(err.downcast_ref::<InUse>().is_some(), "{err:#}");
        assert_eq!(
            std::fs::read(tmp.path().join("out/x.part")).unwrap(),
            b"mine"
        );
        out.promote(&mine, Path::new("x.part"), Path::new("x"), true, 4)
            .unwrap();
        drop(mine);
        // Released: the name is free again.
        assert!(other.create(Path::new("x.part")).is_ok());
        assert_eq!(std::fs::read(tmp.path().join("out/x")).unwrap(), b"mine");
    }

    /// A dry run's `--dir` can be looked at, never changed.
    #[test]
    fn a_folder_opened_to_look_refuses_every_change() {
        let (tmp, _out) = out();
        std::fs::write(tmp.path().join("out/x.part"), b"old").unwrap();
        let look = OutDir::look(&tmp.path().join("out")).unwrap();
        let refused = |err: anyhow::Error| err.to_string().contains("a dry run changes nothing");
        assert!(refused(look.create(Path::new("y.part")).unwrap_err()));
        assert!(refused(look.open_append(Path::new("x.part")).unwrap_err()));
        look.remove_leftover(Path::new("x.part")).unwrap();
        let file = std::fs::File::open(tmp.path().join("out/x.part")).unwrap();
        assert!(refused(
            look.remove_own(&file, Path::new("x.part")).unwrap_err()
        ));
        let promoted = look.promote(&file, Path::new("x.part"), Path::new("x"), true, 3);
        assert!(refused(promoted.unwrap_err()));
        assert_eq!(
            std::fs::read(tmp.path().join("out/x.part")).unwrap(),
            b"old"
        );
        assert!(look.existing(Path::new("x.part")).is_ok());
        assert!(!look.is_empty());
        assert!(
            OutDir::look(&tmp.path().join("missing"))
                .unwrap()
                .is_empty()
        );
        assert!(!tmp.path().join("missing").exists());
    }

    #[test]
    fn a_leftover_temp_file_nobody_holds_is_taken() {
        let (tmp, out) = out();
        std::fs::write(tmp.path().join("out/x.part"), b"old").unwrap();
        let resumed = out.open_append(Path::new("x.part")).unwrap().unwrap();
        drop(resumed);
        let mut fresh = out.create(Path::new("x.part")).unwrap();
        fresh.write_all(b"new!").unwrap();
        assert_eq!(
            std::fs::read(tmp.path().join("out/x.part")).unwrap(),
            b"new!"
        );
    }

    /// Issue 16, item 1: the rename happens only at the proven length.
    #[test]
    fn promote_refuses_a_file_of_another_length() {
        let (tmp, out) = out();
        let mut file = out.create(Path::new("x.part")).unwrap();
        file.write_all(b"0123456789").unwrap();
        let err = out
            .promote(&file, Path::new("x.part"), Path::new("x"), true, 8)
            .unwrap_err();
        assert!(
            err.to_string().contains("holds 10 bytes, not the 8"),
            "{err}"
        );
        assert!(!tmp.path().join("out/x").exists());
        assert!(!tmp.path().join("out/x.part").exists(), "removed");
    }
}
