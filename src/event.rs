//! EventBridge payloads → our own typed [`Event`] (parse at the edge: nothing past [`parse`] sees raw JSON).
//!
//! Four EventBridge families (and the scheduled sweep) reach the gate:
//!
//! | `detail-type` | `detail.event` / `detail.status` | becomes |
//! | --- | --- | --- |
//! | `CodeCommit Pull Request State Change` | `pullRequestCreated`, `pullRequestSourceBranchUpdated` | [`Event::Gate`] |
//! | | `pullRequestStatusChanged` (Closed, not merged), `pullRequestMergeStatusUpdated` (merged) | [`Event::Cleanup`] |
//! | | `pullRequestApprovalRuleOverridden` with `OVERRIDE` | [`Event::Bypass`] |
//! | | `pullRequestApprovalRuleDeleted`, `pullRequestApprovalRuleUpdated` | [`Event::RuleChanged`] |
//! | | approval rule created, approval state changes, override `REVOKE` | [`Event::Ignore`] |
//! | `CodeCommit Comment on Pull Request` | `commentOnPullRequestCreated` | [`Event::Command`] |
//! | | `commentOnPullRequestUpdated` | [`Event::Ignore`] (editing must not re-trigger) |
//! | `CodeCommit Repository State Change` | `referenceUpdated` or `referenceCreated` of a branch | [`Event::BranchMoved`] |
//! | | reference deleted, tags, unreferenced merge commits | [`Event::Ignore`] |
//! | `Step Functions Execution Status Change` | `SUCCEEDED`, `FAILED`, `TIMED_OUT`, `ABORTED` | [`Event::RunFinished`] |
//! | | `RUNNING`, `PENDING_REDRIVE`, anything else | [`Event::Ignore`] |
//! | anything else | | [`Event::Ignore`] |
//!
//! The old documentation typo `CodeCommit PullRequest State Change` is accepted as well.
//!
//! Quirks handled here (see `aws-reference.md` §3–5, §11): `isMerged` is the string `"True"`/`"False"`,
//! `pullRequestStatus` is `"Open"`/`"Closed"`, PR state events name the repository in the array
//! `repositoryNames` while comment events use the string `repositoryName`, `description` may be missing,
//! `author` is not always an ARN, CodeCommit dates are free text (kept verbatim), Step Functions
//! `input`/`output` are strings containing JSON (decoded here), and unknown extra keys are tolerated.
//!
//! Errors are reserved for payloads we cannot trust: malformed JSON, or a field the chosen event needs
//! that is missing or has the wrong shape. Every such error names the field as a JSON path
//! (`detail.sourceCommit`); `$` is the whole payload. A JSON `null` counts as missing. Events the gate
//! does not act on are never errors: they become [`Event::Ignore`] with a reason a human can read.
//!
//! Parsing takes two steps: a lenient pre-check of what tells events apart (`detail-type`, `source`,
//! `detail.event` / `detail.status`), which alone decides ignored events, the sweep and foreign
//! payloads; then, for the events the gate acts on, `aws_lambda_events`' `EventBridgeEvent` over our
//! own detail types (the crate has none for these four), decoded with `serde_path_to_error` so that a
//! wrong type is named by its path. docs/design.md explains why both steps.
//!
//! This module is pure: no I/O, no async, no AWS SDK, and it never panics on any input.

use crate::ids::{CommentId, CommitId, PullRequestId, RepositoryName, RevisionId};
use aws_lambda_events::event::eventbridge::EventBridgeEvent;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// `detail-type` of CodeCommit pull request state changes.
pub const DETAIL_TYPE_PR_STATE: &str = "CodeCommit Pull Request State Change";
/// The spelling some 2020–2021 CodeCommit docs used for [`DETAIL_TYPE_PR_STATE`]; accepted too.
pub const DETAIL_TYPE_PR_STATE_DOC_TYPO: &str = "CodeCommit PullRequest State Change";
/// `detail-type` of comments on pull requests.
pub const DETAIL_TYPE_PR_COMMENT: &str = "CodeCommit Comment on Pull Request";
/// `detail-type` of Step Functions (Standard workflow) execution status changes.
pub const DETAIL_TYPE_SFN_STATUS: &str = "Step Functions Execution Status Change";
/// `detail-type` of CodeCommit repository (reference) changes: pushes, merges, branches.
pub const DETAIL_TYPE_REPOSITORY_STATE: &str = "CodeCommit Repository State Change";
/// `detail-type` of EventBridge scheduled rules (source `aws.events`): the gate's clean-up sweep.
pub const DETAIL_TYPE_SCHEDULED: &str = "Scheduled Event";

/// Our own event: what the gate should do about one EventBridge payload.
///
/// Serialises (for `gate inspect`) as an object tagged by `"action"`, with snake_case field names, e.g.
/// `{"action":"gate","trigger":"created","pull_request":{...}}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "action", rename_all = "kebab-case")]
pub enum Event {
    /// `pullRequestCreated` / `pullRequestSourceBranchUpdated`: gate this revision.
    Gate {
        /// What made this revision appear.
        trigger: GateTrigger,
        /// The pull request as the event describes it.
        pull_request: PullRequest,
    },
    /// The pull request is closed (without merge) or merged: stop its runs, tidy up.
    Cleanup {
        /// Closed or merged.
        reason: CleanupReason,
        /// The pull request as the event describes it.
        pull_request: PullRequest,
    },
    /// `pullRequestApprovalRuleOverridden` with `OVERRIDE`: someone bypassed the gate.
    Bypass {
        /// The pull request as the event describes it.
        pull_request: PullRequest,
        /// `callerUserArn`: who overrode the approval rules.
        overridden_by: String,
    },
    /// `pullRequestApprovalRuleDeleted` / `pullRequestApprovalRuleUpdated`: someone deleted or
    /// edited an approval rule (the gate's own, perhaps).
    RuleChanged {
        /// The pull request as the event describes it.
        pull_request: PullRequest,
        /// `approvalRuleName`.
        rule: String,
        /// Deleted or edited.
        change: RuleChange,
    },
    /// `referenceUpdated` or `referenceCreated` of a branch (*CodeCommit Repository State
    /// Change*): the destination of open pull requests may have moved on from the commit their
    /// approval was earned on, and an environment's branch may have a commit to release (a
    /// created branch: its first push).
    BranchMoved(BranchMoved),
    /// `commentOnPullRequestCreated`: possibly a `/gate ...` command (the text is fetched later).
    Command(CommentEvent),
    /// A Step Functions execution reached a terminal status.
    RunFinished(RunFinished),
    /// The scheduled sweep: clean up pull requests that closed without the gate noticing.
    Sweep,
    /// Everything the gate does not act on.
    Ignore {
        /// Why, for a human reading logs or `gate inspect`.
        reason: String,
    },
}

