//! The real Step Functions and DynamoDB adapters over HTTP against moto: idempotent starts, stops, statuses, conditional writes, the merge queues' transactions and races.
//!
//! Each test starts its own moto server (`tests/support/moto.rs`); without moto they fail under
//! `CI` and are skipped with a notice otherwise. Install it with `scripts/install-moto.sh`.

use crate::moto_server;
use crate::queue_entry;
use crate::world;

use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_sdk_dynamodb::types::{
    AttributeDefinition, AttributeValue, BillingMode, KeySchemaElement, KeyType,
    ScalarAttributeType,
};
use aws_sdk_sfn::config::Credentials;
use codecommit_gate::aws::{
    AwsLedger, AwsMergeQueues, Clients, reporter_session_arn, retry_config,
};
use codecommit_gate::ids::{PullRequestId, RepositoryName};
use codecommit_gate::machine::ExecutionInput;
use codecommit_gate::ports::merges::{MergeQueues, StoredQueue};
use codecommit_gate::ports::{
    ExecutionStatus, Executions, Ledger, PortError, PrRecord, Started, Written,
};
use moto_server::MotoServer;
use queue_entry::{Entry, entry};
use serde_json::json;

const ROLE: &str = "arn:aws:iam::123456789012:role/x";
const TABLE: &str = "codecommit-gate-ledger";

