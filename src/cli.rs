//! The `gate` command line: validate a gate file, plan a change, inspect an event, print the schema; run the gate locally (and merge what passed), list the runs, generate events; approve or reject a release waiting on AWS.
//!
//! Exit codes: 0 the gate passes (or would run), 1 the gate fails or a file is invalid,
//! 2 a usage, I/O or environment error, 130 `gate run` interrupted by Ctrl-C.

use crate::event;
use crate::flows::release_approval::Verb;
use crate::gate_file::{self, Gate};
use crate::local::git::{self, Repo};
use crate::plan::{self, ChangedPath, Plan, PlanInput, PlanVerdict};
use crate::report;
use clap::{Parser, Subcommand, ValueEnum};
use serde_json::json;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

mod approve;
mod merge;
mod release;
mod remote;

/// The gate passed, or the command succeeded.
pub const EXIT_PASS: u8 = 0;
/// The gate failed, or a gate file or event is invalid.
pub const EXIT_FAIL: u8 = 1;
/// Usage, I/O or environment error.
pub const EXIT_ERROR: u8 = 2;

/// codecommit-gate: no pull request merges until CI passed on exactly the code that will merge.
#[derive(Debug, Parser)]
#[command(name = "gate", version, about, long_about = None)]
#[command(
    after_help = "Exit codes: 0 pass, 1 gate failed or invalid file, 2 usage or I/O error, 130 `gate run` interrupted."
)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Check a gate file; errors print as `file:line:column: message`.
    Validate {
        /// The gate file.
        #[arg(default_value = gate_file::DEFAULT_PATH)]
        file: PathBuf,
    },
    /// Show which checks a change runs, and why.
    Plan(PlanArgs),
    /// Show, as JSON, what the Lambdas would do with an EventBridge event (`-` reads stdin).
    Inspect {
        /// The event file.
        event: PathBuf,
    },
    /// Print the gate file's JSON Schema (for editors).
    Schema,
    /// Run the gate on this machine, on exactly the code that would merge.
    ///
    /// Merges HEAD into the default branch in a temporary worktree, plans with the merged gate
    /// file, runs the checks and writes the report the PR comment would be. See docs/local.md.
    #[command(
        after_help = "Exit codes: 0 the gate passed, 1 it failed (a required check, a merge \
conflict, an invalid gate file), 2 usage or environment error, 130 interrupted (Ctrl-C)."
    )]
    Run(RunArgs),
    /// Run the gate on the merge of HEAD into BASE and, only when it passes, advance BASE to
    /// exactly the commit it tested (compare-and-swap: tested again if BASE moved meanwhile).
    /// See docs/local.md, "Gated merge".
    #[command(
        after_help = "Exit codes: 0 merged (or nothing to merge), 1 the gate failed, a merge \
conflict, not a fast-forward with --strategy fast-forward, or BASE kept moving (the gate then did not \
move BASE), 2 usage or environment error (BASE checked out in a work tree, not a local \
branch), 130 interrupted (Ctrl-C)."
    )]
    Merge(merge::MergeArgs),
    /// Release what changed to an environment: its checks, an approval where needed, the
    /// deploys in dependency order, a rollback on failure. `gate release status` shows what
    /// every environment runs. See docs/local.md, "Releases".
    #[command(
        after_help = "Exit codes: 0 released (or nothing to release), 1 a check or deploy \
failed (after the rollback), the approval is missing or refused, or the gate file is invalid, \
2 usage or environment error, 130 interrupted (what the release deployed is rolled back)."
    )]
    Release(release::ReleaseArgs),
    /// Approve a release waiting on AWS, through gate-approve's function URL (signed with
    /// your AWS credentials; you must be one of the environment's approvers).
    #[command(
        after_help = "Exit codes: 0 approved, 1 refused (not an approver, or the author alone), \
nothing waits, or the release no longer waits, 2 usage or transport error."
    )]
    Approve(approve::DecideArgs),
    /// Reject a release waiting on AWS (nothing is deployed), through gate-approve's
    /// function URL.
    #[command(
        after_help = "Exit codes: 0 rejected, 1 refused (not an approver), nothing waits, or \
the release no longer waits, 2 usage or transport error."
    )]
    Reject(approve::DecideArgs),
    /// List recent `gate run`s (or, with --releases, `gate release`s), newest first.
    History {
        /// The git repository.
        #[arg(long, default_value = ".")]
        repo: PathBuf,
        /// How many runs to show.
        #[arg(long, default_value_t = 20)]
        limit: usize,
        /// List the releases (from `.gate/releases.jsonl`) instead of the runs.
        #[arg(long)]
        releases: bool,
        /// Output format.
        #[arg(long, value_enum, default_value = "text")]
        format: Format,
        /// Read the stack's ledger instead (see --remote).
        #[command(flatten)]
        remote: remote::RemoteArgs,
    },
    /// Print a real-shaped EventBridge event for a local pull request.
    ///
    /// Like `sam local generate-event`, for this repository's branches; the pull request (and a
    /// comment's text) is recorded in `.gate/` for the local adapters.
    Event(EventArgs),
}

