//! Planner stories: given a gate file and a change, exactly these checks run, for these reasons.

use codecommit_gate::gate_file::Gate;
use codecommit_gate::plan::{
    ChangedPath, DirectiveRequest, DirectiveSource, Plan, PlanInput, PlanVerdict, Reason, Refusal,
    plan,
};
use codecommit_gate::policy::Directive;
use proptest::prelude::*;

const GATE: &str = r#"
stages: [lint, test, integration]
components:
  core: {paths: ["libs/core/**"]}
  api: {paths: ["services/api/**"], depends_on: [core]}
  web: {paths: ["web/**"], depends_on: [api]}
  infra: {paths: ["infra/", "template.yaml"]}
checks:
  fmt: {stage: lint, commands: [cargo fmt --check]}
  core-tests: {stage: test, components: [core], commands: [cargo test -p core]}
  api-tests: {stage: test, components: [api], commands: [cargo test -p api]}
  web-tests: {stage: test, components: [web], commands: [npm test]}
  template-lint: {stage: lint, components: [infra], commands: [cfn-lint template.yaml]}
  e2e: {stage: integration, components: [api, web], commands: [make e2e]}
  docs-links: {stage: lint, components: [web], commands: [make links], required: false}
global: [.gate.yml, Cargo.lock]
ignore: ["**/*.md", docs/]
skip:
  checks: [docs-links]
  authors: ["arn:aws:sts::123456789012:assumed-role/Leads/*"]
promotion:
  production: [testing, "hotfix/*"]
"#;

const LEAD: &str = "arn:aws:sts::123456789012:assumed-role/Leads/alice";
const DEV: &str = "arn:aws:iam::123456789012:user/bob";

fn gate() -> Gate {
    Gate::parse(GATE, ".gate.yml").expect("test gate is valid")
}

fn plan_paths(paths: &[&str]) -> Plan {
    let changes: Vec<ChangedPath> = paths.iter().map(|p| ChangedPath::new(*p)).collect();
    plan(
        &gate(),
        &PlanInput {
            changes: &changes,
            ..PlanInput::default()
        },
    )
}

fn running(plan: &Plan) -> Vec<&str> {
    plan.to_run().map(|c| c.name.as_str()).collect()
}

fn reasons_of<'a>(plan: &'a Plan, check: &str) -> &'a [Reason] {
    &plan
        .checks
        .iter()
        .find(|c| c.name.as_str() == check)
        .expect("check exists")
        .reasons
}

#[test]
fn a_core_change_runs_core_and_everything_that_depends_on_it() {
    let p = plan_paths(&["libs/core/src/lib.rs", "libs/core/Cargo.toml"]);
    assert_eq!(
        running(&p),
        [
            "fmt",
            "docs-links",
            "core-tests",
            "api-tests",
            "web-tests",
            "e2e"
        ]
    );
    assert_eq!(p.verdict, PlanVerdict::Run);
    let web = p
        .components
        .iter()
        .find(|c| c.name.as_str() == "web")
        .expect("web");
    assert_eq!(
        web.reasons,
        vec![Reason::DependsOn {
            component: "api".into()
        }]
    );
    let core = &p.components[0];
    assert_eq!(
        core.reasons,
        vec![Reason::Changed {
            path: "libs/core/src/lib.rs".into(),
            more: 1
        }]
    );
    assert!(!p.components[3].affected, "infra untouched");
    assert_eq!(reasons_of(&p, "template-lint"), [Reason::NotAffected]);
    assert_eq!(reasons_of(&p, "fmt"), [Reason::Always]);
    insta::assert_json_snapshot!(p);
}

#[test]
fn a_leaf_change_runs_only_its_own_checks() {
    let p = plan_paths(&["web/src/app.ts"]);
    assert_eq!(running(&p), ["fmt", "docs-links", "web-tests", "e2e"]);
    assert_eq!(reasons_of(&p, "core-tests"), [Reason::NotAffected]);
}

