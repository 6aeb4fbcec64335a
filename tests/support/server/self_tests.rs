//! Self-tests of the server: the checks that the cases rely on can fail.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use super::{Resource, Shape, files_delayed, http, ok, truncated};

/// A bare HTTP/1.1 GET; returns the raw response (or what arrived before the cut).
fn get(url: &str) -> Vec<u8> {
    get_with(url, "")
}

/// A bare HTTP/1.1 GET with `extra` header lines (each ending in `\r\n`).
fn get_with(url: &str, extra: &str) -> Vec<u8> {
    let rest = url.strip_prefix("http://").unwrap();
    let (authority, path) = rest.split_at(rest.find('/').unwrap());
    let mut stream = TcpStream::connect(authority).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {authority}\r\nConnection: close\r\n{extra}\r\n"
    )
    .unwrap();
    let mut buf = Vec::new();
    let _ = stream.read_to_end(&mut buf);
    buf
}

#[test]
#[should_panic(expected = "without being called")]
fn unused_server_fails_on_drop() {
    let _server = http(|_req| async { ok("x") });
}

#[test]
#[should_panic(expected = "should not have been called")]
fn expect_no_hits_fails_on_a_hit() {
    let server = http(|_req| async { ok("x") }).expect_no_hits();
    get(&server.url("/"));
}

#[test]
#[should_panic(expected = "handler panicked")]
fn handler_panic_fails_on_drop() {
    let server = http(|_req| async { panic!("boom") });
    let res = get(&server.url("/"));
    assert!(res.starts_with(b"HTTP/1.1 500"));
}

#[test]
fn records_requests_and_counts_overlap() {
    let server = files_delayed([("/a", b"A".to_vec())], Duration::from_millis(200));
    let (u1, u2) = (server.url("/a"), server.url("/b?q=1"));
    let t1 = std::thread::spawn(move || get(&u1));
    let t2 = std::thread::spawn(move || get(&u2));
    let (r1, r2) = (t1.join().unwrap(), t2.join().unwrap());
    assert!(r1.starts_with(b"HTTP/1.1 200") && r1.ends_with(b"\r\n\r\nA"));
    assert!(r2.starts_with(b"HTTP/1.1 404"));
    assert_eq!(server.hits(), 2);
    assert_eq!(server.uris_sorted(), ["/a", "/b?q=1"]);
    assert_eq!(server.max_in_flight(), 2);
}

#[test]
fn truncated_declares_more_than_it_sends() {
    let server = http(|_req| async { truncated(b"12345".to_vec(), 10) });
    let res = get(&server.url("/t"));
    let text = String::from_utf8_lossy(&res);
    assert!(text.contains("content-length: 10"), "{text}");
    assert!(text.ends_with("12345"), "{text}");
}

#[test]
fn resource_honours_range_and_if_range() {
    let res = Resource::new(b"0123456789".to_vec())
        .etag("\"v1\"")
        .last_modified("Wed, 21 Oct 2015 07:28:00 GMT");
    let server = http(move |req| {
        let res = res.clone();
        async move { res.respond(req.headers(), Shape::Whole) }
    });
    let url = server.url("/r");
    let text = |extra: &str| String::from_utf8_lossy(&get_with(&url, extra)).into_owned();

    let whole = text("");
    assert!(
        whole.starts_with("HTTP/1.1 200") && whole.ends_with("0123456789"),
        "{whole}"
    );
    assert!(whole.contains("etag: \"v1\""), "{whole}");

    let part = text("Range: bytes=4-\r\nIf-Range: \"v1\"\r\n");
    assert!(part.starts_with("HTTP/1.1 206"), "{part}");
    assert!(part.contains("content-range: bytes 4-9/10"), "{part}");
    assert!(part.ends_with("\r\n\r\n456789"), "{part}");

    let by_date = text("Range: bytes=8-\r\nIf-Range: Wed, 21 Oct 2015 07:28:00 GMT\r\n");
    assert!(
        by_date.starts_with("HTTP/1.1 206") && by_date.ends_with("\r\n\r\n89"),
        "{by_date}"
    );

    for stale in ["\"v0\"", "W/\"v1\"", "Thu, 22 Oct 2015 07:28:00 GMT"] {
        let full = text(&format!("Range: bytes=4-\r\nIf-Range: {stale}\r\n"));
        assert!(
            full.starts_with("HTTP/1.1 200") && full.ends_with("0123456789"),
            "{stale}: {full}"
        );
    }

    let past = text("Range: bytes=10-\r\n");
    assert!(past.starts_with("HTTP/1.1 416"), "{past}");
    assert!(past.contains("content-range: bytes */10"), "{past}");
}

#[test]
fn resource_cut_after_delivers_exactly_n_bytes() {
    let body = vec![7u8; 300_000];
    let res = Resource::new(body).etag("\"v1\"");
    let server = http(move |req| {
        let res = res.clone();
        async move { res.respond(req.headers(), Shape::CutAfter(200_000)) }
    });
    let raw = get(&server.url("/r"));
    let split = raw.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
    let head = String::from_utf8_lossy(&raw[..split]);
    assert!(head.contains("content-length: 300000"), "{head}");
    assert_eq!(raw.len() - split, 200_000);
}
