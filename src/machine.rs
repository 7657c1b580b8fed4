//! The contract between gate-start, the state machine and gate-report: the execution input, its name, each check's build.
//!
//! One Rust type, serialized by gate-start, read by the ASL with JSONPath, and parsed back by
//! gate-report, so the three cannot drift apart.

use crate::gate_file::{Gate, Run};
use crate::ids::{CheckName, CommentId, CommitId, PullRequestId, RepositoryName};
use crate::plan::Plan;
use crate::report::Subject;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;

/// Version of the execution input format.
pub const INPUT_VERSION: u32 = 1;
/// Step Functions' limit on execution names.
pub const MAX_EXECUTION_NAME: usize = 80;

/// What an execution does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    /// Run the plan's checks and report.
    Gate,
    /// Delete the PR's CI environment (the PR closed or merged).
    Cleanup,
}

/// One environment variable for a build, passed as data (CodeBuild `PLAINTEXT`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EnvVar {
    /// Name.
    pub name: String,
    /// Value.
    pub value: String,
    /// CodeBuild's type; always `PLAINTEXT` here.
    #[serde(rename = "type")]
    pub kind: String,
}

impl EnvVar {
    fn plain(name: &str, value: &str) -> Self {
        Self {
            name: name.to_owned(),
            value: value.to_owned(),
            kind: "PLAINTEXT".to_owned(),
        }
    }
}

/// One check, ready for `codebuild:startBuild.sync`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckSpec {
    /// The check.
    pub name: CheckName,
    /// Its stage.
    pub stage: String,
    /// Whether a failure blocks.
    pub required: bool,
    /// The buildspec override (YAML text): merge the destination, then the check's commands.
    pub buildspec: String,
    /// CodeBuild image override, if any.
    pub image: Option<String>,
    /// CodeBuild compute type override, if any.
    pub compute_type: Option<String>,
    /// Build timeout in minutes.
    pub timeout_minutes: u32,
    /// Retries for infrastructure failures.
    pub retries: u32,
    /// Whether test failures are retried too.
    pub retry_on_failure: bool,
    /// Environment variables: the PR's facts, then the check's `env`.
    pub env: Vec<EnvVar>,
}

/// The checks of one stage, run in parallel.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StageSpec {
    /// The stage's name.
    pub name: String,
    /// Its checks that run.
    pub checks: Vec<CheckSpec>,
}

/// The execution input.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExecutionInput {
    /// Format version.
    pub version: u32,
    /// Gate or clean-up.
    pub mode: Mode,
    /// The execution's name.
    pub execution_name: String,
    /// Which run of this commit.
    pub attempt: u32,
    /// The PR revision under test.
    pub subject: Subject,
    /// `refs/heads/...` of the source.
    pub source_reference: String,
    /// `refs/heads/...` of the destination.
    pub destination_reference: String,
    /// The PR's CI environment (CodeBuild project name).
    pub environment: String,
    /// The sticky comment, once posted.
    pub comment_id: Option<CommentId>,
    /// The stages that have checks to run, in order.
    pub stages: Vec<StageSpec>,
    /// The longest the whole run may take, in seconds.
    pub deadline_seconds: u64,
    /// The plan (for the report: skipped checks and their reasons).
    pub plan: Option<Plan>,
    /// Results carried over from the previous attempt (`/gate retry` re-runs only the checks
    /// that did not pass; the report shows these for the rest).
    #[serde(default)]
    pub carried_results: Vec<crate::policy::CheckResult>,
}

/// The execution name for a (repository, PR, source commit, attempt): deterministic, at most
/// 80 characters of `[0-9A-Za-z_-]`, readable, and unique thanks to a hash of the full values.
pub fn execution_name(
    repository: &RepositoryName,
    pr: &PullRequestId,
    source_commit: &CommitId,
    attempt: u32,
    mode: Mode,
) -> String {
    let digest = Sha256::digest(
        format!(
            "{}\n{}\n{}\n{attempt}\n{mode:?}",
            repository.as_str(),
            pr.as_str(),
            source_commit.as_str()
        )
        .as_bytes(),
    );
    let hash: String = digest.iter().take(5).map(|b| format!("{b:02x}")).collect();
    let clean = |s: &str, max: usize| -> String {
        s.chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                    c
                } else {
                    '-'
                }
            })
            .take(max)
            .collect()
    };
    let prefix = match mode {
        Mode::Gate => "gate",
        Mode::Cleanup => "cleanup",
    };
    let name = format!(
        "{prefix}-{}-pr{}-{}-{attempt}-{hash}",
        clean(repository.as_str(), 24),
        clean(pr.as_str(), 12),
        clean(source_commit.as_str(), 12),
    );
    name.chars().take(MAX_EXECUTION_NAME).collect()
}

/// The CodeBuild project name of a PR's CI environment (2–150 characters of `[A-Za-z0-9_-]`).
pub fn environment_name(prefix: &str, repository: &RepositoryName, pr: &PullRequestId) -> String {
    let digest = Sha256::digest(format!("{}\n{}", repository.as_str(), pr.as_str()).as_bytes());
    let hash: String = digest.iter().take(4).map(|b| format!("{b:02x}")).collect();
    let clean: String = repository
        .as_str()
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '-'
            }
        })
        .take(60)
        .collect();
    format!("{prefix}-{clean}-pr{}-{hash}", pr.as_str())
        .chars()
        .take(150)
        .collect()
}

