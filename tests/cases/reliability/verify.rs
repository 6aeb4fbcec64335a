//! `--checksums FILE` (`sha256sum` lines matched on the destination's file
//! name) and `sha256=` over resumed downloads: the report's digest, exactly one
//! more attempt from zero after a mismatch whatever `--retries` says, and a
//! digest computed over every byte of a file that was resumed.
//!
//! Not here: a list line's `sha256=` on a plain download (errors.rs).

use tempfile::TempDir;

use super::{FAST, assert_saved, cut_then, logged_requests, part_len, show};
use crate::support::server::{self, Resource, Shape};
use crate::support::{
    Output, assert_out_holds, haul_in, pseudo_random, record, run, sha256_hex, write_file,
    write_list,
};

/// `sha256sum` output for `(name, bytes)` pairs.
fn sums<'a>(files: impl IntoIterator<Item = (&'a str, &'a [u8])>) -> String {
    files
        .into_iter()
        .map(|(name, bytes)| format!("{}  {name}\n", sha256_hex(bytes)))
        .collect()
}

/// Writes `sha256sum` output for `(name, bytes)` pairs to `dir/SUMS`.
fn write_sums<'a>(dir: &TempDir, files: impl IntoIterator<Item = (&'a str, &'a [u8])>) {
    write_file(dir.path(), "SUMS", sums(files).as_bytes());
}

/// Runs haul on `url` into `dir/out` with `--checksums SUMS` and the report on stdout.
fn haul_checked(dir: &TempDir, url: &str) -> Output {
    run(haul_in(dir.path())
        .args([url, "--checksums", "SUMS", "--report", "-", "-d", "out"])
        .args(FAST))
}

#[test]
fn checksums_file_match_reports_the_digest() {
    let a = pseudo_random(40, 30_000);
    let b = pseudo_random(41, 40_000);
    let server = server::files([("/a.bin", a.clone()), ("/b.bin", b.clone())]);
    let tmp = TempDir::new().unwrap();
    write_sums(&tmp, [("a.bin", &a[..]), ("b.bin", &b[..])]);
    let (ua, ub) = (server.url("/a.bin"), server.url("/b.bin"));

    let out = run(haul_in(tmp.path()).args([
        &ua,
        &ub,
        "--checksums",
        "SUMS",
        "--report",
        "-",
        "-d",
        "out",
    ]));

    out.assert_code(0).assert_summary(2, 0, 0);
    assert_out_holds(tmp.path(), [("a.bin", &a[..]), ("b.bin", &b[..])]);
    let records = out.stdout_report();
    assert_eq!(record(&records, &ua)["sha256"], sha256_hex(&a));
    assert_eq!(record(&records, &ub)["sha256"], sha256_hex(&b));
}

#[test]
fn checksums_mismatch_gets_one_attempt_from_zero_even_with_retries_0() {
    // With an ETag, so a resume would be possible: the second attempt must not use it.
    let body = pseudo_random(42, 200_000);
    let resource = Resource::new(body.clone()).etag("\"v1\"");
    let server = server::http(move |req| {
        let res = resource.respond(req.headers(), Shape::Whole);
        async move { res }
    });
    let tmp = TempDir::new().unwrap();
    write_sums(&tmp, [("a.bin", &b"not the body"[..])]);
    let url = server.url("/a.bin");

    let out = run(haul_in(tmp.path())
        .args([&url, "--checksums", "SUMS", "--retries", "0"])
        .args(["--report", "-", "-d", "out"])
        .args(FAST));

    out.assert_code(1).assert_summary(0, 0, 1);
    out.assert_failure(&url, &["a.bin"]);
    let (reqs, log) = logged_requests(&server);
    assert_eq!(reqs.len(), 2, "exactly one more attempt\n{log}");
    assert_eq!(reqs[1].header("range"), None, "from zero\n{log}");
    // Nothing under the final name, and no `.part` to resume mismatched bytes from.
    assert_out_holds(tmp.path(), []);
    let rec = record(&out.stdout_report(), &url).clone();
    assert_eq!(rec["status"], "failed", "{rec}");
    assert_eq!(rec["attempts"], 2, "{rec}");
}

