//! The gate state machine (`statemachine/gate.asl.json`) executed in moto: stage order, parallel checks, blocking, retries, clean-up on every path, the clean-up mode, the checks mode (a release's environment checks), and a report payload gate-report can read.
//!
//! Each test starts its own moto server (`tests/support/moto.rs`, execute_state_machine on) and
//! runs the real definition with its tasks scripted (`tests/support/moto_machine.rs` says how).
//! Without moto the tests fail under `CI` and are skipped with a notice otherwise; install it
//! with `scripts/install-moto.sh`.

#[allow(dead_code)]
use crate::moto_machine;
#[allow(dead_code)]
use aws_sdk_sfn::types::{ExecutionStatus, HistoryEventType};
use codecommit_gate::ids::{CheckName, CommitId, PullRequestId, RepositoryName, RevisionId};
use codecommit_gate::machine::{
    self, BuildDefaults, CheckRun, CheckSpec, ChecksOutput, EnvVar, ExecutionInput, MachineError,
    Mode, ReportPayload, RunOutcome, StageSpec,
};
use codecommit_gate::report::Subject;
use moto_machine::{MotoSfn, Reply, Run, Stub};
use serde_json::{Value, json};
use std::collections::BTreeMap;

const REPOSITORY: &str = "my-repo";
const PR: &str = "42";
const SOURCE: &str = "0ac0ffee0000000000000000aaaaaaaaaaaaaaaa";
const DESTINATION: &str = "02c0ffee00000000000000002222222222222222";

// ------------------------------------------------------------------ the world

/// The gate machine in a moto that executes it.
struct Moto(MotoSfn);

impl Moto {
    /// A moto server that executes state machines, or `None` (after a notice) without moto.
    async fn start() -> Option<Moto> {
        MotoSfn::start().await.map(Moto)
    }

    async fn run(&self, stubs: &BTreeMap<String, Stub>, input: &Value) -> Run {
        let name = input["execution_name"].as_str().expect("a name");
        let run = moto_machine::run(
            &self.0.client,
            &moto_machine::definition(stubs),
            name,
            input,
        )
        .await;
        self.0.explain(&run);
        run
    }
}

fn environment() -> String {
    machine::environment_name(
        "gate",
        &RepositoryName::from(REPOSITORY),
        &PullRequestId::from(PR),
    )
}

/// A check as gate-start builds it.
fn check(
    name: &str,
    stage: &str,
    required: bool,
    retries: u32,
    retry_on_failure: bool,
) -> CheckSpec {
    let subject = subject();
    let mut env = machine::pr_env(&subject, "refs/heads/feature/x", "refs/heads/main");
    env.push(EnvVar {
        name: "CHECK".into(),
        value: name.into(),
        kind: "PLAINTEXT".into(),
    });
    CheckSpec {
        name: CheckName::from(name),
        stage: stage.into(),
        required,
        buildspec: machine::buildspec(&[format!("make {name}")]),
        image: machine::DEFAULT_IMAGE.into(),
        compute_type: if name == "integration" {
            "BUILD_GENERAL1_LARGE".into()
        } else {
            machine::DEFAULT_COMPUTE_TYPE.into()
        },
        timeout_minutes: 20,
        // Unset: the definition falls back to the run's deadline (gate-start sets it; one test
        // sets it for one check to see both paths).
        task_timeout_seconds: None,
        retries,
        retry_on_failure,
        env,
        reports: None,
        cache: Default::default(),
    }
}

fn subject() -> Subject {
    Subject {
        repository: RepositoryName::from(REPOSITORY),
        pull_request_id: PullRequestId::from(PR),
        title: "Add refunds".into(),
        source_branch: "feature/x".into(),
        destination_branch: "main".into(),
        source_commit: CommitId::from(SOURCE),
        destination_commit: CommitId::from(DESTINATION),
        merge_commit: None,
        revision_id: Some(RevisionId::from("0a0a")),
    }
}

fn stage(name: &str, checks: Vec<CheckSpec>) -> StageSpec {
    StageSpec {
        name: name.into(),
        checks,
    }
}

fn input(execution_name: &str, mode: Mode, stages: Vec<StageSpec>) -> ExecutionInput {
    ExecutionInput {
        version: machine::INPUT_VERSION,
        mode,
        execution_name: execution_name.into(),
        attempt: 1,
        subject: subject(),
        source_reference: "refs/heads/feature/x".into(),
        destination_reference: "refs/heads/main".into(),
        environment: environment(),
        build: BuildDefaults::default(),
        comment_id: None,
        deadline_seconds: machine::deadline_seconds(&stages),
        stages,
        retry_backoff_seconds: 0,
        plan: None,
        carried_results: Vec::new(),
        reuse: None,
    }
}

