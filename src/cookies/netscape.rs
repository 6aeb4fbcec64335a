//! The Netscape cookie file, read and written by hand (no crate does it):
//! the format of curl's `-b`/`-c`, wget's `--load-cookies`/
//! `--save-cookies`, aria2's and browsers' cookies.txt exports. One cookie
//! a line, seven fields separated by tabs:
//!
//! ```text
//! DOMAIN        SUBDOMAINS  PATH  SECURE  EXPIRES     NAME  VALUE
//! .example.com  TRUE        /     FALSE   1767225600  sid   abc123
//! ```
//!
//! SUBDOMAINS and SECURE are `TRUE` or `FALSE`; EXPIRES is in seconds since
//! the Unix epoch, `0` for a cookie that lasts the session. A DOMAIN
//! prefixed `#HttpOnly_` is an HttpOnly cookie; any other line starting with
//! `#` is a comment, and blank lines are skipped. As curl does, a line of
//! six fields is a cookie with an empty value (an editor ate the last tab),
//! and a leading dot on DOMAIN is dropped. Format notes:
//! <https://curl.se/docs/http-cookies.html>. What the fields mean for a
//! request is `cookie_store`'s to decide (`mod.rs`).

/// One cookie line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Line {
    /// The host or domain, without a leading dot.
    pub(crate) domain: String,
    /// The cookie also goes to the domain's subdomains.
    pub(crate) subdomains: bool,
    pub(crate) path: String,
    /// Only over HTTPS.
    pub(crate) secure: bool,
    pub(crate) http_only: bool,
    /// Seconds since the Unix epoch; `None` for a session cookie.
    pub(crate) expires: Option<u64>,
    pub(crate) name: String,
    pub(crate) value: String,
}

/// What a written file starts with. The first line is the one readers
/// look for (Python's `MozillaCookieJar` refuses a file without it).
pub(crate) const HEADER: &str = "# Netscape HTTP Cookie File\n\
    # Written by haul; the format: https://curl.se/docs/http-cookies.html\n\n";

const HTTP_ONLY: &str = "#HttpOnly_";

/// One line of a cookie file (without its line ending): `None` for a
/// blank line or a comment, else the cookie or what is wrong with it (never
/// quoting the value, which is a secret).
pub(crate) fn parse(line: &str) -> Option<Result<Line, String>> {
    let line = line.strip_suffix('\r').unwrap_or(line);
    if line.trim().is_empty() {
        return None;
    }
    let (http_only, line) = match line.strip_prefix(HTTP_ONLY) {
        Some(rest) => (true, rest),
        None if line.starts_with('#') => return None,
        None => (false, line),
    };
    Some(fields(line, http_only))
}

fn fields(line: &str, http_only: bool) -> Result<Line, String> {
    let fields: Vec<&str> = line.split('\t').collect();
    let (domain, subdomains, path, secure, expires, name, value) = match fields[..] {
        [d, s, p, x, e, n, v] => (d, s, p, x, e, n, v),
        [d, s, p, x, e, n] => (d, s, p, x, e, n, ""),
        _ => {
            return Err(format!(
                "expected 7 fields separated by tabs, found {}",
                fields.len()
            ));
        }
    };
    let domain = domain.strip_prefix('.').unwrap_or(domain);
    if domain.is_empty() || domain.contains(|c: char| c.is_whitespace() || c.is_control()) {
        return Err("the domain (1st field) is not a host name".into());
    }
    if !path.starts_with('/') || path.contains(char::is_control) {
        return Err("the path (3rd field) does not start with '/'".into());
    }
    let expires = match expires.trim().parse::<u64>() {
        Ok(0) => None,
        Ok(at) => Some(at),
        Err(_) => return Err("the expiry (5th field) is not a number of seconds".into()),
    };
    let bad_name = |c: char| c.is_control() || c.is_whitespace() || c == '=' || c == ';';
    if name.is_empty() || name.contains(bad_name) {
        return Err("the name (6th field) is empty or not a cookie name".into());
    }
    if value.contains(|c: char| c.is_control() || c == ';') {
        return Err("the value (7th field) holds a control character or ';'".into());
    }
    Ok(Line {
        domain: domain.to_string(),
        subdomains: flag(subdomains).ok_or("the 2nd field is not TRUE or FALSE")?,
        path: path.to_string(),
        secure: flag(secure).ok_or("the 4th field is not TRUE or FALSE")?,
        http_only,
        expires,
        name: name.to_string(),
        value: value.to_string(),
    })
}

/// `TRUE` or `FALSE`, in any case.
fn flag(text: &str) -> Option<bool> {
    match text.trim() {
        t if t.eq_ignore_ascii_case("TRUE") => Some(true),
        t if t.eq_ignore_ascii_case("FALSE") => Some(false),
        _ => None,
    }
}

