//! The slot accounting every download start goes through: `-j` (downloads
//! in flight), `--per-host` (in flight per `host:port`) and `--rate`
//! (starts per second per host, evenly spaced, slowed down by a 429 that
//! names no Retry-After and recovering by a tenth a minute). The scheduler
//! asks [`Slots::free_for`] before it starts a download (a new one or a
//! retry), calls [`Slots::take`] when it does and [`Slots::give_back`] when
//! the download ends; nothing here waits or schedules. Without `--per-host`
//! and `--rate` no host is looked at: the common case costs a comparison.
//! Running out of file descriptors lowers `-j` for a while
//! ([`Slots::out_of_descriptors`]). A host that asked for a pause (429/503
//! with Retry-After) is paused here too ([`HostPauses`]): this file is
//! where per-host policy lives, keyed by the one host key (`host.rs`);
//! `retry.rs` only says when a failure pauses its host.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use url::Url;

use crate::host::Host;

/// How long a slowed-down host waits before its rate grows by a tenth.
const RECOVERY_STEP: Duration = Duration::from_secs(60);
/// The slowest a 429 makes a host: one start per this long.
const SLOWEST: Duration = Duration::from_secs(60);
/// Running out of file descriptors lowers the number of downloads at once
/// at most this often.
const LOWER_EVERY: Duration = Duration::from_millis(250);

pub(crate) struct Slots {
    jobs: usize,
    used: usize,
    /// Downloads the process has file descriptors for: `jobs`, until it
    /// runs out of them (then lowered, and raised again by one per
    /// `limit` downloads that end).
    limit: usize,
    /// When the limit was last lowered, and the downloads ended since it
    /// last grew.
    lowered_at: Option<Instant>,
    ended: usize,
    /// `--per-host`: the limit, and the downloads in flight per host.
    per_host: Option<(usize, HashMap<Host, usize>)>,
    /// `--rate`: the configured interval between two starts to one host,
    /// and each host's schedule.
    rate: Option<(Duration, HashMap<Host, Pace>)>,
    /// Hosts that asked for a pause (429/503 + Retry-After), until when.
    paused: HostPauses,
}

/// One host's starts under `--rate`.
#[derive(Debug, Clone, Copy)]
struct Pace {
    /// The earliest the next start may be.
    next: Instant,
    /// The interval now (longer than `--rate`'s after a 429).
    interval: Duration,
    /// When the interval last changed, while it is longer than configured.
    slowed_at: Option<Instant>,
}

impl Slots {
    pub(crate) fn new(jobs: usize, per_host: Option<usize>, rate: Option<Duration>) -> Slots {
        Slots {
            jobs,
            used: 0,
            limit: jobs,
            lowered_at: None,
            ended: 0,
            per_host: per_host.map(|n| (n, HashMap::new())),
            rate: rate.map(|interval| (interval, HashMap::new())),
            paused: HostPauses::default(),
        }
    }

    /// Pauses `host` until `at` (a later pause wins).
    pub(crate) fn pause(&mut self, host: Host, at: Instant) {
        self.paused.pause(host, at);
    }

    /// Until when the host of `url` is paused, if it still is. No host is
    /// named while none is paused: the common case costs nothing per file.
    pub(crate) fn paused_until(&mut self, url: &Url) -> Option<Instant> {
        if self.paused.is_empty() {
            return None;
        }
        self.paused.paused_until(Host::of(url))
    }

    /// A `-j` slot is free.
    pub(crate) fn free(&self) -> bool {
        self.used < self.limit
    }

    /// A download found no file descriptor (`EMFILE`): fewer downloads
    /// run at once until they fit, so that those running can finish
    /// instead of all waiting on each other. Lowered at most once per
    /// [`LOWER_EVERY`] (the downloads running into the limit together are
    /// one event).
    pub(crate) fn out_of_descriptors(&mut self, now: Instant) {
        if self
            .lowered_at
            .is_some_and(|at| now.duration_since(at) < LOWER_EVERY)
        {
            return;
        }
        self.lowered_at = Some(now);
        self.limit = (self.used.min(self.limit) * 3 / 4).max(1);
        self.ended = 0;
        tracing::debug!(
            "out of file descriptors: at most {} downloads at once",
            self.limit
        );
    }

