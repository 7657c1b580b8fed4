//! Parse at the edge: every AWS sample payload, every documented quirk, every replayable example in `events/`.
//!
//! `tests/data/events/` holds unchanged copies of `shared/fixtures/events/` (AWS's own samples). Payloads with a
//! quirk the samples lack are derived from a sample by changing one field, right here in the test, so that the
//! change is visible next to the assertion.

use codecommit_gate::event::{
    self, CleanupReason, CommentEventKind, Event, EventError, GateTrigger, PullRequestStatus,
    RuleChange, RunStatus,
};
use proptest::prelude::*;
use serde_json::{Value, json};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

// ---------------------------------------------------------------------------------------------
// Helpers

fn fixtures_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/events")
}

fn examples_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("events")
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()))
}

/// The text of `tests/data/events/<stem>.json`.
fn fixture_text(stem: &str) -> String {
    read(&fixtures_dir().join(format!("{stem}.json")))
}

/// `tests/data/events/<stem>.json` as a JSON value, to derive variants from.
fn fixture_value(stem: &str) -> Value {
    serde_json::from_str(&fixture_text(stem)).expect("fixtures are valid JSON")
}

fn parse_fixture(stem: &str) -> Event {
    event::parse(&fixture_text(stem)).unwrap_or_else(|e| panic!("{stem}: {e}"))
}

fn parse_example(name: &str) -> Event {
    let path = examples_dir().join(name);
    event::parse(&read(&path)).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// `value` with `detail.<key>` set to `new`.
fn with_detail(mut value: Value, key: &str, new: Value) -> Value {
    value["detail"][key] = new;
    value
}

/// `value` without `detail.<key>`.
fn without_detail(mut value: Value, key: &str) -> Value {
    if let Some(detail) = value["detail"].as_object_mut() {
        detail.remove(key);
    }
    value
}

fn ok(value: Value) -> Event {
    event::parse_value(value).unwrap_or_else(|e| panic!("unexpected error: {e}"))
}

fn err(value: Value) -> EventError {
    match event::parse_value(value) {
        Ok(event) => panic!("expected an error, got {event:?}"),
        Err(e) => e,
    }
}

fn ignore_reason(event: &Event) -> &str {
    match event {
        Event::Ignore { reason } => reason,
        other => panic!("expected Ignore, got {other:?}"),
    }
}

fn run_finished(event: Event) -> event::RunFinished {
    match event {
        Event::RunFinished(run) => run,
        other => panic!("expected RunFinished, got {other:?}"),
    }
}

// ---------------------------------------------------------------------------------------------
// One snapshot per AWS sample. Review `tests/snapshots/events__*.snap` like code.

macro_rules! snapshot_fixtures {
    ($($test:ident => $stem:literal,)*) => {
        $(
            #[test]
            fn $test() {
                insta::assert_json_snapshot!($stem, parse_fixture($stem));
            }
        )*

        const SNAPSHOTTED: &[&str] = &[$($stem),*];
    };
}

snapshot_fixtures! {
    snapshot_codebuild_build_phase_change => "codebuild-build-phase-change",
    snapshot_codebuild_build_state_change_lambda_events => "codebuild-build-state-change-aws-lambda-events-fixture",
    snapshot_codebuild_build_state_change_succeeded => "codebuild-build-state-change-succeeded",
    snapshot_comment_on_pr_created => "codecommit-comment-on-pr-created",
    snapshot_comment_on_pr_updated => "codecommit-comment-on-pr-updated",
    snapshot_pr_approval_rule_created => "codecommit-pr-approval-rule-created",
    snapshot_pr_approval_rule_deleted => "codecommit-pr-approval-rule-deleted",
    snapshot_pr_approval_rule_overridden_override => "codecommit-pr-approval-rule-overridden-override",
    snapshot_pr_approval_rule_overridden_revoke => "codecommit-pr-approval-rule-overridden-revoke",
    snapshot_pr_approval_rule_updated => "codecommit-pr-approval-rule-updated",
    snapshot_pr_approval_state_changed_approve => "codecommit-pr-approval-state-changed-approve",
    snapshot_pr_approval_state_changed_revoke => "codecommit-pr-approval-state-changed-revoke",
    snapshot_pr_created => "codecommit-pr-created",
    snapshot_pr_merge_status_updated_merged => "codecommit-pr-merge-status-updated-merged",
    snapshot_pr_source_branch_updated => "codecommit-pr-source-branch-updated",
    snapshot_pr_status_changed_closed => "codecommit-pr-status-changed-closed",
    snapshot_reference_created => "codecommit-reference-created",
    snapshot_reference_deleted => "codecommit-reference-deleted",
    snapshot_reference_updated_merge => "codecommit-reference-updated-merge",
    snapshot_unreferenced_merge_commit_created => "codecommit-unreferenced-merge-commit-created",
    snapshot_sfn_execution_aborted => "sfn-execution-aborted",
    snapshot_sfn_execution_failed => "sfn-execution-failed",
    snapshot_sfn_execution_started => "sfn-execution-started",
    snapshot_sfn_execution_succeeded => "sfn-execution-succeeded",
    snapshot_sfn_execution_timed_out => "sfn-execution-timed-out",
}

#[test]
fn every_fixture_has_a_snapshot_test() {
    let on_disk: BTreeSet<String> = std::fs::read_dir(fixtures_dir())
        .expect("fixtures dir")
        .map(|entry| entry.expect("dir entry").path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "json"))
        .filter_map(|path| Some(path.file_stem()?.to_str()?.to_owned()))
        .collect();
    let tested: BTreeSet<String> = SNAPSHOTTED.iter().map(|s| (*s).to_owned()).collect();
    assert_eq!(
        on_disk, tested,
        "add a snapshot_fixtures! line for each new fixture"
    );
}

#[test]
fn parse_and_parse_value_agree_on_every_fixture() {
    for stem in SNAPSHOTTED {
        assert_eq!(
            event::parse(&fixture_text(stem)),
            event::parse_value(fixture_value(stem)),
            "{stem}"
        );
    }
}

// ---------------------------------------------------------------------------------------------
// Dispatch: every PR `detail.event` kind, comments, executions, foreign events.

