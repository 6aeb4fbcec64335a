//! Nothing outside `-d`, no special files, no control characters: the
//! contract's "Nothing outside `--dir` is read as a skip or resume
//! candidate, written, renamed or deleted: symlinks leading out, FIFOs and
//! other special files at a destination or temp path are refused or
//! replaced, never written through", and `--content-disposition`'s "a
//! suggestion that ... holds NUL or control characters fails that URL".
//! Regression tests for issue 8 (items 3-6): a `.part` continued and renamed
//! through a symlinked folder, a skip decided by a file outside, a run hung
//! on a FIFO, bytes written through a hard link, a FIFO replaced by a
//! rename, and a terminal escape sequence used as a file name.
//!
//! The contract's "Across processes and crashes": haul's own files are
//! claimed by what their paths resolve to (a `--state` or `--report`
//! reached through a symlink into `-d`), and opening a FIFO as `--report`
//! never blocks.
//!
//! Not here: names that escape with `..`, absolute paths or a symlink on a
//! fresh download (naming.rs), two downloads sharing a name
//! (collisions.rs), and which bytes a resumed `.part` may receive
//! (versions.rs). Unix only: symlinks, FIFOs and hard links.

#![cfg(unix)]

use std::path::Path;
use std::time::Duration;

use tempfile::TempDir;

use crate::support::server::{self, Resource, Server, Shape};
use crate::support::{
    Output, assert_out_holds, assert_tree_eq, expected, haul_in, mkfifo, parse_json_lines,
    pseudo_random, run, run_with_timeout, spawn, tree, write_file, write_list,
};

/// A retry wait short enough that retries cost nothing.
const FAST: [&str; 2] = ["--retry-wait", "10ms"];

/// A run that waits on a FIFO never ends by itself; this bound turns such a
/// hang into a failed test (the runs that should pass take well under a second).
const HANG: Duration = Duration::from_secs(10);

/// Bytes of a resource that run 1 receives before the cut.
const CUT: usize = 40_000;

#[track_caller]
fn assert_fifo(path: &Path) {
    use std::os::unix::fs::FileTypeExt;
    let meta = std::fs::symlink_metadata(path)
        .unwrap_or_else(|e| panic!("{} should still be there: {e}", path.display()));
    assert!(
        meta.file_type().is_fifo(),
        "{} should still be a FIFO: {:?}",
        path.display(),
        meta.file_type()
    );
}

/// A server whose first request for a path gets `first` cut after `CUT`
/// bytes, and every later one `first` whole (ranges as [`Resource`]
/// honours them).
fn cut_once(first: Resource) -> Server {
    server::http_nth(move |req, n| {
        let shape = if n == 0 {
            Shape::CutAfter(CUT)
        } else {
            Shape::Whole
        };
        let res = first.respond(req.headers(), shape);
        async move { res }
    })
}

/// Run 1: `haul URL -d DIR --retries 0` against a [`cut_once`] server, which
/// leaves `DIR/NAME.part` (with haul's resume note) of `CUT` bytes.
#[track_caller]
fn leave_a_part(tmp: &TempDir, url: &str, dir: &str, part: &str) {
    let out = run(haul_in(tmp.path())
        .args([url, "-d", dir, "--retries", "0"])
        .args(FAST));
    out.assert_code(1);
    let got = std::fs::read(tmp.path().join(dir).join(part)).unwrap_or_default();
    assert_eq!(got.len(), CUT, "run 1 should leave {dir}/{part}\n{out}");
}

/// The failure line for `url`: it names the URL and contains every one of `parts`.
#[track_caller]
fn assert_refused(out: &Output, url: &str, parts: &[&str]) {
    out.assert_code(1)
        .assert_stdout_empty()
        .assert_summary(0, 0, 1);
    out.assert_failure(url, parts);
}

/// Creates `out/link` pointing at `outside` (a sibling of `out`), by an
/// absolute path or as `../outside`.
fn link_out(tmp: &TempDir, absolute: bool) {
    std::fs::create_dir_all(tmp.path().join("out")).unwrap();
    let target = if absolute {
        tmp.path().join("outside")
    } else {
        "../outside".into()
    };
    std::os::unix::fs::symlink(target, tmp.path().join("out/link")).unwrap();
}

