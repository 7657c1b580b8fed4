//! gate-start: EventBridge pull-request and comment events → a plan and a gating run.
//! `GATE_BACKEND=local` runs the same flow on the embedded default (local repositories under
//! `GATE_REPOS_DIR`, checks run in-process), for offline replay with `cargo lambda`.

use codecommit_gate::config::Config;
use codecommit_gate::flow::Deps;
use codecommit_gate::{aws, lambda};
use lambda_runtime::{Error, LambdaEvent, service_fn};
use serde_json::Value;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    lambda::init_logging();
    if std::env::var("GATE_BACKEND").is_ok_and(|b| b == "local") {
        let deps = lambda::local_deps(lambda::local_settings());
        let deps = &deps;
        return lambda_runtime::run(service_fn(move |e: LambdaEvent<Value>| {
            lambda::local_start_handler(deps, e.payload)
        }))
        .await;
    }
    let config = Config::from_env(true)?;
    let clients = aws::Clients::from_env().await;
    let deps = Deps {
        prs: clients.pull_requests(),
        executions: clients.executions(config.state_machine_arn.clone().unwrap_or_default()),
        ledger: clients.ledger(config.table_name.clone()),
        notifier: clients.notifier(config.topic_arn.clone()),
        settings: config.settings,
    };
    let deps = &deps;
    lambda_runtime::run(service_fn(move |e: LambdaEvent<Value>| {
        lambda::start_handler(deps, e.payload)
    }))
    .await
}
