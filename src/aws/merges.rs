//! [`Merges`] over CodeCommit: the branch and merge calls of the gated merge (`GetBranch`,
//! `CreateUnreferencedMergeCommit`, `CreateBranch`, `DeleteBranch`,
//! `MergeBranchesByFastForward`, `UpdatePullRequestStatus`).
//!
//! Which modelled errors are answers rather than failures is decided here, once:
//!
//! | call | error | answer |
//! |------|-------|--------|
//! | `GetBranch` | `BranchDoesNotExistException` | `None` |
//! | `CreateUnreferencedMergeCommit` | `ManualMergeRequiredException` | [`MergeCommit::Conflict`] (file names from one `GetMergeConflicts` page, best effort) |
//! | `CreateBranch` | `BranchNameExistsException` | `Ok(false)` |
//! | `DeleteBranch` | `BranchDoesNotExistException`, any other `…DoesNotExistException` but the repository's | `Ok(false)` |
//! | `MergeBranchesByFastForward` | `ManualMergeRequiredException`, `ConcurrentReferenceUpdateException` | [`FastForward::BranchMoved`] |
//! | `UpdatePullRequestStatus` | `PullRequestAlreadyClosedException`, `InvalidPullRequestStatusUpdateException` | `Ok(())` |
//!
//! A fast-forward "merge commit" is not made by `CreateUnreferencedMergeCommit`: its reference
//! says the API "cannot be used with the fast-forward merge strategy because that strategy
//! does not create a merge commit". For [`QueueStrategy::FastForward`] the adapter asks
//! `GetMergeOptions` whether `FAST_FORWARD_MERGE` is possible and reads the source's tree with
//! `GetCommit` (docs/design.md, "Gated merge on AWS: API evidence").

use super::{permanent, port_error, service_err, unless_absent};
use crate::ids::{CommitId, PullRequestId, RepositoryName};
use crate::ports::PortResult;
use crate::ports::merges::{FastForward, MergeCommit, MergeMessage, Merges, QueueStrategy};
use aws_sdk_codecommit::Client;
use aws_sdk_codecommit::error::ProvideErrorMetadata;
use aws_sdk_codecommit::operation::create_branch::CreateBranchError;
use aws_sdk_codecommit::operation::create_unreferenced_merge_commit::CreateUnreferencedMergeCommitError;
use aws_sdk_codecommit::operation::get_branch::GetBranchError;
use aws_sdk_codecommit::operation::merge_branches_by_fast_forward::MergeBranchesByFastForwardError;
use aws_sdk_codecommit::types::{
    ConflictDetailLevelTypeEnum, ConflictResolutionStrategyTypeEnum, MergeOptionTypeEnum,
    PullRequestStatusEnum,
};

const GET_BRANCH: &str = "codecommit:GetBranch";
const GET_COMMIT: &str = "codecommit:GetCommit";
const GET_MERGE_OPTIONS: &str = "codecommit:GetMergeOptions";
const GET_MERGE_CONFLICTS: &str = "codecommit:GetMergeConflicts";
const CREATE_UNREFERENCED_MERGE_COMMIT: &str = "codecommit:CreateUnreferencedMergeCommit";
const CREATE_BRANCH: &str = "codecommit:CreateBranch";
const DELETE_BRANCH: &str = "codecommit:DeleteBranch";
const MERGE_BRANCHES_BY_FAST_FORWARD: &str = "codecommit:MergeBranchesByFastForward";
const UPDATE_PULL_REQUEST_STATUS: &str = "codecommit:UpdatePullRequestStatus";

/// How many conflicting files one `GetMergeConflicts` call names at most (the API's
/// `maxConflictFiles`); the conflict comment lists these, not every page.
pub const CONFLICT_FILES_LISTED: i32 = 100;

/// CodeCommit's merge calls. Build the client with the gate's CodeCommit identity
/// ([`super::Clients::from_config`]: the reporter role when one is set); tests pass a mocked
/// client.
#[derive(Debug, Clone)]
pub struct AwsMerges {
    client: Client,
}

impl AwsMerges {
    /// Wraps a CodeCommit client.
    pub fn new(client: Client) -> Self {
        Self { client }
    }
}

/// `MergeOptionTypeEnum` of a strategy.
fn merge_option(strategy: QueueStrategy) -> MergeOptionTypeEnum {
    match strategy {
        QueueStrategy::FastForward => MergeOptionTypeEnum::FastForwardMerge,
        QueueStrategy::Squash => MergeOptionTypeEnum::SquashMerge,
        QueueStrategy::ThreeWay => MergeOptionTypeEnum::ThreeWayMerge,
    }
}

