//! The story every release-approval test starts from: gate-start starts the release of
//! commit 20 to production (an environment that needs an approval), and the machine's
//! approval step waits with [`TOKEN`]; helpers to comment, call the function URL and read
//! the record.
#![allow(dead_code)]

use crate::world::{AUTHOR, World, commit, passed_run};
use codecommit_gate::announce::ReleaseState;
use codecommit_gate::event::Event;
use codecommit_gate::flows::release_approval::comment::{CommentOutcome, on_comment};
use codecommit_gate::flows::release_approval::{ApproveDeps, await_approval};
use codecommit_gate::ids::{CommentId, RepositoryName};
use codecommit_gate::lambda::approve::{ApproveEvent, UrlResponse, read_payload, url_handler};
use codecommit_gate::machine::StageChain;
use codecommit_gate::machine::release::payload::{ApprovalAnswer, ApprovalRequest};
use codecommit_gate::memory::{FakeBus, FakeCodeCommit, FakeLedger, FakeTaskTokens, TokenAnswer};
use codecommit_gate::ports::{Ledger, PendingApproval};
use serde_json::{Value, json};

pub const GATE: &str = r#"stages: [test]
components:
  network: {paths: [infra/network/], deploy: {commands: [./net.sh]}}
  app: {paths: [app/], depends_on: [network], deploy: {commands: [./app.sh]}}
  web: {paths: [web/], deploy: {commands: [./web.sh]}}
checks:
  unit: {stage: test, commands: [make test]}
environments:
  production:
    branch: main
    checks: [unit]
    approval:
      approvers: ["arn:aws:sts::123456789012:assumed-role/Leads/*", "arn:aws:sts::123456789012:assumed-role/Developer/alice"]
      timeout: 60
"#;

pub const TOKEN: &str = "AQCEAAAAKgAAAAMAAAAAAAAAAQ-secret-task-token-of-the-release";
pub const NOW: &str = "2026-12-02T15:00:00Z";
pub const LATER: &str = "2026-12-02T15:20:00Z";
pub const LEAD_2: &str = "arn:aws:sts::123456789012:assumed-role/Leads/dave";

pub type Deps = ApproveDeps<FakeCodeCommit, FakeLedger, FakeTaskTokens, FakeBus>;

/// A release of commit 20 to production, waiting for an approval with [`TOKEN`].
pub struct Story {
    pub w: World,
    pub bus: FakeBus,
    pub tokens: FakeTaskTokens,
    pub request: ApprovalRequest,
}

pub fn world() -> World {
    let mut w = World::new();
    w.release_production_from_main("arn:aws:iam::123456789012:role/gate-deploy-production");
    w.cc.put_file(&commit(20), ".gate.yml", GATE);
    w
}

/// gate-start starts the release of commit 20; the machine's approval step sends this.
pub async fn started(w: &World) -> ApprovalRequest {
    w.send(w.branch_moved("main", 20)).await;
    let (_, mut input) = w.sfn.releases().pop().expect("a release started");
    input.pushed_by = Some(AUTHOR.to_owned());
    ApprovalRequest {
        execution_arn: format!(
            "arn:aws:states:us-east-1:123456789012:execution:gate-release:{}",
            input.execution_name
        ),
        input,
        task_token: TOKEN.to_owned(),
        checks: Some(StageChain {
            results: vec![passed_run("unit", 1)],
            prev: None,
        }),
    }
}

pub async fn waiting() -> Story {
    let w = world();
    let request = started(&w).await;
    let (bus, tokens) = (FakeBus::default(), FakeTaskTokens::default());
    tokens.issue(TOKEN);
    await_approval(&w.ledger, &w.sns, &bus, NOW, &request)
        .await
        .expect("the release waits");
    Story {
        w,
        bus,
        tokens,
        request,
    }
}

impl Story {
    pub fn deps(&self) -> Deps {
        ApproveDeps {
            prs: self.w.cc.clone(),
            ledger: self.w.ledger.clone(),
            tokens: self.tokens.clone(),
            bus: self.bus.clone(),
            settings: self.w.deps.settings.clone(),
        }
    }

    /// `by` comments `text` on the pull request (into `main`); gate-approve gets the event.
    pub async fn comment(&self, by: &str, text: &str) -> (CommentId, CommentOutcome) {
        let id = self.w.cc.add_comment(&self.w.pr, by, text);
        (id.clone(), self.redeliver(&id, by).await)
    }

    pub async fn redeliver(&self, id: &CommentId, by: &str) -> CommentOutcome {
        let Event::Command(event) = self.w.comment_event(id, by) else {
            panic!("a comment event");
        };
        on_comment(&self.deps(), LATER, &event)
            .await
            .expect("gate-approve answers")
    }

    /// A function URL request (the real payload shape) from `caller` with `body`.
    pub async fn url(&self, method: &str, caller: Option<&str>, body: &str) -> UrlResponse {
        url_answer(&self.deps(), method, caller, body).await
    }

    pub async fn pending(&self) -> Option<PendingApproval> {
        self.w
            .ledger
            .environment(&RepositoryName::from("my-repo"), "production")
            .await
            .expect("the ledger answers")
            .and_then(|r| r.pending_approval)
    }

    pub fn states(&self) -> Vec<ReleaseState> {
        self.bus
            .events()
            .iter()
            .map(|e| serde_json::from_value(e.detail["state"].clone()).expect("a state"))
            .collect()
    }
}

pub async fn url_answer(
    deps: &Deps,
    method: &str,
    caller: Option<&str>,
    body: &str,
) -> UrlResponse {
    let mut payload: Value = serde_json::from_str(
        &std::fs::read_to_string("events/approve-url.json").expect("events/approve-url.json"),
    )
    .expect("JSON");
    payload["requestContext"]["http"]["method"] = json!(method);
    payload["body"] = json!(body);
    match caller {
        Some(arn) => payload["requestContext"]["authorizer"]["iam"]["userArn"] = json!(arn),
        None => payload["requestContext"]["authorizer"] = Value::Null,
    }
    let ApproveEvent::Url(request) = read_payload(payload) else {
        panic!("a function URL request");
    };
    url_handler(deps, LATER, &request).await
}

pub fn body(decision: &str, reason: Option<&str>) -> String {
    let mut b = json!({"repository": "my-repo", "environment": "production", "decision": decision});
    if let Some(r) = reason {
        b["reason"] = json!(r);
    }
    b.to_string()
}

pub fn success(answers: &[(String, TokenAnswer)]) -> ApprovalAnswer {
    match answers {
        [(token, TokenAnswer::Success(output))] if token == TOKEN => {
            serde_json::from_str(output).expect("an ApprovalAnswer")
        }
        other => panic!("one SendTaskSuccess expected: {other:?}"),
    }
}
