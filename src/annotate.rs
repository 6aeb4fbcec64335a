//! GitHub Actions: with `GITHUB_ACTIONS=true`, each failed URL is also an
//! `::error::` annotation (the first [`MAX_SHOWN`], then one line saying how
//! many more), so a failing fetch shows on the job's summary page, and the
//! progress lines are folded in a `::group::` that ends before the summary.
//! The runner reads workflow commands from stderr as well as stdout, which
//! keeps stdout for data. Text from servers and lists reaches an annotation
//! only after the failure line's own sanitising and password masking, and
//! is escaped here as the runner expects (`%`, CR, LF), so it cannot start
//! a command of its own.

/// Annotations shown; past that, one line counts the rest.
const MAX_SHOWN: u64 = 10;

#[derive(Debug, Default)]
pub(crate) struct Annotations {
    failed: u64,
}

impl Annotations {
    /// The annotation for a failure line, or `None` past [`MAX_SHOWN`].
    pub(crate) fn error(&mut self, line: &str) -> Option<String> {
        self.failed += 1;
        (self.failed <= MAX_SHOWN).then(|| format!("::error title=haul::{}", escape(line)))
    }

    /// The closing annotation when some were left out.
    pub(crate) fn more(&self) -> Option<String> {
        let more = self.failed.checked_sub(MAX_SHOWN).filter(|n| *n > 0)?;
        Some(format!(
            "::error title=haul::and {more} more failed URL{} (see the log or --report)",
            if more == 1 { "" } else { "s" }
        ))
    }
}

/// The start and end of the folded progress lines.
pub(crate) const GROUP: &str = "::group::haul progress";
pub(crate) const END_GROUP: &str = "::endgroup::";

/// Workflow-command data escaping: `%`, CR and LF.
fn escape(text: &str) -> String {
    text.replace('%', "%25")
        .replace('\r', "%0D")
        .replace('\n', "%0A")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn annotations_are_escaped_and_capped() {
        let mut a = Annotations::default();
        let first = a
            .error("haul: http://h/100%25 -> out/x: HTTP 404\n::warning::x")
            .unwrap();
        assert_eq!(
            first,
            "::error title=haul::haul: http://h/100%2525 -> out/x: HTTP 404%0A::warning::x"
        );
        for _ in 1..MAX_SHOWN {
            assert!(a.error("x").is_some());
        }
        assert_eq!(a.more(), None);
        assert_eq!(a.error("x"), None);
        assert_eq!(a.error("x"), None);
        assert!(a.more().unwrap().contains("and 2 more failed URLs"));
    }
}
