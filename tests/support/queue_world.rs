//! The merge queue's world for stories and the property test: a fake CodeCommit with pull
//! requests and comments, a fake repository with commits, trees and branches, fake queues with
//! a real compare-and-swap, fake runs, and the queue's flow wired to them.

#![allow(dead_code)]

use codecommit_gate::flows::merge_queue::{self, Handled, QueueDeps, QueueFlowSettings, QueueRun};
use codecommit_gate::ids::{CommitId, PullRequestId, RepositoryName, RevisionId};
use codecommit_gate::memory::FakeCodeCommit;
use codecommit_gate::memory::merges::{FakeMergeQueues, FakeQueueChecks, FakeRepository};
use codecommit_gate::merge_queue::Entry;
use codecommit_gate::ports::merges::{MergeQueues, StoredQueue};
use codecommit_gate::ports::{PrStatus, PullRequestState};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Mutex;

pub const GATE_ARN: &str = "arn:aws:sts::123456789012:assumed-role/GateReporter/codecommit-gate";
pub const AUTHOR: &str = "arn:aws:sts::123456789012:assumed-role/Developer/alice";
pub const OTHER_AUTHOR: &str = "arn:aws:sts::123456789012:assumed-role/Developer/bob";
pub const LEAD: &str = "arn:aws:sts::123456789012:assumed-role/Leads/carol";
pub const STRANGER: &str = "arn:aws:iam::123456789012:user/mallory";
pub const MAIN: &str = "main";

/// A gate file whose queue tests `depth` entries at once.
pub fn gate_file(depth: u32, extra: &str) -> String {
    format!(
        r#"stages: [test]
checks:
  unit:
    stage: test
    commands: [cargo test]
skip:
  authors: ["arn:aws:sts::123456789012:assumed-role/Leads/*"]
merge:
  depth: {depth}
{extra}"#
    )
}

/// The end of `run` as gate-report hands it over.
pub fn end(run: &QueueRun, passed: bool) -> codecommit_gate::merge_queue::RunEnd {
    codecommit_gate::merge_queue::RunEnd {
        repository: run.repository.clone(),
        destination: run.destination.clone(),
        pull_request: run.entry.pull_request.clone(),
        execution_name: run.testing.execution_name.clone(),
        passed,
    }
}

pub type Deps = QueueDeps<(
    FakeCodeCommit,
    FakeRepository,
    FakeMergeQueues,
    FakeQueueChecks,
)>;

pub struct QueueWorld {
    pub deps: Deps,
    pub cc: FakeCodeCommit,
    pub repo: FakeRepository,
    pub queues: FakeMergeQueues,
    pub checks: FakeQueueChecks,
    pub repository: RepositoryName,
    pub gate_file: String,
    clock: Mutex<u64>,
    /// Runs that reported, by name: whether they passed.
    pub reported: Mutex<BTreeMap<String, bool>>,
    /// Commits someone pushed straight onto main (not through the queue).
    pub direct: Mutex<BTreeSet<CommitId>>,
}

impl QueueWorld {
    pub fn new(gate_file: &str) -> Self {
        let cc = FakeCodeCommit::new(GATE_ARN);
        let repo = FakeRepository::new(cc.clone());
        let queues = FakeMergeQueues::default();
        let checks = FakeQueueChecks::default();
        let root = repo.commit(None, &["base"]);
        repo.set_branch(MAIN, &root);
        let world = QueueWorld {
            deps: QueueDeps {
                prs: cc.clone(),
                merges: repo.clone(),
                queues: queues.clone(),
                checks: checks.clone(),
                settings: QueueFlowSettings {
                    gate_file_path: ".gate.yml".into(),
                    approver_arn: GATE_ARN.into(),
                    author_name: "codecommit-gate".into(),
                    email: "gate@example.com".into(),
                },
            },
            cc,
            repo,
            queues,
            checks,
            repository: RepositoryName::from("shop"),
            gate_file: gate_file.to_owned(),
            clock: Mutex::new(1_700_000_000_000),
            reported: Mutex::default(),
            direct: Mutex::default(),
        };
        world.direct.lock().expect("not poisoned").insert(root);
        world
    }

    pub fn tip(&self) -> CommitId {
        self.repo.tip(MAIN).expect("main exists")
    }

    /// Opens pull request `n` by `author` with one change `pr<n>` on top of main.
    pub fn open_pr(&self, n: u32, author: &str) -> PullRequestId {
        let id = PullRequestId::from(n.to_string().as_str());
        let tip = self.tip();
        let source = self.repo.commit(Some(&tip), &[&format!("pr{n}")]);
        self.repo.set_branch(&format!("feature/{n}"), &source);
        self.cc.put_pull_request(PullRequestState {
            repository: self.repository.clone(),
            id: id.clone(),
            title: format!("Change {n}"),
            description: None,
            author_arn: author.into(),
            status: PrStatus::Open,
            is_merged: false,
            source_reference: format!("refs/heads/feature/{n}"),
            destination_reference: "refs/heads/main".into(),
            source_commit: source,
            destination_commit: tip.clone(),
            merge_base: Some(tip),
            revision_id: RevisionId::from(format!("rev-{n}-1").as_str()),
            approval_rules: Vec::new(),
        });
        id
    }

    /// The gate file at every commit, every PR's destination commit at main's tip (as
    /// CodeCommit reports them).
    pub fn sync(&self) {
        for commit in self.repo.commits() {
            self.cc.put_file(&commit, ".gate.yml", &self.gate_file);
        }
        let tip = self.tip();
        for n in 0..64u32 {
            let id = PullRequestId::from(n.to_string().as_str());
            if let Some(mut pr) = self.cc.pull_request_now(&id) {
                pr.destination_commit = tip.clone();
                self.cc.put_pull_request(pr);
            }
        }
    }

