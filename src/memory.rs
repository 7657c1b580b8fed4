//! Stateful in-memory fakes of every port, for flow stories, simulations and property tests.
//!
//! They follow the AWS behaviour the flows depend on (see `shared/docs/aws-reference.md`):
//! idempotency tokens, `ExecutionAlreadyExists`, `RevisionNotCurrentException`, conditional
//! writes, approvals bound to a revision. Every call is counted by its IAM action name, and a
//! fault can be injected for any call.

use crate::ids::{CommentId, CommitId, PullRequestId, RepositoryName, RevisionId};
use crate::machine::ExecutionInput;
use crate::plan::ChangedPath;
use crate::ports::{
    ApprovalOutcome, ApprovalRule, ApprovalState, CommentData, CommentTarget, EnvironmentRecord,
    ExecutionStatus, Executions, Ledger, Mergeability, Notifier, PortError, PortResult, PrRecord,
    PrStatus, PullRequestState, PullRequests, RuleWritten, Started, Written, codes,
};
use crate::release::ReleaseRecord;
use crate::reuse::ledger::LedgerPasses;
use crate::test_reports::{CoverageBases, branch_name};
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, MutexGuard};

mod history;
mod latency;
pub mod merges;
mod test_reports;

pub use latency::{Latency, RoundTrip};

/// The flows' dependencies made of the in-memory fakes.
pub type MemoryDeps = crate::flows::Deps<(
    FakeCodeCommit,
    FakeStepFunctions,
    FakeLedger,
    FakeNotifier,
    FakeBus,
)>;

/// Calls made, by IAM action name, and faults to inject.
#[derive(Debug, Default)]
pub struct Calls {
    counts: Mutex<BTreeMap<&'static str, usize>>,
    faults: Mutex<HashMap<&'static str, Vec<PortError>>>,
    latency: Mutex<Option<Arc<Latency>>>,
}

impl Calls {
    fn record(&self, call: &'static str) -> PortResult<()> {
        *lock(&self.counts).entry(call).or_default() += 1;
        let mut faults = lock(&self.faults);
        match faults.get_mut(call) {
            Some(list) if !list.is_empty() => Err(list.remove(0)),
            _ => Ok(()),
        }
    }

    /// Records `call` (its count, its injected fault), then waits its round trip when a
    /// [`Latency`] is set.
    async fn call(&self, call: &'static str) -> PortResult<()> {
        let result = self.record(call);
        let latency = lock(&self.latency).clone();
        if let Some(latency) = latency {
            latency.round_trip(call).await;
        }
        result
    }

    /// Every call from now on takes a round trip of `latency` (shared with other fakes).
    pub fn set_latency(&self, latency: Arc<Latency>) {
        *lock(&self.latency) = Some(latency);
    }

    /// How often `call` was made.
    pub fn count(&self, call: &str) -> usize {
        lock(&self.counts).get(call).copied().unwrap_or(0)
    }

    /// Every call made so far, by name.
    pub fn all(&self) -> BTreeMap<&'static str, usize> {
        lock(&self.counts).clone()
    }

    /// The total number of calls.
    pub fn total(&self) -> usize {
        lock(&self.counts).values().sum()
    }

    /// Forgets the counts (not the faults).
    pub fn reset(&self) {
        lock(&self.counts).clear();
    }

    /// The next call to `call` fails with `error` (queue several for several calls).
    pub fn fail_next(&self, call: &'static str, error: PortError) {
        lock(&self.faults).entry(call).or_default().push(error);
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// A comment as the fake CodeCommit stores it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredComment {
    /// The comment.
    pub data: CommentData,
    /// The PR it is on.
    pub pull_request_id: PullRequestId,
    /// The comment it replies to.
    pub in_reply_to: Option<CommentId>,
    /// The token it was posted with.
    pub token: Option<String>,
    /// How often it was updated.
    pub updates: usize,
}

#[derive(Debug, Default)]
struct CodeCommitState {
    pull_requests: BTreeMap<PullRequestId, PullRequestState>,
    files: HashMap<(CommitId, String), Vec<u8>>,
    diffs: HashMap<(CommitId, CommitId), Vec<ChangedPath>>,
    commit_files: HashMap<CommitId, Vec<(String, String)>>,
    files_listed: Vec<CommitId>,
    conflicts: HashMap<(CommitId, CommitId), Vec<String>>,
    comments: Vec<StoredComment>,
    approvals: BTreeMap<(PullRequestId, RevisionId), ApprovalState>,
    approval_log: Vec<(PullRequestId, RevisionId, ApprovalState)>,
    next_comment: usize,
}

impl CodeCommitState {
    /// Stores a new comment (or reply) by `author`, posted with `token`; its new id.
    fn store(
        &mut self,
        author: &str,
        pull_request_id: PullRequestId,
        in_reply_to: Option<CommentId>,
        content: &str,
        token: Option<&str>,
    ) -> CommentId {
        self.next_comment += 1;
        let id = CommentId::new(format!("comment-{}", self.next_comment));
        self.comments.push(StoredComment {
            data: CommentData {
                id: id.clone(),
                content: content.to_owned(),
                author_arn: author.to_owned(),
                deleted: false,
            },
            pull_request_id,
            in_reply_to,
            token: token.map(str::to_owned),
            updates: 0,
        });
        id
    }
}

