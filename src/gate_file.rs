//! The gate file (`.gate.yml`): raw serde structs → one validation step → a [`Gate`] with compiled globs and checked references.
//!
//! Parsing is two-stage. [`raw`] mirrors the YAML exactly (`deny_unknown_fields`, a doc comment
//! on every field stating its default) and is what the JSON Schema is generated from. [`Gate::parse`]
//! then compiles every glob and checks every reference, collecting *all* errors with line, column
//! and a hint, so one round trip fixes a broken file.

use crate::ids::{CheckName, ComponentName};
use globset::{Glob, GlobBuilder, GlobMatcher, GlobSet, GlobSetBuilder};
use indexmap::IndexMap;
use serde::Serialize;
use serde_saphyr::Spanned;
use std::collections::{BTreeMap, HashMap};
use std::fmt;

/// Where the gate file lives in a repository unless configured otherwise.
pub const DEFAULT_PATH: &str = ".gate.yml";
/// The largest gate file accepted (bytes). Real files are a few KiB; this bounds parse time and memory.
pub const MAX_FILE_BYTES: usize = 2 * 1024 * 1024;
/// The only gate-file format version so far.
pub const VERSION: u32 = 1;
/// Default per-check timeout in minutes (CodeBuild's own default is 60).
pub const DEFAULT_TIMEOUT_MINUTES: u32 = 30;
/// CodeBuild's limits for a build timeout, in minutes.
pub const TIMEOUT_RANGE: std::ops::RangeInclusive<u32> = 5..=2160;
/// Upper bound for `retries`, so a broken check cannot burn CI minutes forever.
pub const MAX_RETRIES: u32 = 5;

/// The YAML exactly as written: what serde reads and what the JSON Schema describes.
pub mod raw {
    use indexmap::IndexMap;
    use schemars::JsonSchema;
    use serde::Deserialize;
    use serde_saphyr::Spanned;
    use std::collections::BTreeMap;

    /// A gate file: which checks guard a pull request, and which changes select them.
    #[derive(Debug, Deserialize, JsonSchema)]
    #[serde(deny_unknown_fields)]
    #[schemars(title = "codecommit-gate gate file")]
    pub struct GateFile {
        /// Format version. Default: 1 (the only version).
        #[serde(default)]
        #[schemars(with = "Option<u32>")]
        pub version: Option<Spanned<u32>>,
        /// Stage names in the order they run. Checks of one stage run in parallel; a failed
        /// required check stops the stages after it. Required, at least one.
        #[schemars(with = "Vec<String>")]
        pub stages: Spanned<Vec<Spanned<String>>>,
        /// Parts of the repository, by name. Default: none (every check then always runs).
        #[serde(default)]
        #[schemars(with = "IndexMap<String, Component>")]
        pub components: IndexMap<String, Spanned<Component>>,
        /// The checks, by name. Required, at least one.
        #[schemars(with = "IndexMap<String, Check>")]
        pub checks: Spanned<IndexMap<String, Spanned<Check>>>,
        /// Globs of paths whose change runs every check (toolchain files, lock files, the gate
        /// file itself). Default: none.
        #[serde(default)]
        #[schemars(with = "Vec<String>")]
        pub global: Vec<Spanned<String>>,
        /// Globs of paths whose change runs nothing (docs, images). A path that is both global
        /// and ignored counts as global. Default: none.
        #[serde(default)]
        #[schemars(with = "Vec<String>")]
        pub ignore: Vec<Spanned<String>>,
        /// What a changed path that matches no component, global or ignore glob does.
        /// Default: `run-all` (the safe choice).
        #[serde(default)]
        pub unmatched: Unmatched,
        /// Which checks a pull request may skip, and who may ask. Default: nothing may be skipped.
        #[serde(default)]
        pub skip: Skip,
        /// Destination branch → the source branches allowed to merge into it (globs). A
        /// destination not listed accepts any source. Default: no rules.
        #[serde(default)]
        #[schemars(with = "BTreeMap<String, Vec<String>>")]
        pub promotion: IndexMap<String, Spanned<Vec<Spanned<String>>>>,
        /// Values every check inherits unless it sets its own. Default: see each field.
        #[serde(default)]
        pub defaults: Defaults,
        /// Whether an approval expires when the destination branch moves on: the gate then
        /// revokes it, because the merge it tested is no longer the merge that would happen
        /// (`/gate retry` tests the new one). `false` keeps approvals across destination
        /// pushes. Read from the destination's gate file. Default: true.
        #[serde(default)]
        pub strict: Option<bool>,
        /// Where merged code is released, in promotion order (development → testing →
        /// production): each environment's branch, the checks a release runs first and who
        /// must approve it. `gate release ENV` (docs/local.md). Default: none.
        #[serde(default)]
        #[schemars(with = "IndexMap<String, Environment>")]
        pub environments: IndexMap<String, Spanned<Environment>>,
        /// The merge queue of pull requests into this branch (`/gate merge`): who may queue,
        /// the default strategy, how deep it tests speculatively. Default: see each field.
        #[serde(default)]
        pub merge: super::merge::raw::Merge,
    }

    /// A part of the repository.
    #[derive(Debug, Deserialize, JsonSchema)]
    #[serde(deny_unknown_fields)]
    pub struct Component {
        /// Globs of the paths that belong to it (`*` stays within a folder, `**` crosses
        /// folders, a trailing `/` means everything below). Required, at least one.
        #[schemars(with = "Vec<String>")]
        pub paths: Vec<Spanned<String>>,
        /// Components this one depends on: a change there also selects this one. Cycles are
        /// legal (a change in any member selects them all). Default: none.
        #[serde(default)]
        #[schemars(with = "Vec<String>")]
        pub depends_on: Vec<Spanned<String>>,
        /// How a release deploys it. A component without `deploy` is tested, never deployed.
        /// Default: none.
        #[serde(default)]
        #[schemars(with = "Option<Deploy>")]
        pub deploy: Option<Spanned<Deploy>>,
        /// Builds its artifact once per content, so every environment deploys the same
        /// artifact (`GATE_ARTIFACT_DIR`). Needs `deploy`. Default: none (each deploy builds).
        #[serde(default)]
        #[schemars(with = "Option<Package>")]
        pub package: Option<Spanned<Package>>,
    }

