//! The merge queue's words (`/gate merge`): the queue comment for each thing that can happen
//! to an entry, and the replies to refused commands, as snapshots. Every queue comment ends in
//! the queue's marker and opens no other HTML comment, whatever a branch or run is called.

use codecommit_gate::ids::{CommitId, PullRequestId, RepositoryName};
use codecommit_gate::merge_queue::command::Refused;
use codecommit_gate::merge_queue::decide::{DropReason, EjectReason, Note, Problem};
use codecommit_gate::ports::merges::QueueStrategy;
use codecommit_gate::report::queue;

fn comment(note: &Note) -> String {
    let (repo, pr) = (RepositoryName::from("payments"), PullRequestId::from("227"));
    let body = queue::comment(&repo, &pr, "main", note);
    let marker = queue::marker(&repo, &pr);
    assert!(body.ends_with(&marker), "marker last:\n{body}");
    assert_eq!(
        body.matches("<!--").count(),
        1,
        "only the marker opens a comment:\n{body}"
    );
    body
}

const TESTED: &str = "9f1c2e3d4b5a69788796a5b4c3d2e1f0a9b8c7d6";

#[test]
fn queued_first_and_further_back() {
    insta::assert_snapshot!(comment(&Note::Queued {
        position: 1,
        strategy: QueueStrategy::Squash
    }));
    insta::assert_snapshot!(comment(&Note::Queued {
        position: 3,
        strategy: QueueStrategy::ThreeWay
    }));
}

#[test]
fn a_full_queue_says_so() {
    insta::assert_snapshot!(comment(&Note::Full { limit: 49 }));
}

#[test]
fn merged_names_the_tested_commit() {
    insta::assert_snapshot!(comment(&Note::Merged {
        commit: CommitId::from(TESTED),
        strategy: QueueStrategy::FastForward
    }));
}

#[test]
fn dropped_says_why() {
    insta::assert_snapshot!(comment(&Note::Dropped(DropReason::SourceUpdated {
        queued: CommitId::from("1111111111111111111111111111111111111111"),
        now: CommitId::from("2222222222222222222222222222222222222222"),
    })));
    insta::assert_snapshot!(comment(&Note::Dropped(DropReason::Closed)));
    insta::assert_snapshot!(comment(&Note::Dropped(DropReason::Unqueued {
        by: "arn:aws:sts::123456789012:assumed-role/Leads/carol".into()
    })));
}

#[test]
fn ejected_says_why() {
    insta::assert_snapshot!(comment(&Note::Ejected(EjectReason::Failed {
        execution_name: "queue-227-1-0123456789abcdef0123456789abcdef".into()
    })));
    insta::assert_snapshot!(comment(&Note::Ejected(EjectReason::Unmergeable(
        Problem::Conflict {
            files: vec!["src/lib.rs".into(), "a `tricky` <!-- name".into()]
        }
    ))));
    insta::assert_snapshot!(comment(&Note::Ejected(EjectReason::Unmergeable(
        Problem::NotFastForward
    ))));
}

#[test]
fn refusals() {
    let replies: Vec<String> = [
        Refused::NotAllowed,
        Refused::PriorityNotAllowed,
        Refused::UnqueueNotAllowed,
    ]
    .into_iter()
    .map(queue::refused)
    .chain([
        queue::not_understood("rebase"),
        queue::not_queued(),
        queue::needs_gate_file(".gate.yml"),
    ])
    .collect();
    insta::assert_snapshot!(replies.join("\n\n"));
}
