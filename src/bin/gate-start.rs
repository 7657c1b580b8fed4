//! gate-start: EventBridge pull-request and comment events → a plan and a gating run.
//! `GATE_BACKEND=local` runs the same flow on the embedded default (local repositories under
//! `GATE_REPOS_DIR`, checks run in-process), for offline replay with `cargo lambda`.

use codecommit_gate::lambda;
use lambda_runtime::{Error, LambdaEvent, service_fn};
use serde_json::Value;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    lambda::init_logging();
    if lambda::local_backend() {
        let deps = lambda::local_deps(lambda::local_settings());
        let deps = &deps;
        return lambda_runtime::run(service_fn(move |e: LambdaEvent<Value>| {
            lambda::local_start_handler(deps, e.payload)
        }))
        .await;
    }
    let (deps, _) = lambda::aws_deps(true).await?;
    let queue = lambda::queue::aws_queue_adapters().await?;
    let (deps, queue) = (&deps, &queue);
    lambda_runtime::run(service_fn(move |e: LambdaEvent<Value>| {
        queue.start_handler(deps, e.payload)
    }))
    .await
}
