//! Affected selection on a real history: the 300 commits of awslabs/aws-lambda-rust-runtime in
//! `bench/monorepo/history.json`, planned against `bench/monorepo/.gate.yml` (the planner for
//! every commit; every 20th commit also through `gate plan --paths-from FILE --format json`, in
//! process, which must agree), against a selection computed here independently of the gate file
//! and the planner: every crate with a changed (non-documentation) path in its folder, every
//! crate that depends on one, transitively, and every crate when the workspace manifest, lock
//! file or CI changed. No crate may be missed. The figures are in docs/performance.md;
//! `bench/monorepo/run.sh` prints them with the release binary, one process per commit.

use codecommit_gate::gate_file::Gate;
use codecommit_gate::plan::{ChangedPath, PlanInput, plan};
use codecommit_gate::reuse::check_key;
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

struct Crate {
    folder: String,
    deps: Vec<String>,
}

fn is_global(p: &str) -> bool {
    p == "Cargo.toml" || p == "Cargo.lock" || p.starts_with(".github/")
}

fn is_doc(p: &str) -> bool {
    let name = p.rsplit('/').next().unwrap_or(p);
    p.ends_with(".md")
        || p.starts_with("docs/")
        || p.contains("/docs/")
        || name == ".gitignore"
        || name == ".DS_Store"
}

/// The crates that must be tested for these changed paths: our own transitive closure.
fn must_test(crates: &BTreeMap<String, Crate>, changed: &[String]) -> BTreeSet<String> {
    if changed.iter().any(|p| is_global(p)) {
        return crates.keys().cloned().collect();
    }
    let mut seen: BTreeSet<String> = crates
        .iter()
        .filter(|(_, c)| {
            changed.iter().any(|p| {
                !is_doc(p)
                    && (*p == c.folder
                        || p.strip_prefix(&c.folder)
                            .is_some_and(|rest| rest.starts_with('/')))
            })
        })
        .map(|(name, _)| name.clone())
        .collect();
    let mut todo: Vec<String> = seen.iter().cloned().collect();
    while let Some(changed_crate) = todo.pop() {
        for (name, c) in crates {
            if c.deps.contains(&changed_crate) && seen.insert(name.clone()) {
                todo.push(name.clone());
            }
        }
    }
    seen
}

fn plan_json(gate_file: &Path, paths_file: &Path) -> Value {
    let args = [
        "gate",
        "plan",
        "--paths-from",
        paths_file.to_str().expect("utf-8 path"),
        "--gate-file",
        gate_file.to_str().expect("utf-8 path"),
        "--format",
        "json",
    ];
    let (mut out, mut err) = (Vec::new(), Vec::new());
    let code = codecommit_gate::cli::main_with_args(args, &mut out, &mut err);
    assert_eq!(
        code,
        0,
        "gate plan failed: {}",
        String::from_utf8_lossy(&err)
    );
    serde_json::from_slice(&out).expect("gate plan --format json prints JSON")
}

struct History {
    crates: BTreeMap<String, Crate>,
    /// (commit, changed paths)
    commits: Vec<(String, Vec<String>)>,
}

fn root() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("bench/monorepo")
}

fn history() -> History {
    let history: Value = serde_json::from_str(
        &std::fs::read_to_string(root().join("history.json")).expect("bench/monorepo/history.json"),
    )
    .expect("JSON");
    let strings = |v: &Value| -> Vec<String> {
        v.as_array()
            .expect("a list")
            .iter()
            .map(|s| s.as_str().expect("a string").to_owned())
            .collect()
    };
    let crates = history["crates"]
        .as_object()
        .expect("crates")
        .iter()
        .map(|(name, c)| {
            let folder = c["folder"].as_str().expect("folder").to_owned();
            (
                name.clone(),
                Crate {
                    folder,
                    deps: strings(&c["deps"]),
                },
            )
        })
        .collect();
    let commits = history["commits"]
        .as_array()
        .expect("commits")
        .iter()
        .map(|c| {
            (
                c["commit"].as_str().expect("commit").to_owned(),
                strings(&c["changed"]),
            )
        })
        .collect();
    History { crates, commits }
}

/// The plan of a commit that changed `changed`.
fn plan_paths(gate: &Gate, changed: &[String]) -> codecommit_gate::plan::Plan {
    let changes: Vec<ChangedPath> = changed.iter().map(ChangedPath::new).collect();
    plan(
        gate,
        &PlanInput {
            changes: &changes,
            ..PlanInput::default()
        },
    )
}

fn crate_of(check: &str) -> String {
    check.strip_prefix("test-").unwrap_or(check).to_owned()
}

