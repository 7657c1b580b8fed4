//! What the release state machine (`statemachine/release.asl.json`) and the gate-release
//! Lambda send each other. Pure data: the state machine builds these with JSONPath, the
//! Lambda parses them at the edge, and tests/release_asl.rs checks in moto that what the
//! definition sends parses into exactly these types.
//!
//! - [`ApprovalRequest`]: the approval step (`lambda:invoke.waitForTaskToken`) sends the
//!   release and its task token; gate-release stores the token in the environment's record
//!   (never in a notification) and announces that the release waits.
//! - [`ApprovalAnswer`]: what gate-approve returns to the waiting state machine with
//!   `SendTaskSuccess` (approved) or puts in the cause of `SendTaskFailure` (error
//!   [`APPROVAL_REFUSED_ERROR`]) when refused.
//! - [`ReleaseReport`]: the last step sends everything that happened; gate-release records it,
//!   moves the environment, starts the queued release, announces and notifies.

use super::ReleaseExecutionInput;
use crate::machine::{CheckRun, MachineError, StageChain};
use crate::release::ApprovalDecision;
use serde::{Deserialize, Serialize};

/// The error name of `SendTaskFailure` when an approval is refused.
pub const APPROVAL_REFUSED_ERROR: &str = "Gate.ApprovalRefused";

/// Which step of the release machine invokes gate-release.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum ReleaseStep {
    /// The release waits for a person (`.waitForTaskToken`).
    AwaitApproval(Box<ApprovalRequest>),
    /// The release ended (every path): record, move on, announce.
    Finish(Box<ReleaseReport>),
}

/// The approval step's payload.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApprovalRequest {
    /// The release.
    pub input: ReleaseExecutionInput,
    /// `$$.Task.Token`: whoever holds it can resume the release. Stored, never published.
    pub task_token: String,
    /// `$$.Execution.Id`.
    pub execution_arn: String,
    /// The environment's checks' results (what the approver is shown), when checks ran.
    #[serde(default)]
    pub checks: Option<StageChain>,
}

/// How a decision reached the gate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ApprovalChannel {
    /// `/gate approve|reject <environment>` in a pull-request comment (CodeCommit
    /// authenticated the commenter).
    Comment,
    /// `gate approve|reject` through the function URL (`AWS_IAM` auth: SigV4).
    FunctionUrl,
}

/// A decision on a waiting release.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApprovalAnswer {
    /// The caller's IAM ARN, as AWS authenticated it.
    pub approver: String,
    /// When, RFC 3339 UTC.
    pub at: String,
    /// Approved, refused by the person, or refused by the rules (not an approver, the
    /// author alone).
    pub decision: ApprovalDecision,
    /// How it was given.
    pub channel: ApprovalChannel,
    /// The reason given with a rejection (`-- reason`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// One deploy, rollback or package build as the release machine records it: the gate's
/// [`CheckRun`] with the component's name as its `name`.
pub type BuildRun = CheckRun;

/// What the release machine's last step sends.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReleaseReport {
    /// The release, as started.
    pub input: ReleaseExecutionInput,
    /// `$$.Execution.Id`.
    pub execution_arn: String,
    /// `$$.Execution.StartTime`.
    #[serde(default)]
    pub started_at: Option<String>,
    /// The checks' results (the nested gate-machine execution's stage chain), when they ran.
    #[serde(default)]
    pub checks: Option<StageChain>,
    /// The approval, when one was given (the task's output).
    #[serde(default)]
    pub approval: Option<ApprovalAnswer>,
    /// How the approval step failed, when it did: [`APPROVAL_REFUSED_ERROR`] (cause: the
    /// [`ApprovalAnswer`] as JSON) or `States.Timeout`.
    #[serde(default)]
    pub approval_error: Option<MachineError>,
    /// The package builds that ran (a reused artifact has none).
    #[serde(default)]
    pub packages: Vec<BuildRun>,
    /// The deploy builds, wave by wave, as far as they went.
    #[serde(default)]
    pub deploys: Vec<Vec<BuildRun>>,
    /// The rollback builds, in the order they ran (reverse of the deploys).
    #[serde(default)]
    pub rollbacks: Vec<BuildRun>,
    /// An error the machine caught outside any build.
    #[serde(default)]
    pub failure: Option<MachineError>,
}
