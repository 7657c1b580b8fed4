//! `gate event`: real-shaped EventBridge events for a local repository (like `sam local generate-event`), recorded in the local store so the local adapters can serve the pull request and comment they name.
//!
//! The shapes are exactly the ones in `events/*.json`: `detail-type` and `source` as AWS sends
//! them, `repositoryNames` (an array) on pull request events but `repositoryName` on comment
//! events, `isMerged` as the strings `"True"`/`"False"`, `pullRequestStatus` as
//! `"Open"`/`"Closed"`, CodeCommit's free-text dates, 40-hex commit ids resolved from the refs
//! and a 64-hex `revisionId` derived from the repository, the pull request and both commits
//! ([`crate::local::pull_requests::revision_id`]). The account is the documentation's
//! placeholder `123456789012`; the region is `AWS_REGION`, else `us-east-1`.

use crate::local::git::{self, Repo};
use crate::local::pull_requests::{
    self, StoredComment, StoredPullRequest, new_comment_id, revision_id, uuid_like,
};
use crate::local::store::{self, Store, Utc};
use crate::ports::PrStatus;
use serde::Serialize;
use std::path::{Path, PathBuf};

/// The account id in local events.
pub const ACCOUNT: &str = "123456789012";

/// Which event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// `pullRequestCreated`.
    Created,
    /// `pullRequestSourceBranchUpdated`.
    Updated,
    /// `pullRequestStatusChanged` to Closed, not merged.
    Closed,
    /// `pullRequestMergeStatusUpdated`, merged.
    Merged,
    /// `commentOnPullRequestCreated`.
    Comment,
}

/// What `gate event` was asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventRequest {
    /// Which event.
    pub kind: Kind,
    /// A folder in the repository.
    pub repo: PathBuf,
    /// The source ref; default: the current branch.
    pub source: Option<String>,
    /// The destination ref; default: the default branch.
    pub destination: Option<String>,
    /// The pull request; default: the open local one from source into destination, else a new id.
    pub pull_request_id: Option<String>,
    /// The comment's text (comment events), or the description (pull request events).
    pub text: Option<String>,
    /// The title; default: the source's commit subject.
    pub title: Option<String>,
    /// Who acts; default: the local identity (`local:<user.email>`).
    pub caller: Option<String>,
}

