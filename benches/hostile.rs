//! Hostile gate files: how long the parser takes to refuse or accept them.
//! `cargo bench --bench hostile`; figures in docs/reliability.md.

use codecommit_gate::gate_file::Gate;
use criterion::{Criterion, criterion_group, criterion_main};
use std::hint::black_box;

fn alias_bomb() -> String {
    let mut bomb = String::from("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
    for i in 1..12 {
        let refs = vec![format!("*a{}", i - 1); 10].join(", ");
        bomb.push_str(&format!("a{i}: &a{i} [{refs}]\n"));
    }
    bomb.push_str("stages: [test]\n");
    bomb
}

fn components(n: usize) -> String {
    let mut yaml = String::from("stages: [test]\ncomponents:\n");
    for i in 0..n {
        let deps = if i == 0 {
            String::new()
        } else {
            format!("c{}", i / 2)
        };
        yaml.push_str(&format!(
            "  c{i}: {{paths: [\"pkg/c{i}/**\"], depends_on: [{deps}]}}\n"
        ));
    }
    yaml.push_str(&format!(
        "checks:\n  t: {{stage: test, components: [c{}], commands: [x]}}\n",
        n - 1
    ));
    yaml
}

fn chain(n: usize) -> String {
    let mut yaml = String::from("stages: [test]\ncomponents:\n");
    for i in 0..n {
        yaml.push_str(&format!(
            "  c{i}: {{paths: [c{i}/], depends_on: [c{}]}}\n",
            (i + 1) % n
        ));
    }
    yaml.push_str("checks:\n  t: {stage: test, components: [c0], commands: [x]}\n");
    yaml
}

fn bench(c: &mut Criterion) {
    let mut g = c.benchmark_group("gate_file");
    g.sample_size(10);
    let bomb = alias_bomb();
    g.bench_function("alias_bomb_refused", |b| {
        b.iter(|| Gate::parse(black_box(&bomb), "x").is_err())
    });
    let big = format!("# {}\nstages: [t]\n", "x".repeat(10 * 1024 * 1024));
    g.bench_function("10MB_refused", |b| {
        b.iter(|| Gate::parse(black_box(&big), "x").is_err())
    });
    let many = components(10_000);
    g.bench_function("10000_components", |b| {
        b.iter(|| Gate::parse(black_box(&many), "x").is_ok())
    });
    let cycle = chain(10_000);
    g.bench_function("10000_cycle", |b| {
        b.iter(|| Gate::parse(black_box(&cycle), "x").is_ok())
    });
    let deep = format!("stages: {}{}\n", "[".repeat(10_000), "]".repeat(10_000));
    g.bench_function("10000_deep_refused", |b| {
        b.iter(|| Gate::parse(black_box(&deep), "x").is_err())
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
