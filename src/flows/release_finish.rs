//! gate-release's `finish` step: the release machine ended (every path ends here) → the
//! release's record → the environment moved (when it released) and the lane moved on → the
//! queued release started → the end announced and, unless it released, notified.
//!
//! Step Functions retries `lambda:invoke`, so a finish can be delivered again. Each step is
//! safe to repeat: the record is stored by its id (the execution's name); the lane is written
//! conditionally and only while this release is the one running, so exactly one delivery
//! moves it (another finds it moved on); the queued release starts under its deterministic
//! name, so a second start is `AlreadyExists`. Only the delivery that moved the lane announces
//! the end and publishes the notice: at most once each (a delivery that fails after moving
//! the lane is retried, and the retry starts the queued release but does not notify again).

use super::build_reports::read_stage_reports;
use super::release_start::{
    ReleaseStart, release_announcement, release_change, start_lane_release,
};
use super::{Deps, Ports, announce};
use crate::announce::ReleaseState;
use crate::clock::Utc;
use crate::ids::RepositoryName;
use crate::machine::StageChain;
use crate::machine::release::payload::ReleaseReport;
use crate::ports::test_reports::TestReports;
use crate::ports::{EnvironmentRecord, Ledger, Notifier, PortError, PortResult, Written};
use crate::release::finished::release_record;
use crate::release::lane::LaneRelease;
use crate::release::{ReleaseOutcome, ReleaseRecord};
use serde::Serialize;

/// How often the environment's record is read again after another writer won.
const LANE_ATTEMPTS: usize = 5;

/// What the end of a release did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FinishOutcome {
    /// The release's id (its execution's name).
    pub release: String,
    /// How it ended.
    pub outcome: ReleaseOutcome,
    /// The state announced ([`ReleaseState::Succeeded`], `Failed`, `RolledBack` or `Rejected`).
    pub state: ReleaseState,
    /// Whether this delivery moved the lane on (`false`: a redelivery, or the lane had moved on).
    pub lane_moved: bool,
    /// Whether the environment moved to the released commit.
    pub environment_moved: bool,
    /// The queued release this end started, if one waited.
    pub next: Option<ReleaseStart>,
    /// Whether a notice was published.
    pub notified: bool,
}

/// The release's terminal state for the bus.
pub fn terminal_state(record: &ReleaseRecord) -> ReleaseState {
    match record.outcome {
        ReleaseOutcome::Released | ReleaseOutcome::NothingToRelease => ReleaseState::Succeeded,
        ReleaseOutcome::ApprovalMissing | ReleaseOutcome::ApprovalRefused => ReleaseState::Rejected,
        _ if !record.rollbacks.is_empty() => ReleaseState::RolledBack,
        ReleaseOutcome::DeployFailed => ReleaseState::RolledBack,
        _ => ReleaseState::Failed,
    }
}

/// Whether an outcome is worth a notice: failures, rollbacks and an approval nobody gave in
/// time; not a success, and not a person's refusal (they know).
fn notifies(outcome: ReleaseOutcome) -> bool {
    !matches!(
        outcome,
        ReleaseOutcome::Released
            | ReleaseOutcome::NothingToRelease
            | ReleaseOutcome::ApprovalRefused
            | ReleaseOutcome::Superseded
    )
}

