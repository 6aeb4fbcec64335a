//! The value parsers of the command line and the numeric limits each flag
//! accepts: counts (`-j`, `--retries`...), sizes, durations, deadlines (a
//! duration or an RFC 3339 time), `--rate`, `--split`, `K/N` shards and
//! `-H` headers. Each turns a flag's text into a strong type, or into an
//! error that says the expected syntax and range. Which flag takes which
//! parser, and the help text, are `mod.rs`'s (clap's `Cli`).

use std::num::NonZeroUsize;
use std::time::{Duration, SystemTime};

use crate::headers::HeaderArg;
use crate::settings::{Deadline, Rate, Shard, Split};

pub(super) fn parse_shard(s: &str) -> Result<Shard, String> {
    let syntax = "expected K/N with 1 <= K <= N, e.g. 2/8";
    let (k, n) = s.split_once('/').ok_or(syntax)?;
    let k: u64 = k.trim().parse().map_err(|_| syntax)?;
    let n: u64 = n.trim().parse().map_err(|_| syntax)?;
    if k == 0 || n == 0 || k > n {
        return Err(syntax.into());
    }
    Ok(Shard { k, n })
}

/// `-H 'Name: value'`, or `-H @FILE` (header lines read from FILE). The
/// value is resolved (`@env:`, `@file:`) and checked by `config.rs`.
pub(super) fn parse_header(s: &str) -> Result<HeaderArg, String> {
    if let Some(path) = s.strip_prefix('@') {
        if path.is_empty() {
            return Err("expected @FILE, a file of header lines".into());
        }
        return Ok(HeaderArg::File(path.into()));
    }
    let (name, value) = crate::headers::parse_line(s)?;
    Ok(HeaderArg::Line(name, value))
}

// Bounds of the numeric flags. Each keeps the arithmetic done with the
// value far from overflow: `Instant::now() + d` for a duration, doubling a
// size, the next start of a host under `--rate` (docs/reference.md,
// "Numeric flags").

/// The most downloads in flight, for `-j` and `--per-host`.
pub(crate) const MAX_JOBS: usize = 65_536;
/// The most `--retries` and `--max-redirects`.
pub(crate) const MAX_RETRIES: u32 = 1000;
/// The largest `SIZE` (1 EiB): eight times it still fits in a `u64`.
pub(crate) const MAX_SIZE: u64 = 1 << 60;
/// The longest duration or time ahead (100 years of 365.25 days): far from
/// the limits of `Instant` and tokio's timers on every platform.
pub(crate) const MAX_DURATION: Duration = Duration::from_secs(3_155_760_000);
/// `MAX_DURATION` as `--help` and errors write it.
const MAX_DURATION_TEXT: &str = "100 years (876600h)";
/// The slowest `--rate`: one start a day per host.
pub(crate) const SLOWEST_RATE: Duration = Duration::from_secs(86_400);
/// The fastest `--rate`: a million starts a second per host.
pub(crate) const FASTEST_RATE: Duration = Duration::from_micros(1);

/// A whole number from `min` to `max`, or an error that says so.
fn whole<T>(s: &str, min: T, max: T) -> Result<T, String>
where
    T: std::str::FromStr + PartialOrd + std::fmt::Display + Copy,
{
    match s.trim().parse::<T>() {
        Ok(n) if n >= min && n <= max => Ok(n),
        _ => Err(format!("expected a whole number from {min} to {max}")),
    }
}

/// `-j` and `--per-host`.
pub(super) fn parse_jobs(s: &str) -> Result<NonZeroUsize, String> {
    let n = whole(s, 1, MAX_JOBS)?;
    NonZeroUsize::new(n).ok_or_else(|| "expected a whole number from 1".into())
}

/// `--max-failures`: any count of failed URLs from 1.
pub(super) fn parse_max_failures(s: &str) -> Result<NonZeroUsize, String> {
    let n = whole(s, 1, usize::MAX)?;
    NonZeroUsize::new(n).ok_or_else(|| "expected a whole number from 1".into())
}

