//! The gate-report flow, written against the ports: run results → the sticky comment, APPROVE or REVOKE for exactly the tested revision, SNS, the ledger.
//!
//! Two inputs reach it: the state machine's report step ([`ReportPayload`]) and the
//! *Step Functions Execution Status Change* event for runs that died outside the happy path
//! (FAILED, TIMED_OUT, ABORTED). Both are idempotent: a second delivery of the same report finds
//! the run's verdict in the ledger and changes nothing.

use crate::event::{RunFinished, RunStatus};
use crate::flows::build_reports::read_run_reports;
use crate::flows::{Deps, FlowError, Ports, coverage_bases, steps};
use crate::gate_file::Reports;
use crate::ids::{PullRequestId, RepositoryName, RevisionId};
use crate::machine::{CheckRun, ExecutionInput, Mode, ReportPayload, build};
use crate::plan::Plan;
use crate::policy::{self, ApprovalDecision, CheckResult, CheckStatus, Verdict};
use crate::ports::test_reports::TestReports;
use crate::ports::{
    ApprovalOutcome, ApprovalState, Executions, Ledger, Logs, Notifier, PortResult, PrRecord,
    PrStatus, PullRequestState, PullRequests, RunVerdict, Written,
};
use crate::report::{self, Subject};
use crate::test_reports::judge_with_reports;
use serde::Serialize;

/// Log lines fetched for each failed check.
pub const TAIL_LINES: usize = 50;

/// What reached gate-report.
#[derive(Debug, Clone, PartialEq)]
pub enum ReportRequest {
    /// The state machine's report step.
    Report(Box<ReportPayload>),
    /// An execution ended outside the happy path.
    StatusChange(Box<RunFinished>),
    /// A run whose checks' results are already final (the local runner of the embedded
    /// default produces them directly).
    Results {
        /// The execution's input.
        input: Box<ExecutionInput>,
        /// One result per check of its stages.
        results: Vec<CheckResult>,
    },
}

/// The numbers gate-report emits as CloudWatch metrics (Embedded Metric Format).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct RunMetrics {
    /// When the execution started (ISO-8601), for the run duration.
    pub started_at: Option<String>,
    /// Time builds spent queued, summed over checks (ms).
    pub queue_ms: u64,
    /// Checks run.
    pub checks_run: u64,
    /// Checks skipped by the plan.
    pub checks_skipped: u64,
    /// Whether the gate passed.
    pub passed: bool,
    /// Checks that passed only after a retry.
    pub flaky: u64,
}

/// What gate-report did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum ReportOutcome {
    /// Nothing to do, and why.
    Ignored {
        /// Why.
        reason: String,
    },
    /// Already reported.
    Duplicate {
        /// What was found.
        reason: String,
    },
    /// A merge queue entry's run ended ([`crate::merge_queue::is_queue_run`]): the queue's
    /// flow takes it from here; the pull request's own record and comment are left alone.
    QueueRun {
        /// What the queue needs.
        end: crate::merge_queue::RunEnd,
    },
    /// Reported.
    Reported {
        /// The verdict.
        verdict: Verdict,
        /// What happened to the approval: `approved`, `revoked` or `stale`.
        approval: String,
        /// The numbers for the metrics.
        metrics: RunMetrics,
    },
}

fn ignored(reason: impl Into<String>) -> ReportOutcome {
    ReportOutcome::Ignored {
        reason: reason.into(),
    }
}

