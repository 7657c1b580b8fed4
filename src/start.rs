//! The gate-start flow, written against the ports: an event → a plan → a running gate, idempotent and never stale.
//!
//! - **created / source updated**: re-read the PR (ignore a closed PR or an event whose commit is
//!   no longer the tip), claim the (PR, source commit) in the ledger with a conditional write
//!   (a redelivered event finds it claimed and does nothing), make sure the gate's approval rule
//!   is on the PR and no gate approval stands for the revision, stop the superseded run, read the
//!   gate file at the source commit, plan, check mergeability, post the sticky "running" comment
//!   and start the execution under a deterministic name.
//! - **invalid or missing gate file, promotion violation, merge conflict**: no run; the comment
//!   says what to fix; the approval stays revoked.
//! - **closed / merged**: stop the run, start the clean-up of the PR's CI environment, mark the
//!   ledger closed.
//! - **comment commands**: `/gate retry | skip | run | only` with the gate file's rules; refusals
//!   get a reply.
//! - **approval-rule override**: notify.

use crate::event::{CleanupReason, CommentEvent, Event};
use crate::flow::{self, Deps, FlowError};
use crate::gate_file::{Gate, GateFileError, GateFileErrors};
use crate::ids::{CommitId, PullRequestId, RepositoryName};
use crate::machine::{self, ExecutionInput, Mode};
use crate::plan::{self, DirectiveSource, Plan, PlanInput, PlanVerdict, Request};
use crate::policy::{self, CheckResult, CheckStatus, Directive, Verdict};
use crate::ports::{
    ApprovalState, Executions, Ledger, Mergeability, Notifier, PendingReplies, PortResult,
    PrRecord, PrStatus, PullRequestState, PullRequests, RunRecord, Written,
};
use crate::report::{self, Subject};
use serde::Serialize;
use std::collections::BTreeMap;

/// How many handled comment ids the ledger remembers per PR.
const HANDLED_COMMENTS_KEPT: usize = 50;

/// What gate-start did with an event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum Outcome {
    /// Nothing to do, and why.
    Ignored {
        /// Why.
        reason: String,
    },
    /// This (PR, commit) or comment was already handled: a redelivery.
    Duplicate {
        /// What was found.
        reason: String,
    },
    /// A gating run started.
    Started {
        /// The execution.
        execution_arn: String,
        /// Its name.
        execution_name: String,
        /// How many checks it runs.
        checks: usize,
    },
    /// The gate decided without running anything (commented, and approved or revoked).
    Decided {
        /// What it said (`report::CommentKind` as text).
        comment: String,
        /// Whether it approved.
        approved: bool,
    },
    /// The PR closed: its run stopped and its environment is being cleaned up.
    CleanedUp {
        /// The run stopped, if one was running.
        stopped: Option<String>,
        /// The clean-up execution, if the PR had an environment.
        cleanup: Option<String>,
    },
    /// A comment command was answered (and maybe started a run).
    Answered {
        /// Replies posted.
        replies: usize,
        /// The run it started, if any.
        started: Option<String>,
    },
    /// A bypass was reported.
    Notified,
    /// The clean-up sweep ran.
    Swept {
        /// Open ledger records checked.
        checked: usize,
        /// Pull requests found closed and cleaned up.
        cleaned: usize,
    },
}

fn ignored(reason: impl Into<String>) -> Outcome {
    Outcome::Ignored {
        reason: reason.into(),
    }
}

