//! The merge queue's flow, written against the ports: the `/gate merge` and `/gate unqueue`
//! commands, pushes to and closes of queued pull requests, the ends of the queue's runs and
//! moves of the destination all come here; the pure core ([`crate::merge_queue`]) decides and
//! this flow carries the decisions out.
//!
//! Every change to a queue is saved by compare-and-swap before the flow acts on it, and every
//! act is idempotent (a merge commit nobody points at is harmless; branch creation checks the
//! tip; runs have deterministic names; comments carry tokens): a redelivered event finds its
//! change made and does nothing, a lost write is re-read and decided again. The destination is
//! only ever fast-forwarded to the merge commit whose run passed, and only while it still
//! points at the commit that merge was built on.

pub mod gate_checks;

use crate::gate_file::Gate;
use crate::ids::{CommentId, CommitId, PullRequestId, RepositoryName};
use crate::merge_queue::command::{QueueCommand, QueueSettings, authorize};
use crate::merge_queue::decide::{Action, DropReason, Event, Note, Problem};
use crate::merge_queue::{self, Entry, QueueStart, RunEnd, Testing};
use crate::ports::merges::{FastForward, MergeCommit, MergeMessage, MergeQueues, Merges};
use crate::ports::{
    CommentTarget, PortError, PortResult, PrStatus, PullRequestState, PullRequests, Written,
};
use crate::report;
use std::future::Future;

/// How often a queue write lost to another writer is re-read and tried again.
const SAVE_ATTEMPTS: usize = 8;

/// A queue entry's run, as [`QueueChecks::start`] gets it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueueRun {
    /// The repository.
    pub repository: RepositoryName,
    /// The destination branch.
    pub destination: String,
    /// The queued entry.
    pub entry: Entry,
    /// The merge commit to test, on its gate branch.
    pub testing: Testing,
}

/// Starts and stops the runs of queue entries: on AWS the gate's own planning and state
/// machine, on the merge commit through its gate branch, marked as a queue run so gate-report
/// hands its end back to this flow.
pub trait QueueChecks: Send + Sync {
    /// Starts the run named `run.testing.execution_name` (idempotent for that name), or
    /// decides without one when the plan needs no run.
    fn start(&self, run: &QueueRun) -> impl Future<Output = PortResult<QueueStart>> + Send;
    /// Stops a run; one that already ended is not an error.
    fn stop(&self, execution_arn: &str, cause: &str)
    -> impl Future<Output = PortResult<()>> + Send;
}

/// The ports the queue's flow is written against, as one type parameter.
pub trait QueuePorts {
    /// CodeCommit's pull requests and comments.
    type PullRequests: PullRequests;
    /// CodeCommit's branches and merges.
    type Merges: Merges;
    /// The queues (DynamoDB).
    type Queues: MergeQueues<Entry>;
    /// The runs.
    type Checks: QueueChecks;
}

impl<P: PullRequests, M: Merges, Q: MergeQueues<Entry>, C: QueueChecks> QueuePorts
    for (P, M, Q, C)
{
    type PullRequests = P;
    type Merges = M;
    type Queues = Q;
    type Checks = C;
}

/// The queue flow's settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueueFlowSettings {
    /// The gate file's path.
    pub gate_file_path: String,
    /// The gate's identity (its comments are found by it).
    pub approver_arn: String,
    /// The merge commits' author name and email.
    pub author_name: String,
    /// The merge commits' author email.
    pub email: String,
}

/// Everything the queue's flow needs.
pub struct QueueDeps<T: QueuePorts> {
    /// CodeCommit's pull requests.
    pub prs: T::PullRequests,
    /// CodeCommit's branches and merges.
    pub merges: T::Merges,
    /// The queues.
    pub queues: T::Queues,
    /// The runs.
    pub checks: T::Checks,
    /// Settings.
    pub settings: QueueFlowSettings,
}

/// What the flow did with an event.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Handled {
    /// Whether the event changed the queue (false: nothing to do, or a redelivery).
    pub changed: bool,
    /// The replies posted to the command's comment.
    pub replies: Vec<String>,
    /// The steps carried out afterwards, in order (for logs and tests).
    pub steps: Vec<String>,
}

