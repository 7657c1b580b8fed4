//! The events the gate puts on the event bus, so teams can route its runs and releases to
//! chat, alarms or a rollback of their own: `source` [`SOURCE`], `detail-type`
//! [`RELEASE_DETAIL_TYPE`] or [`RUN_DETAIL_TYPE`]. The detail's shape is a contract with the
//! users' rules: fields are only ever added (docs/deploy.md has a sample rule).

use serde::{Deserialize, Serialize};

/// The events' `source`.
pub const SOURCE: &str = "codecommit-gate";
/// The `detail-type` of a release's state change.
pub const RELEASE_DETAIL_TYPE: &str = "Gate Release State Change";
/// The `detail-type` of a pull request run's state change.
pub const RUN_DETAIL_TYPE: &str = "Gate Run State Change";

/// One event for the bus.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Announcement {
    /// [`RELEASE_DETAIL_TYPE`] or [`RUN_DETAIL_TYPE`].
    pub detail_type: String,
    /// ARNs the event is about (the execution), EventBridge's `resources`.
    pub resources: Vec<String>,
    /// The detail, as JSON ([`ReleaseChange`] or [`RunChange`]).
    pub detail: serde_json::Value,
}

/// A release's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ReleaseState {
    /// The release machine started.
    Started,
    /// It waits for a person's approval.
    WaitingForApproval,
    /// Approved.
    Approved,
    /// Refused, or the wait ran out.
    Rejected,
    /// Deploying.
    Deploying,
    /// Every deploy passed.
    Succeeded,
    /// It failed before deploying anything (checks, package, approval, machine error).
    Failed,
    /// A deploy failed and what it deployed was rolled back.
    RolledBack,
    /// A newer push replaced it while it waited: it never ran.
    Superseded,
}

/// The detail of a [`RELEASE_DETAIL_TYPE`] event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReleaseChange {
    /// The state.
    pub state: ReleaseState,
    /// The repository.
    pub repository: String,
    /// The environment.
    pub environment: String,
    /// The released commit.
    pub commit: String,
    /// The environment's commit before it.
    pub previous_commit: Option<String>,
    /// The components it deploys.
    pub components: Vec<String>,
    /// The release machine's execution, once started.
    pub execution_arn: Option<String>,
    /// Why, for REJECTED, FAILED and ROLLED_BACK (plain text).
    pub reason: Option<String>,
}

impl ReleaseChange {
    /// The bus event of this change: detail-type [`RELEASE_DETAIL_TYPE`], the execution as
    /// its resource when there is one.
    pub fn announcement(&self) -> Announcement {
        Announcement {
            detail_type: RELEASE_DETAIL_TYPE.to_owned(),
            resources: self.execution_arn.iter().cloned().collect(),
            detail: serde_json::to_value(self).unwrap_or(serde_json::Value::Null),
        }
    }
}

/// A pull request run's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum RunState {
    /// The gate started checking a revision.
    Started,
    /// Every required check passed: approved.
    Passed,
    /// A required check failed or the run broke: revoked.
    Failed,
    /// The gate decided without running checks (invalid gate file, conflict, ...): revoked.
    Refused,
    /// The result no longer stands (the destination moved on): revoked.
    Outdated,
}

/// The detail of a [`RUN_DETAIL_TYPE`] event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunChange {
    /// The state.
    pub state: RunState,
    /// The repository.
    pub repository: String,
    /// The pull request.
    pub pull_request_id: String,
    /// The source commit under test.
    pub source_commit: String,
    /// The destination commit it merges into.
    pub destination_commit: String,
    /// The checks that ran or run.
    pub checks: Vec<String>,
    /// The execution, once started.
    pub execution_arn: Option<String>,
}
