//! Resolves the raw [`Cli`] into a validated [`Config`]: defaults, the output
//! template, the TTY and `NO_COLOR` decisions, in the groups each part of a
//! run reads (the planner [`PlanSettings`], a download
//! [`DownloadSettings`], the slots [`Pace`], ...). Everything after it is a
//! function of `Config`, except for three readers of the environment:
//! `logging.rs` (`RUST_LOG`), the HTTP client (the proxy variables, read by
//! reqwest, unless `-x` or `--noproxy` is given: then they are read here)
//! and `main.rs` (signals, and raising the open-file limit). It reads
//! `TMPDIR` for `-o -`. Before the command line is parsed, `file.rs` reads
//! the config file (`HAUL_CONFIG`, `XDG_CONFIG_HOME`, `HOME`) and puts its
//! flags first. Its
//! only I/O is on files named on the command line: it reads the small
//! `--checksums` (`digest.rs`), `.netrc` and `-b` cookie files (capped,
//! `small_file.rs`), looks at where `-c` will write, and opens every `-i`
//! list file (without reading it, `source/list.rs`) so that one that
//! cannot be read is an input error before anything is fetched. It fits `-j` to the open-file limit it is
//! given ([`fit_jobs`]).

mod file;
mod proxy;

pub use file::{WithConfig, args_with_config};

use std::io::IsTerminal;
use std::num::NonZeroUsize;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result, bail};

use self::proxy::proxies;
pub(crate) use self::proxy::{Proxies, ProxyList};
use crate::cli::Cli;
use crate::cookies::Jar;
use crate::digest::Manifest;
use crate::glob::Pattern;
use crate::headers::Headers;
use crate::naming::OutputTemplate;
use crate::netrc::{self, Netrc};
use crate::redact::masked_text;
use crate::report::ReportTarget;
use crate::settings::{Deadline, OnExists, ProgressMode, Shard};
use crate::source::{Input, ListFile};

/// Everything a run needs, validated, in the groups its parts read: the
/// runner hands each part its own group (`PlanSettings` to the planner,
/// `DownloadSettings` to the downloads, `Pace` to the slots), never the
/// whole of it (ripgrep's high-level arguments are the model).
#[derive(Debug)]
pub struct Config {
    /// What the run does.
    pub mode: Mode,
    /// `--dir`: the root of every file a download writes.
    pub(crate) dir: PathBuf,
    /// What the planner reads (`plan.rs`).
    pub(crate) plan: PlanSettings,
    /// What each download reads (`fetch/`, through `session.rs`).
    pub(crate) downloads: DownloadSettings,
    /// How much runs at once, and how fast.
    pub(crate) pace: Pace,
    /// What stops the run before its input is done.
    pub(crate) stops: Stops,
    /// haul's own files.
    pub(crate) own: OwnFiles,
    /// What stderr shows.
    pub display: Display,
    /// `-o -`: every file goes to stdout, in input order; those waiting
    /// their turn spill to a private folder made in this one.
    pub(crate) stream: Option<PathBuf>,
}

/// What a run does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Download (the default).
    Download,
    /// `--dry-run`: print the plan, fetch and change nothing.
    DryRun,
    /// `--list`: print the `--state` file's entries.
    List,
}

/// `-j`, `--per-host`, `--rate`, `--limit-rate`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Pace {
    pub(crate) jobs: NonZeroUsize,
    /// `--per-host`: downloads in flight per `host:port`.
    pub(crate) per_host: Option<NonZeroUsize>,
    /// `--rate`: the time between two starts to one host.
    pub(crate) rate: Option<Duration>,
    /// `--limit-rate`: body bytes per second, all downloads together.
    pub(crate) limit_rate: Option<u64>,
}

/// `--deadline`, `--max-bytes`, `--fail-fast`/`--max-failures`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Stops {
    /// `--deadline`: when the run stops, as a time from its start or a
    /// point in time.
    pub(crate) deadline: Option<Deadline>,
    /// `--max-bytes`: body bytes this run may receive.
    pub(crate) max_bytes: Option<u64>,
    /// Stop after this many failed URLs (`--fail-fast` is 1).
    pub(crate) max_failures: Option<NonZeroUsize>,
}

/// haul's own files: no download may write over them.
#[derive(Debug)]
pub(crate) struct OwnFiles {
    /// `--state`: the record of saved files.
    pub(crate) state: Option<PathBuf>,
    pub(crate) report: Option<ReportTarget>,
    /// The `--checksums` files.
    pub(crate) checksums: Vec<PathBuf>,
    /// `-b`: the cookie file read when the run was set up.
    pub(crate) cookie_file: Option<PathBuf>,
    /// `-c`: where the cookie jar is written when the run ends.
    pub(crate) cookie_jar: Option<PathBuf>,
}

/// What stderr shows.
#[derive(Debug)]
pub struct Display {
    pub progress: ProgressMode,
    pub quiet: bool,
    pub verbose: u8,
    pub color: bool,
    /// Said on stderr when the run starts (not with `-q`).
    pub warnings: Vec<String>,
    /// `GITHUB_ACTIONS=true`: failures are also workflow annotations.
    pub github_actions: bool,
}

