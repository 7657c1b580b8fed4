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

pub mod build;
pub mod cache;
pub mod release;
pub mod reports;

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
    /// Run the stages in an existing CodeBuild project and output the results
    /// ([`ChecksOutput`]) instead of reporting: a release's environment checks, started by the
    /// release state machine. It reads only `mode`, `environment`, `subject.source_commit`,
    /// `stages`, `deadline_seconds` and `retry_backoff_seconds`.
    Checks,
}

/// One environment variable for a build, passed as data (CodeBuild `PLAINTEXT`). Serialized
/// the way Step Functions' CodeBuild integration takes `EnvironmentVariablesOverride` items.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct EnvVar {
    /// Name.
    pub name: String,
    /// Value.
    pub value: String,
    /// CodeBuild's type; always `PLAINTEXT` here.
    #[serde(rename = "Type")]
    pub kind: String,
}

/// The CodeBuild image and compute type a check gets when the gate file names none.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BuildDefaults {
    /// Image, e.g. `aws/codebuild/amazonlinux-x86_64-standard:5.0`.
    pub image: String,
    /// Compute type, e.g. `BUILD_GENERAL1_SMALL`.
    pub compute_type: String,
    /// `arn:…:report-group/<environment prefix>-`: where the repositories' report groups are
    /// (`GATE_REPORT_GROUP_PREFIX`); without it no buildspec gets a `reports:` section.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub report_group_prefix: Option<String>,
    /// `<bucket>/<prefix>` of the stack's build cache (`GATE_CACHE_LOCATION`): each
    /// repository's entries are under `<this>/<repository>`; without it no check gets a cache
    /// ([`cache::CacheScope`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache_location: Option<String>,
}

impl Default for BuildDefaults {
    fn default() -> Self {
        Self {
            image: DEFAULT_IMAGE.to_owned(),
            compute_type: DEFAULT_COMPUTE_TYPE.to_owned(),
            report_group_prefix: None,
            cache_location: None,
        }
    }
}

/// The default CodeBuild image.
pub const DEFAULT_IMAGE: &str = "aws/codebuild/amazonlinux-x86_64-standard:5.0";
/// The default CodeBuild compute type.
pub const DEFAULT_COMPUTE_TYPE: &str = "BUILD_GENERAL1_SMALL";

impl EnvVar {
    /// A plain-text variable.
    pub fn plain(name: &str, value: &str) -> Self {
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
    /// CodeBuild image (the gate file's, else the default).
    pub image: String,
    /// CodeBuild compute type (the gate file's, else the default).
    pub compute_type: String,
    /// Build timeout in minutes.
    pub timeout_minutes: u32,
    /// The Step Functions task's own timeout, a safety net over the build's: the build
    /// timeout plus time for queueing and start-up.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub task_timeout_seconds: Option<u64>,
    /// Retries for infrastructure failures.
    pub retries: u32,
    /// Whether test failures are retried too.
    pub retry_on_failure: bool,
    /// Environment variables: the PR's facts, then the check's `env`.
    pub env: Vec<EnvVar>,
    /// The test and coverage reports the check declares (read after it ran).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reports: Option<crate::gate_file::Reports>,
    /// The build's project cache (`StartBuild`'s `cacheOverride`): the repository's S3 cache
    /// for a check with `cache`, else `NO_CACHE`.
    #[serde(default)]
    pub cache: cache::CacheOverride,
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
    /// Image and compute type of the environment (and of checks that name none).
    pub build: BuildDefaults,
    /// The sticky comment, once posted.
    pub comment_id: Option<CommentId>,
    /// The stages that have checks to run, in order.
    pub stages: Vec<StageSpec>,
    /// The longest the whole run may take, in seconds.
    pub deadline_seconds: u64,
    /// Seconds to wait before retrying a check after an infrastructure failure.
    #[serde(default = "default_backoff")]
    pub retry_backoff_seconds: u32,
    /// The plan (for the report: skipped checks and their reasons).
    pub plan: Option<Plan>,
    /// Results carried over from the previous attempt (`/gate retry` re-runs only the checks
    /// that did not pass; the report shows these for the rest).
    #[serde(default)]
    pub carried_results: Vec<crate::policy::CheckResult>,
    /// What gate-report needs to record the passes of the checks with `reuse: true` that run:
    /// the merge's commits and each such check's definition hash (none: nothing to record).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reuse: Option<crate::reuse::ledger::Recordable>,
}

/// How one check ended, as the state machine records it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RunOutcome {
    /// The build succeeded (possibly after retries).
    Passed,
    /// The build ran and failed (`States.TaskFailed`; the cause holds the build).
    Failed,
    /// The infrastructure failed after every retry (CodeBuild errors, throttling).
    Errored,
    /// The task's own timeout fired (`States.Timeout`).
    TimedOut,
}

