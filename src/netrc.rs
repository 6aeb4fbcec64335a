//! `.netrc` files for `--netrc` and `--netrc-file`: where the file is
//! (`$NETRC`, else `~/.netrc`), reading it (with a hint when others can read
//! it), parsing it and finding the credentials for one host. The grammar is
//! curl's (`lib/netrc.c`) as of 8.11, so a file that works with
//! `curl --netrc` 8.11 or later works here: whitespace-separated tokens,
//! `machine NAME`, `default`, `login`, `password`, `account` (ignored),
//! `macdef` (skipped to the next empty line), lines whose first non-blank
//! character is `#` (comments; a `#` later in a line is an ordinary
//! character, where curl 7.84 to 8.10 ended the line at a token starting
//! with `#`), `"quoted"` tokens with backslash escapes (since 7.84), and
//! other words ignored. The first entry in file order that matches the host
//! and has a login or a password wins, `default` included.
//!
//! It does not decide which request gets the credentials. That is the HTTP
//! side's job, and it must send them only to the origin the lookup was made
//! for (the first request's scheme, host and port; a redirect to that same
//! origin included) and never to another one a redirect leads to: curl
//! leaked a first host's netrc password to a redirect target whose entry
//! lacked a password (CVE-2024-11053) or which only matched a bare `default`
//! (CVE-2025-0167).

use std::borrow::Cow;
use std::ffi::OsString;
use std::fmt;
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};

/// A parsed `.netrc` file: its `machine` and `default` entries in file
/// order. `Debug` shows no login or password.
#[derive(Default)]
pub(crate) struct Netrc {
    entries: Vec<Entry>,
}

struct Entry {
    /// `None` for `default`, which matches every host.
    host: Option<String>,
    login: Option<String>,
    password: Option<String>,
}

/// What a `.netrc` entry gives a host. An entry with only a password has an
/// empty login and one with only a login an empty password, as with curl.
/// `Debug` masks the password.
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct Credentials {
    pub(crate) login: String,
    pub(crate) password: String,
}

/// Why a `.netrc` file could not be parsed; shown as `line N: what`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ParseError {
    /// 1-based line number in the original text (comment lines counted).
    line: usize,
    message: String,
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}: {}", self.line, self.message)
    }
}

impl std::error::Error for ParseError {}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials")
            .field("login", &self.login)
            .field("password", &"***")
            .finish()
    }
}

impl fmt::Debug for Netrc {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let hosts = self
            .entries
            .iter()
            .map(|e| e.host.as_deref().unwrap_or("(default)"));
        f.debug_struct("Netrc")
            .field("entries", &hosts.collect::<Vec<_>>())
            .finish()
    }
}

impl Netrc {
    /// The credentials of the first entry, in file order, whose `machine`
    /// equals `host` (ASCII case-insensitively) or which is `default`, and
    /// which has a login or a password; entries with neither are passed
    /// over, as curl does. `host` is the URL's host without port; an IPv6
    /// literal may keep its brackets.
    pub(crate) fn lookup(&self, host: &str) -> Option<Credentials> {
        let host = host
            .strip_prefix('[')
            .and_then(|h| h.strip_suffix(']'))
            .unwrap_or(host);
        self.entries
            .iter()
            .filter(|e| {
                e.host
                    .as_deref()
                    .is_none_or(|h| h.eq_ignore_ascii_case(host))
            })
            .find(|e| e.login.is_some() || e.password.is_some())
            .map(|e| Credentials {
                login: e.login.clone().unwrap_or_default(),
                password: e.password.clone().unwrap_or_default(),
            })
    }
}