/// Handles one request. `Err` is an infrastructure fault: the Lambda fails so the invocation
/// is retried (and lands in the DLQ if it keeps failing); the approval is never granted then.
pub async fn handle<T: Ports, G: Logs + TestReports>(
    deps: &Deps<T>,
    logs: &G,
    request: ReportRequest,
) -> Result<ReportOutcome, FlowError> {
    let input = match &request {
        ReportRequest::Report(payload) => Some(payload.input.clone()),
        ReportRequest::Results { input, .. } => Some((**input).clone()),
        ReportRequest::StatusChange(run) => match &run.input {
            Some(value) => serde_json::from_value::<ExecutionInput>(value.clone()).ok(),
            None => None,
        },
    };
    let input = match (input, &request) {
        (Some(input), _) => input,
        (None, ReportRequest::StatusChange(run)) => {
            match deps.executions.input(&run.execution_arn).await {
                Ok(Some(input)) => input,
                Ok(None) => return Ok(ignored("the execution no longer exists")),
                Err(source) => {
                    tracing::error!(call = source.call(), execution = %run.execution_arn, error = %source, "cannot read the execution's input");
                    return Err(FlowError::new(
                        &RepositoryName::from("unknown"),
                        &PullRequestId::from("unknown"),
                        source,
                    ));
                }
            }
        }
        (None, ReportRequest::Report(_) | ReportRequest::Results { .. }) => {
            return Ok(ignored("the report has no input"));
        }
    };
    let repository = input.subject.repository.clone();
    let pr = input.subject.pull_request_id.clone();
    let result = match request {
        ReportRequest::Report(payload) => match results(logs, &payload, &input).await {
            Ok((results, queue_ms)) => {
                let facts = RunFacts {
                    queue_ms,
                    machine_failed: payload.failure.is_some(),
                    started_at: payload.started_at.clone(),
                };
                report_run(deps, &input, results, facts).await
            }
            Err(e) => Err(e),
        },
        ReportRequest::Results { results, .. } => {
            report_run(deps, &input, results, RunFacts::default()).await
        }
        ReportRequest::StatusChange(run) => run_ended(deps, &run, &input).await,
    };
    result.map_err(|source| {
        tracing::error!(
            call = source.call(),
            repository = %repository,
            pull_request = %pr,
            error = %source,
            "gate-report failed closed; the report will be retried"
        );
        FlowError::new(&repository, &pr, source)
    })
}

/// The PR's record if this execution is still its current run and not yet reported.
enum Ownership {
    Current(Box<PrRecord>),
    Skip(ReportOutcome),
}

async fn ownership<L: Ledger>(ledger: &L, input: &ExecutionInput) -> PortResult<Ownership> {
    let subject = &input.subject;
    let record = ledger
        .get(&subject.repository, &subject.pull_request_id)
        .await?
        .unwrap_or_else(|| {
            PrRecord::new(subject.repository.clone(), subject.pull_request_id.clone())
        });
    Ok(match &record.run {
        Some(run) if run.execution_name != input.execution_name => Ownership::Skip(ignored(
            format!("a newer run ({}) owns the pull request", run.execution_name),
        )),
        Some(run) if run.verdict.is_some() && run.reported => {
            Ownership::Skip(ReportOutcome::Duplicate {
                reason: format!("{} was already reported", input.execution_name),
            })
        }
        _ => Ownership::Current(Box::new(record)),
    })
}

/// What became of the verdict claim.
enum VerdictClaim {
    /// The record holds this run's verdict; act on it. `fresh`: this delivery wrote it (and
    /// announces it); a redelivery that resumes a recorded verdict does not announce again.
    Claimed(Box<PrRecord>, bool),
    /// Do not act: a newer run owns the PR, or a concurrent delivery is acting.
    Skip(ReportOutcome),
}

