//! gate-start stories against the in-memory CodeCommit, Step Functions, DynamoDB and SNS:
//! given a PR and a gate file, when this event arrives, then these comments, this approval
//! state, this execution input.

use crate::world;

use codecommit_gate::event;
use codecommit_gate::flows::gate_start::{StartOutcome, handle};
use codecommit_gate::ids::CommentId;
use codecommit_gate::machine::Mode;
use codecommit_gate::policy::CheckStatus;
use codecommit_gate::ports::{ApprovalState, ExecutionStatus, PortError, RunVerdict};
use serde_json::{Value, json};
use world::*;

#[tokio::test]
async fn a_new_pull_request_starts_one_gating_run_and_says_so() {
    let w = World::new();
    let outcome = w.send(w.pr_event("pullRequestCreated", 10)).await;
    let StartOutcome::Started { checks, .. } = &outcome else {
        panic!("expected a start, got {outcome:?}");
    };
    assert_eq!(*checks, 2, "fmt always, api-tests for the api change");

    let executions = w.sfn.executions();
    assert_eq!(executions.len(), 1);
    let input = &executions[0].input;
    assert_eq!(input.mode, Mode::Gate);
    assert_eq!(input.subject.source_commit, commit(10));
    assert_eq!(input.subject.destination_commit, commit(DEST));
    assert_eq!(input.subject.revision_id, Some(revision(10)));
    assert_eq!(input.stages.len(), 2);
    let api = &input.stages[1].checks[0];
    assert_eq!(
        (api.name.as_str(), api.timeout_minutes, api.retries),
        ("api-tests", 20, 1)
    );
    assert!(
        api.buildspec.contains("\"cargo test -p api\""),
        "{}",
        api.buildspec
    );
    assert!(
        api.env
            .iter()
            .any(|e| e.name == "RUST_LOG" && e.value == "debug")
    );
    assert!(
        api.env
            .iter()
            .any(|e| e.name == "GATE_DESTINATION_COMMIT" && e.value == commit(DEST).as_str())
    );
    assert!(executions[0].name.len() <= 80);
    insta::assert_json_snapshot!("created_execution_input", input);

    let comments = w.gate_comments();
    assert_eq!(comments.len(), 1);
    assert!(comments[0].contains("api-tests"), "{}", comments[0]);
    assert_eq!(
        input.comment_id.as_ref().map(CommentId::as_str),
        Some("comment-1")
    );

    let rules = w.cc.rules(&w.pr);
    assert_eq!(rules.len(), 1);
    let content: Value = serde_json::from_str(&rules[0].1).expect("rule JSON");
    assert_eq!(
        content["Statements"][0]["ApprovalPoolMembers"],
        json!([GATE_ARN])
    );
    assert_eq!(
        content["Statements"][0]["NumberOfApprovalsNeeded"],
        json!(1)
    );
    assert_eq!(
        w.approval(10),
        Some(ApprovalState::Revoke),
        "no gate approval stands while testing"
    );
    assert!(!w.cc.approved_now(&w.pr));
}

#[tokio::test]
async fn aws_calls_per_created_event_are_counted() {
    let w = World::new();
    w.send(w.pr_event("pullRequestCreated", 10)).await;
    let mut calls = w.cc.calls.all();
    calls.extend(w.sfn.calls.all());
    calls.extend(w.ledger.calls.all());
    insta::assert_debug_snapshot!("calls_per_created_event", calls);
}

