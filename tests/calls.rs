//! AWS calls per event, counted against the in-memory fakes: a source-branch update after a
//! run started, and gate-report's report of a passing and of a failing run. The tables in
//! docs/performance.md are these assertions; `cargo test --test calls -- --nocapture` prints them.

use crate::world;

use codecommit_gate::flows::gate_report::ReportOutcome;
use codecommit_gate::flows::gate_start;
use std::collections::BTreeMap;
use world::*;

type Counts = BTreeMap<&'static str, usize>;

/// Every call any fake saw since the last [`reset`].
fn calls(w: &World) -> Counts {
    let mut all = w.cc.calls.all();
    for more in [
        w.sfn.calls.all(),
        w.ledger.calls.all(),
        w.sns.calls.all(),
        w.logs.calls.all(),
    ] {
        all.extend(more);
    }
    all
}

fn reset(w: &World) {
    w.cc.calls.reset();
    w.sfn.calls.reset();
    w.ledger.calls.reset();
    w.sns.calls.reset();
    w.logs.calls.reset();
}

fn counts(pairs: &[(&'static str, usize)]) -> Counts {
    pairs.iter().copied().collect()
}

fn show(what: &str, c: &Counts) {
    println!("{what}: {} calls", c.values().sum::<usize>());
    for (call, n) in c {
        println!("  {call:<45} {n}");
    }
}

/// Calls a created event makes before `StartExecution`, not counting DynamoDB, comments and
/// the approval rule: the reads the gate needs to decide what to run.
const DECIDE: &[&str] = &[
    "codecommit:GetPullRequest",
    "codecommit:GetFile",
    "codecommit:GetDifferences",
    "codecommit:GetMergeConflicts",
    "states:StartExecution",
];

#[tokio::test]
async fn a_created_event_makes_five_calls_before_the_run_starts() {
    let w = World::new();
    reset(&w);
    assert!(matches!(
        w.send(w.pr_event("pullRequestCreated", 10)).await,
        gate_start::StartOutcome::Started { .. }
    ));
    let c = calls(&w);
    show("pullRequestCreated", &c);
    let before_start: usize = DECIDE.iter().map(|k| c.get(k).copied().unwrap_or(0)).sum();
    // Budget: 4. Met only without GetMergeConflicts (see docs/performance.md).
    assert_eq!(before_start, 5);
    // 12, and the read of the repository's recorded passes (reuse), made with the PR's item.
    assert_eq!(c.values().sum::<usize>(), 13);
}

#[tokio::test]
async fn a_source_branch_update_stops_the_old_run_and_starts_one() {
    let w = World::new();
    w.send(w.pr_event("pullRequestCreated", 10)).await;
    w.push(11, &["services/api/src/refund.rs", "web/app.ts"]);
    reset(&w);
    assert!(matches!(
        w.send(w.pr_event("pullRequestSourceBranchUpdated", 11))
            .await,
        gate_start::StartOutcome::Started { .. }
    ));
    let c = calls(&w);
    show("pullRequestSourceBranchUpdated", &c);
    assert_eq!(
        c,
        counts(&[
            ("codecommit:GetPullRequest", 1),
            ("codecommit:GetFile", 1),
            ("codecommit:GetDifferences", 1),
            ("codecommit:GetMergeConflicts", 1),
            ("states:StopExecution", 1),
            ("states:StartExecution", 1),
            // The PR's item and the repository's recorded passes (reuse), read together.
            ("dynamodb:GetItem", 2),
            ("dynamodb:PutItem", 2),
            // No CreatePullRequestApprovalRule: GetPullRequest shows the gate's rule standing.
            ("codecommit:UpdatePullRequestApprovalState", 1),
            ("codecommit:UpdateComment", 1),
        ])
    );
}

#[tokio::test]
async fn a_passing_report_approves_with_few_calls() {
    let w = World::new();
    w.send(w.pr_event("pullRequestCreated", 10)).await;
    let input = w.last_input();
    reset(&w);
    let outcome = w
        .report(&input, &[passed_run("fmt", 1), passed_run("api-tests", 1)])
        .await;
    assert!(
        matches!(outcome, ReportOutcome::Reported { .. }),
        "{outcome:?}"
    );
    let c = calls(&w);
    show("gate-report, passed", &c);
    assert_eq!(
        c,
        counts(&[
            ("codecommit:GetPullRequest", 1),
            ("dynamodb:GetItem", 1),
            // The verdict is claimed (conditional) before the approval, then marked reported.
            ("dynamodb:PutItem", 2),
            ("codecommit:UpdatePullRequestApprovalState", 1),
            ("codecommit:UpdateComment", 1),
        ])
    );
}

#[tokio::test]
async fn a_failing_report_reads_the_log_tail_and_notifies() {
    let w = World::new();
    w.send(w.pr_event("pullRequestCreated", 10)).await;
    w.logs
        .put("/aws/codebuild/gate", "api-tests/stream", "error: boom\n");
    let input = w.last_input();
    reset(&w);
    let outcome = w
        .report(
            &input,
            &[passed_run("fmt", 1), failed_run("api-tests", "FAILED")],
        )
        .await;
    assert!(
        matches!(outcome, ReportOutcome::Reported { .. }),
        "{outcome:?}"
    );
    let c = calls(&w);
    show("gate-report, failed", &c);
    assert_eq!(
        c,
        counts(&[
            ("codecommit:GetPullRequest", 1),
            ("logs:GetLogEvents", 1),
            ("dynamodb:GetItem", 1),
            ("dynamodb:PutItem", 2),
            ("codecommit:UpdatePullRequestApprovalState", 1),
            ("codecommit:UpdateComment", 1),
            ("sns:Publish", 1),
        ])
    );
}