    fn tick(&self) -> u64 {
        let mut clock = self.clock.lock().expect("not poisoned");
        *clock += 1000;
        *clock
    }

    /// `author` comments `text` on `pr`; the queue handles it.
    pub async fn comment(&self, pr: &PullRequestId, author: &str, text: &str) -> Handled {
        let id = self.cc.add_comment(pr, author, text);
        self.deliver_comment(pr, &id).await
    }

    /// Delivers (again) the comment event of `id`.
    pub async fn deliver_comment(
        &self,
        pr: &PullRequestId,
        id: &codecommit_gate::ids::CommentId,
    ) -> Handled {
        self.sync();
        let now = self.tick();
        merge_queue::command(&self.deps, pr, id, now)
            .await
            .expect("the queue handles the command")
    }

    /// The run started for `pr` most recently.
    pub fn run_of(&self, pr: &PullRequestId) -> QueueRun {
        self.checks
            .started()
            .into_iter()
            .rev()
            .find(|r| &r.entry.pull_request == pr)
            .expect("a run was started for the pull request")
    }

    /// The runs started that neither reported nor were stopped.
    pub fn running(&self) -> Vec<QueueRun> {
        let reported = self.reported.lock().expect("not poisoned");
        self.checks
            .started()
            .into_iter()
            .filter(|r| {
                !reported.contains_key(&r.testing.execution_name)
                    && !self.checks.was_stopped(&r.testing.execution_name)
            })
            .collect()
    }

    /// `run` ends (again, for a redelivery).
    pub async fn finish(&self, run: &QueueRun, passed: bool) -> Handled {
        self.reported
            .lock()
            .expect("not poisoned")
            .insert(run.testing.execution_name.clone(), passed);
        self.sync();
        merge_queue::run_ended(&self.deps, &end(run, passed))
            .await
            .expect("the queue handles the run's end")
    }

    /// Someone pushes `patch` straight onto main; the push's event reaches the queue.
    pub async fn push_main(&self, patch: &str) -> CommitId {
        let commit = self.repo.push(MAIN, &[patch]);
        self.direct
            .lock()
            .expect("not poisoned")
            .insert(commit.clone());
        self.sync();
        merge_queue::settle(&self.deps, &self.repository, MAIN)
            .await
            .expect("the queue settles");
        commit
    }

    /// The author pushes `patch` onto `pr`'s source (no event yet): the new source commit.
    pub fn push_pr(&self, pr: &PullRequestId, patch: &str) -> CommitId {
        let now = self.cc.pull_request_now(pr).expect("the PR exists");
        let commit = self.repo.commit(Some(&now.source_commit), &[patch]);
        self.repo.set_branch(now.source_branch(), &commit);
        self.cc.push(
            pr,
            &commit,
            &RevisionId::from(format!("rev-{pr}-{patch}").as_str()),
        );
        commit
    }

    /// The source-updated event of `pr` at `commit` reaches the queue.
    pub async fn source_event(&self, pr: &PullRequestId, commit: &CommitId) -> Handled {
        self.sync();
        merge_queue::source_updated(&self.deps, pr, commit)
            .await
            .expect("the queue handles the push")
    }

    /// `pr` is closed by a person; its event reaches the queue.
    pub async fn close(&self, pr: &PullRequestId) -> Handled {
        self.cc.close(pr, false);
        self.sync();
        merge_queue::closed(&self.deps, pr)
            .await
            .expect("the queue handles the close")
    }

    pub async fn queue(&self) -> Vec<Entry> {
        let q: StoredQueue<Entry> = self
            .queues
            .load(&self.repository, MAIN)
            .await
            .expect("the queue loads");
        q.entries
    }

    pub async fn queued(&self) -> Vec<String> {
        self.queue()
            .await
            .iter()
            .map(|e| e.pull_request.to_string())
            .collect()
    }

    /// The gate's queue comment on `pr`, if any.
    pub fn queue_comment(&self, pr: &PullRequestId) -> Option<String> {
        let marker = codecommit_gate::report::queue::marker(&self.repository, pr);
        self.cc
            .comments(pr)
            .into_iter()
            .filter(|c| c.data.author_arn == GATE_ARN && c.data.content.ends_with(&marker))
            .map(|c| c.data.content)
            .next_back()
    }

    /// The gate's replies on `pr`.
    pub fn replies(&self, pr: &PullRequestId) -> Vec<String> {
        self.cc
            .comments(pr)
            .into_iter()
            .filter(|c| c.data.author_arn == GATE_ARN && c.in_reply_to.is_some())
            .map(|c| c.data.content)
            .collect()
    }

    /// The rule: every commit main ever pointed at was pushed straight onto it or is the merge
    /// commit of a run that passed on the commit main pointed at just before.
    pub fn assert_main_only_moved_to_tested_commits(&self) {
        let reported = self.reported.lock().expect("not poisoned");
        let passed: BTreeMap<CommitId, CommitId> = self
            .checks
            .started()
            .into_iter()
            .filter(|r| reported.get(&r.testing.execution_name) == Some(&true))
            .map(|r| (r.testing.merge_commit.clone(), r.testing.tested_on.clone()))
            .collect();
        let direct = self.direct.lock().expect("not poisoned");
        let moves = self.repo.moves(MAIN);
        for (i, commit) in moves.iter().enumerate() {
            if direct.contains(commit) {
                continue;
            }
            let tested_on = passed.get(commit).unwrap_or_else(|| {
                panic!("main moved to {commit}, which no passing run tested: {moves:?}")
            });
            assert_eq!(
                Some(tested_on),
                i.checked_sub(1).map(|j| &moves[j]),
                "main moved to {commit}, tested on {tested_on}, from another commit"
            );
        }
    }
}