    /// How a component is deployed, and undeployed.
    #[derive(Debug, Deserialize, JsonSchema)]
    #[serde(deny_unknown_fields)]
    pub struct Deploy {
        /// Shell commands run in order in a checkout of the released commit, with
        /// `GATE_ACTION=deploy`, `GATE_ENVIRONMENT`, `GATE_COMPONENT`, `GATE_COMMIT` and
        /// `GATE_PREVIOUS_COMMIT`. Required, at least one.
        pub commands: Vec<String>,
        /// Shell commands that undo a deploy (`GATE_ACTION=rollback`). Default: none, so a
        /// rollback runs `commands` again in a checkout of the previous release.
        #[serde(default)]
        pub rollback: Option<Vec<String>>,
        /// Minutes before a deploy (or rollback) is stopped and counted as failed (5–2160).
        /// Default: 30.
        #[serde(default)]
        #[schemars(with = "Option<u32>")]
        pub timeout: Option<Spanned<u32>>,
        /// Environment variables for the commands (not `GATE_*`). Default: none.
        #[serde(default)]
        #[schemars(with = "BTreeMap<String, String>")]
        pub env: IndexMap<String, Spanned<String>>,
    }

    /// How a component's artifact is built.
    #[derive(Debug, Deserialize, JsonSchema)]
    #[serde(deny_unknown_fields)]
    pub struct Package {
        /// Shell commands that build the artifact in a checkout of the released commit.
        /// Required, at least one.
        pub commands: Vec<String>,
        /// Paths (relative to the repository) the commands produce: they are stored and
        /// handed to every deploy of the same content. Required, at least one.
        #[schemars(with = "Vec<String>")]
        pub outputs: Vec<Spanned<String>>,
    }

    /// An environment code is released to.
    #[derive(Debug, Deserialize, JsonSchema)]
    #[serde(deny_unknown_fields)]
    pub struct Environment {
        /// The branch whose pushes release to it. Required; one environment per branch.
        #[schemars(with = "String")]
        pub branch: Spanned<String>,
        /// The checks a release runs before it deploys (selected by the affected components,
        /// as for a pull request); a failed required one deploys nothing. Default: none.
        #[serde(default)]
        #[schemars(with = "Vec<String>")]
        pub checks: Vec<Spanned<String>>,
        /// A person's approval, asked for after the checks pass. Default: none needed.
        #[serde(default)]
        #[schemars(with = "Option<Approval>")]
        pub approval: Option<Spanned<Approval>>,
    }

    /// Who must approve a release, and for how long the gate waits.
    #[derive(Debug, Deserialize, JsonSchema)]
    #[serde(deny_unknown_fields)]
    pub struct Approval {
        /// Identity globs of who may approve: IAM ARNs on AWS
        /// (`arn:aws:sts::123456789012:assumed-role/Release*/*`), `local:<git user.email>` on
        /// a laptop. An author of the released change cannot approve it alone. Required.
        #[schemars(with = "Vec<String>")]
        pub approvers: Vec<Spanned<String>>,
        /// Minutes to wait for an answer before the release is refused (1–43200). Default: 1440.
        #[serde(default)]
        #[schemars(with = "Option<u32>")]
        pub timeout: Option<Spanned<u32>>,
    }

    /// A check: commands that must pass.
    #[derive(Debug, Deserialize, JsonSchema)]
    #[serde(deny_unknown_fields)]
    pub struct Check {
        /// The stage it runs in (one of `stages`). Required.
        #[schemars(with = "String")]
        pub stage: Spanned<String>,
        /// Components it covers: it runs when one of them is affected. Default: none, which
        /// means the check runs on every pull request that changes anything not ignored.
        #[serde(default)]
        #[schemars(with = "Vec<String>")]
        pub components: Vec<Spanned<String>>,
        /// Shell commands run in order; the first that fails fails the check. Exactly one of
        /// `commands` and `buildspec` is required.
        #[serde(default)]
        pub commands: Option<Vec<String>>,
        /// Path of a buildspec file in the repository, used instead of `commands` on CodeBuild.
        #[serde(default)]
        pub buildspec: Option<String>,
        /// Whether a failure blocks the merge. Default: true. Optional checks are reported
        /// but never block, and only optional checks can be skipped.
        #[serde(default)]
        pub required: Option<bool>,
        /// Minutes before the check is stopped and counted as failed (5–2160).
        /// Default: `defaults.timeout`, else 30.
        #[serde(default)]
        #[schemars(with = "Option<u32>")]
        pub timeout: Option<Spanned<u32>>,
        /// How often an infrastructure failure (CodeBuild error, throttling) is retried (0–5).
        /// Default: `defaults.retries`, else 0.
        #[serde(default)]
        #[schemars(with = "Option<u32>")]
        pub retries: Option<Spanned<u32>>,
        /// Whether a *test* failure is retried too (up to `retries`); a pass after a retry is
        /// reported as flaky. Default: false.
        #[serde(default)]
        pub retry_on_failure: Option<bool>,
        /// CodeBuild image. Default: `defaults.image`, else the project's image.
        #[serde(default)]
        pub image: Option<String>,
        /// CodeBuild compute type, e.g. `BUILD_GENERAL1_SMALL`. Default: `defaults.compute_type`,
        /// else the project's.
        #[serde(default)]
        pub compute_type: Option<String>,
        /// Environment variables for the commands, passed as data (never spliced into shell
        /// text). Names starting with `GATE_` are the gate's own and cannot be set.
        /// Default: none; merged over `defaults.env`.
        #[serde(default)]
        #[schemars(with = "BTreeMap<String, String>")]
        pub env: IndexMap<String, Spanned<String>>,
        /// Test and coverage reports the commands write, read after the check ran so the pull
        /// request shows which tests failed and the line coverage. Default: none.
        #[serde(default)]
        #[schemars(with = "Option<Reports>")]
        pub reports: Option<Spanned<Reports>>,
        /// Folders (or, locally, files) kept from one run of the check to the next: restored before its
        /// commands, saved after they pass. Relative to the repository (`target/`,
        /// `node_modules/`) or to the home folder (`~/.cargo/registry`, CodeBuild only).
        /// Default: `defaults.cache`, else none; `[]` turns the default off.
        #[serde(default)]
        #[schemars(with = "Option<Vec<String>>")]
        pub cache: Option<Vec<Spanned<String>>>,
        /// Whether a pass stands for identical inputs: when everything the check can see (its
        /// components' paths and their dependencies', the `global` paths, its definition and
        /// image) is exactly as in a run where it passed, it is not run again. Default: false.
        #[serde(default)]
        pub reuse: Option<bool>,
    }

    /// The reports a check writes. At least one of `junit` and `coverage`.
    #[derive(Debug, Deserialize, JsonSchema)]
    #[serde(deny_unknown_fields)]
    pub struct Reports {
        /// Globs (relative to the repository) of JUnit XML files: the de-facto format of
        /// pytest `--junitxml`, cargo nextest, jest-junit, Maven Surefire, go-junit-report.
        /// Default: none.
        #[serde(default)]
        #[schemars(with = "Vec<String>")]
        pub junit: Vec<Spanned<String>>,
        /// One line-coverage report. Default: none.
        #[serde(default)]
        #[schemars(with = "Option<Coverage>")]
        pub coverage: Option<Spanned<Coverage>>,
    }

