//! Approvals of releases on AWS: the release waits, a person decides.
//!
//! - [`await_approval`] (gate-release, the machine's `.waitForTaskToken` step): stores the
//!   task token in the environment's record (the only place it is written), then tells the
//!   topic what will be deployed where and how to approve, and announces
//!   `WAITING_FOR_APPROVAL` on the bus. A redelivery with the same token changes nothing.
//! - [`decide`] (gate-approve, both channels): the caller's ARN, as AWS authenticated it
//!   (CodeCommit for a comment, SigV4 for the function URL), against the waiting release's
//!   approvers and authors. A stranger or the author alone is refused and the release keeps
//!   waiting (else anyone could stop a deploy); the attempt is recorded. An approver's
//!   decision is claimed in the record by one conditional write, so of two approvers at once
//!   exactly one decides (another caller is told it was decided; the same caller again
//!   resumes a delivery that broke off); then the token is answered (`SendTaskSuccess` /
//!   `SendTaskFailure` with [`APPROVAL_REFUSED_ERROR`]), the decision announced and the
//!   pending approval cleared.
//! - [`comment`]: the pull-request comment channel (`/gate approve|reject <environment>`).

pub mod comment;

use crate::announce::{ReleaseChange, ReleaseState};
use crate::gate_file::Approval;
use crate::ids::{CommitId, RepositoryName};
use crate::machine::release::ReleaseExecutionInput;
use crate::machine::release::payload::{
    APPROVAL_REFUSED_ERROR, ApprovalAnswer, ApprovalChannel, ApprovalRequest,
};
use crate::ports::{
    Bus, EnvironmentRecord, Ledger, Notifier, PendingApproval, PortError, PortResult, TaskTokens,
    TokenSent, Written,
};
use crate::release::ApprovalDecision;
use crate::report::approval as words;
use serde::{Deserialize, Serialize};

/// How often the environment's record is read again after another writer won.
const WRITE_ATTEMPTS: usize = 5;
/// The name errors of the approval step carry.
const AWAIT_CALL: &str = "gate-release:AwaitApproval";
/// The name errors of a decision carry.
const DECIDE_CALL: &str = "gate-approve:Decide";

/// What gate-approve works with: CodeCommit (comments, replies), the ledger, Step Functions'
/// callbacks, the bus and the settings (which branch releases which environment; the gate's
/// own identity, whose comments are not commands).
pub struct ApproveDeps<P, L, T, B> {
    /// CodeCommit.
    pub prs: P,
    /// The ledger.
    pub ledger: L,
    /// `SendTaskSuccess` / `SendTaskFailure`.
    pub tokens: T,
    /// The event bus.
    pub bus: B,
    /// Settings.
    pub settings: crate::config::Settings,
}

impl<P, L, T, B> std::fmt::Debug for ApproveDeps<P, L, T, B> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApproveDeps")
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

/// What a person asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Verb {
    /// Release it.
    Approve,
    /// Do not.
    Reject,
}

impl Verb {
    /// The word, as in `/gate approve` and `gate approve`.
    pub fn as_str(self) -> &'static str {
        match self {
            Verb::Approve => "approve",
            Verb::Reject => "reject",
        }
    }

    /// `approve` or `reject`.
    pub fn parse(word: &str) -> Option<Verb> {
        match word {
            "approve" => Some(Verb::Approve),
            "reject" => Some(Verb::Reject),
            _ => None,
        }
    }
}

/// A decision on a waiting release, as a channel received it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecisionRequest {
    /// The repository.
    pub repository: RepositoryName,
    /// The environment.
    pub environment: String,
    /// The caller's IAM ARN as AWS authenticated it.
    pub caller_arn: String,
    /// Approve or reject.
    pub verb: Verb,
    /// The reason given (`-- reason`, `--reason`).
    pub reason: Option<String>,
    /// How it arrived.
    pub channel: ApprovalChannel,
    /// More authors of the change the channel knows of (the pull request's author).
    pub extra_authors: Vec<String>,
}

/// What became of a decision.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum DecisionOutcome {
    /// The decision reached the waiting release.
    Decided {
        /// The decision as recorded and sent.
        answer: ApprovalAnswer,
        /// The released commit.
        commit: CommitId,
    },
    /// The caller may not decide (not an approver, or the author alone): the release keeps
    /// waiting and the attempt is recorded.
    Refused {
        /// The attempt as recorded.
        attempt: ApprovalAnswer,
        /// What the caller asked for.
        verb: Verb,
        /// Who may decide.
        approvers: Vec<String>,
    },
    /// No release of the environment waits for an approval.
    NothingWaits,
    /// Someone else's decision was taken first.
    DecidedBefore {
        /// That decision.
        answer: ApprovalAnswer,
    },
    /// The release no longer waits (the wait timed out or the release ended).
    NoLongerWaits,
}

