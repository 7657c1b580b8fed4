//! Adapters over the AWS SDK (CodeCommit, Step Functions, DynamoDB, SNS, EventBridge): clients built once per cold start, every failure classified here, once.
//!
//! - [`Clients`] builds one [`SdkConfig`] per cold start (standard retries, [`MAX_ATTEMPTS`]
//!   attempts) and the service clients from it. The configuration honours
//!   `AWS_ENDPOINT_URL` and the per-service `AWS_ENDPOINT_URL_SFN` / `AWS_ENDPOINT_URL_DYNAMODB` /
//!   `AWS_ENDPOINT_URL_SNS` / `AWS_ENDPOINT_URL_CODECOMMIT` / `AWS_ENDPOINT_URL_EVENTBRIDGE` (the
//!   SDK reads those itself), plus
//!   [`STEPFUNCTIONS_ENDPOINT_ENV`] as an alias for Step Functions, so the adapters run against
//!   moto unchanged.
//! - [`port_error`] turns any `SdkError` into a [`PortError`]: transient for throttling, 5xx,
//!   timeouts and dispatch failures; permanent for everything else. Each adapter only decides
//!   which *modelled* errors are not errors at all (e.g. `FileDoesNotExistException` → `None`).

pub mod codebuild;
pub mod codecommit;
pub mod dynamodb;
pub mod events;
pub mod function_url;
pub mod logs;
pub mod merges;
pub mod rule_templates;
pub mod sfn;
pub mod sns;

pub use codebuild::{AwsTestReports, BuildOutputs};
pub use codecommit::AwsPullRequests;
pub use dynamodb::{AwsLedger, AwsMergeQueues};
pub use events::AwsBus;
pub use logs::AwsLogs;
pub use merges::AwsMerges;
pub use sfn::AwsExecutions;
pub use sns::AwsNotifier;

use crate::ports::{PortError, PortResult};
use aws_config::{BehaviorVersion, SdkConfig};
// The SDK crates all re-export the same `aws-smithy-*` types; CodeCommit's path is used for all.
use aws_sdk_codecommit::config::http::HttpResponse;
use aws_sdk_codecommit::config::retry::RetryConfig;
use aws_sdk_codecommit::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use std::error::Error as StdError;
use std::sync::OnceLock;

/// Attempts per call, first try included (the SDK's standard retry mode, exponential backoff).
pub const MAX_ATTEMPTS: u32 = 3;

/// Environment variable naming the role the gate writes comments and approvals as.
pub const REPORTER_ROLE_ENV: &str = "GATE_REPORTER_ROLE_ARN";

/// The fixed session name used when assuming the reporter role.
pub const REPORTER_SESSION_NAME: &str = "codecommit-gate";

/// An alias for `AWS_ENDPOINT_URL_SFN` (the SDK's own name for the Step Functions endpoint).
pub const STEPFUNCTIONS_ENDPOINT_ENV: &str = "AWS_ENDPOINT_URL_STEPFUNCTIONS";

/// The retry configuration every client uses: standard mode, [`MAX_ATTEMPTS`] attempts.
pub fn retry_config() -> RetryConfig {
    RetryConfig::standard().with_max_attempts(MAX_ATTEMPTS)
}

/// Loads the shared SDK configuration from the environment (region, credentials, endpoint
/// URLs) with [`retry_config`]. Call it once per cold start.
pub async fn load_sdk_config() -> SdkConfig {
    aws_config::defaults(BehaviorVersion::latest())
        .retry_config(retry_config())
        .load()
        .await
}

