//! The local process runner: stages in order, the checks of a stage in parallel, each check's commands in order, each command in its own process group with the check's timeout and retries.
//!
//! CodeBuild semantics where they matter: every command runs as `bash -c <command>` in the
//! worktree, the first failing command fails the check, the environment is the inherited one
//! plus the PR facts and the check's `env` (passed as data, never spliced into shell text),
//! and a timeout stops the *whole* check: SIGTERM to every process group it started, SIGKILL
//! after a grace period, so background children (`sleep 1000 &`) die with it. Unlike
//! CodeBuild's buildspec 0.2, each command gets a fresh shell, so `cd` and `export` do not
//! carry over to the next command.
//!
//! Locally every failure is a test failure: a check is retried only when it sets
//! `retry_on_failure`, at most `retries` times; a pass after a retry is flaky. A required check
//! that does not pass stops the stages after its own; their checks end `cancelled`. Optional
//! checks never block.

use crate::gate_file::Reports;
use crate::ids::CheckName;
use crate::local::cleanup::{self, Cancel};
use crate::local::reports::read_check_reports;
use crate::local::store;
use crate::policy::{CheckResult, CheckStatus};
use crate::test_reports::CheckReports;
use nix::errno::Errno;
use nix::sys::signal::{self, Signal};
use nix::unistd::Pid;
use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// Lines of a failed attempt's log kept as the result's `log_tail` (the report shows at most
/// as many).
pub const LOG_TAIL_LINES: usize = 50;
/// How long a stopped check gets between SIGTERM and SIGKILL (before scaling).
pub const KILL_GRACE: Duration = Duration::from_secs(10);
/// How often a waiting check looks at the cancellation flag.
const POLL: Duration = Duration::from_millis(25);
/// The most of a log read back for its tail.
const TAIL_READ_BYTES: u64 = 256 * 1024;
/// Variables git sets for hooks that would point a check's own git commands at the wrong
/// repository; they are removed from the checks' environment.
const GIT_HOOK_VARIABLES: &[&str] = &[
    "GIT_DIR",
    "GIT_WORK_TREE",
    "GIT_INDEX_FILE",
    "GIT_PREFIX",
    "GIT_COMMON_DIR",
    "GIT_OBJECT_DIRECTORY",
    "GIT_ALTERNATE_OBJECT_DIRECTORIES",
];

/// A check ready to run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckJob {
    /// The check.
    pub name: CheckName,
    /// Its stage.
    pub stage: String,
    /// Whether a failure blocks (and stops the later stages).
    pub required: bool,
    /// The shell commands, or why there are none (a broken `buildspec:` file): the check then
    /// fails without running anything, with that problem as its log.
    pub commands: Result<Vec<String>, String>,
    /// Environment variables on top of the inherited ones, in order (later wins).
    pub env: Vec<(String, String)>,
    /// How long one attempt may take.
    pub timeout: Duration,
    /// How often a failure is retried when `retry_on_failure`.
    pub retries: u32,
    /// Whether failures are retried.
    pub retry_on_failure: bool,
    /// The test and coverage reports it declares, read from the worktree after it ran.
    pub reports: Option<Reports>,
}

/// The checks of one stage.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StageJobs {
    /// The stage's name.
    pub name: String,
    /// Its checks, in the order they start.
    pub checks: Vec<CheckJob>,
}

/// A timeout in minutes as a duration, times `scale` (1.0 in real use; tests shrink it).
pub fn scaled_minutes(minutes: u32, scale: f64) -> Duration {
    Duration::from_secs_f64((f64::from(minutes) * 60.0 * scale).max(0.0))
}

/// What the runner tells whoever watches it. Every method has an empty default.
pub trait Progress: Sync {
    /// A stage starts.
    fn stage(&self, _name: &str, _checks: usize) {}
    /// An attempt of a check starts (attempt 1 is the first).
    fn started(&self, _check: &CheckJob, _attempt: u32, _of: u32) {}
    /// An attempt ended with `status` and the check will run again.
    fn retrying(&self, _check: &CheckJob, _status: CheckStatus, _next: u32, _of: u32) {}
    /// A check has its result.
    fn finished(&self, _check: &CheckJob, _result: &CheckResult) {}
}