/// Records the verdict **before** anything is approved: a conditional write that only succeeds
/// while this execution is still the PR's current run, so a `/gate` command or a push that
/// claimed a newer run in between can never be approved by this older one. A write lost to an
/// unrelated change is re-read and tried again. A verdict already recorded by this run (a
/// redelivery after a crash) is resumed.
async fn claim_verdict<L: Ledger>(
    ledger: &L,
    mut record: PrRecord,
    input: &ExecutionInput,
    verdict: RunVerdict,
    results: &[CheckResult],
) -> PortResult<VerdictClaim> {
    for _ in 0..3 {
        match &mut record.run {
            Some(run) if run.execution_name == input.execution_name => {
                if run.verdict.is_some() {
                    return Ok(VerdictClaim::Claimed(Box::new(record), false));
                }
                run.verdict = Some(verdict);
                run.reported = false;
                run.results = results.to_vec();
                crate::test_reports::bound_details(&mut run.results);
            }
            Some(run) => {
                return Ok(VerdictClaim::Skip(ignored(format!(
                    "a newer run ({}) claimed the pull request while this one reported",
                    run.execution_name
                ))));
            }
            None => return Ok(VerdictClaim::Skip(ignored("the pull request has no run"))),
        }
        if ledger.put(&record).await? == Written::Written {
            record.version += 1;
            return Ok(VerdictClaim::Claimed(Box::new(record), true));
        }
        match ledger
            .get(&record.repository, &record.pull_request_id)
            .await?
        {
            Some(fresh) => {
                if fresh.run.as_ref().is_some_and(|r| {
                    r.execution_name == input.execution_name && r.verdict.is_some()
                }) {
                    return Ok(VerdictClaim::Skip(ReportOutcome::Duplicate {
                        reason: format!(
                            "a concurrent delivery is reporting {}",
                            input.execution_name
                        ),
                    }));
                }
                record = fresh;
            }
            None => return Ok(VerdictClaim::Skip(ignored("the ledger record is gone"))),
        }
    }
    Err(crate::ports::PortError::Transient {
        call: "dynamodb:PutItem",
        message: format!(
            "the ledger record kept changing while {} recorded its verdict",
            input.execution_name
        ),
    })
}

/// Announces the verdict this delivery recorded (PASSED, FAILED or OUTDATED), with the checks
/// the run was to run.
async fn announce_verdict<T: Ports>(
    deps: &Deps<T>,
    record: &PrRecord,
    input: &ExecutionInput,
    verdict: RunVerdict,
    results: &[CheckResult],
) {
    let checks = results.iter().map(|r| r.name.as_str().to_owned()).collect();
    let arn = record.run.as_ref().and_then(|r| r.execution_arn.as_deref());
    let event = super::run_announcement(&input.subject, super::run_state(verdict), checks, arn);
    super::announce(deps, &event).await;
}

/// Marks the run reported (with the comment id the actions may have changed). If a newer run
/// claimed the PR while this one acted and this one approved, the approval is taken back: the
/// newer run decides. Best effort after three tries: a redelivery would only repeat idempotent
/// actions.
async fn mark_reported<T: Ports>(
    deps: &Deps<T>,
    mut record: PrRecord,
    input: &ExecutionInput,
    approved: Option<&crate::ids::RevisionId>,
) -> PortResult<()> {
    for _ in 0..3 {
        match &mut record.run {
            Some(run) if run.execution_name == input.execution_name => run.reported = true,
            Some(newer) => {
                if let Some(revision) = approved
                    && newer.verdict.is_none()
                {
                    tracing::info!(pull_request = %record.pull_request_id, newer = %newer.execution_name, "a newer run started while approving; taking the approval back");
                    steps::set_approval(
                        &deps.prs,
                        &record.pull_request_id,
                        revision,
                        ApprovalState::Revoke,
                    )
                    .await?;
                }
                return Ok(());
            }
            None => return Ok(()),
        }
        if deps.ledger.put(&record).await? == Written::Written {
            return Ok(());
        }
        match deps
            .ledger
            .get(&record.repository, &record.pull_request_id)
            .await?
        {
            Some(fresh) => {
                let comment_id = record.comment_id.take();
                record = fresh;
                if record.comment_id.is_none() {
                    record.comment_id = comment_id;
                }
            }
            None => return Ok(()),
        }
    }
    tracing::warn!(pull_request = %record.pull_request_id, "could not mark the run reported after 3 tries");
    Ok(())
}

