//! Reuse of passed results where the tree under test is not at hand (AWS): the record of a
//! pass in the ledger table and the rule that lets a later run stand on it.
//!
//! A pull request's build tests the merge of the destination commit into the source commit
//! (`git merge`, [`crate::machine::buildspec`]): its tree is made from three commits, the merge
//! base, the destination and the source ([`MergeInputs`]). gate-start has no such tree before
//! the build, and listing a commit's blob ids on CodeCommit costs a paged `GetDifferences`
//! over the whole tree. So a pass records the three commits, and a later run stands on it when
//! the check's [`definition_hash`](super::definition_hash) is the same and each of its three
//! commits either is the recorded one or differs from it in no path the check sees
//! ([`super::Coverage`]): one `GetDifferences` per commit that moved, none when none did.
//! A three-way merge decides each path from that path in the three commits, so the files the
//! check sees are then those it passed on: the local rule ([`super::check_key`]: the same
//! files, the same definition) with the same predicate and the same definition hash. What
//! escapes it is a rename the merge follows across paths (the destination renames a file the
//! check does not see to one it sees, and the source edits the old path): docs/design.md,
//! "Reuse of passed results on AWS".

use super::{Coverage, PassRecord};
use crate::plan::ChangedPath;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The most passes a repository's record keeps (one DynamoDB item, at most 400 KB): past this
/// many, the oldest are dropped. A pass is about 400 bytes.
pub const MAX_PASSES: usize = 256;

/// The most commit pairs whose differences gate-start reads for one event: the commits of
/// the passes it could stand on, this source branch's first, then the newest.
pub const MAX_DIFFERENCES: usize = 4;

/// The three commits a pull request's tested tree is merged from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MergeInputs {
    /// The merge base (the destination commit when there is none).
    pub base: String,
    /// The destination commit.
    pub destination: String,
    /// The source commit.
    pub source: String,
}

impl MergeInputs {
    /// The (recorded, now) pairs of commits that differ, in the order base, destination, source.
    pub fn moved<'a>(&'a self, now: &'a MergeInputs) -> impl Iterator<Item = (&'a str, &'a str)> {
        [
            (&self.base, &now.base),
            (&self.destination, &now.destination),
            (&self.source, &now.source),
        ]
        .into_iter()
        .filter(|(was, is)| was != is)
        .map(|(was, is)| (was.as_str(), is.as_str()))
    }
}

/// What gate-start hands gate-report in the execution input so it can record the passes: the
/// merge's commits and, per check with `reuse: true` that runs, its definition hash.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Recordable {
    /// The commits the tested tree is merged from.
    pub inputs: MergeInputs,
    /// Check name → definition hash ([`super::definition_hash`]).
    pub definitions: BTreeMap<String, String>,
}

/// One pass in the ledger: a check that passed onto `destination` from `source_branch` with
/// the definition `pass.key` ([`super::definition_hash`]), on the merge of `inputs`.
/// `pass.reused` names the run and its source commit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LedgerPass {
    /// The destination branch (a branch name, not a ref).
    pub destination: String,
    /// The source branch it came from.
    pub source_branch: String,
    /// The commits its tree was merged from.
    pub inputs: MergeInputs,
    /// The check, its definition hash, the run and the source commit.
    #[serde(flatten)]
    pub pass: PassRecord,
}

/// A repository's recorded passes, newest first, with the version the ledger's conditional
/// writes test (0: never written).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LedgerPasses {
    /// The record's version; every write adds one.
    #[serde(default)]
    pub version: u64,
    /// The passes, newest first; one per (destination, check, source branch).
    #[serde(default)]
    pub passes: Vec<LedgerPass>,
}

impl LedgerPasses {
    /// The record as a write stores it: one version on.
    pub fn written(&self) -> Self {
        Self {
            version: self.version + 1,
            ..self.clone()
        }
    }

    /// Puts `new` first, in place of any pass of the same (destination, check, source branch),
    /// and keeps at most [`MAX_PASSES`]. Returns whether anything changed.
    pub fn record(&mut self, new: &[LedgerPass]) -> bool {
        let same = |a: &LedgerPass, b: &LedgerPass| {
            a.destination == b.destination
                && a.pass.check == b.pass.check
                && a.source_branch == b.source_branch
        };
        let before = self.passes.clone();
        self.passes.retain(|old| !new.iter().any(|n| same(old, n)));
        self.passes.splice(0..0, new.iter().cloned());
        self.passes.truncate(MAX_PASSES);
        self.passes != before
    }