/// Issue 8 (item 3): a `.part` outside `-d`, reached through `out/link`,
/// was continued and renamed there. Now the path is refused before any
/// request, and the `.part` outside is left exactly as it was.
fn resume_through_a_symlink_that_leads_out(absolute: bool) {
    let body = pseudo_random(801, 100_000);
    let server = cut_once(Resource::new(body).etag("\"v1\""));
    let tmp = TempDir::new().unwrap();
    let url = server.url("/r.bin");
    leave_a_part(&tmp, &url, "outside", "r.bin.part");
    let before = tree(&tmp.path().join("outside"));
    link_out(&tmp, absolute);
    write_list(tmp.path(), "urls.txt", &[format!("{url} out=link/r.bin")]);

    let out = run(haul_in(tmp.path())
        .args(["-i", "urls.txt", "-d", "out"])
        .args(FAST));

    assert_refused(&out, &url, &["link", "symlink"]);
    assert_tree_eq(&tree(&tmp.path().join("outside")), &before);
    assert_eq!(server.hits(), 1, "run 2 must send no request");
}

#[test]
fn a_part_behind_a_relative_symlink_that_leads_out_is_not_resumed() {
    resume_through_a_symlink_that_leads_out(false);
}

#[test]
fn a_part_behind_an_absolute_symlink_is_not_resumed() {
    resume_through_a_symlink_that_leads_out(true);
}

/// Issue 8 (item 3): `skip` looked at `outside/f` through `out/link` and
/// reported the URL skipped (exit 0): a file outside `-d` decided it. It is
/// a refusal, not a skip.
#[test]
fn a_file_behind_a_symlink_that_leads_out_is_not_a_skip() {
    let server = server::files([("/f", b"new".to_vec())]).any_hits();
    let tmp = TempDir::new().unwrap();
    write_file(tmp.path(), "outside/f", b"old");
    link_out(&tmp, false);
    let url = server.url("/f");
    write_list(tmp.path(), "urls.txt", &[format!("{url} out=link/f")]);

    let out = run(haul_in(tmp.path()).args(["-i", "urls.txt", "-d", "out"]));

    assert_refused(&out, &url, &["link", "symlink"]);
    assert_tree_eq(
        &tree(&tmp.path().join("outside")),
        &expected([("f", &b"old"[..])]),
    );
}

/// Issue 8 (item 4): opening a FIFO planted at `x.part` for writing waits
/// for a reader forever. It must be replaced by a regular file instead.
/// A symlinked folder that stays inside `-d` gives one file two names the
/// registry tells apart (`real/x`, `alias/x`): two downloads would share
/// it, and one be reported ok with the other's bytes. The path through the
/// link is refused before any request; the real name is downloaded.
#[test]
fn a_symlinked_folder_inside_the_dir_is_refused_too() {
    let server = server::files([("/1", b"one".to_vec()), ("/2", b"two".to_vec())]);
    let tmp = TempDir::new().unwrap();
    std::fs::create_dir_all(tmp.path().join("out/real")).unwrap();
    std::os::unix::fs::symlink("real", tmp.path().join("out/alias")).unwrap();
    write_list(
        tmp.path(),
        "urls.txt",
        &[
            format!("{} out=real/x", server.url("/1")),
            format!("{} out=alias/x", server.url("/2")),
        ],
    );

    let out = run(haul_in(tmp.path()).args(["-i", "urls.txt", "-d", "out", "-j2"]));

    out.assert_code(1).assert_summary(1, 0, 1);
    out.assert_failure(&server.url("/2"), &["out/alias", "symlinked folder"]);
    assert_eq!(
        std::fs::read(tmp.path().join("out/real/x")).unwrap(),
        b"one"
    );
    assert_eq!(server.hits_for("/2"), 0, "refused before any request");
}

