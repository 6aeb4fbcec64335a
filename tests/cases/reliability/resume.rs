//! Resuming a `.part`: `Range: bytes=N-` with `If-Range` (a strong ETag, else
//! Last-Modified), within one run and across runs; no resume without a usable
//! validator, for a `.part` haul did not record, or with `--no-resume`; a
//! server that ignores the range or whose resource changed (never mixed
//! bytes); and a 416 for a `.part` that is already whole.
//!
//! A note is accepted only where the `.part` backs it (contract: "its
//! length agrees with the claimed ranges"): notes planted by hand that claim
//! more than the file holds.
//!
//! Not here: resuming after SIGINT (signals.rs) or SIGKILL (crash.rs), and
//! checksums over resumed files (verify.rs).

use tempfile::TempDir;

use super::{
    FAST, assert_records_true, assert_saved, cut_then, logged_requests, part_len, plant_note, show,
};
use crate::support::require;
use crate::support::server::{self, Resource, Server, Shape};
use crate::support::{
    Output, assert_no_final_file, assert_out_holds, assert_tree_eq, expected, haul_in,
    pseudo_random, record, run, sha256_hex, tree, write_file, write_list,
};

const MIB: usize = 1024 * 1024;
const CUT: usize = 600 * 1024;
const LAST_MODIFIED: &str = "Wed, 21 Oct 2015 07:28:00 GMT";

/// Runs haul on `url` into `dir/out` with `extra` arguments.
fn haul_once(dir: &TempDir, url: &str, extra: &[&str]) -> Output {
    run(haul_in(dir.path())
        .args([url, "--report", "-", "-d", "out"])
        .args(FAST)
        .args(extra))
}

/// One run with `extra` arguments against a server whose first answer for
/// `/r.bin` is `first` cut after `CUT` bytes and whose later ones are `then`
/// whole: a cut that haul can only recover from within the run.
fn haul_after_a_cut(first: Resource, then: Resource, extra: &[&str]) -> (Server, TempDir, Output) {
    let server = cut_then(first, CUT, then);
    let tmp = TempDir::new().unwrap();
    let out = haul_once(&tmp, &server.url("/r.bin"), extra);
    (server, tmp, out)
}

/// Asserts that haul exited 0 and `dir/out` holds exactly `r.bin` = `want`. A
/// wrong `r.bin` fails first, as `what` with its size, the server's requests
/// and haul's output, so that mixed or duplicated bytes can be traced.
#[track_caller]
fn assert_saved_unmixed(dir: &TempDir, server: &Server, out: &Output, want: &[u8], what: &str) {
    let got = tree(&dir.path().join("out"));
    if let Some(file) = got.get("r.bin") {
        assert!(
            file.as_slice() == want,
            "{what} ({} bytes)\n{}\n{out}",
            file.len(),
            show(&server.requests())
        );
    }
    out.assert_code(0);
    assert_tree_eq(&got, &expected([("r.bin", want)]));
}

#[test]
fn a_cut_body_is_resumed_within_the_run() {
    let full = pseudo_random(20, MIB);
    let resource = Resource::new(full.clone()).etag("\"v1\"");
    let (server, tmp, out) = haul_after_a_cut(resource.clone(), resource, &[]);
    let url = server.url("/r.bin");

    assert_saved(&out, &tmp, "r.bin", &full);
    let (reqs, log) = logged_requests(&server);
    assert_eq!(reqs.len(), 2, "{log}");
    assert_eq!(reqs[0].header("range"), None, "{log}");
    assert_eq!(
        reqs[1].range_start(),
        Some(CUT as u64),
        "every received byte is kept and continued from\n{log}"
    );
    assert_eq!(reqs[1].header("if-range"), Some("\"v1\""), "{log}");
    let rec = record(&out.stdout_report(), &url).clone();
    assert_eq!(rec["attempts"], 2, "{rec}");
    // Both attempts were this run's: every byte came in it.
    assert_eq!(rec["bytes"], MIB as u64, "{rec}");
    assert_eq!(rec["size"], MIB as u64, "{rec}");
}

