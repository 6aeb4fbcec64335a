//! The one owner of the display. Owns the indicatif `MultiProgress` (an
//! overall bar: files done of planned, `+` while the input is still read,
//! bytes, rate; once every file's size is known (the input read, and every
//! file not yet done under way with its length known), the fill and an
//! ETA that follow the bytes still to come, and neither before; plus a line for each
//! active download over 8 MiB or running for 2 s, at most 8) or, when stderr is
//! not a terminal, prints a plain progress line at most every 10 seconds.
//! Workers never print: they bump shared counters through a cheap
//! [`Handle`], and lines meant for stderr (failures, tracing output) go
//! through [`Progress::println`] or [`LogWriter`] so bars and text never tear.

use std::io::Write;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering::Relaxed};
use std::time::{Duration, Instant};

use indicatif::{HumanBytes, MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use tokio::task::JoinHandle;

use crate::settings::ProgressMode;

const TOTAL_TEMPLATE: &str = "{spinner:.green} [{elapsed_precise}] [{wide_bar:.cyan/blue}] {msg}";
const TOTAL_TEMPLATE_PLAIN: &str = "{spinner} [{elapsed_precise}] [{wide_bar}] {msg}";
const FILE_TEMPLATE: &str =
    "  {wide_msg} {bytes:>10}/{total_bytes:<10} {bytes_per_sec:>12} {eta:>4}";
const FILE_TEMPLATE_SPINNER: &str = "  {wide_msg} {bytes:>10} {bytes_per_sec:>12}";

/// A download gets a line of its own from this size up, or once it has
/// taken [`SLOW_FILE`]...
const LARGE_FILE: u64 = 8 * 1024 * 1024;
/// ...whatever its size.
pub(crate) const SLOW_FILE: Duration = Duration::from_secs(2);
/// At most this many download lines under the overall bar.
const MAX_FILE_BARS: usize = 8;
/// How often the overall bar is refreshed from the counters.
const BAR_REFRESH: Duration = Duration::from_millis(150);
/// How often a progress line is printed in log mode.
const LOG_EVERY: Duration = Duration::from_secs(10);

/// Counters shared by the planner, the workers and the display.
#[derive(Default, Debug)]
pub(crate) struct Stats {
    /// URLs planned so far (grows while the input is read).
    pub(crate) planned: AtomicU64,
    /// Set once the input has been read to its end.
    pub(crate) planning_done: AtomicBool,
    /// URLs finished, whatever their outcome.
    pub(crate) finished: AtomicU64,
    /// Body bytes received in this run.
    pub(crate) bytes: AtomicU64,
    /// Downloads under way whose bytes to come are known ([`Expecting`]),
    /// those bytes, and what they received so far.
    pub(crate) open_known: AtomicU64,
    pub(crate) open_expected: AtomicU64,
    pub(crate) open_received: AtomicU64,
    /// Downloads under way of unknown length.
    pub(crate) open_unknown: AtomicU64,
}

impl Stats {
    /// The bytes still to come, when every file not done is known to be
    /// under way with its length known; `None` otherwise.
    fn to_come(&self) -> Option<u64> {
        let planned = self.planned.load(Relaxed);
        let finished = self.finished.load(Relaxed);
        let known = self.open_known.load(Relaxed);
        let all_known = self.planning_done.load(Relaxed)
            && self.open_unknown.load(Relaxed) == 0
            && finished + known >= planned;
        all_known.then(|| {
            let expected = self.open_expected.load(Relaxed);
            expected.saturating_sub(self.open_received.load(Relaxed))
        })
    }
}

/// One download under way, as the overall display counts it: the bytes it
/// has still to receive (when its length is known) and what it received.
/// Dropped when the attempt ends, whatever the outcome.
pub(crate) struct Expecting {
    stats: Arc<Stats>,
    to_come: Option<u64>,
    received: AtomicU64,
}

impl Expecting {
    /// `n` body bytes of this download arrived (any of its connections).
    pub(crate) fn received(&self, n: u64) {
        if self.to_come.is_some() {
            self.received.fetch_add(n, Relaxed);
            self.stats.open_received.fetch_add(n, Relaxed);
        }
    }
}

impl Drop for Expecting {
    fn drop(&mut self) {
        match self.to_come {
            Some(n) => {
                self.stats.open_known.fetch_sub(1, Relaxed);
                self.stats.open_expected.fetch_sub(n, Relaxed);
                let got = self.received.load(Relaxed);
                self.stats.open_received.fetch_sub(got, Relaxed);
            }
            None => {
                self.stats.open_unknown.fetch_sub(1, Relaxed);
            }
        }
    }
}

/// What workers hold: counters, and bars for large files.
#[derive(Clone)]
pub(crate) struct Handle {
    stats: Arc<Stats>,
    multi: Option<MultiProgress>,
    /// Download lines shown now (capped at [`MAX_FILE_BARS`]).
    bars: Arc<AtomicUsize>,
}

impl Handle {
    pub(crate) fn add_bytes(&self, n: u64) {
        self.stats.bytes.fetch_add(n, Relaxed);
    }

    /// A download's body starts: `to_come` bytes (unknown: `None`), for the
    /// overall fill and ETA.
    pub(crate) fn expect(&self, to_come: Option<u64>) -> Expecting {
        match to_come {
            Some(n) => {
                // The bytes first: a reader never sees the download known
                // without them.
                self.stats.open_expected.fetch_add(n, Relaxed);
                self.stats.open_known.fetch_add(1, Relaxed);
            }
            None => {
                self.stats.open_unknown.fetch_add(1, Relaxed);
            }
        }
        Expecting {
            stats: self.stats.clone(),
            to_come,
            received: AtomicU64::new(0),
        }
    }

    /// Whether download lines are shown at all.
    pub(crate) fn shows_bars(&self) -> bool {
        self.multi.is_some()
    }

    /// A line for one download when bars are shown, the file is large (or
    /// of unknown length) or `slow`, and fewer than [`MAX_FILE_BARS`] are
    /// shown; removed from the display when dropped.
    pub(crate) fn file_bar(&self, name: &str, len: Option<u64>, slow: bool) -> Option<FileBar> {
        let multi = self.multi.as_ref()?;
        if !slow && len.is_some_and(|len| len < LARGE_FILE) {
            return None;
        }
        if self
            .bars
            .fetch_update(Relaxed, Relaxed, |n| (n < MAX_FILE_BARS).then_some(n + 1))
            .is_err()
        {
            return None;
        }
        let bar = match len {
            Some(len) => ProgressBar::new(len)
                .with_style(ProgressStyle::with_template(FILE_TEMPLATE).expect("valid template")),
            None => ProgressBar::no_length().with_style(
                ProgressStyle::with_template(FILE_TEMPLATE_SPINNER).expect("valid template"),
            ),
        };
        let bar = multi.add(bar.with_message(crate::redact::sanitize(name)));
        Some(FileBar(bar, self.bars.clone()))
    }
}

pub(crate) struct FileBar(ProgressBar, Arc<AtomicUsize>);

impl FileBar {
    pub(crate) fn inc(&self, n: u64) {
        self.0.inc(n);
    }

    /// A download over several connections: its line says how many.
    pub(crate) fn connections(&self, name: &str, n: u32) {
        let name = crate::redact::sanitize(name);
        let what = if n == 1 { "connection" } else { "connections" };
        self.0.set_message(format!("{name} ({n} {what})"));
    }
}

impl Drop for FileBar {
    fn drop(&mut self) {
        self.0.finish_and_clear();
        self.1.fetch_sub(1, Relaxed);
    }
}

pub struct Progress {
    mode: ProgressMode,
    stats: Arc<Stats>,
    bars: Arc<AtomicUsize>,
    multi: Option<MultiProgress>,
    total: Option<ProgressBar>,
    ticker: Option<JoinHandle<()>>,
}

impl Progress {
    pub fn new(mode: ProgressMode, color: bool) -> Progress {
        let stats = Arc::new(Stats::default());
        let (multi, total) = if mode == ProgressMode::Bar {
            // Not `stderr_with_hz`: indicatif hides that target when stderr
            // is not a terminal, and `--progress bar` must win over the
            // terminal check (config.rs already picked bars for terminals).
            let stderr = Box::new(console::Term::buffered_stderr());
            let multi =
                MultiProgress::with_draw_target(ProgressDrawTarget::term_like_with_hz(stderr, 10));
            let template = if color {
                TOTAL_TEMPLATE
            } else {
                TOTAL_TEMPLATE_PLAIN
            };
            let total = multi.add(
                ProgressBar::new(0)
                    .with_style(
                        ProgressStyle::with_template(template)
                            .expect("valid template")
                            .progress_chars("=> "),
                    )
                    .with_message(""),
            );
            (Some(multi), Some(total))
        } else {
            (None, None)
        };
        Progress {
            mode,
            stats,
            bars: Arc::default(),
            multi,
            total,
            ticker: None,
        }
    }

    /// No display at all (library use, tests).
    pub fn hidden() -> Progress {
        Progress::new(ProgressMode::None, false)
    }

    pub(crate) fn stats(&self) -> &Arc<Stats> {
        &self.stats
    }

    pub(crate) fn handle(&self) -> Handle {
        Handle {
            stats: self.stats.clone(),
            multi: self.multi.clone(),
            bars: self.bars.clone(),
        }
    }

    /// A writer for tracing output that does not tear the bars.
    pub fn log_writer(&self) -> LogWriter {
        LogWriter {
            multi: self.multi.clone(),
        }
    }

    /// Prints one line to stderr, above the bars when there are any.
    pub(crate) fn println(&self, line: &str) {
        let line = crate::redact::scrub(line);
        let write = || {
            let mut err = std::io::stderr().lock();
            let _ = writeln!(err, "{line}");
        };
        match &self.multi {
            Some(multi) => multi.suspend(write),
            None => write(),
        }
    }

    /// Starts refreshing the display (call from inside the runtime).
    pub(crate) fn start(&mut self) {
        let stats = self.stats.clone();
        let mut rate = Rate::new(Instant::now());
        self.ticker = match (self.mode, &self.total) {
            (ProgressMode::Bar, Some(total)) => {
                let total = total.clone();
                Some(tokio::spawn(async move {
                    let mut tick = tokio::time::interval(BAR_REFRESH);
                    loop {
                        tick.tick().await;
                        rate.sample(stats.bytes.load(Relaxed), Instant::now());
                        refresh_bar(&total, &stats, &rate);
                    }
                }))
            }
            (ProgressMode::Log, _) => Some(tokio::spawn(async move {
                let mut tick = tokio::time::interval(LOG_EVERY);
                tick.tick().await;
                loop {
                    tick.tick().await;
                    rate.sample(stats.bytes.load(Relaxed), Instant::now());
                    eprintln!("haul: {}", status_line(&stats, &rate));
                }
            })),
            _ => None,
        };
    }

    /// Stops the display and clears the bars.
    pub(crate) fn finish(&mut self) {
        if let Some(ticker) = self.ticker.take() {
            ticker.abort();
        }
        if let Some(total) = &self.total {
            total.finish_and_clear();
        }
        if let Some(multi) = &self.multi {
            let _ = multi.clear();
        }
    }
}

/// The overall bar: filled by bytes once every size is known (files done
/// of planned otherwise: a count, not a claim about time).
fn refresh_bar(bar: &ProgressBar, stats: &Stats, rate: &Rate) {
    let bytes = stats.bytes.load(Relaxed);
    match stats.to_come() {
        Some(to_come) => {
            bar.set_length(bytes + to_come);
            bar.set_position(bytes);
        }
        None => {
            bar.set_length(stats.planned.load(Relaxed));
            bar.set_position(stats.finished.load(Relaxed));
        }
    }
    bar.set_message(status_line(stats, rate));
}

/// The byte rate: over the last [`RATE_WINDOW`] once the run is that old
/// (a rate limit or a slow server shows at once), from the start before.
struct Rate {
    samples: std::collections::VecDeque<(Instant, u64)>,
}

/// How far back the rate looks.
const RATE_WINDOW: Duration = Duration::from_secs(5);

impl Rate {
    fn new(started: Instant) -> Rate {
        Rate {
            samples: std::collections::VecDeque::from([(started, 0)]),
        }
    }

    fn sample(&mut self, bytes: u64, now: Instant) {
        self.samples.push_back((now, bytes));
        while self.samples.len() > 2 && self.samples[1].0 + RATE_WINDOW <= now {
            self.samples.pop_front();
        }
    }

    /// Bytes a second.
    fn per_sec(&self) -> f64 {
        let (Some(first), Some(last)) = (self.samples.front(), self.samples.back()) else {
            return 0.0;
        };
        let secs = (last.0 - first.0).as_secs_f64();
        match secs > 0.0 {
            true => (last.1 - first.1) as f64 / secs,
            false => 0.0,
        }
    }
}

/// `1234/5000 files, 56.00 MiB, 12.30 MiB/s, ETA 40s` (`5000+` while the
/// input is still being read; the ETA only once every size is known, from
/// the bytes still to come and the recent rate).
fn status_line(stats: &Stats, rate: &Rate) -> String {
    let planned = stats.planned.load(Relaxed);
    let finished = stats.finished.load(Relaxed);
    let done = stats.planning_done.load(Relaxed);
    let more = if done { "" } else { "+" };
    let bytes = stats.bytes.load(Relaxed);
    let per_sec = rate.per_sec();
    let mut line = format!(
        "{finished}/{planned}{more} files, {}, {}/s",
        HumanBytes(bytes),
        HumanBytes(per_sec as u64)
    );
    if let Some(to_come) = stats.to_come()
        && to_come > 0
        && per_sec > 0.0
    {
        let left = to_come as f64 / per_sec;
        line.push_str(&format!(
            ", ETA {}",
            indicatif::HumanDuration(Duration::from_secs_f64(left))
        ));
    }
    line
}

/// `tracing_subscriber` writer: whole records, written above the bars.
#[derive(Clone)]
pub struct LogWriter {
    multi: Option<MultiProgress>,
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for LogWriter {
    type Writer = LogRecord;

    fn make_writer(&'a self) -> LogRecord {
        LogRecord {
            multi: self.multi.clone(),
            buf: Vec::new(),
        }
    }
}

/// Buffers one record and writes it in one go when dropped.
pub struct LogRecord {
    multi: Option<MultiProgress>,
    buf: Vec<u8>,
}

impl Write for LogRecord {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.buf.extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Drop for LogRecord {
    fn drop(&mut self) {
        let record = crate::redact::scrub_bytes(&self.buf);
        let write = || {
            let _ = std::io::stderr().lock().write_all(&record);
        };
        match &self.multi {
            Some(multi) => multi.suspend(write),
            None => write(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A rate of 1 MiB/s over the last seconds.
    fn mib_a_second() -> Rate {
        let start = Instant::now();
        let mut rate = Rate::new(start);
        for s in 1..=10 {
            rate.sample(s << 20, start + Duration::from_secs(s));
        }
        rate
    }

    #[test]
    fn the_eta_follows_the_bytes_to_come_once_every_size_is_known() {
        let stats = Arc::new(Stats::default());
        let handle = Handle {
            stats: stats.clone(),
            multi: None,
            bars: Arc::default(),
        };
        let rate = mib_a_second();
        stats.planned.store(63, Relaxed);
        stats.finished.store(61, Relaxed);
        // 61 of 63 done, two files of 10 MiB at 40%: the files say 97%,
        // the bytes 12 MiB still to come, 12 s at 1 MiB/s.
        let a = handle.expect(Some(10 << 20));
        let reading = status_line(&stats, &rate);
        assert!(
            reading.starts_with("61/63+ files, ") && !reading.contains("ETA"),
            "{reading}"
        );
        stats.planning_done.store(true, Relaxed);
        let one_unstarted = status_line(&stats, &rate);
        assert!(!one_unstarted.contains("ETA"), "{one_unstarted}");
        let b = handle.expect(Some(10 << 20));
        a.received(4 << 20);
        b.received(4 << 20);
        let known = status_line(&stats, &rate);
        assert!(
            known.starts_with("61/63 files, ") && known.contains("ETA 12 seconds"),
            "{known}"
        );
        // A file of unknown length: nothing is said.
        let c = handle.expect(None);
        stats.planned.store(64, Relaxed);
        assert!(!status_line(&stats, &rate).contains("ETA"));
        drop(c);
        // The unknown one and then `a` are done: 63 of 64.
        stats.finished.store(63, Relaxed);
        drop(a);
        // The ended attempt's bytes leave the count with it.
        assert_eq!(stats.to_come(), Some(6 << 20));
        drop(b);
        assert_eq!(stats.open_received.load(Relaxed), 0);
        assert_eq!(stats.open_expected.load(Relaxed), 0);
    }

    #[test]
    fn the_rate_is_recent() {
        let start = Instant::now();
        let mut rate = Rate::new(start);
        // Fast at first, then 1 MiB/s for the last 6 s.
        rate.sample(100 << 20, start + Duration::from_secs(1));
        for s in 2..=7 {
            rate.sample(
                (100 << 20) + ((s - 1) << 20),
                start + Duration::from_secs(s),
            );
        }
        let per_sec = rate.per_sec();
        assert!((per_sec - (1 << 20) as f64).abs() < 1.0, "{per_sec}");
    }

    #[test]
    fn download_lines_are_capped_and_given_back() {
        let handle = Handle {
            stats: Arc::default(),
            multi: Some(MultiProgress::with_draw_target(ProgressDrawTarget::hidden())),
            bars: Arc::default(),
        };
        assert!(
            handle.file_bar("small", Some(1024), false).is_none(),
            "small and quick"
        );
        assert!(
            handle.file_bar("small", Some(1024), true).is_some(),
            "small but slow"
        );
        let bars: Vec<_> = (0..20)
            .filter_map(|_| handle.file_bar("big", Some(LARGE_FILE), false))
            .collect();
        assert_eq!(bars.len(), MAX_FILE_BARS);
        drop(bars);
        assert!(handle.file_bar("big", None, false).is_some(), "given back");
    }
}
