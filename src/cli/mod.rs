//! The command line as clap sees it: flags and their help text. The value
//! parsers and the numeric limits each flag accepts are `values.rs`'s.
//! Nothing here reads the environment or the filesystem; turning a [`Cli`]
//! into a validated [`crate::Config`] is `config.rs`'s job.
//!
//! House rules for flags (after xh's "clap guidelines"):
//! - every option has an explicit `long`, a `short` only where curl, wget or
//!   aria2 users already know one, and an UPPERCASE `value_name`;
//! - the first doc-comment line is the `-h` text (under 80 columns), later
//!   paragraphs are `--help` only;
//! - values are parsed into strong types at this boundary (sizes, durations,
//!   headers, `K/N` shards), and parse errors say the expected syntax;
//! - a repeated single-valued flag means "last one wins".

pub(crate) mod values;

use crate::settings::{Deadline, OnExists, ProgressMode, Rate, Shard, Split};
use std::num::NonZeroUsize;
use std::path::PathBuf;
use std::time::Duration;

use crate::headers::HeaderArg;
use clap::Parser;

use values::{
    parse_deadline, parse_header, parse_jobs, parse_max_failures, parse_max_redirects, parse_rate,
    parse_retries, parse_shard, parse_size, parse_split, parse_timeout, parse_wait,
};

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

    /// Name files by TEMPLATE ({name}; - for stdout)
    #[arg(help_heading = "Output", short = 'o', long, value_name = "TEMPLATE", long_help = output_long_help())]
    pub output: Option<String>,

    /// Name files as the server suggests in Content-Disposition
    #[arg(help_heading = "Output", long)]
    pub content_disposition: bool,

    /// Name a redirected download after the last URL it was redirected to
    ///
    /// Its last path segment, percent-decoded, replaces the file name the
    /// URL or -o gave (folders kept); a download that was not redirected
    /// keeps its name. Checked and claimed when the answer comes, like a
    /// Content-Disposition name, which wins when both flags are given.
    #[arg(help_heading = "Output", long)]
    pub trust_server_names: bool,

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

    /// Extra header 'Name: value' (or @FILE of them); repeatable
    ///
    /// Sent to every URL of the run. In a value, @env:NAME is replaced by the
    /// environment variable NAME and @file:PATH (the rest of the value) by the
    /// first line of that file, so a secret need not be in argv. Credentials
    /// (Authorization, Cookie, Proxy-Authorization, a value from @env:/@file:,
    /// every header of a @FILE) go only to the URL's own scheme, host and port:
    /// never after a redirect elsewhere. Secret values are masked in all output.
    #[arg(help_heading = "HTTP", short = 'H', long, value_name = "HEADER", value_parser = parse_header,
          action = clap::ArgAction::Append)]
    pub header: Vec<HeaderArg>,

    /// Send header 'Name: value' only to HOST (or HOST:PORT); repeatable
    ///
    /// Goes to every request for that host, redirect hops included, and to no
    /// other host; it replaces a -H header of the same name there. @env: and
    /// @file: work as in -H, and the value is masked in all output.
    #[arg(help_heading = "HTTP", long, num_args = 2, value_names = ["HOST", "HEADER"],
          action = clap::ArgAction::Append)]
    pub host_header: Vec<String>,

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

    /// Send cookies from FILE, a Netscape cookie file (as curl -c writes)
    ///
    /// Each cookie goes only where its domain, path, secure flag and expiry
    /// allow; cookies that answers set (a redirect's included) join them for
    /// the rest of the run. A line that is not a cookie is skipped with a
    /// warning naming FILE:LINE. A missing FILE is an error, unless -c names
    /// it too (the jar's first run).
    #[arg(help_heading = "HTTP", short = 'b', long, value_name = "FILE")]
    pub cookie: Option<PathBuf>,

    /// Write the cookies to FILE when the run ends (Netscape format, mode 0600)
    ///
    /// The cookies of -b and every cookie an answer set, session cookies
    /// included, not the expired ones. FILE is replaced by renaming a new
    /// file over it: a symlink, a folder, or a file in a missing folder is
    /// refused before the run. Two hauls writing one FILE: the last one to
    /// end wins. -b and -c may name the same FILE.
    #[arg(help_heading = "HTTP", short = 'c', long, value_name = "FILE")]
    pub cookie_jar: Option<PathBuf>,

    /// Ask for gzip, br or zstd and save the decoded bytes
    ///
    /// Without it no Accept-Encoding is sent and a body is saved exactly as
    /// it came, compressed or not. With it, sizes, --max-bytes, --limit-rate
    /// and digests (list fields, --checksums, sidecars) are of the decoded
    /// bytes; the server's own digests describe the encoded ones and are not
    /// checked. A decoded file is never resumed or split: its .part starts
    /// over. An answer in another coding fails.
    #[arg(help_heading = "HTTP", long)]
    pub compressed: bool,

    /// Do not verify TLS certificates (a warning on stderr, not with -q)
    #[arg(help_heading = "HTTP", short = 'k', long)]
    pub insecure: bool,

    /// Send every request through this proxy (over HTTP_PROXY...)
    ///
    /// http://, https://, socks5:// (haul resolves names) or socks5h:// (the
    /// proxy does); no scheme means http://. A user and password in the URL
    /// are sent to the proxy and masked in everything haul prints or
    /// writes. NO_PROXY (or --noproxy) still names the hosts reached
    /// directly.
    #[arg(help_heading = "HTTP", short = 'x', long, value_name = "URL")]
    pub proxy: Option<String>,

    /// Reach these hosts without a proxy (over NO_PROXY)
    ///
    /// Comma-separated: a name matches itself and its subdomains, an IP
    /// address or CIDR range matches its addresses, '*' turns every proxy
    /// off (-x and the environment's).
    #[arg(help_heading = "HTTP", long, value_name = "LIST")]
    pub noproxy: Option<String>,

    /// Also trust the PEM certificates in FILE as roots
    ///
    /// In addition to the system's (those of $SSL_CERT_FILE and
    /// $SSL_CERT_DIR when either is set); curl's --cacert replaces them. A
    /// self-signed server certificate given here is trusted for the names
    /// it holds, even one marked CA:TRUE (as `openssl req -x509` makes).
    /// A FILE with no PEM certificate (a DER file) is refused.
    #[arg(help_heading = "HTTP", long, value_name = "FILE")]
    pub cacert: Option<PathBuf>,

    /// Also trust the certificates in every *.pem and *.crt file in DIR
    ///
    /// Like --cacert for each such file in DIR (not its subfolders; other
    /// names, such as `openssl rehash` links, are not read).
    #[arg(help_heading = "HTTP", long, value_name = "DIR")]
    pub capath: Option<PathBuf>,

    /// Send the client certificate (PEM, with its chain) in FILE
    ///
    /// With its private key from --key, or from FILE itself without --key
    /// (as curl does).
    #[arg(help_heading = "HTTP", short = 'E', long, value_name = "FILE")]
    pub cert: Option<PathBuf>,

    /// The private key of --cert (PEM: PKCS#8, PKCS#1 RSA or SEC1 EC)
    ///
    /// Not encrypted: haul does not read encrypted keys (decrypt one with
    /// `openssl pkey -in KEY -out plain.pem`). A FILE others can read gets
    /// a warning.
    #[arg(help_heading = "HTTP", long, value_name = "FILE", requires = "cert")]
    pub key: Option<PathBuf>,

    /// Send credentials from ~/.netrc (or the file $NETRC names)
    ///
    /// Only to the URL's own origin (scheme, host, port), redirects to that
    /// same origin included, and only when the URL carries no password and
    /// no -H Authorization is given; a URL user gets the password of the
    /// entry with that login. A missing ~/.netrc means no credentials; a
    /// damaged entry is skipped with a warning.
    #[arg(help_heading = "HTTP", long)]
    pub netrc: bool,

    /// Like --netrc, with credentials from FILE (which must exist)
    #[arg(help_heading = "HTTP", long, value_name = "FILE")]
    pub netrc_file: Option<PathBuf>,

    /// Verify files against a checksum manifest (a FILE or a URL; repeatable)
    ///
    /// GNU lines ('HEX  NAME', as sha256sum writes them) and BSD lines
    /// ('SHA256 (NAME) = HEX') of sha256, sha512, sha384, sha1 and md5;
    /// NAME is matched against the destination. A URL is fetched before
    /// any download, with the headers and credentials meant for its host,
    /// and kept in memory only.
    #[arg(help_heading = "Verification", long, value_name = "FILE|URL")]
    pub checksums: Vec<String>,

    /// Fetch each file's digest from its URL with SUFFIX added to the path
    ///
    /// For example --checksum-sidecar .sha256 reads https://h/a.tgz.sha256
    /// for https://h/a.tgz; only for files no list field or --checksums
    /// gives a digest. A missing sidecar (404, 410) is no digest.
    #[arg(help_heading = "Verification", long, value_name = "SUFFIX", value_parser = values::sidecar_suffix)]
    pub checksum_sidecar: Option<String>,

    /// Fail a file that no source gives a digest for, instead of saving it unverified
    ///
    /// Sources: the list line (sha256= and the like), --checksums,
    /// --checksum-sidecar, and the server's Repr-Digest, Content-Digest or
    /// x-goog-hash.
    #[arg(help_heading = "Verification", long)]
    pub require_digest: bool,

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

    /// Ignore the config file (HAUL_CONFIG, ~/.config/haul/config)
    ///
    /// The file holds flags, one a line as typed on the command line
    /// (--jobs 32, -H 'X-Key: v'); '#' starts a comment. The command line
    /// comes after it: a single-value flag given there wins, a repeatable
    /// one (-H, -i, --checksums) adds to the file's. $XDG_CONFIG_HOME, when
    /// set, stands for ~/.config; HAUL_CONFIG= (empty) means no file.
    #[arg(help_heading = "Input", long)]
    pub no_config: bool,

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
    help.push_str("'{{' and '}}' stand for literal braces. Folders are created as needed.\n\n");
    help.push_str(
        "-o - writes every file to stdout instead, whole and verified, in input\n\
         order, while downloads run ahead (those waiting their turn are held in\n\
         memory, up to 64 MiB, or in a private folder in $TMPDIR). The first\n\
         URL that fails stops the stream there (exit 1); nothing goes into --dir.",
    );
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
        let cli = parse(&["-H", "X-Token: a b", "-H", "@hdrs.txt"]).unwrap();
        let name = reqwest::header::HeaderName::from_static("x-token");
        assert_eq!(cli.header[0], HeaderArg::Line(name, "a b".into()));
        assert_eq!(cli.header[1], HeaderArg::File("hdrs.txt".into()));
        let cli = parse(&["--host-header", "h:8", "X: y", "--host-header", "g", "Z: 1"]).unwrap();
        assert_eq!(cli.host_header, ["h:8", "X: y", "g", "Z: 1"]);
        assert!(parse(&["--host-header", "h"]).is_err());
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
