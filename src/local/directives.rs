//! `gate run --skip/--only` as `/gate` directives from the person at the keyboard: the same refusal rules as on AWS, with the local user allowed to ask.
//!
//! On AWS only `skip.authors` may skip, and the gate file names IAM ARNs there, which a laptop
//! user never matches. Locally the person running `gate run` is trusted to *ask*, but nothing
//! else changes: required checks can never be skipped, only the checks listed in `skip.checks`
//! can, and unknown names are refused. [`apply`] runs after [`crate::plan::plan`] on the plan it
//! returned, so the planner and [`crate::plan::PlanInput`] stay exactly as the Lambdas use
//! them; a test checks that the result equals what the planner itself gives when the gate file
//! lists the local user in `skip.authors`. `--run` needs none of this: the local user is the
//! pull request's author, who may always ask for more checks.

use crate::gate_file::Gate;
use crate::ids::CheckName;
use crate::plan::{
    self, DirectiveOutcome, DirectiveSource, Plan, PlanVerdict, PlannedCheck, Reason, Refusal,
};
use crate::policy::Directive;

/// Applies `/gate skip` and `/gate only` directives given by `author` (the local user) to a
/// plan, with the planner's rules except who may ask. Each directive is recorded in
/// `plan.directives` (so the report shows it) and the plan's verdict is brought up to date.
pub fn apply(gate: &Gate, plan: &mut Plan, author: &str, directives: &[Directive]) {
    for directive in directives {
        let mut checks = plan.checks.clone();
        let outcome = apply_one(gate, &mut checks, author, directive);
        // A promotion violation runs nothing whatever is asked (as in the planner).
        if plan.promotion.is_none() {
            plan.checks = checks;
        }
        plan.directives.push(outcome);
    }
    plan.verdict = if plan.promotion.is_some() {
        PlanVerdict::Fail
    } else if plan.checks.iter().any(|c| c.run) {
        PlanVerdict::Run
    } else {
        PlanVerdict::Pass
    };
}

fn apply_one(
    gate: &Gate,
    checks: &mut [PlannedCheck],
    who: &str,
    directive: &Directive,
) -> DirectiveOutcome {
    let mut refusals = Vec::new();
    let mut applied = false;
    let index_of =
        |checks: &[PlannedCheck], name: &CheckName| checks.iter().position(|c| &c.name == name);
    let skippable = |name: &CheckName| {
        gate.skippable
            .iter()
            .any(|&i| gate.checks.get(i).is_some_and(|c| &c.name == name))
    };
    match directive {
        Directive::Skip {
            checks: names,
            reason,
        } => {
            for name in names {
                match index_of(checks, name) {
                    None => refusals.push(Refusal::UnknownCheck {
                        check: name.clone(),
                    }),
                    Some(i) if checks[i].required => refusals.push(Refusal::Required {
                        check: name.clone(),
                    }),
                    Some(_) if !skippable(name) => refusals.push(Refusal::NotSkippable {
                        check: name.clone(),
                    }),
                    Some(i) => {
                        applied = true;
                        checks[i].run = false;
                        checks[i].reasons = vec![Reason::SkippedBy {
                            author: who.to_owned(),
                            reason: reason.clone(),
                        }];
                    }
                }
            }
        }
        Directive::Only { checks: names } => {
            for name in names {
                if index_of(checks, name).is_none() {
                    refusals.push(Refusal::UnknownCheck {
                        check: name.clone(),
                    });
                }
            }
            for c in checks.iter_mut() {
                if names.contains(&c.name) || !c.run {
                    continue;
                }
                if c.required {
                    refusals.push(Refusal::Required {
                        check: c.name.clone(),
                    });
                } else if !skippable(&c.name) {
                    refusals.push(Refusal::NotSkippable {
                        check: c.name.clone(),
                    });
                } else {
                    applied = true;
                    c.run = false;
                    c.reasons = vec![Reason::NotInOnly {
                        author: who.to_owned(),
                    }];
                }
            }
        }
        // Not used locally (`--run` goes through the planner), but harmless: nothing changes.
        Directive::Run { .. } | Directive::Retry => {}
    }
    DirectiveOutcome {
        text: plan::directive_text(directive),
        author: who.to_owned(),
        source: DirectiveSource::Comment,
        accepted: applied,
        refusals,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::{ChangedPath, PlanInput, Request};

    const GATE: &str = "\
stages: [lint, test]
components:
  api: {paths: [api/]}
  web: {paths: [web/]}
checks:
  fmt: {stage: lint, commands: [true]}
  docs: {stage: lint, commands: [true], required: false}
  api-tests: {stage: test, components: [api], commands: [true]}
  web-tests: {stage: test, components: [web], commands: [true], required: false}
  e2e: {stage: test, commands: [true], required: false}
skip:
  checks: [docs, web-tests]
";

    fn plan_with(gate: &Gate, requests: &[Request]) -> Plan {
        let changes = [ChangedPath::new("api/x.rs"), ChangedPath::new("web/y.ts")];
        plan::plan(
            gate,
            &PlanInput {
                changes: &changes,
                source_branch: Some("feature"),
                destination_branch: Some("main"),
                author: Some("local:me@example.com"),
                description: None,
                requests,
            },
        )
    }

    #[test]
    fn equals_the_planner_with_the_local_user_in_skip_authors() {
        let local = Gate::parse(GATE, ".gate.yml").expect("valid");
        let trusted =
            Gate::parse(&format!("{GATE}  authors: [\"local:*\"]\n"), ".gate.yml").expect("valid");
        let cases: Vec<Vec<Directive>> = vec![
            vec![Directive::Skip {
                checks: vec!["docs".into(), "fmt".into(), "e2e".into(), "nope".into()],
                reason: Some("docs only".into()),
            }],
            vec![Directive::Only {
                checks: vec!["api-tests".into(), "ghost".into()],
            }],
            vec![
                Directive::Only {
                    checks: vec!["fmt".into()],
                },
                Directive::Skip {
                    checks: vec!["web-tests".into()],
                    reason: None,
                },
            ],
            vec![Directive::Skip {
                checks: vec!["docs".into(), "web-tests".into()],
                reason: None,
            }],
        ];
        for directives in cases {
            let requests: Vec<Request> = directives
                .iter()
                .map(|d| Request {
                    directive: d.clone(),
                    author: "local:me@example.com".into(),
                    source: DirectiveSource::Comment,
                })
                .collect();
            let expected = plan_with(&trusted, &requests);
            let mut got = plan_with(&local, &[]);
            apply(&local, &mut got, "local:me@example.com", &directives);
            assert_eq!(got, expected, "{directives:?}");
        }
    }

    #[test]
    fn only_keeps_required_and_unskippable_checks() {
        let gate = Gate::parse(GATE, ".gate.yml").expect("valid");
        let changes = [ChangedPath::new("web/y.ts")];
        let mut p = plan::plan(
            &gate,
            &PlanInput {
                changes: &changes,
                ..PlanInput::default()
            },
        );
        // fmt is required and e2e is not in `skip.checks`, so both still run.
        apply(
            &gate,
            &mut p,
            "local:me",
            &[Directive::Only {
                checks: vec!["docs".into()],
            }],
        );
        let running: Vec<&str> = p.to_run().map(|c| c.name.as_str()).collect();
        assert_eq!(running, vec!["fmt", "docs", "e2e"]);
        assert_eq!(p.directives[0].refusals.len(), 2);
        assert_eq!(p.verdict, PlanVerdict::Run);
    }
}
