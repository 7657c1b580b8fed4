//! Stories of the end of a release (gate-release's `finish`), against the in-memory fakes: a
//! push starts a release, the release machine "runs" (the story writes what its last step
//! would send), and `finish` records it, moves the environment and the lane, starts the
//! queued release, announces the end and, unless it released, notifies. Redelivered finishes
//! and competing writers change nothing twice.

use crate::world;

use codecommit_gate::announce::{RELEASE_DETAIL_TYPE, ReleaseChange, ReleaseState};
use codecommit_gate::flows::release_finish::{FinishOutcome, finish};
use codecommit_gate::flows::release_start::ReleaseStart;
use codecommit_gate::machine::release::ReleaseExecutionInput;
use codecommit_gate::machine::release::payload::{
    APPROVAL_REFUSED_ERROR, ApprovalAnswer, ApprovalChannel, ReleaseReport,
};
use codecommit_gate::machine::{MachineError, StageChain};
use codecommit_gate::plan::ChangedPath;
use codecommit_gate::ports::{EnvironmentRecord, Ledger, PendingApproval, Written};
use codecommit_gate::release::{ApprovalDecision, ReleaseOutcome, ReleaseRecord, RollbackHow};
use world::{World, commit, failed_run, passed_run};

const RELEASE_GATE: &str = r#"stages: [test]
components:
  network: {paths: [infra/network/], deploy: {commands: [./net.sh]}}
  app: {paths: [app/], depends_on: [network], deploy: {commands: [./app.sh], rollback: [./app-undo.sh]}}
checks:
  unit: {stage: test, commands: [make test]}
environments:
  production:
    branch: main
    checks: [unit]
    approval: {approvers: ["arn:aws:sts::123456789012:assumed-role/Leads/*"], timeout: 60}
"#;

const ROLE: &str = "arn:aws:iam::123456789012:role/gate-deploy-production";
const LEAD: &str = "arn:aws:sts::123456789012:assumed-role/Leads/carol";

/// A stack that releases production from `main`; the gate file at commits 19 to 23; the
/// environment at commit 19 (P), and commits 20 to 23 changing both components since.
fn world() -> World {
    let mut w = World::new();
    w.release_production_from_main(ROLE);
    for n in 19..24 {
        w.cc.put_file(&commit(n), ".gate.yml", RELEASE_GATE);
        w.cc.put_diff(
            &commit(19),
            &commit(n),
            vec![
                ChangedPath::new("infra/network/vpc.yml"),
                ChangedPath::new("app/main.rs"),
            ],
        );
    }
    w
}

/// The environment already released at commit 19.
async fn released_at_19(w: &World) {
    let mut record = EnvironmentRecord::new(w.repo.clone(), "production");
    record.state.commit = Some(commit(19).as_str().to_owned());
    record.state.release = Some("release-19".into());
    let written = w.ledger.put_environment(&record).await.expect("put");
    assert_eq!(written, Written::Written);
}

/// A push of commit `n` to main; the input of the release it started, if it started one.
async fn push(w: &World, n: u8) -> ReleaseExecutionInput {
    let before = w.sfn.releases().len();
    w.send(w.branch_moved("main", n)).await;
    let releases = w.sfn.releases();
    assert_eq!(releases.len(), before + 1, "the push started a release");
    releases[before].1.clone()
}

fn arn(input: &ReleaseExecutionInput) -> String {
    format!(
        "arn:aws:states:us-east-1:123456789012:execution:gate-release:{}",
        input.execution_name
    )
}

/// What the release machine's last step sends after every step passed.
fn report(input: &ReleaseExecutionInput) -> ReleaseReport {
    let checks = input.checks.iter().fold(
        StageChain {
            results: Vec::new(),
            prev: None,
        },
        |prev, stage| StageChain {
            results: stage
                .checks
                .iter()
                .map(|c| passed_run(c.name.as_str(), 1))
                .collect(),
            prev: Some(Box::new(prev)),
        },
    );
    ReleaseReport {
        input: input.clone(),
        execution_arn: arn(input),
        started_at: Some("2026-11-22T10:00:00Z".into()),
        checks: Some(checks),
        approval: Some(answer(ApprovalDecision::Approved)),
        approval_error: None,
        packages: Vec::new(),
        deploys: input
            .waves
            .iter()
            .map(|w| {
                w.deploys
                    .iter()
                    .map(|d| passed_run(d.component.as_str(), 1))
                    .collect()
            })
            .collect(),
        rollbacks: Vec::new(),
        failure: None,
    }
}