#[test]
fn checksums_mismatch_then_a_good_copy_is_saved() {
    // The first copy is corrupt (one byte flipped), the second is right.
    let body = pseudo_random(43, 200_000);
    let mut corrupt = body.clone();
    corrupt[123_456] ^= 0xff;
    let (bad, good) = (
        Resource::new(corrupt).etag("\"v1\""),
        Resource::new(body.clone()).etag("\"v2\""),
    );
    let server = server::http_nth(move |req, n| {
        let res = if n == 0 { &bad } else { &good }.respond(req.headers(), Shape::Whole);
        async move { res }
    });
    let tmp = TempDir::new().unwrap();
    write_sums(&tmp, [("a.bin", &body[..])]);

    let out = run(haul_in(tmp.path())
        .args([
            &server.url("/a.bin"),
            "--checksums",
            "SUMS",
            "--retries",
            "0",
        ])
        .args(["-d", "out"])
        .args(FAST));

    assert_saved(&out, &tmp, "a.bin", &body);
    let (reqs, log) = logged_requests(&server);
    assert_eq!(reqs.len(), 2, "{log}");
    assert_eq!(reqs[1].header("range"), None, "{log}");
}

#[test]
fn checksums_names_are_destination_names() {
    // `-o 'renamed-{name}'`: the line for `renamed-a.bin` applies (and is
    // wrong), the line for the URL's own name `a.bin` does not.
    let body = pseudo_random(44, 10_000);
    let server = server::files([("/a.bin", body.clone())]);
    let tmp = TempDir::new().unwrap();
    write_sums(
        &tmp,
        [("a.bin", &body[..]), ("renamed-a.bin", &b"other"[..])],
    );

    let out = run(haul_in(tmp.path())
        .args([&server.url("/a.bin"), "--checksums", "SUMS"])
        .args(["-o", "renamed-{name}", "-d", "out"])
        .args(FAST));

    out.assert_code(1).assert_summary(0, 0, 1);
    assert_eq!(server.hits(), 2, "{}", show(&server.requests()));
    assert_out_holds(tmp.path(), []);
}

#[test]
fn a_resumed_download_is_verified_over_all_its_bytes() {
    let full = pseudo_random(45, 1024 * 1024);
    let resource = Resource::new(full.clone()).etag("\"v1\"");
    let server = cut_then(resource.clone(), 300 * 1024, resource);
    let tmp = TempDir::new().unwrap();
    let url = server.url("/r.bin");
    write_list(
        tmp.path(),
        "urls.txt",
        &[format!("{url} sha256={}", sha256_hex(&full))],
    );

    let out = run(haul_in(tmp.path())
        .args(["-i", "urls.txt", "--report", "-", "-d", "out"])
        .args(FAST));

    assert_saved(&out, &tmp, "r.bin", &full);
    let (reqs, log) = logged_requests(&server);
    assert_eq!(reqs.len(), 2, "{log}");
    assert_eq!(reqs[1].range_start(), Some(300 * 1024), "{log}");
    let rec = record(&out.stdout_report(), &url).clone();
    assert_eq!(
        rec["sha256"],
        sha256_hex(&full),
        "digest of the whole file: {rec}"
    );
}

#[test]
fn a_resumed_download_that_mismatches_is_fetched_again_from_zero() {
    // The first 300 KiB arrive corrupt, the resumed tail is right: the whole
    // file mismatches, so one more attempt from zero gets a good copy.
    let full = pseudo_random(46, 1024 * 1024);
    let mut corrupt = full.clone();
    corrupt[1000] ^= 0xff;
    let (bad, good) = (
        Resource::new(corrupt).etag("\"v1\""),
        Resource::new(full.clone()).etag("\"v1\""),
    );
    let server = cut_then(bad, 300 * 1024, good);
    let tmp = TempDir::new().unwrap();
    let url = server.url("/r.bin");
    write_sums(&tmp, [("r.bin", &full[..])]);

    let out = haul_checked(&tmp, &url);

    assert_saved(&out, &tmp, "r.bin", &full);
    let (reqs, log) = logged_requests(&server);
    assert_eq!(reqs.len(), 3, "{log}");
    assert_eq!(reqs[0].header("range"), None, "{log}");
    assert_eq!(reqs[1].range_start(), Some(300 * 1024), "{log}");
    assert_eq!(
        reqs[2].header("range"),
        None,
        "from zero after the mismatch\n{log}"
    );
    let rec = record(&out.stdout_report(), &url).clone();
    assert_eq!(rec["sha256"], sha256_hex(&full), "{rec}");
    assert_eq!(rec["attempts"], 3, "{rec}");
}