#[derive(Debug, Clone)]
pub struct HttpConfig {
    /// `-H` and `--host-header`, resolved, with the rule of which request
    /// gets which.
    pub(crate) headers: Headers,
    pub user_agent: String,
    pub max_redirects: usize,
    pub connect_timeout: Duration,
    pub stall_timeout: Duration,
    pub timeout: Option<Duration>,
    pub insecure: bool,
    /// `-x`/`--noproxy` over the environment's proxies.
    pub(crate) proxies: Proxies,
    /// `--cacert`/`--capath`/`--cert`/`--key`: the TLS setup every client
    /// is built with; `None` for reqwest's own (`tls.rs`).
    pub(crate) tls: Option<crate::tls::Tls>,
    /// `--compressed`: ask for gzip, br and zstd, save the decoded bytes.
    pub compressed: bool,
    /// `--netrc`/`--netrc-file`: credentials by host.
    pub(crate) netrc: Option<Arc<Netrc>>,
    /// `-b`/`-c`: the run's cookies, shared by every client.
    pub(crate) cookies: Option<Arc<Jar>>,
    pub retries: u32,
    pub retry_wait: Duration,
    pub resume: bool,
}

/// What the flags say of planning: the part of [`Config`] that `plan.rs`
/// reads.
#[derive(Debug)]
pub(crate) struct PlanSettings {
    /// Arguments and `-i` lists, in input order.
    pub(crate) inputs: Vec<Input>,
    /// `-o`.
    pub(crate) template: OutputTemplate,
    /// `-g`: no globs.
    pub(crate) globoff: bool,
    /// `-o -`: names are the input positions, whatever `out=` says.
    pub(crate) stream: bool,
    pub(crate) shard: Option<Shard>,
    /// Expected digests by name, from the `--checksums` files (and, once
    /// the runner has fetched them, URLs).
    pub(crate) checksums: Manifest,
    /// `--checksums` URLs, fetched when the run starts (a dry run fetches
    /// nothing).
    pub(crate) checksum_urls: Vec<url::Url>,
    pub(crate) on_exists: OnExists,
    /// The name comes with the answer (`--content-disposition`,
    /// `--trust-server-names`): claimed by the download, not the planner.
    pub(crate) name_from_answer: bool,
    /// `--no-resume` not given: a leftover `.part` is looked for.
    pub(crate) resume: bool,
}

/// What the flags say of one download: the part of [`Config`] that
/// `fetch/` reads (through `session.rs`'s `Ctx`).
#[derive(Debug, Clone)]
pub(crate) struct DownloadSettings {
    pub(crate) http: HttpConfig,
    pub(crate) on_exists: OnExists,
    /// `--content-disposition`: a download is named as its answer's
    /// `Content-Disposition` header suggests, when it does.
    pub(crate) content_disposition: bool,
    /// `--trust-server-names`: a redirected download is named after the
    /// last URL of its redirect chain.
    pub(crate) trust_server_names: bool,
    /// `--split`: connections per large file (`None`: one).
    pub(crate) split: Option<crate::settings::Split>,
    /// `--min-split-size`: the smallest range worth a connection.
    pub(crate) min_split_size: u64,
    /// `--checksum-sidecar`: the suffix of each file's digest URL.
    pub(crate) sidecar: Option<String>,
    /// `--require-digest`: a file no source gives a digest for fails.
    pub(crate) require_digest: bool,
}

impl DownloadSettings {
    /// The name comes with the answer: the download claims it then, and
    /// until an attempt has, its destination is not known.
    pub(crate) fn name_from_answer(&self) -> bool {
        self.content_disposition || self.trust_server_names
    }
}

impl Config {
    /// haul's own files and what each is, for the collision registry:
    /// the `--report` file, `-i` lists, `--checksums`, `-b` and `-c`, and
    /// `--state` with the files it writes beside itself.
    pub(crate) fn own_files(&self) -> Vec<(PathBuf, &'static str)> {
        let mut own = Vec::new();
        if let Some(ReportTarget::File(path)) = &self.own.report {
            own.push((path.clone(), "haul's --report file"));
        }
        for input in &self.plan.inputs {
            if let Input::List(Some(list)) = input {
                own.push((list.path().to_path_buf(), "haul's -i list"));
            }
        }
        for path in &self.own.checksums {
            own.push((path.clone(), "haul's --checksums file"));
        }
        if let Some(path) = &self.own.cookie_file {
            own.push((path.clone(), "haul's -b cookie file"));
        }
        if let Some(path) = &self.own.cookie_jar {
            own.push((path.clone(), "haul's -c cookie jar"));
        }
        if let Some(path) = &self.own.state {
            for file in crate::state::files(path) {
                own.push((file, "haul's --state file"));
            }
        }
        own
    }

