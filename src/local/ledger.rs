//! `LocalLedger` and `LocalNotifier`: the ledger as one JSON file per pull request under `.gate/ledger/`, with DynamoDB's conditional-write rule; notices on standard error.

use crate::ids::{PullRequestId, RepositoryName};
use crate::local::release::Records;
use crate::local::store::{self, Store};
use crate::ports::{EnvironmentRecord, Ledger, Notifier, PortError, PortResult, PrRecord, Written};
use crate::release::ReleaseRecord;
use crate::reuse::ledger::LedgerPasses;
use crate::test_reports::{CoverageBases, branch_name};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

/// The ledger, one file per pull request: `<GATE_REPOS_DIR>/<repository>/.gate/ledger/<pr>.json`.
///
/// [`Ledger::put`] holds the repository store's exclusive lock while it reads the stored
/// version, compares it with the record's and renames the new file into place, so of two
/// processes writing the same version exactly one wins and the other gets
/// [`Written::Conflict`], as with DynamoDB's condition expression.
#[derive(Debug, Clone)]
pub struct LocalLedger {
    repos_dir: PathBuf,
}

impl LocalLedger {
    /// The ledger of the repositories under `repos_dir`.
    pub fn new(repos_dir: impl Into<PathBuf>) -> Self {
        Self {
            repos_dir: repos_dir.into(),
        }
    }

    /// The ledger of the repositories under `$GATE_REPOS_DIR` (else the current folder).
    pub fn from_env() -> Self {
        Self::new(crate::local::pull_requests::repos_dir(
            std::path::Path::new("."),
        ))
    }

    fn store(&self, call: &'static str, repository: &RepositoryName) -> PortResult<Store> {
        let dir = self.repos_dir.join(repository.as_str());
        if repository.as_str().contains(['/', '\\'])
            || repository.as_str().starts_with('.')
            || !dir.is_dir()
        {
            return Err(PortError::Permanent {
                call,
                message: format!(
                    "ResourceNotFoundException: no repository `{repository}` in {}",
                    self.repos_dir.display()
                ),
            });
        }
        Ok(Store::new(dir))
    }
}

fn transient(call: &'static str) -> impl Fn(std::io::Error) -> PortError {
    move |e| PortError::Transient {
        call,
        message: e.to_string(),
    }
}

impl Ledger for LocalLedger {
    async fn get(
        &self,
        repository: &RepositoryName,
        id: &PullRequestId,
    ) -> PortResult<Option<PrRecord>> {
        const CALL: &str = "dynamodb:GetItem";
        let store = self.store(CALL, repository)?;
        store::read_json(&store.ledger(id.as_str())).map_err(transient(CALL))
    }

    async fn put(&self, record: &PrRecord) -> PortResult<Written> {
        const CALL: &str = "dynamodb:PutItem";
        let store = self.store(CALL, &record.repository)?;
        let next = PrRecord {
            version: record.version + 1,
            ..record.clone()
        };
        let path = store.ledger(record.pull_request_id.as_str());
        let wrote = store::write_if_version(
            &store,
            &path,
            record.version,
            |r: &PrRecord| r.version,
            &next,
        )
        .map_err(transient(CALL))?;
        Ok(Written::won(wrote))
    }

    async fn open_records(&self) -> PortResult<Vec<PrRecord>> {
        const CALL: &str = "dynamodb:Scan";
        let mut records = Vec::new();
        let repos = match std::fs::read_dir(&self.repos_dir) {
            Ok(repos) => repos,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(records),
            Err(e) => return Err(transient(CALL)(e)),
        };
        for repo in repos.flatten() {
            let Ok(ledger) = std::fs::read_dir(repo.path().join(".gate").join("ledger")) else {
                continue;
            };
            for file in ledger.flatten() {
                let record: Option<PrRecord> =
                    store::read_json(&file.path()).map_err(transient(CALL))?;
                records.extend(record.filter(|r| !r.closed));
            }
        }
        Ok(records)
    }

