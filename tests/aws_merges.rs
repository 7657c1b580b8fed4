//! The CodeCommit merge adapter ([`AwsMerges`]) against a mocked SDK client: the request
//! fields each call sends, and every modelled error it turns into an answer.
//!
//! Responses are JSON bodies shaped like `shared/fixtures/api-samples/` (the CLI examples) or,
//! where no sample exists (`GetBranch`, `GetCommit`, `DeleteBranch`), like the API model, so
//! the SDK's own deserializer runs; rules run in `RuleMode::Sequential`, where a request that
//! does not satisfy its rule's `match_requests` fails the test.

use crate::codecommit_mock;

use aws_sdk_codecommit::Client;
use aws_sdk_codecommit::types::{
    ConflictDetailLevelTypeEnum, ConflictResolutionStrategyTypeEnum, MergeOptionTypeEnum,
    PullRequestStatusEnum,
};
use aws_smithy_mocks::{Rule, mock};
use codecommit_gate::aws::AwsMerges;
use codecommit_gate::aws::merges::CONFLICT_FILES_LISTED;
use codecommit_gate::ids::PullRequestId;
use codecommit_gate::ports::merges::{
    FastForward, MergeCommit, MergeMessage, Merges, QueueStrategy,
};
use codecommit_gate::ports::{PortError, PortResult};
use codecommit_mock::{body, client, commit, error, repo};
use serde_json::{Value, json};

fn adapter(rules: &[&Rule]) -> AwsMerges {
    AwsMerges::new(client(rules))
}

fn message() -> MergeMessage {
    MergeMessage {
        author_name: "codecommit-gate".into(),
        email: "gate@example.com".into(),
        message: "Merge pull request #27 (tested by the gate)".into(),
    }
}

/// `create_merge_commit` of `source` onto `destination` with the gate's message.
async fn merge_commit(
    rules: &[&Rule],
    source: &str,
    destination: &str,
    strategy: QueueStrategy,
) -> PortResult<MergeCommit> {
    adapter(rules)
        .create_merge_commit(
            &repo(),
            &commit(source),
            &commit(destination),
            strategy,
            &message(),
        )
        .await
}

/// `codecommit-create-unreferenced-merge-commit-output.json`.
fn unreferenced_merge_commit_sample() -> Value {
    json!({ "commitId": "4f178133EXAMPLE", "treeId": "389765daEXAMPLE" })
}

/// `codecommit-get-merge-conflicts-output.json` (one conflicting file, `readme.md`).
fn merge_conflicts_sample() -> Value {
    json!({
        "mergeable": false,
        "destinationCommitId": "86958e0aEXAMPLE",
        "sourceCommitId": "6ccd57fdEXAMPLE",
        "baseCommitId": "767b6958EXAMPLE",
        "conflictMetadataList": [{
            "filePath": "readme.md",
            "fileSizes": { "source": 139, "destination": 230, "base": 85 },
            "fileModes": { "source": "NORMAL", "destination": "NORMAL", "base": "NORMAL" },
            "objectTypes": { "source": "FILE", "destination": "FILE", "base": "FILE" },
            "numberOfConflicts": 1,
            "isBinaryFile": { "source": false, "destination": false, "base": false },
            "contentConflict": true,
            "fileModeConflict": false,
            "objectTypeConflict": false,
            "mergeOperations": { "source": "M", "destination": "M" }
        }]
    })
}

/// `GetCommit`'s output as the model shapes it.
fn commit_sample(id: &str, tree: &str) -> Value {
    json!({
        "commit": {
            "commitId": id,
            "treeId": tree,
            "parents": ["ffd3311dEXAMPLE"],
            "message": "Fix the bug\n",
            "author": { "name": "Mary Major", "email": "mary_major@example.com", "date": "1568916476 -0700" },
            "committer": { "name": "Mary Major", "email": "mary_major@example.com", "date": "1568916476 -0700" },
            "additionalData": ""
        }
    })
}

// GetBranch

#[tokio::test]
async fn branch_tip_reads_the_branch_commit() {
    let rule = mock!(Client::get_branch)
        .match_requests(|r| {
            r.repository_name() == Some("MyDemoRepo") && r.branch_name() == Some("main")
        })
        .sequence()
        .http_status(
            200,
            body(json!({ "branch": { "branchName": "main", "commitId": "317f8570EXAMPLE" } })),
        )
        .build();
    let tip = adapter(&[&rule])
        .branch_tip(&repo(), "main")
        .await
        .expect("tip");
    assert_eq!(tip, Some(commit("317f8570EXAMPLE")));
    assert_eq!(rule.num_calls(), 1);
}

