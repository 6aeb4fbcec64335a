//! `--compressed`: what a content coding changes for a download. The
//! client asks for gzip, br and zstd and decodes them only with the flag
//! (`http.rs`); this file decides what haul makes of an answer that may
//! have been decoded, and keeps range requests to uncoded bytes.
//!
//! reqwest removes `Content-Encoding` and `Content-Length` from an answer
//! it decodes, so a decoded answer cannot be told from an uncoded one sent
//! without a length: under `--compressed` both count as decoded. A decoded
//! body is the resource, but not the bytes that the server's digests
//! (`Repr-Digest`, `Content-Digest`, `x-goog-hash`: RFC 9530 section 3)
//! and byte ranges (RFC 9110 section 14.1.2) of that answer describe: its
//! server digest is not checked (`digests.rs`), and its `.part` gets no
//! resume note, so it is never continued or split and starts over
//! instead. A range request asks for the identity coding, and an answer
//! that may have been decoded is not taken as the range asked for.
//!
//! Without the flag nothing is decoded: an answer the server compressed
//! unasked is saved as it came, and the resume note records its coding
//! (`resume.rs`), so a `.part` of encoded bytes is continued only with
//! encoded bytes.

use anyhow::anyhow;
use reqwest::header::{ACCEPT_ENCODING, CONTENT_ENCODING, CONTENT_LENGTH, HeaderMap, HeaderValue};

use crate::error::FailureKind;
use crate::outcome::Failure;
use crate::session::Ctx;

/// Under `--compressed`, a range request asks for the identity coding:
/// reqwest would send the flag's `Accept-Encoding` on it, and a range of
/// an encoded answer is a range of encoded bytes, not of the file.
pub(super) fn for_range(ctx: &Ctx, headers: &mut HeaderMap) {
    if ctx.http().compressed {
        headers.insert(ACCEPT_ENCODING, HeaderValue::from_static("identity"));
    }
}

/// Whether the body of this answer (a `200` to be written from zero) may
/// have been decoded on its way here: see the module comment. Under
/// `--compressed`, an answer in a coding reqwest does not decode (not
/// gzip, br or zstd: `deflate`, `compress`, several codings) fails the
/// URL; without the flag such a body is saved as it came.
pub(super) fn decoded(ctx: &Ctx, headers: &HeaderMap) -> Result<bool, Failure> {
    if !ctx.http().compressed {
        return Ok(false);
    }
    match coding(headers) {
        Some(coding) => {
            let error = anyhow!(
                "the answer is encoded with '{}', which haul cannot decode \
                 (--compressed asks for gzip, br or zstd)",
                crate::redact::sanitize(&coding)
            );
            Err(Failure::new(FailureKind::Refused, None, error))
        }
        None => Ok(!headers.contains_key(CONTENT_LENGTH)),
    }
}

/// Whether an answer to a range request (a `206`) is made of the bytes
/// asked for, as far as codings go: under `--compressed`, only an answer
/// with no coding and a length (one without a length may have been
/// decoded; one that kept a coding holds encoded bytes, which the file
/// being written does not). Without the flag, the coding is the resume
/// note's to judge (`resume.rs`).
pub(super) fn range_intact(ctx: &Ctx, headers: &HeaderMap) -> bool {
    !ctx.http().compressed || (coding(headers).is_none() && headers.contains_key(CONTENT_LENGTH))
}

/// The answer's `Content-Encoding`, unless none or `identity`.
fn coding(headers: &HeaderMap) -> Option<String> {
    let value = headers.get(CONTENT_ENCODING)?;
    let text = String::from_utf8_lossy(value.as_bytes());
    (!text.trim().eq_ignore_ascii_case("identity")).then(|| text.into_owned())
}
