//! Configuration from the environment variables the template sets, validated once at start-up.

mod releases;

pub use releases::{RELEASE_VARIABLES, parse_environments};

/// What the flows need to know (the parts that are not AWS resource names).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    /// Where the gate file lives in a repository.
    pub gate_file_path: String,
    /// The name of the approval rule the gate puts on every PR.
    pub approval_rule_name: String,
    /// The identity the gate writes comments and approvals as: the approval rule's only pool
    /// member, e.g. `arn:aws:sts::123456789012:assumed-role/GateReporter/codecommit-gate`.
    pub approver_arn: String,
    /// Prefix of the per-PR CI environment (CodeBuild project) names.
    pub environment_prefix: String,
    /// Image and compute type for checks that name none.
    pub build: crate::machine::BuildDefaults,
    /// Releases on AWS, when the stack runs them; `None`: a push to an environment's branch
    /// starts no release (the stack has no release state machine).
    pub releases: Option<ReleaseSettings>,
}

/// What the release functions need: the release state machine, its CodeBuild projects, the
/// environments the stack releases and the artifact bucket (`GATE_RELEASE_MACHINE_ARN`,
/// `GATE_RELEASE_PROJECT_PREFIX`, `GATE_RELEASE_ENVIRONMENTS`, `GATE_ARTIFACT_BUCKET`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReleaseSettings {
    /// The release state machine (`GATE_RELEASE_MACHINE_ARN`).
    pub machine_arn: String,
    /// Prefix of the release CodeBuild projects, `<prefix>-<repository>-<environment>`
    /// ([`ReleaseSettings::project`]); the stack's release roles reach `<prefix>-*` only.
    pub project_prefix: String,
    /// The bucket package builds upload artifacts to and deploys download them from
    /// (`GATE_ARTIFACT_BUCKET`).
    pub artifact_bucket: String,
    /// The environments the stack releases, by name: the only branch whose pushes release
    /// each one, and its deploy role. The stack, not the gate file being released, binds a
    /// role to a branch: a gate file pushed to any other branch that names itself
    /// `production` gets nothing. An environment not listed is not released.
    pub environments: std::collections::BTreeMap<String, StackEnvironment>,
}

/// An environment as the stack allows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StackEnvironment {
    /// The one branch whose pushes release it (a protected branch).
    pub branch: String,
    /// The role its deploy and rollback builds run with.
    pub deploy_role_arn: String,
}

impl ReleaseSettings {
    /// The release CodeBuild project of `repository`'s `environment`:
    /// `<prefix>-<repository>-<environment>` within CodeBuild's name rules (2–255 characters of
    /// `[A-Za-z0-9_-]`, starting with a letter or digit). A name that does not fit as written
    /// has its other characters as `-`, is cut to fit and ends in a hash of the full values.
    pub fn project(&self, repository: &crate::ids::RepositoryName, environment: &str) -> String {
        releases::project_name(&self.project_prefix, repository.as_str(), environment)
    }
}

impl Settings {
    /// Settings for tests and the local backend.
    pub fn local(approver_arn: &str) -> Self {
        Self {
            gate_file_path: crate::gate_file::DEFAULT_PATH.to_owned(),
            approval_rule_name: DEFAULT_RULE_NAME.to_owned(),
            approver_arn: approver_arn.to_owned(),
            environment_prefix: DEFAULT_ENVIRONMENT_PREFIX.to_owned(),
            build: crate::machine::BuildDefaults::default(),
            releases: None,
        }
    }
}

/// The default approval rule name.
pub const DEFAULT_RULE_NAME: &str = "codecommit-gate";
/// The default CI environment prefix.
pub const DEFAULT_ENVIRONMENT_PREFIX: &str = "gate";