/// A check run as a result ([`build::result_of`]), with what its declared `reports` said (a
/// coverage under `min_line` fails a passed check) and the log tail of a failure from the
/// logs; and the time its build queued.
async fn to_result<G: Logs + TestReports>(
    logs: &G,
    run: &CheckRun,
    reports: Option<&Reports>,
) -> PortResult<(CheckResult, u64)> {
    let found = build::build_of(run);
    let mut result = build::result_of(run);
    if let Some(spec) = reports {
        judge_with_reports(&mut result, read_run_reports(logs, spec, run).await);
    }
    if result.status != CheckStatus::Passed && result.log_tail.is_none() {
        result.log_tail = match found.as_ref().and_then(build::log_stream) {
            Some((group, stream)) => logs.tail(&group, &stream, TAIL_LINES).await?,
            None => None,
        };
        if result.log_tail.is_none() {
            // No build log (the build never started): the error is the best tail there is.
            result.log_tail = build::error_tail(run);
        }
    }
    Ok((result, found.as_ref().map_or(0, build::queued_ms)))
}

/// What the ledger keeps of a reported run for the next ones: a passed run's coverages (the
/// destination's bases), and every check's pass with `reuse: true` (a check's pass stands on
/// its own inputs, whatever the others did). Best effort: failures are logged.
async fn remember<L: Ledger>(
    ledger: &L,
    input: &ExecutionInput,
    results: &[CheckResult],
    recorded: RunVerdict,
    started_at: Option<&str>,
) {
    if recorded == RunVerdict::Passed {
        coverage_bases::record(ledger, input, results, started_at).await;
    }
    super::reuse::record(ledger, input, results).await;
}

/// The results of every check the run was to run: reported, carried over, or cancelled.
async fn results<G: Logs + TestReports>(
    logs: &G,
    payload: &ReportPayload,
    input: &ExecutionInput,
) -> PortResult<(Vec<CheckResult>, u64)> {
    let runs = payload.check_runs();
    let mut out = input.carried_results.clone();
    let mut queued = 0;
    let planned = input.stages.iter().flat_map(|s| &s.checks);
    for check in planned {
        let name = &check.name;
        match runs.iter().find(|r| &r.name == name) {
            Some(run) => {
                let (result, q) = to_result(logs, run, check.reports.as_ref()).await?;
                queued += q;
                out.push(result);
            }
            None => out.push(CheckResult::not_run(name)),
        }
    }
    Ok((out, queued))
}

fn verdict_of(plan: Option<&Plan>, input: &ExecutionInput, results: &[CheckResult]) -> Verdict {
    match plan {
        Some(plan) => policy::verdict(plan, results),
        None => {
            // No plan in the input: every check of the stages counts by its own `required`.
            let blocking = input.stages.iter().flat_map(|s| &s.checks).any(|c| {
                c.required
                    && !results
                        .iter()
                        .any(|r| r.name == c.name && r.status.is_success())
            });
            if blocking {
                Verdict::Failed
            } else {
                Verdict::Passed
            }
        }
    }
}

/// The approval decision for the tested revision and the verdict the ledger records. Without
/// the tested revision the result cannot be tied to the code that merges: no decision, which
/// fails closed in `act`.
fn decide(
    verdict: Verdict,
    subject: &report::Subject,
    pr: &PullRequestState,
) -> (Option<(RevisionId, ApprovalDecision)>, RunVerdict) {
    let decision = subject.revision_id.as_ref().map(|tested| {
        (
            tested.clone(),
            policy::decide_approval(
                verdict,
                tested,
                &pr.revision_id,
                pr.status == PrStatus::Open,
            ),
        )
    });
    let recorded = match (verdict, &decision) {
        // About a revision that is no longer current: `/gate retry` runs it all again.
        (_, Some((_, ApprovalDecision::Stale))) => RunVerdict::Outdated,
        (Verdict::Passed, Some(_)) => RunVerdict::Passed,
        _ => RunVerdict::Failed,
    };
    (decision, recorded)
}

/// What the report knows about a run besides its results.
#[derive(Debug, Clone, Default)]
struct RunFacts {
    queue_ms: u64,
    machine_failed: bool,
    started_at: Option<String>,
}

