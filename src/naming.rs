//! File names: the `-o`/`out=` output template (`{name}` `{path}` `{host}`
//! `{n}` `{1}`...), the path-safety check every destination passes through
//! ([`safe_relative`]: whatever named the file, a URL, a template, `out=` or
//! a server header), and the file names a server gives: the one a
//! `Content-Disposition` header suggests and the one the last URL of a
//! redirect chain carries (`--trust-server-names`), both checked by
//! [`server_file_name`]. Pure functions of their inputs: no file-system
//! access (what needs the disk, symlinks and special files, is `outdir/`).

use std::fmt;
use std::path::{Component, Path, PathBuf};

use anyhow::{Result, bail};
use percent_encoding::percent_decode_str;
use url::Url;

/// The name used when a URL path is empty or ends with `/`.
pub(crate) const INDEX: &str = "index.html";

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutputTemplate {
    parts: Vec<Part>,
}

/// A piece of a template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Part {
    Literal(String),
    Name,
    Path,
    Host,
    N,
    /// 1-based glob index.
    Glob(usize),
}

impl OutputTemplate {
    /// Parses a template; `{{` and `}}` are literal braces.
    pub fn parse(text: &str) -> Result<OutputTemplate> {
        let mut parts = Vec::new();
        let mut literal = String::new();
        let mut chars = text.char_indices().peekable();
        while let Some((i, c)) = chars.next() {
            match c {
                '{' if chars.peek().map(|&(_, c)| c) == Some('{') => {
                    chars.next();
                    literal.push('{');
                }
                '}' if chars.peek().map(|&(_, c)| c) == Some('}') => {
                    chars.next();
                    literal.push('}');
                }
                '{' => {
                    let rest = &text[i + 1..];
                    let Some(end) = rest.find('}') else {
                        bail!("unclosed '{{' in '{text}' (write '{{{{' for a literal brace)");
                    };
                    let key = &rest[..end];
                    let part = match key {
                        "name" => Part::Name,
                        "path" => Part::Path,
                        "host" => Part::Host,
                        "n" => Part::N,
                        _ => match key.parse::<usize>() {
                            // Digits only: `{+1}` or `{ 1}` is not `{1}`.
                            Ok(k) if k >= 1 && key.bytes().all(|b| b.is_ascii_digit()) => {
                                Part::Glob(k)
                            }
                            _ => bail!(
                                "unknown placeholder '{{{key}}}' in '{text}' \
                                 (known: {{name}} {{path}} {{host}} {{n}} {{1}} {{2}} ...)"
                            ),
                        },
                    };
                    if !literal.is_empty() {
                        parts.push(Part::Literal(std::mem::take(&mut literal)));
                    }
                    parts.push(part);
                    for _ in 0..=key.chars().count() {
                        chars.next();
                    }
                }
                '}' => bail!("unmatched '}}' in '{text}' (write '}}}}' for a literal brace)"),
                c => literal.push(c),
            }
        }
        if !literal.is_empty() {
            parts.push(Part::Literal(literal));
        }
        if parts.is_empty() {
            bail!("the output template is empty");
        }
        Ok(OutputTemplate { parts })
    }

    /// Its pieces, in order.
    pub(crate) fn parts(&self) -> &[Part] {
        &self.parts
    }

    /// The highest `{K}` glob placeholder used, 0 when none.
    pub fn max_glob(&self) -> usize {
        self.parts
            .iter()
            .map(|p| if let Part::Glob(k) = p { *k } else { 0 })
            .max()
            .unwrap_or(0)
    }

    /// Renders the destination of `url`, the `n`th URL of the input, whose
    /// globs took `globs`. The result still has to pass [`safe_relative`].
    pub fn render(&self, url: &Url, n: u64, globs: &[String]) -> Result<String, String> {
        let mut out = String::new();
        for part in &self.parts {
            match part {
                Part::Literal(s) => out.push_str(s),
                Part::Name => out.push_str(&url_name(url)),
                Part::Path => out.push_str(&url_path(url)),
                Part::Host => out.push_str(url.host_str().unwrap_or_default()),
                Part::N => out.push_str(&n.to_string()),
                Part::Glob(k) => match globs.get(k - 1) {
                    Some(value) => out.push_str(value),
                    None => {
                        return Err(format!(
                            "the output template uses {{{k}}} but the URL has {} glob{}",
                            globs.len(),
                            if globs.len() == 1 { "" } else { "s" }
                        ));
                    }
                },
            }
        }
        Ok(out)
    }
}

