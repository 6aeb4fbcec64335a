//! A host as every per-host policy sees it (`--per-host`, `--rate`, a
//! `Retry-After` pause, the retry warnings): `host:port` after URL
//! normalisation, as one key type, hashed once per process so that the
//! same host is the same key everywhere and no string is built on the
//! common path.

use std::hash::{BuildHasher, RandomState};
use std::sync::OnceLock;

use url::Url;

/// `host:port` of a URL, as a key.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) struct Host(u64);

impl Host {
    pub(crate) fn of(url: &Url) -> Host {
        static KEYS: OnceLock<RandomState> = OnceLock::new();
        let keys = KEYS.get_or_init(RandomState::new);
        Host(keys.hash_one((url.host_str(), url.port_or_known_default())))
    }
}

/// `host:port` of a URL, for messages.
pub(crate) fn name(url: &Url) -> String {
    format!(
        "{}:{}",
        url.host_str().unwrap_or_default(),
        url.port_or_known_default().unwrap_or_default()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_host_one_key_after_normalisation() {
        let url = |s: &str| Url::parse(s).unwrap();
        assert_eq!(
            Host::of(&url("http://h/a")),
            Host::of(&url("http://H:80/b"))
        );
        assert_ne!(
            Host::of(&url("http://h/a")),
            Host::of(&url("http://h:81/a"))
        );
        assert_ne!(Host::of(&url("http://h/a")), Host::of(&url("https://h/a")));
        assert_eq!(name(&url("https://h/a")), "h:443");
    }
}
