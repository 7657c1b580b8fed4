//! The `gate` command line, run as a user would: real files, real git repositories, exit codes.

use std::io::Write;
use std::path::Path;
use std::process::{Command, Output, Stdio};

fn gate(args: &[&str], stdin: Option<&str>, dir: Option<&Path>) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_gate"));
    cmd.args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    if let Some(dir) = dir {
        cmd.current_dir(dir);
    }
    let mut child = cmd.spawn().expect("gate runs");
    let mut input = child.stdin.take().expect("stdin");
    if let Some(text) = stdin {
        input.write_all(text.as_bytes()).expect("write stdin");
    }
    drop(input);
    child.wait_with_output().expect("gate finishes")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn code(out: &Output) -> i32 {
    out.status.code().expect("exit code")
}

#[test]
fn validate_accepts_the_example_and_the_project_gate() {
    for file in ["gate.example.yml", ".gate.yml"] {
        let out = gate(&["validate", file], None, None);
        assert_eq!(code(&out), 0, "{}", text(&out.stderr));
        assert!(
            text(&out.stdout).starts_with(&format!("{file}: ok: ")),
            "{}",
            text(&out.stdout)
        );
    }
}

#[test]
fn validate_prints_file_line_column_and_exits_1() {
    let tmp = tempdir();
    let dir = tmp.path();
    let file = dir.join("broken.yml");
    std::fs::write(
        &file,
        "stages: [test]\nchecks:\n  unit:\n    stage: tset\n    commands: [make]\n",
    )
    .expect("write");
    let out = gate(&["validate", file.to_str().expect("utf-8")], None, None);
    assert_eq!(code(&out), 1);
    let err = text(&out.stderr);
    assert!(
        err.contains("broken.yml:4:12: check `unit` uses unknown stage `tset`"),
        "{err}"
    );
    assert!(err.contains("hint: did you mean `test`?"), "{err}");
}

#[test]
fn validate_notes_dependency_cycles() {
    let tmp = tempdir();
    let dir = tmp.path();
    let file = dir.join("cycle.yml");
    std::fs::write(
        &file,
        "stages: [t]\ncomponents:\n  a: {paths: [a/], depends_on: [b]}\n  b: {paths: [b/], depends_on: [a]}\nchecks:\n  x: {stage: t, commands: [true]}\n",
    )
    .expect("write");
    let out = gate(&["validate", file.to_str().expect("utf-8")], None, None);
    assert_eq!(code(&out), 0);
    assert!(
        text(&out.stdout).contains("note: components a, b depend on each other"),
        "{}",
        text(&out.stdout)
    );
}

#[test]
fn io_and_usage_errors_exit_2() {
    let out = gate(&["validate", "no/such/file.yml"], None, None);
    assert_eq!(code(&out), 2);
    assert!(text(&out.stderr).contains("cannot read gate file no/such/file.yml"));
    assert_eq!(code(&gate(&["frobnicate"], None, None)), 2);
    assert_eq!(code(&gate(&["plan", "--format", "yaml"], None, None)), 2);
    assert_eq!(code(&gate(&["--help"], None, None)), 0);
}

#[test]
fn schema_prints_the_committed_schema() {
    let out = gate(&["schema"], None, None);
    assert_eq!(code(&out), 0);
    assert_eq!(
        text(&out.stdout),
        std::fs::read_to_string("gate.schema.json").expect("schema")
    );
}

#[test]
fn inspect_says_what_the_lambdas_would_do() {
    let expectations = [
        ("events/pr-created.json", "gate"),
        ("events/pr-source-updated.json", "gate"),
        ("events/pr-closed.json", "cleanup"),
        ("events/pr-merged.json", "cleanup"),
        ("events/pr-comment.json", "command"),
        ("events/run-succeeded.json", "run-finished"),
        ("events/run-failed.json", "run-finished"),
        ("events/scheduled-sweep.json", "sweep"),
        (
            "tests/data/events/codecommit-pr-approval-state-changed-approve.json",
            "ignore",
        ),
    ];
    for (file, action) in expectations {
        let out = gate(&["inspect", file], None, None);
        assert_eq!(code(&out), 0, "{file}: {}", text(&out.stderr));
        let json: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
        assert_eq!(json["action"], action, "{file}");
        if action == "ignore" {
            assert!(json["reason"].as_str().is_some_and(|r| !r.is_empty()));
        }
    }
    let out = gate(
        &["inspect", "-"],
        Some(
            "{\"detail-type\": \"CodeCommit Pull Request State Change\", \"detail\": {\"event\": \"pullRequestCreated\"}}",
        ),
        None,
    );
    assert_eq!(code(&out), 1);
    assert!(
        text(&out.stderr).contains("detail."),
        "names the missing field: {}",
        text(&out.stderr)
    );
    assert_eq!(code(&gate(&["inspect", "-"], Some("not json"), None)), 1);
}

