//! The narrow traits the gate's flows are written against: pull requests, executions, the ledger, the notifier.
//!
//! Each has an `aws` adapter (production), a `local` adapter (the embedded default) and an
//! in-memory fake ([`crate::memory`]) for flow tests. Adapters decide once whether a failure is
//! transient (throttling, 5xx, timeouts: worth retrying later) or permanent; the flows fail
//! closed on both, and return an error so the event is not lost.

pub mod merges;
pub mod test_reports;

use crate::ids::{CommentId, CommitId, PullRequestId, RepositoryName, RevisionId};
use crate::machine::ExecutionInput;
use crate::plan::ChangedPath;
use serde::{Deserialize, Serialize};
use std::future::Future;

/// A failed call to an external service. Adapters classify once ([`PortError::rejected`] for a
/// service's refusal with its error code); the flows branch on the variant, never on text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PortError {
    /// Throttling, a 5xx or a timeout that outlived the client's retries.
    #[error("{call} failed (transient, retry later): {message}")]
    Transient {
        /// The API call, e.g. `codecommit:GetPullRequest`.
        call: &'static str,
        /// What the service said.
        message: String,
    },
    /// Access denied, a validation error, a missing piece of a response.
    #[error("{call} failed: {message}")]
    Permanent {
        /// The API call.
        call: &'static str,
        /// What the service said.
        message: String,
    },
    /// The thing the call names does not exist (any more): the service answered with a
    /// `…DoesNotExistException` or `CommentDeletedException`. Permanent too; flows that can
    /// carry on without the thing (a deleted comment, a deleted pull request) match on it.
    #[error("{call} failed: {code}: {message}")]
    Gone {
        /// The API call.
        call: &'static str,
        /// The service's error code, e.g. `CommentDeletedException`.
        code: String,
        /// What the service said.
        message: String,
    },
}

impl PortError {
    /// The API call that failed.
    pub fn call(&self) -> &'static str {
        match self {
            PortError::Transient { call, .. }
            | PortError::Permanent { call, .. }
            | PortError::Gone { call, .. } => call,
        }
    }

    /// A stable name for the error kind (Lambda `errorType`, Step Functions `Retry` matching).
    pub fn error_type(&self) -> &'static str {
        match self {
            PortError::Transient { .. } => "GateTransientError",
            PortError::Permanent { .. } | PortError::Gone { .. } => "GatePermanentError",
        }
    }

    /// A service's permanent refusal with its error `code` (e.g.
    /// `PullRequestDoesNotExistException`): [`PortError::Gone`] when the code says the thing does
    /// not exist or was deleted, else [`PortError::Permanent`]. Every adapter (AWS, local,
    /// in-memory) classifies with this one rule.
    pub fn rejected(call: &'static str, code: &str, message: impl Into<String>) -> PortError {
        let message = message.into();
        if code.ends_with("DoesNotExistException") || code == "CommentDeletedException" {
            PortError::Gone {
                call,
                code: code.to_owned(),
                message,
            }
        } else {
            PortError::Permanent { call, message }
        }
    }
}

/// CodeCommit's error codes that the in-memory fake and the local adapters answer with, as
/// CodeCommit does (aws-reference.md), written once.
pub mod codes {
    /// `GetPullRequest` and friends: no such pull request.
    pub const PULL_REQUEST_DOES_NOT_EXIST: &str = "PullRequestDoesNotExistException";
    /// A write to a closed pull request.
    pub const PULL_REQUEST_ALREADY_CLOSED: &str = "PullRequestAlreadyClosedException";
    /// No such comment.
    pub const COMMENT_DOES_NOT_EXIST: &str = "CommentDoesNotExistException";
    /// The comment was deleted.
    pub const COMMENT_DELETED: &str = "CommentDeletedException";
    /// `UpdateComment` by someone other than the comment's author.
    pub const COMMENT_NOT_CREATED_BY_CALLER: &str = "CommentNotCreatedByCallerException";
    /// A comment over 10,240 characters.
    pub const COMMENT_TOO_LONG: &str = "CommentContentSizeLimitExceededException";
    /// The same client request token with other parameters.
    pub const IDEMPOTENCY_MISMATCH: &str = "IdempotencyParameterMismatchException";
    /// A comment whose before and after commits are the same.
    pub const SAME_COMMITS: &str = "BeforeCommitIdAndAfterCommitIdAreSameException";
    /// No such commit.
    pub const COMMIT_DOES_NOT_EXIST: &str = "CommitDoesNotExistException";
    /// No such repository.
    pub const REPOSITORY_DOES_NOT_EXIST: &str = "RepositoryDoesNotExistException";
    /// `UpdatePullRequestApprovalRuleContent` on a rule made from a template.
    pub const RULE_FROM_TEMPLATE: &str = "CannotModifyApprovalRuleFromTemplateException";
}

