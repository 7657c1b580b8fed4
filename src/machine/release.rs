//! The release state machine's input: what one release runs on AWS, built from the same
//! release plan the local `gate release` runs.
//!
//! The environment's checks are the gate's [`StageSpec`]s (the same stage / Map /
//! `codebuild:startBuild.sync` machinery), with the release's facts instead of a pull
//! request's and no merge prelude. Every deploy is one build of the repository's release
//! project at the released commit, with the environment's deploy role (CodeBuild's
//! `serviceRoleOverride`), never the CI role: a pull request's code cannot deploy. Each deploy
//! carries its rollback, so the state machine can undo the waves in reverse order without
//! reading the gate file again.

pub mod artifact;
pub mod payload;

use super::{BuildDefaults, BuildspecError, EnvVar, StageSpec, TASK_TIMEOUT_SLACK_SECONDS};
use crate::gate_file::{Component, Deploy, Gate};
use crate::ids::{CommitId, ComponentName, RepositoryName};
use crate::plan::Plan;
use crate::release::ReleasePlan;
use artifact::{ARTIFACT_DIR, ArtifactLocation};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The version of [`ReleaseExecutionInput`].
pub const RELEASE_INPUT_VERSION: u32 = 1;

/// What a release command is doing: `GATE_ACTION`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    /// One of the environment's checks.
    Check,
    /// A package build.
    Package,
    /// A deploy.
    Deploy,
    /// A rollback.
    Rollback,
}

impl Action {
    /// The value of `GATE_ACTION`.
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Check => "check",
            Action::Package => "package",
            Action::Deploy => "deploy",
            Action::Rollback => "rollback",
        }
    }
}

/// The facts every command of a release sees, locally and on AWS.
#[derive(Debug, Clone, Copy)]
pub struct ReleaseFacts<'a> {
    /// What it does.
    pub action: Action,
    /// The environment.
    pub environment: &'a str,
    /// The component, for packages, deploys and rollbacks.
    pub component: Option<&'a str>,
    /// The commit the environment is to be at after this command (C; P for a rollback).
    pub commit: &'a str,
    /// The commit it was at before (P; C for a rollback); empty when there is none.
    pub previous: &'a str,
    /// Where the component's artifact is, when it has a package.
    pub artifact: Option<&'a str>,
}

impl ReleaseFacts<'_> {
    /// The `GATE_*` variables: `GATE_ACTION`, `GATE_ENVIRONMENT`, `GATE_COMMIT`,
    /// `GATE_PREVIOUS_COMMIT`, then `GATE_COMPONENT` and `GATE_ARTIFACT_DIR` when they apply.
    pub fn env(&self) -> Vec<EnvVar> {
        let mut env = vec![
            EnvVar::plain("GATE_ACTION", self.action.as_str()),
            EnvVar::plain("GATE_ENVIRONMENT", self.environment),
            EnvVar::plain("GATE_COMMIT", self.commit),
            EnvVar::plain("GATE_PREVIOUS_COMMIT", self.previous),
        ];
        if let Some(c) = self.component {
            env.push(EnvVar::plain("GATE_COMPONENT", c));
        }
        if let Some(a) = self.artifact {
            env.push(EnvVar::plain("GATE_ARTIFACT_DIR", a));
        }
        env
    }
}

/// How a deployed component is undone.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RollbackSpec {
    /// The commit the rollback build checks out: the released commit for `rollback`
    /// commands, the previous release to deploy it again; `None`: nothing to return to.
    pub source_version: Option<CommitId>,
    /// The buildspec override (`None` when there is nothing to run).
    pub buildspec: Option<String>,
    /// Its variables (`GATE_ACTION=rollback`, `GATE_COMMIT` = the previous release; with
    /// an artifact, `GATE_ARTIFACT_DIR`).
    pub env: Vec<EnvVar>,
    /// The key of the previous release's artifact, when the rollback deploys the previous
    /// release again and the component has a `package`: the buildspec downloads it as a
    /// deploy does, after checking that it is complete (an expired or never built artifact
    /// fails the rollback with a clear message instead of deploying without it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub artifact_key: Option<String>,
}

/// One component's deploy build.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeploySpec {
    /// The component.
    pub component: ComponentName,
    /// The buildspec override: the deploy commands, no merge.
    pub buildspec: String,
    /// CodeBuild image.
    pub image: String,
    /// CodeBuild compute type.
    pub compute_type: String,
    /// Build timeout in minutes (deploy and rollback alike).
    pub timeout_minutes: u32,
    /// The Step Functions task's own timeout: the build's plus time to queue and start.
    pub task_timeout_seconds: u64,
    /// Its variables: the release's facts, then the deploy's `env`.
    pub env: Vec<EnvVar>,
    /// The key of its artifact, when it has a `package` ([`crate::release::artifact_key`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub artifact_key: Option<String>,
    /// How it is undone.
    pub rollback: RollbackSpec,
}