/// A fake CodeCommit: pull requests, files, differences, comments, approvals, approval rules.
#[derive(Debug, Clone)]
pub struct FakeCodeCommit {
    state: Arc<Mutex<CodeCommitState>>,
    /// Calls made.
    pub calls: Arc<Calls>,
    /// The identity this client writes as (comments' `authorArn`, approvals' `userArn`).
    pub caller_arn: String,
}

impl FakeCodeCommit {
    /// An empty CodeCommit acting as `caller_arn`.
    pub fn new(caller_arn: &str) -> Self {
        Self {
            state: Arc::default(),
            calls: Arc::default(),
            caller_arn: caller_arn.to_owned(),
        }
    }

    /// The same CodeCommit, acting as another identity (a human commenting, say).
    pub fn as_caller(&self, caller_arn: &str) -> Self {
        Self {
            state: Arc::clone(&self.state),
            calls: Arc::clone(&self.calls),
            caller_arn: caller_arn.to_owned(),
        }
    }

    fn state(&self) -> MutexGuard<'_, CodeCommitState> {
        lock(&self.state)
    }

    /// Adds or replaces a pull request.
    pub fn put_pull_request(&self, pr: PullRequestState) {
        self.state().pull_requests.insert(pr.id.clone(), pr);
    }

    /// The pull request as stored.
    pub fn pull_request_now(&self, id: &PullRequestId) -> Option<PullRequestState> {
        self.state().pull_requests.get(id).cloned()
    }

    /// Simulates a push: a new source commit and a new revision; approvals of older revisions
    /// no longer count.
    pub fn push(&self, id: &PullRequestId, commit: &CommitId, revision: &RevisionId) {
        if let Some(pr) = self.state().pull_requests.get_mut(id) {
            pr.source_commit = commit.clone();
            pr.revision_id = revision.clone();
        }
    }

    /// Closes a pull request (merged or not).
    pub fn close(&self, id: &PullRequestId, merged: bool) {
        if let Some(pr) = self.state().pull_requests.get_mut(id) {
            pr.status = PrStatus::Closed;
            pr.is_merged = merged;
        }
    }

    /// Stores a file at a commit.
    pub fn put_file(&self, commit: &CommitId, path: &str, content: &str) {
        self.state().files.insert(
            (commit.clone(), path.to_owned()),
            content.as_bytes().to_vec(),
        );
    }

    /// Stores the differences between two commits.
    pub fn put_diff(&self, before: &CommitId, after: &CommitId, changes: Vec<ChangedPath>) {
        self.state()
            .diffs
            .insert((before.clone(), after.clone()), changes);
    }

    /// Stores every file of a commit: (path, blob id) pairs, what
    /// [`PullRequests::commit_files`] answers.
    pub fn put_commit_files(&self, commit: &CommitId, files: &[(&str, &str)]) {
        let files = files
            .iter()
            .map(|(p, b)| ((*p).to_owned(), (*b).to_owned()))
            .collect();
        self.state().commit_files.insert(commit.clone(), files);
    }

    /// The commits whose files were listed, in order.
    pub fn files_listed(&self) -> Vec<CommitId> {
        self.state().files_listed.clone()
    }

    /// Makes merging `source` into `destination` conflict on `paths`.
    pub fn put_conflicts(&self, source: &CommitId, destination: &CommitId, paths: &[&str]) {
        self.state().conflicts.insert(
            (source.clone(), destination.clone()),
            paths.iter().map(|p| (*p).to_owned()).collect(),
        );
    }

    /// Adds a comment written by someone (a human, or an impostor).
    pub fn add_comment(&self, pr: &PullRequestId, author_arn: &str, content: &str) -> CommentId {
        self.state()
            .store(author_arn, pr.clone(), None, content, None)
    }

    /// Every comment on a PR, oldest first.
    pub fn comments(&self, pr: &PullRequestId) -> Vec<StoredComment> {
        self.state()
            .comments
            .iter()
            .filter(|c| &c.pull_request_id == pr)
            .cloned()
            .collect()
    }

    /// Deletes a comment (as its author could).
    pub fn delete_comment(&self, id: &CommentId) {
        if let Some(c) = self.state().comments.iter_mut().find(|c| &c.data.id == id) {
            c.data.deleted = true;
            c.data.content.clear();
        }
    }

    /// The gate's approval state for a PR revision (`None`: never set).
    pub fn approval(&self, pr: &PullRequestId, revision: &RevisionId) -> Option<ApprovalState> {
        self.state()
            .approvals
            .get(&(pr.clone(), revision.clone()))
            .copied()
    }

    /// Every approval state change applied on a PR, oldest first: (revision, state). Shows an
    /// approval that stood for a moment even if a REVOKE followed.
    pub fn approval_history(&self, pr: &PullRequestId) -> Vec<(RevisionId, ApprovalState)> {
        self.state()
            .approval_log
            .iter()
            .filter(|(p, _, _)| p == pr)
            .map(|(_, r, s)| (r.clone(), *s))
            .collect()
    }

    /// Whether the PR can merge: every approval rule satisfied for the current revision.
    pub fn approved_now(&self, pr: &PullRequestId) -> bool {
        let s = self.state();
        let Some(state) = s.pull_requests.get(pr) else {
            return false;
        };
        s.approvals.get(&(pr.clone(), state.revision_id.clone())) == Some(&ApprovalState::Approve)
    }

    /// The approval rules on a PR: (name, content).
    pub fn rules(&self, pr: &PullRequestId) -> Vec<(String, String)> {
        self.state()
            .pull_requests
            .get(pr)
            .map(|p| {
                p.approval_rules
                    .iter()
                    .map(|r| (r.name.clone(), r.content.clone()))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Puts a rule on a PR as CodeCommit does when a pull request is created in a repository
    /// associated with an approval rule template whose destination references match.
    pub fn put_template_rule(&self, pr: &PullRequestId, template: &str, content: &str) {
        if let Some(p) = self.state().pull_requests.get_mut(pr) {
            p.approval_rules.push(ApprovalRule {
                name: template.to_owned(),
                content: content.to_owned(),
                template: Some(template.to_owned()),
            });
        }
    }

    /// Deletes a rule from a PR (`DeletePullRequestApprovalRule` by someone with the
    /// permission). Rules from templates cannot be deleted: returns false, as CodeCommit's
    /// `CannotDeleteApprovalRuleFromTemplateException` would.
    pub fn delete_rule(&self, pr: &PullRequestId, name: &str) -> bool {
        let mut s = self.state();
        let Some(p) = s.pull_requests.get_mut(pr) else {
            return false;
        };
        if p.approval_rules
            .iter()
            .any(|r| r.name == name && r.template.is_some())
        {
            return false;
        }
        let before = p.approval_rules.len();
        p.approval_rules.retain(|r| r.name != name);
        p.approval_rules.len() < before
    }

    /// Edits a rule's content as a person could (`UpdatePullRequestApprovalRuleContent`); rules
    /// from templates cannot be edited (returns false).
    pub fn edit_rule(&self, pr: &PullRequestId, name: &str, content: &str) -> bool {
        let mut s = self.state();
        match s
            .pull_requests
            .get_mut(pr)
            .and_then(|p| p.approval_rules.iter_mut().find(|r| r.name == name))
        {
            Some(rule) if rule.template.is_none() => {
                rule.content = content.to_owned();
                true
            }
            _ => false,
        }
    }
}

/// A refusal with AWS's error code as the message, classified as the AWS adapters classify it.
fn permanent(call: &'static str, code: &str) -> PortError {
    PortError::rejected(call, code, code)
}

impl PullRequests for FakeCodeCommit {
    async fn pull_request(&self, id: &PullRequestId) -> PortResult<PullRequestState> {
        const CALL: &str = "codecommit:GetPullRequest";
        self.calls.call(CALL).await?;
        self.state()
            .pull_requests
            .get(id)
            .cloned()
            .ok_or_else(|| permanent(CALL, codes::PULL_REQUEST_DOES_NOT_EXIST))
    }

    async fn file(
        &self,
        _repository: &RepositoryName,
        commit: &CommitId,
        path: &str,
    ) -> PortResult<Option<Vec<u8>>> {
        self.calls.call("codecommit:GetFile").await?;
        Ok(self
            .state()
            .files
            .get(&(commit.clone(), path.to_owned()))
            .cloned())
    }

    async fn changed_paths(
        &self,
        _repository: &RepositoryName,
        before: &CommitId,
        after: &CommitId,
    ) -> PortResult<Vec<ChangedPath>> {
        const CALL: &str = "codecommit:GetDifferences";
        self.calls.call(CALL).await?;
        self.state()
            .diffs
            .get(&(before.clone(), after.clone()))
            .cloned()
            .ok_or_else(|| permanent(CALL, codes::COMMIT_DOES_NOT_EXIST))
    }

    async fn commit_files(
        &self,
        _repository: &RepositoryName,
        commit: &CommitId,
    ) -> PortResult<Vec<(String, String)>> {
        const CALL: &str = "codecommit:GetDifferences";
        self.calls.call(CALL).await?;
        let mut state = self.state();
        state.files_listed.push(commit.clone());
        state
            .commit_files
            .get(commit)
            .cloned()
            .ok_or_else(|| permanent(CALL, codes::COMMIT_DOES_NOT_EXIST))
    }

    async fn mergeability(
        &self,
        _repository: &RepositoryName,
        source: &CommitId,
        destination: &CommitId,
    ) -> PortResult<Mergeability> {
        self.calls.call("codecommit:GetMergeConflicts").await?;
        Ok(
            match self
                .state()
                .conflicts
                .get(&(source.clone(), destination.clone()))
            {
                Some(paths) => Mergeability::Conflicts {
                    paths: paths.clone(),
                },
                None => Mergeability::Clean,
            },
        )
    }

    async fn comment(&self, id: &CommentId) -> PortResult<Option<CommentData>> {
        self.calls.call("codecommit:GetComment").await?;
        Ok(self
            .state()
            .comments
            .iter()
            .find(|c| &c.data.id == id)
            .map(|c| c.data.clone()))
    }

    async fn find_comment(
        &self,
        _repository: &RepositoryName,
        id: &PullRequestId,
        author_arn: &str,
        marker: &str,
    ) -> PortResult<Option<CommentData>> {
        self.calls
            .call("codecommit:GetCommentsForPullRequest")
            .await?;
        Ok(self
            .state()
            .comments
            .iter()
            .rev()
            .find(|c| {
                &c.pull_request_id == id
                    && crate::ports::is_gate_comment(
                        Some(&c.data.author_arn),
                        Some(&c.data.content),
                        c.data.deleted,
                        author_arn,
                        marker,
                    )
            })
            .map(|c| c.data.clone()))
    }

    async fn post_comment(
        &self,
        target: &CommentTarget,
        content: &str,
        token: &str,
    ) -> PortResult<CommentId> {
        const CALL: &str = "codecommit:PostCommentForPullRequest";
        self.calls.call(CALL).await?;
        if let Some(code) = crate::ports::comment_refusal(content, Some(target)) {
            return Err(permanent(CALL, code));
        }
        let mut s = self.state();
        if let Some(existing) = s
            .comments
            .iter()
            .find(|c| c.token.as_deref() == Some(token))
        {
            return if existing.pull_request_id == target.pull_request_id {
                Ok(existing.data.id.clone())
            } else {
                Err(permanent(CALL, codes::IDEMPOTENCY_MISMATCH))
            };
        }
        Ok(s.store(
            &self.caller_arn,
            target.pull_request_id.clone(),
            None,
            content,
            Some(token),
        ))
    }

    async fn update_comment(&self, id: &CommentId, content: &str) -> PortResult<()> {
        const CALL: &str = "codecommit:UpdateComment";
        self.calls.call(CALL).await?;
        if let Some(code) = crate::ports::comment_refusal(content, None) {
            return Err(permanent(CALL, code));
        }
        let caller = self.caller_arn.clone();
        let mut s = self.state();
        let c = s
            .comments
            .iter_mut()
            .find(|c| &c.data.id == id)
            .ok_or_else(|| permanent(CALL, codes::COMMENT_DOES_NOT_EXIST))?;
        if c.data.deleted {
            return Err(permanent(CALL, codes::COMMENT_DELETED));
        }
        if c.data.author_arn != caller {
            return Err(permanent(CALL, codes::COMMENT_NOT_CREATED_BY_CALLER));
        }
        if c.data.content != content {
            c.data.content = content.to_owned();
            c.updates += 1;
        }
        Ok(())
    }

    async fn reply(&self, to: &CommentId, content: &str, token: &str) -> PortResult<CommentId> {
        const CALL: &str = "codecommit:PostCommentReply";
        self.calls.call(CALL).await?;
        if let Some(code) = crate::ports::comment_refusal(content, None) {
            return Err(permanent(CALL, code));
        }
        let mut s = self.state();
        if let Some(existing) = s
            .comments
            .iter()
            .find(|c| c.token.as_deref() == Some(token))
        {
            return Ok(existing.data.id.clone());
        }
        let pr = s
            .comments
            .iter()
            .find(|c| &c.data.id == to)
            .map(|c| c.pull_request_id.clone())
            .ok_or_else(|| permanent(CALL, codes::COMMENT_DOES_NOT_EXIST))?;
        Ok(s.store(&self.caller_arn, pr, Some(to.clone()), content, Some(token)))
    }

    async fn ensure_approval_rule(
        &self,
        id: &PullRequestId,
        name: &str,
        content: &str,
    ) -> PortResult<RuleWritten> {
        const CALL: &str = "codecommit:CreatePullRequestApprovalRule";
        const UPDATE: &str = "codecommit:UpdatePullRequestApprovalRuleContent";
        self.calls.call(CALL).await?;
        let exists = {
            let s = self.state();
            let pr = s
                .pull_requests
                .get(id)
                .ok_or_else(|| permanent(CALL, codes::PULL_REQUEST_DOES_NOT_EXIST))?;
            if pr.status == PrStatus::Closed {
                return Err(permanent(CALL, codes::PULL_REQUEST_ALREADY_CLOSED));
            }
            pr.approval_rules.iter().find(|r| r.name == name).cloned()
        };
        match exists {
            None => {
                if let Some(pr) = self.state().pull_requests.get_mut(id) {
                    pr.approval_rules
                        .push(ApprovalRule::on_pull_request(name, content));
                }
                Ok(RuleWritten::Created)
            }
            Some(rule) => {
                // ApprovalRuleNameAlreadyExistsException: set the content instead.
                self.calls.call(UPDATE).await?;
                if rule.template.is_some() {
                    return Err(permanent(UPDATE, codes::RULE_FROM_TEMPLATE));
                }
                if let Some(r) = self
                    .state()
                    .pull_requests
                    .get_mut(id)
                    .and_then(|p| p.approval_rules.iter_mut().find(|r| r.name == name))
                {
                    r.content = content.to_owned();
                }
                Ok(RuleWritten::Updated)
            }
        }
    }

    async fn set_approval(
        &self,
        id: &PullRequestId,
        revision: &RevisionId,
        state: ApprovalState,
    ) -> PortResult<ApprovalOutcome> {
        const CALL: &str = "codecommit:UpdatePullRequestApprovalState";
        self.calls.call(CALL).await?;
        let mut s = self.state();
        let pr = s
            .pull_requests
            .get(id)
            .ok_or_else(|| permanent(CALL, codes::PULL_REQUEST_DOES_NOT_EXIST))?;
        if pr.status == PrStatus::Closed {
            return Ok(ApprovalOutcome::Closed);
        }
        if &pr.revision_id != revision {
            return Ok(ApprovalOutcome::RevisionNotCurrent);
        }
        s.approvals.insert((id.clone(), revision.clone()), state);
        s.approval_log.push((id.clone(), revision.clone(), state));
        Ok(ApprovalOutcome::Applied)
    }
}

/// A fake execution.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FakeExecution {
    /// Its ARN.
    pub arn: String,
    /// Its name.
    pub name: String,
    /// Its input.
    pub input: ExecutionInput,
    /// Its status.
    pub status: ExecutionStatus,
}

/// A fake Step Functions state machine (Standard workflow semantics).
#[derive(Debug, Clone, Default)]
pub struct FakeStepFunctions {
    executions: Arc<Mutex<Vec<FakeExecution>>>,
    releases: Arc<Mutex<Vec<(String, crate::machine::release::ReleaseExecutionInput)>>>,
    /// Calls made.
    pub calls: Arc<Calls>,
}

impl FakeStepFunctions {
    /// Every release execution ever started, oldest first: (name, input).
    pub fn releases(&self) -> Vec<(String, crate::machine::release::ReleaseExecutionInput)> {
        lock(&self.releases).clone()
    }

    /// Every execution ever started, oldest first.
    pub fn executions(&self) -> Vec<FakeExecution> {
        lock(&self.executions).clone()
    }

    /// The executions still running.
    pub fn running(&self) -> Vec<FakeExecution> {
        lock(&self.executions)
            .iter()
            .filter(|e| e.status == ExecutionStatus::Running)
            .cloned()
            .collect()
    }

    /// Ends a running execution with `status` (the machine finished); a finished one stays as it is.
    pub fn finish(&self, arn: &str, status: ExecutionStatus) {
        if let Some(e) = lock(&self.executions)
            .iter_mut()
            .find(|e| e.arn == arn && e.status == ExecutionStatus::Running)
        {
            e.status = status;
        }
    }

    /// Ends the running execution called `name` (see [`Self::finish`]).
    pub fn finish_named(&self, name: &str, status: ExecutionStatus) {
        let arn = lock(&self.executions)
            .iter()
            .find(|e| e.name == name)
            .map(|e| e.arn.clone());
        if let Some(arn) = arn {
            self.finish(&arn, status);
        }
    }
}

const STATE_MACHINE: &str = "arn:aws:states:us-east-1:123456789012:stateMachine:gate";
/// The fake release state machine's ARN.
const RELEASE_STATE_MACHINE: &str =
    "arn:aws:states:us-east-1:123456789012:stateMachine:gate-release";

impl Executions for FakeStepFunctions {
    async fn start(&self, name: &str, input: &ExecutionInput) -> PortResult<Started> {
        const CALL: &str = "states:StartExecution";
        self.calls.call(CALL).await?;
        if name.is_empty() || name.len() > crate::machine::MAX_EXECUTION_NAME {
            return Err(permanent(CALL, "InvalidName"));
        }
        let arn = format!(
            "{}:{name}",
            STATE_MACHINE.replace(":stateMachine:", ":execution:")
        );
        let mut all = lock(&self.executions);
        if let Some(existing) = all.iter().find(|e| e.name == name) {
            // Same name and input while running: idempotent success. Otherwise: already exists.
            return Ok(
                if existing.status == ExecutionStatus::Running && &existing.input == input {
                    Started::Started { execution_arn: arn }
                } else {
                    Started::AlreadyExists { execution_arn: arn }
                },
            );
        }
        all.push(FakeExecution {
            arn: arn.clone(),
            name: name.to_owned(),
            input: input.clone(),
            status: ExecutionStatus::Running,
        });
        Ok(Started::Started { execution_arn: arn })
    }

    async fn start_release(
        &self,
        name: &str,
        input: &crate::machine::release::ReleaseExecutionInput,
    ) -> PortResult<Started> {
        const CALL: &str = "states:StartExecution";
        self.calls.call(CALL).await?;
        if name.is_empty() || name.len() > crate::machine::MAX_EXECUTION_NAME {
            return Err(permanent(CALL, "InvalidName"));
        }
        let execution_arn =
            format!("{RELEASE_STATE_MACHINE}:{name}").replace(":stateMachine:", ":execution:");
        let mut all = lock(&self.releases);
        if all.iter().any(|(n, i)| n == name && i != input) {
            return Ok(Started::AlreadyExists { execution_arn });
        }
        if !all.iter().any(|(n, _)| n == name) {
            all.push((name.to_owned(), input.clone()));
        }
        Ok(Started::Started { execution_arn })
    }

    async fn stop(&self, execution_arn: &str, _cause: &str) -> PortResult<()> {
        self.calls.call("states:StopExecution").await?;
        if let Some(e) = lock(&self.executions)
            .iter_mut()
            .find(|e| e.arn == execution_arn && e.status == ExecutionStatus::Running)
        {
            e.status = ExecutionStatus::Aborted;
        }
        Ok(())
    }

    async fn status(&self, execution_arn: &str) -> PortResult<Option<ExecutionStatus>> {
        self.calls.call("states:DescribeExecution").await?;
        Ok(lock(&self.executions)
            .iter()
            .find(|e| e.arn == execution_arn)
            .map(|e| e.status))
    }

    async fn input(&self, execution_arn: &str) -> PortResult<Option<ExecutionInput>> {
        self.calls.call("states:DescribeExecution").await?;
        Ok(lock(&self.executions)
            .iter()
            .find(|e| e.arn == execution_arn)
            .map(|e| e.input.clone()))
    }
}

/// Fake build logs: (group, stream) → text.
#[derive(Debug, Clone, Default)]
pub struct FakeLogs {
    streams: Arc<Mutex<HashMap<(String, String), String>>>,
    /// The builds' reports (see `memory/test_reports.rs`).
    reports: Arc<Mutex<test_reports::FakeBuildReports>>,
    /// Calls made.
    pub calls: Arc<Calls>,
}

impl FakeLogs {
    /// Stores a log stream.
    pub fn put(&self, group: &str, stream: &str, text: &str) {
        lock(&self.streams).insert((group.to_owned(), stream.to_owned()), text.to_owned());
    }
}

impl crate::ports::Logs for FakeLogs {
    async fn tail(&self, group: &str, stream: &str, lines: usize) -> PortResult<Option<String>> {
        self.calls.call("logs:GetLogEvents").await?;
        Ok(lock(&self.streams)
            .get(&(group.to_owned(), stream.to_owned()))
            .map(|text| {
                let all: Vec<&str> = text.lines().collect();
                all[all.len().saturating_sub(lines)..].join("\n")
            }))
    }
}

/// A competing write, applied to the stored record just before a put compares versions.
type Interleaved = Box<dyn FnOnce(&mut PrRecord) + Send>;

/// Competing writes queued for the next puts (`None`: that put goes through untouched).
#[derive(Default)]
struct Interleavings(Vec<Option<Interleaved>>);

impl std::fmt::Debug for Interleavings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} interleaved writes", self.0.len())
    }
}