#[tokio::test]
async fn a_missing_branch_has_no_tip_and_a_missing_repository_is_gone() {
    let missing = mock!(Client::get_branch)
        .sequence()
        .http_status(400, error("BranchDoesNotExistException"))
        .build();
    let no_repo = mock!(Client::get_branch)
        .sequence()
        .http_status(400, error("RepositoryDoesNotExistException"))
        .build();
    let merges = adapter(&[&missing, &no_repo]);
    assert_eq!(
        merges
            .branch_tip(&repo(), "gate/merge/main/27")
            .await
            .expect("none"),
        None
    );
    let err = merges
        .branch_tip(&repo(), "main")
        .await
        .expect_err("no repository");
    assert!(
        matches!(err, PortError::Gone { call: "codecommit:GetBranch", ref code, .. } if code == "RepositoryDoesNotExistException"),
        "{err:?}"
    );
}

#[tokio::test]
async fn a_branch_without_a_commit_id_is_permanent() {
    let rule = mock!(Client::get_branch)
        .sequence()
        .http_status(200, body(json!({ "branch": { "branchName": "main" } })))
        .build();
    let err = adapter(&[&rule])
        .branch_tip(&repo(), "main")
        .await
        .expect_err("no commit id");
    assert!(
        matches!(
            err,
            PortError::Permanent {
                call: "codecommit:GetBranch",
                ..
            }
        ),
        "{err:?}"
    );
}

// CreateUnreferencedMergeCommit

#[tokio::test]
async fn a_squash_merge_commit_sends_the_strategy_the_message_and_no_resolution() {
    let rule = mock!(Client::create_unreferenced_merge_commit)
        .match_requests(|r| {
            r.repository_name() == Some("MyDemoRepo")
                && r.source_commit_specifier() == Some("6ccd57fdEXAMPLE")
                && r.destination_commit_specifier() == Some("86958e0aEXAMPLE")
                && r.merge_option() == Some(&MergeOptionTypeEnum::SquashMerge)
                && r.conflict_detail_level() == Some(&ConflictDetailLevelTypeEnum::FileLevel)
                && r.conflict_resolution_strategy()
                    == Some(&ConflictResolutionStrategyTypeEnum::None)
                && r.conflict_resolution().is_none()
                && r.author_name() == Some("codecommit-gate")
                && r.email() == Some("gate@example.com")
                && r.commit_message() == Some("Merge pull request #27 (tested by the gate)")
        })
        .sequence()
        .http_status(200, body(unreferenced_merge_commit_sample()))
        .build();
    let made = merge_commit(
        &[&rule],
        "6ccd57fdEXAMPLE",
        "86958e0aEXAMPLE",
        QueueStrategy::Squash,
    )
    .await
    .expect("created");
    assert_eq!(
        made,
        MergeCommit::Created {
            commit: commit("4f178133EXAMPLE"),
            tree: "389765daEXAMPLE".into(),
        }
    );
    assert_eq!(rule.num_calls(), 1);
}

#[tokio::test]
async fn a_three_way_merge_commit_sends_three_way_merge() {
    let rule = mock!(Client::create_unreferenced_merge_commit)
        .match_requests(|r| r.merge_option() == Some(&MergeOptionTypeEnum::ThreeWayMerge))
        .sequence()
        .http_status(200, body(unreferenced_merge_commit_sample()))
        .build();
    let made = merge_commit(
        &[&rule],
        "6ccd57fdEXAMPLE",
        "86958e0aEXAMPLE",
        QueueStrategy::ThreeWay,
    )
    .await
    .expect("created");
    assert!(matches!(made, MergeCommit::Created { .. }), "{made:?}");
}

#[tokio::test]
async fn a_conflict_is_reported_with_the_files_get_merge_conflicts_names() {
    let refused = mock!(Client::create_unreferenced_merge_commit)
        .sequence()
        .http_status(400, error("ManualMergeRequiredException"))
        .build();
    let conflicts = mock!(Client::get_merge_conflicts)
        .match_requests(|r| {
            r.repository_name() == Some("MyDemoRepo")
                && r.source_commit_specifier() == Some("6ccd57fdEXAMPLE")
                && r.destination_commit_specifier() == Some("86958e0aEXAMPLE")
                && r.merge_option() == Some(&MergeOptionTypeEnum::SquashMerge)
                && r.conflict_detail_level() == Some(&ConflictDetailLevelTypeEnum::FileLevel)
                && r.max_conflict_files() == Some(CONFLICT_FILES_LISTED)
        })
        .sequence()
        .http_status(200, body(merge_conflicts_sample()))
        .build();
    let made = merge_commit(
        &[&refused, &conflicts],
        "6ccd57fdEXAMPLE",
        "86958e0aEXAMPLE",
        QueueStrategy::Squash,
    )
    .await
    .expect("conflict");
    assert_eq!(
        made,
        MergeCommit::Conflict {
            files: vec!["readme.md".into()]
        }
    );
    assert_eq!(conflicts.num_calls(), 1);
}

