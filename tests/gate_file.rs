//! The gate file: the example parses, every mistake is an error with line, column and hint.

use codecommit_gate::gate_file::{
    CoverageFormat, CoverageReport, Gate, GateFileErrors, Reports, Run,
};

fn errors(yaml: &str) -> String {
    match Gate::parse(yaml, ".gate.yml") {
        Ok(_) => panic!("expected errors for:\n{yaml}"),
        Err(GateFileErrors(list)) => list
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join("\n"),
    }
}

const MINIMAL: &str =
    "stages: [test]\nchecks:\n  unit:\n    stage: test\n    commands: [make test]\n";

#[test]
fn the_example_gate_file_parses_and_says_what_it_documents() {
    let text = std::fs::read_to_string("gate.example.yml").expect("gate.example.yml");
    let gate = Gate::parse(&text, "gate.example.yml").expect("the example must be valid");
    assert_eq!(gate.stages, ["lint", "test", "integration"]);
    let names: Vec<_> = gate.components.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(names, ["core", "api", "web", "infra"]);
    let (_, e2e) = gate.check("e2e").expect("e2e");
    assert_eq!(e2e.run, Run::Buildspec("ci/e2e-buildspec.yml".into()));
    assert_eq!(
        (e2e.timeout_minutes, e2e.retries, e2e.retry_on_failure),
        (60, 2, true)
    );
    let (_, fmt) = gate.check("fmt").expect("fmt");
    assert!(fmt.components.is_empty() && fmt.required);
    assert_eq!(
        (fmt.timeout_minutes, fmt.retries),
        (20, 1),
        "defaults apply"
    );
    assert_eq!(
        fmt.env.get("CARGO_TERM_COLOR").map(String::as_str),
        Some("never")
    );
    let (_, web) = gate.check("web-tests").expect("web-tests");
    assert_eq!(web.env.len(), 2, "check env merges over defaults");
    the_example_documents_reports(&gate);
    assert_eq!(fmt.cache, ["target", "~/.cargo/registry"], "defaults.cache");
    assert_eq!(
        web.cache,
        ["web/node_modules", "~/.npm"],
        "a check's own cache"
    );
    assert!(gate.check("api-tests").expect("api-tests").1.reuse);
    assert!(!fmt.reuse, "reuse is opt-in");
    let (docs, docs_check) = gate.check("docs-links").expect("docs-links");
    assert!(!docs_check.required);
    assert_eq!(gate.skippable, [docs]);
    assert!(gate.cycles.is_empty());
    assert_eq!(gate.promotion.len(), 2);
    the_example_documents_releases(&gate);
    assert_eq!(gate.merge.depth, 2);
    assert_eq!(
        gate.merge.default_strategy,
        codecommit_gate::ports::merges::QueueStrategy::Squash
    );
    assert!(
        gate.merge
            .allowed_authors
            .is_match("arn:aws:sts::123456789012:assumed-role/Developers/alice")
    );
}

#[test]
fn the_merge_queue_defaults_to_one_at_a_time_three_way() {
    let gate = Gate::parse(MINIMAL, ".gate.yml").expect("valid");
    assert_eq!(gate.merge.depth, 1);
    assert_eq!(
        gate.merge.default_strategy,
        codecommit_gate::ports::merges::QueueStrategy::ThreeWay
    );
    assert!(gate.merge.allowed_authors.is_empty());
}

#[test]
fn merge_queue_mistakes_are_all_reported_with_line_and_column() {
    let yaml =
        format!("{MINIMAL}merge:\n  allowed_authors: [\"arn:aws:iam::1:user/[x\"]\n  depth: 9\n");
    assert_eq!(
        errors(&yaml),
        [
            ".gate.yml:7:21: invalid ARN pattern `arn:aws:iam::1:user/[x`: unclosed character class; missing ']'\n  hint: e.g. `arn:aws:sts::123456789012:assumed-role/Leads/*`",
            ".gate.yml:8:10: `merge.depth` 9 is out of range\n  hint: use 1 (one pull request at a time) up to 8",
        ]
        .join("\n")
    );
    let unknown = format!("{MINIMAL}merge:\n  default_strategy: rebase\n");
    assert!(
        errors(&unknown).contains(".gate.yml:7:"),
        "{}",
        errors(&unknown)
    );
}

