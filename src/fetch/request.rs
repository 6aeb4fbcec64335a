//! The request stage of an attempt: building the GET with the run's
//! settings (the headers `headers.rs` gives each hop, `--timeout`, `.netrc`
//! credentials for the URL's own origin), following redirects hop by hop
//! (`--max-redirects`), the `Range` + `If-Range` of a `.part` being continued and the
//! conditions of `--on-exists update`; sending it and waiting for the
//! answer's head (at most `--stall-timeout`, or until the run stops);
//! dropping a `.part` whose version the answer does not prove; and the
//! status check, before any file is touched. What it does not do: read a
//! body (`body.rs`) or decide whether to try again (`retry.rs`).

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::anyhow;
use percent_encoding::percent_decode_str;
use reqwest::header::{
    AUTHORIZATION, HeaderMap, HeaderValue, IF_MODIFIED_SINCE, IF_NONE_MATCH, IF_RANGE, LOCATION,
    RANGE,
};
use reqwest::{Response, StatusCode};
use url::Url;

use super::Task;
use super::body::{cancelled, stalled};
use super::coding;
use super::resume::{Resumable, content_range_start};
use crate::error::FailureKind;
use crate::headers::same_origin;
use crate::http::network_error;
use crate::naming::part_path;
use crate::netrc::Credentials;
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
        if r.proven_by(status, response.headers())
            && (status != StatusCode::PARTIAL_CONTENT
                || coding::range_intact(ctx, response.headers()))
        {
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
    let mut extra = HeaderMap::new();
    if let Some(r) = resumable {
        extra.insert(RANGE, value(&format!("bytes={}-", r.len))?);
        extra.insert(IF_RANGE, value(r.note.if_range())?);
    }
    if ctx.settings.on_exists == OnExists::Update {
        if let Some(modified) = job.modified {
            extra.insert(
                IF_MODIFIED_SINCE,
                value(&httpdate::fmt_http_date(modified))?,
            );
        }
        if let Some(etag) = &job.etag {
            extra.insert(IF_NONE_MATCH, value(etag)?);
        }
    }
    send_request(ctx, &job.url, extra).await
}

/// A header value haul builds from what it recorded (a validator from a
/// `.part`'s note or the `--state`, which may be damaged): one that cannot
/// be sent refuses the request rather than dropping a condition.
pub(super) fn value(text: &str) -> Result<HeaderValue, Failure> {
    HeaderValue::from_str(text).map_err(|_| {
        let error = anyhow!("a recorded validator is not a valid header value");
        Failure::new(FailureKind::Refused, None, error)
    })
}

/// Sends a GET for `url` with `extra` headers (a range, conditions) and
/// waits for the answer's head, at most `--stall-timeout` a hop, or until
/// the run stops. Redirects (301, 302, 303, 307, 308 with a `Location`)
/// are followed here, up to `--max-redirects`, so that every hop is sent
/// the headers meant for it ([`hop_request`]); `--timeout` covers the
/// whole chain and the body. The answer's `url()` is the last hop.
pub(super) async fn send_request(
    ctx: &Ctx,
    url: &Url,
    mut extra: HeaderMap,
) -> Result<Response, Failure> {
    if extra.contains_key(RANGE) {
        coding::for_range(ctx, &mut extra);
    }
    let deadline = ctx.http().timeout.map(|t| Instant::now() + t);
    let mut hop = url.clone();
    let mut redirects = 0;
    loop {
        let response = send_hop(ctx, hop_request(ctx, url, &hop, &extra, deadline), &hop).await?;
        let Some(next) = redirect_target(&response, &hop)? else {
            return Ok(response);
        };
        if redirects == ctx.http().max_redirects {
            let error = anyhow!(
                "more than {redirects} redirects (--max-redirects); the next was to {}",
                masked(&next)
            );
            let status = Some(response.status().as_u16());
            return Err(Failure::new(FailureKind::Redirects, status, error));
        }
        redirects += 1;
        tracing::debug!("{}: redirected to {}", masked(&hop), masked(&next));
        hop = next;
    }
}

