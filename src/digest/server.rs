//! The digest an answer carries, when it carries one haul can check:
//! `Repr-Digest` (RFC 9530: the whole file, whatever range the answer
//! holds), `Content-Digest` (this answer's body: the whole file in a `200`,
//! the range in a `206`) with `sha-256` or `sha-512`, and Google Cloud
//! Storage's `x-goog-hash` (`md5=`, `crc32c=`: the stored object, unless
//! it was decompressed on the way). One is chosen, in that order; an
//! unknown algorithm or a value that does not parse is ignored, as RFC 9530
//! asks.

use base64::Engine as _;
use reqwest::header::{CONTENT_ENCODING, HeaderMap, HeaderName};

use super::{Algorithm, Check, Digest, Expected, Scope, Source};

// Looked up in every answer: as `HeaderName`s, not parsed from a `&str` at
// each lookup.
static REPR_DIGEST: HeaderName = HeaderName::from_static("repr-digest");
static CONTENT_DIGEST: HeaderName = HeaderName::from_static("content-digest");
static GOOG_HASH: HeaderName = HeaderName::from_static("x-goog-hash");
static GOOG_STORED_CODING: HeaderName = HeaderName::from_static("x-goog-stored-content-encoding");

/// The digest `headers` (of a `200`, or of a `206` when `partial`) give
/// for checking, if any.
pub(crate) fn server_check(headers: &HeaderMap, partial: bool) -> Option<Check> {
    let check = |name: &'static str, digest: Digest, scope: Scope| Check {
        expected: Expected {
            digest,
            source: Source::Header(name),
        },
        scope,
    };
    if let Some(digest) = structured(headers, &REPR_DIGEST) {
        return Some(check("Repr-Digest", digest, Scope::Whole));
    }
    if let Some(digest) = structured(headers, &CONTENT_DIGEST) {
        let scope = if partial { Scope::Body } else { Scope::Whole };
        return Some(check("Content-Digest", digest, scope));
    }
    goog_hash(headers).map(|digest| check("x-goog-hash", digest, Scope::Whole))
}

/// A `Repr-Digest`/`Content-Digest` dictionary's `sha-256` (else
/// `sha-512`) value: `sha-256=:BASE64:`, members separated by commas, over
/// every line of the header.
fn structured(headers: &HeaderMap, name: &HeaderName) -> Option<Digest> {
    let mut found: Option<Digest> = None;
    for value in headers.get_all(name) {
        let Ok(value) = value.to_str() else { continue };
        for member in value.split(',') {
            let Some((key, rest)) = member.trim().split_once('=') else {
                continue;
            };
            let alg = match key.trim() {
                "sha-256" => Algorithm::Sha256,
                "sha-512" => Algorithm::Sha512,
                _ => continue,
            };
            // `:BASE64:`, perhaps with `;parameters` after it.
            let bytes = rest.split(';').next().unwrap_or_default().trim();
            let Some(b64) = bytes.strip_prefix(':').and_then(|b| b.strip_suffix(':')) else {
                continue;
            };
            let Some(digest) = decode(alg, b64) else {
                continue;
            };
            if found.is_none_or(|f| f.alg == Algorithm::Sha512 && alg == Algorithm::Sha256) {
                found = Some(digest);
            }
        }
    }
    found
}

/// `x-goog-hash: crc32c=BASE64, md5=BASE64` (also as two headers): md5
/// when there (composite objects have none), else crc32c; nothing when
/// the object is stored with a content coding this answer does not have
/// (decompressive transcoding: the hash is of the stored bytes, not of
/// these).
fn goog_hash(headers: &HeaderMap) -> Option<Digest> {
    let coding = |name: &HeaderName| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(|v| v.trim().to_ascii_lowercase())
            .filter(|v| v != "identity")
    };
    if coding(&GOOG_STORED_CODING) != coding(&CONTENT_ENCODING) {
        return None;
    }
    let mut crc = None;
    for value in headers.get_all(&GOOG_HASH) {
        let Ok(value) = value.to_str() else { continue };
        for member in value.split(',') {
            match member.trim().split_once('=') {
                Some(("md5", b64)) => {
                    if let Some(digest) = decode(Algorithm::Md5, b64) {
                        return Some(digest);
                    }
                }
                Some(("crc32c", b64)) => crc = crc.or_else(|| decode(Algorithm::Crc32c, b64)),
                _ => {}
            }
        }
    }
    crc
}

/// A base64 digest of `alg`; `None` when it is not one.
fn decode(alg: Algorithm, b64: &str) -> Option<Digest> {
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(b64.trim())
        .ok()?;
    Digest::new(alg, &bytes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::HeaderValue;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(*name, HeaderValue::from_str(value).unwrap());
        }
        map
    }

    fn b64(bytes: &[u8]) -> String {
        base64::engine::general_purpose::STANDARD.encode(bytes)
    }

    #[test]
    fn repr_digest_is_whole_and_prefers_sha256() {
        let (a, b) = (b64(&[1; 32]), b64(&[2; 64]));
        let h = headers(&[("repr-digest", &format!("sha-512=:{b}:, sha-256=:{a}:"))]);
        let check = server_check(&h, true).unwrap();
        assert_eq!(check.scope, Scope::Whole);
        assert_eq!(check.expected.digest, Digest::from([1; 32]));
        assert_eq!(check.expected.source.to_string(), "header:Repr-Digest");
        let h = headers(&[("repr-digest", &format!("unixsum=:AAA=:, sha-512=:{b}:"))]);
        let check = server_check(&h, false).unwrap();
        assert_eq!(check.expected.digest.alg(), Algorithm::Sha512);
    }

    #[test]
    fn content_digest_covers_the_body() {
        let a = b64(&[1; 32]);
        let h = headers(&[("content-digest", &format!("sha-256=:{a}:"))]);
        assert_eq!(server_check(&h, false).unwrap().scope, Scope::Whole);
        assert_eq!(server_check(&h, true).unwrap().scope, Scope::Body);
    }

    #[test]
    fn what_is_ignored() {
        for value in [
            "sha-256=:AAA=:",
            "sha-256=AAAA",
            "md5=:AAAAAAAAAAAAAAAAAAAAAA==:",
            "sha-256",
            "",
        ] {
            let h = headers(&[("repr-digest", value), ("content-digest", value)]);
            assert!(server_check(&h, false).is_none(), "{value}");
        }
    }

    #[test]
    fn goog_hash_md5_then_crc32c_unless_transcoded() {
        let md5 = b64(&[5; 16]);
        let crc = b64(&[0, 0, 1, 2]);
        let value = format!("crc32c={crc}, md5={md5}");
        let check = server_check(&headers(&[("x-goog-hash", &value)]), false).unwrap();
        assert_eq!(check.expected.digest.alg(), Algorithm::Md5);
        let two = headers(&[
            ("x-goog-hash", &format!("crc32c={crc}")),
            ("x-goog-hash", "md5=bad"),
        ]);
        let check = server_check(&two, true).unwrap();
        assert_eq!(check.expected.digest.alg(), Algorithm::Crc32c);
        assert_eq!(check.expected.digest.bytes(), [0, 0, 1, 2]);
        let transcoded = headers(&[
            ("x-goog-hash", &value),
            ("x-goog-stored-content-encoding", "gzip"),
        ]);
        assert!(server_check(&transcoded, false).is_none());
        let as_stored = headers(&[
            ("x-goog-hash", &value),
            ("x-goog-stored-content-encoding", "gzip"),
            ("content-encoding", "gzip"),
        ]);
        assert!(server_check(&as_stored, false).is_some());
    }
}
