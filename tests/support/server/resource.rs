//! A resource with validators for resume tests: [`Resource`] answers
//! `Range` / `If-Range` with 206, 416 or 200 and sends its payload in a
//! [`Shape`] (whole, cut after N bytes, stalled, dripped).

use std::time::Duration;

use bytes::Bytes;
use hyper::header::{CONTENT_LENGTH, HeaderMap, HeaderValue};
use hyper::{Response, StatusCode};

use super::bodies::{Body, Step, drip, with_length};

/// How a [`Resource`] sends the payload of its answer (the whole body for a
/// 200, the requested tail for a 206). The declared `Content-Length` is always
/// the whole payload's.
#[derive(Clone, Copy, Debug)]
pub enum Shape {
    /// All of it, at once.
    Whole,
    /// The first `n` bytes (fewer than the payload), a pause long enough for
    /// them to reach the client, then a cut: the client receives exactly `n`.
    CutAfter(usize),
    /// The first `n` bytes, then silence for the duration, then a cut.
    StallAfter(usize, Duration),
    /// `chunk` bytes at a time with `every` between them, to the end.
    Drip { chunk: usize, every: Duration },
}

/// A resource with optional validators, served with `Range` / `If-Range`
/// support as in RFC 9110 section 14 and 13.1.5: `bytes=N-` (or `N-M`) gets a
/// 206 with `Content-Range`, a start at or past the end gets 416 with
/// `Content-Range: bytes */LEN`, and an `If-Range` that does not match (a weak
/// or different ETag, a different date) gets the whole body with 200.
/// `honour_range` / `honour_if_range` switch that support off to play servers
/// that ignore a range (always 200) or ignore the validator (206 regardless).
#[derive(Clone, Debug)]
pub struct Resource {
    pub body: Bytes,
    /// The whole header value, quotes included: `"v1"` or `W/"v1"`.
    pub etag: Option<String>,
    pub last_modified: Option<String>,
    pub honour_range: bool,
    pub honour_if_range: bool,
}

impl Resource {
    /// `body` with no validators, honouring ranges and `If-Range`.
    pub fn new(body: impl Into<Bytes>) -> Self {
        Resource {
            body: body.into(),
            etag: None,
            last_modified: None,
            honour_range: true,
            honour_if_range: true,
        }
    }

    /// Sets the `ETag` header value (quotes included).
    pub fn etag(mut self, etag: &str) -> Self {
        self.etag = Some(etag.to_string());
        self
    }

    /// Sets the `Last-Modified` header value (an HTTP date).
    pub fn last_modified(mut self, date: &str) -> Self {
        self.last_modified = Some(date.to_string());
        self
    }

    /// Answers every request with 200 and the whole body, as a server without range support.
    pub fn ignore_range(mut self) -> Self {
        self.honour_range = false;
        self
    }

    /// Serves a requested range whatever `If-Range` says.
    pub fn ignore_if_range(mut self) -> Self {
        self.honour_if_range = false;
        self
    }

    /// Whether the request's `If-Range` (if any) still names this version.
    fn if_range_holds(&self, headers: &HeaderMap) -> bool {
        let Some(value) = headers.get("if-range").and_then(|v| v.to_str().ok()) else {
            return true;
        };
        if !self.honour_if_range {
            return true;
        }
        if value.starts_with("W/") {
            false
        } else if value.starts_with('"') {
            self.etag.as_deref().is_some_and(|e| e == value)
        } else {
            self.last_modified.as_deref() == Some(value)
        }
    }

    /// The `(first, last)` byte positions asked for, if a range applies.
    fn requested(&self, headers: &HeaderMap) -> Option<(usize, Option<usize>)> {
        if !self.honour_range || !self.if_range_holds(headers) {
            return None;
        }
        let spec = headers
            .get("range")?
            .to_str()
            .ok()?
            .strip_prefix("bytes=")?;
        let (first, last) = spec.split_once('-')?;
        let first = first.trim().parse().ok()?;
        let last = match last.trim() {
            "" => None,
            n => Some(n.parse().ok()?),
        };
        Some((first, last))
    }

    /// The answer to a request with `headers`, its payload sent as `shape` says.
    pub fn respond(&self, headers: &HeaderMap, shape: Shape) -> Response<Body> {
        let len = self.body.len();
        let (code, payload, content_range) = match self.requested(headers) {
            Some((first, _)) if first >= len => (
                StatusCode::RANGE_NOT_SATISFIABLE,
                Bytes::new(),
                Some(format!("bytes */{len}")),
            ),
            Some((first, last)) => {
                let last = last.unwrap_or(len - 1).min(len - 1);
                (
                    StatusCode::PARTIAL_CONTENT,
                    self.body.slice(first..=last),
                    Some(format!("bytes {first}-{last}/{len}")),
                )
            }
            None => (StatusCode::OK, self.body.clone(), None),
        };
        // A 416 has no payload to shape.
        let shape = if payload.is_empty() {
            Shape::Whole
        } else {
            shape
        };
        let mut res = shaped(payload, shape);
        *res.status_mut() = code;
        let h = res.headers_mut();
        if let Some(range) = content_range {
            h.insert("content-range", HeaderValue::from_str(&range).unwrap());
        }
        if self.honour_range {
            h.insert("accept-ranges", HeaderValue::from_static("bytes"));
        }
        if let Some(etag) = &self.etag {
            h.insert("etag", HeaderValue::from_str(etag).expect("etag"));
        }
        if let Some(date) = &self.last_modified {
            h.insert("last-modified", HeaderValue::from_str(date).expect("date"));
        }
        res
    }
}

/// A 200 declaring `payload.len()` whose body is sent as `shape` says.
fn shaped(payload: Bytes, shape: Shape) -> Response<Body> {
    // Frames of 64 KiB, so hyper hands big payloads to the socket piecemeal.
    let frames = |bytes: Bytes| -> Vec<Step> {
        (0..bytes.len())
            .step_by(64 * 1024)
            .map(|i| Step::Data(bytes.slice(i..(i + 64 * 1024).min(bytes.len()))))
            .collect()
    };
    let len = payload.len();
    match shape {
        Shape::Whole => {
            let mut res = Response::new(Body::full(payload));
            res.headers_mut()
                .insert(CONTENT_LENGTH, HeaderValue::from(len));
            res
        }
        Shape::CutAfter(n) => {
            assert!(
                n < len,
                "CutAfter({n}) must send fewer than the {len} bytes it declares"
            );
            let mut steps = frames(payload.slice(..n));
            // Unlike `truncated`, a long pause: every byte must reach the
            // client before the cut, because the cases assert on exactly `n`.
            steps.extend([Step::Sleep(Duration::from_millis(250)), Step::Cut]);
            with_length(Body::steps(steps), len)
        }
        Shape::StallAfter(n, dur) => {
            let mut steps = frames(payload.slice(..n.min(len)));
            steps.extend([Step::Sleep(dur), Step::Cut]);
            with_length(Body::steps(steps), len)
        }
        Shape::Drip { chunk, every } => drip(payload, chunk, every),
    }
}
