//! The contract's "Reliability" and "Verification" sections: retries and
//! backoff, `Retry-After` and host pauses, connect, stall and attempt
//! timeouts, write errors (retry.rs); resuming a `.part` with `Range` +
//! `If-Range` (resume.rs); checksums (verify.rs); SIGINT / SIGTERM
//! (signals.rs); and repeated SIGKILLs over a few hundred files (crash.rs).
//!
//! Timings come from the server's request timestamps (`Recorded::at`), with
//! `--retry-wait 10ms` wherever the wait itself is not under test.
//!
//! Not here: plain truncation and stall failures without a retry that
//! succeeds, or a list line's `sha256=` on its own (errors.rs).

use std::time::Duration;

use crate::support::server::Recorded;

mod resume;
mod retry;
mod verify;

#[cfg(unix)]
mod crash;
#[cfg(unix)]
mod signals;

/// A retry wait short enough that retries cost nothing.
const FAST: [&str; 2] = ["--retry-wait", "10ms"];

/// The time between two recorded requests (zero if `b` came first).
fn gap(a: &Recorded, b: &Recorded) -> Duration {
    b.at.saturating_duration_since(a.at)
}

/// One line per request: URI, `Range`, `If-Range`, for assertion messages.
fn show(requests: &[Recorded]) -> String {
    let first = requests.first().map(|r| r.at);
    requests
        .iter()
        .map(|r| {
            format!(
                "  +{:?} {} range={:?} if-range={:?}",
                first
                    .map(|t| r.at.saturating_duration_since(t))
                    .unwrap_or_default(),
                r.uri,
                r.header("range"),
                r.header("if-range"),
            )
        })
        .collect::<Vec<_>>()
        .join("\n")
}
