//! Redaction, the one place it is decided: a URL's password is masked
//! (`user:***@`) wherever haul prints or stores the URL; secret header
//! values (`headers.rs`) are masked (`***`) in everything haul writes
//! (stderr lines and logs, `--report`, `--dry-run`: [`scrub`]); and text
//! from a server or a user is cleaned of control and bidi characters
//! before it reaches a terminal.

use std::borrow::Cow;
use std::fmt;
use std::sync::RwLock;
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};

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

/// The secret values of the run, longest first; `ANY` says whether there is
/// one, so a run without secrets pays one load per line.
static SECRETS: RwLock<Vec<String>> = RwLock::new(Vec::new());
static ANY: AtomicBool = AtomicBool::new(false);

/// Secrets shorter than this are not masked: they would mask ordinary
/// text (a two-letter value in every word).
const MIN_SECRET: usize = 4;

/// Keeps `secret` (a header value from `@env:`, `@file:`, a `-H @FILE`
/// file, `--host-header`, or a credential header) masked from now on in
/// everything that goes through [`scrub`].
pub(crate) fn keep_secret(secret: &str) {
    let secret = secret.trim();
    if secret.len() < MIN_SECRET {
        return;
    }
    // As written, and as a report line (JSON) or a debug log (`{:?}`)
    // escapes it: a `"` or `\` in a secret must not let it through.
    let quoted = |text: String| text[1..text.len() - 1].to_string();
    let forms = [
        secret.to_string(),
        quoted(serde_json::to_string(secret).unwrap_or_else(|_| format!("\"{secret}\""))),
        quoted(format!("{secret:?}")),
    ];
    let mut secrets = SECRETS.write().unwrap_or_else(|e| e.into_inner());
    for form in forms {
        if !secrets.contains(&form) {
            secrets.push(form);
        }
    }
    secrets.sort_by_key(|s| std::cmp::Reverse(s.len()));
    ANY.store(true, Relaxed);
}

/// `text` with every secret value masked (`***`): what every stderr line,
/// log record, report line and dry-run line goes through.
pub(crate) fn scrub(text: &str) -> Cow<'_, str> {
    if !ANY.load(Relaxed) {
        return Cow::Borrowed(text);
    }
    let secrets = SECRETS.read().unwrap_or_else(|e| e.into_inner());
    let mut out = Cow::Borrowed(text);
    for secret in secrets.iter() {
        if out.contains(secret.as_str()) {
            out = Cow::Owned(out.replace(secret.as_str(), "***"));
        }
    }
    out
}

/// [`scrub`] for bytes (a log record): unchanged when they hold no secret.
pub(crate) fn scrub_bytes(bytes: &[u8]) -> Cow<'_, [u8]> {
    if !ANY.load(Relaxed) {
        return Cow::Borrowed(bytes);
    }
    match scrub(&String::from_utf8_lossy(bytes)) {
        Cow::Borrowed(_) => Cow::Borrowed(bytes),
        Cow::Owned(text) => Cow::Owned(text.into_bytes()),
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
    fn escaped_forms_of_a_secret_are_masked_too() {
        let secret = r#"tok"en\with-quote"#;
        keep_secret(secret);
        let json = serde_json::to_string(&format!("error: {secret} refused")).unwrap();
        assert_eq!(scrub(&json), r#""error: *** refused""#);
        assert_eq!(scrub(&format!("{secret:?}")), r#""***""#);
        assert_eq!(scrub(secret), "***");
    }

    #[test]
    fn secrets_are_masked_longest_first() {
        keep_secret("abc"); // too short to mask
        keep_secret("redact-test-token-1234");
        keep_secret("Bearer redact-test-token-1234");
        assert_eq!(
            scrub("sent Bearer redact-test-token-1234 and redact-test-token-1234; abc"),
            "sent *** and ***; abc"
        );
        assert!(matches!(scrub("nothing here"), Cow::Borrowed(_)));
        assert_eq!(&*scrub_bytes(b"x redact-test-token-1234\n"), b"x ***\n");
    }

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
