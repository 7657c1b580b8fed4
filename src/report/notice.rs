//! SNS notices: the subjects and plain-text messages for bypasses, rule tampering and failures.

use super::Subject;
use super::escape::{CLIP_ID, CLIP_NAME, CLIP_PATH, CLIP_TITLE, MAX_URL, Style, text};
use super::log_tail::Tail;
use super::words::{duration, is_failure, plural, status_word};
use crate::policy::CheckResult;
use std::fmt::Write as _;

/// Lines of each log tail in a failure notice.
const NOTICE_TAIL_LINES: usize = 20;
/// Failed checks whose log tails a failure notice shows.
const NOTICE_TAILS: usize = 5;
/// Failed checks a failure notice lists before "and N more".
const NOTICE_CHECKS: usize = 20;
/// A full commit id, and a full revision id, as a notice shows them at most.
const CLIP_COMMIT_ID: usize = 64;
const CLIP_REVISION_ID: usize = 80;

/// A notice's subject line: `{what}: {repository} pull request {id}`.
fn notice_subject(what: &str, subject: &Subject) -> String {
    format!(
        "{what}: {} pull request {}",
        text(subject.repository.as_str(), Style::Plain, CLIP_NAME),
        text(subject.pull_request_id.as_str(), Style::Plain, CLIP_ID)
    )
}

/// The SNS subject when someone overrides the gate's approval rule.
pub fn bypass_subject(subject: &Subject) -> String {
    notice_subject("Gate bypassed", subject)
}

/// The SNS subject when someone deletes or edits the gate's approval rule on a pull request.
pub fn rule_tampered_subject(subject: &Subject) -> String {
    notice_subject("Gate approval rule changed", subject)
}

/// The SNS message when someone deletes or edits the gate's approval rule on a pull request;
/// `restored` says whether the gate put its rule back.
pub fn rule_tampered_notice(
    subject: &Subject,
    rule: &str,
    deleted: bool,
    by: &str,
    restored: bool,
) -> String {
    let what = if deleted { "deleted" } else { "edited" };
    let outcome = if restored {
        "The gate put its rule back: the pull request still needs the gate's approval to merge."
    } else {
        "The pull request is closed or already carries the gate's rule; nothing was changed."
    };
    format!(
        "{}\nRule: {}\nChanged by: {}\n\nThe approval rule that requires the gate's approval was \
         {what}. {outcome} Rules created from the stack's approval rule template cannot be \
         deleted or edited; this rule was created on the pull request by the gate, so check who \
         may call codecommit:DeletePullRequestApprovalRule and \
         codecommit:UpdatePullRequestApprovalRuleContent.\n",
        notice_head(subject, &format!("the gate's approval rule was {what}")),
        text(rule, Style::Plain, CLIP_NAME),
        text(by, Style::Plain, CLIP_PATH),
    )
}

/// The SNS subject when a run fails.
pub fn failure_subject(subject: &Subject) -> String {
    notice_subject("Gate failed", subject)
}

/// The opening of every notice: what happened, on which pull request, its branches and commits.
fn notice_head(subject: &Subject, what: &str) -> String {
    let s = Style::Plain;
    let mut out = format!(
        "codecommit-gate: {what} on pull request {} in {}.\n\n\
         Title: {}\nBranches: {} -> {}\nCommits: {} -> {}",
        text(subject.pull_request_id.as_str(), s, CLIP_ID),
        text(subject.repository.as_str(), s, CLIP_NAME),
        text(subject.title.trim(), s, CLIP_TITLE),
        text(&subject.source_branch, s, CLIP_NAME),
        text(&subject.destination_branch, s, CLIP_NAME),
        text(subject.source_commit.as_str(), s, CLIP_COMMIT_ID),
        text(subject.destination_commit.as_str(), s, CLIP_COMMIT_ID),
    );
    if let Some(m) = &subject.merge_commit {
        let _ = write!(
            out,
            "\nMerge commit: {}",
            text(m.as_str(), s, CLIP_COMMIT_ID)
        );
    }
    if let Some(r) = &subject.revision_id {
        let _ = write!(out, "\nRevision: {}", text(r.as_str(), s, CLIP_REVISION_ID));
    }
    out
}

/// The SNS message when someone overrides the gate's approval rule.
pub fn bypass_notice(subject: &Subject, overridden_by: &str) -> String {
    format!(
        "{}\nOverridden by: {}\n\nThe pull request's approval rules were overridden, so it can \
         merge without a passing gate run on exactly the code that merges. Review the change, \
         and revoke the override in CodeCommit if it was not intended.\n",
        notice_head(subject, "the gate was bypassed"),
        text(overridden_by, Style::Plain, CLIP_PATH)
    )
}

/// The SNS message when a run fails: the checks that did not pass, their logs and log tails.
pub fn failure_notice(subject: &Subject, results: &[CheckResult]) -> String {
    let failed: Vec<&CheckResult> = results.iter().filter(|r| is_failure(r.status)).collect();
    let mut out = notice_head(subject, "the gate failed");
    out.push_str(&failed_checks(&failed));
    out.push_str(&failed_tails(&failed));
    let _ = write!(
        out,
        "\n\nThe gate revoked its approval; the pull request cannot merge until the gate passes.\n"
    );
    out
}

/// The first [`NOTICE_CHECKS`] failed checks: status, duration, attempts and log link each.
fn failed_checks(failed: &[&CheckResult]) -> String {
    let mut out = format!("\n\nChecks that did not pass ({}):", failed.len());
    for r in failed.iter().take(NOTICE_CHECKS) {
        let _ = write!(
            out,
            "\n  - {}: {}",
            text(r.name.as_str(), Style::Plain, CLIP_NAME),
            status_word(r.status)
        );
        if let Some(ms) = r.duration_ms {
            let _ = write!(out, " after {}", duration(ms));
        }
        if r.attempts > 1 {
            let _ = write!(out, " ({} attempts)", r.attempts);
        }
        if let Some(url) = &r.log_url {
            let _ = write!(out, "\n    log: {}", text(url, Style::Plain, MAX_URL));
        }
    }
    if failed.len() > NOTICE_CHECKS {
        let _ = write!(out, "\n  - … and {} more", failed.len() - NOTICE_CHECKS);
    }
    out
}

/// The last [`NOTICE_TAIL_LINES`] lines of the logs of the first [`NOTICE_TAILS`] failed checks.
fn failed_tails(failed: &[&CheckResult]) -> String {
    let mut out = String::new();
    for r in failed.iter().take(NOTICE_TAILS) {
        let Some(tail) = r.log_tail.as_deref() else {
            continue;
        };
        let Some(t) = Tail::new(r.name.as_str(), r.status, tail) else {
            continue;
        };
        let keep = t.lines.len().min(NOTICE_TAIL_LINES);
        let _ = write!(
            out,
            "\n\nLast {} of {}:",
            plural(keep, "log line", "log lines"),
            text(r.name.as_str(), Style::Plain, CLIP_NAME)
        );
        for line in &t.lines[t.lines.len() - keep..] {
            let _ = write!(out, "\n    {line}");
        }
    }
    out
}
