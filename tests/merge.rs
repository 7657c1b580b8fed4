//! `gate merge` end to end on temporary git repositories: the base advances only to a commit whose tree the gate tested (fast-forward, merge commit, squash), never when the gate fails or the branches conflict, and never over a base that moved while the gate ran.
//!
//! Every test also checks the base's reflog: each value `main` ever took is a commit the test
//! made itself or one whose tree is a tree the gate tested.

use codecommit_gate::local::history::{Entry, HistoryVerdict};
use codecommit_gate::local::merge::MergeStrategy;
use std::collections::BTreeSet;
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use crate::scratch;
use scratch::{code, text};

/// One check on `app/`, which fails when `app/FAIL` exists; `{extra}` is more of its commands.
fn gate_file(extra: &str) -> String {
    format!(
        r#"version: 1
stages: [test]
components:
  app: {{paths: [app/]}}
checks:
  app-tests:
    stage: test
    components: [app]
    commands: ['test ! -e app/FAIL'{extra}]
"#
    )
}

struct Repo {
    _tmp: tempfile::TempDir,
    dir: PathBuf,
    markers: PathBuf,
    /// Commits the test made on `main` (the base may point at these untested).
    own: BTreeSet<String>,
}

impl Repo {
    /// `shop`: the gate file and `app/main.txt` on `main`, a `feature` branch checked out.
    fn new(extra_commands: &str) -> Repo {
        let tmp = tempfile::tempdir().expect("tempdir");
        let dir = tmp.path().join("shop");
        let markers = tmp.path().join("markers");
        std::fs::create_dir_all(&dir).expect("mkdir");
        std::fs::create_dir_all(&markers).expect("mkdir");
        let mut repo = Repo {
            _tmp: tmp,
            dir,
            markers,
            own: BTreeSet::new(),
        };
        repo.git(&["init", "-q", "-b", "main"]);
        repo.git(&["config", "core.logAllRefUpdates", "true"]);
        scratch::write(&repo.dir, ".gate.yml", &gate_file(extra_commands));
        scratch::write(&repo.dir, "app/main.txt", "one\ntwo\nthree\n");
        let first = scratch::commit(&repo.dir, "Initial commit");
        repo.own.insert(first);
        repo.git(&["checkout", "-q", "-b", "feature"]);
        repo
    }

    fn git(&self, args: &[&str]) -> String {
        scratch::git(&self.dir, args)
    }

    /// Commits files on the checked-out branch.
    fn change(&self, files: &[(&str, &str)], message: &str) -> String {
        for (path, content) in files {
            scratch::write(&self.dir, path, content);
        }
        scratch::commit(&self.dir, message)
    }

    /// Commits files on `main` while `feature` stays checked out (someone else's push).
    fn push_to_main(&mut self, files: &[(&str, &str)], message: &str) -> String {
        self.git(&["checkout", "-q", "main"]);
        let commit = self.change(files, message);
        self.git(&["checkout", "-q", "feature"]);
        self.own.insert(commit.clone());
        commit
    }

    fn main(&self) -> String {
        self.git(&["rev-parse", "main"])
    }

    fn tree(&self, commit: &str) -> String {
        self.git(&["rev-parse", &format!("{commit}^{{tree}}")])
    }

    /// The commit's parents.
    fn parents(&self, commit: &str) -> Vec<String> {
        let line = self.git(&["rev-list", "--parents", "-n", "1", commit]);
        line.split_whitespace().skip(1).map(str::to_owned).collect()
    }

    fn gate(&self, args: &[&str]) -> Output {
        Command::new(env!("CARGO_BIN_EXE_gate"))
            .args(args)
            .current_dir(&self.dir)
            .env("MARKER_DIR", &self.markers)
            .env("GIT_AUTHOR_NAME", "Bob")
            .env("GIT_AUTHOR_EMAIL", "bob@example.com")
            .env("GIT_COMMITTER_NAME", "Bob")
            .env("GIT_COMMITTER_EMAIL", "bob@example.com")
            .env_remove("CI")
            .stdin(Stdio::null())
            .output()
            .expect("gate runs")
    }

