//! Create, Update and Delete of the approval rule template, written against [`RuleTemplates`]; every path ends in a [`SetupOutcome`], never an unanswered request.
//!
//! Idempotent under redelivery: a Create that finds its own template (same content) adopts
//! it, associations are reconciled against `ListRepositoriesForApprovalRuleTemplate` rather
//! than replayed, and a Delete of a template that is not there succeeds.

use super::request::{
    PropertyError, RequestKind, RequestProblem, ResponseTarget, SetupRequest, TemplateSpec,
    is_template_name,
};
use super::response::{CustomResourceResponse, ResponseStatus, TemplateData, fallback_physical_id};
use super::{
    BatchResult, CreateResult, DeleteResult, MAX_BATCH_REPOSITORIES, RepositoryFailure,
    RuleTemplates, TemplateRecord,
};
use crate::ports::PortError;
use crate::rule_content::same_content;
use std::fmt;

/// `codecommit:CreateApprovalRuleTemplate`.
pub const CREATE: &str = "codecommit:CreateApprovalRuleTemplate";
/// `codecommit:GetApprovalRuleTemplate`.
pub const GET: &str = "codecommit:GetApprovalRuleTemplate";
/// `codecommit:UpdateApprovalRuleTemplateContent`.
pub const UPDATE_CONTENT: &str = "codecommit:UpdateApprovalRuleTemplateContent";
/// `codecommit:UpdateApprovalRuleTemplateDescription`.
pub const UPDATE_DESCRIPTION: &str = "codecommit:UpdateApprovalRuleTemplateDescription";
/// `codecommit:ListRepositoriesForApprovalRuleTemplate`.
pub const LIST_REPOSITORIES: &str = "codecommit:ListRepositoriesForApprovalRuleTemplate";
/// `codecommit:BatchAssociateApprovalRuleTemplateWithRepositories`.
pub const BATCH_ASSOCIATE: &str = "codecommit:BatchAssociateApprovalRuleTemplateWithRepositories";
/// `codecommit:BatchDisassociateApprovalRuleTemplateFromRepositories`.
pub const BATCH_DISASSOCIATE: &str =
    "codecommit:BatchDisassociateApprovalRuleTemplateFromRepositories";
/// `codecommit:DeleteApprovalRuleTemplate`.
pub const DELETE: &str = "codecommit:DeleteApprovalRuleTemplate";

/// How often a Delete disassociates and tries again when the template is still in use
/// (someone associated a repository in between).
pub const DELETE_ROUNDS: usize = 3;

/// The `errors[].errorCode`s of a batch disassociation that mean "nothing to undo": a
/// repository that does not exist has no association. The exact spelling is not documented
/// (aws-reference-2 §11), so both forms are accepted.
const MISSING_REPOSITORY_CODES: &[&str] =
    &["RepositoryDoesNotExistException", "RepositoryDoesNotExist"];

/// What a successful request did: the `Reason` of a SUCCESS response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Done {
    /// Created the template and associated it.
    Created {
        /// Repositories associated.
        associated: usize,
    },
    /// Found the template already there with the requested content (a redelivered Create, a
    /// rollback to an earlier name) and made it whole.
    Adopted {
        /// Repositories associated.
        associated: usize,
        /// Repositories disassociated.
        disassociated: usize,
        /// Whether the description was rewritten.
        description: bool,
    },
    /// Updated the template in place.
    Updated {
        /// Whether the content changed.
        content: bool,
        /// Whether the description changed.
        description: bool,
        /// Repositories associated.
        associated: usize,
        /// Repositories disassociated.
        disassociated: usize,
    },
    /// An Update found its template gone and created it again.
    Recreated {
        /// Repositories associated.
        associated: usize,
    },
    /// Disassociated every repository and deleted the template.
    Deleted {
        /// Repositories disassociated.
        disassociated: usize,
    },
    /// Delete: there was no such template.
    AlreadyGone,
    /// Delete: the physical id is not a template name (a failed Create's), so no template
    /// was ever made for it.
    NothingToDelete,
}

