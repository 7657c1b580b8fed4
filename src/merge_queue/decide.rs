//! The queue's decisions, pure: [`apply`] changes the entries for an event (a command, a push,
//! a close, a run's end, a step the flow carried out) and says what to do once that change is
//! saved; [`next_actions`] reads the queue and the destination's tip and says what to do next
//! (build a merge commit, start its run, land it, eject it).
//!
//! The flow saves every change by compare-and-swap before it acts on it, so two deliveries of
//! one event cannot both act: the loser re-reads and decides again on what the winner wrote.

use super::{Entry, EntryState, Testing, sort};
use crate::ids::{CommitId, PullRequestId};
use crate::ports::merges::QueueStrategy;
use serde::{Deserialize, Serialize};

/// Something that happened to a queue.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum Event {
    /// `/gate merge`: queue this entry (a waiting one).
    Enqueue(Entry),
    /// `/gate unqueue` by `by`.
    Unqueue {
        /// The PR.
        pull_request: PullRequestId,
        /// Who asked.
        by: String,
    },
    /// The PR's source moved to `commit`.
    SourceUpdated {
        /// The PR.
        pull_request: PullRequestId,
        /// Its new source commit.
        commit: CommitId,
    },
    /// The PR was closed (merged or not) by someone else.
    Closed {
        /// The PR.
        pull_request: PullRequestId,
    },
    /// A merge commit was built for an entry ([`Action::Build`] carried out).
    Built {
        /// The PR.
        pull_request: PullRequestId,
        /// The test it starts.
        testing: Testing,
    },
    /// The merge of an entry's source onto `onto` conflicts, or cannot fast-forward.
    Conflicted {
        /// The PR.
        pull_request: PullRequestId,
        /// The commit it was built on.
        onto: CommitId,
        /// Whether it was the destination's tip (else a speculative merge).
        on_tip: bool,
        /// Why.
        problem: Problem,
    },
    /// An entry's run started ([`Action::Start`] carried out).
    Started {
        /// The PR.
        pull_request: PullRequestId,
        /// The run's name.
        execution_name: String,
        /// Its ARN.
        execution_arn: String,
    },
    /// An entry's run ended.
    RunEnded {
        /// The PR.
        pull_request: PullRequestId,
        /// The run's name (a run of an older merge commit is ignored).
        execution_name: String,
        /// Whether every required check passed.
        passed: bool,
    },
    /// The destination points at an entry's tested merge commit ([`Action::Land`] carried
    /// out).
    Landed {
        /// The PR.
        pull_request: PullRequestId,
    },
    /// The head's run failed on the destination's tip ([`Action::Eject`] carried out).
    Ejected {
        /// The PR.
        pull_request: PullRequestId,
        /// The failed run.
        execution_name: String,
    },
    /// The flow found the PR changed just before landing it.
    Dropped {
        /// The PR.
        pull_request: PullRequestId,
        /// Why.
        reason: DropReason,
    },
}

/// Why an entry cannot be built.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "problem", rename_all = "snake_case")]
pub enum Problem {
    /// These files conflict (possibly none named).
    Conflict {
        /// The paths.
        files: Vec<String>,
    },
    /// A fast-forward was asked for and the destination is not an ancestor of the source.
    NotFastForward,
}

/// Why an entry left the queue without merging, not by its own failure.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "reason", rename_all = "snake_case")]
pub enum DropReason {
    /// New commits were pushed to the source after it was queued.
    SourceUpdated {
        /// The queued source.
        queued: CommitId,
        /// The source now.
        now: CommitId,
    },
    /// The PR was closed.
    Closed,
    /// `/gate unqueue`.
    Unqueued {
        /// Who.
        by: String,
    },
}

/// Why an entry was ejected: its own merge failed on the commit it would land on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "reason", rename_all = "snake_case")]
pub enum EjectReason {
    /// Its run failed on the destination's tip.
    Failed {
        /// The run.
        execution_name: String,
    },
    /// It does not merge onto the destination's tip.
    Unmergeable(Problem),
}

