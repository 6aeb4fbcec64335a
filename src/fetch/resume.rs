//! Resuming: the note haul records on a `DEST.part` (as the extended
//! attribute [`NOTE_XATTR`]) so that a later attempt or run can continue it,
//! the `.part` a download may continue ([`open_resumable`]), the
//! `Content-Range` forms of a range answer, and the rule that decides
//! whether an answer may be appended ([`Resumable::proven_by`]).
//!
//! The note holds only what resuming needs: a version number, a hash of
//! the URL (never the URL itself: query-string signatures and passwords
//! stay out of the file system), the validator of the version the bytes
//! came from, the content coding they came in (a server may compress an
//! answer nobody asked to be compressed: those bytes are saved as they
//! came, and only more of the same coding may follow), and which byte
//! ranges are complete (`0-` for a file written from zero; a download over
//! several connections, `--split`, lists its complete ranges and the
//! file's size). It is removed before the file gets its final name, so a
//! finished file carries nothing of haul's.
//!
//! The rule: a byte is appended only when the answer proves it is of the
//! recorded version (the same strong ETag, or the same Last-Modified when
//! no ETag was recorded) in the recorded coding. An answer that proves
//! nothing starts the file over from zero. A body haul decoded
//! (`--compressed`, `coding.rs`) gets no note: it is never continued.

use std::fs::File;
use std::path::Path;
use std::time::SystemTime;

use anyhow::Context;
use reqwest::StatusCode;
use reqwest::header::{CONTENT_ENCODING, CONTENT_RANGE, ETAG, HeaderMap, LAST_MODIFIED};
use sha2::{Digest, Sha256};

use crate::outdir::OutDir;

/// The extended attribute holding the note.
pub(crate) const NOTE_XATTR: &str = "user.haul.resume";
/// The note's first line; another version is not ours to continue.
const MAGIC: &str = "haul-resume 1";
/// The ranges value of a `.part` holding bytes `0..len`.
const CONTIGUOUS: &str = "0-";

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Note {
    url: [u8; 32],
    /// A strong ETag, exactly as the server sent it.
    etag: Option<String>,
    last_modified: Option<String>,
    /// The answer's `Content-Encoding` (none: the bytes are not encoded).
    coding: Option<String>,
    /// Which bytes the file holds.
    ranges: Ranges,
}

/// The note for a body about to be written from zero, before its URL is
/// hashed: a small body written whole in one step never gets a note, so
/// the hash (about 3,300 instructions, callgrind on the small-file
/// benchmark) is only taken when one is written.
#[derive(Debug)]
pub(crate) struct Pending {
    url: String,
    etag: Option<String>,
    last_modified: Option<String>,
    coding: Option<String>,
}

impl Pending {
    /// What [`Note::for_answer`] would give, the hash not yet taken.
    pub(crate) fn for_answer(url: &str, headers: &HeaderMap) -> Option<Pending> {
        let etag = header(headers, ETAG).filter(|etag| !etag.starts_with("W/"));
        let last_modified = header(headers, LAST_MODIFIED);
        if etag.is_none() && last_modified.is_none() {
            return None;
        }
        Some(Pending {
            url: url.to_string(),
            etag,
            last_modified,
            coding: coding(headers),
        })
    }

    /// The note, with the URL's hash.
    pub(crate) fn note(self) -> Note {
        Note {
            url: url_hash(&self.url),
            etag: self.etag,
            last_modified: self.last_modified,
            coding: self.coding,
            ranges: Ranges::Contiguous,
        }
    }
}

/// The bytes a `.part` holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Ranges {
    /// Bytes `0..len` (the file's length) and nothing else.
    Contiguous,
    /// A download over several connections (`--split`): the file is `size`
    /// bytes long, and these ranges (sorted, apart, end exclusive) are
    /// complete; anything else may be a hole.
    Sparse { size: u64, done: Vec<(u64, u64)> },
}

/// At most this many ranges in a note (each a few dozen bytes of an
/// extended attribute, which ext4 keeps within one block).
pub(crate) const MAX_NOTE_RANGES: usize = 64;

