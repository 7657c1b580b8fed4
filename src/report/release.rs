//! The words of a release: the report (Markdown, like the PR comment), the terminal summary,
//! the plan, the approval question, the environment status and the messages `gate release`
//! stops with.

use super::escape::{CLIP_NAME, CLIP_TEXT, Style, code, longest_run, text};
use super::reasons::{reason, reason_in};
use super::results::Row;
use super::test_results::{plain_details, reports_words, test_results};
use super::words::{FAILED, NEUTRAL, PASSED, WARNING, duration, is_failure, plural, status_word};
use crate::ids::short_id;
use crate::policy::CheckResult;
use crate::release::{
    ApprovalDecision, ApprovalRecord, EnvironmentState, ReleaseOutcome, ReleasePlan, ReleaseRecord,
    RollbackHow,
};
use std::fmt::Write as _;

const MD: Style = Style::Md;
const CELL: Style = Style::Cell;
const PLAIN: Style = Style::Plain;

/// The commit to release cannot be resolved.
pub fn unknown_commit(environment: &str, branch: &str, problem: &str) -> String {
    format!(
        "cannot find what to release to `{environment}`: {problem} (its branch is `{branch}`; create it, or pass --commit)"
    )
}

/// The environment is at the commit already.
pub fn already_there(plan: &ReleasePlan) -> String {
    format!(
        "Nothing to release: {} is at {} already.",
        plan.environment,
        short_id(&plan.commit)
    )
}

/// The commit does not descend from the environment's last release.
pub fn not_a_descendant(plan: &ReleasePlan) -> String {
    format!(
        "refused: {} does not descend from {}, the last release of {}; releasing it would \
         drop what that release deployed. Release a descendant, or pass --force (recorded).",
        short_id(&plan.commit),
        short_id(plan.previous.as_deref().unwrap_or("")),
        plan.environment
    )
}

/// Another release of the environment holds the lock.
pub fn locked(environment: &str, holder: &str) -> String {
    let holder = if holder.is_empty() {
        "another release"
    } else {
        holder
    };
    format!(
        "{environment} is being released already ({holder}); two releases of one environment \
         never run at once: wait for it to finish"
    )
}

/// The line a release starts with.
pub fn starting(plan: &ReleasePlan) -> String {
    let from = plan.previous.as_deref().map_or_else(
        || "its first release".to_owned(),
        |p| {
            format!(
                "{} since {}",
                plural(plan.changed_paths, "changed path", "changed paths"),
                short_id(p)
            )
        },
    );
    let run = plan.checks.iter().filter(|c| c.run).count();
    format!(
        "releasing {} to {} ({from}): {}, deploying {} in {}",
        short_id(&plan.commit),
        plan.environment,
        plural(run, "check", "checks"),
        plural(plan.deployed().count(), "component", "components"),
        plural(plan.waves().len(), "wave", "waves"),
    )
}

/// The question a person at the terminal is asked.
pub fn question(plan: &ReleasePlan, repository: &str) -> String {
    let names: Vec<&str> = plan.deployed().map(|c| c.name.as_str()).collect();
    format!(
        "Approve the release of {repository} {} to {} (deploys {})?",
        short_id(&plan.commit),
        plan.environment,
        if names.is_empty() {
            "nothing".to_owned()
        } else {
            names.join(", ")
        }
    )
}

/// What became of the approval, in one line.
pub fn approval_line(a: &ApprovalRecord, plan: &ReleasePlan) -> String {
    let who = &a.approver;
    let env = &plan.environment;
    match a.decision {
        ApprovalDecision::Approved => format!("approved by {who} at {}", a.at),
        ApprovalDecision::Refused => format!("{who} refused the release to {env}"),
        ApprovalDecision::NotAnApprover => format!(
            "{who} may not approve releases to {env} (approvers: {}); nothing is deployed",
            plan.approval.approvers.join(", ")
        ),
        ApprovalDecision::Author => format!(
            "{who} wrote part of this release and may not approve it alone: another approver \
             must release it; nothing is deployed"
        ),
        ApprovalDecision::TimedOut => format!(
            "nobody approved within {} minutes; nothing is deployed",
            plan.approval.timeout_minutes
        ),
        ApprovalDecision::Missing => format!(
            "{env} needs an approval and there is no terminal to ask on: run `gate release {env}` \
             on a terminal to be asked, or pass --approve; nothing is deployed"
        ),
    }
}

