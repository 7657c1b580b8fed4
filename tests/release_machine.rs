//! The release state machine's input, built from a release plan: the environment's checks on
//! the gate's CodeBuild machinery without the merge prelude, the approval, the waves of
//! deploys with the environment's deploy role and, for each, how it is rolled back.

use codecommit_gate::gate_file::Gate;
use codecommit_gate::ids::RepositoryName;
use codecommit_gate::machine::release::{ReleaseExecutionInput, ReleaseTarget, release_input};
use codecommit_gate::machine::{BuildDefaults, EnvVar, MERGE_PRELUDE, release_execution_name};
use codecommit_gate::plan::ChangedPath;
use codecommit_gate::release::{ReleaseInput, plan_release};
use std::collections::BTreeMap;

const GATE: &str = r#"stages: [test]
components:
  network:
    paths: [infra/network/]
    deploy: {commands: [./net.sh], timeout: 20}
  lib: {paths: [lib/], depends_on: [network]}
  app:
    paths: [app/]
    depends_on: [lib]
    deploy:
      commands: [./app.sh]
      rollback: [./app-undo.sh]
      env: {REGION: eu-west-1}
    package: {commands: [make], outputs: [dist/]}
checks:
  unit: {stage: test, commands: [make test], env: {MODE: release}}
  e2e: {stage: test, components: [app], buildspec: ci/e2e.yml}
environments:
  production:
    branch: main
    checks: [unit, e2e]
    approval: {approvers: ["arn:aws:sts::*:assumed-role/Release/*"], timeout: 90}
"#;

const P: &str = "1111111111111111111111111111111111111111";
const C: &str = "2222222222222222222222222222222222222222";
const ROLE: &str = "arn:aws:iam::123456789012:role/gate-deploy-production";

fn input(previous: Option<&str>, paths: &[&str]) -> ReleaseExecutionInput {
    let gate = Gate::parse(GATE, ".gate.yml").expect("valid");
    let changes: Vec<ChangedPath> = paths.iter().map(|p| ChangedPath::new(*p)).collect();
    let plan = plan_release(
        &gate,
        &ReleaseInput {
            environment: "production",
            commit: C,
            previous,
            changes: &changes,
        },
    )
    .expect("plans");
    let repository = RepositoryName::new("shop");
    let build = BuildDefaults::default();
    let buildspecs = BTreeMap::from([("ci/e2e.yml".to_owned(), Ok(vec!["./e2e.sh".to_owned()]))]);
    let keys = BTreeMap::from([("app".to_owned(), "k-app".to_owned())]);
    release_input(
        &gate,
        &plan,
        &ReleaseTarget {
            repository: &repository,
            sequence: 4,
            project: "gate-release-shop",
            deploy_role_arn: ROLE,
            build: &build,
        },
        &buildspecs,
        &keys,
    )
    .expect("builds")
}

fn var<'a>(env: &'a [EnvVar], name: &str) -> Option<&'a str> {
    env.iter()
        .find(|v| v.name == name)
        .map(|v| v.value.as_str())
}

#[test]
fn checks_run_on_the_gates_machinery_with_the_release_facts_and_no_merge() {
    let input = input(Some(P), &["app/main.rs"]);
    let checks: Vec<&str> = input.checks[0]
        .checks
        .iter()
        .map(|c| c.name.as_str())
        .collect();
    assert_eq!(checks, ["unit", "e2e"]);
    for check in &input.checks[0].checks {
        assert_eq!(var(&check.env, "GATE_ACTION"), Some("check"));
        assert_eq!(var(&check.env, "GATE_ENVIRONMENT"), Some("production"));
        assert_eq!(var(&check.env, "GATE_COMMIT"), Some(C));
        assert_eq!(var(&check.env, "GATE_PREVIOUS_COMMIT"), Some(P));
        assert_eq!(
            var(&check.env, "GATE_DESTINATION_COMMIT"),
            None,
            "no PR facts"
        );
        for line in MERGE_PRELUDE {
            assert!(
                !check.buildspec.contains(line),
                "merge prelude in {}",
                check.buildspec
            );
        }
    }
    let unit = &input.checks[0].checks[0];
    assert_eq!(var(&unit.env, "MODE"), Some("release"));
    assert!(unit.buildspec.contains("make test"), "{}", unit.buildspec);
    assert!(input.checks[0].checks[1].buildspec.contains("./e2e.sh"));
}