async fn report_run<T: Ports>(
    deps: &Deps<T>,
    input: &ExecutionInput,
    mut results: Vec<CheckResult>,
    facts: RunFacts,
) -> PortResult<ReportOutcome> {
    if input.mode == Mode::Cleanup {
        return Ok(ignored("a clean-up run has nothing to report"));
    }
    let passed = !facts.machine_failed
        && verdict_of(input.plan.as_ref(), input, &results) == Verdict::Passed;
    if let Some(end) = crate::merge_queue::RunEnd::of(input, passed) {
        return Ok(ReportOutcome::QueueRun { end });
    }
    let record = match ownership(&deps.ledger, input).await? {
        Ownership::Current(record) => *record,
        Ownership::Skip(outcome) => return Ok(outcome),
    };
    let plan = input.plan.as_ref();
    let mut verdict = verdict_of(plan, input, &results);
    if facts.machine_failed && verdict == Verdict::Passed {
        // The machine broke outside the checks: fail closed.
        verdict = Verdict::Failed;
    }
    let subject = &input.subject;
    let pr = deps.prs.pull_request(&subject.pull_request_id).await?;
    let (decision, recorded) = decide(verdict, subject, &pr);
    let mut record = match claim_verdict(&deps.ledger, record, input, recorded, &results).await? {
        VerdictClaim::Claimed(record, fresh) => {
            if fresh {
                announce_verdict(deps, &record, input, recorded, &results).await;
            }
            *record
        }
        VerdictClaim::Skip(outcome) => return Ok(outcome),
    };
    coverage_bases::fill(&deps.ledger, input, &mut results).await;
    let judged = Judged {
        verdict,
        results: &results,
        pr: &pr,
    };
    let (approval, approved) = act(deps, &mut record, input, &judged, decision).await?;
    if verdict == Verdict::Failed {
        deps.notifier
            .publish(
                &report::failure_subject(subject),
                &report::failure_notice(subject, &results),
            )
            .await?;
    }
    let metrics = run_metrics(&facts, &results, plan, verdict);
    mark_reported(deps, record, input, approved.as_ref()).await?;
    let started_at = facts.started_at.as_deref();
    remember(&deps.ledger, input, &results, recorded, started_at).await;
    tracing::info!(pull_request = %subject.pull_request_id, execution = %input.execution_name, ?verdict, approval, "gate reported");
    Ok(ReportOutcome::Reported {
        verdict,
        approval: approval.to_owned(),
        metrics,
    })
}

/// A run's verdict, its results and the PR as it is now: what the comment and the approval
/// are decided from.
struct Judged<'a> {
    verdict: Verdict,
    results: &'a [CheckResult],
    pr: &'a PullRequestState,
}

/// Writes the comment and the approval state for the decision: APPROVE only the tested,
/// current revision of an open PR; a stale result (or an approval that loses a race with a
/// push or a close) changes nothing and says so; no tested revision REVOKEs. Returns what
/// happened to the approval, and the revision approved if any.
async fn act<T: Ports>(
    deps: &Deps<T>,
    record: &mut PrRecord,
    input: &ExecutionInput,
    run: &Judged<'_>,
    decision: Option<(RevisionId, ApprovalDecision)>,
) -> PortResult<(&'static str, Option<RevisionId>)> {
    let (subject, pr, verdict) = (&input.subject, run.pr, run.verdict);
    let finished_body = || {
        let empty = Plan::empty();
        let plan = input.plan.as_ref().unwrap_or(&empty);
        report::finished(subject, plan, run.results, verdict).body
    };
    let stale_body = |tested: &RevisionId| {
        let mut now = subject.clone();
        now.revision_id = Some(pr.revision_id.clone());
        now.source_commit = pr.source_commit.clone();
        report::stale(&now, tested, verdict).body
    };
    let token = steps::token(&["finished", &input.execution_name]);
    Ok(match decision {
        None => {
            let body = report::untraceable(subject).body;
            steps::upsert_comment(deps, record, subject, &body, &token).await?;
            if pr.status == PrStatus::Open {
                steps::set_approval(&deps.prs, &pr.id, &pr.revision_id, ApprovalState::Revoke)
                    .await?;
            }
            ("revoked", None)
        }
        Some((tested, ApprovalDecision::Stale)) => {
            steps::upsert_comment(deps, record, subject, &stale_body(&tested), &token).await?;
            ("stale", None)
        }
        Some((_, ApprovalDecision::Approve { revision })) => {
            steps::upsert_comment(deps, record, subject, &finished_body(), &token).await?;
            match steps::set_approval(&deps.prs, &pr.id, &revision, ApprovalState::Approve).await? {
                ApprovalOutcome::Applied => ("approved", Some(revision)),
                ApprovalOutcome::RevisionNotCurrent | ApprovalOutcome::Closed => {
                    // A push or a close raced the approval: never approve; say so.
                    let body = stale_body(&revision);
                    steps::upsert_comment(deps, record, subject, &body, &token).await?;
                    ("stale", None)
                }
            }
        }
        Some((_, ApprovalDecision::Revoke { revision })) => {
            steps::upsert_comment(deps, record, subject, &finished_body(), &token).await?;
            steps::set_approval(&deps.prs, &pr.id, &revision, ApprovalState::Revoke).await?;
            ("revoked", None)
        }
    })
}

