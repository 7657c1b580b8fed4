//! Release planner benchmark on a real history: the 300 commits of `bench/monorepo/history.json`
//! released one after the other, each against its parent, with `bench/monorepo/.gate.yml` plus
//! a `deploy` on every one of its 47 components and one environment running all its checks. The
//! PR planner on the same paths is measured in the same group, so their ratio comes from one run.
//! `cargo bench --bench release_planner -- --noplot`; the figures go in docs/performance.md.

use codecommit_gate::gate_file::Gate;
use codecommit_gate::plan::{ChangedPath, PlanInput, plan};
use codecommit_gate::release::{ReleaseInput, plan_release};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use serde_json::Value;
use std::hint::black_box;
use std::path::Path;

const ENVIRONMENT: &str = "production";

/// One commit: itself, its parent (the previous release) and the paths changed between them.
struct Commit {
    commit: String,
    parent: String,
    changes: Vec<ChangedPath>,
}

fn root() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("bench/monorepo")
}

/// The 300 commits, oldest first (history.json lists them newest first).
fn history() -> Vec<Commit> {
    let text = std::fs::read_to_string(root().join("history.json")).expect("history.json");
    let history: Value = serde_json::from_str(&text).expect("history.json is JSON");
    let mut commits: Vec<Commit> = history["commits"]
        .as_array()
        .expect("commits")
        .iter()
        .map(|c| Commit {
            commit: c["commit"].as_str().expect("commit").to_owned(),
            parent: c["parent"].as_str().expect("parent").to_owned(),
            changes: c["changed"]
                .as_array()
                .expect("changed")
                .iter()
                .map(|p| ChangedPath::new(p.as_str().expect("a path")))
                .collect(),
        })
        .collect();
    commits.reverse();
    assert_eq!(commits.len(), 300);
    commits
}

/// The committed gate file with `deploy: {commands: [x]}` under every component's `paths`
/// (the components are block mappings, the checks one-line flow mappings) and one environment
/// that runs every check.
fn gate() -> Gate {
    let text = std::fs::read_to_string(root().join(".gate.yml")).expect("bench/monorepo/.gate.yml");
    let checks: Vec<String> = Gate::parse(&text, ".gate.yml")
        .expect("the committed gate file is valid")
        .checks
        .iter()
        .map(|c| c.name.to_string())
        .collect();
    let mut yaml = String::with_capacity(text.len() * 2);
    for line in text.lines() {
        yaml.push_str(line);
        yaml.push('\n');
        if line.starts_with("    paths:") {
            yaml.push_str("    deploy: {commands: [x]}\n");
        }
    }
    yaml.push_str(&format!(
        "environments:\n  {ENVIRONMENT}:\n    branch: main\n    checks: [{}]\n",
        checks.join(", ")
    ));
    let gate = Gate::parse(&yaml, ".gate.yml").expect("the bench gate file is valid");
    assert_eq!(gate.components.len(), 47);
    assert!(gate.components.iter().all(|c| c.deploy.is_some()));
    gate
}

fn bench(c: &mut Criterion) {
    let gate = gate();
    let commits = history();
    let mut group = c.benchmark_group("monorepo_history");
    group.throughput(Throughput::Elements(commits.len() as u64));
    group.bench_function("pr_plan_300_commits", |b| {
        b.iter(|| {
            for commit in &commits {
                black_box(plan(
                    black_box(&gate),
                    &PlanInput {
                        changes: black_box(&commit.changes),
                        ..PlanInput::default()
                    },
                ));
            }
        })
    });
    group.bench_function("release_plan_300_commits", |b| {
        b.iter(|| {
            for commit in &commits {
                let plan = plan_release(
                    black_box(&gate),
                    &ReleaseInput {
                        environment: ENVIRONMENT,
                        commit: &commit.commit,
                        previous: Some(&commit.parent),
                        changes: black_box(&commit.changes),
                    },
                );
                black_box(plan.expect("the environment exists"));
            }
        })
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
