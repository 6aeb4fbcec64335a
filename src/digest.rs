//! SHA-256 digests: parsing the ones users give (`sha256=` on a list line,
//! `--checksums`, whose `sha256sum` file is read here), hashing what is on
//! disk (a resumed `.part`'s first bytes, a file already at its
//! destination) on the blocking pool, and the
//! check that fails a download whose bytes do not match. Hashing a body as
//! it streams is done where it streams (`fetch/`).

use std::collections::HashMap;
use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::Path;

use anyhow::{Context, anyhow};
use sha2::{Digest, Sha256};

use crate::error::FailureKind;
use crate::outcome::Failure;
use crate::outdir::OutDir;

/// Bytes read per step when hashing a file.
const READ_STEP: usize = 256 * 1024;

/// Parses a 64-digit hexadecimal SHA-256 digest (either case).
pub(crate) fn parse_sha256(hex: &str) -> Result<[u8; 32], String> {
    let mut digest = [0u8; 32];
    hex::decode_to_slice(hex, &mut digest)
        .map_err(|_| format!("invalid sha256 '{hex}': expected 64 hexadecimal digits"))?;
    Ok(digest)
}

/// Fails with a checksum mismatch when a digest was expected and differs.
pub(crate) fn check_digest(want: Option<[u8; 32]>, got: Option<[u8; 32]>) -> Result<(), Failure> {
    match (want, got) {
        (Some(want), Some(got)) if want != got => Err(Failure::new(
            FailureKind::Checksum,
            None,
            anyhow!(
                "sha256 mismatch: expected {}, got {}",
                hex::encode(want),
                hex::encode(got)
            ),
        )),
        _ => Ok(()),
    }
}

/// The digest of the regular file at `rel`, hashed on the blocking pool;
/// `None` when no regular file is there (any more).
pub(crate) async fn digest_of_existing(
    out: &OutDir,
    rel: &Path,
) -> anyhow::Result<Option<([u8; 32], u64)>> {
    let Some(file) = out.open_read(rel)? else {
        return Ok(None);
    };
    let len = file
        .metadata()
        .with_context(|| format!("cannot look at {}", out.display(rel).display()))?
        .len();
    let (_, hasher) = hash_prefix(file, len)
        .await
        .with_context(|| format!("cannot read {}", out.display(rel).display()))?;
    Ok(Some((hasher.finalize().into(), len)))
}

/// The SHA-256 of a whole file written out of order or found complete
/// (read back from the disk, once), when a digest is `wanted`; the file is
/// handed back either way.
pub(crate) async fn digest_from_disk(
    file: File,
    len: u64,
    wanted: bool,
) -> anyhow::Result<(File, Option<[u8; 32]>)> {
    if !wanted {
        return Ok((file, None));
    }
    let (file, hasher) = hash_prefix(file, len).await?;
    Ok((file, Some(hasher.finalize().into())))
}

/// Hashes the first `len` bytes of `file` on the blocking pool (positioned
/// reads: an append-mode file is left as it was) and hands it back.
pub(crate) async fn hash_prefix(file: File, len: u64) -> anyhow::Result<(File, Sha256)> {
    tokio::task::spawn_blocking(move || {
        let mut hasher = Sha256::new();
        let mut buf = vec![0; READ_STEP];
        let mut at = 0;
        while at < len {
            let want = buf.len().min((len - at) as usize);
            let n = file.read_at(&mut buf[..want], at).context("cannot read")?;
            if n == 0 {
                anyhow::bail!("the file is shorter than {len} bytes");
            }
            hasher.update(&buf[..n]);
            at += n as u64;
        }
        Ok((file, hasher))
    })
    .await
    .context("hashing task failed")?
}

/// Reads a `sha256sum`-style file: `HEX  NAME` or `HEX *NAME` lines.
pub(crate) fn read_checksums(path: &Path) -> anyhow::Result<HashMap<String, [u8; 32]>> {
    let (text, _) = crate::small_file::read(path).context("cannot use the --checksums file")?;
    let mut map = HashMap::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim_end_matches('\r');
        if line.trim().is_empty() || line.starts_with('#') {
            continue;
        }
        let parsed = line.split_once(' ').and_then(|(hex, name)| {
            let name = name.strip_prefix([' ', '*'])?;
            Some((parse_sha256(hex).ok()?, name))
        });
        let Some((digest, name)) = parsed else {
            anyhow::bail!(
                "{}:{}: expected 'SHA256HEX  NAME' (sha256sum format)",
                path.display(),
                i + 1
            );
        };
        // NAME is matched against the destination's file name.
        let name = name.rsplit('/').next().unwrap_or(name);
        map.insert(name.to_string(), digest);
    }
    Ok(map)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digests_parse_in_either_case_and_nothing_else() {
        let lower = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
        let digest = parse_sha256(lower).unwrap();
        assert_eq!(parse_sha256(&lower.to_uppercase()), Ok(digest));
        for bad in ["", "e3b0", &format!("{lower}00"), &lower.replace('e', "g")] {
            let err = parse_sha256(bad).unwrap_err();
            assert!(err.contains("expected 64 hexadecimal digits"), "{err}");
        }
    }

    #[tokio::test]
    async fn a_prefix_is_hashed_and_a_mismatch_is_a_checksum_failure() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        std::fs::write(&path, b"hello world").unwrap();
        let (_, hasher) = hash_prefix(File::open(&path).unwrap(), 5).await.unwrap();
        let got: [u8; 32] = hasher.finalize().into();
        assert_eq!(got, <[u8; 32]>::from(Sha256::digest(b"hello")));
        assert!(hash_prefix(File::open(&path).unwrap(), 99).await.is_err());
        assert!(check_digest(Some(got), Some(got)).is_ok());
        assert!(check_digest(None, Some(got)).is_ok());
        let failure = check_digest(Some([0; 32]), Some(got)).unwrap_err();
        assert_eq!(failure.kind, FailureKind::Checksum);
    }
}