/// A fake DynamoDB ledger with conditional writes.
#[derive(Debug, Clone, Default)]
pub struct FakeLedger {
    records: Arc<Mutex<BTreeMap<(RepositoryName, PullRequestId), PrRecord>>>,
    environments: Arc<Mutex<BTreeMap<(RepositoryName, String), EnvironmentRecord>>>,
    releases: Arc<Mutex<BTreeMap<(RepositoryName, String), ReleaseRecord>>>,
    interleaved: Arc<Mutex<Interleavings>>,
    interleaved_environments: Arc<Mutex<EnvironmentInterleavings>>,
    environment_faults: Arc<Mutex<Vec<PortError>>>,
    coverage: Arc<Mutex<BTreeMap<(RepositoryName, String), CoverageBases>>>,
    coverage_read_faults: Arc<Mutex<Vec<PortError>>>,
    coverage_put_faults: Arc<Mutex<Vec<PortError>>>,
    interleaved_coverage: Arc<Mutex<CoverageInterleavings>>,
    passes: Arc<Mutex<BTreeMap<RepositoryName, LedgerPasses>>>,
    passes_read_faults: Arc<Mutex<Vec<PortError>>>,
    /// Calls made.
    pub calls: Arc<Calls>,
}

/// A competing write to a branch's coverage bases, applied just before a put compares versions.
type InterleavedCoverage = Box<dyn FnOnce(&mut CoverageBases) + Send>;