/// The example's `reports`: JUnit globs and coverage with and without `min_line`.
fn the_example_documents_reports(gate: &Gate) {
    let reports = |name| {
        let (_, check) = gate.check(name).expect(name);
        check.reports.clone().expect("reports")
    };
    assert_eq!(
        reports("core-tests"),
        Reports {
            junit: vec!["target/nextest/ci/junit.xml".into()],
            coverage: Some(CoverageReport {
                format: CoverageFormat::Cobertura,
                path: "coverage.xml".into(),
                min_line: Some(80),
            }),
        }
    );
    let web = reports("web-tests");
    assert_eq!(web.junit, ["web/reports/junit-*.xml"]);
    assert_eq!(
        web.coverage.map(|c| (c.format, c.min_line)),
        Some((CoverageFormat::Lcov, None))
    );
    assert!(gate.check("fmt").expect("fmt").1.reports.is_none());
}

#[test]
fn report_mistakes_are_all_reported_with_line_and_column() {
    let yaml = r#"stages: [test]
checks:
  a:
    stage: test
    commands: [make]
    reports: {}
  b:
    stage: test
    commands: [make]
    reports:
      junit: [/tmp/junit.xml, "../out/*.xml", "reports/[a.xml"]
      coverage: {format: lcov, path: ../lcov.info, min_line: 101}
"#;
    assert_eq!(
        errors(yaml),
        [
            ".gate.yml:6:14: check `a` declares `reports` but no report\n  hint: add `junit: [path/to/junit.xml]` or `coverage: {format: cobertura, path: coverage.xml}`, or remove `reports`",
            ".gate.yml:11:15: check `b`: JUnit report `/tmp/junit.xml` is not a path inside the repository\n  hint: use a path relative to the repository without `..`, e.g. `target/nextest/ci/junit.xml` or `coverage.xml`",
            ".gate.yml:11:31: check `b`: JUnit report `../out/*.xml` is not a path inside the repository\n  hint: use a path relative to the repository without `..`, e.g. `target/nextest/ci/junit.xml` or `coverage.xml`",
            ".gate.yml:11:47: check `b`: invalid JUnit glob `reports/[a.xml`: unclosed character class; missing ']'\n  hint: e.g. `reports/junit-*.xml` or `**/TEST-*.xml`",
            ".gate.yml:12:38: check `b`: coverage report `../lcov.info` is not a path inside the repository\n  hint: use a path relative to the repository without `..`, e.g. `target/nextest/ci/junit.xml` or `coverage.xml`",
            ".gate.yml:12:62: check `b`: min_line 101 is over 100\n  hint: min_line is a percentage of lines, 0 to 100, e.g. `min_line: 80`",
        ]
        .join("\n")
    );
}

#[test]
fn an_unknown_coverage_format_or_report_key_is_named() {
    let base =
        "stages: [test]\nchecks:\n  a:\n    stage: test\n    commands: [make]\n    reports:\n";
    let unknown_format = format!("{base}      coverage: {{format: gcov, path: c.info}}\n");
    let message = errors(&unknown_format);
    assert!(
        message.starts_with(".gate.yml:7:") && message.contains("gcov"),
        "{message}"
    );
    let unknown_key = format!("{base}      junitxml: [a.xml]\n");
    let message = errors(&unknown_key);
    assert!(
        message.starts_with(".gate.yml:7:7: unknown field `junitxml`"),
        "{message}"
    );
    assert!(message.contains("hint: check the spelling"), "{message}");
}

/// The example's release section: deploys (one with `package`, one with `rollback`), three
/// environments, production approved by a person, and the waves its comment describes.
fn the_example_documents_releases(gate: &Gate) {
    let deployed: Vec<&str> = gate
        .components
        .iter()
        .filter(|c| c.deploy.is_some())
        .map(|c| c.name.as_str())
        .collect();
    assert_eq!(deployed, ["api", "web", "infra"]);
    let component = |name: &str| {
        gate.components
            .iter()
            .find(|c| c.name.as_str() == name)
            .expect(name)
    };
    let api = component("api");
    assert_eq!(api.deploy.as_ref().map(|d| d.timeout_minutes), Some(20));
    assert!(api.package.is_some());
    assert!(
        component("web")
            .deploy
            .as_ref()
            .is_some_and(|d| d.rollback.is_some())
    );
    let environments: Vec<(&str, &str)> = gate
        .environments
        .iter()
        .map(|e| (e.name.as_str(), e.branch.as_str()))
        .collect();
    assert_eq!(
        environments,
        [
            ("development", "development"),
            ("testing", "testing"),
            ("production", "production")
        ]
    );
    let approval = gate
        .environment("production")
        .and_then(|e| e.approval.as_ref())
        .expect("production needs an approval");
    assert_eq!(approval.timeout_minutes, 120);
    assert_eq!(approval.approvers.patterns().len(), 2);
    let plan = codecommit_gate::release::plan_release(
        gate,
        &codecommit_gate::release::ReleaseInput {
            environment: "production",
            commit: "c1",
            previous: None,
            changes: &[],
        },
    )
    .expect("plans");
    assert_eq!(plan.wave_names(), [vec!["api", "infra"], vec!["web"]]);
}

