//! Planner benchmark: N changed paths × 500 components with dependencies.
//! `cargo bench --bench planner`; the figures go in docs/performance.md.

use codecommit_gate::gate_file::Gate;
use codecommit_gate::plan::{ChangedPath, PlanInput, plan};
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use std::hint::black_box;

const COMPONENTS: usize = 500;

/// 500 components under `pkg/cN/`, each depending on two earlier ones; one check per component
/// plus two that always run; a few global and ignore globs.
fn gate() -> Gate {
    let mut yaml = String::from("stages: [lint, test]\ncomponents:\n");
    for i in 0..COMPONENTS {
        yaml.push_str(&format!(
            "  c{i}:\n    paths: [\"pkg/c{i}/**\", \"tools/c{i}-*.sh\"]\n"
        ));
        let deps: Vec<String> = [i / 2, i / 3]
            .iter()
            .filter(|&&d| d != i)
            .map(|d| format!("c{d}"))
            .collect();
        if !deps.is_empty() {
            yaml.push_str(&format!("    depends_on: [{}]\n", deps.join(", ")));
        }
    }
    yaml.push_str(
        "checks:\n  fmt: {stage: lint, commands: [x]}\n  lint: {stage: lint, commands: [x]}\n",
    );
    for i in 0..COMPONENTS {
        yaml.push_str(&format!(
            "  t{i}: {{stage: test, components: [c{i}], commands: [x]}}\n"
        ));
    }
    yaml.push_str("global: [Cargo.lock, .gate.yml]\nignore: [\"**/*.md\", \"docs/**\"]\n");
    Gate::parse(&yaml, "bench.yml").expect("bench gate is valid")
}

/// `n` paths spread over the second half of the components (so dependents matter), deep folders.
fn paths(n: usize) -> Vec<ChangedPath> {
    (0..n)
        .map(|i| {
            let c = COMPONENTS / 2 + (i * 7919) % (COMPONENTS / 2);
            ChangedPath::new(format!("pkg/c{c}/src/module{}/file{i}.rs", i % 13))
        })
        .collect()
}

fn bench(c: &mut Criterion) {
    let gate = gate();
    let mut group = c.benchmark_group("plan");
    for n in [100usize, 1_000, 10_000, 100_000] {
        let changes = paths(n);
        group.throughput(Throughput::Elements(n as u64));
        if n == 100_000 {
            group.sample_size(10);
        }
        group.bench_with_input(
            BenchmarkId::new("paths_x500_components", n),
            &changes,
            |b, changes| {
                b.iter(|| {
                    plan(
                        black_box(&gate),
                        &PlanInput {
                            changes: black_box(changes),
                            ..PlanInput::default()
                        },
                    )
                })
            },
        );
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
