//! The release state machine (`statemachine/release.asl.json`) executed in moto: checks that
//! block, the approval's task token (approved, refused, timed out), packages reused or built,
//! waves of deploys, and the rollback of every wave that ran, last first; every story ends in a
//! `ReleaseStep::Finish` gate-release can read, whose record (`release::finished`) has the
//! story's outcome.
//!
//! Each test starts its own moto server (`tests/support/moto.rs`, execute_state_machine on) and
//! runs the real definition; `tests/support/moto_machine.rs` says what it swaps. In short: the
//! CodeBuild and S3 tasks (`createProject`, `headObject`, `startBuild.sync`, `deleteProject`)
//! are scripted stubs; the finishing `lambda:invoke` becomes a Pass whose output is its
//! payload; moto cannot invoke a Lambda without Docker, so the approval's
//! `lambda:invoke.waitForTaskToken` becomes an `events:putEvents.waitForTaskToken` carrying the
//! same payload, which moto runs for real: the test reads the token from the task's
//! `TaskScheduled` event and answers with `SendTaskSuccess` / `SendTaskFailure` as gate-approve
//! does, or lets it time out. The DEPLOYING announcement (`events:putEvents` on the default
//! bus) runs for real. moto cannot run `states:startExecution.sync:2` (it fails on the
//! PascalCase parameters AWS requires), so the environment's checks run in two steps: the
//! test first runs the gate machine (itself stubbed the same way) in mode checks with the
//! input the release machine must send, the release machine's checks task answers with that
//! execution's real output, and the test asserts the release machine did send that input.
//! Without moto the tests fail under `CI` and are skipped with a notice otherwise; install it
//! with `scripts/install-moto.sh`.

#[allow(dead_code)]
use crate::moto_machine;
#[allow(dead_code)]
use aws_sdk_sfn::types::ExecutionStatus;
use codecommit_gate::announce::{ReleaseChange, ReleaseState};
use codecommit_gate::gate_file::Gate;
use codecommit_gate::ids::RepositoryName;
use codecommit_gate::machine::release::payload::{
    APPROVAL_REFUSED_ERROR, ApprovalAnswer, ApprovalChannel, ReleaseReport, ReleaseStep,
};
use codecommit_gate::machine::release::{
    PackageSpec, ReleaseExecutionInput, ReleaseTarget, release_input,
};
use codecommit_gate::machine::{BuildDefaults, RunOutcome, TASK_TIMEOUT_SLACK_SECONDS};
use codecommit_gate::plan::ChangedPath;
use codecommit_gate::release::finished::release_record;
use codecommit_gate::release::{ApprovalDecision, ReleaseInput, ReleaseOutcome, plan_release};
use moto_machine::{MotoSfn, Reply, Run, Stub};
use serde_json::{Value, json};
use std::collections::BTreeMap;

/// Three waves: network and db, then api (packaged, with its own rollback), then web.
const GATE: &str = r#"stages: [test]
components:
  network:
    paths: [infra/]
    deploy: {commands: [./net.sh], timeout: 20}
  db:
    paths: [db/]
    deploy: {commands: [./db.sh]}
  api:
    paths: [api/]
    depends_on: [network, db]
    deploy: {commands: [./api.sh], rollback: [./api-undo.sh]}
    package: {commands: [make], outputs: [dist/]}
  web:
    paths: [web/]
    depends_on: [api]
    deploy: {commands: [./web.sh]}
checks:
  unit: {stage: test, commands: [make test]}
environments:
  production:
    branch: main
    checks: [unit]
    approval: {approvers: ["arn:aws:sts::*:assumed-role/Release/*"], timeout: 90}
  staging:
    branch: develop
"#;

const P: &str = "1111111111111111111111111111111111111111";
const C: &str = "2222222222222222222222222222222222222222";
const REPOSITORY: &str = "shop";
const PROJECT: &str = "gate-release-shop-production";
const DEPLOY_ROLE: &str = "arn:aws:iam::123456789012:role/gate-deploy-production";
const PACKAGE_ROLE: &str = "arn:aws:iam::123456789012:role/gate-package";
const CALLBACK: &str = "arn:aws:states:::events:putEvents.waitForTaskToken";