#[test]
fn deploys_come_in_waves_with_the_deploy_role_and_their_rollbacks() {
    let input = input(Some(P), &["infra/network/vpc.yml"]);
    assert_eq!(input.deploy_role_arn, ROLE);
    assert_eq!(input.project, "gate-release-shop");
    assert_eq!(
        input.execution_name,
        release_execution_name(&RepositoryName::new("shop"), "production", C, 4)
    );
    let waves: Vec<Vec<&str>> = input
        .waves
        .iter()
        .map(|w| w.deploys.iter().map(|d| d.component.as_str()).collect())
        .collect();
    assert_eq!(waves, [vec!["network"], vec!["app"]]);

    let network = &input.waves[0].deploys[0];
    assert_eq!(network.timeout_minutes, 20);
    assert_eq!(var(&network.env, "GATE_ACTION"), Some("deploy"));
    assert_eq!(var(&network.env, "GATE_COMPONENT"), Some("network"));
    assert!(network.buildspec.contains("./net.sh"));
    assert_eq!(network.artifact_key, None);
    // No `rollback`: deploy the previous release again.
    assert_eq!(
        network.rollback.source_version.as_ref().map(|c| c.as_str()),
        Some(P)
    );
    assert!(
        network
            .rollback
            .buildspec
            .as_deref()
            .is_some_and(|b| b.contains("./net.sh"))
    );
    assert_eq!(var(&network.rollback.env, "GATE_ACTION"), Some("rollback"));
    assert_eq!(var(&network.rollback.env, "GATE_COMMIT"), Some(P));
    assert_eq!(var(&network.rollback.env, "GATE_PREVIOUS_COMMIT"), Some(C));

    let app = &input.waves[1].deploys[0];
    assert_eq!(var(&app.env, "REGION"), Some("eu-west-1"));
    assert_eq!(app.artifact_key.as_deref(), Some("k-app"));
    // Its own `rollback` commands, at the released commit.
    assert_eq!(
        app.rollback.source_version.as_ref().map(|c| c.as_str()),
        Some(C)
    );
    assert!(
        app.rollback
            .buildspec
            .as_deref()
            .is_some_and(|b| b.contains("./app-undo.sh"))
    );
    assert_eq!(var(&app.rollback.env, "REGION"), Some("eu-west-1"));

    let order: Vec<&str> = input
        .rollback_order()
        .iter()
        .map(|d| d.component.as_str())
        .collect();
    assert_eq!(order, ["app", "network"]);
}

#[test]
fn a_first_release_has_nothing_to_return_to_without_rollback_commands() {
    let input = input(None, &[]);
    let network = &input.waves[0].deploys[0];
    assert_eq!(network.rollback.source_version, None);
    assert_eq!(network.rollback.buildspec, None);
    assert_eq!(var(&network.env, "GATE_PREVIOUS_COMMIT"), Some(""));
    let approval = input.approval.as_ref().expect("production is approved");
    assert_eq!(approval.timeout_seconds, 90 * 60);
    assert_eq!(
        approval.approvers,
        ["arn:aws:sts::*:assumed-role/Release/*"]
    );
}

#[test]
fn the_input_survives_json() {
    let input = input(Some(P), &["app/x", "infra/network/y"]);
    let text = serde_json::to_string(&input).expect("json");
    let back: ReleaseExecutionInput = serde_json::from_str(&text).expect("parses");
    assert_eq!(back, input);
}
