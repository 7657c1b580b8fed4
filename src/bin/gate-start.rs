//! gate-start: EventBridge pull-request and comment events → a plan and a gating run. The
//! offline replay on the embedded default is `gate-start-replay` (same flow, local adapters), a
//! binary of its own so this bootstrap carries no local backend (docs/performance.md §4).

use codecommit_gate::lambda;
use lambda_runtime::{Error, LambdaEvent, service_fn};
use serde_json::Value;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    lambda::init_logging();
    let (deps, clients) = lambda::aws_deps(true).await?;
    let queue = lambda::queue::aws_queue_adapters(&clients, &deps.ledger);
    let (deps, queue) = (&deps, &queue);
    lambda_runtime::run(service_fn(move |e: LambdaEvent<Value>| {
        queue.start_handler(deps, e.payload)
    }))
    .await
}
