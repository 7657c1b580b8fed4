//! Every word the bot writes: the sticky PR comment, `/gate` replies, SNS notices and the CLI's plan text.
//!
//! Pure functions, no I/O. Every PR comment starts with its verdict (a `## ` heading), stays within
//! CodeCommit's [`MAX_COMMENT_CHARS`] and ends with a hidden [`marker`] line, so a retry finds and
//! updates its own comment ([`find_marker`]) instead of posting another.
//!
//! Everything that comes from users or builds (titles, branch names, check names, ARNs, paths,
//! log tails) is made inert before it is written: [`escape`] for prose and table cells, code spans
//! and fences that are longer than any backtick run in their content, and `<!--`/`-->` split by a
//! zero-width space wherever escaping cannot apply. So nothing a user writes renders as a link,
//! an image, HTML or a table cell, and nothing a user writes can pass for our marker.
//!
//! When a comment would be too long it shrinks in a fixed order: log tails first (keeping the end
//! of each), then the list of skipped checks, then the directives, then the rows of passed checks.
//! The verdict, the table header and the marker always stay.

use crate::gate_file::GateFileErrors;
use crate::ids::{CommitId, PullRequestId, RepositoryName, RevisionId};
use crate::plan::{
    DirectiveOutcome, DirectiveSource, Plan, PlanVerdict, PlannedCheck, Reason, Refusal,
};
use crate::policy::{CheckResult, CheckStatus, PromotionViolation, Verdict};
use crate::trust::{GateFileChange, GateFileNote, TrustSource};
use serde::{Deserialize, Serialize};
use std::borrow::Cow;
use std::fmt::Write as _;

/// CodeCommit's limit for a comment, in characters (`CommentContentSizeLimitExceededException`).
pub const MAX_COMMENT_CHARS: usize = 10_240;

/// The smallest useful gate file, shown when a repository has none (a test parses it).
pub const MINIMAL_GATE_FILE: &str = "\
# The checks every pull request must pass before the gate approves it.
version: 1
stages: [test]
checks:
  test:
    stage: test
    commands:
      - make test
";

/// Facts about the PR revision a comment talks about.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Subject {
    /// The repository.
    pub repository: RepositoryName,
    /// The pull request.
    pub pull_request_id: PullRequestId,
    /// The pull request's title, as its author wrote it.
    pub title: String,
    /// The source branch (without `refs/heads/`).
    pub source_branch: String,
    /// The destination branch (without `refs/heads/`).
    pub destination_branch: String,
    /// The tip of the source branch.
    pub source_commit: CommitId,
    /// The tip of the destination branch.
    pub destination_commit: CommitId,
    /// The merge commit that was (or is being) tested, when there is one.
    pub merge_commit: Option<CommitId>,
    /// The pull request revision, when known.
    pub revision_id: Option<RevisionId>,
}

/// Which comment this is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CommentKind {
    /// Checks are running.
    Running,
    /// The verdict of a run (also "nothing to test").
    Finished,
    /// The gate file does not parse or validate.
    InvalidGateFile,
    /// The repository has no gate file.
    MissingGateFile,
    /// The promotion rules refuse the source branch.
    PromotionRefused,
    /// The branches do not merge cleanly.
    MergeConflict,
    /// The result is about an older revision.
    Stale,
    /// The run ended outside its happy path (failed, timed out, aborted) without a report.
    RunEnded,
    /// A newer commit replaced the one being tested.
    Superseded,
    /// The destination moved on after the approval: the approval was revoked.
    Outdated,
}

/// A rendered PR comment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Comment {
    /// Which comment.
    pub kind: CommentKind,
    /// The Markdown body: at most [`MAX_COMMENT_CHARS`] characters, last line the [`marker`].
    pub body: String,
}

/// The length of `text` as CodeCommit counts it. CodeCommit is a Java service, so this counts
/// UTF-16 code units, which is never less than the number of `char`s: a body within this count is
/// within the limit however the service counts characters.
pub fn comment_len(text: &str) -> usize {
    text.encode_utf16().count()
}

// ---------------------------------------------------------------------------------------------
// Words

const PASSED: &str = "✅";
const FAILED: &str = "❌";
const WARNING: &str = "⚠️";
const RUNNING: &str = "⏳";
const NEUTRAL: &str = "➖";
const STOPPED: &str = "⏹️";

const CLIP_NAME: usize = 100;
const CLIP_PATH: usize = 200;
const CLIP_TITLE: usize = 200;
const CLIP_TEXT: usize = 300;
const CLIP_MESSAGE: usize = 500;
const CLIP_LOG_LINE: usize = 500;
const MAX_URL: usize = 2048;
/// Names listed inline in a sentence before "and N more".
const INLINE_NAMES: usize = 5;
/// Failed checks whose log tails a comment shows.
const MAX_TAILS: usize = 10;
/// Lines of a log tail a comment shows at most, even when there is room: the log link has the rest.
const COMMENT_TAIL_LINES: usize = 50;
/// Reasons shown per check before "and N more".
const REASONS_SHOWN: usize = 3;
/// Lines of each log tail in an SNS notice, and how many tails.
const NOTICE_TAIL_LINES: usize = 20;
const NOTICE_TAILS: usize = 5;
const NOTICE_CHECKS: usize = 20;

/// How a piece of text is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Style {
    /// Markdown prose (paragraphs, list items).
    Md,
    /// A Markdown table cell: like prose, and `|` inside code spans is escaped too.
    Cell,
    /// Plain text (CLI, SNS): only control characters are replaced.
    Plain,
}

/// One human line per planner reason (Markdown: user values in code spans, safe in prose).
pub fn reason(r: &Reason) -> String {
    reason_in(r, Style::Md)
}

fn reason_in(r: &Reason, s: Style) -> String {
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
    }
}

/// Why (part of) a directive was refused, in one line (Markdown).
pub fn refusal(r: &Refusal) -> String {
    refusal_in(r, Style::Md)
}

fn refusal_in(r: &Refusal, s: Style) -> String {
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

fn status_word(status: CheckStatus) -> &'static str {
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

fn source_word(source: DirectiveSource) -> &'static str {
    match source {
        DirectiveSource::Description => "the description",
        DirectiveSource::Comment => "a comment",
    }
}