fn answer(decision: ApprovalDecision) -> ApprovalAnswer {
    ApprovalAnswer {
        approver: LEAD.into(),
        at: "2026-11-22T10:05:00Z".into(),
        decision,
        channel: ApprovalChannel::Comment,
        reason: (decision == ApprovalDecision::Refused).then(|| "not during the sale".into()),
    }
}

async fn finished(w: &World, report: &ReleaseReport) -> FinishOutcome {
    finish(&w.deps, &w.logs, report)
        .await
        .expect("finish succeeds")
}

async fn environment(w: &World) -> EnvironmentRecord {
    w.ledger
        .environment(&w.repo, "production")
        .await
        .expect("read")
        .expect("written")
}

fn record_of(w: &World, input: &ReleaseExecutionInput) -> ReleaseRecord {
    w.ledger
        .releases()
        .into_iter()
        .find(|r| r.id == input.execution_name)
        .expect("recorded")
}

/// The release state changes announced, in order.
fn announced(w: &World) -> Vec<ReleaseChange> {
    w.bus
        .events()
        .into_iter()
        .filter(|e| e.detail_type == RELEASE_DETAIL_TYPE)
        .map(|e| serde_json::from_value(e.detail).expect("a release change"))
        .collect()
}

fn last_state(w: &World) -> ReleaseState {
    announced(w).last().expect("announced").state
}

#[tokio::test]
async fn a_successful_release_moves_the_environment_and_frees_the_lane() {
    let w = world();
    released_at_19(&w).await;
    let input = push(&w, 20).await;
    assert_eq!(last_state(&w), ReleaseState::Started);
    let mut env = environment(&w).await;
    env.pending_approval = Some(PendingApproval {
        execution_name: input.execution_name.clone(),
        execution_arn: arn(&input),
        commit: commit(20),
        sequence: input.sequence,
        task_token: "token".into(),
        approvers: Vec::new(),
        authors: Vec::new(),
        requested_at: "2026-11-22T10:01:00Z".into(),
        expires_at: "2026-11-22T11:01:00Z".into(),
        previous: None,
        components: Vec::new(),
        announced: true,
        decision: None,
        attempts: Vec::new(),
    });
    assert_eq!(
        w.ledger.put_environment(&env).await.expect("put"),
        Written::Written
    );

    let out = finished(&w, &report(&input)).await;
    assert_eq!(out.outcome, ReleaseOutcome::Released);
    assert_eq!(out.state, ReleaseState::Succeeded);
    assert!(out.lane_moved && out.environment_moved && !out.notified);
    let record = record_of(&w, &input);
    assert_eq!(record.outcome, ReleaseOutcome::Released);
    assert_eq!(record.checks.len(), 1);
    assert_eq!(record.checks[0].duration_ms, Some(65_000), "from the build");
    assert!(record.checks[0].log_url.is_some());
    let deployed: Vec<(&str, usize)> = record
        .deploys
        .iter()
        .map(|d| (d.component.as_str(), d.wave))
        .collect();
    assert_eq!(deployed, [("network", 0), ("app", 1)]);
    let approval = record.approval.as_ref().expect("approval");
    assert_eq!(
        (approval.approver.as_str(), approval.decision),
        (LEAD, ApprovalDecision::Approved)
    );

    let env = environment(&w).await;
    assert_eq!(env.state.commit.as_deref(), Some(commit(20).as_str()));
    assert_eq!(
        env.state.release.as_deref(),
        Some(input.execution_name.as_str())
    );
    assert_eq!(env.state.components["app"].commit, commit(20).as_str());
    assert!(env.lane.is_idle());
    assert_eq!(env.pending_approval, None);
    let end = announced(&w).pop().expect("the end");
    assert_eq!(end.state, ReleaseState::Succeeded);
    assert_eq!(end.components, ["network", "app"]);
    assert_eq!(end.previous_commit.as_deref(), Some(commit(19).as_str()));
    assert_eq!(end.execution_arn.as_deref(), Some(arn(&input).as_str()));
    assert_eq!(end.reason, None);
    assert!(w.sns.messages().is_empty(), "no notice on success");
}

