//! Stories of a release waiting for a person on AWS, against the in-memory fakes: gate-start
//! starts the release of `main` to production, the machine's approval step stores the token
//! and notifies, then people decide by pull-request comment or through the function URL.
//! Approvers resume it, strangers and the author alone are refused while it keeps waiting,
//! a rejection fails the task with its reason, a token that no longer waits is told so, a
//! redelivered comment decides and replies once, and two approvers at once make one decision
//! (that the token is written nowhere but the table: tests/release_approval_token.rs).

use crate::story;
use crate::world;

use codecommit_gate::announce::ReleaseState;
use codecommit_gate::flows::gate_start::StartOutcome;
use codecommit_gate::flows::release_approval::comment::{CommentOutcome, on_comment};
use codecommit_gate::flows::release_approval::{
    DecisionOutcome, DecisionRequest, Verb, await_approval, decide,
};
use codecommit_gate::ids::{PullRequestId, RepositoryName};
use codecommit_gate::lambda::approve::{ApproveEvent, read_payload, url_handler};
use codecommit_gate::machine::release::payload::{ApprovalAnswer, ApprovalChannel};
use codecommit_gate::memory::{FakeBus, FakeLedger, FakeTaskTokens, TokenAnswer};
use codecommit_gate::ports::{EnvironmentRecord, Ledger, PortError, PortResult, PrRecord, Written};
use codecommit_gate::release::{ApprovalDecision, ReleaseRecord};
use serde_json::{Value, json};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use story::{LATER, LEAD_2, NOW, Story, TOKEN, body, started, success, waiting, world};
use world::{AUTHOR, LEAD, STRANGER, commit};

#[tokio::test]
async fn the_release_waits_once_and_the_notice_says_what_and_how() {
    let s = waiting().await;
    let pending = s.pending().await.expect("the token is stored in the table");
    assert_eq!(pending.task_token, TOKEN);
    assert_eq!(pending.authors, [AUTHOR]);
    assert_eq!(pending.expires_at, "2026-12-02T16:00:00Z");
    assert!(pending.announced);
    let messages = s.w.sns.messages();
    assert_eq!(messages.len(), 1);
    let (subject, message) = &messages[0];
    assert_eq!(subject, "Approval needed: my-repo to production");
    let c20 = commit(20);
    assert_eq!(
        message,
        &format!(
            "The release of my-repo to production waits for an approval until 2026-12-02T16:00:00Z.\n\n\
             Commit: {c20}\nPrevious release: none: the first release\n\
             Deploys, wave by wave:\n  1. network, web\n  2. app\n\
             Checks:\n  unit: passed\n\
             Who may approve: arn:aws:sts::123456789012:assumed-role/Leads/*, arn:aws:sts::123456789012:assumed-role/Developer/alice\n\n\
             To approve, comment on the pull request that brought this commit to its branch:\n  /gate approve production\n\
             or run:\n  gate approve --repository my-repo --environment production\n\
             To reject: /gate reject production -- <reason>, or gate reject --repository my-repo --environment production --reason \"<reason>\".\n\
             The author of the change cannot be its only approver. Until someone approves, nothing is deployed.\n"
        )
    );
    assert_eq!(s.states(), [ReleaseState::WaitingForApproval]);
    assert_eq!(
        s.bus.events()[0].resources,
        std::slice::from_ref(&s.request.execution_arn)
    );
    // A redelivered approval step changes nothing and notifies nobody again.
    await_approval(&s.w.ledger, &s.w.sns, &s.bus, LATER, &s.request)
        .await
        .expect("redelivery");
    assert_eq!(s.w.sns.messages().len(), 1);
    assert_eq!(s.bus.events().len(), 1);
    assert_eq!(
        s.pending().await.map(|p| p.requested_at).as_deref(),
        Some(NOW)
    );
}