/// Competing coverage writes queued for the next `put_coverage_bases`.
#[derive(Default)]
struct CoverageInterleavings(Vec<InterleavedCoverage>);

impl std::fmt::Debug for CoverageInterleavings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} interleaved coverage writes", self.0.len())
    }
}

/// A competing write to an environment's record, applied just before a put compares versions.
type InterleavedEnvironment = Box<dyn FnOnce(&mut EnvironmentRecord) + Send>;

/// Competing environment writes queued for the next `put_environment`s.
#[derive(Default)]
struct EnvironmentInterleavings(Vec<InterleavedEnvironment>);

impl std::fmt::Debug for EnvironmentInterleavings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} interleaved environment writes", self.0.len())
    }
}

impl FakeLedger {
    /// Every record.
    pub fn records(&self) -> Vec<PrRecord> {
        lock(&self.records).values().cloned().collect()
    }

    /// Every release record stored, by (repository, release id).
    pub fn releases(&self) -> Vec<ReleaseRecord> {
        lock(&self.releases).values().cloned().collect()
    }

    /// Makes another writer win just before the next put: `write` changes the stored record
    /// (which must exist) and its version moves on, so the put that follows conflicts, as it
    /// would when gate-report, a comment command or another push wrote in between. Queue
    /// several for several puts.
    pub fn interleave_next_put(&self, write: impl FnOnce(&mut PrRecord) + Send + 'static) {
        self.interleave_put_after(0, write);
    }

