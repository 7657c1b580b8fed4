//! Reuse of passed results on AWS (the rule: [`crate::reuse::ledger`]).
//!
//! gate-start reads the repository's recorded passes with the pull request, then the
//! differences between their commits and the merge's commits of this run together with the
//! other reads that need only the PR ([`read`]), and takes the checks that stand on a pass out
//! of the stages before `StartExecution` ([`take_reused`]); their results travel in the
//! execution input's carried results, so gate-report counts them as passes. gate-report records
//! the passes of the checks with `reuse: true` that ran ([`record`]).
//!
//! Fail closed both ways: a record or a difference that cannot be read means the check runs
//! (logged); a record that cannot be written means the next run runs it. Neither fails the
//! invocation.

use crate::gate_file::Gate;
use crate::ids::CommitId;
use crate::machine::{BuildDefaults, ExecutionInput, StageSpec};
use crate::plan::ChangedPath;
use crate::policy::{CheckResult, CheckStatus};
use crate::ports::{Ledger, PortResult, PullRequestState, PullRequests};
use crate::reuse::ledger::{LedgerPass, LedgerPasses, MergeInputs, Recordable};
use crate::reuse::{self, Coverage, PassRecord, Reused};
use crate::test_reports::branch_name;
use futures_util::future::join_all;
use std::collections::BTreeMap;

/// How many times a write of the passes is tried when another run's write keeps winning.
pub const MAX_ATTEMPTS: usize = 3;

/// The recorded passes and the differences read for them.
#[derive(Debug, Default)]
pub struct Found {
    passes: LedgerPasses,
    differences: BTreeMap<(String, String), Vec<ChangedPath>>,
}

/// The commits the build of `pr` merges: the merge base (else the destination), the
/// destination and the source.
pub fn merge_inputs(pr: &PullRequestState) -> MergeInputs {
    MergeInputs {
        base: pr
            .merge_base
            .as_ref()
            .unwrap_or(&pr.destination_commit)
            .to_string(),
        destination: pr.destination_commit.to_string(),
        source: pr.source_commit.to_string(),
    }
}

/// The differences the passes of `passes` onto the PR's destination need, read together
/// (every page each). A failed read of the passes reads nothing (`None`); a failed difference
/// is left out, so no pass that needs it counts. Both are logged.
pub async fn read<P: PullRequests>(
    prs: &P,
    pr: &PullRequestState,
    passes: PortResult<LedgerPasses>,
) -> Option<Found> {
    let passes = match passes {
        Ok(passes) => passes,
        Err(error) => {
            tracing::warn!(call = error.call(), %error, "cannot read the recorded passes; every check runs");
            return None;
        }
    };
    let destination = branch_name(pr.destination_branch());
    let wanted = passes.wanted(destination, pr.source_branch(), &merge_inputs(pr));
    let commits: Vec<(CommitId, CommitId)> = wanted
        .iter()
        .map(|(before, after)| (before.as_str().into(), after.as_str().into()))
        .collect();
    let read = join_all(
        commits
            .iter()
            .map(|(before, after)| prs.changed_paths(&pr.repository, before, after)),
    )
    .await;
    let mut differences = BTreeMap::new();
    for (pair, changes) in wanted.into_iter().zip(read) {
        match changes {
            Ok(changes) => {
                differences.insert(pair, changes);
            }
            Err(error) => {
                tracing::warn!(call = error.call(), before = %pair.0, after = %pair.1, %error, "cannot read the differences; the checks that need them run");
            }
        }
    }
    Some(Found {
        passes,
        differences,
    })
}

