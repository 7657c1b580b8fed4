//! Stories of gate-start and releases, against the in-memory fakes: a push to an
//! environment's branch plans the release against the environment's last release and starts
//! the release state machine; pushes to one environment wait for the running release, the
//! newest waiting one wins and the ones it replaced are recorded as superseded; redeliveries,
//! other branches, environments without a deploy role and stacks without releases start
//! nothing.

use crate::scratch;
use crate::world;

use codecommit_gate::event::Event;
use codecommit_gate::flows::gate_start::StartOutcome;
use codecommit_gate::flows::release_start::ReleaseStart;
use codecommit_gate::gate_file::Gate;
use codecommit_gate::local::git::Repo;
use codecommit_gate::plan::ChangedPath;
use codecommit_gate::ports::{EnvironmentRecord, Ledger, Written};
use codecommit_gate::release::{ReleaseOutcome, artifact_key};
use std::collections::BTreeMap;
use world::{World, commit};

const RELEASE_GATE: &str = r#"stages: [test]
components:
  network: {paths: [infra/network/], deploy: {commands: [./net.sh]}}
  app: {paths: [app/], depends_on: [network], deploy: {commands: [./app.sh]}}
checks:
  unit: {stage: test, commands: [make test]}
environments:
  testing: {branch: testing, checks: [unit]}
  production: {branch: main, checks: [unit]}
"#;

const ROLE: &str = "arn:aws:iam::123456789012:role/gate-deploy-production";

/// A world whose stack releases production from `main` (testing not at all), and the
/// release gate file at commits 20 to 23.
fn world() -> World {
    let mut w = World::new();
    w.release_production_from_main(ROLE);
    for n in 20..24 {
        w.cc.put_file(&commit(n), ".gate.yml", RELEASE_GATE);
    }
    w
}

fn pushed(w: &World, branch: &str, to: u8) -> Event {
    w.branch_moved(branch, to)
}

fn release_of(outcome: StartOutcome) -> ReleaseStart {
    match outcome {
        StartOutcome::Pushed { release, .. } => release,
        other => panic!("no release: {other:?}"),
    }
}

#[tokio::test]
async fn a_push_to_an_environments_branch_starts_its_first_release() {
    let w = world();
    let release = release_of(w.send(pushed(&w, "main", 20)).await);
    let ReleaseStart::Started {
        environment,
        execution_name,
        deploys,
    } = release
    else {
        panic!("{release:?}");
    };
    assert_eq!(environment, "production");
    assert_eq!(deploys, 2);
    let started = w.sfn.releases();
    assert_eq!(started.len(), 1);
    let (name, input) = &started[0];
    assert_eq!(name, &execution_name);
    assert_eq!(input.commit, commit(20));
    assert_eq!(input.previous, None);
    assert_eq!(input.deploy_role_arn, ROLE);
    assert_eq!(input.project, "gate-release-my-repo-production");
    let waves: Vec<Vec<&str>> = input
        .waves
        .iter()
        .map(|w| w.deploys.iter().map(|d| d.component.as_str()).collect())
        .collect();
    assert_eq!(waves, [vec!["network"], vec!["app"]]);
    let lane = w
        .ledger
        .environment(&w.repo, "production")
        .await
        .expect("read")
        .expect("written")
        .lane;
    assert_eq!(
        lane.running.map(|r| r.commit),
        Some(commit(20).as_str().to_owned())
    );
}

#[tokio::test]
async fn the_release_is_planned_against_the_environments_last_release() {
    let w = world();
    let mut record = EnvironmentRecord::new(w.repo.clone(), "production");
    record.state.commit = Some(commit(19).as_str().to_owned());
    assert_eq!(
        w.ledger.put_environment(&record).await.expect("put"),
        Written::Written
    );
    w.cc.put_diff(
        &commit(19),
        &commit(20),
        vec![ChangedPath::new("app/main.rs")],
    );
    release_of(w.send(pushed(&w, "main", 20)).await);
    let (_, input) = w.sfn.releases().pop().expect("started");
    assert_eq!(input.previous, Some(commit(19)));
    let deployed: Vec<&str> = input
        .waves
        .iter()
        .flat_map(|w| w.deploys.iter().map(|d| d.component.as_str()))
        .collect();
    assert_eq!(
        deployed,
        ["app"],
        "only what changed since the last release"
    );
}