    /// A line-coverage report, and the least coverage the check accepts.
    #[derive(Debug, Deserialize, JsonSchema)]
    #[serde(deny_unknown_fields)]
    pub struct Coverage {
        /// Its format. Required.
        pub format: CoverageFormat,
        /// Its path, relative to the repository (e.g. `coverage.xml`). Required.
        #[schemars(with = "String")]
        pub path: Spanned<String>,
        /// The least line coverage, in whole percent (0–100), under which the check fails.
        /// Default: none (coverage is reported, never enforced).
        #[serde(default)]
        #[schemars(with = "Option<u32>")]
        pub min_line: Option<Spanned<u32>>,
    }

    /// The format of a coverage report.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, serde::Serialize, JsonSchema)]
    #[serde(rename_all = "lowercase")]
    pub enum CoverageFormat {
        /// Cobertura XML: coverage.py `coverage xml`, Istanbul/jest `cobertura`,
        /// cargo-llvm-cov `--cobertura`, gcovr `--cobertura`.
        Cobertura,
        /// LCOV tracefile: coverage.py `coverage lcov`, Istanbul/jest `lcov`,
        /// cargo-llvm-cov `--lcov`, grcov.
        Lcov,
        /// JaCoCo XML (Java, Kotlin).
        Jacoco,
        /// Clover XML: Istanbul/jest `clover`, PHPUnit (its statements stand for lines).
        Clover,
    }

    /// Skipping checks: `/gate skip` in the PR description or a comment.
    #[derive(Debug, Default, Deserialize, JsonSchema)]
    #[serde(deny_unknown_fields)]
    pub struct Skip {
        /// Checks that may be skipped; each must be optional (`required: false`). Default: none.
        #[serde(default)]
        #[schemars(with = "Vec<String>")]
        pub checks: Vec<Spanned<String>>,
        /// IAM ARN globs of who may ask (e.g. `arn:aws:sts::123456789012:assumed-role/Leads/*`).
        /// Default: none, so nobody may skip.
        #[serde(default)]
        #[schemars(with = "Vec<String>")]
        pub authors: Vec<Spanned<String>>,
    }

    /// Defaults for every check.
    #[derive(Debug, Default, Deserialize, JsonSchema)]
    #[serde(deny_unknown_fields)]
    pub struct Defaults {
        /// Default timeout in minutes. Default: 30.
        #[serde(default)]
        #[schemars(with = "Option<u32>")]
        pub timeout: Option<Spanned<u32>>,
        /// Default infrastructure retries. Default: 0.
        #[serde(default)]
        #[schemars(with = "Option<u32>")]
        pub retries: Option<Spanned<u32>>,
        /// Default CodeBuild image. Default: the CodeBuild project's image.
        #[serde(default)]
        pub image: Option<String>,
        /// Default CodeBuild compute type. Default: the CodeBuild project's.
        #[serde(default)]
        pub compute_type: Option<String>,
        /// Environment variables for every check (not `GATE_*`). Default: none.
        #[serde(default)]
        #[schemars(with = "BTreeMap<String, String>")]
        pub env: IndexMap<String, Spanned<String>>,
        /// Cache paths of every check that sets no `cache` of its own. Default: none.
        #[serde(default)]
        #[schemars(with = "Vec<String>")]
        pub cache: Vec<Spanned<String>>,
    }

    /// What a path matching nothing does.
    #[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, JsonSchema)]
    #[serde(rename_all = "kebab-case")]
    pub enum Unmatched {
        /// Run every check (default: a file nobody claimed may matter to everyone).
        #[default]
        RunAll,
        /// Treat it as ignored.
        Ignore,
    }
}

pub use raw::{CoverageFormat, Unmatched};
pub(crate) use releases::valid_branch;
pub use releases::{Approval, Deploy, Environment, Package, RESERVED_ENVIRONMENT_NAMES};
pub use reports::{CoverageReport, Reports};

pub mod cache;
pub mod merge;
mod releases;
mod reports;

/// A position in the gate file, 1-based.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct Position {
    /// Line, from 1.
    pub line: u64,
    /// Column, from 1.
    pub column: u64,
}

/// One thing wrong with a gate file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct GateFileError {
    /// Path of the gate file in the repository.
    pub file: String,
    /// Where, when known.
    pub position: Option<Position>,
    /// What is wrong.
    pub message: String,
    /// How to fix it.
    pub hint: Option<String>,
}

impl fmt::Display for GateFileError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.position {
            Some(p) => write!(f, "{}:{}:{}: {}", self.file, p.line, p.column, self.message)?,
            None => write!(f, "{}: {}", self.file, self.message)?,
        }
        if let Some(hint) = &self.hint {
            write!(f, "\n  hint: {hint}")?;
        }
        Ok(())
    }
}

/// Everything wrong with a gate file (never empty).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, thiserror::Error)]
#[serde(transparent)]
pub struct GateFileErrors(pub Vec<GateFileError>);

impl fmt::Display for GateFileErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.0.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{e}")?;
        }
        Ok(())
    }
}

/// What a check runs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Run {
    /// Shell commands, in order.
    Commands(Vec<String>),
    /// A buildspec file in the repository (CodeBuild only; `gate run` reads its build commands).
    Buildspec(String),
}

/// A validated check.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Check {
    /// Its name.
    pub name: CheckName,
    /// Its stage's name.
    pub stage: String,
    /// Its stage's position in [`Gate::stages`].
    pub stage_index: usize,
    /// Indices into [`Gate::components`]; empty means "always".
    pub components: Vec<usize>,
    /// What it runs.
    pub run: Run,
    /// Whether a failure blocks the merge.
    pub required: bool,
    /// Timeout, minutes.
    pub timeout_minutes: u32,
    /// Retries for infrastructure failures.
    pub retries: u32,
    /// Whether test failures are retried too.
    pub retry_on_failure: bool,
    /// CodeBuild image override.
    pub image: Option<String>,
    /// CodeBuild compute type override.
    pub compute_type: Option<String>,
    /// Environment variables (defaults merged in).
    pub env: BTreeMap<String, String>,
    /// The test and coverage reports it writes, if it declares any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reports: Option<Reports>,
    /// Cache paths (`defaults.cache` when it sets none), normalized: relative to the
    /// repository, or to the home folder when they start with `~/`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub cache: Vec<String>,
    /// Whether a pass on identical inputs stands (`reuse: true`).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub reuse: bool,
}

