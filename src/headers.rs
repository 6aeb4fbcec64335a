//! Request headers from the command line, and which request each goes to:
//! the one place that decides. `-H` headers go to every URL of the run;
//! `--host-header HOST 'Name: value'` only to requests for that host (and
//! port, when given), on every hop of a redirect chain that goes there and
//! on no other. A credential (`Authorization`, `Cookie`,
//! `Proxy-Authorization`, or any header whose value came from a secret
//! source: `@env:`, `@file:`, a `-H @FILE` file) given with `-H` goes only
//! to the URL's own origin (scheme, host, port): a redirect to another
//! origin never carries it (curl's rule since 7.83). `fetch/request.rs`
//! follows redirects itself and asks [`Headers::for_hop`] at every hop.
//!
//! Values are resolved once, when the run is set up (`config.rs`):
//! `@env:NAME` is replaced by the environment variable `NAME` and
//! `@file:PATH` (which takes the rest of the value) by the first line of
//! that file, so a secret is never in argv; a missing or empty one is a
//! usage error naming it. Every secret value is handed to `redact.rs`,
//! which masks it in everything haul prints or stores. Nothing here sends
//! anything.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use reqwest::header::{
    AUTHORIZATION, COOKIE, HeaderMap, HeaderName, HeaderValue, PROXY_AUTHORIZATION,
};
use url::Url;

use crate::redact::keep_secret;

/// A header as given on the command line, its value not yet resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HeaderArg {
    /// `-H 'Name: value'`.
    Line(HeaderName, String),
    /// `-H @FILE`: header lines read from a file.
    File(PathBuf),
}

/// The run's headers, resolved, and the rule of which request gets which.
#[derive(Debug, Clone, Default)]
pub(crate) struct Headers {
    /// Every `-H` header, for a hop of the URL's own origin.
    own: HeaderMap,
    /// The `-H` headers that are not credentials, for a hop elsewhere.
    elsewhere: HeaderMap,
    /// `--host-header`, in the order given.
    scoped: Vec<(Scope, HeaderName, HeaderValue)>,
}

/// The host (and port, when given) a `--host-header` goes to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Scope {
    host: String,
    port: Option<u16>,
}

impl Headers {
    /// Resolves `-H` headers (`args`) and `--host-header` pairs (`scoped`:
    /// HOST, then the header line) into the run's headers.
    pub(crate) fn resolve(args: &[HeaderArg], scoped: &[String]) -> Result<Headers> {
        let mut headers = Headers::default();
        for arg in args {
            match arg {
                HeaderArg::Line(name, value) => {
                    let flag = || format!("-H {name}");
                    let (value, secret) = resolve_value(value, &flag)?;
                    headers.add(name.clone(), value, secret);
                }
                HeaderArg::File(path) => {
                    for (name, value) in read_header_file(path)? {
                        // A file of headers exists to keep secrets out of
                        // argv: its headers are credentials.
                        headers.add(name, value, true);
                    }
                }
            }
        }
        for pair in scoped.chunks(2) {
            let [host, line] = pair else {
                bail!("--host-header takes two values: HOST 'Name: value'");
            };
            let scope = Scope::parse(host)?;
            let (name, raw) =
                parse_line(line).map_err(|e| anyhow::anyhow!("--host-header {host}: {e}"))?;
            let flag = || format!("--host-header {host} {name}");
            let (mut value, _) = resolve_value(&raw, &flag)?;
            // Scoped to its host: whatever it holds is meant for it alone.
            remember(&value);
            value.set_sensitive(true);
            headers.scoped.push((scope, name, value));
        }
        Ok(headers)
    }

    fn add(&mut self, name: HeaderName, mut value: HeaderValue, secret: bool) {
        let credential = secret || [AUTHORIZATION, COOKIE, PROXY_AUTHORIZATION].contains(&name);
        if credential {
            remember(&value);
            value.set_sensitive(true);
        } else {
            self.elsewhere.append(name.clone(), value.clone());
        }
        self.own.append(name, value);
    }

    /// The headers for the hop `hop` of a request for `url` (the URL
    /// itself, or where a redirect led): every `-H` header on the URL's own
    /// origin, only those that are not credentials elsewhere; and the
    /// `--host-header` headers of `hop`'s host, which replace `-H` headers
    /// of the same name.
    pub(crate) fn for_hop(&self, url: &Url, hop: &Url) -> HeaderMap {
        let mut map = if same_origin(url, hop) {
            self.own.clone()
        } else {
            self.elsewhere.clone()
        };
        let here = || self.scoped.iter().filter(|(scope, ..)| scope.matches(hop));
        for (_, name, _) in here() {
            map.remove(name);
        }
        for (_, name, value) in here() {
            map.append(name.clone(), value.clone());
        }
        map
    }
}

/// Whether two URLs are of one origin: scheme, host and port.
pub(crate) fn same_origin(a: &Url, b: &Url) -> bool {
    a.scheme() == b.scheme()
        && a.host_str() == b.host_str()
        && a.port_or_known_default() == b.port_or_known_default()
}

