//! gate-release's handler: the release state machine's two Lambda steps
//! ([`ReleaseStep`]): the approval wait (store the task token, ask on SNS, announce) and the
//! end of a release (record, move the environment and its lane, announce, notify).
//!
//! Both are invoked by the state machine only, so a payload that does not parse is a bug, not
//! bad user input: it fails the step (the machine catches it and finishes the release as
//! failed, deploying nothing) and is logged with the field that is wrong.

use super::finish_handler;
use crate::clock::Utc;
use crate::flows::release_approval::await_approval;
use crate::flows::{Deps, Ports};
use crate::machine::release::payload::ReleaseStep;
use lambda_runtime::Diagnostic;
use serde_json::{Value, json};

/// The error type of a step payload that does not parse.
pub const MALFORMED_STEP: &str = "GateMalformedReleaseStep";

/// Reads a release step: `Err` names the wrong field.
pub fn read_step(payload: Value) -> Result<ReleaseStep, String> {
    serde_path_to_error::deserialize(payload).map_err(|e| {
        let path = e.path().to_string();
        format!("the release step is not valid at {path}: {}", e.inner())
    })
}

/// gate-release: one step of the release state machine.
pub async fn release_handler<T: Ports>(
    deps: &Deps<T>,
    payload: Value,
) -> Result<Value, Diagnostic> {
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
        ReleaseStep::Finish(report) => finish_handler(deps, &report).await,
    }
}