#[derive(Serialize)]
struct Envelope<D> {
    version: &'static str,
    id: String,
    #[serde(rename = "detail-type")]
    detail_type: &'static str,
    source: &'static str,
    account: &'static str,
    time: String,
    region: String,
    resources: Vec<String>,
    detail: D,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct PrDetail {
    author: String,
    caller_user_arn: String,
    creation_date: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    description: Option<String>,
    destination_commit: String,
    destination_reference: String,
    event: &'static str,
    is_merged: &'static str,
    last_modified_date: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    merge_option: Option<&'static str>,
    notification_body: String,
    pull_request_id: String,
    pull_request_status: &'static str,
    repository_names: Vec<String>,
    revision_id: String,
    source_commit: String,
    source_reference: String,
    title: String,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct CommentDetail {
    after_commit_id: String,
    before_commit_id: String,
    caller_user_arn: String,
    comment_id: String,
    event: &'static str,
    notification_body: String,
    pull_request_id: String,
    repository_id: String,
    repository_name: String,
}

fn region() -> String {
    ["AWS_REGION", "AWS_DEFAULT_REGION"]
        .iter()
        .find_map(|v| std::env::var(v).ok().filter(|r| !r.trim().is_empty()))
        .unwrap_or_else(|| "us-east-1".to_owned())
}

fn full_ref(repo: &Repo, rev: &str) -> String {
    if rev.starts_with("refs/") {
        return rev.to_owned();
    }
    match repo.branch_name(rev) {
        Some(branch) => format!("refs/heads/{branch}"),
        None => rev.to_owned(),
    }
}

/// The next free pull request id among every repository next to this one (ids are unique per
/// folder of repositories, as CodeCommit's are per account and region).
fn next_id(repos_dir: &Path) -> u64 {
    let mut max = 0;
    if let Ok(entries) = std::fs::read_dir(repos_dir) {
        for entry in entries.filter_map(Result::ok) {
            let prs = Store::new(entry.path()).pull_requests();
            for file in store::json_files(&prs).unwrap_or_default() {
                if let Some(n) = file
                    .file_stem()
                    .and_then(|s| s.to_str())
                    .and_then(|s| s.parse::<u64>().ok())
                {
                    max = max.max(n);
                }
            }
        }
    }
    max + 1
}

/// Generates the event, records what it says in the repository's store, and returns it.
/// Sequential because each step needs the one before: the refs name the pull request, the
/// pull request (updated and stored) is what the event describes.
pub fn generate(request: &EventRequest) -> Result<serde_json::Value, String> {
    let repo = Repo::open(&request.repo).map_err(|e| e.to_string())?;
    let refs = EventRefs::resolve(&repo, request)?;
    let store = Store::new(repo.dir());
    store
        .ensure()
        .map_err(|e| format!("cannot create {}: {e}", store.root().display()))?;
    let _lock = store.lock().map_err(|e| e.to_string())?;
    let found = find_pull_request(&store, request, &refs)?;
    let now = Utc::now();
    let mut pr = match found {
        Some(pr) if request.kind != Kind::Created => pr,
        _ => new_pull_request(&repo, request, &refs, &now),
    };
    update_pull_request(&mut pr, request, &refs);
    store::write_json(&store.pull_request(&pr.id), &pr).map_err(|e| e.to_string())?;
    let header = Header::new(&refs.repository, &pr, now);
    let value = if request.kind == Kind::Comment {
        let comment = record_comment(&store, request, &refs, &pr, &header)?;
        comment_event(header, &refs, &pr, &comment)
    } else {
        pr_event(header, request.kind, &refs, &pr)
    };
    value.map_err(|e| e.to_string())
}

/// The refs an event names: the source (else the current branch) and the destination (else
/// the default branch), their commits and full refs, the repository and who acts.
struct EventRefs {
    repository: String,
    /// The folder of repositories next to this one (pull request ids are unique across it).
    repos_dir: PathBuf,
    source_commit: String,
    destination_commit: String,
    source_reference: String,
    destination_reference: String,
    caller: String,
}

impl EventRefs {
    /// Resolves the request's refs in `repo`.
    fn resolve(repo: &Repo, request: &EventRequest) -> Result<Self, String> {
        let repository = repo.name();
        let repos_dir = repo
            .dir()
            .parent()
            .map_or_else(|| PathBuf::from("."), Path::to_path_buf);
        let repos_dir = pull_requests::repos_dir(&repos_dir);
        let source_ref = match &request.source {
            Some(s) => s.clone(),
            None => repo
                .branch_name("HEAD")
                .ok_or("HEAD is not on a branch: pass --source")?,
        };
        let destination_ref = match &request.destination {
            Some(d) => d.clone(),
            None => repo.default_branch().map_err(|e| e.to_string())?,
        };
        let source_commit = repo.resolve(&source_ref).map_err(|e| e.to_string())?;
        let destination_commit = repo.resolve(&destination_ref).map_err(|e| e.to_string())?;
        Ok(Self {
            repository,
            repos_dir,
            source_commit,
            destination_commit,
            source_reference: full_ref(repo, &source_ref),
            destination_reference: full_ref(repo, &destination_ref),
            caller: request
                .caller
                .clone()
                .unwrap_or_else(|| git::local_identity(Some(repo))),
        })
    }
}

/// The pull request the event is about: the one named, or else (for any event but `Created`)
/// the newest open one between these branches.
fn find_pull_request(
    store: &Store,
    request: &EventRequest,
    refs: &EventRefs,
) -> Result<Option<StoredPullRequest>, String> {
    let existing: Vec<StoredPullRequest> = store::json_files(&store.pull_requests())
        .map_err(|e| e.to_string())?
        .iter()
        .filter_map(|p| store::read_json::<StoredPullRequest>(p).ok().flatten())
        .collect();
    Ok(match &request.pull_request_id {
        Some(id) => existing.iter().find(|p| &p.id == id).cloned(),
        None if request.kind == Kind::Created => None,
        None => existing
            .iter()
            .rev()
            .find(|p| {
                p.status == PrStatus::Open
                    && p.source_reference == refs.source_reference
                    && p.destination_reference == refs.destination_reference
            })
            .cloned(),
    })
}

/// A new open pull request: the requested (else the next free) id, the title (else the
/// source's commit subject) and the description (else the source's commit body).
fn new_pull_request(
    repo: &Repo,
    request: &EventRequest,
    refs: &EventRefs,
    now: &Utc,
) -> StoredPullRequest {
    let id = request
        .pull_request_id
        .clone()
        .unwrap_or_else(|| next_id(&refs.repos_dir).to_string());
    let body = repo.commit_body(&refs.source_commit).unwrap_or_default();
    StoredPullRequest {
        id,
        title: match &request.title {
            Some(t) => t.clone(),
            None => repo.commit_subject(&refs.source_commit).unwrap_or_default(),
        },
        description: match (request.kind, &request.text) {
            (Kind::Comment, _) | (_, None) => Some(body).filter(|b| !b.is_empty()),
            (_, Some(t)) => Some(t.clone()),
        },
        author_arn: refs.caller.clone(),
        source_reference: refs.source_reference.clone(),
        destination_reference: refs.destination_reference.clone(),
        source_commit: refs.source_commit.clone(),
        destination_commit: refs.destination_commit.clone(),
        status: PrStatus::Open,
        is_merged: false,
        creation_date: now.codecommit(),
        approval_rules: Vec::new(),
        approvals: Vec::new(),
    }
}

/// What the event changes: the title if given, the commits while open, the status when it
/// closes or merges.
fn update_pull_request(pr: &mut StoredPullRequest, request: &EventRequest, refs: &EventRefs) {
    if let Some(t) = &request.title {
        pr.title = t.clone();
    }
    if pr.status == PrStatus::Open {
        pr.source_commit = refs.source_commit.clone();
        pr.destination_commit = refs.destination_commit.clone();
    }
    match request.kind {
        Kind::Closed => pr.status = PrStatus::Closed,
        Kind::Merged => {
            pr.status = PrStatus::Closed;
            pr.is_merged = true;
        }
        Kind::Created | Kind::Updated | Kind::Comment => {}
    }
}

/// What every event shares: its id and time, the region, the repository's ARN and the pull
/// request's console address.
struct Header {
    id: String,
    now: Utc,
    region: String,
    resources: Vec<String>,
    console: String,
}

impl Header {
    /// The header of a new event about `pr`.
    fn new(repository: &str, pr: &StoredPullRequest, now: Utc) -> Self {
        let region = region();
        let resources = vec![format!(
            "arn:aws:codecommit:{region}:{ACCOUNT}:{repository}"
        )];
        let console = format!(
            "https://{region}.console.aws.amazon.com/codesuite/codecommit/repositories/{repository}/pull-requests/{}",
            pr.id
        );
        let id = uuid_like(&store::hex_digest(
            &["event", repository, &pr.id, &store::unique().to_string()],
            32,
        ));
        Self {
            id,
            now,
            region,
            resources,
            console,
        }
    }

    /// The envelope around `detail`.
    fn envelope<D>(self, detail_type: &'static str, detail: D) -> Envelope<D> {
        Envelope {
            version: "0",
            id: self.id,
            detail_type,
            source: "aws.codecommit",
            account: ACCOUNT,
            time: self.now.rfc3339(),
            region: self.region,
            resources: self.resources,
            detail,
        }
    }
}

/// Stores the comment a comment event announces.
fn record_comment(
    store: &Store,
    request: &EventRequest,
    refs: &EventRefs,
    pr: &StoredPullRequest,
    header: &Header,
) -> Result<StoredComment, String> {
    let text = request.text.as_deref().unwrap_or("");
    let comment = StoredComment {
        id: new_comment_id(&[&refs.repository, &pr.id, text]),
        pull_request_id: pr.id.clone(),
        content: request.text.clone().unwrap_or_default(),
        author_arn: refs.caller.clone(),
        deleted: false,
        in_reply_to: None,
        token: None,
        before_commit: Some(pr.destination_commit.clone()),
        after_commit: Some(pr.source_commit.clone()),
        created_at: header.now.rfc3339_millis(),
        updates: 0,
    };
    store::write_json(&store.comment(&comment.id), &comment).map_err(|e| e.to_string())?;
    Ok(comment)
}

/// A `commentOnPullRequestCreated` event.
fn comment_event(
    header: Header,
    refs: &EventRefs,
    pr: &StoredPullRequest,
    comment: &StoredComment,
) -> serde_json::Result<serde_json::Value> {
    let (repository, caller) = (&refs.repository, &refs.caller);
    let notification_body = format!(
        "A comment event occurred in the following AWS CodeCommit repository: {repository}. \
         The user {caller} made a comment. The comment was made on the following Pull Request: {}. \
         For more information, go to the AWS CodeCommit console {}/activity#{}",
        pr.id, header.console, comment.id
    );
    let detail = CommentDetail {
        after_commit_id: pr.source_commit.clone(),
        before_commit_id: pr.destination_commit.clone(),
        caller_user_arn: caller.clone(),
        comment_id: comment.id.clone(),
        event: "commentOnPullRequestCreated",
        notification_body,
        pull_request_id: pr.id.clone(),
        repository_id: uuid_like(&store::hex_digest(&["repository", repository], 32)),
        repository_name: repository.clone(),
    };
    serde_json::to_value(header.envelope(crate::event::DETAIL_TYPE_PR_COMMENT, detail))
}

/// A pull request state event: created, source updated, closed or merged.
fn pr_event(
    header: Header,
    kind: Kind,
    refs: &EventRefs,
    pr: &StoredPullRequest,
) -> serde_json::Result<serde_json::Value> {
    let repository = &refs.repository;
    let (event, what) = pr_event_text(kind, &refs.caller, pr);
    let notification_body = format!(
        "A pull request event occurred in the following AWS CodeCommit repository: \
         {repository}. {what} For more information, go to the AWS CodeCommit console \
         {}?region={}",
        header.console, header.region
    );
    let detail = PrDetail {
        author: pr.author_arn.clone(),
        caller_user_arn: refs.caller.clone(),
        creation_date: pr.creation_date.clone(),
        description: pr.description.clone(),
        destination_commit: pr.destination_commit.clone(),
        destination_reference: pr.destination_reference.clone(),
        event,
        is_merged: if pr.is_merged { "True" } else { "False" },
        last_modified_date: header.now.codecommit(),
        merge_option: pr.is_merged.then_some("THREE_WAY_MERGE"),
        notification_body,
        pull_request_id: pr.id.clone(),
        pull_request_status: match pr.status {
            PrStatus::Open => "Open",
            PrStatus::Closed => "Closed",
        },
        repository_names: vec![repository.clone()],
        revision_id: revision_id(
            repository,
            &pr.id,
            &pr.source_commit,
            &pr.destination_commit,
        ),
        source_commit: pr.source_commit.clone(),
        source_reference: pr.source_reference.clone(),
        title: pr.title.clone(),
    };
    serde_json::to_value(header.envelope(crate::event::DETAIL_TYPE_PR_STATE, detail))
}

/// The `event` name of a pull request event and the sentence CodeCommit's notification says.
fn pr_event_text(kind: Kind, caller: &str, pr: &StoredPullRequest) -> (&'static str, String) {
    match kind {
        Kind::Created => (
            "pullRequestCreated",
            format!(
                "User: {caller}. Event: Created. The pull request was created with the following \
                 information: Pull Request ID as {} and title as {}.",
                pr.id, pr.title
            ),
        ),
        Kind::Updated => (
            "pullRequestSourceBranchUpdated",
            format!(
                "User: {caller}. Event: Updated. The user updated the following pull request: {}. \
                 The pull request was updated with one or more commits to the source branch: {}.",
                pr.id,
                pr.source_reference.trim_start_matches("refs/heads/")
            ),
        ),
        Kind::Closed => (
            "pullRequestStatusChanged",
            format!(
                "{caller} updated the following PullRequest {}. The pull request status has been \
                 updated. The status is closed.",
                pr.id
            ),
        ),
        Kind::Merged | Kind::Comment => (
            "pullRequestMergeStatusUpdated",
            format!(
                "{caller} updated the following PullRequest {}. The pull request merge status has \
                 been updated. The status is merged.",
                pr.id
            ),
        ),
    }
}
