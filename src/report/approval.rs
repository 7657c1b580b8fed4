//! The words of a release's approval on AWS: the SNS "approval needed" notice, the answer to a
//! decision (a reply to `/gate approve|reject`, the function URL's `message`, what `gate
//! approve|reject` prints) and the CLI's own messages.
//!
//! The notice says what will be deployed where (components by wave, the commit and the one
//! before, the checks' results), who may approve, until when, and how: by comment and by
//! CLI. It never carries the task token: whoever holds the token can resume the release, and
//! SNS messages go to mailboxes and chat rooms.

use super::escape::{CLIP_ID, CLIP_NAME, CLIP_TEXT, Style, code, text, trusted};
use super::words::{FAILED, NEUTRAL, PASSED, WARNING};
use crate::flows::release_approval::{DecisionOutcome, Verb};
use crate::machine::release::payload::{ApprovalAnswer, ApprovalChannel, ApprovalRequest};
use crate::machine::{CheckRun, RunOutcome, StageChain};
use crate::release::ApprovalDecision;
use std::fmt::Write as _;

/// The SNS subject of a release waiting for an approval.
pub fn approval_needed_subject(request: &ApprovalRequest) -> String {
    let input = &request.input;
    format!(
        "Approval needed: {} to {}",
        text(input.repository.as_str(), Style::Plain, CLIP_NAME),
        text(&input.environment, Style::Plain, CLIP_NAME)
    )
}

/// The SNS message of a release waiting for an approval until `expires_at`.
pub fn approval_needed(request: &ApprovalRequest, expires_at: &str) -> String {
    let input = &request.input;
    let plain = |t: &str| text(t, Style::Plain, CLIP_TEXT);
    let (repository, environment) = (plain(input.repository.as_str()), plain(&input.environment));
    let mut out = format!(
        "The release of {repository} to {environment} waits for an approval until {}.\n\n",
        plain(expires_at)
    );
    let previous = input.previous.as_ref().map_or_else(
        || "none: the first release".to_owned(),
        |p| plain(p.as_str()),
    );
    let _ = writeln!(out, "Commit: {}", plain(input.commit.as_str()));
    let _ = writeln!(out, "Previous release: {previous}");
    out.push_str(&waves_text(&input.plan.wave_names()));
    out.push_str(&checks_text(request.checks.as_ref()));
    let approvers = input
        .approval
        .as_ref()
        .map(|a| a.approvers.iter().map(|p| plain(p)).collect::<Vec<_>>())
        .unwrap_or_default();
    let _ = writeln!(out, "Who may approve: {}", approvers.join(", "));
    let _ = write!(
        out,
        "\nTo approve, comment on the pull request that brought this commit to its branch:\n  \
         /gate approve {environment}\nor run:\n  gate approve --repository {repository} \
         --environment {environment}\nTo reject: /gate reject {environment} -- <reason>, or \
         gate reject --repository {repository} --environment {environment} --reason \
         \"<reason>\".\nThe author of the change cannot be its only approver. Until someone \
         approves, nothing is deployed.\n"
    );
    out
}

/// The deploys, one line per wave.
fn waves_text(waves: &[Vec<&str>]) -> String {
    if waves.is_empty() {
        return "Deploys: nothing (only the checks ran)\n".to_owned();
    }
    let mut out = "Deploys, wave by wave:\n".to_owned();
    for (i, wave) in waves.iter().enumerate() {
        let names: Vec<String> = wave
            .iter()
            .map(|n| text(n, Style::Plain, CLIP_NAME))
            .collect();
        let _ = writeln!(out, "  {}. {}", i + 1, names.join(", "));
    }
    out
}

/// Every check run of a stage chain, first stage first.
fn chain_runs(chain: Option<&StageChain>) -> Vec<&CheckRun> {
    let mut stages = Vec::new();
    let mut link = chain;
    while let Some(stage) = link {
        stages.push(stage);
        link = stage.prev.as_deref();
    }
    stages.iter().rev().flat_map(|s| s.results.iter()).collect()
}

/// The checks' results, one line each.
fn checks_text(chain: Option<&StageChain>) -> String {
    let runs = chain_runs(chain);
    if runs.is_empty() {
        return "Checks: none ran\n".to_owned();
    }
    let mut out = "Checks:\n".to_owned();
    for run in runs {
        let word = match run.outcome {
            RunOutcome::Passed => "passed",
            RunOutcome::Failed => "failed",
            RunOutcome::Errored => "errored",
            RunOutcome::TimedOut => "timed out",
        };
        let optional = if run.required { "" } else { " (optional)" };
        let _ = writeln!(
            out,
            "  {}: {word}{optional}",
            text(run.name.as_str(), Style::Plain, CLIP_NAME)
        );
    }
    out
}

/// The answer to a decision, for a pull-request reply (Markdown).
pub fn decision_reply(outcome: &DecisionOutcome, environment: &str) -> String {
    decision_text(outcome, environment, Style::Md)
}