#[tokio::test]
async fn pushes_wait_for_the_running_release_and_the_replaced_ones_are_recorded() {
    let w = world();
    release_of(w.send(pushed(&w, "main", 20)).await);
    assert_eq!(
        release_of(w.send(pushed(&w, "main", 21)).await),
        ReleaseStart::Queued {
            environment: "production".into(),
            superseded: None
        }
    );
    assert_eq!(
        release_of(w.send(pushed(&w, "main", 22)).await),
        ReleaseStart::Queued {
            environment: "production".into(),
            superseded: Some(commit(21))
        }
    );
    assert_eq!(w.sfn.releases().len(), 1, "one release at a time");
    let superseded = w.ledger.releases();
    assert_eq!(superseded.len(), 1);
    assert_eq!(superseded[0].outcome, ReleaseOutcome::Superseded);
    assert_eq!(superseded[0].plan.commit, commit(21).as_str());

    // The branch goes back to the running commit: the waiting one is withdrawn.
    assert_eq!(
        release_of(w.send(pushed(&w, "main", 20)).await),
        ReleaseStart::Withdrawn {
            environment: "production".into(),
            superseded: commit(22)
        }
    );
    assert_eq!(w.ledger.releases().len(), 2);
}

#[tokio::test]
async fn a_redelivered_push_starts_nothing_more() {
    let w = world();
    let event = pushed(&w, "main", 20);
    release_of(w.send(event.clone()).await);
    assert_eq!(
        release_of(w.send(event).await),
        ReleaseStart::Unchanged {
            environment: "production".into()
        }
    );
    assert_eq!(w.sfn.releases().len(), 1);
}

#[tokio::test]
async fn an_environment_without_a_deploy_role_is_not_released() {
    let w = world();
    assert_eq!(
        release_of(w.send(pushed(&w, "testing", 20)).await),
        ReleaseStart::NoDeployRole {
            environment: "testing".into()
        }
    );
    assert!(w.sfn.releases().is_empty());
    assert_eq!(
        w.ledger
            .environment(&w.repo, "testing")
            .await
            .expect("read"),
        None
    );
}

#[tokio::test]
async fn other_branches_and_stacks_without_releases_only_look_at_approvals() {
    let w = world();
    let other = w.send(pushed(&w, "feature/y", 20)).await;
    assert!(matches!(other, StartOutcome::Outdated { .. }), "{other:?}");
    let mut off = world();
    off.deps.settings.releases = None;
    let outcome = off.send(pushed(&off, "main", 20)).await;
    assert!(
        matches!(outcome, StartOutcome::Outdated { .. }),
        "{outcome:?}"
    );
    assert!(off.sfn.releases().is_empty());
    // A commit without a valid gate file releases nothing either.
    let w = world();
    w.cc.put_file(&commit(23), ".gate.yml", "stages: [");
    let broken = w.send(pushed(&w, "main", 23)).await;
    assert!(
        matches!(broken, StartOutcome::Outdated { .. }),
        "{broken:?}"
    );
}

#[tokio::test]
async fn a_start_that_failed_after_the_lane_was_written_starts_on_the_redelivery() {
    use codecommit_gate::ports::PortError;
    let w = world();
    w.sfn.calls.fail_next(
        "states:StartExecution",
        PortError::Transient {
            call: "states:StartExecution",
            message: "ThrottlingException".into(),
        },
    );
    let event = pushed(&w, "main", 20);
    let failed = codecommit_gate::flows::gate_start::handle(&w.deps, event.clone()).await;
    assert!(failed.is_err(), "the event is retried: {failed:?}");
    assert!(w.sfn.releases().is_empty());
    release_of(w.send(event).await);
    assert_eq!(w.sfn.releases().len(), 1, "the redelivery starts it");
}

#[tokio::test]
async fn a_gate_file_on_another_branch_cannot_claim_an_environment() {
    // A developer pushes to an unprotected branch a gate file that names it production.
    let w = world();
    let claiming = RELEASE_GATE.replace(
        "production: {branch: main",
        "production: {branch: feature/x",
    );
    w.cc.put_file(&commit(23), ".gate.yml", &claiming);
    assert_eq!(
        release_of(w.send(pushed(&w, "feature/x", 23)).await),
        ReleaseStart::WrongBranch {
            environment: "production".into(),
            branch: "feature/x".into()
        }
    );
    assert!(
        w.sfn.releases().is_empty(),
        "nothing deploys with production's role"
    );
    assert_eq!(
        w.ledger
            .environment(&w.repo, "production")
            .await
            .expect("read"),
        None
    );
}