    /// Makes another writer win just before the next `put_environment`: `write` changes the
    /// stored environment record (which must exist) and its version moves on, so the put
    /// that follows conflicts, as it would when a push or another release wrote in between.
    pub fn interleave_next_environment_put(
        &self,
        write: impl FnOnce(&mut EnvironmentRecord) + Send + 'static,
    ) {
        lock(&self.interleaved_environments).0.push(Box::new(write));
    }

    /// The next `put_environment` fails with `error` (nothing is written); the other writes
    /// (`dynamodb:PutItem` too) are not affected, unlike `calls.fail_next`.
    pub fn fail_next_environment_put(&self, error: PortError) {
        lock(&self.environment_faults).push(error);
    }

    /// The coverage bases stored for `branch` (a name or a full ref), if any.
    pub fn stored_coverage_bases(
        &self,
        repository: &RepositoryName,
        branch: &str,
    ) -> Option<CoverageBases> {
        let key = (repository.clone(), branch_name(branch).to_owned());
        lock(&self.coverage).get(&key).cloned()
    }

    /// The repository's recorded passes ([`crate::reuse::ledger`]), if any were written.
    pub fn stored_reuse_passes(&self, repository: &RepositoryName) -> Option<LedgerPasses> {
        lock(&self.passes).get(repository).cloned()
    }

