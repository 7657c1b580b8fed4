//! gate-report and a check's reports on AWS (the in-memory CodeBuild reports): counts, failed
//! tests and coverage in the comment; a coverage under `min_line` fails a passing build; a
//! report that cannot be read is a note and changes no verdict.

use crate::world;

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

const PREFIX: &str = "arn:aws:codebuild:us-east-1:123456789012:report-group/gate-";

/// A started run whose `api-tests` declares a JUnit glob and Cobertura coverage with
/// `min_line: 80` in the destination's gate file, on a stack with report groups: gate-start
/// names the repository's groups in the check's buildspec and copies the declaration into its
/// spec for gate-report.
async fn started() -> (World, ExecutionInput) {
    let mut w = World::new();
    w.deps.settings.build.report_group_prefix = Some(PREFIX.into());
    let gate = GATE_FILE.replace(
        "env: {RUST_LOG: debug}}",
        r#"env: {RUST_LOG: debug}, reports: {junit: ["reports/*.xml"], coverage: {format: cobertura, path: coverage.xml, min_line: 80}}}"#,
    );
    assert_ne!(gate, GATE_FILE);
    w.destination_gate_file(DEST, &gate);
    w.commit_files(10, &gate, &["services/api/src/refund.rs"]);
    w.send(w.pr_event("pullRequestCreated", 10)).await;
    let input = w.last_input();
    let checks: Vec<_> = input.stages.iter().flat_map(|s| &s.checks).collect();
    let api = checks
        .iter()
        .find(|c| c.name.as_str() == "api-tests")
        .expect("api-tests runs");
    assert_eq!(
        api.reports,
        Some(Reports {
            junit: vec!["reports/*.xml".into()],
            coverage: Some(CoverageReport {
                format: CoverageFormat::Cobertura,
                path: "coverage.xml".into(),
                min_line: Some(80),
            }),
        })
    );
    assert!(
        api.buildspec.ends_with(&format!(
            "reports:\n  \"{PREFIX}my-repo-tests\":\n    files:\n      - \"reports/*.xml\"\n    file-format: JUNITXML\n  \"{PREFIX}my-repo-coverage\":\n    files:\n      - \"coverage.xml\"\n    file-format: COBERTURAXML\n"
        )),
        "{}",
        api.buildspec
    );
    let fmt = checks
        .iter()
        .find(|c| c.name.as_str() == "fmt")
        .expect("fmt");
    assert!(!fmt.buildspec.contains("reports:"), "no reports declared");
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

/// Twenty failing checks, each with fifty failed tests of long messages: the PR's record stays
/// one DynamoDB item (under 400 KB), each check keeps its first failed tests, and every failure
/// is still counted. The comment is written from the full results.
#[tokio::test]
async fn twenty_checks_full_of_failures_are_recorded_in_one_item() {
    let mut w = World::new();
    w.deps.settings.build.report_group_prefix = Some(PREFIX.into());
    let checks: String = (0..20)
        .map(|i| {
            format!(
                "  suite-{i}: {{stage: test, components: [api], commands: [make test], reports: {{junit: [\"reports/*.xml\"]}}}}\n"
            )
        })
        .collect();
    let gate = GATE_FILE.replace("checks:\n", &format!("checks:\n{checks}"));
    w.destination_gate_file(DEST, &gate);
    w.commit_files(10, &gate, &["services/api/src/refund.rs"]);
    w.send(w.pr_event("pullRequestCreated", 10)).await;
    let input = w.last_input();
    let mut runs = vec![passed_run("fmt", 1)];
    for i in 0..20 {
        let name = format!("suite-{i}");
        let arn = format!("arn:aws:codebuild:us-east-1:123456789012:report/gate-my-repo-tests:{i}");
        let mut run = failed_run(&name, "FAILED");
        let mut build = build_json(&name, "FAILED");
        build["ReportArns"] = json!([arn]);
        run.cause = Some(json!({ "Build": build }).to_string());
        runs.push(run);
        w.logs.put_report(
            BuildReport {
                arn,
                kind: BuildReportKind::Test,
                status: "FAILED".into(),
                truncated: false,
                status_counts: [("FAILED".to_owned(), 50)].into_iter().collect(),
                lines_covered: None,
                lines_missed: None,
            },
            (0..50)
                .map(|t| ReportTestCase {
                    prefix: Some(name.clone()),
                    name: format!("case_{t}"),
                    status: "FAILED".into(),
                    message: Some(format!("{t}: {}", "x".repeat(490))),
                })
                .collect(),
        );
    }
    let outcome = w.report(&input, &runs).await;
    assert_eq!(verdict(&outcome), Verdict::Failed);
    let record = w.ledger.records().pop().expect("the PR's record");
    let size = serde_json::to_vec(&record).expect("JSON").len();
    assert!(size < 400_000, "the record is {size} bytes");
    let results = &record.run.as_ref().expect("run").results;
    let mut kept = 0;
    for i in 0..20 {
        let name = format!("suite-{i}");
        let result = results
            .iter()
            .find(|r| r.name.as_str() == name)
            .expect("recorded");
        let tests = result
            .reports
            .as_ref()
            .and_then(|r| r.tests.as_ref())
            .expect("tests read");
        assert_eq!(tests.counts.failed, 50);
        assert_eq!(tests.failed.len() as u64 + tests.failed_left_out, 50);
        assert_eq!(tests.failed[0].name, format!("{name}.case_0"));
        kept += tests.failed.len();
    }
    assert!(kept < 1_000, "the record was cut: {kept} kept");
}
