//! The Lambda handlers end to end over the fakes: real event files in, outcomes or Lambda errors out.

use crate::world;

use codecommit_gate::lambda::{report_handler, start_handler};
use codecommit_gate::ports::PortError;
use serde_json::{Value, json};
use world::*;

fn file(path: &str) -> Value {
    serde_json::from_str(&std::fs::read_to_string(path).expect("file")).expect("JSON")
}

#[tokio::test]
async fn gate_start_runs_the_flow_for_a_real_event_file() {
    let w = World::new();
    let mut event = file("events/pr-created.json");
    event["detail"]["sourceCommit"] = json!(commit(10).as_str());
    let out = start_handler(&w.deps, event).await.expect("handled");
    assert_eq!(out["outcome"], "started", "{out}");
    assert_eq!(w.sfn.executions().len(), 1);
}

#[tokio::test]
async fn malformed_and_foreign_events_are_acknowledged_not_retried() {
    let w = World::new();
    let out = start_handler(&w.deps, json!({"detail-type": "CodeCommit Pull Request State Change", "detail": {"event": "pullRequestCreated"}}))
        .await
        .expect("acknowledged");
    assert_eq!(out["action"], "rejected");
    assert!(
        out["error"].as_str().is_some_and(|e| e.contains("detail.")),
        "{out}"
    );
    let out = start_handler(
        &w.deps,
        file("tests/data/events/codebuild-build-phase-change.json"),
    )
    .await
    .expect("ok");
    assert_eq!(out["outcome"], "ignored", "{out}");
}

#[tokio::test]
async fn an_infrastructure_fault_is_a_lambda_error_with_a_stable_type() {
    let w = World::new();
    w.cc.calls.fail_next(
        "codecommit:GetPullRequest",
        PortError::Transient {
            call: "codecommit:GetPullRequest",
            message: "ThrottlingException".into(),
        },
    );
    let mut event = file("events/pr-created.json");
    event["detail"]["sourceCommit"] = json!(commit(10).as_str());
    let err = start_handler(&w.deps, event)
        .await
        .expect_err("must fail so EventBridge retries");
    assert_eq!(err.error_type, "GateTransientError");
    assert!(
        err.error_message.contains("codecommit:GetPullRequest")
            && err.error_message.contains("my-repo#42"),
        "{}",
        err.error_message
    );
}

#[tokio::test]
async fn gate_report_takes_the_machines_payload_and_status_events() {
    let w = World::new();
    w.send(w.pr_event("pullRequestCreated", 10)).await;
    let input = w.last_input();
    let payload = json!({
        "input": input,
        "stages": {"results": [passed_run("fmt", 1), passed_run("api-tests", 1)], "prev": {"results": [], "prev": null}},
        "failure": null,
        "started_at": "2026-11-22T10:00:00Z"
    });
    let out = report_handler(&w.deps, &w.logs, payload)
        .await
        .expect("reported");
    assert_eq!(out["outcome"], "reported", "{out}");
    assert_eq!(out["approval"], "approved");

    let err = report_handler(&w.deps, &w.logs, json!({"input": 1}))
        .await
        .expect_err("a broken report fails the step");
    assert_eq!(err.error_type, "GateMalformedReport");
    let out = report_handler(&w.deps, &w.logs, file("events/pr-created.json"))
        .await
        .expect("ignored");
    assert_eq!(out["action"], "ignore", "{out}");
}