#[test]
fn a_global_file_runs_everything() {
    let p = plan_paths(&["docs/intro.md", "Cargo.lock", "web/a.ts"]);
    assert_eq!(p.to_run().count(), 7);
    assert_eq!(
        reasons_of(&p, "template-lint"),
        [Reason::Global {
            path: "Cargo.lock".into(),
            pattern: "Cargo.lock".into()
        }]
    );
}

#[test]
fn ignored_paths_run_nothing_and_the_gate_passes() {
    let p = plan_paths(&["README.md", "docs/guide/setup.txt", "services/api/NOTES.md"]);
    assert_eq!(running(&p), Vec::<&str>::new());
    assert_eq!(p.verdict, PlanVerdict::Pass);
    assert_eq!(reasons_of(&p, "fmt"), [Reason::AllIgnored]);
    let empty = plan_paths(&[]);
    assert_eq!(reasons_of(&empty, "fmt"), [Reason::NoChanges]);
    assert_eq!(empty.verdict, PlanVerdict::Pass);
}

#[test]
fn an_unclaimed_path_runs_everything_by_default_and_nothing_when_ignored() {
    let p = plan_paths(&["web/a.ts", "scripts/release.sh"]);
    assert_eq!(p.to_run().count(), 7);
    assert_eq!(
        reasons_of(&p, "core-tests"),
        [Reason::Unmatched {
            path: "scripts/release.sh".into()
        }]
    );

    let relaxed = Gate::parse(&format!("{GATE}unmatched: ignore\n"), ".gate.yml").expect("valid");
    let changes = [ChangedPath::new("scripts/release.sh")];
    let p = plan(
        &relaxed,
        &PlanInput {
            changes: &changes,
            ..PlanInput::default()
        },
    );
    assert_eq!(p.verdict, PlanVerdict::Pass);
}

#[test]
fn both_sides_of_a_rename_count_and_deletes_count() {
    let changes = [ChangedPath::renamed("services/api/util.rs", "web/util.rs")];
    let p = plan(
        &gate(),
        &PlanInput {
            changes: &changes,
            ..PlanInput::default()
        },
    );
    assert!(running(&p).contains(&"api-tests"), "old side selects api");
    assert!(running(&p).contains(&"web-tests"), "new side selects web");
    let p = plan_paths(&["infra/old-stack.yaml"]);
    assert_eq!(running(&p), ["fmt", "template-lint"]);
}

#[test]
fn leading_slashes_and_dot_slashes_are_normalised() {
    assert_eq!(
        running(&plan_paths(&["/template.yaml"])),
        ["fmt", "template-lint"]
    );
    assert_eq!(
        running(&plan_paths(&["./template.yaml"])),
        ["fmt", "template-lint"]
    );
}

#[test]
fn a_promotion_violation_fails_without_running_anything() {
    let changes = [ChangedPath::new("web/a.ts")];
    let input = |source| PlanInput {
        changes: &changes,
        source_branch: Some(source),
        destination_branch: Some("production"),
        ..PlanInput::default()
    };
    let p = plan(&gate(), &input("feature/login"));
    assert_eq!(p.verdict, PlanVerdict::Fail);
    assert_eq!(p.to_run().count(), 0);
    let v = p.promotion.expect("violation");
    assert_eq!(
        (v.source.as_str(), v.allowed.clone()),
        (
            "feature/login",
            vec!["testing".to_owned(), "hotfix/*".to_owned()]
        )
    );
    assert_eq!(plan(&gate(), &input("testing")).verdict, PlanVerdict::Run);
    assert_eq!(
        plan(&gate(), &input("hotfix/urgent")).verdict,
        PlanVerdict::Run
    );
    let other = PlanInput {
        changes: &changes,
        source_branch: Some("x"),
        destination_branch: Some("main"),
        ..PlanInput::default()
    };
    assert_eq!(
        plan(&gate(), &other).verdict,
        PlanVerdict::Run,
        "unlisted destinations accept any source"
    );
}

fn plan_with(author: &str, description: &str, requests: &[DirectiveRequest]) -> Plan {
    let changes = [ChangedPath::new("web/a.ts")];
    plan(
        &gate(),
        &PlanInput {
            changes: &changes,
            author: Some(author),
            description: Some(description),
            requests,
            ..PlanInput::default()
        },
    )
}