pub(super) fn parse_retries(s: &str) -> Result<u32, String> {
    whole(s, 0, MAX_RETRIES)
}

pub(super) fn parse_max_redirects(s: &str) -> Result<usize, String> {
    whole(s, 0, MAX_RETRIES as usize)
}

/// A size: bytes, or with `K`, `M`, `G` (also `KB`/`KiB`...), powers of
/// 1024, as curl, wget and aria2 read them; decimals allowed (`1.5M`).
/// From 1 byte to [`MAX_SIZE`].
pub(crate) fn parse_size(s: &str) -> Result<u64, String> {
    let syntax = || format!("invalid size '{s}': expected e.g. 500K, 10M, 1.5MiB or 4096");
    let t = s.trim();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let num: f64 = num.parse().map_err(|_| syntax())?;
    let scale: f64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1.0,
        "k" | "kb" | "kib" => 1024.0,
        "m" | "mb" | "mib" => 1024.0 * 1024.0,
        "g" | "gb" | "gib" => 1024.0 * 1024.0 * 1024.0,
        _ => return Err(syntax()),
    };
    let bytes = (num * scale).round();
    // Also false for NaN.
    if !(bytes >= 1.0 && bytes <= MAX_SIZE as f64) {
        return Err(format!(
            "size '{s}' is out of range: expected from 1 byte to 1 EiB (1073741824G)"
        ));
    }
    Ok(bytes as u64)
}

pub(super) fn parse_deadline(s: &str) -> Result<Deadline, String> {
    parse_deadline_at(s, SystemTime::now())
}

/// [`parse_deadline`] as at `now`: a duration up to [`MAX_DURATION`], or
/// an RFC 3339 time (with `Z` or an offset) no further than that ahead.
fn parse_deadline_at(s: &str, now: SystemTime) -> Result<Deadline, String> {
    if looks_like_duration(s) {
        return parse_bounded(s, Duration::ZERO).map(Deadline::After);
    }
    let syntax = || {
        format!(
            "invalid deadline '{s}': expected a duration (90m, 2h) or an RFC 3339 time \
             (2026-11-27T06:00:00Z, 2026-11-27T07:00:00+01:00)"
        )
    };
    let at = parse_rfc3339(s.trim()).ok_or_else(syntax)?;
    // A time already past is kept: the run stops at once.
    if at
        .duration_since(now)
        .is_ok_and(|ahead| ahead > MAX_DURATION)
    {
        return Err(format!(
            "deadline '{s}' is out of range: expected a time at most {MAX_DURATION_TEXT} from now"
        ));
    }
    Ok(Deadline::At(at))
}

/// An RFC 3339 time: `YYYY-MM-DDTHH:MM:SS[.frac]` then `Z` or `±HH:MM` (a
/// space or a lower-case `t` may stand for the `T`). jiff checks the
/// calendar (no 30 February) and the offset (no `+99:99`); RFC 3339 asks
/// more than jiff's wider ISO 8601 grammar, so its layout is checked here
/// first.
fn parse_rfc3339(s: &str) -> Option<SystemTime> {
    let b = s.as_bytes();
    let digits =
        |r: std::ops::Range<usize>| b.get(r).is_some_and(|t| t.iter().all(u8::is_ascii_digit));
    let layout = b.len() >= 20
        && digits(0..4)
        && b[4] == b'-'
        && digits(5..7)
        && b[7] == b'-'
        && digits(8..10)
        && matches!(b[10], b'T' | b't' | b' ')
        && digits(11..13)
        && b[13] == b':'
        && digits(14..16)
        && b[16] == b':'
        && digits(17..19);
    if !layout {
        return None;
    }
    let mut rest = &s[19..];
    if let Some(frac) = rest.strip_prefix('.') {
        let n = frac.bytes().take_while(u8::is_ascii_digit).count();
        if n == 0 {
            return None;
        }
        rest = &frac[n..];
    }
    let offset = rest.as_bytes();
    let offset_ok = matches!(rest, "Z" | "z")
        || (offset.len() == 6
            && matches!(offset[0], b'+' | b'-')
            && offset[1..3].iter().all(u8::is_ascii_digit)
            && offset[3] == b':'
            && offset[4..6].iter().all(u8::is_ascii_digit)
            && &rest[1..3] <= "23"
            && &rest[4..6] <= "59");
    if !offset_ok {
        return None;
    }
    let text = if b[10] == b'T' {
        s.to_string()
    } else {
        format!("{}T{}", &s[..10], &s[11..])
    };
    let at: jiff::Timestamp = text.parse().ok()?;
    SystemTime::try_from(at).ok()
}

