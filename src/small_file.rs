//! Small files named on the command line that haul reads whole (a
//! `.netrc`, a `--checksums` file): read with a size cap, so that
//! `/dev/zero` is an input error and not gigabytes of memory, and opened
//! without waiting on a FIFO that has no writer. Not `-i` lists, which are
//! streamed (`source/list.rs`), nor haul's own output files.

use std::path::Path;

use anyhow::{Context, Result, bail};

/// The most bytes haul reads of an auxiliary file (a `.netrc`, a
/// `--checksums` file): a longer one is an input error, not gigabytes of
/// memory (`--netrc-file /dev/zero`).
pub(crate) const CAP: u64 = 16 << 20;

/// Reads a small text file named on the command line (a `--checksums`
/// file, `-H @FILE`), with its metadata: at most [`CAP`] bytes of UTF-8,
/// read as [`read_bytes`] does.
pub(crate) fn read(path: &Path) -> Result<(String, std::fs::Metadata)> {
    let (bytes, meta) = read_bytes(path)?;
    let text = String::from_utf8(bytes)
        .map_err(|_| anyhow::anyhow!("cannot read {}: it is not UTF-8 text", path.display()))?;
    Ok((text, meta))
}

/// Reads a small file named on the command line (a `.netrc`, whose
/// passwords are bytes), with its metadata: at most [`CAP`] bytes. It is
/// opened `O_NONBLOCK`, so a FIFO whose writer is not there does not hold
/// the open (the signal handlers are not installed yet, but a hang is a
/// hang), and made blocking before the read, so that such a FIFO reads as
/// empty and one with a writer is read to its end.
pub(crate) fn read_bytes(path: &Path) -> Result<(Vec<u8>, std::fs::Metadata)> {
    use std::io::Read as _;
    use std::os::unix::fs::OpenOptionsExt as _;
    let shown = path.display();
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_CLOEXEC)
        .open(path)
        .with_context(|| format!("cannot open {shown}"))?;
    // fstat(2) of what was opened, not a stat of the name beforehand.
    let meta = file
        .metadata()
        .with_context(|| format!("cannot look at {shown}"))?;
    if meta.is_dir() {
        bail!("cannot read {shown}: it is a folder");
    }
    let flags = rustix::fs::fcntl_getfl(&file).with_context(|| format!("cannot read {shown}"))?;
    rustix::fs::fcntl_setfl(&file, flags - rustix::fs::OFlags::NONBLOCK)
        .with_context(|| format!("cannot read {shown}"))?;
    let mut bytes = Vec::new();
    (&file)
        .take(CAP + 1)
        .read_to_end(&mut bytes)
        .with_context(|| format!("cannot read {shown}"))?;
    if bytes.len() as u64 > CAP {
        bail!("cannot read {shown}: longer than 16 MiB, the most haul reads of such a file");
    }
    Ok((bytes, meta))
}
