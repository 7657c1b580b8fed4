//! Why, in one line: a planner reason, a directive's refusal, a directive's outcome.

use super::escape::{
    CLIP_MESSAGE, CLIP_NAME, CLIP_PATH, CLIP_TEXT, Style, clip, code, one_line, text, trusted,
};
use super::words::{FAILED, NEUTRAL, PASSED, WARNING, names_in, source_word};
use crate::plan::{DirectiveOutcome, Reason, Refusal};
use std::fmt::Write as _;

/// Reasons shown per check before "and N more".
const REASONS_SHOWN: usize = 3;

/// One human line per planner reason (Markdown: user values in code spans, safe in prose).
pub fn reason(r: &Reason) -> String {
    reason_in(r, Style::Md)
}

/// [`reason`] in style `s`.
pub(super) fn reason_in(r: &Reason, s: Style) -> String {
    match r {
        Reason::Changed { path, more } => {
            let path = code(path, s, CLIP_PATH);
            match more {
                0 => format!("{path} changed"),
                1 => format!("{path} changed (and 1 more path)"),
                n => format!("{path} changed (and {n} more paths)"),
            }
        }
        Reason::DependsOn { component } => {
            format!("depends on {}", code(component.as_str(), s, CLIP_NAME))
        }
        Reason::Global { path, pattern } => format!(
            "global file {} changed (matches {})",
            code(path, s, CLIP_PATH),
            code(pattern, s, CLIP_PATH)
        ),
        Reason::PolicyChanged { path } => format!(
            "{} changed: it decides the gate's policy, so every check runs (with the \
             destination's definitions)",
            code(path, s, CLIP_PATH)
        ),
        Reason::Unmatched { path } => format!(
            "{} changed and no component claims it (`unmatched: run-all`)",
            code(path, s, CLIP_PATH)
        ),
        Reason::Covers { component } => {
            format!(
                "covers {}, which is affected",
                code(component.as_str(), s, CLIP_NAME)
            )
        }
        Reason::Always => "covers no component, so it runs on every relevant change".to_owned(),
        Reason::NotAffected => "no component it covers is affected".to_owned(),
        Reason::AllIgnored => "every changed path is ignored".to_owned(),
        Reason::NoChanges => "the pull request changes no file".to_owned(),
        Reason::SkippedBy { author, reason } => {
            let who = code(author, s, CLIP_PATH);
            match reason {
                Some(why) => format!("skipped by {who}: {}", text(why, s, CLIP_TEXT)),
                None => format!("skipped by {who}"),
            }
        }
        Reason::NotInOnly { author } => {
            format!(
                "left out by `/gate only` from {}",
                code(author, s, CLIP_PATH)
            )
        }
        Reason::RequestedBy { author } => {
            format!(
                "requested with `/gate run` by {}",
                code(author, s, CLIP_PATH)
            )
        }
        Reason::PromotionRefused => "the promotion rule refuses this pull request".to_owned(),
        Reason::FirstRelease => "the environment's first release".to_owned(),
    }
}

/// Why (part of) a directive was refused, in one line (Markdown).
pub fn refusal(r: &Refusal) -> String {
    refusal_in(r, Style::Md)
}

/// [`refusal`] in style `s`.
pub(super) fn refusal_in(r: &Refusal, s: Style) -> String {
    match r {
        Refusal::NotAllowed => {
            "only the identities listed in `skip.authors` of the gate file may skip checks"
                .to_owned()
        }
        Refusal::NotAllowedToRun => "only the pull request's author or someone listed in \
             `skip.authors` may ask for more runs"
            .to_owned(),
        Refusal::UnknownCheck { check } => {
            format!("no check is named {}", code(check.as_str(), s, CLIP_NAME))
        }
        Refusal::Required { check } => format!(
            "{} is required and can never be skipped",
            code(check.as_str(), s, CLIP_NAME)
        ),
        Refusal::NotSkippable { check } => format!(
            "{} is optional but not listed in `skip.checks`, so it cannot be skipped",
            code(check.as_str(), s, CLIP_NAME)
        ),
        Refusal::Syntax { problem } => {
            format!("not understood: {}", trusted(problem, s, CLIP_MESSAGE))
        }
        Refusal::RetryInDescription => {
            "`/gate retry` works in a comment, not in the description".to_owned()
        }
    }
}

/// The reasons of one check or component in one line; several `Covers` read as one.
pub(super) fn reasons_in(reasons: &[Reason], s: Style) -> String {
    let covered: Vec<&str> = reasons
        .iter()
        .filter_map(|r| match r {
            Reason::Covers { component } => Some(component.as_str()),
            _ => None,
        })
        .collect();
    let mut lines: Vec<String> = Vec::new();
    let mut covers_said = false;
    for r in reasons {
        if matches!(r, Reason::Covers { .. }) && covered.len() > 1 {
            if !covers_said {
                covers_said = true;
                lines.push(format!(
                    "covers {}, which are affected",
                    names_in(covered.iter().copied(), s)
                ));
            }
            continue;
        }
        lines.push(reason_in(r, s));
    }
    let more = lines.len().saturating_sub(REASONS_SHOWN);
    lines.truncate(REASONS_SHOWN);
    if more > 0 {
        lines.push(format!("and {more} more"));
    }
    if lines.is_empty() {
        lines.push("no reason recorded".to_owned());
    }
    lines.join("; ")
}

/// One directive in one line: applied, partly applied, refused or without effect, by whom and
/// where, and why not.
pub(super) fn directive_line(d: &DirectiveOutcome, s: Style) -> String {
    let what = match (d.accepted, d.refusals.is_empty()) {
        (true, true) => "applied",
        (true, false) => "partly applied",
        (false, false) => "refused",
        (false, true) => "no effect",
    };
    let mark = match (d.accepted, d.refusals.is_empty()) {
        (true, true) => PASSED,
        (true, false) => WARNING,
        (false, false) => FAILED,
        (false, true) => NEUTRAL,
    };
    let mut out = match s {
        Style::Plain => format!("{what:<14} {}", one_line(&clip(&d.text, CLIP_TEXT))),
        _ => format!("- {mark} {what}: {}", code(&d.text, Style::Md, CLIP_TEXT)),
    };
    let _ = write!(
        out,
        " (by {} in {})",
        code(&d.author, s, CLIP_PATH),
        source_word(d.source)
    );
    if !d.refusals.is_empty() {
        let why: Vec<String> = d
            .refusals
            .iter()
            .take(REASONS_SHOWN)
            .map(|r| refusal_in(r, s))
            .collect();
        let _ = write!(out, ": {}", why.join("; "));
        if d.refusals.len() > REASONS_SHOWN {
            let _ = write!(out, "; and {} more", d.refusals.len() - REASONS_SHOWN);
        }
    }
    out
}
