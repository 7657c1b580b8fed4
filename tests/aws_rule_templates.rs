//! The approval-rule-template adapter against a mocked SDK client: request fields, the API samples' shapes, paging, modelled errors as values, throttling and 5xx as transient.
//!
//! Response bodies are the CLI samples copied into `tests/data/api-samples/` (so the SDK's own
//! deserializer runs on them); rules run in `RuleMode::Sequential`, where a request that does
//! not satisfy its rule's `match_requests` fails the test.

use aws_sdk_codecommit::Client;
use aws_smithy_mocks::{Rule, RuleMode, mock, mock_client};
use codecommit_gate::aws::retry_config;
use codecommit_gate::aws::rule_templates::AwsRuleTemplates;
use codecommit_gate::ports::PortError;
use codecommit_gate::setup::{
    BatchResult, CreateResult, DeleteResult, RepositoryFailure, RuleTemplates, TemplateRecord,
};
use serde_json::{Value, json};

const NAME: &str = "2-approver-rule-for-main";

fn adapter(rules: &[&Rule]) -> AwsRuleTemplates {
    let client: Client = mock_client!(aws_sdk_codecommit, RuleMode::Sequential, rules, |c| c
        .retry_config(retry_config()));
    AwsRuleTemplates::new(client)
}

fn sample(file: &str) -> Value {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/api-samples")
        .join(file);
    serde_json::from_str(&std::fs::read_to_string(path).expect("sample")).expect("JSON")
}

fn body(value: Value) -> Option<String> {
    Some(value.to_string())
}

/// An awsJson error body as CodeCommit sends it.
fn error(code: &str) -> Option<String> {
    body(json!({ "__type": code, "message": format!("{code} (mocked)") }))
}

fn names(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| (*s).to_owned()).collect()
}

// Create

#[tokio::test]
async fn create_sends_name_content_and_description_and_reads_the_sample() {
    let out = sample("codecommit-create-approval-rule-template-output.json");
    let content = out["approvalRuleTemplate"]["approvalRuleTemplateContent"]
        .as_str()
        .expect("content")
        .to_owned();
    let expected_content = content.clone();
    let rule = mock!(Client::create_approval_rule_template)
        .match_requests(move |r| {
            r.approval_rule_template_name() == Some(NAME)
                && r.approval_rule_template_content() == Some(expected_content.as_str())
                && r.approval_rule_template_description() == Some("two approvers")
        })
        .sequence()
        .http_status(200, body(out))
        .build();
    let result = adapter(&[&rule])
        .create(NAME, &content, "two approvers")
        .await
        .expect("created");
    assert_eq!(
        result,
        CreateResult::Created(TemplateRecord {
            id: "dd8b17fe-EXAMPLE".into(),
            name: NAME.into(),
            content,
            description: "Requires two developers from the team to approve the pull request if the destination branch is main".into(),
        })
    );
    assert_eq!(rule.num_calls(), 1);
}

#[tokio::test]
async fn an_existing_name_is_name_taken_not_an_error() {
    let rule = mock!(Client::create_approval_rule_template)
        .sequence()
        .http_status(400, error("ApprovalRuleTemplateNameAlreadyExistsException"))
        .build();
    let result = adapter(&[&rule])
        .create(NAME, "{}", "")
        .await
        .expect("a value");
    assert_eq!(result, CreateResult::NameTaken);
    assert_eq!(rule.num_calls(), 1, "not retried");
}

#[tokio::test]
async fn invalid_content_is_permanent_and_says_so() {
    let rule = mock!(Client::create_approval_rule_template)
        .sequence()
        .http_status(400, error("InvalidApprovalRuleTemplateContentException"))
        .build();
    let err = adapter(&[&rule])
        .create(NAME, "{}", "")
        .await
        .expect_err("invalid");
    assert!(
        matches!(
            &err,
            PortError::Permanent { call: "codecommit:CreateApprovalRuleTemplate", message }
                if message.contains("InvalidApprovalRuleTemplateContentException")
        ),
        "{err:?}"
    );
}

#[tokio::test]
async fn a_created_template_without_an_id_is_a_permanent_error() {
    let mut out = sample("codecommit-create-approval-rule-template-output.json");
    out["approvalRuleTemplate"]
        .as_object_mut()
        .expect("object")
        .remove("approvalRuleTemplateId");
    let rule = mock!(Client::create_approval_rule_template)
        .sequence()
        .http_status(200, body(out))
        .build();
    let err = adapter(&[&rule])
        .create(NAME, "{}", "")
        .await
        .expect_err("no id");
    assert_eq!(
        err,
        PortError::Permanent {
            call: "codecommit:CreateApprovalRuleTemplate",
            message: "the response has no approvalRuleTemplateId".into()
        }
    );
}

// Get, update

