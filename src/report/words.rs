//! Small words shared by every text: status marks, check statuses, plurals, durations, short ids and lists of names.

use super::escape::{CLIP_ID, CLIP_NAME, Style, code};
use crate::ids::{CommitId, RevisionId};
use crate::plan::DirectiveSource;
use crate::policy::CheckStatus;

/// Names listed inline in a sentence before "and N more".
const INLINE_NAMES: usize = 5;

/// The marks that open a heading, a status cell or a reply.
pub(super) const PASSED: &str = "✅";
pub(super) const FAILED: &str = "❌";
pub(super) const WARNING: &str = "⚠️";
pub(super) const RUNNING: &str = "⏳";
pub(super) const NEUTRAL: &str = "➖";
pub(super) const STOPPED: &str = "⏹️";

/// A check status in words: `passed`, `timed out`, `infrastructure error`, ….
pub(super) fn status_word(status: CheckStatus) -> &'static str {
    match status {
        CheckStatus::Passed => "passed",
        CheckStatus::Failed => "failed",
        CheckStatus::TimedOut => "timed out",
        CheckStatus::Errored => "infrastructure error",
        CheckStatus::Cancelled => "cancelled",
        CheckStatus::Skipped => "skipped",
        CheckStatus::Pending => "running",
    }
}

/// Whether a check ended in a failure whose log is worth showing: failed, timed out or errored.
pub(super) fn is_failure(status: CheckStatus) -> bool {
    matches!(
        status,
        CheckStatus::Failed | CheckStatus::TimedOut | CheckStatus::Errored
    )
}

/// Where a directive was written: `the description` or `a comment`.
pub(super) fn source_word(source: DirectiveSource) -> &'static str {
    match source {
        DirectiveSource::Description => "the description",
        DirectiveSource::Comment => "a comment",
    }
}

/// `1 check` or `3 checks`.
pub(super) fn plural(n: usize, one: &str, many: &str) -> String {
    if n == 1 {
        format!("1 {one}")
    } else {
        format!("{n} {many}")
    }
}

/// A duration for humans: `<1s`, `42s`, `1m 05s`, `2h 03m`.
pub(super) fn duration(ms: u64) -> String {
    let s = ms / 1000;
    if ms < 1000 {
        "<1s".to_owned()
    } else if s < 60 {
        format!("{s}s")
    } else if s < 3600 {
        format!("{}m {:02}s", s / 60, s % 60)
    } else {
        format!("{}h {:02}m", s / 3600, (s % 3600) / 60)
    }
}

/// A commit as a code span of its short form.
pub(super) fn commit_code(id: &CommitId) -> String {
    code(id.short(), Style::Md, CLIP_ID)
}

/// A pull request revision as a code span of its first 8 characters.
pub(super) fn revision_code(id: &RevisionId) -> String {
    code(id.short(), Style::Md, CLIP_ID)
}

/// `a`, `b` and `c`; past [`INLINE_NAMES`]: `a`, `b`, `c`, `d`, `e` and 2 more.
pub(super) fn names_in<'n>(names: impl Iterator<Item = &'n str>, s: Style) -> String {
    let names: Vec<&str> = names.collect();
    let shown: Vec<String> = names
        .iter()
        .take(INLINE_NAMES)
        .map(|n| code(n, s, CLIP_NAME))
        .collect();
    let more = names.len() - shown.len();
    match (shown.split_last(), more) {
        (None, _) => String::new(),
        (Some((last, [])), 0) => last.clone(),
        (Some((last, rest)), 0) => format!("{} and {last}", rest.join(", ")),
        (Some(_), more) => format!("{} and {more} more", shown.join(", ")),
    }
}

/// [`names_in`] for Markdown.
pub(super) fn inline_names<'n>(names: impl Iterator<Item = &'n str>) -> String {
    names_in(names, Style::Md)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_like_a_human_wrote_them() {
        assert_eq!(duration(400), "<1s");
        assert_eq!(duration(42_900), "42s");
        assert_eq!(duration(65_000), "1m 05s");
        assert_eq!(duration(3_600_000 + 180_000), "1h 03m");
    }
}
