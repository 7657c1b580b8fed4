//! One `gate run`: the merge in a temporary worktree, the gate file from the base (plus the checks the branch adds), the same planner, the checks, the same report as the PR comment, the history line.
//!
//! Exit codes: 0 the gate passed, 1 it failed (a required check, a merge conflict, an invalid
//! gate file, a promotion rule), 2 a usage or environment error (no repository, unknown ref,
//! missing gate file), 130 stopped by Ctrl-C (after stopping every check and removing the
//! worktree; the run is recorded as cancelled).

use crate::gate_file::{self, Gate, GateFileErrors, Run};
use crate::ids::{CheckName, CommitId, PullRequestId, RepositoryName};
use crate::local::cleanup::Cancel;
use crate::local::git::{self, GitError, Repo};
use crate::local::history::{self, CheckEntry, Entry, Outcome, Reason as HistoryReason, RefAt};
use crate::local::progress::status_text;
use crate::local::runner::{
    CheckJob, KILL_GRACE, Progress, Runner, StageJobs, format_duration, scaled_minutes,
};
use crate::local::store::{self, Store, Utc};
use crate::local::worktree::{Merge, Worktree};
use crate::machine;
use crate::plan::{self, ChangedPath, DirectiveSource, Plan, PlanInput, Request};
use crate::policy::{self, CheckResult, CheckStatus, Directive, Verdict};
use crate::report::{self, Subject};
use crate::trust::{self, GateFileNote, Proposed, TrustSource};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Component, Path, PathBuf};
use std::time::{Duration, Instant};

/// The gate passed.
pub const EXIT_PASS: u8 = 0;
/// The gate failed.
pub const EXIT_FAIL: u8 = 1;
/// A usage or environment error.
pub const EXIT_ERROR: u8 = 2;
/// Stopped by Ctrl-C (128 + SIGINT, the shell's convention).
pub const EXIT_INTERRUPTED: u8 = 130;

/// The pull request id the local report uses.
pub const LOCAL_PULL_REQUEST_ID: &str = "local";

/// What `gate run` was asked to do.
#[derive(Debug, Clone, PartialEq)]
pub struct RunRequest {
    /// A folder in the repository.
    pub repo: PathBuf,
    /// The destination; default: the repository's default branch.
    pub base: Option<String>,
    /// The source.
    pub head: String,
    /// A gate file to try instead of the base's `.gate.yml` (an experiment the report names).
    pub gate_file: Option<PathBuf>,
    /// Checks of a stage run at once.
    pub jobs: usize,
    /// `/gate only` these.
    pub only: Vec<String>,
    /// `/gate skip` these.
    pub skip: Vec<String>,
    /// `/gate run` these (also when no change selects them).
    pub run: Vec<String>,
    /// Keep the worktree after the run.
    pub keep_worktree: bool,
    /// Where the Markdown report goes; default `.gate/last-report.md`.
    pub report: Option<PathBuf>,
    /// Multiplies every timeout and the kill grace period (1.0 in real use; tests shrink it).
    pub timeout_scale: f64,
}

impl RunRequest {
    /// A request with the defaults for the repository at `repo`.
    pub fn new(repo: impl Into<PathBuf>) -> Self {
        Self {
            repo: repo.into(),
            base: None,
            head: "HEAD".to_owned(),
            gate_file: None,
            jobs: default_jobs(),
            only: Vec::new(),
            skip: Vec::new(),
            run: Vec::new(),
            keep_worktree: false,
            report: None,
            timeout_scale: 1.0,
        }
    }
}

/// The number of cores, the default for `--jobs`.
pub fn default_jobs() -> usize {
    std::thread::available_parallelism().map_or(2, usize::from)
}

/// `.gate/logs/<run-id>/run.json`: everything the report was written from, so tools (and
/// tests) can re-render it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunFile {
    /// The run id.
    pub id: String,
    /// The revision under test.
    pub subject: Subject,
    /// The plan.
    pub plan: Plan,
    /// The results of the checks the plan runs.
    pub results: Vec<CheckResult>,
    /// The verdict.
    pub verdict: Verdict,
    /// Whether Ctrl-C stopped it.
    pub cancelled: bool,
}

fn git_error(e: GitError) -> String {
    e.to_string()
}

struct Context {
    id: String,
    started_at: String,
    started: Instant,
    store: Store,
    repository: String,
    base: RefAt,
    head: RefAt,
    report_path: PathBuf,
}