/// The answer to a decision, as plain text (the function URL's `message`, the CLI).
pub fn decision_message(outcome: &DecisionOutcome, environment: &str) -> String {
    decision_text(outcome, environment, Style::Plain)
}

fn decision_text(outcome: &DecisionOutcome, environment: &str, style: Style) -> String {
    let env = code(environment, style, CLIP_NAME);
    match outcome {
        DecisionOutcome::Decided { answer, commit } => {
            let commit = code(commit.short(), style, CLIP_ID);
            let recorded = recorded(answer, style);
            if answer.decision == ApprovalDecision::Approved {
                format!("{PASSED} Approved: the release of {commit} to {env} goes on. {recorded}")
            } else {
                let reason = answer.reason.as_deref().map_or_else(String::new, |r| {
                    format!(" Reason: {}.", text(r, style, CLIP_TEXT))
                });
                format!(
                    "{FAILED} Rejected: the release of {commit} to {env} ends and nothing is \
                     deployed.{reason} {recorded}"
                )
            }
        }
        DecisionOutcome::Refused {
            attempt,
            verb,
            approvers,
        } => refused_text(attempt, *verb, approvers, &env, style),
        DecisionOutcome::NothingWaits => {
            format!("{NEUTRAL} Nothing to decide: no release to {env} waits for an approval.")
        }
        DecisionOutcome::DecidedBefore { answer } => format!(
            "{NEUTRAL} The release to {env} was already {} by {} at {}; this changes nothing.",
            decision_word(answer.decision),
            code(&answer.approver, style, CLIP_TEXT),
            text(&answer.at, style, CLIP_ID)
        ),
        DecisionOutcome::NoLongerWaits => format!(
            "{NEUTRAL} The release to {env} no longer waits for an approval (the wait timed out \
             or the release ended); nothing was decided."
        ),
    }
}

/// Why an attempt was refused, and that the release keeps waiting.
fn refused_text(
    attempt: &ApprovalAnswer,
    verb: Verb,
    approvers: &[String],
    env: &str,
    style: Style,
) -> String {
    let who = code(&attempt.approver, style, CLIP_TEXT);
    let verb = verb.as_str();
    let why = if attempt.decision == ApprovalDecision::Author {
        format!(
            "{who} wrote part of this release and cannot approve it alone: another approver must."
        )
    } else {
        let list: Vec<String> = approvers
            .iter()
            .map(|a| code(a, style, CLIP_TEXT))
            .collect();
        format!(
            "{who} may not {verb} releases to {env} (approvers: {}).",
            list.join(", ")
        )
    };
    format!(
        "{WARNING} Refused: {why} The release keeps waiting; the attempt is recorded ({}).",
        how(attempt, style)
    )
}

/// "Recorded: who, when, how."
fn recorded(answer: &ApprovalAnswer, style: Style) -> String {
    format!("Recorded: {}.", how(answer, style))
}

fn how(answer: &ApprovalAnswer, style: Style) -> String {
    let channel = match answer.channel {
        ApprovalChannel::Comment => "by a pull request comment",
        ApprovalChannel::FunctionUrl => "by the gate CLI (function URL)",
    };
    format!(
        "{} at {} {channel}",
        code(&answer.approver, style, CLIP_TEXT),
        text(&answer.at, style, CLIP_ID)
    )
}

fn decision_word(decision: ApprovalDecision) -> &'static str {
    match decision {
        ApprovalDecision::Approved => "approved",
        _ => "rejected",
    }
}

/// The reply to an approval command that does not parse.
pub fn command_problem(line: &str, problem: &str) -> String {
    format!(
        "{FAILED} {}: {}",
        code(line, Style::Md, CLIP_TEXT),
        trusted(problem, Style::Md, CLIP_TEXT)
    )
}

/// The reply when the stack releases no environment of that name.
pub fn unknown_environment(environment: &str) -> String {
    format!(
        "{FAILED} This stack releases no environment {}: nothing to decide.",
        code(environment, Style::Md, CLIP_NAME)
    )
}

/// The reply on a pull request that does not go to the environment's branch.
pub fn wrong_pull_request(environment: &str, branch: &str) -> String {
    format!(
        "{FAILED} Releases to {} are decided on the pull request that brought the commit to \
         {}; this pull request goes elsewhere, so nothing was decided.",
        code(environment, Style::Md, CLIP_NAME),
        code(branch, Style::Md, CLIP_NAME)
    )
}

/// What the CLI says when it does not know the function URL.
pub fn missing_approve_url(verb: Verb) -> String {
    format!(
        "gate {}: no function URL: pass --url, or set GATE_APPROVE_URL to the stack's \
         `ApproveUrl` output (aws cloudformation describe-stacks --query \
         \"Stacks[0].Outputs[?OutputKey=='ApproveUrl'].OutputValue\" --output text)",
        verb.as_str()
    )
}
