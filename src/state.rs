//! `--state FILE`: one file for the whole run that records every saved
//! file (URL, path, size, modification time, ETag, Last-Modified, SHA-256,
//! when and by which run), so that a nightly run can send conditional
//! requests, notice a file changed on disk since, and trust a file whose
//! size and mtime match an entry with the wanted digest.
//!
//! The file is an append-only log of checksummed records after a header:
//! an entry, or a tombstone that forgets a path. Crash safety follows from
//! the order of writes: an entry is appended after its file's rename, and a
//! tombstone before a recorded file is replaced, so every entry describes a
//! file that is on disk; a record cut short by a kill is dropped when the
//! file is opened (and the file truncated to its last whole record). Only
//! an index stays in memory (a 64-bit hash of the path and the record's
//! offset, about 16 bytes an entry); an entry is read back from the file
//! when it is needed. The log is compacted when it is opened, if most of it
//! is dead records. A second haul on the same file is refused: the file is
//! held with `flock`, which the kernel releases when a process dies.

use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::hash::{BuildHasher, BuildHasherDefault, RandomState};
use std::io::{BufReader, BufWriter, Read, Write};
use std::os::unix::fs::{FileExt, MetadataExt};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, SystemTime};

use anyhow::{Context, Result, bail};
use serde::Serialize;

use crate::seen::IdentityHasher;

const MAGIC: &[u8] = b"haul-state 1\n";
const ENTRY: u8 = 1;
const FORGET: u8 = 2;
/// A record longer than this is damage, not data.
const MAX_RECORD: u32 = 4 << 20;
/// Compact on open when the file is at least this large and over half of
/// it is dead records.
const COMPACT_FROM: u64 = 1 << 20;

/// What the state says of one saved file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub(crate) struct Entry {
    /// The URL, its password masked.
    pub(crate) url: String,
    /// The destination, relative to `--dir`.
    pub(crate) path: String,
    pub(crate) bytes: u64,
    /// The file's modification time when it was saved (seconds and
    /// nanoseconds since the Unix epoch).
    #[serde(skip)]
    pub(crate) mtime: Option<(i64, u32)>,
    pub(crate) etag: Option<String>,
    pub(crate) last_modified: Option<String>,
    #[serde(serialize_with = "hex_digest")]
    pub(crate) sha256: Option<[u8; 32]>,
    /// When it was saved, and by which run (that run's start), in seconds
    /// since the Unix epoch.
    pub(crate) saved_at: u64,
    pub(crate) run: u64,
}

fn hex_digest<S: serde::Serializer>(d: &Option<[u8; 32]>, s: S) -> Result<S::Ok, S::Error> {
    match d {
        Some(d) => s.serialize_str(&hex::encode(d)),
        None => s.serialize_none(),
    }
}

impl Entry {
    /// The modification time as a `SystemTime`.
    pub(crate) fn modified(&self) -> Option<SystemTime> {
        let (secs, nanos) = self.mtime?;
        let secs = u64::try_from(secs).ok()?;
        SystemTime::UNIX_EPOCH.checked_add(Duration::new(secs, nanos))
    }
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

/// An open state file, held for the run.
pub(crate) struct State {
    path: PathBuf,
    inner: Mutex<Inner>,
    hasher: RandomState,
    run: u64,
}

struct Inner {
    file: File,
    /// Path hash → offset of its latest entry.
    index: HashMap<u64, u64, BuildHasherDefault<IdentityHasher>>,
    /// Where the next record goes.
    end: u64,
}

impl State {
    /// Opens (or creates) the state file and holds it for this run; a
    /// second haul on it is refused. `run` names this run in new entries.
    pub(crate) fn open(path: &Path, run: u64) -> Result<State> {
        let file = lock(path)?;
        let hasher = RandomState::new();
        let (mut index, end, live) = scan(&file, &hasher, path)?;
        let mut file = file;
        let mut end = end;
        if end >= COMPACT_FROM && live * 2 < end {
            (file, index, end) = compact(path, &file, &index, &hasher)?;
        }
        Ok(State {
            path: path.to_path_buf(),
            inner: Mutex::new(Inner { file, index, end }),
            hasher,
            run,
        })
    }

    pub(crate) fn run(&self) -> u64 {
        self.run
    }

