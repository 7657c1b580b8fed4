//! [`PullRequests`] over CodeCommit: reads the PR, its files, diffs and conflicts; writes the sticky comment, replies, the approval rule and approvals.

use super::{permanent, port_error, service_err, unless_absent};
use crate::ids::{CommentId, CommitId, PullRequestId, RepositoryName, RevisionId};
use crate::plan::ChangedPath;
use crate::ports::{
    ApprovalOutcome, ApprovalRule, ApprovalState, CommentData, CommentTarget, Mergeability,
    PortResult, PrStatus, PullRequestState, PullRequests, RuleWritten,
};
use aws_sdk_codecommit::Client;
use aws_sdk_codecommit::operation::create_pull_request_approval_rule::CreatePullRequestApprovalRuleError;
use aws_sdk_codecommit::operation::get_comment::GetCommentError;
use aws_sdk_codecommit::operation::get_file::GetFileError;
use aws_sdk_codecommit::operation::update_pull_request_approval_state::UpdatePullRequestApprovalStateError;
use aws_sdk_codecommit::types::{
    ApprovalState as SdkApprovalState, ChangeTypeEnum, Comment, Difference, MergeOptionTypeEnum,
    PullRequestStatusEnum,
};

/// `MaxResults` for `GetDifferences` pages.
pub const DIFFERENCES_PAGE_SIZE: i32 = 400;
/// How many `GetDifferences` pages [`PullRequests::commit_files`] reads at most: 250 pages
/// of [`DIFFERENCES_PAGE_SIZE`] are 100,000 files, a repository bigger than the gate is made
/// for (each page is one call, paid in the Lambda's time). Beyond it the listing is a
/// permanent error: a partial listing would give a wrong artifact key.
pub const COMMIT_FILES_MAX_PAGES: usize = 250;
/// `maxResults` for `GetCommentsForPullRequest` pages.
pub const COMMENTS_PAGE_SIZE: i32 = 100;

const GET_PULL_REQUEST: &str = "codecommit:GetPullRequest";
const GET_FILE: &str = "codecommit:GetFile";
const GET_DIFFERENCES: &str = "codecommit:GetDifferences";
const GET_MERGE_CONFLICTS: &str = "codecommit:GetMergeConflicts";
const GET_COMMENT: &str = "codecommit:GetComment";
const GET_COMMENTS_FOR_PULL_REQUEST: &str = "codecommit:GetCommentsForPullRequest";
const POST_COMMENT_FOR_PULL_REQUEST: &str = "codecommit:PostCommentForPullRequest";
const UPDATE_COMMENT: &str = "codecommit:UpdateComment";
const POST_COMMENT_REPLY: &str = "codecommit:PostCommentReply";
const CREATE_PULL_REQUEST_APPROVAL_RULE: &str = "codecommit:CreatePullRequestApprovalRule";
const UPDATE_PULL_REQUEST_APPROVAL_STATE: &str = "codecommit:UpdatePullRequestApprovalState";
const UPDATE_PULL_REQUEST_APPROVAL_RULE_CONTENT: &str =
    "codecommit:UpdatePullRequestApprovalRuleContent";

/// CodeCommit as the gate uses it. Build the client with the reporting identity
/// ([`super::Clients::from_config`]); tests pass a mocked client.
#[derive(Debug, Clone)]
pub struct AwsPullRequests {
    client: Client,
}

impl AwsPullRequests {
    /// Wraps a CodeCommit client.
    pub fn new(client: Client) -> Self {
        Self { client }
    }

    /// The wrapped client.
    pub fn client(&self) -> &Client {
        &self.client
    }
}

fn required<'a>(call: &'static str, value: Option<&'a str>, what: &str) -> PortResult<&'a str> {
    value
        .filter(|v| !v.is_empty())
        .ok_or_else(|| permanent(call, format!("the response has no {what}")))
}

