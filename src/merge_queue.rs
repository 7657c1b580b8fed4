//! The merge queue on AWS, pure: a destination branch's queued pull requests, their order, the
//! `/gate merge` and `/gate unqueue` commands, who may give them, and the decisions
//! ([`decide`]) that drive the queue. No SDK, no runtime: the flow
//! ([`crate::flows::merge_queue`]) carries the decisions out against the ports.
//!
//! The rule: a destination only ever moves to a commit whose tree the gate tested. An entry is
//! tested as the merge of its source onto the commit it would land on (the destination's tip,
//! or, speculatively, the merge commit of the entry ahead of it); the destination is
//! fast-forwarded to exactly that merge commit, and only while it still points at the commit
//! the merge was built on.

pub mod command;
pub mod decide;

use crate::ids::{CommitId, PullRequestId, RepositoryName};
use crate::ports::merges::QueueStrategy;
use serde::{Deserialize, Serialize};

pub use command::{QueueCommand, QueueSettings, is_queue_command, parse_queue_command};
pub use decide::{Action, Event, Outcome, apply, next_actions};

/// The gate-owned branch a queue entry's merge commit is tested on
/// (`gate/merge/<destination>/<pr>`), so the checks can check it out by reference.
pub fn gate_branch(destination: &str, pull_request: &PullRequestId) -> String {
    format!("gate/merge/{destination}/{pull_request}")
}

/// One queued pull request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    /// The pull request.
    pub pull_request: PullRequestId,
    /// Its source commit when it was queued: the only source this entry may merge.
    pub source_commit: CommitId,
    /// How it becomes one commit on the destination.
    pub strategy: QueueStrategy,
    /// Queued with `--priority`: ahead of every entry without it.
    #[serde(default)]
    pub priority: bool,
    /// When it was queued, milliseconds since the epoch (the order within a priority).
    pub enqueued_at: u64,
    /// Who queued it (IAM ARN).
    pub enqueued_by: String,
    /// How many merge commits were built for it so far: part of its run's name, so every
    /// test of every merge commit has a name of its own.
    #[serde(default)]
    pub attempts: u32,
    /// A speculative merge onto this commit conflicted: wait until the entry ahead lands.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub conflicted_on: Option<CommitId>,
    /// Waiting, or being tested.
    #[serde(default)]
    pub state: EntryState,
}

/// Whether an entry waits or is tested.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum EntryState {
    /// Waiting for its turn (or for the entry ahead to be tested first).
    #[default]
    Waiting,
    /// Its merge commit is built and tested.
    Testing(Testing),
}

/// A merge commit under test.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Testing {
    /// The destination's tip when the merge was built: where the run reads the trusted gate
    /// file.
    pub tip: CommitId,
    /// The commit the merge was built on: the destination's tip for the head of the queue, the
    /// merge commit of the entry ahead for a speculative test.
    pub tested_on: CommitId,
    /// The entries ahead whose merges this one includes (speculation), in order.
    #[serde(default)]
    pub built_on: Vec<PullRequestId>,
    /// The merge commit (for a fast-forward, the source itself).
    pub merge_commit: CommitId,
    /// Its tree.
    pub tree: String,
    /// The gate branch pointing at it.
    pub gate_branch: String,
    /// Which attempt of the entry this is ([`Entry::attempts`] when it was built).
    pub attempt: u32,
    /// The run's deterministic execution name.
    pub execution_name: String,
    /// The run, once started.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub execution_arn: Option<String>,
    /// Whether the run passed (`None` while it runs).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub passed: Option<bool>,
}

impl Entry {
    /// A new waiting entry.
    pub fn new(
        pull_request: PullRequestId,
        source_commit: CommitId,
        strategy: QueueStrategy,
        priority: bool,
        enqueued_at: u64,
        enqueued_by: impl Into<String>,
    ) -> Self {
        Self {
            pull_request,
            source_commit,
            strategy,
            priority,
            enqueued_at,
            enqueued_by: enqueued_by.into(),
            attempts: 0,
            conflicted_on: None,
            state: EntryState::Waiting,
        }
    }

    /// The test under way, if any.
    pub fn testing(&self) -> Option<&Testing> {
        match &self.state {
            EntryState::Testing(t) => Some(t),
            EntryState::Waiting => None,
        }
    }

    /// The queue's order: priority first, then enqueue time, then the PR id (a total order, so
    /// every reader sorts alike).
    fn order_key(&self) -> (bool, u64, &str) {
        (!self.priority, self.enqueued_at, self.pull_request.as_str())
    }
}

/// Puts a queue's entries in the queue's order (stable for entries already in order).
pub fn sort(entries: &mut [Entry]) {
    entries.sort_by(|a, b| a.order_key().cmp(&b.order_key()));
}

/// A queue entry's 1-based position, if queued.
pub fn position(entries: &[Entry], pull_request: &PullRequestId) -> Option<usize> {
    entries
        .iter()
        .position(|e| &e.pull_request == pull_request)
        .map(|i| i + 1)
}

/// The deterministic execution name of an entry's test: one per (repository, destination, PR,
/// source, enqueue time, attempt), within Step Functions' 80 characters. The enqueue time is in
/// it so a PR queued again after `/gate unqueue` never reuses a stopped run's name (Step
/// Functions keeps a name taken for 90 days).
pub fn execution_name(
    repository: &RepositoryName,
    destination: &str,
    entry: &Entry,
    attempt: u32,
) -> String {
    let digest = crate::flows::steps::token(&[
        "queue",
        repository.as_str(),
        destination,
        entry.pull_request.as_str(),
        entry.source_commit.as_str(),
        &entry.enqueued_at.to_string(),
        &attempt.to_string(),
    ]);
    let pr: String = entry
        .pull_request
        .as_str()
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .take(20)
        .collect();
    format!("queue-{pr}-{attempt}-{}", &digest[..32])
}

/// The prefix of the gate's own branches (`gate/merge/<destination>/<pr>`).
pub const GATE_BRANCH_PREFIX: &str = "gate/merge/";

/// Whether an execution tests a queue entry: its source is a gate branch. gate-report hands
/// such a run's end to the queue instead of the pull request's own report.
pub fn is_queue_run(input: &crate::machine::ExecutionInput) -> bool {
    input
        .source_reference
        .strip_prefix("refs/heads/")
        .is_some_and(|b| b.starts_with(GATE_BRANCH_PREFIX))
}

/// How a queue entry's run started.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum QueueStart {
    /// An execution runs the checks.
    Started {
        /// Its ARN.
        execution_arn: String,
    },
    /// The plan decided without running anything (nothing to test, a promotion rule, an
    /// unusable buildspec): passed or not.
    Decided {
        /// Whether it passed.
        passed: bool,
    },
}

/// The end of a queue entry's run, as gate-report knows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunEnd {
    /// The repository.
    pub repository: RepositoryName,
    /// The destination branch.
    pub destination: String,
    /// The PR.
    pub pull_request: PullRequestId,
    /// The run's name.
    pub execution_name: String,
    /// Whether every required check passed.
    pub passed: bool,
}

impl RunEnd {
    /// The end of the queue run `input`, or `None` when it is not a queue run.
    pub fn of(input: &crate::machine::ExecutionInput, passed: bool) -> Option<RunEnd> {
        is_queue_run(input).then(|| RunEnd {
            repository: input.subject.repository.clone(),
            destination: input.subject.destination_branch.clone(),
            pull_request: input.subject.pull_request_id.clone(),
            execution_name: input.execution_name.clone(),
            passed,
        })
    }
}
