//! The release settings: `GATE_RELEASE_MACHINE_ARN`, `GATE_RELEASE_PROJECT_PREFIX`,
//! `GATE_RELEASE_ENVIRONMENTS` and `GATE_ARTIFACT_BUCKET`, all four or none.

use super::{ConfigError, ReleaseSettings, StackEnvironment, bad, is_state_machine_arn};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;

/// The variables that turn releases on, in the order their errors are reported.
pub const RELEASE_VARIABLES: [&str; 4] = [
    "GATE_RELEASE_MACHINE_ARN",
    "GATE_RELEASE_PROJECT_PREFIX",
    "GATE_RELEASE_ENVIRONMENTS",
    "GATE_ARTIFACT_BUCKET",
];

/// CodeBuild's longest project name.
const MAX_PROJECT_NAME: usize = 255;

/// The release settings from the four variables (each `None` when unset or blank): `None`
/// when all four are absent (releases are off), an error naming the first missing one when
/// only some are set, or naming the bad one when a value is invalid.
pub(super) fn release_settings(
    values: [Option<String>; 4],
) -> Result<Option<ReleaseSettings>, ConfigError> {
    if values.iter().all(Option::is_none) {
        return Ok(None);
    }
    if let Some(i) = values.iter().position(Option::is_none) {
        let set: Vec<&str> = RELEASE_VARIABLES
            .iter()
            .zip(&values)
            .filter(|(_, v)| v.is_some())
            .map(|(name, _)| *name)
            .collect();
        return Err(bad(
            RELEASE_VARIABLES[i],
            format!(
                "is not set while {} is: set all four release variables, or none to turn \
                 releases off",
                set.join(", ")
            ),
        ));
    }
    let [machine, prefix, environments, bucket] = values.map(Option::unwrap_or_default);
    if !is_state_machine_arn(&machine) {
        return Err(bad(
            RELEASE_VARIABLES[0],
            format!("`{machine}` is not a state machine ARN"),
        ));
    }
    if !is_project_prefix(&prefix) {
        return Err(bad(
            RELEASE_VARIABLES[1],
            format!(
                "`{prefix}`: use up to 50 letters, digits, `_` and `-`, starting with a letter \
                 or digit"
            ),
        ));
    }
    if !is_bucket_name(&bucket) {
        return Err(bad(
            RELEASE_VARIABLES[3],
            format!("`{bucket}` is not an S3 bucket name"),
        ));
    }
    Ok(Some(ReleaseSettings {
        machine_arn: machine,
        project_prefix: prefix,
        artifact_bucket: bucket,
        environments: parse_environments(&environments)
            .map_err(|problem| bad(RELEASE_VARIABLES[2], problem))?,
    }))
}

/// Parses `env=branch=roleArn` entries separated by `;` (blank entries are ignored): every
/// name valid, a role ARN's shape, one branch per environment and one environment per branch.
pub fn parse_environments(text: &str) -> Result<BTreeMap<String, StackEnvironment>, String> {
    let mut environments = BTreeMap::new();
    let mut branches: BTreeMap<String, String> = BTreeMap::new();
    for entry in text.split(';').map(str::trim).filter(|e| !e.is_empty()) {
        let (name, environment) = parse_entry(entry)?;
        if environments.contains_key(&name) {
            return Err(format!(
                "entry `{entry}`: environment `{name}` is listed twice (one branch per environment)"
            ));
        }
        if let Some(other) = branches.insert(environment.branch.clone(), name.clone()) {
            return Err(format!(
                "entry `{entry}`: branch `{}` already releases `{other}` (one environment per \
                 branch)",
                environment.branch
            ));
        }
        environments.insert(name, environment);
    }
    if environments.is_empty() {
        return Err(
            "lists no environment: use `env=branch=roleArn` entries separated by `;`".into(),
        );
    }
    Ok(environments)
}

/// One `env=branch=roleArn` entry (spaces around `=` allowed). The role ARN starts after the
/// first `=` followed by `arn:` past the name, so a branch or role name may contain `=`.
fn parse_entry(entry: &str) -> Result<(String, StackEnvironment), String> {
    let shape = || format!("entry `{entry}`: expected `environment=branch=roleArn`");
    let (name, rest) = entry.split_once('=').ok_or_else(shape)?;
    let (branch, role) = rest
        .match_indices('=')
        .map(|(i, _)| (&rest[..i], &rest[i + 1..]))
        .find(|(_, role)| role.trim_start().starts_with("arn:"))
        .map(|(b, r)| (b.trim(), r.trim().to_owned()))
        .ok_or_else(shape)?;
    let name = name.trim();
    if !crate::gate_file::valid_name(name) {
        return Err(format!(
            "entry `{entry}`: `{name}` is not an environment name (letters, digits, `-`, `_` \
             and `.`, at most 64 characters)"
        ));
    }
    if !crate::gate_file::valid_branch(branch) {
        return Err(format!(
            "entry `{entry}`: `{branch}` is not a branch name (write it without `refs/heads/`)"
        ));
    }
    if !is_role_arn_shape(&role) {
        return Err(format!(
            "entry `{entry}`: `{role}` is not an IAM role ARN \
             (`arn:<partition>:iam::<account>:role/<name>`)"
        ));
    }
    Ok((
        name.to_owned(),
        StackEnvironment {
            branch: branch.to_owned(),
            deploy_role_arn: role,
        },
    ))
}

