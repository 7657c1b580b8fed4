//! gate-start's critical path: how many AWS round trips come one after the other before
//! `StartExecution`, measured on the in-memory fakes with a latency model on tokio's paused
//! clock (virtual time: each call takes one round trip, calls issued together overlap).
//! docs/performance.md ("gate-start's path to the first build") is these figures;
//! `cargo test --test critical_path -- --nocapture` prints each call with its depth.

use crate::world;

use codecommit_gate::flows::gate_start::StartOutcome;
use codecommit_gate::flows::steps::approval_rule_content;
use codecommit_gate::memory::{Latency, RoundTrip};
use std::sync::Arc;
use std::time::Duration;
use world::*;

/// One in-region call, for the timeline's scale only: the figures are counts of round trips.
const ROUND_TRIP: Duration = Duration::from_millis(30);

/// Every fake of the world now answers after one round trip of the shared model.
fn with_latency(w: &World) -> Arc<Latency> {
    let latency = Arc::new(Latency::new(ROUND_TRIP));
    for calls in [
        &w.cc.calls,
        &w.sfn.calls,
        &w.ledger.calls,
        &w.sns.calls,
        &w.bus.calls,
        &w.logs.calls,
    ] {
        calls.set_latency(Arc::clone(&latency));
    }
    latency
}

/// The calls by depth, one line per round trip, for `--nocapture` and failure messages.
fn timeline(calls: &[RoundTrip]) -> String {
    let deepest = calls.iter().map(|c| c.issued_after).max().unwrap_or(0);
    (0..=deepest)
        .map(|depth| {
            let at: Vec<&str> = calls
                .iter()
                .filter(|c| c.issued_after == depth)
                .map(|c| c.call)
                .collect();
            format!("  round trip {}: {}", depth + 1, at.join(" ∥ "))
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// Sends `kind` for commit `n` with the latency model on; the round trips before
/// `StartExecution`, after printing the timeline.
async fn round_trips_to_start(w: &World, what: &str, kind: &str, n: u8) -> u32 {
    let latency = with_latency(w);
    let outcome = w.send(w.pr_event(kind, n)).await;
    assert!(
        matches!(outcome, StartOutcome::Started { .. }),
        "{outcome:?}"
    );
    let calls = latency.calls();
    let before = latency
        .round_trips_before("states:StartExecution")
        .expect("StartExecution was called");
    println!(
        "{what}: {before} round trips before StartExecution\n{}",
        timeline(&calls)
    );
    before
}

#[tokio::test(start_paused = true)]
async fn a_created_event_starts_the_run_after_three_round_trips() {
    let w = World::new();
    // The stack's approval rule template puts the gate's rule on every new PR.
    w.cc.put_template_rule(&w.pr, "gate", &approval_rule_content(GATE_ARN));
    let before = round_trips_to_start(&w, "created, template rule", "pullRequestCreated", 10).await;
    assert_eq!(before, 3);
}

#[tokio::test(start_paused = true)]
async fn without_the_template_the_gates_own_rule_costs_no_round_trip() {
    let w = World::new();
    let before = round_trips_to_start(&w, "created, no template", "pullRequestCreated", 10).await;
    assert_eq!(before, 3);
    assert_eq!(
        w.cc.calls.count("codecommit:CreatePullRequestApprovalRule"),
        1,
        "the rule was put on, alongside the other calls"
    );
}

#[tokio::test(start_paused = true)]
async fn a_push_stops_the_old_run_before_the_claim() {
    let w = World::new();
    w.send(w.pr_event("pullRequestCreated", 10)).await;
    w.push(11, &["services/api/src/refund.rs"]);
    let before = round_trips_to_start(
        &w,
        "source updated, run 1 going",
        "pullRequestSourceBranchUpdated",
        11,
    )
    .await;
    // StopExecution, then the claim that forgets the old run's ARN, then the comment.
    assert_eq!(before, 4);
}

#[tokio::test(start_paused = true)]
async fn standing_on_a_recorded_pass_costs_no_round_trip() {
    let w = World::new();
    let gate = GATE_FILE.replace(
        "env: {RUST_LOG: debug}}",
        "env: {RUST_LOG: debug}, reuse: true}",
    );
    w.destination_gate_file(DEST, &gate);
    w.commit_files(10, &gate, &["services/api/src/refund.rs"]);
    w.send(w.pr_event("pullRequestCreated", 10)).await;
    let first = w.last_input();
    w.report(&first, &[passed_run("fmt", 1), passed_run("api-tests", 1)])
        .await;
    // Commit 11 changes the web component only: api-tests stands on run 1's pass.
    w.commit_files(11, &gate, &["services/api/src/refund.rs", "web/app.js"]);
    w.cc.put_diff(
        &commit(10),
        &commit(11),
        vec![codecommit_gate::plan::ChangedPath::new("web/app.js")],
    );
    w.cc.push(&w.pr, &commit(11), &revision(11));
    let latency = with_latency(&w);
    let outcome = w
        .send(w.pr_event("pullRequestSourceBranchUpdated", 11))
        .await;
    assert!(
        matches!(outcome, StartOutcome::Started { .. }),
        "{outcome:?}"
    );
    let before = latency
        .round_trips_before("states:StartExecution")
        .expect("StartExecution was called");
    println!(
        "source updated, run 1 passed, api-tests reused: {before} round trips before StartExecution\n{}",
        timeline(&latency.calls())
    );
    assert_eq!(before, 3, "as a push after a finished run without reuse");
    assert_eq!(w.last_input().carried_results.len(), 1, "api-tests reused");
    let depths: Vec<(&str, u32)> = latency
        .calls()
        .iter()
        .filter(|c| c.call.starts_with("dynamodb:GetItem") || c.call == "codecommit:GetDifferences")
        .map(|c| (c.call, c.issued_after))
        .collect();
    assert_eq!(
        depths,
        [
            ("dynamodb:GetItem", 0),
            ("dynamodb:GetItem", 0),
            ("codecommit:GetDifferences", 1),
            ("codecommit:GetDifferences", 1),
        ],
        "the recorded passes with the PR's item, their difference with the PR's"
    );
}