#[tokio::test]
async fn failed_checks_move_nothing_and_are_notified() {
    let w = world();
    released_at_19(&w).await;
    let input = push(&w, 20).await;
    let mut report = report(&input);
    report.checks = Some(StageChain {
        results: vec![failed_run("unit", "FAILED")],
        prev: None,
    });
    report.approval = None;
    report.deploys = Vec::new();
    let out = finished(&w, &report).await;
    assert_eq!(out.outcome, ReleaseOutcome::ChecksFailed);
    assert!(!out.environment_moved);
    let env = environment(&w).await;
    assert_eq!(env.state.commit.as_deref(), Some(commit(19).as_str()));
    assert!(env.lane.is_idle());
    let end = announced(&w).pop().expect("end");
    assert_eq!(end.state, ReleaseState::Failed);
    assert!(
        end.reason
            .as_deref()
            .is_some_and(|r| r.contains("check unit failed")),
        "{:?}",
        end.reason
    );
    let messages = w.sns.messages();
    assert_eq!(messages.len(), 1);
    assert!(messages[0].0.contains("production"), "{}", messages[0].0);
    assert!(messages[0].1.contains(&arn(&input)), "{}", messages[0].1);
}

#[tokio::test]
async fn a_refused_approval_records_who_when_and_how() {
    let w = world();
    released_at_19(&w).await;
    let input = push(&w, 20).await;
    let mut report = report(&input);
    report.approval = None;
    report.deploys = Vec::new();
    report.approval_error = Some(MachineError {
        error: Some(APPROVAL_REFUSED_ERROR.into()),
        cause: Some(serde_json::to_string(&answer(ApprovalDecision::Refused)).expect("JSON")),
    });
    let out = finished(&w, &report).await;
    assert_eq!(out.outcome, ReleaseOutcome::ApprovalRefused);
    assert_eq!(out.state, ReleaseState::Rejected);
    let approval = record_of(&w, &input).approval.expect("recorded");
    assert_eq!(approval.approver, LEAD);
    assert_eq!(approval.at, "2026-11-22T10:05:00Z");
    assert_eq!(approval.decision, ApprovalDecision::Refused);
    assert_eq!(approval.channel, Some(ApprovalChannel::Comment));
    assert_eq!(approval.reason.as_deref(), Some("not during the sale"));
    assert_eq!(
        environment(&w).await.state.commit.as_deref(),
        Some(commit(19).as_str())
    );
    let end = announced(&w).pop().expect("end");
    assert!(
        end.reason.as_deref().is_some_and(|r| r.contains(LEAD)),
        "{:?}",
        end.reason
    );
}

#[tokio::test]
async fn an_approval_nobody_gave_in_time_is_missing_and_notified() {
    let w = world();
    released_at_19(&w).await;
    let input = push(&w, 20).await;
    let mut report = report(&input);
    report.approval = None;
    report.deploys = Vec::new();
    report.approval_error = Some(MachineError {
        error: Some("States.Timeout".into()),
        cause: None,
    });
    let out = finished(&w, &report).await;
    assert_eq!(out.outcome, ReleaseOutcome::ApprovalMissing);
    assert_eq!(out.state, ReleaseState::Rejected);
    let approval = record_of(&w, &input).approval.expect("recorded");
    assert_eq!(approval.decision, ApprovalDecision::TimedOut);
    assert_eq!(approval.approver, "");
    let messages = w.sns.messages();
    assert_eq!(messages.len(), 1);
    assert!(
        messages[0].1.contains("nobody approved within 60 minutes"),
        "{}",
        messages[0].1
    );
}

#[tokio::test]
async fn a_failed_deploy_is_rolled_back_and_the_environment_stays() {
    let w = world();
    released_at_19(&w).await;
    let input = push(&w, 20).await;
    let mut report = report(&input);
    report.deploys = vec![
        vec![passed_run("network", 1)],
        vec![failed_run("app", "FAILED")],
    ];
    // The machine undoes the waves in reverse: app first, then network.
    report.rollbacks = vec![passed_run("app", 1), passed_run("network", 1)];
    let out = finished(&w, &report).await;
    assert_eq!(out.outcome, ReleaseOutcome::DeployFailed);
    assert_eq!(out.state, ReleaseState::RolledBack);
    let record = record_of(&w, &input);
    let rollbacks: Vec<(&str, &RollbackHow)> = record
        .rollbacks
        .iter()
        .map(|r| (r.component.as_str(), &r.how))
        .collect();
    assert_eq!(
        rollbacks,
        [
            ("app", &RollbackHow::Commands),
            (
                "network",
                &RollbackHow::Redeploy {
                    commit: commit(19).as_str().to_owned()
                }
            )
        ]
    );
    let env = environment(&w).await;
    assert_eq!(env.state.commit.as_deref(), Some(commit(19).as_str()));
    assert!(env.lane.is_idle());
    assert_eq!(last_state(&w), ReleaseState::RolledBack);
    assert_eq!(w.sns.messages().len(), 1);
    assert!(
        w.sns.messages()[0].1.contains("rollback"),
        "{}",
        w.sns.messages()[0].1
    );
}