/// The buildspec a check runs with: fetch and merge the destination commit into the source
/// commit, so the check tests what would merge, then the check's commands in order. PR facts
/// reach the shell only as environment variables, quoted, never spliced into the text.
pub fn buildspec(commands: &[String]) -> String {
    let mut text = String::from(
        "version: 0.2\nenv:\n  git-credential-helper: yes\nphases:\n  pre_build:\n    commands:\n",
    );
    for line in MERGE_PRELUDE {
        text.push_str("      - ");
        text.push_str(&yaml_quote(line));
        text.push('\n');
    }
    text.push_str("  build:\n    commands:\n");
    for c in commands {
        text.push_str("      - ");
        text.push_str(&yaml_quote(c));
        text.push('\n');
    }
    text
}

/// The commands of a repository's buildspec file, phase by phase (`install`, `pre_build`,
/// `build`, `post_build`), so a `buildspec:` check runs them after the merge like inline
/// commands. Other sections (artifacts, reports, cache) do not apply to a gate check.
pub fn buildspec_commands(text: &str) -> Result<Vec<String>, String> {
    #[derive(Deserialize, Default)]
    struct File {
        #[serde(default)]
        phases: Phases,
    }
    #[derive(Deserialize, Default)]
    struct Phases {
        #[serde(default)]
        install: Option<Phase>,
        #[serde(default)]
        pre_build: Option<Phase>,
        #[serde(default)]
        build: Option<Phase>,
        #[serde(default)]
        post_build: Option<Phase>,
    }
    #[derive(Deserialize, Default)]
    struct Phase {
        #[serde(default)]
        commands: Vec<String>,
    }
    let file: File = serde_saphyr::from_str(text).map_err(|e| {
        let message = e.without_snippet().to_string();
        message.lines().next().unwrap_or("invalid YAML").to_owned()
    })?;
    let p = file.phases;
    let commands: Vec<String> = [p.install, p.pre_build, p.build, p.post_build]
        .into_iter()
        .flatten()
        .flat_map(|phase| phase.commands)
        .collect();
    if commands.is_empty() {
        return Err("it has no commands in phases install, pre_build, build or post_build".into());
    }
    Ok(commands)
}

/// Shell lines that merge `$GATE_DESTINATION_COMMIT` into the checked-out source commit.
pub const MERGE_PRELUDE: &[&str] = &[
    "git fetch --no-tags origin \"$GATE_DESTINATION_REFERENCE\"",
    "git -c user.name=codecommit-gate -c user.email=gate@invalid merge --no-edit --no-ff \"$GATE_DESTINATION_COMMIT\"",
];

fn yaml_quote(s: &str) -> String {
    let escaped: String = s
        .chars()
        .flat_map(|c| match c {
            '"' => vec!['\\', '"'],
            '\\' => vec!['\\', '\\'],
            '\n' => vec!['\\', 'n'],
            '\t' => vec!['\\', 't'],
            c if c.is_control() => format!("\\u{:04x}", c as u32).chars().collect(),
            c => vec![c],
        })
        .collect();
    format!("\"{escaped}\"")
}

/// The PR facts every check sees as environment variables.
pub fn pr_env(
    subject: &Subject,
    source_reference: &str,
    destination_reference: &str,
) -> Vec<EnvVar> {
    vec![
        EnvVar::plain("GATE_REPOSITORY", subject.repository.as_str()),
        EnvVar::plain("GATE_PULL_REQUEST_ID", subject.pull_request_id.as_str()),
        EnvVar::plain("GATE_SOURCE_COMMIT", subject.source_commit.as_str()),
        EnvVar::plain(
            "GATE_DESTINATION_COMMIT",
            subject.destination_commit.as_str(),
        ),
        EnvVar::plain("GATE_SOURCE_REFERENCE", source_reference),
        EnvVar::plain("GATE_DESTINATION_REFERENCE", destination_reference),
        EnvVar::plain(
            "GATE_REVISION_ID",
            subject.revision_id.as_ref().map_or("", |r| r.as_str()),
        ),
    ]
}

/// A `buildspec:` check whose file could not be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("check `{check}`: buildspec `{path}`: {problem}")]
pub struct BuildspecError {
    /// The check.
    pub check: CheckName,
    /// The buildspec path.
    pub path: String,
    /// What is wrong.
    pub problem: String,
}