/// Run 1 (`--retries 0`) gets `CUT` bytes of `first` and fails, leaving a
/// `.part`; returns the server (already set up for run 2 with `second`) and the
/// temp dir.
fn leave_a_part(first: Resource, second: Resource) -> (Server, TempDir) {
    let full = first.body.clone();
    let (server, tmp, out) = haul_after_a_cut(first, second, &["--retries", "0"]);

    out.assert_code(1).assert_summary(0, 0, 1);
    let got = tree(&tmp.path().join("out"));
    assert_no_final_file(&got, "r.bin", &full);
    assert_eq!(
        got.get("r.bin.part").map(Vec::len),
        Some(CUT),
        "a failed attempt keeps every byte it received in r.bin.part\n{out}"
    );
    (server, tmp)
}

#[test]
fn a_part_from_an_earlier_run_is_resumed() {
    let full = pseudo_random(21, MIB);
    let v1 = Resource::new(full.clone()).etag("\"v1\"");
    let (server, tmp) = leave_a_part(v1.clone(), v1);

    let out = haul_once(&tmp, &server.url("/r.bin"), &[]);

    assert_saved(&out, &tmp, "r.bin", &full);
    let (reqs, log) = logged_requests(&server);
    assert_eq!(reqs.len(), 2, "{log}");
    assert_eq!(reqs[1].range_start(), Some(CUT as u64), "{log}");
    assert_eq!(reqs[1].header("if-range"), Some("\"v1\""), "{log}");
    // Issue 16: `bytes` is what this run received, `size` the file's size
    // (`bytes` used to say the whole file).
    let rec = record(&out.stdout_report(), &server.url("/r.bin")).clone();
    assert_eq!(rec["bytes"], (MIB - CUT) as u64, "{rec}");
    assert_eq!(rec["size"], MIB as u64, "{rec}");
}

#[test]
fn last_modified_is_the_validator_without_an_etag() {
    let full = pseudo_random(22, MIB);
    let resource = Resource::new(full.clone()).last_modified(LAST_MODIFIED);
    let (server, tmp) = leave_a_part(resource.clone(), resource);

    let out = haul_once(&tmp, &server.url("/r.bin"), &[]);

    out.assert_code(0);
    assert_out_holds(tmp.path(), [("r.bin", &full[..])]);
    let (reqs, log) = logged_requests(&server);
    assert_eq!(reqs[1].range_start(), Some(CUT as u64), "{log}");
    assert_eq!(reqs[1].header("if-range"), Some(LAST_MODIFIED), "{log}");
}

#[test]
fn a_weak_etag_is_not_used_for_if_range() {
    // With Last-Modified as well, the date is the validator.
    let full = pseudo_random(23, MIB);
    let resource = Resource::new(full.clone())
        .etag("W/\"w1\"")
        .last_modified(LAST_MODIFIED);
    let (server, tmp, out) = haul_after_a_cut(resource.clone(), resource, &[]);

    out.assert_code(0);
    assert_out_holds(tmp.path(), [("r.bin", &full[..])]);
    let (reqs, log) = logged_requests(&server);
    assert_eq!(reqs.len(), 2, "{log}");
    assert_eq!(reqs[1].range_start(), Some(CUT as u64), "{log}");
    assert_eq!(reqs[1].header("if-range"), Some(LAST_MODIFIED), "{log}");
}

#[test]
fn a_weak_etag_alone_is_not_resumed() {
    let full = pseudo_random(24, MIB);
    let resource = Resource::new(full.clone()).etag("W/\"w1\"");
    let (server, tmp, out) = haul_after_a_cut(resource.clone(), resource, &[]);

    out.assert_code(0);
    assert_out_holds(tmp.path(), [("r.bin", &full[..])]);
    let (reqs, log) = logged_requests(&server);
    assert_eq!(reqs.len(), 2, "{log}");
    assert_eq!(reqs[1].header("range"), None, "{log}");
    assert_eq!(reqs[1].header("if-range"), None, "{log}");
}

