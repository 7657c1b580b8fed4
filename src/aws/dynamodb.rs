//! [`Ledger`] over DynamoDB: one item per PR and per release environment, written with
//! optimistic concurrency on its `version`, and one item per release.
//!
//! Item layout (table key: `pk`, a string). A PR's item:
//!
//! | attribute    | type | value |
//! |--------------|------|-------|
//! | `pk`         | S    | `<repository>#<pull request id>` |
//! | `version`    | N    | the record's version; every write adds one |
//! | `record`     | S    | the [`PrRecord`] as JSON |
//! | `closed`     | BOOL | whether the PR is closed (for queries and clean-up) |
//! | `updated_at` | N    | when it was last written, in epoch seconds |
//!
//! An environment's item: `pk` = `<repository>#environment#<environment>`, `version`,
//! `record` (the [`EnvironmentRecord`]: the release lane and what is deployed), `updated_at`;
//! no `closed`, so the clean-up sweep's scan never reads it. A release's item: `pk` =
//! `<repository>#release#<release id>`, `record` (the [`ReleaseRecord`]), `environment`,
//! `started_at`, `updated_at`; written whole, unconditionally (a release id is written by
//! its own release only). A destination branch's coverage bases: `pk` =
//! `<repository>#coverage#<branch>` (the branch without `refs/heads/`), `version`, `record`
//! (the [`CoverageBases`]: per check, the line coverage of the newest passed run onto the
//! branch, its execution, commit and time; at most
//! [`crate::test_reports::MAX_COVERAGE_BASES`] checks), `updated_at`; written with the same
//! version condition as a PR's item. A repository's recorded passes of checks with
//! `reuse: true`: `pk` = `<repository>#reuse`, `version`, `record` (the [`LedgerPasses`],
//! newest first, at most [`crate::reuse::ledger::MAX_PASSES`]), `updated_at`; written with the
//! same version condition. One item per repository, so gate-start reads it together with the
//! PR's item, before it knows the destination branch.

mod history;
pub mod queue;

pub use queue::AwsMergeQueues;

use super::{permanent, port_error, service_err};
use crate::ids::{PullRequestId, RepositoryName};
use crate::ports::{EnvironmentRecord, Ledger, PortResult, PrRecord, Written};
use crate::release::ReleaseRecord;
use crate::reuse::ledger::LedgerPasses;
use crate::test_reports::{CoverageBases, branch_name};
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::operation::put_item::PutItemError;
use aws_sdk_dynamodb::types::AttributeValue;
use serde::de::DeserializeOwned;
use std::time::{SystemTime, UNIX_EPOCH};

const GET_ITEM: &str = "dynamodb:GetItem";
const PUT_ITEM: &str = "dynamodb:PutItem";
const SCAN: &str = "dynamodb:Scan";

/// The partition key attribute.
pub const PK: &str = "pk";
/// The version attribute.
pub const VERSION: &str = "version";
/// The record attribute (JSON).
pub const RECORD: &str = "record";
/// The closed flag attribute.
pub const CLOSED: &str = "closed";
/// The last-write time attribute.
pub const UPDATED_AT: &str = "updated_at";
/// A release item's environment attribute.
pub const ENVIRONMENT: &str = "environment";
/// A release item's start time attribute (RFC 3339).
pub const STARTED_AT: &str = "started_at";

/// The ledger in one DynamoDB table.
#[derive(Debug, Clone)]
pub struct AwsLedger {
    client: Client,
    table: String,
}

/// The partition key of an environment's item: `<repository>#environment#<environment>`
/// (repository names have no `#`, and PR ids are digits, so keys never meet).
pub fn environment_key(repository: &RepositoryName, environment: &str) -> String {
    format!("{}#environment#{environment}", repository.as_str())
}

/// The partition key of a release's item: `<repository>#release#<release id>`.
pub fn release_key(repository: &RepositoryName, id: &str) -> String {
    format!("{}#release#{id}", repository.as_str())
}

