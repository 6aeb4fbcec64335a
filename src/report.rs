//! What is made of outcomes (`outcome.rs`): the per-URL failure line, the
//! `--report` JSON Lines record and the report file itself, the [`Summary`]
//! with its last stderr line, and the process exit code. It does not decide
//! outcomes (that is `fetch/`), redact (`redact.rs`) or draw progress
//! (`progress.rs`).

use std::fmt::Write as _;
use std::io::{BufWriter, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, Result};
use indicatif::HumanBytes;
use serde::Serialize;

use crate::digest::Verified;
use crate::error::FailureKind;
use crate::outcome::{Done, Outcome};
use crate::redact::sanitize;

impl Outcome {
    fn status(&self) -> &'static str {
        match &self.result {
            Ok(Done::Saved { .. }) => "ok",
            Ok(Done::Skipped { .. }) => "skipped",
            Ok(Done::NotModified { .. }) => "not_modified",
            Err(_) => "failed",
        }
    }

    /// The one stderr line for a failure:
    /// `haul: URL -> PATH: reason` or `haul: urls.txt:17: reason`.
    pub(crate) fn failure_line(&self) -> Option<String> {
        let failure = self.result.as_ref().err()?;
        let mut line = String::from("haul: ");
        match (&self.origin, &self.path) {
            (_, Some(path)) => {
                let _ = write!(
                    line,
                    "{} -> {}",
                    sanitize(&self.url),
                    sanitize(&path.display().to_string())
                );
            }
            (Some(origin), None) => {
                line.push_str(&sanitize(origin));
                if !self.url.is_empty() {
                    let _ = write!(line, ": {}", sanitize(&self.url));
                }
            }
            (None, None) => line.push_str(&sanitize(&self.url)),
        }
        let _ = write!(line, ": {}", sanitize(&format!("{:#}", failure.error)));
        Some(line)
    }

    /// The `--report` record.
    fn record(&self) -> Record<'_> {
        let mut record = Record {
            url: &self.url,
            path: self.path.as_deref().map(|p| p.display().to_string()),
            status: self.status(),
            http_status: None,
            bytes: 0,
            size: None,
            sha256: None,
            digest: None,
            digest_source: None,
            attempts: self.attempts,
            elapsed_ms: self.elapsed.as_millis() as u64,
            error: None,
            replaced: None,
            connections: None,
            served_by: None,
        };
        match &self.result {
            Ok(Done::Saved {
                http_status,
                bytes,
                size,
                verified,
                replaced,
                connections,
                served_by,
            }) => {
                record.http_status = Some(*http_status);
                record.bytes = *bytes;
                record.size = Some(*size);
                record.verified(verified);
                record.replaced = *replaced;
                record.connections = *connections;
                record.served_by = served_by.as_deref();
            }
            Ok(Done::Skipped { verified, size }) => {
                record.verified(verified);
                record.size = *size;
            }
            Ok(Done::NotModified { http_status }) => record.http_status = Some(*http_status),
            Err(f) => {
                record.http_status = f.http_status;
                record.bytes = f.bytes;
                record.error = Some(match &self.origin {
                    Some(origin) if self.path.is_none() => format!("{origin}: {:#}", f.error),
                    _ => format!("{:#}", f.error),
                });
            }
        }
        record
    }
}

/// One `--report` line: every key is always there (`null` when it does not
/// apply), except `replaced`, which only a file fetched again has,
/// `connections`, which only a file fetched with `--split` has, and
/// `served_by`, which only a file saved from a line with several URLs has.
#[derive(Debug, Serialize)]
struct Record<'a> {
    url: &'a str,
    path: Option<String>,
    status: &'static str,
    http_status: Option<u16>,
    bytes: u64,
    size: Option<u64>,
    sha256: Option<String>,
    /// The digest checked (`ALG:HEX`) and where it came from.
    digest: Option<String>,
    digest_source: Option<String>,
    attempts: u32,
    elapsed_ms: u64,
    error: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    replaced: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    connections: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    served_by: Option<&'a [String]>,
}