/// Handles one event. An `Err` is an infrastructure fault the Lambda must surface (so
/// EventBridge retries and the DLQ keeps the event); user mistakes are comments, not errors.
pub async fn handle<P, E, L, N>(deps: &Deps<P, E, L, N>, event: Event) -> Result<Outcome, FlowError>
where
    P: PullRequests,
    E: Executions,
    L: Ledger,
    N: Notifier,
{
    let (repository, pr_id, result) = match event {
        Event::Ignore { reason } => return Ok(ignored(reason)),
        Event::Sweep => {
            return sweep(deps).await.map_err(|source| {
                tracing::error!(call = source.call(), error = %source, "the clean-up sweep failed; the next one retries");
                FlowError::new(&RepositoryName::from("*"), &PullRequestId::from("*"), source)
            });
        }
        Event::RunFinished(_) => return Ok(ignored("run results are gate-report's to handle")),
        Event::Gate { pull_request, .. } => {
            let (repository, pr_id) = (pull_request.repository, pull_request.id);
            let result = gate(deps, &repository, &pr_id, &pull_request.source_commit).await;
            (repository, pr_id, result)
        }
        Event::Cleanup {
            reason,
            pull_request,
        } => {
            let (repository, pr_id) = (pull_request.repository, pull_request.id);
            let result = cleanup(deps, &repository, &pr_id, &reason).await;
            (repository, pr_id, result)
        }
        Event::Command(comment) => {
            let result = command(deps, &comment).await;
            (comment.repository, comment.pull_request_id, result)
        }
        Event::Bypass {
            pull_request,
            overridden_by,
        } => {
            let subject = Subject {
                repository: pull_request.repository.clone(),
                pull_request_id: pull_request.id.clone(),
                title: pull_request.title.clone(),
                source_branch: pull_request.source_branch().to_owned(),
                destination_branch: pull_request.destination_branch().to_owned(),
                source_commit: pull_request.source_commit.clone(),
                destination_commit: pull_request.destination_commit.clone(),
                merge_commit: None,
                revision_id: pull_request.revision_id.clone(),
            };
            let result = deps
                .notifier
                .publish(
                    &report::bypass_subject(&subject),
                    &report::bypass_notice(&subject, &overridden_by),
                )
                .await
                .map(|()| Outcome::Notified);
            (pull_request.repository, pull_request.id, result)
        }
    };
    result.map_err(|source| {
        tracing::error!(
            call = source.call(),
            repository = %repository,
            pull_request = %pr_id,
            error = %source,
            "gate-start failed closed; the event will be retried"
        );
        FlowError::new(&repository, &pr_id, source)
    })
}

/// Reads the record, or a fresh one.
async fn record<L: Ledger>(
    ledger: &L,
    repository: &RepositoryName,
    pr: &PullRequestId,
) -> PortResult<PrRecord> {
    Ok(ledger
        .get(repository, pr)
        .await?
        .unwrap_or_else(|| PrRecord::new(repository.clone(), pr.clone())))
}

/// Writes the record; on success its version moves on.
async fn save<L: Ledger>(ledger: &L, record: &mut PrRecord) -> PortResult<bool> {
    match ledger.put(record).await? {
        Written::Written => {
            record.version += 1;
            Ok(true)
        }
        Written::Conflict => Ok(false),
    }
}

fn run_done(run: &RunRecord, commit: &CommitId) -> bool {
    &run.source_commit == commit && (run.execution_arn.is_some() || run.verdict.is_some())
}

/// The gate file at a commit, or the comment that explains why there is none.
enum GateLoad {
    Loaded(Box<Gate>),
    Missing,
    Invalid(GateFileErrors),
}

async fn load_gate<P: PullRequests>(
    prs: &P,
    path: &str,
    repository: &RepositoryName,
    commit: &CommitId,
) -> PortResult<GateLoad> {
    Ok(match prs.file(repository, commit, path).await? {
        None => GateLoad::Missing,
        Some(bytes) => match String::from_utf8(bytes) {
            Ok(text) => match Gate::parse(&text, path) {
                Ok(gate) => GateLoad::Loaded(Box::new(gate)),
                Err(errors) => GateLoad::Invalid(errors),
            },
            Err(_) => GateLoad::Invalid(GateFileErrors(vec![GateFileError {
                file: path.to_owned(),
                position: None,
                message: "the file is not UTF-8 text".to_owned(),
                hint: Some("save it as UTF-8".to_owned()),
            }])),
        },
    })
}

