//! How a gate-setup request ended: [`SetupOutcome`], what was [`Done`] or the [`SetupError`], each worded as the response's `Reason`.

use super::RepositoryFailure;
use super::flow::DELETE_ROUNDS;
use super::request::{PropertyError, RequestProblem, ResponseTarget};
use super::response::{CustomResourceResponse, ResponseStatus, TemplateData};
use crate::ports::PortError;
use std::fmt;

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
