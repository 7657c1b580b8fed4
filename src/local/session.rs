//! One `gate run`: the merge in a temporary worktree, the gate file from the base (plus the checks the branch adds), the same planner, the checks, the same report as the PR comment, the history line.
//!
//! Exit codes: 0 the gate passed, 1 it failed (a required check, a merge conflict, an invalid
//! gate file, a promotion rule), 2 a usage or environment error (no repository, unknown ref,
//! missing gate file), 130 stopped by Ctrl-C (after stopping every check and removing the
//! worktree; the run is recorded as cancelled).

use crate::gate_file::{self, Gate, Run};
use crate::ids::{CheckName, CommitId, PullRequestId, RepositoryName, short_id};
use crate::local::cleanup::Cancel;
use crate::local::git::{self, GitError, Repo};
use crate::local::history::{self, CheckEntry, Entry, HistoryVerdict, Merged, NoRunReason, RefAt};
use crate::local::merge::{Land, Landing, Tested};
use crate::local::progress::status_text;
use crate::local::runner::{
    CheckJob, KILL_GRACE, Progress, Runner, StageJobs, format_duration, scaled_minutes,
};
use crate::local::speedups;
use crate::local::store::{self, Store, Utc};
use crate::local::worktree::{Merge, Worktree};
use crate::machine;
use crate::plan::{
    self, ChangedPath, DirectiveRequest, DirectiveSource, Plan, PlanInput, PlannedCheck,
};
use crate::policy::{self, CheckResult, CheckStatus, Directive, Verdict};
use crate::report::{self, Subject};
use crate::test_reports;
use crate::trust::{self, GateFileNote, GateRead, PolicyChange, TrustSource};
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

/// What a run that got as far as a plan adds to its history line.
struct Ran<'a> {
    plan: Option<&'a Plan>,
    results: &'a [CheckResult],
    merged: Option<Merged>,
}

impl Ran<'_> {
    /// A run that ended before planning.
    const NOTHING: Ran<'static> = Ran {
        plan: None,
        results: &[],
        merged: None,
    };
}

/// How the checks of a run ended, and what became of its merge (`gate merge` only).
struct Ended {
    plan: Plan,
    results: Vec<CheckResult>,
    verdict: Verdict,
    cancelled: bool,
    landing: Option<Landing>,
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
    /// Fills in the results' coverage bases from the history (before this run is recorded in
    /// it): the destination's last recorded coverage per check.
    fn fill_coverage_bases(&self, results: &mut [CheckResult], err: &mut dyn Write) {
        if !results
            .iter()
            .any(|r| r.reports.as_ref().is_some_and(|r| r.coverage.is_some()))
        {
            return;
        }
        let history = match history::read(&self.store.history()) {
            Ok(history) => history,
            Err(e) => {
                let _ = writeln!(
                    err,
                    "gate: warning: cannot read the history for coverage bases: {e}"
                );
                return;
            }
        };
        test_reports::fill_coverage_bases(results, |check| {
            history.coverage_base(&self.base.reference, check.as_str())
        });
    }

