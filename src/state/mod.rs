//! `--state FILE`: one file for the whole run that records every saved
//! file (URL, path, size, modification time, inode and ctime, ETag,
//! Last-Modified, SHA-256, when and by which run), so that a nightly run
//! can send conditional requests, notice a file changed on disk since, and
//! trust a file that is still the one an entry with the wanted digest
//! describes (size, mtime, inode, ctime: `existing.rs`).
//!
//! The file is an append-only log after a header that names the `--dir` it
//! serves (device, inode, and the path for messages): a state opened for
//! another folder is refused, so it never vouches for files it did not
//! write. Each record is `SYNC | len | crc32(len, payload) | payload`: an
//! entry, or a tombstone that forgets a path. Crash safety follows from the
//! order of writes: an entry is appended after its file's rename, and a
//! tombstone before a recorded file is replaced, so every entry describes a
//! file that is on disk.
//!
//! Damage between runs loses only the records it touches: a reader that
//! meets a bad record scans on for the next sync marker whose record checks
//! out, keeps what follows, and counts what it skipped in one warning
//! ([`State::damage`]). When the file is opened for writing, an unfinished
//! last record (what a kill mid-append leaves) is cut off; damage before
//! the last good record makes the open rewrite the live entries instead
//! (compaction), so no valid record is ever cut. Version-1 files (no
//! markers, no folder) are read, and rewritten as version 2 on open.
//!
//! Only an index stays in memory (a 64-bit hash of the path and the
//! record's offset, about 16 bytes an entry); an entry is read back from the
//! file when it is needed. The log is compacted when it is opened, if most
//! of it is dead records: into `FILE.compact`, created exclusively and never
//! through a symlink, synced, then renamed over the file. A `--state` path
//! that is a symlink is resolved once: its target is what is locked,
//! compacted and replaced. A second haul on the same file is refused: the
//! file is held with `flock`, which the kernel releases when a process dies.
//! Nothing here waits on a FIFO: the file is opened `O_NONBLOCK` and
//! refused unless it is a regular file.
//!
//! `list.rs` (`--list`) only reads: no lock, no repair, no write.
//!
//! - `log.rs`: the bytes (header, framing, the scan after damage).
//! - `compact.rs`: compaction (the live entries into `FILE.compact`, then
//!   over the file).
//! - `record.rs`: [`Entry`], and a record's payload (an entry or a
//!   tombstone) as bytes and back.
//! - `list.rs`: `--list`.
//! - `mod.rs`: the state a run holds (open, look up, record, forget), and
//!   how the file is resolved and opened (for a run and for `--list`).

use std::collections::HashMap;
use std::ffi::OsStr;
use std::fs::File;
use std::hash::{BuildHasher, BuildHasherDefault, RandomState};
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileExt, MetadataExt};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::SystemTime;

use anyhow::{Context, Result, bail};
use rustix::fs::{FileType, FlockOperation, Mode, OFlags};
use rustix::io::Errno;

use crate::seen::IdentityHasher;

mod compact;
mod list;
mod log;
mod record;

use self::compact::compact;
// `state::list` (the `--list` reader) reads better than `state::list::list`.
pub(crate) use self::list::list;
use self::log::{Header, Log, encode_header, frame, header_len, read_header, read_record, scan};
// `state::Entry` reads better than `state::record::Entry`: an entry is
// what the state is about; `record.rs` is its on-disk form.
pub(crate) use self::record::Entry;
use self::record::{decode_entry, encode_entry, get_bytes, get_u64, put_bytes, put_str};

const MAGIC: &[u8] = b"haul-state 2\n";
const MAGIC_V1: &[u8] = b"haul-state 1\n";
/// Starts every version-2 record, so that a reader can find the next one
/// after damage. `0xff` never occurs in UTF-8, so paths and URLs (most of a
/// payload) never hold it; a marker found by chance in binary fields is
/// told apart by the checksum.
const SYNC: [u8; 4] = [0xff, b'h', b's', 0x02];
/// `SYNC | len | crc`.
const HEAD: u64 = 12;
/// `len | crc` (version 1).
const HEAD_V1: u64 = 8;
const ENTRY: u8 = 1;
const FORGET: u8 = 2;
/// A record longer than this is damage, not data.
const MAX_RECORD: u32 = 4 << 20;
/// A header longer than this is damage.
const MAX_HEADER: u32 = 1 << 16;
/// Compact on open when the file is at least this large and over half of
/// it is dead records.
const COMPACT_FROM: u64 = 1 << 20;
/// How much of the file a scan reads at a time.
const CHUNK: usize = 1 << 20;

