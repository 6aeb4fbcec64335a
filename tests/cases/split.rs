//! `--split`: one file over several connections. Byte-exact files whose
//! ranges add up to the size (the server counts what it sent), the
//! connection budget (`-j`, `--per-host`) as the server saw it, a cut range
//! continued by range, a version change between ranges (no mixed bytes), a
//! server without ranges (one request), a server that advertises ranges but
//! ignores them, digests, and kill -9 followed by a rerun that fetches only
//! the missing ranges.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::Duration;

use tempfile::TempDir;

use crate::support::require;
use crate::support::server::{self, Recorded, Resource, Server, Shape, counted};
use crate::support::{
    Output, assert_no_final_file, assert_out_holds, haul_in, pseudo_random, record,
    run_with_timeout, sha256_hex, spawn, tree, write_list,
};

const MIB: usize = 1024 * 1024;

/// 64 KiB every `ms` milliseconds per connection: slow enough that the
/// connections of one file overlap.
fn drip(ms: u64) -> Shape {
    Shape::Drip {
        chunk: 64 * 1024,
        every: Duration::from_millis(ms),
    }
}

/// A server for `/big.bin` = `resource`, each answer sent as `shape` and
/// counted in the returned total.
fn serve(resource: Resource, shape: Shape) -> (Server, Arc<AtomicU64>) {
    serve_nth(resource, move |_| shape)
}

/// [`serve`], the `n`th answer (0 for the first) sent as `shape(n)`.
fn serve_nth(
    resource: Resource,
    shape: impl Fn(usize) -> Shape + Send + Sync + 'static,
) -> (Server, Arc<AtomicU64>) {
    let sent = Arc::new(AtomicU64::new(0));
    let total = sent.clone();
    let server = server::http_nth(move |req, n| {
        let res = counted(resource.respond(req.headers(), shape(n)), &total);
        async move { res }
    });
    (server, sent)
}

/// The `Range` header's `(first, last)`, for a bounded range.
fn bounded(req: &Recorded) -> Option<(u64, u64)> {
    let spec = req.header("range")?.strip_prefix("bytes=")?;
    let (a, b) = spec.split_once('-')?;
    Some((a.parse().ok()?, b.parse().ok()?))
}