    /// [`Config::from_cli_with_open_files`] with the soft limit on open
    /// files now in force (`ulimit -n`), as it is.
    pub fn from_cli(cli: Cli) -> Result<Config> {
        let open_files = rustix::process::getrlimit(rustix::process::Resource::Nofile).current;
        Config::from_cli_with_open_files(cli, open_files)
    }

    /// Raises the soft limit on open files (`ulimit -n`) to the hard
    /// limit, as servers and many tools do, but no higher than haul could
    /// use or the system takes (`OPEN_MAX` on macOS); returns the soft
    /// limit then in force (`None`: no limit). A process-wide side effect:
    /// `main.rs` calls it once, before the runtime starts, and passes the
    /// result to [`Config::from_cli_with_open_files`].
    pub fn raise_open_files_limit() -> Option<u64> {
        use rustix::process::{Resource, Rlimit, getrlimit, setrlimit};
        let limit = getrlimit(Resource::Nofile);
        // Enough for the most -j haul takes; macOS refuses more than
        // OPEN_MAX as a soft limit.
        let useful = descriptors_for(crate::cli::values::MAX_JOBS);
        let system = if cfg!(target_os = "macos") {
            10_240
        } else {
            u64::MAX
        };
        let want = limit.maximum.unwrap_or(u64::MAX).min(useful).min(system);
        if limit.current.is_some_and(|now| now < want) {
            let raised = Rlimit {
                current: Some(want),
                maximum: limit.maximum,
            };
            if setrlimit(Resource::Nofile, raised).is_ok() {
                return Some(want);
            }
        }
        limit.current
    }

    /// Resolves the flags; `open_files` is the soft limit on open files
    /// (`None`: no limit), to which `-j` is lowered if it would not fit
    /// (see `fit_jobs`).
    pub fn from_cli_with_open_files(cli: Cli, open_files: Option<u64>) -> Result<Config> {
        let mut inputs = arguments(&cli)?;
        let stream = stream(&cli)?;
        // `-o -`: each file waits its turn in the temporary folder under
        // its place in the input.
        let template = match stream {
            Some(_) => "{n}",
            None => cli.output.as_deref().unwrap_or("{name}"),
        };
        let template = OutputTemplate::parse(template).context("invalid -o/--output template")?;
        if cli.globoff && template.max_glob() > 0 {
            bail!(
                "-o/--output uses {{{}}} but -g/--globoff turns globs off",
                template.max_glob()
            );
        }
        let (checksums, checksum_urls, checksum_files) = checksums(&cli.checksums)?;
        let report = cli.report.as_ref().map(|r| {
            if r == "-" {
                ReportTarget::Stdout
            } else {
                ReportTarget::File(r.into())
            }
        });
        let mut warnings = Vec::new();
        let netrc = netrc(&cli, &mut warnings)?;
        let cookies = cookies(&cli, &mut warnings)?;
        let jobs = fit_jobs(cli.jobs, open_files, &mut warnings);
        let proxies = proxies(&cli, &mut warnings)?;
        let tls = crate::tls::setup(
            crate::tls::Flags {
                cacert: cli.cacert.as_deref(),
                capath: cli.capath.as_deref(),
                cert: cli.cert.as_deref(),
                key: cli.key.as_deref(),
                insecure: cli.insecure,
            },
            &mut warnings,
        )?;
        let http = http(&cli, netrc, cookies, proxies, tls)?;
        // A list file that cannot be read at all is an input error (exit 2)
        // before anything is fetched, not a failure found half-way through:
        // so each is opened here, and read from that open file later. Last,
        // once every other flag is known to be valid, because opening a
        // FIFO lets its writer go on.
        for file in &cli.input_file {
            let list = match file.as_str() {
                "-" => None,
                path => Some(ListFile::open(Path::new(path))?),
            };
            inputs.push(Input::List(list));
        }
        outputs_are_not_inputs(
            Outputs {
                report: report.as_ref(),
                state: cli.state.as_deref(),
                cookie_jar: cli.cookie_jar.as_deref(),
            },
            &inputs,
            &checksum_files,
            cli.cookie.as_deref(),
        )?;
        // `--list` wins: it reads the state and nothing else.
        let mode = if cli.list {
            Mode::List
        } else if cli.dry_run {
            Mode::DryRun
        } else {
            Mode::Download
        };
        Ok(Config {
            mode,
            plan: PlanSettings {
                inputs,
                template,
                stream: stream.is_some(),
                globoff: cli.globoff,
                shard: cli.shard,
                checksums,
                checksum_urls,
                on_exists: cli.on_exists,
                name_from_answer: cli.content_disposition || cli.trust_server_names,
                resume: http.resume,
            },
            downloads: DownloadSettings {
                http,
                on_exists: cli.on_exists,
                content_disposition: cli.content_disposition,
                trust_server_names: cli.trust_server_names,
                split: cli.split.filter(|s| *s != crate::settings::Split::Fixed(1)),
                min_split_size: cli.min_split_size.max(1),
                sidecar: cli.checksum_sidecar.clone(),
                require_digest: cli.require_digest,
            },
            pace: Pace {
                jobs,
                per_host: cli.per_host,
                rate: cli.rate.map(|r| r.interval),
                limit_rate: cli.limit_rate,
            },
            stops: Stops::of(&cli),
            own: OwnFiles {
                state: cli.state.clone(),
                report,
                checksums: checksum_files,
                cookie_file: cli.cookie.clone(),
                cookie_jar: cli.cookie_jar.clone(),
            },
            display: Display::of(&cli, warnings),
            dir: cli.dir,
            stream,
        })
    }
}