/// `arn:<partition>:iam::<12-digit account>:role/<path/><name>`, with IAM's name characters.
fn is_role_arn_shape(v: &str) -> bool {
    let parts: Vec<&str> = v.splitn(5, ':').collect();
    let [arn, partition, iam, region, rest] = parts.as_slice() else {
        return false;
    };
    let Some((account, resource)) = rest.split_once(':') else {
        return false;
    };
    let Some(path_and_name) = resource.strip_prefix("role/") else {
        return false;
    };
    let name = path_and_name.rsplit('/').next().unwrap_or("");
    *arn == "arn"
        && !partition.is_empty()
        && partition
            .chars()
            .all(|c| c.is_ascii_lowercase() || c == '-')
        && *iam == "iam"
        && region.is_empty()
        && account.len() == 12
        && account.chars().all(|c| c.is_ascii_digit())
        && (1..=64).contains(&name.len())
        && path_and_name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "+=,.@_-/".contains(c))
}

/// A CodeBuild project name's start: `[A-Za-z0-9][A-Za-z0-9_-]*`, at most 50 characters.
fn is_project_prefix(v: &str) -> bool {
    v.len() <= 50
        && v.starts_with(|c: char| c.is_ascii_alphanumeric())
        && v.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-'))
}

/// S3's general-purpose bucket naming rules (3–63 lowercase letters, digits, `.` and `-`,
/// starting and ending with a letter or digit).
fn is_bucket_name(v: &str) -> bool {
    (3..=63).contains(&v.len())
        && v.starts_with(|c: char| c.is_ascii_lowercase() || c.is_ascii_digit())
        && v.ends_with(|c: char| c.is_ascii_lowercase() || c.is_ascii_digit())
        && v.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '.' | '-'))
}

/// The release CodeBuild project of (`repository`, `environment`):
/// `<prefix>-<repository>-<environment>` when that is a valid project name as written,
/// else its characters outside `[A-Za-z0-9_-]` as `-`, cut to fit, and an 8-digit hash of the
/// full values appended (so two names that clean up alike stay apart).
pub(super) fn project_name(prefix: &str, repository: &str, environment: &str) -> String {
    let plain = format!("{prefix}-{repository}-{environment}");
    let clean: String = plain
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '_' | '-') {
                c
            } else {
                '-'
            }
        })
        .collect();
    if clean == plain && plain.len() <= MAX_PROJECT_NAME {
        return plain;
    }
    let digest = Sha256::digest(format!("{prefix}\n{repository}\n{environment}").as_bytes());
    let hash: String = digest.iter().take(4).map(|b| format!("{b:02x}")).collect();
    let kept: String = clean.chars().take(MAX_PROJECT_NAME - 9).collect();
    format!("{kept}-{hash}")
}

#[cfg(test)]
mod tests {
    use super::*;

    const ROLE: &str = "arn:aws:iam::123456789012:role/deploy/gate-production";

    #[test]
    fn entries_give_each_environment_its_branch_and_role() {
        let text = format!(
            " production=main={ROLE} ; staging = release/next = arn:aws-cn:iam::210987654321:role/x=y ;"
        );
        let parsed = parse_environments(&text).expect("valid");
        assert_eq!(
            parsed,
            BTreeMap::from([
                (
                    "production".to_owned(),
                    StackEnvironment {
                        branch: "main".into(),
                        deploy_role_arn: ROLE.into(),
                    }
                ),
                (
                    "staging".to_owned(),
                    StackEnvironment {
                        branch: "release/next".into(),
                        deploy_role_arn: "arn:aws-cn:iam::210987654321:role/x=y".into(),
                    }
                ),
            ])
        );
    }