impl fmt::Display for Done {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Created { associated } => write!(
                f,
                "created the approval rule template and associated it with {}",
                count(*associated)
            ),
            Self::Adopted {
                associated,
                disassociated,
                description,
            } => write!(
                f,
                "the approval rule template already existed with this content and was adopted; \
                 {} associated, {disassociated} disassociated{}",
                count(*associated),
                if *description {
                    ", description rewritten"
                } else {
                    ""
                }
            ),
            Self::Updated {
                content,
                description,
                associated,
                disassociated,
            } => write!(
                f,
                "updated the approval rule template: content {}, description {}, \
                 {} associated, {disassociated} disassociated",
                if *content { "changed" } else { "unchanged" },
                if *description { "changed" } else { "unchanged" },
                count(*associated),
            ),
            Self::Recreated { associated } => write!(
                f,
                "the approval rule template had been deleted outside the stack; created it again \
                 and associated it with {}",
                count(*associated)
            ),
            Self::Deleted { disassociated } => write!(
                f,
                "disassociated {} and deleted the approval rule template",
                count(*disassociated)
            ),
            Self::AlreadyGone => {
                f.write_str("the approval rule template does not exist; nothing to delete")
            }
            Self::NothingToDelete => f.write_str(
                "no approval rule template was created for this resource; nothing to delete",
            ),
        }
    }
}

/// Why a request failed: the `Reason` of a FAILED response.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SetupError {
    /// The request itself is unusable.
    #[error("{0}")]
    Request(RequestProblem),
    /// `ResourceProperties` is invalid.
    #[error("{0}")]
    Properties(PropertyError),
    /// A template with this name exists with other content: not ours, not taken over.
    #[error(
        "an approval rule template named `{name}` already exists with different content; \
         gate-setup does not take over a template it did not create. Delete or rename that \
         template, or choose another TemplateName"
    )]
    NameTaken {
        /// The name.
        name: String,
    },
    /// A CodeCommit call failed.
    #[error("{0}")]
    Port(PortError),
    /// The template disappeared between two calls (deleted concurrently).
    #[error("the approval rule template `{name}` disappeared during {during}")]
    Vanished {
        /// The name.
        name: String,
        /// The call that found it gone.
        during: &'static str,
    },
    /// Some repositories could not be associated (`errors[]` of the batch call).
    #[error(
        "could not associate the approval rule template `{name}` with {}: {}",
        count(failures.len()),
        list(failures)
    )]
    Association {
        /// The template.
        name: String,
        /// Each repository and why.
        failures: Vec<RepositoryFailure>,
    },
    /// Some repositories could not be disassociated.
    #[error(
        "could not disassociate the approval rule template `{name}` from {}: {}",
        count(failures.len()),
        list(failures)
    )]
    Disassociation {
        /// The template.
        name: String,
        /// Each repository and why.
        failures: Vec<RepositoryFailure>,
    },
    /// Delete kept finding new associations.
    #[error(
        "the approval rule template `{name}` is still associated with repositories after \
         {DELETE_ROUNDS} rounds of disassociation (ApprovalRuleTemplateInUseException); \
         is something associating it concurrently?"
    )]
    StillInUse {
        /// The template.
        name: String,
    },
    /// The Lambda deadline came first.
    #[error(
        "gate-setup ran out of time (the function timeout) while waiting on {waiting_on}; \
         the request may be retried safely"
    )]
    Deadline {
        /// The call in flight.
        waiting_on: &'static str,
    },
}

/// "1 repository", "2 repositories".
fn count(n: usize) -> String {
    if n == 1 {
        "1 repository".to_owned()
    } else {
        format!("{n} repositories")
    }
}

