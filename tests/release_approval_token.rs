//! The task token is written in the table and nowhere else: not in the SNS notice, the
//! replies, the function URL answers, the bus events, nor any log line the gate writes. Its
//! own test binary (not a module of `tests/suite.rs`; Cargo.toml): the log capture is a
//! test-local tracing subscriber, which other tests logging on other threads at the same time
//! would make unreliable.

#[path = "support/approval_story.rs"]
mod story;
#[path = "support/world.rs"]
mod world;

use codecommit_gate::flows::release_approval::await_approval;
use codecommit_gate::memory::{FakeBus, FakeTaskTokens};
use std::sync::{Arc, Mutex};
use story::{NOW, Story, TOKEN, body, started, world};
use world::{AUTHOR, LEAD, STRANGER};

/// Everything written as logs, through a subscriber local to the test.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().expect("lock").extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test]
async fn the_token_appears_in_no_notice_comment_answer_event_or_log() {
    use lambda_runtime::tracing::subscriber;
    let logs = Captured::default();
    let writer = logs.clone();
    let _guard = lambda_runtime::tracing::subscriber::util::SubscriberInitExt::set_default(
        subscriber::fmt()
            .with_max_level(lambda_runtime::tracing::Level::TRACE)
            .with_writer(move || writer.clone())
            .finish(),
    );
    let w = world();
    let request = started(&w).await;
    let s = Story {
        w,
        bus: FakeBus::default(),
        tokens: FakeTaskTokens::default(),
        request,
    };
    s.tokens.issue(TOKEN);
    await_approval(&s.w.ledger, &s.w.sns, &s.bus, NOW, &s.request)
        .await
        .expect("waits");
    s.comment(STRANGER, "/gate approve production").await;
    let mut written: Vec<String> = Vec::new();
    written.push(
        s.url("POST", Some(AUTHOR), &body("approve", None))
            .await
            .to_value()
            .to_string(),
    );
    written.push(
        s.url("POST", Some(LEAD), &body("reject", Some("no")))
            .await
            .to_value()
            .to_string(),
    );
    written.push(
        s.url("POST", Some(LEAD), &body("approve", None))
            .await
            .to_value()
            .to_string(),
    );
    written.extend(s.w.sns.messages().into_iter().map(|(a, b)| a + &b));
    written.extend(s.w.cc.comments(&s.w.pr).into_iter().map(|c| c.data.content));
    written.extend(
        s.bus
            .events()
            .iter()
            .map(|e| serde_json::to_string(e).expect("JSON")),
    );
    written.push(String::from_utf8(logs.0.lock().expect("lock").clone()).expect("UTF-8"));
    assert!(written.len() >= 7);
    assert!(
        written
            .last()
            .is_some_and(|l| l.contains("approval decision")),
        "logs captured"
    );
    for text in written {
        assert!(!text.contains(TOKEN), "the token leaked: {text}");
    }
    assert_eq!(s.tokens.answers().len(), 1, "the rejection was delivered");
}
