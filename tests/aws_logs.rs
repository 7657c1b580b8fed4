//! The CloudWatch Logs adapter against a mocked SDK client: one call for the tail, missing streams, errors.

use aws_sdk_cloudwatchlogs::Client;
use aws_smithy_mocks::{RuleMode, mock, mock_client};
use codecommit_gate::aws::{AwsLogs, retry_config};
use codecommit_gate::ports::{Logs, PortError};
use serde_json::json;

#[tokio::test]
async fn the_tail_is_the_last_events_in_order_from_one_call() {
    let events: Vec<_> = (48..=50)
        .map(|i| json!({"timestamp": i, "message": format!("line {i}\n"), "ingestionTime": i}))
        .collect();
    let tail = mock!(Client::get_log_events)
        .match_requests(|r| {
            r.log_group_name() == Some("/aws/codebuild/gate")
                && r.log_stream_name() == Some("api-tests/abc")
                && r.start_from_head() == Some(false)
                && r.limit() == Some(50)
        })
        .sequence()
        .http_status(
            200,
            Some(
                json!({"events": events, "nextForwardToken": "f", "nextBackwardToken": "b"})
                    .to_string(),
            ),
        )
        .build();
    let missing = mock!(Client::get_log_events)
        .sequence()
        .http_status(
            400,
            Some(
                json!({"__type": "ResourceNotFoundException", "message": "no stream"}).to_string(),
            ),
        )
        .build();
    let denied = mock!(Client::get_log_events)
        .sequence()
        .http_status(
            400,
            Some(json!({"__type": "AccessDeniedException", "message": "no"}).to_string()),
        )
        .build();
    let client: Client = mock_client!(
        aws_sdk_cloudwatchlogs,
        RuleMode::Sequential,
        &[&tail, &missing, &denied],
        |c| c.retry_config(retry_config())
    );
    let logs = AwsLogs::new(client);
    assert_eq!(
        logs.tail("/aws/codebuild/gate", "api-tests/abc", 50)
            .await
            .expect("tail"),
        Some("line 48\nline 49\nline 50".to_owned())
    );
    assert_eq!(
        logs.tail("/aws/codebuild/gate", "gone", 50)
            .await
            .expect("none"),
        None
    );
    let err = logs
        .tail("/aws/codebuild/gate", "x", 50)
        .await
        .expect_err("denied");
    assert!(
        matches!(
            err,
            PortError::Permanent {
                call: "logs:GetLogEvents",
                ..
            }
        ),
        "{err:?}"
    );
}
