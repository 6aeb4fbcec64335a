//! The command line as clap sees it: flags, their help text and small value
//! parsers. Nothing here reads the environment or the filesystem; turning a
//! [`Cli`] into a validated [`crate::Config`] is `config.rs`'s job.
//!
//! House rules for flags (after xh's "clap guidelines"):
//! - every option has an explicit `long`, a `short` only where curl, wget or
//!   aria2 users already know one, and an UPPERCASE `value_name`;
//! - the first doc-comment line is the `-h` text (under 80 columns), later
//!   paragraphs are `--help` only;
//! - values are parsed into strong types at this boundary (sizes, durations,
//!   headers, `K/N` shards), and parse errors say the expected syntax;
//! - a repeated single-valued flag means "last one wins".

use crate::settings::{Deadline, OnExists, ProgressMode, Rate, Shard, Split};
use std::num::NonZeroUsize;
use std::path::PathBuf;
use std::time::{Duration, SystemTime};

use clap::Parser;
use reqwest::header::{HeaderName, HeaderValue};

/// The end of `--help`: a few examples, then the exit codes.
const AFTER_LONG_HELP: &str = "\
Examples:
  haul 'https://example.com/img/[001-500].jpg' -d imgs
  haul -i urls.txt -d out -j 32 --report report.jsonl
  curl -s https://example.com/list | haul -i - -d out
  haul 'https://example.com/p?page=[1-200]' -o 'pages/{1}.html' --per-host 4 --rate 2
  haul -i urls.txt -d /srv/mirror --on-exists update --state mirror.state --deadline 5h

Exit codes: 0 all done or skipped, 1 some URL failed, 2 usage or input error,
3 stopped by --deadline or --max-bytes, 130 interrupted (143 on SIGTERM).
Full reference: docs/reference.md in the source repository.";

/// Download many URLs at once, safely.
///
/// haul reads URLs from arguments, list files, standard input or curl-style
/// glob ranges, downloads them with bounded concurrency, streams every body to
/// DEST.part and renames it to DEST only when it is complete.
#[derive(Parser, Debug)]
#[command(name = "haul", version, args_override_self = true)]
#[command(after_help = "Exit codes: 0 all done or skipped, 1 some URL failed, \
                        2 usage or input error, 3 stopped by --deadline or --max-bytes, \
                        130 interrupted (143 on SIGTERM).")]
#[command(after_long_help = AFTER_LONG_HELP)]
pub struct Cli {
    /// URLs or curl-style patterns to download ('-' reads a list from stdin)
    ///
    /// Patterns expand lazily: [1-100], [001-100] (zero padded), [a-z],
    /// [1-100:5] (step) and {one,two}. Several globs form a cartesian product.
    #[arg(value_name = "URL")]
    pub urls: Vec<String>,

    /// Read URLs from FILE ('-' for stdin); repeatable
    ///
    /// One URL per line; blank lines and lines starting with '#' are skipped.
    /// After the URL, whitespace-separated fields: out=RELATIVE/PATH (the
    /// destination, relative to --dir) and sha256=HEX (expected digest).
    #[arg(help_heading = "Input", short = 'i', long, value_name = "FILE", action = clap::ArgAction::Append)]
    pub input_file: Vec<String>,

