//! The session as a download sees it: [`Ctx`], what every download on one
//! transfer thread shares (its HTTP client, the download settings, the
//! output folder, the name registry, the progress handle, the stop signal,
//! and what all threads share: `--limit-rate`, `--max-bytes`, `--state`,
//! and the way to ask the runner for more connections). Built once per
//! transfer thread by the runner; read by `fetch/`.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use anyhow::Result;
use tokio_util::sync::CancellationToken;
use url::Url;

use crate::claims::Claims;
use crate::config::{DownloadSettings, HttpConfig};
use crate::http::Clients;
use crate::limit::{ByteBudget, ByteRate};
use crate::outdir::OutDir;
use crate::progress::Handle;
use crate::retry::Policy;
use crate::state::State;

/// What a transfer thread's downloads share.
pub(crate) struct Ctx {
    /// What the flags say of a download.
    pub(crate) settings: Arc<DownloadSettings>,
    /// This thread's clients: their connections stay on its thread.
    pub(crate) clients: Clients,
    /// `--dir`: every file access of a download goes through it.
    pub(crate) out: Arc<OutDir>,
    /// Names taken by downloads; a name the answer gives (its
    /// `Content-Disposition`, the last URL of its redirect chain) is
    /// claimed here when it arrives.
    pub(crate) claims: Arc<Claims>,
    pub(crate) progress: Handle,
    /// What every transfer thread shares besides: `--limit-rate`,
    /// `--max-bytes`, `--state`.
    pub(crate) shared: Shared,
    /// Cancelled on Ctrl-C, SIGTERM or `--fail-fast`: attempts in flight
    /// stop, keeping their `.part`.
    pub(crate) cancel: CancellationToken,
}

/// What the runner hands every transfer thread's context.
#[derive(Clone)]
pub(crate) struct Run {
    pub(crate) out: Arc<OutDir>,
    pub(crate) claims: Arc<Claims>,
    pub(crate) progress: Handle,
    pub(crate) cancel: CancellationToken,
    pub(crate) shared: Shared,
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
    /// Where the next connection goes (for `--per-host`, `--rate`, host
    /// pauses): a file with several URLs may draw ranges from each.
    fn url(&self) -> &Url;
    /// Whether another connection would be used now.
    fn wants_connection(&self) -> bool;
    /// The runner starts one: the download counts it as asked for.
    fn starting(&self);
    /// One more connection to `url` (what [`MoreConnections::url`] said
    /// before [`MoreConnections::starting`]), run on a transfer thread with
    /// its `ctx` until it finds no work.
    fn connection(
        self: Arc<Self>,
        ctx: Arc<Ctx>,
        url: Url,
    ) -> Pin<Box<dyn Future<Output = ()> + Send>>;
}

impl Ctx {
    /// A context for one transfer thread, with a client of its own that
    /// keeps up to `idle_per_host` idle connections per host.
    pub(crate) fn new(
        settings: Arc<DownloadSettings>,
        run: Run,
        idle_per_host: usize,
    ) -> Result<Ctx> {
        let Run {
            out,
            claims,
            progress,
            cancel,
            shared,
        } = run;
        Ok(Ctx {
            clients: Clients::new(&settings.http, idle_per_host)?,
            settings,
            out,
            claims,
            progress,
            shared,
            cancel,
        })
    }

    pub(crate) fn http(&self) -> &HttpConfig {
        &self.settings.http
    }

    pub(crate) fn retry_policy(&self) -> Policy {
        Policy {
            retries: self.settings.http.retries,
            base: self.settings.http.retry_wait,
        }
    }
}
