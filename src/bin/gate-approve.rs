//! gate-approve: decisions on releases waiting for a person. Invoked by its function URL
//! (`AWS_IAM` auth: `gate approve|reject`) and by the EventBridge rule for comments on pull
//! requests (`/gate approve|reject <environment>`); the only caller of
//! `states:SendTaskSuccess` / `states:SendTaskFailure`.

use codecommit_gate::lambda;
use codecommit_gate::lambda::approve;
use lambda_runtime::{Error, LambdaEvent, service_fn};
use serde_json::Value;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    lambda::init_logging();
    let deps = approve::aws_deps(codecommit_gate::aws::Clients::bus).await?;
    let deps = &deps;
    lambda_runtime::run(service_fn(move |e: LambdaEvent<Value>| {
        approve::approve_handler(deps, e.payload)
    }))
    .await
}