fn json_of(input: &ExecutionInput) -> Value {
    serde_json::to_value(input).expect("serializable")
}

/// A build as `codecommit:startBuild.sync` returns it (Step Functions' PascalCase `Build`).
fn build(check: &str, attempt: u32, status: &str, commit: &str) -> Value {
    let id = format!(
        "{}:0000{:04}-0000-4000-8000-{:012}",
        environment(),
        attempt,
        check.len() * 7919
    );
    json!({
        "Arn": format!("arn:aws:codebuild:us-east-1:123456789012:build/{id}"),
        "BuildComplete": true,
        "BuildNumber": 7,
        "BuildStatus": status,
        "CurrentPhase": "COMPLETED",
        "EndTime": 1_763_786_470_000_i64,
        "Environment": {
            "ComputeType": machine::DEFAULT_COMPUTE_TYPE,
            "Image": machine::DEFAULT_IMAGE,
            "Type": "LINUX_CONTAINER"
        },
        "Id": id,
        "Initiator": "codecommit-gate-StateMachineRole-EXAMPLE/gate",
        "Logs": {
            "DeepLink": "https://console.aws.amazon.com/cloudwatch/home?region=us-east-1#logsV2:log-groups/log-group/$252Faws$252Fcodebuild$252Fgate",
            "GroupName": "/aws/codebuild/gate",
            "StreamName": check
        },
        "Phases": [
            {"PhaseType": "SUBMITTED", "PhaseStatus": "SUCCEEDED", "DurationInSeconds": 0},
            {"PhaseType": "QUEUED", "PhaseStatus": "SUCCEEDED", "DurationInSeconds": 2},
            {"PhaseType": "BUILD", "PhaseStatus": status, "DurationInSeconds": 55},
            {"PhaseType": "COMPLETED"}
        ],
        "ProjectName": environment(),
        "ResolvedSourceVersion": commit,
        "SourceVersion": commit,
        "StartTime": 1_763_786_410_000_i64,
        "TimeoutInMinutes": 20
    })
}

/// What a check's build attempt does.
#[derive(Clone, Copy)]
enum Attempt {
    Pass,
    /// The build ran and failed: `States.TaskFailed`, the cause holds the build.
    Fail,
    /// CodeBuild itself failed (throttling and the like).
    Infra,
    /// The task timeout fired.
    Timeout,
}

fn attempt_reply(check: &str, n: u32, attempt: Attempt) -> Reply {
    match attempt {
        Attempt::Pass => Reply::ok(json!({"Build": build(check, n, "SUCCEEDED", SOURCE)})),
        Attempt::Fail => Reply::err(
            "States.TaskFailed",
            Some(json!({"Build": build(check, n, "FAILED", SOURCE)}).to_string()),
        ),
        Attempt::Infra => Reply::err(
            "CodeBuild.AWSCodeBuildException",
            Some("Rate exceeded (Service: AWSCodeBuild; Status Code: 400; Error Code: ThrottlingException; Request ID: 0f0e)".into()),
        ),
        Attempt::Timeout => Reply::err("States.Timeout", None),
    }
}

/// Stubs for a run where nothing is left over and every build passes unless `script` says
/// otherwise (check → its attempts, in order).
fn stubs(script: &[(&str, &[Attempt])]) -> BTreeMap<String, Stub> {
    let mut checks = Stub::always(Reply::ok(
        json!({"Build": build("any", 1, "SUCCEEDED", SOURCE)}),
    ));
    for (name, attempts) in script {
        for (i, a) in attempts.iter().enumerate() {
            let n = i as u32 + 1;
            checks = checks.when(
                &[
                    ("$.check.name", json!(name)),
                    ("$.attempt.number", json!(n)),
                ],
                attempt_reply(name, n, *a),
            );
        }
    }
    BTreeMap::from([
        (
            "Create CI environment".to_owned(),
            Stub::always(Reply::ok(json!({"Project": {"Name": environment()}}))),
        ),
        ("Run check".to_owned(), checks),
        (
            "List builds".to_owned(),
            Stub::always(Reply::ok(json!({"Ids": []}))),
        ),
        (
            "Look at build".to_owned(),
            Stub::always(Reply::ok(json!({"Builds": []}))),
        ),
        (
            "Stop build".to_owned(),
            Stub::always(Reply::ok(json!({"Build": {}}))),
        ),
        (
            "Delete CI environment".to_owned(),
            Stub::always(Reply::ok(json!({}))),
        ),
    ])
}

/// The report payload the run ended with, as gate-report parses it.
fn report(run: &Run) -> ReportPayload {
    assert_eq!(run.status, ExecutionStatus::Succeeded);
    serde_json::from_value(run.output.clone().expect("an output")).expect("a ReportPayload")
}