impl Note {
    /// The note for a body about to be written from zero; `None` when the
    /// answer has no validator (such a file can never be continued).
    pub(crate) fn for_answer(url: &str, headers: &HeaderMap) -> Option<Note> {
        Pending::for_answer(url, headers).map(Pending::note)
    }

    /// Whether this note can continue a download of `url`.
    pub(crate) fn continues(&self, url: &str) -> bool {
        self.url == url_hash(url)
    }

    pub(crate) fn ranges(&self) -> &Ranges {
        &self.ranges
    }

    /// The same version, now holding `ranges`.
    pub(crate) fn with_ranges(&self, ranges: Ranges) -> Note {
        Note {
            ranges,
            ..self.clone()
        }
    }

    /// The `If-Range` value: the strong ETag, else Last-Modified (weak
    /// ETags cannot be used there, RFC 9110 section 13.1.5).
    pub(crate) fn if_range(&self) -> &str {
        self.etag
            .as_deref()
            .or(self.last_modified.as_deref())
            .unwrap_or_default()
    }

    /// Whether an answer is of the recorded version: it must carry the
    /// recorded validator, unchanged, and the recorded coding (a range of
    /// a gzip answer is gzip bytes; a range of the file is not). Silence
    /// proves nothing.
    pub(crate) fn proves(&self, headers: &HeaderMap) -> bool {
        let version = match (&self.etag, &self.last_modified) {
            (Some(etag), _) => header(headers, ETAG).as_ref() == Some(etag),
            (None, Some(date)) => header(headers, LAST_MODIFIED).as_ref() == Some(date),
            (None, None) => false,
        };
        version && coding(headers) == self.coding
    }

    /// The recorded strong ETag.
    pub(crate) fn etag(&self) -> Option<&str> {
        self.etag.as_deref()
    }

    /// The recorded Last-Modified.
    pub(crate) fn last_modified(&self) -> Option<&str> {
        self.last_modified.as_deref()
    }

    /// The modification time to give the finished file.
    pub(crate) fn modified(&self) -> Option<SystemTime> {
        httpdate::parse_http_date(self.last_modified.as_deref()?).ok()
    }

    pub(crate) fn encode(&self) -> String {
        let mut text = format!("{MAGIC}\nurl {}\n", hex::encode(self.url));
        if let Some(etag) = &self.etag {
            text.push_str(&format!("etag {etag}\n"));
        }
        if let Some(date) = &self.last_modified {
            text.push_str(&format!("last-modified {date}\n"));
        }
        if let Some(coding) = &self.coding {
            text.push_str(&format!("coding {coding}\n"));
        }
        match &self.ranges {
            Ranges::Contiguous => text.push_str(&format!("ranges {CONTIGUOUS}\n")),
            Ranges::Sparse { size, done } => {
                let done: Vec<String> =
                    done.iter().map(|(a, b)| format!("{a}-{}", b - 1)).collect();
                text.push_str(&format!("size {size}\nranges {}\n", done.join(",")));
            }
        }
        text
    }

    /// Reads a note back; `None` for anything that is not exactly a note
    /// of this version.
    pub(crate) fn decode(bytes: &[u8]) -> Option<Note> {
        let text = std::str::from_utf8(bytes).ok()?;
        let mut lines = text.lines();
        if lines.next()? != MAGIC {
            return None;
        }
        let (mut url, mut etag, mut last_modified, mut coding, mut ranges, mut size) =
            (None, None, None, None, None, None);
        for line in lines {
            let (key, value) = line.split_once(' ')?;
            let slot = match key {
                "url" => &mut url,
                "etag" => &mut etag,
                "last-modified" => &mut last_modified,
                "coding" => &mut coding,
                "ranges" => &mut ranges,
                "size" => &mut size,
                _ => return None,
            };
            if slot.replace(value.to_string()).is_some() {
                return None;
            }
        }
        let mut hash = [0u8; 32];
        hex::decode_to_slice(url?, &mut hash).ok()?;
        if etag.is_none() && last_modified.is_none() {
            return None;
        }
        let ranges = match (ranges?.as_str(), size) {
            (CONTIGUOUS, None) => Ranges::Contiguous,
            (list, Some(size)) => Ranges::Sparse {
                size: size.parse().ok()?,
                done: parse_ranges(list)?,
            },
            _ => return None,
        };
        if let Ranges::Sparse { size, done } = &ranges
            && (done.len() > MAX_NOTE_RANGES || done.last().is_some_and(|&(_, end)| end > *size))
        {
            return None;
        }
        Some(Note {
            url: hash,
            etag,
            last_modified,
            coding,
            ranges,
        })
    }