#[tokio::test]
async fn an_approval_step_of_a_release_the_lane_no_longer_runs_fails_naming_it() {
    let w = world();
    let mut request = started(&w).await;
    request.input.sequence = 7;
    let err = await_approval(&w.ledger, &w.sns, &FakeBus::default(), NOW, &request)
        .await
        .expect_err("not the running release");
    let c20 = commit(20);
    assert_eq!(
        err.to_string(),
        format!(
            "gate-release:AwaitApproval failed: release #7 of commit {c20} to production no \
             longer runs in its lane (release #1 of commit {c20} runs); it cannot wait for an \
             approval"
        )
    );
    assert!(w.sns.messages().is_empty());
}

#[tokio::test]
async fn an_approvers_comment_resumes_the_release_and_is_recorded() {
    let s = waiting().await;
    let (_, outcome) = s
        .comment(LEAD, "Looks good.\n/gate approve production\n")
        .await;
    assert_eq!(outcome, CommentOutcome::Answered { replies: 1 });
    let answer = success(&s.tokens.answers());
    assert_eq!(
        answer,
        ApprovalAnswer {
            approver: LEAD.into(),
            at: LATER.into(),
            decision: ApprovalDecision::Approved,
            channel: ApprovalChannel::Comment,
            reason: None,
        }
    );
    assert_eq!(s.pending().await, None, "the pending approval is cleared");
    assert_eq!(
        s.states(),
        [ReleaseState::WaitingForApproval, ReleaseState::Approved]
    );
    assert_eq!(
        s.w.replies(),
        [format!(
            "✅ Approved: the release of `{}` to `production` goes on. Recorded: \
             `arn:aws:sts::123456789012:assumed-role/Leads/carol` at 2026\\-12\\-02T15\\:20\\:00Z by \
             a pull request comment.",
            commit(20).short()
        )]
    );
}

#[tokio::test]
async fn the_author_alone_is_refused_and_the_release_keeps_waiting() {
    let s = waiting().await;
    s.comment(AUTHOR, "/gate approve production").await;
    assert!(s.tokens.answers().is_empty(), "nothing was sent");
    let pending = s.pending().await.expect("still waiting");
    assert_eq!(pending.attempts.len(), 1);
    assert_eq!(pending.attempts[0].decision, ApprovalDecision::Author);
    assert_eq!(pending.attempts[0].approver, AUTHOR);
    assert_eq!(
        s.w.replies(),
        [
            "⚠️ Refused: `arn:aws:sts::123456789012:assumed-role/Developer/alice` wrote part of \
          this release and cannot approve it alone: another approver must. The release keeps \
          waiting; the attempt is recorded (`arn:aws:sts::123456789012:assumed-role/Developer/alice` \
          at 2026\\-12\\-02T15\\:20\\:00Z by a pull request comment)."
        ]
    );
    // Through the function URL too (the push's author is recorded with the release).
    let answer = s.url("POST", Some(AUTHOR), &body("approve", None)).await;
    assert_eq!((answer.status, answer.outcome), (403, "refused"));
    // Another approver releases it.
    s.url("POST", Some(LEAD), &body("approve", None)).await;
    assert_eq!(success(&s.tokens.answers()).approver, LEAD);
}

#[tokio::test]
async fn the_pull_requests_author_is_an_author_on_the_comment_channel() {
    let w = world();
    let mut request = started(&w).await;
    request.input.pushed_by = None;
    let (bus, tokens) = (FakeBus::default(), FakeTaskTokens::default());
    tokens.issue(TOKEN);
    await_approval(&w.ledger, &w.sns, &bus, NOW, &request)
        .await
        .expect("waits");
    let s = Story {
        w,
        bus,
        tokens,
        request,
    };
    assert_eq!(s.pending().await.map(|p| p.authors), Some(Vec::new()));
    // On the pull request alice wrote, she is its author: refused.
    s.comment(AUTHOR, "/gate approve production").await;
    assert!(s.tokens.answers().is_empty());
    let attempts = s.pending().await.map(|p| p.attempts).unwrap_or_default();
    assert_eq!(attempts[0].decision, ApprovalDecision::Author);
}