/// The ARN CodeCommit records for a session of `role_arn` assumed with
/// [`REPORTER_SESSION_NAME`]: `arn:aws:iam::A:role/path/R` →
/// `arn:aws:sts::A:assumed-role/R/codecommit-gate` (the role's path is not part of it).
/// This is the author of the gate's comments and the member to put in the approval pool.
/// `None` when `role_arn` is not an IAM role ARN.
pub fn reporter_session_arn(role_arn: &str) -> Option<String> {
    let mut parts = role_arn.splitn(6, ':');
    let (arn, partition, service, _region, account, resource) = (
        parts.next()?,
        parts.next()?,
        parts.next()?,
        parts.next()?,
        parts.next()?,
        parts.next()?,
    );
    if arn != "arn" || service != "iam" || partition.is_empty() || account.is_empty() {
        return None;
    }
    let role = resource.strip_prefix("role/")?.rsplit('/').next()?;
    if role.is_empty() {
        return None;
    }
    Some(format!(
        "arn:{partition}:sts::{account}:assumed-role/{role}/{REPORTER_SESSION_NAME}"
    ))
}

/// The shared configuration and the reporting identity's CodeCommit client, built once per cold
/// start and cheap to clone; every other service's client is built by the accessor of its
/// adapter.
///
/// A main therefore links only the clients of the adapters it asks for: gate-start never calls
/// [`Clients::build_outputs`], so its bootstrap carries no CodeBuild or CloudWatch Logs client
/// (their endpoint rules, configuration and runtime plugins), and gate-approve only the
/// clients of its four adapters (docs/performance.md §4). Building a client when its adapter
/// is asked for changes nothing at run time. Each service still has one client per cold start
/// (DynamoDB's and Step Functions', asked for by two adapters each, are kept once built), so
/// its adapters share one connection pool, as before. Clients built from one [`SdkConfig`]
/// share its credentials cache (`aws_config` puts one lazy identity cache in it, which every
/// service config built `from` it keeps).
#[derive(Debug, Clone)]
pub struct Clients {
    /// The configuration every client is built from.
    config: SdkConfig,
    /// CodeCommit, acting as the reporting identity (see [`Clients::from_config`]).
    codecommit: aws_sdk_codecommit::Client,
    /// Step Functions, once built ([`Clients::sfn`]).
    sfn: OnceLock<aws_sdk_sfn::Client>,
    /// DynamoDB, once built ([`Clients::dynamodb`]).
    dynamodb: OnceLock<aws_sdk_dynamodb::Client>,
}

impl Clients {
    /// Loads the configuration ([`load_sdk_config`]) and builds the clients, reading the
    /// reporter role from [`REPORTER_ROLE_ENV`] (unset or empty: no role is assumed).
    pub async fn from_env() -> Self {
        let config = load_sdk_config().await;
        let reporter = std::env::var(REPORTER_ROLE_ENV)
            .ok()
            .map(|v| v.trim().to_owned())
            .filter(|v| !v.is_empty());
        Self::from_config(&config, reporter.as_deref()).await
    }

    /// Builds the clients from an already-loaded configuration.
    ///
    /// The CodeCommit client writes comments and approvals as the gate's *reporting
    /// identity*. With `reporter_role_arn`, its credentials come from an
    /// [`AssumeRoleProvider`](aws_config::sts::AssumeRoleProvider) with the fixed session name
    /// [`REPORTER_SESSION_NAME`], using the Lambda's own credentials as the source. Both
    /// Lambdas (gate-start and gate-report) therefore act as the very same principal,
    /// `arn:aws:sts::<account>:assumed-role/<role>/codecommit-gate` ([`reporter_session_arn`]):
    /// that one ARN is the approval-rule pool member (so an approval by either Lambda counts,
    /// and a revoke by one undoes the other's approval) and the author of the sticky comment
    /// (so either Lambda finds and updates it; `UpdateComment` only lets the author edit).
    /// Without the role, each Lambda would approve as `…/assumed-role/<its execution role>/<its
    /// function name>`: two different principals. The other clients use the configuration's
    /// credentials as they are.
    pub async fn from_config(config: &SdkConfig, reporter_role_arn: Option<&str>) -> Self {
        let codecommit = match reporter_role_arn {
            Some(role) => {
                let provider = aws_config::sts::AssumeRoleProvider::builder(role)
                    .session_name(REPORTER_SESSION_NAME)
                    .configure(config)
                    .build()
                    .await;
                aws_sdk_codecommit::Client::from_conf(
                    aws_sdk_codecommit::config::Builder::from(config)
                        .credentials_provider(provider)
                        .build(),
                )
            }
            None => aws_sdk_codecommit::Client::new(config),
        };
        Self {
            config: config.clone(),
            codecommit,
            sfn: OnceLock::new(),
            dynamodb: OnceLock::new(),
        }
    }