fn lost(call: &'static str) -> PortError {
    PortError::Transient {
        call,
        message: "the merge queue kept changing under the write; the event will be retried"
            .to_owned(),
    }
}

/// The trusted gate file at the destination's tip, parsed; `None` when missing or invalid.
async fn trusted_gate<T: QueuePorts>(
    deps: &QueueDeps<T>,
    repository: &RepositoryName,
    tip: &CommitId,
) -> PortResult<Option<Gate>> {
    let path = deps.settings.gate_file_path.as_str();
    Ok(deps
        .prs
        .file(repository, tip, path)
        .await?
        .and_then(|bytes| Gate::parse_bytes(bytes, path).ok()))
}

/// A `/gate merge` or `/gate unqueue` comment on `pull_request`, made at `now_ms`.
pub async fn command<T: QueuePorts>(
    deps: &QueueDeps<T>,
    pull_request: &PullRequestId,
    comment: &CommentId,
    now_ms: u64,
) -> PortResult<Handled> {
    let Some(data) = deps.prs.comment(comment).await? else {
        return Ok(Handled::default());
    };
    if data.deleted || data.author_arn == deps.settings.approver_arn {
        return Ok(Handled::default());
    }
    let Some(parsed) = merge_queue::parse_queue_command(&data.content) else {
        return Ok(Handled::default());
    };
    let pr = deps.prs.pull_request(pull_request).await?;
    if pr.status == PrStatus::Closed {
        return Ok(Handled::default());
    }
    let destination = pr.destination_branch().to_owned();
    let decided = decide_command(deps, &pr, &data.author_arn, parsed, now_ms).await?;
    let mut handled = match decided {
        Ok(event) => handle(deps, &pr.repository, &destination, &event).await?,
        Err(reply) => Handled {
            replies: vec![reply],
            ..Handled::default()
        },
    };
    for (i, reply) in handled.replies.iter().enumerate() {
        let token = crate::flows::steps::token(&["queue-reply", comment.as_str(), &i.to_string()]);
        deps.prs.reply(comment, reply, &token).await?;
    }
    handled
        .steps
        .push(format!("replied {}", handled.replies.len()));
    Ok(handled)
}

/// The event a command makes, or the reply that refuses it.
async fn decide_command<T: QueuePorts>(
    deps: &QueueDeps<T>,
    pr: &PullRequestState,
    requester: &str,
    parsed: Result<QueueCommand, String>,
    now_ms: u64,
) -> PortResult<Result<Event, String>> {
    let command = match parsed {
        Ok(command) => command,
        Err(word) => return Ok(Err(report::queue::not_understood(&word))),
    };
    let Some(gate) = trusted_gate(deps, &pr.repository, &pr.destination_commit).await? else {
        return Ok(Err(report::queue::needs_gate_file(
            &deps.settings.gate_file_path,
        )));
    };
    let queue: crate::ports::merges::StoredQueue<Entry> = deps
        .queues
        .load(&pr.repository, pr.destination_branch())
        .await?;
    let queued = queue.entries.iter().find(|e| e.pull_request == pr.id);
    if let Err(refusal) = authorize(
        &gate,
        &command,
        requester,
        &pr.author_arn,
        queued.map(|e| e.enqueued_by.as_str()),
    ) {
        return Ok(Err(report::queue::refused(refusal)));
    }
    Ok(Ok(match command {
        QueueCommand::Merge { strategy, priority } => Event::Enqueue(Entry::new(
            pr.id.clone(),
            pr.source_commit.clone(),
            strategy.unwrap_or(QueueSettings::of(&gate).default_strategy),
            priority,
            now_ms,
            requester,
        )),
        QueueCommand::Unqueue if queued.is_none() => return Ok(Err(report::queue::not_queued())),
        QueueCommand::Unqueue => Event::Unqueue {
            pull_request: pr.id.clone(),
            by: requester.to_owned(),
        },
    }))
}