fn comment_data(call: &'static str, comment: &Comment) -> PortResult<CommentData> {
    Ok(CommentData {
        id: CommentId::new(required(call, comment.comment_id(), "commentId")?),
        content: comment.content().unwrap_or_default().to_owned(),
        author_arn: comment.author_arn().unwrap_or_default().to_owned(),
        deleted: comment.deleted(),
    })
}

/// One `GetDifferences` entry as a changed path: added and modified files name the after
/// path, deleted ones the before path, and a rename or move (both paths, different) names both.
fn changed_path(difference: &Difference) -> Option<ChangedPath> {
    let before = difference
        .before_blob()
        .and_then(|b| b.path())
        .filter(|p| !p.is_empty());
    let after = difference
        .after_blob()
        .and_then(|b| b.path())
        .filter(|p| !p.is_empty());
    match (difference.change_type(), before, after) {
        (_, Some(before), Some(after)) if before != after => {
            Some(ChangedPath::renamed(before, after))
        }
        (Some(ChangeTypeEnum::Deleted), Some(before), _) => Some(ChangedPath::new(before)),
        (_, _, Some(after)) => Some(ChangedPath::new(after)),
        (_, Some(before), None) => Some(ChangedPath::new(before)),
        (_, None, None) => None,
    }
}

/// One difference of a commit against nothing as a file of the commit: (path, blob id) of
/// its `afterBlob`.
fn after_file(difference: &Difference) -> PortResult<(String, String)> {
    let blob = difference.after_blob();
    let path = blob.and_then(|b| b.path()).filter(|p| !p.is_empty());
    let id = blob.and_then(|b| b.blob_id()).filter(|i| !i.is_empty());
    match (path, id) {
        (Some(path), Some(id)) => Ok((path.to_owned(), id.to_owned())),
        _ => Err(permanent(
            GET_DIFFERENCES,
            "a file of the commit has no afterBlob path or blobId",
        )),
    }
}

impl AwsPullRequests {
    /// Calls `GetDifferences` from `before` (`None`: from nothing, so every file of `after`
    /// is a difference) to `after`, page after page, and hands every difference to `each`.
    /// With a `max_pages`, a listing that has more pages is a permanent error, not a partial
    /// answer.
    async fn each_difference(
        &self,
        repository: &RepositoryName,
        before: Option<&CommitId>,
        after: &CommitId,
        max_pages: Option<usize>,
        mut each: impl FnMut(&Difference) -> PortResult<()>,
    ) -> PortResult<()> {
        let mut token: Option<String> = None;
        for page in 1.. {
            let output = self
                .client
                .get_differences()
                .repository_name(repository.as_str())
                .set_before_commit_specifier(before.map(|b| b.as_str().to_owned()))
                .after_commit_specifier(after.as_str())
                .max_results(DIFFERENCES_PAGE_SIZE)
                .set_next_token(token.take())
                .send()
                .await
                .map_err(|e| port_error(GET_DIFFERENCES, e))?;
            output.differences().iter().try_for_each(&mut each)?;
            let Some(next) = output.next_token().filter(|t| !t.is_empty()) else {
                break;
            };
            if max_pages.is_some_and(|max| page >= max) {
                return Err(permanent(
                    GET_DIFFERENCES,
                    format!(
                        "{after} has more than {page} pages of {DIFFERENCES_PAGE_SIZE} \
                         differences: the listing stops there"
                    ),
                ));
            }
            token = Some(next.to_owned());
        }
        Ok(())
    }
}