/// `-o -`: where the files waiting their turn for stdout spill
/// (`$TMPDIR`, else `/tmp`), and the flags that make no sense without
/// files of the user's (a usage error).
fn stream(cli: &Cli) -> Result<Option<PathBuf>> {
    if cli.output.as_deref() != Some("-") {
        return Ok(None);
    }
    let clashes = [
        (cli.state.is_some(), "--state"),
        (cli.report.as_deref() == Some("-"), "--report -"),
        (cli.content_disposition, "--content-disposition"),
        (cli.trust_server_names, "--trust-server-names"),
    ];
    if let Some((_, flag)) = clashes.iter().find(|(given, _)| *given) {
        bail!("-o - writes every file to stdout: {flag} cannot be used with it");
    }
    Ok(Some(std::env::temp_dir()))
}

/// The files haul writes: `--report`, the `--state` files, `-c`.
struct Outputs<'a> {
    report: Option<&'a ReportTarget>,
    state: Option<&'a Path>,
    cookie_jar: Option<&'a Path>,
}

/// What `-b` is called in messages, and told apart by: `-c` may be it.
const COOKIE_FILE: &str = "the -b cookie file";

/// haul's outputs (`--report`, the `--state` files, the `-c` jar) must not
/// be files it reads (`-i` lists, `--checksums` files, the `-b` file, which
/// only `-c` may be: a jar read at the start and written at the end): a
/// report that is the list would empty it before it is read. Compared by
/// what the paths resolve to (device and inode), so another spelling or a
/// symlink is caught; an output that does not exist yet is no input. The
/// `-c` jar, written last, must not be another output either, there yet or
/// not.
fn outputs_are_not_inputs(
    outputs: Outputs<'_>,
    inputs: &[Input],
    checksums: &[PathBuf],
    cookie_file: Option<&Path>,
) -> Result<()> {
    use std::os::unix::fs::MetadataExt as _;
    let id = |meta: std::fs::Metadata| (meta.dev(), meta.ino());
    let mut read = Vec::new();
    for input in inputs {
        if let Input::List(Some(list)) = input
            && let Ok(meta) = list.file().metadata()
        {
            read.push((id(meta), "an -i list", list.path().to_path_buf()));
        }
    }
    for path in checksums {
        if let Ok(meta) = std::fs::metadata(path) {
            read.push((id(meta), "a --checksums file", path.clone()));
        }
    }
    if let Some(path) = cookie_file
        && let Ok(meta) = std::fs::metadata(path)
    {
        read.push((id(meta), COOKIE_FILE, path.to_path_buf()));
    }
    let mut written = Vec::new();
    if let Some(ReportTarget::File(path)) = outputs.report {
        written.push(("--report", path.clone()));
    }
    if let Some(state) = outputs.state {
        written.extend(
            crate::state::files(state)
                .into_iter()
                .map(|f| ("--state", f)),
        );
    }
    if let Some(jar) = outputs.cookie_jar {
        if let Some((flag, other)) = written.iter().find(|(_, other)| same_file(jar, other)) {
            bail!(
                "-c {} is also the {flag} file ({}): name another file for the cookie jar",
                jar.display(),
                other.display()
            );
        }
        written.push(("-c", jar.to_path_buf()));
    }
    for (flag, path) in written {
        let Ok(meta) = std::fs::metadata(&path) else {
            continue;
        };
        let clash = read
            .iter()
            .find(|(i, what, _)| *i == id(meta.clone()) && !(flag == "-c" && *what == COOKIE_FILE));
        if let Some((_, what, input)) = clash {
            bail!(
                "{flag} {} is also {what} ({}): haul would write over what it reads",
                path.display(),
                input.display()
            );
        }
    }
    Ok(())
}

/// Whether two paths name one file: the same device and inode when both
/// are there, else the same path once made absolute with its folder
/// resolved (symlinks and `..` in it).
fn same_file(a: &Path, b: &Path) -> bool {
    use std::os::unix::fs::MetadataExt as _;
    if let (Ok(a), Ok(b)) = (std::fs::metadata(a), std::fs::metadata(b)) {
        return (a.dev(), a.ino()) == (b.dev(), b.ino());
    }
    let resolved = |path: &Path| {
        let folder = match path.parent() {
            Some(p) if !p.as_os_str().is_empty() => p,
            _ => Path::new("."),
        };
        let folder = folder
            .canonicalize()
            .unwrap_or_else(|_| std::path::absolute(folder).unwrap_or_default());
        folder.join(path.file_name().unwrap_or_default())
    };
    resolved(a) == resolved(b)
}

