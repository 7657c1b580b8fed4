//! The ends of failed checks' logs: cleaned of terminal escapes, fenced, cut to what fits.

use super::escape::{CLIP_NAME, Style, clip, code, is_bidi_control, longest_run, neutralise};
use super::fit::{Block, Part};
use super::results::Row;
use super::words::{is_failure, plural, status_word};
use super::{MAX_COMMENT_CHARS, comment_len};
use crate::policy::{CheckResult, CheckStatus};
use std::fmt::Write as _;

/// Characters of one log line a tail shows before cutting it.
const CLIP_LOG_LINE: usize = 500;

/// Failed checks whose log tails a comment shows.
const MAX_TAILS: usize = 10;
/// Lines of a log tail a comment shows at most, even when there is room: the log link has the rest.
const COMMENT_TAIL_LINES: usize = 50;

/// The last lines of one failed check's log, cleaned, ready to shrink.
pub(super) struct Tail {
    name: String,
    status: CheckStatus,
    /// Cleaned lines, oldest first (only as many as could ever fit).
    pub(super) lines: Vec<String>,
    /// Lines before `lines` that were dropped up front.
    dropped: usize,
}

impl Tail {
    pub(super) fn new(name: &str, status: CheckStatus, log: &str) -> Option<Tail> {
        let log = log.trim_end_matches(['\n', '\r', ' ', '\t']);
        if log.trim().is_empty() {
            return None;
        }
        let total = log.split('\n').count();
        let mut lines = Vec::new();
        let mut size = 0;
        for raw in log.rsplit('\n').take(COMMENT_TAIL_LINES) {
            let line = clean_log_line(raw);
            size += comment_len(&line) + 1;
            if size > MAX_COMMENT_CHARS {
                break;
            }
            lines.push(line);
        }
        lines.reverse();
        Some(Tail {
            name: name.to_owned(),
            status,
            dropped: total - lines.len(),
            lines,
        })
    }

    fn size(&self) -> usize {
        self.lines.iter().map(|l| comment_len(l) + 1).sum()
    }

    /// The block for this tail, keeping the last lines that fit in `budget` characters; `None`
    /// when not even one line fits.
    fn render(&self, budget: usize) -> Option<String> {
        let mut used = 0;
        let mut kept = 0;
        for line in self.lines.iter().rev() {
            used += comment_len(line) + 1;
            if used > budget {
                break;
            }
            kept += 1;
        }
        if kept == 0 {
            return None;
        }
        let omitted = self.dropped + self.lines.len() - kept;
        let shown = &self.lines[self.lines.len() - kept..];
        let longest = shown.iter().map(|l| longest_run(l, '`')).max().unwrap_or(0);
        let fence = "`".repeat(longest.max(2) + 1);
        let mut out = format!(
            "**{} {}**, last {} of its log:\n\n{fence}",
            code(&self.name, Style::Md, CLIP_NAME),
            status_word(self.status),
            plural(kept, "line", "lines")
        );
        if omitted > 0 {
            let _ = write!(out, "\n… {} omitted", plural(omitted, "line", "lines"));
        }
        for line in shown {
            out.push('\n');
            out.push_str(line);
        }
        out.push('\n');
        out.push_str(&fence);
        Some(out)
    }
}

/// One log line made inert for a code fence: ANSI escapes removed, `\r` progress overwrites
/// resolved, control characters dropped, long lines cut, `<!--`/`-->` split.
pub(super) fn clean_log_line(raw: &str) -> String {
    let raw = raw.strip_suffix('\r').unwrap_or(raw);
    let raw = raw
        .rsplit('\r')
        .find(|seg| !seg.is_empty())
        .unwrap_or_default();
    let mut out = String::with_capacity(raw.len());
    let mut chars = raw.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            match chars.next() {
                // CSI: parameters and intermediates, then one final byte 0x40..=0x7E.
                Some('[') => {
                    for c in chars.by_ref() {
                        if ('\u{40}'..='\u{7e}').contains(&c) {
                            break;
                        }
                    }
                }
                // OSC: up to BEL or ESC \.
                Some(']') => {
                    while let Some(c) = chars.next() {
                        if c == '\u{7}' {
                            break;
                        }
                        if c == '\u{1b}' {
                            chars.next_if_eq(&'\\');
                            break;
                        }
                    }
                }
                _ => {}
            }
        } else if c == '\t' {
            out.push_str("    ");
        } else if c.is_control() {
            // dropped
        } else if is_bidi_control(c) {
            out.push('\u{FFFD}');
        } else {
            out.push(c);
        }
    }
    let out = clip(&out, CLIP_LOG_LINE).into_owned();
    neutralise(&out).into_owned()
}

/// The log tails of the checks in `rows` that failed, blocking ones first: those of the first
/// [`MAX_TAILS`] that have one, and a count of the rest.
pub(super) fn failure_tails(rows: &[Row<'_>]) -> Block {
    let mut failed: Vec<(&Row, &CheckResult)> = rows
        .iter()
        .filter_map(|r| r.result.map(|res| (r, res)))
        .filter(|(_, res)| is_failure(res.status))
        .collect();
    failed.sort_by_key(|(r, _)| !r.check.required);
    let tails: Vec<Tail> = failed
        .iter()
        .filter_map(|(r, res)| {
            Tail::new(r.check.name.as_str(), res.status, res.log_tail.as_deref()?)
        })
        .take(MAX_TAILS)
        .collect();
    let with_tail = failed
        .iter()
        .filter(|(_, res)| {
            res.log_tail
                .as_deref()
                .is_some_and(|t| !t.trim().is_empty())
        })
        .count();
    let more = with_tail.saturating_sub(tails.len());
    tails_block(tails, more)
}

/// The log tails `tails`, then a note for them that did not fit and for `more` left out before.
/// Level = characters of log per tail.
fn tails_block(tails: Vec<Tail>, more: usize) -> Block {
    let max = tails.iter().map(Tail::size).max().unwrap_or(0);
    Block::shrinking(Part::Tails, max, move |budget| {
        let mut parts: Vec<String> = tails.iter().filter_map(|t| t.render(budget)).collect();
        let left_out = tails.len() - parts.len() + more;
        if left_out > 0 {
            parts.push(format!(
                "The log tails of {} did not fit in this comment; follow the log links in the table.",
                plural(left_out, "more failed check", "more failed checks")
            ));
        }
        parts.join("\n\n")
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_lines_lose_ansi_and_progress_overwrites() {
        assert_eq!(
            clean_log_line("\u{1b}[31merror\u{1b}[0m: boom\r"),
            "error: boom"
        );
        assert_eq!(clean_log_line("10%\r50%\r100%"), "100%");
        assert_eq!(clean_log_line("\u{1b}]0;title\u{7}ok\u{7}"), "ok");
    }
}
