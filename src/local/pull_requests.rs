//! `LocalPullRequests`: the `PullRequests` port served from git repositories on this machine, with pull requests, comments and approvals kept in each repository's `.gate/`.
//!
//! Repositories map by name through `GATE_REPOS_DIR`: the repository `shop` is the clone
//! `$GATE_REPOS_DIR/shop`. Files, differences and mergeability come from git itself. Pull
//! requests are records `gate event` writes (`.gate/prs/<id>.json`); an open one follows its
//! branches live, as CodeCommit does: its source and destination commits are the branches'
//! tips now, and its revision id is derived from them ([`revision_id`]), so a push makes a new
//! revision and an approval of the old one stops counting. Comments (`.gate/comments/`) and
//! approvals behave like CodeCommit's: idempotency tokens, only the author may edit, approvals
//! bind to one revision, a closed pull request takes none.

use crate::ids::{CommentId, CommitId, PullRequestId, RepositoryName, RevisionId};
use crate::local::git::{GitError, MergeTrial, Repo};
use crate::local::store::{self, Store, Utc};
use crate::local::worktree;
use crate::plan::ChangedPath;
use crate::ports::{
    ApprovalOutcome, ApprovalRule, ApprovalState, CommentData, CommentTarget, Mergeability,
    PortError, PortResult, PrStatus, PullRequestState, PullRequests, RuleWritten, codes,
};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// The environment variable naming the folder that holds the local repositories.
pub const REPOS_DIR_ENV: &str = "GATE_REPOS_DIR";

/// The folder of local repositories: `$GATE_REPOS_DIR`, else `fallback`.
pub fn repos_dir(fallback: &Path) -> PathBuf {
    std::env::var_os(REPOS_DIR_ENV)
        .filter(|v| !v.is_empty())
        .map_or_else(|| fallback.to_path_buf(), PathBuf::from)
}

/// The revision id of a pull request at a pair of commits: 64 hex digits, the same for the
/// same repository, pull request and commits (a push or a destination move gives a new one).
pub fn revision_id(
    repository: &str,
    pull_request: &str,
    source: &str,
    destination: &str,
) -> String {
    store::hex_digest(
        &["revision", repository, pull_request, source, destination],
        64,
    )
}

/// An approval rule on a local pull request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredRule {
    /// Its name.
    pub name: String,
    /// Its content (the approval rule template JSON).
    pub content: String,
}

/// An approval state set on one revision.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredApproval {
    /// The revision.
    pub revision_id: String,
    /// APPROVE or REVOKE.
    pub state: ApprovalState,
    /// Who set it.
    pub by: String,
    /// When, RFC 3339.
    pub at: String,
}

/// A local pull request: `.gate/prs/<id>.json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredPullRequest {
    /// Its id.
    pub id: String,
    /// Title.
    pub title: String,
    /// Description.
    #[serde(default)]
    pub description: Option<String>,
    /// Who opened it.
    pub author_arn: String,
    /// `refs/heads/...` of the source (or a commit, which never moves).
    pub source_reference: String,
    /// `refs/heads/...` of the destination.
    pub destination_reference: String,
    /// The source commit at the last event (the live one while open).
    pub source_commit: String,
    /// The destination commit at the last event.
    pub destination_commit: String,
    /// Open or closed.
    pub status: PrStatus,
    /// Whether it was merged.
    #[serde(default)]
    pub is_merged: bool,
    /// When it was created, as CodeCommit writes dates.
    pub creation_date: String,
    /// Approval rules.
    #[serde(default)]
    pub approval_rules: Vec<StoredRule>,
    /// Approval states, one per revision.
    #[serde(default)]
    pub approvals: Vec<StoredApproval>,
}

