//! The collision registry: every file a download will write under `--dir`
//! is claimed here before its first byte, for the whole run, whatever
//! named it (the URL, a template, `out=`, a `Content-Disposition` header,
//! the last URL of a redirect chain), and a later claim on a taken name
//! fails. A claim on `DEST` also covers its temp file `DEST.part`, so a
//! destination can never be another download's temp file, nor the other
//! way round. haul's own files under `--dir` (`--report`, `-i` lists,
//! `--checksums`) are claimed before any download, so `--on-exists
//! overwrite` can never replace them.
//!
//! On a case-insensitive folder (`OutDir::case_insensitive`), names are
//! compared after Unicode NFC normalisation and lower-casing.
//!
//! A destination that provably no other download names (`distinct.rs`)
//! is only checked against what is there ([`Claims::check`]), not
//! recorded.
//!
//! Where a destination is a function of its URL alone, the planner claims
//! it with a tag of the URL ([`Claims::claim_for`]): the same URL naming
//! it again is then a repeat, not a collision, and this registry is the
//! planner's only record of what it planned.
//!
//! Memory: one 64-bit hash per claim with a 32-bit tag (10 bytes and a
//! little, [`TaggedSet`]) plus the
//! claimants' text for the first [`KEEP_BYTES`] (4 MiB) of it, so that a message
//! can say who holds a name. The planner thread and the transfer threads
//! share it behind a mutex (held for a hash probe).

use std::borrow::Cow;
use std::collections::HashMap;
use std::fmt::Display;
use std::hash::{BuildHasher, BuildHasherDefault, Hasher, RandomState};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use crate::naming::PART_SUFFIX;
use crate::outdir::OutDir;
use crate::seen::{IdentityHasher, TaggedSet};

/// Claimants' text kept for messages, in bytes (each entry counted with
/// [`ENTRY_OVERHEAD`]); past it, messages say "an earlier URL". Bounded by
/// bytes, not count: URLs can be long.
const KEEP_BYTES: usize = 4 << 20;
/// What a kept entry costs besides its text: the map slot, the box, the
/// allocator's header.
const ENTRY_OVERHEAD: usize = 48;

pub(crate) struct Claims {
    /// `--dir` as given, for messages.
    dir: PathBuf,
    fold: bool,
    hasher: RandomState,
    inner: Mutex<Inner>,
}

/// The tag of a claim not made for a URL's own name (haul's own files, a
/// template with `{n}`, `out=`, a server's name): never a repeat.
const UNTAGGED: u32 = 0;
/// Set in every URL's tag, so none is [`UNTAGGED`].
const TAGGED: u32 = 1 << 31;

#[derive(Clone, Copy)]
enum Take {
    /// Record the claim, with this tag.
    Record(u32),
    /// Only say whether it could be made.
    Check,
}

/// A claim made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Claimed {
    New,
    /// The same URL took this name before.
    Repeat,
}

#[derive(Default)]
struct Inner {
    /// Every claim, with its URL's tag or [`UNTAGGED`].
    taken: TaggedSet,
    who: HashMap<u64, Box<str>, BuildHasherDefault<IdentityHasher>>,
    kept: usize,
}

/// A refused claim: the message names the path and who holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Collision(pub(crate) String);

impl Claims {
    pub(crate) fn new(dir: &Path, case_insensitive: bool) -> Claims {
        Claims {
            dir: dir.to_path_buf(),
            fold: case_insensitive,
            hasher: RandomState::new(),
            inner: Mutex::default(),
        }
    }

    /// Claims `rel` (a checked relative path) and its `.part` for `by` (a
    /// URL, already masked, or a description of one of haul's own files).
    pub(crate) fn claim(&self, rel: &Path, by: impl Display) -> Result<(), Collision> {
        self.take(rel, by, Take::Record(UNTAGGED)).map(drop)
    }

    /// Claims `rel` for the URL whose 32-bit tag is `url`, where the
    /// destination is a function of the URL alone (`plan.rs`): `Repeat`
    /// when this URL took it before (so the planner needs no set of URLs
    /// beside this one), a collision when another did.
    pub(crate) fn claim_for(
        &self,
        rel: &Path,
        by: impl Display,
        url: u32,
    ) -> Result<Claimed, Collision> {
        self.take(rel, by, Take::Record(url | TAGGED))
    }

