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

use tempfile::TempDir;

use crate::support::server::{self, Recorded, Resource, Server, Shape};
use crate::support::{Output, assert_out_holds, tree};

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

/// Asserts that haul exited 0 with a summary of one file saved and nothing
/// skipped or failed, and that `dir/out` holds exactly `name` = `bytes`.
#[track_caller]
fn assert_saved(out: &Output, dir: &TempDir, name: &str, bytes: &[u8]) {
    out.assert_code(0).assert_summary(1, 0, 0);
    assert_out_holds(dir.path(), [(name, bytes)]);
}

/// The server's requests so far, and [`show`] of them for assertion messages.
fn logged_requests(server: &Server) -> (Vec<Recorded>, String) {
    let reqs = server.requests();
    let log = show(&reqs);
    (reqs, log)
}

/// A server whose first request for a path gets `first` cut after `cut`
/// bytes, and every later one `then` whole (ranges and `If-Range` as
/// [`Resource`] honours them).
pub(super) fn cut_then(first: Resource, cut: usize, then: Resource) -> Server {
    server::http_nth(move |req, n| {
        let res = if n == 0 {
            first.respond(req.headers(), Shape::CutAfter(cut))
        } else {
            then.respond(req.headers(), Shape::Whole)
        };
        async move { res }
    })
}

/// The length of `out/r.bin.part` under `tmp`, if there is one.
fn part_len(tmp: &TempDir) -> Option<usize> {
    tree(&tmp.path().join("out"))
        .get("r.bin.part")
        .map(Vec::len)
}
