//! Reuse of passed results on AWS, told with the fakes: gate-report records the passes of the
//! checks with `reuse: true` in the ledger, and gate-start takes a check that stands on one
//! out of the execution (docs/design.md, "Reuse of passed results on AWS").
//!
//! The trusted gate file marks `api-tests` (components `api`, which depends on `core`) and
//! `fmt` (no components: it sees every file) with `reuse: true`. The PR's first run (source
//! commit 10, merge base 1, destination 2) changes `services/api/src/refund.rs`.

use crate::world;

use codecommit_gate::flows::gate_report::ReportOutcome;
use codecommit_gate::flows::gate_start::StartOutcome;
use codecommit_gate::ids::CheckName;
use codecommit_gate::machine::{CheckRun, ExecutionInput};
use codecommit_gate::plan::ChangedPath;
use codecommit_gate::policy::{CheckStatus, Verdict};
use codecommit_gate::ports::{ApprovalState, PortError, PullRequests};
use codecommit_gate::reuse::ledger::LedgerPasses;
use world::*;

/// The destination's gate file with `reuse: true` on `fmt` and `api-tests`.
fn gate_file() -> String {
    let gate = GATE_FILE
        .replace(
            "commands: [cargo fmt --check]}",
            "commands: [cargo fmt --check], reuse: true}",
        )
        .replace(
            "env: {RUST_LOG: debug}}",
            "env: {RUST_LOG: debug}, reuse: true}",
        );
    assert_eq!(gate.matches("reuse: true").count(), 2);
    gate
}

fn checks(input: &ExecutionInput) -> Vec<String> {
    input
        .stages
        .iter()
        .flat_map(|s| s.checks.iter().map(|c| c.name.as_str().to_owned()))
        .collect()
}

/// The PR's first run, passed and reported: both checks' passes recorded.
async fn first_passed() -> (World, ExecutionInput) {
    let w = World::new();
    w.destination_gate_file(DEST, &gate_file());
    w.commit_files(10, &gate_file(), &["services/api/src/refund.rs"]);
    w.send(w.pr_event("pullRequestCreated", 10)).await;
    let first = w.last_input();
    assert_eq!(checks(&first), ["fmt", "api-tests"]);
    let outcome = w
        .report(&first, &[passed_run("fmt", 1), passed_run("api-tests", 1)])
        .await;
    assert!(matches!(
        outcome,
        ReportOutcome::Reported {
            verdict: Verdict::Passed,
            ..
        }
    ));
    (w, first)
}

/// A push of commit `n` that changes `since_10` relative to commit 10 (and `refund.rs` plus
/// `since_10` relative to the merge base); the input of the run it starts, if one started.
async fn push(w: &World, n: u8, since_10: &[&str]) -> StartOutcome {
    let mut changed = vec!["services/api/src/refund.rs"];
    changed.extend(since_10);
    w.commit_files(n, &gate_file(), &changed);
    w.cc.put_diff(
        &commit(10),
        &commit(n),
        since_10.iter().map(|p| ChangedPath::new(*p)).collect(),
    );
    w.cc.push(&w.pr, &commit(n), &revision(n));
    w.send(w.pr_event("pullRequestSourceBranchUpdated", n))
        .await
}

/// What the comment says of a check that stands on `first`'s pass (Markdown-escaped).
fn reused_words(first: &ExecutionInput) -> String {
    format!(
        "✅ passed · passed on identical inputs in run {} (commit {})",
        first.execution_name.replace('-', "\\-"),
        commit(10).short()
    )
    .replace('(', "\\(")
    .replace(')', "\\)")
}

fn stored(w: &World) -> LedgerPasses {
    w.ledger.stored_reuse_passes(&w.repo).unwrap_or_default()
}