#[test]
fn checksums_file_takes_binary_mode_and_dot_slash_names() {
    // `sha256sum -b` writes `HEX *NAME`; `sha256sum ./x` writes `./x`. Both
    // name the same file; here both are wrong, so both must be applied.
    let a = pseudo_random(47, 10_000);
    let b = pseudo_random(48, 10_000);
    let server = server::files([("/a.bin", a.clone()), ("/b.bin", b.clone())]);
    let tmp = TempDir::new().unwrap();
    let wrong = sha256_hex(b"wrong");
    write_file(
        tmp.path(),
        "SUMS",
        format!("{wrong} *a.bin\n{wrong}  ./b.bin\n").as_bytes(),
    );

    let out = run(haul_in(tmp.path())
        .args([&server.url("/a.bin"), &server.url("/b.bin")])
        .args(["--checksums", "SUMS", "-d", "out"])
        .args(FAST));

    out.assert_code(1).assert_summary(0, 0, 2);
    assert_out_holds(tmp.path(), []);
}

/// Run 1 (`--retries 0`) leaves the first `keep` bytes of a resource with
/// ETag "v1" (declaring `declared_len`) in `r.bin.part`; run 2 is served
/// `full` with ETag "v1", honouring ranges.
fn part_then(full: &[u8], keep: usize, declared_len: usize) -> (server::Server, TempDir) {
    let mut declared = full[..keep.min(full.len())].to_vec();
    declared.extend(pseudo_random(49, declared_len - declared.len()));
    let (r1, r2) = (
        Resource::new(declared).etag("\"v1\""),
        Resource::new(full.to_vec()).etag("\"v1\""),
    );
    let server = cut_then(r1, keep, r2);
    let tmp = TempDir::new().unwrap();
    let first = run(haul_in(tmp.path())
        .args([&server.url("/r.bin"), "--retries", "0", "-d", "out"])
        .args(FAST));
    first.assert_code(1);
    assert_eq!(part_len(&tmp), Some(keep), "{first}");
    (server, tmp)
}

#[test]
fn a_part_from_an_earlier_run_is_verified_over_all_its_bytes() {
    // The digest must cover the bytes run 1 wrote, which run 2 never received.
    let full = pseudo_random(50, 1024 * 1024);
    let (server, tmp) = part_then(&full, 300 * 1024, full.len());
    let url = server.url("/r.bin");
    write_sums(&tmp, [("r.bin", &full[..])]);

    let out = haul_checked(&tmp, &url);

    assert_saved(&out, &tmp, "r.bin", &full);
    let (reqs, log) = logged_requests(&server);
    assert_eq!(reqs.len(), 2, "{log}");
    assert_eq!(reqs[1].range_start(), Some(300 * 1024), "{log}");
    let rec = record(&out.stdout_report(), &url).clone();
    assert_eq!(rec["sha256"], sha256_hex(&full), "{rec}");
}

#[test]
fn a_part_finished_by_a_416_is_verified() {
    // r.bin.part already holds all 1000 bytes; the range gets 416. With a
    // wrong digest that is a mismatch: one more attempt from zero, then failure.
    let full = pseudo_random(51, 1000);
    let (server, tmp) = part_then(&full, 1000, 2000);
    let url = server.url("/r.bin");
    write_sums(&tmp, [("r.bin", &b"other"[..])]);

    let out = haul_checked(&tmp, &url);

    out.assert_code(1).assert_summary(0, 0, 1);
    assert_out_holds(tmp.path(), []);
    let (reqs, log) = logged_requests(&server);
    assert_eq!(reqs.len(), 3, "{log}");
    assert_eq!(reqs[1].range_start(), Some(1000), "{log}");
    assert_eq!(reqs[2].header("range"), None, "{log}");
}

#[test]
fn a_part_finished_by_a_416_reports_its_digest() {
    let full = pseudo_random(52, 1000);
    let (server, tmp) = part_then(&full, 1000, 2000);
    let url = server.url("/r.bin");
    write_sums(&tmp, [("r.bin", &full[..])]);

    let out = haul_checked(&tmp, &url);

    assert_saved(&out, &tmp, "r.bin", &full);
    let rec = record(&out.stdout_report(), &url).clone();
    assert_eq!(rec["sha256"], sha256_hex(&full), "{rec}");
}
