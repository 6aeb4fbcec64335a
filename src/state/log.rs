//! The `--state` file as bytes: the header (format version, the folder the
//! state serves), records framed with a sync marker and a CRC over length
//! and payload, and the scan that finds every good record after damage
//! (and counts what it skipped). Compaction, which writes the live records
//! anew, is `compact.rs`'s.

use std::fs::File;
use std::hash::{BuildHasher, RandomState};
use std::io;
use std::os::unix::fs::FileExt;
use std::path::Path;

use anyhow::{Context, Result};

use super::record::record_path;
use super::{
    CHUNK, DirId, ENTRY, FORGET, HEAD, HEAD_V1, Index, MAGIC, MAGIC_V1, MAX_HEADER, MAX_RECORD,
    SYNC,
};

/// What the start of a state file says.
pub(super) enum Header {
    /// Nothing yet, or a header cut short when the file was created.
    Empty,
    V1,
    V2 {
        dir: DirId,
        /// Where the records start.
        body: u64,
    },
    /// A version-2 magic whose folder record does not check out: its
    /// records may still be read, from just after the magic.
    Damaged {
        body: u64,
    },
}

/// `MAGIC | len | crc32(len, folder) | folder`.
pub(super) fn encode_header(dir: &DirId) -> Vec<u8> {
    let payload = dir.encode();
    let size = (payload.len() as u32).to_le_bytes();
    let mut out = MAGIC.to_vec();
    out.extend_from_slice(&size);
    out.extend_from_slice(&checksum(&size, &payload).to_le_bytes());
    out.extend_from_slice(&payload);
    out
}

pub(super) fn header_len(dir: &DirId) -> u64 {
    encode_header(dir).len() as u64
}

pub(super) fn read_header(file: &File, len: u64, shown: &Path) -> Result<Header> {
    let not_ours = || {
        anyhow::anyhow!(
            "{} is not a haul --state file (or one of another version)",
            shown.display()
        )
    };
    let read = |at: u64, n: usize| -> Result<Vec<u8>> {
        let mut buf = vec![0; n];
        file.read_exact_at(&mut buf, at)
            .with_context(|| format!("cannot read the --state file {}", shown.display()))?;
        Ok(buf)
    };
    let magic_len = MAGIC.len() as u64;
    if len < magic_len {
        // A header cut short as the file was created.
        let start = read(0, len as usize)?;
        return match MAGIC.starts_with(&start) {
            true => Ok(Header::Empty),
            false => Err(not_ours()),
        };
    }
    let magic = read(0, MAGIC.len())?;
    if magic == MAGIC_V1 {
        return Ok(Header::V1);
    }
    if magic != MAGIC {
        return Err(not_ours());
    }
    // A file that ends inside its folder record, with no record after it,
    // is a header cut short as the file was created.
    let cut_short = || -> Result<Header> {
        let rest = read(magic_len, (len - magic_len) as usize)?;
        let records = rest.windows(SYNC.len()).any(|w| w == SYNC);
        Ok(if records {
            Header::Damaged { body: magic_len }
        } else {
            Header::Empty
        })
    };
    if len < magic_len + HEAD_V1 {
        return cut_short();
    }
    let head = read(magic_len, HEAD_V1 as usize)?;
    let size = u32::from_le_bytes(head[..4].try_into().expect("4 bytes"));
    let crc = u32::from_le_bytes(head[4..].try_into().expect("4 bytes"));
    let damaged = Header::Damaged { body: magic_len };
    if size > MAX_HEADER {
        return Ok(damaged);
    }
    let body = magic_len + HEAD_V1 + u64::from(size);
    if len < body {
        return cut_short();
    }
    let payload = read(magic_len + HEAD_V1, size as usize)?;
    if checksum(&head[..4], &payload) != crc {
        return Ok(damaged);
    }
    match DirId::decode(&payload) {
        Some(dir) => Ok(Header::V2 { dir, body }),
        None => Ok(damaged),
    }
}

