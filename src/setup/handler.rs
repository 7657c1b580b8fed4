//! The gate-setup Lambda handler: run the flow inside the time the invocation has, retry transient failures, and always PUT a response before the deadline.
//!
//! CloudFormation invokes the function asynchronously and then waits for the PUT, for up to an
//! hour (aws-reference-2 §3): an invocation that ends without one leaves the stack hanging.
//! So every path here ends in a PUT: a malformed request, a failure, a deadline. The work gets
//! the invocation's time minus [`RESPONSE_RESERVE`]; the PUT is tried up to
//! [`PUT_ATTEMPTS`] times. Only a response that could not be delivered at all makes the
//! invocation fail, so Lambda's own retry of the asynchronous event delivers it again (the
//! flow is idempotent).
//!
//! The release profile sets `panic = "abort"`, so a panic could not be caught here anyway:
//! the flow and its adapters are written panic-free (no `unwrap`, no indexing).

use super::flow::{self, Progress};
use super::outcome::SetupOutcome;
use super::request::SetupRequest;
use super::{Respond, RespondError, RuleTemplates};
use lambda_runtime::{Context, Diagnostic};
use serde_json::{Value, json};
use std::time::{Duration, SystemTime};
use tokio::time::{Instant, sleep, timeout, timeout_at};

/// Lambda's longest timeout: a `Context.deadline` further away than this is not believed.
pub const MAX_INVOCATION: Duration = Duration::from_secs(900);
/// Time kept back from the work for sending the response.
pub const RESPONSE_RESERVE: Duration = Duration::from_secs(10);
/// How long one PUT may take.
pub const PUT_TIMEOUT: Duration = Duration::from_secs(4);
/// PUTs tried before giving up.
pub const PUT_ATTEMPTS: u32 = 3;
/// The first pause before running a transiently failed request again; it doubles each time.
pub const FIRST_BACKOFF: Duration = Duration::from_secs(1);
/// The longest pause between two runs.
pub const MAX_BACKOFF: Duration = Duration::from_secs(8);

/// The time left until the invocation's deadline (`Context.deadline`, epoch milliseconds).
pub fn time_left(context: &Context) -> Duration {
    context
        .deadline()
        .duration_since(SystemTime::now())
        .unwrap_or(Duration::ZERO)
}

/// Handles one custom-resource request with `time_left` to go; the JSON says what happened.
/// `Err` only when no response could be delivered.
pub async fn handle<T, R>(
    templates: &T,
    responder: &R,
    payload: Value,
    time_left: Duration,
) -> Result<Value, Diagnostic>
where
    T: RuleTemplates,
    R: Respond,
{
    let deadline = Instant::now() + time_left.min(MAX_INVOCATION);
    let (target, outcome) = match SetupRequest::parse(&payload) {
        Ok(request) => {
            tracing::info!(
                request_type = ?request.kind,
                logical_resource_id = %request.target.logical_resource_id,
                request_id = %request.target.request_id,
                "custom resource request"
            );
            let work_until = deadline
                .checked_sub(RESPONSE_RESERVE)
                .unwrap_or_else(Instant::now);
            let outcome = run(templates, &request, work_until).await;
            (request.target, outcome)
        }
        Err(error) => {
            let Some(target) = error.target else {
                tracing::error!(error = %error.problem, "not a custom resource request; nobody to answer");
                return Ok(json!({ "action": "rejected", "error": error.problem.to_string() }));
            };
            let outcome = flow::rejected(&target.logical_resource_id, error.problem);
            (target, outcome)
        }
    };
    let response = outcome.response(&target);
    match &outcome {
        SetupOutcome::Succeeded { .. } => {
            tracing::info!(physical_id = %response.physical_resource_id, reason = %response.reason, "SUCCESS")
        }
        SetupOutcome::Failed { .. } => {
            tracing::error!(physical_id = %response.physical_resource_id, reason = %response.reason, "FAILED")
        }
    }
    let body = response.body();
    match deliver(responder, &target.response_url, &body, deadline).await {
        Ok(()) => Ok(json!({
            "status": response.status,
            "physical_resource_id": response.physical_resource_id,
            "reason": response.reason,
        })),
        Err(e) => {
            tracing::error!(error = %e, "the response could not be delivered");
            Err(Diagnostic {
                error_type: "GateSetupResponseNotDelivered".to_owned(),
                error_message: format!(
                    "{} response for {} not delivered: {e}",
                    response.status, target.logical_resource_id
                ),
            })
        }
    }
}

/// Runs the flow until it settles or `work_until` comes: a transient failure runs the whole
/// (idempotent) request again after a growing pause, while time allows.
async fn run<T: RuleTemplates>(
    templates: &T,
    request: &SetupRequest,
    work_until: Instant,
) -> SetupOutcome {
    let mut progress = Progress::default();
    let mut backoff = FIRST_BACKOFF;
    loop {
        // `timeout_at` polls the work once even past its deadline: do not start at all.
        if Instant::now() >= work_until {
            return flow::out_of_time(request, &progress);
        }
        let attempt = timeout_at(work_until, flow::run(templates, request, &mut progress)).await;
        let outcome = match attempt {
            Ok(outcome) => outcome,
            Err(_) => return flow::out_of_time(request, &progress),
        };
        if !outcome.is_transient_failure() || Instant::now() + backoff >= work_until {
            return outcome;
        }
        if let SetupOutcome::Failed { error, .. } = &outcome {
            tracing::warn!(%error, ?backoff, "transient failure; running the request again");
        }
        sleep(backoff).await;
        backoff = (backoff * 2).min(MAX_BACKOFF);
    }
}

/// PUTs `body`, up to [`PUT_ATTEMPTS`] times, each within [`PUT_TIMEOUT`] and the deadline.
async fn deliver<R: Respond>(
    responder: &R,
    url: &str,
    body: &str,
    deadline: Instant,
) -> Result<(), RespondError> {
    let mut last = RespondError::TimedOut(0);
    for attempt in 1..=PUT_ATTEMPTS {
        // The last attempt may use what is left of the invocation; earlier ones keep to
        // PUT_TIMEOUT so a retry still fits.
        let left = deadline.saturating_duration_since(Instant::now());
        let limit = if attempt == PUT_ATTEMPTS {
            left.max(PUT_TIMEOUT)
        } else {
            PUT_TIMEOUT
        };
        match timeout(limit, responder.put(url, body)).await {
            Ok(Ok(())) => return Ok(()),
            Ok(Err(RespondError::InvalidUrl(e))) => return Err(RespondError::InvalidUrl(e)),
            Ok(Err(e)) => last = e,
            Err(_) => last = RespondError::TimedOut(limit.as_millis()),
        }
        tracing::warn!(attempt, error = %last, "response PUT failed");
    }
    Err(last)
}
