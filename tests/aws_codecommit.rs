//! The CodeCommit adapter against a mocked SDK client: request fields, paging, error mapping, retries.
//!
//! Responses are JSON bodies shaped like `shared/fixtures/api-samples/` (the CLI examples), so the
//! SDK's own deserializer runs; rules run in `RuleMode::Sequential`, where a request that does
//! not satisfy its rule's `match_requests` fails the test.

use crate::codecommit_mock;

use aws_sdk_codecommit::Client;
use aws_sdk_codecommit::operation::get_comment::GetCommentError;
use aws_sdk_codecommit::types::error::CommentDoesNotExistException;
use aws_sdk_codecommit::types::{ApprovalState as SdkApprovalState, MergeOptionTypeEnum};
use aws_smithy_mocks::{Rule, mock};
use codecommit_gate::aws::codecommit::COMMIT_FILES_MAX_PAGES;
use codecommit_gate::aws::{AwsPullRequests, reporter_session_arn};
use codecommit_gate::ids::{CommentId, PullRequestId, RevisionId};
use codecommit_gate::plan::ChangedPath;
use codecommit_gate::ports::{
    ApprovalOutcome, ApprovalState, CommentData, CommentTarget, Mergeability, PortError, PrStatus,
    PullRequests, RuleWritten,
};
use codecommit_mock::{body, client, commit, error, repo};
use serde_json::{Value, json};

const GATE: &str = "arn:aws:sts::123456789012:assumed-role/gate-reporter/codecommit-gate";
const MARKER: &str = "<!-- codecommit-gate:{\"v\":1} -->";

fn adapter(rules: &[&Rule]) -> AwsPullRequests {
    AwsPullRequests::new(client(rules))
}

fn pr() -> PullRequestId {
    PullRequestId::new("27")
}

fn permanent_call(err: PortError) -> &'static str {
    match err {
        PortError::Permanent { call, .. } => call,
        other => panic!("expected a permanent error, got {other:?}"),
    }
}

// GetPullRequest

/// `codecommit-get-pull-request-output.json`.
fn pull_request_sample() -> Value {
    json!({
        "pullRequest": {
            "approvalRules": [{
                "approvalRuleContent": "{\"Version\": \"2018-11-08\",\"Statements\": [{\"Type\": \"Approvers\",\"NumberOfApprovalsNeeded\": 2,\"ApprovalPoolMembers\": [\"arn:aws:sts::123456789012:assumed-role/CodeCommitReview/*\"]}]}",
                "approvalRuleId": "dd8b17fe-EXAMPLE",
                "approvalRuleName": "2-approver-rule-for-main",
                "creationDate": 1571356106.936,
                "lastModifiedDate": 571356106.936,
                "lastModifiedUser": "arn:aws:iam::123456789012:user/Mary_Major",
                "ruleContentSha256": "4711b576EXAMPLE"
            }],
            "lastActivityDate": 1562619583.565,
            "pullRequestTargets": [{
                "sourceCommit": "ca45e279EXAMPLE",
                "sourceReference": "refs/heads/bugfix-1234",
                "mergeBase": "a99f5ddbEXAMPLE",
                "destinationReference": "refs/heads/main",
                "mergeMetadata": { "isMerged": false },
                "destinationCommit": "2abfc6beEXAMPLE",
                "repositoryName": "MyDemoRepo"
            }],
            "revisionId": "e47def21EXAMPLE",
            "title": "Quick fix for bug 1234",
            "authorArn": "arn:aws:iam::123456789012:user/Nikhil_Jayashankar",
            "clientRequestToken": "d8d7612e-EXAMPLE",
            "creationDate": 1562619583.565,
            "pullRequestId": "27",
            "pullRequestStatus": "OPEN"
        }
    })
}

#[tokio::test]
async fn pull_request_maps_the_api_sample() {
    let rule = mock!(Client::get_pull_request)
        .match_requests(|r| r.pull_request_id() == Some("27"))
        .sequence()
        .http_status(200, body(pull_request_sample()))
        .build();
    let state = adapter(&[&rule])
        .pull_request(&pr())
        .await
        .expect("pull request");
    assert_eq!(state.repository, repo());
    assert_eq!(state.id, pr());
    assert_eq!(state.title, "Quick fix for bug 1234");
    assert_eq!(state.description, None);
    assert_eq!(
        state.author_arn,
        "arn:aws:iam::123456789012:user/Nikhil_Jayashankar"
    );
    assert_eq!(state.status, PrStatus::Open);
    assert!(!state.is_merged);
    assert_eq!(state.source_reference, "refs/heads/bugfix-1234");
    assert_eq!(state.source_branch(), "bugfix-1234");
    assert_eq!(state.destination_branch(), "main");
    assert_eq!(state.source_commit, commit("ca45e279EXAMPLE"));
    assert_eq!(state.destination_commit, commit("2abfc6beEXAMPLE"));
    assert_eq!(state.merge_base, Some(commit("a99f5ddbEXAMPLE")));
    assert_eq!(state.revision_id, RevisionId::new("e47def21EXAMPLE"));
    assert_eq!(state.approval_rules.len(), 1);
    assert_eq!(state.approval_rules[0].name, "2-approver-rule-for-main");
    assert!(
        state.approval_rules[0]
            .content
            .contains("\"NumberOfApprovalsNeeded\": 2")
    );
    assert_eq!(
        state.approval_rules[0].template, None,
        "no originApprovalRuleTemplate: a rule made on the PR"
    );
    assert_eq!(rule.num_calls(), 1);
}

