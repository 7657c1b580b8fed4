//! gate-start for releases: a push to an environment's branch → the gate file at the pushed
//! commit → the environment → its lane → the plan against its last release → the release
//! state machine.
//!
//! The gate file that governs is the one at the pushed commit: it reached the environment's
//! branch through the gate (the branch is protected). Which branch releases which
//! environment, with which deploy role, the stack says ([`ReleaseSettings::environments`]):
//! a gate file on another branch cannot claim an environment. The lane ([`crate::release::lane`]) is
//! written conditionally before anything starts, so of two pushes delivered at once exactly
//! one starts a release and the other waits; a redelivered push changes nothing. A commit
//! that a newer push replaces while it waits is recorded as superseded: its record is written
//! *before* the lane that drops it, so a failure in between is retried with the event and the
//! record is never lost (a redelivery that finds the lane written would see a duplicate).
//!
//! The launch of a release (the gate file at its commit, the plan against the environment's
//! state now, the machine's input, `StartExecution` under the deterministic name) is one
//! function, [`start_lane_release`]: a push starts the release it put in the lane with it, and
//! the end of a release ([`super::release_finish`]) starts the queued one with it. Each start
//! announces `STARTED`; each superseded commit `SUPERSEDED` ([`crate::announce`]).

use super::{Deps, Ports, announce};
use crate::announce::{Announcement, RELEASE_DETAIL_TYPE, ReleaseChange, ReleaseState};
use crate::clock::Utc;
use crate::config::ReleaseSettings;
use crate::event::BranchMoved;
use crate::gate_file::{Component, Gate};
use crate::ids::{CommitId, RepositoryName};
use crate::machine::release::{ArtifactKeys, ReleaseTarget, release_input};
use crate::ports::{
    EnvironmentRecord, Executions, Ledger, PortError, PortResult, PullRequests, Started, Written,
};
use crate::release::lane::{LaneRelease, Push};
use crate::release::{
    RECORD_VERSION, ReleaseInput, ReleaseOutcome, ReleasePlan, ReleaseRecord, artifact_key,
    plan_release,
};
use serde::Serialize;
use std::collections::BTreeMap;

/// How often the lane is read again after another writer won.
const LANE_ATTEMPTS: usize = 5;

/// What a push to an environment's branch did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "release", rename_all = "kebab-case")]
pub enum ReleaseStart {
    /// A release started.
    Started {
        /// The environment.
        environment: String,
        /// Its execution.
        execution_name: String,
        /// How many components it deploys.
        deploys: usize,
    },
    /// A release runs: this commit waits (and replaced `superseded`, if another waited).
    Queued {
        /// The environment.
        environment: String,
        /// The waiting commit it replaced.
        superseded: Option<CommitId>,
    },
    /// The branch is back at the running commit: the waiting one was withdrawn.
    Withdrawn {
        /// The environment.
        environment: String,
        /// The withdrawn commit.
        superseded: CommitId,
    },
    /// The commit runs or waits already, or the environment is at it: nothing changed.
    Unchanged {
        /// The environment.
        environment: String,
    },
    /// The stack allows no deploy role for the environment: nothing is released.
    NoDeployRole {
        /// The environment.
        environment: String,
    },
    /// The pushed commit's gate file maps this branch to an environment the stack releases
    /// from another branch: nothing is released (the code being released cannot choose
    /// where, or with which role, it deploys).
    WrongBranch {
        /// The environment it named.
        environment: String,
        /// The branch that was pushed.
        branch: String,
    },
}

