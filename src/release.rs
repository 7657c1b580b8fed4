//! Releases, the pure part: what a release of an environment at a commit deploys, in which
//! waves, after which checks and whose approval; and the records a release leaves.
//!
//! The previous commit P is the environment's last successful release. The components whose
//! paths changed between P and the released commit C are affected, with every component that
//! depends on them, exactly as for a pull request ([`crate::plan::plan`]: `global`, `ignore`
//! and `unmatched` apply). The first release (no P) affects every component. The environment's
//! checks run when the affected components select them; then the affected components that
//! have a `deploy` are deployed in waves: a component after everything it depends on,
//! independent ones together.

use crate::gate_file::Gate;
use crate::ids::{CheckName, ComponentName};
use crate::plan::{self, ChangedPath, PlanInput, PlannedCheck, Reason};
use crate::policy::{CheckResult, CheckStatus};
use serde::{Deserialize, Serialize};
use std::collections::VecDeque;

pub mod finished;
pub mod lane;

/// What a release plan is made from.
#[derive(Debug, Clone, Copy)]
pub struct ReleaseInput<'a> {
    /// The environment's name (one of the gate file's `environments`).
    pub environment: &'a str,
    /// The commit being released (C).
    pub commit: &'a str,
    /// The environment's last successful release (P); `None` the first time.
    pub previous: Option<&'a str>,
    /// The paths changed between P and C (ignored when there is no P).
    pub changes: &'a [ChangedPath],
}

/// One affected component of a release.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReleaseComponent {
    /// The component.
    pub name: ComponentName,
    /// Whether this release deploys it (it has a `deploy`).
    pub deploy: bool,
    /// Its deploy wave (0 first); `None` when it is not deployed.
    pub wave: Option<usize>,
    /// Why it is affected.
    pub reasons: Vec<Reason>,
}

/// The approval a release needs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApprovalPlan {
    /// Whether a person must approve before anything deploys.
    pub required: bool,
    /// Who may (identity globs as written).
    pub approvers: Vec<String>,
    /// Minutes the gate waits for an answer (0 when none is needed).
    pub timeout_minutes: u32,
}

/// What a release of one environment at one commit does.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReleasePlan {
    /// The environment.
    pub environment: String,
    /// Its branch.
    pub branch: String,
    /// The commit being released (C).
    pub commit: String,
    /// The environment's last successful release (P), `None` the first time.
    pub previous: Option<String>,
    /// How many paths changed between P and C.
    pub changed_paths: usize,
    /// The affected components, deployed ones in wave order, then the others in file order.
    pub components: Vec<ReleaseComponent>,
    /// The environment's checks, in stage order: run or not, and why.
    pub checks: Vec<PlannedCheck>,
    /// The approval it needs.
    pub approval: ApprovalPlan,
}

impl ReleasePlan {
    /// The components deployed, in wave order.
    pub fn deployed(&self) -> impl Iterator<Item = &ReleaseComponent> {
        self.components.iter().filter(|c| c.deploy)
    }

    /// The deploy waves: component names, each wave after the ones before.
    pub fn waves(&self) -> Vec<Vec<&ComponentName>> {
        let mut waves: Vec<Vec<&ComponentName>> = Vec::new();
        for c in self.deployed() {
            let w = c.wave.unwrap_or(0);
            if waves.len() <= w {
                waves.resize_with(w + 1, Vec::new);
            }
            waves[w].push(&c.name);
        }
        waves
    }

    /// The plan of a release that was never planned (superseded while it waited): no
    /// component, no check.
    pub fn unplanned(environment: &str, commit: &str, previous: Option<&str>) -> Self {
        Self {
            environment: environment.to_owned(),
            branch: String::new(),
            commit: commit.to_owned(),
            previous: previous.map(str::to_owned),
            changed_paths: 0,
            components: Vec::new(),
            checks: Vec::new(),
            approval: ApprovalPlan {
                required: false,
                approvers: Vec::new(),
                timeout_minutes: 0,
            },
        }
    }

    /// The deploy waves by component name.
    pub fn wave_names(&self) -> Vec<Vec<&str>> {
        self.waves()
            .into_iter()
            .map(|w| w.into_iter().map(ComponentName::as_str).collect())
            .collect()
    }

