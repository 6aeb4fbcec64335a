//! Never two versions in one file: a byte is appended to a `.part` only when
//! the answer proves it is the version recorded for it (the same strong
//! ETag, or the same Last-Modified when no ETag was recorded); an answer
//! that proves nothing, or proves another version, starts the file over
//! from zero. The contract's "bytes from two versions of a file are never
//! mixed" and "A file reported `ok` is always exactly its URL's bytes".
//! Regression tests for issue 8 (items 3-6, the resume part): a 206 without
//! validators, a 416 of another version, a 416 that left the mtime unset,
//! and an ETag without quotes taken for a date.
//!
//! Every case is two runs: run 1 (`--retries 0`) is cut and leaves
//! `out/r.bin.part` with haul's resume note; run 2 meets a server that
//! ignores `If-Range`, as the servers that cause mixed files do.
//!
//! Not here: plain resuming, a server that ignores the range or honours
//! `If-Range` (reliability/resume.rs), and special files or symlinks at the
//! `.part` (fs.rs).

use std::time::{Duration, SystemTime};

use tempfile::TempDir;

use crate::cases::reliability::cut_then;
use crate::support::server::{Recorded, Resource, Server};
use crate::support::{Output, assert_out_holds, haul_in, pseudo_random, run, tree};

/// A retry wait short enough that retries cost nothing.
const FAST: [&str; 2] = ["--retry-wait", "10ms"];

/// The length of every resource here, and where run 1 is cut.
const LEN: usize = 100_000;
const CUT: usize = 40_000;

/// An HTTP date and the same instant as seconds since the Unix epoch.
const DATE: &str = "Wed, 21 Oct 2015 07:28:00 GMT";
const DATE_UNIX: u64 = 1_445_412_480;

/// `haul URL -d out` in `tmp`, with `extra` arguments.
fn haul_once(tmp: &TempDir, server: &Server, extra: &[&str]) -> Output {
    run(haul_in(tmp.path())
        .args([&server.url("/r.bin"), "-d", "out"])
        .args(FAST)
        .args(extra))
}

/// Run 1: `first` is cut after `cut` bytes and haul gives up, leaving
/// `out/r.bin.part` of exactly `cut` bytes. Returns the server, already
/// serving `then` for run 2, and the temp dir.
#[track_caller]
fn leave_a_part(first: Resource, cut: usize, then: Resource) -> (Server, TempDir) {
    let server = cut_then(first, cut, then);
    let tmp = TempDir::new().unwrap();
    let out = haul_once(&tmp, &server, &["--retries", "0"]);
    out.assert_code(1);
    let part = tree(&tmp.path().join("out"))
        .get("r.bin.part")
        .map(Vec::len);
    assert_eq!(part, Some(cut), "run 1 should leave r.bin.part\n{out}");
    (server, tmp)
}

