//! The release lane under random pushes, redeliveries and ends of releases: never two releases
//! of one environment at once, releases start in push order, a superseded commit never runs,
//! and the newest push is always released in the end. And the release execution names.

use codecommit_gate::ids::RepositoryName;
use codecommit_gate::machine::{MAX_EXECUTION_NAME, release_execution_name};
use codecommit_gate::release::lane::{Lane, LaneRelease, Push};
use proptest::prelude::*;
use std::collections::BTreeSet;

/// What happens to the lane: a push of one of a few commits, or the end of the running release
/// (delivered once or twice).
#[derive(Debug, Clone)]
enum Step {
    Push(u8),
    Finish { twice: bool },
}

fn steps() -> impl Strategy<Value = Vec<Step>> {
    prop::collection::vec(
        prop_oneof![
            3 => (0u8..6).prop_map(Step::Push),
            2 => any::<bool>().prop_map(|twice| Step::Finish { twice }),
        ],
        0..40,
    )
}

/// What the flow would have done, from the lane's answers.
#[derive(Debug, Default)]
struct Seen {
    started: Vec<LaneRelease>,
    superseded: Vec<LaneRelease>,
    last_push: Option<String>,
    deployed: Option<String>,
}

fn apply(lane: &mut Lane, seen: &mut Seen, step: &Step, t: usize) {
    match step {
        Step::Push(c) => {
            let commit = format!("c{c}");
            let before = lane.clone();
            match lane.push(&commit, seen.deployed.as_deref(), &t.to_string()) {
                Push::Start(r) => seen.started.push(r),
                Push::Queued { superseded, .. } => seen.superseded.extend(superseded),
                Push::Withdrawn(waiting) => seen.superseded.push(waiting),
                Push::Duplicate | Push::Released => {
                    assert_eq!(*lane, before, "a no-op push changed the lane");
                }
            }
            seen.last_push = Some(commit);
        }
        Step::Finish { twice } => {
            let Some(running) = lane.running.clone() else {
                return;
            };
            seen.deployed = Some(running.commit.clone());
            if let Some(next) = lane.finished(&running.commit, running.sequence) {
                seen.started.push(next);
            }
            if *twice {
                let before = lane.clone();
                assert_eq!(lane.finished(&running.commit, running.sequence), None);
                assert_eq!(*lane, before, "a redelivered end changed the lane");
            }
        }
    }
}

proptest! {
    #[test]
    fn one_release_at_a_time_in_push_order_and_the_newest_push_wins(steps in steps()) {
        let mut lane = Lane::default();
        let mut seen = Seen::default();
        for (t, step) in steps.iter().enumerate() {
            apply(&mut lane, &mut seen, step, t);
            // One running release at most, by construction of the record; and it is the last
            // one started.
            prop_assert_eq!(lane.running.as_ref(), seen.started.last().filter(|_| lane.running.is_some()));
        }
        // Releases start in push order.
        let sequences: Vec<u64> = seen.started.iter().map(|r| r.sequence).collect();
        prop_assert!(sequences.windows(2).all(|w| w[0] < w[1]), "{:?}", sequences);
        // A superseded release never starts.
        let started: BTreeSet<u64> = sequences.iter().copied().collect();
        for s in &seen.superseded {
            prop_assert!(!started.contains(&s.sequence), "superseded {:?} started", s);
        }
        // Drain: the newest push is released in the end.
        while let Some(running) = lane.running.clone() {
            seen.deployed = Some(running.commit.clone());
            if let Some(next) = lane.finished(&running.commit, running.sequence) {
                seen.started.push(next);
            }
        }
        prop_assert!(lane.is_idle());
        if let Some(last) = &seen.last_push {
            prop_assert_eq!(seen.deployed.as_ref(), Some(last));
        }
    }
}

#[test]
fn release_execution_names_are_stable_valid_and_distinct() {
    let repo = RepositoryName::new("shop/with spaces and a very long name indeed");
    let commit = "0123456789abcdef0123456789abcdef01234567";
    let name = release_execution_name(&repo, "production", commit, 3);
    assert_eq!(name, release_execution_name(&repo, "production", commit, 3));
    assert!(name.len() <= MAX_EXECUTION_NAME, "{name}");
    assert!(
        name.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_'),
        "{name}"
    );
    assert!(name.starts_with("release-"), "{name}");
    let others = [
        release_execution_name(&repo, "testing", commit, 3),
        release_execution_name(&repo, "production", commit, 4),
        release_execution_name(&RepositoryName::new("shop"), "production", commit, 3),
        release_execution_name(
            &repo,
            "production",
            "1123456789abcdef0123456789abcdef01234567",
            3,
        ),
    ];
    for other in &others {
        assert_ne!(&name, other);
    }
}

/// The same story on every ledger adapter but DynamoDB's (tests/aws_dynamodb.rs): an
/// environment's record is written only by whoever read its current version.
async fn environment_records_are_written_conditionally<L: codecommit_gate::ports::Ledger>(
    ledger: &L,
    repo: &RepositoryName,
) {
    use codecommit_gate::ports::{EnvironmentRecord, Written};
    assert_eq!(
        ledger.environment(repo, "production").await.expect("get"),
        None
    );
    let fresh = EnvironmentRecord::new(repo.clone(), "production");
    assert_eq!(
        ledger.put_environment(&fresh).await.expect("put"),
        Written::Written
    );
    assert_eq!(
        ledger.put_environment(&fresh).await.expect("put"),
        Written::Conflict,
        "a second writer of version 0 loses"
    );
    let mut read = ledger
        .environment(repo, "production")
        .await
        .expect("get")
        .expect("stored");
    assert_eq!(read.version, 1);
    assert!(matches!(read.lane.push("c1", None, "t"), Push::Start(_)));
    assert_eq!(
        ledger.put_environment(&read).await.expect("put"),
        Written::Written
    );
    let again = ledger
        .environment(repo, "production")
        .await
        .expect("get")
        .expect("stored");
    assert_eq!(again.version, 2);
    assert_eq!(again.lane.running.map(|r| r.commit).as_deref(), Some("c1"));
    assert_eq!(
        ledger.environment(repo, "testing").await.expect("get"),
        None,
        "environments are apart"
    );
}

#[tokio::test]
async fn the_fake_and_local_ledgers_write_environments_conditionally() {
    let repo = RepositoryName::new("shop");
    let fake = codecommit_gate::memory::FakeLedger::default();
    environment_records_are_written_conditionally(&fake, &repo).await;
    let tmp = tempfile::tempdir().expect("tempdir");
    std::fs::create_dir_all(tmp.path().join("shop")).expect("repo folder");
    let local = codecommit_gate::local::LocalLedger::new(tmp.path());
    environment_records_are_written_conditionally(&local, &repo).await;
    assert!(
        tmp.path()
            .join("shop/.gate/environments/production.record.json")
            .is_file()
    );
}
