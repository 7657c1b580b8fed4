//! What the CodeCommit adapters' mocked tests share: a client answering from aws-smithy-mocks
//! rules in order (a request that does not satisfy its rule's `match_requests` fails the
//! test), JSON bodies, awsJson error bodies, and the samples' repository.

use aws_sdk_codecommit::Client;
use aws_smithy_mocks::{Rule, RuleMode, mock_client};
use codecommit_gate::aws::retry_config;
use codecommit_gate::ids::{CommitId, RepositoryName};
use serde_json::{Value, json};

/// A CodeCommit client answering from `rules`, in order, with the gate's retry configuration.
pub fn client(rules: &[&Rule]) -> Client {
    mock_client!(aws_sdk_codecommit, RuleMode::Sequential, rules, |c| c
        .retry_config(retry_config()))
}

/// A response body.
pub fn body(value: Value) -> Option<String> {
    Some(value.to_string())
}

/// An awsJson error body as CodeCommit sends it.
pub fn error(code: &str) -> Option<String> {
    body(json!({ "__type": code, "message": format!("{code} (mocked)") }))
}

/// The samples' repository.
pub fn repo() -> RepositoryName {
    RepositoryName::new("MyDemoRepo")
}

/// A commit id.
pub fn commit(id: &str) -> CommitId {
    CommitId::new(id)
}