/// Handles a push for releases: `None` when it releases nothing (releases are not enabled,
/// the commit has no valid gate file, or the branch is no environment's).
pub async fn release_pushed<T: Ports>(
    deps: &Deps<T>,
    moved: &BranchMoved,
) -> PortResult<Option<ReleaseStart>> {
    let Some(releases) = &deps.settings.releases else {
        return Ok(None);
    };
    let gate = match gate_at(deps, &moved.repository, &moved.commit).await? {
        Some(Ok(gate)) => gate,
        Some(Err(errors)) => {
            tracing::warn!(repository = %moved.repository, branch = moved.branch(), commit = %moved.commit, %errors, "the pushed commit's gate file is invalid: nothing is released");
            return Ok(None);
        }
        None => return Ok(None),
    };
    let Some(environment) = gate.environment_of_branch(moved.branch()) else {
        return Ok(None);
    };
    let name = environment.name.clone();
    let Some(allowed) = releases.environments.get(&name) else {
        return Ok(Some(ReleaseStart::NoDeployRole { environment: name }));
    };
    if allowed.branch != moved.branch() {
        tracing::warn!(repository = %moved.repository, branch = moved.branch(), environment = %name, allowed = %allowed.branch, "a gate file names this branch for an environment the stack releases from another branch: nothing is released");
        return Ok(Some(ReleaseStart::WrongBranch {
            environment: name,
            branch: moved.branch().to_owned(),
        }));
    }
    let role = &allowed.deploy_role_arn;
    let pusher = moved.caller_arn.as_deref();
    let (record, push) = join_lane(deps, &moved.repository, &name, &moved.commit, pusher).await?;
    let start = |release: LaneRelease, fresh: bool| Launch {
        gate: &gate,
        record: &record,
        release,
        settings: releases,
        role,
        fresh,
    };
    Ok(Some(match push {
        Push::Start(release) => launch(deps, &moved.repository, &start(release, true)).await?,
        // A redelivery of the push that started the running release: start it again under
        // its deterministic name, so a start that failed after the lane was written is not
        // lost (a started one answers "already exists" and nothing changes).
        Push::Duplicate => {
            let running = record.lane.running.clone();
            if let Some(running) = running.filter(|r| r.commit == moved.commit.as_str()) {
                launch(deps, &moved.repository, &start(running, false)).await?;
            }
            ReleaseStart::Unchanged { environment: name }
        }
        Push::Queued {
            superseded,
            release: _,
        } => {
            if let Some(s) = &superseded {
                announce_superseded(deps, &moved.repository, &record, s).await;
            }
            ReleaseStart::Queued {
                environment: name,
                superseded: superseded.map(|s| CommitId::new(s.commit)),
            }
        }
        Push::Withdrawn(waiting) => {
            announce_superseded(deps, &moved.repository, &record, &waiting).await;
            ReleaseStart::Withdrawn {
                environment: name,
                superseded: CommitId::new(waiting.commit),
            }
        }
        Push::Released => ReleaseStart::Unchanged { environment: name },
    }))
}

/// The gate file at `commit`: `None` when there is none, `Err` with its errors when invalid.
async fn gate_at<T: Ports>(
    deps: &Deps<T>,
    repository: &RepositoryName,
    commit: &CommitId,
) -> PortResult<Option<Result<Gate, String>>> {
    let path = &deps.settings.gate_file_path;
    Ok(deps
        .prs
        .file(repository, commit, path)
        .await?
        .map(|bytes| Gate::parse_bytes(bytes, path).map_err(|errors| errors.to_string())))
}

/// The approval the environment's last release's gate file asks for (see
/// [`crate::release::ApprovalPlan::governing`]); `None` without a last release, or when its
/// gate file is gone, invalid or names no such environment.
async fn deployed_approval<T: Ports>(
    deps: &Deps<T>,
    repository: &RepositoryName,
    previous: Option<&str>,
    plan: &ReleasePlan,
) -> PortResult<Option<crate::release::ApprovalPlan>> {
    let Some(previous) = previous else {
        return Ok(None);
    };
    let gate = gate_at(deps, repository, &CommitId::new(previous)).await?;
    Ok(gate.and_then(Result::ok).and_then(|gate| {
        gate.environments
            .iter()
            .find(|e| e.name == plan.environment)
            .map(crate::release::ApprovalPlan::of)
    }))
}

/// The waiting release a push drops from the lane, if it drops one.
fn dropped(push: &Push) -> Option<&LaneRelease> {
    match push {
        Push::Queued { superseded, .. } => superseded.as_ref(),
        Push::Withdrawn(waiting) => Some(waiting),
        Push::Start(_) | Push::Duplicate | Push::Released => None,
    }
}

