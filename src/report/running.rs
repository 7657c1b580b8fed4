//! The "gate running" comment: what runs, by stage, and why.

use super::blocks::{directives_block, gate_file_block, head, revision_words, skipped_block};
use super::escape::{CLIP_NAME, Style, code, text};
use super::finished::finished;
use super::fit::{Block, Part};
use super::reasons::reasons_in;
use super::words::{RUNNING, plural};
use super::{Comment, CommentKind, Subject, comment};
use crate::plan::{Plan, PlanVerdict, PlannedCheck};
use crate::policy::Verdict;
use std::fmt::Write as _;

/// The order in which a "gate running" comment's blocks shrink when it does not fit: the skipped
/// checks, the components, the directives, the gate file note, then the table's rows.
const SHRINK: &[Part] = &[
    Part::Skipped,
    Part::Components,
    Part::Directives,
    Part::GateFile,
    Part::Table,
];

/// "Gate running": the checks that run, by stage, and why; the skipped ones with their reasons;
/// the directives. A plan that runs nothing gets the comment [`finished`] would write.
pub fn running(subject: &Subject, plan: &Plan) -> Comment {
    if plan.promotion.is_some() || plan.verdict != PlanVerdict::Run {
        let verdict = if plan.verdict == PlanVerdict::Pass {
            Verdict::Passed
        } else {
            Verdict::Failed
        };
        return finished(subject, plan, &[], verdict);
    }
    let run: Vec<&PlannedCheck> = plan.to_run().collect();
    let blocks = [
        head(&format!("{RUNNING} Gate running"), subject, "Testing"),
        Block::fixed(Part::Summary, summary(plan, &run, subject)),
        why_table(&run),
        components_block(plan),
        skipped_block(plan),
        directives_block(plan),
        gate_file_block(plan),
    ];
    comment(CommentKind::Running, subject, &blocks, SHRINK)
}

/// How many checks run (`run`), in how many stages, and what the gate approves when.
fn summary(plan: &Plan, run: &[&PlannedCheck], subject: &Subject) -> String {
    let mut stages: Vec<&str> = run.iter().map(|c| c.stage.as_str()).collect();
    stages.dedup();
    let required = run.iter().filter(|c| c.required).count();
    format!(
        "Running {} of {} in {} ({} required, {} optional); {} skipped. \
         The gate approves {} only when every required check passes.",
        run.len(),
        plural(plan.checks.len(), "check", "checks"),
        plural(stages.len(), "stage", "stages"),
        required,
        run.len() - required,
        plan.checks.len() - run.len(),
        revision_words(subject),
    )
}

/// The checks that run, a row each: stage, check, why it runs. It shrinks by leaving out the last
/// rows.
fn why_table(run: &[&PlannedCheck]) -> Block {
    let s = Style::Cell;
    let rows: Vec<String> = run
        .iter()
        .map(|c| {
            format!(
                "| {} | {}{} | {} |",
                text(&c.stage, s, CLIP_NAME),
                code(c.name.as_str(), s, CLIP_NAME),
                if c.required { "" } else { " (optional)" },
                reasons_in(&c.reasons, s)
            )
        })
        .collect();
    let n = rows.len();
    Block::shrinking(Part::Table, n, move |k| {
        let mut out = "| Stage | Check | Why it runs |\n|---|---|---|".to_owned();
        for row in &rows[..k] {
            out.push('\n');
            out.push_str(row);
        }
        if k < n {
            let _ = write!(out, "\n| … | {} more not shown | |", n - k);
        }
        out
    })
}

/// The affected components and why each is affected.
fn components_block(plan: &Plan) -> Block {
    let affected: Vec<String> = plan
        .components
        .iter()
        .filter(|c| c.affected)
        .map(|c| {
            format!(
                "- {}: {}",
                code(c.name.as_str(), Style::Md, CLIP_NAME),
                reasons_in(&c.reasons, Style::Md)
            )
        })
        .collect();
    let n = affected.len();
    Block::list(
        Part::Components,
        format!("**Affected components** ({n}):"),
        affected,
        format!("**Affected components:** {n}."),
    )
}