/// A rule created from an approval rule template names its origin (the CLI sample of
/// `create-pull-request`); a rule made on the PR shows `"originApprovalRuleTemplate": {}`.
#[tokio::test]
async fn approval_rules_from_templates_are_told_apart_from_rules_on_the_pr() {
    let mut sample = pull_request_sample();
    sample["pullRequest"]["approvalRules"] = json!([
        {
            "approvalRuleContent": "{\"Version\": \"2018-11-08\",\"DestinationReferences\": [\"refs/heads/main\"],\"Statements\": [{\"Type\": \"Approvers\",\"NumberOfApprovalsNeeded\": 2,\"ApprovalPoolMembers\": [\"arn:aws:sts::123456789012:assumed-role/CodeCommitReview/*\"]}]}",
            "approvalRuleId": "dd8b17fe-EXAMPLE",
            "approvalRuleName": "2-approver-rule-for-main",
            "creationDate": 1571356106.936,
            "lastModifiedDate": 571356106.936,
            "lastModifiedUser": "arn:aws:iam::123456789012:user/Mary_Major",
            "originApprovalRuleTemplate": {
                "approvalRuleTemplateId": "dd3d22fe-EXAMPLE",
                "approvalRuleTemplateName": "2-approver-rule-for-main"
            },
            "ruleContentSha256": "4711b576EXAMPLE"
        },
        {
            "approvalRuleContent": "{}",
            "approvalRuleId": "aac33506-EXAMPLE",
            "approvalRuleName": "my-own-rule",
            "originApprovalRuleTemplate": {},
            "ruleContentSha256": "4711b576EXAMPLE"
        }
    ]);
    let rule = mock!(Client::get_pull_request)
        .sequence()
        .http_status(200, body(sample))
        .build();
    let state = adapter(&[&rule])
        .pull_request(&pr())
        .await
        .expect("pull request");
    let origins: Vec<(&str, Option<&str>)> = state
        .approval_rules
        .iter()
        .map(|r| (r.name.as_str(), r.template.as_deref()))
        .collect();
    assert_eq!(
        origins,
        [
            ("2-approver-rule-for-main", Some("2-approver-rule-for-main")),
            ("my-own-rule", None)
        ]
    );
}

#[tokio::test]
async fn a_merged_pull_request_is_closed_and_merged() {
    let mut sample = pull_request_sample();
    sample["pullRequest"]["pullRequestStatus"] = json!("CLOSED");
    sample["pullRequest"]["description"] = json!("Fixes it.");
    sample["pullRequest"]["pullRequestTargets"][0]["mergeMetadata"] = json!({
        "isMerged": true,
        "mergedBy": "arn:aws:iam::123456789012:user/Mary_Major",
        "mergeCommitId": "7e9fd3091EXAMPLE",
        "mergeOption": "THREE_WAY_MERGE"
    });
    let rule = mock!(Client::get_pull_request)
        .sequence()
        .http_status(200, body(sample))
        .build();
    let state = adapter(&[&rule])
        .pull_request(&pr())
        .await
        .expect("pull request");
    assert_eq!(state.status, PrStatus::Closed);
    assert!(state.is_merged);
    assert_eq!(state.description.as_deref(), Some("Fixes it."));
}

#[tokio::test]
async fn a_pull_request_missing_a_required_piece_is_permanent() {
    for missing in ["revisionId", "pullRequestTargets", "authorArn"] {
        let mut sample = pull_request_sample();
        sample["pullRequest"]
            .as_object_mut()
            .expect("object")
            .remove(missing);
        let rule = mock!(Client::get_pull_request)
            .sequence()
            .http_status(200, body(sample))
            .build();
        let err = adapter(&[&rule])
            .pull_request(&pr())
            .await
            .expect_err(missing);
        assert_eq!(
            permanent_call(err),
            "codecommit:GetPullRequest",
            "{missing}"
        );
    }
}

#[tokio::test]
async fn access_denied_is_permanent_and_names_the_call() {
    let rule = mock!(Client::get_pull_request)
        .sequence()
        .http_status(400, error("AccessDeniedException"))
        .build();
    let err = adapter(&[&rule])
        .pull_request(&pr())
        .await
        .expect_err("denied");
    assert_eq!(err.call(), "codecommit:GetPullRequest");
    assert_eq!(err.error_type(), "GatePermanentError");
    assert!(err.to_string().contains("AccessDeniedException"), "{err}");
    assert_eq!(rule.num_calls(), 1, "not retried");
}

