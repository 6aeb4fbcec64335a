//! Scripted response bodies for the test server: a [`Body`] plays [`Step`]s
//! (data, sleeps and a connection cut), which is enough for truncation,
//! stalls and slow drips. The response helpers (`ok`, `status`,
//! `truncated`, `stall_after`, `drip`, `with_header`) cover the common cases.

use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use hyper::body::{Body as HttpBody, Frame, SizeHint};
use hyper::header::{CONTENT_LENGTH, HeaderValue};
use hyper::{Response, StatusCode};

use super::BoxError;

/// One step of a scripted response body.
#[derive(Clone, Debug)]
pub enum Step {
    /// Send these bytes as one frame.
    Data(Bytes),
    /// Send nothing for this long.
    Sleep(Duration),
    /// Abort the body with an error: hyper cuts the connection.
    Cut,
}

/// A scripted response body: see [`Step`].
pub struct Body {
    steps: VecDeque<Step>,
    sleep: Option<Pin<Box<tokio::time::Sleep>>>,
    exact_len: Option<u64>,
    /// Body bytes handed to hyper, added here (see [`counted`]).
    sent: Option<Arc<AtomicU64>>,
}

impl Body {
    /// A body that plays `steps` in order (length unknown to hyper).
    pub fn steps(steps: impl IntoIterator<Item = Step>) -> Self {
        Body {
            steps: steps.into_iter().collect(),
            sleep: None,
            exact_len: None,
            sent: None,
        }
    }

    /// A complete body; hyper sends `Content-Length` for it.
    pub fn full(bytes: impl Into<Bytes>) -> Self {
        let bytes = bytes.into();
        let len = bytes.len() as u64;
        let mut body = Body::steps(if bytes.is_empty() {
            vec![]
        } else {
            vec![Step::Data(bytes)]
        });
        body.exact_len = Some(len);
        body
    }

    pub fn empty() -> Self {
        Body::full(Bytes::new())
    }
}

impl HttpBody for Body {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let this = self.get_mut();
        loop {
            if let Some(sleep) = this.sleep.as_mut() {
                if sleep.as_mut().poll(cx).is_pending() {
                    return Poll::Pending;
                }
                this.sleep = None;
            }
            match this.steps.pop_front() {
                None => return Poll::Ready(None),
                Some(Step::Data(bytes)) => {
                    if let Some(sent) = &this.sent {
                        sent.fetch_add(bytes.len() as u64, Ordering::Relaxed);
                    }
                    return Poll::Ready(Some(Ok(Frame::data(bytes))));
                }
                Some(Step::Sleep(dur)) => this.sleep = Some(Box::pin(tokio::time::sleep(dur))),
                Some(Step::Cut) => {
                    return Poll::Ready(Some(Err("connection cut by the test server".into())));
                }
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.sleep.is_none() && self.steps.is_empty()
    }

    fn size_hint(&self) -> SizeHint {
        match self.exact_len {
            Some(len) => SizeHint::with_exact(len),
            None => SizeHint::default(),
        }
    }
}

/// `res`, its body's bytes added to `sent` as hyper takes them: what the
/// server sent, give or take a frame that a closing connection dropped.
pub fn counted(mut res: Response<Body>, sent: &Arc<AtomicU64>) -> Response<Body> {
    res.body_mut().sent = Some(sent.clone());
    res
}

/// 200 with `bytes` and a `Content-Length`.
pub fn ok(bytes: impl Into<Bytes>) -> Response<Body> {
    let bytes = bytes.into();
    let len = bytes.len();
    let mut res = Response::new(Body::full(bytes));
    res.headers_mut()
        .insert(CONTENT_LENGTH, HeaderValue::from(len));
    res
}

/// `code` with a short text body (an error page haul must never save).
pub fn status(code: StatusCode) -> Response<Body> {
    let mut res = ok(format!("error page: {code}\n"));
    *res.status_mut() = code;
    res
}

/// 200 declaring `Content-Length: declared_len` that sends `bytes` (fewer) and then cuts the connection.
pub fn truncated(bytes: impl Into<Bytes>, declared_len: usize) -> Response<Body> {
    let bytes = bytes.into();
    assert!(
        bytes.len() < declared_len,
        "truncated() must send fewer bytes than it declares"
    );
    // The pause lets hyper flush the bytes first: cutting at once would drop
    // them unsent with the headers, which tests a refused response, not a
    // truncated one.
    with_length(
        Body::steps([
            Step::Data(bytes),
            Step::Sleep(Duration::from_millis(50)),
            Step::Cut,
        ]),
        declared_len,
    )
}

/// 200 declaring `Content-Length: declared_len` that sends `bytes`, then goes silent for `dur`, then cuts.
pub fn stall_after(bytes: impl Into<Bytes>, declared_len: usize, dur: Duration) -> Response<Body> {
    with_length(
        Body::steps([Step::Data(bytes.into()), Step::Sleep(dur), Step::Cut]),
        declared_len,
    )
}

/// 200 with `bytes` and a `Content-Length`, sent `chunk` bytes at a time with `every` between chunks.
pub fn drip(bytes: impl Into<Bytes>, chunk: usize, every: Duration) -> Response<Body> {
    let bytes: Bytes = bytes.into();
    let len = bytes.len();
    let mut steps = Vec::new();
    for (i, start) in (0..len).step_by(chunk.max(1)).enumerate() {
        if i > 0 {
            steps.push(Step::Sleep(every));
        }
        steps.push(Step::Data(bytes.slice(start..(start + chunk).min(len))));
    }
    with_length(Body::steps(steps), len)
}

/// `res` with header `name: value` added (`Retry-After`, `ETag`, ...).
pub fn with_header(mut res: Response<Body>, name: &'static str, value: &str) -> Response<Body> {
    res.headers_mut()
        .insert(name, HeaderValue::from_str(value).expect("header value"));
    res
}

pub(super) fn with_length(body: Body, len: usize) -> Response<Body> {
    let mut res = Response::new(body);
    res.headers_mut()
        .insert(CONTENT_LENGTH, HeaderValue::from(len));
    res
}