/// The components of one wave, deployed at once.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WaveSpec {
    /// Its deploys.
    pub deploys: Vec<DeploySpec>,
}

/// The approval a release waits for (`.waitForTaskToken`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApprovalSpec {
    /// Identity globs of who may approve.
    pub approvers: Vec<String>,
    /// How long the state machine waits.
    pub timeout_seconds: u64,
}

/// The release state machine's input.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReleaseExecutionInput {
    /// Format version ([`RELEASE_INPUT_VERSION`]).
    pub version: u32,
    /// The execution's name ([`super::release_execution_name`]).
    pub execution_name: String,
    /// The repository.
    pub repository: RepositoryName,
    /// The environment.
    pub environment: String,
    /// The released commit (C).
    pub commit: CommitId,
    /// The environment's last release (P), `None` the first time.
    pub previous: Option<CommitId>,
    /// The lane's sequence number of this release.
    pub sequence: u64,
    /// The repository's release CodeBuild project (every build overrides its source version,
    /// buildspec, image, variables and, for deploys, its role).
    pub project: String,
    /// The role deploy and rollback builds run with (`serviceRoleOverride`).
    pub deploy_role_arn: String,
    /// The environment's checks that run, in stages.
    pub checks: Vec<StageSpec>,
    /// The approval, when the environment needs one.
    pub approval: Option<ApprovalSpec>,
    /// The package builds whose artifact is not in the bucket yet (the machine also skips
    /// one whose artifact appeared meanwhile), before any deploy.
    #[serde(default)]
    pub packages: Vec<PackageSpec>,
    /// The deploys, wave by wave.
    pub waves: Vec<WaveSpec>,
    /// Who pushed the commit (the push event's `callerUserArn`): an author of the change.
    #[serde(default)]
    pub pushed_by: Option<String>,
    /// The plan (for the report and the records).
    pub plan: ReleasePlan,
}

/// One component's package build: its `package` commands at the released commit, then an
/// upload of its `outputs` to the stack's artifact bucket under its key, then its completion
/// marker, last ([`artifact`]). It runs with the stack's package role (the only writer of the
/// bucket), never with the CI role, so a pull request's build cannot plant an artifact a
/// release deploys. The state machine skips a package whose marker object exists (an artifact
/// of the same content, built by an earlier release to any environment).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PackageSpec {
    /// The component.
    pub component: ComponentName,
    /// The artifact's key ([`crate::release::artifact_key`]): its outputs are the objects
    /// under `s3://<bucket>/<repository>/<key>/`, at their paths relative to the checkout.
    pub key: String,
    /// The object key of the completion marker in the artifact bucket,
    /// `<repository>/<key>.complete` ([`ArtifactLocation::marker`]): written last by the
    /// package build; while it is missing the artifact does not exist.
    #[serde(default)]
    pub marker: String,
    /// The buildspec override: the package commands, then the upload, then the marker.
    pub buildspec: String,
    /// CodeBuild image.
    pub image: String,
    /// CodeBuild compute type.
    pub compute_type: String,
    /// Build timeout in minutes.
    pub timeout_minutes: u32,
    /// The Step Functions task's own timeout.
    pub task_timeout_seconds: u64,
    /// Its variables: `GATE_ACTION=package`, the release's facts and `GATE_COMPONENT`, as
    /// locally (a package build has no `GATE_ARTIFACT_DIR`: it makes the artifact).
    pub env: Vec<EnvVar>,
}

impl ReleaseExecutionInput {
    /// Every deploy in the order a rollback undoes them: the last wave first, each wave's
    /// deploys in reverse.
    pub fn rollback_order(&self) -> Vec<&DeploySpec> {
        self.waves
            .iter()
            .rev()
            .flat_map(|w| w.deploys.iter().rev())
            .collect()
    }
}

/// The artifact keys of a release's packaged components ([`crate::release::artifact_key`]),
/// by component name.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ArtifactKeys {
    /// At the released commit: the package builds and the deploys.
    pub released: BTreeMap<String, String>,
    /// At the previous release, with the released gate file (as the local rollback computes
    /// them): the rollbacks that deploy the previous release again.
    pub previous: BTreeMap<String, String>,
}

/// Where a release runs on AWS, besides its plan.
#[derive(Debug, Clone)]
pub struct ReleaseTarget<'a> {
    /// The repository.
    pub repository: &'a RepositoryName,
    /// The lane's sequence number of this release.
    pub sequence: u64,
    /// The repository's release CodeBuild project.
    pub project: &'a str,
    /// The environment's deploy role.
    pub deploy_role_arn: &'a str,
    /// The stack's artifact bucket.
    pub artifact_bucket: &'a str,
    /// Image and compute type of builds that name none.
    pub build: &'a BuildDefaults,
}