impl Context {
    fn record(
        &self,
        verdict: Outcome,
        reason: Option<HistoryReason>,
        merge_commit: Option<&str>,
        plan: Option<&Plan>,
        results: &[CheckResult],
        err: &mut dyn Write,
    ) {
        let checks = plan
            .map(|p| {
                p.to_run()
                    .map(|c| {
                        let r = results.iter().find(|r| r.name == c.name);
                        CheckEntry {
                            name: c.name.as_str().to_owned(),
                            stage: c.stage.clone(),
                            required: c.required,
                            status: r.map_or(CheckStatus::Cancelled, |r| r.status),
                            duration_ms: r.and_then(|r| r.duration_ms),
                            attempts: r.map_or(0, |r| r.attempts),
                            flaky: r.is_some_and(|r| r.flaky),
                        }
                    })
                    .collect()
            })
            .unwrap_or_default();
        let entry = Entry {
            version: history::VERSION,
            id: self.id.clone(),
            started_at: self.started_at.clone(),
            duration_ms: u64::try_from(self.started.elapsed().as_millis()).unwrap_or(u64::MAX),
            repository: self.repository.clone(),
            base: self.base.clone(),
            head: self.head.clone(),
            merge_commit: merge_commit.map(str::to_owned),
            verdict,
            reason,
            checks,
            skipped: plan
                .map(|p| p.skipped().map(|c| c.name.as_str().to_owned()).collect())
                .unwrap_or_default(),
        };
        if let Err(e) = history::append(&self.store, &entry) {
            let _ = writeln!(
                err,
                "gate: warning: cannot record the run in {}: {e}",
                self.store.history().display()
            );
        }
    }

    fn write_report(&self, body: &str, err: &mut dyn Write) {
        let run_copy = self.store.run_dir(&self.id).join("report.md");
        for path in [&self.report_path, &run_copy] {
            if let Err(e) = store::write_replace(path, body.as_bytes()) {
                let _ = writeln!(
                    err,
                    "gate: warning: cannot write the report {}: {e}",
                    path.display()
                );
            }
        }
    }
}

