//! gate-report on the embedded default, for offline replay with `cargo lambda invoke
//! gate-report-replay`: the same gate-report flow, reporting into the local store (each
//! repository's `.gate/`). Never deployed: the template builds `gate-report`.

use codecommit_gate::lambda;
use codecommit_gate::local::LocalLogs;
use lambda_runtime::{Error, LambdaEvent, service_fn};
use serde_json::Value;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    lambda::init_logging();
    let deps = lambda::local_deps(lambda::local_settings());
    let deps = &deps;
    lambda_runtime::run(service_fn(move |e: LambdaEvent<Value>| {
        lambda::report_handler(deps, &LocalLogs, e.payload)
    }))
    .await
}
