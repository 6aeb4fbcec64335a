//! The config file: flags haul adds before the command line's own, one
//! flag a line as it would be typed (`--jobs 32`, `-H 'X-A: b'`), so that a
//! cron job or a user's habits need not repeat them. It is
//! `$HAUL_CONFIG` (which must exist; empty means none), else
//! `$XDG_CONFIG_HOME/haul/config`, else `$HOME/.config/haul/config` (a
//! missing default file is no config). Its words go first and the command
//! line is parsed after them, once, by clap: a single-value flag the
//! command line gives wins (last one wins), a repeatable one (`-H`, `-i`,
//! `--checksums`, ...) adds to the file's, as curl's `.curlrc` does, but
//! for a header the command line's `-H` names: that one replaces the
//! file's of the same name.
//!
//! Each line is parsed alone first, so that a bad one is a usage error
//! naming `FILE:LINE`, and one with a URL, `--`, or a flag that is not a
//! setting (`--help`, `--version`, `--completions`, `--man`,
//! `--no-config`) is refused. `--no-config` on the command line, and the
//! flags that print something and exit, skip the file unread.

use std::ffi::{OsStr, OsString};
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use clap::Parser as _;
use clap::error::ErrorKind;

use reqwest::header::HeaderName;

use crate::cli::Cli;
use crate::headers::HeaderArg;
use crate::small_file;

/// The command line to parse, with the config file's flags first, and
/// what to warn of once the run's `-q` is known.
#[derive(Debug, Default)]
pub struct WithConfig {
    /// `argv[0]`, the file's words, then the command line's arguments.
    pub args: Vec<OsString>,
    /// A file that group or others may read or write.
    pub warnings: Vec<String>,
}

/// Command-line words that skip the file unread: `--no-config`, and the
/// flags that print something and exit (a broken file must not stand in
/// the way of `--help`).
fn skips_config(word: &OsStr) -> bool {
    let Some(word) = word.to_str() else {
        return false;
    };
    matches!(
        word,
        "--no-config" | "--help" | "-h" | "--version" | "-V" | "--man" | "--completions"
    ) || word.starts_with("--completions=")
}

/// `args` (the process's, `argv[0]` first) with the config file's flags
/// inserted after `argv[0]`; `env` reads an environment variable. An
/// error is a usage error (exit 2) naming the file, and the line when it
/// is one line's fault.
pub fn args_with_config(
    args: Vec<OsString>,
    env: impl Fn(&str) -> Option<OsString>,
) -> Result<WithConfig> {
    let skip = args
        .iter()
        .skip(1)
        .take_while(|word| *word != "--")
        .any(|word| skips_config(word));
    let found = match skip {
        true => None,
        false => location(&env),
    };
    let Some((lines, warnings)) = found
        .map(|(path, from)| read(&path, from))
        .transpose()?
        .flatten()
    else {
        return Ok(WithConfig {
            args,
            warnings: Vec::new(),
        });
    };
    // A header the command line sets replaces the file's of that name (a
    // token given for one run must not go beside the usual one).
    let replaced = command_line_headers(&args);
    let words = lines
        .into_iter()
        .filter(|line| {
            line.headers.is_empty() || !line.headers.iter().all(|name| replaced.contains(name))
        })
        .flat_map(|line| line.words);
    let mut args = args.into_iter();
    let first = args.next().unwrap_or_else(|| "haul".into());
    let args = std::iter::once(first)
        .chain(words.into_iter().map(OsString::from))
        .chain(args)
        .collect();
    Ok(WithConfig { args, warnings })
}

/// One line of the file: its words, and the names of the headers its
/// `-H` sets.
#[derive(Debug)]
struct Line {
    words: Vec<String>,
    headers: Vec<HeaderName>,
}

/// The names of the headers the command line's `-H 'Name: value'` set
/// (none when it does not parse: clap says why later).
fn command_line_headers(args: &[OsString]) -> Vec<HeaderName> {
    let Ok(cli) = Cli::try_parse_from(args) else {
        return Vec::new();
    };
    header_names(&cli)
}