/// The release of C over P to `environment`, every component changed, as gate-start builds it
/// (the package of api added as the lead's release-start will).
fn release(environment: &str, name: &str) -> ReleaseExecutionInput {
    let gate = Gate::parse(GATE, ".gate.yml").expect("valid gate file");
    let changes: Vec<ChangedPath> = ["infra/a", "db/a", "api/a", "web/a"]
        .iter()
        .map(|p| ChangedPath::new(*p))
        .collect();
    let plan = plan_release(
        &gate,
        &ReleaseInput {
            environment,
            commit: C,
            previous: Some(P),
            changes: &changes,
        },
    )
    .expect("plans");
    let repository = RepositoryName::new(REPOSITORY);
    let mut input = release_input(
        &gate,
        &plan,
        &ReleaseTarget {
            repository: &repository,
            sequence: 3,
            project: PROJECT,
            deploy_role_arn: DEPLOY_ROLE,
            build: &BuildDefaults::default(),
            artifact_bucket: "gate-artifacts",
        },
        &BTreeMap::new(),
        &codecommit_gate::machine::release::ArtifactKeys {
            released: BTreeMap::from([("api".to_owned(), "api-k1".to_owned())]),
            previous: BTreeMap::new(),
        },
    )
    .expect("builds");
    input.execution_name = name.to_owned();
    input.packages = vec![package("api", "api-k1")];
    input
}

fn package(component: &str, key: &str) -> PackageSpec {
    PackageSpec {
        component: component.into(),
        key: key.to_owned(),
        marker: format!("{REPOSITORY}/{key}.complete"),
        buildspec: format!("version: 0.2\nphases:\n  build:\n    commands: [make {component}]\n"),
        image: "registry.example.com/builder:1".to_owned(),
        compute_type: "BUILD_GENERAL1_MEDIUM".to_owned(),
        timeout_minutes: 30,
        task_timeout_seconds: 30 * 60 + TASK_TIMEOUT_SLACK_SECONDS,
        env: Vec::new(),
    }
}

/// The deploy components, wave by wave.
fn waves(input: &ReleaseExecutionInput) -> Vec<Vec<String>> {
    input
        .waves
        .iter()
        .map(|w| w.deploys.iter().map(|d| d.component.to_string()).collect())
        .collect()
}

// ------------------------------------------------------------------ the world

/// A build as `codebuild:startBuild.sync` returns it (trimmed).
fn build(name: &str, status: &str) -> Value {
    json!({"Id": format!("{PROJECT}:{name}"), "BuildStatus": status, "ProjectName": PROJECT})
}

/// Scripted tasks of both machines: every build passes, no artifact is stored, unless `fail`
/// names a (phase, component) or `stored` an artifact key.
fn stubs(fail: &[(&str, &str)], stored: &[&str]) -> BTreeMap<String, Stub> {
    let mut builds = Stub::always(Reply::ok(json!({"Build": build("any", "SUCCEEDED")})));
    for (phase, name) in fail {
        builds = builds.when(
            &[("$.phase", json!(phase)), ("$.build.name", json!(name))],
            Reply::err(
                "States.TaskFailed",
                Some(json!({"Build": build(name, "FAILED")}).to_string()),
            ),
        );
    }
    let mut lookup = Stub::always(Reply::err(
        "S3.NoSuchKeyException",
        Some("Not Found (Service: S3, Status Code: 404)".into()),
    ));
    for key in stored {
        lookup = lookup.when(&[("$.spec.key", json!(key))], Reply::ok(json!({})));
    }
    BTreeMap::from([
        (
            "Create release project".to_owned(),
            Stub::always(Reply::ok(json!({"Project": {"Name": PROJECT}}))),
        ),
        ("Artifact stored?".to_owned(), lookup),
        ("Run build".to_owned(), builds),
        (
            "Delete release project".to_owned(),
            Stub::always(Reply::ok(json!({}))),
        ),
    ])
}