/// What was skipped while reading a log.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(super) struct Damage {
    /// The folder record (version 2) did not check out.
    pub(super) header: bool,
    /// Damaged records skipped, and their bytes.
    pub(super) records: u64,
    pub(super) bytes: u64,
    /// Some of it lies before the last good record, where cutting the file
    /// would lose valid records.
    pub(super) before_end: bool,
    /// The bytes of an unfinished last record (a write cut short).
    pub(super) torn: u64,
}

/// A read log: the live entries, where the good records end, and what was
/// skipped.
pub(super) struct Log {
    /// Path hash → offset of its latest entry.
    pub(super) index: Index,
    /// The end of the last good record (or of the header).
    pub(super) end: u64,
    /// Bytes of the live records and the header.
    pub(super) live: u64,
    pub(super) damage: Damage,
}

/// Reads the records of a log of `len` bytes: every record that checks
/// out counts, whatever damage lies around it.
pub(super) fn scan(
    file: &File,
    len: u64,
    header: &Header,
    hasher: &RandomState,
    shown: &Path,
) -> Result<Log> {
    let body = header.body();
    let mut log = Log::empty(body);
    if matches!(header, Header::Empty) {
        return Ok(log);
    }
    log.damage.header = matches!(header, Header::Damaged { .. });
    let version = header.version();
    let mut sizes: Index = Index::default();
    let mut window = Window::new(file, len);
    let read = |e: io::Error| {
        anyhow::Error::from(e).context(format!("cannot read the --state file {}", shown.display()))
    };
    // After a damaged header, the first record is wherever the first
    // marker is.
    let mut pos = match header {
        Header::Damaged { .. } => window.next_sync(body).map_err(read)?.unwrap_or(len),
        _ => body,
    };
    // The start of the damage being skipped, whether its first record
    // runs past the end of the file, and how many markers it holds.
    let mut bad: Option<(u64, bool)> = None;
    let mut markers = 0u64;
    while pos < len {
        match window.record(pos, version).map_err(read)? {
            Probe::Good { head, size } => {
                if let Some((start, _)) = bad.take() {
                    log.damage.records += markers.max(1);
                    log.damage.bytes += pos - start;
                    log.damage.before_end = true;
                    markers = 0;
                }
                let payload = window
                    .get(pos + head, size as usize)
                    .map_err(read)?
                    .expect("checked by record()");
                let (kind, rel) = record_path(payload).expect("checked by record()");
                let key = hasher.hash_one(rel);
                let record_len = head + size;
                if kind == ENTRY {
                    log.index.insert(key, pos);
                    sizes.insert(key, record_len);
                } else {
                    log.index.remove(&key);
                    sizes.remove(&key);
                }
                pos += record_len;
                log.end = pos;
            }
            Probe::Bad { framed, short } => {
                if bad.is_none() {
                    bad = Some((pos, short));
                }
                markers += u64::from(framed);
                pos = match version {
                    1 => pos + 1,
                    _ => window.next_sync(pos + 1).map_err(read)?.unwrap_or(len),
                };
            }
        }
    }
    if let Some((start, short)) = bad {
        if short {
            // One record that runs past the end: a write cut short.
            log.damage.torn = len - start;
        } else {
            log.damage.records += markers.max(1);
            log.damage.bytes += len - start;
        }
    }
    log.live = sizes.values().sum::<u64>() + body;
    Ok(log)
}

/// What is at an offset of the log.
pub(super) enum Probe {
    /// A record that checks out: its framing and payload lengths.
    Good { head: u64, size: u64 },
    /// Not a record. `framed`: it starts with a marker; `short`: it would
    /// end past the end of the file (a write cut short, if it is the last).
    Bad { framed: bool, short: bool },
}

/// Reads a file through a buffer that a scan can move back into: a record
/// found bad is scanned again from its second byte.
pub(super) struct Window<'f> {
    pub(super) file: &'f File,
    pub(super) len: u64,
    pub(super) start: u64,
    pub(super) buf: Vec<u8>,
}