    /// The entry for `rel`, if the state has one.
    pub(crate) fn get(&self, rel: &str) -> Result<Option<Entry>> {
        let key = self.hasher.hash_one(rel);
        let inner = self.lock();
        let Some(&offset) = inner.index.get(&key) else {
            return Ok(None);
        };
        let (kind, payload) = read_record(&inner.file, offset)
            .with_context(|| format!("cannot read the --state file {}", self.path.display()))?;
        let entry = (kind == ENTRY).then(|| decode_entry(&payload)).flatten();
        // A 64-bit hash collision is not this path's entry.
        Ok(entry.filter(|e| e.path == rel))
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

/// `--list`: every entry of the state file at `path`, as JSON Lines, in the
/// order they were saved. Read-only: it takes no lock and changes nothing.
pub(crate) fn list(path: &Path, out: &mut dyn Write) -> Result<u64> {
    let file = File::open(path)
        .with_context(|| format!("cannot read the --state file {}", path.display()))?;
    let hasher = RandomState::new();
    let (index, _, _) = scan(&file, &hasher, path)?;
    let mut offsets: Vec<u64> = index.into_values().collect();
    offsets.sort_unstable();
    let mut count = 0;
    for offset in offsets {
        let (_, payload) = read_record(&file, offset)?;
        if let Some(entry) = decode_entry(&payload) {
            let line = serde_json::to_string(&entry).context("cannot encode an entry")?;
            writeln!(out, "{line}").context("cannot write the list")?;
            count += 1;
        }
    }
    Ok(count)
}

/// Opens `path` (creating it with its header) and takes the lock; refuses
/// when another haul holds it. Retries if the file was replaced between
/// the open and the lock (a compaction by the holder).
fn lock(path: &Path) -> Result<File> {
    for _ in 0..3 {
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(path)
            .with_context(|| format!("cannot open the --state file {}", path.display()))?;
        match rustix::fs::flock(&file, rustix::fs::FlockOperation::NonBlockingLockExclusive) {
            Ok(()) => {}
            Err(rustix::io::Errno::WOULDBLOCK) => bail!(
                "the --state file {} is in use by another haul",
                path.display()
            ),
            Err(e) => {
                return Err(std::io::Error::from(e))
                    .with_context(|| format!("cannot lock the --state file {}", path.display()));
            }
        }
        let same = match (file.metadata(), std::fs::metadata(path)) {
            (Ok(a), Ok(b)) => (a.dev(), a.ino()) == (b.dev(), b.ino()),
            _ => false,
        };
        if same {
            return Ok(file);
        }
    }
    bail!("the --state file {} keeps being replaced", path.display())
}

type Index = HashMap<u64, u64, BuildHasherDefault<IdentityHasher>>;

/// Reads the log: the index of live entries, where the next record goes,
/// and the bytes of the live records. A new file gets its header; a record
/// cut short (a crash mid-write) ends the log there and is cut off.
fn scan(file: &File, hasher: &RandomState, path: &Path) -> Result<(Index, u64, u64)> {
    let len = file.metadata().map(|m| m.len()).unwrap_or(0);
    let mut index = Index::default();
    if len == 0 {
        file.write_all_at(MAGIC, 0)
            .with_context(|| format!("cannot write the --state file {}", path.display()))?;
        return Ok((index, MAGIC.len() as u64, 0));
    }
    let mut reader = BufReader::with_capacity(1 << 20, file);
    let mut magic = vec![0; MAGIC.len()];
    if reader.read_exact(&mut magic).is_err() || magic != MAGIC {
        bail!(
            "{} is not a haul --state file (or one of another version)",
            path.display()
        );
    }
    let mut offset = MAGIC.len() as u64;
    let mut sizes: HashMap<u64, u64, BuildHasherDefault<IdentityHasher>> = HashMap::default();
    let mut payload = Vec::new();
    loop {
        let mut head = [0u8; 8];
        if reader.read_exact(&mut head).is_err() {
            break;
        }
        let size = u32::from_le_bytes(head[..4].try_into().expect("4 bytes"));
        let crc = u32::from_le_bytes(head[4..].try_into().expect("4 bytes"));
        if size == 0 || size > MAX_RECORD {
            break;
        }
        payload.resize(size as usize, 0);
        if reader.read_exact(&mut payload).is_err() || crc32fast::hash(&payload) != crc {
            break;
        }
        let Some((kind, rel)) = record_path(&payload) else {
            break;
        };
        let key = hasher.hash_one(rel);
        let record_len = 8 + u64::from(size);
        match kind {
            ENTRY => {
                index.insert(key, offset);
                sizes.insert(key, record_len);
            }
            _ => {
                index.remove(&key);
                sizes.remove(&key);
            }
        }
        offset += record_len;
    }
    if offset < len {
        // What follows the last whole record is a write a crash cut short.
        file.set_len(offset)
            .with_context(|| format!("cannot repair the --state file {}", path.display()))?;
    }
    let live = sizes.values().sum::<u64>() + MAGIC.len() as u64;
    Ok((index, offset, live))
}

/// Writes the live entries to a new file beside `path` (locked before it
/// takes the name), then renames it over `path`.
fn compact(
    path: &Path,
    file: &File,
    index: &Index,
    hasher: &RandomState,
) -> Result<(File, Index, u64)> {
    let mut tmp_path = path.as_os_str().to_owned();
    tmp_path.push(".compact");
    let tmp_path = PathBuf::from(tmp_path);
    let tmp = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(true)
        .open(&tmp_path)
        .with_context(|| format!("cannot compact the --state file {}", path.display()))?;
    rustix::fs::flock(&tmp, rustix::fs::FlockOperation::NonBlockingLockExclusive)
        .map_err(std::io::Error::from)
        .with_context(|| format!("cannot lock {}", tmp_path.display()))?;
    let mut offsets: Vec<u64> = index.values().copied().collect();
    offsets.sort_unstable();
    let mut out = BufWriter::new(&tmp);
    out.write_all(MAGIC)?;
    let mut new_index = Index::default();
    let mut end = MAGIC.len() as u64;
    for offset in offsets {
        let (kind, payload) = read_record(file, offset)?;
        let Some((_, rel)) = record_path(&payload) else {
            continue;
        };
        debug_assert_eq!(kind, ENTRY);
        new_index.insert(hasher.hash_one(rel), end);
        let record = frame(&payload);
        out.write_all(&record)?;
        end += record.len() as u64;
    }
    out.flush()?;
    drop(out);
    tmp.sync_all()
        .with_context(|| format!("cannot compact the --state file {}", path.display()))?;
    std::fs::rename(&tmp_path, path)
        .with_context(|| format!("cannot compact the --state file {}", path.display()))?;
    Ok((tmp, new_index, end))
}

/// `len | crc32 | payload`.
fn frame(payload: &[u8]) -> Vec<u8> {
    let mut record = Vec::with_capacity(8 + payload.len());
    record.extend_from_slice(&(payload.len() as u32).to_le_bytes());
    record.extend_from_slice(&crc32fast::hash(payload).to_le_bytes());
    record.extend_from_slice(payload);
    record
}

fn read_record(file: &File, offset: u64) -> Result<(u8, Vec<u8>)> {
    let mut head = [0u8; 8];
    file.read_exact_at(&mut head, offset)?;
    let size = u32::from_le_bytes(head[..4].try_into().expect("4 bytes"));
    if size == 0 || size > MAX_RECORD {
        bail!("a damaged record at offset {offset}");
    }
    let mut payload = vec![0; size as usize];
    file.read_exact_at(&mut payload, offset + 8)?;
    Ok((payload[0], payload))
}

/// A record's kind and path.
fn record_path(payload: &[u8]) -> Option<(u8, &str)> {
    let (&kind, rest) = payload.split_first()?;
    if kind != ENTRY && kind != FORGET {
        return None;
    }
    let (path, _) = get_str(rest)?;
    Some((kind, path))
}

fn encode_entry(e: &Entry, out: &mut Vec<u8>) {
    put_str(out, &e.path);
    put_str(out, &e.url);
    out.extend_from_slice(&e.bytes.to_le_bytes());
    let flags = u8::from(e.mtime.is_some())
        | u8::from(e.etag.is_some()) << 1
        | u8::from(e.last_modified.is_some()) << 2
        | u8::from(e.sha256.is_some()) << 3;
    out.push(flags);
    if let Some((secs, nanos)) = e.mtime {
        out.extend_from_slice(&secs.to_le_bytes());
        out.extend_from_slice(&nanos.to_le_bytes());
    }
    if let Some(etag) = &e.etag {
        put_str(out, etag);
    }
    if let Some(date) = &e.last_modified {
        put_str(out, date);
    }
    if let Some(digest) = &e.sha256 {
        out.extend_from_slice(digest);
    }
    out.extend_from_slice(&e.saved_at.to_le_bytes());
    out.extend_from_slice(&e.run.to_le_bytes());
}

fn decode_entry(payload: &[u8]) -> Option<Entry> {
    let (&kind, rest) = payload.split_first()?;
    if kind != ENTRY {
        return None;
    }
    let (path, rest) = get_str(rest)?;
    let (url, rest) = get_str(rest)?;
    let (bytes, rest) = get_u64(rest)?;
    let (&flags, mut rest) = rest.split_first()?;
    let mut mtime = None;
    if flags & 1 != 0 {
        let (secs, r) = get_u64(rest)?;
        let nanos = u32::from_le_bytes(r.get(..4)?.try_into().ok()?);
        mtime = Some((secs as i64, nanos));
        rest = &r[4..];
    }
    let mut etag = None;
    if flags & 2 != 0 {
        let (s, r) = get_str(rest)?;
        etag = Some(s.to_string());
        rest = r;
    }
    let mut last_modified = None;
    if flags & 4 != 0 {
        let (s, r) = get_str(rest)?;
        last_modified = Some(s.to_string());
        rest = r;
    }
    let mut sha256 = None;
    if flags & 8 != 0 {
        sha256 = Some(rest.get(..32)?.try_into().ok()?);
        rest = &rest[32..];
    }
    let (saved_at, rest) = get_u64(rest)?;
    let (run, _) = get_u64(rest)?;
    Some(Entry {
        url: url.to_string(),
        path: path.to_string(),
        bytes,
        mtime,
        etag,
        last_modified,
        sha256,
        saved_at,
        run,
    })
}

fn put_str(out: &mut Vec<u8>, s: &str) {
    out.extend_from_slice(&(s.len() as u32).to_le_bytes());
    out.extend_from_slice(s.as_bytes());
}

fn get_str(b: &[u8]) -> Option<(&str, &[u8])> {
    let len = u32::from_le_bytes(b.get(..4)?.try_into().ok()?) as usize;
    let s = std::str::from_utf8(b.get(4..4 + len)?).ok()?;
    Some((s, &b[4 + len..]))
}

fn get_u64(b: &[u8]) -> Option<(u64, &[u8])> {
    Some((u64::from_le_bytes(b.get(..8)?.try_into().ok()?), &b[8..]))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(path: &str, bytes: u64) -> Entry {
        Entry {
            url: format!("https://h/{path}"),
            path: path.into(),
            bytes,
            mtime: Some((1_700_000_000, 5)),
            etag: Some("\"v1\"".into()),
            last_modified: None,
            sha256: Some([7; 32]),
            saved_at: 1_700_000_001,
            run: 42,
        }
    }

    #[test]
    fn entries_survive_reopening_and_forgetting() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state");
        {
            let state = State::open(&path, 1).unwrap();
            state.record(&entry("a", 1)).unwrap();
            state.record(&entry("b", 2)).unwrap();
            state.record(&entry("a", 3)).unwrap();
            state.forget("b").unwrap();
            assert_eq!(state.get("a").unwrap(), Some(entry("a", 3)));
        }
        let state = State::open(&path, 2).unwrap();
        assert_eq!(state.get("a").unwrap(), Some(entry("a", 3)));
        assert_eq!(state.get("b").unwrap(), None);
        assert!(state.has("a") && !state.has("b"));
        let mut out = Vec::new();
        assert_eq!(list(&path, &mut out).unwrap(), 1);
        let line = String::from_utf8(out).unwrap();
        assert!(
            line.contains("\"path\":\"a\"") && line.contains("\"bytes\":3"),
            "{line}"
        );
    }

    #[test]
    fn a_record_cut_short_is_dropped_and_cut_off() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state");
        {
            let state = State::open(&path, 1).unwrap();
            state.record(&entry("a", 1)).unwrap();
            state.record(&entry("b", 2)).unwrap();
        }
        let whole = std::fs::metadata(&path).unwrap().len();
        // A kill in the middle of the second record's write.
        let file = OpenOptions::new().write(true).open(&path).unwrap();
        file.set_len(whole - 5).unwrap();
        drop(file);
        let state = State::open(&path, 2).unwrap();
        assert!(state.get("a").unwrap().is_some());
        assert_eq!(state.get("b").unwrap(), None);
        state.record(&entry("c", 3)).unwrap();
        drop(state);
        let state = State::open(&path, 3).unwrap();
        assert!(state.get("c").unwrap().is_some(), "appended after the cut");
    }

