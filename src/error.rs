//! What kind of failure an attempt ended in, and what follows from it:
//! whether to retry, after how long, and whether the failure concerns every
//! download (a full or read-only disk) rather than one. The kinds are set
//! where the failure happens (`fetch.rs`), with reqwest errors sorted by
//! their own predicates.

use std::io;
use std::time::{Duration, SystemTime};

use reqwest::header::{HeaderMap, RETRY_AFTER};

/// The longest haul ever waits before a retry, whatever the backoff or a
/// `Retry-After` header says.
pub(crate) const MAX_WAIT: Duration = Duration::from_secs(60);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum FailureKind {
    /// The server answered with an error status.
    Http(u16),
    /// Connecting, a reset, a timeout, a stall or a truncated body.
    Network,
    /// More redirects than `--max-redirects` allows: final.
    Redirects,
    /// Writing the file failed; `storage` when the whole disk is at fault.
    Write { storage: bool },
    /// The body's digest did not match: retried once from zero.
    Checksum,
    /// Refused before or without a transfer (unsafe name, bad input).
    Refused,
    /// Stopped by Ctrl-C, SIGTERM or `--fail-fast`.
    Cancelled,
}

impl FailureKind {
    /// The kinds `--retries` applies to.
    pub(crate) fn is_transient(self) -> bool {
        match self {
            FailureKind::Http(status) => {
                matches!(status, 408 | 425 | 429 | 500 | 502 | 503 | 504)
            }
            FailureKind::Network => true,
            _ => false,
        }
    }

    /// Sorts a reqwest error: too many redirects is final, the rest (connect,
    /// timeout, reset, body) is the network's fault and worth a retry.
    pub(crate) fn of_reqwest(err: &reqwest::Error) -> FailureKind {
        if err.is_redirect() {
            FailureKind::Redirects
        } else if err.is_builder() {
            FailureKind::Refused
        } else {
            FailureKind::Network
        }
    }

    /// Sorts a write error: a full, read-only or over-quota disk fails every
    /// download that follows, so the run stops instead of trying them all.
    pub(crate) fn of_write(err: &anyhow::Error) -> FailureKind {
        let storage = err
            .chain()
            .filter_map(|e| e.downcast_ref::<io::Error>())
            .any(|e| {
                matches!(
                    e.kind(),
                    io::ErrorKind::StorageFull
                        | io::ErrorKind::ReadOnlyFilesystem
                        | io::ErrorKind::QuotaExceeded
                )
            });
        FailureKind::Write { storage }
    }
}

/// The wait a `Retry-After` header asks for: delay-seconds or an HTTP date.
pub(crate) fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let value = headers.get(RETRY_AFTER)?.to_str().ok()?.trim();
    if let Ok(secs) = value.parse::<u64>() {
        return Some(Duration::from_secs(secs).min(MAX_WAIT));
    }
    let at = httpdate::parse_http_date(value).ok()?;
    Some(
        at.duration_since(SystemTime::now())
            .unwrap_or(Duration::ZERO)
            .min(MAX_WAIT),
    )
}

/// Exponential backoff with full jitter: the `retry`th retry (1-based) waits
/// a uniform random time in `[0, min(MAX_WAIT, base * 2^(retry-1))]`.
pub(crate) fn backoff(base: Duration, retry: u32) -> Duration {
    let ceiling = base
        .saturating_mul(1u32 << retry.saturating_sub(1).min(20))
        .min(MAX_WAIT);
    ceiling.mul_f64(fastrand::f64())
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::HeaderValue;

    #[test]
    fn transient_kinds() {
        for status in [408, 425, 429, 500, 502, 503, 504] {
            assert!(FailureKind::Http(status).is_transient(), "{status}");
        }
        for status in [400, 401, 403, 404, 410, 416, 501, 505] {
            assert!(!FailureKind::Http(status).is_transient(), "{status}");
        }
        assert!(FailureKind::Network.is_transient());
        assert!(!FailureKind::Checksum.is_transient());
        assert!(!FailureKind::Write { storage: false }.is_transient());
        assert!(!FailureKind::Redirects.is_transient());
    }

    #[test]
    fn write_errors_on_a_full_disk_concern_everything() {
        let full = anyhow::Error::from(io::Error::from(io::ErrorKind::StorageFull))
            .context("cannot write out/a.part");
        assert_eq!(
            FailureKind::of_write(&full),
            FailureKind::Write { storage: true }
        );
        let denied = anyhow::Error::from(io::Error::from(io::ErrorKind::PermissionDenied));
        assert_eq!(
            FailureKind::of_write(&denied),
            FailureKind::Write { storage: false }
        );
    }

    #[test]
    fn retry_after_forms() {
        let mut headers = HeaderMap::new();
        assert_eq!(retry_after(&headers), None);
        headers.insert(RETRY_AFTER, HeaderValue::from_static("7"));
        assert_eq!(retry_after(&headers), Some(Duration::from_secs(7)));
        headers.insert(RETRY_AFTER, HeaderValue::from_static("86400"));
        assert_eq!(retry_after(&headers), Some(MAX_WAIT));
        let soon = SystemTime::now() + Duration::from_secs(30);
        headers.insert(
            RETRY_AFTER,
            HeaderValue::from_str(&httpdate::fmt_http_date(soon)).unwrap(),
        );
        let wait = retry_after(&headers).unwrap();
        assert!(
            wait > Duration::from_secs(27) && wait <= Duration::from_secs(30),
            "{wait:?}"
        );
        headers.insert(
            RETRY_AFTER,
            HeaderValue::from_static("Thu, 01 Jan 1970 00:00:00 GMT"),
        );
        assert_eq!(retry_after(&headers), Some(Duration::ZERO));
        headers.insert(RETRY_AFTER, HeaderValue::from_static("soon"));
        assert_eq!(retry_after(&headers), None);
    }

    #[test]
    fn backoff_is_jittered_under_a_growing_cap() {
        let base = Duration::from_secs(1);
        for retry in 1..=10 {
            let cap = (base * 2u32.pow(retry - 1)).min(MAX_WAIT);
            for _ in 0..50 {
                assert!(backoff(base, retry) <= cap);
            }
        }
        // Jitter: not every draw is the same.
        let draws: Vec<_> = (0..20).map(|_| backoff(base, 3)).collect();
        assert!(draws.iter().any(|d| *d != draws[0]));
        assert_eq!(backoff(Duration::ZERO, 5), Duration::ZERO);
        assert!(backoff(base, 1000) <= MAX_WAIT);
    }
}
