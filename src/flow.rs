//! Steps both flows (gate-start and gate-report) take: the sticky comment, approvals, idempotency tokens.

use crate::config::Settings;
use crate::ids::{CommentId, PullRequestId, RepositoryName, RevisionId};
use crate::ports::{
    ApprovalOutcome, ApprovalState, CommentTarget, Executions, Ledger, Notifier, PortError,
    PortResult, PrRecord, PullRequestState, PullRequests,
};
use crate::report::{self, Subject};
use sha2::{Digest, Sha256};

/// The four ports a flow is written against, as one type parameter: a flow is generic over
/// `T: Ports` instead of four parameters with four bounds. Any `(P, E, L, N)` tuple of
/// adapters is one: `Deps<(AwsPullRequests, AwsExecutions, AwsLedger, AwsNotifier)>` on AWS,
/// the local adapters for the embedded default, the in-memory fakes in tests, or a mix.
pub trait Ports {
    /// CodeCommit.
    type PullRequests: PullRequests;
    /// Step Functions (or the local runner).
    type Executions: Executions;
    /// DynamoDB (or local files).
    type Ledger: Ledger;
    /// SNS (or standard error).
    type Notifier: Notifier;
}

impl<P: PullRequests, E: Executions, L: Ledger, N: Notifier> Ports for (P, E, L, N) {
    type PullRequests = P;
    type Executions = E;
    type Ledger = L;
    type Notifier = N;
}

/// Everything a flow needs: the four ports and the settings. Built once per cold start.
pub struct Deps<T: Ports> {
    /// CodeCommit.
    pub prs: T::PullRequests,
    /// Step Functions.
    pub executions: T::Executions,
    /// DynamoDB.
    pub ledger: T::Ledger,
    /// SNS.
    pub notifier: T::Notifier,
    /// Settings.
    pub settings: Settings,
}

impl<T: Ports> std::fmt::Debug for Deps<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Deps")
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

/// A failed flow: the port error and the PR it was about, for the log line and the Lambda error.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("pull request {repository}#{pull_request}: {source}")]
pub struct FlowError {
    /// The repository.
    pub repository: RepositoryName,
    /// The PR.
    pub pull_request: PullRequestId,
    /// What failed.
    pub source: PortError,
}

impl FlowError {
    /// Wraps a port error with the PR it concerns.
    pub fn new(
        repository: &RepositoryName,
        pull_request: &PullRequestId,
        source: PortError,
    ) -> Self {
        Self {
            repository: repository.clone(),
            pull_request: pull_request.clone(),
            source,
        }
    }

    /// A stable error type name for the Lambda error response.
    pub fn error_type(&self) -> &'static str {
        self.source.error_type()
    }
}

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
        None => deps
            .prs
            .find_comment(
                &subject.repository,
                &subject.pull_request_id,
                &deps.settings.approver_arn,
                &report::marker(&subject.repository, &subject.pull_request_id),
            )
            .await?
            .map(|c| c.id),
    };
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