    /// The note on an open `.part`, if it has one.
    pub(crate) fn read(file: &File) -> Option<Note> {
        let mut buf = [0u8; 4096];
        let n = rustix::fs::fgetxattr(file, NOTE_XATTR, &mut buf[..]).ok()?;
        Note::decode(&buf[..n])
    }

    /// Records the note on an open `.part`. Best effort: without user
    /// extended attributes the download still works, it just cannot be
    /// continued later.
    pub(crate) fn write(&self, file: &File) {
        let result = rustix::fs::fsetxattr(
            file,
            NOTE_XATTR,
            self.encode().as_bytes(),
            rustix::fs::XattrFlags::empty(),
        );
        if let Err(err) = result {
            tracing::debug!("cannot record resume data: {err}");
        }
    }
}

/// A `.part` this download may continue: opened (and locked), where its
/// first request resumes, its note.
pub(crate) struct Resumable {
    pub(crate) file: File,
    /// Where the request resumes: the end of the bytes held from zero.
    pub(crate) len: u64,
    /// The file's length on disk.
    pub(crate) file_len: u64,
    pub(crate) note: Note,
}

impl Resumable {
    /// Bytes of the resource the `.part` holds (all its complete ranges).
    pub(crate) fn held(&self) -> u64 {
        match &self.note.ranges {
            Ranges::Contiguous => self.len,
            Ranges::Sparse { done, .. } => done.iter().map(|(a, b)| b - a).sum(),
        }
    }

    /// Whether an answer to the range request may be used with this
    /// `.part`: a `206` for exactly the missing bytes, or a `416` saying the
    /// resource is exactly as long, either carrying the recorded validator.
    /// An error answer leaves the `.part` for a later attempt (`true`); any
    /// other success (a `200`: the range was ignored or the version changed)
    /// does not continue it.
    pub(crate) fn proven_by(&self, status: StatusCode, headers: &HeaderMap) -> bool {
        match status {
            StatusCode::PARTIAL_CONTENT => {
                content_range_start(headers).is_some_and(|(start, total)| {
                    start == self.len
                        && match self.note.ranges {
                            Ranges::Contiguous => true,
                            Ranges::Sparse { size, .. } => total == Some(size),
                        }
                }) && self.note.proves(headers)
            }
            // A sparse `.part` is complete only when its ranges say so
            // (then `len` is its size); either way the file on disk must be
            // exactly as long as the resource.
            StatusCode::RANGE_NOT_SATISFIABLE => {
                unsatisfied_range_total(headers) == Some(self.len)
                    && self.file_len == self.len
                    && self.note.proves(headers)
                    && match &self.note.ranges {
                        Ranges::Contiguous => true,
                        Ranges::Sparse { size, done } => done[..] == [(0, *size)],
                    }
            }
            _ => !status.is_success(),
        }
    }
}

/// The `.part` at `part` if this download may continue it: a regular file
/// of its own (one link, inside `--dir`, locked: one another haul holds is
/// an error), not empty, whose note says it holds the start of this URL's
/// body and which backs the note (see [`backed`]).
pub(crate) fn open_resumable(
    out: &OutDir,
    part: &Path,
    url: &str,
) -> anyhow::Result<Option<Resumable>> {
    let Some(file) = out.open_append(part)? else {
        return Ok(None);
    };
    let len = file
        .metadata()
        .with_context(|| format!("cannot look at {}", out.display(part).display()))?
        .len();
    let Some(note) = Note::read(&file).filter(|note| note.continues(url) && backed(note, len))
    else {
        return Ok(None);
    };
    let file_len = len;
    // Where the first request resumes: the end of the file, or of the
    // sparse file's complete ranges from zero (the rest comes by range).
    let len = match &note.ranges {
        Ranges::Contiguous => len,
        Ranges::Sparse { done, .. } if done.is_empty() => 0,
        Ranges::Sparse { size, .. } if len > *size => return Ok(None),
        Ranges::Sparse { done, .. } => match done[0] {
            (0, end) => end,
            _ => 0,
        },
    };
    let worth = match &note.ranges {
        Ranges::Contiguous => len > 0,
        Ranges::Sparse { done, .. } => !done.is_empty(),
    };
    Ok(worth.then_some(Resumable {
        file,
        len,
        file_len,
        note,
    }))
}

