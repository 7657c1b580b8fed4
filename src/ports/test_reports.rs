//! The port gate-report reads a build's test and coverage reports through ([`TestReports`]):
//! CodeBuild's report groups on AWS (`BatchGetReports`, `DescribeTestCases`), an in-memory
//! fake in flow tests. Locally there is nothing to fetch: the runner read the files already.
//!
//! The data is CodeBuild's, kept as plain values: [`crate::test_reports::from_codebuild`]
//! turns it into a check's [`crate::test_reports::CheckReports`].

use super::PortResult;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::future::Future;

/// At most this many of a build's report ARNs are read (a gate check writes two: its tests and
/// its coverage).
pub const MAX_BUILD_REPORTS: usize = 10;

/// What a report holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BuildReportKind {
    /// Test results (`TEST`).
    Test,
    /// Code coverage (`CODE_COVERAGE`).
    Coverage,
}

/// One report of a build, as `BatchGetReports` returns it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BuildReport {
    /// The report's ARN (`…:report/<group>:<id>`).
    pub arn: String,
    /// Tests or coverage.
    pub kind: BuildReportKind,
    /// `GENERATING`, `SUCCEEDED`, `FAILED` (a test failed), `INCOMPLETE`, `DELETING`.
    pub status: String,
    /// Whether CodeBuild truncated it (over its 500 test cases a report).
    pub truncated: bool,
    /// Test cases per status (`SUCCEEDED`, `FAILED`, `ERROR`, `SKIPPED`, `UNKNOWN`).
    pub status_counts: BTreeMap<String, u64>,
    /// Lines covered, when it is a coverage report with a summary.
    pub lines_covered: Option<u64>,
    /// Lines missed, when it is a coverage report with a summary.
    pub lines_missed: Option<u64>,
}

/// A test case that did not pass, as `DescribeTestCases` returns it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReportTestCase {
    /// The test's class or suite prefix, when the report gives one.
    pub prefix: Option<String>,
    /// The test's name.
    pub name: String,
    /// `FAILED` or `ERROR`.
    pub status: String,
    /// Its message, when there is one.
    pub message: Option<String>,
}

/// A build's reports.
pub trait TestReports: Send + Sync {
    /// The reports `arns` name (at most [`MAX_BUILD_REPORTS`] are asked for); reports that no
    /// longer exist are left out.
    fn reports(&self, arns: &[String])
    -> impl Future<Output = PortResult<Vec<BuildReport>>> + Send;

    /// The first `limit` test cases of report `arn` that failed or errored (failed ones first).
    fn failed_cases(
        &self,
        arn: &str,
        limit: usize,
    ) -> impl Future<Output = PortResult<Vec<ReportTestCase>>> + Send;
}
