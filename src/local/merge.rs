//! `gate merge`: after the gate passed on the merge of the head into the base, advance the base to exactly what was tested, with a compare-and-swap on its ref.
//!
//! The rule (bors' "not rocket science" rule): the base branch only ever points at commits
//! whose tree the gate tested. So the commit the base moves to is the head itself (a
//! fast-forward: the tested merge has the head's tree), the tested merge commit, or a squash
//! commit made from the tested merge's tree; its tree is compared with the tested tree before
//! the ref moves. The ref moves with `git update-ref <ref> <new> <old>`, where `<old>` is the
//! base commit the gate tested on: git refuses when the branch moved meanwhile, and
//! [`Landing::BaseMoved`] tells the caller to test again on the new base.

use crate::local::git::{GitError, Repo};
use crate::local::history::Merged;
use crate::local::worktree::{MERGE_USER_EMAIL, MERGE_USER_NAME};
use crate::report::{self, merge::MergeNote};
use serde::{Deserialize, Serialize};

/// How `gate merge` advances the base.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MergeStrategy {
    /// The base moves to the head itself; only when the base is an ancestor of the head.
    FastForward,
    /// The tested merge commit (or a fast-forward to the head when one is possible).
    Merge,
    /// One new commit with the tested merge's tree and the base as its only parent.
    Squash,
}

impl MergeStrategy {
    /// The word the CLI and the reports use.
    pub fn as_str(self) -> &'static str {
        match self {
            MergeStrategy::FastForward => "fast-forward",
            MergeStrategy::Merge => "merge",
            MergeStrategy::Squash => "squash",
        }
    }
}

/// What a passing `gate run` tested.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tested {
    /// The base commit the gate tested on (the compare-and-swap's expected old value).
    pub base_commit: String,
    /// The head commit.
    pub head_commit: String,
    /// The merge commit whose tree the checks ran on.
    pub merge_commit: String,
    /// The head's name, for a squash commit's message (a branch, or the ref as given).
    pub source: String,
}

/// What became of a passing run's merge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Landing {
    /// The base now points at the tested commit.
    Landed(Merged),
    /// The base moved while the gate ran: nothing was merged.
    BaseMoved {
        /// The branch's full ref.
        base_ref: String,
        /// The commit the gate tested on.
        tested_on: String,
        /// Where the branch points now.
        now: String,
    },
    /// Nothing was merged, for this reason (a git failure, a tree that differs).
    Refused(String),
}

/// What happens to a passing run before it is recorded ([`crate::local::session::run_landing`]).
pub trait Land {
    /// Lands what `tested` tested, in `repo`.
    fn land(&mut self, repo: &Repo, tested: &Tested) -> Landing;
}

/// Lands on a local branch with a strategy; keeps the last landing for the caller.
#[derive(Debug)]
pub struct BranchLander {
    /// The branch's name (`main`).
    pub branch: String,
    /// How.
    pub strategy: MergeStrategy,
    /// The last landing, once a run passed.
    pub landing: Option<Landing>,
}

impl Land for BranchLander {
    fn land(&mut self, repo: &Repo, tested: &Tested) -> Landing {
        let landing = land(repo, &self.branch, self.strategy, tested)
            .unwrap_or_else(|e| Landing::Refused(e.to_string()));
        self.landing = Some(landing.clone());
        landing
    }
}

/// The branch's full ref.
pub fn branch_ref(branch: &str) -> String {
    format!("refs/heads/{branch}")
}

/// Advances `branch` from the tested base to the commit `strategy` makes of what was tested,
/// if its tree is the tested tree and the branch did not move.
pub fn land(
    repo: &Repo,
    branch: &str,
    strategy: MergeStrategy,
    tested: &Tested,
) -> Result<Landing, GitError> {
    let (new, done) = match target(repo, strategy, tested)? {
        Ok(target) => target,
        Err(why) => return Ok(Landing::Refused(why)),
    };
    let tested_tree = tree(repo, &tested.merge_commit)?;
    let new_tree = tree(repo, &new)?;
    if new_tree != tested_tree {
        return Ok(Landing::Refused(report::merge::tree_differs(
            &new,
            &new_tree,
            &tested_tree,
        )));
    }
    let base_ref = branch_ref(branch);
    let message = report::merge::reflog_message(done.as_str(), &tested.head_commit);
    let swapped = repo.git(&[
        "update-ref",
        "-m",
        &message,
        &base_ref,
        &new,
        &tested.base_commit,
    ]);
    if let Err(e) = swapped {
        let now = repo.resolve(&base_ref)?;
        if now == tested.base_commit {
            return Err(e);
        }
        return Ok(Landing::BaseMoved {
            base_ref,
            tested_on: tested.base_commit.clone(),
            now,
        });
    }
    Ok(Landing::Landed(Merged {
        base_ref,
        from: tested.base_commit.clone(),
        to: new,
        strategy: done,
    }))
}

