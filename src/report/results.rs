//! The results table of a verdict comment: a row per check that ran, its status, duration and log.

use super::escape::{CLIP_NAME, Style, code, log_link, text};
use super::fit::{Block, Part};
use super::words::{FAILED, NEUTRAL, PASSED, RUNNING, WARNING, duration, status_word};
use crate::ids::short_id;
use crate::plan::{Plan, PlannedCheck};
use crate::policy::{CheckResult, CheckStatus};
use crate::reuse::Reused;
use std::fmt::Write as _;

/// A check that was to run, with its result when there is one.
pub(super) struct Row<'a> {
    pub(super) check: &'a PlannedCheck,
    pub(super) result: Option<&'a CheckResult>,
}

impl<'a> Row<'a> {
    /// A row per check `plan` runs, in plan order, each with its result from `results`.
    pub(super) fn for_plan(plan: &'a Plan, results: &'a [CheckResult]) -> Vec<Row<'a>> {
        Self::for_checks(plan.to_run(), results)
    }

    /// A row per check of `checks`, each with its result from `results`.
    pub(super) fn for_checks(
        checks: impl IntoIterator<Item = &'a PlannedCheck>,
        results: &'a [CheckResult],
    ) -> Vec<Row<'a>> {
        checks
            .into_iter()
            .map(|check| Row {
                check,
                result: results.iter().find(|r| r.name == check.name),
            })
            .collect()
    }
}

impl Row<'_> {
    fn status(&self) -> Option<CheckStatus> {
        self.result.map(|r| r.status)
    }

    fn ok(&self) -> bool {
        self.status().is_some_and(CheckStatus::is_success)
    }

    pub(super) fn pending(&self) -> bool {
        self.status() == Some(CheckStatus::Pending)
    }

    /// Done without passing, or without a result: neither a success nor still running.
    pub(super) fn fell_short(&self) -> bool {
        !self.ok() && !self.pending()
    }

    pub(super) fn flaky(&self) -> bool {
        self.result.is_some_and(|r| r.flaky)
    }

    /// Which rows to keep when the table must shrink: failures first.
    fn rank(&self) -> u8 {
        if self.ok() && !self.flaky() {
            3
        } else if self.pending() {
            2
        } else if self.check.required && !self.ok() {
            0
        } else {
            1
        }
    }

    fn status_cell(&self) -> String {
        let blocking = self.check.required;
        let bad = if blocking { FAILED } else { WARNING };
        let Some(r) = self.result else {
            return format!(
                "{bad} no result{}",
                if blocking { "" } else { " (not blocking)" }
            );
        };
        let mark = match r.status {
            CheckStatus::Passed => PASSED,
            CheckStatus::Pending => RUNNING,
            CheckStatus::Cancelled | CheckStatus::Skipped => NEUTRAL,
            CheckStatus::Failed | CheckStatus::TimedOut | CheckStatus::Errored => bad,
        };
        let mut out = format!("{mark} {}", status_word(r.status));
        if let Some(reused) = &r.reused {
            let _ = write!(
                out,
                " · {}",
                text(&reused_line(reused), Style::Cell, CLIP_REUSED)
            );
        } else if r.flaky && r.status == CheckStatus::Passed {
            if r.attempts > 1 {
                let _ = write!(
                    out,
                    " · {WARNING} flaky: passed after {} attempts",
                    r.attempts
                );
            } else {
                let _ = write!(out, " · {WARNING} flaky");
            }
        } else if r.attempts > 1 {
            let _ = write!(out, " after {} attempts", r.attempts);
        }
        if !blocking && !r.status.is_success() && r.status != CheckStatus::Pending {
            out.push_str(" (not blocking)");
        }
        out
    }

    fn cell(&self) -> String {
        let s = Style::Cell;
        let duration = self
            .result
            .and_then(|r| r.duration_ms)
            .map_or_else(|| "—".to_owned(), duration);
        let log = self
            .result
            .and_then(|r| r.log_url.as_deref())
            .map_or_else(|| "—".to_owned(), log_link);
        format!(
            "| {} | {}{} | {} | {} | {} |",
            text(&self.check.stage, s, CLIP_NAME),
            code(self.check.name.as_str(), s, CLIP_NAME),
            if self.check.required {
                ""
            } else {
                " (optional)"
            },
            self.status_cell(),
            duration,
            log
        )
    }
}

/// The results table: a row per check that ran. It shrinks by leaving rows out, passed ones
/// first and blocking failures last, and says how many of each status it left out.
pub(super) fn results_table(rows: &[Row<'_>]) -> Block {
    let cells: Vec<String> = rows.iter().map(Row::cell).collect();
    let mut order: Vec<usize> = (0..rows.len()).collect();
    order.sort_by_key(|&i| (rows[i].rank(), i));
    let statuses: Vec<&'static str> = rows
        .iter()
        .map(|r| r.status().map_or("without result", status_word))
        .collect();
    let n = rows.len();
    Block::shrinking(Part::Table, n, move |k| {
        let mut shown = vec![false; n];
        for &i in &order[..k] {
            shown[i] = true;
        }
        let mut out =
            "| Stage | Check | Status | Duration | Log |\n|---|---|---|---|---|".to_owned();
        for (cell, _) in cells.iter().zip(&shown).filter(|(_, shown)| **shown) {
            out.push('\n');
            out.push_str(cell);
        }
        if k < n {
            let _ = write!(
                out,
                "\n| … | {} more not shown | {} | | |",
                n - k,
                left_out_tally(&statuses, &shown)
            );
        }
        out
    })
}

/// The rows not `shown`, counted by status in the order the statuses first appear:
/// `12 passed, 1 running`.
fn left_out_tally(statuses: &[&'static str], shown: &[bool]) -> String {
    let mut tally: Vec<(&str, usize)> = Vec::new();
    for (word, _) in statuses.iter().zip(shown).filter(|(_, shown)| !**shown) {
        match tally.iter_mut().find(|(w, _)| w == word) {
            Some((_, count)) => *count += 1,
            None => tally.push((word, 1)),
        }
    }
    let tally: Vec<String> = tally.iter().map(|(w, c)| format!("{c} {w}")).collect();
    tally.join(", ")
}

/// Why a run did not save its checks' caches: it tested a branch's changes, not the
/// destination's own tree (threat T24, docs/reliability.md).
pub const CACHE_READ_ONLY: &str = "not saved: this run tested changes the destination does not have yet, and only runs of the destination's own tree write the cache (restored caches were read only)";

/// The longest "passed on identical inputs" note a table cell shows.
const CLIP_REUSED: usize = 160;

/// Why a check that did not run passed, as plain text: `passed on identical inputs in run X
/// (commit abc1234)` (a table cell escapes it).
pub fn reused_line(reused: &Reused) -> String {
    format!(
        "passed on identical inputs in run {} (commit {})",
        reused.run,
        short_id(&reused.commit)
    )
}
