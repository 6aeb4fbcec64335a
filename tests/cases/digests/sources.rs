//! Digests users give: list fields, manifests (files and URLs, GNU and BSD
//! forms, several), sidecars, and `--require-digest`.

use tempfile::TempDir;

use super::{ALGS, hex_of};
use crate::support::server::{self, status, with_header};
use crate::support::{
    assert_out_holds, haul_in, pseudo_random, record, run, tree, write_file, write_list,
};

const FAST: [&str; 2] = ["--retry-wait", "10ms"];

#[test]
fn every_algorithm_on_a_list_line_is_checked_and_reported() {
    let body = pseudo_random(180, 50_000);
    let server = server::files([("/f.bin", body.clone())]);
    let url = server.url("/f.bin");
    for alg in ALGS {
        let tmp = TempDir::new().unwrap();
        let good = hex_of(alg, &body);
        write_list(tmp.path(), "urls.txt", &[format!("{url} {alg}={good}")]);
        let out = run(haul_in(tmp.path())
            .args(["-i", "urls.txt", "-d", "out", "--report", "-"])
            .args(FAST));
        out.assert_code(0).assert_summary(1, 0, 0);
        let rec = record(&out.stdout_report(), &url).clone();
        assert_eq!(rec["digest"], format!("{alg}:{good}"), "{rec}");
        assert_eq!(rec["digest_source"], "list", "{rec}");
        assert_out_holds(tmp.path(), [("f.bin", &body[..])]);

        // The same length of wrong digest: a checksum failure, no file.
        let tmp = TempDir::new().unwrap();
        let bad = hex_of(alg, b"other bytes");
        write_list(tmp.path(), "urls.txt", &[format!("{url} {alg}={bad}")]);
        let out = run(haul_in(tmp.path())
            .args(["-i", "urls.txt", "-d", "out"])
            .args(FAST));
        out.assert_code(1).assert_summary(0, 0, 1);
        out.assert_failure(&url, &[&format!("{alg} mismatch"), &bad, "(list)"]);
        assert!(tree(&tmp.path().join("out")).is_empty(), "{out}");
    }
}

#[test]
fn gnu_and_bsd_manifests_of_any_algorithm_are_read_together() {
    let (a, b, c) = (
        pseudo_random(181, 10_000),
        pseudo_random(182, 20_000),
        pseudo_random(183, 30_000),
    );
    let server = server::files([
        ("/a.bin", a.clone()),
        ("/b.bin", b.clone()),
        ("/c.bin", c.clone()),
    ]);
    let tmp = TempDir::new().unwrap();
    // GNU sha512 (binary marker, a folder in the name), BSD md5 and
    // openssl-style sha1, in two files.
    let gnu = format!("{} *dist/a.bin\n", hex_of("sha512", &a));
    let bsd = format!(
        "MD5 (b.bin) = {}\nSHA1(c.bin)= {}\n",
        hex_of("md5", &b),
        hex_of("sha1", &c)
    );
    write_file(tmp.path(), "SHA512SUMS", gnu.as_bytes());
    write_file(tmp.path(), "BSD", bsd.as_bytes());
    let urls = ["/a.bin", "/b.bin", "/c.bin"].map(|p| server.url(p));

    let out = run(haul_in(tmp.path())
        .args(&urls)
        .args(["--checksums", "SHA512SUMS", "--checksums", "BSD"])
        .args(["-d", "out", "--report", "-"]));

    out.assert_code(0).assert_summary(3, 0, 0);
    let records = out.stdout_report();
    for (url, alg, file, bytes) in [
        (&urls[0], "sha512", "SHA512SUMS", &a),
        (&urls[1], "md5", "BSD", &b),
        (&urls[2], "sha1", "BSD", &c),
    ] {
        let rec = record(&records, url);
        assert_eq!(rec["digest"], format!("{alg}:{}", hex_of(alg, bytes)));
        assert_eq!(rec["digest_source"], format!("checksums:{file}"));
    }
    assert!(!out.summary().contains("without a digest"), "{out}");
}

#[test]
fn a_wrong_bsd_line_fails_its_file_only() {
    let (a, b) = (pseudo_random(184, 10_000), pseudo_random(185, 10_000));
    let server = server::files([("/a.bin", a.clone()), ("/b.bin", b.clone())]);
    let tmp = TempDir::new().unwrap();
    let sums = format!(
        "SHA384 (a.bin) = {}\nSHA384 (b.bin) = {}\n",
        hex_of("sha384", &a),
        hex_of("sha384", &a)
    );
    write_file(tmp.path(), "SUMS", sums.as_bytes());
    let (ua, ub) = (server.url("/a.bin"), server.url("/b.bin"));

    let out = run(haul_in(tmp.path())
        .args([&ua, &ub, "--checksums", "SUMS", "-d", "out"])
        .args(FAST));

    out.assert_code(1).assert_summary(1, 0, 1);
    out.assert_failure(&ub, &["sha384 mismatch", "checksums:SUMS"]);
    assert_out_holds(tmp.path(), [("a.bin", &a[..])]);
    // One more attempt from zero after a mismatch.
    assert_eq!(server.hits_for("/b.bin"), 2);
}