/// Applies the push to the environment's lane and writes it (conditionally, re-reading after
/// another writer won): the record as written and what the push means. A waiting release the
/// push drops is recorded as superseded before the lane is written, so the record survives
/// any failure after it (the write is retried with the event; writing it again is harmless:
/// records are stored by id).
async fn join_lane<T: Ports>(
    deps: &Deps<T>,
    repository: &RepositoryName,
    environment: &str,
    commit: &CommitId,
    pushed_by: Option<&str>,
) -> PortResult<(EnvironmentRecord, Push)> {
    for _ in 0..LANE_ATTEMPTS {
        let mut record = deps
            .ledger
            .environment(repository, environment)
            .await?
            .unwrap_or_else(|| EnvironmentRecord::new(repository.clone(), environment));
        let deployed = record.state.commit.clone();
        let mut push =
            record
                .lane
                .push(commit.as_str(), deployed.as_deref(), &Utc::now().rfc3339());
        if matches!(push, Push::Duplicate | Push::Released) {
            return Ok((record, push));
        }
        if let Some(waiting) = dropped(&push) {
            record_superseded(deps, repository, &record, waiting).await?;
        }
        record.lane.pushed_by(commit.as_str(), pushed_by);
        if let Push::Start(release) | Push::Queued { release, .. } = &mut push {
            release.pushed_by = pushed_by.map(str::to_owned);
        }
        if deps.ledger.put_environment(&record).await? == Written::Written {
            record.version += 1;
            return Ok((record, push));
        }
    }
    Err(PortError::Transient {
        call: "dynamodb:PutItem",
        message: format!(
            "the release lane of {repository} {environment} kept changing under \
             {LANE_ATTEMPTS} writes"
        ),
    })
}

/// A release the lane started, and what it runs with.
struct Launch<'a> {
    gate: &'a Gate,
    record: &'a EnvironmentRecord,
    release: LaneRelease,
    settings: &'a ReleaseSettings,
    role: &'a str,
    /// The lane started it just now: announce `STARTED`. A start repeated to recover from a
    /// failed one (a redelivery) does not announce again.
    fresh: bool,
}

/// Plans the release against the environment's last release and starts its execution.
async fn launch<T: Ports>(
    deps: &Deps<T>,
    repository: &RepositoryName,
    launch: &Launch<'_>,
) -> PortResult<ReleaseStart> {
    let previous = launch.record.state.commit.clone();
    let commit = CommitId::new(launch.release.commit.clone());
    let changes = match &previous {
        Some(p) => {
            deps.prs
                .changed_paths(repository, &CommitId::new(p.clone()), &commit)
                .await?
        }
        None => Vec::new(),
    };
    let mut plan = plan_release(
        launch.gate,
        &ReleaseInput {
            environment: &launch.record.environment,
            commit: commit.as_str(),
            previous: previous.as_deref(),
            changes: &changes,
        },
    )
    .map_err(|e| PortError::Permanent {
        call: "release:plan",
        message: e.to_string(),
    })?;
    let deployed = deployed_approval(deps, repository, previous.as_deref(), &plan).await?;
    plan.approval = plan.approval.governing(deployed);
    let buildspecs = read_buildspecs(deps, repository, launch.gate, &plan, &commit).await?;
    let project = launch.settings.project(repository, &plan.environment);
    let target = ReleaseTarget {
        repository,
        sequence: launch.release.sequence,
        project: &project,
        deploy_role_arn: launch.role,
        artifact_bucket: &launch.settings.artifact_bucket,
        build: &deps.settings.build,
    };
    let keys = artifact_keys(deps, repository, launch.gate, &plan).await?;
    let mut input =
        release_input(launch.gate, &plan, &target, &buildspecs, &keys).map_err(|e| {
            PortError::Permanent {
                call: "release:input",
                message: e.to_string(),
            }
        })?;
    input.pushed_by.clone_from(&launch.release.pushed_by);
    let started = deps
        .executions
        .start_release(&input.execution_name, &input)
        .await?;
    match &started {
        Started::AlreadyExists { execution_arn } => tracing::info!(
            execution_arn,
            "the release was started already (a redelivery)"
        ),
        Started::Started { execution_arn } if launch.fresh => {
            let change = release_change(ReleaseState::Started, &plan, repository);
            announce(deps, &release_announcement(change, execution_arn, None)).await;
        }
        Started::Started { .. } => {}
    }
    Ok(ReleaseStart::Started {
        environment: plan.environment.clone(),
        execution_name: input.execution_name,
        deploys: plan.deployed().count(),
    })
}

