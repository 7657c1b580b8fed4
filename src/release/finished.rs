//! The record of a release that ran on AWS, from what the release machine's last step sends
//! ([`ReleaseReport`]): the same [`ReleaseRecord`] the local `gate release` leaves, with the
//! same rules for its outcome ([`checks_blocked`], [`ApprovalDecision::outcome`]). Pure.
//!
//! The outcome is decided in the order the release runs, the first step that did not pass
//! deciding: the checks, the packages, the approval, the deploys. A machine error outside any
//! build, or a step the plan needed that never reported, is [`ReleaseOutcome::Errored`]: the
//! environment only moves when every planned deploy passed (fail closed).

use super::{
    ApprovalDecision, ApprovalRecord, DeployRecord, PackageRecord, RECORD_VERSION, ReleaseOutcome,
    ReleaseRecord, RollbackHow, RollbackRecord, checks_blocked,
};
use crate::ids::CheckName;
use crate::machine::build::result_of;
use crate::machine::release::payload::{APPROVAL_REFUSED_ERROR, ApprovalAnswer, ReleaseReport};
use crate::machine::release::{DeploySpec, ReleaseExecutionInput};
use crate::machine::{CheckRun, StageChain};
use crate::policy::{CheckResult, CheckStatus};
use crate::test_reports::{CheckReports, judge_with_reports};
use std::collections::BTreeMap;

/// The error Step Functions records when a task's `TimeoutSeconds` runs out: on the
/// approval step, nobody answered in time.
pub const TIMEOUT_ERROR: &str = "States.Timeout";

/// The record of the release `report` tells of, finished at `now` (RFC 3339 UTC, with its
/// epoch milliseconds `now_ms` for the duration), with what the checks' declared reports
/// said (`reports`, read from their builds: a coverage under `min_line` fails a check that
/// passed, as in a pull request's run). Its id is the execution's name, so a redelivered
/// report records the same release again.
pub fn release_record(
    report: &ReleaseReport,
    reports: &BTreeMap<CheckName, CheckReports>,
    now: &str,
    now_ms: i64,
) -> ReleaseRecord {
    let input = &report.input;
    let checks = check_results(report, reports);
    let blocked = report.checks.is_some() && checks_blocked(&input.plan.checks, &checks);
    let started_at = report.started_at.clone().unwrap_or_else(|| now.to_owned());
    let duration_ms = crate::metrics::parse_rfc3339_ms(&started_at)
        .map_or(0, |start| u64::try_from(now_ms - start).unwrap_or(0));
    let mut record = ReleaseRecord {
        version: RECORD_VERSION,
        id: input.execution_name.clone(),
        repository: input.repository.as_str().to_owned(),
        started_at,
        duration_ms,
        started_by: input.pushed_by.clone().unwrap_or_default(),
        forced: false,
        plan: input.plan.clone(),
        checks,
        approval: approval_record(report, now),
        packages: if blocked {
            Vec::new()
        } else {
            package_records(report)
        },
        deploys: deploy_records(report),
        rollbacks: rollback_records(report),
        outcome: ReleaseOutcome::Errored,
    };
    record.outcome = outcome(report, &record, blocked);
    // One DynamoDB item: the checks' logs and failed tests are bounded in all.
    crate::test_reports::bound_details(&mut record.checks);
    record
}

/// The first step that did not pass decides; else every planned deploy passed.
fn outcome(report: &ReleaseReport, record: &ReleaseRecord, blocked: bool) -> ReleaseOutcome {
    // A build that ran and did not pass; a deploy not run after a failure is not one.
    let failed = |r: &CheckResult| {
        matches!(
            r.status,
            CheckStatus::Failed | CheckStatus::TimedOut | CheckStatus::Errored
        )
    };
    if blocked {
        return ReleaseOutcome::ChecksFailed;
    }
    if record
        .packages
        .iter()
        .filter_map(|p| p.result.as_ref())
        .any(failed)
    {
        return ReleaseOutcome::PackageFailed;
    }
    if report.approval_error.is_some() {
        // A refusal or a timeout; any other failure of the approval step (or a "refusal"
        // that says approved) is the machine's error: nothing more deploys.
        return record
            .approval
            .as_ref()
            .and_then(|a| a.decision.outcome())
            .unwrap_or(ReleaseOutcome::Errored);
    }
    if record.deploys.iter().map(|d| &d.result).any(failed) {
        return ReleaseOutcome::DeployFailed;
    }
    let planned_checks = record.plan.checks.iter().any(|c| c.run);
    if report.failure.is_some() || (planned_checks && report.checks.is_none()) {
        return ReleaseOutcome::Errored;
    }
    let planned_deploys = report
        .input
        .waves
        .iter()
        .map(|w| w.deploys.len())
        .sum::<usize>();
    if planned_deploys == 0 {
        return ReleaseOutcome::NothingToRelease;
    }
    if record.deploys.len() < planned_deploys {
        // Deploys the plan needed never reported: nothing says they ran.
        return ReleaseOutcome::Errored;
    }
    ReleaseOutcome::Released
}