/// The outcome as a heading mark and words.
fn outcome_words(o: ReleaseOutcome) -> (&'static str, &'static str) {
    match o {
        ReleaseOutcome::Released => (PASSED, "released"),
        ReleaseOutcome::NothingToRelease => (PASSED, "nothing to deploy"),
        ReleaseOutcome::ChecksFailed => (FAILED, "checks failed, nothing deployed"),
        ReleaseOutcome::PackageFailed => (FAILED, "a package build failed, nothing deployed"),
        ReleaseOutcome::ApprovalMissing => (WARNING, "not approved, nothing deployed"),
        ReleaseOutcome::ApprovalRefused => (FAILED, "approval refused, nothing deployed"),
        ReleaseOutcome::DeployFailed => (FAILED, "a deploy failed, rolled back"),
        ReleaseOutcome::Interrupted => (WARNING, "interrupted, rolled back"),
        ReleaseOutcome::Superseded => (NEUTRAL, "superseded by a newer push, never ran"),
        ReleaseOutcome::Errored => (FAILED, "the release broke, what it deployed rolled back"),
    }
}

/// A result's status cell: mark and word, with the duration.
fn status_cell(r: &CheckResult) -> String {
    let mark = if r.status.is_success() {
        PASSED
    } else if is_failure(r.status) {
        FAILED
    } else {
        NEUTRAL
    };
    let took = r
        .duration_ms
        .map(|ms| format!(" ({})", duration(ms)))
        .unwrap_or_default();
    format!("{mark} {}{took}", status_word(r.status))
}

/// The release report (Markdown): outcome, what was deployed where, the checks, the
/// approval, the rollbacks and the tails of what failed.
pub fn markdown(r: &ReleaseRecord) -> String {
    let plan = &r.plan;
    let (mark, words) = outcome_words(r.outcome);
    let mut out = format!(
        "## {mark} Release of {} to {}: {words}\n\n",
        code(short_id(&plan.commit), MD, CLIP_NAME),
        text(&plan.environment, MD, CLIP_NAME)
    );
    let from = plan.previous.as_deref().map_or_else(
        || "first release".to_owned(),
        |p| format!("from {}", code(short_id(p), MD, CLIP_NAME)),
    );
    let _ = writeln!(
        out,
        "{} · {from} · {} · started by {}{}\n",
        text(&r.repository, MD, CLIP_NAME),
        plural(plan.changed_paths, "changed path", "changed paths"),
        code(&r.started_by, MD, CLIP_NAME),
        if r.forced {
            " · **forced** (not a descendant of the last release)"
        } else {
            ""
        }
    );
    out.push_str(&components_table(r));
    out.push_str(&checks_table(&r.checks));
    out.push_str(&test_results_block(r));
    if let Some(a) = &r.approval {
        let _ = writeln!(
            out,
            "**Approval:** {}\n",
            text(&approval_line(a, plan), MD, CLIP_TEXT)
        );
    }
    out.push_str(&rollbacks(r));
    out.push_str(&tails(r));
    out
}

/// Each affected component: wave, what it does, how it went, and why it is affected.
fn components_table(r: &ReleaseRecord) -> String {
    if r.plan.components.is_empty() {
        return "No component is affected: nothing to deploy.\n\n".to_owned();
    }
    let mut out = "| wave | component | deploy | why |\n| --- | --- | --- | --- |\n".to_owned();
    for c in &r.plan.components {
        let wave = c
            .wave
            .map_or_else(|| "–".to_owned(), |w| (w + 1).to_string());
        let deploy = match r.deploys.iter().find(|d| d.component == c.name) {
            Some(d) => status_cell(&d.result),
            None if c.deploy => format!("{NEUTRAL} not deployed"),
            None => format!("{NEUTRAL} tested only (no `deploy`)"),
        };
        let why: Vec<String> = c.reasons.iter().map(reason).collect();
        let _ = writeln!(
            out,
            "| {wave} | {} | {deploy} | {} |",
            code(c.name.as_str(), CELL, CLIP_NAME),
            why.join("; ").replace('|', "\\|")
        );
    }
    out.push('\n');
    out
}