#[test]
fn fixture_actions() {
    let expected = [
        ("codebuild-build-phase-change", "ignore"),
        (
            "codebuild-build-state-change-aws-lambda-events-fixture",
            "ignore",
        ),
        ("codebuild-build-state-change-succeeded", "ignore"),
        ("codecommit-comment-on-pr-created", "command"),
        ("codecommit-comment-on-pr-updated", "ignore"),
        ("codecommit-pr-approval-rule-created", "ignore"),
        ("codecommit-pr-approval-rule-deleted", "rule-changed"),
        ("codecommit-pr-approval-rule-overridden-override", "bypass"),
        ("codecommit-pr-approval-rule-overridden-revoke", "ignore"),
        ("codecommit-pr-approval-rule-updated", "rule-changed"),
        ("codecommit-pr-approval-state-changed-approve", "ignore"),
        ("codecommit-pr-approval-state-changed-revoke", "ignore"),
        ("codecommit-pr-created", "gate"),
        ("codecommit-pr-merge-status-updated-merged", "cleanup"),
        ("codecommit-pr-source-branch-updated", "gate"),
        ("codecommit-pr-status-changed-closed", "cleanup"),
        ("codecommit-reference-created", "branch-moved"),
        ("codecommit-reference-deleted", "ignore"),
        ("codecommit-reference-updated-merge", "branch-moved"),
        ("codecommit-unreferenced-merge-commit-created", "ignore"),
        ("sfn-execution-aborted", "run-finished"),
        ("sfn-execution-failed", "run-finished"),
        ("sfn-execution-started", "ignore"),
        ("sfn-execution-succeeded", "run-finished"),
        ("sfn-execution-timed-out", "run-finished"),
    ];
    for (stem, action) in expected {
        assert_eq!(parse_fixture(stem).action(), action, "{stem}");
    }
}

#[test]
fn created_and_source_updated_gate_the_revision() {
    let Event::Gate {
        trigger,
        pull_request,
    } = parse_fixture("codecommit-pr-created")
    else {
        panic!("expected Gate");
    };
    assert_eq!(trigger, GateTrigger::Created);
    assert_eq!(pull_request.repository.as_str(), "MyDemoRepo");
    assert_eq!(pull_request.id.as_str(), "1");
    assert_eq!(pull_request.source_commit.as_str(), "2774290EXAMPLE");
    assert_eq!(pull_request.destination_commit.as_str(), "12241970EXAMPLE");
    assert_eq!(
        pull_request.revision_id.as_ref().map(|r| r.as_str()),
        Some("bdc0cb9bEXAMPLE")
    );
    assert_eq!(pull_request.source_reference, "refs/heads/test-branch");
    assert_eq!(pull_request.source_branch(), "test-branch");
    assert_eq!(pull_request.destination_branch(), "main");
    assert_eq!(pull_request.status, PullRequestStatus::Open);
    assert_eq!(pull_request.region.as_deref(), Some("us-east-2"));
    assert_eq!(pull_request.account.as_deref(), Some("123456789012"));

    let Event::Gate { trigger, .. } = parse_fixture("codecommit-pr-source-branch-updated") else {
        panic!("expected Gate");
    };
    assert_eq!(trigger, GateTrigger::SourceUpdated);
}

#[test]
fn closed_without_merge_cleans_up() {
    let Event::Cleanup {
        reason,
        pull_request,
    } = parse_fixture("codecommit-pr-status-changed-closed")
    else {
        panic!("expected Cleanup");
    };
    assert_eq!(reason, CleanupReason::Closed);
    assert_eq!(pull_request.status, PullRequestStatus::Closed);
    assert!(!pull_request.is_merged);
}

#[test]
fn merged_cleans_up_with_merge_option() {
    let Event::Cleanup {
        reason,
        pull_request,
    } = parse_fixture("codecommit-pr-merge-status-updated-merged")
    else {
        panic!("expected Cleanup");
    };
    assert_eq!(
        reason,
        CleanupReason::Merged {
            merge_option: Some("FAST_FORWARD_MERGE".to_owned())
        }
    );
    assert!(pull_request.is_merged);

    let no_option = without_detail(
        fixture_value("codecommit-pr-merge-status-updated-merged"),
        "mergeOption",
    );
    let Event::Cleanup { reason, .. } = ok(no_option) else {
        panic!("expected Cleanup");
    };
    assert_eq!(reason, CleanupReason::Merged { merge_option: None });
}

#[test]
fn status_changed_without_close_is_ignored() {
    let closed = fixture_value("codecommit-pr-status-changed-closed");
    let open = with_detail(closed.clone(), "pullRequestStatus", json!("Open"));
    assert!(ignore_reason(&ok(open)).contains("still Open"));
    let merged = with_detail(closed, "isMerged", json!("True"));
    assert!(ignore_reason(&ok(merged)).contains("pullRequestMergeStatusUpdated"));
}

#[test]
fn merge_status_updated_without_merge_is_ignored() {
    let value = with_detail(
        fixture_value("codecommit-pr-merge-status-updated-merged"),
        "isMerged",
        json!("False"),
    );
    assert!(ignore_reason(&ok(value)).contains("not merged"));
}

#[test]
fn override_is_a_bypass_by_the_caller() {
    let Event::Bypass {
        pull_request,
        overridden_by,
    } = parse_fixture("codecommit-pr-approval-rule-overridden-override")
    else {
        panic!("expected Bypass");
    };
    assert_eq!(overridden_by, "arn:aws:iam::123456789012:user/Mary_Major");
    assert_eq!(
        pull_request.author,
        "arn:aws:iam::123456789012:user/Li_Juan"
    );
    assert_eq!(pull_request.id.as_str(), "227");
}

#[test]
fn override_revoke_and_unknown_override_status_are_ignored() {
    let revoke = parse_fixture("codecommit-pr-approval-rule-overridden-revoke");
    assert!(ignore_reason(&revoke).contains("revoked"));
    let odd = with_detail(
        fixture_value("codecommit-pr-approval-rule-overridden-override"),
        "overrideStatus",
        json!("SOMETHING_NEW"),
    );
    assert!(ignore_reason(&ok(odd)).contains("'SOMETHING_NEW'"));
}

#[test]
fn override_without_override_status_names_the_field() {
    let value = without_detail(
        fixture_value("codecommit-pr-approval-rule-overridden-override"),
        "overrideStatus",
    );
    assert_eq!(
        err(value).to_string(),
        "missing field `detail.overrideStatus`"
    );
}

#[test]
fn approval_rules_and_states_are_ignored_with_a_reason_each() {
    let event = parse_fixture("codecommit-pr-approval-rule-created");
    assert!(ignore_reason(&event).starts_with("approval rule created"));
    for (stem, status) in [
        ("codecommit-pr-approval-state-changed-approve", "APPROVE"),
        ("codecommit-pr-approval-state-changed-revoke", "REVOKE"),
    ] {
        let event = parse_fixture(stem);
        let reason = ignore_reason(&event);
        assert!(reason.contains("the gate's own output"), "{stem}: {reason}");
        assert!(reason.contains(status), "{stem}: {reason}");
    }
}