/// What CodeCommit refuses before it stores a comment (the in-memory fake and the local
/// adapter answer the same): content over [`crate::report::MAX_COMMENT_CHARS`] (counted as
/// [`crate::report::comment_len`]), and a new PR comment whose before and after commits are
/// the same. The error code, or `None` when CodeCommit would take it.
pub fn comment_refusal(content: &str, target: Option<&CommentTarget>) -> Option<&'static str> {
    if crate::report::comment_len(content) > crate::report::MAX_COMMENT_CHARS {
        return Some(codes::COMMENT_TOO_LONG);
    }
    target
        .filter(|t| t.before_commit == t.after_commit)
        .map(|_| codes::SAME_COMMITS)
}

/// Result of a port call.
pub type PortResult<T> = Result<T, PortError>;

/// Open or closed, as the API says it (`OPEN` / `CLOSED`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PrStatus {
    /// Open.
    Open,
    /// Closed (merged or not).
    Closed,
}

/// A pull request as `GetPullRequest` returns it now (events can be stale).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PullRequestState {
    /// The repository (the first target's).
    pub repository: RepositoryName,
    /// The PR.
    pub id: PullRequestId,
    /// Title.
    pub title: String,
    /// Description, when there is one.
    pub description: Option<String>,
    /// Author ARN.
    pub author_arn: String,
    /// Open or closed.
    pub status: PrStatus,
    /// Whether it was merged.
    pub is_merged: bool,
    /// `refs/heads/...` of the source.
    pub source_reference: String,
    /// `refs/heads/...` of the destination.
    pub destination_reference: String,
    /// The source tip.
    pub source_commit: CommitId,
    /// The destination tip.
    pub destination_commit: CommitId,
    /// The merge base, when CodeCommit knows it.
    pub merge_base: Option<CommitId>,
    /// The current revision; approvals bind to it.
    pub revision_id: RevisionId,
    /// The approval rules on the PR.
    pub approval_rules: Vec<ApprovalRule>,
}

/// An approval rule on a pull request, as `GetPullRequest` lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApprovalRule {
    /// `approvalRuleName` (a rule made from a template carries the template's name).
    pub name: String,
    /// `approvalRuleContent`: the rule's JSON.
    pub content: String,
    /// `originApprovalRuleTemplate.approvalRuleTemplateName` when the rule was made from a
    /// template. Such rules cannot be edited or deleted on the pull request
    /// (`CannotModifyApprovalRuleFromTemplateException`, `CannotDeleteApprovalRuleFromTemplateException`).
    #[serde(default)]
    pub template: Option<String>,
}

impl ApprovalRule {
    /// A rule created on the pull request itself.
    pub fn on_pull_request(name: impl Into<String>, content: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            content: content.into(),
            template: None,
        }
    }
}

impl PullRequestState {
    /// The source branch name.
    pub fn source_branch(&self) -> &str {
        branch(&self.source_reference)
    }

    /// The destination branch name.
    pub fn destination_branch(&self) -> &str {
        branch(&self.destination_reference)
    }
}

