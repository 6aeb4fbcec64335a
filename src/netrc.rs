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
//! and has a login or a password wins, `default` included; for a URL that
//! names a user, the first that matches the host and has that login.
//! Logins and passwords are bytes, as curl takes them: one that is not
//! UTF-8 is kept and sent as it is.
//!
//! A damaged file is used as far as it can be, each damage a warning naming
//! its line, never a refusal of the whole file. A keyword at the end of the
//! file with no value after it is ignored (the entry keeps what came before
//! it, as with curl). An unterminated quoted token skips its entry: the
//! parse goes on at the next line, the tokens up to the next `machine`,
//! `default` or `macdef` belong to the skipped entry, and a lookup that
//! reaches a skipped entry of its host (or a skipped `default`) ends there
//! with no credentials, so nothing later in the file, a `default` included,
//! stands in for an entry the user wrote and got wrong (curl refuses the
//! file at such a token; before it, the entries are the same).
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
/// order, skipped ones included. `Debug` shows no login or password.
#[derive(Default)]
pub(crate) struct Netrc {
    entries: Vec<Entry>,
}

struct Entry {
    /// `None` for `default`, which matches every host; empty while a
    /// `machine` waits for its name.
    host: Option<Vec<u8>>,
    login: Option<Vec<u8>>,
    password: Option<Vec<u8>>,
    /// Damaged (an unterminated quoted token): a lookup that reaches it
    /// ends with no credentials.
    skipped: bool,
}

/// What a `.netrc` entry gives a host. An entry with only a password has an
/// empty login and one with only a login an empty password, as with curl.
/// Bytes, not text: curl sends a password's bytes as they are in the file.
/// `Debug` masks the password.
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct Credentials {
    pub(crate) login: Vec<u8>,
    pub(crate) password: Vec<u8>,
}

/// A damage in a `.netrc` file and what was skipped for it; shown as
/// `line N: what; what is skipped`. It never holds a token's text, so it
/// cannot show a password.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Damage {
    /// 1-based line number in the original text (comment lines counted)
    /// of the token at fault.
    line: usize,
    message: String,
}

impl fmt::Display for Damage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}: {}", self.line, self.message)
    }
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials")
            .field("login", &String::from_utf8_lossy(&self.login))
            .field("password", &"***")
            .finish()
    }
}

impl fmt::Debug for Netrc {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let hosts = self.entries.iter().map(|e| {
            let host = e
                .host
                .as_deref()
                .map_or(Cow::Borrowed("(default)"), String::from_utf8_lossy);
            if e.skipped {
                format!("{host} (skipped)")
            } else {
                host.into_owned()
            }
        });
        f.debug_struct("Netrc")
            .field("entries", &hosts.collect::<Vec<_>>())
            .finish()
    }
}

impl Netrc {
    /// The credentials for `host`, the URL's host without port (an IPv6
    /// literal may keep its brackets), from the first entry in file order
    /// whose `machine` equals `host` (ASCII case-insensitively) or which is
    /// `default`, and which:
    /// - without `user`, has a login or a password; entries with neither
    ///   are passed over, as curl does;
    /// - with `user` (the URL's user name, which came without a password),
    ///   has exactly that login; its password is given, empty if it has
    ///   none, as curl does. Entries with another login or none are passed
    ///   over: another user's password is never given.
    ///
    /// A skipped entry that matches `host` ends the search with `None`.
    pub(crate) fn lookup(&self, host: &str, user: Option<&[u8]>) -> Option<Credentials> {
        let host = host
            .strip_prefix('[')
            .and_then(|h| h.strip_suffix(']'))
            .unwrap_or(host);
        let found = self
            .entries
            .iter()
            .filter(|e| {
                e.host
                    .as_deref()
                    .is_none_or(|h| h.eq_ignore_ascii_case(host.as_bytes()))
            })
            .find(|e| {
                e.skipped
                    || match user {
                        None => e.login.is_some() || e.password.is_some(),
                        Some(user) => e.login.as_deref() == Some(user),
                    }
            })?;
        if found.skipped {
            return None;
        }
        Some(Credentials {
            login: found.login.clone().unwrap_or_default(),
            password: found.password.clone().unwrap_or_default(),
        })
    }
}