impl Record<'_> {
    fn verified(&mut self, verified: &Verified) {
        self.sha256 = verified.sha256.map(hex::encode);
        if let Some(checked) = &verified.checked {
            self.digest = Some(checked.digest.to_string());
            self.digest_source = Some(checked.source.to_string());
        }
    }
}

/// Where `--report` goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReportTarget {
    Stdout,
    File(PathBuf),
}

/// `--report`: one JSON object per finished URL, flushed line by line so
/// `tail -f` and streaming `jq` see each one as it happens.
pub(crate) struct Report {
    out: Box<dyn Write + Send>,
}

/// A `--report` file opened and held for this run, not yet emptied: a run
/// takes every lock it needs before it changes any file, so one that is
/// refused leaves an earlier run's report whole.
pub(crate) enum Held {
    Stdout,
    File {
        file: std::fs::File,
        path: PathBuf,
        /// A regular file (emptied when the run starts; a FIFO or a device
        /// is written as it is).
        regular: bool,
        /// This run created it (removed again if the run is refused).
        created: bool,
    },
}

impl Held {
    /// Opens the report without changing it: never blocking (a FIFO with
    /// no reader is refused at once, not waited for with signals ignored)
    /// and, for a regular file, locked (`flock`) for this run; another haul
    /// writing to it is refused. With `later`, `None` when the file's
    /// folder does not exist yet (it may be `--dir`, created later).
    pub(crate) fn open(target: &ReportTarget, later: bool) -> Result<Option<Held>> {
        let path = match target {
            ReportTarget::Stdout => return Ok(Some(Held::Stdout)),
            ReportTarget::File(path) => path,
        };
        let shown = path.display();
        use rustix::fs::{FlockOperation, Mode, OFlags};
        use rustix::io::Errno;
        let flags = OFlags::WRONLY | OFlags::NONBLOCK | OFlags::CLOEXEC;
        let mode = Mode::from_raw_mode(0o666);
        // Created only when missing (O_EXCL), to know whether it was.
        let (fd, created) =
            match rustix::fs::open(path, flags | OFlags::CREATE | OFlags::EXCL, mode) {
                Ok(fd) => (fd, true),
                // Something is there (a file, a FIFO, a device, a symlink,
                // dangling or not): opened as it is, through the link.
                Err(Errno::EXIST) => match rustix::fs::open(path, flags | OFlags::CREATE, mode) {
                    Ok(fd) => (fd, false),
                    Err(e) => return Err(report_error(e, path)),
                },
                Err(Errno::NOENT)
                    if later
                        && path
                            .parent()
                            .is_some_and(|p| !p.as_os_str().is_empty() && !p.exists()) =>
                {
                    return Ok(None);
                }
                Err(e) => return Err(report_error(e, path)),
            };
        let stat = rustix::fs::fstat(&fd).map_err(|e| report_error(e, path))?;
        let regular = rustix::fs::FileType::from_raw_mode(stat.st_mode).is_file();
        if regular {
            match rustix::fs::flock(&fd, FlockOperation::NonBlockingLockExclusive) {
                Ok(()) => {}
                Err(Errno::WOULDBLOCK) => {
                    anyhow::bail!("the --report file {shown} is in use by another haul")
                }
                Err(e) => return Err(report_error(e, path)),
            }
        }
        // Written with ordinary, waiting writes from here on.
        let flags = rustix::fs::fcntl_getfl(&fd).map_err(|e| report_error(e, path))?;
        rustix::fs::fcntl_setfl(&fd, flags - OFlags::NONBLOCK)
            .map_err(|e| report_error(e, path))?;
        Ok(Some(Held::File {
            file: fd.into(),
            path: path.clone(),
            regular,
            created,
        }))
    }

    /// The run is refused after all: a report file this run created goes
    /// again; one that was there stays as it was.
    pub(crate) fn abandon(self) {
        if let Held::File {
            path,
            created: true,
            ..
        } = self
        {
            let _ = std::fs::remove_file(path);
        }
    }

