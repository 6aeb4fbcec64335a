//! An in-process HTTP/1.1 test server on `127.0.0.1:0`, modelled on xh's
//! `tests/server/mod.rs` (itself from reqwest's test support).
//!
//! `http(|req| async move { ... })` serves from its own thread with its own
//! current-thread tokio runtime, so plain `#[test]` functions that spawn the
//! binary can use it. Every connection is served concurrently. The server
//! records each request, counts hits, and keeps an in-flight gauge that covers
//! the handler *and* the streaming of its response body, so a test can prove a
//! `--jobs` bound. On drop it checks (unless the test is already panicking) that
//! it was hit (or, after [`Server::expect_no_hits`], that it was not) and that no
//! handler panicked.
//!
//! Bodies are scripted as [`Step`]s: data, sleeps and a connection cut, which is
//! enough for truncation, stalls and slow drips. The response helpers below
//! (`ok`, `status`, `truncated`, `stall_after`, `drip`) cover the common cases,
//! and [`files`] / [`files_delayed`] serve a fixed set of paths.
//!
//! For retries and resume: [`http_nth`] tells the handler how many times its
//! path was requested before ("fail twice, then succeed", "v1, then v2"),
//! [`Resource`] answers `Range` / `If-Range` with 206, 416 or 200 and sends its
//! payload in a [`Shape`] (whole, cut after N bytes, stalled, dripped), and
//! every [`Recorded`] request carries its arrival time for timing assertions.
//!
//! [`https`] serves the same over TLS with a fresh self-signed certificate
//! for `localhost` and `127.0.0.1`, offering HTTP/2 and HTTP/1.1 by ALPN;
//! [`Recorded::version`] says which one each request used. Nothing here is
//! haul-specific.

use std::collections::{HashMap, VecDeque};
use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::thread;
use std::time::{Duration, Instant};

use bytes::Bytes;
use hyper::body::{Body as HttpBody, Frame, Incoming, SizeHint};
use hyper::header::{CONTENT_LENGTH, HeaderMap, HeaderValue};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::sync::oneshot;

pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// One request as the server saw it.
#[derive(Clone, Debug)]
pub struct Recorded {
    pub method: Method,
    /// Path and query, as sent (`/a.txt?x=1`).
    pub uri: String,
    pub headers: HeaderMap,
    /// When the server received it (before the handler ran).
    pub at: Instant,
    pub version: hyper::Version,
}

impl Recorded {
    /// The value of header `name` as a string, if present and ASCII.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// The `N` of a `Range: bytes=N-` header (also for `bytes=N-M`), if any.
    pub fn range_start(&self) -> Option<u64> {
        let range = self.header("range")?;
        let spec = range.strip_prefix("bytes=")?;
        spec.split('-').next()?.trim().parse().ok()
    }
}

#[derive(Default)]
struct State {
    requests: Mutex<Vec<Recorded>>,
    in_flight: AtomicUsize,
    max_in_flight: AtomicUsize,
    panics: Mutex<Vec<String>>,
}

enum HitCheck {
    AtLeastOne,
    None,
    Any,
}

pub struct Server {
    addr: std::net::SocketAddr,
    scheme: &'static str,
    state: Arc<State>,
    shutdown: Option<oneshot::Sender<()>>,
    thread: Option<thread::JoinHandle<()>>,
    hit_check: HitCheck,
}

impl Server {
    /// `http://127.0.0.1:PORT{path}` (`https://` for [`https`]).
    pub fn url(&self, path: &str) -> String {
        format!("{}://{}{}", self.scheme, self.addr, path)
    }

    /// `127.0.0.1:PORT`.
    pub fn authority(&self) -> String {
        self.addr.to_string()
    }

    /// Requests received so far.
    pub fn hits(&self) -> usize {
        self.state.requests.lock().unwrap().len()
    }

    /// Requests received so far whose path and query is exactly `uri`.
    pub fn hits_for(&self, uri: &str) -> usize {
        self.requests().iter().filter(|r| r.uri == uri).count()
    }