/// Parses the text of a `.netrc` file. Errors are a keyword at the end of
/// the file with no value after it and an unterminated quoted token; any
/// other word is ignored, as curl does. A keyword's value is the next token
/// whatever it is, even on a later line or spelled like a keyword
/// (`password machine` sets the password "machine"), again as curl does.
pub(crate) fn parse(text: &str) -> Result<Netrc, ParseError> {
    let source = Source::new(text);
    let mut lexer = Lexer {
        text: &source.text,
        pos: 0,
    };
    let mut entries: Vec<Entry> = Vec::new();
    // Whether `login` and `password` belong to the last entry: not before
    // the first `machine` or `default`, nor after a `macdef`.
    let mut in_entry = false;
    while let Some(token) = lexer
        .next()
        .map_err(|at| source.error(at, "unterminated quoted token"))?
    {
        let Some(keyword) = Keyword::of(&token) else {
            continue;
        };
        match keyword {
            Keyword::Machine | Keyword::Login | Keyword::Password | Keyword::Account => {
                let value = match lexer.next() {
                    Ok(Some(value)) => value.text.into_owned(),
                    Ok(None) => {
                        let what = if keyword == Keyword::Machine {
                            "a host name"
                        } else {
                            "a value"
                        };
                        let message = format!("'{}' without {what}", keyword.name());
                        return Err(source.error(token.start, &message));
                    }
                    Err(at) => return Err(source.error(at, "unterminated quoted token")),
                };
                match keyword {
                    Keyword::Machine => {
                        entries.push(Entry::new(Some(value)));
                        in_entry = true;
                    }
                    Keyword::Login if in_entry => {
                        entries.last_mut().expect("in an entry").login = Some(value);
                    }
                    Keyword::Password if in_entry => {
                        entries.last_mut().expect("in an entry").password = Some(value);
                    }
                    _ => {}
                }
            }
            Keyword::Default => {
                entries.push(Entry::new(None));
                in_entry = true;
            }
            Keyword::Macdef => {
                in_entry = false;
                lexer.skip_macro();
            }
        }
    }
    Ok(Netrc { entries })
}

/// Reads and parses the `.netrc` file at `path`; also returns a warning for
/// the user when its mode lets group or others read or write it (curl does
/// not refuse such a file and neither does this). The caller prints it,
/// once, where haul's other warnings go.
pub(crate) fn load(path: &Path) -> anyhow::Result<(Netrc, Option<String>)> {
    // Capped, and a FIFO without a writer reads as empty (config.rs).
    let (text, meta) = crate::small_file::read(path)?;
    let mode = meta.permissions().mode();
    let netrc = parse(&text)
        .map_err(|e| anyhow::anyhow!("{}:{}: {}", path.display(), e.line, e.message))?;
    Ok((netrc, permission_warning(mode, path)))
}

/// The warning [`load`] gives for a file whose `mode` lets group or others
/// read or write it, or `None` when only its owner can.
fn permission_warning(mode: u32, path: &Path) -> Option<String> {
    (mode & 0o077 != 0).then(|| {
        let path = path.display();
        format!("{path} is readable by others; anyone on this machine can read its passwords (chmod 600 {path})")
    })
}

/// The `.netrc` file `--netrc` reads: `$NETRC` if set and not empty, else
/// `$HOME/.netrc`; `None` without either.
pub(crate) fn default_path() -> Option<PathBuf> {
    default_path_from(std::env::var_os("NETRC"), std::env::var_os("HOME"))
}

fn default_path_from(netrc: Option<OsString>, home: Option<OsString>) -> Option<PathBuf> {
    match netrc.filter(|p| !p.is_empty()) {
        Some(path) => Some(PathBuf::from(path)),
        None => home
            .filter(|h| !h.is_empty())
            .map(|h| PathBuf::from(h).join(".netrc")),
    }
}

impl Entry {
    fn new(host: Option<String>) -> Self {
        Entry {
            host,
            login: None,
            password: None,
        }
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Keyword {
    Machine,
    Default,
    Login,
    Password,
    Account,
    Macdef,
}

impl Keyword {
    const ALL: [Keyword; 6] = [
        Keyword::Machine,
        Keyword::Default,
        Keyword::Login,
        Keyword::Password,
        Keyword::Account,
        Keyword::Macdef,
    ];

    fn name(self) -> &'static str {
        match self {
            Keyword::Machine => "machine",
            Keyword::Default => "default",
            Keyword::Login => "login",
            Keyword::Password => "password",
            Keyword::Account => "account",
            Keyword::Macdef => "macdef",
        }
    }

    /// The keyword an unquoted token spells, in any case; a quoted token is
    /// never one.
    fn of(token: &Token<'_>) -> Option<Keyword> {
        if token.quoted {
            return None;
        }
        Self::ALL
            .into_iter()
            .find(|k| token.text.eq_ignore_ascii_case(k.name()))
    }
}

/// The text with comment lines (first non-blank character `#`) removed, as
/// curl does on loading, and where each kept line started in the original.
struct Source {
    text: String,
    /// (offset in `text`, 1-based line number in the original) per kept line.
    lines: Vec<(usize, usize)>,
}

impl Source {
    fn new(original: &str) -> Self {
        let mut text = String::with_capacity(original.len());
        let mut lines = Vec::new();
        for (index, line) in original.split_inclusive('\n').enumerate() {
            if line.trim_start_matches([' ', '\t']).starts_with('#') {
                continue;
            }
            lines.push((text.len(), index + 1));
            text.push_str(line);
        }
        Source { text, lines }
    }

