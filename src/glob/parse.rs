//! The glob parser: the character scan of [`Pattern::parse`], with
//! backslash escapes and bracketed IPv6 literals kept as text, numeric and
//! letter ranges (`[001-100:5]`, `[a-z]`), lists (`{a,b}`), and an error
//! with its column for each malformed one. It builds the glob sets that
//! `mod.rs` defines; it does not expand them (`expand.rs` does).

use super::{GlobError, GlobSet, Pattern};

impl Pattern {
    /// Parse with globbing enabled.
    pub(crate) fn parse(pattern: &str) -> Result<Pattern, GlobError> {
        // Most lines hold none of the characters the scan below acts on:
        // then it would copy every character into one literal, which is
        // what `literal` makes at once (a fifth of the planner's time per
        // URL on the small-file benchmark).
        if !pattern.contains(['\\', '[', ']', '{', '}']) {
            return Ok(Pattern::literal(pattern));
        }
        let chars: Vec<char> = pattern.chars().collect();
        let mut literals = Vec::new();
        let mut globs = Vec::new();
        let mut literal = String::new();
        let mut i = 0;
        while let Some(&c) = chars.get(i) {
            match c {
                '\\' => match chars.get(i + 1) {
                    Some(&n) if is_escapable(n) => {
                        literal.push(n);
                        i += 2;
                    }
                    _ => {
                        literal.push('\\');
                        i += 1;
                    }
                },
                '[' => {
                    let close = chars[i + 1..]
                        .iter()
                        .position(|&c| c == ']')
                        .map(|p| i + 1 + p);
                    if let Some(close) = close
                        && is_ipv6(&chars[i + 1..close])
                    {
                        literal.extend(&chars[i..=close]);
                        i = close + 1;
                        continue;
                    }
                    let (set, next) = parse_range(&chars, i)?;
                    literals.push(std::mem::take(&mut literal));
                    globs.push(set);
                    i = next;
                }
                '{' => {
                    let (set, next) = parse_list(&chars, i)?;
                    literals.push(std::mem::take(&mut literal));
                    globs.push(set);
                    i = next;
                }
                ']' | '}' => return Err(stray(i + 1, c)),
                _ => {
                    literal.push(c);
                    i += 1;
                }
            }
        }
        literals.push(literal);
        Ok(Pattern::from_parts(literals, globs))
    }
}

/// Characters that a backslash turns into literals.
fn is_escapable(c: char) -> bool {
    matches!(c, '[' | ']' | '{' | '}' | ',' | '\\')
}

/// Bracket content that is an IPv6 literal rather than a range: hex digits,
/// ':' and '.', at least one ':', optionally followed by a `%zone`.
fn is_ipv6(content: &[char]) -> bool {
    let (addr, zone) = match content.iter().position(|&c| c == '%') {
        Some(p) => (&content[..p], Some(&content[p + 1..])),
        None => (content, None),
    };
    let addr_ok = addr.contains(&':')
        && addr
            .iter()
            .all(|&c| c.is_ascii_hexdigit() || c == ':' || c == '.');
    let zone_ok = zone.is_none_or(|z| {
        !z.is_empty()
            && z.iter()
                .all(|&c| c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_' | '~' | '%'))
    });
    addr_ok && zone_ok
}

fn nested(column: usize, c: char) -> GlobError {
    GlobError::new(
        column,
        format!("nested \"{c}\" inside a glob: globs cannot be nested (escape it as \\{c})"),
    )
}

fn stray(column: usize, c: char) -> GlobError {
    let open = if c == ']' { '[' } else { '{' };
    GlobError::new(
        column,
        format!("stray \"{c}\": there is no \"{open}\" to close (escape it as \\{c})"),
    )
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Number,
    Letter,
}

/// Classifies one end of a range, `text` starting at 1-based `column`.
fn classify(
    text: &str,
    column: usize,
    bad: &dyn Fn(usize, &str) -> GlobError,
) -> Result<Kind, GlobError> {
    if !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit()) {
        Ok(Kind::Number)
    } else if text.len() == 1 && text.bytes().all(|b| b.is_ascii_alphabetic()) {
        Ok(Kind::Letter)
    } else if !text.is_empty() && text.bytes().all(|b| b.is_ascii_alphabetic()) {
        Err(bad(column, "letter ranges take single letters"))
    } else {
        Err(bad(
            column,
            "expected a range like [1-10], [001-100:5] or [a-z]",
        ))
    }
}

fn parse_number(
    text: &str,
    column: usize,
    bad: &dyn Fn(usize, &str) -> GlobError,
) -> Result<u64, GlobError> {
    text.parse::<u64>()
        .map_err(|_| bad(column, "number is too large"))
}