    /// Whether the release has nothing to do: no check runs and nothing is deployed.
    pub fn is_empty(&self) -> bool {
        self.deployed().next().is_none() && !self.checks.iter().any(|c| c.run)
    }
}

/// Why a release cannot be planned.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReleasePlanError {
    /// The gate file has no environment of that name.
    #[error("the gate file has no environment `{name}`{}", known_list(.known))]
    UnknownEnvironment {
        /// The name asked for.
        name: String,
        /// The environments it has.
        known: Vec<String>,
    },
}

impl ReleasePlanError {
    /// `name` is not one of `gate`'s environments.
    pub fn unknown(gate: &Gate, name: &str) -> Self {
        Self::UnknownEnvironment {
            name: name.to_owned(),
            known: gate.environments.iter().map(|e| e.name.clone()).collect(),
        }
    }
}

fn known_list(known: &[String]) -> String {
    if known.is_empty() {
        ": it has no `environments` (docs/local.md, \"Releases\")".to_owned()
    } else {
        format!(" (it has: {})", known.join(", "))
    }
}

/// Plans the release of `input.environment` at `input.commit`. Pure and deterministic.
pub fn plan_release(
    gate: &Gate,
    input: &ReleaseInput<'_>,
) -> Result<ReleasePlan, ReleasePlanError> {
    let Some(environment) = gate.environment(input.environment) else {
        return Err(ReleasePlanError::unknown(gate, input.environment));
    };
    let (affected, mut checks) = match input.previous {
        None => first_release(gate),
        Some(_) => {
            let pr_plan = plan::plan(
                gate,
                &PlanInput {
                    changes: input.changes,
                    ..PlanInput::default()
                },
            );
            let affected = pr_plan
                .components
                .into_iter()
                .map(|c| c.affected.then_some(c.reasons))
                .collect();
            (affected, pr_plan.checks)
        }
    };
    let env_checks: Vec<&CheckName> = environment
        .checks
        .iter()
        .map(|&i| &gate.checks[i].name)
        .collect();
    checks.retain(|c| env_checks.contains(&&c.name));
    let approval = ApprovalPlan::of(environment);
    Ok(ReleasePlan {
        environment: environment.name.clone(),
        branch: environment.branch.clone(),
        commit: input.commit.to_owned(),
        previous: input.previous.map(str::to_owned),
        changed_paths: if input.previous.is_some() {
            input.changes.len()
        } else {
            0
        },
        components: release_components(gate, affected),
        checks,
        approval,
    })
}

impl ApprovalPlan {
    /// The approval `environment` asks for.
    pub fn of(environment: &crate::gate_file::Environment) -> ApprovalPlan {
        match &environment.approval {
            Some(a) => ApprovalPlan {
                required: true,
                approvers: a.approvers.patterns().to_vec(),
                timeout_minutes: a.timeout_minutes,
            },
            None => ApprovalPlan {
                required: false,
                approvers: Vec::new(),
                timeout_minutes: 0,
            },
        }
    }

    /// The approval a release needs, when `deployed` is the approval the environment's last
    /// release's gate file asks for (`None`: no last release, or its gate file names no such
    /// environment) and `self` the released commit's. The deployed side is trusted, as the
    /// destination's gate file is for a pull request: while it asks for an approval, that
    /// approval (its approvers, its timeout) governs, so a change cannot drop the approval it
    /// needs or name who approves it; a change may add an approval the environment did not
    /// have, which then governs this release already.
    pub fn governing(self, deployed: Option<ApprovalPlan>) -> ApprovalPlan {
        match deployed {
            Some(d) if d.required => d,
            _ => self,
        }
    }
}

/// The first release: every component affected, every check run.
fn first_release(gate: &Gate) -> (Vec<Option<Vec<Reason>>>, Vec<PlannedCheck>) {
    let affected = gate
        .components
        .iter()
        .map(|_| Some(vec![Reason::FirstRelease]))
        .collect();
    let mut checks: Vec<PlannedCheck> = gate
        .checks
        .iter()
        .map(|c| PlannedCheck {
            name: c.name.clone(),
            stage: c.stage.clone(),
            stage_index: c.stage_index,
            required: c.required,
            run: true,
            reasons: vec![Reason::FirstRelease],
        })
        .collect();
    checks.sort_by_key(|c| c.stage_index);
    (affected, checks)
}

