//! Releases end to end: `gate release`, `gate release status` and `gate history --releases`
//! against real temporary git repositories, and the release flow with a scripted approver.
//!
//! Every repository has `network` (deployed), `lib` (tested, never deployed) and `app`
//! (deployed, packaged, depends on `lib`, which depends on `network`), docs that are ignored,
//! and the environments development → testing → production (production needs an approval by
//! `local:*@example.com`). Every command appends a line to the test's own `markers/log`, so a
//! test reads what ran, in which order, with which variables.

use codecommit_gate::local::cleanup::Cancel;
use codecommit_gate::local::release::{self, Answer, Asker, Records, ReleaseRequest};
use codecommit_gate::local::runner::Silent;
use codecommit_gate::local::store::Store;
use codecommit_gate::policy::CheckStatus;
use codecommit_gate::release::{
    ApprovalDecision, EnvironmentState, ReleaseOutcome, ReleaseRecord, RollbackHow,
};
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};
use std::time::Duration;

const GATE: &str = r#"version: 1
stages: [test]
components:
  network:
    paths: [infra/network/]
    deploy:
      commands:
        - 'echo "deploy network $GATE_ACTION $GATE_ENVIRONMENT $GATE_COMPONENT $GATE_COMMIT prev=$GATE_PREVIOUS_COMMIT" >> "$MARKER_DIR/log"'
        - 'test ! -f infra/network/BROKEN'
  lib:
    paths: [lib/]
    depends_on: [network]
  tools:
    paths: [tools/]
  app:
    paths: [app/]
    depends_on: [lib]
    deploy:
      commands:
        - 'echo "deploy app $GATE_ACTION $GATE_COMMIT artifact=$(cat "$GATE_ARTIFACT_DIR/dist/app.txt")" >> "$MARKER_DIR/log"'
        - 'test ! -f app/BROKEN'
        - 'if [ -f app/SLOW ]; then echo "app waits" >> "$MARKER_DIR/log"; sleep 1003; fi'
      rollback: ['echo "rollback app $GATE_ACTION to=$GATE_COMMIT from=$GATE_PREVIOUS_COMMIT" >> "$MARKER_DIR/log"']
    package:
      commands: ['mkdir -p dist && cp app/main.txt dist/app.txt && echo "package app" >> "$MARKER_DIR/log"']
      outputs: [dist/]
checks:
  unit:
    stage: test
    commands: ['echo "check unit $GATE_ACTION $GATE_ENVIRONMENT" >> "$MARKER_DIR/log"', 'test ! -f FAIL_UNIT']
  app-e2e:
    stage: test
    components: [app]
    commands: ['echo "check app-e2e" >> "$MARKER_DIR/log"']
  tools-lint:
    stage: test
    components: [tools]
    commands: ['echo "check tools-lint" >> "$MARKER_DIR/log"']
ignore: [docs/]
environments:
  development: {branch: development, checks: [unit]}
  testing: {branch: testing, checks: [unit, app-e2e]}
  production:
    branch: main
    checks: [unit, app-e2e, tools-lint]
    approval: {approvers: ['local:*@example.com'], timeout: 5}
"#;

/// Who releases (the repository's `user.email`); the commits are Alice's (`scratch::AUTHOR_EMAIL`).
const RELEASER: &str = "rel@example.com";

struct Repo {
    _tmp: tempfile::TempDir,
    dir: PathBuf,
    markers: PathBuf,
}

use crate::scratch;
use scratch::{code, process_running, text};

impl Repo {
    /// The repository on `main`, with `development` and `testing` at the same commit.
    fn new() -> Repo {
        let tmp = tempfile::tempdir().expect("tempdir");
        let dir = tmp.path().join("shop");
        let markers = tmp.path().join("markers");
        std::fs::create_dir_all(&dir).expect("mkdir");
        std::fs::create_dir_all(&markers).expect("mkdir");
        let repo = Repo {
            _tmp: tmp,
            dir,
            markers,
        };
        repo.git(&["init", "-q", "-b", "main"]);
        repo.git(&["config", "user.email", RELEASER]);
        // The commands write to the markers folder by its path, so they need no environment
        // (the library-level tests run them in this process).
        let markers_dir = repo.markers.to_string_lossy().into_owned();
        repo.write(".gate.yml", &GATE.replace("$MARKER_DIR", &markers_dir));
        for (path, content) in [
            ("infra/network/vpc.yml", "cidr: 10.0.0.0/16\n"),
            ("lib/lib.rs", "pub fn lib() {}\n"),
            ("app/main.txt", "app v1\n"),
            ("docs/guide.md", "# Guide\n"),
            ("tools/lint.sh", "true\n"),
        ] {
            repo.write(path, content);
        }
        repo.commit("Initial commit");
        repo.git(&["branch", "development"]);
        repo.git(&["branch", "testing"]);
        repo
    }

