//! `gate approve` and `gate reject`: a decision on a release waiting on AWS, sent to
//! gate-approve's function URL as a POST signed with the caller's AWS credentials (SigV4).
//!
//! Exit codes: 0 decided, 1 refused (not an approver, the author alone), nothing waits, or
//! the release no longer waits, 2 usage or transport error (no URL, no credentials, the
//! function cannot be reached, an answer that is not the gate's, a `gate` built without the
//! `aws` feature).

use super::{EXIT_ERROR, Failure};
#[cfg(feature = "aws")]
use super::{EXIT_FAIL, EXIT_PASS, write_failed};
#[cfg(feature = "aws")]
use crate::aws::function_url;
use crate::flows::release_approval::Verb;
#[cfg(feature = "aws")]
use crate::report::approval::missing_approve_url;
#[cfg(feature = "aws")]
use serde_json::{Value, json};
use std::io::Write;

/// The environment variable holding the function URL (the stack's `ApproveUrl` output).
#[cfg(feature = "aws")]
pub const APPROVE_URL_ENV: &str = "GATE_APPROVE_URL";

/// `gate approve|reject` arguments.
#[derive(Debug, clap::Args)]
pub(super) struct DecideArgs {
    /// The repository.
    #[arg(long)]
    repository: String,
    /// The environment whose waiting release to decide on.
    #[arg(long)]
    environment: String,
    /// Why (recorded with the decision; shown in the release's report).
    #[arg(long)]
    reason: Option<String>,
    /// gate-approve's function URL. Default: $GATE_APPROVE_URL (the stack's `ApproveUrl`
    /// output).
    #[arg(long)]
    url: Option<String>,
    /// The region to sign for. Default: the one in the URL
    /// (`https://<id>.lambda-url.<region>.on.aws/`).
    #[arg(long)]
    region: Option<String>,
}

/// Runs `gate approve` (`verb` approve) or `gate reject`.
#[cfg(feature = "aws")]
pub(super) fn decide_command(
    verb: Verb,
    args: DecideArgs,
    out: &mut dyn Write,
) -> Result<u8, Failure> {
    let url = args
        .url
        .clone()
        .or_else(|| std::env::var(APPROVE_URL_ENV).ok())
        .filter(|u| !u.trim().is_empty())
        .ok_or_else(|| Failure(EXIT_ERROR, missing_approve_url(verb)))?;
    let region = args
        .region
        .clone()
        .or_else(|| function_url::region_of(&url))
        .ok_or_else(|| {
            Failure(
                EXIT_ERROR,
                format!("cannot tell the region from `{url}`: pass --region"),
            )
        })?;
    let body = decision_body(verb, &args);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| Failure(EXIT_ERROR, format!("cannot start: {e}")))?;
    let (status, text) = runtime
        .block_on(async {
            let credentials = function_url::default_credentials().await?;
            function_url::post_signed_json(&url, &region, &credentials, &body).await
        })
        .map_err(|e| Failure(EXIT_ERROR, e))?;
    answer(status, &text, out)
}

/// Without the `aws` feature: a usage error that says how to get a `gate` with it.
#[cfg(not(feature = "aws"))]
pub(super) fn decide_command(
    verb: Verb,
    _args: DecideArgs,
    _out: &mut dyn Write,
) -> Result<u8, Failure> {
    Err(Failure(EXIT_ERROR, super::built_without_aws(verb.as_str())))
}

/// The JSON body gate-approve reads.
#[cfg(feature = "aws")]
fn decision_body(verb: Verb, args: &DecideArgs) -> String {
    let mut body = json!({
        "repository": args.repository,
        "environment": args.environment,
        "decision": verb.as_str(),
    });
    if let Some(reason) = &args.reason {
        body["reason"] = json!(reason);
    }
    body.to_string()
}

/// Prints gate-approve's answer; the exit code its status means.
#[cfg(feature = "aws")]
fn answer(status: u16, text: &str, out: &mut dyn Write) -> Result<u8, Failure> {
    let message = serde_json::from_str::<Value>(text)
        .ok()
        .and_then(|v| v.get("message").and_then(Value::as_str).map(str::to_owned));
    let Some(message) = message else {
        return Err(Failure(
            EXIT_ERROR,
            format!("the function URL answered {status} without the gate's answer: {text}"),
        ));
    };
    writeln!(out, "{message}").map_err(write_failed)?;
    match status {
        200 => Ok(EXIT_PASS),
        403 | 404 | 409 => Ok(EXIT_FAIL),
        _ => Err(Failure(
            EXIT_ERROR,
            format!("gate-approve answered {status}"),
        )),
    }
}
