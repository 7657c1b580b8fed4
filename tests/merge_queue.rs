//! The merge queue on AWS, as stories against the in-memory CodeCommit, queues and runs:
//! `/gate merge` queues a pull request, the gate tests the merge of its source onto the
//! destination's tip on a gate branch, and moves the destination to exactly that commit when
//! the checks pass. Every story ends by checking the rule: main only ever moved to a commit a
//! passing run tested on the commit main pointed at just before.

use crate::queue_world;

use codecommit_gate::merge_queue::gate_branch;
use codecommit_gate::ports::PrStatus;
use queue_world::*;

#[tokio::test]
async fn a_queued_pull_request_is_tested_on_the_tip_and_merged_as_tested() {
    let w = QueueWorld::new(&gate_file(1, ""));
    let pr = w.open_pr(1, AUTHOR);
    let before = w.tip();

    w.comment(&pr, AUTHOR, "/gate merge squash").await;

    assert_eq!(w.queued().await, ["1"]);
    let comment = w.queue_comment(&pr).expect("the queue comment");
    assert!(comment.contains("first in line"), "{comment}");
    let run = w.run_of(&pr);
    assert_eq!(run.testing.tested_on, before);
    assert_eq!(
        w.repo.tip(&gate_branch(MAIN, &pr)),
        Some(run.testing.merge_commit.clone()),
        "the checks build the merge commit by the gate branch"
    );
    assert_eq!(w.tip(), before, "nothing moves before the checks pass");

    w.finish(&run, true).await;

    assert_eq!(w.tip(), run.testing.merge_commit);
    assert!(w.repo.contains(&w.tip(), "pr1"));
    assert_eq!(w.repo.tree(&w.tip()), run.testing.tree);
    assert!(w.queued().await.is_empty());
    assert_eq!(
        w.repo.tip(&gate_branch(MAIN, &pr)),
        None,
        "the gate branch is deleted"
    );
    let pr_now = w.cc.pull_request_now(&pr).expect("the PR");
    assert_eq!(pr_now.status, PrStatus::Closed);
    let comment = w.queue_comment(&pr).expect("a queue comment");
    assert!(
        comment.contains("Merged") && comment.contains(&run.testing.merge_commit.as_str()[..8]),
        "{comment}"
    );
    assert_eq!(
        w.cc.comments(&pr)
            .iter()
            .filter(|c| c.data.author_arn == GATE_ARN && c.in_reply_to.is_none())
            .count(),
        1,
        "one sticky queue comment, updated"
    );
    w.assert_main_only_moved_to_tested_commits();
}

#[tokio::test]
async fn who_may_queue_follows_the_destinations_gate_file() {
    let w = QueueWorld::new(&gate_file(1, ""));
    let pr = w.open_pr(1, AUTHOR);

    w.comment(&pr, STRANGER, "/gate merge").await;
    assert!(w.queued().await.is_empty(), "a stranger cannot queue");
    w.comment(&pr, AUTHOR, "/gate merge --priority").await;
    assert!(
        w.queued().await.is_empty(),
        "priority is for the skip authors"
    );
    w.comment(&pr, AUTHOR, "/gate merge rebase").await;
    let replies = w.replies(&pr);
    assert_eq!(replies.len(), 3, "{replies:#?}");
    assert!(replies[0].contains("may not queue"));
    assert!(replies[1].contains("--priority"));
    assert!(replies[2].contains("rebase"));

    w.comment(&pr, LEAD, "/gate merge").await;
    assert_eq!(
        w.queued().await,
        ["1"],
        "a skip author may queue another's PR"
    );
    w.comment(&pr, STRANGER, "/gate unqueue").await;
    assert_eq!(w.queued().await, ["1"], "a stranger cannot take it out");
    w.comment(&pr, AUTHOR, "/gate unqueue").await;
    assert!(w.queued().await.is_empty());
    assert!(
        w.queue_comment(&pr)
            .expect("a queue comment")
            .contains("/gate unqueue")
    );
    assert_eq!(w.repo.tip(&gate_branch(MAIN, &pr)), None);
}

