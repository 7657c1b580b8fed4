//! Faults: every AWS call site of both flows gets throttling, a 5xx and access denied (as the
//! adapters report them once the SDK's own retries are spent). Each time the flow fails closed
//! — an error naming the call and the PR, so the Lambda fails and the event is redelivered, and
//! no approval — and the redelivery repairs everything: the end state equals a run without
//! the fault.

use crate::world;

use codecommit_gate::flows::FlowError;
use codecommit_gate::flows::gate_report::{self, ReportRequest};
use codecommit_gate::flows::gate_start;
use codecommit_gate::machine::ExecutionInput;
use codecommit_gate::ports::{ApprovalState, Ledger, PortError};
use world::*;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Scenario {
    /// The first `pullRequestCreated`.
    Created,
    /// A push after the first run started.
    Pushed,
    /// The report of a passing run.
    ReportPass,
    /// The report of a failing run.
    ReportFail,
    /// A status event (FAILED) whose input was left out.
    StatusEvent,
    /// A `/gate run` comment by the author.
    Command,
    /// The PR is closed while its run is going.
    Closed,
    /// Someone overrides the approval rule.
    Bypass,
}

/// Every (scenario, call) pair: each AWS call site of the flows.
const CALL_SITES: &[(Scenario, &str)] = &[
    (Scenario::Created, "codecommit:GetPullRequest"),
    (Scenario::Created, "dynamodb:GetItem"),
    (Scenario::Created, "dynamodb:PutItem"),
    (
        Scenario::Created,
        "codecommit:CreatePullRequestApprovalRule",
    ),
    (
        Scenario::Created,
        "codecommit:UpdatePullRequestApprovalState",
    ),
    (Scenario::Created, "codecommit:GetFile"),
    (Scenario::Created, "codecommit:GetDifferences"),
    (Scenario::Created, "codecommit:GetMergeConflicts"),
    (Scenario::Created, "codecommit:GetCommentsForPullRequest"),
    (Scenario::Created, "codecommit:PostCommentForPullRequest"),
    (Scenario::Created, "states:StartExecution"),
    (Scenario::Pushed, "states:StopExecution"),
    (Scenario::Pushed, "codecommit:UpdateComment"),
    (Scenario::ReportPass, "dynamodb:GetItem"),
    (Scenario::ReportPass, "codecommit:GetPullRequest"),
    (Scenario::ReportPass, "codecommit:UpdateComment"),
    (
        Scenario::ReportPass,
        "codecommit:UpdatePullRequestApprovalState",
    ),
    (Scenario::ReportPass, "dynamodb:PutItem"),
    (Scenario::ReportFail, "logs:GetLogEvents"),
    (Scenario::ReportFail, "sns:Publish"),
    (Scenario::StatusEvent, "states:DescribeExecution"),
    (Scenario::StatusEvent, "codecommit:UpdateComment"),
    (Scenario::Command, "codecommit:GetComment"),
    (Scenario::Command, "codecommit:PostCommentReply"),
    (Scenario::Closed, "states:StopExecution"),
    (Scenario::Closed, "states:StartExecution"),
    (Scenario::Closed, "dynamodb:PutItem"),
    (Scenario::Bypass, "sns:Publish"),
];

fn faults(call: &'static str) -> [PortError; 3] {
    [
        PortError::Transient {
            call,
            message: "ThrottlingException: Rate exceeded".into(),
        },
        PortError::Transient {
            call,
            message: "InternalFailure (HTTP 500)".into(),
        },
        PortError::Permanent {
            call,
            message: "AccessDeniedException: not authorized".into(),
        },
    ]
}

/// Brings the world to the point just before the scenario's event.
async fn prepare(w: &World, scenario: Scenario) -> Option<ExecutionInput> {
    match scenario {
        Scenario::Created | Scenario::Bypass => None,
        Scenario::Pushed | Scenario::Command | Scenario::Closed => {
            w.send(w.pr_event("pullRequestCreated", 10)).await;
            if scenario == Scenario::Pushed {
                w.push(11, &["services/api/b.rs"]);
            }
            None
        }
        Scenario::ReportPass | Scenario::ReportFail | Scenario::StatusEvent => {
            w.send(w.pr_event("pullRequestCreated", 10)).await;
            w.logs.put(
                "/aws/codebuild/gate",
                "api-tests/stream",
                "compiling\nerror[E0308]: mismatched types",
            );
            Some(w.last_input())
        }
    }
}

