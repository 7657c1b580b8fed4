//! Test and coverage reports end to end with the real `gate run`: a check that writes a JUnit
//! file and a Cobertura report into its worktree; the comment's counts, failed tests and
//! coverage delta against the destination's last passed run; `min_line` failing a check whose
//! commands passed; unreadable reports as notes that change no verdict; `gate history` keeping
//! the counts and the coverage.

use codecommit_gate::local::history::{Entry, HistoryVerdict};
use codecommit_gate::local::session::RunFile;
use codecommit_gate::policy::CheckStatus;
use codecommit_gate::test_reports::{LineCoverage, TestCounts};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use crate::scratch;
use scratch::{code, text};

/// One check that copies the repository's `ci/junit.xml` and `ci/coverage.xml` where the gate
/// file says its reports are, and declares a JUnit glob that matches nothing.
const GATE: &str = r#"version: 1
stages: [test]
checks:
  unit:
    stage: test
    commands:
      - mkdir -p out/junit && cp ci/junit.xml out/junit/unit.xml && cp ci/coverage.xml coverage.xml
    reports:
      junit: ['out/junit/*.xml', 'out/none-*.xml']
      coverage: {format: cobertura, path: coverage.xml, min_line: 80}
"#;

/// A JUnit report of two passing tests.
const PASSING: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<testsuites><testsuite name="unit" tests="2">
<testcase classname="calc" name="test_add"/><testcase classname="calc" name="test_sub"/>
</testsuite></testsuites>
"#;