/// The PR's source moved to `commit`: a queued entry of an older source leaves the queue.
pub async fn source_updated<T: QueuePorts>(
    deps: &QueueDeps<T>,
    pull_request: &PullRequestId,
    commit: &CommitId,
) -> PortResult<Handled> {
    let pr = deps.prs.pull_request(pull_request).await?;
    let event = Event::SourceUpdated {
        pull_request: pr.id.clone(),
        commit: commit.clone(),
    };
    handle(deps, &pr.repository, pr.destination_branch(), &event).await
}

/// The PR was closed (or merged) outside the queue.
pub async fn closed<T: QueuePorts>(
    deps: &QueueDeps<T>,
    pull_request: &PullRequestId,
) -> PortResult<Handled> {
    let pr = deps.prs.pull_request(pull_request).await?;
    let destination = pr.destination_branch();
    let tip = deps.merges.branch_tip(&pr.repository, destination).await?;
    let queue: crate::ports::merges::StoredQueue<Entry> =
        deps.queues.load(&pr.repository, destination).await?;
    let landing = queue.entries.iter().any(|e| {
        e.pull_request == pr.id
            && e.testing()
                .is_some_and(|t| Some(&t.merge_commit) == tip.as_ref())
    });
    if landing {
        // The queue closed it while landing it: the landing finishes the job.
        return settle(deps, &pr.repository, destination).await;
    }
    let event = Event::Closed {
        pull_request: pr.id.clone(),
    };
    handle(deps, &pr.repository, destination, &event).await
}

/// A queue run ended (gate-report's [`crate::flows::gate_report::ReportOutcome::QueueRun`]).
pub async fn run_ended<T: QueuePorts>(deps: &QueueDeps<T>, end: &RunEnd) -> PortResult<Handled> {
    let event = Event::RunEnded {
        pull_request: end.pull_request.clone(),
        execution_name: end.execution_name.clone(),
        passed: end.passed,
    };
    handle(deps, &end.repository, &end.destination, &event).await
}

/// One queue: the flow's ports and which queue (repository, destination branch).
struct At<'a, T: QueuePorts> {
    deps: &'a QueueDeps<T>,
    repository: &'a RepositoryName,
    destination: &'a str,
}

impl<T: QueuePorts> Clone for At<'_, T> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<T: QueuePorts> Copy for At<'_, T> {}

impl<'a, T: QueuePorts> At<'a, T> {
    fn new(deps: &'a QueueDeps<T>, repository: &'a RepositoryName, destination: &'a str) -> Self {
        Self {
            deps,
            repository,
            destination,
        }
    }
}

/// Applies `event` to the queue (compare-and-swap), carries out what it says, then moves the
/// queue on ([`settle`]).
pub async fn handle<T: QueuePorts>(
    deps: &QueueDeps<T>,
    repository: &RepositoryName,
    destination: &str,
    event: &Event,
) -> PortResult<Handled> {
    let at = &At::new(deps, repository, destination);
    let mut handled = Handled::default();
    let changed = apply_and_follow(at, event, &mut handled.steps).await?;
    let settled = settle(deps, repository, destination).await?;
    handled.steps.extend(settled.steps);
    handled.changed = changed || settled.changed;
    Ok(handled)
}

/// Applies `event` and saves the queue by compare-and-swap: whether it changed the queue, and
/// the follow-up actions (an unchanged queue may have some too: a comment repeating a
/// position).
async fn apply_saved<T: QueuePorts>(
    at: &At<'_, T>,
    event: &Event,
) -> PortResult<(bool, Vec<Action>)> {
    let At {
        deps,
        repository,
        destination,
    } = *at;
    for _ in 0..SAVE_ATTEMPTS {
        let mut queue = deps.queues.load(repository, destination).await?;
        let outcome = merge_queue::apply(&mut queue.entries, event);
        if !outcome.changed {
            return Ok((false, outcome.actions));
        }
        if deps.queues.save(&queue).await? == Written::Written {
            return Ok((true, outcome.actions));
        }
    }
    Err(lost("dynamodb:PutItem"))
}

/// Applies `event` (saved) and carries out its follow-ups, naming each in `steps`.
async fn apply_and_follow<T: QueuePorts>(
    at: &At<'_, T>,
    event: &Event,
    steps: &mut Vec<String>,
) -> PortResult<bool> {
    let (changed, actions) = apply_saved(at, event).await?;
    for follow in actions {
        steps.push(carry_out(at, &follow).await?);
    }
    Ok(changed)
}

