//! HTTP: the clients every transfer thread builds with one set of settings
//! (no redirects of its own, no `Referer`, TLS verification or the TLS
//! configuration `tls.rs` built, timeouts, pool size,
//! the content codings of `--compressed`, the `-b`/`-c` cookie jar),
//! and the one place where an HTTP library error becomes a message
//! (stripped of the URL it carries, which may hold a password). It does not
//! decide what to request (`fetch/`) or when (`scheduler.rs`); what a download
//! shares besides the client is `session.rs`.

use std::collections::HashSet;
use std::sync::Mutex;
use std::time::Duration;

use anyhow::{Context, Result};
use url::Url;

use crate::config::{HttpConfig, Proxies, ProxyList};
use crate::host::Host;
use crate::redact::masked;
use crate::tls::Tls;

/// A transfer thread's clients. A request to a host goes through `any`,
/// which speaks HTTP/2 or HTTP/1.1 as the TLS handshake (ALPN) decides;
/// once an https host has answered over HTTP/2, its requests go through
/// `h2`, which speaks only HTTP/2. The difference is in the connection
/// pool: `any` cannot know a new connection will be HTTP/2 before its
/// handshake, so every request that finds no connection free opens one,
/// and all but the first are closed again after the handshake (a server
/// that ends each connection after N requests cost hundreds of TLS
/// handshakes per rotation at -j 512); `h2` opens one connection per
/// host at a time and the other requests wait for it.
pub(crate) struct Clients {
    any: reqwest::Client,
    h2: reqwest::Client,
    /// The https hosts that answered over HTTP/2, and those that then
    /// failed a request in HTTP/2 alone (never asked so again).
    hosts: Mutex<H2Hosts>,
}

#[derive(Default)]
struct H2Hosts {
    h2: HashSet<Host>,
    mixed: HashSet<Host>,
}

impl Clients {
    /// Clients with the run's HTTP settings that keep up to
    /// `idle_per_host` idle connections per host.
    pub(crate) fn new(http: &HttpConfig, idle_per_host: usize) -> Result<Clients> {
        Ok(Clients {
            any: client(http, idle_per_host, false)?,
            h2: client(http, idle_per_host, true)?,
            hosts: Mutex::default(),
        })
    }

    /// The client for a request to `url`.
    pub(crate) fn get(&self, url: &Url) -> &reqwest::Client {
        if url.scheme() == "https" && self.hosts().h2.contains(&Host::of(url)) {
            &self.h2
        } else {
            &self.any
        }
    }

    /// `url`'s host answered over `version`: an https host that speaks
    /// HTTP/2 gets the HTTP/2 client from now on.
    pub(crate) fn answered(&self, url: &Url, version: reqwest::Version) {
        if version == reqwest::Version::HTTP_2 && url.scheme() == "https" {
            let host = Host::of(url);
            let mut hosts = self.hosts();
            if !hosts.mixed.contains(&host) {
                hosts.h2.insert(host);
            }
        }
    }

    /// A request to `url` failed on the network: if it went in HTTP/2
    /// alone, its host goes back for good to the client that lets the
    /// handshake decide, so a host that does not always offer HTTP/2 (a
    /// load balancer with mixed back ends) is not asked in it again.
    pub(crate) fn failed(&self, url: &Url) {
        if url.scheme() == "https" {
            let host = Host::of(url);
            let mut hosts = self.hosts();
            if hosts.h2.remove(&host) {
                hosts.mixed.insert(host);
            }
        }
    }