fn list(failures: &[RepositoryFailure]) -> String {
    failures
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

impl SetupError {
    /// Whether the same request may succeed if run again shortly: throttling, 5xx,
    /// timeouts, a concurrent deletion.
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            Self::Port(PortError::Transient { .. }) | Self::Vanished { .. }
        )
    }
}

impl From<PortError> for SetupError {
    fn from(e: PortError) -> Self {
        Self::Port(e)
    }
}

/// How a request ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SetupOutcome {
    /// SUCCESS.
    Succeeded {
        /// `PhysicalResourceId`: the template name (or the request's id for a Delete).
        physical_id: String,
        /// `Data`, for Create and Update.
        template: Option<TemplateData>,
        /// What was done.
        done: Done,
    },
    /// FAILED.
    Failed {
        /// `PhysicalResourceId`: a template name only when that template is ours.
        physical_id: String,
        /// Why.
        error: SetupError,
    },
}

impl SetupOutcome {
    /// A failure that a rerun may fix.
    pub fn is_transient_failure(&self) -> bool {
        matches!(self, Self::Failed { error, .. } if error.is_transient())
    }

    /// The response to send for it to the request `target` came from.
    pub fn response(&self, target: &ResponseTarget) -> CustomResourceResponse {
        match self {
            Self::Succeeded {
                physical_id,
                template,
                done,
            } => CustomResourceResponse::new(
                target,
                ResponseStatus::Success,
                done.to_string(),
                physical_id.clone(),
                template.as_ref(),
            ),
            Self::Failed { physical_id, error } => CustomResourceResponse::new(
                target,
                ResponseStatus::Failed,
                error.to_string(),
                physical_id.clone(),
                None,
            ),
        }
    }
}

/// What a request has done so far; it outlives the request's future, so a deadline or a
/// retry still knows which template is ours and which call was in flight.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Progress {
    /// A template this request created or adopted: the physical id even if it fails later.
    pub owned: Option<String>,
    /// A template this request created (not adopted): removed again if a renaming Update fails.
    pub created: Option<String>,
    /// The last call started.
    pub calling: Option<&'static str>,
}

impl Progress {
    fn call(&mut self, call: &'static str) {
        self.calling = Some(call);
    }

    fn own(&mut self, name: &str, created: bool) {
        self.owned = Some(name.to_owned());
        if created {
            self.created = Some(name.to_owned());
        }
    }

    fn owns(&self, name: &str) -> bool {
        self.owned.as_deref() == Some(name)
    }
}

/// Runs one request to its outcome.
pub async fn run<T: RuleTemplates>(
    templates: &T,
    request: &SetupRequest,
    progress: &mut Progress,
) -> SetupOutcome {
    match &request.kind {
        RequestKind::Create => create(templates, request, progress).await,
        RequestKind::Update { physical_id } => {
            update(templates, request, physical_id, progress).await
        }
        RequestKind::Delete { physical_id } => delete(templates, physical_id, progress).await,
    }
}

/// The outcome for a request that did not parse far enough to run.
pub fn rejected(logical_resource_id: &str, problem: RequestProblem) -> SetupOutcome {
    SetupOutcome::Failed {
        physical_id: fallback_physical_id(logical_resource_id),
        error: SetupError::Request(problem),
    }
}

/// The outcome when the deadline stops `request` after `progress`: FAILED, naming the call
/// in flight, with the physical id the request had earned so far.
pub fn out_of_time(request: &SetupRequest, progress: &Progress) -> SetupOutcome {
    let error = SetupError::Deadline {
        waiting_on: progress.calling.unwrap_or("nothing (no time to start)"),
    };
    let physical_id = match &request.kind {
        RequestKind::Create => TemplateSpec::from_properties(&request.properties)
            .ok()
            .filter(|spec| progress.owns(&spec.name))
            .map(|spec| spec.name)
            .unwrap_or_else(|| fallback_physical_id(&request.target.logical_resource_id)),
        RequestKind::Update { physical_id } | RequestKind::Delete { physical_id } => {
            physical_id.clone()
        }
    };
    SetupOutcome::Failed { physical_id, error }
}

