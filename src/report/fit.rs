//! Fitting a comment into CodeCommit's limit: blocks that shrink, assembled in a fixed order.

use super::escape::clip;
use super::{MAX_COMMENT_CHARS, comment_len};
use std::fmt::Write as _;

/// A block of a comment: `render(level)` for `level` in `0..=max`, shorter at lower levels.
pub(super) struct Block {
    max: usize,
    render: Box<dyn Fn(usize) -> String>,
}

impl Block {
    pub(super) fn fixed(text: String) -> Self {
        Block {
            max: 0,
            render: Box::new(move |_| text.clone()),
        }
    }

    pub(super) fn shrinking(max: usize, render: impl Fn(usize) -> String + 'static) -> Self {
        Block {
            max,
            render: Box::new(render),
        }
    }

    /// A titled list that shows its first `level` items, then "… and N more"; at level 0 only
    /// `collapsed` (a one-line summary). Empty when there are no items.
    pub(super) fn list(title: String, items: Vec<String>, collapsed: String) -> Self {
        let n = items.len();
        Block::shrinking(n, move |k| {
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

/// Joins the blocks with blank lines and appends `marker`, shrinking blocks in `order` (each to
/// the largest level that fits) until the body fits in [`MAX_COMMENT_CHARS`]. Block 0 (the
/// verdict) must be small; if nothing else fits, the body is block 0, a note and the marker.
pub(super) fn assemble(blocks: &[Block], order: &[usize], marker: Option<&str>) -> String {
    let mut texts: Vec<String> = blocks.iter().map(|b| (b.render)(b.max)).collect();
    let mut lens: Vec<usize> = texts.iter().map(|t| comment_len(t)).collect();
    let marker_len = marker.map_or(0, |m| comment_len(m) + 2);
    let total = |lens: &[usize]| {
        let parts: usize = lens.iter().filter(|&&l| l > 0).map(|l| l + 2).sum();
        (parts + marker_len).saturating_sub(2)
    };
    for &i in order {
        if total(&lens) <= MAX_COMMENT_CHARS {
            break;
        }
        let Some(block) = blocks.get(i) else { continue };
        let at = |level: usize| {
            let t = (block.render)(level);
            let l = comment_len(&t);
            (t, l)
        };
        let (t0, l0) = at(0);
        texts[i] = t0;
        lens[i] = l0;
        if total(&lens) > MAX_COMMENT_CHARS || block.max == 0 {
            continue;
        }
        // `lo` fits, `hi` does not.
        let (mut lo, mut hi) = (0, block.max);
        while lo + 1 < hi {
            let mid = lo + (hi - lo) / 2;
            let (t, l) = at(mid);
            let saved = lens[i];
            lens[i] = l;
            if total(&lens) <= MAX_COMMENT_CHARS {
                lo = mid;
                texts[i] = t;
            } else {
                hi = mid;
                lens[i] = saved;
            }
        }
        lens[i] = comment_len(&texts[i]);
    }
    let mut body = join(texts.iter().map(String::as_str), marker);
    if comment_len(&body) > MAX_COMMENT_CHARS {
        let head = texts.first().map_or("", String::as_str);
        let head = clip(head, MAX_COMMENT_CHARS / 2);
        let note = "The rest of this report did not fit in a CodeCommit comment.";
        body = join([head.as_ref(), note].into_iter(), marker);
    }
    body
}

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
            Block::fixed("## head".to_owned()),
            Block::shrinking(1000, |k| "y".repeat(k * 100)),
        ];
        let body = assemble(&blocks, &[1], Some("<!-- m -->"));
        assert!(comment_len(&body) <= MAX_COMMENT_CHARS);
        assert!(body.starts_with("## head") && body.ends_with("<!-- m -->"));
        assert!(
            comment_len(&body) > MAX_COMMENT_CHARS - 100,
            "uses the room it has"
        );
        let blocks = [Block::fixed("## head".to_owned()), Block::fixed(big)];
        let body = assemble(&blocks, &[], Some("<!-- m -->"));
        assert!(body.starts_with("## head") && body.ends_with("<!-- m -->"));
        assert!(comment_len(&body) <= MAX_COMMENT_CHARS);
    }
}