impl Event {
    /// The `"action"` tag this event serialises with.
    pub fn action(&self) -> &'static str {
        match self {
            Event::Gate { .. } => "gate",
            Event::Cleanup { .. } => "cleanup",
            Event::Bypass { .. } => "bypass",
            Event::RuleChanged { .. } => "rule-changed",
            Event::BranchMoved(_) => "branch-moved",
            Event::Command(_) => "command",
            Event::RunFinished(_) => "run-finished",
            Event::Sweep => "sweep",
            Event::Ignore { .. } => "ignore",
        }
    }

    /// The pull request snapshot, for the events that carry one.
    pub fn pull_request(&self) -> Option<&PullRequest> {
        match self {
            Event::Gate { pull_request, .. }
            | Event::Cleanup { pull_request, .. }
            | Event::Bypass { pull_request, .. }
            | Event::RuleChanged { pull_request, .. } => Some(pull_request),
            Event::BranchMoved(_)
            | Event::Command(_)
            | Event::RunFinished(_)
            | Event::Sweep
            | Event::Ignore { .. } => None,
        }
    }

    fn ignore(reason: impl Into<String>) -> Self {
        Event::Ignore {
            reason: reason.into(),
        }
    }
}

/// Why a revision is gated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum GateTrigger {
    /// `pullRequestCreated`.
    Created,
    /// `pullRequestSourceBranchUpdated`: new commits on the source branch.
    SourceUpdated,
}

/// Why a pull request needs cleaning up.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum CleanupReason {
    /// `pullRequestStatusChanged` to Closed without a merge.
    Closed,
    /// `pullRequestMergeStatusUpdated` with `isMerged` `"True"`.
    Merged {
        /// `mergeOption` as AWS spells it (`FAST_FORWARD_MERGE`, `SQUASH_MERGE`, `THREE_WAY_MERGE`), if present.
        merge_option: Option<String>,
    },
}

/// `pullRequestStatus` of a PR state event (`"Open"` / `"Closed"`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum PullRequestStatus {
    /// `"Open"`.
    Open,
    /// `"Closed"` (merged or not: see [`PullRequest::is_merged`]).
    Closed,
}

/// Our snapshot of a pull request, taken from a "CodeCommit Pull Request State Change" event.
///
/// It is the state *when the event was emitted*: re-read `revisionId` before approving.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub struct PullRequest {
    /// `detail.repositoryNames[0]`.
    pub repository: RepositoryName,
    /// `detail.pullRequestId`.
    pub id: PullRequestId,
    /// `detail.title`.
    pub title: String,
    /// `detail.description`; absent for pull requests without one.
    pub description: Option<String>,
    /// `detail.author`: usually an ARN, but not always (`AROA…:session`, `AIDA…`); keep it as text.
    pub author: String,
    /// `detail.callerUserArn`: who caused this event.
    pub caller_arn: String,
    /// `detail.sourceReference`, a full ref such as `refs/heads/feature`.
    pub source_reference: String,
    /// `detail.destinationReference`, a full ref such as `refs/heads/main`.
    pub destination_reference: String,
    /// `detail.sourceCommit`: the source branch tip.
    pub source_commit: CommitId,
    /// `detail.destinationCommit`.
    pub destination_commit: CommitId,
    /// `detail.revisionId`: present in every known sample, but not required by the schema.
    pub revision_id: Option<RevisionId>,
    /// `detail.pullRequestStatus`.
    pub status: PullRequestStatus,
    /// `detail.isMerged` (`"True"` / `"False"`).
    pub is_merged: bool,
    /// `detail.creationDate`, verbatim: free text such as `Tue Oct 10 21:32:51 UTC 2023`, sometimes malformed.
    pub creation_date: String,
    /// `detail.lastModifiedDate`, verbatim (same caveats as [`PullRequest::creation_date`]).
    pub last_modified_date: String,
    /// The envelope's `region`.
    pub region: Option<String>,
    /// The envelope's `account`.
    pub account: Option<String>,
}

impl PullRequest {
    /// The source branch name: [`PullRequest::source_reference`] without `refs/heads/`.
    pub fn source_branch(&self) -> &str {
        branch_name(&self.source_reference)
    }

    /// The destination branch name: [`PullRequest::destination_reference`] without `refs/heads/`.
    pub fn destination_branch(&self) -> &str {
        branch_name(&self.destination_reference)
    }
}

fn branch_name(reference: &str) -> &str {
    reference.strip_prefix("refs/heads/").unwrap_or(reference)
}

/// What happened to an approval rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum RuleChange {
    /// `pullRequestApprovalRuleDeleted`.
    Deleted,
    /// `pullRequestApprovalRuleUpdated`.
    Updated,
}