/// A required, non-empty string of a response.
fn required(call: &'static str, value: Option<&str>, what: &str) -> PortResult<String> {
    value
        .filter(|v| !v.is_empty())
        .map(str::to_owned)
        .ok_or_else(|| permanent(call, format!("the response has no {what}")))
}

/// Whether `DeleteBranch`'s error says the branch is not there. The model lists no such
/// error (the behaviour for a missing branch is unconfirmed), so the code is matched: any
/// `…DoesNotExistException` but the repository's, which stays an error.
fn branch_missing(code: Option<&str>) -> bool {
    code.is_some_and(|c| {
        c.ends_with("DoesNotExistException") && c != "RepositoryDoesNotExistException"
    })
}

/// Whether `UpdatePullRequestStatus`'s error says the pull request is already closed: the
/// model's `InvalidPullRequestStatusUpdateException` ("the only valid update is from OPEN to
/// CLOSED", so CLOSED → CLOSED) or the merge calls' `PullRequestAlreadyClosedException`.
fn already_closed(code: Option<&str>) -> bool {
    matches!(
        code,
        Some("InvalidPullRequestStatusUpdateException" | "PullRequestAlreadyClosedException")
    )
}

impl AwsMerges {
    /// The fast-forward "merge": the source itself when `GetMergeOptions` lists
    /// `FAST_FORWARD_MERGE` (or the two are one commit), with its tree from `GetCommit`.
    async fn fast_forward_commit(
        &self,
        repository: &RepositoryName,
        source: &CommitId,
        destination: &CommitId,
    ) -> PortResult<MergeCommit> {
        if source != destination {
            let options = self
                .client
                .get_merge_options()
                .repository_name(repository.as_str())
                .source_commit_specifier(source.as_str())
                .destination_commit_specifier(destination.as_str())
                .send()
                .await
                .map_err(|e| port_error(GET_MERGE_OPTIONS, e))?;
            if !options
                .merge_options()
                .contains(&MergeOptionTypeEnum::FastForwardMerge)
            {
                return Ok(MergeCommit::NotFastForward);
            }
        }
        let output = self
            .client
            .get_commit()
            .repository_name(repository.as_str())
            .commit_id(source.as_str())
            .send()
            .await
            .map_err(|e| port_error(GET_COMMIT, e))?;
        let commit = output
            .commit()
            .ok_or_else(|| permanent(GET_COMMIT, "the response has no commit"))?;
        Ok(MergeCommit::Created {
            commit: source.clone(),
            tree: required(GET_COMMIT, commit.tree_id(), "treeId")?,
        })
    }

    /// The conflicting files of a merge CodeCommit refused: the first `GetMergeConflicts`
    /// page (up to [`CONFLICT_FILES_LISTED`] files). Best effort: the conflict is certain
    /// without the names, so a failing lookup is logged and gives an empty list.
    async fn conflicting_files(
        &self,
        repository: &RepositoryName,
        source: &CommitId,
        destination: &CommitId,
        strategy: QueueStrategy,
    ) -> Vec<String> {
        let result = self
            .client
            .get_merge_conflicts()
            .repository_name(repository.as_str())
            .source_commit_specifier(source.as_str())
            .destination_commit_specifier(destination.as_str())
            .merge_option(merge_option(strategy))
            .conflict_detail_level(ConflictDetailLevelTypeEnum::FileLevel)
            .max_conflict_files(CONFLICT_FILES_LISTED)
            .send()
            .await;
        match result {
            Ok(output) => output
                .conflict_metadata_list()
                .iter()
                .filter_map(|c| c.file_path())
                .map(str::to_owned)
                .collect(),
            Err(e) => {
                // port_error logs the failure; the conflict is reported without names.
                let _ = port_error(GET_MERGE_CONFLICTS, e);
                Vec::new()
            }
        }
    }
}

impl Merges for AwsMerges {
    async fn branch_tip(
        &self,
        repository: &RepositoryName,
        branch: &str,
    ) -> PortResult<Option<CommitId>> {
        let result = self
            .client
            .get_branch()
            .repository_name(repository.as_str())
            .branch_name(branch)
            .send()
            .await;
        let absent =
            |e: &GetBranchError| matches!(e, GetBranchError::BranchDoesNotExistException(_));
        let Some(output) = unless_absent(GET_BRANCH, result, absent)? else {
            return Ok(None);
        };
        let commit = required(
            GET_BRANCH,
            output.branch().and_then(|b| b.commit_id()),
            "branch.commitId",
        )?;
        Ok(Some(CommitId::new(commit)))
    }

