//! A list line with several URLs for one file (mirrors): the first is
//! asked first, a failure of the server's moves on to the next at once
//! (no retry spent), bytes that do not match the digest are never saved
//! from any of them, `--split` draws ranges from several only with the
//! digest known or the version proven, credentials stay on their host, and
//! the report's `served_by` says where the bytes came from.

use hyper::StatusCode;
use tempfile::TempDir;

use crate::support::server::{self, Resource, Shape, status};
use crate::support::{
    Output, assert_out_holds, haul_in, pseudo_random, record, run, sha256_hex, tree, write_list,
};

const FAST: [&str; 2] = ["--retry-wait", "10ms"];

/// Runs haul on a list of `lines` into `out/`, the report on stdout.
fn fetch(tmp: &TempDir, lines: &[String], extra: &[&str]) -> Output {
    let list = write_list(tmp.path(), "urls.txt", lines);
    run(haul_in(tmp.path())
        .arg("-i")
        .arg(&list)
        .args(["-d", "out", "--report", "-"])
        .args(FAST)
        .args(extra))
}

/// A server that answers every request with `code`.
fn failing(code: StatusCode) -> server::Server {
    server::http(move |_req| async move { status(code) })
}

#[test]
fn a_failed_first_url_moves_on_at_once_without_spending_a_retry() {
    let body = pseudo_random(1, 50_000);
    for code in [StatusCode::NOT_FOUND, StatusCode::SERVICE_UNAVAILABLE] {
        let first = failing(code);
        let second = server::files([("/f.bin", body.clone())]);
        let tmp = TempDir::new().unwrap();
        let line = format!("{} {}", first.url("/f.bin"), second.url("/f.bin"));
        let out = fetch(&tmp, &[line], &["--retries", "0"]);
        out.assert_code(0).assert_summary(1, 0, 0);
        assert_out_holds(tmp.path(), [("f.bin", &body[..])]);
        assert_eq!(first.hits(), 1, "{code}");
        assert_eq!(second.hits(), 1, "{code}");
        // Known by the line's first URL; served by the second.
        let report = out.stdout_report();
        let rec = record(&report, &first.url("/f.bin"));
        assert_eq!(rec["status"], "ok");
        assert_eq!(rec["attempts"], 2);
        assert_eq!(rec["served_by"], serde_json::json!([second.url("/f.bin")]));
    }
}

#[test]
fn an_unreachable_mirror_is_passed_over() {
    let body = pseudo_random(2, 10_000);
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let dead = format!("http://{}/f.bin", closed.local_addr().unwrap());
    drop(closed);
    let good = server::files([("/f.bin", body.clone())]);
    let tmp = TempDir::new().unwrap();
    let out = fetch(
        &tmp,
        &[format!("{dead} {}", good.url("/f.bin"))],
        &["--retries", "0"],
    );
    out.assert_code(0).assert_summary(1, 0, 0);
    assert_out_holds(tmp.path(), [("f.bin", &body[..])]);
}