/// Everything a Lambda reads from its environment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// The flows' settings.
    pub settings: Settings,
    /// `GATE_STATE_MACHINE_ARN` (gate-start only).
    pub state_machine_arn: Option<String>,
    /// `GATE_TABLE_NAME`.
    pub table_name: String,
    /// `GATE_TOPIC_ARN`; empty or unset means no notifications.
    pub topic_arn: Option<String>,
    /// `GATE_REPORTER_ROLE_ARN`: the role assumed for CodeCommit writes, if any.
    pub reporter_role_arn: Option<String>,
}

/// A missing or invalid variable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("configuration: {variable}: {problem}")]
pub struct ConfigError {
    /// The variable's name.
    pub variable: &'static str,
    /// What is wrong with it.
    pub problem: String,
}

fn bad(variable: &'static str, problem: impl Into<String>) -> ConfigError {
    ConfigError {
        variable,
        problem: problem.into(),
    }
}

/// Reads one variable: `None` when unset or blank, the trimmed value when `valid`, else an
/// error naming the variable with `problem(value)`.
fn read(
    lookup: &impl Fn(&str) -> Option<String>,
    variable: &'static str,
    valid: fn(&str) -> bool,
    problem: fn(&str) -> String,
) -> Result<Option<String>, ConfigError> {
    match lookup(variable).map(|v| v.trim().to_owned()) {
        Some(v) if v.is_empty() => Ok(None),
        Some(v) if valid(&v) => Ok(Some(v)),
        Some(v) => Err(bad(variable, problem(&v))),
        None => Ok(None),
    }
}

fn required(variable: &'static str, value: Option<String>) -> Result<String, ConfigError> {
    value.ok_or_else(|| bad(variable, "is not set"))
}

fn any(_: &str) -> bool {
    true
}

fn is_state_machine_arn(v: &str) -> bool {
    v.starts_with("arn:") && v.contains(":states:") && v.contains(":stateMachine:")
}

fn is_table_name(v: &str) -> bool {
    (3..=255).contains(&v.len())
        && v.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
}

fn is_topic_arn(v: &str) -> bool {
    v.starts_with("arn:") && v.contains(":sns:")
}

/// `arn:<partition>:codebuild:<region>:<account>:report-group/<prefix>-`: a report group ARN
/// without the repository and suffix.
fn is_report_group_prefix(v: &str) -> bool {
    v.starts_with("arn:")
        && v.contains(":codebuild:")
        && v.contains(":report-group/")
        && v.ends_with('-')
}

/// `<bucket>/<prefix>`: an S3 bucket name (lower-case letters, digits, `.` and `-`), then a
/// key prefix.
fn is_cache_location(v: &str) -> bool {
    match v.split_once('/') {
        Some((bucket, prefix)) => {
            (3..=63).contains(&bucket.len())
                && bucket
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '.' || c == '-')
                && !prefix.is_empty()
                && !prefix.starts_with('/')
        }
        None => false,
    }
}

fn is_role_arn(v: &str) -> bool {
    v.starts_with("arn:") && v.contains(":iam::") && v.contains(":role/")
}

/// CodeCommit's rule for approval rule (and template) names.
fn is_rule_name(v: &str) -> bool {
    v.len() <= 100
        && !v.ends_with(".git")
        && v.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | ' ' | '_' | '-'))
}

fn is_prefix(v: &str) -> bool {
    v.len() <= 40
        && v.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-'))
}

/// The builds' defaults: image, compute type, report groups and cache location.
fn build_defaults(
    lookup: &impl Fn(&str) -> Option<String>,
) -> Result<crate::machine::BuildDefaults, ConfigError> {
    let defaults = crate::machine::BuildDefaults::default();
    let text = |variable| read(lookup, variable, any, |_| String::new());
    Ok(crate::machine::BuildDefaults {
        image: text("GATE_DEFAULT_IMAGE")?.unwrap_or(defaults.image),
        compute_type: text("GATE_DEFAULT_COMPUTE_TYPE")?.unwrap_or(defaults.compute_type),
        report_group_prefix: read(
            lookup,
            "GATE_REPORT_GROUP_PREFIX",
            is_report_group_prefix,
            |v| {
                format!(
                    "`{v}` is not `arn:<partition>:codebuild:<region>:<account>:report-group/<prefix>-`"
                )
            },
        )?,
        cache_location: read(lookup, "GATE_CACHE_LOCATION", is_cache_location, |v| {
            format!("`{v}` is not `<bucket>/<prefix>`")
        })?,
    })
}

