//! The one owner of the display. Owns the indicatif `MultiProgress` (an
//! overall bar: files done of planned, `+` while the input is still read,
//! bytes, rate, and an ETA once the total is known; plus a line for each
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
        let started = Instant::now();
        self.ticker = match (self.mode, &self.total) {
            (ProgressMode::Bar, Some(total)) => {
                let total = total.clone();
                Some(tokio::spawn(async move {
                    let mut tick = tokio::time::interval(BAR_REFRESH);
                    loop {
                        tick.tick().await;
                        refresh_bar(&total, &stats, started);
                    }
                }))
            }
            (ProgressMode::Log, _) => Some(tokio::spawn(async move {
                let mut tick = tokio::time::interval(LOG_EVERY);
                tick.tick().await;
                loop {
                    tick.tick().await;
                    eprintln!("haul: {}", status_line(&stats, started));
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

fn refresh_bar(bar: &ProgressBar, stats: &Stats, started: Instant) {
    bar.set_length(stats.planned.load(Relaxed));
    bar.set_position(stats.finished.load(Relaxed));
    bar.set_message(status_line(stats, started));
}

/// `1234/5000 files, 56.00 MiB, 12.30 MiB/s, ETA 40s` (`5000+` and no ETA
/// while the input is still being read).
fn status_line(stats: &Stats, started: Instant) -> String {
    let planned = stats.planned.load(Relaxed);
    let finished = stats.finished.load(Relaxed);
    let done = stats.planning_done.load(Relaxed);
    let more = if done { "" } else { "+" };
    let bytes = stats.bytes.load(Relaxed);
    let secs = started.elapsed().as_secs_f64().max(0.001);
    let mut line = format!(
        "{finished}/{planned}{more} files, {}, {}/s",
        HumanBytes(bytes),
        HumanBytes((bytes as f64 / secs) as u64)
    );
    if done && finished > 0 && planned > finished {
        let left = secs / finished as f64 * (planned - finished) as f64;
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

    #[test]
    fn the_status_says_plus_while_reading_and_an_eta_after() {
        let stats = Stats::default();
        stats.planned.store(10, Relaxed);
        stats.finished.store(5, Relaxed);
        let started = Instant::now() - Duration::from_secs(10);
        let reading = status_line(&stats, started);
        assert!(
            reading.starts_with("5/10+ files, ") && !reading.contains("ETA"),
            "{reading}"
        );
        stats.planning_done.store(true, Relaxed);
        let known = status_line(&stats, started);
        assert!(
            known.starts_with("5/10 files, ") && known.contains("ETA 10 seconds"),
            "{known}"
        );
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