/// Parses the text of a `.netrc` file, with what was damaged in it and
/// skipped: a keyword at the end of the file with no value after it (the
/// keyword is ignored) and an unterminated quoted token (its entry is
/// skipped, or outside an entry the rest of its line). Any other word is
/// ignored, as curl does. A keyword's value is the next token whatever it
/// is, even on a later line or spelled like a keyword (`password machine`
/// sets the password "machine"), again as curl does.
pub(crate) fn parse(text: &[u8]) -> (Netrc, Vec<Damage>) {
    let source = Source::new(text);
    let mut lexer = Lexer {
        text: &source.text,
        pos: 0,
    };
    let mut parser = Parser {
        source: &source,
        entries: Vec::new(),
        damage: Vec::new(),
        current: None,
    };
    loop {
        let token = match lexer.next() {
            Ok(Some(token)) => token,
            Ok(None) => break,
            Err(at) => {
                parser.unterminated(at, &mut lexer);
                continue;
            }
        };
        let Some(keyword) = Keyword::of(&token) else {
            continue;
        };
        match keyword {
            Keyword::Machine | Keyword::Login | Keyword::Password | Keyword::Account => {
                if keyword == Keyword::Machine {
                    parser.start(Some(Vec::new()), token.start);
                }
                let value = match lexer.next() {
                    Ok(Some(value)) => value.text.into_owned(),
                    Ok(None) => {
                        parser.no_value(keyword, token.start);
                        break;
                    }
                    Err(at) => {
                        parser.unterminated(at, &mut lexer);
                        continue;
                    }
                };
                match (keyword, parser.entry()) {
                    (Keyword::Machine, Some(entry)) => entry.host = Some(value),
                    (Keyword::Login, Some(entry)) => entry.login = Some(value),
                    (Keyword::Password, Some(entry)) => entry.password = Some(value),
                    _ => {}
                }
            }
            Keyword::Default => parser.start(None, token.start),
            Keyword::Macdef => {
                parser.current = None;
                lexer.skip_macro();
            }
        }
    }
    let netrc = Netrc {
        entries: parser.entries,
    };
    (netrc, parser.damage)
}

/// The entries read so far, the damage found and the entry being read.
struct Parser<'s> {
    source: &'s Source,
    entries: Vec<Entry>,
    damage: Vec<Damage>,
    /// The entry `login` and `password` belong to, by index, and the line
    /// it starts on: none before the first `machine` or `default`, nor
    /// after a `macdef`.
    current: Option<(usize, usize)>,
}

impl Parser<'_> {
    /// A `machine` (`host` empty until its name is read) or a `default`
    /// (`host` `None`) whose keyword is at `at`: the entry being read from
    /// now on.
    fn start(&mut self, host: Option<Vec<u8>>, at: usize) {
        self.entries.push(Entry::new(host));
        self.current = Some((self.entries.len() - 1, self.source.line_of(at)));
    }

    fn entry(&mut self) -> Option<&mut Entry> {
        self.current.map(|(index, _)| &mut self.entries[index])
    }

    /// `keyword`, at `at`, is the last token of the file: it is ignored,
    /// and the entry keeps what came before it (a `machine` without a name
    /// is no entry at all), as with curl.
    fn no_value(&mut self, keyword: Keyword, at: usize) {
        let what = if keyword == Keyword::Machine {
            self.entries.pop();
            self.current = None;
            "a host name"
        } else {
            "a value"
        };
        let message = format!(
            "'{}' without {what} at the end of the file; ignoring it",
            keyword.name()
        );
        self.damage.push(self.source.damage(at, message));
    }

    /// An unterminated quoted token at `at`: the entry being read is
    /// skipped (outside an entry, the rest of the line), and `lexer` goes
    /// on at the next line.
    fn unterminated(&mut self, at: usize, lexer: &mut Lexer<'_>) {
        let skipped = match self.current {
            Some((index, line)) => {
                let entry = &mut self.entries[index];
                entry.skipped = true;
                let kind = if entry.host.is_some() {
                    "machine"
                } else {
                    "default"
                };
                format!("skipping the {kind} entry from line {line}")
            }
            None => "skipping the rest of the line".to_owned(),
        };
        let message = format!("unterminated quoted token; {skipped}");
        self.damage.push(self.source.damage(at, message));
        lexer.skip_line(at);
    }
}