/// The files a `--state` at `path` writes: itself and, beside the file it
/// resolves to, the temp file it is compacted into. No download may write
/// over either (`claims.rs`).
pub(crate) fn files(path: &Path) -> [PathBuf; 2] {
    let real = path.canonicalize().unwrap_or_else(|_| path.to_path_buf());
    [path.to_path_buf(), compacting(&real)]
}

/// The temp file the state file at `real` (resolved) is compacted into.
fn compacting(real: &Path) -> PathBuf {
    let mut tmp = real.as_os_str().to_owned();
    tmp.push(".compact");
    PathBuf::from(tmp)
}

/// Now, in whole seconds since the Unix epoch.
pub(crate) fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// The seconds and nanoseconds of `t` since the Unix epoch.
pub(crate) fn epoch(t: SystemTime) -> Option<(i64, u32)> {
    let d = t.duration_since(SystemTime::UNIX_EPOCH).ok()?;
    Some((i64::try_from(d.as_secs()).ok()?, d.subsec_nanos()))
}

/// Which folder a state serves: its device and inode (what is compared)
/// and its canonical path (for messages).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct DirId {
    dev: u64,
    ino: u64,
    path: PathBuf,
}

impl DirId {
    /// The identity of the folder at `dir`, which must exist.
    pub(crate) fn of(dir: &Path) -> Result<DirId> {
        let path = std::fs::canonicalize(dir)
            .with_context(|| format!("cannot open output folder {}", dir.display()))?;
        let meta = std::fs::metadata(&path)
            .with_context(|| format!("cannot open output folder {}", dir.display()))?;
        if !meta.is_dir() {
            bail!("the output folder {} is not a folder", dir.display());
        }
        Ok(DirId {
            dev: meta.dev(),
            ino: meta.ino(),
            path,
        })
    }

    fn same(&self, other: &DirId) -> bool {
        (self.dev, self.ino) == (other.dev, other.ino)
    }

    fn encode(&self) -> Vec<u8> {
        let mut out = Vec::new();
        out.extend_from_slice(&self.dev.to_le_bytes());
        out.extend_from_slice(&self.ino.to_le_bytes());
        put_bytes(&mut out, self.path.as_os_str().as_bytes());
        out
    }

    fn decode(b: &[u8]) -> Option<DirId> {
        let (dev, rest) = get_u64(b)?;
        let (ino, rest) = get_u64(rest)?;
        let (path, _) = get_bytes(rest)?;
        Some(DirId {
            dev,
            ino,
            path: PathBuf::from(OsStr::from_bytes(path)),
        })
    }
}

/// An open state file, held for the run.
pub(crate) struct State {
    path: PathBuf,
    inner: Mutex<Inner>,
    hasher: RandomState,
    run: u64,
    damage: Option<String>,
}

struct Inner {
    file: File,
    /// Path hash → offset of its latest entry.
    index: Index,
    /// Where the next record goes.
    end: u64,
}

type Index = HashMap<u64, u64, BuildHasherDefault<IdentityHasher>>;

impl State {
    /// Opens (or creates) the state file for the folder `dir` and holds it
    /// for this run; a second haul on it is refused, and so is a state that
    /// serves another folder. `run` names this run in new entries. Records
    /// lost to damage are counted in [`State::damage`].
    #[cfg(test)]
    pub(crate) fn open(path: &Path, run: u64, dir: &DirId) -> Result<State> {
        State::open_with(path, run, |_| Ok(dir.clone()))
    }

