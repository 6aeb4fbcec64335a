//! The test server over TLS: a fresh self-signed certificate for
//! `localhost` and `127.0.0.1` (so clients must be told not to verify it),
//! or one a test made ([`https_as`], with [`Ca`] and [`Issued`]: a
//! server certificate a test CA signed, a self-signed one marked CA:TRUE,
//! a client certificate a server can require), and ALPN offering HTTP/2
//! first, then HTTP/1.1. Each connection then
//! speaks whichever of the two the client picked;
//! [`Recorded::version`](super::Recorded::version) says which.
//! [`https_h2`] speaks HTTP/2 only, and can end each connection with a
//! graceful GOAWAY after N requests (as nginx's `keepalive_requests` and
//! CDNs do), announce a small stream limit, or refuse every stream with
//! `REFUSED_STREAM`.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use hyper::body::Incoming;
use hyper::service::HttpService;
use hyper::{Request, Response};
use hyper_util::rt::{TokioExecutor, TokioIo};
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::Notify;

use super::{Body, Server, State, http_inner, record, serve_files};

/// The TLS side of a server: its acceptor, and for an HTTP/2-only server
/// what it does with its connections.
#[derive(Clone)]
pub(super) struct Tls {
    pub(super) acceptor: tokio_rustls::TlsAcceptor,
    pub(super) h2: Option<H2>,
    /// [`https_h2_then_http1`]: the acceptor of every connection after
    /// the first (HTTP/1.1 alone), and how many came.
    pub(super) later: Option<(tokio_rustls::TlsAcceptor, Arc<AtomicUsize>)>,
}

/// How an HTTP/2-only server ([`https_h2`]) treats its connections.
#[derive(Clone, Copy, Debug, Default)]
pub struct H2 {
    /// Ends each connection gracefully once it has received this many
    /// requests: a GOAWAY; the streams the client opened after the last
    /// one it names are not processed (and not recorded).
    pub goaway_after: Option<usize>,
    /// The SETTINGS_MAX_CONCURRENT_STREAMS it announces.
    pub max_concurrent_streams: Option<u32>,
    /// Resets every stream with `REFUSED_STREAM` (each one recorded, none
    /// answered, the handler never called).
    pub refuse_every_stream: bool,
}

/// Requests received on one connection so far.
#[derive(Default)]
pub(super) struct Received {
    count: AtomicUsize,
    changed: Notify,
}

impl Received {
    pub(super) fn one_more(&self) {
        self.count.fetch_add(1, Ordering::SeqCst);
        self.changed.notify_one();
    }
}

/// Serves one TLS connection over HTTP/2 the way `h2` says.
pub(super) async fn serve_h2<I, S>(
    io: I,
    svc: S,
    h2: H2,
    received: Arc<Received>,
    state: Arc<State>,
) where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    S: HttpService<Incoming> + Send + 'static,
    S::Future: Send + 'static,
    S::ResBody: Send + 'static,
    <S::ResBody as hyper::body::Body>::Data: Send,
    <S::ResBody as hyper::body::Body>::Error: Into<super::BoxError>,
{
    if h2.refuse_every_stream {
        let Ok(mut conn) = h2::server::handshake(io).await else {
            return;
        };
        while let Some(Ok((req, mut respond))) = conn.accept().await {
            record(&state, &req);
            respond.send_reset(h2::Reason::REFUSED_STREAM);
        }
        return;
    }
    let mut builder = hyper::server::conn::http2::Builder::new(TokioExecutor::new());
    if let Some(n) = h2.max_concurrent_streams {
        builder.max_concurrent_streams(n);
    }
    let conn = builder.serve_connection(TokioIo::new(io), svc);
    tokio::pin!(conn);
    if let Some(limit) = h2.goaway_after {
        loop {
            tokio::select! {
                _ = conn.as_mut() => return,
                () = received.changed.notified() => {
                    if received.count.load(Ordering::SeqCst) >= limit {
                        break;
                    }
                }
            }
        }
        // A GOAWAY; the streams it keeps are answered, then the
        // connection closes.
        conn.as_mut().graceful_shutdown();
    }
    let _ = conn.await;
}