#[tokio::test]
async fn allowed_authors_narrow_who_may_queue() {
    let extra = "  allowed_authors: [\"arn:aws:sts::123456789012:assumed-role/Leads/*\"]\n";
    let w = QueueWorld::new(&gate_file(1, extra));
    let pr = w.open_pr(1, AUTHOR);
    w.comment(&pr, AUTHOR, "/gate merge").await;
    assert!(
        w.queued().await.is_empty(),
        "the author is not in merge.allowed_authors"
    );
    w.comment(&pr, LEAD, "/gate merge").await;
    assert_eq!(w.queued().await, ["1"]);
}

#[tokio::test]
async fn two_pull_requests_merge_in_order_each_tested_on_the_tip_it_lands_on() {
    let w = QueueWorld::new(&gate_file(1, ""));
    let (a, b) = (w.open_pr(1, AUTHOR), w.open_pr(2, OTHER_AUTHOR));
    w.comment(&a, AUTHOR, "/gate merge").await;
    w.comment(&b, OTHER_AUTHOR, "/gate merge").await;
    assert_eq!(w.queued().await, ["1", "2"]);
    assert!(
        w.queue_comment(&b)
            .expect("a queue comment")
            .contains("position 2")
    );
    assert_eq!(w.running().len(), 1, "depth 1: one at a time");

    w.finish(&w.run_of(&a), true).await;
    let run_b = w.run_of(&b);
    assert_eq!(
        run_b.testing.tested_on,
        w.tip(),
        "b is tested on the tip a landed"
    );
    w.finish(&run_b, true).await;

    assert!(w.repo.contains(&w.tip(), "pr1") && w.repo.contains(&w.tip(), "pr2"));
    assert_eq!(w.repo.moves(MAIN).len(), 3);
    w.assert_main_only_moved_to_tested_commits();
}

#[tokio::test]
async fn priority_goes_ahead_of_the_waiting_entries() {
    let w = QueueWorld::new(&gate_file(1, ""));
    let (a, b, c) = (
        w.open_pr(1, AUTHOR),
        w.open_pr(2, AUTHOR),
        w.open_pr(3, AUTHOR),
    );
    w.comment(&a, AUTHOR, "/gate merge").await;
    w.comment(&b, AUTHOR, "/gate merge").await;
    w.comment(&c, LEAD, "/gate merge --priority").await;
    assert_eq!(w.queued().await, ["3", "1", "2"]);
}

#[tokio::test]
async fn when_the_destination_moves_during_a_test_the_entry_is_tested_again() {
    let w = QueueWorld::new(&gate_file(1, ""));
    let pr = w.open_pr(1, AUTHOR);
    w.comment(&pr, AUTHOR, "/gate merge").await;
    let first = w.run_of(&pr);

    let pushed = w.push_main("hotfix").await;

    assert!(w.checks.was_stopped(&first.testing.execution_name));
    let second = w.run_of(&pr);
    assert_eq!(second.testing.tested_on, pushed);
    w.finish(&first, true).await;
    assert_eq!(w.tip(), pushed, "a pass on the old tip moves nothing");

    // The destination moves again between the pass and the fast-forward.
    w.repo.push_before_next_fast_forward(MAIN, &["race"]);
    w.finish(&second, true).await;
    let raced = w.tip();
    assert!(w.repo.contains(&raced, "race") && !w.repo.contains(&raced, "pr1"));
    w.direct.lock().expect("not poisoned").insert(raced.clone());
    let third = w.run_of(&pr);
    assert_eq!(
        third.testing.tested_on, raced,
        "tested again on the new tip"
    );

    w.finish(&third, true).await;
    assert_eq!(w.tip(), third.testing.merge_commit);
    w.assert_main_only_moved_to_tested_commits();
}