#[test]
fn a_minimal_file_gets_the_documented_defaults() {
    let gate = Gate::parse(MINIMAL, ".gate.yml").expect("valid");
    let check = &gate.checks[0];
    assert!(check.required);
    assert_eq!((check.timeout_minutes, check.retries), (30, 0));
    assert!(!check.retry_on_failure && check.image.is_none() && check.env.is_empty());
    assert!(gate.components.is_empty() && gate.global.is_empty() && gate.ignore.is_empty());
    assert_eq!(
        gate.unmatched,
        codecommit_gate::gate_file::Unmatched::RunAll
    );
}

#[test]
fn unknown_keys_are_rejected_with_position_and_hint() {
    insta::assert_snapshot!(errors(
        "stages: [test]\nchecks:\n  unit:\n    stage: test\n    comands: [make]\n"
    ));
}

#[test]
fn yaml_syntax_errors_have_line_and_column() {
    insta::assert_snapshot!(errors("stages: [test\nchecks:\n  unit: {stage: test}\n"));
}

#[test]
fn wrong_types_name_the_place() {
    insta::assert_snapshot!(errors(
        "stages: [test]\nchecks:\n  unit:\n    stage: test\n    commands: [make]\n    timeout: soon\n"
    ));
}

#[test]
fn every_reference_is_checked_and_all_errors_are_reported_at_once() {
    let yaml = r#"stages: [lint, test, deploy]
components:
  api:
    paths: ["services/api/**"]
    depends_on: [core, api]
  web:
    paths: []
checks:
  lint:
    stage: lnt
    commands: [make lint]
  unit:
    stage: test
    components: [ap]
    commands: [make test]
    timeout: 3
    retries: 9
  both:
    stage: test
    commands: [x]
    buildspec: b.yml
  none:
    stage: test
skip:
  checks: [unit, nope]
  authors: ["arn:aws:iam::1:user/[x"]
global: ["src/{a,b"]
promotion:
  main: []
"#;
    insta::assert_snapshot!(errors(yaml));
}

/// `GATE_*` variables describe the pull request under test and drive the merge prelude: a gate
/// file that could set them (say, blank `GATE_DESTINATION_COMMIT`) could skip the merge.
#[test]
fn the_gates_own_variables_cannot_be_set() {
    let got = errors(
        "stages: [test]\ndefaults:\n  env: {gate_source_commit: x}\nchecks:\n  unit:\n    stage: test\n    commands: [make]\n    env:\n      GATE_DESTINATION_COMMIT: \"\"\n      CODEBUILD_X: y\n      OK_NAME: fine\n",
    );
    assert_eq!(
        got,
        [
            ".gate.yml:3:29: `defaults` sets `gate_source_commit`, a variable the gate sets itself\n  hint: the GATE_* variables describe the pull request under test (the merge prelude relies on them); a gate file may not set them: choose another name",
            ".gate.yml:9:32: check `unit` sets `GATE_DESTINATION_COMMIT`, a variable the gate sets itself\n  hint: the GATE_* variables describe the pull request under test (the merge prelude relies on them); a gate file may not set them: choose another name",
            ".gate.yml:10:20: check `unit` sets `CODEBUILD_X`, a name CodeBuild reserves\n  hint: CodeBuild sets the CODEBUILD_* variables itself; choose another name",
        ]
        .join("\n")
    );
}

#[test]
fn missing_required_sections_are_explained() {
    insta::assert_snapshot!(errors("stages: [test]\n"));
    insta::assert_snapshot!("empty_file", errors("  \n"));
    insta::assert_snapshot!("empty_lists", errors("stages: []\nchecks: {}\n"));
}