/// Whether a `.part` of `len` bytes backs what its note claims. A note is a
/// claim, read from a file anyone could have cut, extended or replaced
/// since (a stale note after a power loss is one): a contiguous note claims
/// the file's length itself, so any non-empty length backs it; a sparse
/// note's complete ranges must lie within the file, and the file must not
/// be longer than the resource. What the length cannot show (zeros where a
/// range was claimed) is kept out by writing notes only over synced data
/// (`split/`) and caught by a digest when one is given.
pub(crate) fn backed(note: &Note, len: u64) -> bool {
    match &note.ranges {
        Ranges::Contiguous => true,
        Ranges::Sparse { size, done } => {
            len <= *size && done.last().is_none_or(|&(_, end)| end <= len)
        }
    }
}

/// `A-B,C-D` (inclusive ends) as sorted, apart, end-exclusive ranges;
/// `None` unless exactly that.
fn parse_ranges(list: &str) -> Option<Vec<(u64, u64)>> {
    let mut done: Vec<(u64, u64)> = Vec::new();
    for range in list.split(',').filter(|r| !r.is_empty()) {
        let (a, b) = range.split_once('-')?;
        let (a, b): (u64, u64) = (a.parse().ok()?, b.parse().ok()?);
        if b < a || done.last().is_some_and(|&(_, end)| a <= end) {
            return None;
        }
        done.push((a, b.checked_add(1)?));
    }
    Some(done)
}

/// A `Content-Range` header, the one parser of it: `bytes FIRST-LAST/SIZE`
/// (SIZE may be `*`), or `bytes */SIZE` (with a `416`). `None` for anything
/// else, a range that ends before it starts or past the size included. See
/// <https://www.rfc-editor.org/rfc/rfc9110#section-14.4>.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ContentRange {
    /// The first and last byte (inclusive); `None` for `*/SIZE`.
    pub(crate) range: Option<(u64, u64)>,
    pub(crate) size: Option<u64>,
}

impl ContentRange {
    pub(crate) fn of(headers: &HeaderMap) -> Option<ContentRange> {
        let value = headers.get(CONTENT_RANGE)?.to_str().ok()?;
        let (range, size) = value.trim().strip_prefix("bytes ")?.split_once('/')?;
        let size = match size.trim() {
            "*" => None,
            size => Some(size.parse::<u64>().ok()?),
        };
        let range = match range.trim() {
            "*" => {
                // Only an unsatisfied range names no bytes, and it must say
                // the size.
                size?;
                None
            }
            range => {
                let (first, last) = range.split_once('-')?;
                let (first, last): (u64, u64) =
                    (first.trim().parse().ok()?, last.trim().parse().ok()?);
                if last < first || size.is_some_and(|size| last >= size) {
                    return None;
                }
                Some((first, last))
            }
        };
        Some(ContentRange { range, size })
    }
}

/// `Content-Range: bytes START-END/TOTAL` → `(START, TOTAL)`; TOTAL may be
/// `*`.
pub(crate) fn content_range_start(headers: &HeaderMap) -> Option<(u64, Option<u64>)> {
    let c = ContentRange::of(headers)?;
    Some((c.range?.0, c.size))
}

/// `Content-Range: bytes */TOTAL` (with a 416) → TOTAL.
fn unsatisfied_range_total(headers: &HeaderMap) -> Option<u64> {
    match ContentRange::of(headers)? {
        ContentRange { range: None, size } => size,
        _ => None,
    }
}

