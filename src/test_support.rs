//! Helpers for the unit tests. What a test needs from the machine to check
//! its promise: user extended attributes on the temp folder (haul's resume
//! note). Where they are missing, the test says so on stderr and checks
//! nothing more, unless `HAUL_REQUIRE_XATTRS=1` (set by `.ci/run`): then
//! the skip is a failure. Every such skip in `src/` goes through here; the
//! integration tests have the same rule in `tests/support/require.rs`.
//! And [`mkfifo`], for the tests of what haul does with a FIFO.

use std::path::Path;

/// Set to `1`, a file system without user xattrs fails the tests that
/// need them instead of skipping them.
const XATTRS: &str = "HAUL_REQUIRE_XATTRS";

/// Whether the file system under `dir` keeps user extended attributes (a
/// probe file is written there and removed). Where it does not, says that
/// `unchecked` is not checked, or fails under `HAUL_REQUIRE_XATTRS=1`.
#[track_caller]
pub(crate) fn xattrs(dir: &Path, unchecked: &str) -> bool {
    let probe = dir.join("xattr-probe");
    let file = std::fs::File::create(&probe).unwrap();
    let ok =
        rustix::fs::fsetxattr(&file, "user.probe", b"1", rustix::fs::XattrFlags::empty()).is_ok();
    std::fs::remove_file(probe).unwrap();
    if ok {
        return true;
    }
    let lack = format!("no user xattrs under {}", dir.display());
    if std::env::var_os(XATTRS).is_some_and(|v| v == "1") {
        panic!("{lack}, and {XATTRS}=1 requires them: {unchecked} would go unchecked");
    }
    eprintln!("skipped: {lack}: {unchecked} is not checked ({XATTRS}=1 makes this a failure)");
    false
}

/// Makes a FIFO at `path` with permission bits `mode`.
#[track_caller]
pub(crate) fn mkfifo(path: &Path, mode: u32) {
    #[cfg(not(target_vendor = "apple"))]
    let made = rustix::fs::mkfifoat(
        rustix::fs::CWD,
        path,
        rustix::fs::Mode::from_raw_mode(mode as rustix::fs::RawMode),
    )
    .map_err(std::io::Error::from);
    // rustix has no mkfifoat(2) for Apple targets: mkfifo(1) there.
    #[cfg(target_vendor = "apple")]
    let made = std::process::Command::new("mkfifo")
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