/// The environment's checks that ran.
fn checks_table(results: &[CheckResult]) -> String {
    if results.is_empty() {
        return String::new();
    }
    let mut out = "| check | result |\n| --- | --- |\n".to_owned();
    for c in results {
        let _ = writeln!(
            out,
            "| {} | {} |",
            code(c.name.as_str(), CELL, CLIP_NAME),
            status_cell(c)
        );
    }
    out.push('\n');
    out
}

/// What the checks' test and coverage reports said: the pull request comment's block, whole
/// (a release report has no size limit).
fn test_results_block(r: &ReleaseRecord) -> String {
    let rows = Row::for_checks(r.plan.checks.iter().filter(|c| c.run), &r.checks);
    let block = test_results(&rows).full();
    if block.is_empty() {
        block
    } else {
        block + "\n\n"
    }
}

/// A check's line in plain text: its status and duration, then what its reports said; and
/// the reports' details (unreadable reports, failed tests), one a line.
fn plain_check(c: &CheckResult) -> (String, Vec<String>) {
    let mut line = plain_status(c);
    let Some(reports) = c.reports.as_ref().filter(|r| !r.is_empty()) else {
        return (line, Vec::new());
    };
    let _ = write!(line, " · {}", reports_words(reports));
    if let Some(shortfall) = reports.shortfall() {
        let _ = write!(
            line,
            " · under the check's min_line of {} %",
            shortfall.min_line
        );
    }
    (line, plain_details(reports))
}

/// The rollbacks, in the order they ran.
fn rollbacks(r: &ReleaseRecord) -> String {
    if r.rollbacks.is_empty() {
        return String::new();
    }
    let mut out = "**Rolled back** (reverse order):\n".to_owned();
    for b in &r.rollbacks {
        let how = match &b.how {
            RollbackHow::Commands => "its `rollback` commands".to_owned(),
            RollbackHow::Redeploy { commit } => {
                format!("deploying {} again", code(short_id(commit), MD, CLIP_NAME))
            }
            RollbackHow::Nothing => {
                "nothing to return to: no `rollback` and no earlier release".to_owned()
            }
        };
        let result = b
            .result
            .as_ref()
            .map_or_else(String::new, |r| format!(": {}", status_cell(r)));
        let _ = writeln!(
            out,
            "- {} by {how}{result}",
            code(b.component.as_str(), MD, CLIP_NAME)
        );
    }
    out.push('\n');
    out
}

/// The log tails of everything that failed: checks, package builds, deploys, rollbacks.
fn tails(r: &ReleaseRecord) -> String {
    let failed = r
        .checks
        .iter()
        .map(|c| ("check", c))
        .chain(
            r.packages
                .iter()
                .filter_map(|p| p.result.as_ref())
                .map(|c| ("package", c)),
        )
        .chain(r.deploys.iter().map(|d| ("deploy", &d.result)))
        .chain(
            r.rollbacks
                .iter()
                .filter_map(|b| b.result.as_ref())
                .map(|c| ("rollback", c)),
        )
        .filter(|(_, c)| is_failure(c.status));
    let mut out = String::new();
    for (what, c) in failed {
        let _ = writeln!(
            out,
            "<details><summary>{what} {} {}</summary>\n",
            text(c.name.as_str(), MD, CLIP_NAME),
            status_word(c.status)
        );
        if let Some(url) = &c.log_url {
            let _ = writeln!(out, "Log: {}\n", code(url, MD, CLIP_TEXT));
        }
        if let Some(tail) = &c.log_tail {
            let fence = "`".repeat(longest_run(tail, '`').max(2) + 1);
            let _ = writeln!(out, "{fence}text\n{}\n{fence}\n", tail.trim_end());
        }
        out.push_str("</details>\n\n");
    }
    out
}

/// The terminal summary: outcome, each deploy and rollback, where the report is.
pub fn summary(r: &ReleaseRecord, report_path: &str) -> String {
    let mut out = summary_lines(r);
    let _ = writeln!(out, "Report: {report_path}");
    out
}