#[tokio::test]
async fn a_machine_failure_after_deploys_is_rolled_back_and_never_released() {
    let w = world();
    released_at_19(&w).await;
    let input = push(&w, 20).await;
    let mut report = report(&input);
    report.deploys = vec![vec![passed_run("network", 1)]];
    report.rollbacks = vec![passed_run("network", 1)];
    report.failure = Some(MachineError {
        error: Some("States.Runtime".into()),
        cause: Some("the wave's Map failed".into()),
    });
    let out = finished(&w, &report).await;
    assert_eq!(out.outcome, ReleaseOutcome::Errored);
    assert_eq!(out.state, ReleaseState::RolledBack);
    assert_eq!(
        environment(&w).await.state.commit.as_deref(),
        Some(commit(19).as_str())
    );
    assert_eq!(w.sns.messages().len(), 1);
}

#[tokio::test]
async fn the_queued_commit_starts_when_the_release_ends_planned_against_the_new_state() {
    let w = world();
    released_at_19(&w).await;
    let first = push(&w, 20).await;
    w.send(w.branch_moved("main", 21)).await;
    assert_eq!(w.sfn.releases().len(), 1, "21 waits");
    w.cc.put_diff(
        &commit(20),
        &commit(21),
        vec![ChangedPath::new("app/main.rs")],
    );
    let out = finished(&w, &report(&first)).await;
    let Some(ReleaseStart::Started {
        execution_name,
        deploys,
        ..
    }) = &out.next
    else {
        panic!("the queued release starts: {out:?}");
    };
    let (name, next) = w.sfn.releases().pop().expect("started");
    assert_eq!(&name, execution_name);
    assert_eq!(next.commit, commit(21));
    assert_eq!(next.sequence, first.sequence + 1);
    assert_eq!(
        name,
        codecommit_gate::machine::release_execution_name(
            &w.repo,
            "production",
            commit(21).as_str(),
            first.sequence + 1
        )
    );
    assert_eq!(
        next.previous,
        Some(commit(20)),
        "planned against the new state"
    );
    assert_eq!(*deploys, 1, "only app changed since 20");
    let lane = environment(&w).await.lane;
    assert_eq!(
        lane.running.map(|r| r.commit),
        Some(commit(21).as_str().to_owned())
    );
    let states: Vec<ReleaseState> = announced(&w).iter().map(|c| c.state).collect();
    assert_eq!(
        states,
        [
            ReleaseState::Started,
            ReleaseState::Succeeded,
            ReleaseState::Started
        ]
    );
}

#[tokio::test]
async fn a_redelivered_finish_moves_starts_and_notifies_once() {
    let w = world();
    released_at_19(&w).await;
    let first = push(&w, 20).await;
    w.send(w.branch_moved("main", 21)).await;
    let mut report = report(&first);
    report.deploys = vec![vec![failed_run("network", "FAILED")], Vec::new()];
    report.rollbacks = vec![passed_run("network", 1)];
    let once = finished(&w, &report).await;
    assert!(once.lane_moved && once.notified);
    let again = finished(&w, &report).await;
    assert!(!again.lane_moved && !again.notified);
    assert_eq!(again.outcome, once.outcome);
    assert_eq!(
        w.ledger
            .releases()
            .iter()
            .filter(|r| r.id == first.execution_name)
            .count(),
        1
    );
    assert_eq!(w.sfn.releases().len(), 2, "the queued release started once");
    assert_eq!(w.sns.messages().len(), 1);
    let ends = announced(&w)
        .iter()
        .filter(|c| c.state == ReleaseState::RolledBack)
        .count();
    assert_eq!(ends, 1);
    let lane = environment(&w).await.lane;
    assert_eq!(lane.running.map(|r| r.sequence), Some(first.sequence + 1));
}

