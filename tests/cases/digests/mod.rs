//! Every common digest from wherever it is published (issue 18): list
//! fields of each algorithm, `--checksums` in GNU and BSD forms, several
//! at once and by URL, `--checksum-sidecar`, `--require-digest` and the
//! summary's count of files saved without one, and the digests servers
//! send (`Repr-Digest`, `Content-Digest`, `x-goog-hash`) over plain,
//! resumed and split downloads. The report says which digest was checked
//! and where it came from.
//!
//! Not here: `sha256=` and sha256sum files over resumes and 416s
//! (reliability/verify.rs), a file already there (safety/digest.rs).

mod server_sent;
mod sources;

use base64::Engine as _;
use sha2::Digest as _;

/// The digest of `bytes` in `alg` (`sha256`, `sha512`, `sha384`, `sha1`,
/// `md5`), as hexadecimal.
fn hex_of(alg: &str, bytes: &[u8]) -> String {
    match alg {
        "sha256" => hex::encode(sha2::Sha256::digest(bytes)),
        "sha512" => hex::encode(sha2::Sha512::digest(bytes)),
        "sha384" => hex::encode(sha2::Sha384::digest(bytes)),
        "sha1" => hex::encode(sha1::Sha1::digest(bytes)),
        "md5" => hex::encode(md5::Md5::digest(bytes)),
        _ => panic!("no such algorithm {alg}"),
    }
}

/// Base64 of `bytes`, as `Repr-Digest` and `x-goog-hash` carry digests.
fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// `Repr-Digest: sha-256=:...:` for `bytes`.
fn repr_sha256(bytes: &[u8]) -> String {
    format!("sha-256=:{}:", b64(&sha2::Sha256::digest(bytes)))
}

const ALGS: [&str; 5] = ["sha256", "sha512", "sha384", "sha1", "md5"];
