//! gate-report: run results and run status changes → the PR comment, the approval, SNS, the ledger.
//! `GATE_BACKEND=local` reports into the local store of the embedded default.

use codecommit_gate::lambda;
use codecommit_gate::local::LocalLogs;
use lambda_runtime::{Error, LambdaEvent, service_fn};
use serde_json::Value;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    lambda::init_logging();
    if lambda::local_backend() {
        let deps = lambda::local_deps(lambda::local_settings());
        let deps = &deps;
        return lambda_runtime::run(service_fn(move |e: LambdaEvent<Value>| {
            lambda::report_handler(deps, &LocalLogs, e.payload)
        }))
        .await;
    }
    let (deps, logs) = lambda::aws_deps(false).await?;
    let queue = lambda::queue::aws_queue_adapters().await?;
    let (deps, logs, queue) = (&deps, &logs, &queue);
    lambda_runtime::run(service_fn(move |e: LambdaEvent<Value>| {
        queue.report_handler(deps, logs, e.payload)
    }))
    .await
}
