//! [`Notifier`] over SNS: one `Publish` per notice to the configured topic, or nothing when none is configured.

use super::port_error;
use crate::ports::{Notifier, PortResult};
use aws_sdk_sns::Client;

const PUBLISH: &str = "sns:Publish";

/// SNS wants a subject of fewer than 100 characters.
pub const MAX_SUBJECT_CHARS: usize = 99;
/// SNS's default message limit, in bytes (256 KiB).
pub const MAX_MESSAGE_BYTES: usize = 262_144;
/// Used when the subject is empty after sanitizing.
pub const DEFAULT_SUBJECT: &str = "codecommit-gate";

/// Publishes to one SNS topic, or does nothing when there is none.
#[derive(Debug, Clone)]
pub struct AwsNotifier {
    client: Client,
    topic_arn: Option<String>,
}

impl AwsNotifier {
    /// Wraps an SNS client; `topic_arn: None` (or empty) turns publishing off.
    pub fn new(client: Client, topic_arn: Option<String>) -> Self {
        Self {
            client,
            topic_arn: topic_arn.filter(|t| !t.trim().is_empty()),
        }
    }

    /// The topic, when one is configured.
    pub fn topic_arn(&self) -> Option<&str> {
        self.topic_arn.as_deref()
    }
}

/// A subject SNS accepts: printable ASCII only (anything else becomes `?`, line breaks and
/// other whitespace a single space), trimmed, at most [`MAX_SUBJECT_CHARS`] characters
/// (cut with `...`), never empty.
pub fn sanitize_subject(subject: &str) -> String {
    let mut clean = String::with_capacity(subject.len().min(MAX_SUBJECT_CHARS * 2));
    for c in subject.chars() {
        let c = if c.is_whitespace() || c.is_control() {
            ' '
        } else if c.is_ascii_graphic() {
            c
        } else {
            '?'
        };
        if c == ' ' && (clean.is_empty() || clean.ends_with(' ')) {
            continue;
        }
        clean.push(c);
    }
    let clean = clean.trim_end();
    if clean.is_empty() {
        return DEFAULT_SUBJECT.to_owned();
    }
    if clean.len() <= MAX_SUBJECT_CHARS {
        return clean.to_owned();
    }
    // All ASCII here, so bytes are characters.
    format!("{}...", clean[..MAX_SUBJECT_CHARS - 3].trim_end())
}

/// The message cut to [`MAX_MESSAGE_BYTES`] at a character boundary; never empty.
pub fn truncate_message(message: &str) -> String {
    if message.trim().is_empty() {
        return "(no message)".to_owned();
    }
    if message.len() <= MAX_MESSAGE_BYTES {
        return message.to_owned();
    }
    const NOTE: &str = "\n[truncated]";
    let mut end = MAX_MESSAGE_BYTES - NOTE.len();
    while !message.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}{NOTE}", &message[..end])
}

impl Notifier for AwsNotifier {
    async fn publish(&self, subject: &str, message: &str) -> PortResult<()> {
        let Some(topic) = &self.topic_arn else {
            tracing::debug!(subject, "no SNS topic configured; notice not published");
            return Ok(());
        };
        self.client
            .publish()
            .topic_arn(topic)
            .subject(sanitize_subject(subject))
            .message(truncate_message(message))
            .send()
            .await
            .map_err(|e| port_error(PUBLISH, e))?;
        Ok(())
    }
}