    /// Every lock is held: empties a regular file and starts the report.
    pub(crate) fn start(self) -> Result<Report> {
        let out: Box<dyn Write + Send> = match self {
            Held::Stdout => Box::new(std::io::stdout()),
            Held::File {
                file,
                path,
                regular,
                ..
            } => {
                if regular {
                    file.set_len(0).with_context(|| {
                        format!("cannot empty the --report file {}", path.display())
                    })?;
                }
                Box::new(BufWriter::new(file))
            }
        };
        Ok(Report { out })
    }
}

fn report_error(errno: rustix::io::Errno, path: &std::path::Path) -> anyhow::Error {
    if errno == rustix::io::Errno::NXIO {
        return anyhow::anyhow!(
            "the --report file {} is a FIFO with no reader: start its reader first",
            path.display()
        );
    }
    anyhow::Error::new(std::io::Error::from(errno))
        .context(format!("cannot open the --report file {}", path.display()))
}

impl Report {
    pub(crate) fn write(&mut self, outcome: &Outcome) -> Result<()> {
        let mut line =
            serde_json::to_string(&outcome.record()).context("cannot encode a report line")?;
        line.push('\n');
        let line = crate::redact::scrub(&line);
        self.out
            .write_all(line.as_bytes())
            .and_then(|()| self.out.flush())
            .context("cannot write the --report")
    }
}

/// What a run did; the last stderr line and the exit code come from it.
#[derive(Debug, Default)]
pub struct Summary {
    pub ok: u64,
    pub skipped: u64,
    pub not_modified: u64,
    pub failed: u64,
    /// Downloads stopped in flight by a signal or `--fail-fast`.
    pub cancelled: u64,
    /// Body bytes received, by every attempt (the transfer, not the disk).
    pub bytes: u64,
    pub elapsed: Duration,
    /// Set when a signal stopped the run early.
    pub interrupted: Option<Interrupt>,
    /// Set when `--fail-fast`/`--max-failures` stopped the run early.
    pub stopped_early: bool,
    /// The run budget (`--deadline`, `--max-bytes`) that stopped the run.
    pub budget: Option<&'static str>,
    /// `-o -`: the reader of stdout went away (`EPIPE`).
    pub output_closed: bool,
    /// `-o -`: stdout could not be written otherwise.
    pub output_failed: bool,
    /// The `-c` cookie jar could not be written when the run ended.
    pub cookie_jar_unsaved: bool,
    /// Files saved with a digest checked, and without one.
    pub verified: u64,
    pub unverified: u64,
    /// The run was asked for digests (`--checksums`, `--checksum-sidecar`):
    /// the summary counts the files saved without one even when none was
    /// verified.
    pub expects_digests: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Interrupt {
    Sigint,
    Sigterm,
}

impl Summary {
    pub(crate) fn record(&mut self, outcome: &Outcome) {
        match &outcome.result {
            Ok(Done::Saved { verified, .. }) => {
                self.ok += 1;
                match verified.checked {
                    Some(_) => self.verified += 1,
                    None => self.unverified += 1,
                }
            }
            Ok(Done::Skipped { .. }) => self.skipped += 1,
            Ok(Done::NotModified { .. }) => self.not_modified += 1,
            Err(f) if f.kind == FailureKind::Cancelled => self.cancelled += 1,
            Err(_) => self.failed += 1,
        }
    }