/// The last path segment, percent-decoded; `index.html` when empty.
fn url_name(url: &Url) -> String {
    let last = url.path().rsplit('/').next().unwrap_or_default();
    if last.is_empty() {
        INDEX.into()
    } else {
        decode(last)
    }
}

/// The whole path without its leading `/`, percent-decoded per segment;
/// `index.html` is appended when it names a folder.
fn url_path(url: &Url) -> String {
    let path = url.path().trim_start_matches('/');
    let mut out = path.split('/').map(decode).collect::<Vec<_>>().join("/");
    if out.is_empty() || out.ends_with('/') {
        out.push_str(INDEX);
    }
    out
}

fn decode(segment: &str) -> String {
    percent_decode_str(segment).decode_utf8_lossy().into_owned()
}

/// What a temp file adds to its destination's name.
pub(crate) const PART_SUFFIX: &str = ".part";

/// `DEST.part`: where a download is written until it is complete.
pub fn part_path(dest: &Path) -> PathBuf {
    let mut part = dest.as_os_str().to_owned();
    part.push(PART_SUFFIX);
    part.into()
}

/// Characters no file name may hold: controls (`char::is_control`, which
/// covers NUL, ESC, BEL, CR and LF) and the bidirectional marks that make a
/// name display as another, so listing a download folder cannot drive a
/// terminal.
pub(crate) fn is_forbidden_char(c: char) -> bool {
    c.is_control()
        || matches!(c, '\u{200E}' | '\u{200F}' | '\u{061C}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
}

/// Why a destination was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnsafeName {
    pub name: String,
    pub reason: &'static str,
}

impl fmt::Display for UnsafeName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "refusing destination '{}': {}",
            self.name.escape_debug(),
            self.reason
        )
    }
}

impl std::error::Error for UnsafeName {}

/// Normalises `name` into a relative path that stays inside `--dir`, or
/// refuses it. `.` and empty components are dropped; `..`, absolute paths,
/// NUL bytes and other control or bidirectional characters are refused,
/// never trimmed (trimming would write somewhere the user did not ask for).
pub fn safe_relative(name: &str) -> Result<PathBuf, UnsafeName> {
    let refuse = |reason| {
        Err(UnsafeName {
            name: name.into(),
            reason,
        })
    };
    if name.contains('\0') {
        return refuse("it contains a NUL byte");
    }
    if name.contains(is_forbidden_char) {
        return refuse("it contains a control or bidirectional character");
    }
    if name.starts_with('/') || Path::new(name).is_absolute() {
        return refuse("it is an absolute path");
    }
    if name.ends_with('/') {
        return refuse("it names a folder, not a file");
    }
    let mut out = PathBuf::new();
    for component in name.split('/') {
        match component {
            "" | "." => {}
            ".." => return refuse("it leads out of the output folder ('..')"),
            c => {
                // Only plain names may remain (this also catches a Windows
                // prefix such as `C:` where the platform knows one).
                let mut parsed = Path::new(c).components();
                match (parsed.next(), parsed.next()) {
                    (Some(Component::Normal(_)), None) => out.push(c),
                    _ => return refuse("it is not a plain relative path"),
                }
            }
        }
    }
    if out.as_os_str().is_empty() {
        return refuse("it is empty");
    }
    Ok(out)
}

/// The file name a `Content-Disposition` header suggests: `None` when it
/// suggests none, an error when the suggestion cannot be used (see
/// [`server_file_name`]). The `filename*=UTF-8''...` form is preferred over
/// `filename=`; only the last path component is kept (RFC 6266 section
/// 4.3, as curl `-J` does).
pub fn suggested_name(header: &str) -> Option<Result<String, UnsafeName>> {
    content_disposition_name(header).map(|name| server_file_name(&name))
}

/// The file name the last URL of a redirect chain gives under
/// `--trust-server-names`: its last path segment, percent-decoded
/// (`index.html` when empty, as `{name}`), checked like any name a server
/// gives ([`server_file_name`]), so a decoded `%2F` or `\` keeps only what
/// follows it.
pub fn url_file_name(url: &Url) -> Result<String, UnsafeName> {
    server_file_name(&url_name(url))
}