#[tokio::test]
async fn the_same_event_delivered_100_times_gives_one_run_one_comment_one_rule() {
    let w = World::new();
    for _ in 0..100 {
        w.send(w.pr_event("pullRequestCreated", 10)).await;
    }
    assert_eq!(w.sfn.executions().len(), 1);
    assert_eq!(w.gate_comments().len(), 1);
    assert_eq!(w.cc.rules(&w.pr).len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_deliveries_cannot_both_win() {
    let w = std::sync::Arc::new(World::new());
    let tasks: Vec<_> = (0..100)
        .map(|_| {
            let w = std::sync::Arc::clone(&w);
            tokio::spawn(async move { w.send(w.pr_event("pullRequestCreated", 10)).await })
        })
        .collect();
    let mut started = 0;
    for t in tasks {
        if matches!(t.await.expect("task"), StartOutcome::Started { .. }) {
            started += 1;
        }
    }
    assert!(started >= 1);
    assert_eq!(w.sfn.executions().len(), 1, "one execution");
    assert_eq!(w.gate_comments().len(), 1, "one comment");
    assert_eq!(w.cc.rules(&w.pr).len(), 1, "one rule");
}

#[tokio::test]
async fn two_quick_pushes_stop_the_older_run_and_keep_one_comment() {
    let w = World::new();
    w.send(w.pr_event("pullRequestCreated", 10)).await;
    w.push(11, &["services/api/a.rs"]);
    w.send(w.pr_event("pullRequestSourceBranchUpdated", 11))
        .await;
    w.push(12, &["web/app.ts"]);
    w.send(w.pr_event("pullRequestSourceBranchUpdated", 12))
        .await;

    let executions = w.sfn.executions();
    assert_eq!(executions.len(), 3);
    assert_eq!(executions[0].status, ExecutionStatus::Aborted);
    assert_eq!(executions[1].status, ExecutionStatus::Aborted);
    assert_eq!(executions[2].status, ExecutionStatus::Running);
    assert_eq!(executions[2].input.subject.source_commit, commit(12));
    let comments = w.gate_comments();
    assert_eq!(
        comments.len(),
        1,
        "the sticky comment is updated, not reposted"
    );
    assert!(
        comments[0].contains(commit(12).short()),
        "describes the newest commit: {}",
        comments[0]
    );
    assert!(!comments[0].contains(commit(11).short()), "{}", comments[0]);
}

#[tokio::test]
async fn a_stale_event_arriving_after_a_newer_push_is_ignored() {
    let w = World::new();
    w.push(11, &["services/api/a.rs"]);
    w.send(w.pr_event("pullRequestSourceBranchUpdated", 11))
        .await;
    let late = w.send(w.pr_event("pullRequestCreated", 10)).await;
    assert!(
        matches!(late, StartOutcome::Ignored { ref reason } if reason.starts_with("stale event")),
        "{late:?}"
    );
    assert_eq!(w.sfn.executions().len(), 1);
    assert_eq!(
        w.sfn.executions()[0].input.subject.source_commit,
        commit(11)
    );
}

#[tokio::test]
async fn closing_while_running_stops_the_run_and_cleans_up_the_environment() {
    let w = World::new();
    w.send(w.pr_event("pullRequestCreated", 10)).await;
    w.cc.close(&w.pr, false);
    let outcome = w.send(w.pr_event("pullRequestStatusChanged", 10)).await;
    let StartOutcome::CleanedUp {
        stopped: Some(_),
        cleanup: Some(cleanup),
    } = outcome
    else {
        panic!("expected a clean-up, got {outcome:?}");
    };
    let executions = w.sfn.executions();
    assert_eq!(executions[0].status, ExecutionStatus::Aborted);
    let clean = executions
        .iter()
        .find(|e| e.arn == cleanup)
        .expect("clean-up execution");
    assert_eq!(clean.input.mode, Mode::Cleanup);
    assert_eq!(clean.input.environment, executions[0].input.environment);
    let record = w.ledger.records().pop().expect("record");
    assert!(record.closed);
    // Redelivered: nothing more.
    let again = w.send(w.pr_event("pullRequestStatusChanged", 10)).await;
    assert!(matches!(again, StartOutcome::Duplicate { .. }));
    assert_eq!(w.sfn.executions().len(), 2);
    // A late push event for a closed PR starts nothing.
    let late = w
        .send(w.pr_event("pullRequestSourceBranchUpdated", 10))
        .await;
    assert!(matches!(late, StartOutcome::Ignored { .. }));
}

#[tokio::test]
async fn a_merged_pull_request_is_cleaned_up_after_its_run_finished() {
    let w = World::new();
    w.send(w.pr_event("pullRequestCreated", 10)).await;
    w.finish_run(
        RunVerdict::Passed,
        vec![
            result("fmt", CheckStatus::Passed),
            result("api-tests", CheckStatus::Passed),
        ],
    )
    .await;
    w.cc.close(&w.pr, true);
    let outcome = w
        .send(w.pr_event("pullRequestMergeStatusUpdated", 10))
        .await;
    assert!(
        matches!(
            outcome,
            StartOutcome::CleanedUp {
                stopped: None,
                cleanup: Some(_)
            }
        ),
        "{outcome:?}"
    );
    assert!(
        w.sfn
            .running()
            .iter()
            .all(|e| e.input.mode == Mode::Cleanup)
    );
}

#[tokio::test]
async fn an_invalid_gate_file_is_a_comment_with_line_and_column_and_a_revoke() {
    let w = World::new();
    // The PR changes the gate file and breaks it: merging it would break the gate for everyone.
    w.commit_files(
        10,
        "stages: [test]\nchecks:\n  unit:\n    stage: tset\n    commands: [make]\n",
        &[".gate.yml"],
    );
    let outcome = w.send(w.pr_event("pullRequestCreated", 10)).await;
    assert_refused(&outcome);
    assert!(w.sfn.executions().is_empty());
    let comments = w.gate_comments();
    assert!(comments[0].contains(".gate.yml:4:12"), "{}", comments[0]);
    assert_eq!(w.approval(10), Some(ApprovalState::Revoke));
    assert_eq!(w.cc.rules(&w.pr).len(), 1, "the rule blocks the merge");
    // Redelivery is a no-op.
    assert!(matches!(
        w.send(w.pr_event("pullRequestCreated", 10)).await,
        StartOutcome::Duplicate { .. }
    ));
}

#[tokio::test]
async fn a_missing_gate_file_explains_how_to_add_one() {
    let w = World::new();
    // The destination (commit 14) has no gate file: a repository adopting the gate.
    let mut pr = w.cc.pull_request_now(&w.pr).expect("pr");
    pr.destination_commit = commit(14);
    w.cc.put_pull_request(pr);
    // The PR's own source commit has a valid gate file: it does not count.
    w.push(13, &["a.rs"]);
    let outcome = w
        .send(w.pr_event("pullRequestSourceBranchUpdated", 13))
        .await;
    assert_refused(&outcome);
    let comment = &w.gate_comments()[0];
    assert!(comment.contains("does not exist on `main`"), "{comment}");
    assert!(
        comment.contains("overriding its approval rules"),
        "{comment}"
    );
    assert!(w.sfn.executions().is_empty());
    assert_eq!(w.approval(13), Some(ApprovalState::Revoke));
}

#[tokio::test]
async fn a_promotion_violation_runs_nothing_and_revokes() {
    let w = World::new();
    let mut pr = w.cc.pull_request_now(&w.pr).expect("pr");
    pr.destination_reference = "refs/heads/production".into();
    w.cc.put_pull_request(pr);
    let outcome = w.send(w.pr_event("pullRequestCreated", 10)).await;
    assert_refused(&outcome);
    assert!(w.sfn.executions().is_empty());
    assert!(
        w.gate_comments()[0].contains("testing"),
        "names the allowed source"
    );
    assert_eq!(w.approval(10), Some(ApprovalState::Revoke));
}

#[tokio::test]
async fn a_merge_conflict_is_reported_and_nothing_runs() {
    let w = World::new();
    w.cc.put_conflicts(&commit(10), &commit(DEST), &["services/api/src/refund.rs"]);
    let outcome = w.send(w.pr_event("pullRequestCreated", 10)).await;
    assert_refused(&outcome);
    assert!(w.sfn.executions().is_empty());
    assert!(w.gate_comments()[0].contains("refund.rs"));
}

#[tokio::test]
async fn a_change_nothing_cares_about_is_approved_without_a_run() {
    let w = World::new();
    w.commit_files(10, GATE_FILE, &["README.md"]);
    let outcome = w.send(w.pr_event("pullRequestCreated", 10)).await;
    assert!(
        matches!(outcome, StartOutcome::Decided { approved: true, .. }),
        "{outcome:?}"
    );
    assert!(w.sfn.executions().is_empty());
    assert!(w.cc.approved_now(&w.pr));
}

#[tokio::test]
async fn retry_reruns_only_the_failed_checks_of_the_current_revision() {
    let w = World::new();
    w.send(w.pr_event("pullRequestCreated", 10)).await;
    w.finish_run(
        RunVerdict::Failed,
        vec![
            result("fmt", CheckStatus::Passed),
            result("api-tests", CheckStatus::Failed),
        ],
    )
    .await;
    let comment =
        w.cc.add_comment(&w.pr, AUTHOR, "Flaky network.\n/gate retry");
    let outcome = w.send(w.comment_event(&comment, AUTHOR)).await;
    let StartOutcome::Answered {
        started: Some(_), ..
    } = outcome
    else {
        panic!("expected a retry run, got {outcome:?}");
    };
    let executions = w.sfn.executions();
    let retry = &executions[1].input;
    assert_eq!(retry.attempt, 2);
    let names: Vec<&str> = retry
        .stages
        .iter()
        .flat_map(|s| &s.checks)
        .map(|c| c.name.as_str())
        .collect();
    assert_eq!(names, ["api-tests"]);
    assert_eq!(
        retry.carried_results,
        vec![result("fmt", CheckStatus::Passed)]
    );
    assert_ne!(executions[0].name, executions[1].name);
    // The same comment event again: nothing.
    assert!(matches!(
        w.send(w.comment_event(&comment, AUTHOR)).await,
        StartOutcome::Duplicate { .. }
    ));
    assert_eq!(w.sfn.executions().len(), 2);
}

#[tokio::test]
async fn retry_with_nothing_failed_is_answered_not_run() {
    let w = World::new();
    w.send(w.pr_event("pullRequestCreated", 10)).await;
    let comment = w.cc.add_comment(&w.pr, AUTHOR, "/gate retry");
    let outcome = w.send(w.comment_event(&comment, AUTHOR)).await;
    assert!(
        matches!(outcome, StartOutcome::Answered { started: None, .. }),
        "{outcome:?}"
    );
    assert!(
        w.replies().iter().any(|r| r.contains("Nothing to retry")),
        "{:?}",
        w.replies()
    );
    assert_eq!(w.sfn.executions().len(), 1);
}

#[tokio::test]
async fn skip_by_an_allowed_author_starts_a_new_run_without_the_check() {
    let w = World::new();
    w.commit_files(10, GATE_FILE, &["web/app.ts"]);
    w.send(w.pr_event("pullRequestCreated", 10)).await;
    let first: Vec<String> = w.sfn.executions()[0]
        .input
        .stages
        .iter()
        .flat_map(|s| &s.checks)
        .map(|c| c.name.to_string())
        .collect();
    assert!(first.contains(&"docs-links".to_owned()));
    let comment =
        w.cc.add_comment(&w.pr, LEAD, "/gate skip docs-links -- link checker down");
    let outcome = w.send(w.comment_event(&comment, LEAD)).await;
    assert!(
        matches!(
            outcome,
            StartOutcome::Answered {
                started: Some(_),
                ..
            }
        ),
        "{outcome:?}"
    );
    let executions = w.sfn.executions();
    assert_eq!(
        executions[0].status,
        ExecutionStatus::Aborted,
        "the run it replaces is stopped"
    );
    let second: Vec<String> = executions[1]
        .input
        .stages
        .iter()
        .flat_map(|s| &s.checks)
        .map(|c| c.name.to_string())
        .collect();
    assert!(!second.contains(&"docs-links".to_owned()), "{second:?}");
    assert!(w.replies()[0].contains("Applied"), "{:?}", w.replies());
}

#[tokio::test]
async fn unauthorized_and_required_skips_get_a_reply_and_change_nothing() {
    let w = World::new();
    w.send(w.pr_event("pullRequestCreated", 10)).await;
    let c1 = w.cc.add_comment(&w.pr, STRANGER, "/gate skip docs-links");
    let o1 = w.send(w.comment_event(&c1, STRANGER)).await;
    let c2 = w.cc.add_comment(&w.pr, LEAD, "/gate skip api-tests");
    let o2 = w.send(w.comment_event(&c2, LEAD)).await;
    let c3 = w.cc.add_comment(&w.pr, STRANGER, "/gate run web-tests");
    let o3 = w.send(w.comment_event(&c3, STRANGER)).await;
    for o in [o1, o2, o3] {
        assert!(
            matches!(
                o,
                StartOutcome::Answered {
                    started: None,
                    replies: 1
                }
            ),
            "{o:?}"
        );
    }
    let replies = w.replies();
    assert!(replies[0].contains("skip.authors"), "{}", replies[0]);
    assert!(replies[1].contains("required"), "{}", replies[1]);
    assert!(replies[2].contains("Did not apply"), "{}", replies[2]);
    assert_eq!(w.sfn.executions().len(), 1);
}

#[tokio::test]
async fn run_by_the_author_adds_a_check() {
    let w = World::new();
    w.send(w.pr_event("pullRequestCreated", 10)).await;
    let c = w.cc.add_comment(&w.pr, AUTHOR, "/gate run web-tests");
    let outcome = w.send(w.comment_event(&c, AUTHOR)).await;
    assert!(
        matches!(
            outcome,
            StartOutcome::Answered {
                started: Some(_),
                ..
            }
        ),
        "{outcome:?}"
    );
    let names: Vec<String> = w.sfn.executions()[1]
        .input
        .stages
        .iter()
        .flat_map(|s| &s.checks)
        .map(|c| c.name.to_string())
        .collect();
    assert!(names.contains(&"web-tests".to_owned()), "{names:?}");
}

#[tokio::test]
async fn the_gate_ignores_its_own_comments_and_plain_comments() {
    let w = World::new();
    w.send(w.pr_event("pullRequestCreated", 10)).await;
    let own = w.cc.comments(&w.pr)[0].data.id.clone();
    assert!(matches!(
        w.send(w.comment_event(&own, GATE_ARN)).await,
        StartOutcome::Ignored { .. }
    ));
    // Even one that quotes a command.
    let forged = w.cc.as_caller(GATE_ARN);
    let id = forged.add_comment(&w.pr, GATE_ARN, "/gate skip docs-links");
    assert!(matches!(
        w.send(w.comment_event(&id, GATE_ARN)).await,
        StartOutcome::Ignored { .. }
    ));
    let plain =
        w.cc.add_comment(&w.pr, AUTHOR, "LGTM, but /gateway is not a command");
    assert!(matches!(
        w.send(w.comment_event(&plain, AUTHOR)).await,
        StartOutcome::Ignored { .. }
    ));
    assert!(w.replies().is_empty());
}

#[tokio::test]
async fn a_forged_marker_in_someone_elses_comment_is_never_edited() {
    let w = World::new();
    let marker = codecommit_gate::report::marker(&w.repo, &w.pr);
    let forged = w.cc.add_comment(
        &w.pr,
        STRANGER,
        &format!("Approved by the gate, honest\n{marker}"),
    );
    w.send(w.pr_event("pullRequestCreated", 10)).await;
    let comments = w.cc.comments(&w.pr);
    let theirs = comments
        .iter()
        .find(|c| c.data.id == forged)
        .expect("still there");
    assert_eq!(theirs.updates, 0);
    assert_eq!(w.gate_comments().len(), 1, "the gate posted its own");
}

#[tokio::test]
async fn a_deleted_gate_comment_is_replaced() {
    let w = World::new();
    w.send(w.pr_event("pullRequestCreated", 10)).await;
    let id = w.cc.comments(&w.pr)[0].data.id.clone();
    w.cc.delete_comment(&id);
    w.push(11, &["services/api/b.rs"]);
    w.send(w.pr_event("pullRequestSourceBranchUpdated", 11))
        .await;
    let live: Vec<_> =
        w.cc.comments(&w.pr)
            .into_iter()
            .filter(|c| !c.data.deleted)
            .collect();
    assert_eq!(live.len(), 1);
}

#[tokio::test]
async fn an_approval_rule_override_is_notified() {
    let w = World::new();
    let e: Value = serde_json::from_str(
        &std::fs::read_to_string(
            "tests/data/events/codecommit-pr-approval-rule-overridden-override.json",
        )
        .expect("fixture"),
    )
    .expect("JSON");
    let outcome = w.send(event::parse_value(e).expect("event")).await;
    assert_eq!(outcome, StartOutcome::Notified);
    let messages = w.sns.messages();
    assert_eq!(messages.len(), 1);
    assert!(
        messages[0].0.starts_with("Gate bypassed"),
        "{}",
        messages[0].0
    );
}

#[tokio::test]
async fn a_failing_call_fails_closed_and_a_redelivery_repairs_everything() {
    let w = World::new();
    w.sfn.calls.fail_next(
        "states:StartExecution",
        PortError::Transient {
            call: "states:StartExecution",
            message: "ThrottlingException".into(),
        },
    );
    let err = handle(&w.deps, w.pr_event("pullRequestCreated", 10))
        .await
        .expect_err("fails");
    assert_eq!(err.source.call(), "states:StartExecution");
    assert_eq!(err.pull_request.as_str(), "42");
    assert_eq!(err.error_type(), "GateTransientError");
    assert!(!w.cc.approved_now(&w.pr), "never approved");
    // EventBridge retries the event: one run, one comment.
    let outcome = w.send(w.pr_event("pullRequestCreated", 10)).await;
    assert!(
        matches!(outcome, StartOutcome::Started { .. }),
        "{outcome:?}"
    );
    assert_eq!(w.sfn.executions().len(), 1);
    assert_eq!(w.gate_comments().len(), 1);
}

#[tokio::test]
async fn access_denied_anywhere_fails_closed_with_the_call_named() {
    for call in [
        "codecommit:GetPullRequest",
        "codecommit:CreatePullRequestApprovalRule",
        "codecommit:UpdatePullRequestApprovalState",
        "codecommit:GetFile",
        "codecommit:GetDifferences",
        "codecommit:GetMergeConflicts",
        "codecommit:PostCommentForPullRequest",
        "states:StartExecution",
        "dynamodb:GetItem",
        "dynamodb:PutItem",
    ] {
        let w = World::new();
        let denied = PortError::Permanent {
            call: "x",
            message: "AccessDeniedException".into(),
        };
        w.cc.calls.fail_next(call, denied.clone());
        w.sfn.calls.fail_next(call, denied.clone());
        w.ledger.calls.fail_next(call, denied);
        let result = handle(&w.deps, w.pr_event("pullRequestCreated", 10)).await;
        assert!(result.is_err(), "{call}: must fail closed, got {result:?}");
        assert!(!w.cc.approved_now(&w.pr), "{call}");
        // And the redelivery completes the job exactly once.
        w.send(w.pr_event("pullRequestCreated", 10)).await;
        assert_eq!(w.sfn.executions().len(), 1, "{call}");
        assert_eq!(w.gate_comments().len(), 1, "{call}");
    }
}

#[tokio::test]
async fn a_started_run_is_announced_once_with_its_checks() {
    use codecommit_gate::announce::RunState;
    let w = World::new();
    for _ in 0..3 {
        w.send(w.pr_event("pullRequestCreated", 10)).await;
    }
    let changes = w.run_changes();
    assert_eq!(changes.len(), 1, "{changes:?}");
    let started = &changes[0];
    assert_eq!(started.state, RunState::Started);
    assert_eq!(started.pull_request_id, "42");
    assert_eq!(started.source_commit, commit(10).as_str());
    assert_eq!(started.checks, ["fmt", "api-tests"]);
    let arn = w.sfn.executions().pop().expect("started").arn;
    assert_eq!(started.execution_arn.as_deref(), Some(arn.as_str()));
    assert_eq!(w.bus.events()[0].resources, [arn]);
}

#[tokio::test]
async fn a_decision_without_a_run_is_announced_refused() {
    use codecommit_gate::announce::RunState;
    let w = World::new();
    let mut pr = w.cc.pull_request_now(&w.pr).expect("pr");
    pr.destination_reference = "refs/heads/production".into();
    w.cc.put_pull_request(pr);
    assert_refused(&w.send(w.pr_event("pullRequestCreated", 10)).await);
    assert_eq!(w.run_states(), [RunState::Refused]);
}

#[tokio::test]
async fn a_bus_that_fails_changes_nothing_the_gate_does() {
    let w = World::new();
    w.bus.calls.fail_next(
        "events:PutEvents",
        PortError::Transient {
            call: "events:PutEvents",
            message: "ThrottlingException".into(),
        },
    );
    let outcome = w.send(w.pr_event("pullRequestCreated", 10)).await;
    assert!(
        matches!(outcome, StartOutcome::Started { .. }),
        "{outcome:?}"
    );
    assert_eq!(w.sfn.executions().len(), 1);
    assert!(
        w.run_changes().is_empty(),
        "the announcement was lost, nothing else"
    );
}
