//! gate-report stories: a run's results → one comment, APPROVE or REVOKE for exactly the tested
//! revision, SNS on failure, the ledger; idempotent; stale and dead runs never approve.

use crate::world;

use codecommit_gate::event::{self, RunFinished};
use codecommit_gate::flows::gate_report::{ReportOutcome, ReportRequest, handle};
use codecommit_gate::machine::{MachineError, ReportPayload, StageChain};
use codecommit_gate::policy::Verdict;
use codecommit_gate::ports::{ApprovalState, Ledger, RunVerdict};
use serde_json::json;
use world::*;

async fn started() -> World {
    let w = World::new();
    w.send(w.pr_event("pullRequestCreated", 10)).await;
    w
}

fn approval_of(outcome: &ReportOutcome) -> (&Verdict, &str) {
    match outcome {
        ReportOutcome::Reported {
            verdict, approval, ..
        } => (verdict, approval.as_str()),
        other => panic!("expected a report, got {other:?}"),
    }
}

#[tokio::test]
async fn a_passing_run_approves_exactly_the_tested_revision() {
    let w = started().await;
    let input = w.last_input();
    let outcome = w
        .report(&input, &[passed_run("fmt", 1), passed_run("api-tests", 1)])
        .await;
    assert_eq!(approval_of(&outcome), (&Verdict::Passed, "approved"));
    assert_eq!(w.approval(10), Some(ApprovalState::Approve));
    assert!(w.cc.approved_now(&w.pr));
    let comments = w.gate_comments();
    assert_eq!(comments.len(), 1, "the running comment became the verdict");
    assert!(comments[0].contains("Gate passed"), "{}", comments[0]);
    assert!(
        comments[0].contains("1m 05s"),
        "durations from the build: {}",
        comments[0]
    );
    assert!(w.sns.messages().is_empty());
    let record = w
        .ledger
        .get(&w.repo, &w.pr)
        .await
        .expect("ledger")
        .expect("record");
    assert_eq!(record.run.expect("run").verdict, Some(RunVerdict::Passed));
    let ReportOutcome::Reported { metrics, .. } = outcome else {
        unreachable!()
    };
    assert_eq!(
        (metrics.checks_run, metrics.queue_ms, metrics.flaky),
        (2, 8_000, 0)
    );
}

#[tokio::test]
async fn a_failing_run_revokes_with_the_log_tail_and_notifies() {
    let w = started().await;
    w.logs.put(
        "/aws/codebuild/gate",
        "api-tests/stream",
        &(1..=80)
            .map(|i| format!("line {i}"))
            .collect::<Vec<_>>()
            .join("\n"),
    );
    let input = w.last_input();
    let outcome = w
        .report(
            &input,
            &[passed_run("fmt", 1), failed_run("api-tests", "FAILED")],
        )
        .await;
    assert_eq!(approval_of(&outcome), (&Verdict::Failed, "revoked"));
    assert_eq!(w.approval(10), Some(ApprovalState::Revoke));
    let comment = &w.gate_comments()[0];
    assert!(
        comment.contains("line 80") && !comment.contains("line 30\n"),
        "the last 50 lines: {comment}"
    );
    assert!(
        comment.contains("[log](https://console.aws.amazon.com/"),
        "{comment}"
    );
    let messages = w.sns.messages();
    assert_eq!(messages.len(), 1);
    assert!(
        messages[0].0.starts_with("Gate failed"),
        "{}",
        messages[0].0
    );
    let record = w
        .ledger
        .get(&w.repo, &w.pr)
        .await
        .expect("ledger")
        .expect("record");
    let run = record.run.expect("run");
    assert_eq!(run.verdict, Some(RunVerdict::Failed));
    assert_eq!(run.results.len(), 2);
}

#[tokio::test]
async fn build_statuses_refine_the_outcome_and_flaky_passes_are_marked() {
    let w = started().await;
    let input = w.last_input();
    w.report(
        &input,
        &[passed_run("fmt", 2), failed_run("api-tests", "TIMED_OUT")],
    )
    .await;
    let comment = &w.gate_comments()[0];
    assert!(comment.contains("timed out"), "{comment}");
    assert!(comment.contains("flaky"), "{comment}");
}

#[tokio::test]
async fn the_same_report_twice_changes_nothing_the_second_time() {
    let w = started().await;
    let input = w.last_input();
    let runs = [passed_run("fmt", 1), failed_run("api-tests", "FAILED")];
    w.report(&input, &runs).await;
    let comments = w.cc.comments(&w.pr);
    let calls = w.cc.calls.total();
    let second = w.report(&input, &runs).await;
    assert!(
        matches!(second, ReportOutcome::Duplicate { .. }),
        "{second:?}"
    );
    assert_eq!(w.cc.comments(&w.pr), comments, "no comment change");
    assert_eq!(w.sns.messages().len(), 1, "no second notice");
    assert_eq!(w.cc.calls.total(), calls, "not even a CodeCommit call");
}