/// A file name a server gave (in a header, or as the URL it redirected
/// to), as a file name: its last path component (after the last `/` or
/// `\`), refused when that is empty, `.` or `..`, or when it holds NUL,
/// control or bidirectional characters. The one check for both sources.
fn server_file_name(name: &str) -> Result<String, UnsafeName> {
    let last = last_component(name);
    if last.is_empty() || last == "." || last == ".." {
        return Err(UnsafeName {
            name: name.into(),
            reason: "the server gave no usable file name",
        });
    }
    safe_relative(last)?;
    Ok(last.to_string())
}

/// What follows the last `/` or `\` of `name`.
fn last_component(name: &str) -> &str {
    name.rsplit(['/', '\\']).next().unwrap_or_default()
}

/// The last path component of the name a `Content-Disposition` header
/// suggests, unchecked.
fn content_disposition_name(header: &str) -> Option<String> {
    let mut plain = None;
    let mut extended = None;
    for param in split_params(header).into_iter().skip(1) {
        let Some((key, value)) = param.split_once('=') else {
            continue;
        };
        let key = key.trim().to_ascii_lowercase();
        let value = value.trim();
        if key == "filename*" {
            // RFC 8187: charset'language'percent-encoded
            let mut pieces = value.splitn(3, '\'');
            let (charset, _lang, encoded) = (pieces.next()?, pieces.next()?, pieces.next()?);
            if charset.eq_ignore_ascii_case("utf-8") {
                extended = Some(decode(encoded));
            }
        } else if key == "filename" {
            plain = Some(unquote(value));
        }
    }
    let name = extended.or(plain)?;
    Some(last_component(&name).trim().to_string())
}