#[tokio::test]
async fn a_superseded_record_survives_a_failure_after_it_and_is_announced() {
    use codecommit_gate::announce::{RELEASE_DETAIL_TYPE, ReleaseChange, ReleaseState};
    use codecommit_gate::ports::PortError;
    let w = world();
    release_of(w.send(pushed(&w, "main", 20)).await);
    release_of(w.send(pushed(&w, "main", 21)).await);
    // 22 replaces 21: the superseded record is written, then the lane write fails.
    w.ledger.fail_next_environment_put(PortError::Transient {
        call: "dynamodb:PutItem",
        message: "ProvisionedThroughputExceededException".into(),
    });
    let event = pushed(&w, "main", 22);
    let failed = codecommit_gate::flows::gate_start::handle(&w.deps, event.clone()).await;
    assert!(failed.is_err(), "retried: {failed:?}");
    assert_eq!(w.ledger.releases().len(), 1, "the record is there already");
    // The retried event finds the lane as it was and writes it.
    assert_eq!(
        release_of(w.send(event.clone()).await),
        ReleaseStart::Queued {
            environment: "production".into(),
            superseded: Some(commit(21))
        }
    );
    let records = w.ledger.releases();
    assert_eq!(records.len(), 1);
    assert_eq!(records[0].outcome, ReleaseOutcome::Superseded);
    assert_eq!(records[0].plan.commit, commit(21).as_str());
    // The redelivery of a push that already went through changes nothing more.
    release_of(w.send(event).await);
    assert_eq!(w.ledger.releases().len(), 1);
    let states: Vec<(ReleaseState, String)> = w
        .bus
        .events()
        .into_iter()
        .filter(|e| e.detail_type == RELEASE_DETAIL_TYPE)
        .map(|e| serde_json::from_value::<ReleaseChange>(e.detail).expect("change"))
        .map(|c| {
            if c.state == ReleaseState::Superseded {
                let reason = c.reason.as_deref().unwrap_or_default();
                assert!(reason.contains("superseded by a newer push"), "{reason}");
            }
            (c.state, c.commit)
        })
        .collect();
    assert_eq!(
        states,
        [
            (ReleaseState::Started, commit(20).as_str().to_owned()),
            (ReleaseState::Superseded, commit(21).as_str().to_owned())
        ]
    );
}

// Artifact keys and first pushes

const PACKAGED_GATE: &str = r#"stages: [test]
components:
  network: {paths: [infra/network/], deploy: {commands: [./net.sh]}}
  app:
    paths: [app/]
    depends_on: [network]
    deploy: {commands: [./app.sh]}
    package: {commands: [make dist], outputs: [dist/]}
checks:
  unit: {stage: test, commands: [make test]}
environments:
  production: {branch: main, checks: [unit]}
"#;

/// A real git commit of the packaged gate file and `app` holding `app_text`: its files as
/// `git ls-tree -r` lists them, and the artifact key of `app` the local `gate release`
/// computes from them.
fn local_commit(app_text: &str) -> (Vec<(String, String)>, String) {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path();
    scratch::git(dir, &["init", "-q"]);
    scratch::write(dir, ".gate.yml", PACKAGED_GATE);
    scratch::write(dir, "app/main.rs", app_text);
    scratch::write(dir, "infra/network/vpc.yml", "cidr: 10.0.0.0/16\n");
    scratch::write(dir, "docs/readme.md", "not an input of app\n");
    let sha = scratch::commit(dir, "release");
    let files = Repo::open(dir)
        .expect("repo")
        .files_at(&sha)
        .expect("ls-tree");
    let gate = Gate::parse(PACKAGED_GATE, ".gate.yml").expect("valid");
    let app = gate
        .components
        .iter()
        .position(|c| c.name.as_str() == "app")
        .expect("app");
    let key = artifact_key(
        &gate,
        app,
        files.iter().map(|(p, o)| (p.as_str(), o.as_str())),
    )
    .expect("app has a package");
    (files, key)
}

