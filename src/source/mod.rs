//! Reads URL lists as a stream: one line at a time from a list file (opened
//! by `list.rs`) or standard input, skipping blank lines and `#`
//! comments, keeping line numbers for error messages, and splitting each
//! line into the URL text, any more URLs for the same file (mirrors) and
//! its `key=value` fields. It does not open
//! files, expand globs or validate URLs (that is `config.rs` and
//! `plan.rs`). Memory is bounded whatever the input: it holds at most one
//! line of up to [`MAX_LINE`] bytes (a longer line is skipped, unstored,
//! and reported as a bad line) besides its read buffer.

mod list;

use std::io::{self, BufRead, BufReader, Read};

pub use list::{Input, ListFile};

use crate::digest::{Algorithm, Digest};

/// The longest list line accepted: its bytes without the `\n` or `\r\n`.
pub(crate) const MAX_LINE: usize = 1 << 20;

/// One non-blank, non-comment line of input (or one URL argument).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Line {
    /// Index of the input in `Config::inputs`.
    pub(crate) source: usize,
    /// 1-based line number within a list; 0 for an argument.
    pub(crate) line: u64,
    pub(crate) entry: Result<Entry, BadLine>,
}

/// A line that cannot be used, with its URL when one could be told apart.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct BadLine {
    pub(crate) url: Option<String>,
    pub(crate) error: String,
}

impl BadLine {
    fn new(url: Option<&str>, error: impl Into<String>) -> BadLine {
        BadLine {
            url: url.map(Into::into),
            error: error.into(),
        }
    }
}

/// What a list line asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Entry {
    /// The URL or glob pattern, as written.
    pub(crate) text: String,
    /// More URLs for the same file (mirrors), as written, tried in order
    /// after `text`.
    pub(crate) mirrors: Vec<String>,
    /// `out=`: destination template relative to `--dir`.
    pub(crate) out: Option<String>,
    /// `sha256=` (or `sha512=`, `sha384=`, `sha1=`, `md5=`): the digest
    /// the file must have.
    pub(crate) digest: Option<Digest>,
}

/// Streams the lines of every input in order.
pub(crate) struct Lines {
    inputs: Vec<Input>,
    next_input: usize,
    current: Option<Reader>,
    buf: Vec<u8>,
    /// [`MAX_LINE`]; smaller in unit tests.
    limit: usize,
}

struct Reader {
    source: usize,
    line: u64,
    inner: BufReader<Box<dyn Read + Send>>,
}

impl Lines {
    pub(crate) fn new(inputs: Vec<Input>) -> Lines {
        Lines::with_limit(inputs, MAX_LINE)
    }

    /// Like [`Lines::new`], with lines longer than `limit` bytes refused.
    fn with_limit(inputs: Vec<Input>, limit: usize) -> Lines {
        Lines {
            inputs,
            next_input: 0,
            current: None,
            buf: Vec::with_capacity(256),
            limit,
        }
    }
}

impl Lines {
    /// Whether the next line may have to wait for a read (standard input
    /// fed slowly by another program): nothing of it is buffered yet.
    pub(crate) fn may_block(&self) -> bool {
        match &self.current {
            Some(reader) => reader.inner.buffer().is_empty(),
            None => matches!(self.inputs.get(self.next_input), Some(Input::List(_))),
        }
    }
}

impl Iterator for Lines {
    type Item = Line;

