//! [`Executions`] over Step Functions: starts a gate run under its deterministic name, stops superseded runs, reads their status.
//! [`AwsTaskTokens`]: [`TaskTokens`] over `SendTaskSuccess` / `SendTaskFailure`, gate-approve's
//! answer to a release waiting with `.waitForTaskToken`.

use super::{permanent, port_error, service_err, unless_absent};
use crate::machine::ExecutionInput;
use crate::machine::release::ReleaseExecutionInput;
use crate::ports::{ExecutionStatus, Executions, PortResult, Started, TaskTokens, TokenSent};
use aws_sdk_sfn::Client;
use aws_sdk_sfn::operation::describe_execution::{DescribeExecutionError, DescribeExecutionOutput};
use aws_sdk_sfn::operation::send_task_failure::SendTaskFailureError;
use aws_sdk_sfn::operation::send_task_success::SendTaskSuccessError;
use aws_sdk_sfn::operation::start_execution::StartExecutionError;
use aws_sdk_sfn::operation::stop_execution::StopExecutionError;
use aws_sdk_sfn::types::{ExecutionStatus as SdkStatus, IncludedData};

const START_EXECUTION: &str = "states:StartExecution";
const STOP_EXECUTION: &str = "states:StopExecution";
const DESCRIBE_EXECUTION: &str = "states:DescribeExecution";
const SEND_TASK_SUCCESS: &str = "states:SendTaskSuccess";
const SEND_TASK_FAILURE: &str = "states:SendTaskFailure";

/// Step Functions' limit on `SendTaskFailure`'s `error`, in characters.
pub const MAX_TASK_ERROR_CHARS: usize = 256;

/// Step Functions' limit on `StopExecution`'s `cause`, in characters.
pub const MAX_CAUSE_CHARS: usize = 32_768;

/// The executions of one state machine.
#[derive(Debug, Clone)]
pub struct AwsExecutions {
    client: Client,
    state_machine_arn: String,
    release_state_machine_arn: Option<String>,
}

impl AwsExecutions {
    /// Wraps a Step Functions client for the state machine `state_machine_arn`.
    pub fn new(client: Client, state_machine_arn: impl Into<String>) -> Self {
        Self {
            client,
            state_machine_arn: state_machine_arn.into(),
            release_state_machine_arn: None,
        }
    }

    /// Also starts releases, on the state machine `arn`.
    pub fn with_release_machine(mut self, arn: impl Into<String>) -> Self {
        self.release_state_machine_arn = Some(arn.into());
        self
    }

    /// `StartExecution` of `machine` under `name` with `input` (JSON); an execution of that
    /// name already there is [`Started::AlreadyExists`].
    async fn start_on(&self, machine: &str, name: &str, input: String) -> PortResult<Started> {
        let result = self
            .client
            .start_execution()
            .state_machine_arn(machine)
            .name(name)
            .input(input)
            .send()
            .await;
        match result {
            Ok(output) => Ok(Started::Started {
                execution_arn: output.execution_arn().to_owned(),
            }),
            Err(e)
                if matches!(
                    service_err(&e),
                    Some(StartExecutionError::ExecutionAlreadyExists(_))
                ) =>
            {
                let execution_arn = execution_arn(machine, name).ok_or_else(|| {
                    permanent(
                        START_EXECUTION,
                        format!(
                            "execution {name} already exists, and {machine} is not a state machine ARN"
                        ),
                    )
                })?;
                Ok(Started::AlreadyExists { execution_arn })
            }
            Err(e) => Err(port_error(START_EXECUTION, e)),
        }
    }

    /// The state machine's ARN.
    pub fn state_machine_arn(&self) -> &str {
        &self.state_machine_arn
    }

    /// The ARN of this state machine's execution called `name`.
    pub fn execution_arn(&self, name: &str) -> Option<String> {
        execution_arn(&self.state_machine_arn, name)
    }

    /// `DescribeExecution` with `data`; `None` when the execution does not exist.
    async fn describe_execution(
        &self,
        execution_arn: &str,
        data: IncludedData,
    ) -> PortResult<Option<DescribeExecutionOutput>> {
        let result = self
            .client
            .describe_execution()
            .execution_arn(execution_arn)
            .included_data(data)
            .send()
            .await;
        unless_absent(DESCRIBE_EXECUTION, result, |e| {
            matches!(e, DescribeExecutionError::ExecutionDoesNotExist(_))
        })
    }

    async fn describe(&self, execution_arn: &str) -> PortResult<Option<ExecutionStatus>> {
        let Some(output) = self
            .describe_execution(execution_arn, IncludedData::MetadataOnly)
            .await?
        else {
            return Ok(None);
        };
        let status = match output.status() {
            SdkStatus::Running => ExecutionStatus::Running,
            SdkStatus::Succeeded => ExecutionStatus::Succeeded,
            SdkStatus::Failed => ExecutionStatus::Failed,
            SdkStatus::TimedOut => ExecutionStatus::TimedOut,
            SdkStatus::Aborted => ExecutionStatus::Aborted,
            SdkStatus::PendingRedrive => ExecutionStatus::PendingRedrive,
            other => {
                return Err(permanent(
                    DESCRIBE_EXECUTION,
                    format!("unexpected execution status {other:?}"),
                ));
            }
        };
        Ok(Some(status))
    }
}