    /// `1998 ok, 2 skipped, 1 failed, 1.20 GiB in 14.3s (85.00 MiB/s)`
    pub fn line(&self) -> String {
        let secs = self.elapsed.as_secs_f64();
        let mut line = format!("{} ok, ", self.ok);
        if self.unverified > 0 && (self.verified > 0 || self.expects_digests) {
            line.insert_str(
                line.len() - 2,
                &format!(" ({} without a digest)", self.unverified),
            );
        }
        if self.not_modified > 0 {
            let _ = write!(line, "{} not modified, ", self.not_modified);
        }
        let _ = write!(line, "{} skipped, {} failed, ", self.skipped, self.failed);
        if self.cancelled > 0 {
            let _ = write!(line, "{} cancelled, ", self.cancelled);
        }
        let _ = write!(
            line,
            "{} in {secs:.1}s ({}/s)",
            HumanBytes(self.bytes),
            HumanBytes((self.bytes as f64 / secs.max(0.001)) as u64),
        );
        match (self.interrupted, self.budget) {
            (Some(_), _) => line.push_str(" (interrupted)"),
            (None, Some(flag)) => {
                let _ = write!(line, " (stopped by {flag})");
            }
            (None, None) if self.stopped_early => {
                line.push_str(" (stopped early after failures)");
            }
            (None, None) => {}
        }
        line
    }

    pub fn exit_code(&self) -> ExitCode {
        match self.interrupted {
            Some(Interrupt::Sigint) => ExitCode::from(130),
            Some(Interrupt::Sigterm) => ExitCode::from(143),
            // As a process that SIGPIPE ended (128 + 13).
            None if self.output_closed => ExitCode::from(141),
            None if self.budget.is_some() => ExitCode::from(3),
            None if self.failed > 0 || self.output_failed || self.cookie_jar_unsaved => {
                ExitCode::from(1)
            }
            None => ExitCode::SUCCESS,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::outcome::Failure;

    #[test]
    fn summary_line_and_exit_codes() {
        let mut s = Summary {
            ok: 3,
            skipped: 1,
            bytes: 3 * 1024 * 1024,
            elapsed: Duration::from_secs(2),
            ..Summary::default()
        };
        assert_eq!(
            s.line(),
            "3 ok, 1 skipped, 0 failed, 3.00 MiB in 2.0s (1.50 MiB/s)"
        );
        assert_eq!(s.exit_code(), ExitCode::SUCCESS);
        s.failed = 1;
        assert_eq!(s.exit_code(), ExitCode::from(1));
        s.budget = Some("--deadline");
        assert_eq!(s.exit_code(), ExitCode::from(3), "3 before 1");
        assert!(
            s.line().ends_with("(stopped by --deadline)"),
            "{}",
            s.line()
        );
        s.interrupted = Some(Interrupt::Sigterm);
        assert_eq!(s.exit_code(), ExitCode::from(143), "143 before 3");
    }

    #[test]
    fn a_closed_stdout_is_141_after_signals_and_before_the_rest() {
        let mut s = Summary {
            output_closed: true,
            failed: 1,
            budget: Some("--deadline"),
            ..Summary::default()
        };
        assert_eq!(s.exit_code(), ExitCode::from(141));
        s.interrupted = Some(Interrupt::Sigint);
        assert_eq!(s.exit_code(), ExitCode::from(130));
        let failed_write = Summary {
            output_failed: true,
            ..Summary::default()
        };
        assert_eq!(failed_write.exit_code(), ExitCode::from(1));
    }

    #[test]
    fn failure_lines() {
        let outcome = Outcome {
            url: "http://h/x\u{1b}[31m".into(),
            path: Some("out/x".into()),
            origin: None,
            result: Err(Failure::new(
                FailureKind::Http(404),
                Some(404),
                anyhow::anyhow!("HTTP 404 Not Found"),
            )),
            attempts: 1,
            elapsed: Duration::ZERO,
            seq: 0,
        };
        assert_eq!(
            outcome.failure_line().unwrap(),
            "haul: http://h/x\u{FFFD}[31m -> out/x: HTTP 404 Not Found"
        );
        let value = serde_json::to_value(outcome.record()).unwrap();
        assert_eq!(value["status"], "failed");
        assert_eq!(value["http_status"], 404);
        assert_eq!(value["path"], "out/x");
        assert_eq!(value["sha256"], serde_json::Value::Null);
    }
}
