//! The local gate end to end: `gate run`, `gate history` and `gate event` against real temporary git repositories, and the gate-start flow replayed on the local adapters.
//!
//! Every repository is a small monorepo: `lib`, `api` (depends on `lib`) and `web`, one check
//! per component plus a build check, a global toolchain file and ignored docs. Checks prove
//! they ran by touching files in `$MARKER_DIR`, a folder of each test's own.

use codecommit_gate::config::Settings;
use codecommit_gate::event::{self, Event};
use codecommit_gate::flows::Deps;
use codecommit_gate::gate_file::Gate;
use codecommit_gate::ids::{CommentId, CommitId, PullRequestId, RepositoryName};
use codecommit_gate::local::history::{Entry, HistoryVerdict};
use codecommit_gate::local::session::RunFile;
use codecommit_gate::local::{LocalExecutions, LocalLedger, LocalNotifier, LocalPullRequests};
use codecommit_gate::plan::{self, PlanInput};
use codecommit_gate::policy::CheckStatus;
use codecommit_gate::ports::{Executions, Ledger, PullRequests};
use codecommit_gate::report::{self, Subject};
use codecommit_gate::trust::{GateFileNote, TrustSource};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

const GATE: &str = r#"version: 1
stages: [build, test]
components:
  lib: {paths: [lib/]}
  api: {paths: [api/], depends_on: [lib]}
  web: {paths: [web/]}
checks:
  build:
    stage: build
    components: [lib, api, web]
    commands: ['touch "$MARKER_DIR/build"']
  lib-tests:
    stage: test
    components: [lib]
    commands: ['touch "$MARKER_DIR/lib-tests"']
  api-tests:
    stage: test
    components: [api]
    commands: ['touch "$MARKER_DIR/api-tests"', 'echo "api sees $GATE_SOURCE_COMMIT $API_MODE"']
    env: {API_MODE: strict}
  web-tests:
    stage: test
    components: [web]
    commands: ['touch "$MARKER_DIR/web-tests"']
    required: false
global: [toolchain.txt]
ignore: [docs/]
skip:
  checks: [web-tests]
"#;

struct Repo {
    _tmp: tempfile::TempDir,
    dir: PathBuf,
    markers: PathBuf,
}

use crate::scratch;
use scratch::{code, process_running, text};

impl Repo {
    /// A repository named `shop` with the gate file and the three components on `main`, and a
    /// `feature` branch checked out.
    fn new(gate: &str) -> Repo {
        Repo::build(|_| gate.to_owned())
    }

    /// Like [`Repo::new`], with the gate file written by `gate` from the markers folder (for
    /// checks that run in this test process, where `$MARKER_DIR` is not set).
    fn build(gate: impl FnOnce(&Path) -> String) -> Repo {
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
        repo.write(".gate.yml", &gate(&repo.markers));
        for (path, content) in [
            ("lib/lib.rs", "pub fn lib() {}\n"),
            ("api/main.rs", "fn main() {}\n"),
            ("web/app.ts", "export {}\n"),
            ("toolchain.txt", "1.95\n"),
            ("docs/guide.md", "# Guide\n"),
        ] {
            repo.write(path, content);
        }
        repo.commit("Initial commit");
        repo.git(&["checkout", "-q", "-b", "feature"]);
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

    /// Changes files on the feature branch and commits.
    fn change(&self, files: &[(&str, &str)], message: &str) -> String {
        for (path, content) in files {
            self.write(path, content);
        }
        self.commit(message)
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

    /// `gate run` with extra arguments; asserts that no worktree is left behind.
    fn run(&self, args: &[&str]) -> Output {
        let mut all = vec!["run"];
        all.extend_from_slice(args);
        let out = self.gate(&all);
        if !args.contains(&"--keep-worktree") {
            assert_eq!(
                self.git(&["worktree", "list"]).lines().count(),
                1,
                "a worktree was left behind"
            );
        }
        out
    }

    /// The markers written, sorted.
    fn ran(&self) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(&self.markers)
            .expect("markers")
            .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }

    fn clear_markers(&self) {
        std::fs::remove_dir_all(&self.markers).expect("clear");
        std::fs::create_dir_all(&self.markers).expect("mkdir");
    }

    fn report(&self) -> String {
        std::fs::read_to_string(self.dir.join(".gate/last-report.md")).expect("report")
    }

    /// The `run.json` of the newest run.
    fn last_run(&self) -> RunFile {
        let history = self.history();
        let id = &history.first().expect("a run").id;
        let path = self.dir.join(".gate/logs").join(id).join("run.json");
        serde_json::from_str(&std::fs::read_to_string(path).expect("run.json")).expect("parses")
    }

    /// `gate history --format json`.
    fn history(&self) -> Vec<Entry> {
        let out = self.gate(&["history", "--format", "json"]);
        assert_eq!(code(&out), 0, "{}", text(&out.stderr));
        serde_json::from_slice(&out.stdout).expect("history json")
    }
}

fn names(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| (*s).to_owned()).collect()
}

