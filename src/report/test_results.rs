//! What the checks' test and coverage reports said, in a verdict comment: a line per check that
//! declares reports (`412 passed, 2 failed, 3 skipped · line coverage 81.2 % (−0.4)`), the
//! reports that could not be read and why, then the failed tests by name with the first lines
//! of their message. The same words on AWS and locally: both paths fill the same
//! [`CheckReports`] and this module writes them.
//!
//! The block shrinks by showing fewer failed tests (blocking checks' first); the per-check lines
//! always stay. It stands before the log tails and shrinks after them.

use super::escape::{CLIP_NAME, CLIP_PATH, CLIP_TEXT, Style, code, longest_run, text};
use super::fit::{Block, Part};
use super::log_tail::clean_log_line;
use super::results::Row;
use super::words::{FAILED, WARNING, plural};
use crate::policy::CheckStatus;
use crate::test_reports::{
    CheckReports, CoverageResult, FailedTest, Failure, TestCounts, percent_text,
};
use std::fmt::Write as _;

/// The reports of the checks in `rows`, blocking checks first; empty when no check has any.
pub(super) fn test_results(rows: &[Row<'_>]) -> Block {
    let mut with: Vec<(&Row<'_>, &CheckReports)> = rows
        .iter()
        .filter_map(|r| r.result?.reports.as_ref().map(|rep| (r, rep)))
        .filter(|(_, rep)| !rep.is_empty())
        .collect();
    with.sort_by_key(|(r, _)| !r.check.required);
    if with.is_empty() {
        return Block::fixed(Part::TestResults, String::new());
    }
    let mut lines = vec!["**Test results**".to_owned()];
    let mut failed: Vec<String> = Vec::new();
    let mut unlisted: u64 = 0;
    for (row, reports) in &with {
        let name = row.check.name.as_str();
        lines.push(check_line(name, row.result.map(|r| r.status), reports));
        lines.extend(reports.unreadable.iter().map(|u| {
            format!(
                "- {WARNING} {}: could not read {}: {}",
                code(name, Style::Md, CLIP_NAME),
                code(&u.report, Style::Md, CLIP_PATH),
                text(&u.why, Style::Md, CLIP_TEXT)
            )
        }));
        if let Some(tests) = &reports.tests {
            failed.extend(tests.failed.iter().map(|t| failed_test(name, t)));
            unlisted += tests.failed_left_out;
        }
    }
    let head = lines.join("\n");
    let n = failed.len();
    Block::shrinking(Part::TestResults, n, move |k| {
        let mut out = head.clone();
        for test in &failed[..k] {
            out.push_str("\n\n");
            out.push_str(test);
        }
        // u64 → usize: the count is at most the number of test cases in bounded files.
        let left_out = (n - k) as u64 + unlisted;
        if left_out > 0 {
            let _ = write!(
                out,
                "\n\n{} not shown here; the JUnit reports and the logs have them.",
                plural(
                    usize::try_from(left_out).unwrap_or(usize::MAX),
                    "more failed test is",
                    "more failed tests are"
                )
            );
        }
        out
    })
}

/// `412 passed, 2 failed, 3 skipped · line coverage 81.2 % (−0.4)`, or `no report could be
/// read`: plain words, the same in a comment, a release report and a terminal.
pub(super) fn reports_words(reports: &CheckReports) -> String {
    let mut parts = Vec::new();
    if let Some(tests) = &reports.tests {
        parts.push(counts(&tests.counts));
    }
    if let Some(coverage) = &reports.coverage {
        parts.push(coverage_words(coverage));
    }
    if parts.is_empty() {
        parts.push("no report could be read".to_owned());
    }
    parts.join(" · ")
}

/// `- `unit`: 412 passed, 2 failed, 3 skipped · line coverage 81.2 % (−0.4)`, and the
/// coverage shortfall that failed the check.
fn check_line(name: &str, status: Option<CheckStatus>, reports: &CheckReports) -> String {
    let mut line = format!(
        "- {}: {}",
        code(name, Style::Md, CLIP_NAME),
        reports_words(reports)
    );
    if let Some(shortfall) = reports.shortfall() {
        let consequence = if status == Some(CheckStatus::Failed) {
            ", so the check failed"
        } else {
            ""
        };
        let _ = write!(
            line,
            " {FAILED} under the check's `min_line` of {} %{consequence}",
            shortfall.min_line
        );
    }
    line
}

/// `412 passed, 2 failed, 1 errored, 3 skipped` (errored and skipped only when there are any).
pub(super) fn counts(counts: &TestCounts) -> String {
    let mut out = format!("{} passed, {} failed", counts.passed, counts.failed);
    if counts.errored > 0 {
        let _ = write!(out, ", {} errored", counts.errored);
    }
    if counts.skipped > 0 {
        let _ = write!(out, ", {} skipped", counts.skipped);
    }
    out
}

/// `line coverage 81.2 % (−0.4)`: the change against the base when there is one; `no lines
/// measured` when the report measured none.
pub(super) fn coverage_words(coverage: &CoverageResult) -> String {
    let Some(percent) = coverage.line.percent() else {
        return "line coverage: no lines measured".to_owned();
    };
    let mut out = format!("line coverage {}", percent_text(percent));
    if let Some(base) = coverage.base.and_then(|b| b.percent()) {
        let _ = write!(out, " ({})", delta(percent, base));
    }
    out
}

/// The change from `base` to `now` in percentage points, one decimal: `+0.4`, `−0.4` (a real
/// minus sign), `±0.0`.
pub(super) fn delta(now: f64, base: f64) -> String {
    let tenths = ((now - base) * 10.0).round();
    if tenths == 0.0 {
        return "±0.0".to_owned();
    }
    let sign = if tenths > 0.0 { '+' } else { '\u{2212}' };
    format!("{sign}{:.1}", tenths.abs() / 10.0)
}

/// How many failed tests of one check a plain text (a terminal, a notice) names.
pub(super) const MAX_PLAIN_FAILED: usize = 10;

/// The reports of a check in plain lines (a terminal summary, a notice), after the line that
/// gives [`reports_words`]: the reports that could not be read and why, then the failed tests
/// by name with the first line of their message, at most [`MAX_PLAIN_FAILED`].
pub(super) fn plain_details(reports: &CheckReports) -> Vec<String> {
    let plain = Style::Plain;
    let mut lines: Vec<String> = reports
        .unreadable
        .iter()
        .map(|u| {
            format!(
                "could not read {}: {}",
                code(&u.report, plain, CLIP_PATH),
                text(&u.why, plain, CLIP_TEXT)
            )
        })
        .collect();
    let Some(tests) = &reports.tests else {
        return lines;
    };
    for test in tests.failed.iter().take(MAX_PLAIN_FAILED) {
        let how = match test.failure {
            Failure::Failed => "failed",
            Failure::Errored => "errored",
        };
        let first = test.message.lines().map(clean_log_line).next();
        let first = first.filter(|l| !l.trim().is_empty());
        lines.push(match first {
            Some(first) => format!(
                "{} {how}: {}",
                code(&test.name, plain, CLIP_PATH),
                text(first.trim(), plain, CLIP_TEXT)
            ),
            None => format!("{} {how}", code(&test.name, plain, CLIP_PATH)),
        });
    }
    let left_out =
        tests.failed.len().saturating_sub(MAX_PLAIN_FAILED) as u64 + tests.failed_left_out;
    if left_out > 0 {
        lines.push(format!(
            "{} not named here",
            plural(
                usize::try_from(left_out).unwrap_or(usize::MAX),
                "more failed test",
                "more failed tests"
            )
        ));
    }
    lines
}

/// A failed test: its check and name, then the first lines of its message in a fence.
fn failed_test(check: &str, test: &FailedTest) -> String {
    let how = match test.failure {
        Failure::Failed => "failed",
        Failure::Errored => "errored",
    };
    let mut out = format!(
        "{FAILED} {} › {} {how}",
        code(check, Style::Md, CLIP_NAME),
        code(&test.name, Style::Md, CLIP_PATH)
    );
    let lines: Vec<String> = test.message.lines().map(clean_log_line).collect();
    if lines.iter().all(|l| l.trim().is_empty()) {
        return out;
    }
    let longest = lines.iter().map(|l| longest_run(l, '`')).max().unwrap_or(0);
    let fence = "`".repeat(longest.max(2) + 1);
    let _ = write!(out, ":\n\n{fence}\n{}\n{fence}", lines.join("\n"));
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_reports::LineCoverage;

    #[test]
    fn deltas_have_a_sign_and_one_decimal() {
        assert_eq!(delta(81.2, 81.6), "\u{2212}0.4");
        assert_eq!(delta(81.6, 81.2), "+0.4");
        assert_eq!(delta(81.21, 81.24), "±0.0");
    }

    #[test]
    fn coverage_without_lines_or_base() {
        let mut c = CoverageResult {
            line: LineCoverage {
                covered: 0,
                valid: 0,
            },
            min_line: None,
            base: None,
        };
        assert_eq!(coverage_words(&c), "line coverage: no lines measured");
        c.line = LineCoverage {
            covered: 812,
            valid: 1000,
        };
        assert_eq!(coverage_words(&c), "line coverage 81.2 %");
        c.base = Some(LineCoverage {
            covered: 816,
            valid: 1000,
        });
        assert_eq!(coverage_words(&c), "line coverage 81.2 % (\u{2212}0.4)");
    }
}
