//! A digest is a promise about the file on disk (issue 8, item 10): with
//! `sha256=` or `--checksums`, a file already at the destination is hashed
//! (no request) and skipped only when it matches; otherwise it is fetched
//! again and reported with `"replaced": "sha256 mismatch"`.
//!
//! Not here: digests of downloaded bodies (reliability/verify.rs).

use tempfile::TempDir;

use crate::support::server;
use crate::support::{haul_in, record, run, sha256_hex, write_file, write_list};

const CSV: &[u8] = b"id,value\n1,one\n2,two\n";

fn sums(dir: &TempDir) -> &'static str {
    write_file(
        dir.path(),
        "SUMS",
        format!("{}  01.csv\n", sha256_hex(CSV)).as_bytes(),
    );
    "SUMS"
}

#[test]
fn a_corrupt_file_is_fetched_again() {
    let server = server::files([("/01.csv", CSV.to_vec())]);
    let tmp = TempDir::new().unwrap();
    write_file(tmp.path(), "v/01.csv", b"corrupt\n");
    let url = server.url("/01.csv");

    let sums = sums(&tmp);
    let out =
        run(haul_in(tmp.path()).args([&url, "-d", "v", "--checksums", sums, "--report", "-"]));

    out.assert_code(0).assert_summary(1, 0, 0);
    assert_eq!(std::fs::read(tmp.path().join("v/01.csv")).unwrap(), CSV);
    let rec = record(&out.stdout_report(), &url).clone();
    assert_eq!(rec["status"], "ok", "{rec}");
    assert_eq!(rec["replaced"], "sha256 mismatch", "{rec}");
    assert_eq!(rec["sha256"], sha256_hex(CSV), "{rec}");
}

#[test]
fn a_matching_file_is_skipped_with_its_digest_and_no_request() {
    for on_exists in ["skip", "update"] {
        let server = server::files([("/01.csv", CSV.to_vec())]).expect_no_hits();
        let tmp = TempDir::new().unwrap();
        write_file(tmp.path(), "v/01.csv", CSV);
        let url = server.url("/01.csv");
        let sums = sums(&tmp);

        let out = run(haul_in(tmp.path()).args([
            &url,
            "-d",
            "v",
            "--checksums",
            sums,
            "--on-exists",
            on_exists,
            "--report",
            "-",
        ]));

        out.assert_code(0).assert_summary(0, 1, 0);
        let rec = record(&out.stdout_report(), &url).clone();
        assert_eq!(rec["status"], "skipped", "{on_exists}: {rec}");
        assert_eq!(rec["sha256"], sha256_hex(CSV), "{on_exists}: {rec}");
        assert_eq!(rec.get("replaced"), None, "{rec}");
    }
}

/// With `update`, a file whose digest is wrong is fetched whole: no
/// `If-Modified-Since` that could keep the wrong bytes with a 304.
#[test]
fn update_fetches_a_mismatching_file_unconditionally() {
    let server = server::files([("/01.csv", CSV.to_vec())]);
    let tmp = TempDir::new().unwrap();
    write_file(tmp.path(), "v/01.csv", b"stale but newer\n");
    let url = server.url("/01.csv");
    write_list(
        tmp.path(),
        "urls.txt",
        &[format!("{url} sha256={}", sha256_hex(CSV))],
    );

    let out = run(haul_in(tmp.path()).args(["-i", "urls.txt", "-d", "v", "--on-exists", "update"]));

    out.assert_code(0).assert_summary(1, 0, 0);
    assert_eq!(std::fs::read(tmp.path().join("v/01.csv")).unwrap(), CSV);
    let reqs = server.requests_for("/01.csv");
    assert_eq!(reqs.len(), 1);
    assert_eq!(reqs[0].header("if-modified-since"), None);
}