impl Scope {
    /// `HOST` or `HOST:PORT` (an IPv6 address in brackets), compared as
    /// URLs name hosts: lower case, international names in ASCII.
    fn parse(text: &str) -> Result<Scope> {
        let bad = || {
            anyhow::anyhow!(
                "--host-header: '{text}' is not a host: expected HOST or HOST:PORT \
                 (no scheme, no path)"
            )
        };
        if text.is_empty() || text.contains(['/', '@', '?', '#']) || text.contains("://") {
            return Err(bad());
        }
        let url = Url::parse(&format!("http://{text}/")).map_err(|_| bad())?;
        let host = url.host_str().filter(|h| !h.is_empty()).ok_or_else(bad)?;
        Ok(Scope {
            host: host.to_string(),
            port: url.port_or_known_default().filter(|_| has_port(text)),
        })
    }

    fn matches(&self, url: &Url) -> bool {
        url.host_str() == Some(self.host.as_str())
            && self
                .port
                .is_none_or(|port| url.port_or_known_default() == Some(port))
    }
}

/// Whether `HOST[:PORT]` text names a port (`[::1]` does not; `[::1]:8`
/// and `h:8` do).
fn has_port(text: &str) -> bool {
    match text.rsplit_once(']') {
        Some((_, rest)) => rest.starts_with(':'),
        None => text.contains(':'),
    }
}

/// Splits `Name: value`; the value is not checked yet (it may hold
/// `@env:`/`@file:`). The error never repeats the value.
pub(crate) fn parse_line(line: &str) -> Result<(HeaderName, String), String> {
    let Some((name, value)) = line.split_once(':') else {
        return Err("expected 'Name: value' (no ':' found)".into());
    };
    let name = HeaderName::from_bytes(name.trim().as_bytes()).map_err(|_| {
        format!(
            "invalid header name '{}'",
            crate::redact::sanitize(name.trim())
        )
    })?;
    Ok((name, value.trim().to_string()))
}

/// A header value with `@env:NAME` and `@file:PATH` replaced; `true` when
/// it held either (the value is then a secret). `flag` names the header
/// in errors, which never show the value.
fn resolve_value(raw: &str, flag: &dyn Fn() -> String) -> Result<(HeaderValue, bool)> {
    let mut out = String::new();
    let mut rest = raw;
    let mut secret = false;
    while let Some(at) = rest.find('@') {
        out.push_str(&rest[..at]);
        let tail = &rest[at..];
        if let Some(after) = tail.strip_prefix("@env:") {
            let len = after
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .unwrap_or(after.len());
            let name = &after[..len];
            if name.is_empty() {
                bail!("{}: '@env:' needs a variable name", flag());
            }
            let value = match std::env::var(name) {
                Ok(value) if !value.is_empty() => value,
                Ok(_) => bail!("{}: the environment variable {name} is empty", flag()),
                Err(std::env::VarError::NotPresent) => {
                    bail!("{}: the environment variable {name} is not set", flag())
                }
                Err(std::env::VarError::NotUnicode(_)) => {
                    bail!("{}: the environment variable {name} is not UTF-8", flag())
                }
            };
            remember_str(&value);
            out.push_str(&value);
            secret = true;
            rest = &after[len..];
        } else if let Some(path) = tail.strip_prefix("@file:") {
            let value = first_line(Path::new(path)).with_context(flag)?;
            remember_str(&value);
            out.push_str(&value);
            secret = true;
            rest = "";
        } else {
            out.push('@');
            rest = &tail[1..];
        }
    }
    out.push_str(rest);
    let value = HeaderValue::from_str(&out)
        .map_err(|_| anyhow::anyhow!("{}: the value is not a valid header value", flag()))?;
    Ok((value, secret))
}

/// The first line of a secret file, without its line ending.
fn first_line(path: &Path) -> Result<String> {
    let (text, _) = crate::small_file::read(path)
        .with_context(|| format!("cannot read @file:{}", path.display()))?;
    let line = text.lines().next().unwrap_or("").trim_end_matches('\r');
    if line.is_empty() {
        bail!("@file:{}: the first line is empty", path.display());
    }
    Ok(line.to_string())
}

/// `-H @FILE`: one `Name: value` per line; blank lines and `#` comments
/// are skipped. A bad line is a usage error naming `FILE:LINE`.
fn read_header_file(path: &Path) -> Result<Vec<(HeaderName, HeaderValue)>> {
    let (text, _) = crate::small_file::read(path)
        .with_context(|| format!("cannot read the -H @{} file", path.display()))?;
    let mut headers = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim_end_matches('\r');
        if line.trim().is_empty() || line.trim_start().starts_with('#') {
            continue;
        }
        let at = || format!("{}:{}", path.display(), i + 1);
        let (name, raw) = parse_line(line).map_err(|e| anyhow::anyhow!("{}: {e}", at()))?;
        let (value, _) = resolve_value(&raw, &|| format!("{}: {name}", at()))?;
        headers.push((name, value));
    }
    Ok(headers)
}

fn remember(value: &HeaderValue) {
    if let Ok(text) = value.to_str() {
        remember_str(text);
    }
}