#[test]
fn a_manifest_that_names_one_file_twice_differently_fails_that_file() {
    let a = pseudo_random(186, 1000);
    let server = server::files([("/tool", a.clone())]);
    let tmp = TempDir::new().unwrap();
    let sums = format!(
        "{}  linux/tool\n{}  mac/tool\n",
        hex_of("sha256", &a),
        hex_of("sha256", b"x")
    );
    write_file(tmp.path(), "SUMS", sums.as_bytes());
    let url = server.url("/tool");

    let out = run(haul_in(tmp.path()).args([&url, "--checksums", "SUMS", "-d", "out"]));

    out.assert_code(1).assert_summary(0, 0, 1);
    out.assert_failure(&url, &["twice with different sha256", "out="]);
    assert_eq!(server.hits(), 0);
    // With a path that names one, it is that one.
    let out = run(haul_in(tmp.path()).args([
        &url,
        "--checksums",
        "SUMS",
        "-d",
        "out",
        "-o",
        "linux/{name}",
    ]));
    out.assert_code(0).assert_summary(1, 0, 0);
}

#[test]
fn a_manifest_by_url_is_fetched_first_with_its_hosts_headers_and_never_saved() {
    let (a, b) = (pseudo_random(187, 10_000), pseudo_random(188, 10_000));
    let sums = format!(
        "{}  a.bin\n{}  b.bin\n",
        hex_of("sha256", &a),
        hex_of("sha256", b"not b")
    );
    let server = server::files([
        ("/a.bin", a.clone()),
        ("/b.bin", b.clone()),
        ("/v1/SHA256SUMS", sums.into_bytes()),
    ]);
    let tmp = TempDir::new().unwrap();
    let (ua, ub, sums_url) = (
        server.url("/a.bin"),
        server.url("/b.bin"),
        server.url("/v1/SHA256SUMS"),
    );

    let out = run(haul_in(tmp.path())
        .args([
            &ua,
            &ub,
            "--checksums",
            &sums_url,
            "-d",
            "out",
            "--report",
            "-",
        ])
        .args(["--host-header", &server.authority(), "X-Token: t1"])
        .args(FAST));

    out.assert_code(1).assert_summary(1, 0, 1);
    let rec = record(&out.stdout_report(), &ua).clone();
    assert_eq!(
        rec["digest_source"],
        format!("checksums:{sums_url}"),
        "{rec}"
    );
    out.assert_failure(&ub, &["sha256 mismatch"]);
    // Fetched first, once, with the header meant for its host; not in --dir.
    let reqs = server.requests();
    assert_eq!(reqs[0].uri, "/v1/SHA256SUMS", "manifest first");
    assert_eq!(reqs[0].header("x-token"), Some("t1"));
    assert_eq!(server.hits_for("/v1/SHA256SUMS"), 1);
    assert_out_holds(tmp.path(), [("a.bin", &a[..])]);
}

#[test]
fn a_manifest_url_that_cannot_be_fetched_is_an_input_error_before_any_download() {
    let server = server::files([("/a.bin", b"a".to_vec())]);
    let tmp = TempDir::new().unwrap();
    let missing = server.url("/SHA256SUMS");
    let out = run(haul_in(tmp.path()).args([
        &server.url("/a.bin"),
        "--checksums",
        &missing,
        "-d",
        "out",
    ]));
    out.assert_code(2);
    assert!(out.stderr.contains(&missing), "{out}");
    assert_eq!(server.hits_for("/a.bin"), 0);
    assert!(!tmp.path().join("out/a.bin").exists());

    // A manifest that is not one: the line is named.
    let server = server::files([("/a.bin", b"a".to_vec()), ("/S", b"<html>".to_vec())]);
    let url = server.url("/S");
    let out = run(haul_in(tmp.path()).args([&server.url("/a.bin"), "--checksums", &url]));
    out.assert_code(2);
    assert!(out.stderr.contains(&format!("{url}:1: expected")), "{out}");
    assert_eq!(server.hits_for("/a.bin"), 0);

    // Endless, or stalled: capped and timed out, never held.
    let server = server::http(|req| {
        let res = match req.uri().path() {
            "/big" => server::ok(vec![b'0'; 17 << 20]),
            "/a.bin" => server::ok("a"),
            _ => server::stall_after("0".repeat(10), 100, std::time::Duration::from_secs(30)),
        };
        async move { res }
    });
    for (path, says) in [("/big", "longer than 16 MiB"), ("/stalled", "stalled")] {
        let url = server.url(path);
        let out = run(haul_in(tmp.path())
            .args([&server.url("/a.bin"), "--checksums", &url])
            .args(["--stall-timeout", "1s", "--retries", "0"]));
        out.assert_code(2);
        assert!(
            out.stderr.contains(&url) && out.stderr.contains(says),
            "{out}"
        );
    }
    assert_eq!(server.hits_for("/a.bin"), 0);
}

