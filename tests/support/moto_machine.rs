//! Runs `statemachine/gate.asl.json` in moto with every Task state replaced by a scripted stub, and reads back the history.
//!
//! moto (>= 5.2.3, `execute_state_machine` on) interprets ASL faithfully: Choice, Map, Wait,
//! Pass, Parallel, Catch, intrinsic functions, JSONPath. It cannot run the tasks themselves:
//! `codebuild:startBuild.sync` is unsupported, its `aws-sdk:*` integration passes parameters to
//! boto3 unnormalised (PascalCase keys fail) and returns them uncased, and it cannot serialise
//! `$$.Execution.StartTime`. So [`definition`] rewrites the definition, and only the tasks:
//!
//! - `DefinitionSubstitutions` get test values ([`SUBSTITUTIONS`]).
//! - Task `X` becomes a Pass named `X` that evaluates the task's `Parameters` into
//!   `$.__request` (so every path and intrinsic of the request runs, and the request shows in
//!   the history), then a Choice `X: outcome?` over the stub's cases (conditions on the state),
//!   then the case's reply:
//!   - [`Reply::Ok`]: a Pass putting the response in `$.__raw` (after an optional Wait), then
//!     `X: result`, a Pass applying the task's own `ResultSelector`, `ResultPath`, `OutputPath`
//!     and transition to it;
//!   - [`Reply::Err`] with a service error name: a Parallel whose branch is a Fail raising it,
//!     carrying the task's own `Catch`, so moto's Catch handles it;
//!   - [`Reply::Err`] with a `States.*` name (which a Fail state may not raise): a Pass doing
//!     what the task's first matching catcher does (`ResultPath`, `Next`).
//!
//!   `Retry` is not emulated: these tests are about the flow, not backoff timing.
//! - The `lambda:invoke` report step becomes a Pass that outputs its `Payload`, so the
//!   execution's output *is* what gate-report would receive (`started_at` gets a literal).
//! - A `lambda:invoke.waitForTaskToken` task (moto can only invoke a Lambda in Docker) becomes
//!   an `events:putEvents.waitForTaskToken` on the default bus with the task's `Payload` as the
//!   event's detail, keeping its timeout, `ResultPath`, `Retry` and `Catch`: moto runs that
//!   callback for real, so the task waits for `SendTaskSuccess` / `SendTaskFailure` and times
//!   out, and its `TaskScheduled` event holds the payload with the token ([`Run`] has no
//!   notion of it; [`scheduled`] reads it from a running execution's history).
//! - Tasks moto runs faithfully stay real unless a test stubs them ([`REAL_RESOURCES`]:
//!   `events:putEvents`). Not `states:startExecution.sync:2`: moto 5.2.5 hands its PascalCase
//!   parameters to boto3 unnormalised and fails with `States.Runtime` `'StateMachineArn'`, so a
//!   test stubs it (tests/release_asl.rs answers with the output of a real run of the nested
//!   machine).

use crate::moto_server::MotoServer;
use aws_config::{BehaviorVersion, Region};
use aws_sdk_sfn::Client;
use aws_sdk_sfn::config::Credentials;
use aws_sdk_sfn::types::{ExecutionStatus, HistoryEvent, HistoryEventType};
use serde_json::{Map, Value, json};
use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

/// A moto server that executes state machines, and a Step Functions client of it.
pub struct MotoSfn {
    /// The server.
    pub server: MotoServer,
    /// Its Step Functions client.
    pub client: Client,
}

impl MotoSfn {
    /// A moto server that executes state machines, or `None` (after a notice) without moto.
    pub async fn start() -> Option<MotoSfn> {
        let server = MotoServer::start()?;
        post(
            &server,
            "/moto-api/config",
            &json!({"stepfunctions": {"execute_state_machine": true}}),
        );
        let config = aws_config::defaults(BehaviorVersion::latest())
            .region(Region::new("us-east-1"))
            .credentials_provider(Credentials::new("testing", "testing", None, None, "moto"))
            .endpoint_url(server.endpoint())
            .load()
            .await;
        let client = Client::new(&config);
        Some(MotoSfn { server, client })
    }

    /// Prints moto's log when `run` did not succeed.
    pub fn explain(&self, run: &Run) {
        if run.status != ExecutionStatus::Succeeded {
            eprintln!("moto log:\n{}", self.server.log_text());
        }
    }
}

