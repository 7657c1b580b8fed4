//! The planner: changed paths + gate file + PR facts + directives → which checks run, and why.
//!
//! A path selects components through their globs; an affected component selects every
//! component that depends on it, transitively; a check runs when one of its components is
//! affected (or always, when it covers none). A global path runs everything, an ignored path
//! nothing, an unclaimed path follows `unmatched`. Then the promotion rule and the `/gate`
//! directives apply. Every decision carries its reasons.

use crate::gate_file::{Check, Gate, Unmatched};
use crate::ids::{CheckName, ComponentName};
use crate::policy::{self, Directive, PromotionViolation};
use serde::{Deserialize, Serialize};
use std::collections::VecDeque;

/// A changed path. A rename names both sides; both count.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChangedPath {
    /// The path after the change (for a delete: the deleted path).
    pub path: String,
    /// The path before a rename or move.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub old_path: Option<String>,
}

impl ChangedPath {
    /// An added, modified or deleted path.
    pub fn new(path: impl Into<String>) -> Self {
        Self {
            path: path.into(),
            old_path: None,
        }
    }

    /// A rename from `old` to `new`.
    pub fn renamed(old: impl Into<String>, new: impl Into<String>) -> Self {
        Self {
            path: new.into(),
            old_path: Some(old.into()),
        }
    }

    fn sides(&self) -> impl Iterator<Item = &str> {
        std::iter::once(self.path.as_str()).chain(self.old_path.as_deref())
    }
}

/// Where a directive came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DirectiveSource {
    /// A line of the PR description (its author is the PR's author).
    Description,
    /// A PR comment.
    Comment,
}

/// A directive and who gave it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DirectiveRequest {
    /// What was asked.
    pub directive: Directive,
    /// The IAM identity that asked.
    pub author: String,
    /// Where it was written.
    pub source: DirectiveSource,
}

/// Everything the planner looks at.
#[derive(Debug, Clone, Default)]
pub struct PlanInput<'a> {
    /// Paths changed between the merge base and the source commit.
    pub changes: &'a [ChangedPath],
    /// The PR's source branch (without `refs/heads/`).
    pub source_branch: Option<&'a str>,
    /// The PR's destination branch (without `refs/heads/`).
    pub destination_branch: Option<&'a str>,
    /// The PR's author (an IAM ARN, usually).
    pub author: Option<&'a str>,
    /// The PR's description, scanned for `/gate` lines.
    pub description: Option<&'a str>,
    /// Directives from comments, in order, after the description's.
    pub requests: &'a [DirectiveRequest],
    /// An identity that may ask for skips whatever `skip.authors` says: the person at the
    /// keyboard of `gate run` (on AWS there is none). Required checks still never skip.
    pub trusted: Option<&'a str>,
    /// Paths whose change decides the policy (the gate file, the buildspecs the trusted file
    /// names, see [`crate::trust::policy_paths`]): a change to any of them runs every check.
    pub policy_paths: &'a [String],
}

/// Why a component is affected, or a check runs or not.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Reason {
    /// A path of the component changed (`more` other paths too).
    Changed {
        /// The first path.
        path: String,
        /// How many more of its paths changed.
        more: usize,
    },
    /// A component it depends on is affected.
    DependsOn {
        /// That component.
        component: ComponentName,
    },
    /// A global path changed: everything runs.
    Global {
        /// The path.
        path: String,
        /// The glob it matched.
        pattern: String,
    },
    /// The change touches the gate file or a buildspec it names: every check runs, with the
    /// destination's definitions (the change's own take effect once merged).
    PolicyChanged {
        /// The path.
        path: String,
    },
    /// A path no component claims changed, and `unmatched: run-all`.
    Unmatched {
        /// The path.
        path: String,
    },
    /// The check covers an affected component.
    Covers {
        /// The component.
        component: ComponentName,
    },
    /// The check covers no component, so it runs on every PR with a relevant change.
    Always,
    /// None of the check's components is affected.
    NotAffected,
    /// Every changed path is ignored.
    AllIgnored,
    /// The PR changes no path.
    NoChanges,
    /// Skipped by `/gate skip`.
    SkippedBy {
        /// Who asked.
        author: String,
        /// Their reason, if given.
        reason: Option<String>,
    },
    /// Not named by `/gate only`.
    NotInOnly {
        /// Who asked.
        author: String,
    },
    /// Added by `/gate run`.
    RequestedBy {
        /// Who asked.
        author: String,
    },
    /// The promotion rule refuses this PR, so nothing runs.
    PromotionRefused,
    /// The environment has no release yet: everything is released.
    FirstRelease,
}

