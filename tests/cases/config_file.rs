//! The config file (`HAUL_CONFIG`, else `$XDG_CONFIG_HOME/haul/config`,
//! else `~/.config/haul/config`): its flags reach the server; a
//! single-value flag on the command line wins and repeatable ones add up;
//! `--no-config` (and `--help`) skip it unread; a bad line is a usage error
//! naming `FILE:LINE` before anything is fetched; a `HAUL_CONFIG` that
//! cannot be read is one naming it, promptly, never a hang; a file others
//! can read gets a warning.
//!
//! Not here: the word splitting and each refusal's wording (unit tests in
//! `src/config/file.rs`).

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use tempfile::TempDir;

use crate::support::server::{self, Server};
use crate::support::{Output, haul_in, mkfifo, run_with_stdin, run_with_timeout, write_file};

/// The bound of every run here: none of them has much to do.
const QUICK: Duration = Duration::from_secs(20);

/// Writes `text` as a config file at `rel` under `dir`, mode 0600.
fn config(dir: &Path, rel: &str, text: &str) -> PathBuf {
    let path = write_file(dir, rel, text.as_bytes());
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
    path
}

fn one_file() -> Server {
    server::files([("/a", b"a".to_vec())])
}

/// `cmd` fetching `/a` from `server` into `out` (again, when a test runs
/// it more than once), with `extra`.
fn fetch(cmd: &mut Command, server: &Server, extra: &[&str]) -> Output {
    run_with_timeout(
        cmd.arg(server.url("/a"))
            .args(["-d", "out", "--on-exists", "overwrite"])
            .args(extra),
        QUICK,
    )
}

/// The one request's `name` header.
fn sent(server: &Server, name: &str) -> Option<String> {
    let requests = server.requests();
    assert_eq!(requests.len(), 1, "{:?}", server.uris_sorted());
    requests[0].header(name).map(str::to_string)
}

#[test]
fn haul_config_flags_reach_the_server_comments_and_blank_lines_skipped() {
    let tmp = TempDir::new().unwrap();
    let file = config(
        tmp.path(),
        "my.conf",
        "# haul's defaults\n\n   \n  --user-agent \"from the file\"  # why\n\t# -A commented\n-H 'X-Config: yes it is'\r\n--retries 0\n",
    );
    let server = one_file();
    let out = fetch(haul_in(tmp.path()).env("HAUL_CONFIG", &file), &server, &[]);
    out.assert_code(0).assert_summary(1, 0, 0);
    assert_eq!(
        sent(&server, "user-agent").as_deref(),
        Some("from the file")
    );
    assert_eq!(sent(&server, "x-config").as_deref(), Some("yes it is"));
    assert!(!out.stderr.contains("warning"), "{out}");
}

#[test]
fn the_file_is_found_under_xdg_config_home_then_home() {
    let tmp = TempDir::new().unwrap();
    config(tmp.path(), "xdg/haul/config", "-A from-xdg\n");
    config(tmp.path(), "home/.config/haul/config", "-A from-home\n");
    let xdg = tmp.path().join("xdg");
    let home = tmp.path().join("home");

    let server = one_file();
    let out = fetch(
        haul_in(tmp.path())
            .env("XDG_CONFIG_HOME", &xdg)
            .env("HOME", &home),
        &server,
        &[],
    );
    out.assert_code(0);
    assert_eq!(sent(&server, "user-agent").as_deref(), Some("from-xdg"));

    let server = one_file();
    let out = fetch(
        haul_in(tmp.path())
            .env_remove("XDG_CONFIG_HOME")
            .env("HOME", &home),
        &server,
        &[],
    );
    out.assert_code(0);
    assert_eq!(sent(&server, "user-agent").as_deref(), Some("from-home"));

    // HAUL_CONFIG wins over both; empty, it means no config file at all.
    let own = config(tmp.path(), "own", "-A from-haul-config\n");
    for (value, want) in [
        (own.as_os_str(), "from-haul-config"),
        (std::ffi::OsStr::new(""), "haul/"),
    ] {
        let server = one_file();
        let out = fetch(
            haul_in(tmp.path())
                .env("HAUL_CONFIG", value)
                .env("XDG_CONFIG_HOME", &xdg)
                .env("HOME", &home),
            &server,
            &[],
        );
        out.assert_code(0);
        let agent = sent(&server, "user-agent").unwrap();
        assert!(agent.starts_with(want), "{value:?}: {agent}\n{out}");
    }
}

#[test]
fn the_command_line_wins_a_single_value_flag_and_headers_add_up() {
    let tmp = TempDir::new().unwrap();
    let file = config(
        tmp.path(),
        "config",
        "--user-agent file-agent\n-H 'X-From-File: 1'\n-H 'Authorization: Bearer file-token'\n",
    );
    let server = one_file();
    let out = fetch(
        haul_in(tmp.path()).env("HAUL_CONFIG", &file),
        &server,
        &[
            "--user-agent",
            "cli-agent",
            "-H",
            "X-From-Cli: 2",
            "-H",
            "authorization: Bearer cli-token",
        ],
    );
    out.assert_code(0);
    assert_eq!(sent(&server, "user-agent").as_deref(), Some("cli-agent"));
    assert_eq!(sent(&server, "x-from-file").as_deref(), Some("1"));
    assert_eq!(sent(&server, "x-from-cli").as_deref(), Some("2"));
    // A header the command line names replaces the file's: one token.
    let tokens: Vec<_> = server.requests()[0]
        .headers
        .get_all("authorization")
        .iter()
        .map(|v| v.to_str().unwrap().to_string())
        .collect();
    assert_eq!(tokens, ["Bearer cli-token"]);
}

