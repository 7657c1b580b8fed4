//! The release state machine's input, built from a release plan: the environment's checks on
//! the gate's CodeBuild machinery without the merge prelude, the approval, the waves of
//! deploys with the environment's deploy role and, for each, how it is rolled back.

use codecommit_gate::gate_file::Gate;
use codecommit_gate::ids::RepositoryName;
use codecommit_gate::machine::release::{
    ArtifactKeys, ReleaseExecutionInput, ReleaseTarget, release_input,
};
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
  staging: {branch: develop, checks: [unit]}
"#;

const P: &str = "1111111111111111111111111111111111111111";
const C: &str = "2222222222222222222222222222222222222222";
const ROLE: &str = "arn:aws:iam::123456789012:role/gate-deploy-production";

const BUCKET: &str = "gate-artifacts-123";

fn input(previous: Option<&str>, paths: &[&str]) -> ReleaseExecutionInput {
    input_for(GATE, "production", previous, paths)
}

fn input_for(
    gate: &str,
    environment: &str,
    previous: Option<&str>,
    paths: &[&str],
) -> ReleaseExecutionInput {
    let gate = Gate::parse(gate, ".gate.yml").expect("valid");
    let changes: Vec<ChangedPath> = paths.iter().map(|p| ChangedPath::new(*p)).collect();
    let plan = plan_release(
        &gate,
        &ReleaseInput {
            environment,
            commit: C,
            previous,
            changes: &changes,
        },
    )
    .expect("plans");
    let repository = RepositoryName::new("shop");
    let build = BuildDefaults::default();
    let buildspecs = BTreeMap::from([("ci/e2e.yml".to_owned(), Ok(vec!["./e2e.sh".to_owned()]))]);
    let keys = ArtifactKeys {
        released: BTreeMap::from([("app".to_owned(), "k-app".to_owned())]),
        previous: BTreeMap::from([("app".to_owned(), "k-app-before".to_owned())]),
    };
    release_input(
        &gate,
        &plan,
        &ReleaseTarget {
            repository: &repository,
            sequence: 4,
            project: "gate-release-shop",
            deploy_role_arn: ROLE,
            artifact_bucket: BUCKET,
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

/// A buildspec's commands by phase, read as CodeBuild reads the YAML.
fn phases(buildspec: &str) -> BTreeMap<String, Vec<String>> {
    let yaml: serde_json::Value = serde_saphyr::from_str(buildspec).expect("the buildspec is YAML");
    assert_eq!(yaml["version"], 0.2);
    yaml["phases"]
        .as_object()
        .expect("phases")
        .iter()
        .map(|(phase, p)| {
            let commands = p["commands"]
                .as_array()
                .expect("commands")
                .iter()
                .map(|c| c.as_str().expect("a string").to_owned())
                .collect();
            (phase.clone(), commands)
        })
        .collect()
}

#[test]
fn a_packaged_component_is_built_uploaded_and_marked_complete_last() {
    let input = input(Some(P), &["app/main.rs", "infra/network/vpc.yml"]);
    assert_eq!(input.packages.len(), 1);
    let package = &input.packages[0];
    assert_eq!(package.component.as_str(), "app");
    assert_eq!(package.key, "k-app");
    assert_eq!(package.marker, "shop/k-app.complete");
    assert_eq!(var(&package.env, "GATE_ACTION"), Some("package"));
    assert_eq!(var(&package.env, "GATE_COMPONENT"), Some("app"));
    assert_eq!(var(&package.env, "GATE_COMMIT"), Some(C));
    assert_eq!(var(&package.env, "GATE_ARTIFACT_DIR"), None, "as locally");
    let package_phases = phases(&package.buildspec);
    assert_eq!(package_phases.keys().collect::<Vec<_>>(), ["build"]);
    assert_eq!(
        package_phases["build"],
        [
            "make".to_owned(),
            "cd \"$CODEBUILD_SRC_DIR\"".to_owned(),
            "if [ -d 'dist' ]; then aws s3 cp --only-show-errors --recursive 'dist' \
             's3://gate-artifacts-123/shop/k-app/dist'; elif [ -e 'dist' ]; then aws s3 cp \
             --only-show-errors 'dist' 's3://gate-artifacts-123/shop/k-app/dist'; else echo \
             'package output `dist/` does not exist after the package commands' >&2; exit 1; fi"
                .to_owned(),
            "printf '%s\\n' \"$GATE_COMMIT\" | aws s3 cp --only-show-errors - \
             's3://gate-artifacts-123/shop/k-app.complete'"
                .to_owned(),
        ]
    );
    // The deploy takes it from there before its commands; a component without a package
    // does not.
    let app = &input.waves[1].deploys[0];
    assert_eq!(
        var(&app.env, "GATE_ARTIFACT_DIR"),
        Some("/tmp/gate-artifact")
    );
    let deploy = phases(&app.buildspec);
    assert_eq!(
        deploy["pre_build"],
        [
            "mkdir -p \"$GATE_ARTIFACT_DIR\"",
            "aws s3 cp --only-show-errors --recursive 's3://gate-artifacts-123/shop/k-app/' \
             \"$GATE_ARTIFACT_DIR\"",
        ]
    );
    assert_eq!(deploy["build"], ["./app.sh"]);
    let network = &input.waves[0].deploys[0];
    assert_eq!(var(&network.env, "GATE_ARTIFACT_DIR"), None);
    assert!(!phases(&network.buildspec).contains_key("pre_build"));
    assert_eq!(var(&app.rollback.env, "GATE_ARTIFACT_DIR"), None);
}

#[test]
fn every_environment_shares_the_artifact_of_the_same_content() {
    let both = ["app/main.rs", "infra/network/vpc.yml"];
    let production = input_for(GATE, "production", Some(P), &both);
    let staging = input_for(GATE, "staging", Some(P), &both);
    assert_eq!(staging.packages.len(), 1);
    let (a, b) = (&production.packages[0], &staging.packages[0]);
    assert_eq!((&a.key, &a.marker), (&b.key, &b.marker));
    assert_eq!(
        a.buildspec, b.buildspec,
        "the same upload to the same place"
    );
    assert_eq!(
        var(&b.env, "GATE_ENVIRONMENT"),
        Some("staging"),
        "only the facts differ"
    );
    assert_eq!(
        production.waves[1].deploys[0].buildspec,
        staging.waves[1].deploys[0].buildspec
    );
}

/// Runs `lines` with bash in `dir`, `aws` being a fake that appends its arguments (and, for
/// `cp -`, what it read) to `aws.log`.
fn run_lines(dir: &std::path::Path, lines: &[String]) -> (bool, String) {
    let bin = dir.join("bin");
    std::fs::create_dir_all(&bin).expect("mkdir");
    let fake = bin.join("aws");
    std::fs::write(
        &fake,
        "#!/bin/sh\nprintf '%s|' \"$@\" >> \"$LOG\"\nif [ \"$4\" = - ]; then cat >> \"$LOG\"; fi\necho >> \"$LOG\"\n",
    )
    .expect("write");
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&fake, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    let path = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    // One shell for all the lines, stopping at the first that fails, as CodeBuild runs a
    // phase's commands.
    let status = std::process::Command::new("bash")
        .args(["-e", "-c", &lines.join("\n")])
        .current_dir(dir)
        .env("PATH", &path)
        .env("LOG", dir.join("aws.log"))
        .env("GATE_COMMIT", C)
        .env("CODEBUILD_SRC_DIR", dir)
        .env("GATE_ARTIFACT_DIR", dir.join("artifact"))
        .status()
        .expect("bash runs");
    let log = std::fs::read_to_string(dir.join("aws.log")).unwrap_or_default();
    (status.success(), log)
}

#[test]
fn outputs_named_by_the_gate_file_stay_one_shell_word_each() {
    let gate = GATE.replace(
        "package: {commands: [make], outputs: [dist/]}",
        r#"package: {commands: [make], outputs: ["dist/", "it's $(here).txt"]}"#,
    );
    let input = input_for(&gate, "production", Some(P), &["app/main.rs"]);
    let commands = &phases(&input.packages[0].buildspec)["build"];
    // As the package commands left it: somewhere else.
    let upload: Vec<String> = std::iter::once("cd dist".to_owned())
        .chain(commands[1..].iter().cloned())
        .collect();
    let upload = upload.as_slice();
    let tmp = tempfile::tempdir().expect("tempdir");
    std::fs::create_dir_all(tmp.path().join("dist")).expect("mkdir");
    std::fs::write(tmp.path().join("it's $(here).txt"), "x").expect("write");
    let (ok, log) = run_lines(tmp.path(), upload);
    assert!(ok, "{log}");
    let key = &input.packages[0].key;
    assert_eq!(
        log,
        format!(
            "s3|cp|--only-show-errors|--recursive|dist|s3://{BUCKET}/shop/{key}/dist|\n\
             s3|cp|--only-show-errors|it's $(here).txt|s3://{BUCKET}/shop/{key}/it's $(here).txt|\n\
             s3|cp|--only-show-errors|-|s3://{BUCKET}/shop/{key}.complete|{C}\n\n"
        ),
        "each output uploaded, then the marker, last"
    );

    // A missing output fails the build before the marker is written.
    let empty = tempfile::tempdir().expect("tempdir");
    std::fs::create_dir_all(empty.path().join("dist")).expect("mkdir");
    let (ok, log) = run_lines(empty.path(), upload);
    assert!(!ok);
    assert!(!log.contains(".complete"), "{log}");
}

#[test]
fn a_rollback_that_redeploys_checks_and_downloads_the_previous_artifact() {
    let gate = GATE.replace("      rollback: [./app-undo.sh]\n", "");
    let input = input_for(&gate, "production", Some(P), &["app/main.rs"]);
    let app = &input.waves[0].deploys[0];
    assert_eq!(app.rollback.artifact_key.as_deref(), Some("k-app-before"));
    assert_eq!(
        var(&app.rollback.env, "GATE_ARTIFACT_DIR"),
        Some("/tmp/gate-artifact")
    );
    let buildspec = app.rollback.buildspec.as_deref().expect("a rollback");
    let pre_build = &phases(buildspec)["pre_build"];
    let tmp = tempfile::tempdir().expect("tempdir");
    let (ok, log) = run_lines(tmp.path(), pre_build);
    assert!(ok, "{log}");
    assert_eq!(
        log,
        format!(
            "s3|cp|--only-show-errors|s3://{BUCKET}/shop/k-app-before.complete|-|\n\
             s3|cp|--only-show-errors|--recursive|s3://{BUCKET}/shop/k-app-before/|{}|\n",
            tmp.path().join("artifact").display()
        ),
        "the marker is read, then the previous artifact downloaded"
    );
    // With its own rollback commands nothing is downloaded.
    let own = &input_for(GATE, "production", Some(P), &["app/main.rs"]).waves[0].deploys[0];
    assert_eq!(own.rollback.artifact_key, None);
}
