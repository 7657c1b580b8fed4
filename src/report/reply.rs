//! Replies to `/gate` commands.

use super::escape::{CLIP_PATH, CLIP_TEXT, Style, code};
use super::fit::{Block, Part, assemble};
use super::reasons::refusal_in;
use super::words::{FAILED, NEUTRAL, PASSED, WARNING, plural};
use crate::plan::DirectiveOutcome;

/// A reply is one block, which shrinks its list of refusals when it does not fit.
const SHRINK: &[Part] = &[Part::Reply];

/// A short Markdown reply to a `/gate` comment: what was applied or refused, and why.
pub fn command_reply(outcome: &DirectiveOutcome) -> String {
    let s = Style::Md;
    let directive = code(&outcome.text, s, CLIP_TEXT);
    let first = match (outcome.accepted, outcome.refusals.is_empty()) {
        (true, true) => format!("{PASSED} Applied {directive}."),
        (true, false) => format!("{WARNING} Applied {directive} in part. Not applied:"),
        (false, false) => format!("{FAILED} Did not apply {directive}:"),
        (false, true) => {
            format!("{NEUTRAL} {directive} changes nothing: the plan already does what it asks.")
        }
    };
    let items: Vec<String> = outcome
        .refusals
        .iter()
        .map(|r| format!("- {}", refusal_in(r, s)))
        .collect();
    let n = items.len();
    let block = if items.is_empty() {
        Block::fixed(Part::Reply, first)
    } else {
        let collapsed = format!(
            "{first} {} (too many to list).",
            plural(n, "refusal", "refusals")
        );
        Block::list(Part::Reply, first, items, collapsed)
    };
    assemble(&[block], SHRINK, None)
}

/// The reply to `/gate retry` when the current revision has no failed run to retry.
pub fn nothing_to_retry() -> String {
    format!(
        "{NEUTRAL} Nothing to retry: the current revision has no failed gate run. A run that is \
         still going reports when it finishes; a push starts a new one."
    )
}

/// The reply to a `/gate` command when the gate file at the source commit is missing or invalid.
pub fn command_needs_gate_file(path: &str) -> String {
    format!(
        "{FAILED} The gate cannot act on this command: {} is missing or invalid at the source \
         commit. The gate's comment on this pull request says how to fix it.",
        code(path, Style::Md, CLIP_PATH)
    )
}