/// `SYNC | len | crc32(len, payload) | payload`.
pub(super) fn frame(payload: &[u8]) -> Vec<u8> {
    let size = (payload.len() as u32).to_le_bytes();
    let mut record = Vec::with_capacity(HEAD as usize + payload.len());
    record.extend_from_slice(&SYNC);
    record.extend_from_slice(&size);
    record.extend_from_slice(&checksum(&size, payload).to_le_bytes());
    record.extend_from_slice(payload);
    record
}

/// The checksum of a record: its length field and its payload, so that a
/// damaged length is caught as surely as a damaged payload.
pub(super) fn checksum(size: &[u8], payload: &[u8]) -> u32 {
    let mut crc = crc32fast::Hasher::new();
    crc.update(size);
    crc.update(payload);
    crc.finalize()
}

/// The payload of the record at `offset`, checked again (the file may have
/// been damaged since it was scanned).
pub(super) fn read_record(file: &File, offset: u64, version: u8) -> Result<Vec<u8>> {
    let damaged = || anyhow::anyhow!("a damaged record at offset {offset}");
    let head_len = if version == 1 { HEAD_V1 } else { HEAD };
    let mut head = [0u8; HEAD as usize];
    let head = &mut head[..head_len as usize];
    file.read_exact_at(head, offset)?;
    let fields = match version {
        1 => &head[..],
        _ if head[..4] == SYNC => &head[4..],
        _ => return Err(damaged()),
    };
    let size = u32::from_le_bytes(fields[..4].try_into().expect("4 bytes"));
    let crc = u32::from_le_bytes(fields[4..8].try_into().expect("4 bytes"));
    if size == 0 || size > MAX_RECORD {
        return Err(damaged());
    }
    let mut payload = vec![0; size as usize];
    file.read_exact_at(&mut payload, offset + head_len)?;
    let sum = match version {
        1 => crc32fast::hash(&payload),
        _ => checksum(&fields[..4], &payload),
    };
    if sum != crc {
        return Err(damaged());
    }
    Ok(payload)
}

impl Header {
    pub(super) fn version(&self) -> u8 {
        match self {
            Header::V1 => 1,
            _ => 2,
        }
    }

    pub(super) fn body(&self) -> u64 {
        match self {
            Header::Empty => MAGIC.len() as u64,
            Header::V1 => MAGIC_V1.len() as u64,
            Header::V2 { body, .. } | Header::Damaged { body } => *body,
        }
    }
}

impl Damage {
    pub(super) fn message(&self, shown: &Path) -> Option<String> {
        let mut parts = Vec::new();
        if self.header {
            parts.push("a damaged header".to_string());
        }
        if self.records > 0 {
            let s = if self.records == 1 { "" } else { "s" };
            parts.push(format!(
                "{} damaged record{s} ({} bytes)",
                self.records, self.bytes
            ));
        }
        if self.torn > 0 {
            parts.push(format!("an unfinished last record ({} bytes)", self.torn));
        }
        if parts.is_empty() {
            return None;
        }
        Some(format!(
            "--state {}: skipped {}",
            shown.display(),
            parts.join(" and ")
        ))
    }
}

impl Log {
    pub(super) fn empty(end: u64) -> Log {
        Log {
            index: Index::default(),
            end,
            live: end,
            damage: Damage::default(),
        }
    }
}

impl<'f> Window<'f> {
    pub(super) fn new(file: &'f File, len: u64) -> Self {
        Window {
            file,
            len,
            start: 0,
            buf: Vec::new(),
        }
    }