#[test]
fn only_the_affected_checks_run_on_the_merge_result() {
    let repo = Repo::new(GATE);
    let head = repo.change(&[("api/main.rs", "fn main() { api() }\n")], "Call the API");
    let out = repo.run(&[]);
    assert_eq!(
        code(&out),
        0,
        "{}\n{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    assert_eq!(repo.ran(), names(&["api-tests", "build"]));
    let stdout = text(&out.stdout);
    assert!(
        stdout.starts_with("Gate passed: 2 checks run, 2 skipped.\n"),
        "{stdout}"
    );
    assert!(stdout.contains("\nSkipped: lib-tests ("), "{stdout}");
    let run = repo.last_run();
    assert_eq!(run.subject.source_commit.as_str(), head);
    assert_eq!(run.subject.title, "Call the API");
    assert_eq!(run.subject.source_branch, "feature");
    assert_eq!(run.subject.destination_branch, "main");
    assert_eq!(run.subject.pull_request_id.as_str(), "local");
    assert_eq!(run.subject.repository.as_str(), "shop");
    // The check saw the PR facts and its own env; its log is kept.
    let log = std::fs::read_to_string(
        repo.dir
            .join(".gate/logs")
            .join(&run.id)
            .join("api-tests.log"),
    )
    .expect("log");
    assert!(log.contains(&format!("api sees {head} strict")), "{log}");
}

#[test]
fn a_dependency_change_runs_its_dependents() {
    let repo = Repo::new(GATE);
    repo.change(
        &[("lib/lib.rs", "pub fn lib() -> u8 { 1 }\n")],
        "Change lib",
    );
    let out = repo.run(&[]);
    assert_eq!(code(&out), 0, "{}", text(&out.stderr));
    assert_eq!(repo.ran(), names(&["api-tests", "build", "lib-tests"]));
}

#[test]
fn a_global_file_runs_everything_and_ignored_files_nothing() {
    let repo = Repo::new(GATE);
    repo.change(&[("docs/guide.md", "# Guide, v2\n")], "Docs");
    let out = repo.run(&[]);
    assert_eq!(code(&out), 0, "{}", text(&out.stderr));
    assert!(repo.ran().is_empty());
    assert!(repo.report().contains("Gate passed"), "{}", repo.report());
    repo.change(&[("toolchain.txt", "1.96\n")], "New toolchain");
    let out = repo.run(&[]);
    assert_eq!(code(&out), 0, "{}", text(&out.stderr));
    assert_eq!(
        repo.ran(),
        names(&["api-tests", "build", "lib-tests", "web-tests"])
    );
}

#[test]
fn a_failing_required_check_fails_the_gate_and_stops_the_next_stage() {
    let repo = Repo::new(&GATE.replace(
        r#"commands: ['touch "$MARKER_DIR/build"']"#,
        r#"commands: ['touch "$MARKER_DIR/build"', 'echo "compile error in api" >&2; exit 2', 'touch "$MARKER_DIR/never"']"#,
    ));
    repo.change(&[("api/main.rs", "broken\n")], "Break the build");
    let out = repo.run(&[]);
    assert_eq!(code(&out), 1, "{}", text(&out.stderr));
    assert_eq!(
        repo.ran(),
        names(&["build"]),
        "later commands and stages never ran"
    );
    let run = repo.last_run();
    let statuses: Vec<(&str, CheckStatus)> = run
        .results
        .iter()
        .map(|r| (r.name.as_str(), r.status))
        .collect();
    assert_eq!(
        statuses,
        vec![
            ("build", CheckStatus::Failed),
            ("api-tests", CheckStatus::Cancelled)
        ]
    );
    let tail = run.results[0].log_tail.as_deref().expect("tail");
    assert!(tail.contains("compile error in api"), "{tail}");
    assert!(
        repo.report().starts_with("## ❌ Gate failed"),
        "{}",
        repo.report()
    );
    assert!(
        text(&out.stdout).contains("Log of build: "),
        "{}",
        text(&out.stdout)
    );
}

#[test]
fn an_optional_failure_does_not_block() {
    let repo = Repo::new(&GATE.replace(
        r#"commands: ['touch "$MARKER_DIR/web-tests"']"#,
        r#"commands: ['touch "$MARKER_DIR/web-tests"; exit 1']"#,
    ));
    repo.change(&[("web/app.ts", "export const x = 1\n")], "Web change");
    let out = repo.run(&[]);
    assert_eq!(code(&out), 0, "{}", text(&out.stderr));
    assert_eq!(repo.ran(), names(&["build", "web-tests"]));
    assert!(
        repo.report()
            .contains("1 optional check did not pass, which does not block the merge."),
        "{}",
        repo.report()
    );
}

/// Whether any process runs a command line containing `needle`.
#[test]
fn a_timeout_kills_the_check_and_its_children() {
    // 5 minutes (the floor) × 0.002 = 0.6 s.
    let repo = Repo::new(&GATE.replace(
        r#"commands: ['touch "$MARKER_DIR/api-tests"', 'echo "api sees $GATE_SOURCE_COMMIT $API_MODE"']"#,
        r#"commands: ['sleep 1001 & (sleep 1.5; touch "$MARKER_DIR/late") & touch "$MARKER_DIR/api-tests"; sleep 1001']
    timeout: 5"#,
    ));
    repo.change(&[("api/main.rs", "slow\n")], "Slow API tests");
    let started = Instant::now();
    let out = repo.run(&["--timeout-scale", "0.002"]);
    assert_eq!(code(&out), 1, "{}", text(&out.stderr));
    // Far below the 1001 s the check would sleep: it was killed, not waited for.
    assert!(started.elapsed() < Duration::from_secs(120));
    let run = repo.last_run();
    let api = run
        .results
        .iter()
        .find(|r| r.name.as_str() == "api-tests")
        .expect("api-tests");
    assert_eq!(api.status, CheckStatus::TimedOut);
    assert!(repo.report().contains("timed out"), "{}", repo.report());
    assert!(
        !process_running("sleep 1001"),
        "a background child survived"
    );
    std::thread::sleep(Duration::from_millis(2000).saturating_sub(started.elapsed()));
    assert!(repo.ran().contains(&"api-tests".to_owned()));
    assert!(
        !repo.ran().contains(&"late".to_owned()),
        "a child wrote after the timeout"
    );
}

#[test]
fn retry_on_failure_turns_a_flaky_failure_into_a_flaky_pass() {
    let repo = Repo::new(&GATE.replace(
        r#"commands: ['touch "$MARKER_DIR/lib-tests"']"#,
        r#"commands: ['if [ -e "$MARKER_DIR/seen" ]; then touch "$MARKER_DIR/lib-tests"; else touch "$MARKER_DIR/seen"; exit 1; fi']
    retries: 2
    retry_on_failure: true"#,
    ));
    repo.change(&[("lib/lib.rs", "// flaky\n")], "Flaky lib");
    let out = repo.run(&[]);
    assert_eq!(code(&out), 0, "{}", text(&out.stderr));
    let run = repo.last_run();
    let lib = run
        .results
        .iter()
        .find(|r| r.name.as_str() == "lib-tests")
        .expect("lib-tests");
    assert_eq!(
        (lib.status, lib.attempts, lib.flaky),
        (CheckStatus::Passed, 2, true)
    );
    assert!(
        repo.report().contains("flaky: passed after 2 attempts"),
        "{}",
        repo.report()
    );
}

#[test]
fn a_merge_conflict_is_reported_like_the_pr_comment() {
    let repo = Repo::new(GATE);
    let head = repo.change(
        &[("api/main.rs", "fn main() { feature() }\n")],
        "Feature side",
    );
    repo.git(&["checkout", "-q", "main"]);
    let base = repo.change(&[("api/main.rs", "fn main() { main() }\n")], "Main side");
    repo.git(&["checkout", "-q", "feature"]);
    let out = repo.run(&[]);
    assert_eq!(code(&out), 1, "{}", text(&out.stderr));
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("does not merge cleanly") && stderr.contains("  api/main.rs\n"),
        "{stderr}"
    );
    assert!(repo.ran().is_empty());
    let subject = Subject {
        repository: RepositoryName::from("shop"),
        pull_request_id: PullRequestId::from("local"),
        title: "Feature side".into(),
        source_branch: "feature".into(),
        destination_branch: "main".into(),
        source_commit: CommitId::new(head),
        destination_commit: CommitId::new(base),
        merge_commit: None,
        revision_id: None,
    };
    assert_eq!(
        repo.report(),
        report::merge_conflict(&subject, &["api/main.rs".to_owned()]).body
    );
    let history = repo.history();
    assert_eq!(history[0].verdict, HistoryVerdict::Failed);
}

