//! Two downloads never share a file (issue 8, items 1 and 2): a destination
//! is never another download's `.part`, names a server suggests under
//! `--content-disposition` are claimed like any other (first come, first
//! served, before a byte is written), and haul's own files under `-d` are
//! never replaced.
//!
//! Not here: collisions between names from URLs and templates alone
//! (naming.rs), and the random batches of colliding names (properties.rs).

use std::time::Duration;

use hyper::StatusCode;
use tempfile::TempDir;

use crate::support::server::{self, drip, ok, status, with_header};
use crate::support::{
    assert_tree_eq, expected, haul_in, parse_json_lines, pseudo_random, run, sha256_hex, tree,
    write_list,
};

/// `x` (slow, with a digest) and `x.part` in one run: whichever comes first
/// keeps its name, the other fails, and no file holds another's bytes.
#[test]
fn a_destination_is_never_another_downloads_temp_file() {
    let x = pseudo_random(1, 64 * 1024);
    let x_part = b"the bytes of x.part".to_vec();
    let server = {
        let (x, x_part) = (x.clone(), x_part.clone());
        server::http(move |req| {
            let res = match req.uri().path() {
                "/x" => drip(x.clone(), 16 * 1024, Duration::from_millis(50)),
                "/x.part" => ok(x_part.clone()),
                _ => status(StatusCode::NOT_FOUND),
            };
            async move { res }
        })
    };
    let tmp = TempDir::new().unwrap();
    write_list(
        tmp.path(),
        "urls.txt",
        &[
            server.url("/x.part"),
            format!("{} sha256={}", server.url("/x"), sha256_hex(&x)),
        ],
    );

    let out = run(haul_in(tmp.path()).args(["-i", "urls.txt", "-d", "pc", "-j2"]));

    out.assert_code(1).assert_summary(1, 0, 1);
    out.assert_failure(&server.url("/x"), &["pc/x.part"]);
    assert_tree_eq(
        &tree(&tmp.path().join("pc")),
        &expected([("x.part", &x_part[..])]),
    );
    assert_eq!(server.hits_for("/x"), 0, "refused before any request");
}

/// The same through `out=` fields and through `-o` templates, in both orders.
#[test]
fn temp_names_collide_through_out_fields_and_templates() {
    let server = server::files([("/a", b"A".to_vec()), ("/b", b"B".to_vec())]).any_hits();
    for (first, second, kept) in [("f", "f.part", "f"), ("g.part", "g", "g.part")] {
        let tmp = TempDir::new().unwrap();
        write_list(
            tmp.path(),
            "urls.txt",
            &[
                format!("{} out={first}", server.url("/a")),
                format!("{} out={second}", server.url("/b")),
            ],
        );
        let out = run(haul_in(tmp.path()).args(["-i", "urls.txt", "-d", "out"]));
        out.assert_code(1).assert_summary(1, 0, 1);
        out.assert_failure(&server.url("/b"), &[&format!("out/{second}")]);
        assert_tree_eq(
            &tree(&tmp.path().join("out")),
            &expected([(kept, &b"A"[..])]),
        );
    }

    // A template whose glob values end in `.part`.
    let tmp = TempDir::new().unwrap();
    let out =
        run(haul_in(tmp.path()).args([&server.url("/{a,b}?{x,x.part}"), "-o", "{2}", "-d", "o2"]));
    out.assert_code(1).assert_summary(1, 0, 3);
    assert_tree_eq(&tree(&tmp.path().join("o2")), &expected([("x", &b"A"[..])]));
}

/// A server that names every file `r.bin`: exactly one URL gets the name,
/// whichever answers first; the others fail and nothing is overwritten.
#[test]
fn a_server_suggested_name_is_claimed_once() {
    let server = server::http(|req| {
        let body = format!("body of {}", req.uri().path()).into_bytes();
        let res = with_header(
            drip(body, 4, Duration::from_millis(30)),
            "content-disposition",
            "attachment; filename=\"r.bin\"",
        );
        async move { res }
    });
    let tmp = TempDir::new().unwrap();
    let urls: Vec<String> = ["/a", "/b", "/c"].iter().map(|p| server.url(p)).collect();

    let out = run(haul_in(tmp.path()).args(&urls).args([
        "--content-disposition",
        "-j3",
        "-d",
        "out",
        "--report",
        "-",
    ]));

    out.assert_code(1).assert_summary(1, 0, 2);
    let records = out.stdout_report();
    let winners: Vec<_> = records.iter().filter(|r| r["status"] == "ok").collect();
    assert_eq!(winners.len(), 1, "{out}");
    let winner = winners[0]["url"].as_str().unwrap();
    let path = winner.rsplit('/').next().unwrap();
    let want = format!("body of /{path}");
    assert_tree_eq(
        &tree(&tmp.path().join("out")),
        &expected([("r.bin", want.as_bytes())]),
    );
    for failed in records.iter().filter(|r| r["status"] == "failed") {
        let error = failed["error"].as_str().unwrap();
        assert!(error.contains("already taken"), "{failed}");
        // Reported under the name the server gave, not the URL's.
        assert_eq!(failed["path"], "out/r.bin", "{failed}");
    }
}