    /// Whether some host may have to wait while others start: the runner
    /// then looks further ahead for a download that can start.
    pub(crate) fn limits_hosts(&self) -> bool {
        self.per_host.is_some() || self.rate.is_some()
    }

    /// Whether a download of `url` may start now.
    pub(crate) fn free_for(&self, url: &Url, now: Instant) -> bool {
        if !self.free() {
            return false;
        }
        if !self.limits_hosts() {
            return true;
        }
        let host = Host::of(url);
        let room = self
            .per_host
            .as_ref()
            .is_none_or(|(limit, hosts)| hosts.get(&host).is_none_or(|n| n < limit));
        let due = self
            .rate
            .as_ref()
            .is_none_or(|(_, paces)| paces.get(&host).is_none_or(|p| p.next <= now));
        room && due
    }

    /// Takes a slot for a download of `url` starting `now`; returns its
    /// host's key when hosts are counted.
    pub(crate) fn take(&mut self, url: &Url, now: Instant) -> Option<Host> {
        self.used += 1;
        if !self.limits_hosts() {
            return None;
        }
        let host = Host::of(url);
        if let Some((_, hosts)) = &mut self.per_host {
            *hosts.entry(host).or_default() += 1;
        }
        if let Some((base, paces)) = &mut self.rate {
            let pace = paces.entry(host).or_insert(Pace {
                next: now,
                interval: *base,
                slowed_at: None,
            });
            pace.recover(*base, now);
            pace.next = pace.next.max(now) + pace.interval;
        }
        Some(host)
    }

    pub(crate) fn give_back(&mut self, host: Option<Host>) {
        self.used -= 1;
        if self.limit < self.jobs {
            self.ended += 1;
            if self.ended >= self.limit {
                self.limit += 1;
                self.ended = 0;
            }
        }
        if let (Some(host), Some((_, hosts))) = (host, &mut self.per_host)
            && let Some(n) = hosts.get_mut(&host)
        {
            *n -= 1;
            if *n == 0 {
                hosts.remove(&host);
            }
        }
    }

    /// A 429 without Retry-After from `url`'s host: with `--rate`, halve
    /// its rate (down to one start a minute).
    pub(crate) fn slow_down(&mut self, url: &Url, now: Instant) {
        let host = Host::of(url);
        if let Some((base, paces)) = &mut self.rate {
            let pace = paces.entry(host).or_insert(Pace {
                next: now,
                interval: *base,
                slowed_at: None,
            });
            pace.interval = pace.interval.saturating_mul(2).min(SLOWEST.max(*base));
            pace.slowed_at = Some(now);
            pace.next = pace.next.max(now + pace.interval);
        }
    }

    /// The earliest time after `now` at which a host under `--rate` may
    /// start again: when to look again for a download that waits for one.
    pub(crate) fn next_due(&self, now: Instant) -> Option<Instant> {
        let (_, paces) = self.rate.as_ref()?;
        paces.values().map(|p| p.next).filter(|&t| t > now).min()
    }
}

impl Pace {
    /// A tenth more rate for every [`RECOVERY_STEP`] without a 429, up to
    /// the configured rate.
    fn recover(&mut self, base: Duration, now: Instant) {
        let Some(at) = self.slowed_at else { return };
        let steps = now.saturating_duration_since(at).as_secs() / RECOVERY_STEP.as_secs();
        if steps == 0 {
            return;
        }
        let mut interval = self.interval;
        for _ in 0..steps.min(100) {
            interval = interval.div_f64(1.1);
        }
        if interval <= base {
            self.interval = base;
            self.slowed_at = None;
        } else {
            self.interval = interval;
            self.slowed_at = Some(at + RECOVERY_STEP * steps as u32);
        }
    }
}