    /// The most requests ever in flight at once (handler running or body streaming).
    pub fn max_in_flight(&self) -> usize {
        self.state.max_in_flight.load(Ordering::SeqCst)
    }

    pub fn requests(&self) -> Vec<Recorded> {
        self.state.requests.lock().unwrap().clone()
    }

    /// The requests whose path and query is exactly `uri`, in arrival order.
    pub fn requests_for(&self, uri: &str) -> Vec<Recorded> {
        self.requests()
            .into_iter()
            .filter(|r| r.uri == uri)
            .collect()
    }

    /// The request URIs (path and query), sorted, for set-like comparisons.
    pub fn uris_sorted(&self) -> Vec<String> {
        let mut uris: Vec<_> = self.requests().into_iter().map(|r| r.uri).collect();
        uris.sort();
        uris
    }

    /// On drop, assert the server was never hit (instead of at least once).
    pub fn expect_no_hits(mut self) -> Self {
        self.hit_check = HitCheck::None;
        self
    }

    /// On drop, do not check the number of hits at all (for behaviour the
    /// contract leaves open, such as whether a refused URL is fetched first).
    pub fn any_hits(mut self) -> Self {
        self.hit_check = HitCheck::Any;
        self
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(handle) = self.thread.take() {
            let _ = handle.join();
        }
        if thread::panicking() {
            return;
        }
        let panics = self.state.panics.lock().unwrap().clone();
        assert!(
            panics.is_empty(),
            "test server handler panicked: {panics:?}"
        );
        let hits = self.hits();
        match self.hit_check {
            HitCheck::AtLeastOne => assert!(hits > 0, "test server exited without being called"),
            HitCheck::None => assert_eq!(
                hits,
                0,
                "test server should not have been called, got {:?}",
                self.uris_sorted()
            ),
            HitCheck::Any => {}
        }
    }
}

type Handler =
    dyn Fn(Request<Incoming>) -> Pin<Box<dyn Future<Output = Response<Body>> + Send>> + Send + Sync;

/// Starts a server that answers every request with `handler`.
pub fn http<F, Fut>(handler: F) -> Server
where
    F: Fn(Request<Incoming>) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Response<Body>> + Send + 'static,
{
    // Only this wrapper is generic; `http_inner` is compiled once.
    http_inner(Arc::new(move |req| Box::pin(handler(req))), None)
}

/// Like [`http`], over TLS with a self-signed certificate (so clients must
/// be told not to verify it), offering HTTP/2 and HTTP/1.1.
pub fn https<F, Fut>(handler: F) -> Server
where
    F: Fn(Request<Incoming>) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Response<Body>> + Send + 'static,
{
    let cert =
        rcgen::generate_simple_self_signed(["localhost".to_string(), "127.0.0.1".to_string()])
            .expect("self-signed certificate");
    let key = rustls::pki_types::PrivateKeyDer::Pkcs8(cert.signing_key.serialize_der().into());
    let mut config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::aws_lc_rs::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .expect("TLS versions")
    .with_no_client_auth()
    .with_single_cert(vec![cert.cert.der().clone()], key)
    .expect("TLS server config");
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    http_inner(Arc::new(move |req| Box::pin(handler(req))), Some(acceptor))
}

fn http_inner(handler: Arc<Handler>, tls: Option<tokio_rustls::TlsAcceptor>) -> Server {
    let scheme = if tls.is_some() { "https" } else { "http" };
    let listener =
        std::net::TcpListener::bind(("127.0.0.1", 0)).expect("bind test server to 127.0.0.1:0");
    listener.set_nonblocking(true).expect("set_nonblocking");
    let addr = listener.local_addr().expect("local_addr");
    let state = Arc::new(State::default());
    let (shutdown_tx, shutdown_rx) = oneshot::channel::<()>();

    let thread_state = state.clone();
    let name = format!(
        "test({})-server",
        thread::current().name().unwrap_or("<unknown>")
    );
    let thread = thread::Builder::new()
        .name(name)
        .spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("test server runtime");
            rt.block_on(async move {
                let listener = tokio::net::TcpListener::from_std(listener).expect("from_std");
                tokio::select! {
                    _ = shutdown_rx => {}
                    _ = accept_loop(listener, handler, thread_state, tls) => {}
                }
            });
            // Dropping the runtime drops every connection task still running.
        })
        .expect("spawn test server thread");

    Server {
        addr,
        scheme,
        state,
        shutdown: Some(shutdown_tx),
        thread: Some(thread),
        hit_check: HitCheck::AtLeastOne,
    }
}

