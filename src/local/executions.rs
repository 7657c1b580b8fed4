//! `LocalExecutions`: the `Executions` port run in-process: `start` merges in a temporary worktree, runs the execution input's stages with the local runner, and stores the results under `.gate/executions/<name>.json`.
//!
//! It follows Step Functions where the flows depend on it: a name runs once (a second `start`
//! with that name is `AlreadyExists`, or `Started` again while the same input still runs),
//! `stop` of a finished or unknown execution is not an error. `start` returns when the checks
//! have finished (the state machine's whole run, in-process), so the stored record already
//! holds the results; [`LocalExecutions::finished_event`] is then the "Execution Status Change"
//! event EventBridge would deliver to gate-report.

use crate::local::cleanup::Cancel;
use crate::local::git::Repo;
use crate::local::runner::{self, CheckJob, KILL_GRACE, Runner, Silent, StageJobs};
use crate::local::store::{self, Store, Utc};
use crate::local::worktree::{Merge, Worktree};
use crate::machine::{self, ExecutionInput};
use crate::policy::{CheckResult, CheckStatus};
use crate::ports::{ExecutionStatus, Executions, PortError, PortResult, Started};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

/// The account in local ARNs (the documentation's placeholder account).
pub const LOCAL_ACCOUNT: &str = "123456789012";
/// The region in local ARNs.
pub const LOCAL_REGION: &str = "local";

/// An execution as the local store keeps it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredExecution {
    /// Its name.
    pub name: String,
    /// Its ARN.
    pub arn: String,
    /// Running, succeeded (the checks ran, whatever their verdict) or aborted.
    pub status: ExecutionStatus,
    /// Start, epoch milliseconds.
    pub start_date: i64,
    /// End, epoch milliseconds.
    pub stop_date: Option<i64>,
    /// The input it was started with.
    pub input: ExecutionInput,
    /// The merge commit tested, when the merge succeeded.
    pub merge_commit: Option<String>,
    /// The results of the checks it ran, in stage order.
    pub results: Vec<CheckResult>,
}

/// Step Functions, in-process.
#[derive(Debug, Clone)]
pub struct LocalExecutions {
    repos_dir: PathBuf,
    jobs: usize,
    timeout_scale: f64,
    running: Arc<Mutex<HashMap<String, Arc<Cancel>>>>,
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

fn transient(call: &'static str) -> impl Fn(std::io::Error) -> PortError {
    move |e| PortError::Transient {
        call,
        message: e.to_string(),
    }
}

/// The execution ARN of `name` for a repository.
pub fn execution_arn(repository: &str, name: &str) -> String {
    format!("arn:aws:states:{LOCAL_REGION}:{LOCAL_ACCOUNT}:execution:gate-{repository}:{name}")
}

/// The state machine ARN for a repository.
pub fn state_machine_arn(repository: &str) -> String {
    format!("arn:aws:states:{LOCAL_REGION}:{LOCAL_ACCOUNT}:stateMachine:gate-{repository}")
}

/// (repository, name) of a local execution ARN.
fn parse_arn(arn: &str) -> Option<(&str, &str)> {
    let rest = arn.strip_prefix(&format!(
        "arn:aws:states:{LOCAL_REGION}:{LOCAL_ACCOUNT}:execution:gate-"
    ))?;
    rest.split_once(':')
}

impl LocalExecutions {
    /// Executions for the repositories under `repos_dir`, at most `jobs` checks at once.
    pub fn new(repos_dir: impl Into<PathBuf>, jobs: usize) -> Self {
        Self {
            repos_dir: repos_dir.into(),
            jobs: jobs.max(1),
            timeout_scale: 1.0,
            running: Arc::default(),
        }
    }

    /// Executions for the repositories under `$GATE_REPOS_DIR` (else the current folder).
    pub fn from_env() -> Self {
        Self::new(
            crate::local::pull_requests::repos_dir(Path::new(".")),
            crate::local::session::default_jobs(),
        )
    }

    /// Multiplies every check's timeout (tests shrink it).
    pub fn with_timeout_scale(mut self, scale: f64) -> Self {
        self.timeout_scale = scale;
        self
    }