impl Line {
    /// The line as curl writes it: a leading dot on a domain whose
    /// subdomains match, `0` for a session cookie.
    pub(crate) fn format(&self) -> String {
        let bool = |b: bool| if b { "TRUE" } else { "FALSE" };
        format!(
            "{}{}{}\t{}\t{}\t{}\t{}\t{}\t{}",
            if self.http_only { HTTP_ONLY } else { "" },
            if self.subdomains { "." } else { "" },
            self.domain,
            bool(self.subdomains),
            self.path,
            bool(self.secure),
            self.expires.unwrap_or(0),
            self.name,
            self.value
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(domain: &str, subdomains: bool, name: &str, value: &str) -> Line {
        Line {
            domain: domain.into(),
            subdomains,
            path: "/".into(),
            secure: false,
            http_only: false,
            expires: None,
            name: name.into(),
            value: value.into(),
        }
    }

    #[test]
    fn lines_as_curl_and_browsers_write_them() {
        let parsed = |text: &str| parse(text).unwrap().unwrap();
        assert_eq!(
            parsed(".example.com\tTRUE\t/\tFALSE\t0\tsid\tabc123"),
            line("example.com", true, "sid", "abc123")
        );
        // curl writes no dot for a host-only cookie.
        let got = parsed("h.example\tFALSE\t/a/b\tTRUE\t1767225600\tk\tv w\r");
        assert_eq!(
            got,
            Line {
                path: "/a/b".into(),
                secure: true,
                expires: Some(1_767_225_600),
                value: "v w".into(),
                ..line("h.example", false, "k", "")
            }
        );
        let got = parsed("#HttpOnly_.example.com\ttrue\t/\tfalse\t1\tsid\t");
        assert!(got.http_only && got.subdomains && got.value.is_empty());
        // Six fields: an empty value, as curl reads it.
        assert_eq!(parsed("example.com\tFALSE\t/\tFALSE\t0\tsid").value, "");
        for skipped in [
            "",
            "   ",
            "# Netscape HTTP Cookie File",
            "#comment\tTRUE",
            "\r",
        ] {
            assert!(parse(skipped).is_none(), "{skipped:?}");
        }
    }

    #[test]
    fn a_bad_line_says_what_is_wrong_without_the_value() {
        let cases = [
            ("example.com TRUE / FALSE 0 sid VALUE", "7 fields"),
            (
                "example.com\tTRUE\t/\tFALSE\t0\tsid\tVALUE\textra",
                "7 fields",
            ),
            ("\tTRUE\t/\tFALSE\t0\tsid\tVALUE", "domain"),
            ("example.com\tYES\t/\tFALSE\t0\tsid\tVALUE", "2nd field"),
            ("example.com\tTRUE\tpath\tFALSE\t0\tsid\tVALUE", "path"),
            ("example.com\tTRUE\t/\t1\t0\tsid\tVALUE", "4th field"),
            ("example.com\tTRUE\t/\tFALSE\tsoon\tsid\tVALUE", "expiry"),
            ("example.com\tTRUE\t/\tFALSE\t-5\tsid\tVALUE", "expiry"),
            ("example.com\tTRUE\t/\tFALSE\t0\t\tVALUE", "name"),
            ("example.com\tTRUE\t/\tFALSE\t0\ts=d\tVALUE", "name"),
            ("example.com\tTRUE\t/\tFALSE\t0\tsid\tVAL;UE", "value"),
            ("example.com\tTRUE\t/\tFALSE\t0\tsid\tVAL\u{1}UE", "value"),
        ];
        for (text, want) in cases {
            let err = parse(text).unwrap().unwrap_err();
            assert!(err.contains(want), "{text:?}: {err}");
            assert!(!err.contains("VAL"), "{err}");
        }
    }

    #[test]
    fn a_written_line_reads_back_the_same() {
        let cookies = [
            line("example.com", true, "sid", "abc"),
            Line {
                http_only: true,
                secure: true,
                expires: Some(4_102_444_800),
                path: "/x/".into(),
                ..line("h.example", false, "k", "")
            },
        ];
        for cookie in cookies {
            let text = cookie.format();
            assert_eq!(parse(&text).unwrap().unwrap(), cookie, "{text}");
        }
        assert_eq!(
            line("example.com", true, "sid", "abc").format(),
            ".example.com\tTRUE\t/\tFALSE\t0\tsid\tabc"
        );
        assert!(HEADER.starts_with("# Netscape HTTP Cookie File\n"));
        assert!(HEADER.lines().all(|l| parse(l).is_none()));
    }
}