/// A validated component.
#[derive(Debug, Clone)]
pub struct Component {
    /// Its name.
    pub name: ComponentName,
    /// Its globs as written.
    pub paths: Vec<String>,
    /// Indices of the components it depends on.
    pub depends_on: Vec<usize>,
    /// How a release deploys it (none: tested, never deployed).
    pub deploy: Option<Deploy>,
    /// How its artifact is built once per content.
    pub package: Option<Package>,
}

/// A glob list as written plus its compiled form.
#[derive(Debug, Clone)]
pub struct Globs {
    patterns: Vec<String>,
    set: GlobSet,
}

impl Globs {
    /// Whether `path` matches any of the globs.
    pub fn is_match(&self, path: &str) -> bool {
        self.set.is_match(path)
    }

    /// The first glob (as written) that matches `path`.
    pub fn first_match(&self, path: &str) -> Option<&str> {
        self.set
            .matches(path)
            .first()
            .and_then(|&i| self.patterns.get(i))
            .map(String::as_str)
    }

    /// The globs as written.
    pub fn patterns(&self) -> &[String] {
        &self.patterns
    }

    /// Whether there are no globs.
    pub fn is_empty(&self) -> bool {
        self.patterns.is_empty()
    }
}

/// A promotion rule: which sources may merge into a destination.
#[derive(Debug, Clone)]
pub struct PromotionRule {
    /// The destination pattern as written.
    pub destination: String,
    matcher: GlobMatcher,
    /// Allowed sources.
    pub sources: Globs,
}

impl PromotionRule {
    /// Whether this rule governs `destination_branch`.
    pub fn applies_to(&self, destination_branch: &str) -> bool {
        self.matcher.is_match(destination_branch)
    }
}

/// A validated gate file.
#[derive(Debug, Clone)]
pub struct Gate {
    /// Path of the file it came from (for messages).
    pub file: String,
    /// Stage names in order.
    pub stages: Vec<String>,
    /// Components in file order.
    pub components: Vec<Component>,
    /// Checks in file order.
    pub checks: Vec<Check>,
    /// Paths whose change runs everything.
    pub global: Globs,
    /// Paths whose change runs nothing.
    pub ignore: Globs,
    /// What an unclaimed path does.
    pub unmatched: Unmatched,
    /// Checks that may be skipped (all optional).
    pub skippable: Vec<usize>,
    /// Who may skip.
    pub skip_authors: Globs,
    /// Promotion rules in file order; the first that applies to a destination decides.
    pub promotion: Vec<PromotionRule>,
    /// Whether approvals expire when the destination branch moves (`strict`, default true).
    pub strict: bool,
    /// Dependency cycles (each a list of component names), legal but worth a note.
    pub cycles: Vec<Vec<ComponentName>>,
    /// Release environments in promotion order.
    pub environments: Vec<Environment>,
    /// The merge queue's settings (`merge`).
    pub merge: merge::MergeSettings,
    /// All component globs in one set, for the planner: pattern index → component index.
    pub(crate) component_set: GlobSet,
    pub(crate) component_of_pattern: Vec<usize>,
    /// Reverse dependency edges: component → components that depend on it.
    pub(crate) dependents: Vec<Vec<usize>>,
}

impl Gate {
    /// Parses and validates a gate file. `file` names it in error messages.
    pub fn parse(text: &str, file: &str) -> Result<Gate, GateFileErrors> {
        let raw = parse_raw(text, file)?;
        validate(raw, file)
    }

    /// Like [`Gate::parse`], from the file's bytes: text that is not UTF-8 is an error too.
    pub fn parse_bytes(bytes: Vec<u8>, file: &str) -> Result<Gate, GateFileErrors> {
        match String::from_utf8(bytes) {
            Ok(text) => Gate::parse(&text, file),
            Err(_) => Err(GateFileErrors(vec![GateFileError {
                file: file.to_owned(),
                position: None,
                message: "the file is not UTF-8 text".to_owned(),
                hint: Some("save it as UTF-8".to_owned()),
            }])),
        }
    }

    /// The components whose globs match `path`, each once, in file order.
    pub fn components_of(&self, path: &str) -> Vec<usize> {
        let mut of: Vec<usize> = self
            .component_set
            .matches(path)
            .into_iter()
            .map(|p| self.component_of_pattern[p])
            .collect();
        of.dedup();
        of
    }

    /// The release environment a push to `branch` releases, if any.
    pub fn environment_of_branch(&self, branch: &str) -> Option<&Environment> {
        self.environments.iter().find(|e| e.branch == branch)
    }

    /// The release environment with this name.
    pub fn environment(&self, name: &str) -> Option<&Environment> {
        self.environments.iter().find(|e| e.name == name)
    }

    /// The check with this name.
    pub fn check(&self, name: &str) -> Option<(usize, &Check)> {
        self.checks
            .iter()
            .enumerate()
            .find(|(_, c)| c.name.as_str() == name)
    }

    /// The JSON Schema of the gate file, pretty-printed (what `gate schema` prints).
    pub fn json_schema() -> String {
        let schema = schemars::schema_for!(raw::GateFile);
        let mut text = serde_json::to_string_pretty(&schema).unwrap_or_default();
        text.push('\n');
        text
    }
}

fn pos(loc: serde_saphyr::Location) -> Option<Position> {
    (loc.line() > 0).then(|| Position {
        line: loc.line(),
        column: loc.column(),
    })
}

fn at<T>(s: &Spanned<T>) -> Option<Position> {
    pos(s.referenced)
}

/// Stage one: YAML → raw structs, with resource budgets against hostile input.
fn parse_raw(text: &str, file: &str) -> Result<raw::GateFile, GateFileErrors> {
    let one = |position, message: String, hint: Option<&str>| {
        GateFileErrors(vec![GateFileError {
            file: file.to_owned(),
            position,
            message,
            hint: hint.map(str::to_owned),
        }])
    };
    if text.len() > MAX_FILE_BYTES {
        return Err(one(
            None,
            format!(
                "the file is {} bytes; a gate file may be at most {} bytes",
                text.len(),
                MAX_FILE_BYTES
            ),
            Some("split generated content out of the gate file"),
        ));
    }
    if text.trim().is_empty() {
        return Err(one(
            None,
            "the file is empty".to_owned(),
            Some("start from gate.example.yml: it needs at least `stages` and `checks`"),
        ));
    }
    let options = serde_saphyr::options! {
        budget: serde_saphyr::budget! {
            max_depth: 32,
            max_documents: 1,
            max_aliases: 1_000,
            max_anchors: 1_000,
            max_events: 2_000_000,
            max_recorded_anchor_events: 100_000,
            max_recorded_anchor_bytes: 4 * 1024 * 1024,
        },
    };
    serde_saphyr::from_str_with_options::<raw::GateFile>(text, options).map_err(|e| {
        let message = yaml_message(&e);
        let hint = hint_for(&message);
        one(e.location().and_then(pos), message, hint)
    })
}

