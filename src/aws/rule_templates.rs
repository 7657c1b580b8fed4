//! [`RuleTemplates`] over CodeCommit: approval rule templates and their repository associations, for gate-setup.
//!
//! Modelled outcomes become values: `ApprovalRuleTemplateNameAlreadyExistsException` →
//! [`CreateResult::NameTaken`], `ApprovalRuleTemplateDoesNotExistException` → `None` /
//! [`DeleteResult::Absent`], `ApprovalRuleTemplateInUseException` → [`DeleteResult::InUse`].
//! Everything else goes through [`port_error`] (throttling, 5xx, timeouts: transient).

use super::{permanent, port_error, service_err, unless_absent};
use crate::ports::PortResult;
use crate::setup::flow::{
    BATCH_ASSOCIATE, BATCH_DISASSOCIATE, CREATE, DELETE, GET, LIST_REPOSITORIES, UPDATE_CONTENT,
    UPDATE_DESCRIPTION,
};
use crate::setup::{
    BatchResult, CreateResult, DeleteResult, RepositoryFailure, RuleTemplates, TemplateRecord,
};
use aws_sdk_codecommit::Client;
use aws_sdk_codecommit::error::ProvideErrorMetadata;
use aws_sdk_codecommit::operation::batch_associate_approval_rule_template_with_repositories::BatchAssociateApprovalRuleTemplateWithRepositoriesError as AssociateError;
use aws_sdk_codecommit::operation::batch_disassociate_approval_rule_template_from_repositories::BatchDisassociateApprovalRuleTemplateFromRepositoriesError as DisassociateError;
use aws_sdk_codecommit::operation::create_approval_rule_template::CreateApprovalRuleTemplateError;
use aws_sdk_codecommit::operation::delete_approval_rule_template::DeleteApprovalRuleTemplateError;
use aws_sdk_codecommit::operation::get_approval_rule_template::GetApprovalRuleTemplateError;
use aws_sdk_codecommit::operation::list_repositories_for_approval_rule_template::ListRepositoriesForApprovalRuleTemplateError;
use aws_sdk_codecommit::operation::update_approval_rule_template_content::UpdateApprovalRuleTemplateContentError;
use aws_sdk_codecommit::operation::update_approval_rule_template_description::UpdateApprovalRuleTemplateDescriptionError;
use aws_sdk_codecommit::types::ApprovalRuleTemplate;

/// Not a modelled error of `DeleteApprovalRuleTemplate` (the model promises a 200 for a
/// missing template), but read as "absent" should the service send it anyway.
const DOES_NOT_EXIST: &str = "ApprovalRuleTemplateDoesNotExistException";

/// CodeCommit's approval rule templates. Build the client with the function's own role
/// (not the reporting identity: templates are the stack's, not the gate's).
#[derive(Debug, Clone)]
pub struct AwsRuleTemplates {
    client: Client,
}

impl AwsRuleTemplates {
    /// Wraps a CodeCommit client.
    pub fn new(client: Client) -> Self {
        Self { client }
    }
}

fn record(
    call: &'static str,
    template: Option<&ApprovalRuleTemplate>,
) -> PortResult<TemplateRecord> {
    let template =
        template.ok_or_else(|| permanent(call, "the response has no approvalRuleTemplate"))?;
    let id = template
        .approval_rule_template_id()
        .filter(|id| !id.is_empty())
        .ok_or_else(|| permanent(call, "the response has no approvalRuleTemplateId"))?;
    let name = template
        .approval_rule_template_name()
        .filter(|n| !n.is_empty())
        .ok_or_else(|| permanent(call, "the response has no approvalRuleTemplateName"))?;
    let content = template
        .approval_rule_template_content()
        .ok_or_else(|| permanent(call, "the response has no approvalRuleTemplateContent"))?;
    Ok(TemplateRecord {
        id: id.to_owned(),
        name: name.to_owned(),
        content: content.to_owned(),
        description: template
            .approval_rule_template_description()
            .unwrap_or_default()
            .to_owned(),
    })
}