#[tokio::test]
async fn a_conflict_whose_files_cannot_be_listed_is_still_a_conflict() {
    let refused = mock!(Client::create_unreferenced_merge_commit)
        .sequence()
        .http_status(400, error("ManualMergeRequiredException"))
        .build();
    let denied = mock!(Client::get_merge_conflicts)
        .sequence()
        .http_status(400, error("AccessDeniedException"))
        .build();
    let made = merge_commit(
        &[&refused, &denied],
        "6ccd57fdEXAMPLE",
        "86958e0aEXAMPLE",
        QueueStrategy::ThreeWay,
    )
    .await
    .expect("conflict");
    assert_eq!(made, MergeCommit::Conflict { files: vec![] });
}

#[tokio::test]
async fn other_merge_commit_refusals_are_errors() {
    let rule = mock!(Client::create_unreferenced_merge_commit)
        .sequence()
        .http_status(400, error("TipsDivergenceExceededException"))
        .build();
    let err = merge_commit(
        &[&rule],
        "6ccd57fdEXAMPLE",
        "86958e0aEXAMPLE",
        QueueStrategy::Squash,
    )
    .await
    .expect_err("refused");
    assert_eq!(err.call(), "codecommit:CreateUnreferencedMergeCommit");
    assert_eq!(err.error_type(), "GatePermanentError");
    assert!(
        err.to_string().contains("TipsDivergenceExceededException"),
        "{err}"
    );
}

// The fast-forward strategy: GetMergeOptions, then GetCommit for the tree.

#[tokio::test]
async fn a_fast_forward_is_the_source_itself_when_get_merge_options_allows_it() {
    let options = mock!(Client::get_merge_options)
        .match_requests(|r| {
            r.repository_name() == Some("MyDemoRepo")
                && r.source_commit_specifier() == Some("18059494EXAMPLE")
                && r.destination_commit_specifier() == Some("ffd3311dEXAMPLE")
        })
        .sequence()
        .http_status(
            200,
            body(json!({
                "mergeOptions": ["FAST_FORWARD_MERGE", "SQUASH_MERGE", "THREE_WAY_MERGE"],
                "sourceCommitId": "18059494EXAMPLE",
                "destinationCommitId": "ffd3311dEXAMPLE",
                "baseCommitId": "ffd3311dEXAMPLE"
            })),
        )
        .build();
    let read = mock!(Client::get_commit)
        .match_requests(|r| {
            r.repository_name() == Some("MyDemoRepo") && r.commit_id() == Some("18059494EXAMPLE")
        })
        .sequence()
        .http_status(
            200,
            body(commit_sample("18059494EXAMPLE", "0e1c4f2bEXAMPLE")),
        )
        .build();
    let made = merge_commit(
        &[&options, &read],
        "18059494EXAMPLE",
        "ffd3311dEXAMPLE",
        QueueStrategy::FastForward,
    )
    .await
    .expect("fast-forward");
    assert_eq!(
        made,
        MergeCommit::Created {
            commit: commit("18059494EXAMPLE"),
            tree: "0e1c4f2bEXAMPLE".into(),
        }
    );
    assert_eq!((options.num_calls(), read.num_calls()), (1, 1));
}

#[tokio::test]
async fn no_fast_forward_option_is_not_fast_forward_and_creates_nothing() {
    let options = mock!(Client::get_merge_options)
        .sequence()
        .http_status(
            200,
            body(json!({
                "mergeOptions": ["SQUASH_MERGE", "THREE_WAY_MERGE"],
                "sourceCommitId": "18059494EXAMPLE",
                "destinationCommitId": "ffd3311dEXAMPLE",
                "baseCommitId": "a99f5ddbEXAMPLE"
            })),
        )
        .build();
    let made = merge_commit(
        &[&options],
        "18059494EXAMPLE",
        "ffd3311dEXAMPLE",
        QueueStrategy::FastForward,
    )
    .await
    .expect("answer");
    assert_eq!(made, MergeCommit::NotFastForward);
}