/// The outcome, then a line per check, package, deploy and rollback, and the approval.
fn summary_lines(r: &ReleaseRecord) -> String {
    let (_, words) = outcome_words(r.outcome);
    let mut out = format!(
        "Release of {} to {}: {words} ({}).\n",
        short_id(&r.plan.commit),
        r.plan.environment,
        duration(r.duration_ms)
    );
    for c in &r.checks {
        let (line, details) = plain_check(c);
        let _ = writeln!(
            out,
            "  check    {:<24} {line}",
            text(c.name.as_str(), PLAIN, CLIP_NAME),
        );
        for detail in details {
            let _ = writeln!(out, "           {detail}");
        }
    }
    for p in &r.packages {
        let how = match &p.result {
            None => "reused".to_owned(),
            Some(res) => plain_status(res),
        };
        let _ = writeln!(
            out,
            "  package  {:<24} {how} (artifact {})",
            text(p.component.as_str(), PLAIN, CLIP_NAME),
            short_id(&p.key)
        );
    }
    for d in &r.deploys {
        let _ = writeln!(
            out,
            "  deploy   {:<24} wave {} {}",
            text(d.component.as_str(), PLAIN, CLIP_NAME),
            d.wave + 1,
            plain_status(&d.result)
        );
    }
    for b in &r.rollbacks {
        let result = b
            .result
            .as_ref()
            .map_or_else(|| "nothing to run".to_owned(), plain_status);
        let _ = writeln!(
            out,
            "  rollback {:<24} {result}",
            text(b.component.as_str(), PLAIN, CLIP_NAME)
        );
    }
    if let Some(a) = &r.approval {
        let _ = writeln!(out, "  approval {}", approval_line(a, &r.plan));
    }
    out
}

/// Why a release did not release, in one plain line (an announcement's `reason`): the
/// outcome, then what failed or the approval; `None` when it released.
pub fn reason_line(r: &ReleaseRecord) -> Option<String> {
    if r.outcome.moved() {
        return None;
    }
    let (_, words) = outcome_words(r.outcome);
    let failed: Vec<String> = r
        .checks
        .iter()
        .map(|c| ("check", c))
        .chain(
            r.packages
                .iter()
                .filter_map(|p| Some(("package", p.result.as_ref()?))),
        )
        .chain(r.deploys.iter().map(|d| ("deploy", &d.result)))
        .filter(|(_, c)| is_failure(c.status))
        .map(|(what, c)| format!("{what} {} {}", c.name.as_str(), status_word(c.status)))
        .collect();
    let detail = match (&r.approval, r.outcome) {
        (Some(a), ReleaseOutcome::ApprovalMissing | ReleaseOutcome::ApprovalRefused) => {
            approval_line(a, &r.plan)
        }
        _ => failed.join(", "),
    };
    Some(if detail.is_empty() {
        words.to_owned()
    } else {
        format!("{words}: {}", text(&detail, PLAIN, CLIP_TEXT))
    })
}

/// Why a waiting release never runs (a `SUPERSEDED` announcement's reason): `waiting` is the
/// newer commit that replaced it in the lane, `None` when the branch went back to `running`.
pub fn superseded_reason(running: Option<&str>, waiting: Option<&str>) -> String {
    match (waiting, running) {
        (Some(newer), _) => format!(
            "superseded by a newer push ({}) while it waited",
            short_id(newer)
        ),
        (None, Some(running)) => format!(
            "withdrawn: the branch is back at the running release ({})",
            short_id(running)
        ),
        (None, None) => "withdrawn by a newer push".to_owned(),
    }
}

/// The SNS subject of a release that did not release.
pub fn notice_subject(r: &ReleaseRecord) -> String {
    let (_, words) = outcome_words(r.outcome);
    format!(
        "codecommit-gate: {} release to {} {words}",
        r.repository, r.plan.environment
    )
}

/// The SNS message of a release that did not release: the terminal summary's lines, the
/// reason, and the release machine's execution to look at.
pub fn notice(r: &ReleaseRecord, execution_arn: &str) -> String {
    let mut out = format!(
        "{} release {} ({} to {})\n",
        r.repository,
        r.id,
        short_id(&r.plan.commit),
        r.plan.environment
    );
    out.push_str(&summary_lines(r));
    if let Some(reason) = reason_line(r) {
        let _ = writeln!(out, "Why: {reason}");
    }
    for c in r
        .checks
        .iter()
        .chain(r.deploys.iter().map(|d| &d.result))
        .filter(|c| is_failure(c.status))
    {
        if let Some(url) = &c.log_url {
            let _ = writeln!(out, "Log of {}: {url}", c.name.as_str());
        }
    }
    let _ = writeln!(out, "Execution: {execution_arn}");
    out
}

