//! The hidden marker that ends every gate comment, and its strict parser.

use crate::ids::{PullRequestId, RepositoryName};
use serde::{Deserialize, Serialize};

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct MarkerData {
    v: u32,
    repo: String,
    pr: String,
}

const MARKER_PREFIX: &str = "<!-- codecommit-gate:";
const MARKER_SUFFIX: &str = " -->";
const MARKER_VERSION: u32 = 1;

/// The hidden last line of every gate comment:
/// `<!-- codecommit-gate:{"v":1,"repo":"...","pr":"..."} -->`. `<`, `>` and `&` in the values are
/// JSON-escaped, so the line can never contain a second `-->`.
pub fn marker(repository: &RepositoryName, pr: &PullRequestId) -> String {
    let data = MarkerData {
        v: MARKER_VERSION,
        repo: repository.as_str().to_owned(),
        pr: pr.as_str().to_owned(),
    };
    let json = serde_json::to_string(&data).unwrap_or_default();
    // Only string values can hold these characters, and inside a JSON string `\u003c` is `<`.
    let json = json
        .replace('<', "\\u003c")
        .replace('>', "\\u003e")
        .replace('&', "\\u0026");
    format!("{MARKER_PREFIX}{json}{MARKER_SUFFIX}")
}

/// Parses our marker strictly: only when it is the last line of `body` (trailing whitespace
/// aside), exactly in the form [`marker`] writes, and not inside a fenced code block. Anyone can
/// write this line in a comment, so a caller must also check that the comment's author is the gate.
pub fn find_marker(body: &str) -> Option<(RepositoryName, PullRequestId)> {
    let body = body.trim_end();
    let (before, last) = match body.rfind('\n') {
        Some(i) => (&body[..i], &body[i + 1..]),
        None => ("", body),
    };
    let last = last.strip_suffix('\r').unwrap_or(last);
    let json = last
        .strip_prefix(MARKER_PREFIX)?
        .strip_suffix(MARKER_SUFFIX)?;
    let data: MarkerData = serde_json::from_str(json).ok()?;
    if data.v != MARKER_VERSION {
        return None;
    }
    let repo = RepositoryName::new(data.repo);
    let pr = PullRequestId::new(data.pr);
    if marker(&repo, &pr) != last || in_open_fence(before) {
        return None;
    }
    Some((repo, pr))
}

/// Whether a fenced code block (CommonMark: ``` or ~~~, indented at most 3 spaces) is still open
/// at the end of `text`. Errs on the side of "open" for fences nested in lists.
fn in_open_fence(text: &str) -> bool {
    let mut open: Option<(char, usize)> = None;
    for line in text.lines() {
        let indent = line.len() - line.trim_start_matches(' ').len();
        if indent > 3 {
            continue;
        }
        let rest = &line[indent..];
        let Some(c) = rest.chars().next().filter(|c| *c == '`' || *c == '~') else {
            continue;
        };
        let run = rest.len() - rest.trim_start_matches(c).len();
        if run < 3 {
            continue;
        }
        let after = &rest[run..];
        match open {
            None => {
                if c == '~' || !after.contains('`') {
                    open = Some((c, run));
                }
            }
            Some((oc, olen)) => {
                if c == oc && run >= olen && after.trim().is_empty() {
                    open = None;
                }
            }
        }
    }
    open.is_some()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fences_are_tracked_like_commonmark() {
        assert!(in_open_fence("a\n```rust\nx"));
        assert!(!in_open_fence("```\nx\n```"));
        assert!(in_open_fence("````\n```\n"));
        assert!(in_open_fence("~~~\n```\n"));
        assert!(!in_open_fence("    ```\n"));
        assert!(
            !in_open_fence("``` a ` b\n"),
            "a backtick info string opens no fence"
        );
    }
}