fn succeeded(record: &TemplateRecord, spec: &TemplateSpec, done: Done) -> SetupOutcome {
    SetupOutcome::Succeeded {
        physical_id: spec.name.clone(),
        template: Some(TemplateData {
            template_name: spec.name.clone(),
            template_id: record.id.clone(),
        }),
        done,
    }
}

async fn create<T: RuleTemplates>(
    templates: &T,
    request: &SetupRequest,
    progress: &mut Progress,
) -> SetupOutcome {
    let fallback = fallback_physical_id(&request.target.logical_resource_id);
    let spec = match TemplateSpec::from_properties(&request.properties) {
        Ok(spec) => spec,
        Err(e) => {
            return SetupOutcome::Failed {
                physical_id: fallback,
                error: SetupError::Properties(e),
            };
        }
    };
    match ensure(templates, &spec, progress).await {
        Ok((record, done)) => succeeded(&record, &spec, done),
        Err(error) => SetupOutcome::Failed {
            // Our template: the Delete CloudFormation sends next removes it. Not ours (the
            // name is taken, or nothing was created): an id no Delete can act on.
            physical_id: if progress.owns(&spec.name) {
                spec.name.clone()
            } else {
                fallback
            },
            error,
        },
    }
}

async fn update<T: RuleTemplates>(
    templates: &T,
    request: &SetupRequest,
    physical_id: &str,
    progress: &mut Progress,
) -> SetupOutcome {
    let failed = |error| SetupOutcome::Failed {
        physical_id: physical_id.to_owned(),
        error,
    };
    let spec = match TemplateSpec::from_properties(&request.properties) {
        Ok(spec) => spec,
        Err(e) => return failed(SetupError::Properties(e)),
    };
    if spec.name == physical_id {
        return match update_in_place(templates, &spec, progress).await {
            Ok((record, done)) => succeeded(&record, &spec, done),
            Err(error) => failed(error),
        };
    }
    // A new name is a new resource: create it, answer with its name, and CloudFormation
    // deletes the old one once the stack update succeeds (CFN-UG `crpg-ref-responses.md`).
    match ensure(templates, &spec, progress).await {
        Ok((record, done)) => succeeded(&record, &spec, done),
        Err(error) => {
            // The failed update keeps the old physical id, so nothing would ever delete a
            // template made here: remove it now (best effort; a rerun adopts a leftover).
            if progress.created.as_deref() == Some(spec.name.as_str()) {
                abandon(templates, &spec.name, progress).await;
            }
            failed(error)
        }
    }
}

/// Creates the template, or adopts the one already there when its content is ours, and
/// makes its description and associations match `spec`.
async fn ensure<T: RuleTemplates>(
    templates: &T,
    spec: &TemplateSpec,
    progress: &mut Progress,
) -> Result<(TemplateRecord, Done), SetupError> {
    let content = spec.content();
    progress.call(CREATE);
    match templates
        .create(&spec.name, &content, &spec.description)
        .await?
    {
        CreateResult::Created(record) => {
            progress.own(&spec.name, true);
            let associated = associate(templates, &spec.name, &spec.repositories, progress).await?;
            Ok((record, Done::Created { associated }))
        }
        CreateResult::NameTaken => {
            progress.call(GET);
            let existing = templates
                .template(&spec.name)
                .await?
                .ok_or_else(|| vanished(&spec.name, GET))?;
            if !same_content(&existing.content, &content) {
                return Err(SetupError::NameTaken {
                    name: spec.name.clone(),
                });
            }
            tracing::info!(template = %spec.name, "adopting an existing template with our content");
            progress.own(&spec.name, false);
            let (record, description) =
                sync_description(templates, spec, existing, progress).await?;
            let (associated, disassociated) = reconcile(templates, spec, progress).await?;
            Ok((
                record,
                Done::Adopted {
                    associated,
                    disassociated,
                    description,
                },
            ))
        }
    }
}

