//! A file with several URLs (a list line's mirrors: `URL URL... fields`):
//! which URL an attempt asks, and the one rule for moving through them. A
//! failure of the server's (an error status, a network error, too many
//! redirects, a refused TLS certificate, bytes that do not match the
//! digest) moves on to the next URL
//! at once, without spending a retry; a failure here (writing, a `.part`
//! another haul holds, a refusal, a stop) is the file's, whichever URL it
//! met. After the last URL, the round is over: `--retries` decides on
//! another round from the first URL, as for a failure of a file with one
//! URL (a round in which some URL failed transiently is retried, whatever
//! the last one said). Which URLs a `--split` file draws ranges from is
//! `fetch/split/`'s (only with the digest known or the version proven).

use std::time::Duration;

use url::Url;

use crate::error::FailureKind;
use crate::outcome::Failure;
use crate::retry::is_transient;

/// The URLs of one file, the first as written first, and where the
/// download is among them.
#[derive(Debug, Clone)]
pub(crate) struct Mirrors {
    urls: Box<[Url]>,
    /// The URL being asked.
    at: usize,
    /// A failure of this round's that `--retries` applies to: its kind and
    /// what its `Retry-After` asked.
    transient: Option<(FailureKind, Option<Duration>)>,
}

/// What follows a failed attempt at one of a file's URLs.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Next {
    /// Ask this URL at once.
    Url(Url),
    /// The last URL failed: another round (from the first URL) only if
    /// the retry budget grants it for this kind of failure.
    RoundOver {
        kind: FailureKind,
        retry_after: Option<Duration>,
    },
    /// The failure is not the server's: it stands as it would for a file
    /// with one URL.
    Stay,
}

impl Mirrors {
    /// `urls` holds at least two, the line's first URL first.
    pub(crate) fn new(urls: Box<[Url]>) -> Mirrors {
        debug_assert!(urls.len() > 1);
        Mirrors {
            urls,
            at: 0,
            transient: None,
        }
    }

    /// The line's first URL: the file's name in reports.
    pub(crate) fn first(&self) -> &Url {
        &self.urls[0]
    }

    pub(crate) fn len(&self) -> usize {
        self.urls.len()
    }

    /// Every URL but the one being asked, in the line's order.
    pub(crate) fn others(&self) -> impl Iterator<Item = &Url> {
        let at = self.at;
        self.urls
            .iter()
            .enumerate()
            .filter(move |(i, _)| *i != at)
            .map(|(_, url)| url)
    }

    /// After `failure` at the URL being asked: the next URL, the end of a
    /// round, or nothing to move on for.
    pub(crate) fn after(&mut self, failure: &Failure) -> Next {
        let servers = matches!(
            failure.kind,
            FailureKind::Http(_)
                | FailureKind::Network
                | FailureKind::Redirects
                | FailureKind::Certificate
                | FailureKind::Checksum
        );
        if !servers {
            return Next::Stay;
        }
        if is_transient(failure.kind) {
            self.transient = Some((failure.kind, failure.retry_after));
        }
        if self.at + 1 < self.urls.len() {
            self.at += 1;
            return Next::Url(self.urls[self.at].clone());
        }
        match self.transient.take() {
            Some((kind, retry_after)) if !is_transient(failure.kind) => {
                Next::RoundOver { kind, retry_after }
            }
            _ => Next::RoundOver {
                kind: failure.kind,
                retry_after: failure.retry_after,
            },
        }
    }

    /// Another round begins: the first URL is asked again.
    pub(crate) fn restart(&mut self) -> Url {
        self.at = 0;
        self.transient = None;
        self.urls[0].clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mirrors(n: usize) -> Mirrors {
        let urls: Vec<Url> = (0..n)
            .map(|i| Url::parse(&format!("http://m{i}/f")).unwrap())
            .collect();
        Mirrors::new(urls.into())
    }

    fn failure(kind: FailureKind) -> Failure {
        Failure::new(kind, None, anyhow::anyhow!("x"))
    }

    #[test]
    fn a_servers_failure_moves_on_and_the_last_ends_the_round() {
        let mut m = mirrors(3);
        let next = m.after(&failure(FailureKind::Http(404)));
        assert_eq!(next, Next::Url(Url::parse("http://m1/f").unwrap()));
        assert_eq!(
            m.others().map(Url::as_str).collect::<Vec<_>>(),
            ["http://m0/f", "http://m2/f"]
        );
        let next = m.after(&failure(FailureKind::Checksum));
        assert_eq!(next, Next::Url(Url::parse("http://m2/f").unwrap()));
        let next = m.after(&failure(FailureKind::Redirects));
        assert!(matches!(
            next,
            Next::RoundOver {
                kind: FailureKind::Redirects,
                ..
            }
        ));
        assert_eq!(m.restart().as_str(), "http://m0/f");
        assert_eq!(m.first().as_str(), "http://m0/f");
    }

    #[test]
    fn a_round_with_a_transient_failure_is_judged_by_it() {
        let mut m = mirrors(2);
        let mut busy = failure(FailureKind::Http(503));
        busy.retry_after = Some(Duration::from_secs(2));
        m.after(&busy);
        assert_eq!(
            m.after(&failure(FailureKind::Http(404))),
            Next::RoundOver {
                kind: FailureKind::Http(503),
                retry_after: Some(Duration::from_secs(2))
            }
        );
        // A new round forgets it.
        m.restart();
        m.after(&failure(FailureKind::Http(404)));
        assert_eq!(
            m.after(&failure(FailureKind::Http(404))),
            Next::RoundOver {
                kind: FailureKind::Http(404),
                retry_after: None
            }
        );
    }

    #[test]
    fn a_failure_here_stays() {
        let mut m = mirrors(2);
        for kind in [
            FailureKind::Write { storage: false },
            FailureKind::Refused,
            FailureKind::Cancelled,
            FailureKind::Descriptors,
            // A GOAWAY or a refused stream: this URL is sent again.
            FailureKind::Unprocessed,
        ] {
            assert_eq!(m.after(&failure(kind)), Next::Stay);
        }
        assert_eq!(m.others().next().unwrap().as_str(), "http://m1/f");
    }
}
