//! What the Lambda binaries share: the payload read at the edge, the handlers over any adapters, and the wiring of both backends.
//!
//! - [`start_handler`] / [`report_handler`]: a payload → [`gate_start`] / [`gate_report`] over
//!   whatever adapters `deps` holds.
//! - [`aws_deps`]: the AWS adapters, built once per cold start (the default).
//! - [`local_deps`] and the local handler: the **embedded default's** adapters, which the
//!   replay binaries (`gate-start-replay`, `gate-report-replay`) use: the same flows over local
//!   git repositories, the local runner and `.gate/` files, for offline replay with
//!   `cargo lambda`. The deployed binaries never reference them, so they carry no local backend.
//!
//! A payload that is not a valid event is logged and acknowledged (never retried: a retry
//! would fail the same way). An infrastructure fault is returned as a Lambda error with a
//! stable `errorType`, so EventBridge or Step Functions retry it and the DLQ keeps it.

pub mod approve;
pub mod queue;
pub mod release;

use crate::event::{self, Event};
use crate::flows::gate_report::{self, ReportRequest};
use crate::flows::gate_start;
use crate::flows::{Deps, FlowError, Ports};
use crate::machine::ReportPayload;
use crate::ports::Logs;
use lambda_runtime::Diagnostic;
use serde_json::{Value, json};

/// Parses an invocation payload into our event, logging what the gate makes of it. `Err`
/// carries the JSON to return for a malformed payload, already logged.
pub fn read_event(payload: Value) -> Result<Event, Value> {
    match event::parse_value(payload) {
        Ok(event) => {
            match &event {
                Event::Ignore { reason } => {
                    tracing::info!(action = "ignore", %reason, "event ignored")
                }
                other => tracing::info!(
                    action = other.action(),
                    pull_request = other.pull_request().map(|p| p.id.as_str()),
                    "event received"
                ),
            }
            Ok(event)
        }
        Err(error) => {
            tracing::error!(%error, field = error.field(), "malformed event acknowledged and dropped");
            Err(json!({ "action": "rejected", "error": error.to_string() }))
        }
    }
}

/// A port's failure as the Lambda error (its stable `errorType`).
fn diagnostic_of(e: &crate::ports::PortError) -> Diagnostic {
    Diagnostic {
        error_type: e.error_type().to_owned(),
        error_message: e.to_string(),
    }
}

fn diagnostic(e: &FlowError) -> Diagnostic {
    Diagnostic {
        error_type: e.error_type().to_owned(),
        error_message: e.to_string(),
    }
}

/// gate-start: an EventBridge event → [`gate_start::handle`].
pub async fn start_handler<T: Ports>(deps: &Deps<T>, payload: Value) -> Result<Value, Diagnostic> {
    let event = match read_event(payload) {
        Ok(event) => event,
        Err(rejected) => return Ok(rejected),
    };
    match gate_start::handle(deps, event).await {
        Ok(outcome) => {
            tracing::info!(?outcome, "gate-start done");
            Ok(serde_json::to_value(&outcome).unwrap_or(Value::Null))
        }
        Err(e) => Err(diagnostic(&e)),
    }
}

/// What gate-report received: the machine's report, a status-change event, or something to drop.
pub fn read_report(payload: Value) -> Result<ReportRequest, Value> {
    if payload.get("detail-type").is_some() {
        return match read_event(payload)? {
            Event::RunFinished(run) => Ok(ReportRequest::StatusChange(Box::new(run))),
            other => Err(
                json!({ "action": "ignore", "reason": format!("gate-report does not handle `{}` events", other.action()) }),
            ),
        };
    }
    match serde_json::from_value::<ReportPayload>(payload) {
        Ok(report) => Ok(ReportRequest::Report(Box::new(report))),
        Err(error) => {
            tracing::error!(%error, "malformed report payload");
            Err(json!({ "action": "rejected", "error": format!("not a report payload: {error}") }))
        }
    }
}

