//! The release half of the gate file: each component's `deploy` and `package`, and the
//! `environments` a release goes through. Validated like the rest of the file (line, column,
//! hint, references checked), after the components and checks it refers to.

use super::{
    DEFAULT_TIMEOUT_MINUTES, Errors, Globs, NAME_HINT, at, check_env, check_timeout,
    compile_arn_globs, raw, suggest, valid_name,
};
use crate::ids::ComponentName;
use indexmap::IndexMap;
use serde_saphyr::Spanned;
use std::collections::BTreeMap;
use std::path::{Component as PathPart, Path};

/// Environment names `gate release` reads as its own words (`gate release status`).
pub const RESERVED_ENVIRONMENT_NAMES: &[&str] = &["status"];
/// Minutes the gate waits for a release approval unless the file says otherwise (a day).
pub const DEFAULT_APPROVAL_MINUTES: u32 = 1440;
/// The longest approval wait accepted, in minutes (30 days).
pub const APPROVAL_RANGE: std::ops::RangeInclusive<u32> = 1..=43_200;

/// How a component is deployed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Deploy {
    /// The deploy commands, in order.
    pub commands: Vec<String>,
    /// The commands that undo a deploy; `None`: deploy the previous release again.
    pub rollback: Option<Vec<String>>,
    /// Minutes one deploy or rollback may take.
    pub timeout_minutes: u32,
    /// The commands' own environment variables.
    pub env: BTreeMap<String, String>,
}

/// How a component's artifact is built once per content.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Package {
    /// The build commands, in order.
    pub commands: Vec<String>,
    /// The paths they produce, relative to the repository.
    pub outputs: Vec<String>,
}

/// Who must approve a release of an environment.
#[derive(Debug, Clone)]
pub struct Approval {
    /// Identity globs of who may approve.
    pub approvers: Globs,
    /// Minutes to wait for an answer.
    pub timeout_minutes: u32,
}

/// An environment code is released to.
#[derive(Debug, Clone)]
pub struct Environment {
    /// Its name.
    pub name: String,
    /// The branch whose pushes release to it.
    pub branch: String,
    /// Indices of the checks a release runs first (see [`super::Gate::checks`]).
    pub checks: Vec<usize>,
    /// Who must approve, when someone must.
    pub approval: Option<Approval>,
}

/// Settles every component's `deploy` and `package`, then refuses a dependency cycle among
/// deployed components (no order deploys each after everything it depends on).
pub(super) fn validate_deploys(
    raw: &IndexMap<String, Spanned<raw::Component>>,
    components: &mut [super::Component],
    errors: &mut Errors<'_>,
) {
    for (component, (name, c)) in components.iter_mut().zip(raw) {
        component.deploy = c.value.deploy.as_ref().map(|d| deploy(name, d, errors));
        component.package = c.value.package.as_ref().map(|p| package(name, p, errors));
        if let (Some(p), None) = (&c.value.package, &c.value.deploy) {
            errors.push(
                at(p),
                format!("component `{name}` has `package` but no `deploy`"),
                "a package is what a deploy deploys: add `deploy`, or remove `package`",
            );
        }
    }
    for cycle in super::find_cycles(components) {
        let deployed: Vec<&ComponentName> = cycle
            .iter()
            .filter(|n| {
                components
                    .iter()
                    .any(|c| &c.name == *n && c.deploy.is_some())
            })
            .collect();
        if let Some(first) = deployed.first() {
            let position = raw
                .get(first.as_str())
                .and_then(|c| c.value.deploy.as_ref())
                .and_then(at);
            let others: Vec<String> = cycle
                .iter()
                .filter(|n| n != first)
                .map(|n| format!("`{n}`"))
                .collect();
            errors.push(
                position,
                format!(
                    "component `{first}` is deployed but is in a dependency cycle with {}",
                    others.join(", ")
                ),
                "a release deploys each component after everything it depends on: break the cycle",
            );
        }
    }
}

/// A component's `deploy`: at least one command; a `rollback`, when given, has commands too.
fn deploy(name: &str, d: &Spanned<raw::Deploy>, errors: &mut Errors<'_>) -> Deploy {
    let spec = &d.value;
    if spec.commands.is_empty() {
        errors.push(
            at(d),
            format!("component `{name}`: `deploy.commands` is empty"),
            "list the commands that deploy it, e.g. `commands: [./deploy.sh]`",
        );
    }
    if spec.rollback.as_ref().is_some_and(Vec::is_empty) {
        errors.push(
            at(d),
            format!("component `{name}`: `deploy.rollback` is empty"),
            "list the commands that undo a deploy, or leave `rollback` out to deploy the \
             previous release again",
        );
    }
    if let Some(t) = &spec.timeout {
        check_timeout(t, errors);
    }
    check_env(
        &spec.env,
        &format!("component `{name}`'s deploy"),
        "the GATE_* variables describe the release (GATE_ACTION, GATE_ENVIRONMENT, \
         GATE_COMMIT, …); a gate file may not set them: choose another name",
        errors,
    );
    Deploy {
        commands: spec.commands.clone(),
        rollback: spec.rollback.clone(),
        timeout_minutes: spec
            .timeout
            .as_ref()
            .map_or(DEFAULT_TIMEOUT_MINUTES, |t| t.value),
        env: spec
            .env
            .iter()
            .map(|(k, v)| (k.clone(), v.value.clone()))
            .collect(),
    }
}

