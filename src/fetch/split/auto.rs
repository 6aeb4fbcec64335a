//! `--split auto`: how many connections a file gets, decided from its rate.
//! Pure: the download samples what it sees ([`Sample`]) every
//! [`TICK`] and asks [`Growth::more`] how many connections to add.
//!
//! The first step adds one connection, to see how the rate scales. When
//! each added connection brought about as much as one alone
//! ([`LINEAR`]), twice in a row, the server caps connections and the file
//! gets [`MAX`] at once; when the rate rose by [`GAIN`], the connections
//! double; otherwise they stop growing for good. An uncapped server gets
//! one or two, a capping one as many as help.

use std::time::{Duration, Instant};

/// The most connections `auto` gives a file.
pub(super) const MAX: u32 = 8;
/// How often the download samples its rate.
pub(super) const TICK: Duration = Duration::from_millis(25);
/// The rate is measured over windows this long, each starting once the
/// connections asked for deliver bytes...
const WINDOW: Duration = Duration::from_millis(100);
/// ...or this long after they were asked for, if they do not all deliver.
const OPEN_WAIT: Duration = Duration::from_secs(2);
/// The gain worth doubling for.
const GAIN: f64 = 1.3;
/// The share of one connection's rate each added one must bring for the
/// server to count as capping connections.
const LINEAR: f64 = 0.85;

/// What the download sees at one moment.
#[derive(Debug, Clone, Copy)]
pub(super) struct Sample {
    /// Connections open, the first included.
    pub(super) open: u32,
    /// Connections delivering bytes.
    pub(super) flowing: u32,
    /// Whether another connection would find work.
    pub(super) has_work: bool,
    /// Bytes of the file on disk.
    pub(super) bytes: u64,
}

pub(super) struct Growth {
    /// The window's start and the bytes on disk then.
    at: Instant,
    bytes: u64,
    /// When the last step asked for connections, how many were open then
    /// and how many it asked for.
    asked_at: Instant,
    before: u32,
    asked: u32,
    /// The rate measured before the last step.
    last_rate: Option<f64>,
    /// The last step brought about as much per connection as one alone.
    linear: bool,
    done: bool,
}

impl Growth {
    pub(super) fn new(bytes: u64, now: Instant) -> Growth {
        Growth {
            at: now,
            bytes,
            asked_at: now,
            before: 1,
            asked: 1,
            last_rate: None,
            linear: false,
            done: false,
        }
    }

    /// Connections to add now.
    pub(super) fn more(&mut self, seen: Sample, now: Instant) -> u32 {
        if self.done {
            return 0;
        }
        let open = seen.open.max(1);
        if seen.flowing < self.asked && now.duration_since(self.asked_at) < OPEN_WAIT {
            // The window starts once they all deliver.
            self.at = now;
            self.bytes = seen.bytes;
            return 0;
        }
        let elapsed = now.duration_since(self.at);
        if elapsed < WINDOW {
            return 0;
        }
        let rate = seen.bytes.saturating_sub(self.bytes) as f64 / elapsed.as_secs_f64();
        self.at = now;
        self.bytes = seen.bytes;
        let target = match self.last_rate {
            None => open + 1,
            Some(last) => {
                let gain = rate / last.max(1.0);
                let linear = gain / (open as f64 / self.before as f64) >= LINEAR;
                // Twice linear before the jump: one lucky window on a
                // server that does not cap must not bring eight.
                if linear && self.linear {
                    MAX
                } else if linear || gain >= GAIN {
                    self.linear = linear;
                    open * 2
                } else {
                    0
                }
            }
        };
        let target = target.min(MAX);
        if target <= open || !seen.has_work {
            self.done = true;
            return 0;
        }
        self.last_rate = Some(rate);
        self.before = open;
        self.asked = target;
        self.asked_at = now;
        target - open
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Runs the controller against a server where `n` connections get
    /// `rate(n)` bytes a second and asked connections start delivering one
    /// tick later; returns the connections after `secs`.
    fn settle(rate: impl Fn(u32) -> f64, secs: f64) -> u32 {
        let t0 = Instant::now();
        let mut growth = Growth::new(0, t0);
        let (mut open, mut asked_at, mut bytes) = (1u32, None::<Instant>, 0f64);
        let mut now = t0;
        while now.duration_since(t0).as_secs_f64() < secs {
            now += TICK;
            bytes += rate(open) * TICK.as_secs_f64();
            let flowing = match asked_at {
                Some(at) if now.duration_since(at) < TICK * 2 => 1,
                _ => open,
            };
            let seen = Sample {
                open,
                flowing,
                has_work: true,
                bytes: bytes as u64,
            };
            let more = growth.more(seen, now);
            if more > 0 {
                open += more;
                asked_at = Some(now);
            }
        }
        open
    }

    #[test]
    fn a_server_capping_each_connection_gets_eight_soon() {
        let capped = |n: u32| 64e6 * n as f64;
        assert_eq!(settle(capped, 0.5), MAX);
    }

    #[test]
    fn a_server_that_gives_one_connection_everything_gets_two_at_most() {
        let flat = |_: u32| 1.2e9;
        assert!(settle(flat, 2.0) <= 2);
        // A server whose total grows a little with each connection.
        let shared = |n: u32| 1e8 * (1.0 + 0.1 * n as f64);
        assert!(settle(shared, 2.0) <= 2);
    }

    #[test]
    fn a_server_that_scales_partly_gets_doubled_connections_while_it_pays() {
        // Linear up to four connections, flat beyond.
        let four = |n: u32| 5e7 * n.min(4) as f64;
        let n = settle(four, 2.0);
        assert!((4..=MAX).contains(&n), "{n}");
    }

    #[test]
    fn no_work_left_means_no_more_connections() {
        let t0 = Instant::now();
        let mut growth = Growth::new(0, t0);
        let seen = Sample {
            open: 1,
            flowing: 1,
            has_work: false,
            bytes: 1 << 20,
        };
        assert_eq!(growth.more(seen, t0 + WINDOW * 2), 0);
    }
}
