//! A minimal SOCKS5 proxy (RFC 1928) on `127.0.0.1:0`, for the proxy cases:
//! the "no authentication" method only (any other offer is answered with
//! `0xFF`), the CONNECT command only, with IPv4, domain-name and IPv6
//! targets. Each CONNECT target is recorded *as the client sent it*, so a
//! case can tell `socks5h://` (the proxy resolves: [`Target::Domain`]) from
//! `socks5://` (the client resolves: [`Target::Ip`]). A route decides where
//! a target really goes ([`to`], [`direct`], [`start`]; [`refusing`]
//! answers every CONNECT with "connection refused"); the proxy itself
//! never resolves a name and never connects beyond the loopback interface.
//!
//! Like the HTTP server in [`server`](super::server), it needs no async test.
//! It runs on plain threads with blocking std sockets (tokio's `io-util` is
//! not asked for by Cargo.toml, only pulled in by other crates), one accept
//! thread and two per tunnelled connection, at most
//! [`MAX_CONNECTIONS`] at once. Every read and write has a short timeout, so
//! every loop re-checks the stop flag: dropping the [`Socks`] joins every
//! thread within a fraction of a second. On drop it also checks (unless the
//! test is already panicking) that it was used at least once (or, after
//! [`Socks::expect_no_hits`], never) and that no client broke the protocol.

use std::fmt;
use std::io::{self, Read, Write};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

/// Connections served at once; more are closed on accept.
pub const MAX_CONNECTIONS: usize = 64;
/// How long a client may take over the greeting and the request.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// A tunnel with no byte in either direction for this long is closed.
const IDLE_TIMEOUT: Duration = Duration::from_secs(60);
/// The granularity at which every blocked thread re-checks the stop flag.
const TICK: Duration = Duration::from_millis(50);
/// Bound on connecting to a routed target (always on 127.0.0.1).
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// A CONNECT target, as the client sent it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Target {
    /// Address type 0x01 (IPv4) or 0x04 (IPv6): the client resolved the name.
    Ip(SocketAddr),
    /// Address type 0x03: the name, left for the proxy to resolve.
    Domain(String, u16),
}

impl Target {
    pub fn port(&self) -> u16 {
        match self {
            Target::Ip(addr) => addr.port(),
            Target::Domain(_, port) => *port,
        }
    }
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Target::Ip(addr) => write!(f, "{addr}"),
            Target::Domain(name, port) => write!(f, "{name}:{port}"),
        }
    }
}

/// SOCKS5 reply codes (RFC 1928, section 6) that this server sends.
#[derive(Clone, Copy, Debug)]
#[repr(u8)]
enum Reply {
    Succeeded = 0x00,
    GeneralFailure = 0x01,
    NotAllowed = 0x02,
    HostUnreachable = 0x04,
    ConnectionRefused = 0x05,
    CommandNotSupported = 0x07,
    AddressTypeNotSupported = 0x08,
}

type Route = dyn Fn(&Target) -> Option<SocketAddr> + Send + Sync;

enum Mode {
    /// Tunnel to where the route says; `None` is "host unreachable".
    Route(Box<Route>),
    /// Answer every CONNECT with "connection refused".
    Refuse,
}

#[derive(Default)]
struct State {
    targets: Mutex<Vec<Target>>,
    /// Protocol violations by a client and routes off the loopback interface.
    errors: Mutex<Vec<String>>,
    active: AtomicUsize,
    stop: AtomicBool,
    threads: Mutex<Vec<thread::JoinHandle<()>>>,
}

impl State {
    fn error(&self, msg: String) {
        self.errors.lock().unwrap().push(msg);
    }

    fn stopped(&self) -> bool {
        self.stop.load(Ordering::SeqCst)
    }
}

enum HitCheck {
    AtLeastOne,
    None,
    Any,
}

/// A running proxy; stops and checks itself on drop.
pub struct Socks {
    addr: SocketAddr,
    state: Arc<State>,
    accept: Option<thread::JoinHandle<()>>,
    hit_check: HitCheck,
}