#[test]
fn dependency_cycles_are_legal_and_noted() {
    let yaml = r#"stages: [test]
components:
  a: {paths: [a/], depends_on: [b]}
  b: {paths: [b/], depends_on: [c]}
  c: {paths: [c/], depends_on: [a]}
  d: {paths: [d/], depends_on: [a]}
checks:
  t: {stage: test, components: [d], commands: [x]}
"#;
    let gate = Gate::parse(yaml, ".gate.yml").expect("cycles are legal");
    let cycles: Vec<Vec<&str>> = gate
        .cycles
        .iter()
        .map(|c| c.iter().map(|n| n.as_str()).collect())
        .collect();
    assert_eq!(cycles, vec![vec!["a", "b", "c"]]);
}

#[test]
fn a_deep_dependency_chain_does_not_overflow() {
    let mut yaml = String::from("stages: [test]\ncomponents:\n");
    let n = 10_000;
    for i in 0..n {
        let dep = if i + 1 < n {
            format!("c{}", i + 1)
        } else {
            "c0".into()
        };
        yaml.push_str(&format!(
            "  c{i}: {{paths: [c{i}/], depends_on: [{dep}]}}\n"
        ));
    }
    yaml.push_str("checks:\n  t: {stage: test, components: [c0], commands: [x]}\n");
    let gate = Gate::parse(&yaml, ".gate.yml").expect("valid");
    assert_eq!(gate.cycles.len(), 1);
    assert_eq!(gate.cycles[0].len(), n);
}

#[test]
fn hostile_yaml_is_refused_quickly() {
    // A billion-laughs style alias bomb.
    let mut bomb = String::from("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
    for i in 1..12 {
        let refs = vec![format!("*a{}", i - 1); 10].join(", ");
        bomb.push_str(&format!("a{i}: &a{i} [{refs}]\n"));
    }
    bomb.push_str("stages: [test]\n");
    // The alias budget refuses it (its parse time is measured in `benches/hostile.rs`).
    let message = errors(&bomb);
    assert!(message.starts_with(".gate.yml:"), "{message}");

    let deep = format!("stages: {}{}\n", "[".repeat(200), "]".repeat(200));
    assert!(errors(&deep).contains(".gate.yml:1:"));

    let huge = format!("# {}\n{MINIMAL}", "x".repeat(3 * 1024 * 1024));
    insta::assert_snapshot!("too_big", errors(&huge));
}

#[test]
fn duplicate_keys_are_errors() {
    let yaml = "stages: [test]\nchecks:\n  unit: {stage: test, commands: [a]}\n  unit: {stage: test, commands: [b]}\n";
    let message = errors(yaml);
    assert!(message.starts_with(".gate.yml:4:"), "{message}");
}

#[test]
fn the_committed_json_schema_is_in_sync() {
    let committed = std::fs::read_to_string("gate.schema.json").unwrap_or_default();
    let current = Gate::json_schema();
    if committed != current {
        if std::env::var_os("UPDATE_SCHEMA").is_some() {
            std::fs::write("gate.schema.json", &current).expect("write gate.schema.json");
        } else {
            panic!(
                "gate.schema.json is stale: run `UPDATE_SCHEMA=1 cargo test --test gate_file` (or `gate schema > gate.schema.json`)"
            );
        }
    }
    let schema: serde_json::Value = serde_json::from_str(&current).expect("schema is JSON");
    let props = &schema["properties"];
    for key in [
        "version",
        "stages",
        "components",
        "checks",
        "global",
        "ignore",
        "unmatched",
        "skip",
        "promotion",
        "defaults",
        "strict",
        "environments",
    ] {
        assert!(props.get(key).is_some(), "schema lacks `{key}`");
    }
    assert_eq!(
        schema["additionalProperties"],
        serde_json::Value::Bool(false)
    );
}

#[test]
fn ten_thousand_components_parse_and_plan() {
    let mut yaml = String::from("stages: [test]\ncomponents:\n");
    yaml.push_str("  c0: {paths: [\"pkg/c0/**\"], depends_on: [c0]}\n");
    for i in 1..10_000 {
        yaml.push_str(&format!(
            "  c{i}: {{paths: [\"pkg/c{i}/**\"], depends_on: [c{}]}}\n",
            i / 2
        ));
    }
    yaml.push_str("checks:\n  t: {stage: test, components: [c9999], commands: [x]}\n");
    let message = errors(&yaml);
    assert!(
        message.contains("component `c0` depends on itself"),
        "a clear error: {message}"
    );
    let yaml = yaml.replacen("depends_on: [c0]}\n", "depends_on: []}\n", 1);
    let gate = Gate::parse(&yaml, ".gate.yml").expect("valid");
    assert_eq!(gate.components.len(), 10_000);
    // c9999 depends on c4999, … on c1, which depends on c0: a change in c0 selects the check.
    let changes = [codecommit_gate::plan::ChangedPath::new("pkg/c0/lib.rs")];
    let plan = codecommit_gate::plan::plan(
        &gate,
        &codecommit_gate::plan::PlanInput {
            changes: &changes,
            ..Default::default()
        },
    );
    assert!(plan.checks[0].run);
}

mod fuzz {
    use super::*;
    use proptest::prelude::*;

    fn cases() -> u32 {
        std::env::var("PROPTEST_CASES")
            .ok()
            .and_then(|c| c.parse().ok())
            .unwrap_or(512)
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(cases()))]

        /// Arbitrary text never panics, and every rejection says what is wrong.
        #[test]
        fn arbitrary_text_never_panics(text in "\\PC{0,400}") {
            if let Err(GateFileErrors(list)) = Gate::parse(&text, ".gate.yml") {
                prop_assert!(!list.is_empty());
                for e in list {
                    prop_assert!(!e.message.trim().is_empty());
                }
            }
        }

        /// Mutations of the documented example (cut short, junk inserted) never panic, and
        /// every rejection names a position or explains itself with a hint.
        #[test]
        fn mutated_examples_never_panic(
            cut in 1usize..9000,
            at in 0usize..9000,
            junk in "[\\[\\]{}:,&*!|>'\"#%@`-]{1,8}",
            repeat in 0usize..3,
        ) {
            let example = std::fs::read_to_string("gate.example.yml").expect("example");
            let mut text: String = example.chars().take(cut).collect();
            let at = (0..=at.min(text.len())).rev().find(|&i| text.is_char_boundary(i)).unwrap_or(0);
            text.insert_str(at, &junk.repeat(repeat + 1));
            if let Err(GateFileErrors(list)) = Gate::parse(&text, ".gate.yml") {
                for e in list {
                    prop_assert!(!e.message.trim().is_empty());
                    prop_assert!(e.position.is_some() || e.hint.is_some(), "{}", e);
                }
            }
        }
    }
}