    /// The reporting identity's CodeCommit client.
    pub fn codecommit(&self) -> aws_sdk_codecommit::Client {
        self.codecommit.clone()
    }

    /// The Step Functions client, built on first use; [`STEPFUNCTIONS_ENDPOINT_ENV`] overrides
    /// its endpoint.
    pub fn sfn(&self) -> aws_sdk_sfn::Client {
        self.sfn
            .get_or_init(|| {
                let mut sfn = aws_sdk_sfn::config::Builder::from(&self.config);
                if let Some(url) = std::env::var(STEPFUNCTIONS_ENDPOINT_ENV)
                    .ok()
                    .filter(|v| !v.trim().is_empty())
                {
                    sfn = sfn.endpoint_url(url);
                }
                aws_sdk_sfn::Client::from_conf(sfn.build())
            })
            .clone()
    }

    /// The DynamoDB client, built on first use (the ledger and the merge queues share it).
    pub fn dynamodb(&self) -> aws_sdk_dynamodb::Client {
        self.dynamodb
            .get_or_init(|| aws_sdk_dynamodb::Client::new(&self.config))
            .clone()
    }

    /// The CodeCommit adapter.
    pub fn pull_requests(&self) -> AwsPullRequests {
        AwsPullRequests::new(self.codecommit())
    }

    /// The Step Functions adapter for one state machine.
    pub fn executions(&self, state_machine_arn: impl Into<String>) -> AwsExecutions {
        AwsExecutions::new(self.sfn(), state_machine_arn)
    }

    /// Step Functions' task tokens (gate-approve resumes a release waiting for approval).
    pub fn task_tokens(&self) -> sfn::AwsTaskTokens {
        sfn::AwsTaskTokens::new(self.sfn())
    }

    /// The DynamoDB ledger in `table`.
    pub fn ledger(&self, table: impl Into<String>) -> AwsLedger {
        AwsLedger::new(self.dynamodb(), table)
    }

    /// The merge queues in `table` (the ledger's).
    pub fn merge_queues(&self, table: impl Into<String>) -> AwsMergeQueues {
        AwsMergeQueues::new(self.dynamodb(), table)
    }

    /// The CodeCommit merge calls, as the reporting identity like every CodeCommit call.
    pub fn merges(&self) -> AwsMerges {
        AwsMerges::new(self.codecommit())
    }

    /// The SNS notifier; `None` makes every publish a no-op.
    pub fn notifier(&self, topic_arn: Option<String>) -> AwsNotifier {
        AwsNotifier::new(aws_sdk_sns::Client::new(&self.config), topic_arn)
    }

    /// The EventBridge adapter (the default bus).
    pub fn bus(&self) -> AwsBus {
        AwsBus::new(aws_sdk_eventbridge::Client::new(&self.config))
    }

    /// The CloudWatch Logs adapter.
    pub fn logs(&self) -> AwsLogs {
        AwsLogs::new(aws_sdk_cloudwatchlogs::Client::new(&self.config))
    }

    /// A build's log and reports (CloudWatch Logs and CodeBuild), for gate-report and
    /// gate-release.
    pub fn build_outputs(&self) -> BuildOutputs {
        BuildOutputs {
            logs: self.logs(),
            reports: AwsTestReports::new(aws_sdk_codebuild::Client::new(&self.config)),
        }
    }
}