    /// Whether the URL tagged `url` holds `rel` (see [`Claims::claim_for`]).
    pub(crate) fn held_by(&self, rel: &Path, url: u32) -> bool {
        let key = self.key(&self.key_text(rel));
        let inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        inner.taken.tag(key) == Some(url | TAGGED)
    }

    /// What [`Claims::claim`] would say of `rel`, without recording it: for
    /// a destination no other download can name (`distinct.rs`), which
    /// must still not be one of haul's own files.
    pub(crate) fn check(&self, rel: &Path) -> Result<(), Collision> {
        self.take(rel, "", Take::Check).map(drop)
    }

    /// Whether names are compared case-folded.
    pub(crate) fn folds_case(&self) -> bool {
        self.fold
    }

    fn take(&self, rel: &Path, by: impl Display, take: Take) -> Result<Claimed, Collision> {
        let name = self.key_text(rel);
        // The hash of the name, and (from the same state, without hashing
        // the name twice) of its `.part`: our `.part` may be someone's
        // destination, and our destination someone's `.part`.
        let mut hasher = self.hasher.build_hasher();
        hasher.write(name.as_bytes());
        let mut part_hasher = hasher.clone();
        hasher.write_u8(0xff);
        part_hasher.write(PART_SUFFIX.as_bytes());
        part_hasher.write_u8(0xff);
        let (key, our_part) = (hasher.finish(), part_hasher.finish());
        let theirs = name.strip_suffix(PART_SUFFIX).map(|dest| self.key(dest));
        let mut inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        let path = || self.dir.join(rel);
        match (inner.taken.tag(key), take) {
            (None, _) => {}
            (Some(held), Take::Record(tag)) if held == tag && tag != UNTAGGED => {
                return Ok(Claimed::Repeat);
            }
            (Some(_), _) => {
                return Err(Collision(format!(
                    "destination {} is already taken {}; name files apart with -o \
                 (e.g. -o '{{n}}-{{name}}' or '{{path}}')",
                    path().display(),
                    inner.by(key)
                )));
            }
        }
        if inner.taken.tag(our_part).is_some() {
            let path = path();
            return Err(Collision(format!(
                "destination {}: its temporary file {}{PART_SUFFIX} is already taken {}",
                path.display(),
                path.display(),
                inner.by(our_part)
            )));
        }
        if let Some(theirs) = theirs
            && inner.taken.tag(theirs).is_some()
        {
            return Err(Collision(format!(
                "destination {} is the temporary file of the download {}",
                path().display(),
                inner.by(theirs)
            )));
        }
        let Take::Record(tag) = take else {
            return Ok(Claimed::New);
        };
        inner.taken.insert_tagged(key, tag);
        if inner.kept < KEEP_BYTES {
            let by = by.to_string();
            let cost = by.len() + ENTRY_OVERHEAD;
            if inner.kept + cost <= KEEP_BYTES {
                inner.kept += cost;
                inner.who.insert(key, by.into());
            }
        }
        Ok(Claimed::New)
    }

    /// The text names are compared by.
    fn key_text<'a>(&self, rel: &'a Path) -> Cow<'a, str> {
        let text = rel.to_string_lossy();
        if self.fold { fold(&text).into() } else { text }
    }

    /// The hash a name is claimed under (the same as in [`Claims::claim`]).
    fn key(&self, name: &str) -> u64 {
        let mut hasher = self.hasher.build_hasher();
        hasher.write(name.as_bytes());
        hasher.write_u8(0xff);
        hasher.finish()
    }
}

impl Claims {
    /// The registry of a run, with haul's own files under `--dir` (`own`:
    /// the `--report` file, `-i` lists, `--checksums`, `--state`) claimed
    /// first, so no download, `--on-exists overwrite` included, can replace
    /// them.
    pub(crate) fn for_run(dir: &Path, out: &OutDir, own: Vec<(PathBuf, &str)>) -> Claims {
        let claims = Claims::new(dir, out.case_insensitive());
        let Ok(root) = dir.canonicalize() else {
            // No folder yet (a dry run): nothing of haul's is in it.
            return claims;
        };
        for (path, what) in own {
            if let Some(rel) = inside(&root, &path) {
                // Two roles for one file (a list that is also the report) are
                // not a download's business.
                let _ = claims.claim(&rel, what);
            }
        }
        claims
    }
}