async fn sdk_config(moto: &MotoServer) -> SdkConfig {
    aws_config::defaults(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .credentials_provider(Credentials::new("testing", "testing", None, None, "moto"))
        .endpoint_url(moto.endpoint())
        .retry_config(retry_config())
        .load()
        .await
}

fn input(name: &str, attempt: u32) -> ExecutionInput {
    serde_json::from_value(json!({
        "version": codecommit_gate::machine::INPUT_VERSION,
        "mode": "gate",
        "execution_name": name,
        "attempt": attempt,
        "subject": {
            "repository": "MyDemoRepo",
            "pull_request_id": "27",
            "title": "Quick fix for bug 1234",
            "source_branch": "bugfix-1234",
            "destination_branch": "main",
            "source_commit": "ca45e279EXAMPLE",
            "destination_commit": "2abfc6beEXAMPLE",
            "merge_commit": null,
            "revision_id": "e47def21EXAMPLE"
        },
        "source_reference": "refs/heads/bugfix-1234",
        "destination_reference": "refs/heads/main",
        "environment": "gate-MyDemoRepo-27",
        "build": {
            "image": "aws/codebuild/amazonlinux-x86_64-standard:5.0",
            "compute_type": "BUILD_GENERAL1_SMALL"
        },
        "comment_id": null,
        "stages": [],
        "deadline_seconds": 3600,
        "plan": null
    }))
    .expect("a valid execution input")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn step_functions_starts_are_idempotent_and_stops_are_tolerant() {
    let Some(moto) = MotoServer::start() else {
        return;
    };
    let config = sdk_config(&moto).await;
    let clients = Clients::from_config(&config, None).await;
    let machine = clients
        .sfn()
        .create_state_machine()
        .name("codecommit-gate")
        .definition(
            json!({ "StartAt": "Done", "States": { "Done": { "Type": "Pass", "End": true } } })
                .to_string(),
        )
        .role_arn(ROLE)
        .send()
        .await
        .expect("state machine")
        .state_machine_arn()
        .to_owned();
    let executions = clients.executions(&machine);
    let name = "gate-MyDemoRepo-pr27-ca45e279-1-0123456789";
    let arn = executions.execution_arn(name).expect("arn");
    assert_eq!(
        arn,
        format!("arn:aws:states:us-east-1:123456789012:execution:codecommit-gate:{name}")
    );

    let first = executions
        .start(name, &input(name, 1))
        .await
        .expect("start");
    assert_eq!(
        first,
        Started::Started {
            execution_arn: arn.clone()
        }
    );
    let again = executions
        .start(name, &input(name, 1))
        .await
        .expect("again");
    assert_eq!(
        again, first,
        "same name and input while running: the same execution"
    );
    let other = executions
        .start(name, &input(name, 2))
        .await
        .expect("other input");
    assert_eq!(
        other,
        Started::AlreadyExists {
            execution_arn: arn.clone()
        }
    );

    assert_eq!(
        executions.status(&arn).await.expect("status"),
        Some(ExecutionStatus::Running)
    );
    executions.stop(&arn, "superseded").await.expect("stop");
    assert_eq!(
        executions.status(&arn).await.expect("status"),
        Some(ExecutionStatus::Aborted)
    );
    executions
        .stop(&arn, "superseded")
        .await
        .expect("stopping a finished execution is fine");
    assert_eq!(
        executions
            .start(name, &input(name, 1))
            .await
            .expect("closed"),
        Started::AlreadyExists {
            execution_arn: arn.clone()
        },
        "a closed execution's name cannot be reused"
    );

    let missing = executions.execution_arn("never-started").expect("arn");
    assert_eq!(executions.status(&missing).await.expect("none"), None);
    executions
        .stop(&missing, "cleanup")
        .await
        .expect("stopping a missing execution is fine");

    let nowhere = clients.executions(format!("{machine}-missing"));
    let err = nowhere
        .start(name, &input(name, 1))
        .await
        .expect_err("no such state machine");
    assert!(
        matches!(
            &err,
            PortError::Permanent {
                call: "states:StartExecution",
                message
            } if message.contains("StateMachineDoesNotExist")
        ),
        "{err:?}"
    );
}

async fn create_table(clients: &Clients) {
    clients
        .dynamodb()
        .create_table()
        .table_name(TABLE)
        .attribute_definitions(
            AttributeDefinition::builder()
                .attribute_name("pk")
                .attribute_type(ScalarAttributeType::S)
                .build()
                .expect("attribute"),
        )
        .key_schema(
            KeySchemaElement::builder()
                .attribute_name("pk")
                .key_type(KeyType::Hash)
                .build()
                .expect("key"),
        )
        .billing_mode(BillingMode::PayPerRequest)
        .send()
        .await
        .expect("table");
}

fn repo() -> RepositoryName {
    RepositoryName::new("MyDemoRepo")
}

fn pr() -> PullRequestId {
    PullRequestId::new("27")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ledger_writes_are_conditional_on_the_version_read() {
    let Some(moto) = MotoServer::start() else {
        return;
    };
    let clients = Clients::from_config(&sdk_config(&moto).await, None).await;
    let err = clients
        .ledger(TABLE)
        .get(&repo(), &pr())
        .await
        .expect_err("no table yet");
    assert!(
        matches!(
            &err,
            PortError::Permanent {
                call: "dynamodb:GetItem",
                message
            } if message.contains("ResourceNotFoundException")
        ),
        "{err:?}"
    );
    create_table(&clients).await;
    let ledger = clients.ledger(TABLE);

    assert_eq!(ledger.get(&repo(), &pr()).await.expect("get"), None);
    let mut record = PrRecord::new(repo(), pr());
    record.environment = Some("gate-MyDemoRepo-27".into());
    assert_eq!(ledger.put(&record).await.expect("put"), Written::Written);
    assert_eq!(
        ledger.put(&record).await.expect("put"),
        Written::Conflict,
        "a second first write loses"
    );

    let stored = ledger
        .get(&repo(), &pr())
        .await
        .expect("get")
        .expect("item");
    assert_eq!(stored.version, 1);
    assert_eq!(
        stored,
        PrRecord {
            version: 1,
            ..record.clone()
        }
    );

    let mut closed = stored.clone();
    closed.closed = true;
    assert_eq!(ledger.put(&closed).await.expect("put"), Written::Written);
    assert_eq!(
        ledger.put(&stored).await.expect("put"),
        Written::Conflict,
        "a write from a stale version loses"
    );
    let latest = ledger
        .get(&repo(), &pr())
        .await
        .expect("get")
        .expect("item");
    assert_eq!(latest.version, 2);
    assert!(latest.closed);

    let item = clients
        .dynamodb()
        .get_item()
        .table_name(TABLE)
        .key("pk", AttributeValue::S("MyDemoRepo#27".into()))
        .send()
        .await
        .expect("raw item")
        .item
        .expect("item");
    assert_eq!(item.get("version"), Some(&AttributeValue::N("2".into())));
    assert_eq!(item.get("closed"), Some(&AttributeValue::Bool(true)));
    assert!(
        item.get("updated_at")
            .and_then(|v| v.as_n().ok())
            .is_some_and(|n| n.parse::<u64>().is_ok_and(|t| t > 1_700_000_000))
    );
    let json: PrRecord = serde_json::from_str(
        item.get("record")
            .and_then(|v| v.as_s().ok())
            .expect("record"),
    )
    .expect("record JSON");
    assert_eq!(json, latest);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn coverage_bases_are_one_versioned_item_per_branch() {
    use codecommit_gate::test_reports::{CoverageBases, LineCoverage, RecordedCoverage};
    let Some(moto) = MotoServer::start() else {
        return;
    };
    let clients = Clients::from_config(&sdk_config(&moto).await, None).await;
    create_table(&clients).await;
    let ledger = clients.ledger(TABLE);
    let empty = ledger
        .coverage_bases(&repo(), "refs/heads/main")
        .await
        .expect("get");
    assert_eq!(empty, CoverageBases::empty("main"));
    let mut bases = empty.clone();
    bases.record(&[(
        "api-tests".into(),
        RecordedCoverage {
            line: LineCoverage {
                covered: 816,
                valid: 1000,
            },
            execution: "gate-MyDemoRepo-27-a1b2c3d".into(),
            commit: "c1".into(),
            started_ms: 1_764_680_000_000,
        },
    )]);
    assert_eq!(
        ledger
            .put_coverage_bases(&repo(), &bases)
            .await
            .expect("put"),
        Written::Written
    );
    assert_eq!(
        ledger
            .put_coverage_bases(&repo(), &bases)
            .await
            .expect("put"),
        Written::Conflict,
        "a write from the version another writer moved on loses"
    );
    let stored = ledger.coverage_bases(&repo(), "main").await.expect("get");
    assert_eq!(stored, bases.written());
    let item = clients
        .dynamodb()
        .get_item()
        .table_name(TABLE)
        .key("pk", AttributeValue::S("MyDemoRepo#coverage#main".into()))
        .send()
        .await
        .expect("raw item")
        .item
        .expect("item");
    assert_eq!(item.get("version"), Some(&AttributeValue::N("1".into())));
    assert_eq!(
        ledger
            .coverage_bases(&repo(), "develop")
            .await
            .expect("get"),
        CoverageBases::empty("develop"),
        "another branch is another item"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn recorded_passes_are_one_versioned_item_per_repository() {
    use codecommit_gate::reuse::ledger::{LedgerPass, LedgerPasses, MergeInputs};
    use codecommit_gate::reuse::{PassRecord, Reused};
    let Some(moto) = MotoServer::start() else {
        return;
    };
    let clients = Clients::from_config(&sdk_config(&moto).await, None).await;
    create_table(&clients).await;
    let ledger = clients.ledger(TABLE);
    let empty = ledger.reuse_passes(&repo()).await.expect("get");
    assert_eq!(empty, LedgerPasses::default());
    let mut passes = empty.clone();
    passes.record(&[LedgerPass {
        destination: "main".into(),
        source_branch: "feature/refunds".into(),
        inputs: MergeInputs {
            base: "b1".into(),
            destination: "d1".into(),
            source: "s1".into(),
        },
        pass: PassRecord {
            check: "api-tests".into(),
            key: "3f0c1d2e4a5b6c7d8e9f0a1b2c3d4e5f".into(),
            reused: Reused {
                run: "gate-MyDemoRepo-27-a1b2c3d".into(),
                commit: "s1".into(),
            },
        },
    }]);
    let written = ledger.put_reuse_passes(&repo(), &passes).await;
    assert_eq!(written.expect("put"), Written::Written);
    let lost = ledger.put_reuse_passes(&repo(), &passes).await;
    assert_eq!(
        lost.expect("put"),
        Written::Conflict,
        "a write from the version another writer moved on loses"
    );
    let stored = ledger.reuse_passes(&repo()).await.expect("get");
    assert_eq!(stored, passes.written());
    let item = clients
        .dynamodb()
        .get_item()
        .table_name(TABLE)
        .key("pk", AttributeValue::S("MyDemoRepo#reuse".into()))
        .send()
        .await
        .expect("raw item")
        .item
        .expect("item");
    assert_eq!(item.get("version"), Some(&AttributeValue::N("1".into())));
}

/// 20 writers from the same version: exactly one wins, and its write is the one stored.
async fn race(ledger: &AwsLedger, from: &PrRecord) -> String {
    let mut tasks = tokio::task::JoinSet::new();
    for writer in 0..20 {
        let ledger = ledger.clone();
        let mut record = from.clone();
        record.environment = Some(format!("writer-{writer}"));
        tasks.spawn(async move {
            let written = ledger.put(&record).await.expect("put");
            (written, record.environment)
        });
    }
    let mut winners = Vec::new();
    let mut conflicts = 0;
    while let Some(result) = tasks.join_next().await {
        match result.expect("task") {
            (Written::Written, environment) => winners.push(environment.expect("set")),
            (Written::Conflict, _) => conflicts += 1,
        }
    }
    assert_eq!(winners.len(), 1, "exactly one winner: {winners:?}");
    assert_eq!(conflicts, 19);
    winners.remove(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_writers_from_the_same_version_have_exactly_one_winner() {
    let Some(moto) = MotoServer::start() else {
        return;
    };
    let clients = Clients::from_config(&sdk_config(&moto).await, None).await;
    create_table(&clients).await;
    let ledger = clients.ledger(TABLE);

    let winner = race(&ledger, &PrRecord::new(repo(), pr())).await;
    let stored = ledger
        .get(&repo(), &pr())
        .await
        .expect("get")
        .expect("item");
    assert_eq!(stored.version, 1);
    assert_eq!(stored.environment.as_deref(), Some(winner.as_str()));

    let winner = race(&ledger, &stored).await;
    let stored = ledger
        .get(&repo(), &pr())
        .await
        .expect("get")
        .expect("item");
    assert_eq!(stored.version, 2);
    assert_eq!(stored.environment.as_deref(), Some(winner.as_str()));
}

/// Records the access key each CodeCommit request is signed with.
#[derive(Debug, Default, Clone)]
struct SigningKeys(std::sync::Arc<std::sync::Mutex<Vec<String>>>);

impl aws_sdk_codecommit::config::Intercept for SigningKeys {
    fn name(&self) -> &'static str {
        "SigningKeys"
    }

    fn read_before_transmit(
        &self,
        context: &aws_sdk_codecommit::config::interceptors::BeforeTransmitInterceptorContextRef<'_>,
        _components: &aws_sdk_codecommit::config::RuntimeComponents,
        _cfg: &mut aws_sdk_codecommit::config::ConfigBag,
    ) -> Result<(), aws_sdk_codecommit::error::BoxError> {
        let authorization = context
            .request()
            .headers()
            .get("authorization")
            .unwrap_or_default();
        let key = authorization
            .split("Credential=")
            .nth(1)
            .and_then(|rest| rest.split('/').next())
            .unwrap_or_default()
            .to_owned();
        self.0.lock().expect("lock").push(key);
        Ok(())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_reporter_role_is_assumed_with_the_fixed_session_name() {
    let Some(moto) = MotoServer::start() else {
        return;
    };
    let config = sdk_config(&moto).await;
    let role = "arn:aws:iam::123456789012:role/gate-reporter";
    let clients = Clients::from_config(&config, Some(role)).await;
    let keys = SigningKeys::default();
    let codecommit = aws_sdk_codecommit::Client::from_conf(
        clients
            .codecommit()
            .config()
            .to_builder()
            .interceptor(keys.clone())
            .build(),
    );
    // Any CodeCommit call makes the client assume the role first (moto has no pull requests).
    let _ = codecommit
        .get_repository()
        .repository_name("MyDemoRepo")
        .send()
        .await;

    let state: serde_json::Value =
        serde_json::from_str(&moto.get("/moto-api/data.json")).expect("moto state");
    let sessions = state["sts"]["AssumedRole"]
        .as_array()
        .expect("assumed roles");
    assert_eq!(sessions.len(), 1, "{sessions:?}");
    let session = &sessions[0];
    assert_eq!(session["role_arn"], role);
    assert_eq!(session["session_name"], "codecommit-gate");
    assert_eq!(
        session["arn"].as_str(),
        reporter_session_arn(role).as_deref(),
        "the approval pool member and comment author"
    );
    let signed_with = keys.0.lock().expect("lock").clone();
    assert_eq!(
        signed_with,
        vec![session["access_key_id"].as_str().expect("key").to_owned()],
        "CodeCommit signs with the assumed role's credentials"
    );

    // Step Functions and DynamoDB keep the Lambda's own credentials: no further AssumeRole.
    let _ = clients.sfn().list_state_machines().send().await;
    let state: serde_json::Value =
        serde_json::from_str(&moto.get("/moto-api/data.json")).expect("moto state");
    assert_eq!(
        state["sts"]["AssumedRole"].as_array().map(Vec::len),
        Some(1)
    );
}

/// Redelivery over real HTTP: the same `pullRequestCreated` 100 times in a row and 100 times at
/// once, with Step Functions and DynamoDB in moto (CodeCommit in memory: no emulator has its
/// pull-request APIs) → exactly one execution, one ledger item, one comment, one approval rule.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_redelivered_event_starts_one_execution_in_moto() {
    let Some(moto) = MotoServer::start() else {
        return;
    };
    let config = sdk_config(&moto).await;
    let clients = Clients::from_config(&config, None).await;
    create_table(&clients).await;
    let machine = clients
        .sfn()
        .create_state_machine()
        .name("codecommit-gate-redelivery")
        .definition(
            json!({ "StartAt": "Wait", "States": { "Wait": { "Type": "Wait", "Seconds": 600, "End": true } } })
                .to_string(),
        )
        .role_arn(ROLE)
        .send()
        .await
        .expect("state machine")
        .state_machine_arn()
        .to_owned();
    let w = std::sync::Arc::new(world::World::new());
    type MotoDeps = codecommit_gate::flows::Deps<(
        codecommit_gate::memory::FakeCodeCommit,
        codecommit_gate::aws::AwsExecutions,
        codecommit_gate::aws::AwsLedger,
        codecommit_gate::memory::FakeNotifier,
        codecommit_gate::memory::FakeBus,
    )>;
    let deps: std::sync::Arc<MotoDeps> = std::sync::Arc::new(codecommit_gate::flows::Deps {
        prs: w.cc.clone(),
        executions: clients.executions(&machine),
        ledger: clients.ledger(TABLE),
        notifier: w.sns.clone(),
        bus: w.bus.clone(),
        settings: w.deps.settings.clone(),
    });
    for _ in 0..100 {
        codecommit_gate::flows::gate_start::handle(&deps, w.pr_event("pullRequestCreated", 10))
            .await
            .expect("handled");
    }
    let tasks: Vec<_> = (0..100)
        .map(|_| {
            let (w, deps) = (std::sync::Arc::clone(&w), std::sync::Arc::clone(&deps));
            tokio::spawn(async move {
                codecommit_gate::flows::gate_start::handle(
                    &deps,
                    w.pr_event("pullRequestCreated", 10),
                )
                .await
            })
        })
        .collect();
    for t in tasks {
        t.await.expect("task").expect("handled");
    }
    let listed = clients
        .sfn()
        .list_executions()
        .state_machine_arn(&machine)
        .send()
        .await
        .expect("list");
    assert_eq!(listed.executions().len(), 1, "exactly one execution");
    let items = clients
        .dynamodb()
        .scan()
        .table_name(TABLE)
        .send()
        .await
        .expect("scan");
    assert_eq!(items.count(), 1, "one ledger item");
    assert_eq!(w.gate_comments().len(), 1, "one comment");
    assert_eq!(w.cc.rules(&w.pr).len(), 1, "one approval rule");
}

/// `gate history --remote` and `gate release status --remote`, the real binary reading moto's
/// table with credentials from the environment, as a person's shell would give them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cli_reads_one_repositorys_records_from_the_stacks_table() {
    use codecommit_gate::ports::{EnvironmentRecord, RunRecord};
    let Some(moto) = MotoServer::start() else {
        return;
    };
    let clients = Clients::from_config(&sdk_config(&moto).await, None).await;
    create_table(&clients).await;
    let ledger = clients.ledger(TABLE);
    let mut record = PrRecord::new(repo(), pr());
    record.run = Some(
        serde_json::from_value::<RunRecord>(json!({
            "source_commit": "ca45e279aaaaaaaaaaaa", "destination_commit": "2abfc6bebbbbbbbbbbbb",
            "revision_id": "e47def21", "attempt": 2, "destination_reference": "refs/heads/main",
            "execution_name": "gate-MyDemoRepo-27-x", "execution_arn": "arn:x", "verdict": "passed"
        }))
        .expect("a run"),
    );
    assert_eq!(ledger.put(&record).await.expect("put"), Written::Written);
    let other = PrRecord::new(RepositoryName::new("Other"), PullRequestId::new("5"));
    assert_eq!(ledger.put(&other).await.expect("put"), Written::Written);
    let mut environment = EnvironmentRecord::new(repo(), "production");
    environment.state.commit = Some("c0ffee0000000000".into());
    environment.state.release = Some("r-1".into());
    environment
        .lane
        .push("beef000000000000", None, "2026-12-02T13:00:00Z");
    assert_eq!(
        ledger.put_environment(&environment).await.expect("put"),
        Written::Written
    );
    let release: codecommit_gate::release::ReleaseRecord = serde_json::from_value(json!({
        "version": 1, "id": "r-1", "repository": "MyDemoRepo",
        "started_at": "2026-12-02T12:00:00.000Z", "duration_ms": 61000,
        "started_by": "arn:aws:sts::123456789012:assumed-role/Dev/ann",
        "plan": {"environment": "production", "branch": "main", "commit": "c0ffee0000000000",
                 "previous": null, "changed_paths": 3, "components": [], "checks": [],
                 "approval": {"required": false, "approvers": [], "timeout_minutes": 0}},
        "checks": [], "outcome": "released"
    }))
    .expect("a release");
    ledger.put_release(&repo(), &release).await.expect("put");

    let gate = |args: &[&str]| {
        let output = std::process::Command::new(env!("CARGO_BIN_EXE_gate"))
            .args(args)
            .env("AWS_ENDPOINT_URL", moto.endpoint())
            .env("AWS_ACCESS_KEY_ID", "testing")
            .env("AWS_SECRET_ACCESS_KEY", "testing")
            .env("AWS_REGION", "us-east-1")
            .env("AWS_CONFIG_FILE", "/nonexistent")
            .env("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent")
            .env("GATE_TABLE_NAME", TABLE)
            .output()
            .expect("gate runs");
        let text = String::from_utf8_lossy(&output.stdout).into_owned();
        let err = String::from_utf8_lossy(&output.stderr).into_owned();
        (output.status.code(), text, err)
    };
    let (code, text, err) = gate(&["history", "--remote", "--repository", "MyDemoRepo"]);
    assert_eq!(code, Some(0), "{err}");
    assert_eq!(
        text,
        "PR 27  open  passed   ca45e279 into main 2abfc6be  attempt 2  (gate-MyDemoRepo-27-x)\n",
        "one line per PR of this repository only"
    );
    let (code, text, err) = gate(&[
        "history",
        "--remote",
        "--releases",
        "--repository",
        "MyDemoRepo",
    ]);
    assert_eq!(code, Some(0), "{err}");
    assert!(
        text.contains("release MyDemoRepo c0ffee00 to production"),
        "{text}"
    );
    let (code, text, err) = gate(&[
        "release",
        "status",
        "--remote",
        "--repository",
        "MyDemoRepo",
        "--format",
        "json",
    ]);
    assert_eq!(code, Some(0), "{err}");
    let status: serde_json::Value = serde_json::from_str(&text).expect("JSON");
    assert_eq!(status[0]["environment"], "production");
    assert_eq!(status[0]["lane"]["running"]["commit"], "beef000000000000");
    let (code, _, err) = gate(&["history", "--remote"]);
    assert_eq!(code, Some(2));
    assert!(err.contains("--repository"), "{err}");
}

// ------------------------------------------------------------------ the merge queues

/// Every key in the table, sorted.
async fn keys(clients: &Clients) -> Vec<String> {
    let output = clients
        .dynamodb()
        .scan()
        .table_name(TABLE)
        .consistent_read(true)
        .send()
        .await
        .expect("scan");
    let mut keys: Vec<String> = output
        .items()
        .iter()
        .filter_map(|i| i.get("pk").and_then(|v| v.as_s().ok()).cloned())
        .collect();
    keys.sort();
    keys
}

/// The `version` attribute of `main`'s head as stored.
async fn raw_version(clients: &Clients) -> AttributeValue {
    let head = clients
        .dynamodb()
        .get_item()
        .table_name(TABLE)
        .key("pk", AttributeValue::S("MyDemoRepo#queue#main".into()))
        .consistent_read(true)
        .send()
        .await
        .expect("raw head")
        .item
        .expect("head");
    head.get("version").cloned().expect("version")
}

async fn load(queues: &AwsMergeQueues, destination: &str) -> StoredQueue<Entry> {
    queues
        .load(&RepositoryName::new("MyDemoRepo"), destination)
        .await
        .expect("load")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn saves_and_loads_round_trip_and_entry_items_follow_the_queue() {
    let Some(moto) = MotoServer::start() else {
        return;
    };
    let clients = Clients::from_config(&sdk_config(&moto).await, None).await;
    create_table(&clients).await;
    let queues = clients.merge_queues(TABLE);

    let mut queue = load(&queues, "main").await;
    assert_eq!((queue.entries.len(), queue.version), (0, 0));
    queue.entries = vec![entry("27", "testing"), entry("28", "queued")];
    assert_eq!(queues.save(&queue).await.expect("save"), Written::Written);
    assert_eq!(
        queues.save(&queue).await.expect("save"),
        Written::Conflict,
        "a second first write loses"
    );

    let mut stored = load(&queues, "main").await;
    assert_eq!(stored.version, 1);
    assert_eq!(stored.entries, queue.entries);
    assert_eq!(keys(&clients).await.len(), 3, "the head and two entries");

    // 27 merged and left; 28 is tested now; 29 joined behind it.
    let stale = stored.clone();
    stored.entries = vec![entry("28", "testing"), entry("29", "queued")];
    assert_eq!(queues.save(&stored).await.expect("save"), Written::Written);
    assert_eq!(
        queues.save(&stale).await.expect("save"),
        Written::Conflict,
        "a save from a stale version loses"
    );
    let latest = load(&queues, "main").await;
    assert_eq!(latest.version, 2);
    assert_eq!(latest.entries, stored.entries);
    let all = keys(&clients).await;
    assert_eq!(all.len(), 3, "the entries that left are deleted: {all:?}");
    assert!(all.contains(&"MyDemoRepo#queue#main".to_owned()), "{all:?}");

    // Another destination is another queue; emptying one keeps its head (and its version).
    let other = load(&queues, "release").await;
    assert_eq!((other.entries.len(), other.version), (0, 0));
    let mut empty = latest.clone();
    empty.entries.clear();
    assert_eq!(queues.save(&empty).await.expect("save"), Written::Written);
    assert_eq!(keys(&clients).await, ["MyDemoRepo#queue#main"]);
    let emptied = load(&queues, "main").await;
    assert_eq!((emptied.entries.len(), emptied.version), (0, 3));

    assert_eq!(raw_version(&clients).await, AttributeValue::N("3".into()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_savers_from_one_version_have_exactly_one_winner() {
    let Some(moto) = MotoServer::start() else {
        return;
    };
    let clients = Clients::from_config(&sdk_config(&moto).await, None).await;
    create_table(&clients).await;
    let queues = clients.merge_queues(TABLE);
    let mut first = load(&queues, "main").await;
    first.entries = vec![entry("27", "queued")];
    assert_eq!(queues.save(&first).await.expect("save"), Written::Written);
    let from = load(&queues, "main").await;

    let mut tasks = tokio::task::JoinSet::new();
    for writer in 0..10 {
        let queues = queues.clone();
        let mut queue = from.clone();
        queue
            .entries
            .push(entry(&format!("{}", 100 + writer), "queued"));
        tasks.spawn(async move { (queues.save(&queue).await.expect("save"), queue) });
    }
    let mut winners = Vec::new();
    while let Some(result) = tasks.join_next().await {
        let (written, queue) = result.expect("task");
        if written == Written::Written {
            winners.push(queue.entries);
        }
    }
    assert_eq!(winners.len(), 1, "exactly one winner: {winners:?}");
    let stored = load(&queues, "main").await;
    assert_eq!(stored.version, 2);
    assert_eq!(
        stored.entries, winners[0],
        "the winner's queue is the one stored"
    );
    assert_eq!(
        keys(&clients).await.len(),
        3,
        "no loser's entry was written"
    );
}