/// Takes the checks of `stages` that stand on a recorded pass out of them (the stages left
/// empty too) and returns their results, and what gate-report needs to record the passes of
/// the checks with `reuse: true` that still run. `gate` is the governing gate file (a check
/// has `reuse: true` only when the trusted file says so); `build` the runner's defaults, part
/// of each check's definition hash.
pub fn take_reused(
    gate: &Gate,
    pr: &PullRequestState,
    stages: &mut Vec<StageSpec>,
    found: Option<&Found>,
    build: &BuildDefaults,
) -> (Vec<CheckResult>, Option<Recordable>) {
    let now = merge_inputs(pr);
    let onto = (branch_name(pr.destination_branch()), pr.source_branch());
    let differences = |before: &str, after: &str| {
        found
            .and_then(|f| f.differences.get(&(before.to_owned(), after.to_owned())))
            .map(Vec::as_slice)
    };
    let mut reused = Vec::new();
    let mut definitions = BTreeMap::new();
    for stage in stages.iter_mut() {
        stage.checks.retain(|check| {
            let name = check.name.as_str();
            let Some((index, _)) = gate.check(name).filter(|(_, c)| c.reuse) else {
                return true;
            };
            let runner = [build.image.as_str(), build.compute_type.as_str()];
            let (Some(coverage), Some(definition)) = (
                Coverage::of(gate, index),
                reuse::definition_hash(gate, index, &runner),
            ) else {
                return true;
            };
            let pass = found.and_then(|f| {
                f.passes
                    .stands_on(onto, name, &definition, &coverage, &now, &differences)
            });
            match pass {
                Some(pass) => {
                    tracing::info!(check = name, run = %pass.pass.reused.run, "{}", crate::report::reused_line(&pass.pass.reused));
                    reused.push(CheckResult::reused(&check.name, pass.pass.reused.clone()));
                    false
                }
                None => {
                    definitions.insert(name.to_owned(), definition);
                    true
                }
            }
        });
    }
    stages.retain(|s| !s.checks.is_empty());
    let recordable = (!definitions.is_empty()).then_some(Recordable {
        inputs: now,
        definitions,
    });
    (reused, recordable)
}

/// The passes of a finished run to record: each check of `input.reuse` that passed, was not
/// flaky and did not itself stand on an earlier pass.
pub fn passes_of(input: &ExecutionInput, results: &[CheckResult]) -> Vec<LedgerPass> {
    let Some(recordable) = &input.reuse else {
        return Vec::new();
    };
    let subject = &input.subject;
    results
        .iter()
        .filter(|r| r.status == CheckStatus::Passed && !r.flaky && r.reused.is_none())
        .filter_map(|r| {
            let definition = recordable.definitions.get(r.name.as_str())?;
            Some(LedgerPass {
                destination: branch_name(&subject.destination_branch).to_owned(),
                source_branch: branch_name(&subject.source_branch).to_owned(),
                inputs: recordable.inputs.clone(),
                pass: PassRecord {
                    check: r.name.clone(),
                    key: definition.clone(),
                    reused: Reused {
                        run: input.execution_name.clone(),
                        commit: subject.source_commit.to_string(),
                    },
                },
            })
        })
        .collect()
}

/// Records a finished run's passes ([`passes_of`]): read, merge, conditional write; a
/// conflict reads and merges again, at most [`MAX_ATTEMPTS`] times. Failures are logged, never
/// returned (the next run then runs the checks).
pub async fn record<L: Ledger>(ledger: &L, input: &ExecutionInput, results: &[CheckResult]) {
    let new = passes_of(input, results);
    if new.is_empty() {
        return;
    }
    let repository = &input.subject.repository;
    let written = super::steps::merge_write(
        MAX_ATTEMPTS,
        || ledger.reuse_passes(repository),
        |passes: &mut LedgerPasses| passes.record(&new),
        |passes| async move { ledger.put_reuse_passes(repository, &passes).await },
    )
    .await;
    match written {
        Ok(true) => {}
        Ok(false) => {
            tracing::warn!(%repository, attempts = MAX_ATTEMPTS, "the run's passes lost every conditional write; the next run runs those checks");
        }
        Err(error) => {
            tracing::warn!(call = error.call(), %repository, %error, "cannot record the run's passes; the next run runs those checks");
        }
    }
}