    fn store(&self, repository: &str) -> Store {
        Store::new(self.repos_dir.join(repository))
    }

    /// The stored execution with this ARN.
    pub fn execution(&self, arn: &str) -> PortResult<Option<StoredExecution>> {
        let Some((repository, name)) = parse_arn(arn) else {
            return Ok(None);
        };
        store::read_json(&self.store(repository).execution(name))
            .map_err(transient("states:DescribeExecution"))
    }

    /// The results of a finished execution (`None` while unknown or running).
    pub fn results(&self, arn: &str) -> PortResult<Option<Vec<CheckResult>>> {
        Ok(self
            .execution(arn)?
            .filter(|e| e.status != ExecutionStatus::Running)
            .map(|e| e.results))
    }

    /// Records a finished execution in its repository's run history (`gate history`), with the
    /// verdict gate-report gave it: the replayed gate shows up like a `gate run`.
    pub fn record_history(&self, arn: &str, verdict: crate::policy::Verdict) -> PortResult<()> {
        use crate::local::history::{self, CheckEntry, Entry, HistoryVerdict, RefAt};
        const CALL: &str = "states:DescribeExecution";
        let Some(e) = self.execution(arn)? else {
            return Ok(());
        };
        let results = &e.results;
        let checks = e
            .input
            .stages
            .iter()
            .flat_map(|s| &s.checks)
            .map(|c| {
                let r = results.iter().find(|r| r.name == c.name);
                CheckEntry::new(&c.name, &c.stage, c.required, r)
            })
            .collect();
        let subject = &e.input.subject;
        let entry = Entry {
            version: history::VERSION,
            id: e.name.clone(),
            started_at: Utc::from_system(
                UNIX_EPOCH
                    + std::time::Duration::from_millis(u64::try_from(e.start_date).unwrap_or(0)),
            )
            .rfc3339_millis(),
            duration_ms: e
                .stop_date
                .map_or(0, |stop| u64::try_from(stop - e.start_date).unwrap_or(0)),
            repository: subject.repository.to_string(),
            base: RefAt {
                reference: e.input.destination_reference.clone(),
                commit: subject.destination_commit.to_string(),
            },
            head: RefAt {
                reference: e.input.source_reference.clone(),
                commit: subject.source_commit.to_string(),
            },
            merge_commit: e.merge_commit.clone(),
            merged: None,
            verdict: match verdict {
                crate::policy::Verdict::Passed => HistoryVerdict::Passed,
                crate::policy::Verdict::Failed | crate::policy::Verdict::Pending => {
                    HistoryVerdict::Failed
                }
            },
            reason: None,
            checks,
            skipped: e
                .input
                .plan
                .as_ref()
                .map(|p| p.skipped().map(|c| c.name.as_str().to_owned()).collect())
                .unwrap_or_default(),
        };
        history::append(&self.store(subject.repository.as_str()), &entry).map_err(transient(CALL))
    }

    /// The "Step Functions Execution Status Change" event of a finished execution, shaped like
    /// EventBridge's (`input` and `output` are strings of JSON; the output is
    /// `{"results": [...]}`).
    pub fn finished_event(&self, arn: &str) -> PortResult<Option<serde_json::Value>> {
        let Some(e) = self.execution(arn)? else {
            return Ok(None);
        };
        let status = match e.status {
            ExecutionStatus::Running | ExecutionStatus::PendingRedrive => return Ok(None),
            ExecutionStatus::Succeeded => "SUCCEEDED",
            ExecutionStatus::Failed => "FAILED",
            ExecutionStatus::TimedOut => "TIMED_OUT",
            ExecutionStatus::Aborted => "ABORTED",
        };
        let repository = e.input.subject.repository.as_str();
        let input = serde_json::to_string(&e.input).unwrap_or_else(|_| "{}".to_owned());
        let output = (e.status == ExecutionStatus::Succeeded)
            .then(|| serde_json::json!({ "results": e.results }).to_string());
        Ok(Some(serde_json::json!({
            "version": "0",
            "id": crate::local::pull_requests::uuid_like(&store::hex_digest(&["sfn", &e.arn, status], 32)),
            "detail-type": crate::event::DETAIL_TYPE_SFN_STATUS,
            "source": "aws.states",
            "account": LOCAL_ACCOUNT,
            "time": Utc::from_system(UNIX_EPOCH + std::time::Duration::from_millis(
                u64::try_from(e.stop_date.unwrap_or(e.start_date)).unwrap_or(0))).rfc3339(),
            "region": LOCAL_REGION,
            "resources": [e.arn],
            "detail": {
                "executionArn": e.arn,
                "stateMachineArn": state_machine_arn(repository),
                "name": e.name,
                "status": status,
                "startDate": e.start_date,
                "stopDate": e.stop_date,
                "input": input,
                "inputDetails": {"included": true},
                "output": output,
                "outputDetails": {"included": output.is_some()},
            }
        })))
    }

