//! The steps of a release that run commands: the environment's checks, the package builds,
//! the deploys in waves and the rollback of a failed release. Each runs on the local runner,
//! with its logs under the release's folder (`checks/`, `package/`, `deploy/`, `rollback/`).

use super::Release;
use super::artifacts::Artifacts;
use crate::gate_file::Gate;
use crate::ids::CheckName;
use crate::local::cleanup::Cancel;
use crate::local::runner::{CheckJob, KILL_GRACE, Runner, StageJobs, scaled_minutes};
use crate::local::session;
use crate::local::worktree::Worktree;
use crate::machine::release::{Action, ReleaseFacts};
use crate::plan::Plan;
use crate::policy::{CheckResult, CheckStatus};
use crate::release::{
    DeployRecord, PackageRecord, ReleaseOutcome, RollbackHow, RollbackRecord, artifact_key,
};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// A built or reused artifact: its key and folder, by component.
pub type Built = BTreeMap<String, (String, PathBuf)>;

/// What the command-running steps share: the release and the checkout of its commit.
pub struct Steps<'r, 'a> {
    release: &'r mut Release<'a>,
    cwd: &'r Path,
}

/// The `GATE_*` variables of `facts` (the same as on AWS) as the runner's pairs.
fn pairs(facts: &ReleaseFacts<'_>) -> Vec<(String, String)> {
    facts.env().into_iter().map(|v| (v.name, v.value)).collect()
}

/// A job that runs `commands` for `component` (its log is `<component>.log`).
fn job(
    component: &str,
    stage: &str,
    commands: &[String],
    env: Vec<(String, String)>,
    minutes: u32,
    scale: f64,
) -> CheckJob {
    CheckJob {
        name: CheckName::new(component),
        stage: stage.to_owned(),
        required: true,
        commands: Ok(commands.to_vec()),
        env,
        timeout: scaled_minutes(minutes, scale),
        retries: 0,
        retry_on_failure: false,
        reports: None,
    }
}

impl<'r, 'a> Steps<'r, 'a> {
    /// The steps of `release`, running in `cwd` (a checkout of the released commit).
    pub fn new(release: &'r mut Release<'a>, cwd: &'r Path) -> Self {
        Self { release, cwd }
    }

    fn gate(&self) -> &Gate {
        &self.release.prepared.gate
    }

    fn log_dir(&self, step: &str) -> PathBuf {
        self.release
            .records
            .release_dir(&self.release.record.id)
            .join(step)
    }

    /// Runs `stages` in `cwd`, logging under `step/`, stopped by `cancel`.
    fn run(
        &self,
        step: &str,
        cwd: &Path,
        stages: &[StageJobs],
        cancel: &Cancel,
    ) -> Vec<CheckResult> {
        let log_dir = self.log_dir(step);
        let runner = Runner {
            cwd,
            log_dir: &log_dir,
            jobs: self.release.request.jobs.max(1),
            kill_grace: KILL_GRACE.mul_f64(self.release.request.timeout_scale.clamp(0.0, 1.0)),
            cancel,
            progress: self.release.progress,
        };
        runner.run(stages)
    }

    fn facts<'f>(&'f self, action: Action, component: Option<&'f str>) -> ReleaseFacts<'f> {
        let plan = &self.release.record.plan;
        ReleaseFacts {
            action,
            environment: &plan.environment,
            component,
            commit: &plan.commit,
            previous: plan.previous.as_deref().unwrap_or(""),
            artifact: None,
        }
    }

