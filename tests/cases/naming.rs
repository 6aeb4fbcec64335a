//! Where files may land: names that would escape `-d` (via `out=`, via a
//! template, via a symlink), collisions between different URLs, and
//! `--on-exists skip|overwrite` for files already present.
//!
//! Not here: how the names themselves are built (template.rs).

use tempfile::TempDir;

use crate::support::{
    assert_tree_eq, expected, haul_in, run, server, tree, write_file, write_list,
};

/// Runs a list with one good line and one `out=` that must be refused, and
/// checks the refusal (before any request for it) and that the whole tempdir
/// holds only what is expected.
#[track_caller]
fn assert_out_field_refused(bad_out: &str, shown: &str) {
    let server = server::files([
        ("/good.txt", b"good".to_vec()),
        ("/bad.txt", b"bad".to_vec()),
    ]);
    let tmp = TempDir::new().unwrap();
    // Work one level down so an escape to `..` stays inside this TempDir, where we can see it.
    let work = tmp.path().join("work");
    std::fs::create_dir(&work).unwrap();
    let bad_url = server.url("/bad.txt");
    write_list(
        &work,
        "urls.txt",
        &[format!("{bad_url} out={bad_out}"), server.url("/good.txt")],
    );

    let out = run(haul_in(&work).args(["-i", "urls.txt", "-d", "out"]));

    out.assert_code(1)
        .assert_stdout_empty()
        .assert_summary(1, 0, 1);
    let line = out
        .stderr_lines()
        .find(|l| l.starts_with("haul: ") && l.contains(shown))
        .unwrap_or_else(|| panic!("no failure line naming {shown:?}\n{out}"));
    assert!(
        line.starts_with(&format!("haul: urls.txt:1: {bad_url}: ")),
        "the refusal should name the list line, then the URL: {line:?}"
    );
    let list = std::fs::read(work.join("urls.txt")).unwrap();
    assert_tree_eq(
        &tree(tmp.path()),
        &expected([("work/urls.txt", &list[..]), ("work/out/good.txt", b"good")]),
    );
    assert_eq!(server.uris_sorted(), ["/good.txt"]);
}

#[test]
fn out_field_with_dot_dot_is_refused() {
    assert_out_field_refused("../escape.txt", "../escape.txt");
}

#[test]
fn out_field_with_dot_dot_in_the_middle_is_refused() {
    assert_out_field_refused("sub/../../escape.txt", "escape.txt");
}

#[test]
fn out_field_with_absolute_path_is_refused() {
    let tmp = TempDir::new().unwrap();
    // An absolute path inside another tempdir: if haul wrote it, we would see it.
    let target = tmp.path().join("abs.txt");
    let target = target.to_str().unwrap();
    assert_out_field_refused(target, target);
    assert!(
        !tmp.path().join("abs.txt").exists(),
        "wrote to an absolute path"
    );
}

#[test]
fn template_rendering_dot_dot_is_refused() {
    // Refused when planned: the URL is never requested.
    let server = server::files([("/a.txt", b"alpha".to_vec())]).expect_no_hits();
    let tmp = TempDir::new().unwrap();
    let work = tmp.path().join("work");
    std::fs::create_dir(&work).unwrap();
    let url = server.url("/a.txt");

    let out = run(haul_in(&work).args([&url, "-o", "../{name}", "-d", "out"]));

    out.assert_code(1)
        .assert_stdout_empty()
        .assert_summary(0, 0, 1);
    // The message names the offending name.
    out.assert_failure(&url, &[".."]);
    assert_tree_eq(&tree(tmp.path()), &expected([]));
}

