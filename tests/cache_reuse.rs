//! The build cache (`cache:`) and the reuse of passed results (`reuse: true`): the reuse key
//! (pure), `.gate/cache/` under concurrent saves and its eviction, and both end to end through
//! `gate run` on scratch repositories.

use codecommit_gate::gate_file::Gate;
use codecommit_gate::local::cache::{Cache, How, SOURCES_TIME, Want};
use codecommit_gate::local::store::Store;
use codecommit_gate::reuse::check_key;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, UNIX_EPOCH};

use crate::scratch;
use scratch::{code, text};

const GATE: &str = r#"stages: [test]
components:
  lib: {paths: [lib/]}
  api: {paths: [api/], depends_on: [lib]}
  web: {paths: [web/]}
checks:
  api-tests:
    stage: test
    components: [api]
    commands: ['touch "$MARKER_DIR/api-tests"']
    reuse: true
  web-tests:
    stage: test
    components: [web]
    commands: ['touch "$MARKER_DIR/web-tests"']
global: [toolchain.txt]
"#;

/// The files of a tree as (path, object id).
fn tree(extra: &[(&str, &str)]) -> Vec<(String, String)> {
    let mut files: Vec<(String, String)> = [
        ("lib/lib.rs", "a1"),
        ("api/main.rs", "b1"),
        ("web/app.ts", "c1"),
        ("toolchain.txt", "d1"),
        ("docs/guide.md", "e1"),
    ]
    .iter()
    .map(|(p, o)| ((*p).to_owned(), (*o).to_owned()))
    .collect();
    for (path, id) in extra {
        files.retain(|(p, _)| p != path);
        files.push(((*path).to_owned(), (*id).to_owned()));
    }
    files
}

fn key(gate: &Gate, check: &str, files: &[(String, String)]) -> Option<String> {
    let (i, _) = gate.check(check).expect("check");
    check_key(gate, i, files.iter().map(|(p, o)| (p.as_str(), o.as_str())))
}

#[test]
fn the_reuse_key_covers_the_components_their_dependencies_globals_and_the_definition() {
    let gate = Gate::parse(GATE, ".gate.yml").expect("valid");
    let base = key(&gate, "api-tests", &tree(&[])).expect("reuse: true has a key");
    assert_eq!(key(&gate, "web-tests", &tree(&[])), None, "reuse is opt-in");
    let mut shuffled = tree(&[]);
    shuffled.reverse();
    assert_eq!(key(&gate, "api-tests", &shuffled).as_deref(), Some(&*base));
    // What it cannot see: another component, an unclaimed doc.
    for unseen in [("web/app.ts", "c2"), ("docs/guide.md", "e2")] {
        assert_eq!(
            key(&gate, "api-tests", &tree(&[unseen])).as_deref(),
            Some(&*base),
            "{unseen:?}"
        );
    }
    // What it sees: its component, a dependency, a global file, a new file of its component.
    for seen in [
        ("api/main.rs", "b2"),
        ("lib/lib.rs", "a2"),
        ("toolchain.txt", "d2"),
        ("api/new.rs", "f1"),
    ] {
        assert_ne!(
            key(&gate, "api-tests", &tree(&[seen])).as_deref(),
            Some(&*base),
            "{seen:?}"
        );
    }
    // Its definition: a command, an environment variable, the image.
    for changed in [
        GATE.replace(
            "\"$MARKER_DIR/api-tests\"']\n    reuse",
            "\"$MARKER_DIR/api-tests\"', 'true']\n    reuse",
        ),
        GATE.replace(
            "    reuse: true\n",
            "    reuse: true\n    env: {MODE: strict}\n",
        ),
        GATE.replace(
            "    reuse: true\n",
            "    reuse: true\n    image: aws/codebuild/standard:7.0\n",
        ),
    ] {
        assert_ne!(changed, GATE);
        let other = Gate::parse(&changed, ".gate.yml").expect("valid");
        assert_ne!(
            key(&other, "api-tests", &tree(&[])).as_deref(),
            Some(&*base),
            "{changed}"
        );
    }
}