/// Like [`http`](super::http), over TLS with a self-signed certificate (so clients must
/// be told not to verify it), offering HTTP/2 and HTTP/1.1.
pub fn https<F, Fut>(handler: F) -> Server
where
    F: Fn(Request<Incoming>) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Response<Body>> + Send + 'static,
{
    let (cert, key) = self_signed();
    https_serving(vec![cert], key, None, None, handler)
}

/// Like [`https`], HTTP/2 only, treating its connections the way `h2`
/// says.
pub fn https_h2<F, Fut>(h2: H2, handler: F) -> Server
where
    F: Fn(Request<Incoming>) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Response<Body>> + Send + 'static,
{
    let (cert, key) = self_signed();
    https_serving(vec![cert], key, None, Some(h2), handler)
}

/// Like [`https`], but only its first connection may speak HTTP/2: every
/// later one offers HTTP/1.1 alone (a load balancer whose back ends
/// differ), so a client that insists on HTTP/2 fails its handshake.
pub fn https_h2_then_http1<F, Fut>(handler: F) -> Server
where
    F: Fn(Request<Incoming>) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Response<Body>> + Send + 'static,
{
    let (cert, key) = self_signed();
    let config = |alpn: &[u8]| {
        let mut config = rustls::ServerConfig::builder_with_provider(Arc::new(
            rustls::crypto::aws_lc_rs::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .expect("TLS versions")
        .with_no_client_auth()
        .with_single_cert(vec![cert.clone()], key.clone_key())
        .expect("TLS server config");
        config.alpn_protocols = vec![alpn.to_vec()];
        tokio_rustls::TlsAcceptor::from(Arc::new(config))
    };
    let tls = Tls {
        acceptor: config(b"h2"),
        h2: None,
        later: Some((config(b"http/1.1"), Arc::default())),
    };
    http_inner(Arc::new(move |req| Box::pin(handler(req))), Some(tls))
}

/// Like [`https`], with the certificate `cert` (its chain: `cert`, then
/// `chain`), and, given `client_ca`, requiring a client certificate
/// `client_ca` signed (a handshake without one, or with another, fails).
pub fn https_as<F, Fut>(cert: &Issued, chain: &[&Ca], client_ca: Option<&Ca>, handler: F) -> Server
where
    F: Fn(Request<Incoming>) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Response<Body>> + Send + 'static,
{
    let certs = std::iter::once(cert.der())
        .chain(chain.iter().map(|ca| ca.der()))
        .collect();
    let client_ca = client_ca.map(Ca::der);
    https_serving(certs, cert.key_der(), client_ca, None, handler)
}

/// A fresh self-signed certificate for `localhost` and `127.0.0.1`, and
/// its key.
fn self_signed() -> (CertificateDer<'static>, PrivateKeyDer<'static>) {
    let cert =
        rcgen::generate_simple_self_signed(["localhost".to_string(), "127.0.0.1".to_string()])
            .expect("self-signed certificate");
    let key = PrivateKeyDer::Pkcs8(cert.signing_key.serialize_der().into());
    (cert.cert.der().clone(), key)
}

fn https_serving<F, Fut>(
    certs: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
    client_ca: Option<CertificateDer<'static>>,
    h2: Option<H2>,
    handler: F,
) -> Server
where
    F: Fn(Request<Incoming>) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Response<Body>> + Send + 'static,
{
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let builder = rustls::ServerConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .expect("TLS versions");
    let builder = match client_ca {
        Some(ca) => {
            let mut roots = rustls::RootCertStore::empty();
            roots.add(ca).expect("client CA");
            let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
                Arc::new(roots),
                provider,
            )
            .build()
            .expect("client verifier");
            builder.with_client_cert_verifier(verifier)
        }
        None => builder.with_no_client_auth(),
    };
    let mut config = builder
        .with_single_cert(certs, key)
        .expect("TLS server config");
    config.alpn_protocols = match h2 {
        Some(_) => vec![b"h2".to_vec()],
        None => vec![b"h2".to_vec(), b"http/1.1".to_vec()],
    };
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let tls = Tls {
        acceptor,
        h2,
        later: None,
    };
    http_inner(Arc::new(move |req| Box::pin(handler(req))), Some(tls))
}

/// A certificate authority made for a test: it signs server and client
/// certificates.
pub struct Ca {
    issuer: rcgen::CertifiedIssuer<'static, rcgen::KeyPair>,
}

impl Ca {
    /// A fresh self-signed CA named `name`.
    pub fn new(name: &str) -> Ca {
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).expect("CA params");
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, name);
        params.key_usages = vec![
            rcgen::KeyUsagePurpose::KeyCertSign,
            rcgen::KeyUsagePurpose::CrlSign,
            rcgen::KeyUsagePurpose::DigitalSignature,
        ];
        let key = rcgen::KeyPair::generate().expect("CA key");
        Ca {
            issuer: rcgen::CertifiedIssuer::self_signed(params, key).expect("CA certificate"),
        }
    }

    /// Its certificate, PEM.
    pub fn pem(&self) -> String {
        self.issuer.pem()
    }

    /// Its certificate, DER.
    pub fn der(&self) -> CertificateDer<'static> {
        self.issuer.der().clone()
    }

    /// A server certificate for `localhost` and `127.0.0.1`.
    pub fn server(&self) -> Issued {
        let mut params =
            rcgen::CertificateParams::new(vec!["localhost".to_string(), "127.0.0.1".to_string()])
                .expect("server params");
        params.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ServerAuth];
        self.sign(params)
    }

    /// A client certificate for `name`.
    pub fn client(&self, name: &str) -> Issued {
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).expect("params");
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, name);
        params.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ClientAuth];
        self.sign(params)
    }

    fn sign(&self, params: rcgen::CertificateParams) -> Issued {
        let key = rcgen::KeyPair::generate().expect("key");
        let cert = params.signed_by(&key, &self.issuer).expect("certificate");
        Issued { cert, key }
    }
}

