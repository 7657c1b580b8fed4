//! Adapters for the embedded default: a git repository on this machine instead of CodeCommit, local processes instead of CodeBuild, files under `.gate/` instead of DynamoDB.
//!
//! - [`git`]: reading a repository (changed paths, files, trial merges).
//! - [`merge`]: `gate merge`, which advances the base to exactly the commit a passing run tested.
//! - [`worktree`], [`runner`], [`progress`], [`session`]: `gate run`, the
//!   gate on a laptop: the merge in a temporary worktree, the same planner, local processes,
//!   the same report as the PR comment.
//! - [`store`], [`history`]: what lives under `.gate/` (see `docs/local.md`).
//! - [`events`]: `gate event`, real-shaped EventBridge events for a local repository.
//! - [`pull_requests`], [`ledger`], [`executions`]: the ports ([`crate::ports`]) served
//!   locally, so the gate-start and gate-report flows run against git repositories.
//! - [`bus`]: announcements appended to `.gate/events.jsonl`, as EventBridge would carry them.
//! - [`cleanup`]: process groups and worktrees that must not outlive a run (Ctrl-C, panics).

pub mod bus;
pub mod cache;
pub mod cleanup;
pub mod events;
pub mod executions;
pub mod git;
pub mod history;
pub mod ledger;
pub mod logs;
pub mod merge;
pub mod progress;
pub mod pull_requests;
pub mod release;
pub mod reports;
pub mod runner;
pub mod session;
pub mod speedups;
pub mod store;
pub mod worktree;

pub use bus::LocalBus;
pub use executions::LocalExecutions;
pub use ledger::{LocalLedger, LocalNotifier};
pub use logs::LocalLogs;
pub use pull_requests::LocalPullRequests;
