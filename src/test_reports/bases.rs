//! The destination's recorded coverage, per check: what the coverage delta of the comment is
//! measured against (`81.2 % (−0.4)`). One definition for every path: the base of a check is
//! the line coverage it recorded in the newest run that passed onto the same destination
//! branch (`main` and `refs/heads/main` are one branch), newest **by the run's start**. The
//! local history derives it from its entries
//! ([`crate::local::history::History::coverage_base`]); the ledger keeps one
//! [`CoverageBases`] record per (repository, branch), updated after each passed run.
//!
//! Why by start and not by when the result was recorded: a run tests the destination as it
//! was when the run started (its merge of the source onto the destination's tip then), and a
//! branch only moves forward, so the run that started last tested the newest destination. The
//! order results are recorded in is the order runs *finish* — a slow run that started on an
//! older destination, a report retried or redriven hours later — which says nothing about the
//! code they measured.

use super::{LineCoverage, check::fill_coverage_bases};
use crate::ids::CheckName;
use crate::policy::CheckResult;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The most checks a [`CoverageBases`] record keeps: a gate file declares a bounded number
/// of checks (far fewer in practice); past this many, the checks of the earliest runs are
/// dropped, so the record (one DynamoDB item, at most 400 KB) stays a few tens of KB.
pub const MAX_COVERAGE_BASES: usize = 256;

/// A destination branch as the bases know it: `refs/heads/main` → `main`.
pub fn branch_name(reference: &str) -> &str {
    reference.strip_prefix("refs/heads/").unwrap_or(reference)
}

/// One check's recorded coverage: the run it came from and when that run started.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecordedCoverage {
    /// The line coverage the check measured.
    pub line: LineCoverage,
    /// The run (execution name) that measured it.
    pub execution: String,
    /// The commit it measured (the tested merge or source commit).
    pub commit: String,
    /// When the run that measured it started, in epoch milliseconds: the newest start wins.
    /// Records written before this field read their `recorded_at` (epoch *seconds*, when the
    /// result was recorded) into it, so any run recorded since wins over them.
    #[serde(alias = "recorded_at")]
    pub started_ms: u64,
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

    /// Records a passed run's coverages: per check, the one of the run that started later
    /// wins (the incoming run on a tie, so writing the same run again changes nothing); then
    /// at most [`MAX_COVERAGE_BASES`] checks are kept, those of the latest runs. Returns
    /// whether anything changed.
    pub fn record(&mut self, run: &[(CheckName, RecordedCoverage)]) -> bool {
        let mut changed = false;
        for (check, coverage) in run {
            let stored = self.checks.get(check.as_str());
            if stored.is_none_or(|s| s.started_ms <= coverage.started_ms && s != coverage) {
                self.checks
                    .insert(check.as_str().to_owned(), coverage.clone());
                changed = true;
            }
        }
        while self.checks.len() > MAX_COVERAGE_BASES {
            let oldest = self
                .checks
                .iter()
                .min_by_key(|(_, c)| c.started_ms)
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
    started_ms: u64,
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
                    started_ms,
                },
            ))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(covered: u64, started_ms: u64) -> RecordedCoverage {
        RecordedCoverage {
            line: LineCoverage {
                covered,
                valid: 1000,
            },
            execution: format!("run-{started_ms}"),
            commit: "c0ffee".into(),
            started_ms,
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
    fn the_latest_started_run_wins_per_check() {
        let mut bases = CoverageBases::empty("main");
        assert!(bases.record(&[(name("api"), at(816, 10)), (name("web"), at(500, 10))]));
        // A run that started earlier and is recorded late (it ran longer, its report was
        // retried, a conflict's merge) does not replace one that started later.
        assert!(!bases.record(&[(name("api"), at(700, 5))]));
        assert!(bases.record(&[(name("api"), at(812, 20))]));
        assert_eq!(bases.base("api").map(|l| l.covered), Some(812));
        assert_eq!(bases.base("web").map(|l| l.covered), Some(500));
        assert_eq!(bases.base("cli"), None);
        // The same run again changes nothing.
        assert!(!bases.record(&[(name("api"), at(812, 20))]));
    }

    #[test]
    fn a_record_written_before_runs_had_their_start_loses_to_any_run_since() {
        // `recorded_at` was epoch seconds, when gate-report recorded the run.
        let old = r#"{"branch":"main","version":3,"checks":{"api":{"line":{"covered":900,"valid":1000},"execution":"run-old","commit":"c0ffee","recorded_at":1764680000}}}"#;
        let mut bases: CoverageBases = serde_json::from_str(old).expect("an old record reads");
        assert_eq!(bases.checks["api"].started_ms, 1_764_680_000);
        assert!(bases.record(&[(name("api"), at(812, 1_764_600_000_000))]));
        assert_eq!(bases.base("api").map(|l| l.covered), Some(812));
    }

    #[test]
    fn the_record_keeps_the_checks_of_the_latest_runs() {
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