mod releases {
    //! The release section: `deploy`, `package` and `environments`, each mistake at its line
    //! and column with a hint.

    use super::errors;
    use codecommit_gate::gate_file::Gate;
    use codecommit_gate::release::{ReleaseInput, plan_release};

    const DEPLOY_VARIABLE_HINT: &str = "the GATE_* variables describe the release (GATE_ACTION, \
        GATE_ENVIRONMENT, GATE_COMMIT, …); a gate file may not set them: choose another name";

    #[test]
    fn environment_mistakes_are_all_reported_with_line_and_column() {
        let yaml = r#"stages: [test]
checks:
  unit: {stage: test, commands: [make test]}
  e2e: {stage: test, commands: [make e2e]}
environments:
  development:
    branch: develop
    checks: [unit, e2ee]
  testing:
    branch: develop
  status:
    branch: refs/heads/main
  production:
    branch: main
    approval:
      approvers: []
      timeout: 0
  staging:
    branch: staging
    approval: {approvers: ["local:*"], timeout: 50000}
"#;
        assert_eq!(
            errors(yaml),
            [
                ".gate.yml:8:20: environment `development` names unknown check `e2ee`\n  hint: did you mean `e2e`?",
                ".gate.yml:10:13: environments `development` and `testing` both release branch `develop`\n  hint: a push to a branch releases one environment: give each its own branch",
                ".gate.yml:12:5: environment name `status` is reserved\n  hint: `gate release status` shows every environment; choose another name",
                ".gate.yml:12:13: environment `status`: `refs/heads/main` is not a branch name\n  hint: name the branch without `refs/heads/`, e.g. `branch: main`",
                ".gate.yml:16:7: environment `production`: `approval.approvers` is empty\n  hint: list who may approve, e.g. `approvers: [\"arn:aws:sts::*:assumed-role/Release/*\"]`",
                ".gate.yml:17:16: approval timeout 0 is out of range\n  hint: wait 1 to 43200 minutes (30 days) for an approval",
                ".gate.yml:20:49: approval timeout 50000 is out of range\n  hint: wait 1 to 43200 minutes (30 days) for an approval",
            ]
            .join("\n")
        );
    }

