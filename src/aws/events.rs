//! [`Bus`] over EventBridge: one `PutEvents` entry per announcement on the account's default
//! bus, `source` [`crate::announce::SOURCE`].
//!
//! `PutEvents` answers HTTP 200 even when an entry fails: the response's `FailedEntryCount`
//! and the entry's `ErrorCode` say so (docs/design.md, "Announcements"). The SDK's retries only
//! cover failed *calls*, so a failed *entry* is retried here when its code is a transient one
//! (`InternalFailure`, `ThrottlingException`), up to [`super::MAX_ATTEMPTS`] attempts in all,
//! and is an error after that or at once for any other code. An entry over EventBridge's
//! 256 KB limit is refused before it is sent.

use super::port_error;
use crate::announce::{Announcement, SOURCE};
use crate::ports::{Bus, PortError, PortResult};
use aws_sdk_eventbridge::Client;
use aws_sdk_eventbridge::types::PutEventsRequestEntry;
use std::time::Duration;

const PUT_EVENTS: &str = "events:PutEvents";

/// EventBridge's limit on one entry: "the total entry size must be less than 256KB".
pub const MAX_ENTRY_BYTES: usize = 256 * 1024;

/// The bytes an entry counts for (EventBridge's rule: the time's 14 bytes, then the UTF-8
/// bytes of `Source`, `DetailType`, `Detail` and each resource).
pub fn entry_size(detail_type: &str, detail: &str, resources: &[String]) -> usize {
    14 + SOURCE.len()
        + detail_type.len()
        + detail.len()
        + resources.iter().map(String::len).sum::<usize>()
}

/// Entry error codes worth another try (botocore's `PutEventsResultEntry.ErrorCode`).
const RETRYABLE_ENTRY_CODES: &[&str] = &["InternalFailure", "ThrottlingException"];

/// The first wait between attempts of a failed entry; it doubles each time.
const ENTRY_BACKOFF: Duration = Duration::from_millis(200);

/// Puts events on the account's default event bus.
#[derive(Debug, Clone)]
pub struct AwsBus {
    client: Client,
}

impl AwsBus {
    /// Wraps an EventBridge client.
    pub fn new(client: Client) -> Self {
        Self { client }
    }
}

/// What one `PutEvents` of one entry came to.
enum EntryResult {
    /// EventBridge took it.
    Taken,
    /// It failed with this code and message.
    Failed(String, String),
}

impl AwsBus {
    async fn put_once(&self, entry: &PutEventsRequestEntry) -> PortResult<EntryResult> {
        let out = self
            .client
            .put_events()
            .entries(entry.clone())
            .send()
            .await
            .map_err(|e| port_error(PUT_EVENTS, e))?;
        if out.failed_entry_count() == 0 {
            return Ok(EntryResult::Taken);
        }
        let failed = out.entries().first();
        Ok(EntryResult::Failed(
            failed
                .and_then(|e| e.error_code())
                .unwrap_or("Unknown")
                .to_owned(),
            failed
                .and_then(|e| e.error_message())
                .unwrap_or("no message")
                .to_owned(),
        ))
    }
}

impl Bus for AwsBus {
    async fn put(&self, event: &Announcement) -> PortResult<()> {
        let detail = event.detail.to_string();
        let size = entry_size(&event.detail_type, &detail, &event.resources);
        if size >= MAX_ENTRY_BYTES {
            return Err(super::permanent(
                PUT_EVENTS,
                format!("the entry is {size} bytes; EventBridge takes less than {MAX_ENTRY_BYTES}"),
            ));
        }
        let entry = PutEventsRequestEntry::builder()
            .source(SOURCE)
            .detail_type(&event.detail_type)
            .set_resources(Some(event.resources.clone()))
            .detail(detail)
            .build();
        let mut wait = ENTRY_BACKOFF;
        let mut attempt = 1;
        loop {
            let (code, message) = match self.put_once(&entry).await? {
                EntryResult::Taken => return Ok(()),
                EntryResult::Failed(code, message) => (code, message),
            };
            let retryable = RETRYABLE_ENTRY_CODES.contains(&code.as_str());
            tracing::warn!(call = PUT_EVENTS, attempt, code, retryable, error = %message, "EventBridge refused the entry");
            if !retryable {
                return Err(PortError::Permanent {
                    call: PUT_EVENTS,
                    message: format!("{code}: {message}"),
                });
            }
            if attempt >= super::MAX_ATTEMPTS {
                return Err(PortError::Transient {
                    call: PUT_EVENTS,
                    message: format!("{code}: {message} (after {attempt} attempts)"),
                });
            }
            tokio::time::sleep(wait).await;
            wait *= 2;
            attempt += 1;
        }
    }
}
