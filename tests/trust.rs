//! The trust stories: a pull request cannot weaken, outrun or sidestep the gate that judges it.
//!
//! Each story is an attack a PR author (or a race) could mount on the gate, told against the
//! in-memory CodeCommit, Step Functions, DynamoDB and SNS, with what the gate does about it.
//! docs/reliability.md's threat model names the story for each row.

use crate::world;

use codecommit_gate::event::{self, Event};
use codecommit_gate::flows::gate_report::ReportOutcome;
use codecommit_gate::flows::gate_start::StartOutcome;
use codecommit_gate::machine::ExecutionInput;
use codecommit_gate::plan::ChangedPath;
use codecommit_gate::policy::{CheckStatus, Verdict};
use codecommit_gate::ports::{ApprovalState, ExecutionStatus, Ledger, RunVerdict};
use serde_json::{Value, json};
use world::*;

/// The PR (commit 10) rewrites the gate file to `mine` and changes `changed` besides it.
fn pr_rewrites_gate_file(w: &World, mine: &str, changed: &[&str]) {
    let mut paths = vec![".gate.yml"];
    paths.extend_from_slice(changed);
    w.commit_files(10, mine, &paths);
}

fn started_input(w: &World, outcome: &StartOutcome) -> ExecutionInput {
    assert!(
        matches!(outcome, StartOutcome::Started { .. }),
        "{outcome:?}"
    );
    w.last_input()
}

fn check_names(input: &ExecutionInput) -> Vec<String> {
    input
        .stages
        .iter()
        .flat_map(|s| s.checks.iter().map(|c| c.name.as_str().to_owned()))
        .collect()
}

// ---------------------------------------------------------------------------------------------
// 1. The policy comes from the destination's gate file

/// Every weakening a gate file allows, at once: everything ignored, a failing check deleted,
/// another made optional and `true`, the author in `skip.authors` with a `/gate skip` in the
/// description. The destination's file still decides: every trusted check runs, as defined
/// there, with its `required`, and the skip is refused.
#[tokio::test]
async fn a_pr_cannot_weaken_the_gate_file_that_judges_it() {
    let w = World::new();
    let weak = r#"stages: [lint, test]
components:
  api: {paths: ["services/api/**"]}
checks:
  fmt: {stage: lint, commands: ["true"], required: false}
  web-tests: {stage: test, commands: ["true"], required: false}
ignore: ["**"]
skip:
  checks: [fmt, web-tests]
  authors: ["*"]
"#;
    pr_rewrites_gate_file(&w, weak, &["services/api/src/refund.rs"]);
    let mut pr = w.cc.pull_request_now(&w.pr).expect("pr");
    pr.description = Some("/gate skip fmt -- trust me".into());
    w.cc.put_pull_request(pr);

    let outcome = w.send(w.pr_event("pullRequestCreated", 10)).await;
    let input = started_input(&w, &outcome);
    assert_eq!(
        check_names(&input),
        ["fmt", "docs-links", "api-tests", "web-tests"],
        "every trusted check runs: the PR touches the gate file"
    );
    let fmt = &input.stages[0].checks[0];
    assert!(fmt.required, "still required");
    assert!(
        fmt.buildspec.contains("\"cargo fmt --check\""),
        "the trusted commands: {}",
        fmt.buildspec
    );
    let plan = input.plan.as_ref().expect("plan");
    assert!(
        plan.directives
            .iter()
            .all(|d| !d.accepted && !d.refusals.is_empty()),
        "the description's skip is refused: {:?}",
        plan.directives
    );
    let note = plan.gate_file.as_ref().expect("the gate file note");
    assert_eq!(note.touched, [".gate.yml"]);
    let comment = &w.gate_comments()[0];
    for expected in [
        "**Gate file:** `.gate.yml` from `main`",
        "removes `api-tests`: it still runs until the change is merged",
        "changes `fmt` (`commands`, `required`)",
        "changes `ignore`",
        "changes `skip`",
    ] {
        assert!(
            comment.contains(expected),
            "missing {expected:?}:\n{comment}"
        );
    }
}

