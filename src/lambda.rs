//! What the Lambda binaries share: reading an invocation payload at the edge, and logging set-up.
//!
//! A payload that is not a valid event is logged and acknowledged (never retried: a retry
//! would fail the same way), so EventBridge does not redeliver it forever.

use crate::event::{self, Event};
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

/// Initialises logging the Lambda way: JSON when `AWS_LAMBDA_LOG_FORMAT=JSON`, level from
/// `AWS_LAMBDA_LOG_LEVEL` or `RUST_LOG`.
pub fn init_logging() {
    lambda_runtime::tracing::init_default_subscriber();
}
