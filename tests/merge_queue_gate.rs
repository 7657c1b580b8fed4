//! A queue entry's run goes through the gate's own planning and state machine (gate-start's
//! `start_queue_run`), from its gate branch, under the destination's trusted gate file; its end
//! comes back through gate-report, which hands it to the queue instead of reporting on the pull
//! request; the queue then lands exactly the tested merge commit.

use crate::queue_world;

use codecommit_gate::config::Settings;
use codecommit_gate::flows::Deps;
use codecommit_gate::flows::gate_report::{self, ReportOutcome, ReportRequest};
use codecommit_gate::flows::merge_queue::gate_checks::GateQueueChecks;
use codecommit_gate::flows::merge_queue::{self, QueueDeps};
use codecommit_gate::ids::CommitId;
use codecommit_gate::memory::{FakeBus, FakeLedger, FakeLogs, FakeNotifier, FakeStepFunctions};
use codecommit_gate::plan::ChangedPath;
use codecommit_gate::policy::{CheckResult, CheckStatus};
use queue_world::*;

type GateDeps = Deps<(
    codecommit_gate::memory::FakeCodeCommit,
    FakeStepFunctions,
    FakeLedger,
    FakeNotifier,
    FakeBus,
)>;

/// The fake repository numbers its commits: root 1, the PR's source 2, its merge commit 3.
fn first_merge_commit() -> CommitId {
    CommitId::new(format!("{:040x}", 3))
}

/// A queue world with PR 1 open, the difference its merge commit will show, and gate-start's
/// deps over the same CodeCommit.
fn world() -> (QueueWorld, codecommit_gate::ids::PullRequestId, GateDeps) {
    let w = QueueWorld::new(&gate_file(1, ""));
    let pr = w.open_pr(1, AUTHOR);
    let root = w.tip();
    w.cc.put_diff(
        &root,
        &first_merge_commit(),
        vec![ChangedPath::new("src/lib.rs")],
    );
    let gate = Deps {
        prs: w.cc.clone(),
        executions: FakeStepFunctions::default(),
        ledger: FakeLedger::default(),
        notifier: FakeNotifier::default(),
        bus: FakeBus::default(),
        settings: Settings::local(GATE_ARN),
    };
    (w, pr, gate)
}

#[tokio::test]
async fn a_queue_run_is_planned_like_a_pull_request_and_reported_back_to_the_queue() {
    let (w, pr, gate) = world();
    let (root, sfn) = (w.tip(), gate.executions.clone());
    let merge = first_merge_commit();
    let deps = QueueDeps::<(_, _, _, _)> {
        prs: w.cc.clone(),
        merges: w.repo.clone(),
        queues: w.queues.clone(),
        checks: GateQueueChecks { deps: &gate },
        settings: w.deps.settings.clone(),
    };
    let comment = w.cc.add_comment(&pr, AUTHOR, "/gate merge");
    w.sync();
    merge_queue::command(&deps, &pr, &comment, 1_700_000_000_000)
        .await
        .expect("queued");

    let started = sfn.executions();
    assert_eq!(started.len(), 1);
    let input = &started[0].input;
    assert_eq!(input.source_reference, "refs/heads/gate/merge/main/1");
    assert_eq!(input.subject.source_commit, merge);
    assert_eq!(input.subject.merge_commit, Some(merge.clone()));
    assert_eq!(input.subject.destination_commit, root);
    assert!(codecommit_gate::merge_queue::is_queue_run(input));
    let plan = input.plan.as_ref().expect("planned");
    assert_eq!(
        plan.to_run().count(),
        1,
        "the trusted gate file's check runs"
    );

    let results = vec![CheckResult {
        status: CheckStatus::Passed,
        ..CheckResult::not_run(&"unit".into())
    }];
    let reported = gate_report::handle(
        &gate,
        &FakeLogs::default(),
        ReportRequest::Results {
            input: Box::new(input.clone()),
            results,
        },
    )
    .await
    .expect("reported");
    let ReportOutcome::QueueRun { end } = reported else {
        panic!("a queue run goes back to the queue: {reported:?}");
    };
    assert!(end.passed);
    assert!(
        gate.ledger.records().is_empty(),
        "the pull request's own record is left alone"
    );
    w.sync();
    merge_queue::run_ended(&deps, &end).await.expect("landed");
    assert_eq!(w.tip(), merge);
    assert!(w.queued().await.is_empty());
}

#[tokio::test]
async fn gate_start_hands_a_gate_merge_comment_to_the_queue() {
    let (w, pr, gate) = world();
    let (root, sfn) = (w.tip(), gate.executions.clone());
    let comment = w.cc.add_comment(&pr, AUTHOR, "/gate merge");
    w.sync();
    let mut payload: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string("events/pr-comment.json").expect("the fixture"),
    )
    .expect("JSON");
    payload["detail"]["repositoryName"] = "shop".into();
    payload["detail"]["pullRequestId"] = "1".into();
    payload["detail"]["commentId"] = comment.as_str().into();
    payload["detail"]["callerUserArn"] = AUTHOR.into();
    payload["detail"]["afterCommitId"] =
        w.cc.pull_request_now(&pr)
            .expect("the PR")
            .source_commit
            .as_str()
            .into();
    payload["detail"]["beforeCommitId"] = root.as_str().into();
    let adapters = codecommit_gate::lambda::queue::QueueAdapters {
        merges: w.repo.clone(),
        queues: w.queues.clone(),
    };

    let out = adapters
        .start_handler(&gate, payload)
        .await
        .expect("handled");

    assert_eq!(
        out["start"]["outcome"], "ignored",
        "gate-start's own directives leave it alone: {out}"
    );
    assert_eq!(w.queued().await, ["1"], "{out}");
    let started = sfn.executions();
    assert_eq!(started.len(), 1);
    assert!(codecommit_gate::merge_queue::is_queue_run(
        &started[0].input
    ));
}
