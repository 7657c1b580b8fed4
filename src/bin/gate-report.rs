//! gate-report: run results and run status changes → the PR comment, the approval, SNS, the ledger.
//! The offline replay on the embedded default is `gate-report-replay`.

use codecommit_gate::lambda;
use lambda_runtime::{Error, LambdaEvent, service_fn};
use serde_json::Value;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    lambda::init_logging();
    let (deps, clients) = lambda::aws_deps(false).await?;
    let queue = lambda::queue::aws_queue_adapters(&clients, &deps.ledger);
    let logs = clients.build_outputs();
    let (deps, logs, queue) = (&deps, &logs, &queue);
    lambda_runtime::run(service_fn(move |e: LambdaEvent<Value>| {
        queue.report_handler(deps, logs, e.payload)
    }))
    .await
}
