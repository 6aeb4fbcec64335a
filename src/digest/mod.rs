//! Digests: the algorithms haul checks (sha256, sha512, sha384, sha1, md5;
//! crc32c only as a server sends it), the digest a download must match
//! and where it came from ([`Expected`], [`Source`]), hashing a body as it
//! streams ([`Hashing`]) or a file from the disk (a resumed `.part`'s first
//! bytes, a file written out of order, a file already at its destination)
//! on the blocking pool, and the check that fails a download whose bytes
//! do not match.
//!
//! - `manifest.rs`: `--checksums` manifests (GNU and BSD forms) and
//!   per-asset sidecars, parsed; fetching them is `fetch/`'s.
//! - `server.rs`: the digests an answer carries (`Repr-Digest`,
//!   `Content-Digest`, `x-goog-hash`).

mod manifest;
mod server;

use std::fmt;
use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::sync::Arc;

use anyhow::{Context, anyhow};
use sha2::Digest as _;

pub(crate) use self::manifest::{Manifest, sidecar_digest};
pub(crate) use self::server::server_check;
use crate::error::FailureKind;
use crate::outcome::Failure;
use crate::outdir::OutDir;

/// Bytes read per step when hashing a file.
const READ_STEP: usize = 256 * 1024;

/// A digest algorithm.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) enum Algorithm {
    Crc32c,
    Md5,
    Sha1,
    Sha256,
    Sha384,
    Sha512,
}

impl Algorithm {
    /// The algorithms a user may name (list fields, manifests), strongest
    /// first.
    pub(crate) const NAMED: [Algorithm; 5] = [
        Algorithm::Sha512,
        Algorithm::Sha384,
        Algorithm::Sha256,
        Algorithm::Sha1,
        Algorithm::Md5,
    ];

    /// Its name as haul writes it: the list field's key, the report's tag.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Algorithm::Crc32c => "crc32c",
            Algorithm::Md5 => "md5",
            Algorithm::Sha1 => "sha1",
            Algorithm::Sha256 => "sha256",
            Algorithm::Sha384 => "sha384",
            Algorithm::Sha512 => "sha512",
        }
    }

    /// The algorithm a user names (`sha512`, `SHA512`, `SHA-512`), of
    /// those a user may name.
    pub(crate) fn named(tag: &str) -> Option<Algorithm> {
        let tag = tag.to_ascii_lowercase().replace('-', "");
        Algorithm::NAMED.into_iter().find(|alg| alg.name() == tag)
    }

    /// The algorithm whose digest has `digits` hexadecimal digits.
    pub(crate) fn of_hex_len(digits: usize) -> Option<Algorithm> {
        Algorithm::NAMED
            .into_iter()
            .find(|alg| alg.len() * 2 == digits)
    }

    /// Bytes in a digest.
    pub(crate) fn len(self) -> usize {
        match self {
            Algorithm::Crc32c => 4,
            Algorithm::Md5 => 16,
            Algorithm::Sha1 => 20,
            Algorithm::Sha256 => 32,
            Algorithm::Sha384 => 48,
            Algorithm::Sha512 => 64,
        }
    }

    /// Why a file already there is fetched again.
    pub(crate) fn mismatch(self) -> &'static str {
        match self {
            Algorithm::Crc32c => "crc32c mismatch",
            Algorithm::Md5 => "md5 mismatch",
            Algorithm::Sha1 => "sha1 mismatch",
            Algorithm::Sha256 => "sha256 mismatch",
            Algorithm::Sha384 => "sha384 mismatch",
            Algorithm::Sha512 => "sha512 mismatch",
        }
    }

    fn hasher(self) -> Hasher {
        match self {
            Algorithm::Crc32c => Hasher::Crc32c(0),
            Algorithm::Md5 => Hasher::Md5(md5::Md5::new()),
            Algorithm::Sha1 => Hasher::Sha1(sha1::Sha1::new()),
            Algorithm::Sha256 => Hasher::Sha256(sha2::Sha256::new()),
            Algorithm::Sha384 => Hasher::Sha384(sha2::Sha384::new()),
            Algorithm::Sha512 => Hasher::Sha512(sha2::Sha512::new()),
        }
    }
}

/// A digest's value, with its algorithm.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct Digest {
    alg: Algorithm,
    bytes: [u8; 64],
}

impl Digest {
    /// A digest of `alg` from its bytes; `None` when their number is not
    /// the algorithm's.
    pub(crate) fn new(alg: Algorithm, value: &[u8]) -> Option<Digest> {
        if value.len() != alg.len() {
            return None;
        }
        let mut bytes = [0; 64];
        bytes[..value.len()].copy_from_slice(value);
        Some(Digest { alg, bytes })
    }