/// A certificate and its private key.
pub struct Issued {
    cert: rcgen::Certificate,
    key: rcgen::KeyPair,
}

impl Issued {
    /// A self-signed server certificate for `127.0.0.1` and `localhost`
    /// marked CA:TRUE, as `openssl req -x509 -newkey rsa:2048 -nodes -subj
    /// /CN=host -addext subjectAltName=IP:127.0.0.1` makes one.
    /// `names` are its names; `expired`: it ended in 2020.
    pub fn self_signed_ca(names: &[&str], expired: bool) -> Issued {
        let names: Vec<String> = names.iter().map(|n| n.to_string()).collect();
        let mut params = rcgen::CertificateParams::new(names).expect("params");
        if expired {
            params.not_before = rcgen::date_time_ymd(2019, 1, 1);
            params.not_after = rcgen::date_time_ymd(2020, 1, 1);
        }
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "host");
        let key = rcgen::KeyPair::generate().expect("key");
        let cert = params.self_signed(&key).expect("certificate");
        Issued { cert, key }
    }

    /// The certificate, PEM.
    pub fn cert_pem(&self) -> String {
        self.cert.pem()
    }

    /// The certificate, DER.
    pub fn der(&self) -> CertificateDer<'static> {
        self.cert.der().clone()
    }

    /// The private key, PEM (PKCS#8).
    pub fn key_pem(&self) -> String {
        self.key.serialize_pem()
    }

    fn key_der(&self) -> PrivateKeyDer<'static> {
        PrivateKeyDer::Pkcs8(self.key.serialize_der().into())
    }
}

/// Like [`files`](super::files), over TLS (see [`https`]).
pub fn https_files<P: Into<String>>(files: impl IntoIterator<Item = (P, Vec<u8>)>) -> Server {
    https(serve_files(files, Duration::ZERO))
}

/// Like [`https_files`], the first connection alone offering HTTP/2 (see
/// [`https_h2_then_http1`]).
pub fn https_h2_then_http1_files<P: Into<String>>(
    files: impl IntoIterator<Item = (P, Vec<u8>)>,
) -> Server {
    https_h2_then_http1(serve_files(files, Duration::ZERO))
}

/// Like [`https_files`], HTTP/2 only (see [`https_h2`]).
pub fn https_h2_files<P: Into<String>>(
    h2: H2,
    files: impl IntoIterator<Item = (P, Vec<u8>)>,
) -> Server {
    https_h2(h2, serve_files(files, Duration::ZERO))
}