#[test]
fn a_deleted_or_edited_approval_rule_names_the_rule_and_who_changed_it() {
    for (stem, change) in [
        ("codecommit-pr-approval-rule-deleted", RuleChange::Deleted),
        ("codecommit-pr-approval-rule-updated", RuleChange::Updated),
    ] {
        let Event::RuleChanged {
            pull_request,
            rule,
            change: got,
        } = parse_fixture(stem)
        else {
            panic!("{stem}: expected RuleChanged");
        };
        assert_eq!(
            (rule.as_str(), got),
            ("1-approver-needed", change),
            "{stem}"
        );
        assert_eq!(
            pull_request.caller_arn,
            "arn:aws:iam::123456789012:user/Mary_Major"
        );
    }
    let nameless = without_detail(
        fixture_value("codecommit-pr-approval-rule-deleted"),
        "approvalRuleName",
    );
    assert_eq!(err(nameless).field(), Some("detail.approvalRuleName"));
}

#[test]
fn a_branch_update_is_a_moved_branch_and_other_reference_events_are_ignored() {
    let Event::BranchMoved(moved) = parse_fixture("codecommit-reference-updated-merge") else {
        panic!("expected BranchMoved");
    };
    assert_eq!(moved.repository.as_str(), "MyDemoRepo");
    assert_eq!(moved.reference, "refs/heads/myBranch");
    assert_eq!(moved.branch(), "myBranch");
    assert_eq!(moved.commit.as_str(), "7f0103fMERGE");
    assert_eq!(
        moved.old_commit.as_ref().map(|c| c.as_str()),
        Some("3e5983DESTINATION")
    );
    // A plain push (as captured by atheiman, aws-reference-2 §1): no merge fields, a caller.
    let push = json!({
        "detail-type": "CodeCommit Repository State Change",
        "source": "aws.codecommit",
        "detail": {
            "callerUserArn": "arn:aws:iam::111111111111:user/admin",
            "commitId": "f485fcc4f485fcc4f485fcc4f485fcc4f485fcc4",
            "event": "referenceUpdated",
            "oldCommitId": "a3996984a3996984a3996984a3996984a3996984",
            "referenceFullName": "refs/heads/main",
            "referenceName": "main",
            "referenceType": "branch",
            "repositoryId": "12345678-1234-5678-abcd-12345678abcd",
            "repositoryName": "MyDemoRepo"
        }
    });
    let Event::BranchMoved(moved) = ok(push.clone()) else {
        panic!("expected BranchMoved");
    };
    assert_eq!(
        moved.caller_arn.as_deref(),
        Some("arn:aws:iam::111111111111:user/admin")
    );
    // Only the short name: the full one is rebuilt.
    let short = without_detail(push.clone(), "referenceFullName");
    let Event::BranchMoved(moved) = ok(short) else {
        panic!("expected BranchMoved");
    };
    assert_eq!(moved.reference, "refs/heads/main");
    // Tags move no branch.
    let tag = with_detail(
        with_detail(push.clone(), "referenceType", json!("tag")),
        "referenceFullName",
        json!("refs/tags/v1"),
    );
    assert!(ignore_reason(&ok(tag)).contains("not a branch"));
    let no_commit = without_detail(push, "commitId");
    assert_eq!(err(no_commit).field(), Some("detail.commitId"));
    // A new branch is a branch that moved from nothing (an environment's first release).
    let Event::BranchMoved(created) = parse_fixture("codecommit-reference-created") else {
        panic!("expected BranchMoved");
    };
    assert_eq!(created.branch(), "myBranch");
    assert_eq!(created.old_commit, None);
    for stem in [
        "codecommit-reference-deleted",
        "codecommit-unreferenced-merge-commit-created",
    ] {
        assert!(!ignore_reason(&parse_fixture(stem)).is_empty(), "{stem}");
    }
}

#[test]
fn ignored_pr_events_need_no_pull_request_fields() {
    // An event the gate ignores is never an error, even if it lacks what a gated event needs.
    let value = without_detail(
        fixture_value("codecommit-pr-approval-state-changed-approve"),
        "sourceCommit",
    );
    assert_eq!(ok(value).action(), "ignore");
}

#[test]
fn doc_typo_detail_type_is_accepted() {
    let mut value = fixture_value("codecommit-pr-merge-status-updated-merged");
    value["detail-type"] = json!("CodeCommit PullRequest State Change");
    assert_eq!(
        ok(value),
        parse_fixture("codecommit-pr-merge-status-updated-merged")
    );
}

#[test]
fn unknown_detail_type_is_ignored_naming_it() {
    let event = parse_fixture("codebuild-build-state-change-succeeded");
    assert_eq!(
        ignore_reason(&event),
        "unknown detail-type 'CodeBuild Build State Change' (source 'aws.codebuild')"
    );
    let approval = json!({
        "version": "0",
        "detail-type": "CodeCommit Approval Rule Template Change",
        "source": "aws.codecommit",
        "detail": {"event": "templateCreated"}
    });
    assert!(ignore_reason(&ok(approval)).contains("'CodeCommit Approval Rule Template Change'"));
    // Unknown detail-types are ignored whatever their detail looks like, even without one.
    let bare = json!({"detail-type": "Health Event", "source": "aws.health"});
    assert!(ignore_reason(&ok(bare)).contains("'Health Event'"));
    // A scheduled event is the clean-up sweep only from EventBridge itself.
    let forged = json!({"detail-type": "Scheduled Event", "source": "my.app"});
    assert!(ignore_reason(&ok(forged)).contains("'Scheduled Event'"));
    let sweep = json!({"detail-type": "Scheduled Event", "source": "aws.events", "detail": {}});
    assert_eq!(ok(sweep), Event::Sweep);
}

#[test]
fn unknown_detail_event_is_ignored_naming_it() {
    let value = with_detail(
        fixture_value("codecommit-pr-created"),
        "event",
        json!("pullRequestReopened"),
    );
    assert_eq!(
        ignore_reason(&ok(value)),
        "unknown pull request event 'pullRequestReopened'"
    );
    let comment = with_detail(
        fixture_value("codecommit-comment-on-pr-created"),
        "event",
        json!("commentOnPullRequestDeleted"),
    );
    assert!(ignore_reason(&ok(comment)).contains("'commentOnPullRequestDeleted'"));
}

// ---------------------------------------------------------------------------------------------
// Quirks (aws-reference.md §11)