#[tokio::test]
async fn a_start_that_failed_after_the_lane_moved_is_made_by_the_redelivery() {
    use codecommit_gate::ports::PortError;
    let w = world();
    released_at_19(&w).await;
    let first = push(&w, 20).await;
    w.send(w.branch_moved("main", 21)).await;
    w.cc.put_diff(
        &commit(20),
        &commit(21),
        vec![ChangedPath::new("app/main.rs")],
    );
    w.sfn.calls.fail_next(
        "states:StartExecution",
        PortError::Transient {
            call: "states:StartExecution",
            message: "ThrottlingException".into(),
        },
    );
    let failed = finish(&w.deps, &w.logs, &report(&first)).await;
    assert!(
        failed.is_err(),
        "Step Functions retries the finish: {failed:?}"
    );
    assert_eq!(w.sfn.releases().len(), 1);
    let retried = finished(&w, &report(&first)).await;
    assert!(
        matches!(retried.next, Some(ReleaseStart::Started { .. })),
        "{retried:?}"
    );
    assert_eq!(w.sfn.releases().len(), 2, "the retry starts it");
}

#[tokio::test]
async fn a_competing_write_to_the_environment_is_read_again() {
    let w = world();
    released_at_19(&w).await;
    let first = push(&w, 20).await;
    w.cc.put_diff(
        &commit(20),
        &commit(22),
        vec![ChangedPath::new("app/main.rs")],
    );
    // A push of 22 lands between finish's read and its write.
    w.ledger.interleave_next_environment_put(|env| {
        let _ = env
            .lane
            .push(commit(22).as_str(), None, "2026-11-22T10:09:00Z");
    });
    let out = finished(&w, &report(&first)).await;
    assert!(out.lane_moved);
    let env = environment(&w).await;
    assert_eq!(env.state.commit.as_deref(), Some(commit(20).as_str()));
    assert_eq!(
        env.lane.running.map(|r| r.commit),
        Some(commit(22).as_str().to_owned()),
        "the interleaved push runs next"
    );
    assert_eq!(
        w.sfn.releases().pop().expect("started").1.commit,
        commit(22)
    );
}

#[tokio::test]
async fn an_announcement_that_fails_changes_no_outcome() {
    use codecommit_gate::ports::PortError;
    let w = world();
    released_at_19(&w).await;
    let input = push(&w, 20).await;
    w.bus.calls.fail_next(
        "events:PutEvents",
        PortError::Transient {
            call: "events:PutEvents",
            message: "ThrottlingException".into(),
        },
    );
    let out = finished(&w, &report(&input)).await;
    assert_eq!(out.outcome, ReleaseOutcome::Released);
    assert!(out.environment_moved);
    assert_eq!(announced(&w).len(), 1, "only STARTED went through");
}

/// `input` with a package build of `component` (artifact `key`) before the deploys.
fn with_package(
    mut input: ReleaseExecutionInput,
    component: &str,
    key: &str,
) -> ReleaseExecutionInput {
    input
        .packages
        .push(codecommit_gate::machine::release::PackageSpec {
            component: component.into(),
            key: key.into(),
            marker: format!("my-repo/{key}.complete"),
            buildspec: "version: 0.2".into(),
            image: "aws/codebuild/standard:7.0".into(),
            compute_type: "BUILD_GENERAL1_SMALL".into(),
            timeout_minutes: 30,
            task_timeout_seconds: 3600,
            env: Vec::new(),
        });
    input
}

#[tokio::test]
async fn a_failed_package_build_deploys_nothing() {
    let w = world();
    released_at_19(&w).await;
    let input = with_package(push(&w, 20).await, "app", "k-app");
    let mut report = report(&input);
    report.packages = vec![failed_run("app", "FAILED")];
    report.approval = None;
    report.deploys = Vec::new();
    let out = finished(&w, &report).await;
    assert_eq!(out.outcome, ReleaseOutcome::PackageFailed);
    assert_eq!(out.state, ReleaseState::Failed);
    let record = record_of(&w, &input);
    assert_eq!(record.packages.len(), 1);
    assert!(!record.packages[0].reused);
    assert!(record.deploys.is_empty());
    assert_eq!(
        environment(&w).await.state.commit.as_deref(),
        Some(commit(19).as_str())
    );
    assert_eq!(w.sns.messages().len(), 1);
}

