//! When the planner may keep no record of what it planned. De-duplication
//! (`seen.rs`) and the collision registry (`claims.rs`) cost a few bytes
//! for every URL, which is 1.9 GiB over a glob of a hundred million; an
//! input that provably cannot repeat a URL, or a destination, needs no
//! record of them. This module is that proof, for the one input it can be
//! made for: a single command-line pattern (a list can repeat any line).
//!
//! The proof reads the pattern as fixed text and glob values, in order
//! (`glob::Piece`), and shows that every expansion can be read back into
//! the values that made it: reading left to right, at each glob at most
//! one of its values, followed by the fixed text after it, can start what
//! is left (the values with that text form a prefix-free set). Then
//! different values give different texts. The same reading is applied to
//! the URL the parser makes (only where the parser leaves the text as it
//! is: after the host, no `%`, no dot segment, no character it would
//! encode) and to the destination the output template renders from it.
//! Whatever it cannot prove, it does not claim: the planner then keeps
//! its records as before, so this is never a probabilistic skip.

use crate::glob::{Pattern, Piece, ValueSet};
use crate::naming::{INDEX, OutputTemplate, PART_SUFFIX, Part};

/// What the input cannot repeat.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Distinct {
    /// No URL comes twice: no de-duplication set is needed.
    pub(crate) urls: bool,
    /// No two URLs name one destination, nor one another's `.part`: the
    /// collision registry need not record them (it is still asked, for
    /// haul's own files under `--dir`).
    pub(crate) names: bool,
}

/// A piece of an expansion's URL or destination.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Slot {
    Text(String),
    /// Glob set `k`'s value.
    Glob(usize),
    /// The URL's place in the input (`{n}`): different for every URL.
    Position,
}

/// What `pattern` cannot repeat when its destinations are rendered by
/// `template`, compared case-folded when `fold`.
pub(crate) fn distinct(pattern: &Pattern, template: &OutputTemplate, fold: bool) -> Distinct {
    let sets = pattern.value_sets();
    if !sets.iter().all(plain_values) {
        return Distinct::default();
    }
    let Some(url) = UrlShape::of(pattern) else {
        return Distinct::default();
    };
    if !injective(&url.slots, &sets) {
        return Distinct::default();
    }
    let names = name_slots(template, &url)
        .and_then(|slots| fold_case(slots, &sets, fold))
        .is_some_and(|(slots, sets)| injective(&slots, &sets) && never_a_part(&slots, &sets));
    Distinct { urls: true, names }
}

/// Characters a glob value may hold for the proof: the URL parser keeps
/// them as they are, naming decodes nothing in them, and a name made of
/// them is never a dot segment (a value must hold one that is not `.`).
fn plain_values(set: &ValueSet) -> bool {
    match set {
        ValueSet::Digits { .. } => true,
        ValueSet::Strings(values) => {
            let plain = |c: char| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '~' | '.');
            values
                .iter()
                .all(|v| v.chars().all(plain) && v.chars().any(|c| c != '.'))
        }
    }
}

/// Characters the URL parser leaves as they are after the host, in the
/// path and the query of an `http(s)` URL: printable ASCII but those it
/// percent-encodes, `%` (naming decodes it), `\` (a path separator to the
/// parser) and `#` (the fragment is not sent).
fn plain_url_char(c: char) -> bool {
    c.is_ascii_graphic()
        && !matches!(
            c,
            '%' | '\\' | '#' | '"' | '<' | '>' | '`' | '{' | '}' | '\''
        )
}

/// A pattern's URL after its host: the slots of the whole rest, and of
/// each path segment.
struct UrlShape {
    /// The host as the parser gives it (`{host}`).
    host: String,
    /// Everything after the host (path and query).
    slots: Vec<Slot>,
    /// The path's segments, the empty one before its leading `/` first.
    segments: Vec<Vec<Slot>>,
}

