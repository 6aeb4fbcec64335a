//! Inputs: positional URLs, `-i FILE`, `-i -` and `-` (stdin), list syntax
//! (comments, blank lines, CRLF, `out=` and unknown fields), bad lines, and
//! de-duplication of repeated URLs.
//!
//! Not here: how names are derived (template.rs, naming.rs) or HTTP failures
//! (errors.rs).

use tempfile::TempDir;

use crate::support::server::Server;
use crate::support::{
    Output, assert_out_holds, assert_tree_eq, haul_in, pseudo_random, run, run_list_in,
    run_with_stdin, server, tree, write_list,
};

#[test]
fn fifty_files_from_a_list_arrive_byte_for_byte() {
    let files: Vec<(String, Vec<u8>)> = (1..=50)
        .map(|i| {
            // Distinct sizes and contents; one larger file so bodies span many reads.
            let len = if i == 50 { 3 << 20 } else { i * 997 };
            (
                format!("/data/file{i:02}.bin"),
                pseudo_random(i as u64, len),
            )
        })
        .collect();
    let server = server::files(files.clone());
    let tmp = TempDir::new().unwrap();
    let lines: Vec<String> = files.iter().map(|(p, _)| server.url(p)).collect();
    write_list(tmp.path(), "urls.txt", &lines);

    let out = run_list_in(tmp.path());

    out.assert_code(0)
        .assert_stdout_empty()
        .assert_summary(50, 0, 0);
    let want = files
        .iter()
        .map(|(p, b)| (p.rsplit('/').next().unwrap().to_string(), b.clone()))
        .collect();
    assert_tree_eq(&tree(&tmp.path().join("out")), &want);
    assert_eq!(server.hits(), 50);
}

/// Serves `/a.txt` and `/b.txt` and runs haul with `args`, its stdin a list
/// of both URLs.
fn haul_a_and_b_listed_on_stdin(args: &[&str]) -> (Server, TempDir, Output) {
    let server = server::files([("/a.txt", b"alpha".to_vec()), ("/b.txt", b"beta".to_vec())]);
    let tmp = TempDir::new().unwrap();
    let list = format!("{}\n{}\n", server.url("/a.txt"), server.url("/b.txt"));
    let out = run_with_stdin(haul_in(tmp.path()).args(args), list.as_bytes());
    (server, tmp, out)
}

#[test]
fn list_from_stdin_with_dash_i() {
    let (server, tmp, out) = haul_a_and_b_listed_on_stdin(&["-i", "-", "-d", "out"]);

    out.assert_code(0).assert_stdout_empty();
    assert_out_holds(tmp.path(), [("a.txt", &b"alpha"[..]), ("b.txt", b"beta")]);
    assert_eq!(server.hits(), 2);
}

#[test]
fn list_from_stdin_with_dash_argument() {
    let (server, tmp, out) = haul_a_and_b_listed_on_stdin(&["-d", "out", "-"]);

    out.assert_code(0).assert_stdout_empty();
    assert_out_holds(tmp.path(), [("a.txt", &b"alpha"[..]), ("b.txt", b"beta")]);
    assert_eq!(server.hits(), 2);
}

#[test]
fn positional_urls_and_several_list_files_are_all_read() {
    let server = server::files([
        ("/p.txt", b"positional".to_vec()),
        ("/one.txt", b"first list".to_vec()),
        ("/two.txt", b"second list".to_vec()),
    ]);
    let tmp = TempDir::new().unwrap();
    write_list(tmp.path(), "one.txt", &[server.url("/one.txt")]);
    write_list(tmp.path(), "two.txt", &[server.url("/two.txt")]);

    let out = run(haul_in(tmp.path()).args([
        &server.url("/p.txt"),
        "-i",
        "one.txt",
        "-i",
        "two.txt",
        "-d",
        "out",
    ]));

    out.assert_code(0).assert_summary(3, 0, 0);
    assert_out_holds(
        tmp.path(),
        [
            ("p.txt", &b"positional"[..]),
            ("one.txt", b"first list"),
            ("two.txt", b"second list"),
        ],
    );
}