/// `--checksums`: the files read now (an input error, exit 2, when one
/// cannot be read or has a bad line), the URLs to fetch when the run
/// starts, and the files' paths (haul's own files).
fn checksums(given: &[String]) -> Result<(Manifest, Vec<url::Url>, Vec<PathBuf>)> {
    let mut manifest = Manifest::default();
    let (mut urls, mut files) = (Vec::new(), Vec::new());
    for given in given {
        let lower = given.get(..8).unwrap_or(given).to_ascii_lowercase();
        if lower.starts_with("http://") || lower.starts_with("https://") {
            let url = url::Url::parse(given)
                .with_context(|| format!("invalid --checksums URL '{}'", masked_text(given)))?;
            urls.push(url);
            continue;
        }
        let path = PathBuf::from(given);
        let (text, _) =
            crate::small_file::read(&path).context("cannot use the --checksums file")?;
        manifest.add(&text, &path.display().to_string())?;
        files.push(path);
    }
    Ok((manifest, urls, files))
}

/// Descriptors haul needs whatever `-j` is: stdio, each transfer thread's
/// runtime (epoll, its waker), DNS look-ups, the `--state`, `--report`, `-i`
/// and `--dir` files.
const RESERVED_DESCRIPTORS: u64 = 32;

/// Descriptors one of the `-j` slots may hold: a socket, the `.part` file
/// and a folder descriptor. A `--split` connection takes a slot of its own
/// and holds only a socket (the file's connections share its `.part`).
const DESCRIPTORS_PER_JOB: u64 = 3;

/// Descriptors `jobs` downloads in flight may need at once.
fn descriptors_for(jobs: usize) -> u64 {
    (jobs as u64)
        .saturating_mul(DESCRIPTORS_PER_JOB)
        .saturating_add(RESERVED_DESCRIPTORS)
}

/// `-j` lowered to what `open_files` descriptors allow (at least 1), with a
/// warning that says so; as given when it fits or there is no limit.
fn fit_jobs(
    jobs: NonZeroUsize,
    open_files: Option<u64>,
    warnings: &mut Vec<String>,
) -> NonZeroUsize {
    let Some(limit) = open_files else {
        return jobs;
    };
    if descriptors_for(jobs.get()) <= limit {
        return jobs;
    }
    let room = limit.saturating_sub(RESERVED_DESCRIPTORS) / DESCRIPTORS_PER_JOB;
    let fit = NonZeroUsize::new(usize::try_from(room).unwrap_or(usize::MAX).min(jobs.get()))
        .unwrap_or(NonZeroUsize::MIN);
    warnings.push(format!(
        "-j {jobs} lowered to {fit}: only {limit} file descriptors (ulimit -n)"
    ));
    fit
}

/// The URL arguments (`-` is standard input), checked with the `-i` names:
/// something to read, and standard input at most once. The lists
/// themselves are opened last, by [`Config::from_cli`].
fn arguments(cli: &Cli) -> Result<Vec<Input>> {
    let mut inputs = Vec::new();
    for (i, text) in cli.urls.iter().enumerate() {
        if text == "-" {
            inputs.push(Input::List(None));
        } else {
            if !cli.globoff {
                check_glob(i + 1, text)?;
            }
            inputs.push(Input::Arg {
                index: i + 1,
                text: text.clone(),
            });
        }
    }
    if inputs.is_empty() && cli.input_file.is_empty() && !cli.list {
        bail!("no URL given: pass URLs as arguments, or a list with -i/--input-file FILE");
    }
    let stdin_lists = inputs
        .iter()
        .filter(|i| matches!(i, Input::List(None)))
        .count()
        + cli.input_file.iter().filter(|f| *f == "-").count();
    if stdin_lists > 1 {
        bail!("standard input ('-') can be read only once");
    }
    Ok(inputs)
}

/// A malformed glob in an argument is a usage error (exit 2) that shows
/// the pattern with a caret under the column (in a list, a bad line is one
/// failure and the rest goes on).
fn check_glob(index: usize, text: &str) -> Result<()> {
    let Err(err) = Pattern::parse(text) else {
        return Ok(());
    };
    // Shown with its password masked; the caret moves with the text.
    let shown = masked_text(text);
    let mut column = err.column;
    let at = text.find('@').map(|i| text[..i].chars().count());
    if at.is_some_and(|at| column > at) {
        let (before, after) = (text.chars().count(), shown.chars().count());
        column = (column + after).saturating_sub(before);
    }
    let caret = " ".repeat(column.saturating_sub(1));
    bail!(
        "bad glob in argument {index}: {}\n  {shown}\n  {caret}^\n\
         (write -g/--globoff to take '[]{{}}' literally)",
        masked_text(&err.to_string())
    )
}

impl Stops {
    fn of(cli: &Cli) -> Stops {
        Stops {
            deadline: cli.deadline,
            max_bytes: cli.max_bytes,
            max_failures: match cli.fail_fast {
                true => NonZeroUsize::new(1),
                false => cli.max_failures,
            },
        }
    }
}