impl DecisionOutcome {
    /// A stable word for the outcome (the function URL's `outcome`).
    pub fn word(&self) -> &'static str {
        match self {
            DecisionOutcome::Decided { answer, .. }
                if answer.decision == ApprovalDecision::Approved =>
            {
                "approved"
            }
            DecisionOutcome::Decided { .. } => "rejected",
            DecisionOutcome::Refused { .. } => "refused",
            DecisionOutcome::NothingWaits => "nothing_waits",
            DecisionOutcome::DecidedBefore { .. } => "already_decided",
            DecisionOutcome::NoLongerWaits => "no_longer_waits",
        }
    }
}

/// The release machine's approval step: records the waiting release and its token in the
/// environment's record, then notifies the topic and announces WAITING_FOR_APPROVAL, once.
/// Fails, naming it, when the lane runs another release (the step then fails and the release
/// finishes as failed).
pub async fn await_approval<L: Ledger, N: Notifier, B: Bus>(
    ledger: &L,
    notifier: &N,
    bus: &B,
    now: &str,
    request: &ApprovalRequest,
) -> PortResult<()> {
    let input = &request.input;
    let spec = input.approval.as_ref().ok_or_else(|| {
        permanent(
            AWAIT_CALL,
            format!("release {} needs no approval", input.execution_name),
        )
    })?;
    let expires_at = crate::clock::Utc::parse(now)
        .map(|t| t + std::time::Duration::from_secs(spec.timeout_seconds))
        .map(|t| crate::clock::Utc::from_system(t).rfc3339())
        .ok_or_else(|| permanent(AWAIT_CALL, format!("`{now}` is not an RFC 3339 UTC time")))?;
    let pending = pending_approval(request, &spec.approvers, now, &expires_at);
    if !store_wait(ledger, request, pending).await? {
        tracing::info!(execution = %input.execution_name, "approval already announced");
        return Ok(());
    }
    notifier
        .publish(
            &words::approval_needed_subject(request),
            &words::approval_needed(request, &expires_at),
        )
        .await?;
    let waiting = release_change(
        input,
        ReleaseState::WaitingForApproval,
        &request.execution_arn,
    );
    bus.put(&waiting.announcement()).await?;
    while_pending(
        ledger,
        &input.repository,
        &input.environment,
        &request.task_token,
        |r| {
            if let Some(p) = r.pending_approval.as_mut() {
                p.announced = true;
            }
        },
    )
    .await
}

/// The pending approval of `request`, as first written.
fn pending_approval(
    request: &ApprovalRequest,
    approvers: &[String],
    now: &str,
    expires_at: &str,
) -> PendingApproval {
    let input = &request.input;
    PendingApproval {
        execution_name: input.execution_name.clone(),
        execution_arn: request.execution_arn.clone(),
        commit: input.commit.clone(),
        sequence: input.sequence,
        task_token: request.task_token.clone(),
        approvers: approvers.to_vec(),
        authors: input.pushed_by.iter().cloned().collect(),
        requested_at: now.to_owned(),
        expires_at: expires_at.to_owned(),
        previous: input.previous.clone(),
        components: deployed(input),
        announced: false,
        decision: None,
        attempts: Vec::new(),
    }
}

/// The components a release deploys, in wave order.
fn deployed(input: &ReleaseExecutionInput) -> Vec<String> {
    input
        .plan
        .deployed()
        .map(|c| c.name.as_str().to_owned())
        .collect()
}

/// Writes `pending` into the environment's record if the lane runs this release; `false`
/// when the same token waits already and was announced (a redelivery).
async fn store_wait<L: Ledger>(
    ledger: &L,
    request: &ApprovalRequest,
    pending: PendingApproval,
) -> PortResult<bool> {
    let input = &request.input;
    for _ in 0..WRITE_ATTEMPTS {
        let mut record = ledger
            .environment(&input.repository, &input.environment)
            .await?
            .ok_or_else(|| not_running(input, "nothing runs"))?;
        running_release(&record, input)?;
        if let Some(p) = &record.pending_approval
            && p.task_token == request.task_token
        {
            return Ok(!p.announced);
        }
        record.pending_approval = Some(pending.clone());
        if save(ledger, &mut record).await? {
            return Ok(true);
        }
    }
    Err(kept_changing(&input.repository, &input.environment))
}

