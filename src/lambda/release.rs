//! gate-release's handler: the release state machine's two Lambda steps
//! ([`ReleaseStep`]): the approval wait (store the task token, ask on SNS, announce) and the
//! end of a release (record, move the environment and its lane, announce, notify).
//!
//! Both are invoked by the state machine only, so a payload that does not parse is a bug, not
//! bad user input: it fails the step (the machine catches it and finishes the release as
//! failed, deploying nothing) and is logged with the field that is wrong.
//!
//! The safety net: a release execution that ends without its Finish step (it ran out of
//! `MaxReleaseSeconds`, someone stopped it, or Finish itself failed after its retries) reaches
//! gate-release as an EventBridge *Step Functions Execution Status Change* event; the release
//! is then finished as errored from the execution's input, so its lane never stays blocked
//! and the environment never moves. Finishing is idempotent, so a release that did finish is
//! not finished twice.

use super::finish_handler;
use crate::clock::Utc;
use crate::event::{Event, RunFinished, RunStatus};
use crate::flows::release_approval::await_approval;
use crate::flows::{Deps, Ports};
use crate::machine::MachineError;
use crate::machine::release::ReleaseExecutionInput;
use crate::machine::release::payload::{ReleaseReport, ReleaseStep};
use crate::ports::test_reports::TestReports;
use lambda_runtime::Diagnostic;
use serde_json::{Value, json};

/// The error type of a step payload that does not parse.
pub const MALFORMED_STEP: &str = "GateMalformedReleaseStep";

/// Reads a release step: `Err` names the wrong field. The `action` tag is read first, so the
/// path of a wrong field is the payload's own (serde's internally tagged enums lose it).
pub fn read_step(payload: Value) -> Result<ReleaseStep, String> {
    let bad = |e: serde_path_to_error::Error<serde_json::Error>| {
        format!(
            "the release step is not valid at {}: {}",
            e.path(),
            e.inner()
        )
    };
    let action = payload
        .get("action")
        .and_then(Value::as_str)
        .map(str::to_owned);
    match action.as_deref() {
        Some("await_approval") => serde_path_to_error::deserialize(payload)
            .map(|r| ReleaseStep::AwaitApproval(Box::new(r)))
            .map_err(bad),
        Some("finish") => serde_path_to_error::deserialize(payload)
            .map(|r| ReleaseStep::Finish(Box::new(r)))
            .map_err(bad),
        other => Err(format!(
            "the release step's action is {other:?}, not \"await_approval\" or \"finish\""
        )),
    }
}

/// The `detail-type` of Step Functions' status-change events.
const STATUS_CHANGE: &str = "Step Functions Execution Status Change";

/// gate-release: one step of the release state machine, or the status change of a release
/// execution that ended without its Finish step.
pub async fn release_handler<T: Ports, R: TestReports>(
    deps: &Deps<T>,
    reports: &R,
    payload: Value,
) -> Result<Value, Diagnostic> {
    if payload.get("detail-type").and_then(Value::as_str) == Some(STATUS_CHANGE) {
        return match super::read_event(payload) {
            Ok(Event::RunFinished(ended)) => ended_without_finish(deps, reports, &ended).await,
            Ok(_) => Ok(json!({ "action": "ignore" })),
            Err(rejected) => Ok(rejected),
        };
    }
    let step = read_step(payload).map_err(|message| {
        tracing::error!(%message, "gate-release got a step it cannot read");
        Diagnostic {
            error_type: MALFORMED_STEP.to_owned(),
            error_message: message,
        }
    })?;
    match step {
        ReleaseStep::AwaitApproval(request) => {
            let now = Utc::now().rfc3339_millis();
            let release = &request.input.execution_name;
            match await_approval(&deps.ledger, &deps.notifier, &deps.bus, &now, &request).await {
                Ok(()) => {
                    tracing::info!(%release, environment = %request.input.environment, "the release waits for an approval");
                    Ok(json!({ "waiting": release }))
                }
                Err(e) => {
                    tracing::error!(call = e.call(), %release, error = %e, "gate-release could not ask for the approval; the release fails");
                    Err(Diagnostic {
                        error_type: e.error_type().to_owned(),
                        error_message: e.to_string(),
                    })
                }
            }
        }
        ReleaseStep::Finish(report) => finish_handler(deps, reports, &report).await,
    }
}

/// The report of a release execution that ended as `ended` says, without its Finish step:
/// `None` for a success (its Finish step ran) or when the input cannot be read.
pub fn report_of_ended(ended: &RunFinished) -> Result<Option<ReleaseReport>, String> {
    if ended.status == RunStatus::Succeeded {
        return Ok(None);
    }
    let Some(input) = ended.input.clone().filter(|_| ended.input_included) else {
        return Err(format!(
            "the status change of {} carries no input (too big for the event)",
            ended.execution_arn
        ));
    };
    let input: ReleaseExecutionInput = serde_json::from_value(input)
        .map_err(|e| format!("{} is no release execution: {e}", ended.execution_arn))?;
    let cause = ended.cause.clone().unwrap_or_else(|| {
        format!(
            "the release execution ended {} before its Finish step",
            ended.status.as_aws_str()
        )
    });
    Ok(Some(ReleaseReport {
        input,
        execution_arn: ended.execution_arn.clone(),
        started_at: None,
        checks: None,
        approval: None,
        approval_error: None,
        packages: Vec::new(),
        deploys: Vec::new(),
        rollbacks: Vec::new(),
        failure: Some(MachineError {
            error: Some(
                ended
                    .error
                    .clone()
                    .unwrap_or_else(|| format!("Gate.Execution{}", ended.status.as_aws_str())),
            ),
            cause: Some(cause),
        }),
    }))
}

/// Finishes a release execution that ended without its Finish step (acknowledged when there
/// is nothing to finish; an input that cannot be read is logged and acknowledged: the lane
/// then waits for a person, which the log says).
async fn ended_without_finish<T: Ports, R: TestReports>(
    deps: &Deps<T>,
    reports: &R,
    ended: &RunFinished,
) -> Result<Value, Diagnostic> {
    match report_of_ended(ended) {
        Ok(Some(report)) => {
            tracing::warn!(execution = %ended.execution_arn, status = ended.status.as_aws_str(), "a release ended without its Finish step: finishing it as errored");
            finish_handler(deps, reports, &report).await
        }
        Ok(None) => Ok(json!({ "action": "ignore", "reason": "the release finished itself" })),
        Err(problem) => {
            tracing::error!(execution = %ended.execution_arn, %problem, "a release ended without its Finish step and cannot be finished from its status change; its environment's lane stays blocked until the item is fixed");
            Ok(json!({ "action": "rejected", "error": problem }))
        }
    }
}