/// The most connections `--split N` may ask for one file.
pub(crate) const MAX_SPLIT: u16 = 16;

pub(super) fn parse_split(s: &str) -> Result<Split, String> {
    if s.trim() == "auto" {
        return Ok(Split::Auto);
    }
    match s.trim().parse::<u16>() {
        Ok(n) if (1..=MAX_SPLIT).contains(&n) => Ok(Split::Fixed(n)),
        _ => Err(format!(
            "invalid value '{s}': expected a number of connections from 1 to {MAX_SPLIT}, or auto"
        )),
    }
}

/// `N`, `N/s` or `N/m`: from one start a day ([`SLOWEST_RATE`]) to a
/// million a second ([`FASTEST_RATE`]).
pub(super) fn parse_rate(s: &str) -> Result<Rate, String> {
    let syntax =
        || format!("invalid rate '{s}': expected N, N/s or N/m with N > 0, e.g. 5, 0.5/s or 30/m");
    let (num, per) = match s.trim().split_once('/') {
        Some((num, unit)) => (num, unit.trim()),
        None => (s.trim(), "s"),
    };
    let per = match per {
        "s" => 1.0,
        "m" => 60.0,
        _ => return Err(syntax()),
    };
    let n: f64 = num.trim().parse().map_err(|_| syntax())?;
    if !(n.is_finite() && n > 0.0) {
        return Err(syntax());
    }
    let per_second = n / per;
    let (slowest, fastest) = (
        1.0 / SLOWEST_RATE.as_secs_f64(),
        1.0 / FASTEST_RATE.as_secs_f64(),
    );
    match Duration::try_from_secs_f64(per / n) {
        Ok(interval) if (slowest..=fastest).contains(&per_second) => Ok(Rate { interval }),
        _ => Err(format!(
            "rate '{s}' is out of range: expected from one request a day (0.0007/m) to \
             1000000/s"
        )),
    }
}

/// Whether `s` is written as a duration (a number, then a unit or none),
/// not as a time.
fn looks_like_duration(s: &str) -> bool {
    let s = s.trim();
    let num = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(s.len());
    num > 0 && matches!(s[num..].trim(), "" | "ms" | "s" | "m" | "h")
}

/// `--checksum-sidecar`'s suffix: added to a URL's path, so it is path
/// characters only (no `/`, `?`, `#`, spaces or controls) and not empty.
pub(crate) fn sidecar_suffix(s: &str) -> Result<String, String> {
    let bad = |c: char| c.is_control() || c.is_whitespace() || matches!(c, '/' | '?' | '#' | '%');
    if s.is_empty() || s.chars().any(bad) {
        return Err(format!(
            "invalid suffix '{s}': expected e.g. .sha256 (no '/', '?', '#', '%' or spaces)"
        ));
    }
    Ok(s.to_string())
}

/// Durations as `500ms`, `30s`, `2m`, `1h` or a bare number of seconds.
pub(crate) fn parse_duration(s: &str) -> Result<Duration, String> {
    let syntax = || format!("invalid duration '{s}': expected e.g. 500ms, 30s, 2m or 1h");
    let s = s.trim();
    let split = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    let num: f64 = num.parse().map_err(|_| syntax())?;
    let secs = match unit.trim() {
        "ms" => num / 1000.0,
        "" | "s" => num,
        "m" => num * 60.0,
        "h" => num * 3600.0,
        _ => return Err(syntax()),
    };
    // Too large for a `Duration` at all is out of range too.
    Ok(Duration::try_from_secs_f64(secs).unwrap_or(Duration::MAX))
}