fn branch(reference: &str) -> &str {
    reference.strip_prefix("refs/heads/").unwrap_or(reference)
}

/// Whether the source merges cleanly into the destination.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "mergeable", rename_all = "snake_case")]
pub enum Mergeability {
    /// It merges.
    Clean,
    /// These files conflict.
    Conflicts {
        /// Conflicting paths.
        paths: Vec<String>,
    },
}

/// A PR comment as the gate sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CommentData {
    /// Its id.
    pub id: CommentId,
    /// Its text.
    pub content: String,
    /// Who wrote it.
    pub author_arn: String,
    /// Whether it was deleted.
    pub deleted: bool,
}

/// Whether a comment is the gate's sticky comment: written by the gate's identity, not
/// deleted, and ending in the gate's marker. The author check is what makes a pasted marker
/// harmless. Every [`PullRequests::find_comment`] uses this one rule.
pub fn is_gate_comment(
    author: Option<&str>,
    content: Option<&str>,
    deleted: bool,
    gate_arn: &str,
    marker: &str,
) -> bool {
    !deleted && author == Some(gate_arn) && content.is_some_and(|c| c.trim_end().ends_with(marker))
}

/// Where a PR comment goes: `PostCommentForPullRequest` wants the commits it is about.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CommentTarget {
    /// The repository.
    pub repository: RepositoryName,
    /// The PR.
    pub pull_request_id: PullRequestId,
    /// The destination tip (the model's `beforeCommitId`).
    pub before_commit: CommitId,
    /// The source tip (the model's `afterCommitId`).
    pub after_commit: CommitId,
}

/// APPROVE or REVOKE.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ApprovalState {
    /// Approve.
    Approve,
    /// Revoke.
    Revoke,
}

/// What became of an approval-state change.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ApprovalOutcome {
    /// Done.
    Applied,
    /// The revision is no longer current (`RevisionNotCurrentException`): stale, not an error.
    RevisionNotCurrent,
    /// The PR is closed (`PullRequestAlreadyClosedException`).
    Closed,
}

/// CodeCommit, as the gate uses it.
pub trait PullRequests: Send + Sync {
    /// `GetPullRequest`.
    fn pull_request(
        &self,
        id: &PullRequestId,
    ) -> impl Future<Output = PortResult<PullRequestState>> + Send;
    /// `GetFile` at a commit; `None` when the file does not exist there.
    fn file(
        &self,
        repository: &RepositoryName,
        commit: &CommitId,
        path: &str,
    ) -> impl Future<Output = PortResult<Option<Vec<u8>>>> + Send;
    /// `GetDifferences` from `before` to `after`, every page; renames name both paths.
    fn changed_paths(
        &self,
        repository: &RepositoryName,
        before: &CommitId,
        after: &CommitId,
    ) -> impl Future<Output = PortResult<Vec<ChangedPath>>> + Send;
    /// Every file of `commit`: (path, git blob id) pairs, as `git ls-tree -r` lists them. On
    /// CodeCommit, `GetDifferences` with no before commit (each difference's `afterBlob`),
    /// every page. The ids are git object ids on every side, so an artifact key
    /// ([`crate::release::artifact_key`]) computed from them equals the local one.
    fn commit_files(
        &self,
        repository: &RepositoryName,
        commit: &CommitId,
    ) -> impl Future<Output = PortResult<Vec<(String, String)>>> + Send;
    /// `GetMergeConflicts` for a three-way merge of `source` into `destination`.
    fn mergeability(
        &self,
        repository: &RepositoryName,
        source: &CommitId,
        destination: &CommitId,
    ) -> impl Future<Output = PortResult<Mergeability>> + Send;
    /// `GetComment`; `None` when it does not exist.
    fn comment(
        &self,
        id: &CommentId,
    ) -> impl Future<Output = PortResult<Option<CommentData>>> + Send;
    /// The gate's own sticky comment on a PR: written by `author_arn` and ending in `marker`.
    fn find_comment(
        &self,
        repository: &RepositoryName,
        id: &PullRequestId,
        author_arn: &str,
        marker: &str,
    ) -> impl Future<Output = PortResult<Option<CommentData>>> + Send;
    /// `PostCommentForPullRequest` with an idempotency token.
    fn post_comment(
        &self,
        target: &CommentTarget,
        content: &str,
        token: &str,
    ) -> impl Future<Output = PortResult<CommentId>> + Send;
    /// `UpdateComment`.
    fn update_comment(
        &self,
        id: &CommentId,
        content: &str,
    ) -> impl Future<Output = PortResult<()>> + Send;
    /// `PostCommentReply` with an idempotency token.
    fn reply(
        &self,
        to: &CommentId,
        content: &str,
        token: &str,
    ) -> impl Future<Output = PortResult<CommentId>> + Send;
    /// `CreatePullRequestApprovalRule`; when a rule of that name already exists (someone made or
    /// edited it first), `UpdatePullRequestApprovalRuleContent` to exactly `content`.
    fn ensure_approval_rule(
        &self,
        id: &PullRequestId,
        name: &str,
        content: &str,
    ) -> impl Future<Output = PortResult<RuleWritten>> + Send;
    /// `UpdatePullRequestApprovalState` for exactly `revision`.
    fn set_approval(
        &self,
        id: &PullRequestId,
        revision: &RevisionId,
        state: ApprovalState,
    ) -> impl Future<Output = PortResult<ApprovalOutcome>> + Send;
}