#[test]
fn no_validator_means_no_resume() {
    let full = pseudo_random(25, MIB);
    let resource = Resource::new(full.clone());
    let (server, tmp) = leave_a_part(resource.clone(), resource);

    let out = haul_once(&tmp, &server.url("/r.bin"), &[]);

    out.assert_code(0);
    assert_out_holds(tmp.path(), [("r.bin", &full[..])]);
    let (reqs, log) = logged_requests(&server);
    assert_eq!(reqs[1].header("range"), None, "{log}");
}

#[test]
fn a_part_haul_did_not_record_is_not_resumed() {
    let full = pseudo_random(26, 100_000);
    let resource = Resource::new(full.clone()).etag("\"v1\"");
    let server = server::http(move |req| {
        let res = resource.respond(req.headers(), Shape::Whole);
        async move { res }
    });
    let tmp = TempDir::new().unwrap();
    write_file(
        tmp.path(),
        "out/r.bin.part",
        b"junk that is not the resource",
    );

    let out = haul_once(&tmp, &server.url("/r.bin"), &[]);

    assert_saved(&out, &tmp, "r.bin", &full);
    let (reqs, log) = logged_requests(&server);
    assert_eq!(reqs.len(), 1, "{log}");
    assert_eq!(reqs[0].header("range"), None, "{log}");
}

#[test]
fn no_resume_starts_over() {
    let full = pseudo_random(27, MIB);
    let v1 = Resource::new(full.clone()).etag("\"v1\"");
    let (server, tmp) = leave_a_part(v1.clone(), v1);

    let out = haul_once(&tmp, &server.url("/r.bin"), &["--no-resume"]);

    out.assert_code(0);
    assert_out_holds(tmp.path(), [("r.bin", &full[..])]);
    let (reqs, log) = logged_requests(&server);
    assert_eq!(reqs.len(), 2, "{log}");
    assert_eq!(reqs[1].header("range"), None, "{log}");
}

#[test]
fn no_resume_retries_from_zero_within_the_run() {
    let full = pseudo_random(28, MIB);
    let resource = Resource::new(full.clone()).etag("\"v1\"");
    let (server, tmp, out) = haul_after_a_cut(resource.clone(), resource, &["--no-resume"]);

    out.assert_code(0);
    assert_out_holds(tmp.path(), [("r.bin", &full[..])]);
    let (reqs, log) = logged_requests(&server);
    assert_eq!(reqs.len(), 2, "{log}");
    assert_eq!(reqs[1].header("range"), None, "{log}");
}

#[test]
fn a_server_that_ignores_the_range_is_not_mixed() {
    // The retry asks for a range; the answer is a 200 with the whole body.
    let full = pseudo_random(29, MIB);
    let resource = Resource::new(full.clone()).etag("\"v1\"").ignore_range();
    let (server, tmp, out) = haul_after_a_cut(resource.clone(), resource, &[]);

    assert_saved(&out, &tmp, "r.bin", &full);
    let (reqs, log) = logged_requests(&server);
    assert_eq!(reqs.len(), 2, "{log}");
    assert_eq!(reqs[1].range_start(), Some(CUT as u64), "{log}");
}

#[test]
fn a_changed_resource_is_fetched_anew_within_the_run() {
    // v1 is cut; by the retry the resource is v2 (another length). The retry's
    // If-Range "v1" no longer holds, so the server sends all of v2 with 200.
    let v1 = pseudo_random(30, MIB);
    let v2 = pseudo_random(31, MIB - 12_345);
    let (r1, r2) = (
        Resource::new(v1).etag("\"v1\""),
        Resource::new(v2.clone()).etag("\"v2\""),
    );
    let (server, tmp, out) = haul_after_a_cut(r1, r2, &[]);

    assert_saved(&out, &tmp, "r.bin", &v2);
    let (reqs, log) = logged_requests(&server);
    assert_eq!(reqs.len(), 2, "{log}");
    assert_eq!(reqs[1].header("if-range"), Some("\"v1\""), "{log}");
}

