//! The gate-start flow, written against the ports: an event → a plan → a running gate, idempotent, never stale, and governed only by the destination's gate file.
//!
//! - **created / source updated**: re-read the PR (ignore a closed PR or an event whose commit is
//!   no longer the tip), claim the (PR, source commit) in the ledger with a conditional write
//!   (a redelivered event finds it claimed and does nothing; a write lost to gate-report or a
//!   command is re-read and retried, and only a newer source commit wins), make sure the gate's
//!   approval rule is on the PR and no gate approval stands for the revision, stop the
//!   superseded run, read the **trusted** gate file at the destination commit (plus the checks
//!   the PR's own file adds, [`crate::trust`]), plan, check mergeability, post the sticky
//!   "running" comment and start the execution under a name unique to the claim.
//!   Everything that needs only the PR goes out together with the claim: three round trips
//!   before `StartExecution` (docs/design.md, "gate-start's critical path").
//! - **no gate file on the destination, invalid gate file, promotion violation, merge conflict**:
//!   no run; the comment says what to fix (or how to adopt the gate); the approval stays revoked.
//! - **closed / merged**: stop the run, start the clean-up of the PR's CI environment, mark the
//!   ledger closed.
//! - **comment commands**: `/gate retry | skip | run | only` with the trusted file's rules;
//!   refusals get a reply.
//! - **the destination branch moved**: approvals earned on the older destination are revoked
//!   (unless the destination's gate file says `strict: false`).
//! - **approval rule overridden, or the gate's rule deleted or edited**: notify; put the rule back.

use crate::announce::RunState;
use crate::event::{BranchMoved, CleanupReason, CommentEvent, Event, PullRequest, RuleChange};
use crate::flows::{Deps, FlowError, Ports, steps};
use crate::gate_file::Gate;
use crate::ids::{CommentId, CommitId, PullRequestId, RepositoryName};
use crate::machine::{self, ExecutionInput, Mode, StageSpec};
use crate::plan::{self, DirectiveRequest, DirectiveSource, Plan, PlanInput, PlanVerdict};
use crate::policy::{self, CheckResult, CheckStatus, Directive, Verdict};
use crate::ports::{
    ApprovalState, Executions, Ledger, Mergeability, Notifier, PortError, PortResult, PrRecord,
    PrStatus, PullRequestState, PullRequests, RunRecord, RunVerdict, Written,
};
use crate::report::{self, ProposedGateFile, Subject};
use crate::trust::{self, GateFileNote, GateRead, Governing, PolicyChange, TrustSource};
use futures_util::future::{join, join_all};
use reads::Prefetched;
use serde::Serialize;
use std::collections::BTreeMap;

mod reads;

/// How often a claim lost to another writer is re-read and tried again before the event is
/// failed (EventBridge then redelivers it later).
const CLAIM_ATTEMPTS: usize = 5;

/// What gate-start did with an event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum StartOutcome {
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
    /// A destination branch moved: approvals earned on its older commit were revoked.
    Outdated {
        /// Open, approved pull requests into that branch that were looked at.
        checked: usize,
        /// Approvals revoked.
        revoked: usize,
    },
    /// The gate's approval rule was deleted or edited: reported, and put back if needed.
    RuleGuarded {
        /// Whether the gate wrote its rule again.
        restored: bool,
    },
    /// A push to an environment's branch: what it did for releases, and for the approvals of
    /// pull requests into that branch.
    Pushed {
        /// The release it started, queued or left alone.
        release: super::release_start::ReleaseStart,
        /// What became of the approvals ([`StartOutcome::Outdated`] or why not).
        approvals: Box<StartOutcome>,
    },
}

fn ignored(reason: impl Into<String>) -> StartOutcome {
    StartOutcome::Ignored {
        reason: reason.into(),
    }
}