#[tokio::test]
async fn a_fast_forward_onto_itself_skips_get_merge_options() {
    let read = mock!(Client::get_commit)
        .match_requests(|r| r.commit_id() == Some("ffd3311dEXAMPLE"))
        .sequence()
        .http_status(
            200,
            body(commit_sample("ffd3311dEXAMPLE", "389765daEXAMPLE")),
        )
        .build();
    let made = merge_commit(
        &[&read],
        "ffd3311dEXAMPLE",
        "ffd3311dEXAMPLE",
        QueueStrategy::FastForward,
    )
    .await
    .expect("same commit");
    assert_eq!(
        made,
        MergeCommit::Created {
            commit: commit("ffd3311dEXAMPLE"),
            tree: "389765daEXAMPLE".into(),
        }
    );
}

// CreateBranch

#[tokio::test]
async fn create_branch_sends_the_name_and_commit() {
    let rule = mock!(Client::create_branch)
        .match_requests(|r| {
            r.repository_name() == Some("MyDemoRepo")
                && r.branch_name() == Some("gate/merge/main/27")
                && r.commit_id() == Some("4f178133EXAMPLE")
        })
        .sequence()
        .http_status(200, body(json!({})))
        .build();
    let created = adapter(&[&rule])
        .create_branch(&repo(), "gate/merge/main/27", &commit("4f178133EXAMPLE"))
        .await
        .expect("created");
    assert!(created);
    assert_eq!(rule.num_calls(), 1);
}

#[tokio::test]
async fn an_existing_branch_is_not_created() {
    let rule = mock!(Client::create_branch)
        .sequence()
        .http_status(400, error("BranchNameExistsException"))
        .build();
    let created = adapter(&[&rule])
        .create_branch(&repo(), "gate/merge/main/27", &commit("4f178133EXAMPLE"))
        .await
        .expect("answer");
    assert!(!created);
}

#[tokio::test]
async fn a_branch_at_a_missing_commit_is_gone() {
    let rule = mock!(Client::create_branch)
        .sequence()
        .http_status(400, error("CommitDoesNotExistException"))
        .build();
    let err = adapter(&[&rule])
        .create_branch(&repo(), "gate/merge/main/27", &commit("4f178133EXAMPLE"))
        .await
        .expect_err("no commit");
    assert!(
        matches!(
            err,
            PortError::Gone {
                call: "codecommit:CreateBranch",
                ..
            }
        ),
        "{err:?}"
    );
}

// DeleteBranch

#[tokio::test]
async fn delete_branch_sends_the_name_and_reads_the_deleted_branch() {
    let rule = mock!(Client::delete_branch)
        .match_requests(|r| {
            r.repository_name() == Some("MyDemoRepo")
                && r.branch_name() == Some("gate/merge/main/27")
        })
        .sequence()
        .http_status(
            200,
            body(json!({
                "deletedBranch": { "branchName": "gate/merge/main/27", "commitId": "4f178133EXAMPLE" }
            })),
        )
        .build();
    let deleted = adapter(&[&rule])
        .delete_branch(&repo(), "gate/merge/main/27")
        .await
        .expect("deleted");
    assert!(deleted);
}

#[tokio::test]
async fn deleting_a_missing_branch_is_not_an_error() {
    // Unmodelled for DeleteBranch: matched by code.
    let missing = mock!(Client::delete_branch)
        .sequence()
        .http_status(400, error("BranchDoesNotExistException"))
        .build();
    let reference = mock!(Client::delete_branch)
        .sequence()
        .http_status(400, error("ReferenceDoesNotExistException"))
        .build();
    let merges = adapter(&[&missing, &reference]);
    for _ in 0..2 {
        assert!(
            !merges
                .delete_branch(&repo(), "gate/merge/main/27")
                .await
                .expect("absent")
        );
    }
}

#[tokio::test]
async fn deleting_in_a_missing_repository_or_the_default_branch_is_an_error() {
    let no_repo = mock!(Client::delete_branch)
        .sequence()
        .http_status(400, error("RepositoryDoesNotExistException"))
        .build();
    let default = mock!(Client::delete_branch)
        .sequence()
        .http_status(400, error("DefaultBranchCannotBeDeletedException"))
        .build();
    let merges = adapter(&[&no_repo, &default]);
    let gone = merges
        .delete_branch(&repo(), "gate/merge/main/27")
        .await
        .expect_err("no repository");
    assert!(matches!(gone, PortError::Gone { .. }), "{gone:?}");
    let refused = merges
        .delete_branch(&repo(), "main")
        .await
        .expect_err("default branch");
    assert_eq!(refused.error_type(), "GatePermanentError");
    assert!(
        refused
            .to_string()
            .contains("DefaultBranchCannotBeDeletedException"),
        "{refused}"
    );
}

// MergeBranchesByFastForward