#[tokio::test(start_paused = true)]
async fn throttling_is_retried_until_it_succeeds() {
    let rule = mock!(Client::get_pull_request)
        .sequence()
        .http_status(400, error("ThrottlingException"))
        .http_status(200, body(pull_request_sample()))
        .build();
    let state = adapter(&[&rule])
        .pull_request(&pr())
        .await
        .expect("retried");
    assert_eq!(state.revision_id, RevisionId::new("e47def21EXAMPLE"));
    assert_eq!(rule.num_calls(), 2);
}

#[tokio::test(start_paused = true)]
async fn a_5xx_after_every_retry_is_transient() {
    let rule = mock!(Client::get_pull_request)
        .sequence()
        .http_status(500, error("InternalFailure"))
        .times(3)
        .build();
    let err = adapter(&[&rule])
        .pull_request(&pr())
        .await
        .expect_err("5xx");
    assert!(
        matches!(
            err,
            PortError::Transient {
                call: "codecommit:GetPullRequest",
                ..
            }
        ),
        "{err:?}"
    );
    assert_eq!(err.error_type(), "GateTransientError");
    assert_eq!(rule.num_calls(), 3, "three attempts");
}

#[tokio::test(start_paused = true)]
async fn throttling_after_every_retry_is_transient() {
    let rule = mock!(Client::get_pull_request)
        .sequence()
        .http_status(400, error("ThrottlingException"))
        .times(3)
        .build();
    let err = adapter(&[&rule])
        .pull_request(&pr())
        .await
        .expect_err("throttled");
    assert!(matches!(err, PortError::Transient { .. }), "{err:?}");
}

// GetFile

#[tokio::test]
async fn file_reads_the_content_at_a_commit() {
    let rule = mock!(Client::get_file)
        .match_requests(|r| {
            r.repository_name() == Some("MyDemoRepo")
                && r.commit_specifier() == Some("ca45e279EXAMPLE")
                && r.file_path() == Some(".gate.yml")
        })
        .sequence()
        .http_status(
            200,
            body(json!({
                "commitId": "ca45e279EXAMPLE",
                "blobId": "2eb4af3bEXAMPLE",
                "filePath": ".gate.yml",
                "fileMode": "NORMAL",
                "fileSize": 11,
                "fileContent": "dmVyc2lvbjogMQo="
            })),
        )
        .build();
    let content = adapter(&[&rule])
        .file(&repo(), &commit("ca45e279EXAMPLE"), ".gate.yml")
        .await
        .expect("file");
    assert_eq!(content.as_deref(), Some(&b"version: 1\n"[..]));
}

#[tokio::test]
async fn a_missing_file_is_none() {
    let rule = mock!(Client::get_file)
        .sequence()
        .http_status(400, error("FileDoesNotExistException"))
        .build();
    let content = adapter(&[&rule])
        .file(&repo(), &commit("ca45e279EXAMPLE"), ".gate.yml")
        .await
        .expect("not an error");
    assert_eq!(content, None);
}

#[tokio::test]
async fn a_missing_commit_is_gone_with_its_code() {
    let rule = mock!(Client::get_file)
        .sequence()
        .http_status(400, error("CommitDoesNotExistException"))
        .build();
    let err = adapter(&[&rule])
        .file(&repo(), &commit("ca45e279EXAMPLE"), ".gate.yml")
        .await
        .expect_err("missing commit");
    assert_eq!(err.error_type(), "GatePermanentError");
    match err {
        PortError::Gone { call, code, .. } => {
            assert_eq!(
                (call, code.as_str()),
                ("codecommit:GetFile", "CommitDoesNotExistException")
            );
        }
        other => panic!("expected Gone, got {other:?}"),
    }
}

// GetDifferences

fn blob(path: &str) -> Value {
    json!({ "path": path, "blobId": "2eb4af3b1thisisanexamplethisisanexample1", "mode": "100644" })
}

#[tokio::test]
async fn changed_paths_reads_every_page_with_deletes_and_renames() {
    let request = |token: Option<&'static str>| {
        move |r: &aws_sdk_codecommit::operation::get_differences::GetDifferencesInput| {
            r.repository_name() == Some("MyDemoRepo")
                && r.before_commit_specifier() == Some("2abfc6beEXAMPLE")
                && r.after_commit_specifier() == Some("ca45e279EXAMPLE")
                && r.max_results() == Some(400)
                && r.next_token() == token
                && r.before_path().is_none()
                && r.after_path().is_none()
        }
    };
    let page1 = mock!(Client::get_differences)
        .match_requests(request(None))
        .sequence()
        .http_status(
            200,
            body(json!({
                "differences": [
                    { "afterBlob": blob("src/new.rs"), "changeType": "A" },
                    { "beforeBlob": blob("blob.txt"), "afterBlob": blob("blob.txt"), "changeType": "M" }
                ],
                "NextToken": "page-2"
            })),
        )
        .build();
    let page2 = mock!(Client::get_differences)
        .match_requests(request(Some("page-2")))
        .sequence()
        .http_status(
            200,
            body(json!({
                "differences": [
                    { "beforeBlob": blob("docs/old.md"), "changeType": "D" },
                    { "beforeBlob": blob("lib/a.rs"), "afterBlob": blob("core/a.rs"), "changeType": "M" }
                ],
                "NextToken": "page-3"
            })),
        )
        .build();
    let page3 = mock!(Client::get_differences)
        .match_requests(request(Some("page-3")))
        .sequence()
        .http_status(
            200,
            body(json!({
                "differences": [
                    { "beforeBlob": blob("x/y.txt"), "afterBlob": blob("z/y.txt"), "changeType": "A" }
                ]
            })),
        )
        .build();
    let paths = adapter(&[&page1, &page2, &page3])
        .changed_paths(
            &repo(),
            &commit("2abfc6beEXAMPLE"),
            &commit("ca45e279EXAMPLE"),
        )
        .await
        .expect("paths");
    assert_eq!(
        paths,
        vec![
            ChangedPath::new("src/new.rs"),
            ChangedPath::new("blob.txt"),
            ChangedPath::new("docs/old.md"),
            ChangedPath::renamed("lib/a.rs", "core/a.rs"),
            ChangedPath::renamed("x/y.txt", "z/y.txt"),
        ]
    );
    assert_eq!(
        (page1.num_calls(), page2.num_calls(), page3.num_calls()),
        (1, 1, 1)
    );
}

