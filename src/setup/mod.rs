//! gate-setup: the CloudFormation custom resource `Custom::ApprovalRuleTemplate` that keeps the gate's approval rule template and its repository associations.
//!
//! CloudFormation invokes the function with a request ([`request`]); the flow ([`flow`])
//! creates, updates or deletes the template through the narrow [`RuleTemplates`] port; the
//! [`outcome`] becomes the response body ([`response`], ≤ 4096 bytes), which [`handler`] PUTs to
//! the request's pre-signed `ResponseURL` through the [`Respond`] port, always, before the
//! Lambda deadline. Adapters: `crate::aws::rule_templates` (CodeCommit) and [`http`] (the
//! HTTPS PUT); [`memory`] holds the in-memory fakes for flow stories.
//!
//! `request`, `flow`, `outcome` and `response` are pure: no SDK, no tokio, no I/O of their own.

pub mod flow;
pub mod handler;
pub mod http;
pub mod memory;
pub mod outcome;
pub mod request;
pub mod response;

use crate::ports::PortResult;
use std::fmt;
use std::future::Future;

/// The most repository names one batch (dis)association call takes
/// (`MaximumRepositoryNamesExceededException`, aws-reference-2 §2).
pub const MAX_BATCH_REPOSITORIES: usize = 100;

/// An approval rule template as CodeCommit returns it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TemplateRecord {
    /// `approvalRuleTemplateId`.
    pub id: String,
    /// `approvalRuleTemplateName`.
    pub name: String,
    /// `approvalRuleTemplateContent`, as stored (compare with [`crate::rule_content::same_content`]).
    pub content: String,
    /// `approvalRuleTemplateDescription` (empty when there is none).
    pub description: String,
}

/// What `CreateApprovalRuleTemplate` did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CreateResult {
    /// The template was created.
    Created(TemplateRecord),
    /// A template with that name already exists (`ApprovalRuleTemplateNameAlreadyExistsException`).
    NameTaken,
}

/// What `DeleteApprovalRuleTemplate` did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeleteResult {
    /// Deleted; its id.
    Deleted {
        /// `approvalRuleTemplateId`.
        id: String,
    },
    /// There was no such template (a 200 with an empty id, or `ApprovalRuleTemplateDoesNotExistException`).
    Absent,
    /// Still associated with a repository (`ApprovalRuleTemplateInUseException`).
    InUse,
}

/// One repository a batch call could not (dis)associate: an entry of the output's `errors[]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RepositoryFailure {
    /// `repositoryName`.
    pub repository: String,
    /// `errorCode`, e.g. `RepositoryDoesNotExistException`.
    pub code: String,
    /// `errorMessage`.
    pub message: String,
}

impl fmt::Display for RepositoryFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({}", self.repository, self.code)?;
        if !self.message.is_empty() {
            write!(f, ": {}", self.message)?;
        }
        f.write_str(")")
    }
}

/// The outcome of one batch (dis)association call.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BatchResult {
    /// The repositories done (`associatedRepositoryNames` / `disassociatedRepositoryNames`).
    pub done: Vec<String>,
    /// The repositories not done (`errors[]`).
    pub failed: Vec<RepositoryFailure>,
}

/// CodeCommit's approval rule template operations, as gate-setup uses them. Each call is one
/// API call except [`RuleTemplates::repositories`], which follows `nextToken` to the end.
/// Modelled outcomes the flow branches on are values, not errors.
pub trait RuleTemplates: Send + Sync {
    /// `GetApprovalRuleTemplate`; `None` when there is no such template.
    fn template(
        &self,
        name: &str,
    ) -> impl Future<Output = PortResult<Option<TemplateRecord>>> + Send;

    /// `CreateApprovalRuleTemplate`.
    fn create(
        &self,
        name: &str,
        content: &str,
        description: &str,
    ) -> impl Future<Output = PortResult<CreateResult>> + Send;

    /// `UpdateApprovalRuleTemplateContent` (the content is complete, not a patch); `None`
    /// when there is no such template.
    fn update_content(
        &self,
        name: &str,
        content: &str,
    ) -> impl Future<Output = PortResult<Option<TemplateRecord>>> + Send;

    /// `UpdateApprovalRuleTemplateDescription`; `None` when there is no such template.
    fn update_description(
        &self,
        name: &str,
        description: &str,
    ) -> impl Future<Output = PortResult<Option<TemplateRecord>>> + Send;

    /// Every page of `ListRepositoriesForApprovalRuleTemplate`; `None` when there is no such
    /// template.
    fn repositories(
        &self,
        name: &str,
    ) -> impl Future<Output = PortResult<Option<Vec<String>>>> + Send;

    /// `BatchAssociateApprovalRuleTemplateWithRepositories` for at most
    /// [`MAX_BATCH_REPOSITORIES`] names; `None` when there is no such template.
    fn associate(
        &self,
        name: &str,
        repositories: &[String],
    ) -> impl Future<Output = PortResult<Option<BatchResult>>> + Send;

    /// `BatchDisassociateApprovalRuleTemplateFromRepositories` for at most
    /// [`MAX_BATCH_REPOSITORIES`] names; `None` when there is no such template.
    fn disassociate(
        &self,
        name: &str,
        repositories: &[String],
    ) -> impl Future<Output = PortResult<Option<BatchResult>>> + Send;

    /// `DeleteApprovalRuleTemplate`.
    fn delete(&self, name: &str) -> impl Future<Output = PortResult<DeleteResult>> + Send;
}

/// Why the response could not be delivered.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RespondError {
    /// The `ResponseURL` is not a URL the client can PUT to.
    #[error("the ResponseURL is not usable: {0}")]
    InvalidUrl(String),
    /// Connecting, TLS or the exchange itself failed.
    #[error("the PUT to the ResponseURL failed: {0}")]
    Transport(String),
    /// The server answered with an error status.
    #[error("the ResponseURL answered HTTP {status}: {body}")]
    Status {
        /// The HTTP status.
        status: u16,
        /// The start of the response body (S3 explains itself in XML).
        body: String,
    },
    /// No answer in time.
    #[error("the PUT to the ResponseURL took longer than {0} ms")]
    TimedOut(u128),
}

/// Delivers a custom-resource response: one HTTP PUT of `body` to the pre-signed `url`.
pub trait Respond: Send + Sync {
    /// PUTs `body` (JSON) to `url`.
    fn put(&self, url: &str, body: &str) -> impl Future<Output = Result<(), RespondError>> + Send;
}