/// A proxy that tunnels every CONNECT, whatever its target, to `addr`
/// (a test server): `Domain("haul-test.invalid", 80)` reaches it too.
pub fn to(addr: SocketAddr) -> Socks {
    start(move |_| Some(addr))
}

/// A proxy that tunnels IP targets to that address (loopback only) and
/// answers every domain target with "host unreachable": it resolves nothing.
pub fn direct() -> Socks {
    start(|target| match target {
        Target::Ip(addr) => Some(*addr),
        Target::Domain(..) => None,
    })
}

/// A proxy that greets normally, records the target and then answers every
/// CONNECT with "connection refused" (reply 0x05).
pub fn refusing() -> Socks {
    spawn(Mode::Refuse)
}

/// A proxy that tunnels each CONNECT to `route(target)`, or answers "host
/// unreachable" for `None`. A route off the loopback interface is refused
/// (reply 0x02) and fails the test on drop.
pub fn start(route: impl Fn(&Target) -> Option<SocketAddr> + Send + Sync + 'static) -> Socks {
    spawn(Mode::Route(Box::new(route)))
}

fn spawn(mode: Mode) -> Socks {
    let listener = TcpListener::bind(("127.0.0.1", 0)).expect("bind SOCKS proxy to 127.0.0.1:0");
    listener.set_nonblocking(true).expect("set_nonblocking");
    let addr = listener.local_addr().expect("local_addr");
    let state = Arc::new(State::default());
    let mode = Arc::new(mode);

    let thread_state = state.clone();
    let name = format!(
        "test({})-socks",
        thread::current().name().unwrap_or("<unknown>")
    );
    let accept = thread::Builder::new()
        .name(name.clone())
        .spawn(move || accept_loop(listener, mode, thread_state, name))
        .expect("spawn SOCKS proxy thread");

    Socks {
        addr,
        state,
        accept: Some(accept),
        hit_check: HitCheck::AtLeastOne,
    }
}

impl Socks {
    /// `socks5h://127.0.0.1:PORT`: the proxy is asked to resolve names.
    pub fn url(&self) -> String {
        format!("socks5h://{}", self.addr)
    }

    /// `socks5://127.0.0.1:PORT`: the client resolves names itself.
    pub fn url_local_dns(&self) -> String {
        format!("socks5://{}", self.addr)
    }

    /// `127.0.0.1:PORT`.
    pub fn authority(&self) -> String {
        self.addr.to_string()
    }

    /// Every CONNECT target received so far, in arrival order (including
    /// those then refused or unreachable).
    pub fn targets(&self) -> Vec<Target> {
        self.state.targets.lock().unwrap().clone()
    }

    /// CONNECT requests received so far.
    pub fn hits(&self) -> usize {
        self.state.targets.lock().unwrap().len()
    }

    /// On drop, assert no CONNECT was received (instead of at least one).
    pub fn expect_no_hits(mut self) -> Self {
        self.hit_check = HitCheck::None;
        self
    }

    /// On drop, do not check the number of CONNECTs at all.
    pub fn any_hits(mut self) -> Self {
        self.hit_check = HitCheck::Any;
        self
    }
}

impl Drop for Socks {
    fn drop(&mut self) {
        self.state.stop.store(true, Ordering::SeqCst);
        if let Some(handle) = self.accept.take() {
            let _ = handle.join();
        }
        // The accept thread is gone, so no handle is added any more.
        let handles = std::mem::take(&mut *self.state.threads.lock().unwrap());
        for handle in handles {
            if handle.join().is_err() {
                self.state
                    .error("a connection thread panicked (in the route?)".to_string());
            }
        }
        if thread::panicking() {
            return;
        }
        let errors = self.state.errors.lock().unwrap().clone();
        assert!(errors.is_empty(), "SOCKS proxy saw errors: {errors:?}");
        let targets = self.targets();
        match self.hit_check {
            HitCheck::AtLeastOne => {
                assert!(!targets.is_empty(), "SOCKS proxy exited without a CONNECT")
            }
            HitCheck::None => assert!(
                targets.is_empty(),
                "SOCKS proxy should not have been used, got CONNECTs to {targets:?}"
            ),
            HitCheck::Any => {}
        }
    }
}

