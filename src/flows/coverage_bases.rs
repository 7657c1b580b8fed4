//! The coverage delta on the ledger: gate-report reads the destination branch's coverage
//! bases before it writes the verdict comment, and records a passed run's coverages after.
//!
//! Best effort both ways: the bases only decorate the comment (`81.2 % (−0.4)`), so a failed
//! read leaves the comment without a delta and a failed write leaves the next run comparing
//! with an older base; neither changes the verdict or the approval, and neither fails the
//! invocation (a retried gate-report would comment and approve again for nothing). Each is
//! logged as a warning (docs/design.md, "The coverage delta on AWS").

use crate::machine::ExecutionInput;
use crate::policy::CheckResult;
use crate::ports::Ledger;
use crate::test_reports::{CoverageBases, run_coverages};
use std::time::{SystemTime, UNIX_EPOCH};

/// How many times a write of the bases is tried when another run's write keeps winning.
pub const MAX_ATTEMPTS: usize = 3;

/// Whether any result carries a line coverage (else there is nothing to compare or record,
/// and the ledger is not called).
fn any_coverage(results: &[CheckResult]) -> bool {
    results
        .iter()
        .any(|r| r.reports.as_ref().is_some_and(|r| r.coverage.is_some()))
}

/// Fills in the results' coverage bases from the ledger: the destination branch's recorded
/// coverage per check. A failed read leaves them without a base (logged).
pub async fn fill<L: Ledger>(ledger: &L, input: &ExecutionInput, results: &mut [CheckResult]) {
    if !any_coverage(results) {
        return;
    }
    let subject = &input.subject;
    match ledger
        .coverage_bases(&subject.repository, &subject.destination_branch)
        .await
    {
        Ok(bases) => bases.fill(results),
        Err(error) => tracing::warn!(
            call = error.call(),
            branch = %subject.destination_branch,
            %error,
            "cannot read the coverage bases; the comment shows coverage without a delta"
        ),
    }
}

/// Records a passed run's coverages as the destination branch's bases: read, merge (per
/// check the run that started latest wins), conditional write; a conflict reads and merges
/// again, at most [`MAX_ATTEMPTS`] times. `started_at` is the execution's start
/// (`$$.Execution.StartTime`); without it (results handed over directly, an old machine
/// definition) the run counts as started now, the latest it can have started. Failures are
/// logged, never returned.
pub async fn record<L: Ledger>(
    ledger: &L,
    input: &ExecutionInput,
    results: &[CheckResult],
    started_at: Option<&str>,
) {
    let started_ms = started_at
        .and_then(crate::metrics::parse_rfc3339_ms)
        .and_then(|ms| u64::try_from(ms).ok())
        .unwrap_or_else(|| {
            SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        });
    let subject = &input.subject;
    let run = run_coverages(
        results,
        &input.execution_name,
        subject.source_commit.as_str(),
        started_ms,
    );
    if run.is_empty() {
        return;
    }
    let branch = &subject.destination_branch;
    let repository = &subject.repository;
    let written = super::steps::merge_write(
        MAX_ATTEMPTS,
        || ledger.coverage_bases(repository, branch),
        |bases: &mut CoverageBases| bases.record(&run),
        |bases| async move { ledger.put_coverage_bases(repository, &bases).await },
    )
    .await;
    match written {
        Ok(true) => {}
        Ok(false) => {
            tracing::warn!(%branch, attempts = MAX_ATTEMPTS, "the run's coverage bases lost every conditional write; the next run compares with an older base");
        }
        Err(error) => {
            tracing::warn!(call = error.call(), %branch, %error, "cannot record the run's coverage bases; the next run compares with an older base");
        }
    }
}