    fn run(
        &self,
        name: &str,
        input: &ExecutionInput,
        cancel: &Cancel,
    ) -> (Option<String>, Vec<CheckResult>) {
        let repository = input.subject.repository.as_str();
        let fail_all = |why: String| errored_all(input, &why);
        let repo = match Repo::open(self.repos_dir.join(repository)) {
            Ok(repo) => repo,
            Err(e) => return (None, fail_all(e.to_string())),
        };
        // What the buildspec's prelude does on CodeBuild: the source, with the destination merged in.
        let worktree = match Worktree::add(&repo, input.subject.source_commit.as_str()) {
            Ok(w) => w,
            Err(e) => return (None, fail_all(e.to_string())),
        };
        let merge_commit = match worktree.merge(input.subject.destination_commit.as_str(), None) {
            Ok(Merge::Merged { commit }) => commit,
            Ok(Merge::Conflicts { paths }) => {
                return (
                    None,
                    fail_all(format!("merge conflict in {}", paths.join(", "))),
                );
            }
            Err(e) => return (None, fail_all(e.to_string())),
        };
        let stages = stage_jobs(input, self.timeout_scale);
        let log_dir = self
            .store(repository)
            .root()
            .join("logs")
            .join(store::file_name(name));
        let runner = Runner {
            cwd: worktree.path(),
            log_dir: &log_dir,
            jobs: self.jobs,
            kill_grace: KILL_GRACE.mul_f64(self.timeout_scale.clamp(0.0, 1.0)),
            cancel,
            progress: &Silent,
        };
        (Some(merge_commit), runner.run(&stages))
    }

    fn finish(
        &self,
        name: String,
        input: ExecutionInput,
        arn: String,
        start_date: i64,
    ) -> PortResult<()> {
        const CALL: &str = "states:StartExecution";
        let cancel = Arc::new(Cancel::new());
        self.running
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .insert(arn.clone(), Arc::clone(&cancel));
        let (merge_commit, results) = self.run(&name, &input, &cancel);
        self.running
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .remove(&arn);
        let store = self.store(input.subject.repository.as_str());
        let record = StoredExecution {
            status: if cancel.is_cancelled() {
                ExecutionStatus::Aborted
            } else {
                ExecutionStatus::Succeeded
            },
            name: name.clone(),
            arn,
            start_date,
            stop_date: Some(now_ms()),
            input,
            merge_commit,
            results,
        };
        let _lock = store.lock().map_err(transient(CALL))?;
        store::write_json(&store.execution(&name), &record).map_err(transient(CALL))
    }
}

impl Executions for LocalExecutions {
    async fn start(&self, name: &str, input: &ExecutionInput) -> PortResult<Started> {
        const CALL: &str = "states:StartExecution";
        if name.is_empty() || name.len() > machine::MAX_EXECUTION_NAME {
            return Err(PortError::Permanent {
                call: CALL,
                message: "InvalidName".to_owned(),
            });
        }
        let repository = input.subject.repository.as_str().to_owned();
        if !self.repos_dir.join(&repository).is_dir() {
            return Err(PortError::Permanent {
                call: CALL,
                message: format!(
                    "no repository `{repository}` in {}",
                    self.repos_dir.display()
                ),
            });
        }
        let arn = execution_arn(&repository, name);
        let store = self.store(&repository);
        let start_date = now_ms();
        {
            let _lock = store.lock().map_err(transient(CALL))?;
            let path = store.execution(name);
            if let Some(existing) =
                store::read_json::<StoredExecution>(&path).map_err(transient(CALL))?
            {
                return Ok(
                    if existing.status == ExecutionStatus::Running && &existing.input == input {
                        Started::Started { execution_arn: arn }
                    } else {
                        Started::AlreadyExists { execution_arn: arn }
                    },
                );
            }
            let record = StoredExecution {
                name: name.to_owned(),
                arn: arn.clone(),
                status: ExecutionStatus::Running,
                start_date,
                stop_date: None,
                input: input.clone(),
                merge_commit: None,
                results: Vec::new(),
            };
            store::write_json(&path, &record).map_err(transient(CALL))?;
        }
        let this = self.clone();
        let (name, input, arn2) = (name.to_owned(), input.clone(), arn.clone());
        let job = move || this.finish(name, input, arn2, start_date);
        match tokio::runtime::Handle::try_current() {
            Ok(handle) => {
                handle
                    .spawn_blocking(job)
                    .await
                    .map_err(|e| PortError::Transient {
                        call: CALL,
                        message: e.to_string(),
                    })??
            }
            Err(_) => job()?,
        }
        Ok(Started::Started { execution_arn: arn })
    }