/// The numbers gate-report emits for a run.
fn run_metrics(
    facts: &RunFacts,
    results: &[CheckResult],
    plan: Option<&Plan>,
    verdict: Verdict,
) -> RunMetrics {
    RunMetrics {
        started_at: facts.started_at.clone(),
        queue_ms: facts.queue_ms,
        checks_run: results
            .iter()
            .filter(|r| !matches!(r.status, CheckStatus::Skipped | CheckStatus::Cancelled))
            .count() as u64,
        checks_skipped: plan.map_or(0, |p| p.skipped().count() as u64),
        passed: verdict == Verdict::Passed,
        flaky: results.iter().filter(|r| r.flaky).count() as u64,
    }
}

async fn run_ended<T: Ports>(
    deps: &Deps<T>,
    run: &RunFinished,
    input: &ExecutionInput,
) -> PortResult<ReportOutcome> {
    if input.mode == Mode::Cleanup {
        return Ok(ignored("a clean-up run has nothing to report"));
    }
    if run.status == RunStatus::Succeeded {
        return Ok(ignored("the report step reports successful runs"));
    }
    if let Some(end) = crate::merge_queue::RunEnd::of(input, false) {
        return Ok(ReportOutcome::QueueRun { end });
    }
    let record = match ownership(&deps.ledger, input).await? {
        Ownership::Current(record) => *record,
        Ownership::Skip(outcome) => return Ok(outcome),
    };
    if record.closed {
        return Ok(ignored("the pull request is closed"));
    }
    let mut record =
        match claim_verdict(&deps.ledger, record, input, RunVerdict::Failed, &[]).await? {
            VerdictClaim::Claimed(record, fresh) => {
                if fresh {
                    announce_verdict(deps, &record, input, RunVerdict::Failed, &[]).await;
                }
                *record
            }
            VerdictClaim::Skip(outcome) => return Ok(outcome),
        };
    let subject: &Subject = &input.subject;
    let pr = deps.prs.pull_request(&subject.pull_request_id).await?;
    let status = run.status.as_aws_str();
    let body = report::run_ended(subject, status, run.error.as_deref(), run.cause.as_deref()).body;
    let token = steps::token(&["ended", &input.execution_name]);
    steps::upsert_comment(deps, &mut record, subject, &body, &token).await?;
    if pr.status == PrStatus::Open {
        steps::set_approval(&deps.prs, &pr.id, &pr.revision_id, ApprovalState::Revoke).await?;
    }
    deps.notifier
        .publish(
            &report::failure_subject(subject),
            &report::failure_notice(subject, &[]),
        )
        .await?;
    mark_reported(deps, record, input, None).await?;
    Ok(ReportOutcome::Reported {
        verdict: Verdict::Failed,
        approval: "revoked".to_owned(),
        metrics: RunMetrics::default(),
    })
}
