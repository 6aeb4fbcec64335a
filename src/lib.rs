//! haul: a bulk downloader. The pipeline, in data-flow order:
//!
//! `cli` (flags) -> `config` (the flags resolved into the groups each part
//! reads; the only reader of the environment) -> `source` + `glob` (input
//! lines, URL globs, both streamed) -> `plan` (URL -> job) -> `runner` (the
//! session) with `scheduler` (what runs next) -> `fetch` (one download) ->
//! `outcome` -> `report` (the summary, the report file, the exit code).
//!
//! Where each thing lives:
//!
//! - Flags: `cli/mod.rs` (clap's `Cli`, help), `cli/values.rs` (value
//!   parsers and each flag's limits). What they mean: `settings.rs` (the
//!   types: `OnExists`, `Split`, `Rate`, ...) and `config.rs` (`Config`
//!   and its groups: `Mode`, `Pace`, `Stops`, `OwnFiles`, `Display`,
//!   `DownloadSettings`, `PlanSettings`); `config/file.rs` (the config
//!   file's flags, put before the command line's); `config/proxy.rs` (`-x`
//!   and `--noproxy` over the environment's proxies).
//! - Inputs: `source/` (list files, stdin, arguments; `FILE:LINE`),
//!   `glob/` (`parse.rs`, `expand.rs`).
//! - Planning: `plan.rs` (positions, `--shard`, de-duplication, naming),
//!   `naming.rs` (templates, safe names, the names a server gives:
//!   `Content-Disposition`, the last URL of a redirect chain),
//!   `claims.rs` (the collision registry), `existing.rs` (the
//!   existing-file rule: skip, hash first, update, refuse; when `--state`
//!   vouches), `seen.rs` (the compact hash set), `mirrors.rs` (a line's
//!   several URLs for one file, and when a download moves on to the next).
//! - The session: `runner/` (`mod.rs`: start, the loop, shutdown;
//!   `open.rs`: what a run or a dry run opens first; `feed.rs`: the
//!   planner's thread; `sink.rs`: where outcomes go; `dry_run.rs`;
//!   `stream.rs`: `-o -`, files to stdout in input order),
//!   `scheduler.rs` (what runs next: the look-ahead past busy hosts,
//!   retries, and who starts a `--split` file's extra connections),
//!   `slots.rs` (per-host policy: `-j`, `--per-host`, `--rate`, host
//!   pauses), `host.rs` (the one host key), `retry.rs` (which failures earn
//!   another attempt, and when), `workers.rs` (the transfer threads),
//!   `session.rs` (the run context a download sees: `Ctx`).
//! - One download: `fetch/mod.rs` (the attempts), `fetch/request.rs`
//!   (a request: build, send, netrc, status check), `fetch/body.rs` (the
//!   one body loop both download kinds read with), `fetch/stream.rs` (a
//!   body on one connection into its `.part`), `fetch/resume.rs` (the
//!   resume note and the one `Content-Range` parser), `fetch/coding.rs`
//!   (`--compressed`: decoded answers, ranges kept to uncoded bytes),
//!   `fetch/part.rs` and `fetch/finish.rs` (the temp file, the checks,
//!   the rename),
//!   `fetch/destination.rs`, `fetch/digests.rs` (manifests by URL,
//!   sidecars, the checks an answer gets), `fetch/split/` (one file over several
//!   connections: `entry.rs` when, `file.rs` its bookkeeping, `range.rs`
//!   one range, `shared.rs` the shared `.part`, `work.rs`, `auto.rs`).
//! - Files: `outdir/` (every access under `--dir`; `temp.rs`: the `.part`
//!   and its lock; `spool.rs`: `-o -`'s small files held in memory), `state/` (`--state`), `small_file.rs` (`.netrc`,
//!   `--checksums`), `netrc.rs`, `cookies/` (the `-b`/`-c` jar every
//!   client shares; `netscape.rs`: the file format), `digest/` (the
//!   algorithms, hashing on the way and from disk; `manifest.rs`:
//!   `--checksums` and sidecars; `server.rs`: the digests an answer's
//!   headers carry).
//! - Outcomes and output: `outcome.rs` (how a URL ended; `Failure`'s
//!   builder), `error.rs` (failure kinds), `report.rs` (summary, report
//!   lines, exit code), `redact.rs` (masking and cleaning what is printed
//!   or stored), `progress.rs` (the one owner of the display),
//!   `logging.rs`, `annotate.rs` (GitHub Actions), `http.rs` (the clients,
//!   its proxies),
//!   `limit.rs` (`--max-bytes`, `--limit-rate`).