async fn update_in_place<T: RuleTemplates>(
    templates: &T,
    spec: &TemplateSpec,
    progress: &mut Progress,
) -> Result<(TemplateRecord, Done), SetupError> {
    progress.call(GET);
    let Some(existing) = templates.template(&spec.name).await? else {
        tracing::warn!(template = %spec.name, "the template was deleted outside the stack; creating it again");
        let (record, done) = ensure(templates, spec, progress).await?;
        let done = match done {
            Done::Created { associated } => Done::Recreated { associated },
            other => other,
        };
        return Ok((record, done));
    };
    progress.own(&spec.name, false);
    let content = spec.content();
    let content_changed = !same_content(&existing.content, &content);
    let mut record = existing;
    if content_changed {
        progress.call(UPDATE_CONTENT);
        record = templates
            .update_content(&spec.name, &content)
            .await?
            .ok_or_else(|| vanished(&spec.name, UPDATE_CONTENT))?;
    }
    let (record, description) = sync_description(templates, spec, record, progress).await?;
    let (associated, disassociated) = reconcile(templates, spec, progress).await?;
    Ok((
        record,
        Done::Updated {
            content: content_changed,
            description,
            associated,
            disassociated,
        },
    ))
}

async fn sync_description<T: RuleTemplates>(
    templates: &T,
    spec: &TemplateSpec,
    record: TemplateRecord,
    progress: &mut Progress,
) -> Result<(TemplateRecord, bool), SetupError> {
    if record.description == spec.description {
        return Ok((record, false));
    }
    progress.call(UPDATE_DESCRIPTION);
    let record = templates
        .update_description(&spec.name, &spec.description)
        .await?
        .ok_or_else(|| vanished(&spec.name, UPDATE_DESCRIPTION))?;
    Ok((record, true))
}

/// Associates the repositories `spec` names that are not associated yet and disassociates
/// the ones it no longer names, from the list CodeCommit has (not from the old properties),
/// so a redelivery or a half-done earlier attempt converges.
async fn reconcile<T: RuleTemplates>(
    templates: &T,
    spec: &TemplateSpec,
    progress: &mut Progress,
) -> Result<(usize, usize), SetupError> {
    progress.call(LIST_REPOSITORIES);
    let actual = templates
        .repositories(&spec.name)
        .await?
        .ok_or_else(|| vanished(&spec.name, LIST_REPOSITORIES))?;
    let add: Vec<String> = spec
        .repositories
        .iter()
        .filter(|r| !actual.contains(r))
        .cloned()
        .collect();
    let remove: Vec<String> = actual
        .iter()
        .filter(|r| !spec.repositories.contains(r))
        .cloned()
        .collect();
    let associated = associate(templates, &spec.name, &add, progress).await?;
    let disassociated = disassociate(templates, &spec.name, &remove, progress)
        .await?
        .ok_or_else(|| vanished(&spec.name, BATCH_DISASSOCIATE))?;
    Ok((associated, disassociated))
}

fn vanished(name: &str, during: &'static str) -> SetupError {
    SetupError::Vanished {
        name: name.to_owned(),
        during,
    }
}

/// Associates `repositories` in batches of at most [`MAX_BATCH_REPOSITORIES`]; every
/// repository in a batch's `errors[]` fails the whole step, named.
async fn associate<T: RuleTemplates>(
    templates: &T,
    name: &str,
    repositories: &[String],
    progress: &mut Progress,
) -> Result<usize, SetupError> {
    let mut done = 0;
    let mut failures = Vec::new();
    for batch in repositories.chunks(MAX_BATCH_REPOSITORIES) {
        progress.call(BATCH_ASSOCIATE);
        let BatchResult {
            done: associated,
            failed,
        } = templates
            .associate(name, batch)
            .await?
            .ok_or_else(|| vanished(name, BATCH_ASSOCIATE))?;
        done += associated.len();
        failures.extend(failed);
    }
    if failures.is_empty() {
        Ok(done)
    } else {
        Err(SetupError::Association {
            name: name.to_owned(),
            failures,
        })
    }
}