/// A branch that moved: a `referenceUpdated` event of type `branch` (a push, or a merge), or
/// a `referenceCreated` one (a new branch's first push: no [`BranchMoved::old_commit`]).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub struct BranchMoved {
    /// `detail.repositoryName`.
    pub repository: RepositoryName,
    /// The full reference, `refs/heads/<branch>` (`detail.referenceFullName`, else built from
    /// `detail.referenceName`).
    pub reference: String,
    /// `detail.commitId`: the new tip.
    pub commit: CommitId,
    /// `detail.oldCommitId`: the previous tip, when present (never for a created branch).
    pub old_commit: Option<CommitId>,
    /// `detail.callerUserArn`, when present (absent from AWS's samples).
    pub caller_arn: Option<String>,
}

impl BranchMoved {
    /// The branch name: [`BranchMoved::reference`] without `refs/heads/`.
    pub fn branch(&self) -> &str {
        branch_name(&self.reference)
    }
}

/// Which comment event happened (edits are ignored, so only creation remains).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum CommentEventKind {
    /// `commentOnPullRequestCreated` (a new comment or a reply).
    Created,
}

/// A new comment on a pull request. The comment text is not in the event; fetch it by
/// [`CommentEvent::comment_id`]. The gate's own comments produce these events too: compare
/// [`CommentEvent::caller_arn`] with the gate's identity.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub struct CommentEvent {
    /// Always [`CommentEventKind::Created`].
    pub kind: CommentEventKind,
    /// `detail.repositoryName` (singular here, unlike PR state events).
    pub repository: RepositoryName,
    /// `detail.pullRequestId`.
    pub pull_request_id: PullRequestId,
    /// `detail.commentId`.
    pub comment_id: CommentId,
    /// `detail.inReplyTo`, for replies.
    pub in_reply_to: Option<CommentId>,
    /// `detail.beforeCommitId`.
    pub before_commit: CommitId,
    /// `detail.afterCommitId`.
    pub after_commit: CommitId,
    /// `detail.callerUserArn`: who wrote the comment.
    pub caller_arn: String,
    /// `detail.displayName`, only when the caller's session carries that tag.
    pub display_name: Option<String>,
    /// `detail.emailAddress`, only when the caller's session carries that tag.
    pub email: Option<String>,
    /// The envelope's `region`.
    pub region: Option<String>,
    /// The envelope's `account`.
    pub account: Option<String>,
}

/// Terminal status of a Step Functions execution.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum RunStatus {
    /// `SUCCEEDED`.
    Succeeded,
    /// `FAILED`.
    Failed,
    /// `TIMED_OUT`.
    TimedOut,
    /// `ABORTED` (e.g. stopped because a newer revision superseded it).
    Aborted,
}

impl RunStatus {
    /// The status as Step Functions spells it.
    pub fn as_aws_str(self) -> &'static str {
        match self {
            RunStatus::Succeeded => "SUCCEEDED",
            RunStatus::Failed => "FAILED",
            RunStatus::TimedOut => "TIMED_OUT",
            RunStatus::Aborted => "ABORTED",
        }
    }
}

/// A Step Functions execution that reached a terminal status.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RunFinished {
    /// `detail.executionArn`.
    pub execution_arn: String,
    /// `detail.stateMachineArn`.
    pub state_machine_arn: String,
    /// `detail.name`: the execution name.
    pub name: String,
    /// `detail.status`.
    pub status: RunStatus,
    /// `detail.startDate`, epoch milliseconds.
    pub start_date_ms: i64,
    /// `detail.stopDate`, epoch milliseconds (`null` while running).
    pub stop_date_ms: Option<i64>,
    /// `detail.input`, decoded (the event carries it as a string of JSON). `None` when null, absent or excluded.
    pub input: Option<Value>,
    /// `detail.inputDetails.included`: false when Step Functions left the input out for size
    /// (use DescribeExecution). Without `inputDetails`, whether an input is present.
    pub input_included: bool,
    /// `detail.output`, decoded; only set on success.
    pub output: Option<Value>,
    /// `detail.outputDetails.included`; without `outputDetails`, whether an output is present.
    pub output_included: bool,
    /// `detail.error`, when Step Functions reports one (absent in the doc samples, present in real failures).
    pub error: Option<String>,
    /// `detail.cause`, when Step Functions reports one.
    pub cause: Option<String>,
}

impl RunFinished {
    /// Whether the execution succeeded.
    pub fn succeeded(&self) -> bool {
        self.status == RunStatus::Succeeded
    }
}

/// Why a payload could not be turned into an [`Event`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EventError {
    /// The text is not JSON.
    #[error("malformed JSON at line {line}, column {column}: {message}")]
    MalformedJson {
        /// serde_json's description, without the position.
        message: String,
        /// 1-based line.
        line: usize,
        /// 1-based column.
        column: usize,
    },
    /// A field the event needs is absent or `null`.
    #[error("missing field `{field}`{}", hint.as_deref().map(|h| format!(" ({h})")).unwrap_or_default())]
    MissingField {
        /// JSON path of the field, e.g. `detail.sourceCommit`.
        field: String,
        /// A hint when the payload looks like something else we know.
        hint: Option<String>,
    },
    /// A field is present but unusable.
    #[error("`{field}` {problem}")]
    InvalidField {
        /// JSON path of the field, e.g. `detail.isMerged`; `$` is the whole payload.
        field: String,
        /// What is wrong with it, e.g. `must be "True" or "False", got "yes"`.
        problem: String,
    },
}

impl EventError {
    /// The JSON path of the offending field, if the error is about one.
    pub fn field(&self) -> Option<&str> {
        match self {
            EventError::MalformedJson { .. } => None,
            EventError::MissingField { field, .. } | EventError::InvalidField { field, .. } => {
                Some(field)
            }
        }
    }