#[test]
fn glob_capture_of_dot_dot_in_template_is_refused() {
    // `{..,ok}` makes `{1}` render as `..` for the first URL only.
    let server = server::files([
        ("/x.txt", b"root x".to_vec()),
        ("/ok/x.txt", b"ok x".to_vec()),
    ]);
    let tmp = TempDir::new().unwrap();
    let work = tmp.path().join("work");
    std::fs::create_dir(&work).unwrap();

    let out = run(haul_in(&work).args([
        &server.url("/{..,ok}/x.txt"),
        "-o",
        "{1}/{name}",
        "-d",
        "out",
    ]));

    out.assert_code(1).assert_summary(1, 0, 1);
    assert!(
        out.stderr_lines()
            .any(|l| l.starts_with("haul: ") && l.contains("..")),
        "the refusal should name the offending name\n{out}"
    );
    assert_tree_eq(
        &tree(tmp.path()),
        &expected([("work/out/ok/x.txt", &b"ok x"[..])]),
    );
    assert_eq!(server.uris_sorted(), ["/ok/x.txt"]);
}

#[cfg(unix)]
#[test]
fn symlink_leading_out_of_the_dir_is_refused() {
    let server = server::files([("/a.txt", b"alpha".to_vec()), ("/b.txt", b"beta".to_vec())]);
    let tmp = TempDir::new().unwrap();
    let outside = tmp.path().join("outside");
    std::fs::create_dir_all(tmp.path().join("out")).unwrap();
    std::fs::create_dir(&outside).unwrap();
    std::os::unix::fs::symlink(&outside, tmp.path().join("out/link")).unwrap();
    write_list(
        tmp.path(),
        "urls.txt",
        &[
            format!("{} out=link/a.txt", server.url("/a.txt")),
            server.url("/b.txt"),
        ],
    );

    let out = run(haul_in(tmp.path()).args(["-i", "urls.txt", "-d", "out"]));

    out.assert_code(1).assert_summary(1, 0, 1);
    assert!(
        out.stderr_lines()
            .any(|l| l.starts_with("haul: ") && l.contains("link/a.txt")),
        "the refusal should name link/a.txt\n{out}"
    );
    assert_tree_eq(&tree(&outside), &expected([]));
    // Refused when planned: `/a.txt` is never requested.
    assert_eq!(server.uris_sorted(), ["/b.txt"]);
}

#[test]
fn two_urls_for_one_destination_first_wins_later_fails() {
    let server = server::files([
        ("/a/x.txt", b"first".to_vec()),
        ("/b/x.txt", b"second".to_vec()),
    ]);
    let tmp = TempDir::new().unwrap();
    let first = server.url("/a/x.txt");
    let second = server.url("/b/x.txt");

    let out = run(haul_in(tmp.path()).args([&first, &second, "-d", "out"]));

    out.assert_code(1)
        .assert_stdout_empty()
        .assert_summary(1, 0, 1);
    out.assert_failure(&second, &["x.txt", &first]);
    assert_tree_eq(
        &tree(&tmp.path().join("out")),
        &expected([("x.txt", &b"first"[..])]),
    );
    // The later URL fails when planned, without a request.
    assert_eq!(server.uris_sorted(), ["/a/x.txt"]);
}

#[test]
fn existing_file_is_skipped_without_a_request() {
    let server = server::files([("/a.txt", b"new a".to_vec()), ("/b.txt", b"new b".to_vec())]);
    let tmp = TempDir::new().unwrap();
    write_file(tmp.path(), "out/a.txt", b"old a");

    let out =
        run(haul_in(tmp.path()).args([&server.url("/a.txt"), &server.url("/b.txt"), "-d", "out"]));

    out.assert_code(0)
        .assert_stdout_empty()
        .assert_summary(1, 1, 0);
    assert_eq!(server.uris_sorted(), ["/b.txt"]);
    assert_tree_eq(
        &tree(&tmp.path().join("out")),
        &expected([("a.txt", &b"old a"[..]), ("b.txt", b"new b")]),
    );
}