#[tokio::test]
async fn a_stranger_is_refused_by_both_channels_and_cannot_stop_the_release() {
    let s = waiting().await;
    s.comment(STRANGER, "/gate reject production -- no").await;
    let answer = s.url("POST", Some(STRANGER), &body("reject", None)).await;
    assert_eq!(answer.status, 403);
    assert_eq!(
        answer.message,
        "⚠️ Refused: `arn:aws:iam::123456789012:user/mallory` may not reject releases to \
         `production` (approvers: `arn:aws:sts::123456789012:assumed-role/Leads/*`, \
         `arn:aws:sts::123456789012:assumed-role/Developer/alice`). The release keeps waiting; \
         the attempt is recorded (`arn:aws:iam::123456789012:user/mallory` at \
         2026-12-02T15:20:00Z by the gate CLI (function URL))."
    );
    assert!(s.tokens.answers().is_empty());
    let pending = s.pending().await.expect("still waiting");
    let how: Vec<(ApprovalDecision, ApprovalChannel)> = pending
        .attempts
        .iter()
        .map(|a| (a.decision, a.channel))
        .collect();
    assert_eq!(
        how,
        [
            (ApprovalDecision::NotAnApprover, ApprovalChannel::Comment),
            (
                ApprovalDecision::NotAnApprover,
                ApprovalChannel::FunctionUrl
            )
        ]
    );
}

#[tokio::test]
async fn a_rejection_fails_the_task_with_its_reason() {
    let s = waiting().await;
    s.comment(
        LEAD,
        "/gate reject production -- the migration is not ready",
    )
    .await;
    let answers = s.tokens.answers();
    let [(token, TokenAnswer::Failure { error, cause })] = answers.as_slice() else {
        panic!("one SendTaskFailure: {answers:?}");
    };
    assert_eq!(
        (token.as_str(), error.as_str()),
        (TOKEN, "Gate.ApprovalRefused")
    );
    let answer: ApprovalAnswer = serde_json::from_str(cause).expect("the cause is the answer");
    assert_eq!(answer.decision, ApprovalDecision::Refused);
    assert_eq!(answer.reason.as_deref(), Some("the migration is not ready"));
    assert_eq!(
        s.states(),
        [ReleaseState::WaitingForApproval, ReleaseState::Rejected]
    );
    assert_eq!(
        s.bus.events()[1].detail["reason"],
        json!(format!("rejected by {LEAD}: the migration is not ready"))
    );
    assert!(s.w.replies()[0].starts_with("❌ Rejected: the release of"));
    assert_eq!(s.pending().await, None);
}

#[tokio::test]
async fn a_token_that_no_longer_waits_is_answered_so_and_cleared() {
    let s = waiting().await;
    s.tokens.expire(TOKEN);
    let answer = s.url("POST", Some(LEAD), &body("approve", None)).await;
    assert_eq!((answer.status, answer.outcome), (409, "no_longer_waits"));
    assert_eq!(
        answer.message,
        "➖ The release to `production` no longer waits for an approval (the wait timed out or \
         the release ended); nothing was decided."
    );
    assert_eq!(s.pending().await, None);
    assert_eq!(s.states(), [ReleaseState::WaitingForApproval]);
}

#[tokio::test]
async fn an_aws_error_is_a_500_and_the_same_approver_resumes_the_decision() {
    let s = waiting().await;
    s.tokens.calls.fail_next(
        "states:SendTaskSuccess",
        PortError::Transient {
            call: "states:SendTaskSuccess",
            message: "throttled".into(),
        },
    );
    let failed = s.url("POST", Some(LEAD), &body("approve", None)).await;
    assert_eq!((failed.status, failed.outcome), (500, "error"));
    assert!(s.tokens.answers().is_empty(), "nothing reached the release");
    let claimed = s.pending().await.and_then(|p| p.decision);
    assert_eq!(claimed.map(|a| a.approver).as_deref(), Some(LEAD));
    let other = s.url("POST", Some(LEAD_2), &body("reject", None)).await;
    assert_eq!((other.status, other.outcome), (409, "already_decided"));
    let again = s.url("POST", Some(LEAD), &body("approve", None)).await;
    assert_eq!((again.status, again.outcome), (200, "approved"));
    assert_eq!(success(&s.tokens.answers()).approver, LEAD);
    assert_eq!(s.pending().await, None);
}