/// The error's message without the snippet and location that serde-saphyr appends.
fn yaml_message(e: &serde_saphyr::Error) -> String {
    let full = e.without_snippet().to_string();
    let first = full.lines().next().unwrap_or("invalid YAML").trim();
    // serde-saphyr ends messages with " at line X column Y"; we print the position ourselves.
    let trimmed = match first.rfind(" at line ") {
        Some(i) => &first[..i],
        None => first,
    };
    trimmed.trim_end_matches([',', '.', ':']).to_owned()
}

fn hint_for(message: &str) -> Option<&'static str> {
    if message.contains("unknown field") {
        Some("check the spelling; the keys are listed in gate.example.yml and `gate schema`")
    } else if message.contains("missing field") {
        Some("add the field; `stages` and `checks` are required, and every check needs a `stage`")
    } else if message.contains("invalid u32") {
        Some("expected a whole number here, e.g. `timeout: 20`")
    } else if message.contains("budget") || message.contains("limit") {
        Some("the file nests too deeply or uses too many aliases; write it out plainly")
    } else {
        None
    }
}

struct Errors<'a> {
    file: &'a str,
    list: Vec<GateFileError>,
}

impl Errors<'_> {
    fn push(&mut self, position: Option<Position>, message: impl Into<String>, hint: &str) {
        self.list.push(GateFileError {
            file: self.file.to_owned(),
            position,
            message: message.into(),
            hint: (!hint.is_empty()).then(|| hint.to_owned()),
        });
    }
}

/// The prefix of the variables the gate itself sets for every check (`GATE_DESTINATION_COMMIT`,
/// ...): a gate file may not set or blank them, or a check could skip the merge it must test.
pub const RESERVED_ENV_PREFIX: &str = "GATE_";

/// Why a check may not set a `GATE_*` variable.
const CHECK_GATE_VARIABLE_HINT: &str = "the GATE_* variables describe the pull request under \
     test (the merge prelude relies on them); a gate file may not set them: choose another name";

/// Checks environment variable names: valid shell names, not CodeBuild's and not the gate's own
/// (`gate_hint` says why, for the owner at hand).
fn check_env(
    env: &IndexMap<String, Spanned<String>>,
    owner: &str,
    gate_hint: &str,
    errors: &mut Errors<'_>,
) {
    for (key, value) in env {
        if key.is_empty()
            || !key
                .chars()
                .all(|ch| ch.is_ascii_alphanumeric() || ch == '_')
            || key.starts_with(|ch: char| ch.is_ascii_digit())
        {
            errors.push(
                at(value),
                format!("{owner} has invalid environment variable name `{key}`"),
                "use letters, digits and `_`, not starting with a digit",
            );
        } else if key.starts_with("CODEBUILD_") {
            errors.push(
                at(value),
                format!("{owner} sets `{key}`, a name CodeBuild reserves"),
                "CodeBuild sets the CODEBUILD_* variables itself; choose another name",
            );
        } else if key.to_ascii_uppercase().starts_with(RESERVED_ENV_PREFIX) {
            errors.push(
                at(value),
                format!("{owner} sets `{key}`, a variable the gate sets itself"),
                gate_hint,
            );
        }
    }
}

fn compile_glob(pattern: &str) -> Result<Glob, globset::Error> {
    let mut p = pattern
        .trim_start_matches("./")
        .trim_start_matches('/')
        .to_owned();
    if p.ends_with('/') {
        p.push_str("**");
    }
    GlobBuilder::new(&p).literal_separator(true).build()
}

/// What a glob list's invalid glob is told with.
const GLOB_HINT: &str =
    "globs use `*` within a folder, `**` across folders, `?`, `[abc]` and `{a,b}`";

/// Path globs (`global`, `ignore`): as [`compile_glob`] reads them.
fn compile_globs(list: &[Spanned<String>], what: &str, errors: &mut Errors<'_>) -> Globs {
    glob_list(list, compile_glob, errors, |glob, e| {
        (
            format!("invalid glob `{glob}` in {what}: {}", e.kind()),
            GLOB_HINT,
        )
    })
}

/// Branch globs: `*` stays within one `/`-separated part (`release/*`).
fn branch_glob(pattern: &str) -> Result<Glob, globset::Error> {
    GlobBuilder::new(pattern).literal_separator(true).build()
}

/// A promotion rule's source branch globs.
fn compile_branch_globs(list: &[Spanned<String>], errors: &mut Errors<'_>) -> Globs {
    glob_list(list, branch_glob, errors, |glob, e| {
        (
            format!("invalid branch pattern `{glob}`: {}", e.kind()),
            "use a branch name, or a glob such as `feature/*`",
        )
    })
}

/// Compiles each glob of `list` with `build` into one [`Globs`]; one that does not compile is
/// left out and reported with the message and hint `invalid` gives.
fn glob_list(
    list: &[Spanned<String>],
    build: impl Fn(&str) -> Result<Glob, globset::Error>,
    errors: &mut Errors<'_>,
    invalid: impl Fn(&str, &globset::Error) -> (String, &'static str),
) -> Globs {
    let mut builder = GlobSetBuilder::new();
    let mut patterns = Vec::new();
    for g in list {
        match build(&g.value) {
            Ok(glob) => {
                builder.add(glob);
                patterns.push(g.value.clone());
            }
            Err(e) => {
                let (message, hint) = invalid(&g.value, &e);
                errors.push(at(g), message, hint);
            }
        }
    }
    Globs {
        set: builder.build().unwrap_or_else(|_| GlobSet::empty()),
        patterns,
    }
}

fn suggest<'a>(name: &str, known: impl Iterator<Item = &'a str>) -> String {
    let known: Vec<&str> = known.collect();
    let close = known
        .iter()
        .filter(|k| edit_distance(k, name) <= 2)
        .copied()
        .collect::<Vec<_>>();
    if let Some(first) = close.first() {
        format!("did you mean `{first}`?")
    } else if known.is_empty() {
        "none are defined yet".to_owned()
    } else {
        format!("known: {}", known.join(", "))
    }
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1];
        for (j, cb) in b.iter().enumerate() {
            let cost = usize::from(ca != *cb);
            let v = (prev[j] + cost).min(prev[j + 1] + 1).min(cur[j] + 1);
            cur.push(v);
        }
        prev = cur;
    }
    prev.last().copied().unwrap_or(0)
}

