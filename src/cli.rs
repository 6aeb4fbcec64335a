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

use std::num::NonZeroUsize;
use std::path::PathBuf;
use std::time::{Duration, SystemTime};

use clap::{Parser, ValueEnum};
use reqwest::header::{HeaderName, HeaderValue};

/// Download many URLs at once, safely.
///
/// haul reads URLs from arguments, list files, standard input or curl-style
/// glob ranges, downloads them with bounded concurrency, streams every body to
/// DEST.part and renames it to DEST only when it is complete.
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
    #[arg(
        help_heading = "Concurrency and politeness",
        short = 'j',
        long,
        value_name = "N",
        default_value = "16"
    )]
    pub jobs: NonZeroUsize,

    /// Downloads in flight at once per host (host:port); default: only -j
    ///
    /// Other hosts keep the remaining -j slots busy: the scheduler looks
    /// ahead up to 1024 planned downloads for one whose host has room, so a
    /// list sorted by host may still wait on one host beyond that window.
    #[arg(help_heading = "Concurrency and politeness", long, value_name = "N")]
    pub per_host: Option<NonZeroUsize>,

    /// Requests started per second per host: N, N/s or N/m (decimals ok)
    ///
    /// Smooth (one start every 1/N s, no bursts), retries included. With
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
    /// the next run, the report and summary are written.
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
    #[arg(help_heading = "HTTP", long, value_name = "N", default_value = "10")]
    pub max_redirects: usize,

    /// Retry a failed download up to N more times
    ///
    /// Retried: connection errors, timeouts, stalls, truncated bodies and HTTP
    /// 408, 425, 429, 500, 502, 503, 504. Other 4xx answers are final at once.
    #[arg(
        help_heading = "Reliability",
        long,
        value_name = "N",
        default_value = "3"
    )]
    pub retries: u32,

    /// First retry waits up to DUR, doubling each time (full jitter, max 60s)
    ///
    /// A Retry-After header (seconds or an HTTP date) is honoured up to 60s; a
    /// 429 or 503 with Retry-After pauses every request to that host.
    #[arg(help_heading = "Reliability", long, value_name = "DUR", default_value = "1s", value_parser = parse_duration)]
    pub retry_wait: Duration,

    /// Always start over instead of continuing a leftover DEST.part
    #[arg(help_heading = "Reliability", long)]
    pub no_resume: bool,

    /// Give up connecting after DUR (e.g. 500ms, 10s, 2m)
    #[arg(help_heading = "Reliability", long, value_name = "DUR", default_value = "10s", value_parser = parse_duration)]
    pub connect_timeout: Duration,

    /// Abandon an attempt that receives no byte for DUR
    #[arg(help_heading = "Reliability", long, value_name = "DUR", default_value = "30s", value_parser = parse_duration)]
    pub stall_timeout: Duration,

    /// Abandon an attempt that takes longer than DUR in total
    #[arg(help_heading = "Reliability", long, value_name = "DUR", value_parser = parse_duration)]
    pub timeout: Option<Duration>,

    /// Do not verify TLS certificates (says so on stderr)
    #[arg(help_heading = "HTTP", short = 'k', long)]
    pub insecure: bool,

    /// Send credentials from ~/.netrc (or the file $NETRC names)
    ///
    /// Only to the host a URL names (never to a host a redirect leads to),
    /// and only when the URL carries no user name and no -H Authorization
    /// is given. A missing ~/.netrc means no credentials.
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
    #[arg(help_heading = "Reliability", long, value_name = "N")]
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

#[derive(Copy, Clone, Debug, PartialEq, Eq, ValueEnum)]
pub enum OnExists {
    /// Leave an existing file alone and count it as done (no request)
    Skip,
    /// Download again and replace it
    Overwrite,
    /// Conditional request; keep the file when the server answers 304
    Update,
}

#[derive(Copy, Clone, Debug, PartialEq, Eq, ValueEnum)]
pub enum ProgressMode {
    Bar,
    Log,
    None,
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

/// `--shard K/N`: this machine takes the positions `i` with `i % n == k - 1`.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct Shard {
    pub k: u64,
    pub n: u64,
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

/// Durations as `500ms`, `30s`, `2m`, `1h` or a bare number of seconds.
/// A size: bytes, or with `K`, `M`, `G` (also `KB`/`KiB`...), powers of
/// 1024, as curl, wget and aria2 read them; decimals allowed (`1.5M`).
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
    if !(bytes >= 1.0 && bytes < u64::MAX as f64) {
        return Err(syntax());
    }
    Ok(bytes as u64)
}