#[test]
fn the_report_is_exactly_the_pr_comment_for_the_same_plan_and_results() {
    let repo = Repo::new(&GATE.replace(
        r#"commands: ['touch "$MARKER_DIR/web-tests"']"#,
        r#"commands: ['echo "`web` <b>failed</b> | here"; exit 1']"#,
    ));
    repo.change(
        &[("web/app.ts", "x\n"), ("lib/lib.rs", "y\n")],
        "Touch lib and web",
    );
    let out = repo.run(&["--report", "out/report.md"]);
    assert_eq!(code(&out), 0, "{}", text(&out.stderr));
    let run = repo.last_run();
    let written = std::fs::read_to_string(repo.dir.join("out/report.md")).expect("report");
    assert_eq!(
        written,
        report::finished(&run.subject, &run.plan, &run.results, run.verdict).body
    );
    // The plan is the planner's, for the paths changed from the merge base, with the gate file
    // of the merge result (only the commands differ from GATE, which the plan does not read).
    let gate = Gate::parse(GATE, ".gate.yml").expect("valid");
    let changes = [
        plan::ChangedPath::new("lib/lib.rs"),
        plan::ChangedPath::new("web/app.ts"),
    ];
    let policy = [".gate.yml".to_owned()];
    let mut expected = plan::plan(
        &gate,
        &PlanInput {
            changes: &changes,
            source_branch: Some("feature"),
            destination_branch: Some("main"),
            author: None,
            description: None,
            requests: &[],
            trusted: None,
            policy_paths: &policy,
        },
    );
    // Governed by the base's gate file, which the branch leaves alone.
    expected.gate_file = Some(GateFileNote::new(
        ".gate.yml",
        TrustSource::Destination {
            branch: "main".into(),
            commit: CommitId::new(repo.git(&["rev-parse", "main"])),
        },
    ));
    assert_eq!(run.plan, expected);
    let log = run
        .results
        .iter()
        .find_map(|r| r.log_url.clone())
        .expect("a log");
    assert!(
        Path::new(&log).is_absolute() && written.contains(&format!("`{log}`")),
        "{written}"
    );
}

#[test]
fn skip_and_only_follow_the_gate_file_rules() {
    let repo = Repo::new(GATE);
    repo.change(&[("toolchain.txt", "2\n")], "Everything");
    let out = repo.run(&["--skip", "web-tests,api-tests"]);
    assert_eq!(code(&out), 0, "{}", text(&out.stderr));
    assert_eq!(repo.ran(), names(&["api-tests", "build", "lib-tests"]));
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("api-tests"),
        "the refusal is shown: {stderr}"
    );
    let run = repo.last_run();
    let d = &run.plan.directives[0];
    assert!(d.author.starts_with("local:"), "{}", d.author);
    assert!(d.accepted);
    assert_eq!(d.refusals.len(), 1);
    assert!(
        repo.report().contains("/gate skip web-tests api-tests"),
        "{}",
        repo.report()
    );

    repo.clear_markers();
    let out = repo.run(&["--only", "build"]);
    assert_eq!(code(&out), 0, "{}", text(&out.stderr));
    assert_eq!(repo.ran(), names(&["api-tests", "build", "lib-tests"]));
}