/// Plans every commit with `gate` and compares with [`must_test`]: (checks run, checks the
/// closure needs, misses). With `cli_every`, every n-th commit also goes through `gate plan`.
fn select(h: &History, gate_text: &str, cli_every: Option<usize>) -> (usize, usize, Vec<String>) {
    let gate = Gate::parse(gate_text, "bench/monorepo/.gate.yml").expect("a valid gate file");
    let dir = tempfile::tempdir().expect("temp dir");
    let (gate_path, paths_file) = (dir.path().join(".gate.yml"), dir.path().join("paths.txt"));
    std::fs::write(&gate_path, gate_text).expect("write gate file");
    let (mut run_total, mut needed_total, mut missed) = (0, 0, Vec::new());
    for (i, (commit, changed)) in h.commits.iter().enumerate() {
        let planned = plan_paths(&gate, changed);
        let run: BTreeSet<String> = planned
            .checks
            .iter()
            .filter(|c| c.run)
            .map(|c| crate_of(c.name.as_str()))
            .collect();
        if cli_every.is_some_and(|n| i % n == 0) {
            std::fs::write(&paths_file, changed.join("\n") + "\n").expect("write paths");
            let cli: BTreeSet<String> = plan_json(&gate_path, &paths_file)["checks"]
                .as_array()
                .expect("checks")
                .iter()
                .filter(|c| c["run"] == Value::Bool(true))
                .map(|c| crate_of(c["name"].as_str().expect("name")))
                .collect();
            assert_eq!(cli, run, "`gate plan` and the planner disagree on {commit}");
        }
        let needed = must_test(&h.crates, changed);
        missed.extend(
            needed
                .difference(&run)
                .map(|m| format!("{commit} missed {m}")),
        );
        run_total += run.len();
        needed_total += needed.len();
    }
    (run_total, needed_total, missed)
}

#[test]
fn every_changed_crate_and_every_dependent_is_selected_over_300_real_commits() {
    let h = history();
    assert_eq!((h.commits.len(), h.crates.len()), (300, 47));
    let gate_text =
        std::fs::read_to_string(root().join(".gate.yml")).expect("bench/monorepo/.gate.yml");
    let (run_total, needed_total, missed) = select(&h, &gate_text, Some(20));
    assert!(missed.is_empty(), "missed crates:\n{}", missed.join("\n"));
    let everything = h.commits.len() * h.crates.len();
    println!("checks run {run_total} of {everything}; the closure needs {needed_total}; 0 missed");
    // The figures quoted in docs/performance.md: update both together.
    assert_eq!((run_total, needed_total, everything), (7785, 7455, 14100));
}

#[test]
fn the_cross_check_catches_a_gate_file_without_its_dependencies() {
    // Control: the same gate file minus every `depends_on` must miss dependents, or the
    // cross-check above would prove nothing.
    let h = history();
    let gate_text: String = std::fs::read_to_string(root().join(".gate.yml"))
        .expect("bench/monorepo/.gate.yml")
        .lines()
        .filter(|l| !l.trim_start().starts_with("depends_on:"))
        .map(|l| format!("{l}\n"))
        .collect();
    let (_, _, missed) = select(&h, &gate_text, None);
    assert!(missed.len() > 100, "only {} misses", missed.len());
}

/// Reuse on top of affected selection: every check with `reuse: true`, each commit's files as
/// (path, version) with a new version whenever a commit changes the path (files the 300
/// commits never change are the same throughout, so leaving them out changes no key), every
/// check assumed to pass. (checks selected, of them skipped by reuse, skipped yet needed).
fn reuse_on_top(h: &History, gate_text: &str) -> (usize, usize, Vec<String>) {
    let mut gate = Gate::parse(gate_text, "bench/monorepo/.gate.yml").expect("a valid gate file");
    for check in &mut gate.checks {
        check.reuse = true;
    }
    let mut files: BTreeMap<String, String> = BTreeMap::new();
    let mut passed: BTreeSet<String> = BTreeSet::new();
    let (mut selected, mut skipped, mut wrong) = (0, 0, Vec::new());
    for (i, (commit, changed)) in h.commits.iter().enumerate() {
        for path in changed {
            files.insert(path.clone(), format!("v{i}"));
        }
        let planned = plan_paths(&gate, changed);
        let needed = must_test(&h.crates, changed);
        for check in planned.checks.iter().filter(|c| c.run) {
            selected += 1;
            let (index, _) = gate.check(check.name.as_str()).expect("planned check");
            let tree = files.iter().map(|(p, v)| (p.as_str(), v.as_str()));
            let key = check_key(&gate, index, tree).expect("reuse: true has a key");
            if !passed.insert(key) {
                skipped += 1;
                let name = crate_of(check.name.as_str());
                if needed.contains(&name) {
                    wrong.push(format!("{commit} reused {name}"));
                }
            }
        }
    }
    (selected, skipped, wrong)
}

#[test]
fn reuse_skips_checks_on_identical_inputs_on_top_of_affected_selection() {
    let h = history();
    let gate_text =
        std::fs::read_to_string(root().join(".gate.yml")).expect("bench/monorepo/.gate.yml");
    let (selected, skipped, wrong) = reuse_on_top(&h, &gate_text);
    assert!(
        wrong.is_empty(),
        "reused a check whose crate changed:\n{}",
        wrong.join("\n")
    );
    println!("of {selected} selected checks, reuse skips {skipped}");
    // The figures quoted in docs/performance.md (§ 9): update both together.
    assert_eq!((selected, skipped), (7785, 298));
}