/// What [`PullRequests::ensure_approval_rule`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RuleWritten {
    /// The rule was created.
    Created,
    /// A rule of that name existed; its content was set to the gate's.
    Updated,
}

/// What became of a start request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum Started {
    /// A new execution (or the same one again: Step Functions is idempotent for the same name
    /// and input while it runs).
    Started {
        /// Its ARN.
        execution_arn: String,
    },
    /// An execution of that name already exists with other input or has finished
    /// (`ExecutionAlreadyExists`): this run was already started once.
    AlreadyExists {
        /// Its ARN.
        execution_arn: String,
    },
}

impl Started {
    /// The execution's ARN either way.
    pub fn execution_arn(&self) -> &str {
        match self {
            Started::Started { execution_arn } | Started::AlreadyExists { execution_arn } => {
                execution_arn
            }
        }
    }
}

/// An execution's status (`DescribeExecution`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ExecutionStatus {
    /// Running.
    Running,
    /// Succeeded.
    Succeeded,
    /// Failed.
    Failed,
    /// Timed out.
    TimedOut,
    /// Aborted (stopped).
    Aborted,
    /// Waiting for a redrive.
    PendingRedrive,
}

/// Step Functions (or the local runner), as the gate uses it.
pub trait Executions: Send + Sync {
    /// `StartExecution` with a deterministic name.
    fn start(
        &self,
        name: &str,
        input: &ExecutionInput,
    ) -> impl Future<Output = PortResult<Started>> + Send;
    /// `StopExecution`; stopping one that already finished or does not exist is not an error.
    fn stop(&self, execution_arn: &str, cause: &str)
    -> impl Future<Output = PortResult<()>> + Send;
    /// `DescribeExecution`; `None` when it does not exist.
    fn status(
        &self,
        execution_arn: &str,
    ) -> impl Future<Output = PortResult<Option<ExecutionStatus>>> + Send;
    /// `StartExecution` of the release state machine with a deterministic name; an
    /// execution of that name already there is [`Started::AlreadyExists`].
    fn start_release(
        &self,
        name: &str,
        input: &crate::machine::release::ReleaseExecutionInput,
    ) -> impl Future<Output = PortResult<Started>> + Send {
        let _ = (name, input);
        async {
            Err(PortError::Permanent {
                call: "states:StartExecution",
                message: "this adapter runs no release state machine (locally, `gate release` \
                          releases)"
                    .to_owned(),
            })
        }
    }
    /// The input an execution was started with (`DescribeExecution`), for status events that
    /// left it out for size; `None` when the execution does not exist.
    fn input(
        &self,
        execution_arn: &str,
    ) -> impl Future<Output = PortResult<Option<ExecutionInput>>> + Send {
        let _ = execution_arn;
        async {
            Err(PortError::Permanent {
                call: "states:DescribeExecution",
                message: "this adapter cannot read execution input".to_owned(),
            })
        }
    }
}