#[test]
fn wrong_bytes_from_a_mirror_are_never_saved_and_the_next_one_serves() {
    let body = pseudo_random(3, 40_000);
    let other = pseudo_random(4, 40_000);
    let liar = server::files([("/f.bin", other.clone())]);
    let good = server::files([("/f.bin", body.clone())]);
    let tmp = TempDir::new().unwrap();
    let line = format!(
        "{} {} sha256={}",
        liar.url("/f.bin"),
        good.url("/f.bin"),
        sha256_hex(&body)
    );
    let out = fetch(&tmp, &[line], &[]);
    out.assert_code(0).assert_summary(1, 0, 0);
    assert_out_holds(tmp.path(), [("f.bin", &body[..])]);
    assert_eq!(liar.hits(), 1);
    let report = out.stdout_report();
    let rec = record(&report, &liar.url("/f.bin"));
    assert_eq!(rec["served_by"], serde_json::json!([good.url("/f.bin")]));
    assert_eq!(rec["digest_source"], "list");

    // Every mirror lying: the file fails, nothing is under its name, and
    // the last mirror is named.
    let liar2 = server::files([("/f.bin", other.clone())]);
    let tmp = TempDir::new().unwrap();
    let line = format!(
        "{} {} sha256={}",
        liar.url("/f.bin"),
        liar2.url("/f.bin"),
        sha256_hex(&body)
    );
    let out = fetch(&tmp, &[line], &["--retries", "0"]);
    out.assert_code(1).assert_summary(0, 0, 1);
    out.assert_failure(
        &liar.url("/f.bin"),
        &[&liar2.url("/f.bin"), "sha256 mismatch", "2 URLs"],
    );
    assert!(
        tree(tmp.path()).keys().all(|k| !k.starts_with("out/")),
        "{:?}",
        tree(tmp.path()).keys()
    );
    // One round, and the one retry a mismatch earns: a second round.
    assert_eq!(liar2.hits(), 2);
}

#[test]
fn every_url_failing_fails_the_file_naming_the_last() {
    let a = failing(StatusCode::NOT_FOUND);
    let b = failing(StatusCode::GONE);
    let tmp = TempDir::new().unwrap();
    let out = fetch(&tmp, &[format!("{} {}", a.url("/f"), b.url("/f"))], &[]);
    out.assert_code(1).assert_summary(0, 0, 1);
    out.assert_failure(&a.url("/f"), &[&b.url("/f"), "410"]);
    // Neither failure is transient: one round only, whatever --retries.
    assert_eq!((a.hits(), b.hits()), (1, 1));
    let report = out.stdout_report();
    let rec = record(&report, &a.url("/f"));
    assert_eq!(rec["http_status"], 410);
    assert!(rec.get("served_by").is_none(), "{rec}");
}

#[test]
fn a_round_with_a_transient_failure_is_retried_from_the_first_url() {
    let body = pseudo_random(5, 5_000);
    // The first is busy once, the second never has the file.
    let first = server::http_nth({
        let body = body.clone();
        move |_req, n| {
            let res = match n {
                0 => status(StatusCode::SERVICE_UNAVAILABLE),
                _ => server::ok(body.clone()),
            };
            async move { res }
        }
    });
    let second = failing(StatusCode::NOT_FOUND);
    let tmp = TempDir::new().unwrap();
    let line = format!("{} {}", first.url("/f"), second.url("/f"));
    let out = fetch(&tmp, std::slice::from_ref(&line), &["--retries", "1"]);
    out.assert_code(0).assert_summary(1, 0, 0);
    assert_out_holds(tmp.path(), [("f", &body[..])]);
    assert_eq!((first.hits(), second.hits()), (2, 1));

    // Without a retry left, the round is the last.
    let first = failing(StatusCode::SERVICE_UNAVAILABLE);
    let tmp = TempDir::new().unwrap();
    let line = format!("{} {}", first.url("/f"), second.url("/f"));
    let out = fetch(&tmp, &[line], &["--retries", "0"]);
    out.assert_code(1);
    assert_eq!(first.hits(), 1);
}

#[test]
fn a_scoped_header_goes_to_its_host_only_on_every_mirror() {
    let body = pseudo_random(6, 1_000);
    let first = failing(StatusCode::INTERNAL_SERVER_ERROR);
    let second = server::files([("/f", body.clone())]);
    let tmp = TempDir::new().unwrap();
    let line = format!("{} {}", first.url("/f"), second.url("/f"));
    let scoped = first.authority();
    let out = fetch(
        &tmp,
        &[line],
        &[
            "--retries",
            "0",
            "--host-header",
            &scoped,
            "Authorization: Bearer s3cret",
        ],
    );
    out.assert_code(0);
    let sent = |s: &server::Server| {
        s.requests()
            .iter()
            .map(|r| r.header("authorization").map(str::to_string))
            .collect::<Vec<_>>()
    };
    assert_eq!(sent(&first), [Some("Bearer s3cret".to_string())]);
    assert_eq!(sent(&second), [None]);
}