/// Removes the note from a finished file (nothing of haul's stays on it).
pub(crate) fn clear(file: &File) -> std::io::Result<()> {
    match rustix::fs::fremovexattr(file, NOTE_XATTR) {
        Ok(()) => Ok(()),
        // No note (a file written in one step), or no xattrs here.
        Err(rustix::io::Errno::NODATA | rustix::io::Errno::NOTSUP) => Ok(()),
        Err(e) => Err(e.into()),
    }
}

fn url_hash(url: &str) -> [u8; 32] {
    Sha256::digest(url.as_bytes()).into()
}

/// An answer's content coding as the note records it: `Content-Encoding`
/// as sent, none for `identity`.
fn coding(headers: &HeaderMap) -> Option<String> {
    let value = headers.get(CONTENT_ENCODING)?;
    let coding = String::from_utf8_lossy(value.as_bytes());
    (!coding.trim().eq_ignore_ascii_case("identity")).then(|| coding.into_owned())
}

fn header(headers: &HeaderMap, name: reqwest::header::HeaderName) -> Option<String> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::{HeaderName, HeaderValue};

    fn one_header(name: HeaderName, value: &str) -> HeaderMap {
        let mut map = HeaderMap::new();
        map.insert(name, HeaderValue::from_str(value).unwrap());
        map
    }

    #[test]
    fn content_range_parsing() {
        let cases = [
            ("bytes 0-499/1234", Some((0, Some(1234)))),
            ("bytes 500-1233/1234", Some((500, Some(1234)))),
            ("bytes 500-1233/*", Some((500, None))),
            ("bytes 500-1234/1234", None),
            ("bytes 9-8/20", None),
            ("bytes */1234", None),
            ("items 0-1/2", None),
            ("bytes x-1/2", None),
        ];
        for (value, want) in cases {
            assert_eq!(
                content_range_start(&one_header(CONTENT_RANGE, value)),
                want,
                "{value}"
            );
        }
        let whole = |value| ContentRange::of(&one_header(CONTENT_RANGE, value));
        let range = |range, size| Some(ContentRange { range, size });
        assert_eq!(whole("bytes 5-9/10"), range(Some((5, 9)), Some(10)));
        assert_eq!(whole("bytes 5-9/*"), range(Some((5, 9)), None));
        assert_eq!(whole("bytes */10"), range(None, Some(10)));
        assert_eq!(whole("bytes */*"), None);
        assert_eq!(whole("bytes 5-10/10"), None);
        assert_eq!(whole("bytes 5-9/ten"), None);
        assert_eq!(
            unsatisfied_range_total(&one_header(CONTENT_RANGE, "bytes */1000")),
            Some(1000)
        );
        assert_eq!(
            unsatisfied_range_total(&one_header(CONTENT_RANGE, "bytes 0-1/1000")),
            None
        );
    }

    fn headers(pairs: &[(HeaderName, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.insert(name.clone(), HeaderValue::from_str(value).unwrap());
        }
        map
    }

    const DATE: &str = "Wed, 21 Oct 2015 07:28:00 GMT";
    const LATER: &str = "Thu, 22 Oct 2015 07:28:00 GMT";

    /// Changed on purpose from the earlier `versions_of_a_206` test: an
    /// answer without the recorded validator used to count as the same
    /// version; now silence proves nothing, and an ETag without quotes is
    /// still an ETag.
    #[test]
    fn only_the_recorded_validator_proves_a_version() {
        let note = Note::for_answer("u", &headers(&[(ETAG, "\"v1\"")])).unwrap();
        assert_eq!(note.if_range(), "\"v1\"");
        assert!(note.proves(&headers(&[(ETAG, "\"v1\"")])));
        assert!(!note.proves(&headers(&[(ETAG, "\"v2\"")])));
        assert!(!note.proves(&HeaderMap::new()), "silence");
        assert!(!note.proves(&headers(&[(LAST_MODIFIED, DATE)])));

        let note = Note::for_answer("u", &headers(&[(LAST_MODIFIED, DATE)])).unwrap();
        assert_eq!(note.if_range(), DATE);
        assert!(note.proves(&headers(&[(LAST_MODIFIED, DATE)])));
        assert!(!note.proves(&headers(&[(LAST_MODIFIED, LATER)])));
        assert!(!note.proves(&headers(&[(ETAG, "\"v9\"")])));
        assert!(note.modified().is_some());

        // Unquoted: kept as an ETag, compared as one.
        let note =
            Note::for_answer("u", &headers(&[(ETAG, "abc"), (LAST_MODIFIED, DATE)])).unwrap();
        assert_eq!(note.if_range(), "abc");
        assert!(!note.proves(&headers(&[(ETAG, "abd"), (LAST_MODIFIED, DATE)])));

        // A weak ETag cannot be used: Last-Modified decides.
        let note =
            Note::for_answer("u", &headers(&[(ETAG, "W/\"w\""), (LAST_MODIFIED, DATE)])).unwrap();
        assert_eq!(note.if_range(), DATE);
        assert_eq!(Note::for_answer("u", &headers(&[(ETAG, "W/\"w\"")])), None);
        assert_eq!(Note::for_answer("u", &HeaderMap::new()), None);
    }

    /// A `.part` of encoded bytes (a server that compressed an answer
    /// nobody asked to be compressed) is continued only with bytes of the
    /// same coding; `identity` is no coding.
    #[test]
    fn the_note_records_the_coding_and_a_range_must_match_it() {
        use reqwest::header::CONTENT_ENCODING as CE;
        let gz = Note::for_answer("u", &headers(&[(ETAG, "\"v1\""), (CE, "gzip")])).unwrap();
        assert!(gz.encode().contains("coding gzip\n"));
        assert_eq!(Note::decode(gz.encode().as_bytes()), Some(gz.clone()));
        assert!(gz.proves(&headers(&[(ETAG, "\"v1\""), (CE, "gzip")])));
        assert!(!gz.proves(&headers(&[(ETAG, "\"v1\"")])), "uncoded bytes");
        assert!(!gz.proves(&headers(&[(ETAG, "\"v1\""), (CE, "br")])));

        let plain = Note::for_answer("u", &headers(&[(ETAG, "\"v1\""), (CE, "identity")])).unwrap();
        assert!(!plain.encode().contains("coding"), "{}", plain.encode());
        assert!(plain.proves(&headers(&[(ETAG, "\"v1\"")])));
        assert!(plain.proves(&headers(&[(ETAG, "\"v1\""), (CE, "identity")])));
        assert!(!plain.proves(&headers(&[(ETAG, "\"v1\""), (CE, "gzip")])));
    }

    /// Changed on purpose from `resume_record_must_match_the_url`: the note
    /// holds a hash of the URL, not the URL, and carries a version.
    #[test]
    fn the_note_round_trips_and_names_no_url() {
        let url = "https://alice:secret@h/a?X-Amz-Signature=abc";
        let note =
            Note::for_answer(url, &headers(&[(ETAG, "\"v1\""), (LAST_MODIFIED, DATE)])).unwrap();
        let text = note.encode();
        assert!(
            !text.contains("secret") && !text.contains("Signature"),
            "{text}"
        );
        let back = Note::decode(text.as_bytes()).unwrap();
        assert_eq!(back, note);
        assert!(back.continues(url));
        assert!(!back.continues("https://alice:secret@h/b"));
        let broken = [
            "",
            "haul-resume 2\nurl 00\netag \"v\"\nranges 0-\n",
            "http://h/a\n\"v1\"",
            &text.replace("ranges 0-", "ranges 0-10,20-30"),
            &text.replace("etag", "color"),
            &format!("{text}etag \"again\"\n"),
        ];
        for bad in broken {
            let decoded = Note::decode(bad.as_bytes());
            assert!(decoded.is_none_or(|n| !n.continues(url)), "{bad:?}");
        }
    }

    #[test]
    fn a_sparse_note_round_trips_and_is_complete_only_when_whole() {
        let note = Note::for_answer("u", &headers(&[(ETAG, "\"v1\"")])).unwrap();
        let sparse = note.with_ranges(Ranges::Sparse {
            size: 100,
            done: vec![(0, 10), (20, 30)],
        });
        let text = sparse.encode();
        assert!(text.contains("size 100\nranges 0-9,20-29\n"), "{text}");
        assert_eq!(Note::decode(text.as_bytes()), Some(sparse.clone()));
        for bad in [
            "ranges 0-9,5-29",
            "ranges 20-29,0-9",
            "ranges 9-0",
            "ranges 0-100",
        ] {
            let text = text.replace("ranges 0-9,20-29", bad);
            assert_eq!(Note::decode(text.as_bytes()), None, "{bad}");
        }
        assert_eq!(
            Note::decode(text.replace("size 100\n", "").as_bytes()),
            None
        );

        let dir = tempfile::tempdir().unwrap();
        let file = File::create(dir.path().join("a.part")).unwrap();
        let holed = Resumable {
            file,
            len: 10,
            file_len: 30,
            note: sparse.clone(),
        };
        let unsatisfied = headers(&[(ETAG, "\"v1\""), (CONTENT_RANGE, "bytes */100")]);
        assert!(
            !holed.proven_by(StatusCode::RANGE_NOT_SATISFIABLE, &unsatisfied),
            "a .part with holes is never whole by a 416"
        );
        let rest = headers(&[(ETAG, "\"v1\""), (CONTENT_RANGE, "bytes 10-99/100")]);
        assert!(holed.proven_by(StatusCode::PARTIAL_CONTENT, &rest));
        let other_size = headers(&[(ETAG, "\"v1\""), (CONTENT_RANGE, "bytes 10-99/101")]);
        assert!(!holed.proven_by(StatusCode::PARTIAL_CONTENT, &other_size));

        // Issue 16, item 2: the 416 shortcut needs the file's own length.
        let whole = note.with_ranges(Ranges::Sparse {
            size: 100,
            done: vec![(0, 100)],
        });
        let short = Resumable {
            file: File::create(dir.path().join("b.part")).unwrap(),
            len: 100,
            file_len: 10,
            note: whole.clone(),
        };
        assert!(!short.proven_by(StatusCode::RANGE_NOT_SATISFIABLE, &unsatisfied));
        let exact = Resumable {
            file_len: 100,
            ..short
        };
        assert!(exact.proven_by(StatusCode::RANGE_NOT_SATISFIABLE, &unsatisfied));
    }

    /// Issue 16, item 2: a note is accepted only where the file backs it.
    #[test]
    fn a_note_claiming_more_than_the_file_holds_is_not_backed() {
        let note = Note::for_answer("u", &headers(&[(ETAG, "\"v1\"")])).unwrap();
        assert!(backed(&note, 1));
        let sparse = |done: Vec<(u64, u64)>| {
            note.with_ranges(Ranges::Sparse {
                size: 2_097_152,
                done,
            })
        };
        assert!(!backed(&sparse(vec![(0, 2_097_152)]), 10));
        assert!(!backed(
            &sparse(vec![(0, 100), (1_048_576, 2_097_152)]),
            100
        ));
        assert!(backed(
            &sparse(vec![(0, 100), (1_048_576, 2_097_152)]),
            2_097_152
        ));
        assert!(backed(&sparse(vec![(0, 100)]), 100));
        assert!(
            !backed(&sparse(vec![(0, 100)]), 2_097_153),
            "longer than the resource"
        );
        assert!(backed(&sparse(vec![]), 0));
    }

    #[test]
    fn the_note_lives_on_the_file_until_cleared() {
        let dir = tempfile::tempdir().unwrap();
        if !crate::test_support::xattrs(dir.path(), "the resume note") {
            return;
        }
        let file = File::create(dir.path().join("a.part")).unwrap();
        assert_eq!(Note::read(&file), None);
        let note = Note::for_answer("u", &headers(&[(ETAG, "\"v1\"")])).unwrap();
        note.write(&file);
        assert_eq!(Note::read(&file), Some(note));
        clear(&file).unwrap();
        assert_eq!(Note::read(&file), None);
        clear(&file).unwrap();
    }
}