// System calls go through rustix and std, which are safe to call.
#![forbid(unsafe_code)]

mod annotate;
mod claims;
mod cli;
mod config;
mod cookies;
mod digest;
mod distinct;
mod error;
mod existing;
mod fetch;
mod glob;
mod headers;
mod host;
mod http;
mod limit;
pub mod logging;
mod mirrors;
mod naming;
mod netrc;
mod outcome;
mod outdir;
mod plan;
mod progress;
mod redact;
mod report;
mod retry;
mod runner;
mod scheduler;
mod seen;
mod session;
mod settings;
mod slots;
mod small_file;
mod source;
mod state;
#[cfg(test)]
mod test_support;
mod tls;
mod workers;

pub use cli::Cli;
pub use config::{Config, Display, Mode, WithConfig, args_with_config};
pub use headers::HeaderArg;
pub use progress::Progress;
pub use report::{Interrupt, ReportTarget, Summary};
pub use settings::{Deadline, OnExists, ProgressMode, Rate, Shard};
pub use source::{Input, ListFile};

/// Runs a whole download session (or prints the plan with `--dry-run`)
/// until the input is done or `stop` resolves: then downloads in flight
/// stop, keeping their `.part` files, and the summary says which
/// [`Interrupt`] it was. `main.rs` turns SIGINT and SIGTERM into `stop`; a
/// caller that never stops passes `std::future::pending()`.
///
/// Per-URL failures are counted in the [`Summary`]; an `Err` means the run
/// could not start or continue at all (an output folder that cannot be
/// created, a report file that cannot be opened).
pub async fn run(
    config: Config,
    mut progress: Progress,
    stop: impl Future<Output = Interrupt>,
) -> anyhow::Result<Summary> {
    match config.mode {
        Mode::Download => runner::run(config, &mut progress, stop).await,
        Mode::DryRun => runner::dry_run(config, &progress),
        Mode::List => {
            let Some(path) = &config.own.state else {
                anyhow::bail!("--list needs --state FILE");
            };
            let listed = state::list(path, &mut std::io::stdout().lock())?;
            tracing::debug!("listed {} entries of {}", listed.entries, path.display());
            if let Some(damage) = listed.damage
                && !config.display.quiet
            {
                progress.println(&format!("haul: warning: {damage}"));
            }
            Ok(Summary::default())
        }
    }
}

/// `text` with every secret header value of the run masked (`***`): for
/// what `main.rs` prints itself (a fatal error).
pub fn mask_secrets(text: &str) -> String {
    redact::scrub(text).into_owned()
}

/// Entry points for property tests and fuzz targets (`fuzz/`). Not a
/// stable API: these wrap the parsers that read untrusted input.
#[doc(hidden)]
pub mod testing {
    use std::path::PathBuf;

    /// One list line: `None` for blanks and comments, else the URL text and
    /// its fields, or the error message.
    #[allow(clippy::type_complexity)]
    pub fn parse_line(
        text: &str,
    ) -> Option<Result<(String, Option<String>, Option<String>), String>> {
        crate::source::parse_line(text).map(|r| {
            r.map(|e| (e.text, e.out, e.digest.map(|d| d.to_string())))
                .map_err(|bad| bad.error)
        })
    }

    /// Parses a glob pattern; `Ok` holds the expansion count and the first
    /// `limit` expansions (text and glob values).
    #[allow(clippy::type_complexity)]
    pub fn expand(
        pattern: &str,
        limit: usize,
    ) -> Result<(u64, Vec<(String, Vec<String>)>), String> {
        let pattern = crate::glob::Pattern::parse(pattern).map_err(|e| e.to_string())?;
        let len = pattern.len();
        let items = pattern
            .into_iter()
            .take(limit)
            .map(|e| (e.text, e.values))
            .collect();
        Ok((len, items))
    }