#[test]
fn a_resource_changed_between_runs_is_fetched_anew() {
    // Same length, so only the bytes tell a mix of versions apart.
    let v1 = pseudo_random(32, MIB);
    let v2 = pseudo_random(33, MIB);
    let (server, tmp) = leave_a_part(
        Resource::new(v1).etag("\"v1\""),
        Resource::new(v2.clone()).etag("\"v2\""),
    );

    let out = haul_once(&tmp, &server.url("/r.bin"), &[]);

    assert_saved(&out, &tmp, "r.bin", &v2);
    let (reqs, log) = logged_requests(&server);
    assert_eq!(reqs[1].header("if-range"), Some("\"v1\""), "{log}");
}

#[test]
fn a_206_with_a_changed_etag_is_not_appended() {
    // A server that ignores If-Range answers the range of v2 with 206 and
    // ETag "v2". Contract: "bytes from two versions of a file are never
    // mixed", so haul must notice the new validator and start over.
    let v1 = pseudo_random(34, MIB);
    let v2 = pseudo_random(35, MIB);
    let (r1, r2) = (
        Resource::new(v1).etag("\"v1\""),
        Resource::new(v2.clone()).etag("\"v2\"").ignore_if_range(),
    );
    let (server, tmp, out) = haul_after_a_cut(r1, r2, &[]);

    assert_saved_unmixed(&tmp, &server, &out, &v2, "r.bin mixes two versions");
}

#[test]
fn range_not_satisfiable_finishes_a_whole_part() {
    // Run 1 sends 1000 bytes while declaring 2000 (ETag "v1"), so r.bin.part
    // holds 1000. By run 2 the resource is those 1000 bytes, still "v1": the
    // range `bytes=1000-` gets 416 with `Content-Range: bytes */1000`.
    let full = pseudo_random(36, 1000);
    let mut declared = full.clone();
    declared.extend(pseudo_random(37, 1000));
    let (r1, r2) = (
        Resource::new(declared).etag("\"v1\""),
        Resource::new(full.clone()).etag("\"v1\""),
    );
    let server = cut_then(r1, 1000, r2);
    let tmp = TempDir::new().unwrap();
    let url = server.url("/r.bin");

    let first = haul_once(&tmp, &url, &["--retries", "0"]);
    first.assert_code(1);
    assert_eq!(part_len(&tmp), Some(1000), "{first}");

    let out = haul_once(&tmp, &url, &[]);

    assert_saved(&out, &tmp, "r.bin", &full);
    let (reqs, log) = logged_requests(&server);
    assert_eq!(reqs.len(), 2, "the 416 completes the file\n{log}");
    assert_eq!(reqs[1].range_start(), Some(1000), "{log}");
}

#[test]
fn an_error_answer_between_attempts_is_not_written() {
    // Cut, then a 503 error page, then the range: the error page must not
    // end up in r.bin.part, so the range still starts where the cut was.
    let full = pseudo_random(38, MIB);
    let resource = Resource::new(full.clone()).etag("\"v1\"");
    let server = server::http_nth(move |req, n| {
        let res = match n {
            0 => resource.respond(req.headers(), Shape::CutAfter(CUT)),
            1 => server::status(hyper::StatusCode::SERVICE_UNAVAILABLE),
            _ => resource.respond(req.headers(), Shape::Whole),
        };
        async move { res }
    });
    let tmp = TempDir::new().unwrap();

    let out = haul_once(&tmp, &server.url("/r.bin"), &[]);

    assert_saved(&out, &tmp, "r.bin", &full);
    let (reqs, log) = logged_requests(&server);
    assert_eq!(reqs.len(), 3, "{log}");
    assert_eq!(reqs[2].range_start(), Some(CUT as u64), "{log}");
}