    fn missing(field: impl Into<String>) -> Self {
        EventError::MissingField {
            field: field.into(),
            hint: None,
        }
    }

    fn invalid(field: impl Into<String>, problem: impl Into<String>) -> Self {
        EventError::InvalidField {
            field: field.into(),
            problem: problem.into(),
        }
    }
}

/// Entry point: raw JSON text → our event.
///
/// # Errors
/// [`EventError::MalformedJson`] when the text is not JSON; otherwise as [`parse_value`].
pub fn parse(json: &str) -> Result<Event, EventError> {
    let value: Value = serde_json::from_str(json).map_err(|err| {
        let (line, column) = (err.line(), err.column());
        let text = err.to_string();
        let suffix = format!(" at line {line} column {column}");
        let message = text.strip_suffix(&suffix).unwrap_or(&text).to_owned();
        EventError::MalformedJson {
            message,
            line,
            column,
        }
    })?;
    parse_value(value)
}

/// Same as [`parse`], from an already-decoded value (the Lambda runtime hands us a `serde_json::Value`).
///
/// # Errors
/// [`EventError::MissingField`] or [`EventError::InvalidField`], naming the field as a JSON path, when the
/// payload is not an object, has no `detail-type`, or lacks (or mistypes) a field the chosen event needs.
/// Events the gate does not act on are `Ok(Event::Ignore { .. })`, never errors.
pub fn parse_value(payload: Value) -> Result<Event, EventError> {
    let Some(object) = payload.as_object() else {
        return Err(not_an_object(ROOT, &payload));
    };
    let envelope: RawEnvelope = decode(&payload, ROOT)?;
    let Some(detail_type) = envelope.detail_type else {
        return Err(EventError::MissingField {
            field: "detail-type".to_owned(),
            hint: not_eventbridge_hint(object),
        });
    };
    match detail_type.as_str() {
        DETAIL_TYPE_PR_STATE | DETAIL_TYPE_PR_STATE_DOC_TYPO => pr_state_change(payload),
        DETAIL_TYPE_PR_COMMENT => pr_comment(payload),
        DETAIL_TYPE_REPOSITORY_STATE => repository_state_change(payload),
        DETAIL_TYPE_SFN_STATUS => execution_status(payload),
        DETAIL_TYPE_SCHEDULED if envelope.source.as_deref() == Some("aws.events") => {
            Ok(Event::Sweep)
        }
        other => Ok(Event::ignore(match envelope.source {
            Some(source) => format!("unknown detail-type '{other}' (source '{source}')"),
            None => format!("unknown detail-type '{other}'"),
        })),
    }
}

// ---------------------------------------------------------------------------------------------
// Two steps. First a lenient pre-check reads only what tells events apart (`detail-type`,
// `source`, then `detail.event` or `detail.status`), so that events the gate ignores, the sweep
// and payloads that are not EventBridge events get their outcome whatever else they hold. Then
// the events the gate acts on are decoded whole, as `aws_lambda_events`' `EventBridgeEvent` over
// our own detail types (see `typed`). Every detail field is optional so that serde only rejects
// wrong *types*; which fields are required is decided per event, by `required`, which names the
// field. Unknown keys are ignored.

const ROOT: &str = "$";
const DETAIL: &str = "detail";

/// The pre-check of the envelope: what dispatches, each field optional.
#[derive(Debug, Deserialize)]
struct RawEnvelope {
    #[serde(rename = "detail-type")]
    detail_type: Option<String>,
    source: Option<String>,
    /// Read from the crate's envelope; decoded here too so that a wrong type is an error for
    /// every event, the ignored ones included.
    #[expect(dead_code, reason = "decoded only to check its type")]
    account: Option<String>,
    /// As `account`.
    #[expect(dead_code, reason = "decoded only to check its type")]
    region: Option<String>,
}

/// The envelope keys `EventBridgeEvent` gives a type to but the gate never reads. Replays and
/// hand-written events may carry them in another shape (a local `time`, a numeric `version`);
/// such a key is dropped rather than failing the event (see [`typed`]).
const UNREAD_ENVELOPE_KEYS: [&str; 4] = ["version", "id", "time", "resources"];

/// Just the discriminator of a CodeCommit detail.
#[derive(Debug, Deserialize)]
struct RawKind {
    event: Option<String>,
}

/// `detail` of "CodeCommit Pull Request State Change" (aws-reference §3.1).
#[derive(Debug, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
struct RawPrDetail {
    pull_request_id: Option<String>,
    repository_names: Option<Vec<String>>,
    title: Option<String>,
    description: Option<String>,
    author: Option<String>,
    caller_user_arn: Option<String>,
    creation_date: Option<String>,
    last_modified_date: Option<String>,
    source_reference: Option<String>,
    destination_reference: Option<String>,
    source_commit: Option<String>,
    destination_commit: Option<String>,
    revision_id: Option<String>,
    pull_request_status: Option<String>,
    is_merged: Option<String>,
    merge_option: Option<String>,
    override_status: Option<String>,
}

/// `detail` of "CodeCommit Comment on Pull Request" (aws-reference §4).
#[derive(Debug, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
struct RawCommentDetail {
    pull_request_id: Option<String>,
    repository_name: Option<String>,
    comment_id: Option<String>,
    in_reply_to: Option<String>,
    before_commit_id: Option<String>,
    after_commit_id: Option<String>,
    caller_user_arn: Option<String>,
    display_name: Option<String>,
    email_address: Option<String>,
}

/// `detail` of "CodeCommit Repository State Change" (aws-reference-2 §1).
#[derive(Debug, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
struct RawRepositoryDetail {
    repository_name: Option<String>,
    reference_type: Option<String>,
    reference_name: Option<String>,
    reference_full_name: Option<String>,
    commit_id: Option<String>,
    old_commit_id: Option<String>,
    caller_user_arn: Option<String>,
}

