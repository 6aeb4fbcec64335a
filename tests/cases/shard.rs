//! `--shard K/N` over one input made of a glob argument, a list file and
//! standard input, with repeated URLs and a bad line: the shards' downloads
//! together are every distinct URL exactly once (a repeat is fetched by the
//! shard of its first position), and every shard reports the bad line.
//!
//! Not here: positions in general (http.rs `shard_takes_every_nth_position`).

use std::collections::BTreeMap;

use tempfile::TempDir;

use crate::support::server;
use crate::support::{haul_in, run_with_stdin, write_list};

#[test]
fn shards_of_one_input_fetch_every_url_exactly_once() {
    let files: Vec<(String, Vec<u8>)> = (1..=9)
        .map(|i| (format!("/f{i}"), format!("file {i}").into_bytes()))
        .collect();
    let server = server::files(files.clone());
    let tmp = TempDir::new().unwrap();
    let url = |i: u32| server.url(&format!("/f{i}"));
    // Positions: f1..f4 (the glob), then the list: f3 again, f5, a bad
    // line (no position), f6, f1 again; then stdin: f7, f5 again, f8.
    write_list(
        tmp.path(),
        "urls.txt",
        &[
            url(3),
            url(5),
            "ftp://example.invalid/f0".into(),
            url(6),
            url(1),
        ],
    );
    let stdin = format!("{}\n{}\n{}\n", url(7), url(5), url(8));

    let shards = 3;
    let mut fetched: BTreeMap<String, Vec<u32>> = BTreeMap::new();
    for k in 1..=shards {
        let out = run_with_stdin(
            haul_in(tmp.path()).args([
                &server.url("/f[1-4]"),
                "-i",
                "urls.txt",
                "-i",
                "-",
                "--shard",
                &format!("{k}/{shards}"),
                "-d",
                &format!("out{k}"),
                "--report",
                "-",
            ]),
            stdin.as_bytes(),
        );
        // Every shard reports the bad line, so each exit code shows it.
        out.assert_code(1);
        out.assert_failure("urls.txt:3", &["unsupported scheme"]);
        for rec in out.stdout_report() {
            if rec["status"] == "ok" {
                let url = rec["url"].as_str().unwrap().to_string();
                fetched.entry(url).or_default().push(k);
            }
        }
    }

    let want: Vec<String> = (1..=8).map(url).collect();
    assert_eq!(
        fetched.keys().cloned().collect::<Vec<_>>(),
        {
            let mut w = want.clone();
            w.sort();
            w
        },
        "the union is every distinct URL"
    );
    for (url, by) in &fetched {
        assert_eq!(by.len(), 1, "{url} fetched by shards {by:?}");
    }
    for i in 1..=8 {
        assert_eq!(server.hits_for(&format!("/f{i}")), 1, "f{i}");
    }
    assert_eq!(server.hits_for("/f9"), 0);
}