#[test]
fn a_fifo_at_the_part_is_replaced_without_hanging() {
    let body = pseudo_random(802, 50_000);
    let server = server::files([("/x", body.clone())]);
    let tmp = TempDir::new().unwrap();
    std::fs::create_dir(tmp.path().join("out")).unwrap();
    mkfifo(&tmp.path().join("out/x.part"), 0o644);

    let out = run_with_timeout(
        haul_in(tmp.path())
            .args([&server.url("/x"), "-d", "out"])
            .args(FAST),
        HANG,
    );

    out.assert_code(0).assert_summary(1, 0, 0);
    // `tree` lists regular files only: a FIFO left at x.part must fail too.
    assert!(!tmp.path().join("out/x.part").exists(), "x.part remains");
    assert_out_holds(tmp.path(), [("x", &body[..])]);
}

/// The same with a resumable-looking history: run 1 left `x.part` with
/// haul's note, then a FIFO took its place. Run 2 must not wait on it, and
/// starts from zero (a FIFO holds no bytes to continue).
#[test]
fn a_fifo_in_place_of_a_part_left_by_an_earlier_run_is_replaced() {
    let body = pseudo_random(803, 100_000);
    let server = cut_once(Resource::new(body.clone()).etag("\"v1\""));
    let tmp = TempDir::new().unwrap();
    let url = server.url("/x");
    leave_a_part(&tmp, &url, "out", "x.part");
    let part = tmp.path().join("out/x.part");
    std::fs::remove_file(&part).unwrap();
    mkfifo(&part, 0o644);

    let out = run_with_timeout(
        haul_in(tmp.path()).args([&url, "-d", "out"]).args(FAST),
        HANG,
    );

    out.assert_code(0).assert_summary(1, 0, 0);
    assert!(!part.exists(), "x.part remains");
    assert_out_holds(tmp.path(), [("x", &body[..])]);
    let reqs = server.requests();
    assert_eq!(reqs.len(), 2);
    assert_eq!(reqs[1].header("range"), None, "nothing to continue");
}

/// Issue 8 (item 4): `x.part` hard-linked to `other`: writing into the
/// `.part` wrote into `other`. The `.part` must be a file of its own.
#[test]
fn a_hard_link_at_the_part_is_not_written_through() {
    let body = pseudo_random(804, 50_000);
    let server = server::files([("/x", body.clone())]);
    let tmp = TempDir::new().unwrap();
    let other = write_file(tmp.path(), "out/other", b"keep");
    std::fs::hard_link(&other, tmp.path().join("out/x.part")).unwrap();

    let out = run(haul_in(tmp.path())
        .args([&server.url("/x"), "-d", "out"])
        .args(FAST));

    out.assert_code(0).assert_summary(1, 0, 0);
    assert_out_holds(tmp.path(), [("other", &b"keep"[..]), ("x", &body[..])]);
}

/// The same for a `.part` that haul could otherwise continue (run 1 left it
/// with its note; then `other` became a second name for it): appending
/// would change `other` as well. It starts over in a file of its own.
#[test]
fn a_hard_linked_part_left_by_an_earlier_run_is_not_continued() {
    let body = pseudo_random(805, 100_000);
    let server = cut_once(Resource::new(body.clone()).etag("\"v1\""));
    let tmp = TempDir::new().unwrap();
    let url = server.url("/x");
    leave_a_part(&tmp, &url, "out", "x.part");
    let prefix = std::fs::read(tmp.path().join("out/x.part")).unwrap();
    std::fs::hard_link(tmp.path().join("out/x.part"), tmp.path().join("out/other")).unwrap();

    let out = run(haul_in(tmp.path()).args([&url, "-d", "out"]).args(FAST));

    out.assert_code(0).assert_summary(1, 0, 0);
    assert_out_holds(tmp.path(), [("other", &prefix[..]), ("x", &body[..])]);
    let reqs = server.requests();
    assert_eq!(reqs.len(), 2);
    assert_eq!(
        reqs[1].header("range"),
        None,
        "a shared file is not continued"
    );
}