/// A comment: `.gate/comments/<id>.json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredComment {
    /// Its id.
    pub id: String,
    /// The pull request.
    pub pull_request_id: String,
    /// Its text.
    pub content: String,
    /// Who wrote it.
    pub author_arn: String,
    /// Whether it was deleted.
    #[serde(default)]
    pub deleted: bool,
    /// The comment it replies to.
    #[serde(default)]
    pub in_reply_to: Option<String>,
    /// The idempotency token it was posted with.
    #[serde(default)]
    pub token: Option<String>,
    /// The destination commit it was made on.
    #[serde(default)]
    pub before_commit: Option<String>,
    /// The source commit it was made on.
    #[serde(default)]
    pub after_commit: Option<String>,
    /// When, RFC 3339.
    pub created_at: String,
    /// How often it was edited.
    #[serde(default)]
    pub updates: u32,
}

impl StoredComment {
    fn data(&self) -> CommentData {
        CommentData {
            id: CommentId::new(self.id.clone()),
            content: self.content.clone(),
            author_arn: self.author_arn.clone(),
            deleted: self.deleted,
        }
    }
}

/// A new comment id, shaped like CodeCommit's (a UUID).
pub fn new_comment_id(seed: &[&str]) -> String {
    let unique = store::unique().to_string();
    let mut parts = vec!["comment", unique.as_str()];
    parts.extend_from_slice(seed);
    uuid_like(&store::hex_digest(&parts, 32))
}

/// 32 hex digits as `8-4-4-4-12`.
pub fn uuid_like(hex: &str) -> String {
    let h: String = hex.chars().chain(std::iter::repeat('0')).take(32).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &h[..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    )
}

/// A refusal with AWS's error code as the message, classified as the AWS adapters classify it.
fn permanent(call: &'static str, code: &str) -> PortError {
    PortError::rejected(call, code, code)
}

fn io_error(call: &'static str) -> impl Fn(std::io::Error) -> PortError {
    move |e| PortError::Transient {
        call,
        message: e.to_string(),
    }
}

fn git_failure(call: &'static str) -> impl Fn(GitError) -> PortError {
    move |e| match e {
        GitError::Spawn(e) => PortError::Transient {
            call,
            message: e.to_string(),
        },
        GitError::Failed { .. } => PortError::Permanent {
            call,
            message: e.to_string(),
        },
    }
}

/// CodeCommit, served from local git repositories.
#[derive(Debug, Clone)]
pub struct LocalPullRequests {
    repos_dir: PathBuf,
    caller_arn: String,
}

/// Pull requests and comments of every repository, found by id.
#[derive(Debug, Clone)]
pub struct Found<T> {
    /// The repository's name.
    pub repository: String,
    /// Its store.
    pub store: Store,
    /// What was found.
    pub value: T,
}

impl LocalPullRequests {
    /// Repositories under `repos_dir`, writing as `caller_arn` (the gate's identity).
    pub fn new(repos_dir: impl Into<PathBuf>, caller_arn: impl Into<String>) -> Self {
        Self {
            repos_dir: repos_dir.into(),
            caller_arn: caller_arn.into(),
        }
    }

    /// Repositories under `$GATE_REPOS_DIR` (else the current folder).
    pub fn from_env(caller_arn: impl Into<String>) -> Self {
        Self::new(repos_dir(Path::new(".")), caller_arn)
    }

    /// The same store, writing as another identity (a human commenting, say).
    pub fn as_caller(&self, caller_arn: &str) -> Self {
        Self::new(self.repos_dir.clone(), caller_arn)
    }

    /// The folder of repositories.
    pub fn repos_dir(&self) -> &Path {
        &self.repos_dir
    }

    fn repo(&self, call: &'static str, name: &RepositoryName) -> PortResult<Repo> {
        let dir = self.repos_dir.join(name.as_str());
        if name.as_str().contains(['/', '\\']) || name.as_str().starts_with('.') || !dir.is_dir() {
            return Err(PortError::rejected(
                call,
                codes::REPOSITORY_DOES_NOT_EXIST,
                format!("no repository `{name}` in {}", self.repos_dir.display()),
            ));
        }
        Repo::open(&dir).map_err(git_failure(call))
    }