/// The gate machine's tasks, for its checks-mode run: `failing` checks fail.
fn gate_stubs(failing: &[&str]) -> BTreeMap<String, Stub> {
    let mut checks = Stub::always(Reply::ok(json!({"Build": build("check", "SUCCEEDED")})));
    for name in failing {
        checks = checks.when(
            &[("$.check.name", json!(name))],
            Reply::err(
                "States.TaskFailed",
                Some(json!({"Build": build(name, "FAILED")}).to_string()),
            ),
        );
    }
    let ok = |v: Value| Stub::always(Reply::ok(v));
    BTreeMap::from([
        ("Create CI environment".to_owned(), ok(json!({}))),
        ("Run check".to_owned(), checks),
        ("List builds".to_owned(), ok(json!({"Ids": []}))),
        ("Look at build".to_owned(), ok(json!({"Builds": []}))),
        ("Stop build".to_owned(), ok(json!({}))),
        ("Delete CI environment".to_owned(), ok(json!({}))),
    ])
}

/// The values template.yaml substitutes, for account 123456789012 in us-east-1.
const SUBSTITUTIONS: &[(&str, &str)] = &[
    (
        "GateStateMachineArn",
        "arn:aws:states:us-east-1:123456789012:stateMachine:gate",
    ),
    (
        "GateReleaseFunctionArn",
        "arn:aws:lambda:us-east-1:123456789012:function:codecommit-gate-GateReleaseFunction-EXAMPLE",
    ),
    (
        "TrustedBuildRoleArnPrefix",
        "arn:aws:iam::123456789012:role/gate-trust-",
    ),
    ("PackageRoleArn", PACKAGE_ROLE),
    ("ArtifactBucket", "gate-artifacts-123456789012"),
    ("BuildLogGroup", "/aws/codebuild/gate"),
    ("BuildEnvironmentType", "LINUX_CONTAINER"),
    ("Region", "us-east-1"),
    ("UrlSuffix", "amazonaws.com"),
    ("MaxReleaseSeconds", "7200"),
];

/// The release machine in a moto that executes it.
struct World {
    moto: MotoSfn,
    release: String,
    /// The input of the gate machine's checks run, as the release machine must send it.
    checks_input: Value,
}

/// The gate machine's input in mode checks for `input`, but its name (the release machine
/// builds it with JSONPath and names it after its own execution).
fn checks_input(input: &ReleaseExecutionInput) -> Value {
    json!({
        "version": 1,
        "mode": "checks",
        "attempt": 1,
        "subject": {"repository": REPOSITORY, "source_commit": C},
        "environment": PROJECT,
        "stages": input.checks,
        "deadline_seconds": 7200,
        "retry_backoff_seconds": 30,
    })
}

/// Runs the gate machine in mode checks for `input` (`failing` checks fail); what
/// `startExecution.sync:2` returns for it.
async fn run_checks(moto: &MotoSfn, input: &ReleaseExecutionInput, failing: &[&str]) -> Value {
    let gate = moto_machine::definition(&gate_stubs(failing));
    let gate = moto_machine::create(&moto.client, &gate, "gate").await;
    let name = "release-checks-of-the-test";
    let mut nested = checks_input(input);
    nested["execution_name"] = json!(name);
    let execution = moto_machine::start(&moto.client, &gate, name, &nested).await;
    let run = moto_machine::finish(&moto.client, &execution, name).await;
    moto.explain(&run);
    json!({
        "ExecutionArn": execution,
        "Status": "SUCCEEDED",
        "Output": run.output.expect("the checks' output"),
    })
}

impl World {
    /// The release machine with `stubs`, its checks task answering with the output of a real
    /// checks-mode run of the gate machine for `input` (`failing_checks` fail).
    async fn start(
        mut stubs: BTreeMap<String, Stub>,
        failing_checks: &[&str],
        input: &ReleaseExecutionInput,
    ) -> Option<World> {
        let moto = MotoSfn::start().await?;
        let checks = run_checks(&moto, input, failing_checks).await;
        stubs.insert("Run checks".to_owned(), Stub::always(Reply::ok(checks)));
        let definition =
            moto_machine::definition_of("statemachine/release.asl.json", SUBSTITUTIONS, &stubs);
        let release = moto_machine::create(&moto.client, &definition, "release").await;
        Some(World {
            moto,
            release,
            checks_input: checks_input(input),
        })
    }

    async fn begin(&self, input: &ReleaseExecutionInput) -> String {
        let raw = serde_json::to_value(input).expect("serializable");
        moto_machine::start(
            &self.moto.client,
            &self.release,
            &input.execution_name,
            &raw,
        )
        .await
    }