#[tokio::test]
async fn artifacts_already_built_are_recorded_as_reused() {
    let w = world();
    released_at_19(&w).await;
    let mut input = with_package(push(&w, 20).await, "network", "k-net");
    input.waves[1].deploys[0].artifact_key = Some("k-app".into());
    input.waves[0].deploys[0].artifact_key = Some("k-net".into());
    let mut report = report(&input);
    report.packages = vec![passed_run("network", 1)];
    let out = finished(&w, &report).await;
    assert_eq!(out.outcome, ReleaseOutcome::Released);
    let packages: Vec<(String, String, bool)> = record_of(&w, &input)
        .packages
        .iter()
        .map(|p| (p.component.as_str().to_owned(), p.key.clone(), p.reused))
        .collect();
    assert_eq!(
        packages,
        [
            ("network".to_owned(), "k-net".to_owned(), false),
            ("app".to_owned(), "k-app".to_owned(), true)
        ]
    );
    let env = environment(&w).await;
    assert_eq!(
        env.state.components["app"].artifact.as_deref(),
        Some("k-app")
    );
}

/// The status-change event of a release execution that ended without its Finish step.
fn ended_event(input: &ReleaseExecutionInput, status: &str, included: bool) -> serde_json::Value {
    serde_json::json!({
        "version": "0",
        "id": "315c1398-40ff-a850-213b-158f73e60175",
        "detail-type": "Step Functions Execution Status Change",
        "source": "aws.states",
        "account": "123456789012",
        "time": "2026-11-22T12:00:00Z",
        "region": "us-east-1",
        "resources": [arn(input)],
        "detail": {
            "executionArn": arn(input),
            "stateMachineArn": "arn:aws:states:us-east-1:123456789012:stateMachine:gate-release",
            "name": input.execution_name,
            "status": status,
            "startDate": 1_795_000_000_000_i64,
            "stopDate": 1_795_000_900_000_i64,
            "input": if included { serde_json::to_string(input).expect("json") } else { String::new() },
            "inputDetails": {"included": included},
            "output": null,
            "outputDetails": null
        }
    })
}

#[tokio::test]
async fn a_release_that_ran_out_of_time_is_finished_from_its_status_change_and_frees_the_lane() {
    use codecommit_gate::lambda::release::release_handler;
    let w = world();
    released_at_19(&w).await;
    let first = push(&w, 20).await;
    w.send(w.branch_moved("main", 21)).await;
    assert_eq!(w.sfn.releases().len(), 1, "21 waits for 20");

    let out = release_handler(&w.deps, &w.logs, ended_event(&first, "TIMED_OUT", true))
        .await
        .expect("finished");
    assert!(out.is_object(), "{out}");
    let record = record_of(&w, &first);
    assert_eq!(record.outcome, ReleaseOutcome::Errored);
    let env = environment(&w).await;
    assert_eq!(
        env.state.commit.as_deref(),
        Some(commit(19).as_str()),
        "an errored release never moves the environment"
    );
    let started = w.sfn.releases();
    assert_eq!(started.len(), 2, "the queued commit starts");
    assert_eq!(started[1].1.commit, commit(21));

    // The Finish step had run after all (a redelivery, or the event of a stopped execution
    // whose Finish ran): nothing moves twice.
    release_handler(&w.deps, &w.logs, ended_event(&first, "ABORTED", true))
        .await
        .expect("acknowledged");
    assert_eq!(w.sfn.releases().len(), 2);
    // A success finished itself; an event without its input is acknowledged.
    let success = release_handler(
        &w.deps,
        &w.logs,
        ended_event(&started[1].1, "SUCCEEDED", true),
    )
    .await
    .expect("ignored");
    assert_eq!(success["action"], "ignore");
    let blind = release_handler(
        &w.deps,
        &w.logs,
        ended_event(&started[1].1, "FAILED", false),
    )
    .await
    .expect("acknowledged");
    assert_eq!(blind["action"], "rejected");
    assert!(
        environment(&w).await.lane.running.is_some(),
        "21 still runs"
    );
}