/// Just the discriminator of a Step Functions detail.
#[derive(Debug, Deserialize)]
struct RawStatus {
    status: Option<String>,
}

/// `detail` of "Step Functions Execution Status Change" (aws-reference §5).
#[derive(Debug, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
struct RawExecutionDetail {
    execution_arn: Option<String>,
    state_machine_arn: Option<String>,
    name: Option<String>,
    start_date: Option<i64>,
    stop_date: Option<i64>,
    input: Option<Value>,
    input_details: Option<RawIncluded>,
    output: Option<Value>,
    output_details: Option<RawIncluded>,
    error: Option<String>,
    cause: Option<String>,
}

/// `inputDetails` / `outputDetails`. (Its name shows in the message for a non-object value:
/// "expected struct RawIncluded".)
#[derive(Debug, Deserialize, Serialize)]
struct RawIncluded {
    included: Option<bool>,
}

// ---------------------------------------------------------------------------------------------
// Dispatch.

fn pr_state_change(payload: Value) -> Result<Event, EventError> {
    let detail = detail_object(&payload)?;
    let kind: RawKind = decode(detail, DETAIL)?;
    let event = required(kind.event, "detail.event")?;
    match event.as_str() {
        "pullRequestCreated" => Ok(Event::Gate {
            trigger: GateTrigger::Created,
            pull_request: pull_request(typed(payload)?)?.0,
        }),
        "pullRequestSourceBranchUpdated" => Ok(Event::Gate {
            trigger: GateTrigger::SourceUpdated,
            pull_request: pull_request(typed(payload)?)?.0,
        }),
        "pullRequestStatusChanged" => {
            let (pull_request, _) = pull_request(typed(payload)?)?;
            Ok(match (pull_request.status, pull_request.is_merged) {
                (PullRequestStatus::Closed, false) => Event::Cleanup {
                    reason: CleanupReason::Closed,
                    pull_request,
                },
                (PullRequestStatus::Closed, true) => Event::ignore(
                    "pull request closed by a merge: cleanup happens on pullRequestMergeStatusUpdated",
                ),
                (PullRequestStatus::Open, _) => Event::ignore(
                    "pull request status changed but it is still Open (CodeCommit cannot reopen a pull request)",
                ),
            })
        }
        "pullRequestMergeStatusUpdated" => {
            let (pull_request, raw) = pull_request(typed(payload)?)?;
            Ok(if pull_request.is_merged {
                Event::Cleanup {
                    reason: CleanupReason::Merged {
                        merge_option: raw.merge_option,
                    },
                    pull_request,
                }
            } else {
                Event::ignore("merge status updated but the pull request is not merged")
            })
        }
        "pullRequestApprovalRuleOverridden" => {
            let (pull_request, raw) = pull_request(typed(payload)?)?;
            let status = required(raw.override_status, "detail.overrideStatus")?;
            Ok(match status.as_str() {
                "OVERRIDE" => Event::Bypass {
                    overridden_by: pull_request.caller_arn.clone(),
                    pull_request,
                },
                "REVOKE" => Event::ignore(
                    "approval rule override revoked: the approval rules apply again, nothing to gate",
                ),
                other => Event::ignore(format!(
                    "unknown overrideStatus '{other}' on pullRequestApprovalRuleOverridden"
                )),
            })
        }
        "pullRequestApprovalRuleCreated" => Ok(Event::ignore(
            "approval rule created: rules are configuration, not a new revision to gate",
        )),
        "pullRequestApprovalRuleUpdated" | "pullRequestApprovalRuleDeleted" => {
            let change = if event == "pullRequestApprovalRuleDeleted" {
                RuleChange::Deleted
            } else {
                RuleChange::Updated
            };
            // Read leniently, before the pull request: a rule name that is not text is missing.
            let rule = text(detail, "approvalRuleName")
                .filter(|r| !r.trim().is_empty())
                .map(str::to_owned);
            let rule = required(rule, "detail.approvalRuleName")?;
            Ok(Event::RuleChanged {
                pull_request: pull_request(typed(payload)?)?.0,
                rule,
                change,
            })
        }
        "pullRequestApprovalStateChanged" => {
            Ok(Event::ignore(match text(detail, "approvalStatus") {
                Some(status) => format!(
                    "approval state changed ({status}): approval state changes are the gate's own output"
                ),
                None => "approval state changes are the gate's own output".to_owned(),
            }))
        }
        other => Ok(Event::ignore(format!(
            "unknown pull request event '{other}'"
        ))),
    }
}