/// A JSON `POST` to moto's own API.
pub fn post(server: &MotoServer, path: &str, body: &Value) {
    let address = server.endpoint().trim_start_matches("http://").to_owned();
    let body = body.to_string();
    let mut stream = TcpStream::connect(&address).expect("connect to moto");
    write!(
        stream,
        "POST {path} HTTP/1.0\r\nHost: {address}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .expect("request");
    let mut response = String::new();
    stream.read_to_string(&mut response).expect("response");
    assert!(
        response.starts_with("HTTP/1.")
            && response
                .split(' ')
                .nth(1)
                .is_some_and(|c| c.starts_with('2')),
        "POST {path}: {response}"
    );
}

/// The values template.yaml would substitute, for account 123456789012 in us-east-1.
pub const SUBSTITUTIONS: &[(&str, &str)] = &[
    ("MaxRunSeconds", "3600"),
    ("Region", "us-east-1"),
    ("UrlSuffix", "amazonaws.com"),
    ("BuildEnvironmentType", "LINUX_CONTAINER"),
    (
        "BuildRoleArnPrefix",
        "arn:aws:iam::123456789012:role/gate-build-",
    ),
    ("BuildLogGroup", "/aws/codebuild/gate"),
    (
        "GateReportFunctionArn",
        "arn:aws:lambda:us-east-1:123456789012:function:codecommit-gate-GateReportFunction-EXAMPLE",
    ),
];

/// The task resources moto runs for real when a test does not stub them.
pub const REAL_RESOURCES: &[&str] = &["arn:aws:states:::events:putEvents"];

/// The literal that stands in for `$$.Execution.StartTime`.
pub const STARTED_AT: &str = "2026-11-22T04:40:10.000Z";

/// What a stubbed task answers.
#[derive(Debug, Clone)]
pub enum Reply {
    /// The service's response, after `delay_seconds`.
    Ok { response: Value, delay_seconds: u32 },
    /// An error, as Step Functions names it.
    Err {
        error: String,
        cause: Option<String>,
    },
}

impl Reply {
    /// A response at once.
    pub fn ok(response: Value) -> Self {
        Reply::Ok {
            response,
            delay_seconds: 0,
        }
    }

    /// An error.
    pub fn err(error: &str, cause: Option<String>) -> Self {
        Reply::Err {
            error: error.to_owned(),
            cause,
        }
    }
}

/// A stubbed task: the first case whose conditions (JSONPath on the state → value) all hold,
/// else the default.
#[derive(Debug, Clone)]
pub struct Stub {
    /// Conditions and replies.
    pub cases: Vec<(Vec<(String, Value)>, Reply)>,
    /// The reply when no case holds.
    pub default: Reply,
}

impl Stub {
    /// Always the same reply.
    pub fn always(reply: Reply) -> Self {
        Self {
            cases: Vec::new(),
            default: reply,
        }
    }

    /// Adds a case.
    pub fn when(mut self, conditions: &[(&str, Value)], reply: Reply) -> Self {
        self.cases.push((
            conditions
                .iter()
                .map(|(p, v)| ((*p).to_owned(), v.clone()))
                .collect(),
            reply,
        ));
        self
    }
}

/// The gate definition with its substitutions and the tasks replaced by `stubs` (by state
/// name). Panics on a task without a stub, so every task is scripted by the test.
pub fn definition(stubs: &BTreeMap<String, Stub>) -> Value {
    definition_of("statemachine/gate.asl.json", SUBSTITUTIONS, stubs)
}

/// The definition in `file` (relative to the crate) with `substitutions` and the tasks
/// replaced by `stubs` (by state name), except the [`REAL_RESOURCES`] no stub names. Panics
/// on any other task without a stub, so every task is scripted by the test.
pub fn definition_of(
    file: &str,
    substitutions: &[(&str, &str)],
    stubs: &BTreeMap<String, Stub>,
) -> Value {
    let mut text =
        std::fs::read_to_string(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(file))
            .unwrap_or_else(|e| panic!("{file}: {e}"));
    for (name, value) in substitutions {
        text = text.replace(&format!("${{{name}}}"), value);
    }
    let mut asl: Value = serde_json::from_str(&text).expect("the substituted definition is JSON");
    stub_states(asl["States"].as_object_mut().expect("states"), stubs);
    asl
}

fn stub_states(states: &mut Map<String, Value>, stubs: &BTreeMap<String, Stub>) {
    let names: Vec<String> = states.keys().cloned().collect();
    for name in names {
        if let Some(inner) = states[&name]
            .pointer_mut("/ItemProcessor/States")
            .and_then(Value::as_object_mut)
        {
            stub_states(inner, stubs);
        }
        if states[&name]["Type"] != "Task" {
            continue;
        }
        let task = states[&name].clone();
        if task["Resource"] == "arn:aws:states:::lambda:invoke.waitForTaskToken" {
            states.insert(name, callback_on_bus(&task));
            continue;
        }
        if !stubs.contains_key(&name)
            && REAL_RESOURCES.contains(&task["Resource"].as_str().unwrap_or_default())
        {
            continue;
        }
        if task["Resource"] == "arn:aws:states:::lambda:invoke" {
            let mut payload = task["Parameters"]["Payload"].clone();
            if let Some(p) = payload.as_object_mut()
                && p.remove("started_at.$").is_some()
            {
                p.insert("started_at".into(), json!(STARTED_AT));
            }
            states.insert(
                name,
                json!({"Type": "Pass", "Parameters": payload, "End": true}),
            );
            continue;
        }
        let stub = stubs
            .get(&name)
            .unwrap_or_else(|| panic!("task {name:?} has no stub"));
        stub_task(states, &name, &task, stub);
    }
}

/// The Lambda callback task `task` as an EventBridge one (see the module's doc).
fn callback_on_bus(task: &Value) -> Value {
    let mut bus = task.clone();
    bus["Resource"] = json!("arn:aws:states:::events:putEvents.waitForTaskToken");
    bus["Parameters"] = json!({"Entries": [{
        "Source": "codecommit-gate.test",
        "DetailType": "Lambda callback stand-in",
        "Detail": task["Parameters"]["Payload"].clone(),
    }]});
    bus
}

fn transition(task: &Value) -> Map<String, Value> {
    ["Next", "End"]
        .iter()
        .filter_map(|k| Some(((*k).to_owned(), task.get(*k)?.clone())))
        .collect()
}

/// `$.a.b` → `$.__raw.a.b` in a `ResultSelector` (recursively, `.$` keys only).
fn from_raw(selector: &Value) -> Value {
    match selector {
        Value::Object(o) => Value::Object(
            o.iter()
                .map(|(k, v)| {
                    let v = match v.as_str() {
                        Some(path)
                            if k.ends_with(".$")
                                && path.starts_with('$')
                                && !path.starts_with("$$") =>
                        {
                            json!(format!("$.__raw{}", &path[1..]))
                        }
                        _ => from_raw(v),
                    };
                    (k.clone(), v)
                })
                .collect(),
        ),
        other => other.clone(),
    }
}

fn condition(path: &str, value: &Value) -> Value {
    match value {
        Value::Bool(b) => json!({"Variable": path, "BooleanEquals": b}),
        Value::Number(n) => json!({"Variable": path, "NumericEquals": n}),
        Value::String(s) => json!({"Variable": path, "StringEquals": s}),
        other => panic!("no Choice condition for {other}"),
    }
}

fn stub_task(states: &mut Map<String, Value>, name: &str, task: &Value, stub: &Stub) {
    let decide = format!("{name}: outcome?");
    let mut choices = Vec::new();
    let mut replies = Vec::new();
    for (i, (conditions, reply)) in stub.cases.iter().enumerate() {
        let target = format!("{name}: case {}", i + 1);
        let all: Vec<Value> = conditions.iter().map(|(p, v)| condition(p, v)).collect();
        choices.push(json!({"And": all, "Next": target}));
        replies.push((target, reply));
    }
    let default = format!("{name}: default");
    replies.push((default.clone(), &stub.default));
    let first = if choices.is_empty() {
        default.clone()
    } else {
        states.insert(
            decide.clone(),
            json!({"Type": "Choice", "Choices": choices, "Default": default}),
        );
        decide
    };
    states.insert(
        name.to_owned(),
        json!({
            "Type": "Pass",
            "Parameters": task.get("Parameters").cloned().unwrap_or(json!({})),
            "ResultPath": "$.__request",
            "Next": first,
        }),
    );
    let result = format!("{name}: result");
    for (target, reply) in replies {
        match reply {
            Reply::Ok {
                response,
                delay_seconds,
            } => {
                let respond = if *delay_seconds > 0 {
                    let respond = format!("{target}: respond");
                    states.insert(
                        target.clone(),
                        json!({"Type": "Wait", "Seconds": delay_seconds, "Next": respond}),
                    );
                    respond
                } else {
                    target.clone()
                };
                states.insert(
                    respond,
                    json!({"Type": "Pass", "Result": response, "ResultPath": "$.__raw", "Next": result}),
                );
                let mut apply = transition(task);
                apply.insert("Type".into(), json!("Pass"));
                match task.get("ResultSelector") {
                    Some(selector) => {
                        apply.insert("Parameters".into(), from_raw(selector));
                    }
                    None => {
                        apply.insert("InputPath".into(), json!("$.__raw"));
                    }
                }
                for key in ["ResultPath", "OutputPath"] {
                    if let Some(v) = task.get(key) {
                        apply.insert(key.into(), v.clone());
                    }
                }
                states.insert(result.clone(), Value::Object(apply));
            }
            Reply::Err { error, cause } if error.starts_with("States.") => {
                let catcher = task["Catch"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .find(|c| {
                        let names: Vec<&str> = c["ErrorEquals"]
                            .as_array()
                            .expect("ErrorEquals")
                            .iter()
                            .filter_map(Value::as_str)
                            .collect();
                        names.contains(&error.as_str())
                            || names.contains(&"States.ALL")
                            || (names.contains(&"States.TaskFailed") && error != "States.Timeout")
                    })
                    .unwrap_or_else(|| panic!("{name}: nothing catches {error}"));
                states.insert(
                    target,
                    json!({
                        "Type": "Pass",
                        "Comment": "what the matching catcher does",
                        "Result": {"Error": error, "Cause": cause},
                        "ResultPath": catcher.get("ResultPath").cloned().unwrap_or(json!("$")),
                        "Next": catcher["Next"],
                    }),
                );
            }
            Reply::Err { error, cause } => {
                let mut fail = json!({"Type": "Fail", "Error": error});
                if let Some(cause) = cause {
                    fail["Cause"] = json!(cause);
                }
                let mut parallel = transition(task);
                parallel.insert("Type".into(), json!("Parallel"));
                parallel.insert(
                    "Branches".into(),
                    json!([{"StartAt": "Fail", "States": {"Fail": fail}}]),
                );
                if let Some(catch) = task.get("Catch") {
                    parallel.insert("Catch".into(), catch.clone());
                }
                states.insert(target, Value::Object(parallel));
            }
        }
    }
}

/// One state the execution entered.
#[derive(Debug, Clone)]
pub struct Entered {
    /// The state's name.
    pub name: String,
    /// The state's input.
    pub input: Value,
}

/// A finished execution.
#[derive(Debug)]
pub struct Run {
    /// SUCCEEDED, FAILED, ...
    pub status: ExecutionStatus,
    /// The output (the report payload when the run reached its report step).
    pub output: Option<Value>,
    /// The history, oldest first.
    pub events: Vec<HistoryEvent>,
}

impl Run {
    /// Every state entered, in order.
    pub fn entered(&self) -> Vec<Entered> {
        self.events
            .iter()
            .filter_map(|e| {
                let d = e.state_entered_event_details()?;
                Some(Entered {
                    name: d.name().to_owned(),
                    input: d
                        .input()
                        .and_then(|i| serde_json::from_str(i).ok())
                        .unwrap_or(Value::Null),
                })
            })
            .collect()
    }

    /// The inputs of every entry into the state `name`.
    pub fn inputs_of(&self, name: &str) -> Vec<Value> {
        self.entered()
            .into_iter()
            .filter(|e| e.name == name)
            .map(|e| e.input)
            .collect()
    }

    /// Whether the state `name` was entered.
    pub fn visited(&self, name: &str) -> bool {
        self.entered().iter().any(|e| e.name == name)
    }

    /// The outputs of every exit from the state `name`.
    pub fn outputs_of(&self, name: &str) -> Vec<Value> {
        self.events
            .iter()
            .filter_map(|e| e.state_exited_event_details())
            .filter(|d| d.name() == name)
            .map(|d| {
                d.output()
                    .and_then(|o| serde_json::from_str(o).ok())
                    .unwrap_or(Value::Null)
            })
            .collect()
    }

    /// The events of one type, oldest first.
    pub fn of_type(&self, kind: HistoryEventType) -> Vec<&HistoryEvent> {
        self.events.iter().filter(|e| *e.r#type() == kind).collect()
    }
}

/// Creates the state machine and runs one execution to its end.
pub async fn run(client: &Client, definition: &Value, name: &str, input: &Value) -> Run {
    let machine = create(client, definition, &format!("gate-{name}")).await;
    let arn = start(client, &machine, name, input).await;
    finish(client, &arn, name).await
}

/// Creates a state machine; its ARN.
pub async fn create(client: &Client, definition: &Value, name: &str) -> String {
    client
        .create_state_machine()
        .name(name)
        .definition(definition.to_string())
        .role_arn("arn:aws:iam::123456789012:role/codecommit-gate-StateMachineRole-EXAMPLE")
        .send()
        .await
        .unwrap_or_else(|e| {
            panic!(
                "create_state_machine: {}",
                aws_sdk_sfn::error::DisplayErrorContext(&e)
            )
        })
        .state_machine_arn()
        .to_owned()
}

/// Starts an execution of `machine`; its ARN.
pub async fn start(client: &Client, machine: &str, name: &str, input: &Value) -> String {
    let execution = client
        .start_execution()
        .state_machine_arn(machine)
        .name(name)
        .input(input.to_string())
        .send()
        .await
        .unwrap_or_else(|e| {
            panic!(
                "start_execution: {}",
                aws_sdk_sfn::error::DisplayErrorContext(&e)
            )
        });
    execution.execution_arn().to_owned()
}

/// Waits for the execution `arn` to end and reads its history.
pub async fn finish(client: &Client, arn: &str, name: &str) -> Run {
    let deadline = Instant::now() + Duration::from_secs(300);
    let described = loop {
        let d = client
            .describe_execution()
            .execution_arn(arn)
            .send()
            .await
            .unwrap_or_else(|e| {
                panic!(
                    "describe_execution: {}",
                    aws_sdk_sfn::error::DisplayErrorContext(&e)
                )
            });
        if *d.status() != ExecutionStatus::Running {
            break d;
        }
        assert!(
            Instant::now() < deadline,
            "{name} still running after 300 s"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    Run {
        status: described.status().clone(),
        output: described
            .output()
            .and_then(|o| serde_json::from_str(o).ok()),
        events: history(client, arn).await,
    }
}

/// The history of the execution `arn` so far, oldest first.
pub async fn history(client: &Client, arn: &str) -> Vec<HistoryEvent> {
    let mut events = Vec::new();
    let mut token = None;
    loop {
        let page = client
            .get_execution_history()
            .execution_arn(arn)
            .max_results(1000)
            .set_next_token(token)
            .send()
            .await
            .unwrap_or_else(|e| {
                panic!(
                    "get_execution_history: {}",
                    aws_sdk_sfn::error::DisplayErrorContext(&e)
                )
            });
        events.extend(page.events().iter().cloned());
        token = page.next_token().map(str::to_owned);
        if token.is_none() {
            break;
        }
    }
    events
}

/// The first task of `resource` the execution `arn` scheduled, waiting up to 60 s for it:
/// `{"parameters": <what it was sent>, "timeout": <its timeout in seconds, if any>}`.
pub async fn scheduled(client: &Client, arn: &str, resource: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let found = history(client, arn).await.into_iter().find_map(|e| {
            let d = e.task_scheduled_event_details()?;
            let parameters: Value = serde_json::from_str(d.parameters()).expect("JSON parameters");
            (format!("arn:aws:states:::{}:{}", d.resource_type(), d.resource()) == resource)
                .then(|| json!({"parameters": parameters, "timeout": d.timeout_in_seconds()}))
        });
        if let Some(parameters) = found {
            return parameters;
        }
        assert!(
            Instant::now() < deadline,
            "{arn} scheduled no {resource} in 60 s"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
