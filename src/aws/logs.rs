//! [`Logs`] over CloudWatch Logs: the tail of a CodeBuild log stream, for failed checks.

use super::unless_absent;
use crate::ports::{Logs, PortResult};
use aws_sdk_cloudwatchlogs::Client;
use aws_sdk_cloudwatchlogs::operation::get_log_events::GetLogEventsError;

const GET_LOG_EVENTS: &str = "logs:GetLogEvents";

/// CloudWatch Logs' largest page of `GetLogEvents`.
pub const MAX_LIMIT: usize = 10_000;

/// Build logs in CloudWatch Logs.
#[derive(Debug, Clone)]
pub struct AwsLogs {
    client: Client,
}

impl AwsLogs {
    /// Wraps a CloudWatch Logs client.
    pub fn new(client: Client) -> Self {
        Self { client }
    }
}

impl Logs for AwsLogs {
    async fn tail(&self, group: &str, stream: &str, lines: usize) -> PortResult<Option<String>> {
        // One call, newest events first-in-page: `startFromHead=false` returns the last `limit`
        // events in order. Each CodeBuild log event is one line.
        let result = self
            .client
            .get_log_events()
            .log_group_name(group)
            .log_stream_name(stream)
            .start_from_head(false)
            .limit(lines.clamp(1, MAX_LIMIT) as i32)
            .send()
            .await;
        let absent =
            |e: &GetLogEventsError| matches!(e, GetLogEventsError::ResourceNotFoundException(_));
        let Some(output) = unless_absent(GET_LOG_EVENTS, result, absent)? else {
            return Ok(None);
        };
        let text: Vec<&str> = output
            .events()
            .iter()
            .filter_map(|e| e.message())
            .map(|m| m.trim_end_matches(['\n', '\r']))
            .collect();
        Ok((!text.is_empty()).then(|| text.join("\n")))
    }
}
