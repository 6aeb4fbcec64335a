//! What is already at a destination, for a download under way: a file
//! whose digest is known is hashed before anything is requested, and under
//! `--content-disposition` or `--trust-server-names` the name the answer
//! gives (its `Content-Disposition` header, the last URL of its redirect
//! chain) is checked, claimed (first come, first served, before a byte is
//! written) and looked at by the existing-file rule ([`at_destination`]).

use std::path::PathBuf;

use anyhow::anyhow;
use reqwest::Response;
use reqwest::header::CONTENT_DISPOSITION;

use super::Task;
use crate::digest::{Verified, digest_of_existing};
use crate::error::FailureKind;
use crate::existing::{AtDestination, at_destination, kept};
use crate::naming::{safe_relative, suggested_name, url_file_name};
use crate::outcome::{Done, Failure};
use crate::plan::Job;
use crate::redact::Masked;
use crate::session::Ctx;

/// A file is at the destination and a digest says what it must hold: no
/// request when it does (the planner found the file; hashing is this
/// slot's work). `None` when the download must go ahead.
pub(super) async fn verify_existing(ctx: &Ctx, task: &mut Task) -> Option<Result<Done, Failure>> {
    let expected = task.job.digest.as_ref()?;
    let alg = expected.digest.alg();
    match digest_of_existing(&ctx.out, &task.job.rel, alg).await {
        Ok(Some((digest, size))) if digest == expected.digest => {
            kept(&ctx.out, &task.job.rel);
            Some(Ok(Done::Skipped {
                verified: Verified::by(expected),
                size: Some(size),
            }))
        }
        Ok(Some(_)) => {
            task.replaced = Some(alg.mismatch());
            None
        }
        Ok(None) => None,
        Err(err) => Some(Err(Failure::new(FailureKind::Refused, None, err))),
    }
}

/// Where a download named by its answer goes.
pub(super) enum Destination {
    Write(PathBuf),
    /// The file is there and `--on-exists` keeps it.
    Done(Done),
}

/// `--content-disposition`, `--trust-server-names`: the name is claimed
/// now, before any byte is written, first come first served; then what is
/// already at that name is dealt with by the existing-file rule
/// ([`at_destination`]).
pub(super) async fn destination(
    ctx: &Ctx,
    task: &mut Task,
    response: &Response,
) -> Result<Destination, Failure> {
    let refused = |error| Failure::new(FailureKind::Refused, None, error);
    let rel = answer_name(ctx, &task.job, response).map_err(refused)?;
    // Reported under the name the server gave, claimed or not.
    task.path = ctx.out.display(&rel);
    ctx.claims
        .claim(&rel, Masked(&task.job.url))
        .map_err(|collision| refused(anyhow!(collision.0)))?;
    task.claimed = Some(rel.clone());
    let existing = ctx.out.existing(&rel);
    let size = match &existing {
        Ok(crate::outdir::Existing::File { len, .. }) => Some(*len),
        _ => None,
    };
    let has_digest = task.job.digest.is_some();
    match at_destination(existing, ctx.settings.on_exists, has_digest, &task.path) {
        // The request went out without `If-Modified-Since` (the name was
        // not known): the answer is the file.
        AtDestination::Fetch | AtDestination::Update(_) => {}
        AtDestination::Skip => {
            kept(&ctx.out, &rel);
            return Ok(Destination::Done(Done::Skipped {
                verified: Verified::default(),
                size,
            }));
        }
        AtDestination::Verify => {
            let expected = task
                .job
                .digest
                .as_ref()
                .expect("a digest to verify against");
            let alg = expected.digest.alg();
            let found = digest_of_existing(&ctx.out, &rel, alg)
                .await
                .map_err(refused)?;
            if let Some((digest, size)) = found
                && digest == expected.digest
            {
                kept(&ctx.out, &rel);
                return Ok(Destination::Done(Done::Skipped {
                    verified: Verified::by(expected),
                    size: Some(size),
                }));
            }
            task.replaced = found.map(|_| alg.mismatch());
        }
        AtDestination::Refuse(error) => return Err(refused(anyhow!(error))),
    }
    Ok(Destination::Write(rel))
}

/// The name the answer gives the file, checked: under
/// `--content-disposition` the one its header suggests; else (or when it
/// suggests none, as wget does) under `--trust-server-names` the last URL
/// of the redirect chain's, when there was a redirect. Either replaces the
/// file name of the planned destination, its folders kept; with neither,
/// the planned destination stands.
fn answer_name(ctx: &Ctx, job: &Job, response: &Response) -> anyhow::Result<PathBuf> {
    let suggested = if ctx.settings.content_disposition {
        response
            .headers()
            .get(CONTENT_DISPOSITION)
            .and_then(|v| v.to_str().ok())
            .and_then(suggested_name)
    } else {
        None
    };
    // Not redirected (or back where it started): the final URL is the
    // planned one, and so is the name (`-o` may have chosen another).
    let redirected = || response.url() != &job.url;
    let name = match suggested {
        Some(suggested) => suggested?,
        None if ctx.settings.trust_server_names && redirected() => url_file_name(response.url())?,
        None => return Ok(job.rel.clone()),
    };
    Ok(safe_relative(
        &job.rel.with_file_name(name).to_string_lossy(),
    )?)
}
