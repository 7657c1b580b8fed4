//! The Step Functions adapter against a mocked SDK client: names and input sent, idempotent starts, stops and statuses, error mapping.

use aws_sdk_sfn::Client;
use aws_sdk_sfn::operation::start_execution::StartExecutionError;
use aws_sdk_sfn::types::IncludedData;
use aws_sdk_sfn::types::error::ExecutionAlreadyExists;
use aws_smithy_mocks::{Rule, RuleMode, mock, mock_client};
use codecommit_gate::aws::sfn::execution_arn;
use codecommit_gate::aws::{AwsExecutions, retry_config};
use codecommit_gate::machine::{ExecutionInput, INPUT_VERSION};
use codecommit_gate::ports::{ExecutionStatus, Executions, PortError, Started};
use serde_json::{Value, json};

const MACHINE: &str = "arn:aws:states:us-east-1:123456789012:stateMachine:codecommit-gate";
const NAME: &str = "gate-MyDemoRepo-pr27-ca45e279-1-0123456789";
const EXECUTION: &str = "arn:aws:states:us-east-1:123456789012:execution:codecommit-gate:gate-MyDemoRepo-pr27-ca45e279-1-0123456789";

fn adapter(rules: &[&Rule]) -> AwsExecutions {
    let client: Client = mock_client!(aws_sdk_sfn, RuleMode::Sequential, rules, |c| c
        .retry_config(retry_config()));
    AwsExecutions::new(client, MACHINE)
}

fn body(value: Value) -> Option<String> {
    Some(value.to_string())
}

/// An awsJson error body as Step Functions sends it.
fn error(code: &str) -> Option<String> {
    body(json!({ "__type": code, "message": format!("{code} (mocked)") }))
}

/// Built from JSON so that fields added later with defaults do not break this test.
fn input() -> ExecutionInput {
    serde_json::from_value(json!({
        "version": INPUT_VERSION,
        "mode": "gate",
        "execution_name": NAME,
        "attempt": 1,
        "subject": {
            "repository": "MyDemoRepo",
            "pull_request_id": "27",
            "title": "Quick fix for bug 1234",
            "source_branch": "bugfix-1234",
            "destination_branch": "main",
            "source_commit": "ca45e279EXAMPLE",
            "destination_commit": "2abfc6beEXAMPLE",
            "merge_commit": null,
            "revision_id": "e47def21EXAMPLE"
        },
        "source_reference": "refs/heads/bugfix-1234",
        "destination_reference": "refs/heads/main",
        "environment": "gate-MyDemoRepo-27",
        "build": {
            "image": "aws/codebuild/amazonlinux-x86_64-standard:5.0",
            "compute_type": "BUILD_GENERAL1_SMALL"
        },
        "comment_id": null,
        "stages": [],
        "deadline_seconds": 3600,
        "plan": null
    }))
    .expect("a valid execution input")
}

fn started() -> Option<String> {
    body(json!({ "executionArn": EXECUTION, "startDate": 1551225271.984 }))
}

fn describe(status: &str) -> Option<String> {
    body(json!({
        "executionArn": EXECUTION,
        "stateMachineArn": MACHINE,
        "name": NAME,
        "status": status,
        "startDate": 1551225271.984
    }))
}

#[tokio::test]
async fn start_sends_the_name_and_the_serialized_input() {
    let expected = input();
    let rule = mock!(Client::start_execution)
        .match_requests(move |r| {
            r.state_machine_arn() == Some(MACHINE)
                && r.name() == Some(NAME)
                && r.input().is_some_and(|text| {
                    text == serde_json::to_string(&expected).expect("json")
                        && serde_json::from_str::<ExecutionInput>(text).ok().as_ref()
                            == Some(&expected)
                })
        })
        .sequence()
        .http_status(200, started())
        .build();
    let outcome = adapter(&[&rule])
        .start(NAME, &input())
        .await
        .expect("started");
    assert_eq!(
        outcome,
        Started::Started {
            execution_arn: EXECUTION.into()
        }
    );
}