    /// The stores of every repository under the folder, by repository name.
    fn stores(&self) -> Vec<(String, Store)> {
        let Ok(entries) = std::fs::read_dir(&self.repos_dir) else {
            return Vec::new();
        };
        let mut out: Vec<(String, Store)> = entries
            .filter_map(Result::ok)
            .filter(|e| e.path().join(store::DIR).is_dir())
            .map(|e| {
                (
                    e.file_name().to_string_lossy().into_owned(),
                    Store::new(e.path()),
                )
            })
            .collect();
        out.sort_by(|a, b| a.0.cmp(&b.0));
        out
    }

    /// The pull request with this id, in whichever repository holds it.
    pub fn find_pull_request(&self, id: &str) -> PortResult<Option<Found<StoredPullRequest>>> {
        const CALL: &str = "codecommit:GetPullRequest";
        let mut found = Vec::new();
        for (repository, store) in self.stores() {
            if let Some(value) = store::read_json::<StoredPullRequest>(&store.pull_request(id))
                .map_err(io_error(CALL))?
            {
                found.push(Found {
                    repository,
                    store,
                    value,
                });
            }
        }
        if found.len() > 1 {
            let names: Vec<&str> = found.iter().map(|f| f.repository.as_str()).collect();
            return Err(PortError::Permanent {
                call: CALL,
                message: format!(
                    "pull request {id} exists in several repositories: {}",
                    names.join(", ")
                ),
            });
        }
        Ok(found.pop())
    }

    /// The comment with this id, in whichever repository holds it.
    pub fn find_stored_comment(&self, id: &str) -> PortResult<Option<Found<StoredComment>>> {
        for (repository, store) in self.stores() {
            if let Some(value) = store::read_json::<StoredComment>(&store.comment(id))
                .map_err(io_error("codecommit:GetComment"))?
                && value.id == id
            {
                return Ok(Some(Found {
                    repository,
                    store,
                    value,
                }));
            }
        }
        Ok(None)
    }

    fn comments_of(store: &Store) -> PortResult<Vec<StoredComment>> {
        let mut comments = Vec::new();
        for path in store::json_files(&store.comments())
            .map_err(io_error("codecommit:GetCommentsForPullRequest"))?
        {
            if let Some(c) = store::read_json::<StoredComment>(&path)
                .map_err(io_error("codecommit:GetCommentsForPullRequest"))?
            {
                comments.push(c);
            }
        }
        comments.sort_by(|a, b| a.created_at.cmp(&b.created_at).then(a.id.cmp(&b.id)));
        Ok(comments)
    }

    /// The state of a stored pull request now: an open one follows its branches.
    pub fn state_of(&self, found: &Found<StoredPullRequest>) -> PortResult<PullRequestState> {
        const CALL: &str = "codecommit:GetPullRequest";
        let pr = &found.value;
        let repo = self.repo(CALL, &RepositoryName::new(found.repository.clone()))?;
        let (source, destination) = if pr.status == PrStatus::Open {
            (
                repo.resolve(&pr.source_reference)
                    .unwrap_or_else(|_| pr.source_commit.clone()),
                repo.resolve(&pr.destination_reference)
                    .unwrap_or_else(|_| pr.destination_commit.clone()),
            )
        } else {
            (pr.source_commit.clone(), pr.destination_commit.clone())
        };
        Ok(PullRequestState {
            repository: RepositoryName::new(found.repository.clone()),
            id: PullRequestId::new(pr.id.clone()),
            title: pr.title.clone(),
            description: pr.description.clone(),
            author_arn: pr.author_arn.clone(),
            status: pr.status,
            is_merged: pr.is_merged,
            source_reference: pr.source_reference.clone(),
            destination_reference: pr.destination_reference.clone(),
            merge_base: repo
                .merge_base(&source, &destination)
                .ok()
                .map(CommitId::new),
            revision_id: RevisionId::new(revision_id(
                &found.repository,
                &pr.id,
                &source,
                &destination,
            )),
            source_commit: CommitId::new(source),
            destination_commit: CommitId::new(destination),
            approval_rules: pr
                .approval_rules
                .iter()
                .map(|r| ApprovalRule::on_pull_request(&r.name, &r.content))
                .collect(),
        })
    }