#[test]
fn is_merged_is_a_capitalised_string() {
    assert!(
        !parse_fixture("codecommit-pr-created")
            .pull_request()
            .expect("pr")
            .is_merged
    );
    assert!(
        parse_fixture("codecommit-pr-merge-status-updated-merged")
            .pull_request()
            .expect("pr")
            .is_merged
    );
    let yes = with_detail(
        fixture_value("codecommit-pr-created"),
        "isMerged",
        json!("yes"),
    );
    assert_eq!(
        err(yes).to_string(),
        r#"`detail.isMerged` must be "True" or "False", got "yes""#
    );
    let boolean = with_detail(
        fixture_value("codecommit-pr-created"),
        "isMerged",
        json!(false),
    );
    let e = err(boolean);
    assert_eq!(e.field(), Some("detail.isMerged"));
    assert!(e.to_string().contains("wrong type"), "{e}");
}

#[test]
fn pull_request_status_is_open_or_closed() {
    let value = with_detail(
        fixture_value("codecommit-pr-created"),
        "pullRequestStatus",
        json!("Merged"),
    );
    assert_eq!(
        err(value).to_string(),
        r#"`detail.pullRequestStatus` must be "Open" or "Closed", got "Merged""#
    );
}

#[test]
fn missing_description_is_none() {
    let value = without_detail(fixture_value("codecommit-pr-created"), "description");
    let event = ok(value);
    assert_eq!(event.pull_request().expect("pr").description, None);
    assert_eq!(
        parse_fixture("codecommit-pr-created")
            .pull_request()
            .expect("pr")
            .description
            .as_deref(),
        Some("An example description.")
    );
}

#[test]
fn author_need_not_be_an_arn() {
    for author in [
        "AROAJBAZUR7WF5N7MZUAS:cm-hamada.koji",
        "AIDAI2Y6GR62QVEXAMPLE",
    ] {
        let value = with_detail(
            fixture_value("codecommit-pr-created"),
            "author",
            json!(author),
        );
        assert_eq!(ok(value).pull_request().expect("pr").author, author);
    }
}

#[test]
fn malformed_dates_are_kept_verbatim() {
    let event = parse_fixture("codecommit-pr-created");
    let pr = event.pull_request().expect("pr");
    assert_eq!(pr.creation_date, "Tue Feb 9 2019 10:18:42 PDT ");
    assert_eq!(pr.last_modified_date, "Tue Feb 9 2019 10:18:42 PDT");
}

#[test]
fn repository_names_array_versus_repository_name_string() {
    let event = parse_fixture("codecommit-pr-created");
    assert_eq!(
        event.pull_request().expect("pr").repository.as_str(),
        "MyDemoRepo"
    );
    let Event::Command(comment) = parse_fixture("codecommit-comment-on-pr-created") else {
        panic!("expected Command");
    };
    assert_eq!(comment.repository.as_str(), "MyDemoRepo");

    let empty = with_detail(
        fixture_value("codecommit-pr-created"),
        "repositoryNames",
        json!([]),
    );
    let e = err(empty);
    assert_eq!(e.field(), Some("detail.repositoryNames"));
    assert_eq!(
        e.to_string(),
        "`detail.repositoryNames` must name at least one repository, got []"
    );
    // A PR event spelled like a comment event is missing its array.
    let singular = with_detail(
        without_detail(fixture_value("codecommit-pr-created"), "repositoryNames"),
        "repositoryName",
        json!("MyDemoRepo"),
    );
    assert_eq!(
        err(singular).to_string(),
        "missing field `detail.repositoryNames`"
    );
    let string = with_detail(
        fixture_value("codecommit-pr-created"),
        "repositoryNames",
        json!("MyDemoRepo"),
    );
    assert_eq!(err(string).field(), Some("detail.repositoryNames"));
}

#[test]
fn comment_created_is_a_command() {
    let Event::Command(comment) = parse_fixture("codecommit-comment-on-pr-created") else {
        panic!("expected Command");
    };
    assert_eq!(comment.kind, CommentEventKind::Created);
    assert_eq!(comment.pull_request_id.as_str(), "201");
    assert_eq!(comment.comment_id.as_str(), "463bEXAMPLE...");
    assert_eq!(
        comment.in_reply_to.as_ref().map(|c| c.as_str()),
        Some("695bEXAMPLE...")
    );
    assert_eq!(comment.before_commit.as_str(), "3c5dEXAMPLE");
    assert_eq!(comment.after_commit.as_str(), "f4d5EXAMPLE");
    assert_eq!(
        comment.caller_arn,
        "arn:aws:sts::123456789012:federated-user/Saanvi_Sarkar"
    );
    assert_eq!(comment.display_name.as_deref(), Some("Saanvi Sarkar"));
    assert_eq!(comment.email.as_deref(), Some("saanvi_sarkar@example.com"));

    // Without session tags and not a reply.
    let mut value = fixture_value("codecommit-comment-on-pr-created");
    for key in ["displayName", "emailAddress", "inReplyTo"] {
        value = without_detail(value, key);
    }
    let Event::Command(comment) = ok(value) else {
        panic!("expected Command");
    };
    assert_eq!(comment.display_name, None);
    assert_eq!(comment.email, None);
    assert_eq!(comment.in_reply_to, None);
}

#[test]
fn edited_comments_are_not_commands() {
    let event = parse_fixture("codecommit-comment-on-pr-updated");
    assert_eq!(ignore_reason(&event), "edited comments are not commands");
}

#[test]
fn running_and_pending_redrive_executions_are_ignored() {
    let started = parse_fixture("sfn-execution-started");
    assert_eq!(ignore_reason(&started), "execution still RUNNING");
    let redrive = with_detail(
        fixture_value("sfn-execution-failed"),
        "status",
        json!("PENDING_REDRIVE"),
    );
    assert!(ignore_reason(&ok(redrive)).contains("PENDING_REDRIVE"));
    let unknown = with_detail(
        fixture_value("sfn-execution-failed"),
        "status",
        json!("PAUSED"),
    );
    assert_eq!(
        ignore_reason(&ok(unknown)),
        "unknown execution status 'PAUSED'"
    );
}

#[test]
fn terminal_statuses_map_to_run_status() {
    for (stem, status) in [
        ("sfn-execution-succeeded", RunStatus::Succeeded),
        ("sfn-execution-failed", RunStatus::Failed),
        ("sfn-execution-timed-out", RunStatus::TimedOut),
        ("sfn-execution-aborted", RunStatus::Aborted),
    ] {
        let run = run_finished(parse_fixture(stem));
        assert_eq!(run.status, status, "{stem}");
        assert_eq!(
            run.status.as_aws_str(),
            fixture_value(stem)["detail"]["status"]
        );
    }
}

