//! Making user text inert: escaping for prose and table cells, code spans, clipping, log links.

use std::borrow::Cow;
use std::fmt::Write as _;

/// How much of a value from users or builds a text shows, in characters, before it is cut with `…`.
pub(super) const CLIP_ID: usize = 40;
pub(super) const CLIP_NAME: usize = 100;
pub(super) const CLIP_PATH: usize = 200;
pub(super) const CLIP_TITLE: usize = 200;
pub(super) const CLIP_TEXT: usize = 300;
pub(super) const CLIP_MESSAGE: usize = 500;
/// The longest log URL written as a link (longer ones are shown as code).
pub(super) const MAX_URL: usize = 2048;

/// How a piece of text is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Style {
    /// Markdown prose (paragraphs, list items).
    Md,
    /// A Markdown table cell: like prose, and `|` inside code spans is escaped too.
    Cell,
    /// Plain text (CLI, SNS): only control characters are replaced.
    Plain,
}

/// Makes user text inert in Markdown and HTML, for prose and table cells: every ASCII punctuation
/// character that means something to CommonMark or GFM (emphasis, links, images, code, tables,
/// strikethrough, list and heading markers, autolinks' `:`, `.` and `@`) is backslash-escaped,
/// which renders it literally; `<`, `>` and `&` become entities; line breaks and other control
/// characters become spaces. Bidi overrides become
/// U+FFFD so they cannot reorder what follows. The result contains no `<!--` or `-->`, no link,
/// image, HTML, emphasis or unescaped `|`.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + text.len() / 2);
    for ch in text.chars() {
        match ch {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            c if c.is_ascii_punctuation() && !INERT_PUNCTUATION.contains(c) => {
                out.push('\\');
                out.push(c);
            }
            c => out.push(inert_char(c).unwrap_or(c)),
        }
    }
    out
}

/// ASCII punctuation that has no meaning in CommonMark or GFM, left as is for readable raw text
/// (CodeCommit's notification emails show a comment's raw Markdown).
const INERT_PUNCTUATION: &str = "'\",;?/%";

/// Whether `c` reorders the text around it (bidi embeddings, overrides and isolates).
pub(super) fn is_bidi_control(c: char) -> bool {
    matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
}

/// The replacement for a character that must not appear in one line of user text.
fn inert_char(c: char) -> Option<char> {
    if c.is_control() {
        Some(' ')
    } else if is_bidi_control(c) {
        Some('\u{FFFD}')
    } else {
        None
    }
}

/// `text` on one line, with control and bidi characters made harmless.
pub(super) fn one_line(text: &str) -> String {
    text.chars().map(|c| inert_char(c).unwrap_or(c)).collect()
}

/// Splits `<!--` and `-->` with a zero-width space, for verbatim contexts (code) where escapes
/// do not apply: the text looks the same but can never open or close an HTML comment.
pub(super) fn neutralise(text: &str) -> Cow<'_, str> {
    if !text.contains("<!--") && !text.contains("-->") {
        return Cow::Borrowed(text);
    }
    Cow::Owned(
        text.replace("<!--", "<!\u{200B}--")
            .replace("-->", "--\u{200B}>"),
    )
}

/// At most `max` characters, ending in `…` when cut.
pub(super) fn clip(text: &str, max: usize) -> Cow<'_, str> {
    let max = max.max(1);
    if text.char_indices().nth(max).is_none() {
        return Cow::Borrowed(text);
    }
    let end = text
        .char_indices()
        .nth(max - 1)
        .map_or(text.len(), |(i, _)| i);
    Cow::Owned(format!("{}…", &text[..end]))
}

/// The longest run of `c` in `text`.
pub(super) fn longest_run(text: &str, c: char) -> usize {
    let (mut best, mut run) = (0, 0);
    for ch in text.chars() {
        if ch == c {
            run += 1;
            best = best.max(run);
        } else {
            run = 0;
        }
    }
    best
}

