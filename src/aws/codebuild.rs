//! [`TestReports`] over CodeBuild's report groups: `BatchGetReports` for a build's reports,
//! `DescribeTestCases` (status `FAILED`, then `ERROR`: a filter takes one status) for the
//! failed cases, and `DescribeCodeCoverages` summed per file when a coverage report comes
//! without its summary. Every listing is paged and bounded.
//!
//! [`BuildOutputs`] is what gate-report reads a build through: its log ([`AwsLogs`]) and its
//! reports ([`AwsTestReports`]).

use super::{AwsLogs, port_error};
use crate::ports::test_reports::{
    BuildReport, BuildReportKind, MAX_BUILD_REPORTS, ReportTestCase, TestReports,
};
use crate::ports::{Logs, PortResult};
use aws_sdk_codebuild::Client;
use aws_sdk_codebuild::types::{Report, ReportType, TestCaseFilter};
use std::collections::BTreeMap;

const BATCH_GET_REPORTS: &str = "codebuild:BatchGetReports";
const DESCRIBE_TEST_CASES: &str = "codebuild:DescribeTestCases";
const DESCRIBE_CODE_COVERAGES: &str = "codebuild:DescribeCodeCoverages";

/// `DescribeTestCases`' and `DescribeCodeCoverages`' largest page.
pub const PAGE: i32 = 100;
/// Pages of `DescribeCodeCoverages` read for one report (100 files each).
pub const MAX_COVERAGE_PAGES: usize = 20;
/// Pages of `DescribeTestCases` read per status: enough for the failed tests a comment keeps.
pub const MAX_TEST_CASE_PAGES: usize = 2;

/// A build's reports in CodeBuild.
#[derive(Debug, Clone)]
pub struct AwsTestReports {
    client: Client,
}

impl AwsTestReports {
    /// Wraps a CodeBuild client.
    pub fn new(client: Client) -> Self {
        Self { client }
    }

    /// One status's failed cases, page by page, until `limit` or the pages run out.
    async fn cases(
        &self,
        arn: &str,
        status: &str,
        limit: usize,
    ) -> PortResult<Vec<ReportTestCase>> {
        let mut out = Vec::new();
        let mut token: Option<String> = None;
        for _ in 0..MAX_TEST_CASE_PAGES {
            let page = self
                .client
                .describe_test_cases()
                .report_arn(arn)
                .filter(TestCaseFilter::builder().status(status).build())
                .max_results(PAGE)
                .set_next_token(token.take())
                .send()
                .await
                .map_err(|e| port_error(DESCRIBE_TEST_CASES, e))?;
            out.extend(page.test_cases().iter().map(|c| ReportTestCase {
                prefix: c.prefix().map(str::to_owned),
                name: c.name().unwrap_or("(unnamed test)").to_owned(),
                status: c.status().unwrap_or(status).to_owned(),
                message: c.message().map(str::to_owned),
            }));
            token = page.next_token().map(str::to_owned);
            if out.len() >= limit || token.is_none() {
                break;
            }
        }
        out.truncate(limit);
        Ok(out)
    }

    /// The lines covered and missed, summed over a coverage report's files.
    async fn coverage_totals(&self, arn: &str) -> PortResult<Option<(u64, u64)>> {
        let (mut covered, mut missed, mut files) = (0u64, 0u64, 0usize);
        let mut token: Option<String> = None;
        for _ in 0..MAX_COVERAGE_PAGES {
            let page = self
                .client
                .describe_code_coverages()
                .report_arn(arn)
                .max_results(PAGE)
                .set_next_token(token.take())
                .send()
                .await
                .map_err(|e| port_error(DESCRIBE_CODE_COVERAGES, e))?;
            for file in page.code_coverages() {
                covered += count(file.lines_covered());
                missed += count(file.lines_missed());
                files += 1;
            }
            token = page.next_token().map(str::to_owned);
            if token.is_none() {
                return Ok((files > 0).then_some((covered, missed)));
            }
        }
        // More files than read: a partial sum would be a wrong percentage.
        Ok(None)
    }
}

/// A count CodeBuild gives as an optional `i32`.
fn count(n: Option<i32>) -> u64 {
    n.and_then(|n| u64::try_from(n).ok()).unwrap_or(0)
}

/// A report as the port's value.
fn build_report(report: &Report) -> Option<BuildReport> {
    let kind = match report.r#type()? {
        ReportType::Test => BuildReportKind::Test,
        ReportType::CodeCoverage => BuildReportKind::Coverage,
        _ => return None,
    };
    let status_counts: BTreeMap<String, u64> = report
        .test_summary()
        .map(|s| {
            s.status_counts()
                .iter()
                .map(|(k, v)| (k.clone(), count(Some(*v))))
                .collect()
        })
        .unwrap_or_default();
    let coverage = report.code_coverage_summary();
    Some(BuildReport {
        arn: report.arn()?.to_owned(),
        kind,
        status: report.status().map_or("UNKNOWN", |s| s.as_str()).to_owned(),
        truncated: report.truncated().unwrap_or(false),
        status_counts,
        lines_covered: coverage
            .and_then(|c| c.lines_covered())
            .map(|n| count(Some(n))),
        lines_missed: coverage
            .and_then(|c| c.lines_missed())
            .map(|n| count(Some(n))),
    })
}

impl TestReports for AwsTestReports {
    async fn reports(&self, arns: &[String]) -> PortResult<Vec<BuildReport>> {
        let arns: Vec<String> = arns.iter().take(MAX_BUILD_REPORTS).cloned().collect();
        if arns.is_empty() {
            return Ok(Vec::new());
        }
        let output = self
            .client
            .batch_get_reports()
            .set_report_arns(Some(arns))
            .send()
            .await
            .map_err(|e| port_error(BATCH_GET_REPORTS, e))?;
        let mut reports: Vec<BuildReport> =
            output.reports().iter().filter_map(build_report).collect();
        for report in &mut reports {
            let summed = report.kind == BuildReportKind::Coverage
                && (report.lines_covered.is_none() || report.lines_missed.is_none());
            if summed && let Some((covered, missed)) = self.coverage_totals(&report.arn).await? {
                report.lines_covered = Some(covered);
                report.lines_missed = Some(missed);
            }
        }
        Ok(reports)
    }

    async fn failed_cases(&self, arn: &str, limit: usize) -> PortResult<Vec<ReportTestCase>> {
        let mut cases = self.cases(arn, "FAILED", limit).await?;
        if cases.len() < limit {
            let errored = self.cases(arn, "ERROR", limit - cases.len()).await?;
            cases.extend(errored);
        }
        Ok(cases)
    }
}

/// A build's log and reports, as gate-report reads them.
#[derive(Debug, Clone)]
pub struct BuildOutputs {
    /// The build logs.
    pub logs: AwsLogs,
    /// The test and coverage reports.
    pub reports: AwsTestReports,
}

impl Logs for BuildOutputs {
    async fn tail(&self, group: &str, stream: &str, lines: usize) -> PortResult<Option<String>> {
        self.logs.tail(group, stream, lines).await
    }
}

impl TestReports for BuildOutputs {
    async fn reports(&self, arns: &[String]) -> PortResult<Vec<BuildReport>> {
        self.reports.reports(arns).await
    }

    async fn failed_cases(&self, arn: &str, limit: usize) -> PortResult<Vec<ReportTestCase>> {
        self.reports.failed_cases(arn, limit).await
    }
}