fn show(requests: &[Recorded]) -> String {
    requests
        .iter()
        .map(|r| {
            format!(
                "  range={:?} if-range={:?}",
                r.header("range"),
                r.header("if-range")
            )
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// Runs haul with `args` (inputs first) into `out`, ranges of 1 MiB up.
fn split_run(tmp: &TempDir, input: &[&str], extra: &[&str]) -> Output {
    run_with_timeout(
        haul_in(tmp.path())
            .args(input)
            .args(["-d", "out", "--report", "-", "--retry-wait", "10ms"])
            .args(["--min-split-size", "1M"])
            .args(extra),
        Duration::from_secs(60),
    )
}

#[test]
fn a_large_file_comes_over_several_connections_byte_exact() {
    let body = pseudo_random(120, 16 * MIB);
    let (server, sent) = serve(Resource::new(body.clone()).etag("\"v1\""), drip(4));
    let tmp = TempDir::new().unwrap();
    let url = server.url("/big.bin");

    let out = split_run(&tmp, &[&url], &["--split", "4"]);

    out.assert_code(0).assert_summary(1, 0, 0);
    assert_out_holds(tmp.path(), [("big.bin", &body[..])]);
    let reqs = server.requests();
    let log = show(&reqs);
    assert_eq!(reqs[0].header("range"), None, "{log}");
    let ranges: Vec<(u64, u64)> = reqs[1..].iter().filter_map(bounded).collect();
    assert!(ranges.len() >= 3, "several range requests:\n{log}");
    assert_eq!(ranges.len(), reqs.len() - 1, "{log}");
    assert!(
        reqs[1..]
            .iter()
            .all(|r| r.header("if-range") == Some("\"v1\"")),
        "every range names the version:\n{log}"
    );
    // What the server sent adds up to the file, within a few percent (the
    // first answer runs past its range until the connection closes).
    let sent = sent.load(Relaxed);
    let size = body.len() as u64;
    assert!(
        sent >= size && sent <= size + size / 20,
        "{sent} bytes sent for {size}\n{log}"
    );
    let rec = record(&out.stdout_report(), &url).clone();
    assert_eq!(rec["connections"], 4, "{rec}");
    assert_eq!(server.max_in_flight(), 4, "{log}");
}

#[test]
fn every_connection_counts_against_jobs_and_per_host() {
    let body = pseudo_random(121, 8 * MIB);
    // Two files and -j 2: each starts on its own connection before either
    // gets a second one, and never more than two at once.
    let (server, _) = serve(Resource::new(body.clone()).etag("\"v1\""), drip(3));
    let tmp = TempDir::new().unwrap();
    let list = write_list(
        tmp.path(),
        "urls.txt",
        &[
            format!("{} out=a.bin", server.url("/big.bin")),
            format!("{} out=b.bin", server.url("/big.bin?b")),
        ],
    );
    let out = split_run(
        &tmp,
        &["-i", list.to_str().unwrap()],
        &["--split", "8", "-j", "2"],
    );
    out.assert_code(0).assert_summary(2, 0, 0);
    assert_out_holds(tmp.path(), [("a.bin", &body[..]), ("b.bin", &body[..])]);
    assert_eq!(server.max_in_flight(), 2, "{}", show(&server.requests()));
    let firsts: Vec<usize> = server
        .requests()
        .iter()
        .enumerate()
        .filter(|(_, r)| r.header("range").is_none())
        .map(|(i, _)| i)
        .collect();
    assert_eq!(firsts, [0, 1], "both files start first");

    // --per-host 3 with -j 16: three connections for the one file.
    let (server, _) = serve(Resource::new(body.clone()).etag("\"v1\""), drip(3));
    let tmp = TempDir::new().unwrap();
    let url = server.url("/big.bin");
    let out = split_run(&tmp, &[&url], &["--split", "8", "--per-host", "3"]);
    out.assert_code(0);
    assert_out_holds(tmp.path(), [("big.bin", &body[..])]);
    // haul's own count of the ranges it had in flight at once is exact. The
    // server may see one more for a moment: the first answer, read on past
    // its range until another connection takes the rest, is dropped there,
    // and the server notices the drop at its next write, after the
    // connection's next request may have arrived (seen in about one run in
    // seven, before and after the body loop moved to `fetch/body.rs`).
    assert_eq!(record(&out.stdout_report(), &url)["connections"], 3);
    let seen = server.max_in_flight();
    assert!(
        (3..=4).contains(&seen),
        "{seen} in flight at the server\n{}",
        show(&server.requests())
    );
}

#[test]
fn with_no_slot_to_spare_the_first_answer_is_read_to_its_end() {
    let body = pseudo_random(131, 8 * MIB);
    let (server, sent) = serve(Resource::new(body.clone()).etag("\"v1\""), drip(1));
    let tmp = TempDir::new().unwrap();
    let url = server.url("/big.bin");

    let out = split_run(&tmp, &[&url], &["--split", "8", "-j", "1"]);

    out.assert_code(0).assert_summary(1, 0, 0);
    assert_out_holds(tmp.path(), [("big.bin", &body[..])]);
    assert_eq!(server.hits(), 1, "{}", show(&server.requests()));
    assert_eq!(sent.load(Relaxed), body.len() as u64);
    assert_eq!(record(&out.stdout_report(), &url)["connections"], 1);
}

#[test]
fn a_cut_range_is_continued_by_range() {
    let body = pseudo_random(122, 8 * MIB);
    let resource = Resource::new(body.clone()).etag("\"v1\"");
    let cut = 300 * 1024;
    // The first range request is cut after `cut` bytes.
    let (server, _) = serve_nth(resource, move |n| {
        if n == 1 {
            Shape::CutAfter(cut)
        } else {
            drip(2)
        }
    });
    let tmp = TempDir::new().unwrap();

    let out = split_run(&tmp, &[&server.url("/big.bin")], &["--split", "4"]);

    out.assert_code(0).assert_summary(1, 0, 0);
    assert_out_holds(tmp.path(), [("big.bin", &body[..])]);
    let reqs = server.requests();
    let log = show(&reqs);
    let (first, _) = bounded(&reqs[1]).expect("a range request");
    let resumed = first + cut as u64;
    assert!(
        reqs[2..]
            .iter()
            .any(|r| bounded(r).is_some_and(|(a, _)| a == resumed)),
        "the cut range goes on from byte {resumed}:\n{log}"
    );
}

#[test]
fn a_new_version_between_ranges_starts_over_from_zero() {
    let old = pseudo_random(123, 8 * MIB);
    let new = pseudo_random(124, 8 * MIB);
    let v1 = Resource::new(old.clone()).etag("\"v1\"");
    let v2 = Resource::new(new.clone()).etag("\"v2\"");
    let server = server::http_nth(move |req, n| {
        // The first answer is v1; by the time the ranges are asked for,
        // the resource is v2 (whose If-Range check fails: a whole 200).
        let res = if n == 0 {
            v1.respond(req.headers(), drip(3))
        } else {
            v2.respond(req.headers(), Shape::Whole)
        };
        async move { res }
    });
    let tmp = TempDir::new().unwrap();

    let out = split_run(&tmp, &[&server.url("/big.bin")], &["--split", "4"]);

    out.assert_code(0).assert_summary(1, 0, 0);
    let got = tree(&tmp.path().join("out"));
    assert_eq!(got.len(), 1, "{:?}", got.keys());
    assert!(got["big.bin"] == new, "v2 whole, nothing of v1\n{out}");
    let reqs = server.requests();
    let last = reqs.last().unwrap();
    assert_eq!(last.header("range"), None, "{}", show(&reqs));
}

#[test]
fn a_server_without_ranges_gets_one_request() {
    let body = pseudo_random(125, 8 * MIB);
    let (server, sent) = serve(
        Resource::new(body.clone()).etag("\"v1\"").ignore_range(),
        Shape::Whole,
    );
    let tmp = TempDir::new().unwrap();
    let url = server.url("/big.bin");

    let out = split_run(&tmp, &[&url], &["--split", "8"]);

    out.assert_code(0);
    assert_out_holds(tmp.path(), [("big.bin", &body[..])]);
    assert_eq!(server.hits(), 1);
    assert_eq!(sent.load(Relaxed), body.len() as u64);
    assert_eq!(
        record(&out.stdout_report(), &url)["connections"],
        serde_json::Value::Null
    );
}

#[test]
fn a_server_that_offers_ranges_but_answers_whole_is_read_on_one_connection() {
    let body = pseudo_random(126, 8 * MIB);
    // Accept-Ranges and a validator, but every answer is the whole 200.
    let resource = Resource::new(body.clone()).etag("\"v1\"");
    let whole = resource.clone().ignore_range();
    let server = server::http_nth(move |req, n| {
        let res = if n == 0 {
            resource.respond(req.headers(), drip(3))
        } else {
            whole.respond(req.headers(), Shape::Whole)
        };
        async move { res }
    });
    let tmp = TempDir::new().unwrap();

    let out = split_run(&tmp, &[&server.url("/big.bin")], &["--split", "4"]);

    out.assert_code(0).assert_summary(1, 0, 0);
    assert_out_holds(tmp.path(), [("big.bin", &body[..])]);
    let reqs = server.requests();
    let from_zero = reqs.iter().filter(|r| r.header("range").is_none()).count();
    assert_eq!(
        from_zero,
        1,
        "the first answer is read to its end\n{}",
        show(&reqs)
    );
}

#[test]
fn a_digest_is_checked_over_the_whole_file() {
    let body = pseudo_random(127, 8 * MIB);
    let (server, _) = serve(Resource::new(body.clone()).etag("\"v1\""), drip(2));
    let tmp = TempDir::new().unwrap();
    let (good, bad) = (server.url("/big.bin"), server.url("/big.bin?bad"));
    let list = write_list(
        tmp.path(),
        "urls.txt",
        &[
            format!("{good} out=good.bin sha256={}", sha256_hex(&body)),
            format!("{bad} out=bad.bin sha256={}", "0".repeat(64)),
        ],
    );

    let out = split_run(&tmp, &["-i", list.to_str().unwrap()], &["--split", "4"]);

    out.assert_code(1).assert_summary(1, 0, 1);
    let report = out.stdout_report();
    assert_eq!(record(&report, &good)["sha256"], sha256_hex(&body));
    assert!(record(&report, &good)["connections"].as_u64() > Some(1));
    let got = tree(&tmp.path().join("out"));
    assert_no_final_file(&got, "bad.bin", &body);
    assert!(
        !got.contains_key("bad.bin.part"),
        "wrong bytes are not kept"
    );
    assert_eq!(got["good.bin"], body);
}

/// The complete ranges a `.part`'s note lists, in bytes.
fn noted_bytes(part: &std::path::Path) -> Option<u64> {
    let mut buf = vec![0u8; 4096];
    let file = std::fs::File::open(part).ok()?;
    let n = rustix::fs::fgetxattr(&file, "user.haul.resume", &mut buf[..]).ok()?;
    let text = String::from_utf8_lossy(&buf[..n]).into_owned();
    let ranges = text.lines().find_map(|l| l.strip_prefix("ranges "))?;
    Some(
        ranges
            .split(',')
            .filter(|r| !r.is_empty())
            .map(|r| {
                let (a, b) = r.split_once('-').unwrap();
                b.parse::<u64>().unwrap() + 1 - a.parse::<u64>().unwrap()
            })
            .sum(),
    )
}

#[test]
fn after_kill_9_a_rerun_fetches_only_the_missing_ranges() {
    let body = pseudo_random(128, 24 * MIB);
    let size = body.len() as u64;
    // About 3 MB/s per connection: four connections need some 2 s.
    let (server, sent) = serve(Resource::new(body.clone()).etag("\"v1\""), drip(20));
    let tmp = TempDir::new().unwrap();
    let url = server.url("/big.bin");
    let args = ["-d", "out", "--split", "4", "--min-split-size", "1M"];

    let running = spawn(haul_in(tmp.path()).arg(&url).args(args));
    std::thread::sleep(Duration::from_millis(1500));
    running.kill();

    let part = tmp.path().join("out/big.bin.part");
    assert!(part.exists(), "the .part is kept");
    if !require::xattrs(tmp.path(), "resuming after kill -9") {
        return;
    }
    let noted = noted_bytes(&part).expect("the .part has its note");
    assert!(
        noted >= size / 8 && noted < size,
        "{noted} of {size} bytes noted as complete"
    );
    let before = sent.load(Relaxed);

    let out = run_with_timeout(
        haul_in(tmp.path()).arg(&url).args(args),
        Duration::from_secs(60),
    );

    out.assert_code(0).assert_summary(1, 0, 0);
    assert_out_holds(tmp.path(), [("big.bin", &body[..])]);
    let again = sent.load(Relaxed) - before;
    let missing = size - noted;
    assert!(
        again >= missing && again <= missing + size / 20,
        "the rerun got {again} bytes for {missing} missing\n{}",
        show(&server.requests())
    );
}

#[test]
fn ctrl_c_keeps_every_range_for_the_rerun() {
    let body = pseudo_random(129, 24 * MIB);
    let size = body.len() as u64;
    let (server, sent) = serve(Resource::new(body.clone()).etag("\"v1\""), drip(20));
    let tmp = TempDir::new().unwrap();
    let url = server.url("/big.bin");
    let args = ["-d", "out", "--split", "4", "--min-split-size", "1M"];

    let mut running = spawn(haul_in(tmp.path()).arg(&url).args(args));
    std::thread::sleep(Duration::from_millis(800));
    running.signal(libc::SIGINT);
    let out = running.wait(Duration::from_secs(20));
    out.assert_code(130);

    let part = tmp.path().join("out/big.bin.part");
    assert!(part.exists(), "the .part is kept");
    if !require::xattrs(tmp.path(), "resuming after Ctrl-C") {
        return;
    }
    let noted = noted_bytes(&part).expect("the .part has its note");
    // Every connection notes its bytes as it stops: the note is exact.
    let on_disk: u64 = sent.load(Relaxed);
    assert!(
        noted > 0 && noted <= on_disk,
        "{noted} noted, {on_disk} sent"
    );
    let before = sent.load(Relaxed);

    let out = run_with_timeout(
        haul_in(tmp.path()).arg(&url).args(args),
        Duration::from_secs(60),
    );

    out.assert_code(0).assert_summary(1, 0, 0);
    assert_out_holds(tmp.path(), [("big.bin", &body[..])]);
    let again = sent.load(Relaxed) - before;
    let missing = size - noted;
    assert!(
        again >= missing && again <= missing + size / 20,
        "the rerun got {again} bytes for {missing} missing"
    );
}

#[test]
fn auto_adds_connections_only_where_they_pay_off() {
    // Each connection gets some 3 MB/s: more connections, more rate.
    let body = pseudo_random(130, 16 * MIB);
    let (server, _) = serve(Resource::new(body.clone()).etag("\"v1\""), drip(20));
    let tmp = TempDir::new().unwrap();
    let url = server.url("/big.bin");
    let out = split_run(&tmp, &[&url], &["--split", "auto"]);
    out.assert_code(0);
    assert_out_holds(tmp.path(), [("big.bin", &body[..])]);
    let capped = record(&out.stdout_report(), &url)["connections"].clone();
    assert!(capped.as_u64() >= Some(4), "{capped}\n{out}");

    // The whole file at once: one connection is enough.
    let (server, _) = serve(Resource::new(body.clone()).etag("\"v1\""), Shape::Whole);
    let tmp = TempDir::new().unwrap();
    let url = server.url("/big.bin");
    let out = split_run(&tmp, &[&url], &["--split", "auto"]);
    out.assert_code(0);
    assert_out_holds(tmp.path(), [("big.bin", &body[..])]);
    let whole = record(&out.stdout_report(), &url)["connections"].clone();
    assert!(whole.as_u64().is_some_and(|n| n <= 2), "{whole}");
}

#[test]
fn a_part_left_by_one_connection_is_finished_over_several() {
    let body = pseudo_random(132, 8 * MIB);
    let size = body.len() as u64;
    let resource = Resource::new(body.clone()).etag("\"v1\"");
    let cut = 3 * MIB;
    // The first run's only answer is cut after `cut` bytes.
    let (server, sent) = serve_nth(resource, move |n| {
        if n == 0 {
            Shape::CutAfter(cut)
        } else {
            drip(2)
        }
    });
    let tmp = TempDir::new().unwrap();
    let url = server.url("/big.bin");
    let first = split_run(&tmp, &[&url], &["--retries", "0"]);
    first.assert_code(1);
    let before = sent.load(Relaxed);

    let out = split_run(&tmp, &[&url], &["--split", "4"]);

    out.assert_code(0).assert_summary(1, 0, 0);
    assert_out_holds(tmp.path(), [("big.bin", &body[..])]);
    let reqs = server.requests();
    let log = show(&reqs);
    assert_eq!(reqs[1].range_start(), Some(cut as u64), "{log}");
    assert!(reqs.len() >= 3, "the rest over several connections\n{log}");
    let again = sent.load(Relaxed) - before;
    let missing = size - cut as u64;
    assert!(
        again >= missing && again <= missing + size / 20,
        "{again} bytes for {missing} missing\n{log}"
    );
}

#[test]
fn a_slow_connection_gives_up_half_its_range_to_a_free_one() {
    let body = pseudo_random(133, 4 * MIB);
    let size = body.len() as u64;
    let resource = Resource::new(body.clone()).etag("\"v1\"");
    // The first range request crawls (256 KB/s); the rest are quick.
    let (server, sent) = serve_nth(resource, |n| if n == 1 { drip(250) } else { drip(1) });
    let tmp = TempDir::new().unwrap();

    let out = split_run(
        &tmp,
        &[&server.url("/big.bin")],
        &["--split", "4", "--min-split-size", "256K"],
    );

    out.assert_code(0).assert_summary(1, 0, 0);
    assert_out_holds(tmp.path(), [("big.bin", &body[..])]);
    let reqs = server.requests();
    let log = show(&reqs);
    let (a, b) = bounded(&reqs[1]).expect("a range request");
    assert!(
        reqs[2..]
            .iter()
            .filter_map(bounded)
            .any(|(start, _)| start > a && start <= b),
        "another connection took over part of {a}-{b}:\n{log}"
    );
    let sent = sent.load(Relaxed);
    assert!(
        sent <= size + size / 20,
        "{sent} bytes sent for {size}\n{log}"
    );
}

#[test]
fn a_new_version_stops_a_stalled_connection_at_once() {
    let old = pseudo_random(134, 8 * MIB);
    let new = pseudo_random(135, 8 * MIB);
    let v1 = Resource::new(old).etag("\"v1\"");
    let v2 = Resource::new(new.clone()).etag("\"v2\"");
    let server = server::http_nth(move |req, n| {
        // The first range stalls (for longer than the test may take); the
        // second finds v2; haul must not wait for the stalled one.
        let res = match n {
            0 => v1.respond(req.headers(), drip(5)),
            1 => v1.respond(
                req.headers(),
                Shape::StallAfter(64 * 1024, Duration::from_secs(60)),
            ),
            _ => v2.respond(req.headers(), Shape::Whole),
        };
        async move { res }
    })
    .any_hits();
    let tmp = TempDir::new().unwrap();
    let started = std::time::Instant::now();

    let out = split_run(&tmp, &[&server.url("/big.bin")], &["--split", "4"]);

    out.assert_code(0).assert_summary(1, 0, 0);
    assert_out_holds(tmp.path(), [("big.bin", &new[..])]);
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "waited {:?} for a stalled connection (--stall-timeout is 30s)",
        started.elapsed()
    );
}

#[test]
fn a_cut_first_answer_goes_on_by_range_within_the_attempt() {
    let body = pseudo_random(136, 8 * MIB);
    let resource = Resource::new(body.clone()).etag("\"v1\"");
    let cut = 300 * 1024;
    let (server, _) = serve_nth(resource, move |n| {
        if n == 0 {
            Shape::CutAfter(cut)
        } else {
            drip(2)
        }
    });
    let tmp = TempDir::new().unwrap();
    let url = server.url("/big.bin");

    let out = split_run(&tmp, &[&url], &["--split", "4"]);

    out.assert_code(0).assert_summary(1, 0, 0);
    assert_out_holds(tmp.path(), [("big.bin", &body[..])]);
    let reqs = server.requests();
    assert!(
        reqs.iter().any(|r| r.range_start() == Some(cut as u64)),
        "the cut range goes on from byte {cut}:\n{}",
        show(&reqs)
    );
    assert_eq!(
        record(&out.stdout_report(), &url)["attempts"],
        1,
        "no retry needed"
    );
}

#[test]
fn extra_connections_keep_to_rate() {
    let body = pseudo_random(137, 8 * MIB);
    // Some 0.7 s a range: the fourth starts while the first still runs.
    let (server, _) = serve(Resource::new(body.clone()).etag("\"v1\""), drip(20));
    let tmp = TempDir::new().unwrap();
    let url = server.url("/big.bin");

    let out = split_run(&tmp, &[&url], &["--split", "4", "--rate", "10"]);

    out.assert_code(0);
    assert_out_holds(tmp.path(), [("big.bin", &body[..])]);
    let reqs = server.requests();
    let log = show(&reqs);
    // They do start (waiting for the host's next turn, not for an
    // unrelated event), one every 100 ms at most.
    assert_eq!(
        record(&out.stdout_report(), &url)["connections"],
        4,
        "{log}"
    );
    for pair in reqs.windows(2) {
        let gap = pair[1].at.saturating_duration_since(pair[0].at);
        assert!(gap >= Duration::from_millis(90), "{gap:?} apart\n{log}");
    }
}

/// A split download whose attempt fails is retried in the same run from its
/// `.part`, which the download locks (one owner across processes): the
/// retry must find the file free, although the runner may still hold the
/// failed attempt's split (here, while other files keep the queue busy).
/// The shared descriptor is closed when the attempt ends, so only the one
/// handed back holds the lock, and it is dropped with the attempt.
#[test]
fn a_failed_split_attempt_leaves_its_part_free_for_the_retry() {
    use std::sync::atomic::AtomicUsize;
    let body = pseudo_random(131, 4 * MIB);
    let resource = Resource::new(body.clone()).etag("\"v1\"");
    let small = b"small file".to_vec();
    let nth = Arc::new(AtomicUsize::new(0));
    let server = server::http(move |req| {
        let res = if req.uri().path() == "/big.bin" {
            // The first answer is cut after 1 MiB, the next three at once
            // (no progress: the attempt fails), then all is well.
            let shape = match nth.fetch_add(1, Relaxed) {
                0 => Shape::CutAfter(MIB),
                1..=3 => Shape::CutAfter(0),
                _ => drip(1),
            };
            resource.respond(req.headers(), shape)
        } else {
            server::ok(small.clone())
        };
        async move {
            if req.uri().path() != "/big.bin" {
                tokio::time::sleep(Duration::from_millis(150)).await;
            }
            res
        }
    })
    .any_hits();
    let tmp = TempDir::new().unwrap();
    let big = server.url("/big.bin");
    let mut lines = vec![big.clone()];
    lines.extend((0..40).map(|i| server.url(&format!("/s{i}"))));
    write_list(tmp.path(), "urls.txt", &lines);

    let out = split_run(
        &tmp,
        &["-i", "urls.txt"],
        &["--split", "2", "-j", "3", "--retries", "5"],
    );

    let rec = record(&out.stdout_report(), &big).clone();
    assert_eq!(rec["status"], "ok", "{rec}\n{out}");
    assert!(
        !out.stderr.contains("in use by another haul"),
        "the retry found its own .part held:\n{out}"
    );
    out.assert_code(0);
    let got = std::fs::read(tmp.path().join("out/big.bin")).unwrap();
    assert!(
        got == body,
        "big.bin is not the resource ({} bytes)",
        got.len()
    );
    let resumed = server
        .requests_for("/big.bin")
        .iter()
        .skip(1)
        .any(|r| r.range_start().is_some_and(|start| start >= MIB as u64));
    assert!(resumed, "the retry continued the .part\n{out}");
}
