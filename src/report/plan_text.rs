//! The plan as plain text, for the CLI.

use super::escape::{CLIP_NAME, Style, code, text};
use super::reasons::{directive_line, reasons_in};
use super::words::plural;
use crate::plan::{Plan, PlanVerdict};
use std::fmt::Write as _;

/// Plan text is plain: no Markdown.
const PLAIN: Style = Style::Plain;

/// The plan as plain text (`gate plan --format text`): per stage, each check RUN or SKIP with its
/// reasons; the components; the directives; the verdict.
pub fn plan_text(plan: &Plan) -> String {
    let run = plan.to_run().count();
    let mut out = format!(
        "Plan: {} of {} run, {} skipped ({}).\n",
        run,
        plural(plan.checks.len(), "check", "checks"),
        plan.checks.len() - run,
        plural(plan.changed_paths, "changed path", "changed paths"),
    );
    out.push_str(&checks_by_stage(plan));
    out.push_str(&components(plan));
    out.push_str(&directives(plan));
    out.push('\n');
    out.push_str(&verdict(plan, run));
    out
}

/// The width of the widest name, as plain text writes it.
fn name_width<'n>(names: impl Iterator<Item = &'n str>) -> usize {
    (names.map(|n| text(n, PLAIN, CLIP_NAME).chars().count()))
        .max()
        .unwrap_or(0)
}

/// Each check under its stage: RUN or SKIP, required or optional, and why.
fn checks_by_stage(plan: &Plan) -> String {
    let mut out = String::new();
    let width = name_width(plan.checks.iter().map(|c| c.name.as_str()));
    let mut stage: Option<&str> = None;
    for c in &plan.checks {
        if stage != Some(c.stage.as_str()) {
            stage = Some(c.stage.as_str());
            let _ = write!(out, "\nStage {}\n", text(&c.stage, PLAIN, CLIP_NAME));
        }
        let _ = writeln!(
            out,
            "  {:<4}  {:<width$}  {:<8}  {}",
            if c.run { "RUN" } else { "SKIP" },
            text(c.name.as_str(), PLAIN, CLIP_NAME),
            if c.required { "required" } else { "optional" },
            reasons_in(&c.reasons, PLAIN),
        );
    }
    out
}

/// Each component, affected (and why) or not; empty when the gate file has none.
fn components(plan: &Plan) -> String {
    if plan.components.is_empty() {
        return String::new();
    }
    let mut out = "\nComponents\n".to_owned();
    let width = name_width(plan.components.iter().map(|c| c.name.as_str()));
    for c in &plan.components {
        let why = if c.affected {
            reasons_in(&c.reasons, PLAIN)
        } else {
            String::new()
        };
        let line = format!(
            "  {:<12}  {:<width$}  {why}",
            if c.affected {
                "affected"
            } else {
                "not affected"
            },
            text(c.name.as_str(), PLAIN, CLIP_NAME),
        );
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

/// Each directive and what became of it; empty when there are none.
fn directives(plan: &Plan) -> String {
    if plan.directives.is_empty() {
        return String::new();
    }
    let mut out = "\nDirectives\n".to_owned();
    for d in &plan.directives {
        let _ = writeln!(out, "  {}", directive_line(d, PLAIN));
    }
    out
}

/// The verdict line; `run` is how many checks run.
fn verdict(plan: &Plan, run: usize) -> String {
    match (&plan.promotion, plan.verdict) {
        (Some(v), _) => {
            let allowed: Vec<String> = v
                .allowed
                .iter()
                .map(|a| code(a, PLAIN, CLIP_NAME))
                .collect();
            format!(
                "Verdict: FAIL: {} may not merge into {} (the promotion rule for {} allows {}).\n",
                code(&v.source, PLAIN, CLIP_NAME),
                code(&v.destination, PLAIN, CLIP_NAME),
                code(&v.rule, PLAIN, CLIP_NAME),
                allowed.join(", ")
            )
        }
        (None, PlanVerdict::Run) => format!(
            "Verdict: RUN {}; the gate passes when the required ones pass.\n",
            plural(run, "check", "checks")
        ),
        (None, PlanVerdict::Pass) => "Verdict: PASS: nothing to test.\n".to_owned(),
        (None, PlanVerdict::Fail) => "Verdict: FAIL.\n".to_owned(),
    }
}
