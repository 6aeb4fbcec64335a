//! An in-process test server on `127.0.0.1:0`, modelled on xh's
//! `tests/server/mod.rs` (itself from reqwest's test support). [`http`]
//! speaks HTTP/1.1 in plain text; [`https`] (in `tls.rs`) speaks HTTP/2 or
//! HTTP/1.1 over TLS, whichever the client picks by ALPN, and
//! [`Recorded::version`] says which one each request used. Nothing here is
//! haul-specific.
//!
//! This file owns the server itself. `http(|req| async move { ... })` serves
//! from its own thread with its own current-thread tokio runtime, so plain
//! `#[test]` functions that spawn the binary can use it. Every connection is
//! served concurrently. The server records each request (with its arrival
//! time, for timing assertions), counts hits, and keeps an in-flight gauge
//! that covers the handler *and* the streaming of its response body, so a
//! test can prove a `--jobs` bound. On drop it checks (unless the test is
//! already panicking) that it was hit (or, after [`Server::expect_no_hits`],
//! that it was not) and that no handler panicked. [`files`] /
//! [`files_delayed`] serve a fixed set of paths, and [`http_nth`] tells the
//! handler how many times its path was requested before ("fail twice, then
//! succeed", "v1, then v2").
//!
//! The rest, re-exported here so every case imports from `server`:
//! - `bodies.rs`: response bodies scripted as [`Step`]s (data, sleeps, a
//!   connection cut) and the helpers `ok`, `status`, `truncated`,
//!   `stall_after`, `drip` and `with_header`;
//! - `resource.rs`: [`Resource`], which answers `Range` / `If-Range` with 206,
//!   416 or 200 and sends its payload in a [`Shape`] (whole, cut after N
//!   bytes, stalled, dripped);
//! - `tls.rs`: [`https`] and [`https_files`], with a fresh self-signed
//!   certificate for `localhost` and `127.0.0.1`; [`https_h2`] and
//!   [`https_h2_files`], HTTP/2 only, with the connection habits an [`H2`]
//!   asks for (a GOAWAY after N requests, a stream limit, every stream
//!   refused);
//! - `self_tests.rs`: checks that the server's own checks can fail.

mod bodies;
mod resource;
mod self_tests;
mod tls;

pub use bodies::{Body, Step, counted, drip, ok, stall_after, status, truncated, with_header};
pub use resource::{Resource, Shape};
pub use tls::{
    Ca, H2, Issued, https, https_as, https_files, https_h2, https_h2_files,
    https_h2_then_http1_files,
};

use tls::{Received, Tls};

use std::collections::HashMap;
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
use hyper::header::HeaderMap;
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

/// Starts a plain HTTP/1.1 server that answers every request with `handler`.
pub fn http<F, Fut>(handler: F) -> Server
where
    F: Fn(Request<Incoming>) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Response<Body>> + Send + 'static,
{
    // Only this wrapper is generic; `http_inner` is compiled once.
    http_inner(Arc::new(move |req| Box::pin(handler(req))), None)
}

/// Binds `127.0.0.1:0` and serves on its own thread: HTTP/1.1 in plain
/// text, or behind `tls` HTTP/2 or HTTP/1.1, as the client chose by ALPN
/// (HTTP/2 only, the way `tls.h2` says, when it is given).
fn http_inner(handler: Arc<Handler>, tls: Option<Tls>) -> Server {
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
    tls: Option<Tls>,
) {
    loop {
        let Ok((io, _)) = listener.accept().await else {
            continue;
        };
        // Requests received on this connection, for `H2::goaway_after`.
        let received = Arc::new(Received::default());
        let conn_state = state.clone();
        let handler = handler.clone();
        let state = state.clone();
        let on_request = received.clone();
        let svc = service_fn(move |req: Request<Incoming>| {
            let handler = handler.clone();
            let state = state.clone();
            on_request.one_more();
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
                Some(Tls {
                    acceptor,
                    h2,
                    later,
                }) => {
                    let acceptor = match later {
                        Some((later, seen)) if seen.fetch_add(1, Ordering::SeqCst) > 0 => later,
                        _ => acceptor,
                    };
                    // A failed handshake (a client that refuses the
                    // certificate, no protocol in common) just ends the
                    // connection.
                    let Ok(io) = acceptor.accept(io).await else {
                        return;
                    };
                    if let Some(h2) = h2 {
                        return tls::serve_h2(io, svc, h2, received, conn_state).await;
                    }
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
    record(&state, &req);
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

/// Records `req` as received.
fn record<B>(state: &State, req: &Request<B>) {
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