fn accept_loop(listener: TcpListener, mode: Arc<Mode>, state: Arc<State>, name: String) {
    while !state.stopped() {
        let stream = match listener.accept() {
            Ok((stream, _)) => stream,
            Err(err) if err.kind() == io::ErrorKind::WouldBlock => {
                thread::sleep(Duration::from_millis(5));
                continue;
            }
            Err(_) => {
                thread::sleep(Duration::from_millis(5));
                continue;
            }
        };
        if state.active.load(Ordering::SeqCst) >= MAX_CONNECTIONS {
            continue; // dropped: closed
        }
        state.active.fetch_add(1, Ordering::SeqCst);
        let (mode, conn_state) = (mode.clone(), state.clone());
        let spawned = thread::Builder::new()
            .name(format!("{name}-conn"))
            .spawn(move || {
                serve(stream, &mode, &conn_state);
                conn_state.active.fetch_sub(1, Ordering::SeqCst);
            });
        match spawned {
            Ok(handle) => state.threads.lock().unwrap().push(handle),
            Err(_) => {
                state.active.fetch_sub(1, Ordering::SeqCst);
            }
        }
    }
}

/// One client connection: the handshake, then the tunnel. Any I/O failure
/// (the client gone, a timeout) just ends it.
fn serve(mut client: TcpStream, mode: &Mode, state: &Arc<State>) {
    if client.set_nonblocking(false).is_err()
        || client.set_read_timeout(Some(TICK)).is_err()
        || client.set_write_timeout(Some(HANDSHAKE_TIMEOUT)).is_err()
    {
        return;
    }
    let Ok(Some(target)) = handshake(&mut client, state) else {
        return;
    };
    state.targets.lock().unwrap().push(target.clone());

    let route = match mode {
        Mode::Refuse => {
            let _ = reply(&mut client, Reply::ConnectionRefused, None);
            return;
        }
        Mode::Route(route) => route(&target),
    };
    let Some(dest) = route else {
        let _ = reply(&mut client, Reply::HostUnreachable, None);
        return;
    };
    if !dest.ip().is_loopback() {
        state.error(format!(
            "route for {target} leaves the loopback interface: {dest}"
        ));
        let _ = reply(&mut client, Reply::NotAllowed, None);
        return;
    }
    let upstream = match TcpStream::connect_timeout(&dest, CONNECT_TIMEOUT) {
        Ok(upstream) => upstream,
        Err(err) => {
            let code = match err.kind() {
                io::ErrorKind::ConnectionRefused => Reply::ConnectionRefused,
                io::ErrorKind::TimedOut => Reply::HostUnreachable,
                _ => Reply::GeneralFailure,
            };
            let _ = reply(&mut client, code, None);
            return;
        }
    };
    let bound = upstream.local_addr().ok();
    if reply(&mut client, Reply::Succeeded, bound).is_err() {
        return;
    }
    tunnel(client, upstream, state);
}