    fn git(&self, args: &[&str]) -> String {
        scratch::git(&self.dir, args)
    }

    fn write(&self, path: &str, content: &str) {
        scratch::write(&self.dir, path, content);
    }

    fn commit(&self, message: &str) -> String {
        scratch::commit(&self.dir, message)
    }

    /// Commits `files` on `branch` (checked out for it) and returns the commit.
    fn change(&self, branch: &str, files: &[(&str, &str)], message: &str) -> String {
        self.git(&["checkout", "-q", branch]);
        for (path, content) in files {
            self.write(path, content);
        }
        self.commit(message)
    }

    /// Deletes `path` on `branch` and commits.
    fn delete(&self, branch: &str, path: &str) -> String {
        self.git(&["checkout", "-q", branch]);
        self.git(&["rm", "-q", path]);
        self.commit(&format!("remove {path}"))
    }

    fn gate(&self, args: &[&str]) -> Output {
        Command::new(env!("CARGO_BIN_EXE_gate"))
            .args(args)
            .current_dir(&self.dir)
            .env("MARKER_DIR", &self.markers)
            .env_remove("CI")
            .stdin(Stdio::null())
            .output()
            .expect("gate runs")
    }

    /// `gate release ENV ARGS…`; asserts that no worktree is left behind.
    fn release(&self, env: &str, args: &[&str]) -> Output {
        let mut all = vec!["release", env];
        all.extend_from_slice(args);
        let out = self.gate(&all);
        assert_eq!(
            self.git(&["worktree", "list"]).lines().count(),
            1,
            "a worktree was left behind"
        );
        out
    }

    /// The lines the commands wrote since the last call (and forgets them).
    fn log(&self) -> Vec<String> {
        let path = self.markers.join("log");
        let lines = std::fs::read_to_string(&path)
            .unwrap_or_default()
            .lines()
            .map(str::to_owned)
            .collect();
        let _ = std::fs::remove_file(path);
        lines
    }

    fn records(&self) -> Records {
        Records::new(&Store::new(&self.dir))
    }

    fn state(&self, env: &str) -> EnvironmentState {
        self.records().state(env).expect("state")
    }

    /// The newest release record.
    fn last(&self) -> ReleaseRecord {
        self.records()
            .releases()
            .expect("releases")
            .pop()
            .expect("a release")
    }
}

/// `out`'s exit code is `expected`, or the test fails showing both streams.
#[track_caller]
fn assert_code(out: &Output, expected: i32) {
    assert_eq!(
        code(out),
        expected,
        "stdout:\n{}\nstderr:\n{}",
        text(&out.stdout),
        text(&out.stderr)
    );
}

fn short(commit: &str) -> &str {
    &commit[..8]
}

