//! Turns input lines into download jobs, lazily: glob expansion, URL
//! validation, positions (`{n}`, `--shard`), de-duplication, destination
//! naming, the destination's claim (`claims.rs`; under
//! `--content-disposition` and `--trust-server-names` the download claims
//! its name when the answer comes), and what to do with a file already there, looked up through
//! `outdir/` and decided by the existing-file rule (`existing.rs`) with
//! the `--state` entry when there is one. The planner is an iterator: the
//! runner pulls from it on a thread of its own, back-pressured by a bounded
//! channel, and a dry run prints from it (`runner/dry_run.rs`). It fetches
//! nothing, and changes nothing but what the existing-file rule says (a
//! kept file's leftover `.part`; in a dry run `--dir` is opened to look
//! only, so not even that).
//!
//! Memory: the only state that grows with the input is one 64-bit hash per
//! URL (de-duplication, a [`SeenSet`]) and the claims (see `claims.rs`);
//! neither grows for a single pattern that provably cannot repeat a URL or
//! a destination (`distinct.rs`).

use std::hash::{BuildHasher, RandomState};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::SystemTime;

use url::Url;

use crate::claims::{Claimed, Claims};
use crate::config::PlanSettings;
use crate::digest::{Digest, Expected, Source, Verified};
use crate::distinct::{Distinct, distinct};
use crate::existing::{AtDestination, at_destination, kept, vouches};
use crate::glob::{Expansion, Pattern};
use crate::mirrors::Mirrors;
use crate::naming::{OutputTemplate, Part, part_path, safe_relative};
use crate::outcome::{Done, Outcome};
use crate::outdir::{Existing, OutDir};
use crate::redact::{Masked, masked, masked_text};
use crate::seen::SeenSet;
use crate::settings::{OnExists, Shard};
use crate::source::{Entry, Input, Line, Lines};
use crate::state::State;

/// One planned download.
#[derive(Debug, Clone)]
pub(crate) struct Job {
    pub(crate) url: Url,
    /// Destination relative to `--dir`, already checked by [`safe_relative`].
    pub(crate) rel: PathBuf,
    /// `--dir` joined with `rel`: where the file is written.
    pub(crate) path: PathBuf,
    /// The digest the file must have (a list field, `--checksums`; a
    /// `--checksum-sidecar` one is added by the download).
    pub(crate) digest: Option<Expected>,
    /// A `DEST.part` was there when the job was planned (looked up on the
    /// planner's thread, so the transfer thread need not for every file).
    pub(crate) had_part: bool,
    /// A file is at the destination and a digest says what it must hold:
    /// hash it first, and fetch only when it does not match.
    pub(crate) verify_existing: bool,
    /// `--on-exists update`: the modification time of the file there.
    pub(crate) modified: Option<SystemTime>,
    /// `--on-exists update` with `--state`: the ETag recorded for the file.
    pub(crate) etag: Option<String>,
    /// Why a file already there is fetched again (decided here).
    pub(crate) replaced: Option<&'static str>,
    /// A line with several URLs: all of them, and which one `url` is.
    pub(crate) mirrors: Option<Box<Mirrors>>,
    /// Its place among everything planned, from 1 (what `-o -` writes in
    /// order by).
    pub(crate) seq: u64,
}

impl Job {
    /// The URL the file is known by: its line's first (`url` is the one
    /// being asked, another of the line's after a failure).
    pub(crate) fn line_url(&self) -> &Url {
        self.mirrors.as_ref().map_or(&self.url, |m| m.first())
    }
}

#[derive(Debug)]
pub(crate) enum Planned {
    Fetch(Job),
    /// Decided without a request: skipped (`--on-exists skip` and the file
    /// is there) or refused (a bad line, an unsafe name, a collision).
    Done(Outcome),
}

impl Planned {
    /// Its place among everything planned, from 1.
    pub(crate) fn seq(&self) -> u64 {
        match self {
            Planned::Fetch(job) => job.seq,
            Planned::Done(outcome) => outcome.seq,
        }
    }
}

