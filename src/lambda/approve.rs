//! gate-approve's handler: a Lambda function URL request (`AWS_IAM` auth, payload format
//! 2.0) or an EventBridge "CodeCommit Comment on Pull Request" event → a decision on a
//! waiting release ([`crate::flows::release_approval`]).
//!
//! The function URL request is parsed here, at the edge: only `POST` with a JSON body
//! `{"repository", "environment", "decision": "approve"|"reject", "reason"?}`; the caller is
//! `requestContext.authorizer.iam.userArn`, which Lambda fills in only after it verified the
//! request's SigV4 signature (no IAM identity: 403). Every answer is a function URL response
//! `{statusCode, headers: {content-type: application/json}, body: {"outcome", "message"}}`:
//! 200 decided, 400 bad request, 403 refused, 404 nothing waits, 405 not a POST, 409 the
//! release no longer waits (or another decision was taken first), 500 an AWS error (logged;
//! fail closed: nothing was decided unless the record says so).

use crate::event::{self, Event};
use crate::flows::release_approval::comment::on_comment;
use crate::flows::release_approval::{ApproveDeps, DecisionOutcome, DecisionRequest, Verb, decide};
use crate::ids::RepositoryName;
use crate::machine::release::payload::ApprovalChannel;
use crate::ports::{Bus, Ledger, PullRequests, TaskTokens};
use crate::report::approval::decision_message;
use lambda_runtime::Diagnostic;
use serde::Deserialize;
use serde_json::{Value, json};

/// A function URL request as gate-approve reads it (payload format version 2.0).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UrlRequest {
    /// `requestContext.http.method`.
    pub method: String,
    /// `requestContext.authorizer.iam.userArn`: `None` without IAM auth.
    pub caller_arn: Option<String>,
    /// The body, decoded from base64 when `isBase64Encoded`; `Err` says why it cannot be read.
    pub body: Result<String, String>,
}

/// The JSON body of a decision.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct DecisionBody {
    /// The repository.
    pub repository: String,
    /// The environment.
    pub environment: String,
    /// `approve` or `reject`.
    pub decision: Verb,
    /// Why (kept with the decision).
    #[serde(default)]
    pub reason: Option<String>,
}

/// A function URL response: status, and the body's `outcome` and `message`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UrlResponse {
    /// The HTTP status.
    pub status: u16,
    /// A stable word for the outcome.
    pub outcome: &'static str,
    /// What happened, for a person.
    pub message: String,
}

impl UrlResponse {
    fn new(status: u16, outcome: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            outcome,
            message: message.into(),
        }
    }

    /// The response in the shape Lambda turns into HTTP.
    pub fn to_value(&self) -> Value {
        json!({
            "statusCode": self.status,
            "headers": { "content-type": "application/json" },
            "body": json!({ "outcome": self.outcome, "message": self.message }).to_string(),
        })
    }
}

/// What reached gate-approve.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ApproveEvent {
    /// A function URL request.
    Url(UrlRequest),
    /// A comment event (its commands are read from the comment).
    Comment(Box<event::CommentEvent>),
    /// Anything else: acknowledged and dropped.
    Ignore(String),
}

/// Raw payload format 2.0, only the fields gate-approve reads.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawUrlRequest {
    request_context: RawContext,
    #[serde(default)]
    body: Option<String>,
    #[serde(default)]
    is_base64_encoded: bool,
}

#[derive(Debug, Deserialize)]
struct RawContext {
    http: RawHttp,
    #[serde(default)]
    authorizer: Option<RawAuthorizer>,
}

#[derive(Debug, Deserialize)]
struct RawHttp {
    method: String,
}

