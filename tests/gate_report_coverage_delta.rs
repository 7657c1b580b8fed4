//! The coverage delta on AWS: gate-report compares a check's line coverage with the
//! destination branch's last recorded coverage of that check (the ledger's coverage bases,
//! written after each passed run onto the branch), as the local history does.

use crate::world;

use codecommit_gate::flows::gate_report::ReportOutcome;
use codecommit_gate::ids::RepositoryName;
use codecommit_gate::machine::{CheckRun, ExecutionInput};
use codecommit_gate::policy::Verdict;
use codecommit_gate::ports::test_reports::{BuildReport, BuildReportKind};
use codecommit_gate::ports::{Ledger, PortError};
use codecommit_gate::test_reports::{CoverageBases, LineCoverage, RecordedCoverage};
use serde_json::json;
use std::collections::BTreeMap;
use world::*;

const COVERAGE: &str = "arn:aws:codebuild:us-east-1:123456789012:report/gate-my-repo-coverage:2";
const PREFIX: &str = "arn:aws:codebuild:us-east-1:123456789012:report-group/gate-";

/// The destination's gate file: `api-tests` declares Cobertura coverage with `min_line: 80`.
fn gate_file() -> String {
    let gate = GATE_FILE.replace(
        "env: {RUST_LOG: debug}}",
        r#"env: {RUST_LOG: debug}, reports: {coverage: {format: cobertura, path: coverage.xml, min_line: 80}}}"#,
    );
    assert_ne!(gate, GATE_FILE);
    gate
}

/// A world whose PR onto `main` has started its first run (commit 10).
async fn started() -> (World, ExecutionInput) {
    let mut w = World::new();
    w.deps.settings.build.report_group_prefix = Some(PREFIX.into());
    w.destination_gate_file(DEST, &gate_file());
    w.commit_files(10, &gate_file(), &["services/api/src/refund.rs"]);
    w.send(w.pr_event("pullRequestCreated", 10)).await;
    let input = w.last_input();
    assert_eq!(input.subject.destination_branch, "main");
    (w, input)
}

/// A push of commit `n` to the PR and the run it starts.
async fn pushed(w: &World, n: u8) -> ExecutionInput {
    w.commit_files(n, &gate_file(), &["services/api/src/refund.rs"]);
    w.cc.push(&w.pr, &commit(n), &revision(n));
    w.send(w.pr_event("pullRequestSourceBranchUpdated", n))
        .await;
    w.last_input()
}

/// `api-tests`' build, with its coverage report at `covered` of 1000 lines.
fn api_run(w: &World, covered: u64) -> CheckRun {
    w.logs.put_report(
        BuildReport {
            arn: COVERAGE.into(),
            kind: BuildReportKind::Coverage,
            status: "SUCCEEDED".into(),
            truncated: false,
            status_counts: BTreeMap::new(),
            lines_covered: Some(covered),
            lines_missed: Some(1000 - covered),
        },
        Vec::new(),
    );
    let mut run = passed_run("api-tests", 1);
    if let Some(build) = run.build.as_mut() {
        build["ReportArns"] = json!([COVERAGE]);
    }
    run
}

async fn run(w: &World, input: &ExecutionInput, covered: u64) -> (Verdict, String, String) {
    let outcome = w
        .report(input, &[passed_run("fmt", 1), api_run(w, covered)])
        .await;
    let (verdict, approval) = match outcome {
        ReportOutcome::Reported {
            verdict, approval, ..
        } => (verdict, approval),
        other => panic!("expected a report, got {other:?}"),
    };
    let comment = w.gate_comments().pop().expect("a comment");
    (verdict, approval, comment)
}

fn main_bases(w: &World) -> Option<CoverageBases> {
    w.ledger
        .stored_coverage_bases(&RepositoryName::from("my-repo"), "refs/heads/main")
}

#[tokio::test]
async fn the_second_run_shows_the_change_against_the_first_passed_run() {
    let (w, first) = started().await;
    let (verdict, _, comment) = run(&w, &first, 816).await;
    assert_eq!(verdict, Verdict::Passed);
    assert!(
        comment.contains("`api-tests`: line coverage 81.6 %\n"),
        "no base yet, no delta: {comment}"
    );
    let bases = main_bases(&w).expect("the passed run recorded its coverage");
    assert_eq!((bases.branch.as_str(), bases.version), ("main", 1));
    let api = &bases.checks["api-tests"];
    assert_eq!(
        (api.line, api.execution.as_str(), api.commit.as_str()),
        (
            LineCoverage {
                covered: 816,
                valid: 1000
            },
            first.execution_name.as_str(),
            commit(10).as_str()
        )
    );
    assert_eq!(bases.checks.len(), 1, "fmt declares no coverage");

    let second = pushed(&w, 11).await;
    let (verdict, approval, comment) = run(&w, &second, 812).await;
    assert_eq!((verdict, approval.as_str()), (Verdict::Passed, "approved"));
    assert!(
        comment.contains("`api-tests`: line coverage 81.2 % (−0.4)\n"),
        "{comment}"
    );
    let bases = main_bases(&w).expect("bases");
    assert_eq!(bases.version, 2);
    assert_eq!(bases.checks["api-tests"].line.covered, 812);
}