#[test]
fn run_adds_checks_and_buildspec_checks_run_their_commands() {
    let repo = Repo::new(&GATE.replace(
        r#"commands: ['touch "$MARKER_DIR/web-tests"']"#,
        "buildspec: ci/web.yml",
    ));
    repo.write(
        "ci/web.yml",
        "version: 0.2\nphases:\n  install:\n    commands: ['touch \"$MARKER_DIR/install\"']\n  build:\n    commands: ['touch \"$MARKER_DIR/web-tests\"']\n",
    );
    repo.git(&["checkout", "-q", "main"]);
    repo.commit("Add a buildspec");
    repo.git(&["checkout", "-q", "-B", "feature"]);
    repo.change(&[("api/main.rs", "1\n")], "API");
    let out = repo.run(&["--run", "web-tests"]);
    assert_eq!(code(&out), 0, "{}", text(&out.stderr));
    assert_eq!(
        repo.ran(),
        names(&["api-tests", "build", "install", "web-tests"])
    );
}

#[test]
fn uncommitted_changes_are_not_tested_and_the_user_is_told() {
    let repo = Repo::new(&GATE.replace(
        r#"commands: ['touch "$MARKER_DIR/lib-tests"']"#,
        r#"commands: ['grep -qx committed lib/lib.rs && touch "$MARKER_DIR/lib-tests"']"#,
    ));
    repo.change(&[("lib/lib.rs", "committed\n")], "Lib");
    repo.write("lib/lib.rs", "uncommitted\n");
    let out = repo.run(&[]);
    assert_eq!(code(&out), 0, "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("NOT tested"),
        "{}",
        text(&out.stderr)
    );
    assert!(repo.ran().contains(&"lib-tests".to_owned()));
    assert_eq!(
        std::fs::read_to_string(repo.dir.join("lib/lib.rs")).expect("read"),
        "uncommitted\n",
        "the working copy is untouched"
    );
    assert!(
        !repo.git(&["status", "--porcelain"]).contains(".gate"),
        ".gate/ ignores itself"
    );
}

#[test]
fn missing_and_invalid_gate_files() {
    // The branch's broken gate file: the base's governs, but the branch would break the gate
    // for everyone once merged, so it fails with the branch file's line and column.
    let repo = Repo::new(GATE);
    repo.write(
        ".gate.yml",
        "stages: [test]\nchecks:\n  unit:\n    stage: tset\n    commands: [true]\n",
    );
    repo.commit("Broken gate");
    let out = repo.run(&[]);
    assert_eq!(code(&out), 1, "{}", text(&out.stderr));
    assert!(repo.report().contains("tset"), "{}", repo.report());
    assert!(
        repo.report()
            .contains(".gate.yml:4:12`: check `unit` uses unknown stage `tset`"),
        "{}",
        repo.report()
    );

    // `--gate-file` tries a file as an experiment, and the report says so.
    let good = repo.dir.join("good.yml");
    std::fs::write(&good, GATE).expect("write");
    let out = repo.run(&["--gate-file", "good.yml", "--keep-worktree"]);
    assert_eq!(code(&out), 0, "{}", text(&out.stderr));
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("gate file: good.yml (--gate-file: an experiment, not the base's)"),
        "{stderr}"
    );
    assert!(
        repo.report().contains("given with `--gate-file`"),
        "{}",
        repo.report()
    );
    let kept = stderr
        .lines()
        .find_map(|l| l.strip_prefix("gate: keeping the worktree at "))
        .expect("the kept worktree is named");
    assert!(Path::new(kept).join("good.yml").exists() || Path::new(kept).join("lib").exists());
    repo.git(&["worktree", "remove", "--force", kept]);
    std::fs::remove_dir_all(Path::new(kept).parent().expect("parent")).expect("remove");

    // No gate file on the base: nothing to judge by, whatever the branch has (exit 2).
    repo.git(&["checkout", "-q", "main"]);
    repo.git(&["rm", "-q", ".gate.yml"]);
    repo.commit("No gate on main");
    repo.git(&["checkout", "-q", "-b", "adopt"]);
    repo.write(".gate.yml", GATE);
    repo.commit("Adopt the gate");
    let out = repo.run(&[]);
    assert_eq!(code(&out), 2, "{}", text(&out.stderr));
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("no gate file: main has no .gate.yml")
            && stderr.contains("--gate-file .gate.yml"),
        "{stderr}"
    );
}