/// Progress that shows nothing.
#[derive(Debug, Clone, Copy, Default)]
pub struct Silent;

impl Progress for Silent {}

/// Runs stages of checks in a folder.
pub struct Runner<'a> {
    /// Where the commands run (the worktree).
    pub cwd: &'a Path,
    /// Where each check's log goes (`<check>.log`).
    pub log_dir: &'a Path,
    /// How many checks of a stage run at once (at least 1).
    pub jobs: usize,
    /// Time between SIGTERM and SIGKILL when a check is stopped.
    pub kill_grace: Duration,
    /// Stops everything when set.
    pub cancel: &'a Cancel,
    /// Who watches.
    pub progress: &'a dyn Progress,
}

/// How one attempt ended.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Attempt {
    Passed,
    Failed,
    TimedOut,
    Cancelled,
    Errored(String),
}

impl Attempt {
    fn status(&self) -> CheckStatus {
        match self {
            Attempt::Passed => CheckStatus::Passed,
            Attempt::Failed => CheckStatus::Failed,
            Attempt::TimedOut => CheckStatus::TimedOut,
            Attempt::Cancelled => CheckStatus::Cancelled,
            Attempt::Errored(_) => CheckStatus::Errored,
        }
    }
}

impl Runner<'_> {
    /// Runs the stages in order and returns one result per check, in stage order. A required
    /// check that does not pass cancels the later stages; cancellation cancels the rest.
    pub fn run(&self, stages: &[StageJobs]) -> Vec<CheckResult> {
        let mut results = Vec::new();
        let mut blocked = false;
        for stage in stages {
            if blocked || self.cancel.is_cancelled() {
                results.extend(stage.checks.iter().map(|c| CheckResult::not_run(&c.name)));
                continue;
            }
            self.progress.stage(&stage.name, stage.checks.len());
            let stage_results = self.run_stage(&stage.checks);
            blocked = stage
                .checks
                .iter()
                .zip(&stage_results)
                .any(|(c, r)| c.required && !r.status.is_success());
            results.extend(stage_results);
        }
        results
    }

    /// Runs the checks of one stage, at most `jobs` at a time; results in the checks' order.
    pub fn run_stage(&self, checks: &[CheckJob]) -> Vec<CheckResult> {
        let slots: Vec<Mutex<Option<CheckResult>>> =
            checks.iter().map(|_| Mutex::new(None)).collect();
        let next = AtomicUsize::new(0);
        let workers = self.jobs.max(1).min(checks.len());
        std::thread::scope(|scope| {
            for _ in 0..workers {
                scope.spawn(|| {
                    loop {
                        let i = next.fetch_add(1, Ordering::SeqCst);
                        let Some(check) = checks.get(i) else { break };
                        let result = if self.cancel.is_cancelled() {
                            CheckResult::not_run(&check.name)
                        } else {
                            self.run_check(check)
                        };
                        self.progress.finished(check, &result);
                        *slots[i]
                            .lock()
                            .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(result);
                    }
                });
            }
        });
        slots
            .into_iter()
            .zip(checks)
            .map(|(slot, check)| {
                slot.into_inner()
                    .unwrap_or_else(std::sync::PoisonError::into_inner)
                    .unwrap_or_else(|| CheckResult::not_run(&check.name))
            })
            .collect()
    }

    /// Runs one check with its retries; its log is `<log_dir>/<check>.log`.
    pub fn run_check(&self, check: &CheckJob) -> CheckResult {
        let log_path = log_path(self.log_dir, &check.name);
        let log_url = Some(log_path.to_string_lossy().into_owned());
        let mut log = match open_log(self.log_dir, &log_path) {
            Ok(file) => file,
            Err(e) => {
                return CheckResult {
                    name: check.name.clone(),
                    status: CheckStatus::Errored,
                    duration_ms: Some(millis(Duration::ZERO)),
                    attempts: 1,
                    flaky: false,
                    log_url: None,
                    log_tail: Some(format!("cannot write the log {}: {e}", log_path.display())),
                    reports: None,
                    reused: None,
                };
            }
        };
        let commands = match &check.commands {
            Ok(commands) => commands,
            Err(problem) => {
                let _ = writeln!(log, "[gate] {problem}");
                return CheckResult {
                    name: check.name.clone(),
                    status: CheckStatus::Failed,
                    duration_ms: Some(0),
                    attempts: 1,
                    flaky: false,
                    log_url,
                    log_tail: Some(problem.clone()),
                    reports: None,
                    reused: None,
                };
            }
        };
        let (mut outcome, offset) = self.attempts(check, commands, &mut log);
        let reports = self.read_reports(check, &mut outcome, &mut log);
        let _ = log.flush();
        let failed = matches!(
            outcome.status,
            CheckStatus::Failed | CheckStatus::TimedOut | CheckStatus::Errored
        );
        CheckResult {
            name: check.name.clone(),
            status: outcome.status,
            duration_ms: Some(millis(outcome.duration)),
            attempts: outcome.attempts,
            flaky: outcome.status == CheckStatus::Passed && outcome.attempts > 1,
            log_url,
            log_tail: if failed {
                read_tail(&log_path, offset, LOG_TAIL_LINES)
            } else {
                None
            },
            reports,
            reused: None,
        }
    }

    /// Reads the reports `check` declares from the worktree after it ran (not after it was
    /// cancelled). A coverage under `min_line` fails a check that passed, with the reason in
    /// its log; a report that cannot be read changes nothing but the notes.
    fn read_reports(
        &self,
        check: &CheckJob,
        outcome: &mut LastAttempt,
        log: &mut File,
    ) -> Option<CheckReports> {
        let spec = check.reports.as_ref()?;
        if outcome.status == CheckStatus::Cancelled {
            return None;
        }
        let reports = read_check_reports(self.cwd, spec);
        for note in &reports.unreadable {
            let _ = writeln!(log, "[gate] report {}: {}", note.report, note.why);
        }
        if let Some(shortfall) = reports.shortfall() {
            let _ = writeln!(log, "[gate] {}", shortfall.reason());
            if outcome.status == CheckStatus::Passed {
                outcome.status = CheckStatus::Failed;
            }
        }
        Some(reports)
    }

    /// Runs the check's commands until an attempt passes, the retries (for test failures only
    /// with `retry_on_failure`) run out, or the run is cancelled; returns how the last attempt
    /// ended and where its output starts in the log.
    fn attempts(
        &self,
        check: &CheckJob,
        commands: &[String],
        log: &mut File,
    ) -> (LastAttempt, u64) {
        let of = if check.retry_on_failure {
            check.retries + 1
        } else {
            1
        };
        let mut attempt = 1;
        loop {
            self.progress.started(check, attempt, of);
            if of > 1 {
                let _ = writeln!(log, "[gate] attempt {attempt} of {of}");
            }
            let offset = log.stream_position().unwrap_or(0);
            let started = Instant::now();
            let outcome = self.attempt(check, commands, log);
            let duration = started.elapsed();
            if let Attempt::Errored(message) = &outcome {
                let _ = writeln!(log, "[gate] {message}");
            }
            let status = outcome.status();
            let again = matches!(
                outcome,
                Attempt::Failed | Attempt::TimedOut | Attempt::Errored(_)
            ) && attempt < of
                && !self.cancel.is_cancelled();
            if !again {
                let last = LastAttempt {
                    status,
                    duration,
                    attempts: attempt,
                };
                return (last, offset);
            }
            attempt += 1;
            self.progress.retrying(check, status, attempt, of);
        }
    }

    /// One attempt: the commands in order until one fails, within the check's timeout.
    fn attempt(&self, check: &CheckJob, commands: &[String], log: &mut File) -> Attempt {
        let deadline = Instant::now() + check.timeout;
        let mut groups: Vec<i32> = Vec::new();
        let outcome = (|| {
            for command in commands {
                if self.cancel.is_cancelled() {
                    return Attempt::Cancelled;
                }
                let _ = writeln!(log, "[gate] $ {command}");
                let (stdout, stderr) = match (log.try_clone(), log.try_clone()) {
                    (Ok(a), Ok(b)) => (a, b),
                    (Err(e), _) | (_, Err(e)) => {
                        return Attempt::Errored(format!("cannot share the log: {e}"));
                    }
                };
                let mut cmd = Command::new("bash");
                cmd.arg("-c")
                    .arg(command)
                    .current_dir(self.cwd)
                    .stdin(Stdio::null())
                    .stdout(stdout)
                    .stderr(stderr)
                    .process_group(0);
                for var in GIT_HOOK_VARIABLES {
                    cmd.env_remove(var);
                }
                cmd.envs(check.env.iter().map(|(k, v)| (k, v)));
                let started = Instant::now();
                let child = match cmd.spawn() {
                    Ok(child) => child,
                    Err(e) => return Attempt::Errored(format!("cannot start bash: {e}")),
                };
                let pgid = child.id() as i32;
                groups.push(pgid);
                cleanup::register_group(pgid);
                let (tx, rx) = mpsc::channel();
                let mut child = child;
                std::thread::spawn(move || {
                    let _ = tx.send(child.wait());
                });
                let ended = self.wait(pgid, &rx, deadline);
                let took = format_duration(started.elapsed());
                match ended {
                    Ended::Exited(Ok(status)) if status.success() => {}
                    Ended::Exited(Ok(status)) => {
                        let _ = writeln!(log, "[gate] {} after {took}", describe(status));
                        return Attempt::Failed;
                    }
                    Ended::Exited(Err(e)) => {
                        return Attempt::Errored(format!("cannot wait for bash: {e}"));
                    }
                    Ended::TimedOut => {
                        let _ = writeln!(
                            log,
                            "[gate] timed out after {}: stopped",
                            format_duration(check.timeout)
                        );
                        return Attempt::TimedOut;
                    }
                    Ended::Cancelled => {
                        let _ = writeln!(log, "[gate] cancelled after {took}: stopped");
                        return Attempt::Cancelled;
                    }
                }
            }
            Attempt::Passed
        })();
        // Whatever the commands left running in the background ends with the check.
        for &pgid in &groups {
            stop_group(pgid, self.kill_grace);
            cleanup::unregister_group(pgid);
        }
        outcome
    }

    /// Waits for a command's shell to exit, stopping its process group at the deadline or on
    /// cancellation.
    fn wait(
        &self,
        pgid: i32,
        rx: &mpsc::Receiver<std::io::Result<ExitStatus>>,
        deadline: Instant,
    ) -> Ended {
        loop {
            let now = Instant::now();
            if now >= deadline {
                stop_group(pgid, self.kill_grace);
                let _ = rx.recv_timeout(Duration::from_secs(5));
                return Ended::TimedOut;
            }
            match rx.recv_timeout((deadline - now).min(POLL)) {
                Ok(status) => return Ended::Exited(status),
                Err(mpsc::RecvTimeoutError::Timeout) => {
                    if self.cancel.is_cancelled() {
                        stop_group(pgid, self.kill_grace);
                        let _ = rx.recv_timeout(Duration::from_secs(5));
                        return Ended::Cancelled;
                    }
                }
                Err(mpsc::RecvTimeoutError::Disconnected) => {
                    return Ended::Exited(Err(std::io::Error::other("the waiter thread ended")));
                }
            }
        }
    }
}