fn pull_request(
    event: EventBridgeEvent<RawPrDetail>,
) -> Result<(PullRequest, RawPrDetail), EventError> {
    let mut raw = event.detail;
    let names = required(raw.repository_names.take(), "detail.repositoryNames")?;
    let repository = match names.into_iter().next() {
        Some(name) => non_empty(name, "detail.repositoryNames[0]")?,
        None => {
            return Err(EventError::invalid(
                "detail.repositoryNames",
                "must name at least one repository, got []",
            ));
        }
    };
    let status = match required(raw.pull_request_status.take(), "detail.pullRequestStatus")? {
        s if s.eq_ignore_ascii_case("Open") => PullRequestStatus::Open,
        s if s.eq_ignore_ascii_case("Closed") => PullRequestStatus::Closed,
        s => {
            return Err(EventError::invalid(
                "detail.pullRequestStatus",
                format!("must be \"Open\" or \"Closed\", got {}", quoted(&s)),
            ));
        }
    };
    let is_merged = match required(raw.is_merged.take(), "detail.isMerged")? {
        s if s.eq_ignore_ascii_case("True") => true,
        s if s.eq_ignore_ascii_case("False") => false,
        s => {
            return Err(EventError::invalid(
                "detail.isMerged",
                format!("must be \"True\" or \"False\", got {}", quoted(&s)),
            ));
        }
    };
    let pull_request = PullRequest {
        repository: RepositoryName::new(repository),
        id: PullRequestId::new(required_id(
            raw.pull_request_id.take(),
            "detail.pullRequestId",
        )?),
        title: required(raw.title.take(), "detail.title")?,
        description: raw.description.take(),
        author: required(raw.author.take(), "detail.author")?,
        caller_arn: required_id(raw.caller_user_arn.take(), "detail.callerUserArn")?,
        source_reference: required_id(raw.source_reference.take(), "detail.sourceReference")?,
        destination_reference: required_id(
            raw.destination_reference.take(),
            "detail.destinationReference",
        )?,
        source_commit: CommitId::new(required_id(
            raw.source_commit.take(),
            "detail.sourceCommit",
        )?),
        destination_commit: CommitId::new(required_id(
            raw.destination_commit.take(),
            "detail.destinationCommit",
        )?),
        revision_id: raw
            .revision_id
            .take()
            .filter(|r| !r.trim().is_empty())
            .map(RevisionId::new),
        status,
        is_merged,
        creation_date: required(raw.creation_date.take(), "detail.creationDate")?,
        last_modified_date: required(raw.last_modified_date.take(), "detail.lastModifiedDate")?,
        region: event.region,
        account: event.account,
    };
    Ok((pull_request, raw))
}

fn pr_comment(payload: Value) -> Result<Event, EventError> {
    let kind: RawKind = decode(detail_object(&payload)?, DETAIL)?;
    let event = required(kind.event, "detail.event")?;
    match event.as_str() {
        "commentOnPullRequestCreated" => {}
        "commentOnPullRequestUpdated" => {
            return Ok(Event::ignore("edited comments are not commands"));
        }
        other => {
            return Ok(Event::ignore(format!(
                "unknown pull request comment event '{other}'"
            )));
        }
    }
    let event: EventBridgeEvent<RawCommentDetail> = typed(payload)?;
    let raw = event.detail;
    Ok(Event::Command(CommentEvent {
        kind: CommentEventKind::Created,
        repository: RepositoryName::new(required_id(raw.repository_name, "detail.repositoryName")?),
        pull_request_id: PullRequestId::new(required_id(
            raw.pull_request_id,
            "detail.pullRequestId",
        )?),
        comment_id: CommentId::new(required_id(raw.comment_id, "detail.commentId")?),
        in_reply_to: raw
            .in_reply_to
            .filter(|r| !r.trim().is_empty())
            .map(CommentId::new),
        before_commit: CommitId::new(required_id(raw.before_commit_id, "detail.beforeCommitId")?),
        after_commit: CommitId::new(required_id(raw.after_commit_id, "detail.afterCommitId")?),
        caller_arn: required_id(raw.caller_user_arn, "detail.callerUserArn")?,
        display_name: raw.display_name,
        email: raw.email_address,
        region: event.region,
        account: event.account,
    }))
}

fn repository_state_change(payload: Value) -> Result<Event, EventError> {
    let kind: RawKind = decode(detail_object(&payload)?, DETAIL)?;
    let event = required(kind.event, "detail.event")?;
    match event.as_str() {
        // A created branch is a branch that moved from nothing: an environment's branch
        // pushed for the first time has its first release to start.
        "referenceUpdated" | "referenceCreated" => {}
        "referenceDeleted" => {
            return Ok(Event::ignore(
                "reference deleted: CodeCommit closes the pull requests of a deleted branch",
            ));
        }
        "unreferencedMergeCommitCreated" => {
            return Ok(Event::ignore(
                "an unreferenced merge commit moves no branch",
            ));
        }
        other => {
            return Ok(Event::ignore(format!("unknown repository event '{other}'")));
        }
    }
    let raw = typed::<RawRepositoryDetail>(payload)?.detail;
    let reference = match (raw.reference_full_name, raw.reference_type.as_deref()) {
        (Some(full), _) if full.starts_with("refs/heads/") => full,
        (Some(full), _) if full.starts_with("refs/") => {
            return Ok(Event::ignore(format!("reference {full} is not a branch")));
        }
        (_, Some(kind)) if kind != "branch" => {
            return Ok(Event::ignore(format!(
                "reference type '{kind}' is not a branch"
            )));
        }
        (_, _) => format!(
            "refs/heads/{}",
            required_id(raw.reference_name, "detail.referenceName")?
        ),
    };
    Ok(Event::BranchMoved(BranchMoved {
        repository: RepositoryName::new(required_id(raw.repository_name, "detail.repositoryName")?),
        reference,
        commit: CommitId::new(required_id(raw.commit_id, "detail.commitId")?),
        old_commit: raw
            .old_commit_id
            .filter(|c| !c.trim().is_empty())
            .map(CommitId::new),
        caller_arn: raw.caller_user_arn.filter(|c| !c.trim().is_empty()),
    }))
}