#[tokio::test]
async fn an_existing_execution_is_already_exists_with_its_arn() {
    // Off the wire, and as the modelled error.
    let wire = mock!(Client::start_execution)
        .sequence()
        .http_status(400, error("ExecutionAlreadyExists"))
        .build();
    let modelled = mock!(Client::start_execution).then_error(|| {
        StartExecutionError::ExecutionAlreadyExists(ExecutionAlreadyExists::builder().build())
    });
    let executions = adapter(&[&wire, &modelled]);
    for _ in 0..2 {
        let outcome = executions.start(NAME, &input()).await.expect("exists");
        assert_eq!(
            outcome,
            Started::AlreadyExists {
                execution_arn: EXECUTION.into()
            }
        );
        assert_eq!(outcome.execution_arn(), EXECUTION);
    }
    assert_eq!(wire.num_calls(), 1, "not retried");
}

#[test]
fn execution_arns_are_computed_from_the_state_machine_arn() {
    assert_eq!(execution_arn(MACHINE, NAME).as_deref(), Some(EXECUTION));
    assert_eq!(
        execution_arn(
            "arn:aws-us-gov:states:us-gov-west-1:123456789012:stateMachine:m:PROD",
            "e"
        )
        .as_deref(),
        Some("arn:aws-us-gov:states:us-gov-west-1:123456789012:execution:m:e"),
        "an alias or version qualifier is dropped"
    );
    assert_eq!(
        execution_arn("arn:aws:states:us-east-1:1:activity:a", "e"),
        None
    );
    assert_eq!(execution_arn("codecommit-gate", "e"), None);
}

#[tokio::test(start_paused = true)]
async fn a_throttled_start_is_retried() {
    let rule = mock!(Client::start_execution)
        .sequence()
        .http_status(400, error("ThrottlingException"))
        .http_status(200, started())
        .build();
    let outcome = adapter(&[&rule])
        .start(NAME, &input())
        .await
        .expect("retried");
    assert_eq!(outcome.execution_arn(), EXECUTION);
    assert_eq!(rule.num_calls(), 2);
}

#[tokio::test]
async fn start_errors_are_classified() {
    let denied = mock!(Client::start_execution)
        .sequence()
        .http_status(400, error("AccessDeniedException"))
        .build();
    let missing = mock!(Client::start_execution)
        .sequence()
        .http_status(400, error("StateMachineDoesNotExist"))
        .build();
    let executions = adapter(&[&denied, &missing]);
    for expected in ["AccessDeniedException", "StateMachineDoesNotExist"] {
        let err = executions.start(NAME, &input()).await.expect_err(expected);
        assert!(
            matches!(
                &err,
                PortError::Permanent {
                    call: "states:StartExecution",
                    message
                } if message.contains(expected)
            ),
            "{err:?}"
        );
    }
}

#[tokio::test(start_paused = true)]
async fn a_5xx_start_after_every_retry_is_transient() {
    let rule = mock!(Client::start_execution)
        .sequence()
        .http_status(503, error("ServiceUnavailable"))
        .times(3)
        .build();
    let err = adapter(&[&rule])
        .start(NAME, &input())
        .await
        .expect_err("5xx");
    assert!(
        matches!(
            err,
            PortError::Transient {
                call: "states:StartExecution",
                ..
            }
        ),
        "{err:?}"
    );
    assert_eq!(rule.num_calls(), 3);
}

#[tokio::test]
async fn stop_sends_the_arn_and_cause_and_tolerates_a_missing_execution() {
    let stopped = mock!(Client::stop_execution)
        .match_requests(|r| {
            r.execution_arn() == Some(EXECUTION) && r.cause() == Some("superseded by 0a1b2c3d")
        })
        .sequence()
        .http_status(200, body(json!({ "stopDate": 1551225300.0 })))
        .build();
    let missing = mock!(Client::stop_execution)
        .sequence()
        .http_status(400, error("ExecutionDoesNotExist"))
        .build();
    let executions = adapter(&[&stopped, &missing]);
    executions
        .stop(EXECUTION, "superseded by 0a1b2c3d")
        .await
        .expect("stopped");
    executions
        .stop(EXECUTION, "superseded by 0a1b2c3d")
        .await
        .expect("missing is fine");
}