    async fn end(&self, execution: &str) -> Run {
        let run = moto_machine::finish(&self.moto.client, execution, "release").await;
        self.moto.explain(&run);
        run
    }

    async fn run(&self, input: &ReleaseExecutionInput) -> Run {
        let execution = self.begin(input).await;
        self.end(&execution).await
    }

    /// The approval request the waiting release sent (what gate-release would get).
    async fn approval_request(&self, execution: &str) -> (Value, Option<i64>) {
        let scheduled = moto_machine::scheduled(&self.moto.client, execution, CALLBACK).await;
        let detail = &scheduled["parameters"]["Entries"][0]["Detail"];
        let payload = match detail {
            Value::String(s) => serde_json::from_str(s).expect("JSON detail"),
            other => other.clone(),
        };
        (payload, scheduled["timeout"].as_i64())
    }
}

/// The payload the release finished with, as gate-release parses it.
fn report(run: &Run) -> ReleaseReport {
    assert_eq!(run.status, ExecutionStatus::Succeeded);
    let output = run.output.clone().expect("an output");
    match serde_json::from_value::<ReleaseStep>(output.clone()) {
        Ok(ReleaseStep::Finish(report)) => *report,
        other => panic!("not a ReleaseStep::Finish: {other:?}\n{output:#}"),
    }
}

/// What gate-release records of `report` (`release::finished`): the outcome the machine's
/// payload leads to.
fn outcome(report: &ReleaseReport) -> ReleaseOutcome {
    release_record(
        report,
        &Default::default(),
        "2026-12-02T10:05:00Z",
        1_764_669_900_000,
    )
    .outcome
}

/// (component, outcome) of runs.
fn names(runs: &[codecommit_gate::machine::CheckRun]) -> Vec<(String, RunOutcome)> {
    runs.iter()
        .map(|r| (r.name.to_string(), r.outcome))
        .collect()
}

fn answer(decision: ApprovalDecision) -> ApprovalAnswer {
    ApprovalAnswer {
        approver: "arn:aws:sts::123456789012:assumed-role/Release/alice".into(),
        at: "2026-12-02T10:00:00Z".into(),
        decision,
        channel: ApprovalChannel::Comment,
        reason: (decision != ApprovalDecision::Approved).then(|| "not today".into()),
    }
}

/// The project was created and deleted, and nothing was built or deployed.
fn assert_nothing_built(run: &Run, report: &ReleaseReport) {
    assert!(!run.visited("Run batch"), "nothing is built or deployed");
    assert!(report.packages.is_empty() && report.deploys.is_empty());
    assert!(report.rollbacks.is_empty());
    assert!(run.visited("Create release project") && run.visited("Delete release project"));
}

