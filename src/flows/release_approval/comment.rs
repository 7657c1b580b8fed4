//! The comment channel: `/gate approve <environment>` and `/gate reject <environment> [--
//! reason]` in a comment on the pull request that brought the commit to the environment's
//! branch. CodeCommit authenticated the commenter: the comment's author ARN is the caller.
//!
//! One command per line; the checks' directives (`/gate retry`, ...) are gate-start's and
//! ignored here. The pull request's author is an author of the change. The replies are
//! decided first, then the comment is claimed in the pull request's ledger record together
//! with its replies, then they are posted with idempotency tokens: a redelivered comment
//! event finds the comment handled and posts nothing new, and the decision itself cannot
//! happen twice because a decided approval is cleared. The claim uses the record's
//! handled-comments list under the key `<comment id>#approval`, so gate-start's claim of a
//! `/gate retry` on the same comment and this one do not shadow each other.

use super::{ApproveDeps, DecisionRequest, Verb, decide};
use crate::event::CommentEvent;
use crate::flows::steps;
use crate::ids::CommentId;
use crate::machine::release::payload::ApprovalChannel;
use crate::policy::{self, DirectiveSyntaxError};
use crate::ports::{
    Bus, Ledger, PortError, PortResult, PrRecord, PullRequestState, PullRequests, TaskTokens,
    Written,
};
use crate::report::approval as words;
use serde::Serialize;

/// At most this many commands are honoured from one comment.
const MAX_COMMANDS: usize = 10;
/// How often the pull request's record is read again after another writer won.
const CLAIM_ATTEMPTS: usize = 5;

/// A release approval command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApprovalCommand {
    /// Approve or reject.
    pub verb: Verb,
    /// The environment.
    pub environment: String,
    /// The reason after ` -- `.
    pub reason: Option<String>,
}

/// Finds the `/gate approve|reject` lines of a comment, one command per line, in order.
pub fn parse_commands(text: &str) -> Vec<Result<ApprovalCommand, DirectiveSyntaxError>> {
    text.lines()
        .map(str::trim)
        .filter(|l| policy::is_release_command(l))
        .take(MAX_COMMANDS)
        .map(parse_line)
        .collect()
}

fn parse_line(line: &str) -> Result<ApprovalCommand, DirectiveSyntaxError> {
    let rest = line[policy::PREFIX.len()..].trim();
    let (body, reason) = match rest.split_once(" -- ") {
        Some((b, r)) => (b, Some(r.trim().to_owned()).filter(|r| !r.is_empty())),
        None => (rest.strip_suffix(" --").unwrap_or(rest), None),
    };
    let mut words = body.split_whitespace();
    let verb = words.next().and_then(Verb::parse);
    let environment = words.next();
    let problem = match (verb, environment, words.next()) {
        (Some(verb), Some(environment), None) => {
            return Ok(ApprovalCommand {
                verb,
                environment: environment.to_owned(),
                reason,
            });
        }
        (_, None, _) => "name the environment, e.g. `/gate approve production`",
        _ => "name one environment; a reason goes after ` -- `",
    };
    Err(DirectiveSyntaxError {
        line: line.to_owned(),
        problem: problem.to_owned(),
    })
}

/// What the comment channel did with one comment event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum CommentOutcome {
    /// Not a release approval (or the gate's own comment): nothing done.
    Ignored {
        /// Why.
        reason: String,
    },
    /// The commands were decided and answered.
    Answered {
        /// How many replies were posted.
        replies: usize,
    },
    /// The comment was handled before: nothing new.
    Duplicate,
}

/// The key under which the comment's approval commands are claimed.
fn claim_key(comment: &CommentId) -> CommentId {
    CommentId::new(format!("{comment}#approval"))
}

/// A comment on a pull request: its `/gate approve|reject` commands decided and answered.
pub async fn on_comment<P, L, T, B>(
    deps: &ApproveDeps<P, L, T, B>,
    now: &str,
    event: &CommentEvent,
) -> PortResult<CommentOutcome>
where
    P: PullRequests,
    L: Ledger,
    T: TaskTokens,
    B: Bus,
{
    let ignored = |reason: &str| {
        Ok(CommentOutcome::Ignored {
            reason: reason.to_owned(),
        })
    };
    let Some(comment) = deps.prs.comment(&event.comment_id).await? else {
        return ignored("the comment no longer exists");
    };
    if comment.author_arn == deps.settings.approver_arn || comment.deleted {
        return ignored("the gate's own comment, or a deleted one");
    }
    let commands = parse_commands(&comment.content);
    if commands.is_empty() {
        return ignored("no /gate approve or /gate reject in the comment");
    }
    let pr = deps.prs.pull_request(&event.pull_request_id).await?;
    let key = claim_key(&comment.id);
    let record = pr_record(&deps.ledger, &pr).await?;
    if record.handled_comments.contains(&key) {
        return post_replies(deps, record, &pr, &key, &comment.id).await;
    }
    let mut replies = Vec::new();
    for command in &commands {
        replies.push(match command {
            Ok(c) => answer(deps, now, &pr, &comment.author_arn, c).await?,
            Err(e) => words::command_problem(&e.line, &e.problem),
        });
    }
    match claim(&deps.ledger, &pr, &key, replies).await? {
        Some(record) => post_replies(deps, record, &pr, &key, &comment.id).await,
        None => Ok(CommentOutcome::Duplicate),
    }
}