#[tokio::test]
async fn a_refused_stop_is_fine_only_when_the_execution_has_finished() {
    let refused = || {
        mock!(Client::stop_execution)
            .sequence()
            .http_status(400, error("ValidationException"))
            .build()
    };
    let (refused1, refused2) = (refused(), refused());
    let finished = mock!(Client::describe_execution)
        .match_requests(|r| r.execution_arn() == Some(EXECUTION))
        .sequence()
        .http_status(200, describe("SUCCEEDED"))
        .build();
    let running = mock!(Client::describe_execution)
        .sequence()
        .http_status(200, describe("RUNNING"))
        .build();
    let executions = adapter(&[&refused1, &finished, &refused2, &running]);
    executions
        .stop(EXECUTION, "closed")
        .await
        .expect("already finished");
    let err = executions
        .stop(EXECUTION, "closed")
        .await
        .expect_err("still running");
    assert_eq!(err.call(), "states:StopExecution");
    assert!(matches!(err, PortError::Permanent { .. }), "{err:?}");
}

#[tokio::test]
async fn a_long_cause_is_cut_to_the_limit() {
    let rule = mock!(Client::stop_execution)
        .match_requests(|r| r.cause().is_some_and(|c| c.chars().count() == 32_768))
        .sequence()
        .http_status(200, body(json!({ "stopDate": 1551225300.0 })))
        .build();
    adapter(&[&rule])
        .stop(EXECUTION, &"é".repeat(40_000))
        .await
        .expect("stopped");
}

#[tokio::test]
async fn status_reads_metadata_only_and_maps_every_status() {
    let cases = [
        ("RUNNING", ExecutionStatus::Running),
        ("SUCCEEDED", ExecutionStatus::Succeeded),
        ("FAILED", ExecutionStatus::Failed),
        ("TIMED_OUT", ExecutionStatus::TimedOut),
        ("ABORTED", ExecutionStatus::Aborted),
        ("PENDING_REDRIVE", ExecutionStatus::PendingRedrive),
    ];
    let rules: Vec<Rule> = cases
        .iter()
        .map(|(status, _)| {
            mock!(Client::describe_execution)
                .match_requests(|r| {
                    r.execution_arn() == Some(EXECUTION)
                        && r.included_data() == Some(&IncludedData::MetadataOnly)
                })
                .sequence()
                .http_status(200, describe(status))
                .build()
        })
        .collect();
    let executions = adapter(&rules.iter().collect::<Vec<_>>());
    for (_, expected) in cases {
        assert_eq!(
            executions.status(EXECUTION).await.expect("status"),
            Some(expected)
        );
    }
}

#[tokio::test]
async fn the_status_of_a_missing_execution_is_none() {
    let missing = mock!(Client::describe_execution)
        .sequence()
        .http_status(400, error("ExecutionDoesNotExist"))
        .build();
    let invalid = mock!(Client::describe_execution)
        .sequence()
        .http_status(400, error("InvalidArn"))
        .build();
    let executions = adapter(&[&missing, &invalid]);
    assert_eq!(executions.status(EXECUTION).await.expect("none"), None);
    let err = executions.status("nonsense").await.expect_err("invalid");
    assert!(
        matches!(
            err,
            PortError::Permanent {
                call: "states:DescribeExecution",
                ..
            }
        ),
        "{err:?}"
    );
}

#[tokio::test]
async fn input_reads_all_data_and_decodes_the_gate_run() {
    let full = |text: &str| {
        body(json!({
            "executionArn": EXECUTION,
            "stateMachineArn": MACHINE,
            "status": "FAILED",
            "startDate": 1_763_805_600.0,
            "input": text,
        }))
    };
    let good = mock!(Client::describe_execution)
        .match_requests(|r| {
            r.execution_arn() == Some(EXECUTION)
                && r.included_data() == Some(&IncludedData::AllData)
        })
        .sequence()
        .http_status(200, full(&serde_json::to_string(&input()).expect("input")))
        .build();
    let foreign = mock!(Client::describe_execution)
        .sequence()
        .http_status(200, full("{\"hello\": 1}"))
        .build();
    let missing = mock!(Client::describe_execution)
        .sequence()
        .http_status(400, error("ExecutionDoesNotExist"))
        .build();
    let executions = adapter(&[&good, &foreign, &missing]);
    assert_eq!(
        executions.input(EXECUTION).await.expect("input"),
        Some(input())
    );
    let err = executions
        .input(EXECUTION)
        .await
        .expect_err("not a gate run");
    assert!(err.to_string().contains("not a gate run"), "{err}");
    assert_eq!(executions.input(EXECUTION).await.expect("none"), None);
}

mod releases {
    use super::*;
    use codecommit_gate::machine::release::ReleaseExecutionInput;