    fn next(&mut self) -> Option<Line> {
        loop {
            if let Some(reader) = &mut self.current {
                let source = reader.source;
                match read_line(&mut reader.inner, &mut self.buf, self.limit) {
                    Ok(LineRead::End) => self.current = None,
                    Ok(read) => {
                        reader.line += 1;
                        let line = reader.line;
                        let entry = match read {
                            LineRead::TooLong(len) => Err(BadLine::new(
                                None,
                                format!(
                                    "line is longer than {} ({len} bytes); skipped",
                                    describe_size(self.limit)
                                ),
                            )),
                            _ => match std::str::from_utf8(&self.buf) {
                                Ok(text) => match parse_line(text) {
                                    Some(entry) => entry,
                                    None => continue,
                                },
                                Err(_) => Err(BadLine::new(None, "line is not valid UTF-8")),
                            },
                        };
                        return Some(Line {
                            source,
                            line,
                            entry,
                        });
                    }
                    Err(err) => {
                        // The rest of this list cannot be read; say so once
                        // and go on with the next input.
                        let line = reader.line + 1;
                        self.current = None;
                        return Some(Line {
                            source,
                            line,
                            entry: Err(BadLine::new(None, format!("read error: {err}"))),
                        });
                    }
                }
                continue;
            }
            let source = self.next_input;
            let input = self.inputs.get(source)?;
            self.next_input += 1;
            match input {
                Input::Arg { text, .. } => {
                    return Some(Line {
                        source,
                        line: 0,
                        entry: Ok(Entry {
                            text: text.clone(),
                            mirrors: Vec::new(),
                            out: None,
                            digest: None,
                        }),
                    });
                }
                Input::List(list) => {
                    let inner: Box<dyn Read + Send> = match list {
                        None => Box::new(io::stdin()),
                        Some(list) => Box::new(list.reader()),
                    };
                    self.current = Some(Reader {
                        source,
                        line: 0,
                        inner: BufReader::with_capacity(64 * 1024, inner),
                    });
                }
            }
        }
    }
}

/// What [`read_line`] found.
#[derive(Debug, PartialEq, Eq)]
enum LineRead {
    /// A line, in the buffer without its `\n` or `\r\n`.
    Line,
    /// A line of this many bytes, longer than the limit: read to its end
    /// but not kept.
    TooLong(u64),
    /// The end of the input.
    End,
}

/// Reads the next line from `reader` into `buf`, keeping at most
/// `limit + 1` bytes of it (the `+ 1` for the `\r` of a `\r\n`): a longer
/// line is read to its `\n` and dropped as it goes, so memory stays bounded
/// whatever the input. The last line needs no `\n`.
fn read_line(reader: &mut impl BufRead, buf: &mut Vec<u8>, limit: usize) -> io::Result<LineRead> {
    buf.clear();
    let keep = limit.saturating_add(1);
    // Bytes of the line before its `\n`, and the last of them.
    let mut len = 0u64;
    let mut last = None;
    let newline = loop {
        let chunk = match reader.fill_buf() {
            Ok(chunk) => chunk,
            Err(err) if err.kind() == io::ErrorKind::Interrupted => continue,
            Err(err) => return Err(err),
        };
        if chunk.is_empty() {
            if len == 0 {
                return Ok(LineRead::End);
            }
            break false;
        }
        let (part, used, found) = match chunk.iter().position(|&b| b == b'\n') {
            Some(i) => (&chunk[..i], i + 1, true),
            None => (chunk, chunk.len(), false),
        };
        let stored = part.len().min(keep - buf.len());
        reserve_at_most(buf, stored, keep);
        buf.extend_from_slice(&part[..stored]);
        len += part.len() as u64;
        last = part.last().copied().or(last);
        reader.consume(used);
        if found {
            break true;
        }
    };
    let content = len - u64::from(newline && last == Some(b'\r'));
    if content > limit as u64 {
        return Ok(LineRead::TooLong(content));
    }
    buf.truncate(content as usize);
    Ok(LineRead::Line)
}

/// Makes room in `buf` for `additional` more bytes, growing it as a `Vec`
/// does (doubling) but never past a capacity of `max`, so a long line
/// costs no more than `max` bytes.
fn reserve_at_most(buf: &mut Vec<u8>, additional: usize, max: usize) {
    let needed = buf.len() + additional;
    if needed > buf.capacity() {
        let target = needed.max(buf.capacity() * 2).min(max);
        buf.reserve_exact(target - buf.len());
    }
}

/// `1 MiB` for [`MAX_LINE`]; other limits (in tests) in bytes.
fn describe_size(bytes: usize) -> String {
    if bytes.is_multiple_of(1 << 20) {
        format!("{} MiB", bytes >> 20)
    } else {
        format!("{bytes} bytes")
    }
}

