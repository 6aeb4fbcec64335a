//! What users read, pinned: `--help`, `-h` and the main usage and input
//! error messages, at a fixed width (clap wraps to `COLUMNS`). A change in
//! any of them shows as a snapshot diff to review (`cargo insta review`, or
//! `INSTA_UPDATE=always cargo test` and a look at the diff).

use crate::support::{haul, run};

/// `haul ARGS` at 100 columns: exit code, stdout and stderr in one text.
fn shown(args: &[&str]) -> String {
    let out = run(haul().env("COLUMNS", "100").args(args));
    format!(
        "exit: {:?}\n--- stdout\n{}--- stderr\n{}",
        out.code(),
        out.stdout,
        out.stderr
    )
}

#[test]
fn help_long() {
    insta::assert_snapshot!(shown(&["--help"]));
}

#[test]
fn help_short() {
    insta::assert_snapshot!(shown(&["-h"]));
}

#[test]
fn usage_errors() {
    let cases = [
        shown(&[]),
        shown(&["--on-exists", "sometimes", "http://h/"]),
        shown(&["http://h/a[1-x].txt"]),
        shown(&["-i", "https://h/list.txt"]),
        shown(&["--rate", "fast", "http://h/"]),
        shown(&["--limit-rate", "1.5X", "http://h/"]),
        shown(&["--shard", "3/2", "http://h/"]),
        shown(&["--list"]),
    ];
    insta::assert_snapshot!(cases.join("\n=====\n"));
}
