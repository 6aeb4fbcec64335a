//! The cookie jar of `-b FILE` and `-c FILE`: one store for the whole run,
//! shared by every transfer thread's client. reqwest's cookie service
//! asks it for the `Cookie` header of every request (each redirect hop,
//! range, sidecar and `--checksums` URL) and hands it every answer's
//! `Set-Cookie` headers, a redirect's included, so a cookie set by a `302`
//! goes with the next hop. Which cookie goes where (domain, path, secure,
//! expiry: RFC 6265) is `cookie_store`'s to decide, not haul's.
//!
//! What is haul's: the file format (`netscape.rs`); reading `-b` when the
//! run is set up ([`Jar::load`], from `config.rs`; a bad line is a warning
//! naming `FILE:LINE`, as curl skips one); writing `-c` when the run ends
//! ([`Jar::save`]: a new file beside it, mode 0600, renamed over it, so a
//! reader sees the old jar or the new one, never half of one); keeping
//! values out of haul's output (the `Cookie` header is marked sensitive,
//! and haul logs cookie names only); and refusing a `Set-Cookie` whose
//! `Domain` is a top-level name (`Domain=com`), which without a public
//! suffix list is what curl built without libpsl refuses too.

mod netscape;

use std::ffi::OsString;
use std::fmt;
use std::io::Write as _;
use std::path::Path;
use std::sync::{Mutex, MutexGuard};

use anyhow::{Context, Result};
use cookie_store::{Cookie, CookieDomain, CookieExpiration, CookieStore, RawCookie};
use reqwest::header::HeaderValue;
use url::Url;

use self::netscape::Line;
use crate::redact::sanitize;

/// Bad lines of a `-b` file named one by one; past these, one more
/// warning counts the rest.
const WARN_LINES: usize = 10;

/// The run's cookies.
#[derive(Default)]
pub(crate) struct Jar {
    store: Mutex<CookieStore>,
}

/// Never the cookies: `Config`'s debug output must not show a value.
impl fmt::Debug for Jar {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Jar { .. }")
    }
}

impl Jar {
    /// The cookies of the Netscape cookie file at `path` (at most 16 MiB,
    /// `small_file.rs`). Expired ones are left out; a line that is not a
    /// cookie is skipped with a warning naming `FILE:LINE` (the first
    /// [`WARN_LINES`], then a count). A file that cannot be read is an
    /// error.
    pub(crate) fn load(path: &Path, warnings: &mut Vec<String>) -> Result<Jar> {
        let (bytes, _) = crate::small_file::read_bytes(path)?;
        let mut store = CookieStore::default();
        let mut bad = 0;
        for (i, line) in bytes.split(|&b| b == b'\n').enumerate() {
            let cookie = match std::str::from_utf8(line) {
                Ok(text) => netscape::parse(text),
                Err(_) => Some(Err("not UTF-8 text".to_string())),
            };
            let why = match cookie {
                None => continue,
                Some(Ok(line)) => match insert(&mut store, &line) {
                    Ok(()) => continue,
                    Err(why) => why,
                },
                Some(Err(why)) => why,
            };
            bad += 1;
            if bad <= WARN_LINES {
                warnings.push(format!(
                    "{}:{}: {why}; line skipped (-b)",
                    path.display(),
                    i + 1
                ));
            }
        }
        if bad > WARN_LINES {
            warnings.push(format!(
                "{}: {} more lines that are not cookies skipped (-b)",
                path.display(),
                bad - WARN_LINES
            ));
        }
        Ok(Jar {
            store: Mutex::new(store),
        })
    }

    /// Writes every cookie not yet expired, session cookies included (with
    /// expiry `0`, as curl writes them), to `path` in the Netscape format:
    /// into a new file beside it (created exclusively, never through a
    /// symlink, mode 0600), synced, then renamed over it.
    pub(crate) fn save(&self, path: &Path) -> Result<()> {
        let mut lines: Vec<Line> = self.lock().iter_unexpired().filter_map(line_of).collect();
        lines.sort_by(|a, b| (&a.domain, &a.path, &a.name).cmp(&(&b.domain, &b.path, &b.name)));
        let mut text = String::from(netscape::HEADER);
        for line in &lines {
            text.push_str(&line.format());
            text.push('\n');
        }
        replace(path, text.as_bytes())
            .with_context(|| format!("cannot write the cookie jar {} (-c)", path.display()))
    }