/// The partition key of a destination branch's coverage bases:
/// `<repository>#coverage#<branch>`, with the branch as [`branch_name`] gives it.
pub fn coverage_key(repository: &RepositoryName, branch: &str) -> String {
    format!("{}#coverage#{}", repository.as_str(), branch_name(branch))
}

/// The partition key of a repository's recorded passes: `<repository>#reuse` (a pull
/// request id is a number, so it never names this item).
pub fn reuse_key(repository: &RepositoryName) -> String {
    format!("{}#reuse", repository.as_str())
}

/// The partition key of a PR's item: `<repository>#<pull request id>`.
pub fn partition_key(repository: &RepositoryName, id: &PullRequestId) -> String {
    format!("{}#{}", repository.as_str(), id.as_str())
}

impl AwsLedger {
    /// Wraps a DynamoDB client for `table`.
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        Self {
            client,
            table: table.into(),
        }
    }

    /// The table's name.
    pub fn table(&self) -> &str {
        &self.table
    }
}

impl AwsLedger {
    /// `GetItem` (consistent) of the item `key`: its `record` JSON, with the `version`
    /// attribute (what the conditions test, so the truth) passed to `set_version`.
    async fn get_versioned<T: DeserializeOwned>(
        &self,
        key: String,
        set_version: impl FnOnce(&mut T, u64),
    ) -> PortResult<Option<T>> {
        let output = self
            .client
            .get_item()
            .table_name(&self.table)
            .key(PK, AttributeValue::S(key))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| port_error(GET_ITEM, e))?;
        let Some(item) = output.item() else {
            return Ok(None);
        };
        let json = item
            .get(RECORD)
            .and_then(|v| v.as_s().ok())
            .ok_or_else(|| permanent(GET_ITEM, "the item has no record string"))?;
        let mut record: T = serde_json::from_str(json)
            .map_err(|e| permanent(GET_ITEM, format!("the item's record is not valid: {e}")))?;
        if let Some(version) = item.get(VERSION) {
            let version = version
                .as_n()
                .ok()
                .and_then(|n| n.parse().ok())
                .ok_or_else(|| permanent(GET_ITEM, "the item's version is not a number"))?;
            set_version(&mut record, version);
        }
        Ok(Some(record))
    }

    /// `PutItem` of `record` (JSON, already at version `expected + 1`) as the item `key`,
    /// conditional on the stored version being `expected` (on no item when it is 0), with
    /// `extra` attributes; a failed condition is [`Written::Conflict`].
    async fn put_versioned(
        &self,
        key: String,
        expected: u64,
        record: String,
        extra: &[(&str, AttributeValue)],
    ) -> PortResult<Written> {
        let mut request = self
            .client
            .put_item()
            .table_name(&self.table)
            .item(PK, AttributeValue::S(key))
            .item(VERSION, AttributeValue::N((expected + 1).to_string()))
            .item(RECORD, AttributeValue::S(record));
        for (name, value) in extra {
            request = request.item(*name, value.clone());
        }
        let request = request.item(UPDATED_AT, AttributeValue::N(now().to_string()));
        let request = if expected == 0 {
            request.condition_expression(format!("attribute_not_exists({PK})"))
        } else {
            request
                .condition_expression("#v = :expected")
                .expression_attribute_names("#v", VERSION)
                .expression_attribute_values(":expected", AttributeValue::N(expected.to_string()))
        };
        match request.send().await {
            Ok(_) => Ok(Written::Written),
            Err(e)
                if matches!(
                    service_err(&e),
                    Some(PutItemError::ConditionalCheckFailedException(_))
                ) =>
            {
                Ok(Written::Conflict)
            }
            Err(e) => Err(port_error(PUT_ITEM, e)),
        }
    }
}

/// Now, in epoch seconds.
fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// A record as the JSON an item stores.
fn to_json<T: serde::Serialize>(record: &T) -> PortResult<String> {
    serde_json::to_string(record)
        .map_err(|e| permanent(PUT_ITEM, format!("cannot serialize the record: {e}")))
}

