//! gate-report and a check's reports on AWS (the in-memory CodeBuild reports): counts, failed
//! tests and coverage in the comment; a coverage under `min_line` fails a passing build; a
//! report that cannot be read is a note and changes no verdict.

#[path = "support/world.rs"]
mod world;

use codecommit_gate::flows::gate_report::ReportOutcome;
use codecommit_gate::gate_file::{CoverageFormat, CoverageReport, Reports};
use codecommit_gate::machine::{CheckRun, ExecutionInput};
use codecommit_gate::policy::Verdict;
use codecommit_gate::ports::PortError;
use codecommit_gate::ports::test_reports::{BuildReport, BuildReportKind, ReportTestCase};
use serde_json::json;
use std::collections::BTreeMap;
use world::*;

const TESTS: &str = "arn:aws:codebuild:us-east-1:123456789012:report/gate-my-repo-tests:1";
const COVERAGE: &str = "arn:aws:codebuild:us-east-1:123456789012:report/gate-my-repo-coverage:2";

/// A started run whose `api-tests` declares a JUnit glob and Cobertura coverage with
/// `min_line: 80` (as gate-start copies a check's `reports` into its spec).
async fn started() -> (World, ExecutionInput) {
    let w = World::new();
    w.send(w.pr_event("pullRequestCreated", 10)).await;
    let mut input = w.last_input();
    let api = input
        .stages
        .iter_mut()
        .flat_map(|s| s.checks.iter_mut())
        .find(|c| c.name.as_str() == "api-tests")
        .expect("api-tests runs");
    api.reports = Some(Reports {
        junit: vec!["reports/*.xml".into()],
        coverage: Some(CoverageReport {
            format: CoverageFormat::Cobertura,
            path: "coverage.xml".into(),
            min_line: Some(80),
        }),
    });
    (w, input)
}

/// The build of `api-tests` with its two reports.
fn api_run() -> CheckRun {
    let mut run = passed_run("api-tests", 1);
    if let Some(build) = run.build.as_mut() {
        build["ReportArns"] = json!([TESTS, COVERAGE]);
    }
    run
}

fn put_reports(w: &World, covered: u64) {
    let counts: BTreeMap<String, u64> = [
        ("SUCCEEDED", 410),
        ("FAILED", 1),
        ("ERROR", 1),
        ("SKIPPED", 3),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect();
    w.logs.put_report(
        BuildReport {
            arn: TESTS.into(),
            kind: BuildReportKind::Test,
            status: "FAILED".into(),
            truncated: false,
            status_counts: counts,
            lines_covered: None,
            lines_missed: None,
        },
        vec![
            ReportTestCase {
                prefix: Some("refund".into()),
                name: "refunds_once".into(),
                status: "FAILED".into(),
                message: Some("assertion `left == right` failed\n  left: 2\n right: 1".into()),
            },
            ReportTestCase {
                prefix: None,
                name: "db::connects".into(),
                status: "ERROR".into(),
                message: None,
            },
        ],
    );
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
}

fn verdict(outcome: &ReportOutcome) -> Verdict {
    match outcome {
        ReportOutcome::Reported { verdict, .. } => *verdict,
        other => panic!("expected a report, got {other:?}"),
    }
}

#[tokio::test]
async fn counts_failed_tests_and_coverage_reach_the_comment() {
    let (w, input) = started().await;
    put_reports(&w, 812);
    let outcome = w.report(&input, &[passed_run("fmt", 1), api_run()]).await;
    assert_eq!(
        verdict(&outcome),
        Verdict::Passed,
        "the build passed, 81.2 % ≥ 80 %"
    );
    let comment = w.gate_comments().pop().expect("comment");
    assert!(
        comment.contains(
            "- `api-tests`: 410 passed, 1 failed, 1 errored, 3 skipped · line coverage 81.2 %\n"
        ),
        "{comment}"
    );
    assert!(
        comment.contains("`refund.refunds_once` failed:\n\n```\nassertion `left == right` failed"),
        "{comment}"
    );
    assert!(comment.contains("`db::connects` errored"), "{comment}");
    assert_eq!(w.logs.calls.count("codebuild:DescribeTestCases"), 1);
}

#[tokio::test]
async fn coverage_under_min_line_fails_a_passing_build() {
    let (w, input) = started().await;
    put_reports(&w, 700);
    let outcome = w.report(&input, &[passed_run("fmt", 1), api_run()]).await;
    assert_eq!(verdict(&outcome), Verdict::Failed);
    let comment = w.gate_comments().pop().expect("comment");
    assert!(
        comment.contains(
            "line coverage 70.0 % ❌ under the check's `min_line` of 80 %, so the check failed"
        ),
        "{comment}"
    );
    assert!(
        comment.contains("[gate] line coverage 70.0 % is under the check's min_line of 80 %"),
        "the reason stands as the check's tail: {comment}"
    );
}

#[tokio::test]
async fn a_report_that_cannot_be_read_is_a_note_and_changes_no_verdict() {
    let (w, input) = started().await;
    put_reports(&w, 700);
    w.logs.calls.fail_next(
        "codebuild:BatchGetReports",
        PortError::Transient {
            call: "codebuild:BatchGetReports",
            message: "Rate exceeded".into(),
        },
    );
    let outcome = w.report(&input, &[passed_run("fmt", 1), api_run()]).await;
    assert_eq!(
        verdict(&outcome),
        Verdict::Passed,
        "unread coverage is not a shortfall"
    );
    let comment = w.gate_comments().pop().expect("comment");
    assert!(
        comment.contains("could not read `the build's reports`: CodeBuild did not answer"),
        "{comment}"
    );
}