#[test]
fn double_encoded_input_and_output_are_decoded() {
    let run = run_finished(parse_fixture("sfn-execution-succeeded"));
    assert_eq!(run.input, Some(json!({})));
    assert!(run.input_included);
    assert_eq!(run.output, Some(json!("Hello World!")));
    assert!(run.output_included);
    assert_eq!(run.start_date_ms, 1_547_148_840_101);
    assert_eq!(run.stop_date_ms, Some(1_547_148_840_122));
    assert!(run.succeeded());
}

#[test]
fn null_output_and_null_stop_date() {
    let run = run_finished(parse_fixture("sfn-execution-failed"));
    assert_eq!(run.output, None);
    assert!(!run.output_included);
    assert_eq!(run.stop_date_ms, Some(1_551_225_151_881));
    // The doc samples have no error/cause even on FAILED.
    assert_eq!(run.error, None);
    assert_eq!(run.cause, None);

    let no_stop = with_detail(
        fixture_value("sfn-execution-aborted"),
        "stopDate",
        Value::Null,
    );
    assert_eq!(run_finished(ok(no_stop)).stop_date_ms, None);
    let absent = without_detail(
        without_detail(fixture_value("sfn-execution-aborted"), "output"),
        "outputDetails",
    );
    let run = run_finished(ok(absent));
    assert_eq!((run.output, run.output_included), (None, false));
}

#[test]
fn error_and_cause_are_kept_when_present() {
    let run = run_finished(parse_example("run-failed.json"));
    assert_eq!(run.status, RunStatus::Failed);
    // A stage whose results outgrow the state's size limit: an error no Catch can take.
    assert_eq!(run.error.as_deref(), Some("States.DataLimitExceeded"));
    assert!(
        run.cause
            .as_deref()
            .is_some_and(|c| c.starts_with("The state/task 'Run stage'")),
        "{:?}",
        run.cause
    );
    assert_eq!(run.output, None);
}

#[test]
fn excluded_input_is_reported() {
    let mut value = with_detail(
        fixture_value("sfn-execution-succeeded"),
        "input",
        Value::Null,
    );
    value["detail"]["inputDetails"]["included"] = json!(false);
    let run = run_finished(ok(value));
    assert_eq!(run.input, None);
    assert!(!run.input_included);
    // Without inputDetails, "included" means "present".
    let no_details = without_detail(fixture_value("sfn-execution-succeeded"), "inputDetails");
    assert!(run_finished(ok(no_details)).input_included);
}

#[test]
fn double_encoded_string_that_is_not_json_names_the_field() {
    for key in ["input", "output"] {
        let value = with_detail(
            fixture_value("sfn-execution-succeeded"),
            key,
            json!("{not json"),
        );
        let e = err(value);
        assert_eq!(e.field(), Some(format!("detail.{key}").as_str()));
        assert!(e.to_string().contains("string containing JSON"), "{e}");
    }
}

#[test]
fn unknown_extra_keys_are_tolerated() {
    let mut pr = fixture_value("codecommit-pr-created");
    pr["replay-name"] = json!("replay-1");
    pr["detail"]["eventMetadata"] = json!({"anything": [1, 2, 3]});
    pr["detail"]["approvalStatus"] = json!("APPROVE");
    assert_eq!(ok(pr), parse_fixture("codecommit-pr-created"));

    let mut run = fixture_value("sfn-execution-succeeded");
    for (key, value) in [
        ("redriveCount", json!(0)),
        ("redriveStatus", json!("NOT_REDRIVABLE")),
        (
            "stateMachineVersionArn",
            json!("arn:aws:states:us-east-1:012345678912:stateMachine:state-machine:3"),
        ),
        ("traceHeader", Value::Null),
    ] {
        run["detail"][key] = value;
    }
    run["detail"]["inputDetails"]["truncated"] = json!(false);
    assert_eq!(ok(run), parse_fixture("sfn-execution-succeeded"));
}

#[test]
fn old_and_odd_envelopes() {
    // The envelope's optional keys may be missing; `source` is not needed to dispatch.
    let mut value = fixture_value("codecommit-pr-created");
    for key in [
        "version",
        "id",
        "source",
        "account",
        "time",
        "region",
        "resources",
    ] {
        value.as_object_mut().expect("object").remove(key);
    }
    let event = ok(value);
    assert_eq!(event.action(), "gate");
    assert_eq!(event.pull_request().expect("pr").region, None);
}

/// `aws_lambda_events`' envelope types `version`, `id`, `time` (ISO-8601) and `resources`, and
/// requires `source`; the gate reads none of them, so hand-written replays that get them wrong
/// (or leave them out) keep their event, the same one as the untouched sample.
#[test]
fn envelope_fields_the_gate_never_reads_may_have_any_shape() {
    for stem in [
        "codecommit-pr-created",
        "codecommit-comment-on-pr-created",
        "codecommit-reference-updated-merge",
        "sfn-execution-succeeded",
    ] {
        let expected = parse_fixture(stem);
        for (key, odd) in [
            ("time", json!("Tue Oct 10 21:32:51 UTC 2023")),
            ("time", json!(1_700_000_000)),
            ("version", json!(0)),
            ("id", json!({"uuid": "x"})),
            (
                "resources",
                json!("arn:aws:codecommit:us-east-2:123456789012:MyDemoRepo"),
            ),
            ("resources", json!([7])),
            ("source", Value::Null),
        ] {
            let mut value = fixture_value(stem);
            value[key] = odd.clone();
            assert_eq!(ok(value), expected, "{stem} with {key}: {odd}");
        }
        let mut everything_odd = fixture_value(stem);
        for (key, odd) in [
            ("time", json!("now")),
            ("version", json!(0)),
            ("id", json!(1)),
            ("resources", json!({})),
        ] {
            everything_odd[key] = odd;
        }
        everything_odd
            .as_object_mut()
            .expect("object")
            .remove("source");
        assert_eq!(ok(everything_odd), expected, "{stem}");
    }
}

