//! The one owner of the display. Owns the indicatif `MultiProgress` (an
//! overall bar plus one bar per active large download) or, when stderr is
//! not a terminal, prints a plain progress line at most every 10 seconds.
//! Workers never print: they bump shared counters through a cheap
//! [`Handle`], and lines meant for stderr (failures, tracing output) go
//! through [`Progress::println`] or [`LogWriter`] so bars and text never tear.

use std::io::Write;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::time::{Duration, Instant};

use indicatif::{HumanBytes, MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use tokio::task::JoinHandle;

use crate::cli::ProgressMode;

const TOTAL_TEMPLATE: &str =
    "{spinner:.green} [{elapsed_precise}] [{wide_bar:.cyan/blue}] {pos}/{len} files {msg}";
const TOTAL_TEMPLATE_PLAIN: &str =
    "{spinner} [{elapsed_precise}] [{wide_bar}] {pos}/{len} files {msg}";
const FILE_TEMPLATE: &str =
    "  {wide_msg} {bytes:>10}/{total_bytes:<10} {bytes_per_sec:>12} {eta:>4}";
const FILE_TEMPLATE_SPINNER: &str = "  {wide_msg} {bytes:>10} {bytes_per_sec:>12}";

/// A download gets a bar of its own from this size up.
const LARGE_FILE: u64 = 4 * 1024 * 1024;
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
}

impl Handle {
    pub(crate) fn add_bytes(&self, n: u64) {
        self.stats.bytes.fetch_add(n, Relaxed);
    }

    /// A bar for one download when bars are shown and the file is large
    /// (or of unknown length); removed from the display when dropped.
    pub(crate) fn file_bar(&self, name: &str, len: Option<u64>) -> Option<FileBar> {
        let multi = self.multi.as_ref()?;
        if len.is_some_and(|len| len < LARGE_FILE) {
            return None;
        }
        let bar = match len {
            Some(len) => ProgressBar::new(len)
                .with_style(ProgressStyle::with_template(FILE_TEMPLATE).expect("valid template")),
            None => ProgressBar::no_length().with_style(
                ProgressStyle::with_template(FILE_TEMPLATE_SPINNER).expect("valid template"),
            ),
        };
        let bar = multi.add(bar.with_message(crate::report::sanitize(name)));
        Some(FileBar(bar))
    }
}

pub(crate) struct FileBar(ProgressBar);

impl FileBar {
    pub(crate) fn inc(&self, n: u64) {
        self.0.inc(n);
    }
}

impl Drop for FileBar {
    fn drop(&mut self) {
        self.0.finish_and_clear();
    }
}

pub struct Progress {
    mode: ProgressMode,
    stats: Arc<Stats>,
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
    let bytes = stats.bytes.load(Relaxed);
    let secs = started.elapsed().as_secs_f64().max(0.001);
    bar.set_message(format!(
        "{} ({}/s)",
        HumanBytes(bytes),
        HumanBytes((bytes as f64 / secs) as u64)
    ));
}

/// `1234/5000 files, 56.00 MiB, 12.30 MiB/s` (`5000+` while the input is
/// still being read).
fn status_line(stats: &Stats, started: Instant) -> String {
    let planned = stats.planned.load(Relaxed);
    let more = if stats.planning_done.load(Relaxed) {
        ""
    } else {
        "+"
    };
    let bytes = stats.bytes.load(Relaxed);
    let secs = started.elapsed().as_secs_f64().max(0.001);
    format!(
        "{}/{planned}{more} files, {}, {}/s",
        stats.finished.load(Relaxed),
        HumanBytes(bytes),
        HumanBytes((bytes as f64 / secs) as u64)
    )
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
        let write = || {
            let _ = std::io::stderr().lock().write_all(&self.buf);
        };
        match &self.multi {
            Some(multi) => multi.suspend(write),
            None => write(),
        }
    }
}