/// Build logs (CloudWatch Logs on AWS, log files locally), for the tails of failed checks.
pub trait Logs: Send + Sync {
    /// The last `lines` lines of a log stream; `None` when it does not exist.
    fn tail(
        &self,
        group: &str,
        stream: &str,
        lines: usize,
    ) -> impl Future<Output = PortResult<Option<String>>> + Send;
}

/// The run a PR's ledger record points at.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunRecord {
    /// The source commit under test.
    pub source_commit: CommitId,
    /// The destination commit it merges into.
    pub destination_commit: CommitId,
    /// The revision under test.
    pub revision_id: RevisionId,
    /// Which run of this commit (1, then 2 after `/gate retry`, ...).
    pub attempt: u32,
    /// The ledger's claim sequence number of this run ([`PrRecord::claims`] when it was
    /// claimed): part of the execution name, so every claim gets a name of its own.
    #[serde(default)]
    pub claim: u64,
    /// `refs/heads/...` of the destination it merges into (destination drift is matched on it).
    #[serde(default)]
    pub destination_reference: String,
    /// The execution's name.
    pub execution_name: String,
    /// The execution, once started.
    pub execution_arn: Option<String>,
    /// The verdict once decided.
    pub verdict: Option<RunVerdict>,
    /// Whether the verdict's comment and approval were written. gate-report records the
    /// verdict first (a conditional write that only succeeds while this run is the PR's current
    /// one), then acts, then sets this; a redelivery that finds a verdict but not this finishes
    /// the job. Records from before this field existed were always reported.
    #[serde(default = "reported_by_default")]
    pub reported: bool,
    /// The checks' results once reported (`/gate retry` re-runs the ones that did not pass).
    #[serde(default)]
    pub results: Vec<crate::policy::CheckResult>,
    /// The comment whose `/gate` command started this attempt, if any.
    #[serde(default)]
    pub requested_by: Option<CommentId>,
    /// That comment's directives (the plan of this attempt applies them).
    #[serde(default)]
    pub requests: Vec<crate::plan::DirectiveRequest>,
    /// Results carried over from the previous attempt (a retry re-runs only the rest).
    #[serde(default)]
    pub carried: Vec<crate::policy::CheckResult>,
}

fn reported_by_default() -> bool {
    true
}

/// How a run ended, as the ledger records it (stored as its snake_case word).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RunVerdict {
    /// Every required check passed (or nothing needed to run): the revision was approved.
    Passed,
    /// A required check did not pass, or the run broke: revoked.
    Failed,
    /// The gate decided without running anything (no or invalid gate file, promotion rule,
    /// merge conflict): revoked.
    Refused,
    /// The result no longer stands for the code that would merge: the run passed but the
    /// destination branch moved on since (destination drift), or it reported on a revision
    /// that was no longer current. Revoked; `/gate retry` runs every check again.
    Outdated,
}

impl RunVerdict {
    /// The word as stored and logged.
    pub fn as_str(self) -> &'static str {
        match self {
            RunVerdict::Passed => "passed",
            RunVerdict::Failed => "failed",
            RunVerdict::Refused => "refused",
            RunVerdict::Outdated => "outdated",
        }
    }
}

