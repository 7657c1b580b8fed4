//! Comments for a pull request the gate cannot test: the promotion rule refuses it, or it does not merge.

use super::blocks::{head, named_list, revision_words};
use super::escape::{CLIP_NAME, CLIP_PATH, Style, code};
use super::fit::{Block, Part};
use super::words::{FAILED, plural};
use super::{Comment, CommentKind, Subject, comment};
use crate::policy::PromotionViolation;

/// A refused promotion shrinks only the list of allowed source branches.
const PROMOTION_SHRINK: &[Part] = &[Part::Allowed];

/// A merge conflict shrinks only the list of conflicting files.
const CONFLICT_SHRINK: &[Part] = &[Part::Conflicts];

/// The promotion rule refuses the pull request's source branch: which sources it accepts, and how
/// to retarget the change. The gate REVOKEs.
pub(super) fn promotion_refused(subject: &Subject, v: &PromotionViolation) -> Comment {
    let s = Style::Md;
    let source = code(&v.source, s, CLIP_NAME);
    let destination = code(&v.destination, s, CLIP_NAME);
    let heading = format!("{FAILED} Gate failed: {source} may not merge into {destination}");
    let rule = if v.rule == v.destination {
        format!("for {destination}")
    } else {
        format!(
            "for {} (which matches {destination})",
            code(&v.rule, s, CLIP_NAME)
        )
    };
    let allowed = allowed_block(&rule, &v.allowed);
    let example = v
        .allowed
        .iter()
        .find(|a| !a.contains(['*', '?', '[', '{']))
        .map(|a| format!(" (such as {})", code(a, s, CLIP_NAME)))
        .unwrap_or_default();
    let fix = format!(
        "The gate ran no check and revoked its approval of {} (REVOKE).\n\n\
         To fix it, retarget the change: CodeCommit cannot change a pull request's destination, so \
         close this pull request and open a new one from {source} into a branch it may merge into, \
         or merge {source} into an allowed source branch{example} and open the pull request from \
         there.",
        revision_words(subject)
    );
    let blocks = [
        head(&heading, subject, "Commits"),
        allowed,
        Block::fixed(Part::Fix, fix),
    ];
    comment(
        CommentKind::PromotionRefused,
        subject,
        &blocks,
        PROMOTION_SHRINK,
    )
}

/// The source branches the promotion rule `rule` (`for …`) accepts.
fn allowed_block(rule: &str, allowed: &[String]) -> Block {
    let items: Vec<String> = allowed
        .iter()
        .map(|a| format!("- {}", code(a, Style::Md, CLIP_NAME)))
        .collect();
    let n = items.len();
    Block::list(
        Part::Allowed,
        format!(
            "The gate file's promotion rule {rule} accepts pull requests only from these source branches:"
        ),
        items,
        format!(
            "The gate file's promotion rule {rule} accepts pull requests only from {} (see `promotion` in the gate file).",
            plural(n, "source branch pattern", "source branch patterns")
        ),
    )
}

/// The source does not merge cleanly into the destination: nothing to test.
pub fn merge_conflict(subject: &Subject, conflicting_paths: &[String]) -> Comment {
    let s = Style::Md;
    let source = code(&subject.source_branch, s, CLIP_NAME);
    let destination = code(&subject.destination_branch, s, CLIP_NAME);
    let intro = format!(
        "{source} does not merge cleanly into {destination}, so there is no merged code to test. \
         The gate ran no check and revoked its approval of {} (REVOKE).",
        revision_words(subject)
    );
    let items: Vec<String> = conflicting_paths
        .iter()
        .map(|p| format!("- {}", code(p, s, CLIP_PATH)))
        .collect();
    let n = items.len();
    let list = if n == 0 {
        Block::fixed(
            Part::Conflicts,
            "CodeCommit reported a conflict but named no file.".to_owned(),
        )
    } else {
        named_list(Part::Conflicts, "Conflicting files", items, n.to_string())
    };
    let fix = format!(
        "To fix it, merge {destination} into {source} (or rebase onto it), resolve the conflicts \
         and push; the gate runs again on the new commit."
    );
    let blocks = [
        head(
            &format!("{FAILED} Gate failed: merge conflicts"),
            subject,
            "Tried to merge",
        ),
        Block::fixed(Part::Summary, intro),
        list,
        Block::fixed(Part::Fix, fix),
    ];
    comment(
        CommentKind::MergeConflict,
        subject,
        &blocks,
        CONFLICT_SHRINK,
    )
}
