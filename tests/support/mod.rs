//! Shared helpers for the integration tests: the `haul()` command builder with a
//! clean environment, a runner that kills a hung child after [`TIMEOUT`], list
//! and tree helpers for temporary directories, and small assertion helpers for
//! haul's stderr conventions (failure lines, the summary line) and `--report`.
//! For interruption and resource tests: [`spawn`] (signal or kill a running
//! child), [`limit_file_size`] (`RLIMIT_FSIZE`) and [`unanswered_port`] (a
//! connect that never completes). Where the machine lacks what a test needs
//! (user xattrs, a tool), [`require`] decides: a skip, or in CI a failure.
//!
//! It does not know any test scenario, and it never touches the real network:
//! the HTTP side lives in [`server`], which binds 127.0.0.1 only.

// Not every case uses every helper.
#![allow(dead_code)]

pub mod require;
pub mod server;
pub mod socks;

use std::collections::BTreeMap;
use std::fmt;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};

/// Upper bound for one run of the binary; after it the child is killed and the test fails.
pub const TIMEOUT: Duration = Duration::from_secs(60);

/// Environment variables that would change haul's behaviour behind a test's back.
const SCRUBBED_ENV: &[&str] = &[
    "RUST_LOG",
    "HTTP_PROXY",
    "HTTPS_PROXY",
    "ALL_PROXY",
    "NO_PROXY",
    "http_proxy",
    "https_proxy",
    "all_proxy",
    "no_proxy",
    "NETRC",
    "CLICOLOR_FORCE",
    "GITHUB_ACTIONS",
    "HAUL_CONFIG",
];

/// `HOME` and `XDG_CONFIG_HOME` for every run: a folder that does not
/// exist, so that no config file of the machine's user (nor their
/// `~/.netrc`) changes a test's flags. Tests of the config file set these
/// (or `HAUL_CONFIG`) themselves.
pub fn no_home() -> PathBuf {
    std::env::temp_dir().join("haul-tests-home-that-does-not-exist")
}

/// A `Command` for the built binary with a clean environment and a null stdin.
pub fn haul() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_haul"));
    for var in SCRUBBED_ENV {
        cmd.env_remove(var);
    }
    cmd.env("NO_COLOR", "1");
    cmd.env("HOME", no_home());
    cmd.env("XDG_CONFIG_HOME", no_home());
    cmd.stdin(Stdio::null());
    cmd
}

/// [`haul()`] running in `dir`, so relative `-d` and `-i` paths are predictable.
pub fn haul_in(dir: &Path) -> Command {
    let mut cmd = haul();
    cmd.current_dir(dir);
    cmd
}

/// What a finished run of the binary produced.
pub struct Output {
    pub status: ExitStatus,
    /// stdout as text (not UTF-8: replacement characters); the bytes are
    /// `stdout_bytes`.
    pub stdout: String,
    pub stdout_bytes: Vec<u8>,
    pub stderr: String,
    pub elapsed: Duration,
}

impl Output {
    /// The exit code (`None` when killed by a signal).
    pub fn code(&self) -> Option<i32> {
        self.status.code()
    }

    /// Panics with the full output unless the exit code is `code`.
    #[track_caller]
    pub fn assert_code(&self, code: i32) -> &Self {
        assert_eq!(self.code(), Some(code), "unexpected exit code\n{self}");
        self
    }

    #[track_caller]
    pub fn assert_stdout_empty(&self) -> &Self {
        assert!(self.stdout.is_empty(), "stdout should be empty\n{self}");
        self
    }

    pub fn stderr_lines(&self) -> impl Iterator<Item = &str> {
        self.stderr.lines()
    }

    /// The last non-empty stderr line: haul's summary.
    pub fn summary(&self) -> &str {
        self.stderr
            .lines()
            .rev()
            .find(|l| !l.trim().is_empty())
            .unwrap_or("")
    }

    /// Asserts the summary line says `N ok`, `N skipped` and `N failed`.
    #[track_caller]
    pub fn assert_summary(&self, ok: usize, skipped: usize, failed: usize) -> &Self {
        let summary = self.summary();
        for (n, word) in [(ok, "ok"), (skipped, "skipped"), (failed, "failed")] {
            assert!(
                has_count(summary, n, word),
                "summary should say `{n} {word}`: {summary:?}\n{self}"
            );
        }
        self
    }

    /// The stderr lines starting with `haul: ` that contain `needle`.
    pub fn failure_lines(&self, needle: &str) -> Vec<&str> {
        self.stderr
            .lines()
            .filter(|l| l.starts_with("haul: ") && l.contains(needle))
            .collect()
    }