#[tokio::test]
async fn nothing_waiting_is_a_404_and_a_reply() {
    let w = world();
    let s = Story {
        request: started(&w).await,
        w,
        bus: FakeBus::default(),
        tokens: FakeTaskTokens::default(),
    };
    let answer = s.url("POST", Some(LEAD), &body("approve", None)).await;
    assert_eq!((answer.status, answer.outcome), (404, "nothing_waits"));
    s.comment(LEAD, "/gate approve production").await;
    assert_eq!(
        s.w.replies(),
        ["➖ Nothing to decide: no release to `production` waits for an approval."]
    );
}

#[tokio::test]
async fn a_redelivered_comment_decides_once_and_replies_once() {
    let s = waiting().await;
    let (id, _) = s.comment(LEAD, "/gate approve production").await;
    assert_eq!(s.redeliver(&id, LEAD).await, CommentOutcome::Duplicate);
    assert_eq!(s.tokens.answers().len(), 1);
    assert_eq!(s.w.replies().len(), 1);
    assert_eq!(s.states().len(), 2);
}

#[tokio::test]
async fn comments_on_other_pull_requests_and_other_commands_decide_nothing() {
    let s = waiting().await;
    let mut pr = s.w.cc.pull_request_now(&s.w.pr).expect("the PR");
    pr.id = PullRequestId::from("43");
    pr.destination_reference = "refs/heads/develop".into();
    s.w.cc.put_pull_request(pr);
    let id =
        s.w.cc
            .add_comment(&PullRequestId::from("43"), LEAD, "/gate approve production");
    let mut event: Value =
        serde_json::from_str(&std::fs::read_to_string("events/pr-comment.json").expect("fixture"))
            .expect("JSON");
    event["detail"]["commentId"] = json!(id.as_str());
    event["detail"]["pullRequestId"] = json!("43");
    let ApproveEvent::Comment(comment) = read_payload(event) else {
        panic!("a comment event");
    };
    on_comment(&s.deps(), LATER, &comment)
        .await
        .expect("answers");
    let replies: Vec<String> =
        s.w.cc
            .comments(&PullRequestId::from("43"))
            .into_iter()
            .filter(|c| c.in_reply_to.is_some())
            .map(|c| c.data.content)
            .collect();
    assert_eq!(
        replies,
        [
            "❌ Releases to `production` are decided on the pull request that brought the commit \
          to `main`; this pull request goes elsewhere, so nothing was decided."
        ]
    );
    let (_, retry) = s.comment(LEAD, "/gate retry").await;
    assert!(matches!(retry, CommentOutcome::Ignored { .. }), "{retry:?}");
    let (_, bad) = s.comment(LEAD, "/gate approve").await;
    assert_eq!(bad, CommentOutcome::Answered { replies: 1 });
    assert!(s.tokens.answers().is_empty());
    assert!(s.pending().await.is_some());
}

#[tokio::test]
async fn gate_start_ignores_approval_commands_silently() {
    let s = waiting().await;
    let id =
        s.w.cc
            .add_comment(&s.w.pr, LEAD, "/gate approve production");
    let outcome = s.w.send(s.w.comment_event(&id, LEAD)).await;
    assert!(
        matches!(outcome, StartOutcome::Ignored { .. }),
        "{outcome:?}"
    );
    assert!(s.w.replies().is_empty());
}

/// A ledger whose first two reads of an environment wait for each other (two approvers read
/// the same waiting release) and whose writes yield first (so the other runs in between).
#[derive(Clone)]
struct RacingLedger {
    inner: FakeLedger,
    barrier: Arc<tokio::sync::Barrier>,
    reads: Arc<AtomicUsize>,
}