#[test]
fn a_206_for_another_range_is_not_appended() {
    // The retry asks for `bytes=CUT-`; the server answers 206 for `bytes 0-`
    // (the whole body). Appending it would duplicate the first CUT bytes.
    let full = pseudo_random(39, MIB);
    let resource = Resource::new(full.clone()).etag("\"v1\"");
    let server = server::http_nth(move |req, n| {
        let res = if n == 0 {
            resource.respond(req.headers(), Shape::CutAfter(CUT))
        } else if !req.headers().contains_key("range") {
            resource.respond(req.headers(), Shape::Whole)
        } else {
            let mut res = server::with_header(
                server::ok(resource.body.clone()),
                "content-range",
                &format!("bytes 0-{}/{}", MIB - 1, MIB),
            );
            *res.status_mut() = hyper::StatusCode::PARTIAL_CONTENT;
            server::with_header(res, "etag", "\"v1\"")
        };
        async move { res }
    });
    let tmp = TempDir::new().unwrap();

    let out = haul_once(&tmp, &server.url("/r.bin"), &[]);

    assert_saved_unmixed(&tmp, &server, &out, &full, "r.bin is not the resource");
}

#[test]
fn a_cut_chunked_body_is_not_taken_for_a_whole_one() {
    // No Content-Length (chunked): only the missing last chunk shows the cut.
    let full = pseudo_random(53, 200_000);
    let resource = Resource::new(full.clone()).etag("\"v1\"");
    let server = server::http_nth(move |req, n| {
        let res = if n == 0 {
            let body = server::Body::steps([
                server::Step::Data(resource.body.slice(..40_000)),
                server::Step::Sleep(std::time::Duration::from_millis(100)),
                server::Step::Cut,
            ]);
            server::with_header(hyper::Response::new(body), "etag", "\"v1\"")
        } else {
            resource.respond(req.headers(), Shape::Whole)
        };
        async move { res }
    });
    let tmp = TempDir::new().unwrap();

    let out = haul_once(&tmp, &server.url("/r.bin"), &[]);

    assert_saved(&out, &tmp, "r.bin", &full);
    assert_eq!(server.hits(), 2, "{}", show(&server.requests()));
}