impl UrlShape {
    fn of(pattern: &Pattern) -> Option<UrlShape> {
        let pieces = pattern.pieces();
        let Some(&Piece::Text(first)) = pieces.first() else {
            return None;
        };
        // The host and what comes before it are fixed text: the globs all
        // come after the authority ends, at a `/` or `?` in the first
        // piece.
        let after_scheme = first.find("://")? + 3;
        let end = after_scheme + first[after_scheme..].find(['/', '?', '#', '\\'])?;
        if !matches!(first.as_bytes()[end], b'/' | b'?') {
            return None;
        }
        let host = url::Url::parse(&format!("{}/", &first[..end]))
            .ok()?
            .host_str()?
            .to_string();
        let mut rest = vec![Piece::Text(&first[end..])];
        rest.extend_from_slice(&pieces[1..]);

        let mut slots = Vec::new();
        // No path (`http://h?q`) is the path `/`.
        let mut segments = vec![Vec::new()];
        if first.as_bytes()[end] == b'?' {
            segments.push(Vec::new());
        }
        let mut in_query = false;
        for piece in rest {
            match piece {
                Piece::Text(text) => {
                    if !text.chars().all(plain_url_char) {
                        return None;
                    }
                    push_text(&mut slots, text);
                    for c in text.chars() {
                        match c {
                            _ if in_query => {}
                            '?' => in_query = true,
                            '/' => segments.push(Vec::new()),
                            c => push_text(segments.last_mut()?, c.encode_utf8(&mut [0; 4])),
                        }
                    }
                }
                Piece::Glob(k) => {
                    slots.push(Slot::Glob(k));
                    if !in_query {
                        segments.last_mut()?.push(Slot::Glob(k));
                    }
                }
            }
        }
        // A dot segment would take its neighbour away: only text can be
        // one (a value always holds something besides dots).
        let dot = |s: &Vec<Slot>| matches!(s.as_slice(), [Slot::Text(t)] if t == "." || t == "..");
        if segments.iter().any(dot) {
            return None;
        }
        Some(UrlShape {
            host,
            slots,
            segments,
        })
    }
}

fn push_text(slots: &mut Vec<Slot>, text: &str) {
    if let Some(Slot::Text(last)) = slots.last_mut() {
        last.push_str(text);
    } else if !text.is_empty() {
        slots.push(Slot::Text(text.to_string()));
    }
}

/// The destination `template` renders, as slots (`naming.rs`: `{name}` is
/// the path's last segment, `{path}` the path without its leading `/`,
/// both `index.html` when they name a folder); `None` when it cannot be
/// told.
fn name_slots(template: &OutputTemplate, url: &UrlShape) -> Option<Vec<Slot>> {
    let mut slots = Vec::new();
    let extend = |slots: &mut Vec<Slot>, more: &[Slot]| {
        for slot in more {
            match slot {
                Slot::Text(text) => push_text(slots, text),
                other => slots.push(other.clone()),
            }
        }
    };
    for part in template.parts() {
        match part {
            Part::Literal(text) => push_text(&mut slots, text),
            Part::Host => push_text(&mut slots, &url.host),
            Part::N => slots.push(Slot::Position),
            Part::Glob(k) => slots.push(Slot::Glob(k.checked_sub(1)?)),
            Part::Name => match url.segments.last() {
                Some(last) if !last.is_empty() => extend(&mut slots, last),
                _ => push_text(&mut slots, INDEX),
            },
            Part::Path => {
                // Leading slashes go (empty segments before the first
                // other); segments holding a value are never empty.
                let start = url.segments.iter().position(|s| !s.is_empty());
                let path = start.map_or(&[][..], |start| &url.segments[start..]);
                for (i, segment) in path.iter().enumerate() {
                    if i > 0 {
                        push_text(&mut slots, "/");
                    }
                    extend(&mut slots, segment);
                }
                if path.last().is_none_or(Vec::is_empty) {
                    push_text(&mut slots, INDEX);
                }
            }
        }
    }
    Some(slots)
}

