//! Fitting a comment into CodeCommit's limit: blocks that shrink, assembled in a fixed order.

use super::escape::clip;
use super::{MAX_COMMENT_CHARS, comment_len};
use std::fmt::Write as _;

/// What a block of a comment holds. Every block carries its part from the moment it is built,
/// and a comment names the order in which its blocks shrink by part (its `SHRINK` constant), so
/// that order can never point at the wrong block.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Part {
    /// The verdict heading and who and what: the one block kept when nothing else fits.
    Head,
    /// The sentences under the head: what happened and what the gate did.
    Summary,
    /// The table of checks: why each runs, or how each ended.
    Table,
    /// The affected components.
    Components,
    /// The skipped checks.
    Skipped,
    /// The directives and what became of them.
    Directives,
    /// The log tails of failed checks.
    Tails,
    /// What the checks' test and coverage reports said, with the failed tests.
    TestResults,
    /// Which gate file governed, and what the change's own gate file would change.
    GateFile,
    /// The problems of an invalid gate file.
    Problems,
    /// What the pull request proposes as the first gate file (or a minimal one to start from).
    Proposed,
    /// How a gate file lands on the destination.
    Adoption,
    /// The files that conflict.
    Conflicts,
    /// The source branches a promotion rule accepts.
    Allowed,
    /// How to fix it.
    Fix,
    /// A whole reply to a `/gate` command.
    Reply,
}

/// A block of a comment: `render(level)` for `level` in `0..=max`, shorter at lower levels.
pub(super) struct Block {
    part: Part,
    max: usize,
    render: Box<dyn Fn(usize) -> String>,
}

impl Block {
    pub(super) fn fixed(part: Part, text: String) -> Self {
        Block {
            part,
            max: 0,
            render: Box::new(move |_| text.clone()),
        }
    }

    pub(super) fn shrinking(
        part: Part,
        max: usize,
        render: impl Fn(usize) -> String + 'static,
    ) -> Self {
        Block {
            part,
            max,
            render: Box::new(render),
        }
    }

    /// The block at its largest level (a text with no size limit, such as a release report).
    pub(super) fn full(&self) -> String {
        (self.render)(self.max)
    }

    /// A titled list that shows its first `level` items, then "… and N more"; at level 0 only
    /// `collapsed` (a one-line summary). Empty when there are no items.
    pub(super) fn list(part: Part, title: String, items: Vec<String>, collapsed: String) -> Self {
        let n = items.len();
        Block::shrinking(part, n, move |k| {
            if n == 0 {
                return String::new();
            }
            if k == 0 {
                return collapsed.clone();
            }
            let mut out = title.clone();
            for item in &items[..k] {
                out.push('\n');
                out.push_str(item);
            }
            if k < n {
                let _ = write!(out, "\n- … and {} more", n - k);
            }
            out
        })
    }
}

/// Joins the blocks with blank lines and appends `marker`, shrinking the blocks named in `shrink`
/// in that order (each to the largest level that fits) until the body fits in
/// [`MAX_COMMENT_CHARS`]. The first block (the head) must be small; if nothing else fits, the body
/// is the first block, a note and the marker. Each part stands at most once in `blocks`, and
/// `shrink` names only parts that do.
pub(super) fn assemble(blocks: &[Block], shrink: &[Part], marker: Option<&str>) -> String {
    debug_assert!(
        blocks
            .iter()
            .enumerate()
            .all(|(i, b)| blocks[..i].iter().all(|a| a.part != b.part)),
        "a part stands twice in one comment"
    );
    debug_assert!(
        shrink.iter().all(|p| blocks.iter().any(|b| b.part == *p)),
        "the shrink order names a part the comment does not have"
    );
    let mut draft = Draft::new(blocks, marker);
    for part in shrink {
        if draft.fits() {
            break;
        }
        let Some(i) = blocks.iter().position(|b| b.part == *part) else {
            continue;
        };
        draft.shrink(i, &blocks[i]);
    }
    draft.into_body(marker)
}

/// The blocks' texts as they stand while a comment is fitted, with their lengths.
struct Draft {
    texts: Vec<String>,
    lens: Vec<usize>,
    /// The marker and the blank line before it; 0 without a marker.
    marker_len: usize,
}

impl Draft {
    /// Every block at its largest level.
    fn new(blocks: &[Block], marker: Option<&str>) -> Self {
        let texts: Vec<String> = blocks.iter().map(|b| (b.render)(b.max)).collect();
        Draft {
            lens: texts.iter().map(|t| comment_len(t)).collect(),
            texts,
            marker_len: marker.map_or(0, |m| comment_len(m) + 2),
        }
    }