/// The decision for one check.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlannedCheck {
    /// The check.
    pub name: CheckName,
    /// Its stage.
    pub stage: String,
    /// Its stage's position.
    pub stage_index: usize,
    /// Whether a failure blocks.
    pub required: bool,
    /// Run it (true) or skip it (false).
    pub run: bool,
    /// Why.
    pub reasons: Vec<Reason>,
}

/// Whether one component is affected, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlannedComponent {
    /// The component.
    pub name: ComponentName,
    /// Whether it is affected.
    pub affected: bool,
    /// Why.
    pub reasons: Vec<Reason>,
}

/// What became of one directive.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DirectiveOutcome {
    /// The directive as understood, or the line that could not be.
    pub text: String,
    /// Who gave it.
    pub author: String,
    /// Where.
    pub source: DirectiveSource,
    /// Whether it was applied (in part).
    pub accepted: bool,
    /// What was refused, and why (empty when everything was applied).
    pub refusals: Vec<Refusal>,
}

/// Why (part of) a directive was refused.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Refusal {
    /// The author is not in `skip.authors`.
    NotAllowed,
    /// The author may not ask for more runs.
    NotAllowedToRun,
    /// No check has that name.
    UnknownCheck {
        /// The name as written.
        check: CheckName,
    },
    /// Required checks can never be skipped.
    Required {
        /// The check.
        check: CheckName,
    },
    /// The check is optional but not listed in `skip.checks`.
    NotSkippable {
        /// The check.
        check: CheckName,
    },
    /// The line is not a directive the gate understands.
    Syntax {
        /// What is wrong.
        problem: String,
    },
    /// `/gate retry` means something only in a comment.
    RetryInDescription,
}

/// The planner's overall answer before anything runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PlanVerdict {
    /// Some checks must run.
    Run,
    /// Nothing needs to run: the gate passes.
    Pass,
    /// The gate fails without running anything (promotion rule).
    Fail,
}

/// The plan: every check run or skipped, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Plan {
    /// Every check of the gate file, in stage order, then file order.
    pub checks: Vec<PlannedCheck>,
    /// Every component, in file order.
    pub components: Vec<PlannedComponent>,
    /// The directives found and what became of them.
    pub directives: Vec<DirectiveOutcome>,
    /// The promotion rule that refuses this PR, if any.
    pub promotion: Option<PromotionViolation>,
    /// How many paths changed.
    pub changed_paths: usize,
    /// The overall answer.
    pub verdict: PlanVerdict,
    /// Which gate file governed the plan and what the change's own would change: attached by
    /// the flow that read the files ([`crate::trust::govern`]); the planner leaves it empty.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gate_file: Option<crate::trust::GateFileNote>,
}

impl Plan {
    /// A plan with no checks (for reports of runs whose input carries no plan).
    pub fn empty() -> Self {
        Self {
            checks: Vec::new(),
            components: Vec::new(),
            directives: Vec::new(),
            promotion: None,
            changed_paths: 0,
            verdict: PlanVerdict::Pass,
            gate_file: None,
        }
    }

    /// The checks that run, in stage order.
    pub fn to_run(&self) -> impl Iterator<Item = &PlannedCheck> {
        self.checks.iter().filter(|c| c.run)
    }

    /// The checks that are skipped.
    pub fn skipped(&self) -> impl Iterator<Item = &PlannedCheck> {
        self.checks.iter().filter(|c| !c.run)
    }
}

/// What the changed paths select, before directives.
enum Selection {
    /// Everything, because of this reason (global or unmatched path).
    Everything(Reason),
    /// These components are directly changed: (first path, count).
    Components(Vec<Option<(String, usize)>>),
}

fn normalize(path: &str) -> &str {
    path.trim_start_matches("./").trim_start_matches('/')
}