/// The affected components (`affected[i]`: component `i`'s reasons, when affected) with their
/// waves: deployed ones first, by wave then file order.
fn release_components(gate: &Gate, affected: Vec<Option<Vec<Reason>>>) -> Vec<ReleaseComponent> {
    let deployed: Vec<bool> = gate
        .components
        .iter()
        .zip(&affected)
        .map(|(c, a)| a.is_some() && c.deploy.is_some())
        .collect();
    let waves = waves(gate, &deployed);
    let mut components: Vec<ReleaseComponent> = gate
        .components
        .iter()
        .zip(affected)
        .enumerate()
        .filter_map(|(i, (c, reasons))| {
            reasons.map(|reasons| ReleaseComponent {
                name: c.name.clone(),
                deploy: deployed[i],
                wave: waves[i],
                reasons,
            })
        })
        .collect();
    components.sort_by_key(|c| (!c.deploy, c.wave));
    components
}

/// The deploy wave of each component in `deployed` (`None` for the others): 0 when nothing it
/// depends on, directly or through components that are not deployed, is deployed too; else one
/// more than the latest such wave. The gate file refuses cycles through deployed components,
/// so the waves exist; a component left in a cycle anyway gets no wave rather than a wrong one.
pub fn waves(gate: &Gate, deployed: &[bool]) -> Vec<Option<usize>> {
    let n = gate.components.len();
    // Edges between deployed components through any path of dependencies.
    let mut needs: Vec<Vec<usize>> = vec![Vec::new(); n];
    for (i, needs_i) in needs.iter_mut().enumerate().filter(|(i, _)| deployed[*i]) {
        let mut seen = vec![false; n];
        let mut queue: VecDeque<usize> = gate.components[i].depends_on.iter().copied().collect();
        while let Some(d) = queue.pop_front() {
            if std::mem::replace(&mut seen[d], true) {
                continue;
            }
            if deployed[d] && d != i {
                needs_i.push(d);
            }
            queue.extend(gate.components[d].depends_on.iter().copied());
        }
    }
    let mut waiting: Vec<usize> = needs.iter().map(Vec::len).collect();
    let mut dependents: Vec<Vec<usize>> = vec![Vec::new(); n];
    for (i, ds) in needs.iter().enumerate() {
        for &d in ds {
            dependents[d].push(i);
        }
    }
    let mut wave: Vec<Option<usize>> = vec![None; n];
    let mut ready: VecDeque<usize> = (0..n).filter(|&i| deployed[i] && waiting[i] == 0).collect();
    for &i in &ready {
        wave[i] = Some(0);
    }
    while let Some(c) = ready.pop_front() {
        let next = wave[c].unwrap_or(0) + 1;
        for &d in &dependents[c] {
            wave[d] = Some(wave[d].map_or(next, |w| w.max(next)));
            waiting[d] -= 1;
            if waiting[d] == 0 {
                ready.push_back(d);
            }
        }
    }
    for i in 0..n {
        if waiting[i] > 0 {
            wave[i] = None;
        }
    }
    wave
}

/// The key of a component's artifact: the files it is built from at the released commit
/// (path and git object id of each, as `git ls-tree -r` lists them, in any order) and its
/// package commands and outputs. The files it is built from are its own, those of every
/// component it depends on (directly or not) and the `global` ones (toolchain, lock files):
/// the same files whose change redeploys it. The same content built the same way has the same
/// key, in every environment.
pub fn artifact_key<'a>(
    gate: &Gate,
    component: usize,
    files: impl IntoIterator<Item = (&'a str, &'a str)>,
) -> Option<String> {
    let package = gate.components.get(component)?.package.as_ref()?;
    let inputs = crate::reuse::depended_on(gate, &[component]);
    let commands: Vec<&str> = package.commands.iter().map(String::as_str).collect();
    let outputs: Vec<&str> = package.outputs.iter().map(String::as_str).collect();
    Some(crate::reuse::content_key(
        files,
        |path| gate.global.is_match(path) || gate.components_of(path).iter().any(|&c| inputs[c]),
        &[&commands, &outputs],
    ))
}