fn execution_status(payload: Value) -> Result<Event, EventError> {
    let status: RawStatus = decode(detail_object(&payload)?, DETAIL)?;
    let status = match required(status.status, "detail.status")?.as_str() {
        "SUCCEEDED" => RunStatus::Succeeded,
        "FAILED" => RunStatus::Failed,
        "TIMED_OUT" => RunStatus::TimedOut,
        "ABORTED" => RunStatus::Aborted,
        "RUNNING" => return Ok(Event::ignore("execution still RUNNING")),
        "PENDING_REDRIVE" => {
            return Ok(Event::ignore(
                "execution is PENDING_REDRIVE: it has been redriven and will report again when it finishes",
            ));
        }
        other => {
            return Ok(Event::ignore(format!("unknown execution status '{other}'")));
        }
    };
    let raw = typed::<RawExecutionDetail>(payload)?.detail;
    let input = double_encoded(raw.input, "detail.input")?;
    let output = double_encoded(raw.output, "detail.output")?;
    Ok(Event::RunFinished(RunFinished {
        execution_arn: required_id(raw.execution_arn, "detail.executionArn")?,
        state_machine_arn: required_id(raw.state_machine_arn, "detail.stateMachineArn")?,
        name: required_id(raw.name, "detail.name")?,
        status,
        start_date_ms: required(raw.start_date, "detail.startDate")?,
        stop_date_ms: raw.stop_date,
        input_included: raw
            .input_details
            .and_then(|d| d.included)
            .unwrap_or(input.is_some()),
        input,
        output_included: raw
            .output_details
            .and_then(|d| d.included)
            .unwrap_or(output.is_some()),
        output,
        error: raw.error,
        cause: raw.cause,
    }))
}

// ---------------------------------------------------------------------------------------------
// Helpers: every error names its field.

/// A field the event cannot do without; `null` counts as missing.
fn required<T>(value: Option<T>, field: &str) -> Result<T, EventError> {
    value.ok_or_else(|| EventError::missing(field))
}

/// A required identifier: present and not blank.
fn required_id(value: Option<String>, field: &str) -> Result<String, EventError> {
    non_empty(required(value, field)?, field)
}

fn non_empty(value: String, field: &str) -> Result<String, EventError> {
    if value.trim().is_empty() {
        Err(EventError::invalid(
            field,
            format!("must not be blank, got {}", quoted(&value)),
        ))
    } else {
        Ok(value)
    }
}

/// Step Functions sends `input`/`output` as a string containing JSON; decode it.
/// `null`/absent → `None`; a value that is already JSON (not a string) is taken as it is.
fn double_encoded(value: Option<Value>, field: &str) -> Result<Option<Value>, EventError> {
    match value {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(text)) => serde_json::from_str(&text).map(Some).map_err(|err| {
            EventError::invalid(
                field,
                format!("must be a string containing JSON, but it does not parse: {err}"),
            )
        }),
        Some(other) => Ok(Some(other)),
    }
}

/// The `detail` object of a known detail-type.
fn detail_object(payload: &Value) -> Result<&Value, EventError> {
    match payload.get(DETAIL) {
        None | Some(Value::Null) => Err(EventError::missing(DETAIL)),
        Some(object @ Value::Object(_)) => Ok(object),
        Some(other) => Err(not_an_object(DETAIL, other)),
    }
}

/// `detail.<key>` when it is a string; anything else reads as absent.
fn text<'a>(detail: &'a Value, key: &str) -> Option<&'a str> {
    detail.get(key).and_then(Value::as_str)
}

/// Decodes the object at `path` into a raw struct whose fields are all `Option`; a value of the
/// wrong type is named by its JSON path (the first such value, in the payload's order).
fn decode<T: DeserializeOwned>(object: &Value, path: &str) -> Result<T, EventError> {
    if !object.is_object() {
        return Err(not_an_object(path, object));
    }
    serde_path_to_error::deserialize(object).map_err(|err| wrong_type(path, &err))
}

/// The whole payload as `aws_lambda_events`' envelope over our detail type `D`, once the
/// pre-check has passed (`detail-type` a string, `source`, `account` and `region` strings or
/// absent, `detail` an object).
///
/// The crate's envelope is stricter than the gate about fields the gate never reads, and this
/// step keeps it from rejecting an event the gate has always taken:
/// - `source` is a required string there; a payload without one (a trimmed replay) gets `""`,
///   "unknown". Nothing reads the `source` of these events: the sweep, which depends on it, is
///   answered by the pre-check.
/// - `version`, `id`, `time` (ISO-8601 only) and `resources` ([`UNREAD_ENVELOPE_KEYS`]) are
///   typed there; one the crate rejects is removed and the payload decoded again (at most once
///   per key). A well-formed one is kept.
///
/// Any other error is in `detail` and is named by its path, as by [`decode`].
fn typed<D: Serialize + DeserializeOwned>(
    mut payload: Value,
) -> Result<EventBridgeEvent<D>, EventError> {
    if let Some(map) = payload.as_object_mut()
        && !map.get("source").is_some_and(Value::is_string)
    {
        map.insert("source".to_owned(), Value::String(String::new()));
    }
    loop {
        let err = match serde_path_to_error::deserialize(&payload) {
            Ok(event) => return Ok(event),
            Err(err) => err,
        };
        let unread = match err.path().iter().next() {
            Some(serde_path_to_error::Segment::Map { key })
                if UNREAD_ENVELOPE_KEYS.contains(&key.as_str()) =>
            {
                key.clone()
            }
            _ => return Err(wrong_type(ROOT, &err)),
        };
        let removed = payload
            .as_object_mut()
            .and_then(|map| map.shift_remove(&unread));
        if removed.is_none() {
            return Err(wrong_type(ROOT, &err));
        }
    }
}

/// "`detail.pullRequestId` has the wrong type: …", the path being `base` followed by where in
/// it serde gave up.
fn wrong_type(base: &str, err: &serde_path_to_error::Error<serde_json::Error>) -> EventError {
    let mut field = base.to_owned();
    for segment in err.path() {
        match segment {
            serde_path_to_error::Segment::Seq { index } => field = format!("{field}[{index}]"),
            serde_path_to_error::Segment::Map { key } => field = child_path(&field, key),
            serde_path_to_error::Segment::Enum { variant } => field = child_path(&field, variant),
            serde_path_to_error::Segment::Unknown => field = child_path(&field, "?"),
        }
    }
    EventError::invalid(field, format!("has the wrong type: {}", err.inner()))
}