/// Runs the gate on the merge of `request.head` into `request.base` and returns the exit code;
/// `Err` is a usage or environment error (exit code 2) with its message.
pub fn run(
    request: &RunRequest,
    cancel: &Cancel,
    progress: &dyn Progress,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> Result<u8, String> {
    let started = Instant::now();
    let started_at = Utc::now();
    let repo = Repo::open(&request.repo).map_err(git_error)?;
    let base_ref = match &request.base {
        Some(b) => b.clone(),
        None => repo.default_branch().map_err(git_error)?,
    };
    let base_commit = repo.resolve(&base_ref).map_err(git_error)?;
    let head_commit = repo.resolve(&request.head).map_err(git_error)?;
    let head_is_checked_out = request.head == "HEAD"
        || repo.resolve("HEAD").ok().as_deref() == Some(head_commit.as_str());
    if head_is_checked_out && repo.has_uncommitted_changes().unwrap_or(false) {
        let _ = writeln!(
            err,
            "gate: note: the working copy has uncommitted changes; they are NOT tested \
             (gate run tests committed {} only)",
            request.head
        );
    }
    let store = Store::new(repo.dir());
    store
        .ensure()
        .map_err(|e| format!("cannot create {}: {e}", store.root().display()))?;
    let id = format!(
        "{}-{}",
        started_at.compact(),
        store::hex_digest(
            &[
                &std::process::id().to_string(),
                &store::unique().to_string()
            ],
            6
        )
    );
    // A branch's name and full ref, or the ref as given (a tag, a commit, detached HEAD).
    let branch = |r: &str| match repo.branch_name(r) {
        Some(b) => (b.clone(), format!("refs/heads/{b}")),
        None => (r.to_owned(), r.to_owned()),
    };
    let (source_branch, source_reference) = branch(&request.head);
    let (destination_branch, destination_reference) = branch(&base_ref);
    let ctx = Context {
        id: id.clone(),
        started_at: started_at.rfc3339_millis(),
        started,
        repository: repo.name(),
        base: RefAt {
            reference: base_ref.clone(),
            commit: base_commit.clone(),
        },
        head: RefAt {
            reference: request.head.clone(),
            commit: head_commit.clone(),
        },
        report_path: request
            .report
            .clone()
            .unwrap_or_else(|| store.last_report()),
        store,
    };
    let (head_subject, date) = repo
        .commit_subject_and_date(&head_commit)
        .unwrap_or_default();
    let date = Some(date).filter(|d| !d.is_empty());
    let mut subject = Subject {
        repository: RepositoryName::new(repo.name()),
        pull_request_id: PullRequestId::new(LOCAL_PULL_REQUEST_ID),
        title: head_subject,
        source_branch: source_branch.clone(),
        destination_branch: destination_branch.clone(),
        source_commit: CommitId::new(head_commit.clone()),
        destination_commit: CommitId::new(base_commit.clone()),
        merge_commit: None,
        revision_id: None,
    };

    // The code that would merge.
    let mut worktree = Worktree::add(&repo, &base_commit).map_err(git_error)?;
    let merge = worktree
        .merge(&head_commit, date.as_deref())
        .map_err(git_error)?;
    if request.keep_worktree {
        let kept = worktree.keep();
        let _ = writeln!(err, "gate: keeping the worktree at {}", kept.display());
    }
    let merge_commit = match merge {
        Merge::Conflicts { paths } => {
            let _ = writeln!(
                err,
                "gate: {source_branch} does not merge cleanly into {destination_branch}; conflicting files:"
            );
            for p in &paths {
                let _ = writeln!(err, "  {p}");
            }
            ctx.write_report(&report::merge_conflict(&subject, &paths).body, err);
            ctx.record(
                Outcome::Failed,
                Some(HistoryReason::MergeConflict),
                None,
                None,
                &[],
                err,
            );
            let _ = writeln!(
                out,
                "Gate failed: merge conflicts in {} file{}.\nReport: {}",
                paths.len(),
                if paths.len() == 1 { "" } else { "s" },
                ctx.report_path.display()
            );
            return Ok(EXIT_FAIL);
        }
        Merge::Merged { commit } => commit,
    };
    subject.merge_commit = Some(CommitId::new(merge_commit.clone()));
    let _ = writeln!(
        err,
        "gate: testing {} ({}) merged into {} ({}): merge commit {}",
        request.head,
        short(&head_commit),
        base_ref,
        short(&base_commit),
        short(&merge_commit)
    );

    // The gate file: the base's (trusted) plus what the branch's adds, or the one given.
    let changes = repo
        .changed_paths(&base_commit, &head_commit)
        .map_err(git_error)?;
    let governed = governing_gate(
        &repo,
        request,
        &GovernInput {
            base_commit: &base_commit,
            head_commit: &head_commit,
            destination_branch: &destination_branch,
            changes: &changes,
        },
        &subject,
    )?;
    let (gate, note, policy) = match governed {
        Governed::Gate { gate, note, policy } => (gate, note, policy),
        Governed::Failed { comment, reason } => {
            ctx.write_report(&comment.body, err);
            ctx.record(
                Outcome::Failed,
                Some(reason),
                Some(&merge_commit),
                None,
                &[],
                err,
            );
            let _ = writeln!(
                out,
                "Gate failed: the gate file is invalid.\nReport: {}",
                ctx.report_path.display()
            );
            return Ok(EXIT_FAIL);
        }
    };
    let _ = writeln!(err, "gate: {}", trust_summary(&note));

    // The plan, by the same planner.
    let identity = git::local_identity(Some(&repo));
    let names = |list: &[String]| list.iter().map(|n| CheckName::from(n.as_str())).collect();
    let mut run_requests: Vec<Request> = if request.run.is_empty() {
        Vec::new()
    } else {
        vec![Request {
            directive: Directive::Run {
                checks: names(&request.run),
            },
            author: identity.clone(),
            source: DirectiveSource::Comment,
        }]
    };
    // `--only`, then `--skip`: the `/gate` directives from the person at the keyboard, who is
    // trusted to ask (the gate file's other rules still apply: required checks never skip).
    for directive in [
        (!request.only.is_empty()).then(|| Directive::Only {
            checks: names(&request.only),
        }),
        (!request.skip.is_empty()).then(|| Directive::Skip {
            checks: names(&request.skip),
            reason: None,
        }),
    ]
    .into_iter()
    .flatten()
    {
        run_requests.push(Request {
            directive,
            author: identity.clone(),
            source: DirectiveSource::Comment,
        });
    }
    // HEAD already part of the base (a fresh clone of the default branch): nothing would
    // merge, so there is no change to select checks by. Gate the whole tree instead, like CI
    // on the default branch: every check runs, as if asked for with `--run`.
    if changes.is_empty()
        && repo
            .merge_base(&base_commit, &head_commit)
            .is_ok_and(|b| b == head_commit)
    {
        let _ = writeln!(
            err,
            "gate: {} is already part of {}: nothing would merge, so every check runs on it",
            request_head_name(&head_commit),
            destination_branch
        );
        run_requests.push(Request {
            directive: Directive::Run {
                checks: gate.checks.iter().map(|c| c.name.clone()).collect(),
            },
            author: identity.clone(),
            source: DirectiveSource::Comment,
        });
    }
    let plan = plan::plan(
        &gate,
        &PlanInput {
            changes: &changes,
            source_branch: Some(&source_branch),
            destination_branch: Some(&destination_branch),
            author: Some(&identity),
            description: None,
            requests: &run_requests,
            trusted: Some(&identity),
            policy_paths: &policy,
        },
    );
    let mut plan = plan;
    let buildspecs = read_buildspecs(&repo, &gate, &plan, &note, &base_commit, worktree.path());
    plan.gate_file = Some(note);
    for d in &plan.directives {
        for r in &d.refusals {
            let _ = writeln!(err, "gate: `{}`: {}", d.text, report::refusal(r));
        }
    }

    // The checks.
    let facts: Vec<(String, String)> =
        machine::pr_env(&subject, &source_reference, &destination_reference)
            .into_iter()
            .map(|v| (v.name, v.value))
            .collect();
    let stages = jobs(&gate, &plan, &buildspecs, &facts, request.timeout_scale);
    let count: usize = stages.iter().map(|s| s.checks.len()).sum();
    let _ = writeln!(
        err,
        "gate: {} changed path{}; running {count} of {} check{} in {} stage{}",
        changes.len(),
        if changes.len() == 1 { "" } else { "s" },
        plan.checks.len(),
        if plan.checks.len() == 1 { "" } else { "s" },
        stages.len(),
        if stages.len() == 1 { "" } else { "s" },
    );
    let run_dir = ctx.store.run_dir(&id);
    let grace = KILL_GRACE.mul_f64(request.timeout_scale.clamp(0.0, 1.0));
    let runner = Runner {
        cwd: worktree.path(),
        log_dir: &run_dir,
        jobs: request.jobs.max(1),
        kill_grace: grace,
        cancel,
        progress,
    };
    let results = runner.run(&stages);
    let cancelled = cancel.is_cancelled();
    let verdict = policy::verdict(&plan, &results);

    // The report: exactly the PR comment.
    let comment = report::finished(&subject, &plan, &results, verdict);
    ctx.write_report(&comment.body, err);
    let run_file = RunFile {
        id: id.clone(),
        subject,
        plan,
        results,
        verdict,
        cancelled,
    };
    if let Err(e) = store::write_json_replace(&run_dir.join("run.json"), &run_file) {
        let _ = writeln!(err, "gate: warning: cannot write run.json: {e}");
    }
    let outcome = if cancelled {
        Outcome::Cancelled
    } else if verdict == Verdict::Passed {
        Outcome::Passed
    } else {
        Outcome::Failed
    };
    ctx.record(
        outcome,
        run_file
            .plan
            .promotion
            .as_ref()
            .map(|_| HistoryReason::PromotionRefused),
        Some(&merge_commit),
        Some(&run_file.plan),
        &run_file.results,
        err,
    );
    let _ = out.write_all(
        table(
            &run_file.plan,
            &run_file.results,
            verdict,
            cancelled,
            &ctx.report_path,
            &run_dir,
        )
        .as_bytes(),
    );
    drop(worktree);
    Ok(if cancelled {
        EXIT_INTERRUPTED
    } else if verdict == Verdict::Passed {
        EXIT_PASS
    } else {
        EXIT_FAIL
    })
}

fn short(commit: &str) -> &str {
    commit.get(..8).unwrap_or(commit)
}

/// The checks a plan runs, ready for the runner: commands (a `buildspec:` file's from
/// `buildspecs`, see [`read_buildspecs`]), the PR facts and the check's `env`, the timeout
/// times `timeout_scale`.
pub fn jobs(
    gate: &Gate,
    plan: &Plan,
    buildspecs: &BTreeMap<String, Result<Vec<String>, String>>,
    facts: &[(String, String)],
    timeout_scale: f64,
) -> Vec<StageJobs> {
    let mut stages: Vec<StageJobs> = Vec::new();
    for planned in plan.to_run() {
        let Some((_, check)) = gate.check(planned.name.as_str()) else {
            continue;
        };
        let commands = match &check.run {
            Run::Commands(commands) => Ok(commands.clone()),
            Run::Buildspec(path) => buildspecs
                .get(path)
                .cloned()
                .unwrap_or_else(|| Err(format!("buildspec `{path}`: not read"))),
        };
        let mut env = facts.to_vec();
        env.extend(check.env.iter().map(|(k, v)| (k.clone(), v.clone())));
        let job = CheckJob {
            name: check.name.clone(),
            stage: check.stage.clone(),
            required: check.required,
            commands,
            env,
            timeout: scaled_minutes(check.timeout_minutes, timeout_scale),
            retries: check.retries,
            retry_on_failure: check.retry_on_failure,
        };
        match stages.last_mut() {
            Some(stage) if stage.name == check.stage => stage.checks.push(job),
            _ => stages.push(StageJobs {
                name: check.stage.clone(),
                checks: vec![job],
            }),
        }
    }
    stages
}

/// Where a buildspec is read from.
enum BuildspecAt<'a> {
    /// A commit of the repository (the base, for the trusted checks).
    Commit(&'a Repo, &'a str),
    /// The worktree (the merge: checks the branch adds, or a `--gate-file` experiment).
    Worktree(&'a Path),
}

/// The buildspec commands of the plan's checks. A buildspec a trusted check names is read at
/// the base commit, so the branch cannot rewrite what a trusted check runs; one that only a
/// check the branch adds names, or any under `--gate-file`, from the merged worktree.
fn read_buildspecs(
    repo: &Repo,
    gate: &Gate,
    plan: &Plan,
    note: &GateFileNote,
    base_commit: &str,
    worktree: &Path,
) -> BTreeMap<String, Result<Vec<String>, String>> {
    let added: Vec<&CheckName> = note.added().collect();
    let overridden = matches!(note.source, TrustSource::Override { .. });
    machine::buildspec_paths(gate, plan)
        .into_iter()
        .map(|path| {
            let trusted = !overridden
                && gate.checks.iter().any(|c| {
                    !added.contains(&&c.name) && matches!(&c.run, Run::Buildspec(p) if *p == path)
                });
            let at = if trusted {
                BuildspecAt::Commit(repo, base_commit)
            } else {
                BuildspecAt::Worktree(worktree)
            };
            let commands = buildspec(&at, &path);
            (path, commands)
        })
        .collect()
}

/// The commands of a `buildspec:` file.
fn buildspec(at: &BuildspecAt<'_>, path: &str) -> Result<Vec<String>, String> {
    let relative = Path::new(path);
    if relative
        .components()
        .any(|c| !matches!(c, Component::Normal(_) | Component::CurDir))
    {
        return Err(format!(
            "buildspec `{path}`: must be a relative path inside the repository"
        ));
    }
    let text = match at {
        BuildspecAt::Worktree(worktree) => match std::fs::read(worktree.join(relative)) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(format!(
                    "buildspec `{path}`: the file does not exist in the merged code"
                ));
            }
            Err(e) => return Err(format!("buildspec `{path}`: {e}")),
        },
        BuildspecAt::Commit(repo, commit) => match repo.file_at(commit, path) {
            Ok(Some(bytes)) => bytes,
            Ok(None) => {
                return Err(format!(
                    "buildspec `{path}`: the file does not exist on the base, whose gate file \
                     names it"
                ));
            }
            Err(e) => return Err(format!("buildspec `{path}`: {e}")),
        },
    };
    let text = String::from_utf8(text)
        .map_err(|_| format!("buildspec `{path}`: the file is not UTF-8 text"))?;
    machine::buildspec_commands(&text).map_err(|problem| format!("buildspec `{path}`: {problem}"))
}

