//! `gate release ENV` and `gate release status`: the release flow of the embedded default
//! (src/local/release.rs) on the command line.

use super::{EXIT_ERROR, EXIT_PASS, Failure, Format, write_failed};
use crate::local::release::{self, Records, ReleaseRequest, Terminal};
use crate::local::{cleanup, progress};
use crate::release::ReleasePlan;
use crate::report;
use serde_json::json;
use std::io::Write;
use std::path::{Path, PathBuf};

/// `gate release` arguments.
#[derive(Debug, clap::Args)]
pub(super) struct ReleaseArgs {
    /// The environment (one of the gate file's `environments`), or `status` to show what
    /// every environment runs.
    environment: String,
    /// The git repository.
    #[arg(long, default_value = ".")]
    repo: PathBuf,
    /// The commit to release. Default: the tip of the environment's branch.
    #[arg(long, value_name = "REF")]
    commit: Option<String>,
    /// Approve in advance (otherwise a terminal asks; without one nothing is deployed).
    #[arg(long)]
    approve: bool,
    /// Print the plan and run nothing.
    #[arg(long)]
    plan: bool,
    /// Output format of `--plan` and `status`.
    #[arg(long, value_enum, default_value = "text")]
    format: Format,
    /// How many checks of a stage, packages or deploys of a wave run at once. Default: the
    /// number of cores.
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..))]
    jobs: Option<u32>,
    /// Release a commit that does not descend from the environment's last release (recorded).
    #[arg(long)]
    force: bool,
    /// With `status`: read the stack's ledger instead (see --remote).
    #[command(flatten)]
    remote: super::remote::RemoteArgs,
    /// Test hook: multiply every timeout (and the SIGTERM→SIGKILL grace) by this factor.
    #[arg(long, hide = true, default_value_t = 1.0)]
    timeout_scale: f64,
}