/// The slots and value sets as a case-insensitive folder compares them
/// (`claims::fold`, which on ASCII is lower case); `None` when folding
/// could make two values one, or touch text outside ASCII.
fn fold_case(
    slots: Vec<Slot>,
    sets: &[ValueSet],
    fold: bool,
) -> Option<(Vec<Slot>, Vec<ValueSet>)> {
    if !fold {
        return Some((slots, sets.to_vec()));
    }
    let mut folded = Vec::with_capacity(slots.len());
    for slot in slots {
        folded.push(match slot {
            Slot::Text(text) if !text.is_ascii() => return None,
            Slot::Text(text) => Slot::Text(text.to_ascii_lowercase()),
            other => other,
        });
    }
    let sets = sets
        .iter()
        .map(|set| match set {
            ValueSet::Strings(values) => {
                ValueSet::Strings(values.iter().map(|v| v.to_ascii_lowercase()).collect())
            }
            digits => digits.clone(),
        })
        .collect();
    Some((folded, sets))
}

/// Whether different choices of values (or positions) always give
/// different texts: every glob shows in the slots (or the position does),
/// every set's values are distinct, and reading left to right each value
/// is told by the text that follows it.
fn injective(slots: &[Slot], sets: &[ValueSet]) -> bool {
    if slots
        .iter()
        .any(|s| matches!(s, Slot::Glob(k) if *k >= sets.len()))
    {
        return false;
    }
    let covered =
        slots.contains(&Slot::Position) || (0..sets.len()).all(|k| slots.contains(&Slot::Glob(k)));
    if !covered || !sets.iter().all(all_different) {
        return false;
    }
    let position = ValueSet::Digits { same_len: false };
    slots.iter().enumerate().all(|(i, slot)| {
        let values = match slot {
            Slot::Text(_) => return true,
            Slot::Glob(k) => &sets[*k],
            Slot::Position => &position,
        };
        match (slots.get(i + 1), slots.get(i + 2)) {
            // Last, or followed by the last text: the whole rest is the
            // value (and that text), which tells it.
            (None, _) | (Some(Slot::Text(_)), None) => true,
            (Some(Slot::Text(follow)), Some(_)) => prefix_free(values, follow),
            (Some(_), _) => prefix_free(values, ""),
        }
    })
}

fn all_different(set: &ValueSet) -> bool {
    match set {
        ValueSet::Digits { .. } => true,
        ValueSet::Strings(values) => {
            let mut sorted: Vec<&String> = values.iter().collect();
            sorted.sort_unstable();
            sorted.windows(2).all(|w| w[0] != w[1])
        }
    }
}

/// Whether no value followed by `follow` is a proper prefix of another
/// value followed by it: then at most one of them starts any text.
fn prefix_free(set: &ValueSet, follow: &str) -> bool {
    match set {
        // Distinct texts of one length are never one another's prefix.
        ValueSet::Digits { same_len: true } => true,
        // A shorter number ends where a longer one has a digit.
        ValueSet::Digits { same_len: false } => {
            follow.bytes().next().is_some_and(|b| !b.is_ascii_digit())
        }
        ValueSet::Strings(values) => {
            let mut all: Vec<String> = values.iter().map(|v| format!("{v}{follow}")).collect();
            all.sort_unstable();
            // A prefix sorts right before the texts it begins.
            all.windows(2).all(|w| !w[1].starts_with(&w[0]))
        }
    }
}

/// Whether no destination can end in `.part`: then none is another's temp
/// file (`claims.rs`). Destinations ending in a folder's `/` or `/.` are
/// left to the registry.
fn never_a_part(slots: &[Slot], sets: &[ValueSet]) -> bool {
    match slots.last() {
        Some(Slot::Text(end)) => {
            if end.ends_with('/') || end.ends_with("/.") || end == "." {
                false
            } else if end.len() >= PART_SUFFIX.len() {
                !end.ends_with(PART_SUFFIX)
            } else {
                !PART_SUFFIX.ends_with(end.as_str())
            }
        }
        // `.part` ends in a letter, a number in a digit.
        Some(Slot::Position) => true,
        Some(Slot::Glob(k)) => match &sets[*k] {
            ValueSet::Digits { .. } => true,
            ValueSet::Strings(values) => values.iter().all(|v| !v.ends_with('t')),
        },
        None => false,
    }
}

#[cfg(test)]
mod tests;