#[tokio::test]
async fn a_result_for_an_older_revision_is_stale_and_never_approves() {
    let w = started().await;
    let input = w.last_input();
    // The author pushes; the new run has not started yet (its event is still in flight).
    w.push(11, &["services/api/x.rs"]);
    let outcome = w
        .report(&input, &[passed_run("fmt", 1), passed_run("api-tests", 1)])
        .await;
    assert_eq!(approval_of(&outcome), (&Verdict::Passed, "stale"));
    assert_eq!(
        w.approval(10),
        Some(ApprovalState::Revoke),
        "the tested revision is not approved"
    );
    assert_eq!(w.approval(11), None, "the new revision is not approved");
    assert!(!w.cc.approved_now(&w.pr));
    assert!(
        w.gate_comments()[0].contains("out of date"),
        "{}",
        w.gate_comments()[0]
    );
}

#[tokio::test]
async fn a_superseded_runs_report_leaves_the_newer_runs_comment_alone() {
    let w = started().await;
    let old = w.last_input();
    w.push(11, &["services/api/x.rs"]);
    w.send(w.pr_event("pullRequestSourceBranchUpdated", 11))
        .await;
    let before = w.gate_comments();
    let outcome = w
        .report(&old, &[passed_run("fmt", 1), passed_run("api-tests", 1)])
        .await;
    assert!(
        matches!(outcome, ReportOutcome::Ignored { .. }),
        "{outcome:?}"
    );
    assert_eq!(w.gate_comments(), before);
    assert!(!w.cc.approved_now(&w.pr));
}

#[tokio::test]
async fn a_closed_pull_request_is_never_approved() {
    let w = started().await;
    let input = w.last_input();
    w.cc.close(&w.pr, false);
    let outcome = w
        .report(&input, &[passed_run("fmt", 1), passed_run("api-tests", 1)])
        .await;
    assert_eq!(approval_of(&outcome).1, "stale");
    assert_eq!(w.approval(10), Some(ApprovalState::Revoke));
}

#[tokio::test]
async fn an_optional_failure_does_not_block_and_a_missing_required_result_does() {
    let w = World::new();
    w.commit_files(10, GATE_FILE, &["web/app.ts"]);
    w.send(w.pr_event("pullRequestCreated", 10)).await;
    let input = w.last_input();
    let mut docs = failed_run("docs-links", "FAILED");
    docs.required = false;
    let outcome = w
        .report(
            &input,
            &[passed_run("fmt", 1), docs, passed_run("web-tests", 1)],
        )
        .await;
    assert_eq!(approval_of(&outcome), (&Verdict::Passed, "approved"));

    let w = started().await;
    let input = w.last_input();
    // The machine stopped after the lint stage: api-tests never ran.
    let outcome = w.report(&input, &[passed_run("fmt", 1)]).await;
    assert_eq!(approval_of(&outcome), (&Verdict::Failed, "revoked"));
    assert!(
        w.gate_comments()[0].contains("cancelled"),
        "{}",
        w.gate_comments()[0]
    );
}

#[tokio::test]
async fn a_machine_failure_outside_the_checks_fails_closed() {
    let w = started().await;
    let input = w.last_input();
    let chain = StageChain {
        results: vec![passed_run("fmt", 1), passed_run("api-tests", 1)],
        prev: None,
    };
    let outcome = w
        .report_payload(ReportPayload {
            input,
            stages: Some(chain),
            failure: Some(MachineError {
                error: Some("States.Runtime".into()),
                cause: Some("boom".into()),
            }),
            started_at: None,
        })
        .await;
    assert_eq!(approval_of(&outcome), (&Verdict::Failed, "revoked"));
}

#[tokio::test]
async fn a_retry_reports_the_carried_passes_with_the_new_results() {
    let w = started().await;
    let first = w.last_input();
    w.report(
        &first,
        &[passed_run("fmt", 1), failed_run("api-tests", "FAILED")],
    )
    .await;
    let c = w.cc.add_comment(&w.pr, AUTHOR, "/gate retry");
    w.send(w.comment_event(&c, AUTHOR)).await;
    let retry = w.last_input();
    assert_eq!(
        retry.stages.iter().map(|s| s.checks.len()).sum::<usize>(),
        1
    );
    let outcome = w.report(&retry, &[passed_run("api-tests", 1)]).await;
    assert_eq!(approval_of(&outcome), (&Verdict::Passed, "approved"));
    assert!(w.cc.approved_now(&w.pr));
}