    /// `State::open` for the folder at `dir`, which is created only once
    /// the state is held and known to serve it (or to be new): a run the
    /// state refuses creates nothing.
    pub(crate) fn open_for(path: &Path, run: u64, dir: &Path) -> Result<State> {
        // A state whose folder does not exist yet is new (there is nothing
        // to refuse): its folder may be `--dir` itself, created first.
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty())
            && !parent.exists()
            && parent.starts_with(dir)
        {
            std::fs::create_dir_all(dir)
                .with_context(|| format!("cannot create output folder {}", dir.display()))?;
        }
        State::open_with(path, run, |recorded| {
            if let Some(recorded) = recorded
                && std::fs::symlink_metadata(dir).is_err()
            {
                bail!(
                    "the --state file {} serves the folder {}, not {} (which does not exist): \
                     use one --state file per --dir",
                    path.display(),
                    recorded.path.display(),
                    dir.display()
                );
            }
            std::fs::create_dir_all(dir)
                .with_context(|| format!("cannot create output folder {}", dir.display()))?;
            DirId::of(dir)
        })
    }

    /// Opens the state; `folder` gives the identity of the folder it is to
    /// serve, told the one the state records, if any.
    fn open_with(
        path: &Path,
        run: u64,
        folder: impl FnOnce(Option<&DirId>) -> Result<DirId>,
    ) -> Result<State> {
        let real = resolve(path)?;
        let file = lock(&real, path)?;
        let len = file_len(&file, path)?;
        let hasher = RandomState::new();
        let header = read_header(&file, len, path)?;
        let dir = match &header {
            Header::V2 { dir, .. } => folder(Some(dir))?,
            Header::Damaged { .. } => DirId {
                dev: 0,
                ino: 0,
                path: PathBuf::new(),
            },
            _ => folder(None)?,
        };
        let dir = &dir;
        let log = match header {
            Header::Empty => {
                file.set_len(0)
                    .and_then(|()| file.write_all_at(&encode_header(dir), 0))
                    .with_context(|| format!("cannot write the --state file {}", path.display()))?;
                Log::empty(header_len(dir))
            }
            Header::Damaged { .. } => bail!(
                "the --state file {} has a damaged header, so which --dir it serves is \
                 unknown; `haul --state {} --list` prints its entries",
                path.display(),
                path.display()
            ),
            Header::V2 { dir: ref d, .. } if !d.same(dir) => bail!(
                "the --state file {} serves the folder {}, not {}: use one --state file per --dir",
                path.display(),
                d.path.display(),
                dir.path.display()
            ),
            _ => scan(&file, len, &header, &hasher, path)?,
        };
        let damage = log.damage.message(path);
        let dead = log.end >= COMPACT_FROM && log.live * 2 < log.end;
        let (file, index, end) = if header.version() == 1 || log.damage.before_end || dead {
            // Rewriting the live entries also drops what damage left, and
            // upgrades a version-1 file (which then serves `dir`).
            compact(&real, path, &file, header.version(), &log, &hasher, dir)?
        } else {
            if log.end < len {
                // What follows the last good record is an unfinished write
                // or damage: nothing valid is cut.
                file.set_len(log.end).with_context(|| {
                    format!("cannot repair the --state file {}", path.display())
                })?;
            }
            (file, log.index, log.end)
        };
        Ok(State {
            path: path.to_path_buf(),
            inner: Mutex::new(Inner { file, index, end }),
            hasher,
            run,
            damage,
        })
    }

    pub(crate) fn run(&self) -> u64 {
        self.run
    }

    /// What the open skipped, if anything: one line for a warning.
    pub(crate) fn damage(&self) -> Option<String> {
        self.damage.clone()
    }

    /// The entry for `rel`, if the state has one.
    pub(crate) fn get(&self, rel: &str) -> Result<Option<Entry>> {
        let key = self.hasher.hash_one(rel);
        let inner = self.lock();
        let Some(&offset) = inner.index.get(&key) else {
            return Ok(None);
        };
        let payload = read_record(&inner.file, offset, 2)
            .with_context(|| format!("cannot read the --state file {}", self.path.display()))?;
        // A 64-bit hash collision is not this path's entry.
        Ok(decode_entry(&payload).filter(|e| e.path == rel))
    }

    /// How many entries the state holds.
    pub(crate) fn len(&self) -> usize {
        self.lock().index.len()
    }

    /// Whether the state has an entry for `rel` (no file read).
    pub(crate) fn has(&self, rel: &str) -> bool {
        let key = self.hasher.hash_one(rel);
        self.lock().index.contains_key(&key)
    }

    /// Records a saved file (after its rename).
    pub(crate) fn record(&self, entry: &Entry) -> Result<()> {
        let mut payload = vec![ENTRY];
        encode_entry(entry, &mut payload);
        let key = self.hasher.hash_one(entry.path.as_str());
        let mut inner = self.lock();
        let offset = inner.end;
        self.append(&mut inner, &payload)?;
        inner.index.insert(key, offset);
        Ok(())
    }

    /// Forgets `rel` (before the file it describes is replaced).
    pub(crate) fn forget(&self, rel: &str) -> Result<()> {
        let key = self.hasher.hash_one(rel);
        let mut inner = self.lock();
        if inner.index.remove(&key).is_none() {
            return Ok(());
        }
        let mut payload = vec![FORGET];
        put_str(&mut payload, rel);
        self.append(&mut inner, &payload)
    }

    fn append(&self, inner: &mut Inner, payload: &[u8]) -> Result<()> {
        let record = frame(payload);
        inner
            .file
            .write_all_at(&record, inner.end)
            .with_context(|| format!("cannot write the --state file {}", self.path.display()))?;
        inner.end += record.len() as u64;
        Ok(())
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// The file a `--state` path names, resolved once: a symlink's target (the
/// link stays a link), or for a new file its canonical folder and name.
fn resolve(path: &Path) -> Result<PathBuf> {
    let context = || format!("cannot open the --state file {}", path.display());
    match std::fs::canonicalize(path) {
        Ok(real) => Ok(real),
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            // A link to a file not there yet names where it is created.
            let mut path = path.to_path_buf();
            for _ in 0..40 {
                match std::fs::read_link(&path) {
                    Ok(target) => {
                        path = match path.parent() {
                            Some(parent) => parent.join(target),
                            None => target,
                        }
                    }
                    Err(_) => break,
                }
            }
            let path = path.as_path();
            let name = path.file_name().with_context(context)?;
            let parent = match path.parent() {
                Some(p) if !p.as_os_str().is_empty() => p,
                _ => Path::new("."),
            };
            Ok(std::fs::canonicalize(parent)
                .with_context(context)?
                .join(name))
        }
        Err(e) => Err(e).with_context(context),
    }
}