impl Display {
    /// How progress is shown (bars on a terminal, log lines otherwise,
    /// nothing with `-q`; `--progress` overrides) and whether in colour
    /// (`NO_COLOR`).
    fn of(cli: &Cli, warnings: Vec<String>) -> Display {
        let stderr_tty = std::io::stderr().is_terminal();
        let progress = if cli.quiet {
            ProgressMode::None
        } else if let Some(mode) = cli.progress {
            mode
        } else if stderr_tty {
            ProgressMode::Bar
        } else {
            ProgressMode::Log
        };
        // NO_COLOR (set, not empty) wins; CLICOLOR_FORCE (set, not 0) colours
        // even what is not a terminal (https://no-color.org, bixense.com/clicolors).
        let set = |name| std::env::var_os(name).filter(|v| !v.is_empty());
        let forced = set("CLICOLOR_FORCE").is_some_and(|v| v != "0");
        Display {
            progress,
            quiet: cli.quiet,
            verbose: cli.verbose,
            color: (stderr_tty || forced) && set("NO_COLOR").is_none(),
            warnings,
            github_actions: std::env::var_os("GITHUB_ACTIONS").is_some_and(|v| v == "true"),
        }
    }
}

/// The `.netrc` to use: `--netrc-file FILE` (which must be readable), or
/// with `--netrc` the one `$NETRC` or `~/.netrc` names (none if missing).
fn netrc(cli: &Cli, warnings: &mut Vec<String>) -> Result<Option<Arc<Netrc>>> {
    let path = match (&cli.netrc_file, cli.netrc) {
        (Some(path), _) => path.clone(),
        (None, true) => match netrc::default_path() {
            Some(path) if path.exists() => path,
            _ => return Ok(None),
        },
        (None, false) => return Ok(None),
    };
    let flag = if cli.netrc_file.is_some() {
        "--netrc-file"
    } else {
        "--netrc"
    };
    // Damage in the file is a warning each (the entry is skipped); only a
    // file that cannot be read is an error.
    let (netrc, found) =
        netrc::load(&path).with_context(|| format!("cannot use the {flag} file"))?;
    warnings.extend(found);
    Ok(Some(Arc::new(netrc)))
}

/// `-b`/`-c`: the run's cookie jar when either is given: the cookies of
/// the `-b` file (which must be readable, except that a missing one is an
/// empty jar when `-c` names it too: a jar's first run), once the `-c`
/// file is known to be one haul can replace when the run ends.
fn cookies(cli: &Cli, warnings: &mut Vec<String>) -> Result<Option<Arc<Jar>>> {
    if let Some(path) = &cli.cookie_jar {
        jar_target(path)?;
    }
    let jar = match (&cli.cookie, &cli.cookie_jar) {
        (None, None) => return Ok(None),
        (None, Some(_)) => Jar::default(),
        (Some(read), written) => {
            let missing = std::fs::symlink_metadata(read)
                .is_err_and(|e| e.kind() == std::io::ErrorKind::NotFound);
            if missing && written.as_deref().is_some_and(|w| same_file(w, read)) {
                Jar::default()
            } else if missing && read.to_string_lossy().contains('=') {
                // Not named: it is most likely a cookie, value and all.
                bail!(
                    "-b takes a cookie file, and there is no file of that name; for a \
                     cookie itself, use -H 'Cookie: NAME=VALUE' (with @env: or @file: to \
                     keep the value out of argv)"
                );
            } else {
                Jar::load(read, warnings).context("cannot use the -b cookie file")?
            }
        }
    };
    Ok(Some(Arc::new(jar)))
}

/// A `-c` file haul can replace when the run ends, checked before the
/// run so that a jar is not lost at its end: a regular file or nothing
/// yet, in a folder that is there and writable. A symlink is refused: the
/// new jar is renamed over the name, which would replace the link, not
/// write where it points.
fn jar_target(path: &Path) -> Result<()> {
    let shown = path.display();
    match std::fs::symlink_metadata(path) {
        Ok(meta) if meta.file_type().is_symlink() => bail!(
            "-c {shown} is a symbolic link: haul writes the jar by renaming a new file \
             over it, which would replace the link; name the file it points to"
        ),
        Ok(meta) if meta.is_dir() => bail!("-c {shown} is a folder, not a file"),
        Ok(meta) if !meta.is_file() => bail!("-c {shown} is not a regular file"),
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(e).with_context(|| format!("cannot use -c {shown}")),
    }
    let folder = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    if !folder.is_dir() {
        bail!("-c {shown}: the folder {} does not exist", folder.display());
    }
    rustix::fs::access(folder, rustix::fs::Access::WRITE_OK)
        .with_context(|| format!("-c {shown}: cannot write in {}", folder.display()))?;
    Ok(())
}

