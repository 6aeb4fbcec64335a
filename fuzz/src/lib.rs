//! Support for the fuzz targets. The invariants and reference models live in
//! `invariants.rs`, which `tests/cases/properties.rs` includes too (proptest
//! checks the same things): each `check_*` function panics on a violation.
//! What is here reads the structured cases from the fuzz input
//! ([`GlobCase`], [`LineCase`]) with `arbitrary`.

mod invariants;

pub use invariants::*;

use arbitrary::{Result, Unstructured};

// ---------------------------------------------------------------------------
// List lines.

fn spaces(u: &mut Unstructured, min: usize) -> Result<String> {
    let n = u.int_in_range(min..=min + 3)?;
    (0..n).map(|_| u.choose(SPACES).copied()).collect()
}

fn word(u: &mut Unstructured) -> Result<String> {
    let n = u.int_in_range(1..=15)?;
    let mut out = String::new();
    for _ in 0..n {
        let c = if u.ratio(3, 4)? {
            *u.choose(WORD_CHARS)?
        } else {
            u.arbitrary::<char>()?
        };
        out.push(if c.is_whitespace() { 'w' } else { c });
    }
    Ok(out)
}

impl LineCase {
    /// A list line built from the fuzz input, with what it must parse to.
    pub fn new(u: &mut Unstructured) -> Result<LineCase> {
        let mut url = word(u)?;
        if url.starts_with('#') || u.arbitrary()? {
            url = format!("https://h/{url}");
        }
        let out = if u.arbitrary()? { Some(word(u)?) } else { None };
        let sha256 = if u.arbitrary()? {
            let digest: [u8; 32] = u.arbitrary()?;
            let hex = hex_lower(&digest)
                .chars()
                .map(|c| {
                    Ok(if u.arbitrary()? {
                        c.to_ascii_uppercase()
                    } else {
                        c
                    })
                })
                .collect::<Result<String>>()?;
            Some((digest, hex))
        } else {
            None
        };
        let sha_first = u.arbitrary()?;
        let (lead, gap1, gap2, trail) =
            (spaces(u, 0)?, spaces(u, 1)?, spaces(u, 1)?, spaces(u, 0)?);
        Ok(LineCase::assemble(
            url,
            out,
            sha256,
            sha_first,
            [&lead, &gap1, &gap2, &trail],
        ))
    }
}

// ---------------------------------------------------------------------------
// Globs.

impl Literal {
    fn new(u: &mut Unstructured) -> Result<Literal> {
        let mut literal = Literal::default();
        for _ in 0..u.int_in_range(0..=5)? {
            let c = if u.ratio(3, 4)? {
                *u.choose(LITERAL_CHARS)?
            } else {
                u.arbitrary::<char>()?
            };
            if !is_escapable(c) && u.ratio(1, 5)? {
                literal.push_raw_backslash(c);
            } else {
                literal.push_char(c);
            }
        }
        Ok(literal)
    }
}

fn step(u: &mut Unstructured) -> Result<Option<u64>> {
    Ok(match u.int_in_range(0..=4)? {
        0 | 1 => None,
        2 | 3 => Some(u.int_in_range(1..=11)?),
        _ => Some(*u.choose(BIG_STEPS)?),
    })
}

impl Set {
    fn new(u: &mut Unstructured) -> Result<Set> {
        Ok(match u.int_in_range(0..=4)? {
            0 | 1 => {
                let (start, end) = match u.int_in_range(0..=5)? {
                    0 => {
                        let (a, b) = (u.int_in_range(0..=49)?, u.int_in_range(0..=49)?);
                        (u64::MAX - a.max(b), u64::MAX - a.min(b))
                    }
                    1 => (u.int_in_range(0..=2)?, u64::MAX),
                    _ => {
                        let start = u.int_in_range(0..=999)?;
                        (start, start + u.int_in_range(0..=39)?)
                    }
                };
                let step = step(u)?;
                let (pad, end_pad) = (u.int_in_range(0..=3)?, u.int_in_range(0..=2)?);
                Set::numbers(start, end, step, pad, end_pad)
            }
            2 => {
                let upper = u.arbitrary()?;
                let (a, b) = (u.int_in_range(0..=25)?, u.int_in_range(0..=25)?);
                Set::letters(upper, a, b, step(u)?)
            }
            _ => {
                let n = u.int_in_range(1..=4)?;
                Set::List((0..n).map(|_| Literal::new(u)).collect::<Result<_>>()?)
            }
        })
    }
}

/// A valid glob pattern built from the fuzz input, with its model, and the
/// expansion limit to check it with.
#[derive(Debug)]
pub struct GlobCase {
    pub pattern: GlobPattern,
    pub limit: usize,
}

impl GlobCase {
    pub fn new(u: &mut Unstructured) -> Result<GlobCase> {
        let first = Literal::new(u)?;
        let url_prefix = u.arbitrary()?;
        let mut rest = Vec::new();
        for _ in 0..u.int_in_range(0..=4)? {
            rest.push((Set::new(u)?, Literal::new(u)?));
        }
        let trailing_backslash = u.arbitrary()?;
        let limit = u.int_in_range(0..=64)?;
        Ok(GlobCase {
            pattern: GlobPattern::new(first, rest, trailing_backslash, url_prefix),
            limit,
        })
    }

    pub fn source(&self) -> String {
        self.pattern.source()
    }

    /// See [`GlobPattern::check`].
    #[track_caller]
    pub fn check(&self) {
        self.pattern.check(self.limit);
    }
}