/// Opens `real` without following a symlink put there since it was
/// resolved, and without waiting (a FIFO would block `open` itself); then
/// refuses anything that is not a regular file.
fn open_regular(real: &Path, flags: OFlags, shown: &Path) -> Result<File> {
    let flags = flags | OFlags::NONBLOCK | OFlags::NOFOLLOW | OFlags::CLOEXEC;
    let fd = rustix::fs::open(real, flags, Mode::from_raw_mode(0o666))
        .map_err(io::Error::from)
        .with_context(|| format!("cannot open the --state file {}", shown.display()))?;
    let stat = rustix::fs::fstat(&fd)
        .map_err(io::Error::from)
        .with_context(|| format!("cannot open the --state file {}", shown.display()))?;
    if FileType::from_raw_mode(stat.st_mode) != FileType::RegularFile {
        bail!("the --state file {} is not a regular file", shown.display());
    }
    Ok(File::from(fd))
}

/// Opens `real` (creating it empty) and takes the lock; refuses when
/// another haul holds it. Retries if the file was replaced between the
/// open and the lock (a compaction by the holder).
fn lock(real: &Path, shown: &Path) -> Result<File> {
    for _ in 0..3 {
        let file = open_regular(real, OFlags::RDWR | OFlags::CREATE, shown)?;
        match rustix::fs::flock(&file, FlockOperation::NonBlockingLockExclusive) {
            Ok(()) => {}
            Err(Errno::WOULDBLOCK) => bail!(
                "the --state file {} is in use by another haul",
                shown.display()
            ),
            Err(e) => {
                return Err(io::Error::from(e))
                    .with_context(|| format!("cannot lock the --state file {}", shown.display()));
            }
        }
        let same = match (file.metadata(), std::fs::symlink_metadata(real)) {
            (Ok(a), Ok(b)) => (a.dev(), a.ino()) == (b.dev(), b.ino()),
            _ => false,
        };
        if same {
            return Ok(file);
        }
    }
    bail!("the --state file {} keeps being replaced", shown.display())
}

