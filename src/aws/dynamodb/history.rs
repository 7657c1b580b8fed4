//! [`LedgerHistory`] over DynamoDB, and the paged scan the clean-up sweep shares.
//!
//! The table's only key is `pk` (`<repository>#…`), so one repository's items are found by a
//! scan filtered on the key's prefix: every page is read (and paid for: a scan reads the whole
//! table, about 1 read unit per 4 KB), which suits a person's occasional `gate history
//! --remote`, not a hot path.

use super::{AwsLedger, PK, RECORD, SCAN, VERSION};
use crate::aws::{permanent, port_error};
use crate::ids::RepositoryName;
use crate::ports::{EnvironmentRecord, LedgerHistory, PortResult, PrRecord};
use crate::release::ReleaseRecord;
use aws_sdk_dynamodb::types::AttributeValue;
use serde::de::DeserializeOwned;

/// A scan's filter: the expression and its placeholders.
pub(super) struct Filter<'a> {
    /// The `FilterExpression`.
    pub expression: &'a str,
    /// `#name` placeholders.
    pub names: &'a [(&'a str, &'a str)],
    /// `:value` placeholders.
    pub values: Vec<(&'a str, AttributeValue)>,
}

impl AwsLedger {
    /// Every item matching `filter`, page after page (consistent reads), as its `record` JSON
    /// with the `version` attribute passed to `set_version`. Items without a record string are
    /// skipped; a record that does not parse is an error (the table is the gate's own).
    pub(super) async fn scan_records<T: DeserializeOwned>(
        &self,
        filter: Filter<'_>,
        set_version: impl Fn(&mut T, u64),
    ) -> PortResult<Vec<T>> {
        let mut records = Vec::new();
        let mut start = None;
        loop {
            let mut request = self
                .client
                .scan()
                .table_name(&self.table)
                .filter_expression(filter.expression)
                .consistent_read(true)
                .set_exclusive_start_key(start);
            for (name, attribute) in filter.names {
                request = request.expression_attribute_names(*name, *attribute);
            }
            for (name, value) in &filter.values {
                request = request.expression_attribute_values(*name, value.clone());
            }
            let output = request.send().await.map_err(|e| port_error(SCAN, e))?;
            for item in output.items() {
                let Some(json) = item.get(RECORD).and_then(|v| v.as_s().ok()) else {
                    continue;
                };
                let mut record: T = serde_json::from_str(json)
                    .map_err(|e| permanent(SCAN, format!("an item's record is not valid: {e}")))?;
                if let Some(v) = item
                    .get(VERSION)
                    .and_then(|v| v.as_n().ok())
                    .and_then(|n| n.parse().ok())
                {
                    set_version(&mut record, v);
                }
                records.push(record);
            }
            match output.last_evaluated_key() {
                Some(key) if !key.is_empty() => start = Some(key.clone()),
                _ => return Ok(records),
            }
        }
    }

    /// Every item whose key starts with `prefix`, with `extra` added to the filter.
    async fn scan_prefix<T: DeserializeOwned>(
        &self,
        prefix: String,
        extra: &str,
        set_version: impl Fn(&mut T, u64),
    ) -> PortResult<Vec<T>> {
        let expression = format!("begins_with(#k, :prefix){extra}");
        let filter = Filter {
            expression: &expression,
            names: &[("#k", PK)],
            values: vec![(":prefix", AttributeValue::S(prefix))],
        };
        self.scan_records(filter, set_version).await
    }
}

impl LedgerHistory for AwsLedger {
    async fn pull_requests(&self, repository: &RepositoryName) -> PortResult<Vec<PrRecord>> {
        // A pull request's item is the only kind with a `closed` attribute.
        let prefix = format!("{}#", repository.as_str());
        self.scan_prefix(
            prefix,
            " AND attribute_exists(closed)",
            |r: &mut PrRecord, v| r.version = v,
        )
        .await
    }

    async fn environments(
        &self,
        repository: &RepositoryName,
    ) -> PortResult<Vec<EnvironmentRecord>> {
        let prefix = format!("{}#environment#", repository.as_str());
        self.scan_prefix(prefix, "", |r: &mut EnvironmentRecord, v| r.version = v)
            .await
    }

    async fn releases(&self, repository: &RepositoryName) -> PortResult<Vec<ReleaseRecord>> {
        let prefix = format!("{}#release#", repository.as_str());
        self.scan_prefix(prefix, "", |_: &mut ReleaseRecord, _| {})
            .await
    }
}