/// The GET for one hop (`hop`) of a request for `url`: the headers
/// `headers.rs` gives that hop, `extra`, the time left of `--timeout`, and
/// `.netrc` credentials on the URL's own origin only (unless a header
/// already authorizes).
fn hop_request(
    ctx: &Ctx,
    url: &Url,
    hop: &Url,
    extra: &HeaderMap,
    deadline: Option<Instant>,
) -> reqwest::RequestBuilder {
    let mut headers = ctx.http().headers.for_hop(url, hop);
    for (name, value) in extra {
        headers.insert(name, value.clone());
    }
    if !headers.contains_key(AUTHORIZATION)
        && same_origin(url, hop)
        && let Some(credentials) = netrc_credentials(ctx, url)
    {
        // In the map, so it replaces the `Authorization` reqwest makes of
        // a URL's user with no password.
        headers.insert(AUTHORIZATION, basic_auth(&credentials));
    }
    let mut request = ctx.clients.get(hop).get(hop.clone()).headers(headers);
    if let Some(deadline) = deadline {
        // Past the deadline: the shortest wait, so reqwest says it timed out.
        let left = deadline.saturating_duration_since(Instant::now());
        request = request.timeout(left.max(Duration::from_millis(1)));
    }
    request
}

/// Sends one hop's request and waits for the answer's head.
async fn send_hop(
    ctx: &Ctx,
    request: reqwest::RequestBuilder,
    hop: &Url,
) -> Result<Response, Failure> {
    let fail = |kind, error: anyhow::Error| Failure::new(kind, None, error);
    let stall = ctx.http().stall_timeout;
    let send = tokio::time::timeout(stall, request.send());
    tokio::select! {
        sent = send => {
            let response = sent
                .map_err(|_| fail(FailureKind::Network, stalled(stall)))?
                .map_err(|e| fail(FailureKind::of_reqwest(&e), network_error(e, hop)));
            match &response {
                Ok(response) => ctx.clients.answered(hop, response.version()),
                Err(failure) if failure.kind == FailureKind::Network => ctx.clients.failed(hop),
                Err(_) => {}
            }
            response
        }
        () = ctx.cancel.cancelled() => Err(cancelled()),
    }
}

/// Where a redirect answer leads: `None` for any other answer, and for a
/// redirect without a usable `Location` (then the status fails the URL).
/// A redirect to anything but `http` or `https` is refused.
fn redirect_target(response: &Response, hop: &Url) -> Result<Option<Url>, Failure> {
    let status = response.status();
    let redirect = matches!(
        status,
        StatusCode::MOVED_PERMANENTLY
            | StatusCode::FOUND
            | StatusCode::SEE_OTHER
            | StatusCode::TEMPORARY_REDIRECT
            | StatusCode::PERMANENT_REDIRECT
    );
    if !redirect {
        return Ok(None);
    }
    let Some(next) = response
        .headers()
        .get(LOCATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|location| hop.join(location).ok())
    else {
        return Ok(None);
    };
    if !matches!(next.scheme(), "http" | "https") || next.host_str().is_none_or(str::is_empty) {
        let error = anyhow!(
            "redirected to {}, which is not an http(s) URL",
            masked(&next)
        );
        return Err(Failure::new(
            FailureKind::Refused,
            Some(status.as_u16()),
            error,
        ));
    }
    Ok(Some(next))
}

/// The `.netrc` credentials for `url`'s own host. A URL with a password
/// wins (none from `.netrc`); a URL user without one gets the password of
/// the entry for that host with that login, as with curl, and with no such
/// entry is sent with an empty password (reqwest makes that header of the
/// URL).
fn netrc_credentials(ctx: &Ctx, url: &Url) -> Option<Credentials> {
    let netrc = ctx.http().netrc.as_ref()?;
    if url.password().is_some() {
        return None;
    }
    let user: Vec<u8> = percent_decode_str(url.username()).collect();
    let user = (!user.is_empty()).then_some(&user[..]);
    netrc.lookup(url.host_str()?, user)
}

/// `Authorization: Basic` of `login:password`, built from their bytes (a
/// `.netrc` password need not be UTF-8, and is sent as it is, as curl
/// does); marked sensitive, so no debug output of the request shows it.
fn basic_auth(credentials: &Credentials) -> HeaderValue {
    use base64::Engine as _;
    let mut pair = Vec::with_capacity(credentials.login.len() + 1 + credentials.password.len());
    pair.extend_from_slice(&credentials.login);
    pair.push(b':');
    pair.extend_from_slice(&credentials.password);
    let encoded = base64::engine::general_purpose::STANDARD.encode(pair);
    let mut value =
        HeaderValue::try_from(format!("Basic {encoded}")).expect("base64 is a valid header value");
    value.set_sensitive(true);
    value
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