async fn accept_loop(
    listener: tokio::net::TcpListener,
    handler: Arc<Handler>,
    state: Arc<State>,
    tls: Option<tokio_rustls::TlsAcceptor>,
) {
    loop {
        let Ok((io, _)) = listener.accept().await else {
            continue;
        };
        let handler = handler.clone();
        let state = state.clone();
        let svc = service_fn(move |req: Request<Incoming>| {
            let handler = handler.clone();
            let state = state.clone();
            async move { Ok::<_, Infallible>(serve_one(req, handler, state).await) }
        });
        let tls = tls.clone();
        tokio::spawn(async move {
            // Errors here are usually the client going away, or a scripted cut.
            match tls {
                None => {
                    let _ = http1::Builder::new()
                        .serve_connection(TokioIo::new(io), svc)
                        .await;
                }
                Some(acceptor) => {
                    // A failed handshake (a client that refuses the
                    // certificate) just ends the connection.
                    let Ok(io) = acceptor.accept(io).await else {
                        return;
                    };
                    let _ = hyper_util::server::conn::auto::Builder::new(
                        hyper_util::rt::TokioExecutor::new(),
                    )
                    .serve_connection(TokioIo::new(io), svc)
                    .await;
                }
            }
        });
    }
}

async fn serve_one(
    req: Request<Incoming>,
    handler: Arc<Handler>,
    state: Arc<State>,
) -> Response<Tracked> {
    state.requests.lock().unwrap().push(Recorded {
        method: req.method().clone(),
        uri: req.uri().path_and_query().map_or_else(
            || req.uri().path().to_string(),
            |pq| pq.as_str().to_string(),
        ),
        headers: req.headers().clone(),
        at: Instant::now(),
        version: req.version(),
    });
    let guard = InFlight::enter(state.clone());
    // Run the handler as its own task so a panic is caught (as a JoinError)
    // and recorded instead of silently killing the connection.
    let res = match tokio::spawn(handler(req)).await {
        Ok(res) => res,
        Err(err) => {
            let msg = match err.try_into_panic() {
                Ok(payload) => payload
                    .downcast_ref::<&str>()
                    .map(|s| s.to_string())
                    .or_else(|| payload.downcast_ref::<String>().cloned())
                    .unwrap_or_else(|| "<non-string panic>".to_string()),
                Err(err) => err.to_string(),
            };
            state.panics.lock().unwrap().push(msg);
            status(StatusCode::INTERNAL_SERVER_ERROR)
        }
    };
    res.map(|body| Tracked {
        inner: body,
        _guard: guard,
    })
}

/// Counts one request in flight from creation until drop.
struct InFlight(Arc<State>);

impl InFlight {
    fn enter(state: Arc<State>) -> Self {
        let now = state.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
        state.max_in_flight.fetch_max(now, Ordering::SeqCst);
        InFlight(state)
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::SeqCst);
    }
}

/// A response body that keeps its request counted as in flight until hyper
/// has sent it completely or dropped it (client gone, scripted cut).
struct Tracked {
    inner: Body,
    _guard: InFlight,
}

impl HttpBody for Tracked {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        Pin::new(&mut self.inner).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

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
}

