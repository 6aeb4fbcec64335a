//! HTTP/2 servers that rotate or refuse connections (issue 20): a request
//! the server never processed (a stream above the last one a GOAWAY kept,
//! a stream reset with `REFUSED_STREAM`, a request that waited for a
//! stream on a connection that went away) is sent again at once and is no
//! attempt, up to a bound; a request the server processed and then cut
//! still fails as before.
//!
//! Not here: how failures are sorted from their error chains (unit tests
//! in `src/retry.rs` for the budget).

use tempfile::TempDir;

use crate::support::server::{self, H2};
use crate::support::{assert_out_holds, haul_in, pseudo_random, run, write_list};

/// Free resends of a request the server never processed, per URL
/// (`MAX_RESENDS` in `src/retry.rs`).
const MAX_RESENDS: usize = 100;

/// Issue 20: a server that ends every connection with a GOAWAY after 10
/// requests (as nginx's `keepalive_requests` does, and CDNs rotating
/// connections), also with a stream limit of 4 (requests wait for a stream
/// when their connection goes away): 300 URLs at `-j 64 --retries 0` all
/// arrive whole, each was processed once by the server, and no attempt is
/// counted twice.
#[test]
fn a_server_rotating_its_connections_fails_no_url() {
    let files: Vec<(String, Vec<u8>)> = (0..300)
        .map(|i| (format!("/f{i:03}.bin"), pseudo_random(i, 1000 + i as usize)))
        .collect();
    for h2 in [
        H2 {
            goaway_after: Some(10),
            ..H2::default()
        },
        H2 {
            goaway_after: Some(10),
            max_concurrent_streams: Some(4),
            ..H2::default()
        },
    ] {
        let server = server::https_h2_files(h2, files.clone());
        let tmp = TempDir::new().unwrap();
        let urls: Vec<String> = files.iter().map(|(path, _)| server.url(path)).collect();
        write_list(tmp.path(), "urls.txt", &urls);

        let out = run(haul_in(tmp.path()).args([
            "-i",
            "urls.txt",
            "-k",
            "-j",
            "64",
            "--retries",
            "0",
            "-d",
            "out",
            "--report",
            "-",
        ]));

        out.assert_code(0).assert_summary(300, 0, 0);
        assert_out_holds(
            tmp.path(),
            files
                .iter()
                .map(|(path, body)| (path.trim_start_matches('/'), &body[..])),
        );
        let mut paths: Vec<String> = files.iter().map(|(p, _)| p.clone()).collect();
        paths.sort();
        assert_eq!(server.uris_sorted(), paths, "{h2:?}: each processed once");
        for record in out.stdout_report() {
            assert_eq!(record["attempts"], 1, "{h2:?}: {record}");
        }
    }
}

/// Issue 20: a server that refuses every stream with `REFUSED_STREAM` gets
/// the request once and then `MAX_RESENDS` times more, at once; then haul
/// gives up with the server's reason (`--retries 0`), or spends
/// `--retries` as for any other failure.
#[test]
fn a_server_refusing_every_stream_gets_a_bounded_number_of_resends() {
    for (retries, sent) in [("0", 1 + MAX_RESENDS), ("2", 1 + MAX_RESENDS + 2)] {
        let server = server::https_h2(
            H2 {
                refuse_every_stream: true,
                ..H2::default()
            },
            |_req| async { unreachable!("every stream is refused") },
        );
        let tmp = TempDir::new().unwrap();
        let url = server.url("/a.bin");

        let out = run(haul_in(tmp.path()).args([
            &url,
            "-k",
            "--retries",
            retries,
            "--retry-wait",
            "10ms",
            "-d",
            "out",
        ]));

        out.assert_code(1).assert_summary(0, 0, 1).assert_failure(
            &url,
            &[
                "refused stream",
                &format!("processed none of {sent} requests"),
            ],
        );
        assert_eq!(server.hits_for("/a.bin"), sent, "--retries {retries}");
        assert!(!tmp.path().join("out/a.bin").exists());
    }
}

/// Issue 20: a request the server processed and then cut mid-body (a
/// stream reset after part of the body) is a failed attempt as before:
/// with `--retries 0` the URL fails after one request.
#[test]
fn a_body_cut_after_the_server_processed_the_request_still_fails() {
    let body = pseudo_random(7, 20_000);
    let sent = body[..5_000].to_vec();
    let server = server::https_h2(H2::default(), move |_req| {
        let sent = sent.clone();
        async move { server::truncated(sent, 20_000) }
    });
    let tmp = TempDir::new().unwrap();
    let url = server.url("/cut.bin");

    let out = run(haul_in(tmp.path()).args([&url, "-k", "--retries", "0", "-d", "out"]));

    out.assert_code(1).assert_summary(0, 0, 1);
    assert_eq!(server.hits_for("/cut.bin"), 1);
    assert!(!tmp.path().join("out/cut.bin").exists());
}

/// A host whose first connection spoke HTTP/2 and whose later ones offer
/// HTTP/1.1 alone (mixed back ends behind one name): the request haul
/// sends in HTTP/2 alone fails its handshake once, and the host is asked
/// as the handshake decides from then on; every file arrives.
#[test]
fn a_host_that_stops_offering_http2_is_asked_as_the_handshake_decides() {
    let files: Vec<(String, Vec<u8>)> = (0..6)
        .map(|i| (format!("/f{i}"), format!("body {i}").into_bytes()))
        .collect();
    let server = server::https_h2_then_http1_files(files.clone());
    let tmp = TempDir::new().unwrap();

    let out = run(haul_in(tmp.path()).args([
        "-k",
        "-j",
        "1",
        "--retries",
        "1",
        "--retry-wait",
        "10ms",
        "-d",
        "out",
        &server.url("/f[0-5]"),
    ]));

    out.assert_code(0);
    for (path, body) in &files {
        assert_eq!(
            std::fs::read(tmp.path().join("out").join(&path[1..])).unwrap(),
            *body,
            "{path}\n{out}"
        );
    }
}