/// The base's gate file judges the branch (issue: a PR cannot weaken the gate that judges it).
/// The branch below breaks the api (its real check fails) and rewrites the gate file to hide
/// it every way a gate file can: the check made optional and `true`, everything ignored, the
/// author allowed to skip, a promotion rule dropped. The base's rules still apply; the check
/// the branch adds runs too; the report lists what the branch's file would change.
#[test]
fn a_branch_that_weakens_its_gate_file_still_fails_its_real_checks() {
    let base = GATE.replace(
        r#"commands: ['touch "$MARKER_DIR/api-tests"', 'echo "api sees $GATE_SOURCE_COMMIT $API_MODE"']"#,
        r#"commands: ['touch "$MARKER_DIR/api-tests"', 'test ! -e api/broken']"#,
    );
    let repo = Repo::new(&base);
    let weakened = r#"version: 1
stages: [build, test]
components:
  lib: {paths: [lib/]}
  api: {paths: [api/], depends_on: [lib]}
  web: {paths: [web/]}
checks:
  build: {stage: build, components: [lib, api, web], commands: ['touch "$MARKER_DIR/build"']}
  api-tests: {stage: test, components: [api], commands: ["true"], required: false}
  web-tests: {stage: test, components: [web], commands: ['touch "$MARKER_DIR/web-tests"'], required: false}
  added: {stage: test, commands: ['touch "$MARKER_DIR/added"']}
ignore: ["**"]
skip:
  checks: [web-tests, api-tests]
  authors: ["*"]
"#;
    repo.change(
        &[("api/broken", "yes\n"), (".gate.yml", weakened)],
        "Break the api and hide it",
    );
    let out = repo.run(&["--skip", "api-tests"]);
    assert_eq!(
        code(&out),
        1,
        "the base's api-tests fails: {}",
        text(&out.stderr)
    );
    // Every trusted check ran (the gate file changed), and the branch's new one too.
    assert_eq!(
        repo.ran(),
        names(&["added", "api-tests", "build", "lib-tests", "web-tests"])
    );
    let run = repo.last_run();
    let api = run
        .results
        .iter()
        .find(|r| r.name.as_str() == "api-tests")
        .expect("api-tests ran");
    assert_eq!(api.status, CheckStatus::Failed);
    assert!(
        run.plan
            .checks
            .iter()
            .find(|c| c.name.as_str() == "api-tests")
            .is_some_and(|c| c.required && c.run),
        "still required, not skippable"
    );
    let report = repo.report();
    for expected in [
        "**Gate file:** `.gate.yml` from `main`",
        "adds `added`: it runs now too",
        "removes `lib-tests`: it still runs until the change is merged",
        "changes `api-tests` (`commands`, `required`, `env`)",
        "changes `ignore`",
        "changes `skip`",
    ] {
        assert!(
            report.contains(expected),
            "missing {expected:?} in:\n{report}"
        );
    }
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("the branch's gate file adds added (run now)"),
        "{stderr}"
    );
}

/// A buildspec the base's gate file names is read from the base: the branch cannot rewrite
/// what a trusted check runs by editing the buildspec either.
#[test]
fn a_branch_cannot_rewrite_a_trusted_buildspec() {
    let base = GATE.replace(
        r#"commands: ['touch "$MARKER_DIR/lib-tests"']"#,
        "buildspec: ci/lib.yml",
    );
    let repo = Repo::new(&base);
    repo.git(&["checkout", "-q", "main"]);
    repo.write(
        "ci/lib.yml",
        "version: 0.2\nphases:\n  build:\n    commands:\n      - touch \"$MARKER_DIR/lib-tests\"\n      - test ! -e lib/broken\n",
    );
    repo.commit("The lib buildspec");
    repo.git(&["checkout", "-q", "feature"]);
    repo.git(&["merge", "-q", "main"]);
    repo.change(
        &[
            ("lib/broken", "yes\n"),
            (
                "ci/lib.yml",
                "version: 0.2\nphases:\n  build:\n    commands:\n      - echo fine\n",
            ),
        ],
        "Break lib, and the buildspec that would notice",
    );
    let out = repo.run(&[]);
    assert_eq!(code(&out), 1, "{}", text(&out.stderr));
    assert!(
        repo.ran().contains(&"lib-tests".to_owned()),
        "the base's buildspec ran"
    );
    assert!(
        text(&out.stderr).contains("the branch changes ci/lib.yml, so every check runs"),
        "{}",
        text(&out.stderr)
    );
}
#[test]
fn history_lists_the_runs_newest_first() {
    let repo = Repo::new(&GATE.replace(
        r#"commands: ['touch "$MARKER_DIR/lib-tests"']"#,
        r#"commands: ['test -e lib/ok']"#,
    ));
    repo.change(&[("lib/lib.rs", "1\n")], "Lib without ok");
    assert_eq!(code(&repo.run(&[])), 1);
    repo.change(&[("lib/ok", "\n")], "Lib with ok");
    assert_eq!(code(&repo.run(&[])), 0);
    let history = repo.history();
    assert_eq!(history.len(), 2);
    assert_eq!(history[0].verdict, HistoryVerdict::Passed);
    assert_eq!(history[1].verdict, HistoryVerdict::Failed);
    assert_eq!(history[0].head.reference, "HEAD");
    assert_eq!(history[0].base.reference, "main");
    assert_eq!(history[0].head.commit.len(), 40);
    let checks: Vec<(&str, CheckStatus, u32)> = history[1]
        .checks
        .iter()
        .map(|c| (c.name.as_str(), c.status, c.attempts))
        .collect();
    assert_eq!(
        checks,
        vec![
            ("build", CheckStatus::Passed, 1),
            ("lib-tests", CheckStatus::Failed, 1),
            ("api-tests", CheckStatus::Passed, 1)
        ]
    );
    let out = repo.gate(&["history", "--limit", "1"]);
    assert_eq!(code(&out), 0);
    let listing = text(&out.stdout);
    assert!(listing.contains(" passed "), "{listing}");
    assert!(!listing.contains(" failed "), "{listing}");
    assert!(listing.contains("HEAD"), "{listing}");
}