/// A promotion rule deleted in the PR's own file still refuses the PR.
#[tokio::test]
async fn a_pr_cannot_delete_the_promotion_rule_that_refuses_it() {
    let w = World::new();
    let mut pr = w.cc.pull_request_now(&w.pr).expect("pr");
    pr.destination_reference = "refs/heads/production".into();
    w.cc.put_pull_request(pr);
    let without_promotion = GATE_FILE.replace("promotion:\n  production: [testing]\n", "");
    pr_rewrites_gate_file(&w, &without_promotion, &[]);
    let outcome = w.send(w.pr_event("pullRequestCreated", 10)).await;
    assert_refused(&outcome);
    assert!(w.sfn.executions().is_empty());
    assert!(
        w.gate_comments()[0].contains("may not merge into `production`"),
        "{}",
        w.gate_comments()[0]
    );
}

/// A check only the PR's file has runs too, with the PR's definition; nothing else changes.
#[tokio::test]
async fn a_check_the_pr_adds_runs_with_the_trusted_ones() {
    let w = World::new();
    let more = GATE_FILE.replace(
        "  docs-links:",
        "  e2e: {stage: verify, commands: [./e2e.sh]}\n  docs-links:",
    );
    let more = more.replace("stages: [lint, test]", "stages: [lint, test, verify]");
    pr_rewrites_gate_file(&w, &more, &[]);
    let outcome = w.send(w.pr_event("pullRequestCreated", 10)).await;
    let input = started_input(&w, &outcome);
    assert_eq!(
        check_names(&input),
        ["fmt", "docs-links", "api-tests", "web-tests", "e2e"]
    );
    assert_eq!(input.stages.last().map(|s| s.name.as_str()), Some("verify"));
    assert!(w.gate_comments()[0].contains("adds `e2e`: it runs now too"));
}

/// The commands of a trusted check's buildspec come from the destination: the PR's edit of
/// the buildspec takes effect once merged, and meanwhile every check runs.
#[tokio::test]
async fn a_pr_cannot_rewrite_a_trusted_buildspec() {
    let w = World::new();
    let with_buildspec = GATE_FILE.replace(
        r#"commands: ["cargo test -p api"]"#,
        "buildspec: ci/api.yml",
    );
    w.destination_gate_file(DEST, &with_buildspec);
    w.cc.put_file(
        &commit(DEST),
        "ci/api.yml",
        "version: 0.2\nphases:\n  build:\n    commands:\n      - cargo test -p api\n",
    );
    w.commit_files(10, &with_buildspec, &["ci/api.yml"]);
    w.cc.put_file(
        &commit(10),
        "ci/api.yml",
        "version: 0.2\nphases:\n  build:\n    commands:\n      - echo all good\n",
    );
    let outcome = w.send(w.pr_event("pullRequestCreated", 10)).await;
    let input = started_input(&w, &outcome);
    let api = input
        .stages
        .iter()
        .flat_map(|s| &s.checks)
        .find(|c| c.name.as_str() == "api-tests")
        .expect("api-tests runs");
    assert!(
        api.buildspec.contains("cargo test -p api"),
        "{}",
        api.buildspec
    );
    assert!(!api.buildspec.contains("all good"), "{}", api.buildspec);
    assert_eq!(check_names(&input).len(), 4, "every check runs");
}

/// A repository without a gate file on the destination: the PR that adds one is told how the
/// first file lands (an administrator), and the gate revokes.
#[tokio::test]
async fn adopting_the_gate_takes_an_administrator() {
    let w = World::new();
    let mut pr = w.cc.pull_request_now(&w.pr).expect("pr");
    pr.destination_commit = commit(14);
    w.cc.put_pull_request(pr);
    w.commit_files(10, GATE_FILE, &[".gate.yml"]);
    let outcome = w.send(w.pr_event("pullRequestCreated", 10)).await;
    assert_refused(&outcome);
    let comment = &w.gate_comments()[0];
    assert!(
        comment.contains("This pull request adds `.gate.yml`, and it is valid (4 checks)"),
        "{comment}"
    );
    assert!(
        comment.contains("overriding its approval rules"),
        "{comment}"
    );
    assert!(
        comment.contains("pushes `.gate.yml` straight to `main`"),
        "{comment}"
    );
    assert_eq!(w.approval(10), Some(ApprovalState::Revoke));
}

/// A broken gate file on the destination blocks every PR until it is fixed there.
#[tokio::test]
async fn an_invalid_destination_gate_file_revokes_and_says_where_to_fix_it() {
    let w = World::new();
    w.destination_gate_file(DEST, "stages: [test]\nchecks: {}\n");
    let outcome = w.send(w.pr_event("pullRequestCreated", 10)).await;
    assert_refused(&outcome);
    let comment = &w.gate_comments()[0];
    assert!(
        comment.contains("The gate file on `main` at `02c0ffee`, the destination, is invalid"),
        "{comment}"
    );
    assert_eq!(w.approval(10), Some(ApprovalState::Revoke));
}