enum Ended {
    Exited(std::io::Result<ExitStatus>),
    TimedOut,
    Cancelled,
}

/// Whether a process group still has members.
fn group_alive(pgid: i32) -> bool {
    !matches!(signal::killpg(Pid::from_raw(pgid), None), Err(Errno::ESRCH))
}

/// Stops a process group: SIGTERM, then SIGKILL if anything is left after `grace`.
pub fn stop_group(pgid: i32, grace: Duration) {
    let group = Pid::from_raw(pgid);
    if signal::killpg(group, Signal::SIGTERM).is_err() {
        return;
    }
    let until = Instant::now() + grace;
    while Instant::now() < until {
        if !group_alive(pgid) {
            return;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    let _ = signal::killpg(group, Signal::SIGKILL);
}

fn describe(status: ExitStatus) -> String {
    use std::os::unix::process::ExitStatusExt;
    match (status.code(), status.signal()) {
        (Some(code), _) => format!("exit code {code}"),
        (None, Some(sig)) => match Signal::try_from(sig) {
            Ok(s) => format!("killed by {s}"),
            Err(_) => format!("killed by signal {sig}"),
        },
        (None, None) => "ended".to_owned(),
    }
}

/// `850ms`, `12.3s`, `2m 05s`.
pub fn format_duration(d: Duration) -> String {
    let ms = d.as_millis();
    if ms < 1000 {
        format!("{ms}ms")
    } else if ms < 60_000 {
        format!("{:.1}s", d.as_secs_f64())
    } else {
        let s = d.as_secs();
        format!("{}m {:02}s", s / 60, s % 60)
    }
}

/// How a check's last attempt ended, and how many attempts it took.
struct LastAttempt {
    status: CheckStatus,
    duration: Duration,
    attempts: u32,
}

/// Creates the log folder and opens (truncates) a check's log in it.
fn open_log(log_dir: &Path, log_path: &Path) -> std::io::Result<File> {
    std::fs::create_dir_all(log_dir).and_then(|()| {
        OpenOptions::new()
            .create(true)
            .write(true)
            .truncate(true)
            .open(log_path)
    })
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// The last `lines` lines of a file from byte `from` on (reading at most the last 256 KiB).
pub fn read_tail(path: &Path, from: u64, lines: usize) -> Option<String> {
    let mut file = File::open(path).ok()?;
    let len = file.metadata().ok()?.len();
    let start = from.max(len.saturating_sub(TAIL_READ_BYTES));
    file.seek(SeekFrom::Start(start)).ok()?;
    let mut bytes = Vec::new();
    file.read_to_end(&mut bytes).ok()?;
    let text = String::from_utf8_lossy(&bytes);
    let text = text.trim_end_matches(['\n', '\r']);
    let all: Vec<&str> = text.split('\n').collect();
    let tail = all[all.len().saturating_sub(lines)..].join("\n");
    (!tail.trim().is_empty()).then_some(tail)
}

/// The log file a check of a run writes.
pub fn log_path(log_dir: &Path, check: &CheckName) -> PathBuf {
    log_dir.join(format!("{}.log", store::file_name(check.as_str())))
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Fixture {
        dir: PathBuf,
        work: PathBuf,
        logs: PathBuf,
    }

    impl Fixture {
        fn new() -> Self {
            let dir = std::env::temp_dir().join(format!("gate-runner-test-{:x}", store::unique()));
            std::fs::create_dir_all(dir.join("work")).expect("mkdir");
            Self {
                work: dir.join("work"),
                logs: dir.join("logs"),
                dir,
            }
        }

        fn runner<'a>(&'a self, cancel: &'a Cancel, jobs: usize) -> Runner<'a> {
            Runner {
                cwd: &self.work,
                log_dir: &self.logs,
                jobs,
                kill_grace: Duration::from_millis(200),
                cancel,
                progress: &Silent,
            }
        }

        fn work(&self) -> &Path {
            &self.work
        }
    }

    impl Drop for Fixture {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }

    fn job(name: &str, commands: &[&str]) -> CheckJob {
        CheckJob {
            name: CheckName::from(name),
            stage: "test".into(),
            required: true,
            commands: Ok(commands.iter().map(|c| (*c).to_owned()).collect()),
            env: Vec::new(),
            timeout: Duration::from_secs(30),
            retries: 0,
            retry_on_failure: false,
            reports: None,
        }
    }

    #[test]
    fn commands_run_in_order_and_stop_at_the_first_failure() {
        let fx = Fixture::new();
        let cancel = Cancel::new();
        let r = fx.runner(&cancel, 1).run_check(&job(
            "unit",
            &[
                "echo one > out",
                "echo two >> out; exit 3",
                "echo three >> out",
            ],
        ));
        assert_eq!(r.status, CheckStatus::Failed);
        assert_eq!(r.attempts, 1);
        let out = std::fs::read_to_string(fx.work().join("out")).expect("out");
        assert_eq!(out, "one\ntwo\n");
        let tail = r.log_tail.expect("a failure has a tail");
        assert!(tail.contains("[gate] exit code 3 after"), "{tail}");
        let log = std::fs::read_to_string(r.log_url.expect("log")).expect("log file");
        assert!(log.contains("[gate] $ echo one > out"), "{log}");
    }

    #[test]
    fn environment_is_passed_as_data_and_output_is_interleaved() {
        let fx = Fixture::new();
        let cancel = Cancel::new();
        let mut j = job(
            "env",
            &["echo \"out:$WHO\"; echo \"err:$WHO\" >&2; echo done"],
        );
        j.env = vec![("WHO".into(), "$(touch pwned) it's me".into())];
        let r = fx.runner(&cancel, 1).run_check(&j);
        assert_eq!(r.status, CheckStatus::Passed, "{r:?}");
        assert!(r.log_tail.is_none());
        assert!(!fx.work().join("pwned").exists());
        let log = std::fs::read_to_string(r.log_url.expect("log")).expect("log file");
        assert!(
            log.contains("out:$(touch pwned) it's me\nerr:$(touch pwned) it's me\ndone\n"),
            "{log}"
        );
    }

    #[test]
    fn a_retried_pass_is_flaky_and_retries_need_retry_on_failure() {
        let fx = Fixture::new();
        let cancel = Cancel::new();
        // Fails the first time (no marker yet), passes the second.
        let flaky = ["if [ -e seen ]; then exit 0; else touch seen; exit 1; fi"];
        let mut j = job("flaky", &flaky);
        j.retries = 2;
        j.retry_on_failure = true;
        let r = fx.runner(&cancel, 1).run_check(&j);
        assert_eq!(
            (r.status, r.attempts, r.flaky),
            (CheckStatus::Passed, 2, true)
        );
        std::fs::remove_file(fx.work().join("seen")).expect("reset");
        j.retry_on_failure = false;
        let r = fx.runner(&cancel, 1).run_check(&j);
        assert_eq!(
            (r.status, r.attempts, r.flaky),
            (CheckStatus::Failed, 1, false)
        );
    }

    #[test]
    fn a_timeout_kills_the_whole_process_group() {
        let fx = Fixture::new();
        let cancel = Cancel::new();
        let mut j = job(
            "slow",
            &["sleep 1000 & (sleep 1; touch late) & echo started; sleep 1000"],
        );
        j.timeout = Duration::from_millis(300);
        let started = Instant::now();
        let r = fx.runner(&cancel, 1).run_check(&j);
        assert_eq!(r.status, CheckStatus::TimedOut);
        assert!(
            started.elapsed() < Duration::from_secs(3),
            "{:?}",
            started.elapsed()
        );
        std::thread::sleep(Duration::from_millis(1300));
        assert!(
            !fx.work().join("late").exists(),
            "a child outlived the timeout"
        );
        assert!(r.log_tail.expect("tail").contains("timed out after 300ms"));
    }

    #[test]
    fn a_failed_required_check_cancels_later_stages_but_an_optional_one_does_not() {
        let fx = Fixture::new();
        let cancel = Cancel::new();
        let mut optional = job("lint", &["exit 1"]);
        optional.required = false;
        let stages = vec![
            StageJobs {
                name: "a".into(),
                checks: vec![optional, job("build", &["true"])],
            },
            StageJobs {
                name: "b".into(),
                checks: vec![job("unit", &["exit 1"]), job("other", &["true"])],
            },
            StageJobs {
                name: "c".into(),
                checks: vec![job("e2e", &["touch e2e"])],
            },
        ];
        let results = fx.runner(&cancel, 2).run(&stages);
        let statuses: Vec<(&str, CheckStatus)> = results
            .iter()
            .map(|r| (r.name.as_str(), r.status))
            .collect();
        assert_eq!(
            statuses,
            vec![
                ("lint", CheckStatus::Failed),
                ("build", CheckStatus::Passed),
                ("unit", CheckStatus::Failed),
                ("other", CheckStatus::Passed),
                ("e2e", CheckStatus::Cancelled),
            ]
        );
        assert!(!fx.work().join("e2e").exists());
        assert_eq!(results[4].attempts, 0);
    }

    #[test]
    fn checks_of_a_stage_run_in_parallel_up_to_jobs() {
        let fx = Fixture::new();
        let cancel = Cancel::new();
        let checks: Vec<CheckJob> = (0..3)
            .map(|i| job(&format!("c{i}"), &["sleep 0.4"]))
            .collect();
        let started = Instant::now();
        let results = fx.runner(&cancel, 3).run_stage(&checks);
        let parallel = started.elapsed();
        assert!(results.iter().all(|r| r.status == CheckStatus::Passed));
        assert!(parallel < Duration::from_millis(1100), "{parallel:?}");
        let started = Instant::now();
        fx.runner(&cancel, 1).run_stage(&checks);
        assert!(started.elapsed() >= Duration::from_millis(1200));
    }

    #[test]
    fn cancelling_stops_running_checks_and_skips_the_rest() {
        let fx = Fixture::new();
        let cancel = Cancel::new();
        let stages = vec![
            StageJobs {
                name: "a".into(),
                checks: vec![job("long", &["sleep 1000"])],
            },
            StageJobs {
                name: "b".into(),
                checks: vec![job("never", &["touch never"])],
            },
        ];
        let started = Instant::now();
        let results = std::thread::scope(|s| {
            s.spawn(|| {
                std::thread::sleep(Duration::from_millis(300));
                cancel.cancel();
            });
            fx.runner(&cancel, 1).run(&stages)
        });
        assert!(started.elapsed() < Duration::from_secs(3));
        assert_eq!(results[0].status, CheckStatus::Cancelled);
        assert_eq!(results[0].attempts, 1);
        assert_eq!(results[1].status, CheckStatus::Cancelled);
        assert_eq!(results[1].attempts, 0);
        assert!(!fx.work().join("never").exists());
    }

    #[test]
    fn a_broken_buildspec_fails_the_check_with_its_problem() {
        let fx = Fixture::new();
        let cancel = Cancel::new();
        let mut j = job("spec", &[]);
        j.commands = Err("buildspec `ci/unit.yml`: the file does not exist".into());
        let r = fx.runner(&cancel, 1).run_check(&j);
        assert_eq!(r.status, CheckStatus::Failed);
        assert_eq!(
            r.log_tail.as_deref(),
            Some("buildspec `ci/unit.yml`: the file does not exist")
        );
    }

    #[test]
    fn tails_keep_the_last_lines_of_the_last_attempt() {
        let fx = Fixture::new();
        let path = fx.dir.join("t.log");
        let text: String = (1..=80).map(|i| format!("line {i}\n")).collect();
        std::fs::write(&path, &text).expect("write");
        let tail = read_tail(&path, 0, 50).expect("tail");
        assert!(
            tail.starts_with("line 31\n") && tail.ends_with("line 80"),
            "{tail}"
        );
        let from = text.find("line 71").expect("offset") as u64;
        assert_eq!(
            read_tail(&path, from, 50).expect("tail").lines().count(),
            10
        );
        assert_eq!(scaled_minutes(5, 0.001), Duration::from_millis(300));
        assert_eq!(format_duration(Duration::from_millis(12_345)), "12.3s");
    }
}
