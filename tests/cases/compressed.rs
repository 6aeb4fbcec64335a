//! `--compressed`: gzip, br and zstd asked for and saved decoded; without
//! the flag no `Accept-Encoding` and a body the server compressed anyway
//! saved as it came; digests and sizes of the decoded bytes, the server's
//! digest of an encoded answer not checked; a corrupt body a failed
//! attempt, a coding haul cannot decode a failure; and what resume and
//! `--split` do with codings: a decoded answer starts over, a range asks for
//! the identity coding and a range that came encoded anyway is not used, and
//! without the flag a `.part` of encoded bytes is continued only with more
//! of the same coding.
//!
//! The bodies are encoded here with the same libraries reqwest decodes with.

use std::io::Write as _;
use std::time::Duration;

use bytes::Bytes;
use sha2::Digest as _;
use tempfile::TempDir;

use crate::support::require;
use crate::support::server::{self, Body, Resource, Server, Shape, Step, ok, with_header};
use crate::support::{
    Output, assert_out_holds, haul_in, record, run, sha256_hex, tree, write_list,
};

const FAST: [&str; 2] = ["--retry-wait", "10ms"];

/// `n` bytes of text that compresses well (so encoded and decoded lengths
/// differ by far), different for each `seed`.
fn text(seed: u64, n: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(n + 64);
    let mut i = 0u64;
    while out.len() < n {
        writeln!(out, "{seed}: line {i} of a text that compresses well").unwrap();
        i += 1;
    }
    out.truncate(n);
    out
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    enc.write_all(bytes).unwrap();
    enc.finish().unwrap()
}

fn br(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    {
        let mut enc = brotli::CompressorWriter::new(&mut out, 4096, 5, 22);
        enc.write_all(bytes).unwrap();
    }
    out
}

fn zstd(bytes: &[u8]) -> Vec<u8> {
    zstd::stream::encode_all(bytes, 3).unwrap()
}

/// `bytes` encoded with `coding`.
fn encode(coding: &str, bytes: &[u8]) -> Vec<u8> {
    match coding {
        "gzip" => gzip(bytes),
        "br" => br(bytes),
        "zstd" => zstd(bytes),
        other => panic!("no encoder for {other}"),
    }
}

/// A 200 with `encoded` (and its `Content-Length`) labelled `coding`.
fn encoded_answer(coding: &str, encoded: Vec<u8>) -> hyper::Response<Body> {
    with_header(ok(encoded), "content-encoding", coding)
}

/// A server that answers every request for any path with `body` encoded
/// with `coding`, asked for or not.
fn compressing(coding: &'static str, body: &[u8]) -> Server {
    let encoded = encode(coding, body);
    server::http(move |_| {
        let res = encoded_answer(coding, encoded.clone());
        async move { res }
    })
}

fn fetch(server: &Server, tmp: &TempDir, extra: &[&str]) -> Output {
    run(haul_in(tmp.path())
        .args([&server.url("/f.txt"), "-d", "out", "--report", "-"])
        .args(FAST)
        .args(extra))
}

/// Contract: "compressed transfer (`Accept-Encoding`) is off by default so
/// bytes on disk equal the resource". Without --compressed nothing is
/// asked for, and a body the server compresses anyway is saved exactly as
/// it came: building in reqwest's decoders must not switch them on.
#[test]
fn without_the_flag_nothing_is_asked_for_and_an_encoded_body_is_saved_as_it_came() {
    let body = text(1, 50_000);
    for coding in ["gzip", "br", "zstd"] {
        let server = compressing(coding, &body);
        let tmp = TempDir::new().unwrap();
        let out = fetch(&server, &tmp, &[]);
        out.assert_code(0).assert_summary(1, 0, 0);
        let sent = encode(coding, &body);
        assert_out_holds(tmp.path(), [("f.txt", &sent[..])]);
        let req = &server.requests()[0];
        assert_eq!(req.header("accept-encoding"), None, "{coding}: {req:?}");
        let rec = record(&out.stdout_report(), &server.url("/f.txt")).clone();
        assert_eq!(rec["size"], sent.len(), "{coding}: {rec}");
    }
}

