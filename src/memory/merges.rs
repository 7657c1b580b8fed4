//! In-memory fakes of the gated merge's ports: a CodeCommit repository whose commits have
//! trees and parents ([`FakeRepository`], the [`Merges`] port) and merge queues with a real
//! compare-and-swap ([`FakeMergeQueues`]).
//!
//! A tree is modelled as the set of changes ("patches") a commit contains: a commit made by
//! a push adds patches to its parent's; a merge's tree is the union of both sides'. Two
//! patches declared to conflict make a merge that would combine them a conflict.

use super::{Calls, FakeCodeCommit, lock};
use crate::ids::{CommitId, PullRequestId, RepositoryName};
use crate::ports::merges::{
    FastForward, MergeCommit, MergeMessage, MergeQueues, Merges, QueueStrategy, StoredQueue,
};
use crate::ports::{PortError, PortResult, Written};
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Arc, Mutex};

/// A commit: its parents and its tree's patches.
#[derive(Debug, Clone)]
struct Commit {
    parents: Vec<CommitId>,
    patches: BTreeSet<String>,
}

type Hook = Box<dyn FnOnce(&mut RepositoryState) + Send>;

#[derive(Default)]
struct RepositoryState {
    commits: HashMap<CommitId, Commit>,
    branches: BTreeMap<String, CommitId>,
    /// Every position every branch took, in order.
    moves: BTreeMap<String, Vec<CommitId>>,
    conflicts: BTreeSet<(String, String)>,
    next: u64,
    /// Runs before the next fast-forward: someone else moving the branch meanwhile.
    before_fast_forward: Option<Hook>,
}

impl RepositoryState {
    fn add(&mut self, parents: Vec<CommitId>, patches: BTreeSet<String>) -> CommitId {
        self.next += 1;
        let id = CommitId::new(format!("{:040x}", self.next));
        self.commits.insert(id.clone(), Commit { parents, patches });
        id
    }

    fn set(&mut self, branch: &str, commit: &CommitId) {
        self.branches.insert(branch.to_owned(), commit.clone());
        self.moves
            .entry(branch.to_owned())
            .or_default()
            .push(commit.clone());
    }

    fn patches(&self, commit: &CommitId) -> BTreeSet<String> {
        self.commits
            .get(commit)
            .map(|c| c.patches.clone())
            .unwrap_or_default()
    }

    fn is_ancestor(&self, ancestor: &CommitId, of: &CommitId) -> bool {
        let mut stack = vec![of.clone()];
        let mut seen = BTreeSet::new();
        while let Some(c) = stack.pop() {
            if &c == ancestor {
                return true;
            }
            if seen.insert(c.clone())
                && let Some(commit) = self.commits.get(&c)
            {
                stack.extend(commit.parents.iter().cloned());
            }
        }
        false
    }

    fn conflicting(&self, ours: &BTreeSet<String>, theirs: &BTreeSet<String>) -> Vec<String> {
        let mine: Vec<&String> = ours.difference(theirs).collect();
        let other: Vec<&String> = theirs.difference(ours).collect();
        let mut files = BTreeSet::new();
        for a in &mine {
            for b in &other {
                let pair = ((*a).clone(), (*b).clone());
                let flipped = (pair.1.clone(), pair.0.clone());
                if self.conflicts.contains(&pair) || self.conflicts.contains(&flipped) {
                    files.insert(format!("{a}.txt"));
                }
            }
        }
        files.into_iter().collect()
    }
}

/// The tree id of a set of patches (the same set is the same tree, as in git).
pub fn tree_id(patches: &BTreeSet<String>) -> String {
    let parts: Vec<&str> = patches.iter().map(String::as_str).collect();
    format!("tree-{}", &crate::flows::steps::token(&parts)[..16])
}

