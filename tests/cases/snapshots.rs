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

/// Issue 17: a constant placed between the `Cli` doc comment and the struct
/// took clap's `about`, and `--help`, `-h` and the man page lost the line
/// saying what haul is, with the snapshots above recording the loss. The
/// description is the first thing each of them prints (`-h` and the man
/// page's NAME line without the final period: clap drops it from `about`).
#[test]
fn help_opens_with_what_haul_is() {
    const ABOUT: &str = "Download many URLs at once, safely";
    for flag in ["--help", "-h"] {
        let out = run(haul().env("COLUMNS", "100").arg(flag));
        out.assert_code(0);
        let first = out.stdout.lines().next().map(|l| l.trim_end_matches('.'));
        assert_eq!(first, Some(ABOUT), "{flag}: {out}");
    }
    let long = run(haul().env("COLUMNS", "100").arg("--help"));
    assert!(
        long.stdout
            .contains("\nhaul reads URLs from arguments, list files, standard input"),
        "--help has the paragraph after the first line: {long}"
    );
    let man = run(haul().arg("--man"));
    man.assert_code(0);
    assert!(
        man.stdout.contains(&format!("haul \\- {ABOUT}")),
        "the man page's NAME line: {man}"
    );
}