// ------------------------------------------------------------------ stories

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_checks_block_the_release_before_approval_packages_and_deploys() {
    let input = release("production", "release-checks-fail");
    let Some(world) = World::start(stubs(&[], &[]), &["unit"], &input).await else {
        return;
    };
    let execution = world.begin(&input).await;
    let run = world.end(&execution).await;
    let report = report(&run);

    let checks = report.checks.as_ref().expect("the checks' stage chain");
    assert_eq!(
        names(&checks.results),
        [("unit".to_owned(), RunOutcome::Failed)]
    );
    assert_eq!(report.failure, None, "a failed check is a result");
    assert!(!run.visited("Await approval"), "nobody is asked");
    assert_nothing_built(&run, &report);
    assert_eq!(report.input, input, "the input, unchanged");
    assert_eq!(outcome(&report), ReleaseOutcome::ChecksFailed);

    // The nested execution: the gate machine in mode checks, in the release project at C.
    let request = &run.outputs_of("Run checks")[0]["__request"];
    assert_eq!(request["StateMachineArn"], SUBSTITUTIONS[0].1);
    let name = request["Name"].as_str().expect("a name");
    assert!(
        name.len() <= 80 && name.starts_with("release-checks-"),
        "{name}"
    );
    let mut sent = request["Input"].clone();
    let sent = sent.as_object_mut().expect("an object");
    assert_eq!(sent.remove("execution_name"), Some(json!(name)));
    assert_eq!(
        sent.remove("AWS_STEP_FUNCTIONS_STARTED_BY_EXECUTION_ID"),
        Some(json!(execution)),
        "the console links the executions"
    );
    assert_eq!(Value::Object(sent.clone()), world.checks_input);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_approved_release_deploys_every_wave_with_the_deploy_role_after_announcing() {
    let input = release("production", "release-approved");
    let Some(world) = World::start(stubs(&[], &[]), &[], &input).await else {
        return;
    };
    let execution = world.begin(&input).await;
    let (request, timeout) = world.approval_request(&execution).await;
    let Ok(ReleaseStep::AwaitApproval(request)) = serde_json::from_value::<ReleaseStep>(request)
    else {
        panic!("the approval task sends a ReleaseStep::AwaitApproval");
    };
    assert_eq!(request.input, input);
    assert_eq!(request.execution_arn, execution);
    assert_eq!(
        names(&request.checks.as_ref().expect("checks ran").results),
        [("unit".to_owned(), RunOutcome::Passed)],
        "the approver sees the checks"
    );
    assert_eq!(timeout, Some(90 * 60), "the approval's own timeout");
    let approved = answer(ApprovalDecision::Approved);
    world
        .moto
        .client
        .send_task_success()
        .task_token(&request.task_token)
        .output(serde_json::to_string(&approved).expect("JSON"))
        .send()
        .await
        .expect("SendTaskSuccess");
    let run = world.end(&execution).await;
    let report = report(&run);

    assert_eq!(report.approval, Some(approved));
    assert_eq!(report.approval_error, None);
    assert_eq!(report.failure, None);
    let deployed: Vec<Vec<String>> = report
        .deploys
        .iter()
        .map(|w| w.iter().map(|r| r.name.to_string()).collect())
        .collect();
    assert_eq!(deployed, waves(&input), "every wave, in order");
    assert!(
        report
            .deploys
            .iter()
            .flatten()
            .all(|r| r.outcome == RunOutcome::Passed)
    );
    assert!(report.rollbacks.is_empty());
    assert_eq!(
        names(&report.packages),
        [("api".to_owned(), RunOutcome::Passed)]
    );
    assert_eq!(outcome(&report), ReleaseOutcome::Released);

    // Deploys run in the release project at C with the environment's deploy role; the package
    // with the package role.
    for out in run.outputs_of("Run build") {
        let r = &out["__request"];
        assert_eq!(r["ProjectName"], PROJECT);
        let role = if out["phase"] == "package" {
            PACKAGE_ROLE
        } else {
            DEPLOY_ROLE
        };
        assert_eq!(r["ServiceRoleOverride"], role, "{out:#}");
        assert_eq!(r["SourceVersion"], C);
    }
    let package = run
        .outputs_of("Run build")
        .into_iter()
        .find(|o| o["phase"] == "package")
        .expect("the package build");
    assert_eq!(
        package["__request"]["ImagePullCredentialsTypeOverride"], "SERVICE_ROLE",
        "a private image is pulled with the build's role"
    );

    // DEPLOYING, announced once on the default bus before the first wave.
    let announce = moto_machine::scheduled(
        &world.moto.client,
        &execution,
        "arn:aws:states:::events:putEvents",
    )
    .await;
    let entry = &announce["parameters"]["Entries"][0];
    assert_eq!(entry["Source"], codecommit_gate::announce::SOURCE);
    assert_eq!(
        entry["DetailType"],
        codecommit_gate::announce::RELEASE_DETAIL_TYPE
    );
    let detail: ReleaseChange = match &entry["Detail"] {
        Value::String(s) => serde_json::from_str(s),
        other => serde_json::from_value(other.clone()),
    }
    .expect("a ReleaseChange");
    assert_eq!(detail.state, ReleaseState::Deploying);
    assert_eq!(detail.commit, C);
    assert_eq!(detail.previous_commit.as_deref(), Some(P));
    assert_eq!(detail.components, waves(&input).concat());
    assert_eq!(detail.execution_arn.as_deref(), Some(execution.as_str()));
    let entered: Vec<String> = run.entered().into_iter().map(|e| e.name).collect();
    let first = |s: &str| entered.iter().position(|n| n == s).expect(s);
    assert!(first("Announce deploying") < first("Deploy batch"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_approval_deploys_nothing_and_finishes_with_the_refusal() {
    let input = release("production", "release-refused");
    let Some(world) = World::start(stubs(&[], &[]), &[], &input).await else {
        return;
    };
    let execution = world.begin(&input).await;
    let (request, _) = world.approval_request(&execution).await;
    let token = request["task_token"].as_str().expect("a token");
    let refused = serde_json::to_string(&answer(ApprovalDecision::Refused)).expect("JSON");
    world
        .moto
        .client
        .send_task_failure()
        .task_token(token)
        .error(APPROVAL_REFUSED_ERROR)
        .cause(&refused)
        .send()
        .await
        .expect("SendTaskFailure");
    let run = world.end(&execution).await;
    let report = report(&run);

    let error = report.approval_error.as_ref().expect("the refusal");
    assert_eq!(error.error.as_deref(), Some(APPROVAL_REFUSED_ERROR));
    // On AWS the cause is the refusal (ApprovalAnswer JSON); moto 5.2.5 drops
    // SendTaskFailure's cause (its responses.py passes on only the error).
    if let Some(cause) = error.cause.as_deref() {
        assert_eq!(cause, refused);
    }
    assert_eq!(report.approval, None);
    assert_eq!(report.failure, None);
    assert_eq!(outcome(&report), ReleaseOutcome::ApprovalRefused);
    assert_nothing_built(&run, &report);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unanswered_approval_times_out_and_deploys_nothing() {
    let mut input = release("production", "release-timeout");
    let Some(world) = World::start(stubs(&[], &[]), &[], &input).await else {
        return;
    };
    input
        .approval
        .as_mut()
        .expect("production needs approval")
        .timeout_seconds = 2;
    let run = world.run(&input).await;
    let report = report(&run);

    let error = report.approval_error.as_ref().expect("the timeout");
    assert_eq!(error.error.as_deref(), Some("States.Timeout"));
    assert_eq!(outcome(&report), ReleaseOutcome::ApprovalMissing);
    assert_nothing_built(&run, &report);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_deploy_stops_later_waves_and_rolls_back_what_ran_last_first() {
    let mut input = release("staging", "release-rollback");
    let Some(world) = World::start(stubs(&[("deploy", "api")], &["api-k1"]), &[], &input).await
    else {
        return;
    };
    assert_eq!(
        waves(&input),
        [vec!["network", "db"], vec!["api"], vec!["web"]],
        "the gate file's waves"
    );
    // db has nothing to roll back to: no build, no record.
    let db = &mut input.waves[0].deploys[1];
    db.rollback.source_version = None;
    db.rollback.buildspec = None;
    let run = world.run(&input).await;
    let report = report(&run);

    assert_eq!(
        report.deploys.iter().map(|w| names(w)).collect::<Vec<_>>(),
        [
            vec![
                ("network".to_owned(), RunOutcome::Passed),
                ("db".to_owned(), RunOutcome::Passed)
            ],
            vec![("api".to_owned(), RunOutcome::Failed)],
        ],
        "wave 3 never runs"
    );
    assert_eq!(
        names(&report.rollbacks),
        [
            ("api".to_owned(), RunOutcome::Passed),
            ("network".to_owned(), RunOutcome::Passed)
        ],
        "the failed wave first (its deploy may have changed something), then wave 1 in reverse"
    );
    // The stored artifact is reused: no package build, nothing recorded.
    assert!(report.packages.is_empty());
    assert!(
        run.outputs_of("Run build")
            .iter()
            .all(|o| o["phase"] != "package")
    );
    // api's own rollback commands at C; network redeploys P.
    let rollbacks: Vec<Value> = run
        .outputs_of("Run build")
        .into_iter()
        .filter(|o| o["phase"] == "rollback")
        .map(|o| o["__request"].clone())
        .collect();
    let api = &input.waves[1].deploys[0].rollback;
    let network = &input.waves[0].deploys[0].rollback;
    assert_eq!(rollbacks[0]["SourceVersion"], C);
    assert_eq!(rollbacks[0]["BuildspecOverride"], json!(api.buildspec));
    assert_eq!(rollbacks[1]["SourceVersion"], P);
    assert_eq!(rollbacks[1]["BuildspecOverride"], json!(network.buildspec));
    assert_eq!(
        rollbacks[1]["EnvironmentVariablesOverride"],
        json!(network.env)
    );
    assert!(
        rollbacks
            .iter()
            .all(|r| r["ServiceRoleOverride"] == DEPLOY_ROLE)
    );
    assert_eq!(outcome(&report), ReleaseOutcome::DeployFailed);
    assert!(run.visited("Delete release project"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_package_build_deploys_nothing() {
    let input = release("staging", "release-package-fails");
    let Some(world) = World::start(stubs(&[("package", "api")], &[]), &[], &input).await else {
        return;
    };
    let run = world.run(&input).await;
    let report = report(&run);

    assert_eq!(
        names(&report.packages),
        [("api".to_owned(), RunOutcome::Failed)]
    );
    assert!(report.deploys.is_empty() && report.rollbacks.is_empty());
    assert!(!run.visited("Announce deploying"));
    assert_eq!(outcome(&report), ReleaseOutcome::PackageFailed);
    let create = &run.outputs_of("Create release project")[0]["__request"];
    assert_eq!(create["Name"], PROJECT);
    assert_eq!(
        create["ServiceRole"],
        format!("arn:aws:iam::123456789012:role/gate-trust-{REPOSITORY}"),
        "the release checks' role, the writer of the build cache (not a pull request's)"
    );
    assert_eq!(create["Source"]["Type"], "CODECOMMIT");
    assert_eq!(
        create["LogsConfig"]["CloudWatchLogs"]["GroupName"],
        "/aws/codebuild/gate"
    );
    let lookup = &run.outputs_of("Artifact stored?")[0]["__request"];
    assert_eq!(lookup["Bucket"], "gate-artifacts-123456789012");
    assert_eq!(
        lookup["Key"],
        format!("{REPOSITORY}/api-k1.complete"),
        "the artifact's marker, which the package build writes last"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_answer_that_is_not_an_approval_never_deploys() {
    let input = release("production", "release-not-approved");
    let Some(world) = World::start(stubs(&[], &[]), &[], &input).await else {
        return;
    };
    let execution = world.begin(&input).await;
    let (request, _) = world.approval_request(&execution).await;
    let token = request["task_token"].as_str().expect("a token");
    let wrong = answer(ApprovalDecision::NotAnApprover);
    world
        .moto
        .client
        .send_task_success()
        .task_token(token)
        .output(serde_json::to_string(&wrong).expect("JSON"))
        .send()
        .await
        .expect("SendTaskSuccess");
    let run = world.end(&execution).await;
    let report = report(&run);

    let error = report.approval_error.as_ref().expect("a refusal");
    assert_eq!(error.error.as_deref(), Some(APPROVAL_REFUSED_ERROR));
    let cause: ApprovalAnswer =
        serde_json::from_str(error.cause.as_deref().expect("a cause")).expect("the answer");
    assert_eq!(cause, wrong);
    assert_eq!(outcome(&report), ReleaseOutcome::ApprovalRefused);
    assert_nothing_built(&run, &report);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_error_outside_any_build_is_caught_and_the_release_still_cleans_up_and_finishes() {
    let input = release("staging", "release-broken");
    let mut stubs = stubs(&[], &[]);
    stubs.insert(
        "Create release project".to_owned(),
        Stub::always(Reply::err(
            "CodeBuild.AccountLimitExceededException",
            Some("Cannot have more than 5000 projects".into()),
        )),
    );
    stubs.insert(
        "Delete release project".to_owned(),
        Stub::always(Reply::err("CodeBuild.ResourceNotFoundException", None)),
    );
    let Some(world) = World::start(stubs, &[], &input).await else {
        return;
    };
    let run = world.run(&input).await;
    let report = report(&run);

    let failure = report.failure.as_ref().expect("the caught error");
    assert_eq!(
        failure.error.as_deref(),
        Some("CodeBuild.AccountLimitExceededException")
    );
    assert_eq!(outcome(&report), ReleaseOutcome::Errored);
    assert_nothing_built(&run, &report);
    assert!(
        run.visited("Finish"),
        "a failed clean-up never stops the finish"
    );
}
