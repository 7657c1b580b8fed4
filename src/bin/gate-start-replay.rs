//! gate-start on the embedded default, for offline replay with `cargo lambda watch` /
//! `cargo lambda invoke gate-start-replay`: the same gate-start flow over the local adapters
//! (repositories under `GATE_REPOS_DIR`, checks run in-process, the comment, approval and
//! ledger in each repository's `.gate/`). Never deployed: the template builds `gate-start`.

use codecommit_gate::lambda;
use lambda_runtime::{Error, LambdaEvent, service_fn};
use serde_json::Value;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    lambda::init_logging();
    let deps = lambda::local_deps(lambda::local_settings());
    let deps = &deps;
    lambda_runtime::run(service_fn(move |e: LambdaEvent<Value>| {
        lambda::local_start_handler(deps, e.payload)
    }))
    .await
}