fn header_names(cli: &Cli) -> Vec<HeaderName> {
    cli.header
        .iter()
        .filter_map(|header| match header {
            HeaderArg::Line(name, _) => Some(name.clone()),
            HeaderArg::File(_) => None,
        })
        .collect()
}

/// The lines of the config file at `path` (found through the variable
/// `from`) and its warnings; `None` when a default file is not there.
fn read(path: &Path, from: &str) -> Result<Option<(Vec<Line>, Vec<String>)>> {
    let (text, meta) = match small_file::read(path) {
        Ok(read) => read,
        Err(_) if from != "HAUL_CONFIG" && missing(path) => return Ok(None),
        Err(err) => return Err(err.context(format!("cannot use the config file (from {from})"))),
    };
    let words = words(path, &text)?;
    // Only a regular file's mode means anything (a pipe's is the kernel's).
    let warnings = meta
        .is_file()
        .then(|| permission_warning(meta.permissions().mode(), path))
        .flatten()
        .into_iter()
        .collect();
    Ok(Some((words, warnings)))
}

/// Where the config file is, and the variable that said so; `None` when
/// there is none (`HAUL_CONFIG=`, or neither `XDG_CONFIG_HOME` nor `HOME`).
fn location(env: &impl Fn(&str) -> Option<OsString>) -> Option<(PathBuf, &'static str)> {
    if let Some(path) = env("HAUL_CONFIG") {
        return (!path.is_empty()).then(|| (PathBuf::from(path), "HAUL_CONFIG"));
    }
    // The XDG spec: a relative XDG_CONFIG_HOME is to be ignored.
    if let Some(dir) = env("XDG_CONFIG_HOME").map(PathBuf::from)
        && dir.is_absolute()
    {
        return Some((dir.join("haul/config"), "XDG_CONFIG_HOME"));
    }
    let home = env("HOME").filter(|home| !home.is_empty())?;
    Some((PathBuf::from(home).join(".config/haul/config"), "HOME"))
}

/// True when nothing is at `path` (a default location that holds no
/// config file, or whose folder is a file).
fn missing(path: &Path) -> bool {
    use std::io::ErrorKind::{NotADirectory, NotFound};
    std::fs::metadata(path).is_err_and(|err| matches!(err.kind(), NotFound | NotADirectory))
}

/// The words of every line of the file at `path`, each line checked alone.
fn words(path: &Path, text: &str) -> Result<Vec<Line>> {
    let shown = path.display();
    let mut all = Vec::new();
    // A byte order mark some editors write is not part of the first flag.
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    for (index, line) in text.lines().enumerate() {
        let trimmed = line.trim();
        if trimmed.is_empty() || trimmed.starts_with('#') {
            continue;
        }
        let at = format!("{shown}:{}", index + 1);
        let words = shlex::split(line)
            .with_context(|| format!("{at}: a quote is not closed (or a line ends in '\\')"))?;
        let headers = check_line(&words).with_context(|| at.clone())?;
        all.push(Line { words, headers });
    }
    Ok(all)
}

/// One line's words parsed alone: the names of the headers it sets, or an
/// error: clap's message (its first line), or why the line has no place in
/// the file.
fn check_line(words: &[String]) -> Result<Vec<HeaderName>> {
    const ONLY_FLAGS: &str = "only flags belong in the config file (URLs and '-' go on the command line or in an -i list)";
    if words.iter().any(|word| word == "--") {
        bail!(ONLY_FLAGS);
    }
    let cli = match Cli::try_parse_from(std::iter::once("haul").chain(words.iter().map(|w| &**w))) {
        Ok(cli) => cli,
        // A flag that needs another (--list needs --state), maybe on
        // another line: the whole command line is judged later.
        Err(err) if err.kind() == ErrorKind::MissingRequiredArgument => return Ok(Vec::new()),
        Err(err)
            if matches!(
                err.kind(),
                ErrorKind::DisplayHelp
                    | ErrorKind::DisplayVersion
                    | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand
            ) =>
        {
            bail!(NOT_SETTINGS)
        }
        Err(err) => bail!("{}", one_line(&err.to_string())),
    };
    if !cli.urls.is_empty() {
        bail!(ONLY_FLAGS);
    }
    if cli.completions.is_some() || cli.man || cli.no_config {
        bail!(NOT_SETTINGS);
    }
    Ok(header_names(&cli))
}

