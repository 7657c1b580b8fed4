//! gate-setup: the CloudFormation custom resource `Custom::ApprovalRuleTemplate` → the gate's
//! approval rule template in CodeCommit, associated with every gated repository.
//!
//! Configuration comes from the Lambda environment only (region, credentials, and
//! `AWS_ENDPOINT_URL_CODECOMMIT` for a local endpoint); the request carries the rest.

use codecommit_gate::aws::load_sdk_config;
use codecommit_gate::aws::rule_templates::AwsRuleTemplates;
use codecommit_gate::lambda;
use codecommit_gate::setup::handler::{handle, time_left};
use codecommit_gate::setup::http::HttpResponder;
use lambda_runtime::{Error, LambdaEvent, service_fn};
use serde_json::Value;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    lambda::init_logging();
    let config = load_sdk_config().await;
    // The function's own role manages the template; the approver in it is the reporter.
    let templates = AwsRuleTemplates::new(aws_sdk_codecommit::Client::new(&config));
    let responder = HttpResponder::new()
        .map_err(|e| format!("cannot build the HTTPS client for the response PUT: {e}"))?;
    let (templates, responder) = (&templates, &responder);
    lambda_runtime::run(service_fn(move |e: LambdaEvent<Value>| {
        let left = time_left(&e.context);
        handle(templates, responder, e.payload, left)
    }))
    .await
}