#[test]
fn an_allowed_author_may_skip_an_optional_check() {
    let p = plan_with(
        LEAD,
        "Tweak\n/gate skip docs-links -- link checker is down",
        &[],
    );
    assert!(!running(&p).contains(&"docs-links"));
    assert_eq!(
        reasons_of(&p, "docs-links"),
        [Reason::SkippedBy {
            author: LEAD.into(),
            reason: Some("link checker is down".into())
        }]
    );
    assert!(p.directives[0].accepted && p.directives[0].refusals.is_empty());
}

#[test]
fn skips_are_refused_for_others_for_required_checks_and_unknown_names() {
    let p = plan_with(DEV, "/gate skip docs-links", &[]);
    assert!(running(&p).contains(&"docs-links"));
    assert_eq!(p.directives[0].refusals, [Refusal::NotAllowed]);

    let p = plan_with(LEAD, "/gate skip web-tests e2 docs-links", &[]);
    assert!(
        running(&p).contains(&"web-tests"),
        "required checks can never be skipped"
    );
    assert!(!running(&p).contains(&"docs-links"));
    assert_eq!(
        p.directives[0].refusals,
        [
            Refusal::Required {
                check: "web-tests".into()
            },
            Refusal::UnknownCheck { check: "e2".into() }
        ]
    );
    assert!(p.directives[0].accepted, "partly applied");
}

#[test]
fn only_keeps_required_checks_and_skips_the_skippable_rest() {
    let p = plan_with(LEAD, "/gate only web-tests", &[]);
    assert_eq!(running(&p), ["fmt", "web-tests", "e2e"]);
    assert_eq!(
        reasons_of(&p, "docs-links"),
        [Reason::NotInOnly {
            author: LEAD.into()
        }]
    );
}

#[test]
fn run_requests_add_checks_for_the_author_and_comment_commands_follow_the_same_rules() {
    let p = plan_with(DEV, "/gate run template-lint", &[]);
    assert!(
        running(&p).contains(&"template-lint"),
        "the PR author may ask for more"
    );
    assert_eq!(
        reasons_of(&p, "template-lint"),
        [Reason::RequestedBy { author: DEV.into() }]
    );

    let stranger = "arn:aws:iam::123456789012:user/mallory";
    let requests = [
        DirectiveRequest {
            directive: Directive::Run {
                checks: vec!["core-tests".into()],
            },
            author: stranger.into(),
            source: DirectiveSource::Comment,
        },
        DirectiveRequest {
            directive: Directive::Skip {
                checks: vec!["docs-links".into()],
                reason: None,
            },
            author: stranger.into(),
            source: DirectiveSource::Comment,
        },
        DirectiveRequest {
            directive: Directive::Skip {
                checks: vec!["docs-links".into()],
                reason: None,
            },
            author: LEAD.into(),
            source: DirectiveSource::Comment,
        },
    ];
    let p = plan_with(DEV, "", &requests);
    assert!(!running(&p).contains(&"core-tests"));
    assert_eq!(p.directives[0].refusals, [Refusal::NotAllowedToRun]);
    assert_eq!(p.directives[1].refusals, [Refusal::NotAllowed]);
    assert!(p.directives[2].accepted);
    assert!(!running(&p).contains(&"docs-links"));
}

#[test]
fn bad_directive_lines_are_reported_not_ignored() {
    let p = plan_with(LEAD, "/gate skipp docs-links\n/gate retry", &[]);
    assert_eq!(p.directives.len(), 2);
    assert!(matches!(
        p.directives[0].refusals[0],
        Refusal::Syntax { .. }
    ));
    assert_eq!(p.directives[1].refusals, [Refusal::RetryInDescription]);
}

#[test]
fn cycles_select_every_member() {
    let yaml = r#"stages: [t]
components:
  a: {paths: [a/], depends_on: [b]}
  b: {paths: [b/], depends_on: [a]}
checks:
  ta: {stage: t, components: [a], commands: [x]}
  tb: {stage: t, components: [b], commands: [x]}
"#;
    let g = Gate::parse(yaml, ".gate.yml").expect("valid");
    let changes = [ChangedPath::new("b/x")];
    let p = plan(
        &g,
        &PlanInput {
            changes: &changes,
            ..PlanInput::default()
        },
    );
    assert_eq!(running(&p), ["ta", "tb"]);
}

