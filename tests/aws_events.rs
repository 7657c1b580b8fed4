//! The EventBridge bus against a mocked SDK client: one entry on the default bus with the
//! gate's source, a failed entry (HTTP 200 with `FailedEntryCount`) retried when its code is
//! transient and an error otherwise, a throttled call retried by the SDK, and an entry over
//! the size limit refused before it is sent.

use aws_sdk_eventbridge::Client;
use aws_sdk_eventbridge::operation::put_events::PutEventsOutput;
use aws_sdk_eventbridge::types::PutEventsResultEntry;
use aws_smithy_mocks::{Rule, RuleMode, mock, mock_client};
use codecommit_gate::announce::{Announcement, RELEASE_DETAIL_TYPE, SOURCE};
use codecommit_gate::aws::events::MAX_ENTRY_BYTES;
use codecommit_gate::aws::{AwsBus, retry_config};
use codecommit_gate::ports::{Bus, PortError};
use serde_json::json;

const EXECUTION: &str =
    "arn:aws:states:us-east-1:123456789012:execution:gate-release:release-my-repo-production-1";

fn bus(rules: &[&Rule]) -> AwsBus {
    AwsBus::new(mock_client!(
        aws_sdk_eventbridge,
        RuleMode::Sequential,
        rules,
        |c| c.retry_config(retry_config())
    ))
}

fn event() -> Announcement {
    Announcement {
        detail_type: RELEASE_DETAIL_TYPE.to_owned(),
        resources: vec![EXECUTION.to_owned()],
        detail: json!({"state": "SUCCEEDED", "repository": "my-repo", "environment": "production"}),
    }
}

fn taken() -> PutEventsOutput {
    PutEventsOutput::builder()
        .failed_entry_count(0)
        .entries(
            PutEventsResultEntry::builder()
                .event_id("11710aed-b79e-4468-a20b-bb3c0c3b4860")
                .build(),
        )
        .build()
}

/// A partial failure as EventBridge answers it: HTTP 200, the entry with its error code.
fn failed(code: &str) -> PutEventsOutput {
    PutEventsOutput::builder()
        .failed_entry_count(1)
        .entries(
            PutEventsResultEntry::builder()
                .error_code(code)
                .error_message(format!("{code} (mocked)"))
                .build(),
        )
        .build()
}

#[tokio::test]
async fn one_entry_goes_to_the_default_bus_with_the_gates_source() {
    let rule = mock!(Client::put_events)
        .match_requests(|r| {
            let entries = r.entries();
            entries.len() == 1
                && entries[0].source() == Some(SOURCE)
                && entries[0].detail_type() == Some(RELEASE_DETAIL_TYPE)
                && entries[0].resources() == [EXECUTION]
                && entries[0].event_bus_name().is_none()
                && entries[0]
                    .detail()
                    .and_then(|d| serde_json::from_str::<serde_json::Value>(d).ok())
                    == Some(event().detail)
        })
        .then_output(taken);
    bus(&[&rule]).put(&event()).await.expect("taken");
    assert_eq!(rule.num_calls(), 1);
}

#[tokio::test(start_paused = true)]
async fn a_failed_entry_with_a_transient_code_is_sent_again() {
    let rule = mock!(Client::put_events)
        .sequence()
        .output(|| failed("InternalFailure"))
        .output(|| failed("ThrottlingException"))
        .output(taken)
        .build();
    bus(&[&rule])
        .put(&event())
        .await
        .expect("taken on the third try");
    assert_eq!(rule.num_calls(), 3);
}

#[tokio::test(start_paused = true)]
async fn a_failed_entry_is_an_error_permanent_or_after_the_last_try() {
    let refused = mock!(Client::put_events)
        .sequence()
        .output(|| failed("NotAuthorizedForSourceException"))
        .build();
    let err = bus(&[&refused]).put(&event()).await.expect_err("refused");
    assert!(
        matches!(&err, PortError::Permanent { call: "events:PutEvents", message } if message.contains("NotAuthorizedForSourceException")),
        "{err:?}"
    );
    assert_eq!(refused.num_calls(), 1, "not retried");
    let failing = mock!(Client::put_events)
        .sequence()
        .output(|| failed("InternalFailure"))
        .times(3)
        .build();
    let err = bus(&[&failing]).put(&event()).await.expect_err("gave up");
    assert!(
        matches!(
            err,
            PortError::Transient {
                call: "events:PutEvents",
                ..
            }
        ),
        "{err:?}"
    );
    assert_eq!(failing.num_calls(), 3);
}

#[tokio::test(start_paused = true)]
async fn a_throttled_call_is_retried_by_the_sdk() {
    let throttled = r#"{"__type":"ThrottlingException","message":"Rate exceeded"}"#;
    let rule = mock!(Client::put_events)
        .sequence()
        .http_status(400, Some(throttled.to_owned()))
        .output(taken)
        .build();
    bus(&[&rule]).put(&event()).await.expect("retried");
    assert_eq!(rule.num_calls(), 2);
    let always = mock!(Client::put_events)
        .sequence()
        .http_status(400, Some(throttled.to_owned()))
        .times(3)
        .build();
    let err = bus(&[&always]).put(&event()).await.expect_err("throttled");
    assert!(matches!(err, PortError::Transient { .. }), "{err:?}");
}

#[tokio::test]
async fn an_entry_over_the_size_limit_is_refused_before_it_is_sent() {
    let rule = mock!(Client::put_events).then_output(taken);
    let mut big = event();
    big.detail = json!({"reason": "x".repeat(MAX_ENTRY_BYTES)});
    let err = bus(&[&rule]).put(&big).await.expect_err("too big");
    assert!(matches!(err, PortError::Permanent { .. }), "{err:?}");
    assert_eq!(rule.num_calls(), 0);
}
