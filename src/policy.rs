//! Who may do what, and what the results mean: `/gate` directives, promotion rules, the verdict and the approval decision.

use crate::gate_file::Gate;
use crate::ids::{CheckName, RevisionId};
use serde::{Deserialize, Serialize};

/// A `/gate` line from a PR description or comment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "command", rename_all = "snake_case")]
pub enum Directive {
    /// `/gate skip <check>... [-- reason]`: do not run these optional checks.
    Skip {
        /// The checks.
        checks: Vec<CheckName>,
        /// Free text after `--`.
        reason: Option<String>,
    },
    /// `/gate only <check>...`: run only these (required checks run regardless).
    Only {
        /// The checks.
        checks: Vec<CheckName>,
    },
    /// `/gate run <check>...`: also run these, even if no change selects them.
    Run {
        /// The checks.
        checks: Vec<CheckName>,
    },
    /// `/gate retry`: run the failed checks of the current revision again.
    Retry,
}

/// The directive as its `/gate` line (what [`parse_directives`] reads back).
impl std::fmt::Display for Directive {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let join = |checks: &[CheckName]| {
            checks
                .iter()
                .map(CheckName::as_str)
                .collect::<Vec<_>>()
                .join(" ")
        };
        match self {
            Directive::Skip {
                checks,
                reason: Some(r),
            } => write!(f, "/gate skip {} -- {r}", join(checks)),
            Directive::Skip {
                checks,
                reason: None,
            } => write!(f, "/gate skip {}", join(checks)),
            Directive::Only { checks } => write!(f, "/gate only {}", join(checks)),
            Directive::Run { checks } => write!(f, "/gate run {}", join(checks)),
            Directive::Retry => f.write_str("/gate retry"),
        }
    }
}

/// A `/gate` line that could not be understood.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DirectiveSyntaxError {
    /// The line as written.
    pub line: String,
    /// What is wrong.
    pub problem: String,
}

/// The prefix every directive line starts with.
pub const PREFIX: &str = "/gate";

/// The longest description or comment scanned for directives; CodeCommit allows 10,240 characters.
const MAX_SCANNED_BYTES: usize = 16 * 1024;
/// At most this many directives are honoured from one text.
const MAX_DIRECTIVES: usize = 20;

/// The verbs of release approvals (`/gate approve|reject <environment>`): gate-approve
/// answers them; the checks' directives leave them alone.
pub const RELEASE_VERBS: [&str; 2] = ["approve", "reject"];

/// Whether a trimmed `/gate` line is a release approval (`/gate approve ...`,
/// `/gate reject ...`) rather than a check directive.
pub fn is_release_command(line: &str) -> bool {
    line.strip_prefix(PREFIX)
        .and_then(|rest| rest.split_whitespace().next())
        .is_some_and(|verb| RELEASE_VERBS.contains(&verb))
}

/// Finds the `/gate` lines in a text, one directive per line, in order. Release approvals
/// ([`is_release_command`]) are not directives: they are left out, silently.
pub fn parse_directives(text: &str) -> Vec<Result<Directive, DirectiveSyntaxError>> {
    let end = text
        .char_indices()
        .map(|(i, _)| i)
        .find(|&i| i >= MAX_SCANNED_BYTES)
        .unwrap_or(text.len());
    text[..end]
        .lines()
        .map(str::trim)
        .filter(|l| {
            l.strip_prefix(PREFIX)
                .is_some_and(|rest| rest.is_empty() || rest.starts_with(char::is_whitespace))
                && !is_release_command(l)
                && !crate::merge_queue::is_queue_command(l)
        })
        .take(MAX_DIRECTIVES)
        .map(parse_line)
        .collect()
}

fn parse_line(line: &str) -> Result<Directive, DirectiveSyntaxError> {
    let err = |problem: &str| DirectiveSyntaxError {
        line: line.to_owned(),
        problem: problem.to_owned(),
    };
    let rest = line[PREFIX.len()..].trim();
    let (body, reason) = match rest.split_once(" -- ") {
        Some((b, r)) => (b, Some(r.trim().to_owned()).filter(|r| !r.is_empty())),
        None => (rest.strip_suffix(" --").unwrap_or(rest), None),
    };
    let mut words = body.split_whitespace();
    let verb = words.next().unwrap_or_default();
    let checks: Vec<CheckName> = words.map(CheckName::from).collect();
    let need_checks = |d: Directive| {
        if checks.is_empty() {
            Err(err("name at least one check"))
        } else {
            Ok(d)
        }
    };
    match verb {
        "skip" => need_checks(Directive::Skip {
            checks: checks.clone(),
            reason,
        }),
        "only" => need_checks(Directive::Only {
            checks: checks.clone(),
        }),
        "run" => need_checks(Directive::Run {
            checks: checks.clone(),
        }),
        "retry" if checks.is_empty() => Ok(Directive::Retry),
        "retry" => Err(err("`/gate retry` takes no check names")),
        "" => Err(err("missing command: use skip, only, run or retry")),
        _ => Err(err("unknown command: use skip, only, run or retry")),
    }
}