    /// The environment's checks the plan runs; `Some` ends the release (a required check
    /// failed: nothing is deployed).
    pub fn checks(&mut self) -> Option<ReleaseOutcome> {
        let plan = Plan {
            checks: self.release.record.plan.checks.clone(),
            ..Plan::empty()
        };
        plan.to_run().next()?;
        let repo = &self.release.prepared.repo;
        let buildspecs =
            session::buildspecs_at(repo, self.gate(), &plan, &self.release.record.plan.commit);
        let facts = pairs(&self.facts(Action::Check, None));
        let scale = self.release.request.timeout_scale;
        let stages = session::jobs(self.gate(), &plan, &buildspecs, &facts, scale);
        let results = self.run("checks", self.cwd, &stages, self.release.cancel);
        let failed = crate::release::checks_blocked(&plan.checks, &results);
        self.release.record.checks = results;
        if self.release.cancel.is_cancelled() {
            Some(ReleaseOutcome::Interrupted)
        } else if failed {
            Some(ReleaseOutcome::ChecksFailed)
        } else {
            None
        }
    }

    /// Builds (or finds) the artifact of every deployed component with a `package`; `Err`
    /// ends the release (a build failed: nothing is deployed).
    pub fn packages(&mut self) -> Result<Built, ReleaseOutcome> {
        let commit = self.release.record.plan.commit.clone();
        let packaged: Vec<String> = self
            .release
            .record
            .plan
            .deployed()
            .map(|c| c.name.as_str().to_owned())
            .filter(|n| {
                self.index(n)
                    .is_some_and(|i| self.gate().components[i].package.is_some())
            })
            .collect();
        let (built, records) = self.package_at(&commit, &packaged, self.cwd, self.release.cancel);
        let failed = records
            .iter()
            .any(|r| r.result.as_ref().is_some_and(|r| !r.status.is_success()));
        self.release.record.packages = records;
        if self.release.cancel.is_cancelled() {
            Err(ReleaseOutcome::Interrupted)
        } else if failed {
            Err(ReleaseOutcome::PackageFailed)
        } else {
            Ok(built)
        }
    }

    fn index(&self, component: &str) -> Option<usize> {
        self.gate()
            .components
            .iter()
            .position(|c| c.name.as_str() == component)
    }

    /// The artifacts of `components` at `commit` (checked out in `cwd`): reused from the
    /// store, else built there in parallel and stored.
    fn package_at(
        &self,
        commit: &str,
        components: &[String],
        cwd: &Path,
        cancel: &Cancel,
    ) -> (Built, Vec<PackageRecord>) {
        if components.is_empty() {
            return (Built::new(), Vec::new());
        }
        let store = Artifacts::new(&self.release.prepared.store);
        let (mut built, mut records, to_build) = self.stored(&store, commit, components);
        let scale = self.release.request.timeout_scale;
        let jobs: Vec<CheckJob> = to_build
            .iter()
            .filter_map(|(i, _)| {
                let c = &self.gate().components[*i];
                let package = c.package.as_ref()?;
                let minutes = c.deploy.as_ref().map_or(30, |d| d.timeout_minutes);
                let env = pairs(&self.facts(Action::Package, Some(c.name.as_str())));
                Some(job(
                    c.name.as_str(),
                    "package",
                    &package.commands,
                    env,
                    minutes,
                    scale,
                ))
            })
            .collect();
        let stage = StageJobs {
            name: "package".to_owned(),
            checks: jobs,
        };
        let results = self.run("package", cwd, std::slice::from_ref(&stage), cancel);
        for ((i, key), result) in to_build.into_iter().zip(results) {
            let c = &self.gate().components[i];
            let outputs = c
                .package
                .as_ref()
                .map(|p| p.outputs.as_slice())
                .unwrap_or_default();
            let (dir, result) = store_outputs(&store, c.name.as_str(), &key, cwd, outputs, result);
            if let Some(dir) = dir {
                built.insert(c.name.as_str().to_owned(), (key.clone(), dir));
            }
            records.push(PackageRecord {
                component: c.name.clone(),
                key,
                reused: false,
                result: Some(result),
            });
        }
        (built, records)
    }