impl ReleaseTarget<'_> {
    /// Where the artifact with `key` lives.
    fn artifact<'k>(&'k self, key: &'k str) -> ArtifactLocation<'k> {
        ArtifactLocation {
            bucket: self.artifact_bucket,
            repository: self.repository.as_str(),
            key,
        }
    }
}

/// The input of the release of `plan` (made from `gate`, the gate file at the released
/// commit): the environment's checks as stages, the approval, the package builds, the waves of
/// deploys with their rollbacks. `buildspecs` holds the commands of the `buildspec:` files the
/// checks name, read at the released commit; `artifact_keys` the key of each packaged
/// component's artifact: every deployed component with a `package` and a key gets a package
/// build and downloads its artifact before its deploy commands (one without a key gets
/// neither), and a rollback that deploys the previous release again downloads the previous
/// key's artifact.
pub fn release_input(
    gate: &Gate,
    plan: &ReleasePlan,
    target: &ReleaseTarget<'_>,
    buildspecs: &BTreeMap<String, Result<Vec<String>, String>>,
    artifact_keys: &ArtifactKeys,
) -> Result<ReleaseExecutionInput, BuildspecError> {
    let previous = plan.previous.as_deref().unwrap_or("");
    let facts = ReleaseFacts {
        action: Action::Check,
        environment: &plan.environment,
        component: None,
        commit: &plan.commit,
        previous,
        artifact: None,
    };
    let checks_plan = Plan {
        checks: plan.checks.clone(),
        ..Plan::empty()
    };
    let checks = super::stages(
        gate,
        &checks_plan,
        &facts.env(),
        buildspecs,
        target.build,
        super::release_buildspec,
        &super::cache::CacheScope {
            location: target.build.cache_location.as_deref(),
            repository: target.repository.as_str(),
            commit: &plan.commit,
            access: super::cache::CacheAccess::RestoreAndSave,
        },
    )?;
    let waves = plan
        .waves()
        .into_iter()
        .map(|wave| WaveSpec {
            deploys: wave
                .into_iter()
                .filter_map(|name| deploy_spec(gate, plan, name, target, artifact_keys))
                .collect(),
        })
        .collect();
    Ok(ReleaseExecutionInput {
        version: RELEASE_INPUT_VERSION,
        execution_name: super::release_execution_name(
            target.repository,
            &plan.environment,
            &plan.commit,
            target.sequence,
        ),
        repository: target.repository.clone(),
        environment: plan.environment.clone(),
        commit: CommitId::new(plan.commit.clone()),
        previous: plan.previous.clone().map(CommitId::new),
        sequence: target.sequence,
        project: target.project.to_owned(),
        deploy_role_arn: target.deploy_role_arn.to_owned(),
        checks,
        approval: plan.approval.required.then(|| ApprovalSpec {
            approvers: plan.approval.approvers.clone(),
            timeout_seconds: u64::from(plan.approval.timeout_minutes) * 60,
        }),
        packages: package_specs(gate, plan, target, &artifact_keys.released),
        waves,
        pushed_by: None,
        plan: plan.clone(),
    })
}

/// The package builds of the deployed components with a `package` and an artifact key, in
/// the plan's order.
fn package_specs(
    gate: &Gate,
    plan: &ReleasePlan,
    target: &ReleaseTarget<'_>,
    artifact_keys: &BTreeMap<String, String>,
) -> Vec<PackageSpec> {
    plan.deployed()
        .filter_map(|c| {
            let component = gate.components.iter().find(|g| g.name == c.name)?;
            let key = artifact_keys.get(c.name.as_str())?;
            package_spec(plan, component, target, key)
        })
        .collect()
}

/// One component's package build: its commands, then the upload of its outputs and the marker.
fn package_spec(
    plan: &ReleasePlan,
    component: &Component,
    target: &ReleaseTarget<'_>,
    key: &str,
) -> Option<PackageSpec> {
    let package = component.package.as_ref()?;
    let at = target.artifact(key);
    let mut commands = package.commands.clone();
    commands.extend(at.upload_lines(&package.outputs));
    let facts = ReleaseFacts {
        action: Action::Package,
        environment: &plan.environment,
        component: Some(component.name.as_str()),
        commit: &plan.commit,
        previous: plan.previous.as_deref().unwrap_or(""),
        artifact: None,
    };
    // As locally: a package build may take as long as the component's deploy.
    let minutes = component.deploy.as_ref().map_or(30, |d| d.timeout_minutes);
    Some(PackageSpec {
        component: component.name.clone(),
        key: key.to_owned(),
        marker: at.marker(),
        buildspec: super::release_buildspec(&commands),
        image: target.build.image.clone(),
        compute_type: target.build.compute_type.clone(),
        timeout_minutes: minutes,
        task_timeout_seconds: u64::from(minutes) * 60 + TASK_TIMEOUT_SLACK_SECONDS,
        env: facts.env(),
    })
}

