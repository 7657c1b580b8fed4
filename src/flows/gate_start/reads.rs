//! The reads of a created or updated pull request that depend only on `GetPullRequest`'s answer
//! (and the ledger record read with it), issued together so they cost one round trip.
//!
//! Each result is kept as it came, error included, and handed out where the flow used to make
//! the call: an error still surfaces at the same step, after the same earlier steps, so the
//! flow fails closed in the same order (docs/design.md, "gate-start's critical path"). A
//! [`Prefetched::default`] holds nothing: each accessor then makes its call when asked, as the
//! comment commands do.

use super::load_gate;
use crate::flows::reuse::{self, Found};
use crate::flows::{Deps, Ports, steps};
use crate::ids::CommentId;
use crate::plan::ChangedPath;
use crate::ports::{Mergeability, PortResult, PullRequestState, PullRequests};
use crate::reuse::ledger::LedgerPasses;
use crate::trust::GateRead;
use futures_util::future::join5;

/// Reads made ahead of the step that needs them.
#[derive(Default)]
pub(super) struct Prefetched {
    trusted: Option<PortResult<GateRead>>,
    changes: Option<PortResult<Vec<ChangedPath>>>,
    mergeability: Option<PortResult<Mergeability>>,
    sticky: Option<PortResult<Option<CommentId>>>,
    reuse: Option<Found>,
}

impl Prefetched {
    /// Issues together: the trusted gate file at the destination commit, the PR's changed paths,
    /// its mergeability and, when the ledger knows no sticky comment yet (`find_sticky`), the
    /// search for one, and the differences the recorded passes (`passes`, read with the PR)
    /// need ([`reuse::read`]).
    pub(super) async fn fetch<T: Ports>(
        deps: &Deps<T>,
        pr: &PullRequestState,
        find_sticky: bool,
        passes: PortResult<LedgerPasses>,
    ) -> Self {
        let (trusted, changes, mergeability, sticky, reuse) = join5(
            read_trusted(deps, pr),
            read_changes(&deps.prs, pr),
            read_mergeability(&deps.prs, pr),
            async {
                if find_sticky {
                    Some(steps::find_sticky(deps, &pr.repository, &pr.id).await)
                } else {
                    None
                }
            },
            reuse::read(&deps.prs, pr, passes),
        )
        .await;
        Self {
            trusted: Some(trusted),
            changes: Some(changes),
            mergeability: Some(mergeability),
            sticky,
            reuse,
        }
    }

    /// The recorded passes and their differences, when they were read ahead (`None`: they
    /// were not, as for the comment commands, or their read failed: every check runs).
    pub(super) fn reuse(&self) -> Option<&Found> {
        self.reuse.as_ref()
    }

    /// The gate file at the destination commit, parsed (`None`: there is none).
    pub(super) async fn trusted<T: Ports>(
        &mut self,
        deps: &Deps<T>,
        pr: &PullRequestState,
    ) -> PortResult<GateRead> {
        made_or_make(&mut self.trusted, read_trusted(deps, pr)).await
    }

    /// The paths the PR changes, from the merge base (or the destination commit) to the source.
    pub(super) async fn changes<P: PullRequests>(
        &mut self,
        prs: &P,
        pr: &PullRequestState,
    ) -> PortResult<Vec<ChangedPath>> {
        made_or_make(&mut self.changes, read_changes(prs, pr)).await
    }

    /// Whether the source merges into the destination without conflicts.
    pub(super) async fn mergeability<P: PullRequests>(
        &mut self,
        prs: &P,
        pr: &PullRequestState,
    ) -> PortResult<Mergeability> {
        made_or_make(&mut self.mergeability, read_mergeability(prs, pr)).await
    }

    /// The search for the gate's sticky comment, if it was made ahead (`None`: it was not).
    pub(super) fn take_sticky(&mut self) -> Option<PortResult<Option<CommentId>>> {
        self.sticky.take()
    }
}

/// The read made ahead, or else the call `make` (a future does nothing until awaited).
async fn made_or_make<R>(made: &mut Option<R>, make: impl Future<Output = R>) -> R {
    match made.take() {
        Some(read) => read,
        None => make.await,
    }
}

async fn read_trusted<T: Ports>(deps: &Deps<T>, pr: &PullRequestState) -> PortResult<GateRead> {
    load_gate(
        &deps.prs,
        &deps.settings.gate_file_path,
        &pr.repository,
        &pr.destination_commit,
    )
    .await
}

async fn read_changes<P: PullRequests>(
    prs: &P,
    pr: &PullRequestState,
) -> PortResult<Vec<ChangedPath>> {
    let base = pr.merge_base.as_ref().unwrap_or(&pr.destination_commit);
    prs.changed_paths(&pr.repository, base, &pr.source_commit)
        .await
}

async fn read_mergeability<P: PullRequests>(
    prs: &P,
    pr: &PullRequestState,
) -> PortResult<Mergeability> {
    prs.mergeability(&pr.repository, &pr.source_commit, &pr.destination_commit)
        .await
}