fn plural(n: usize, one: &str, many: &str) -> String {
    if n == 1 {
        format!("1 {one}")
    } else {
        format!("{n} {many}")
    }
}

/// A duration for humans: `<1s`, `42s`, `1m 05s`, `2h 03m`.
fn duration(ms: u64) -> String {
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

fn short(id: &str) -> &str {
    let end = id.char_indices().nth(8).map_or(id.len(), |(i, _)| i);
    &id[..end]
}

// ---------------------------------------------------------------------------------------------
// Making user text inert

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

fn is_bidi_control(c: char) -> bool {
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

fn one_line(text: &str) -> String {
    text.chars().map(|c| inert_char(c).unwrap_or(c)).collect()
}

/// Splits `<!--` and `-->` with a zero-width space, for verbatim contexts (code) where escapes
/// do not apply: the text looks the same but can never open or close an HTML comment.
fn neutralise(text: &str) -> Cow<'_, str> {
    if !text.contains("<!--") && !text.contains("-->") {
        return Cow::Borrowed(text);
    }
    Cow::Owned(
        text.replace("<!--", "<!\u{200B}--")
            .replace("-->", "--\u{200B}>"),
    )
}

/// At most `max` characters, ending in `…` when cut.
fn clip(text: &str, max: usize) -> Cow<'_, str> {
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

fn longest_run(text: &str, c: char) -> usize {
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
fn code(text: &str, style: Style, max: usize) -> String {
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
fn text(t: &str, style: Style, max: usize) -> String {
    let t = clip(t, max);
    match style {
        Style::Plain => one_line(&t),
        Style::Md | Style::Cell => escape(&t),
    }
}

/// Our own messages that quote user values in backticks (gate-file errors, directive problems):
/// the backticked parts become code spans, the rest is escaped. Safe whatever the text holds.
fn trusted(t: &str, style: Style, max: usize) -> String {
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
fn log_link(url: &str) -> String {
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

// ---------------------------------------------------------------------------------------------
// The marker

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

// ---------------------------------------------------------------------------------------------
// Fitting a body into the limit

/// A block of a comment: `render(level)` for `level` in `0..=max`, shorter at lower levels.
struct Block {
    max: usize,
    render: Box<dyn Fn(usize) -> String>,
}

impl Block {
    fn fixed(text: String) -> Self {
        Block {
            max: 0,
            render: Box::new(move |_| text.clone()),
        }
    }

    fn shrinking(max: usize, render: impl Fn(usize) -> String + 'static) -> Self {
        Block {
            max,
            render: Box::new(render),
        }
    }

    /// A titled list that shows its first `level` items, then "… and N more"; at level 0 only
    /// `collapsed` (a one-line summary). Empty when there are no items.
    fn list(title: String, items: Vec<String>, collapsed: String) -> Self {
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
fn assemble(blocks: &[Block], order: &[usize], marker: Option<&str>) -> String {
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

fn comment(kind: CommentKind, subject: &Subject, blocks: &[Block], order: &[usize]) -> Comment {
    let m = marker(&subject.repository, &subject.pull_request_id);
    Comment {
        kind,
        body: assemble(blocks, order, Some(&m)),
    }
}

// ---------------------------------------------------------------------------------------------
// Shared pieces of PR comments

/// The heading, then who and what: title, PR, repository; then the commits.
fn head(heading: &str, subject: &Subject, verb: &str) -> String {
    let s = Style::Md;
    let title = subject.title.trim();
    let title = if title.is_empty() {
        "*(untitled)*".to_owned()
    } else {
        format!("**{}**", text(title, s, CLIP_TITLE))
    };
    let mut out = format!(
        "## {heading}\n\n{title} · pull request {} in {}\n\n{verb}: {} → {} ({} into {})",
        text(subject.pull_request_id.as_str(), s, 40),
        code(subject.repository.as_str(), s, CLIP_NAME),
        code(subject.source_commit.short(), s, 40),
        code(subject.destination_commit.short(), s, 40),
        code(&subject.source_branch, s, CLIP_NAME),
        code(&subject.destination_branch, s, CLIP_NAME),
    );
    if let Some(m) = &subject.merge_commit {
        let _ = write!(out, " · merge commit {}", code(m.short(), s, 40));
    }
    if let Some(r) = &subject.revision_id {
        let _ = write!(out, " · revision {}", code(short(r.as_str()), s, 40));
    }
    out
}

fn revision_words(subject: &Subject) -> String {
    match &subject.revision_id {
        Some(r) => format!("revision {}", code(short(r.as_str()), Style::Md, 40)),
        None => "this revision".to_owned(),
    }
}

/// `a`, `b` and `c`; past [`INLINE_NAMES`]: `a`, `b`, `c`, `d`, `e` and 2 more.
fn names_in<'n>(names: impl Iterator<Item = &'n str>, s: Style) -> String {
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

fn inline_names<'n>(names: impl Iterator<Item = &'n str>) -> String {
    names_in(names, Style::Md)
}

/// The reasons of one check or component in one line; several `Covers` read as one.
fn reasons_in(reasons: &[Reason], s: Style) -> String {
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

fn skipped_block(plan: &Plan) -> Block {
    let skipped: Vec<&PlannedCheck> = plan.skipped().collect();
    if let [first, rest @ ..] = skipped.as_slice()
        && !rest.is_empty()
        && rest.iter().all(|c| c.reasons == first.reasons)
    {
        return Block::fixed(format!(
            "**Skipped** ({}): {}, all because {}.",
            skipped.len(),
            inline_names(skipped.iter().map(|c| c.name.as_str())),
            reasons_in(&first.reasons, Style::Md)
        ));
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
    let n = items.len();
    Block::list(
        format!("**Skipped** ({n}):"),
        items,
        format!(
            "**Skipped:** {} (the list did not fit in this comment).",
            plural(n, "check", "checks")
        ),
    )
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
            code(commit.short(), s, 40),
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
fn gate_file_block(plan: &Plan) -> Block {
    let Some(note) = plan.gate_file.as_ref().filter(|n| n.is_notable()) else {
        return Block::fixed(String::new());
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
        return Block::fixed(title);
    }
    let collapsed = format!(
        "{title} Its own gate file would make {} once merged.",
        plural(n, "change", "changes")
    );
    Block::list(
        format!("{title} Its own gate file would, once merged:"),
        items,
        collapsed,
    )
}

fn directive_line(d: &DirectiveOutcome, s: Style) -> String {
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

fn directives_block(plan: &Plan) -> Block {
    let items: Vec<String> = plan
        .directives
        .iter()
        .map(|d| directive_line(d, Style::Md))
        .collect();
    let n = items.len();
    let refused = plan
        .directives
        .iter()
        .filter(|d| !d.refusals.is_empty())
        .count();
    Block::list(
        format!("**Directives** ({n}):"),
        items,
        format!(
            "**Directives:** {}, {} refused (the list did not fit in this comment).",
            plural(n, "directive", "directives"),
            refused
        ),
    )
}

// ---------------------------------------------------------------------------------------------
// PR comments

/// "Gate running": the checks that run, by stage, and why; the skipped ones with their reasons;
/// the directives. A plan that runs nothing gets the comment [`finished`] would write.
pub fn running(subject: &Subject, plan: &Plan) -> Comment {
    if plan.promotion.is_some() || plan.verdict != PlanVerdict::Run {
        let verdict = if plan.verdict == PlanVerdict::Pass {
            Verdict::Passed
        } else {
            Verdict::Failed
        };
        return finished(subject, plan, &[], verdict);
    }
    let s = Style::Cell;
    let run: Vec<&PlannedCheck> = plan.to_run().collect();
    let mut stages: Vec<&str> = run.iter().map(|c| c.stage.as_str()).collect();
    stages.dedup();
    let required = run.iter().filter(|c| c.required).count();
    let summary = format!(
        "Running {} of {} in {} ({} required, {} optional); {} skipped. \
         The gate approves {} only when every required check passes.",
        run.len(),
        plural(plan.checks.len(), "check", "checks"),
        plural(stages.len(), "stage", "stages"),
        required,
        run.len() - required,
        plan.checks.len() - run.len(),
        revision_words(subject),
    );
    let rows: Vec<String> = run
        .iter()
        .map(|c| {
            format!(
                "| {} | {}{} | {} |",
                text(&c.stage, s, CLIP_NAME),
                code(c.name.as_str(), s, CLIP_NAME),
                if c.required { "" } else { " (optional)" },
                reasons_in(&c.reasons, s)
            )
        })
        .collect();
    let n = rows.len();
    let table = Block::shrinking(n, move |k| {
        let mut out = "| Stage | Check | Why it runs |\n|---|---|---|".to_owned();
        for row in &rows[..k] {
            out.push('\n');
            out.push_str(row);
        }
        if k < n {
            let _ = write!(out, "\n| … | {} more not shown | |", n - k);
        }
        out
    });
    let affected: Vec<String> = plan
        .components
        .iter()
        .filter(|c| c.affected)
        .map(|c| {
            format!(
                "- {}: {}",
                code(c.name.as_str(), Style::Md, CLIP_NAME),
                reasons_in(&c.reasons, Style::Md)
            )
        })
        .collect();
    let na = affected.len();
    let components = Block::list(
        format!("**Affected components** ({na}):"),
        affected,
        format!("**Affected components:** {na}."),
    );
    let blocks = [
        Block::fixed(head(&format!("{RUNNING} Gate running"), subject, "Testing")),
        Block::fixed(summary),
        table,
        components,
        skipped_block(plan),
        directives_block(plan),
        gate_file_block(plan),
    ];
    comment(CommentKind::Running, subject, &blocks, &[4, 3, 5, 6, 2])
}

struct Row<'a> {
    check: &'a PlannedCheck,
    result: Option<&'a CheckResult>,
}

impl Row<'_> {
    fn status(&self) -> Option<CheckStatus> {
        self.result.map(|r| r.status)
    }

    fn ok(&self) -> bool {
        self.status().is_some_and(CheckStatus::is_success)
    }

    fn pending(&self) -> bool {
        self.status() == Some(CheckStatus::Pending)
    }

    fn flaky(&self) -> bool {
        self.result.is_some_and(|r| r.flaky)
    }

    /// Which rows to keep when the table must shrink: failures first.
    fn rank(&self) -> u8 {
        if self.ok() && !self.flaky() {
            3
        } else if self.pending() {
            2
        } else if self.check.required && !self.ok() {
            0
        } else {
            1
        }
    }

    fn status_cell(&self) -> String {
        let blocking = self.check.required;
        let bad = if blocking { FAILED } else { WARNING };
        let Some(r) = self.result else {
            return format!(
                "{bad} no result{}",
                if blocking { "" } else { " (not blocking)" }
            );
        };
        let mark = match r.status {
            CheckStatus::Passed => PASSED,
            CheckStatus::Pending => RUNNING,
            CheckStatus::Cancelled | CheckStatus::Skipped => NEUTRAL,
            CheckStatus::Failed | CheckStatus::TimedOut | CheckStatus::Errored => bad,
        };
        let mut out = format!("{mark} {}", status_word(r.status));
        if r.flaky && r.status == CheckStatus::Passed {
            if r.attempts > 1 {
                let _ = write!(
                    out,
                    " · {WARNING} flaky: passed after {} attempts",
                    r.attempts
                );
            } else {
                let _ = write!(out, " · {WARNING} flaky");
            }
        } else if r.attempts > 1 {
            let _ = write!(out, " after {} attempts", r.attempts);
        }
        if !blocking && !r.status.is_success() && r.status != CheckStatus::Pending {
            out.push_str(" (not blocking)");
        }
        out
    }

    fn cell(&self) -> String {
        let s = Style::Cell;
        let duration = self
            .result
            .and_then(|r| r.duration_ms)
            .map_or_else(|| "—".to_owned(), duration);
        let log = self
            .result
            .and_then(|r| r.log_url.as_deref())
            .map_or_else(|| "—".to_owned(), log_link);
        format!(
            "| {} | {}{} | {} | {} | {} |",
            text(&self.check.stage, s, CLIP_NAME),
            code(self.check.name.as_str(), s, CLIP_NAME),
            if self.check.required {
                ""
            } else {
                " (optional)"
            },
            self.status_cell(),
            duration,
            log
        )
    }
}

/// The last lines of one failed check's log, cleaned, ready to shrink.
struct Tail {
    name: String,
    status: CheckStatus,
    /// Cleaned lines, oldest first (only as many as could ever fit).
    lines: Vec<String>,
    /// Lines before `lines` that were dropped up front.
    dropped: usize,
}

impl Tail {
    fn new(name: &str, status: CheckStatus, log: &str) -> Option<Tail> {
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
fn clean_log_line(raw: &str) -> String {
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

/// The log tails of the first [`MAX_TAILS`] failed checks (blocking ones first); `more` counts
/// the failed checks left out. Level = characters of log per tail.
fn tails_block(tails: Vec<Tail>, more: usize) -> Block {
    let max = tails.iter().map(Tail::size).max().unwrap_or(0);
    Block::shrinking(max, move |budget| {
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

/// The verdict comment for a run of `plan` that produced `results` (`verdict` from
/// [`crate::policy::verdict`]). Also the comment for a plan that runs nothing ("nothing to
/// test") and for a plan the promotion rules refuse.
pub fn finished(
    subject: &Subject,
    plan: &Plan,
    results: &[CheckResult],
    verdict: Verdict,
) -> Comment {
    if let Some(violation) = &plan.promotion {
        return promotion_refused(subject, violation);
    }
    let rows: Vec<Row<'_>> = plan
        .to_run()
        .map(|check| Row {
            check,
            result: results.iter().find(|r| r.name == check.name),
        })
        .collect();
    if rows.is_empty() {
        return nothing_to_test(subject, plan, verdict);
    }

    let heading = match verdict {
        Verdict::Passed => format!("{PASSED} Gate passed"),
        Verdict::Failed => format!("{FAILED} Gate failed"),
        Verdict::Pending => format!("{RUNNING} Gate running"),
    };
    let required: Vec<&Row<'_>> = rows.iter().filter(|r| r.check.required).collect();
    let blocking: Vec<&Row<'_>> = required
        .iter()
        .copied()
        .filter(|r| !r.ok() && !r.pending())
        .collect();
    let optional_failed = rows
        .iter()
        .filter(|r| !r.check.required && !r.ok() && !r.pending())
        .count();
    let flaky = rows.iter().filter(|r| r.flaky()).count();
    let pending = rows.iter().filter(|r| r.pending()).count();
    let revision = revision_words(subject);

    let mut summary = match verdict {
        Verdict::Passed if required.is_empty() => {
            "No required check ran, so nothing blocks the merge.".to_owned()
        }
        Verdict::Passed if required.len() == 1 => "The required check passed.".to_owned(),
        Verdict::Passed => format!("All {} required checks passed.", required.len()),
        Verdict::Failed if blocking.is_empty() => "The run did not complete.".to_owned(),
        Verdict::Failed => format!(
            "{} of {} did not pass: {}.",
            blocking.len(),
            plural(required.len(), "required check", "required checks"),
            inline_names(blocking.iter().map(|r| r.check.name.as_str()))
        ),
        Verdict::Pending => format!(
            "{} of {} still running.",
            pending,
            plural(rows.len(), "check is", "checks are")
        ),
    };
    if optional_failed > 0 {
        let _ = write!(
            summary,
            " {} did not pass, which does not block the merge.",
            plural(optional_failed, "optional check", "optional checks")
        );
    }
    if flaky > 0 {
        let _ = write!(
            summary,
            " {} passed only after a retry (flaky).",
            plural(flaky, "check", "checks")
        );
    }
    match verdict {
        Verdict::Passed => {
            let _ = write!(summary, " The gate approves {revision}.");
        }
        Verdict::Failed => {
            let _ = write!(
                summary,
                " The gate revoked its approval of {revision} (REVOKE), so this pull request \
                 cannot merge. Push a fix, or comment `/gate retry` to run the failed checks again."
            );
        }
        Verdict::Pending => {
            let _ = write!(summary, " The gate approves nothing until they finish.");
        }
    }

    let cells: Vec<String> = rows.iter().map(Row::cell).collect();
    let mut order: Vec<usize> = (0..rows.len()).collect();
    order.sort_by_key(|&i| (rows[i].rank(), i));
    let statuses: Vec<String> = rows
        .iter()
        .map(|r| r.status().map_or("without result", status_word).to_owned())
        .collect();
    let n = rows.len();
    let table = Block::shrinking(n, move |k| {
        let mut shown = vec![false; n];
        for &i in &order[..k] {
            shown[i] = true;
        }
        let mut out =
            "| Stage | Check | Status | Duration | Log |\n|---|---|---|---|---|".to_owned();
        for (i, cell) in cells.iter().enumerate() {
            if shown[i] {
                out.push('\n');
                out.push_str(cell);
            }
        }
        if k < n {
            let mut tally: Vec<(&str, usize)> = Vec::new();
            for (i, word) in statuses.iter().enumerate() {
                if shown[i] {
                    continue;
                }
                match tally.iter_mut().find(|(w, _)| w == word) {
                    Some((_, count)) => *count += 1,
                    None => tally.push((word, 1)),
                }
            }
            let tally: Vec<String> = tally.iter().map(|(w, c)| format!("{c} {w}")).collect();
            let _ = write!(
                out,
                "\n| … | {} more not shown | {} | | |",
                n - k,
                tally.join(", ")
            );
        }
        out
    });

    let mut failed: Vec<(&Row, &CheckResult)> = rows
        .iter()
        .filter_map(|r| r.result.map(|res| (r, res)))
        .filter(|(_, res)| {
            matches!(
                res.status,
                CheckStatus::Failed | CheckStatus::TimedOut | CheckStatus::Errored
            )
        })
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

    let blocks = [
        Block::fixed(head(&heading, subject, "Tested")),
        Block::fixed(summary),
        table,
        skipped_block(plan),
        directives_block(plan),
        tails_block(tails, more),
        gate_file_block(plan),
    ];
    comment(CommentKind::Finished, subject, &blocks, &[5, 3, 4, 6, 2])
}

fn nothing_to_test(subject: &Subject, plan: &Plan, verdict: Verdict) -> Comment {
    let all = |f: fn(&Reason) -> bool| {
        !plan.checks.is_empty() && plan.checks.iter().all(|c| c.reasons.iter().any(f))
    };
    let why = if all(|r| matches!(r, Reason::NoChanges)) {
        "This pull request changes no file, so no check needs to run.".to_owned()
    } else if all(|r| matches!(r, Reason::AllIgnored)) {
        match plan.changed_paths {
            1 => "The one changed path is ignored by the gate file, so no check needs to run."
                .to_owned(),
            2 => "Both changed paths are ignored by the gate file, so no check needs to run."
                .to_owned(),
            n => format!(
                "All {n} changed paths are ignored by the gate file, so no check needs to run."
            ),
        }
    } else {
        format!(
            "No check needs to run for the {} (see below).",
            plural(plan.changed_paths, "changed path", "changed paths")
        )
    };
    let (heading, outcome) = match verdict {
        Verdict::Passed => (
            format!("{PASSED} Gate passed: nothing to test"),
            format!("The gate approves {}.", revision_words(subject)),
        ),
        Verdict::Failed => (
            format!("{FAILED} Gate failed"),
            format!(
                "The gate revoked its approval of {} (REVOKE).",
                revision_words(subject)
            ),
        ),
        Verdict::Pending => (
            format!("{RUNNING} Gate running"),
            "The gate approves nothing yet.".to_owned(),
        ),
    };
    let blocks = [
        Block::fixed(head(&heading, subject, "Tested")),
        Block::fixed(format!("{why} {outcome}")),
        skipped_block(plan),
        directives_block(plan),
        gate_file_block(plan),
    ];
    comment(CommentKind::Finished, subject, &blocks, &[2, 3, 4])
}

fn promotion_refused(subject: &Subject, v: &PromotionViolation) -> Comment {
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
    let allowed: Vec<String> = v
        .allowed
        .iter()
        .map(|a| format!("- {}", code(a, s, CLIP_NAME)))
        .collect();
    let n = allowed.len();
    let allowed = Block::list(
        format!(
            "The gate file's promotion rule {rule} accepts pull requests only from these source branches:"
        ),
        allowed,
        format!(
            "The gate file's promotion rule {rule} accepts pull requests only from {} (see `promotion` in the gate file).",
            plural(n, "source branch pattern", "source branch patterns")
        ),
    );
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
        Block::fixed(head(&heading, subject, "Commits")),
        allowed,
        Block::fixed(fix),
    ];
    comment(CommentKind::PromotionRefused, subject, &blocks, &[1])
}

/// The gate file does not parse or validate: each error as `file:line:column`, its message and
/// hint, and how to fix it. The gate REVOKEs.
pub fn invalid_gate_file(subject: &Subject, errors: &GateFileErrors) -> Comment {
    let s = Style::Md;
    let file = errors.0.first().map_or_else(
        || "the gate file".to_owned(),
        |e| code(&e.file, s, CLIP_PATH),
    );
    let n = errors.0.len();
    let intro = format!(
        "The gate could not use {file} from {} at {}, so it ran no check and revoked its \
         approval of {} (REVOKE). Fix {} below and push; the gate runs again on the new commit.",
        code(&subject.source_branch, s, CLIP_NAME),
        code(subject.source_commit.short(), s, 40),
        revision_words(subject),
        if n == 1 {
            "the problem".to_owned()
        } else {
            format!("the {n} problems")
        },
    );
    let list = problems_block(errors);
    let local = errors.0.first().map_or(".gate.yml", |e| e.file.as_str());
    let fix = format!(
        "Check the file before pushing with {}; every key is documented in `gate.example.yml`, \
         and `gate schema` prints a JSON Schema for editors.",
        code(&format!("gate validate {local}"), s, CLIP_PATH)
    );
    let blocks = [
        Block::fixed(head(
            &format!("{FAILED} Gate failed: the gate file is invalid"),
            subject,
            "Commits",
        )),
        Block::fixed(intro),
        list,
        Block::fixed(fix),
    ];
    comment(CommentKind::InvalidGateFile, subject, &blocks, &[2])
}

/// What the pull request itself says about the gate file, for the adoption comment.
#[derive(Debug, Clone, Copy)]
pub enum ProposedGateFile<'e> {
    /// The pull request has no gate file either.
    Absent,
    /// The pull request adds a valid gate file with this many checks.
    Valid {
        /// How many checks it defines.
        checks: usize,
    },
    /// The pull request adds a gate file with these problems.
    Invalid(&'e GateFileErrors),
}

fn problem_items(errors: &GateFileErrors) -> Vec<String> {
    let s = Style::Md;
    errors
        .0
        .iter()
        .map(|e| {
            let place = match e.position {
                Some(p) => format!("{}:{}:{}", e.file, p.line, p.column),
                None => e.file.clone(),
            };
            let mut item = format!(
                "- {}: {}",
                code(&place, s, CLIP_PATH),
                trusted(&e.message, s, CLIP_MESSAGE)
            );
            if let Some(hint) = &e.hint {
                let _ = write!(item, " — hint: {}", trusted(hint, s, CLIP_MESSAGE));
            }
            item
        })
        .collect()
}

fn problems_block(errors: &GateFileErrors) -> Block {
    let items = problem_items(errors);
    let n = items.len();
    Block::list(
        format!("**Problems** ({n}):"),
        items,
        format!("**Problems:** {n} (the list did not fit in this comment)."),
    )
}

/// How the first gate file (or a fix of a broken one) lands on a destination that cannot judge
/// it: an administrator overrides, or pushes directly.
fn adoption_steps(path: &str, destination: &str) -> String {
    let s = Style::Md;
    let file = code(path, s, CLIP_PATH);
    let destination = code(destination, s, CLIP_NAME);
    format!(
        "**To land a gate file on {destination}**, an administrator does one of:\n\
         1. merges this pull request after reviewing it, overriding its approval rules \
         (the gate records the override and notifies the team), or\n\
         2. pushes {file} straight to {destination} (outside the branch-protection policy).\n\n\
         From then on every pull request into {destination} is judged by that file. See \
         *Adopting the gate* in `docs/deploy.md`."
    )
}

/// The destination has no gate file at `path` (a repository adopting the gate): the gate takes
/// its rules only from the destination, so it ran nothing and REVOKEs; how to adopt it.
pub fn missing_gate_file(subject: &Subject, path: &str, proposed: ProposedGateFile<'_>) -> Comment {
    let s = Style::Md;
    let file = code(path, s, CLIP_PATH);
    let intro = format!(
        "This repository's pull requests are gated, but {file} does not exist on {} at {}, \
         the destination. The gate takes its rules only from the destination, never from the \
         code it judges, so it ran nothing and revoked its approval of {} (REVOKE).",
        code(&subject.destination_branch, s, CLIP_NAME),
        code(subject.destination_commit.short(), s, 40),
        revision_words(subject),
    );
    let this_pr = match proposed {
        ProposedGateFile::Absent => Block::fixed(format!(
            "A minimal {file} that runs `make test` on every change:\n\n```yaml\n{MINIMAL_GATE_FILE}```\n\n\
             `gate.example.yml` documents every key (components, stages, optional checks, \
             promotion rules), and {} checks the file before you push.",
            code(&format!("gate validate {path}"), s, CLIP_PATH)
        )),
        ProposedGateFile::Valid { checks } => Block::fixed(format!(
            "This pull request adds {file}, and it is valid ({}). It takes effect once it is on \
             the destination.",
            plural(checks, "check", "checks")
        )),
        ProposedGateFile::Invalid(errors) => {
            let items = problem_items(errors);
            let n = items.len();
            Block::list(
                format!("This pull request adds {file}, but it is invalid. **Problems** ({n}):"),
                items,
                format!(
                    "This pull request adds {file}, but it has {} (the list did not fit in this comment).",
                    plural(n, "problem", "problems")
                ),
            )
        }
    };
    let blocks = [
        Block::fixed(head(
            &format!("{FAILED} Gate failed: no gate file on the destination"),
            subject,
            "Commits",
        )),
        Block::fixed(intro),
        this_pr,
        Block::fixed(adoption_steps(path, &subject.destination_branch)),
    ];
    comment(CommentKind::MissingGateFile, subject, &blocks, &[2])
}

/// The destination's own gate file (the trusted one) does not parse or validate: nothing can be
/// judged until it is fixed there. The gate REVOKEs.
pub fn invalid_trusted_gate_file(subject: &Subject, errors: &GateFileErrors) -> Comment {
    let s = Style::Md;
    let path = errors.0.first().map_or(".gate.yml", |e| e.file.as_str());
    let intro = format!(
        "The gate file on {} at {}, the destination, is invalid. The gate takes its rules only \
         from there, so it ran no check and revoked its approval of {} (REVOKE). Fixing the \
         file in this pull request does not help until the fix is on {}.",
        code(&subject.destination_branch, s, CLIP_NAME),
        code(subject.destination_commit.short(), s, 40),
        revision_words(subject),
        code(&subject.destination_branch, s, CLIP_NAME),
    );
    let blocks = [
        Block::fixed(head(
            &format!("{FAILED} Gate failed: the destination's gate file is invalid"),
            subject,
            "Commits",
        )),
        Block::fixed(intro),
        problems_block(errors),
        Block::fixed(adoption_steps(path, &subject.destination_branch)),
    ];
    comment(CommentKind::InvalidGateFile, subject, &blocks, &[2])
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
        Block::fixed("CodeCommit reported a conflict but named no file.".to_owned())
    } else {
        Block::list(
            format!("**Conflicting files** ({n}):"),
            items,
            format!("**Conflicting files:** {n} (the list did not fit in this comment)."),
        )
    };
    let fix = format!(
        "To fix it, merge {destination} into {source} (or rebase onto it), resolve the conflicts \
         and push; the gate runs again on the new commit."
    );
    let blocks = [
        Block::fixed(head(
            &format!("{FAILED} Gate failed: merge conflicts"),
            subject,
            "Tried to merge",
        )),
        Block::fixed(intro),
        list,
        Block::fixed(fix),
    ];
    comment(CommentKind::MergeConflict, subject, &blocks, &[2])
}

/// A result about `tested`, an older revision than the PR's current one: never an approval.
pub fn stale(subject: &Subject, tested: &RevisionId, verdict: Verdict) -> Comment {
    let s = Style::Md;
    let outcome = match verdict {
        Verdict::Passed => "passed",
        Verdict::Failed => "failed",
        Verdict::Pending => "had not finished",
    };
    let now = match &subject.revision_id {
        Some(r) => format!("is now at revision {}", code(short(r.as_str()), s, 40)),
        None => "has changed since".to_owned(),
    };
    let body = format!(
        "The checks ran on revision {} and {outcome}, but this pull request {now}. An approval \
         must match exactly the code that merges, so the gate did not approve and left the \
         approval state alone. Only a run on the current revision can approve this pull request.",
        code(short(tested.as_str()), s, 40)
    );
    let blocks = [
        Block::fixed(head(
            &format!("{WARNING} Gate result is out of date"),
            subject,
            "Now at",
        )),
        Block::fixed(body),
    ];
    comment(CommentKind::Stale, subject, &blocks, &[])
}

/// A newer commit replaced the one this run was testing.
pub fn superseded(subject: &Subject, newer_commit: &CommitId) -> Comment {
    let s = Style::Md;
    let body = format!(
        "A newer commit {} was pushed to {}, so the gate stopped testing {}: its results would \
         not be about the code that merges. The gate tests the new commit and reports here.",
        code(newer_commit.short(), s, 40),
        code(&subject.source_branch, s, CLIP_NAME),
        code(subject.source_commit.short(), s, 40),
    );
    let blocks = [
        Block::fixed(head(
            &format!("{STOPPED} Gate run superseded"),
            subject,
            "Was testing",
        )),
        Block::fixed(body),
    ];
    comment(CommentKind::Superseded, subject, &blocks, &[])
}

/// The destination branch moved from the commit the approval was earned on (`tested_onto`) to
/// `subject.destination_commit`: the merge that would happen now was never tested, so the gate
/// revoked its approval (the destination's gate file has `strict: true`, the default).
pub fn destination_moved(subject: &Subject, tested_onto: &CommitId) -> Comment {
    let s = Style::Md;
    let destination = code(&subject.destination_branch, s, CLIP_NAME);
    let body = format!(
        "The checks passed on the merge of {} into {destination} at {}, but {destination} is now \
         at {}. The merge that would happen now was never tested, so the gate revoked its \
         approval of {} (REVOKE). Comment `/gate retry` to test the merge onto the new \
         {destination}, or push a commit.\n\n\
         The destination's gate file keeps approvals only for the destination commit they were \
         earned on (`strict: true`, the default); `strict: false` keeps them when the \
         destination moves.",
        code(&subject.source_branch, s, CLIP_NAME),
        code(tested_onto.short(), s, 40),
        code(subject.destination_commit.short(), s, 40),
        revision_words(subject),
    );
    let blocks = [
        Block::fixed(head(
            &format!("{WARNING} Gate approval withdrawn: the destination moved"),
            subject,
            "Approved",
        )),
        Block::fixed(body),
    ];
    comment(CommentKind::Outdated, subject, &blocks, &[])
}

/// A run whose input does not say which revision it tested: its result cannot be tied to the
/// code that merges, so the gate revoked.
pub fn untraceable(subject: &Subject) -> Comment {
    let body = "The run's input does not say which pull request revision it tested, so its \
                result cannot be tied to the code that merges: the gate revoked its approval \
                (REVOKE) and this pull request cannot merge. Comment `/gate retry` or push a \
                commit to run the gate again."
        .to_owned();
    let blocks = [
        Block::fixed(head(
            &format!("{FAILED} Gate failed: the tested revision is unknown"),
            subject,
            "Tested",
        )),
        Block::fixed(body),
    ];
    comment(CommentKind::RunEnded, subject, &blocks, &[])
}

/// The run ended without reporting its checks (the machine failed, timed out or was stopped):
/// nothing it tested counts, so the gate revoked its approval.
pub fn run_ended(
    subject: &Subject,
    status: &str,
    error: Option<&str>,
    cause: Option<&str>,
) -> Comment {
    let s = Style::Md;
    let mut body = format!(
        "The gate's run ended with status {} before it could report its checks, so nothing it \
         tested counts: the gate revoked its approval (REVOKE) and this pull request cannot \
         merge. Push a commit or comment `/gate retry` to run the gate again.",
        code(status, s, 40)
    );
    if let Some(e) = error.filter(|e| !e.trim().is_empty()) {
        let _ = write!(body, "\n\nError: {}", code(e, s, CLIP_TEXT));
    }
    if let Some(c) = cause.filter(|c| !c.trim().is_empty()) {
        let _ = write!(body, "\n\nCause: {}", code(c, s, CLIP_MESSAGE));
    }
    let blocks = [
        Block::fixed(head(
            &format!("{FAILED} Gate run ended without a result"),
            subject,
            "Was testing",
        )),
        Block::fixed(body),
    ];
    comment(CommentKind::RunEnded, subject, &blocks, &[])
}

// ---------------------------------------------------------------------------------------------
// Replies and notices

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
        Block::fixed(first)
    } else {
        let collapsed = format!(
            "{first} {} (too many to list).",
            plural(n, "refusal", "refusals")
        );
        Block::list(first, items, collapsed)
    };
    assemble(&[block], &[0], None)
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

/// The SNS subject when someone overrides the gate's approval rule.
pub fn bypass_subject(subject: &Subject) -> String {
    format!(
        "Gate bypassed: {} pull request {}",
        text(subject.repository.as_str(), Style::Plain, CLIP_NAME),
        text(subject.pull_request_id.as_str(), Style::Plain, 40)
    )
}

/// The SNS subject when someone deletes or edits the gate's approval rule on a pull request.
pub fn rule_tampered_subject(subject: &Subject) -> String {
    format!(
        "Gate approval rule changed: {} pull request {}",
        text(subject.repository.as_str(), Style::Plain, CLIP_NAME),
        text(subject.pull_request_id.as_str(), Style::Plain, 40)
    )
}

/// The SNS message when someone deletes or edits the gate's approval rule on a pull request;
/// `restored` says whether the gate put its rule back.
pub fn rule_tampered_notice(
    subject: &Subject,
    rule: &str,
    deleted: bool,
    by: &str,
    restored: bool,
) -> String {
    let what = if deleted { "deleted" } else { "edited" };
    let outcome = if restored {
        "The gate put its rule back: the pull request still needs the gate's approval to merge."
    } else {
        "The pull request is closed or already carries the gate's rule; nothing was changed."
    };
    format!(
        "{}\nRule: {}\nChanged by: {}\n\nThe approval rule that requires the gate's approval was \
         {what}. {outcome} Rules created from the stack's approval rule template cannot be \
         deleted or edited; this rule was created on the pull request by the gate, so check who \
         may call codecommit:DeletePullRequestApprovalRule and \
         codecommit:UpdatePullRequestApprovalRuleContent.\n",
        notice_head(subject, &format!("the gate's approval rule was {what}")),
        text(rule, Style::Plain, CLIP_NAME),
        text(by, Style::Plain, CLIP_PATH),
    )
}

/// The SNS subject when a run fails.
pub fn failure_subject(subject: &Subject) -> String {
    format!(
        "Gate failed: {} pull request {}",
        text(subject.repository.as_str(), Style::Plain, CLIP_NAME),
        text(subject.pull_request_id.as_str(), Style::Plain, 40)
    )
}

fn notice_head(subject: &Subject, what: &str) -> String {
    let s = Style::Plain;
    let mut out = format!(
        "codecommit-gate: {what} on pull request {} in {}.\n\n\
         Title: {}\nBranches: {} -> {}\nCommits: {} -> {}",
        text(subject.pull_request_id.as_str(), s, 40),
        text(subject.repository.as_str(), s, CLIP_NAME),
        text(subject.title.trim(), s, CLIP_TITLE),
        text(&subject.source_branch, s, CLIP_NAME),
        text(&subject.destination_branch, s, CLIP_NAME),
        text(subject.source_commit.as_str(), s, 64),
        text(subject.destination_commit.as_str(), s, 64),
    );
    if let Some(m) = &subject.merge_commit {
        let _ = write!(out, "\nMerge commit: {}", text(m.as_str(), s, 64));
    }
    if let Some(r) = &subject.revision_id {
        let _ = write!(out, "\nRevision: {}", text(r.as_str(), s, 80));
    }
    out
}

/// The SNS message when someone overrides the gate's approval rule.
pub fn bypass_notice(subject: &Subject, overridden_by: &str) -> String {
    format!(
        "{}\nOverridden by: {}\n\nThe pull request's approval rules were overridden, so it can \
         merge without a passing gate run on exactly the code that merges. Review the change, \
         and revoke the override in CodeCommit if it was not intended.\n",
        notice_head(subject, "the gate was bypassed"),
        text(overridden_by, Style::Plain, CLIP_PATH)
    )
}

/// The SNS message when a run fails: the checks that did not pass, their logs and log tails.
pub fn failure_notice(subject: &Subject, results: &[CheckResult]) -> String {
    let failed: Vec<&CheckResult> = results
        .iter()
        .filter(|r| {
            matches!(
                r.status,
                CheckStatus::Failed | CheckStatus::TimedOut | CheckStatus::Errored
            )
        })
        .collect();
    let mut out = notice_head(subject, "the gate failed");
    let _ = write!(out, "\n\nChecks that did not pass ({}):", failed.len());
    for r in failed.iter().take(NOTICE_CHECKS) {
        let _ = write!(
            out,
            "\n  - {}: {}",
            text(r.name.as_str(), Style::Plain, CLIP_NAME),
            status_word(r.status)
        );
        if let Some(ms) = r.duration_ms {
            let _ = write!(out, " after {}", duration(ms));
        }
        if r.attempts > 1 {
            let _ = write!(out, " ({} attempts)", r.attempts);
        }
        if let Some(url) = &r.log_url {
            let _ = write!(out, "\n    log: {}", text(url, Style::Plain, MAX_URL));
        }
    }
    if failed.len() > NOTICE_CHECKS {
        let _ = write!(out, "\n  - … and {} more", failed.len() - NOTICE_CHECKS);
    }
    for r in failed.iter().take(NOTICE_TAILS) {
        let Some(tail) = r.log_tail.as_deref() else {
            continue;
        };
        let Some(t) = Tail::new(r.name.as_str(), r.status, tail) else {
            continue;
        };
        let keep = t.lines.len().min(NOTICE_TAIL_LINES);
        let _ = write!(
            out,
            "\n\nLast {} of {}:",
            plural(keep, "log line", "log lines"),
            text(r.name.as_str(), Style::Plain, CLIP_NAME)
        );
        for line in &t.lines[t.lines.len() - keep..] {
            let _ = write!(out, "\n    {line}");
        }
    }
    let _ = write!(
        out,
        "\n\nThe gate revoked its approval; the pull request cannot merge until the gate passes.\n"
    );
    out
}

// ---------------------------------------------------------------------------------------------
// The CLI's plan

/// The plan as plain text (`gate plan --format text`): per stage, each check RUN or SKIP with its
/// reasons; the components; the directives; the verdict.
pub fn plan_text(plan: &Plan) -> String {
    let s = Style::Plain;
    let run = plan.to_run().count();
    let mut out = format!(
        "Plan: {} of {} run, {} skipped ({}).\n",
        run,
        plural(plan.checks.len(), "check", "checks"),
        plan.checks.len() - run,
        plural(plan.changed_paths, "changed path", "changed paths"),
    );
    let width = plan
        .checks
        .iter()
        .map(|c| text(c.name.as_str(), s, CLIP_NAME).chars().count())
        .max()
        .unwrap_or(0);
    let mut stage: Option<&str> = None;
    for c in &plan.checks {
        if stage != Some(c.stage.as_str()) {
            stage = Some(c.stage.as_str());
            let _ = write!(out, "\nStage {}\n", text(&c.stage, s, CLIP_NAME));
        }
        let _ = writeln!(
            out,
            "  {:<4}  {:<width$}  {:<8}  {}",
            if c.run { "RUN" } else { "SKIP" },
            text(c.name.as_str(), s, CLIP_NAME),
            if c.required { "required" } else { "optional" },
            reasons_in(&c.reasons, s),
        );
    }
    if !plan.components.is_empty() {
        out.push_str("\nComponents\n");
        let width = plan
            .components
            .iter()
            .map(|c| text(c.name.as_str(), s, CLIP_NAME).chars().count())
            .max()
            .unwrap_or(0);
        for c in &plan.components {
            let why = if c.affected {
                reasons_in(&c.reasons, s)
            } else {
                String::new()
            };
            let line = format!(
                "  {:<12}  {:<width$}  {why}",
                if c.affected {
                    "affected"
                } else {
                    "not affected"
                },
                text(c.name.as_str(), s, CLIP_NAME),
            );
            out.push_str(line.trim_end());
            out.push('\n');
        }
    }
    if !plan.directives.is_empty() {
        out.push_str("\nDirectives\n");
        for d in &plan.directives {
            let _ = writeln!(out, "  {}", directive_line(d, s));
        }
    }
    out.push('\n');
    match (&plan.promotion, plan.verdict) {
        (Some(v), _) => {
            let allowed: Vec<String> = v.allowed.iter().map(|a| code(a, s, CLIP_NAME)).collect();
            let _ = writeln!(
                out,
                "Verdict: FAIL: {} may not merge into {} (the promotion rule for {} allows {}).",
                code(&v.source, s, CLIP_NAME),
                code(&v.destination, s, CLIP_NAME),
                code(&v.rule, s, CLIP_NAME),
                allowed.join(", ")
            );
        }
        (None, PlanVerdict::Run) => {
            let _ = writeln!(
                out,
                "Verdict: RUN {}; the gate passes when the required ones pass.",
                plural(run, "check", "checks")
            );
        }
        (None, PlanVerdict::Pass) => out.push_str("Verdict: PASS: nothing to test.\n"),
        (None, PlanVerdict::Fail) => out.push_str("Verdict: FAIL.\n"),
    }
    out
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

    #[test]
    fn log_lines_lose_ansi_and_progress_overwrites() {
        assert_eq!(
            clean_log_line("\u{1b}[31merror\u{1b}[0m: boom\r"),
            "error: boom"
        );
        assert_eq!(clean_log_line("10%\r50%\r100%"), "100%");
        assert_eq!(clean_log_line("\u{1b}]0;title\u{7}ok\u{7}"), "ok");
    }

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
