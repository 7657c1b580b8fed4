//! A world for flow stories: a PR in the in-memory CodeCommit, Step Functions, DynamoDB, SNS
//! and CloudWatch Logs, and helpers to send it real-shaped events.
#![allow(dead_code)]

use codecommit_gate::config::Settings;
use codecommit_gate::event::{self, Event};
use codecommit_gate::flows::Deps;
use codecommit_gate::flows::gate_start::{StartOutcome, handle};
use codecommit_gate::ids::{CommentId, CommitId, PullRequestId, RepositoryName, RevisionId};
use codecommit_gate::machine::{CheckRun, ExecutionInput, ReportPayload, RunOutcome, StageChain};
use codecommit_gate::memory::{
    FakeBus, FakeCodeCommit, FakeLedger, FakeLogs, FakeNotifier, FakeStepFunctions, MemoryDeps,
};
use codecommit_gate::plan::ChangedPath;
use codecommit_gate::policy::{CheckResult, CheckStatus};
use codecommit_gate::ports::{
    ApprovalState, ExecutionStatus, Ledger, PrStatus, PullRequestState, RunVerdict,
};
use serde_json::{Value, json};

pub const GATE_ARN: &str = "arn:aws:sts::123456789012:assumed-role/GateReporter/codecommit-gate";
pub const AUTHOR: &str = "arn:aws:sts::123456789012:assumed-role/Developer/alice";
pub const LEAD: &str = "arn:aws:sts::123456789012:assumed-role/Leads/carol";
pub const STRANGER: &str = "arn:aws:iam::123456789012:user/mallory";

pub const GATE_FILE: &str = r#"stages: [lint, test]
components:
  core: {paths: ["libs/core/**"]}
  api: {paths: ["services/api/**"], depends_on: [core]}
  web: {paths: ["web/**"]}
checks:
  fmt: {stage: lint, commands: [cargo fmt --check]}
  api-tests: {stage: test, components: [api], commands: ["cargo test -p api"], timeout: 20, retries: 1, env: {RUST_LOG: debug}}
  web-tests: {stage: test, components: [web], commands: [npm test]}
  docs-links: {stage: lint, components: [web], commands: [make links], required: false}
global: [.gate.yml]
ignore: ["**/*.md"]
skip:
  checks: [docs-links]
  authors: ["arn:aws:sts::123456789012:assumed-role/Leads/*"]
promotion:
  production: [testing]
"#;

pub fn commit(n: u8) -> CommitId {
    CommitId::new(format!(
        "{n:02x}c0ffee{:032x}",
        u128::from(n) * 0x1111_1111_1111_1111
    ))
}

pub fn revision(n: u8) -> RevisionId {
    RevisionId::new(format!("{n:02x}{:062x}", u128::from(n) * 0x0101_0101))
}

pub const BASE: u8 = 1;
pub const DEST: u8 = 2;

pub struct World {
    pub cc: FakeCodeCommit,
    pub sfn: FakeStepFunctions,
    pub ledger: FakeLedger,
    pub sns: FakeNotifier,
    pub bus: FakeBus,
    pub logs: FakeLogs,
    pub deps: MemoryDeps,
    pub pr: PullRequestId,
    pub repo: RepositoryName,
}

