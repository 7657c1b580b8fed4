//! The in-memory [`TestReports`]: the reports of fake builds, kept with [`FakeLogs`] (a fake
//! build's log and reports are read through one value, as gate-report reads them on AWS).

use super::{FakeLogs, lock};
use crate::ports::PortResult;
use crate::ports::test_reports::{BuildReport, ReportTestCase, TestReports};
use std::collections::HashMap;

/// Reports by ARN, and the failed test cases of each.
#[derive(Debug, Default)]
pub(super) struct FakeBuildReports {
    reports: HashMap<String, BuildReport>,
    failed: HashMap<String, Vec<ReportTestCase>>,
}

impl FakeLogs {
    /// Stores a build's report and its failed test cases.
    pub fn put_report(&self, report: BuildReport, failed: Vec<ReportTestCase>) {
        let mut store = lock(&self.reports);
        store.failed.insert(report.arn.clone(), failed);
        store.reports.insert(report.arn.clone(), report);
    }
}

impl TestReports for FakeLogs {
    async fn reports(&self, arns: &[String]) -> PortResult<Vec<BuildReport>> {
        self.calls.record("codebuild:BatchGetReports")?;
        let store = lock(&self.reports);
        Ok(arns
            .iter()
            .filter_map(|arn| store.reports.get(arn).cloned())
            .collect())
    }

    async fn failed_cases(&self, arn: &str, limit: usize) -> PortResult<Vec<ReportTestCase>> {
        self.calls.record("codebuild:DescribeTestCases")?;
        let store = lock(&self.reports);
        let mut cases = store.failed.get(arn).cloned().unwrap_or_default();
        cases.truncate(limit);
        Ok(cases)
    }
}