    /// The approval state the gate set for a revision, if any.
    pub fn approval(
        &self,
        id: &PullRequestId,
        revision: &RevisionId,
    ) -> PortResult<Option<ApprovalState>> {
        Ok(self.find_pull_request(id.as_str())?.and_then(|f| {
            f.value
                .approvals
                .iter()
                .find(|a| a.revision_id == revision.as_str())
                .map(|a| a.state)
        }))
    }

    /// Every comment on a pull request, oldest first.
    pub fn comments(
        &self,
        repository: &RepositoryName,
        id: &PullRequestId,
    ) -> PortResult<Vec<StoredComment>> {
        let store = Store::new(self.repos_dir.join(repository.as_str()));
        Ok(Self::comments_of(&store)?
            .into_iter()
            .filter(|c| c.pull_request_id == id.as_str())
            .collect())
    }

    fn write_comment(call: &'static str, store: &Store, comment: &StoredComment) -> PortResult<()> {
        store::write_json(&store.comment(&comment.id), comment).map_err(io_error(call))
    }

    fn write_pull_request(
        call: &'static str,
        store: &Store,
        pr: &StoredPullRequest,
    ) -> PortResult<()> {
        store::write_json(&store.pull_request(&pr.id), pr).map_err(io_error(call))
    }
}

impl PullRequests for LocalPullRequests {
    async fn pull_request(&self, id: &PullRequestId) -> PortResult<PullRequestState> {
        const CALL: &str = "codecommit:GetPullRequest";
        let found = self.find_pull_request(id.as_str())?.ok_or_else(|| {
            PortError::rejected(
                CALL,
                codes::PULL_REQUEST_DOES_NOT_EXIST,
                format!("no pull request {id}"),
            )
        })?;
        self.state_of(&found)
    }

    async fn file(
        &self,
        repository: &RepositoryName,
        commit: &CommitId,
        path: &str,
    ) -> PortResult<Option<Vec<u8>>> {
        const CALL: &str = "codecommit:GetFile";
        let repo = self.repo(CALL, repository)?;
        repo.resolve(commit.as_str()).map_err(git_failure(CALL))?;
        repo.file_at(commit.as_str(), path.trim_start_matches('/'))
            .map_err(git_failure(CALL))
    }

    async fn changed_paths(
        &self,
        repository: &RepositoryName,
        before: &CommitId,
        after: &CommitId,
    ) -> PortResult<Vec<ChangedPath>> {
        const CALL: &str = "codecommit:GetDifferences";
        self.repo(CALL, repository)?
            .diff_paths(before.as_str(), after.as_str())
            .map_err(git_failure(CALL))
    }

    async fn commit_files(
        &self,
        repository: &RepositoryName,
        commit: &CommitId,
    ) -> PortResult<Vec<(String, String)>> {
        const CALL: &str = "codecommit:GetDifferences";
        // The same listing the local `gate release` computes its artifact keys from.
        self.repo(CALL, repository)?
            .files_at(commit.as_str())
            .map_err(git_failure(CALL))
    }

    async fn mergeability(
        &self,
        repository: &RepositoryName,
        source: &CommitId,
        destination: &CommitId,
    ) -> PortResult<Mergeability> {
        const CALL: &str = "codecommit:GetMergeConflicts";
        let repo = self.repo(CALL, repository)?;
        match worktree::trial_merge(&repo, destination.as_str(), source.as_str())
            .map_err(git_failure(CALL))?
        {
            MergeTrial::Clean { .. } => Ok(Mergeability::Clean),
            MergeTrial::Conflicts { paths } => Ok(Mergeability::Conflicts { paths }),
        }
    }

    async fn comment(&self, id: &CommentId) -> PortResult<Option<CommentData>> {
        Ok(self
            .find_stored_comment(id.as_str())?
            .map(|f| f.value.data()))
    }

