//! Digests the server sends: `Repr-Digest` (the whole file, whatever the
//! range), `Content-Digest` (this answer's body), `x-goog-hash` (md5,
//! crc32c), each right and wrong, over a plain, a resumed and a split
//! download; a mismatch is a failed attempt like a `sha256=` one.

use sha2::Digest as _;
use tempfile::TempDir;

use super::{b64, repr_sha256};
use crate::support::server::{self, Resource, Shape, with_header};
use crate::support::{Output, assert_out_holds, haul_in, pseudo_random, record, run, tree};

const FAST: [&str; 2] = ["--retry-wait", "10ms"];

/// A server whose every answer for `/f.bin` is `resource` (cut after `cut`
/// bytes the first time, when given) with the header `name: value` added.
fn serving(
    resource: Resource,
    cut: Option<usize>,
    name: &'static str,
    value: String,
) -> server::Server {
    server::http_nth(move |req, n| {
        let shape = match cut {
            Some(cut) if n == 0 => Shape::CutAfter(cut),
            _ => Shape::Whole,
        };
        let res = with_header(resource.respond(req.headers(), shape), name, &value);
        async move { res }
    })
}

fn fetch(server: &server::Server, tmp: &TempDir, extra: &[&str]) -> Output {
    run(haul_in(tmp.path())
        .args([&server.url("/f.bin"), "-d", "out", "--report", "-"])
        .args(FAST)
        .args(extra))
}

#[test]
fn repr_digest_right_and_wrong() {
    let body = pseudo_random(200, 100_000);
    let resource = Resource::new(body.clone());
    for (value, ok) in [(repr_sha256(&body), true), (repr_sha256(b"other"), false)] {
        let server = serving(resource.clone(), None, "repr-digest", value);
        let tmp = TempDir::new().unwrap();
        let out = fetch(&server, &tmp, &[]);
        let url = server.url("/f.bin");
        if ok {
            out.assert_code(0).assert_summary(1, 0, 0);
            let rec = record(&out.stdout_report(), &url).clone();
            assert_eq!(rec["digest_source"], "header:Repr-Digest", "{rec}");
            assert_eq!(
                rec["digest"],
                format!("sha256:{}", hex::encode(sha2::Sha256::digest(&body)))
            );
            assert_out_holds(tmp.path(), [("f.bin", &body[..])]);
        } else {
            out.assert_code(1).assert_summary(0, 0, 1);
            out.assert_failure(&url, &["sha256 mismatch", "header:Repr-Digest"]);
            assert_eq!(server.hits(), 2, "one more attempt from zero");
            assert!(tree(&tmp.path().join("out")).is_empty(), "{out}");
        }
    }
}

#[test]
fn a_sha512_repr_digest_and_a_users_digest_are_both_checked() {
    let body = pseudo_random(201, 30_000);
    let wrong = format!("sha-512=:{}:", b64(&sha2::Sha512::digest(b"x")));
    let server = serving(Resource::new(body.clone()), None, "repr-digest", wrong);
    let tmp = TempDir::new().unwrap();
    let url = server.url("/f.bin");
    crate::support::write_list(
        tmp.path(),
        "urls.txt",
        &[format!(
            "{url} sha256={}",
            hex::encode(sha2::Sha256::digest(&body))
        )],
    );
    let out = run(haul_in(tmp.path())
        .args(["-i", "urls.txt", "-d", "out"])
        .args(FAST));
    out.assert_code(1);
    out.assert_failure(&url, &["sha512 mismatch", "Repr-Digest"]);
}

#[test]
fn a_resumed_download_is_checked_against_repr_digest_over_all_its_bytes() {
    let body = pseudo_random(202, 1 << 20);
    let resource = Resource::new(body.clone()).etag("\"v1\"");
    for (value, ok) in [(repr_sha256(&body), true), (repr_sha256(&body[1..]), false)] {
        let server = serving(resource.clone(), Some(300_000), "repr-digest", value);
        let tmp = TempDir::new().unwrap();
        let out = fetch(&server, &tmp, &[]);
        let reqs = server.requests();
        assert_eq!(reqs[1].range_start(), Some(300_000), "{out}");
        if ok {
            out.assert_code(0).assert_summary(1, 0, 0);
            assert_out_holds(tmp.path(), [("f.bin", &body[..])]);
        } else {
            out.assert_code(1);
            out.assert_failure(&server.url("/f.bin"), &["sha256 mismatch"]);
            assert!(!tmp.path().join("out/f.bin").exists());
        }
    }
}