fn status_event(
    input: &codecommit_gate::machine::ExecutionInput,
    status: &str,
    arn: &str,
) -> RunFinished {
    let e = json!({
        "version": "0", "id": "x", "detail-type": "Step Functions Execution Status Change",
        "source": "aws.states", "account": "123456789012", "time": "2026-11-22T10:00:00Z",
        "region": "us-east-1", "resources": [arn],
        "detail": {
            "executionArn": arn,
            "stateMachineArn": "arn:aws:states:us-east-1:123456789012:stateMachine:gate",
            "name": input.execution_name, "status": status,
            "startDate": 1_763_805_600_000u64, "stopDate": 1_763_805_700_000u64,
            "input": serde_json::to_string(input).expect("input"), "inputDetails": {"included": true},
            "output": null, "outputDetails": null,
            "error": "States.Timeout", "cause": "The execution timed out."
        }
    });
    match event::parse_value(e).expect("event") {
        event::Event::RunFinished(r) => r,
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn a_timed_out_or_aborted_run_gets_a_comment_and_a_revoke() {
    for status in ["TIMED_OUT", "ABORTED", "FAILED"] {
        let w = started().await;
        let input = w.last_input();
        let arn = w.sfn.executions()[0].arn.clone();
        let run = status_event(&input, status, &arn);
        let outcome = handle(
            &w.deps,
            &w.logs,
            ReportRequest::StatusChange(Box::new(run.clone())),
        )
        .await
        .expect("ok");
        assert_eq!(
            approval_of(&outcome),
            (&Verdict::Failed, "revoked"),
            "{status}"
        );
        let comment = &w.gate_comments()[0];
        assert!(
            comment.contains(status) && comment.contains("States.Timeout"),
            "{comment}"
        );
        assert_eq!(w.approval(10), Some(ApprovalState::Revoke));
        // Delivered again: nothing.
        let again = handle(&w.deps, &w.logs, ReportRequest::StatusChange(Box::new(run)))
            .await
            .expect("ok");
        assert!(
            matches!(again, ReportOutcome::Duplicate { .. }),
            "{again:?}"
        );
    }
}

#[tokio::test]
async fn a_status_event_without_its_input_reads_it_from_step_functions() {
    let w = started().await;
    let input = w.last_input();
    let arn = w.sfn.executions()[0].arn.clone();
    let mut run = status_event(&input, "FAILED", &arn);
    run.input = None;
    run.input_included = false;
    let outcome = handle(&w.deps, &w.logs, ReportRequest::StatusChange(Box::new(run)))
        .await
        .expect("ok");
    assert_eq!(approval_of(&outcome).1, "revoked");
}

#[tokio::test]
async fn a_status_event_after_the_report_step_changes_nothing() {
    let w = started().await;
    let input = w.last_input();
    w.report(&input, &[passed_run("fmt", 1), passed_run("api-tests", 1)])
        .await;
    let arn = w.sfn.executions()[0].arn.clone();
    let outcome = handle(
        &w.deps,
        &w.logs,
        ReportRequest::StatusChange(Box::new(status_event(&input, "FAILED", &arn))),
    )
    .await
    .expect("ok");
    assert!(
        matches!(outcome, ReportOutcome::Duplicate { .. }),
        "{outcome:?}"
    );
    assert!(w.cc.approved_now(&w.pr), "the approval stands");
}

#[tokio::test]
async fn the_verdict_is_announced_once_where_it_is_recorded() {
    use codecommit_gate::announce::RunState;
    let w = started().await;
    let input = w.last_input();
    let runs = [passed_run("fmt", 1), passed_run("api-tests", 1)];
    w.report(&input, &runs).await;
    w.report(&input, &runs).await;
    assert_eq!(w.run_states(), [RunState::Started, RunState::Passed]);
    let passed = w.run_changes().pop().expect("passed");
    assert_eq!(passed.checks, ["fmt", "api-tests"]);
    assert!(passed.execution_arn.is_some());
}

#[tokio::test]
async fn a_failed_run_is_announced_failed() {
    use codecommit_gate::announce::RunState;
    let w = started().await;
    let input = w.last_input();
    w.report(
        &input,
        &[passed_run("fmt", 1), failed_run("api-tests", "FAILED")],
    )
    .await;
    assert_eq!(w.run_states(), [RunState::Started, RunState::Failed]);
}
