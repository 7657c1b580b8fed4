//! Reuse of passed results: the key of everything a check can see, and the record of a pass
//! that a later run with the same key stands on.
//!
//! A check with `reuse: true` in the trusted gate file is keyed by the content of every file
//! it can see as the gate file describes it: the files of its components and of everything
//! they depend on (directly or not) and the `global` files, as (path, git object id) pairs,
//! plus its own definition (commands or buildspec, environment, image, compute type, timeout
//! …). A check without components sees the whole tree. When a run with the same key passed
//! before, the check is not run again and the report names that run and its commit. Only a
//! pass is ever recorded: a failed, timed-out, errored or cancelled result never is.
//!
//! The same (path, object id) pairs key a component's release artifact
//! ([`crate::release::artifact_key`]): both go through [`content_key`].

use crate::gate_file::{Gate, Run};
use crate::ids::CheckName;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::VecDeque;

pub mod ledger;

/// The version of the check key's recipe; a change of the recipe changes every key.
const CHECK_KEY_RECIPE: &str = "check-key-2";

/// A pass another run stands on: the run, and the commit it tested.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reused {
    /// The run in which the check passed on identical inputs.
    pub run: String,
    /// The commit that run tested (the merge commit).
    pub commit: String,
}

/// A hex SHA-256 prefix (32 characters) of the `files` that `covered` accepts, sorted, and
/// each list of `lists` in order (each item length-prefixed, each list count-prefixed, so no
/// two different inputs hash the same bytes).
pub fn content_key<'a>(
    files: impl IntoIterator<Item = (&'a str, &'a str)>,
    covered: impl Fn(&str) -> bool,
    lists: &[&[&str]],
) -> String {
    let mut mine: Vec<(&str, &str)> = files.into_iter().filter(|(p, _)| covered(p)).collect();
    mine.sort_unstable();
    let mut hash = Sha256::new();
    let mut list = |items: &mut dyn Iterator<Item = &str>, count: usize| {
        hash.update((count as u64).to_le_bytes());
        for item in items {
            hash.update((item.len() as u64).to_le_bytes());
            hash.update(item.as_bytes());
        }
    };
    list(&mut mine.iter().flat_map(|(p, o)| [*p, *o]), mine.len() * 2);
    for items in lists {
        list(&mut items.iter().copied(), items.len());
    }
    let digest = hash.finalize();
    digest[..16].iter().map(|b| format!("{b:02x}")).collect()
}

/// The components reachable from `roots` through `depends_on` (the roots included), indexed
/// like [`Gate::components`].
pub fn depended_on(gate: &Gate, roots: &[usize]) -> Vec<bool> {
    let mut seen = vec![false; gate.components.len()];
    let mut queue: VecDeque<usize> = roots.iter().copied().collect();
    while let Some(c) = queue.pop_front() {
        if !std::mem::replace(&mut seen[c], true) {
            queue.extend(gate.components[c].depends_on.iter().copied());
        }
    }
    seen
}

/// What check `check` of `gate` can see, when it sets `reuse: true`: the files of its
/// components and of everything they depend on (directly or not), the `global` files and its
/// own buildspec; every file when it has no components. `ignore` is not taken out: an ignored
/// file can still change what a check does, so when in doubt the check runs.
///
/// One predicate for both rules: the local key hashes the files it accepts
/// ([`check_key`]), and the ledger's rule looks for changed paths it accepts
/// ([`ledger::unchanged`]).
pub struct Coverage<'g> {
    gate: &'g Gate,
    sees: Vec<bool>,
    buildspec: Option<&'g str>,
    everything: bool,
}

impl<'g> Coverage<'g> {
    /// What check `check` sees; `None` when it does not set `reuse: true`, or does not exist.
    pub fn of(gate: &'g Gate, check: usize) -> Option<Self> {
        let spec = gate.checks.get(check).filter(|c| c.reuse)?;
        Some(Coverage {
            gate,
            sees: depended_on(gate, &spec.components),
            buildspec: match &spec.run {
                Run::Buildspec(path) => Some(path.trim_start_matches("./")),
                Run::Commands(_) => None,
            },
            everything: spec.components.is_empty(),
        })
    }

    /// Whether the check sees `path`.
    pub fn covers(&self, path: &str) -> bool {
        self.everything
            || self.gate.global.is_match(path)
            || self.buildspec == Some(path)
            || self.gate.components_of(path).iter().any(|&c| self.sees[c])
    }

    /// The globs that decide [`Coverage::covers`], as written: each component seen (name,
    /// then its globs), then `global`.
    fn globs(&self) -> Vec<&'g str> {
        let seen = self.gate.components.iter().zip(&self.sees);
        let mut globs: Vec<&str> = seen
            .filter(|(_, s)| **s)
            .flat_map(|(c, _)| {
                std::iter::once(c.name.as_str()).chain(c.paths.iter().map(String::as_str))
            })
            .collect();
        globs.extend(self.gate.global.patterns().iter().map(String::as_str));
        globs
    }
}

/// The hash of check `check`'s definition in `gate` (the trusted gate file): everything it
/// runs (commands or buildspec, environment, image, compute type, timeout …), the globs of
/// what it sees ([`Coverage`]), and `runner`, what the runner adds of its own (on AWS the
/// default image and compute type; nothing locally). Two runs with equal hashes run the same
/// thing on the same files as the gate file describes them. `None` as for [`Coverage::of`].
pub fn definition_hash(gate: &Gate, check: usize, runner: &[&str]) -> Option<String> {
    let coverage = Coverage::of(gate, check)?;
    let definition = serde_json::to_string(&gate.checks[check]).ok()?;
    let none: [(&str, &str); 0] = [];
    Some(content_key(
        none,
        |_| false,
        &[&[CHECK_KEY_RECIPE, &definition], &coverage.globs(), runner],
    ))
}

/// The reuse key of check `check` of `gate` (the trusted gate file) for a tree whose files are
/// `files` (path, git object id): the files it sees ([`Coverage`]) and its
/// [`definition_hash`]. `None` as for [`Coverage::of`].
pub fn check_key<'a>(
    gate: &Gate,
    check: usize,
    files: impl IntoIterator<Item = (&'a str, &'a str)>,
) -> Option<String> {
    let coverage = Coverage::of(gate, check)?;
    let definition = definition_hash(gate, check, &[])?;
    Some(content_key(
        files,
        |p| coverage.covers(p),
        &[&[&definition]],
    ))
}

/// What a record of passed keys holds for one key: the check, the run and its commit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PassRecord {
    /// The check that passed.
    pub check: CheckName,
    /// Its reuse key.
    pub key: String,
    /// Where it passed.
    #[serde(flatten)]
    pub reused: Reused,
}