/// A decision without a run: comment, revoke (or approve), and remember it for this commit.
async fn decide<P, E, L, N>(
    deps: &Deps<P, E, L, N>,
    record: &mut PrRecord,
    pr: &PullRequestState,
    comment: report::Comment,
    approve: bool,
    attempt: u32,
) -> PortResult<Outcome>
where
    P: PullRequests,
    E: Executions,
    L: Ledger,
    N: Notifier,
{
    let subject = flow::subject(pr);
    let token = flow::token(&[
        "decision",
        pr.repository.as_str(),
        pr.id.as_str(),
        pr.source_commit.as_str(),
        &attempt.to_string(),
    ]);
    flow::upsert_comment(deps, record, &subject, &comment.body, &token).await?;
    let state = if approve {
        ApprovalState::Approve
    } else {
        ApprovalState::Revoke
    };
    let applied = flow::set_approval(&deps.prs, &pr.id, &pr.revision_id, state).await?;
    if let Some(run) = &mut record.run {
        run.verdict = Some(if approve { "passed" } else { "refused" }.to_owned());
    }
    if !save(&deps.ledger, record).await? {
        tracing::info!(pull_request = %pr.id, "ledger moved on while deciding; a newer event owns the PR");
    }
    Ok(Outcome::Decided {
        comment: format!("{:?}", comment.kind),
        approved: approve && applied == crate::ports::ApprovalOutcome::Applied,
    })
}

/// Created or source updated: gate the PR's current revision.
async fn gate<P, E, L, N>(
    deps: &Deps<P, E, L, N>,
    repository: &RepositoryName,
    pr_id: &PullRequestId,
    event_commit: &CommitId,
) -> PortResult<Outcome>
where
    P: PullRequests,
    E: Executions,
    L: Ledger,
    N: Notifier,
{
    let pr = deps.prs.pull_request(pr_id).await?;
    if pr.status == PrStatus::Closed {
        return Ok(ignored("the pull request is closed"));
    }
    if &pr.source_commit != event_commit {
        return Ok(ignored(format!(
            "stale event: the source is now {}, not {}",
            pr.source_commit.short(),
            event_commit.short()
        )));
    }

    // Claim (PR, source commit) so a concurrent or repeated delivery does nothing.
    let mut record = record(&deps.ledger, repository, pr_id).await?;
    if let Some(run) = &record.run
        && run_done(run, &pr.source_commit)
    {
        return Ok(Outcome::Duplicate {
            reason: format!("commit {} is already gated", pr.source_commit.short()),
        });
    }
    let previous = record.run.clone();
    let resuming = previous
        .as_ref()
        .is_some_and(|r| r.source_commit == pr.source_commit);
    // A push supersedes the run of the previous commit. Stop it before the claim replaces its
    // ARN in the ledger, so a failure here is retried with the ARN still known.
    if let Some(old) = previous
        .as_ref()
        .filter(|r| r.source_commit != pr.source_commit && r.verdict.is_none())
        && let Some(arn) = &old.execution_arn
    {
        deps.executions
            .stop(arn, &format!("superseded by commit {}", pr.source_commit))
            .await?;
    }
    if !resuming {
        record.run = Some(new_run(repository, &pr, 1));
        record.closed = false;
        if !save(&deps.ledger, &mut record).await? {
            let now = deps.ledger.get(repository, pr_id).await?;
            return Ok(match now.and_then(|r| r.run) {
                Some(run) if run.source_commit == pr.source_commit => Outcome::Duplicate {
                    reason: "a concurrent delivery claimed this commit".to_owned(),
                },
                _ => ignored("a concurrent delivery for another commit owns the pull request"),
            });
        }
    }
    let attempt = record.run.as_ref().map_or(1, |r| r.attempt);

    // Make sure the PR cannot merge without the gate, whatever happens next.
    deps.prs
        .ensure_approval_rule(
            &pr.id,
            &deps.settings.approval_rule_name,
            &flow::approval_rule_content(&deps.settings.approver_arn),
        )
        .await?;
    flow::set_approval(&deps.prs, &pr.id, &pr.revision_id, ApprovalState::Revoke).await?;

    let subject = flow::subject(&pr);
    let gate = match load_gate(
        &deps.prs,
        &deps.settings.gate_file_path,
        repository,
        &pr.source_commit,
    )
    .await?
    {
        GateLoad::Loaded(gate) => gate,
        GateLoad::Missing => {
            let comment = report::missing_gate_file(&subject, &deps.settings.gate_file_path);
            return decide(deps, &mut record, &pr, comment, false, attempt).await;
        }
        GateLoad::Invalid(errors) => {
            let comment = report::invalid_gate_file(&subject, &errors);
            return decide(deps, &mut record, &pr, comment, false, attempt).await;
        }
    };
    let base = pr
        .merge_base
        .clone()
        .unwrap_or_else(|| pr.destination_commit.clone());
    let changes = deps
        .prs
        .changed_paths(repository, &base, &pr.source_commit)
        .await?;
    let plan = plan::plan(
        &gate,
        &PlanInput {
            changes: &changes,
            source_branch: Some(pr.source_branch()),
            destination_branch: Some(pr.destination_branch()),
            author: Some(&pr.author_arn),
            description: pr.description.as_deref(),
            requests: &[],
            trusted: None,
        },
    );
    start_run(deps, &mut record, &pr, &gate, plan, attempt, Vec::new()).await
}