pub(crate) struct Planner {
    settings: PlanSettings,
    labels: Vec<String>,
    lines: Lines,
    /// The line being expanded.
    current: Option<Current>,
    position: u64,
    /// What was planned so far, jobs and decided outcomes alike.
    planned: u64,
    hasher: RandomState,
    /// URLs planned, when [`Planner::dedup`] needs them: all of them, or
    /// under [`Mode::ByName`] those the claims cannot tell again.
    urls: SeenSet,
    /// What the input provably cannot repeat: the records it needs not
    /// keep.
    distinct: Distinct,
    /// How repeated URLs are found; `None` when none can come.
    dedup: Option<Mode>,
    out: Arc<OutDir>,
    claims: Arc<Claims>,
    /// `--state`, read for files already there.
    state: Option<Arc<State>>,
    /// `--dir` was empty (or missing) when the run began: no destination
    /// and no `.part` can exist but the ones this run makes, which the
    /// collision check already keeps apart, so the two per-URL `stat`s
    /// are skipped (a measurable share of the planner's time on many small
    /// files; BENCHMARKS.md).
    empty_dir: bool,
}

/// How the planner finds a URL listed again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// A set of every URL planned.
    Set,
    /// The destination's claim, tagged with the URL (`claims.rs`), for
    /// URLs named by the output template alone; the set for the others
    /// (`out=`, refused). One record a URL instead of two.
    ByName,
}

/// What a claim is to tell the planner.
#[derive(Debug, Clone, Copy)]
enum Dedup {
    /// Nothing: the URL is known new.
    None,
    /// Whether the URL with this tag came before.
    Tagged(u32),
}

struct Current {
    origin: String,
    out: Option<OutputTemplate>,
    digest: Option<Digest>,
    /// The line's other URLs for its one file.
    mirrors: Vec<Url>,
    expansions: <Pattern as IntoIterator>::IntoIter,
}

impl Planner {
    pub(crate) fn new(
        settings: PlanSettings,
        out: Arc<OutDir>,
        claims: Arc<Claims>,
        state: Option<Arc<State>>,
    ) -> Planner {
        let distinct = match settings.inputs.as_slice() {
            [Input::Arg { text, .. }] => {
                let pattern = match settings.globoff {
                    true => Ok(Pattern::literal(text)),
                    false => Pattern::parse(text),
                };
                pattern.map_or_else(
                    |_| Distinct::default(),
                    |pattern| distinct(&pattern, &settings.template, claims.folds_case()),
                )
            }
            _ => Distinct::default(),
        };
        tracing::debug!("the input cannot repeat: {distinct:?}");
        let dedup = match distinct.urls {
            true => None,
            // The destination is the URL's alone (no `{n}`, no glob
            // values, no name from the answer) and every URL is claimed
            // here (no shard).
            false
                if settings.shard.is_none()
                    && !settings.name_from_answer
                    && settings.template.parts().iter().all(|part| {
                        matches!(
                            part,
                            Part::Literal(_) | Part::Name | Part::Path | Part::Host
                        )
                    }) =>
            {
                Some(Mode::ByName)
            }
            false => Some(Mode::Set),
        };
        Planner {
            distinct,
            dedup,
            labels: settings.inputs.iter().map(Input::label).collect(),
            lines: Lines::new(settings.inputs.clone()),
            current: None,
            position: 0,
            planned: 0,
            hasher: RandomState::new(),
            urls: SeenSet::default(),
            claims,
            state,
            empty_dir: out.is_empty(),
            out,
            settings,
        }
    }

    fn origin(&self, line: &Line) -> String {
        let label = &self.labels[line.source];
        if line.line == 0 {
            label.clone()
        } else {
            format!("{label}:{}", line.line)
        }
    }