/// Runs `gate release`.
pub(super) fn release_command(
    args: ReleaseArgs,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> Result<u8, Failure> {
    if args.environment == "status" {
        if args.remote.remote {
            let query = super::remote::Query::Status;
            return super::remote::remote_command(&args.remote, query, args.format, out);
        }
        return status_command(&args.repo, args.format, out);
    }
    if args.remote.remote {
        return Err(Failure(
            EXIT_ERROR,
            "--remote works with `gate release status`; releases on AWS start from a push to \
             the environment's branch"
                .into(),
        ));
    }
    if !(args.timeout_scale.is_finite() && args.timeout_scale > 0.0) {
        return Err(Failure(
            EXIT_ERROR,
            "--timeout-scale must be a positive number".into(),
        ));
    }
    let request = ReleaseRequest {
        repo: args.repo,
        environment: args.environment,
        commit: args.commit,
        approve: args.approve,
        force: args.force,
        jobs: args
            .jobs
            .map_or_else(crate::local::session::default_jobs, |j| j as usize),
        timeout_scale: args.timeout_scale,
    };
    if args.plan {
        return plan_command(&request, args.format, out, err);
    }
    cleanup::install_panic_hook();
    if !cleanup::install_interrupt_handler() {
        let _ = writeln!(err, "gate: warning: cannot handle Ctrl-C");
    }
    let progress = progress::for_terminal(std::time::Instant::now());
    let code = release::run(
        &request,
        &Terminal,
        &cleanup::INTERRUPT,
        progress.as_ref(),
        out,
        err,
    )
    .map_err(|message| Failure(EXIT_ERROR, message))?;
    Ok(code)
}

/// `gate release ENV --plan`.
fn plan_command(
    request: &ReleaseRequest,
    format: Format,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> Result<u8, Failure> {
    let prepared = match release::prepare(request, err).map_err(|m| Failure(EXIT_ERROR, m))? {
        Ok(p) => p,
        Err(code) => return Ok(code),
    };
    match format {
        Format::Text => out
            .write_all(report::release::plan_text(&prepared.plan).as_bytes())
            .map_err(write_failed)?,
        Format::Json => {
            let text = serde_json::to_string_pretty(&plan_json(&prepared.plan))
                .map_err(|e| Failure(EXIT_ERROR, e.to_string()))?;
            writeln!(out, "{text}").map_err(write_failed)?;
        }
    }
    Ok(EXIT_PASS)
}

/// The `--plan --format json` shape: stable, with reasons as human sentences.
pub fn plan_json(plan: &ReleasePlan) -> serde_json::Value {
    let reasons = |rs: &[crate::plan::Reason]| rs.iter().map(report::reason).collect::<Vec<_>>();
    json!({
        "environment": plan.environment,
        "branch": plan.branch,
        "commit": plan.commit,
        "previous": plan.previous,
        "changed_paths": plan.changed_paths,
        "components": plan.components.iter().map(|c| json!({
            "name": c.name,
            "deploy": c.deploy,
            "wave": c.wave,
            "reasons": reasons(&c.reasons),
        })).collect::<Vec<_>>(),
        "checks": plan.checks.iter().map(|c| json!({
            "name": c.name,
            "stage": c.stage,
            "run": c.run,
            "reasons": reasons(&c.reasons),
        })).collect::<Vec<_>>(),
        "approval": {
            "required": plan.approval.required,
            "approvers": plan.approval.approvers,
        },
    })
}

/// `gate release status`: per environment of the default branch's gate file, the release it
/// is at and what is deployed.
fn status_command(repo: &Path, format: Format, out: &mut dyn Write) -> Result<u8, Failure> {
    let fail = |m: String| Failure(EXIT_ERROR, m);
    let repo = crate::local::git::Repo::open(repo).map_err(|e| fail(e.to_string()))?;
    let branch = repo.default_branch().map_err(|e| fail(e.to_string()))?;
    let path = crate::gate_file::DEFAULT_PATH;
    let bytes = repo
        .file_at(&branch, path)
        .map_err(|e| fail(e.to_string()))?
        .ok_or_else(|| fail(format!("{branch} has no {path}")))?;
    let gate = crate::gate_file::Gate::parse_bytes(bytes, path)
        .map_err(|e| Failure(super::EXIT_FAIL, e.to_string()))?;
    let records = Records::new(&crate::local::store::Store::new(repo.dir()));
    let mut states = Vec::new();
    for e in &gate.environments {
        let state = records.state(&e.name).map_err(|x| fail(x.to_string()))?;
        states.push((e.name.clone(), e.branch.clone(), state));
    }
    match format {
        Format::Text => out
            .write_all(report::release::status_text(&states).as_bytes())
            .map_err(write_failed)?,
        Format::Json => {
            let value: Vec<serde_json::Value> = states
                .iter()
                .map(|(name, branch, state)| {
                    json!({
                        "environment": name,
                        "branch": branch,
                        "commit": state.commit,
                        "release": state.release,
                        "released_at": state.released_at,
                        "components": state.components,
                    })
                })
                .collect();
            let text = serde_json::to_string_pretty(&value)
                .map_err(|e| Failure(EXIT_ERROR, e.to_string()))?;
            writeln!(out, "{text}").map_err(write_failed)?;
        }
    }
    Ok(EXIT_PASS)
}

/// `gate history --releases`: the recorded releases, newest first.
pub(super) fn release_history(
    repo: &crate::local::git::Repo,
    limit: usize,
    format: Format,
    out: &mut dyn Write,
) -> Result<u8, Failure> {
    let records = Records::new(&crate::local::store::Store::new(repo.dir()));
    let all = records.releases().map_err(|e| {
        Failure(
            EXIT_ERROR,
            format!("cannot read {}: {e}", records.log_path().display()),
        )
    })?;
    let newest: Vec<_> = all.iter().rev().take(limit).collect();
    match format {
        Format::Text => out
            .write_all(report::release::history_text(&newest).as_bytes())
            .map_err(write_failed)?,
        Format::Json => {
            let text = serde_json::to_string_pretty(&newest)
                .map_err(|e| Failure(EXIT_ERROR, e.to_string()))?;
            writeln!(out, "{text}").map_err(write_failed)?;
        }
    }
    Ok(EXIT_PASS)
}
