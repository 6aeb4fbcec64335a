//! The benchmark's test server for the `latency` and `flaky` cases
//! (`benches/bench.py` starts it): the same protocol as
//! `benches/servers/testserver.py`, in Rust, so that the server is not what
//! the measurement measures.
//!
//! - `GET /delay/N`: answers after `--delay-ms` (default 100) with `synth_body(N)`;
//! - `GET /flaky/N`: for `N % 5 == 0` the first request answers 503, every
//!   later one (and every other N) answers 200 with `synth_body(N)`;
//! - `GET /stats`: request counters as JSON; `GET /reset` clears them.
//!
//! Prints `LISTENING PORT rust` on stdout once it accepts connections.
//! Run: `cargo run --release --example bench_server -- [--port P] [--delay-ms MS]`.

use std::collections::BinaryHeap;
use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::{Arc, Mutex, mpsc};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::Full;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use sha2::{Digest, Sha256};

#[derive(Default)]
struct Counters {
    /// flaky N -> requests seen
    seen: HashMap<u64, u64>,
    flaky: u64,
    delay: u64,
    status_503: u64,
}

fn synth_body(n: u64) -> Bytes {
    let digest = Sha256::digest(format!("haul-bench-{n}").as_bytes());
    Bytes::from(digest.repeat(32))
}

/// Answers the `/delay/N` requests on time. tokio's timer counts whole
/// milliseconds and rounds a deadline up, so `sleep(100ms)` answered after
/// 100-102 ms here, and over the latency case's 20 rounds every client
/// paid that in full (`wrk -c 100` saw 102.0 ms on average). This thread
/// sleeps to the deadline with the OS's own precision and releases every
/// request that is due in one pass.
#[derive(Clone)]
struct Delays(mpsc::Sender<(Instant, tokio::sync::oneshot::Sender<()>)>);

/// A deadline and its waiter, earliest first in a max-heap.
struct Due(Instant, tokio::sync::oneshot::Sender<()>);

impl PartialEq for Due {
    fn eq(&self, other: &Self) -> bool {
        self.0 == other.0
    }
}
impl Eq for Due {}
impl PartialOrd for Due {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Due {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        other.0.cmp(&self.0)
    }
}

impl Delays {
    fn start() -> Delays {
        let (tx, rx) = mpsc::channel::<(Instant, tokio::sync::oneshot::Sender<()>)>();
        std::thread::spawn(move || {
            let mut heap = BinaryHeap::new();
            loop {
                let next = match heap.peek() {
                    Some(Due(at, _)) => {
                        rx.recv_timeout(at.saturating_duration_since(Instant::now()))
                    }
                    None => rx.recv().map_err(|_| mpsc::RecvTimeoutError::Disconnected),
                };
                match next {
                    Ok((at, waiter)) => heap.push(Due(at, waiter)),
                    Err(mpsc::RecvTimeoutError::Timeout) => {}
                    Err(mpsc::RecvTimeoutError::Disconnected) => return,
                }
                let now = Instant::now();
                while heap.peek().is_some_and(|Due(at, _)| *at <= now) {
                    let Due(_, waiter) = heap.pop().expect("peeked");
                    let _ = waiter.send(());
                }
            }
        });
        Delays(tx)
    }

    async fn sleep(&self, delay: Duration) {
        let (tx, rx) = tokio::sync::oneshot::channel();
        if self.0.send((Instant::now() + delay, tx)).is_ok() {
            let _ = rx.await;
        }
    }
}

fn respond(status: StatusCode, body: Bytes) -> Response<Full<Bytes>> {
    let mut res = Response::new(Full::new(body));
    *res.status_mut() = status;
    res
}

async fn handle(
    req: Request<hyper::body::Incoming>,
    counters: Arc<Mutex<Counters>>,
    delays: Delays,
    delay: Duration,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let path = req.uri().path();
    let number = |prefix: &str| path.strip_prefix(prefix)?.parse::<u64>().ok();
    if let Some(n) = number("/delay/") {
        counters.lock().unwrap().delay += 1;
        delays.sleep(delay).await;
        return Ok(respond(StatusCode::OK, synth_body(n)));
    }
    if let Some(n) = number("/flaky/") {
        let fail = {
            let mut c = counters.lock().unwrap();
            c.flaky += 1;
            let seen = c.seen.entry(n).or_default();
            *seen += 1;
            let fail = n % 5 == 0 && *seen == 1;
            if fail {
                c.status_503 += 1;
            }
            fail
        };
        return Ok(if fail {
            respond(
                StatusCode::SERVICE_UNAVAILABLE,
                Bytes::from_static(b"busy\n"),
            )
        } else {
            respond(StatusCode::OK, synth_body(n))
        });
    }
    let json = match path {
        "/stats" => {
            let c = counters.lock().unwrap();
            serde_json::json!({
                "flaky_requests": c.flaky,
                "flaky_urls": c.seen.len(),
                "delay_requests": c.delay,
                "static_requests": 0,
                "status_503": c.status_503,
                "requests": c.flaky + c.delay,
            })
        }
        "/reset" => {
            *counters.lock().unwrap() = Counters::default();
            serde_json::json!({ "ok": true })
        }
        _ => return Ok(respond(StatusCode::NOT_FOUND, Bytes::new())),
    };
    Ok(respond(StatusCode::OK, Bytes::from(json.to_string())))
}

fn main() -> std::io::Result<()> {
    let mut port = 0u16;
    let mut delay_ms = 100u64;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let value = args.next().unwrap_or_default();
        match arg.as_str() {
            "--port" => port = value.parse().expect("--port takes a number"),
            "--delay-ms" => delay_ms = value.parse().expect("--delay-ms takes a number"),
            other => panic!("unknown argument {other} (known: --port, --delay-ms)"),
        }
    }
    let delay = Duration::from_millis(delay_ms);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
        println!("LISTENING {} rust", listener.local_addr()?.port());
        let counters = Arc::new(Mutex::new(Counters::default()));
        let delays = Delays::start();
        loop {
            let (stream, _) = listener.accept().await?;
            let _ = stream.set_nodelay(true);
            let counters = counters.clone();
            let delays = delays.clone();
            tokio::spawn(async move {
                let service =
                    service_fn(move |req| handle(req, counters.clone(), delays.clone(), delay));
                let _ = http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    })
}