/// The artifact keys of the release's deployed components with a `package`, computed as the
/// local `gate release` does ([`crate::release::artifact_key`] over every file of the commit
/// with its blob id): at the released commit, and at the previous release for the components
/// whose rollback deploys it again (no `rollback` commands), with the released gate file as
/// locally. Each commit's files are listed once, and only when a key needs them: a plan
/// without packages lists nothing.
async fn artifact_keys<T: Ports>(
    deps: &Deps<T>,
    repository: &RepositoryName,
    gate: &Gate,
    plan: &ReleasePlan,
) -> PortResult<ArtifactKeys> {
    let packaged: Vec<(usize, &Component)> = plan
        .deployed()
        .filter_map(|c| gate.components.iter().position(|g| g.name == c.name))
        .map(|i| (i, &gate.components[i]))
        .filter(|(_, c)| c.package.is_some())
        .collect();
    let redeployed: Vec<(usize, &Component)> = packaged
        .iter()
        .copied()
        .filter(|(_, c)| c.deploy.as_ref().is_some_and(|d| d.rollback.is_none()))
        .collect();
    let mut keys = ArtifactKeys::default();
    if !packaged.is_empty() {
        let commit = CommitId::new(plan.commit.clone());
        keys.released = keys_at(deps, repository, gate, &packaged, &commit).await?;
    }
    if let Some(previous) = plan.previous.as_ref().filter(|_| !redeployed.is_empty()) {
        let previous = CommitId::new(previous.clone());
        keys.previous = keys_at(deps, repository, gate, &redeployed, &previous).await?;
    }
    Ok(keys)
}

/// The artifact keys of `components` (with their index in `gate`) at `commit`, from one
/// listing of its files.
async fn keys_at<T: Ports>(
    deps: &Deps<T>,
    repository: &RepositoryName,
    gate: &Gate,
    components: &[(usize, &Component)],
    commit: &CommitId,
) -> PortResult<BTreeMap<String, String>> {
    let files = deps.prs.commit_files(repository, commit).await?;
    Ok(components
        .iter()
        .filter_map(|&(i, c)| {
            let pairs = files.iter().map(|(p, b)| (p.as_str(), b.as_str()));
            let key = artifact_key(gate, i, pairs)?;
            Some((c.name.as_str().to_owned(), key))
        })
        .collect())
}

/// The commands of the `buildspec:` files the release's checks name, read at its commit.
async fn read_buildspecs<T: Ports>(
    deps: &Deps<T>,
    repository: &RepositoryName,
    gate: &Gate,
    plan: &ReleasePlan,
    commit: &CommitId,
) -> PortResult<BTreeMap<String, Result<Vec<String>, String>>> {
    let checks = crate::plan::Plan {
        checks: plan.checks.clone(),
        ..crate::plan::Plan::empty()
    };
    let mut buildspecs = BTreeMap::new();
    for path in crate::machine::buildspec_paths(gate, &checks) {
        let commands = match deps.prs.file(repository, commit, &path).await? {
            Some(bytes) => String::from_utf8(bytes)
                .map_err(|_| "the file is not UTF-8 text".to_owned())
                .and_then(|text| crate::machine::buildspec_commands(&text)),
            None => Err("the file does not exist at the released commit".to_owned()),
        };
        buildspecs.insert(path, commands);
    }
    Ok(buildspecs)
}

/// Records a waiting release that a newer push replaced: it never ran.
async fn record_superseded<T: Ports>(
    deps: &Deps<T>,
    repository: &RepositoryName,
    record: &EnvironmentRecord,
    waiting: &LaneRelease,
) -> PortResult<()> {
    let environment = &record.environment;
    let release = ReleaseRecord {
        version: RECORD_VERSION,
        id: crate::machine::release_execution_name(
            repository,
            environment,
            &waiting.commit,
            waiting.sequence,
        ),
        repository: repository.as_str().to_owned(),
        started_at: waiting.pushed_at.clone(),
        duration_ms: 0,
        started_by: String::new(),
        forced: false,
        plan: ReleasePlan::unplanned(environment, &waiting.commit, record.state.commit.as_deref()),
        checks: Vec::new(),
        approval: None,
        packages: Vec::new(),
        deploys: Vec::new(),
        rollbacks: Vec::new(),
        outcome: ReleaseOutcome::Superseded,
    };
    deps.ledger.put_release(repository, &release).await
}