/// One check's run: what `codebuild:startBuild.sync` returned, or the error it was caught with.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckRun {
    /// The check.
    pub name: CheckName,
    /// Whether a failure blocks.
    pub required: bool,
    /// How it ended.
    pub outcome: RunOutcome,
    /// Attempts made (1 = first time).
    #[serde(default = "one")]
    pub attempts: u32,
    /// The `Build` object of the last attempt on success (CodeBuild's BatchGetBuilds shape).
    #[serde(default)]
    pub build: Option<serde_json::Value>,
    /// The caught error name on failure.
    #[serde(default)]
    pub error: Option<String>,
    /// The caught cause on failure (for a failed build: the build as a JSON string).
    #[serde(default)]
    pub cause: Option<String>,
}

fn one() -> u32 {
    1
}

fn default_backoff() -> u32 {
    DEFAULT_RETRY_BACKOFF_SECONDS
}

/// How much longer than its build a check's task may take (queueing, provisioning, upload).
pub const TASK_TIMEOUT_SLACK_SECONDS: u64 = 1800;

/// Seconds between attempts of a check after an infrastructure failure.
pub const DEFAULT_RETRY_BACKOFF_SECONDS: u32 = 30;

/// Stage results as the machine accumulates them with plain JSONPath: the newest stage first,
/// each pointing at the stages before it (the first link is an empty sentinel).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StageChain {
    /// This stage's check runs.
    #[serde(default)]
    pub results: Vec<CheckRun>,
    /// The stages before.
    #[serde(default)]
    pub prev: Option<Box<StageChain>>,
}

/// What the gate machine outputs in [`Mode::Checks`] (the release machine reads it from the
/// nested execution's `Output`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChecksOutput {
    /// The stage results.
    pub stages: StageChain,
    /// The error that stopped the run, if any.
    #[serde(default)]
    pub failure: Option<MachineError>,
    /// Whether a required check did not pass.
    pub blocked: bool,
}

/// An error the machine caught outside any check (`{"Error": ..., "Cause": ...}`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MachineError {
    /// The error name.
    #[serde(rename = "Error", default)]
    pub error: Option<String>,
    /// The cause.
    #[serde(rename = "Cause", default)]
    pub cause: Option<String>,
}

/// What the state machine's report step sends gate-report: the input it ran, the stage results
/// and, when the run broke outside a check, the error.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReportPayload {
    /// The execution's input, unchanged.
    pub input: ExecutionInput,
    /// The stage results.
    #[serde(default)]
    pub stages: Option<StageChain>,
    /// The error that stopped the run, if any.
    #[serde(default)]
    pub failure: Option<MachineError>,
    /// When the execution started (`$$.Execution.StartTime`, ISO-8601), for the run-duration metric.
    #[serde(default)]
    pub started_at: Option<String>,
}

impl ReportPayload {
    /// Every check run, oldest stage first.
    pub fn check_runs(&self) -> Vec<&CheckRun> {
        StageChain::runs(self.stages.as_ref())
    }
}