    /// The next read of recorded passes fails with `error`; the other ledger calls are not
    /// affected.
    pub fn fail_next_reuse_read(&self, error: PortError) {
        lock(&self.passes_read_faults).push(error);
    }

    /// The next read of coverage bases fails with `error`; the other ledger calls are not
    /// affected, unlike `calls.fail_next`.
    pub fn fail_next_coverage_read(&self, error: PortError) {
        lock(&self.coverage_read_faults).push(error);
    }

    /// The next write of coverage bases fails with `error` (nothing is written).
    pub fn fail_next_coverage_put(&self, error: PortError) {
        lock(&self.coverage_put_faults).push(error);
    }

    /// Makes another writer win just before the next `put_coverage_bases`: `write` changes
    /// the stored record (created empty when absent) and its version moves on, so the put
    /// that follows conflicts, as when another passed run onto the branch wrote in between.
    pub fn interleave_next_coverage_put(
        &self,
        write: impl FnOnce(&mut CoverageBases) + Send + 'static,
    ) {
        lock(&self.interleaved_coverage).0.push(Box::new(write));
    }

    fn coverage_fault(faults: &Mutex<Vec<PortError>>) -> PortResult<()> {
        let mut faults = lock(faults);
        if faults.is_empty() {
            Ok(())
        } else {
            Err(faults.remove(0))
        }
    }