impl Ledger for RacingLedger {
    async fn get(
        &self,
        repository: &RepositoryName,
        id: &PullRequestId,
    ) -> PortResult<Option<PrRecord>> {
        self.inner.get(repository, id).await
    }
    async fn put(&self, record: &PrRecord) -> PortResult<Written> {
        self.inner.put(record).await
    }
    async fn open_records(&self) -> PortResult<Vec<PrRecord>> {
        self.inner.open_records().await
    }
    async fn coverage_bases(
        &self,
        repository: &RepositoryName,
        branch: &str,
    ) -> PortResult<codecommit_gate::test_reports::CoverageBases> {
        self.inner.coverage_bases(repository, branch).await
    }
    async fn put_coverage_bases(
        &self,
        repository: &RepositoryName,
        record: &codecommit_gate::test_reports::CoverageBases,
    ) -> PortResult<Written> {
        self.inner.put_coverage_bases(repository, record).await
    }
    async fn reuse_passes(
        &self,
        repository: &RepositoryName,
    ) -> PortResult<codecommit_gate::reuse::ledger::LedgerPasses> {
        self.inner.reuse_passes(repository).await
    }
    async fn put_reuse_passes(
        &self,
        repository: &RepositoryName,
        record: &codecommit_gate::reuse::ledger::LedgerPasses,
    ) -> PortResult<Written> {
        self.inner.put_reuse_passes(repository, record).await
    }
    async fn environment(
        &self,
        repository: &RepositoryName,
        environment: &str,
    ) -> PortResult<Option<EnvironmentRecord>> {
        let record = self.inner.environment(repository, environment).await;
        if self.reads.fetch_add(1, Ordering::SeqCst) < 2 {
            self.barrier.wait().await;
        }
        record
    }
    async fn put_environment(&self, record: &EnvironmentRecord) -> PortResult<Written> {
        tokio::task::yield_now().await;
        self.inner.put_environment(record).await
    }
    async fn put_release(
        &self,
        repository: &RepositoryName,
        record: &ReleaseRecord,
    ) -> PortResult<()> {
        self.inner.put_release(repository, record).await
    }
}

#[tokio::test]
async fn two_approvers_at_once_make_exactly_one_decision() {
    let s = waiting().await;
    let ledger = RacingLedger {
        inner: s.w.ledger.clone(),
        barrier: Arc::new(tokio::sync::Barrier::new(2)),
        reads: Arc::new(AtomicUsize::new(0)),
    };
    let request = |caller: &str, verb| DecisionRequest {
        repository: RepositoryName::from("my-repo"),
        environment: "production".into(),
        caller_arn: caller.into(),
        verb,
        reason: None,
        channel: ApprovalChannel::FunctionUrl,
        extra_authors: Vec::new(),
    };
    let (carol, dave) = (request(LEAD, Verb::Approve), request(LEAD_2, Verb::Reject));
    let (first, second) = tokio::join!(
        decide(&ledger, &s.tokens, &s.bus, LATER, &carol),
        decide(&ledger, &s.tokens, &s.bus, LATER, &dave),
    );
    let outcomes = [first.expect("decides"), second.expect("decides")];
    let winner = outcomes
        .iter()
        .find_map(|o| match o {
            DecisionOutcome::Decided { answer, .. } => Some(answer.clone()),
            _ => None,
        })
        .expect("one decision");
    let lost: Vec<&DecisionOutcome> = outcomes
        .iter()
        .filter(|o| !matches!(o, DecisionOutcome::Decided { .. }))
        .collect();
    assert_eq!(
        lost,
        [&DecisionOutcome::DecidedBefore {
            answer: winner.clone()
        }],
        "the other is told who decided"
    );
    let answers = s.tokens.answers();
    assert_eq!(
        answers.len(),
        1,
        "exactly one decision delivered: {answers:?}"
    );
    let delivered = match &answers[0].1 {
        TokenAnswer::Success(output) => output,
        TokenAnswer::Failure { cause, .. } => cause,
    };
    assert_eq!(
        serde_json::from_str::<ApprovalAnswer>(delivered).expect("an answer"),
        winner
    );
    assert_eq!(s.states().len(), 2, "one decision announced");
    assert_eq!(s.pending().await, None);
}