/// `arn:aws:states:R:A:stateMachine:NAME[:qualifier]` → `arn:aws:states:R:A:execution:NAME:<name>`
/// (a version or alias qualifier is not part of an execution's ARN).
pub fn execution_arn(state_machine_arn: &str, name: &str) -> Option<String> {
    let parts: Vec<&str> = state_machine_arn.split(':').collect();
    match parts.as_slice() {
        [
            "arn",
            partition,
            "states",
            region,
            account,
            "stateMachine",
            machine,
            ..,
        ] if parts.len() <= 8 && !machine.is_empty() => Some(format!(
            "arn:{partition}:states:{region}:{account}:execution:{machine}:{name}"
        )),
        _ => None,
    }
}

impl Executions for AwsExecutions {
    async fn start(&self, name: &str, input: &ExecutionInput) -> PortResult<Started> {
        let json = serde_json::to_string(input)
            .map_err(|e| permanent(START_EXECUTION, format!("cannot serialize the input: {e}")))?;
        self.start_on(&self.state_machine_arn, name, json).await
    }

    async fn start_release(
        &self,
        name: &str,
        input: &ReleaseExecutionInput,
    ) -> PortResult<Started> {
        let machine = self
            .release_state_machine_arn
            .as_deref()
            .ok_or_else(|| permanent(START_EXECUTION, "this stack has no release state machine"))?;
        let json = serde_json::to_string(input)
            .map_err(|e| permanent(START_EXECUTION, format!("cannot serialize the input: {e}")))?;
        self.start_on(machine, name, json).await
    }

    async fn stop(&self, execution_arn: &str, cause: &str) -> PortResult<()> {
        let cause: String = cause.chars().take(MAX_CAUSE_CHARS).collect();
        let result = self
            .client
            .stop_execution()
            .execution_arn(execution_arn)
            .cause(cause)
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(e) => match service_err(&e) {
                Some(StopExecutionError::ExecutionDoesNotExist(_)) => Ok(()),
                // The model does not say what stopping a finished execution returns; if the
                // service refuses the stop, it is fine as long as the execution is not running.
                Some(StopExecutionError::ValidationException(_)) => {
                    match self.describe(execution_arn).await {
                        Ok(None) => Ok(()),
                        Ok(Some(status)) if status != ExecutionStatus::Running => Ok(()),
                        _ => Err(port_error(STOP_EXECUTION, e)),
                    }
                }
                _ => Err(port_error(STOP_EXECUTION, e)),
            },
        }
    }

    async fn status(&self, execution_arn: &str) -> PortResult<Option<ExecutionStatus>> {
        self.describe(execution_arn).await
    }

    async fn input(&self, execution_arn: &str) -> PortResult<Option<ExecutionInput>> {
        let Some(output) = self
            .describe_execution(execution_arn, IncludedData::AllData)
            .await?
        else {
            return Ok(None);
        };
        let text = output.input().ok_or_else(|| {
            permanent(DESCRIBE_EXECUTION, "the execution has no input".to_owned())
        })?;
        serde_json::from_str(text).map(Some).map_err(|e| {
            permanent(
                DESCRIBE_EXECUTION,
                format!("the execution's input is not a gate run: {e}"),
            )
        })
    }
}

/// Step Functions' callbacks: answers a task token (gate-approve is their only caller).
#[derive(Debug, Clone)]
pub struct AwsTaskTokens {
    client: Client,
}

impl AwsTaskTokens {
    /// Wraps a Step Functions client.
    pub fn new(client: Client) -> Self {
        Self { client }
    }
}

/// The first `max` characters of `text` (never splits a character).
fn clip_chars(text: &str, max: usize) -> String {
    text.chars().take(max).collect()
}

/// `Some(output)` delivered, `None`: the token no longer waits (`TaskTimedOut`: "expired or
/// the task has already been closed", `TaskDoesNotExist`, `InvalidToken`).
fn token_sent<T>(answered: Option<T>) -> TokenSent {
    match answered {
        Some(_) => TokenSent::Delivered,
        None => TokenSent::Expired,
    }
}

impl TaskTokens for AwsTaskTokens {
    async fn succeed(&self, token: &str, output: &str) -> PortResult<TokenSent> {
        let result = self
            .client
            .send_task_success()
            .task_token(token)
            .output(output)
            .send()
            .await;
        unless_absent(SEND_TASK_SUCCESS, result, |e| {
            matches!(
                e,
                SendTaskSuccessError::TaskTimedOut(_)
                    | SendTaskSuccessError::TaskDoesNotExist(_)
                    | SendTaskSuccessError::InvalidToken(_)
            )
        })
        .map(token_sent)
    }

    async fn fail(&self, token: &str, error: &str, cause: &str) -> PortResult<TokenSent> {
        let result = self
            .client
            .send_task_failure()
            .task_token(token)
            .error(clip_chars(error, MAX_TASK_ERROR_CHARS))
            .cause(clip_chars(cause, MAX_CAUSE_CHARS))
            .send()
            .await;
        unless_absent(SEND_TASK_FAILURE, result, |e| {
            matches!(
                e,
                SendTaskFailureError::TaskTimedOut(_)
                    | SendTaskFailureError::TaskDoesNotExist(_)
                    | SendTaskFailureError::InvalidToken(_)
            )
        })
        .map(token_sent)
    }
}