#[test]
fn split_draws_ranges_from_two_mirrors_when_the_digest_is_known() {
    let body = pseudo_random(7, 4 << 20);
    // Each mirror has its own validator: only the digest vouches for both.
    let a = Resource::new(body.clone()).etag("\"a\"");
    let b = Resource::new(body.clone()).etag("\"b\"");
    let serve = |r: Resource| {
        server::http(move |req| {
            let res = r.respond(req.headers(), Shape::Whole);
            async move { res }
        })
    };
    let (sa, sb) = (serve(a.clone()), serve(b.clone()));
    let tmp = TempDir::new().unwrap();
    let line = format!(
        "{} {} sha256={}",
        sa.url("/f"),
        sb.url("/f"),
        sha256_hex(&body)
    );
    let split = ["--split", "4", "--min-split-size", "256K"];
    let out = fetch(&tmp, &[line], &split);
    out.assert_code(0).assert_summary(1, 0, 0);
    assert_out_holds(tmp.path(), [("f", &body[..])]);
    let ranged = |s: &server::Server| {
        s.requests()
            .iter()
            .filter(|r| r.header("range").is_some())
            .count()
    };
    assert!(ranged(&sb) > 0, "the second mirror sent no range");
    assert!(
        sb.requests().iter().all(|r| r.header("if-range").is_none()),
        "a mirror's range was asked with the first one's validator"
    );
    let report = out.stdout_report();
    let rec = record(&report, &sa.url("/f"));
    assert_eq!(
        rec["served_by"],
        serde_json::json!([sa.url("/f"), sb.url("/f")])
    );

    // No digest and another validator: the second mirror proves nothing,
    // sends no byte of the file, and the first serves it all.
    let (sa, sb) = (serve(a), serve(b));
    let tmp = TempDir::new().unwrap();
    let line = format!("{} {}", sa.url("/f"), sb.url("/f"));
    let out = fetch(&tmp, &[line], &split);
    out.assert_code(0).assert_summary(1, 0, 0);
    assert_out_holds(tmp.path(), [("f", &body[..])]);
    assert!(sb.hits() > 0, "the second mirror was never asked");
    assert!(
        sb.requests()
            .iter()
            .all(|r| r.header("if-range") == Some("\"a\"")),
        "a mirror's range without the version to prove"
    );
    let report = out.stdout_report();
    let rec = record(&report, &sa.url("/f"));
    assert_eq!(rec["served_by"], serde_json::json!([sa.url("/f")]));
}

#[test]
fn split_over_mirrors_with_the_same_validator_needs_no_digest() {
    let body = pseudo_random(8, 4 << 20);
    let r = Resource::new(body.clone()).etag("\"same\"");
    let serve = |r: Resource| {
        server::http(move |req| {
            let res = r.respond(req.headers(), Shape::Whole);
            async move { res }
        })
    };
    let (sa, sb) = (serve(r.clone()), serve(r));
    let tmp = TempDir::new().unwrap();
    let line = format!("{} {}", sa.url("/f"), sb.url("/f"));
    let out = fetch(&tmp, &[line], &["--split", "4", "--min-split-size", "256K"]);
    out.assert_code(0).assert_summary(1, 0, 0);
    assert_out_holds(tmp.path(), [("f", &body[..])]);
    let report = out.stdout_report();
    let rec = record(&report, &sa.url("/f"));
    assert_eq!(
        rec["served_by"],
        serde_json::json!([sa.url("/f"), sb.url("/f")])
    );
}

