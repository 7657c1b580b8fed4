//! The SNS notifier against a mocked SDK client: topic, sanitized subject, message, no topic, error mapping.

use aws_sdk_sns::Client;
use aws_sdk_sns::operation::publish::PublishOutput;
use aws_smithy_mocks::{Rule, RuleMode, mock, mock_client};
use codecommit_gate::aws::sns::{MAX_MESSAGE_BYTES, sanitize_subject, truncate_message};
use codecommit_gate::aws::{AwsNotifier, retry_config};
use codecommit_gate::ports::{Notifier, PortError};

const TOPIC: &str = "arn:aws:sns:us-east-1:123456789012:codecommit-gate";

fn client(rules: &[&Rule]) -> Client {
    mock_client!(aws_sdk_sns, RuleMode::Sequential, rules, |c| c
        .retry_config(retry_config()))
}

fn notifier(rules: &[&Rule]) -> AwsNotifier {
    AwsNotifier::new(client(rules), Some(TOPIC.into()))
}

/// An awsQuery error body as SNS sends it.
fn error(code: &str) -> Option<String> {
    Some(format!(
        r#"<ErrorResponse xmlns="http://sns.amazonaws.com/doc/2010-03-31/"><Error><Type>Sender</Type><Code>{code}</Code><Message>{code} (mocked)</Message></Error><RequestId>9b5e1f0c-EXAMPLE</RequestId></ErrorResponse>"#
    ))
}

const PUBLISHED: &str = r#"<PublishResponse xmlns="http://sns.amazonaws.com/doc/2010-03-31/"><PublishResult><MessageId>567910cd-659e-55d4-8ccb-5aaf14679dc0</MessageId></PublishResult><ResponseMetadata><RequestId>d74b8436-ae13-5ab4-a9ff-ce54dfea72a0</RequestId></ResponseMetadata></PublishResponse>"#;

#[tokio::test]
async fn publish_sends_topic_subject_and_message() {
    let rule = mock!(Client::publish)
        .match_requests(|r| {
            r.topic_arn() == Some(TOPIC)
                && r.subject() == Some("codecommit-gate: MyDemoRepo PR 27 bypassed")
                && r.message() == Some("Checks were bypassed by arn:aws:iam::123456789012:user/Mary_Major.\nSee the PR.")
                && r.target_arn().is_none()
                && r.phone_number().is_none()
        })
        .then_output(|| {
            PublishOutput::builder()
                .message_id("567910cd-659e-55d4-8ccb-5aaf14679dc0")
                .build()
        });
    notifier(&[&rule])
        .publish(
            "codecommit-gate: MyDemoRepo PR 27\nbypassed",
            "Checks were bypassed by arn:aws:iam::123456789012:user/Mary_Major.\nSee the PR.",
        )
        .await
        .expect("published");
    assert_eq!(rule.num_calls(), 1);
}

#[tokio::test]
async fn without_a_topic_nothing_is_sent() {
    let rule = mock!(Client::publish).then_output(|| PublishOutput::builder().build());
    for topic in [None, Some(String::new())] {
        let quiet = AwsNotifier::new(client(&[&rule]), topic);
        assert_eq!(quiet.topic_arn(), None);
        quiet.publish("subject", "message").await.expect("no-op");
    }
    assert_eq!(rule.num_calls(), 0);
}

#[test]
fn subjects_are_printable_ascii_on_one_line_and_short() {
    assert_eq!(sanitize_subject("  gate\r\n\tfailed  "), "gate failed");
    assert_eq!(sanitize_subject("Prüfung ✓"), "Pr?fung ?");
    assert_eq!(sanitize_subject("\u{0}\u{7}"), "codecommit-gate");
    assert_eq!(sanitize_subject(""), "codecommit-gate");
    let long = sanitize_subject(&"word ".repeat(60));
    assert!(long.len() < 100, "{}", long.len());
    assert!(long.ends_with("..."), "{long}");
    assert!(long.is_ascii());
    let exactly = "x".repeat(99);
    assert_eq!(sanitize_subject(&exactly), exactly);
    assert_eq!(sanitize_subject(&"x".repeat(100)).len(), 99);
}

#[test]
fn messages_fit_the_size_limit_on_a_character_boundary() {
    assert_eq!(truncate_message("short"), "short");
    assert_eq!(truncate_message(" "), "(no message)");
    let huge = "é".repeat(MAX_MESSAGE_BYTES);
    let cut = truncate_message(&huge);
    assert!(cut.len() <= MAX_MESSAGE_BYTES);
    assert!(cut.ends_with("[truncated]"));
}

#[tokio::test(start_paused = true)]
async fn throttling_is_retried_until_it_succeeds() {
    let rule = mock!(Client::publish)
        .sequence()
        .http_status(400, error("Throttling"))
        .http_status(200, Some(PUBLISHED.into()))
        .build();
    notifier(&[&rule]).publish("s", "m").await.expect("retried");
    assert_eq!(rule.num_calls(), 2);
}

#[tokio::test(start_paused = true)]
async fn errors_are_classified_and_name_the_call() {
    let denied = mock!(Client::publish)
        .sequence()
        .http_status(403, error("AuthorizationError"))
        .build();
    let down = mock!(Client::publish)
        .sequence()
        .http_status(500, error("InternalError"))
        .times(3)
        .build();
    let sns = notifier(&[&denied, &down]);
    let err = sns.publish("s", "m").await.expect_err("denied");
    assert!(
        matches!(
            &err,
            PortError::Permanent {
                call: "sns:Publish",
                message
            } if message.contains("AuthorizationError")
        ),
        "{err:?}"
    );
    let err = sns.publish("s", "m").await.expect_err("down");
    assert!(
        matches!(
            err,
            PortError::Transient {
                call: "sns:Publish",
                ..
            }
        ),
        "{err:?}"
    );
    assert_eq!(down.num_calls(), 3);
}