    /// Renders an output template for `url` and checks the result the way
    /// every destination is checked.
    pub fn destination(
        template: &str,
        url: &str,
        n: u64,
        globs: &[String],
    ) -> Result<PathBuf, String> {
        let template =
            crate::naming::OutputTemplate::parse(template).map_err(|e| format!("{e:#}"))?;
        let url = crate::plan::parse_url(url)?;
        let name = template.render(&url, n, globs)?;
        crate::naming::safe_relative(&name).map_err(|e| e.to_string())
    }

    /// Claims `names` in order in one registry (each first through the
    /// path-safety check, as every destination is): `Ok` for a name that
    /// got its file, the refusal otherwise.
    pub fn claim_all(names: &[String], case_insensitive: bool) -> Vec<Result<(), String>> {
        let claims = crate::claims::Claims::new(std::path::Path::new("out"), case_insensitive);
        names
            .iter()
            .map(|name| {
                let rel = crate::naming::safe_relative(name).map_err(|e| e.to_string())?;
                claims.claim(&rel, name).map_err(|c| c.0)
            })
            .collect()
    }

    /// How names compare on a case-insensitive file system.
    pub fn fold_name(name: &str) -> String {
        crate::claims::fold(name)
    }

    /// Opens (or creates) a `--state` file and records `n` entries in it
    /// (paths `d{i % 1000}/f{i}.bin`, saved by `run`), for the state
    /// benchmark (`examples/state_bench.rs`). The state serves the folder
    /// it is in.
    pub fn state_fill(path: &std::path::Path, from: u64, n: u64, run: u64) -> Result<(), String> {
        let state = crate::state::State::open_for(path, run, &state_dir(path))
            .map_err(|e| format!("{e:#}"))?;
        for i in from..from + n {
            let entry = crate::state::Entry {
                url: format!("https://example.com/files/d{}/f{i}.bin", i % 1000),
                path: format!("d{}/f{i}.bin", i % 1000),
                bytes: 16_384 + i % 4096,
                mtime: Some((1_700_000_000 + i as i64, 0)),
                ino: None,
                ctime: None,
                etag: Some(format!("\"{i:x}-{run}\"")),
                last_modified: None,
                sha256: None,
                saved_at: 1_700_000_000,
                run,
            };
            state.record(&entry).map_err(|e| format!("{e:#}"))?;
        }
        Ok(())
    }

    /// Opens a `--state` file (as a run does): how many entries it holds,
    /// and the open state (held, and its lock, until dropped).
    pub fn state_open(path: &std::path::Path) -> Result<(usize, Box<dyn std::any::Any>), String> {
        let state = crate::state::State::open_for(path, 0, &state_dir(path))
            .map_err(|e| format!("{e:#}"))?;
        Ok((state.len(), Box::new(state)))
    }

    /// The folder a benchmark's state serves: the one it is in.
    fn state_dir(path: &std::path::Path) -> std::path::PathBuf {
        match path.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => std::path::PathBuf::from("."),
        }
    }

    /// The path-safety check on its own.
    pub fn safe_relative(name: &str) -> Result<PathBuf, String> {
        crate::naming::safe_relative(name).map_err(|e| e.to_string())
    }

    /// The file name a `Content-Disposition` header suggests: `None`
    /// without one, `Err` when it cannot be used.
    pub fn content_disposition_name(header: &str) -> Option<Result<String, String>> {
        crate::naming::suggested_name(header).map(|r| r.map_err(|e| e.to_string()))
    }

    /// The file name `--trust-server-names` takes from the last URL of a
    /// redirect chain; `Err` when it cannot be used (or `url` does not
    /// parse).
    pub fn url_file_name(url: &str) -> Result<String, String> {
        let url = url::Url::parse(url).map_err(|e| format!("{url}: {e}"))?;
        crate::naming::url_file_name(&url).map_err(|e| e.to_string())
    }
}