    /// `gate merge --base main` with more arguments; asserts no worktree is left behind and
    /// that `main` never pointed at an untested tree.
    fn merge(&self, args: &[&str]) -> Output {
        let mut all = vec!["merge", "--base", "main"];
        all.extend_from_slice(args);
        let out = self.gate(&all);
        assert_eq!(
            self.git(&["worktree", "list"]).lines().count(),
            1,
            "a worktree was left behind"
        );
        self.assert_base_only_took_tested_trees();
        out
    }

    /// Every value in `main`'s reflog has the tree of a commit the test made (another push) or a
    /// tree the gate tested.
    fn assert_base_only_took_tested_trees(&self) {
        let tested: BTreeSet<String> = self
            .history()
            .iter()
            .filter_map(|e| e.merge_commit.as_deref())
            .map(|c| self.tree(c))
            .collect();
        let own: BTreeSet<String> = self.own.iter().map(|c| self.tree(c)).collect();
        for value in self
            .git(&["log", "-g", "--format=%H", "refs/heads/main"])
            .lines()
        {
            let tree = self.tree(value);
            assert!(
                own.contains(&tree) || tested.contains(&tree),
                "main pointed at {value}, whose tree no run tested"
            );
        }
    }

    /// `gate history --format json`, newest first.
    fn history(&self) -> Vec<Entry> {
        let out = self.gate(&["history", "--format", "json"]);
        assert_eq!(code(&out), 0, "{}", text(&out.stderr));
        serde_json::from_slice(&out.stdout).expect("history json")
    }

    fn report(&self) -> String {
        std::fs::read_to_string(self.dir.join(".gate/last-report.md")).expect("report")
    }
}

fn says(out: &Output) -> String {
    format!(
        "stdout:\n{}\nstderr:\n{}",
        text(&out.stdout),
        text(&out.stderr)
    )
}

#[test]
fn a_fast_forward_moves_the_base_to_the_head_itself() {
    let repo = Repo::new("");
    let before = repo.main();
    let head = repo.change(&[("app/main.txt", "one\ntwo\nthree\nfour\n")], "Add four");
    let out = repo.merge(&["--strategy", "fast-forward"]);
    assert_eq!(code(&out), 0, "{}", says(&out));
    assert_eq!(repo.main(), head);
    let entry = &repo.history()[0];
    assert_eq!(entry.verdict, HistoryVerdict::Passed);
    let merged = entry.merged.as_ref().expect("recorded as merged");
    assert_eq!(merged.base_ref, "refs/heads/main");
    assert_eq!(
        (merged.from.as_str(), merged.to.as_str()),
        (before.as_str(), head.as_str())
    );
    assert_eq!(merged.strategy, MergeStrategy::FastForward);
    let tested = entry.merge_commit.as_deref().expect("a tested merge");
    assert_eq!(repo.tree(&head), repo.tree(tested));
    assert!(
        text(&out.stdout).contains("Merged (fast-forward): main"),
        "{}",
        says(&out)
    );
    assert!(repo.report().contains("### Gated merge"));
    let listed = repo.gate(&["history"]);
    assert!(
        text(&listed.stdout).contains("merged: main"),
        "{}",
        says(&listed)
    );
}

#[test]
fn a_base_that_moved_before_gets_the_tested_merge_commit() {
    let mut repo = Repo::new("");
    let head = repo.change(&[("app/feature.txt", "feature\n")], "Add a feature");
    let moved = repo.push_to_main(&[("app/other.txt", "other\n")], "Someone else's change");
    let out = repo.merge(&[]);
    assert_eq!(code(&out), 0, "{}", says(&out));
    let main = repo.main();
    let entry = &repo.history()[0];
    let tested = entry.merge_commit.as_deref().expect("a tested merge");
    assert_eq!(main, tested, "the base is the very commit tested");
    assert_eq!(repo.tree(&main), repo.tree(tested));
    assert_eq!(repo.parents(&main), vec![moved.clone(), head]);
    let merged = entry.merged.as_ref().expect("merged");
    assert_eq!(merged.strategy, MergeStrategy::Merge);
    assert_eq!(merged.from, moved);
}