#[tokio::test]
async fn a_step_that_does_not_parse_fails_naming_the_field() {
    use codecommit_gate::lambda::release::{MALFORMED_STEP, release_handler};
    let w = world();
    let err = release_handler(
        &w.deps,
        &w.logs,
        serde_json::json!({"action": "finish", "input": {"version": "one"}}),
    )
    .await
    .expect_err("malformed");
    assert_eq!(err.error_type, MALFORMED_STEP);
    assert!(err.error_message.contains("input"), "{}", err.error_message);
}

// ---------------------------------------------------------------- the checks' reports

const REPORT_GROUPS: &str = "arn:aws:codebuild:us-east-1:123456789012:report-group/gate-";
const TESTS_REPORT: &str = "arn:aws:codebuild:us-east-1:123456789012:report/gate-my-repo-tests:7";
const COVERAGE_REPORT: &str =
    "arn:aws:codebuild:us-east-1:123456789012:report/gate-my-repo-coverage:8";

/// [`world`] whose `unit` check declares a JUnit glob and Cobertura coverage with
/// `min_line: 80`, on a stack with report groups.
fn reports_world() -> World {
    let mut w = world();
    let gate = RELEASE_GATE.replace(
        "unit: {stage: test, commands: [make test]}",
        r#"unit: {stage: test, commands: [make test], reports: {junit: ["reports/*.xml"], coverage: {format: cobertura, path: coverage.xml, min_line: 80}}}"#,
    );
    assert_ne!(gate, RELEASE_GATE);
    for n in 19..24 {
        w.cc.put_file(&commit(n), ".gate.yml", &gate);
    }
    w.deps.settings.build.report_group_prefix = Some(REPORT_GROUPS.into());
    w
}

/// CodeBuild's reports of the release's `unit` build: 2 failed of 40, `covered` of 1000 lines.
fn put_unit_reports(w: &World, covered: u64) {
    use codecommit_gate::ports::test_reports::{BuildReport, BuildReportKind, ReportTestCase};
    let counts = [("SUCCEEDED", 37), ("FAILED", 2), ("SKIPPED", 1)]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect();
    let failed = |name: &str, message: &str| ReportTestCase {
        prefix: Some("billing".into()),
        name: name.into(),
        status: "FAILED".into(),
        message: Some(message.into()),
    };
    w.logs.put_report(
        BuildReport {
            arn: TESTS_REPORT.into(),
            kind: BuildReportKind::Test,
            status: "FAILED".into(),
            truncated: false,
            status_counts: counts,
            lines_covered: None,
            lines_missed: None,
        },
        vec![
            failed(
                "charges_once",
                "assertion `left == right` failed\n  left: 2",
            ),
            failed("refunds <all> & more", "expected refund"),
        ],
    );
    w.logs.put_report(
        BuildReport {
            arn: COVERAGE_REPORT.into(),
            kind: BuildReportKind::Coverage,
            status: "SUCCEEDED".into(),
            truncated: false,
            status_counts: Default::default(),
            lines_covered: Some(covered),
            lines_missed: Some(1000 - covered),
        },
        Vec::new(),
    );
}

/// The report of `input`'s release whose `unit` build (`run`) wrote both reports.
fn report_with_unit(
    input: &ReleaseExecutionInput,
    mut run: codecommit_gate::machine::CheckRun,
) -> ReleaseReport {
    let arns = serde_json::json!([TESTS_REPORT, COVERAGE_REPORT]);
    match (run.build.as_mut(), run.cause.as_mut()) {
        (Some(build), _) => build["ReportArns"] = arns,
        (None, Some(cause)) => {
            let mut value: serde_json::Value = serde_json::from_str(cause).expect("JSON");
            value["Build"]["ReportArns"] = arns;
            *cause = value.to_string();
        }
        (None, None) => panic!("a run with a build"),
    }
    let mut report = report(input);
    report.checks = Some(StageChain {
        results: vec![run],
        prev: None,
    });
    report
}

/// A release of commit 20 in [`reports_world`] whose `unit` build covered `covered` lines.
async fn released_with_reports(covered: u64) -> (World, ReleaseExecutionInput) {
    let w = reports_world();
    released_at_19(&w).await;
    let input = push(&w, 20).await;
    put_unit_reports(&w, covered);
    (w, input)
}

/// `report` as the machine sends it when the checks blocked: no approval, no deploys.
fn checks_only(mut report: ReleaseReport) -> ReleaseReport {
    report.approval = None;
    report.deploys = Vec::new();
    report
}

