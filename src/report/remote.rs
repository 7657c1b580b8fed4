//! The words of `gate history --remote` and `gate release status --remote`: what the stack's
//! ledger says about one repository's pull requests and environments.

use crate::ids::short_id;
use crate::ports::{EnvironmentRecord, PrRecord};
use std::fmt::Write as _;

/// `gate history --remote` as text: one line per pull request (its current run), newest
/// pull request first.
pub fn pull_requests_text(records: &[PrRecord]) -> String {
    if records.is_empty() {
        return "No pull request of this repository was gated yet.\n".to_owned();
    }
    let mut out = String::new();
    for r in records {
        let state = if r.closed { "closed" } else { "open" };
        let Some(run) = &r.run else {
            let _ = writeln!(out, "PR {}  {state}  no run", r.pull_request_id);
            continue;
        };
        let verdict = match (run.verdict, &run.execution_arn) {
            (Some(v), _) => v.as_str(),
            (None, Some(_)) => "running",
            (None, None) => "starting",
        };
        let _ = writeln!(
            out,
            "PR {}  {state}  {verdict:<8} {} into {} {}  attempt {}  ({})",
            r.pull_request_id,
            short_id(run.source_commit.as_str()),
            run.destination_reference
                .strip_prefix("refs/heads/")
                .unwrap_or(&run.destination_reference),
            short_id(run.destination_commit.as_str()),
            run.attempt,
            run.execution_name,
        );
    }
    out
}

/// `gate release status --remote` as text: per environment, what is deployed, what runs,
/// what waits and whether a person is asked to approve.
pub fn environments_text(records: &[EnvironmentRecord]) -> String {
    if records.is_empty() {
        return "No environment of this repository was released yet.\n".to_owned();
    }
    let mut out = String::new();
    for r in records {
        let state = &r.state;
        match &state.commit {
            Some(c) => {
                let _ = writeln!(
                    out,
                    "{}: at {} since {} (release {})",
                    r.environment,
                    short_id(c),
                    state.released_at.as_deref().unwrap_or("?"),
                    state.release.as_deref().unwrap_or("?"),
                );
            }
            None => {
                let _ = writeln!(out, "{}: never released", r.environment);
            }
        }
        if let Some(running) = &r.lane.running {
            let _ = writeln!(
                out,
                "  releasing {} (pushed {})",
                short_id(&running.commit),
                running.pushed_at
            );
        }
        if let Some(p) = &r.pending_approval {
            let _ = writeln!(
                out,
                "  waiting for approval since {} (until {}); approvers: {}",
                p.requested_at,
                p.expires_at,
                p.approvers.join(", ")
            );
        }
        if let Some(queued) = &r.lane.queued {
            let _ = writeln!(
                out,
                "  then {} (pushed {})",
                short_id(&queued.commit),
                queued.pushed_at
            );
        }
        for (component, d) in &state.components {
            let _ = writeln!(
                out,
                "  {component:<24} {} deployed {}",
                short_id(&d.commit),
                d.deployed_at
            );
        }
    }
    out
}
