//! One `gate release ENV` on a laptop: the plan against the environment's last release, the
//! environment's checks, the packages, a person's approval, the deploys in waves, the rollback
//! of a failed release, the records and the report.
//!
//! Exit codes: 0 released (or nothing to release), 1 a check, package or deploy failed (after
//! the rollback), the approval is missing or refused, the gate file is invalid, or the commit
//! does not descend from the last release (without `--force`); 2 a usage or environment error
//! (unknown environment or ref, the environment is being released already); 130 interrupted
//! (running commands are stopped and what this release deployed is rolled back).

mod approval;
mod artifacts;
mod deploy;
mod records;

pub use approval::{Answer, Asker, Terminal};
pub use artifacts::Artifacts;
pub use records::{EnvLock, Records};

use crate::gate_file::{self, Gate};
use crate::ids::short_id;
use crate::local::cleanup::Cancel;
use crate::local::git::{self, Repo};
use crate::local::runner::Progress;
use crate::local::session::{EXIT_ERROR, EXIT_FAIL, EXIT_INTERRUPTED, EXIT_PASS};
use crate::local::store::{Store, Utc};
use crate::release::{
    self, EnvironmentState, RECORD_VERSION, ReleaseInput, ReleaseOutcome, ReleasePlan,
    ReleaseRecord,
};
use crate::report;
use std::io::Write;
use std::path::PathBuf;
use std::time::Instant;

/// What `gate release` was asked to do.
#[derive(Debug, Clone, PartialEq)]
pub struct ReleaseRequest {
    /// A folder in the repository.
    pub repo: PathBuf,
    /// The environment.
    pub environment: String,
    /// The commit to release; default: the tip of the environment's branch.
    pub commit: Option<String>,
    /// Approved in advance (`--approve`).
    pub approve: bool,
    /// Release a commit that does not descend from the last release (`--force`, recorded).
    pub force: bool,
    /// Checks of a stage, packages and deploys of a wave run at once.
    pub jobs: usize,
    /// Multiplies every timeout and the kill grace period (1.0 in real use; tests shrink it).
    pub timeout_scale: f64,
}

impl ReleaseRequest {
    /// A request with the defaults for `environment` of the repository at `repo`.
    pub fn new(repo: impl Into<PathBuf>, environment: impl Into<String>) -> Self {
        Self {
            repo: repo.into(),
            environment: environment.into(),
            commit: None,
            approve: false,
            force: false,
            jobs: crate::local::session::default_jobs(),
            timeout_scale: 1.0,
        }
    }
}

/// The repository, the gate file that governs the release and the plan.
pub struct Prepared {
    /// The repository.
    pub repo: Repo,
    /// Its `.gate/` store.
    pub store: Store,
    /// The gate file at the released commit.
    pub gate: Gate,
    /// The environment's state before the release.
    pub state: EnvironmentState,
    /// The plan.
    pub plan: ReleasePlan,
}

/// How preparing a release ended when it cannot go on: an exit code, its message printed.
pub type Stop = u8;

/// Reads the gate file, resolves the commit, reads the environment's state and plans. The
/// gate file that governs is the one at the released commit (it reached the environment's
/// branch through the gate); without `--commit` the environment's branch is found in the
/// default branch's gate file first.
pub fn prepare(
    request: &ReleaseRequest,
    err: &mut dyn Write,
) -> Result<Result<Prepared, Stop>, String> {
    let repo = Repo::open(&request.repo).map_err(|e| e.to_string())?;
    let store = Store::new(repo.dir());
    let probe = match &request.commit {
        Some(c) => c.clone(),
        None => repo.default_branch().unwrap_or_else(|_| "HEAD".to_owned()),
    };
    let gate = match read_gate(&repo, &probe, err)? {
        Ok(gate) => gate,
        Err(code) => return Ok(Err(code)),
    };
    let Some(environment) = gate.environment(&request.environment) else {
        return Err(release::ReleasePlanError::unknown(&gate, &request.environment).to_string());
    };
    let commit = match &request.commit {
        Some(c) => repo.resolve(c),
        None => repo.resolve(&environment.branch),
    }
    .map_err(|e| {
        report::release::unknown_commit(&request.environment, &environment.branch, &e.to_string())
    })?;
    let gate = if request.commit.is_none() {
        match read_gate(&repo, &commit, err)? {
            Ok(gate) => gate,
            Err(code) => return Ok(Err(code)),
        }
    } else {
        gate
    };
    let records = Records::new(&store);
    let state = records.state(&request.environment).map_err(|e| {
        format!(
            "cannot read {}: {e}",
            records.state_path(&request.environment).display()
        )
    })?;
    let previous = state.commit.clone();
    let changes = match &previous {
        Some(p) => repo.diff_paths(p, &commit).map_err(|e| e.to_string())?,
        None => Vec::new(),
    };
    let mut plan = release::plan_release(
        &gate,
        &ReleaseInput {
            environment: &request.environment,
            commit: &commit,
            previous: previous.as_deref(),
            changes: &changes,
        },
    )
    .map_err(|e| e.to_string())?;
    plan.approval = plan.approval.governing(deployed_approval(
        &repo,
        previous.as_deref(),
        &request.environment,
    ));
    Ok(Ok(Prepared {
        repo,
        store,
        gate,
        state,
        plan,
    }))
}

