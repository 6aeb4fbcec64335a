//! `--completions SHELL` and `--man`: generated from the same definition as
//! the flags, printed to stdout with exit 0 and no URL needed; every flag
//! appears in each.

use clap::CommandFactory;
use haul::Cli;

use crate::support::{haul, run};

/// Every long flag the binary accepts.
fn long_flags() -> Vec<String> {
    Cli::command()
        .get_arguments()
        .filter_map(|a| a.get_long().map(str::to_string))
        .collect()
}

#[test]
fn completions_name_every_flag() {
    let flags = long_flags();
    assert!(flags.len() > 30, "{flags:?}");
    for shell in ["bash", "zsh", "fish", "powershell", "elvish"] {
        let out = run(haul().args(["--completions", shell]));
        out.assert_code(0);
        assert!(out.stderr.is_empty(), "{shell}: {out}");
        for flag in &flags {
            assert!(
                out.stdout.contains(flag.as_str()),
                "{shell}: --{flag} missing"
            );
        }
    }
    let bad = run(haul().args(["--completions", "cmd.exe"]));
    bad.assert_code(2);
    assert!(bad.stderr.contains("bash"), "lists the shells: {bad}");
}

#[test]
fn the_man_page_documents_every_flag() {
    let out = run(haul().arg("--man"));
    out.assert_code(0);
    assert!(
        out.stdout.starts_with(".ie") || out.stdout.contains(".TH haul 1"),
        "{out}"
    );
    for flag in long_flags() {
        // roff escapes the dashes: \-\-flag.
        let escaped = format!("\\-\\-{}", flag.replace('-', "\\-"));
        assert!(
            out.stdout.contains(&escaped),
            "--{flag} missing from the man page"
        );
    }
}

/// `--help` is grouped by what users look for and ends with examples; `-h`
/// has the same groups, one line a flag, and no examples.
#[test]
fn help_is_grouped_and_ends_with_examples() {
    let long = run(haul().arg("--help"));
    long.assert_code(0);
    let headings = [
        "Input:",
        "Output:",
        "Concurrency and politeness:",
        "Reliability:",
        "HTTP:",
        "Reporting:",
        "Examples:",
    ];
    let mut at = 0;
    for heading in headings {
        let found = long.stdout[at..]
            .find(&format!("\n{heading}\n"))
            .unwrap_or_else(|| panic!("{heading} missing or out of order:\n{}", long.stdout));
        at += found + 1;
    }
    let short = run(haul().arg("-h"));
    short.assert_code(0);
    assert!(short.stdout.contains("\nReliability:\n"), "{short}");
    assert!(!short.stdout.contains("Examples:"), "{short}");
    assert!(short.stdout.lines().count() < long.stdout.lines().count() / 2);
}