impl PullRequests for AwsPullRequests {
    async fn pull_request(&self, id: &PullRequestId) -> PortResult<PullRequestState> {
        const CALL: &str = GET_PULL_REQUEST;
        let output = self
            .client
            .get_pull_request()
            .pull_request_id(id.as_str())
            .send()
            .await
            .map_err(|e| port_error(CALL, e))?;
        let pr = output
            .pull_request()
            .ok_or_else(|| permanent(CALL, "the response has no pullRequest"))?;
        let target = pr
            .pull_request_targets()
            .first()
            .ok_or_else(|| permanent(CALL, "the pull request has no target"))?;
        let status = match pr.pull_request_status() {
            Some(PullRequestStatusEnum::Open) => PrStatus::Open,
            Some(PullRequestStatusEnum::Closed) => PrStatus::Closed,
            other => {
                return Err(permanent(
                    CALL,
                    format!("unexpected pullRequestStatus {other:?}"),
                ));
            }
        };
        Ok(PullRequestState {
            repository: RepositoryName::new(required(
                CALL,
                target.repository_name(),
                "repositoryName",
            )?),
            id: PullRequestId::new(pr.pull_request_id().unwrap_or(id.as_str())),
            title: pr.title().unwrap_or_default().to_owned(),
            description: pr
                .description()
                .filter(|d| !d.is_empty())
                .map(str::to_owned),
            author_arn: required(CALL, pr.author_arn(), "authorArn")?.to_owned(),
            status,
            is_merged: target.merge_metadata().is_some_and(|m| m.is_merged()),
            source_reference: required(CALL, target.source_reference(), "sourceReference")?
                .to_owned(),
            destination_reference: required(
                CALL,
                target.destination_reference(),
                "destinationReference",
            )?
            .to_owned(),
            source_commit: CommitId::new(required(CALL, target.source_commit(), "sourceCommit")?),
            destination_commit: CommitId::new(required(
                CALL,
                target.destination_commit(),
                "destinationCommit",
            )?),
            merge_base: target
                .merge_base()
                .filter(|m| !m.is_empty())
                .map(CommitId::new),
            revision_id: RevisionId::new(required(CALL, pr.revision_id(), "revisionId")?),
            approval_rules: pr
                .approval_rules()
                .iter()
                .filter_map(|r| {
                    Some(ApprovalRule {
                        name: r.approval_rule_name()?.to_owned(),
                        content: r.approval_rule_content().unwrap_or_default().to_owned(),
                        // A rule made on the PR shows `"originApprovalRuleTemplate": {}`:
                        // test the template's name, not the key (aws-reference-2 §2).
                        template: r
                            .origin_approval_rule_template()
                            .and_then(|o| o.approval_rule_template_name())
                            .filter(|n| !n.is_empty())
                            .map(str::to_owned),
                    })
                })
                .collect(),
        })
    }

    async fn file(
        &self,
        repository: &RepositoryName,
        commit: &CommitId,
        path: &str,
    ) -> PortResult<Option<Vec<u8>>> {
        let result = self
            .client
            .get_file()
            .repository_name(repository.as_str())
            .commit_specifier(commit.as_str())
            .file_path(path)
            .send()
            .await;
        Ok(unless_absent(GET_FILE, result, |e| {
            matches!(e, GetFileError::FileDoesNotExistException(_))
        })?
        .map(|output| output.file_content().as_ref().to_vec()))
    }

    async fn changed_paths(
        &self,
        repository: &RepositoryName,
        before: &CommitId,
        after: &CommitId,
    ) -> PortResult<Vec<ChangedPath>> {
        let mut paths = Vec::new();
        self.each_difference(repository, Some(before), after, None, |difference| {
            let path = changed_path(difference).ok_or_else(|| {
                permanent(GET_DIFFERENCES, "a difference names no path on either side")
            })?;
            paths.push(path);
            Ok(())
        })
        .await?;
        Ok(paths)
    }

    async fn commit_files(
        &self,
        repository: &RepositoryName,
        commit: &CommitId,
    ) -> PortResult<Vec<(String, String)>> {
        let mut files = Vec::new();
        let limit = Some(COMMIT_FILES_MAX_PAGES);
        self.each_difference(repository, None, commit, limit, |difference| {
            files.push(after_file(difference)?);
            Ok(())
        })
        .await?;
        Ok(files)
    }

