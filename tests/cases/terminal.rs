//! The display on a real terminal: haul runs under `script(1)`, which gives
//! it a pseudo-terminal. The bars render (escape codes, the files count),
//! a large download gets a line of its own, a failure line printed mid-run
//! is whole, and the summary is the last line. Skipped, saying so, where
//! `script` is missing; a failure there under `HAUL_REQUIRE_TOOLS=1`, as in
//! CI (`support::require`).

use std::process::Command;
use std::time::Duration;

use hyper::StatusCode;
use tempfile::TempDir;

use crate::support::require;
use crate::support::server::{Body, Step};
use crate::support::{Output, pseudo_random, run_with_timeout, server};
use hyper::Response;

/// Whether `script(1)` is here; where not, the test says so and returns
/// before its server starts (see [`require::tool`]).
#[track_caller]
fn script_here() -> bool {
    require::tool("script", "the display on a terminal")
}

/// Runs `haul ARGS` under `script(1)` in `tmp`, a terminal of its own.
fn on_a_terminal(tmp: &TempDir, args: &str) -> Output {
    let line = format!("{} {args}", env!("CARGO_BIN_EXE_haul"));
    let mut cmd = Command::new("script");
    cmd.current_dir(tmp.path())
        .args(["-qec", &line, "/dev/null"])
        .env("TERM", "xterm-256color")
        .env_remove("NO_COLOR")
        .env_remove("RUST_LOG");
    run_with_timeout(&mut cmd, Duration::from_secs(30))
}

#[test]
fn bars_render_and_lines_are_not_torn_on_a_terminal() {
    if !script_here() {
        return;
    }
    // Over 8 MiB, so it has a line of its own from its first byte; about
    // 1.5 s at the rate below, so the display redraws several times.
    let body = pseudo_random(90, 9 * 1024 * 1024);
    let server = server::http(move |req| {
        let res = if req.uri().path() == "/big.bin" {
            server::ok(body.clone())
        } else {
            server::status(StatusCode::NOT_FOUND)
        };
        async move { res }
    });
    let tmp = TempDir::new().unwrap();
    let missing = server.url("/missing");
    let args = format!(
        "{} {missing} -d out --limit-rate 6M",
        server.url("/big.bin")
    );

    let out = on_a_terminal(&tmp, &args);

    assert_eq!(out.code(), Some(1), "{out}");
    let screen = out.stdout.clone();
    assert!(screen.contains("\u{1b}["), "no escape codes: {screen:?}");
    assert!(screen.contains("/2 files"), "no overall bar: {screen:?}");
    // The download's own line: its name, bytes of its known total, a rate.
    let own = screen
        .split(['\r', '\n'])
        .any(|l| l.contains("big.bin") && l.contains(" MiB/9.00 MiB") && l.contains("MiB/s"));
    assert!(own, "no line for the large download: {screen:?}");
    // The failure line arrives whole, on a cleared line of its own.
    let failure = format!("haul: {missing} -> out/missing: HTTP 404 Not Found");
    assert!(screen.contains(&failure), "torn or missing: {screen:?}");
    let last = screen
        .split(['\r', '\n'])
        .map(|l| l.trim_start_matches("\u{1b}[2K"))
        .rev()
        .find(|l| !l.trim().is_empty())
        .unwrap_or_default()
        .to_string();
    assert!(
        last.starts_with("1 ok, 0 skipped, 1 failed"),
        "the summary is not last: {last:?}"
    );
}

#[test]
fn a_split_download_shows_one_line_with_its_connections() {
    if !script_here() {
        return;
    }
    let body = pseudo_random(92, 16 * 1024 * 1024);
    let resource = crate::support::server::Resource::new(body).etag("\"v1\"");
    let server = server::http(move |req| {
        let shape = crate::support::server::Shape::Drip {
            chunk: 64 * 1024,
            every: Duration::from_millis(10),
        };
        let res = resource.respond(req.headers(), shape);
        async move { res }
    });
    let tmp = TempDir::new().unwrap();
    let args = format!(
        "{} -d out --split 4 --min-split-size 1M",
        server.url("/big.bin")
    );

    let out = on_a_terminal(&tmp, &args);

    assert_eq!(out.code(), Some(0), "{out}");
    let screen = out.stdout.clone();
    let lines: Vec<&str> = screen
        .split(['\r', '\n'])
        .filter(|l| l.contains("big.bin ("))
        .collect();
    assert!(
        lines.iter().any(|l| l.contains("big.bin (4 connections)")
            && l.contains("/16.00 MiB")
            && l.contains("MiB/s")),
        "no line with the file's connections: {screen:?}"
    );
}

/// The ETAs the overall line showed while `files` were done, in seconds.
fn etas_at(screen: &str, files: &str) -> Vec<u64> {
    screen
        .split(['\r', '\n'])
        .filter(|l| l.contains(files))
        .filter_map(|l| {
            let eta = l.split("ETA ").nth(1)?;
            let mut words = eta.split_whitespace();
            let n: u64 = words.next()?.parse().ok()?;
            match words.next()? {
                w if w.starts_with("second") => Some(n),
                w if w.starts_with("minute") => Some(n * 60),
                _ => None,
            }
        })
        .collect()
}

#[test]
fn the_overall_eta_follows_the_bytes_still_to_come() {
    if !script_here() {
        return;
    }
    // Three small files done at once, then a 3 MiB one at 1 MiB/s: by the
    // files, the run is three quarters done and the ETA a fraction of a
    // second; by the bytes, seconds are left.
    let large = pseudo_random(91, 3 * 1024 * 1024);
    let server = server::http(move |req| {
        let res = match req.uri().path() {
            "/large" => server::ok(large.clone()),
            // No Content-Length: a length nobody knows.
            "/unknown" => Response::new(Body::steps([
                Step::Data(pseudo_random(92, 64 * 1024).into()),
                Step::Sleep(Duration::from_millis(1500)),
                Step::Data(pseudo_random(93, 64 * 1024).into()),
            ])),
            _ => server::ok(pseudo_random(94, 1000)),
        };
        async move { res }
    });
    let tmp = TempDir::new().unwrap();
    let args = format!(
        "{} {} {} {} -d out --limit-rate 1M -j 4",
        server.url("/a"),
        server.url("/b"),
        server.url("/c"),
        server.url("/large")
    );
    let out = on_a_terminal(&tmp, &args);
    assert_eq!(out.code(), Some(0), "{out}");
    let etas = etas_at(&out.stdout, "3/4 files");
    assert!(
        etas.iter().any(|&s| s >= 2),
        "no ETA of the bytes to come: {etas:?}\n{:?}",
        out.stdout
    );

    // A file of unknown length: no ETA at all.
    let tmp = TempDir::new().unwrap();
    let args = format!("{} {} -d out", server.url("/a"), server.url("/unknown"));
    let out = on_a_terminal(&tmp, &args);
    assert_eq!(out.code(), Some(0), "{out}");
    assert!(out.stdout.contains("1/2 files"), "{:?}", out.stdout);
    assert!(!out.stdout.contains("ETA"), "{:?}", out.stdout);
}