    fn record(
        &self,
        verdict: HistoryVerdict,
        reason: Option<NoRunReason>,
        merge_commit: Option<&str>,
        ran: Ran<'_>,
        err: &mut dyn Write,
    ) {
        let Ran {
            plan,
            results,
            merged,
        } = ran;
        let checks = plan
            .map(|p| {
                p.to_run()
                    .map(|c| {
                        let r = results.iter().find(|r| r.name == c.name);
                        CheckEntry::new(&c.name, &c.stage, c.required, r)
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
            merged,
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
/// `Err` is a usage or environment error (exit code 2) with its message. Sequential because
/// each step needs the one before: the merge needs the refs, the plan the gate file, the
/// checks the merge and the plan, the report the results. A merge conflict or an invalid gate
/// file ends the run early (exit 1); the worktree is removed when the run ends, either way.
pub fn run(
    request: &RunRequest,
    cancel: &Cancel,
    progress: &dyn Progress,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> Result<u8, String> {
    run_landing(request, cancel, progress, None, out, err)
}

/// [`run`], and when the gate passes (and was not cancelled), `land` lands what it tested
/// before the run is reported and recorded (`gate merge`): the report and the history line say
/// what was merged where. The exit code is 0 only when it landed.
pub fn run_landing(
    request: &RunRequest,
    cancel: &Cancel,
    progress: &dyn Progress,
    land: Option<&mut dyn Land>,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> Result<u8, String> {
    let mut session = Session::open(request, err)?;
    let Some((worktree, merge_commit)) = session.merge(out, err)? else {
        return Ok(EXIT_FAIL);
    };
    let changes = session
        .repo
        .changed_paths(&session.refs.base_commit, &session.refs.head_commit)
        .map_err(git_error)?;
    let Some(RunGate { gate, note, policy }) =
        session.governing(&changes, &merge_commit, out, err)?
    else {
        return Ok(EXIT_FAIL);
    };
    let _ = writeln!(err, "gate: {}", trust_summary(&note));
    let (plan, buildspecs) = session.plan(&gate, note, &policy, &changes, worktree.path(), err);
    let mut stages = session.stages(&gate, &plan, &buildspecs, changes.len(), err);
    let at = speedups::RunAt {
        store: &session.ctx.store,
        worktree: worktree.path(),
        commit: &merge_commit,
        kept: request.keep_worktree,
    };
    let speedups = speedups::before(&gate, &at, &mut stages, err);
    let mut results = session.run_stages(&stages, worktree.path(), cancel, progress);
    let cancelled = cancel.is_cancelled();
    if !cancelled {
        speedups::record_passes(&speedups, &at, &results, &session.ctx.id, err);
    }
    results.extend(speedups.reused.iter().cloned());
    let verdict = policy::verdict(&plan, &results);
    let landing = match land {
        Some(land) if !cancelled && verdict == Verdict::Passed => {
            Some(session.land(land, &merge_commit))
        }
        _ => None,
    };
    if !cancelled {
        let write = session.cache_write(&merge_commit, landing.as_ref(), err);
        speedups::save_caches(&speedups, &at, &results, write, err);
    }
    let ended = Ended {
        plan,
        results,
        verdict,
        cancelled,
        landing,
    };
    let code = session.finish(ended, &merge_commit, out, err);
    drop(worktree);
    Ok(code)
}

/// The refs of one `gate run`: the base as asked (else the default branch), the commits both
/// sides resolve to, and the branch names and full refs the report and the PR facts use.
struct Refs {
    base: String,
    base_commit: String,
    head_commit: String,
    source_branch: String,
    source_reference: String,
    destination_branch: String,
    destination_reference: String,
}

/// The buildspec commands of a plan's checks, by path (see [`read_buildspecs`]).
type Buildspecs = BTreeMap<String, Result<Vec<String>, String>>;

/// What every step of one `gate run` reads: the request, the repository and its refs, the
/// run's context (id, store, report path) and the subject the report names.
struct Session<'a> {
    request: &'a RunRequest,
    repo: Repo,
    refs: Refs,
    ctx: Context,
    subject: Subject,
    /// The head commit's date, which the merge commit takes (so reruns make the same commit).
    head_date: Option<String>,
}

impl<'a> Session<'a> {
    /// Opens the repository and resolves the refs, creates the store and names the run.
    fn open(request: &'a RunRequest, err: &mut dyn Write) -> Result<Self, String> {
        let started = Instant::now();
        let started_at = Utc::now();
        let repo = Repo::open(&request.repo).map_err(git_error)?;
        let refs = resolve_refs(&repo, request, err)?;
        let store = Store::new(repo.dir());
        store
            .ensure()
            .map_err(|e| format!("cannot create {}: {e}", store.root().display()))?;
        let ctx = Context {
            id: run_id(&started_at),
            started_at: started_at.rfc3339_millis(),
            started,
            repository: repo.name(),
            base: RefAt {
                reference: refs.base.clone(),
                commit: refs.base_commit.clone(),
            },
            head: RefAt {
                reference: request.head.clone(),
                commit: refs.head_commit.clone(),
            },
            report_path: request
                .report
                .clone()
                .unwrap_or_else(|| store.last_report()),
            store,
        };
        let (subject, head_date) = subject(&repo, &refs);
        Ok(Session {
            request,
            repo,
            refs,
            ctx,
            subject,
            head_date,
        })
    }

    /// The code that would merge, in a temporary worktree: the worktree and the merge commit,
    /// or `None` when the branch does not merge cleanly (reported and recorded: the gate fails).
    fn merge(
        &mut self,
        out: &mut dyn Write,
        err: &mut dyn Write,
    ) -> Result<Option<(Worktree, String)>, String> {
        let refs = &self.refs;
        let mut worktree = Worktree::add(&self.repo, &refs.base_commit).map_err(git_error)?;
        let merge = worktree
            .merge(&refs.head_commit, self.head_date.as_deref())
            .map_err(git_error)?;
        if self.request.keep_worktree {
            let kept = worktree.keep();
            let _ = writeln!(err, "gate: keeping the worktree at {}", kept.display());
        }
        let merge_commit = match merge {
            Merge::Conflicts { paths } => {
                self.conflicts(&paths, out, err);
                return Ok(None);
            }
            Merge::Merged { commit } => commit,
        };
        self.subject.merge_commit = Some(CommitId::new(merge_commit.clone()));
        let _ = writeln!(
            err,
            "gate: testing {} ({}) merged into {} ({}): merge commit {}",
            self.request.head,
            short_id(&refs.head_commit),
            refs.base,
            short_id(&refs.base_commit),
            short_id(&merge_commit)
        );
        Ok(Some((worktree, merge_commit)))
    }

    /// Reports and records a merge conflict.
    fn conflicts(&self, paths: &[String], out: &mut dyn Write, err: &mut dyn Write) {
        let _ = writeln!(
            err,
            "gate: {} does not merge cleanly into {}; conflicting files:",
            self.refs.source_branch, self.refs.destination_branch
        );
        for p in paths {
            let _ = writeln!(err, "  {p}");
        }
        let ctx = &self.ctx;
        ctx.write_report(&report::merge_conflict(&self.subject, paths).body, err);
        let reason = Some(NoRunReason::MergeConflict);
        ctx.record(HistoryVerdict::Failed, reason, None, Ran::NOTHING, err);
        let _ = writeln!(
            out,
            "Gate failed: merge conflicts in {} file{}.\nReport: {}",
            paths.len(),
            if paths.len() == 1 { "" } else { "s" },
            ctx.report_path.display()
        );
    }

    /// The gate file: the base's (trusted) plus what the branch's adds, or the one given (see
    /// [`governing_gate`]); `None` when a gate file is invalid (reported and recorded: the gate
    /// fails).
    fn governing(
        &self,
        changes: &[ChangedPath],
        merge_commit: &str,
        out: &mut dyn Write,
        err: &mut dyn Write,
    ) -> Result<Option<RunGate>, String> {
        let run = GovernInput {
            base_commit: &self.refs.base_commit,
            head_commit: &self.refs.head_commit,
            destination_branch: &self.refs.destination_branch,
            changes,
        };
        match governing_gate(&self.repo, self.request, &run, &self.subject)? {
            Governed::Gate(governing) => Ok(Some(governing)),
            Governed::Failed { comment, reason } => {
                self.ctx.write_report(&comment.body, err);
                let merge_commit = Some(merge_commit);
                self.ctx.record(
                    HistoryVerdict::Failed,
                    Some(reason),
                    merge_commit,
                    Ran::NOTHING,
                    err,
                );
                let _ = writeln!(
                    out,
                    "Gate failed: the gate file is invalid.\nReport: {}",
                    self.ctx.report_path.display()
                );
                Ok(None)
            }
        }
    }

    /// The plan, by the same planner, with the gate file note attached, and the buildspec
    /// commands of the checks it runs; prints what the planner refused of the requests.
    fn plan(
        &self,
        gate: &Gate,
        note: GateFileNote,
        policy: &[String],
        changes: &[ChangedPath],
        worktree: &Path,
        err: &mut dyn Write,
    ) -> (Plan, Buildspecs) {
        let identity = git::local_identity(Some(&self.repo));
        let requests = self.requests(gate, changes, &identity, err);
        let mut plan = plan::plan(
            gate,
            &PlanInput {
                changes,
                source_branch: Some(&self.refs.source_branch),
                destination_branch: Some(&self.refs.destination_branch),
                author: Some(&identity),
                description: None,
                requests: &requests,
                trusted: Some(&identity),
                policy_paths: policy,
            },
        );
        let base_commit = &self.refs.base_commit;
        let buildspecs = read_buildspecs(&self.repo, gate, &plan, &note, base_commit, worktree);
        plan.gate_file = Some(note);
        for d in &plan.directives {
            for r in &d.refusals {
                let _ = writeln!(err, "gate: `{}`: {}", d.text, report::refusal(r));
            }
        }
        (plan, buildspecs)
    }

    /// The `/gate` directives from the person at the keyboard, who is trusted to ask (the gate
    /// file's other rules still apply: required checks never skip): `--run`, then `--only`,
    /// then `--skip`, then every check when nothing would merge.
    fn requests(
        &self,
        gate: &Gate,
        changes: &[ChangedPath],
        identity: &str,
        err: &mut dyn Write,
    ) -> Vec<DirectiveRequest> {
        let names = |list: &[String]| list.iter().map(|n| CheckName::from(n.as_str())).collect();
        let request = self.request;
        let directives = [
            (!request.run.is_empty()).then(|| Directive::Run {
                checks: names(&request.run),
            }),
            (!request.only.is_empty()).then(|| Directive::Only {
                checks: names(&request.only),
            }),
            (!request.skip.is_empty()).then(|| Directive::Skip {
                checks: names(&request.skip),
                reason: None,
            }),
            self.nothing_merges(changes, err).then(|| Directive::Run {
                checks: gate.checks.iter().map(|c| c.name.clone()).collect(),
            }),
        ];
        directives
            .into_iter()
            .flatten()
            .map(|directive| DirectiveRequest {
                directive,
                author: identity.to_owned(),
                source: DirectiveSource::Comment,
            })
            .collect()
    }

    /// Whether the head is already part of the base (a fresh clone of the default branch):
    /// nothing would merge, so there is no change to select checks by. The gate then tests the
    /// whole tree instead, like CI on the default branch: every check runs, as if asked for
    /// with `--run`.
    fn nothing_merges(&self, changes: &[ChangedPath], err: &mut dyn Write) -> bool {
        let refs = &self.refs;
        let merged = changes.is_empty()
            && self
                .repo
                .merge_base(&refs.base_commit, &refs.head_commit)
                .is_ok_and(|b| b == refs.head_commit);
        if merged {
            let _ = writeln!(
                err,
                "gate: {} is already part of {}: nothing would merge, so every check runs on it",
                short_id(&refs.head_commit),
                refs.destination_branch
            );
        }
        merged
    }

    /// The checks the plan runs, as the runner's stages, with the PR facts in their
    /// environment; prints how many run.
    fn stages(
        &self,
        gate: &Gate,
        plan: &Plan,
        buildspecs: &Buildspecs,
        changed: usize,
        err: &mut dyn Write,
    ) -> Vec<StageJobs> {
        let refs = &self.refs;
        let facts: Vec<(String, String)> = machine::pr_env(
            &self.subject,
            &refs.source_reference,
            &refs.destination_reference,
        )
        .into_iter()
        .map(|v| (v.name, v.value))
        .collect();
        let stages = jobs(gate, plan, buildspecs, &facts, self.request.timeout_scale);
        let count: usize = stages.iter().map(|s| s.checks.len()).sum();
        let _ = writeln!(
            err,
            "gate: {} changed path{}; running {count} of {} check{} in {} stage{}",
            changed,
            if changed == 1 { "" } else { "s" },
            plan.checks.len(),
            if plan.checks.len() == 1 { "" } else { "s" },
            stages.len(),
            if stages.len() == 1 { "" } else { "s" },
        );
        stages
    }

    /// Runs the stages in the worktree, logging to the run's folder.
    fn run_stages(
        &self,
        stages: &[StageJobs],
        worktree: &Path,
        cancel: &Cancel,
        progress: &dyn Progress,
    ) -> Vec<CheckResult> {
        let run_dir = self.ctx.store.run_dir(&self.ctx.id);
        let grace = KILL_GRACE.mul_f64(self.request.timeout_scale.clamp(0.0, 1.0));
        let runner = Runner {
            cwd: worktree,
            log_dir: &run_dir,
            jobs: self.request.jobs.max(1),
            kill_grace: grace,
            cancel,
            progress,
        };
        runner.run(stages)
    }

    /// Lands what a passing run tested (`gate merge`).
    /// Whether this run may write the cache ([`speedups::CacheWrite`]): its tested tree is the
    /// destination's (the destination's tip has the merge commit's tree, or `gate merge` just
    /// landed it). A tree that cannot be read counts as a branch's: the cache is then only read.
    fn cache_write(
        &self,
        merge_commit: &str,
        landing: Option<&Landing>,
        err: &mut dyn Write,
    ) -> speedups::CacheWrite {
        if matches!(landing, Some(Landing::Landed(_))) {
            return speedups::CacheWrite::Destination;
        }
        let tree = |rev: &str| {
            let spec = format!("{rev}^{{tree}}");
            let args = [
                "rev-parse",
                "--verify",
                "--quiet",
                "--end-of-options",
                &spec,
            ];
            self.repo.git(&args).map(|id| id.trim().to_owned())
        };
        match (tree(merge_commit), tree(&self.refs.base_commit)) {
            (Ok(tested), Ok(destination)) if tested == destination => {
                speedups::CacheWrite::Destination
            }
            (Ok(_), Ok(_)) => speedups::CacheWrite::Branch,
            (Err(e), _) | (_, Err(e)) => {
                let _ = writeln!(err, "gate: warning: cannot compare the tested tree: {e}");
                speedups::CacheWrite::Branch
            }
        }
    }

    fn land(&self, land: &mut dyn Land, merge_commit: &str) -> Landing {
        let tested = Tested {
            base_commit: self.refs.base_commit.clone(),
            head_commit: self.refs.head_commit.clone(),
            merge_commit: merge_commit.to_owned(),
            source: self.refs.source_branch.clone(),
        };
        land.land(&self.repo, &tested)
    }

    /// The report (exactly the PR comment, then what was merged), `run.json`, the history line
    /// and the verdict table; returns the exit code.
    fn finish(
        self,
        ended: Ended,
        merge_commit: &str,
        out: &mut dyn Write,
        err: &mut dyn Write,
    ) -> u8 {
        let Ended {
            plan,
            results,
            verdict,
            cancelled,
            landing,
        } = ended;
        let ctx = self.ctx;
        let mut results = results;
        ctx.fill_coverage_bases(&mut results, err);
        let mut body = report::finished(&self.subject, &plan, &results, verdict).body;
        if let Some(landing) = &landing {
            body.push_str(&report::merge::section(landing.note()));
        }
        ctx.write_report(&body, err);
        let run_file = RunFile {
            id: ctx.id.clone(),
            subject: self.subject,
            plan,
            results,
            verdict,
            cancelled,
        };
        let run_dir = ctx.store.run_dir(&ctx.id);
        if let Err(e) = store::write_json_replace(&run_dir.join("run.json"), &run_file) {
            let _ = writeln!(err, "gate: warning: cannot write run.json: {e}");
        }
        let (outcome, code) = match (cancelled, verdict, &landing) {
            (true, _, _) => (HistoryVerdict::Cancelled, EXIT_INTERRUPTED),
            (false, Verdict::Passed, None | Some(Landing::Landed(_))) => {
                (HistoryVerdict::Passed, EXIT_PASS)
            }
            (false, Verdict::Passed, Some(_)) => (HistoryVerdict::Passed, EXIT_FAIL),
            (false, _, _) => (HistoryVerdict::Failed, EXIT_FAIL),
        };
        let merged = match &landing {
            Some(Landing::Landed(m)) => Some(m.clone()),
            _ => None,
        };
        let plan = &run_file.plan;
        let reason = plan
            .promotion
            .as_ref()
            .map(|_| NoRunReason::PromotionRefused);
        let merge_commit = Some(merge_commit);
        let ran = Ran {
            plan: Some(plan),
            results: &run_file.results,
            merged,
        };
        ctx.record(outcome, reason, merge_commit, ran, err);
        let table = table(
            plan,
            &run_file.results,
            verdict,
            cancelled,
            &ctx.report_path,
            &run_dir,
        );
        let _ = out.write_all(table.as_bytes());
        if let Some(landing) = &landing {
            let _ = writeln!(out, "{}", report::merge::line(landing.note()));
        }
        code
    }
}

/// Resolves the base (else the default branch) and the head, and names their branches; notes
/// on standard error when the head is checked out with uncommitted changes, which are not
/// tested.
fn resolve_refs(repo: &Repo, request: &RunRequest, err: &mut dyn Write) -> Result<Refs, String> {
    let base = match &request.base {
        Some(b) => b.clone(),
        None => repo.default_branch().map_err(git_error)?,
    };
    let base_commit = repo.resolve(&base).map_err(git_error)?;
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
    let (source_branch, source_reference) = branch(repo, &request.head);
    let (destination_branch, destination_reference) = branch(repo, &base);
    Ok(Refs {
        base,
        base_commit,
        head_commit,
        source_branch,
        source_reference,
        destination_branch,
        destination_reference,
    })
}

/// A branch's name and full ref, or the ref as given (a tag, a commit, detached HEAD).
fn branch(repo: &Repo, r: &str) -> (String, String) {
    match repo.branch_name(r) {
        Some(b) => (b.clone(), format!("refs/heads/{b}")),
        None => (r.to_owned(), r.to_owned()),
    }
}

/// A new run's id: its start time, then a digest that keeps concurrent runs apart.
pub fn run_id(started_at: &Utc) -> String {
    format!(
        "{}-{}",
        started_at.compact(),
        store::hex_digest(
            &[
                &std::process::id().to_string(),
                &store::unique().to_string()
            ],
            6
        )
    )
}

/// The subject the report names (the merge commit comes later), and the head commit's date.
fn subject(repo: &Repo, refs: &Refs) -> (Subject, Option<String>) {
    let (title, date) = repo
        .commit_subject_and_date(&refs.head_commit)
        .unwrap_or_default();
    let subject = Subject {
        repository: RepositoryName::new(repo.name()),
        pull_request_id: PullRequestId::new(LOCAL_PULL_REQUEST_ID),
        title,
        source_branch: refs.source_branch.clone(),
        destination_branch: refs.destination_branch.clone(),
        source_commit: CommitId::new(refs.head_commit.clone()),
        destination_commit: CommitId::new(refs.base_commit.clone()),
        merge_commit: None,
        revision_id: None,
    };
    (subject, Some(date).filter(|d| !d.is_empty()))
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
            reports: check.reports.clone(),
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

/// The buildspec commands of the plan's checks, every one read at `commit` (a release reads
/// them at the commit it releases).
pub fn buildspecs_at(
    repo: &Repo,
    gate: &Gate,
    plan: &Plan,
    commit: &str,
) -> BTreeMap<String, Result<Vec<String>, String>> {
    machine::buildspec_paths(gate, plan)
        .into_iter()
        .map(|path| {
            let commands = buildspec(&BuildspecAt::Commit(repo, commit), &path);
            (path, commands)
        })
        .collect()
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
    machine::buildspec_paths(gate, plan)
        .into_iter()
        .map(|path| {
            let at = if trust::buildspec_from_destination(gate, note, &path) {
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

/// The gate that governs a `gate run`, where it came from, and the policy paths for the planner.
struct RunGate {
    gate: Box<Gate>,
    note: GateFileNote,
    policy: Vec<String>,
}

/// The gate that governs a `gate run`, or why there is none.
enum Governed {
    /// The gate, where it came from, and the policy paths for the planner.
    Gate(RunGate),
    /// A gate file is invalid: the report says which and why.
    Failed {
        comment: report::Comment,
        reason: NoRunReason,
    },
}

/// Reads and parses a gate file's bytes; `None` when absent.
fn parse_gate(bytes: Option<Vec<u8>>, name: &str) -> GateRead {
    bytes.map(|b| Gate::parse_bytes(b, name))
}

/// The gate file of a `gate run`, by the rule a pull request follows
/// ([`trust::govern_read`]): the base's file governs (the branch under test cannot weaken it),
/// the checks only the branch's file has run too, and what else the branch's file would change
/// is listed. `--gate-file` overrides both, as an experiment the report names. `Err` is the
/// exit-2 case: nothing to judge by.
fn governing_gate(
    repo: &Repo,
    request: &RunRequest,
    run: &GovernInput<'_>,
    subject: &Subject,
) -> Result<Governed, String> {
    let path = gate_file::DEFAULT_PATH;
    let invalid = |comment| Governed::Failed {
        comment,
        reason: NoRunReason::InvalidGateFile,
    };
    if let Some(file) = &request.gate_file {
        let name = file.display().to_string();
        let bytes = std::fs::read(file)
            .map_err(|e| format!("cannot read gate file {}: {e}", file.display()))?;
        return Ok(match Gate::parse_bytes(bytes, &name) {
            Ok(gate) => {
                let note = GateFileNote::new(path, TrustSource::Override { file: name });
                governed(
                    &gate,
                    None,
                    note,
                    PolicyChange::of(&gate, path, run.changes),
                    subject,
                )
            }
            Err(errors) => invalid(report::invalid_gate_file(subject, &errors)),
        });
    }
    let trusted = match parse_gate(
        repo.file_at(run.base_commit, path).map_err(git_error)?,
        path,
    ) {
        Some(Ok(gate)) => gate,
        Some(Err(errors)) => {
            return Ok(invalid(report::invalid_trusted_gate_file(subject, &errors)));
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
    let change = PolicyChange::of(&trusted, path, run.changes);
    let note = GateFileNote::new(
        path,
        TrustSource::Destination {
            branch: run.destination_branch.to_owned(),
            commit: CommitId::new(run.base_commit),
        },
    );
    let proposed = if change.touches_gate_file() {
        Some(parse_gate(
            repo.file_at(run.head_commit, path).map_err(git_error)?,
            path,
        ))
    } else {
        None
    };
    Ok(governed(&trusted, proposed, note, change, subject))
}

/// [`trust::govern_read`] for a `gate run`: the governing gate and the policy paths for the
/// planner, or the branch's own invalid gate file as the report.
fn governed(
    trusted: &Gate,
    proposed: Option<GateRead>,
    note: GateFileNote,
    change: PolicyChange,
    subject: &Subject,
) -> Governed {
    let policy = change.paths.clone();
    match trust::govern_read(trusted, proposed, note, change) {
        trust::Governing::Gate { gate, note } => Governed::Gate(RunGate { gate, note, policy }),
        trust::Governing::InvalidProposed(errors) => Governed::Failed {
            comment: report::invalid_gate_file(subject, &errors),
            reason: NoRunReason::InvalidGateFile,
        },
    }
}

/// One line for standard error: which gate file governs, and what the branch's would change.
fn trust_summary(note: &GateFileNote) -> String {
    let mut line = match &note.source {
        TrustSource::Destination { branch, commit } => format!(
            "gate file: {} from {branch} ({}), the base",
            note.path,
            commit.short()
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
    let mut out = format!(
        "{}: {} check{} run, {} skipped.\n",
        headline(verdict, cancelled),
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
        out.push_str(&check_rows(&ran, results));
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

/// The table's first words.
fn headline(verdict: Verdict, cancelled: bool) -> &'static str {
    if cancelled {
        return "Gate cancelled";
    }
    match verdict {
        Verdict::Passed => "Gate passed",
        Verdict::Failed => "Gate failed",
        Verdict::Pending => "Gate pending",
    }
}

/// The columns of [`check_rows`].
const TABLE_HEADER: [&str; 5] = ["STAGE", "CHECK", "STATUS", "TIME", "ATTEMPTS"];

/// One row a check that ran, under [`TABLE_HEADER`], each column as wide as its widest cell
/// (the time right-aligned).
fn check_rows(ran: &[&PlannedCheck], results: &[CheckResult]) -> String {
    let rows: Vec<[String; 5]> = ran.iter().map(|c| check_row(c, results)).collect();
    let mut widths = TABLE_HEADER.map(str::len);
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
    let mut out = line(TABLE_HEADER);
    for row in &rows {
        out.push_str(&line([&row[0], &row[1], &row[2], &row[3], &row[4]]));
    }
    out
}

/// A check's cells: stage, name, status (flaky, optional), time, attempts.
fn check_row(c: &PlannedCheck, results: &[CheckResult]) -> [String; 5] {
    let r = results.iter().find(|r| r.name == c.name);
    let mut status = r.map_or("no result", |r| status_text(r.status)).to_owned();
    if r.is_some_and(|r| r.flaky) {
        status.push_str(" (flaky)");
    }
    if let Some(reused) = r.and_then(|r| r.reused.as_ref()) {
        status.push_str(&format!(" (reused: {})", short_id(&reused.commit)));
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
}
