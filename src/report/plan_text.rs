//! The plan as plain text, for the CLI.

use super::escape::{CLIP_NAME, Style, code, text};
use super::reasons::{directive_line, reasons_in};
use super::words::plural;
use crate::plan::{Plan, PlanVerdict};
use std::fmt::Write as _;

/// The plan as plain text (`gate plan --format text`): per stage, each check RUN or SKIP with its
/// reasons; the components; the directives; the verdict.
pub fn plan_text(plan: &Plan) -> String {
    let s = Style::Plain;
    let run = plan.to_run().count();
    let mut out = format!(
        "Plan: {} of {} run, {} skipped ({}).\n",
        run,
        plural(plan.checks.len(), "check", "checks"),
        plan.checks.len() - run,
        plural(plan.changed_paths, "changed path", "changed paths"),
    );
    let width = plan
        .checks
        .iter()
        .map(|c| text(c.name.as_str(), s, CLIP_NAME).chars().count())
        .max()
        .unwrap_or(0);
    let mut stage: Option<&str> = None;
    for c in &plan.checks {
        if stage != Some(c.stage.as_str()) {
            stage = Some(c.stage.as_str());
            let _ = write!(out, "\nStage {}\n", text(&c.stage, s, CLIP_NAME));
        }
        let _ = writeln!(
            out,
            "  {:<4}  {:<width$}  {:<8}  {}",
            if c.run { "RUN" } else { "SKIP" },
            text(c.name.as_str(), s, CLIP_NAME),
            if c.required { "required" } else { "optional" },
            reasons_in(&c.reasons, s),
        );
    }
    if !plan.components.is_empty() {
        out.push_str("\nComponents\n");
        let width = plan
            .components
            .iter()
            .map(|c| text(c.name.as_str(), s, CLIP_NAME).chars().count())
            .max()
            .unwrap_or(0);
        for c in &plan.components {
            let why = if c.affected {
                reasons_in(&c.reasons, s)
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
                text(c.name.as_str(), s, CLIP_NAME),
            );
            out.push_str(line.trim_end());
            out.push('\n');
        }
    }
    if !plan.directives.is_empty() {
        out.push_str("\nDirectives\n");
        for d in &plan.directives {
            let _ = writeln!(out, "  {}", directive_line(d, s));
        }
    }
    out.push('\n');
    match (&plan.promotion, plan.verdict) {
        (Some(v), _) => {
            let allowed: Vec<String> = v.allowed.iter().map(|a| code(a, s, CLIP_NAME)).collect();
            let _ = writeln!(
                out,
                "Verdict: FAIL: {} may not merge into {} (the promotion rule for {} allows {}).",
                code(&v.source, s, CLIP_NAME),
                code(&v.destination, s, CLIP_NAME),
                code(&v.rule, s, CLIP_NAME),
                allowed.join(", ")
            );
        }
        (None, PlanVerdict::Run) => {
            let _ = writeln!(
                out,
                "Verdict: RUN {}; the gate passes when the required ones pass.",
                plural(run, "check", "checks")
            );
        }
        (None, PlanVerdict::Pass) => out.push_str("Verdict: PASS: nothing to test.\n"),
        (None, PlanVerdict::Fail) => out.push_str("Verdict: FAIL.\n"),
    }
    out
}