#[test]
fn ctrl_c_stops_every_check_removes_the_worktree_and_records_a_cancelled_run() {
    let repo = Repo::new(&GATE.replace(
        r#"commands: ['touch "$MARKER_DIR/api-tests"', 'echo "api sees $GATE_SOURCE_COMMIT $API_MODE"']"#,
        r#"commands: ['sleep 1002 & touch "$MARKER_DIR/started"; sleep 1002']"#,
    ));
    repo.change(&[("api/main.rs", "1\n")], "API");
    let child = Command::new(env!("CARGO_BIN_EXE_gate"))
        .arg("run")
        .current_dir(&repo.dir)
        .env("MARKER_DIR", &repo.markers)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("gate runs");
    let started = Instant::now();
    while !repo.markers.join("started").exists() {
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "the check never started"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id() as i32),
        nix::sys::signal::Signal::SIGINT,
    )
    .expect("signal");
    let out = child.wait_with_output().expect("gate ends");
    assert_eq!(code(&out), 130, "{}", text(&out.stderr));
    assert!(!process_running("sleep 1002"), "a check survived Ctrl-C");
    assert_eq!(repo.git(&["worktree", "list"]).lines().count(), 1);
    let history = repo.history();
    assert_eq!(history[0].verdict, HistoryVerdict::Cancelled);
    assert!(
        text(&out.stdout).starts_with("Gate cancelled"),
        "{}",
        text(&out.stdout)
    );
}

fn event(repo: &Repo, args: &[&str]) -> serde_json::Value {
    let mut all = vec!["event"];
    all.extend_from_slice(args);
    let out = repo.gate(&all);
    assert_eq!(code(&out), 0, "{}", text(&out.stderr));
    let text = text(&out.stdout);
    let parsed = event::parse(&text).expect("the event parses");
    let mut value: serde_json::Value = serde_json::from_str(&text).expect("json");
    value["parsed_action"] = serde_json::Value::from(parsed.action());
    value
}

fn is_hex(s: &str, len: usize) -> bool {
    s.len() == len && s.chars().all(|c| c.is_ascii_hexdigit())
}

#[test]
fn gate_event_prints_real_shaped_events_that_parse() {
    let repo = Repo::new(GATE);
    let head = repo.change(&[("api/main.rs", "1\n")], "API change");
    let created = event(
        &repo,
        &["created", "--source", "feature", "--destination", "main"],
    );
    assert_eq!(created["parsed_action"], "gate");
    assert_eq!(
        created["detail-type"],
        "CodeCommit Pull Request State Change"
    );
    assert_eq!(created["source"], "aws.codecommit");
    let d = &created["detail"];
    assert_eq!(d["event"], "pullRequestCreated");
    assert_eq!(d["repositoryNames"], serde_json::json!(["shop"]));
    assert_eq!(d["isMerged"], "False");
    assert_eq!(d["pullRequestStatus"], "Open");
    assert_eq!(d["sourceCommit"], head.as_str());
    assert_eq!(d["sourceReference"], "refs/heads/feature");
    assert_eq!(d["destinationReference"], "refs/heads/main");
    assert_eq!(d["title"], "API change");
    assert!(is_hex(d["revisionId"].as_str().expect("revision"), 64));
    assert!(is_hex(d["destinationCommit"].as_str().expect("commit"), 40));
    let pr = d["pullRequestId"].as_str().expect("id").to_owned();
    assert_eq!(pr, "1");

    // The same commits give the same revision; a push gives a new one.
    let again = event(&repo, &["updated"]);
    assert_eq!(again["parsed_action"], "gate");
    assert_eq!(again["detail"]["pullRequestId"], pr.as_str());
    assert_eq!(again["detail"]["revisionId"], d["revisionId"]);
    repo.change(&[("api/main.rs", "2\n")], "Push");
    let updated = event(&repo, &["updated"]);
    assert_eq!(updated["detail"]["event"], "pullRequestSourceBranchUpdated");
    assert_ne!(updated["detail"]["revisionId"], d["revisionId"]);

    let comment = event(&repo, &["comment", "--text", "/gate retry"]);
    assert_eq!(comment["parsed_action"], "command");
    assert_eq!(comment["detail-type"], "CodeCommit Comment on Pull Request");
    let cd = &comment["detail"];
    assert_eq!(cd["repositoryName"], "shop");
    assert!(cd.get("repositoryNames").is_none());
    assert_eq!(cd["event"], "commentOnPullRequestCreated");
    assert_eq!(cd["pullRequestId"], pr.as_str());
    let comment_id = cd["commentId"].as_str().expect("comment id").to_owned();
    // The comment's text is served by the local PullRequests adapter.
    let prs = LocalPullRequests::new(repo.dir.parent().expect("parent"), "gate");
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let stored = rt
        .block_on(prs.comment(&CommentId::new(comment_id)))
        .expect("read")
        .expect("exists");
    assert_eq!(stored.content, "/gate retry");
    assert!(stored.author_arn.starts_with("local:"));

    let merged = event(&repo, &["merged"]);
    assert_eq!(merged["parsed_action"], "cleanup");
    assert_eq!(merged["detail"]["isMerged"], "True");
    assert_eq!(merged["detail"]["pullRequestStatus"], "Closed");
    assert_eq!(merged["detail"]["event"], "pullRequestMergeStatusUpdated");

    let other = event(&repo, &["created", "--title", "Second"]);
    assert_eq!(other["detail"]["pullRequestId"], "2");
    let closed = event(&repo, &["closed", "--pr-id", "2"]);
    assert_eq!(closed["parsed_action"], "cleanup");
    assert_eq!(closed["detail"]["isMerged"], "False");
    assert_eq!(closed["detail"]["pullRequestStatus"], "Closed");
    assert_eq!(closed["detail"]["event"], "pullRequestStatusChanged");
    match event::parse(&closed.to_string()).expect("parses") {
        Event::Cleanup { pull_request, .. } => assert_eq!(pull_request.title, "Second"),
        other => panic!("{other:?}"),
    }
}