#[tokio::test]
async fn get_reads_the_sample_and_a_missing_template_is_none() {
    let found = mock!(Client::get_approval_rule_template)
        .match_requests(|r| {
            r.approval_rule_template_name() == Some("1-approver-rule-for-all-pull-requests")
        })
        .sequence()
        .http_status(
            200,
            body(sample("codecommit-get-approval-rule-template-output.json")),
        )
        .build();
    let missing = mock!(Client::get_approval_rule_template)
        .sequence()
        .http_status(400, error("ApprovalRuleTemplateDoesNotExistException"))
        .build();
    let a = adapter(&[&found, &missing]);
    let record = a
        .template("1-approver-rule-for-all-pull-requests")
        .await
        .expect("get")
        .expect("found");
    assert_eq!(record.id, "a29abb15-EXAMPLE");
    assert_eq!(
        record.description,
        "All pull requests must be approved by one developer on the team."
    );
    assert!(record.content.starts_with("{\"Version\": \"2018-11-08\""));
    assert_eq!(a.template("gone").await.expect("get"), None);
}

#[tokio::test]
async fn update_content_sends_the_new_content_and_reads_the_sample() {
    let rule = mock!(Client::update_approval_rule_template_content)
        .match_requests(|r| {
            r.approval_rule_template_name() == Some("1-approver-rule-for-all-pull-requests")
                && r.new_rule_content() == Some("{\"new\":1}")
                && r.existing_rule_content_sha256().is_none()
        })
        .sequence()
        .http_status(
            200,
            body(sample(
                "codecommit-update-approval-rule-template-content-output.json",
            )),
        )
        .build();
    let missing = mock!(Client::update_approval_rule_template_content)
        .sequence()
        .http_status(400, error("ApprovalRuleTemplateDoesNotExistException"))
        .build();
    let a = adapter(&[&rule, &missing]);
    let record = a
        .update_content("1-approver-rule-for-all-pull-requests", "{\"new\":1}")
        .await
        .expect("updated")
        .expect("exists");
    assert_eq!(record.id, "41de97b7-EXAMPLE");
    assert_eq!(a.update_content("gone", "{}").await.expect("value"), None);
}

#[tokio::test]
async fn update_description_sends_the_description() {
    let mut out = sample("codecommit-get-approval-rule-template-output.json");
    out["approvalRuleTemplate"]["approvalRuleTemplateDescription"] = json!("new words");
    let rule = mock!(Client::update_approval_rule_template_description)
        .match_requests(|r| {
            r.approval_rule_template_name() == Some(NAME)
                && r.approval_rule_template_description() == Some("new words")
        })
        .sequence()
        .http_status(200, body(out))
        .build();
    let missing = mock!(Client::update_approval_rule_template_description)
        .sequence()
        .http_status(400, error("ApprovalRuleTemplateDoesNotExistException"))
        .build();
    let a = adapter(&[&rule, &missing]);
    let record = a
        .update_description(NAME, "new words")
        .await
        .expect("updated")
        .expect("exists");
    assert_eq!(record.description, "new words");
    assert_eq!(
        a.update_description("gone", "x").await.expect("value"),
        None
    );
}

// ListRepositoriesForApprovalRuleTemplate

#[tokio::test]
async fn repositories_follow_next_token_to_the_last_page() {
    let page1 = mock!(Client::list_repositories_for_approval_rule_template)
        .match_requests(|r| r.approval_rule_template_name() == Some(NAME) && r.next_token().is_none())
        .sequence()
        .http_status(
            200,
            body(json!({ "repositoryNames": ["MyDemoRepo", "MyOtherDemoRepo"], "nextToken": "page-2" })),
        )
        .build();
    let page2 = mock!(Client::list_repositories_for_approval_rule_template)
        .match_requests(|r| r.next_token() == Some("page-2"))
        .sequence()
        .http_status(
            200,
            body(json!({ "repositoryNames": [], "nextToken": "page-3" })),
        )
        .build();
    let page3 = mock!(Client::list_repositories_for_approval_rule_template)
        .match_requests(|r| r.next_token() == Some("page-3"))
        .sequence()
        .http_status(
            200,
            body(json!({ "repositoryNames": ["Third"], "nextToken": "" })),
        )
        .build();
    let repositories = adapter(&[&page1, &page2, &page3])
        .repositories(NAME)
        .await
        .expect("listed");
    assert_eq!(
        repositories,
        Some(names(&["MyDemoRepo", "MyOtherDemoRepo", "Third"]))
    );
    assert_eq!(
        (page1.num_calls(), page2.num_calls(), page3.num_calls()),
        (1, 1, 1)
    );
}