#[tokio::test]
async fn fast_forward_sends_the_tested_commit_as_source_and_the_target_branch() {
    let rule = mock!(Client::merge_branches_by_fast_forward)
        .match_requests(|r| {
            r.repository_name() == Some("MyDemoRepo")
                && r.source_commit_specifier() == Some("4f178133EXAMPLE")
                && r.destination_commit_specifier() == Some("main")
                && r.target_branch() == Some("main")
        })
        .sequence()
        .http_status(
            200,
            body(json!({ "commitId": "4f178133EXAMPLE", "treeId": "389765daEXAMPLE" })),
        )
        .build();
    let moved = adapter(&[&rule])
        .fast_forward(&repo(), "main", &commit("4f178133EXAMPLE"))
        .await
        .expect("moved");
    assert_eq!(
        moved,
        FastForward::Moved {
            commit: commit("4f178133EXAMPLE")
        }
    );
    assert_eq!(rule.num_calls(), 1);
}

#[tokio::test]
async fn a_destination_that_moved_is_branch_moved() {
    for code in [
        "ManualMergeRequiredException",
        "ConcurrentReferenceUpdateException",
    ] {
        let rule = mock!(Client::merge_branches_by_fast_forward)
            .sequence()
            .http_status(400, error(code))
            .build();
        let moved = adapter(&[&rule])
            .fast_forward(&repo(), "main", &commit("4f178133EXAMPLE"))
            .await
            .expect(code);
        assert_eq!(moved, FastForward::BranchMoved, "{code}");
        assert_eq!(rule.num_calls(), 1, "{code}: not retried");
    }
}

#[tokio::test]
async fn other_fast_forward_refusals_are_errors() {
    let rule = mock!(Client::merge_branches_by_fast_forward)
        .sequence()
        .http_status(400, error("BranchDoesNotExistException"))
        .build();
    let err = adapter(&[&rule])
        .fast_forward(&repo(), "main", &commit("4f178133EXAMPLE"))
        .await
        .expect_err("no branch");
    assert!(
        matches!(
            err,
            PortError::Gone {
                call: "codecommit:MergeBranchesByFastForward",
                ..
            }
        ),
        "{err:?}"
    );
}

// UpdatePullRequestStatus

#[tokio::test]
async fn close_pull_request_sends_closed() {
    let rule = mock!(Client::update_pull_request_status)
        .match_requests(|r| {
            r.pull_request_id() == Some("27")
                && r.pull_request_status() == Some(&PullRequestStatusEnum::Closed)
        })
        .sequence()
        .http_status(
            200,
            body(json!({
                "pullRequest": {
                    "pullRequestId": "27",
                    "title": "Quick fix for bug 1234",
                    "pullRequestStatus": "CLOSED",
                    "authorArn": "arn:aws:iam::123456789012:user/Li_Juan",
                    "pullRequestTargets": [{
                        "repositoryName": "MyDemoRepo",
                        "sourceReference": "refs/heads/bugfix-1234",
                        "destinationReference": "refs/heads/main",
                        "sourceCommit": "ca45e279EXAMPLE",
                        "destinationCommit": "4f178133EXAMPLE",
                        "mergeMetadata": { "isMerged": false }
                    }],
                    "revisionId": "e47def21EXAMPLE"
                }
            })),
        )
        .build();
    adapter(&[&rule])
        .close_pull_request(&PullRequestId::new("27"))
        .await
        .expect("closed");
    assert_eq!(rule.num_calls(), 1);
}

#[tokio::test]
async fn closing_a_closed_pull_request_is_not_an_error() {
    let invalid_update = mock!(Client::update_pull_request_status)
        .sequence()
        .http_status(400, error("InvalidPullRequestStatusUpdateException"))
        .build();
    let already = mock!(Client::update_pull_request_status)
        .sequence()
        .http_status(400, error("PullRequestAlreadyClosedException"))
        .build();
    let merges = adapter(&[&invalid_update, &already]);
    for _ in 0..2 {
        merges
            .close_pull_request(&PullRequestId::new("27"))
            .await
            .expect("already closed");
    }
}

#[tokio::test]
async fn closing_a_missing_pull_request_is_gone() {
    let rule = mock!(Client::update_pull_request_status)
        .sequence()
        .http_status(400, error("PullRequestDoesNotExistException"))
        .build();
    let err = adapter(&[&rule])
        .close_pull_request(&PullRequestId::new("27"))
        .await
        .expect_err("no pull request");
    assert!(
        matches!(
            err,
            PortError::Gone {
                call: "codecommit:UpdatePullRequestStatus",
                ..
            }
        ),
        "{err:?}"
    );
}