/// `GATE_*` are the gate's own variables: a check that sets one (say, blanks the destination
/// commit to skip the merge prelude) is a gate-file error.
#[tokio::test]
async fn a_check_cannot_set_the_gates_own_variables() {
    let w = World::new();
    let sneaky = GATE_FILE.replace(
        "env: {RUST_LOG: debug}",
        "env: {GATE_DESTINATION_COMMIT: \"\"}",
    );
    pr_rewrites_gate_file(&w, &sneaky, &[]);
    let outcome = w.send(w.pr_event("pullRequestCreated", 10)).await;
    assert_refused(&outcome);
    let comment = &w.gate_comments()[0];
    assert!(
        comment.contains("sets `GATE_DESTINATION_COMMIT`, a variable the gate sets itself"),
        "{comment}"
    );
}

// ---------------------------------------------------------------------------------------------
// 2. The approval rule

const TEMPLATE_RULE: &str = r#"{"Version":"2018-11-08","DestinationReferences":["refs/heads/main"],"Statements":[{"Type":"Approvers","NumberOfApprovalsNeeded":1,"ApprovalPoolMembers":["arn:aws:sts::123456789012:assumed-role/GateReporter/codecommit-gate"]}]}"#;

/// A PR created with the template's rule needs no per-PR rule: one call fewer, and a rule
/// nobody can delete.
#[tokio::test]
async fn the_template_rule_covers_the_pr_and_no_per_pr_rule_is_made() {
    let w = World::new();
    w.cc.put_template_rule(&w.pr, "codecommit-gate", TEMPLATE_RULE);
    w.send(w.pr_event("pullRequestCreated", 10)).await;
    assert_eq!(
        w.cc.calls.count("codecommit:CreatePullRequestApprovalRule"),
        0
    );
    assert_eq!(w.cc.rules(&w.pr).len(), 1);
    assert!(
        !w.cc.delete_rule(&w.pr, "codecommit-gate"),
        "template rules stay"
    );
}

/// A template rule whose pool is not exactly the gate does not count: the gate adds its own.
#[tokio::test]
async fn a_template_rule_with_another_pool_does_not_cover_the_pr() {
    let w = World::new();
    w.cc.put_template_rule(
        &w.pr,
        "team-review",
        &TEMPLATE_RULE.replace("GateReporter/codecommit-gate", "Developer/*"),
    );
    w.send(w.pr_event("pullRequestCreated", 10)).await;
    assert_eq!(
        w.cc.calls.count("codecommit:CreatePullRequestApprovalRule"),
        1
    );
    assert_eq!(w.cc.rules(&w.pr).len(), 2);
}

/// The author made a rule with the gate's name before the gate saw the PR, with a pool of
/// their own: the gate makes its content the gate's.
#[tokio::test]
async fn a_look_alike_rule_made_first_is_taken_over() {
    let w = World::new();
    let mut pr = w.cc.pull_request_now(&w.pr).expect("pr");
    pr.approval_rules
        .push(codecommit_gate::ports::ApprovalRule::on_pull_request(
            "codecommit-gate",
            TEMPLATE_RULE.replace("GateReporter/codecommit-gate", "Developer/alice"),
        ));
    w.cc.put_pull_request(pr);
    w.send(w.pr_event("pullRequestCreated", 10)).await;
    let rules = w.cc.rules(&w.pr);
    assert_eq!(rules.len(), 1);
    assert!(
        rules[0].1.contains("GateReporter/codecommit-gate"),
        "{rules:?}"
    );
    assert_eq!(
        w.cc.calls
            .count("codecommit:UpdatePullRequestApprovalRuleContent"),
        1
    );
}

fn rule_event(w: &World, kind: &str, rule: &str, by: &str) -> Event {
    let text =
        std::fs::read_to_string("tests/data/events/codecommit-pr-approval-rule-deleted.json")
            .expect("fixture");
    let mut e: Value = serde_json::from_str(&text).expect("JSON");
    let d = &mut e["detail"];
    d["event"] = json!(kind);
    d["approvalRuleName"] = json!(rule);
    d["callerUserArn"] = json!(by);
    d["pullRequestId"] = json!(w.pr.as_str());
    d["repositoryNames"] = json!([w.repo.as_str()]);
    d["sourceCommit"] = json!(commit(10).as_str());
    event::parse_value(e).expect("a valid event")
}