impl std::fmt::Display for RunVerdict {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Replies to a comment command that are decided but maybe not posted yet.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PendingReplies {
    /// The command's comment.
    pub comment: CommentId,
    /// The replies, in order.
    pub replies: Vec<String>,
}

/// One item per PR in the ledger (DynamoDB on AWS).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PrRecord {
    /// The repository.
    pub repository: RepositoryName,
    /// The PR.
    pub pull_request_id: PullRequestId,
    /// Optimistic-concurrency version: every write is conditional on the version it read.
    pub version: u64,
    /// How many runs were ever claimed on this PR: the next claim is `claims + 1`.
    #[serde(default)]
    pub claims: u64,
    /// The current run.
    pub run: Option<RunRecord>,
    /// The gate's sticky comment.
    pub comment_id: Option<CommentId>,
    /// The PR's CI environment (CodeBuild project), once created.
    pub environment: Option<String>,
    /// Whether the PR is closed (its environment is then cleaned up).
    pub closed: bool,
    /// Comment commands already handled (the latest few), so a redelivered comment event is a no-op.
    #[serde(default)]
    pub handled_comments: Vec<CommentId>,
    /// Replies decided for handled comments and not yet known to be posted.
    #[serde(default)]
    pub pending_replies: Vec<PendingReplies>,
}

impl PrRecord {
    /// A fresh record, version 0 (never written).
    pub fn new(repository: RepositoryName, pull_request_id: PullRequestId) -> Self {
        Self {
            repository,
            pull_request_id,
            version: 0,
            claims: 0,
            run: None,
            comment_id: None,
            environment: None,
            closed: false,
            handled_comments: Vec::new(),
            pending_replies: Vec::new(),
        }
    }
}

/// How many handled comment commands a PR's record remembers (a redelivery older than that is
/// long past EventBridge's retries).
pub const HANDLED_COMMENTS_KEPT: usize = 50;

impl PrRecord {
    /// Marks the comment command `key` handled (the latest [`HANDLED_COMMENTS_KEPT`] are kept)
    /// with its `replies` pending until they are posted.
    pub fn handle_comment(&mut self, key: &CommentId, replies: Vec<String>) {
        self.handled_comments.push(key.clone());
        let overflow = self
            .handled_comments
            .len()
            .saturating_sub(HANDLED_COMMENTS_KEPT);
        self.handled_comments.drain(..overflow);
        self.pending_replies.push(PendingReplies {
            comment: key.clone(),
            replies,
        });
    }

    /// Takes the next claim sequence number. Records written before claims were counted fall
    /// back on their run's attempt, so a new claim never reuses an old execution name.
    pub fn next_claim(&mut self) -> u64 {
        let seen = self
            .run
            .as_ref()
            .map_or(0, |r| r.claim.max(u64::from(r.attempt)));
        self.claims = self.claims.max(seen) + 1;
        self.claims
    }
}

/// One item per (repository, environment) in the ledger: the release lane (what runs, what
/// waits) and what is deployed (the last successful release, per component).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EnvironmentRecord {
    /// The repository.
    pub repository: RepositoryName,
    /// The environment (one of the gate file's `environments`).
    pub environment: String,
    /// Optimistic-concurrency version: every write is conditional on the version it read.
    pub version: u64,
    /// What runs and what waits.
    #[serde(default)]
    pub lane: crate::release::lane::Lane,
    /// The last successful release and what is deployed.
    #[serde(default)]
    pub state: crate::release::EnvironmentState,
    /// The running release's approval while the release machine waits for it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pending_approval: Option<PendingApproval>,
}