/// A deploy's buildspec: with an artifact, its download into `$GATE_ARTIFACT_DIR` in
/// pre_build, then the commands.
fn deploy_buildspec(artifact: Option<&ArtifactLocation<'_>>, commands: &[String]) -> String {
    match artifact {
        Some(at) => {
            let download = at.download_lines();
            let prelude: Vec<&str> = download.iter().map(String::as_str).collect();
            super::buildspec_after(&prelude, commands)
        }
        None => super::release_buildspec(commands),
    }
}

/// One component's deploy and rollback builds.
fn deploy_spec(
    gate: &Gate,
    plan: &ReleasePlan,
    name: &ComponentName,
    target: &ReleaseTarget<'_>,
    artifact_keys: &ArtifactKeys,
) -> Option<DeploySpec> {
    let component = gate.components.iter().find(|c| &c.name == name)?;
    let deploy = component.deploy.as_ref()?;
    let previous = plan.previous.as_deref();
    let artifact_key = packaged_key(&artifact_keys.released, component);
    let artifact = artifact_key.map(|key| target.artifact(key));
    let facts = ReleaseFacts {
        action: Action::Deploy,
        environment: &plan.environment,
        component: Some(name.as_str()),
        commit: &plan.commit,
        previous: previous.unwrap_or(""),
        artifact: artifact.as_ref().map(|_| ARTIFACT_DIR),
    };
    let own = || deploy.env.iter().map(|(k, v)| EnvVar::plain(k, v));
    let mut env = facts.env();
    env.extend(own());
    Some(DeploySpec {
        component: name.clone(),
        buildspec: deploy_buildspec(artifact.as_ref(), &deploy.commands),
        image: target.build.image.clone(),
        compute_type: target.build.compute_type.clone(),
        timeout_minutes: deploy.timeout_minutes,
        task_timeout_seconds: u64::from(deploy.timeout_minutes) * 60 + TASK_TIMEOUT_SLACK_SECONDS,
        env,
        artifact_key: artifact_key.cloned(),
        rollback: rollback_spec(
            &facts,
            deploy,
            packaged_key(&artifact_keys.previous, component),
            target,
            own().collect(),
        ),
    })
}

/// `component`'s key in `keys`, when it has a `package`.
fn packaged_key<'k>(
    keys: &'k BTreeMap<String, String>,
    component: &Component,
) -> Option<&'k String> {
    keys.get(component.name.as_str())
        .filter(|_| component.package.is_some())
}

/// How a deploy with `facts` is undone: its `rollback` commands at the released commit, else
/// its deploy commands at the previous release (with the previous release's artifact when
/// `previous_key` names one), else nothing.
fn rollback_spec(
    facts: &ReleaseFacts<'_>,
    deploy: &Deploy,
    previous_key: Option<&String>,
    target: &ReleaseTarget<'_>,
    own: Vec<EnvVar>,
) -> RollbackSpec {
    let previous = Some(facts.previous).filter(|p| !p.is_empty());
    let (source_version, commands, key) = match (&deploy.rollback, previous) {
        (Some(commands), _) => (Some(facts.commit), Some(commands), None),
        (None, Some(p)) => (Some(p), Some(&deploy.commands), previous_key),
        (None, None) => (None, None, None),
    };
    let artifact = key.map(|key| target.artifact(key));
    let back = ReleaseFacts {
        action: Action::Rollback,
        commit: previous.unwrap_or(""),
        previous: facts.commit,
        artifact: artifact.as_ref().map(|_| ARTIFACT_DIR),
        ..*facts
    };
    let mut env = back.env();
    env.extend(own);
    RollbackSpec {
        source_version: source_version.map(CommitId::new),
        buildspec: commands.map(|c| rollback_buildspec(artifact.as_ref(), c)),
        env,
        artifact_key: key.cloned(),
    }
}

/// A rollback's buildspec: as a deploy's, with a check that the previous artifact is complete
/// before its download.
fn rollback_buildspec(artifact: Option<&ArtifactLocation<'_>>, commands: &[String]) -> String {
    match artifact {
        Some(at) => {
            let mut lines = vec![at.require_line()];
            lines.extend(at.download_lines());
            let prelude: Vec<&str> = lines.iter().map(String::as_str).collect();
            super::buildspec_after(&prelude, commands)
        }
        None => super::release_buildspec(commands),
    }
}
