//! The ports of the gated merge on AWS: CodeCommit's branch and merge calls ([`Merges`]) and
//! the merge queues in DynamoDB ([`MergeQueues`]).
//!
//! The rule both serve (bors' "not rocket science" rule): a destination branch only ever
//! moves to a commit whose tree the gate tested. The gate builds the merge of a queued pull
//! request onto the destination's tip as an unreferenced commit, gives it a gate-owned branch
//! (`gate/merge/<destination>/<pr>`) so the checks can build it by reference, and, when they
//! pass, fast-forwards the destination to exactly that commit: a fast-forward cannot move the
//! branch anywhere else, and it is refused when the destination moved meanwhile.

use super::PortResult;
use crate::ids::{CommitId, PullRequestId, RepositoryName};
use serde::{Deserialize, Serialize};
use std::future::Future;

/// How a queued pull request becomes one commit on the destination.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum QueueStrategy {
    /// The destination moves to the source's tip itself; only when the destination is an
    /// ancestor of the source (CodeCommit's `FAST_FORWARD_MERGE`).
    FastForward,
    /// One commit with the merged tree and the destination as its only parent
    /// (`SQUASH_MERGE`).
    Squash,
    /// A merge commit with both tips as parents (`THREE_WAY_MERGE`).
    ThreeWay,
}

impl QueueStrategy {
    /// The word the comments and the `/gate merge` command use.
    pub fn as_str(self) -> &'static str {
        match self {
            QueueStrategy::FastForward => "fast-forward",
            QueueStrategy::Squash => "squash",
            QueueStrategy::ThreeWay => "three-way",
        }
    }
}

/// The author and message of a merge commit the gate creates.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MergeMessage {
    /// `authorName`.
    pub author_name: String,
    /// `email`.
    pub email: String,
    /// `commitMessage`.
    pub message: String,
}

/// What [`Merges::create_merge_commit`] made.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum MergeCommit {
    /// The commit exists (for a fast-forward: the source's tip itself) with this tree.
    Created {
        /// `commitId`.
        commit: CommitId,
        /// `treeId`.
        tree: String,
    },
    /// The two tips conflict (`ManualMergeRequiredException`, or conflicts reported by the
    /// service); these files, when it named them.
    Conflict {
        /// The conflicting paths, possibly empty.
        files: Vec<String>,
    },
    /// A fast-forward was asked for and the destination is not an ancestor of the source.
    NotFastForward,
}

/// What [`Merges::fast_forward`] did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum FastForward {
    /// The branch now points at the commit.
    Moved {
        /// The branch's new tip (the commit asked for).
        commit: CommitId,
    },
    /// The branch is not an ancestor of the commit any more, or it moved during the call
    /// (`ManualMergeRequiredException`, `ConcurrentReferenceUpdateException`): nothing moved.
    BranchMoved,
}

/// CodeCommit's branch and merge calls, as the gated merge uses them. The branch names are
/// short names (`main`, `gate/merge/main/7`), never `refs/heads/…`.
pub trait Merges: Send + Sync {
    /// `GetBranch`: the tip of `branch`; `None` when the branch does not exist.
    fn branch_tip(
        &self,
        repository: &RepositoryName,
        branch: &str,
    ) -> impl Future<Output = PortResult<Option<CommitId>>> + Send;
    /// `CreateUnreferencedMergeCommit` of `source` onto `destination` with `strategy`
    /// (`FILE_LEVEL` conflicts, no automatic resolution): a commit no branch points at yet.
    /// For [`QueueStrategy::FastForward`] it is the source itself when the destination is its
    /// ancestor.
    fn create_merge_commit(
        &self,
        repository: &RepositoryName,
        source: &CommitId,
        destination: &CommitId,
        strategy: QueueStrategy,
        message: &MergeMessage,
    ) -> impl Future<Output = PortResult<MergeCommit>> + Send;
    /// `CreateBranch` at `commit`. `Ok(false)` when a branch of that name already exists
    /// (`BranchNameExistsException`): the caller reads its tip and decides.
    fn create_branch(
        &self,
        repository: &RepositoryName,
        branch: &str,
        commit: &CommitId,
    ) -> impl Future<Output = PortResult<bool>> + Send;
    /// `DeleteBranch`; a branch that does not exist is not an error (`Ok(false)`).
    fn delete_branch(
        &self,
        repository: &RepositoryName,
        branch: &str,
    ) -> impl Future<Output = PortResult<bool>> + Send;
    /// `MergeBranchesByFastForward` of `commit` into `target_branch` (`targetBranch` always
    /// set): moves the branch to exactly `commit` or not at all.
    fn fast_forward(
        &self,
        repository: &RepositoryName,
        target_branch: &str,
        commit: &CommitId,
    ) -> impl Future<Output = PortResult<FastForward>> + Send;
    /// `UpdatePullRequestStatus` to `CLOSED`; a pull request already closed is not an error.
    fn close_pull_request(&self, id: &PullRequestId)
    -> impl Future<Output = PortResult<()>> + Send;
}

/// One destination branch's merge queue as stored: its entries in the queue's order and the
/// version every write is conditional on. The entries are the gated-merge core's own type,
/// stored as JSON: the adapter reads and writes them whole and never looks inside.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredQueue<E> {
    /// The repository.
    pub repository: RepositoryName,
    /// The destination branch (short name).
    pub destination: String,
    /// The entries, in order.
    pub entries: Vec<E>,
    /// The version read (0: the queue was never written).
    pub version: u64,
}

/// The merge queues (DynamoDB, or local files, or memory). A queue changes only by a
/// compare-and-swap on its version, so two Lambdas that change one queue at once cannot lose
/// each other's change: the loser re-reads and decides again.
pub trait MergeQueues<E>: Send + Sync
where
    E: Serialize + serde::de::DeserializeOwned + Send + Sync,
{
    /// The queue of `destination` in `repository`, read strongly consistently; an empty queue
    /// at version 0 when there is none.
    fn load(
        &self,
        repository: &RepositoryName,
        destination: &str,
    ) -> impl Future<Output = PortResult<StoredQueue<E>>> + Send;
    /// Writes `queue.entries` as the queue's new content at version `queue.version + 1`, only
    /// if the stored version is still `queue.version`; [`super::Written::Conflict`] otherwise.
    fn save(
        &self,
        queue: &StoredQueue<E>,
    ) -> impl Future<Output = PortResult<super::Written>> + Send;
}
