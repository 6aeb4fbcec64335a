//! Inputs: positional URLs, `-i FILE`, `-i -` and `-` (stdin), list syntax
//! (comments, blank lines, CRLF, `out=` and unknown fields), bad lines (also
//! one longer than 1 MiB), list files that cannot be opened (exit 2 before any
//! request), FIFOs as lists, and de-duplication of repeated URLs.
//!
//! Not here: how names are derived (template.rs, naming.rs) or HTTP failures
//! (errors.rs).

use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use tempfile::TempDir;

use crate::support::server::Server;
use crate::support::{
    Output, assert_out_holds, assert_tree_eq, haul_in, mkfifo, pseudo_random, run, run_list_in,
    run_with_stdin, run_with_timeout, server, tree, write_list,
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

/// A URL is fetched once wherever it is listed again, whether its first
/// listing was named by the URL or by `out=`, and a refused URL listed
/// again is not refused twice; another URL naming the same file is a
/// collision. (Repeats of URLs named by the URL alone are found through
/// the destination's claim, the others through a set: both orders here.)
#[test]
fn repeats_are_found_in_every_order_and_collisions_still_refused() {
    let server = server::files([
        ("/a.txt", b"alpha".to_vec()),
        ("/c.txt", b"gamma".to_vec()),
        ("/sub/a.txt", b"other".to_vec()),
    ]);
    let tmp = TempDir::new().unwrap();
    write_list(
        tmp.path(),
        "urls.txt",
        &[
            server.url("/a.txt"),                           // 1: a.txt
            format!("{} out=b.txt", server.url("/a.txt")),  // 2: repeat
            format!("{} out=c2.txt", server.url("/c.txt")), // 3: c2.txt
            server.url("/c.txt"),                           // 4: repeat
            server.url("/sub/a.txt"),                       // 5: collides with 1
            server.url("/sub/a.txt"),                       // 6: repeat of a refused URL
            server.url("/x%00y"),                           // 7: unsafe name
            server.url("/x%00y"),                           // 8: repeat of a refused URL
        ],
    );

    let out = run_list_in(tmp.path());

    out.assert_code(1).assert_summary(2, 0, 2);
    assert_out_holds(tmp.path(), [("a.txt", &b"alpha"[..]), ("c2.txt", b"gamma")]);
    assert_eq!(server.uris_sorted(), ["/a.txt", "/c.txt"]);
    assert_eq!(out.failure_lines("already taken").len(), 1, "{out}");
    assert_eq!(out.failure_lines("refusing destination").len(), 1, "{out}");
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

#[test]
fn a_line_longer_than_1_mib_is_a_bad_line_and_the_others_download() {
    let server = server::files([("/a.txt", b"alpha".to_vec()), ("/b.txt", b"beta".to_vec())]);
    let tmp = TempDir::new().unwrap();
    // Line 2 is a 2 MiB URL on the same server: were it read whole, it
    // would be requested (or fail for another reason than its length).
    let long = server.url(&format!("/{}", "x".repeat(2 << 20)));
    let list = format!(
        "{}\n{long}\n{}\nnot-a-url\n",
        server.url("/a.txt"),
        server.url("/b.txt")
    );
    std::fs::write(tmp.path().join("urls.txt"), list).unwrap();

    let out = run_list_in(tmp.path());

    // Shortened: a failing run may print the 2 MiB line.
    let stderr: Vec<String> = out
        .stderr_lines()
        .map(|l| l.chars().take(200).collect())
        .collect();
    let reported = |prefix: &str, reason: &str| {
        stderr
            .iter()
            .any(|l| l.starts_with(prefix) && l.contains(reason))
    };
    assert!(
        reported("haul: urls.txt:2:", "longer than 1 MiB"),
        "line 2 should be reported as too long; stderr (lines shortened):\n{}",
        stderr.join("\n")
    );
    // Line numbers after the long line stay right.
    assert!(
        reported("haul: urls.txt:4:", "not a URL"),
        "line 4 should be reported as not a URL; stderr (lines shortened):\n{}",
        stderr.join("\n")
    );
    out.assert_code(1)
        .assert_stdout_empty()
        .assert_summary(2, 0, 2);
    assert_out_holds(tmp.path(), [("a.txt", &b"alpha"[..]), ("b.txt", b"beta")]);
    assert_eq!(server.uris_sorted(), ["/a.txt", "/b.txt"]);
}

/// Runs `haul -i LIST URL -d out` in `tmp` and asserts the list is refused
/// as an input error: exit 2, `LIST` named on stderr, nothing written, and
/// (the server expects no hits) not even `URL` requested.
#[track_caller]
fn assert_list_refused_before_any_request(tmp: &Path, cmd: &mut Command, list: &str) {
    let server = server::files([("/a.txt", b"alpha".to_vec())]).expect_no_hits();

    let out = run(cmd.args(["-i", list, &server.url("/a.txt"), "-d", "out"]));

    out.assert_code(2).assert_stdout_empty();
    out.assert_failure(list, &["cannot read list file"]);
    assert!(!tmp.join("out").exists(), "nothing may be written\n{out}");
}

#[test]
fn a_socket_as_list_file_exits_2_before_any_request() {
    let tmp = TempDir::new().unwrap();
    // stat(2) sees a socket but open(2) fails (ENXIO).
    let _listener = std::os::unix::net::UnixListener::bind(tmp.path().join("list.sock")).unwrap();

    assert_list_refused_before_any_request(tmp.path(), &mut haul_in(tmp.path()), "list.sock");
}

/// `nobody`, for running haul without root's right to read any file.
const NOBODY: u32 = 65534;

/// Whether this process may start a child as [`NOBODY`] (root with
/// `CAP_SETUID`, and the uid mapped when in a user namespace).
fn can_run_as_nobody() -> bool {
    Command::new("true")
        .uid(NOBODY)
        .gid(NOBODY)
        .status()
        .is_ok_and(|s| s.success())
}

#[test]
fn an_unreadable_list_file_exits_2_before_any_request() {
    let tmp = TempDir::new().unwrap();
    write_list(tmp.path(), "locked.txt", &["http://127.0.0.1:1/x".into()]);
    let locked = tmp.path().join("locked.txt");
    std::fs::set_permissions(&locked, std::fs::Permissions::from_mode(0o000)).unwrap();
    let mut cmd = haul_in(tmp.path());

    if rustix::process::geteuid().is_root() {
        if !can_run_as_nobody() {
            // Root reads a mode-000 file, so there is nothing to refuse:
            // check that it is simply read.
            let server = server::files([("/a.txt", b"alpha".to_vec())]);
            std::fs::write(&locked, server.url("/a.txt")).unwrap();
            run(cmd.args(["-i", "locked.txt", "-d", "out"])).assert_code(0);
            assert_out_holds(tmp.path(), [("a.txt", &b"alpha"[..])]);
            return;
        }
        // Root reads any file: run haul as `nobody`, in a folder it may
        // write to (so that, were the list not refused, the other URL
        // would be fetched and saved).
        std::fs::set_permissions(tmp.path(), std::fs::Permissions::from_mode(0o777)).unwrap();
        cmd.uid(NOBODY).gid(NOBODY);
    }

    assert_list_refused_before_any_request(tmp.path(), &mut cmd, "locked.txt");
}

/// Opens the FIFO `path` for writing once a reader has it open, giving up
/// at `deadline` (so a haul that never opens it cannot hang the test).
fn open_fifo_writer(path: &Path, deadline: Instant) -> std::io::Result<std::fs::File> {
    loop {
        // Non-blocking: ENXIO while no reader has the FIFO open.
        match std::fs::OpenOptions::new()
            .write(true)
            .custom_flags(libc::O_NONBLOCK)
            .open(path)
        {
            Ok(file) => {
                // Writes block again, so a full pipe waits for the reader.
                rustix::fs::fcntl_setfl(&file, rustix::fs::OFlags::empty()).expect("fcntl F_SETFL");
                return Ok(file);
            }
            Err(err) if err.raw_os_error() == Some(libc::ENXIO) && Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(10));
            }
            Err(err) => return Err(err),
        }
    }
}