impl StageChain {
    /// Every check run of a chain, oldest stage first (none without a chain).
    pub fn runs(chain: Option<&StageChain>) -> Vec<&CheckRun> {
        let mut links = Vec::new();
        let mut link = chain;
        while let Some(stage) = link {
            links.push(stage);
            link = stage.prev.as_deref();
        }
        links.iter().rev().flat_map(|s| s.results.iter()).collect()
    }
}

/// The execution name for a (repository, PR, source commit, claim): deterministic, at most
/// 80 characters of `[0-9A-Za-z_-]`, readable, and unique thanks to a hash of the full values.
/// `claim` is the ledger's claim sequence number of the run ([`crate::ports::PrRecord::claims`]),
/// so every claim gets its own name — pushing C1, C2, then C1 again never reuses the first
/// run's name — while a redelivered event of the same claim finds the same name.
pub fn execution_name(
    repository: &RepositoryName,
    pr: &PullRequestId,
    source_commit: &CommitId,
    claim: u64,
    mode: Mode,
) -> String {
    let digest = Sha256::digest(
        format!(
            "{}\n{}\n{}\n{claim}\n{mode:?}",
            repository.as_str(),
            pr.as_str(),
            source_commit.as_str()
        )
        .as_bytes(),
    );
    let hash: String = digest.iter().take(5).map(|b| format!("{b:02x}")).collect();
    let prefix = match mode {
        Mode::Gate => "gate",
        Mode::Cleanup => "cleanup",
        Mode::Checks => "checks",
    };
    let name = format!(
        "{prefix}-{}-pr{}-{}-{claim}-{hash}",
        name_part(repository.as_str(), 24),
        name_part(pr.as_str(), 12),
        name_part(source_commit.as_str(), 12),
    );
    name.chars().take(MAX_EXECUTION_NAME).collect()
}

/// At most `max` characters of `s` for a name: `[0-9A-Za-z_-]`, anything else as `-`.
fn name_part(s: &str, max: usize) -> String {
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
}

/// The execution name of a release of `commit` to `environment`, the lane's `sequence`-th
/// ([`crate::release::lane::LaneRelease::sequence`]): deterministic, so a redelivered push or
/// a retried start finds the same execution; at most 80 characters of `[0-9A-Za-z_-]`,
/// unique thanks to a hash of the full values.
pub fn release_execution_name(
    repository: &RepositoryName,
    environment: &str,
    commit: &str,
    sequence: u64,
) -> String {
    let digest = Sha256::digest(
        format!(
            "{}\n{environment}\n{commit}\n{sequence}",
            repository.as_str()
        )
        .as_bytes(),
    );
    let hash: String = digest.iter().take(5).map(|b| format!("{b:02x}")).collect();
    let name = format!(
        "release-{}-{}-{}-{sequence}-{hash}",
        name_part(repository.as_str(), 20),
        name_part(environment, 16),
        name_part(commit, 12),
    );
    name.chars().take(MAX_EXECUTION_NAME).collect()
}

/// The CodeBuild project name of a PR's CI environment (2–150 characters of `[A-Za-z0-9_-]`).
pub fn environment_name(prefix: &str, repository: &RepositoryName, pr: &PullRequestId) -> String {
    let digest = Sha256::digest(format!("{}\n{}", repository.as_str(), pr.as_str()).as_bytes());
    let hash: String = digest.iter().take(4).map(|b| format!("{b:02x}")).collect();
    let clean = name_part(repository.as_str(), 60);
    format!("{prefix}-{clean}-pr{}-{hash}", pr.as_str())
        .chars()
        .take(150)
        .collect()
}

/// The buildspec a check runs with: fetch and merge the destination commit into the source
/// commit, so the check tests what would merge, then the check's commands in order. PR facts
/// reach the shell only as environment variables, quoted, never spliced into the text.
pub fn buildspec(commands: &[String]) -> String {
    buildspec_after(MERGE_PRELUDE, commands)
}

/// The buildspec of a release's check, deploy or rollback: the commands in order, in the
/// checkout of the commit the build was started on (no merge: a release builds a commit of its
/// branch as it is).
pub fn release_buildspec(commands: &[String]) -> String {
    buildspec_after(&[], commands)
}