/// One result per check the plan runs: reported (with its reports), or not run.
fn check_results(
    report: &ReleaseReport,
    reports: &BTreeMap<CheckName, CheckReports>,
) -> Vec<CheckResult> {
    let runs = StageChain::runs(report.checks.as_ref());
    report
        .input
        .plan
        .checks
        .iter()
        .filter(|c| c.run)
        .map(|c| {
            runs.iter().find(|r| r.name == c.name).map_or_else(
                || CheckResult::not_run(&c.name),
                |r| {
                    let mut result = result_of(r);
                    if let Some(read) = reports.get(&c.name) {
                        judge_with_reports(&mut result, read.clone());
                    }
                    result
                },
            )
        })
        .collect()
}

/// What the approver's answer records: who, when, how, why.
fn answer_record(answer: ApprovalAnswer) -> ApprovalRecord {
    ApprovalRecord {
        channel: Some(answer.channel),
        reason: answer.reason,
        ..ApprovalRecord::new(answer.approver, answer.at, answer.decision)
    }
}

/// The approval: the answer given, the refusal in the approval step's failure (its cause is
/// the answer), or nobody in time (`States.Timeout`). An unreadable refusal is still a
/// refusal, by nobody known.
fn approval_record(report: &ReleaseReport, now: &str) -> Option<ApprovalRecord> {
    if let Some(answer) = &report.approval {
        return Some(answer_record(answer.clone()));
    }
    let error = report.approval_error.as_ref()?;
    match error.error.as_deref() {
        Some(APPROVAL_REFUSED_ERROR) => Some(
            error
                .cause
                .as_deref()
                .and_then(|c| serde_json::from_str::<ApprovalAnswer>(c).ok())
                .map_or_else(
                    || ApprovalRecord::new("", now, ApprovalDecision::Refused),
                    answer_record,
                ),
        ),
        Some(TIMEOUT_ERROR) => Some(ApprovalRecord::new("", now, ApprovalDecision::TimedOut)),
        _ => None,
    }
}

fn run_named<'r>(runs: impl IntoIterator<Item = &'r CheckRun>, name: &str) -> Option<&'r CheckRun> {
    runs.into_iter().find(|r| r.name.as_str() == name)
}

/// The package builds that ran; the artifacts the release deployed without building them
/// (already in the bucket, or found by the machine meanwhile) as reused.
fn package_records(report: &ReleaseReport) -> Vec<PackageRecord> {
    let input = &report.input;
    let went_on = report.approval.is_some() || !report.deploys.is_empty();
    let built = input.packages.iter().filter_map(|spec| {
        // A build that did not run was skipped when the release went on (its artifact
        // appeared meanwhile), else never reached.
        let result = match run_named(&report.packages, spec.component.as_str()) {
            Some(run) => Some(result_of(run)),
            None if went_on => None,
            None => return None,
        };
        Some(PackageRecord {
            component: spec.component.clone(),
            key: spec.key.clone(),
            reused: result.is_none(),
            result,
        })
    });
    let stored = deploy_specs(input).filter_map(|d| {
        let key = d.artifact_key.clone()?;
        let built_here = input.packages.iter().any(|p| p.component == d.component);
        (!built_here && went_on).then(|| PackageRecord {
            component: d.component.clone(),
            key,
            reused: true,
            result: None,
        })
    });
    built.chain(stored).collect()
}

fn deploy_specs(input: &ReleaseExecutionInput) -> impl Iterator<Item = &DeploySpec> {
    input.waves.iter().flat_map(|w| w.deploys.iter())
}

/// Every planned deploy once deploying began, wave by wave: how it went, or not run.
fn deploy_records(report: &ReleaseReport) -> Vec<DeployRecord> {
    if report.deploys.is_empty() {
        return Vec::new();
    }
    let mut records = Vec::new();
    for (n, wave) in report.input.waves.iter().enumerate() {
        let runs = report.deploys.get(n).map(Vec::as_slice).unwrap_or_default();
        for d in &wave.deploys {
            let result = run_named(runs, d.component.as_str()).map_or_else(
                || CheckResult::not_run(&CheckName::new(d.component.as_str())),
                result_of,
            );
            records.push(DeployRecord {
                component: d.component.clone(),
                wave: n,
                artifact: d.artifact_key.clone(),
                result,
            });
        }
    }
    records
}

/// How a deploy's rollback undoes it: its `rollback` commands run at the released commit, the
/// previous release deployed again, or nothing to return to.
fn rollback_how(spec: &DeploySpec, input: &ReleaseExecutionInput) -> RollbackHow {
    match (&spec.rollback.buildspec, &spec.rollback.source_version) {
        (Some(_), Some(v)) if *v == input.commit => RollbackHow::Commands,
        (Some(_), Some(previous)) => RollbackHow::Redeploy {
            commit: previous.as_str().to_owned(),
        },
        _ => RollbackHow::Nothing,
    }
}

/// The rollbacks, in the order the machine ran them (the reverse of the deploys).
fn rollback_records(report: &ReleaseReport) -> Vec<RollbackRecord> {
    let input = &report.input;
    report
        .rollbacks
        .iter()
        .filter_map(|run| {
            let spec = deploy_specs(input).find(|d| d.component.as_str() == run.name.as_str())?;
            Some(RollbackRecord {
                component: spec.component.clone(),
                how: rollback_how(spec, input),
                result: Some(result_of(run)),
            })
        })
        .collect()
}