const APPROVER: &str = "arn:aws:sts::123456789012:assumed-role/GateReporter/codecommit-gate";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replay_gate_start_on_the_local_adapters() {
    let repo = Repo::build(|markers| GATE.replace("$MARKER_DIR", &markers.to_string_lossy()));
    repo.change(&[("lib/lib.rs", "2\n")], "Change lib");
    let out = repo.gate(&[
        "event",
        "created",
        "--source",
        "feature",
        "--destination",
        "main",
    ]);
    assert_eq!(code(&out), 0, "{}", text(&out.stderr));
    let parsed = event::parse(&text(&out.stdout)).expect("parses");
    let repos = repo.dir.parent().expect("parent").to_path_buf();
    let deps: codecommit_gate::lambda::LocalDeps = Deps {
        prs: LocalPullRequests::new(&repos, APPROVER),
        executions: LocalExecutions::new(&repos, 2),
        ledger: LocalLedger::new(&repos),
        notifier: LocalNotifier::keeping(),
        bus: codecommit_gate::local::LocalBus::new(&repos),
        settings: Settings::local(APPROVER),
    };
    let outcome = codecommit_gate::flows::gate_start::handle(&deps, parsed)
        .await
        .expect("gate-start succeeds");
    let json = serde_json::to_value(&outcome).expect("json");
    assert_eq!(json["outcome"], "started", "{json}");
    let arn = json["execution_arn"].as_str().expect("arn").to_owned();

    // The execution ran the planned checks on the merge, in-process.
    let results = deps
        .executions
        .results(&arn)
        .expect("read")
        .expect("finished");
    let ran: Vec<(&str, CheckStatus)> = results
        .iter()
        .map(|r| (r.name.as_str(), r.status))
        .collect();
    assert_eq!(
        ran,
        vec![
            ("build", CheckStatus::Passed),
            ("lib-tests", CheckStatus::Passed),
            ("api-tests", CheckStatus::Passed)
        ],
        "{results:?}"
    );
    assert_eq!(repo.ran(), names(&["api-tests", "build", "lib-tests"]));
    assert!(
        deps.executions
            .finished_event(&arn)
            .expect("read")
            .is_some()
    );
    assert!(deps.executions.input(&arn).await.expect("read").is_some());

    // The sticky comment, by the gate, on the PR; the ledger claims the run.
    let pr = PullRequestId::from("1");
    let shop = RepositoryName::from("shop");
    let comments = deps.prs.comments(&shop, &pr).expect("comments");
    assert_eq!(comments.len(), 1, "{comments:?}");
    assert_eq!(comments[0].author_arn, APPROVER);
    assert!(
        comments[0].content.contains("Gate running"),
        "{}",
        comments[0].content
    );
    let record = deps
        .ledger
        .get(&shop, &pr)
        .await
        .expect("get")
        .expect("record");
    assert!(record.version >= 1);
    assert_eq!(
        record.run.as_ref().and_then(|r| r.execution_arn.as_deref()),
        Some(arn.as_str())
    );
    let state = deps.prs.pull_request(&pr).await.expect("pr");
    let names: Vec<&str> = state
        .approval_rules
        .iter()
        .map(|r| r.name.as_str())
        .collect();
    assert_eq!(names, ["codecommit-gate"]);

    // A redelivered event is a no-op.
    let again = event::parse(&text(&out.stdout)).expect("parses");
    let outcome = codecommit_gate::flows::gate_start::handle(&deps, again)
        .await
        .expect("gate-start succeeds");
    let json = serde_json::to_value(&outcome).expect("json");
    assert_eq!(json["outcome"], "duplicate", "{json}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_local_ledger_lets_exactly_one_writer_win() {
    let repo = Repo::new(GATE);
    let repos = repo.dir.parent().expect("parent").to_path_buf();
    let ledger = LocalLedger::new(&repos);
    let record = codecommit_gate::ports::PrRecord::new(
        RepositoryName::from("shop"),
        PullRequestId::from("7"),
    );
    let mut tasks = Vec::new();
    for _ in 0..8 {
        let (ledger, record) = (ledger.clone(), record.clone());
        tasks.push(tokio::spawn(async move { ledger.put(&record).await }));
    }
    let mut wins = 0;
    for t in tasks {
        if t.await.expect("join").expect("put") == codecommit_gate::ports::Written::Written {
            wins += 1;
        }
    }
    assert_eq!(wins, 1);
    let stored = ledger
        .get(&RepositoryName::from("shop"), &PullRequestId::from("7"))
        .await
        .expect("get")
        .expect("record");
    assert_eq!(stored.version, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_local_ledger_keeps_coverage_bases_per_branch_with_one_writer_winning() {
    use codecommit_gate::test_reports::{CoverageBases, LineCoverage, RecordedCoverage};
    let repo = Repo::new(GATE);
    let repos = repo.dir.parent().expect("parent").to_path_buf();
    let ledger = LocalLedger::new(&repos);
    let shop = RepositoryName::from("shop");
    let mut bases = CoverageBases::empty("refs/heads/main");
    bases.record(&[(
        "unit".into(),
        RecordedCoverage {
            line: LineCoverage {
                covered: 3,
                valid: 4,
            },
            execution: "run-1".into(),
            commit: "c1".into(),
            started_ms: 1,
        },
    )]);
    let mut tasks = Vec::new();
    for _ in 0..4 {
        let (ledger, shop, bases) = (ledger.clone(), shop.clone(), bases.clone());
        tasks.push(tokio::spawn(async move {
            ledger.put_coverage_bases(&shop, &bases).await
        }));
    }
    let mut wins = 0;
    for t in tasks {
        if t.await.expect("join").expect("put") == codecommit_gate::ports::Written::Written {
            wins += 1;
        }
    }
    assert_eq!(wins, 1);
    let stored = ledger.coverage_bases(&shop, "main").await.expect("read");
    assert_eq!(
        (stored.version, stored.base("unit")),
        (1, bases.base("unit"))
    );
    let other = ledger.coverage_bases(&shop, "develop").await.expect("read");
    assert_eq!(
        other,
        CoverageBases::empty("develop"),
        "another branch has none"
    );
}

/// The overhead of `gate run` over the slowest path through the checks. Stages
/// [a: sleep 1 ∥ sleep 2] then [b: sleep 1] take 3 s at best; prints the median overhead of
/// five runs. `cargo test --test local_run -- --ignored --nocapture run_overhead`
#[test]
#[ignore]
fn run_overhead() {
    let gate = "stages: [a, b]\nchecks:\n  one: {stage: a, commands: ['sleep 1']}\n  two: {stage: a, commands: ['sleep 2']}\n  three: {stage: b, commands: ['sleep 1']}\n";
    let repo = Repo::new(gate);
    repo.change(&[("x.txt", "x\n")], "Anything");
    let mut overheads: Vec<f64> = (0..5)
        .map(|_| {
            let started = Instant::now();
            let out = repo.run(&["--jobs", "2"]);
            assert_eq!(code(&out), 0, "{}", text(&out.stderr));
            started.elapsed().as_secs_f64() - 3.0
        })
        .collect();
    overheads.sort_by(f64::total_cmp);
    println!(
        "gate run overhead over the ideal 3 s: median {:.0} ms (min {:.0} ms, max {:.0} ms)",
        overheads[2] * 1000.0,
        overheads[0] * 1000.0,
        overheads[4] * 1000.0
    );
}

#[test]
fn check_env_and_pr_facts_reach_the_shell_as_data_never_as_code() {
    let repo = Repo::build(|markers| {
        GATE.replace("$MARKER_DIR", &markers.to_string_lossy()).replace(
            "    env: {API_MODE: strict}",
            &format!(
                "    env: {{API_MODE: '$(touch {m}/pwned) `touch {m}/pwned2` ; touch {m}/pwned3'}}",
                m = markers.to_string_lossy()
            ),
        )
    });
    repo.change(&[("api/main.rs", "2\n")], "Change api");
    let out = repo.run(&[]);
    assert_eq!(code(&out), 0, "{}", text(&out.stderr));
    let ran = repo.ran();
    assert!(ran.contains(&"api-tests".to_owned()), "{ran:?}");
    for pwned in ["pwned", "pwned2", "pwned3"] {
        assert!(
            !ran.contains(&pwned.to_owned()),
            "{pwned}: an env value was executed"
        );
    }
}

/// The offline replay of issue "local gate": the gate-start Lambda handler with the local
/// backend runs the gate in-process, and gate-report's flow leaves the comment, the approval
/// and a history entry in the repository's `.gate/`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_lambda_handler_on_the_local_backend_runs_reports_and_records_the_gate() {
    let repo = Repo::build(|markers| GATE.replace("$MARKER_DIR", &markers.to_string_lossy()));
    repo.change(&[("api/main.rs", "2\n")], "Change api");
    let out = repo.gate(&[
        "event",
        "created",
        "--source",
        "feature",
        "--destination",
        "main",
    ]);
    assert_eq!(code(&out), 0, "{}", text(&out.stderr));
    let payload: serde_json::Value = serde_json::from_slice(&out.stdout).expect("event JSON");
    let repos = repo.dir.parent().expect("parent").to_path_buf();
    let deps: codecommit_gate::lambda::LocalDeps = Deps {
        prs: LocalPullRequests::new(&repos, APPROVER),
        executions: LocalExecutions::new(&repos, 2),
        ledger: LocalLedger::new(&repos),
        notifier: LocalNotifier::keeping(),
        bus: codecommit_gate::local::LocalBus::new(&repos),
        settings: Settings::local(APPROVER),
    };
    let result = codecommit_gate::lambda::local_start_handler(&deps, payload)
        .await
        .expect("handled");
    assert_eq!(result["start"]["outcome"], "started", "{result}");
    assert_eq!(result["report"]["outcome"], "reported", "{result}");
    assert_eq!(result["report"]["approval"], "approved", "{result}");

    let pr = PullRequestId::from("1");
    let shop = RepositoryName::from("shop");
    let comments = deps.prs.comments(&shop, &pr).expect("comments");
    assert_eq!(comments.len(), 1, "one sticky comment");
    assert!(
        comments[0].content.contains("Gate passed"),
        "{}",
        comments[0].content
    );
    let state = deps.prs.pull_request(&pr).await.expect("pr");
    let stored: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(repo.dir.join(".gate/prs/1.json")).expect("the local PR"),
    )
    .expect("JSON");
    let approvals = stored["approvals"].as_array().expect("approvals");
    assert!(
        approvals
            .iter()
            .any(|a| a["revision_id"] == state.revision_id.as_str()
                && a["state"] == "APPROVE"
                && a["by"] == APPROVER),
        "the gate approved exactly the tested revision: {stored}"
    );
    let history = repo.gate(&["history", "--format", "json"]);
    assert_eq!(code(&history), 0, "{}", text(&history.stderr));
    let entries: serde_json::Value = serde_json::from_slice(&history.stdout).expect("history JSON");
    assert_eq!(entries[0]["verdict"], "passed", "{entries}");
    assert!(
        entries[0]["checks"]
            .as_array()
            .is_some_and(|c| c.iter().any(|c| c["name"] == "api-tests")),
        "{entries}"
    );
}