/// A duration from `min` to [`MAX_DURATION`].
fn parse_bounded(s: &str, min: Duration) -> Result<Duration, String> {
    let d = parse_duration(s)?;
    if d < min || d > MAX_DURATION {
        let from = if min.is_zero() {
            "from 0"
        } else {
            "more than 0"
        };
        return Err(format!(
            "duration '{s}' is out of range: expected {from} and at most {MAX_DURATION_TEXT}"
        ));
    }
    Ok(d)
}

/// `--connect-timeout`, `--stall-timeout`, `--timeout`: more than zero
/// (a zero timeout would fail every attempt).
pub(super) fn parse_timeout(s: &str) -> Result<Duration, String> {
    parse_bounded(s, Duration::from_nanos(1))
}

/// `--retry-wait`: zero (retry at once) allowed.
pub(super) fn parse_wait(s: &str) -> Result<Duration, String> {
    parse_bounded(s, Duration::ZERO)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deadlines() {
        assert_eq!(
            parse_deadline("90m"),
            Ok(Deadline::After(Duration::from_secs(5400)))
        );
        let at = |s: &str| match parse_deadline(s) {
            Ok(Deadline::At(t)) => Some(t.duration_since(SystemTime::UNIX_EPOCH).unwrap()),
            _ => None,
        };
        // 2026-11-27T06:00:00Z is 1,795,759,200 s after the epoch.
        let six = Duration::from_secs(1_795_759_200);
        assert_eq!(at("2026-11-27T06:00:00Z"), Some(six));
        assert_eq!(at("2026-11-27 07:00:00+01:00"), Some(six));
        assert_eq!(at("2026-11-27T01:30:00-04:30"), Some(six));
        assert_eq!(
            at("2026-11-27T06:00:00.25Z"),
            Some(six + Duration::from_millis(250))
        );
        assert_eq!(at("1970-01-01T00:00:00Z"), Some(Duration::ZERO));
        assert_eq!(
            at("2024-02-29T00:00:00Z"),
            Some(Duration::from_secs(1_709_164_800))
        );
        for bad in [
            "",
            "tomorrow",
            "2026-11-27",
            "2026-11-27T06:00:00",
            "2026-13-01T00:00:00Z",
            "2026-11-27T06:00:00+1:00",
            // Impossible dates and offsets.
            "2030-02-30T00:00:00Z",
            "2029-02-29T00:00:00Z",
            "2026-04-31T00:00:00Z",
            "2026-11-27T24:00:00Z",
            "2026-11-27T06:60:00Z",
            "2026-11-27T06:00:00+99:99",
            "2026-11-27T06:00:00+24:00",
            "2026-11-27T06:00:00+01:60",
            "2026-11-27T06:00:00+01",
            "2026-11-27T06:00Z",
            "20261127T060000Z",
            "2026-11-27T06:00:00Z[Europe/Paris]",
        ] {
            assert!(parse_deadline(bad).is_err(), "{bad}");
        }
        assert_eq!(at("2026-11-27t06:00:00z"), Some(six));
        assert_eq!(at("2026-11-27T06:00:00-00:00"), Some(six));
        assert_eq!(at("2026-11-27T19:59:00+13:59"), Some(six));
    }

    #[test]
    fn sizes() {
        let cases = [
            ("4096", 4096),
            ("500K", 500 * 1024),
            ("500k", 500 * 1024),
            ("10M", 10 << 20),
            ("1.5MiB", 3 << 19),
            ("2GB", 2 << 30),
            (" 1 KiB ", 1024),
            ("10b", 10),
        ];
        for (text, want) in cases {
            assert_eq!(parse_size(text), Ok(want), "{text}");
        }
        for bad in ["", "K", "1.5X", "-1", "1e3", "NaN", "inf"] {
            let err = parse_size(bad).unwrap_err();
            assert!(err.contains("expected e.g. 500K"), "{bad}: {err}");
        }
        // 1 EiB is the most: eight times it still fits in a u64.
        assert_eq!(parse_size("1073741824G"), Ok(1 << 60));
        for bad in [
            "0",
            "0.1",
            "1073741825G",
            "8589934592G",
            "18446744073709551615",
        ] {
            let err = parse_size(bad).unwrap_err();
            assert!(
                err.contains("out of range: expected from 1 byte to 1 EiB"),
                "{bad}: {err}"
            );
        }
    }

    #[test]
    fn rates() {
        let ms = |s: &str| parse_rate(s).map(|r| r.interval.as_millis());
        assert_eq!(ms("5"), Ok(200));
        assert_eq!(ms("5/s"), Ok(200));
        assert_eq!(ms("0.5"), Ok(2000));
        assert_eq!(ms("30/m"), Ok(2000));
        assert_eq!(ms(" 2.5 / s "), Ok(400));
        for bad in ["", "0", "-1", "5/h", "x", "inf", "NaN"] {
            let err = parse_rate(bad).unwrap_err();
            assert!(err.contains("expected N, N/s or N/m"), "{bad}: {err}");
        }
        // From one start a day to a million a second.
        assert_eq!(ms("0.0007/m"), Ok(85_714_285));
        assert_eq!(ms("1000000"), Ok(0));
        for bad in ["1e-19", "1e-30", "0.0006/m", "1000001", "1e300"] {
            let err = parse_rate(bad).unwrap_err();
            assert!(err.contains("out of range"), "{bad}: {err}");
        }
    }

    #[test]
    fn durations() {
        let cases = [
            ("500ms", 500),
            ("30s", 30_000),
            ("2m", 120_000),
            ("1h", 3_600_000),
            ("1.5s", 1_500),
            ("7", 7_000),
        ];
        for (text, ms) in cases {
            assert_eq!(
                parse_duration(text),
                Ok(Duration::from_millis(ms)),
                "{text}"
            );
        }
        for bad in ["", "s", "-1s", "1d", "1.2.3s"] {
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn durations_and_deadlines_stay_within_100_years() {
        let year = 365.25 * 86_400.0;
        assert_eq!(parse_wait("876600h"), Ok(MAX_DURATION));
        assert_eq!(MAX_DURATION.as_secs_f64(), 100.0 * year);
        assert_eq!(parse_wait("0"), Ok(Duration::ZERO));
        let digits = "9".repeat(400);
        for bad in [
            "876601h",
            "10000000000000000000",
            "153722867280912930m",
            &digits,
        ] {
            for parse in [parse_wait, parse_timeout] {
                let err = parse(bad).unwrap_err();
                assert!(err.contains("at most 100 years"), "{bad}: {err}");
            }
        }
        // A timeout of zero would fail every attempt.
        for zero in ["0", "0ms", "0.0000000001s"] {
            let err = parse_timeout(zero).unwrap_err();
            assert!(err.contains("expected more than 0"), "{zero}: {err}");
        }
        assert!(parse_deadline("0s").is_ok());
        let err = parse_deadline("10000000000000000000").unwrap_err();
        assert!(err.contains("at most 100 years"), "{err}");
        // A time: at most 100 years from now; one already past is kept.
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_795_759_200);
        assert!(parse_deadline_at("2126-11-27T06:00:00Z", now).is_ok());
        let err = parse_deadline_at("2126-11-29T06:00:00Z", now).unwrap_err();
        assert!(
            err.contains("at most 100 years (876600h) from now"),
            "{err}"
        );
        assert!(parse_deadline_at("9999-12-31T23:59:59Z", now).is_err());
        assert!(parse_deadline_at("0001-01-01T00:00:00Z", now).is_ok());
    }
}