#[test]
fn content_digest_of_a_range_answer_covers_that_range() {
    let body = pseudo_random(203, 1 << 20);
    let cut = 300_000;
    let resource = Resource::new(body.clone()).etag("\"v1\"");
    let tail = |bytes: &[u8]| format!("sha-256=:{}:", b64(&sha2::Sha256::digest(bytes)));
    // The first answer (a 200, cut) carries the whole file's digest; the
    // 206 carries the tail's, which is what it covers.
    let (whole, right_tail, wrong_tail) = (tail(&body), tail(&body[cut..]), tail(&body));
    for (value, ok) in [(right_tail, true), (wrong_tail, false)] {
        let whole = whole.clone();
        let resource = resource.clone();
        let server = server::http_nth(move |req, n| {
            let (shape, digest) = if n == 0 {
                (Shape::CutAfter(cut), whole.clone())
            } else {
                (Shape::Whole, value.clone())
            };
            let res = with_header(
                resource.respond(req.headers(), shape),
                "content-digest",
                &digest,
            );
            async move { res }
        });
        let tmp = TempDir::new().unwrap();
        let out = fetch(&server, &tmp, &[]);
        assert_eq!(
            server.requests()[1].range_start(),
            Some(cut as u64),
            "{out}"
        );
        // Wrong, the range is refused and the file comes again from zero,
        // whole (where the same header is the whole file's digest, right).
        out.assert_code(0).assert_summary(1, 0, 0);
        let rec = record(&out.stdout_report(), &server.url("/f.bin")).clone();
        assert_eq!(rec["digest_source"], "header:Content-Digest", "{rec}");
        assert_eq!(rec["attempts"], if ok { 2 } else { 3 }, "{rec}");
        if !ok {
            assert_eq!(server.requests()[2].range_start(), None, "{out}");
        }
        assert_out_holds(tmp.path(), [("f.bin", &body[..])]);
    }
}

#[test]
fn x_goog_hash_md5_and_crc32c_right_and_wrong() {
    let body = pseudo_random(204, 70_000);
    let md5 = b64(&md5::Md5::digest(&body));
    let crc = b64(&crc32c::crc32c(&body).to_be_bytes());
    let other_crc = b64(&crc32c::crc32c(b"x").to_be_bytes());
    for (value, alg, ok) in [
        (format!("crc32c={crc}, md5={md5}"), "md5", true),
        (format!("crc32c={crc}"), "crc32c", true),
        (format!("crc32c={other_crc}"), "crc32c", false),
        (format!("crc32c={crc}, md5={}", b64(&[0; 16])), "md5", false),
    ] {
        let server = serving(
            Resource::new(body.clone()),
            None,
            "x-goog-hash",
            value.clone(),
        );
        let tmp = TempDir::new().unwrap();
        let out = fetch(&server, &tmp, &[]);
        if ok {
            out.assert_code(0).assert_summary(1, 0, 0);
            let rec = record(&out.stdout_report(), &server.url("/f.bin")).clone();
            assert_eq!(rec["digest_source"], "header:x-goog-hash", "{value}: {rec}");
            assert!(rec["digest"].as_str().unwrap().starts_with(alg), "{rec}");
        } else {
            out.assert_code(1);
            out.assert_failure(&server.url("/f.bin"), &[&format!("{alg} mismatch")]);
        }
    }
}

#[test]
fn a_split_download_is_checked_against_repr_digest() {
    let body = pseudo_random(205, 8 << 20);
    let resource = Resource::new(body.clone()).etag("\"v1\"");
    for (value, ok) in [(repr_sha256(&body), true), (repr_sha256(b"no"), false)] {
        let server = serving(resource.clone(), None, "repr-digest", value);
        let tmp = TempDir::new().unwrap();
        let out = fetch(&server, &tmp, &["--split", "4", "--min-split-size", "1M"]);
        let ranged = server
            .requests()
            .iter()
            .filter(|r| r.range_start().is_some())
            .count();
        assert!(ranged >= 2, "split into ranges: {out}");
        if ok {
            out.assert_code(0).assert_summary(1, 0, 0);
            let rec = record(&out.stdout_report(), &server.url("/f.bin")).clone();
            assert_eq!(rec["digest_source"], "header:Repr-Digest", "{rec}");
            assert_out_holds(tmp.path(), [("f.bin", &body[..])]);
        } else {
            out.assert_code(1);
            out.assert_failure(&server.url("/f.bin"), &["sha256 mismatch"]);
            assert!(!tmp.path().join("out/f.bin").exists());
        }
    }
}

#[test]
fn digests_that_cannot_apply_are_not_checked() {
    // Unknown algorithms, a value that is no digest, and the hash of a
    // stored object served decompressed (x-goog-stored-content-encoding
    // without the same Content-Encoding): saved, unverified.
    let body = pseudo_random(206, 5_000);
    let wrong_md5 = format!("md5={}", b64(&[0; 16]));
    let cases: [&[(&'static str, &str)]; 3] = [
        &[("repr-digest", "unixsum=:AAAA:, sha-256=:AAAA:")],
        &[("content-digest", "sha-256=:not base64:")],
        &[
            ("x-goog-hash", &wrong_md5),
            ("x-goog-stored-content-encoding", "gzip"),
        ],
    ];
    for headers in cases {
        let headers: Vec<(&'static str, String)> =
            headers.iter().map(|(n, v)| (*n, v.to_string())).collect();
        let resource = Resource::new(body.clone());
        let server = server::http(move |req| {
            let mut res = resource.respond(req.headers(), Shape::Whole);
            for (name, value) in &headers {
                res = with_header(res, name, value);
            }
            async move { res }
        });
        let tmp = TempDir::new().unwrap();
        let out = fetch(&server, &tmp, &[]);
        out.assert_code(0).assert_summary(1, 0, 0);
        let rec = record(&out.stdout_report(), &server.url("/f.bin")).clone();
        assert_eq!(rec["digest"], serde_json::Value::Null, "{rec}");
        assert_out_holds(tmp.path(), [("f.bin", &body[..])]);
    }
}
