//! Reads URL lists as a stream: one line at a time from a file or standard
//! input, skipping blank lines and `#` comments, keeping line numbers for
//! error messages, and splitting each line into the URL text and its
//! `key=value` fields. It does not expand globs or validate URLs (that is
//! `plan.rs`), and it never holds more than one line in memory.

use std::fs::File;
use std::io::{self, BufRead, BufReader, Read};

use crate::config::Input;

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
    /// `out=`: destination template relative to `--dir`.
    pub(crate) out: Option<String>,
    /// `sha256=`: expected digest of the body.
    pub(crate) sha256: Option<[u8; 32]>,
}

/// Streams the lines of every input in order.
pub(crate) struct Lines {
    inputs: Vec<Input>,
    next_input: usize,
    current: Option<Reader>,
    buf: Vec<u8>,
}

struct Reader {
    source: usize,
    line: u64,
    inner: BufReader<Box<dyn Read + Send>>,
}

impl Lines {
    pub(crate) fn new(inputs: Vec<Input>) -> Lines {
        Lines {
            inputs,
            next_input: 0,
            current: None,
            buf: Vec::with_capacity(256),
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
                self.buf.clear();
                let source = reader.source;
                match reader.inner.read_until(b'\n', &mut self.buf) {
                    Ok(0) => self.current = None,
                    Ok(_) => {
                        reader.line += 1;
                        let line = reader.line;
                        let entry = match std::str::from_utf8(&self.buf) {
                            Ok(text) => match parse_line(text) {
                                Some(entry) => entry,
                                None => continue,
                            },
                            Err(_) => Err(BadLine::new(None, "line is not valid UTF-8")),
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
                            out: None,
                            sha256: None,
                        }),
                    });
                }
                Input::List(path) => {
                    let inner: Box<dyn Read + Send> = match path {
                        None => Box::new(io::stdin()),
                        Some(path) => match File::open(path) {
                            Ok(file) => Box::new(file),
                            Err(err) => {
                                return Some(Line {
                                    source,
                                    line: 0,
                                    entry: Err(BadLine::new(
                                        None,
                                        format!("cannot read list file: {err}"),
                                    )),
                                });
                            }
                        },
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
        out: None,
        sha256: None,
    };
    let bad = |error: String| Some(Err(BadLine::new(Some(url), error)));
    for field in fields {
        let Some((key, value)) = field.split_once('=') else {
            return bad(format!(
                "unexpected '{field}' after the URL (fields are key=value: out=, sha256=)"
            ));
        };
        if value.is_empty() {
            return bad(format!("empty value for '{key}='"));
        }
        match key {
            "out" if entry.out.is_none() => entry.out = Some(value.to_string()),
            "sha256" if entry.sha256.is_none() => match parse_sha256(value) {
                Ok(digest) => entry.sha256 = Some(digest),
                Err(err) => return bad(err),
            },
            "out" | "sha256" => return bad(format!("'{key}=' given twice")),
            _ => {
                return bad(format!(
                    "unknown field '{key}=' (known fields: out=, sha256=)"
                ));
            }
        }
    }
    Some(Ok(entry))
}

/// Parses a 64-digit hexadecimal SHA-256 digest (either case).
pub(crate) fn parse_sha256(hex: &str) -> Result<[u8; 32], String> {
    let mut digest = [0u8; 32];
    hex::decode_to_slice(hex, &mut digest)
        .map_err(|_| format!("invalid sha256 '{hex}': expected 64 hexadecimal digits"))?;
    Ok(digest)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn entry(text: &str, out: Option<&str>) -> Option<Result<Entry, BadLine>> {
        Some(Ok(Entry {
            text: text.into(),
            out: out.map(Into::into),
            sha256: None,
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
    fn parses_sha256_field() {
        let hex = "ab".repeat(32);
        let got = parse_line(&format!("http://a/x sha256={hex}"))
            .unwrap()
            .unwrap();
        assert_eq!(got.sha256, Some([0xab; 32]));
        let upper = "AB".repeat(32);
        let got = parse_line(&format!("http://a/x sha256={upper}"))
            .unwrap()
            .unwrap();
        assert_eq!(got.sha256, Some([0xab; 32]));
    }

    #[test]
    fn rejects_bad_fields() {
        let bad = [
            ("http://a/x foo=1", "unknown field 'foo='"),
            ("http://a/x out", "unexpected 'out'"),
            ("http://a/x out=", "empty value"),
            ("http://a/x out=a out=b", "given twice"),
            ("http://a/x sha256=abc", "expected 64 hexadecimal"),
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
            Input::List(Some(file.path().into())),
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
}
