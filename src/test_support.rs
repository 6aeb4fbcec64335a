//! What a unit test needs from the machine to check its promise: user
//! extended attributes on the temp folder (haul's resume note). Where they
//! are missing, the test says so on stderr and checks nothing more, unless
//! `HAUL_REQUIRE_XATTRS=1` (set by `.ci/run`): then the skip is a failure.
//! Every such skip in `src/` goes through here; the integration tests have
//! the same rule in `tests/support/require.rs`.

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