#[test]
fn cache_paths_are_validated_with_positions() {
    let text = "stages: [t]\ndefaults:\n  cache: [target/, ~/.cargo/registry]\nchecks:\n  a:\n    stage: t\n    commands: [make]\n  b:\n    stage: t\n    commands: [make]\n    cache: [/abs, ../up, 'out/**', node_modules, node_modules/]\n";
    let errors = Gate::parse(text, ".gate.yml")
        .expect_err("invalid")
        .to_string();
    for expected in [
        ".gate.yml:11:13: check `b` has an invalid cache path `/abs`",
        ".gate.yml:11:19: check `b` has an invalid cache path `../up`",
        "check `b` has an invalid cache path `out/**`",
        "check `b` lists the cache path `node_modules/` twice",
    ] {
        assert!(errors.contains(expected), "{expected}\n---\n{errors}");
    }
    let valid = text.replace("[/abs, ../up, 'out/**', node_modules, node_modules/]", "[]");
    let gate = Gate::parse(&valid, ".gate.yml").expect("valid");
    assert_eq!(
        gate.check("a").expect("a").1.cache,
        ["target", "~/.cargo/registry"]
    );
    assert!(
        gate.check("b").expect("b").1.cache.is_empty(),
        "`[]` turns the default off"
    );
    assert!(
        !gate.check("a").expect("a").1.reuse,
        "reuse is off by default"
    );
}

/// A scratch folder for the cache's own tests.
struct Scratch {
    _tmp: tempfile::TempDir,
    dir: PathBuf,
}

impl Scratch {
    fn new() -> Scratch {
        let tmp = tempfile::tempdir().expect("tempdir");
        let dir = tmp.path().to_path_buf();
        Scratch { _tmp: tmp, dir }
    }

    fn cache(&self, max_bytes: u64) -> Cache {
        Cache::new(&Store::new(self.dir.join("repo")), max_bytes)
    }

    /// A worktree-like folder whose `out/` holds `files` files of `content`.
    fn worktree(&self, name: &str, files: usize, content: &str) -> PathBuf {
        let dir = self.dir.join(name);
        std::fs::create_dir_all(dir.join("out/deep")).expect("mkdir");
        for i in 0..files {
            std::fs::write(dir.join(format!("out/deep/f{i}")), content).expect("write");
        }
        dir
    }
}

fn want(check: &str) -> Want {
    Want {
        check: check.to_owned(),
        definition: "d".to_owned(),
        paths: vec!["out".to_owned(), "~/.cargo/registry".to_owned()],
    }
}

/// The distinct contents of the files restored into `dir/out/deep`.
fn contents(dir: &Path) -> Vec<String> {
    let mut seen: Vec<String> = std::fs::read_dir(dir.join("out/deep"))
        .map(|entries| {
            entries
                .map(|e| std::fs::read_to_string(e.expect("entry").path()).expect("read"))
                .collect()
        })
        .unwrap_or_default();
    seen.sort();
    seen.dedup();
    seen
}