/// What a comment on the PR says about its queue entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "note", rename_all = "snake_case")]
pub enum Note {
    /// Queued (or already queued) at this position.
    Queued {
        /// 1-based.
        position: usize,
        /// How it will merge.
        strategy: QueueStrategy,
    },
    /// Merged: the destination points at this commit, the one the gate tested.
    Merged {
        /// The commit.
        commit: CommitId,
        /// How.
        strategy: QueueStrategy,
    },
    /// Not queued: the queue holds [`MAX_ENTRIES`] already.
    Full {
        /// The limit.
        limit: usize,
    },
    /// Left the queue.
    Dropped(DropReason),
    /// Thrown out.
    Ejected(EjectReason),
}

/// What the flow does.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum Action {
    /// Build the merge commit of `pull_request`'s queued source onto `onto` (stopping the
    /// test it replaces first), then apply [`Event::Built`] or [`Event::Conflicted`].
    Build {
        /// The entry.
        entry: Box<Entry>,
        /// The commit to build on.
        onto: CommitId,
        /// The entries ahead it includes.
        built_on: Vec<PullRequestId>,
        /// The attempt it becomes.
        attempt: u32,
    },
    /// Point the gate branch at the merge commit and start its run, then apply
    /// [`Event::Started`].
    Start {
        /// The PR.
        pull_request: PullRequestId,
        /// The test.
        testing: Box<Testing>,
    },
    /// The head passed on the destination's tip (or the destination already points at its
    /// merge commit): fast-forward the destination to exactly its merge commit, close the
    /// PR, then apply [`Event::Landed`].
    Land {
        /// The entry.
        entry: Box<Entry>,
        /// The test that passed.
        testing: Box<Testing>,
    },
    /// The head failed on the destination's tip: throw it out.
    Eject {
        /// The PR.
        pull_request: PullRequestId,
        /// The failed run.
        execution_name: String,
    },
    /// Stop a replaced test's run and delete its gate branch.
    Cleanup {
        /// The test.
        testing: Box<Testing>,
        /// Whether the gate branch goes too (not when the entry's next test reuses it).
        delete_branch: bool,
    },
    /// Write the PR's queue comment.
    Comment {
        /// The PR.
        pull_request: PullRequestId,
        /// The queued source (for the comment's commits).
        source_commit: CommitId,
        /// What it says.
        note: Note,
    },
}

/// What [`apply`] made of an event.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Outcome {
    /// Whether the entries changed (the flow saves them before acting).
    pub changed: bool,
    /// What to do once the change is saved.
    pub actions: Vec<Action>,
}

impl Outcome {
    fn unchanged() -> Self {
        Self::default()
    }

    fn changed(actions: Vec<Action>) -> Self {
        Self {
            changed: true,
            actions,
        }
    }
}

/// Changes `entries` for `event` and says what to do once saved. An event about a PR that is
/// not queued, a run that is not the entry's current one, or a step another delivery already
/// took changes nothing: redeliveries are no-ops.
pub fn apply(entries: &mut Vec<Entry>, event: &Event) -> Outcome {
    match event {
        Event::Enqueue(entry) => enqueue(entries, entry),
        Event::Unqueue { pull_request, by } => drop_entry(
            entries,
            pull_request,
            DropReason::Unqueued { by: by.clone() },
        ),
        Event::SourceUpdated {
            pull_request,
            commit,
        } => match find(entries, pull_request) {
            Some(i) if &entries[i].source_commit != commit => {
                let queued = entries[i].source_commit.clone();
                let reason = DropReason::SourceUpdated {
                    queued,
                    now: commit.clone(),
                };
                drop_entry(entries, pull_request, reason)
            }
            _ => Outcome::unchanged(),
        },
        Event::Closed { pull_request } => drop_entry(entries, pull_request, DropReason::Closed),
        Event::Dropped {
            pull_request,
            reason,
        } => drop_entry(entries, pull_request, reason.clone()),
        Event::Built {
            pull_request,
            testing,
        } => built(entries, pull_request, testing),
        Event::Conflicted {
            pull_request,
            onto,
            on_tip,
            problem,
        } => conflicted(entries, pull_request, onto, *on_tip, problem),
        Event::Started {
            pull_request,
            execution_name,
            execution_arn,
        } => update_testing(entries, pull_request, execution_name, |t| {
            (t.execution_arn.is_none()).then(|| t.execution_arn = Some(execution_arn.clone()))
        }),
        Event::RunEnded {
            pull_request,
            execution_name,
            passed,
        } => update_testing(entries, pull_request, execution_name, |t| {
            (t.passed.is_none()).then(|| t.passed = Some(*passed))
        }),
        Event::Landed { pull_request } => landed(entries, pull_request),
        Event::Ejected {
            pull_request,
            execution_name,
        } => eject_failed(entries, pull_request, execution_name),
    }
}