/// `Ok` when the lane's running release is `input`'s, else an error naming what runs.
fn running_release(record: &EnvironmentRecord, input: &ReleaseExecutionInput) -> PortResult<()> {
    match &record.lane.running {
        Some(r) if r.commit == input.commit.as_str() && r.sequence == input.sequence => Ok(()),
        Some(r) => Err(not_running(
            input,
            &format!("release #{} of commit {} runs", r.sequence, r.commit),
        )),
        None => Err(not_running(input, "nothing runs")),
    }
}

fn not_running(input: &ReleaseExecutionInput, what: &str) -> PortError {
    permanent(
        AWAIT_CALL,
        format!(
            "release #{} of commit {} to {} no longer runs in its lane ({what}); it cannot wait \
             for an approval",
            input.sequence, input.commit, input.environment
        ),
    )
}

/// Changes the environment's record with `change` while its pending approval holds `token`
/// (conditional write, re-read on conflict); nothing when no approval with that token waits
/// any more.
async fn while_pending<L: Ledger>(
    ledger: &L,
    repository: &RepositoryName,
    environment: &str,
    token: &str,
    change: impl Fn(&mut EnvironmentRecord),
) -> PortResult<()> {
    for _ in 0..WRITE_ATTEMPTS {
        let Some(mut record) = ledger.environment(repository, environment).await? else {
            return Ok(());
        };
        let holds = |r: &EnvironmentRecord| {
            r.pending_approval
                .as_ref()
                .is_some_and(|p| p.task_token == token)
        };
        if !holds(&record) {
            return Ok(());
        }
        change(&mut record);
        if save(ledger, &mut record).await? {
            return Ok(());
        }
    }
    Err(kept_changing(repository, environment))
}

/// A decision from either channel on the environment's waiting release.
pub async fn decide<L: Ledger, T: TaskTokens, B: Bus>(
    ledger: &L,
    tokens: &T,
    bus: &B,
    now: &str,
    request: &DecisionRequest,
) -> PortResult<DecisionOutcome> {
    for _ in 0..WRITE_ATTEMPTS {
        let Some(mut record) = ledger
            .environment(&request.repository, &request.environment)
            .await?
        else {
            return Ok(DecisionOutcome::NothingWaits);
        };
        let Some(pending) = record.pending_approval.as_mut() else {
            return Ok(DecisionOutcome::NothingWaits);
        };
        if let Some(taken) = pending.decision.clone() {
            // Another decision won; or this caller's own, whose delivery broke off (the
            // retried comment event, the re-run CLI): deliver it now, idempotently.
            if taken.approver != request.caller_arn || verb_of(&taken) != request.verb {
                return Ok(DecisionOutcome::DecidedBefore { answer: taken });
            }
            return deliver(ledger, tokens, bus, pending.clone(), request).await;
        }
        let answer = answer(pending, request, now)?;
        let refused = !matches!(
            answer.decision,
            ApprovalDecision::Approved | ApprovalDecision::Refused
        );
        if refused {
            pending.record_attempt(answer.clone());
        } else {
            pending.decision = Some(answer.clone());
        }
        let pending = pending.clone();
        if !save(ledger, &mut record).await? {
            continue;
        }
        log_decision(request, &answer);
        if !refused {
            return deliver(ledger, tokens, bus, pending, request).await;
        }
        return Ok(DecisionOutcome::Refused {
            attempt: answer,
            verb: request.verb,
            approvers: pending.approvers,
        });
    }
    Err(kept_changing(&request.repository, &request.environment))
}

/// The caller's answer under the waiting release's rule: approved or refused by them, or
/// refused for them (not an approver; the author alone may not approve, though an approver
/// who wrote part of it may still reject it: rejecting deploys nothing).
fn answer(
    pending: &PendingApproval,
    request: &DecisionRequest,
    now: &str,
) -> PortResult<ApprovalAnswer> {
    let rule = Approval::from_patterns(&pending.approvers, 0).map_err(|e| {
        permanent(
            DECIDE_CALL,
            format!("the waiting release's approvers do not compile: {e}"),
        )
    })?;
    let mut authors = pending.authors.clone();
    authors.extend(request.extra_authors.iter().cloned());
    let caller = request.caller_arn.trim();
    let refusal = if caller.is_empty() {
        Some(ApprovalDecision::NotAnApprover)
    } else {
        ApprovalDecision::refusal(&rule, caller, &authors)
    };
    let decision = match (refusal, request.verb) {
        (Some(ApprovalDecision::Author), Verb::Reject) | (None, Verb::Reject) => {
            ApprovalDecision::Refused
        }
        (Some(refused), _) => refused,
        (None, Verb::Approve) => ApprovalDecision::Approved,
    };
    Ok(ApprovalAnswer {
        approver: caller.to_owned(),
        at: now.to_owned(),
        decision,
        channel: request.channel,
        reason: request.reason.clone().filter(|r| !r.trim().is_empty()),
    })
}