fn select(gate: &Gate, changes: &[ChangedPath], policy: &[String]) -> (Selection, bool) {
    if let Some(path) = crate::trust::touched(changes, policy).into_iter().next() {
        return (Selection::Everything(Reason::PolicyChanged { path }), true);
    }
    let mut direct: Vec<Option<(String, usize)>> = vec![None; gate.components.len()];
    let mut relevant = false;
    let mut unmatched: Option<String> = None;
    let mut hits = Vec::new();
    for change in changes {
        for side in change.sides() {
            let path = normalize(side);
            if path.is_empty() {
                continue;
            }
            if let Some(pattern) = gate.global.first_match(path) {
                let reason = Reason::Global {
                    path: path.to_owned(),
                    pattern: pattern.to_owned(),
                };
                return (Selection::Everything(reason), true);
            }
            if gate.ignore.is_match(path) {
                continue;
            }
            gate.component_set.matches_into(path, &mut hits);
            if hits.is_empty() {
                match gate.unmatched {
                    Unmatched::RunAll => {
                        relevant = true;
                        if unmatched.is_none() {
                            unmatched = Some(path.to_owned());
                        }
                    }
                    Unmatched::Ignore => {}
                }
                continue;
            }
            relevant = true;
            let mut last = usize::MAX;
            for &h in &hits {
                let c = gate.component_of_pattern[h];
                if c == last {
                    continue;
                }
                last = c;
                match &mut direct[c] {
                    Some((_, n)) => *n += 1,
                    slot @ None => *slot = Some((path.to_owned(), 1)),
                }
            }
        }
    }
    match unmatched {
        // Keep scanning above so a global path (stronger reason) wins; report the first unclaimed one.
        Some(path) => (Selection::Everything(Reason::Unmatched { path }), true),
        None => (Selection::Components(direct), relevant),
    }
}

/// Plans the checks for one PR revision. Pure and deterministic. Sequential because each step
/// refines the last: the changed paths select components, the components select checks, the
/// directives adjust them, and a promotion refusal overrides everything.
pub fn plan(gate: &Gate, input: &PlanInput<'_>) -> Plan {
    let (selection, relevant) = select(gate, input.changes, input.policy_paths);
    let affected = affected_components(gate, &selection);
    let mut checks: Vec<PlannedCheck> = gate
        .checks
        .iter()
        .map(|check| plan_check(gate, check, &selection, relevant, &affected, input))
        .collect();
    let promotion = match (input.source_branch, input.destination_branch) {
        (Some(source), Some(destination)) => policy::check_promotion(gate, source, destination),
        _ => None,
    };
    let directives = apply_directives(gate, &mut checks, input);
    if promotion.is_some() {
        for c in &mut checks {
            c.run = false;
            c.reasons = vec![Reason::PromotionRefused];
        }
    }
    checks.sort_by_key(|c| c.stage_index);
    let verdict = if promotion.is_some() {
        PlanVerdict::Fail
    } else if checks.iter().any(|c| c.run) {
        PlanVerdict::Run
    } else {
        PlanVerdict::Pass
    };
    Plan {
        components: affected.planned(gate),
        checks,
        directives,
        promotion,
        changed_paths: input.changes.len(),
        verdict,
        gate_file: None,
    }
}

/// Which components are affected, and why (indexed like [`Gate::components`]).
struct Affected {
    affected: Vec<bool>,
    reasons: Vec<Vec<Reason>>,
}

impl Affected {
    /// Marks component `i` affected for `reason`.
    fn mark(&mut self, i: usize, reason: Reason) {
        self.affected[i] = true;
        self.reasons[i].push(reason);
    }

    /// The plan's view: every component, with reasons only where it is affected.
    fn planned(self, gate: &Gate) -> Vec<PlannedComponent> {
        gate.components
            .iter()
            .zip(self.affected)
            .zip(self.reasons)
            .map(|((c, affected), reasons)| PlannedComponent {
                name: c.name.clone(),
                affected,
                reasons: if affected { reasons } else { Vec::new() },
            })
            .collect()
    }
}