/// Disassociates `repositories` in batches; `None` when the template is gone. A repository
/// that does not exist has nothing to disassociate and is not a failure.
async fn disassociate<T: RuleTemplates>(
    templates: &T,
    name: &str,
    repositories: &[String],
    progress: &mut Progress,
) -> Result<Option<usize>, SetupError> {
    let mut done = 0;
    let mut failures = Vec::new();
    for batch in repositories.chunks(MAX_BATCH_REPOSITORIES) {
        progress.call(BATCH_DISASSOCIATE);
        let Some(result) = templates.disassociate(name, batch).await? else {
            return Ok(None);
        };
        done += result.done.len();
        failures.extend(
            result
                .failed
                .into_iter()
                .filter(|f| !MISSING_REPOSITORY_CODES.contains(&f.code.as_str())),
        );
    }
    if failures.is_empty() {
        Ok(Some(done))
    } else {
        Err(SetupError::Disassociation {
            name: name.to_owned(),
            failures,
        })
    }
}

async fn delete<T: RuleTemplates>(
    templates: &T,
    physical_id: &str,
    progress: &mut Progress,
) -> SetupOutcome {
    let physical = physical_id.to_owned();
    if !is_template_name(physical_id) {
        return SetupOutcome::Succeeded {
            physical_id: physical,
            template: None,
            done: Done::NothingToDelete,
        };
    }
    match remove(templates, physical_id, progress).await {
        Ok(done) => SetupOutcome::Succeeded {
            physical_id: physical,
            template: None,
            done,
        },
        Err(error) => SetupOutcome::Failed {
            physical_id: physical,
            error,
        },
    }
}

/// Disassociates every repository (paged list, batches) and deletes the template, again
/// while something keeps associating it; a template that is not there is already removed.
async fn remove<T: RuleTemplates>(
    templates: &T,
    name: &str,
    progress: &mut Progress,
) -> Result<Done, SetupError> {
    let mut disassociated = 0;
    for _ in 0..DELETE_ROUNDS {
        progress.call(LIST_REPOSITORIES);
        let Some(repositories) = templates.repositories(name).await? else {
            return Ok(gone(disassociated));
        };
        match disassociate(templates, name, &repositories, progress).await? {
            Some(n) => disassociated += n,
            None => return Ok(gone(disassociated)),
        }
        progress.call(DELETE);
        match templates.delete(name).await? {
            DeleteResult::Deleted { .. } => return Ok(Done::Deleted { disassociated }),
            DeleteResult::Absent => return Ok(gone(disassociated)),
            DeleteResult::InUse => {
                tracing::warn!(template = %name, "still in use after disassociating; another round");
            }
        }
    }
    Err(SetupError::StillInUse {
        name: name.to_owned(),
    })
}

fn gone(disassociated: usize) -> Done {
    if disassociated == 0 {
        Done::AlreadyGone
    } else {
        Done::Deleted { disassociated }
    }
}

/// Removes a template this request created, after the request failed; logs what it could
/// not undo.
async fn abandon<T: RuleTemplates>(templates: &T, name: &str, progress: &mut Progress) {
    let calling = progress.calling;
    match remove(templates, name, progress).await {
        Ok(_) => {
            tracing::info!(template = %name, "removed the template this failed update created");
            progress.owned = None;
            progress.created = None;
        }
        Err(e) => {
            tracing::error!(template = %name, error = %e, "could not remove the template this failed update created")
        }
    }
    progress.calling = calling;
}
