//! Comments for a gate file that is missing or invalid: what is wrong, and how to fix or adopt it.

use super::blocks::{head, named_list, revision_words};
use super::escape::{CLIP_MESSAGE, CLIP_NAME, CLIP_PATH, Style, code, trusted};
use super::fit::{Block, Part};
use super::words::{FAILED, commit_code, plural};
use super::{Comment, CommentKind, Subject, comment};
use crate::gate_file::{GateFileError, GateFileErrors};
use std::fmt::Write as _;

/// An invalid gate file's comment shrinks only the list of problems.
const PROBLEMS_SHRINK: &[Part] = &[Part::Problems];

/// A missing gate file's comment shrinks only what the pull request proposes.
const MISSING_SHRINK: &[Part] = &[Part::Proposed];

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
        commit_code(&subject.source_commit),
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
        head(
            &format!("{FAILED} Gate failed: the gate file is invalid"),
            subject,
            "Commits",
        ),
        Block::fixed(Part::Summary, intro),
        list,
        Block::fixed(Part::Fix, fix),
    ];
    comment(
        CommentKind::InvalidGateFile,
        subject,
        &blocks,
        PROBLEMS_SHRINK,
    )
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

impl<'e> ProposedGateFile<'e> {
    /// What the pull request's own gate file, as read, says.
    pub fn of(read: &'e crate::trust::GateRead) -> Self {
        match read {
            None => ProposedGateFile::Absent,
            Some(Ok(gate)) => ProposedGateFile::Valid {
                checks: gate.checks.len(),
            },
            Some(Err(errors)) => ProposedGateFile::Invalid(errors),
        }
    }
}

/// One list item per gate file error: `file:line:column`, the message and the hint.
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

/// The gate file errors as a list titled **Problems**.
fn problems_block(errors: &GateFileErrors) -> Block {
    let items = problem_items(errors);
    let count = items.len().to_string();
    named_list(Part::Problems, "Problems", items, count)
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
        commit_code(&subject.destination_commit),
        revision_words(subject),
    );
    let this_pr = proposed_block(path, proposed);
    let blocks = [
        head(
            &format!("{FAILED} Gate failed: no gate file on the destination"),
            subject,
            "Commits",
        ),
        Block::fixed(Part::Summary, intro),
        this_pr,
        Block::fixed(
            Part::Adoption,
            adoption_steps(path, &subject.destination_branch),
        ),
    ];
    comment(
        CommentKind::MissingGateFile,
        subject,
        &blocks,
        MISSING_SHRINK,
    )
}

/// What this pull request proposes when the destination has no gate file at `path`: a valid
/// file, an invalid one (its problems), or nothing (a minimal file to start from).
fn proposed_block(path: &str, proposed: ProposedGateFile<'_>) -> Block {
    let s = Style::Md;
    let file = code(path, s, CLIP_PATH);
    match proposed {
        ProposedGateFile::Absent => Block::fixed(
            Part::Proposed,
            format!(
                "A minimal {file} that runs `make test` on every change:\n\n```yaml\n{MINIMAL_GATE_FILE}```\n\n\
                 `gate.example.yml` documents every key (components, stages, optional checks, \
                 promotion rules), and {} checks the file before you push.",
                code(&format!("gate validate {path}"), s, CLIP_PATH)
            ),
        ),
        ProposedGateFile::Valid { checks } => Block::fixed(
            Part::Proposed,
            format!(
                "This pull request adds {file}, and it is valid ({}). It takes effect once it is \
                 on the destination.",
                plural(checks, "check", "checks")
            ),
        ),
        ProposedGateFile::Invalid(errors) => {
            let items = problem_items(errors);
            let n = items.len();
            Block::list(
                Part::Proposed,
                format!("This pull request adds {file}, but it is invalid. **Problems** ({n}):"),
                items,
                format!(
                    "This pull request adds {file}, but it has {} (the list did not fit in this comment).",
                    plural(n, "problem", "problems")
                ),
            )
        }
    }
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
        commit_code(&subject.destination_commit),
        revision_words(subject),
        code(&subject.destination_branch, s, CLIP_NAME),
    );
    let blocks = [
        head(
            &format!("{FAILED} Gate failed: the destination's gate file is invalid"),
            subject,
            "Commits",
        ),
        Block::fixed(Part::Summary, intro),
        problems_block(errors),
        Block::fixed(
            Part::Adoption,
            adoption_steps(path, &subject.destination_branch),
        ),
    ];
    comment(
        CommentKind::InvalidGateFile,
        subject,
        &blocks,
        PROBLEMS_SHRINK,
    )
}

/// A buildspec a planned check names cannot be used (missing, not UTF-8, no commands): the
/// invalid-gate-file comment, naming the file and the check. The gate REVOKEs.
pub fn unusable_buildspec(subject: &Subject, e: &crate::machine::BuildspecError) -> Comment {
    let errors = GateFileErrors(vec![GateFileError {
        file: e.path.clone(),
        position: None,
        message: e.to_string(),
        hint: Some(format!(
            "check `{}` runs the commands of its phases; fix the file or use `commands:` in the gate file",
            e.check
        )),
    }]);
    invalid_gate_file(subject, &errors)
}