    /// Parses a digest of `alg` written in hexadecimal (either case).
    pub(crate) fn parse_hex(alg: Algorithm, hex: &str) -> Result<Digest, String> {
        let mut bytes = [0; 64];
        let n = alg.len();
        hex::decode_to_slice(hex, &mut bytes[..n]).map_err(|_| {
            format!(
                "invalid {} '{hex}': expected {} hexadecimal digits",
                alg.name(),
                n * 2
            )
        })?;
        Ok(Digest { alg, bytes })
    }

    pub(crate) fn alg(&self) -> Algorithm {
        self.alg
    }

    pub(crate) fn bytes(&self) -> &[u8] {
        &self.bytes[..self.alg.len()]
    }

    /// The SHA-256 value, when this is one (what `--state` and the report's
    /// `sha256` keep).
    pub(crate) fn sha256(&self) -> Option<[u8; 32]> {
        (self.alg == Algorithm::Sha256).then(|| self.bytes[..32].try_into().expect("32 bytes"))
    }

    pub(crate) fn hex(&self) -> String {
        hex::encode(self.bytes())
    }
}

impl From<[u8; 32]> for Digest {
    /// A SHA-256 value.
    fn from(value: [u8; 32]) -> Digest {
        Digest::new(Algorithm::Sha256, &value).expect("32 bytes")
    }
}

/// `sha256:HEX`, as the report writes it.
impl fmt::Display for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.alg.name(), self.hex())
    }
}

impl fmt::Debug for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// Where an expected digest came from, as the report's `digest_source`
/// says it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Source {
    /// A `sha256=` (or other) field on the list line.
    List,
    /// A `--checksums` manifest: its path or (masked) URL.
    Checksums(Arc<str>),
    /// `--checksum-sidecar`: the (masked) URL it was fetched from.
    Sidecar(Arc<str>),
    /// A header of the answer (`Repr-Digest`, `Content-Digest`,
    /// `x-goog-hash`).
    Header(&'static str),
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Source::List => f.write_str("list"),
            Source::Checksums(from) => write!(f, "checksums:{from}"),
            Source::Sidecar(from) => write!(f, "sidecar:{from}"),
            Source::Header(name) => write!(f, "header:{name}"),
        }
    }
}

/// A digest a download must match, and where it came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Expected {
    pub(crate) digest: Digest,
    pub(crate) source: Source,
}

/// What a digest covers: the whole file, or (a server's `Content-Digest`
/// on a range answer) only the body of this answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Scope {
    Whole,
    Body,
}

/// One digest to check.
#[derive(Debug, Clone)]
pub(crate) struct Check {
    pub(crate) expected: Expected,
    pub(crate) scope: Scope,
}

/// What a download proved: the digest the report names (the user's when
/// there is one, else the server's) and the SHA-256 of the file when one
/// was taken (for the report's `sha256` and `--state`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Verified {
    /// Boxed: an outcome is moved around, and most have none.
    pub(crate) checked: Option<Box<Expected>>,
    pub(crate) sha256: Option<[u8; 32]>,
}

impl Verified {
    /// A file that matched `expected` (hashed from the disk).
    pub(crate) fn by(expected: &Expected) -> Verified {
        Verified {
            sha256: expected.digest.sha256(),
            checked: Some(Box::new(expected.clone())),
        }
    }
}

/// The digests of a download, taken as its bytes arrive: one hasher per
/// check (a user's digest, a server's).
pub(crate) struct Hashing {
    checks: Vec<(Check, Hasher)>,
}

impl Hashing {
    /// Hashers for `checks`; nothing to do when there are none.
    pub(crate) fn new(checks: Vec<Check>) -> Hashing {
        Hashing {
            checks: checks
                .into_iter()
                .map(|check| {
                    let hasher = check.expected.digest.alg.hasher();
                    (check, hasher)
                })
                .collect(),
        }
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.checks.is_empty()
    }

    /// Whether a digest covers the bytes a `.part` already holds.
    pub(crate) fn wants_prefix(&self) -> bool {
        self.checks.iter().any(|(c, _)| c.scope == Scope::Whole)
    }

    /// Bytes of this answer's body.
    pub(crate) fn update(&mut self, bytes: &[u8]) {
        for (_, hasher) in &mut self.checks {
            hasher.update(bytes);
        }
    }

    /// Bytes of the file that came before this answer's body (a `.part`
    /// continued): only whole-file digests take them.
    fn update_prefix(&mut self, bytes: &[u8]) {
        for (check, hasher) in &mut self.checks {
            if check.scope == Scope::Whole {
                hasher.update(bytes);
            }
        }
    }