#[test]
fn the_first_release_deploys_everything_in_dependency_order_and_records_it() {
    let repo = Repo::new();
    let c = repo.git(&["rev-parse", "development"]);
    let out = repo.release("development", &[]);
    assert_code(&out, 0);
    assert_eq!(
        repo.log(),
        [
            "check unit check development".to_owned(),
            "package app".to_owned(),
            format!("deploy network deploy development network {c} prev="),
            format!("deploy app deploy {c} artifact=app v1"),
        ]
    );
    let state = repo.state("development");
    assert_eq!(state.commit.as_deref(), Some(c.as_str()));
    assert_eq!(
        state.components.keys().collect::<Vec<_>>(),
        ["app", "network"]
    );
    let record = repo.last();
    assert_eq!(record.outcome, ReleaseOutcome::Released);
    assert_eq!(record.plan.previous, None);
    let report = std::fs::read_to_string(repo.records().release_dir(&record.id).join("report.md"))
        .expect("report");
    assert!(report.starts_with("## ✅ Release of"), "{report}");
    assert!(
        report.contains("tested only (no `deploy`)"),
        "lib: {report}"
    );

    let status = repo.gate(&["release", "status"]);
    assert_code(&status, 0);
    let status = text(&status.stdout);
    assert!(
        status.contains(&format!(
            "development (branch development): at {}",
            short(&c)
        )),
        "{status}"
    );
    assert!(
        status.contains("testing (branch testing): never released"),
        "{status}"
    );

    let history = repo.gate(&["history", "--releases", "--format", "json"]);
    assert_code(&history, 0);
    let listed: Vec<ReleaseRecord> = serde_json::from_slice(&history.stdout).expect("json");
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].id, record.id);
}

#[test]
fn nothing_changed_or_docs_only_deploys_nothing() {
    let repo = Repo::new();
    assert_code(&repo.release("development", &[]), 0);
    repo.log();
    let again = repo.release("development", &[]);
    assert_code(&again, 0);
    assert!(
        text(&again.stdout).contains("Nothing to release"),
        "{}",
        text(&again.stdout)
    );
    assert!(repo.log().is_empty());

    let docs = repo.change("development", &[("docs/guide.md", "# Guide v2\n")], "docs");
    let out = repo.release("development", &[]);
    assert_code(&out, 0);
    assert!(
        repo.log().is_empty(),
        "a docs change runs and deploys nothing"
    );
    assert_eq!(repo.last().outcome, ReleaseOutcome::NothingToRelease);
    assert_eq!(
        repo.state("development").commit.as_deref(),
        Some(docs.as_str())
    );
}

#[test]
fn one_component_deploys_alone_and_a_dependency_redeploys_its_dependents_after_it() {
    let repo = Repo::new();
    assert_code(&repo.release("development", &[]), 0);
    repo.log();

    let app_only = repo.change("development", &[("app/main.txt", "app v2\n")], "app v2");
    assert_code(&repo.release("development", &[]), 0);
    assert_eq!(
        repo.log(),
        [
            "check unit check development".to_owned(),
            "package app".to_owned(),
            format!("deploy app deploy {app_only} artifact=app v2"),
        ]
    );

    let net = repo.change(
        "development",
        &[("infra/network/vpc.yml", "cidr: 10.1.0.0/16\n")],
        "net",
    );
    let json = repo.gate(&["release", "development", "--plan", "--format", "json"]);
    assert_code(&json, 0);
    let plan: serde_json::Value = serde_json::from_slice(&json.stdout).expect("json");
    assert_eq!(plan["previous"], serde_json::json!(app_only));
    let components: Vec<(String, bool, serde_json::Value)> = plan["components"]
        .as_array()
        .expect("components")
        .iter()
        .map(|c| {
            (
                c["name"].as_str().expect("name").to_owned(),
                c["deploy"].as_bool().expect("deploy"),
                c["wave"].clone(),
            )
        })
        .collect();
    assert_eq!(
        components,
        [
            ("network".to_owned(), true, serde_json::json!(0)),
            ("app".to_owned(), true, serde_json::json!(1)),
            ("lib".to_owned(), false, serde_json::Value::Null),
        ]
    );
    assert!(repo.log().is_empty(), "--plan runs nothing");

    // app depends on network: it is built again (its artifact's inputs changed) and deploys
    // after network.
    assert_code(&repo.release("development", &[]), 0);
    assert_eq!(
        repo.log(),
        [
            "check unit check development".to_owned(),
            "package app".to_owned(),
            format!("deploy network deploy development network {net} prev={app_only}"),
            format!("deploy app deploy {net} artifact=app v2"),
        ]
    );
}