/// A release waiting for a person: what gate-approve needs to resume it. Kept in the
/// environment's record (the table), the only place the task token is written.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PendingApproval {
    /// The release's execution name.
    pub execution_name: String,
    /// `$$.Execution.Id`.
    pub execution_arn: String,
    /// The released commit.
    pub commit: CommitId,
    /// The lane's sequence number of the release.
    pub sequence: u64,
    /// `.waitForTaskToken`'s token: `SendTaskSuccess` / `SendTaskFailure` resume the release.
    pub task_token: String,
    /// Identity globs of who may approve (the gate file's, at the released commit).
    pub approvers: Vec<String>,
    /// IAM ARNs of the people who wrote the change (the push's caller and the authors of
    /// the pull requests that brought it): none of them may approve it alone.
    pub authors: Vec<String>,
    /// When the release started waiting, RFC 3339 UTC.
    pub requested_at: String,
    /// When the wait runs out, RFC 3339 UTC.
    pub expires_at: String,
    /// The environment's commit before the release (for the announcements).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previous: Option<CommitId>,
    /// The components the release deploys (for the announcements).
    #[serde(default)]
    pub components: Vec<String>,
    /// Whether the "approval needed" notice and the WAITING_FOR_APPROVAL event went out (a
    /// redelivered approval step that finds them sent sends nothing again).
    #[serde(default)]
    pub announced: bool,
    /// The decision being delivered: set by the one conditional write that wins the race
    /// between approvers, before the token is sent, so exactly one decision reaches the
    /// release (gate-approve clears the whole approval once the token was answered).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decision: Option<crate::machine::release::payload::ApprovalAnswer>,
    /// Refused attempts (not an approver, the author alone), the latest
    /// [`PendingApproval::ATTEMPTS_KEPT`]: who tried, when and how. A refused attempt never
    /// ends the wait.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub attempts: Vec<crate::machine::release::payload::ApprovalAnswer>,
}

impl PendingApproval {
    /// How many refused attempts a pending approval keeps.
    pub const ATTEMPTS_KEPT: usize = 20;

    /// Records a refused attempt, keeping the latest [`PendingApproval::ATTEMPTS_KEPT`].
    pub fn record_attempt(&mut self, attempt: crate::machine::release::payload::ApprovalAnswer) {
        self.attempts.push(attempt);
        let overflow = self.attempts.len().saturating_sub(Self::ATTEMPTS_KEPT);
        self.attempts.drain(..overflow);
    }
}

impl EnvironmentRecord {
    /// A fresh record, version 0 (never written): nothing released, nothing running.
    pub fn new(repository: RepositoryName, environment: impl Into<String>) -> Self {
        let environment = environment.into();
        Self {
            repository,
            state: crate::release::EnvironmentState {
                version: crate::release::RECORD_VERSION,
                environment: environment.clone(),
                ..crate::release::EnvironmentState::default()
            },
            environment,
            version: 0,
            lane: crate::release::lane::Lane::default(),
            pending_approval: None,
        }
    }
}

/// What became of a conditional write.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Written {
    /// The write won.
    Written,
    /// Someone else wrote first (the version moved): re-read and decide again.
    Conflict,
}

impl Written {
    /// `Written` when the conditional write won, else `Conflict`.
    pub fn won(wrote: bool) -> Self {
        if wrote {
            Written::Written
        } else {
            Written::Conflict
        }
    }
}