/// User text as an inline code span: one line, delimited by more backticks than any run inside.
pub(super) fn code(text: &str, style: Style, max: usize) -> String {
    let clean = one_line(&clip(text, max));
    if style == Style::Plain {
        return format!("`{clean}`");
    }
    let mut clean = neutralise(&clean).into_owned();
    if style == Style::Cell {
        clean = clean.replace('|', "\\|");
    }
    if clean.is_empty() {
        return "` `".to_owned();
    }
    let ticks = "`".repeat(longest_run(&clean, '`') + 1);
    let all_spaces = clean.chars().all(|c| c == ' ');
    let pad = clean.starts_with('`')
        || clean.ends_with('`')
        || (!all_spaces && clean.starts_with(' ') && clean.ends_with(' '));
    if pad {
        format!("{ticks} {clean} {ticks}")
    } else {
        format!("{ticks}{clean}{ticks}")
    }
}

/// User text as prose.
pub(super) fn text(t: &str, style: Style, max: usize) -> String {
    let t = clip(t, max);
    match style {
        Style::Plain => one_line(&t),
        Style::Md | Style::Cell => escape(&t),
    }
}

/// Our own messages that quote user values in backticks (gate-file errors, directive problems):
/// the backticked parts become code spans, the rest is escaped. Safe whatever the text holds.
pub(super) fn trusted(t: &str, style: Style, max: usize) -> String {
    let t = clip(t, max);
    if style == Style::Plain {
        return one_line(&t);
    }
    let parts: Vec<&str> = t.split('`').collect();
    if parts.len().is_multiple_of(2) {
        return escape(&t);
    }
    parts
        .iter()
        .enumerate()
        .map(|(i, p)| {
            if i % 2 == 1 {
                code(p, style, usize::MAX)
            } else {
                escape(p)
            }
        })
        .collect()
}

/// A link to a build log: only `http(s)` URLs become links, percent-encoded so nothing in them
/// can end the link or the table cell; anything else is shown as code.
pub(super) fn log_link(url: &str) -> String {
    let lower = url.get(..8).unwrap_or(url).to_ascii_lowercase();
    let web = lower.starts_with("https://") || lower.starts_with("http://");
    if !web || url.len() > MAX_URL {
        return code(url, Style::Cell, CLIP_PATH);
    }
    let mut dest = String::with_capacity(url.len());
    for ch in url.chars() {
        match ch {
            '&' => dest.push_str("&amp;"),
            c if c.is_ascii_alphanumeric() || "-._~:/?#@!$'*+,;=%".contains(c) => dest.push(c),
            c => {
                let mut buf = [0u8; 4];
                for b in c.encode_utf8(&mut buf).bytes() {
                    let _ = write!(dest, "%{b:02X}");
                }
            }
        }
    }
    format!("[log]({dest})")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn code_spans_outlast_any_backtick_run_and_split_comments() {
        assert_eq!(code("api", Style::Md, 100), "`api`");
        assert_eq!(code("a`b", Style::Md, 100), "``a`b``");
        assert_eq!(code("`x`", Style::Md, 100), "`` `x` ``");
        assert_eq!(code("a|b", Style::Cell, 100), "`a\\|b`");
        assert_eq!(code("a|b", Style::Md, 100), "`a|b`");
        assert_eq!(code("a\nb", Style::Md, 100), "`a b`");
        assert_eq!(code("", Style::Md, 100), "` `");
        assert!(!code("<!-- x -->", Style::Md, 100).contains("<!--"));
        assert!(!code("<!-- x -->", Style::Md, 100).contains("-->"));
    }

    #[test]
    fn clip_counts_characters_not_bytes() {
        assert_eq!(clip("ääää", 4), "ääää");
        assert_eq!(clip("äääää", 4), "äää…");
    }

    #[test]
    fn trusted_messages_keep_their_code_spans_and_escape_the_rest() {
        assert_eq!(
            trusted("check `a|b` uses <x>", Style::Cell, 100),
            "check `a\\|b` uses &lt;x&gt;"
        );
        assert_eq!(trusted("odd ` tick", Style::Md, 100), "odd \\` tick");
    }

    #[test]
    fn only_web_links_become_links_and_they_cannot_break_out() {
        assert_eq!(
            log_link("https://x.example/a b)|<c>&d"),
            "[log](https://x.example/a%20b%29%7C%3Cc%3E&amp;d)"
        );
        assert_eq!(log_link("javascript:alert(1)"), "`javascript:alert(1)`");
        assert_eq!(log_link("/tmp/gate/unit.log"), "`/tmp/gate/unit.log`");
    }
}