#[test]
fn plan_reads_paths_from_stdin_and_prints_the_json_shape() {
    let out = gate(
        &[
            "plan",
            "--gate-file",
            "gate.example.yml",
            "--paths-from",
            "-",
            "--format",
            "json",
        ],
        Some("libs/core/src/lib.rs\nREADME.md\n"),
        None,
    );
    assert_eq!(code(&out), 0, "{}", text(&out.stderr));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert_eq!(json["verdict"], "run");
    let checks = json["checks"].as_array().expect("checks");
    let core = checks
        .iter()
        .find(|c| c["name"] == "core-tests")
        .expect("core-tests");
    assert_eq!(core["run"], true);
    assert_eq!(core["stage"], "test");
    assert!(
        core["reasons"][0]
            .as_str()
            .is_some_and(|r| r.contains("core")),
        "{core}"
    );
    let infra = json["components"]
        .as_array()
        .expect("components")
        .iter()
        .find(|c| c["name"] == "infra")
        .expect("infra");
    assert_eq!(infra["affected"], false);
}

#[test]
fn plan_exits_1_on_a_promotion_violation() {
    let out = gate(
        &[
            "plan",
            "--gate-file",
            "gate.example.yml",
            "--paths-from",
            "-",
            "--source-branch",
            "feature/x",
            "--destination-branch",
            "production",
        ],
        Some("web/app.ts\n"),
        None,
    );
    assert_eq!(code(&out), 1);
}

#[test]
fn plan_on_a_git_repository_uses_the_merge_base() {
    let tmp = tempdir();
    let dir = tmp.path();
    let git = |args: &[&str]| {
        let out = Command::new("git")
            .arg("-C")
            .arg(dir)
            .args(args)
            .env("GIT_AUTHOR_NAME", "t")
            .env("GIT_AUTHOR_EMAIL", "t@example.com")
            .env("GIT_COMMITTER_NAME", "t")
            .env("GIT_COMMITTER_EMAIL", "t@example.com")
            .output()
            .expect("git");
        assert!(out.status.success(), "git {args:?}: {}", text(&out.stderr));
    };
    git(&["init", "-q", "-b", "main"]);
    std::fs::write(dir.join(".gate.yml"), "stages: [test]\ncomponents:\n  a: {paths: [a/]}\n  b: {paths: [b/], depends_on: [a]}\nchecks:\n  ta: {stage: test, components: [a], commands: [\"true\"]}\n  tb: {stage: test, components: [b], commands: [\"true\"]}\npromotion:\n  main: [\"feature/*\"]\n").expect("write");
    std::fs::create_dir_all(dir.join("a")).expect("mkdir");
    std::fs::create_dir_all(dir.join("b")).expect("mkdir");
    std::fs::write(dir.join("a/x.txt"), "1").expect("write");
    std::fs::write(dir.join("b/y.txt"), "1").expect("write");
    git(&["add", "."]);
    git(&["commit", "-q", "-m", "init"]);
    git(&["checkout", "-q", "-b", "feature/b-only"]);
    std::fs::write(dir.join("b/y.txt"), "2").expect("write");
    git(&["commit", "-qam", "touch b"]);
    // main moves on after the branch: its changes must not count.
    git(&["checkout", "-q", "main"]);
    std::fs::write(dir.join("a/x.txt"), "2").expect("write");
    git(&["commit", "-qam", "touch a on main"]);
    git(&["checkout", "-q", "feature/b-only"]);

    let out = gate(
        &["plan", "--base", "main", "--format", "json"],
        None,
        Some(dir),
    );
    assert_eq!(code(&out), 0, "{}", text(&out.stderr));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    let run: Vec<&str> = json["checks"]
        .as_array()
        .expect("checks")
        .iter()
        .filter(|c| c["run"] == true)
        .filter_map(|c| c["name"].as_str())
        .collect();
    assert_eq!(run, ["tb"], "only b changed since the merge base");
    assert_eq!(json["changed_paths"], 1);

    let out = gate(
        &[
            "plan",
            "--base",
            "main",
            "--head",
            "main",
            "--source-branch",
            "feature/same",
            "--format",
            "json",
        ],
        None,
        Some(dir),
    );
    assert_eq!(code(&out), 0, "{}", text(&out.stderr));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert_eq!(
        (json["changed_paths"].as_u64(), json["verdict"].as_str()),
        (Some(0), Some("pass"))
    );

    git(&["checkout", "-q", "-b", "hotfix"]);
    let out = gate(&["plan", "--base", "main"], None, Some(dir));
    assert_eq!(code(&out), 1, "hotfix → main breaks the promotion rule");

    let out = gate(&["plan", "--base", "no-such-branch"], None, Some(dir));
    assert_eq!(code(&out), 2);
    assert!(
        text(&out.stderr).contains("unknown revision `no-such-branch`"),
        "{}",
        text(&out.stderr)
    );
}

fn tempdir() -> tempfile::TempDir {
    tempfile::tempdir().expect("temp dir")
}
