//! The retry story, whole: which failures earn another attempt (the
//! transient kinds, up to `--retries`; exactly one more after a checksum
//! mismatch, whatever `--retries` says; a request the server never
//! processed is sent again at once, up to [`MAX_RESENDS`] times, and is
//! no attempt), how long to wait (exponential
//! backoff with full jitter from `--retry-wait`, or what `Retry-After`
//! asks, both capped at [`MAX_WAIT`]), and which hosts asked everyone to
//! wait (a 429 or 503 with `Retry-After`). It decides and keeps the data
//! (the queue of waiting downloads, the paused hosts); the runner applies
//! it (parks a task without holding a slot, holds back a paused host's
//! downloads). It does not classify failures (`error.rs`).

use std::collections::BinaryHeap;
use std::time::{Duration, Instant, SystemTime};

use reqwest::header::{HeaderMap, RETRY_AFTER};

use crate::error::FailureKind;

/// The longest haul ever waits before a retry, whatever the backoff or a
/// `Retry-After` header says.
pub(crate) const MAX_WAIT: Duration = Duration::from_secs(60);

/// `--retries` and `--retry-wait`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Policy {
    pub(crate) retries: u32,
    pub(crate) base: Duration,
}

/// What one download's retries have used up.
#[derive(Debug, Default)]
pub(crate) struct Budget {
    retries_used: u32,
    checksum_retry_used: bool,
    /// Waits for a file descriptor so far (they cost no retry).
    descriptor_waits: u32,
    /// Requests the server never processed, sent again so far (they cost
    /// no retry).
    resends: u32,
}

/// How long a download waits for a file descriptor before it tries again,
/// and how often at most (about ten minutes in all) before running out of
/// them counts as this download's failure.
const DESCRIPTOR_WAIT: Duration = Duration::from_millis(100);
const MAX_DESCRIPTOR_WAITS: u32 = 6000;

/// How often at most one download's request is sent again for free after
/// the server did not process it. An HTTP/2 server rotating its
/// connections refuses what waits on one when it goes away, and one with a
/// small stream limit refuses what a new connection opens before its
/// limit is known: a request far back in a long queue meets that once per
/// connection the queue needs, so the bound is generous. Past it, such a
/// failure counts like a network failure, so a server that refuses
/// everything cannot keep haul busy forever (each resend is one quick
/// round trip).
pub(crate) const MAX_RESENDS: u32 = 100;

/// Another attempt, after `wait`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Retry {
    pub(crate) wait: Duration,
    /// The server asked the whole host to wait (429/503 + Retry-After).
    pub(crate) pause_host: bool,
    /// The server never processed the request: it is sent again at once
    /// and the attempt does not count.
    pub(crate) resend: bool,
}

impl Budget {
    /// Requests sent again for free so far (the server never processed
    /// them).
    pub(crate) fn resends(&self) -> u32 {
        self.resends
    }

    /// Whether a failure of `kind`, whose `Retry-After` asked for
    /// `retry_after`, earns another attempt, and when; spends the budget it
    /// takes. (A round of a file's several URLs is judged by the failure
    /// `mirrors.rs` names.)
    pub(crate) fn next(
        &mut self,
        policy: Policy,
        kind: FailureKind,
        retry_after: Option<Duration>,
    ) -> Option<Retry> {
        if kind == FailureKind::Descriptors && self.descriptor_waits < MAX_DESCRIPTOR_WAITS {
            // Back-pressure, not a failure: other downloads free theirs.
            self.descriptor_waits += 1;
            return Some(Retry {
                wait: DESCRIPTOR_WAIT.mul_f64(0.5 + fastrand::f64()),
                pause_host: false,
                resend: false,
            });
        }
        if kind == FailureKind::Unprocessed && self.resends < MAX_RESENDS {
            // Nothing happened at the server: no backoff, no retry spent.
            self.resends += 1;
            return Some(Retry {
                wait: Duration::ZERO,
                pause_host: false,
                resend: true,
            });
        }
        if kind == FailureKind::Checksum && !self.checksum_retry_used {
            // Exactly one more attempt from zero (the `.part` was removed,
            // so nothing is resumed).
            self.checksum_retry_used = true;
            return Some(Retry {
                wait: Duration::ZERO,
                pause_host: false,
                resend: false,
            });
        }
        if !is_transient(kind) || self.retries_used >= policy.retries {
            return None;
        }
        self.retries_used += 1;
        Some(match retry_after {
            Some(wait) => Retry {
                wait,
                pause_host: matches!(kind, FailureKind::Http(429 | 503)),
                resend: false,
            },
            None => Retry {
                wait: backoff(policy.base, self.retries_used),
                pause_host: false,
                resend: false,
            },
        })
    }
}

/// The kinds `--retries` applies to (a request the server never processed
/// once its free resends are spent).
pub(crate) fn is_transient(kind: FailureKind) -> bool {
    match kind {
        FailureKind::Http(status) => matches!(status, 408 | 425 | 429 | 500 | 502 | 503 | 504),
        FailureKind::Network | FailureKind::Unprocessed => true,
        _ => false,
    }
}

/// Downloads waiting for their retry, earliest first (in the order they
/// came when their times are equal). They hold no `--jobs` slot meanwhile.
#[derive(Debug)]
pub(crate) struct Waiting<T> {
    heap: BinaryHeap<Entry<T>>,
    seq: u64,
}

