//! Create, Update and Delete of the approval rule template, written against [`RuleTemplates`]; every path ends in a [`SetupOutcome`], never an unanswered request.
//!
//! Idempotent under redelivery: a Create that finds its own template (same content) adopts
//! it, associations are reconciled against `ListRepositoriesForApprovalRuleTemplate` rather
//! than replayed, and a Delete of a template that is not there succeeds.

use super::outcome::{Done, SetupError, SetupOutcome};
use super::request::{RequestKind, RequestProblem, SetupRequest, TemplateSpec, is_template_name};
use super::response::{TemplateData, fallback_physical_id};
use super::{
    BatchResult, CreateResult, DeleteResult, MAX_BATCH_REPOSITORIES, RuleTemplates, TemplateRecord,
};
use crate::rule_content::same_content;

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