/// Issue 8 (item 5): a FIFO at the destination was replaced by the rename
/// (`overwrite`) or taken for a file already there (`skip`). It is not a
/// file: the URL fails naming it, and the FIFO stays. The planner sees it,
/// so nothing is requested.
fn a_fifo_at_the_destination_is_refused(on_exists: &str) {
    let server = server::files([("/x", b"body".to_vec())]).expect_no_hits();
    let tmp = TempDir::new().unwrap();
    std::fs::create_dir(tmp.path().join("out")).unwrap();
    let dest = tmp.path().join("out/x");
    mkfifo(&dest, 0o644);
    let url = server.url("/x");

    let out = run_with_timeout(
        haul_in(tmp.path()).args([&url, "-d", "out", "--on-exists", on_exists]),
        HANG,
    );

    assert_refused(&out, &url, &["out/x", "FIFO"]);
    assert_fifo(&dest);
    assert!(!tmp.path().join("out/x.part").exists());
}

#[test]
fn a_fifo_at_the_destination_is_not_overwritten() {
    a_fifo_at_the_destination_is_refused("overwrite");
}

#[test]
fn a_fifo_at_the_destination_is_not_skipped() {
    a_fifo_at_the_destination_is_refused("skip");
}

#[test]
fn a_folder_at_the_destination_is_refused_before_any_request() {
    let server = server::files([("/x", b"body".to_vec())]).expect_no_hits();
    let tmp = TempDir::new().unwrap();
    write_file(tmp.path(), "out/x/inside", b"keep");
    let url = server.url("/x");

    let out = run(haul_in(tmp.path()).args([&url, "-d", "out", "--on-exists", "overwrite"]));

    assert_refused(&out, &url, &["out/x", "folder"]);
    assert_out_holds(tmp.path(), [("x/inside", &b"keep"[..])]);
}

/// Every name under `dir` (files, folders, links, FIFOs), recursively,
/// relative to `dir`.
fn all_names(dir: &Path) -> Vec<String> {
    let mut names = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let entry = entry.unwrap();
        names.push(entry.file_name().to_string_lossy().into_owned());
        if entry.file_type().unwrap().is_dir() {
            names.extend(all_names(&entry.path()));
        }
    }
    names
}

/// Issue 8 (item 6): a `Content-Disposition` name holding ESC (a terminal
/// escape sequence), BEL or a right-to-left override was used as the file
/// name. The URL fails, no such name is created anywhere, and haul prints
/// the character escaped, never raw (the terminal would act on it).
#[track_caller]
fn a_disposition_name_with(encoded: &str, raw: char) {
    let header = format!("attachment; filename*=UTF-8''evil{encoded}.txt");
    let server = server::http(move |_req| {
        let res = server::with_header(server::ok("body"), "content-disposition", &header);
        async move { res }
    });
    let tmp = TempDir::new().unwrap();
    let url = server.url("/download");

    let out = run(haul_in(tmp.path()).args([&url, "--content-disposition", "-d", "out"]));

    assert_refused(&out, &url, &["evil"]);
    let bad: Vec<_> = all_names(tmp.path())
        .into_iter()
        .filter(|n| n.contains(raw))
        .collect();
    assert!(bad.is_empty(), "created {bad:?}\n{out}");
    assert!(
        !out.stderr.contains(raw),
        "stderr holds a raw {raw:?}\n{out}"
    );
    assert_tree_eq(&tree(tmp.path()), &expected([]));
}

#[test]
fn a_disposition_name_with_an_escape_sequence_is_refused() {
    a_disposition_name_with("%1B%5B2J", '\u{1b}');
}

#[test]
fn a_disposition_name_with_a_bell_is_refused() {
    a_disposition_name_with("%07", '\u{7}');
}

#[test]
fn a_disposition_name_with_a_right_to_left_override_is_refused() {
    a_disposition_name_with("%E2%80%AE", '\u{202e}');
}