    /// The body's length as it stands.
    fn len(&self) -> usize {
        body_len(self.lens.iter().copied(), self.marker_len)
    }

    /// The body's length if block `i` were `len` long.
    fn len_with(&self, i: usize, len: usize) -> usize {
        let lens = self.lens.iter().enumerate();
        let lens = lens.map(|(j, &l)| if j == i { len } else { l });
        body_len(lens, self.marker_len)
    }

    fn fits(&self) -> bool {
        self.len() <= MAX_COMMENT_CHARS
    }

    fn set(&mut self, i: usize, text: String, len: usize) {
        self.texts[i] = text;
        self.lens[i] = len;
    }

    /// Shrinks block `i` to its largest level at which the body fits; to level 0 when none does.
    fn shrink(&mut self, i: usize, block: &Block) {
        let at = |level: usize| {
            let t = (block.render)(level);
            let l = comment_len(&t);
            (t, l)
        };
        let (t0, l0) = at(0);
        self.set(i, t0, l0);
        if !self.fits() || block.max == 0 {
            return;
        }
        // `lo` fits, `hi` does not.
        let (mut lo, mut hi) = (0, block.max);
        while lo + 1 < hi {
            let mid = lo + (hi - lo) / 2;
            let (t, l) = at(mid);
            if self.len_with(i, l) <= MAX_COMMENT_CHARS {
                lo = mid;
                self.set(i, t, l);
            } else {
                hi = mid;
            }
        }
    }

    /// The body: the blocks and the marker; or, when even that is too long, the head (cut to
    /// half the limit), a note and the marker.
    fn into_body(self, marker: Option<&str>) -> String {
        let body = join(self.texts.iter().map(String::as_str), marker);
        if comment_len(&body) <= MAX_COMMENT_CHARS {
            return body;
        }
        let head = self.texts.first().map_or("", String::as_str);
        let head = clip(head, MAX_COMMENT_CHARS / 2);
        let note = "The rest of this report did not fit in a CodeCommit comment.";
        join([head.as_ref(), note].into_iter(), marker)
    }
}

/// The length of a body whose blocks are `lens` long: the non-empty blocks and the marker
/// (`marker_len` counts its blank line), joined by blank lines.
fn body_len(lens: impl Iterator<Item = usize>, marker_len: usize) -> usize {
    let parts: usize = lens.filter(|&l| l > 0).map(|l| l + 2).sum();
    (parts + marker_len).saturating_sub(2)
}

/// The non-empty `parts` and the marker, separated by blank lines.
fn join<'s>(parts: impl Iterator<Item = &'s str>, marker: Option<&'s str>) -> String {
    let mut body = String::new();
    for part in parts.chain(marker).filter(|p| !p.is_empty()) {
        if !body.is_empty() {
            body.push_str("\n\n");
        }
        body.push_str(part);
    }
    body
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn assemble_shrinks_in_order_and_keeps_the_marker() {
        let big = "x".repeat(MAX_COMMENT_CHARS);
        let blocks = [
            Block::fixed(Part::Head, "## head".to_owned()),
            Block::shrinking(Part::Table, 1000, |k| "y".repeat(k * 100)),
        ];
        let body = assemble(&blocks, &[Part::Table], Some("<!-- m -->"));
        assert!(comment_len(&body) <= MAX_COMMENT_CHARS);
        assert!(body.starts_with("## head") && body.ends_with("<!-- m -->"));
        assert!(
            comment_len(&body) > MAX_COMMENT_CHARS - 100,
            "uses the room it has"
        );
        let blocks = [
            Block::fixed(Part::Head, "## head".to_owned()),
            Block::fixed(Part::Summary, big),
        ];
        let body = assemble(&blocks, &[], Some("<!-- m -->"));
        assert!(body.starts_with("## head") && body.ends_with("<!-- m -->"));
        assert!(comment_len(&body) <= MAX_COMMENT_CHARS);
    }

    #[test]
    #[cfg(debug_assertions)]
    #[should_panic(expected = "names a part the comment does not have")]
    fn a_shrink_order_cannot_name_a_block_the_comment_lacks() {
        let blocks = [Block::fixed(Part::Head, "## head".to_owned())];
        assemble(&blocks, &[Part::Tails], None);
    }

    #[test]
    #[cfg(debug_assertions)]
    #[should_panic(expected = "a part stands twice")]
    fn a_part_names_one_block() {
        let blocks = [
            Block::fixed(Part::Head, "## head".to_owned()),
            Block::fixed(Part::Summary, "a".to_owned()),
            Block::fixed(Part::Summary, "b".to_owned()),
        ];
        assemble(&blocks, &[], None);
    }
}