/// Records the end of the release `report` tells of, with what its checks' declared test and
/// coverage reports said (read through `reader` from the checks' builds, as gate-report reads
/// a pull request's), moves the environment and its lane on, starts the queued release,
/// announces and notifies. `Err` is an infrastructure fault (the invocation fails and Step
/// Functions retries it); what was done before it is not undone and is not done twice.
pub async fn finish<T: Ports, R: TestReports>(
    deps: &Deps<T>,
    reader: &R,
    report: &ReleaseReport,
) -> PortResult<FinishOutcome> {
    let now = Utc::now();
    let now_ms = crate::metrics::parse_rfc3339_ms(&now.rfc3339_millis()).unwrap_or(0);
    let runs = StageChain::runs(report.checks.as_ref());
    // Boxed: the CodeBuild reads nest deep enough to overflow the compiler's query depth
    // when laid out inline in gate-release's handler future.
    let reports = Box::pin(read_stage_reports(reader, &report.input.checks, &runs)).await;
    let record = release_record(report, &reports, &now.rfc3339(), now_ms);
    let repository = &report.input.repository;
    deps.ledger.put_release(repository, &record).await?;
    let step = move_lane(deps, report, &record, &now.rfc3339()).await?;
    let state = terminal_state(&record);
    let mut notified = false;
    if step.moved {
        let change = release_change(state, &record.plan, repository);
        let reason = crate::report::release::reason_line(&record);
        announce(
            deps,
            &release_announcement(change, &report.execution_arn, reason),
        )
        .await;
        notified = notify(deps, &record, &report.execution_arn).await;
    }
    let next = match step.next {
        Some(next) => {
            Some(start_lane_release(deps, repository, &step.record, next, step.moved).await?)
        }
        None => None,
    };
    tracing::info!(release = %record.id, outcome = ?record.outcome, lane_moved = step.moved, next = ?next, "release finished");
    Ok(FinishOutcome {
        release: record.id,
        outcome: record.outcome,
        state,
        lane_moved: step.moved,
        environment_moved: step.moved && record.outcome.moved(),
        next,
        notified,
    })
}

/// Publishes the notice of a release that did not release, best effort: a failed publish is
/// logged and does not fail the finish (the lane moved already; a retry would not notify).
async fn notify<T: Ports>(deps: &Deps<T>, record: &ReleaseRecord, execution_arn: &str) -> bool {
    if !notifies(record.outcome) {
        return false;
    }
    let subject = crate::report::release::notice_subject(record);
    let message = crate::report::release::notice(record, execution_arn);
    match deps.notifier.publish(&subject, &message).await {
        Ok(()) => true,
        Err(error) => {
            tracing::error!(call = error.call(), release = %record.id, %error, "the release's notice was not published");
            false
        }
    }
}

/// What the lane step did.
struct LaneStep {
    /// The environment's record as written (or as read, when nothing was written).
    record: EnvironmentRecord,
    /// Whether this delivery moved the lane on.
    moved: bool,
    /// The release to start now.
    next: Option<LaneRelease>,
}

/// While this release is the lane's running one, writes in one conditional write: the
/// environment's new state (when it released), no pending approval, and the lane moved on
/// (the queued release runs next). Re-reads after another writer won. A lane that moved on
/// already (a redelivery) is not written; its running release, if it is the one this release
/// handed over to, is returned to start again (a start that failed is not lost).
async fn move_lane<T: Ports>(
    deps: &Deps<T>,
    report: &ReleaseReport,
    record: &ReleaseRecord,
    now: &str,
) -> PortResult<LaneStep> {
    let input = &report.input;
    let (repository, environment) = (&input.repository, input.environment.as_str());
    for _ in 0..LANE_ATTEMPTS {
        let mut env = read_environment(deps, repository, environment).await?;
        let ours = env
            .lane
            .running
            .as_ref()
            .is_some_and(|r| r.commit == input.commit.as_str() && r.sequence == input.sequence);
        if !ours {
            let handed_over = env
                .lane
                .running
                .clone()
                .filter(|r| r.sequence > input.sequence);
            tracing::info!(release = %record.id, "the lane moved on already: a redelivered finish");
            return Ok(LaneStep {
                record: env,
                moved: false,
                next: handed_over,
            });
        }
        if record.outcome.moved() {
            env.state = env.state.after(record, now);
        }
        if env
            .pending_approval
            .as_ref()
            .is_some_and(|p| p.execution_name == input.execution_name)
        {
            env.pending_approval = None;
        }
        let next = env.lane.finished(input.commit.as_str(), input.sequence);
        if deps.ledger.put_environment(&env).await? == Written::Written {
            env.version += 1;
            return Ok(LaneStep {
                record: env,
                moved: true,
                next,
            });
        }
    }
    Err(PortError::Transient {
        call: "dynamodb:PutItem",
        message: format!(
            "the release lane of {repository} {environment} kept changing under \
             {LANE_ATTEMPTS} writes"
        ),
    })
}

async fn read_environment<T: Ports>(
    deps: &Deps<T>,
    repository: &RepositoryName,
    environment: &str,
) -> PortResult<EnvironmentRecord> {
    Ok(deps
        .ledger
        .environment(repository, environment)
        .await?
        .unwrap_or_else(|| EnvironmentRecord::new(repository.clone(), environment)))
}
