//! What `gate run` does around the runner to spend less time: reuse of passed results
//! (`reuse: true`, records under `.gate/reuse/`) and the build cache (`cache:`, under
//! `.gate/cache/`, see [`crate::local::cache`]).
//!
//! Before the stages: the checks whose reuse key passed before are taken out of the stages
//! (their result is "passed on identical inputs in run X"), then the caches of the checks
//! left are restored into the worktree. After: every pass of a check with `reuse: true` is
//! recorded under its key, and, when the run tested the destination's own tree, the caches of
//! the checks that passed are saved ([`CacheWrite`]). Nothing here can fail a run: a cache or
//! record that cannot be read or written is a warning.

use crate::gate_file::Gate;
use crate::ids::CheckName;
use crate::local::cache::{self, Cache, How, Want};
use crate::local::git::Repo;
use crate::local::runner::StageJobs;
use crate::local::store::{self, Store};
use crate::policy::{CheckResult, CheckStatus};
use crate::reuse::{self, PassRecord, Reused};
use std::collections::BTreeMap;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::time::Instant;

/// The record of passed reuse keys: `.gate/reuse/<key>.json`.
#[derive(Debug, Clone)]
pub struct Passes {
    dir: PathBuf,
}

impl Passes {
    /// The records of the repository whose store is `store`.
    pub fn new(store: &Store) -> Self {
        Passes {
            dir: store.root().join("reuse"),
        }
    }

    fn path(&self, key: &str) -> PathBuf {
        self.dir.join(format!("{}.json", store::file_name(key)))
    }

    /// The pass recorded for `check` under `key`, if any.
    pub fn find(&self, check: &CheckName, key: &str) -> Option<PassRecord> {
        store::read_json::<PassRecord>(&self.path(key))
            .ok()
            .flatten()
            .filter(|r| &r.check == check && r.key == key)
    }

    /// Records a pass (atomically: a reader sees the whole record or none).
    pub fn record(&self, record: &PassRecord) -> io::Result<()> {
        store::write_json(&self.path(&record.key), record)
    }
}

/// What [`before`] decided, for [`after`].
#[derive(Debug, Default)]
pub struct Speedups {
    /// The reuse key of each check with `reuse: true` that runs.
    keys: BTreeMap<CheckName, String>,
    /// The results of the checks that did not run because they passed before.
    pub reused: Vec<CheckResult>,
    /// The cache wishes of the checks that run.
    wants: Vec<Want>,
}

/// The run's facts [`before`] and [`after`] need.
pub struct RunAt<'a> {
    /// The repository's store.
    pub store: &'a Store,
    /// The worktree the checks run in.
    pub worktree: &'a Path,
    /// The commit it holds (the merge commit).
    pub commit: &'a str,
    /// Whether the worktree is kept after the run (`--keep-worktree`): its files are then
    /// copied into the cache, not linked, since they may be written again.
    pub kept: bool,
}

/// Takes the checks whose pass can be reused out of `stages` and restores the caches of the
/// rest into the worktree (see the module's documentation).
pub fn before(
    gate: &Gate,
    at: &RunAt<'_>,
    stages: &mut Vec<StageJobs>,
    err: &mut dyn Write,
) -> Speedups {
    let mut speedups = Speedups {
        keys: reuse_keys(gate, at, stages, err),
        ..Speedups::default()
    };
    let passes = Passes::new(at.store);
    for stage in stages.iter_mut() {
        stage.checks.retain(|job| {
            let found = speedups
                .keys
                .get(&job.name)
                .and_then(|key| passes.find(&job.name, key));
            match found {
                Some(record) => {
                    let _ = writeln!(
                        err,
                        "gate: {}: {}",
                        job.name,
                        crate::report::reused_line(&record.reused)
                    );
                    speedups
                        .reused
                        .push(CheckResult::reused(&job.name, record.reused));
                    false
                }
                None => true,
            }
        });
    }
    stages.retain(|s| !s.checks.is_empty());
    speedups.wants = cache_wants(gate, stages);
    restore(&speedups.wants, at, err);
    speedups
}

/// The reuse keys of the checks of `stages` with `reuse: true`, from the files at the commit.
fn reuse_keys(
    gate: &Gate,
    at: &RunAt<'_>,
    stages: &[StageJobs],
    err: &mut dyn Write,
) -> BTreeMap<CheckName, String> {
    let reusable: Vec<usize> = stages
        .iter()
        .flat_map(|s| &s.checks)
        .filter_map(|job| gate.check(job.name.as_str()))
        .filter(|(_, c)| c.reuse)
        .map(|(i, _)| i)
        .collect();
    if reusable.is_empty() {
        return BTreeMap::new();
    }
    let files = match Repo::at(at.worktree).files_at(at.commit) {
        Ok(files) => files,
        Err(e) => {
            let _ = writeln!(err, "gate: warning: no reuse (cannot list the files: {e})");
            return BTreeMap::new();
        }
    };
    let pairs = || files.iter().map(|(p, o)| (p.as_str(), o.as_str()));
    reusable
        .into_iter()
        .filter_map(|i| {
            let key = reuse::check_key(gate, i, pairs())?;
            Some((gate.checks[i].name.clone(), key))
        })
        .collect()
}

