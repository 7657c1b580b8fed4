//! The queue's runs on the gate's own machinery: a queue entry's merge commit is planned under
//! the destination's trusted gate file and run by the gate's state machine, exactly as a pull
//! request's run is ([`crate::flows::gate_start::start_queue_run`]), from its gate branch.

use super::{QueueChecks, QueueRun};
use crate::flows::{Deps, Ports};
use crate::merge_queue::QueueStart;
use crate::ports::{Executions, PortResult, PullRequestState, PullRequests};

/// [`QueueChecks`] through gate-start's planning and Step Functions.
pub struct GateQueueChecks<'a, T: Ports> {
    /// gate-start's ports and settings.
    pub deps: &'a Deps<T>,
}

/// The pull request as a queue run tests it: the merge commit on the gate branch as its
/// source, the destination's tip when the merge was built as its destination commit, the
/// commit the merge was built on as its merge base (what the plan diffs against).
pub fn queue_view(pr: &PullRequestState, run: &QueueRun) -> PullRequestState {
    PullRequestState {
        source_reference: format!("refs/heads/{}", run.testing.gate_branch),
        source_commit: run.testing.merge_commit.clone(),
        destination_reference: format!("refs/heads/{}", run.destination),
        destination_commit: run.testing.tip.clone(),
        merge_base: Some(run.testing.tested_on.clone()),
        ..pr.clone()
    }
}

impl<T: Ports> QueueChecks for GateQueueChecks<'_, T> {
    async fn start(&self, run: &QueueRun) -> PortResult<QueueStart> {
        let pr = self.deps.prs.pull_request(&run.entry.pull_request).await?;
        let view = queue_view(&pr, run);
        crate::flows::gate_start::start_queue_run(self.deps, &view, &run.testing.execution_name)
            .await
    }

    async fn stop(&self, execution_arn: &str, cause: &str) -> PortResult<()> {
        if execution_arn.starts_with("decided:") {
            return Ok(());
        }
        self.deps.executions.stop(execution_arn, cause).await
    }
}