/// Each coding asked for is saved decoded; sizes are the decoded bytes',
/// and the encoded answer's `Content-Length` fails nothing.
#[test]
fn gzip_br_and_zstd_are_asked_for_and_saved_decoded() {
    let body = text(2, 200_000);
    for coding in ["gzip", "br", "zstd"] {
        let server = compressing(coding, &body);
        let tmp = TempDir::new().unwrap();
        let out = fetch(&server, &tmp, &["--compressed"]);
        out.assert_code(0).assert_summary(1, 0, 0);
        assert_out_holds(tmp.path(), [("f.txt", &body[..])]);
        let req = &server.requests()[0];
        let asked = req.header("accept-encoding").unwrap_or_default();
        for each in ["gzip", "br", "zstd"] {
            assert!(asked.contains(each), "{coding}: asked {asked:?}");
        }
        let rec = record(&out.stdout_report(), &server.url("/f.txt")).clone();
        assert_eq!(rec["size"], body.len(), "{coding}: {rec}");
        assert_eq!(rec["bytes"], body.len(), "{coding}: {rec}");
    }
}

/// One setting of the client covers every hop: a redirect's next hop asks
/// for the codings and is decoded with the flag, asks for none and is
/// saved as it came without it.
#[test]
fn every_redirect_hop_asks_as_the_first_did() {
    let body = text(12, 30_000);
    let sent = gzip(&body);
    for flag in [true, false] {
        let encoded = sent.clone();
        let server = server::http(move |req| {
            let res = match req.uri().path() {
                "/start" => with_header(
                    server::status(hyper::StatusCode::FOUND),
                    "location",
                    "/f.txt",
                ),
                _ => encoded_answer("gzip", encoded.clone()),
            };
            async move { res }
        });
        let tmp = TempDir::new().unwrap();
        let args: &[&str] = if flag { &["--compressed"] } else { &[] };
        let out = run(haul_in(tmp.path())
            .args([&server.url("/start"), "-d", "out", "-o", "f.txt"])
            .args(FAST)
            .args(args));
        out.assert_code(0).assert_summary(1, 0, 0);
        let reqs = server.requests();
        assert_eq!(reqs.len(), 2, "{out}");
        for req in &reqs {
            let asked = req.header("accept-encoding");
            assert_eq!(asked.is_some_and(|v| v.contains("gzip")), flag, "{req:?}");
        }
        let want = if flag { &body } else { &sent };
        assert_out_holds(tmp.path(), [("f.txt", &want[..])]);
    }
}

/// A server that does not compress is unaffected by the flag.
#[test]
fn an_uncoded_answer_is_saved_as_it_is_with_the_flag() {
    let body = text(3, 10_000);
    let server = server::files([("/f.txt", body.clone())]);
    let tmp = TempDir::new().unwrap();
    let out = fetch(&server, &tmp, &["--compressed"]);
    out.assert_code(0).assert_summary(1, 0, 0);
    assert_out_holds(tmp.path(), [("f.txt", &body[..])]);
}

/// A digest on a list line is of the decoded bytes: the right one saves
/// the file, the digest of the encoded bytes (what was sent) fails it
/// after one more attempt from zero.
#[test]
fn a_list_digest_is_checked_over_the_decoded_bytes() {
    let body = text(4, 80_000);
    let sent = gzip(&body);
    for (digest, ok) in [(sha256_hex(&body), true), (sha256_hex(&sent), false)] {
        let server = compressing("gzip", &body);
        let tmp = TempDir::new().unwrap();
        let url = server.url("/f.txt");
        write_list(tmp.path(), "urls.txt", &[format!("{url} sha256={digest}")]);
        let out = run(haul_in(tmp.path())
            .args([
                "-i",
                "urls.txt",
                "-d",
                "out",
                "--compressed",
                "--report",
                "-",
            ])
            .args(FAST));
        if ok {
            out.assert_code(0).assert_summary(1, 0, 0);
            assert_out_holds(tmp.path(), [("f.txt", &body[..])]);
            let rec = record(&out.stdout_report(), &url).clone();
            assert_eq!(rec["digest_source"], "list", "{rec}");
        } else {
            out.assert_code(1).assert_summary(0, 0, 1);
            out.assert_failure(&url, &["sha256 mismatch"]);
            assert_eq!(server.hits(), 2, "one more attempt from zero\n{out}");
            assert!(tree(&tmp.path().join("out")).is_empty(), "{out}");
        }
    }
}