pub(crate) fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

const NAME_HINT: &str = "names use letters, digits, `-`, `_` and `.`, at most 64 characters";

/// Stage two: check every reference, compile every glob. Sequential because each step leans on
/// the names the earlier ones validated (checks name stages and components, `skip` names checks);
/// every step records what is wrong and goes on, so one round trip reports every error.
fn validate(raw: raw::GateFile, file: &str) -> Result<Gate, GateFileErrors> {
    let mut errors = Errors {
        file,
        list: Vec::new(),
    };
    check_version(raw.version.as_ref(), &mut errors);
    let stages = validate_stages(&raw.stages, &mut errors);
    let components = validate_components(&raw.components, &mut errors);
    let dependents = dependents_of(&components.list);
    let defaults_env = validate_defaults(&raw.defaults, &mut errors);
    let checks = validate_checks(&raw, &stages, &defaults_env, &mut errors);
    let global = compile_globs(&raw.global, "`global`", &mut errors);
    let ignore = compile_globs(&raw.ignore, "`ignore`", &mut errors);
    let skippable = validate_skip(&raw.skip.checks, &raw.checks.value, &checks, &mut errors);
    let skip_authors = compile_arn_globs(&raw.skip.authors, &mut errors);
    let promotion = validate_promotion(&raw.promotion, &mut errors);
    let component_of_pattern = components.of_pattern;
    let component_set = build_component_set(components.set, &mut errors);
    let mut components = components.list;
    releases::validate_deploys(&raw.components, &mut components, &mut errors);
    let environments = releases::validate_environments(&raw, &mut errors);
    let merge = merge::validate(&raw.merge, &mut errors);

    if !errors.list.is_empty() {
        errors.list.sort_by_key(|e| e.position);
        return Err(GateFileErrors(errors.list));
    }
    let cycles = find_cycles(&components);
    Ok(Gate {
        file: file.to_owned(),
        stages: stages.names,
        components,
        checks,
        global,
        ignore,
        unmatched: raw.unmatched,
        skippable,
        skip_authors,
        promotion,
        strict: raw.strict.unwrap_or(true),
        cycles,
        environments,
        merge,
        component_set,
        component_of_pattern,
        dependents,
    })
}

/// Refuses a `version` other than the one this gate understands.
fn check_version(version: Option<&Spanned<u32>>, errors: &mut Errors<'_>) {
    if let Some(v) = version
        && v.value != VERSION
    {
        errors.push(
            at(v),
            format!("unsupported version {}", v.value),
            "this gate understands `version: 1`",
        );
    }
}

/// The stage names in order, and each one's position, as far as they are valid.
struct Stages {
    names: Vec<String>,
    index: HashMap<String, usize>,
}

/// Validates `stages`: at least one, valid names, none listed twice.
fn validate_stages(raw: &Spanned<Vec<Spanned<String>>>, errors: &mut Errors<'_>) -> Stages {
    let mut stages = Stages {
        names: Vec::new(),
        index: HashMap::new(),
    };
    if raw.value.is_empty() {
        errors.push(
            at(raw),
            "`stages` is empty",
            "list at least one stage, e.g. `stages: [test]`",
        );
    }
    for s in &raw.value {
        if !valid_name(&s.value) {
            errors.push(
                at(s),
                format!("invalid stage name `{}`", s.value),
                NAME_HINT,
            );
        }
        if stages
            .index
            .insert(s.value.clone(), stages.names.len())
            .is_some()
        {
            errors.push(
                at(s),
                format!("stage `{}` is listed twice", s.value),
                "each stage appears once in `stages`",
            );
        } else {
            stages.names.push(s.value.clone());
        }
    }
    stages
}

/// The validated components, and their globs gathered for one set (compiled last, see
/// [`build_component_set`]): pattern index → component index.
struct Components {
    list: Vec<Component>,
    set: GlobSetBuilder,
    of_pattern: Vec<usize>,
}

/// Validates `components`: names, globs and `depends_on` references.
fn validate_components(
    raw: &IndexMap<String, Spanned<raw::Component>>,
    errors: &mut Errors<'_>,
) -> Components {
    let mut components = Components {
        list: Vec::with_capacity(raw.len()),
        set: GlobSetBuilder::new(),
        of_pattern: Vec::new(),
    };
    for (i, (name, c)) in raw.iter().enumerate() {
        if !valid_name(name) {
            errors.push(at(c), format!("invalid component name `{name}`"), NAME_HINT);
        }
        if c.value.paths.is_empty() {
            errors.push(
                at(c),
                format!("component `{name}` has no `paths`"),
                "give it at least one glob, e.g. `paths: [\"services/api/**\"]`",
            );
        }
        for p in &c.value.paths {
            match compile_glob(&p.value) {
                Ok(glob) => {
                    components.set.add(glob);
                    components.of_pattern.push(i);
                }
                Err(e) => errors.push(
                    at(p),
                    format!(
                        "invalid glob `{}` in component `{name}`: {}",
                        p.value,
                        e.kind()
                    ),
                    GLOB_HINT,
                ),
            }
        }
        components.list.push(Component {
            name: ComponentName::new(name.clone()),
            paths: c.value.paths.iter().map(|p| p.value.clone()).collect(),
            depends_on: component_dependencies(raw, i, name, &c.value.depends_on, errors),
            deploy: None,
            package: None,
        });
    }
    components
}

/// Resolves component `i`'s `depends_on` to indices: known, not itself, each once.
fn component_dependencies(
    raw: &IndexMap<String, Spanned<raw::Component>>,
    i: usize,
    name: &str,
    depends_on: &[Spanned<String>],
    errors: &mut Errors<'_>,
) -> Vec<usize> {
    let mut resolved = Vec::new();
    for d in depends_on {
        match raw.get_index_of(d.value.as_str()) {
            Some(j) if j == i => errors.push(
                at(d),
                format!("component `{name}` depends on itself"),
                "remove it from its own `depends_on`",
            ),
            Some(j) => push_once(&mut resolved, j),
            None => errors.push(
                at(d),
                format!(
                    "component `{name}` depends on unknown component `{}`",
                    d.value
                ),
                &suggest(&d.value, raw.keys().map(String::as_str)),
            ),
        }
    }
    resolved
}

/// Appends `i` unless it is there already.
fn push_once(list: &mut Vec<usize>, i: usize) {
    if !list.contains(&i) {
        list.push(i);
    }
}

/// Reverse dependency edges: component → components that depend on it.
fn dependents_of(components: &[Component]) -> Vec<Vec<usize>> {
    let mut dependents = vec![Vec::new(); components.len()];
    for (i, c) in components.iter().enumerate() {
        for &d in &c.depends_on {
            dependents[d].push(i);
        }
    }
    dependents
}