/// Someone deletes the gate's per-PR rule: the gate notices, puts it back and tells the team.
#[tokio::test]
async fn a_deleted_gate_rule_is_put_back_and_reported() {
    let w = World::new();
    w.send(w.pr_event("pullRequestCreated", 10)).await;
    assert!(w.cc.delete_rule(&w.pr, "codecommit-gate"));
    assert!(w.cc.rules(&w.pr).is_empty());
    let outcome = w
        .send(rule_event(
            &w,
            "pullRequestApprovalRuleDeleted",
            "codecommit-gate",
            STRANGER,
        ))
        .await;
    assert_eq!(outcome, StartOutcome::RuleGuarded { restored: true });
    assert_eq!(w.cc.rules(&w.pr).len(), 1);
    let (subject, message) = w.sns.messages().pop().expect("a notice");
    assert!(
        subject.starts_with("Gate approval rule changed"),
        "{subject}"
    );
    assert!(
        message.contains(STRANGER) && message.contains("put its rule back"),
        "{message}"
    );
}

/// Someone edits the gate's rule to let themselves approve: the content is restored.
#[tokio::test]
async fn an_edited_gate_rule_is_restored() {
    let w = World::new();
    w.send(w.pr_event("pullRequestCreated", 10)).await;
    let weak = TEMPLATE_RULE.replace("GateReporter/codecommit-gate", "Developer/alice");
    assert!(w.cc.edit_rule(&w.pr, "codecommit-gate", &weak));
    let outcome = w
        .send(rule_event(
            &w,
            "pullRequestApprovalRuleUpdated",
            "codecommit-gate",
            AUTHOR,
        ))
        .await;
    assert_eq!(outcome, StartOutcome::RuleGuarded { restored: true });
    assert!(
        w.cc.rules(&w.pr)[0]
            .1
            .contains("GateReporter/codecommit-gate")
    );
    // The gate's own update event, and other rules, are not the gate's business.
    assert!(matches!(
        w.send(rule_event(
            &w,
            "pullRequestApprovalRuleUpdated",
            "codecommit-gate",
            GATE_ARN
        ))
        .await,
        StartOutcome::Ignored { .. }
    ));
    assert!(matches!(
        w.send(rule_event(
            &w,
            "pullRequestApprovalRuleDeleted",
            "team-review",
            AUTHOR
        ))
        .await,
        StartOutcome::Ignored { .. }
    ));
}

// ---------------------------------------------------------------------------------------------
// 4. Races

/// C1, C2, then C1 again: the third claim gets an execution of its own (today's name would be
/// the first run's, `ExecutionAlreadyExists` would pass for success and the PR would stay
/// "running" forever).
#[tokio::test]
async fn pushing_back_an_older_commit_starts_a_run_of_its_own() {
    let w = World::new();
    w.send(w.pr_event("pullRequestCreated", 10)).await;
    w.push(11, &["services/api/a.rs"]);
    w.send(w.pr_event("pullRequestSourceBranchUpdated", 11))
        .await;
    // C1 again: same commit, new revision.
    w.cc.push(&w.pr, &commit(10), &revision(12));
    let outcome = w
        .send(w.pr_event("pullRequestSourceBranchUpdated", 10))
        .await;
    assert!(
        matches!(outcome, StartOutcome::Started { .. }),
        "{outcome:?}"
    );
    let executions = w.sfn.executions();
    assert_eq!(executions.len(), 3);
    assert_ne!(executions[0].name, executions[2].name);
    assert_eq!(executions[2].status, ExecutionStatus::Running);
    assert_eq!(executions[2].input.subject.revision_id, Some(revision(12)));
    // The redelivered event of that claim finds it.
    assert!(matches!(
        w.send(w.pr_event("pullRequestSourceBranchUpdated", 10))
            .await,
        StartOutcome::Duplicate { .. }
    ));
}