#[test]
fn two_fifo_lists_fed_one_after_another_by_one_writer_all_download() {
    let server = server::files([("/a.txt", b"alpha".to_vec()), ("/b.txt", b"beta".to_vec())]);
    let tmp = TempDir::new().unwrap();
    let fifos: [PathBuf; 2] = [tmp.path().join("f1"), tmp.path().join("f2")];
    fifos.iter().for_each(|f| mkfifo(f, 0o600));
    // f1 holds more than a pipe's 64 KiB, so its writer finishes only once
    // haul has read most of it; only then is f2 opened and written: haul
    // must neither wait for f2's writer before reading f1, nor take f1 for
    // empty because its writer connects late.
    let mut first = "# a comment line, to fill the pipe buffer\n".repeat(2000);
    first.push_str(&format!("{}\n", server.url("/a.txt")));
    let second = format!("{}\n", server.url("/b.txt"));
    let writer = {
        let fifos = fifos.clone();
        std::thread::spawn(move || -> std::io::Result<()> {
            let deadline = Instant::now() + Duration::from_secs(20);
            std::thread::sleep(Duration::from_millis(300));
            for (fifo, text) in fifos.iter().zip([first, second]) {
                open_fifo_writer(fifo, deadline)?.write_all(text.as_bytes())?;
            }
            Ok(())
        })
    };

    let out = run_with_timeout(
        haul_in(tmp.path()).args(["-i", "f1", "-i", "f2", "-d", "out"]),
        Duration::from_secs(20),
    );

    out.assert_code(0).assert_summary(2, 0, 0);
    assert_out_holds(tmp.path(), [("a.txt", &b"alpha"[..]), ("b.txt", b"beta")]);
    writer.join().unwrap().expect("the writer fed both FIFOs");
}