    /// The original line number of byte `offset` in `text`.
    fn line_of(&self, offset: usize) -> usize {
        let kept = self.lines.partition_point(|&(start, _)| start <= offset);
        let (start, line) = self
            .lines
            .get(kept.saturating_sub(1))
            .copied()
            .unwrap_or((0, 1));
        // A quoted token can span lines: count the newlines since `start`.
        line + self.text[start..offset].matches('\n').count()
    }

    fn error(&self, offset: usize, message: &str) -> ParseError {
        ParseError {
            line: self.line_of(offset),
            message: message.to_owned(),
        }
    }
}

struct Token<'a> {
    /// Byte offset of the token's first character (its quote, if quoted).
    start: usize,
    text: Cow<'a, str>,
    quoted: bool,
}

struct Lexer<'a> {
    text: &'a str,
    pos: usize,
}

impl<'a> Lexer<'a> {
    /// The next token, `None` at the end, or `Err(offset)` of a quoted token
    /// with no closing quote. Tokens are separated by spaces, tabs, CRs and
    /// LFs; a token starting with `"` runs to the next unescaped `"`, and in
    /// it `\n`, `\r` and `\t` are control characters and `\` before anything
    /// else stands for that character (`\"`, `\\`).
    fn next(&mut self) -> Result<Option<Token<'a>>, usize> {
        let rest = &self.text[self.pos..];
        let start = self.pos + (rest.len() - rest.trim_start_matches(is_separator).len());
        let rest = &self.text[start..];
        if rest.is_empty() {
            self.pos = start;
            return Ok(None);
        }
        if let Some(quoted) = rest.strip_prefix('"') {
            let mut value = String::new();
            let mut chars = quoted.char_indices();
            while let Some((i, c)) = chars.next() {
                match c {
                    '"' => {
                        self.pos = start + 1 + i + 1;
                        return Ok(Some(Token {
                            start,
                            text: Cow::Owned(value),
                            quoted: true,
                        }));
                    }
                    '\\' => match chars.next() {
                        Some((_, 'n')) => value.push('\n'),
                        Some((_, 'r')) => value.push('\r'),
                        Some((_, 't')) => value.push('\t'),
                        Some((_, other)) => value.push(other),
                        None => break,
                    },
                    _ => value.push(c),
                }
            }
            return Err(start);
        }
        let len = rest.find(is_separator).unwrap_or(rest.len());
        self.pos = start + len;
        Ok(Some(Token {
            start,
            text: Cow::Borrowed(&rest[..len]),
            quoted: false,
        }))
    }

    /// Skips a `macdef` (its name and body) up to and including the next
    /// empty line (LF, any CRs, LF); a line of blanks does not end it, and
    /// nothing in it is tokenised, so a stray quote does no harm.
    fn skip_macro(&mut self) {
        let bytes = self.text.as_bytes();
        let mut i = self.pos;
        while i < bytes.len() {
            let byte = bytes[i];
            i += 1;
            if byte == b'\n' {
                while bytes.get(i) == Some(&b'\r') {
                    i += 1;
                }
                if bytes.get(i) == Some(&b'\n') {
                    i += 1;
                    break;
                }
            }
        }
        self.pos = i;
    }
}

