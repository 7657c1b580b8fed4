//! The release planner against random gate files: deploy waves respect every dependency, the
//! affected components are exactly those an obvious reference computes, waves have no gaps and
//! a first release deploys everything with a `deploy`. Then the artifact key, by example.

use codecommit_gate::gate_file::Gate;
use codecommit_gate::plan::ChangedPath;
use codecommit_gate::release::{ReleaseInput, ReleasePlan, artifact_key, plan_release};
use proptest::prelude::*;
use std::collections::BTreeSet;

/// The most components a generated gate file has.
const MAX_COMPONENTS: usize = 30;
/// The checks a generated gate file has besides `all` (which covers no component).
const COVERING_CHECKS: usize = 3;

/// A generated gate file: component `i` owns `c{i}/` (and `shared/` when `shared[i]`),
/// depends only on components before it (so there is no cycle) and may have a `deploy`.
#[derive(Debug, Clone)]
struct Spec {
    deps: Vec<Vec<usize>>,
    deploy: Vec<bool>,
    shared: Vec<bool>,
    /// Components each covering check covers (never empty).
    covers: Vec<Vec<usize>>,
    /// Which of `all`, `k0`, `k1`, `k2` the environment runs.
    env_checks: Vec<bool>,
    unmatched_ignore: bool,
}

impl Spec {
    fn len(&self) -> usize {
        self.deploy.len()
    }

    fn check_names() -> Vec<String> {
        std::iter::once("all".to_owned())
            .chain((0..COVERING_CHECKS).map(|k| format!("k{k}")))
            .collect()
    }

    fn yaml(&self) -> String {
        let mut y = String::from("stages: [test]\ncomponents:\n");
        for i in 0..self.len() {
            y.push_str(&format!("  c{i}:\n    paths: [\"c{i}/\""));
            if self.shared[i] {
                y.push_str(", \"shared/\"");
            }
            y.push_str("]\n");
            if !self.deps[i].is_empty() {
                let deps: Vec<String> = self.deps[i].iter().map(|d| format!("c{d}")).collect();
                y.push_str(&format!("    depends_on: [{}]\n", deps.join(", ")));
            }
            if self.deploy[i] {
                y.push_str(&format!("    deploy: {{commands: [\"./deploy c{i}\"]}}\n"));
            }
        }
        y.push_str("checks:\n  all: {stage: test, commands: [make]}\n");
        for (k, covers) in self.covers.iter().enumerate() {
            let names: Vec<String> = covers.iter().map(|c| format!("c{c}")).collect();
            y.push_str(&format!(
                "  k{k}: {{stage: test, components: [{}], commands: [make]}}\n",
                names.join(", ")
            ));
        }
        let unmatched = if self.unmatched_ignore {
            "ignore"
        } else {
            "run-all"
        };
        y.push_str(&format!(
            "global: [global.lock]\nignore: [\"**/*.md\"]\nunmatched: {unmatched}\n"
        ));
        let env_checks: Vec<String> = Self::check_names()
            .into_iter()
            .zip(&self.env_checks)
            .filter(|(_, on)| **on)
            .map(|(name, _)| name)
            .collect();
        y.push_str(&format!(
            "environments:\n  production:\n    branch: main\n    checks: [{}]\n",
            env_checks.join(", ")
        ));
        y
    }

    /// Every component `i` depends on, directly or not, through any component.
    fn depends_transitively(&self, i: usize) -> BTreeSet<usize> {
        let mut seen = BTreeSet::new();
        let mut todo = self.deps[i].clone();
        while let Some(d) = todo.pop() {
            if seen.insert(d) {
                todo.extend(&self.deps[d]);
            }
        }
        seen
    }

    /// The reference: the components a release of `changes` affects. A global path affects
    /// everything; an ignored (`*.md`) path nothing; a path nobody owns everything unless
    /// `unmatched: ignore`; otherwise the owners of each path and, until nothing changes, every
    /// component that depends on an affected one.
    fn affected(&self, changes: &[ChangedPath]) -> BTreeSet<usize> {
        let n = self.len();
        let mut affected = vec![false; n];
        let mut everything = false;
        let sides = changes
            .iter()
            .flat_map(|c| std::iter::once(c.path.as_str()).chain(c.old_path.as_deref()));
        for path in sides {
            if path == "global.lock" {
                everything = true;
                continue;
            }
            if path.ends_with(".md") {
                continue;
            }
            let owners: Vec<usize> = (0..n)
                .filter(|&i| {
                    path.starts_with(&format!("c{i}/"))
                        || (self.shared[i] && path.starts_with("shared/"))
                })
                .collect();
            if owners.is_empty() {
                everything |= !self.unmatched_ignore;
            }
            for i in owners {
                affected[i] = true;
            }
        }
        if everything {
            return (0..n).collect();
        }
        let mut grew = true;
        while grew {
            grew = false;
            for i in 0..n {
                if !affected[i] && self.deps[i].iter().any(|&d| affected[d]) {
                    affected[i] = true;
                    grew = true;
                }
            }
        }
        (0..n).filter(|&i| affected[i]).collect()
    }
}