    /// Splits `components` into those whose artifact at `commit` is stored (reused, with
    /// their records) and those to build: (component index, key).
    fn stored(
        &self,
        store: &Artifacts,
        commit: &str,
        components: &[String],
    ) -> (Built, Vec<PackageRecord>, Vec<(usize, String)>) {
        let mut built = Built::new();
        let mut records = Vec::new();
        let mut to_build = Vec::new();
        let files = self
            .release
            .prepared
            .repo
            .files_at(commit)
            .unwrap_or_default();
        for name in components {
            let Some(i) = self.index(name) else { continue };
            let files = files.iter().map(|(p, o)| (p.as_str(), o.as_str()));
            let Some(key) = artifact_key(self.gate(), i, files) else {
                continue;
            };
            match store.find(name, &key) {
                Some(dir) => {
                    records.push(PackageRecord {
                        component: self.gate().components[i].name.clone(),
                        key: key.clone(),
                        reused: true,
                        result: None,
                    });
                    built.insert(name.clone(), (key, dir));
                }
                None => to_build.push((i, key)),
            }
        }
        (built, records, to_build)
    }

    /// Deploys the plan's components wave by wave; a wave that does not pass stops the
    /// release and rolls back what it deployed.
    pub fn deploys(&mut self, built: &Built) -> ReleaseOutcome {
        let waves: Vec<Vec<String>> = self
            .release
            .record
            .plan
            .waves()
            .into_iter()
            .map(|w| w.into_iter().map(|c| c.as_str().to_owned()).collect())
            .collect();
        let mut failed = false;
        for (n, wave) in waves.iter().enumerate() {
            let stopped = failed || self.release.cancel.is_cancelled();
            let results = if stopped {
                wave.iter()
                    .map(|c| CheckResult::not_run(&CheckName::new(c.as_str())))
                    .collect()
            } else {
                self.deploy_wave(n, wave, built)
            };
            failed |= results.iter().any(|r| !r.status.is_success());
            for (component, result) in wave.iter().zip(results) {
                let Some(i) = self.index(component) else {
                    continue;
                };
                self.release.record.deploys.push(DeployRecord {
                    component: self.gate().components[i].name.clone(),
                    wave: n,
                    artifact: built.get(component).map(|(k, _)| k.clone()),
                    result,
                });
            }
        }
        let interrupted = self.release.cancel.is_cancelled();
        if failed || interrupted {
            self.rollback();
        }
        match (interrupted, failed) {
            (true, _) => ReleaseOutcome::Interrupted,
            (false, true) => ReleaseOutcome::DeployFailed,
            (false, false) => ReleaseOutcome::Released,
        }
    }

    /// Deploys one wave's components at once (up to `--jobs`).
    fn deploy_wave(&self, n: usize, wave: &[String], built: &Built) -> Vec<CheckResult> {
        let scale = self.release.request.timeout_scale;
        let stage_name = format!("deploy wave {}", n + 1);
        let jobs: Vec<CheckJob> = wave
            .iter()
            .filter_map(|name| {
                let c = &self.gate().components[self.index(name)?];
                let deploy = c.deploy.as_ref()?;
                let artifact = built.get(name).map(|(_, dir)| dir.to_string_lossy());
                let mut facts = self.facts(Action::Deploy, Some(name));
                facts.artifact = artifact.as_deref();
                let mut env = pairs(&facts);
                env.extend(deploy.env.iter().map(|(k, v)| (k.clone(), v.clone())));
                Some(job(
                    name,
                    &stage_name,
                    &deploy.commands,
                    env,
                    deploy.timeout_minutes,
                    scale,
                ))
            })
            .collect();
        let stage = StageJobs {
            name: stage_name,
            checks: jobs,
        };
        self.run(
            "deploy",
            self.cwd,
            std::slice::from_ref(&stage),
            self.release.cancel,
        )
    }

    /// Rolls back, in reverse order, every component whose deploy started (a failed deploy
    /// may have changed something too): with its `rollback` commands, else by deploying the
    /// previous release again in a checkout of it. Runs even after Ctrl-C (a second Ctrl-C
    /// stops everything at once).
    fn rollback(&mut self) {
        let started: Vec<String> = self
            .release
            .record
            .deploys
            .iter()
            .rev()
            .filter(|d| d.result.attempts > 0)
            .map(|d| d.component.as_str().to_owned())
            .collect();
        let cancel = Cancel::new();
        let mut previous_checkout: Option<Worktree> = None;
        for name in started {
            let (how, result) = self.rollback_one(&name, &mut previous_checkout, &cancel);
            let Some(i) = self.index(&name) else { continue };
            let component = self.gate().components[i].name.clone();
            self.release.record.rollbacks.push(RollbackRecord {
                component,
                how,
                result,
            });
        }
    }