/// What [`governing_gate`] needs to know about the run.
struct GovernInput<'a> {
    base_commit: &'a str,
    head_commit: &'a str,
    destination_branch: &'a str,
    changes: &'a [ChangedPath],
}

/// The gate that governs a `gate run`, or why there is none.
enum Governed {
    /// The gate, where it came from, and the policy paths for the planner.
    Gate {
        gate: Box<Gate>,
        note: GateFileNote,
        policy: Vec<String>,
    },
    /// A gate file is invalid: the report says which and why.
    Failed {
        comment: report::Comment,
        reason: HistoryReason,
    },
}

/// Reads and parses a gate file's bytes; `None` when absent.
fn parse_gate(bytes: Option<Vec<u8>>, name: &str) -> Option<Result<Gate, GateFileErrors>> {
    bytes.map(|b| Gate::parse(&String::from_utf8_lossy(&b), name))
}

/// The gate file of a `gate run`, by the rule a pull request follows: the base's file governs
/// (the branch under test cannot weaken it), the checks only the branch's file has run too,
/// and what else the branch's file would change is listed. `--gate-file` overrides both, as an
/// experiment the report names. `Err` is the exit-2 case: nothing to judge by.
fn governing_gate(
    repo: &Repo,
    request: &RunRequest,
    run: &GovernInput<'_>,
    subject: &Subject,
) -> Result<Governed, String> {
    let path = gate_file::DEFAULT_PATH;
    if let Some(file) = &request.gate_file {
        let name = file.display().to_string();
        let bytes = std::fs::read(file)
            .map_err(|e| format!("cannot read gate file {}: {e}", file.display()))?;
        return Ok(match Gate::parse(&String::from_utf8_lossy(&bytes), &name) {
            Ok(gate) => {
                let policy = trust::policy_paths(&gate, path);
                let note = GateFileNote::new(path, TrustSource::Override { file: name });
                let touched = trust::touched(run.changes, &policy);
                governed(&gate, Proposed::Untouched, note, touched, policy)
            }
            Err(errors) => Governed::Failed {
                comment: report::invalid_gate_file(subject, &errors),
                reason: HistoryReason::InvalidGateFile,
            },
        });
    }
    let trusted = match parse_gate(
        repo.file_at(run.base_commit, path).map_err(git_error)?,
        path,
    ) {
        Some(Ok(gate)) => gate,
        Some(Err(errors)) => {
            return Ok(Governed::Failed {
                comment: report::invalid_trusted_gate_file(subject, &errors),
                reason: HistoryReason::InvalidGateFile,
            });
        }
        None => {
            return Err(format!(
                "no gate file: {} has no {path}, and the gate takes its rules only from the base \
                 (the branch under test cannot choose them). Add one to {} first, or try the \
                 branch's with --gate-file {path}; `gate schema` describes the format",
                run.destination_branch, run.destination_branch
            ));
        }
    };
    let policy = trust::policy_paths(&trusted, path);
    let touched = trust::touched(run.changes, &policy);
    let note = GateFileNote::new(
        path,
        TrustSource::Destination {
            branch: run.destination_branch.to_owned(),
            commit: CommitId::new(run.base_commit),
        },
    );
    let proposed = if policy.first().is_some_and(|p| touched.contains(p)) {
        parse_gate(
            repo.file_at(run.head_commit, path).map_err(git_error)?,
            path,
        )
    } else {
        return Ok(governed(
            &trusted,
            Proposed::Untouched,
            note,
            touched,
            policy,
        ));
    };
    Ok(match proposed {
        None => governed(&trusted, Proposed::Removed, note, touched, policy),
        Some(Ok(mine)) => governed(&trusted, Proposed::File(&mine), note, touched, policy),
        Some(Err(errors)) => Governed::Failed {
            comment: report::invalid_gate_file(subject, &errors),
            reason: HistoryReason::InvalidGateFile,
        },
    })
}