/// A fake CodeCommit repository for the gated merge: commits with trees and parents,
/// branches, fast-forwards only onto descendants, and a branch that can move under a call.
#[derive(Clone)]
pub struct FakeRepository {
    state: Arc<Mutex<RepositoryState>>,
    /// Calls made.
    pub calls: Arc<Calls>,
    /// The pull requests [`Merges::close_pull_request`] closes.
    pub prs: FakeCodeCommit,
}

impl std::fmt::Debug for FakeRepository {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FakeRepository").finish_non_exhaustive()
    }
}

impl FakeRepository {
    /// An empty repository whose pull requests live in `prs`.
    pub fn new(prs: FakeCodeCommit) -> Self {
        Self {
            state: Arc::default(),
            calls: Arc::default(),
            prs,
        }
    }

    /// A new commit on top of `parent` (none: a root) adding `patches`.
    pub fn commit(&self, parent: Option<&CommitId>, patches: &[&str]) -> CommitId {
        let mut state = lock(&self.state);
        let mut tree = parent.map(|p| state.patches(p)).unwrap_or_default();
        tree.extend(patches.iter().map(|p| (*p).to_owned()));
        state.add(parent.into_iter().cloned().collect(), tree)
    }

    /// Points `branch` at `commit` (a push, or creating it).
    pub fn set_branch(&self, branch: &str, commit: &CommitId) {
        lock(&self.state).set(branch, commit);
    }

    /// Someone pushes `patches` straight onto `branch`: its new tip.
    pub fn push(&self, branch: &str, patches: &[&str]) -> CommitId {
        let tip = self.tip(branch);
        let commit = self.commit(tip.as_ref(), patches);
        self.set_branch(branch, &commit);
        commit
    }

    /// `branch`'s tip.
    pub fn tip(&self, branch: &str) -> Option<CommitId> {
        lock(&self.state).branches.get(branch).cloned()
    }

    /// Every branch that exists, with its tip.
    pub fn branches(&self) -> BTreeMap<String, CommitId> {
        lock(&self.state).branches.clone()
    }

    /// Every position `branch` took, in order.
    pub fn moves(&self, branch: &str) -> Vec<CommitId> {
        lock(&self.state)
            .moves
            .get(branch)
            .cloned()
            .unwrap_or_default()
    }

    /// Every commit, in no particular order.
    pub fn commits(&self) -> Vec<CommitId> {
        lock(&self.state).commits.keys().cloned().collect()
    }

    /// `commit`'s tree id.
    pub fn tree(&self, commit: &CommitId) -> String {
        tree_id(&lock(&self.state).patches(commit))
    }

    /// Whether `commit` contains `patch`.
    pub fn contains(&self, commit: &CommitId, patch: &str) -> bool {
        lock(&self.state).patches(commit).contains(patch)
    }

    /// Declares that merging `a` with `b` conflicts.
    pub fn conflict(&self, a: &str, b: &str) {
        lock(&self.state)
            .conflicts
            .insert((a.to_owned(), b.to_owned()));
    }

    /// Before the next fast-forward, someone pushes `patches` onto `branch`.
    pub fn push_before_next_fast_forward(&self, branch: &str, patches: &[&str]) {
        let branch = branch.to_owned();
        let patches: Vec<String> = patches.iter().map(|p| (*p).to_owned()).collect();
        lock(&self.state).before_fast_forward = Some(Box::new(move |state| {
            let tip = state.branches.get(&branch).cloned();
            let mut tree = tip.as_ref().map(|t| state.patches(t)).unwrap_or_default();
            tree.extend(patches);
            let commit = state.add(tip.into_iter().collect(), tree);
            state.set(&branch, &commit);
        }));
    }