/// Moves the queue on until nothing is left to do now (the runs under way report later): build
/// merge commits, start their runs, land or eject the head.
pub async fn settle<T: QueuePorts>(
    deps: &QueueDeps<T>,
    repository: &RepositoryName,
    destination: &str,
) -> PortResult<Handled> {
    let at = &At::new(deps, repository, destination);
    let mut handled = Handled::default();
    let mut depth_of: Option<(CommitId, usize)> = None;
    // Each step saves a change; a queue of n entries needs at most a few per entry.
    for _ in 0..64 {
        let Some(tip) = deps.merges.branch_tip(repository, destination).await? else {
            break;
        };
        let depth = match &depth_of {
            Some((at, depth)) if at == &tip => *depth,
            _ => {
                let depth = trusted_gate(deps, repository, &tip)
                    .await?
                    .map_or(1, |g| QueueSettings::of(&g).depth);
                depth_of = Some((tip.clone(), depth));
                depth
            }
        };
        let queue = deps.queues.load(repository, destination).await?;
        let actions = merge_queue::next_actions(&queue.entries, &tip, depth);
        let Some(action) = actions.into_iter().next() else {
            break;
        };
        let step = step(at, &tip, &action).await?;
        handled.changed = true;
        handled.steps.extend(step);
    }
    Ok(handled)
}

/// Carries out one of [`merge_queue::next_actions`]'s actions and saves what it made.
async fn step<T: QueuePorts>(
    at: &At<'_, T>,
    tip: &CommitId,
    action: &Action,
) -> PortResult<Vec<String>> {
    let event = match action {
        Action::Build {
            entry,
            onto,
            built_on,
            attempt,
        } => build(at, tip, entry, onto, built_on, *attempt).await?,
        Action::Start {
            pull_request,
            testing,
        } => {
            let (started, decided) = start(at, pull_request, testing).await?;
            let mut steps = vec![action_name(action)];
            for event in std::iter::once(started).chain(decided) {
                apply_and_follow(at, &event, &mut steps).await?;
            }
            return Ok(steps);
        }
        Action::Land { entry, testing } => match land(at, tip, entry, testing).await? {
            Some(event) => event,
            None => return Ok(vec![format!("{}: destination moved", entry.pull_request)]),
        },
        Action::Eject {
            pull_request,
            execution_name,
        } => Event::Ejected {
            pull_request: pull_request.clone(),
            execution_name: execution_name.clone(),
        },
        other => {
            return Ok(vec![carry_out(at, other).await?]);
        }
    };
    let mut steps = vec![action_name(action)];
    apply_and_follow(at, &event, &mut steps).await?;
    Ok(steps)
}

fn action_name(action: &Action) -> String {
    match action {
        Action::Build { entry, onto, .. } => {
            format!("{}: built onto {}", entry.pull_request, onto.short())
        }
        Action::Start { pull_request, .. } => format!("{pull_request}: started"),
        Action::Land { entry, testing } => format!(
            "{}: landed {}",
            entry.pull_request,
            testing.merge_commit.short()
        ),
        Action::Eject { pull_request, .. } => format!("{pull_request}: ejected"),
        Action::Cleanup { testing, .. } => format!("cleaned up {}", testing.gate_branch),
        Action::Comment {
            pull_request, note, ..
        } => format!("{pull_request}: commented {}", note_kind(note)),
    }
}

fn note_kind(note: &Note) -> &'static str {
    match note {
        Note::Queued { .. } => "queued",
        Note::Full { .. } => "full",
        Note::Merged { .. } => "merged",
        Note::Dropped(_) => "dropped",
        Note::Ejected(_) => "ejected",
    }
}

/// Stops the run of the test an entry's new merge commit replaces, if it still runs.
async fn stop_replaced<T: QueuePorts>(
    deps: &QueueDeps<T>,
    entry: &Entry,
    onto: &CommitId,
) -> PortResult<()> {
    if let Some(old) = entry.testing()
        && let Some(arn) = &old.execution_arn
        && old.passed.is_none()
    {
        deps.checks
            .stop(arn, &report::queue::rebuilt_cause(onto.as_str()))
            .await?;
    }
    Ok(())
}