    /// Starts expanding a line, or refuses it.
    fn start(&mut self, line: Line) -> Result<(), Box<Outcome>> {
        let origin = self.origin(&line);
        let reject = |url: Option<&str>, error: String| {
            let url = url.map(masked_text).unwrap_or_default();
            Box::new(Outcome::refused(url, None, Some(origin.clone()), error))
        };
        let Entry {
            text,
            mirrors,
            out,
            digest,
        } = line
            .entry
            .map_err(|bad| reject(bad.url.as_deref(), bad.error))?;
        let globoff = self.settings.globoff;
        let pattern = if globoff {
            Pattern::literal(&text)
        } else {
            Pattern::parse(&text).map_err(|e| reject(Some(&text), format!("bad glob: {e}")))?
        };
        let mirrors = match mirrors.is_empty() {
            true => Vec::new(),
            false if pattern.len() != 1 => {
                return Err(reject(
                    Some(&text),
                    "a line with several URLs names one file: its first URL cannot be a glob \
                     pattern of several (one line a file)"
                        .into(),
                ));
            }
            false => mirrors
                .iter()
                .map(|mirror| one_url(mirror, globoff).map_err(|e| reject(Some(mirror), e)))
                .collect::<Result<_, _>>()?,
        };
        let out = match out {
            Some(out) => Some(
                OutputTemplate::parse(&out)
                    .map_err(|e| reject(Some(&text), format!("bad out= field: {e:#}")))?,
            ),
            None => None,
        };
        // `-o -` names files by position alone.
        let out = out.filter(|_| !self.settings.stream);
        // Checked once per line rather than once per expansion.
        let template = out.as_ref().unwrap_or(&self.settings.template);
        if template.max_glob() > pattern.glob_count() {
            return Err(reject(
                Some(&text),
                format!(
                    "the output template uses {{{}}} but the URL has {} glob(s)",
                    template.max_glob(),
                    pattern.glob_count()
                ),
            ));
        }
        tracing::debug!(
            "{origin}: {} URL(s) from {}",
            pattern.len(),
            masked_text(&text)
        );
        self.current = Some(Current {
            origin,
            out,
            digest,
            mirrors,
            expansions: pattern.into_iter(),
        });
        Ok(())
    }

    /// Plans one expanded URL; `None` when it is not this shard's or a repeat.
    fn plan(&mut self, expansion: Expansion) -> Option<Planned> {
        let url = match parse_url(&expansion.text) {
            Ok(url) => url,
            Err(error) => return Some(self.refuse(&expansion.text, None, error)),
        };
        self.position += 1;
        let n = self.position;
        let Some(mode) = self.dedup else {
            return self
                .ours(n)
                .then(|| self.place(url, n, &expansion, Dedup::None))?;
        };
        let key = self.hasher.hash_one(url.as_str());
        let current = self.current.as_ref().expect("plan() runs inside a line");
        if self.urls.contains(key) {
            return listed_again(&url, &current.origin);
        }
        if mode == Mode::ByName {
            // The name the URL has wherever it is listed: its claim says
            // whether the URL came before (`claims.rs`). A line's `out=`
            // names it otherwise, so such a URL goes into the set.
            let tag = (key >> 32) as u32;
            if current.out.is_none() {
                let planned = self.place(url, n, &expansion, Dedup::Tagged(tag));
                if let Some(Planned::Done(_)) = planned {
                    // Refused: a repeat is skipped, not refused again.
                    self.urls.insert(key);
                }
                return planned;
            }
            let held = self
                .settings
                .template
                .render(&url, n, &[])
                .ok()
                .and_then(|name| safe_relative(&name).ok())
                .is_some_and(|rel| self.claims.held_by(&rel, tag));
            if held {
                return listed_again(&url, &current.origin);
            }
        }
        self.urls.insert(key);
        self.ours(n)
            .then(|| self.place(url, n, &expansion, Dedup::None))?
    }

    /// Whether the `n`th URL is this shard's. De-duplication runs over the
    /// whole input, before this filter: every shard reads all of it, so
    /// the first occurrence's position picks the one shard that fetches a
    /// repeated URL.
    fn ours(&self, n: u64) -> bool {
        self.settings
            .shard
            .is_none_or(|Shard { k, n: shards }| (n - 1) % shards == k - 1)
    }

    /// A refused expansion of the current line.
    fn refuse(&self, url: &str, path: Option<PathBuf>, error: String) -> Planned {
        let current = self.current.as_ref().expect("refuse() runs inside a line");
        let origin = path.is_none().then(|| current.origin.clone());
        Planned::Done(Outcome::refused(masked_text(url), path, origin, error))
    }