fn plain_status(r: &CheckResult) -> String {
    let took = r
        .duration_ms
        .map(|ms| format!(" {}", duration(ms)))
        .unwrap_or_default();
    format!("{}{took}", status_word(r.status))
}

/// `gate release ENV --plan` as text.
pub fn plan_text(plan: &ReleasePlan) -> String {
    let mut out = format!(
        "Release plan for {} at {} ({}).\n",
        plan.environment,
        short_id(&plan.commit),
        plan.previous.as_deref().map_or_else(
            || "first release: everything".to_owned(),
            |p| format!(
                "{} since {}",
                plural(plan.changed_paths, "changed path", "changed paths"),
                short_id(p)
            )
        )
    );
    out.push_str("Checks:\n");
    if plan.checks.is_empty() {
        out.push_str("  (the environment has none)\n");
    }
    for c in &plan.checks {
        let why: Vec<String> = c.reasons.iter().map(|r| reason_in(r, PLAIN)).collect();
        let _ = writeln!(
            out,
            "  {} {:<24} [{}] {}",
            if c.run { "RUN " } else { "SKIP" },
            text(c.name.as_str(), PLAIN, CLIP_NAME),
            c.stage,
            why.join("; ")
        );
    }
    out.push_str("Components:\n");
    if plan.components.is_empty() {
        out.push_str("  (none affected)\n");
    }
    for c in &plan.components {
        let what = c
            .wave
            .map_or_else(|| "test only".to_owned(), |w| format!("wave {}", w + 1));
        let why: Vec<String> = c.reasons.iter().map(|r| reason_in(r, PLAIN)).collect();
        let _ = writeln!(
            out,
            "  {:<24} {what:<10} {}",
            text(c.name.as_str(), PLAIN, CLIP_NAME),
            why.join("; ")
        );
    }
    if plan.approval.required {
        let _ = writeln!(
            out,
            "Approval: required, by one of {} (waits {} minutes)",
            plan.approval.approvers.join(", "),
            plan.approval.timeout_minutes
        );
    }
    out
}

/// `gate release status`: per environment, the release it is at and what is deployed.
pub fn status_text(environments: &[(String, String, EnvironmentState)]) -> String {
    if environments.is_empty() {
        return "The gate file has no `environments`.\n".to_owned();
    }
    let mut out = String::new();
    for (name, branch, state) in environments {
        match (&state.commit, &state.released_at) {
            (Some(c), at) => {
                let _ = writeln!(
                    out,
                    "{name} (branch {branch}): at {} since {}",
                    short_id(c),
                    at.as_deref().unwrap_or("?")
                );
            }
            (None, _) => {
                let _ = writeln!(out, "{name} (branch {branch}): never released");
            }
        }
        for (component, d) in &state.components {
            let artifact = d
                .artifact
                .as_deref()
                .map(|a| format!(", artifact {}", short_id(a)))
                .unwrap_or_default();
            let _ = writeln!(
                out,
                "  {component:<24} {} deployed {}{artifact}",
                short_id(&d.commit),
                d.deployed_at
            );
        }
    }
    out
}

/// `gate history --releases` as text: one line per release, newest first.
pub fn history_text(records: &[&ReleaseRecord]) -> String {
    if records.is_empty() {
        return "No releases yet: `gate release ENV` records each release here.\n".to_owned();
    }
    let mut out = String::new();
    for r in records {
        let (_, words) = outcome_words(r.outcome);
        let deployed: Vec<String> = r
            .deploys
            .iter()
            .map(|d| format!("{} {}", d.component, status_word(d.result.status)))
            .collect();
        let _ = writeln!(
            out,
            "{}  release {} {} to {}: {words} ({}){}  ({})",
            r.started_at
                .get(..19)
                .unwrap_or(&r.started_at)
                .replace('T', " "),
            r.repository,
            short_id(&r.plan.commit),
            r.plan.environment,
            duration(r.duration_ms),
            if r.forced { " forced" } else { "" },
            r.id
        );
        if !deployed.is_empty() {
            let _ = writeln!(out, "    {}", deployed.join(" · "));
        }
        if !r.rollbacks.is_empty() {
            let names: Vec<&str> = r.rollbacks.iter().map(|b| b.component.as_str()).collect();
            let _ = writeln!(out, "    rolled back: {}", names.join(", "));
        }
    }
    out
}