    /// Like [`FakeLedger::interleave_next_put`], after `puts` puts that go through untouched.
    pub fn interleave_put_after(
        &self,
        puts: usize,
        write: impl FnOnce(&mut PrRecord) + Send + 'static,
    ) {
        let mut queue = lock(&self.interleaved);
        queue.0.extend((0..puts).map(|_| None));
        queue.0.push(Some(Box::new(write)));
    }
}

/// DynamoDB's conditional write on a map: stores `next` under `key` if the stored version
/// is `expected` (no entry counts as 0), else a conflict.
fn put_if_version<K: Ord, T>(
    all: &mut BTreeMap<K, T>,
    key: K,
    next: T,
    expected: u64,
    version: fn(&T) -> u64,
) -> Written {
    if all.get(&key).map_or(0, version) != expected {
        return Written::Conflict;
    }
    all.insert(key, next);
    Written::Written
}

impl Ledger for FakeLedger {
    async fn get(
        &self,
        repository: &RepositoryName,
        id: &PullRequestId,
    ) -> PortResult<Option<PrRecord>> {
        self.calls.call("dynamodb:GetItem").await?;
        Ok(lock(&self.records)
            .get(&(repository.clone(), id.clone()))
            .cloned())
    }

    async fn put(&self, record: &PrRecord) -> PortResult<Written> {
        self.calls.call("dynamodb:PutItem").await?;
        let mut all = lock(&self.records);
        let key = (record.repository.clone(), record.pull_request_id.clone());
        let competing = {
            let mut queue = lock(&self.interleaved);
            if queue.0.is_empty() {
                None
            } else {
                queue.0.remove(0)
            }
        };
        if let Some(write) = competing
            && let Some(stored) = all.get_mut(&key)
        {
            write(stored);
            stored.version += 1;
        }
        let stored = all.get(&key).map_or(0, |r| r.version);
        if stored != record.version {
            return Ok(Written::Conflict);
        }
        let mut next = record.clone();
        next.version += 1;
        all.insert(key, next);
        Ok(Written::Written)
    }

    async fn coverage_bases(
        &self,
        repository: &RepositoryName,
        branch: &str,
    ) -> PortResult<CoverageBases> {
        self.calls.call("dynamodb:GetItem").await?;
        Self::coverage_fault(&self.coverage_read_faults)?;
        let key = (repository.clone(), branch_name(branch).to_owned());
        Ok(lock(&self.coverage)
            .get(&key)
            .cloned()
            .unwrap_or_else(|| CoverageBases::empty(branch)))
    }

    async fn put_coverage_bases(
        &self,
        repository: &RepositoryName,
        record: &CoverageBases,
    ) -> PortResult<Written> {
        self.calls.call("dynamodb:PutItem").await?;
        Self::coverage_fault(&self.coverage_put_faults)?;
        let key = (repository.clone(), branch_name(&record.branch).to_owned());
        let mut all = lock(&self.coverage);
        let competing = {
            let mut queue = lock(&self.interleaved_coverage);
            (!queue.0.is_empty()).then(|| queue.0.remove(0))
        };
        if let Some(write) = competing {
            let stored = all
                .entry(key.clone())
                .or_insert_with(|| CoverageBases::empty(&record.branch));
            write(stored);
            stored.version += 1;
        }
        Ok(put_if_version(
            &mut all,
            key,
            record.written(),
            record.version,
            |r| r.version,
        ))
    }

    async fn reuse_passes(&self, repository: &RepositoryName) -> PortResult<LedgerPasses> {
        self.calls.call("dynamodb:GetItem").await?;
        Self::coverage_fault(&self.passes_read_faults)?;
        Ok(lock(&self.passes)
            .get(repository)
            .cloned()
            .unwrap_or_default())
    }

    async fn put_reuse_passes(
        &self,
        repository: &RepositoryName,
        record: &LedgerPasses,
    ) -> PortResult<Written> {
        self.calls.call("dynamodb:PutItem").await?;
        let mut all = lock(&self.passes);
        Ok(put_if_version(
            &mut all,
            repository.clone(),
            record.written(),
            record.version,
            |r| r.version,
        ))
    }

