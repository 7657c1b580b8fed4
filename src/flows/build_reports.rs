//! Reading a check's reports on AWS, for gate-report (a pull request's checks) and
//! gate-release (a release's checks): the build's report ARNs, their summaries, the failed
//! test cases of each test report, as the check's [`CheckReports`]. Reading never fails the
//! report: an error becomes a note in the comment, and the check's result stands.

use crate::gate_file::Reports;
use crate::ids::CheckName;
use crate::machine::{CheckRun, StageSpec, build};
use crate::ports::test_reports::{BuildReportKind, ReportTestCase, TestReports};
use crate::test_reports::codebuild::{from_codebuild, report_arns};
use crate::test_reports::{CheckReports, MAX_FAILED_TESTS};
use serde_json::Value;
use std::collections::BTreeMap;

/// The reports `spec` declares, read from check run `run`'s build.
pub async fn read_run_reports<R: TestReports>(
    reader: &R,
    spec: &Reports,
    run: &CheckRun,
) -> CheckReports {
    read_build_reports(reader, spec, build::build_of(run).as_ref()).await
}

/// What the reports of the checks of `stages` that declare any said, read from their runs
/// in `runs` (a check without a run has nothing to read).
pub async fn read_stage_reports<R: TestReports>(
    reader: &R,
    stages: &[StageSpec],
    runs: &[&CheckRun],
) -> BTreeMap<CheckName, CheckReports> {
    let mut out = BTreeMap::new();
    for check in stages.iter().flat_map(|s| &s.checks) {
        let (Some(spec), Some(run)) = (
            check.reports.as_ref(),
            runs.iter().find(|r| r.name == check.name),
        ) else {
            continue;
        };
        out.insert(
            check.name.clone(),
            read_run_reports(reader, spec, run).await,
        );
    }
    out
}

/// What a note calls the build's reports when they could not be read at all.
const BUILD_REPORTS: &str = "the build's reports";

/// The reports `spec` declares, read from `build`'s reports through `reader`.
pub async fn read_build_reports<R: TestReports>(
    reader: &R,
    spec: &Reports,
    build: Option<&Value>,
) -> CheckReports {
    let arns = build.map(report_arns).unwrap_or_default();
    let reports = if arns.is_empty() {
        Vec::new()
    } else {
        match reader.reports(&arns).await {
            Ok(reports) => reports,
            Err(e) => {
                tracing::warn!(error = %e, "cannot read the build's reports");
                let mut out = CheckReports::default();
                out.note(BUILD_REPORTS, format!("CodeBuild did not answer: {e}"));
                return out;
            }
        }
    };
    let mut failed: Vec<(String, Vec<ReportTestCase>)> = Vec::new();
    let mut problems = Vec::new();
    for report in reports.iter().filter(|r| r.kind == BuildReportKind::Test) {
        let not_passed = ["FAILED", "ERROR"]
            .iter()
            .map(|s| report.status_counts.get(*s).copied().unwrap_or(0))
            .sum::<u64>();
        if not_passed == 0 || spec.junit.is_empty() {
            continue;
        }
        match reader.failed_cases(&report.arn, MAX_FAILED_TESTS).await {
            Ok(cases) => failed.push((report.arn.clone(), cases)),
            Err(e) => {
                tracing::warn!(error = %e, report = %report.arn, "cannot read the failed test cases");
                problems.push(format!("CodeBuild did not list the failed tests: {e}"));
            }
        }
    }
    let mut out = from_codebuild(spec, &reports, &failed);
    for why in problems {
        out.note(BUILD_REPORTS, why);
    }
    out
}