#[test]
fn a_squash_has_the_tested_tree_and_one_parent() {
    let mut repo = Repo::new("");
    let head = repo.change(&[("app/feature.txt", "feature\n")], "Add a feature");
    let moved = repo.push_to_main(&[("app/other.txt", "other\n")], "Someone else's change");
    let out = repo.merge(&["--strategy", "squash"]);
    assert_eq!(code(&out), 0, "{}", says(&out));
    let main = repo.main();
    let entry = &repo.history()[0];
    let tested = entry.merge_commit.as_deref().expect("a tested merge");
    assert_eq!(repo.tree(&main), repo.tree(tested));
    assert_eq!(repo.parents(&main), vec![moved]);
    let message = repo.git(&["log", "-1", "--format=%B", &main]);
    assert!(message.starts_with("Add a feature"), "{message}");
    assert!(message.contains(&head[..8]), "{message}");
    assert_eq!(
        entry.merged.as_ref().map(|m| m.strategy),
        Some(MergeStrategy::Squash)
    );
}

#[test]
fn a_failing_gate_leaves_the_base_untouched() {
    let repo = Repo::new("");
    let before = repo.main();
    repo.change(&[("app/FAIL", "x\n")], "Break the tests");
    let out = repo.merge(&[]);
    assert_eq!(code(&out), 1, "{}", says(&out));
    assert_eq!(repo.main(), before);
    let entry = &repo.history()[0];
    assert_eq!(entry.verdict, HistoryVerdict::Failed);
    assert_eq!(entry.merged, None);
    assert!(!repo.report().contains("### Gated merge"));
}

#[test]
fn fast_forward_only_refuses_a_base_with_other_commits() {
    let mut repo = Repo::new("");
    repo.change(&[("app/feature.txt", "feature\n")], "Add a feature");
    let moved = repo.push_to_main(&[("app/other.txt", "other\n")], "Someone else's change");
    let out = repo.merge(&["--strategy", "fast-forward"]);
    assert_eq!(code(&out), 1, "{}", says(&out));
    assert!(
        text(&out.stderr).contains("is not a fast-forward"),
        "{}",
        says(&out)
    );
    assert_eq!(repo.main(), moved);
}

#[test]
fn a_conflict_names_the_files_and_leaves_the_base() {
    let mut repo = Repo::new("");
    repo.change(&[("app/main.txt", "one\nTWO\nthree\n")], "Feature side");
    let moved = repo.push_to_main(&[("app/main.txt", "one\n2\nthree\n")], "Main side");
    let out = repo.merge(&[]);
    assert_eq!(code(&out), 1, "{}", says(&out));
    assert!(
        text(&out.stderr).contains("conflicting files:\n  app/main.txt"),
        "{}",
        says(&out)
    );
    assert_eq!(repo.main(), moved);
}

/// A check that moves `main` (as another push would, while the gate runs) with a commit that
/// adds `app/pushed.txt`; only once when `once`, else on every run.
fn moving_check(once: bool) -> String {
    let bump = "t=$(git rev-parse main^{tree}) && c=$(echo bump | git commit-tree -p main $t) \
                && git update-ref refs/heads/main $c";
    if once {
        ", 'if [ ! -e \"$MARKER_DIR/moved\" ]; then touch \"$MARKER_DIR/moved\"; \
         git update-ref refs/heads/main \"$(cat \"$MARKER_DIR/pushed\")\"; fi'"
            .to_owned()
    } else {
        format!(", '{bump}'")
    }
}

