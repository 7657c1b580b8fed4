//! gate-report: run results and run status changes → the PR comment, the approval, SNS, the ledger.
//! `GATE_BACKEND=local` reports into the local store of the embedded default.

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
            lambda::report_handler(deps, &codecommit_gate::local::LocalLogs, e.payload)
        }))
        .await;
    }
    let config = Config::from_env(false)?;
    let clients = aws::Clients::from_env().await;
    let deps = Deps {
        prs: clients.pull_requests(),
        executions: clients.executions(config.state_machine_arn.clone().unwrap_or_default()),
        ledger: clients.ledger(config.table_name.clone()),
        notifier: clients.notifier(config.topic_arn.clone()),
        settings: config.settings,
    };
    let logs = clients.logs();
    let (deps, logs) = (&deps, &logs);
    lambda_runtime::run(service_fn(move |e: LambdaEvent<Value>| {
        lambda::report_handler(deps, logs, e.payload)
    }))
    .await
}