/// One line per request: `Range`, `If-Range`, for assertion messages.
fn show(requests: &[Recorded]) -> String {
    requests
        .iter()
        .map(|r| {
            format!(
                "  {} range={:?} if-range={:?}",
                r.uri,
                r.header("range"),
                r.header("if-range")
            )
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// Asserts run 2 saved exactly `want` as `out/r.bin` (a mix fails first,
/// with the requests), and that after its range request it asked again
/// without `Range`: the start over.
#[track_caller]
fn assert_started_over(tmp: &TempDir, server: &Server, out: &Output, want: &[u8]) {
    let reqs = server.requests();
    let log = show(&reqs);
    if let Some(got) = tree(&tmp.path().join("out")).get("r.bin") {
        let same = got.iter().zip(want).take_while(|(a, b)| a == b).count();
        assert!(
            got.as_slice() == want,
            "r.bin ({} bytes) is not the new version; the first {same} bytes agree\n{log}\n{out}",
            got.len()
        );
    }
    out.assert_code(0).assert_summary(1, 0, 0);
    assert_out_holds(tmp.path(), [("r.bin", want)]);
    assert_eq!(reqs.len(), 3, "run 1, the range, the start over\n{log}");
    assert_eq!(reqs[1].range_start(), Some(CUT as u64), "{log}");
    assert_eq!(reqs[2].header("range"), None, "{log}");
}

/// Issue 8: the 206 of a server that ignores `If-Range` and sends no
/// validator at all was taken as the recorded version ("silence is
/// consent"), splicing v1's first bytes to v2's tail. Silence proves nothing.
#[test]
fn a_206_without_validators_is_not_appended() {
    let v1 = pseudo_random(901, LEN);
    let v2 = pseudo_random(902, LEN);
    let (server, tmp) = leave_a_part(
        Resource::new(v1).etag("\"v1\""),
        CUT,
        Resource::new(v2.clone()).ignore_if_range(),
    );

    let out = haul_once(&tmp, &server, &[]);

    assert_started_over(&tmp, &server, &out, &v2);
}

/// Issue 8: a 416 whose `Content-Range: bytes */LEN` matched the `.part`'s
/// length promoted the `.part` without looking at the version. Here the
/// `.part` holds `LEN` bytes of v1 and the resource is now v2, also `LEN`
/// bytes long: the 416 carries ETag "v2", so the file starts over.
#[test]
fn a_416_of_another_version_does_not_finish_the_part() {
    // Run 1 declares 2 × LEN and is cut after LEN: the `.part` is LEN bytes of v1.
    let v1 = pseudo_random(903, 2 * LEN);
    let v2 = pseudo_random(904, LEN);
    let (server, tmp) = leave_a_part(
        Resource::new(v1).etag("\"v1\""),
        LEN,
        Resource::new(v2.clone()).etag("\"v2\"").ignore_if_range(),
    );

    let out = haul_once(&tmp, &server, &[]);

    let reqs = server.requests();
    let log = show(&reqs);
    let got = tree(&tmp.path().join("out"));
    assert!(
        got.get("r.bin").is_none_or(|f| f.as_slice() == v2),
        "r.bin is not v2 (the old .part was promoted?)\n{log}\n{out}"
    );
    out.assert_code(0).assert_summary(1, 0, 0);
    assert_out_holds(tmp.path(), [("r.bin", &v2[..])]);
    assert_eq!(reqs.len(), 3, "run 1, the 416, the start over\n{log}");
    assert_eq!(reqs[1].range_start(), Some(LEN as u64), "{log}");
    assert_eq!(reqs[2].header("range"), None, "{log}");
}

/// Issue 8: a `.part` finished by a 416 (it already held the whole
/// resource) did not get its mtime from Last-Modified, as every other saved
/// file does, so `--on-exists update` later sent the wrong
/// `If-Modified-Since`.
#[test]
fn a_part_finished_by_a_416_gets_the_recorded_mtime() {
    // Run 1 declares 2 × LEN and is cut after LEN; by run 2 the resource is
    // those LEN bytes with the same Last-Modified: `bytes=LEN-` gets 416.
    let declared = pseudo_random(905, 2 * LEN);
    let whole = declared[..LEN].to_vec();
    let (server, tmp) = leave_a_part(
        Resource::new(declared).last_modified(DATE),
        LEN,
        Resource::new(whole.clone()).last_modified(DATE),
    );

    let out = haul_once(&tmp, &server, &[]);

    out.assert_code(0).assert_summary(1, 0, 0);
    assert_out_holds(tmp.path(), [("r.bin", &whole[..])]);
    let reqs = server.requests();
    assert_eq!(reqs.len(), 2, "the 416 completes the file\n{}", show(&reqs));
    let mtime = std::fs::metadata(tmp.path().join("out/r.bin"))
        .unwrap()
        .modified()
        .unwrap();
    let want = SystemTime::UNIX_EPOCH + Duration::from_secs(DATE_UNIX);
    assert_eq!(mtime, want, "r.bin's mtime should be {DATE}");
}

/// Issue 8: an ETag without quotes (`abc`, not RFC 9110's `"abc"`) was
/// taken for a date, so a 206 was checked against its Last-Modified, and
/// one without Last-Modified counted as the recorded version: v2 (`abd`)
/// was appended to v1. An ETag is an ETag, quoted or not. (Had v2 sent
/// v1's Last-Modified, the old code compared that date with `abc` and
/// started over by accident; without it, nothing stopped the splice.)
#[test]
fn an_unquoted_etag_still_tells_versions_apart() {
    // v2 without a Last-Modified (the splice), then with v1's (the brief's case).
    for (seed, v2_date) in [(906, None), (908, Some(DATE))] {
        let v1 = pseudo_random(seed, LEN);
        let v2 = pseudo_random(seed + 1, LEN);
        let mut then = Resource::new(v2.clone()).etag("abd").ignore_if_range();
        if let Some(date) = v2_date {
            then = then.last_modified(date);
        }
        let (server, tmp) =
            leave_a_part(Resource::new(v1).etag("abc").last_modified(DATE), CUT, then);

        let out = haul_once(&tmp, &server, &[]);

        assert_started_over(&tmp, &server, &out, &v2);
        assert_eq!(server.requests()[1].header("if-range"), Some("abc"));
    }
}