    /// Root folder for every file (created if missing)
    #[arg(
        help_heading = "Output",
        short = 'd',
        long,
        value_name = "DIR",
        default_value = "."
    )]
    pub dir: PathBuf,

    /// Name files from TEMPLATE (default: {name})
    #[arg(help_heading = "Output", short = 'o', long, value_name = "TEMPLATE", long_help = output_long_help())]
    pub output: Option<String>,

    /// Name files as the server suggests in Content-Disposition
    #[arg(help_heading = "Output", long)]
    pub content_disposition: bool,

    /// What to do when DEST already exists
    #[arg(help_heading = "Output", long, value_name = "MODE", value_enum, default_value_t = OnExists::Skip)]
    pub on_exists: OnExists,

    /// Downloads in flight at once, across all hosts
    ///
    /// 1 to 65536. Lowered, with a warning, to what the open-file limit
    /// (ulimit -n, raised to its hard limit first) allows.
    #[arg(
        help_heading = "Concurrency and politeness",
        short = 'j',
        long,
        value_name = "N",
        default_value = "16",
        value_parser = parse_jobs
    )]
    pub jobs: NonZeroUsize,

    /// Downloads in flight at once per host (host:port); default: only -j
    ///
    /// Other hosts keep the remaining -j slots busy: the scheduler looks
    /// ahead up to 1024 planned downloads for one whose host has room, so a
    /// list sorted by host may still wait on one host beyond that window.
    #[arg(help_heading = "Concurrency and politeness", long, value_name = "N", value_parser = parse_jobs)]
    pub per_host: Option<NonZeroUsize>,

    /// Requests started per second per host: N, N/s or N/m (decimals ok)
    ///
    /// From one a day (0.0007/m) to 1000000/s. Smooth (one start every
    /// 1/N s, no bursts), retries included. With
    /// it, a 429 without Retry-After halves that host's rate, which then
    /// recovers by a tenth a minute up to N.
    #[arg(help_heading = "Concurrency and politeness", long, value_name = "RATE", value_parser = parse_rate)]
    pub rate: Option<Rate>,

    /// Cap on all downloads' body bytes per second, e.g. 500K, 10M, 1.5MiB
    ///
    /// K, M and G are powers of 1024 (as in curl, wget and aria2); a plain
    /// number is bytes.
    #[arg(help_heading = "Concurrency and politeness", long, value_name = "SIZE", value_parser = parse_size)]
    pub limit_rate: Option<u64>,

    /// Fetch a large file over up to N connections (1-16), or auto
    ///
    /// A file whose size is known, whose server accepts ranges and names
    /// its version (a strong ETag or Last-Modified) is fetched in ranges
    /// written at their offsets into DEST.part, each proving the same
    /// version; a connection that finishes early takes over half of the
    /// largest range left. A rerun fetches only the missing ranges. Default:
    /// one connection per file. `auto`
    /// starts with one connection and adds more (up to 8) while they
    /// raise the file's rate. Every connection counts against -j,
    /// --per-host and --rate, and files waiting to start come first.
    #[arg(help_heading = "Concurrency and politeness", long, value_name = "N|auto", value_parser = parse_split)]
    pub split: Option<Split>,

    /// No range of a --split download is smaller than this
    #[arg(help_heading = "Concurrency and politeness", long, value_name = "SIZE",
          default_value = "4M", value_parser = parse_size)]
    pub min_split_size: u64,

    /// Stop the run after DUR (e.g. 2h), or at TIME (RFC 3339, e.g.
    /// 2026-11-27T06:00:00Z); exit 3
    ///
    /// As on Ctrl-C: no new downloads, those in flight keep their .part for
    /// the next run, the report and summary are written. At most 100 years
    /// ahead.
    #[arg(help_heading = "Reliability", long, value_name = "DUR|TIME", value_parser = parse_deadline)]
    pub deadline: Option<Deadline>,

    /// Stop the run once SIZE of bodies has been received (e.g. 10G); exit 3
    #[arg(help_heading = "Reliability", long, value_name = "SIZE", value_parser = parse_size)]
    pub max_bytes: Option<u64>,

    /// Take only the URLs of shard K out of N (positions i with i % N == K-1)
    #[arg(help_heading = "Input", long, value_name = "K/N", value_parser = parse_shard)]
    pub shard: Option<Shard>,

    /// Treat '[]{}' in URLs literally (no globbing)
    #[arg(help_heading = "Input", short = 'g', long)]
    pub globoff: bool,

    /// Extra request header 'Name: value'; repeatable
    #[arg(help_heading = "HTTP", short = 'H', long, value_name = "HEADER", value_parser = parse_header,
          action = clap::ArgAction::Append)]
    pub header: Vec<(HeaderName, HeaderValue)>,

    /// User-Agent header to send
    #[arg(help_heading = "HTTP", short = 'A', long, value_name = "STRING")]
    pub user_agent: Option<String>,

    /// Follow at most N redirects (0 follows none)
    #[arg(help_heading = "HTTP", long, value_name = "N", default_value = "10",
          value_parser = parse_max_redirects)]
    pub max_redirects: usize,

    /// Retry a failed download up to N more times
    ///
    /// Retried: connection errors, timeouts, stalls, truncated bodies and HTTP
    /// 408, 425, 429, 500, 502, 503, 504. Other 4xx answers are final at once.
    #[arg(
        help_heading = "Reliability",
        long,
        value_name = "N",
        default_value = "3",
        value_parser = parse_retries
    )]
    pub retries: u32,

    /// First retry waits up to DUR, doubling each time (full jitter, max 60s)
    ///
    /// A Retry-After header (seconds or an HTTP date) is honoured up to 60s; a
    /// 429 or 503 with Retry-After pauses every request to that host.
    #[arg(help_heading = "Reliability", long, value_name = "DUR", default_value = "1s", value_parser = parse_wait)]
    pub retry_wait: Duration,

    /// Always start over instead of continuing a leftover DEST.part
    #[arg(help_heading = "Reliability", long)]
    pub no_resume: bool,

    /// Give up connecting after DUR (e.g. 500ms, 10s, 2m)
    #[arg(help_heading = "Reliability", long, value_name = "DUR", default_value = "10s", value_parser = parse_timeout)]
    pub connect_timeout: Duration,

    /// Abandon an attempt that receives no byte for DUR
    #[arg(help_heading = "Reliability", long, value_name = "DUR", default_value = "30s", value_parser = parse_timeout)]
    pub stall_timeout: Duration,

    /// Abandon an attempt that takes longer than DUR in total
    #[arg(help_heading = "Reliability", long, value_name = "DUR", value_parser = parse_timeout)]
    pub timeout: Option<Duration>,

    /// Do not verify TLS certificates (a warning on stderr, not with -q)
    #[arg(help_heading = "HTTP", short = 'k', long)]
    pub insecure: bool,

    /// Send credentials from ~/.netrc (or the file $NETRC names)
    ///
    /// Only to the URL's own origin (scheme, host, port), redirects to that
    /// same origin included, and only when the URL carries no user name and
    /// no -H Authorization is given. A missing ~/.netrc means no
    /// credentials.
    #[arg(help_heading = "HTTP", long)]
    pub netrc: bool,

    /// Like --netrc, with credentials from FILE (which must exist)
    #[arg(help_heading = "HTTP", long, value_name = "FILE")]
    pub netrc_file: Option<PathBuf>,

    /// Verify files against a sha256sum-style FILE ('HEX  NAME' lines)
    #[arg(help_heading = "Output", long, value_name = "FILE")]
    pub checksums: Option<PathBuf>,

    /// Record every saved file in FILE, for cheap conditional reruns
    ///
    /// One file for the whole run (URL, path, size, mtime, ETag,
    /// Last-Modified, sha256). With it, --on-exists update also sends
    /// If-None-Match, and skip fetches again a file whose size on disk
    /// differs from its entry. A second haul on the same FILE exits 2.
    #[arg(help_heading = "Output", long, value_name = "FILE")]
    pub state: Option<PathBuf>,

    /// With --state: print its entries as JSON Lines and fetch nothing
    #[arg(help_heading = "Output", long, requires = "state")]
    pub list: bool,

    /// Print completions for SHELL (bash, zsh, fish, powershell, elvish)
    /// and exit
    #[arg(help_heading = "Reporting", long, value_name = "SHELL")]
    pub completions: Option<clap_complete::Shell>,

    /// Print the man page (roff) and exit
    #[arg(help_heading = "Reporting", long)]
    pub man: bool,

    /// Write one JSON object per URL to FILE ('-' for stdout)
    #[arg(help_heading = "Reporting", long, value_name = "FILE")]
    pub report: Option<String>,

    /// Print 'URL -> PATH' for every planned download; fetch nothing
    #[arg(help_heading = "Reporting", long)]
    pub dry_run: bool,

    /// Stop at the first failed URL
    #[arg(help_heading = "Reliability", long)]
    pub fail_fast: bool,

    /// Stop after N failed URLs
    #[arg(help_heading = "Reliability", long, value_name = "N", value_parser = parse_max_failures)]
    pub max_failures: Option<NonZeroUsize>,

    /// Progress display: bar (terminal), log (a line every 10s) or none
    ///
    /// Default: bar when stderr is a terminal, log otherwise.
    #[arg(help_heading = "Reporting", long, value_name = "MODE", value_enum)]
    pub progress: Option<ProgressMode>,

    /// Print errors only
    #[arg(
        help_heading = "Reporting",
        short = 'q',
        long,
        conflicts_with = "verbose"
    )]
    pub quiet: bool,

    /// More diagnostics on stderr (-v info, -vv debug; RUST_LOG overrides)
    #[arg(help_heading = "Reporting", short = 'v', long, action = clap::ArgAction::Count)]
    pub verbose: u8,
}