impl World {
    /// PR 42 in my-repo, `feature/x` → `main`, source commit 10 (revision 10), with the gate file
    /// and a change to the api component.
    pub fn new() -> World {
        let cc = FakeCodeCommit::new(GATE_ARN);
        let sfn = FakeStepFunctions::default();
        let ledger = FakeLedger::default();
        let sns = FakeNotifier::default();
        let bus = FakeBus::default();
        let pr = PullRequestId::from("42");
        let repo = RepositoryName::from("my-repo");
        cc.put_pull_request(PullRequestState {
            repository: repo.clone(),
            id: pr.clone(),
            title: "Add refunds".into(),
            description: Some("Adds the refund endpoint.".into()),
            author_arn: AUTHOR.into(),
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
        let world = World {
            deps: Deps {
                prs: cc.clone(),
                executions: sfn.clone(),
                ledger: ledger.clone(),
                notifier: sns.clone(),
                bus: bus.clone(),
                settings: Settings::local(GATE_ARN),
            },
            cc,
            sfn,
            ledger,
            sns,
            bus,
            logs: FakeLogs::default(),
            pr,
            repo,
        };
        // The trusted gate file: the destination's. The PR's copy is the same until a story
        // changes it.
        world.cc.put_file(&commit(DEST), ".gate.yml", GATE_FILE);
        world.commit_files(10, GATE_FILE, &["services/api/src/refund.rs"]);
        world
    }

    /// The destination's gate file (the trusted one) at commit `n`.
    pub fn destination_gate_file(&self, n: u8, gate_file: &str) {
        self.cc.put_file(&commit(n), ".gate.yml", gate_file);
    }

    pub fn commit_files(&self, n: u8, gate_file: &str, changed: &[&str]) {
        self.cc.put_file(&commit(n), ".gate.yml", gate_file);
        self.cc.put_diff(
            &commit(BASE),
            &commit(n),
            changed.iter().map(|p| ChangedPath::new(*p)).collect(),
        );
    }

    /// A push of commit `n`: CodeCommit's state changes first, the event comes later.
    pub fn push(&self, n: u8, changed: &[&str]) {
        self.commit_files(n, GATE_FILE, changed);
        self.cc.push(&self.pr, &commit(n), &revision(n));
    }

    pub fn pr_event(&self, kind: &str, n: u8) -> Event {
        let mut e: Value = serde_json::from_str(
            &std::fs::read_to_string("events/pr-created.json").expect("events/pr-created.json"),
        )
        .expect("JSON");
        let d = &mut e["detail"];
        d["event"] = json!(kind);
        d["pullRequestId"] = json!(self.pr.as_str());
        d["sourceCommit"] = json!(commit(n).as_str());
        d["destinationCommit"] = json!(commit(DEST).as_str());
        d["revisionId"] = json!(revision(n).as_str());
        d["sourceReference"] = json!("refs/heads/feature/x");
        match kind {
            "pullRequestStatusChanged" => {
                d["pullRequestStatus"] = json!("Closed");
            }
            "pullRequestMergeStatusUpdated" => {
                d["pullRequestStatus"] = json!("Closed");
                d["isMerged"] = json!("True");
                d["mergeOption"] = json!("THREE_WAY_MERGE");
            }
            _ => {}
        }
        event::parse_value(e).expect("a valid event")
    }

    /// Releases on: the stack releases `production` from `main` with `deploy_role` (and
    /// no other environment).
    pub fn release_production_from_main(&mut self, deploy_role: &str) {
        self.deps.settings.releases = Some(codecommit_gate::config::ReleaseSettings {
            machine_arn: "arn:aws:states:us-east-1:123456789012:stateMachine:gate-release".into(),
            project_prefix: "gate-release".into(),
            artifact_bucket: "gate-artifacts".into(),
            environments: std::collections::BTreeMap::from([(
                "production".to_owned(),
                codecommit_gate::config::StackEnvironment {
                    branch: "main".into(),
                    deploy_role_arn: deploy_role.into(),
                },
            )]),
        });
    }

    pub fn comment_event(&self, comment: &CommentId, by: &str) -> Event {
        let mut e: Value = serde_json::from_str(
            &std::fs::read_to_string("events/pr-comment.json").expect("events/pr-comment.json"),
        )
        .expect("JSON");
        e["detail"]["commentId"] = json!(comment.as_str());
        e["detail"]["callerUserArn"] = json!(by);
        e["detail"]["pullRequestId"] = json!(self.pr.as_str());
        event::parse_value(e).expect("a valid event")
    }

    /// A push that moved `branch` from the destination commit to commit `to` (a real
    /// *Repository State Change* `referenceUpdated`).
    pub fn branch_moved(&self, branch: &str, to: u8) -> Event {
        let text =
            std::fs::read_to_string("tests/data/events/codecommit-reference-updated-merge.json")
                .expect("fixture");
        let mut e: Value = serde_json::from_str(&text).expect("JSON");
        let d = &mut e["detail"];
        d["repositoryName"] = json!(self.repo.as_str());
        d["referenceName"] = json!(branch);
        d["referenceFullName"] = json!(format!("refs/heads/{branch}"));
        d["commitId"] = json!(commit(to).as_str());
        d["oldCommitId"] = json!(commit(DEST).as_str());
        event::parse_value(e).expect("a valid event")
    }

    pub async fn send(&self, event: Event) -> StartOutcome {
        handle(&self.deps, event).await.expect("the flow succeeds")
    }

    pub fn gate_comments(&self) -> Vec<String> {
        self.cc
            .comments(&self.pr)
            .into_iter()
            .filter(|c| c.data.author_arn == GATE_ARN && c.in_reply_to.is_none())
            .map(|c| c.data.content)
            .collect()
    }

    pub fn replies(&self) -> Vec<String> {
        self.cc
            .comments(&self.pr)
            .into_iter()
            .filter(|c| c.in_reply_to.is_some())
            .map(|c| c.data.content)
            .collect()
    }

    pub fn approval(&self, n: u8) -> Option<ApprovalState> {
        self.cc.approval(&self.pr, &revision(n))
    }

    /// What gate-report will do: record the run's results in the ledger.
    pub async fn finish_run(&self, verdict: RunVerdict, results: Vec<CheckResult>) {
        let mut record = self
            .ledger
            .get(&self.repo, &self.pr)
            .await
            .expect("ledger")
            .expect("record");
        let run = record.run.as_mut().expect("run");
        run.verdict = Some(verdict);
        run.reported = true;
        run.results = results;
        if let Some(arn) = &run.execution_arn {
            self.sfn.finish(arn, ExecutionStatus::Succeeded);
        }
        assert_eq!(
            self.ledger.put(&record).await.expect("put"),
            codecommit_gate::ports::Written::Written
        );
    }
}

impl World {
    /// The pull request runs' state changes announced on the bus, in order.
    pub fn run_changes(&self) -> Vec<codecommit_gate::announce::RunChange> {
        self.bus
            .events()
            .into_iter()
            .filter(|e| e.detail_type == codecommit_gate::announce::RUN_DETAIL_TYPE)
            .map(|e| serde_json::from_value(e.detail).expect("a run change"))
            .collect()
    }

    /// The states of [`World::run_changes`].
    pub fn run_states(&self) -> Vec<codecommit_gate::announce::RunState> {
        self.run_changes().into_iter().map(|c| c.state).collect()
    }
}

/// The gate decided without running anything and did not approve (a comment says why).
pub fn assert_refused(outcome: &StartOutcome) {
    assert!(
        matches!(
            outcome,
            StartOutcome::Decided {
                approved: false,
                ..
            }
        ),
        "expected a refusal, got {outcome:?}"
    );
}

pub fn result(name: &str, status: CheckStatus) -> CheckResult {
    CheckResult {
        name: name.into(),
        status,
        duration_ms: Some(1_000),
        attempts: 1,
        flaky: false,
        log_url: None,
        log_tail: None,
        reports: None,
        reused: None,
    }
}

impl World {
    /// The input of the newest execution.
    pub fn last_input(&self) -> ExecutionInput {
        self.sfn.executions().pop().expect("an execution").input
    }

    /// Sends gate-report a report of `input` with these runs (one stage link per input stage).
    pub async fn report(
        &self,
        input: &ExecutionInput,
        runs: &[CheckRun],
    ) -> codecommit_gate::flows::gate_report::ReportOutcome {
        let mut chain = StageChain {
            results: Vec::new(),
            prev: None,
        };
        for stage in &input.stages {
            let results: Vec<CheckRun> = runs
                .iter()
                .filter(|r| stage.checks.iter().any(|c| c.name == r.name))
                .cloned()
                .collect();
            if !results.is_empty() {
                chain = StageChain {
                    results,
                    prev: Some(Box::new(chain)),
                };
            }
        }
        let payload = ReportPayload {
            input: input.clone(),
            stages: Some(chain),
            failure: None,
            started_at: Some("2026-11-22T10:00:00Z".into()),
        };
        self.report_payload(payload).await
    }

    /// Sends gate-report a payload as the state machine would.
    /// The report step is the machine's last: the execution ends after it.
    pub async fn report_payload(
        &self,
        payload: ReportPayload,
    ) -> codecommit_gate::flows::gate_report::ReportOutcome {
        let name = payload.input.execution_name.clone();
        let outcome = codecommit_gate::flows::gate_report::handle(
            &self.deps,
            &self.logs,
            codecommit_gate::flows::gate_report::ReportRequest::Report(Box::new(payload)),
        )
        .await
        .expect("gate-report succeeds");
        self.sfn.finish_named(&name, ExecutionStatus::Succeeded);
        outcome
    }
}

/// A passing check run with a realistic CodeBuild `Build` object.
pub fn passed_run(name: &str, attempts: u32) -> CheckRun {
    CheckRun {
        name: name.into(),
        required: true,
        outcome: RunOutcome::Passed,
        attempts,
        build: Some(build_json(name, "SUCCEEDED")),
        error: None,
        cause: None,
    }
}

/// A failed check run: the task failed and its cause is the build.
pub fn failed_run(name: &str, build_status: &str) -> CheckRun {
    CheckRun {
        name: name.into(),
        required: true,
        outcome: RunOutcome::Failed,
        attempts: 1,
        build: None,
        error: Some("States.TaskFailed".into()),
        cause: Some(json!({ "Build": build_json(name, build_status) }).to_string()),
    }
}

/// A CodeBuild build as Step Functions returns it (PascalCase, epoch-millisecond times).
pub fn build_json(name: &str, status: &str) -> Value {
    json!({
        "Arn": format!("arn:aws:codebuild:us-east-1:123456789012:build/gate-my-repo-pr42:{name}"),
        "BuildStatus": status,
        "StartTime": 1_763_805_600_000u64,
        "EndTime": 1_763_805_665_000u64,
        "Phases": [
            {"PhaseType": "SUBMITTED", "DurationInSeconds": 0},
            {"PhaseType": "QUEUED", "DurationInSeconds": 4},
            {"PhaseType": "BUILD", "DurationInSeconds": 55}
        ],
        "Logs": {
            "GroupName": "/aws/codebuild/gate",
            "StreamName": format!("{name}/stream"),
            "DeepLink": format!("https://console.aws.amazon.com/cloudwatch/home?region=us-east-1#logsV2:log-groups/log-group/$252Faws$252Fcodebuild$252Fgate/log-events/{name}")
        }
    })
}