/// Starts the lane's release `release` of `record`'s environment exactly as a push does: the
/// gate file at its commit, the plan against the environment's state in `record`, the
/// machine's input, `StartExecution` under its deterministic name (a second start of the same
/// release is [`Started::AlreadyExists`]). The end of a release starts the queued one with it.
/// A commit whose gate file is gone or invalid, or an environment the stack no longer releases,
/// is a permanent error: the push that queued it found both. `fresh`: the lane handed over to
/// it just now (announce `STARTED`), not a start repeated by a redelivery.
pub async fn start_lane_release<T: Ports>(
    deps: &Deps<T>,
    repository: &RepositoryName,
    record: &EnvironmentRecord,
    release: LaneRelease,
    fresh: bool,
) -> PortResult<ReleaseStart> {
    let refused = |message: String| PortError::Permanent {
        call: "release:start",
        message,
    };
    let environment = &record.environment;
    let Some(settings) = &deps.settings.releases else {
        return Err(refused("releases are not enabled in this stack".to_owned()));
    };
    let Some(allowed) = settings.environments.get(environment) else {
        return Err(refused(format!(
            "the stack allows no deploy role for {environment}"
        )));
    };
    let commit = CommitId::new(release.commit.clone());
    let gate = match gate_at(deps, repository, &commit).await? {
        Some(Ok(gate)) => gate,
        Some(Err(errors)) => {
            return Err(refused(format!(
                "the gate file at {commit} is invalid: {errors}"
            )));
        }
        None => return Err(refused(format!("{commit} has no gate file"))),
    };
    let start = Launch {
        gate: &gate,
        record,
        release,
        settings,
        role: &allowed.deploy_role_arn,
        fresh,
    };
    launch(deps, repository, &start).await
}

/// The detail of a release's state change, from its plan (the components it deploys).
pub(crate) fn release_change(
    state: ReleaseState,
    plan: &ReleasePlan,
    repository: &RepositoryName,
) -> ReleaseChange {
    ReleaseChange {
        state,
        repository: repository.as_str().to_owned(),
        environment: plan.environment.clone(),
        commit: plan.commit.clone(),
        previous_commit: plan.previous.clone(),
        components: plan
            .deployed()
            .map(|c| c.name.as_str().to_owned())
            .collect(),
        execution_arn: None,
        reason: None,
    }
}

/// A release's state change as an event about its execution (when it has one).
pub(crate) fn release_announcement(
    mut change: ReleaseChange,
    execution_arn: &str,
    reason: Option<String>,
) -> Announcement {
    let arn = Some(execution_arn.to_owned()).filter(|a| !a.is_empty());
    change.execution_arn.clone_from(&arn);
    change.reason = reason;
    Announcement {
        detail_type: RELEASE_DETAIL_TYPE.to_owned(),
        resources: arn.into_iter().collect(),
        detail: serde_json::to_value(&change).unwrap_or_default(),
    }
}

/// Announces that `waiting` never runs: a newer push replaced it.
async fn announce_superseded<T: Ports>(
    deps: &Deps<T>,
    repository: &RepositoryName,
    record: &EnvironmentRecord,
    waiting: &LaneRelease,
) {
    let plan = ReleasePlan::unplanned(
        &record.environment,
        &waiting.commit,
        record.state.commit.as_deref(),
    );
    let change = release_change(ReleaseState::Superseded, &plan, repository);
    let reason = Some(crate::report::release::superseded_reason(
        record.lane.running.as_ref().map(|r| r.commit.as_str()),
        record.lane.queued.as_ref().map(|r| r.commit.as_str()),
    ));
    announce(deps, &release_announcement(change, "", reason)).await;
}