    fn hosts(&self) -> std::sync::MutexGuard<'_, H2Hosts> {
        // Sets of keys stay whole whatever panicked while they were held.
        self.hosts
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// A client with the run's HTTP settings that keeps up to
/// `idle_per_host` idle connections per host; with `h2_only`, one that
/// speaks only HTTP/2.
fn client(http: &HttpConfig, idle_per_host: usize, h2_only: bool) -> Result<reqwest::Client> {
    let mut builder = proxies(reqwest::Client::builder(), &http.proxies)?;
    if h2_only {
        builder = builder.http2_prior_knowledge();
    }
    if let Some(jar) = &http.cookies {
        // One jar for every thread's client: a cookie one answer sets goes
        // with the next request to its domain, whichever thread sends it.
        builder = builder.cookie_provider(jar.clone());
    }
    match &http.tls {
        // The rustls configuration `tls.rs` built (roots, verifier, client
        // certificate, ALPN): reqwest's TLS settings below do not apply.
        Some(Tls::Verified(config)) => {
            builder = builder.tls_backend_preconfigured((**config).clone())
        }
        Some(Tls::Insecure(identity)) => builder = builder.identity(identity.clone()),
        None => {}
    }
    builder
        .user_agent(&http.user_agent)
        .connect_timeout(http.connect_timeout)
        // Redirects are followed by `fetch/request.rs`, hop by hop, so
        // that each hop gets the headers meant for its host.
        .redirect(reqwest::redirect::Policy::none())
        // curl and wget send no Referer either: a redirect must not tell the
        // next host the URL (and its query tokens) that led there.
        .referer(false)
        // A request the server never processed (an HTTP/2 GOAWAY or
        // REFUSED_STREAM) is sent again by haul itself, at once and up to a
        // bound (`retry.rs`): reqwest's own resends of those, twice at
        // most and often on the connection that is going away, are off.
        .retry(reqwest::retry::never())
        // reqwest turns on each decoder its build has (the gzip, brotli and
        // zstd features) and then sends `Accept-Encoding` on every request
        // and decodes what comes: off unless --compressed, so that the
        // bytes saved are the bytes sent. One setting of the client, so it
        // holds for every hop and every range request (`fetch/coding.rs`).
        .gzip(http.compressed)
        .brotli(http.compressed)
        .zstd(http.compressed)
        .danger_accept_invalid_certs(http.insecure)
        .pool_max_idle_per_host(idle_per_host)
        .pool_idle_timeout(Duration::from_secs(30))
        .tcp_nodelay(true)
        .build()
        .context("cannot build the HTTP client")
}

/// `-x`/`--noproxy`: the builder's proxies instead of the environment's.
fn proxies(builder: reqwest::ClientBuilder, proxies: &Proxies) -> Result<reqwest::ClientBuilder> {
    let Proxies::Given(list) = proxies else {
        return Ok(match proxies {
            Proxies::Off => builder.no_proxy(),
            _ => builder,
        });
    };
    // No system proxies, then these, the most specific first.
    let ProxyList {
        http,
        https,
        all,
        direct,
    } = &**list;
    let mut builder = builder.no_proxy();
    let direct = direct.as_deref().and_then(reqwest::NoProxy::from_string);
    type Make = fn(&str) -> reqwest::Result<reqwest::Proxy>;
    let given: [(&Option<Url>, Make); 3] = [
        (http, |url| reqwest::Proxy::http(url)),
        (https, |url| reqwest::Proxy::https(url)),
        (all, |url| reqwest::Proxy::all(url)),
    ];
    for (url, make) in given {
        let Some(url) = url else { continue };
        let proxy = make(url.as_str())
            .map_err(|e| anyhow::anyhow!("cannot use the proxy {}: {e}", masked(url)))?;
        builder = builder.proxy(proxy.no_proxy(direct.clone()));
    }
    Ok(builder)
}

/// A reqwest error without the URL it carries (which may hold a password):
/// the failure line names the URL, masked. A redirect target is named,
/// masked.
pub(crate) fn network_error(err: reqwest::Error, url: &Url) -> anyhow::Error {
    let elsewhere = err.url().filter(|at| *at != url).map(masked);
    let err = anyhow::Error::new(err.without_url());
    match elsewhere {
        Some(at) => err.context(format!("at {at}")),
        None => err,
    }
}
