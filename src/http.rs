//! HTTP: the client every transfer thread builds with one set of settings
//! (redirect limit, no `Referer`, TLS verification, timeouts, pool size),
//! what one transfer needs besides ([`Ctx`]: the settings, the output
//! folder, the name registry, the progress handle, the stop signal), and
//! the one place where an HTTP library error becomes a message (stripped
//! of the URL it carries, which may hold a password). It does not decide
//! what to request (`fetch/`) or when (`runner.rs`).

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};
use reqwest::header::HeaderMap;
use tokio_util::sync::CancellationToken;
use url::Url;

use crate::claims::Claims;
use crate::config::{Config, HttpConfig};
use crate::limit::{ByteBudget, ByteRate};
use crate::outdir::OutDir;
use crate::progress::Handle;
use crate::redact::masked;
use crate::retry::Policy;
use crate::state::State;

/// What a transfer thread's downloads share.
pub(crate) struct Ctx {
    pub(crate) config: Arc<Config>,
    /// This thread's client: its connections stay on its thread.
    pub(crate) client: reqwest::Client,
    /// `-H` headers, set on every request (repeats kept, and they win over
    /// the client's defaults such as User-Agent).
    pub(crate) headers: HeaderMap,
    /// `--dir`: every file access of a download goes through it.
    pub(crate) out: Arc<OutDir>,
    /// Names taken by downloads; a `Content-Disposition` name is claimed
    /// here when the answer arrives.
    pub(crate) claims: Arc<Claims>,
    pub(crate) progress: Handle,
    /// What every transfer thread shares besides: `--limit-rate`,
    /// `--max-bytes`, `--state`.
    pub(crate) shared: Shared,
    /// Cancelled on Ctrl-C, SIGTERM or `--fail-fast`: attempts in flight
    /// stop, keeping their `.part`.
    pub(crate) cancel: CancellationToken,
}

/// What the transfer threads share for the whole run.
#[derive(Clone, Default)]
pub(crate) struct Shared {
    /// `--limit-rate`.
    pub(crate) limit: Option<Arc<ByteRate>>,
    /// `--max-bytes`.
    pub(crate) budget: Option<Arc<ByteBudget>>,
    /// `--state`.
    pub(crate) state: Option<Arc<State>>,
    /// `--split`: downloads that ask the runner for more connections.
    pub(crate) splits: Option<tokio::sync::mpsc::UnboundedSender<Arc<dyn MoreConnections>>>,
}

impl Shared {
    /// Asks the runner to start connections for `download` as slots allow.
    pub(crate) fn ask_connections(&self, download: Arc<dyn MoreConnections>) {
        if let Some(splits) = &self.splits {
            let _ = splits.send(download);
        }
    }
}

/// A download that can use more connections (`--split`, `fetch/split/`):
/// the runner starts them, each holding a slot, as the slot accounting
/// allows.
pub(crate) trait MoreConnections: Send + Sync {
    /// Where the connections go (for `--per-host`, `--rate`, host pauses).
    fn url(&self) -> &Url;
    /// Whether another connection would be used now.
    fn wants_connection(&self) -> bool;
    /// The runner starts one: the download counts it as asked for.
    fn starting(&self);
    /// One more connection, run on a transfer thread with its `ctx` until
    /// it finds no work.
    fn connection(self: Arc<Self>, ctx: Arc<Ctx>) -> Pin<Box<dyn Future<Output = ()> + Send>>;
}

impl Ctx {
    /// A context with a new client that keeps up to `idle_per_host` idle
    /// connections per host.
    pub(crate) fn new(
        config: Arc<Config>,
        out: Arc<OutDir>,
        claims: Arc<Claims>,
        progress: Handle,
        shared: Shared,
        cancel: CancellationToken,
        idle_per_host: usize,
    ) -> Result<Ctx> {
        Ok(Ctx {
            shared,
            client: client(&config.http, idle_per_host)?,
            headers: config.http.headers.iter().cloned().collect(),
            config,
            out,
            claims,
            progress,
            cancel,
        })
    }

    pub(crate) fn http(&self) -> &HttpConfig {
        &self.config.http
    }

    pub(crate) fn retry_policy(&self) -> Policy {
        Policy {
            retries: self.config.http.retries,
            base: self.config.http.retry_wait,
        }
    }
}

fn client(http: &HttpConfig, idle_per_host: usize) -> Result<reqwest::Client> {
    let max_redirects = http.max_redirects;
    let policy = reqwest::redirect::Policy::custom(move |attempt| {
        // `previous()` holds every URL requested so far, the first included.
        if attempt.previous().len() > max_redirects {
            attempt.error(format!(
                "more than {max_redirects} redirects (--max-redirects)"
            ))
        } else {
            attempt.follow()
        }
    });
    reqwest::Client::builder()
        .user_agent(&http.user_agent)
        .connect_timeout(http.connect_timeout)
        .redirect(policy)
        // curl and wget send no Referer either: a redirect must not tell the
        // next host the URL (and its query tokens) that led there.
        .referer(false)
        .danger_accept_invalid_certs(http.insecure)
        .pool_max_idle_per_host(idle_per_host)
        .pool_idle_timeout(Duration::from_secs(30))
        .tcp_nodelay(true)
        .build()
        .context("cannot build the HTTP client")
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