#[test]
fn on_exists_skip_explicitly_sends_nothing() {
    let server = server::files([("/a.txt", b"new a".to_vec())]).expect_no_hits();
    let tmp = TempDir::new().unwrap();
    write_file(tmp.path(), "out/a.txt", b"old a");

    let out =
        run(haul_in(tmp.path()).args([&server.url("/a.txt"), "--on-exists", "skip", "-d", "out"]));

    out.assert_code(0).assert_summary(0, 1, 0);
    assert_tree_eq(
        &tree(&tmp.path().join("out")),
        &expected([("a.txt", &b"old a"[..])]),
    );
}

#[test]
fn on_exists_overwrite_downloads_again() {
    let server = server::files([("/a.txt", b"new a".to_vec())]);
    let tmp = TempDir::new().unwrap();
    write_file(tmp.path(), "out/a.txt", b"old a, longer than the new one");

    let out = run(haul_in(tmp.path()).args([
        &server.url("/a.txt"),
        "--on-exists",
        "overwrite",
        "-d",
        "out",
    ]));

    out.assert_code(0).assert_summary(1, 0, 0);
    assert_eq!(server.hits(), 1);
    assert_tree_eq(
        &tree(&tmp.path().join("out")),
        &expected([("a.txt", &b"new a"[..])]),
    );
}

/// Contract, Output: `--content-disposition` uses the name the server
/// suggests, keeping only its last component (a hostile `../` is not
/// followed), in the folder the template chose.
#[test]
fn content_disposition_names_the_file_inside_the_dir() {
    let server = server::http(|req| async move {
        let name = match req.uri().query() {
            Some("id=1") => "attachment; filename=\"report.csv\"",
            _ => "attachment; filename=\"../../escape.txt\"",
        };
        server::with_header(server::ok("body"), "content-disposition", name)
    });
    let tmp = TempDir::new().unwrap();

    let out = run(haul_in(tmp.path()).args([
        &server.url("/download?id=1"),
        &server.url("/download?id=2"),
        "--content-disposition",
        "-o",
        "sub/{n}",
        "-d",
        "out",
    ]));

    out.assert_code(0);
    assert_tree_eq(
        &tree(tmp.path()),
        &expected([
            ("out/sub/report.csv", &b"body"[..]),
            ("out/sub/escape.txt", &b"body"[..]),
        ]),
    );
}

/// Contract, Output: haul sets a saved file's mtime from `Last-Modified`,
/// and `--on-exists update` sends it back as `If-Modified-Since`, keeping
/// the file on 304.
#[test]
fn update_sends_if_modified_since_and_keeps_the_file_on_304() {
    const DATE: &str = "Wed, 21 Oct 2015 07:28:00 GMT";
    let server = server::http(|req| async move {
        if req
            .headers()
            .get("if-modified-since")
            .is_some_and(|v| v == DATE)
        {
            return server::status(hyper::StatusCode::NOT_MODIFIED);
        }
        server::with_header(server::ok("fresh"), "last-modified", DATE)
    });
    let tmp = TempDir::new().unwrap();
    let url = server.url("/a.txt");

    run(haul_in(tmp.path()).args([&url, "-d", "out"])).assert_code(0);
    let saved = tmp.path().join("out/a.txt");
    let mtime = std::fs::metadata(&saved).unwrap().modified().unwrap();
    assert_eq!(httpdate::fmt_http_date(mtime), DATE);

    std::fs::write(&saved, "local copy").unwrap();
    let file = std::fs::File::options().write(true).open(&saved).unwrap();
    file.set_modified(mtime).unwrap();
    drop(file);
    let out = run(haul_in(tmp.path()).args([
        &url,
        "-d",
        "out",
        "--on-exists",
        "update",
        "--report",
        "-",
    ]));

    out.assert_code(0);
    assert_eq!(std::fs::read(&saved).unwrap(), b"local copy");
    let requests = server.requests();
    assert_eq!(requests.len(), 2, "{requests:?}");
    assert_eq!(requests[1].header("if-modified-since"), Some(DATE));
    assert_eq!(out.stdout_report()[0]["status"], "not_modified");
}