#[test]
fn comments_blank_lines_and_crlf_are_handled() {
    let server = server::files([("/a.txt", b"alpha".to_vec()), ("/b.txt", b"beta".to_vec())]);
    let tmp = TempDir::new().unwrap();
    let list = format!(
        "# a comment\r\n\r\n{}\r\n   \r\n# {}\r\n{} out=renamed.txt\r\n\r\n",
        server.url("/a.txt"),
        server.url("/commented-out.txt"),
        server.url("/b.txt"),
    );
    std::fs::write(tmp.path().join("urls.txt"), list).unwrap();

    let out = run_list_in(tmp.path());

    out.assert_code(0)
        .assert_stdout_empty()
        .assert_summary(2, 0, 0);
    // No `\r` leaks into a name, and the commented URL is never requested.
    assert_out_holds(
        tmp.path(),
        [("a.txt", &b"alpha"[..]), ("renamed.txt", b"beta")],
    );
    assert_eq!(server.uris_sorted(), ["/a.txt", "/b.txt"]);
}

#[test]
fn out_field_sets_the_destination_and_creates_folders() {
    let server = server::files([
        ("/a.txt", b"alpha".to_vec()),
        ("/b.txt", b"beta".to_vec()),
        ("/c.txt", b"gamma".to_vec()),
    ]);
    let tmp = TempDir::new().unwrap();
    write_list(
        tmp.path(),
        "urls.txt",
        &[
            format!("{} out=deep/er/x.bin", server.url("/a.txt")),
            format!("{}\tout=y.bin", server.url("/b.txt")),
            server.url("/c.txt"),
        ],
    );

    let out = run_list_in(tmp.path());

    out.assert_code(0).assert_summary(3, 0, 0);
    assert_out_holds(
        tmp.path(),
        [
            ("deep/er/x.bin", &b"alpha"[..]),
            ("y.bin", b"beta"),
            ("c.txt", b"gamma"),
        ],
    );
}

#[test]
fn bad_lines_are_reported_with_file_and_line_and_others_still_download() {
    let server = server::files([("/a.txt", b"alpha".to_vec()), ("/c.txt", b"gamma".to_vec())]);
    let tmp = TempDir::new().unwrap();
    write_list(
        tmp.path(),
        "urls.txt",
        &[
            server.url("/a.txt"),                            // 1
            "not a url".to_string(),                         // 2
            "ftp://127.0.0.1:1/x.txt".to_string(),           // 3
            format!("{} colour=blue", server.url("/b.txt")), // 4: unknown key
            server.url("/f[1-.txt"),                         // 5: malformed glob
            "# fine".to_string(),                            // 6
            server.url("/c.txt"),                            // 7
        ],
    );

    let out = run_list_in(tmp.path());

    out.assert_code(1)
        .assert_stdout_empty()
        .assert_summary(2, 0, 4);
    for line in 2..=5 {
        let prefix = format!("haul: urls.txt:{line}:");
        assert!(
            out.stderr_lines().any(|l| l.starts_with(&prefix)),
            "expected a line starting with {prefix:?}\n{out}"
        );
    }
    for line in [1, 6, 7] {
        let prefix = format!("haul: urls.txt:{line}:");
        assert!(
            !out.stderr_lines().any(|l| l.starts_with(&prefix)),
            "line {line} is fine and must not be reported\n{out}"
        );
    }
    assert_out_holds(tmp.path(), [("a.txt", &b"alpha"[..]), ("c.txt", b"gamma")]);
    // A line with an unknown key is rejected as a whole, not fetched.
    assert_eq!(server.uris_sorted(), ["/a.txt", "/c.txt"]);
}

#[test]
fn same_url_twice_is_fetched_once() {
    let server = server::files([("/a.txt", b"alpha".to_vec())]);
    let tmp = TempDir::new().unwrap();
    let url = server.url("/a.txt");
    write_list(tmp.path(), "urls.txt", &[url.clone(), url.clone()]);

    let out = run(haul_in(tmp.path()).args([&url, "-i", "urls.txt", "-d", "out"]));

    out.assert_code(0).assert_stdout_empty();
    assert_out_holds(tmp.path(), [("a.txt", &b"alpha"[..])]);
    assert_eq!(server.hits(), 1);
}

#[test]
fn url_repeated_by_a_glob_is_fetched_once() {
    let server = server::files([("/f1.txt", b"one".to_vec()), ("/f2.txt", b"two".to_vec())]);
    let tmp = TempDir::new().unwrap();

    let out = run(haul_in(tmp.path()).args([
        &server.url("/f[1-2].txt"),
        &server.url("/f1.txt"),
        "-d",
        "out",
    ]));

    out.assert_code(0);
    assert_out_holds(tmp.path(), [("f1.txt", &b"one"[..]), ("f2.txt", b"two")]);
    assert_eq!(server.uris_sorted(), ["/f1.txt", "/f2.txt"]);
}