    fn merge(
        &self,
        source: &CommitId,
        destination: &CommitId,
        strategy: QueueStrategy,
    ) -> PortResult<MergeCommit> {
        let mut state = lock(&self.state);
        for c in [source, destination] {
            if !state.commits.contains_key(c) {
                return Err(PortError::rejected(
                    "codecommit:CreateUnreferencedMergeCommit",
                    crate::ports::codes::COMMIT_DOES_NOT_EXIST,
                    format!("no commit {c}"),
                ));
            }
        }
        if strategy == QueueStrategy::FastForward {
            return Ok(if state.is_ancestor(destination, source) {
                MergeCommit::Created {
                    commit: source.clone(),
                    tree: tree_id(&state.patches(source)),
                }
            } else {
                MergeCommit::NotFastForward
            });
        }
        let (ours, theirs) = (state.patches(destination), state.patches(source));
        let files = state.conflicting(&ours, &theirs);
        if !files.is_empty() {
            return Ok(MergeCommit::Conflict { files });
        }
        let tree: BTreeSet<String> = ours.union(&theirs).cloned().collect();
        let parents = match strategy {
            QueueStrategy::Squash => vec![destination.clone()],
            _ => vec![destination.clone(), source.clone()],
        };
        let tree_name = tree_id(&tree);
        let commit = state.add(parents, tree);
        Ok(MergeCommit::Created {
            commit,
            tree: tree_name,
        })
    }
}

impl Merges for FakeRepository {
    async fn branch_tip(
        &self,
        _repository: &RepositoryName,
        branch: &str,
    ) -> PortResult<Option<CommitId>> {
        self.calls.record("codecommit:GetBranch")?;
        Ok(self.tip(branch))
    }

    async fn create_merge_commit(
        &self,
        _repository: &RepositoryName,
        source: &CommitId,
        destination: &CommitId,
        strategy: QueueStrategy,
        _message: &MergeMessage,
    ) -> PortResult<MergeCommit> {
        self.calls
            .record("codecommit:CreateUnreferencedMergeCommit")?;
        self.merge(source, destination, strategy)
    }

    async fn create_branch(
        &self,
        _repository: &RepositoryName,
        branch: &str,
        commit: &CommitId,
    ) -> PortResult<bool> {
        self.calls.record("codecommit:CreateBranch")?;
        let mut state = lock(&self.state);
        if state.branches.contains_key(branch) {
            return Ok(false);
        }
        state.set(branch, commit);
        Ok(true)
    }

    async fn delete_branch(&self, _repository: &RepositoryName, branch: &str) -> PortResult<bool> {
        self.calls.record("codecommit:DeleteBranch")?;
        Ok(lock(&self.state).branches.remove(branch).is_some())
    }

    async fn fast_forward(
        &self,
        _repository: &RepositoryName,
        target_branch: &str,
        commit: &CommitId,
    ) -> PortResult<FastForward> {
        self.calls.record("codecommit:MergeBranchesByFastForward")?;
        let mut state = lock(&self.state);
        if let Some(hook) = state.before_fast_forward.take() {
            hook(&mut state);
        }
        let Some(tip) = state.branches.get(target_branch).cloned() else {
            return Err(PortError::rejected(
                "codecommit:MergeBranchesByFastForward",
                "BranchDoesNotExistException",
                format!("no branch {target_branch}"),
            ));
        };
        if !state.is_ancestor(&tip, commit) {
            return Ok(FastForward::BranchMoved);
        }
        state.set(target_branch, commit);
        Ok(FastForward::Moved {
            commit: commit.clone(),
        })
    }

    async fn close_pull_request(&self, id: &PullRequestId) -> PortResult<()> {
        self.calls.record("codecommit:UpdatePullRequestStatus")?;
        let merged = self.prs.pull_request_now(id).is_some_and(|pr| pr.is_merged);
        self.prs.close(id, merged);
        Ok(())
    }
}

/// The stored queues: (repository, destination) → (the entries as JSON, the version).
type StoredQueues = HashMap<(RepositoryName, String), (serde_json::Value, u64)>;

/// Merge queues in memory, stored as JSON as DynamoDB stores them, changed only by a
/// compare-and-swap on their version.
#[derive(Debug, Clone, Default)]
pub struct FakeMergeQueues {
    queues: Arc<Mutex<StoredQueues>>,
    /// Calls made.
    pub calls: Arc<Calls>,
}