fn spec() -> impl Strategy<Value = Spec> {
    let n = 1..=MAX_COMPONENTS;
    let edges = prop::collection::vec(
        prop::collection::vec(prop::bool::weighted(0.15), MAX_COMPONENTS),
        MAX_COMPONENTS,
    );
    let flags = || prop::collection::vec(any::<bool>(), MAX_COMPONENTS);
    let covers = prop::collection::vec(
        prop::collection::vec(0..MAX_COMPONENTS, 1..4),
        COVERING_CHECKS,
    );
    let env_checks = prop::collection::vec(any::<bool>(), COVERING_CHECKS + 1);
    let shared = prop::collection::vec(prop::bool::weighted(0.1), MAX_COMPONENTS);
    (n, edges, flags(), shared, covers, env_checks, any::<bool>()).prop_map(
        |(n, edges, deploy, shared, covers, env_checks, unmatched_ignore)| Spec {
            // Edges only from a component to the ones before it: acyclic.
            deps: (0..n)
                .map(|i| (0..i).filter(|&j| edges[i][j]).collect())
                .collect(),
            deploy: deploy[..n].to_vec(),
            shared: shared[..n].to_vec(),
            covers: covers
                .into_iter()
                .map(|c| {
                    let set: BTreeSet<usize> = c.into_iter().map(|i| i % n).collect();
                    set.into_iter().collect()
                })
                .collect(),
            env_checks,
            unmatched_ignore,
        },
    )
}

/// A changed path of one of seven kinds, mostly a component's own file.
fn path(kind: u8, component: usize, n: usize) -> String {
    let i = component % n;
    match kind {
        0..=13 => format!("c{i}/src/m{kind}.rs"),
        14..=16 => format!("c{i}/NOTES.md"),
        17 => "shared/util.rs".to_owned(),
        18 => "tools/build.sh".to_owned(),
        _ => "global.lock".to_owned(),
    }
}

/// A generated change: the kind and component of its path (see [`path`]) and, for a rename,
/// those of the path it was renamed from.
type RawChange = (u8, usize, Option<(u8, usize)>);

fn changes() -> impl Strategy<Value = Vec<RawChange>> {
    let side = (0u8..20, 0..MAX_COMPONENTS);
    prop::collection::vec(
        (
            0u8..20,
            0..MAX_COMPONENTS,
            prop::option::weighted(0.1, side),
        ),
        0..8,
    )
}

fn to_changes(raw: &[RawChange], n: usize) -> Vec<ChangedPath> {
    raw.iter()
        .map(|&(kind, c, renamed_from)| match renamed_from {
            None => ChangedPath::new(path(kind, c, n)),
            Some((k, o)) => ChangedPath::renamed(path(k, o, n), path(kind, c, n)),
        })
        .collect()
}

fn release(gate: &Gate, previous: Option<&str>, changes: &[ChangedPath]) -> ReleasePlan {
    plan_release(
        gate,
        &ReleaseInput {
            environment: "production",
            commit: "c",
            previous,
            changes,
        },
    )
    .expect("the environment exists")
}

/// Component index → its wave in the plan, for the deployed ones.
fn waves_of(plan: &ReleasePlan) -> Vec<(usize, usize)> {
    plan.deployed()
        .map(|c| {
            let wave = c.wave.expect("a deployed component has a wave");
            (index(c.name.as_str()), wave)
        })
        .collect()
}

/// `c{i}` → `i`.
fn index(name: &str) -> usize {
    name[1..].parse().expect("c{i}")
}

/// (a) waves respect every transitive dependency; a wave after 0 waits for something in the
/// wave just before it (independent components deploy together); (c) no empty wave.
fn assert_waves(spec: &Spec, plan: &ReleasePlan) -> Result<(), TestCaseError> {
    let waves = waves_of(plan);
    let wave = |i: usize| waves.iter().find(|(c, _)| *c == i).map(|(_, w)| *w);
    for &(c, w) in &waves {
        let below = spec.depends_transitively(c);
        for &d in &below {
            if let Some(wd) = wave(d) {
                prop_assert!(
                    wd < w,
                    "c{d} (wave {wd}) must deploy before c{c} (wave {w})"
                );
            }
        }
        if w > 0 {
            prop_assert!(
                below.iter().any(|&d| wave(d) == Some(w - 1)),
                "c{c} is in wave {w} but waits for nothing in wave {}",
                w - 1
            );
        }
    }
    let used: BTreeSet<usize> = waves.iter().map(|(_, w)| *w).collect();
    prop_assert_eq!(
        used.iter().copied().collect::<Vec<_>>(),
        (0..used.len()).collect::<Vec<_>>()
    );
    prop_assert!(plan.waves().iter().all(|w| !w.is_empty()));
    let in_waves: usize = plan.waves().iter().map(Vec::len).sum();
    prop_assert_eq!(in_waves, waves.len());
    Ok(())
}