fn governed(
    trusted: &Gate,
    proposed: Proposed<'_>,
    note: GateFileNote,
    touched: Vec<String>,
    policy: Vec<String>,
) -> Governed {
    let (gate, note) = trust::govern(trusted, proposed, note, touched);
    Governed::Gate {
        gate: Box::new(gate),
        note,
        policy,
    }
}

/// One line for standard error: which gate file governs, and what the branch's would change.
fn trust_summary(note: &GateFileNote) -> String {
    let mut line = match &note.source {
        TrustSource::Destination { branch, commit } => format!(
            "gate file: {} from {branch} ({}), the base",
            note.path,
            short(commit.as_str())
        ),
        TrustSource::Override { file } => {
            format!("gate file: {file} (--gate-file: an experiment, not the base's)")
        }
    };
    if !note.touched.is_empty() {
        line.push_str(&format!(
            "; the branch changes {}, so every check runs",
            note.touched.join(", ")
        ));
    }
    let added: Vec<&str> = note.added().map(CheckName::as_str).collect();
    if !added.is_empty() {
        line.push_str(&format!(
            "; the branch's gate file adds {} (run now)",
            added.join(", ")
        ));
    }
    let other = note.changes.len() - added.len();
    if other > 0 {
        line.push_str(&format!(
            "; {other} other change{} to the gate file take{} effect only once merged (see the report)",
            if other == 1 { "" } else { "s" },
            if other == 1 { "s" } else { "" },
        ));
    }
    line
}