fn outcomes(payload: &ReportPayload) -> Vec<(String, RunOutcome, u32)> {
    payload
        .check_runs()
        .iter()
        .map(|r| (r.name.as_str().to_owned(), r.outcome, r.attempts))
        .collect()
}

fn run_of<'p>(payload: &'p ReportPayload, name: &str) -> &'p CheckRun {
    payload
        .check_runs()
        .into_iter()
        .find(|r| r.name.as_str() == name)
        .unwrap_or_else(|| panic!("no run of {name}"))
}

/// The stage names, in the order the machine ran them.
fn stages_run(run: &Run) -> Vec<String> {
    run.inputs_of("Run stage")
        .iter()
        .map(|i| {
            i["loop"]["stage"]["name"]
                .as_str()
                .expect("stage name")
                .to_owned()
        })
        .collect()
}

/// The clean-up ran and the environment stayed (gate mode).
fn assert_cleaned_up_and_reported(run: &Run) {
    for state in ["List builds", "Cleaned up", "Report"] {
        assert!(run.visited(state), "{state} was not entered");
    }
    assert!(
        !run.visited("Delete CI environment"),
        "a gate run keeps the environment"
    );
}

use Attempt::{Fail, Infra, Pass, Timeout};

// ------------------------------------------------------------------ stories

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_passing_run_runs_the_stages_in_order_and_reports_every_check() {
    let Some(moto) = Moto::start().await else {
        return;
    };
    let stages = vec![
        stage(
            "lint",
            vec![
                check("fmt", "lint", true, 0, false),
                check("clippy", "lint", true, 0, false),
            ],
        ),
        stage(
            "test",
            vec![
                check("unit", "test", true, 0, false),
                check("integration", "test", true, 1, false),
            ],
        ),
        stage("package", vec![check("build", "package", true, 0, false)]),
    ];
    let mut input = input("pass", Mode::Gate, stages);
    // gate-start gives a check its own task timeout; without it the run's deadline applies.
    input.stages[1].checks[1].task_timeout_seconds = Some(1500);
    // A check with `cache` gets the repository's S3 cache (restored only: a pull request),
    // the others none.
    let scope = machine::cache::CacheScope {
        location: Some("gate-artifacts-1/cache"),
        repository: REPOSITORY,
        commit: DESTINATION,
        access: machine::cache::CacheAccess::Restore,
    };
    input.stages[1].checks[0].cache = scope.project_cache(&["target".to_owned()]);
    let raw = json_of(&input);
    let script: Vec<(&str, &[Attempt])> = ["fmt", "clippy", "unit", "integration", "build"]
        .iter()
        .map(|c| (*c, &[Pass][..]))
        .collect();
    let run = moto.run(&stubs(&script), &raw).await;
    let payload = report(&run);

    assert_eq!(stages_run(&run), ["lint", "test", "package"]);
    assert_eq!(
        outcomes(&payload),
        [
            ("fmt".to_owned(), RunOutcome::Passed, 1),
            ("clippy".to_owned(), RunOutcome::Passed, 1),
            ("unit".to_owned(), RunOutcome::Passed, 1),
            ("integration".to_owned(), RunOutcome::Passed, 1),
            ("build".to_owned(), RunOutcome::Passed, 1),
        ]
    );
    assert_eq!(payload.input, input, "the input, unchanged");
    assert_eq!(payload.failure, None);
    assert_eq!(
        payload.started_at.as_deref(),
        Some(moto_machine::STARTED_AT)
    );
    let unit = run_of(&payload, "unit");
    assert_eq!(
        unit.build,
        Some(build("unit", 1, "SUCCEEDED", SOURCE)),
        "the Build object"
    );
    assert_eq!((unit.error.as_deref(), unit.cause.as_deref()), (None, None));
    // The chain: newest stage first, ending in the empty sentinel.
    let chain = payload.stages.as_ref().expect("stages");
    assert_eq!(chain.results[0].name.as_str(), "build");
    let sentinel = chain
        .prev
        .as_ref()
        .and_then(|p| p.prev.as_ref())
        .and_then(|p| p.prev.as_ref())
        .expect("sentinel");
    assert!(sentinel.results.is_empty() && sentinel.prev.is_none());

    // The CI environment, as created for the PR.
    let create = &run.outputs_of("Create CI environment")[0]["__request"];
    assert_eq!(create["Name"], environment());
    assert_eq!(create["Source"]["Type"], "CODECOMMIT");
    assert_eq!(
        create["Source"]["Location"],
        format!("https://git-codecommit.us-east-1.amazonaws.com/v1/repos/{REPOSITORY}")
    );
    assert_eq!(
        create["Source"]["GitCloneDepth"], 0,
        "the build merges the destination: full history"
    );
    assert_eq!(create["Environment"]["Image"], machine::DEFAULT_IMAGE);
    assert_eq!(
        create["Environment"]["ComputeType"],
        machine::DEFAULT_COMPUTE_TYPE
    );
    assert_eq!(create["Artifacts"]["Type"], "NO_ARTIFACTS");
    assert_eq!(
        create["LogsConfig"]["CloudWatchLogs"]["GroupName"],
        "/aws/codebuild/gate"
    );
    // The repository's own build role (template.yaml: BuildRole<repository>), which may pull
    // this repository only.
    assert_eq!(
        create["ServiceRole"],
        format!("arn:aws:iam::123456789012:role/gate-build-{REPOSITORY}")
    );
    assert_eq!(
        create["Environment"]["ImagePullCredentialsType"], "CODEBUILD",
        "a curated image is pulled with CodeBuild's credentials"
    );

    // Every build: the PR's environment at the source commit, the check's own overrides, PR
    // facts as environment variables only.
    let requests: BTreeMap<String, Value> = run
        .outputs_of("Run check")
        .into_iter()
        .map(|o| {
            (
                o["check"]["name"].as_str().expect("name").to_owned(),
                o["__request"].clone(),
            )
        })
        .collect();
    assert_eq!(requests.len(), 5);
    for stage in &input.stages {
        for check in &stage.checks {
            let r = &requests[check.name.as_str()];
            assert_eq!(r["ProjectName"], environment());
            assert_eq!(r["SourceVersion"], SOURCE);
            assert_eq!(r["BuildspecOverride"], check.buildspec);
            assert_eq!(r["ImageOverride"], check.image);
            assert_eq!(r["ImagePullCredentialsTypeOverride"], "CODEBUILD");
            assert_eq!(r["ComputeTypeOverride"], check.compute_type);
            assert_eq!(r["TimeoutInMinutesOverride"], check.timeout_minutes);
            assert_eq!(
                r["EnvironmentVariablesOverride"],
                serde_json::to_value(&check.env).expect("env")
            );
            assert_eq!(
                r["CacheOverride"],
                serde_json::to_value(&check.cache).expect("cache")
            );
        }
    }
    assert_eq!(
        requests["unit"]["CacheOverride"],
        json!({"Type": "S3", "Location": "gate-artifacts-1/cache/my-repo", "CacheNamespace": "my-repo"})
    );
    assert_eq!(
        requests["fmt"]["CacheOverride"],
        json!({"Type": "NO_CACHE"})
    );
    assert_eq!(
        requests["integration"]["ComputeTypeOverride"],
        "BUILD_GENERAL1_LARGE"
    );
    // The task timeout: the check's own when set, else the run's deadline.
    let timeouts: BTreeMap<String, Value> = run
        .inputs_of("Run check")
        .into_iter()
        .map(|i| {
            (
                i["check"]["name"].as_str().expect("name").to_owned(),
                i["check"]["task_timeout_seconds"].clone(),
            )
        })
        .collect();
    assert_eq!(timeouts["integration"], 1500);
    assert_eq!(timeouts["fmt"], input.deadline_seconds);
    assert_cleaned_up_and_reported(&run);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn images_outside_aws_codebuild_are_pulled_with_the_build_role() {
    let Some(moto) = Moto::start().await else {
        return;
    };
    const PRIVATE: &str = "123456789012.dkr.ecr.us-east-1.amazonaws.com/ci/rust:1.94";
    let mut private = check("private", "test", true, 0, false);
    private.image = PRIVATE.into();
    let mut hub = check("hub", "test", true, 0, false);
    hub.image = "public.ecr.aws/docker/library/rust:1.94".into();
    let curated = check("curated", "test", true, 0, false);
    let mut input = input(
        "images",
        Mode::Gate,
        vec![stage("test", vec![private, hub, curated])],
    );
    // The environment's own image (DefaultImage, or a gate file's) is private too.
    input.build.image = PRIVATE.into();
    let script: Vec<(&str, &[Attempt])> = ["private", "hub", "curated"]
        .iter()
        .map(|c| (*c, &[Pass][..]))
        .collect();
    let run = moto.run(&stubs(&script), &json_of(&input)).await;
    let create = &run.outputs_of("Create CI environment")[0]["__request"];
    assert_eq!(create["Environment"]["Image"], PRIVATE);
    assert_eq!(
        create["Environment"]["ImagePullCredentialsType"],
        "SERVICE_ROLE"
    );
    let credentials: BTreeMap<String, (Value, Value)> = run
        .outputs_of("Run check")
        .into_iter()
        .map(|o| {
            (
                o["check"]["name"].as_str().expect("name").to_owned(),
                (
                    o["__request"]["ImageOverride"].clone(),
                    o["__request"]["ImagePullCredentialsTypeOverride"].clone(),
                ),
            )
        })
        .collect();
    assert_eq!(
        credentials["private"],
        (json!(PRIVATE), json!("SERVICE_ROLE"))
    );
    assert_eq!(credentials["hub"].1, "SERVICE_ROLE");
    assert_eq!(
        credentials["curated"],
        (json!(machine::DEFAULT_IMAGE), json!("CODEBUILD"))
    );
    assert_eq!(
        outcomes(&report(&run)),
        [
            ("private".to_owned(), RunOutcome::Passed, 1),
            ("hub".to_owned(), RunOutcome::Passed, 1),
            ("curated".to_owned(), RunOutcome::Passed, 1),
        ]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_check_of_a_stage_runs_at_once() {
    let Some(moto) = Moto::start().await else {
        return;
    };
    let checks: Vec<CheckSpec> = ["a", "b", "c"]
        .iter()
        .map(|n| check(n, "test", true, 0, false))
        .collect();
    let input = input("fan-out", Mode::Gate, vec![stage("test", checks)]);
    let mut stubs = stubs(&[]);
    stubs.insert(
        "Run check".into(),
        Stub::always(Reply::Ok {
            response: json!({"Build": build("any", 1, "SUCCEEDED", SOURCE)}),
            delay_seconds: 1,
        }),
    );
    let run = moto.run(&stubs, &json_of(&input)).await;
    let payload = report(&run);
    assert_eq!(outcomes(&payload).len(), 3);
    // One Map for the stage; all three iterations start before any ends.
    assert_eq!(stages_run(&run), ["test"]);
    let started = run.of_type(HistoryEventType::MapIterationStarted);
    let first_done = run
        .of_type(HistoryEventType::MapIterationSucceeded)
        .first()
        .map(|e| e.id())
        .expect("iterations end");
    let stage_iterations: Vec<i64> = started
        .iter()
        .filter(|e| {
            e.map_iteration_started_event_details()
                .is_some_and(|d| d.name() == Some("Run stage"))
        })
        .map(|e| e.id())
        .collect();
    assert_eq!(stage_iterations.len(), 3);
    assert!(
        stage_iterations.iter().all(|id| *id < first_done),
        "iterations {stage_iterations:?}, first done at {first_done}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_required_check_stops_later_stages_and_optional_failures_never_block() {
    let Some(moto) = Moto::start().await else {
        return;
    };
    let stages = vec![
        stage(
            "lint",
            vec![
                check("fmt", "lint", true, 0, false),
                check("docs-links", "lint", false, 0, false),
            ],
        ),
        // `unit` may retry infrastructure errors, but not a test failure.
        stage(
            "test",
            vec![
                check("unit", "test", true, 2, false),
                check("web", "test", true, 0, false),
            ],
        ),
        stage("package", vec![check("build", "package", true, 0, false)]),
    ];
    let input = input("blocked", Mode::Gate, stages);
    let run = moto
        .run(
            &stubs(&[("docs-links", &[Fail]), ("unit", &[Fail, Pass])]),
            &json_of(&input),
        )
        .await;
    let payload = report(&run);

    assert_eq!(
        stages_run(&run),
        ["lint", "test"],
        "the package stage never runs"
    );
    assert_eq!(
        outcomes(&payload),
        [
            ("fmt".to_owned(), RunOutcome::Passed, 1),
            ("docs-links".to_owned(), RunOutcome::Failed, 1),
            ("unit".to_owned(), RunOutcome::Failed, 1),
            ("web".to_owned(), RunOutcome::Passed, 1),
        ]
    );
    let unit = run_of(&payload, "unit");
    assert_eq!(unit.error.as_deref(), Some("States.TaskFailed"));
    let cause: Value = serde_json::from_str(unit.cause.as_deref().expect("a cause"))
        .expect("the cause is the build");
    assert_eq!(cause["Build"]["BuildStatus"], "FAILED");
    assert_eq!(unit.build, None);
    assert!(
        !run.visited("Wait before retry"),
        "a test failure is not retried without retry_on_failure"
    );
    assert_eq!(
        payload.failure, None,
        "a failed check is a result, not a machine error"
    );
    assert_cleaned_up_and_reported(&run);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn infrastructure_errors_are_retried_and_test_failures_only_when_asked() {
    let Some(moto) = Moto::start().await else {
        return;
    };
    let checks = vec![
        check("throttled", "test", true, 1, false),
        check("flaky", "test", false, 2, true),
        check("broken-infra", "test", false, 1, false),
        check("slow", "test", false, 0, false),
        check("red", "test", false, 2, false),
    ];
    let mut input = input("retries", Mode::Gate, vec![stage("test", checks)]);
    input.retry_backoff_seconds = 1;
    let run = moto
        .run(
            &stubs(&[
                ("throttled", &[Infra, Pass]),
                ("flaky", &[Fail, Pass]),
                ("broken-infra", &[Infra, Infra]),
                ("slow", &[Timeout]),
                ("red", &[Fail]),
            ]),
            &json_of(&input),
        )
        .await;
    let payload = report(&run);
    assert_eq!(
        outcomes(&payload),
        [
            ("throttled".to_owned(), RunOutcome::Passed, 2),
            ("flaky".to_owned(), RunOutcome::Passed, 2),
            ("broken-infra".to_owned(), RunOutcome::Errored, 2),
            ("slow".to_owned(), RunOutcome::TimedOut, 1),
            ("red".to_owned(), RunOutcome::Failed, 1),
        ]
    );
    let throttled = run_of(&payload, "throttled");
    assert_eq!(
        throttled.build,
        Some(build("throttled", 2, "SUCCEEDED", SOURCE)),
        "the last attempt's build"
    );
    let broken = run_of(&payload, "broken-infra");
    assert_eq!(
        broken.error.as_deref(),
        Some("CodeBuild.AWSCodeBuildException")
    );
    assert!(
        broken
            .cause
            .as_deref()
            .is_some_and(|c| c.contains("ThrottlingException"))
    );
    let slow = run_of(&payload, "slow");
    assert_eq!(
        (slow.error.as_deref(), slow.cause.as_deref()),
        (Some("States.Timeout"), None)
    );
    // Three retries (throttled, flaky, broken-infra), each after the input's backoff.
    let waits = run.inputs_of("Wait before retry");
    assert_eq!(waits.len(), 3);
    assert!(waits.iter().all(|w| w["backoff_seconds"] == 1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_existing_environment_is_reused_and_errors_outside_the_checks_are_caught_cleaned_up_and_reported()
 {
    let Some(moto) = Moto::start().await else {
        return;
    };
    let stages = || vec![stage("test", vec![check("unit", "test", true, 0, false)])];

    // A later push: the environment exists already.
    let mut existing = stubs(&[]);
    existing.insert(
        "Create CI environment".into(),
        Stub::always(Reply::err(
            "CodeBuild.ResourceAlreadyExistsException",
            Some(format!(
                "Project already exists: arn:aws:codebuild:us-east-1:123456789012:project/{}",
                environment()
            )),
        )),
    );
    let input_reuse = input("reuse", Mode::Gate, stages());
    let run = moto.run(&existing, &json_of(&input_reuse)).await;
    let payload = report(&run);
    assert_eq!(
        outcomes(&payload),
        [("unit".to_owned(), RunOutcome::Passed, 1)]
    );
    assert_eq!(payload.failure, None);

    // The environment cannot be created: no check runs, the error is reported.
    let mut broken = stubs(&[]);
    broken.insert(
        "Create CI environment".into(),
        Stub::always(Reply::err(
            "CodeBuild.AccessDeniedException",
            Some("not authorized to perform: codebuild:CreateProject".into()),
        )),
    );
    let input_broken = input("broken", Mode::Gate, stages());
    let run = moto.run(&broken, &json_of(&input_broken)).await;
    let payload = report(&run);
    assert!(!run.visited("Run stage"));
    assert!(payload.check_runs().is_empty());
    assert_eq!(
        payload
            .stages
            .as_ref()
            .map(|s| (s.results.is_empty(), s.prev.is_none())),
        Some((true, true)),
        "only the sentinel"
    );
    assert_eq!(
        payload.failure,
        Some(MachineError {
            error: Some("CodeBuild.AccessDeniedException".into()),
            cause: Some("not authorized to perform: codebuild:CreateProject".into()),
        })
    );
    assert_cleaned_up_and_reported(&run);
}

/// Builds in the environment: this run's (running), another commit's (running), a finished
/// one, one without a source version, one CodeBuild no longer knows.
fn leftover_builds(stubs: &mut BTreeMap<String, Stub>) {
    let ids: Vec<String> = (1..=5)
        .map(|i| format!("{}:leftover-{i}", environment()))
        .collect();
    let found = |i: usize, status: &str, commit: Option<&str>| {
        let mut b = build("leftover", i as u32, status, commit.unwrap_or(""));
        b["Id"] = json!(ids[i - 1]);
        if commit.is_none() {
            let o = b.as_object_mut().expect("object");
            o.remove("SourceVersion");
            o.remove("ResolvedSourceVersion");
        }
        Reply::ok(json!({"Builds": [b], "BuildsNotFound": []}))
    };
    stubs.insert(
        "List builds".into(),
        Stub::always(Reply::ok(json!({"Ids": ids}))),
    );
    stubs.insert(
        "Look at build".into(),
        Stub::always(Reply::ok(json!({"Builds": [], "BuildsNotFound": [ids[4]]})))
            .when(
                &[("$.id", json!(ids[0]))],
                found(1, "IN_PROGRESS", Some(SOURCE)),
            )
            .when(
                &[("$.id", json!(ids[1]))],
                found(2, "IN_PROGRESS", Some(DESTINATION)),
            )
            .when(
                &[("$.id", json!(ids[2]))],
                found(3, "SUCCEEDED", Some(SOURCE)),
            )
            .when(&[("$.id", json!(ids[3]))], found(4, "IN_PROGRESS", None)),
    );
}

fn stopped(run: &Run) -> Vec<String> {
    let mut ids: Vec<String> = run
        .inputs_of("Stop build")
        .iter()
        .map(|i| i["id"].as_str().expect("id").to_owned())
        .collect();
    ids.sort();
    ids
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clean_up_stops_only_this_runs_builds_that_are_still_running() {
    let Some(moto) = Moto::start().await else {
        return;
    };
    let mut stubs = stubs(&[("unit", &[Fail])]);
    leftover_builds(&mut stubs);
    let input = input(
        "leftovers",
        Mode::Gate,
        vec![stage("test", vec![check("unit", "test", true, 0, false)])],
    );
    let run = moto.run(&stubs, &json_of(&input)).await;
    let payload = report(&run);
    assert_eq!(
        outcomes(&payload),
        [("unit".to_owned(), RunOutcome::Failed, 1)]
    );
    assert_eq!(stopped(&run), [format!("{}:leftover-1", environment())]);
    assert_eq!(run.inputs_of("Look at build").len(), 5);
    assert_cleaned_up_and_reported(&run);
}

/// What a checks-mode run handed back, as the release machine reads it.
fn checks_output(run: &Run) -> ChecksOutput {
    assert_eq!(run.status, ExecutionStatus::Succeeded);
    serde_json::from_value(run.output.clone().expect("an output")).expect("a ChecksOutput")
}

/// Check runs of a stage chain, oldest stage first.
fn chain_outcomes(output: &ChecksOutput) -> Vec<(String, RunOutcome)> {
    let payload = ReportPayload {
        input: input("unused", Mode::Checks, Vec::new()),
        stages: Some(output.stages.clone()),
        failure: None,
        started_at: None,
    };
    payload
        .check_runs()
        .iter()
        .map(|r| (r.name.as_str().to_owned(), r.outcome))
        .collect()
}

/// Checks mode neither creates, reports nor deletes: the project is the caller's.
fn assert_checks_mode_path(run: &Run) {
    for state in [
        "Pull credentials?",
        "Create CI environment",
        "Report",
        "Delete CI environment",
    ] {
        assert!(!run.visited(state), "checks mode entered {state}");
    }
    for state in ["List builds", "Cleaned up", "Checks result"] {
        assert!(run.visited(state), "{state} was not entered");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_checks_mode_runs_the_stages_in_the_given_project_and_outputs_the_chain() {
    let Some(moto) = Moto::start().await else {
        return;
    };
    let stages = vec![
        stage("lint", vec![check("fmt", "lint", true, 0, false)]),
        stage(
            "test",
            vec![
                check("unit", "test", true, 0, false),
                check("docs-links", "test", false, 0, false),
            ],
        ),
    ];
    let input = input("checks-pass", Mode::Checks, stages);
    let mut stubs = stubs(&[("docs-links", &[Fail])]);
    leftover_builds(&mut stubs);
    let run = moto.run(&stubs, &json_of(&input)).await;
    let output = checks_output(&run);

    assert_eq!(stages_run(&run), ["lint", "test"]);
    assert_eq!(
        chain_outcomes(&output),
        [
            ("fmt".to_owned(), RunOutcome::Passed),
            ("unit".to_owned(), RunOutcome::Passed),
            ("docs-links".to_owned(), RunOutcome::Failed),
        ]
    );
    assert!(!output.blocked, "an optional failure does not block");
    assert_eq!(output.failure, None);
    for request in run.outputs_of("Run check") {
        assert_eq!(request["__request"]["ProjectName"], environment());
        assert_eq!(request["__request"]["SourceVersion"], SOURCE);
    }
    assert_eq!(
        stopped(&run),
        [format!("{}:leftover-1", environment())],
        "only its own running builds are stopped"
    );
    assert_checks_mode_path(&run);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_required_check_blocks_a_checks_mode_run_and_stops_later_stages() {
    let Some(moto) = Moto::start().await else {
        return;
    };
    let stages = vec![
        stage("lint", vec![check("fmt", "lint", true, 0, false)]),
        stage("test", vec![check("unit", "test", true, 0, false)]),
    ];
    let input = input("checks-blocked", Mode::Checks, stages);
    let run = moto
        .run(&stubs(&[("fmt", &[Fail])]), &json_of(&input))
        .await;
    let output = checks_output(&run);

    assert_eq!(stages_run(&run), ["lint"], "the test stage never runs");
    assert_eq!(
        chain_outcomes(&output),
        [("fmt".to_owned(), RunOutcome::Failed)]
    );
    assert!(output.blocked);
    assert_checks_mode_path(&run);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cleanup_mode_stops_every_running_build_and_deletes_the_environment() {
    let Some(moto) = Moto::start().await else {
        return;
    };
    let mut stubs = stubs(&[]);
    leftover_builds(&mut stubs);
    let run = moto
        .run(
            &stubs,
            &json_of(&input("closed", Mode::Cleanup, Vec::new())),
        )
        .await;
    assert_eq!(run.status, ExecutionStatus::Succeeded);
    let env = environment();
    assert_eq!(
        stopped(&run),
        [
            format!("{env}:leftover-1"),
            format!("{env}:leftover-2"),
            format!("{env}:leftover-4")
        ]
    );
    assert_eq!(
        run.outputs_of("Delete CI environment")[0]["__request"],
        json!({"Name": env})
    );
    assert!(run.visited("Environment deleted"));
    for state in ["Create CI environment", "Run stage", "Report"] {
        assert!(!run.visited(state), "{state} in cleanup mode");
    }

    // Already gone: not found is done.
    let mut gone = self::stubs(&[]);
    gone.insert(
        "List builds".into(),
        Stub::always(Reply::err(
            "CodeBuild.ResourceNotFoundException",
            Some(format!("The provided project {env} does not exist")),
        )),
    );
    gone.insert(
        "Delete CI environment".into(),
        Stub::always(Reply::err("CodeBuild.ResourceNotFoundException", None)),
    );
    let run = moto
        .run(
            &gone,
            &json_of(&input("closed-again", Mode::Cleanup, Vec::new())),
        )
        .await;
    assert_eq!(run.status, ExecutionStatus::Succeeded);
    assert!(run.visited("Environment deleted"));
    assert!(!run.visited("Stop builds"));
}

// ------------------------------------------------------------------ the definition itself

#[test]
fn the_report_step_sends_exactly_a_report_payload_and_retries_lambda_errors() {
    let text = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("statemachine/gate.asl.json"),
    )
    .expect("definition");
    let text = moto_machine::SUBSTITUTIONS
        .iter()
        .fold(text, |t, (name, value)| {
            t.replace(&format!("${{{name}}}"), value)
        });
    let asl: Value = serde_json::from_str(&text).expect("JSON");
    let report = &asl["States"]["Report"];
    assert_eq!(report["Resource"], "arn:aws:states:::lambda:invoke");
    assert_eq!(
        report["Parameters"]["Payload"],
        json!({
            "input.$": "$.input",
            "stages.$": "$.acc",
            "failure.$": "$.failure",
            "started_at.$": "$$.Execution.StartTime"
        })
    );
    // The payload's keys are ReportPayload's fields.
    let empty = ReportPayload {
        input: input("x", Mode::Gate, Vec::new()),
        stages: None,
        failure: None,
        started_at: None,
    };
    let fields: Vec<String> = serde_json::to_value(&empty)
        .expect("json")
        .as_object()
        .expect("object")
        .keys()
        .cloned()
        .collect();
    let mut keys: Vec<String> = report["Parameters"]["Payload"]
        .as_object()
        .expect("payload")
        .keys()
        .map(|k| k.trim_end_matches(".$").to_owned())
        .collect();
    keys.sort();
    let mut fields = fields;
    fields.sort();
    assert_eq!(keys, fields);
    let retried: Vec<&str> = report["Retry"][0]["ErrorEquals"]
        .as_array()
        .expect("a retrier")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    for error in ["Lambda.ServiceException", "Lambda.TooManyRequestsException"] {
        assert!(retried.contains(&error), "{error}");
    }
    // The normalized state's first link is the empty sentinel.
    assert_eq!(
        asl["States"]["Normalize"]["Parameters"]["acc"],
        json!({"results": [], "prev": null})
    );
    assert_eq!(asl["TimeoutSeconds"], 3600);
}