    /// Asserts some `haul: ` stderr line contains `needle` and every one of
    /// `parts` (loosely: wording is the implementer's, the facts are not).
    #[track_caller]
    pub fn assert_failure(&self, needle: &str, parts: &[&str]) -> &Self {
        let lines = self.failure_lines(needle);
        assert!(
            !lines.is_empty(),
            "expected a `haul: ` stderr line containing {needle:?}\n{self}"
        );
        assert!(
            lines.iter().any(|l| parts.iter().all(|p| l.contains(p))),
            "no `haul: ` line containing {needle:?} also contains all of {parts:?}\n{self}"
        );
        self
    }

    /// stdout parsed as JSON Lines (`--report -`).
    #[track_caller]
    pub fn stdout_report(&self) -> Vec<serde_json::Value> {
        parse_json_lines(&self.stdout)
    }
}

impl fmt::Display for Output {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "--- status: {} ({:?})", self.status, self.elapsed)?;
        writeln!(f, "--- stdout:\n{}", self.stdout)?;
        write!(f, "--- stderr:\n{}", self.stderr)
    }
}

impl fmt::Debug for Output {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// True when `text` contains `"{n} {word}"` not preceded by a digit
/// (so `1 ok` does not match `11 ok`).
pub fn has_count(text: &str, n: usize, word: &str) -> bool {
    let needle = format!("{n} {word}");
    text.match_indices(&needle).any(|(i, _)| {
        let before_ok = !text[..i].ends_with(|c: char| c.is_ascii_digit());
        let after = &text[i + needle.len()..];
        let after_ok = !after.starts_with(|c: char| c.is_alphanumeric());
        before_ok && after_ok
    })
}

/// Runs `cmd` (stdin as configured, null by default) and waits at most [`TIMEOUT`].
#[track_caller]
pub fn run(cmd: &mut Command) -> Output {
    spawn(cmd).wait(TIMEOUT)
}

/// Like [`run`] with a custom bound, for tests that expect a quicker finish.
#[track_caller]
pub fn run_with_timeout(cmd: &mut Command, timeout: Duration) -> Output {
    spawn(cmd).wait(timeout)
}

/// Runs `cmd` with `input` on its stdin and waits at most [`TIMEOUT`].
#[track_caller]
pub fn run_with_stdin(cmd: &mut Command, input: &[u8]) -> Output {
    let child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("failed to spawn haul");
    Running::new(child, Some(input.to_vec()), format!("{cmd:?}")).wait(TIMEOUT)
}

/// Starts `cmd` (stdin as configured, null by default) without waiting, for
/// tests that signal or kill the child mid-run. Its stdout and stderr are
/// drained on their own threads.
#[track_caller]
pub fn spawn(cmd: &mut Command) -> Running {
    let child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("failed to spawn haul");
    Running::new(child, None, format!("{cmd:?}"))
}

/// A running child whose output is being collected; see [`spawn`].
pub struct Running {
    child: Child,
    what: String,
    start: Instant,
    stdin: Option<thread::JoinHandle<()>>,
    stdout: Option<thread::JoinHandle<Vec<u8>>>,
    stderr: Option<thread::JoinHandle<Vec<u8>>>,
}

impl Running {
    fn new(mut child: Child, input: Option<Vec<u8>>, what: String) -> Self {
        let start = Instant::now();
        // Feed stdin and drain stdout/stderr on their own threads so a full pipe
        // can never deadlock the child against this thread.
        let stdin = child.stdin.take().map(|mut pipe| {
            let input = input.unwrap_or_default();
            thread::spawn(move || {
                // The child may exit before reading everything; that is not our failure.
                let _ = pipe.write_all(&input);
            })
        });
        let stdout = Some(drain(child.stdout.take().expect("piped stdout")));
        let stderr = Some(drain(child.stderr.take().expect("piped stderr")));
        Running {
            child,
            what,
            start,
            stdin,
            stdout,
            stderr,
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Time since the child was started.
    pub fn elapsed(&self) -> Duration {
        self.start.elapsed()
    }

    /// True once the child has exited (it is reaped; [`Running::wait`] still reports it).
    pub fn has_exited(&mut self) -> bool {
        self.child
            .try_wait()
            .expect("failed to poll haul")
            .is_some()
    }

    /// Sends `signal` (`libc::SIGINT`, ...) to the child, which must still be running.
    #[cfg(unix)]
    #[track_caller]
    pub fn signal(&mut self, signal: libc::c_int) {
        assert!(
            !self.has_exited(),
            "haul exited before it could be signalled: {}",
            self.what
        );
        // The child is unreaped (checked above), so the pid is still ours.
        let pid = rustix::process::Pid::from_child(&self.child);
        let sig = rustix::process::Signal::from_named_raw(signal).expect("a named signal");
        rustix::process::kill_process(pid, sig)
            .unwrap_or_else(|e| panic!("kill({pid:?}, {signal}) failed: {e}"));
    }

    /// Kills the child with SIGKILL (a crash, as far as haul can tell) and collects its output.
    pub fn kill(mut self) -> Output {
        let _ = self.child.kill();
        self.finish(None)
    }

    /// Waits for the child to exit, at most `timeout` from its start; after
    /// that it is killed and the test fails.
    #[track_caller]
    pub fn wait(mut self, timeout: Duration) -> Output {
        loop {
            match self.child.try_wait().expect("failed to wait for haul") {
                Some(status) => return self.finish(Some(status)),
                None if self.start.elapsed() > timeout => {
                    let _ = self.child.kill();
                    let _ = self.child.wait();
                    let stderr = self.stderr.take().map(|h| h.join().unwrap_or_default());
                    let stderr = String::from_utf8_lossy(&stderr.unwrap_or_default()).into_owned();
                    panic!(
                        "haul did not finish within {timeout:?}: {}\n--- stderr:\n{stderr}",
                        self.what
                    );
                }
                None => thread::sleep(Duration::from_millis(10)),
            }
        }
    }

    fn finish(mut self, status: Option<ExitStatus>) -> Output {
        let status = match status {
            Some(status) => status,
            None => self.child.wait().expect("failed to wait for haul"),
        };
        let elapsed = self.start.elapsed();
        if let Some(handle) = self.stdin.take() {
            let _ = handle.join();
        }
        let collect = |pipe: &mut Option<thread::JoinHandle<Vec<u8>>>| {
            let bytes = pipe.take().expect("output collected once").join();
            bytes.expect("pipe reader")
        };
        let stdout_bytes = collect(&mut self.stdout);
        let stderr = String::from_utf8(collect(&mut self.stderr)).expect("stderr is UTF-8");
        Output {
            status,
            stdout: String::from_utf8_lossy(&stdout_bytes).into_owned(),
            stdout_bytes,
            stderr,
            elapsed,
        }
    }
}

impl Drop for Running {
    /// A test that panics with the child still running must not leave it behind.
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Makes `cmd`'s child unable to grow any file past `bytes` (`RLIMIT_FSIZE`),
/// with `SIGXFSZ` ignored so an oversized write fails with `EFBIG` ("File too
/// large") instead of killing the process: a disk that fills up, for one file.
///
/// `unsafe` stays here (and in [`limit_open_files`]): `pre_exec` is unsafe
/// by its signature (the closure runs between fork and exec), and no safe
/// API sets a signal's disposition (rustix's `sigaction` is unsafe too).
#[cfg(unix)]
pub fn limit_file_size(cmd: &mut Command, bytes: u64) -> &mut Command {
    use std::os::unix::process::CommandExt;
    let limit = rustix::process::Rlimit {
        current: Some(bytes),
        maximum: Some(bytes),
    };
    // SAFETY: between fork and exec only async-signal-safe calls are allowed;
    // setrlimit(2) and signal(2) are, and the closure allocates nothing
    // (`limit` is copied in; an error is a bare errno).
    unsafe {
        cmd.pre_exec(move || {
            rustix::process::setrlimit(rustix::process::Resource::Fsize, limit)?;
            if libc::signal(libc::SIGXFSZ, libc::SIG_IGN) == libc::SIG_ERR {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        })
    }
}

/// Makes `cmd`'s child unable to hold more than `n` open files at once
/// (`RLIMIT_NOFILE`, as `ulimit -n N` does): past it, `open`, `socket` and
/// `accept` fail with `EMFILE`.
///
/// `unsafe` only because `pre_exec` is (see [`limit_file_size`]).
#[cfg(unix)]
pub fn limit_open_files(cmd: &mut Command, n: u64) -> &mut Command {
    use std::os::unix::process::CommandExt;
    let limit = rustix::process::Rlimit {
        current: Some(n),
        maximum: Some(n),
    };
    // SAFETY: between fork and exec only async-signal-safe calls are
    // allowed; setrlimit(2) is, and the closure allocates nothing.
    unsafe {
        cmd.pre_exec(move || {
            rustix::process::setrlimit(rustix::process::Resource::Nofile, limit)?;
            Ok(())
        })
    }
}

/// Makes a FIFO at `path` with permission bits `mode`.
#[cfg(unix)]
#[track_caller]
pub fn mkfifo(path: &Path, mode: u32) {
    #[cfg(not(target_vendor = "apple"))]
    let made = rustix::fs::mkfifoat(
        rustix::fs::CWD,
        path,
        rustix::fs::Mode::from_raw_mode(mode as rustix::fs::RawMode),
    )
    .map_err(std::io::Error::from);
    // rustix has no mkfifoat(2) for Apple targets: mkfifo(1) there.
    #[cfg(target_vendor = "apple")]
    let made = Command::new("mkfifo")
        .arg("-m")
        .arg(format!("{mode:o}"))
        .arg(path)
        .status()
        .and_then(|status| match status.success() {
            true => Ok(()),
            false => Err(std::io::Error::other(format!("mkfifo: {status}"))),
        });
    made.unwrap_or_else(|e| panic!("mkfifo {}: {e}", path.display()));
}

/// Polls `cond` every 10 ms until it holds; panics naming `what` after `timeout`.
#[track_caller]
pub fn wait_for(timeout: Duration, what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !cond() {
        assert!(
            Instant::now() < deadline,
            "gave up after {timeout:?} waiting for {what}"
        );
        thread::sleep(Duration::from_millis(10));
    }
}

fn drain(mut pipe: impl Read + Send + 'static) -> thread::JoinHandle<Vec<u8>> {
    thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = pipe.read_to_end(&mut buf);
        buf
    })
}

/// Writes `lines` joined with `\n` (and a final `\n`) to `dir/name`; returns the path.
pub fn write_list(dir: &Path, name: &str, lines: &[String]) -> PathBuf {
    let mut text = lines.join("\n");
    text.push('\n');
    write_file(dir, name, text.as_bytes())
}

/// Runs `haul -i urls.txt -d out` in `dir` (the list as [`write_list`] writes it).
pub fn run_list_in(dir: &Path) -> Output {
    run(haul_in(dir).args(["-i", "urls.txt", "-d", "out"]))
}

/// Writes `bytes` to `dir/rel`, creating folders; returns the path.
pub fn write_file(dir: &Path, rel: &str, bytes: &[u8]) -> PathBuf {
    let path = dir.join(rel);
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).expect("create parent dir");
    }
    std::fs::write(&path, bytes).expect("write file");
    path
}

/// Every regular file under `dir` (recursively, symlinks not followed), keyed by
/// its `/`-separated path relative to `dir`. `.part` files are included, so a test
/// can assert that nothing else was written. A missing `dir` is an empty tree.
pub fn tree(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut out = BTreeMap::new();
    if dir.exists() {
        walk(dir, dir, &mut out);
    }
    out
}

fn walk(root: &Path, dir: &Path, out: &mut BTreeMap<String, Vec<u8>>) {
    for entry in std::fs::read_dir(dir).expect("read_dir") {
        let entry = entry.expect("dir entry");
        let path = entry.path();
        let kind = entry.file_type().expect("file type");
        if kind.is_dir() {
            walk(root, &path, out);
        } else if kind.is_file() {
            let rel = path
                .strip_prefix(root)
                .expect("under root")
                .components()
                .map(|c| c.as_os_str().to_string_lossy().into_owned())
                .collect::<Vec<_>>()
                .join("/");
            out.insert(rel, std::fs::read(&path).expect("read file"));
        }
    }
}

/// Builds the expected tree from `(relative path, bytes)` pairs.
pub fn expected<'a>(
    files: impl IntoIterator<Item = (&'a str, &'a [u8])>,
) -> BTreeMap<String, Vec<u8>> {
    files
        .into_iter()
        .map(|(p, b)| (p.to_string(), b.to_vec()))
        .collect()
}

