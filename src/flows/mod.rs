//! The gate's two flows, written against the ports: gate-start (an event → a plan → a running gate) and gate-report (run results → one comment, an approval, the ledger), and the steps they share.
//!
//! A flow takes `&Deps<T>`: the five ports bundled by [`Ports`] and the settings. The AWS
//! Lambdas, the embedded default (`gate run`, the replay binaries) and the tests pass
//! different adapters; the flow is the same code.

pub mod build_reports;
pub mod coverage_bases;
pub mod gate_report;
pub mod gate_start;
pub mod merge_queue;
pub mod release_approval;
pub mod release_finish;
pub mod release_start;
pub mod reuse;
pub mod steps;

use crate::announce::{Announcement, RUN_DETAIL_TYPE, RunChange, RunState};
use crate::config::Settings;
use crate::ids::{PullRequestId, RepositoryName};
use crate::ports::RunVerdict;
use crate::ports::{Bus, Executions, Ledger, Notifier, PortError, PullRequests};

/// The five ports a flow is written against, as one type parameter: a flow is generic over
/// `T: Ports` instead of five parameters with five bounds. Any `(P, E, L, N, B)` tuple of
/// adapters is one: `Deps<(AwsPullRequests, AwsExecutions, AwsLedger, AwsNotifier, AwsBus)>`
/// on AWS, the local adapters for the embedded default, the in-memory fakes in tests, or a mix.
pub trait Ports {
    /// CodeCommit.
    type PullRequests: PullRequests;
    /// Step Functions (or the local runner).
    type Executions: Executions;
    /// DynamoDB (or local files).
    type Ledger: Ledger;
    /// SNS (or standard error).
    type Notifier: Notifier;
    /// EventBridge (or `.gate/events.jsonl`).
    type Bus: Bus;
}

impl<P: PullRequests, E: Executions, L: Ledger, N: Notifier, B: Bus> Ports for (P, E, L, N, B) {
    type PullRequests = P;
    type Executions = E;
    type Ledger = L;
    type Notifier = N;
    type Bus = B;
}

/// Everything a flow needs: the five ports and the settings. Built once per cold start.
pub struct Deps<T: Ports> {
    /// CodeCommit.
    pub prs: T::PullRequests,
    /// Step Functions.
    pub executions: T::Executions,
    /// DynamoDB.
    pub ledger: T::Ledger,
    /// SNS.
    pub notifier: T::Notifier,
    /// EventBridge's default bus: run and release state changes for teams to route.
    pub bus: T::Bus,
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

/// Puts `event` on the bus, best effort: an announcement that fails never changes a verdict
/// or a release's outcome. The failure is logged with its error and counted (the
/// `AnnouncementsFailed` metric, an EMF line on standard output), and the flow goes on.
/// Returns whether the bus took it.
pub async fn announce<T: Ports>(deps: &Deps<T>, event: &Announcement) -> bool {
    match deps.bus.put(event).await {
        Ok(()) => true,
        Err(error) => {
            tracing::error!(
                call = error.call(),
                detail_type = %event.detail_type,
                resources = ?event.resources,
                %error,
                "announcement failed; the flow goes on without it"
            );
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_millis() as i64);
            // EMF: CloudWatch turns this stdout line into the metric.
            println!(
                "{}",
                crate::metrics::announcement_failed(&event.detail_type, now)
            );
            false
        }
    }
}

/// The run state a recorded verdict announces.
pub fn run_state(verdict: RunVerdict) -> RunState {
    match verdict {
        RunVerdict::Passed => RunState::Passed,
        RunVerdict::Failed => RunState::Failed,
        RunVerdict::Refused => RunState::Refused,
        RunVerdict::Outdated => RunState::Outdated,
    }
}

/// A pull request run's state change as an event about its execution (when it has one).
pub fn run_announcement(
    subject: &crate::report::Subject,
    state: RunState,
    checks: Vec<String>,
    execution_arn: Option<&str>,
) -> Announcement {
    let change = RunChange {
        state,
        repository: subject.repository.as_str().to_owned(),
        pull_request_id: subject.pull_request_id.as_str().to_owned(),
        source_commit: subject.source_commit.as_str().to_owned(),
        destination_commit: subject.destination_commit.as_str().to_owned(),
        checks,
        execution_arn: execution_arn.map(str::to_owned),
    };
    Announcement {
        detail_type: RUN_DETAIL_TYPE.to_owned(),
        resources: execution_arn.map(str::to_owned).into_iter().collect(),
        detail: serde_json::to_value(&change).unwrap_or_default(),
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
