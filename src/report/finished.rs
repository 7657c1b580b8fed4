//! The verdict comment of a run: summary, results table, failure tails; and "nothing to test".

use super::blocks::{directives_block, gate_file_block, head, revision_words, skipped_block};
use super::fit::{Block, Part};
use super::log_tail::{MAX_TAILS, Tail, tails_block};
use super::results::Row;
use super::untested::promotion_refused;
use super::words::{FAILED, PASSED, RUNNING, inline_names, plural, status_word};
use super::{Comment, CommentKind, Subject, comment};
use crate::plan::{Plan, Reason};
use crate::policy::{CheckResult, CheckStatus, Verdict};
use std::fmt::Write as _;

/// The order in which a verdict comment's blocks shrink when it does not fit: the log tails (each
/// keeps its end), the skipped checks, the directives, the gate file note, then the table's rows
/// (passed checks first).
const SHRINK: &[Part] = &[
    Part::Tails,
    Part::Skipped,
    Part::Directives,
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
    let rows: Vec<Row<'_>> = plan
        .to_run()
        .map(|check| Row {
            check,
            result: results.iter().find(|r| r.name == check.name),
        })
        .collect();
    if rows.is_empty() {
        return nothing_to_test(subject, plan, verdict);
    }

    let heading = match verdict {
        Verdict::Passed => format!("{PASSED} Gate passed"),
        Verdict::Failed => format!("{FAILED} Gate failed"),
        Verdict::Pending => format!("{RUNNING} Gate running"),
    };
    let required: Vec<&Row<'_>> = rows.iter().filter(|r| r.check.required).collect();
    let blocking: Vec<&Row<'_>> = required
        .iter()
        .copied()
        .filter(|r| !r.ok() && !r.pending())
        .collect();
    let optional_failed = rows
        .iter()
        .filter(|r| !r.check.required && !r.ok() && !r.pending())
        .count();
    let flaky = rows.iter().filter(|r| r.flaky()).count();
    let pending = rows.iter().filter(|r| r.pending()).count();
    let revision = revision_words(subject);

    let mut summary = match verdict {
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
            pending,
            plural(rows.len(), "check is", "checks are")
        ),
    };
    if optional_failed > 0 {
        let _ = write!(
            summary,
            " {} did not pass, which does not block the merge.",
            plural(optional_failed, "optional check", "optional checks")
        );
    }
    if flaky > 0 {
        let _ = write!(
            summary,
            " {} passed only after a retry (flaky).",
            plural(flaky, "check", "checks")
        );
    }
    match verdict {
        Verdict::Passed => {
            let _ = write!(summary, " The gate approves {revision}.");
        }
        Verdict::Failed => {
            let _ = write!(
                summary,
                " The gate revoked its approval of {revision} (REVOKE), so this pull request \
                 cannot merge. Push a fix, or comment `/gate retry` to run the failed checks again."
            );
        }
        Verdict::Pending => {
            let _ = write!(summary, " The gate approves nothing until they finish.");
        }
    }

    let cells: Vec<String> = rows.iter().map(Row::cell).collect();
    let mut order: Vec<usize> = (0..rows.len()).collect();
    order.sort_by_key(|&i| (rows[i].rank(), i));
    let statuses: Vec<String> = rows
        .iter()
        .map(|r| r.status().map_or("without result", status_word).to_owned())
        .collect();
    let n = rows.len();
    let table = Block::shrinking(Part::Table, n, move |k| {
        let mut shown = vec![false; n];
        for &i in &order[..k] {
            shown[i] = true;
        }
        let mut out =
            "| Stage | Check | Status | Duration | Log |\n|---|---|---|---|---|".to_owned();
        for (i, cell) in cells.iter().enumerate() {
            if shown[i] {
                out.push('\n');
                out.push_str(cell);
            }
        }
        if k < n {
            let mut tally: Vec<(&str, usize)> = Vec::new();
            for (i, word) in statuses.iter().enumerate() {
                if shown[i] {
                    continue;
                }
                match tally.iter_mut().find(|(w, _)| w == word) {
                    Some((_, count)) => *count += 1,
                    None => tally.push((word, 1)),
                }
            }
            let tally: Vec<String> = tally.iter().map(|(w, c)| format!("{c} {w}")).collect();
            let _ = write!(
                out,
                "\n| … | {} more not shown | {} | | |",
                n - k,
                tally.join(", ")
            );
        }
        out
    });

    let mut failed: Vec<(&Row, &CheckResult)> = rows
        .iter()
        .filter_map(|r| r.result.map(|res| (r, res)))
        .filter(|(_, res)| {
            matches!(
                res.status,
                CheckStatus::Failed | CheckStatus::TimedOut | CheckStatus::Errored
            )
        })
        .collect();
    failed.sort_by_key(|(r, _)| !r.check.required);
    let tails: Vec<Tail> = failed
        .iter()
        .filter_map(|(r, res)| {
            Tail::new(r.check.name.as_str(), res.status, res.log_tail.as_deref()?)
        })
        .take(MAX_TAILS)
        .collect();
    let with_tail = failed
        .iter()
        .filter(|(_, res)| {
            res.log_tail
                .as_deref()
                .is_some_and(|t| !t.trim().is_empty())
        })
        .count();
    let more = with_tail.saturating_sub(tails.len());

    let blocks = [
        head(&heading, subject, "Tested"),
        Block::fixed(Part::Summary, summary),
        table,
        skipped_block(plan),
        directives_block(plan),
        tails_block(tails, more),
        gate_file_block(plan),
    ];
    comment(CommentKind::Finished, subject, &blocks, SHRINK)
}

fn nothing_to_test(subject: &Subject, plan: &Plan, verdict: Verdict) -> Comment {
    let all = |f: fn(&Reason) -> bool| {
        !plan.checks.is_empty() && plan.checks.iter().all(|c| c.reasons.iter().any(f))
    };
    let why = if all(|r| matches!(r, Reason::NoChanges)) {
        "This pull request changes no file, so no check needs to run.".to_owned()
    } else if all(|r| matches!(r, Reason::AllIgnored)) {
        match plan.changed_paths {
            1 => "The one changed path is ignored by the gate file, so no check needs to run."
                .to_owned(),
            2 => "Both changed paths are ignored by the gate file, so no check needs to run."
                .to_owned(),
            n => format!(
                "All {n} changed paths are ignored by the gate file, so no check needs to run."
            ),
        }
    } else {
        format!(
            "No check needs to run for the {} (see below).",
            plural(plan.changed_paths, "changed path", "changed paths")
        )
    };
    let (heading, outcome) = match verdict {
        Verdict::Passed => (
            format!("{PASSED} Gate passed: nothing to test"),
            format!("The gate approves {}.", revision_words(subject)),
        ),
        Verdict::Failed => (
            format!("{FAILED} Gate failed"),
            format!(
                "The gate revoked its approval of {} (REVOKE).",
                revision_words(subject)
            ),
        ),
        Verdict::Pending => (
            format!("{RUNNING} Gate running"),
            "The gate approves nothing yet.".to_owned(),
        ),
    };
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