#[derive(Debug, Deserialize)]
struct RawAuthorizer {
    #[serde(default)]
    iam: Option<RawIam>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawIam {
    #[serde(default)]
    user_arn: Option<String>,
}

/// Which kind of payload this is: a function URL request has `requestContext.http`, an
/// EventBridge event a `detail-type`.
pub fn read_payload(payload: Value) -> ApproveEvent {
    if payload.pointer("/requestContext/http").is_some() {
        return match serde_json::from_value::<RawUrlRequest>(payload) {
            Ok(raw) => ApproveEvent::Url(url_request(raw)),
            Err(e) => ApproveEvent::Ignore(format!("not a function URL request: {e}")),
        };
    }
    match super::read_event(payload) {
        Ok(Event::Command(comment)) => ApproveEvent::Comment(Box::new(comment)),
        Ok(other) => ApproveEvent::Ignore(format!(
            "gate-approve does not handle `{}` events",
            other.action()
        )),
        Err(rejected) => ApproveEvent::Ignore(rejected.to_string()),
    }
}

fn url_request(raw: RawUrlRequest) -> UrlRequest {
    let caller_arn = raw
        .request_context
        .authorizer
        .and_then(|a| a.iam)
        .and_then(|iam| iam.user_arn)
        .filter(|arn| !arn.trim().is_empty());
    let body = raw.body.unwrap_or_default();
    let body = if raw.is_base64_encoded {
        base64_decode(&body)
            .and_then(|bytes| String::from_utf8(bytes).ok())
            .ok_or_else(|| "the body is not valid base64-encoded UTF-8".to_owned())
    } else {
        Ok(body)
    };
    UrlRequest {
        method: raw.request_context.http.method,
        caller_arn,
        body,
    }
}

/// Standard base64 (RFC 4648, padding optional); `None` for anything else.
fn base64_decode(text: &str) -> Option<Vec<u8>> {
    let value = |c: u8| match c {
        b'A'..=b'Z' => Some(c - b'A'),
        b'a'..=b'z' => Some(c - b'a' + 26),
        b'0'..=b'9' => Some(c - b'0' + 52),
        b'+' => Some(62),
        b'/' => Some(63),
        _ => None,
    };
    let digits = text.trim_end_matches('=').as_bytes();
    let mut out = Vec::with_capacity(digits.len() * 3 / 4);
    for chunk in digits.chunks(4) {
        let mut acc = 0u32;
        for (i, &c) in chunk.iter().enumerate() {
            acc |= u32::from(value(c)?) << (18 - 6 * i);
        }
        let bytes = acc.to_be_bytes();
        match chunk.len() {
            4 => out.extend_from_slice(&bytes[1..4]),
            3 => out.extend_from_slice(&bytes[1..3]),
            2 => out.push(bytes[1]),
            _ => return None,
        }
    }
    Some(out)
}

/// A function URL request → the decision it asks for, or the 4xx answer saying what is wrong.
pub fn decision_request(request: &UrlRequest) -> Result<DecisionRequest, UrlResponse> {
    if request.method != "POST" {
        return Err(UrlResponse::new(
            405,
            "bad_request",
            format!(
                "{} is not supported: POST a JSON body {{\"repository\", \"environment\", \"decision\": \"approve\"|\"reject\", \"reason\"?}}",
                request.method
            ),
        ));
    }
    let Some(caller) = &request.caller_arn else {
        return Err(UrlResponse::new(
            403,
            "refused",
            "no IAM identity: the function URL takes requests signed with AWS Signature \
             Version 4 (AuthType AWS_IAM); use `gate approve` or `gate reject`",
        ));
    };
    let body = request
        .body
        .as_ref()
        .map_err(|e| UrlResponse::new(400, "bad_request", e.clone()))?;
    let parsed: DecisionBody = serde_json::from_str(body).map_err(|e| {
        UrlResponse::new(
            400,
            "bad_request",
            format!("the body is not a decision: {e}; send {{\"repository\", \"environment\", \"decision\": \"approve\"|\"reject\", \"reason\"?}}"),
        )
    })?;
    if parsed.repository.trim().is_empty() || parsed.environment.trim().is_empty() {
        return Err(UrlResponse::new(
            400,
            "bad_request",
            "`repository` and `environment` must not be empty",
        ));
    }
    Ok(DecisionRequest {
        repository: RepositoryName::new(parsed.repository.trim()),
        environment: parsed.environment.trim().to_owned(),
        caller_arn: caller.clone(),
        verb: parsed.decision,
        reason: parsed.reason,
        channel: ApprovalChannel::FunctionUrl,
        extra_authors: Vec::new(),
    })
}

/// The HTTP status of a decision's outcome.
pub fn status(outcome: &DecisionOutcome) -> u16 {
    match outcome {
        DecisionOutcome::Decided { .. } => 200,
        DecisionOutcome::Refused { .. } => 403,
        DecisionOutcome::NothingWaits => 404,
        DecisionOutcome::DecidedBefore { .. } | DecisionOutcome::NoLongerWaits => 409,
    }
}

/// A function URL request → its response. An AWS error is a 500 (logged), never a decision.
pub async fn url_handler<P, L: Ledger, T: TaskTokens, B: Bus>(
    deps: &ApproveDeps<P, L, T, B>,
    now: &str,
    request: &UrlRequest,
) -> UrlResponse {
    let decision = match decision_request(request) {
        Ok(d) => d,
        Err(answer) => {
            tracing::warn!(status = answer.status, message = %answer.message, "function URL request refused");
            return answer;
        }
    };
    match decide(&deps.ledger, &deps.tokens, &deps.bus, now, &decision).await {
        Ok(outcome) => UrlResponse::new(
            status(&outcome),
            outcome.word(),
            decision_message(&outcome, &decision.environment),
        ),
        Err(e) => {
            tracing::error!(error = %e, repository = %decision.repository, environment = %decision.environment, "decision failed closed");
            UrlResponse::new(
                500,
                "error",
                "the gate could not reach AWS to decide; nothing was decided, try again \
                 (the error is in gate-approve's log)",
            )
        }
    }
}

/// gate-approve: a function URL request or a comment event. A comment event that fails on
/// AWS is a Lambda error (EventBridge retries it); a function URL request always gets an
/// HTTP answer.
pub async fn approve_handler<P: PullRequests, L: Ledger, T: TaskTokens, B: Bus>(
    deps: &ApproveDeps<P, L, T, B>,
    payload: Value,
) -> Result<Value, Diagnostic> {
    let now = crate::clock::Utc::now().rfc3339();
    match read_payload(payload) {
        ApproveEvent::Url(request) => Ok(url_handler(deps, &now, &request).await.to_value()),
        ApproveEvent::Comment(comment) => match on_comment(deps, &now, &comment).await {
            Ok(outcome) => {
                tracing::info!(?outcome, "gate-approve done");
                Ok(serde_json::to_value(&outcome).unwrap_or(Value::Null))
            }
            Err(e) => {
                tracing::error!(error = %e, pull_request = %comment.pull_request_id, "gate-approve failed closed; the event will be retried");
                Err(Diagnostic {
                    error_type: e.error_type().to_owned(),
                    error_message: e.to_string(),
                })
            }
        },
        ApproveEvent::Ignore(reason) => {
            tracing::info!(%reason, "gate-approve ignored the payload");
            Ok(json!({ "outcome": "ignored", "reason": reason }))
        }
    }
}

/// The AWS adapters of gate-approve, built once per cold start; `bus` builds the event bus
/// adapter from the clients. Reads `GATE_TABLE_NAME`, `GATE_APPROVER_ARN` and the release
/// settings like the other Lambdas.
pub async fn aws_deps<B: Bus>(
    bus: impl FnOnce(&crate::aws::Clients) -> B,
) -> Result<
    ApproveDeps<
        crate::aws::AwsPullRequests,
        crate::aws::AwsLedger,
        crate::aws::sfn::AwsTaskTokens,
        B,
    >,
    crate::config::ConfigError,
> {
    let config = crate::config::Config::from_env(false)?;
    let clients = crate::aws::Clients::from_env().await;
    Ok(ApproveDeps {
        prs: clients.pull_requests(),
        ledger: clients.ledger(config.table_name.clone()),
        tokens: clients.task_tokens(),
        bus: bus(&clients),
        settings: config.settings,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_round_trips_the_shapes_lambda_sends() {
        assert_eq!(
            base64_decode("eyJhIjoxfQ==").as_deref(),
            Some(&b"{\"a\":1}"[..])
        );
        assert_eq!(base64_decode("YQ").as_deref(), Some(&b"a"[..]));
        assert_eq!(base64_decode("YWI=").as_deref(), Some(&b"ab"[..]));
        assert_eq!(base64_decode("").as_deref(), Some(&b""[..]));
        assert_eq!(base64_decode("Y"), None);
        assert_eq!(base64_decode("a$=="), None);
    }
}