/// Whether `arn` may skip checks (it matches a `skip.authors` glob).
pub fn may_skip(gate: &Gate, arn: &str) -> bool {
    !arn.is_empty() && gate.skip_authors.is_match(arn)
}

/// Whether `requester` may ask for more checks (`/gate run`, `/gate retry`): the PR's author or
/// anyone who may skip. Running more never weakens the gate, but it spends CI minutes.
pub fn may_request_runs(gate: &Gate, requester: &str, pr_author: &str) -> bool {
    (!requester.is_empty() && requester == pr_author) || may_skip(gate, requester)
}

/// A source branch that the gate file's promotion rules do not allow into the destination.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PromotionViolation {
    /// The PR's source branch.
    pub source: String,
    /// The PR's destination branch.
    pub destination: String,
    /// The rule's destination pattern as written.
    pub rule: String,
    /// The sources the rule allows, as written.
    pub allowed: Vec<String>,
}

/// Checks the promotion rules: the first rule whose destination matches decides.
pub fn check_promotion(gate: &Gate, source: &str, destination: &str) -> Option<PromotionViolation> {
    let rule = gate.promotion.iter().find(|r| r.applies_to(destination))?;
    if rule.sources.is_match(source) {
        None
    } else {
        Some(PromotionViolation {
            source: source.to_owned(),
            destination: destination.to_owned(),
            rule: rule.destination.clone(),
            allowed: rule.sources.patterns().to_vec(),
        })
    }
}

/// How one check ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CheckStatus {
    /// Every command succeeded.
    Passed,
    /// A command failed.
    Failed,
    /// It ran past its timeout and was stopped.
    TimedOut,
    /// The infrastructure failed (CodeBuild error, throttling) after every retry.
    Errored,
    /// It never ran: an earlier stage failed, or the run was stopped.
    Cancelled,
    /// The plan skipped it (not affected, skipped by a directive).
    Skipped,
    /// Still running or queued.
    Pending,
}

impl CheckStatus {
    /// Whether this status lets a required check pass the gate.
    pub fn is_success(self) -> bool {
        matches!(self, CheckStatus::Passed | CheckStatus::Skipped)
    }
}

/// The result of one check, from CodeBuild or the local runner.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckResult {
    /// The check.
    pub name: CheckName,
    /// How it ended.
    pub status: CheckStatus,
    /// Wall time of the last attempt in milliseconds, when it ran.
    #[serde(default)]
    pub duration_ms: Option<u64>,
    /// How many attempts it took (1 when it passed first time).
    #[serde(default = "one")]
    pub attempts: u32,
    /// Whether it passed only after a retry.
    #[serde(default)]
    pub flaky: bool,
    /// Where the full log is (CloudWatch deep link, or a local file).
    #[serde(default)]
    pub log_url: Option<String>,
    /// The last lines of the log of a failed attempt.
    #[serde(default)]
    pub log_tail: Option<String>,
    /// What its declared test and coverage reports said, when it declares any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reports: Option<crate::test_reports::CheckReports>,
    /// When it did not run because it passed on identical inputs (`reuse: true`): that run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reused: Option<crate::reuse::Reused>,
}

impl CheckResult {
    /// The result of a check that never started (a failed stage or Ctrl-C kept it from
    /// running): cancelled, no attempts.
    pub fn not_run(name: &CheckName) -> Self {
        Self {
            name: name.clone(),
            status: CheckStatus::Cancelled,
            duration_ms: None,
            attempts: 0,
            flaky: false,
            log_url: None,
            log_tail: None,
            reports: None,
            reused: None,
        }
    }

    /// The result of a check that did not run because it passed on identical inputs in
    /// `reused`: passed, no attempts.
    pub fn reused(name: &CheckName, reused: crate::reuse::Reused) -> Self {
        Self {
            status: CheckStatus::Passed,
            reused: Some(reused),
            ..Self::not_run(name)
        }
    }
}

fn one() -> u32 {
    1
}

/// What a whole run means for the merge.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// Every required check passed or was skipped.
    Passed,
    /// A required check did not pass, or the gate refused the PR.
    Failed,
    /// Checks are still running.
    Pending,
}

/// The verdict of a run of `plan` that produced `results`. Fails closed: a required check the
/// plan runs but that has no result is a failure, unless some check is still pending.
pub fn verdict(plan: &crate::plan::Plan, results: &[CheckResult]) -> Verdict {
    if plan.promotion.is_some() {
        return Verdict::Failed;
    }
    let mut pending = false;
    for check in &plan.checks {
        if !check.run {
            continue;
        }
        let status = results
            .iter()
            .find(|r| r.name == check.name)
            .map(|r| r.status);
        match status {
            Some(CheckStatus::Pending) => pending = true,
            Some(s) if s.is_success() => {}
            _ if !check.required => {}
            _ => return Verdict::Failed,
        }
    }
    if pending {
        Verdict::Pending
    } else {
        Verdict::Passed
    }
}