/// `Repr-Digest` and `Content-Digest` of an encoded answer describe the
/// encoded bytes (RFC 9530): with the body decoded they are not checked,
/// and -vv says so; the file is saved unverified.
#[test]
fn the_servers_digest_of_an_encoded_answer_is_not_checked() {
    use base64::Engine as _;
    let body = text(5, 60_000);
    let sent = gzip(&body);
    let b64 = base64::engine::general_purpose::STANDARD.encode(sha2::Sha256::digest(&sent));
    for header in ["repr-digest", "content-digest"] {
        let value = format!("sha-256=:{b64}:");
        let server = server::http(move |_| {
            let res = with_header(
                encoded_answer("gzip", gzip(&text(5, 60_000))),
                header,
                &value,
            );
            async move { res }
        });
        let tmp = TempDir::new().unwrap();
        let out = fetch(&server, &tmp, &["--compressed", "-vv"]);
        out.assert_code(0).assert_summary(1, 0, 0);
        assert_out_holds(tmp.path(), [("f.txt", &body[..])]);
        let rec = record(&out.stdout_report(), &server.url("/f.txt")).clone();
        assert_eq!(rec["digest_source"], serde_json::Value::Null, "{rec}");
        assert!(
            out.stderr.contains("is of the encoded answer") && out.stderr.contains("not checked"),
            "{header}: -vv should say why the digest was not checked\n{out}"
        );
    }
}

/// With the flag, a body that does not decode is a failed attempt of the
/// network kind: retried, and never saved.
#[test]
fn a_corrupt_encoded_body_is_a_failed_attempt_and_retried() {
    let mut sent = gzip(&text(6, 100_000));
    let middle = sent.len() / 2;
    for byte in &mut sent[middle..middle + 64] {
        *byte ^= 0x5a;
    }
    let server = server::http(move |_| {
        let res = encoded_answer("gzip", sent.clone());
        async move { res }
    });
    let tmp = TempDir::new().unwrap();
    let out = fetch(&server, &tmp, &["--compressed", "--retries", "2"]);
    out.assert_code(1).assert_summary(0, 0, 1);
    let url = server.url("/f.txt");
    out.assert_failure(&url, &["gave up after 3 attempts"]);
    assert_eq!(server.hits(), 3, "retried as a broken transfer is\n{out}");
    let got = tree(&tmp.path().join("out"));
    assert!(!got.contains_key("f.txt"), "{out}");
}

/// A coding haul did not ask for and cannot decode fails the URL at once,
/// with the flag; without it the body is saved as it came.
#[test]
fn a_coding_haul_cannot_decode_fails_with_the_flag() {
    let server = server::http(|_| {
        let res = encoded_answer("deflate", b"not really deflate".to_vec());
        async move { res }
    });
    let tmp = TempDir::new().unwrap();
    let out = fetch(&server, &tmp, &["--compressed"]);
    out.assert_code(1).assert_summary(0, 0, 1);
    out.assert_failure(
        &server.url("/f.txt"),
        &["encoded with 'deflate'", "cannot decode"],
    );
    assert_eq!(server.hits(), 1, "not retried\n{out}");
    assert!(tree(&tmp.path().join("out")).is_empty(), "{out}");

    let out = fetch(&server, &tmp, &[]);
    out.assert_code(0);
    assert_out_holds(tmp.path(), [("f.txt", &b"not really deflate"[..])]);
}