/// The `-o` table. clap turns a literal `{n}` in help text into a line
/// break, so the placeholders are written with their name styled (and the
/// style stripped again when colour is off).
fn output_long_help() -> clap::builder::StyledStr {
    let style = clap::builder::styling::Style::new().bold();
    let rows = [
        (
            "name",
            "last URL path segment, percent-decoded (index.html when empty)",
        ),
        ("path", "the URL path with its folders"),
        ("host", "the URL's host"),
        ("n", "1-based position of the URL in the input"),
        ("1", "value of the URL's 1st glob; {2} the 2nd, and so on"),
    ];
    let mut help = String::from("Name files from TEMPLATE (default: {name})\n\nPlaceholders:\n");
    for (key, text) in rows {
        let pad = " ".repeat(4 - key.len());
        help.push_str(&format!("  {{{style}{key}{style:#}}}{pad}  {text}\n"));
    }
    help.push_str("'{{' and '}}' stand for literal braces. Folders are created as needed.");
    help.into()
}

impl Cli {
    /// `--completions SHELL` or `--man`: what to print instead of a run.
    pub fn generated(&self) -> Option<Vec<u8>> {
        use clap::CommandFactory;
        let mut out = Vec::new();
        if let Some(shell) = self.completions {
            clap_complete::generate(shell, &mut Cli::command(), "haul", &mut out);
        } else if self.man {
            // Rendering into memory cannot fail.
            let _ = clap_mangen::Man::new(Cli::command()).render(&mut out);
        } else {
            return None;
        }
        Some(out)
    }
}