/// The components the selection affects: all of them, or the changed ones and, transitively,
/// the ones that depend on them.
fn affected_components(gate: &Gate, selection: &Selection) -> Affected {
    let n = gate.components.len();
    let mut affected = Affected {
        affected: vec![false; n],
        reasons: vec![Vec::new(); n],
    };
    match selection {
        Selection::Everything(reason) => (0..n).for_each(|i| affected.mark(i, reason.clone())),
        Selection::Components(direct) => {
            let mut queue = VecDeque::new();
            for (i, d) in direct.iter().enumerate() {
                if let Some((path, n)) = d {
                    let more = n - 1;
                    affected.mark(
                        i,
                        Reason::Changed {
                            path: path.clone(),
                            more,
                        },
                    );
                    queue.push_back(i);
                }
            }
            while let Some(c) = queue.pop_front() {
                for &d in &gate.dependents[c] {
                    if !affected.affected[d] {
                        let component = gate.components[c].name.clone();
                        affected.mark(d, Reason::DependsOn { component });
                        queue.push_back(d);
                    }
                }
            }
        }
    }
    affected
}

/// One check's decision before directives: run or not, and why.
fn plan_check(
    gate: &Gate,
    check: &Check,
    selection: &Selection,
    relevant: bool,
    affected: &Affected,
    input: &PlanInput<'_>,
) -> PlannedCheck {
    let (run, reasons) = if !relevant {
        let why = if input.changes.is_empty() {
            Reason::NoChanges
        } else {
            Reason::AllIgnored
        };
        (false, vec![why])
    } else if let Selection::Everything(reason) = selection {
        (true, vec![reason.clone()])
    } else if check.components.is_empty() {
        (true, vec![Reason::Always])
    } else {
        let covers: Vec<Reason> = check
            .components
            .iter()
            .filter(|&&c| affected.affected[c])
            .map(|&c| Reason::Covers {
                component: gate.components[c].name.clone(),
            })
            .collect();
        if covers.is_empty() {
            (false, vec![Reason::NotAffected])
        } else {
            (true, covers)
        }
    };
    PlannedCheck {
        name: check.name.clone(),
        stage: check.stage.clone(),
        stage_index: check.stage_index,
        required: check.required,
        run,
        reasons,
    }
}

/// A `/gate` line of the description that does not parse: (line, problem).
type Unparsed = (String, String);

/// Applies the directives, the description's (by the PR author) then the comments', and says
/// what became of each.
fn apply_directives(
    gate: &Gate,
    checks: &mut [PlannedCheck],
    input: &PlanInput<'_>,
) -> Vec<DirectiveOutcome> {
    let author = input.author.unwrap_or_default();
    let mut requests: Vec<Result<DirectiveRequest, Unparsed>> = Vec::new();
    if let Some(description) = input.description {
        for parsed in policy::parse_directives(description) {
            requests.push(match parsed {
                Ok(directive) => Ok(DirectiveRequest {
                    directive,
                    author: author.to_owned(),
                    source: DirectiveSource::Description,
                }),
                Err(e) => Err((e.line, e.problem)),
            });
        }
    }
    requests.extend(input.requests.iter().cloned().map(Ok));
    requests
        .into_iter()
        .map(|request| match request {
            Ok(request) => apply(gate, checks, &request, author, input.trusted),
            Err((line, problem)) => DirectiveOutcome {
                text: line,
                author: author.to_owned(),
                source: DirectiveSource::Description,
                accepted: false,
                refusals: vec![Refusal::Syntax { problem }],
            },
        })
        .collect()
}