/// The stages to run for a plan: every planned check, with its build. `buildspecs` maps each
/// `buildspec:` path the planned checks use to its commands ([`buildspec_commands`]).
pub fn stages(
    gate: &Gate,
    plan: &Plan,
    subject: &Subject,
    source_reference: &str,
    destination_reference: &str,
    buildspecs: &BTreeMap<String, Result<Vec<String>, String>>,
) -> Result<Vec<StageSpec>, BuildspecError> {
    let facts = pr_env(subject, source_reference, destination_reference);
    let mut stages: Vec<StageSpec> = Vec::new();
    for planned in plan.to_run() {
        let Some((_, check)) = gate.check(planned.name.as_str()) else {
            continue;
        };
        let commands = match &check.run {
            Run::Commands(commands) => commands.clone(),
            Run::Buildspec(path) => match buildspecs.get(path) {
                Some(Ok(commands)) => commands.clone(),
                Some(Err(problem)) => {
                    return Err(BuildspecError {
                        check: check.name.clone(),
                        path: path.clone(),
                        problem: problem.clone(),
                    });
                }
                None => {
                    return Err(BuildspecError {
                        check: check.name.clone(),
                        path: path.clone(),
                        problem: "the file does not exist at the source commit".into(),
                    });
                }
            },
        };
        let mut env = facts.clone();
        env.extend(check.env.iter().map(|(k, v)| EnvVar::plain(k, v)));
        let spec = CheckSpec {
            name: check.name.clone(),
            stage: check.stage.clone(),
            required: check.required,
            buildspec: buildspec(&commands),
            image: check.image.clone(),
            compute_type: check.compute_type.clone(),
            timeout_minutes: check.timeout_minutes,
            retries: check.retries,
            retry_on_failure: check.retry_on_failure,
            env,
        };
        match stages.last_mut() {
            Some(stage) if stage.name == check.stage => stage.checks.push(spec),
            _ => stages.push(StageSpec {
                name: check.stage.clone(),
                checks: vec![spec],
            }),
        }
    }
    Ok(stages)
}

/// The `buildspec:` paths the planned checks use.
pub fn buildspec_paths(gate: &Gate, plan: &Plan) -> Vec<String> {
    let mut paths: Vec<String> = plan
        .to_run()
        .filter_map(|c| gate.check(c.name.as_str()))
        .filter_map(|(_, check)| match &check.run {
            Run::Buildspec(path) => Some(path.clone()),
            Run::Commands(_) => None,
        })
        .collect();
    paths.sort();
    paths.dedup();
    paths
}

/// The whole-run deadline: per stage the slowest check with all its attempts, plus 10 minutes
/// for setting up, queueing and cleaning up.
pub fn deadline_seconds(stages: &[StageSpec]) -> u64 {
    let per_stage: u64 = stages
        .iter()
        .map(|s| {
            s.checks
                .iter()
                .map(|c| u64::from(c.timeout_minutes) * 60 * (u64::from(c.retries) + 1))
                .max()
                .unwrap_or(0)
        })
        .sum();
    per_stage + 600
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn execution_names_are_deterministic_short_and_valid() {
        let repo = RepositoryName::from(
            "a.very.long.repository-name_with.dots.and.more.than.eighty.characters.in.total.for.sure",
        );
        let pr = PullRequestId::from("123456");
        let commit = CommitId::from("0123456789abcdef0123456789abcdef01234567");
        let a = execution_name(&repo, &pr, &commit, 1, Mode::Gate);
        assert_eq!(a, execution_name(&repo, &pr, &commit, 1, Mode::Gate));
        assert_ne!(a, execution_name(&repo, &pr, &commit, 2, Mode::Gate));
        assert_ne!(a, execution_name(&repo, &pr, &commit, 1, Mode::Cleanup));
        let other =
            RepositoryName::from("a.very.long.repository-name_with.dots.and.something.else");
        assert_ne!(
            a,
            execution_name(&other, &pr, &commit, 1, Mode::Gate),
            "the hash tells truncated names apart"
        );
        assert!(a.len() <= MAX_EXECUTION_NAME, "{a}");
        assert!(
            a.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_'),
            "{a}"
        );
    }

    #[test]
    fn buildspec_quotes_commands_as_yaml_data() {
        let spec = buildspec(&[
            "echo \"$(whoami)\" `id` # not a comment".into(),
            "make: test".into(),
        ]);
        assert!(
            spec.contains("      - \"echo \\\"$(whoami)\\\" `id` # not a comment\"\n"),
            "{spec}"
        );
        assert!(spec.contains("      - \"make: test\"\n"), "{spec}");
        assert!(spec.starts_with("version: 0.2\n"));
        assert!(
            spec.find("merge --no-edit").expect("merge")
                < spec.find("make: test").expect("command")
        );
        let parsed = buildspec_commands(&spec).expect("our own buildspec parses");
        assert_eq!(parsed.len(), MERGE_PRELUDE.len() + 2);
        assert_eq!(parsed.last().map(String::as_str), Some("make: test"));
    }

    #[test]
    fn buildspec_files_yield_their_commands_in_phase_order() {
        let file = "version: 0.2\nenv:\n  variables: {A: b}\nphases:\n  build:\n    commands: [make]\n  install:\n    runtime-versions: {python: 3.12}\n    commands: [pip install -r r.txt]\nartifacts:\n  files: ['**/*']\n";
        assert_eq!(
            buildspec_commands(file),
            Ok(vec!["pip install -r r.txt".to_owned(), "make".to_owned()])
        );
        assert!(buildspec_commands("version: 0.2\n").is_err());
        assert!(buildspec_commands("phases: [").is_err());
    }
}