fn parse_shard(s: &str) -> Result<Shard, String> {
    let syntax = "expected K/N with 1 <= K <= N, e.g. 2/8";
    let (k, n) = s.split_once('/').ok_or(syntax)?;
    let k: u64 = k.trim().parse().map_err(|_| syntax)?;
    let n: u64 = n.trim().parse().map_err(|_| syntax)?;
    if k == 0 || n == 0 || k > n {
        return Err(syntax.into());
    }
    Ok(Shard { k, n })
}

fn parse_header(s: &str) -> Result<(HeaderName, HeaderValue), String> {
    let (name, value) = s
        .split_once(':')
        .ok_or_else(|| format!("expected 'Name: value', got '{s}'"))?;
    let name = HeaderName::from_bytes(name.trim().as_bytes())
        .map_err(|_| format!("invalid header name '{}'", name.trim()))?;
    let value = HeaderValue::from_str(value.trim())
        .map_err(|_| format!("invalid value for header '{name}'"))?;
    Ok((name, value))
}

// Bounds of the numeric flags. Each keeps the arithmetic done with the
// value far from overflow: `Instant::now() + d` for a duration, doubling a
// size, the next start of a host under `--rate` (docs/reference.md,
// "Numeric flags").

/// The most downloads in flight, for `-j` and `--per-host`.
pub(crate) const MAX_JOBS: usize = 65_536;
/// The most `--retries` and `--max-redirects`.
pub(crate) const MAX_RETRIES: u32 = 1000;
/// The largest `SIZE` (1 EiB): eight times it still fits in a `u64`.
pub(crate) const MAX_SIZE: u64 = 1 << 60;
/// The longest duration or time ahead (100 years of 365.25 days): far from
/// the limits of `Instant` and tokio's timers on every platform.
pub(crate) const MAX_DURATION: Duration = Duration::from_secs(3_155_760_000);
/// `MAX_DURATION` as `--help` and errors write it.
const MAX_DURATION_TEXT: &str = "100 years (876600h)";
/// The slowest `--rate`: one start a day per host.
pub(crate) const SLOWEST_RATE: Duration = Duration::from_secs(86_400);
/// The fastest `--rate`: a million starts a second per host.
pub(crate) const FASTEST_RATE: Duration = Duration::from_micros(1);

/// A whole number from `min` to `max`, or an error that says so.
fn whole<T>(s: &str, min: T, max: T) -> Result<T, String>
where
    T: std::str::FromStr + PartialOrd + std::fmt::Display + Copy,
{
    match s.trim().parse::<T>() {
        Ok(n) if n >= min && n <= max => Ok(n),
        _ => Err(format!("expected a whole number from {min} to {max}")),
    }
}

/// `-j` and `--per-host`.
fn parse_jobs(s: &str) -> Result<NonZeroUsize, String> {
    let n = whole(s, 1, MAX_JOBS)?;
    NonZeroUsize::new(n).ok_or_else(|| "expected a whole number from 1".into())
}

/// `--max-failures`: any count of failed URLs from 1.
fn parse_max_failures(s: &str) -> Result<NonZeroUsize, String> {
    let n = whole(s, 1, usize::MAX)?;
    NonZeroUsize::new(n).ok_or_else(|| "expected a whole number from 1".into())
}

fn parse_retries(s: &str) -> Result<u32, String> {
    whole(s, 0, MAX_RETRIES)
}

fn parse_max_redirects(s: &str) -> Result<usize, String> {
    whole(s, 0, MAX_RETRIES as usize)
}

