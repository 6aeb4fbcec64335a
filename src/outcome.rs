//! How one URL ended: [`Outcome`], with what was saved ([`Done`]) or why
//! it failed ([`Failure`]). Set where the URL ends (`plan.rs`, `fetch/`,
//! the runner); made into lines, records and the summary by `report.rs`.

use std::path::PathBuf;
use std::time::Duration;

use crate::digest::Verified;
use crate::error::FailureKind;

/// How one URL ended.
#[derive(Debug)]
pub(crate) struct Outcome {
    pub(crate) url: String,
    pub(crate) path: Option<PathBuf>,
    /// Where the URL came from, for failures found before any request.
    pub(crate) origin: Option<String>,
    pub(crate) result: Result<Done, Failure>,
    pub(crate) attempts: u32,
    pub(crate) elapsed: Duration,
    /// The planned job's place in the input (`Job::seq`); 0 when the
    /// outcome was not planned.
    pub(crate) seq: u64,
}

#[derive(Debug)]
pub(crate) enum Done {
    Saved {
        http_status: u16,
        /// Body bytes this run received for the file (not those a `.part`
        /// held before it).
        bytes: u64,
        /// The saved file's size.
        size: u64,
        /// The digest checked, and the file's SHA-256 when it was taken.
        verified: Verified,
        /// Why a file that was already there was fetched again.
        replaced: Option<&'static str>,
        /// `--split`: the most connections the file used at once (over
        /// HTTP/2, the ranges of one transfer thread share one).
        connections: Option<u32>,
        /// A line with several URLs: those the bytes came from, the one
        /// that answered first first.
        served_by: Option<Box<[String]>>,
    },
    /// The file was there (`--on-exists skip`, or its digest matched): no
    /// request. `verified` when the file was hashed to decide (or the
    /// `--state` vouched for it); its size when it was looked at.
    Skipped {
        verified: Verified,
        size: Option<u64>,
    },
    /// `--on-exists update` and the server answered 304.
    NotModified { http_status: u16 },
}

#[derive(Debug)]
pub(crate) struct Failure {
    pub(crate) kind: FailureKind,
    pub(crate) http_status: Option<u16>,
    /// Bytes received by the last attempt.
    pub(crate) bytes: u64,
    /// What a `Retry-After` header asked for.
    pub(crate) retry_after: Option<Duration>,
    pub(crate) error: anyhow::Error,
}

impl Outcome {
    /// How `url` (already masked) ended, its file at `path`.
    pub(crate) fn new(
        url: String,
        path: Option<PathBuf>,
        result: Result<Done, Failure>,
    ) -> Outcome {
        Outcome {
            url,
            path,
            origin: None,
            result,
            attempts: 0,
            elapsed: Duration::ZERO,
            seq: 0,
        }
    }

    /// A URL refused before any request (a bad line, an unsafe name, a
    /// collision); `origin` names its line when there is no path to name.
    pub(crate) fn refused(
        url: String,
        path: Option<PathBuf>,
        origin: Option<String>,
        error: String,
    ) -> Outcome {
        let failure = Failure::new(FailureKind::Refused, None, anyhow::anyhow!(error));
        let mut outcome = Outcome::new(url, path, Err(failure));
        outcome.origin = origin;
        outcome
    }

    /// The requests made and the time spent.
    pub(crate) fn with_attempts(mut self, attempts: u32, elapsed: Duration) -> Outcome {
        self.attempts = attempts;
        self.elapsed = elapsed;
        self
    }
}

impl Failure {
    /// The HTTP status of the answer the failure came with.
    pub(crate) fn with_status(mut self, status: u16) -> Failure {
        self.http_status = Some(status);
        self
    }

    /// The bytes received by the attempt that failed.
    pub(crate) fn with_bytes(mut self, bytes: u64) -> Failure {
        self.bytes = bytes;
        self
    }

    /// What the answer's `Retry-After` asked for.
    pub(crate) fn with_retry_after(mut self, wait: Option<Duration>) -> Failure {
        self.retry_after = wait;
        self
    }

    pub(crate) fn new(
        kind: FailureKind,
        http_status: Option<u16>,
        error: anyhow::Error,
    ) -> Failure {
        Failure {
            kind,
            http_status,
            bytes: 0,
            retry_after: None,
            error,
        }
    }
}