fn http(
    cli: &Cli,
    netrc: Option<Arc<Netrc>>,
    cookies: Option<Arc<Jar>>,
    proxies: Proxies,
    tls: Option<crate::tls::Tls>,
) -> Result<HttpConfig> {
    let headers = Headers::resolve(&cli.header, &cli.host_header)?;
    Ok(HttpConfig {
        netrc,
        cookies,
        headers,
        user_agent: cli
            .user_agent
            .clone()
            .unwrap_or_else(|| concat!("haul/", env!("CARGO_PKG_VERSION")).into()),
        max_redirects: cli.max_redirects,
        connect_timeout: cli.connect_timeout,
        stall_timeout: cli.stall_timeout,
        timeout: cli.timeout,
        insecure: cli.insecure,
        proxies,
        tls,
        compressed: cli.compressed,
        retries: cli.retries,
        retry_wait: cli.retry_wait,
        resume: !cli.no_resume,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;
    use proptest::prelude::*;
    use std::time::{Instant, SystemTime};

    fn from_args(args: &[&str]) -> Result<Config> {
        let cli = Cli::try_parse_from(std::iter::once("haul").chain(args.iter().copied())).unwrap();
        Config::from_cli(cli)
    }

    #[test]
    fn a_bad_glob_argument_is_a_usage_error_with_a_caret() {
        let err = format!("{:#}", from_args(&["http://h/a[1-x].txt"]).unwrap_err());
        assert_eq!(
            err,
            "bad glob in argument 1: bad range \"[1-x]\" at column 11: start and end are of \
             different kinds\n  http://h/a[1-x].txt\n            ^\n\
             (write -g/--globoff to take '[]{}' literally)"
        );
        assert!(from_args(&["-g", "http://h/a[1-x].txt"]).is_ok());
        // A password in the pattern is masked, the caret still in place.
        let err = format!("{:#}", from_args(&["http://u:secret@h/[1-x]"]).unwrap_err());
        assert!(!err.contains("secret"), "{err}");
        assert!(
            err.contains("\n  http://u:***@h/[1-x]\n                 ^\n"),
            "{err}"
        );
    }

    #[test]
    fn jobs_are_fitted_to_the_descriptors_there_are() {
        let fit = |jobs: usize, limit: Option<u64>| {
            let mut warnings = Vec::new();
            let got = fit_jobs(NonZeroUsize::new(jobs).unwrap(), limit, &mut warnings);
            (got.get(), warnings)
        };
        assert_eq!(fit(1000, None), (1000, vec![]));
        assert_eq!(fit(16, Some(1024)), (16, vec![]));
        // (128 - 32 reserved) / 3 per download.
        assert_eq!(
            fit(1000, Some(128)),
            (
                32,
                vec!["-j 1000 lowered to 32: only 128 file descriptors (ulimit -n)".into()]
            )
        );
        assert_eq!(fit(32, Some(128)), (32, vec![]));
        assert_eq!(fit(33, Some(128)).0, 32);
        // Never below one.
        assert_eq!(fit(200, Some(10)).0, 1);
        assert_eq!(fit(1, Some(0)).0, 1);
        assert_eq!(
            fit(crate::cli::values::MAX_JOBS, Some(u64::MAX)).0,
            crate::cli::values::MAX_JOBS
        );
    }

    #[test]
    fn inputs_keep_their_order_and_stdin_is_read_once() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("urls.txt");
        std::fs::write(&file, "").unwrap();
        let file = file.to_str().unwrap();
        let config = from_args(&["http://a/", "-i", file, "-", "-i", file]).unwrap();
        let labels: Vec<String> = config.plan.inputs.iter().map(Input::label).collect();
        assert_eq!(labels, ["argument 1", "<stdin>", file, file]);

        for args in [&["-", "-i", "-"][..], &["-i", "-", "-i", "-"], &["-", "-"]] {
            let err = from_args(args).unwrap_err().to_string();
            assert_eq!(
                err, "standard input ('-') can be read only once",
                "{args:?}"
            );
        }
    }

    /// Every numeric flag, by its long name.
    const NUMERIC_FLAGS: [&str; 16] = [
        "--jobs",
        "--per-host",
        "--rate",
        "--limit-rate",
        "--split",
        "--min-split-size",
        "--max-bytes",
        "--deadline",
        "--retries",
        "--retry-wait",
        "--connect-timeout",
        "--stall-timeout",
        "--timeout",
        "--max-redirects",
        "--max-failures",
        "--shard",
    ];

    /// A number as a user might write one, at its extremes: zero, one,
    /// the integer limits and past them, huge and tiny decimals, signs,
    /// NaN and infinities, long runs of digits, random integers and
    /// floats.
    fn extreme_number() -> impl Strategy<Value = String> {
        let fixed = prop::sample::select(vec![
            "0",
            "1",
            "-1",
            "-0",
            "0.5",
            "4294967295",
            "4294967296",
            "18446744073709551615",
            "18446744073709551616",
            "9223372036854775807",
            "10000000000000000000",
            "153722867280912930",
            "8589934592",
            "1073741824",
            "1073741825",
            "1e-19",
            "1e-300",
            "1e300",
            "1e400",
            "0.0000000000000000001",
            "NaN",
            "nan",
            "inf",
            "-inf",
            "infinity",
            "",
            " ",
            ".",
            "1.",
            ".5",
            "1..2",
            "+5",
            "0x10",
        ]);
        prop_oneof![
            fixed.prop_map(String::from),
            any::<u64>().prop_map(|n| n.to_string()),
            any::<i64>().prop_map(|n| n.to_string()),
            any::<f64>().prop_map(|n| n.to_string()),
            any::<f64>().prop_map(|n| format!("{n:e}")),
            "[0-9]{1,400}",
            "[0-9]{1,40}\\.[0-9]{1,400}",
            "0\\.0{1,400}[1-9]",
        ]
    }

    /// Every unit any numeric flag takes, and a few none does.
    const UNITS: [&str; 25] = [
        "", "ms", "s", "m", "h", "d", "b", "k", "K", "KB", "KiB", "M", "MB", "MiB", "G", "GB",
        "GiB", "T", "/s", "/m", "/h", "/", " s", "/1", "/0",
    ];

    /// Values for a numeric flag: a number with every unit; `K/N`; a date.
    fn values() -> impl Strategy<Value = Vec<String>> {
        prop_oneof![
            8 => extreme_number()
                .prop_map(|n| UNITS.iter().map(|u| format!("{n}{u}")).collect()),
            1 => (extreme_number(), extreme_number()).prop_map(|(k, n)| vec![format!("{k}/{n}")]),
            1 => (1..=3000i32, 1..=12u8, 1..=31u8, 0..=25u8, 0..=61u8, -30..=30i8)
                .prop_map(|(y, mo, d, h, mi, off)| {
                    vec![format!("{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:00{off:+03}:{:02}", mi % 100)]
                }),
        ]
    }

    proptest! {
        // Each case tries every flag with every unit: 400 parses.
        #![proptest_config(ProptestConfig::with_cases(64))]

        /// Whatever value a numeric flag is given, parsing and building
        /// the config never panic; a refusal names the flag; and what is
        /// accepted is safe in the arithmetic the run does with it
        /// (`Instant::now() + d`, doubling a size, pacing a host, backing
        /// off, limiting bytes).
        #[test]
        fn numeric_flags_never_panic_and_a_refusal_names_the_flag(values in values()) {
            // Built once: building the command is most of a parse's time.
            let mut command = <Cli as clap::CommandFactory>::command();
            command.build();
            for flag in NUMERIC_FLAGS {
                for value in &values {
                    check_flag(&mut command, flag, value)?;
                }
            }
        }
    }

    /// One `FLAG=VALUE`: see the property above.
    fn check_flag(
        command: &mut clap::Command,
        flag: &str,
        value: &str,
    ) -> Result<(), TestCaseError> {
        use clap::FromArgMatches as _;
        let arg = format!("{flag}={value}");
        let parsed = command
            .try_get_matches_from_mut(["haul", &arg, "http://h/x"])
            .and_then(|matches| Cli::from_arg_matches(&matches));
        let cli = match parsed {
            Ok(cli) => cli,
            Err(err) => {
                let text = err.to_string();
                prop_assert!(text.contains(&format!("'{flag} <")), "{arg}: {text}");
                return Ok(());
            }
        };
        match Config::from_cli_with_open_files(cli, Some(1 << 20)) {
            Ok(config) => exercise(&config),
            Err(err) => {
                let text = format!("{err:#}");
                prop_assert!(text.contains(flag), "{arg}: {text}");
            }
        }
        Ok(())
    }

    /// The arithmetic a run does with the numeric settings, as the runner,
    /// the slots, the retries and the byte limits do it.
    fn exercise(config: &Config) {
        let now = Instant::now();
        let deadline = match config.stops.deadline {
            Some(Deadline::After(after)) => after,
            Some(Deadline::At(at)) => at.duration_since(SystemTime::now()).unwrap_or_default(),
            None => Duration::ZERO,
        };
        let http = &config.downloads.http;
        for d in [
            deadline,
            http.connect_timeout,
            http.stall_timeout,
            http.timeout.unwrap_or_default(),
            http.retry_wait,
        ] {
            let _ = now + d;
            let _ = tokio::time::Instant::now() + d;
        }
        for retry in [1, 2, http.retries, u32::MAX] {
            let _ = now + crate::retry::backoff(http.retry_wait, retry);
        }
        let mut slots = crate::slots::Slots::new(
            config.pace.jobs.get(),
            config.pace.per_host.map(NonZeroUsize::get),
            config.pace.rate,
        );
        let url = url::Url::parse("http://h/x").unwrap();
        for _ in 0..3 {
            slots.take(&url, now);
            slots.slow_down(&url, now);
        }
        let _ = slots.next_due(now);
        let _ = config.downloads.min_split_size * 2;
        if let Some(rate) = config.pace.limit_rate {
            let limit = crate::limit::ByteRate::new(rate);
            for _ in 0..3 {
                let _ = limit.take(256 << 10, now);
            }
        }
        if let Some(max) = config.stops.max_bytes {
            let budget = crate::limit::ByteBudget::new(max);
            budget.add(max);
            budget.add(u64::MAX / 2);
        }
        let _ = descriptors_for(config.pace.jobs.get());
    }
}
