//! The words the bot writes: the sticky PR comment, `/gate` replies, SNS notices and the CLI's plan text.
//!
//! Every comment, reply and notice is assembled here. Validation messages (a gate file's
//! errors and hints, a `/gate` line that does not parse, an unusable buildspec) are written
//! where the validation happens, as data, and shown here (docs/design.md, "Which text lives
//! where").
//!
//! Pure functions, no I/O. Every PR comment starts with its verdict (a `## ` heading), stays within
//! CodeCommit's [`MAX_COMMENT_CHARS`] and ends with a hidden [`marker`] line, so a retry finds and
//! updates its own comment ([`find_marker`]) instead of posting another.
//!
//! Everything that comes from users or builds (titles, branch names, check names, ARNs, paths,
//! log tails) is made inert before it is written: [`escape`] for prose and table cells, code spans
//! and fences that are longer than any backtick run in their content, and `<!--`/`-->` split by a
//! zero-width space wherever escaping cannot apply. So nothing a user writes renders as a link,
//! an image, HTML or a table cell, and nothing a user writes can pass for our marker.
//!
//! When a comment would be too long it shrinks in a fixed order, which each comment names as a
//! constant list of the parts of its blocks (`fit::Part`). A verdict shrinks its log tails first
//! (keeping the end of each), then the list of skipped checks, then the directives, then the failed
//! tests of the test results, then the rows of passed checks. The verdict, the table header and the marker always stay.
//!
//! One file per kind of text, on a few shared pieces:
//! - PR comments: [`running`], [`finished`] (results table in `results`, test counts, failed
//!   tests and coverage in `test_results`, log tails in `log_tail`), `untested` (merge
//!   conflict, promotion refused), `gate_file_problems` (missing or invalid gate file) and
//!   `void_run` (stale, superseded, destination moved, untraceable, run ended); the blocks they
//!   share (head, skipped checks, directives, the gate file note) in `blocks`.
//! - `reply`: answers to `/gate` commands; `notice`: SNS subjects and messages; [`plan_text`]:
//!   the CLI's plan; [`release`]: a release's report, summary, plan, approval question and
//!   the messages `gate release` stops with; [`approval`]: a release's approval on AWS (the
//!   SNS notice, the answers to `/gate approve|reject` and `gate approve|reject`); [`merge`]:
//!   what `gate merge` merged where, or why it did not.
//! - Shared: `words` (marks, status words, plurals, durations, short ids, lists of names),
//!   `escape` (making user text inert), `reasons` (why a check runs or skips, why a directive was
//!   refused), `marker`, and `fit` (blocks that shrink, fitted into the limit).

pub mod approval;
mod blocks;
mod escape;
mod finished;
mod fit;
mod gate_file_problems;
mod log_tail;
mod marker;
pub mod merge;
mod notice;
mod plan_text;
pub mod queue;
mod reasons;
pub mod release;
pub mod remote;
mod reply;
mod results;
mod running;
mod test_results;
mod untested;
mod void_run;
mod words;

pub use escape::escape;
pub use finished::finished;
pub use gate_file_problems::{
    MINIMAL_GATE_FILE, ProposedGateFile, invalid_gate_file, invalid_trusted_gate_file,
    missing_gate_file, unusable_buildspec,
};
pub use marker::{find_marker, marker};
pub use notice::{
    bypass_notice, bypass_subject, failure_notice, failure_subject, rule_tampered_notice,
    rule_tampered_subject,
};
pub use plan_text::plan_text;
pub use reasons::{reason, refusal};
pub use reply::{command_needs_gate_file, command_reply, nothing_to_retry};
pub use results::{CACHE_READ_ONLY, reused_line};
pub use running::running;
pub use untested::merge_conflict;
pub use void_run::{destination_moved, run_ended, stale, superseded, untraceable};

use crate::ids::{CommitId, PullRequestId, RepositoryName, RevisionId};
use fit::{Block, Part, assemble};
use serde::{Deserialize, Serialize};

/// CodeCommit's limit for a comment, in characters (`CommentContentSizeLimitExceededException`).
pub const MAX_COMMENT_CHARS: usize = 10_240;

/// Facts about the PR revision a comment talks about.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Subject {
    /// The repository.
    pub repository: RepositoryName,
    /// The pull request.
    pub pull_request_id: PullRequestId,
    /// The pull request's title, as its author wrote it.
    pub title: String,
    /// The source branch (without `refs/heads/`).
    pub source_branch: String,
    /// The destination branch (without `refs/heads/`).
    pub destination_branch: String,
    /// The tip of the source branch.
    pub source_commit: CommitId,
    /// The tip of the destination branch.
    pub destination_commit: CommitId,
    /// The merge commit that was (or is being) tested, when there is one.
    pub merge_commit: Option<CommitId>,
    /// The pull request revision, when known.
    pub revision_id: Option<RevisionId>,
}

/// Which comment this is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CommentKind {
    /// Checks are running.
    Running,
    /// The verdict of a run (also "nothing to test").
    Finished,
    /// The gate file does not parse or validate.
    InvalidGateFile,
    /// The repository has no gate file.
    MissingGateFile,
    /// The promotion rules refuse the source branch.
    PromotionRefused,
    /// The branches do not merge cleanly.
    MergeConflict,
    /// The result is about an older revision.
    Stale,
    /// The run ended outside its happy path (failed, timed out, aborted) without a report.
    RunEnded,
    /// A newer commit replaced the one being tested.
    Superseded,
    /// The destination moved on after the approval: the approval was revoked.
    Outdated,
}

/// A rendered PR comment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Comment {
    /// Which comment.
    pub kind: CommentKind,
    /// The Markdown body: at most [`MAX_COMMENT_CHARS`] characters, last line the [`marker`].
    pub body: String,
}

/// The length of `text` as CodeCommit counts it. CodeCommit is a Java service, so this counts
/// UTF-16 code units, which is never less than the number of `char`s: a body within this count is
/// within the limit however the service counts characters.
pub fn comment_len(text: &str) -> usize {
    text.encode_utf16().count()
}

/// A PR comment: `blocks` fitted into [`MAX_COMMENT_CHARS`] (shrinking the parts named in
/// `shrink`, in that order), then the marker.
fn comment(kind: CommentKind, subject: &Subject, blocks: &[Block], shrink: &[Part]) -> Comment {
    let m = marker(&subject.repository, &subject.pull_request_id);
    Comment {
        kind,
        body: assemble(blocks, shrink, Some(&m)),
    }
}