/// A size: bytes, or with `K`, `M`, `G` (also `KB`/`KiB`...), powers of
/// 1024, as curl, wget and aria2 read them; decimals allowed (`1.5M`).
/// From 1 byte to [`MAX_SIZE`].
pub(crate) fn parse_size(s: &str) -> Result<u64, String> {
    let syntax = || format!("invalid size '{s}': expected e.g. 500K, 10M, 1.5MiB or 4096");
    let t = s.trim();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let num: f64 = num.parse().map_err(|_| syntax())?;
    let scale: f64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1.0,
        "k" | "kb" | "kib" => 1024.0,
        "m" | "mb" | "mib" => 1024.0 * 1024.0,
        "g" | "gb" | "gib" => 1024.0 * 1024.0 * 1024.0,
        _ => return Err(syntax()),
    };
    let bytes = (num * scale).round();
    // Also false for NaN.
    if !(bytes >= 1.0 && bytes <= MAX_SIZE as f64) {
        return Err(format!(
            "size '{s}' is out of range: expected from 1 byte to 1 EiB (1073741824G)"
        ));
    }
    Ok(bytes as u64)
}

fn parse_deadline(s: &str) -> Result<Deadline, String> {
    parse_deadline_at(s, SystemTime::now())
}

/// [`parse_deadline`] as at `now`: a duration up to [`MAX_DURATION`], or
/// an RFC 3339 time (with `Z` or an offset) no further than that ahead.
fn parse_deadline_at(s: &str, now: SystemTime) -> Result<Deadline, String> {
    if looks_like_duration(s) {
        return parse_bounded(s, Duration::ZERO).map(Deadline::After);
    }
    let syntax = || {
        format!(
            "invalid deadline '{s}': expected a duration (90m, 2h) or an RFC 3339 time \
             (2026-11-27T06:00:00Z, 2026-11-27T07:00:00+01:00)"
        )
    };
    let at = parse_rfc3339(s.trim()).ok_or_else(syntax)?;
    // A time already past is kept: the run stops at once.
    if at
        .duration_since(now)
        .is_ok_and(|ahead| ahead > MAX_DURATION)
    {
        return Err(format!(
            "deadline '{s}' is out of range: expected a time at most {MAX_DURATION_TEXT} from now"
        ));
    }
    Ok(Deadline::At(at))
}

/// An RFC 3339 time: `YYYY-MM-DDTHH:MM:SS[.frac]` then `Z` or `±HH:MM` (a
/// space or a lower-case `t` may stand for the `T`). jiff checks the
/// calendar (no 30 February) and the offset (no `+99:99`); RFC 3339 asks
/// more than jiff's wider ISO 8601 grammar, so its layout is checked here
/// first.
fn parse_rfc3339(s: &str) -> Option<SystemTime> {
    let b = s.as_bytes();
    let digits =
        |r: std::ops::Range<usize>| b.get(r).is_some_and(|t| t.iter().all(u8::is_ascii_digit));
    let layout = b.len() >= 20
        && digits(0..4)
        && b[4] == b'-'
        && digits(5..7)
        && b[7] == b'-'
        && digits(8..10)
        && matches!(b[10], b'T' | b't' | b' ')
        && digits(11..13)
        && b[13] == b':'
        && digits(14..16)
        && b[16] == b':'
        && digits(17..19);
    if !layout {
        return None;
    }
    let mut rest = &s[19..];
    if let Some(frac) = rest.strip_prefix('.') {
        let n = frac.bytes().take_while(u8::is_ascii_digit).count();
        if n == 0 {
            return None;
        }
        rest = &frac[n..];
    }
    let offset = rest.as_bytes();
    let offset_ok = matches!(rest, "Z" | "z")
        || (offset.len() == 6
            && matches!(offset[0], b'+' | b'-')
            && offset[1..3].iter().all(u8::is_ascii_digit)
            && offset[3] == b':'
            && offset[4..6].iter().all(u8::is_ascii_digit)
            && &rest[1..3] <= "23"
            && &rest[4..6] <= "59");
    if !offset_ok {
        return None;
    }
    let text = if b[10] == b'T' {
        s.to_string()
    } else {
        format!("{}T{}", &s[..10], &s[11..])
    };
    let at: jiff::Timestamp = text.parse().ok()?;
    SystemTime::try_from(at).ok()
}

/// The most connections `--split N` may ask for one file.
pub(crate) const MAX_SPLIT: u16 = 16;