#[tokio::test]
async fn the_api_sample_difference_is_one_modified_path() {
    let rule = mock!(Client::get_differences)
        .sequence()
        .http_status(
            200,
            body(json!({
                "differences": [{
                    "afterBlob": { "path": "blob.txt", "blobId": "2eb4af3b1thisisanexamplethisisanexample1", "mode": "100644" },
                    "changeType": "M",
                    "beforeBlob": { "path": "blob.txt", "blobId": "bf7fcf281thisisanexamplethisisanexample1", "mode": "100644" }
                }]
            })),
        )
        .build();
    let paths = adapter(&[&rule])
        .changed_paths(&repo(), &commit("a"), &commit("b"))
        .await
        .expect("paths");
    assert_eq!(paths, vec![ChangedPath::new("blob.txt")]);
}

#[tokio::test]
async fn a_failing_later_page_fails_the_whole_listing() {
    let page1 = mock!(Client::get_differences)
        .sequence()
        .http_status(
            200,
            body(json!({ "differences": [{ "afterBlob": blob("a"), "changeType": "A" }], "NextToken": "t" })),
        )
        .build();
    let page2 = mock!(Client::get_differences)
        .match_requests(|r| r.next_token() == Some("t"))
        .sequence()
        .http_status(400, error("InvalidContinuationTokenException"))
        .build();
    let err = adapter(&[&page1, &page2])
        .changed_paths(&repo(), &commit("a"), &commit("b"))
        .await
        .expect_err("page 2 failed");
    assert_eq!(permanent_call(err), "codecommit:GetDifferences");
}

// GetDifferences without a before commit: every file of a commit

fn file_blob(path: &str, blob_id: &str) -> Value {
    json!({ "path": path, "blobId": blob_id, "mode": "100644" })
}

#[tokio::test]
async fn commit_files_lists_every_after_blob_of_every_page_with_no_before_commit() {
    let request = |token: Option<&'static str>| {
        move |r: &aws_sdk_codecommit::operation::get_differences::GetDifferencesInput| {
            r.repository_name() == Some("MyDemoRepo")
                && r.before_commit_specifier().is_none()
                && r.after_commit_specifier() == Some("ca45e279EXAMPLE")
                && r.max_results() == Some(400)
                && r.next_token() == token
        }
    };
    let page1 = mock!(Client::get_differences)
        .match_requests(request(None))
        .sequence()
        .http_status(
            200,
            body(json!({
                "differences": [
                    { "afterBlob": file_blob(".gate.yml", "2eb4af3b1thisisanexamplethisisanexample1"), "changeType": "A" },
                    { "afterBlob": file_blob("app/main.rs", "bf7fcf281thisisanexamplethisisanexample1"), "changeType": "A" }
                ],
                "NextToken": "page-2"
            })),
        )
        .build();
    let page2 = mock!(Client::get_differences)
        .match_requests(request(Some("page-2")))
        .sequence()
        .http_status(
            200,
            body(json!({
                "differences": [
                    { "afterBlob": file_blob("lib/a b.rs", "3b6a3c6e8thisisanexamplethisisanexample1"), "changeType": "A" }
                ]
            })),
        )
        .build();
    let files = adapter(&[&page1, &page2])
        .commit_files(&repo(), &commit("ca45e279EXAMPLE"))
        .await
        .expect("files");
    let pairs: Vec<(&str, &str)> = files
        .iter()
        .map(|(p, b)| (p.as_str(), b.as_str()))
        .collect();
    assert_eq!(
        pairs,
        [
            (".gate.yml", "2eb4af3b1thisisanexamplethisisanexample1"),
            ("app/main.rs", "bf7fcf281thisisanexamplethisisanexample1"),
            ("lib/a b.rs", "3b6a3c6e8thisisanexamplethisisanexample1"),
        ]
    );
    assert_eq!((page1.num_calls(), page2.num_calls()), (1, 1));
}