/// README: every received byte is on disk within about a second, however
/// slowly it comes, so a crash or Ctrl-C loses little and a later run can
/// resume it. 120 KiB dripped over 3 s never reaches the 256 KiB write
/// step: only the one-second rule puts it into the `.part` early.
#[test]
fn a_slow_download_reaches_its_part_within_about_a_second() {
    let full = pseudo_random(59, 120 * 1024);
    let body = full.clone();
    let server = server::http(move |_req| {
        let res = server::drip(
            body.clone(),
            4 * 1024,
            std::time::Duration::from_millis(100),
        );
        async move { server::with_header(res, "etag", "\"v1\"") }
    });
    let tmp = TempDir::new().unwrap();
    let mut running = crate::support::spawn(
        haul_in(tmp.path())
            .args([&server.url("/r.bin"), "-d", "out"])
            .args(FAST),
    );

    // Watch the `.part` while the body drips (3 s in all).
    let mut seen = None;
    while running.elapsed() < std::time::Duration::from_millis(2_200) && !running.has_exited() {
        if let Some(len) = part_len(&tmp).filter(|&len| len > 0) {
            seen = Some((running.elapsed(), len));
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let out = running.wait(crate::support::TIMEOUT);

    let (when, len) = seen.expect("no bytes in r.bin.part within 2.2 s of a 3 s download");
    assert!(
        len < full.len(),
        "r.bin.part already whole ({len} bytes) after {when:?}"
    );
    assert_saved(&out, &tmp, "r.bin", &full);
}

/// A server for `/r.bin` = `body` with ETag "v1", ranges honoured, each
/// answer sent whole.
fn serve_v1(body: &[u8]) -> Server {
    let resource = Resource::new(body.to_vec()).etag("\"v1\"");
    server::http(move |req| {
        let res = resource.respond(req.headers(), Shape::Whole);
        async move { res }
    })
}

/// Plants `out/r.bin.part` = `bytes` under `tmp` with a note for `url`
/// ("v1", `size` and `ranges` as in [`plant_note`]), then runs haul on
/// `url` (or, with `digest`, on a list line with the body's `sha256=`) and
/// asserts the end is exact: exit 0, `r.bin` = `full`, a true report.
/// Returns false (having checked nothing) where there are no user xattrs.
fn resume_a_planted_note(
    full: &[u8],
    bytes: &[u8],
    size: Option<u64>,
    ranges: &str,
    digest: bool,
) -> bool {
    let tmp = TempDir::new().unwrap();
    if !require::xattrs(tmp.path(), "resuming from a planted note") {
        return false;
    }
    let server = serve_v1(full);
    let url = server.url("/r.bin");
    let part = write_file(tmp.path(), "out/r.bin.part", bytes);
    plant_note(&part, &url, "\"v1\"", size, ranges);

    let out = if digest {
        write_list(
            tmp.path(),
            "urls.txt",
            &[format!("{url} sha256={}", sha256_hex(full))],
        );
        run(haul_in(tmp.path())
            .args(["-i", "urls.txt", "--report", "-", "-d", "out"])
            .args(FAST))
    } else {
        haul_once(&tmp, &url, &[])
    };

    assert_saved_unmixed(
        &tmp,
        &server,
        &out,
        full,
        "r.bin is not the resource: a note was trusted that its .part does not back",
    );
    let report = out.stdout_report();
    assert_eq!(record(&report, &url)["status"], "ok", "{out}");
    assert_records_true(tmp.path(), &report, "the report");
    true
}

/// A note is accepted only where the file backs it: a 10-byte `.part`
/// whose note claims all of a 2 MiB file (`size 2097152`, `ranges
/// 0-2097151`). The range `bytes=2097152-` gets a 416 saying the resource
/// is 2097152 bytes long, but the file is not: it must be fetched.
#[test]
fn a_note_claiming_the_whole_file_over_ten_bytes_is_not_trusted() {
    let full = pseudo_random(60, 2 * MIB);
    resume_a_planted_note(&full, &full[..10], Some(2 * MIB as u64), "0-2097151", false);
}

/// A note is accepted only where the file backs it: a sparse claim must
/// lie within the file. Here a 100-byte `.part` claims `0-99` and the
/// second MiB (`1048576-2097151`) of a 2 MiB file.
#[test]
fn a_sparse_note_claiming_bytes_past_the_end_of_its_part_is_not_trusted() {
    let full = pseudo_random(61, 2 * MIB);
    resume_a_planted_note(
        &full,
        &full[..100],
        Some(2 * MIB as u64),
        "0-99,1048576-2097151",
        false,
    );
}

/// The limit of a length check: the note of
/// [`a_sparse_note_claiming_bytes_past_the_end_of_its_part_is_not_trusted`]
/// over a zero-filled `.part` of the right length. Nothing but the bytes
/// tells it apart, so the list line carries a `sha256=`: the digest
/// catches the zeros and the retry from zero ends exact (never `ok` with
/// wrong bytes).
#[test]
fn a_zero_filled_part_under_a_sparse_note_is_caught_by_the_digest() {
    let full = pseudo_random(62, 2 * MIB);
    resume_a_planted_note(
        &full,
        &vec![0; 2 * MIB],
        Some(2 * MIB as u64),
        "0-99,1048576-2097151",
        true,
    );
}

/// A note is accepted only where the file backs it: a `.part` written from
/// zero (`ranges 0-`) that is longer than the resource. The 416 to
/// `bytes=1500-` says the resource is 1000 bytes; the file is not, so the
/// 416 does not finish it.
#[test]
fn a_416_does_not_finish_a_part_longer_than_the_resource() {
    let full = pseudo_random(63, 1000);
    let mut longer = full.clone();
    longer.extend(pseudo_random(64, 500));
    resume_a_planted_note(&full, &longer, None, "0-", false);
}