/// The commit the base moves to and the strategy that made it, or why there is none.
fn target(
    repo: &Repo,
    strategy: MergeStrategy,
    tested: &Tested,
) -> Result<Result<(String, MergeStrategy), String>, GitError> {
    let fast_forward = repo.is_ancestor(&tested.base_commit, &tested.head_commit)?;
    Ok(match strategy {
        MergeStrategy::FastForward | MergeStrategy::Merge if fast_forward => {
            Ok((tested.head_commit.clone(), MergeStrategy::FastForward))
        }
        MergeStrategy::FastForward => Err(report::merge::not_fast_forward(
            &tested.source,
            &tested.base_commit,
        )),
        MergeStrategy::Merge => Ok((tested.merge_commit.clone(), MergeStrategy::Merge)),
        MergeStrategy::Squash => Ok((squash(repo, tested)?, MergeStrategy::Squash)),
    })
}

/// A new commit with the tested merge's tree, the tested base as its only parent, and a
/// message naming the head.
fn squash(repo: &Repo, tested: &Tested) -> Result<String, GitError> {
    let tree = tree(repo, &tested.merge_commit)?;
    let subject = repo.commit_subject(&tested.head_commit)?;
    let message = report::merge::squash_message(&subject, &tested.source, &tested.head_commit);
    let env = [
        ("GIT_AUTHOR_NAME", MERGE_USER_NAME),
        ("GIT_AUTHOR_EMAIL", MERGE_USER_EMAIL),
        ("GIT_COMMITTER_NAME", MERGE_USER_NAME),
        ("GIT_COMMITTER_EMAIL", MERGE_USER_EMAIL),
    ];
    let args = [
        "-c",
        "commit.gpgsign=false",
        "commit-tree",
        &tree,
        "-p",
        &tested.base_commit,
        "-m",
        &message,
    ];
    let out = repo.git_output(&args, &env)?;
    if !out.status.success() {
        return Err(GitError::Failed {
            args: "commit-tree".to_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).trim().to_owned(),
        });
    }
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
}

/// A commit's tree id.
pub fn tree(repo: &Repo, commit: &str) -> Result<String, GitError> {
    Ok(repo
        .git(&["rev-parse", "--verify", &format!("{commit}^{{tree}}")])?
        .trim()
        .to_owned())
}

/// Where `branch` is checked out (`git worktree list --porcelain`), if anywhere: moving the
/// ref under a checked-out branch would leave that working tree stale.
pub fn checked_out_at(repo: &Repo, branch: &str) -> Result<Option<String>, GitError> {
    let wanted = format!("branch {}", branch_ref(branch));
    let list = repo.git(&["worktree", "list", "--porcelain"])?;
    let mut path = None;
    for line in list.lines() {
        if let Some(p) = line.strip_prefix("worktree ") {
            path = Some(p.to_owned());
        } else if line == wanted {
            return Ok(path);
        }
    }
    Ok(None)
}

impl Landing {
    /// The landing as the report words see it.
    pub fn note(&self) -> MergeNote<'_> {
        match self {
            Landing::Landed(m) => MergeNote::Landed {
                base_ref: &m.base_ref,
                from: &m.from,
                to: &m.to,
                strategy: m.strategy.as_str(),
            },
            Landing::BaseMoved {
                base_ref,
                tested_on,
                now,
            } => MergeNote::BaseMoved {
                base_ref,
                tested_on,
                now,
            },
            Landing::Refused(why) => MergeNote::Refused { why },
        }
    }
}