#[tokio::test]
async fn commit_files_of_a_missing_commit_is_gone_and_a_blobless_entry_is_refused() {
    let missing = mock!(Client::get_differences)
        .sequence()
        .http_status(400, error("CommitDoesNotExistException"))
        .build();
    let err = adapter(&[&missing])
        .commit_files(&repo(), &commit("ca45e279EXAMPLE"))
        .await
        .expect_err("missing commit");
    match err {
        PortError::Gone { call, code, .. } => assert_eq!(
            (call, code.as_str()),
            ("codecommit:GetDifferences", "CommitDoesNotExistException")
        ),
        other => panic!("expected Gone, got {other:?}"),
    }
    let blobless = mock!(Client::get_differences)
        .sequence()
        .http_status(
            200,
            body(
                json!({ "differences": [{ "afterBlob": { "path": "a.txt" }, "changeType": "A" }] }),
            ),
        )
        .build();
    let err = adapter(&[&blobless])
        .commit_files(&repo(), &commit("ca45e279EXAMPLE"))
        .await
        .expect_err("no blob id");
    assert_eq!(permanent_call(err), "codecommit:GetDifferences");
}

#[tokio::test]
async fn commit_files_stops_with_an_error_beyond_its_page_limit() {
    let endless = mock!(Client::get_differences)
        .sequence()
        .http_status(
            200,
            body(json!({
                "differences": [{ "afterBlob": file_blob("a.txt", "2eb4af3b1thisisanexamplethisisanexample1"), "changeType": "A" }],
                "NextToken": "more"
            })),
        )
        .times(COMMIT_FILES_MAX_PAGES)
        .build();
    let err = adapter(&[&endless])
        .commit_files(&repo(), &commit("ca45e279EXAMPLE"))
        .await
        .expect_err("too many pages");
    assert_eq!(endless.num_calls(), COMMIT_FILES_MAX_PAGES);
    match err {
        PortError::Permanent { call, message } => {
            assert_eq!(call, "codecommit:GetDifferences");
            assert!(message.contains("more than 250 pages"), "{message}");
        }
        other => panic!("expected Permanent, got {other:?}"),
    }
}

// GetMergeConflicts

#[tokio::test]
async fn mergeability_is_a_three_way_merge_of_source_into_destination() {
    let rule = mock!(Client::get_merge_conflicts)
        .match_requests(|r| {
            r.repository_name() == Some("MyDemoRepo")
                && r.source_commit_specifier() == Some("ca45e279EXAMPLE")
                && r.destination_commit_specifier() == Some("2abfc6beEXAMPLE")
                && r.merge_option() == Some(&MergeOptionTypeEnum::ThreeWayMerge)
                && r.next_token().is_none()
        })
        .sequence()
        .http_status(
            200,
            body(json!({
                "mergeable": true,
                "destinationCommitId": "2abfc6beEXAMPLE",
                "sourceCommitId": "ca45e279EXAMPLE",
                "baseCommitId": "a99f5ddbEXAMPLE",
                "conflictMetadataList": []
            })),
        )
        .build();
    let merge = adapter(&[&rule])
        .mergeability(
            &repo(),
            &commit("ca45e279EXAMPLE"),
            &commit("2abfc6beEXAMPLE"),
        )
        .await
        .expect("mergeability");
    assert_eq!(merge, Mergeability::Clean);
}

fn conflict(path: &str) -> Value {
    json!({
        "filePath": path,
        "fileSizes": { "source": 139, "destination": 230, "base": 85 },
        "fileModes": { "source": "NORMAL", "destination": "NORMAL", "base": "NORMAL" },
        "objectTypes": { "source": "FILE", "destination": "FILE", "base": "FILE" },
        "numberOfConflicts": 1,
        "isBinaryFile": { "source": false, "destination": false, "base": false },
        "contentConflict": true,
        "fileModeConflict": false,
        "objectTypeConflict": false,
        "mergeOperations": { "source": "M", "destination": "M" }
    })
}

#[tokio::test]
async fn conflicts_are_collected_from_every_page() {
    let page = |paths: &[&str], token: Option<&str>| {
        let mut value = json!({
            "mergeable": false,
            "destinationCommitId": "86958e0aEXAMPLE",
            "sourceCommitId": "6ccd57fdEXAMPLE",
            "baseCommitId": "767b6958EXAMPLE",
            "conflictMetadataList": paths.iter().map(|p| conflict(p)).collect::<Vec<_>>()
        });
        if let Some(token) = token {
            value["nextToken"] = json!(token);
        }
        body(value)
    };
    let page1 = mock!(Client::get_merge_conflicts)
        .match_requests(|r| r.next_token().is_none())
        .sequence()
        .http_status(200, page(&["readme.md"], Some("more")))
        .build();
    let page2 = mock!(Client::get_merge_conflicts)
        .match_requests(|r| {
            r.next_token() == Some("more")
                && r.merge_option() == Some(&MergeOptionTypeEnum::ThreeWayMerge)
        })
        .sequence()
        .http_status(200, page(&["src/lib.rs"], None))
        .build();
    let merge = adapter(&[&page1, &page2])
        .mergeability(
            &repo(),
            &commit("6ccd57fdEXAMPLE"),
            &commit("86958e0aEXAMPLE"),
        )
        .await
        .expect("mergeability");
    assert_eq!(
        merge,
        Mergeability::Conflicts {
            paths: vec!["readme.md".into(), "src/lib.rs".into()]
        }
    );
}