impl FakeMergeQueues {
    /// How many times `destination`'s queue was written.
    pub fn version(&self, repository: &RepositoryName, destination: &str) -> u64 {
        lock(&self.queues)
            .get(&(repository.clone(), destination.to_owned()))
            .map_or(0, |(_, v)| *v)
    }
}

impl<E> MergeQueues<E> for FakeMergeQueues
where
    E: Serialize + DeserializeOwned + Send + Sync,
{
    async fn load(
        &self,
        repository: &RepositoryName,
        destination: &str,
    ) -> PortResult<StoredQueue<E>> {
        self.calls.record("dynamodb:GetItem")?;
        let stored = lock(&self.queues)
            .get(&(repository.clone(), destination.to_owned()))
            .cloned();
        let (entries, version) = match stored {
            Some((json, version)) => (
                serde_json::from_value(json).map_err(|e| PortError::Permanent {
                    call: "dynamodb:GetItem",
                    message: format!("the stored queue does not parse: {e}"),
                })?,
                version,
            ),
            None => (Vec::new(), 0),
        };
        Ok(StoredQueue {
            repository: repository.clone(),
            destination: destination.to_owned(),
            entries,
            version,
        })
    }

    async fn save(&self, queue: &StoredQueue<E>) -> PortResult<Written> {
        self.calls.record("dynamodb:PutItem")?;
        let json = serde_json::to_value(&queue.entries).map_err(|e| PortError::Permanent {
            call: "dynamodb:PutItem",
            message: e.to_string(),
        })?;
        let mut queues = lock(&self.queues);
        let key = (queue.repository.clone(), queue.destination.clone());
        let stored = queues.get(&key).map_or(0, |(_, v)| *v);
        if stored != queue.version {
            return Ok(Written::Conflict);
        }
        queues.insert(key, (json, queue.version + 1));
        Ok(Written::Written)
    }
}

/// The queue's runs in memory: what was started (by name, once), what was stopped.
#[derive(Debug, Clone, Default)]
pub struct FakeQueueChecks {
    runs: Arc<Mutex<BTreeMap<String, crate::flows::merge_queue::QueueRun>>>,
    order: Arc<Mutex<Vec<String>>>,
    stopped: Arc<Mutex<BTreeSet<String>>>,
    /// Calls made.
    pub calls: Arc<Calls>,
}

impl FakeQueueChecks {
    /// The ARN of the run named `name`.
    pub fn arn(name: &str) -> String {
        format!("arn:aws:states:eu-west-1:123456789012:execution:gate:{name}")
    }

    /// Every run started, in the order they started.
    pub fn started(&self) -> Vec<crate::flows::merge_queue::QueueRun> {
        let runs = lock(&self.runs);
        lock(&self.order)
            .iter()
            .filter_map(|name| runs.get(name).cloned())
            .collect()
    }

    /// The runs started and neither stopped nor reported yet are the caller's to track; this
    /// says whether one was stopped.
    pub fn was_stopped(&self, name: &str) -> bool {
        lock(&self.stopped).contains(&Self::arn(name))
    }
}

impl crate::flows::merge_queue::QueueChecks for FakeQueueChecks {
    async fn start(
        &self,
        run: &crate::flows::merge_queue::QueueRun,
    ) -> PortResult<crate::merge_queue::QueueStart> {
        self.calls.record("states:StartExecution")?;
        let name = run.testing.execution_name.clone();
        let mut runs = lock(&self.runs);
        if !runs.contains_key(&name) {
            runs.insert(name.clone(), run.clone());
            lock(&self.order).push(name.clone());
        }
        Ok(crate::merge_queue::QueueStart::Started {
            execution_arn: Self::arn(&name),
        })
    }

    async fn stop(&self, execution_arn: &str, _cause: &str) -> PortResult<()> {
        self.calls.record("states:StopExecution")?;
        lock(&self.stopped).insert(execution_arn.to_owned());
        Ok(())
    }
}
