//! Ordering: random interleavings of pushes, duplicate and late events, run results (pass, fail,
//! stale), comment commands and close/merge, against the in-memory AWS. Whatever the order:
//! - the gate never approves a revision unless a run of exactly that revision passed;
//! - a closed pull request is never approved;
//! - once every event is delivered, the sticky comment describes the newest commit.

use crate::world;

use codecommit_gate::flows::gate_report::ReportOutcome as Reported;
use codecommit_gate::ids::RevisionId;
use codecommit_gate::ports::ApprovalState;
use proptest::prelude::*;
use std::collections::HashSet;
use world::*;

/// Cases per run; `PROPTEST_CASES` overrides it (docs/reliability.md gives the figure).
const CASES: u32 = 256;

#[derive(Debug, Clone)]
enum Op {
    /// The author pushes a new commit; its event is queued.
    Push,
    /// EventBridge delivers a queued event (and may deliver it again later).
    Deliver(usize),
    /// EventBridge delivers a queued event and forgets it.
    DeliverOnce(usize),
    /// Some execution (current, superseded or stopped) reports: all pass, or one fails.
    Report { execution: usize, pass: bool },
    /// The author comments `/gate retry`.
    Retry,
    /// The PR is closed (merged or not); the event is queued.
    Close { merged: bool },
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        2 => Just(Op::Push),
        3 => (0usize..8).prop_map(Op::Deliver),
        2 => (0usize..8).prop_map(Op::DeliverOnce),
        3 => ((0usize..8), any::<bool>()).prop_map(|(execution, pass)| Op::Report { execution, pass }),
        1 => Just(Op::Retry),
        1 => any::<bool>().prop_map(|merged| Op::Close { merged }),
    ]
}

struct Model {
    world: World,
    queue: Vec<codecommit_gate::event::Event>,
    newest: u8,
    closed: bool,
    passed: HashSet<RevisionId>,
}

impl Model {
    fn new() -> Model {
        let world = World::new();
        let first = world.pr_event("pullRequestCreated", 10);
        Model {
            world,
            queue: vec![first],
            newest: 10,
            closed: false,
            passed: HashSet::new(),
        }
    }

    async fn apply(&mut self, op: &Op) {
        let w = &self.world;
        match op {
            Op::Push if !self.closed && self.newest < 30 => {
                self.newest += 1;
                let path = if self.newest.is_multiple_of(2) {
                    "services/api/a.rs"
                } else {
                    "web/a.ts"
                };
                w.push(self.newest, &[path]);
                self.queue
                    .push(w.pr_event("pullRequestSourceBranchUpdated", self.newest));
            }
            Op::Push => {}
            Op::Deliver(i) | Op::DeliverOnce(i) if !self.queue.is_empty() => {
                let i = i % self.queue.len();
                let event = if matches!(op, Op::DeliverOnce(_)) {
                    self.queue.remove(i)
                } else {
                    self.queue[i].clone()
                };
                w.send(event).await;
            }
            Op::Deliver(_) | Op::DeliverOnce(_) => {}
            Op::Report { execution, pass } => {
                let executions: Vec<_> = w
                    .sfn
                    .executions()
                    .into_iter()
                    .filter(|e| e.input.mode == codecommit_gate::machine::Mode::Gate)
                    .collect();
                if executions.is_empty() {
                    return;
                }
                let input = executions[execution % executions.len()].input.clone();
                let runs: Vec<_> = input
                    .stages
                    .iter()
                    .flat_map(|s| &s.checks)
                    .enumerate()
                    .map(|(k, c)| {
                        if !pass && k == 0 {
                            failed_run(c.name.as_str(), "FAILED")
                        } else {
                            passed_run(c.name.as_str(), 1)
                        }
                    })
                    .collect();
                let full_pass =
                    *pass && input.carried_results.iter().all(|r| r.status.is_success());
                if full_pass && let Some(rev) = &input.subject.revision_id {
                    self.passed.insert(rev.clone());
                }
                let outcome = w.report(&input, &runs).await;
                if self.closed {
                    assert!(
                        !matches!(&outcome, Reported::Reported { approval, .. } if approval == "approved"),
                        "approved a closed pull request: {outcome:?}"
                    );
                }
            }
            Op::Retry if !self.closed => {
                let c = w.cc.add_comment(&w.pr, AUTHOR, "/gate retry");
                w.send(w.comment_event(&c, AUTHOR)).await;
            }
            Op::Retry => {}
            Op::Close { merged } if !self.closed => {
                self.closed = true;
                w.cc.close(&w.pr, *merged);
                let kind = if *merged {
                    "pullRequestMergeStatusUpdated"
                } else {
                    "pullRequestStatusChanged"
                };
                self.queue.push(w.pr_event(kind, self.newest));
            }
            Op::Close { .. } => {}
        }
        self.check();
    }

    fn check(&self) {
        let w = &self.world;
        for n in 10..=self.newest {
            if w.approval(n) == Some(ApprovalState::Approve) {
                assert!(
                    self.passed.contains(&revision(n)),
                    "revision {n} is approved but no run of it passed"
                );
            }
        }
    }

    async fn settle(&mut self) {
        let queue = std::mem::take(&mut self.queue);
        for event in queue {
            self.world.send(event).await;
        }
        self.check();
        let w = &self.world;
        if !self.closed && !w.sfn.executions().is_empty() {
            let comments = w.gate_comments();
            assert_eq!(comments.len(), 1, "one sticky comment");
            let newest = commit(self.newest);
            assert!(
                comments[0].contains(newest.short()),
                "the comment must describe the newest commit {}: {}",
                newest.short(),
                comments[0]
            );
        }
        if self.closed {
            assert!(
                w.sfn
                    .running()
                    .iter()
                    .all(|e| e.input.mode == codecommit_gate::machine::Mode::Cleanup)
            );
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(
        std::env::var("PROPTEST_CASES").ok().and_then(|c| c.parse().ok()).unwrap_or(CASES)
    ))]
    #[test]
    fn no_interleaving_approves_untested_code(ops in prop::collection::vec(op(), 1..30)) {
        let rt = tokio::runtime::Builder::new_current_thread().build().expect("runtime");
        rt.block_on(async {
            let mut model = Model::new();
            for op in &ops {
                model.apply(op).await;
            }
            model.settle().await;
        });
    }
}