/// The greeting and the request. `Ok(None)`: the client was answered with
/// a refusal (or broke the protocol, which is recorded) and is done.
fn handshake(client: &mut TcpStream, state: &State) -> io::Result<Option<Target>> {
    let deadline = Instant::now() + HANDSHAKE_TIMEOUT;
    let read = |client: &mut TcpStream, len: usize| -> io::Result<Vec<u8>> {
        let mut buf = vec![0; len];
        read_full(client, &mut buf, deadline, state)?;
        Ok(buf)
    };

    // Greeting: VER NMETHODS METHODS...
    let head = read(client, 2)?;
    if head[0] != 0x05 {
        state.error(format!("greeting with version {:#04x}, not 5", head[0]));
        return Ok(None);
    }
    let methods = read(client, usize::from(head[1]))?;
    if !methods.contains(&0x00) {
        // No acceptable method: the client must close the connection.
        client.write_all(&[0x05, 0xFF])?;
        return Ok(None);
    }
    client.write_all(&[0x05, 0x00])?;

    // Request: VER CMD RSV ATYP DST.ADDR DST.PORT
    let req = read(client, 4)?;
    if req[0] != 0x05 {
        state.error(format!("request with version {:#04x}, not 5", req[0]));
        return Ok(None);
    }
    let host = match req[3] {
        0x01 => {
            let b = read(client, 4)?;
            Some(IpAddr::V4(Ipv4Addr::new(b[0], b[1], b[2], b[3])))
        }
        0x04 => {
            let b: [u8; 16] = read(client, 16)?.try_into().expect("16 bytes");
            Some(IpAddr::V6(Ipv6Addr::from(b)))
        }
        0x03 => None,
        other => {
            state.error(format!("request with address type {other:#04x}"));
            reply(client, Reply::AddressTypeNotSupported, None)?;
            return Ok(None);
        }
    };
    let name = match host {
        Some(_) => None,
        None => {
            let len = read(client, 1)?[0];
            let name = read(client, usize::from(len))?;
            match String::from_utf8(name) {
                Ok(name) => Some(name),
                Err(err) => {
                    state.error(format!("domain name is not UTF-8: {err}"));
                    reply(client, Reply::GeneralFailure, None)?;
                    return Ok(None);
                }
            }
        }
    };
    let port_bytes = read(client, 2)?;
    let port = u16::from_be_bytes([port_bytes[0], port_bytes[1]]);
    if req[1] != 0x01 {
        state.error(format!("command {:#04x}, not CONNECT", req[1]));
        reply(client, Reply::CommandNotSupported, None)?;
        return Ok(None);
    }
    Ok(Some(match (host, name) {
        (Some(ip), _) => Target::Ip(SocketAddr::new(ip, port)),
        (None, Some(name)) => Target::Domain(name, port),
        (None, None) => unreachable!("a domain target has a name"),
    }))
}

/// VER REP RSV ATYP BND.ADDR BND.PORT, with `0.0.0.0:0` when nothing is bound.
fn reply(client: &mut TcpStream, code: Reply, bound: Option<SocketAddr>) -> io::Result<()> {
    let mut msg = vec![0x05, code as u8, 0x00];
    match bound.unwrap_or_else(|| SocketAddr::from(([0, 0, 0, 0], 0))) {
        SocketAddr::V4(v4) => {
            msg.push(0x01);
            msg.extend_from_slice(&v4.ip().octets());
            msg.extend_from_slice(&v4.port().to_be_bytes());
        }
        SocketAddr::V6(v6) => {
            msg.push(0x04);
            msg.extend_from_slice(&v6.ip().octets());
            msg.extend_from_slice(&v6.port().to_be_bytes());
        }
    }
    client.write_all(&msg)?;
    client.flush()
}

fn is_timeout(err: &io::Error) -> bool {
    matches!(
        err.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
    )
}

/// `read_exact` under a read timeout of [`TICK`]: partial reads are kept,
/// and it gives up at `deadline` or when the proxy stops.
fn read_full(
    stream: &mut TcpStream,
    buf: &mut [u8],
    deadline: Instant,
    state: &State,
) -> io::Result<()> {
    let mut filled = 0;
    while filled < buf.len() {
        match stream.read(&mut buf[filled..]) {
            Ok(0) => return Err(io::ErrorKind::UnexpectedEof.into()),
            Ok(n) => filled += n,
            Err(err) if is_timeout(&err) => {
                if state.stopped() || Instant::now() > deadline {
                    return Err(io::ErrorKind::TimedOut.into());
                }
            }
            Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
            Err(err) => return Err(err),
        }
    }
    Ok(())
}