    async fn find_comment(
        &self,
        repository: &RepositoryName,
        id: &PullRequestId,
        author_arn: &str,
        marker: &str,
    ) -> PortResult<Option<CommentData>> {
        Ok(self
            .comments(repository, id)?
            .into_iter()
            .rev()
            .find(|c| {
                crate::ports::is_gate_comment(
                    Some(&c.author_arn),
                    Some(&c.content),
                    c.deleted,
                    author_arn,
                    marker,
                )
            })
            .map(|c| c.data()))
    }

    async fn post_comment(
        &self,
        target: &CommentTarget,
        content: &str,
        token: &str,
    ) -> PortResult<CommentId> {
        const CALL: &str = "codecommit:PostCommentForPullRequest";
        if let Some(code) = crate::ports::comment_refusal(content, Some(target)) {
            return Err(permanent(CALL, code));
        }
        self.repo(CALL, &target.repository)?;
        let store = Store::new(self.repos_dir.join(target.repository.as_str()));
        let _lock = store.lock().map_err(io_error(CALL))?;
        if store::read_json::<StoredPullRequest>(
            &store.pull_request(target.pull_request_id.as_str()),
        )
        .map_err(io_error(CALL))?
        .is_none()
        {
            return Err(permanent(CALL, codes::PULL_REQUEST_DOES_NOT_EXIST));
        }
        if let Some(existing) = Self::comments_of(&store)?
            .into_iter()
            .find(|c| c.token.as_deref() == Some(token))
        {
            return if existing.pull_request_id == target.pull_request_id.as_str() {
                Ok(CommentId::new(existing.id))
            } else {
                Err(permanent(CALL, codes::IDEMPOTENCY_MISMATCH))
            };
        }
        let comment = StoredComment {
            id: new_comment_id(&[
                target.repository.as_str(),
                target.pull_request_id.as_str(),
                token,
            ]),
            pull_request_id: target.pull_request_id.as_str().to_owned(),
            content: content.to_owned(),
            author_arn: self.caller_arn.clone(),
            deleted: false,
            in_reply_to: None,
            token: Some(token.to_owned()),
            before_commit: Some(target.before_commit.as_str().to_owned()),
            after_commit: Some(target.after_commit.as_str().to_owned()),
            created_at: Utc::now().rfc3339_millis(),
            updates: 0,
        };
        Self::write_comment(CALL, &store, &comment)?;
        Ok(CommentId::new(comment.id))
    }

    async fn update_comment(&self, id: &CommentId, content: &str) -> PortResult<()> {
        const CALL: &str = "codecommit:UpdateComment";
        if let Some(code) = crate::ports::comment_refusal(content, None) {
            return Err(permanent(CALL, code));
        }
        let found = self
            .find_stored_comment(id.as_str())?
            .ok_or_else(|| permanent(CALL, codes::COMMENT_DOES_NOT_EXIST))?;
        let _lock = found.store.lock().map_err(io_error(CALL))?;
        let mut c = store::read_json::<StoredComment>(&found.store.comment(id.as_str()))
            .map_err(io_error(CALL))?
            .ok_or_else(|| permanent(CALL, codes::COMMENT_DOES_NOT_EXIST))?;
        if c.deleted {
            return Err(permanent(CALL, codes::COMMENT_DELETED));
        }
        if c.author_arn != self.caller_arn {
            return Err(permanent(CALL, codes::COMMENT_NOT_CREATED_BY_CALLER));
        }
        if c.content != content {
            c.content = content.to_owned();
            c.updates += 1;
            Self::write_comment(CALL, &found.store, &c)?;
        }
        Ok(())
    }

