//! The Lambda binaries log as the function's logging configuration asks (template.yaml sets
//! `LoggingConfig: LogFormat: JSON`): one JSON object per line when `AWS_LAMBDA_LOG_FORMAT=JSON`,
//! plain text otherwise, at the level `AWS_LAMBDA_LOG_LEVEL` names.
//!
//! Each binary runs for real against a one-shot fake Lambda Runtime API on 127.0.0.1 that hands
//! it one event it only logs about; the test reads its stdout, then ends it.

use serde_json::Value;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

const PATIENCE: Duration = Duration::from_secs(60);

/// Serves `GET /2018-06-01/runtime/invocation/next` once with `event`, then holds every later
/// connection unanswered (the binary waits there until the test ends it). Returns the address.
fn fake_runtime_api(event: String) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1");
    let address = listener.local_addr().expect("address").to_string();
    std::thread::spawn(move || {
        let mut held: Vec<TcpStream> = Vec::new();
        let deadline_ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_millis())
            + 60_000;
        let mut served = false;
        let started = Instant::now();
        while started.elapsed() < PATIENCE {
            let Ok((mut stream, _)) = listener.accept() else {
                return;
            };
            let head = read_head(&mut stream);
            if !served && head.starts_with("GET /2018-06-01/runtime/invocation/next") {
                served = true;
                let response = format!(
                    "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n\
                     lambda-runtime-aws-request-id: 8476a536-e9f4-11e8-9739-2dfe598c3fcd\r\n\
                     lambda-runtime-deadline-ms: {deadline_ms}\r\n\
                     lambda-runtime-invoked-function-arn: arn:aws:lambda:us-east-1:123456789012:function:gate\r\n\
                     content-length: {}\r\n\r\n{event}",
                    event.len()
                );
                let _ = stream.write_all(response.as_bytes());
            }
            held.push(stream);
        }
    });
    address
}

/// The request line and headers of one request.
fn read_head(stream: &mut TcpStream) -> String {
    let _ = stream.set_read_timeout(Some(Duration::from_secs(10)));
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") && stream.read(&mut byte).is_ok_and(|n| n == 1) {
        head.push(byte[0]);
    }
    String::from_utf8_lossy(&head).into_owned()
}

/// Runs `binary` against the fake Runtime API with `event`, and returns its stdout lines up to
/// and including the first that contains `until`.
fn log_lines(binary: &str, format: Option<&str>, until: &str) -> Vec<String> {
    let mut command = Command::new(binary);
    command
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("AWS_LAMBDA_RUNTIME_API", fake_runtime_api(foreign_event()))
        .env("AWS_LAMBDA_FUNCTION_NAME", "gate")
        .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "256")
        .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        .env("AWS_LAMBDA_LOG_LEVEL", "INFO")
        .env("AWS_REGION", "us-east-1")
        .env("AWS_ACCESS_KEY_ID", "test")
        .env("AWS_SECRET_ACCESS_KEY", "test")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        // The deployed binaries' configuration (clients are built, nothing is called).
        .env(
            "GATE_STATE_MACHINE_ARN",
            "arn:aws:states:us-east-1:123456789012:stateMachine:gate",
        )
        .env("GATE_TABLE_NAME", "gate-ledger")
        .env(
            "GATE_APPROVER_ARN",
            "arn:aws:sts::123456789012:assumed-role/GateReporter/codecommit-gate",
        )
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    if let Some(format) = format {
        command.env("AWS_LAMBDA_LOG_FORMAT", format);
    }
    let mut child = command.spawn().expect("the binary starts");
    let lines = read_until(&mut child, until);
    let _ = child.kill();
    let _ = child.wait();
    lines
}

fn read_until(child: &mut Child, until: &str) -> Vec<String> {
    let stdout = child.stdout.take().expect("piped stdout");
    let (sender, receiver) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { return };
            if sender.send(line).is_err() {
                return;
            }
        }
    });
    let started = Instant::now();
    let mut lines = Vec::new();
    while let Some(left) = PATIENCE.checked_sub(started.elapsed()) {
        match receiver.recv_timeout(left) {
            Ok(line) => {
                let done = line.contains(until);
                lines.push(line);
                if done {
                    return lines;
                }
            }
            Err(_) => break,
        }
    }
    panic!("no log line with {until:?} within {PATIENCE:?}; stdout was: {lines:#?}");
}

/// Every line is a JSON object; returns the one whose `fields.message` is `message`.
fn json_line(lines: &[String], message: &str) -> Value {
    let parsed: Vec<Value> = lines
        .iter()
        .map(|line| {
            serde_json::from_str(line).unwrap_or_else(|e| panic!("not a JSON line ({e}): {line}"))
        })
        .collect();
    parsed
        .into_iter()
        .find(|line| line["fields"]["message"] == message)
        .unwrap_or_else(|| panic!("no JSON line with message {message:?}: {lines:#?}"))
}

/// AWS's own sample of an event the gate ignores (every binary only logs about it).
fn foreign_event() -> String {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/data/events/codebuild-build-phase-change.json"
    );
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

#[test]
fn gate_start_logs_json_lines_when_the_function_asks_for_json() {
    let lines = log_lines(
        env!("CARGO_BIN_EXE_gate-start"),
        Some("JSON"),
        "event ignored",
    );
    let line = json_line(&lines, "event ignored");
    assert_eq!(line["level"], "INFO", "{line}");
    assert_eq!(line["fields"]["action"], "ignore", "{line}");
    assert_eq!(
        line["fields"]["reason"],
        "unknown detail-type 'CodeBuild Build Phase Change' (source 'aws.codebuild')",
        "{line}"
    );
    // The runtime's invocation span rides along, so a line leads back to its request.
    assert_eq!(
        line["span"]["requestId"], "8476a536-e9f4-11e8-9739-2dfe598c3fcd",
        "{line}"
    );
}

#[test]
fn gate_start_logs_plain_text_without_a_log_format() {
    let lines = log_lines(env!("CARGO_BIN_EXE_gate-start"), None, "event ignored");
    let line = lines.last().expect("a line");
    assert!(serde_json::from_str::<Value>(line).is_err(), "{line}");
    assert!(line.contains("INFO"), "{line}");
    assert!(line.contains("reason=unknown detail-type"), "{line}");
}

#[test]
fn gate_report_logs_json_lines_when_the_function_asks_for_json() {
    let lines = log_lines(
        env!("CARGO_BIN_EXE_gate-report"),
        Some("JSON"),
        "event ignored",
    );
    let line = json_line(&lines, "event ignored");
    assert_eq!(line["level"], "INFO", "{line}");
}

#[test]
fn gate_setup_logs_json_lines_when_the_function_asks_for_json() {
    let lines = log_lines(
        env!("CARGO_BIN_EXE_gate-setup"),
        Some("JSON"),
        "nobody to answer",
    );
    let line = json_line(&lines, "not a custom resource request; nobody to answer");
    assert_eq!(line["level"], "ERROR", "{line}");
}

/// The replay binary (`cargo lambda invoke gate-start-replay`) starts on the local adapters and
/// logs as the deployed one does.
#[test]
fn the_replay_binary_starts_on_the_local_adapters_and_logs_the_same() {
    let lines = log_lines(
        env!("CARGO_BIN_EXE_gate-start-replay"),
        Some("JSON"),
        "event ignored",
    );
    let line = json_line(&lines, "event ignored");
    assert_eq!(line["fields"]["action"], "ignore", "{line}");
}