/// `write_all` under a write timeout of [`TICK`]: a peer that does not read
/// for [`IDLE_TIMEOUT`], or the proxy stopping, ends it.
fn write_full(stream: &mut TcpStream, mut buf: &[u8], state: &State) -> io::Result<()> {
    let mut last = Instant::now();
    while !buf.is_empty() {
        match stream.write(buf) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(n) => {
                buf = &buf[n..];
                last = Instant::now();
            }
            Err(err) if is_timeout(&err) => {
                if state.stopped() || last.elapsed() > IDLE_TIMEOUT {
                    return Err(io::ErrorKind::TimedOut.into());
                }
            }
            Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
            Err(err) => return Err(err),
        }
    }
    Ok(())
}

/// Relays bytes both ways until both directions are done: one direction on
/// a helper thread, the other on this one.
fn tunnel(client: TcpStream, upstream: TcpStream, state: &Arc<State>) {
    let setup = || -> io::Result<(TcpStream, TcpStream)> {
        for s in [&client, &upstream] {
            s.set_read_timeout(Some(TICK))?;
            s.set_write_timeout(Some(TICK))?;
        }
        Ok((client.try_clone()?, upstream.try_clone()?))
    };
    let Ok((client2, upstream2)) = setup() else {
        return;
    };
    let helper_state = state.clone();
    let helper = thread::Builder::new()
        .name("socks-tunnel".to_string())
        .spawn(move || pump(upstream2, client2, &helper_state));
    match helper {
        Ok(handle) => {
            pump(client, upstream, state);
            let _ = handle.join();
        }
        Err(_) => {
            let _ = client.shutdown(Shutdown::Both);
            let _ = upstream.shutdown(Shutdown::Both);
        }
    }
}

/// Copies `from` to `to` until `from` ends (then half-closes `to`, as a
/// relay should), either side fails, the tunnel idles for [`IDLE_TIMEOUT`]
/// or the proxy stops (then both sockets are shut down, which ends the
/// other direction too).
fn pump(mut from: TcpStream, mut to: TcpStream, state: &State) {
    let mut buf = vec![0; 16 * 1024];
    let mut last = Instant::now();
    loop {
        match from.read(&mut buf) {
            Ok(0) => {
                let _ = to.shutdown(Shutdown::Write);
                return;
            }
            Ok(n) => {
                if write_full(&mut to, &buf[..n], state).is_err() {
                    break;
                }
                last = Instant::now();
            }
            Err(err) if is_timeout(&err) => {
                if state.stopped() || last.elapsed() > IDLE_TIMEOUT {
                    break;
                }
            }
            Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
            Err(_) => break,
        }
    }
    let _ = from.shutdown(Shutdown::Both);
    let _ = to.shutdown(Shutdown::Both);
}

/// Self-tests: the handshake byte by byte, and the checks the cases rely on.
mod self_tests {
    use std::io::{Read, Write};
    use std::net::{Ipv6Addr, SocketAddr, TcpStream};
    use std::time::Duration;

    use super::{Target, direct, refusing, start, to};
    use crate::support::server;

    /// The DST.ADDR / DST.PORT bytes of a CONNECT request for `target`.
    fn encode(target: &Target) -> Vec<u8> {
        let mut out = Vec::new();
        match target {
            Target::Ip(SocketAddr::V4(v4)) => {
                out.push(0x01);
                out.extend_from_slice(&v4.ip().octets());
            }
            Target::Ip(SocketAddr::V6(v6)) => {
                out.push(0x04);
                out.extend_from_slice(&v6.ip().octets());
            }
            Target::Domain(name, _) => {
                out.push(0x03);
                out.push(u8::try_from(name.len()).unwrap());
                out.extend_from_slice(name.as_bytes());
            }
        }
        out.extend_from_slice(&target.port().to_be_bytes());
        out
    }