    /// Every digest checked: a mismatch is a checksum failure naming the
    /// digest and where it came from.
    pub(crate) fn verify(self) -> Result<Verified, Failure> {
        let mut verified = Verified::default();
        for (check, hasher) in self.checks {
            let got = hasher.finish();
            let want = &check.expected;
            if got != want.digest {
                let error = anyhow!(
                    "{} mismatch: expected {} ({}), got {}",
                    got.alg.name(),
                    want.digest.hex(),
                    want.source,
                    got.hex()
                );
                return Err(Failure::new(FailureKind::Checksum, None, error));
            }
            if check.scope == Scope::Whole {
                verified.sha256 = verified.sha256.or(got.sha256());
            }
            verified
                .checked
                .get_or_insert_with(|| Box::new(want.clone()));
        }
        Ok(verified)
    }
}

/// One algorithm's running state.
enum Hasher {
    Crc32c(u32),
    Md5(md5::Md5),
    Sha1(sha1::Sha1),
    Sha256(sha2::Sha256),
    Sha384(sha2::Sha384),
    Sha512(sha2::Sha512),
}

impl Hasher {
    fn update(&mut self, bytes: &[u8]) {
        match self {
            Hasher::Crc32c(crc) => *crc = crc32c::crc32c_append(*crc, bytes),
            Hasher::Md5(h) => h.update(bytes),
            Hasher::Sha1(h) => h.update(bytes),
            Hasher::Sha256(h) => h.update(bytes),
            Hasher::Sha384(h) => h.update(bytes),
            Hasher::Sha512(h) => h.update(bytes),
        }
    }

    fn finish(self) -> Digest {
        let (alg, bytes): (Algorithm, Vec<u8>) = match self {
            Hasher::Crc32c(crc) => (Algorithm::Crc32c, crc.to_be_bytes().to_vec()),
            Hasher::Md5(h) => (Algorithm::Md5, h.finalize().to_vec()),
            Hasher::Sha1(h) => (Algorithm::Sha1, h.finalize().to_vec()),
            Hasher::Sha256(h) => (Algorithm::Sha256, h.finalize().to_vec()),
            Hasher::Sha384(h) => (Algorithm::Sha384, h.finalize().to_vec()),
            Hasher::Sha512(h) => (Algorithm::Sha512, h.finalize().to_vec()),
        };
        Digest::new(alg, &bytes).expect("a hasher's output is its algorithm's length")
    }
}

/// The digest of the regular file at `rel` in `alg`, hashed on the
/// blocking pool; `None` when no regular file is there (any more).
pub(crate) async fn digest_of_existing(
    out: &OutDir,
    rel: &Path,
    alg: Algorithm,
) -> anyhow::Result<Option<(Digest, u64)>> {
    let Some(file) = out.open_read(rel)? else {
        return Ok(None);
    };
    let len = file
        .metadata()
        .with_context(|| format!("cannot look at {}", out.display(rel).display()))?
        .len();
    let hasher = tokio::task::spawn_blocking(move || {
        let mut hasher = alg.hasher();
        read_prefix(&file, len, |bytes| hasher.update(bytes)).map(|()| hasher)
    })
    .await
    .context("hashing task failed")?
    .with_context(|| format!("cannot read {}", out.display(rel).display()))?;
    Ok(Some((hasher.finish(), len)))
}

/// Feeds the first `len` bytes of `file` (a `.part` continued) to the
/// whole-file digests of `hashing`, on the blocking pool (positioned reads:
/// an append-mode file is left as it was), and hands both back.
pub(crate) async fn hash_prefix(
    file: File,
    len: u64,
    mut hashing: Hashing,
) -> anyhow::Result<(File, Hashing)> {
    if !hashing.wants_prefix() {
        return Ok((file, hashing));
    }
    tokio::task::spawn_blocking(move || {
        read_prefix(&file, len, |bytes| hashing.update_prefix(bytes))?;
        Ok((file, hashing))
    })
    .await
    .context("hashing task failed")?
}

/// The digests of a whole file written out of order or found complete
/// (read back from the disk, once); the file is handed back.
pub(crate) async fn hash_from_disk(
    file: File,
    len: u64,
    mut hashing: Hashing,
) -> anyhow::Result<(File, Hashing)> {
    if hashing.is_empty() {
        return Ok((file, hashing));
    }
    tokio::task::spawn_blocking(move || {
        read_prefix(&file, len, |bytes| hashing.update(bytes))?;
        Ok((file, hashing))
    })
    .await
    .context("hashing task failed")?
}

/// Reads the first `len` bytes of `file`, a step at a time, into `feed`.
fn read_prefix(file: &File, len: u64, mut feed: impl FnMut(&[u8])) -> anyhow::Result<()> {
    let mut buf = vec![0; READ_STEP];
    let mut at = 0;
    while at < len {
        let want = buf.len().min((len - at) as usize);
        let n = file.read_at(&mut buf[..want], at).context("cannot read")?;
        if n == 0 {
            anyhow::bail!("the file is shorter than {len} bytes");
        }
        feed(&buf[..n]);
        at += n as u64;
    }
    Ok(())
}