/// `path` relative to the canonical `root`, when what it resolves to lies
/// inside it: a symlink is followed to the file it names (a `--state` given
/// as a link into `--dir` is the file in `--dir`), and a file not there
/// yet is its resolved folder and its name.
fn inside(root: &Path, path: &Path) -> Option<PathBuf> {
    if let Ok(real) = path.canonicalize() {
        return real.strip_prefix(root).ok().map(Path::to_path_buf);
    }
    let name = path.file_name()?;
    let parent = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let rel = parent.canonicalize().ok()?.join(name);
    rel.strip_prefix(root).ok().map(Path::to_path_buf)
}

impl Inner {
    fn by(&self, key: u64) -> String {
        match self.who.get(&key) {
            Some(who) => format!("by {who}"),
            None => "by an earlier URL".into(),
        }
    }
}

/// How a case-insensitive file system compares names: NFC, then lower case
/// (NFC again, since lower-casing can decompose).
pub(crate) fn fold(name: &str) -> String {
    let nfc = icu_normalizer::ComposingNormalizerBorrowed::new_nfc();
    let lower = nfc.normalize(name).to_lowercase();
    nfc.normalize(&lower).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claims(fold: bool) -> Claims {
        Claims::new(Path::new("out"), fold)
    }

    #[test]
    fn a_name_is_taken_once() {
        let c = claims(false);
        assert_eq!(c.claim(Path::new("a/x"), "http://h/1"), Ok(()));
        let err = c.claim(Path::new("a/x"), "http://h/2").unwrap_err().0;
        assert!(
            err.contains("out/a/x is already taken by http://h/1"),
            "{err}"
        );
        assert_eq!(c.claim(Path::new("a/X"), "http://h/3"), Ok(()), "case kept");
    }

    #[test]
    fn a_destination_and_a_temp_file_never_meet() {
        let c = claims(false);
        c.claim(Path::new("x"), "http://h/x").unwrap();
        let err = c
            .claim(Path::new("x.part"), "http://h/x.part")
            .unwrap_err()
            .0;
        assert!(
            err.contains("temporary file of the download by http://h/x"),
            "{err}"
        );

        let c = claims(false);
        c.claim(Path::new("y.part"), "http://h/y.part").unwrap();
        let err = c.claim(Path::new("y"), "http://h/y").unwrap_err().0;
        assert!(
            err.contains("its temporary file out/y.part is already taken"),
            "{err}"
        );
        // `y.part.part` is y.part's temp file, not y's.
        assert!(c.claim(Path::new("y.part.part"), "http://h/z").is_err());
        assert!(c.claim(Path::new("z.partx"), "http://h/w").is_ok());
    }

    #[test]
    fn case_insensitive_folders_fold_case_and_normalisation() {
        let c = claims(true);
        c.claim(Path::new("Caf\u{e9}.TXT"), "http://h/1").unwrap();
        assert!(c.claim(Path::new("cafe\u{301}.txt"), "http://h/2").is_err());
        assert!(
            c.claim(Path::new("CAF\u{c9}.txt.PART"), "http://h/3")
                .is_err()
        );
        assert_eq!(fold("\u{c5}ngstr\u{f6}m"), fold("a\u{30a}ngstro\u{308}m"));
    }

    #[test]
    fn remembered_text_is_bounded_by_bytes() {
        let c = claims(false);
        let long = "x".repeat(KEEP_BYTES / 2);
        c.claim(Path::new("a"), &long).unwrap();
        c.claim(Path::new("b"), &long).unwrap();
        let err = c.claim(Path::new("b"), "u").unwrap_err().0;
        assert!(err.contains("by an earlier URL"), "{err}");
        assert!(c.inner.lock().unwrap().kept <= KEEP_BYTES);
    }
}