/// Error codes that mean "slow down / try again" whatever the HTTP status.
const TRANSIENT_CODES: &[&str] = &[
    "Throttling",
    "ThrottlingException",
    "ThrottledException",
    "RequestThrottled",
    "RequestThrottledException",
    "TooManyRequestsException",
    "RequestLimitExceeded",
    "ProvisionedThroughputExceededException",
    "TransactionConflictException",
    "TransactionInProgressException",
    "ReplicatedWriteConflictException",
    "KmsThrottlingException",
    "BandwidthLimitExceeded",
    "LimitExceededException",
    "SlowDown",
    "PriorRequestNotComplete",
    "ConcurrentReferenceUpdateException",
    "RequestTimeout",
    "RequestTimeoutException",
    "InternalError",
    "InternalFailure",
    "InternalServerError",
    "ServiceUnavailable",
    "ServiceUnavailableException",
];

/// Whether an error code is one of the transient ones (throttling and the like).
pub fn is_transient_code(code: &str) -> bool {
    TRANSIENT_CODES.contains(&code)
}

/// Whether a failed SDK call is worth retrying later: throttling codes, HTTP 5xx, timeouts,
/// dispatch (connection, I/O, credential) failures. Everything else is permanent.
pub fn is_transient<E: ProvideErrorMetadata>(err: &SdkError<E, HttpResponse>) -> bool {
    match err {
        SdkError::TimeoutError(_) => true,
        SdkError::DispatchFailure(failure) => !failure.is_user(),
        SdkError::ResponseError(response) => response.raw().status().is_server_error(),
        SdkError::ServiceError(service) => {
            service.raw().status().is_server_error()
                || service.err().code().is_some_and(is_transient_code)
        }
        _ => false,
    }
}

/// Turns a failed SDK call into a [`PortError`] (see [`is_transient`]), logging it once with
/// `tracing::warn!` under the call's name. `call` is the IAM action, e.g.
/// `codecommit:GetPullRequest`.
pub fn port_error<E>(call: &'static str, err: SdkError<E, HttpResponse>) -> PortError
where
    E: ProvideErrorMetadata + StdError + 'static,
{
    let transient = is_transient(&err);
    let message = DisplayErrorContext(&err).to_string();
    let code = match &err {
        SdkError::ServiceError(service) => service.err().code(),
        _ => None,
    };
    tracing::warn!(
        call,
        transient,
        code = code.unwrap_or(""),
        error = %message,
        "AWS call failed"
    );
    match code {
        _ if transient => PortError::Transient { call, message },
        Some(code) => PortError::rejected(call, code, message),
        None => PortError::Permanent { call, message },
    }
}

/// A permanent failure that is not an SDK error (a response missing a required piece),
/// logged like [`port_error`].
pub(crate) fn permanent(call: &'static str, message: impl Into<String>) -> PortError {
    let message = message.into();
    tracing::warn!(call, transient = false, error = %message, "AWS call failed");
    PortError::Permanent { call, message }
}

/// A call whose modelled error `absent` means "not there": `Ok(None)` for that error,
/// `Ok(Some(output))` on success, and every other failure classified by [`port_error`].
pub(crate) fn unless_absent<T, E>(
    call: &'static str,
    result: Result<T, SdkError<E, HttpResponse>>,
    absent: impl Fn(&E) -> bool,
) -> PortResult<Option<T>>
where
    E: ProvideErrorMetadata + StdError + 'static,
{
    match result {
        Ok(output) => Ok(Some(output)),
        Err(e) if service_err(&e).is_some_and(absent) => Ok(None),
        Err(e) => Err(port_error(call, e)),
    }
}

/// The modelled error of a service error, if that is what `err` is.
pub(crate) fn service_err<E, R>(err: &SdkError<E, R>) -> Option<&E> {
    match err {
        SdkError::ServiceError(service) => Some(service.err()),
        _ => None,
    }
}