#[test]
fn a_failed_deploy_rolls_back_what_it_deployed_and_the_next_release_retries() {
    let repo = Repo::new();
    assert_code(&repo.release("development", &[]), 0);
    let p = repo.git(&["rev-parse", "development"]);
    repo.log();

    // network deploys, then app fails: app rolls back with its own commands, network by
    // deploying the previous release again; the environment stays at P.
    let broken = repo.change(
        "development",
        &[
            ("infra/network/vpc.yml", "cidr: 10.2.0.0/16\n"),
            ("app/BROKEN", "x\n"),
        ],
        "broken app",
    );
    let out = repo.release("development", &[]);
    assert_code(&out, 1);
    assert_eq!(
        repo.log(),
        [
            "check unit check development".to_owned(),
            "package app".to_owned(),
            format!("deploy network deploy development network {broken} prev={p}"),
            format!("deploy app deploy {broken} artifact=app v1"),
            format!("rollback app rollback to={p} from={broken}"),
            format!("deploy network rollback development network {p} prev={broken}"),
        ]
    );
    let record = repo.last();
    assert_eq!(record.outcome, ReleaseOutcome::DeployFailed);
    let how: Vec<(&str, &RollbackHow)> = record
        .rollbacks
        .iter()
        .map(|r| (r.component.as_str(), &r.how))
        .collect();
    assert_eq!(
        how,
        [
            ("app", &RollbackHow::Commands),
            ("network", &RollbackHow::Redeploy { commit: p.clone() })
        ]
    );
    assert_eq!(
        repo.state("development").commit.as_deref(),
        Some(p.as_str())
    );
    let summary = text(&out.stdout);
    assert!(
        summary.contains("a deploy failed, rolled back"),
        "{summary}"
    );

    // The fix: the same components deploy again, from P.
    let fixed = repo.delete("development", "app/BROKEN");
    assert_code(&repo.release("development", &[]), 0);
    let log = repo.log();
    assert!(
        log.contains(&format!(
            "deploy network deploy development network {fixed} prev={p}"
        )),
        "{log:?}"
    );
    assert!(
        log.contains(&format!("deploy app deploy {fixed} artifact=app v1")),
        "{log:?}"
    );
    assert_eq!(
        repo.state("development").commit.as_deref(),
        Some(fixed.as_str())
    );
}

#[test]
fn a_failed_first_release_has_nothing_to_return_to_and_later_waves_never_start() {
    let repo = Repo::new();
    repo.change(
        "development",
        &[("infra/network/BROKEN", "x\n")],
        "broken network",
    );
    let out = repo.release("development", &[]);
    assert_code(&out, 1);
    let log = repo.log();
    assert!(
        !log.iter().any(|l| l.starts_with("deploy app")),
        "app waits for network: {log:?}"
    );
    let record = repo.last();
    let app = record
        .deploys
        .iter()
        .find(|d| d.component.as_str() == "app")
        .expect("app");
    assert_eq!(app.result.status, CheckStatus::Cancelled);
    assert_eq!(record.rollbacks.len(), 1);
    assert_eq!(record.rollbacks[0].how, RollbackHow::Nothing);
    assert_eq!(repo.state("development").commit, None);
}

#[test]
fn a_failing_environment_check_deploys_nothing() {
    let repo = Repo::new();
    repo.change("development", &[("FAIL_UNIT", "x\n")], "breaks unit");
    let out = repo.release("development", &[]);
    assert_code(&out, 1);
    assert_eq!(repo.log(), ["check unit check development"]);
    assert_eq!(repo.last().outcome, ReleaseOutcome::ChecksFailed);
    assert_eq!(repo.state("development").commit, None);
}

