//! gate-release: the release state machine's Lambda steps: the approval wait (the task token
//! into the table, the question on SNS) and the end of a release (records, the environment,
//! the lane's next release, announcements, what the checks' test and coverage reports said).

use codecommit_gate::lambda;
use lambda_runtime::{Error, LambdaEvent, service_fn};
use serde_json::Value;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    lambda::init_logging();
    let (deps, clients) = lambda::aws_deps(false).await?;
    let outputs = clients.build_outputs();
    let (deps, outputs) = (&deps, &outputs);
    lambda_runtime::run(service_fn(move |e: LambdaEvent<Value>| {
        lambda::release::release_handler(deps, outputs, e.payload)
    }))
    .await
}
