//! The destination's recorded coverage, per check: what the coverage delta of the comment is
//! measured against (`81.2 % (−0.4)`). One definition for every path: the base of a check is
//! the line coverage it recorded in the newest run that passed onto the same destination
//! branch (`main` and `refs/heads/main` are one branch). The local history derives it from
//! its entries ([`crate::local::history::History::coverage_base`]); the ledger keeps one
//! [`CoverageBases`] record per (repository, branch), updated after each passed run.

use super::{LineCoverage, check::fill_coverage_bases};
use crate::ids::CheckName;
use crate::policy::CheckResult;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The most checks a [`CoverageBases`] record keeps: a gate file declares a bounded number
/// of checks (far fewer in practice); past this many, the checks recorded longest ago are
/// dropped, so the record (one DynamoDB item, at most 400 KB) stays a few tens of KB.
pub const MAX_COVERAGE_BASES: usize = 256;

/// A destination branch as the bases know it: `refs/heads/main` → `main`.
pub fn branch_name(reference: &str) -> &str {
    reference.strip_prefix("refs/heads/").unwrap_or(reference)
}

/// One check's recorded coverage: the run it came from and when it was recorded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecordedCoverage {
    /// The line coverage the check measured.
    pub line: LineCoverage,
    /// The run (execution name) that measured it.
    pub execution: String,
    /// The commit it measured (the tested merge or source commit).
    pub commit: String,
    /// When it was recorded, in epoch seconds: the newest wins.
    pub recorded_at: u64,
}

/// A destination branch's recorded coverage per check, with the version the ledger's
/// conditional writes test (0: never written).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CoverageBases {
    /// The branch ([`branch_name`]).
    pub branch: String,
    /// The record's version; every write adds one.
    #[serde(default)]
    pub version: u64,
    /// Per check name, its newest recorded coverage.
    #[serde(default)]
    pub checks: BTreeMap<String, RecordedCoverage>,
}

impl CoverageBases {
    /// No coverage recorded yet for `branch` (a full ref or a branch name).
    pub fn empty(branch: &str) -> Self {
        Self {
            branch: branch_name(branch).to_owned(),
            ..Self::default()
        }
    }

    /// The record as a write stores it: one version on.
    pub fn written(&self) -> Self {
        Self {
            version: self.version + 1,
            ..self.clone()
        }
    }

    /// The base of `check`, if a passed run recorded one.
    pub fn base(&self, check: &str) -> Option<LineCoverage> {
        self.checks.get(check).map(|c| c.line)
    }

    /// Fills in each result's coverage base from this record.
    pub fn fill(&self, results: &mut [CheckResult]) {
        fill_coverage_bases(results, |check| self.base(check.as_str()));
    }

    /// Records a passed run's coverages: per check, the newer of the stored one and the
    /// run's wins (the run's on a tie, so writing the same run again changes nothing); then
    /// at most [`MAX_COVERAGE_BASES`] checks are kept, the most recently recorded. Returns
    /// whether anything changed.
    pub fn record(&mut self, run: &[(CheckName, RecordedCoverage)]) -> bool {
        let mut changed = false;
        for (check, coverage) in run {
            let stored = self.checks.get(check.as_str());
            if stored.is_none_or(|s| s.recorded_at <= coverage.recorded_at && s != coverage) {
                self.checks
                    .insert(check.as_str().to_owned(), coverage.clone());
                changed = true;
            }
        }
        while self.checks.len() > MAX_COVERAGE_BASES {
            let oldest = self
                .checks
                .iter()
                .min_by_key(|(_, c)| c.recorded_at)
                .map(|(name, _)| name.clone());
            if let Some(name) = oldest {
                self.checks.remove(&name);
            }
        }
        changed
    }
}

/// The coverages a run measured, as [`CoverageBases::record`] takes them: one per check whose
/// reports gave a line coverage with measured lines.
pub fn run_coverages(
    results: &[CheckResult],
    execution: &str,
    commit: &str,
    recorded_at: u64,
) -> Vec<(CheckName, RecordedCoverage)> {
    results
        .iter()
        .filter_map(|r| {
            let coverage = r.reports.as_ref()?.coverage.as_ref()?;
            coverage.line.percent()?;
            Some((
                r.name.clone(),
                RecordedCoverage {
                    line: coverage.line,
                    execution: execution.to_owned(),
                    commit: commit.to_owned(),
                    recorded_at,
                },
            ))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(covered: u64, recorded_at: u64) -> RecordedCoverage {
        RecordedCoverage {
            line: LineCoverage {
                covered,
                valid: 1000,
            },
            execution: format!("run-{recorded_at}"),
            commit: "c0ffee".into(),
            recorded_at,
        }
    }

    fn name(n: &str) -> CheckName {
        CheckName::from(n)
    }

    #[test]
    fn the_branch_name_drops_refs_heads_only() {
        assert_eq!(branch_name("refs/heads/main"), "main");
        assert_eq!(branch_name("main"), "main");
        assert_eq!(branch_name("refs/tags/v1"), "refs/tags/v1");
        assert_eq!(CoverageBases::empty("refs/heads/dev").branch, "dev");
    }

    #[test]
    fn the_newest_recording_wins_per_check() {
        let mut bases = CoverageBases::empty("main");
        assert!(bases.record(&[(name("api"), at(816, 10)), (name("web"), at(500, 10))]));
        // An older run recorded late (a conflict's merge) does not replace a newer one.
        assert!(!bases.record(&[(name("api"), at(700, 5))]));
        assert!(bases.record(&[(name("api"), at(812, 20))]));
        assert_eq!(bases.base("api").map(|l| l.covered), Some(812));
        assert_eq!(bases.base("web").map(|l| l.covered), Some(500));
        assert_eq!(bases.base("cli"), None);
        // The same run again changes nothing.
        assert!(!bases.record(&[(name("api"), at(812, 20))]));
    }

    #[test]
    fn the_record_keeps_the_most_recently_recorded_checks() {
        let mut bases = CoverageBases::empty("main");
        let run: Vec<_> = (0..MAX_COVERAGE_BASES as u64 + 3)
            .map(|i| (name(&format!("check-{i}")), at(i, i)))
            .collect();
        bases.record(&run);
        assert_eq!(bases.checks.len(), MAX_COVERAGE_BASES);
        for dropped in 0..3 {
            assert_eq!(bases.base(&format!("check-{dropped}")), None);
        }
        assert!(bases.base("check-3").is_some());
    }
}