/// Validates `defaults` and returns the environment every check inherits.
fn validate_defaults(
    defaults: &raw::Defaults,
    errors: &mut Errors<'_>,
) -> BTreeMap<String, String> {
    check_env(
        &defaults.env,
        "`defaults`",
        CHECK_GATE_VARIABLE_HINT,
        errors,
    );
    if let Some(t) = &defaults.timeout {
        check_timeout(t, errors);
    }
    if let Some(r) = &defaults.retries {
        check_retries(r, errors);
    }
    cache::validate_paths("`defaults`", &defaults.cache, errors);
    defaults
        .env
        .iter()
        .map(|(k, v)| (k.clone(), v.value.clone()))
        .collect()
}

/// Refuses a timeout CodeBuild would not accept.
fn check_timeout(t: &Spanned<u32>, errors: &mut Errors<'_>) {
    if !TIMEOUT_RANGE.contains(&t.value) {
        errors.push(
            at(t),
            format!("timeout {} is out of range", t.value),
            "CodeBuild accepts 5 to 2160 minutes",
        );
    }
}

/// Refuses more retries than [`MAX_RETRIES`].
fn check_retries(r: &Spanned<u32>, errors: &mut Errors<'_>) {
    if r.value > MAX_RETRIES {
        errors.push(
            at(r),
            format!("retries {} is more than {MAX_RETRIES}", r.value),
            "retries are for infrastructure failures; fix a check that needs more",
        );
    }
}

/// Validates `checks` (at least one, each valid) and then that every stage has one.
fn validate_checks(
    raw: &raw::GateFile,
    stages: &Stages,
    defaults_env: &BTreeMap<String, String>,
    errors: &mut Errors<'_>,
) -> Vec<Check> {
    let mut checks = Vec::with_capacity(raw.checks.value.len());
    if raw.checks.value.is_empty() {
        errors.push(
            at(&raw.checks),
            "`checks` is empty",
            "define at least one check with a `stage` and `commands`",
        );
    }
    let mut stage_used = vec![false; stages.names.len()];
    for (name, c) in &raw.checks.value {
        if !valid_name(name) {
            errors.push(at(c), format!("invalid check name `{name}`"), NAME_HINT);
        }
        let stage = check_stage(name, &c.value.stage, stages, errors);
        if let Some(i) = stage {
            stage_used[i] = true;
        }
        let components = check_components(name, &c.value.components, &raw.components, errors);
        let run = check_run(name, c, errors);
        checks.push(settle_check(
            name,
            &c.value,
            &raw.defaults,
            defaults_env,
            CheckParts {
                stage_index: stage.unwrap_or(0),
                components,
                run,
            },
            errors,
        ));
    }
    check_stages_used(&raw.stages.value, &stages.names, &stage_used, errors);
    checks
}

/// What [`validate_checks`] resolved of a check before its values are settled.
struct CheckParts {
    stage_index: usize,
    components: Vec<usize>,
    run: Run,
}

/// The index of the stage a check names, if it is one of `stages`.
fn check_stage(
    name: &str,
    stage: &Spanned<String>,
    stages: &Stages,
    errors: &mut Errors<'_>,
) -> Option<usize> {
    let found = stages.index.get(&stage.value).copied();
    if found.is_none() {
        errors.push(
            at(stage),
            format!("check `{name}` uses unknown stage `{}`", stage.value),
            &suggest(&stage.value, stages.names.iter().map(String::as_str)),
        );
    }
    found
}

/// The indices of the components a check covers, each once; unknown ones are errors.
fn check_components(
    name: &str,
    covers: &[Spanned<String>],
    components: &IndexMap<String, Spanned<raw::Component>>,
    errors: &mut Errors<'_>,
) -> Vec<usize> {
    let mut resolved = Vec::new();
    for comp in covers {
        match components.get_index_of(comp.value.as_str()) {
            Some(j) => push_once(&mut resolved, j),
            None => errors.push(
                at(comp),
                format!("check `{name}` covers unknown component `{}`", comp.value),
                &suggest(&comp.value, components.keys().map(String::as_str)),
            ),
        }
    }
    resolved
}

/// What a check runs: exactly one of `commands` and `buildspec`.
fn check_run(name: &str, c: &Spanned<raw::Check>, errors: &mut Errors<'_>) -> Run {
    match (&c.value.commands, &c.value.buildspec) {
        (Some(cmds), None) if !cmds.is_empty() => Run::Commands(cmds.clone()),
        (None, Some(b)) if !b.trim().is_empty() => Run::Buildspec(b.clone()),
        (Some(_), Some(_)) => {
            errors.push(
                at(c),
                format!("check `{name}` has both `commands` and `buildspec`"),
                "keep one: `commands` for inline shell, `buildspec` for a file",
            );
            Run::Commands(Vec::new())
        }
        _ => {
            errors.push(
                at(c),
                format!("check `{name}` has nothing to run"),
                "add `commands: [\"...\"]` or `buildspec: path/to/buildspec.yml`",
            );
            Run::Commands(Vec::new())
        }
    }
}

/// Validates a check's own values and settles each one: the check's, else `defaults`', else
/// the gate's default.
fn settle_check(
    name: &str,
    spec: &raw::Check,
    defaults: &raw::Defaults,
    defaults_env: &BTreeMap<String, String>,
    parts: CheckParts,
    errors: &mut Errors<'_>,
) -> Check {
    if let Some(t) = &spec.timeout {
        check_timeout(t, errors);
    }
    if let Some(r) = &spec.retries {
        check_retries(r, errors);
    }
    check_env(
        &spec.env,
        &format!("check `{name}`"),
        CHECK_GATE_VARIABLE_HINT,
        errors,
    );
    let mut env = defaults_env.clone();
    env.extend(spec.env.iter().map(|(k, v)| (k.clone(), v.value.clone())));
    Check {
        name: CheckName::new(name.to_owned()),
        stage: spec.stage.value.clone(),
        stage_index: parts.stage_index,
        components: parts.components,
        run: parts.run,
        required: spec.required.unwrap_or(true),
        timeout_minutes: spec
            .timeout
            .as_ref()
            .or(defaults.timeout.as_ref())
            .map_or(DEFAULT_TIMEOUT_MINUTES, |t| t.value),
        retries: spec
            .retries
            .as_ref()
            .or(defaults.retries.as_ref())
            .map_or(0, |r| r.value),
        retry_on_failure: spec.retry_on_failure.unwrap_or(false),
        image: spec.image.clone().or_else(|| defaults.image.clone()),
        compute_type: spec
            .compute_type
            .clone()
            .or_else(|| defaults.compute_type.clone()),
        env,
        reports: spec
            .reports
            .as_ref()
            .map(|r| reports::validate(name, r, errors)),
        cache: match &spec.cache {
            Some(list) => cache::validate_paths(&format!("check `{name}`"), list, errors),
            None => cache::normalized(&defaults.cache),
        },
        reuse: spec.reuse.unwrap_or(false),
    }
}