impl Body {
    /// A body that plays `steps` in order (length unknown to hyper).
    pub fn steps(steps: impl IntoIterator<Item = Step>) -> Self {
        Body {
            steps: steps.into_iter().collect(),
            sleep: None,
            exact_len: None,
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
                Some(Step::Data(bytes)) => return Poll::Ready(Some(Ok(Frame::data(bytes)))),
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

fn with_length(body: Body, len: usize) -> Response<Body> {
    let mut res = Response::new(body);
    res.headers_mut()
        .insert(CONTENT_LENGTH, HeaderValue::from(len));
    res
}

/// Serves each `(path, bytes)` with 200 and `Content-Length`, anything else with 404.
pub fn files<P: Into<String>>(files: impl IntoIterator<Item = (P, Vec<u8>)>) -> Server {
    files_delayed(files, Duration::ZERO)
}

/// Like [`files`], but every answer (200 or 404) waits `delay` first: requests
/// overlap long enough for the in-flight gauge to see the concurrency.
pub fn files_delayed<P: Into<String>>(
    files: impl IntoIterator<Item = (P, Vec<u8>)>,
    delay: Duration,
) -> Server {
    http(serve_files(files, delay))
}

/// Like [`files`], over TLS (see [`https`]).
pub fn https_files<P: Into<String>>(files: impl IntoIterator<Item = (P, Vec<u8>)>) -> Server {
    https(serve_files(files, Duration::ZERO))
}

/// The handler of [`files_delayed`] and [`https_files`].
fn serve_files<P: Into<String>>(
    files: impl IntoIterator<Item = (P, Vec<u8>)>,
    delay: Duration,
) -> impl Fn(Request<Incoming>) -> Pin<Box<dyn Future<Output = Response<Body>> + Send>>
+ Send
+ Sync
+ 'static {
    let files: Arc<HashMap<String, Bytes>> = Arc::new(
        files
            .into_iter()
            .map(|(p, b)| (p.into(), Bytes::from(b)))
            .collect(),
    );
    move |req| {
        let files = files.clone();
        Box::pin(async move {
            if !delay.is_zero() {
                tokio::time::sleep(delay).await;
            }
            match files.get(req.uri().path()) {
                Some(bytes) => ok(bytes.clone()),
                None => status(StatusCode::NOT_FOUND),
            }
        })
    }
}

/// Like [`http`], but the handler also gets `n`: how many earlier requests had
/// the same path (0 for the first), for "fail twice, then succeed" scripts.
pub fn http_nth<F, Fut>(handler: F) -> Server
where
    F: Fn(Request<Incoming>, usize) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Response<Body>> + Send + 'static,
{
    let counts = Arc::new(Mutex::new(HashMap::<String, usize>::new()));
    http(move |req| {
        let n = {
            let mut counts = counts.lock().unwrap();
            let seen = counts.entry(req.uri().path().to_string()).or_default();
            *seen += 1;
            *seen - 1
        };
        handler(req, n)
    })
}

/// `res` with header `name: value` added (`Retry-After`, `ETag`, ...).
pub fn with_header(mut res: Response<Body>, name: &'static str, value: &str) -> Response<Body> {
    res.headers_mut()
        .insert(name, HeaderValue::from_str(value).expect("header value"));
    res
}

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

/// Self-tests of the server: the checks that the cases rely on can fail.
mod self_tests {
    use std::io::{Read, Write};
    use std::net::TcpStream;
    use std::time::Duration;

    use super::{Resource, Shape, files_delayed, http, ok, truncated};

    /// A bare HTTP/1.1 GET; returns the raw response (or what arrived before the cut).
    fn get(url: &str) -> Vec<u8> {
        get_with(url, "")
    }

    /// A bare HTTP/1.1 GET with `extra` header lines (each ending in `\r\n`).
    fn get_with(url: &str, extra: &str) -> Vec<u8> {
        let rest = url.strip_prefix("http://").unwrap();
        let (authority, path) = rest.split_at(rest.find('/').unwrap());
        let mut stream = TcpStream::connect(authority).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        write!(
            stream,
            "GET {path} HTTP/1.1\r\nHost: {authority}\r\nConnection: close\r\n{extra}\r\n"
        )
        .unwrap();
        let mut buf = Vec::new();
        let _ = stream.read_to_end(&mut buf);
        buf
    }

    #[test]
    #[should_panic(expected = "without being called")]
    fn unused_server_fails_on_drop() {
        let _server = http(|_req| async { ok("x") });
    }

    #[test]
    #[should_panic(expected = "should not have been called")]
    fn expect_no_hits_fails_on_a_hit() {
        let server = http(|_req| async { ok("x") }).expect_no_hits();
        get(&server.url("/"));
    }

    #[test]
    #[should_panic(expected = "handler panicked")]
    fn handler_panic_fails_on_drop() {
        let server = http(|_req| async { panic!("boom") });
        let res = get(&server.url("/"));
        assert!(res.starts_with(b"HTTP/1.1 500"));
    }

    #[test]
    fn records_requests_and_counts_overlap() {
        let server = files_delayed([("/a", b"A".to_vec())], Duration::from_millis(200));
        let (u1, u2) = (server.url("/a"), server.url("/b?q=1"));
        let t1 = std::thread::spawn(move || get(&u1));
        let t2 = std::thread::spawn(move || get(&u2));
        let (r1, r2) = (t1.join().unwrap(), t2.join().unwrap());
        assert!(r1.starts_with(b"HTTP/1.1 200") && r1.ends_with(b"\r\n\r\nA"));
        assert!(r2.starts_with(b"HTTP/1.1 404"));
        assert_eq!(server.hits(), 2);
        assert_eq!(server.uris_sorted(), ["/a", "/b?q=1"]);
        assert_eq!(server.max_in_flight(), 2);
    }

    #[test]
    fn truncated_declares_more_than_it_sends() {
        let server = http(|_req| async { truncated(b"12345".to_vec(), 10) });
        let res = get(&server.url("/t"));
        let text = String::from_utf8_lossy(&res);
        assert!(text.contains("content-length: 10"), "{text}");
        assert!(text.ends_with("12345"), "{text}");
    }

    #[test]
    fn resource_honours_range_and_if_range() {
        let res = Resource::new(b"0123456789".to_vec())
            .etag("\"v1\"")
            .last_modified("Wed, 21 Oct 2015 07:28:00 GMT");
        let server = http(move |req| {
            let res = res.clone();
            async move { res.respond(req.headers(), Shape::Whole) }
        });
        let url = server.url("/r");
        let text = |extra: &str| String::from_utf8_lossy(&get_with(&url, extra)).into_owned();

        let whole = text("");
        assert!(
            whole.starts_with("HTTP/1.1 200") && whole.ends_with("0123456789"),
            "{whole}"
        );
        assert!(whole.contains("etag: \"v1\""), "{whole}");

        let part = text("Range: bytes=4-\r\nIf-Range: \"v1\"\r\n");
        assert!(part.starts_with("HTTP/1.1 206"), "{part}");
        assert!(part.contains("content-range: bytes 4-9/10"), "{part}");
        assert!(part.ends_with("\r\n\r\n456789"), "{part}");

        let by_date = text("Range: bytes=8-\r\nIf-Range: Wed, 21 Oct 2015 07:28:00 GMT\r\n");
        assert!(
            by_date.starts_with("HTTP/1.1 206") && by_date.ends_with("\r\n\r\n89"),
            "{by_date}"
        );

        for stale in ["\"v0\"", "W/\"v1\"", "Thu, 22 Oct 2015 07:28:00 GMT"] {
            let full = text(&format!("Range: bytes=4-\r\nIf-Range: {stale}\r\n"));
            assert!(
                full.starts_with("HTTP/1.1 200") && full.ends_with("0123456789"),
                "{stale}: {full}"
            );
        }

        let past = text("Range: bytes=10-\r\n");
        assert!(past.starts_with("HTTP/1.1 416"), "{past}");
        assert!(past.contains("content-range: bytes */10"), "{past}");
    }

    #[test]
    fn resource_cut_after_delivers_exactly_n_bytes() {
        let body = vec![7u8; 300_000];
        let res = Resource::new(body).etag("\"v1\"");
        let server = http(move |req| {
            let res = res.clone();
            async move { res.respond(req.headers(), Shape::CutAfter(200_000)) }
        });
        let raw = get(&server.url("/r"));
        let split = raw.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
        let head = String::from_utf8_lossy(&raw[..split]);
        assert!(head.contains("content-length: 300000"), "{head}");
        assert_eq!(raw.len() - split, 200_000);
    }
}
