//! gate-report: run results and run status changes → the PR comment, the approval, SNS, the ledger.

use codecommit_gate::config::Config;
use codecommit_gate::flow::Deps;
use codecommit_gate::{aws, lambda};
use lambda_runtime::{Error, LambdaEvent, service_fn};
use serde_json::Value;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    lambda::init_logging();
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