    const RELEASE_MACHINE: &str =
        "arn:aws:states:us-east-1:123456789012:stateMachine:codecommit-gate-release";
    const RELEASE: &str = "release-MyDemoRepo-production-ca45e279EXA-3-0123456789";

    fn release_input() -> ReleaseExecutionInput {
        serde_json::from_value(json!({
            "version": 1, "execution_name": RELEASE, "repository": "MyDemoRepo",
            "environment": "production", "commit": "ca45e279EXAMPLE", "previous": null,
            "sequence": 3, "project": "gate-release-MyDemoRepo",
            "deploy_role_arn": "arn:aws:iam::123456789012:role/deploy-production",
            "checks": [], "approval": null, "waves": [],
            "plan": {"environment": "production", "branch": "main", "commit": "ca45e279EXAMPLE",
                     "previous": null, "changed_paths": 0, "components": [], "checks": [],
                     "approval": {"required": false, "approvers": [], "timeout_minutes": 0}}
        }))
        .expect("a release input")
    }

    fn releasing(rules: &[&Rule]) -> AwsExecutions {
        adapter(rules).with_release_machine(RELEASE_MACHINE)
    }

    #[tokio::test]
    async fn a_release_starts_on_the_release_machine_with_its_input() {
        let rule = mock!(Client::start_execution)
            .match_requests(|r| {
                r.state_machine_arn() == Some(RELEASE_MACHINE)
                    && r.name() == Some(RELEASE)
                    && r.input().is_some_and(|i| {
                        serde_json::from_str::<ReleaseExecutionInput>(i)
                            .is_ok_and(|back| back == release_input())
                    })
            })
            .sequence()
            .http_status(
                200,
                body(json!({
                    "executionArn": format!("arn:aws:states:us-east-1:123456789012:execution:codecommit-gate-release:{RELEASE}"),
                    "startDate": 1.7e9
                })),
            )
            .build();
        let started = releasing(&[&rule])
            .start_release(RELEASE, &release_input())
            .await
            .expect("starts");
        assert!(matches!(started, Started::Started { .. }), "{started:?}");
        assert_eq!(rule.num_calls(), 1);
    }

    #[tokio::test]
    async fn a_started_release_is_already_exists_on_the_release_machine() {
        let rule = mock!(Client::start_execution).then_error(|| {
            StartExecutionError::ExecutionAlreadyExists(
                ExecutionAlreadyExists::builder().message("exists").build(),
            )
        });
        let started = releasing(&[&rule])
            .start_release(RELEASE, &release_input())
            .await
            .expect("idempotent");
        assert_eq!(
            started,
            Started::AlreadyExists {
                execution_arn: format!(
                    "arn:aws:states:us-east-1:123456789012:execution:codecommit-gate-release:{RELEASE}"
                )
            }
        );
    }

    #[tokio::test]
    async fn a_stack_without_a_release_machine_refuses_without_a_call() {
        let rule = mock!(Client::start_execution)
            .sequence()
            .http_status(500, None)
            .build();
        let err = adapter(&[&rule])
            .start_release(RELEASE, &release_input())
            .await
            .expect_err("no release machine");
        assert!(
            matches!(
                err,
                PortError::Permanent {
                    call: "states:StartExecution",
                    ..
                }
            ),
            "{err:?}"
        );
        assert_eq!(rule.num_calls(), 0);
    }
}

/// `AwsTaskTokens`: the callbacks gate-approve answers a waiting release with.
mod task_tokens {
    use super::{body, error};
    use aws_sdk_sfn::Client;
    use aws_smithy_mocks::{Rule, RuleMode, mock, mock_client};
    use codecommit_gate::aws::retry_config;
    use codecommit_gate::aws::sfn::{AwsTaskTokens, MAX_CAUSE_CHARS, MAX_TASK_ERROR_CHARS};
    use codecommit_gate::ports::{PortError, TaskTokens, TokenSent};
    use serde_json::json;

    const TOKEN: &str = "AQCEAAAAKgAAAAMAAAAAAAAAAWaitingReleaseToken";

    fn tokens(rules: &[&Rule]) -> AwsTaskTokens {
        let client: Client = mock_client!(aws_sdk_sfn, RuleMode::Sequential, rules, |c| c
            .retry_config(retry_config()));
        AwsTaskTokens::new(client)
    }