fn last_notice(w: &World) -> String {
    w.sns.messages().pop().expect("notified").1
}

#[tokio::test]
async fn a_releases_checks_name_the_report_groups_in_their_buildspec() {
    let w = reports_world();
    released_at_19(&w).await;
    let input = push(&w, 20).await;
    let unit = &input.checks[0].checks[0];
    assert!(
        unit.reports.is_some(),
        "the declaration reaches gate-release"
    );
    assert!(
        unit.buildspec.ends_with(&format!(
            "reports:\n  \"{REPORT_GROUPS}my-repo-tests\":\n    files:\n      - \"reports/*.xml\"\n    file-format: JUNITXML\n  \"{REPORT_GROUPS}my-repo-coverage\":\n    files:\n      - \"coverage.xml\"\n    file-format: COBERTURAXML\n"
        )),
        "{}",
        unit.buildspec
    );
}

#[tokio::test]
async fn failed_tests_and_coverage_of_a_releases_checks_are_recorded_and_notified() {
    let (w, input) = released_with_reports(850).await;
    let out = finished(
        &w,
        &checks_only(report_with_unit(&input, failed_run("unit", "FAILED"))),
    )
    .await;
    assert_eq!(out.outcome, ReleaseOutcome::ChecksFailed);

    let record = record_of(&w, &input);
    let reports = record.checks[0].reports.as_ref().expect("read");
    let tests = reports.tests.as_ref().expect("tests");
    assert_eq!(
        (
            tests.counts.passed,
            tests.counts.failed,
            tests.counts.skipped
        ),
        (37, 2, 1)
    );
    assert_eq!(tests.failed[0].name, "billing.charges_once");
    let coverage = reports.coverage.as_ref().expect("coverage");
    assert_eq!(coverage.line.covered, 850);
    assert_eq!(coverage.base, None, "a release compares with no base");
    assert_eq!(w.logs.calls.count("codebuild:BatchGetReports"), 1);

    let notice = last_notice(&w);
    assert!(
        notice.contains("check    unit                     failed 1m 05s · 37 passed, 2 failed, 1 skipped · line coverage 85.0 %\n"),
        "{notice}"
    );
    assert!(
        notice.contains(
            "           `billing.charges_once` failed: assertion `left == right` failed\n"
        ),
        "{notice}"
    );
    assert!(
        notice.contains("           `billing.refunds <all> & more` failed: expected refund\n"),
        "{notice}"
    );
}

#[tokio::test]
async fn coverage_under_min_line_fails_a_releases_passing_check_and_deploys_nothing() {
    let (w, input) = released_with_reports(700).await;
    let out = finished(
        &w,
        &checks_only(report_with_unit(&input, passed_run("unit", 1))),
    )
    .await;
    assert_eq!(out.outcome, ReleaseOutcome::ChecksFailed);
    assert!(!out.environment_moved);
    let record = record_of(&w, &input);
    assert_eq!(
        record.checks[0].log_tail.as_deref(),
        Some("[gate] line coverage 70.0 % is under the check's min_line of 80 %")
    );
    let end = announced(&w).pop().expect("end");
    assert!(
        end.reason
            .as_deref()
            .is_some_and(|r| r.contains("check unit failed")),
        "{:?}",
        end.reason
    );
    let notice = last_notice(&w);
    assert!(
        notice.contains("line coverage 70.0 % · under the check's min_line of 80 %\n"),
        "{notice}"
    );
}

#[tokio::test]
async fn reports_codebuild_cannot_give_are_a_note_and_the_release_goes_on() {
    use codecommit_gate::ports::PortError;
    let (w, input) = released_with_reports(700).await;
    w.logs.calls.fail_next(
        "codebuild:BatchGetReports",
        PortError::Transient {
            call: "codebuild:BatchGetReports",
            message: "Rate exceeded".into(),
        },
    );
    let out = finished(&w, &report_with_unit(&input, passed_run("unit", 1))).await;
    assert_eq!(
        out.outcome,
        ReleaseOutcome::Released,
        "unread coverage is no shortfall"
    );
    let record = record_of(&w, &input);
    let reports = record.checks[0].reports.as_ref().expect("noted");
    assert_eq!(reports.unreadable.len(), 1);
    assert!(
        reports.unreadable[0]
            .why
            .contains("CodeBuild did not answer"),
        "{:?}",
        reports.unreadable
    );
}