    async fn reply(&self, to: &CommentId, content: &str, token: &str) -> PortResult<CommentId> {
        const CALL: &str = "codecommit:PostCommentReply";
        if let Some(code) = crate::ports::comment_refusal(content, None) {
            return Err(permanent(CALL, code));
        }
        let parent = self
            .find_stored_comment(to.as_str())?
            .ok_or_else(|| permanent(CALL, codes::COMMENT_DOES_NOT_EXIST))?;
        let store = parent.store;
        let _lock = store.lock().map_err(io_error(CALL))?;
        if let Some(existing) = Self::comments_of(&store)?
            .into_iter()
            .find(|c| c.token.as_deref() == Some(token))
        {
            return Ok(CommentId::new(existing.id));
        }
        let comment = StoredComment {
            id: new_comment_id(&[&parent.repository, to.as_str(), token]),
            pull_request_id: parent.value.pull_request_id.clone(),
            content: content.to_owned(),
            author_arn: self.caller_arn.clone(),
            deleted: false,
            in_reply_to: Some(to.as_str().to_owned()),
            token: Some(token.to_owned()),
            before_commit: parent.value.before_commit.clone(),
            after_commit: parent.value.after_commit.clone(),
            created_at: Utc::now().rfc3339_millis(),
            updates: 0,
        };
        Self::write_comment(CALL, &store, &comment)?;
        Ok(CommentId::new(comment.id))
    }

    async fn ensure_approval_rule(
        &self,
        id: &PullRequestId,
        name: &str,
        content: &str,
    ) -> PortResult<RuleWritten> {
        const CALL: &str = "codecommit:CreatePullRequestApprovalRule";
        let found = self
            .find_pull_request(id.as_str())?
            .ok_or_else(|| permanent(CALL, codes::PULL_REQUEST_DOES_NOT_EXIST))?;
        let _lock = found.store.lock().map_err(io_error(CALL))?;
        let mut pr = store::read_json::<StoredPullRequest>(&found.store.pull_request(id.as_str()))
            .map_err(io_error(CALL))?
            .ok_or_else(|| permanent(CALL, codes::PULL_REQUEST_DOES_NOT_EXIST))?;
        if pr.status == PrStatus::Closed {
            return Err(permanent(CALL, codes::PULL_REQUEST_ALREADY_CLOSED));
        }
        let written = match pr.approval_rules.iter_mut().find(|r| r.name == name) {
            Some(rule) => {
                rule.content = content.to_owned();
                RuleWritten::Updated
            }
            None => {
                pr.approval_rules.push(StoredRule {
                    name: name.to_owned(),
                    content: content.to_owned(),
                });
                RuleWritten::Created
            }
        };
        Self::write_pull_request(CALL, &found.store, &pr)?;
        Ok(written)
    }

    async fn set_approval(
        &self,
        id: &PullRequestId,
        revision: &RevisionId,
        state: ApprovalState,
    ) -> PortResult<ApprovalOutcome> {
        const CALL: &str = "codecommit:UpdatePullRequestApprovalState";
        let found = self
            .find_pull_request(id.as_str())?
            .ok_or_else(|| permanent(CALL, codes::PULL_REQUEST_DOES_NOT_EXIST))?;
        let _lock = found.store.lock().map_err(io_error(CALL))?;
        let Some(mut pr) =
            store::read_json::<StoredPullRequest>(&found.store.pull_request(id.as_str()))
                .map_err(io_error(CALL))?
        else {
            return Err(permanent(CALL, codes::PULL_REQUEST_DOES_NOT_EXIST));
        };
        let current = self.state_of(&Found {
            repository: found.repository.clone(),
            store: found.store.clone(),
            value: pr.clone(),
        })?;
        if current.status == PrStatus::Closed {
            return Ok(ApprovalOutcome::Closed);
        }
        if &current.revision_id != revision {
            return Ok(ApprovalOutcome::RevisionNotCurrent);
        }
        pr.approvals.retain(|a| a.revision_id != revision.as_str());
        pr.approvals.push(StoredApproval {
            revision_id: revision.as_str().to_owned(),
            state,
            by: self.caller_arn.clone(),
            at: Utc::now().rfc3339_millis(),
        });
        Self::write_pull_request(CALL, &found.store, &pr)?;
        Ok(ApprovalOutcome::Applied)
    }
}