/// Every planned component has a `deploy` exactly when the file gives it one, and a wave
/// exactly then.
fn assert_deploy_flags(spec: &Spec, plan: &ReleasePlan) -> Result<(), TestCaseError> {
    for c in &plan.components {
        let i = index(c.name.as_str());
        prop_assert_eq!(c.deploy, spec.deploy[i], "{}", c.name);
        prop_assert_eq!(c.wave.is_some(), spec.deploy[i], "{}", c.name);
    }
    Ok(())
}

/// The plan's checks are the environment's, no more.
fn assert_environment_checks(spec: &Spec, plan: &ReleasePlan) -> Result<(), TestCaseError> {
    let expected: BTreeSet<String> = Spec::check_names()
        .into_iter()
        .zip(&spec.env_checks)
        .filter(|(_, on)| **on)
        .map(|(name, _)| name)
        .collect();
    let got: BTreeSet<String> = plan.checks.iter().map(|c| c.name.to_string()).collect();
    prop_assert_eq!(got, expected);
    Ok(())
}

fn cases() -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|c| c.parse().ok())
        .unwrap_or(256)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(cases()))]

    /// A release after a previous one: (b) the affected components are the reference's, and
    /// (a), (c) their waves respect dependencies and have no gaps.
    #[test]
    fn a_release_deploys_what_changed_and_its_dependents_in_dependency_order(
        spec in spec(),
        raw in changes(),
    ) {
        let gate = Gate::parse(&spec.yaml(), ".gate.yml").expect("a generated gate file is valid");
        let changes = to_changes(&raw, spec.len());
        let plan = release(&gate, Some("p"), &changes);
        let planned: BTreeSet<usize> =
            plan.components.iter().map(|c| index(c.name.as_str())).collect();
        prop_assert_eq!(planned.len(), plan.components.len(), "each component once");
        prop_assert_eq!(&planned, &spec.affected(&changes), "paths: {:?}", changes);
        assert_deploy_flags(&spec, &plan)?;
        assert_waves(&spec, &plan)?;
        assert_environment_checks(&spec, &plan)?;
    }

    /// (d) The first release affects every component and deploys every one with a `deploy`,
    /// in waves that respect every dependency, whatever the paths say.
    #[test]
    fn the_first_release_deploys_every_component_with_a_deploy(
        spec in spec(),
        raw in changes(),
    ) {
        let gate = Gate::parse(&spec.yaml(), ".gate.yml").expect("a generated gate file is valid");
        let plan = release(&gate, None, &to_changes(&raw, spec.len()));
        prop_assert_eq!(plan.components.len(), spec.len());
        let deployed: BTreeSet<usize> = waves_of(&plan).into_iter().map(|(i, _)| i).collect();
        let with_deploy: BTreeSet<usize> = (0..spec.len()).filter(|&i| spec.deploy[i]).collect();
        prop_assert_eq!(deployed, with_deploy);
        prop_assert!(plan.checks.iter().all(|c| c.run), "a first release runs its checks");
        assert_deploy_flags(&spec, &plan)?;
        assert_waves(&spec, &plan)?;
        assert_environment_checks(&spec, &plan)?;
    }
}

mod artifact_keys {
    use super::*;

    fn gate(package_commands: &str) -> Gate {
        let yaml = format!(
            r#"stages: [test]
components:
  api:
    paths: [services/api/]
    deploy: {{commands: [./deploy-api.sh]}}
    package: {{commands: [{package_commands}], outputs: [dist/api.zip]}}
  web:
    paths: [web/]
    deploy: {{commands: [./deploy-web.sh]}}
checks:
  unit: {{stage: test, commands: [make test]}}
"#
        );
        Gate::parse(&yaml, ".gate.yml").expect("valid")
    }

    const FILES: [(&str, &str); 4] = [
        (
            "services/api/main.rs",
            "1111111111111111111111111111111111111111",
        ),
        (
            "services/api/Cargo.toml",
            "2222222222222222222222222222222222222222",
        ),
        ("web/index.html", "3333333333333333333333333333333333333333"),
        ("README.md", "4444444444444444444444444444444444444444"),
    ];

    fn key(gate: &Gate, files: &[(&str, &str)]) -> String {
        artifact_key(gate, 0, files.iter().copied()).expect("api has a package")
    }

    fn with(
        files: &[(&'static str, &'static str)],
        path: &str,
        object: &'static str,
    ) -> Vec<(&'static str, &'static str)> {
        files
            .iter()
            .map(|&(p, o)| if p == path { (p, object) } else { (p, o) })
            .collect()
    }

