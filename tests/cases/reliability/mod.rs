//! The contract's "Reliability" and "Verification" sections: retries and
//! backoff, `Retry-After` and host pauses, connect, stall and attempt
//! timeouts, write errors (retry.rs); resuming a `.part` with `Range` +
//! `If-Range` (resume.rs); checksums (verify.rs); SIGINT / SIGTERM
//! (signals.rs); and repeated SIGKILLs over a few hundred files (crash.rs).
//!
//! Timings come from the server's request timestamps (`Recorded::at`), with
//! `--retry-wait 10ms` wherever the wait itself is not under test.
//!
//! Several hauls at once on one `--dir`, and property tests that start,
//! kill and restart them (processes.rs), follow the contract's "Across
//! processes and crashes".
//!
//! Not here: plain truncation and stall failures without a retry that
//! succeeds, or a list line's `sha256=` on its own (errors.rs).

use std::path::Path;
use std::time::Duration;

use tempfile::TempDir;

use crate::support::server::{self, Recorded, Resource, Server, Shape};
use crate::support::{Output, assert_out_holds, sha256_hex, tree};

mod resume;
mod retry;
mod verify;

#[cfg(unix)]
mod crash;
#[cfg(unix)]
mod processes;
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

/// Writes haul's resume note (`user.haul.resume`, the text format of
/// `src/fetch/resume.rs`) on `part` for `url`: `ranges` is `0-` for a
/// `.part` written from zero, or `A-B,C-D` (inclusive ends) with `size`
/// for one written over several connections.
#[cfg(unix)]
fn plant_note(part: &Path, url: &str, etag: &str, size: Option<u64>, ranges: &str) {
    let mut note = format!(
        "haul-resume 1\nurl {}\netag {etag}\n",
        sha256_hex(url.as_bytes())
    );
    if let Some(size) = size {
        note.push_str(&format!("size {size}\n"));
    }
    note.push_str(&format!("ranges {ranges}\n"));
    rustix::fs::setxattr(
        part,
        "user.haul.resume",
        note.as_bytes(),
        rustix::fs::XattrFlags::empty(),
    )
    .unwrap_or_else(|e| panic!("cannot write the note on {}: {e}", part.display()));
}

/// The resume note on `part`, as text, if it has one.
#[cfg(unix)]
fn read_note(part: &Path) -> Option<String> {
    let mut buf = vec![0u8; 4096];
    let n = rustix::fs::getxattr(part, "user.haul.resume", &mut buf[..]).ok()?;
    Some(String::from_utf8_lossy(&buf[..n]).into_owned())
}

/// The report records of a `--report` file that a run may have been killed
/// while writing: every whole line (a last line without its newline is a
/// write the kill cut short, and is left out).
fn report_lines(path: &Path) -> Vec<serde_json::Value> {
    let Ok(bytes) = std::fs::read(path) else {
        return Vec::new();
    };
    assert!(
        !bytes.contains(&0),
        "{} holds NUL bytes: written at an offset past its end",
        path.display()
    );
    let text = String::from_utf8(bytes).expect("a report is UTF-8");
    let whole = match text.rfind('\n') {
        Some(end) => &text[..=end],
        None => "",
    };
    crate::support::parse_json_lines(whole)
}

/// Asserts that every `ok` record (and every `skipped` one that names a
/// sha256) among `records` is true of the file on disk now: its `path`
/// (relative to `cwd`, haul's working folder) holds `bytes` bytes whose
/// SHA-256 is `sha256`. `what` names the report in messages.
#[track_caller]
fn assert_records_true(cwd: &Path, records: &[serde_json::Value], what: &str) {
    for rec in records {
        let status = rec["status"].as_str().unwrap_or_default();
        let claims = status == "ok" || (status == "skipped" && rec["sha256"].is_string());
        if !claims {
            continue;
        }
        let path = rec["path"]
            .as_str()
            .unwrap_or_else(|| panic!("{what}: an {status} record without a path: {rec}"));
        let got = std::fs::read(cwd.join(path))
            .unwrap_or_else(|e| panic!("{what}: {rec}\nbut {path} cannot be read: {e}"));
        if status == "ok" || rec["size"].is_u64() {
            assert_eq!(
                rec["size"].as_u64(),
                Some(got.len() as u64),
                "{what}: the record's size is not the file's length ({path}): {rec}"
            );
        }
        if let Some(sha) = rec["sha256"].as_str() {
            assert_eq!(
                sha,
                sha256_hex(&got),
                "{what}: the record's sha256 is not the file's ({path}, {} bytes): {rec}",
                got.len()
            );
        }
    }
}