impl Config {
    /// Reads and validates the configuration; `need_state_machine` for gate-start.
    pub fn from_lookup(
        lookup: impl Fn(&str) -> Option<String>,
        need_state_machine: bool,
    ) -> Result<Config, ConfigError> {
        let state_machine_arn = read(
            &lookup,
            "GATE_STATE_MACHINE_ARN",
            is_state_machine_arn,
            |v| format!("`{v}` is not a state machine ARN"),
        )?;
        if need_state_machine && state_machine_arn.is_none() {
            return Err(bad("GATE_STATE_MACHINE_ARN", "is not set"));
        }
        let table_name = read(&lookup, "GATE_TABLE_NAME", is_table_name, |v| {
            format!("`{v}` is not a DynamoDB table name")
        })?;
        let approver_arn = read(
            &lookup,
            "GATE_APPROVER_ARN",
            |v| v.starts_with("arn:"),
            |v| format!("`{v}` is not an ARN"),
        )?;
        let approval_rule_name = read(&lookup, "GATE_APPROVAL_RULE_NAME", is_rule_name, |v| {
            format!("`{v}`: use up to 100 letters, digits, periods, spaces, underscores and dashes")
        })?;
        let environment_prefix = read(&lookup, "GATE_ENVIRONMENT_PREFIX", is_prefix, |_| {
            "use up to 40 letters, digits, `_` and `-`".to_owned()
        })?;
        let text = |variable| read(&lookup, variable, any, |_| String::new());
        Ok(Config {
            settings: Settings {
                gate_file_path: text("GATE_FILE_PATH")?
                    .unwrap_or_else(|| crate::gate_file::DEFAULT_PATH.to_owned()),
                approval_rule_name: approval_rule_name
                    .unwrap_or_else(|| DEFAULT_RULE_NAME.to_owned()),
                approver_arn: required("GATE_APPROVER_ARN", approver_arn)?,
                environment_prefix: environment_prefix
                    .unwrap_or_else(|| DEFAULT_ENVIRONMENT_PREFIX.to_owned()),
                build: build_defaults(&lookup)?,
                releases: releases::release_settings([
                    text(RELEASE_VARIABLES[0])?,
                    text(RELEASE_VARIABLES[1])?,
                    text(RELEASE_VARIABLES[2])?,
                    text(RELEASE_VARIABLES[3])?,
                ])?,
            },
            state_machine_arn,
            table_name: required("GATE_TABLE_NAME", table_name)?,
            topic_arn: read(&lookup, "GATE_TOPIC_ARN", is_topic_arn, |v| {
                format!("`{v}` is not an SNS topic ARN")
            })?,
            reporter_role_arn: read(&lookup, "GATE_REPORTER_ROLE_ARN", is_role_arn, |v| {
                format!("`{v}` is not an IAM role ARN")
            })?,
        })
    }