/// Reports every stage no check uses.
fn check_stages_used(
    raw: &[Spanned<String>],
    stages: &[String],
    used: &[bool],
    errors: &mut Errors<'_>,
) {
    for (i, used) in used.iter().enumerate() {
        if !used && let Some(s) = raw.iter().find(|s| s.value == stages[i]) {
            errors.push(
                at(s),
                format!("stage `{}` has no checks", stages[i]),
                "remove the stage or give a check `stage: <name>`",
            );
        }
    }
}

/// Resolves `skip.checks` to check indices: known, optional, each once.
fn validate_skip(
    names: &[Spanned<String>],
    raw_checks: &IndexMap<String, Spanned<raw::Check>>,
    checks: &[Check],
    errors: &mut Errors<'_>,
) -> Vec<usize> {
    let mut skippable = Vec::new();
    for s in names {
        match raw_checks.get_index_of(s.value.as_str()) {
            Some(i) => {
                if checks.get(i).is_some_and(|c| c.required) {
                    errors.push(
                        at(s),
                        format!("check `{}` is required and can never be skipped", s.value),
                        "mark it `required: false`, or remove it from `skip.checks`",
                    );
                } else {
                    push_once(&mut skippable, i);
                }
            }
            None => errors.push(
                at(s),
                format!("`skip.checks` names unknown check `{}`", s.value),
                &suggest(&s.value, raw_checks.keys().map(String::as_str)),
            ),
        }
    }
    skippable
}

/// Compiles the `promotion` rules; a rule whose destination pattern is invalid is left out.
fn validate_promotion(
    raw: &IndexMap<String, Spanned<Vec<Spanned<String>>>>,
    errors: &mut Errors<'_>,
) -> Vec<PromotionRule> {
    let mut promotion = Vec::new();
    for (dest, sources) in raw {
        let matcher = match branch_glob(dest) {
            Ok(g) => g.compile_matcher(),
            Err(e) => {
                errors.push(
                    at(sources),
                    format!(
                        "invalid branch pattern `{dest}` in `promotion`: {}",
                        e.kind()
                    ),
                    "use a branch name such as `production`, or a glob such as `release/*`",
                );
                continue;
            }
        };
        if sources.value.is_empty() {
            errors.push(
                at(sources),
                format!("`promotion.{dest}` allows no source branch"),
                "list the branches that may merge into it, e.g. `[testing]`",
            );
        }
        promotion.push(PromotionRule {
            destination: dest.clone(),
            matcher,
            sources: compile_branch_globs(&sources.value, errors),
        });
    }
    promotion
}

/// Compiles the component globs gathered by [`validate_components`] into one set.
fn build_component_set(builder: GlobSetBuilder, errors: &mut Errors<'_>) -> GlobSet {
    match builder.build() {
        Ok(set) => set,
        Err(e) => {
            errors.push(None, format!("cannot compile component globs: {e}"), "");
            GlobSet::empty()
        }
    }
}

/// An identity glob (`approvers`): `*` crosses `/`, as in `assumed-role/Leads/*`.
fn arn_glob(pattern: &str) -> Result<Glob, globset::Error> {
    GlobBuilder::new(pattern).literal_separator(false).build()
}

impl Approval {
    /// The approval rule of `approvers` (identity globs as written, compiled as the gate
    /// file compiles them) waiting `timeout_minutes`: how gate-approve rebuilds the rule a
    /// waiting release was planned with. The first glob that does not compile is an error.
    pub fn from_patterns(approvers: &[String], timeout_minutes: u32) -> Result<Approval, String> {
        let mut builder = GlobSetBuilder::new();
        for pattern in approvers {
            let glob = arn_glob(pattern)
                .map_err(|e| format!("invalid ARN pattern `{pattern}`: {}", e.kind()))?;
            builder.add(glob);
        }
        let set = builder.build().map_err(|e| e.to_string())?;
        Ok(Approval {
            approvers: Globs {
                patterns: approvers.to_vec(),
                set,
            },
            timeout_minutes,
        })
    }
}

/// IAM ARN globs: `*` matches anything, including `/` (role paths and session names).
fn compile_arn_globs(list: &[Spanned<String>], errors: &mut Errors<'_>) -> Globs {
    glob_list(list, arn_glob, errors, |glob, e| {
        (
            format!("invalid ARN pattern `{glob}`: {}", e.kind()),
            "e.g. `arn:aws:sts::123456789012:assumed-role/Leads/*`",
        )
    })
}

/// Strongly connected components with more than one member (Tarjan, iterative so a
/// 10,000-deep chain cannot overflow the stack).
fn find_cycles(components: &[Component]) -> Vec<Vec<ComponentName>> {
    let n = components.len();
    let mut index = vec![usize::MAX; n];
    let mut low = vec![0; n];
    let mut on_stack = vec![false; n];
    let mut stack = Vec::new();
    let mut next = 0;
    let mut out = Vec::new();
    for root in 0..n {
        if index[root] != usize::MAX {
            continue;
        }
        // (node, next edge position)
        let mut work = vec![(root, 0usize)];
        index[root] = next;
        low[root] = next;
        next += 1;
        stack.push(root);
        on_stack[root] = true;
        while let Some(&mut (v, ref mut edge)) = work.last_mut() {
            if let Some(&w) = components[v].depends_on.get(*edge) {
                *edge += 1;
                if index[w] == usize::MAX {
                    index[w] = next;
                    low[w] = next;
                    next += 1;
                    stack.push(w);
                    on_stack[w] = true;
                    work.push((w, 0));
                } else if on_stack[w] {
                    low[v] = low[v].min(index[w]);
                }
            } else {
                work.pop();
                if let Some(&(parent, _)) = work.last() {
                    low[parent] = low[parent].min(low[v]);
                }
                if low[v] == index[v] {
                    let mut members = Vec::new();
                    while let Some(w) = stack.pop() {
                        on_stack[w] = false;
                        members.push(w);
                        if w == v {
                            break;
                        }
                    }
                    if members.len() > 1 {
                        members.sort_unstable();
                        out.push(
                            members
                                .into_iter()
                                .map(|m| components[m].name.clone())
                                .collect(),
                        );
                    }
                }
            }
        }
    }
    out.sort();
    out
}
