//! The test server over TLS: a fresh self-signed certificate for
//! `localhost` and `127.0.0.1` (so clients must be told not to verify it),
//! and ALPN offering HTTP/2 first, then HTTP/1.1. Each connection then
//! speaks whichever of the two the client picked;
//! [`Recorded::version`](super::Recorded::version) says which.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use hyper::body::Incoming;
use hyper::{Request, Response};

use super::{Body, Server, http_inner, serve_files};

/// Like [`http`](super::http), over TLS with a self-signed certificate (so clients must
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

/// Like [`files`](super::files), over TLS (see [`https`]).
pub fn https_files<P: Into<String>>(files: impl IntoIterator<Item = (P, Vec<u8>)>) -> Server {
    https(serve_files(files, Duration::ZERO))
}