/// Splits on `;` outside double quotes.
fn split_params(header: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let (mut start, mut quoted, mut escaped) = (0, false, false);
    for (i, c) in header.char_indices() {
        match c {
            _ if escaped => escaped = false,
            '\\' if quoted => escaped = true,
            '"' => quoted = !quoted,
            ';' if !quoted => {
                out.push(&header[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    out.push(&header[start..]);
    out
}

fn unquote(value: &str) -> String {
    match value.strip_prefix('"').and_then(|v| v.strip_suffix('"')) {
        Some(inner) => {
            let mut out = String::new();
            let mut chars = inner.chars();
            while let Some(c) = chars.next() {
                if c == '\\' {
                    if let Some(next) = chars.next() {
                        out.push(next);
                    }
                } else {
                    out.push(c);
                }
            }
            out
        }
        None => value.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn render(template: &str, url: &str, n: u64, globs: &[&str]) -> Result<String, String> {
        let globs: Vec<String> = globs.iter().map(|s| s.to_string()).collect();
        OutputTemplate::parse(template)
            .unwrap()
            .render(&Url::parse(url).unwrap(), n, &globs)
    }

    #[test]
    fn renders_placeholders() {
        let cases = [
            ("{name}", "http://h/a/b/c.jpg?x=1", "c.jpg"),
            ("{name}", "http://h/a/b/", "index.html"),
            ("{name}", "http://h", "index.html"),
            ("{name}", "http://h/a%20b.txt", "a b.txt"),
            ("{path}", "http://h/a/b/c.jpg", "a/b/c.jpg"),
            ("{path}", "http://h/a/b/", "a/b/index.html"),
            ("{path}", "http://h/", "index.html"),
            ("{host}/{path}", "http://ex.com:8080/x", "ex.com/x"),
            ("{n}-{name}", "http://h/x", "7-x"),
            ("{{{n}}}", "http://h/x", "{7}"),
            ("p{1}_{2}.html", "http://h/x", "pa_01.html"),
            ("{name}", "http://h/%2e%2e", "index.html"),
            ("{name}", "http://h/..%2Fetc", "../etc"),
        ];
        for (template, url, want) in cases {
            assert_eq!(
                render(template, url, 7, &["a", "01"]).as_deref(),
                Ok(want),
                "{template} {url}"
            );
        }
    }

    #[test]
    fn glob_placeholder_out_of_range() {
        let err = render("{3}", "http://h/x", 1, &["a"]).unwrap_err();
        assert!(err.contains("{3}") && err.contains("1 glob"), "{err}");
    }

    #[test]
    fn rejects_bad_templates() {
        for bad in ["", "{nam}", "{0}", "{name", "a}b", "{-1}", "{+1}", "{ 1}"] {
            assert!(OutputTemplate::parse(bad).is_err(), "{bad}");
        }
        assert_eq!(OutputTemplate::parse("{2}/{10}").unwrap().max_glob(), 10);
    }

    #[test]
    fn safe_paths() {
        let ok = [
            ("a.txt", "a.txt"),
            ("a/b/c.txt", "a/b/c.txt"),
            ("./a//b/./c", "a/b/c"),
            ("..a/b..", "..a/b.."),
            ("a\\..\\b", "a\\..\\b"),
        ];
        for (name, want) in ok {
            assert_eq!(safe_relative(name), Ok(PathBuf::from(want)), "{name}");
        }
        let bad = [
            ("..", "'..'"),
            ("a/../b", "'..'"),
            ("a/../../b", "'..'"),
            ("/etc/passwd", "absolute"),
            ("a\0b", "NUL"),
            ("a\u{1b}[2J", "control"),
            ("bell\u{7}", "control"),
            ("line\nfeed", "control"),
            ("evil\u{202E}gpj.exe", "bidirectional"),
            ("", "empty"),
            (".", "empty"),
            ("./", "folder"),
            ("dir/", "folder"),
        ];
        for (name, want) in bad {
            let err = safe_relative(name).unwrap_err().to_string();
            assert!(err.contains(want), "{name:?}: {err}");
        }
    }

    #[test]
    fn content_disposition() {
        let cases = [
            ("attachment; filename=\"a b.txt\"", Some("a b.txt")),
            ("attachment; filename=plain.bin", Some("plain.bin")),
            ("attachment; filename=\"x\\\"y.txt\"", Some("x\"y.txt")),
            (
                "attachment; filename=\"fallback.txt\"; filename*=UTF-8''na%C3%AFve.txt",
                Some("naïve.txt"),
            ),
            ("attachment; filename=\"../../etc/passwd\"", Some("passwd")),
            (
                "attachment; filename=\"semi;colon.txt\"",
                Some("semi;colon.txt"),
            ),
            ("inline", None),
        ];
        for (header, want) in cases {
            let got = suggested_name(header).and_then(Result::ok);
            assert_eq!(got.as_deref(), want, "{header}");
        }
        let refused = [
            "attachment; filename=\"..\"",
            "attachment; filename=\"\"",
            "attachment; filename=\"dir/\"",
            "attachment; filename=\"a\u{1b}[2Jb\"",
            "attachment; filename*=UTF-8''bell%07.txt",
            "attachment; filename*=UTF-8''nul%00.txt",
        ];
        for header in refused {
            assert!(matches!(suggested_name(header), Some(Err(_))), "{header}");
        }
        assert_eq!(suggested_name("inline"), None);
    }

    #[test]
    fn url_file_names() {
        let named = [
            ("http://h/files/real-name.bin", "real-name.bin"),
            ("http://h/files/real-name.bin?sig=1#top", "real-name.bin"),
            ("http://h/a%20b.txt", "a b.txt"),
            ("http://h/na%C3%AFve.txt", "na\u{ef}ve.txt"),
            ("http://h/dir/", "index.html"),
            ("http://h", "index.html"),
            // `..` as a segment is resolved by URL parsing, encoded or not.
            ("http://h/x/%2e%2e", "index.html"),
            ("http://h/x/%2E%2E/y.bin", "y.bin"),
            // A decoded separator keeps only what follows it.
            ("http://h/a/..%2F..%2Fescape", "escape"),
            ("http://h/a/..%5C..%5Cescape", "escape"),
            ("http://h/%2Fetc%2Fpasswd", "passwd"),
            ("http://h/a%2Fb%5Cc.txt", "c.txt"),
            ("http://h/...", "..."),
            ("http://h/..a", "..a"),
        ];
        for (url, want) in named {
            let url = Url::parse(url).unwrap();
            assert_eq!(url_file_name(&url).as_deref(), Ok(want), "{url}");
        }
        let refused = [
            ("http://h/a/..%2F", "no usable file name"),
            ("http://h/a/x%2F..", "no usable file name"),
            ("http://h/a/x%5C.", "no usable file name"),
            ("http://h/a/%2F", "no usable file name"),
            ("http://h/evil%0A.txt", "control"),
            ("http://h/evil%1B%5B2J.txt", "control"),
            ("http://h/nul%00.txt", "NUL"),
            ("http://h/evil%E2%80%AEgpj.exe", "bidirectional"),
        ];
        for (url, want) in refused {
            let url = Url::parse(url).unwrap();
            let err = url_file_name(&url).unwrap_err();
            assert!(err.to_string().contains(want), "{url}: {err}");
            assert!(!err.name.is_empty(), "{url}: the message names the name");
        }
    }
}