fn find(entries: &[Entry], pull_request: &PullRequestId) -> Option<usize> {
    entries.iter().position(|e| &e.pull_request == pull_request)
}

/// The most entries a queue holds: its DynamoDB save is one transaction of at most 100 actions
/// (49 deletes, 49 puts and the head; docs/design.md).
pub const MAX_ENTRIES: usize = 49;

fn enqueue(entries: &mut Vec<Entry>, entry: &Entry) -> Outcome {
    let mut actions = Vec::new();
    let queued = find(entries, &entry.pull_request).is_some();
    if !queued && entries.len() >= MAX_ENTRIES {
        return Outcome {
            changed: false,
            actions: vec![comment(entry, Note::Full { limit: MAX_ENTRIES })],
        };
    }
    if let Some(i) = find(entries, &entry.pull_request) {
        if entries[i].source_commit == entry.source_commit {
            let note = Note::Queued {
                position: i + 1,
                strategy: entries[i].strategy,
            };
            return Outcome {
                changed: false,
                actions: vec![comment(&entries[i], note)],
            };
        }
        // Queued again after a push: the old entry's test goes.
        let old = entries.remove(i);
        actions.extend(cleanup(&old, true));
    }
    entries.push(entry.clone());
    sort(entries);
    let position = find(entries, &entry.pull_request).map_or(entries.len(), |i| i + 1);
    actions.push(comment(
        entry,
        Note::Queued {
            position,
            strategy: entry.strategy,
        },
    ));
    Outcome::changed(actions)
}

fn comment(entry: &Entry, note: Note) -> Action {
    Action::Comment {
        pull_request: entry.pull_request.clone(),
        source_commit: entry.source_commit.clone(),
        note,
    }
}

fn cleanup(entry: &Entry, delete_branch: bool) -> Option<Action> {
    entry.testing().map(|t| Action::Cleanup {
        testing: Box::new(t.clone()),
        delete_branch,
    })
}

/// Removes an entry for a reason that is not its own failure.
fn drop_entry(
    entries: &mut Vec<Entry>,
    pull_request: &PullRequestId,
    reason: DropReason,
) -> Outcome {
    let Some(i) = find(entries, pull_request) else {
        return Outcome::unchanged();
    };
    let old = entries.remove(i);
    let mut actions: Vec<Action> = cleanup(&old, true).into_iter().collect();
    actions.push(comment(&old, Note::Dropped(reason)));
    Outcome::changed(actions)
}

/// Removes an entry for its own failure on the destination's tip.
fn eject(entries: &mut Vec<Entry>, i: usize, reason: EjectReason) -> Outcome {
    let old = entries.remove(i);
    let mut actions: Vec<Action> = cleanup(&old, true).into_iter().collect();
    actions.push(comment(&old, Note::Ejected(reason)));
    Outcome::changed(actions)
}

fn built(entries: &mut [Entry], pull_request: &PullRequestId, testing: &Testing) -> Outcome {
    let Some(entry) = entries.iter_mut().find(|e| &e.pull_request == pull_request) else {
        return Outcome::unchanged();
    };
    if testing.attempt != entry.attempts + 1 {
        // Another delivery built this attempt first.
        return Outcome::unchanged();
    }
    let replaced = entry.testing().cloned();
    entry.attempts = testing.attempt;
    entry.conflicted_on = None;
    entry.state = EntryState::Testing(testing.clone());
    let actions = replaced
        .map(|t| Action::Cleanup {
            testing: Box::new(t),
            delete_branch: false,
        })
        .into_iter()
        .collect();
    Outcome::changed(actions)
}