/// The approval the environment's last release's gate file asks for (see
/// [`release::ApprovalPlan::governing`]); `None` without a last release, or when its gate file
/// is gone, invalid or names no such environment.
fn deployed_approval(
    repo: &Repo,
    previous: Option<&str>,
    environment: &str,
) -> Option<release::ApprovalPlan> {
    let path = gate_file::DEFAULT_PATH;
    let bytes = repo.file_at(previous?, path).ok()??;
    let gate = Gate::parse_bytes(bytes, path).ok()?;
    let env = gate.environments.iter().find(|e| e.name == environment)?;
    Some(release::ApprovalPlan::of(env))
}

/// The gate file at `rev`: an invalid one is printed (exit 1), a missing one is an error.
fn read_gate(repo: &Repo, rev: &str, err: &mut dyn Write) -> Result<Result<Gate, Stop>, String> {
    let path = gate_file::DEFAULT_PATH;
    let bytes = repo
        .file_at(rev, path)
        .map_err(|e| e.to_string())?
        .ok_or_else(|| format!("{rev} has no {path}: releases are described in the gate file"))?;
    match Gate::parse_bytes(bytes, path) {
        Ok(gate) => Ok(Ok(gate)),
        Err(errors) => {
            let _ = writeln!(err, "{errors}");
            let _ = writeln!(
                err,
                "gate: the gate file at {} is invalid: nothing is released",
                short_id(rev)
            );
            Ok(Err(EXIT_FAIL))
        }
    }
}

/// Everything one release needs while it runs.
struct Release<'a> {
    request: &'a ReleaseRequest,
    prepared: Prepared,
    records: Records,
    record: ReleaseRecord,
    started: Instant,
    cancel: &'a Cancel,
    progress: &'a dyn Progress,
}

