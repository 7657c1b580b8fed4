//! A check's reports from CodeBuild's report groups (the AWS path): the build's report ARNs,
//! then `BatchGetReports`' summaries and `DescribeTestCases`' failed cases, as the same
//! [`CheckReports`] the local runner fills from files. Pure.

use super::{
    CheckReports, CoverageResult, FailedTest, Failure, LineCoverage, MAX_FAILED_TESTS,
    MAX_NAME_CHARS, TestCounts, TestSummary, bounded, first_lines,
};
use crate::gate_file::{CoverageFormat, Reports};
use crate::ports::test_reports::{BuildReport, BuildReportKind, MAX_BUILD_REPORTS, ReportTestCase};
use serde_json::Value;

/// What a check's JUnit reports are called in notes on AWS.
const JUNIT: &str = "JUnit reports";

/// The report ARNs of a build (`reportArns`; `ReportArns` as Step Functions writes it), at most
/// [`MAX_BUILD_REPORTS`].
pub fn report_arns(build: &Value) -> Vec<String> {
    ["ReportArns", "reportArns"]
        .iter()
        .find_map(|k| build.get(*k))
        .and_then(Value::as_array)
        .map(|arns| {
            arns.iter()
                .filter_map(Value::as_str)
                .take(MAX_BUILD_REPORTS)
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default()
}

/// The CodeBuild file format of a coverage format; `None` for LCOV, which CodeBuild does not
/// read.
pub fn codebuild_coverage_format(format: CoverageFormat) -> Option<&'static str> {
    match format {
        CoverageFormat::Cobertura => Some("COBERTURAXML"),
        CoverageFormat::Jacoco => Some("JACOCOXML"),
        CoverageFormat::Clover => Some("CLOVERXML"),
        CoverageFormat::Lcov => None,
    }
}

/// Why an LCOV report is not read on AWS.
pub const LCOV_ON_AWS: &str = "CodeBuild does not read LCOV coverage; on AWS declare \
     Cobertura, JaCoCo or Clover (e.g. `coverage xml`, `cargo llvm-cov --cobertura`)";

/// The check's reports from its build's `reports` and the failed cases read for each test
/// report (`failed`: report ARN → its cases).
pub fn from_codebuild(
    spec: &Reports,
    reports: &[BuildReport],
    failed: &[(String, Vec<ReportTestCase>)],
) -> CheckReports {
    let mut out = CheckReports::default();
    for report in reports {
        match report.kind {
            BuildReportKind::Test if !spec.junit.is_empty() => {
                let cases = failed
                    .iter()
                    .find(|(arn, _)| *arn == report.arn)
                    .map_or(&[][..], |(_, c)| c.as_slice());
                let summary = test_summary(report, cases);
                match &mut out.tests {
                    Some(tests) => tests.merge(summary),
                    None => out.tests = Some(summary),
                }
                note_state(&mut out, JUNIT, report);
            }
            BuildReportKind::Coverage => {
                if let Some(coverage) = &spec.coverage {
                    if let Some(line) = line_coverage(report) {
                        out.coverage = Some(CoverageResult {
                            line,
                            min_line: coverage.min_line,
                            base: None,
                        });
                    }
                    note_state(&mut out, &coverage.path, report);
                }
            }
            BuildReportKind::Test => {}
        }
    }
    note_missing(&mut out, spec, reports);
    out
}

/// Notes the declared reports the build has no report for.
fn note_missing(out: &mut CheckReports, spec: &Reports, reports: &[BuildReport]) {
    let has = |kind| reports.iter().any(|r| r.kind == kind);
    if !spec.junit.is_empty() && !has(BuildReportKind::Test) {
        out.note(
            &spec.junit.join(", "),
            "the build has no test report: no file matched, or CodeBuild could not read them"
                .to_owned(),
        );
    }
    if let Some(coverage) = &spec.coverage {
        if codebuild_coverage_format(coverage.format).is_none() {
            out.note(&coverage.path, LCOV_ON_AWS.to_owned());
        } else if !has(BuildReportKind::Coverage) {
            out.note(
                &coverage.path,
                "the build has no coverage report: the file was missing, or CodeBuild could \
                 not read it"
                    .to_owned(),
            );
        }
    }
}

/// Notes a report CodeBuild did not finish or cut short.
fn note_state(out: &mut CheckReports, name: &str, report: &BuildReport) {
    match report.status.as_str() {
        "SUCCEEDED" | "FAILED" => {}
        "GENERATING" => out.note(name, "CodeBuild was still generating the report".to_owned()),
        other => out.note(
            name,
            format!(
                "CodeBuild reports it {}",
                bounded(&other.to_lowercase(), 40)
            ),
        ),
    }
    if report.truncated {
        out.note(
            name,
            "CodeBuild truncated the report (it keeps at most 500 test cases a report)".to_owned(),
        );
    }
}

/// A test report's counts and failed cases.
fn test_summary(report: &BuildReport, cases: &[ReportTestCase]) -> TestSummary {
    let count = |status: &str| report.status_counts.get(status).copied().unwrap_or(0);
    let counts = TestCounts {
        passed: count("SUCCEEDED"),
        failed: count("FAILED"),
        errored: count("ERROR"),
        skipped: count("SKIPPED"),
    };
    let failed: Vec<FailedTest> = cases
        .iter()
        .take(MAX_FAILED_TESTS)
        .map(failed_test)
        .collect();
    let listed = failed.len() as u64;
    TestSummary {
        counts,
        failed,
        failed_left_out: (counts.failed + counts.errored).saturating_sub(listed),
    }
}

/// A failed case by name: `prefix.name`, unless the name already starts with `prefix.` (as
/// CodeBuild's NUnit cases do).
fn failed_test(case: &ReportTestCase) -> FailedTest {
    let name = match case.prefix.as_deref().filter(|p| !p.is_empty()) {
        Some(prefix) if !case.name.starts_with(&format!("{prefix}.")) => {
            format!("{prefix}.{}", case.name)
        }
        _ => case.name.clone(),
    };
    FailedTest {
        name: bounded(&name, MAX_NAME_CHARS),
        failure: if case.status == "ERROR" {
            Failure::Errored
        } else {
            Failure::Failed
        },
        message: first_lines(case.message.as_deref().unwrap_or_default()),
    }
}

/// A coverage report's line counts.
fn line_coverage(report: &BuildReport) -> Option<LineCoverage> {
    let covered = report.lines_covered?;
    let missed = report.lines_missed?;
    Some(LineCoverage {
        covered,
        valid: covered.saturating_add(missed),
    })
}
