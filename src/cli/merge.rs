//! `gate merge`: `gate run` on the merge of HEAD into BASE, then BASE advanced to exactly the commit it tested (src/local/merge.rs), tested again when BASE moved meanwhile.

use super::{EXIT_ERROR, EXIT_FAIL, EXIT_PASS, Failure, git_failure};
use crate::local::git::Repo;
use crate::local::merge::{self, BranchLander, Landing, MergeStrategy};
use crate::local::{cleanup, progress, session};
use crate::report;
use clap::ValueEnum;
use std::io::Write;
use std::path::PathBuf;

/// `gate merge` arguments.
#[derive(Debug, clap::Args)]
pub(super) struct MergeArgs {
    /// The git repository.
    #[arg(long, default_value = ".")]
    repo: PathBuf,
    /// The local branch to advance. Default: the repository's default branch.
    #[arg(long, value_name = "REF")]
    base: Option<String>,
    /// The source (only committed code is tested and merged).
    #[arg(long, value_name = "REF", default_value = "HEAD")]
    head: String,
    /// How BASE advances: to HEAD itself (fast-forward only), to the tested merge commit (a
    /// fast-forward when possible), or to one commit with the tested tree (squash).
    #[arg(long, value_enum, default_value = "merge")]
    strategy: Strategy,
    /// How many checks of a stage run at once. Default: the number of cores.
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..))]
    jobs: Option<u32>,
    /// How many times to test again when BASE moved while the gate ran.
    #[arg(long, default_value_t = 3)]
    max_retests: u32,
}

/// `--strategy`.
#[derive(Debug, Clone, Copy, ValueEnum)]
enum Strategy {
    FastForward,
    Merge,
    Squash,
}

impl From<Strategy> for MergeStrategy {
    fn from(s: Strategy) -> Self {
        match s {
            Strategy::FastForward => MergeStrategy::FastForward,
            Strategy::Merge => MergeStrategy::Merge,
            Strategy::Squash => MergeStrategy::Squash,
        }
    }
}

/// What one attempt decided.
enum Attempt {
    /// Stop with this exit code.
    Done(u8),
    /// BASE moved while the gate ran: test again.
    Retest,
}

/// Runs `gate merge`: up to `1 + --max-retests` gate runs, each on the current BASE.
pub(super) fn merge_command(
    args: MergeArgs,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> Result<u8, Failure> {
    let repo = Repo::open(&args.repo).map_err(git_failure)?;
    let branch = local_branch(&repo, args.base.as_deref())?;
    if let Some(path) = merge::checked_out_at(&repo, &branch).map_err(git_failure)? {
        return Err(Failure(
            EXIT_ERROR,
            report::merge::checked_out(&branch, &path),
        ));
    }
    super::prepare_interrupts(err);
    let mut request = session::RunRequest::new(repo.dir());
    request.base = Some(branch.clone());
    request.head = args.head.clone();
    request.jobs = args.jobs.map_or_else(session::default_jobs, |j| j as usize);
    let mut retests = 0;
    loop {
        match attempt(&repo, &request, &branch, args.strategy.into(), out, err)? {
            Attempt::Done(code) => return Ok(code),
            Attempt::Retest if retests < args.max_retests => {
                retests += 1;
                let line = report::merge::retesting(&branch, retests, args.max_retests);
                let _ = writeln!(err, "{line}");
            }
            Attempt::Retest => {
                let why = report::merge::gave_up(&branch, args.max_retests);
                return Err(Failure(EXIT_FAIL, why));
            }
        }
    }
}

/// One gate run on the current BASE, landing what it tested when it passes.
fn attempt(
    repo: &Repo,
    request: &session::RunRequest,
    branch: &str,
    strategy: MergeStrategy,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> Result<Attempt, Failure> {
    let base = repo
        .resolve(&merge::branch_ref(branch))
        .map_err(git_failure)?;
    let head = repo.resolve(&request.head).map_err(git_failure)?;
    if repo.is_ancestor(&head, &base).map_err(git_failure)? {
        let _ = writeln!(
            out,
            "{}",
            report::merge::nothing_to_merge(&request.head, branch)
        );
        return Ok(Attempt::Done(EXIT_PASS));
    }
    if strategy == MergeStrategy::FastForward
        && !repo.is_ancestor(&base, &head).map_err(git_failure)?
    {
        return Err(Failure(
            EXIT_FAIL,
            report::merge::not_fast_forward(&request.head, &base),
        ));
    }
    let mut lander = BranchLander {
        branch: branch.to_owned(),
        strategy,
        landing: None,
    };
    let progress = progress::for_terminal(std::time::Instant::now());
    let code = session::run_landing(
        request,
        &cleanup::INTERRUPT,
        progress.as_ref(),
        Some(&mut lander),
        out,
        err,
    )
    .map_err(|message| Failure(EXIT_ERROR, message))?;
    if let Some(code) = super::interrupted(err) {
        return Ok(Attempt::Done(code));
    }
    Ok(match lander.landing {
        Some(Landing::BaseMoved { .. }) => Attempt::Retest,
        _ => Attempt::Done(code),
    })
}

/// The local branch BASE names (`main`, `refs/heads/main`, or `origin/main` when `main` exists
/// locally), else the default branch's.
fn local_branch(repo: &Repo, base: Option<&str>) -> Result<String, Failure> {
    let given = match base {
        Some(b) => b.to_owned(),
        None => repo.default_branch().map_err(git_failure)?,
    };
    let name = given
        .strip_prefix("refs/heads/")
        .or_else(|| given.strip_prefix("origin/"))
        .unwrap_or(&given);
    let exists = repo
        .git(&["show-ref", "--verify", "--quiet", &merge::branch_ref(name)])
        .is_ok();
    if !exists {
        return Err(Failure(EXIT_ERROR, report::merge::not_a_branch(&given)));
    }
    Ok(name.to_owned())
}