/// gate-report: a report payload or status-change event → [`gate_report::handle`], plus the EMF
/// metrics line. A malformed report from the state machine is an error (the machine retries,
/// then fails, and the FAILED status event revokes); a malformed event is acknowledged.
pub async fn report_handler<T: Ports, G: Logs + crate::ports::test_reports::TestReports>(
    deps: &Deps<T>,
    logs: &G,
    payload: Value,
) -> Result<Value, Diagnostic> {
    let from_machine = payload.get("detail-type").is_none();
    let request = match read_report(payload) {
        Ok(request) => request,
        Err(rejected) if from_machine => {
            return Err(Diagnostic {
                error_type: "GateMalformedReport".to_owned(),
                error_message: rejected.to_string(),
            });
        }
        Err(rejected) => return Ok(rejected),
    };
    let repository = match &request {
        ReportRequest::Report(r) => r.input.subject.repository.to_string(),
        ReportRequest::Results { input, .. } => input.subject.repository.to_string(),
        ReportRequest::StatusChange(_) => String::new(),
    };
    match gate_report::handle(deps, logs, request).await {
        Ok(outcome) => {
            if let gate_report::ReportOutcome::Reported { metrics, .. } = &outcome {
                let now = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(0, |d| d.as_millis() as i64);
                // EMF: CloudWatch turns this stdout line into metrics.
                println!("{}", crate::metrics::emf(&repository, metrics, now));
            }
            tracing::info!(?outcome, "gate-report done");
            Ok(serde_json::to_value(&outcome).unwrap_or(Value::Null))
        }
        Err(e) => Err(diagnostic(&e)),
    }
}

/// gate-release's `finish` step: the release machine's [`ReleaseReport`] →
/// [`release_finish::finish`]. An infrastructure fault is a Lambda error with the port's stable
/// `errorType` (`GateTransientError` / `GatePermanentError`), so the machine's `Retry` retries
/// it; every step of `finish` is safe to repeat.
///
/// [`ReleaseReport`]: crate::machine::release::payload::ReleaseReport
/// [`release_finish::finish`]: crate::flows::release_finish::finish
pub async fn finish_handler<T: Ports, R: crate::ports::test_reports::TestReports>(
    deps: &Deps<T>,
    reports: &R,
    report: &crate::machine::release::payload::ReleaseReport,
) -> Result<Value, Diagnostic> {
    match crate::flows::release_finish::finish(deps, reports, report).await {
        Ok(outcome) => {
            tracing::info!(?outcome, "gate-release finish done");
            Ok(serde_json::to_value(&outcome).unwrap_or(Value::Null))
        }
        Err(e) => {
            tracing::error!(call = e.call(), release = %report.input.execution_name, error = %e, "gate-release finish failed; the machine retries it");
            Err(Diagnostic {
                error_type: e.error_type().to_owned(),
                error_message: e.to_string(),
            })
        }
    }
}

/// The AWS adapters, built once per cold start.
pub type AwsDeps = Deps<(
    crate::aws::AwsPullRequests,
    crate::aws::AwsExecutions,
    crate::aws::AwsLedger,
    crate::aws::AwsNotifier,
    crate::aws::AwsBus,
)>;

/// Reads the configuration (an invalid or missing variable is an error naming it) and builds
/// the AWS clients and adapters. The clients come back for what only some mains use (the queue
/// adapters, a build's logs and reports: [`crate::aws::Clients::build_outputs`]), so a main
/// links only the service clients it asks for.
pub async fn aws_deps(
    need_state_machine: bool,
) -> Result<(AwsDeps, crate::aws::Clients), crate::config::ConfigError> {
    let config = crate::config::Config::from_env(need_state_machine)?;
    let clients = crate::aws::Clients::from_env().await;
    let mut executions = clients.executions(config.state_machine_arn.clone().unwrap_or_default());
    if let Some(releases) = &config.settings.releases {
        executions = executions.with_release_machine(releases.machine_arn.clone());
    }
    let deps = Deps {
        prs: clients.pull_requests(),
        executions,
        ledger: clients.ledger(config.table_name.clone()),
        notifier: clients.notifier(config.topic_arn.clone()),
        bus: clients.bus(),
        settings: config.settings,
    };
    Ok((deps, clients))
}

