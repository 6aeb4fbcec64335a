//! Limits on bytes. [`ByteBudget`] is `--max-bytes`: the body bytes a run
//! may receive, counted by every download; once spent, the runner stops the
//! run (as on Ctrl-C, exit 3).
//!
//! [`ByteRate`] is `--limit-rate`: one cap on the body bytes per second of all downloads
//! together, shared by the transfer threads. Each download, having
//! received a chunk, asks [`ByteRate::take`] how long to wait before it
//! reads the next one; TCP's flow control then slows the senders. The
//! schedule is a virtual clock (GCRA): every byte moves the time at which
//! the next one is due by `1 / rate`; a download waits for the part of that
//! time that lies more than [`BURST`] ahead of now. So over any window the
//! bytes received stay within the rate plus one burst and one chunk per
//! download in flight. Without the flag there is no limiter at all.

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::{Duration, Instant};

use tokio::sync::Notify;

/// `--max-bytes`: what a run may receive.
#[derive(Debug)]
pub(crate) struct ByteBudget {
    limit: u64,
    used: AtomicU64,
    spent: Notify,
}

impl ByteBudget {
    pub(crate) fn new(limit: u64) -> ByteBudget {
        ByteBudget {
            limit,
            used: AtomicU64::new(0),
            spent: Notify::new(),
        }
    }

    /// Counts `bytes` received; `true` once the budget is spent (and tells
    /// the runner, the first time).
    pub(crate) fn add(&self, bytes: u64) -> bool {
        let before = self.used.fetch_add(bytes, Relaxed);
        let spent = before + bytes >= self.limit;
        if spent && before < self.limit {
            // A stored permit: the runner need not be waiting yet.
            self.spent.notify_one();
        }
        spent
    }

    /// Resolves once the budget is spent.
    pub(crate) async fn spent(&self) {
        self.spent.notified().await;
    }
}

/// How far ahead of now the schedule may run before a download waits: the
/// burst allowed after a quiet moment.
const BURST: Duration = Duration::from_millis(100);

#[derive(Debug)]
pub(crate) struct ByteRate {
    /// Bytes per second.
    rate: f64,
    /// When the bytes received so far are "paid for".
    due: Mutex<Instant>,
}

impl ByteRate {
    pub(crate) fn new(bytes_per_second: u64) -> ByteRate {
        ByteRate {
            rate: bytes_per_second as f64,
            due: Mutex::new(Instant::now()),
        }
    }

    /// Accounts for `bytes` received now; returns how long to wait before
    /// reading more (zero when within the rate).
    pub(crate) fn take(&self, bytes: usize, now: Instant) -> Duration {
        let cost = Duration::from_secs_f64(bytes as f64 / self.rate);
        let mut due = self.due.lock().unwrap_or_else(|e| e.into_inner());
        *due = (*due).max(now) + cost;
        due.saturating_duration_since(now + BURST)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_budget_says_once_when_it_is_spent() {
        let budget = ByteBudget::new(100);
        assert!(!budget.add(60));
        assert!(budget.add(40));
        assert!(budget.add(1), "still spent");
        // The permit was stored: a later wait returns at once.
        tokio::time::timeout(Duration::from_secs(1), budget.spent())
            .await
            .unwrap();
    }

    #[test]
    fn bytes_beyond_the_burst_wait_their_share() {
        let limit = ByteRate::new(1000);
        let t0 = Instant::now();
        // 100 bytes = 100 ms: within the burst.
        assert_eq!(limit.take(100, t0), Duration::ZERO);
        // 500 more: due at 600 ms, 500 ms beyond the burst.
        assert_eq!(limit.take(500, t0), Duration::from_millis(500));
        // A second later the schedule has caught up again.
        assert_eq!(limit.take(50, t0 + Duration::from_secs(2)), Duration::ZERO);
    }

    #[test]
    fn the_rate_holds_over_many_small_chunks() {
        // 10 KiB/s, 100 chunks of 1 KiB taken as fast as allowed: the
        // waits add up to 10 s minus the burst.
        let limit = ByteRate::new(10 * 1024);
        let t0 = Instant::now();
        let mut now = t0;
        for _ in 0..100 {
            now += limit.take(1024, now);
        }
        let took = now - t0;
        assert!(
            took >= Duration::from_millis(9_800) && took <= Duration::from_secs(10),
            "{took:?}"
        );
    }
}