// Comments

fn comment(id: &str, author: &str, content: &str, created: f64, deleted: bool) -> Value {
    json!({
        "commentId": id,
        "content": content,
        "authorArn": author,
        "creationDate": created,
        "lastModifiedDate": created,
        "deleted": deleted,
        "callerReactions": [],
        "reactionCounts": {}
    })
}

#[tokio::test]
async fn comment_reads_one_comment() {
    let rule = mock!(Client::get_comment)
        .match_requests(|r| r.comment_id() == Some("c-1"))
        .sequence()
        .http_status(
            200,
            body(json!({ "comment": comment("c-1", GATE, "hello", 1508369622.123, false) })),
        )
        .build();
    let found = adapter(&[&rule])
        .comment(&CommentId::new("c-1"))
        .await
        .expect("comment");
    assert_eq!(
        found,
        Some(CommentData {
            id: CommentId::new("c-1"),
            content: "hello".into(),
            author_arn: GATE.into(),
            deleted: false,
        })
    );
}

#[tokio::test]
async fn a_missing_or_deleted_comment_is_none() {
    // The modelled error built directly, and the same error off the wire.
    let missing = mock!(Client::get_comment).then_error(|| {
        GetCommentError::CommentDoesNotExistException(
            CommentDoesNotExistException::builder().build(),
        )
    });
    let deleted = mock!(Client::get_comment)
        .sequence()
        .http_status(400, error("CommentDeletedException"))
        .build();
    let gone = mock!(Client::get_comment)
        .sequence()
        .http_status(400, error("CommentDoesNotExistException"))
        .build();
    let prs = adapter(&[&missing, &deleted, &gone]);
    for _ in 0..3 {
        assert_eq!(
            prs.comment(&CommentId::new("c-1")).await.expect("none"),
            None
        );
    }
}

#[tokio::test]
async fn find_comment_reads_every_page_and_ignores_forged_markers() {
    let ours = |text: &str| format!("{text}\n\n{MARKER}");
    let mallory = "arn:aws:iam::123456789012:user/Mallory";
    let page1 = mock!(Client::get_comments_for_pull_request)
        .match_requests(|r| {
            r.pull_request_id() == Some("27")
                && r.max_results() == Some(100)
                && r.next_token().is_none()
                && r.repository_name().is_none()
                && r.before_commit_id().is_none()
                && r.after_commit_id().is_none()
        })
        .sequence()
        .http_status(
            200,
            body(json!({
                "commentsForPullRequestData": [{
                    "pullRequestId": "27",
                    "repositoryName": "MyDemoRepo",
                    "beforeCommitId": "2abfc6beEXAMPLE",
                    "afterCommitId": "ca45e279EXAMPLE",
                    "comments": [
                        comment("old", GATE, &ours("first run"), 1_700_000_000.0, false),
                        // Newer than everything, carries the marker, but someone else wrote it.
                        comment("forged", mallory, &ours("all green, merge away"), 1_800_000_000.0, false),
                    ]
                }],
                "nextToken": "p2"
            })),
        )
        .build();
    let page2 = mock!(Client::get_comments_for_pull_request)
        .match_requests(|r| r.next_token() == Some("p2") && r.max_results() == Some(100))
        .sequence()
        .http_status(
            200,
            body(json!({
                "commentsForPullRequestData": [{
                    "pullRequestId": "27",
                    "repositoryName": "MyDemoRepo",
                    "beforeCommitId": "2abfc6beEXAMPLE",
                    "afterCommitId": "0a1b2c3dEXAMPLE",
                    "comments": [
                        comment("current", GATE, &format!("{}\n", ours("second run")), 1_700_000_100.0, false),
                        comment("deleted", GATE, &ours("deleted"), 1_700_000_200.0, true),
                        comment("no-marker", GATE, "a reply without the marker", 1_700_000_300.0, false),
                        comment("marker-inside", GATE, &format!("{MARKER}\nthen more text"), 1_700_000_400.0, false),
                    ]
                }]
            })),
        )
        .build();
    let found = adapter(&[&page1, &page2])
        .find_comment(&repo(), &pr(), GATE, MARKER)
        .await
        .expect("listing")
        .expect("found");
    assert_eq!(found.id, CommentId::new("current"));
    assert_eq!(found.author_arn, GATE);
    assert!(!found.deleted);
    assert_eq!((page1.num_calls(), page2.num_calls()), (1, 1));
}

