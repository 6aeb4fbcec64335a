//! Redaction, the one place it is decided: a URL's password is masked
//! (`user:***@`) wherever haul prints or stores the URL, and text from a
//! server or a user is cleaned of control and bidi characters before it
//! reaches a terminal.

use std::fmt;

use url::Url;

use crate::naming::is_forbidden_char;

/// A URL as haul prints or stores it: a password is masked
/// (`user:***@host`), so failure lines, logs, `--dry-run` and `--report`
/// never hold one. A script that feeds failed URLs back must add the
/// credentials again (or use `--netrc`).
pub(crate) fn masked(url: &Url) -> String {
    Masked(url).to_string()
}

/// [`masked`] as a `Display`, for printing without a copy.
pub(crate) struct Masked<'a>(pub(crate) &'a Url);

impl fmt::Display for Masked<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let Some(password) = self.0.password() else {
            return f.write_str(self.0.as_str());
        };
        // The serialisation is `scheme://user:password@host...`; the
        // password is the first occurrence after the user's `:`.
        let text = self.0.as_str();
        let start = self.0.scheme().len() + 3 + self.0.username().len() + 1;
        match text.get(start..start + password.len()) {
            Some(found) if found == password => {
                write!(
                    f,
                    "{}***{}",
                    &text[..start],
                    &text[start + password.len()..]
                )
            }
            _ => f.write_str("[URL with a password]"),
        }
    }
}

/// [`masked`] for text that may not parse as a URL (a bad list line, a
/// glob pattern): the part between `scheme://` and the last `@` of the
/// authority loses everything after its first `:`.
pub(crate) fn masked_text(text: &str) -> String {
    let Some(start) = text.find("://").map(|i| i + 3) else {
        return text.to_string();
    };
    let rest = &text[start..];
    let authority = rest.find(['/', '?', '#']).map_or(rest, |end| &rest[..end]);
    let Some(at) = authority.rfind('@') else {
        return text.to_string();
    };
    let Some(colon) = authority[..at].find(':') else {
        return text.to_string();
    };
    format!("{}:***{}", &text[..start + colon], &text[start + at..])
}

/// Replaces control and bidi characters (the class no file name may hold,
/// [`is_forbidden_char`]) before a server- or user-provided string reaches
/// a terminal.
pub(crate) fn sanitize(text: &str) -> String {
    text.chars()
        .map(|c| if is_forbidden_char(c) { '\u{FFFD}' } else { c })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_are_masked() {
        let url = Url::parse("https://alice:s3cret@h/a?token=1").unwrap();
        assert_eq!(masked(&url), "https://alice:***@h/a?token=1");
        let plain = Url::parse("https://alice@h/a").unwrap();
        assert_eq!(masked(&plain), "https://alice@h/a");
        let same = Url::parse("http://pw:pw@h:8080/pw").unwrap();
        assert_eq!(masked(&same), "http://pw:***@h:8080/pw");
        let encoded = Url::parse("http://u%40x:p%3Aw@h/").unwrap();
        assert_eq!(masked(&encoded), "http://u%40x:***@h/");
        let empty_user = Url::parse("http://:secret@h/").unwrap();
        assert_eq!(masked(&empty_user), "http://:***@h/");
        let cases = [
            ("http://u:p@h/[1-3]", "http://u:***@h/[1-3]"),
            ("http://u:p:q@h:80/x@y", "http://u:***@h:80/x@y"),
            ("http://u:p@[bad", "http://u:***@[bad"),
            ("http://h/a:b@c", "http://h/a:b@c"),
            ("no url here", "no url here"),
            ("http://u@h/", "http://u@h/"),
        ];
        for (text, want) in cases {
            assert_eq!(masked_text(text), want, "{text}");
        }
    }

    /// What reaches a terminal is cleaned of the same characters no file
    /// name may hold: the Arabic letter mark (U+061C) included, which the
    /// failure line used to let through.
    #[test]
    fn sanitize_replaces_controls_and_every_bidi_mark() {
        let text = "a\u{1b}[31mb\u{202E}c\u{061C}d\u{2066}e\u{200F}f\u{7}";
        assert_eq!(
            sanitize(text),
            "a\u{FFFD}[31mb\u{FFFD}c\u{FFFD}d\u{FFFD}e\u{FFFD}f\u{FFFD}"
        );
        assert_eq!(sanitize("ordinary text é"), "ordinary text é");
    }
}