#[test]
fn sidecars_verify_files_that_have_one_and_the_summary_counts_the_rest() {
    let (a, b, c) = (
        pseudo_random(189, 10_000),
        pseudo_random(190, 10_000),
        pseudo_random(191, 10_000),
    );
    let server = server::files([
        ("/a.bin", a.clone()),
        (
            "/a.bin.sha512",
            format!("{}  a.bin\n", hex_of("sha512", &a)).into(),
        ),
        ("/b.bin", b.clone()),
        ("/c.bin", c.clone()),
        ("/c.bin.sha512", hex_of("sha512", b"not c").into()),
    ]);
    let tmp = TempDir::new().unwrap();
    let urls = ["/a.bin", "/b.bin", "/c.bin"].map(|p| server.url(p));

    let out = run(haul_in(tmp.path())
        .args(&urls)
        .args([
            "--checksum-sidecar",
            ".sha512",
            "-d",
            "out",
            "--report",
            "-",
        ])
        .args(FAST));

    out.assert_code(1).assert_summary(2, 0, 1);
    let records = out.stdout_report();
    let rec = record(&records, &urls[0]);
    assert_eq!(
        rec["digest_source"],
        format!("sidecar:{}.sha512", urls[0]),
        "{rec}"
    );
    assert_eq!(
        record(&records, &urls[1])["digest"],
        serde_json::Value::Null
    );
    out.assert_failure(&urls[2], &["sha512 mismatch", "sidecar:"]);
    assert!(out.summary().contains("2 ok (1 without a digest)"), "{out}");
    assert_out_holds(tmp.path(), [("a.bin", &a[..]), ("b.bin", &b[..])]);
    // The sidecar is fetched once, the mismatching file twice.
    assert_eq!(server.hits_for("/c.bin.sha512"), 1);
    assert_eq!(server.hits_for("/c.bin"), 2);
}

#[test]
fn a_sidecar_that_is_not_one_fails_its_file() {
    let a = pseudo_random(192, 1000);
    let server = server::http(move |req| {
        let res = match req.uri().path() {
            "/a.bin" => server::ok(a.clone()),
            "/a.bin.sha256" => server::ok("<html>Sign in</html>"),
            "/b.bin" => server::ok("b"),
            "/b.bin.sha256" => status(hyper::StatusCode::INTERNAL_SERVER_ERROR),
            "/c.bin" => server::ok("c"),
            _ => server::ok(vec![b'0'; 17 << 20]),
        };
        async move { res }
    });
    let tmp = TempDir::new().unwrap();
    let urls = ["/a.bin", "/b.bin", "/c.bin"].map(|p| server.url(p));

    let out = run(haul_in(tmp.path())
        .args(&urls)
        .args([
            "--checksum-sidecar",
            ".sha256",
            "-d",
            "out",
            "--retries",
            "1",
        ])
        .args(FAST));

    out.assert_code(1).assert_summary(0, 0, 3);
    out.assert_failure(&urls[0], &["sidecar", ".sha256", "is not 'HEX'"]);
    out.assert_failure(&urls[1], &["500"]);
    out.assert_failure(&urls[2], &["longer than 16 MiB"]);
    assert_eq!(server.hits_for("/b.bin.sha256"), 2, "retried as a download");
    assert_eq!(server.hits_for("/a.bin"), 0);
    assert!(tree(&tmp.path().join("out")).is_empty());
}

#[test]
fn require_digest_fails_a_file_nothing_vouches_for_before_its_body() {
    let (a, b) = (pseudo_random(193, 10_000), pseudo_random(194, 10_000));
    let b_digest = super::repr_sha256(&b);
    let server = server::http(move |req| {
        let res = match req.uri().path() {
            "/a.bin" => server::ok(a.clone()),
            _ => with_header(server::ok(b.clone()), "repr-digest", &b_digest),
        };
        async move { res }
    });
    let tmp = TempDir::new().unwrap();
    let (ua, ub) = (server.url("/a.bin"), server.url("/b.bin"));

    let out = run(haul_in(tmp.path())
        .args([&ua, &ub, "--require-digest", "-d", "out", "--report", "-"])
        .args(FAST));

    out.assert_code(1).assert_summary(1, 0, 1);
    out.assert_failure(&ua, &["--require-digest"]);
    assert_eq!(server.hits_for("/a.bin"), 1, "not retried");
    let names: Vec<String> = tree(&tmp.path().join("out")).into_keys().collect();
    assert_eq!(names, ["b.bin"], "no file and no .part for a.bin");
    let rec = record(&out.stdout_report(), &ub).clone();
    assert_eq!(rec["digest_source"], "header:Repr-Digest", "{rec}");
}

#[test]
fn bad_sidecar_suffixes_are_usage_errors() {
    for bad in ["", "a/b", ".sha256?x", "#x", "has space"] {
        let out =
            run(crate::support::haul().args(["http://127.0.0.1:9/x", "--checksum-sidecar", bad]));
        out.assert_code(2);
        assert!(out.stderr.contains("--checksum-sidecar"), "{bad}: {out}");
    }
}
