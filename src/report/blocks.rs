//! The blocks several PR comments share: the head, the skipped checks, the directives, the gate file note.

use super::Subject;
use super::escape::{CLIP_ID, CLIP_NAME, CLIP_PATH, CLIP_TITLE, Style, code, text};
use super::fit::{Block, Part};
use super::reasons::{directive_line, reasons_in};
use super::words::{commit_code, inline_names, plural, revision_code};
use crate::plan::{Plan, PlannedCheck};
use crate::trust::{GateFileChange, GateFileNote, TrustSource};
use std::fmt::Write as _;

/// The head of a PR comment: the heading, then who and what: title, PR, repository; then the
/// commits.
pub(super) fn head(heading: &str, subject: &Subject, verb: &str) -> Block {
    let s = Style::Md;
    let title = subject.title.trim();
    let title = if title.is_empty() {
        "*(untitled)*".to_owned()
    } else {
        format!("**{}**", text(title, s, CLIP_TITLE))
    };
    let mut out = format!(
        "## {heading}\n\n{title} · pull request {} in {}\n\n{verb}: {} → {} ({} into {})",
        text(subject.pull_request_id.as_str(), s, CLIP_ID),
        code(subject.repository.as_str(), s, CLIP_NAME),
        commit_code(&subject.source_commit),
        commit_code(&subject.destination_commit),
        code(&subject.source_branch, s, CLIP_NAME),
        code(&subject.destination_branch, s, CLIP_NAME),
    );
    if let Some(m) = &subject.merge_commit {
        let _ = write!(out, " · merge commit {}", commit_code(m));
    }
    if let Some(r) = &subject.revision_id {
        let _ = write!(out, " · revision {}", revision_code(r));
    }
    Block::fixed(Part::Head, out)
}

/// "revision `abcd1234`", or "this revision" when the revision is not known.
pub(super) fn revision_words(subject: &Subject) -> String {
    match &subject.revision_id {
        Some(r) => format!("revision {}", revision_code(r)),
        None => "this revision".to_owned(),
    }
}

/// The skipped checks and why; one sentence when they all skip for the same reasons.
pub(super) fn skipped_block(plan: &Plan) -> Block {
    let skipped: Vec<&PlannedCheck> = plan.skipped().collect();
    if let [first, rest @ ..] = skipped.as_slice()
        && !rest.is_empty()
        && rest.iter().all(|c| c.reasons == first.reasons)
    {
        return Block::fixed(
            Part::Skipped,
            format!(
                "**Skipped** ({}): {}, all because {}.",
                skipped.len(),
                inline_names(skipped.iter().map(|c| c.name.as_str())),
                reasons_in(&first.reasons, Style::Md)
            ),
        );
    }
    let items: Vec<String> = plan
        .skipped()
        .map(|c| {
            format!(
                "- {} ({}{}): {}",
                code(c.name.as_str(), Style::Md, CLIP_NAME),
                text(&c.stage, Style::Md, CLIP_NAME),
                if c.required { "" } else { ", optional" },
                reasons_in(&c.reasons, Style::Md)
            )
        })
        .collect();
    let count = plural(items.len(), "check", "checks");
    named_list(Part::Skipped, "Skipped", items, count)
}

/// Where the governing gate file came from, in one sentence (Markdown).
fn trust_line(note: &GateFileNote) -> String {
    let s = Style::Md;
    match &note.source {
        TrustSource::Destination { branch, commit } => format!(
            "**Gate file:** {} from {} at {}, the destination: a pull request's own copy cannot \
             change the rules it is judged by.",
            code(&note.path, s, CLIP_PATH),
            code(branch, s, CLIP_NAME),
            commit_code(commit),
        ),
        TrustSource::Override { file } => format!(
            "**Gate file:** {}, given with `--gate-file`: an experiment, not the trusted file \
             (without the option the gate reads {} from the base).",
            code(file, s, CLIP_PATH),
            code(&note.path, s, CLIP_PATH),
        ),
    }
}

/// One line per thing the change's own gate file would change once merged.
fn gate_file_change_line(change: &GateFileChange) -> String {
    let s = Style::Md;
    match change {
        GateFileChange::CheckAdded { check } => format!(
            "- adds {}: it runs now too, as this pull request defines it",
            code(check.as_str(), s, CLIP_NAME)
        ),
        GateFileChange::CheckRemoved { check } => format!(
            "- removes {}: it still runs until the change is merged",
            code(check.as_str(), s, CLIP_NAME)
        ),
        GateFileChange::CheckChanged { check, fields } => format!(
            "- changes {} ({}): the destination's definition runs until the change is merged",
            code(check.as_str(), s, CLIP_NAME),
            fields
                .iter()
                .map(|f| code(f, s, CLIP_NAME))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        GateFileChange::SettingChanged { setting } => format!(
            "- changes {}: the destination's setting applies until the change is merged",
            code(setting, s, CLIP_NAME)
        ),
        GateFileChange::FileRemoved => "- deletes the gate file: the destination's keeps \
             governing until the change is merged"
            .to_owned(),
    }
}

/// The gate file note: which file governed, which policy files the change touches, and what
/// the change's own gate file would change. Empty unless notable.
pub(super) fn gate_file_block(plan: &Plan) -> Block {
    let Some(note) = plan.gate_file.as_ref().filter(|n| n.is_notable()) else {
        return Block::fixed(Part::GateFile, String::new());
    };
    let mut title = trust_line(note);
    if !note.touched.is_empty() {
        let _ = write!(
            title,
            " This pull request changes {}, which {} the gate's policy, so every check runs.",
            inline_names(note.touched.iter().map(String::as_str)),
            if note.touched.len() == 1 {
                "decides"
            } else {
                "decide"
            }
        );
    }
    let items: Vec<String> = note.changes.iter().map(gate_file_change_line).collect();
    let n = items.len();
    if n == 0 {
        return Block::fixed(Part::GateFile, title);
    }
    let collapsed = format!(
        "{title} Its own gate file would make {} once merged.",
        plural(n, "change", "changes")
    );
    Block::list(
        Part::GateFile,
        format!("{title} Its own gate file would, once merged:"),
        items,
        collapsed,
    )
}

/// The directives and what became of each.
pub(super) fn directives_block(plan: &Plan) -> Block {
    let items: Vec<String> = plan
        .directives
        .iter()
        .map(|d| directive_line(d, Style::Md))
        .collect();
    let refused = plan
        .directives
        .iter()
        .filter(|d| !d.refusals.is_empty())
        .count();
    let count = format!(
        "{}, {refused} refused",
        plural(items.len(), "directive", "directives")
    );
    named_list(Part::Directives, "Directives", items, count)
}

/// A list titled `**{name}** ({n}):`; collapsed, `**{name}:** {count} (the list did not fit in
/// this comment).`
pub(super) fn named_list(part: Part, name: &str, items: Vec<String>, count: String) -> Block {
    let n = items.len();
    Block::list(
        part,
        format!("**{name}** ({n}):"),
        items,
        format!("**{name}:** {count} (the list did not fit in this comment)."),
    )
}