fn parse_split(s: &str) -> Result<Split, String> {
    if s.trim() == "auto" {
        return Ok(Split::Auto);
    }
    match s.trim().parse::<u16>() {
        Ok(n) if (1..=MAX_SPLIT).contains(&n) => Ok(Split::Fixed(n)),
        _ => Err(format!(
            "invalid value '{s}': expected a number of connections from 1 to {MAX_SPLIT}, or auto"
        )),
    }
}

/// `N`, `N/s` or `N/m`: from one start a day ([`SLOWEST_RATE`]) to a
/// million a second ([`FASTEST_RATE`]).
fn parse_rate(s: &str) -> Result<Rate, String> {
    let syntax =
        || format!("invalid rate '{s}': expected N, N/s or N/m with N > 0, e.g. 5, 0.5/s or 30/m");
    let (num, per) = match s.trim().split_once('/') {
        Some((num, unit)) => (num, unit.trim()),
        None => (s.trim(), "s"),
    };
    let per = match per {
        "s" => 1.0,
        "m" => 60.0,
        _ => return Err(syntax()),
    };
    let n: f64 = num.trim().parse().map_err(|_| syntax())?;
    if !(n.is_finite() && n > 0.0) {
        return Err(syntax());
    }
    let per_second = n / per;
    let (slowest, fastest) = (
        1.0 / SLOWEST_RATE.as_secs_f64(),
        1.0 / FASTEST_RATE.as_secs_f64(),
    );
    match Duration::try_from_secs_f64(per / n) {
        Ok(interval) if (slowest..=fastest).contains(&per_second) => Ok(Rate { interval }),
        _ => Err(format!(
            "rate '{s}' is out of range: expected from one request a day (0.0007/m) to \
             1000000/s"
        )),
    }
}

/// Whether `s` is written as a duration (a number, then a unit or none),
/// not as a time.
fn looks_like_duration(s: &str) -> bool {
    let s = s.trim();
    let num = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(s.len());
    num > 0 && matches!(s[num..].trim(), "" | "ms" | "s" | "m" | "h")
}

/// Durations as `500ms`, `30s`, `2m`, `1h` or a bare number of seconds.
pub(crate) fn parse_duration(s: &str) -> Result<Duration, String> {
    let syntax = || format!("invalid duration '{s}': expected e.g. 500ms, 30s, 2m or 1h");
    let s = s.trim();
    let split = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    let num: f64 = num.parse().map_err(|_| syntax())?;
    let secs = match unit.trim() {
        "ms" => num / 1000.0,
        "" | "s" => num,
        "m" => num * 60.0,
        "h" => num * 3600.0,
        _ => return Err(syntax()),
    };
    // Too large for a `Duration` at all is out of range too.
    Ok(Duration::try_from_secs_f64(secs).unwrap_or(Duration::MAX))
}

/// A duration from `min` to [`MAX_DURATION`].
fn parse_bounded(s: &str, min: Duration) -> Result<Duration, String> {
    let d = parse_duration(s)?;
    if d < min || d > MAX_DURATION {
        let from = if min.is_zero() {
            "from 0"
        } else {
            "more than 0"
        };
        return Err(format!(
            "duration '{s}' is out of range: expected {from} and at most {MAX_DURATION_TEXT}"
        ));
    }
    Ok(d)
}

/// `--connect-timeout`, `--stall-timeout`, `--timeout`: more than zero
/// (a zero timeout would fail every attempt).
fn parse_timeout(s: &str) -> Result<Duration, String> {
    parse_bounded(s, Duration::from_nanos(1))
}