/// The verdict table `gate run` prints on standard output (plain text).
pub fn table(
    plan: &Plan,
    results: &[CheckResult],
    verdict: Verdict,
    cancelled: bool,
    report: &Path,
    logs: &Path,
) -> String {
    let ran: Vec<_> = plan.to_run().collect();
    let skipped: Vec<_> = plan.skipped().collect();
    let headline = if cancelled {
        "Gate cancelled".to_owned()
    } else {
        match verdict {
            Verdict::Passed => "Gate passed".to_owned(),
            Verdict::Failed => "Gate failed".to_owned(),
            Verdict::Pending => "Gate pending".to_owned(),
        }
    };
    let mut out = format!(
        "{headline}: {} check{} run, {} skipped.\n",
        ran.len(),
        if ran.len() == 1 { "" } else { "s" },
        skipped.len()
    );
    if let Some(v) = &plan.promotion {
        out.push_str(&format!(
            "The promotion rules do not allow {} into {} (allowed: {}).\n",
            v.source,
            v.destination,
            v.allowed.join(", ")
        ));
    }
    if !ran.is_empty() {
        let rows: Vec<[String; 5]> = ran
            .iter()
            .map(|c| {
                let r = results.iter().find(|r| r.name == c.name);
                let mut status = r.map_or("no result", |r| status_text(r.status)).to_owned();
                if r.is_some_and(|r| r.flaky) {
                    status.push_str(" (flaky)");
                }
                if !c.required {
                    status.push_str(" (optional)");
                }
                [
                    c.stage.clone(),
                    c.name.as_str().to_owned(),
                    status,
                    r.and_then(|r| r.duration_ms).map_or_else(
                        || "-".to_owned(),
                        |ms| format_duration(Duration::from_millis(ms)),
                    ),
                    r.map_or(0, |r| r.attempts).to_string(),
                ]
            })
            .collect();
        let header = ["STAGE", "CHECK", "STATUS", "TIME", "ATTEMPTS"];
        let mut widths = header.map(str::len);
        for row in &rows {
            for (w, cell) in widths.iter_mut().zip(row) {
                *w = (*w).max(cell.chars().count());
            }
        }
        let line = |cells: [&str; 5]| {
            let mut l = String::from(" ");
            for (i, (cell, w)) in cells.iter().zip(widths).enumerate() {
                if i == 3 {
                    l.push_str(&format!(" {cell:>w$}"));
                } else {
                    l.push_str(&format!(" {cell:<w$}"));
                }
            }
            l.trim_end().to_owned() + "\n"
        };
        out.push_str(&line(header));
        for row in &rows {
            out.push_str(&line([&row[0], &row[1], &row[2], &row[3], &row[4]]));
        }
    }
    if !skipped.is_empty() {
        let list: Vec<String> = skipped
            .iter()
            .map(|c| {
                let why: Vec<String> = c.reasons.iter().map(report::reason).collect();
                format!("{} ({})", c.name, why.join("; "))
            })
            .collect();
        out.push_str(&format!("Skipped: {}\n", list.join(", ")));
    }
    for r in results {
        if matches!(
            r.status,
            CheckStatus::Failed | CheckStatus::TimedOut | CheckStatus::Errored
        ) && let Some(log) = &r.log_url
        {
            out.push_str(&format!("Log of {}: {log}\n", r.name));
        }
    }
    out.push_str(&format!("Report: {}\n", report.display()));
    if !ran.is_empty() {
        out.push_str(&format!("Logs: {}\n", logs.display()));
    }
    out
}

fn request_head_name(commit: &str) -> &str {
    commit.get(..8).unwrap_or(commit)
}
