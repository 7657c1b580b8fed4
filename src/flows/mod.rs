//! The gate's two flows, written against the ports: gate-start (an event → a plan → a running gate) and gate-report (run results → one comment, an approval, the ledger), and the steps they share.
//!
//! A flow takes `&Deps<T>`: the four ports bundled by [`Ports`] and the settings. The AWS
//! Lambdas, the embedded default (`GATE_BACKEND=local`, `gate run`'s replay) and the tests pass
//! different adapters; the flow is the same code.

pub mod gate_report;
pub mod gate_start;
pub mod release_approval;
pub mod release_start;
pub mod steps;

use crate::config::Settings;
use crate::ids::{PullRequestId, RepositoryName};
use crate::ports::{Executions, Ledger, Notifier, PortError, PullRequests};

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
