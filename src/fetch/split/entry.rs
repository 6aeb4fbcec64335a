//! Where an attempt meets `--split`: whether the answer's file goes over
//! several connections ([`split_plan`]), and the way there and back
//! ([`over_connections`]): the `.part` opened for positioned writes, the
//! download over several connections, then the digest taken from the disk
//! and the same checks and rename as a download on one connection.

use reqwest::StatusCode;
use reqwest::header::ACCEPT_RANGES;

use crate::digest::{Hashing, Scope, hash_from_disk};
use crate::error::FailureKind;
use crate::fetch::finish::{Saved, finish};
use crate::fetch::part::PartFile;
use crate::fetch::resume::{Note, Ranges};
use crate::fetch::{Answer, Attempted};
use crate::naming::part_path;
use crate::outcome::Failure;
use crate::plan::Job;
use crate::redact::masked;
use crate::session::Ctx;

/// How a file goes over several connections: how many, its size, where
/// the first answer's body starts, and the version every range must prove.
pub(in crate::fetch) struct SplitPlan {
    mode: crate::settings::Split,
    size: u64,
    from: u64,
    note: Note,
}

/// Whether this answer's file goes over several connections: with
/// `--split` (or a `.part` written that way), a known size, and either a
/// proven range answer or a whole answer that offers ranges and names its
/// version; and enough bytes missing for two ranges of `--min-split-size`
/// (a `.part` with holes is continued this way whatever is missing). A
/// body that may have been decoded (`--compressed`) comes whole: ranges
/// of it would be of the encoded bytes.
pub(in crate::fetch) fn split_plan(ctx: &Ctx, job: &Job, answer: &Answer) -> Option<SplitPlan> {
    if answer.decoded {
        return None;
    }
    let resumable = answer.resumable.as_ref();
    let sparse = resumable.is_some_and(|r| matches!(r.note.ranges(), Ranges::Sparse { .. }));
    let mode = ctx
        .settings
        .split
        .or(sparse.then_some(crate::settings::Split::Fixed(1)))?;
    let size = answer.total?;
    let min = ctx.settings.min_split_size;
    let (from, note) = match resumable {
        Some(r) => (r.len, r.note.clone()),
        None => {
            let headers = answer.response.headers();
            let ranges = headers
                .get(ACCEPT_RANGES)
                .and_then(|v| v.to_str().ok())
                .is_some_and(|v| v.trim().eq_ignore_ascii_case("bytes"));
            if answer.response.status() != StatusCode::OK || !ranges {
                return None;
            }
            (0, Note::for_answer(job.url.as_str(), headers)?)
        }
    };
    (sparse || size.saturating_sub(from) >= min.saturating_mul(2)).then_some(SplitPlan {
        mode,
        size,
        from,
        note,
    })
}

/// Fetches the file over several connections (`split/`), then checks
/// and renames it as [`finish`] does.
pub(in crate::fetch) async fn over_connections(
    ctx: &Ctx,
    job: &Job,
    name: &str,
    answer: Answer,
    plan: SplitPlan,
    saved: Saved,
) -> Attempted {
    let Answer {
        response,
        rel,
        resumable,
        checks,
        ..
    } = answer;
    // The ranges come on other connections: a digest of one answer's body
    // (`Content-Digest` of a `206`) covers none of them whole.
    let (whole, body): (Vec<_>, Vec<_>) = checks.into_iter().partition(|c| c.scope == Scope::Whole);
    for check in body {
        tracing::debug!(
            "{}: {} covers one range only; not checked under --split",
            masked(&job.url),
            check.expected.source
        );
    }
    let status = saved.status.as_u16();
    let fail = |e: anyhow::Error| Failure::new(FailureKind::of_write(&e), Some(status), e);
    let part = part_path(&rel);
    let opened = match resumable {
        Some(r) => positioned(r.file).map_err(|e| {
            fail(e.context(format!(
                "cannot reopen {}",
                ctx.out.display(&part).display()
            )))
        }),
        None => ctx.out.create(&part).map_err(fail),
    };
    let file = match opened {
        Ok(file) => file,
        Err(failure) => return Attempted::Done(Err(failure)),
    };
    // A line's other URLs may send ranges too, checked by the digest or
    // by the version each range must prove (`range.rs`).
    let mirrors = job
        .mirrors
        .as_ref()
        .map(|m| m.others().cloned().collect())
        .unwrap_or_default();
    let start = super::Start {
        url: &job.url,
        mirrors,
        digest_known: !whole.is_empty(),
        name,
        shown: ctx.out.display(&part).display().to_string(),
        file,
        note: plan.note,
        size: plan.size,
        from: plan.from,
    };
    let ended = super::download(ctx, start, plan.mode, response).await;
    let (file, connections, also_served) = match ended {
        super::Outcome::Complete {
            file,
            connections,
            also_served,
        } => (file, connections, also_served),
        super::Outcome::Restart { file, why } => {
            tracing::debug!(
                "{}: {why:#}; starting over on one connection",
                masked(&job.url)
            );
            if let Err(err) = ctx.out.remove_own(&file, &part) {
                tracing::warn!("{err:#}");
            }
            return Attempted::Restart;
        }
        super::Outcome::Failed {
            file,
            failure,
            empty,
        } => {
            if empty && let Err(err) = ctx.out.remove_own(&file, &part) {
                tracing::warn!("{err:#}");
            }
            return Attempted::Done(Err(failure.with_status(status)));
        }
    };
    let result = async {
        // The bytes came in no fixed order: the digests are taken from the
        // disk, once.
        let (file, hashing) = hash_from_disk(file, plan.size, Hashing::new(whole))
            .await
            .map_err(fail)?;
        let part = PartFile::append(&ctx.out, rel, file, plan.size);
        let saved = Saved {
            hashing,
            connections: Some(connections),
            also_served,
            ..saved
        };
        finish(ctx, part, job, saved)
    }
    .await;
    Attempted::Done(result)
}

/// A `.part` opened to append, made fit for positioned writes (`pwrite`
/// ignores the offset on a file opened with `O_APPEND`).
fn positioned(file: std::fs::File) -> anyhow::Result<std::fs::File> {
    let flags = rustix::fs::fcntl_getfl(&file)?;
    rustix::fs::fcntl_setfl(&file, flags - rustix::fs::OFlags::APPEND)?;
    Ok(file)
}