/// A decoded answer cut short leaves no resume note: the next attempt
/// starts over from zero (no `Range`), and the file is whole.
#[test]
fn a_decoded_answer_that_is_cut_starts_over() {
    let body = text(7, 400_000);
    let sent = gzip(&body);
    let cut = sent.len() / 2;
    let server = server::http_nth(move |_, n| {
        let res = if n == 0 {
            let steps = [
                Step::Data(Bytes::copy_from_slice(&sent[..cut])),
                Step::Sleep(Duration::from_millis(250)),
                Step::Cut,
            ];
            let mut res = hyper::Response::new(Body::steps(steps));
            res.headers_mut()
                .insert("content-length", sent.len().into());
            res
        } else {
            ok(sent.clone())
        };
        let res = with_header(res, "content-encoding", "gzip");
        async move { with_header(res, "etag", "\"gz1\"") }
    });
    let tmp = TempDir::new().unwrap();
    let out = fetch(&server, &tmp, &["--compressed"]);
    out.assert_code(0).assert_summary(1, 0, 0);
    assert_out_holds(tmp.path(), [("f.txt", &body[..])]);
    let reqs = server.requests();
    assert_eq!(reqs.len(), 2, "{out}");
    assert_eq!(reqs[1].header("range"), None, "started over\n{out}");
    assert!(
        reqs[1]
            .header("accept-encoding")
            .is_some_and(|v| v.contains("gzip")),
        "{:?}",
        reqs[1]
    );
}

/// An uncoded answer resumed under --compressed: the range request asks
/// for the identity coding, and the file is continued.
#[test]
fn a_range_request_asks_for_the_identity_coding() {
    let tmp = TempDir::new().unwrap();
    if !require::xattrs(tmp.path(), "resuming under --compressed") {
        return;
    }
    let body = text(8, 1 << 20);
    let resource = Resource::new(body.clone()).etag("\"v1\"");
    let server = server::http_nth(move |req, n| {
        let shape = if n == 0 {
            Shape::CutAfter(300_000)
        } else {
            Shape::Whole
        };
        let res = resource.respond(req.headers(), shape);
        async move { res }
    });
    let out = fetch(&server, &tmp, &["--compressed"]);
    out.assert_code(0).assert_summary(1, 0, 0);
    assert_out_holds(tmp.path(), [("f.txt", &body[..])]);
    let reqs = server.requests();
    assert_eq!(reqs.len(), 2, "{out}");
    assert_eq!(reqs[1].range_start(), Some(300_000), "{out}");
    assert_eq!(reqs[1].header("accept-encoding"), Some("identity"));
}

/// A server that answers a range request with an encoded 206 anyway: the
/// range is not used (reqwest would have decoded a range of encoded
/// bytes), the `.part` is dropped and the file comes whole.
#[test]
fn an_encoded_answer_to_a_range_request_is_not_used() {
    let tmp = TempDir::new().unwrap();
    if !require::xattrs(tmp.path(), "resuming under --compressed") {
        return;
    }
    let body = text(9, 1 << 20);
    let resource = Resource::new(body.clone()).etag("\"v1\"");
    let server = server::http_nth(move |req, n| {
        let res = match n {
            0 => resource.respond(req.headers(), Shape::CutAfter(300_000)),
            // The range, gzip-encoded whatever the request said.
            1 => {
                let range = resource.respond(req.headers(), Shape::Whole);
                let (mut parts, _) = range.into_parts();
                let start = 300_000;
                let encoded = gzip(&resource.body[start..]);
                parts.headers.remove("content-length");
                parts
                    .headers
                    .insert("content-encoding", "gzip".parse().unwrap());
                let mut res = hyper::Response::from_parts(parts, Body::full(encoded.clone()));
                res.headers_mut()
                    .insert("content-length", encoded.len().into());
                res
            }
            _ => resource.respond(req.headers(), Shape::Whole),
        };
        async move { res }
    });
    let out = fetch(&server, &tmp, &["--compressed"]);
    out.assert_code(0).assert_summary(1, 0, 0);
    assert_out_holds(tmp.path(), [("f.txt", &body[..])]);
    let reqs = server.requests();
    assert_eq!(reqs.len(), 3, "{out}");
    assert_eq!(reqs[1].range_start(), Some(300_000), "{out}");
    assert_eq!(reqs[2].header("range"), None, "started over\n{out}");
}