    async fn mergeability(
        &self,
        repository: &RepositoryName,
        source: &CommitId,
        destination: &CommitId,
    ) -> PortResult<Mergeability> {
        let mut conflicts = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let output = self
                .client
                .get_merge_conflicts()
                .repository_name(repository.as_str())
                .source_commit_specifier(source.as_str())
                .destination_commit_specifier(destination.as_str())
                .merge_option(MergeOptionTypeEnum::ThreeWayMerge)
                .set_next_token(token.take())
                .send()
                .await
                .map_err(|e| port_error(GET_MERGE_CONFLICTS, e))?;
            if output.mergeable() {
                return Ok(Mergeability::Clean);
            }
            conflicts.extend(
                output
                    .conflict_metadata_list()
                    .iter()
                    .filter_map(|c| c.file_path())
                    .map(str::to_owned),
            );
            match output.next_token().filter(|t| !t.is_empty()) {
                Some(next) => token = Some(next.to_owned()),
                None => break,
            }
        }
        Ok(Mergeability::Conflicts { paths: conflicts })
    }

    async fn comment(&self, id: &CommentId) -> PortResult<Option<CommentData>> {
        let result = self
            .client
            .get_comment()
            .comment_id(id.as_str())
            .send()
            .await;
        match result {
            Ok(output) => output
                .comment()
                .map(|c| comment_data(GET_COMMENT, c))
                .transpose(),
            // A deleted comment cannot be read (or edited) any more: for the gate it is gone.
            Err(e)
                if matches!(
                    service_err(&e),
                    Some(
                        GetCommentError::CommentDoesNotExistException(_)
                            | GetCommentError::CommentDeletedException(_)
                    )
                ) =>
            {
                Ok(None)
            }
            Err(e) => Err(port_error(GET_COMMENT, e)),
        }
    }

    async fn find_comment(
        &self,
        repository: &RepositoryName,
        id: &PullRequestId,
        author_arn: &str,
        marker: &str,
    ) -> PortResult<Option<CommentData>> {
        const CALL: &str = GET_COMMENTS_FOR_PULL_REQUEST;
        // (creation date, position) of the newest match so far, and the match.
        let mut newest: Option<((i64, u32), usize, CommentData)> = None;
        let mut position = 0usize;
        let mut token: Option<String> = None;
        loop {
            let output = self
                .client
                .get_comments_for_pull_request()
                .pull_request_id(id.as_str())
                .max_results(COMMENTS_PAGE_SIZE)
                .set_next_token(token.take())
                .send()
                .await
                .map_err(|e| port_error(CALL, e))?;
            for thread in output.comments_for_pull_request_data() {
                if thread
                    .repository_name()
                    .is_some_and(|r| r != repository.as_str())
                {
                    continue;
                }
                for comment in thread.comments() {
                    position += 1;
                    if !crate::ports::is_gate_comment(
                        comment.author_arn(),
                        comment.content(),
                        comment.deleted(),
                        author_arn,
                        marker,
                    ) {
                        continue;
                    }
                    let created = comment
                        .creation_date()
                        .map_or((i64::MIN, 0), |d| (d.secs(), d.subsec_nanos()));
                    if newest
                        .as_ref()
                        .is_none_or(|(date, pos, _)| (created, position) > (*date, *pos))
                    {
                        newest = Some((created, position, comment_data(CALL, comment)?));
                    }
                }
            }
            match output.next_token().filter(|t| !t.is_empty()) {
                Some(next) => token = Some(next.to_owned()),
                None => break,
            }
        }
        Ok(newest.map(|(_, _, data)| data))
    }

    async fn post_comment(
        &self,
        target: &CommentTarget,
        content: &str,
        token: &str,
    ) -> PortResult<CommentId> {
        const CALL: &str = POST_COMMENT_FOR_PULL_REQUEST;
        let output = self
            .client
            .post_comment_for_pull_request()
            .pull_request_id(target.pull_request_id.as_str())
            .repository_name(target.repository.as_str())
            .before_commit_id(target.before_commit.as_str())
            .after_commit_id(target.after_commit.as_str())
            .content(content)
            .client_request_token(token)
            .send()
            .await
            .map_err(|e| port_error(CALL, e))?;
        let comment = output
            .comment()
            .ok_or_else(|| permanent(CALL, "the response has no comment"))?;
        Ok(CommentId::new(required(
            CALL,
            comment.comment_id(),
            "commentId",
        )?))
    }

    async fn update_comment(&self, id: &CommentId, content: &str) -> PortResult<()> {
        self.client
            .update_comment()
            .comment_id(id.as_str())
            .content(content)
            .send()
            .await
            .map_err(|e| port_error(UPDATE_COMMENT, e))?;
        Ok(())
    }

    async fn reply(&self, to: &CommentId, content: &str, token: &str) -> PortResult<CommentId> {
        const CALL: &str = POST_COMMENT_REPLY;
        let output = self
            .client
            .post_comment_reply()
            .in_reply_to(to.as_str())
            .content(content)
            .client_request_token(token)
            .send()
            .await
            .map_err(|e| port_error(CALL, e))?;
        let comment = output
            .comment()
            .ok_or_else(|| permanent(CALL, "the response has no comment"))?;
        Ok(CommentId::new(required(
            CALL,
            comment.comment_id(),
            "commentId",
        )?))
    }

    async fn ensure_approval_rule(
        &self,
        id: &PullRequestId,
        name: &str,
        content: &str,
    ) -> PortResult<RuleWritten> {
        let result = self
            .client
            .create_pull_request_approval_rule()
            .pull_request_id(id.as_str())
            .approval_rule_name(name)
            .approval_rule_content(content)
            .send()
            .await;
        match result {
            Ok(_) => Ok(RuleWritten::Created),
            Err(e)
                if matches!(
                    service_err(&e),
                    Some(
                        CreatePullRequestApprovalRuleError::ApprovalRuleNameAlreadyExistsException(
                            _
                        )
                    )
                ) =>
            {
                // Someone made (or edited) a rule of that name first: make its content the
                // gate's. A rule from a template cannot be edited
                // (CannotModifyApprovalRuleFromTemplateException): a permanent error.
                self.client
                    .update_pull_request_approval_rule_content()
                    .pull_request_id(id.as_str())
                    .approval_rule_name(name)
                    .new_rule_content(content)
                    .send()
                    .await
                    .map_err(|e| port_error(UPDATE_PULL_REQUEST_APPROVAL_RULE_CONTENT, e))?;
                Ok(RuleWritten::Updated)
            }
            Err(e) => Err(port_error(CREATE_PULL_REQUEST_APPROVAL_RULE, e)),
        }
    }

    async fn set_approval(
        &self,
        id: &PullRequestId,
        revision: &RevisionId,
        state: ApprovalState,
    ) -> PortResult<ApprovalOutcome> {
        let result = self
            .client
            .update_pull_request_approval_state()
            .pull_request_id(id.as_str())
            .revision_id(revision.as_str())
            .approval_state(match state {
                ApprovalState::Approve => SdkApprovalState::Approve,
                ApprovalState::Revoke => SdkApprovalState::Revoke,
            })
            .send()
            .await;
        match result {
            Ok(_) => Ok(ApprovalOutcome::Applied),
            Err(e) => match service_err(&e) {
                Some(UpdatePullRequestApprovalStateError::RevisionNotCurrentException(_)) => {
                    Ok(ApprovalOutcome::RevisionNotCurrent)
                }
                Some(UpdatePullRequestApprovalStateError::PullRequestAlreadyClosedException(_)) => {
                    Ok(ApprovalOutcome::Closed)
                }
                _ => Err(port_error(UPDATE_PULL_REQUEST_APPROVAL_STATE, e)),
            },
        }
    }
}