/// The ledger, as the gate uses it.
pub trait Ledger: Send + Sync {
    /// The PR's record, if any.
    fn get(
        &self,
        repository: &RepositoryName,
        id: &PullRequestId,
    ) -> impl Future<Output = PortResult<Option<PrRecord>>> + Send;
    /// Writes `record` with version `record.version + 1` if the stored version is still
    /// `record.version` (or absent when it is 0).
    fn put(&self, record: &PrRecord) -> impl Future<Output = PortResult<Written>> + Send;
    /// Every record not marked closed (for the clean-up sweep).
    fn open_records(&self) -> impl Future<Output = PortResult<Vec<PrRecord>>> + Send;
    /// The environment's record, if any.
    fn environment(
        &self,
        repository: &RepositoryName,
        environment: &str,
    ) -> impl Future<Output = PortResult<Option<EnvironmentRecord>>> + Send;
    /// Writes `record` with version `record.version + 1` if the stored version is still
    /// `record.version` (or absent when it is 0), as [`Ledger::put`].
    fn put_environment(
        &self,
        record: &EnvironmentRecord,
    ) -> impl Future<Output = PortResult<Written>> + Send;
    /// Stores a release's record (by its id: writing it again replaces it).
    fn put_release(
        &self,
        repository: &RepositoryName,
        record: &crate::release::ReleaseRecord,
    ) -> impl Future<Output = PortResult<()>> + Send;
    /// The destination branch's recorded coverage per check (version 0 and no checks when
    /// none was recorded); `branch` is a branch name or its full ref, one branch either way.
    fn coverage_bases(
        &self,
        repository: &RepositoryName,
        branch: &str,
    ) -> impl Future<Output = PortResult<crate::test_reports::CoverageBases>> + Send;
    /// Writes `record` with version `record.version + 1` if the stored version is still
    /// `record.version` (or absent when it is 0), as [`Ledger::put`].
    fn put_coverage_bases(
        &self,
        repository: &RepositoryName,
        record: &crate::test_reports::CoverageBases,
    ) -> impl Future<Output = PortResult<Written>> + Send;
    /// The repository's recorded passes of checks with `reuse: true` (version 0 and none when
    /// none was recorded).
    fn reuse_passes(
        &self,
        repository: &RepositoryName,
    ) -> impl Future<Output = PortResult<crate::reuse::ledger::LedgerPasses>> + Send;
    /// Writes `record` with version `record.version + 1` if the stored version is still
    /// `record.version` (or absent when it is 0), as [`Ledger::put`].
    fn put_reuse_passes(
        &self,
        repository: &RepositoryName,
        record: &crate::reuse::ledger::LedgerPasses,
    ) -> impl Future<Output = PortResult<Written>> + Send;
}

/// Step Functions' callback API, as the approval uses it: only gate-approve calls it.
pub trait TaskTokens: Send + Sync {
    /// `SendTaskSuccess`: the waiting step succeeds with `output` (JSON).
    fn succeed(
        &self,
        token: &str,
        output: &str,
    ) -> impl Future<Output = PortResult<TokenSent>> + Send;
    /// `SendTaskFailure`: the waiting step fails with `error` and `cause`.
    fn fail(
        &self,
        token: &str,
        error: &str,
        cause: &str,
    ) -> impl Future<Output = PortResult<TokenSent>> + Send;
}

/// What became of a task token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenSent {
    /// The waiting step took it.
    Delivered,
    /// The token no longer waits (`TaskTimedOut`, `TaskDoesNotExist`, `InvalidToken`): the
    /// release ended or moved on without it.
    Expired,
}

/// The event bus the gate announces its runs and releases on (EventBridge's default bus on
/// AWS): one event per state change, for teams to route to chat, alarms or their own rollback.
pub trait Bus: Send + Sync {
    /// `PutEvents` of one event; a failed entry is an error (retried by the adapter).
    fn put(
        &self,
        event: &crate::announce::Announcement,
    ) -> impl Future<Output = PortResult<()>> + Send;
}

/// Where the gate reports failures and bypasses (SNS on AWS, standard error locally).
pub trait Notifier: Send + Sync {
    /// Publishes one message.
    fn publish(&self, subject: &str, message: &str) -> impl Future<Output = PortResult<()>> + Send;
}

/// What `gate history --remote` and `gate release status --remote` read from the ledger: every
/// item of one repository, by kind. A person's occasional read: on DynamoDB a paged scan with a
/// key-prefix filter (the table has no index to query by repository; docs/deploy.md gives the
/// cost).
pub trait LedgerHistory: Send + Sync {
    /// The repository's pull-request records (each with its current run and verdict).
    fn pull_requests(
        &self,
        repository: &RepositoryName,
    ) -> impl Future<Output = PortResult<Vec<PrRecord>>> + Send;
    /// The repository's environment records (lane, pending approval, what is deployed).
    fn environments(
        &self,
        repository: &RepositoryName,
    ) -> impl Future<Output = PortResult<Vec<EnvironmentRecord>>> + Send;
    /// The repository's release records, in no particular order.
    fn releases(
        &self,
        repository: &RepositoryName,
    ) -> impl Future<Output = PortResult<Vec<crate::release::ReleaseRecord>>> + Send;
}