fn child_path(parent: &str, key: &str) -> String {
    if parent == ROOT {
        key.to_owned()
    } else {
        format!("{parent}.{key}")
    }
}

fn not_an_object(path: &str, value: &Value) -> EventError {
    EventError::invalid(
        path,
        format!("must be a JSON object, got {}", json_kind(value)),
    )
}

fn json_kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// A value quoted as JSON, so blanks and control characters stay visible.
fn quoted(text: &str) -> String {
    Value::String(text.to_owned()).to_string()
}

/// Explains payloads that are not EventBridge events but look like something we know.
fn not_eventbridge_hint(envelope: &Map<String, Value>) -> Option<String> {
    if envelope.contains_key("detailType") {
        Some(
            "this looks like a CodeStar Notifications message (`detailType`); route the EventBridge event instead"
                .to_owned(),
        )
    } else if envelope.contains_key("Records") {
        Some("this looks like an SNS/SQS batch; pass the EventBridge event itself".to_owned())
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pr_event(event: &str, extra: Value) -> Value {
        let mut detail = serde_json::json!({
            "author": "arn:aws:iam::123456789012:user/Mary_Major",
            "callerUserArn": "arn:aws:iam::123456789012:user/Mary_Major",
            "creationDate": "Tue Oct 10 21:32:51 UTC 2023",
            "destinationCommit": "1111111111111111111111111111111111111111",
            "destinationReference": "refs/heads/main",
            "event": event,
            "isMerged": "False",
            "lastModifiedDate": "Tue Oct 10 21:32:51 UTC 2023",
            "notificationBody": "text",
            "pullRequestId": "7",
            "pullRequestStatus": "Open",
            "repositoryNames": ["my-repo"],
            "revisionId": "r",
            "sourceCommit": "2222222222222222222222222222222222222222",
            "sourceReference": "refs/heads/feature/x",
            "title": "t"
        });
        if let (Some(detail), Value::Object(extra)) = (detail.as_object_mut(), extra) {
            detail.extend(extra);
        }
        serde_json::json!({
            "detail-type": DETAIL_TYPE_PR_STATE,
            "source": "aws.codecommit",
            "region": "us-east-1",
            "account": "123456789012",
            "detail": detail
        })
    }

    #[test]
    fn created_is_gate_with_branches() {
        let event = parse_value(pr_event("pullRequestCreated", Value::Null)).expect("parses");
        let pr = event.pull_request().expect("has a pull request");
        assert_eq!(event.action(), "gate");
        assert_eq!(pr.source_branch(), "feature/x");
        assert_eq!(pr.destination_branch(), "main");
        assert_eq!(pr.region.as_deref(), Some("us-east-1"));
    }

    #[test]
    fn branch_name_keeps_non_branch_refs() {
        assert_eq!(branch_name("refs/tags/v1"), "refs/tags/v1");
        assert_eq!(branch_name("main"), "main");
    }

    #[test]
    fn wrong_type_names_the_field() {
        let err = parse_value(pr_event(
            "pullRequestCreated",
            serde_json::json!({"pullRequestId": 7}),
        ))
        .expect_err("number id");
        assert_eq!(err.field(), Some("detail.pullRequestId"));
        assert!(err.to_string().contains("wrong type"), "{err}");
    }

    #[test]
    fn null_required_field_is_missing() {
        let err = parse_value(pr_event(
            "pullRequestCreated",
            serde_json::json!({"sourceCommit": null}),
        ))
        .expect_err("null commit");
        assert_eq!(err.to_string(), "missing field `detail.sourceCommit`");
    }

    #[test]
    fn blank_id_is_invalid() {
        let err = parse_value(pr_event(
            "pullRequestCreated",
            serde_json::json!({"sourceCommit": "  "}),
        ))
        .expect_err("blank commit");
        assert_eq!(
            err.to_string(),
            "`detail.sourceCommit` must not be blank, got \"  \""
        );
    }

    #[test]
    fn root_must_be_an_object() {
        let err = parse("[1, 2]").expect_err("array");
        assert_eq!(err.to_string(), "`$` must be a JSON object, got an array");
        assert_eq!(err.field(), Some("$"));
    }

    #[test]
    fn malformed_json_keeps_position_once() {
        let err = parse("{\n  \"a\": }").expect_err("malformed");
        match &err {
            EventError::MalformedJson {
                line,
                column,
                message,
            } => {
                assert_eq!((*line, *column), (2, 8));
                assert!(!message.contains("line"), "{message}");
            }
            other => panic!("unexpected {other:?}"),
        }
        assert_eq!(
            err.to_string(),
            "malformed JSON at line 2, column 8: expected value"
        );
    }

    #[test]
    fn double_encoded_values() {
        assert_eq!(double_encoded(None, "f"), Ok(None));
        assert_eq!(double_encoded(Some(Value::Null), "f"), Ok(None));
        assert_eq!(
            double_encoded(Some(Value::String("{\"a\":1}".into())), "f"),
            Ok(Some(serde_json::json!({"a": 1})))
        );
        assert_eq!(
            double_encoded(Some(serde_json::json!({"a": 1})), "f"),
            Ok(Some(serde_json::json!({"a": 1})))
        );
        let err = double_encoded(Some(Value::String("nope".into())), "detail.output")
            .expect_err("not JSON");
        assert_eq!(err.field(), Some("detail.output"));
    }

    #[test]
    fn event_serialises_with_action_tag() {
        let json = serde_json::to_value(Event::ignore("why")).expect("serialises");
        assert_eq!(
            json,
            serde_json::json!({"action": "ignore", "reason": "why"})
        );
    }
}
