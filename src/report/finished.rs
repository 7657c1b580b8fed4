//! The verdict comment of a run: heading, summary, results table, log tails; and "nothing to test".

use super::blocks::{directives_block, gate_file_block, head, revision_words, skipped_block};
use super::fit::{Block, Part};
use super::log_tail::failure_tails;
use super::results::{Row, results_table};
use super::test_results::test_results;
use super::untested::promotion_refused;
use super::words::{FAILED, PASSED, RUNNING, inline_names, plural};
use super::{Comment, CommentKind, Subject, comment};
use crate::plan::{Plan, Reason};
use crate::policy::{CheckResult, Verdict};
use std::fmt::Write as _;

/// The order in which a verdict comment's blocks shrink when it does not fit: the log tails (each
/// keeps its end), the skipped checks, the directives, the failed tests of the test results, the
/// gate file note, then the table's rows (passed checks first).
const SHRINK: &[Part] = &[
    Part::Tails,
    Part::Skipped,
    Part::Directives,
    Part::TestResults,
    Part::GateFile,
    Part::Table,
];

/// The order in which a "nothing to test" comment's blocks shrink when it does not fit.
const NOTHING_TO_TEST_SHRINK: &[Part] = &[Part::Skipped, Part::Directives, Part::GateFile];

/// The verdict comment for a run of `plan` that produced `results` (`verdict` from
/// [`crate::policy::verdict`]). Also the comment for a plan that runs nothing ("nothing to
/// test") and for a plan the promotion rules refuse.
pub fn finished(
    subject: &Subject,
    plan: &Plan,
    results: &[CheckResult],
    verdict: Verdict,
) -> Comment {
    if let Some(violation) = &plan.promotion {
        return promotion_refused(subject, violation);
    }
    let rows = Row::for_plan(plan, results);
    if rows.is_empty() {
        return nothing_to_test(subject, plan, verdict);
    }
    let summary = summary(&rows, verdict, &revision_words(subject));
    let blocks = [
        head(&verdict_heading(verdict), subject, "Tested"),
        Block::fixed(Part::Summary, summary),
        results_table(&rows),
        skipped_block(plan),
        directives_block(plan),
        test_results(&rows),
        failure_tails(&rows),
        gate_file_block(plan),
    ];
    comment(CommentKind::Finished, subject, &blocks, SHRINK)
}

/// The heading for a verdict: `✅ Gate passed`, `❌ Gate failed` or `⏳ Gate running`.
fn verdict_heading(verdict: Verdict) -> String {
    match verdict {
        Verdict::Passed => format!("{PASSED} Gate passed"),
        Verdict::Failed => format!("{FAILED} Gate failed"),
        Verdict::Pending => format!("{RUNNING} Gate running"),
    }
}

/// The summary under the heading: how the required checks went, then the side notes, then what
/// the gate did about `revision`.
fn summary(rows: &[Row<'_>], verdict: Verdict, revision: &str) -> String {
    let mut out = required_checks_sentence(rows, verdict);
    out.push_str(&side_notes(rows));
    out.push_str(&gate_action(verdict, revision));
    out
}

/// How the required checks went, in one sentence.
fn required_checks_sentence(rows: &[Row<'_>], verdict: Verdict) -> String {
    let required: Vec<&Row<'_>> = rows.iter().filter(|r| r.check.required).collect();
    let blocking: Vec<&Row<'_>> = required
        .iter()
        .copied()
        .filter(|r| r.fell_short())
        .collect();
    match verdict {
        Verdict::Passed if required.is_empty() => {
            "No required check ran, so nothing blocks the merge.".to_owned()
        }
        Verdict::Passed if required.len() == 1 => "The required check passed.".to_owned(),
        Verdict::Passed => format!("All {} required checks passed.", required.len()),
        Verdict::Failed if blocking.is_empty() => "The run did not complete.".to_owned(),
        Verdict::Failed => format!(
            "{} of {} did not pass: {}.",
            blocking.len(),
            plural(required.len(), "required check", "required checks"),
            inline_names(blocking.iter().map(|r| r.check.name.as_str()))
        ),
        Verdict::Pending => format!(
            "{} of {} still running.",
            rows.iter().filter(|r| r.pending()).count(),
            plural(rows.len(), "check is", "checks are")
        ),
    }
}

/// Optional checks that did not pass and flaky passes, each a sentence after a space; empty when
/// there are none.
fn side_notes(rows: &[Row<'_>]) -> String {
    let mut out = String::new();
    let optional_failed = rows
        .iter()
        .filter(|r| !r.check.required && r.fell_short())
        .count();
    if optional_failed > 0 {
        let _ = write!(
            out,
            " {} did not pass, which does not block the merge.",
            plural(optional_failed, "optional check", "optional checks")
        );
    }
    let flaky = rows.iter().filter(|r| r.flaky()).count();
    if flaky > 0 {
        let _ = write!(
            out,
            " {} passed only after a retry (flaky).",
            plural(flaky, "check", "checks")
        );
    }
    out
}

/// What the gate did about `revision` (approve, revoke, wait), as a sentence after a space.
fn gate_action(verdict: Verdict, revision: &str) -> String {
    match verdict {
        Verdict::Passed => format!(" The gate approves {revision}."),
        Verdict::Failed => format!(
            " The gate revoked its approval of {revision} (REVOKE), so this pull request \
             cannot merge. Push a fix, or comment `/gate retry` to run the failed checks again."
        ),
        Verdict::Pending => " The gate approves nothing until they finish.".to_owned(),
    }
}

/// The verdict comment for a plan that runs no check: why nothing runs, and what the gate did.
fn nothing_to_test(subject: &Subject, plan: &Plan, verdict: Verdict) -> Comment {
    let revision = revision_words(subject);
    let (heading, outcome) = match verdict {
        Verdict::Passed => (
            format!("{}: nothing to test", verdict_heading(verdict)),
            format!("The gate approves {revision}."),
        ),
        Verdict::Failed => (
            verdict_heading(verdict),
            format!("The gate revoked its approval of {revision} (REVOKE)."),
        ),
        Verdict::Pending => (
            verdict_heading(verdict),
            "The gate approves nothing yet.".to_owned(),
        ),
    };
    let why = why_nothing_runs(plan);
    let blocks = [
        head(&heading, subject, "Tested"),
        Block::fixed(Part::Summary, format!("{why} {outcome}")),
        skipped_block(plan),
        directives_block(plan),
        gate_file_block(plan),
    ];
    comment(
        CommentKind::Finished,
        subject,
        &blocks,
        NOTHING_TO_TEST_SHRINK,
    )
}

/// Why a plan runs no check, in one sentence.
fn why_nothing_runs(plan: &Plan) -> String {
    let all = |f: fn(&Reason) -> bool| {
        !plan.checks.is_empty() && plan.checks.iter().all(|c| c.reasons.iter().any(f))
    };
    if all(|r| matches!(r, Reason::NoChanges)) {
        return "This pull request changes no file, so no check needs to run.".to_owned();
    }
    if !all(|r| matches!(r, Reason::AllIgnored)) {
        return format!(
            "No check needs to run for the {} (see below).",
            plural(plan.changed_paths, "changed path", "changed paths")
        );
    }
    match plan.changed_paths {
        1 => {
            "The one changed path is ignored by the gate file, so no check needs to run.".to_owned()
        }
        2 => {
            "Both changed paths are ignored by the gate file, so no check needs to run.".to_owned()
        }
        n => {
            format!("All {n} changed paths are ignored by the gate file, so no check needs to run.")
        }
    }
}
