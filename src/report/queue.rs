//! The words of the merge queue on AWS (`/gate merge`): the PR's queue comment (its position,
//! the merged commit, why it left the queue) and the replies to refused commands.

use super::escape::{CLIP_TEXT, Style, code, escape};
use super::words::{FAILED, NEUTRAL, PASSED, WARNING};
use crate::ids::{PullRequestId, RepositoryName, short_id};
use crate::merge_queue::command::Refused;
use crate::merge_queue::decide::{DropReason, EjectReason, Note, Problem};

/// The marker that ends the gate's queue comment on a PR: the queue updates that one comment
/// instead of adding a new one for each change (only a comment by the gate's identity counts).
pub fn marker(repository: &RepositoryName, pull_request: &PullRequestId) -> String {
    format!(
        "<!-- gate-queue:{}#{} -->",
        escape(repository.as_str()),
        escape(pull_request.as_str())
    )
}

/// The queue comment's body for `note`, about the queue of `destination`, ending in the marker.
pub fn comment(
    repository: &RepositoryName,
    pull_request: &PullRequestId,
    destination: &str,
    note: &Note,
) -> String {
    format!(
        "### Merge queue\n\n{}\n\n{}",
        line(destination, note),
        marker(repository, pull_request)
    )
}

/// One Markdown line for `note`.
pub fn line(destination: &str, note: &Note) -> String {
    let branch = code(destination, Style::Md, CLIP_TEXT);
    match note {
        Note::Queued {
            position: 1,
            strategy,
        } => format!(
            "{NEUTRAL} Queued for {branch} ({}): **first in line**. The gate tests the merge onto \
             {branch}'s tip and moves {branch} to exactly that commit when it passes.",
            strategy.as_str()
        ),
        Note::Queued { position, strategy } => format!(
            "{NEUTRAL} Queued for {branch} ({}): **position {position}**. `/gate unqueue` takes \
             it out.",
            strategy.as_str()
        ),
        Note::Merged { commit, strategy } => format!(
            "{PASSED} **Merged** ({}): {branch} now points at `{}`, the commit whose tree the \
             gate tested.",
            strategy.as_str(),
            short_id(commit.as_str())
        ),
        Note::Full { limit } => format!(
            "{WARNING} **Not queued**: the queue for {branch} holds {limit} pull requests, its \
             most. `/gate merge` again once some have merged."
        ),
        Note::Dropped(reason) => format!("{WARNING} **Left the queue**: {}", dropped(reason)),
        Note::Ejected(reason) => format!(
            "{FAILED} **Taken out of the queue**: {} Nothing was merged; fix it and \
             `/gate merge` again.",
            ejected(reason, destination)
        ),
    }
}

fn dropped(reason: &DropReason) -> String {
    match reason {
        DropReason::SourceUpdated { queued, now } => format!(
            "the source moved from `{}` to `{}` after it was queued; the gate merges only the \
             commit that was queued. `/gate merge` queues the new one.",
            short_id(queued.as_str()),
            short_id(now.as_str())
        ),
        DropReason::Closed => "the pull request was closed.".to_owned(),
        DropReason::Unqueued { by } => {
            format!("`/gate unqueue` by {}.", code(by, Style::Md, CLIP_TEXT))
        }
    }
}

fn ejected(reason: &EjectReason, destination: &str) -> String {
    let branch = code(destination, Style::Md, CLIP_TEXT);
    match reason {
        EjectReason::Failed { execution_name } => format!(
            "the checks failed on its merge onto {branch}'s tip (run {}).",
            code(execution_name, Style::Md, CLIP_TEXT)
        ),
        EjectReason::Unmergeable(Problem::Conflict { files }) if files.is_empty() => {
            format!("it conflicts with {branch}.")
        }
        EjectReason::Unmergeable(Problem::Conflict { files }) => format!(
            "it conflicts with {branch} in {}.",
            files
                .iter()
                .take(10)
                .map(|f| code(f, Style::Md, CLIP_TEXT))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        EjectReason::Unmergeable(Problem::NotFastForward) => format!(
            "a fast-forward was asked for and {branch} is not an ancestor of the source: \
             rebase it, or `/gate merge squash` or `/gate merge three-way`."
        ),
    }
}

/// The reply to a refused `/gate merge` or `/gate unqueue`.
pub fn refused(refusal: Refused) -> String {
    let why = match refusal {
        Refused::NotAllowed => {
            "you may not queue this pull request: the destination's gate file allows the \
             pull request's author and `skip.authors`, or only `merge.allowed_authors` when it \
             lists any."
        }
        Refused::PriorityNotAllowed => {
            "`--priority` is for the `skip.authors` of the destination's gate file; \
             `/gate merge` without it queues in order."
        }
        Refused::UnqueueNotAllowed => {
            "only the pull request's author, whoever queued it, or a `skip.authors` may take it \
             out of the queue."
        }
    };
    format!("{FAILED} Did not apply: {why}")
}

/// The reply to a queue command with a `word` it cannot understand.
pub fn not_understood(word: &str) -> String {
    format!(
        "{FAILED} Did not apply: {} is not understood. Use `/gate merge \
         [fast-forward|squash|three-way] [--priority]` or `/gate unqueue`.",
        code(word, Style::Md, CLIP_TEXT)
    )
}

/// The reply to `/gate unqueue` on a pull request that is not queued.
pub fn not_queued() -> String {
    format!("{NEUTRAL} Not queued: nothing to take out.")
}

/// The reply to a queue command when the destination has no valid gate file.
pub fn needs_gate_file(path: &str) -> String {
    format!(
        "{FAILED} Did not apply: the merge queue follows the destination's gate file {}, and \
         there is no valid one.",
        code(path, Style::Md, CLIP_TEXT)
    )
}

/// The message of a queue entry's merge commit.
pub fn merge_message(pull_request: &PullRequestId, destination: &str) -> String {
    format!(
        "Merge pull request {pull_request} into {destination}\n\nTested and merged by the gate's merge queue.\n"
    )
}

/// Why a queue entry's run was stopped: its merge is built again on another commit.
pub fn rebuilt_cause(onto: &str) -> String {
    format!(
        "the merge queue builds this pull request again onto {}",
        short_id(onto)
    )
}