/// How a release ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReleaseOutcome {
    /// Every deploy passed: the environment is at the released commit.
    Released,
    /// No check ran and nothing was deployed: the environment moved to the commit.
    NothingToRelease,
    /// A required check failed: nothing was deployed.
    ChecksFailed,
    /// A package build failed: nothing was deployed.
    PackageFailed,
    /// Nobody approved (no terminal and no `--approve`, or the wait ran out).
    ApprovalMissing,
    /// The approval was refused (by the person asked, or because they may not approve).
    ApprovalRefused,
    /// A deploy failed: what this release deployed was rolled back.
    DeployFailed,
    /// Stopped (Ctrl-C): what this release deployed was rolled back.
    Interrupted,
    /// A newer push to the environment replaced it while it waited: it never ran.
    Superseded,
    /// The release machine broke outside any build, or a step the release needed never ran
    /// (on AWS): the environment did not move, and what was deployed was rolled back.
    Errored,
}

impl ReleaseOutcome {
    /// Whether the environment moved to the released commit.
    pub fn moved(self) -> bool {
        matches!(self, Self::Released | Self::NothingToRelease)
    }
}

/// Whether the environment's checks stop the release: a check the plan runs and that is
/// required has no result that passed. The same rule locally and on AWS.
pub fn checks_blocked(checks: &[PlannedCheck], results: &[CheckResult]) -> bool {
    checks.iter().filter(|c| c.run && c.required).any(|c| {
        !results
            .iter()
            .any(|r| r.name == c.name && r.status.is_success())
    })
}

/// What became of the approval.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ApprovalDecision {
    /// Approved by someone who may.
    Approved,
    /// Refused by the person asked.
    Refused,
    /// The approver is not one of `approvers`.
    NotAnApprover,
    /// The approver wrote part of the released change and may not approve it alone.
    Author,
    /// Nobody answered in time.
    TimedOut,
    /// Nobody could be asked (no terminal, no `--approve`).
    Missing,
}

impl ApprovalDecision {
    /// How the release ends for this decision: `None` when it goes on (approved), else
    /// [`ReleaseOutcome::ApprovalMissing`] (nobody answered) or
    /// [`ReleaseOutcome::ApprovalRefused`]. The same locally and on AWS.
    pub fn outcome(self) -> Option<ReleaseOutcome> {
        match self {
            ApprovalDecision::Approved => None,
            ApprovalDecision::Missing | ApprovalDecision::TimedOut => {
                Some(ReleaseOutcome::ApprovalMissing)
            }
            ApprovalDecision::Refused
            | ApprovalDecision::NotAnApprover
            | ApprovalDecision::Author => Some(ReleaseOutcome::ApprovalRefused),
        }
    }

    /// Whether `identity` may approve a release under `rule`, whose commits `authors` wrote:
    /// `None` when it may, else why not. One of `approvers` must match it, and an author of
    /// the released change cannot approve it alone (another approver must). The same rule
    /// for a person at a terminal and for an authenticated caller on AWS.
    pub fn refusal(
        rule: &crate::gate_file::Approval,
        identity: &str,
        authors: &[String],
    ) -> Option<ApprovalDecision> {
        if !rule.approvers.is_match(identity) {
            Some(ApprovalDecision::NotAnApprover)
        } else if authors.iter().any(|a| a == identity) {
            Some(ApprovalDecision::Author)
        } else {
            None
        }
    }
}

/// An approval as recorded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApprovalRecord {
    /// Who answered (`local:<email>` locally, an IAM ARN on AWS); empty when nobody did.
    pub approver: String,
    /// When, RFC 3339 UTC.
    pub at: String,
    /// What became of it.
    pub decision: ApprovalDecision,
    /// How the answer reached the gate on AWS (a comment or the function URL); none at a
    /// terminal, or when nobody answered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub channel: Option<crate::machine::release::payload::ApprovalChannel>,
    /// The reason given with a rejection.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

impl ApprovalRecord {
    /// A record of `decision` by `approver` at `at`, with no channel and no reason.
    pub fn new(
        approver: impl Into<String>,
        at: impl Into<String>,
        decision: ApprovalDecision,
    ) -> Self {
        Self {
            approver: approver.into(),
            at: at.into(),
            decision,
            channel: None,
            reason: None,
        }
    }
}

/// A package build, or its reuse.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PackageRecord {
    /// The component.
    pub component: ComponentName,
    /// The artifact's key ([`artifact_key`]).
    pub key: String,
    /// Whether a stored artifact was reused (nothing was built).
    pub reused: bool,
    /// The build's result (a reused artifact has none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub result: Option<CheckResult>,
}