/// Reads and parses the `.netrc` file at `path`, with warnings for the
/// user: each damage in it (`FILE:LINE: what; what is skipped`), and its
/// mode when that lets group or others read or write it (curl does not
/// refuse such a file and neither does this). Only a file that cannot be
/// read is an error. The caller prints the warnings, once, where haul's
/// other warnings go.
pub(crate) fn load(path: &Path) -> anyhow::Result<(Netrc, Vec<String>)> {
    // Capped, and a FIFO without a writer reads as empty (config.rs).
    let (text, meta) = crate::small_file::read_bytes(path)?;
    let mode = meta.permissions().mode();
    let (netrc, damage) = parse(&text);
    let warnings = damage
        .into_iter()
        .map(|d| format!("{}:{}: {}", path.display(), d.line, d.message))
        .chain(permission_warning(mode, path))
        .collect();
    Ok((netrc, warnings))
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
    fn new(host: Option<Vec<u8>>) -> Self {
        Entry {
            host,
            login: None,
            password: None,
            skipped: false,
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
            .find(|k| token.text.eq_ignore_ascii_case(k.name().as_bytes()))
    }
}

/// The text with comment lines (first non-blank character `#`) removed, as
/// curl does on loading, and where each kept line started in the original.
struct Source {
    text: Vec<u8>,
    /// (offset in `text`, 1-based line number in the original) per kept line.
    lines: Vec<(usize, usize)>,
}

impl Source {
    fn new(original: &[u8]) -> Self {
        let mut text = Vec::with_capacity(original.len());
        let mut lines = Vec::new();
        for (index, line) in original.split_inclusive(|&b| b == b'\n').enumerate() {
            if line.iter().find(|&&b| b != b' ' && b != b'\t') == Some(&b'#') {
                continue;
            }
            lines.push((text.len(), index + 1));
            text.extend_from_slice(line);
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
        line + self.text[start..offset]
            .iter()
            .filter(|&&b| b == b'\n')
            .count()
    }

    fn damage(&self, offset: usize, message: String) -> Damage {
        Damage {
            line: self.line_of(offset),
            message,
        }
    }
}

struct Token<'a> {
    /// Byte offset of the token's first byte (its quote, if quoted).
    start: usize,
    text: Cow<'a, [u8]>,
    quoted: bool,
}

struct Lexer<'a> {
    text: &'a [u8],
    pos: usize,
}