fn new_run(repository: &RepositoryName, pr: &PullRequestState, attempt: u32) -> RunRecord {
    RunRecord {
        source_commit: pr.source_commit.clone(),
        destination_commit: pr.destination_commit.clone(),
        revision_id: pr.revision_id.clone(),
        attempt,
        execution_name: machine::execution_name(
            repository,
            &pr.id,
            &pr.source_commit,
            attempt,
            Mode::Gate,
        ),
        execution_arn: None,
        verdict: None,
        results: Vec::new(),
        requested_by: None,
        requests: Vec::new(),
        carried: Vec::new(),
    }
}

/// From a plan to a running execution (or a decision when nothing can or needs to run).
async fn start_run<P, E, L, N>(
    deps: &Deps<P, E, L, N>,
    record: &mut PrRecord,
    pr: &PullRequestState,
    gate: &Gate,
    plan: Plan,
    attempt: u32,
    carried: Vec<CheckResult>,
) -> PortResult<Outcome>
where
    P: PullRequests,
    E: Executions,
    L: Ledger,
    N: Notifier,
{
    let subject = flow::subject(pr);
    match plan.verdict {
        PlanVerdict::Fail => {
            let comment = report::finished(&subject, &plan, &[], Verdict::Failed);
            return decide(deps, record, pr, comment, false, attempt).await;
        }
        PlanVerdict::Pass => {
            let comment = report::finished(&subject, &plan, &[], Verdict::Passed);
            return decide(deps, record, pr, comment, true, attempt).await;
        }
        PlanVerdict::Run => {}
    }
    if let Mergeability::Conflicts { paths } = deps
        .prs
        .mergeability(&pr.repository, &pr.source_commit, &pr.destination_commit)
        .await?
    {
        let comment = report::merge_conflict(&subject, &paths);
        return decide(deps, record, pr, comment, false, attempt).await;
    }
    let mut buildspecs = BTreeMap::new();
    for path in machine::buildspec_paths(gate, &plan) {
        if let Some(bytes) = deps
            .prs
            .file(&pr.repository, &pr.source_commit, &path)
            .await?
        {
            let parsed = String::from_utf8(bytes)
                .map_err(|_| "the file is not UTF-8 text".to_owned())
                .and_then(|text| machine::buildspec_commands(&text));
            buildspecs.insert(path, parsed);
        }
    }
    let stages = machine::stages(
        gate,
        &plan,
        &subject,
        &pr.source_reference,
        &pr.destination_reference,
        &buildspecs,
        &deps.settings.build,
    )
    .map(|mut stages| {
        // Checks carried over from the previous attempt do not run again.
        for stage in &mut stages {
            stage
                .checks
                .retain(|c| !carried.iter().any(|r| r.name == c.name));
        }
        stages.retain(|stage| !stage.checks.is_empty());
        stages
    });
    let stages = match stages {
        Ok(stages) => stages,
        Err(e) => {
            let errors = GateFileErrors(vec![GateFileError {
                file: e.path.clone(),
                position: None,
                message: e.to_string(),
                hint: Some(format!(
                    "check `{}` runs the commands of its phases; fix the file or use `commands:` in the gate file",
                    e.check
                )),
            }]);
            let comment = report::invalid_gate_file(&subject, &errors);
            return decide(deps, record, pr, comment, false, attempt).await;
        }
    };

    let environment = record.environment.clone().unwrap_or_else(|| {
        machine::environment_name(&deps.settings.environment_prefix, &pr.repository, &pr.id)
    });
    record.environment = Some(environment.clone());
    let running = report::running(&subject, &plan);
    let token = flow::token(&[
        "running",
        pr.repository.as_str(),
        pr.id.as_str(),
        pr.source_commit.as_str(),
        &attempt.to_string(),
    ]);
    let comment_id = flow::upsert_comment(deps, record, &subject, &running.body, &token).await?;
    let name = machine::execution_name(
        &pr.repository,
        &pr.id,
        &pr.source_commit,
        attempt,
        Mode::Gate,
    );
    let input = ExecutionInput {
        version: machine::INPUT_VERSION,
        mode: Mode::Gate,
        execution_name: name.clone(),
        attempt,
        deadline_seconds: machine::deadline_seconds(&stages),
        retry_backoff_seconds: machine::DEFAULT_RETRY_BACKOFF_SECONDS,
        subject,
        source_reference: pr.source_reference.clone(),
        destination_reference: pr.destination_reference.clone(),
        environment,
        build: deps.settings.build.clone(),
        comment_id: Some(comment_id),
        stages,
        plan: Some(plan),
        carried_results: carried,
    };
    let checks = input.stages.iter().map(|s| s.checks.len()).sum();
    let started = deps.executions.start(&name, &input).await?;
    let arn = started.execution_arn().to_owned();
    if let Some(run) = &mut record.run {
        run.execution_name = name.clone();
        run.execution_arn = Some(arn.clone());
    }
    if !save(&deps.ledger, record).await? {
        tracing::info!(pull_request = %pr.id, execution = %arn, "ledger moved on after the start; the newer event owns the PR");
    }
    tracing::info!(pull_request = %pr.id, execution = %arn, checks, "gate started");
    Ok(Outcome::Started {
        execution_arn: arn,
        execution_name: name,
        checks,
    })
}