/// Asserts two trees are equal, showing names and sizes (not megabytes of bytes) on failure.
#[track_caller]
pub fn assert_tree_eq(actual: &BTreeMap<String, Vec<u8>>, expected: &BTreeMap<String, Vec<u8>>) {
    if actual != expected {
        let show = |t: &BTreeMap<String, Vec<u8>>| {
            t.iter()
                .map(|(k, v)| format!("  {k} ({} bytes, sha256 {})", v.len(), sha256_hex(v)))
                .collect::<Vec<_>>()
                .join("\n")
        };
        panic!(
            "file trees differ\n--- actual:\n{}\n--- expected:\n{}",
            show(actual),
            show(expected)
        );
    }
}

/// Asserts that `dir/out` (haul's `-d out` in these tests) holds exactly
/// `files`, as [`assert_tree_eq`] does.
#[track_caller]
pub fn assert_out_holds<'a>(dir: &Path, files: impl IntoIterator<Item = (&'a str, &'a [u8])>) {
    assert_tree_eq(&tree(&dir.join("out")), &expected(files));
}

/// Asserts that `tree` has no file under the final name `name`, and that a
/// leftover `name.part` (allowed) is non-empty and a prefix of `full` (never
/// bytes from anywhere else).
#[track_caller]
pub fn assert_no_final_file(tree: &BTreeMap<String, Vec<u8>>, name: &str, full: &[u8]) {
    assert!(
        !tree.contains_key(name),
        "{name} must not exist under its final name; tree: {:?}",
        tree.keys().collect::<Vec<_>>()
    );
    if let Some(part) = tree.get(&format!("{name}.part")) {
        assert!(!part.is_empty(), "{name}.part may remain only if non-empty");
        assert!(
            full.starts_with(part),
            "{name}.part ({} bytes) is not a prefix of the resource",
            part.len()
        );
    }
}

