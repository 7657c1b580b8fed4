//! Clean-up: 1,000 pull-request lifecycles (open, pushes, results, close or merge) against the
//! in-memory AWS, with transient faults, duplicated events and lost close events. EventBridge's
//! retries are modelled (a failed delivery is retried up to three times, then dropped), and the
//! scheduled sweep runs at the end. Then: zero gating executions running, and every CI
//! environment a run created has a clean-up that deletes it.

use crate::world;

use codecommit_gate::config::Settings;
use codecommit_gate::event::{self, Event};
use codecommit_gate::flows::Deps;
use codecommit_gate::flows::gate_start::{StartOutcome, handle};
use codecommit_gate::ids::{PullRequestId, RepositoryName};
use codecommit_gate::machine::Mode;
use codecommit_gate::memory::{FakeCodeCommit, FakeLedger, FakeNotifier, FakeStepFunctions};
use codecommit_gate::plan::ChangedPath;
use codecommit_gate::ports::{PortError, PrStatus, PullRequestState};
use serde_json::{Value, json};
use std::collections::BTreeSet;
use world::{BASE, DEST, GATE_ARN, GATE_FILE, commit, revision};

const LIFECYCLES: u32 = 1_000;

/// A small deterministic generator (xorshift), so a failure reproduces.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn chance(&mut self, percent: u64) -> bool {
        self.next() % 100 < percent
    }
}

fn pr_event(template: &Value, kind: &str, pr: &str, n: u8) -> Event {
    let mut e = template.clone();
    let d = &mut e["detail"];
    d["event"] = json!(kind);
    d["pullRequestId"] = json!(pr);
    d["sourceCommit"] = json!(commit(n).as_str());
    d["destinationCommit"] = json!(commit(DEST).as_str());
    d["revisionId"] = json!(revision(n).as_str());
    match kind {
        "pullRequestStatusChanged" => d["pullRequestStatus"] = json!("Closed"),
        "pullRequestMergeStatusUpdated" => {
            d["pullRequestStatus"] = json!("Closed");
            d["isMerged"] = json!("True");
        }
        _ => {}
    }
    event::parse_value(e).expect("valid event")
}

type World = codecommit_gate::memory::MemoryDeps;

/// EventBridge: deliver, retry a failed delivery up to three times, then give up (the DLQ).
async fn deliver(deps: &World, rng: &mut Rng, event: Event, faults: &mut u32) {
    for _ in 0..4 {
        if rng.chance(8) {
            let call = [
                "codecommit:GetPullRequest",
                "states:StartExecution",
                "dynamodb:PutItem",
                "states:StopExecution",
            ][(rng.next() % 4) as usize];
            let error = PortError::Transient {
                call,
                message: "ThrottlingException".into(),
            };
            match call.split(':').next() {
                Some("codecommit") => deps.prs.calls.fail_next(call, error),
                Some("states") => deps.executions.calls.fail_next(call, error),
                _ => deps.ledger.calls.fail_next(call, error),
            }
            *faults += 1;
        }
        if handle(deps, event.clone()).await.is_ok() {
            return;
        }
    }
}