/// Closed or merged: stop the run, clean up the environment, close the record.
async fn cleanup<P, E, L, N>(
    deps: &Deps<P, E, L, N>,
    repository: &RepositoryName,
    pr_id: &PullRequestId,
    reason: &CleanupReason,
) -> PortResult<Outcome>
where
    P: PullRequests,
    E: Executions,
    L: Ledger,
    N: Notifier,
{
    let Some(mut record) = deps.ledger.get(repository, pr_id).await? else {
        return Ok(ignored("the gate never ran on this pull request"));
    };
    if record.closed {
        return Ok(Outcome::Duplicate {
            reason: "already cleaned up".to_owned(),
        });
    }
    let why = match reason {
        CleanupReason::Closed => "pull request closed",
        CleanupReason::Merged { .. } => "pull request merged",
    };
    let mut stopped = None;
    if let Some(run) = &record.run
        && let Some(arn) = &run.execution_arn
        && run.verdict.is_none()
    {
        deps.executions.stop(arn, why).await?;
        stopped = Some(arn.clone());
    }
    let mut cleanup = None;
    if let (Some(environment), Some(run)) = (&record.environment, &record.run) {
        let name = machine::execution_name(
            repository,
            pr_id,
            &run.source_commit,
            run.attempt,
            Mode::Cleanup,
        );
        let input = ExecutionInput {
            version: machine::INPUT_VERSION,
            mode: Mode::Cleanup,
            execution_name: name.clone(),
            attempt: run.attempt,
            subject: Subject {
                repository: repository.clone(),
                pull_request_id: pr_id.clone(),
                title: String::new(),
                source_branch: String::new(),
                destination_branch: String::new(),
                source_commit: run.source_commit.clone(),
                destination_commit: run.destination_commit.clone(),
                merge_commit: None,
                revision_id: Some(run.revision_id.clone()),
            },
            source_reference: String::new(),
            destination_reference: String::new(),
            environment: environment.clone(),
            build: deps.settings.build.clone(),
            comment_id: record.comment_id.clone(),
            stages: Vec::new(),
            deadline_seconds: 600,
            retry_backoff_seconds: machine::DEFAULT_RETRY_BACKOFF_SECONDS,
            plan: None,
            carried_results: Vec::new(),
        };
        cleanup = Some(
            deps.executions
                .start(&name, &input)
                .await?
                .execution_arn()
                .to_owned(),
        );
    }
    record.closed = true;
    if !save(&deps.ledger, &mut record).await? {
        tracing::info!(pull_request = %pr_id, "ledger moved on during clean-up; the next delivery finishes it");
    }
    Ok(Outcome::CleanedUp { stopped, cleanup })
}

