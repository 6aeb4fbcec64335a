//! The digests a download is held to, where HTTP brings them: the
//! `--checksums` manifests given as URLs (fetched before any download),
//! a file's `--checksum-sidecar` (fetched before the file, for a file that
//! has no digest yet), and the checks for an answer: the user's digest and
//! the server's (`digest/server.rs`), with `--require-digest` refusing an
//! answer that neither covers before its body is read. Every request here
//! is sent as a download's is (`request.rs`): the same headers, scoped the
//! same way, the same `.netrc` and redirect rules.

use anyhow::{Context, anyhow};
use bytes::Bytes;
use reqwest::StatusCode;
use reqwest::header::HeaderMap;
use url::Url;

use super::Task;
use super::body::{self, BodyError, Sink, Taken};
use super::request::send_request;
use crate::digest::{Check, Manifest, Scope, server_check, sidecar_digest};
use crate::error::FailureKind;
use crate::naming::url_file_name;
use crate::outcome::Failure;
use crate::plan::Job;
use crate::redact::masked;
use crate::session::Ctx;
use crate::small_file::CAP;

/// Fetches each `--checksums` URL into `manifest`; any that cannot be
/// fetched or read is an input error naming it (exit 2).
pub(crate) async fn fetch_manifests(
    ctx: &Ctx,
    urls: &[Url],
    manifest: &mut Manifest,
) -> anyhow::Result<()> {
    for url in urls {
        let shown = masked(url);
        let fetched = get_small(ctx, url)
            .await
            .map_err(|failure| failure.error)
            .and_then(|body| body.ok_or_else(|| anyhow!("not there (HTTP 404 or 410)")));
        let bytes = fetched.with_context(|| format!("cannot fetch the --checksums URL {shown}"))?;
        let text = String::from_utf8(bytes)
            .map_err(|_| anyhow!("the --checksums URL {shown} is not UTF-8 text"))?;
        manifest.add(&text, &shown)?;
    }
    Ok(())
}

/// `--checksum-sidecar`: the digest of a file that has none yet, from its
/// URL with the suffix added to the path. A sidecar that is not there
/// (404, 410) gives none; one that cannot be fetched fails this attempt
/// (retried as a download is); one that cannot be read, or names another
/// file, fails the URL.
pub(super) async fn sidecar(ctx: &Ctx, task: &mut Task, suffix: &str) -> Result<(), Failure> {
    let job = &task.job;
    let mut url = job.url.clone();
    url.set_path(&format!("{}{suffix}", job.url.path()));
    let shown = masked(&url);
    let Some(bytes) = get_small(ctx, &url).await? else {
        tracing::debug!("{}: no sidecar at {shown}", masked(&job.url));
        return Ok(());
    };
    let refused = |error: String| {
        let error = anyhow!("sidecar {shown}: {error}");
        Failure::new(FailureKind::Refused, None, error)
    };
    let text = String::from_utf8(bytes).map_err(|_| refused("not UTF-8 text".into()))?;
    let planned = job.rel.file_name().and_then(|n| n.to_str());
    let of_url = url_file_name(&job.url).ok();
    let names: Vec<&str> = planned.into_iter().chain(of_url.as_deref()).collect();
    task.job.digest = Some(sidecar_digest(&text, &names, &shown).map_err(refused)?);
    Ok(())
}

/// The digests the download of this answer is checked against: the
/// file's (list, `--checksums`, sidecar) and the one the server sends
/// (of a `206`, `partial`), unless the body was `decoded` (`--compressed`):
/// the server's digest is then of the encoded bytes, not of the file. With
/// `--require-digest` and neither, the download fails before its body is
/// read.
pub(super) fn checks(
    ctx: &Ctx,
    job: &Job,
    headers: Option<&HeaderMap>,
    partial: bool,
    decoded: bool,
) -> Result<Vec<Check>, Failure> {
    let mut checks = Vec::new();
    if let Some(expected) = &job.digest {
        checks.push(Check {
            expected: expected.clone(),
            scope: Scope::Whole,
        });
    }
    match headers.and_then(|h| server_check(h, partial)) {
        Some(check) if decoded => tracing::debug!(
            "{}: the server's digest ({}) is of the encoded answer, not of the \
             decoded bytes saved; not checked (--compressed)",
            masked(&job.url),
            check.expected.source
        ),
        Some(check) => checks.push(check),
        None => {}
    }
    if checks.is_empty() && ctx.settings.require_digest {
        let error = anyhow!(
            "no digest for this file (--require-digest): none on its list line, in \
             --checksums, from --checksum-sidecar or from the server"
        );
        return Err(Failure::new(FailureKind::Refused, None, error));
    }
    Ok(checks)
}

/// A small file's bytes over HTTP (at most the auxiliary-file cap);
/// `None` when the server says it is not there (404, 410).
async fn get_small(ctx: &Ctx, url: &Url) -> Result<Option<Vec<u8>>, Failure> {
    let mut response = send_request(ctx, url, HeaderMap::new()).await?;
    let status = response.status();
    let fail = |kind, error| Failure::new(kind, Some(status.as_u16()), error);
    if matches!(status, StatusCode::NOT_FOUND | StatusCode::GONE) {
        return Ok(None);
    }
    if !status.is_success() {
        let error = anyhow!("HTTP {status} from {}", masked(url));
        return Err(fail(FailureKind::Http(status.as_u16()), error));
    }
    let mut sink = Capped(Vec::new());
    match body::read(ctx, url, &mut response, None, &mut sink).await {
        Ok(_) => Ok(Some(sink.0)),
        Err(BodyError::Network(e)) => Err(fail(FailureKind::Network, e)),
        Err(BodyError::Write(e)) => Err(fail(FailureKind::Refused, e)),
        Err(BodyError::Cancelled) => Err(body::cancelled()),
    }
}

/// A body kept in memory, up to the auxiliary-file cap.
struct Capped(Vec<u8>);

impl Sink for Capped {
    fn put(&mut self, chunk: Bytes) -> Result<Taken, BodyError> {
        if (self.0.len() + chunk.len()) as u64 > CAP {
            let error = anyhow!("longer than {} MiB", CAP >> 20);
            return Err(BodyError::Write(error));
        }
        self.0.extend_from_slice(&chunk);
        Ok(Taken {
            bytes: chunk.len(),
            more: true,
        })
    }
}