    /// The passes onto `destination`, this source branch's first, then the newest.
    fn onto<'a>(
        &'a self,
        destination: &'a str,
        source_branch: &'a str,
    ) -> impl Iterator<Item = &'a LedgerPass> {
        let onto = move |own: bool| {
            self.passes.iter().filter(move |p| {
                p.destination == destination && (p.source_branch == source_branch) == own
            })
        };
        onto(true).chain(onto(false))
    }

    /// The (before, after) commit pairs whose differences a run of `now` from `source_branch`
    /// onto `destination` needs to stand on a recorded pass: at most [`MAX_DIFFERENCES`],
    /// each once.
    pub fn wanted(
        &self,
        destination: &str,
        source_branch: &str,
        now: &MergeInputs,
    ) -> Vec<(String, String)> {
        let mut pairs: Vec<(String, String)> = Vec::new();
        for pass in self.onto(destination, source_branch) {
            let moved: Vec<(String, String)> = pass
                .inputs
                .moved(now)
                .map(|(a, b)| (a.to_owned(), b.to_owned()))
                .filter(|pair| !pairs.contains(pair))
                .collect();
            if pairs.len() + moved.len() > MAX_DIFFERENCES {
                continue;
            }
            pairs.extend(moved);
        }
        pairs
    }

    /// The pass check `check` (definition hash `definition`, seeing `coverage`) stands on in a
    /// run of `now` from `source_branch` onto `destination`, if any: see
    /// [`unchanged`]. `differences` gives the paths changed between two commits, `None` when
    /// they were not read (or the read failed): then that pass does not count.
    pub fn stands_on<'a, 'd>(
        &'a self,
        (destination, source_branch): (&'a str, &'a str),
        check: &str,
        definition: &str,
        coverage: &Coverage<'_>,
        now: &MergeInputs,
        differences: &dyn Fn(&str, &str) -> Option<&'d [ChangedPath]>,
    ) -> Option<&'a LedgerPass> {
        self.onto(destination, source_branch).find(|p| {
            p.pass.check.as_str() == check
                && p.pass.key == definition
                && unchanged(coverage, &p.inputs, now, differences)
        })
    }
}

/// Whether every commit of `recorded` either is the one of `now` or differs from it in no path
/// `coverage` sees (either side of a rename), by `differences`; a pair whose differences are
/// unknown counts as changed.
pub fn unchanged<'a>(
    coverage: &Coverage<'_>,
    recorded: &MergeInputs,
    now: &MergeInputs,
    differences: &dyn Fn(&str, &str) -> Option<&'a [ChangedPath]>,
) -> bool {
    recorded.moved(now).all(|(was, is)| {
        differences(was, is).is_some_and(|changes| {
            !changes.iter().any(|c| {
                coverage.covers(&c.path)
                    || c.old_path.as_deref().is_some_and(|o| coverage.covers(o))
            })
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reuse::Reused;

    fn pass(check: &str, branch: &str, source: &str) -> LedgerPass {
        LedgerPass {
            destination: "main".into(),
            source_branch: branch.into(),
            inputs: MergeInputs {
                base: "b".into(),
                destination: "d".into(),
                source: source.into(),
            },
            pass: PassRecord {
                check: check.into(),
                key: "k".into(),
                reused: Reused {
                    run: format!("run-{source}"),
                    commit: source.into(),
                },
            },
        }
    }

    #[test]
    fn a_newer_pass_of_the_same_check_and_branch_replaces_the_older() {
        let mut passes = LedgerPasses::default();
        assert!(passes.record(&[pass("api", "a", "s1"), pass("web", "a", "s1")]));
        assert!(passes.record(&[pass("api", "a", "s2"), pass("api", "b", "s3")]));
        let kept: Vec<(&str, &str)> = passes
            .passes
            .iter()
            .map(|p| (p.pass.check.as_str(), p.inputs.source.as_str()))
            .collect();
        assert_eq!(kept, [("api", "s2"), ("api", "s3"), ("web", "s1")]);
        assert!(
            !passes.record(&[pass("api", "a", "s2")]),
            "the same pass again"
        );
    }

    #[test]
    fn the_record_is_bounded() {
        let mut passes = LedgerPasses::default();
        for n in 0..MAX_PASSES + 10 {
            passes.record(&[pass(&format!("check-{n}"), "a", "s")]);
        }
        assert_eq!(passes.passes.len(), MAX_PASSES);
        assert_eq!(
            passes.passes[0].pass.check.as_str(),
            format!("check-{}", MAX_PASSES + 9),
            "the newest first, the oldest dropped"
        );
    }

    #[test]
    fn the_differences_wanted_are_few_own_branch_first_and_each_once() {
        let mut passes = LedgerPasses::default();
        for n in 0..8 {
            passes.record(&[pass("api", &format!("other-{n}"), &format!("o{n}"))]);
        }
        passes.record(&[pass("web", "mine", "m1"), pass("api", "mine", "m1")]);
        let now = MergeInputs {
            base: "b".into(),
            destination: "d".into(),
            source: "now".into(),
        };
        let wanted = passes.wanted("main", "mine", &now);
        assert_eq!(wanted.len(), MAX_DIFFERENCES);
        assert_eq!(wanted[0], ("m1".to_owned(), "now".to_owned()));
        assert_eq!(
            wanted[1],
            ("o7".to_owned(), "now".to_owned()),
            "then the newest"
        );
        assert!(passes.wanted("develop", "mine", &now).is_empty());
    }
}