/// A `/gate` comment: retry, skip, run or only, with the gate file's rules.
///
/// Two phases, so a redelivery can finish what a failed delivery started: first decide
/// everything (replies, the new run and its requests and carried results) and claim the
/// comment in the ledger together with that decision; then act (stop, revoke, start, reply),
/// every step idempotent. A redelivery of a claimed comment completes the pending work.
async fn command<P, E, L, N>(deps: &Deps<P, E, L, N>, event: &CommentEvent) -> PortResult<Outcome>
where
    P: PullRequests,
    E: Executions,
    L: Ledger,
    N: Notifier,
{
    let Some(comment) = deps.prs.comment(&event.comment_id).await? else {
        return Ok(ignored("the comment no longer exists"));
    };
    if comment.author_arn == deps.settings.approver_arn {
        return Ok(ignored("the gate's own comment"));
    }
    if comment.deleted {
        return Ok(ignored("the comment was deleted"));
    }
    let parsed = policy::parse_directives(&comment.content);
    if parsed.is_empty() {
        return Ok(ignored("no /gate command in the comment"));
    }
    let pr = deps.prs.pull_request(&event.pull_request_id).await?;
    if pr.status == PrStatus::Closed {
        return Ok(ignored("the pull request is closed"));
    }
    let mut record = record(&deps.ledger, &pr.repository, &pr.id).await?;
    if record.handled_comments.contains(&comment.id) {
        return complete_command(deps, record, &pr, &comment.id, None).await;
    }

    let requests: Vec<Request> = parsed
        .iter()
        .filter_map(|p| p.as_ref().ok())
        .map(|directive| Request {
            directive: directive.clone(),
            author: comment.author_arn.clone(),
            source: DirectiveSource::Comment,
        })
        .collect();
    let mut replies = Vec::new();
    for p in &parsed {
        if let Err(e) = p {
            replies.push(report::command_reply(&plan::DirectiveOutcome {
                text: e.line.clone(),
                author: comment.author_arn.clone(),
                source: DirectiveSource::Comment,
                accepted: false,
                refusals: vec![plan::Refusal::Syntax {
                    problem: e.problem.clone(),
                }],
            }));
        }
    }

    // Phase one: decide.
    let current = record
        .run
        .clone()
        .filter(|r| r.source_commit == pr.source_commit);
    let mut new_run_decided = None;
    let mut loaded = None;
    match load_gate(
        &deps.prs,
        &deps.settings.gate_file_path,
        &pr.repository,
        &pr.source_commit,
    )
    .await?
    {
        GateLoad::Loaded(gate) => {
            let plan = plan_for(deps, &gate, &pr, &requests).await?;
            let described = plan.directives.len().saturating_sub(requests.len());
            let outcomes: Vec<_> = plan.directives[described..].to_vec();
            replies.extend(outcomes.iter().map(report::command_reply));
            let accepted = |retry: bool| {
                outcomes
                    .iter()
                    .zip(&requests)
                    .any(|(o, r)| o.accepted && (r.directive == Directive::Retry) == retry)
            };
            let carried = if accepted(false) {
                // skip / only / run: a new plan for the current revision.
                Some(Vec::new())
            } else if accepted(true) {
                match &current {
                    Some(run) if run.verdict.as_deref() == Some("failed") => {
                        // Re-run only what did not pass; carry the passes into the report.
                        Some(
                            plan.to_run()
                                .filter_map(|check| {
                                    run.results.iter().find(|r| {
                                        r.name == check.name && r.status == CheckStatus::Passed
                                    })
                                })
                                .cloned()
                                .collect(),
                        )
                    }
                    _ => {
                        replies.push(report::nothing_to_retry());
                        None
                    }
                }
            } else {
                None
            };
            if let Some(carried) = carried {
                let attempt = current.as_ref().map_or(1, |r| r.attempt + 1);
                let mut run = new_run(&pr.repository, &pr, attempt);
                run.requested_by = Some(comment.id.clone());
                run.requests = requests.clone();
                run.carried = carried;
                new_run_decided = Some(run);
            }
            loaded = Some((gate, plan));
        }
        GateLoad::Missing | GateLoad::Invalid(_) => {
            replies.push(report::command_needs_gate_file(
                &deps.settings.gate_file_path,
            ));
        }
    }

    // Claim the comment together with the decision.
    record.handled_comments.push(comment.id.clone());
    let overflow = record
        .handled_comments
        .len()
        .saturating_sub(HANDLED_COMMENTS_KEPT);
    record.handled_comments.drain(..overflow);
    record.pending_replies.push(PendingReplies {
        comment: comment.id.clone(),
        replies,
    });
    let superseded = current.filter(|_| new_run_decided.is_some());
    if let Some(run) = new_run_decided {
        record.run = Some(run);
    }
    if !save(&deps.ledger, &mut record).await? {
        return Ok(Outcome::Duplicate {
            reason: "a concurrent delivery is handling this comment".to_owned(),
        });
    }

    // Phase two: act.
    if let Some(old) = superseded
        && let Some(arn) = &old.execution_arn
        && old.verdict.is_none()
    {
        deps.executions
            .stop(arn, "superseded by a /gate command")
            .await?;
    }
    complete_command(deps, record, &pr, &comment.id, loaded).await
}