/// Lowercase hex SHA-256 of `bytes`.
pub fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Deterministic, distinct-looking bytes (an LCG), so files differ from each other.
pub fn pseudo_random(seed: u64, len: usize) -> Vec<u8> {
    let mut state = seed
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    (0..len)
        .map(|_| {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (state >> 33) as u8
        })
        .collect()
}

/// Parses JSON Lines, panicking with the offending line.
#[track_caller]
pub fn parse_json_lines(text: &str) -> Vec<serde_json::Value> {
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not a JSON line ({e}): {l:?}")))
        .collect()
}

/// The keys every `--report` record carries.
pub const REPORT_KEYS: &[&str] = &[
    "url",
    "path",
    "status",
    "http_status",
    "bytes",
    "size",
    "sha256",
    "attempts",
    "elapsed_ms",
    "error",
];

/// The report record whose `url` is `url`; panics unless there is exactly one.
#[track_caller]
pub fn record<'a>(records: &'a [serde_json::Value], url: &str) -> &'a serde_json::Value {
    let found: Vec<_> = records.iter().filter(|r| r["url"] == url).collect();
    assert!(
        found.len() == 1,
        "expected one report record for {url}, found {}: {records:#?}",
        found.len()
    );
    found[0]
}

#[test]
fn has_count_matches_whole_numbers_only() {
    let summary = "11 ok, 0 skipped, 1 failed, 1.2 KiB in 0.1s (12 KiB/s)";
    assert!(has_count(summary, 11, "ok"));
    assert!(!has_count(summary, 1, "ok"));
    assert!(has_count(summary, 0, "skipped"));
    assert!(has_count(summary, 1, "failed"));
    assert!(!has_count(summary, 10, "failed"));
    assert!(!has_count("1 okay", 1, "ok"));
}