/// Builds the entry's merge commit onto `onto` (stopping the run it replaces first).
async fn build<T: QueuePorts>(
    at: &At<'_, T>,
    tip: &CommitId,
    entry: &Entry,
    onto: &CommitId,
    built_on: &[PullRequestId],
    attempt: u32,
) -> PortResult<Event> {
    stop_replaced(at.deps, entry, onto).await?;
    let message = MergeMessage {
        author_name: at.deps.settings.author_name.clone(),
        email: at.deps.settings.email.clone(),
        message: report::queue::merge_message(&entry.pull_request, at.destination),
    };
    let made = at
        .deps
        .merges
        .create_merge_commit(
            at.repository,
            &entry.source_commit,
            onto,
            entry.strategy,
            &message,
        )
        .await?;
    let problem = match made {
        MergeCommit::Created { commit, tree } => {
            let testing = Testing {
                tip: tip.clone(),
                tested_on: onto.clone(),
                built_on: built_on.to_vec(),
                merge_commit: commit,
                tree,
                gate_branch: merge_queue::gate_branch(at.destination, &entry.pull_request),
                attempt,
                execution_name: merge_queue::execution_name(
                    at.repository,
                    at.destination,
                    entry,
                    attempt,
                ),
                execution_arn: None,
                passed: None,
            };
            return Ok(Event::Built {
                pull_request: entry.pull_request.clone(),
                testing,
            });
        }
        MergeCommit::Conflict { files } => Problem::Conflict { files },
        MergeCommit::NotFastForward => Problem::NotFastForward,
    };
    Ok(Event::Conflicted {
        pull_request: entry.pull_request.clone(),
        onto: onto.clone(),
        on_tip: onto == tip,
        problem,
    })
}

/// Points the test's gate branch at its merge commit (the gate's own branch from an older
/// merge commit is deleted and made again).
async fn point_gate_branch<T: QueuePorts>(
    deps: &QueueDeps<T>,
    repository: &RepositoryName,
    testing: &Testing,
) -> PortResult<()> {
    let branch = &testing.gate_branch;
    if !deps
        .merges
        .create_branch(repository, branch, &testing.merge_commit)
        .await?
    {
        let now = deps.merges.branch_tip(repository, branch).await?;
        if now.as_ref() != Some(&testing.merge_commit) {
            // The gate's own branch from an older merge commit: point it at this one.
            deps.merges.delete_branch(repository, branch).await?;
            if !deps
                .merges
                .create_branch(repository, branch, &testing.merge_commit)
                .await?
            {
                return Err(lost("codecommit:CreateBranch"));
            }
        }
    }
    Ok(())
}

/// Points the gate branch at the merge commit and starts its run: the start, and the run's
/// end when the plan decided without one.
async fn start<T: QueuePorts>(
    at: &At<'_, T>,
    pull_request: &PullRequestId,
    testing: &Testing,
) -> PortResult<(Event, Option<Event>)> {
    let At {
        deps,
        repository,
        destination,
    } = *at;
    point_gate_branch(deps, repository, testing).await?;
    let queue: crate::ports::merges::StoredQueue<Entry> =
        deps.queues.load(repository, destination).await?;
    let Some(entry) = queue
        .entries
        .iter()
        .find(|e| &e.pull_request == pull_request)
    else {
        return Err(lost("dynamodb:GetItem"));
    };
    let run = QueueRun {
        repository: repository.clone(),
        destination: destination.to_owned(),
        entry: entry.clone(),
        testing: testing.clone(),
    };
    let (execution_arn, decided) = match deps.checks.start(&run).await? {
        QueueStart::Started { execution_arn } => (execution_arn, None),
        QueueStart::Decided { passed } => (
            format!("decided:{}", testing.execution_name),
            Some(Event::RunEnded {
                pull_request: pull_request.clone(),
                execution_name: testing.execution_name.clone(),
                passed,
            }),
        ),
    };
    let started = Event::Started {
        pull_request: pull_request.clone(),
        execution_name: testing.execution_name.clone(),
        execution_arn,
    };
    Ok((started, decided))
}