    /// Names `url`, claims its destination and plans its download; `None`
    /// when the claim finds the same URL came before ([`Dedup::Tagged`]).
    fn place(&self, url: Url, n: u64, expansion: &Expansion, dedup: Dedup) -> Option<Planned> {
        let current = self.current.as_ref().expect("place() runs inside a line");
        let reject = |url: &str, path, error| Some(self.refuse(url, path, error));
        let template = current.out.as_ref().unwrap_or(&self.settings.template);
        let name = match template.render(&url, n, &expansion.values) {
            Ok(name) => name,
            Err(error) => return reject(url.as_str(), None, error),
        };
        let rel = match safe_relative(&name) {
            Ok(rel) => rel,
            Err(error) => return reject(url.as_str(), None, error.to_string()),
        };
        let path = self.out.display(&rel);
        let digest = match current.digest {
            Some(digest) => Some(Expected {
                digest,
                source: Source::List,
            }),
            None => match self.settings.checksums.lookup(&rel) {
                Ok(found) => found,
                Err(error) => return reject(url.as_str(), Some(path), error),
            },
        };
        // Under --content-disposition or --trust-server-names this name is
        // only provisional: the download claims its name when the answer
        // arrives.
        let name_from_answer = self.settings.name_from_answer;
        if !name_from_answer {
            let claimed = match dedup {
                _ if self.distinct.names => self.claims.check(&rel).map(|()| Claimed::New),
                Dedup::Tagged(tag) => self.claims.claim_for(&rel, Masked(&url), tag),
                Dedup::None => self.claims.claim(&rel, Masked(&url)).map(|()| Claimed::New),
            };
            match claimed {
                Ok(Claimed::New) => {}
                Ok(Claimed::Repeat) => return listed_again(&url, &current.origin),
                Err(collision) => return reject(url.as_str(), Some(path), collision.0),
            }
        }

        let mirrors = (!current.mirrors.is_empty()).then(|| {
            let urls = std::iter::once(&url).chain(&current.mirrors).cloned();
            Box::new(Mirrors::new(urls.collect()))
        });
        let job = Job {
            url,
            rel,
            path,
            digest,
            had_part: false,
            verify_existing: false,
            modified: None,
            etag: None,
            replaced: None,
            mirrors,
            seq: 0,
        };
        if self.empty_dir || name_from_answer {
            return Some(Planned::Fetch(job));
        }
        Some(self.decide(job))
    }

    /// What the files already under `--dir` make of `job`: skipped, hashed
    /// first, conditional, refused, or continued from its `.part`.
    fn decide(&self, mut job: Job) -> Planned {
        let existing = self.out.existing(&job.rel);
        if let (Some(state), Ok(Existing::File { len, .. })) = (&self.state, &existing)
            && let Some(planned) = self.with_state(state, &mut job, *len, existing.as_ref().ok())
        {
            return planned;
        }
        let has_digest = job.digest.is_some();
        let size = match &existing {
            Ok(Existing::File { len, .. }) => Some(*len),
            _ => None,
        };
        match at_destination(existing, self.settings.on_exists, has_digest, &job.path) {
            AtDestination::Fetch => {}
            // The state says the file changed since it was saved.
            AtDestination::Skip | AtDestination::Verify | AtDestination::Update(_)
                if job.replaced.is_some() => {}
            AtDestination::Skip => {
                kept(&self.out, &job.rel);
                let skipped = Ok(Done::Skipped {
                    verified: Verified::default(),
                    size,
                });
                return Planned::Done(Outcome::new(masked(&job.url), Some(job.path), skipped));
            }
            // Hashed by the download's slot, not on this thread.
            AtDestination::Verify => job.verify_existing = true,
            AtDestination::Update(modified) => job.modified = modified,
            AtDestination::Refuse(error) => {
                let url = masked(&job.url);
                return Planned::Done(Outcome::refused(url, Some(job.path), None, error));
            }
        }
        job.had_part = self.settings.resume
            && matches!(
                self.out.existing(&part_path(&job.rel)),
                Ok(Existing::File { len: 1.., .. })
            );
        Planned::Fetch(job)
    }
}