    #[tokio::test]
    async fn success_sends_the_token_and_the_output() {
        let rule = mock!(Client::send_task_success)
            .match_requests(|r| {
                r.task_token() == Some(TOKEN) && r.output() == Some(r#"{"approver":"arn"}"#)
            })
            .sequence()
            .http_status(200, body(json!({})))
            .build();
        let sent = tokens(&[&rule])
            .succeed(TOKEN, r#"{"approver":"arn"}"#)
            .await
            .expect("sent");
        assert_eq!(sent, TokenSent::Delivered);
        assert_eq!(rule.num_calls(), 1);
    }

    #[tokio::test]
    async fn failure_sends_the_error_and_the_cause() {
        let rule = mock!(Client::send_task_failure)
            .match_requests(|r| {
                r.task_token() == Some(TOKEN)
                    && r.error() == Some("Gate.ApprovalRefused")
                    && r.cause() == Some("not today")
            })
            .sequence()
            .http_status(200, body(json!({})))
            .build();
        let sent = tokens(&[&rule])
            .fail(TOKEN, "Gate.ApprovalRefused", "not today")
            .await
            .expect("sent");
        assert_eq!(sent, TokenSent::Delivered);
    }

    #[tokio::test]
    async fn a_long_error_and_cause_are_cut_at_character_boundaries() {
        let rule = mock!(Client::send_task_failure)
            .match_requests(|r| {
                r.error()
                    .is_some_and(|e| e.chars().count() == MAX_TASK_ERROR_CHARS)
                    && r.cause()
                        .is_some_and(|c| c.chars().count() == MAX_CAUSE_CHARS)
            })
            .sequence()
            .http_status(200, body(json!({})))
            .build();
        let sent = tokens(&[&rule])
            .fail(TOKEN, &"é".repeat(300), &"ü".repeat(40_000))
            .await
            .expect("sent");
        assert_eq!(sent, TokenSent::Delivered);
        assert_eq!(rule.num_calls(), 1);
    }

    #[tokio::test]
    async fn a_token_that_no_longer_waits_is_expired_for_both_answers() {
        for code in ["TaskTimedOut", "TaskDoesNotExist", "InvalidToken"] {
            let success = mock!(Client::send_task_success)
                .sequence()
                .http_status(400, error(code))
                .build();
            let failure = mock!(Client::send_task_failure)
                .sequence()
                .http_status(400, error(code))
                .build();
            let tokens = tokens(&[&success, &failure]);
            let ok = tokens.succeed(TOKEN, "{}").await.expect(code);
            let refused = tokens
                .fail(TOKEN, "Gate.ApprovalRefused", "")
                .await
                .expect(code);
            assert_eq!(
                (ok, refused),
                (TokenSent::Expired, TokenSent::Expired),
                "{code}"
            );
            assert_eq!((success.num_calls(), failure.num_calls()), (1, 1), "{code}");
        }
    }

    #[tokio::test]
    async fn other_errors_go_through_the_error_mapping() {
        let invalid = mock!(Client::send_task_success)
            .sequence()
            .http_status(400, error("InvalidOutput"))
            .build();
        let denied = mock!(Client::send_task_failure)
            .sequence()
            .http_status(400, error("AccessDeniedException"))
            .build();
        let tokens = tokens(&[&invalid, &denied]);
        let err = tokens
            .succeed(TOKEN, "{")
            .await
            .expect_err("invalid output");
        assert!(
            matches!(&err, PortError::Permanent { call: "states:SendTaskSuccess", message } if message.contains("InvalidOutput")),
            "{err:?}"
        );
        let err = tokens.fail(TOKEN, "e", "c").await.expect_err("denied");
        assert!(
            matches!(&err, PortError::Permanent { call: "states:SendTaskFailure", message } if message.contains("AccessDeniedException")),
            "{err:?}"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_throttled_answer_is_retried_then_transient() {
        let rule = mock!(Client::send_task_success)
            .sequence()
            .http_status(400, error("ThrottlingException"))
            .times(3)
            .build();
        let err = tokens(&[&rule])
            .succeed(TOKEN, "{}")
            .await
            .expect_err("throttled");
        assert!(
            matches!(
                err,
                PortError::Transient {
                    call: "states:SendTaskSuccess",
                    ..
                }
            ),
            "{err:?}"
        );
        assert_eq!(rule.num_calls(), 3);
    }
}