    async fn stop(&self, execution_arn: &str, _cause: &str) -> PortResult<()> {
        const CALL: &str = "states:StopExecution";
        if let Some(cancel) = self
            .running
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(execution_arn)
        {
            cancel.cancel();
            return Ok(());
        }
        let Some((repository, name)) = parse_arn(execution_arn) else {
            return Ok(());
        };
        let store = self.store(repository);
        if !store.root().is_dir() {
            return Ok(());
        }
        let _lock = store.lock().map_err(transient(CALL))?;
        let path = store.execution(name);
        if let Some(mut e) = store::read_json::<StoredExecution>(&path).map_err(transient(CALL))?
            && e.status == ExecutionStatus::Running
        {
            e.status = ExecutionStatus::Aborted;
            e.stop_date = Some(now_ms());
            store::write_json(&path, &e).map_err(transient(CALL))?;
        }
        Ok(())
    }

    async fn status(&self, execution_arn: &str) -> PortResult<Option<ExecutionStatus>> {
        Ok(self.execution(execution_arn)?.map(|e| e.status))
    }

    async fn input(&self, execution_arn: &str) -> PortResult<Option<ExecutionInput>> {
        Ok(self.execution(execution_arn)?.map(|e| e.input))
    }
}

/// The runner's stages for an execution: each check's buildspec commands without the merge
/// prelude (the worktree has merged already), its environment, its timeout scaled.
fn stage_jobs(input: &ExecutionInput, timeout_scale: f64) -> Vec<StageJobs> {
    input
        .stages
        .iter()
        .map(|stage| StageJobs {
            name: stage.name.clone(),
            checks: stage
                .checks
                .iter()
                .map(|spec| CheckJob {
                    name: spec.name.clone(),
                    stage: spec.stage.clone(),
                    required: spec.required,
                    commands: machine::buildspec_commands(&spec.buildspec).map(|commands| {
                        commands
                            .into_iter()
                            .filter(|c| !machine::MERGE_PRELUDE.contains(&c.as_str()))
                            .collect()
                    }),
                    env: spec
                        .env
                        .iter()
                        .map(|v| (v.name.clone(), v.value.clone()))
                        .collect(),
                    timeout: runner::scaled_minutes(spec.timeout_minutes, timeout_scale),
                    retries: spec.retries,
                    retry_on_failure: spec.retry_on_failure,
                    reports: spec.reports.clone(),
                })
                .collect(),
        })
        .collect()
}

/// Every check of an execution, errored for `why` (the merge could not be made).
fn errored_all(input: &ExecutionInput, why: &str) -> Vec<CheckResult> {
    input
        .stages
        .iter()
        .flat_map(|s| &s.checks)
        .map(|c| CheckResult {
            name: c.name.clone(),
            status: CheckStatus::Errored,
            duration_ms: Some(0),
            attempts: 1,
            flaky: false,
            log_url: None,
            log_tail: Some(why.to_owned()),
            reports: None,
            reused: None,
        })
        .collect()
}
