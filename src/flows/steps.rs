//! Steps both flows (gate-start and gate-report) take: the sticky comment, approvals, the gate's approval rule, idempotency tokens.

use super::{Deps, Ports};
use crate::config::Settings;
use crate::ids::{CommentId, PullRequestId, RepositoryName, RevisionId};
use crate::ports::{
    ApprovalOutcome, ApprovalState, CommentTarget, PortError, PortResult, PrRecord,
    PullRequestState, PullRequests, Written,
};
use crate::report::{self, Subject};
use sha2::{Digest, Sha256};

/// A deterministic idempotency token: the same inputs give the same token (64 hex).
pub fn token(parts: &[&str]) -> String {
    let mut hasher = Sha256::new();
    for p in parts {
        hasher.update(p.as_bytes());
        hasher.update([0]);
    }
    hasher
        .finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The report's view of a PR revision.
pub fn subject(pr: &PullRequestState) -> Subject {
    Subject {
        repository: pr.repository.clone(),
        pull_request_id: pr.id.clone(),
        title: pr.title.clone(),
        source_branch: pr.source_branch().to_owned(),
        destination_branch: pr.destination_branch().to_owned(),
        source_commit: pr.source_commit.clone(),
        destination_commit: pr.destination_commit.clone(),
        merge_commit: None,
        revision_id: Some(pr.revision_id.clone()),
    }
}

/// The report's view of a PR as an event describes it.
pub fn event_subject(pull_request: &crate::event::PullRequest) -> Subject {
    Subject {
        repository: pull_request.repository.clone(),
        pull_request_id: pull_request.id.clone(),
        title: pull_request.title.clone(),
        source_branch: pull_request.source_branch().to_owned(),
        destination_branch: pull_request.destination_branch().to_owned(),
        source_commit: pull_request.source_commit.clone(),
        destination_commit: pull_request.destination_commit.clone(),
        merge_commit: None,
        revision_id: pull_request.revision_id.clone(),
    }
}

/// Where the PR's comments go.
pub fn target(subject: &Subject) -> CommentTarget {
    CommentTarget {
        repository: subject.repository.clone(),
        pull_request_id: subject.pull_request_id.clone(),
        before_commit: subject.destination_commit.clone(),
        after_commit: subject.source_commit.clone(),
    }
}

/// The approval rule every gated PR carries: one approval from the gate's identity.
pub fn approval_rule_content(approver_arn: &str) -> String {
    crate::rule_content::rule_content(approver_arn, &[])
}

/// Whether the PR already carries a rule that keeps it from merging without the gate: one
/// from an approval rule template (users cannot delete or edit those) or the gate's own
/// per-PR rule, requiring exactly the gate's approval. Otherwise gate-start puts its rule on.
pub fn gate_rule_stands(pr: &PullRequestState, settings: &Settings) -> bool {
    pr.approval_rules.iter().any(|rule| {
        (rule.template.is_some() || rule.name == settings.approval_rule_name)
            && crate::rule_content::requires_only(&rule.content, &settings.approver_arn)
    })
}

/// Puts the gate's approval rule on the PR unless one stands ([`gate_rule_stands`]).
/// Returns whether it wrote a rule.
pub async fn guard_with_rule<P: PullRequests>(
    prs: &P,
    pr: &PullRequestState,
    settings: &Settings,
) -> PortResult<bool> {
    if gate_rule_stands(pr, settings) {
        return Ok(false);
    }
    prs.ensure_approval_rule(
        &pr.id,
        &settings.approval_rule_name,
        &approval_rule_content(&settings.approver_arn),
    )
    .await?;
    Ok(true)
}

/// Writes the sticky comment: updates the one the ledger (or a search for our marker, written
/// by our identity) knows, else posts it with `token`. Records the id in `record` (the caller
/// writes the record). A comment someone deleted is replaced by a new one.
pub async fn upsert_comment<T: Ports>(
    deps: &Deps<T>,
    record: &mut PrRecord,
    subject: &Subject,
    body: &str,
    token: &str,
) -> PortResult<CommentId> {
    let known = match &record.comment_id {
        Some(id) => Some(id.clone()),
        None => find_sticky(deps, &subject.repository, &subject.pull_request_id).await?,
    };
    write_comment(deps, record, subject, body, known, token).await
}

/// The gate's sticky comment on a PR, found by its marker among the comments our identity
/// wrote.
pub async fn find_sticky<T: Ports>(
    deps: &Deps<T>,
    repository: &RepositoryName,
    pull_request: &PullRequestId,
) -> PortResult<Option<CommentId>> {
    Ok(deps
        .prs
        .find_comment(
            repository,
            pull_request,
            &deps.settings.approver_arn,
            &report::marker(repository, pull_request),
        )
        .await?
        .map(|c| c.id))
}

/// Writes the sticky comment once it is known which one stands (`known`, or none): see
/// [`upsert_comment`].
pub async fn write_comment<T: Ports>(
    deps: &Deps<T>,
    record: &mut PrRecord,
    subject: &Subject,
    body: &str,
    known: Option<CommentId>,
    token: &str,
) -> PortResult<CommentId> {
    if let Some(id) = known {
        match deps.prs.update_comment(&id, body).await {
            Ok(()) => {
                record.comment_id = Some(id.clone());
                return Ok(id);
            }
            Err(PortError::Gone { .. }) => {
                tracing::warn!(comment = %id, "the gate's comment was deleted; posting a new one");
            }
            Err(e) => return Err(e),
        }
    }
    let id = deps.prs.post_comment(&target(subject), body, token).await?;
    record.comment_id = Some(id.clone());
    Ok(id)
}

/// Sets the gate's approval state for exactly `revision`. A revision that is no longer current
/// or a closed PR is not an error: the result is stale and nothing is approved.
pub async fn set_approval<P: PullRequests>(
    prs: &P,
    pr: &PullRequestId,
    revision: &RevisionId,
    state: ApprovalState,
) -> PortResult<ApprovalOutcome> {
    let outcome = prs.set_approval(pr, revision, state).await?;
    if outcome != ApprovalOutcome::Applied {
        tracing::info!(pull_request = %pr, %revision, ?state, ?outcome, "approval not applied");
    }
    Ok(outcome)
}

/// Replies of a comment command, claimed in the PR's record and to be posted.
pub struct PendingPost<'a> {
    /// What the idempotency tokens start with (one flow's replies never share another's).
    pub label: &'a str,
    /// The key the replies are kept under in [`PrRecord::pending_replies`].
    pub key: &'a CommentId,
    /// The comment they answer.
    pub comment: &'a CommentId,
    /// The replies, in order.
    pub replies: &'a [String],
}