/// A buildspec that runs `prelude` in `pre_build`, then `commands` in `build`.
pub(crate) fn buildspec_after(prelude: &[&str], commands: &[String]) -> String {
    let mut text = String::from("version: 0.2\nenv:\n  git-credential-helper: yes\nphases:\n");
    if !prelude.is_empty() {
        text.push_str("  pre_build:\n    commands:\n");
    }
    for line in prelude {
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

pub(crate) fn yaml_quote(s: &str) -> String {
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

/// The stages to run for a plan of `cache.repository`: every planned check, with its build: `facts`
/// then the check's `env` as its variables, its commands rendered by `render` ([`buildspec`]
/// for a pull request, [`release_buildspec`] for a release), the `reports:` section that names
/// the repository's report groups when the check declares reports (pull requests and releases
/// alike), and its cache as `cache` allows ([`cache::CacheScope`]: a pull request restores, a
/// release saves). `buildspecs` maps each `buildspec:` path the planned checks use to its
/// commands ([`buildspec_commands`]).
pub fn stages(
    gate: &Gate,
    plan: &Plan,
    facts: &[EnvVar],
    buildspecs: &BTreeMap<String, Result<Vec<String>, String>>,
    defaults: &BuildDefaults,
    render: fn(&[String]) -> String,
    cache: &cache::CacheScope<'_>,
) -> Result<Vec<StageSpec>, BuildspecError> {
    let mut stages: Vec<StageSpec> = Vec::new();
    for planned in plan.to_run() {
        let Some((_, check)) = gate.check(planned.name.as_str()) else {
            continue;
        };
        let commands = check_commands(check, buildspecs)?;
        let mut spec = check_spec(check, render(&commands), cache.repository, facts, defaults);
        spec.buildspec
            .push_str(&cache.section(check.name.as_str(), &check.cache));
        spec.cache = cache.project_cache(&check.cache);
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

/// A check's commands: its own, or those of its `buildspec:` file.
fn check_commands(
    check: &crate::gate_file::Check,
    buildspecs: &BTreeMap<String, Result<Vec<String>, String>>,
) -> Result<Vec<String>, BuildspecError> {
    let path = match &check.run {
        Run::Commands(commands) => return Ok(commands.clone()),
        Run::Buildspec(path) => path,
    };
    let problem = match buildspecs.get(path) {
        Some(Ok(commands)) => return Ok(commands.clone()),
        Some(Err(problem)) => problem.clone(),
        None => "the file does not exist at the source commit".into(),
    };
    Err(BuildspecError {
        check: check.name.clone(),
        path: path.clone(),
        problem,
    })
}

/// A check's build with `buildspec` (its `reports:` section for `repository` added), without
/// a cache.
fn check_spec(
    check: &crate::gate_file::Check,
    mut buildspec: String,
    repository: &str,
    facts: &[EnvVar],
    defaults: &BuildDefaults,
) -> CheckSpec {
    let mut env = facts.to_vec();
    env.extend(check.env.iter().map(|(k, v)| EnvVar::plain(k, v)));
    if let (Some(reports), Some(prefix)) = (&check.reports, &defaults.report_group_prefix) {
        buildspec.push_str(&reports::reports_section(reports, prefix, repository));
    }
    CheckSpec {
        name: check.name.clone(),
        stage: check.stage.clone(),
        required: check.required,
        buildspec,
        image: check
            .image
            .clone()
            .unwrap_or_else(|| defaults.image.clone()),
        compute_type: check
            .compute_type
            .clone()
            .unwrap_or_else(|| defaults.compute_type.clone()),
        timeout_minutes: check.timeout_minutes,
        task_timeout_seconds: Some(
            u64::from(check.timeout_minutes) * 60 + TASK_TIMEOUT_SLACK_SECONDS,
        ),
        retries: check.retries,
        retry_on_failure: check.retry_on_failure,
        env,
        reports: check.reports.clone(),
        cache: cache::CacheOverride::default(),
    }
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