#[test]
fn production_needs_an_approval_from_someone_who_did_not_write_the_change() {
    let repo = Repo::new();
    let missing = repo.release("production", &[]);
    assert_code(&missing, 1);
    let err = text(&missing.stdout) + &text(&missing.stderr);
    assert!(err.contains("pass --approve"), "{err}");
    assert!(
        !repo.log().iter().any(|l| l.starts_with("deploy")),
        "nothing deploys without an approval"
    );
    assert_eq!(repo.last().outcome, ReleaseOutcome::ApprovalMissing);

    let given = repo.release("production", &["--approve"]);
    assert_code(&given, 0);
    let approval = repo.last().approval.expect("recorded");
    assert_eq!(approval.decision, ApprovalDecision::Approved);
    assert_eq!(approval.approver, format!("local:{RELEASER}"));
    assert!(repo.log().iter().any(|l| l.starts_with("deploy app")));

    // The releaser writes the next change: they cannot approve it alone.
    repo.git(&["checkout", "-q", "main"]);
    repo.write("app/main.txt", "app v3\n");
    repo.git(&["add", "-A"]);
    let own = Command::new("git")
        .arg("-C")
        .arg(&repo.dir)
        .args(["commit", "-q", "-m", "mine"])
        .env("GIT_AUTHOR_EMAIL", RELEASER)
        .env("GIT_COMMITTER_EMAIL", RELEASER)
        .status()
        .expect("git");
    assert!(own.success());
    let refused = repo.release("production", &["--approve"]);
    assert_code(&refused, 1);
    assert!(
        text(&refused.stderr).contains("may not approve it alone"),
        "{}",
        text(&refused.stderr)
    );
    assert_eq!(repo.last().outcome, ReleaseOutcome::ApprovalRefused);
    assert!(!repo.log().iter().any(|l| l.starts_with("deploy")));

    // Someone who is not an approver cannot approve either.
    repo.git(&["config", "user.email", "eve@elsewhere.test"]);
    let stranger = repo.release("production", &["--approve"]);
    assert_code(&stranger, 1);
    assert_eq!(
        repo.last().approval.expect("recorded").decision,
        ApprovalDecision::NotAnApprover
    );
}

/// Answers every question with the same answer.
struct Says(Answer);

impl Asker for Says {
    fn ask(&self, _question: &str, _timeout: Duration, _cancel: &Cancel) -> Answer {
        self.0
    }
}

#[test]
fn the_person_asked_can_refuse_or_let_the_wait_run_out() {
    let repo = Repo::new();
    for (answer, outcome, decision) in [
        (
            Answer::No,
            ReleaseOutcome::ApprovalRefused,
            ApprovalDecision::Refused,
        ),
        (
            Answer::TimedOut,
            ReleaseOutcome::ApprovalMissing,
            ApprovalDecision::TimedOut,
        ),
        (
            Answer::Yes,
            ReleaseOutcome::Released,
            ApprovalDecision::Approved,
        ),
    ] {
        let request = ReleaseRequest::new(&repo.dir, "production");
        let (mut out, mut err) = (Vec::new(), Vec::new());
        let code = release::run(
            &request,
            &Says(answer),
            &Cancel::new(),
            &Silent,
            &mut out,
            &mut err,
        )
        .expect("runs");
        let record = repo.last();
        assert_eq!(record.outcome, outcome, "{}", text(&err));
        assert_eq!(record.approval.expect("asked").decision, decision);
        assert_eq!(code, u8::from(outcome != ReleaseOutcome::Released));
    }
}

#[test]
fn two_releases_of_one_environment_never_run_at_once() {
    let repo = Repo::new();
    let records = repo.records();
    let _held = records
        .lock("development", "release r1 (pid 1)")
        .expect("io")
        .expect("free");
    let out = repo.release("development", &[]);
    assert_code(&out, 2);
    let err = text(&out.stderr);
    assert!(
        err.contains("development is being released already (release r1 (pid 1))"),
        "{err}"
    );
    assert!(repo.log().is_empty());
    let other = repo.release("testing", &[]);
    assert_code(&other, 0);
}

#[test]
fn a_commit_that_does_not_descend_from_the_last_release_needs_force() {
    let repo = Repo::new();
    repo.change("development", &[("app/main.txt", "app v2\n")], "v2");
    assert_code(&repo.release("development", &[]), 0);
    repo.log();
    let old = repo.git(&["rev-parse", "testing"]);
    let out = repo.release("development", &["--commit", &old]);
    assert_code(&out, 1);
    assert!(
        text(&out.stderr).contains("does not descend from"),
        "{}",
        text(&out.stderr)
    );
    assert!(repo.log().is_empty());

    let forced = repo.release("development", &["--commit", &old, "--force"]);
    assert_code(&forced, 0);
    let record = repo.last();
    assert!(record.forced);
    assert_eq!(
        repo.state("development").commit.as_deref(),
        Some(old.as_str())
    );
}