// A reference implementation, written the slow obvious way, for the property test.
fn reference_runs(gate: &Gate, paths: &[String]) -> Vec<String> {
    let n = gate.components.len();
    let mut affected = vec![false; n];
    let mut relevant = false;
    let mut everything = false;
    for p in paths {
        if gate.global.is_match(p) {
            everything = true;
            relevant = true;
        } else if gate.ignore.is_match(p) {
        } else {
            let mut hit = false;
            for (i, c) in gate.components.iter().enumerate() {
                if c.paths.iter().any(|g| {
                    let g = if g.ends_with('/') {
                        format!("{g}**")
                    } else {
                        g.clone()
                    };
                    globset::GlobBuilder::new(&g)
                        .literal_separator(true)
                        .build()
                        .map(|g| g.compile_matcher().is_match(p))
                        .unwrap_or(false)
                }) {
                    affected[i] = true;
                    hit = true;
                }
            }
            relevant = true;
            if !hit {
                everything = true;
            }
        }
    }
    if everything {
        affected = vec![true; n];
    }
    loop {
        let mut changed = false;
        for (i, c) in gate.components.iter().enumerate() {
            if !affected[i] && c.depends_on.iter().any(|&d| affected[d]) {
                affected[i] = true;
                changed = true;
            }
        }
        if !changed {
            break;
        }
    }
    let mut checks: Vec<_> = gate.checks.iter().collect();
    checks.sort_by_key(|c| c.stage_index);
    checks
        .into_iter()
        .filter(|c| {
            relevant
                && (everything
                    || c.components.is_empty()
                    || c.components.iter().any(|&i| affected[i]))
        })
        .map(|c| c.name.to_string())
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]
    #[test]
    fn the_planner_agrees_with_the_obvious_reference(
        picks in proptest::collection::vec(0usize..14, 0..6)
    ) {
        const POOL: [&str; 14] = [
            "libs/core/a.rs", "services/api/b.rs", "web/c.ts", "infra/d.yaml", "template.yaml",
            "README.md", "docs/x.txt", "Cargo.lock", "scripts/e.sh", "web/README.md",
            "libs/core/deep/f.rs", ".gate.yml", "services/api/g/h.rs", "docs/y.md",
        ];
        let g = gate();
        let paths: Vec<String> = picks.iter().map(|&i| POOL[i].to_owned()).collect();
        let changes: Vec<ChangedPath> = paths.iter().map(ChangedPath::new).collect();
        let p = plan(&g, &PlanInput { changes: &changes, ..PlanInput::default() });
        let got: Vec<String> = p.to_run().map(|c| c.name.to_string()).collect();
        prop_assert_eq!(got, reference_runs(&g, &paths));
    }
}

#[test]
fn a_trusted_local_user_may_skip_but_never_a_required_check() {
    let changes = [ChangedPath::new("web/a.ts")];
    let me = "local:dev@example.com";
    let requests = [DirectiveRequest {
        directive: Directive::Skip {
            checks: vec!["docs-links".into(), "web-tests".into()],
            reason: None,
        },
        author: me.into(),
        source: DirectiveSource::Comment,
    }];
    let input = |trusted| PlanInput {
        changes: &changes,
        requests: &requests,
        trusted,
        ..PlanInput::default()
    };
    let untrusted = plan(&gate(), &input(None));
    assert_eq!(untrusted.directives[0].refusals, [Refusal::NotAllowed]);
    let p = plan(&gate(), &input(Some(me)));
    assert!(!running(&p).contains(&"docs-links"));
    assert!(
        running(&p).contains(&"web-tests"),
        "required checks never skip"
    );
    assert_eq!(
        p.directives[0].refusals,
        [Refusal::Required {
            check: "web-tests".into()
        }]
    );
    // Trust is for that identity only.
    assert_eq!(
        plan(&gate(), &input(Some("local:someone-else"))).directives[0].refusals,
        [Refusal::NotAllowed]
    );
}