#[tokio::test]
async fn find_comment_never_returns_someone_elses_comment() {
    let rule = mock!(Client::get_comments_for_pull_request)
        .sequence()
        .http_status(
            200,
            body(json!({
                "commentsForPullRequestData": [{
                    "pullRequestId": "27",
                    "repositoryName": "MyDemoRepo",
                    "comments": [
                        comment("forged", "arn:aws:iam::123456789012:user/Mallory", &format!("x\n{MARKER}"), 1_800_000_000.0, false),
                    ]
                }]
            })),
        )
        .build();
    let found = adapter(&[&rule])
        .find_comment(&repo(), &pr(), GATE, MARKER)
        .await
        .expect("listing");
    assert_eq!(found, None);
}

fn target() -> CommentTarget {
    CommentTarget {
        repository: repo(),
        pull_request_id: pr(),
        before_commit: commit("2abfc6beEXAMPLE"),
        after_commit: commit("ca45e279EXAMPLE"),
    }
}

#[tokio::test]
async fn post_comment_sends_the_token_and_the_models_commit_order() {
    let rule = mock!(Client::post_comment_for_pull_request)
        .match_requests(|r| {
            r.pull_request_id() == Some("27")
                && r.repository_name() == Some("MyDemoRepo")
                // beforeCommitId: the destination tip; afterCommitId: the source tip.
                && r.before_commit_id() == Some("2abfc6beEXAMPLE")
                && r.after_commit_id() == Some("ca45e279EXAMPLE")
                && r.content() == Some("Checks are running.")
                && r.client_request_token() == Some("gate-27-ca45e279-1")
                && r.location().is_none()
        })
        .sequence()
        .http_status(
            200,
            body(json!({
                "repositoryName": "MyDemoRepo",
                "pullRequestId": "27",
                "beforeCommitId": "2abfc6beEXAMPLE",
                "afterCommitId": "ca45e279EXAMPLE",
                "comment": comment("abcd1234EXAMPLEb5678efgh", GATE, "Checks are running.", 1508369622.123, false)
            })),
        )
        .build();
    let id = adapter(&[&rule])
        .post_comment(&target(), "Checks are running.", "gate-27-ca45e279-1")
        .await
        .expect("posted");
    assert_eq!(id, CommentId::new("abcd1234EXAMPLEb5678efgh"));
    assert_eq!(rule.num_calls(), 1);
}

#[tokio::test]
async fn a_reused_token_with_other_content_is_permanent() {
    let rule = mock!(Client::post_comment_for_pull_request)
        .sequence()
        .http_status(400, error("IdempotencyParameterMismatchException"))
        .build();
    let err = adapter(&[&rule])
        .post_comment(&target(), "other text", "gate-27-ca45e279-1")
        .await
        .expect_err("mismatch");
    assert_eq!(permanent_call(err), "codecommit:PostCommentForPullRequest");
}

#[tokio::test]
async fn update_comment_sends_id_and_content() {
    let rule = mock!(Client::update_comment)
        .match_requests(|r| r.comment_id() == Some("c-1") && r.content() == Some("Passed."))
        .sequence()
        .http_status(
            200,
            body(json!({ "comment": comment("c-1", GATE, "Passed.", 1508369622.123, false) })),
        )
        .build();
    adapter(&[&rule])
        .update_comment(&CommentId::new("c-1"), "Passed.")
        .await
        .expect("updated");
    assert_eq!(rule.num_calls(), 1);
}

#[tokio::test]
async fn updating_someone_elses_comment_is_permanent() {
    let rule = mock!(Client::update_comment)
        .sequence()
        .http_status(400, error("CommentNotCreatedByCallerException"))
        .build();
    let err = adapter(&[&rule])
        .update_comment(&CommentId::new("c-1"), "Passed.")
        .await
        .expect_err("not ours");
    assert_eq!(permanent_call(err), "codecommit:UpdateComment");
}

#[tokio::test]
async fn reply_sends_the_token() {
    let rule = mock!(Client::post_comment_reply)
        .match_requests(|r| {
            r.in_reply_to() == Some("abcd1234EXAMPLEb5678efgh")
                && r.content() == Some("Retrying.")
                && r.client_request_token() == Some("reply-token")
        })
        .sequence()
        .http_status(
            200,
            body(json!({ "comment": comment("442b498bEXAMPLE5756813", GATE, "Retrying.", 1508369829.136, false) })),
        )
        .build();
    let id = adapter(&[&rule])
        .reply(
            &CommentId::new("abcd1234EXAMPLEb5678efgh"),
            "Retrying.",
            "reply-token",
        )
        .await
        .expect("replied");
    assert_eq!(id, CommentId::new("442b498bEXAMPLE5756813"));
}

// Approval rules and approvals

