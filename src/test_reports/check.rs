//! A check's reports as the gate keeps and shows them, whichever path read them (the local
//! runner from the check's worktree, gate-report from CodeBuild's report groups): the test
//! counts and failed tests, the line coverage with the check's `min_line` and the base it is
//! compared with, and the reports that could not be read and why.
//!
//! A report that cannot be read never changes how the check ended: it becomes an
//! [`Unreadable`] note. Only a coverage that *was* read and is under `min_line` fails a check
//! that passed ([`CheckReports::shortfall`]).

use super::{LineCoverage, ReportError, TestSummary, parse_coverage, parse_junit};
use crate::gate_file::{CoverageFormat, CoverageReport};
use crate::ids::CheckName;
use crate::policy::{CheckResult, CheckStatus};
use serde::{Deserialize, Serialize};

/// How many unreadable-report notes a check keeps (the rest are counted in the last one).
pub const MAX_UNREADABLE: usize = 10;

/// What a check's reports said.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckReports {
    /// The JUnit results of every report read, added up; `None` when none was read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tests: Option<TestSummary>,
    /// The line coverage, when the coverage report was read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub coverage: Option<CoverageResult>,
    /// The reports that could not be read, and why.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub unreadable: Vec<Unreadable>,
}

/// A check's line coverage, its minimum and what it is compared with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct CoverageResult {
    /// The lines measured and covered.
    pub line: LineCoverage,
    /// The gate file's `min_line` (whole percent), if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_line: Option<u32>,
    /// The destination's last recorded coverage for the same check (see
    /// `docs/design.md`, "Test results and coverage"), filled in before the comment is
    /// written; `None` when there is none yet.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub base: Option<LineCoverage>,
}

/// A report that could not be read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Unreadable {
    /// The report: the file (or glob) as declared, or the report's name on CodeBuild.
    pub report: String,
    /// Why.
    pub why: String,
}

/// A coverage under the check's `min_line`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Shortfall {
    /// The line coverage measured, in percent.
    pub percent: f64,
    /// The minimum, in whole percent.
    pub min_line: u32,
}

impl CheckReports {
    /// Whether the reports hold nothing to show.
    pub fn is_empty(&self) -> bool {
        self.tests.is_none() && self.coverage.is_none() && self.unreadable.is_empty()
    }

    /// Adds a JUnit report's results (or the reason it could not be read) under `report`.
    pub fn add_junit(&mut self, report: &str, read: Result<TestSummary, ReportError>) {
        match read {
            Ok(summary) => match &mut self.tests {
                Some(tests) => tests.merge(summary),
                None => self.tests = Some(summary),
            },
            Err(e) => self.note(report, e.to_string()),
        }
    }

    /// Reads a JUnit report's bytes (or the reason they could not be read) under `report`.
    pub fn add_junit_bytes(&mut self, report: &str, bytes: Result<Vec<u8>, ReportError>) {
        self.add_junit(report, bytes.and_then(|b| parse_junit(&b)));
    }

    /// Reads the coverage report `spec` from its bytes (or notes why it could not be read).
    pub fn set_coverage_bytes(
        &mut self,
        spec: &CoverageReport,
        bytes: Result<Vec<u8>, ReportError>,
    ) {
        let format: CoverageFormat = spec.format;
        match bytes.and_then(|b| parse_coverage(format, &b)) {
            Ok(line) => {
                self.coverage = Some(CoverageResult {
                    line,
                    min_line: spec.min_line,
                    base: None,
                });
            }
            Err(e) => self.note(&spec.path, e.to_string()),
        }
    }

    /// Notes that `report` could not be read because of `why`, keeping at most
    /// [`MAX_UNREADABLE`] notes (the last one then counts the rest).
    pub fn note(&mut self, report: &str, why: String) {
        if self.unreadable.len() < MAX_UNREADABLE {
            self.unreadable.push(Unreadable {
                report: report.to_owned(),
                why,
            });
        } else if let Some(last) = self.unreadable.last_mut() {
            last.report = "more reports".to_owned();
            last.why = "more reports could not be read".to_owned();
        }
    }

    /// The coverage under `min_line`, when it was read and is: the one way reports fail a
    /// check. Nothing measured (no line at all) is not a shortfall.
    pub fn shortfall(&self) -> Option<Shortfall> {
        let coverage = self.coverage.as_ref()?;
        let min_line = coverage.min_line?;
        let percent = coverage.line.percent()?;
        (percent < f64::from(min_line)).then_some(Shortfall { percent, min_line })
    }
}

/// Puts a build's reports on its check's result, as gate-report and gate-release do: a
/// coverage under `min_line` fails a check that passed, with the reason as its log tail (the
/// local runner, which has the log itself, writes the reason into it); nothing else in the
/// reports changes the result.
pub fn judge_with_reports(result: &mut CheckResult, reports: CheckReports) {
    if let Some(shortfall) = reports.shortfall()
        && result.status == CheckStatus::Passed
    {
        result.status = CheckStatus::Failed;
        result.log_tail = Some(format!("[gate] {}", shortfall.reason()));
    }
    result.reports = Some(reports);
}

impl Shortfall {
    /// The reason a check fails for it, in the words of the log and the comment.
    pub fn reason(&self) -> String {
        format!(
            "line coverage {} is under the check's min_line of {} %",
            percent_text(self.percent),
            self.min_line
        )
    }
}

/// Fills in each result's coverage base with `base(check)`, the destination's last recorded
/// coverage of that check (each path keeps its own record: the local history, the ledger).
pub fn fill_coverage_bases(
    results: &mut [CheckResult],
    base: impl Fn(&CheckName) -> Option<LineCoverage>,
) {
    for result in results {
        if let Some(coverage) = result.reports.as_mut().and_then(|r| r.coverage.as_mut()) {
            coverage.base = base(&result.name);
        }
    }
}

/// A percentage with one decimal: `81.2 %`. Rounded down, so 79.96 % is never
/// shown as `80.0 %` next to a `min_line` of 80 it failed.
pub fn percent_text(percent: f64) -> String {
    format!("{:.1} %", (percent * 10.0).floor() / 10.0)
}