/// A secret is masked as a whole, and so is its last word (the token of
/// `Bearer TOKEN`), which a message may show alone.
fn remember_str(text: &str) {
    keep_secret(text);
    if let Some((_, last)) = text.trim().rsplit_once(' ') {
        keep_secret(last);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url(s: &str) -> Url {
        Url::parse(s).unwrap()
    }

    fn line(s: &str) -> HeaderArg {
        let (name, value) = parse_line(s).unwrap();
        HeaderArg::Line(name, value)
    }

    #[test]
    fn credentials_stay_on_the_origin_and_scoped_headers_on_their_host() {
        let headers = Headers::resolve(
            &[line("Authorization: Bearer t0ken"), line("X-Trace: a")],
            &["mirror.example:8443".into(), "X-Key: k3y".into()],
        )
        .unwrap();
        let start = url("https://api.example/a");
        let here = headers.for_hop(&start, &start);
        assert_eq!(here["authorization"], "Bearer t0ken");
        assert_eq!(here["x-trace"], "a");
        assert!(here.get("x-key").is_none());

        let elsewhere = headers.for_hop(&start, &url("https://cdn.example/a"));
        assert!(elsewhere.get("authorization").is_none());
        assert_eq!(elsewhere["x-trace"], "a");

        // Another scheme or port is another origin.
        assert!(
            headers
                .for_hop(&start, &url("http://api.example/a"))
                .get("authorization")
                .is_none()
        );
        assert!(
            headers
                .for_hop(&start, &url("https://api.example:444/"))
                .get("authorization")
                .is_none()
        );

        let mirror = headers.for_hop(&start, &url("https://mirror.example:8443/x"));
        assert_eq!(mirror["x-key"], "k3y");
        assert!(mirror.get("authorization").is_none());
        assert!(
            headers
                .for_hop(&start, &url("https://mirror.example/x"))
                .get("x-key")
                .is_none()
        );
    }

    #[test]
    fn a_scoped_header_replaces_a_global_one_of_the_same_name() {
        let headers = Headers::resolve(
            &[line("Authorization: Bearer global-token")],
            &[
                "h.example".into(),
                "Authorization: Bearer host-token".into(),
            ],
        )
        .unwrap();
        let hop = url("https://h.example/a");
        let map = headers.for_hop(&hop, &hop);
        let values: Vec<_> = map.get_all("authorization").iter().collect();
        assert_eq!(values, ["Bearer host-token"]);
    }

    #[test]
    fn scopes_name_hosts_as_urls_do() {
        let scope = Scope::parse("Example.COM").unwrap();
        assert!(scope.matches(&url("http://example.com:81/")));
        let scope = Scope::parse("[::1]:8080").unwrap();
        assert!(scope.matches(&url("http://[::1]:8080/")));
        assert!(!scope.matches(&url("http://[::1]:8081/")));
        let scope = Scope::parse("h:443").unwrap();
        assert!(scope.matches(&url("https://h/")));
        for bad in ["", "https://h", "h/path", "user@h", "h:port"] {
            assert!(Scope::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn env_and_file_values_are_resolved_and_missing_ones_refused() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("token");
        std::fs::write(&file, "from-file-secret\nsecond line\n").unwrap();
        let flag = || "-H X".to_string();
        let (value, secret) =
            resolve_value(&format!("Bearer @file:{}", file.display()), &flag).unwrap();
        assert_eq!(value, "Bearer from-file-secret");
        assert!(secret);
        let (value, secret) = resolve_value("x@y and @@ plain", &flag).unwrap();
        assert_eq!(value, "x@y and @@ plain");
        assert!(!secret);
        let err = resolve_value("Bearer @env:HAUL_TEST_SURELY_UNSET_VARIABLE", &flag)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("HAUL_TEST_SURELY_UNSET_VARIABLE is not set"),
            "{err}"
        );
        let missing = dir.path().join("missing");
        let err = format!(
            "{:#}",
            resolve_value(&format!("@file:{}", missing.display()), &flag).unwrap_err()
        );
        assert!(err.contains("missing"), "{err}");
        std::fs::write(&file, "\nsecond\n").unwrap();
        let err = format!(
            "{:#}",
            resolve_value(&format!("@file:{}", file.display()), &flag).unwrap_err()
        );
        assert!(err.contains("first line is empty"), "{err}");
    }

    #[test]
    fn a_header_file_names_its_bad_line_without_the_value() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("headers");
        std::fs::write(&file, "# tokens\n\nX-Key: abc\nnot a header secretvalue\n").unwrap();
        let err = Headers::resolve(&[HeaderArg::File(file.clone())], &[])
            .unwrap_err()
            .to_string();
        assert!(err.contains(&format!("{}:4", file.display())), "{err}");
        assert!(!err.contains("secretvalue"), "{err}");
        std::fs::write(&file, "# tokens\n\nX-Key: abc\r\n").unwrap();
        let headers = Headers::resolve(&[HeaderArg::File(file)], &[]).unwrap();
        let start = url("http://h/");
        assert_eq!(headers.for_hop(&start, &start)["x-key"], "abc");
        assert!(
            headers
                .for_hop(&start, &url("http://g/"))
                .get("x-key")
                .is_none()
        );
    }
}