#[test]
fn a_base_moved_during_the_run_is_not_overwritten_and_the_gate_lands_on_top() {
    let mut repo = Repo::new(&moving_check(true));
    let head = repo.change(&[("app/feature.txt", "feature\n")], "Add a feature");
    let before = repo.main();
    // The push the check makes: prepared now, on top of `main`.
    let pushed = repo.push_to_main(&[("app/pushed.txt", "pushed\n")], "A push during the run");
    repo.git(&["update-ref", "refs/heads/main", &before]);
    std::fs::write(repo.markers.join("pushed"), &pushed).expect("write");
    let out = repo.merge(&["--strategy", "merge"]);
    assert_eq!(code(&out), 0, "{}", says(&out));
    assert!(
        text(&out.stdout).contains("Not merged: main moved from"),
        "{}",
        says(&out)
    );
    assert!(
        text(&out.stderr).contains("retest 1 of 3"),
        "{}",
        says(&out)
    );
    let main = repo.main();
    assert_eq!(repo.parents(&main), vec![pushed.clone(), head]);
    let history = repo.history();
    assert_eq!(history.len(), 2, "tested twice");
    assert_eq!(history[1].merged, None, "the first run merged nothing");
    assert_eq!(history[0].base.commit, pushed, "retested on the new base");
    assert_eq!(history[0].merge_commit.as_deref(), Some(main.as_str()));
    let merged = history[0].merged.as_ref().expect("merged");
    assert_eq!(merged.from, pushed);
}

#[test]
fn a_base_that_keeps_moving_stops_after_the_retests_and_is_never_overwritten() {
    let repo = Repo::new(&moving_check(false));
    let head = repo.change(&[("app/feature.txt", "feature\n")], "Add a feature");
    let out = repo.merge(&["--max-retests", "1"]);
    assert_eq!(code(&out), 1, "{}", says(&out));
    assert!(
        text(&out.stderr).contains("gave up after 1 retest"),
        "{}",
        says(&out)
    );
    assert_eq!(repo.history().len(), 2);
    assert!(repo.history().iter().all(|e| e.merged.is_none()));
    assert_eq!(repo.git(&["log", "-1", "--format=%s", "main"]), "bump");
    let head_merged = Command::new("git")
        .args(["-C"])
        .arg(&repo.dir)
        .args(["merge-base", "--is-ancestor", &head, "main"])
        .status()
        .expect("git");
    assert!(!head_merged.success(), "the head was never merged");
}

#[test]
fn a_checked_out_base_is_refused() {
    let repo = Repo::new("");
    repo.change(&[("app/feature.txt", "feature\n")], "Add a feature");
    let before = repo.main();
    repo.git(&["checkout", "-q", "main"]);
    let out = repo.merge(&["--head", "feature"]);
    assert_eq!(code(&out), 2, "{}", says(&out));
    assert!(
        text(&out.stderr).contains("main is checked out in"),
        "{}",
        says(&out)
    );
    assert_eq!(repo.main(), before);
}

#[test]
fn ctrl_c_stops_the_gate_and_merges_nothing() {
    let repo = Repo::new(r#", 'touch "$MARKER_DIR/started"; sleep 1003'"#);
    let before = repo.main();
    repo.change(&[("app/feature.txt", "feature\n")], "Add a feature");
    let child = Command::new(env!("CARGO_BIN_EXE_gate"))
        .args(["merge", "--base", "main"])
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
    let pid = nix::unistd::Pid::from_raw(i32::try_from(child.id()).expect("pid"));
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGINT).expect("signal");
    let out = child.wait_with_output().expect("gate ends");
    assert_eq!(code(&out), 130, "{}", says(&out));
    assert!(
        !scratch::process_running("sleep 1003"),
        "a check survived Ctrl-C"
    );
    assert_eq!(repo.main(), before);
    let history = repo.history();
    assert_eq!(history[0].verdict, HistoryVerdict::Cancelled);
    assert_eq!(history[0].merged, None);
    assert_eq!(repo.git(&["worktree", "list"]).lines().count(), 1);
}
