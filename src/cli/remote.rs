//! `--remote`: `gate history` and `gate release status` read the stack's ledger (DynamoDB)
//! with the caller's own AWS credentials (the default chain: environment, profile, SSO, …)
//! instead of the local `.gate/` records. The same words as the AWS flows record. A `gate`
//! built without the `aws` feature refuses `--remote` with a usage error.

use super::{EXIT_ERROR, Failure, Format};
#[cfg(feature = "aws")]
use super::{EXIT_PASS, write_failed};
#[cfg(feature = "aws")]
use crate::ids::RepositoryName;
#[cfg(feature = "aws")]
use crate::ports::LedgerHistory;
#[cfg(feature = "aws")]
use crate::report;
use std::io::Write;

/// Where `--remote` reads.
#[derive(Debug, Clone, clap::Args)]
pub(super) struct RemoteArgs {
    /// Read the stack's ledger on AWS with your credentials instead of `.gate/`.
    #[arg(long)]
    pub remote: bool,
    /// The CodeCommit repository (with --remote).
    #[arg(long, requires = "remote")]
    pub repository: Option<String>,
    /// The stack's ledger table (with --remote). Default: $GATE_TABLE_NAME.
    #[arg(long, requires = "remote")]
    pub table: Option<String>,
}

/// What `--remote` reads.
pub(super) enum Query {
    /// The pull requests' current runs (`gate history --remote`).
    Runs,
    /// The releases, newest first (`gate history --remote --releases`).
    Releases {
        /// How many.
        #[cfg_attr(
            not(feature = "aws"),
            expect(dead_code, reason = "read by the ledger query, which needs AWS")
        )]
        limit: usize,
    },
    /// The environments (`gate release status --remote`).
    Status,
}

#[cfg(not(feature = "aws"))]
impl Query {
    /// The command that asks it, after `gate`.
    fn command(&self) -> &'static str {
        match self {
            Query::Runs => "history --remote",
            Query::Releases { .. } => "history --remote --releases",
            Query::Status => "release status --remote",
        }
    }
}

/// Without the `aws` feature: a usage error that says how to get a `gate` with it.
#[cfg(not(feature = "aws"))]
pub(super) fn remote_command(
    _args: &RemoteArgs,
    query: Query,
    _format: Format,
    _out: &mut dyn Write,
) -> Result<u8, Failure> {
    Err(Failure(
        EXIT_ERROR,
        super::built_without_aws(query.command()),
    ))
}

/// Reads and prints `query` for the repository `args` name.
#[cfg(feature = "aws")]
pub(super) fn remote_command(
    args: &RemoteArgs,
    query: Query,
    format: Format,
    out: &mut dyn Write,
) -> Result<u8, Failure> {
    let usage = |m: &str| Failure(EXIT_ERROR, m.to_owned());
    let repository = args
        .repository
        .as_deref()
        .ok_or_else(|| usage("--remote needs --repository NAME (the CodeCommit repository)"))?;
    let table = args
        .table
        .clone()
        .or_else(|| {
            std::env::var("GATE_TABLE_NAME")
                .ok()
                .filter(|t| !t.is_empty())
        })
        .ok_or_else(|| {
            usage("--remote needs --table NAME or GATE_TABLE_NAME (the stack's LedgerTable output)")
        })?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| Failure(EXIT_ERROR, format!("cannot start the AWS client: {e}")))?;
    let text = runtime.block_on(async {
        let config = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
        let ledger =
            crate::aws::dynamodb::AwsLedger::new(aws_sdk_dynamodb::Client::new(&config), table);
        render(&ledger, &RepositoryName::new(repository), query, format).await
    })?;
    out.write_all(text.as_bytes()).map_err(write_failed)?;
    Ok(EXIT_PASS)
}

/// The answer to `query` from `ledger`, as text or JSON.
#[cfg(feature = "aws")]
pub(super) async fn render(
    ledger: &impl LedgerHistory,
    repository: &RepositoryName,
    query: Query,
    format: Format,
) -> Result<String, Failure> {
    let failed = |e: crate::ports::PortError| {
        Failure(
            EXIT_ERROR,
            format!("cannot read the ledger ({}): {e}", e.call()),
        )
    };
    match query {
        Query::Runs => {
            let mut records = ledger.pull_requests(repository).await.map_err(failed)?;
            records.sort_by_key(|r| {
                std::cmp::Reverse(r.pull_request_id.as_str().parse::<u64>().unwrap_or(0))
            });
            match format {
                Format::Text => Ok(report::remote::pull_requests_text(&records)),
                Format::Json => json(&records),
            }
        }
        Query::Releases { limit } => {
            let mut records = ledger.releases(repository).await.map_err(failed)?;
            records.sort_by(|a, b| b.started_at.cmp(&a.started_at));
            records.truncate(limit);
            match format {
                Format::Text => Ok(report::release::history_text(
                    &records.iter().collect::<Vec<_>>(),
                )),
                Format::Json => json(&records),
            }
        }
        Query::Status => {
            let mut records = ledger.environments(repository).await.map_err(failed)?;
            records.sort_by(|a, b| a.environment.cmp(&b.environment));
            match format {
                Format::Text => Ok(report::remote::environments_text(&records)),
                Format::Json => json(&records),
            }
        }
    }
}

/// Pretty JSON with a trailing newline.
#[cfg(feature = "aws")]
fn json<T: serde::Serialize>(value: &T) -> Result<String, Failure> {
    serde_json::to_string_pretty(value)
        .map(|t| t + "\n")
        .map_err(|e| Failure(EXIT_ERROR, e.to_string()))
}