    /// Greets `proxy` offering "no authentication", sends CONNECT `target`;
    /// returns the stream and the reply code.
    fn connect(proxy: &str, target: &Target) -> (TcpStream, u8) {
        let mut stream = TcpStream::connect(proxy).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        stream.write_all(&[0x05, 0x01, 0x00]).unwrap();
        let mut choice = [0; 2];
        stream.read_exact(&mut choice).unwrap();
        assert_eq!(choice, [0x05, 0x00]);
        let mut req = vec![0x05, 0x01, 0x00];
        req.extend(encode(target));
        stream.write_all(&req).unwrap();
        let mut head = [0; 4];
        stream.read_exact(&mut head).unwrap();
        assert_eq!(head[0], 0x05);
        let addr_len = match head[3] {
            0x01 => 4,
            0x04 => 16,
            other => panic!("reply address type {other:#04x}"),
        };
        let mut rest = vec![0; addr_len + 2];
        stream.read_exact(&mut rest).unwrap();
        (stream, head[1])
    }

    /// A GET through an established tunnel; returns the raw response.
    fn get(mut stream: TcpStream, path: &str) -> String {
        write!(
            stream,
            "GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
        )
        .unwrap();
        let mut buf = String::new();
        stream.read_to_string(&mut buf).unwrap();
        buf
    }

    #[test]
    fn every_address_type_is_recorded_as_sent_and_tunnelled() {
        let origin = server::files([("/a.txt", b"alpha".to_vec())]);
        let proxy = to(origin.authority().parse().unwrap());
        let targets = [
            Target::Domain("haul-test.invalid".to_string(), 80),
            Target::Ip("127.0.0.1:8080".parse().unwrap()),
            Target::Ip(SocketAddr::new(Ipv6Addr::LOCALHOST.into(), 443)),
        ];
        for target in &targets {
            let (stream, code) = connect(&proxy.authority(), target);
            assert_eq!(code, 0x00, "{target}");
            let res = get(stream, "/a.txt");
            assert!(
                res.starts_with("HTTP/1.1 200") && res.ends_with("alpha"),
                "{res}"
            );
        }
        assert_eq!(proxy.targets(), targets);
        assert_eq!(origin.hits(), 3);
    }

    #[test]
    fn a_client_without_the_no_auth_method_is_refused() {
        let proxy = direct().expect_no_hits();
        let mut stream = TcpStream::connect(proxy.authority()).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        stream.write_all(&[0x05, 0x01, 0x02]).unwrap(); // username/password only
        let mut choice = [0; 2];
        stream.read_exact(&mut choice).unwrap();
        assert_eq!(choice, [0x05, 0xFF]);
        assert_eq!(stream.read(&mut [0; 1]).unwrap(), 0, "not closed");
    }

    #[test]
    fn refusing_and_unroutable_targets_get_error_replies() {
        let proxy = refusing();
        let target = Target::Ip("127.0.0.1:9".parse().unwrap());
        assert_eq!(connect(&proxy.authority(), &target).1, 0x05);
        assert_eq!(proxy.targets(), [target]);

        let proxy = direct();
        let target = Target::Domain("localhost".to_string(), 80);
        assert_eq!(connect(&proxy.authority(), &target).1, 0x04);
    }

    #[test]
    #[should_panic(expected = "without a CONNECT")]
    fn unused_proxy_fails_on_drop() {
        let _proxy = direct();
    }

    #[test]
    #[should_panic(expected = "should not have been used")]
    fn expect_no_hits_fails_on_a_connect() {
        let proxy = refusing().expect_no_hits();
        connect(&proxy.authority(), &Target::Domain("x".to_string(), 1));
    }

    #[test]
    #[should_panic(expected = "leaves the loopback interface")]
    fn a_route_off_the_loopback_interface_fails_on_drop() {
        let proxy = start(|_| Some("192.0.2.1:80".parse().unwrap()));
        let (_, code) = connect(&proxy.authority(), &Target::Domain("x".to_string(), 1));
        assert_eq!(code, 0x02);
    }
}