    /// Rolls back one component: how, and the result when something ran. The checkout of
    /// the previous release is made the first time a component needs it.
    fn rollback_one(
        &self,
        name: &str,
        previous_checkout: &mut Option<Worktree>,
        cancel: &Cancel,
    ) -> (RollbackHow, Option<CheckResult>) {
        let previous = self.release.record.plan.previous.clone();
        let Some(i) = self.index(name) else {
            return (RollbackHow::Nothing, None);
        };
        let Some(deploy) = self.gate().components[i].deploy.clone() else {
            return (RollbackHow::Nothing, None);
        };
        let (how, cwd, commands, artifact) = match (&deploy.rollback, &previous) {
            (Some(commands), _) => (
                RollbackHow::Commands,
                self.cwd.to_path_buf(),
                commands.clone(),
                None,
            ),
            (None, Some(p)) => {
                let how = RollbackHow::Redeploy { commit: p.clone() };
                if previous_checkout.is_none() {
                    *previous_checkout = Worktree::add(&self.release.prepared.repo, p).ok();
                }
                let Some(checkout) = previous_checkout.as_ref() else {
                    return (how, None);
                };
                let artifact = self.previous_artifact(i, p, checkout.path(), cancel);
                (
                    how,
                    checkout.path().to_path_buf(),
                    deploy.commands.clone(),
                    artifact,
                )
            }
            (None, None) => return (RollbackHow::Nothing, None),
        };
        let commit = previous.unwrap_or_default();
        let artifact = artifact.as_deref().map(Path::to_string_lossy);
        let mut facts = self.facts(Action::Rollback, Some(name));
        facts.commit = &commit;
        facts.previous = &self.release.record.plan.commit;
        facts.artifact = artifact.as_deref();
        let mut env = pairs(&facts);
        env.extend(deploy.env.iter().map(|(k, v)| (k.clone(), v.clone())));
        let scale = self.release.request.timeout_scale;
        let stage = StageJobs {
            name: "rollback".to_owned(),
            checks: vec![job(
                name,
                "rollback",
                &commands,
                env,
                deploy.timeout_minutes,
                scale,
            )],
        };
        let result = self
            .run("rollback", &cwd, std::slice::from_ref(&stage), cancel)
            .pop();
        (how, result)
    }

    /// The artifact of component `i` at the previous release, built there when it is not
    /// stored (a rollback deploys what was deployed before).
    fn previous_artifact(
        &self,
        i: usize,
        previous: &str,
        cwd: &Path,
        cancel: &Cancel,
    ) -> Option<PathBuf> {
        self.gate().components[i].package.as_ref()?;
        let name = self.gate().components[i].name.as_str().to_owned();
        let (built, _) = self.package_at(previous, std::slice::from_ref(&name), cwd, cancel);
        built.get(&name).map(|(_, dir)| dir.clone())
    }
}

/// Stores a passed package build's outputs: the artifact's folder, and the result (failed
/// when the outputs cannot be stored, with the reason as its log tail).
fn store_outputs(
    store: &Artifacts,
    component: &str,
    key: &str,
    cwd: &Path,
    outputs: &[String],
    mut result: CheckResult,
) -> (Option<PathBuf>, CheckResult) {
    if result.status != CheckStatus::Passed {
        return (None, result);
    }
    match store.save(component, key, cwd, outputs) {
        Ok(dir) => (Some(dir), result),
        Err(problem) => {
            result.status = CheckStatus::Failed;
            result.log_tail = Some(problem);
            (None, result)
        }
    }
}