/// One component's deploy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeployRecord {
    /// The component.
    pub component: ComponentName,
    /// Its wave.
    pub wave: usize,
    /// The artifact it deployed, when it has a package.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub artifact: Option<String>,
    /// How the deploy went (`not_run` when an earlier wave failed).
    pub result: CheckResult,
}

/// How a component was rolled back.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum RollbackHow {
    /// With its `rollback` commands.
    Commands,
    /// By deploying the previous release again.
    Redeploy {
        /// The previous release's commit.
        commit: String,
    },
    /// Not at all: it has no `rollback` and the environment had no previous release.
    Nothing,
}

/// One component's rollback.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RollbackRecord {
    /// The component.
    pub component: ComponentName,
    /// How.
    pub how: RollbackHow,
    /// How it went (none when there was nothing to run).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub result: Option<CheckResult>,
}

/// Everything one release did: the plan, the checks, the approval, the packages, the deploys
/// and the rollbacks, and how it ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReleaseRecord {
    /// Format version ([`RECORD_VERSION`]).
    pub version: u32,
    /// The release's id.
    pub id: String,
    /// The repository's name.
    pub repository: String,
    /// When it started, RFC 3339 UTC with milliseconds.
    pub started_at: String,
    /// How long it took.
    pub duration_ms: u64,
    /// Who started it.
    pub started_by: String,
    /// Whether `--force` released a commit that does not descend from the previous release.
    #[serde(default)]
    pub forced: bool,
    /// The plan.
    pub plan: ReleasePlan,
    /// The environment's checks that ran.
    pub checks: Vec<CheckResult>,
    /// The approval, when one was needed and asked for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub approval: Option<ApprovalRecord>,
    /// Package builds and reuses.
    #[serde(default)]
    pub packages: Vec<PackageRecord>,
    /// Deploys, in wave order.
    #[serde(default)]
    pub deploys: Vec<DeployRecord>,
    /// Rollbacks, in the order they ran (reverse deploy order).
    #[serde(default)]
    pub rollbacks: Vec<RollbackRecord>,
    /// How it ended.
    pub outcome: ReleaseOutcome,
}

/// The version of [`ReleaseRecord`] and [`EnvironmentState`].
pub const RECORD_VERSION: u32 = 1;

/// What is deployed in one environment: the last successful release and, per component, the
/// commit it was last deployed from.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct EnvironmentState {
    /// Format version.
    pub version: u32,
    /// The environment.
    pub environment: String,
    /// The last successful release's commit (P for the next release).
    pub commit: Option<String>,
    /// Its release id.
    pub release: Option<String>,
    /// When it finished.
    pub released_at: Option<String>,
    /// Per component, what is deployed.
    #[serde(default)]
    pub components: std::collections::BTreeMap<String, DeployedComponent>,
}

/// What is deployed of one component.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeployedComponent {
    /// The commit it was deployed from.
    pub commit: String,
    /// The release that deployed it.
    pub release: String,
    /// When.
    pub deployed_at: String,
    /// The artifact, when it has a package.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub artifact: Option<String>,
}

