//! What a [`CheckRun`] says about its CodeBuild build: the `Build` object (on success the
//! task's output, on failure the build in the caught cause), its status, duration, queue time
//! and log. Pure: gate-report (a pull request's checks) and gate-release (a release's checks,
//! packages, deploys and rollbacks) read builds the same way; only fetching a failure's log
//! tail is theirs.

use super::{CheckRun, RunOutcome};
use crate::policy::{CheckResult, CheckStatus};
use serde_json::Value;

fn field<'v>(value: &'v Value, names: &[&str]) -> Option<&'v Value> {
    names.iter().find_map(|n| value.get(*n))
}

/// The build object a check run carries: on success its `build`, on failure the build in its
/// cause. Step Functions writes PascalCase keys, the SDKs camelCase: both are read.
pub fn build_of(run: &CheckRun) -> Option<Value> {
    let raw = match &run.build {
        Some(b) => b.clone(),
        None => serde_json::from_str::<Value>(run.cause.as_deref()?).ok()?,
    };
    Some(field(&raw, &["Build", "build"]).cloned().unwrap_or(raw))
}

fn epoch_ms(v: &Value) -> Option<f64> {
    let n = v.as_f64()?;
    // Step Functions passes SDK timestamps as epoch milliseconds; accept seconds too.
    Some(if n > 1e11 { n } else { n * 1000.0 })
}

/// The build's wall time, from its start and end times.
pub fn duration_ms(build: &Value) -> Option<u64> {
    let start = epoch_ms(field(build, &["StartTime", "startTime"])?)?;
    let end = epoch_ms(field(build, &["EndTime", "endTime"])?)?;
    (end >= start).then_some((end - start) as u64)
}

/// How long the build waited in CodeBuild's queue (its `QUEUED` phases).
pub fn queued_ms(build: &Value) -> u64 {
    field(build, &["Phases", "phases"])
        .and_then(Value::as_array)
        .map(|phases| {
            phases
                .iter()
                .filter(|p| {
                    field(p, &["PhaseType", "phaseType"]).and_then(Value::as_str) == Some("QUEUED")
                })
                .filter_map(|p| field(p, &["DurationInSeconds", "durationInSeconds"])?.as_f64())
                .map(|s| (s * 1000.0) as u64)
                .sum()
        })
        .unwrap_or(0)
}

/// Where a build's log is in CloudWatch Logs: (group, stream).
pub fn log_stream(build: &Value) -> Option<(String, String)> {
    let logs = field(build, &["Logs", "logs"])?;
    let text = |names: &[&str]| field(logs, names)?.as_str().map(str::to_owned);
    Some((
        text(&["GroupName", "groupName"])?,
        text(&["StreamName", "streamName"])?,
    ))
}

/// A run as a result, without a log tail: the status from the outcome (refined by the build's
/// own status), duration and console log link from the build. A run that did not pass and has
/// no build (it never started) gets its error and cause as the tail: the best there is.
pub fn result_of(run: &CheckRun) -> CheckResult {
    let build = build_of(run);
    let build_status = build
        .as_ref()
        .and_then(|b| field(b, &["BuildStatus", "buildStatus"]))
        .and_then(Value::as_str);
    let status = match run.outcome {
        RunOutcome::Passed => CheckStatus::Passed,
        RunOutcome::TimedOut => CheckStatus::TimedOut,
        RunOutcome::Errored => CheckStatus::Errored,
        RunOutcome::Failed => match build_status {
            Some("TIMED_OUT") => CheckStatus::TimedOut,
            Some("FAULT" | "STOPPED") => CheckStatus::Errored,
            _ => CheckStatus::Failed,
        },
    };
    let log_url = build
        .as_ref()
        .and_then(|b| field(b, &["Logs", "logs"]))
        .and_then(|l| field(l, &["DeepLink", "deepLink"]))
        .and_then(Value::as_str)
        .map(str::to_owned);
    CheckResult {
        name: run.name.clone(),
        status,
        duration_ms: build.as_ref().and_then(duration_ms),
        attempts: run.attempts.max(1),
        flaky: status == CheckStatus::Passed && run.attempts > 1,
        log_url,
        log_tail: None,
        reports: None,
        reused: None,
    }
}

/// What to show of a run that did not pass and has no build log: its error and cause.
pub fn error_tail(run: &CheckRun) -> Option<String> {
    [run.error.as_deref(), run.cause.as_deref()]
        .into_iter()
        .flatten()
        .map(str::to_owned)
        .reduce(|a, b| format!("{a}\n{b}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn run(outcome: RunOutcome, build: Option<Value>, cause: Option<String>) -> CheckRun {
        CheckRun {
            name: "deploy-app".into(),
            required: true,
            outcome,
            attempts: 2,
            build,
            error: cause.as_ref().map(|_| "States.TaskFailed".to_owned()),
            cause,
        }
    }

    #[test]
    fn a_failed_build_in_the_cause_gives_status_duration_and_log() {
        let build = json!({"Build": {
            "BuildStatus": "TIMED_OUT", "StartTime": 1_000_000_000_000u64,
            "EndTime": 1_000_000_065_000u64,
            "Logs": {"GroupName": "g", "StreamName": "s", "DeepLink": "https://log"}
        }});
        let r = run(RunOutcome::Failed, None, Some(build.to_string()));
        let result = result_of(&r);
        assert_eq!(result.status, CheckStatus::TimedOut);
        assert_eq!(result.duration_ms, Some(65_000));
        assert_eq!(result.log_url.as_deref(), Some("https://log"));
        assert!(!result.flaky);
        let found = build_of(&r).expect("build");
        assert_eq!(log_stream(&found), Some(("g".into(), "s".into())));
    }

    #[test]
    fn a_pass_after_a_retry_is_flaky_and_a_run_without_build_keeps_its_error() {
        let passed = result_of(&run(
            RunOutcome::Passed,
            Some(json!({"buildStatus": "SUCCEEDED"})),
            None,
        ));
        assert!(passed.flaky);
        let never = run(
            RunOutcome::Errored,
            None,
            Some("CodeBuild.AccountLimitExceeded".into()),
        );
        assert_eq!(result_of(&never).status, CheckStatus::Errored);
        assert_eq!(
            error_tail(&never).as_deref(),
            Some("States.TaskFailed\nCodeBuild.AccountLimitExceeded")
        );
    }
}