#[test]
fn concurrent_saves_and_restores_never_see_a_half_written_entry() {
    let s = Scratch::new();
    let writers: Vec<PathBuf> = (0..4)
        .map(|w| s.worktree(&format!("w{w}"), 60, &format!("writer {w}")))
        .collect();
    let cache = s.cache(u64::MAX);
    std::thread::scope(|scope| {
        for (w, dir) in writers.iter().enumerate() {
            let cache = cache.clone();
            scope.spawn(move || {
                for round in 0..5 {
                    cache
                        .save(
                            dir,
                            &format!("tree-{w}-{round}"),
                            &[want("build")],
                            How::Copy,
                        )
                        .expect("save");
                }
            });
        }
        for r in 0..3 {
            let cache = cache.clone();
            let root = s.dir.clone();
            scope.spawn(move || {
                for round in 0..8 {
                    let into = root.join(format!("r{r}-{round}"));
                    std::fs::create_dir_all(&into).expect("mkdir");
                    let restored = cache
                        .restore(&into, &[want("build")], None)
                        .expect("restore");
                    if !restored.checks.is_empty() {
                        let seen = contents(&into);
                        assert_eq!(seen.len(), 1, "a restore mixed two saves: {seen:?}");
                        assert_eq!(
                            std::fs::read_dir(into.join("out/deep"))
                                .expect("dir")
                                .count(),
                            60
                        );
                    }
                }
            });
        }
    });
    let into = s.dir.join("final");
    std::fs::create_dir_all(&into).expect("mkdir");
    let restored = cache
        .restore(&into, &[want("build")], None)
        .expect("restore");
    assert_eq!(restored.copied.files, 60);
    assert_eq!(contents(&into).len(), 1);
    let leftovers: Vec<String> = std::fs::read_dir(s.dir.join("repo/.gate/cache"))
        .expect("cache")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("tmp-"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

#[test]
fn eviction_removes_the_least_recently_used_and_counts_shared_files_once() {
    let s = Scratch::new();
    let dir = s.worktree("w", 10, &"x".repeat(1000));
    // build and tests share their files (same paths, one save): 10 kB, not 20 kB.
    let cache = s.cache(25_000);
    cache
        .save(&dir, "t1", &[want("build"), want("tests")], How::Copy)
        .expect("save");
    assert!(cache.meta("build").is_some() && cache.meta("tests").is_some());
    std::thread::sleep(Duration::from_millis(20));
    cache
        .save(&dir, "t1", &[want("lint")], How::Copy)
        .expect("save");
    assert!(cache.meta("build").is_some(), "20 kB fit in 25 kB");
    std::thread::sleep(Duration::from_millis(20));
    // Using build makes tests' files (shared) and lint the least recent … lint goes first.
    let into = s.dir.join("into");
    std::fs::create_dir_all(&into).expect("mkdir");
    cache
        .restore(&into, &[want("build"), want("tests")], None)
        .expect("restore");
    std::thread::sleep(Duration::from_millis(20));
    cache
        .save(&dir, "t2", &[want("docs")], How::Copy)
        .expect("save");
    assert!(
        cache.meta("lint").is_none(),
        "the least recently used is evicted"
    );
    assert!(cache.meta("docs").is_some() && cache.meta("build").is_some());
    let small = s.cache(5_000);
    let removed = small.evict().expect("evict");
    assert_eq!(removed.len(), 3, "{removed:?}");
}

/// A repository on `main` with the gate file, for `gate run` twice and more.
struct Repo {
    _tmp: tempfile::TempDir,
    dir: PathBuf,
    markers: PathBuf,
}

impl Repo {
    fn new(gate: &str) -> Repo {
        let tmp = tempfile::tempdir().expect("tempdir");
        let dir = tmp.path().join("shop");
        let markers = tmp.path().join("markers");
        std::fs::create_dir_all(&markers).expect("mkdir");
        std::fs::create_dir_all(&dir).expect("mkdir");
        scratch::git(&dir, &["init", "-q", "-b", "main"]);
        let repo = Repo {
            _tmp: tmp,
            dir,
            markers,
        };
        repo.commit(&[
            (".gate.yml", gate),
            ("lib/lib.rs", "pub fn lib() {}\n"),
            ("api/main.rs", "fn main() {}\n"),
            ("web/app.ts", "export {}\n"),
            ("toolchain.txt", "1.95\n"),
        ]);
        repo
    }

    fn commit(&self, files: &[(&str, &str)]) {
        for (path, content) in files {
            scratch::write(&self.dir, path, content);
        }
        scratch::commit(&self.dir, "change");
    }

    /// `gate run` of `main` (nothing merges, so every check is selected); the markers written.
    fn run(&self) -> (Output, Vec<String>) {
        self.gate(&["run"])
    }

    /// `gate` with `args` in the repository; its output and the markers its checks wrote.
    fn gate(&self, args: &[&str]) -> (Output, Vec<String>) {
        let _ = std::fs::remove_dir_all(&self.markers);
        std::fs::create_dir_all(&self.markers).expect("mkdir");
        let out = Command::new(env!("CARGO_BIN_EXE_gate"))
            .args(args)
            .current_dir(&self.dir)
            .env("MARKER_DIR", &self.markers)
            .env_remove("CI")
            .stdin(Stdio::null())
            .output()
            .expect("gate runs");
        let mut ran: Vec<String> = std::fs::read_dir(&self.markers)
            .expect("markers")
            .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
            .collect();
        ran.sort();
        (out, ran)
    }

    fn report(&self) -> String {
        std::fs::read_to_string(self.dir.join(".gate/last-report.md")).expect("report")
    }
}

#[test]
fn a_pass_is_reused_on_identical_inputs_and_rerun_on_any_covered_change() {
    let repo = Repo::new(GATE);
    let (out, ran) = repo.run();
    assert_eq!(code(&out), 0, "{}", text(&out.stderr));
    assert_eq!(ran, ["api-tests", "web-tests"]);
    let (out, ran) = repo.run();
    assert_eq!(code(&out), 0, "{}", text(&out.stderr));
    assert_eq!(
        ran,
        ["web-tests"],
        "api-tests passed on these inputs before"
    );
    assert!(text(&out.stderr).contains("api-tests: passed on identical inputs in run "));
    assert!(
        repo.report().contains("passed on identical inputs in run "),
        "{}",
        repo.report()
    );
    // Another component changes: still reused.
    repo.commit(&[("web/app.ts", "export const a = 1;\n")]);
    assert_eq!(repo.run().1, ["web-tests"]);
    // A dependency, a global file, the check's definition: each runs it again.
    for change in [
        ("lib/lib.rs", "pub fn lib() { }\n".to_owned()),
        ("toolchain.txt", "1.96\n".to_owned()),
        (
            ".gate.yml",
            GATE.replace("reuse: true", "reuse: true\n    timeout: 10"),
        ),
    ] {
        repo.commit(&[(change.0, &change.1)]);
        assert_eq!(repo.run().1, ["api-tests", "web-tests"], "{}", change.0);
        assert_eq!(repo.run().1, ["web-tests"], "{}", change.0);
    }
}

#[test]
fn a_failure_is_never_reused() {
    let gate = GATE.replace(
        "commands: ['touch \"$MARKER_DIR/api-tests\"']",
        "commands: ['touch \"$MARKER_DIR/api-tests\"; exit 1']",
    );
    let repo = Repo::new(&gate);
    for _ in 0..2 {
        let (out, ran) = repo.run();
        assert_eq!(code(&out), 1, "{}", text(&out.stderr));
        assert_eq!(ran, ["api-tests", "web-tests"]);
    }
}

#[test]
fn a_cache_is_restored_into_the_next_run_without_replacing_the_tested_tree() {
    let gate = r#"stages: [test]
checks:
  build:
    stage: test
    commands:
      - 'if [ -f out/built ]; then touch "$MARKER_DIR/hit"; else touch "$MARKER_DIR/miss"; fi'
      - 'cp out/tracked.txt "$MARKER_DIR/tracked-$(cat out/tracked.txt)"'
      - 'touch "$MARKER_DIR/lib-$(stat -c %Y lib/lib.rs)" "$MARKER_DIR/api-$(stat -c %Y api/main.rs)"'
      - 'mkdir -p out && echo built > out/built'
    cache: [out/]
"#;
    let repo = Repo::new(gate);
    repo.commit(&[("out/tracked.txt", "v1")]);
    let (out, ran) = repo.run();
    assert_eq!(code(&out), 0, "{}", text(&out.stderr));
    assert!(ran.contains(&"miss".to_owned()), "{ran:?}");
    repo.commit(&[
        ("out/tracked.txt", "v2"),
        ("api/main.rs", "fn main() { }\n"),
    ]);
    let (out, ran) = repo.run();
    assert_eq!(code(&out), 0, "{}", text(&out.stderr));
    let aged = format!("lib-{}", SOURCES_TIME.as_secs());
    assert!(ran.contains(&"hit".to_owned()), "{ran:?}");
    assert!(
        ran.contains(&"tracked-v2".to_owned()),
        "the tested file stays: {ran:?}"
    );
    assert!(
        ran.contains(&aged),
        "an unchanged source is older than the outputs: {ran:?}"
    );
    let api = ran
        .iter()
        .find(|m| m.starts_with("api-"))
        .expect("api marker");
    let api_time: u64 = api["api-".len()..].parse().expect("seconds");
    let now = UNIX_EPOCH.elapsed().expect("clock").as_secs();
    assert!(
        api_time + 600 > now,
        "a changed source keeps its new time: {api}"
    );
}

/// The ledger's rule (AWS: no tree at hand, the differences between the recorded commits and
/// this run's) decides as the local key does: a check stands on a pass exactly when the files
/// it sees are those it passed on.
#[test]
fn the_ledger_rule_agrees_with_the_local_key() {
    use codecommit_gate::plan::ChangedPath;
    use codecommit_gate::reuse::Coverage;
    use codecommit_gate::reuse::ledger::{MergeInputs, unchanged};
    let gate = Gate::parse(GATE, ".gate.yml").expect("valid");
    let (i, _) = gate.check("api-tests").expect("check");
    let coverage = Coverage::of(&gate, i).expect("reuse: true");
    let recorded = MergeInputs {
        base: "b1".into(),
        destination: "d1".into(),
        source: "s1".into(),
    };
    let now = MergeInputs {
        source: "s2".into(),
        ..recorded.clone()
    };
    let before = tree(&[]);
    for change in [
        ("web/app.ts", "c2"),
        ("docs/guide.md", "e2"),
        ("api/main.rs", "b2"),
        ("lib/lib.rs", "a2"),
        ("toolchain.txt", "d2"),
        ("api/new.rs", "f1"),
    ] {
        let after = tree(&[change]);
        let differences: Vec<ChangedPath> = after
            .iter()
            .filter(|file| !before.contains(file))
            .map(|(p, _)| ChangedPath::new(p.as_str()))
            .collect();
        let same_key = key(&gate, "api-tests", &before) == key(&gate, "api-tests", &after);
        let stands = unchanged(&coverage, &recorded, &now, &|_, _| {
            Some(differences.as_slice())
        });
        assert_eq!(stands, same_key, "{change:?}");
    }
    // Differences that could not be read: the check runs.
    assert!(!unchanged(&coverage, &recorded, &now, &|_, _| None));
    // Nothing moved: nothing to read, and it stands.
    assert!(unchanged(&coverage, &recorded, &recorded, &|_, _| None));
    // A file moved out of what it sees changed what it sees.
    let moved = [ChangedPath::renamed("api/main.rs", "web/main.rs")];
    assert!(!unchanged(&coverage, &recorded, &now, &|_, _| Some(
        &moved[..]
    )));
}

/// Threat T24 (docs/reliability.md): a branch's run restores the cache but never writes it, so
/// what a branch's code leaves in a cached folder cannot reach another run; the runs whose
/// tested tree is the destination's own (a run of `main`, a `gate merge` that landed) write it.
#[test]
fn only_runs_of_the_destinations_own_tree_write_the_cache() {
    let gate = r#"stages: [test]
checks:
  build:
    stage: test
    commands:
      - 'if [ -f out/built ]; then touch "$MARKER_DIR/restored-$(cat out/built)"; else touch "$MARKER_DIR/miss"; fi'
      - 'mkdir -p out && cat stamp.txt > out/built'
    cache: [out/]
"#;
    let repo = Repo::new(gate);
    repo.commit(&[("stamp.txt", "main")]);
    scratch::git(&repo.dir, &["checkout", "-q", "-b", "feature"]);
    repo.commit(&[("stamp.txt", "forged")]);
    scratch::git(&repo.dir, &["checkout", "-q", "main"]);
    let feature = ["run", "--head", "feature"];
    for _ in 0..2 {
        let (out, ran) = repo.gate(&feature);
        assert_eq!(code(&out), 0, "{}", text(&out.stderr));
        assert_eq!(ran, ["miss"], "nothing a branch built was saved");
        assert!(
            text(&out.stderr).contains(codecommit_gate::report::CACHE_READ_ONLY),
            "the run says why it saved nothing: {}",
            text(&out.stderr)
        );
    }
    let (out, ran) = repo.run();
    assert_eq!(code(&out), 0, "{}", text(&out.stderr));
    assert_eq!(ran, ["miss"]);
    assert!(text(&out.stderr).contains("gate: cache: saved build"));
    let (out, ran) = repo.gate(&feature);
    assert_eq!(code(&out), 0, "{}", text(&out.stderr));
    assert_eq!(
        ran,
        ["restored-main"],
        "a branch reads the destination's cache"
    );
    let (out, ran) = repo.run();
    assert_eq!(code(&out), 0, "{}", text(&out.stderr));
    assert_eq!(ran, ["restored-main"], "and leaves nothing of its own");
    // Once `gate merge` lands the branch, its tested tree is the destination's: it saves.
    scratch::git(&repo.dir, &["checkout", "-q", "feature"]);
    let (out, ran) = repo.gate(&["merge"]);
    assert_eq!(code(&out), 0, "{}", text(&out.stderr));
    assert_eq!(ran, ["restored-main"]);
    let (out, ran) = repo.gate(&["run", "--head", "main"]);
    assert_eq!(code(&out), 0, "{}", text(&out.stderr));
    assert_eq!(
        ran,
        ["restored-forged"],
        "the landed tree's build is the cache now"
    );
}

/// Build outputs hold absolute paths (cargo bakes `CARGO_MANIFEST_DIR` and `CARGO_BIN_EXE_*`
/// into test binaries): a restored output must name this run's files, so every run of a
/// repository works in the same folder, and an entry is restored only there.
#[test]
fn a_restored_output_names_this_runs_folder() {
    let gate = r#"stages: [test]
checks:
  build:
    stage: test
    commands:
      - 'if [ ! -f out/where ]; then touch "$MARKER_DIR/miss"; elif [ "$(cat out/where)" = "$PWD" ]; then touch "$MARKER_DIR/same"; else touch "$MARKER_DIR/moved"; fi'
      - 'mkdir -p out && echo "$PWD" > out/where'
    cache: [out/]
"#;
    let repo = Repo::new(gate);
    let (out, ran) = repo.run();
    assert_eq!(code(&out), 0, "{}", text(&out.stderr));
    assert_eq!(ran, ["miss"]);
    for _ in 0..2 {
        let (out, ran) = repo.run();
        assert_eq!(code(&out), 0, "{}", text(&out.stderr));
        assert_eq!(ran, ["same"], "{}", text(&out.stderr));
    }
}