#[tokio::test]
async fn a_pass_is_recorded_and_an_unrelated_change_reuses_it() {
    let (w, first) = first_passed().await;
    let passes = stored(&w);
    let recorded: Vec<(&str, &str)> = passes
        .passes
        .iter()
        .map(|p| (p.pass.check.as_str(), p.pass.reused.run.as_str()))
        .collect();
    assert_eq!(
        recorded,
        [
            ("fmt", first.execution_name.as_str()),
            ("api-tests", first.execution_name.as_str())
        ]
    );
    let api = &passes.passes[1];
    assert_eq!(
        (
            api.destination.as_str(),
            api.source_branch.as_str(),
            api.inputs.base.as_str(),
            api.inputs.destination.as_str(),
            api.inputs.source.as_str(),
            api.pass.reused.commit.as_str()
        ),
        (
            "main",
            "feature/x",
            commit(BASE).as_str(),
            commit(DEST).as_str(),
            commit(10).as_str(),
            commit(10).as_str()
        )
    );

    // Commit 11 changes the web component only: api-tests stands on run 1, fmt (which sees
    // every file) runs.
    push(&w, 11, &["web/app.js"]).await;
    let second = w.last_input();
    assert_eq!(checks(&second), ["fmt", "docs-links", "web-tests"]);
    let reused = &second.carried_results;
    assert_eq!(reused.len(), 1);
    assert_eq!(reused[0].name, CheckName::from("api-tests"));
    assert_eq!(reused[0].status, CheckStatus::Passed);
    let on = reused[0].reused.as_ref().expect("a reused result");
    assert_eq!(
        (on.run.as_str(), on.commit.as_str()),
        (first.execution_name.as_str(), commit(10).as_str())
    );
    let recordable = second.reuse.as_ref().expect("fmt runs with reuse: true");
    assert_eq!(
        recordable.definitions.keys().collect::<Vec<_>>(),
        ["fmt"],
        "a reused check is not recorded again"
    );

    // gate-report counts it as passed and says where it passed.
    let outcome = w
        .report(
            &second,
            &[
                passed_run("fmt", 1),
                passed_run("docs-links", 1),
                passed_run("web-tests", 1),
            ],
        )
        .await;
    assert!(
        matches!(
            outcome,
            ReportOutcome::Reported {
                verdict: Verdict::Passed,
                ..
            }
        ),
        "{outcome:?}"
    );
    let comment = w.gate_comments().pop().expect("the verdict comment");
    assert!(comment.contains(&reused_words(&first)), "{comment}");
    assert_eq!(w.approval(11), Some(ApprovalState::Approve));
}

#[tokio::test]
async fn a_change_of_a_covered_path_or_a_global_file_runs_the_check_again() {
    for (n, changed) in [
        (11, "libs/core/src/money.rs"), // core: api depends on it
        (12, "services/api/src/refund.rs"),
        (13, ".gate.yml"), // global
    ] {
        let (w, _) = first_passed().await;
        push(&w, n, &[changed]).await;
        let input = w.last_input();
        assert!(
            checks(&input).contains(&"api-tests".to_owned()),
            "{changed}: {:?}",
            checks(&input)
        );
        assert!(input.carried_results.is_empty(), "{changed}");
    }
}

#[tokio::test]
async fn a_change_of_the_check_definition_runs_it_again() {
    let (w, _) = first_passed().await;
    // The trusted file now runs api-tests with another command.
    w.destination_gate_file(
        DEST,
        &gate_file().replace("cargo test -p api", "cargo test -p api --locked"),
    );
    push(&w, 11, &["web/app.js"]).await;
    assert!(checks(&w.last_input()).contains(&"api-tests".to_owned()));
    assert!(w.last_input().carried_results.is_empty());
}

#[tokio::test]
async fn only_the_trusted_gate_file_can_turn_reuse_on() {
    let w = World::new();
    // The destination's file has no reuse; the PR's own file turns it on.
    w.commit_files(
        10,
        &gate_file(),
        &["services/api/src/refund.rs", ".gate.yml"],
    );
    w.send(w.pr_event("pullRequestCreated", 10)).await;
    let first = w.last_input();
    assert_eq!(
        first.reuse, None,
        "nothing to record: the trusted file reuses nothing"
    );
    w.report(&first, &[passed_run("fmt", 1), passed_run("api-tests", 1)])
        .await;
    assert_eq!(w.ledger.stored_reuse_passes(&w.repo), None);
}