#[tokio::test]
async fn function_url_requests_that_are_not_signed_decisions_are_refused() {
    let s = waiting().await;
    let unsigned = s.url("POST", None, &body("approve", None)).await;
    assert_eq!((unsigned.status, unsigned.outcome), (403, "refused"));
    let bad_json = s.url("POST", Some(LEAD), "{\"repository\":").await;
    assert_eq!(bad_json.status, 400);
    assert!(
        bad_json.message.starts_with("the body is not a decision: "),
        "{}",
        bad_json.message
    );
    let bad_verb = s.url("POST", Some(LEAD), &body("merge", None)).await;
    assert_eq!(bad_verb.status, 400);
    let get = s.url("GET", Some(LEAD), "").await;
    assert_eq!(get.status, 405);
    assert!(s.tokens.answers().is_empty());
    let approved = s
        .url(
            "POST",
            Some(LEAD),
            &body("approve", Some("tested on staging")),
        )
        .await;
    assert_eq!((approved.status, approved.outcome), (200, "approved"));
    let answer = success(&s.tokens.answers());
    assert_eq!(answer.channel, ApprovalChannel::FunctionUrl);
    assert_eq!(answer.reason.as_deref(), Some("tested on staging"));
    let response = approved.to_value();
    assert_eq!(response["statusCode"], 200);
    assert_eq!(response["headers"]["content-type"], "application/json");
    let body: Value = serde_json::from_str(response["body"].as_str().expect("a string body"))
        .expect("a JSON body");
    assert_eq!(body["outcome"], "approved");
    assert_eq!(body["message"], json!(approved.message));
}

#[tokio::test]
async fn the_documented_request_payload_is_read_at_the_edge() {
    // LAMBDA-DG urls-invocation.md, "Request payload format", verbatim.
    let payload: Value = serde_json::from_str(
        &std::fs::read_to_string("tests/data/function-url/lambda-function-url-request-iam.json")
            .expect("fixture"),
    )
    .expect("JSON");
    let ApproveEvent::Url(request) = read_payload(payload) else {
        panic!("a function URL request");
    };
    assert_eq!(request.method, "POST");
    assert_eq!(
        request.caller_arn.as_deref(),
        Some("arn:aws:iam::111122223333:user/example-user")
    );
    assert_eq!(request.body.as_deref(), Ok("Hello from client!"));
    let s = waiting().await;
    let answer = url_handler(&s.deps(), LATER, &request).await;
    assert_eq!((answer.status, answer.outcome), (400, "bad_request"));
}

#[tokio::test]
async fn a_base64_body_is_read() {
    let s = waiting().await;
    let mut payload: Value =
        serde_json::from_str(&std::fs::read_to_string("events/approve-url.json").expect("fixture"))
            .expect("JSON");
    payload["requestContext"]["authorizer"]["iam"]["userArn"] = json!(LEAD);
    // {"repository":"my-repo","environment":"production","decision":"approve"}
    payload["body"] = json!(
        "eyJyZXBvc2l0b3J5IjoibXktcmVwbyIsImVudmlyb25tZW50IjoicHJvZHVjdGlvbiIsImRlY2lzaW9uIjoiYXBwcm92ZSJ9"
    );
    payload["isBase64Encoded"] = json!(true);
    let ApproveEvent::Url(request) = read_payload(payload) else {
        panic!("a function URL request");
    };
    assert_eq!(url_handler(&s.deps(), LATER, &request).await.status, 200);
}

/// `gate approve|reject`: the signed POST, against a local server that captures it.
mod cli {
    use aws_sdk_sfn::config::Credentials;
    use codecommit_gate::aws::function_url::{Signer, region_of};
    use serde_json::{Value, json};
    use std::io::{BufRead, BufReader, Read, Write};
    use std::net::TcpListener;
    use std::process::Command;
    use std::time::{Duration, SystemTime, UNIX_EPOCH};

