//! One row of the results table: a check that ran, its status, duration and log.

use super::escape::{CLIP_NAME, Style, code, log_link, text};
use super::words::{FAILED, NEUTRAL, PASSED, RUNNING, WARNING, duration, status_word};
use crate::plan::PlannedCheck;
use crate::policy::{CheckResult, CheckStatus};
use std::fmt::Write as _;

pub(super) struct Row<'a> {
    pub(super) check: &'a PlannedCheck,
    pub(super) result: Option<&'a CheckResult>,
}

impl Row<'_> {
    pub(super) fn status(&self) -> Option<CheckStatus> {
        self.result.map(|r| r.status)
    }

    pub(super) fn ok(&self) -> bool {
        self.status().is_some_and(CheckStatus::is_success)
    }

    pub(super) fn pending(&self) -> bool {
        self.status() == Some(CheckStatus::Pending)
    }

    pub(super) fn flaky(&self) -> bool {
        self.result.is_some_and(|r| r.flaky)
    }

    /// Which rows to keep when the table must shrink: failures first.
    pub(super) fn rank(&self) -> u8 {
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
        if r.flaky && r.status == CheckStatus::Passed {
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

    pub(super) fn cell(&self) -> String {
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
