//! What a session opens before it plans anything, in one place for a run
//! and a dry run alike: the locks (`--report`, `--state`), the output
//! folder, and the collision registry with haul's own files claimed first.
//! A run takes every lock before it creates or changes anything, so that a
//! run refused because another haul holds one of them leaves everything as
//! it was; a dry run takes no lock, opens `--dir` to look only and creates
//! nothing.

use std::sync::Arc;

use anyhow::Result;

use crate::claims::Claims;
use crate::config::Config;
use crate::outdir::OutDir;
use crate::report::{Held, Report};
use crate::state::{State, unix_now};

use super::stream::Stream;

/// What a session opened and holds until it ends.
pub(super) struct Opened {
    pub(super) out: Arc<OutDir>,
    /// `-o -`: the files' way to stdout (their folder is `out`).
    pub(super) stream: Option<Stream>,
    pub(super) claims: Arc<Claims>,
    pub(super) state: Option<Arc<State>>,
    pub(super) report: Option<Report>,
}

impl Opened {
    /// For a run: the report file is held (not yet emptied), then the
    /// state, which creates `--dir` once it is known to serve it; then
    /// `--dir` is created and the report emptied.
    pub(super) fn for_run(config: &Config) -> Result<Opened> {
        let target = config.own.report.as_ref();
        let held = match target {
            Some(target) => Held::open(target, true)?,
            None => None,
        };
        let state = match &config.own.state {
            Some(path) => match State::open_for(path, unix_now(), &config.dir) {
                Ok(state) => Some(Arc::new(state)),
                Err(err) => {
                    if let Some(held) = held {
                        held.abandon();
                    }
                    return Err(err);
                }
            },
            None => None,
        };
        let stream = match &config.stream {
            Some(parent) => Some(Stream::start(parent, stream_ahead(config))?),
            None => None,
        };
        let out = Arc::new(match &stream {
            Some(stream) => OutDir::for_stream(stream.folder(), stream.spool())?,
            None => OutDir::for_run(&config.dir)?,
        });
        let held = match (held, target) {
            (Some(held), _) => Some(held),
            // Its folder is (inside) `--dir`, which exists now.
            (None, Some(target)) => Held::open(target, false)?,
            (None, None) => None,
        };
        let report = held.map(Held::start).transpose()?;
        Ok(Opened {
            claims: claims(config, &out),
            out,
            stream,
            state,
            report,
        })
    }

    /// For a dry run: `--dir` to look only (a missing one is not created),
    /// no state (a dry run holds nothing another run needs), no report.
    pub(super) fn for_dry_run(config: &Config) -> Result<Opened> {
        let out = Arc::new(OutDir::look(&config.dir)?);
        Ok(Opened {
            claims: claims(config, &out),
            out,
            stream: None,
            state: None,
            report: None,
        })
    }
}

/// The run's collision registry, haul's own files under `--dir` claimed
/// (none under `-o -`'s private folder).
fn claims(config: &Config, out: &OutDir) -> Arc<Claims> {
    let own = match config.stream {
        Some(_) => Vec::new(),
        None => config.own_files(),
    };
    Arc::new(Claims::for_run(&config.dir, out, own))
}

/// `-o -`: how many files the downloads may run ahead of stdout: enough to
/// keep every `-j` slot busy behind a slow one (a retry, a large file),
/// and a planner batch.
fn stream_ahead(config: &Config) -> u64 {
    (config.pace.jobs.get() as u64).saturating_mul(4).max(256)
}
