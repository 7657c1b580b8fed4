//! [`Ledger`] over DynamoDB: one item per PR, written with optimistic concurrency on its `version`.
//!
//! Item layout (table key: `pk`, a string):
//!
//! | attribute    | type | value |
//! |--------------|------|-------|
//! | `pk`         | S    | `<repository>#<pull request id>` |
//! | `version`    | N    | the record's version; every write adds one |
//! | `record`     | S    | the [`PrRecord`] as JSON |
//! | `closed`     | BOOL | whether the PR is closed (for queries and clean-up) |
//! | `updated_at` | N    | when it was last written, in epoch seconds |

use super::{permanent, port_error, service_err};
use crate::ids::{PullRequestId, RepositoryName};
use crate::ports::{Ledger, PortResult, PrRecord, Written};
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::operation::put_item::PutItemError;
use aws_sdk_dynamodb::types::AttributeValue;
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

/// The ledger in one DynamoDB table.
#[derive(Debug, Clone)]
pub struct AwsLedger {
    client: Client,
    table: String,
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

impl Ledger for AwsLedger {
    async fn get(
        &self,
        repository: &RepositoryName,
        id: &PullRequestId,
    ) -> PortResult<Option<PrRecord>> {
        let output = self
            .client
            .get_item()
            .table_name(&self.table)
            .key(PK, AttributeValue::S(partition_key(repository, id)))
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
        let mut record: PrRecord = serde_json::from_str(json)
            .map_err(|e| permanent(GET_ITEM, format!("the item's record is not valid: {e}")))?;
        // The `version` attribute is what the conditions test, so it is the truth.
        if let Some(version) = item.get(VERSION) {
            record.version = version
                .as_n()
                .ok()
                .and_then(|n| n.parse().ok())
                .ok_or_else(|| permanent(GET_ITEM, "the item's version is not a number"))?;
        }
        Ok(Some(record))
    }

    async fn put(&self, record: &PrRecord) -> PortResult<Written> {
        let expected = record.version;
        let stored = PrRecord {
            version: expected + 1,
            ..record.clone()
        };
        let json = serde_json::to_string(&stored)
            .map_err(|e| permanent(PUT_ITEM, format!("cannot serialize the record: {e}")))?;
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let request = self
            .client
            .put_item()
            .table_name(&self.table)
            .item(
                PK,
                AttributeValue::S(partition_key(&record.repository, &record.pull_request_id)),
            )
            .item(VERSION, AttributeValue::N(stored.version.to_string()))
            .item(RECORD, AttributeValue::S(json))
            .item(CLOSED, AttributeValue::Bool(record.closed))
            .item(UPDATED_AT, AttributeValue::N(now.to_string()));
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

    async fn open_records(&self) -> PortResult<Vec<PrRecord>> {
        // A scan of a small table (one item per pull request), every page; consistent, so a
        // record closed a moment ago is not swept again.
        let mut records = Vec::new();
        let mut start = None;
        loop {
            let output = self
                .client
                .scan()
                .table_name(&self.table)
                .filter_expression("#c = :open")
                .expression_attribute_names("#c", "closed")
                .expression_attribute_values(":open", AttributeValue::Bool(false))
                .consistent_read(true)
                .set_exclusive_start_key(start)
                .send()
                .await
                .map_err(|e| port_error(SCAN, e))?;
            for item in output.items() {
                let Some(json) = item.get(RECORD).and_then(|v| v.as_s().ok()) else {
                    continue;
                };
                let mut record: PrRecord = serde_json::from_str(json)
                    .map_err(|e| permanent(SCAN, format!("an item's record is not valid: {e}")))?;
                if let Some(v) = item
                    .get(VERSION)
                    .and_then(|v| v.as_n().ok())
                    .and_then(|n| n.parse().ok())
                {
                    record.version = v;
                }
                records.push(record);
            }
            match output.last_evaluated_key() {
                Some(key) if !key.is_empty() => start = Some(key.clone()),
                _ => return Ok(records),
            }
        }
    }
}
