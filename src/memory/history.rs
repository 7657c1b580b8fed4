//! [`LedgerHistory`] over the fake ledger.

use super::{FakeLedger, lock};
use crate::ids::RepositoryName;
use crate::ports::{EnvironmentRecord, LedgerHistory, PortResult, PrRecord};
use crate::release::ReleaseRecord;

impl LedgerHistory for FakeLedger {
    async fn pull_requests(&self, repository: &RepositoryName) -> PortResult<Vec<PrRecord>> {
        self.calls.call("dynamodb:Scan").await?;
        Ok(lock(&self.records)
            .iter()
            .filter(|((r, _), _)| r == repository)
            .map(|(_, v)| v.clone())
            .collect())
    }

    async fn environments(
        &self,
        repository: &RepositoryName,
    ) -> PortResult<Vec<EnvironmentRecord>> {
        self.calls.call("dynamodb:Scan").await?;
        Ok(lock(&self.environments)
            .iter()
            .filter(|((r, _), _)| r == repository)
            .map(|(_, v)| v.clone())
            .collect())
    }

    async fn releases(&self, repository: &RepositoryName) -> PortResult<Vec<ReleaseRecord>> {
        self.calls.call("dynamodb:Scan").await?;
        Ok(lock(&self.releases)
            .iter()
            .filter(|((r, _), _)| r == repository)
            .map(|(_, v)| v.clone())
            .collect())
    }
}