/// Runs `gate release` and returns the exit code; `Err` is a usage or environment error
/// (exit code 2) with its message. Sequential because each step gates the next: nothing is
/// packaged before the checks pass, nothing deployed before the approval, no wave before the
/// one it depends on.
pub fn run(
    request: &ReleaseRequest,
    asker: &dyn Asker,
    cancel: &Cancel,
    progress: &dyn Progress,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> Result<u8, String> {
    let prepared = match prepare(request, err)? {
        Ok(p) => p,
        Err(code) => return Ok(code),
    };
    let (_lock, records, record) = match begin(request, &prepared, out, err)? {
        Ok(begun) => begun,
        Err(code) => return Ok(code),
    };
    let mut release = Release {
        request,
        prepared,
        records,
        record,
        started: Instant::now(),
        cancel,
        progress,
    };
    let outcome = release.steps(asker, err)?;
    Ok(release.finish(outcome, out, err))
}

/// What a release holds once it may start: the environment's lock, the records and the
/// record it fills in.
type Begun = (EnvLock, Records, ReleaseRecord);

/// Decides whether the release may start: not when the environment is at the commit already
/// (exit 0), when the commit does not descend from the last release without `--force`
/// (exit 1), or when another release of the environment runs (exit 2).
fn begin(
    request: &ReleaseRequest,
    prepared: &Prepared,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> Result<Result<Begun, Stop>, String> {
    let plan = &prepared.plan;
    if plan.previous.as_deref() == Some(plan.commit.as_str()) {
        let _ = writeln!(out, "{}", report::release::already_there(plan));
        return Ok(Err(EXIT_PASS));
    }
    if let Some(previous) = &plan.previous
        && !prepared
            .repo
            .is_ancestor(previous, &plan.commit)
            .map_err(|e| e.to_string())?
        && !request.force
    {
        let _ = writeln!(err, "gate: {}", report::release::not_a_descendant(plan));
        return Ok(Err(EXIT_FAIL));
    }
    prepared
        .store
        .ensure()
        .map_err(|e| format!("cannot create {}: {e}", prepared.store.root().display()))?;
    let records = Records::new(&prepared.store);
    let started_at = Utc::now();
    let id = format!(
        "{}-{}",
        crate::local::session::run_id(&started_at),
        crate::local::store::file_name(&plan.environment)
    );
    let holder = format!("release {id} (pid {})", std::process::id());
    let lock = match records
        .lock(&request.environment, &holder)
        .map_err(|e| format!("cannot lock the environment: {e}"))?
    {
        Ok(lock) => lock,
        Err(holder) => {
            let _ = writeln!(
                err,
                "gate: {}",
                report::release::locked(&request.environment, &holder)
            );
            return Ok(Err(EXIT_ERROR));
        }
    };
    let record = ReleaseRecord {
        version: RECORD_VERSION,
        id,
        repository: prepared.repo.name(),
        started_at: started_at.rfc3339_millis(),
        duration_ms: 0,
        started_by: git::local_identity(Some(&prepared.repo)),
        forced: request.force && plan.previous.is_some(),
        plan: plan.clone(),
        checks: Vec::new(),
        approval: None,
        packages: Vec::new(),
        deploys: Vec::new(),
        rollbacks: Vec::new(),
        outcome: ReleaseOutcome::NothingToRelease,
    };
    Ok(Ok((lock, records, record)))
}

impl Release<'_> {
    /// The steps in order; the first that does not pass decides the outcome.
    fn steps(&mut self, asker: &dyn Asker, err: &mut dyn Write) -> Result<ReleaseOutcome, String> {
        let _ = writeln!(
            err,
            "gate: {}",
            report::release::starting(&self.record.plan)
        );
        if self.record.plan.is_empty() {
            return Ok(ReleaseOutcome::NothingToRelease);
        }
        let worktree =
            crate::local::worktree::Worktree::add(&self.prepared.repo, &self.record.plan.commit)
                .map_err(|e| e.to_string())?;
        let mut run = deploy::Steps::new(self, worktree.path());
        if let Some(outcome) = run.checks() {
            return Ok(outcome);
        }
        if self.record.plan.deployed().next().is_none() {
            // Tested, nothing to deploy: no approval to ask for.
            return Ok(ReleaseOutcome::NothingToRelease);
        }
        let mut run = deploy::Steps::new(self, worktree.path());
        let artifacts = match run.packages() {
            Ok(artifacts) => artifacts,
            Err(outcome) => return Ok(outcome),
        };
        if let Some(outcome) = self.approval(asker, err) {
            return Ok(outcome);
        }
        let mut run = deploy::Steps::new(self, worktree.path());
        Ok(run.deploys(&artifacts))
    }

    /// Asks for the approval when the environment needs one; `Some` ends the release.
    fn approval(&mut self, asker: &dyn Asker, err: &mut dyn Write) -> Option<ReleaseOutcome> {
        // The plan's approval governs (the last release's gate file's, see
        // `ApprovalPlan::governing`), not the released commit's.
        let plan = &self.record.plan;
        if !plan.approval.required {
            return None;
        }
        let rule = match crate::gate_file::Approval::from_patterns(
            &plan.approval.approvers,
            plan.approval.timeout_minutes,
        ) {
            Ok(rule) => rule,
            Err(e) => {
                let _ = writeln!(err, "gate: the approvers do not compile: {e}");
                return Some(ReleaseOutcome::ApprovalRefused);
            }
        };
        let rule = &rule;
        let repo = &self.prepared.repo;
        let authors: Vec<String> = repo
            .author_emails(plan.previous.as_deref(), &plan.commit)
            .unwrap_or_default()
            .into_iter()
            .map(|e| format!("local:{e}"))
            .collect();
        let identity = git::local_identity(Some(repo));
        let question = report::release::question(plan, &self.record.repository);
        let facts = approval::ApprovalFacts {
            rule,
            identity: &identity,
            authors: &authors,
            approved_in_advance: self.request.approve,
            question: &question,
            timeout: crate::local::runner::scaled_minutes(
                rule.timeout_minutes,
                self.request.timeout_scale,
            ),
        };
        let decision = approval::decide(&facts, asker, self.cancel, &Utc::now().rfc3339());
        let _ = writeln!(
            err,
            "gate: {}",
            report::release::approval_line(&decision, plan)
        );
        let outcome = if self.cancel.is_cancelled() {
            Some(ReleaseOutcome::Interrupted)
        } else {
            decision.decision.outcome()
        };
        self.record.approval = Some(decision);
        outcome
    }

    /// Records the release, moves the environment when it released, writes and prints the
    /// report; returns the exit code.
    fn finish(mut self, outcome: ReleaseOutcome, out: &mut dyn Write, err: &mut dyn Write) -> u8 {
        self.record.outcome = outcome;
        self.record.duration_ms =
            u64::try_from(self.started.elapsed().as_millis()).unwrap_or(u64::MAX);
        let now = Utc::now().rfc3339();
        if outcome.moved() {
            let next = self.prepared.state.after(&self.record, &now);
            let repository = crate::ids::RepositoryName::new(self.record.repository.clone());
            if let Err(e) = self.records.save_state(&repository, &next) {
                let _ = writeln!(
                    err,
                    "gate: cannot record the release in {}: {e}",
                    self.records.state_path(&next.environment).display()
                );
                return EXIT_ERROR;
            }
        }
        if let Err(e) = self.records.record(&self.record) {
            let _ = writeln!(err, "gate: warning: cannot record the release: {e}");
        }
        let dir = self.records.release_dir(&self.record.id);
        let body = report::release::markdown(&self.record);
        let path = dir.join("report.md");
        if let Err(e) =
            std::fs::create_dir_all(&dir).and_then(|()| std::fs::write(&path, body.as_bytes()))
        {
            let _ = writeln!(
                err,
                "gate: warning: cannot write the report {}: {e}",
                path.display()
            );
        }
        let _ = out.write_all(
            report::release::summary(&self.record, &path.display().to_string()).as_bytes(),
        );
        match outcome {
            ReleaseOutcome::Released | ReleaseOutcome::NothingToRelease => EXIT_PASS,
            ReleaseOutcome::Interrupted => EXIT_INTERRUPTED,
            _ => EXIT_FAIL,
        }
    }
}
