//! What a record keeps of its checks' details. A run's or a release's record is one DynamoDB
//! item, and an item holds at most 400 KB (docs/design.md, "Test results and coverage"). Each
//! check's details are bounded already (a log tail of [`crate::report`]'s lines, at most
//! [`MAX_FAILED_TESTS`](super::MAX_FAILED_TESTS) failed tests with bounded messages), but not
//! all of them together: twenty checks full of failures would not fit. [`bound_details`] cuts
//! them to [`MAX_RECORD_DETAIL_BYTES`] in all, fairly: every check keeps the end of its log and
//! its first failed tests, and the counts stay whole (the tests cut are counted in
//! `failed_left_out`). The comment and the notices are written from the full results; only the
//! record is cut.

use crate::policy::CheckResult;

/// The most bytes of log tails and of failed tests' names and messages one record keeps in
/// all. Half of an item, leaving the other half to the plan, the checks' other fields and the
/// rest of the record.
pub const MAX_RECORD_DETAIL_BYTES: usize = 200 * 1024;

/// What a failed test costs besides its name and message (the JSON keys and quotes).
const FAILED_TEST_OVERHEAD: usize = 48;

/// Cuts the log tails and failed tests of `results` to [`MAX_RECORD_DETAIL_BYTES`] in all.
/// Results that fit are left as they are.
pub fn bound_details(results: &mut [CheckResult]) {
    let budget = MAX_RECORD_DETAIL_BYTES;
    if detail_bytes(results) <= budget {
        return;
    }
    // The log tails get at most half, shared equally; the failed tests get what is left.
    let tails = results.iter().filter(|r| r.log_tail.is_some()).count();
    if let Some(share) = (budget / 2).checked_div(tails) {
        for tail in results.iter_mut().filter_map(|r| r.log_tail.as_mut()) {
            keep_end(tail, share);
        }
    }
    let used: usize = results
        .iter()
        .filter_map(|r| r.log_tail.as_ref())
        .map(String::len)
        .sum();
    keep_failed_tests(results, budget.saturating_sub(used));
}

/// The bytes of details in `results`: log tails and failed tests.
fn detail_bytes(results: &[CheckResult]) -> usize {
    results
        .iter()
        .map(|r| {
            r.log_tail.as_ref().map_or(0, String::len)
                + failed_tests(r).map_or(0, |failed| {
                    failed
                        .iter()
                        .map(|t| t.name.len() + t.message.len() + FAILED_TEST_OVERHEAD)
                        .sum()
                })
        })
        .sum()
}

fn failed_tests(result: &CheckResult) -> Option<&Vec<super::FailedTest>> {
    result
        .reports
        .as_ref()
        .and_then(|r| r.tests.as_ref())
        .map(|t| &t.failed)
}

/// Keeps the failed tests that fit in `budget`, taken in turns (each check's first, then each
/// check's second, …) so that every failing check keeps its first ones; the rest are counted.
fn keep_failed_tests(results: &mut [CheckResult], mut budget: usize) {
    let lists: Vec<&Vec<super::FailedTest>> = results.iter().filter_map(failed_tests).collect();
    let mut keep = vec![0usize; lists.len()];
    let longest = lists.iter().map(|l| l.len()).max().unwrap_or(0);
    'turns: for turn in 0..longest {
        for (list, kept) in lists.iter().zip(keep.iter_mut()) {
            let Some(test) = list.get(turn) else { continue };
            let cost = test.name.len() + test.message.len() + FAILED_TEST_OVERHEAD;
            if cost > budget {
                break 'turns;
            }
            budget -= cost;
            *kept += 1;
        }
    }
    let summaries = results
        .iter_mut()
        .filter_map(|r| r.reports.as_mut().and_then(|r| r.tests.as_mut()));
    for (summary, kept) in summaries.zip(keep) {
        let cut = summary.failed.len() - kept;
        summary.failed.truncate(kept);
        summary.failed_left_out += cut as u64;
    }
}

