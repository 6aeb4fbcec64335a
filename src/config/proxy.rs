//! `-x`/`--proxy` and `--noproxy` over the environment's proxy variables:
//! which proxies the requests go through, resolved once (`http.rs` hands
//! them to reqwest). Without either flag reqwest reads the variables
//! itself; with `--noproxy` alone they are read here, so that its list can
//! replace `NO_PROXY`. A proxy's password is registered as a secret.

use anyhow::{Context, Result, bail};

use crate::cli::Cli;
use crate::redact::masked_text;

/// Which proxies the requests go through.
#[derive(Clone, PartialEq, Eq)]
pub(crate) enum Proxies {
    /// The environment's (`HTTP_PROXY`, `HTTPS_PROXY`, `ALL_PROXY`,
    /// `NO_PROXY`, in either case), read by reqwest.
    Environment,
    /// None (`--noproxy '*'`).
    Off,
    /// These (`-x`, or `--noproxy` with the environment's proxies).
    Given(Box<ProxyList>),
}

/// Proxies for `http://` URLs, `https://` URLs, and all, in that order; the
/// hosts in `direct` reached without one.
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct ProxyList {
    pub(crate) http: Option<url::Url>,
    pub(crate) https: Option<url::Url>,
    pub(crate) all: Option<url::Url>,
    pub(crate) direct: Option<String>,
}

/// A proxy's password is a secret: never shown.
impl std::fmt::Debug for Proxies {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Proxies::Environment => f.write_str("Environment"),
            Proxies::Off => f.write_str("Off"),
            Proxies::Given(list) => {
                let ProxyList {
                    http,
                    https,
                    all,
                    direct,
                } = &**list;
                let shown = |url: &Option<url::Url>| url.as_ref().map(crate::redact::masked);
                f.debug_struct("Given")
                    .field("http", &shown(http))
                    .field("https", &shown(https))
                    .field("all", &shown(all))
                    .field("direct", direct)
                    .finish()
            }
        }
    }
}

/// `-x` and `--noproxy` over the environment: `-x` is the proxy of every
/// request (the hosts of `--noproxy`, else of `NO_PROXY`, excepted; `-x ''`
/// is none, as curl has it); `--noproxy` alone keeps the environment's
/// proxies with its own list instead of `NO_PROXY` (a variable haul cannot
/// use is then a warning, as reqwest ignores one); `*` as the list turns
/// every proxy off.
pub(super) fn proxies(cli: &Cli, warnings: &mut Vec<String>) -> Result<Proxies> {
    let env = |names: [&str; 2]| {
        names
            .into_iter()
            .find_map(|name| std::env::var(name).ok().filter(|v| !v.trim().is_empty()))
    };
    let direct = cli.noproxy.clone().or_else(|| {
        cli.proxy
            .as_ref()
            .and_then(|_| env(["NO_PROXY", "no_proxy"]))
    });
    if direct.as_deref().map(str::trim) == Some("*") {
        return Ok(Proxies::Off);
    }
    if let Some(given) = &cli.proxy {
        if given.trim().is_empty() {
            return Ok(Proxies::Off);
        }
        return Ok(Proxies::Given(Box::new(ProxyList {
            http: None,
            https: None,
            all: Some(proxy_url(given, "-x/--proxy")?),
            direct,
        })));
    }
    if cli.noproxy.is_none() {
        return Ok(Proxies::Environment);
    }
    // As reqwest reads them: the upper-case name first.
    let mut from_env = |names: [&str; 2]| {
        let value = env(names)?;
        proxy_url(&value, names[0])
            .map_err(|err| warnings.push(format!("{err:#}; not used")))
            .ok()
    };
    Ok(Proxies::Given(Box::new(ProxyList {
        http: from_env(["HTTP_PROXY", "http_proxy"]),
        https: from_env(["HTTPS_PROXY", "https_proxy"]),
        all: from_env(["ALL_PROXY", "all_proxy"]),
        direct,
    })))
}

/// A proxy URL (`http://` when it names no scheme), its password kept
/// secret from everything haul prints.
fn proxy_url(given: &str, what: &str) -> Result<url::Url> {
    let text = given.trim();
    let text = match text.contains("://") {
        true => text.to_string(),
        false => format!("http://{text}"),
    };
    let url = url::Url::parse(&text)
        .with_context(|| format!("invalid {what} URL '{}'", masked_text(given)))?;
    if let Some(password) = url.password() {
        let decoded = percent_encoding::percent_decode_str(password).decode_utf8_lossy();
        crate::redact::keep_secret(&decoded);
        crate::redact::keep_secret(password);
    }
    if !matches!(
        url.scheme(),
        "http" | "https" | "socks5" | "socks5h" | "socks4" | "socks4a"
    ) {
        bail!(
            "invalid {what} URL '{}': the scheme must be http, https, socks5, socks5h, socks4 \
             or socks4a",
            masked_text(given)
        );
    }
    if url.host_str().is_none_or(str::is_empty) {
        bail!("invalid {what} URL '{}': no host", masked_text(given));
    }
    Ok(url)
}