    const KEY: &str = "AKIDEXAMPLE";
    const SECRET: &str = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";

    /// A request as the server read it: the request line, the headers (lower-case names),
    /// the body.
    struct Captured {
        line: String,
        headers: Vec<(String, String)>,
        body: String,
    }

    impl Captured {
        fn header(&self, name: &str) -> &str {
            self.headers
                .iter()
                .find(|(n, _)| n == name)
                .map_or("", |(_, v)| v.as_str())
        }
    }

    /// Serves one request with `status` and `body`; the captured request comes back on the
    /// handle.
    fn serve_once(status: u16, body: Value) -> (String, std::thread::JoinHandle<Captured>) {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let url = format!("http://{}/", listener.local_addr().expect("address"));
        let handle = std::thread::spawn(move || {
            let (stream, _) = listener.accept().expect("a connection");
            stream
                .set_read_timeout(Some(Duration::from_secs(30)))
                .expect("timeout");
            let mut reader = BufReader::new(stream);
            let mut line = String::new();
            reader.read_line(&mut line).expect("request line");
            let mut headers = Vec::new();
            loop {
                let mut h = String::new();
                reader.read_line(&mut h).expect("header");
                let h = h.trim_end();
                if h.is_empty() {
                    break;
                }
                let (name, value) = h.split_once(':').expect("name: value");
                headers.push((name.to_ascii_lowercase(), value.trim().to_owned()));
            }
            let length: usize = headers
                .iter()
                .find(|(n, _)| n == "content-length")
                .map_or(0, |(_, v)| v.parse().expect("a length"));
            let mut bytes = vec![0; length];
            reader.read_exact(&mut bytes).expect("body");
            let text = body.to_string();
            let response = format!(
                "HTTP/1.1 {status} X\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{text}",
                text.len()
            );
            reader
                .get_mut()
                .write_all(response.as_bytes())
                .expect("answer");
            Captured {
                line: line.trim_end().to_owned(),
                headers,
                body: String::from_utf8(bytes).expect("UTF-8"),
            }
        });
        (url, handle)
    }