#[derive(Debug, clap::Args)]
struct RunArgs {
    /// The git repository.
    #[arg(long, default_value = ".")]
    repo: PathBuf,
    /// The destination. Default: the repository's default branch.
    #[arg(long)]
    base: Option<String>,
    /// The source (only committed code is tested).
    #[arg(long, default_value = "HEAD")]
    head: String,
    /// A gate file to try instead of the base's `.gate.yml` (an experiment the report names).
    #[arg(long)]
    gate_file: Option<PathBuf>,
    /// How many checks of a stage run at once. Default: the number of cores.
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..))]
    jobs: Option<u32>,
    /// Run only these checks (`/gate only`): required checks still run.
    #[arg(long, num_args = 1.., value_delimiter = ',', value_name = "CHECK")]
    only: Vec<String>,
    /// Skip these checks (`/gate skip`): only checks in `skip.checks` can be skipped.
    #[arg(long, num_args = 1.., value_delimiter = ',', value_name = "CHECK")]
    skip: Vec<String>,
    /// Also run these checks, even if no change selects them (`/gate run`).
    #[arg(long = "run", num_args = 1.., value_delimiter = ',', value_name = "CHECK")]
    run_checks: Vec<String>,
    /// Keep the temporary worktree (its path is printed).
    #[arg(long)]
    keep_worktree: bool,
    /// Where to write the Markdown report. Default: `.gate/last-report.md`.
    #[arg(long)]
    report: Option<PathBuf>,
    /// Test hook: multiply every timeout (and the SIGTERM→SIGKILL grace) by this factor, so a
    /// 5-minute timeout (the gate file's minimum) can expire in a fraction of a second.
    #[arg(long, hide = true, default_value_t = 1.0)]
    timeout_scale: f64,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum EventKind {
    Created,
    Updated,
    Closed,
    Merged,
    Comment,
}