#[tokio::test]
async fn ensure_approval_rule_creates_it_or_accepts_that_it_exists() {
    let content = r#"{"Version":"2018-11-08","Statements":[{"Type":"Approvers","NumberOfApprovalsNeeded":1,"ApprovalPoolMembers":["arn:aws:sts::123456789012:assumed-role/gate-reporter/codecommit-gate"]}]}"#;
    let created = mock!(Client::create_pull_request_approval_rule)
        .match_requests(move |r| {
            r.pull_request_id() == Some("27")
                && r.approval_rule_name() == Some("codecommit-gate")
                && r.approval_rule_content() == Some(content)
        })
        .sequence()
        .http_status(
            200,
            body(json!({
                "approvalRule": {
                    "approvalRuleName": "codecommit-gate",
                    "approvalRuleId": "aac33506-EXAMPLE",
                    "approvalRuleContent": content,
                    "creationDate": 1571356106.936,
                    "lastModifiedDate": 1571356106.936,
                    "lastModifiedUser": GATE,
                    "ruleContentSha256": "4711b576EXAMPLE"
                }
            })),
        )
        .build();
    let exists = mock!(Client::create_pull_request_approval_rule)
        .sequence()
        .http_status(400, error("ApprovalRuleNameAlreadyExistsException"))
        .build();
    // Someone made (or edited) a rule of that name first: its content becomes the gate's.
    let updated = mock!(Client::update_pull_request_approval_rule_content)
        .match_requests(move |r| {
            r.pull_request_id() == Some("27")
                && r.approval_rule_name() == Some("codecommit-gate")
                && r.new_rule_content() == Some(content)
        })
        .sequence()
        .http_status(
            200,
            body(json!({
                "approvalRule": {
                    "approvalRuleName": "codecommit-gate",
                    "approvalRuleId": "aac33506-EXAMPLE",
                    "approvalRuleContent": content,
                    "lastModifiedUser": GATE,
                    "ruleContentSha256": "4711b576EXAMPLE"
                }
            })),
        )
        .build();
    let closed = mock!(Client::create_pull_request_approval_rule)
        .sequence()
        .http_status(400, error("InvalidApprovalRuleContentException"))
        .build();
    let prs = adapter(&[&created, &exists, &updated, &closed]);
    assert_eq!(
        prs.ensure_approval_rule(&pr(), "codecommit-gate", content)
            .await
            .expect("created"),
        RuleWritten::Created
    );
    assert_eq!(
        prs.ensure_approval_rule(&pr(), "codecommit-gate", content)
            .await
            .expect("an existing rule is made the gate's"),
        RuleWritten::Updated
    );
    assert_eq!(updated.num_calls(), 1);
    let err = prs
        .ensure_approval_rule(&pr(), "codecommit-gate", "{}")
        .await
        .expect_err("invalid content");
    assert_eq!(
        permanent_call(err),
        "codecommit:CreatePullRequestApprovalRule"
    );
}

#[tokio::test]
async fn set_approval_binds_to_the_revision_and_maps_stale_and_closed() {
    let approve = mock!(Client::update_pull_request_approval_state)
        .match_requests(|r| {
            r.pull_request_id() == Some("27")
                && r.revision_id() == Some("e47def21EXAMPLE")
                && r.approval_state() == Some(&SdkApprovalState::Approve)
        })
        .sequence()
        .http_status(200, body(json!({})))
        .build();
    let stale = mock!(Client::update_pull_request_approval_state)
        .match_requests(|r| r.approval_state() == Some(&SdkApprovalState::Revoke))
        .sequence()
        .http_status(400, error("RevisionNotCurrentException"))
        .build();
    let closed = mock!(Client::update_pull_request_approval_state)
        .sequence()
        .http_status(400, error("PullRequestAlreadyClosedException"))
        .build();
    let own = mock!(Client::update_pull_request_approval_state)
        .sequence()
        .http_status(400, error("PullRequestCannotBeApprovedByAuthorException"))
        .build();
    let prs = adapter(&[&approve, &stale, &closed, &own]);
    let revision = RevisionId::new("e47def21EXAMPLE");
    assert_eq!(
        prs.set_approval(&pr(), &revision, ApprovalState::Approve)
            .await
            .expect("applied"),
        ApprovalOutcome::Applied
    );
    assert_eq!(
        prs.set_approval(&pr(), &revision, ApprovalState::Revoke)
            .await
            .expect("stale"),
        ApprovalOutcome::RevisionNotCurrent
    );
    assert_eq!(
        prs.set_approval(&pr(), &revision, ApprovalState::Approve)
            .await
            .expect("closed"),
        ApprovalOutcome::Closed
    );
    let err = prs
        .set_approval(&pr(), &revision, ApprovalState::Approve)
        .await
        .expect_err("own PR");
    assert_eq!(
        permanent_call(err),
        "codecommit:UpdatePullRequestApprovalState"
    );
}

// The reporting identity

#[test]
fn the_reporter_session_arn_is_the_assumed_role_session() {
    assert_eq!(
        reporter_session_arn("arn:aws:iam::123456789012:role/gate-reporter").as_deref(),
        Some(GATE)
    );
    assert_eq!(
        reporter_session_arn("arn:aws:iam::123456789012:role/service/ci/gate-reporter").as_deref(),
        Some(GATE),
        "the role's path is not part of the session ARN"
    );
    assert_eq!(
        reporter_session_arn("arn:aws-cn:iam::123456789012:role/r").as_deref(),
        Some("arn:aws-cn:sts::123456789012:assumed-role/r/codecommit-gate")
    );
    assert_eq!(
        reporter_session_arn("arn:aws:iam::123456789012:user/u"),
        None
    );
    assert_eq!(reporter_session_arn("gate-reporter"), None);
}
