//! The merge queue in the Lambdas: gate-start hands the events that concern a queue (a
//! `/gate merge` or `/gate unqueue` comment, a push to or close of a pull request, a move of a
//! destination branch) to the queue's flow after its own; gate-report hands over the end of a
//! queue entry's run ([`crate::flows::gate_report::ReportOutcome::QueueRun`]).

use super::diagnostic_of;
use crate::event::Event;
use crate::flows::merge_queue::gate_checks::GateQueueChecks;
use crate::flows::merge_queue::{self, Handled, QueueDeps, QueueFlowSettings};
use crate::flows::{Deps, Ports};
use crate::merge_queue::{Entry, RunEnd};
use crate::ports::PortResult;
use crate::ports::merges::{MergeQueues, Merges};
use lambda_runtime::Diagnostic;

/// The queue's own adapters (CodeCommit's merge calls and the queues), next to a flow's
/// [`Deps`].
#[derive(Debug, Clone)]
pub struct QueueAdapters<M, Q> {
    /// CodeCommit's branches and merges.
    pub merges: M,
    /// The queues.
    pub queues: Q,
}

/// The AWS queue adapters: the gate identity's CodeCommit client, the ledger's table.
pub type AwsQueueAdapters = QueueAdapters<crate::aws::AwsMerges, crate::aws::AwsMergeQueues>;

/// The AWS queue adapters, built once per cold start from the clients and the ledger of
/// [`super::aws_deps`]: the queues live in the ledger's table.
pub fn aws_queue_adapters(
    clients: &crate::aws::Clients,
    ledger: &crate::aws::AwsLedger,
) -> AwsQueueAdapters {
    QueueAdapters {
        merges: clients.merges(),
        queues: clients.merge_queues(ledger.table()),
    }
}

/// The author of the queue's merge commits.
pub const MERGE_AUTHOR: &str = "codecommit-gate";
/// Its email.
pub const MERGE_EMAIL: &str = "codecommit-gate@noreply.invalid";

impl<M: Merges + Clone, Q: MergeQueues<Entry> + Clone> QueueAdapters<M, Q> {
    /// The queue flow's deps over gate-start's or gate-report's.
    fn queue_deps<'a, T>(
        &self,
        deps: &'a Deps<T>,
    ) -> QueueDeps<(T::PullRequests, M, Q, GateQueueChecks<'a, T>)>
    where
        T: Ports,
        T::PullRequests: Clone,
    {
        QueueDeps {
            prs: deps.prs.clone(),
            merges: self.merges.clone(),
            queues: self.queues.clone(),
            checks: GateQueueChecks { deps },
            settings: QueueFlowSettings {
                gate_file_path: deps.settings.gate_file_path.clone(),
                approver_arn: deps.settings.approver_arn.clone(),
                author_name: MERGE_AUTHOR.to_owned(),
                email: MERGE_EMAIL.to_owned(),
            },
        }
    }

    /// What the queue does with a gate-start event; `None` for events no queue cares about.
    pub async fn on_event<T>(&self, deps: &Deps<T>, event: &Event) -> PortResult<Option<Handled>>
    where
        T: Ports,
        T::PullRequests: Clone,
    {
        let q = self.queue_deps(deps);
        Ok(Some(match event {
            Event::Command(c) => {
                merge_queue::command(&q, &c.pull_request_id, &c.comment_id, now_ms()).await?
            }
            Event::Gate { pull_request, .. } => {
                merge_queue::source_updated(&q, &pull_request.id, &pull_request.source_commit)
                    .await?
            }
            Event::Cleanup { pull_request, .. } => {
                merge_queue::closed(&q, &pull_request.id).await?
            }
            Event::BranchMoved(moved) => {
                merge_queue::settle(&q, &moved.repository, moved.branch()).await?
            }
            _ => return Ok(None),
        }))
    }

    /// gate-start with the merge queue: [`super::start_handler`], then the queue's part of the
    /// event. A queue failure is a Lambda error (EventBridge retries; both parts are
    /// idempotent).
    pub async fn start_handler<T>(
        &self,
        deps: &Deps<T>,
        payload: serde_json::Value,
    ) -> Result<serde_json::Value, Diagnostic>
    where
        T: Ports,
        T::PullRequests: Clone,
    {
        let Ok(event) = crate::event::parse_value(payload.clone()) else {
            return super::start_handler(deps, payload).await;
        };
        let started = super::start_handler(deps, payload).await?;
        let queued = self
            .on_event(deps, &event)
            .await
            .map_err(|e| diagnostic_of(&e))?;
        if let Some(handled) = &queued {
            tracing::info!(changed = handled.changed, steps = ?handled.steps, "merge queue done");
        }
        Ok(serde_json::json!({ "start": started, "queue": queued.map(|h| h.steps) }))
    }

    /// gate-report with the merge queue: [`super::report_handler`]; a queue run's end goes on
    /// to the queue (land, eject, test the next).
    pub async fn report_handler<T, G>(
        &self,
        deps: &Deps<T>,
        logs: &G,
        payload: serde_json::Value,
    ) -> Result<serde_json::Value, Diagnostic>
    where
        T: Ports,
        T::PullRequests: Clone,
        G: crate::ports::Logs + crate::ports::test_reports::TestReports,
    {
        let reported = super::report_handler(deps, logs, payload).await?;
        let Some(end) = queue_run_end(&reported) else {
            return Ok(reported);
        };
        let handled = merge_queue::run_ended(&self.queue_deps(deps), &end)
            .await
            .map_err(|e| diagnostic_of(&e))?;
        tracing::info!(changed = handled.changed, steps = ?handled.steps, "merge queue done");
        Ok(serde_json::json!({ "report": reported, "queue": handled.steps }))
    }
}

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// The queue run's end in gate-report's answer ([`ReportOutcome::QueueRun`]), if it is one.
///
/// [`ReportOutcome::QueueRun`]: crate::flows::gate_report::ReportOutcome::QueueRun
pub fn queue_run_end(reported: &serde_json::Value) -> Option<RunEnd> {
    reported
        .get("end")
        .filter(|_| reported["outcome"] == "queue_run")
        .and_then(|e| serde_json::from_value(e.clone()).ok())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::flows::gate_report::ReportOutcome;

    #[test]
    fn gate_reports_queue_run_answer_carries_the_end_to_the_queue() {
        let end = RunEnd {
            repository: "shop".into(),
            destination: "main".into(),
            pull_request: "7".into(),
            execution_name: "queue-7-1-abc".into(),
            passed: true,
        };
        let answer =
            serde_json::to_value(ReportOutcome::QueueRun { end: end.clone() }).expect("serialises");
        assert_eq!(queue_run_end(&answer), Some(end));
        let other = serde_json::json!({"outcome": "ignored", "reason": "x"});
        assert_eq!(queue_run_end(&other), None);
    }
}