/// The fields a list line may have, for errors.
const FIELDS: &str = "out=, sha256=, sha512=, sha384=, sha1=, md5=";

/// Parses one list line. `None` for blank lines and comments.
pub(crate) fn parse_line(text: &str) -> Option<Result<Entry, BadLine>> {
    let text = text.trim();
    if text.is_empty() || text.starts_with('#') {
        return None;
    }
    let mut fields = text.split_whitespace();
    let url = fields.next()?;
    let mut entry = Entry {
        text: url.to_string(),
        mirrors: Vec::new(),
        out: None,
        digest: None,
    };
    let bad = |error: String| Some(Err(BadLine::new(Some(url), error)));
    let mut fields = fields.peekable();
    while let Some(mirror) = fields.next_if(|word| is_url(word)) {
        entry.mirrors.push(mirror.to_string());
    }
    for field in fields {
        if is_url(field) {
            return bad(format!(
                "URL '{field}' after a key=value field (a line's URLs come first)"
            ));
        }
        let Some((key, value)) = field.split_once('=') else {
            return bad(format!(
                "unexpected '{field}' after the URL (fields are key=value: {FIELDS})"
            ));
        };
        if value.is_empty() {
            return bad(format!("empty value for '{key}='"));
        }
        if key == "out" {
            if entry.out.is_some() {
                return bad(format!("'{key}=' given twice"));
            }
            entry.out = Some(value.to_string());
            continue;
        }
        let Some(alg) = Algorithm::NAMED.into_iter().find(|alg| alg.name() == key) else {
            return bad(format!("unknown field '{key}=' (known fields: {FIELDS})"));
        };
        if let Some(given) = entry.digest {
            return bad(format!(
                "'{key}=' after '{}=': one digest a line",
                given.alg().name()
            ));
        }
        match Digest::parse_hex(alg, value) {
            Ok(digest) => entry.digest = Some(digest),
            Err(err) => return bad(err),
        }
    }
    Some(Ok(entry))
}