    /// Reads the process environment.
    pub fn from_env(need_state_machine: bool) -> Result<Config, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok(), need_state_machine)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        move |k| map.get(k).cloned()
    }

    const GOOD: &[(&str, &str)] = &[
        (
            "GATE_STATE_MACHINE_ARN",
            "arn:aws:states:us-east-1:123456789012:stateMachine:gate",
        ),
        ("GATE_TABLE_NAME", "gate-ledger"),
        (
            "GATE_APPROVER_ARN",
            "arn:aws:sts::123456789012:assumed-role/GateReporter/codecommit-gate",
        ),
        ("GATE_TOPIC_ARN", ""),
    ];

    #[test]
    fn a_complete_environment_gives_defaults_for_the_rest() {
        let c = Config::from_lookup(env(GOOD), true).expect("valid");
        assert_eq!(c.settings.gate_file_path, ".gate.yml");
        assert_eq!(c.settings.approval_rule_name, "codecommit-gate");
        assert_eq!(c.topic_arn, None, "empty means no topic");
        assert_eq!(c.table_name, "gate-ledger");
    }

    #[test]
    fn each_problem_names_the_variable() {
        let without = |name: &str| {
            let pairs: Vec<(&str, &str)> =
                GOOD.iter().copied().filter(|(k, _)| *k != name).collect();
            Config::from_lookup(env(&pairs), true)
                .expect_err("must fail")
                .variable
        };
        assert_eq!(without("GATE_STATE_MACHINE_ARN"), "GATE_STATE_MACHINE_ARN");
        assert_eq!(without("GATE_TABLE_NAME"), "GATE_TABLE_NAME");
        assert_eq!(without("GATE_APPROVER_ARN"), "GATE_APPROVER_ARN");
        let mut pairs = GOOD.to_vec();
        pairs.push(("GATE_APPROVAL_RULE_NAME", "no/slashes"));
        let e = Config::from_lookup(env(&pairs), true).expect_err("invalid rule name");
        assert_eq!(e.to_string().split(':').next(), Some("configuration"));
        assert_eq!(e.variable, "GATE_APPROVAL_RULE_NAME");
        let pairs = [
            ("GATE_TABLE_NAME", "t-1"),
            ("GATE_APPROVER_ARN", "arn:aws:sts::1:assumed-role/R/s"),
        ];
        assert!(
            Config::from_lookup(env(&pairs), false).is_ok(),
            "gate-report needs no state machine"
        );
    }

    #[test]
    fn the_cache_location_is_a_bucket_and_a_prefix_or_nothing() {
        let off = Config::from_lookup(env(GOOD), true).expect("valid");
        assert_eq!(off.settings.build.cache_location, None);
        let with = |value: &'static str| {
            let mut pairs = GOOD.to_vec();
            pairs.push(("GATE_CACHE_LOCATION", value));
            Config::from_lookup(env(&pairs), true)
        };
        assert_eq!(
            with("gate-artifacts-1/cache")
                .expect("valid")
                .settings
                .build
                .cache_location
                .as_deref(),
            Some("gate-artifacts-1/cache")
        );
        for bad in [
            "gate-artifacts-1",
            "Bucket/cache",
            "gate-artifacts-1/",
            "b/cache",
        ] {
            assert_eq!(
                with(bad).expect_err(bad).variable,
                "GATE_CACHE_LOCATION",
                "{bad}"
            );
        }
    }

    #[test]
    fn releases_are_off_without_their_variables_and_on_with_all_four() {
        let off = Config::from_lookup(env(GOOD), true).expect("valid");
        assert_eq!(off.settings.releases, None);
        let mut pairs = GOOD.to_vec();
        pairs.extend([
            (
                "GATE_RELEASE_MACHINE_ARN",
                "arn:aws:states:us-east-1:123456789012:stateMachine:gate-release",
            ),
            ("GATE_RELEASE_PROJECT_PREFIX", "gaterelease"),
            (
                "GATE_RELEASE_ENVIRONMENTS",
                "production=main=arn:aws:iam::123456789012:role/deploy",
            ),
            ("GATE_ARTIFACT_BUCKET", "gate-artifacts-1"),
        ]);
        let on = Config::from_lookup(env(&pairs), true).expect("valid");
        let releases = on.settings.releases.expect("releases on");
        assert_eq!(
            releases.project(&crate::ids::RepositoryName::new("shop"), "production"),
            "gaterelease-shop-production"
        );
        assert_eq!(
            releases.environments["production"].deploy_role_arn,
            "arn:aws:iam::123456789012:role/deploy"
        );
        pairs.retain(|(k, _)| *k != "GATE_ARTIFACT_BUCKET");
        let e = Config::from_lookup(env(&pairs), true).expect_err("partial");
        assert_eq!(e.variable, "GATE_ARTIFACT_BUCKET");
    }
}
