//! What kind of failure an attempt ended in, and whether it concerns every
//! download (a full or read-only disk) rather than one. The kinds are set
//! where the failure happens (`fetch/`), with reqwest errors sorted by their
//! own predicates. What follows from a kind (another attempt, and when) is
//! `retry.rs`'s business.

use std::io;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum FailureKind {
    /// The server answered with an error status.
    Http(u16),
    /// Connecting, a reset, a timeout, a stall or a truncated body.
    Network,
    /// The server never processed the request: an HTTP/2 stream above the
    /// last one a GOAWAY kept, a stream refused with `REFUSED_STREAM`, a
    /// request that was still waiting on a connection when the connection
    /// went away. Sent again at once, up to a bound, without counting an
    /// attempt (`retry.rs`).
    Unprocessed,
    /// More redirects than `--max-redirects` allows: final.
    Redirects,
    /// The server's TLS certificate was refused: final (another attempt
    /// meets the same certificate).
    Certificate,
    /// Writing the file failed; `storage` when the whole disk is at fault.
    Write { storage: bool },
    /// The body's digest did not match: retried once from zero.
    Checksum,
    /// Refused before or without a transfer (unsafe name, bad input).
    Refused,
    /// Stopped by Ctrl-C, SIGTERM or `--fail-fast`.
    Cancelled,
    /// The process ran out of file descriptors (`EMFILE`, `ENFILE`): not
    /// this URL's fault. The download waits for one and goes on; the
    /// attempt does not count.
    Descriptors,
}

impl FailureKind {
    /// Sorts a reqwest error from sending a request (before any answer):
    /// too many redirects and a refused certificate are final, a request
    /// the server never processed is sent again, the rest (connect,
    /// timeout, reset) is the network's fault and worth a retry.
    pub(crate) fn of_reqwest(err: &reqwest::Error) -> FailureKind {
        if err.is_redirect() {
            FailureKind::Redirects
        } else if err.is_builder() {
            FailureKind::Refused
        } else if refused_certificate(err) {
            FailureKind::Certificate
        } else if never_processed(err) {
            FailureKind::Unprocessed
        } else {
            FailureKind::Network
        }
    }

    /// Sorts a write error: a full, read-only or over-quota disk fails every
    /// download that follows, so the run stops instead of trying them all;
    /// a `.part` another haul holds is final for this URL.
    pub(crate) fn of_write(err: &anyhow::Error) -> FailureKind {
        if err.chain().any(|e| e.is::<crate::outdir::InUse>()) {
            return FailureKind::Refused;
        }
        let storage = err
            .chain()
            .filter_map(|e| e.downcast_ref::<io::Error>())
            .any(|e| {
                matches!(
                    e.kind(),
                    io::ErrorKind::StorageFull
                        | io::ErrorKind::ReadOnlyFilesystem
                        | io::ErrorKind::QuotaExceeded
                )
            });
        FailureKind::Write { storage }
    }

    /// Whether an error, whatever it was sorted as, comes from running out
    /// of file descriptors (an open, a socket, a connect): the whole chain is
    /// looked at, the sources of a reqwest error included.
    pub(crate) fn out_of_descriptors(err: &anyhow::Error) -> bool {
        err.chain()
            .filter_map(|e| e.downcast_ref::<io::Error>())
            .any(|e| matches!(e.raw_os_error(), Some(libc::EMFILE | libc::ENFILE)))
    }
}

/// Whether a TLS handshake failed on the server's certificate (rustls's
/// `InvalidCertificate`, which the connector hands on inside I/O errors,
/// one in another: their `source` skips the error they wrap, so the walk
/// goes into each).
fn refused_certificate(err: &(dyn std::error::Error + 'static)) -> bool {
    let mut next = Some(err);
    while let Some(err) = next {
        if let Some(rustls::Error::InvalidCertificate(_)) = err.downcast_ref::<rustls::Error>() {
            return true;
        }
        next = match err.downcast_ref::<io::Error>().and_then(io::Error::get_ref) {
            Some(inner) => Some(inner as &(dyn std::error::Error + 'static)),
            None => err.source(),
        };
    }
    false
}

/// Whether a request failed before the server processed any of it, so
/// that sending it again is safe and says nothing about the URL (RFC 9113
/// sections 6.8 and 8.7). Looked for in the error's sources:
///
/// - an HTTP/2 GOAWAY with `NO_ERROR` received for this stream: the
///   stream is above the last one the server kept (a graceful GOAWAY never
///   ends a stream it kept), or it was opened after the GOAWAY came;
/// - an HTTP/2 `REFUSED_STREAM` reset from the server;
/// - a request cancelled before it was written (hyper's `is_canceled`: its
///   connection closed while it waited in the connection's queue);
/// - a request dropped with its connection while it waited for a stream
///   (hyper reports that one as "dispatch task is gone", a name it uses
///   for any answer channel dropped unanswered; haul's runtimes live as
///   long as the run, so here it is always the closed connection).
///
/// A GOAWAY with an error code may end streams the server did process,
/// and a connection that closes after the request was written may have
/// served it: both stay network failures.
fn never_processed(err: &(dyn std::error::Error + 'static)) -> bool {
    let mut next = Some(err);
    while let Some(err) = next {
        if let Some(err) = err.downcast_ref::<h2::Error>() {
            let reason = err.reason();
            return err.is_remote()
                && ((err.is_go_away() && reason == Some(h2::Reason::NO_ERROR))
                    || (err.is_reset() && reason == Some(h2::Reason::REFUSED_STREAM)));
        }
        if let Some(err) = err.downcast_ref::<hyper::Error>()
            && (err.is_canceled() || (err.is_user() && err.to_string().starts_with(DISPATCH_GONE)))
        {
            return true;
        }
        next = err.source();
    }
    false
}

/// How hyper's error for an answer channel dropped unanswered begins.
const DISPATCH_GONE: &str = "dispatch task is gone";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn write_errors_on_a_full_disk_concern_everything() {
        let full = anyhow::Error::from(io::Error::from(io::ErrorKind::StorageFull))
            .context("cannot write out/a.part");
        assert_eq!(
            FailureKind::of_write(&full),
            FailureKind::Write { storage: true }
        );
        let denied = anyhow::Error::from(io::Error::from(io::ErrorKind::PermissionDenied));
        assert_eq!(
            FailureKind::of_write(&denied),
            FailureKind::Write { storage: false }
        );
    }
}