#[test]
fn envelope_fields_the_gate_reads_keep_their_type_errors() {
    // Checked before dispatch, so even an event the gate would ignore is refused.
    for (key, odd) in [
        ("region", json!(5)),
        ("account", json!(123_456_789_012_i64)),
        ("source", json!(["aws.codecommit"])),
    ] {
        for stem in ["codecommit-pr-created", "codebuild-build-phase-change"] {
            let mut value = fixture_value(stem);
            value[key] = odd.clone();
            let e = err(value);
            assert_eq!(e.field(), Some(key), "{stem}: {e}");
            assert!(e.to_string().contains("has the wrong type"), "{stem}: {e}");
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Errors: malformed JSON, missing or invalid required fields, each naming the field.

#[test]
fn malformed_json_is_an_error_with_position() {
    let text = fixture_text("codecommit-pr-created");
    let truncated = &text[..text.len() / 2];
    match event::parse(truncated) {
        Err(EventError::MalformedJson { line, column, .. }) => {
            assert!(line > 1 && column > 0, "line {line} column {column}");
        }
        other => panic!("expected MalformedJson, got {other:?}"),
    }
    assert!(matches!(
        event::parse(""),
        Err(EventError::MalformedJson { .. })
    ));
}

#[test]
fn missing_source_commit_names_detail_source_commit() {
    let value = without_detail(fixture_value("codecommit-pr-created"), "sourceCommit");
    let e = err(value);
    assert_eq!(e.field(), Some("detail.sourceCommit"));
    assert_eq!(e.to_string(), "missing field `detail.sourceCommit`");
    assert!(matches!(e, EventError::MissingField { .. }));
}

/// Removing any one of these keys from `sample` must fail naming `detail.<key>`.
fn assert_each_required(sample: Value, keys: &[&str]) {
    for key in keys {
        let e = err(without_detail(sample.clone(), key));
        assert_eq!(e.to_string(), format!("missing field `detail.{key}`"));
    }
}

#[test]
fn every_required_field_is_named_when_missing() {
    let pr_fields = [
        "event",
        "pullRequestId",
        "repositoryNames",
        "title",
        "author",
        "callerUserArn",
        "creationDate",
        "lastModifiedDate",
        "sourceReference",
        "destinationReference",
        "sourceCommit",
        "destinationCommit",
        "pullRequestStatus",
        "isMerged",
    ];
    for stem in [
        "codecommit-pr-created",
        "codecommit-pr-source-branch-updated",
        "codecommit-pr-status-changed-closed",
        "codecommit-pr-merge-status-updated-merged",
        "codecommit-pr-approval-rule-overridden-override",
    ] {
        assert_each_required(fixture_value(stem), &pr_fields);
    }
    assert_each_required(
        fixture_value("codecommit-comment-on-pr-created"),
        &[
            "event",
            "repositoryName",
            "pullRequestId",
            "commentId",
            "beforeCommitId",
            "afterCommitId",
            "callerUserArn",
        ],
    );
    for stem in [
        "sfn-execution-succeeded",
        "sfn-execution-failed",
        "sfn-execution-timed-out",
        "sfn-execution-aborted",
    ] {
        assert_each_required(
            fixture_value(stem),
            &[
                "status",
                "executionArn",
                "stateMachineArn",
                "name",
                "startDate",
            ],
        );
    }
}

#[test]
fn optional_fields_may_be_missing() {
    for (stem, key) in [
        ("codecommit-pr-created", "description"),
        ("codecommit-pr-created", "revisionId"),
        ("codecommit-pr-created", "notificationBody"),
        ("codecommit-comment-on-pr-created", "inReplyTo"),
        ("codecommit-comment-on-pr-created", "repositoryId"),
        ("sfn-execution-succeeded", "stopDate"),
        ("sfn-execution-succeeded", "input"),
        ("sfn-execution-succeeded", "output"),
    ] {
        let event = ok(without_detail(fixture_value(stem), key));
        assert_eq!(
            event.action(),
            parse_fixture(stem).action(),
            "{stem} without {key}"
        );
    }
}

#[test]
fn missing_envelope_fields_are_named() {
    let mut value = fixture_value("codecommit-pr-created");
    value.as_object_mut().expect("object").remove("detail-type");
    assert_eq!(err(value).to_string(), "missing field `detail-type`");

    let mut value = fixture_value("codecommit-pr-created");
    value.as_object_mut().expect("object").remove("detail");
    assert_eq!(err(value).to_string(), "missing field `detail`");

    let mut value = fixture_value("sfn-execution-failed");
    value["detail"] = json!("not an object");
    assert_eq!(
        err(value).to_string(),
        "`detail` must be a JSON object, got a string"
    );
}

#[test]
fn codestar_notifications_payload_is_an_error_with_a_hint() {
    let mut value = fixture_value("codecommit-pr-created");
    let object = value.as_object_mut().expect("object");
    let detail_type = object.remove("detail-type").expect("has detail-type");
    object.insert("detailType".to_owned(), detail_type);
    object.insert(
        "notificationRuleArn".to_owned(),
        json!("arn:aws:codestar-notifications:us-east-2:123456789012:notificationrule/EXAMPLE"),
    );
    let e = err(value);
    assert_eq!(e.field(), Some("detail-type"));
    assert!(e.to_string().contains("CodeStar Notifications"), "{e}");
}

/// Every error message a human may read, for review.
#[test]
fn error_messages() {
    let created = fixture_value("codecommit-pr-created");
    let mut cases: Vec<(&str, Result<Event, EventError>)> = vec![
        ("empty text", event::parse("")),
        ("truncated", event::parse("{\"detail-type\": \"CodeCommit")),
        ("trailing garbage", event::parse("{} x")),
        ("not an object", event::parse("[]")),
        ("no detail-type", event::parse("{\"detail\": {}}")),
        (
            "detail-type is a number",
            event::parse("{\"detail-type\": 7}"),
        ),
        (
            "missing sourceCommit",
            event::parse_value(without_detail(created.clone(), "sourceCommit")),
        ),
        (
            "null sourceCommit",
            event::parse_value(with_detail(created.clone(), "sourceCommit", Value::Null)),
        ),
        (
            "blank sourceCommit",
            event::parse_value(with_detail(created.clone(), "sourceCommit", json!(""))),
        ),
        (
            "numeric pullRequestId",
            event::parse_value(with_detail(created.clone(), "pullRequestId", json!(227))),
        ),
        (
            "isMerged yes",
            event::parse_value(with_detail(created.clone(), "isMerged", json!("yes"))),
        ),
        (
            "isMerged boolean",
            event::parse_value(with_detail(created.clone(), "isMerged", json!(true))),
        ),
        (
            "empty repositoryNames",
            event::parse_value(with_detail(created.clone(), "repositoryNames", json!([]))),
        ),
        (
            "numeric repository name",
            event::parse_value(with_detail(
                created.clone(),
                "repositoryNames",
                json!(["MyDemoRepo", 7]),
            )),
        ),
        (
            "pullRequestId as an object",
            event::parse_value(with_detail(
                created.clone(),
                "pullRequestId",
                json!({"value": "227"}),
            )),
        ),
        (
            "blank repository name",
            event::parse_value(with_detail(created, "repositoryNames", json!([" "]))),
        ),
        (
            "startDate as text",
            event::parse_value(with_detail(
                fixture_value("sfn-execution-failed"),
                "startDate",
                json!("2019-02-26T19:42:21Z"),
            )),
        ),
        (
            "output not JSON",
            event::parse_value(with_detail(
                fixture_value("sfn-execution-succeeded"),
                "output",
                json!("Hello World!"),
            )),
        ),
        (
            "inputDetails.included as text",
            event::parse_value(with_detail(
                fixture_value("sfn-execution-succeeded"),
                "inputDetails",
                json!({"included": "yes"}),
            )),
        ),
    ];
    let rendered: Vec<String> = cases
        .drain(..)
        .map(|(case, result)| match result {
            Ok(event) => format!("{case}: UNEXPECTED OK {event:?}"),
            Err(e) => format!("{case}: {e}"),
        })
        .collect();
    insta::assert_snapshot!("error_messages", rendered.join("\n"));
}

// ---------------------------------------------------------------------------------------------
// The replayable examples in events/ (for `cargo lambda invoke --data-file events/...`).

#[test]
fn replayable_examples_parse_to_the_expected_action() {
    let examples = [
        ("pr-created.json", "gate"),
        ("pr-source-updated.json", "gate"),
        ("pr-closed.json", "cleanup"),
        ("pr-merged.json", "cleanup"),
        ("pr-comment.json", "command"),
        ("run-succeeded.json", "run-finished"),
        ("run-failed.json", "run-finished"),
        ("scheduled-sweep.json", "sweep"),
        ("destination-pushed.json", "branch-moved"),
        ("release-pushed.json", "branch-moved"),
        ("rule-deleted.json", "rule-changed"),
    ];
    for (name, action) in examples {
        assert_eq!(parse_example(name).action(), action, "{name}");
    }
    let on_disk: BTreeSet<String> = std::fs::read_dir(examples_dir())
        .expect("events dir")
        .filter_map(|entry| entry.ok()?.file_name().into_string().ok())
        .filter(|name| name.ends_with(".json"))
        // gate-approve's function URL request is no EventBridge event (tests/release_approval.rs).
        .filter(|name| name != "approve-url.json")
        .collect();
    let listed: BTreeSet<String> = examples.iter().map(|(n, _)| (*n).to_owned()).collect();
    assert_eq!(on_disk, listed, "list every example in events/ here");
}

#[test]
fn replayable_examples_tell_one_consistent_story() {
    let Event::Gate {
        trigger: GateTrigger::Created,
        pull_request: created,
    } = parse_example("pr-created.json")
    else {
        panic!("expected Gate created");
    };
    let Event::Gate {
        trigger: GateTrigger::SourceUpdated,
        pull_request: updated,
    } = parse_example("pr-source-updated.json")
    else {
        panic!("expected Gate source-updated");
    };
    assert_eq!(created.repository.as_str(), "my-repo");
    assert_eq!(created.id, updated.id);
    assert_ne!(created.source_commit, updated.source_commit);
    assert_ne!(created.revision_id, updated.revision_id);
    assert_eq!(created.source_branch(), "feature/faster-build");
    for pr in [&created, &updated] {
        assert_eq!(pr.source_commit.as_str().len(), 40);
        assert_eq!(pr.revision_id.as_ref().map(|r| r.as_str().len()), Some(64));
        assert_eq!(pr.account.as_deref(), Some("123456789012"));
        assert_eq!(pr.region.as_deref(), Some("us-east-1"));
    }

    let Event::Cleanup {
        reason: CleanupReason::Merged { merge_option },
        pull_request: merged,
    } = parse_example("pr-merged.json")
    else {
        panic!("expected Cleanup merged");
    };
    assert_eq!(merge_option.as_deref(), Some("SQUASH_MERGE"));
    assert_eq!(merged.source_commit, updated.source_commit);
    assert_ne!(merged.caller_arn, merged.author);

    let Event::Cleanup {
        reason: CleanupReason::Closed,
        pull_request: closed,
    } = parse_example("pr-closed.json")
    else {
        panic!("expected Cleanup closed");
    };
    assert_eq!(closed.description, None);

    let Event::Command(comment) = parse_example("pr-comment.json") else {
        panic!("expected Command");
    };
    assert_eq!(comment.pull_request_id, updated.id);
    assert_eq!(comment.after_commit, updated.source_commit);
    assert_eq!(comment.before_commit, updated.destination_commit);

    let succeeded = run_finished(parse_example("run-succeeded.json"));
    assert_eq!(succeeded.status, RunStatus::Succeeded);
    let input = succeeded.input.as_ref().expect("input decoded");
    assert_eq!(
        input["subject"]["source_commit"],
        updated.source_commit.as_str()
    );
    assert_eq!(
        input["subject"]["revision_id"],
        updated.revision_id.as_ref().map_or("", |r| r.as_str())
    );
    assert!(succeeded.output.as_ref().is_some_and(Value::is_object));
    assert!(succeeded.name.len() <= 80);
    assert!(succeeded.execution_arn.ends_with(&succeeded.name));

    let failed = run_finished(parse_example("run-failed.json"));
    assert_eq!(
        failed.input.as_ref().expect("input decoded")["subject"]["source_commit"],
        created.source_commit.as_str()
    );
}

/// The run examples carry what today's gate-start starts an execution with, on a state machine
/// named as template.yaml names it (`<stack>-gate`, stack `codecommit-gate`), so replaying them
/// exercises gate-report for real.
#[test]
fn run_examples_carry_todays_execution_input_and_arns() {
    use codecommit_gate::machine::{self, ExecutionInput, Mode};
    const MACHINE: &str = "arn:aws:states:us-east-1:123456789012:stateMachine:codecommit-gate-gate";
    for name in ["run-succeeded.json", "run-failed.json"] {
        let run = run_finished(parse_example(name));
        let input: ExecutionInput = serde_json::from_value(run.input.clone().expect("input"))
            .unwrap_or_else(|e| panic!("{name}: detail.input is not an ExecutionInput: {e}"));
        assert_eq!(input.version, machine::INPUT_VERSION, "{name}");
        assert_eq!(input.mode, Mode::Gate, "{name}");
        let subject = &input.subject;
        assert_eq!(
            input.execution_name,
            machine::execution_name(
                &subject.repository,
                &subject.pull_request_id,
                &subject.source_commit,
                // The examples are each PR's first run: ledger claim 1.
                1,
                input.mode
            ),
            "{name}"
        );
        assert_eq!(
            input.environment,
            machine::environment_name("gate", &subject.repository, &subject.pull_request_id),
            "{name}"
        );
        assert_eq!(run.name, input.execution_name, "{name}");
        assert_eq!(run.state_machine_arn, MACHINE, "{name}");
        assert_eq!(
            run.execution_arn,
            format!(
                "arn:aws:states:us-east-1:123456789012:execution:codecommit-gate-gate:{}",
                run.name
            ),
            "{name}"
        );
        assert!(!input.stages.is_empty(), "{name}: checks to run");
        for check in input.stages.iter().flat_map(|s| &s.checks) {
            let facts: Vec<(&str, &str)> = check
                .env
                .iter()
                .map(|v| (v.name.as_str(), v.value.as_str()))
                .collect();
            assert!(
                facts.contains(&("GATE_SOURCE_COMMIT", subject.source_commit.as_str())),
                "{name}: {} builds the run's commit",
                check.name.as_str()
            );
        }
    }
    // The successful run's output is what gate-report's report step returned.
    let succeeded = run_finished(parse_example("run-succeeded.json"));
    let output = succeeded.output.expect("output");
    assert_eq!(output["outcome"], "reported");
    assert_eq!(output["approval"], "approved");
}

#[test]
fn gate_inspect_json_shape() {
    let json = serde_json::to_value(parse_example("pr-created.json")).expect("serialises");
    assert_eq!(json["action"], "gate");
    assert_eq!(json["trigger"], "created");
    assert_eq!(json["pull_request"]["repository"], "my-repo");
    assert_eq!(
        json["pull_request"]["caller_arn"],
        json["pull_request"]["author"]
    );
    let json = serde_json::to_value(parse_example("pr-merged.json")).expect("serialises");
    assert_eq!(
        json["reason"],
        json!({"kind": "merged", "merge_option": "SQUASH_MERGE"})
    );
    let json = serde_json::to_value(parse_example("run-failed.json")).expect("serialises");
    assert_eq!(json["action"], "run-finished");
    assert_eq!(json["status"], "failed");
}

// ---------------------------------------------------------------------------------------------
// Never a panic.

fn all_sample_texts() -> Vec<String> {
    let mut texts: Vec<String> = SNAPSHOTTED.iter().map(|stem| fixture_text(stem)).collect();
    for name in [
        "pr-created.json",
        "pr-source-updated.json",
        "pr-closed.json",
        "pr-merged.json",
        "pr-comment.json",
        "run-succeeded.json",
        "run-failed.json",
    ] {
        texts.push(read(&examples_dir().join(name)));
    }
    texts
}

/// JSON pointers to every node of `value` (the root is `""`).
fn pointers(value: &Value, prefix: String, out: &mut Vec<String>) {
    match value {
        Value::Object(map) => {
            for (key, child) in map {
                let escaped = key.replace('~', "~0").replace('/', "~1");
                pointers(child, format!("{prefix}/{escaped}"), out);
            }
        }
        Value::Array(items) => {
            for (i, child) in items.iter().enumerate() {
                pointers(child, format!("{prefix}/{i}"), out);
            }
        }
        _ => {}
    }
    out.push(prefix);
}

fn remove_pointer(value: &mut Value, pointer: &str) {
    let Some((parent, last)) = pointer.rsplit_once('/') else {
        *value = Value::Null;
        return;
    };
    let key = last.replace("~1", "/").replace("~0", "~");
    match value.pointer_mut(parent) {
        Some(Value::Object(map)) => {
            map.remove(&key);
        }
        Some(Value::Array(items)) => {
            if let Ok(i) = key.parse::<usize>()
                && i < items.len()
            {
                items.remove(i);
            }
        }
        _ => {}
    }
}

/// Values likely to reach deep branches: the strings AWS uses, plus arbitrary JSON.
fn interesting_json() -> impl Strategy<Value = Value> {
    let tokens = prop::sample::select(vec![
        "True",
        "False",
        "Open",
        "Closed",
        "OVERRIDE",
        "REVOKE",
        "RUNNING",
        "SUCCEEDED",
        "FAILED",
        "TIMED_OUT",
        "ABORTED",
        "PENDING_REDRIVE",
        "pullRequestCreated",
        "pullRequestSourceBranchUpdated",
        "pullRequestStatusChanged",
        "pullRequestMergeStatusUpdated",
        "pullRequestApprovalRuleOverridden",
        "commentOnPullRequestCreated",
        "CodeCommit Pull Request State Change",
        "CodeCommit Comment on Pull Request",
        "Step Functions Execution Status Change",
        "{}",
        "{\"a\":",
        "\"x\"",
        "",
        " ",
    ])
    .prop_map(|s| Value::String(s.to_owned()));
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        any::<f64>().prop_map(|f| json!(f)),
        ".{0,12}".prop_map(Value::String),
        tokens,
    ];
    leaf.prop_recursive(3, 16, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map(".{0,6}", inner, 0..4)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

proptest! {
    #[test]
    fn arbitrary_text_never_panics(text in ".{0,200}") {
        let _ = event::parse(&text);
    }

    #[test]
    fn truncated_samples_never_panic(index in any::<prop::sample::Index>(), cut in any::<prop::sample::Index>()) {
        let texts = all_sample_texts();
        let text = index.get(&texts);
        let mut end = cut.index(text.len() + 1);
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        let _ = event::parse(&text[..end]);
    }

    #[test]
    fn mutated_samples_never_panic(
        index in any::<prop::sample::Index>(),
        edits in prop::collection::vec((any::<prop::sample::Index>(), prop::option::of(interesting_json())), 1..4),
    ) {
        let texts = all_sample_texts();
        let sample: &String = index.get(&texts);
        let mut value: Value = serde_json::from_str(sample).expect("samples are JSON");
        for (at, replacement) in edits {
            let mut all = Vec::new();
            pointers(&value, String::new(), &mut all);
            let pointer = at.get(&all).clone();
            match replacement {
                Some(new) => {
                    if let Some(slot) = value.pointer_mut(&pointer) {
                        *slot = new;
                    }
                }
                None => remove_pointer(&mut value, &pointer),
            }
        }
        let from_value = event::parse_value(value.clone());
        let from_text = event::parse(&value.to_string());
        // Same outcome either way (not byte-equal: serde_json's default float parsing does not
        // always round-trip, so a float echoed in a message or an input may differ in its last digit).
        let outcome = |r: &Result<Event, EventError>| match r {
            Ok(event) => Ok(event.action()),
            Err(e) => Err(e.field().map(str::to_owned)),
        };
        prop_assert_eq!(outcome(&from_value), outcome(&from_text));
        if let Ok(parsed) = from_value {
            prop_assert!(serde_json::to_string(&parsed).is_ok());
        }
    }
}