fn file_len(file: &File, shown: &Path) -> Result<u64> {
    file.metadata()
        .map(|m| m.len())
        .with_context(|| format!("cannot read the --state file {}", shown.display()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn entry(path: &str, bytes: u64) -> Entry {
        Entry {
            url: format!("https://h/{path}"),
            path: path.into(),
            bytes,
            mtime: Some((1_700_000_000, 5)),
            ino: Some(77),
            ctime: Some((1_700_000_002, 9)),
            etag: Some("\"v1\"".into()),
            last_modified: None,
            sha256: Some([7; 32]),
            saved_at: 1_700_000_001,
            run: 42,
        }
    }

    /// A temporary folder with `out/` (the folder the state serves) and
    /// the state's path beside it.
    struct Fixture {
        tmp: tempfile::TempDir,
        dir: DirId,
    }

    impl Fixture {
        fn new() -> Fixture {
            let tmp = tempfile::tempdir().unwrap();
            std::fs::create_dir(tmp.path().join("out")).unwrap();
            let dir = DirId::of(&tmp.path().join("out")).unwrap();
            Fixture { tmp, dir }
        }

        fn path(&self) -> PathBuf {
            self.tmp.path().join("state")
        }

        fn open(&self, run: u64) -> Result<State> {
            State::open(&self.path(), run, &self.dir)
        }

        /// A state holding `names`, and the byte range of each record.
        fn with(&self, names: &[&str]) -> Vec<std::ops::Range<usize>> {
            let state = self.open(1).unwrap();
            let mut ranges = Vec::new();
            for (i, name) in names.iter().enumerate() {
                let start = state.lock().end as usize;
                state.record(&entry(name, i as u64)).unwrap();
                ranges.push(start..state.lock().end as usize);
            }
            ranges
        }

        fn listed(&self) -> (Vec<String>, Option<String>) {
            let mut out = Vec::new();
            let listed = list(&self.path(), &mut out).unwrap();
            let paths = String::from_utf8(out)
                .unwrap()
                .lines()
                .map(|l| {
                    let v: serde_json::Value = serde_json::from_str(l).unwrap();
                    v["path"].as_str().unwrap().to_string()
                })
                .collect::<Vec<_>>();
            assert_eq!(paths.len() as u64, listed.entries);
            (paths, listed.damage)
        }
    }

    fn edit(path: &Path, f: impl FnOnce(&mut Vec<u8>)) {
        let mut bytes = std::fs::read(path).unwrap();
        f(&mut bytes);
        std::fs::write(path, bytes).unwrap();
    }

    #[test]
    fn entries_survive_reopening_and_forgetting() {
        let fx = Fixture::new();
        {
            let state = fx.open(1).unwrap();
            state.record(&entry("a", 1)).unwrap();
            state.record(&entry("b", 2)).unwrap();
            state.record(&entry("a", 3)).unwrap();
            state.forget("b").unwrap();
            assert_eq!(state.get("a").unwrap(), Some(entry("a", 3)));
        }
        let state = fx.open(2).unwrap();
        assert_eq!(state.get("a").unwrap(), Some(entry("a", 3)));
        assert_eq!(state.get("b").unwrap(), None);
        assert!(state.has("a") && !state.has("b"));
        assert_eq!(state.damage(), None);
        let mut out = Vec::new();
        assert_eq!(list(&fx.path(), &mut out).unwrap().entries, 1);
        let line = String::from_utf8(out).unwrap();
        assert!(
            line.contains("\"path\":\"a\"") && line.contains("\"bytes\":3"),
            "{line}"
        );
        assert!(!line.contains("ino") && !line.contains("ctime"), "{line}");
    }

    #[test]
    fn a_record_cut_short_is_dropped_and_cut_off() {
        let fx = Fixture::new();
        fx.with(&["a", "b"]);
        let whole = std::fs::metadata(fx.path()).unwrap().len();
        // A kill in the middle of the second record's write.
        let file = File::options().write(true).open(fx.path()).unwrap();
        file.set_len(whole - 5).unwrap();
        drop(file);
        let state = fx.open(2).unwrap();
        assert!(state.get("a").unwrap().is_some());
        assert_eq!(state.get("b").unwrap(), None);
        let warning = state.damage().unwrap();
        assert!(warning.contains("an unfinished last record"), "{warning}");
        state.record(&entry("c", 3)).unwrap();
        drop(state);
        let state = fx.open(3).unwrap();
        assert!(state.get("c").unwrap().is_some(), "appended after the cut");
        assert_eq!(state.damage(), None);
    }

    /// One flipped byte in the middle record: the records on either side
    /// are kept, the open says what it skipped, and the file is clean
    /// afterwards (rewritten, not cut at the damage).
    #[test]
    fn a_damaged_record_loses_only_itself() {
        let fx = Fixture::new();
        let ranges = fx.with(&["a", "b", "c"]);
        edit(&fx.path(), |b| b[ranges[1].start + 20] ^= 0x40);
        let (listed, warning) = fx.listed();
        assert_eq!(listed, ["a", "c"]);
        let bytes = ranges[1].len();
        assert_eq!(
            warning.unwrap(),
            format!(
                "--state {}: skipped 1 damaged record ({bytes} bytes)",
                fx.path().display()
            )
        );
        let state = fx.open(2).unwrap();
        assert!(state.damage().unwrap().contains("1 damaged record"));
        assert_eq!(state.get("a").unwrap(), Some(entry("a", 0)));
        assert_eq!(state.get("b").unwrap(), None);
        assert_eq!(state.get("c").unwrap(), Some(entry("c", 2)));
        state.record(&entry("d", 3)).unwrap();
        drop(state);
        let state = fx.open(3).unwrap();
        assert_eq!(state.damage(), None);
        assert_eq!(state.len(), 3);
    }

    #[test]
    fn a_huge_length_field_is_damage_not_the_end() {
        let fx = Fixture::new();
        let ranges = fx.with(&["a", "b", "c"]);
        let at = ranges[1].start + 4;
        edit(&fx.path(), |b| b[at..at + 4].copy_from_slice(&[0xff; 4]));
        let state = fx.open(2).unwrap();
        assert!(state.damage().unwrap().contains("1 damaged record"));
        assert!(state.has("a") && !state.has("b") && state.has("c"));
    }

    #[test]
    fn list_reads_without_writing() {
        let fx = Fixture::new();
        let ranges = fx.with(&["a", "b", "c"]);
        let end = ranges[2].end;
        edit(&fx.path(), |b| {
            b[ranges[0].start + 15] ^= 1;
            b.truncate(end - 3);
        });
        let before = std::fs::read(fx.path()).unwrap();
        let (listed, warning) = fx.listed();
        assert_eq!(listed, ["b"]);
        let warning = warning.unwrap();
        assert!(
            warning.contains("1 damaged record") && warning.contains("an unfinished last record"),
            "{warning}"
        );
        assert_eq!(std::fs::read(fx.path()).unwrap(), before);

        std::fs::write(fx.path(), b"").unwrap();
        assert_eq!(fx.listed(), (vec![], None));
        std::fs::write(fx.path(), b"hello").unwrap();
        let err = list(&fx.path(), &mut Vec::new()).unwrap_err().to_string();
        assert!(err.contains("is not a haul --state file"), "{err}");
    }

    /// A damaged folder record: `--list` still prints every entry, a run
    /// refuses the file (it cannot tell which folder it serves) and leaves
    /// it as it is.
    #[test]
    fn a_damaged_header_is_listed_but_not_trusted() {
        let fx = Fixture::new();
        fx.with(&["a", "b"]);
        edit(&fx.path(), |b| b[MAGIC.len() + 10] ^= 1);
        let before = std::fs::read(fx.path()).unwrap();
        let (listed, warning) = fx.listed();
        assert_eq!(listed, ["a", "b"]);
        let warning = warning.unwrap();
        assert!(warning.ends_with("skipped a damaged header"), "{warning}");
        let err = fx.open(2).err().unwrap().to_string();
        assert!(err.contains("has a damaged header"), "{err}");
        assert_eq!(std::fs::read(fx.path()).unwrap(), before);
    }

    /// A kill while the file was being created leaves part of a header:
    /// the next run starts it again.
    #[test]
    fn a_header_cut_short_starts_over() {
        let fx = Fixture::new();
        let whole = encode_header(&fx.dir);
        for cut in [5, MAGIC.len(), MAGIC.len() + 3, whole.len() - 1] {
            std::fs::write(fx.path(), &whole[..cut]).unwrap();
            assert_eq!(fx.listed(), (vec![], None), "cut at {cut}");
            let state = fx.open(1).unwrap();
            assert_eq!(state.damage(), None);
            state.record(&entry("a", 1)).unwrap();
            drop(state);
            assert_eq!(fx.listed(), (vec!["a".to_string()], None));
        }
    }

    #[test]
    fn a_second_holder_is_refused() {
        let fx = Fixture::new();
        let _held = fx.open(1).unwrap();
        let err = fx.open(2).err().unwrap().to_string();
        assert!(
            err.contains("in use by another haul") && err.contains("state"),
            "{err}"
        );
    }

    #[test]
    fn another_folder_is_refused() {
        let fx = Fixture::new();
        fx.with(&["a"]);
        let before = std::fs::read(fx.path()).unwrap();
        let other = fx.tmp.path().join("other");
        std::fs::create_dir(&other).unwrap();
        let err = State::open(&fx.path(), 2, &DirId::of(&other).unwrap())
            .err()
            .unwrap()
            .to_string();
        assert!(
            err.contains("serves the folder")
                && err.contains(&fx.dir.path.display().to_string())
                && err.contains("other")
                && err.contains("one --state file per --dir"),
            "{err}"
        );
        assert_eq!(std::fs::read(fx.path()).unwrap(), before);
    }

    #[test]
    fn dead_records_are_compacted_on_open() {
        let fx = Fixture::new();
        {
            let state = fx.open(1).unwrap();
            for round in 0..60 {
                for i in 0..200 {
                    state.record(&entry(&format!("f{i}"), round)).unwrap();
                }
            }
        }
        let before = std::fs::metadata(fx.path()).unwrap().len();
        assert!(before > COMPACT_FROM, "{before}");
        let state = fx.open(2).unwrap();
        let after = std::fs::metadata(fx.path()).unwrap().len();
        assert!(after * 10 < before, "{before} -> {after}");
        assert_eq!(state.get("f7").unwrap().unwrap().bytes, 59);
        state.record(&entry("new", 1)).unwrap();
        drop(state);
        let state = fx.open(3).unwrap();
        assert!(state.get("new").unwrap().is_some());
        assert!(!fx.tmp.path().join("state.compact").exists());
    }

    /// Version 1 (`len | crc32(payload) | payload`, no folder) is read,
    /// listed, and rewritten as version 2 serving the folder it is opened
    /// with.
    #[test]
    fn version_1_files_are_read_and_upgraded() {
        let fx = Fixture::new();
        let mut v1 = MAGIC_V1.to_vec();
        for e in [entry("a", 1), entry("b", 2)] {
            let mut payload = vec![ENTRY];
            let e = Entry {
                ino: None,
                ctime: None,
                ..e
            };
            encode_entry(&e, &mut payload);
            v1.extend_from_slice(&(payload.len() as u32).to_le_bytes());
            v1.extend_from_slice(&crc32fast::hash(&payload).to_le_bytes());
            v1.extend_from_slice(&payload);
        }
        std::fs::write(fx.path(), &v1).unwrap();
        assert_eq!(fx.listed(), (vec!["a".into(), "b".into()], None));
        let state = fx.open(2).unwrap();
        let a = state.get("a").unwrap().unwrap();
        assert_eq!((a.bytes, a.ino, a.ctime), (1, None, None));
        drop(state);
        assert!(std::fs::read(fx.path()).unwrap().starts_with(MAGIC));
        let other = fx.tmp.path().join("other");
        std::fs::create_dir(&other).unwrap();
        assert!(State::open(&fx.path(), 3, &DirId::of(&other).unwrap()).is_err());
    }

    #[test]
    fn other_files_are_refused() {
        let fx = Fixture::new();
        std::fs::write(fx.path(), "hello").unwrap();
        let err = fx.open(1).err().unwrap().to_string();
        assert!(err.contains("is not a haul --state file"), "{err}");
        assert_eq!(std::fs::read(fx.path()).unwrap(), b"hello");
    }

    /// Damage done to a log's bytes: `Flip(at, mask)`, `Garbage(at,
    /// bytes)`, `Cut(at)`, `Duplicate(from, len, to)` (a copy inserted);
    /// positions are fractions of the record area.
    #[derive(Debug, Clone)]
    enum Harm {
        Flip(f64, u8),
        Garbage(f64, Vec<u8>),
        Cut(f64),
        Duplicate(f64, usize, f64),
    }

    fn harm() -> impl Strategy<Value = Harm> {
        prop_oneof![
            (0.0..1.0, 1..=255u8).prop_map(|(at, m)| Harm::Flip(at, m)),
            (0.0..1.0, proptest::collection::vec(any::<u8>(), 1..80))
                .prop_map(|(at, g)| Harm::Garbage(at, g)),
            (0.0..1.0).prop_map(Harm::Cut),
            (0.0..1.0, 1..400usize, 0.0..1.0).prop_map(|(f, n, t)| Harm::Duplicate(f, n, t)),
        ]
    }

    /// Where each record is now, and whether its bytes were touched.
    struct Tracked {
        range: std::ops::Range<usize>,
        touched: bool,
    }

    fn apply(bytes: &mut Vec<u8>, body: usize, records: &mut [Tracked], harm: &Harm) {
        let span = bytes.len().saturating_sub(body).max(1);
        let at = |f: f64| (body + (f * span as f64) as usize).min(bytes.len());
        let mut touch = |from: usize, to: usize| {
            for r in records.iter_mut() {
                if r.range.start < to && from < r.range.end {
                    r.touched = true;
                }
            }
        };
        match harm {
            Harm::Flip(f, mask) => {
                let i = at(*f);
                if i < bytes.len() {
                    bytes[i] ^= mask;
                    touch(i, i + 1);
                }
            }
            Harm::Garbage(f, garbage) => {
                let i = at(*f);
                let end = (i + garbage.len()).min(bytes.len());
                bytes[i..end].copy_from_slice(&garbage[..end - i]);
                touch(i, end);
            }
            Harm::Cut(f) => {
                let i = at(*f);
                bytes.truncate(i);
                touch(i, usize::MAX);
            }
            Harm::Duplicate(f, n, t) => {
                let from = at(*f);
                let to = at(*t);
                let end = (from + n).min(bytes.len());
                let copy = bytes[from..end].to_vec();
                // Inserted at `to`: a record split there is touched; the
                // ones after it move.
                for r in records.iter_mut() {
                    if r.range.start < to && to < r.range.end {
                        r.touched = true;
                    }
                    if r.range.start >= to {
                        r.range.start += copy.len();
                        r.range.end += copy.len();
                    }
                }
                bytes.splice(to..to, copy);
            }
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

        /// Whatever is done to the records, every entry whose record bytes
        /// were not touched is recovered (by `--list` and by a run's
        /// open), nothing recovered differs from what was written, and the
        /// file opened for writing is clean afterwards.
        #[test]
        fn untouched_records_survive_any_damage(
            n in 1..40usize,
            harms in proptest::collection::vec(harm(), 1..4),
        ) {
            let fx = Fixture::new();
            let names: Vec<String> = (0..n).map(|i| format!("d/file-{i}")).collect();
            let refs: Vec<&str> = names.iter().map(String::as_str).collect();
            let ranges = fx.with(&refs);
            let body = ranges[0].start;
            let mut records: Vec<Tracked> = ranges
                .into_iter()
                .map(|range| Tracked { range, touched: false })
                .collect();
            let mut bytes = std::fs::read(fx.path()).unwrap();
            for h in &harms {
                apply(&mut bytes, body, &mut records, h);
            }
            std::fs::write(fx.path(), &bytes).unwrap();

            let (listed, _) = fx.listed();
            let state = fx.open(2).unwrap();
            for (i, (name, r)) in names.iter().zip(&records).enumerate() {
                let got = state.get(name).unwrap();
                if !r.touched {
                    prop_assert!(listed.contains(name), "{name} not listed");
                    prop_assert_eq!(got, Some(entry(name, i as u64)));
                } else if let Some(got) = got {
                    prop_assert_eq!(got, entry(name, i as u64));
                }
            }
            drop(state);
            let state = fx.open(3).unwrap();
            prop_assert_eq!(state.damage(), None);
        }
    }
}