fn fixture(path: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/reports")
        .join(path);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

struct Repo {
    _tmp: tempfile::TempDir,
    dir: PathBuf,
}

impl Repo {
    /// `main` with the gate file and a passing run's reports (coverage.py's real report: 38 of
    /// 41 lines), and a `feature` branch checked out.
    fn new() -> Repo {
        let tmp = tempfile::tempdir().expect("tempdir");
        let dir = tmp.path().join("shop");
        std::fs::create_dir_all(&dir).expect("mkdir");
        let repo = Repo { _tmp: tmp, dir };
        scratch::git(&repo.dir, &["init", "-q", "-b", "main"]);
        scratch::write(&repo.dir, ".gate.yml", GATE);
        scratch::write(&repo.dir, "ci/junit.xml", PASSING);
        scratch::write(
            &repo.dir,
            "ci/coverage.xml",
            &fixture("coverage-py/cobertura.xml"),
        );
        scratch::write(
            &repo.dir,
            "src/calc.py",
            "def add(a, b):\n    return a + b\n",
        );
        scratch::commit(&repo.dir, "Initial commit");
        scratch::git(&repo.dir, &["checkout", "-q", "-b", "feature"]);
        repo
    }

    fn gate(&self, args: &[&str]) -> Output {
        Command::new(env!("CARGO_BIN_EXE_gate"))
            .args(args)
            .current_dir(&self.dir)
            .env_remove("CI")
            .stdin(Stdio::null())
            .output()
            .expect("gate runs")
    }

    fn change(&self, files: &[(&str, &str)], message: &str) {
        for (path, content) in files {
            scratch::write(&self.dir, path, content);
        }
        scratch::commit(&self.dir, message);
    }

    /// `gate run`, which must exit with `expected`.
    fn run(&self, expected: i32) {
        let out = self.gate(&["run"]);
        assert_eq!(
            code(&out),
            expected,
            "{}\n{}",
            text(&out.stdout),
            text(&out.stderr)
        );
    }

    fn report(&self) -> String {
        std::fs::read_to_string(self.dir.join(".gate/last-report.md")).expect("report")
    }

    fn history(&self) -> Vec<Entry> {
        let out = self.gate(&["history", "--format", "json"]);
        assert_eq!(code(&out), 0, "{}", text(&out.stderr));
        serde_json::from_slice(&out.stdout).expect("history json")
    }

    fn last_run(&self) -> RunFile {
        let id = self.history().first().expect("a run").id.clone();
        let path = self.dir.join(".gate/logs").join(id).join("run.json");
        serde_json::from_str(&std::fs::read_to_string(path).expect("run.json")).expect("parses")
    }
}

#[test]
fn reports_reach_the_comment_the_history_and_the_verdict() {
    let repo = Repo::new();
    repo.change(
        &[("src/calc.py", "def add(a, b):\n    return b + a\n")],
        "Swap",
    );

    // First run: the tests pass, coverage 92.6 % is over 80 %, one glob matches nothing.
    repo.run(0);
    let report = repo.report();
    assert!(
        report.contains("- `unit`: 2 passed, 0 failed · line coverage 92.6 %\n"),
        "no base yet, so no delta:\n{report}"
    );
    assert!(
        report.contains("could not read `out/none-*.xml`: no file matches it"),
        "{report}"
    );

    // Second run: pytest's real report (2 failed, 1 error) and 70 of 100 lines: the command
    // passes, the coverage fails the check.
    repo.change(
        &[
            ("ci/junit.xml", &fixture("pytest/junit.xml")),
            (
                "ci/coverage.xml",
                "<coverage lines-valid=\"100\" lines-covered=\"70\"/>\n",
            ),
        ],
        "Fewer tests",
    );
    repo.run(1);
    let report = repo.report();
    assert!(report.starts_with("## ❌ Gate failed"), "{report}");
    assert!(
        report.contains(
            "- `unit`: 6 passed, 2 failed, 1 errored, 2 skipped · line coverage 70.0 % (\u{2212}22.7) \
             ❌ under the check's `min_line` of 80 %, so the check failed"
        ),
        "the delta is against the first (passed) run onto main:\n{report}"
    );
    assert!(
        report.contains("❌ `unit` › `test_calc.test_add_wrong` failed:\n\n```\nAssertionError: two and two make four"),
        "{report}"
    );
    assert!(
        report.contains("`test_calc.test_uses_broken_fixture` errored"),
        "{report}"
    );
    let run = repo.last_run();
    let unit = &run.results[0];
    assert_eq!(unit.status, CheckStatus::Failed);
    let tail = unit.log_tail.as_deref().expect("a failed check has a tail");
    assert!(
        tail.contains("[gate] line coverage 70.0 % is under the check's min_line of 80 %"),
        "{tail}"
    );

    // The history keeps the counts and the coverage of both runs.
    let history = repo.history();
    assert_eq!(history[0].verdict, HistoryVerdict::Failed);
    assert_eq!(history[1].verdict, HistoryVerdict::Passed);
    let kept: Vec<(Option<TestCounts>, Option<LineCoverage>)> = history
        .iter()
        .map(|e| (e.checks[0].tests, e.checks[0].line_coverage))
        .collect();
    let counts = |passed, failed, errored, skipped| TestCounts {
        passed,
        failed,
        errored,
        skipped,
    };
    let lines = |covered, valid| LineCoverage { covered, valid };
    assert_eq!(
        kept,
        vec![
            (Some(counts(6, 2, 1, 2)), Some(lines(70, 100))),
            (Some(counts(2, 0, 0, 0)), Some(lines(38, 41))),
        ]
    );
    let listing = text(&repo.gate(&["history"]).stdout);
    assert!(
        listing.contains("unit failed") && listing.contains("[6 passed, 3 failed] [lines 70.0 %]"),
        "{listing}"
    );
}

#[test]
fn unreadable_and_hostile_reports_leave_the_result_as_it_was() {
    let repo = Repo::new();
    let laughs = "<?xml version=\"1.0\"?>\n<!DOCTYPE lolz [<!ENTITY lol \"lol\">\
        <!ENTITY lol2 \"&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;\">]>\n\
        <testsuite><testcase name=\"&lol2;\"><failure message=\"&lol2;\"/></testcase></testsuite>\n";
    repo.change(
        &[
            ("ci/junit.xml", laughs),
            ("ci/coverage.xml", "<coverage><unclosed></coverage>\n"),
        ],
        "Hostile reports",
    );
    let out = repo.gate(&["run"]);
    assert_eq!(
        code(&out),
        0,
        "a report that cannot be read changes no verdict:\n{}",
        text(&out.stderr)
    );
    let report = repo.report();
    assert!(report.starts_with("## ✅ Gate passed"), "{report}");
    assert!(
        report.contains("- `unit`: 0 passed, 1 failed\n"),
        "the entity is kept as written, never expanded:\n{report}"
    );
    assert!(report.contains("`&lol2;` failed"), "{report}");
    assert!(
        report.contains("could not read `coverage.xml`: not well\\-formed XML"),
        "{report}"
    );
}