/// The cache wishes of the checks of `stages` that declare `cache`.
fn cache_wants(gate: &Gate, stages: &[StageJobs]) -> Vec<Want> {
    stages
        .iter()
        .flat_map(|s| &s.checks)
        .filter_map(|job| gate.check(job.name.as_str()))
        .filter(|(_, c)| c.cache.iter().any(|p| !crate::gate_file::cache::in_home(p)))
        .map(|(_, c)| Want {
            check: c.name.as_str().to_owned(),
            definition: cache::definition_hash(c),
            paths: c.cache.clone(),
        })
        .collect()
}

fn restore(wants: &[Want], at: &RunAt<'_>, err: &mut dyn Write) {
    if wants.is_empty() {
        return;
    }
    let started = Instant::now();
    let cache = Cache::new(at.store, cache::max_bytes());
    match cache.restore(at.worktree, wants) {
        Ok(r) if r.checks.is_empty() => {
            let _ = writeln!(err, "gate: cache: nothing saved yet");
        }
        Ok(r) => {
            let _ = writeln!(
                err,
                "gate: cache: restored {} ({} files, {}) in {}; {} unchanged sources aged",
                r.checks.join(", "),
                r.copied.files,
                mib(r.copied.bytes),
                crate::local::runner::format_duration(started.elapsed()),
                r.aged
            );
        }
        Err(e) => {
            let _ = writeln!(err, "gate: warning: cache not restored: {e}");
        }
    }
}

/// Records the passes of the checks with a reuse key, unless the run was cancelled (the
/// caller's test). `run` names this run in the records.
pub fn record_passes(
    speedups: &Speedups,
    at: &RunAt<'_>,
    results: &[CheckResult],
    run: &str,
    err: &mut dyn Write,
) {
    let passes = Passes::new(at.store);
    for (check, key) in &speedups.keys {
        if passed_here(results, check.as_str()) {
            let record = PassRecord {
                check: check.clone(),
                key: key.clone(),
                reused: Reused {
                    run: run.to_owned(),
                    commit: at.commit.to_owned(),
                },
            };
            if let Err(e) = passes.record(&record) {
                let _ = writeln!(err, "gate: warning: cannot record the pass of {check}: {e}");
            }
        }
    }
}

/// Who may write the cache: the runs whose tested tree is the destination's own (threat T24 in
/// docs/reliability.md). Every run restores the cache; a run of a branch's changes does not
/// save, since its outputs (and a tool's freshness records) were made by code nobody has merged.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CacheWrite {
    /// The tested tree is the destination's tree (a run of the destination branch itself, or a
    /// `gate merge` that landed it): the caches of the checks that passed are saved.
    Destination,
    /// The tested tree has changes the destination does not: the cache is only read.
    Branch,
}

/// Saves the caches of the checks that passed when `write` allows it; otherwise says once why
/// nothing was saved (only when some check has a cache).
pub fn save_caches(
    speedups: &Speedups,
    at: &RunAt<'_>,
    results: &[CheckResult],
    write: CacheWrite,
    err: &mut dyn Write,
) {
    let saves: Vec<Want> = speedups
        .wants
        .iter()
        .filter(|w| passed_here(results, &w.check))
        .cloned()
        .collect();
    if saves.is_empty() {
        return;
    }
    match write {
        CacheWrite::Destination => save(&saves, at, err),
        CacheWrite::Branch => {
            let _ = writeln!(err, "gate: cache: {}", crate::report::CACHE_READ_ONLY);
        }
    }
}

/// Whether `check` ran in this run and passed for sure (not flaky, not reused).
fn passed_here(results: &[CheckResult], check: &str) -> bool {
    results.iter().any(|r| {
        r.name.as_str() == check
            && r.status == CheckStatus::Passed
            && !r.flaky
            && r.reused.is_none()
    })
}

fn save(saves: &[Want], at: &RunAt<'_>, err: &mut dyn Write) {
    if saves.is_empty() {
        return;
    }
    let started = Instant::now();
    let tree = match Repo::at(at.worktree).git(&["rev-parse", &format!("{}^{{tree}}", at.commit)]) {
        Ok(tree) => tree.trim().to_owned(),
        Err(e) => {
            let _ = writeln!(err, "gate: warning: cache not saved: {e}");
            return;
        }
    };
    let cache = Cache::new(at.store, cache::max_bytes());
    let how = if at.kept { How::Copy } else { How::Link };
    match cache.save(at.worktree, &tree, saves, how) {
        Ok(copied) => {
            let names: Vec<&str> = saves.iter().map(|w| w.check.as_str()).collect();
            let _ = writeln!(
                err,
                "gate: cache: saved {} ({} files, {}) in {}",
                names.join(", "),
                copied.files,
                mib(copied.bytes),
                crate::local::runner::format_duration(started.elapsed())
            );
        }
        Err(e) => {
            let _ = writeln!(err, "gate: warning: cache not saved: {e}");
        }
    }
}

fn mib(bytes: u64) -> String {
    format!("{:.1} MiB", bytes as f64 / (1024.0 * 1024.0))
}