/// Parses the range whose `[` is at index `open`; returns it and the index
/// just past its `]`.
fn parse_range(chars: &[char], open: usize) -> Result<(GlobSet, usize), GlobError> {
    let close = closing_bracket(chars, open)?;
    let content = &chars[open + 1..close];
    let whole: String = chars[open..=close].iter().collect();
    let bad =
        |column: usize, why: &str| GlobError::new(column, format!("bad range \"{whole}\": {why}"));
    if content.is_empty() {
        return Err(GlobError::new(
            open + 1,
            "empty range \"[]\": expected something like [1-10] or [a-z]".to_string(),
        ));
    }
    if let Some(p) = content.iter().position(|&c| c == ',') {
        return Err(bad(open + 2 + p, "lists use braces, as in {a,b}"));
    }
    // Column of content[k] is open + 2 + k.
    let (range_len, step) = match content.iter().position(|&c| c == ':') {
        Some(p) => {
            let text: String = content[p + 1..].iter().collect();
            let column = open + 3 + p;
            if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
                return Err(bad(column, "the step is not a number"));
            }
            let step = parse_number(&text, column, &bad)?;
            if step == 0 {
                return Err(bad(column, "the step must be at least 1"));
            }
            (p, step)
        }
        None => (content.len(), 1),
    };
    let range = &content[..range_len];
    let Some(dash) = range.iter().position(|&c| c == '-') else {
        return Err(bad(
            open + 1,
            "expected a range like [1-10], [001-100:5] or [a-z]",
        ));
    };
    let start_text: String = range[..dash].iter().collect();
    let end_text: String = range[dash + 1..].iter().collect();
    let start_column = open + 2;
    let end_column = open + 3 + dash;
    let start_kind = classify(&start_text, start_column, &bad)?;
    let end_kind = classify(&end_text, end_column, &bad)?;
    if start_kind != end_kind {
        return Err(bad(open + 1, "start and end are of different kinds"));
    }
    let bounds = Bounds {
        start: &start_text,
        end: &end_text,
        start_column,
        end_column,
        column: open + 1,
    };
    let set = match start_kind {
        Kind::Number => numbers(&bounds, step, &bad)?,
        Kind::Letter => letters(&bounds, step, &bad)?,
    };
    Ok((set, close + 1))
}

/// The index of the `]` closing the range opened at `open`.
fn closing_bracket(chars: &[char], open: usize) -> Result<usize, GlobError> {
    for (j, &c) in chars.iter().enumerate().skip(open + 1) {
        match c {
            ']' => return Ok(j),
            '[' | '{' => return Err(nested(j + 1, c)),
            _ => {}
        }
    }
    Err(GlobError::new(
        open + 1,
        "unclosed \"[\": there is no matching \"]\"".to_string(),
    ))
}

/// A range's two ends as written, and where they stand in the pattern.
struct Bounds<'a> {
    start: &'a str,
    end: &'a str,
    start_column: usize,
    end_column: usize,
    /// The range's own column, for errors about it as a whole.
    column: usize,
}

/// `[1-100]`, `[001-100:5]`: zero padded to the width written.
fn numbers(
    b: &Bounds<'_>,
    step: u64,
    bad: &dyn Fn(usize, &str) -> GlobError,
) -> Result<GlobSet, GlobError> {
    let start = parse_number(b.start, b.start_column, bad)?;
    let end = parse_number(b.end, b.end_column, bad)?;
    if start > end {
        return Err(bad(b.column, "start is after end"));
    }
    let width = if b.start.len() > 1 && b.start.starts_with('0') {
        b.start.len()
    } else {
        0
    };
    Ok(GlobSet::Numbers {
        start,
        step,
        last: (end - start) / step,
        width,
    })
}

/// `[a-z]`, `[A-Z:2]`: one case.
fn letters(
    b: &Bounds<'_>,
    step: u64,
    bad: &dyn Fn(usize, &str) -> GlobError,
) -> Result<GlobSet, GlobError> {
    let start = b.start.as_bytes()[0];
    let end = b.end.as_bytes()[0];
    if start.is_ascii_lowercase() != end.is_ascii_lowercase() {
        return Err(bad(b.column, "start and end letters differ in case"));
    }
    if start > end {
        return Err(bad(b.column, "start is after end"));
    }
    Ok(GlobSet::Letters {
        start,
        step,
        last: u64::from(end - start) / step,
    })
}

/// Parses the list whose `{` is at index `open`; returns it and the index
/// just past its `}`.
fn parse_list(chars: &[char], open: usize) -> Result<(GlobSet, usize), GlobError> {
    let mut items = Vec::new();
    let mut item = String::new();
    let mut j = open + 1;
    while let Some(&c) = chars.get(j) {
        match c {
            '\\' => match chars.get(j + 1) {
                Some(&n) if is_escapable(n) => {
                    item.push(n);
                    j += 1;
                }
                _ => item.push('\\'),
            },
            ',' => items.push(std::mem::take(&mut item)),
            '}' => {
                items.push(item);
                return Ok((GlobSet::List(items), j + 1));
            }
            '{' | '[' => return Err(nested(j + 1, c)),
            ']' => return Err(stray(j + 1, c)),
            _ => item.push(c),
        }
        j += 1;
    }
    Err(GlobError::new(
        open + 1,
        "unclosed \"{\": there is no matching \"}\"".to_string(),
    ))
}