#[tokio::test]
async fn repositories_of_a_missing_template_are_none_and_a_bad_token_fails() {
    let missing = mock!(Client::list_repositories_for_approval_rule_template)
        .sequence()
        .http_status(400, error("ApprovalRuleTemplateDoesNotExistException"))
        .build();
    let page1 = mock!(Client::list_repositories_for_approval_rule_template)
        .sequence()
        .http_status(
            200,
            body(json!({ "repositoryNames": ["a"], "nextToken": "t" })),
        )
        .build();
    let page2 = mock!(Client::list_repositories_for_approval_rule_template)
        .match_requests(|r| r.next_token() == Some("t"))
        .sequence()
        .http_status(400, error("InvalidContinuationTokenException"))
        .build();
    let a = adapter(&[&missing, &page1, &page2]);
    assert_eq!(a.repositories("gone").await.expect("value"), None);
    let err = a.repositories(NAME).await.expect_err("bad token");
    assert_eq!(
        err.call(),
        "codecommit:ListRepositoriesForApprovalRuleTemplate"
    );
    assert_eq!(err.error_type(), "GatePermanentError");
}

// Batch (dis)association

#[tokio::test]
async fn associate_sends_the_batch_and_reads_the_sample() {
    let rule = mock!(Client::batch_associate_approval_rule_template_with_repositories)
        .match_requests(|r| {
            r.approval_rule_template_name() == Some(NAME)
                && r.repository_names() == ["MyDemoRepo", "MyOtherDemoRepo"]
        })
        .sequence()
        .http_status(
            200,
            body(sample(
                "codecommit-batch-associate-approval-rule-template-with-repositories-output.json",
            )),
        )
        .build();
    let result = adapter(&[&rule])
        .associate(NAME, &names(&["MyDemoRepo", "MyOtherDemoRepo"]))
        .await
        .expect("associated");
    assert_eq!(
        result,
        Some(BatchResult {
            done: names(&["MyDemoRepo", "MyOtherDemoRepo"]),
            failed: vec![],
        })
    );
}

#[tokio::test]
async fn per_repository_errors_are_returned_not_dropped() {
    let rule = mock!(Client::batch_associate_approval_rule_template_with_repositories)
        .sequence()
        .http_status(
            200,
            body(json!({
                "associatedRepositoryNames": ["MyDemoRepo"],
                "errors": [
                    { "repositoryName": "ghost", "errorCode": "RepositoryDoesNotExistException", "errorMessage": "ghost does not exist" },
                    { "repositoryName": "full", "errorCode": "MaximumRuleTemplatesAssociatedWithRepositoryException" }
                ]
            })),
        )
        .build();
    let result = adapter(&[&rule])
        .associate(NAME, &names(&["MyDemoRepo", "ghost", "full"]))
        .await
        .expect("a result");
    assert_eq!(
        result,
        Some(BatchResult {
            done: names(&["MyDemoRepo"]),
            failed: vec![
                RepositoryFailure {
                    repository: "ghost".into(),
                    code: "RepositoryDoesNotExistException".into(),
                    message: "ghost does not exist".into(),
                },
                RepositoryFailure {
                    repository: "full".into(),
                    code: "MaximumRuleTemplatesAssociatedWithRepositoryException".into(),
                    message: String::new(),
                },
            ],
        })
    );
}

#[tokio::test]
async fn associating_a_missing_template_is_none_and_too_many_names_is_permanent() {
    let missing = mock!(Client::batch_associate_approval_rule_template_with_repositories)
        .sequence()
        .http_status(400, error("ApprovalRuleTemplateDoesNotExistException"))
        .build();
    let too_many = mock!(Client::batch_associate_approval_rule_template_with_repositories)
        .sequence()
        .http_status(400, error("MaximumRepositoryNamesExceededException"))
        .build();
    let a = adapter(&[&missing, &too_many]);
    assert_eq!(
        a.associate("gone", &names(&["a"])).await.expect("value"),
        None
    );
    let err = a
        .associate(NAME, &names(&["a"]))
        .await
        .expect_err("too many");
    assert!(
        matches!(
            &err,
            PortError::Permanent { call: "codecommit:BatchAssociateApprovalRuleTemplateWithRepositories", message }
                if message.contains("MaximumRepositoryNamesExceededException")
        ),
        "{err:?}"
    );
}