#[tokio::test]
async fn a_failure_ejects_the_head_and_the_next_is_tested_again_without_it() {
    let w = QueueWorld::new(&gate_file(2, ""));
    let (a, b) = (w.open_pr(1, AUTHOR), w.open_pr(2, AUTHOR));
    w.comment(&a, AUTHOR, "/gate merge").await;
    w.comment(&b, AUTHOR, "/gate merge").await;
    let (run_a, run_b) = (w.run_of(&a), w.run_of(&b));
    assert_eq!(
        run_b.testing.tested_on, run_a.testing.merge_commit,
        "b speculates on a"
    );

    let tip = w.tip();
    w.finish(&run_a, false).await;

    assert_eq!(w.tip(), tip);
    assert_eq!(w.queued().await, ["2"]);
    let said = w.queue_comment(&a).expect("a queue comment");
    assert!(
        said.contains("Taken out of the queue") && said.contains(&run_a.testing.execution_name),
        "{said}"
    );
    assert!(
        w.checks.was_stopped(&run_b.testing.execution_name),
        "b's run on a's merge is stopped"
    );
    let again = w.run_of(&b);
    assert_eq!(again.testing.tested_on, tip, "b is tested again, without a");
    assert!(!w.repo.contains(&again.testing.merge_commit, "pr1"));
    w.finish(&run_b, true).await;
    assert_eq!(
        w.tip(),
        tip,
        "the pass of b's old merge (with a in it) moves nothing"
    );
    w.finish(&again, true).await;
    assert!(w.repo.contains(&w.tip(), "pr2") && !w.repo.contains(&w.tip(), "pr1"));
    w.assert_main_only_moved_to_tested_commits();
}

#[tokio::test]
async fn a_push_to_a_queued_pull_request_drops_it() {
    let w = QueueWorld::new(&gate_file(1, ""));
    let pr = w.open_pr(1, AUTHOR);
    w.comment(&pr, AUTHOR, "/gate merge").await;
    let run = w.run_of(&pr);

    let pushed = w.push_pr(&pr, "more");
    w.source_event(&pr, &pushed).await;

    assert!(w.queued().await.is_empty());
    assert!(w.checks.was_stopped(&run.testing.execution_name));
    assert_eq!(w.repo.tip(&gate_branch(MAIN, &pr)), None);
    assert!(
        w.queue_comment(&pr)
            .expect("a queue comment")
            .contains("Left the queue")
    );
    w.finish(&run, true).await;
    assert_eq!(w.repo.moves(MAIN).len(), 1, "nothing merged");
}

#[tokio::test]
async fn a_push_whose_event_is_late_is_caught_before_landing() {
    let w = QueueWorld::new(&gate_file(1, ""));
    let pr = w.open_pr(1, AUTHOR);
    w.comment(&pr, AUTHOR, "/gate merge").await;
    let run = w.run_of(&pr);
    w.push_pr(&pr, "more");

    w.finish(&run, true).await;

    assert_eq!(
        w.repo.moves(MAIN).len(),
        1,
        "the queued source is no longer the PR's"
    );
    assert!(w.queued().await.is_empty());
    assert!(
        w.queue_comment(&pr)
            .expect("a queue comment")
            .contains("Left the queue")
    );
}

#[tokio::test]
async fn closing_a_queued_pull_request_drops_it_and_the_next_goes() {
    let w = QueueWorld::new(&gate_file(1, ""));
    let (a, b) = (w.open_pr(1, AUTHOR), w.open_pr(2, AUTHOR));
    w.comment(&a, AUTHOR, "/gate merge").await;
    w.comment(&b, AUTHOR, "/gate merge").await;
    let run_a = w.run_of(&a);

    w.close(&a).await;

    assert_eq!(w.queued().await, ["2"]);
    assert!(w.checks.was_stopped(&run_a.testing.execution_name));
    assert!(
        w.queue_comment(&a)
            .expect("a queue comment")
            .contains("closed")
    );
    assert_eq!(w.run_of(&b).testing.tested_on, w.tip());
}