fn conflicted(
    entries: &mut Vec<Entry>,
    pull_request: &PullRequestId,
    onto: &CommitId,
    on_tip: bool,
    problem: &Problem,
) -> Outcome {
    let Some(i) = find(entries, pull_request) else {
        return Outcome::unchanged();
    };
    if on_tip {
        return eject(entries, i, EjectReason::Unmergeable(problem.clone()));
    }
    let entry = &mut entries[i];
    if entry.conflicted_on.as_ref() == Some(onto) {
        return Outcome::unchanged();
    }
    // A speculative merge conflicts: maybe with an entry ahead that will not land. Wait.
    let replaced = std::mem::take(&mut entry.state);
    entry.conflicted_on = Some(onto.clone());
    let actions = match replaced {
        EntryState::Testing(t) => vec![Action::Cleanup {
            testing: Box::new(t),
            delete_branch: true,
        }],
        EntryState::Waiting => Vec::new(),
    };
    Outcome::changed(actions)
}

/// Changes the entry's current test when `execution_name` is its run and `change` says it
/// changed something.
fn update_testing(
    entries: &mut [Entry],
    pull_request: &PullRequestId,
    execution_name: &str,
    change: impl FnOnce(&mut Testing) -> Option<()>,
) -> Outcome {
    let testing = entries
        .iter_mut()
        .find(|e| &e.pull_request == pull_request)
        .and_then(|e| match &mut e.state {
            EntryState::Testing(t) if t.execution_name == execution_name => Some(t),
            _ => None,
        });
    match testing.and_then(change) {
        Some(()) => Outcome::changed(Vec::new()),
        None => Outcome::unchanged(),
    }
}

fn landed(entries: &mut Vec<Entry>, pull_request: &PullRequestId) -> Outcome {
    let Some(i) = find(entries, pull_request) else {
        return Outcome::unchanged();
    };
    let old = entries.remove(i);
    let Some(testing) = old.testing() else {
        return Outcome::changed(Vec::new());
    };
    Outcome::changed(vec![
        Action::Cleanup {
            testing: Box::new(testing.clone()),
            delete_branch: true,
        },
        comment(
            &old,
            Note::Merged {
                commit: testing.merge_commit.clone(),
                strategy: old.strategy,
            },
        ),
    ])
}

/// What to do next, given the queue (in order), the destination's tip and the queue's depth.
/// The first `depth` entries are tested, each on the merge commit of the one ahead (the first on
/// the tip); a test built on anything else is built again. Only the head lands or is ejected,
/// and only on a run of its merge onto the tip; a run that failed further back waits, since
/// the failure may be the fault of an entry ahead.
pub fn next_actions(entries: &[Entry], tip: &CommitId, depth: usize) -> Vec<Action> {
    let mut actions = Vec::new();
    let mut onto = tip.clone();
    let mut built_on = Vec::new();
    for (i, entry) in entries.iter().enumerate().take(depth.max(1)) {
        let current = entry.testing().filter(|t| t.tested_on == onto);
        let Some(testing) = current else {
            if i == 0
                && let Some(t) = entry.testing().filter(|t| &t.merge_commit == tip)
            {
                // The destination already points at its merge commit: a landing that was cut
                // short. Finish it.
                actions.push(land(entry, t));
                break;
            }
            if i > 0 && entry.conflicted_on.as_ref() == Some(&onto) {
                break;
            }
            actions.push(Action::Build {
                entry: Box::new(entry.clone()),
                onto,
                built_on,
                attempt: entry.attempts + 1,
            });
            break;
        };
        if testing.execution_arn.is_none() {
            actions.push(Action::Start {
                pull_request: entry.pull_request.clone(),
                testing: Box::new(testing.clone()),
            });
        }
        match (i, testing.passed) {
            (0, Some(true)) => actions.push(land(entry, testing)),
            (0, Some(false)) => actions.push(Action::Eject {
                pull_request: entry.pull_request.clone(),
                execution_name: testing.execution_name.clone(),
            }),
            // Whatever is built on a failed merge will be built again.
            (_, Some(false)) => break,
            _ => {}
        }
        built_on.push(entry.pull_request.clone());
        onto = testing.merge_commit.clone();
    }
    actions
}