#[tokio::test]
async fn a_flaky_pass_and_a_failure_are_not_recorded() {
    let w = World::new();
    w.destination_gate_file(DEST, &gate_file());
    w.commit_files(10, &gate_file(), &["services/api/src/refund.rs"]);
    w.send(w.pr_event("pullRequestCreated", 10)).await;
    let first = w.last_input();
    let runs: [CheckRun; 2] = [
        failed_run("fmt", "FAILED"),
        passed_run("api-tests", 2), // passed on its second attempt: flaky
    ];
    w.report(&first, &runs).await;
    assert_eq!(w.ledger.stored_reuse_passes(&w.repo), None);
    push(&w, 11, &["web/app.js"]).await;
    assert!(checks(&w.last_input()).contains(&"api-tests".to_owned()));
}

#[tokio::test]
async fn a_failed_read_runs_the_check() {
    // The recorded passes cannot be read.
    let (w, _) = first_passed().await;
    w.ledger.fail_next_reuse_read(PortError::Transient {
        call: "dynamodb:GetItem",
        message: "ProvisionedThroughputExceededException".into(),
    });
    push(&w, 11, &["web/app.js"]).await;
    let input = w.last_input();
    assert!(checks(&input).contains(&"api-tests".to_owned()));
    assert!(input.carried_results.is_empty());

    // The differences cannot be read (the fake knows no difference from 10 to 12).
    let (w, _) = first_passed().await;
    w.commit_files(12, &gate_file(), &["services/api/src/refund.rs"]);
    w.cc.push(&w.pr, &commit(12), &revision(12));
    let outcome = w
        .send(w.pr_event("pullRequestSourceBranchUpdated", 12))
        .await;
    assert!(
        matches!(outcome, StartOutcome::Started { .. }),
        "{outcome:?}"
    );
    assert!(checks(&w.last_input()).contains(&"api-tests".to_owned()));
}

#[tokio::test]
async fn a_new_commit_with_nothing_changed_runs_nothing_and_is_approved() {
    let (w, first) = first_passed().await;
    let executions = w.sfn.executions().len();
    let outcome = push(&w, 11, &[]).await;
    assert!(
        matches!(outcome, StartOutcome::Decided { approved: true, .. }),
        "{outcome:?}"
    );
    assert_eq!(w.sfn.executions().len(), executions, "no execution");
    let comment = w.gate_comments().pop().expect("the verdict comment");
    assert!(comment.contains(&reused_words(&first)), "{comment}");
    assert_eq!(w.approval(11), Some(ApprovalState::Approve));
}

/// The destination moved from 2 to 3 (changing `changed`), and the PR was rebased onto it as
/// commit 14 (its own change still `refund.rs`); the event of the push.
async fn rebased(w: &World, changed: &str) {
    let mut pr = w.deps.prs.pull_request(&w.pr).await.expect("the PR");
    pr.destination_commit = commit(3);
    pr.merge_base = Some(commit(3));
    pr.source_commit = commit(14);
    pr.revision_id = revision(14);
    w.cc.put_pull_request(pr);
    w.destination_gate_file(3, &gate_file());
    w.commit_files(14, &gate_file(), &[]);
    let refund = vec![ChangedPath::new("services/api/src/refund.rs")];
    w.cc.put_diff(&commit(3), &commit(14), refund);
    for before in [BASE, DEST, 10] {
        let after = if before == 10 { 14 } else { 3 };
        w.cc.put_diff(
            &commit(before),
            &commit(after),
            vec![ChangedPath::new(changed)],
        );
    }
    w.send(w.pr_event("pullRequestSourceBranchUpdated", 14))
        .await;
}

#[tokio::test]
async fn a_rebase_that_leaves_the_checks_files_alone_reuses_the_pass() {
    let (w, first) = first_passed().await;
    rebased(&w, "web/index.html").await;
    let input = w.last_input();
    assert_eq!(input.subject.destination_commit, commit(3));
    assert!(!checks(&input).contains(&"api-tests".to_owned()));
    assert_eq!(
        input.carried_results[0]
            .reused
            .as_ref()
            .map(|r| r.run.as_str()),
        Some(first.execution_name.as_str())
    );

    // The same rebase, but the destination changed core: api-tests runs.
    let (w, _) = first_passed().await;
    rebased(&w, "libs/core/lib.rs").await;
    assert!(checks(&w.last_input()).contains(&"api-tests".to_owned()));
}