/// Hosts (`host:port`) that asked for a pause, until when.
#[derive(Debug, Default)]
struct HostPauses {
    until: HashMap<Host, Instant>,
}

impl HostPauses {
    /// No host is paused: the common case, which costs nothing per file.
    pub(crate) fn is_empty(&self) -> bool {
        self.until.is_empty()
    }

    /// Pauses `host` until `at` (a later pause wins).
    pub(crate) fn pause(&mut self, host: Host, at: Instant) {
        let until = self.until.entry(host).or_insert(at);
        *until = (*until).max(at);
    }

    /// Until when `host` is paused, if it still is (a pause that is over
    /// is forgotten).
    pub(crate) fn paused_until(&mut self, host: Host) -> Option<Instant> {
        let until = *self.until.get(&host)?;
        if until > Instant::now() {
            return Some(until);
        }
        self.until.remove(&host);
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url(s: &str) -> Url {
        Url::parse(s).unwrap()
    }

    #[test]
    fn jobs_and_per_host_limits() {
        let now = Instant::now();
        let mut slots = Slots::new(3, Some(2), None);
        let (a, b) = (url("http://a/1"), url("http://b:80/2"));
        assert!(!Slots::new(3, None, None).limits_hosts());
        let ha = slots.take(&a, now);
        slots.take(&a, now);
        assert!(!slots.free_for(&a, now), "a is at --per-host");
        assert!(slots.free_for(&b, now), "b has room");
        let hb = slots.take(&url("http://b/3"), now);
        assert!(!slots.free(), "-j is full");
        slots.give_back(ha);
        assert!(slots.free_for(&a, now));
        slots.give_back(hb);
        assert!(slots.free_for(&b, now));
    }

    #[test]
    fn rate_spaces_starts_per_host_and_a_429_halves_it() {
        let t0 = Instant::now();
        let ms = Duration::from_millis;
        let mut slots = Slots::new(10, None, Some(ms(100)));
        let (a, b) = (url("http://a/"), url("http://b/"));
        slots.take(&a, t0);
        assert!(!slots.free_for(&a, t0 + ms(99)));
        assert!(slots.free_for(&a, t0 + ms(100)));
        assert!(slots.free_for(&b, t0), "another host is not held back");
        assert_eq!(slots.next_due(t0), Some(t0 + ms(100)));

        slots.slow_down(&a, t0 + ms(100));
        assert!(!slots.free_for(&a, t0 + ms(250)), "200 ms now");
        assert!(slots.free_for(&a, t0 + ms(300)));
        slots.take(&a, t0 + ms(300));
        assert!(!slots.free_for(&a, t0 + ms(499)));

        // A minute without a 429: a tenth faster; after enough, back to 100 ms.
        let later = t0 + ms(300) + RECOVERY_STEP;
        slots.take(&a, later);
        let pace = slots
            .rate
            .as_ref()
            .unwrap()
            .1
            .values()
            .next()
            .copied()
            .unwrap();
        assert!(
            pace.interval < ms(200) && pace.interval > ms(100),
            "{pace:?}"
        );
        slots.take(&a, later + RECOVERY_STEP * 10);
        let pace = *slots.rate.as_ref().unwrap().1.get(&Host::of(&a)).unwrap();
        assert_eq!(pace.interval, ms(100));
        assert_eq!(pace.slowed_at, None);
    }

    #[test]
    fn pauses_end_and_the_later_one_wins() {
        let mut pauses = HostPauses::default();
        let now = Instant::now();
        let host = |s: &str| Host::of(&url::Url::parse(s).unwrap());
        pauses.pause(host("http://h/a"), now + Duration::from_secs(5));
        pauses.pause(host("http://h:80/b"), now + Duration::from_secs(1));
        assert_eq!(
            pauses.paused_until(host("http://h/c")),
            Some(now + Duration::from_secs(5))
        );
        pauses.pause(host("http://g/"), now);
        assert_eq!(pauses.paused_until(host("http://g/")), None);
        assert!(!pauses.is_empty());
    }
}