/// Lands the head: the PR must still be open with the queued source; the destination moves
/// to exactly the tested merge commit, or not at all (`None`: it moved meanwhile, test again).
async fn land<T: QueuePorts>(
    at: &At<'_, T>,
    tip: &CommitId,
    entry: &Entry,
    testing: &Testing,
) -> PortResult<Option<Event>> {
    let At {
        deps,
        repository,
        destination,
    } = *at;
    let pr = deps.prs.pull_request(&entry.pull_request).await?;
    let already = tip == &testing.merge_commit;
    if !already {
        if pr.source_commit != entry.source_commit {
            return Ok(Some(Event::Dropped {
                pull_request: entry.pull_request.clone(),
                reason: DropReason::SourceUpdated {
                    queued: entry.source_commit.clone(),
                    now: pr.source_commit.clone(),
                },
            }));
        }
        if pr.status == PrStatus::Closed {
            return Ok(Some(Event::Dropped {
                pull_request: entry.pull_request.clone(),
                reason: DropReason::Closed,
            }));
        }
        match deps
            .merges
            .fast_forward(repository, destination, &testing.merge_commit)
            .await?
        {
            FastForward::Moved { .. } => {}
            FastForward::BranchMoved => return Ok(None),
        }
    }
    if pr.status == PrStatus::Open {
        deps.merges.close_pull_request(&entry.pull_request).await?;
    }
    Ok(Some(Event::Landed {
        pull_request: entry.pull_request.clone(),
    }))
}

/// Carries out a follow-up: a clean-up or a comment.
async fn carry_out<T: QueuePorts>(at: &At<'_, T>, action: &Action) -> PortResult<String> {
    let At {
        deps, repository, ..
    } = *at;
    match action {
        Action::Cleanup {
            testing,
            delete_branch,
        } => {
            if let Some(arn) = &testing.execution_arn
                && testing.passed.is_none()
            {
                deps.checks
                    .stop(arn, "the merge queue no longer needs this run")
                    .await?;
            }
            if *delete_branch {
                deps.merges
                    .delete_branch(repository, &testing.gate_branch)
                    .await?;
            }
        }
        Action::Comment {
            pull_request,
            source_commit,
            note,
        } => write_comment(at, pull_request, source_commit, note).await?,
        // The queue's own steps are [`settle`]'s: it re-reads the queue and takes them.
        Action::Build { .. }
        | Action::Start { .. }
        | Action::Land { .. }
        | Action::Eject { .. } => {}
    }
    Ok(action_name(action))
}

/// Writes the PR's queue comment: updates the gate's earlier one, else posts it.
async fn write_comment<T: QueuePorts>(
    at: &At<'_, T>,
    pull_request: &PullRequestId,
    source_commit: &CommitId,
    note: &Note,
) -> PortResult<()> {
    let At {
        deps,
        repository,
        destination,
    } = *at;
    let body = report::queue::comment(repository, pull_request, destination, note);
    let marker = report::queue::marker(repository, pull_request);
    let found = deps
        .prs
        .find_comment(
            repository,
            pull_request,
            &deps.settings.approver_arn,
            &marker,
        )
        .await?;
    if let Some(existing) = found {
        match deps.prs.update_comment(&existing.id, &body).await {
            Ok(()) => return Ok(()),
            Err(PortError::Gone { .. }) => {}
            Err(e) => return Err(e),
        }
    }
    let pr = deps.prs.pull_request(pull_request).await?;
    let before = if &pr.destination_commit == source_commit {
        pr.merge_base.clone().unwrap_or(pr.destination_commit)
    } else {
        pr.destination_commit
    };
    let target = CommentTarget {
        repository: repository.clone(),
        pull_request_id: pull_request.clone(),
        before_commit: before,
        after_commit: source_commit.clone(),
    };
    let token = crate::flows::steps::token(&[
        "queue",
        repository.as_str(),
        pull_request.as_str(),
        &serde_json::to_string(note).unwrap_or_default(),
    ]);
    deps.prs.post_comment(&target, &body, &token).await?;
    Ok(())
}