/// The adapters of the embedded default (the replay binaries).
pub type LocalDeps = Deps<(
    crate::local::LocalPullRequests,
    crate::local::LocalExecutions,
    crate::local::LocalLedger,
    crate::local::LocalNotifier,
    crate::local::LocalBus,
)>;

/// The local adapters for the repositories under `$GATE_REPOS_DIR`: pull requests, comments
/// and approvals in each repository's `.gate/`, executions run in-process by the local runner,
/// announcements appended to `.gate/events.jsonl`.
pub fn local_deps(settings: crate::config::Settings) -> LocalDeps {
    Deps {
        prs: crate::local::LocalPullRequests::from_env(settings.approver_arn.clone()),
        executions: crate::local::LocalExecutions::from_env(),
        ledger: crate::local::LocalLedger::from_env(),
        notifier: crate::local::LocalNotifier::new(),
        bus: crate::local::LocalBus::from_env(),
        settings,
    }
}

/// Settings for the embedded default: the environment's when set, else the defaults with the
/// documentation's reporter identity.
pub fn local_settings() -> crate::config::Settings {
    match crate::config::Config::from_lookup(
        |name| match name {
            "GATE_TABLE_NAME" => Some("local-ledger".to_owned()),
            "GATE_APPROVER_ARN" => std::env::var(name)
                .ok()
                .or_else(|| Some(LOCAL_APPROVER.to_owned())),
            _ => std::env::var(name).ok(),
        },
        false,
    ) {
        Ok(config) => config.settings,
        Err(e) => {
            tracing::warn!(%e, "ignoring invalid configuration for the local backend");
            crate::config::Settings::local(LOCAL_APPROVER)
        }
    }
}

/// The reporter identity the local backend writes as.
pub const LOCAL_APPROVER: &str =
    "arn:aws:sts::123456789012:assumed-role/GateReporter/codecommit-gate";

/// gate-start on the embedded default: the gate-start flow on the local adapters; when it
/// starts a run, the local runner has already run the checks in-process, so the gate-report
/// flow reports them at once (comment and approval land in the repository's `.gate/`).
pub async fn local_start_handler(deps: &LocalDeps, payload: Value) -> Result<Value, Diagnostic> {
    let out = start_handler(deps, payload).await?;
    let Some(arn) = out
        .get("execution_arn")
        .and_then(Value::as_str)
        .filter(|_| out["outcome"] == "started")
    else {
        return Ok(out);
    };
    let execution = match deps.executions.execution(arn) {
        Ok(Some(e)) => e,
        Ok(None) => return Ok(out),
        Err(e) => {
            return Err(Diagnostic {
                error_type: e.error_type().to_owned(),
                error_message: e.to_string(),
            });
        }
    };
    let request = ReportRequest::Results {
        input: Box::new(execution.input),
        results: execution.results,
    };
    match gate_report::handle(deps, &crate::local::LocalLogs, request).await {
        Ok(report) => {
            if let gate_report::ReportOutcome::Reported { verdict, .. } = &report
                && let Err(e) = deps.executions.record_history(arn, *verdict)
            {
                tracing::warn!(%e, "could not record the run in the local history");
            }
            Ok(json!({ "start": out, "report": report }))
        }
        Err(e) => Err(diagnostic(&e)),
    }
}

/// Initialises logging the Lambda way: JSON when `AWS_LAMBDA_LOG_FORMAT=JSON`, level from
/// `AWS_LAMBDA_LOG_LEVEL` or `RUST_LOG`.
pub fn init_logging() {
    lambda_runtime::tracing::init_default_subscriber();
}