    fn gate(args: &[&str]) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_gate"));
        cmd.args(args)
            .env("AWS_ACCESS_KEY_ID", KEY)
            .env("AWS_SECRET_ACCESS_KEY", SECRET)
            .env_remove("AWS_SESSION_TOKEN")
            .env_remove("AWS_PROFILE")
            .env_remove("GATE_APPROVE_URL")
            .env("AWS_CONFIG_FILE", "/nonexistent/config")
            .env("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent/credentials")
            .env("AWS_EC2_METADATA_DISABLED", "true");
        cmd
    }

    /// `YYYYMMDDTHHMMSSZ` → the time.
    fn amz_date(text: &str) -> SystemTime {
        let iso = format!(
            "{}-{}-{}T{}:{}:{}Z",
            &text[0..4],
            &text[4..6],
            &text[6..8],
            &text[9..11],
            &text[11..13],
            &text[13..15]
        );
        codecommit_gate::clock::Utc::parse(&iso).expect("an x-amz-date")
    }

    #[test]
    fn the_signature_matches_the_aws_sigv4_test_vector() {
        // aws-signing-test-suite v4/post-x-www-form-urlencoded (shipped with aws-sigv4).
        let credentials = Credentials::new(KEY, SECRET, None, None, "test");
        let signer = Signer {
            credentials: &credentials,
            region: "us-east-1",
            service: "service",
            time: UNIX_EPOCH + Duration::from_secs(1_440_938_160),
        };
        let headers = signer
            .headers(
                "POST",
                "https://example.amazonaws.com/",
                &[
                    ("content-type", "application/x-www-form-urlencoded"),
                    ("content-length", "13"),
                ],
                b"Param1=value1",
            )
            .expect("signs");
        let authorization = headers
            .iter()
            .find(|(n, _)| n == "authorization")
            .map(|(_, v)| v.as_str());
        assert_eq!(
            authorization,
            Some(
                "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, \
                 SignedHeaders=content-length;content-type;host;x-amz-content-sha256;x-amz-date, \
                 Signature=d3875051da38690788ef43de4db0d8f280229d82040bfac253562e56c3f20e0b"
            )
        );
    }

    #[test]
    fn the_region_comes_from_the_function_url() {
        assert_eq!(
            region_of("https://abcdefghij0123456789.lambda-url.eu-west-1.on.aws/").as_deref(),
            Some("eu-west-1")
        );
        assert_eq!(region_of("https://example.com/"), None);
        assert_eq!(region_of("not a url"), None);
    }

    #[test]
    fn gate_approve_posts_a_signed_decision_and_prints_the_answer() {
        let (url, server) = serve_once(
            200,
            json!({"outcome": "approved", "message": "✅ Approved: the release goes on."}),
        );
        let out = gate(&[
            "approve",
            "--repository",
            "my-repo",
            "--environment",
            "production",
            "--reason",
            "tested on staging",
            "--url",
            &url,
            "--region",
            "eu-west-1",
        ])
        .output()
        .expect("gate runs");
        let request = server.join().expect("captured");
        assert_eq!(
            String::from_utf8_lossy(&out.stdout),
            "✅ Approved: the release goes on.\n",
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(out.status.code(), Some(0));
        assert_eq!(request.line, "POST / HTTP/1.1");
        assert_eq!(request.header("content-type"), "application/json");
        assert_eq!(
            serde_json::from_str::<Value>(&request.body).expect("JSON"),
            json!({"repository": "my-repo", "environment": "production", "decision": "approve", "reason": "tested on staging"})
        );
        let date = request.header("x-amz-date");
        assert!(
            date.len() == 16 && date.as_bytes()[8] == b'T' && date.ends_with('Z'),
            "{date}"
        );
        let authorization = request.header("authorization");
        let prefix = format!(
            "AWS4-HMAC-SHA256 Credential={KEY}/{}/eu-west-1/lambda/aws4_request, \
             SignedHeaders=content-type;host;x-amz-content-sha256;x-amz-date, Signature=",
            &date[..8]
        );
        let signature = authorization
            .strip_prefix(&prefix)
            .unwrap_or_else(|| panic!("{authorization}"));
        assert!(
            signature.len() == 64 && signature.bytes().all(|b| b.is_ascii_hexdigit()),
            "{signature}"
        );
        // The signature verifies: signing the captured request again with the same key and
        // time gives the same one.
        let credentials = Credentials::new(KEY, SECRET, None, None, "test");
        let again = Signer {
            credentials: &credentials,
            region: "eu-west-1",
            service: "lambda",
            time: amz_date(date),
        }
        .headers(
            "POST",
            &url,
            &[("content-type", "application/json")],
            request.body.as_bytes(),
        )
        .expect("signs");
        assert!(again.contains(&("authorization".to_owned(), authorization.to_owned())));
    }

    #[test]
    fn a_refusal_exits_1_and_a_missing_url_exits_2() {
        let (url, server) = serve_once(
            403,
            json!({"outcome": "refused", "message": "⚠️ Refused: not an approver."}),
        );
        let out = gate(&[
            "reject",
            "--repository",
            "my-repo",
            "--environment",
            "production",
            "--url",
            &url,
            "--region",
            "us-east-1",
        ])
        .output()
        .expect("gate runs");
        let request = server.join().expect("captured");
        assert_eq!(out.status.code(), Some(1));
        assert_eq!(
            String::from_utf8_lossy(&out.stdout),
            "⚠️ Refused: not an approver.\n"
        );
        assert!(request.body.contains("\"decision\":\"reject\""));
        let out = gate(&["approve", "--repository", "r", "--environment", "e"])
            .output()
            .expect("gate runs");
        assert_eq!(out.status.code(), Some(2));
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains("GATE_APPROVE_URL") && err.contains("ApproveUrl"),
            "{err}"
        );
    }
}
