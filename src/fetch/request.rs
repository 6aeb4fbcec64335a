//! The request stage of an attempt: building the GET with the run's
//! settings (`-H`, `--timeout`, `.netrc` credentials for the URL's own
//! origin), the `Range` + `If-Range` of a `.part` being continued and the
//! conditions of `--on-exists update`; sending it and waiting for the
//! answer's head (at most `--stall-timeout`, or until the run stops);
//! dropping a `.part` whose version the answer does not prove; and the
//! status check, before any file is touched. What it does not do: read a
//! body (`body.rs`) or decide whether to try again (`retry.rs`).

use std::path::Path;

use anyhow::anyhow;
use reqwest::header::{AUTHORIZATION, IF_MODIFIED_SINCE, IF_NONE_MATCH, IF_RANGE, RANGE};
use reqwest::{Response, StatusCode};

use super::Task;
use super::body::{cancelled, stalled};
use super::resume::{Resumable, content_range_start};
use crate::error::FailureKind;
use crate::http::network_error;
use crate::naming::part_path;
use crate::outcome::Failure;
use crate::plan::Job;
use crate::redact::masked;
use crate::retry::retry_after;
use crate::session::Ctx;
use crate::settings::OnExists;

/// Sends the request, continuing `resumable` when given; when the answer
/// does not prove the recorded version, the `.part` is dropped and the
/// request made again from zero (one more request of this attempt).
pub(super) async fn request(
    ctx: &Ctx,
    task: &mut Task,
    known: Option<&Path>,
    resumable: &mut Option<Resumable>,
) -> Result<Response, Failure> {
    loop {
        let response = send(ctx, &task.job, resumable.as_ref()).await?;
        let Some(r) = resumable.as_ref() else {
            return Ok(response);
        };
        let status = response.status();
        if r.proven_by(status, response.headers()) {
            return Ok(response);
        }
        let old = resumable.take().expect("checked above");
        let part = part_path(known.expect("resuming a known name"));
        if let Err(err) = ctx.out.remove_own(&old.file, &part) {
            tracing::warn!("{err:#}");
        }
        task.held = Some(0);
        if status != StatusCode::PARTIAL_CONTENT && status != StatusCode::RANGE_NOT_SATISFIABLE {
            // A whole answer (200): the server ignored the range or the
            // version changed. Its body is the file, from zero.
            return Ok(response);
        }
        tracing::debug!(
            "{}: the range answer ({status}) is not of the recorded version; starting over",
            masked(&task.job.url)
        );
        task.attempts += 1;
    }
}

/// Sends the request for `job`, continuing `resumable` when given.
async fn send(ctx: &Ctx, job: &Job, resumable: Option<&Resumable>) -> Result<Response, Failure> {
    let mut request = base_request(ctx, &job.url);
    if let Some(r) = resumable {
        request = request
            .header(RANGE, format!("bytes={}-", r.len))
            .header(IF_RANGE, r.note.if_range());
    }
    if ctx.settings.on_exists == OnExists::Update {
        if let Some(modified) = job.modified {
            request = request.header(IF_MODIFIED_SINCE, httpdate::fmt_http_date(modified));
        }
        if let Some(etag) = &job.etag {
            request = request.header(IF_NONE_MATCH, etag);
        }
    }
    send_request(ctx, &job.url, request).await
}

/// A GET for `url` with the run's settings: `-H`, `--timeout` and the
/// `.netrc` credentials.
pub(super) fn base_request(ctx: &Ctx, url: &url::Url) -> reqwest::RequestBuilder {
    let mut request = ctx.client.get(url.clone()).headers(ctx.headers.clone());
    if let Some(timeout) = ctx.http().timeout {
        request = request.timeout(timeout);
    }
    if let Some((login, password)) = netrc_credentials(ctx, url) {
        // On this request only: reqwest drops Authorization when a redirect
        // leads to another host, so a redirect target never sees it.
        request = request.basic_auth(login, Some(password));
    }
    request
}

/// Sends `request` and waits for the answer's head, at most
/// `--stall-timeout`, or until the run stops.
pub(super) async fn send_request(
    ctx: &Ctx,
    url: &url::Url,
    request: reqwest::RequestBuilder,
) -> Result<Response, Failure> {
    let fail = |kind, error: anyhow::Error| Failure::new(kind, None, error);
    let stall = ctx.http().stall_timeout;
    let send = tokio::time::timeout(stall, request.send());
    tokio::select! {
        sent = send => sent
            .map_err(|_| fail(FailureKind::Network, stalled(stall)))?
            .map_err(|e| fail(FailureKind::of_reqwest(&e), network_error(e, url))),
        () = ctx.cancel.cancelled() => Err(cancelled()),
    }
}

/// The `.netrc` credentials for `url`'s own host, unless the URL names a
/// user or `-H Authorization` is given: those win (a URL user without a
/// password is sent with an empty one, where curl would look the password
/// up in `.netrc`).
fn netrc_credentials(ctx: &Ctx, url: &url::Url) -> Option<(String, String)> {
    let netrc = ctx.http().netrc.as_ref()?;
    if !url.username().is_empty() || ctx.headers.contains_key(AUTHORIZATION) {
        return None;
    }
    let found = netrc.lookup(url.host_str()?)?;
    Some((found.login, found.password))
}

/// What the status says comes next.
pub(super) enum Checked {
    /// A body to write: the whole file, or the rest of a proven `.part`.
    Body { total: Option<u64> },
    /// `--on-exists update` and a `304`: the file stays.
    NotModified,
    /// A proven `416`: the `.part` already holds the whole file.
    Complete,
}

/// Checks the status before any file is touched: an error answer's body is
/// not the resource, so it is never written, not even into a `.part`.
pub(super) fn check_status(
    ctx: &Ctx,
    response: &Response,
    resumable: Option<&Resumable>,
) -> Result<Checked, Failure> {
    let status = response.status();
    let fail = |kind, error: anyhow::Error| Failure::new(kind, Some(status.as_u16()), error);
    if status == StatusCode::NOT_MODIFIED && ctx.settings.on_exists == OnExists::Update {
        return Ok(Checked::NotModified);
    }
    if status == StatusCode::RANGE_NOT_SATISFIABLE && resumable.is_some() {
        return Ok(Checked::Complete);
    }
    if !status.is_success() {
        let failure = fail(FailureKind::Http(status.as_u16()), anyhow!("HTTP {status}"));
        return Err(failure.with_retry_after(retry_after(response.headers())));
    }
    let total = match (resumable, status) {
        (Some(_), _) => content_range_start(response.headers()).and_then(|(_, total)| total),
        (None, StatusCode::PARTIAL_CONTENT) => {
            return Err(fail(
                FailureKind::Network,
                anyhow!("unexpected 206 Partial Content to a request without Range"),
            ));
        }
        (None, _) => response.content_length(),
    };
    Ok(Checked::Body { total })
}