/// `--retry-wait`: zero (retry at once) allowed.
fn parse_wait(s: &str) -> Result<Duration, String> {
    parse_bounded(s, Duration::ZERO)
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    fn parse(args: &[&str]) -> Result<Cli, clap::Error> {
        Cli::try_parse_from(std::iter::once("haul").chain(args.iter().copied()))
    }

    #[test]
    fn verify_app() {
        Cli::command().debug_assert();
    }

    #[test]
    fn deadlines() {
        assert_eq!(
            parse_deadline("90m"),
            Ok(Deadline::After(Duration::from_secs(5400)))
        );
        let at = |s: &str| match parse_deadline(s) {
            Ok(Deadline::At(t)) => Some(t.duration_since(SystemTime::UNIX_EPOCH).unwrap()),
            _ => None,
        };
        // 2026-11-27T06:00:00Z is 1,795,759,200 s after the epoch.
        let six = Duration::from_secs(1_795_759_200);
        assert_eq!(at("2026-11-27T06:00:00Z"), Some(six));
        assert_eq!(at("2026-11-27 07:00:00+01:00"), Some(six));
        assert_eq!(at("2026-11-27T01:30:00-04:30"), Some(six));
        assert_eq!(
            at("2026-11-27T06:00:00.25Z"),
            Some(six + Duration::from_millis(250))
        );
        assert_eq!(at("1970-01-01T00:00:00Z"), Some(Duration::ZERO));
        assert_eq!(
            at("2024-02-29T00:00:00Z"),
            Some(Duration::from_secs(1_709_164_800))
        );
        for bad in [
            "",
            "tomorrow",
            "2026-11-27",
            "2026-11-27T06:00:00",
            "2026-13-01T00:00:00Z",
            "2026-11-27T06:00:00+1:00",
            // Impossible dates and offsets.
            "2030-02-30T00:00:00Z",
            "2029-02-29T00:00:00Z",
            "2026-04-31T00:00:00Z",
            "2026-11-27T24:00:00Z",
            "2026-11-27T06:60:00Z",
            "2026-11-27T06:00:00+99:99",
            "2026-11-27T06:00:00+24:00",
            "2026-11-27T06:00:00+01:60",
            "2026-11-27T06:00:00+01",
            "2026-11-27T06:00Z",
            "20261127T060000Z",
            "2026-11-27T06:00:00Z[Europe/Paris]",
        ] {
            assert!(parse_deadline(bad).is_err(), "{bad}");
        }
        assert_eq!(at("2026-11-27t06:00:00z"), Some(six));
        assert_eq!(at("2026-11-27T06:00:00-00:00"), Some(six));
        assert_eq!(at("2026-11-27T19:59:00+13:59"), Some(six));
    }

    #[test]
    fn sizes() {
        let cases = [
            ("4096", 4096),
            ("500K", 500 * 1024),
            ("500k", 500 * 1024),
            ("10M", 10 << 20),
            ("1.5MiB", 3 << 19),
            ("2GB", 2 << 30),
            (" 1 KiB ", 1024),
            ("10b", 10),
        ];
        for (text, want) in cases {
            assert_eq!(parse_size(text), Ok(want), "{text}");
        }
        for bad in ["", "K", "1.5X", "-1", "1e3", "NaN", "inf"] {
            let err = parse_size(bad).unwrap_err();
            assert!(err.contains("expected e.g. 500K"), "{bad}: {err}");
        }
        // 1 EiB is the most: eight times it still fits in a u64.
        assert_eq!(parse_size("1073741824G"), Ok(1 << 60));
        for bad in [
            "0",
            "0.1",
            "1073741825G",
            "8589934592G",
            "18446744073709551615",
        ] {
            let err = parse_size(bad).unwrap_err();
            assert!(
                err.contains("out of range: expected from 1 byte to 1 EiB"),
                "{bad}: {err}"
            );
        }
    }

    #[test]
    fn rates() {
        let ms = |s: &str| parse_rate(s).map(|r| r.interval.as_millis());
        assert_eq!(ms("5"), Ok(200));
        assert_eq!(ms("5/s"), Ok(200));
        assert_eq!(ms("0.5"), Ok(2000));
        assert_eq!(ms("30/m"), Ok(2000));
        assert_eq!(ms(" 2.5 / s "), Ok(400));
        for bad in ["", "0", "-1", "5/h", "x", "inf", "NaN"] {
            let err = parse_rate(bad).unwrap_err();
            assert!(err.contains("expected N, N/s or N/m"), "{bad}: {err}");
        }
        // From one start a day to a million a second.
        assert_eq!(ms("0.0007/m"), Ok(85_714_285));
        assert_eq!(ms("1000000"), Ok(0));
        for bad in ["1e-19", "1e-30", "0.0006/m", "1000001", "1e300"] {
            let err = parse_rate(bad).unwrap_err();
            assert!(err.contains("out of range"), "{bad}: {err}");
        }
    }

    #[test]
    fn defaults() {
        let cli = parse(&["http://a/"]).unwrap();
        assert_eq!(cli.jobs.get(), 16);
        assert_eq!(cli.dir, PathBuf::from("."));
        assert_eq!(cli.on_exists, OnExists::Skip);
        assert_eq!(cli.max_redirects, 10);
        assert_eq!(cli.connect_timeout, Duration::from_secs(10));
        assert_eq!(cli.stall_timeout, Duration::from_secs(30));
        assert_eq!(cli.timeout, None);
        assert_eq!(cli.retries, 3);
        assert_eq!(cli.retry_wait, Duration::from_secs(1));
        assert!(!cli.no_resume);
        assert!(cli.progress.is_none());
    }

    #[test]
    fn repeated_flags() {
        let cli = parse(&["-i", "a", "-i", "-", "-j", "2", "-j", "3"]).unwrap();
        assert_eq!(cli.input_file, ["a", "-"]);
        assert_eq!(cli.jobs.get(), 3);
    }

    #[test]
    fn rejects_bad_values() {
        assert!(parse(&["-j", "0"]).is_err());
        assert!(parse(&["--shard", "0/3"]).is_err());
        assert!(parse(&["--shard", "4/3"]).is_err());
        assert!(parse(&["--shard", "3"]).is_err());
        assert!(parse(&["-H", "no colon"]).is_err());
        assert!(parse(&["--timeout", "5 parsecs"]).is_err());
        assert!(parse(&["-q", "-v"]).is_err());
        assert!(parse(&["--on-exists", "clobber"]).is_err());
    }

    #[test]
    fn shards_and_headers() {
        assert_eq!(
            parse(&["--shard", "2/8"]).unwrap().shard,
            Some(Shard { k: 2, n: 8 })
        );
        let cli = parse(&["-H", "X-Token: a b"]).unwrap();
        assert_eq!(cli.header[0].0, "x-token");
        assert_eq!(cli.header[0].1, "a b");
    }

    #[test]
    fn durations() {
        let cases = [
            ("500ms", 500),
            ("30s", 30_000),
            ("2m", 120_000),
            ("1h", 3_600_000),
            ("1.5s", 1_500),
            ("7", 7_000),
        ];
        for (text, ms) in cases {
            assert_eq!(
                parse_duration(text),
                Ok(Duration::from_millis(ms)),
                "{text}"
            );
        }
        for bad in ["", "s", "-1s", "1d", "1.2.3s"] {
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn durations_and_deadlines_stay_within_100_years() {
        let year = 365.25 * 86_400.0;
        assert_eq!(parse_wait("876600h"), Ok(MAX_DURATION));
        assert_eq!(MAX_DURATION.as_secs_f64(), 100.0 * year);
        assert_eq!(parse_wait("0"), Ok(Duration::ZERO));
        let digits = "9".repeat(400);
        for bad in [
            "876601h",
            "10000000000000000000",
            "153722867280912930m",
            &digits,
        ] {
            for parse in [parse_wait, parse_timeout] {
                let err = parse(bad).unwrap_err();
                assert!(err.contains("at most 100 years"), "{bad}: {err}");
            }
        }
        // A timeout of zero would fail every attempt.
        for zero in ["0", "0ms", "0.0000000001s"] {
            let err = parse_timeout(zero).unwrap_err();
            assert!(err.contains("expected more than 0"), "{zero}: {err}");
        }
        assert!(parse_deadline("0s").is_ok());
        let err = parse_deadline("10000000000000000000").unwrap_err();
        assert!(err.contains("at most 100 years"), "{err}");
        // A time: at most 100 years from now; one already past is kept.
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_795_759_200);
        assert!(parse_deadline_at("2126-11-27T06:00:00Z", now).is_ok());
        let err = parse_deadline_at("2126-11-29T06:00:00Z", now).unwrap_err();
        assert!(
            err.contains("at most 100 years (876600h) from now"),
            "{err}"
        );
        assert!(parse_deadline_at("9999-12-31T23:59:59Z", now).is_err());
        assert!(parse_deadline_at("0001-01-01T00:00:00Z", now).is_ok());
    }

    #[test]
    fn counts_have_a_range() {
        let message = |args: &[&str]| parse(args).unwrap_err().to_string();
        let cases = [
            (&["-j", "65537"][..], "'--jobs <N>'", "from 1 to 65536"),
            (&["-j", "0"], "'--jobs <N>'", "from 1 to 65536"),
            (
                &["--per-host", "18446744073709551616"],
                "'--per-host <N>'",
                "from 1 to 65536",
            ),
            (&["--retries", "1001"], "'--retries <N>'", "from 0 to 1000"),
            (&["--retries=-1"], "'--retries <N>'", "from 0 to 1000"),
            (
                &["--max-redirects", "4294967296"],
                "'--max-redirects <N>'",
                "from 0 to 1000",
            ),
            (
                &["--max-failures", "0"],
                "'--max-failures <N>'",
                "from 1 to",
            ),
        ];
        for (args, flag, range) in cases {
            let err = message(args);
            assert!(err.contains(flag) && err.contains(range), "{args:?}: {err}");
        }
        let cli = parse(&["-j", "65536", "--retries", "1000", "--max-redirects", "0"]).unwrap();
        assert_eq!(
            (cli.jobs.get(), cli.retries, cli.max_redirects),
            (65536, 1000, 0)
        );
    }
}