    async fn create_merge_commit(
        &self,
        repository: &RepositoryName,
        source: &CommitId,
        destination: &CommitId,
        strategy: QueueStrategy,
        message: &MergeMessage,
    ) -> PortResult<MergeCommit> {
        if strategy == QueueStrategy::FastForward {
            return self
                .fast_forward_commit(repository, source, destination)
                .await;
        }
        let result = self
            .client
            .create_unreferenced_merge_commit()
            .repository_name(repository.as_str())
            .source_commit_specifier(source.as_str())
            .destination_commit_specifier(destination.as_str())
            .merge_option(merge_option(strategy))
            .conflict_detail_level(ConflictDetailLevelTypeEnum::FileLevel)
            .conflict_resolution_strategy(ConflictResolutionStrategyTypeEnum::None)
            .author_name(&message.author_name)
            .email(&message.email)
            .commit_message(&message.message)
            .send()
            .await;
        match result {
            Ok(output) => Ok(MergeCommit::Created {
                commit: CommitId::new(required(
                    CREATE_UNREFERENCED_MERGE_COMMIT,
                    output.commit_id(),
                    "commitId",
                )?),
                tree: required(CREATE_UNREFERENCED_MERGE_COMMIT, output.tree_id(), "treeId")?,
            }),
            Err(e)
                if matches!(
                    service_err(&e),
                    Some(CreateUnreferencedMergeCommitError::ManualMergeRequiredException(_))
                ) =>
            {
                let files = self
                    .conflicting_files(repository, source, destination, strategy)
                    .await;
                Ok(MergeCommit::Conflict { files })
            }
            Err(e) => Err(port_error(CREATE_UNREFERENCED_MERGE_COMMIT, e)),
        }
    }

    async fn create_branch(
        &self,
        repository: &RepositoryName,
        branch: &str,
        commit: &CommitId,
    ) -> PortResult<bool> {
        let result = self
            .client
            .create_branch()
            .repository_name(repository.as_str())
            .branch_name(branch)
            .commit_id(commit.as_str())
            .send()
            .await;
        let exists =
            |e: &CreateBranchError| matches!(e, CreateBranchError::BranchNameExistsException(_));
        Ok(unless_absent(CREATE_BRANCH, result, exists)?.is_some())
    }

    async fn delete_branch(&self, repository: &RepositoryName, branch: &str) -> PortResult<bool> {
        let result = self
            .client
            .delete_branch()
            .repository_name(repository.as_str())
            .branch_name(branch)
            .send()
            .await;
        let missing = |e: &_| branch_missing(ProvideErrorMetadata::code(e));
        Ok(unless_absent(DELETE_BRANCH, result, missing)?.is_some())
    }

    async fn fast_forward(
        &self,
        repository: &RepositoryName,
        target_branch: &str,
        commit: &CommitId,
    ) -> PortResult<FastForward> {
        let result = self
            .client
            .merge_branches_by_fast_forward()
            .repository_name(repository.as_str())
            .source_commit_specifier(commit.as_str())
            .destination_commit_specifier(target_branch)
            .target_branch(target_branch)
            .send()
            .await;
        let moved = |e: &MergeBranchesByFastForwardError| {
            matches!(
                e,
                MergeBranchesByFastForwardError::ManualMergeRequiredException(_)
                    | MergeBranchesByFastForwardError::ConcurrentReferenceUpdateException(_)
            )
        };
        let Some(output) = unless_absent(MERGE_BRANCHES_BY_FAST_FORWARD, result, moved)? else {
            return Ok(FastForward::BranchMoved);
        };
        // The branch's new tip as CodeCommit reports it (a fast-forward can only land on the
        // source commit; a response without it is taken at the request's word).
        let tip = output
            .commit_id()
            .filter(|c| !c.is_empty())
            .map_or_else(|| commit.clone(), CommitId::new);
        Ok(FastForward::Moved { commit: tip })
    }

    async fn close_pull_request(&self, id: &PullRequestId) -> PortResult<()> {
        let result = self
            .client
            .update_pull_request_status()
            .pull_request_id(id.as_str())
            .pull_request_status(PullRequestStatusEnum::Closed)
            .send()
            .await;
        let closed = |e: &_| already_closed(ProvideErrorMetadata::code(e));
        unless_absent(UPDATE_PULL_REQUEST_STATUS, result, closed)?;
        Ok(())
    }
}