fn verb_of(answer: &ApprovalAnswer) -> Verb {
    if answer.decision == ApprovalDecision::Approved {
        Verb::Approve
    } else {
        Verb::Reject
    }
}

/// Sends the claimed decision of `pending` to the waiting release, announces it, and clears
/// the pending approval.
async fn deliver<L: Ledger, T: TaskTokens, B: Bus>(
    ledger: &L,
    tokens: &T,
    bus: &B,
    pending: PendingApproval,
    request: &DecisionRequest,
) -> PortResult<DecisionOutcome> {
    let (repository, environment) = (&request.repository, request.environment.as_str());
    let Some(answer) = pending.decision.clone() else {
        return Ok(DecisionOutcome::NothingWaits);
    };
    let json = serde_json::to_string(&answer)
        .map_err(|e| permanent(DECIDE_CALL, format!("cannot serialize the answer: {e}")))?;
    let token = &pending.task_token;
    let sent = if answer.decision == ApprovalDecision::Approved {
        tokens.succeed(token, &json).await?
    } else {
        tokens.fail(token, APPROVAL_REFUSED_ERROR, &json).await?
    };
    if sent == TokenSent::Delivered {
        announce_decision(bus, repository, environment, &pending, &answer).await;
    }
    while_pending(ledger, repository, environment, token, |r| {
        r.pending_approval = None;
    })
    .await?;
    Ok(match sent {
        TokenSent::Delivered => DecisionOutcome::Decided {
            answer,
            commit: pending.commit,
        },
        TokenSent::Expired => DecisionOutcome::NoLongerWaits,
    })
}

/// Puts APPROVED / REJECTED on the bus. The decision already reached the release: a bus that
/// fails after its retries is logged, not an error (a retry would find nothing to decide).
async fn announce_decision<B: Bus>(
    bus: &B,
    repository: &RepositoryName,
    environment: &str,
    pending: &PendingApproval,
    answer: &ApprovalAnswer,
) {
    let (state, reason) = if answer.decision == ApprovalDecision::Approved {
        (ReleaseState::Approved, None)
    } else {
        let why = answer.reason.as_deref().unwrap_or("no reason given");
        (
            ReleaseState::Rejected,
            Some(format!("rejected by {}: {why}", answer.approver)),
        )
    };
    let change = ReleaseChange {
        state,
        repository: repository.to_string(),
        environment: environment.to_owned(),
        commit: pending.commit.to_string(),
        previous_commit: pending.previous.as_ref().map(ToString::to_string),
        components: pending.components.clone(),
        execution_arn: Some(pending.execution_arn.clone()),
        reason,
    };
    if let Err(e) = bus.put(&change.announcement()).await {
        tracing::warn!(error = %e, state = ?state, "the decision was delivered but not announced");
    }
}

/// The bus detail of a release's state change.
fn release_change(
    input: &ReleaseExecutionInput,
    state: ReleaseState,
    execution_arn: &str,
) -> ReleaseChange {
    ReleaseChange {
        state,
        repository: input.repository.to_string(),
        environment: input.environment.clone(),
        commit: input.commit.to_string(),
        previous_commit: input.previous.as_ref().map(ToString::to_string),
        components: deployed(input),
        execution_arn: Some(execution_arn.to_owned()),
        reason: None,
    }
}

/// One log line per decision: who, what, how (never the token).
fn log_decision(request: &DecisionRequest, answer: &ApprovalAnswer) {
    tracing::info!(
        repository = %request.repository,
        environment = %request.environment,
        caller = %answer.approver,
        decision = ?answer.decision,
        channel = ?answer.channel,
        "approval decision"
    );
}

/// Writes the record; on success its version moves on.
async fn save<L: Ledger>(ledger: &L, record: &mut EnvironmentRecord) -> PortResult<bool> {
    match ledger.put_environment(record).await? {
        Written::Written => {
            record.version += 1;
            Ok(true)
        }
        Written::Conflict => Ok(false),
    }
}

fn permanent(call: &'static str, message: String) -> PortError {
    PortError::Permanent { call, message }
}

fn kept_changing(repository: &RepositoryName, environment: &str) -> PortError {
    PortError::Transient {
        call: "dynamodb:PutItem",
        message: format!(
            "the record of {repository}/{environment} kept changing under {WRITE_ATTEMPTS} \
             writes; try again"
        ),
    }
}