#[derive(Debug, clap::Args)]
struct EventArgs {
    /// Which event.
    #[arg(value_enum)]
    kind: EventKind,
    /// The git repository (its folder name is the repository name).
    #[arg(long, default_value = ".")]
    repo: PathBuf,
    /// The source branch. Default: the current branch.
    #[arg(long)]
    source: Option<String>,
    /// The destination branch. Default: the default branch.
    #[arg(long)]
    destination: Option<String>,
    /// The pull request id. Default: the open local pull request from source into
    /// destination, or a new id for `created`.
    #[arg(long)]
    pr_id: Option<String>,
    /// The comment's text (`comment`), or the description (other events).
    #[arg(long)]
    text: Option<String>,
    /// The pull request's title. Default: the source's commit subject.
    #[arg(long)]
    title: Option<String>,
    /// Who acts. Default: `local:<git user.email>`.
    #[arg(long)]
    caller: Option<String>,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum Format {
    Text,
    Json,
}

#[derive(Debug, clap::Args)]
struct PlanArgs {
    /// The gate file. Default: `.gate.yml` in the repository (or the current folder).
    #[arg(long)]
    gate_file: Option<PathBuf>,
    /// The git repository whose change to plan.
    #[arg(long, default_value = ".")]
    repo: PathBuf,
    /// The destination: changes are taken from the merge base of BASE and HEAD. Default: the
    /// repository's default branch.
    #[arg(long)]
    base: Option<String>,
    /// The source. Default: HEAD.
    #[arg(long, default_value = "HEAD")]
    head: String,
    /// Read changed paths from a file (`-` for stdin) instead of git: one path a line, or
    /// `git diff --name-status` lines.
    #[arg(long, conflicts_with_all = ["base"])]
    paths_from: Option<PathBuf>,
    /// The PR's source branch (for promotion rules). Default: HEAD's branch name with --repo.
    #[arg(long)]
    source_branch: Option<String>,
    /// The PR's destination branch. Default: BASE's branch name with --repo.
    #[arg(long)]
    destination_branch: Option<String>,
    /// The PR's author ARN (for `/gate` directives in the description).
    #[arg(long)]
    author: Option<String>,
    /// The PR's description (scanned for `/gate` directives).
    #[arg(long)]
    description: Option<String>,
    /// Output format.
    #[arg(long, value_enum, default_value = "text")]
    format: Format,
}

/// Runs the CLI with these arguments (the program name first).
pub fn main_with_args<I, T>(args: I, out: &mut dyn Write, err: &mut dyn Write) -> u8
where
    I: IntoIterator<Item = T>,
    T: Into<std::ffi::OsString> + Clone,
{
    let cli = match Cli::try_parse_from(args) {
        Ok(cli) => cli,
        Err(e) => {
            let code = if e.use_stderr() {
                EXIT_ERROR
            } else {
                EXIT_PASS
            };
            let text = e.render().to_string();
            let _ = if e.use_stderr() {
                err.write_all(text.as_bytes())
            } else {
                out.write_all(text.as_bytes())
            };
            return code;
        }
    };
    match run(cli, out, err) {
        Ok(code) => code,
        Err(Failure(code, message)) => {
            let _ = writeln!(err, "gate: {message}");
            code
        }
    }
}

/// Runs the CLI on the process's arguments.
pub fn main() -> ExitCode {
    // Not `.lock()`ed for the whole run: `gate run` draws progress on standard error from the
    // checks' threads, which would wait forever for a lock held here.
    let code = main_with_args(
        std::env::args_os(),
        &mut std::io::stdout(),
        &mut std::io::stderr(),
    );
    ExitCode::from(code)
}

struct Failure(u8, String);

/// What `gate approve`, `gate reject` and `--remote` say (exit 2) in a `gate` built without the
/// `aws` feature (`cargo gate`, `--no-default-features`): `gate {command}` needs AWS, and how to
/// get a `gate` that has it. `command` is what follows `gate`, e.g. `approve` or
/// `history --remote`.
pub fn built_without_aws(command: &str) -> String {
    format!(
        "`gate {command}` needs AWS, and this gate was built without AWS support (without the \
         `aws` feature, as `cargo gate` builds it). Use a gate built with it (default \
         features): `cargo run --profile cli --bin gate -- {command} ...` in this repository, \
         or install one with `cargo install --path . --profile cli --bin gate`"
    )
}

fn io_error(what: &str, path: &Path, e: std::io::Error) -> Failure {
    Failure(
        EXIT_ERROR,
        format!("cannot read {what} {}: {e}", path.display()),
    )
}

fn run(cli: Cli, out: &mut dyn Write, err: &mut dyn Write) -> Result<u8, Failure> {
    match cli.command {
        Command::Validate { file } => validate_command(&file, out, err),
        Command::Schema => {
            out.write_all(Gate::json_schema().as_bytes())
                .map_err(write_failed)?;
            Ok(EXIT_PASS)
        }
        Command::Inspect { event } => inspect_command(&event, out, err),
        Command::Plan(args) => plan_command(args, out, err),
        Command::Run(args) => run_command(args, out, err),
        Command::Merge(args) => merge::merge_command(args, out, err),
        Command::Release(args) => release::release_command(args, out, err),
        Command::Approve(args) => approve::decide_command(Verb::Approve, args, out),
        Command::Reject(args) => approve::decide_command(Verb::Reject, args, out),
        Command::History {
            remote,
            releases,
            limit,
            format,
            ..
        } if remote.remote => {
            let query = if releases {
                remote::Query::Releases { limit }
            } else {
                remote::Query::Runs
            };
            remote::remote_command(&remote, query, format, out)
        }
        Command::History {
            repo,
            limit,
            releases,
            format,
            ..
        } => history_command(&repo, limit, releases, format, out),
        Command::Event(args) => event_command(args, out),
    }
}

/// The failure of writing to standard output or error.
fn write_failed(e: std::io::Error) -> Failure {
    Failure(EXIT_ERROR, format!("cannot write output: {e}"))
}

/// `gate validate`: the gate file's summary and dependency cycles, or its errors.
fn validate_command(file: &Path, out: &mut dyn Write, err: &mut dyn Write) -> Result<u8, Failure> {
    let text = std::fs::read_to_string(file).map_err(|e| io_error("gate file", file, e))?;
    let name = file.display().to_string();
    let gate = match Gate::parse(&text, &name) {
        Ok(gate) => gate,
        Err(errors) => {
            writeln!(err, "{errors}").map_err(write_failed)?;
            return Ok(EXIT_FAIL);
        }
    };
    writeln!(
        out,
        "{name}: ok: {} stages, {} components, {} checks",
        gate.stages.len(),
        gate.components.len(),
        gate.checks.len()
    )
    .map_err(write_failed)?;
    if !gate.environments.is_empty() {
        let order: Vec<&str> = gate.environments.iter().map(|e| e.name.as_str()).collect();
        let deployed = gate
            .components
            .iter()
            .filter(|c| c.deploy.is_some())
            .count();
        writeln!(
            out,
            "{name}: releases: {} ({} of {} components deployed)",
            order.join(" → "),
            deployed,
            gate.components.len()
        )
        .map_err(write_failed)?;
    }
    for cycle in &gate.cycles {
        let names: Vec<&str> = cycle.iter().map(|c| c.as_str()).collect();
        writeln!(
            out,
            "{name}: note: components {} depend on each other; a change in any selects them all",
            names.join(", ")
        )
        .map_err(write_failed)?;
    }
    Ok(EXIT_PASS)
}

/// `gate inspect`: the event as the gate understands it, or why it does not.
fn inspect_command(event: &Path, out: &mut dyn Write, err: &mut dyn Write) -> Result<u8, Failure> {
    let text = read_input(event).map_err(|e| io_error("event", event, e))?;
    match event::parse(&text) {
        Ok(parsed) => {
            let json = serde_json::to_string_pretty(&parsed)
                .map_err(|e| Failure(EXIT_ERROR, e.to_string()))?;
            writeln!(out, "{json}").map_err(write_failed)?;
            Ok(EXIT_PASS)
        }
        Err(e) => {
            writeln!(err, "{}: {e}", event.display()).map_err(write_failed)?;
            Ok(EXIT_FAIL)
        }
    }
}

fn read_input(path: &Path) -> std::io::Result<String> {
    if path == Path::new("-") {
        let mut text = String::new();
        std::io::stdin().read_to_string(&mut text)?;
        Ok(text)
    } else {
        std::fs::read_to_string(path)
    }
}

fn git_failure(e: git::GitError) -> Failure {
    Failure(EXIT_ERROR, e.to_string())
}

/// What `gate plan` plans: the changed paths, where the gate file is, and the PR's branches.
struct PlanSubject {
    changes: Vec<ChangedPath>,
    gate_path: PathBuf,
    source_branch: Option<String>,
    destination_branch: Option<String>,
}

/// The changed paths from `--paths-from`, else from git (the merge base of base and head),
/// which also names the branches the flags leave out.
fn plan_subject(args: &PlanArgs) -> Result<PlanSubject, Failure> {
    let mut subject = PlanSubject {
        changes: Vec::new(),
        gate_path: PathBuf::new(),
        source_branch: args.source_branch.clone(),
        destination_branch: args.destination_branch.clone(),
    };
    if let Some(list) = &args.paths_from {
        let text = read_input(list).map_err(|e| io_error("path list", list, e))?;
        subject.gate_path = args
            .gate_file
            .clone()
            .unwrap_or_else(|| args.repo.join(gate_file::DEFAULT_PATH));
        subject.changes = git::parse_path_list(&text);
        return Ok(subject);
    }
    let repo = Repo::open(&args.repo).map_err(git_failure)?;
    let base = match &args.base {
        Some(b) => b.clone(),
        None => repo.default_branch().map_err(git_failure)?,
    };
    repo.resolve(&base).map_err(git_failure)?;
    repo.resolve(&args.head).map_err(git_failure)?;
    subject.changes = repo.changed_paths(&base, &args.head).map_err(git_failure)?;
    if subject.source_branch.is_none() {
        subject.source_branch = repo.branch_name(&args.head);
    }
    if subject.destination_branch.is_none() {
        subject.destination_branch = repo.branch_name(&base);
    }
    subject.gate_path = args
        .gate_file
        .clone()
        .unwrap_or_else(|| repo.dir().join(gate_file::DEFAULT_PATH));
    Ok(subject)
}

fn plan_command(args: PlanArgs, out: &mut dyn Write, err: &mut dyn Write) -> Result<u8, Failure> {
    let PlanSubject {
        changes,
        gate_path,
        source_branch,
        destination_branch,
    } = plan_subject(&args)?;
    let text =
        std::fs::read_to_string(&gate_path).map_err(|e| io_error("gate file", &gate_path, e))?;
    let gate = match Gate::parse(&text, &gate_path.display().to_string()) {
        Ok(gate) => gate,
        Err(errors) => {
            writeln!(err, "{errors}").map_err(write_failed)?;
            return Ok(EXIT_FAIL);
        }
    };
    // As on a pull request: a change to the gate file or a buildspec it names runs everything.
    let policy = crate::trust::policy_paths(&gate, gate_file::DEFAULT_PATH);
    let plan = plan::plan(
        &gate,
        &PlanInput {
            changes: &changes,
            source_branch: source_branch.as_deref(),
            destination_branch: destination_branch.as_deref(),
            author: args.author.as_deref(),
            description: args.description.as_deref(),
            requests: &[],
            trusted: None,
            policy_paths: &policy,
        },
    );
    match args.format {
        Format::Text => out
            .write_all(report::plan_text(&plan).as_bytes())
            .map_err(write_failed)?,
        Format::Json => {
            let text = serde_json::to_string_pretty(&plan_json(&plan))
                .map_err(|e| Failure(EXIT_ERROR, e.to_string()))?;
            writeln!(out, "{text}").map_err(write_failed)?;
        }
    }
    Ok(match plan.verdict {
        PlanVerdict::Fail => EXIT_FAIL,
        PlanVerdict::Run | PlanVerdict::Pass => EXIT_PASS,
    })
}

/// The `--format json` shape: stable, with reasons as human sentences.
pub fn plan_json(plan: &Plan) -> serde_json::Value {
    let reasons = |rs: &[plan::Reason]| rs.iter().map(report::reason).collect::<Vec<_>>();
    json!({
        "checks": plan.checks.iter().map(|c| json!({
            "name": c.name,
            "stage": c.stage,
            "required": c.required,
            "run": c.run,
            "reasons": reasons(&c.reasons),
        })).collect::<Vec<_>>(),
        "components": plan.components.iter().map(|c| json!({
            "name": c.name,
            "affected": c.affected,
            "reasons": reasons(&c.reasons),
        })).collect::<Vec<_>>(),
        "directives": plan.directives.iter().map(|d| json!({
            "text": d.text,
            "author": d.author,
            "accepted": d.accepted,
            "refusals": d.refusals.iter().map(report::refusal).collect::<Vec<_>>(),
        })).collect::<Vec<_>>(),
        "promotion": plan.promotion,
        "changed_paths": plan.changed_paths,
        "verdict": plan.verdict,
    })
}

fn run_command(args: RunArgs, out: &mut dyn Write, err: &mut dyn Write) -> Result<u8, Failure> {
    use crate::local::{cleanup, progress, session};
    if !(args.timeout_scale.is_finite() && args.timeout_scale > 0.0) {
        return Err(Failure(
            EXIT_ERROR,
            "--timeout-scale must be a positive number".into(),
        ));
    }
    prepare_interrupts(err);
    let request = session::RunRequest {
        repo: args.repo,
        base: args.base,
        head: args.head,
        gate_file: args.gate_file,
        jobs: args.jobs.map_or_else(session::default_jobs, |j| j as usize),
        only: args.only,
        skip: args.skip,
        run: args.run_checks,
        keep_worktree: args.keep_worktree,
        report: args.report,
        timeout_scale: args.timeout_scale,
    };
    let progress = progress::for_terminal(std::time::Instant::now());
    let code = session::run(&request, &cleanup::INTERRUPT, progress.as_ref(), out, err)
        .map_err(|message| Failure(EXIT_ERROR, message))?;
    Ok(interrupted(err).unwrap_or(code))
}

/// Before a gate run: worktrees and checks are cleaned up on a panic and on Ctrl-C.
fn prepare_interrupts(err: &mut dyn Write) {
    use crate::local::cleanup;
    cleanup::install_panic_hook();
    if !cleanup::install_interrupt_handler() {
        let _ = writeln!(
            err,
            "gate: warning: cannot handle Ctrl-C; an interrupted run may leave a worktree behind"
        );
    }
}

/// After a gate run: the exit code 130 when Ctrl-C stopped it (said on standard error).
fn interrupted(err: &mut dyn Write) -> Option<u8> {
    use crate::local::{cleanup, session};
    if !cleanup::INTERRUPT.is_cancelled() {
        return None;
    }
    let _ = writeln!(
        err,
        "gate: interrupted: every check was stopped and the run recorded as cancelled"
    );
    Some(session::EXIT_INTERRUPTED)
}

fn history_command(
    repo: &Path,
    limit: usize,
    releases: bool,
    format: Format,
    out: &mut dyn Write,
) -> Result<u8, Failure> {
    use crate::local::{history, store::Store};
    let repo = Repo::open(repo).map_err(git_failure)?;
    if releases {
        return release::release_history(&repo, limit, format, out);
    }
    let store = Store::new(repo.dir());
    let found =
        history::read(&store.history()).map_err(|e| io_error("history", &store.history(), e))?;
    let entries = found.newest(limit);
    match format {
        Format::Text => out
            .write_all(history::render_text(&entries).as_bytes())
            .map_err(write_failed)?,
        Format::Json => {
            let text = serde_json::to_string_pretty(&entries)
                .map_err(|e| Failure(EXIT_ERROR, e.to_string()))?;
            writeln!(out, "{text}").map_err(write_failed)?;
        }
    }
    Ok(EXIT_PASS)
}

fn event_command(args: EventArgs, out: &mut dyn Write) -> Result<u8, Failure> {
    use crate::local::events::{self, EventRequest, Kind};
    let kind = match args.kind {
        EventKind::Created => Kind::Created,
        EventKind::Updated => Kind::Updated,
        EventKind::Closed => Kind::Closed,
        EventKind::Merged => Kind::Merged,
        EventKind::Comment => Kind::Comment,
    };
    let value = events::generate(&EventRequest {
        kind,
        repo: args.repo,
        source: args.source,
        destination: args.destination,
        pull_request_id: args.pr_id,
        text: args.text,
        title: args.title,
        caller: args.caller,
    })
    .map_err(|message| Failure(EXIT_ERROR, message))?;
    let text =
        serde_json::to_string_pretty(&value).map_err(|e| Failure(EXIT_ERROR, e.to_string()))?;
    writeln!(out, "{text}").map_err(write_failed)?;
    Ok(EXIT_PASS)
}