/// Whether a word after a line's first is another URL for its file: it
/// begins with a scheme and `://` (a field's key holds neither `:` nor
/// `/`).
fn is_url(word: &str) -> bool {
    word.split_once("://").is_some_and(|(scheme, _)| {
        scheme.starts_with(|c: char| c.is_ascii_alphabetic())
            && scheme
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn entry(text: &str, out: Option<&str>) -> Option<Result<Entry, BadLine>> {
        Some(Ok(Entry {
            text: text.into(),
            mirrors: Vec::new(),
            out: out.map(Into::into),
            digest: None,
        }))
    }

    #[test]
    fn parses_lines() {
        let cases: &[(&str, Option<Result<Entry, BadLine>>)] = &[
            ("", None),
            ("   \t ", None),
            ("\r\n", None),
            ("# comment", None),
            ("  # indented comment", None),
            ("http://a/x\r\n", entry("http://a/x", None)),
            ("  http://a/x  ", entry("http://a/x", None)),
            (
                "http://a/x out=b/c.txt",
                entry("http://a/x", Some("b/c.txt")),
            ),
            ("http://a/x\tout=c", entry("http://a/x", Some("c"))),
        ];
        for (text, want) in cases {
            assert_eq!(&parse_line(text), want, "{text:?}");
        }
    }

    #[test]
    fn parses_mirrors_before_fields() {
        let got = parse_line(
            "http://a/x  https://b/y?q=1\tftp://c/z out=f md5=00112233445566778899aabbccddeeff",
        )
        .unwrap()
        .unwrap();
        assert_eq!(got.text, "http://a/x");
        assert_eq!(got.mirrors, ["https://b/y?q=1", "ftp://c/z"]);
        assert_eq!(got.out.as_deref(), Some("f"));
        assert!(got.digest.is_some());
        for (line, culprit) in [
            (
                "http://a/x out=f http://b/x",
                "URL 'http://b/x' after a key=value field",
            ),
            ("http://a/x b/x", "unexpected 'b/x'"),
            ("http://a/x 1a://b/x", "unexpected '1a://b/x'"),
            ("http://a/x out=http://b/x", ""),
        ] {
            match parse_line(line).unwrap() {
                Ok(entry) => assert!(culprit.is_empty() && entry.mirrors.is_empty(), "{line}"),
                Err(bad) => assert!(
                    !culprit.is_empty() && bad.error.contains(culprit),
                    "{line}: {}",
                    bad.error
                ),
            }
        }
    }

    #[test]
    fn parses_digest_fields() {
        for alg in Algorithm::NAMED {
            let n = alg.len();
            for hex in ["ab".repeat(n), "AB".repeat(n)] {
                let got = parse_line(&format!("http://a/x {}={hex} out=y", alg.name()))
                    .unwrap()
                    .unwrap();
                assert_eq!(got.digest, Digest::new(alg, &vec![0xab; n]));
                assert_eq!(got.out.as_deref(), Some("y"));
            }
        }
    }

    #[test]
    fn rejects_bad_fields() {
        let bad = [
            ("http://a/x foo=1", "unknown field 'foo='"),
            ("http://a/x out", "unexpected 'out'"),
            ("http://a/x out=", "empty value"),
            ("http://a/x out=a out=b", "given twice"),
            ("http://a/x sha256=abc", "expected 64 hexadecimal"),
            ("http://a/x md5=abc", "expected 32 hexadecimal"),
            (
                &format!("http://a/x sha512={}", "ab".repeat(32)),
                "expected 128 hexadecimal",
            ),
            (
                &format!(
                    "http://a/x sha1={} md5={}",
                    "ab".repeat(20),
                    "ab".repeat(16)
                ),
                "one digest a line",
            ),
            ("http://a/x sha-256=ab", "unknown field 'sha-256='"),
            (
                &format!("http://a/x sha256={}", "zz".repeat(32)),
                "invalid sha256",
            ),
        ];
        for (text, want) in bad {
            let err = parse_line(text).unwrap().unwrap_err();
            assert_eq!(err.url.as_deref(), Some("http://a/x"));
            assert!(err.error.contains(want), "{text}: {err:?}");
        }
    }

    #[test]
    fn streams_files_with_line_numbers() {
        let mut file = tempfile::NamedTempFile::new().unwrap();
        file.write_all(b"# header\r\nhttp://a/1\r\n\r\nhttp://a/2 bogus=1\n\xff\xfe\nhttp://a/3")
            .unwrap();
        let inputs = [
            Input::Arg {
                index: 1,
                text: "http://arg/".into(),
            },
            list_input(file.path()),
        ];
        let got: Vec<(usize, u64, bool)> = Lines::new(inputs.to_vec())
            .map(|l| (l.source, l.line, l.entry.is_ok()))
            .collect();
        assert_eq!(
            got,
            [
                (0, 0, true),
                (1, 2, true),
                (1, 4, false),
                (1, 5, false),
                (1, 6, true)
            ]
        );
    }

    fn list_input(path: &std::path::Path) -> Input {
        Input::List(Some(ListFile::open(path).unwrap()))
    }

    /// A line read, or the length of one too long.
    type Got = Result<String, u64>;

    /// What [`read_line`] yields for each line of `input`, until the end.
    fn read_all(input: &[u8], limit: usize, capacity: usize) -> Vec<Got> {
        let mut reader = BufReader::with_capacity(capacity, input);
        let mut buf = Vec::new();
        let mut got = Vec::new();
        loop {
            match read_line(&mut reader, &mut buf, limit).unwrap() {
                LineRead::Line => got.push(Ok(String::from_utf8(buf.clone()).unwrap())),
                LineRead::TooLong(len) => got.push(Err(len)),
                LineRead::End => break,
            }
            // Never more than the line and a `\r` kept, however long it is.
            assert!(buf.capacity() <= limit + 1, "{input:?}: {}", buf.capacity());
        }
        got
    }

    #[test]
    fn long_lines_are_skipped_and_the_rest_still_read() {
        let ok = |s: &str| Ok(s.to_string());
        // (input, with a limit of 4 bytes, the lines read or the length of
        // those that are too long)
        let cases: &[(&[u8], &[Got])] = &[
            (b"", &[]),
            (b"\n", &[ok("")]),
            (b"\n\n", &[ok(""), ok("")]),
            (b"abcd\n", &[ok("abcd")]),
            (b"abcd", &[ok("abcd")]),
            (b"abcd\r\n", &[ok("abcd")]),
            (b"abc\r", &[ok("abc\r")]),
            (b"abcde\n", &[Err(5)]),
            (b"abcde", &[Err(5)]),
            (b"abcde\r\n", &[Err(5)]),
            (b"abcd\r\r\n", &[Err(5)]),
            (b"abcd\rx\n", &[Err(6)]),
            (b"a\nabcdefghij\nb\n", &[ok("a"), Err(10), ok("b")]),
            (b"abcdefghij\r\n\r\nxy", &[Err(10), ok(""), ok("xy")]),
            (b"a\r\nb\r\n", &[ok("a"), ok("b")]),
        ];
        for (input, want) in cases {
            // Small read buffers split lines (and `\r\n`) across reads.
            for capacity in [1, 2, 3, 5, 64] {
                assert_eq!(
                    &read_all(input, 4, capacity),
                    want,
                    "{:?} read {capacity} bytes at a time",
                    String::from_utf8_lossy(input)
                );
            }
        }
    }

    #[test]
    fn a_line_of_max_line_bytes_is_accepted_and_one_more_is_not() {
        let line = |len: usize| format!("#{}\r\n", "x".repeat(len - 1));
        let input = format!("{}{}", line(MAX_LINE), line(MAX_LINE + 1));
        let got: Vec<Result<usize, u64>> = read_all(input.as_bytes(), MAX_LINE, 64 * 1024)
            .into_iter()
            .map(|r| r.map(|s| s.len()))
            .collect();
        assert_eq!(got, [Ok(MAX_LINE), Err(MAX_LINE as u64 + 1)]);
    }

    #[test]
    fn a_long_line_is_a_bad_line_and_the_numbering_goes_on() {
        let mut file = tempfile::NamedTempFile::new().unwrap();
        file.write_all(b"http://a/1\nhttp://a/too-long\n\nhttp://a/2\n")
            .unwrap();
        let got: Vec<(u64, Result<String, String>)> =
            Lines::with_limit(vec![list_input(file.path())], 12)
                .map(|l| (l.line, l.entry.map(|e| e.text).map_err(|e| e.error)))
                .collect();
        assert_eq!(
            got,
            [
                (1, Ok("http://a/1".into())),
                (
                    2,
                    Err("line is longer than 12 bytes (17 bytes); skipped".into())
                ),
                (4, Ok("http://a/2".into())),
            ]
        );
        assert_eq!(describe_size(MAX_LINE), "1 MiB");
    }

    #[test]
    fn a_fifo_whose_writer_comes_late_is_waited_for() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("fifo");
        crate::test_support::mkfifo(&path, 0o600);
        // Opened (non-blocking) before any writer, as `Config` does.
        let input = list_input(&path);
        let writer = std::thread::spawn(move || {
            std::thread::sleep(std::time::Duration::from_millis(200));
            let mut fifo = std::fs::OpenOptions::new().write(true).open(path).unwrap();
            fifo.write_all(b"http://a/1\n").unwrap();
            std::thread::sleep(std::time::Duration::from_millis(100));
            fifo.write_all(b"http://a/2\n").unwrap();
        });
        // Kept open, so that the writer's open cannot wait for a reader
        // should the lines not wait for it (a hang, not a failure).
        let keep = input.clone();
        let got: Vec<String> = Lines::new(vec![input])
            .map(|l| l.entry.unwrap().text)
            .collect();
        assert_eq!(got, ["http://a/1", "http://a/2"]);
        writer.join().unwrap();
        drop(keep);
    }
}