impl<'a> Lexer<'a> {
    /// The next token, `None` at the end, or `Err(offset)` of a quoted token
    /// with no closing quote. Tokens are separated by spaces, tabs, CRs and
    /// LFs; a token starting with `"` runs to the next unescaped `"`, and in
    /// it `\n`, `\r` and `\t` are control characters and `\` before any
    /// other byte stands for that byte (`\"`, `\\`). Any other byte, one
    /// that is not UTF-8 included, is itself.
    fn next(&mut self) -> Result<Option<Token<'a>>, usize> {
        let text = self.text;
        let start = self.pos
            + text[self.pos..]
                .iter()
                .position(|&b| !is_separator(b))
                .unwrap_or(text.len() - self.pos);
        let rest = &text[start..];
        if rest.is_empty() {
            self.pos = start;
            return Ok(None);
        }
        if let Some(quoted) = rest.strip_prefix(b"\"") {
            let mut value = Vec::new();
            let mut bytes = quoted.iter().enumerate();
            while let Some((i, &b)) = bytes.next() {
                match b {
                    b'"' => {
                        self.pos = start + 1 + i + 1;
                        return Ok(Some(Token {
                            start,
                            text: Cow::Owned(value),
                            quoted: true,
                        }));
                    }
                    b'\\' => match bytes.next() {
                        Some((_, b'n')) => value.push(b'\n'),
                        Some((_, b'r')) => value.push(b'\r'),
                        Some((_, b't')) => value.push(b'\t'),
                        Some((_, &other)) => value.push(other),
                        None => break,
                    },
                    _ => value.push(b),
                }
            }
            return Err(start);
        }
        let len = rest
            .iter()
            .position(|&b| is_separator(b))
            .unwrap_or(rest.len());
        self.pos = start + len;
        Ok(Some(Token {
            start,
            text: Cow::Borrowed(&rest[..len]),
            quoted: false,
        }))
    }

    /// Goes on at the line after the one byte `at` is on (past an
    /// unterminated quoted token that starts there), or at the end.
    fn skip_line(&mut self, at: usize) {
        self.pos = self.text[at..]
            .iter()
            .position(|&b| b == b'\n')
            .map_or(self.text.len(), |i| at + i + 1);
    }

    /// Skips a `macdef` (its name and body) up to and including the next
    /// empty line (LF, any CRs, LF); a line of blanks does not end it, and
    /// nothing in it is tokenised, so a stray quote does no harm.
    fn skip_macro(&mut self) {
        let bytes = self.text;
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

fn is_separator(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\r' | b'\n')
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `(login, password)` for `host` (and `user`), so failures show the
    /// password.
    fn lookup_as(text: &[u8], host: &str, user: Option<&[u8]>) -> Option<(Vec<u8>, Vec<u8>)> {
        let (netrc, _) = parse(text);
        netrc.lookup(host, user).map(|c| (c.login, c.password))
    }

    /// The same for a file with no damage in it.
    fn lookup(text: &str, host: &str) -> Option<(Vec<u8>, Vec<u8>)> {
        let (_, damage) = parse(text.as_bytes());
        assert_eq!(damage, [], "{text:?}");
        lookup_as(text.as_bytes(), host, None)
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
            let want = want.map(|(l, p)| (l.as_bytes().to_vec(), p.as_bytes().to_vec()));
            assert_eq!(lookup(text, host), want, "{what}: {text:?} for {host:?}");
        }
    }

    /// (what, file, host, URL user, expected `(login, password)`, warnings).
    type Row = (
        &'static str,
        &'static [u8],
        &'static str,
        Option<&'static [u8]>,
        Option<(&'static [u8], &'static [u8])>,
        usize,
    );

    /// The cases where haul refused a whole `.netrc` file and curl used it
    /// (found by running random files through both), and their neighbours.
    /// `want` is what curl sends, except in the rows marked "curl refuses
    /// the file": curl stops at a broken quote it reaches before the entry
    /// it looks for, haul skips that entry and uses the rest.
    #[test]
    fn damaged_files_are_used_as_curl_uses_them() {
        let rows: &[Row] = &[
            (
                "machine alone at the end",
                b"machine h login u password p\nmachine\n",
                "h",
                None,
                Some((b"u", b"p")),
                1,
            ),
            (
                "machine alone at the end, another host",
                b"machine h login u password p\nmachine",
                "x",
                None,
                None,
                1,
            ),
            (
                "login alone at the end of a later entry",
                b"machine h login u password p\nmachine b login",
                "h",
                None,
                Some((b"u", b"p")),
                1,
            ),
            (
                "password alone at the end of a later entry",
                b"machine h login u password p\nmachine b login v password\n",
                "h",
                None,
                Some((b"u", b"p")),
                1,
            ),
            (
                "login alone at the end of the entry asked for",
                b"machine h login",
                "h",
                None,
                None,
                1,
            ),
            (
                "password alone at the end of the entry asked for",
                b"machine h login v password",
                "h",
                None,
                Some((b"v", b"")),
                1,
            ),
            (
                "login alone after a password",
                b"machine h password p login\n",
                "h",
                None,
                Some((b"", b"p")),
                1,
            ),
            (
                "account alone at the end",
                b"machine h login u password p account",
                "h",
                None,
                Some((b"u", b"p")),
                1,
            ),
            (
                "unterminated quote in a later unrelated entry",
                b"machine h login u password p\nmachine b login v password \"x y\n",
                "h",
                None,
                Some((b"u", b"p")),
                1,
            ),
            (
                "unterminated quote in the entry asked for",
                b"machine h login u password \"p q\n",
                "h",
                None,
                None,
                1,
            ),
            // curl refuses the file.
            (
                "a skipped entry is not replaced by a later default",
                b"machine h password \"p\ndefault login d password dp\n",
                "h",
                None,
                None,
                1,
            ),
            // curl refuses the file.
            (
                "a default after a skipped entry serves other hosts",
                b"machine h password \"p\ndefault login d password dp\n",
                "x",
                None,
                Some((b"d", b"dp")),
                1,
            ),
            (
                "a default before a skipped entry wins",
                b"default login d password dp\nmachine h login \"x\n",
                "h",
                None,
                Some((b"d", b"dp")),
                1,
            ),
            // curl refuses the file.
            (
                "a skipped default serves no host after it",
                b"machine a login u password p\ndefault login \"d\nmachine h login v password q\n",
                "h",
                None,
                None,
                1,
            ),
            (
                "a skipped default leaves the entries before it",
                b"machine a login u password p\ndefault login \"d\nmachine h login v password q\n",
                "a",
                None,
                Some((b"u", b"p")),
                1,
            ),
            (
                "bad entry between two good ones: the first",
                b"machine a login ua password pa\nmachine b login ub password \"broken\nmachine c login uc password pc\n",
                "a",
                None,
                Some((b"ua", b"pa")),
                1,
            ),
            // curl refuses the file.
            (
                "bad entry between two good ones: the last",
                b"machine a login ua password pa\nmachine b login ub password \"broken\nmachine c login uc password pc\n",
                "c",
                None,
                Some((b"uc", b"pc")),
                1,
            ),
            (
                "bad entry between two good ones: the bad one",
                b"machine a login ua password pa\nmachine b login ub password \"broken\nmachine c login uc password pc\n",
                "b",
                None,
                None,
                1,
            ),
            // curl refuses the file.
            (
                "the rest of a skipped entry's lines are its own",
                b"machine b password \"x\nlogin ub password pb\nmachine c login uc password pc\n",
                "c",
                None,
                Some((b"uc", b"pc")),
                1,
            ),
            // curl refuses the file.
            (
                "unterminated quote in a host name",
                b"machine \"h login u password p\nmachine h login v password q\n",
                "h",
                None,
                Some((b"v", b"q")),
                1,
            ),
            (
                "password not UTF-8",
                b"machine h login u password \xff\xfe",
                "h",
                None,
                Some((b"u", b"\xff\xfe")),
                0,
            ),
            (
                "quoted password not UTF-8, with escapes",
                b"machine h login u password \"\xc3\x28 \\\xff\\t\"",
                "h",
                None,
                Some((b"u", b"\xc3\x28 \xff\t")),
                0,
            ),
            (
                "login and host not UTF-8",
                b"machine \xe9 login \xe9 password x\nmachine h login \xe9 password p",
                "h",
                None,
                Some((b"\xe9", b"p")),
                0,
            ),
            (
                "a quote in a comment line is a comment",
                b"# \"x\nmachine h login u password p\n",
                "h",
                None,
                Some((b"u", b"p")),
                0,
            ),
            (
                "a quote in a macdef is its body",
                b"macdef m\n\"x\n\nmachine h login u password p\nmachine b password \"y",
                "h",
                None,
                Some((b"u", b"p")),
                1,
            ),
            // curl refuses the file.
            (
                "unterminated quote after a macdef skips the rest of its line",
                b"machine h login u password p\nmacdef m\ncmd\n\n\"junk machine x\nmachine b login v password q\n",
                "b",
                None,
                Some((b"v", b"q")),
                1,
            ),
            (
                "URL user: the entry with that login",
                b"machine h login bob password bp\nmachine h login alice password ap\n",
                "h",
                Some(b"alice"),
                Some((b"alice", b"ap")),
                0,
            ),
            (
                "URL user: no entry with that login",
                b"machine h login bob password bp\n",
                "h",
                Some(b"alice"),
                None,
                0,
            ),
            (
                "URL user: an entry without a login is another user's",
                b"machine h password p\n",
                "h",
                Some(b"alice"),
                None,
                0,
            ),
            (
                "URL user: default with that login",
                b"machine h login bob password bp\ndefault login alice password dp\n",
                "h",
                Some(b"alice"),
                Some((b"alice", b"dp")),
                0,
            ),
            (
                "URL user: login case counts",
                b"machine h login Alice password ap\n",
                "h",
                Some(b"alice"),
                None,
                0,
            ),
            (
                "URL user: entry without a password",
                b"machine h login alice\n",
                "h",
                Some(b"alice"),
                Some((b"alice", b"")),
                0,
            ),
            (
                "URL user: password not UTF-8",
                b"machine h login alice password \xff\n",
                "h",
                Some(b"alice"),
                Some((b"alice", b"\xff")),
                0,
            ),
            // curl refuses the file.
            (
                "URL user: a skipped entry of the host ends the search",
                b"machine h login alice password \"x\nmachine h login alice password ap\n",
                "h",
                Some(b"alice"),
                None,
                1,
            ),
        ];
        for (what, text, host, user, want, warnings) in rows {
            let shown = String::from_utf8_lossy(text);
            let want = want.map(|(l, p)| (l.to_vec(), p.to_vec()));
            assert_eq!(
                lookup_as(text, host, *user),
                want,
                "{what}: {shown:?} for {host:?}"
            );
            let (_, damage) = parse(text);
            assert_eq!(damage.len(), *warnings, "{what}: {shown:?}: {damage:?}");
        }
    }

    /// Damage no longer refuses the file (it did until haul read `.netrc`
    /// files as leniently as curl): it is reported with its line and what
    /// was skipped for it.
    #[test]
    fn reports_damage_with_line_numbers() {
        let at_end = |line: usize, keyword: &str| {
            let what = if keyword == "machine" {
                "a host name"
            } else {
                "a value"
            };
            format!("line {line}: '{keyword}' without {what} at the end of the file; ignoring it")
        };
        let cases: &[(&str, &[String])] = &[
            ("machine", &[at_end(1, "machine")]),
            ("machine a\n  login u\n  password", &[at_end(3, "password")]),
            ("machine a login", &[at_end(1, "login")]),
            ("machine a\naccount\n\n", &[at_end(2, "account")]),
            (
                "# one\n# two\nmachine a\npassword\n",
                &[at_end(4, "password")],
            ),
            (
                "machine a\r\nlogin u\r\npassword\r\n",
                &[at_end(3, "password")],
            ),
            (
                "machine a\npassword \"abc",
                &[
                    "line 2: unterminated quoted token; skipping the machine entry from line 1"
                        .into(),
                ],
            ),
            (
                "machine a password \"abc\\\"",
                &[
                    "line 1: unterminated quoted token; skipping the machine entry from line 1"
                        .into(),
                ],
            ),
            ("machine a password \"x\ny\"\nlogin", &[at_end(3, "login")]),
            (
                "junk \"x\n",
                &["line 1: unterminated quoted token; skipping the rest of the line".into()],
            ),
            (
                "# c\n\ndefault\nlogin \"x",
                &[
                    "line 4: unterminated quoted token; skipping the default entry from line 3"
                        .into(),
                ],
            ),
            (
                "machine a\npassword \"x\nlogin",
                &[
                    "line 2: unterminated quoted token; skipping the machine entry from line 1"
                        .into(),
                    at_end(3, "login"),
                ],
            ),
        ];
        for (text, want) in cases {
            let (_, damage) = parse(text.as_bytes());
            let got: Vec<String> = damage.iter().map(ToString::to_string).collect();
            assert_eq!(got, *want, "{text:?}");
        }
    }

    #[test]
    fn debug_hides_passwords() {
        let text = b"machine a login u password hunter2\ndefault password hunter3\n\
                     machine b password \"hunter4";
        let (netrc, damage) = parse(text);
        let shown = format!(
            "{netrc:?} {:?} {damage:?}",
            netrc.lookup("a", None).unwrap()
        );
        assert!(!shown.contains("hunter"), "{shown}");
        assert!(shown.contains("(default)"), "{shown}");
        assert!(shown.contains("b (skipped)"), "{shown}");
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
            let (netrc, warnings) = load(&path).unwrap();
            assert_eq!(warnings.len(), usize::from(mode == 0o644));
            let creds = netrc.lookup("a", None).unwrap();
            assert_eq!(
                (&creds.login[..], &creds.password[..]),
                (&b"u"[..], &b"p"[..])
            );
        }
    }

    /// Damage is a warning naming `FILE:LINE` (it was an error refusing the
    /// whole file); only a file that cannot be read is an error.
    #[test]
    fn load_warns_of_damage_naming_the_path_and_fails_only_to_read() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("netrc");
        std::fs::write(
            &path,
            b"# c\nmachine a\npassword \"\xff\nmachine b password q\n",
        )
        .unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        let (netrc, warnings) = load(&path).unwrap();
        assert_eq!(
            warnings,
            [format!(
                "{}:3: unterminated quoted token; skipping the machine entry from line 2",
                path.display()
            )]
        );
        assert_eq!(netrc.lookup("a", None), None);
        assert_eq!(netrc.lookup("b", None).unwrap().password, b"q");

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
