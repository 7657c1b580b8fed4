//! The `gate` command line: validate a gate file, plan a change, inspect an event, print the schema.
//!
//! Exit codes: 0 the gate passes (or would run), 1 the gate fails or a file is invalid,
//! 2 a usage, I/O or environment error.

use crate::event;
use crate::gate_file::{self, Gate};
use crate::local::git::{self, Repo};
use crate::plan::{self, ChangedPath, Plan, PlanInput, PlanVerdict};
use crate::report;
use clap::{Parser, Subcommand, ValueEnum};
use serde_json::json;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// The gate passed, or the command succeeded.
pub const EXIT_PASS: u8 = 0;
/// The gate failed, or a gate file or event is invalid.
pub const EXIT_FAIL: u8 = 1;
/// Usage, I/O or environment error.
pub const EXIT_ERROR: u8 = 2;

/// codecommit-gate: no pull request merges until CI passed on exactly the code that will merge.
#[derive(Debug, Parser)]
#[command(name = "gate", version, about, long_about = None)]
#[command(after_help = "Exit codes: 0 pass, 1 gate failed or invalid file, 2 usage or I/O error.")]
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
    let code = main_with_args(
        std::env::args_os(),
        &mut std::io::stdout().lock(),
        &mut std::io::stderr().lock(),
    );
    ExitCode::from(code)
}

struct Failure(u8, String);

fn io_error(what: &str, path: &Path, e: std::io::Error) -> Failure {
    Failure(
        EXIT_ERROR,
        format!("cannot read {what} {}: {e}", path.display()),
    )
}

fn run(cli: Cli, out: &mut dyn Write, err: &mut dyn Write) -> Result<u8, Failure> {
    let write_failed = |e: std::io::Error| Failure(EXIT_ERROR, format!("cannot write output: {e}"));
    match cli.command {
        Command::Validate { file } => {
            let text =
                std::fs::read_to_string(&file).map_err(|e| io_error("gate file", &file, e))?;
            let name = file.display().to_string();
            match Gate::parse(&text, &name) {
                Ok(gate) => {
                    writeln!(
                        out,
                        "{name}: ok: {} stages, {} components, {} checks",
                        gate.stages.len(),
                        gate.components.len(),
                        gate.checks.len()
                    )
                    .map_err(write_failed)?;
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
                Err(errors) => {
                    writeln!(err, "{errors}").map_err(write_failed)?;
                    Ok(EXIT_FAIL)
                }
            }
        }
        Command::Schema => {
            out.write_all(Gate::json_schema().as_bytes())
                .map_err(write_failed)?;
            Ok(EXIT_PASS)
        }
        Command::Inspect { event } => {
            let text = read_input(&event).map_err(|e| io_error("event", &event, e))?;
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
        Command::Plan(args) => plan_command(args, out, err),
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

/// A branch name for `rev` if it names a branch (`main`, `origin/main`, `refs/heads/main`).
fn branch_name(repo: &Repo, rev: &str) -> Option<String> {
    if rev.starts_with('-') {
        return None;
    }
    let name = repo
        .git(&["rev-parse", "--abbrev-ref", rev])
        .ok()?
        .trim()
        .to_owned();
    if name.is_empty() || name == "HEAD" {
        return None;
    }
    Some(name.strip_prefix("origin/").unwrap_or(&name).to_owned())
}

fn plan_command(args: PlanArgs, out: &mut dyn Write, err: &mut dyn Write) -> Result<u8, Failure> {
    let write_failed = |e: std::io::Error| Failure(EXIT_ERROR, format!("cannot write output: {e}"));
    let mut source_branch = args.source_branch.clone();
    let mut destination_branch = args.destination_branch.clone();
    let (changes, gate_path): (Vec<ChangedPath>, PathBuf) = match &args.paths_from {
        Some(list) => {
            let text = read_input(list).map_err(|e| io_error("path list", list, e))?;
            let gate_path = args
                .gate_file
                .clone()
                .unwrap_or_else(|| args.repo.join(gate_file::DEFAULT_PATH));
            (git::parse_path_list(&text), gate_path)
        }
        None => {
            let repo = Repo::open(&args.repo).map_err(git_failure)?;
            let base = match &args.base {
                Some(b) => b.clone(),
                None => repo.default_branch().map_err(git_failure)?,
            };
            repo.resolve(&base).map_err(git_failure)?;
            repo.resolve(&args.head).map_err(git_failure)?;
            let changes = repo.changed_paths(&base, &args.head).map_err(git_failure)?;
            if source_branch.is_none() {
                source_branch = branch_name(&repo, &args.head);
            }
            if destination_branch.is_none() {
                destination_branch = branch_name(&repo, &base);
            }
            let gate_path = args
                .gate_file
                .clone()
                .unwrap_or_else(|| repo.dir().join(gate_file::DEFAULT_PATH));
            (changes, gate_path)
        }
    };
    let text =
        std::fs::read_to_string(&gate_path).map_err(|e| io_error("gate file", &gate_path, e))?;
    let gate = match Gate::parse(&text, &gate_path.display().to_string()) {
        Ok(gate) => gate,
        Err(errors) => {
            writeln!(err, "{errors}").map_err(write_failed)?;
            return Ok(EXIT_FAIL);
        }
    };
    let plan = plan::plan(
        &gate,
        &PlanInput {
            changes: &changes,
            source_branch: source_branch.as_deref(),
            destination_branch: destination_branch.as_deref(),
            author: args.author.as_deref(),
            description: args.description.as_deref(),
            requests: &[],
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