    /// `n` bytes at `pos`, or `None` past the end of the file.
    pub(super) fn get(&mut self, pos: u64, n: usize) -> io::Result<Option<&[u8]>> {
        let Some(end) = pos.checked_add(n as u64).filter(|&end| end <= self.len) else {
            return Ok(None);
        };
        if pos < self.start || end > self.start + self.buf.len() as u64 {
            let want = (n.max(CHUNK) as u64).min(self.len - pos) as usize;
            self.buf.resize(want, 0);
            self.file.read_exact_at(&mut self.buf, pos)?;
            self.start = pos;
        }
        let at = (pos - self.start) as usize;
        Ok(Some(&self.buf[at..at + n]))
    }

    /// The next marker at or after `from`.
    pub(super) fn next_sync(&mut self, from: u64) -> io::Result<Option<u64>> {
        let mut pos = from;
        while pos + SYNC.len() as u64 <= self.len {
            let n = (self.len - pos).min(CHUNK as u64) as usize;
            let chunk = self.get(pos, n)?.expect("within the file");
            if let Some(i) = chunk.windows(SYNC.len()).position(|w| w == SYNC) {
                return Ok(Some(pos + i as u64));
            }
            // A marker may straddle two chunks.
            pos += (n - (SYNC.len() - 1)) as u64;
        }
        Ok(None)
    }

    pub(super) fn record(&mut self, pos: u64, version: u8) -> io::Result<Probe> {
        if version == 1 {
            return self.record_v1(pos);
        }
        let left = (self.len - pos).min(HEAD) as usize;
        let head = self.get(pos, left)?.expect("within the file");
        let framed = head.len() >= SYNC.len() && head[..SYNC.len()] == SYNC;
        if left < HEAD as usize {
            let cut = SYNC.starts_with(&head[..left.min(SYNC.len())]);
            return Ok(Probe::Bad { framed, short: cut });
        }
        let bad = Probe::Bad {
            framed,
            short: false,
        };
        if !framed {
            return Ok(bad);
        }
        let size = u32::from_le_bytes(head[4..8].try_into().expect("4 bytes"));
        let crc = u32::from_le_bytes(head[8..12].try_into().expect("4 bytes"));
        if size == 0 || size > MAX_RECORD {
            return Ok(bad);
        }
        let Some(record) = self.get(pos, (HEAD + u64::from(size)) as usize)? else {
            return Ok(Probe::Bad {
                framed,
                short: true,
            });
        };
        let payload = &record[HEAD as usize..];
        if checksum(&record[4..8], payload) != crc || record_path(payload).is_none() {
            return Ok(bad);
        }
        Ok(Probe::Good {
            head: HEAD,
            size: u64::from(size),
        })
    }

    /// Version 1: `len | crc32(payload) | payload`, no marker; after
    /// damage every offset is a candidate, so the cheap checks (length,
    /// kind, the path's length) come before the checksum.
    pub(super) fn record_v1(&mut self, pos: u64) -> io::Result<Probe> {
        let bad = Probe::Bad {
            framed: false,
            short: false,
        };
        let Some(head) = self.get(pos, HEAD_V1 as usize + 5)? else {
            return Ok(Probe::Bad {
                framed: false,
                short: true,
            });
        };
        let size = u32::from_le_bytes(head[..4].try_into().expect("4 bytes"));
        let crc = u32::from_le_bytes(head[4..8].try_into().expect("4 bytes"));
        let path_len = u32::from_le_bytes(head[9..13].try_into().expect("4 bytes"));
        if !(5..=MAX_RECORD).contains(&size)
            || !matches!(head[8], ENTRY | FORGET)
            || path_len > size
        {
            return Ok(bad);
        }
        let Some(record) = self.get(pos, (HEAD_V1 + u64::from(size)) as usize)? else {
            return Ok(Probe::Bad {
                framed: false,
                short: true,
            });
        };
        let payload = &record[HEAD_V1 as usize..];
        if crc32fast::hash(payload) != crc || record_path(payload).is_none() {
            return Ok(bad);
        }
        Ok(Probe::Good {
            head: HEAD_V1,
            size: u64::from(size),
        })
    }
}