impl Planner {
    /// What `--state`'s entry for a file already there changes: with
    /// `skip` or `update`, a size that differs from the entry fetches it
    /// again without conditions, and a file that is still the one the entry
    /// describes (see [`vouches`]) and records the wanted digest is skipped
    /// without hashing; otherwise, with `update`, the entry's ETag is sent
    /// as `If-None-Match`. `Some` when that decides.
    fn with_state(
        &self,
        state: &State,
        job: &mut Job,
        len: u64,
        existing: Option<&Existing>,
    ) -> Option<Planned> {
        let rel = job.rel.to_str()?;
        let entry = match state.get(rel) {
            Ok(entry) => entry?,
            Err(err) => {
                tracing::warn!("{err:#}");
                return None;
            }
        };
        match self.settings.on_exists {
            // A file cut short or written over since it was saved: no
            // validator may keep it, so it is fetched unconditionally.
            OnExists::Skip | OnExists::Update if entry.bytes != len => {
                job.replaced = Some("size differs from --state")
            }
            OnExists::Skip | OnExists::Update
                if let Some(expected) = &job.digest
                    && expected
                        .digest
                        .sha256()
                        .is_some_and(|d| entry.sha256 == Some(d))
                    && existing.is_some_and(|e| vouches(&entry, e)) =>
            {
                kept(&self.out, &job.rel);
                let skipped = Ok(Done::Skipped {
                    verified: Verified::by(expected),
                    size: Some(len),
                });
                let path = job.path.clone();
                return Some(Planned::Done(Outcome::new(
                    masked(&job.url),
                    Some(path),
                    skipped,
                )));
            }
            OnExists::Update => job.etag = entry.etag,
            _ => {}
        }
        None
    }

    /// Whether the next item may have to wait for input to arrive, so a
    /// batch gathered so far should be handed over first.
    pub(crate) fn may_block(&self) -> bool {
        let expanding = self
            .current
            .as_ref()
            .is_some_and(|c| c.expansions.size_hint().1 != Some(0));
        !expanding && self.lines.may_block()
    }
}

impl Iterator for Planner {
    type Item = Planned;

    fn next(&mut self) -> Option<Planned> {
        let mut planned = self.next_planned()?;
        self.planned += 1;
        match &mut planned {
            Planned::Fetch(job) => job.seq = self.planned,
            Planned::Done(outcome) => outcome.seq = self.planned,
        }
        Some(planned)
    }
}

impl Planner {
    fn next_planned(&mut self) -> Option<Planned> {
        loop {
            if let Some(current) = &mut self.current {
                match current.expansions.next() {
                    Some(expansion) => match self.plan(expansion) {
                        Some(planned) => return Some(planned),
                        None => continue,
                    },
                    None => self.current = None,
                }
            }
            let line = self.lines.next()?;
            if let Err(refused) = self.start(line) {
                return Some(Planned::Done(*refused));
            }
        }
    }
}

/// Another URL of a line (a mirror): one URL, glob syntax and all, like
/// the first.
fn one_url(text: &str, globoff: bool) -> Result<Url, String> {
    let url = match globoff {
        true => text.to_string(),
        false => {
            let pattern = Pattern::parse(text).map_err(|e| format!("bad glob: {e}"))?;
            if pattern.len() != 1 {
                return Err("a line's other URLs cannot be glob patterns of several".into());
            }
            let mut expansions = pattern.into_iter();
            expansions.next().map(|e| e.text).unwrap_or_default()
        }
    };
    parse_url(&url)
}

/// Parses and checks one URL: `http` and `https` only, with a host.
/// A URL planned before, skipped (`origin` is where it came again).
fn listed_again(url: &Url, origin: &str) -> Option<Planned> {
    tracing::debug!("{}: listed again ({origin}), fetched once", masked(url));
    None
}