#[test]
fn a_part_left_by_one_mirror_is_not_continued_from_another() {
    let body = pseudo_random(9, 200_000);
    let other = pseudo_random(10, 200_000);
    // The second mirror cuts its answer: its .part is kept for later.
    let second = server::http({
        let r = Resource::new(other).etag("\"x\"");
        move |req| {
            let res = r.respond(req.headers(), Shape::CutAfter(50_000));
            async move { res }
        }
    });
    let first = failing(StatusCode::NOT_FOUND);
    let tmp = TempDir::new().unwrap();
    let line = format!("{} {}", first.url("/f"), second.url("/f"));
    let out = fetch(&tmp, &[line], &["--retries", "0"]);
    out.assert_code(1);
    assert!(tree(tmp.path()).contains_key("out/f.part"));
    // The next run finds the first mirror well: the second's bytes must not
    // be the start of its file.
    let fixed = server::http({
        let r = Resource::new(body.clone()).etag("\"x\"").ignore_if_range();
        move |req| {
            let res = r.respond(req.headers(), Shape::Whole);
            async move { res }
        }
    });
    let line = format!("{} {}", fixed.url("/f"), second.url("/f"));
    let out = fetch(&tmp, &[line], &["--retries", "0"]);
    out.assert_code(0).assert_summary(1, 0, 0);
    assert_out_holds(tmp.path(), [("f", &body[..])]);
    assert!(fixed.requests().iter().all(|r| r.header("range").is_none()));
}

#[test]
fn bad_mirror_lines_are_refused_naming_the_line() {
    let s = server::files([("/a", b"a".to_vec())]).expect_no_hits();
    let cases = [
        (
            format!("{} out=x {}", s.url("/a"), s.url("/b")),
            "after a key=value field",
        ),
        (
            format!("{} ftp://h/a", s.url("/a")),
            "unsupported scheme 'ftp'",
        ),
        (
            format!("{} {}", s.url("/[1-2]"), s.url("/b")),
            "glob pattern",
        ),
        (
            format!("{} {}", s.url("/a"), s.url("/[1-2]")),
            "glob pattern",
        ),
    ];
    for (line, culprit) in cases {
        let tmp = TempDir::new().unwrap();
        let out = fetch(&tmp, std::slice::from_ref(&line), &[]);
        out.assert_code(1);
        assert!(
            out.stderr.contains("urls.txt:1") && out.stderr.contains(culprit),
            "{line}: {}",
            out.stderr
        );
    }
}

#[test]
fn a_dry_run_names_the_first_url() {
    let a = failing(StatusCode::NOT_FOUND).expect_no_hits();
    let b = failing(StatusCode::NOT_FOUND).expect_no_hits();
    let tmp = TempDir::new().unwrap();
    let list = write_list(
        tmp.path(),
        "urls.txt",
        &[format!("{} {}", a.url("/f"), b.url("/f"))],
    );
    let out = run(haul_in(tmp.path()).arg("-i").arg(&list).arg("--dry-run"));
    out.assert_code(0);
    assert!(out.stdout.contains(&a.url("/f")), "{}", out.stdout);
}

#[test]
fn a_mirrors_password_is_sent_to_it_and_masked_everywhere() {
    let body = pseudo_random(11, 1_000);
    let first = failing(StatusCode::BAD_GATEWAY);
    let second = server::files([("/f", body.clone())]);
    let tmp = TempDir::new().unwrap();
    let with_password = second.url("/f").replace("://", "://ann:pw-Zq81@");
    let line = format!("{} {with_password}", first.url("/f"));
    let out = fetch(&tmp, &[line], &["--retries", "0", "-vv"]);
    out.assert_code(0);
    assert_out_holds(tmp.path(), [("f", &body[..])]);
    assert_eq!(
        second.requests()[0].header("authorization"),
        Some("Basic YW5uOnB3LVpxODE=")
    );
    assert!(first.requests()[0].header("authorization").is_none());
    for text in [&out.stdout, &out.stderr] {
        assert!(!text.contains("pw-Zq81"), "{text}");
    }
    let report = out.stdout_report();
    let rec = record(&report, &first.url("/f"));
    let served = rec["served_by"][0].as_str().unwrap();
    assert!(served.contains("ann:***@"), "{served}");
}