/// Applies one directive to the plan's checks: a `match` on its kind, each kind its own step.
fn apply(
    gate: &Gate,
    checks: &mut [PlannedCheck],
    request: &DirectiveRequest,
    pr_author: &str,
    trusted: Option<&str>,
) -> DirectiveOutcome {
    let who = request.author.as_str();
    let may_skip = policy::may_skip(gate, who) || trusted == Some(who);
    let may_run = || policy::may_request_runs(gate, who, pr_author);
    let effect = match &request.directive {
        Directive::Skip { .. } | Directive::Only { .. } if !may_skip => {
            Effect::refused(Refusal::NotAllowed)
        }
        Directive::Skip {
            checks: names,
            reason,
        } => apply_skip(gate, checks, names, who, reason),
        Directive::Only { checks: names } => apply_only(gate, checks, names, who),
        Directive::Retry if request.source == DirectiveSource::Description => {
            Effect::refused(Refusal::RetryInDescription)
        }
        Directive::Run { .. } | Directive::Retry if !may_run() => {
            Effect::refused(Refusal::NotAllowedToRun)
        }
        Directive::Run { checks: names } => apply_run(checks, names, who),
        // Retrying is the caller's business (it re-runs failed checks); the plan is unchanged.
        Directive::Retry => Effect {
            applied: true,
            refusals: Vec::new(),
        },
    };
    DirectiveOutcome {
        text: request.directive.to_string(),
        author: who.to_owned(),
        source: request.source,
        accepted: effect.applied,
        refusals: effect.refusals,
    }
}

/// What a directive did: whether any of it was applied, and what was refused.
#[derive(Default)]
struct Effect {
    applied: bool,
    refusals: Vec<Refusal>,
}

impl Effect {
    /// Nothing applied, for one reason.
    fn refused(refusal: Refusal) -> Self {
        Self {
            applied: false,
            refusals: vec![refusal],
        }
    }
}

/// The position of the check called `name` in the plan.
fn index_of(checks: &[PlannedCheck], name: &CheckName) -> Option<usize> {
    checks.iter().position(|c| &c.name == name)
}

/// Whether `skip.checks` lists the check called `name`.
fn skippable(gate: &Gate, name: &CheckName) -> bool {
    gate.skippable
        .iter()
        .any(|&i| gate.checks.get(i).is_some_and(|c| &c.name == name))
}

/// `/gate skip`: each named check that is optional and skippable stops running.
fn apply_skip(
    gate: &Gate,
    checks: &mut [PlannedCheck],
    names: &[CheckName],
    who: &str,
    reason: &Option<String>,
) -> Effect {
    let mut effect = Effect::default();
    for name in names {
        match index_of(checks, name) {
            None => effect.refusals.push(Refusal::UnknownCheck {
                check: name.clone(),
            }),
            Some(i) if checks[i].required => effect.refusals.push(Refusal::Required {
                check: name.clone(),
            }),
            Some(_) if !skippable(gate, name) => effect.refusals.push(Refusal::NotSkippable {
                check: name.clone(),
            }),
            Some(i) => {
                effect.applied = true;
                checks[i].run = false;
                checks[i].reasons = vec![Reason::SkippedBy {
                    author: who.to_owned(),
                    reason: reason.clone(),
                }];
            }
        }
    }
    effect
}

/// `/gate only`: every running check not named stops, where it is optional and skippable.
fn apply_only(gate: &Gate, checks: &mut [PlannedCheck], names: &[CheckName], who: &str) -> Effect {
    let mut effect = Effect::default();
    for name in names {
        if index_of(checks, name).is_none() {
            effect.refusals.push(Refusal::UnknownCheck {
                check: name.clone(),
            });
        }
    }
    for c in checks.iter_mut() {
        if names.contains(&c.name) || !c.run {
            continue;
        }
        if c.required {
            effect.refusals.push(Refusal::Required {
                check: c.name.clone(),
            });
        } else if !skippable(gate, &c.name) {
            effect.refusals.push(Refusal::NotSkippable {
                check: c.name.clone(),
            });
        } else {
            effect.applied = true;
            c.run = false;
            c.reasons = vec![Reason::NotInOnly {
                author: who.to_owned(),
            }];
        }
    }
    effect
}

/// `/gate run`: each named check runs, whether or not a change selects it.
fn apply_run(checks: &mut [PlannedCheck], names: &[CheckName], who: &str) -> Effect {
    let mut effect = Effect::default();
    for name in names {
        match index_of(checks, name) {
            None => effect.refusals.push(Refusal::UnknownCheck {
                check: name.clone(),
            }),
            Some(i) => {
                effect.applied = true;
                if !checks[i].run {
                    checks[i].run = true;
                    checks[i].reasons = vec![Reason::RequestedBy {
                        author: who.to_owned(),
                    }];
                }
            }
        }
    }
    effect
}
