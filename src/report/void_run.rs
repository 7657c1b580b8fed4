//! Comments for a run whose result does not count: stale, superseded, destination moved, untraceable, ended.

use super::blocks::{head, revision_words};
use super::escape::{CLIP_ID, CLIP_MESSAGE, CLIP_NAME, CLIP_TEXT, Style, code};
use super::fit::{Block, Part};
use super::words::{FAILED, STOPPED, WARNING, commit_code, revision_code};
use super::{Comment, CommentKind, Subject, comment};
use crate::ids::{CommitId, RevisionId};
use crate::policy::Verdict;
use std::fmt::Write as _;

/// These comments are a head and a few sentences, all clipped: nothing needs to shrink.
const NOTHING_SHRINKS: &[Part] = &[];

/// A comment that is a head (`heading`, and `verb` before the commits) and `body`.
fn brief(kind: CommentKind, subject: &Subject, heading: &str, verb: &str, body: String) -> Comment {
    let blocks = [
        head(heading, subject, verb),
        Block::fixed(Part::Summary, body),
    ];
    comment(kind, subject, &blocks, NOTHING_SHRINKS)
}

/// A result about `tested`, an older revision than the PR's current one: never an approval.
pub fn stale(subject: &Subject, tested: &RevisionId, verdict: Verdict) -> Comment {
    let outcome = match verdict {
        Verdict::Passed => "passed",
        Verdict::Failed => "failed",
        Verdict::Pending => "had not finished",
    };
    let now = match &subject.revision_id {
        Some(r) => format!("is now at revision {}", revision_code(r)),
        None => "has changed since".to_owned(),
    };
    let body = format!(
        "The checks ran on revision {} and {outcome}, but this pull request {now}. An approval \
         must match exactly the code that merges, so the gate did not approve and left the \
         approval state alone. Only a run on the current revision can approve this pull request.",
        revision_code(tested)
    );
    brief(
        CommentKind::Stale,
        subject,
        &format!("{WARNING} Gate result is out of date"),
        "Now at",
        body,
    )
}

/// A newer commit replaced the one this run was testing.
pub fn superseded(subject: &Subject, newer_commit: &CommitId) -> Comment {
    let s = Style::Md;
    let body = format!(
        "A newer commit {} was pushed to {}, so the gate stopped testing {}: its results would \
         not be about the code that merges. The gate tests the new commit and reports here.",
        commit_code(newer_commit),
        code(&subject.source_branch, s, CLIP_NAME),
        commit_code(&subject.source_commit),
    );
    brief(
        CommentKind::Superseded,
        subject,
        &format!("{STOPPED} Gate run superseded"),
        "Was testing",
        body,
    )
}

/// The destination branch moved from the commit the approval was earned on (`tested_onto`) to
/// `subject.destination_commit`: the merge that would happen now was never tested, so the gate
/// revoked its approval (the destination's gate file has `strict: true`, the default).
pub fn destination_moved(subject: &Subject, tested_onto: &CommitId) -> Comment {
    let s = Style::Md;
    let destination = code(&subject.destination_branch, s, CLIP_NAME);
    let body = format!(
        "The checks passed on the merge of {} into {destination} at {}, but {destination} is now \
         at {}. The merge that would happen now was never tested, so the gate revoked its \
         approval of {} (REVOKE). Comment `/gate retry` to test the merge onto the new \
         {destination}, or push a commit.\n\n\
         The destination's gate file keeps approvals only for the destination commit they were \
         earned on (`strict: true`, the default); `strict: false` keeps them when the \
         destination moves.",
        code(&subject.source_branch, s, CLIP_NAME),
        commit_code(tested_onto),
        commit_code(&subject.destination_commit),
        revision_words(subject),
    );
    brief(
        CommentKind::Outdated,
        subject,
        &format!("{WARNING} Gate approval withdrawn: the destination moved"),
        "Approved",
        body,
    )
}

/// A run whose input does not say which revision it tested: its result cannot be tied to the
/// code that merges, so the gate revoked.
pub fn untraceable(subject: &Subject) -> Comment {
    let body = "The run's input does not say which pull request revision it tested, so its \
                result cannot be tied to the code that merges: the gate revoked its approval \
                (REVOKE) and this pull request cannot merge. Comment `/gate retry` or push a \
                commit to run the gate again."
        .to_owned();
    brief(
        CommentKind::RunEnded,
        subject,
        &format!("{FAILED} Gate failed: the tested revision is unknown"),
        "Tested",
        body,
    )
}

/// The run ended without reporting its checks (the machine failed, timed out or was stopped):
/// nothing it tested counts, so the gate revoked its approval.
pub fn run_ended(
    subject: &Subject,
    status: &str,
    error: Option<&str>,
    cause: Option<&str>,
) -> Comment {
    let s = Style::Md;
    let mut body = format!(
        "The gate's run ended with status {} before it could report its checks, so nothing it \
         tested counts: the gate revoked its approval (REVOKE) and this pull request cannot \
         merge. Push a commit or comment `/gate retry` to run the gate again.",
        code(status, s, CLIP_ID)
    );
    if let Some(e) = error.filter(|e| !e.trim().is_empty()) {
        let _ = write!(body, "\n\nError: {}", code(e, s, CLIP_TEXT));
    }
    if let Some(c) = cause.filter(|c| !c.trim().is_empty()) {
        let _ = write!(body, "\n\nCause: {}", code(c, s, CLIP_MESSAGE));
    }
    brief(
        CommentKind::RunEnded,
        subject,
        &format!("{FAILED} Gate run ended without a result"),
        "Was testing",
        body,
    )
}