    fn lock(&self) -> MutexGuard<'_, CookieStore> {
        // A panic elsewhere while holding it leaves the store as it was.
        self.store.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl reqwest::cookie::CookieStore for Jar {
    /// Stores the cookies of an answer from `url`, as `cookie_store`
    /// judges them, except one for a top-level domain.
    fn set_cookies(&self, headers: &mut dyn Iterator<Item = &HeaderValue>, url: &Url) {
        let host = url.host_str().unwrap_or_default();
        let mut store = self.lock();
        for header in headers {
            let Ok(cookie) = std::str::from_utf8(header.as_bytes())
                .map_err(|_| ())
                .and_then(|text| RawCookie::parse(text).map_err(|_| ()))
            else {
                tracing::debug!("{host}: a Set-Cookie that does not parse was ignored");
                continue;
            };
            let name = sanitize(cookie.name());
            if let Some(domain) = cookie.domain()
                && !domain.contains('.')
                && !domain.eq_ignore_ascii_case(host)
            {
                let domain = sanitize(domain);
                tracing::debug!("{host}: cookie {name} for the top-level domain {domain} ignored");
                continue;
            }
            // Not `store_response_cookies`, which logs each value at
            // debug level (and so into haul's log under RUST_LOG=debug).
            match store.insert_raw(&cookie, url) {
                Ok(_) => tracing::debug!("{host}: cookie {name} stored"),
                Err(err) => tracing::debug!("{host}: cookie {name} not stored: {err}"),
            }
        }
    }

    /// The `Cookie` header for a request to `url`, marked sensitive (no
    /// debug output shows it; HTTP/2 never indexes it).
    fn cookies(&self, url: &Url) -> Option<HeaderValue> {
        let header_safe = |s: &str| !s.bytes().any(|b| b < 0x20 || b == 0x7f);
        let pairs: Vec<String> = self
            .lock()
            .get_request_values(url)
            .filter(|(name, value)| header_safe(name) && header_safe(value))
            .map(|(name, value)| format!("{name}={value}"))
            .collect();
        if pairs.is_empty() {
            return None;
        }
        let mut value = HeaderValue::from_str(&pairs.join("; ")).ok()?;
        value.set_sensitive(true);
        Some(value)
    }
}

/// The latest expiry `time` (and so `cookie_store`) can hold: 9999-12-31.
const MAX_EXPIRY: u64 = 253_402_300_799;

/// Puts a cookie file's line in the store as a cookie received from its
/// domain; `Err` says why it cannot be (not why an expired one is left out:
/// that one is simply not there).
fn insert(store: &mut CookieStore, line: &Line) -> Result<(), String> {
    let host = match line.domain.contains(':') && !line.domain.starts_with('[') {
        true => format!("[{}]", line.domain),
        false => line.domain.clone(),
    };
    let url = Url::parse(&format!("http://{host}/"))
        .ok()
        .filter(|url| url.host_str().is_some_and(|h| !h.is_empty()))
        .ok_or("the domain (1st field) is not a host name")?;
    let mut raw = RawCookie::build((line.name.clone(), line.value.clone()))
        .path(line.path.clone())
        .secure(line.secure)
        .http_only(line.http_only);
    if line.subdomains {
        raw = raw.domain(line.domain.clone());
    }
    if let Some(at) = line.expires {
        let at = time::OffsetDateTime::from_unix_timestamp(at.min(MAX_EXPIRY) as i64)
            .map_err(|_| "the expiry (5th field) is out of range")?;
        raw = raw.expires(at);
    }
    let cookie = Cookie::try_from_raw_cookie(&raw.build(), &url)
        .map_err(|e| format!("not a cookie haul can use: {e}"))?
        .into_owned();
    match store.insert(cookie, &url) {
        Ok(_) | Err(cookie_store::CookieError::Expired) => Ok(()),
        Err(e) => Err(format!("not a cookie haul can use: {e}")),
    }
}

/// A stored cookie as a cookie file's line.
fn line_of(cookie: &Cookie<'_>) -> Option<Line> {
    let (domain, subdomains) = match &cookie.domain {
        CookieDomain::HostOnly(host) => (host.clone(), false),
        CookieDomain::Suffix(domain) => (domain.clone(), true),
        CookieDomain::NotPresent | CookieDomain::Empty => return None,
    };
    Some(Line {
        domain,
        subdomains,
        path: cookie.path.as_ref().to_string(),
        secure: cookie.secure().unwrap_or(false),
        http_only: cookie.http_only().unwrap_or(false),
        expires: match &cookie.expires {
            // Not 0, which would make it a session cookie.
            CookieExpiration::AtUtc(at) => Some(at.unix_timestamp().max(1) as u64),
            CookieExpiration::SessionEnd => None,
        },
        name: cookie.name().to_string(),
        value: cookie.value().to_string(),
    })
}

/// Replaces `path` with a file holding `bytes`: written to a new file in
/// the same folder (a name of its own, created exclusively, never through a
/// symlink, mode 0600), synced, renamed over `path`, and the folder synced.
/// Whatever is at `path` is replaced, never written through: a symlink
/// there is replaced by the file (`config.rs` refuses one before the run).
fn replace(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use rustix::fs::{Mode, OFlags};
    let dir = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    };
    let name = path.file_name().unwrap_or(path.as_os_str());
    let flags = OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC;
    let mode = Mode::from_raw_mode(0o600);
    let mut tries = 0;
    let (tmp, file) = loop {
        let mut tmp_name = OsString::from(name);
        tmp_name.push(format!(".haul-{:08x}.tmp", fastrand::u32(..)));
        let tmp = dir.join(tmp_name);
        match rustix::fs::open(&tmp, flags, mode) {
            Ok(fd) => break (tmp, std::fs::File::from(fd)),
            // Another file of that name: never touched, another name tried.
            Err(rustix::io::Errno::EXIST) if tries < 8 => tries += 1,
            Err(e) => return Err(e.into()),
        }
    };
    let written = (|| {
        // The mode asked for at creation, whatever the umask took away.
        rustix::fs::fchmod(&file, mode)?;
        (&file).write_all(bytes)?;
        file.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    if let Err(err) = written {
        let _ = std::fs::remove_file(&tmp);
        return Err(err);
    }
    if let Ok(dir) = std::fs::File::open(dir) {
        let _ = dir.sync_all();
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::cookie::CookieStore as _;

    fn url(text: &str) -> Url {
        Url::parse(text).unwrap()
    }

    fn cookie_header(jar: &Jar, to: &str) -> Option<String> {
        jar.cookies(&url(to))
            .map(|v| v.to_str().unwrap().to_string())
    }

    /// A jar loaded from `text`, and the warnings it gave.
    fn loaded(text: &str) -> (Jar, Vec<String>) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("jar.txt");
        std::fs::write(&path, text).unwrap();
        let mut warnings = Vec::new();
        let jar = Jar::load(&path, &mut warnings).unwrap();
        (jar, warnings)
    }

    #[test]
    fn cookies_go_where_their_domain_path_and_secure_flag_say() {
        let (jar, warnings) = loaded(
            "# Netscape HTTP Cookie File\n\
             .example.com\tTRUE\t/\tFALSE\t0\twide\t1\n\
             example.com\tFALSE\t/\tFALSE\t0\thost\t2\n\
             example.com\tFALSE\t/docs\tFALSE\t0\tdocs\t3\n\
             example.com\tFALSE\t/\tTRUE\t0\tsafe\t4\n\
             #HttpOnly_example.com\tFALSE\t/\tFALSE\t4102444800\thttponly\t5\n\
             example.com\tFALSE\t/\tFALSE\t1000000000\texpired\t6\n",
        );
        assert!(warnings.is_empty(), "{warnings:?}");
        let names = |to: &str| {
            let mut names: Vec<String> = cookie_header(&jar, to)
                .unwrap_or_default()
                .split("; ")
                .filter(|p| !p.is_empty())
                .map(|p| p.split('=').next().unwrap().to_string())
                .collect();
            names.sort();
            names
        };
        assert_eq!(names("http://example.com/a"), ["host", "httponly", "wide"]);
        assert_eq!(
            names("https://example.com/docs/x"),
            ["docs", "host", "httponly", "safe", "wide"]
        );
        assert_eq!(
            names("http://example.com/docsx"),
            ["host", "httponly", "wide"]
        );
        assert_eq!(names("http://sub.example.com/"), ["wide"]);
        assert_eq!(names("http://other.example/"), Vec::<String>::new());
        assert!(
            jar.cookies(&url("http://example.com/"))
                .unwrap()
                .is_sensitive()
        );
    }

    #[test]
    fn bad_lines_are_warnings_naming_file_and_line() {
        let mut text = String::from("# comment\nexample.com\tFALSE\t/\tFALSE\t0\tok\t1\n");
        text.push_str("not a cookie line\n");
        text.push_str("bad\u{7f}host\tFALSE\t/\tFALSE\t0\tk\tv\n");
        let (jar, warnings) = loaded(&text);
        assert_eq!(warnings.len(), 2, "{warnings:?}");
        assert!(
            warnings[0].contains("jar.txt:3: expected 7 fields"),
            "{warnings:?}"
        );
        assert!(warnings[1].contains("jar.txt:4:"), "{warnings:?}");
        assert_eq!(
            cookie_header(&jar, "http://example.com/"),
            Some("ok=1".into())
        );

        let many = "x\n".repeat(WARN_LINES + 5);
        let (_, warnings) = loaded(&many);
        assert_eq!(warnings.len(), WARN_LINES + 1);
        assert!(
            warnings[WARN_LINES].contains("5 more lines"),
            "{warnings:?}"
        );
    }

    #[test]
    fn answers_set_cookies_and_a_top_level_domain_is_refused() {
        let jar = Jar::default();
        let from = url("http://a.example.com/login");
        let headers = [
            HeaderValue::from_static("sid=abc; Path=/"),
            HeaderValue::from_static("wide=1; Domain=example.com; Path=/"),
            HeaderValue::from_static("super=1; Domain=com; Path=/"),
            HeaderValue::from_static("elsewhere=1; Domain=other.example; Path=/"),
            HeaderValue::from_static("gone=1; Path=/; Max-Age=0"),
        ];
        jar.set_cookies(&mut headers.iter(), &from);
        let mut here: Vec<String> = cookie_header(&jar, "http://a.example.com/")
            .unwrap()
            .split("; ")
            .map(str::to_string)
            .collect();
        here.sort();
        assert_eq!(here, ["sid=abc", "wide=1"]);
        assert_eq!(
            cookie_header(&jar, "http://b.example.com/"),
            Some("wide=1".into())
        );
        assert_eq!(cookie_header(&jar, "http://shop.com/"), None);
        assert_eq!(cookie_header(&jar, "http://other.example/"), None);
    }

    #[test]
    fn the_jar_round_trips_through_its_file_with_mode_0600() {
        use std::os::unix::fs::PermissionsExt as _;
        let text = "#HttpOnly_.example.com\tTRUE\t/\tTRUE\t4102444800\tsid\tabc\n\
                    example.com\tFALSE\t/x\tFALSE\t0\tsession\tv w\n";
        let (jar, _) = loaded(text);
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out.txt");
        std::fs::write(&path, "old").unwrap();
        jar.save(&path).unwrap();
        let written = std::fs::read_to_string(&path).unwrap();
        assert_eq!(
            written,
            format!(
                "{}#HttpOnly_.example.com\tTRUE\t/\tTRUE\t4102444800\tsid\tabc\n\
                 example.com\tFALSE\t/x\tFALSE\t0\tsession\tv w\n",
                netscape::HEADER
            )
        );
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let mut warnings = Vec::new();
        let back = Jar::load(&path, &mut warnings).unwrap();
        assert!(warnings.is_empty(), "{warnings:?}");
        let again = dir.path().join("again.txt");
        back.save(&again).unwrap();
        assert_eq!(std::fs::read_to_string(&again).unwrap(), written);
        let names: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
        assert_eq!(names.len(), 2, "no temp file left: {names:?}");
    }
}
