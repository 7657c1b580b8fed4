//! The merge queue's throughput by depth, simulated over the in-memory fakes (the real flow and
//! decisions): a backlog of pull requests is queued at once, every run takes one check
//! duration, and a pull request is "bad" with a given probability: any run whose merge
//! contains a bad change fails (a speculative run built on a bad entry fails too). Prints the
//! table in docs/performance.md:
//!
//! `cargo test --test merge_queue_sim -- --ignored --nocapture`

use crate::queue_world;

use codecommit_gate::ids::PullRequestId;
use queue_world::*;

/// Pull requests per simulated backlog.
const PRS: u32 = 30;
/// Backlogs per (depth, failure rate): the figures are their sums.
const SEEDS: u64 = 10;

/// A small deterministic generator (SplitMix64), so the table is the same on every machine.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> f64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        ((z ^ (z >> 31)) >> 11) as f64 / (1u64 << 53) as f64
    }
}

#[derive(Debug, Default, Clone, Copy)]
struct Figures {
    merged: u32,
    ejected: u32,
    runs: usize,
    durations: u32,
}

/// One backlog through a queue of `depth` with bad changes at `rate`.
async fn simulate(depth: u32, rate: f64, seed: u64) -> Figures {
    let w = QueueWorld::new(&gate_file(depth, ""));
    let mut rng = Rng(seed * 7919 + 17);
    let mut bad = Vec::new();
    for n in 1..=PRS {
        w.open_pr(n, AUTHOR);
        if rng.next() < rate {
            bad.push(format!("pr{n}"));
        }
    }
    for n in 1..=PRS {
        let id = PullRequestId::from(n.to_string().as_str());
        w.comment(&id, AUTHOR, "/gate merge").await;
    }
    let mut durations = 0;
    while !w.running().is_empty() {
        durations += 1;
        for run in w.running() {
            if w.checks.was_stopped(&run.testing.execution_name) {
                continue;
            }
            let passed = !bad
                .iter()
                .any(|p| w.repo.contains(&run.testing.merge_commit, p));
            w.finish(&run, passed).await;
        }
    }
    w.assert_main_only_moved_to_tested_commits();
    assert!(w.queue().await.is_empty(), "the queue drained");
    let merged = (w.repo.moves(MAIN).len() - 1) as u32;
    Figures {
        merged,
        ejected: PRS - merged,
        runs: w.checks.started().len(),
        durations,
    }
}

#[tokio::test]
#[ignore = "a simulation: run it with --ignored --nocapture for docs/performance.md"]
async fn throughput_by_depth_and_failure_rate() {
    println!(
        "| failure rate | depth | merged / check duration | runs per PR | wasted runs | check durations to drain |"
    );
    println!("|---|---|---|---|---|---|");
    for rate in [0.0, 0.1, 0.3] {
        for depth in 1..=4 {
            let mut sum = Figures::default();
            for seed in 0..SEEDS {
                let f = simulate(depth, rate, seed).await;
                sum.merged += f.merged;
                sum.ejected += f.ejected;
                sum.runs += f.runs;
                sum.durations += f.durations;
            }
            let prs = f64::from(PRS) * SEEDS as f64;
            let decided = f64::from(sum.merged + sum.ejected);
            println!(
                "| {:.0} % | {depth} | {:.2} | {:.2} | {:.0} % | {:.1} |",
                rate * 100.0,
                f64::from(sum.merged) / f64::from(sum.durations),
                sum.runs as f64 / prs,
                (sum.runs as f64 - decided) / sum.runs as f64 * 100.0,
                f64::from(sum.durations) / SEEDS as f64,
            );
        }
    }
}