/// haul's own files are claimed by what their paths resolve to:
/// `--state link.haul`, where `link.haul -> out/state.haul`, claims
/// `out/state.haul`, so a URL named `state.haul` fails (naming haul's
/// `--state` file) even with `--on-exists overwrite`, and the state is
/// not replaced.
#[test]
fn a_state_reached_through_a_symlink_is_not_replaced() {
    let server = server::files([
        ("/state.haul", b"not a state".to_vec()),
        ("/fine.txt", b"fine".to_vec()),
    ])
    .any_hits();
    let tmp = TempDir::new().unwrap();
    std::fs::create_dir(tmp.path().join("out")).unwrap();
    std::os::unix::fs::symlink("out/state.haul", tmp.path().join("link.haul")).unwrap();
    let bad = server.url("/state.haul");

    let out = run(haul_in(tmp.path()).args([
        &bad,
        &server.url("/fine.txt"),
        "--state",
        "link.haul",
        "--on-exists",
        "overwrite",
        "-j",
        "1",
        "-d",
        "out",
    ]));

    let state = std::fs::read(tmp.path().join("out/state.haul")).unwrap();
    assert!(
        state != b"not a state",
        "the state was replaced by the download\n{out}"
    );
    out.assert_code(1).assert_summary(1, 0, 1);
    out.assert_failure(&bad, &["--state"]);
    assert!(
        std::fs::symlink_metadata(tmp.path().join("link.haul"))
            .unwrap()
            .file_type()
            .is_symlink()
    );
    let listed = run(haul_in(tmp.path()).args(["--state", "link.haul", "--list"]));
    listed.assert_code(0);
    let entries = parse_json_lines(&listed.stdout);
    assert_eq!(entries.len(), 1, "{listed}");
    assert_eq!(entries[0]["path"], "fine.txt", "{listed}");
}

/// The same for `--report link.jsonl`, where `link.jsonl ->
/// out/report.jsonl`: a URL named `report.jsonl` fails naming haul's
/// `--report` file, and the report holds both records.
#[test]
fn a_report_reached_through_a_symlink_is_not_replaced() {
    let server = server::files([
        ("/report.jsonl", b"not a report".to_vec()),
        ("/fine.txt", b"fine".to_vec()),
    ])
    .any_hits();
    let tmp = TempDir::new().unwrap();
    std::fs::create_dir(tmp.path().join("out")).unwrap();
    std::os::unix::fs::symlink("out/report.jsonl", tmp.path().join("link.jsonl")).unwrap();
    let bad = server.url("/report.jsonl");

    let out = run(haul_in(tmp.path()).args([
        &bad,
        &server.url("/fine.txt"),
        "--report",
        "link.jsonl",
        "--on-exists",
        "overwrite",
        "-j",
        "1",
        "-d",
        "out",
    ]));

    let report = std::fs::read_to_string(tmp.path().join("out/report.jsonl")).unwrap();
    assert!(
        report != "not a report",
        "the report was replaced by the download\n{out}"
    );
    out.assert_code(1).assert_summary(1, 0, 1);
    out.assert_failure(&bad, &["--report"]);
    assert_eq!(parse_json_lines(&report).len(), 2, "{report}");
}

/// Opening a FIFO never blocks: a FIFO with no reader as `--report` is
/// refused at once (exit 2, naming it) or used; the run ends by itself
/// within [`HANG`]. Were it stuck, SIGTERM must still end it (the
/// failure message says whether it did, or SIGKILL was needed).
#[test]
fn a_fifo_as_report_does_not_hang() {
    let server = server::files([("/x", b"x".to_vec())]).any_hits();
    let tmp = TempDir::new().unwrap();
    mkfifo(&tmp.path().join("r.fifo"), 0o644);

    let mut running =
        spawn(haul_in(tmp.path()).args([&server.url("/x"), "--report", "r.fifo", "-d", "out"]));
    while running.elapsed() < HANG && !running.has_exited() {
        std::thread::sleep(Duration::from_millis(20));
    }
    if !running.has_exited() {
        running.signal(libc::SIGTERM);
        let sent = running.elapsed();
        while running.elapsed() < sent + Duration::from_secs(5) && !running.has_exited() {
            std::thread::sleep(Duration::from_millis(20));
        }
        let ended = running.has_exited();
        let out = running.kill();
        panic!(
            "haul was still running after {HANG:?} with a FIFO as --report; SIGTERM {}\n{out}",
            if ended {
                "ended it"
            } else {
                "did not end it within 5 s: it had to be SIGKILLed"
            }
        );
    }
    let out = running.wait(HANG);
    match out.code() {
        Some(2) => assert!(out.stderr.contains("r.fifo"), "{out}"),
        Some(0) => {}
        _ => panic!("neither refused (exit 2) nor done (exit 0)\n{out}"),
    }
}
