//! The build cache on AWS (a check's `cache`), through gate-start against the in-memory fakes:
//! a pull request's check restores its repository's S3 cache and never saves it (buildspec
//! `action: restore`; the build role cannot write it either: tests/template.rs), a release's
//! environment check restores and saves under the released commit at the same location, key
//! and paths, and a stack without a cache location (releases off) gives no check a cache.

use crate::world;

use codecommit_gate::machine::cache::{CacheOverride, check_key};
use codecommit_gate::machine::{CheckSpec, ExecutionInput, StageSpec};
use world::*;

/// The stack's cache location (`GATE_CACHE_LOCATION`).
const LOCATION: &str = "gate-artifacts-1/cache";

/// The world's gate file, with `api-tests` caching its build folder and cargo's registry.
fn cached_gate_file() -> String {
    let gate = GATE_FILE.replace(
        "env: {RUST_LOG: debug}}",
        "env: {RUST_LOG: debug}, cache: [target/, ~/.cargo/registry]}",
    );
    assert_ne!(gate, GATE_FILE);
    gate
}

fn find<'s>(stages: &'s [StageSpec], name: &str) -> &'s CheckSpec {
    stages
        .iter()
        .flat_map(|s| &s.checks)
        .find(|c| c.name.as_str() == name)
        .unwrap_or_else(|| panic!("{name} runs"))
}

fn s3(repository: &str) -> CacheOverride {
    CacheOverride {
        kind: "S3".into(),
        location: Some(format!("{LOCATION}/{repository}")),
        cache_namespace: Some(repository.into()),
    }
}

/// The `cache:` section every reader and writer of `check` shares (CodeBuild's cache version
/// is the paths): the key's commit and `action` aside.
fn section(check: &str, commit: &str, action: &str) -> String {
    let key = check_key(check);
    format!(
        "cache:\n  key: \"{key}-{commit}\"\n  fallback-keys:\n    - \"{key}-\"\n{action}  paths:\n    - \"target/**/*\"\n    - \"/root/.cargo/registry/**/*\"\n"
    )
}

/// The execution input gate-start starts for a pull request whose source and destination both
/// have the cached gate file, on a stack with `location` as its cache.
async fn pull_request_input(location: Option<&str>) -> ExecutionInput {
    let mut w = World::new();
    w.deps.settings.build.cache_location = location.map(str::to_owned);
    let gate = cached_gate_file();
    w.destination_gate_file(DEST, &gate);
    w.commit_files(10, &gate, &["services/api/src/refund.rs"]);
    w.send(w.pr_event("pullRequestCreated", 10)).await;
    w.last_input()
}

#[tokio::test]
async fn a_pull_requests_check_restores_the_repositorys_cache_and_saves_nothing() {
    let input = pull_request_input(Some(LOCATION)).await;

    let api = find(&input.stages, "api-tests");
    assert_eq!(api.cache, s3("my-repo"));
    // The destination commit first (an exact hit when a release built it), then the newest
    // entry of the check; restored only.
    let destination = commit(DEST);
    assert!(
        api.buildspec.ends_with(&section(
            "api-tests",
            destination.as_str(),
            "  action: restore\n"
        )),
        "{}",
        api.buildspec
    );
    let fmt = find(&input.stages, "fmt");
    assert_eq!(fmt.cache, CacheOverride::default(), "no `cache`: no cache");
    assert!(!fmt.buildspec.contains("cache:"), "{}", fmt.buildspec);
}

#[tokio::test]
async fn a_pull_request_cannot_make_its_checks_save_the_cache() {
    // The pull request's own gate file caches `fmt` too and adds a check with a cache: `fmt`
    // runs as the trusted file defines it, and the added check restores at most (what it
    // could restore was written by a release of trusted content).
    let mut w = World::new();
    w.deps.settings.build.cache_location = Some(LOCATION.into());
    w.destination_gate_file(DEST, &cached_gate_file());
    let proposed = cached_gate_file()
        .replace(
            "fmt: {stage: lint, commands: [cargo fmt --check]}",
            "fmt: {stage: lint, commands: [cargo fmt --check], cache: [target]}\n  warm: {stage: lint, commands: [make], cache: [target]}",
        );
    w.commit_files(10, &proposed, &[".gate.yml", "services/api/src/refund.rs"]);
    w.send(w.pr_event("pullRequestCreated", 10)).await;
    let input = w.last_input();
    let fmt = find(&input.stages, "fmt");
    assert_eq!(
        fmt.cache,
        CacheOverride::default(),
        "the trusted definition of fmt runs, without a cache"
    );
    let cached: Vec<&CheckSpec> = input
        .stages
        .iter()
        .flat_map(|s| &s.checks)
        .filter(|c| c.buildspec.contains("cache:"))
        .collect();
    let names: Vec<&str> = cached.iter().map(|c| c.name.as_str()).collect();
    assert!(
        names.contains(&"api-tests") && names.contains(&"warm"),
        "{names:?}"
    );
    for check in cached {
        assert!(
            check.buildspec.contains("  action: restore\n"),
            "{}: {}",
            check.name.as_str(),
            check.buildspec
        );
        assert_eq!(check.cache, s3("my-repo"));
    }
}

#[tokio::test]
async fn a_releases_check_saves_the_cache_pull_requests_restore() {
    let mut w = World::new();
    w.deps.settings.build.cache_location = Some(LOCATION.into());
    w.release_production_from_main("arn:aws:iam::123456789012:role/gate-deploy-production");
    let gate = format!(
        "{}environments:\n  production: {{branch: main, checks: [api-tests]}}\n",
        cached_gate_file().replace("promotion:\n  production: [testing]\n", "")
    );
    w.cc.put_file(&commit(20), ".gate.yml", &gate);
    w.send(w.branch_moved("main", 20)).await;
    let releases = w.sfn.releases();
    let (_, input) = releases.last().expect("a release started");
    let api = find(&input.checks, "api-tests");
    assert_eq!(
        api.cache,
        s3("my-repo"),
        "the location pull requests restore from"
    );
    let released = commit(20);
    assert!(
        api.buildspec
            .ends_with(&section("api-tests", released.as_str(), "")),
        "restores and saves (no `action`), keyed by the released commit: {}",
        api.buildspec
    );
}

#[tokio::test]
async fn without_a_cache_location_no_check_has_a_cache() {
    assert_eq!(World::new().deps.settings.build.cache_location, None);
    let input = pull_request_input(None).await;
    let api = find(&input.stages, "api-tests");
    assert_eq!(api.cache, CacheOverride::default());
    assert!(!api.buildspec.contains("cache:"), "{}", api.buildspec);
}