#[cfg(unix)]
#[test]
#[should_panic(expected = "did not finish")]
fn a_hung_child_is_killed_and_fails_the_test() {
    run_with_timeout(Command::new("sleep").arg("30"), Duration::from_millis(200));
}

/// A port on 127.0.0.1 where a connection attempt is never answered: the
/// listener's accept queue is full, so the kernel drops new SYNs and a client
/// waits until its connect timeout.
#[cfg(unix)]
pub struct Unanswered {
    _listener: std::net::TcpListener,
    _queued: Vec<std::net::TcpStream>,
    pub port: u16,
}

#[cfg(unix)]
pub fn unanswered_port() -> Unanswered {
    let listener = std::net::TcpListener::bind(("127.0.0.1", 0)).expect("bind 127.0.0.1:0");
    // A second listen(2) shrinks the backlog to its minimum; nothing is ever accepted.
    rustix::net::listen(&listener, 0).expect("listen(fd, 0) failed");
    let addr = listener.local_addr().expect("local_addr");
    let mut queued = Vec::new();
    loop {
        match std::net::TcpStream::connect_timeout(&addr, Duration::from_millis(200)) {
            Ok(stream) => {
                queued.push(stream);
                assert!(queued.len() < 16, "the accept queue never filled up");
            }
            Err(err) if err.kind() == std::io::ErrorKind::TimedOut => break,
            Err(err) => panic!("filling the accept queue: {err}"),
        }
    }
    Unanswered {
        _listener: listener,
        _queued: queued,
        port: addr.port(),
    }
}