/// --split and a decoded answer: one request, read whole (its ranges would
/// be of encoded bytes); an uncoded answer still goes over several
/// connections, every range asking for the identity coding.
#[test]
fn split_takes_no_ranges_of_a_decoded_answer() {
    let body = text(10, 4 << 20);
    let encoded = gzip(&body);
    let resource = Resource::new(body.clone()).etag("\"v1\"");
    let server = server::http(move |req| {
        let asked = req
            .headers()
            .get("accept-encoding")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.contains("gzip"));
        let res = if asked && req.headers().get("range").is_none() {
            let res = encoded_answer("gzip", encoded.clone());
            let res = with_header(res, "accept-ranges", "bytes");
            with_header(res, "etag", "\"v1-gzip\"")
        } else {
            resource.respond(req.headers(), Shape::Whole)
        };
        async move { res }
    });
    let tmp = TempDir::new().unwrap();
    let split = ["--compressed", "--split", "4", "--min-split-size", "1M"];
    let out = fetch(&server, &tmp, &split);
    out.assert_code(0).assert_summary(1, 0, 0);
    assert_out_holds(tmp.path(), [("f.txt", &body[..])]);
    assert_eq!(server.hits(), 1, "no range of a decoded answer\n{out}");

    // The same file from a server that does not compress: split, and
    // every range asks for the identity coding.
    let plain = Resource::new(body.clone()).etag("\"v1\"");
    let server = server::http(move |req| {
        let res = plain.respond(req.headers(), Shape::Whole);
        async move { res }
    });
    let tmp = TempDir::new().unwrap();
    let out = fetch(&server, &tmp, &split);
    out.assert_code(0).assert_summary(1, 0, 0);
    assert_out_holds(tmp.path(), [("f.txt", &body[..])]);
    let reqs = server.requests();
    let ranges: Vec<_> = reqs
        .iter()
        .filter(|r| r.header("range").is_some())
        .collect();
    assert!(!ranges.is_empty(), "{out}");
    for r in ranges {
        assert_eq!(r.header("accept-encoding"), Some("identity"), "{r:?}");
    }
}

/// Without the flag, a server that compressed its answer unasked and then
/// sends an uncoded range: the `.part` holds gzip bytes, so the range is
/// not appended (it would mix two representations); the file starts over.
/// A range in the same coding is appended.
#[test]
fn without_the_flag_a_part_of_encoded_bytes_continues_only_in_its_coding() {
    let probe = TempDir::new().unwrap();
    if !require::xattrs(probe.path(), "the coding in the resume note") {
        return;
    }
    // Incompressible: the gzip stream is longer than the cut.
    let body = crate::support::pseudo_random(11, 1 << 20);
    let sent = gzip(&body);
    for range_coded in [false, true] {
        let encoded = Resource::new(sent.clone()).etag("\"v1\"");
        let plain = Resource::new(body.clone()).etag("\"v1\"");
        let server = server::http_nth(move |req, n| {
            let res = match n {
                0 => with_header(
                    encoded.respond(req.headers(), Shape::CutAfter(300_000)),
                    "content-encoding",
                    "gzip",
                ),
                // The range: of the gzip bytes, labelled so; or of the
                // uncoded resource, as servers that compress only whole
                // answers send it.
                1 if range_coded => with_header(
                    encoded.respond(req.headers(), Shape::Whole),
                    "content-encoding",
                    "gzip",
                ),
                1 => plain.respond(req.headers(), Shape::Whole),
                _ => with_header(
                    encoded.respond(req.headers(), Shape::Whole),
                    "content-encoding",
                    "gzip",
                ),
            };
            async move { res }
        });
        let tmp = TempDir::new().unwrap();
        let out = fetch(&server, &tmp, &[]);
        out.assert_code(0).assert_summary(1, 0, 0);
        assert_out_holds(tmp.path(), [("f.txt", &sent[..])]);
        let reqs = server.requests();
        assert_eq!(reqs[1].range_start(), Some(300_000), "{out}");
        if range_coded {
            assert_eq!(reqs.len(), 2, "continued in its coding\n{out}");
        } else {
            assert_eq!(reqs.len(), 3, "{out}");
            assert_eq!(reqs[2].header("range"), None, "started over\n{out}");
        }
    }
}