#[tokio::test]
async fn redelivered_events_do_not_act_twice() {
    let w = QueueWorld::new(&gate_file(1, ""));
    let pr = w.open_pr(1, AUTHOR);
    let comment = w.cc.add_comment(&pr, AUTHOR, "/gate merge");
    w.deliver_comment(&pr, &comment).await;
    let again = w.deliver_comment(&pr, &comment).await;
    assert!(!again.changed);
    assert_eq!(w.queued().await, ["1"]);
    assert_eq!(w.checks.started().len(), 1);

    let run = w.run_of(&pr);
    w.finish(&run, true).await;
    let merged = w.tip();
    let after = w.finish(&run, true).await;
    assert!(!after.changed);
    assert_eq!(w.tip(), merged);
    assert_eq!(w.repo.moves(MAIN).len(), 2);
    assert_eq!(
        w.repo.calls.count("codecommit:MergeBranchesByFastForward"),
        1
    );
    w.assert_main_only_moved_to_tested_commits();
}

#[tokio::test]
async fn a_landing_cut_short_after_the_fast_forward_is_finished_by_the_redelivery() {
    let w = QueueWorld::new(&gate_file(1, ""));
    let pr = w.open_pr(1, AUTHOR);
    w.comment(&pr, AUTHOR, "/gate merge").await;
    let run = w.run_of(&pr);
    // The queue's write after the fast-forward fails once: the Lambda errs, the event comes back.
    w.queues.calls.fail_next(
        "dynamodb:PutItem",
        codecommit_gate::ports::PortError::Transient {
            call: "dynamodb:PutItem",
            message: "throttled".into(),
        },
    );
    w.reported
        .lock()
        .expect("not poisoned")
        .insert(run.testing.execution_name.clone(), true);
    w.sync();
    let first = codecommit_gate::flows::merge_queue::run_ended(&w.deps, &end(&run, true)).await;
    assert!(first.is_err());
    w.finish(&run, true).await;
    assert_eq!(w.tip(), run.testing.merge_commit);
    assert!(w.queued().await.is_empty());
    assert!(
        w.queue_comment(&pr)
            .expect("a queue comment")
            .contains("Merged")
    );
    w.assert_main_only_moved_to_tested_commits();
}

#[tokio::test]
async fn depth_two_tests_the_second_on_the_firsts_merge_and_lands_both_without_a_rerun() {
    let w = QueueWorld::new(&gate_file(2, ""));
    let (a, b) = (w.open_pr(1, AUTHOR), w.open_pr(2, AUTHOR));
    w.comment(&a, AUTHOR, "/gate merge").await;
    w.comment(&b, AUTHOR, "/gate merge").await;
    assert_eq!(w.running().len(), 2, "both are tested at once");
    let (run_a, run_b) = (w.run_of(&a), w.run_of(&b));
    assert_eq!(run_b.testing.tested_on, run_a.testing.merge_commit);
    assert_eq!(run_b.testing.built_on, vec![a.clone()]);

    // b finishes first: it waits for a.
    w.finish(&run_b, true).await;
    assert_eq!(w.repo.moves(MAIN).len(), 1);
    w.finish(&run_a, true).await;

    assert_eq!(w.tip(), run_b.testing.merge_commit);
    assert_eq!(w.checks.started().len(), 2, "no run was wasted");
    assert!(w.queued().await.is_empty());
    w.assert_main_only_moved_to_tested_commits();
}

#[tokio::test]
async fn a_conflict_with_the_tip_ejects_the_entry() {
    let w = QueueWorld::new(&gate_file(1, ""));
    let pr = w.open_pr(1, AUTHOR);
    w.repo.conflict("pr1", "hotfix");
    w.push_main("hotfix").await;
    w.comment(&pr, AUTHOR, "/gate merge").await;
    assert!(w.queued().await.is_empty());
    let said = w.queue_comment(&pr).expect("a queue comment");
    assert!(said.contains("conflicts"), "{said}");
    assert!(w.checks.started().is_empty());
}