/// The world with the packaged gate file at `n` and `files` as the commit's files.
fn put_packaged_commit(w: &World, n: u8, files: &[(String, String)]) {
    w.cc.put_file(&commit(n), ".gate.yml", PACKAGED_GATE);
    let pairs: Vec<(&str, &str)> = files
        .iter()
        .map(|(p, b)| (p.as_str(), b.as_str()))
        .collect();
    w.cc.put_commit_files(&commit(n), &pairs);
}

#[tokio::test]
async fn a_packaged_component_is_built_under_the_key_the_local_release_computes() {
    let w = world();
    let (files, local_key) = local_commit("fn main() {}\n");
    put_packaged_commit(&w, 20, &files);
    release_of(w.send(pushed(&w, "main", 20)).await);
    let (_, input) = w.sfn.releases().pop().expect("started");
    let packages: Vec<(&str, &str)> = input
        .packages
        .iter()
        .map(|p| (p.component.as_str(), p.key.as_str()))
        .collect();
    assert_eq!(packages, [("app", local_key.as_str())]);
    let deploys: BTreeMap<&str, Option<&str>> = input
        .waves
        .iter()
        .flat_map(|w| &w.deploys)
        .map(|d| (d.component.as_str(), d.artifact_key.as_deref()))
        .collect();
    assert_eq!(
        deploys,
        BTreeMap::from([("app", Some(local_key.as_str())), ("network", None)]),
        "a component without a package gets no artifact"
    );
    assert_eq!(w.cc.files_listed(), [commit(20)], "one listing per release");
}

#[tokio::test]
async fn a_plan_without_packages_lists_no_files() {
    let w = world();
    let mut record = EnvironmentRecord::new(w.repo.clone(), "production");
    record.state.commit = Some(commit(19).as_str().to_owned());
    w.ledger.put_environment(&record).await.expect("put");
    w.cc.put_diff(
        &commit(19),
        &commit(20),
        vec![ChangedPath::new("app/main.rs")],
    );
    release_of(w.send(pushed(&w, "main", 20)).await);
    let (_, input) = w.sfn.releases().pop().expect("started");
    assert!(input.packages.is_empty());
    assert!(w.cc.files_listed().is_empty(), "{:?}", w.cc.files_listed());
}

#[tokio::test]
async fn a_rollback_by_redeploy_carries_the_previous_releases_artifact() {
    let w = world();
    let (before, before_key) = local_commit("fn main() { v1() }\n");
    let (after, after_key) = local_commit("fn main() { v2() }\n");
    assert_ne!(before_key, after_key);
    put_packaged_commit(&w, 19, &before);
    put_packaged_commit(&w, 20, &after);
    let mut record = EnvironmentRecord::new(w.repo.clone(), "production");
    record.state.commit = Some(commit(19).as_str().to_owned());
    w.ledger.put_environment(&record).await.expect("put");
    w.cc.put_diff(
        &commit(19),
        &commit(20),
        vec![ChangedPath::new("app/main.rs")],
    );
    release_of(w.send(pushed(&w, "main", 20)).await);
    let (_, input) = w.sfn.releases().pop().expect("started");
    let app = &input.waves[0].deploys[0];
    assert_eq!(app.component.as_str(), "app");
    assert_eq!(app.artifact_key.as_deref(), Some(after_key.as_str()));
    assert_eq!(app.rollback.source_version, Some(commit(19)));
    assert_eq!(
        app.rollback.artifact_key.as_deref(),
        Some(before_key.as_str())
    );
    let buildspec = app.rollback.buildspec.as_deref().expect("a rollback");
    assert!(
        buildspec.contains(&format!("s3://gate-artifacts/my-repo/{before_key}/")),
        "{buildspec}"
    );
    assert_eq!(w.cc.files_listed(), [commit(20), commit(19)]);
}

#[tokio::test]
async fn a_created_environment_branch_starts_its_first_release() {
    let w = world();
    let text = std::fs::read_to_string("tests/data/events/codecommit-reference-created.json")
        .expect("fixture");
    let mut e: serde_json::Value = serde_json::from_str(&text).expect("JSON");
    let d = &mut e["detail"];
    d["repositoryName"] = serde_json::json!(w.repo.as_str());
    d["referenceName"] = serde_json::json!("main");
    d["referenceFullName"] = serde_json::json!("refs/heads/main");
    d["commitId"] = serde_json::json!(commit(20).as_str());
    let event = codecommit_gate::event::parse_value(e).expect("a valid event");
    let release = release_of(w.send(event).await);
    assert!(
        matches!(&release, ReleaseStart::Started { environment, deploys: 2, .. } if environment == "production"),
        "{release:?}"
    );
    let (_, input) = w.sfn.releases().pop().expect("started");
    assert_eq!((input.commit, input.previous), (commit(20), None));
}