    async fn environment(
        &self,
        repository: &RepositoryName,
        environment: &str,
    ) -> PortResult<Option<EnvironmentRecord>> {
        const CALL: &str = "dynamodb:GetItem";
        let store = self.store(CALL, repository)?;
        Records::new(&store)
            .environment(environment)
            .map_err(transient(CALL))
    }

    async fn put_environment(&self, record: &EnvironmentRecord) -> PortResult<Written> {
        const CALL: &str = "dynamodb:PutItem";
        let store = self.store(CALL, &record.repository)?;
        let wrote = Records::new(&store)
            .put_environment(record)
            .map_err(transient(CALL))?;
        Ok(Written::won(wrote))
    }

    async fn put_release(
        &self,
        repository: &RepositoryName,
        record: &ReleaseRecord,
    ) -> PortResult<()> {
        const CALL: &str = "dynamodb:PutItem";
        let store = self.store(CALL, repository)?;
        Records::new(&store).record(record).map_err(transient(CALL))
    }

    async fn coverage_bases(
        &self,
        repository: &RepositoryName,
        branch: &str,
    ) -> PortResult<CoverageBases> {
        const CALL: &str = "dynamodb:GetItem";
        let store = self.store(CALL, repository)?;
        let stored: Option<CoverageBases> =
            store::read_json(&store.coverage_bases(branch_name(branch)))
                .map_err(transient(CALL))?;
        Ok(stored.unwrap_or_else(|| CoverageBases::empty(branch)))
    }

    async fn put_coverage_bases(
        &self,
        repository: &RepositoryName,
        record: &CoverageBases,
    ) -> PortResult<Written> {
        const CALL: &str = "dynamodb:PutItem";
        let store = self.store(CALL, repository)?;
        let next = record.written();
        let path = store.coverage_bases(branch_name(&record.branch));
        let wrote = store::write_if_version(
            &store,
            &path,
            record.version,
            |r: &CoverageBases| r.version,
            &next,
        )
        .map_err(transient(CALL))?;
        Ok(Written::won(wrote))
    }

    async fn reuse_passes(&self, repository: &RepositoryName) -> PortResult<LedgerPasses> {
        const CALL: &str = "dynamodb:GetItem";
        let store = self.store(CALL, repository)?;
        let stored: Option<LedgerPasses> =
            store::read_json(&store.ledger_passes()).map_err(transient(CALL))?;
        Ok(stored.unwrap_or_default())
    }

    async fn put_reuse_passes(
        &self,
        repository: &RepositoryName,
        record: &LedgerPasses,
    ) -> PortResult<Written> {
        const CALL: &str = "dynamodb:PutItem";
        let store = self.store(CALL, repository)?;
        let wrote = store::write_if_version(
            &store,
            &store.ledger_passes(),
            record.version,
            |r: &LedgerPasses| r.version,
            &record.written(),
        )
        .map_err(transient(CALL))?;
        Ok(Written::won(wrote))
    }
}

/// Notices kept in memory: (subject, message).
type Kept = Arc<Mutex<Vec<(String, String)>>>;

/// Notices on standard error (SNS on AWS); optionally also kept in memory.
#[derive(Debug, Clone, Default)]
pub struct LocalNotifier {
    kept: Option<Kept>,
    quiet: bool,
}

impl LocalNotifier {
    /// Prints every notice on standard error.
    pub fn new() -> Self {
        Self::default()
    }

    /// Keeps every notice in memory instead of printing it (for tests).
    pub fn keeping() -> Self {
        Self {
            kept: Some(Arc::default()),
            quiet: true,
        }
    }

    /// The notices kept so far: (subject, message).
    pub fn kept(&self) -> Vec<(String, String)> {
        self.kept
            .as_ref()
            .map(|k| {
                k.lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner)
                    .clone()
            })
            .unwrap_or_default()
    }
}

impl Notifier for LocalNotifier {
    async fn publish(&self, subject: &str, message: &str) -> PortResult<()> {
        if let Some(k) = &self.kept {
            k.lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .push((subject.to_owned(), message.to_owned()));
        }
        if !self.quiet {
            eprintln!("gate notice: {subject}\n{message}");
        }
        Ok(())
    }
}
