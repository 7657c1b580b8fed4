//! The merge queue under random interleavings of `/gate merge` and `/gate unqueue`, pushes to
//! queued pull requests (with their event, or with it late), pushes straight onto the
//! destination, runs passing and failing (current, stale or reported twice) and closes, at
//! queue depths 1 to 3. Whatever the order:
//! - main only ever moves to a commit that a passing run tested on the commit main pointed
//!   at just before (or a commit someone pushed straight onto it);
//! - every change main contains was pushed straight onto it or is in a queued source that a
//!   passing run tested: a commit pushed to a pull request after it was queued never merges
//!   untested;
//! - once every run reports a pass, the queue drains.

use crate::queue_world;

use codecommit_gate::ids::PullRequestId;
use proptest::prelude::*;
use queue_world::*;

/// Cases per run; `PROPTEST_CASES` overrides it.
const CASES: u32 = 256;
/// Pull requests in play.
const PRS: u32 = 4;

#[derive(Debug, Clone)]
enum Op {
    /// The author comments `/gate merge` on a PR.
    Enqueue(u32),
    /// The author comments `/gate unqueue`.
    Unqueue(u32),
    /// A running run reports (pass or fail).
    Finish { run: usize, pass: bool },
    /// A run that already reported reports again (EventBridge redelivers).
    Redeliver(usize),
    /// Someone pushes straight onto main.
    PushMain,
    /// The author pushes to a PR; its event arrives now, or later (never, in this case).
    PushPr { pr: u32, event: bool },
    /// The PR is closed.
    Close(u32),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (1..=PRS).prop_map(Op::Enqueue),
        1 => (1..=PRS).prop_map(Op::Unqueue),
        6 => ((0usize..4), prop::bool::weighted(0.7)).prop_map(|(run, pass)| Op::Finish { run, pass }),
        2 => (0usize..8).prop_map(Op::Redeliver),
        1 => Just(Op::PushMain),
        1 => ((1..=PRS), any::<bool>()).prop_map(|(pr, event)| Op::PushPr { pr, event }),
        1 => (1..=PRS).prop_map(Op::Close),
    ]
}

struct Model {
    world: QueueWorld,
    pushes: u32,
}

fn id(n: u32) -> PullRequestId {
    PullRequestId::from(n.to_string().as_str())
}

impl Model {
    fn new(depth: u32) -> Model {
        let world = QueueWorld::new(&gate_file(depth, ""));
        for n in 1..=PRS {
            world.open_pr(n, AUTHOR);
        }
        Model { world, pushes: 0 }
    }

    async fn apply(&mut self, op: &Op) {
        let w = &self.world;
        match op {
            Op::Enqueue(n) => {
                w.comment(&id(*n), AUTHOR, "/gate merge").await;
            }
            Op::Unqueue(n) => {
                w.comment(&id(*n), AUTHOR, "/gate unqueue").await;
            }
            Op::Finish { run, pass } => {
                let running = w.running();
                if !running.is_empty() {
                    w.finish(&running[run % running.len()], *pass).await;
                }
            }
            Op::Redeliver(i) => {
                let reported: Vec<(String, bool)> = w
                    .reported
                    .lock()
                    .expect("not poisoned")
                    .iter()
                    .map(|(k, v)| (k.clone(), *v))
                    .collect();
                if !reported.is_empty() {
                    let (name, passed) = &reported[i % reported.len()];
                    let run = w
                        .checks
                        .started()
                        .into_iter()
                        .find(|r| &r.testing.execution_name == name)
                        .expect("a reported run was started");
                    w.finish(&run, *passed).await;
                }
            }
            Op::PushMain => {
                self.pushes += 1;
                w.push_main(&format!("main{}", self.pushes)).await;
            }
            Op::PushPr { pr, event } => {
                self.pushes += 1;
                let open = w.cc.pull_request_now(&id(*pr)).expect("the PR exists");
                if open.status == codecommit_gate::ports::PrStatus::Open {
                    let commit = w.push_pr(&id(*pr), &format!("pr{pr}-push{}", self.pushes));
                    if *event {
                        w.source_event(&id(*pr), &commit).await;
                    }
                }
            }
            Op::Close(n) => {
                let open = w.cc.pull_request_now(&id(*n)).expect("the PR exists");
                if open.status == codecommit_gate::ports::PrStatus::Open {
                    w.close(&id(*n)).await;
                }
            }
        }
        self.check();
    }

    fn check(&self) {
        let w = &self.world;
        w.assert_main_only_moved_to_tested_commits();
        let reported = w.reported.lock().expect("not poisoned");
        let tested: Vec<_> = w
            .checks
            .started()
            .into_iter()
            .filter(|r| reported.get(&r.testing.execution_name) == Some(&true))
            .map(|r| r.entry.source_commit)
            .collect();
        let tip = w.tip();
        for n in 1..=PRS {
            for push in 1..=self.pushes {
                let patch = format!("pr{n}-push{push}");
                if w.repo.contains(&tip, &patch) {
                    assert!(
                        tested.iter().any(|s| w.repo.contains(s, &patch)),
                        "main contains {patch}, which no queued source that passed contained"
                    );
                }
            }
        }
    }

    /// Every run passes until nothing runs: the queue must drain.
    async fn drain(&mut self) {
        for _ in 0..64 {
            let running = self.world.running();
            let Some(run) = running.first() else { break };
            self.world.finish(run, true).await;
            self.check();
        }
        assert!(
            self.world.queue().await.is_empty(),
            "the queue is stuck: {:#?}",
            self.world.queue().await
        );
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(
        std::env::var("PROPTEST_CASES").ok().and_then(|c| c.parse().ok()).unwrap_or(CASES)
    ))]
    #[test]
    fn the_destination_only_ever_points_at_tested_merges(
        depth in 1u32..=3,
        ops in prop::collection::vec(op(), 1..40),
    ) {
        let rt = tokio::runtime::Builder::new_current_thread().build().expect("runtime");
        rt.block_on(async {
            let mut model = Model::new(depth);
            for op in &ops {
                model.apply(op).await;
            }
            model.drain().await;
        });
    }
}