#[tokio::test]
async fn a_thousand_lifecycles_leave_nothing_behind() {
    let template: Value =
        serde_json::from_str(&std::fs::read_to_string("events/pr-created.json").expect("event"))
            .expect("JSON");
    let deps: World = Deps {
        prs: FakeCodeCommit::new(GATE_ARN),
        executions: FakeStepFunctions::default(),
        ledger: FakeLedger::default(),
        notifier: FakeNotifier::default(),
        bus: codecommit_gate::memory::FakeBus::default(),
        settings: Settings::local(GATE_ARN),
    };
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    deps.prs.put_file(&commit(DEST), ".gate.yml", GATE_FILE);
    let (mut faults, mut lost_closes, mut duplicates) = (0, 0, 0);
    for i in 0..LIFECYCLES {
        let id = PullRequestId::new((1000 + i).to_string());
        deps.prs.put_pull_request(PullRequestState {
            repository: RepositoryName::from("my-repo"),
            id: id.clone(),
            title: format!("Change {i}"),
            description: None,
            author_arn: world::AUTHOR.into(),
            status: PrStatus::Open,
            is_merged: false,
            source_reference: "refs/heads/feature/x".into(),
            destination_reference: "refs/heads/main".into(),
            source_commit: commit(10),
            destination_commit: commit(DEST),
            merge_base: Some(commit(BASE)),
            revision_id: revision(10),
            approval_rules: Vec::new(),
        });
        let pushes = (rng.next() % 4) as u8;
        for n in 10..=10 + pushes {
            deps.prs.put_file(&commit(n), ".gate.yml", GATE_FILE);
            deps.prs.put_diff(
                &commit(BASE),
                &commit(n),
                vec![ChangedPath::new("services/api/a.rs")],
            );
            if n > 10 {
                deps.prs.push(&id, &commit(n), &revision(n));
            }
            let kind = if n == 10 {
                "pullRequestCreated"
            } else {
                "pullRequestSourceBranchUpdated"
            };
            let e = pr_event(&template, kind, id.as_str(), n);
            deliver(&deps, &mut rng, e.clone(), &mut faults).await;
            if rng.chance(20) {
                duplicates += 1;
                deliver(&deps, &mut rng, e, &mut faults).await;
            }
            // Some runs finish before the PR closes.
            if rng.chance(30)
                && let Some(exec) = deps
                    .executions
                    .running()
                    .into_iter()
                    .find(|e| e.input.subject.pull_request_id == id)
            {
                deps.executions.finish(
                    &exec.arn,
                    codecommit_gate::ports::ExecutionStatus::Succeeded,
                );
            }
        }
        let merged = rng.chance(50);
        deps.prs.close(&id, merged);
        let kind = if merged {
            "pullRequestMergeStatusUpdated"
        } else {
            "pullRequestStatusChanged"
        };
        if rng.chance(10) {
            lost_closes += 1; // EventBridge never delivers it: the sweep must notice.
        } else {
            deliver(
                &deps,
                &mut rng,
                pr_event(&template, kind, id.as_str(), 10 + pushes),
                &mut faults,
            )
            .await;
        }
    }
    // The schedule runs the sweep until it succeeds (faults may fail a run).
    let sweep: Event = event::parse(
        r#"{"version":"0","id":"s","detail-type":"Scheduled Event","source":"aws.events","account":"123456789012","time":"2026-11-22T11:00:00Z","region":"us-east-1","resources":["arn:aws:events:us-east-1:123456789012:rule/gate-sweep"],"detail":{}}"#,
    )
    .expect("scheduled event");
    let mut swept = None;
    for _ in 0..5 {
        if let Ok(outcome) = handle(&deps, sweep.clone()).await {
            swept = Some(outcome);
            break;
        }
    }
    let Some(StartOutcome::Swept { cleaned, .. }) = swept else {
        panic!("the sweep never succeeded: {swept:?}");
    };

    let executions = deps.executions.executions();
    let running_gates = executions
        .iter()
        .filter(|e| {
            e.input.mode == Mode::Gate
                && e.status == codecommit_gate::ports::ExecutionStatus::Running
        })
        .count();
    let created: BTreeSet<&str> = executions
        .iter()
        .filter(|e| e.input.mode == Mode::Gate)
        .map(|e| e.input.environment.as_str())
        .collect();
    let deleted: BTreeSet<&str> = executions
        .iter()
        .filter(|e| e.input.mode == Mode::Cleanup)
        .map(|e| e.input.environment.as_str())
        .collect();
    let left: Vec<&&str> = created.difference(&deleted).collect();
    let open = deps.ledger.records().iter().filter(|r| !r.closed).count();
    println!(
        "{LIFECYCLES} lifecycles: {} executions, {} environments, {faults} injected faults, {duplicates} duplicate deliveries, {lost_closes} lost close events (swept: {cleaned}); left: {} environments, {running_gates} running gate executions, {open} open ledger records",
        executions.len(),
        created.len(),
        left.len()
    );
    assert!(
        faults > 0 && lost_closes > 0 && duplicates > 0,
        "the simulation must exercise its faults"
    );
    assert_eq!(running_gates, 0, "no gating execution left running");
    assert!(left.is_empty(), "environments left behind: {left:?}");
    assert_eq!(open, 0, "every ledger record closed");
    assert_eq!(
        created.len(),
        LIFECYCLES as usize,
        "every PR got an environment"
    );
}