/// Posts claimed replies (each with its idempotency token, so a retry posts it once), then
/// forgets them in the PR's record; a lost race only means they are posted again, idempotently.
pub async fn post_pending_replies<P: PullRequests, L: crate::ports::Ledger>(
    prs: &P,
    ledger: &L,
    mut record: PrRecord,
    pr: &PullRequestState,
    post: &PendingPost<'_>,
) -> PortResult<()> {
    for (i, text) in post.replies.iter().enumerate() {
        let token = token(&[post.label, post.comment.as_str(), &i.to_string()]);
        prs.reply(post.comment, text, &token).await?;
    }
    for _ in 0..3 {
        record.pending_replies.retain(|p| &p.comment != post.key);
        if ledger.put(&record).await? == crate::ports::Written::Written {
            break;
        }
        match ledger.get(&pr.repository, &pr.id).await? {
            Some(fresh) => record = fresh,
            None => break,
        }
    }
    Ok(())
}

/// Updates a versioned ledger record that several runs may write at once: reads it, merges
/// into it (`merge` says whether anything changed; nothing changed, nothing is written) and
/// writes it on the condition that its version is still the one read. A lost write reads and
/// merges again, at most `attempts` times. `Ok(false)`: every write was lost.
pub async fn merge_write<T, R, W>(
    attempts: usize,
    read: impl Fn() -> R,
    merge: impl Fn(&mut T) -> bool,
    write: impl Fn(T) -> W,
) -> PortResult<bool>
where
    R: Future<Output = PortResult<T>>,
    W: Future<Output = PortResult<Written>>,
{
    for _ in 0..attempts {
        let mut record = read().await?;
        if !merge(&mut record) {
            return Ok(true);
        }
        if write(record).await? == Written::Written {
            return Ok(true);
        }
    }
    Ok(false)
}