/// Plans the PR's current revision with these comment requests.
async fn plan_for<P, E, L, N>(
    deps: &Deps<P, E, L, N>,
    gate: &Gate,
    pr: &PullRequestState,
    requests: &[Request],
) -> PortResult<Plan>
where
    P: PullRequests,
    E: Executions,
    L: Ledger,
    N: Notifier,
{
    let base = pr
        .merge_base
        .clone()
        .unwrap_or_else(|| pr.destination_commit.clone());
    let changes = deps
        .prs
        .changed_paths(&pr.repository, &base, &pr.source_commit)
        .await?;
    Ok(plan::plan(
        gate,
        &PlanInput {
            changes: &changes,
            source_branch: Some(pr.source_branch()),
            destination_branch: Some(pr.destination_branch()),
            author: Some(&pr.author_arn),
            description: pr.description.as_deref(),
            requests,
            trusted: None,
        },
    ))
}

/// Finishes a claimed comment command: starts the run it decided (if not started yet) and
/// posts its replies (idempotent tokens), then forgets the pending replies.
async fn complete_command<P, E, L, N>(
    deps: &Deps<P, E, L, N>,
    mut record: PrRecord,
    pr: &PullRequestState,
    comment: &crate::ids::CommentId,
    loaded: Option<(Box<Gate>, Plan)>,
) -> PortResult<Outcome>
where
    P: PullRequests,
    E: Executions,
    L: Ledger,
    N: Notifier,
{
    let pending = record.run.clone().filter(|r| {
        r.requested_by.as_ref() == Some(comment)
            && r.source_commit == pr.source_commit
            && r.execution_arn.is_none()
            && r.verdict.is_none()
    });
    let replies = record
        .pending_replies
        .iter()
        .find(|p| &p.comment == comment)
        .map(|p| p.replies.clone());
    if pending.is_none() && replies.is_none() {
        return Ok(Outcome::Duplicate {
            reason: format!("comment {comment} was already handled"),
        });
    }
    let mut started = None;
    if let Some(run) = pending {
        let (gate, plan) = match loaded {
            Some(loaded) => loaded,
            None => match load_gate(
                &deps.prs,
                &deps.settings.gate_file_path,
                &pr.repository,
                &pr.source_commit,
            )
            .await?
            {
                GateLoad::Loaded(gate) => {
                    let plan = plan_for(deps, &gate, pr, &run.requests).await?;
                    (gate, plan)
                }
                GateLoad::Missing | GateLoad::Invalid(_) => {
                    return Ok(ignored("the gate file changed under the command"));
                }
            },
        };
        flow::set_approval(&deps.prs, &pr.id, &pr.revision_id, ApprovalState::Revoke).await?;
        if let Outcome::Started { execution_arn, .. } = start_run(
            deps,
            &mut record,
            pr,
            &gate,
            plan,
            run.attempt,
            run.carried.clone(),
        )
        .await?
        {
            started = Some(execution_arn);
        }
    }
    let replies = replies.unwrap_or_default();
    for (i, text) in replies.iter().enumerate() {
        let token = flow::token(&["reply", comment.as_str(), &i.to_string()]);
        deps.prs.reply(comment, text, &token).await?;
    }
    // Forget the pending replies; a lost race only means they are posted again, idempotently.
    for _ in 0..3 {
        record.pending_replies.retain(|p| &p.comment != comment);
        if save(&deps.ledger, &mut record).await? {
            break;
        }
        match deps.ledger.get(&pr.repository, &pr.id).await? {
            Some(fresh) => record = fresh,
            None => break,
        }
    }
    Ok(Outcome::Answered {
        replies: replies.len(),
        started,
    })
}