/// The reply to one command: decided when the pull request goes to the environment's branch.
async fn answer<P, L, T, B>(
    deps: &ApproveDeps<P, L, T, B>,
    now: &str,
    pr: &PullRequestState,
    caller: &str,
    command: &ApprovalCommand,
) -> PortResult<String>
where
    P: PullRequests,
    L: Ledger,
    T: TaskTokens,
    B: Bus,
{
    let environment = &command.environment;
    let branch = deps
        .settings
        .releases
        .as_ref()
        .and_then(|r| r.environments.get(environment))
        .map(|e| e.branch.as_str());
    let destination = pr
        .destination_reference
        .strip_prefix("refs/heads/")
        .unwrap_or(&pr.destination_reference);
    match branch {
        None => return Ok(words::unknown_environment(environment)),
        Some(b) if b != destination => return Ok(words::wrong_pull_request(environment, b)),
        Some(_) => {}
    }
    let request = DecisionRequest {
        repository: pr.repository.clone(),
        environment: environment.clone(),
        caller_arn: caller.to_owned(),
        verb: command.verb,
        reason: command.reason.clone(),
        channel: ApprovalChannel::Comment,
        extra_authors: vec![pr.author_arn.clone()],
    };
    let outcome = decide(&deps.ledger, &deps.tokens, &deps.bus, now, &request).await?;
    Ok(words::decision_reply(&outcome, environment))
}

/// The pull request's ledger record, or a fresh one.
async fn pr_record<L: Ledger>(ledger: &L, pr: &PullRequestState) -> PortResult<PrRecord> {
    Ok(ledger
        .get(&pr.repository, &pr.id)
        .await?
        .unwrap_or_else(|| PrRecord::new(pr.repository.clone(), pr.id.clone())))
}

/// Claims the comment with its replies; `None` when a concurrent delivery claimed it first.
async fn claim<L: Ledger>(
    ledger: &L,
    pr: &PullRequestState,
    key: &CommentId,
    replies: Vec<String>,
) -> PortResult<Option<PrRecord>> {
    for _ in 0..CLAIM_ATTEMPTS {
        let mut record = pr_record(ledger, pr).await?;
        if record.handled_comments.contains(key) {
            return Ok(None);
        }
        record.handle_comment(key, replies.clone());
        if ledger.put(&record).await? == Written::Written {
            record.version += 1;
            return Ok(Some(record));
        }
    }
    Err(PortError::Transient {
        call: "dynamodb:PutItem",
        message: format!(
            "the record of pull request {} kept changing; the event will be retried",
            pr.id
        ),
    })
}

/// Posts the claimed replies (idempotency tokens: a retry posts each once), then forgets them.
async fn post_replies<P, L, T, B>(
    deps: &ApproveDeps<P, L, T, B>,
    record: PrRecord,
    pr: &PullRequestState,
    key: &CommentId,
    comment: &CommentId,
) -> PortResult<CommentOutcome>
where
    P: PullRequests,
    L: Ledger,
{
    let Some(replies) = record
        .pending_replies
        .iter()
        .find(|p| &p.comment == key)
        .map(|p| p.replies.clone())
    else {
        return Ok(CommentOutcome::Duplicate);
    };
    let post = steps::PendingPost {
        label: "approval-reply",
        key,
        comment,
        replies: &replies,
    };
    steps::post_pending_replies(&deps.prs, &deps.ledger, record, pr, &post).await?;
    Ok(CommentOutcome::Answered {
        replies: replies.len(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_command_per_line_with_an_optional_reason() {
        let text = "Ship it.\n/gate approve production\n  /gate reject staging -- flaky e2e \n\
                    /gate retry\n/gate approve\n/gate reject a b\n/gate approve prod --\n";
        let got = parse_commands(text);
        let ok = |verb, environment: &str, reason: Option<&str>| {
            Ok(ApprovalCommand {
                verb,
                environment: environment.to_owned(),
                reason: reason.map(str::to_owned),
            })
        };
        let bad = |line: &str, problem: &str| {
            Err(DirectiveSyntaxError {
                line: line.to_owned(),
                problem: problem.to_owned(),
            })
        };
        assert_eq!(
            got,
            vec![
                ok(Verb::Approve, "production", None),
                ok(Verb::Reject, "staging", Some("flaky e2e")),
                bad(
                    "/gate approve",
                    "name the environment, e.g. `/gate approve production`"
                ),
                bad(
                    "/gate reject a b",
                    "name one environment; a reason goes after ` -- `"
                ),
                ok(Verb::Approve, "prod", None),
            ]
        );
    }
}
