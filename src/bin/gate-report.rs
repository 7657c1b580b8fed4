//! gate-report: Step Functions run results → the PR comment and approval (the flow lands with the gate-report issue).

use codecommit_gate::lambda;
use lambda_runtime::{Error, LambdaEvent, service_fn};
use serde_json::Value;

async fn handler(invocation: LambdaEvent<Value>) -> Result<Value, Error> {
    match lambda::read_event(invocation.payload) {
        Ok(event) => Ok(serde_json::to_value(&event)?),
        Err(rejected) => Ok(rejected),
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    lambda::init_logging();
    lambda_runtime::run(service_fn(handler)).await
}