/// The scheduled sweep: every ledger record not marked closed whose pull request is closed (or
/// gone) gets the clean-up a lost close event would have given it. One PR's failure does not
/// stop the others; the first failure is returned at the end so the schedule reports it.
async fn sweep<P, E, L, N>(deps: &Deps<P, E, L, N>) -> PortResult<Outcome>
where
    P: PullRequests,
    E: Executions,
    L: Ledger,
    N: Notifier,
{
    let open = deps.ledger.open_records().await?;
    let mut cleaned = 0;
    let mut first_error = None;
    for record in &open {
        let reason = match deps.prs.pull_request(&record.pull_request_id).await {
            Ok(pr) if pr.status == PrStatus::Closed => {
                if pr.is_merged {
                    CleanupReason::Merged { merge_option: None }
                } else {
                    CleanupReason::Closed
                }
            }
            Ok(_) => continue,
            Err(crate::ports::PortError::Permanent { message, .. })
                if message.contains("PullRequestDoesNotExist") =>
            {
                CleanupReason::Closed
            }
            Err(e) => {
                first_error.get_or_insert(e);
                continue;
            }
        };
        match cleanup(deps, &record.repository, &record.pull_request_id, &reason).await {
            Ok(Outcome::CleanedUp { .. }) => cleaned += 1,
            Ok(_) => {}
            Err(e) => {
                first_error.get_or_insert(e);
            }
        }
    }
    match first_error {
        Some(e) => Err(e),
        None => Ok(Outcome::Swept {
            checked: open.len(),
            cleaned,
        }),
    }
}