fn is_separator(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\r' | '\n')
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `(login, password)` for `host`, so failures show the password.
    fn lookup(text: &str, host: &str) -> Option<(String, String)> {
        let netrc = parse(text).unwrap_or_else(|e| panic!("{text:?}: {e}"));
        netrc.lookup(host).map(|c| (c.login, c.password))
    }

    /// (what, file, host, expected `(login, password)`).
    type Case = (
        &'static str,
        &'static str,
        &'static str,
        Option<(&'static str, &'static str)>,
    );

    #[test]
    fn finds_credentials() {
        let cases: &[Case] = &[
            (
                "one line",
                "machine a.com login u password p",
                "a.com",
                Some(("u", "p")),
            ),
            (
                "no match",
                "machine a.com login u password p",
                "b.com",
                None,
            ),
            (
                "not a suffix match",
                "machine a.com login u password p",
                "x.a.com",
                None,
            ),
            (
                "first machine wins",
                "machine a login u1 password p1\nmachine a login u2 password p2",
                "a",
                Some(("u1", "p1")),
            ),
            (
                "host case",
                "machine Example.COM login u password p",
                "example.com",
                Some(("u", "p")),
            ),
            (
                "keyword case",
                "MACHINE a Login u PassWord p",
                "a",
                Some(("u", "p")),
            ),
            (
                "value case kept",
                "machine a login User password PaSs",
                "a",
                Some(("User", "PaSs")),
            ),
            (
                "machine before default",
                "machine a login u password p\ndefault login d password dp",
                "a",
                Some(("u", "p")),
            ),
            (
                "default for others",
                "machine a login u password p\ndefault login d password dp",
                "b",
                Some(("d", "dp")),
            ),
            // curl scans in file order and stops at the first match, so a
            // `default` before a `machine` shadows it.
            (
                "default before machine wins",
                "default login d password dp\nmachine a login u password p",
                "a",
                Some(("d", "dp")),
            ),
            (
                "entry without login or password passed over",
                "machine a\nmachine a login u password p",
                "a",
                Some(("u", "p")),
            ),
            (
                "machine without credentials falls to default",
                "machine a account x\ndefault login d password dp",
                "a",
                Some(("d", "dp")),
            ),
            (
                "bare default matches nothing",
                "machine a login u password p\ndefault\n",
                "b",
                None,
            ),
            (
                "login only: empty password",
                "machine a login bob",
                "a",
                Some(("bob", "")),
            ),
            (
                "password only: empty login",
                "machine a password p",
                "a",
                Some(("", "p")),
            ),
            (
                "later login replaces",
                "machine a login u1 login u2 password p",
                "a",
                Some(("u2", "p")),
            ),
            (
                "account ignored",
                "machine a account acct login u password p",
                "a",
                Some(("u", "p")),
            ),
            (
                "unknown words ignored",
                "machine a port 21 login u force password p",
                "a",
                Some(("u", "p")),
            ),
            (
                "login before any machine ignored",
                "login u password p\nmachine a",
                "a",
                None,
            ),
            (
                "split across lines",
                "machine\na\n  login\n\tu\npassword\n\n  p\n",
                "a",
                Some(("u", "p")),
            ),
            (
                "tabs and CRLF",
                "machine\ta\r\n\tlogin u\r\n\tpassword p\r\n",
                "a",
                Some(("u", "p")),
            ),
            (
                "value spelled like a keyword",
                "machine a login machine password default",
                "a",
                Some(("machine", "default")),
            ),
            (
                "quoted with spaces and escapes",
                r#"machine a login "J Doe" password "a b\"c\\d\te\nf\rg\qh""#,
                "a",
                Some(("J Doe", "a b\"c\\d\te\nf\rgqh")),
            ),
            (
                "quoted empty",
                r#"machine a login "" password p"#,
                "a",
                Some(("", "p")),
            ),
            (
                "quoted host",
                r#"machine "a" login u password p"#,
                "a",
                Some(("u", "p")),
            ),
            (
                "quoted keyword is a word",
                r#""machine" a login u password p"#,
                "a",
                None,
            ),
            (
                "quote inside a word is literal",
                r#"machine a login u password ab"c"#,
                "a",
                Some(("u", "ab\"c")),
            ),
            (
                "quoted spans lines",
                "machine a password \"x\ny\" login u",
                "a",
                Some(("u", "x\ny")),
            ),
            (
                "unicode",
                "machine a login ü password \"pä ss\"",
                "a",
                Some(("ü", "pä ss")),
            ),
            (
                "macdef skipped",
                "macdef init\nmachine a login evil password evil\n\nmachine a login u password p",
                "a",
                Some(("u", "p")),
            ),
            (
                "macdef with a broken quote (curl test 1672)",
                "macdef m\n\tcd \"broken\n\tquit\n\nmachine a login u password p\n",
                "a",
                Some(("u", "p")),
            ),
            (
                "blank line of spaces does not end macdef",
                "macdef m\ncmd\n  \nmachine a login evil password evil\n\nmachine a login u password p",
                "a",
                Some(("u", "p")),
            ),
            (
                "macdef ended by CRLF CRLF",
                "macdef m\r\ncmd\r\n\r\nmachine a password p",
                "a",
                Some(("", "p")),
            ),
            (
                "macdef ends the entry",
                "machine a login u\nmacdef m\ncmd\n\npassword p",
                "a",
                Some(("u", "")),
            ),
            (
                "macdef to end of file",
                "machine a password p\nmacdef m\ncmd",
                "a",
                Some(("", "p")),
            ),
            (
                "comment lines",
                "# machine a login c password c\n  \t# indented\nmachine a login u password p",
                "a",
                Some(("u", "p")),
            ),
            // curl (8.11 and later) drops whole lines starting with `#`
            // only: elsewhere `#` is an ordinary character.
            (
                "hash inside a line is not a comment",
                "machine a login u password #secret",
                "a",
                Some(("u", "#secret")),
            ),
            (
                "IPv6 brackets",
                "machine ::1 login u password p",
                "[::1]",
                Some(("u", "p")),
            ),
            ("empty file", "", "a", None),
            ("blank file", " \n\t\r\n", "a", None),
            ("comments only", "# nothing\n#\n", "a", None),
        ];
        for (what, text, host, want) in cases {
            let want = want.map(|(l, p)| (l.to_owned(), p.to_owned()));
            assert_eq!(lookup(text, host), want, "{what}: {text:?} for {host:?}");
        }
    }

    #[test]
    fn reports_errors_with_line_numbers() {
        let cases = [
            ("machine", "line 1: 'machine' without a host name"),
            (
                "machine a\n  login u\n  password",
                "line 3: 'password' without a value",
            ),
            ("machine a login", "line 1: 'login' without a value"),
            (
                "machine a\naccount\n\n",
                "line 2: 'account' without a value",
            ),
            (
                "# one\n# two\nmachine a\npassword\n",
                "line 4: 'password' without a value",
            ),
            (
                "machine a\r\nlogin u\r\npassword\r\n",
                "line 3: 'password' without a value",
            ),
            (
                "machine a\npassword \"abc",
                "line 2: unterminated quoted token",
            ),
            (
                "machine a password \"abc\\\"",
                "line 1: unterminated quoted token",
            ),
            (
                "machine a password \"x\ny\"\nlogin",
                "line 3: 'login' without a value",
            ),
            ("junk \"x\n", "line 1: unterminated quoted token"),
        ];
        for (text, want) in cases {
            match parse(text) {
                Ok(_) => panic!("{text:?} parsed"),
                Err(e) => assert_eq!(e.to_string(), want, "{text:?}"),
            }
        }
    }

    #[test]
    fn debug_hides_passwords() {
        let netrc = parse("machine a login u password hunter2\ndefault password hunter3").unwrap();
        let shown = format!("{netrc:?} {:?}", netrc.lookup("a").unwrap());
        assert!(!shown.contains("hunter"), "{shown}");
        assert!(shown.contains("(default)"), "{shown}");
    }

    #[test]
    fn permission_warning_for_group_or_other_bits() {
        let path = Path::new("/home/u/.netrc");
        let cases = [
            (0o600, false),
            (0o400, false),
            (0o700, false),
            (0o100600, false),
            (0o644, true),
            (0o640, true),
            (0o620, true),
            (0o604, true),
            (0o601, true),
            (0o100666, true),
        ];
        for (mode, warns) in cases {
            assert_eq!(permission_warning(mode, path).is_some(), warns, "{mode:o}");
        }
        assert_eq!(
            permission_warning(0o644, path).as_deref(),
            Some(
                "/home/u/.netrc is readable by others; anyone on this machine can read its passwords \
                 (chmod 600 /home/u/.netrc)"
            )
        );
    }

    #[test]
    fn load_reads_parses_and_does_not_refuse_open_files() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("netrc");
        std::fs::write(&path, "machine a login u password p\n").unwrap();
        for mode in [0o600, 0o644] {
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
            let got = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(permission_warning(got, &path).is_some(), mode == 0o644);
            let (netrc, warning) = load(&path).unwrap();
            assert_eq!(warning.is_some(), mode == 0o644);
            let creds = netrc.lookup("a").unwrap();
            assert_eq!((creds.login.as_str(), creds.password.as_str()), ("u", "p"));
        }
    }

    #[test]
    fn load_errors_name_the_path() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("netrc");
        std::fs::write(&path, "# c\nmachine a\npassword\n").unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        let err = load(&path).unwrap_err().to_string();
        assert_eq!(
            err,
            format!("{}:3: 'password' without a value", path.display())
        );

        let missing = dir.path().join("missing");
        let err = format!("{:#}", load(&missing).unwrap_err());
        assert!(
            err.starts_with(&format!("cannot open {}: ", missing.display())),
            "{err}"
        );

        let err = format!("{:#}", load(dir.path()).unwrap_err());
        assert!(err.contains(&dir.path().display().to_string()), "{err}");
    }

    #[test]
    fn default_path_prefers_netrc_then_home() {
        let os = |s: &str| Some(OsString::from(s));
        let cases = [
            (os("/x/netrc"), os("/home/u"), Some("/x/netrc")),
            (os(""), os("/home/u"), Some("/home/u/.netrc")),
            (None, os("/home/u"), Some("/home/u/.netrc")),
            (None, os(""), None),
            (None, None, None),
        ];
        for (netrc, home, want) in cases {
            let got = default_path_from(netrc.clone(), home.clone());
            assert_eq!(got.as_deref(), want.map(Path::new), "{netrc:?} {home:?}");
        }
    }
}