/// What the gate does to the PR's approval state after a run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "approval", rename_all = "snake_case")]
pub enum ApprovalDecision {
    /// APPROVE exactly this revision.
    Approve {
        /// The tested revision, which is also the current one.
        revision: RevisionId,
    },
    /// REVOKE any approval of this revision.
    Revoke {
        /// The current revision.
        revision: RevisionId,
    },
    /// Leave the approval state alone: the result is about a revision that is no longer current,
    /// or the PR is closed. Never approve in this case.
    Stale,
}

/// The approval decision for a run that tested `tested` while the PR is now at `current`.
pub fn decide_approval(
    verdict: Verdict,
    tested: &RevisionId,
    current: &RevisionId,
    pr_open: bool,
) -> ApprovalDecision {
    if !pr_open || tested != current {
        return ApprovalDecision::Stale;
    }
    match verdict {
        Verdict::Passed => ApprovalDecision::Approve {
            revision: tested.clone(),
        },
        Verdict::Failed | Verdict::Pending => ApprovalDecision::Revoke {
            revision: current.clone(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn release_approvals_are_not_directives() {
        let text = "/gate approve production\n/gate reject staging -- broken\n/gate retry\n/gate approver\n";
        assert_eq!(
            parse_directives(text),
            vec![
                Ok(Directive::Retry),
                Err(DirectiveSyntaxError {
                    line: "/gate approver".into(),
                    problem: "unknown command: use skip, only, run or retry".into()
                })
            ]
        );
        assert!(is_release_command("/gate approve"));
        assert!(!is_release_command("/gate approver x"));
    }

    #[test]
    fn parses_each_directive() {
        let text = "Fixes the parser.\n\n/gate skip docs-lint e2e -- docs only\n  /gate only api-tests\n/gate run e2e\n/gate retry\n/gateway is not a directive\n";
        let got = parse_directives(text);
        assert_eq!(
            got,
            vec![
                Ok(Directive::Skip {
                    checks: vec!["docs-lint".into(), "e2e".into()],
                    reason: Some("docs only".into())
                }),
                Ok(Directive::Only {
                    checks: vec!["api-tests".into()]
                }),
                Ok(Directive::Run {
                    checks: vec!["e2e".into()]
                }),
                Ok(Directive::Retry),
            ]
        );
    }

    #[test]
    fn a_directive_prints_as_the_line_that_parses_back_to_it() {
        let all = [
            Directive::Skip {
                checks: vec!["a".into(), "b".into()],
                reason: Some("docs only".into()),
            },
            Directive::Skip {
                checks: vec!["a".into()],
                reason: None,
            },
            Directive::Only {
                checks: vec!["a".into()],
            },
            Directive::Run {
                checks: vec!["e2e".into()],
            },
            Directive::Retry,
        ];
        for d in all {
            assert_eq!(parse_directives(&d.to_string()), vec![Ok(d.clone())], "{d}");
        }
    }

    #[test]
    fn rejects_bad_directives_with_a_reason() {
        let got = parse_directives("/gate\n/gate skip\n/gate frobnicate x\n/gate retry now");
        let problems: Vec<_> = got
            .into_iter()
            .map(|r| r.expect_err("each line is wrong").problem)
            .collect();
        assert_eq!(
            problems,
            vec![
                "missing command: use skip, only, run or retry",
                "name at least one check",
                "unknown command: use skip, only, run or retry",
                "`/gate retry` takes no check names",
            ]
        );
    }

    #[test]
    fn directive_count_and_scan_are_bounded() {
        let text = "/gate run a\n".repeat(10_000);
        assert_eq!(parse_directives(&text).len(), MAX_DIRECTIVES);
        let text = format!("{}\n/gate run late", "x".repeat(MAX_SCANNED_BYTES));
        assert!(parse_directives(&text).is_empty());
    }

    #[test]
    fn approval_is_only_for_the_tested_current_revision_of_an_open_pr() {
        let a = RevisionId::from("a");
        let b = RevisionId::from("b");
        assert_eq!(
            decide_approval(Verdict::Passed, &a, &a, true),
            ApprovalDecision::Approve {
                revision: a.clone()
            }
        );
        assert_eq!(
            decide_approval(Verdict::Passed, &a, &b, true),
            ApprovalDecision::Stale
        );
        assert_eq!(
            decide_approval(Verdict::Passed, &a, &a, false),
            ApprovalDecision::Stale
        );
        assert_eq!(
            decide_approval(Verdict::Failed, &a, &a, true),
            ApprovalDecision::Revoke {
                revision: a.clone()
            }
        );
        assert_eq!(
            decide_approval(Verdict::Pending, &a, &a, true),
            ApprovalDecision::Revoke { revision: a }
        );
    }
}
