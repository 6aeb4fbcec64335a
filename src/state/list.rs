//! `--list`: the entries of a `--state` file as JSON Lines, read without a
//! lock, a repair or a write. Opening and resolving the file are
//! `mod.rs`'s (shared with a run's open); the bytes are read by `log.rs`
//! and an entry decoded by `record.rs`.

use std::hash::RandomState;
use std::io::Write;
use std::path::Path;

use anyhow::{Context, Result};
use rustix::fs::OFlags;

use super::log::{read_header, read_record, scan};
use super::record::decode_entry;
use super::{file_len, open_regular, resolve};

/// What [`list`] printed.
#[derive(Debug)]
pub(crate) struct Listed {
    pub(crate) entries: u64,
    /// What it skipped, if anything: one line for a warning.
    pub(crate) damage: Option<String>,
}

/// `--list`: every valid entry of the state file at `path`, as JSON Lines,
/// in the order they were saved. Read-only: it takes no lock, repairs
/// nothing and never writes; damaged records are skipped and counted.
pub(crate) fn list(path: &Path, out: &mut dyn Write) -> Result<Listed> {
    let file = open_regular(&resolve(path)?, OFlags::RDONLY, path)?;
    let len = file_len(&file, path)?;
    let hasher = RandomState::new();
    let header = read_header(&file, len, path)?;
    let log = scan(&file, len, &header, &hasher, path)?;
    let mut offsets: Vec<u64> = log.index.into_values().collect();
    offsets.sort_unstable();
    let mut entries = 0;
    for offset in offsets {
        let payload = read_record(&file, offset, header.version())
            .with_context(|| format!("cannot read the --state file {}", path.display()))?;
        if let Some(entry) = decode_entry(&payload) {
            let line = serde_json::to_string(&entry).context("cannot encode an entry")?;
            writeln!(out, "{line}").context("cannot write the list")?;
            entries += 1;
        }
    }
    Ok(Listed {
        entries,
        damage: log.damage.message(path),
    })
}