fn land(entry: &Entry, testing: &Testing) -> Action {
    Action::Land {
        entry: Box::new(entry.clone()),
        testing: Box::new(testing.clone()),
    }
}

/// Ejects the head for its failed run `execution_name`: unchanged when the head is no longer
/// that run's entry.
fn eject_failed(
    entries: &mut Vec<Entry>,
    pull_request: &PullRequestId,
    execution_name: &str,
) -> Outcome {
    let failed = entries.first().is_some_and(|e| {
        &e.pull_request == pull_request
            && e.testing()
                .is_some_and(|t| t.execution_name == execution_name && t.passed == Some(false))
    });
    if !failed {
        return Outcome::unchanged();
    }
    eject(
        entries,
        0,
        EjectReason::Failed {
            execution_name: execution_name.to_owned(),
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(n: u32) -> Entry {
        Entry::new(
            PullRequestId::from(n.to_string().as_str()),
            CommitId::from(format!("c{n}").as_str()),
            QueueStrategy::Squash,
            false,
            u64::from(n),
            "a",
        )
    }

    #[test]
    fn a_full_queue_takes_no_more_and_says_so() {
        let mut entries: Vec<Entry> = (0..MAX_ENTRIES as u32).map(entry).collect();
        let out = apply(&mut entries, &Event::Enqueue(entry(100)));
        assert!(!out.changed);
        assert_eq!(entries.len(), MAX_ENTRIES);
        assert!(matches!(
            out.actions.as_slice(),
            [Action::Comment {
                note: Note::Full { limit: MAX_ENTRIES },
                ..
            }]
        ));
        // An entry already queued is still answered with its position.
        let again = apply(&mut entries, &Event::Enqueue(entry(3)));
        assert!(matches!(
            again.actions.as_slice(),
            [Action::Comment {
                note: Note::Queued { position: 4, .. },
                ..
            }]
        ));
    }

    #[test]
    fn only_the_head_on_the_tip_lands_and_speculation_follows_the_merges() {
        let tip = CommitId::from("tip");
        let mut entries = vec![entry(1), entry(2), entry(3)];
        let actions = next_actions(&entries, &tip, 2);
        assert!(
            matches!(actions.as_slice(), [Action::Build { onto, attempt: 1, .. }] if onto == &tip)
        );
        let testing = |on: &str, merge: &str, passed| Testing {
            tip: tip.clone(),
            tested_on: CommitId::from(on),
            built_on: Vec::new(),
            merge_commit: CommitId::from(merge),
            tree: format!("tree-{merge}"),
            gate_branch: "gate/merge/main/x".into(),
            attempt: 1,
            execution_name: format!("run-{merge}"),
            execution_arn: Some(format!("arn-{merge}")),
            passed,
        };
        entries[0].state = EntryState::Testing(testing("tip", "m1", None));
        entries[1].state = EntryState::Testing(testing("m1", "m2", Some(true)));
        assert!(
            next_actions(&entries, &tip, 2).is_empty(),
            "the second waits for the first"
        );
        entries[0].state = EntryState::Testing(testing("tip", "m1", Some(false)));
        assert!(matches!(
            next_actions(&entries, &tip, 2).as_slice(),
            [Action::Eject { .. }]
        ));
        entries.remove(0);
        assert!(
            matches!(next_actions(&entries, &tip, 2).as_slice(), [Action::Build { onto, .. }] if onto == &tip),
            "the entry built on the failed one is built again on the tip"
        );
    }
}