    #[test]
    fn a_second_holder_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state");
        let _held = State::open(&path, 1).unwrap();
        let err = State::open(&path, 2).err().unwrap().to_string();
        assert!(
            err.contains("in use by another haul") && err.contains("state"),
            "{err}"
        );
    }

    #[test]
    fn dead_records_are_compacted_on_open() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state");
        {
            let state = State::open(&path, 1).unwrap();
            for round in 0..60 {
                for i in 0..200 {
                    state.record(&entry(&format!("f{i}"), round)).unwrap();
                }
            }
        }
        let before = std::fs::metadata(&path).unwrap().len();
        assert!(before > COMPACT_FROM, "{before}");
        let state = State::open(&path, 2).unwrap();
        let after = std::fs::metadata(&path).unwrap().len();
        assert!(after * 10 < before, "{before} -> {after}");
        assert_eq!(state.get("f7").unwrap().unwrap().bytes, 59);
        state.record(&entry("new", 1)).unwrap();
        drop(state);
        let state = State::open(&path, 3).unwrap();
        assert!(state.get("new").unwrap().is_some());
        assert!(!dir.path().join("state.compact").exists());
    }

    #[test]
    fn other_files_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("notes.txt");
        std::fs::write(&path, "hello").unwrap();
        let err = State::open(&path, 1).err().unwrap().to_string();
        assert!(err.contains("is not a haul --state file"), "{err}");
        assert_eq!(std::fs::read(&path).unwrap(), b"hello");
    }
}