fn failures<'a, I>(errors: I) -> Vec<RepositoryFailure>
where
    I: IntoIterator<Item = (Option<&'a str>, Option<&'a str>, Option<&'a str>)>,
{
    errors
        .into_iter()
        .map(|(repository, code, message)| RepositoryFailure {
            repository: repository.unwrap_or("(unnamed repository)").to_owned(),
            code: code.unwrap_or("(no errorCode)").to_owned(),
            message: message.unwrap_or_default().to_owned(),
        })
        .collect()
}

impl RuleTemplates for AwsRuleTemplates {
    async fn template(&self, name: &str) -> PortResult<Option<TemplateRecord>> {
        let result = self
            .client
            .get_approval_rule_template()
            .approval_rule_template_name(name)
            .send()
            .await;
        match unless_absent(GET, result, |e| {
            matches!(
                e,
                GetApprovalRuleTemplateError::ApprovalRuleTemplateDoesNotExistException(_)
            )
        })? {
            Some(output) => record(GET, output.approval_rule_template()).map(Some),
            None => Ok(None),
        }
    }

    async fn create(
        &self,
        name: &str,
        content: &str,
        description: &str,
    ) -> PortResult<CreateResult> {
        let result = self
            .client
            .create_approval_rule_template()
            .approval_rule_template_name(name)
            .approval_rule_template_content(content)
            .approval_rule_template_description(description)
            .send()
            .await;
        match result {
            Ok(output) => Ok(CreateResult::Created(record(
                CREATE,
                output.approval_rule_template(),
            )?)),
            Err(e)
                if matches!(
                    service_err(&e),
                    Some(
                        CreateApprovalRuleTemplateError::ApprovalRuleTemplateNameAlreadyExistsException(_)
                    )
                ) =>
            {
                Ok(CreateResult::NameTaken)
            }
            Err(e) => Err(port_error(CREATE, e)),
        }
    }

    async fn update_content(
        &self,
        name: &str,
        content: &str,
    ) -> PortResult<Option<TemplateRecord>> {
        let result = self
            .client
            .update_approval_rule_template_content()
            .approval_rule_template_name(name)
            .new_rule_content(content)
            .send()
            .await;
        match unless_absent(UPDATE_CONTENT, result, |e| {
            matches!(
                e,
                UpdateApprovalRuleTemplateContentError::ApprovalRuleTemplateDoesNotExistException(
                    _
                )
            )
        })? {
            Some(output) => record(UPDATE_CONTENT, output.approval_rule_template()).map(Some),
            None => Ok(None),
        }
    }

    async fn update_description(
        &self,
        name: &str,
        description: &str,
    ) -> PortResult<Option<TemplateRecord>> {
        let result = self
            .client
            .update_approval_rule_template_description()
            .approval_rule_template_name(name)
            .approval_rule_template_description(description)
            .send()
            .await;
        match unless_absent(UPDATE_DESCRIPTION, result, |e| {
            matches!(e, UpdateApprovalRuleTemplateDescriptionError::ApprovalRuleTemplateDoesNotExistException(_))
        })? {
            Some(output) => record(UPDATE_DESCRIPTION, output.approval_rule_template()).map(Some),
            None => Ok(None),
        }
    }

    async fn repositories(&self, name: &str) -> PortResult<Option<Vec<String>>> {
        let mut repositories = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let result = self
                .client
                .list_repositories_for_approval_rule_template()
                .approval_rule_template_name(name)
                .set_next_token(token.take())
                .send()
                .await;
            let absent = |e: &ListRepositoriesForApprovalRuleTemplateError| {
                matches!(
                    e,
                    ListRepositoriesForApprovalRuleTemplateError::ApprovalRuleTemplateDoesNotExistException(_)
                )
            };
            let Some(output) = unless_absent(LIST_REPOSITORIES, result, absent)? else {
                return Ok(None);
            };
            repositories.extend(output.repository_names().iter().cloned());
            match output.next_token().filter(|t| !t.is_empty()) {
                Some(next) => token = Some(next.to_owned()),
                None => break,
            }
        }
        Ok(Some(repositories))
    }

    async fn associate(
        &self,
        name: &str,
        repositories: &[String],
    ) -> PortResult<Option<BatchResult>> {
        let result = self
            .client
            .batch_associate_approval_rule_template_with_repositories()
            .approval_rule_template_name(name)
            .set_repository_names(Some(repositories.to_vec()))
            .send()
            .await;
        match unless_absent(BATCH_ASSOCIATE, result, |e| {
            matches!(
                e,
                AssociateError::ApprovalRuleTemplateDoesNotExistException(_)
            )
        })? {
            Some(output) => Ok(Some(BatchResult {
                done: output.associated_repository_names().to_vec(),
                failed: failures(
                    output
                        .errors()
                        .iter()
                        .map(|e| (e.repository_name(), e.error_code(), e.error_message())),
                ),
            })),
            None => Ok(None),
        }
    }

    async fn disassociate(
        &self,
        name: &str,
        repositories: &[String],
    ) -> PortResult<Option<BatchResult>> {
        let result = self
            .client
            .batch_disassociate_approval_rule_template_from_repositories()
            .approval_rule_template_name(name)
            .set_repository_names(Some(repositories.to_vec()))
            .send()
            .await;
        match unless_absent(BATCH_DISASSOCIATE, result, |e| {
            matches!(
                e,
                DisassociateError::ApprovalRuleTemplateDoesNotExistException(_)
            )
        })? {
            Some(output) => Ok(Some(BatchResult {
                done: output.disassociated_repository_names().to_vec(),
                failed: failures(
                    output
                        .errors()
                        .iter()
                        .map(|e| (e.repository_name(), e.error_code(), e.error_message())),
                ),
            })),
            None => Ok(None),
        }
    }

    async fn delete(&self, name: &str) -> PortResult<DeleteResult> {
        let result = self
            .client
            .delete_approval_rule_template()
            .approval_rule_template_name(name)
            .send()
            .await;
        match result {
            // A missing template: "the only response is a 200 OK", which the SDK reads as
            // an empty id (aws-reference-2 §2).
            Ok(output) if output.approval_rule_template_id().is_empty() => Ok(DeleteResult::Absent),
            Ok(output) => Ok(DeleteResult::Deleted {
                id: output.approval_rule_template_id().to_owned(),
            }),
            Err(e) => match service_err(&e) {
                Some(DeleteApprovalRuleTemplateError::ApprovalRuleTemplateInUseException(_)) => {
                    Ok(DeleteResult::InUse)
                }
                Some(other) if other.code() == Some(DOES_NOT_EXIST) => Ok(DeleteResult::Absent),
                _ => Err(port_error(DELETE, e)),
            },
        }
    }
}