/// Keeps the last lines of `tail` that fit in `max` bytes, after a line saying the start was
/// cut (a single line longer than that keeps its end).
fn keep_end(tail: &mut String, max: usize) {
    const CUT: &str = "[gate] … the start of this log tail is not kept in the record\n";
    if tail.len() <= max {
        return;
    }
    let room = max.saturating_sub(CUT.len());
    let mut start = tail.len() - room;
    while !tail.is_char_boundary(start) {
        start += 1;
    }
    if let Some(newline) = tail[start..].find('\n')
        && newline + 1 < tail.len() - start
    {
        start += newline + 1;
    }
    *tail = format!("{CUT}{}", &tail[start..]);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::CheckName;
    use crate::policy::CheckStatus;
    use crate::test_reports::{CheckReports, FailedTest, Failure, TestCounts, TestSummary};

    fn failing(name: &str, tests: usize, message: usize, tail: usize) -> CheckResult {
        let mut result = CheckResult::not_run(&CheckName::from(name));
        result.status = CheckStatus::Failed;
        result.log_tail = Some(
            (0..tail / 10)
                .map(|i| format!("line {i:04}\n"))
                .collect::<String>(),
        );
        result.reports = Some(CheckReports {
            tests: Some(TestSummary {
                counts: TestCounts {
                    passed: 10,
                    failed: tests as u64 + 7,
                    errored: 0,
                    skipped: 0,
                },
                failed: (0..tests)
                    .map(|i| FailedTest {
                        name: format!("{name}::test_{i}"),
                        failure: Failure::Failed,
                        message: "x".repeat(message),
                    })
                    .collect(),
                failed_left_out: 7,
            }),
            ..CheckReports::default()
        });
        result
    }

    fn summary(r: &CheckResult) -> &TestSummary {
        r.reports
            .as_ref()
            .and_then(|r| r.tests.as_ref())
            .expect("tests")
    }

    #[test]
    fn results_that_fit_are_left_as_they_are() {
        let mut results = vec![
            failing("unit", 3, 100, 2_000),
            failing("e2e", 50, 500, 25_000),
        ];
        let before = results.clone();
        bound_details(&mut results);
        assert_eq!(results, before);
    }

    #[test]
    fn twenty_checks_full_of_failures_fit_one_item_and_keep_their_counts() {
        let mut results: Vec<_> = (0..20)
            .map(|i| failing(&format!("check-{i}"), 50, 500, 25_000))
            .collect();
        let before_bytes = serde_json::to_vec(&results).expect("JSON").len();
        assert!(
            before_bytes > 400_000,
            "the case is over an item: {before_bytes}"
        );
        bound_details(&mut results);
        let after = serde_json::to_vec(&results).expect("JSON").len();
        assert!(
            after <= MAX_RECORD_DETAIL_BYTES + 20 * 1_000,
            "{after} bytes after the cut"
        );
        for r in &results {
            let s = summary(r);
            assert!(!s.failed.is_empty(), "{} keeps its first failures", r.name);
            assert_eq!(s.failed[0].name, format!("{}::test_0", r.name));
            assert_eq!(
                s.failed.len() as u64 + s.failed_left_out,
                57,
                "every failure counted"
            );
            let tail = r.log_tail.as_deref().expect("tail");
            assert!(tail.starts_with("[gate] … the start"), "{tail:.80}");
            assert!(tail.ends_with("line 2499\n"), "the end of the log stays");
        }
        let kept: Vec<usize> = results.iter().map(|r| summary(r).failed.len()).collect();
        assert!(
            kept.iter().max().expect("kept") - kept.iter().min().expect("kept") <= 1,
            "shared in turns: {kept:?}"
        );
    }

    #[test]
    fn a_tail_is_cut_at_a_line_and_a_single_long_line_keeps_its_end() {
        const CUT: &str = "[gate] … the start of this log tail is not kept in the record\n";
        let mut lines: String = (0..100).map(|i| format!("line {i:02}\n")).collect();
        keep_end(&mut lines, CUT.len() + 20);
        assert_eq!(lines, format!("{CUT}line 98\nline 99\n"));
        let mut one = "é".repeat(1_000);
        keep_end(&mut one, 200);
        assert!(one.len() <= 200 && one.ends_with('é'), "{}", one.len());
    }
}