pub(crate) fn parse_url(text: &str) -> Result<Url, String> {
    let url = Url::parse(text).map_err(|e| format!("not a URL: {e}"))?;
    match url.scheme() {
        "http" | "https" => {}
        scheme => {
            return Err(format!(
                "unsupported scheme '{scheme}' (only http and https)"
            ));
        }
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err("the URL has no host".into());
    }
    Ok(url)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::Cli;
    use crate::config::Config;
    use clap::Parser;

    fn plan(args: &[&str]) -> Vec<String> {
        let cli = Cli::try_parse_from(std::iter::once("haul").chain(args.iter().copied())).unwrap();
        let config = Config::from_cli(cli).unwrap();
        let out = Arc::new(OutDir::look(&config.dir).unwrap());
        let claims = Arc::new(Claims::new(&config.dir, false));
        Planner::new(config.plan, out, claims, None)
            .map(|p| match p {
                Planned::Fetch(job) => format!("{} {}", job.url, job.path.display()),
                Planned::Done(outcome) => match outcome.failure_line() {
                    Some(line) => line,
                    None => format!("skip {}", outcome.url),
                },
            })
            .collect()
    }

    #[test]
    fn expands_and_numbers() {
        assert_eq!(
            plan(&["-d", "out", "http://h/{a,b}[1-2].txt", "-o", "{n}-{1}{2}"]),
            [
                "http://h/a1.txt out/1-a1",
                "http://h/a2.txt out/2-a2",
                "http://h/b1.txt out/3-b1",
                "http://h/b2.txt out/4-b2",
            ]
        );
    }

    #[test]
    fn dedups_and_detects_collisions() {
        let got = plan(&["-d", "o", "http://h/x", "http://h:80/x", "http://g/x"]);
        assert_eq!(got.len(), 2, "{got:?}");
        assert_eq!(got[0], "http://h/x o/x");
        assert!(
            got[1].starts_with(
                "haul: http://g/x -> o/x: destination o/x is already taken by http://h/x"
            ),
            "{}",
            got[1]
        );
    }

    #[test]
    fn shards_take_every_nth_position() {
        let urls = [
            "http://h/a",
            "ftp://bad/",
            "http://h/b",
            "http://h/c",
            "http://h/d",
        ];
        let mut args = vec!["-d", "o", "--shard", "2/3"];
        args.extend(urls);
        let got = plan(&args);
        // ftp://bad/ takes no position: b is position 2, so shard 2 of 3 takes b.
        assert_eq!(
            got[0],
            "haul: argument 2: ftp://bad/: unsupported scheme 'ftp' (only http and https)"
        );
        assert_eq!(got[1..], ["http://h/b o/b"]);
    }

    #[test]
    fn rejects_bad_urls_and_names() {
        let got = plan(&["-d", "o", "nonsense", "http://", "http://h/..%2F..%2Fetc"]);
        // (A bad glob in an argument is a usage error, before any plan:
        // config.rs; in a list it is a bad line, list.rs tests it.)
        assert_eq!(got.len(), 3, "{got:?}");
        assert!(got[0].contains("not a URL"), "{}", got[0]);
        assert!(got[1].starts_with("haul: argument 2: "), "{}", got[1]);
        assert!(
            got[2].contains("refusing destination '../../etc'"),
            "{}",
            got[2]
        );
    }

    #[test]
    fn a_repeat_is_fetched_by_the_shard_of_its_first_position() {
        // Positions: a=1, b=2, c=3, a=4 (a repeat). Shards of 2: a's first
        // position is shard 1's, its repeat's shard 2's; only shard 1
        // fetches it.
        let urls = ["http://h/a", "http://h/b", "http://h/c", "http://h/a"];
        let shard = |k: &str| {
            let mut args = vec!["-d", "o", "--shard", k];
            args.extend(urls);
            plan(&args)
        };
        assert_eq!(shard("1/2"), ["http://h/a o/a", "http://h/c o/c"]);
        assert_eq!(shard("2/2"), ["http://h/b o/b"]);
    }

    #[test]
    fn globoff_keeps_brackets() {
        let got = plan(&["-g", "-d", "o", "http://h/a[1-2]"]);
        assert_eq!(got, ["http://h/a[1-2] o/a[1-2]"]);
    }
}