impl Ledger for AwsLedger {
    async fn get(
        &self,
        repository: &RepositoryName,
        id: &PullRequestId,
    ) -> PortResult<Option<PrRecord>> {
        self.get_versioned(partition_key(repository, id), |r: &mut PrRecord, v| {
            r.version = v;
        })
        .await
    }

    async fn put(&self, record: &PrRecord) -> PortResult<Written> {
        let stored = PrRecord {
            version: record.version + 1,
            ..record.clone()
        };
        self.put_versioned(
            partition_key(&record.repository, &record.pull_request_id),
            record.version,
            to_json(&stored)?,
            &[(CLOSED, AttributeValue::Bool(record.closed))],
        )
        .await
    }

    async fn environment(
        &self,
        repository: &RepositoryName,
        environment: &str,
    ) -> PortResult<Option<EnvironmentRecord>> {
        self.get_versioned(
            environment_key(repository, environment),
            |r: &mut EnvironmentRecord, v| r.version = v,
        )
        .await
    }

    async fn put_environment(&self, record: &EnvironmentRecord) -> PortResult<Written> {
        let stored = EnvironmentRecord {
            version: record.version + 1,
            ..record.clone()
        };
        self.put_versioned(
            environment_key(&record.repository, &record.environment),
            record.version,
            to_json(&stored)?,
            &[],
        )
        .await
    }

    async fn put_release(
        &self,
        repository: &RepositoryName,
        record: &ReleaseRecord,
    ) -> PortResult<()> {
        self.client
            .put_item()
            .table_name(&self.table)
            .item(PK, AttributeValue::S(release_key(repository, &record.id)))
            .item(RECORD, AttributeValue::S(to_json(record)?))
            .item(
                ENVIRONMENT,
                AttributeValue::S(record.plan.environment.clone()),
            )
            .item(STARTED_AT, AttributeValue::S(record.started_at.clone()))
            .item(UPDATED_AT, AttributeValue::N(now().to_string()))
            .send()
            .await
            .map_err(|e| port_error(PUT_ITEM, e))?;
        Ok(())
    }

    async fn coverage_bases(
        &self,
        repository: &RepositoryName,
        branch: &str,
    ) -> PortResult<CoverageBases> {
        let stored = self
            .get_versioned(
                coverage_key(repository, branch),
                |r: &mut CoverageBases, v| r.version = v,
            )
            .await?;
        Ok(stored.unwrap_or_else(|| CoverageBases::empty(branch)))
    }

    async fn put_coverage_bases(
        &self,
        repository: &RepositoryName,
        record: &CoverageBases,
    ) -> PortResult<Written> {
        let stored = record.written();
        self.put_versioned(
            coverage_key(repository, &record.branch),
            record.version,
            to_json(&stored)?,
            &[],
        )
        .await
    }

    async fn reuse_passes(&self, repository: &RepositoryName) -> PortResult<LedgerPasses> {
        let stored = self
            .get_versioned(reuse_key(repository), |r: &mut LedgerPasses, v| {
                r.version = v
            })
            .await?;
        Ok(stored.unwrap_or_default())
    }

    async fn put_reuse_passes(
        &self,
        repository: &RepositoryName,
        record: &LedgerPasses,
    ) -> PortResult<Written> {
        let stored = record.written();
        self.put_versioned(
            reuse_key(repository),
            record.version,
            to_json(&stored)?,
            &[],
        )
        .await
    }

    async fn open_records(&self) -> PortResult<Vec<PrRecord>> {
        // A scan of a small table (one item per pull request), every page; consistent, so a
        // record closed a moment ago is not swept again.
        let filter = history::Filter {
            expression: "#c = :open",
            names: &[("#c", "closed")],
            values: vec![(":open", AttributeValue::Bool(false))],
        };
        self.scan_records(filter, |r: &mut PrRecord, v| r.version = v)
            .await
    }
}