#[tokio::test]
async fn a_failed_run_is_never_a_base() {
    let (w, first) = started().await;
    let (verdict, _, _) = run(&w, &first, 700).await;
    assert_eq!(verdict, Verdict::Failed, "70.0 % is under min_line 80");
    assert_eq!(main_bases(&w), None, "a failed run records nothing");

    let second = pushed(&w, 11).await;
    let (verdict, _, comment) = run(&w, &second, 812).await;
    assert_eq!(verdict, Verdict::Passed);
    assert!(
        comment.contains("`api-tests`: line coverage 81.2 %\n"),
        "{comment}"
    );
}

#[tokio::test]
async fn another_branchs_coverage_is_not_a_base() {
    let (w, first) = started().await;
    let repo = RepositoryName::from("my-repo");
    let mut develop = CoverageBases::empty("refs/heads/develop");
    develop.record(&[(
        "api-tests".into(),
        RecordedCoverage {
            line: LineCoverage {
                covered: 900,
                valid: 1000,
            },
            execution: "gate-develop-run".into(),
            commit: commit(3).as_str().into(),
            started_ms: 1,
        },
    )]);
    w.ledger
        .put_coverage_bases(&repo, &develop)
        .await
        .expect("written");
    let (_, _, comment) = run(&w, &first, 812).await;
    assert!(
        comment.contains("`api-tests`: line coverage 81.2 %\n"),
        "{comment}"
    );
    let develop = w
        .ledger
        .stored_coverage_bases(&repo, "develop")
        .expect("develop's bases");
    assert_eq!(develop.checks["api-tests"].line.covered, 900, "untouched");
}

#[tokio::test]
async fn a_failed_read_of_the_bases_leaves_no_delta_and_the_verdict_alone() {
    let (w, first) = started().await;
    run(&w, &first, 816).await;
    let second = pushed(&w, 11).await;
    w.ledger.fail_next_coverage_read(PortError::Transient {
        call: "dynamodb:GetItem",
        message: "ProvisionedThroughputExceededException".into(),
    });
    let (verdict, approval, comment) = run(&w, &second, 812).await;
    assert_eq!((verdict, approval.as_str()), (Verdict::Passed, "approved"));
    assert!(
        comment.contains("`api-tests`: line coverage 81.2 %\n"),
        "{comment}"
    );
    assert_eq!(
        main_bases(&w).expect("bases").checks["api-tests"]
            .line
            .covered,
        812,
        "the write after the failed read went through"
    );
}

#[tokio::test]
async fn a_failed_write_of_the_bases_changes_no_verdict() {
    let (w, first) = started().await;
    w.ledger.fail_next_coverage_put(PortError::Transient {
        call: "dynamodb:PutItem",
        message: "InternalServerError".into(),
    });
    let (verdict, approval, _) = run(&w, &first, 816).await;
    assert_eq!((verdict, approval.as_str()), (Verdict::Passed, "approved"));
    assert_eq!(main_bases(&w), None, "nothing was written");
}

#[tokio::test]
async fn a_conflicting_write_is_merged_and_the_newest_per_check_wins() {
    let (w, first) = started().await;
    w.ledger.interleave_next_coverage_put(|stored| {
        stored.checks.insert(
            "web-tests".into(),
            RecordedCoverage {
                line: LineCoverage {
                    covered: 5,
                    valid: 10,
                },
                execution: "gate-other-pr".into(),
                commit: commit(4).as_str().into(),
                started_ms: 1,
            },
        );
    });
    run(&w, &first, 816).await;
    let bases = main_bases(&w).expect("bases");
    assert_eq!(bases.version, 2, "the other writer's, then ours");
    assert_eq!(bases.checks["web-tests"].line.covered, 5);
    assert_eq!(bases.checks["api-tests"].line.covered, 816);
}

/// A passed result of `api-tests` with `covered` of 1000 lines.
fn api_result(covered: u64) -> codecommit_gate::policy::CheckResult {
    use codecommit_gate::policy::{CheckResult, CheckStatus};
    use codecommit_gate::test_reports::{CheckReports, CoverageResult};
    let mut result = CheckResult::not_run(&"api-tests".into());
    result.status = CheckStatus::Passed;
    result.reports = Some(CheckReports {
        coverage: Some(CoverageResult {
            line: LineCoverage {
                covered,
                valid: 1000,
            },
            min_line: Some(80),
            base: None,
        }),
        ..CheckReports::default()
    });
    result
}

#[tokio::test]
async fn the_base_is_the_passed_run_that_started_last_whatever_order_runs_end_in() {
    use codecommit_gate::flows::coverage_bases::record;
    let (w, slow) = started().await;
    let mut quick = slow.clone();
    quick.execution_name = "gate-my-repo-quick".into();
    // `quick` started at 10:05 on a newer `main` and ended first; `slow` started at 10:00 and
    // ends after it (or its report was retried): `quick` stays the base, as locally
    // (`History::coverage_base` orders by start too).
    record(
        &w.ledger,
        &quick,
        &[api_result(812)],
        Some("2020-12-02T10:05:00Z"),
    )
    .await;
    record(
        &w.ledger,
        &slow,
        &[api_result(700)],
        Some("2020-12-02T10:00:00.000Z"),
    )
    .await;
    let bases = main_bases(&w).expect("recorded");
    let api = &bases.checks["api-tests"];
    assert_eq!(
        (api.line.covered, api.execution.as_str(), api.started_ms),
        (812, "gate-my-repo-quick", 1_606_903_500_000)
    );
    // Without a start (results handed over directly) the run counts as started now.
    record(&w.ledger, &slow, &[api_result(650)], None).await;
    let bases = main_bases(&w).expect("recorded");
    assert_eq!(bases.checks["api-tests"].line.covered, 650);
}