/// The claim of a push loses its conditional write to gate-report recording the older run's
/// verdict: the push is re-read and gated, not dropped.
#[tokio::test]
async fn a_push_whose_claim_loses_to_gate_report_is_still_gated() {
    let w = World::new();
    w.send(w.pr_event("pullRequestCreated", 10)).await;
    w.push(11, &["services/api/a.rs"]);
    w.ledger.interleave_next_put(|record| {
        let run = record.run.as_mut().expect("the older run");
        run.verdict = Some(RunVerdict::Failed);
    });
    let outcome = w
        .send(w.pr_event("pullRequestSourceBranchUpdated", 11))
        .await;
    assert!(
        matches!(outcome, StartOutcome::Started { .. }),
        "{outcome:?}"
    );
    let record = w
        .ledger
        .get(&w.repo, &w.pr)
        .await
        .expect("ledger")
        .expect("record");
    assert_eq!(record.run.expect("run").source_commit, commit(11));
}

/// `/gate run` claims a newer run between gate-report's ownership check and its approval: the
/// older run's verdict write conflicts and it approves nothing.
#[tokio::test]
async fn an_older_run_cannot_approve_after_a_command_claimed_a_newer_one() {
    let w = World::new();
    w.send(w.pr_event("pullRequestCreated", 10)).await;
    let input = w.last_input();
    w.ledger.interleave_next_put(|record| {
        let run = record.run.as_mut().expect("run");
        run.execution_name = "gate-my-repo-pr42-newer".into();
        run.execution_arn = None;
        run.attempt += 1;
    });
    let outcome = w
        .report(&input, &[passed_run("fmt", 1), passed_run("api-tests", 1)])
        .await;
    assert!(
        matches!(outcome, ReportOutcome::Ignored { .. }),
        "{outcome:?}"
    );
    assert_eq!(
        w.approval(10),
        Some(ApprovalState::Revoke),
        "never approved"
    );
}

/// The newer run is claimed after the older one recorded its verdict but before it approved:
/// the approval it gave is taken back when it finds the newer run.
#[tokio::test]
async fn an_approval_given_while_a_newer_run_started_is_taken_back() {
    let w = World::new();
    w.send(w.pr_event("pullRequestCreated", 10)).await;
    let input = w.last_input();
    // The verdict claim wins; the "reported" write then finds the newer run.
    w.ledger.interleave_put_after(1, |record| {
        let run = record.run.as_mut().expect("run");
        run.execution_name = "gate-my-repo-pr42-newer".into();
        run.verdict = None;
        run.execution_arn = None;
    });
    let outcome = w
        .report(&input, &[passed_run("fmt", 1), passed_run("api-tests", 1)])
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
    assert_eq!(
        w.cc.approval_history(&w.pr),
        [
            (revision(10), ApprovalState::Revoke),
            (revision(10), ApprovalState::Approve),
            (revision(10), ApprovalState::Revoke),
        ],
        "approved, then taken back: the newer run decides"
    );
}

/// A report whose input names no tested revision cannot be tied to the code that merges.
#[tokio::test]
async fn a_report_without_the_tested_revision_revokes() {
    let w = World::new();
    w.send(w.pr_event("pullRequestCreated", 10)).await;
    let mut input = w.last_input();
    input.subject.revision_id = None;
    let outcome = w
        .report(&input, &[passed_run("fmt", 1), passed_run("api-tests", 1)])
        .await;
    assert!(
        matches!(outcome, ReportOutcome::Reported { .. }),
        "{outcome:?}"
    );
    assert_eq!(w.approval(10), Some(ApprovalState::Revoke));
    assert!(!w.cc.approved_now(&w.pr));
    assert!(
        w.gate_comments()[0].contains("the tested revision is unknown"),
        "{}",
        w.gate_comments()[0]
    );
}

fn branch_moved(w: &World, branch: &str, to: u8) -> Event {
    w.branch_moved(branch, to)
}

/// An approved PR whose destination moves on loses its approval (the merge it tested is not
/// the merge that would happen); `/gate retry` tests the new merge.
async fn approved(w: &World) {
    w.send(w.pr_event("pullRequestCreated", 10)).await;
    let input = w.last_input();
    w.report(&input, &[passed_run("fmt", 1), passed_run("api-tests", 1)])
        .await;
    assert!(w.cc.approved_now(&w.pr));
}