/// clap's message on one line: its first, with the possible values or a
/// similar flag when it gives them (not its usage line, nor its tip to
/// put `--` first, which is no help in the file).
fn one_line(message: &str) -> String {
    let mut lines = message.lines();
    let first = lines.next().unwrap_or_default();
    let mut out = first.strip_prefix("error: ").unwrap_or(first).to_string();
    for line in lines.map(str::trim) {
        if line.starts_with("[possible values") || line.starts_with("tip: a similar") {
            out.push_str("; ");
            out.push_str(line);
        }
    }
    out
}

/// Why `--help` and the like are refused in the file.
const NOT_SETTINGS: &str = "--help, --version, --completions, --man and --no-config go on the command line, not in the config file";

/// The warning for a config file whose `mode` lets group or others read or
/// write it: it may hold credentials (`-H 'Authorization: ...'`), and
/// whoever can write it chooses what haul sends and where it writes.
fn permission_warning(mode: u32, path: &Path) -> Option<String> {
    (mode & 0o077 != 0).then(|| {
        let path = path.display();
        format!(
            "config file {path} is readable or writable by others; it may hold credentials (-H 'Authorization: ...') (chmod 600 {path})"
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env<'a>(vars: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<OsString> + 'a {
        move |name| {
            vars.iter()
                .find(|(n, _)| *n == name)
                .map(|(_, v)| OsString::from(v))
        }
    }

    fn args(words: &[&str]) -> Vec<OsString> {
        words.iter().map(OsString::from).collect()
    }

    #[test]
    fn the_file_is_haul_config_then_xdg_then_home() {
        type Vars<'a> = &'a [(&'a str, &'a str)];
        let cases: &[(Vars, Option<(&str, &str)>)] = &[
            (
                &[
                    ("HAUL_CONFIG", "/c"),
                    ("XDG_CONFIG_HOME", "/x"),
                    ("HOME", "/h"),
                ],
                Some(("/c", "HAUL_CONFIG")),
            ),
            (&[("HAUL_CONFIG", ""), ("HOME", "/h")], None),
            (
                &[("XDG_CONFIG_HOME", "/x"), ("HOME", "/h")],
                Some(("/x/haul/config", "XDG_CONFIG_HOME")),
            ),
            (
                &[("XDG_CONFIG_HOME", "rel"), ("HOME", "/h")],
                Some(("/h/.config/haul/config", "HOME")),
            ),
            (
                &[("XDG_CONFIG_HOME", ""), ("HOME", "/h")],
                Some(("/h/.config/haul/config", "HOME")),
            ),
            (&[("HOME", "")], None),
            (&[], None),
        ];
        for (vars, want) in cases {
            let got = location(&env(vars));
            let want = want.map(|(path, from)| (PathBuf::from(path), from));
            assert_eq!(got, want, "{vars:?}");
        }
    }

    #[test]
    fn lines_are_shell_words_and_comments_are_skipped() {
        let text = "# haul's defaults\n\n  --jobs 32\n-H 'X-A: b c' # trailing\n\t# indented\r\n--user-agent \"my agent\"\r\n";
        let flat = |lines: Vec<Line>| lines.into_iter().flat_map(|l| l.words).collect::<Vec<_>>();
        let lines = words(Path::new("/c"), text).unwrap();
        assert_eq!(lines[1].headers, ["x-a"]);
        assert_eq!(
            flat(lines),
            ["--jobs", "32", "-H", "X-A: b c", "--user-agent", "my agent"]
        );
        let got = words(Path::new("/c"), "\u{feff}-k\n").unwrap();
        assert_eq!(flat(got), ["-k"]);
    }

    #[test]
    fn a_bad_line_names_the_file_and_line() {
        let cases = [
            ("--frobnicate", "unexpected argument '--frobnicate'"),
            ("-j 0", "--jobs <N>"),
            ("--jobs", "a value is required"),
            ("https://example.com/a", "only flags belong"),
            ("-", "only flags belong"),
            ("--", "only flags belong"),
            ("-k --", "only flags belong"),
            ("-A 'open", "a quote is not closed"),
            ("--help", "go on the command line"),
            ("-kh", "go on the command line"),
            ("-V", "go on the command line"),
            ("--man", "go on the command line"),
            ("--completions bash", "go on the command line"),
            ("--no-config", "go on the command line"),
            ("-q -v", "cannot be used with"),
            ("--jbos 4", "a similar argument exists: '--jobs'"),
            (
                "--on-exists clobber",
                "'clobber' for '--on-exists <MODE>'; [possible values: skip, overwrite, update]",
            ),
        ];
        for (line, want) in cases {
            let text = format!("# comment\n-k\n{line}\n");
            let err = words(Path::new("/etc/haul"), &text).unwrap_err();
            let shown = format!("{err:#}");
            assert!(
                shown.starts_with("/etc/haul:3: ") && shown.contains(want),
                "{line:?}: {shown}"
            );
            assert!(!shown.contains('\n'), "{line:?}: {shown}");
        }
    }

    #[test]
    fn a_flag_needing_another_line_is_judged_with_the_whole_command_line() {
        let got = words(Path::new("/c"), "--list\n--state s\n").unwrap();
        let got: Vec<_> = got.into_iter().flat_map(|l| l.words).collect();
        assert_eq!(got, ["--list", "--state", "s"]);
    }

    #[test]
    fn no_config_and_meta_flags_skip_the_file_unread() {
        // HAUL_CONFIG names a file that does not exist: reading it fails.
        let vars = [("HAUL_CONFIG", "/nonexistent/haul/config")];
        for skip in [
            "--no-config",
            "--help",
            "-h",
            "--version",
            "-V",
            "--man",
            "--completions=bash",
        ] {
            let given = args(&["haul", "-k", skip, "http://a/"]);
            let got = args_with_config(given.clone(), env(&vars)).unwrap();
            assert_eq!(got.args, given);
        }
        // After `--` it is a URL, not the flag.
        let given = args(&["haul", "--", "--no-config"]);
        let err = args_with_config(given, env(&vars)).unwrap_err();
        let shown = format!("{err:#}");
        assert!(
            shown.contains("HAUL_CONFIG") && shown.contains("/nonexistent/haul/config"),
            "{shown}"
        );
    }

    #[test]
    fn the_file_goes_first_and_a_missing_default_is_no_config() {
        let tmp = tempfile::tempdir().unwrap();
        let home = tmp.path().to_str().unwrap();
        let given = args(&["haul", "-j", "2", "http://a/"]);
        let got = args_with_config(given.clone(), env(&[("HOME", home)])).unwrap();
        assert_eq!(got.args, given);
        let dir = tmp.path().join(".config/haul");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("config"), "-j 8\n-A 'a b'\n").unwrap();
        for (mode, warns) in [(0o600, false), (0o640, true), (0o604, true), (0o620, true)] {
            std::fs::set_permissions(dir.join("config"), std::fs::Permissions::from_mode(mode))
                .unwrap();
            let got = args_with_config(given.clone(), env(&[("HOME", home)])).unwrap();
            assert_eq!(
                got.args,
                args(&["haul", "-j", "8", "-A", "a b", "-j", "2", "http://a/"])
            );
            assert_eq!(got.warnings.len(), usize::from(warns), "{mode:o}");
        }
        let cli = Cli::parse_from(
            args_with_config(given, env(&[("HOME", home)]))
                .unwrap()
                .args,
        );
        assert_eq!(
            (cli.jobs.get(), cli.user_agent.as_deref()),
            (2, Some("a b"))
        );
    }
}
