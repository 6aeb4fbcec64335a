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
    /// Sorts a reqwest error: too many redirects and a refused certificate
    /// are final, the rest (connect, timeout, reset, body) is the network's
    /// fault and worth a retry.
    pub(crate) fn of_reqwest(err: &reqwest::Error) -> FailureKind {
        if err.is_redirect() {
            FailureKind::Redirects
        } else if err.is_builder() {
            FailureKind::Refused
        } else if refused_certificate(err) {
            FailureKind::Certificate
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