impl<T> Default for Waiting<T> {
    fn default() -> Self {
        Waiting {
            heap: BinaryHeap::new(),
            seq: 0,
        }
    }
}

impl<T> Waiting<T> {
    pub(crate) fn push(&mut self, at: Instant, item: T) {
        self.seq += 1;
        self.heap.push(Entry {
            at,
            seq: self.seq,
            item,
        });
    }

    /// When the earliest waits until.
    pub(crate) fn next_at(&self) -> Option<Instant> {
        self.heap.peek().map(|e| e.at)
    }

    /// The earliest, if its time has come by `now`.
    pub(crate) fn pop_due(&mut self, now: Instant) -> Option<T> {
        if self.heap.peek()?.at > now {
            return None;
        }
        self.heap.pop().map(|e| e.item)
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.heap.is_empty()
    }

    /// Everything still waiting, in no particular order.
    pub(crate) fn drain(&mut self) -> impl Iterator<Item = T> + '_ {
        self.heap.drain().map(|e| e.item)
    }
}

#[derive(Debug)]
struct Entry<T> {
    at: Instant,
    seq: u64,
    item: T,
}

impl<T> PartialEq for Entry<T> {
    fn eq(&self, other: &Self) -> bool {
        (self.at, self.seq) == (other.at, other.seq)
    }
}

impl<T> Eq for Entry<T> {}

impl<T> PartialOrd for Entry<T> {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl<T> Ord for Entry<T> {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        // BinaryHeap is a max-heap: reversed for the earliest first.
        (other.at, other.seq).cmp(&(self.at, self.seq))
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
    use crate::outcome::Failure;
    use reqwest::header::HeaderValue;

    #[test]
    fn transient_kinds() {
        for status in [408, 425, 429, 500, 502, 503, 504] {
            assert!(is_transient(FailureKind::Http(status)), "{status}");
        }
        for status in [400, 401, 403, 404, 410, 416, 501, 505] {
            assert!(!is_transient(FailureKind::Http(status)), "{status}");
        }
        assert!(is_transient(FailureKind::Network));
        assert!(!is_transient(FailureKind::Checksum));
        assert!(!is_transient(FailureKind::Write { storage: false }));
        assert!(!is_transient(FailureKind::Redirects));
        assert!(!is_transient(FailureKind::Certificate));
    }

    #[test]
    fn the_budget_spends_retries_and_one_checksum_retry() {
        let policy = Policy {
            retries: 2,
            base: Duration::ZERO,
        };
        let failure = |kind| Failure::new(kind, None, anyhow::anyhow!("x"));
        let mut budget = Budget::default();
        let checksum = failure(FailureKind::Checksum);
        assert!(
            budget
                .next(policy, checksum.kind, checksum.retry_after)
                .is_some()
        );
        assert_eq!(
            budget.next(policy, checksum.kind, checksum.retry_after),
            None,
            "only one"
        );
        let network = failure(FailureKind::Network);
        assert!(
            budget
                .next(policy, network.kind, network.retry_after)
                .is_some()
        );
        assert!(
            budget
                .next(policy, network.kind, network.retry_after)
                .is_some()
        );
        assert_eq!(
            budget.next(policy, network.kind, network.retry_after),
            None,
            "--retries 2"
        );
        assert_eq!(
            Budget::default().next(policy, FailureKind::Http(404), None),
            None
        );

        let mut busy = failure(FailureKind::Http(503));
        busy.retry_after = Some(Duration::from_secs(3));
        let retry = Budget::default()
            .next(policy, busy.kind, busy.retry_after)
            .unwrap();
        assert_eq!(
            (retry.wait, retry.pause_host),
            (Duration::from_secs(3), true)
        );
    }

    #[test]
    fn a_request_never_processed_is_resent_at_once_a_bounded_number_of_times() {
        let policy = Policy {
            retries: 1,
            base: Duration::from_secs(1),
        };
        let mut budget = Budget::default();
        for _ in 0..MAX_RESENDS {
            assert_eq!(
                budget.next(policy, FailureKind::Unprocessed, None),
                Some(Retry {
                    wait: Duration::ZERO,
                    pause_host: false,
                    resend: true,
                })
            );
        }
        // Then it counts like a network failure: --retries 1 allows one.
        let retry = budget.next(policy, FailureKind::Unprocessed, None).unwrap();
        assert!(!retry.resend);
        assert_eq!(budget.next(policy, FailureKind::Unprocessed, None), None);
        // Free resends spend no retry.
        let mut budget = Budget::default();
        budget.next(policy, FailureKind::Unprocessed, None);
        assert!(budget.next(policy, FailureKind::Network, None).is_some());
        assert_eq!(budget.next(policy, FailureKind::Network, None), None);
    }

    #[test]
    fn the_earliest_due_comes_first_and_ties_keep_their_order() {
        let mut waiting = Waiting::default();
        let now = Instant::now();
        waiting.push(now + Duration::from_secs(2), "late");
        waiting.push(now, "first");
        waiting.push(now, "second");
        assert_eq!(waiting.next_at(), Some(now));
        assert_eq!(waiting.pop_due(now), Some("first"));
        assert_eq!(waiting.pop_due(now), Some("second"));
        assert_eq!(waiting.pop_due(now), None, "not due yet");
        assert_eq!(waiting.drain().collect::<Vec<_>>(), ["late"]);
        assert!(waiting.is_empty());
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