#[tokio::test]
async fn a_moved_destination_revokes_approvals_earned_on_the_old_one() {
    let w = World::new();
    approved(&w).await;
    w.destination_gate_file(20, GATE_FILE);
    let mut pr = w.cc.pull_request_now(&w.pr).expect("pr");
    pr.destination_commit = commit(20);
    w.cc.put_pull_request(pr);
    w.cc.put_diff(
        &commit(BASE),
        &commit(10),
        vec![ChangedPath::new("services/api/x.rs")],
    );

    // Another branch moving changes nothing.
    let other = w.send(branch_moved(&w, "develop", 20)).await;
    assert_eq!(
        other,
        StartOutcome::Outdated {
            checked: 0,
            revoked: 0
        }
    );
    assert!(w.cc.approved_now(&w.pr));

    let outcome = w.send(branch_moved(&w, "main", 20)).await;
    assert_eq!(
        outcome,
        StartOutcome::Outdated {
            checked: 1,
            revoked: 1
        }
    );
    assert!(!w.cc.approved_now(&w.pr));
    let comment = &w.gate_comments()[0];
    assert!(comment.contains("Gate approval withdrawn"), "{comment}");
    assert!(comment.contains("`/gate retry`"), "{comment}");
    // A redelivery does nothing more.
    assert_eq!(
        w.send(branch_moved(&w, "main", 20)).await,
        StartOutcome::Outdated {
            checked: 0,
            revoked: 0
        }
    );

    // `/gate retry` runs every check on the merge onto the new destination.
    let id = w.cc.add_comment(&w.pr, AUTHOR, "/gate retry");
    let outcome = w.send(w.comment_event(&id, AUTHOR)).await;
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
    let input = w.last_input();
    assert_eq!(input.subject.destination_commit, commit(20));
    assert_eq!(check_names(&input), ["fmt", "api-tests"]);
}

#[tokio::test]
async fn strict_false_keeps_approvals_when_the_destination_moves() {
    let w = World::new();
    approved(&w).await;
    w.destination_gate_file(20, &format!("{GATE_FILE}strict: false\n"));
    let outcome = w.send(branch_moved(&w, "main", 20)).await;
    assert!(
        matches!(outcome, StartOutcome::Ignored { .. }),
        "{outcome:?}"
    );
    assert!(w.cc.approved_now(&w.pr));
    let run = w
        .ledger
        .get(&w.repo, &w.pr)
        .await
        .expect("ledger")
        .and_then(|r| r.run)
        .expect("run");
    assert_eq!(run.verdict, Some(RunVerdict::Passed));
    assert_eq!(
        run.results
            .iter()
            .filter(|r| r.status == CheckStatus::Passed)
            .count(),
        2
    );
}

/// Whether CodeCommit makes a new revision when only the destination moves is not documented
/// (docs/design.md). If it does, the approval is void already; the gate still records the run
/// as outdated and says so, and `/gate retry` runs it again on the new revision.
#[tokio::test]
async fn a_moved_destination_that_also_changed_the_revision_is_handled_the_same() {
    let w = World::new();
    approved(&w).await;
    w.destination_gate_file(20, GATE_FILE);
    let mut pr = w.cc.pull_request_now(&w.pr).expect("pr");
    pr.destination_commit = commit(20);
    pr.revision_id = revision(21);
    w.cc.put_pull_request(pr);
    let outcome = w.send(branch_moved(&w, "main", 20)).await;
    assert_eq!(
        outcome,
        StartOutcome::Outdated {
            checked: 1,
            revoked: 1
        }
    );
    assert!(w.gate_comments()[0].contains("Gate approval withdrawn"));
    let id = w.cc.add_comment(&w.pr, AUTHOR, "/gate retry");
    let outcome = w.send(w.comment_event(&id, AUTHOR)).await;
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
    assert_eq!(w.last_input().subject.revision_id, Some(revision(21)));
}

/// A report about a revision that is no longer current approves nothing, and `/gate retry`
/// then runs every check on the current one (it is not "nothing to retry").
#[tokio::test]
async fn a_stale_report_can_be_retried() {
    let w = World::new();
    w.send(w.pr_event("pullRequestCreated", 10)).await;
    let input = w.last_input();
    let mut pr = w.cc.pull_request_now(&w.pr).expect("pr");
    pr.revision_id = revision(22);
    w.cc.put_pull_request(pr);
    w.report(&input, &[passed_run("fmt", 1), passed_run("api-tests", 1)])
        .await;
    assert!(!w.cc.approved_now(&w.pr));
    let id = w.cc.add_comment(&w.pr, AUTHOR, "/gate retry");
    let outcome = w.send(w.comment_event(&id, AUTHOR)).await;
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
    assert_eq!(check_names(&w.last_input()), ["fmt", "api-tests"]);
}