impl EnvironmentState {
    /// The state after `record` finished at `now`: moved to its commit, with its deployed
    /// components, when it released; unchanged otherwise (the next release retries).
    pub fn after(&self, record: &ReleaseRecord, now: &str) -> EnvironmentState {
        if !record.outcome.moved() {
            return self.clone();
        }
        let mut next = self.clone();
        next.version = RECORD_VERSION;
        next.environment = record.plan.environment.clone();
        next.commit = Some(record.plan.commit.clone());
        next.release = Some(record.id.clone());
        next.released_at = Some(now.to_owned());
        for d in &record.deploys {
            if d.result.status == CheckStatus::Passed {
                next.components.insert(
                    d.component.as_str().to_owned(),
                    DeployedComponent {
                        commit: record.plan.commit.clone(),
                        release: record.id.clone(),
                        deployed_at: now.to_owned(),
                        artifact: d.artifact.clone(),
                    },
                );
            }
        }
        next
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GATE: &str = r#"
stages: [test]
components:
  network: {paths: [infra/network/], deploy: {commands: [net]}}
  lib: {paths: [lib/], depends_on: [network]}
  app: {paths: [app/], depends_on: [lib], deploy: {commands: [app]}}
  web: {paths: [web/], deploy: {commands: [web]}}
  docs: {paths: [docs/]}
checks:
  unit: {stage: test, commands: [u]}
  app-e2e: {stage: test, components: [app], commands: [e]}
  web-e2e: {stage: test, components: [web], commands: [e]}
ignore: ["**/*.md"]
environments:
  development: {branch: development, checks: [unit, app-e2e]}
  production:
    branch: main
    checks: [unit, app-e2e, web-e2e]
    approval: {approvers: ["local:*"], timeout: 60}
"#;

    fn gate() -> Gate {
        Gate::parse(GATE, "t.yml").expect("valid")
    }

    fn release(env: &str, previous: Option<&str>, paths: &[&str]) -> ReleasePlan {
        let changes: Vec<ChangedPath> = paths.iter().map(|p| ChangedPath::new(*p)).collect();
        plan_release(
            &gate(),
            &ReleaseInput {
                environment: env,
                commit: "c",
                previous,
                changes: &changes,
            },
        )
        .expect("plans")
    }

    fn deployed(plan: &ReleasePlan) -> Vec<(&str, usize)> {
        plan.deployed()
            .map(|c| (c.name.as_str(), c.wave.expect("wave")))
            .collect()
    }

    #[test]
    fn the_first_release_deploys_everything_in_dependency_order() {
        let plan = release("production", None, &[]);
        assert_eq!(deployed(&plan), [("network", 0), ("web", 0), ("app", 1)]);
        assert!(plan.checks.iter().all(|c| c.run));
        assert_eq!(plan.checks.len(), 3);
        assert!(plan.approval.required);
        assert_eq!(plan.approval.timeout_minutes, 60);
    }

    #[test]
    fn a_dependency_redeploys_its_dependents_through_undeployed_components() {
        let plan = release("development", Some("p"), &["infra/network/vpc.yml"]);
        assert_eq!(deployed(&plan), [("network", 0), ("app", 1)]);
        let lib = plan.components.iter().find(|c| c.name.as_str() == "lib");
        assert!(lib.is_some_and(|c| !c.deploy && c.wave.is_none()));
        let run: Vec<&str> = plan
            .checks
            .iter()
            .filter(|c| c.run)
            .map(|c| c.name.as_str())
            .collect();
        assert_eq!(run, ["unit", "app-e2e"], "only the environment's checks");
        assert!(!plan.approval.required);
    }

    #[test]
    fn one_component_deploys_alone_and_its_checks_are_selected() {
        let plan = release("production", Some("p"), &["web/index.html"]);
        assert_eq!(deployed(&plan), [("web", 0)]);
        let e2e: Vec<(&str, bool)> = plan
            .checks
            .iter()
            .map(|c| (c.name.as_str(), c.run))
            .collect();
        assert_eq!(e2e, [("unit", true), ("app-e2e", false), ("web-e2e", true)]);
    }

    #[test]
    fn ignored_changes_release_nothing() {
        let plan = release("production", Some("p"), &["README.md", "app/NOTES.md"]);
        assert!(plan.components.is_empty());
        assert!(plan.is_empty());
        assert_eq!(plan.changed_paths, 2);
    }

    #[test]
    fn an_unknown_environment_names_the_known_ones() {
        let e = plan_release(
            &gate(),
            &ReleaseInput {
                environment: "prod",
                commit: "c",
                previous: None,
                changes: &[],
            },
        )
        .expect_err("unknown");
        assert_eq!(
            e.to_string(),
            "the gate file has no environment `prod` (it has: development, production)"
        );
        let none = Gate::parse(
            "stages: [t]\nchecks: {u: {stage: t, commands: [x]}}\n",
            "g.yml",
        )
        .expect("valid");
        assert_eq!(
            ReleasePlanError::unknown(&none, "prod").to_string(),
            "the gate file has no environment `prod`: it has no `environments` (docs/local.md, \"Releases\")"
        );
    }

    #[test]
    fn waves_group_independent_components() {
        let plan = release("production", None, &[]);
        assert_eq!(plan.wave_names(), [vec!["network", "web"], vec!["app"]]);
    }
}