/// Runs the scenario's event once.
async fn run(
    w: &World,
    scenario: Scenario,
    input: Option<&ExecutionInput>,
) -> Result<(), FlowError> {
    let report = |runs: Vec<codecommit_gate::machine::CheckRun>| {
        let input = input.expect("an input").clone();
        codecommit_gate::machine::ReportPayload {
            stages: Some(codecommit_gate::machine::StageChain {
                results: runs,
                prev: None,
            }),
            input,
            failure: None,
            started_at: None,
        }
    };
    match scenario {
        Scenario::Created => gate_start::handle(&w.deps, w.pr_event("pullRequestCreated", 10))
            .await
            .map(drop),
        Scenario::Pushed => {
            gate_start::handle(&w.deps, w.pr_event("pullRequestSourceBranchUpdated", 11))
                .await
                .map(drop)
        }
        Scenario::Command => {
            let id =
                w.cc.comments(&w.pr)
                    .into_iter()
                    .find(|c| c.data.author_arn == AUTHOR)
                    .map(|c| c.data.id)
                    .unwrap_or_else(|| w.cc.add_comment(&w.pr, AUTHOR, "/gate run web-tests"));
            gate_start::handle(&w.deps, w.comment_event(&id, AUTHOR))
                .await
                .map(drop)
        }
        Scenario::Closed => {
            w.cc.close(&w.pr, false);
            gate_start::handle(&w.deps, w.pr_event("pullRequestStatusChanged", 10))
                .await
                .map(drop)
        }
        Scenario::Bypass => {
            let e = std::fs::read_to_string(
                "tests/data/events/codecommit-pr-approval-rule-overridden-override.json",
            )
            .expect("fixture");
            gate_start::handle(&w.deps, codecommit_gate::event::parse(&e).expect("event"))
                .await
                .map(drop)
        }
        Scenario::ReportPass => gate_report::handle(
            &w.deps,
            &w.logs,
            ReportRequest::Report(Box::new(report(vec![
                passed_run("fmt", 1),
                passed_run("api-tests", 1),
            ]))),
        )
        .await
        .map(drop),
        Scenario::ReportFail => gate_report::handle(
            &w.deps,
            &w.logs,
            ReportRequest::Report(Box::new(report(vec![
                passed_run("fmt", 1),
                failed_run("api-tests", "FAILED"),
            ]))),
        )
        .await
        .map(drop),
        Scenario::StatusEvent => {
            let input = input.expect("input");
            let arn = w.sfn.executions()[0].arn.clone();
            let e = serde_json::json!({
                "version": "0", "id": "x", "detail-type": "Step Functions Execution Status Change",
                "source": "aws.states", "account": "123456789012", "time": "2026-11-22T10:00:00Z",
                "region": "us-east-1", "resources": [arn],
                "detail": {
                    "executionArn": arn, "stateMachineArn": "arn:aws:states:us-east-1:123456789012:stateMachine:gate",
                    "name": input.execution_name, "status": "FAILED",
                    "startDate": 1, "stopDate": 2, "input": null, "inputDetails": {"included": false},
                    "output": null, "outputDetails": null
                }
            });
            let codecommit_gate::event::Event::RunFinished(run) =
                codecommit_gate::event::parse_value(e).expect("event")
            else {
                panic!("not a run");
            };
            gate_report::handle(&w.deps, &w.logs, ReportRequest::StatusChange(Box::new(run)))
                .await
                .map(drop)
        }
    }
}

/// What a finished scenario leaves behind, to compare a faulty run with a clean one.
#[allow(clippy::type_complexity)]
async fn state(
    w: &World,
) -> (
    usize,
    usize,
    usize,
    usize,
    Option<ApprovalState>,
    Option<ApprovalState>,
    Option<String>,
    usize,
) {
    let verdict = w
        .ledger
        .get(&w.repo, &w.pr)
        .await
        .expect("ledger")
        .and_then(|r| r.run)
        .and_then(|r| r.verdict)
        .map(|v| v.to_string());
    (
        w.gate_comments().len(),
        w.replies().len(),
        w.sfn.executions().len(),
        w.sfn.running().len(),
        w.approval(10),
        w.approval(11),
        verdict,
        w.sns.messages().len(),
    )
}

fn inject(w: &World, error: PortError) {
    let call = error.call();
    match call.split(':').next() {
        Some("codecommit") => w.cc.calls.fail_next(call, error),
        Some("states") => w.sfn.calls.fail_next(call, error),
        Some("dynamodb") => w.ledger.calls.fail_next(call, error),
        Some("sns") => w.sns.calls.fail_next(call, error),
        Some("logs") => w.logs.calls.fail_next(call, error),
        _ => panic!("unknown service in {call}"),
    }
}

#[tokio::test]
async fn every_call_site_fails_closed_and_a_redelivery_repairs_it() {
    let mut tried = 0;
    for &(scenario, call) in CALL_SITES {
        // The end state without faults.
        let clean = World::new();
        let input = prepare(&clean, scenario).await;
        run(&clean, scenario, input.as_ref())
            .await
            .expect("a clean run succeeds");
        let expected = state(&clean).await;

        for fault in faults(call) {
            let w = World::new();
            let input = prepare(&w, scenario).await;
            let approved_before = w.cc.approved_now(&w.pr);
            inject(&w, fault.clone());
            let err = run(&w, scenario, input.as_ref()).await.expect_err(&format!(
                "{scenario:?}: a fault in {call} must fail the invocation"
            ));
            assert_eq!(
                err.source, fault,
                "{scenario:?}/{call}: the error names the call"
            );
            assert!(err.to_string().contains(call), "{err}");
            // A fault never approves anything the clean run would not: the approval comes
            // only after everything that decides it, and the ledger write after the approval,
            // so a redelivery can repeat it.
            if !approved_before && w.cc.approved_now(&w.pr) {
                assert_eq!(
                    expected.4,
                    Some(ApprovalState::Approve),
                    "{scenario:?}/{call}: approved after a fault"
                );
                assert_eq!(
                    call, "dynamodb:PutItem",
                    "{scenario:?}: only the last step may follow the approval"
                );
            }
            // EventBridge / Step Functions deliver it again.
            run(&w, scenario, input.as_ref()).await.unwrap_or_else(|e| {
                panic!("{scenario:?}/{call}: the redelivery must succeed: {e}")
            });
            assert_eq!(
                state(&w).await,
                expected,
                "{scenario:?}/{call} ({fault}): the redelivery repairs everything"
            );
            tried += 1;
        }
    }
    assert_eq!(tried, CALL_SITES.len() * 3);
}