#[test]
fn no_config_and_help_ignore_a_broken_file() {
    let tmp = TempDir::new().unwrap();
    let broken = config(tmp.path(), "broken", "--frobnicate\n");
    let missing = tmp.path().join("missing");
    for file in [&broken, &missing] {
        // Without it the file is read, and refused.
        let server = one_file().expect_no_hits();
        let out = fetch(haul_in(tmp.path()).env("HAUL_CONFIG", file), &server, &[]);
        out.assert_code(2);
        out.assert_failure(&file.display().to_string(), &["error"]);

        let server = one_file();
        let out = fetch(
            haul_in(tmp.path()).env("HAUL_CONFIG", file),
            &server,
            &["--no-config"],
        );
        out.assert_code(0).assert_summary(1, 0, 0);
        let agent = sent(&server, "user-agent").unwrap();
        assert!(agent.starts_with("haul/"), "{agent}");

        let out = run_with_timeout(
            haul_in(tmp.path()).env("HAUL_CONFIG", file).arg("--help"),
            QUICK,
        );
        out.assert_code(0);
        assert!(out.stdout.contains("--no-config"), "{out}");
    }
}

#[test]
fn a_bad_line_is_a_usage_error_naming_file_and_line_and_nothing_is_fetched() {
    let cases = [
        ("--frobnicate", "--frobnicate"),
        ("--jobs 0", "--jobs"),
        ("--retries lots", "--retries"),
        ("http://127.0.0.1:9/elsewhere", "only flags"),
        ("-", "only flags"),
        ("-A 'not closed", "quote"),
        ("--no-config", "command line"),
    ];
    for (line, why) in cases {
        let tmp = TempDir::new().unwrap();
        let file = config(
            tmp.path(),
            "config",
            &format!("# ok\n-k\n{line}\n-A fine\n"),
        );
        let server = one_file().expect_no_hits();
        let out = fetch(haul_in(tmp.path()).env("HAUL_CONFIG", &file), &server, &[]);
        out.assert_code(2);
        let at = format!("{}:3:", file.display());
        out.assert_failure(&at, &["error", why]);
        assert!(!tmp.path().join("out").exists(), "{line}: {out}");
    }
}

#[test]
fn a_haul_config_that_cannot_be_read_is_a_usage_error_naming_it_promptly() {
    let tmp = TempDir::new().unwrap();
    let folder = tmp.path().join("folder");
    std::fs::create_dir(&folder).unwrap();
    for file in [
        tmp.path().join("missing"),
        folder,
        PathBuf::from("/dev/zero"),
    ] {
        let server = one_file().expect_no_hits();
        let out = fetch(haul_in(tmp.path()).env("HAUL_CONFIG", &file), &server, &[]);
        out.assert_code(2);
        out.assert_failure(&file.display().to_string(), &["HAUL_CONFIG"]);
        assert!(out.elapsed < Duration::from_secs(10), "{out}");
    }
}

/// A pipe is read to its writer's end (`HAUL_CONFIG=<(...)` in a shell); a
/// FIFO nobody writes to is an empty file, not a hang.
#[test]
fn a_pipe_is_read_to_its_end_and_a_fifo_without_a_writer_does_not_hang() {
    let tmp = TempDir::new().unwrap();
    let server = one_file();
    let out = run_with_stdin(
        haul_in(tmp.path())
            .env("HAUL_CONFIG", "/dev/stdin")
            .args([&server.url("/a"), "-d", "out"]),
        b"-A from-a-pipe\n",
    );
    out.assert_code(0);
    assert_eq!(sent(&server, "user-agent").as_deref(), Some("from-a-pipe"));

    let fifo = tmp.path().join("fifo");
    mkfifo(&fifo, 0o600);
    let server = one_file();
    let out = fetch(haul_in(tmp.path()).env("HAUL_CONFIG", &fifo), &server, &[]);
    out.assert_code(0).assert_summary(1, 0, 0);
}

#[test]
fn a_file_others_can_read_gets_a_warning_unless_quiet() {
    let tmp = TempDir::new().unwrap();
    let file = config(tmp.path(), "config", "-A from-the-file\n");
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).unwrap();
    let shown = file.display().to_string();

    let server = one_file();
    let out = fetch(haul_in(tmp.path()).env("HAUL_CONFIG", &file), &server, &[]);
    out.assert_code(0);
    out.assert_failure("warning", &[&shown, "chmod 600"]);
    assert_eq!(
        sent(&server, "user-agent").as_deref(),
        Some("from-the-file")
    );

    let server = one_file();
    let out = fetch(
        haul_in(tmp.path()).env("HAUL_CONFIG", &file),
        &server,
        &["-q"],
    );
    out.assert_code(0);
    assert!(!out.stderr.contains("warning"), "{out}");

    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600)).unwrap();
    let server = one_file();
    let out = fetch(haul_in(tmp.path()).env("HAUL_CONFIG", &file), &server, &[]);
    out.assert_code(0);
    assert!(!out.stderr.contains("warning"), "{out}");
}