/// The flag's main use: one endpoint, many files, each named by the server.
/// The URL's own name (`dl`) is only provisional and collides with nothing.
#[test]
fn server_named_files_from_one_endpoint_are_all_saved() {
    let server = server::http(|req| {
        let id = req.uri().query().unwrap_or_default().replace("id=", "");
        let res = with_header(
            ok(format!("report {id}")),
            "content-disposition",
            &format!("attachment; filename=\"report-{id}.csv\""),
        );
        async move { res }
    });
    let tmp = TempDir::new().unwrap();

    let out = run(haul_in(tmp.path()).args([
        &server.url("/dl?id=[1-3]"),
        "--content-disposition",
        "-d",
        "out",
    ]));

    out.assert_code(0).assert_summary(3, 0, 0);
    assert_tree_eq(
        &tree(&tmp.path().join("out")),
        &expected([
            ("report-1.csv", &b"report 1"[..]),
            ("report-2.csv", b"report 2"),
            ("report-3.csv", b"report 3"),
        ]),
    );
}

/// A hostile `filename="trusted.bin.part"` cannot slip its bytes under
/// another URL's digest: one of the two keeps its name, the other fails.
#[test]
fn a_suggested_name_cannot_be_another_downloads_temp_file() {
    let trusted = pseudo_random(2, 48 * 1024);
    let evil = b"evil bytes".to_vec();
    let server = {
        let (trusted, evil) = (trusted.clone(), evil.clone());
        server::http(move |req| {
            let res = match req.uri().path() {
                "/trusted.bin" => drip(trusted.clone(), 8 * 1024, Duration::from_millis(40)),
                _ => with_header(
                    drip(evil.clone(), 2, Duration::from_millis(40)),
                    "content-disposition",
                    "attachment; filename=\"trusted.bin.part\"",
                ),
            };
            async move { res }
        })
    };
    let tmp = TempDir::new().unwrap();
    write_list(
        tmp.path(),
        "urls.txt",
        &[
            format!(
                "{} sha256={}",
                server.url("/trusted.bin"),
                sha256_hex(&trusted)
            ),
            server.url("/evil"),
        ],
    );

    let out = run(haul_in(tmp.path()).args([
        "-i",
        "urls.txt",
        "--content-disposition",
        "-j2",
        "-d",
        "out",
    ]));

    out.assert_code(1).assert_summary(1, 0, 1);
    let got = tree(&tmp.path().join("out"));
    let only_trusted = expected([("trusted.bin", &trusted[..])]);
    let only_evil = expected([("trusted.bin.part", &evil[..])]);
    assert!(got == only_trusted || got == only_evil, "{got:?}\n{out}");
}

/// haul's own files under `-d` are claimed first: not even `--on-exists
/// overwrite` lets a download replace the report or a list being read.
#[test]
fn hauls_own_files_are_never_replaced() {
    let server = server::files([
        ("/report.jsonl", b"not a report".to_vec()),
        ("/urls.txt", b"not a list".to_vec()),
        ("/fine.txt", b"fine".to_vec()),
    ])
    .any_hits();
    let tmp = TempDir::new().unwrap();
    std::fs::create_dir(tmp.path().join("out")).unwrap();
    let lines = [server.url("/urls.txt"), server.url("/fine.txt")];
    let list = write_list(&tmp.path().join("out"), "urls.txt", &lines);
    let list_bytes = std::fs::read(&list).unwrap();

    let out = run(haul_in(tmp.path()).args([
        &server.url("/report.jsonl"),
        "-i",
        "out/urls.txt",
        "--report",
        "out/report.jsonl",
        "--on-exists",
        "overwrite",
        "-d",
        "out",
    ]));

    out.assert_code(1).assert_summary(1, 0, 2);
    out.assert_failure(&server.url("/report.jsonl"), &["--report"]);
    out.assert_failure(&server.url("/urls.txt"), &["-i"]);
    assert_eq!(std::fs::read(&list).unwrap(), list_bytes);
    let report = std::fs::read_to_string(tmp.path().join("out/report.jsonl")).unwrap();
    let records = parse_json_lines(&report);
    assert_eq!(records.len(), 3, "{report}");
    assert_eq!(server.hits_for("/report.jsonl"), 0);
    assert_eq!(
        std::fs::read(tmp.path().join("out/fine.txt")).unwrap(),
        b"fine"
    );
}

/// haul never writes over a file it reads: a `--report` or `--state` that
/// is (by any spelling or symlink) an `-i` list or a `--checksums` file is
/// a usage error before anything is read, written or fetched; the list
/// keeps its bytes.
#[test]
fn an_output_that_is_an_input_is_refused_and_the_input_kept() {
    let server = server::files([("/a", b"a".to_vec())]).expect_no_hits();
    let tmp = TempDir::new().unwrap();
    let list = write_list(tmp.path(), "urls.txt", &[server.url("/a")]);
    let sums = tmp.path().join("SUMS");
    std::fs::write(&sums, format!("{}  a\n", sha256_hex(b"a"))).unwrap();
    std::os::unix::fs::symlink("urls.txt", tmp.path().join("link")).unwrap();
    let before = std::fs::read(&list).unwrap();
    for args in [
        &["-i", "urls.txt", "--report", "urls.txt"][..],
        &["-i", "urls.txt", "--report", "./link"],
        &["-i", "link", "--state", "urls.txt"],
        &["-i", "urls.txt", "--checksums", "SUMS", "--report", "SUMS"],
    ] {
        let out = run(haul_in(tmp.path()).args(args).args(["-d", "out"]));
        out.assert_code(2);
        assert!(
            out.stderr.contains("haul would write over what it reads"),
            "{args:?}\n{out}"
        );
        assert_eq!(std::fs::read(&list).unwrap(), before, "{args:?}");
        assert_eq!(std::fs::read(&sums).unwrap().len(), 68, "{args:?}");
        assert!(!tmp.path().join("out").exists(), "{args:?}");
    }
}