/// A component's `package`: commands, and outputs that are relative paths inside the
/// repository.
fn package(name: &str, p: &Spanned<raw::Package>, errors: &mut Errors<'_>) -> Package {
    let spec = &p.value;
    if spec.commands.is_empty() {
        errors.push(
            at(p),
            format!("component `{name}`: `package.commands` is empty"),
            "list the commands that build the artifact",
        );
    }
    if spec.outputs.is_empty() {
        errors.push(
            at(p),
            format!("component `{name}`: `package.outputs` is empty"),
            "list what the commands produce, e.g. `outputs: [dist/]`",
        );
    }
    for o in &spec.outputs {
        if !inside_repository(&o.value) {
            errors.push(
                at(o),
                format!(
                    "component `{name}`: package output `{}` is not a path inside the repository",
                    o.value
                ),
                "use a relative path without `..`, e.g. `dist/` or `target/app.zip`",
            );
        }
    }
    Package {
        commands: spec.commands.clone(),
        outputs: spec.outputs.iter().map(|o| o.value.clone()).collect(),
    }
}

/// Whether `path` is a non-empty relative path that stays inside the repository.
pub(crate) fn inside_repository(path: &str) -> bool {
    let path = Path::new(path);
    !path.as_os_str().is_empty()
        && path
            .components()
            .all(|c| matches!(c, PathPart::Normal(_) | PathPart::CurDir))
        && path.components().any(|c| matches!(c, PathPart::Normal(_)))
}

/// Validates `environments`: names, one branch each, known checks, approvals.
pub(super) fn validate_environments(
    raw: &raw::GateFile,
    errors: &mut Errors<'_>,
) -> Vec<Environment> {
    let mut environments = Vec::with_capacity(raw.environments.len());
    let mut branches: BTreeMap<&str, &str> = BTreeMap::new();
    for (name, e) in &raw.environments {
        if !valid_name(name) {
            errors.push(
                at(e),
                format!("invalid environment name `{name}`"),
                NAME_HINT,
            );
        } else if RESERVED_ENVIRONMENT_NAMES.contains(&name.as_str()) {
            errors.push(
                at(e),
                format!("environment name `{name}` is reserved"),
                "`gate release status` shows every environment; choose another name",
            );
        }
        let branch = &e.value.branch;
        if !valid_branch(&branch.value) {
            errors.push(
                at(branch),
                format!(
                    "environment `{name}`: `{}` is not a branch name",
                    branch.value
                ),
                "name the branch without `refs/heads/`, e.g. `branch: main`",
            );
        } else if let Some(other) = branches.insert(&branch.value, name) {
            errors.push(
                at(branch),
                format!(
                    "environments `{other}` and `{name}` both release branch `{}`",
                    branch.value
                ),
                "a push to a branch releases one environment: give each its own branch",
            );
        }
        environments.push(Environment {
            name: name.clone(),
            branch: branch.value.clone(),
            checks: environment_checks(raw, name, &e.value.checks, errors),
            approval: e.value.approval.as_ref().map(|a| approval(name, a, errors)),
        });
    }
    environments
}

/// A branch name git would accept, as far as a gate file can get it wrong.
pub(crate) fn valid_branch(name: &str) -> bool {
    !name.is_empty()
        && !name.starts_with("refs/")
        && !name.starts_with('-')
        && !name.starts_with('/')
        && !name.ends_with('/')
        && !name.ends_with(".lock")
        && !name.contains("..")
        && !name.contains("//")
        && !name.contains("@{")
        && !name
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || "~^:?*[\\".contains(c))
}

/// Resolves an environment's `checks` to check indices: known, each once.
fn environment_checks(
    raw: &raw::GateFile,
    name: &str,
    checks: &[Spanned<String>],
    errors: &mut Errors<'_>,
) -> Vec<usize> {
    let mut resolved = Vec::new();
    for c in checks {
        match raw.checks.value.get_index_of(c.value.as_str()) {
            Some(i) if resolved.contains(&i) => errors.push(
                at(c),
                format!("environment `{name}` lists check `{}` twice", c.value),
                "list each check once",
            ),
            Some(i) => resolved.push(i),
            None => errors.push(
                at(c),
                format!("environment `{name}` names unknown check `{}`", c.value),
                &suggest(&c.value, raw.checks.value.keys().map(String::as_str)),
            ),
        }
    }
    resolved
}

/// An environment's `approval`: at least one approver glob, a timeout in range.
fn approval(name: &str, a: &Spanned<raw::Approval>, errors: &mut Errors<'_>) -> Approval {
    let spec = &a.value;
    if spec.approvers.is_empty() {
        errors.push(
            at(a),
            format!("environment `{name}`: `approval.approvers` is empty"),
            "list who may approve, e.g. `approvers: [\"arn:aws:sts::*:assumed-role/Release/*\"]`",
        );
    }
    if let Some(t) = &spec.timeout
        && !APPROVAL_RANGE.contains(&t.value)
    {
        errors.push(
            at(t),
            format!("approval timeout {} is out of range", t.value),
            "wait 1 to 43200 minutes (30 days) for an approval",
        );
    }
    Approval {
        approvers: compile_arn_globs(&spec.approvers, errors),
        timeout_minutes: spec
            .timeout
            .as_ref()
            .map_or(DEFAULT_APPROVAL_MINUTES, |t| t.value),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn output_paths_stay_inside_the_repository() {
        for ok in ["dist/", "target/app.zip", "./out", "a/./b"] {
            assert!(inside_repository(ok), "{ok}");
        }
        for bad in ["", "/tmp/x", "../x", "a/../../b", ".", "./"] {
            assert!(!inside_repository(bad), "{bad}");
        }
    }

    #[test]
    fn branch_names_follow_git() {
        for ok in ["main", "release/1.2", "dev-eu"] {
            assert!(valid_branch(ok), "{ok}");
        }
        for bad in [
            "",
            "refs/heads/main",
            "a..b",
            "a b",
            "x.lock",
            "a:b",
            "-x",
            "a/",
        ] {
            assert!(!valid_branch(bad), "{bad}");
        }
    }
}