#[test]
fn the_artifact_built_for_development_is_what_testing_and_production_deploy() {
    let repo = Repo::new();
    assert_code(&repo.release("development", &[]), 0);
    assert_eq!(repo.log().iter().filter(|l| *l == "package app").count(), 1);
    let built = repo.last().packages;
    assert_eq!(built.len(), 1);
    assert!(!built[0].reused);
    for env in ["testing", "production"] {
        assert_code(&repo.release(env, &["--approve"]), 0);
        let log = repo.log();
        assert!(
            !log.contains(&"package app".to_owned()),
            "{env} rebuilt: {log:?}"
        );
        assert!(
            log.iter().any(|l| l.ends_with("artifact=app v1")),
            "{log:?}"
        );
        let packages = repo.last().packages;
        assert!(packages[0].reused, "{env}");
        assert_eq!(packages[0].key, built[0].key);
        assert_eq!(
            repo.state(env).components["app"].artifact.as_deref(),
            Some(built[0].key.as_str())
        );
    }
}

#[test]
fn an_unknown_environment_is_a_usage_error_naming_the_known_ones() {
    let repo = Repo::new();
    let out = repo.release("prod", &[]);
    assert_code(&out, 2);
    assert!(
        text(&out.stderr)
            .contains("no environment `prod` (it has: development, testing, production)"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn ctrl_c_stops_the_running_deploy_and_rolls_back_what_the_release_deployed() {
    let repo = Repo::new();
    assert_code(&repo.release("development", &[]), 0);
    let p = repo.git(&["rev-parse", "development"]);
    let slow = repo.change(
        "development",
        &[
            ("infra/network/vpc.yml", "cidr: 10.3.0.0/16\n"),
            ("app/SLOW", "x\n"),
        ],
        "slow app",
    );
    repo.log();
    let child = Command::new(env!("CARGO_BIN_EXE_gate"))
        .args(["release", "development"])
        .current_dir(&repo.dir)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("gate runs");
    let log = repo.markers.join("log");
    let started = std::time::Instant::now();
    while !std::fs::read_to_string(&log)
        .unwrap_or_default()
        .contains("app waits")
    {
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "app never deployed"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(i32::try_from(child.id()).expect("pid")),
        nix::sys::signal::Signal::SIGINT,
    )
    .expect("signal");
    let out = child.wait_with_output().expect("gate ends");
    assert_code(&out, 130);
    assert!(!process_running("sleep 1003"), "the deploy survived Ctrl-C");
    let lines = repo.log();
    assert_eq!(
        lines[lines.len() - 2..],
        [
            format!("rollback app rollback to={p} from={slow}"),
            format!("deploy network rollback development network {p} prev={slow}"),
        ]
    );
    assert_eq!(repo.last().outcome, ReleaseOutcome::Interrupted);
    assert_eq!(
        repo.state("development").commit.as_deref(),
        Some(p.as_str())
    );
    assert_eq!(repo.git(&["worktree", "list"]).lines().count(), 1);
}

#[test]
fn a_change_that_is_only_tested_runs_its_checks_and_asks_no_approval() {
    let repo = Repo::new();
    assert_code(&repo.release("production", &["--approve"]), 0);
    repo.log();
    let tools = repo.change("main", &[("tools/lint.sh", "exit 0\n")], "tools");
    let out = repo.release("production", &[]);
    assert_code(&out, 0);
    let mut ran = repo.log();
    ran.sort();
    assert_eq!(ran, ["check tools-lint", "check unit check production"]);
    let record = repo.last();
    assert_eq!(record.outcome, ReleaseOutcome::NothingToRelease);
    assert_eq!(record.approval, None);
    assert_eq!(
        repo.state("production").commit.as_deref(),
        Some(tools.as_str())
    );
}

#[test]
fn a_failed_package_build_deploys_nothing() {
    let repo = Repo::new();
    assert_code(&repo.release("development", &[]), 0);
    repo.log();
    repo.change(
        "development",
        &[("infra/network/vpc.yml", "cidr: 10.4.0.0/16\n")],
        "net",
    );
    repo.delete("development", "app/main.txt");
    let out = repo.release("development", &[]);
    assert_code(&out, 1);
    assert_eq!(repo.log(), ["check unit check development"]);
    let record = repo.last();
    assert_eq!(record.outcome, ReleaseOutcome::PackageFailed);
    assert!(record.deploys.is_empty());
    let package = record.packages[0].result.as_ref().expect("built");
    assert_eq!(package.status, CheckStatus::Failed);
    let report = std::fs::read_to_string(repo.records().release_dir(&record.id).join("report.md"))
        .expect("report");
    assert!(
        report.contains("<summary>package app failed</summary>"),
        "{report}"
    );
}

#[test]
fn a_change_cannot_drop_the_approval_its_own_release_needs() {
    let repo = Repo::new();
    assert_code(&repo.release("production", &["--approve"]), 0);
    repo.log();
    let gate = std::fs::read_to_string(repo.dir.join(".gate.yml")).expect("gate file");
    let lax = gate.replace(
        "    approval: {approvers: ['local:*@example.com'], timeout: 5}\n",
        "",
    );
    assert_ne!(lax, gate, "the change drops production's approval");
    repo.change(
        "main",
        &[(".gate.yml", lax.as_str()), ("app/main.txt", "app v9\n")],
        "no more approvals",
    );
    let out = repo.release("production", &[]);
    assert_code(&out, 1);
    assert_eq!(
        repo.last().outcome,
        ReleaseOutcome::ApprovalMissing,
        "the released environment's gate file still asks for an approval"
    );
    assert!(!repo.log().iter().any(|l| l.starts_with("deploy")));
}

#[test]
fn a_releases_check_reports_reach_the_record_the_report_and_the_summary() {
    let repo = Repo::new();
    let data = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data/reports");
    let unit = "    commands: ['echo \"check unit $GATE_ACTION $GATE_ENVIRONMENT\" >> \"$MARKER_DIR/log\"', 'test ! -f FAIL_UNIT']\n";
    // The check copies real reports into its worktree: pytest's JUnit (6 passed, 2 failed, 1
    // error, 2 skipped) and grcov's LCOV (15 of 24 lines, 62.5 %), under a min_line of 70.
    let with_reports = format!(
        "    commands: ['mkdir -p reports && cp {junit} reports/pytest.xml && cp {lcov} lcov.info']\n    reports: {{junit: ['reports/*.xml'], coverage: {{format: lcov, path: lcov.info, min_line: 70}}}}\n",
        junit = data.join("pytest/junit.xml").display(),
        lcov = data.join("grcov/lcov.info").display(),
    );
    let markers_dir = repo.markers.to_string_lossy().into_owned();
    let gate = GATE.replace(unit, &with_reports);
    assert_ne!(gate, GATE);
    repo.change(
        "development",
        &[(".gate.yml", &gate.replace("$MARKER_DIR", &markers_dir))],
        "unit reports",
    );
    let out = repo.release("development", &[]);
    assert_code(&out, 1);
    let record = repo.last();
    assert_eq!(record.outcome, ReleaseOutcome::ChecksFailed);
    let unit = &record.checks[0];
    assert_eq!(unit.status, CheckStatus::Failed, "62.5 % is under 70 %");
    let reports = unit.reports.as_ref().expect("read from the worktree");
    let tests = reports.tests.as_ref().expect("JUnit");
    assert_eq!(
        (
            tests.counts.passed,
            tests.counts.failed,
            tests.counts.errored
        ),
        (6, 2, 1)
    );

    let summary = text(&out.stdout);
    assert!(
        summary.contains(
            "· 6 passed, 2 failed, 1 errored, 2 skipped · line coverage 62.5 % · under the check's min_line of 70 %\n"
        ),
        "{summary}"
    );
    assert!(
        summary.contains(
            "           `test_calc.test_add_wrong` failed: AssertionError: two and two make four\n"
        ),
        "{summary}"
    );
    let report = std::fs::read_to_string(repo.records().release_dir(&record.id).join("report.md"))
        .expect("the report");
    assert!(
        report.contains(
            "**Test results**\n- `unit`: 6 passed, 2 failed, 1 errored, 2 skipped · line coverage 62.5 % ❌ under the check's `min_line` of 70 %, so the check failed\n"
        ),
        "{report}"
    );
    assert!(
        report.contains("❌ `unit` › `test_calc.test_add_wrong` failed:\n\n```\nAssertionError: two and two make four\n"),
        "{report}"
    );
}