/// `--deadline`: a time from now, or a point in time.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Deadline {
    After(Duration),
    At(SystemTime),
}

fn parse_deadline(s: &str) -> Result<Deadline, String> {
    if let Ok(after) = parse_duration(s) {
        return Ok(Deadline::After(after));
    }
    parse_rfc3339(s.trim()).map(Deadline::At).ok_or_else(|| {
        format!(
            "invalid deadline '{s}': expected a duration (90m, 2h) or an RFC 3339 time \
             (2026-11-27T06:00:00Z, 2026-11-27T07:00:00+01:00)"
        )
    })
}

/// `YYYY-MM-DDTHH:MM:SS[.frac](Z|±HH:MM)` (a space may stand for the `T`).
fn parse_rfc3339(s: &str) -> Option<SystemTime> {
    let b = s.as_bytes();
    if b.len() < 20 || !s.is_ascii() {
        return None;
    }
    let num = |r: std::ops::Range<usize>| -> Option<i64> {
        let t = s.get(r)?;
        t.bytes()
            .all(|c| c.is_ascii_digit())
            .then(|| t.parse().ok())?
    };
    let (year, month, day) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (hour, minute, second) = (num(11..13)?, num(14..16)?, num(17..19)?);
    let separators = b[4] == b'-' && b[7] == b'-' && b[13] == b':' && b[16] == b':';
    if !separators || !matches!(b[10], b'T' | b't' | b' ') {
        return None;
    }
    let mut rest = &s[19..];
    let mut nanos = 0u32;
    if let Some(frac) = rest.strip_prefix('.') {
        let digits = frac.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return None;
        }
        let padded = format!("{:0<9}", &frac[..digits.min(9)]);
        nanos = padded.parse().ok()?;
        rest = &frac[digits..];
    }
    let offset = match rest {
        "Z" | "z" => 0,
        _ => {
            let sign = match rest.as_bytes().first()? {
                b'+' => 1,
                b'-' => -1,
                _ => return None,
            };
            let (h, m) = rest[1..].split_once(':')?;
            if h.len() != 2 || m.len() != 2 {
                return None;
            }
            sign * (h.parse::<i64>().ok()? * 3600 + m.parse::<i64>().ok()? * 60)
        }
    };
    let valid = (1..=12).contains(&month)
        && (1..=31).contains(&day)
        && hour < 24
        && minute < 60
        && second < 61;
    if !valid {
        return None;
    }
    // Days from the civil date (Howard Hinnant's algorithm).
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    let secs = days * 86_400 + hour * 3600 + minute * 60 + second - offset;
    let secs = u64::try_from(secs).ok()?;
    SystemTime::UNIX_EPOCH.checked_add(Duration::new(secs, nanos))
}

/// `--rate`: requests started per second per host.
#[derive(Copy, Clone, Debug, PartialEq)]
pub struct Rate {
    /// The time between two starts to one host.
    pub interval: Duration,
}

/// `--split`: a fixed number of connections per file, or grown while it
/// helps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Split {
    Fixed(u16),
    Auto,
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
    let interval = Duration::try_from_secs_f64(per / n).map_err(|_| syntax())?;
    Ok(Rate { interval })
}

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
    Duration::try_from_secs_f64(secs).map_err(|_| syntax())
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
        ] {
            assert!(parse_deadline(bad).is_err(), "{bad}");
        }
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
        for bad in ["", "0", "K", "1.5X", "-1", "1e3", "0.1"] {
            let err = parse_size(bad).unwrap_err();
            assert!(err.contains("expected e.g. 500K"), "{bad}: {err}");
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
        for bad in ["", "0", "-1", "5/h", "x", "inf", "NaN", "1e-30"] {
            let err = parse_rate(bad).unwrap_err();
            assert!(err.contains("expected N, N/s or N/m"), "{bad}: {err}");
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
}