    #[test]
    fn deploy_and_package_mistakes_are_all_reported_with_line_and_column() {
        let yaml = r#"stages: [test]
components:
  api:
    paths: [api/]
    deploy:
      commands: []
      rollback: []
      timeout: 3
      env: {GATE_FOO: x, REGION: eu-west-1}
  web:
    paths: [web/]
    package: {commands: [npm run build], outputs: [dist/]}
  worker:
    paths: [worker/]
    deploy: {commands: [./deploy.sh]}
    package:
      commands: [make zip]
      outputs: [../x, target/worker.zip]
checks:
  unit: {stage: test, commands: [make test]}
"#;
        assert_eq!(
            errors(yaml),
            [
                ".gate.yml:6:7: component `api`: `deploy.commands` is empty\n  hint: list the commands that deploy it, e.g. `commands: [./deploy.sh]`",
                ".gate.yml:6:7: component `api`: `deploy.rollback` is empty\n  hint: list the commands that undo a deploy, or leave `rollback` out to deploy the previous release again",
                ".gate.yml:8:16: timeout 3 is out of range\n  hint: CodeBuild accepts 5 to 2160 minutes",
                &format!(".gate.yml:9:23: component `api`'s deploy sets `GATE_FOO`, a variable the gate sets itself\n  hint: {DEPLOY_VARIABLE_HINT}"),
                ".gate.yml:12:14: component `web` has `package` but no `deploy`\n  hint: a package is what a deploy deploys: add `deploy`, or remove `package`",
                ".gate.yml:18:17: component `worker`: package output `../x` is not a path inside the repository\n  hint: use a relative path without `..`, e.g. `dist/` or `target/app.zip`",
            ]
            .join("\n")
        );
    }

    #[test]
    fn unknown_keys_inside_deploy_and_environments_are_rejected() {
        let hint =
            "hint: check the spelling; the keys are listed in gate.example.yml and `gate schema`";
        let deploy = r#"stages: [test]
components:
  api:
    paths: [api/]
    deploy:
      commands: [./deploy.sh]
      rolback: [./undo.sh]
checks:
  unit: {stage: test, commands: [make test]}
"#;
        assert_eq!(
            errors(deploy),
            format!(
                ".gate.yml:7:7: unknown field `rolback`, expected one of commands, rollback, timeout, env\n  {hint}"
            )
        );
        let environment = r#"stages: [test]
checks:
  unit: {stage: test, commands: [make test]}
environments:
  production:
    branch: main
    aproval: {approvers: ["local:*"]}
"#;
        assert_eq!(
            errors(environment),
            format!(
                ".gate.yml:7:5: unknown field `aproval`, expected one of branch, checks, approval\n  {hint}"
            )
        );
    }

    /// api depends on db, db on lib, lib on api: no order deploys api after db and db after api.
    #[test]
    fn a_cycle_through_deployed_components_is_an_error() {
        let yaml = r#"stages: [test]
components:
  api:
    paths: [api/]
    depends_on: [db]
    deploy: {commands: [./deploy-api.sh]}
  lib:
    paths: [lib/]
    depends_on: [api]
  db:
    paths: [db/]
    depends_on: [lib]
    deploy: {commands: [./deploy-db.sh]}
checks:
  unit: {stage: test, commands: [make test]}
"#;
        assert_eq!(
            errors(yaml),
            ".gate.yml:6:13: component `api` is deployed but is in a dependency cycle with `lib`, `db`\n  hint: a release deploys each component after everything it depends on: break the cycle"
        );
    }

    /// lib and util depend on each other and neither is deployed: legal, as for pull requests;
    /// the deployed components around the cycle still deploy in dependency order.
    #[test]
    fn a_cycle_through_components_without_deploy_is_legal() {
        let yaml = r#"stages: [test]
components:
  web:
    paths: [web/]
    depends_on: [lib]
    deploy: {commands: [./deploy-web.sh]}
  lib:
    paths: [lib/]
    depends_on: [util]
  util:
    paths: [util/]
    depends_on: [lib, db]
  db:
    paths: [db/]
    deploy: {commands: [./deploy-db.sh]}
checks:
  unit: {stage: test, commands: [make test]}
environments:
  production: {branch: main, checks: [unit]}
"#;
        let gate = Gate::parse(yaml, ".gate.yml").expect("a cycle without deploys is legal");
        let cycles: Vec<Vec<&str>> = gate
            .cycles
            .iter()
            .map(|c| c.iter().map(|n| n.as_str()).collect())
            .collect();
        assert_eq!(cycles, [["lib", "util"]]);
        let plan = plan_release(
            &gate,
            &ReleaseInput {
                environment: "production",
                commit: "c1",
                previous: None,
                changes: &[],
            },
        )
        .expect("plans");
        assert_eq!(plan.wave_names(), [["db"], ["web"]]);
    }
}