    #[test]
    fn the_order_files_are_listed_in_does_not_matter() {
        let g = gate("make zip");
        let reversed: Vec<_> = FILES.iter().rev().copied().collect();
        assert_eq!(key(&g, &FILES), key(&g, &reversed));
    }

    #[test]
    fn files_outside_the_component_do_not_change_its_key() {
        let g = gate("make zip");
        let original = key(&g, &FILES);
        let web_changed = with(
            &FILES,
            "web/index.html",
            "5555555555555555555555555555555555555555",
        );
        assert_eq!(key(&g, &web_changed), original);
        let mut added = FILES.to_vec();
        added.push(("tools/new.sh", "6666666666666666666666666666666666666666"));
        assert_eq!(key(&g, &added), original);
    }

    #[test]
    fn its_own_files_and_its_package_commands_change_its_key() {
        let g = gate("make zip");
        let original = key(&g, &FILES);
        let edited = with(
            &FILES,
            "services/api/main.rs",
            "7777777777777777777777777777777777777777",
        );
        assert_ne!(key(&g, &edited), original, "a file's content");
        let mut added = FILES.to_vec();
        added.push((
            "services/api/lib.rs",
            "8888888888888888888888888888888888888888",
        ));
        assert_ne!(key(&g, &added), original, "a new file");
        let removed: Vec<_> = FILES
            .iter()
            .copied()
            .filter(|(p, _)| *p != "services/api/Cargo.toml")
            .collect();
        assert_ne!(key(&g, &removed), original, "a removed file");
        assert_ne!(
            key(&gate("make zip-release"), &FILES),
            original,
            "the package commands"
        );
    }

    #[test]
    fn the_same_content_has_the_same_key_in_another_gate() {
        // Environments and runs parse the file again: the key depends on content, not on the
        // parse.
        assert_eq!(
            key(&gate("make zip"), &FILES),
            key(&gate("make zip"), &FILES)
        );
    }

    #[test]
    fn a_component_without_package_has_no_key() {
        let g = gate("make zip");
        assert_eq!(
            artifact_key(&g, 1, FILES.iter().copied()),
            None,
            "web has no package"
        );
        assert_eq!(
            artifact_key(&g, 2, FILES.iter().copied()),
            None,
            "no such component"
        );
    }

    /// `api` depends on `core` through `lib` (not deployed), with a global lock file.
    const LAYERED: &str = r#"stages: [test]
components:
  core: {paths: [core/]}
  lib: {paths: [lib/], depends_on: [core]}
  api:
    paths: [api/]
    depends_on: [lib]
    deploy: {commands: [./deploy.sh]}
    package: {commands: [make, zip], outputs: [dist/]}
  web: {paths: [web/], deploy: {commands: [./web.sh]}}
checks:
  unit: {stage: test, commands: [make test]}
global: [Cargo.lock]
"#;

    #[test]
    fn what_a_component_depends_on_and_global_files_change_its_key() {
        let g = Gate::parse(LAYERED, ".gate.yml").expect("valid");
        let api = 2;
        let files = [
            ("api/main.rs", "1111111111111111111111111111111111111111"),
            ("lib/lib.rs", "2222222222222222222222222222222222222222"),
            ("core/core.rs", "3333333333333333333333333333333333333333"),
            ("Cargo.lock", "4444444444444444444444444444444444444444"),
            ("web/index.html", "5555555555555555555555555555555555555555"),
        ];
        let original = artifact_key(&g, api, files.iter().copied()).expect("key");
        for changed in ["core/core.rs", "lib/lib.rs", "Cargo.lock"] {
            let edited = with(&files, changed, "9999999999999999999999999999999999999999");
            assert_ne!(
                artifact_key(&g, api, edited.iter().copied()).expect("key"),
                original,
                "{changed} is an input of api"
            );
        }
        let web = with(
            &files,
            "web/index.html",
            "9999999999999999999999999999999999999999",
        );
        assert_eq!(
            artifact_key(&g, api, web.iter().copied()).expect("key"),
            original,
            "web is not an input of api"
        );
    }

    #[test]
    fn commands_and_outputs_do_not_run_into_each_other() {
        let moved = LAYERED.replace(
            "package: {commands: [make, zip], outputs: [dist/]}",
            "package: {commands: [make], outputs: [zip, dist/]}",
        );
        let a = Gate::parse(LAYERED, ".gate.yml").expect("valid");
        let b = Gate::parse(&moved, ".gate.yml").expect("valid");
        let files = [("api/main.rs", "1111111111111111111111111111111111111111")];
        assert_ne!(
            artifact_key(&a, 2, files.iter().copied()),
            artifact_key(&b, 2, files.iter().copied())
        );
    }
}