#[tokio::test]
async fn who_pushed_travels_with_the_release_as_an_author_of_the_change() {
    const ANN: &str = "arn:aws:sts::123456789012:assumed-role/Developer/ann";
    const BOB: &str = "arn:aws:sts::123456789012:assumed-role/Developer/bob";
    let w = world();
    let by = |to: u8, who: &str| {
        let mut e = pushed(&w, "main", to);
        let Event::BranchMoved(moved) = &mut e else {
            panic!("a push");
        };
        moved.caller_arn = Some(who.to_owned());
        e
    };
    release_of(w.send(by(20, ANN)).await);
    assert_eq!(w.sfn.releases()[0].1.pushed_by.as_deref(), Some(ANN));
    release_of(w.send(by(21, BOB)).await);
    let lane = w
        .ledger
        .environment(&w.repo, "production")
        .await
        .expect("read")
        .expect("written")
        .lane;
    assert_eq!(lane.running.and_then(|r| r.pushed_by).as_deref(), Some(ANN));
    assert_eq!(
        lane.queued.and_then(|r| r.pushed_by).as_deref(),
        Some(BOB),
        "the waiting release keeps its pusher for when it starts"
    );
}

/// The environment at commit 19, whose gate file asks production for an approval by Leads.
async fn released_with_approval_at_19(w: &World) {
    let approving = RELEASE_GATE.replace(
        "production: {branch: main, checks: [unit]}",
        "production: {branch: main, checks: [unit], approval: {approvers: [\"arn:aws:sts::123456789012:assumed-role/Leads/*\"], timeout: 30}}",
    );
    assert_ne!(approving, RELEASE_GATE);
    w.cc.put_file(&commit(19), ".gate.yml", &approving);
    let mut record = EnvironmentRecord::new(w.repo.clone(), "production");
    record.state.commit = Some(commit(19).as_str().to_owned());
    assert_eq!(
        w.ledger.put_environment(&record).await.expect("put"),
        Written::Written
    );
    w.cc.put_diff(
        &commit(19),
        &commit(20),
        vec![ChangedPath::new(".gate.yml")],
    );
}

#[tokio::test]
async fn a_change_cannot_drop_the_approval_or_name_its_approvers() {
    let w = world();
    released_with_approval_at_19(&w).await;
    // Commit 20's gate file (RELEASE_GATE) asks for no approval at all.
    release_of(w.send(pushed(&w, "main", 20)).await);
    let input = &w.sfn.releases()[0].1;
    let approval = input
        .approval
        .as_ref()
        .expect("the deployed file's approval governs");
    assert_eq!(
        approval.approvers,
        ["arn:aws:sts::123456789012:assumed-role/Leads/*"]
    );
    assert_eq!(approval.timeout_seconds, 30 * 60);
}

#[tokio::test]
async fn a_change_may_add_an_approval_the_environment_did_not_have() {
    let w = world();
    let strict = RELEASE_GATE.replace(
        "production: {branch: main, checks: [unit]}",
        "production: {branch: main, checks: [unit], approval: {approvers: [\"arn:aws:sts::123456789012:assumed-role/Ops/*\"]}}",
    );
    let mut record = EnvironmentRecord::new(w.repo.clone(), "production");
    record.state.commit = Some(commit(19).as_str().to_owned());
    w.ledger.put_environment(&record).await.expect("put");
    w.cc.put_file(&commit(19), ".gate.yml", RELEASE_GATE);
    w.cc.put_file(&commit(20), ".gate.yml", &strict);
    w.cc.put_diff(
        &commit(19),
        &commit(20),
        vec![ChangedPath::new(".gate.yml")],
    );
    release_of(w.send(pushed(&w, "main", 20)).await);
    let input = &w.sfn.releases()[0].1;
    assert_eq!(
        input.approval.as_ref().map(|a| a.approvers.clone()),
        Some(vec![
            "arn:aws:sts::123456789012:assumed-role/Ops/*".to_owned()
        ])
    );
}
