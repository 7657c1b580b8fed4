//! `/gate merge [fast-forward|squash|three-way] [--priority]` and `/gate unqueue`: parsing,
//! and who may give them (the destination's trusted gate file decides).

use crate::gate_file::Gate;
use crate::ports::merges::QueueStrategy;
use serde::{Deserialize, Serialize};

/// The verbs of the merge queue's commands: gate-start's check directives leave them alone.
pub const QUEUE_VERBS: [&str; 2] = ["merge", "unqueue"];

/// A merge-queue command from a pull request comment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "command", rename_all = "snake_case")]
pub enum QueueCommand {
    /// `/gate merge [strategy] [--priority]`.
    Merge {
        /// The strategy named, if any (else the gate file's default).
        strategy: Option<QueueStrategy>,
        /// `--priority`: ahead of every entry without it.
        priority: bool,
    },
    /// `/gate unqueue`.
    Unqueue,
}

/// Whether a trimmed `/gate` line is a merge-queue command (`/gate merge …`, `/gate unqueue`).
pub fn is_queue_command(line: &str) -> bool {
    line.strip_prefix(crate::policy::PREFIX)
        .and_then(|rest| rest.split_whitespace().next())
        .is_some_and(|verb| QUEUE_VERBS.contains(&verb))
}

/// The first merge-queue command in a comment: `None` when there is none, `Some(Err(word))`
/// with the first word it cannot understand.
pub fn parse_queue_command(text: &str) -> Option<Result<QueueCommand, String>> {
    let line = text.lines().map(str::trim).find(|l| is_queue_command(l))?;
    let mut words = line[crate::policy::PREFIX.len()..].split_whitespace();
    Some(match words.next() {
        Some("unqueue") => match words.next() {
            None => Ok(QueueCommand::Unqueue),
            Some(word) => Err(word.to_owned()),
        },
        _ => parse_merge(words),
    })
}

fn parse_merge<'a>(words: impl Iterator<Item = &'a str>) -> Result<QueueCommand, String> {
    let (mut strategy, mut priority) = (None, false);
    for word in words {
        let named = match word {
            "fast-forward" => Some(QueueStrategy::FastForward),
            "squash" => Some(QueueStrategy::Squash),
            "three-way" => Some(QueueStrategy::ThreeWay),
            _ => None,
        };
        match (word, named) {
            ("--priority", _) => priority = true,
            (_, Some(s)) if strategy.is_none() => strategy = Some(s),
            (other, _) => return Err(other.to_owned()),
        }
    }
    Ok(QueueCommand::Merge { strategy, priority })
}

/// The queue's settings from the trusted gate file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QueueSettings {
    /// The strategy of a `/gate merge` that names none.
    pub default_strategy: QueueStrategy,
    /// How many entries are tested at once.
    pub depth: usize,
}

impl QueueSettings {
    /// The settings of a gate file.
    pub fn of(gate: &Gate) -> Self {
        Self {
            default_strategy: gate.merge.default_strategy,
            depth: gate.merge.depth as usize,
        }
    }
}

/// Why a queue command was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Refused {
    /// Not in `merge.allowed_authors` (or, when it is empty, neither the PR's author nor a
    /// `skip.authors`).
    NotAllowed,
    /// `--priority` is for the `skip.authors` only.
    PriorityNotAllowed,
    /// `/gate unqueue` by someone who neither wrote the PR, queued it, nor may skip.
    UnqueueNotAllowed,
}

/// Whether `requester` may give `command` on a PR by `pr_author` that `queued_by` queued
/// (if queued): the same rules as the other commands (the PR's author, or a `skip.authors`),
/// narrowed by `merge.allowed_authors` when the gate file lists any; `--priority` only for the
/// `skip.authors`.
pub fn authorize(
    gate: &Gate,
    command: &QueueCommand,
    requester: &str,
    pr_author: &str,
    queued_by: Option<&str>,
) -> Result<(), Refused> {
    let skipper = crate::policy::may_skip(gate, requester);
    match command {
        QueueCommand::Merge { priority, .. } => {
            let allowed = if gate.merge.allowed_authors.is_empty() {
                crate::policy::may_request_runs(gate, requester, pr_author)
            } else {
                !requester.is_empty() && gate.merge.allowed_authors.is_match(requester)
            };
            if !allowed {
                Err(Refused::NotAllowed)
            } else if *priority && !skipper {
                Err(Refused::PriorityNotAllowed)
            } else {
                Ok(())
            }
        }
        QueueCommand::Unqueue => {
            let own =
                !requester.is_empty() && (requester == pr_author || Some(requester) == queued_by);
            if own || skipper {
                Ok(())
            } else {
                Err(Refused::UnqueueNotAllowed)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_commands() {
        assert_eq!(
            parse_queue_command("lgtm\n/gate merge squash --priority"),
            Some(Ok(QueueCommand::Merge {
                strategy: Some(QueueStrategy::Squash),
                priority: true
            }))
        );
        assert_eq!(
            parse_queue_command("/gate merge"),
            Some(Ok(QueueCommand::Merge {
                strategy: None,
                priority: false
            }))
        );
        assert_eq!(
            parse_queue_command(" /gate unqueue "),
            Some(Ok(QueueCommand::Unqueue))
        );
        assert_eq!(parse_queue_command("/gate retry"), None);
        assert_eq!(
            parse_queue_command("/gate merge rebase"),
            Some(Err("rebase".to_owned()))
        );
        assert_eq!(
            parse_queue_command("/gate merge squash three-way"),
            Some(Err("three-way".to_owned()))
        );
        assert_eq!(
            parse_queue_command("/gate unqueue now"),
            Some(Err("now".to_owned()))
        );
    }

    #[test]
    fn queue_commands_are_not_check_directives() {
        assert!(crate::policy::parse_directives("/gate merge\n/gate unqueue").is_empty());
    }
}