/// Handles one event. An `Err` is an infrastructure fault the Lambda must surface (so
/// EventBridge retries and the DLQ keeps the event); user mistakes are comments, not errors.
pub async fn handle<T: Ports>(deps: &Deps<T>, event: Event) -> Result<StartOutcome, FlowError> {
    let (repository, pr_id, result) = match event {
        Event::Ignore { reason } => return Ok(ignored(reason)),
        Event::Sweep => {
            return sweep(deps).await.map_err(|source| {
                tracing::error!(call = source.call(), error = %source, "the clean-up sweep failed; the next one retries");
                FlowError::new(&RepositoryName::from("*"), &PullRequestId::from("*"), source)
            });
        }
        Event::BranchMoved(moved) => {
            let approvals = destination_moved(deps, &moved).await.map_err(|source| {
                tracing::error!(call = source.call(), repository = %moved.repository, branch = moved.branch(), error = %source, "revoking outdated approvals failed; the event will be retried");
                FlowError::new(&moved.repository, &PullRequestId::from("*"), source)
            })?;
            let release = super::release_start::release_pushed(deps, &moved)
                .await
                .map_err(|source| {
                    tracing::error!(call = source.call(), repository = %moved.repository, branch = moved.branch(), error = %source, "starting the release failed; the event will be retried");
                    FlowError::new(&moved.repository, &PullRequestId::from("*"), source)
                })?;
            return Ok(match release {
                None => approvals,
                Some(release) => StartOutcome::Pushed {
                    release,
                    approvals: Box::new(approvals),
                },
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
            let subject = steps::event_subject(&pull_request);
            let result = deps
                .notifier
                .publish(
                    &report::bypass_subject(&subject),
                    &report::bypass_notice(&subject, &overridden_by),
                )
                .await
                .map(|()| StartOutcome::Notified);
            (pull_request.repository, pull_request.id, result)
        }
        Event::RuleChanged {
            pull_request,
            rule,
            change,
        } => {
            let result = rule_changed(deps, &pull_request, &rule, change).await;
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

fn ledger_kept_changing(pr: &PullRequestId) -> PortError {
    PortError::Transient {
        call: "dynamodb:PutItem",
        message: format!(
            "the ledger record of pull request {pr} kept changing under {CLAIM_ATTEMPTS} claims; \
             the event will be retried"
        ),
    }
}

// ---------------------------------------------------------------------------------------------
// The trusted gate file and the plan

/// The gate file at a commit, parsed; `None` when it does not exist there.
async fn load_gate<P: PullRequests>(
    prs: &P,
    path: &str,
    repository: &RepositoryName,
    commit: &CommitId,
) -> PortResult<GateRead> {
    Ok(prs
        .file(repository, commit, path)
        .await?
        .map(|bytes| Gate::parse_bytes(bytes, path)))
}

/// A plan of the PR's current revision under the trusted gate file, or the comment that says
/// why there is none.
enum Planned {
    Plan { gate: Box<Gate>, plan: Box<Plan> },
    Decision(report::Comment),
}

/// Plans the PR's current revision. The policy is the gate file at the **destination** commit
/// (never the code under test's); when the PR touches the gate file, its own file is read too,
/// only to add its new checks and to list what it would change ([`trust::govern`]).
async fn plan_revision<T: Ports>(
    deps: &Deps<T>,
    pr: &PullRequestState,
    requests: &[DirectiveRequest],
    reads: &mut Prefetched,
) -> PortResult<Planned> {
    let path = deps.settings.gate_file_path.as_str();
    let subject = steps::subject(pr);
    let trusted = match reads.trusted(deps, pr).await? {
        Some(Ok(gate)) => gate,
        None => {
            let proposed = load_gate(&deps.prs, path, &pr.repository, &pr.source_commit).await?;
            return Ok(Planned::Decision(report::missing_gate_file(
                &subject,
                path,
                ProposedGateFile::of(&proposed),
            )));
        }
        Some(Err(errors)) => {
            return Ok(Planned::Decision(report::invalid_trusted_gate_file(
                &subject, &errors,
            )));
        }
    };
    let changes = reads.changes(&deps.prs, pr).await?;
    let change = PolicyChange::of(&trusted, path, &changes);
    let policy = change.paths.clone();
    let note = GateFileNote::new(
        path,
        TrustSource::Destination {
            branch: pr.destination_branch().to_owned(),
            commit: pr.destination_commit.clone(),
        },
    );
    let proposed = if change.touches_gate_file() {
        Some(load_gate(&deps.prs, path, &pr.repository, &pr.source_commit).await?)
    } else {
        None
    };
    let (gate, note) = match trust::govern_read(&trusted, proposed, note, change) {
        Governing::Gate { gate, note } => (gate, note),
        Governing::InvalidProposed(errors) => {
            return Ok(Planned::Decision(report::invalid_gate_file(
                &subject, &errors,
            )));
        }
    };
    let mut plan = plan::plan(
        &gate,
        &PlanInput {
            changes: &changes,
            source_branch: Some(pr.source_branch()),
            destination_branch: Some(pr.destination_branch()),
            author: Some(&pr.author_arn),
            description: pr.description.as_deref(),
            requests,
            trusted: None,
            policy_paths: &policy,
        },
    );
    plan.gate_file = Some(note);
    Ok(Planned::Plan {
        gate,
        plan: Box::new(plan),
    })
}

/// A decision without a run: comment, revoke (or approve), and remember it for this commit.
async fn decide<T: Ports>(
    deps: &Deps<T>,
    record: &mut PrRecord,
    pr: &PullRequestState,
    comment: report::Comment,
    approve: bool,
    attempt: u32,
    reads: &mut Prefetched,
) -> PortResult<StartOutcome> {
    let subject = steps::subject(pr);
    let token = steps::token(&[
        "decision",
        pr.repository.as_str(),
        pr.id.as_str(),
        pr.source_commit.as_str(),
        &attempt.to_string(),
    ]);
    sticky_comment(deps, record, &subject, &comment.body, &token, reads).await?;
    let state = if approve {
        ApprovalState::Approve
    } else {
        ApprovalState::Revoke
    };
    let applied = steps::set_approval(&deps.prs, &pr.id, &pr.revision_id, state).await?;
    if let Some(run) = &mut record.run {
        run.verdict = Some(if approve {
            RunVerdict::Passed
        } else {
            RunVerdict::Refused
        });
        run.reported = true;
    }
    if !save(&deps.ledger, record).await? {
        tracing::info!(pull_request = %pr.id, "ledger moved on while deciding; a newer event owns the PR");
    } else if let Some(verdict) = record.run.as_ref().and_then(|r| r.verdict) {
        let event = super::run_announcement(&subject, super::run_state(verdict), Vec::new(), None);
        super::announce(deps, &event).await;
    }
    Ok(StartOutcome::Decided {
        comment: format!("{:?}", comment.kind),
        approved: approve && applied == crate::ports::ApprovalOutcome::Applied,
    })
}

// ---------------------------------------------------------------------------------------------
// Created or source updated

/// What a claim attempt found.
enum Claim {
    /// The record now holds our run (claimed now, or claimed earlier without an execution).
    Ours(Box<PrRecord>),
    /// Nothing to do.
    Done(StartOutcome),
    /// Another writer won; re-read the PR and try again.
    Lost,
}

/// Created or source updated: gate the PR's current revision.
///
/// The critical path to `StartExecution` is three round trips (docs/performance.md): the PR
/// and its ledger record, read together; then, together, the claim, the guard of the PR
/// ([`protect`]) and every read that needs only the PR ([`Prefetched`]); then the sticky
/// comment. The results are looked at in the order the steps used to run one after the other,
/// so an error surfaces where it always did and nothing is decided on a read that failed.
async fn gate<T: Ports>(
    deps: &Deps<T>,
    repository: &RepositoryName,
    pr_id: &PullRequestId,
    event_commit: &CommitId,
) -> PortResult<StartOutcome> {
    for _ in 0..CLAIM_ATTEMPTS {
        let (pr, record, passes) = futures_util::future::join3(
            deps.prs.pull_request(pr_id),
            record(&deps.ledger, repository, pr_id),
            deps.ledger.reuse_passes(repository),
        )
        .await;
        let pr = pr?;
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
        let record = record?;
        if let Some(run) = &record.run
            && run_done(run, &pr.source_commit)
        {
            // Before any write: a redelivery must not revoke the approval its run earned.
            return Ok(StartOutcome::Duplicate {
                reason: format!("commit {} is already gated", pr.source_commit.short()),
            });
        }
        let find_sticky = record.comment_id.is_none();
        let (claimed, protected, reads) = futures_util::future::join3(
            claim(deps, repository, &pr, record),
            protect(deps, &pr),
            Prefetched::fetch(deps, &pr, find_sticky, passes),
        )
        .await;
        match claimed? {
            Claim::Ours(mut record) => {
                protected?;
                return gate_claimed(deps, &mut record, &pr, reads).await;
            }
            Claim::Done(outcome) => return Ok(outcome),
            Claim::Lost => continue,
        }
    }
    Err(ledger_kept_changing(pr_id))
}

/// Makes sure the PR cannot merge without the gate, whatever happens next: the gate's approval
/// rule stands and the gate's approval of this revision is revoked. Both calls are idempotent
/// and only ever take approval away, so they go out with the claim rather than after it (a
/// commit already gated never gets here: see [`gate`]).
async fn protect<T: Ports>(deps: &Deps<T>, pr: &PullRequestState) -> PortResult<()> {
    let (rule, revoked) = join(
        steps::guard_with_rule(&deps.prs, pr, &deps.settings),
        steps::set_approval(&deps.prs, &pr.id, &pr.revision_id, ApprovalState::Revoke),
    )
    .await;
    rule?;
    revoked?;
    Ok(())
}

/// Claims (PR, source commit) in `record` (read with the PR) with a conditional write,
/// stopping the superseded run first. A write lost to anyone but a delivery of this same commit
/// (gate-report recording a verdict, a comment command, a newer push) is [`Claim::Lost`]: the
/// caller re-reads and tries again, so only a newer source commit can keep this one from being
/// gated.
async fn claim<T: Ports>(
    deps: &Deps<T>,
    repository: &RepositoryName,
    pr: &PullRequestState,
    mut record: PrRecord,
) -> PortResult<Claim> {
    let previous = record.run.clone();
    if previous
        .as_ref()
        .is_some_and(|r| r.source_commit == pr.source_commit)
    {
        // Claimed before, but no execution recorded: a crash after the claim. Resume it.
        return Ok(Claim::Ours(Box::new(record)));
    }
    // A push supersedes the run of the previous commit. Stop it before the claim replaces its
    // ARN in the ledger, so a failure here is retried with the ARN still known.
    if let Some(old) = previous.as_ref().filter(|r| r.verdict.is_none())
        && let Some(arn) = &old.execution_arn
    {
        deps.executions
            .stop(arn, &format!("superseded by commit {}", pr.source_commit))
            .await?;
    }
    let claim = record.next_claim();
    record.run = Some(new_run(repository, pr, 1, claim));
    record.closed = false;
    if save(&deps.ledger, &mut record).await? {
        return Ok(Claim::Ours(Box::new(record)));
    }
    let now = deps.ledger.get(repository, &pr.id).await?;
    Ok(match now.and_then(|r| r.run) {
        Some(run) if run.source_commit == pr.source_commit => {
            Claim::Done(StartOutcome::Duplicate {
                reason: "a concurrent delivery claimed this commit".to_owned(),
            })
        }
        _ => Claim::Lost,
    })
}

/// The claimed and guarded revision: plan under the trusted gate file, start the run.
async fn gate_claimed<T: Ports>(
    deps: &Deps<T>,
    record: &mut PrRecord,
    pr: &PullRequestState,
    mut reads: Prefetched,
) -> PortResult<StartOutcome> {
    let attempt = record.run.as_ref().map_or(1, |r| r.attempt);
    match plan_revision(deps, pr, &[], &mut reads).await? {
        Planned::Plan { gate, plan } => {
            let first = Attempt {
                number: attempt,
                carried: Vec::new(),
            };
            start_run(deps, record, pr, (&gate, *plan), first, &mut reads).await
        }
        Planned::Decision(comment) => {
            decide(deps, record, pr, comment, false, attempt, &mut reads).await
        }
    }
}

/// Writes the sticky comment, with the search for it made ahead when there was one
/// ([`Prefetched::fetch`]); otherwise as [`steps::upsert_comment`] does.
async fn sticky_comment<T: Ports>(
    deps: &Deps<T>,
    record: &mut PrRecord,
    subject: &Subject,
    body: &str,
    token: &str,
    reads: &mut Prefetched,
) -> PortResult<CommentId> {
    match reads.take_sticky() {
        Some(found) if record.comment_id.is_none() => {
            steps::write_comment(deps, record, subject, body, found?, token).await
        }
        _ => steps::upsert_comment(deps, record, subject, body, token).await,
    }
}

fn new_run(
    repository: &RepositoryName,
    pr: &PullRequestState,
    attempt: u32,
    claim: u64,
) -> RunRecord {
    RunRecord {
        source_commit: pr.source_commit.clone(),
        destination_commit: pr.destination_commit.clone(),
        revision_id: pr.revision_id.clone(),
        attempt,
        claim,
        destination_reference: pr.destination_reference.clone(),
        execution_name: machine::execution_name(
            repository,
            &pr.id,
            &pr.source_commit,
            claim,
            Mode::Gate,
        ),
        execution_arn: None,
        verdict: None,
        reported: false,
        results: Vec::new(),
        requested_by: None,
        requests: Vec::new(),
        carried: Vec::new(),
    }
}

/// The buildspec commands of the plan's checks. A buildspec a trusted check names is read at
/// the destination commit (the PR cannot rewrite what a trusted check runs); one that only a
/// check the PR adds names is read at the source commit.
async fn read_buildspecs<P: PullRequests>(
    prs: &P,
    pr: &PullRequestState,
    gate: &Gate,
    plan: &Plan,
) -> PortResult<BTreeMap<String, Result<Vec<String>, String>>> {
    let paths = machine::buildspec_paths(gate, plan);
    // One round trip for all of them; the first failure in path order is the error.
    let files = join_all(paths.iter().map(|path| {
        let trusted = plan
            .gate_file
            .as_ref()
            .is_some_and(|note| trust::buildspec_from_destination(gate, note, path));
        let commit = if trusted {
            &pr.destination_commit
        } else {
            &pr.source_commit
        };
        prs.file(&pr.repository, commit, path)
    }))
    .await;
    let mut buildspecs = BTreeMap::new();
    for (path, file) in paths.into_iter().zip(files) {
        if let Some(bytes) = file? {
            let parsed = String::from_utf8(bytes)
                .map_err(|_| "the file is not UTF-8 text".to_owned())
                .and_then(|text| machine::buildspec_commands(&text));
            buildspecs.insert(path, parsed);
        }
    }
    Ok(buildspecs)
}

/// What a plan leads to before anything starts.
enum Ready {
    /// These stages run; the results of the checks that stand on earlier passes, and what
    /// gate-report needs to record the passes of those that run ([`super::reuse`]).
    Stages {
        stages: Vec<StageSpec>,
        reused: Vec<CheckResult>,
        recordable: Option<crate::reuse::ledger::Recordable>,
    },
    /// Nothing runs: the gate decides now (approve only when nothing needed to run).
    Decision {
        comment: report::Comment,
        approve: bool,
    },
}

/// Which attempt of a revision a run is, and the results it carries over from the one before.
struct Attempt {
    number: u32,
    carried: Vec<CheckResult>,
}

/// From a plan to a running execution (or a decision when nothing can or needs to run).
async fn start_run<T: Ports>(
    deps: &Deps<T>,
    record: &mut PrRecord,
    pr: &PullRequestState,
    (gate, plan): (&Gate, Plan),
    Attempt {
        number: attempt,
        carried,
    }: Attempt,
    reads: &mut Prefetched,
) -> PortResult<StartOutcome> {
    let (stages, reused, recordable) = match ready(deps, pr, gate, &plan, &carried, reads).await? {
        Ready::Stages {
            stages,
            reused,
            recordable,
        } => (stages, reused, recordable),
        Ready::Decision { comment, approve } => {
            return decide(deps, record, pr, comment, approve, attempt, reads).await;
        }
    };
    let comment_id = post_running(deps, record, pr, &plan, attempt, reads).await?;
    let environment = record.environment.clone().unwrap_or_else(|| {
        machine::environment_name(&deps.settings.environment_prefix, &pr.repository, &pr.id)
    });
    record.environment = Some(environment.clone());
    let name = match &record.run {
        Some(run) => run.execution_name.clone(),
        None => machine::execution_name(
            &pr.repository,
            &pr.id,
            &pr.source_commit,
            record.claims,
            Mode::Gate,
        ),
    };
    let input = ExecutionInput {
        version: machine::INPUT_VERSION,
        mode: Mode::Gate,
        execution_name: name,
        attempt,
        deadline_seconds: machine::deadline_seconds(&stages),
        retry_backoff_seconds: machine::DEFAULT_RETRY_BACKOFF_SECONDS,
        subject: steps::subject(pr),
        source_reference: pr.source_reference.clone(),
        destination_reference: pr.destination_reference.clone(),
        environment,
        build: deps.settings.build.clone(),
        comment_id: Some(comment_id),
        stages,
        plan: Some(plan),
        carried_results: carried.into_iter().chain(reused).collect(),
        reuse: recordable,
    };
    launch(deps, record, pr, &input).await
}

/// The stages a plan runs, or the decision that runs nothing: the plan's own verdict (a
/// promotion refusal, nothing to test), a merge conflict, a buildspec that cannot be used.
/// Checks carried over from the previous attempt do not run again.
async fn ready<T: Ports>(
    deps: &Deps<T>,
    pr: &PullRequestState,
    gate: &Gate,
    plan: &Plan,
    carried: &[CheckResult],
    reads: &mut Prefetched,
) -> PortResult<Ready> {
    let subject = steps::subject(pr);
    match plan.verdict {
        PlanVerdict::Fail => {
            return Ok(Ready::Decision {
                comment: report::finished(&subject, plan, &[], Verdict::Failed),
                approve: false,
            });
        }
        PlanVerdict::Pass => {
            return Ok(Ready::Decision {
                comment: report::finished(&subject, plan, &[], Verdict::Passed),
                approve: true,
            });
        }
        PlanVerdict::Run => {}
    }
    if let Mergeability::Conflicts { paths } = reads.mergeability(&deps.prs, pr).await? {
        return Ok(Ready::Decision {
            comment: report::merge_conflict(&subject, &paths),
            approve: false,
        });
    }
    let buildspecs = read_buildspecs(&deps.prs, pr, gate, plan).await?;
    let facts = machine::pr_env(&subject, &pr.source_reference, &pr.destination_reference);
    let stages = machine::stages(
        gate,
        plan,
        &facts,
        &buildspecs,
        &deps.settings.build,
        machine::buildspec,
        &machine::cache::CacheScope {
            location: deps.settings.build.cache_location.as_deref(),
            repository: pr.repository.as_str(),
            commit: pr.destination_commit.as_str(),
            access: machine::cache::CacheAccess::Restore,
        },
    );
    Ok(match stages {
        Ok(stages) => runnable(deps, pr, (gate, plan), carried, stages, reads.reuse()),
        Err(e) => Ready::Decision {
            comment: report::unusable_buildspec(&subject, &e),
            approve: false,
        },
    })
}

/// What of `stages` runs: not the checks carried over, nor those that stand on an earlier pass
/// ([`super::reuse::take_reused`]); when nothing is left but reused checks, the decision.
fn runnable<T: Ports>(
    deps: &Deps<T>,
    pr: &PullRequestState,
    (gate, plan): (&Gate, &Plan),
    carried: &[CheckResult],
    mut stages: Vec<StageSpec>,
    found: Option<&super::reuse::Found>,
) -> Ready {
    for stage in &mut stages {
        stage
            .checks
            .retain(|c| !carried.iter().any(|r| r.name == c.name));
    }
    stages.retain(|stage| !stage.checks.is_empty());
    let build = &deps.settings.build;
    let (reused, recordable) = super::reuse::take_reused(gate, pr, &mut stages, found, build);
    if stages.is_empty() && !reused.is_empty() {
        return all_reused(&steps::subject(pr), plan, carried, reused);
    }
    Ready::Stages {
        stages,
        reused,
        recordable,
    }
}

/// Every check left to run stands on an earlier pass: the gate decides now, on the carried
/// and reused results, as gate-report would have.
fn all_reused(
    subject: &Subject,
    plan: &Plan,
    carried: &[CheckResult],
    reused: Vec<CheckResult>,
) -> Ready {
    let results: Vec<CheckResult> = carried.iter().cloned().chain(reused).collect();
    let verdict = policy::verdict(plan, &results);
    Ready::Decision {
        comment: report::finished(subject, plan, &results, verdict),
        approve: verdict == Verdict::Passed,
    }
}

/// The sticky "running" comment for this attempt (idempotent token); its id.
async fn post_running<T: Ports>(
    deps: &Deps<T>,
    record: &mut PrRecord,
    pr: &PullRequestState,
    plan: &Plan,
    attempt: u32,
    reads: &mut Prefetched,
) -> PortResult<CommentId> {
    let subject = steps::subject(pr);
    let running = report::running(&subject, plan);
    let token = steps::token(&[
        "running",
        pr.repository.as_str(),
        pr.id.as_str(),
        pr.source_commit.as_str(),
        &attempt.to_string(),
    ]);
    sticky_comment(deps, record, &subject, &running.body, &token, reads).await
}

/// Starts the execution under the claim's name and records its ARN.
async fn launch<T: Ports>(
    deps: &Deps<T>,
    record: &mut PrRecord,
    pr: &PullRequestState,
    input: &ExecutionInput,
) -> PortResult<StartOutcome> {
    let name = input.execution_name.clone();
    let checks = input.stages.iter().map(|s| s.checks.len()).sum();
    let started = deps.executions.start(&name, input).await?;
    let arn = started.execution_arn().to_owned();
    if let crate::ports::Started::Started { .. } = &started {
        let checks = input
            .stages
            .iter()
            .flat_map(|s| s.checks.iter().map(|c| c.name.as_str().to_owned()))
            .collect();
        let event = super::run_announcement(&input.subject, RunState::Started, checks, Some(&arn));
        super::announce(deps, &event).await;
    }
    if let Some(run) = &mut record.run {
        run.execution_name = name.clone();
        run.execution_arn = Some(arn.clone());
    }
    if !save(&deps.ledger, record).await? {
        tracing::info!(pull_request = %pr.id, execution = %arn, "ledger moved on after the start; the newer event owns the PR");
    }
    tracing::info!(pull_request = %pr.id, execution = %arn, checks, "gate started");
    Ok(StartOutcome::Started {
        execution_arn: arn,
        execution_name: name,
        checks,
    })
}

// ---------------------------------------------------------------------------------------------
// Closed or merged

/// Closed or merged: stop the run, clean up the environment, close the record.
async fn cleanup<T: Ports>(
    deps: &Deps<T>,
    repository: &RepositoryName,
    pr_id: &PullRequestId,
    reason: &CleanupReason,
) -> PortResult<StartOutcome> {
    let Some(mut record) = deps.ledger.get(repository, pr_id).await? else {
        return Ok(ignored("the gate never ran on this pull request"));
    };
    if record.closed {
        return Ok(StartOutcome::Duplicate {
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
        let input = cleanup_input(&deps.settings, &record, run, environment);
        cleanup = Some(
            deps.executions
                .start(&input.execution_name, &input)
                .await?
                .execution_arn()
                .to_owned(),
        );
    }
    record.closed = true;
    if !save(&deps.ledger, &mut record).await? {
        tracing::info!(pull_request = %pr_id, "ledger moved on during clean-up; the next delivery finishes it");
    }
    Ok(StartOutcome::CleanedUp { stopped, cleanup })
}

/// The input of the clean-up execution that deletes a PR's CI environment.
fn cleanup_input(
    settings: &crate::config::Settings,
    record: &PrRecord,
    run: &RunRecord,
    environment: &str,
) -> ExecutionInput {
    let (repository, pr_id) = (&record.repository, &record.pull_request_id);
    let name = machine::execution_name(
        repository,
        pr_id,
        &run.source_commit,
        run.claim.max(u64::from(run.attempt)),
        Mode::Cleanup,
    );
    ExecutionInput {
        version: machine::INPUT_VERSION,
        mode: Mode::Cleanup,
        execution_name: name,
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
        environment: environment.to_owned(),
        build: settings.build.clone(),
        comment_id: record.comment_id.clone(),
        stages: Vec::new(),
        deadline_seconds: 600,
        retry_backoff_seconds: machine::DEFAULT_RETRY_BACKOFF_SECONDS,
        plan: None,
        carried_results: Vec::new(),
        reuse: None,
    }
}

// ---------------------------------------------------------------------------------------------
// Comment commands

/// A `/gate` comment: retry, skip, run or only, with the trusted gate file's rules.
///
/// Two phases, so a redelivery can finish what a failed delivery started: first decide
/// everything (replies, the new run and its requests and carried results) and claim the
/// comment in the ledger together with that decision; then act (stop, revoke, start, reply),
/// every step idempotent. A redelivery of a claimed comment completes the pending work. A claim
/// lost to another writer is re-read and decided again.
async fn command<T: Ports>(deps: &Deps<T>, event: &CommentEvent) -> PortResult<StartOutcome> {
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

    let (requests, syntax_replies) = command_requests(&parsed, &comment.author_arn);
    let planned = match plan_revision(deps, &pr, &requests, &mut Prefetched::default()).await? {
        Planned::Plan { gate, plan } => Some((gate, plan)),
        Planned::Decision(_) => None,
    };

    // Phase one: decide, and claim the comment together with the decision.
    for _ in 0..CLAIM_ATTEMPTS {
        let decided = decide_command(
            &record,
            &pr,
            &requests,
            planned.as_ref().map(|(_, plan)| plan.as_ref()),
            &deps.settings.gate_file_path,
        );
        let mut replies = syntax_replies.clone();
        replies.extend(decided.replies);
        let superseded = record_command(
            &mut record,
            &pr,
            &comment.id,
            &requests,
            replies,
            decided.carried,
        );
        if !save(&deps.ledger, &mut record).await? {
            record = self::record(&deps.ledger, &pr.repository, &pr.id).await?;
            if record.handled_comments.contains(&comment.id) {
                return Ok(StartOutcome::Duplicate {
                    reason: "a concurrent delivery is handling this comment".to_owned(),
                });
            }
            continue;
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
        return complete_command(deps, record, &pr, &comment.id, planned).await;
    }
    Err(ledger_kept_changing(&pr.id))
}

/// The directives of a command comment as requests by its author, and a reply for each line
/// that is not a directive the gate understands.
fn command_requests(
    parsed: &[Result<Directive, policy::DirectiveSyntaxError>],
    author: &str,
) -> (Vec<DirectiveRequest>, Vec<String>) {
    let mut requests = Vec::new();
    let mut syntax_replies = Vec::new();
    for p in parsed {
        match p {
            Ok(directive) => requests.push(DirectiveRequest {
                directive: directive.clone(),
                author: author.to_owned(),
                source: DirectiveSource::Comment,
            }),
            Err(e) => syntax_replies.push(report::command_reply(&plan::DirectiveOutcome {
                text: e.line.clone(),
                author: author.to_owned(),
                source: DirectiveSource::Comment,
                accepted: false,
                refusals: vec![plan::Refusal::Syntax {
                    problem: e.problem.clone(),
                }],
            })),
        }
    }
    (requests, syntax_replies)
}

/// Writes a command's decision into the record (the caller saves it): the comment handled
/// (the latest [`crate::ports::HANDLED_COMMENTS_KEPT`]), its replies pending, and the new run it decided
/// (with the results it carries over). Returns the current run that the new one supersedes.
fn record_command(
    record: &mut PrRecord,
    pr: &PullRequestState,
    comment: &CommentId,
    requests: &[DirectiveRequest],
    replies: Vec<String>,
    carried: Option<Vec<CheckResult>>,
) -> Option<RunRecord> {
    let current = record
        .run
        .clone()
        .filter(|r| r.source_commit == pr.source_commit);
    record.handle_comment(comment, replies);
    let carried = carried?;
    let attempt = current.as_ref().map_or(1, |r| r.attempt + 1);
    let claim = record.next_claim();
    let mut run = new_run(&pr.repository, pr, attempt, claim);
    run.requested_by = Some(comment.clone());
    run.requests = requests.to_vec();
    run.carried = carried;
    record.run = Some(run);
    current
}

/// What a command comment decides, given the ledger record as it is now.
struct CommandDecision {
    /// Replies to post, in order.
    replies: Vec<String>,
    /// A new run to start, with the results it carries over (`None`: no new run).
    carried: Option<Vec<CheckResult>>,
}

fn decide_command(
    record: &PrRecord,
    pr: &PullRequestState,
    requests: &[DirectiveRequest],
    plan: Option<&Plan>,
    gate_file_path: &str,
) -> CommandDecision {
    let Some(plan) = plan else {
        return CommandDecision {
            replies: vec![report::command_needs_gate_file(gate_file_path)],
            carried: None,
        };
    };
    let described = plan.directives.len().saturating_sub(requests.len());
    let outcomes = &plan.directives[described..];
    let mut replies: Vec<String> = outcomes.iter().map(report::command_reply).collect();
    let accepted = |retry: bool| {
        outcomes
            .iter()
            .zip(requests)
            .any(|(o, r)| o.accepted && (r.directive == Directive::Retry) == retry)
    };
    let current = record
        .run
        .as_ref()
        .filter(|r| r.source_commit == pr.source_commit);
    let carried = if accepted(false) {
        // skip / only / run: a new plan for the current revision.
        Some(Vec::new())
    } else if accepted(true) {
        match current.and_then(|r| r.verdict.map(|v| (r, v))) {
            Some((run, RunVerdict::Failed)) => {
                // Re-run only what did not pass; carry the passes into the report.
                Some(
                    plan.to_run()
                        .filter_map(|check| {
                            run.results
                                .iter()
                                .find(|r| r.name == check.name && r.status == CheckStatus::Passed)
                        })
                        .cloned()
                        .collect(),
                )
            }
            // The destination moved on: every check runs again on the new merge.
            Some((_, RunVerdict::Outdated)) => Some(Vec::new()),
            _ => {
                replies.push(report::nothing_to_retry());
                None
            }
        }
    } else {
        None
    };
    CommandDecision { replies, carried }
}

/// Finishes a claimed comment command: starts the run it decided (if not started yet) and
/// posts its replies (idempotent tokens), then forgets the pending replies.
async fn complete_command<T: Ports>(
    deps: &Deps<T>,
    mut record: PrRecord,
    pr: &PullRequestState,
    comment: &CommentId,
    planned: Option<(Box<Gate>, Box<Plan>)>,
) -> PortResult<StartOutcome> {
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
        return Ok(StartOutcome::Duplicate {
            reason: format!("comment {comment} was already handled"),
        });
    }
    let mut started = None;
    if let Some(run) = pending {
        let (gate, plan) = match planned {
            Some(planned) => planned,
            None => match plan_revision(deps, pr, &run.requests, &mut Prefetched::default()).await?
            {
                Planned::Plan { gate, plan } => (gate, plan),
                Planned::Decision(_) => {
                    return Ok(ignored("the gate file changed under the command"));
                }
            },
        };
        steps::set_approval(&deps.prs, &pr.id, &pr.revision_id, ApprovalState::Revoke).await?;
        if let StartOutcome::Started { execution_arn, .. } = start_run(
            deps,
            &mut record,
            pr,
            (&gate, *plan),
            Attempt {
                number: run.attempt,
                carried: run.carried.clone(),
            },
            &mut Prefetched::default(),
        )
        .await?
        {
            started = Some(execution_arn);
        }
    }
    let replies = replies.unwrap_or_default();
    let post = steps::PendingPost {
        label: "reply",
        key: comment,
        comment,
        replies: &replies,
    };
    steps::post_pending_replies(&deps.prs, &deps.ledger, record, pr, &post).await?;
    Ok(StartOutcome::Answered {
        replies: replies.len(),
        started,
    })
}

// ---------------------------------------------------------------------------------------------
// The sweep

/// The scheduled sweep: every ledger record not marked closed whose pull request is closed (or
/// gone) gets the clean-up a lost close event would have given it ([`Tally`]: the first
/// failure is returned at the end, so the schedule reports it).
async fn sweep<T: Ports>(deps: &Deps<T>) -> PortResult<StartOutcome> {
    let open = deps.ledger.open_records().await?;
    let mut tally = Tally::default();
    for record in &open {
        tally.add(sweep_one(deps, record).await);
    }
    Ok(StartOutcome::Swept {
        checked: open.len(),
        cleaned: tally.finish()?,
    })
}

/// Cleans up one open record whose pull request is closed or gone; `true` if it did.
async fn sweep_one<T: Ports>(deps: &Deps<T>, record: &PrRecord) -> PortResult<bool> {
    let reason = match deps.prs.pull_request(&record.pull_request_id).await {
        Ok(pr) if pr.status == PrStatus::Closed => {
            if pr.is_merged {
                CleanupReason::Merged { merge_option: None }
            } else {
                CleanupReason::Closed
            }
        }
        Ok(_) => return Ok(false),
        Err(PortError::Permanent { message, .. })
            if message.contains("PullRequestDoesNotExist") =>
        {
            CleanupReason::Closed
        }
        Err(e) => return Err(e),
    };
    let outcome = cleanup(deps, &record.repository, &record.pull_request_id, &reason).await?;
    Ok(matches!(outcome, StartOutcome::CleanedUp { .. }))
}

/// What a pass over many records did. One record's failure does not stop the others; the first
/// failure is returned at the end (so the event is retried, and the records already handled
/// are no-ops then).
#[derive(Default)]
struct Tally {
    done: usize,
    first_error: Option<PortError>,
}

impl Tally {
    /// Counts one record's result (`true`: it did something).
    fn add(&mut self, result: PortResult<bool>) {
        match result {
            Ok(true) => self.done += 1,
            Ok(false) => {}
            Err(e) => {
                self.first_error.get_or_insert(e);
            }
        }
    }

    /// How many records it did something to, or the first failure.
    fn finish(self) -> PortResult<usize> {
        self.first_error.map_or(Ok(self.done), Err)
    }
}

// ---------------------------------------------------------------------------------------------
// Destination drift

/// A branch moved. Every open PR into it whose approval was earned on an older destination
/// commit loses that approval: the merge it tested is not the merge that would happen now.
/// The destination's gate file (at the new commit) may say `strict: false` to keep them. One
/// PR's failure does not stop the others; the first is returned at the end (so the event is
/// retried, and the PRs already handled are skipped then).
async fn destination_moved<T: Ports>(
    deps: &Deps<T>,
    moved: &BranchMoved,
) -> PortResult<StartOutcome> {
    let approved: Vec<PrRecord> = deps
        .ledger
        .open_records()
        .await?
        .into_iter()
        .filter(|r| r.repository == moved.repository)
        .filter(|r| {
            r.run.as_ref().is_some_and(|run| {
                run.verdict == Some(RunVerdict::Passed)
                    && run.destination_commit != moved.commit
                    && (run.destination_reference.is_empty()
                        || run.destination_reference == moved.reference)
            })
        })
        .collect();
    if approved.is_empty() {
        return Ok(StartOutcome::Outdated {
            checked: 0,
            revoked: 0,
        });
    }
    let strict = match load_gate(
        &deps.prs,
        &deps.settings.gate_file_path,
        &moved.repository,
        &moved.commit,
    )
    .await?
    {
        Some(Ok(gate)) => gate.strict,
        // No valid policy on the destination: keep nothing that was earned on another commit.
        None | Some(Err(_)) => true,
    };
    if !strict {
        return Ok(ignored(format!(
            "{} keeps approvals when it moves (`strict: false`)",
            moved.branch()
        )));
    }
    let mut tally = Tally::default();
    for record in &approved {
        tally.add(outdate(deps, record, moved).await);
    }
    Ok(StartOutcome::Outdated {
        checked: approved.len(),
        revoked: tally.finish()?,
    })
}

/// Revokes one PR's approval earned on an older destination commit: record the run as
/// outdated (conditional write, so a newer run's record is never overwritten), then REVOKE and
/// say why in the sticky comment. Returns whether it revoked.
async fn outdate<T: Ports>(
    deps: &Deps<T>,
    record: &PrRecord,
    moved: &BranchMoved,
) -> PortResult<bool> {
    let pr = deps.prs.pull_request(&record.pull_request_id).await?;
    let mut record = record.clone();
    for _ in 0..CLAIM_ATTEMPTS {
        let Some(run) = record.run.as_mut() else {
            return Ok(false);
        };
        if pr.status == PrStatus::Closed
            || pr.destination_reference != moved.reference
            || run.verdict != Some(RunVerdict::Passed)
            || run.source_commit != pr.source_commit
            || run.destination_commit == moved.commit
        {
            // Closed, retargeted, re-run, or pushed since (the push is gated on its own):
            // nothing approved stands to revoke. A revision that changed without a push is
            // handled like the same revision: whether CodeCommit makes a new revision when
            // only the destination moves is not documented (docs/design.md), and either way
            // the approval must go and the comment must say why.
            return Ok(false);
        }
        let tested_onto = run.destination_commit.clone();
        run.verdict = Some(RunVerdict::Outdated);
        if !save(&deps.ledger, &mut record).await? {
            match deps
                .ledger
                .get(&record.repository, &record.pull_request_id)
                .await?
            {
                Some(fresh) => {
                    record = fresh;
                    continue;
                }
                None => return Ok(false),
            }
        }
        let mut subject = steps::subject(&pr);
        subject.destination_commit = moved.commit.clone();
        let event = super::run_announcement(
            &subject,
            RunState::Outdated,
            Vec::new(),
            record.run.as_ref().and_then(|r| r.execution_arn.as_deref()),
        );
        super::announce(deps, &event).await;
        steps::set_approval(&deps.prs, &pr.id, &pr.revision_id, ApprovalState::Revoke).await?;
        let body = report::destination_moved(&subject, &tested_onto).body;
        let token = steps::token(&[
            "outdated",
            pr.repository.as_str(),
            pr.id.as_str(),
            pr.source_commit.as_str(),
            moved.commit.as_str(),
        ]);
        steps::upsert_comment(deps, &mut record, &subject, &body, &token).await?;
        if !save(&deps.ledger, &mut record).await? {
            tracing::info!(pull_request = %pr.id, "ledger moved on after revoking; the comment id is recorded next time");
        }
        tracing::info!(pull_request = %pr.id, branch = moved.branch(), from = %tested_onto, to = %moved.commit, "approval revoked: the destination moved");
        return Ok(true);
    }
    Err(ledger_kept_changing(&record.pull_request_id))
}

// ---------------------------------------------------------------------------------------------
// The gate's approval rule

/// Someone deleted or edited an approval rule. If it is the gate's, say so on SNS and, while
/// the PR is open and no rule of the gate's stands, put the rule back.
async fn rule_changed<T: Ports>(
    deps: &Deps<T>,
    pull_request: &PullRequest,
    rule: &str,
    change: RuleChange,
) -> PortResult<StartOutcome> {
    if rule != deps.settings.approval_rule_name {
        return Ok(ignored(format!("approval rule {rule} is not the gate's")));
    }
    if pull_request.caller_arn == deps.settings.approver_arn {
        return Ok(ignored("the gate's own change to its rule"));
    }
    let pr = deps.prs.pull_request(&pull_request.id).await?;
    let restored = pr.status == PrStatus::Open
        && steps::guard_with_rule(&deps.prs, &pr, &deps.settings).await?;
    let deleted = change == RuleChange::Deleted;
    tracing::warn!(pull_request = %pr.id, rule, deleted, by = %pull_request.caller_arn, restored, "the gate's approval rule was changed");
    let subject = steps::event_subject(pull_request);
    deps.notifier
        .publish(
            &report::rule_tampered_subject(&subject),
            &report::rule_tampered_notice(
                &subject,
                rule,
                deleted,
                &pull_request.caller_arn,
                restored,
            ),
        )
        .await?;
    Ok(StartOutcome::RuleGuarded { restored })
}

// ---------------------------------------------------------------------------------------------
// The merge queue's runs

/// Starts the run of a merge queue entry through the gate's own planning and state machine.
/// `view` is the pull request as the queue tests it: its source the merge commit on the gate
/// branch, its destination commit the destination's tip (where the trusted gate file is read),
/// its merge base the commit the merge was built on; `name` is the run's deterministic name.
/// A plan that needs no run decides at once.
pub async fn start_queue_run<T: Ports>(
    deps: &Deps<T>,
    view: &PullRequestState,
    name: &str,
) -> PortResult<crate::merge_queue::QueueStart> {
    use crate::merge_queue::QueueStart;
    // The reads that need only the view, issued together (as for a pull request's run). The
    // queue's run, the last before the landing, stands on no earlier pass: no passes read.
    let no_passes = Ok(crate::reuse::ledger::LedgerPasses::default());
    let mut prefetched = Prefetched::fetch(deps, view, false, no_passes).await;
    let (gate, plan) = match plan_revision(deps, view, &[], &mut prefetched).await? {
        Planned::Plan { gate, plan } => (gate, plan),
        Planned::Decision(_) => return Ok(QueueStart::Decided { passed: false }),
    };
    let stages = match ready(deps, view, &gate, &plan, &[], &mut prefetched).await? {
        Ready::Stages { stages, .. } => stages,
        Ready::Decision { approve, .. } => return Ok(QueueStart::Decided { passed: approve }),
    };
    let mut subject = steps::subject(view);
    subject.merge_commit = Some(view.source_commit.clone());
    let input = ExecutionInput {
        version: machine::INPUT_VERSION,
        mode: Mode::Gate,
        execution_name: name.to_owned(),
        attempt: 1,
        deadline_seconds: machine::deadline_seconds(&stages),
        retry_backoff_seconds: machine::DEFAULT_RETRY_BACKOFF_SECONDS,
        subject,
        source_reference: view.source_reference.clone(),
        destination_reference: view.destination_reference.clone(),
        environment: machine::environment_name(
            &deps.settings.environment_prefix,
            &view.repository,
            &view.id,
        ),
        build: deps.settings.build.clone(),
        comment_id: None,
        stages,
        plan: Some(*plan),
        carried_results: Vec::new(),
        reuse: None,
    };
    let started = deps.executions.start(name, &input).await?;
    Ok(QueueStart::Started {
        execution_arn: started.execution_arn().to_owned(),
    })
}
