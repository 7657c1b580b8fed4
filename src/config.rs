//! Configuration from the environment variables the template sets, validated once at start-up.

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

impl Config {
    /// Reads and validates the configuration; `need_state_machine` for gate-start.
    pub fn from_lookup(
        lookup: impl Fn(&str) -> Option<String>,
        need_state_machine: bool,
    ) -> Result<Config, ConfigError> {
        let get = |name: &'static str| {
            lookup(name)
                .map(|v| v.trim().to_owned())
                .filter(|v| !v.is_empty())
        };
        let required = |name: &'static str| get(name).ok_or_else(|| bad(name, "is not set"));

        let state_machine_arn = match get("GATE_STATE_MACHINE_ARN") {
            Some(arn)
                if !(arn.starts_with("arn:")
                    && arn.contains(":states:")
                    && arn.contains(":stateMachine:")) =>
            {
                return Err(bad(
                    "GATE_STATE_MACHINE_ARN",
                    format!("`{arn}` is not a state machine ARN"),
                ));
            }
            Some(arn) => Some(arn),
            None if need_state_machine => return Err(bad("GATE_STATE_MACHINE_ARN", "is not set")),
            None => None,
        };
        let table_name = required("GATE_TABLE_NAME")?;
        if !(3..=255).contains(&table_name.len())
            || !table_name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
        {
            return Err(bad(
                "GATE_TABLE_NAME",
                format!("`{table_name}` is not a DynamoDB table name"),
            ));
        }
        let topic_arn = get("GATE_TOPIC_ARN");
        if let Some(t) = &topic_arn
            && !(t.starts_with("arn:") && t.contains(":sns:"))
        {
            return Err(bad(
                "GATE_TOPIC_ARN",
                format!("`{t}` is not an SNS topic ARN"),
            ));
        }
        let approver_arn = required("GATE_APPROVER_ARN")?;
        if !approver_arn.starts_with("arn:") {
            return Err(bad(
                "GATE_APPROVER_ARN",
                format!("`{approver_arn}` is not an ARN"),
            ));
        }
        let approval_rule_name =
            get("GATE_APPROVAL_RULE_NAME").unwrap_or_else(|| DEFAULT_RULE_NAME.to_owned());
        if approval_rule_name.len() > 100
            || approval_rule_name.ends_with(".git")
            || !approval_rule_name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | ' ' | '_' | '-'))
        {
            return Err(bad(
                "GATE_APPROVAL_RULE_NAME",
                format!(
                    "`{approval_rule_name}`: use up to 100 letters, digits, periods, spaces, underscores and dashes"
                ),
            ));
        }
        let gate_file_path =
            get("GATE_FILE_PATH").unwrap_or_else(|| crate::gate_file::DEFAULT_PATH.to_owned());
        let environment_prefix =
            get("GATE_ENVIRONMENT_PREFIX").unwrap_or_else(|| DEFAULT_ENVIRONMENT_PREFIX.to_owned());
        if environment_prefix.len() > 40
            || !environment_prefix
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-'))
        {
            return Err(bad(
                "GATE_ENVIRONMENT_PREFIX",
                "use up to 40 letters, digits, `_` and `-`",
            ));
        }
        let defaults = crate::machine::BuildDefaults::default();
        let build = crate::machine::BuildDefaults {
            image: get("GATE_DEFAULT_IMAGE").unwrap_or(defaults.image),
            compute_type: get("GATE_DEFAULT_COMPUTE_TYPE").unwrap_or(defaults.compute_type),
        };
        let reporter_role_arn = get("GATE_REPORTER_ROLE_ARN");
        if let Some(r) = &reporter_role_arn
            && !(r.starts_with("arn:") && r.contains(":iam::") && r.contains(":role/"))
        {
            return Err(bad(
                "GATE_REPORTER_ROLE_ARN",
                format!("`{r}` is not an IAM role ARN"),
            ));
        }
        Ok(Config {
            settings: Settings {
                gate_file_path,
                approval_rule_name,
                approver_arn,
                environment_prefix,
                build,
            },
            state_machine_arn,
            table_name,
            topic_arn,
            reporter_role_arn,
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
}