    #[test]
    fn each_bad_entry_is_named_with_what_is_wrong() {
        let problem = |text: &str| parse_environments(text).expect_err(text);
        assert_eq!(
            problem("production=main"),
            "entry `production=main`: expected `environment=branch=roleArn`"
        );
        assert_eq!(
            problem(&format!("prod uction=main={ROLE}")),
            format!(
                "entry `prod uction=main={ROLE}`: `prod uction` is not an environment name \
                 (letters, digits, `-`, `_` and `.`, at most 64 characters)"
            )
        );
        assert_eq!(
            problem(&format!("production=refs/heads/main={ROLE}")),
            format!(
                "entry `production=refs/heads/main={ROLE}`: `refs/heads/main` is not a branch \
                 name (write it without `refs/heads/`)"
            )
        );
        for role in [
            "arn:aws:iam::12345:role/x",
            "arn:aws:iam::123456789012:user/x",
            "arn:aws:iam:us-east-1:123456789012:role/x",
            "arn:aws:iam::123456789012:role/",
            "arn:aws:sts::123456789012:role/x",
        ] {
            let e = problem(&format!("production=main={role}"));
            assert!(
                e.ends_with(
                    "is not an IAM role ARN (`arn:<partition>:iam::<account>:role/<name>`)"
                ),
                "{e}"
            );
        }
        assert_eq!(
            problem(&format!("production=main={ROLE};production=prod={ROLE}")),
            format!(
                "entry `production=prod={ROLE}`: environment `production` is listed twice (one \
                 branch per environment)"
            )
        );
        assert_eq!(
            problem(&format!("production=main={ROLE};staging=main={ROLE}")),
            format!(
                "entry `staging=main={ROLE}`: branch `main` already releases `production` (one \
                 environment per branch)"
            )
        );
        assert_eq!(
            problem(" ; "),
            "lists no environment: use `env=branch=roleArn` entries separated by `;`"
        );
    }

    fn values(v: [&str; 4]) -> [Option<String>; 4] {
        v.map(|s| (!s.is_empty()).then(|| s.to_owned()))
    }

    const MACHINE: &str = "arn:aws:states:us-east-1:123456789012:stateMachine:gate-release";

    #[test]
    fn all_four_or_none() {
        assert_eq!(release_settings(values(["", "", "", ""])), Ok(None));
        let all = values([
            MACHINE,
            "gaterelease",
            &format!("p=main={ROLE}"),
            "gate-art",
        ]);
        let settings = release_settings(all).expect("valid").expect("on");
        assert_eq!(settings.machine_arn, MACHINE);
        assert_eq!(settings.artifact_bucket, "gate-art");
        assert_eq!(settings.environments["p"].branch, "main");
        let e = release_settings(values([MACHINE, "", "", "gate-art"])).expect_err("partial");
        assert_eq!(e.variable, "GATE_RELEASE_PROJECT_PREFIX");
        assert_eq!(
            e.problem,
            "is not set while GATE_RELEASE_MACHINE_ARN, GATE_ARTIFACT_BUCKET is: set all four \
             release variables, or none to turn releases off"
        );
        let bad_bucket = values([MACHINE, "p", &format!("p=main={ROLE}"), "Not_A_Bucket"]);
        assert_eq!(
            release_settings(bad_bucket).expect_err("bucket").variable,
            "GATE_ARTIFACT_BUCKET"
        );
        let bad_prefix = values([MACHINE, "-p", &format!("p=main={ROLE}"), "b-1"]);
        assert_eq!(
            release_settings(bad_prefix).expect_err("prefix").variable,
            "GATE_RELEASE_PROJECT_PREFIX"
        );
        let bad_env = values([MACHINE, "p", "p=main", "b-1"]);
        assert_eq!(
            release_settings(bad_env)
                .expect_err("environments")
                .variable,
            "GATE_RELEASE_ENVIRONMENTS"
        );
    }

    #[test]
    fn project_names_fit_codebuild() {
        assert_eq!(
            project_name("gaterelease", "shop", "production"),
            "gaterelease-shop-production"
        );
        let dotted = project_name("gaterelease", "shop.web", "prod.eu");
        assert!(
            dotted.starts_with("gaterelease-shop-web-prod-eu-"),
            "{dotted}"
        );
        assert_ne!(dotted, project_name("gaterelease", "shop-web", "prod.eu"));
        let long = project_name("p", &"r".repeat(100), &"e".repeat(64));
        assert_eq!(long.len(), "p".len() + 1 + 100 + 1 + 64);
        let longer = project_name(&"p".repeat(50), &"r".repeat(100), &"e".repeat(150));
        assert_eq!(longer.len(), MAX_PROJECT_NAME);
        assert!(
            longer
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-'))
        );
        assert_ne!(
            longer,
            project_name(&"p".repeat(50), &"r".repeat(100), &"e".repeat(151))
        );
    }
}