    async fn open_records(&self) -> PortResult<Vec<PrRecord>> {
        self.calls.call("dynamodb:Scan").await?;
        Ok(lock(&self.records)
            .values()
            .filter(|r| !r.closed)
            .cloned()
            .collect())
    }

    async fn environment(
        &self,
        repository: &RepositoryName,
        environment: &str,
    ) -> PortResult<Option<EnvironmentRecord>> {
        self.calls.call("dynamodb:GetItem").await?;
        Ok(lock(&self.environments)
            .get(&(repository.clone(), environment.to_owned()))
            .cloned())
    }

    async fn put_environment(&self, record: &EnvironmentRecord) -> PortResult<Written> {
        self.calls.call("dynamodb:PutItem").await?;
        {
            let mut faults = lock(&self.environment_faults);
            if !faults.is_empty() {
                return Err(faults.remove(0));
            }
        }
        let mut all = lock(&self.environments);
        let key = (record.repository.clone(), record.environment.clone());
        let competing = {
            let mut queue = lock(&self.interleaved_environments);
            (!queue.0.is_empty()).then(|| queue.0.remove(0))
        };
        if let Some(write) = competing
            && let Some(stored) = all.get_mut(&key)
        {
            write(stored);
            stored.version += 1;
        }
        let mut next = record.clone();
        next.version += 1;
        Ok(put_if_version(&mut all, key, next, record.version, |r| {
            r.version
        }))
    }

    async fn put_release(
        &self,
        repository: &RepositoryName,
        record: &ReleaseRecord,
    ) -> PortResult<()> {
        self.calls.call("dynamodb:PutItem").await?;
        lock(&self.releases).insert((repository.clone(), record.id.clone()), record.clone());
        Ok(())
    }
}

/// A fake SNS topic.
#[derive(Debug, Clone, Default)]
pub struct FakeNotifier {
    messages: Arc<Mutex<Vec<(String, String)>>>,
    /// Calls made.
    pub calls: Arc<Calls>,
}

impl FakeNotifier {
    /// Every (subject, message) published.
    pub fn messages(&self) -> Vec<(String, String)> {
        lock(&self.messages).clone()
    }
}

impl Notifier for FakeNotifier {
    async fn publish(&self, subject: &str, message: &str) -> PortResult<()> {
        self.calls.call("sns:Publish").await?;
        lock(&self.messages).push((subject.to_owned(), message.to_owned()));
        Ok(())
    }
}

/// A fake EventBridge bus.
#[derive(Debug, Clone, Default)]
pub struct FakeBus {
    events: Arc<Mutex<Vec<crate::announce::Announcement>>>,
    /// Calls made.
    pub calls: Arc<Calls>,
}

impl FakeBus {
    /// Every event put, in order.
    pub fn events(&self) -> Vec<crate::announce::Announcement> {
        lock(&self.events).clone()
    }
}

impl crate::ports::Bus for FakeBus {
    async fn put(&self, event: &crate::announce::Announcement) -> PortResult<()> {
        self.calls.call("events:PutEvents").await?;
        lock(&self.events).push(event.clone());
        Ok(())
    }
}

/// What a task token was answered with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TokenAnswer {
    /// `SendTaskSuccess` with this output.
    Success(String),
    /// `SendTaskFailure` with this error and cause.
    Failure {
        /// The error name.
        error: String,
        /// The cause.
        cause: String,
    },
}

/// Fake Step Functions callbacks: a token waits until it is answered once or expired; an
/// answer to a token that does not wait is [`crate::ports::TokenSent::Expired`], as
/// `TaskTimedOut` / `TaskDoesNotExist` / `InvalidToken` are on AWS.
#[derive(Debug, Clone, Default)]
pub struct FakeTaskTokens {
    waiting: Arc<Mutex<std::collections::BTreeSet<String>>>,
    answers: Arc<Mutex<Vec<(String, TokenAnswer)>>>,
    /// Calls made.
    pub calls: Arc<Calls>,
}

impl FakeTaskTokens {
    /// A waiting step issued `token`.
    pub fn issue(&self, token: &str) {
        lock(&self.waiting).insert(token.to_owned());
    }

    /// The step holding `token` timed out or ended.
    pub fn expire(&self, token: &str) {
        lock(&self.waiting).remove(token);
    }

    /// Every answer delivered, in order.
    pub fn answers(&self) -> Vec<(String, TokenAnswer)> {
        lock(&self.answers).clone()
    }

    fn answer(&self, token: &str, answer: TokenAnswer) -> crate::ports::TokenSent {
        if lock(&self.waiting).remove(token) {
            lock(&self.answers).push((token.to_owned(), answer));
            crate::ports::TokenSent::Delivered
        } else {
            crate::ports::TokenSent::Expired
        }
    }
}

impl crate::ports::TaskTokens for FakeTaskTokens {
    async fn succeed(&self, token: &str, output: &str) -> PortResult<crate::ports::TokenSent> {
        self.calls.call("states:SendTaskSuccess").await?;
        Ok(self.answer(token, TokenAnswer::Success(output.to_owned())))
    }

    async fn fail(
        &self,
        token: &str,
        error: &str,
        cause: &str,
    ) -> PortResult<crate::ports::TokenSent> {
        self.calls.call("states:SendTaskFailure").await?;
        Ok(self.answer(
            token,
            TokenAnswer::Failure {
                error: error.to_owned(),
                cause: cause.to_owned(),
            },
        ))
    }
}
