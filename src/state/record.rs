//! The payload of a `--state` record: an [`Entry`] (what the state says of
//! a saved file, also what `--list` prints) or a tombstone (a path
//! forgotten), as bytes and back. Framing and damage are `log.rs`'s.

use std::time::{Duration, SystemTime};

use serde::Serialize;

use super::{ENTRY, FORGET};

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
    /// The file's inode and status-change time after its rename: what a
    /// user cannot set by hand (`None` in entries from version-1 files).
    #[serde(skip)]
    pub(crate) ino: Option<u64>,
    #[serde(skip)]
    pub(crate) ctime: Option<(i64, u32)>,
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

/// A record's kind and path.
pub(super) fn record_path(payload: &[u8]) -> Option<(u8, &str)> {
    let (&kind, rest) = payload.split_first()?;
    if kind != ENTRY && kind != FORGET {
        return None;
    }
    let (path, _) = get_str(rest)?;
    Some((kind, path))
}

pub(super) fn encode_entry(e: &Entry, out: &mut Vec<u8>) {
    put_str(out, &e.path);
    put_str(out, &e.url);
    out.extend_from_slice(&e.bytes.to_le_bytes());
    let flags = u8::from(e.mtime.is_some())
        | u8::from(e.etag.is_some()) << 1
        | u8::from(e.last_modified.is_some()) << 2
        | u8::from(e.sha256.is_some()) << 3
        | u8::from(e.ino.is_some()) << 4
        | u8::from(e.ctime.is_some()) << 5;
    out.push(flags);
    if let Some(time) = e.mtime {
        put_time(out, time);
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
    if let Some(ino) = e.ino {
        out.extend_from_slice(&ino.to_le_bytes());
    }
    if let Some(time) = e.ctime {
        put_time(out, time);
    }
    out.extend_from_slice(&e.saved_at.to_le_bytes());
    out.extend_from_slice(&e.run.to_le_bytes());
}

/// An entry's payload. Version 1 wrote the same fields without the inode
/// and ctime (their flags never set), so one decoder reads both.
pub(super) fn decode_entry(payload: &[u8]) -> Option<Entry> {
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
        let (time, r) = get_time(rest)?;
        mtime = Some(time);
        rest = r;
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
    let mut ino = None;
    if flags & 16 != 0 {
        let (n, r) = get_u64(rest)?;
        ino = Some(n);
        rest = r;
    }
    let mut ctime = None;
    if flags & 32 != 0 {
        let (time, r) = get_time(rest)?;
        ctime = Some(time);
        rest = r;
    }
    let (saved_at, rest) = get_u64(rest)?;
    let (run, _) = get_u64(rest)?;
    Some(Entry {
        url: url.to_string(),
        path: path.to_string(),
        bytes,
        mtime,
        ino,
        ctime,
        etag,
        last_modified,
        sha256,
        saved_at,
        run,
    })
}

pub(super) fn put_time(out: &mut Vec<u8>, (secs, nanos): (i64, u32)) {
    out.extend_from_slice(&secs.to_le_bytes());
    out.extend_from_slice(&nanos.to_le_bytes());
}

pub(super) fn get_time(b: &[u8]) -> Option<((i64, u32), &[u8])> {
    let (secs, rest) = get_u64(b)?;
    let nanos = u32::from_le_bytes(rest.get(..4)?.try_into().ok()?);
    Some(((secs as i64, nanos), &rest[4..]))
}

pub(super) fn put_str(out: &mut Vec<u8>, s: &str) {
    put_bytes(out, s.as_bytes());
}

pub(super) fn put_bytes(out: &mut Vec<u8>, b: &[u8]) {
    out.extend_from_slice(&(b.len() as u32).to_le_bytes());
    out.extend_from_slice(b);
}

pub(super) fn get_str(b: &[u8]) -> Option<(&str, &[u8])> {
    let (s, rest) = get_bytes(b)?;
    Some((std::str::from_utf8(s).ok()?, rest))
}

pub(super) fn get_bytes(b: &[u8]) -> Option<(&[u8], &[u8])> {
    let len = u32::from_le_bytes(b.get(..4)?.try_into().ok()?) as usize;
    let s = b.get(4..4usize.checked_add(len)?)?;
    Some((s, &b[4 + len..]))
}

pub(super) fn get_u64(b: &[u8]) -> Option<(u64, &[u8])> {
    Some((u64::from_le_bytes(b.get(..8)?.try_into().ok()?), &b[8..]))
}
