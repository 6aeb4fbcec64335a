//! What a test needs from the machine to check its promise: user extended
//! attributes on the temp folder (haul's resume note), or a tool such as
//! `script(1)`. Where it is missing, the test says so on stderr and checks
//! nothing more, unless the variable that requires it is set to `1`
//! ([`XATTRS`], [`TOOLS`]): then the skip is a failure. `.ci/run` sets
//! both, so CI never passes a promise it did not check.
//!
//! Every such skip goes through here; the unit tests in `src/` have the
//! same rule in `src/test_support.rs`.

use std::path::Path;
use std::process::{Command, Stdio};

/// Set to `1`, a file system without user xattrs fails the tests that
/// need them instead of skipping them.
pub const XATTRS: &str = "HAUL_REQUIRE_XATTRS";

/// Set to `1`, a missing tool (`script(1)`) fails the tests that run it
/// instead of skipping them.
pub const TOOLS: &str = "HAUL_REQUIRE_TOOLS";

/// Whether the file system under `dir` keeps user extended attributes (a
/// probe file is written there and removed). Where it does not, says that
/// `unchecked` is not checked, or fails under [`XATTRS`]`=1`.
#[cfg(unix)]
#[track_caller]
pub fn xattrs(dir: &Path, unchecked: &str) -> bool {
    let probe = dir.join("xattr-probe");
    let file = std::fs::File::create(&probe).unwrap();
    let ok =
        rustix::fs::fsetxattr(&file, "user.probe", b"1", rustix::fs::XattrFlags::empty()).is_ok();
    std::fs::remove_file(probe).unwrap();
    ok || lacking(
        XATTRS,
        &format!("no user xattrs under {}", dir.display()),
        unchecked,
    )
}

/// Whether `tool` runs here (`tool --version` starts). Where it does
/// not, says that `unchecked` is not checked, or fails under [`TOOLS`]`=1`.
#[track_caller]
pub fn tool(tool: &str, unchecked: &str) -> bool {
    let found = Command::new(tool)
        .arg("--version")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok();
    found || lacking(TOOLS, &format!("no {tool} here"), unchecked)
}

/// A skip: `false`, having said why on stderr; a failure when `var` is `1`.
#[track_caller]
fn lacking(var: &str, lack: &str, unchecked: &str) -> bool {
    if std::env::var_os(var).is_some_and(|v| v == "1") {
        panic!("{lack}, and {var}=1 requires it: {unchecked} would go unchecked");
    }
    eprintln!("skipped: {lack}: {unchecked} is not checked ({var}=1 makes this a failure)");
    false
}