#[tokio::test]
async fn disassociate_sends_the_batch_and_reads_its_errors() {
    let rule = mock!(Client::batch_disassociate_approval_rule_template_from_repositories)
        .match_requests(|r| {
            r.approval_rule_template_name() == Some(NAME) && r.repository_names() == ["a", "b"]
        })
        .sequence()
        .http_status(
            200,
            body(json!({
                "disassociatedRepositoryNames": ["a"],
                "errors": [{ "repositoryName": "b", "errorCode": "EncryptionKeyAccessDeniedException", "errorMessage": "no key" }]
            })),
        )
        .build();
    let missing = mock!(Client::batch_disassociate_approval_rule_template_from_repositories)
        .sequence()
        .http_status(400, error("ApprovalRuleTemplateDoesNotExistException"))
        .build();
    let a = adapter(&[&rule, &missing]);
    assert_eq!(
        a.disassociate(NAME, &names(&["a", "b"]))
            .await
            .expect("result"),
        Some(BatchResult {
            done: names(&["a"]),
            failed: vec![RepositoryFailure {
                repository: "b".into(),
                code: "EncryptionKeyAccessDeniedException".into(),
                message: "no key".into(),
            }],
        })
    );
    assert_eq!(
        a.disassociate("gone", &names(&["a"])).await.expect("value"),
        None
    );
}

// Delete

#[tokio::test]
async fn delete_reads_the_sample_id_and_an_empty_200_is_absent() {
    let deleted = mock!(Client::delete_approval_rule_template)
        .match_requests(|r| r.approval_rule_template_name() == Some(NAME))
        .sequence()
        .http_status(
            200,
            body(sample(
                "codecommit-delete-approval-rule-template-output.json",
            )),
        )
        .build();
    // "the only response is a 200 OK" for a template that does not exist.
    let absent = mock!(Client::delete_approval_rule_template)
        .sequence()
        .http_status(200, body(json!({})))
        .build();
    let a = adapter(&[&deleted, &absent]);
    assert_eq!(
        a.delete(NAME).await.expect("deleted"),
        DeleteResult::Deleted {
            id: "41de97b7-EXAMPLE".into()
        }
    );
    assert_eq!(a.delete(NAME).await.expect("absent"), DeleteResult::Absent);
}

#[tokio::test]
async fn delete_in_use_and_does_not_exist_are_values() {
    let in_use = mock!(Client::delete_approval_rule_template)
        .sequence()
        .http_status(400, error("ApprovalRuleTemplateInUseException"))
        .build();
    let missing = mock!(Client::delete_approval_rule_template)
        .sequence()
        .http_status(400, error("ApprovalRuleTemplateDoesNotExistException"))
        .build();
    let denied = mock!(Client::delete_approval_rule_template)
        .sequence()
        .http_status(400, error("AccessDeniedException"))
        .build();
    let a = adapter(&[&in_use, &missing, &denied]);
    assert_eq!(a.delete(NAME).await.expect("value"), DeleteResult::InUse);
    assert_eq!(a.delete(NAME).await.expect("value"), DeleteResult::Absent);
    let err = a.delete(NAME).await.expect_err("denied");
    assert_eq!(err.call(), "codecommit:DeleteApprovalRuleTemplate");
    assert_eq!(err.error_type(), "GatePermanentError");
    assert!(err.to_string().contains("AccessDeniedException"), "{err}");
    assert_eq!(denied.num_calls(), 1, "not retried");
}

// Transient failures

#[tokio::test(start_paused = true)]
async fn throttling_is_retried_by_the_sdk_until_it_succeeds() {
    let rule = mock!(Client::get_approval_rule_template)
        .sequence()
        .http_status(400, error("ThrottlingException"))
        .http_status(
            200,
            body(sample("codecommit-get-approval-rule-template-output.json")),
        )
        .build();
    let record = adapter(&[&rule])
        .template(NAME)
        .await
        .expect("retried")
        .expect("found");
    assert_eq!(record.id, "a29abb15-EXAMPLE");
    assert_eq!(rule.num_calls(), 2);
}

#[tokio::test(start_paused = true)]
async fn throttling_and_5xx_after_every_retry_are_transient() {
    let throttled = mock!(Client::batch_associate_approval_rule_template_with_repositories)
        .sequence()
        .http_status(400, error("ThrottlingException"))
        .times(3)
        .build();
    let unavailable = mock!(Client::delete_approval_rule_template)
        .sequence()
        .http_status(503, error("ServiceUnavailableException"))
        .times(3)
        .build();
    let a = adapter(&[&throttled, &unavailable]);
    let err = a
        .associate(NAME, &names(&["a"]))
        .await
        .expect_err("throttled");
    assert!(
        matches!(
            err,
            PortError::Transient {
                call: "codecommit:BatchAssociateApprovalRuleTemplateWithRepositories",
                ..
            }
        ),
        "{err:?}"
    );
    assert_eq!(err.error_type(), "GateTransientError");
    let err = a.delete(NAME).await.expect_err("5xx");
    assert!(
        matches!(
            err,
            PortError::Transient {
                call: "codecommit:DeleteApprovalRuleTemplate",
                ..
            }
        ),
        "{err:?}"
    );
    assert_eq!(
        (throttled.num_calls(), unavailable.num_calls()),
        (3, 3),
        "three attempts each"
    );
}
