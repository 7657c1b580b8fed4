//! [`MergeQueues`] over DynamoDB, in the ledger's table: one item per queue (its head) and one
//! item per entry, changed only by a transaction conditional on the head's version.
//!
//! | item | `pk` | attributes |
//! |------|------|------------|
//! | head | `<repository>#queue#<destination>` | `version` (N), `record` (S: `{"entries":[digest…]}`, the queue's order), `updated_at` |
//! | entry | `<repository>#queue-entry#<destination>#<digest>` | `record` (S: the entry as JSON), `updated_at` |
//!
//! An entry's item is named by the SHA-256 of its JSON (lowercase hex, 64 characters): the
//! adapter never looks inside an entry, and an item's content never changes under its name.
//! A save reads the head (consistently), and if its version is still the one the caller read,
//! writes in one `TransactWriteItems`: the head at the next version, conditional on the
//! version read (`attribute_not_exists(pk)` for a queue never written), a `Put` for every
//! entry that is new and a `Delete` for every entry that left. A lost condition cancels the
//! whole transaction: [`Written::Conflict`], nothing written. A load reads the head
//! (`GetItem`, consistent) and its entries (`BatchGetItem`, consistent); since entry items are
//! content-named, a load that finds them all has exactly the head's entries, and one that
//! misses some raced a save and reads again.
//!
//! Limits (DynamoDB): a transaction holds at most 100 actions and 4 MB; an item at most
//! 400 KB. A save of a whole new queue is 2 × entries + 1 actions, so a queue holds at most
//! [`MAX_QUEUE_ENTRIES`] (49) entries, each at most [`MAX_ENTRY_BYTES`] of JSON
//! (49 × 64 KiB ≈ 3.1 MiB); a save beyond either is a permanent error, sent nowhere.
//! Keys: repository names have no `#`, and the digest has a fixed length at the end, so keys
//! of different queues, entries and the ledger's other items never meet; the ledger's sweeps
//! read neither kind (no `closed` attribute).

use super::{AwsLedger, PK, RECORD, UPDATED_AT, VERSION, now};
use crate::aws::{is_transient_code, permanent, port_error, service_err};
use crate::ids::RepositoryName;
use crate::ports::merges::{MergeQueues, StoredQueue};
use crate::ports::{PortError, PortResult, Written};
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::{AttributeValue, Delete, KeysAndAttributes, Put, TransactWriteItem};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::{BTreeSet, HashMap};

const BATCH_GET_ITEM: &str = "dynamodb:BatchGetItem";
const TRANSACT_WRITE_ITEMS: &str = "dynamodb:TransactWriteItems";

/// The most entries one queue holds: a save that replaces them all (a `Delete` and a `Put`
/// each, and the head) stays within `TransactWriteItems`' 100 actions.
pub const MAX_QUEUE_ENTRIES: usize = 49;
/// The most bytes of JSON one entry takes: [`MAX_QUEUE_ENTRIES`] of them stay within a
/// transaction's 4 MB (and each far within an item's 400 KB).
pub const MAX_ENTRY_BYTES: usize = 64 * 1024;
/// Keys per `BatchGetItem` (the API's limit).
const BATCH_KEYS: usize = 100;
/// The first wait before asking for unprocessed keys again (doubled each round).
const UNPROCESSED_BACKOFF: std::time::Duration = std::time::Duration::from_millis(50);
/// How many times a load reads again when a save raced it (entries gone between the head's
/// read and theirs), and how many `BatchGetItem` rounds it gives unprocessed keys.
const READ_ATTEMPTS: usize = 3;

/// The merge queues in the ledger's DynamoDB table.
#[derive(Debug, Clone)]
pub struct AwsMergeQueues {
    ledger: AwsLedger,
}

/// The head item's record: the entries' digests in the queue's order.
#[derive(Debug, Default, Serialize, Deserialize)]
struct Head {
    entries: Vec<String>,
    #[serde(skip)]
    version: u64,
}

/// The partition key of a queue's head: `<repository>#queue#<destination>`.
pub fn queue_key(repository: &RepositoryName, destination: &str) -> String {
    format!("{}#queue#{destination}", repository.as_str())
}

/// The partition key of a queue entry: `<repository>#queue-entry#<destination>#<digest>`.
pub fn queue_entry_key(repository: &RepositoryName, destination: &str, digest: &str) -> String {
    format!("{}#queue-entry#{destination}#{digest}", repository.as_str())
}

/// The name of an entry's item: the SHA-256 of its JSON, lowercase hex.
pub fn entry_digest(json: &str) -> String {
    Sha256::digest(json.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// A `{pk: key}` map.
fn key_of(key: String) -> HashMap<String, AttributeValue> {
    HashMap::from([(PK.to_owned(), AttributeValue::S(key))])
}

/// The unique values of `items`, in first-seen order.
fn unique(items: &[String]) -> Vec<&String> {
    let mut seen = BTreeSet::new();
    items.iter().filter(|d| seen.insert(d.as_str())).collect()
}

impl AwsMergeQueues {
    /// The queues in `table` (the ledger's).
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        Self {
            ledger: AwsLedger::new(client, table),
        }
    }

    /// The head of a queue, read consistently; an empty head at version 0 when there is none.
    async fn head(&self, repository: &RepositoryName, destination: &str) -> PortResult<Head> {
        let head = self
            .ledger
            .get_versioned(queue_key(repository, destination), |h: &mut Head, v| {
                h.version = v;
            })
            .await?;
        Ok(head.unwrap_or_default())
    }

    /// The `record` of each item of `keys` that exists (consistent `BatchGetItem`, every
    /// chunk, unprocessed keys asked again), by key.
    async fn records(&self, keys: Vec<String>) -> PortResult<HashMap<String, String>> {
        let mut found = HashMap::new();
        for chunk in keys.chunks(BATCH_KEYS) {
            let mut pending = KeysAndAttributes::builder()
                .set_keys(Some(chunk.iter().cloned().map(key_of).collect()))
                .consistent_read(true)
                .build()
                .map_err(|e| permanent(BATCH_GET_ITEM, e.to_string()))?;
            for round in 1.. {
                let output = self
                    .ledger
                    .client
                    .batch_get_item()
                    .request_items(&self.ledger.table, pending)
                    .send()
                    .await
                    .map_err(|e| port_error(BATCH_GET_ITEM, e))?;
                for item in output
                    .responses()
                    .and_then(|r| r.get(&self.ledger.table))
                    .into_iter()
                    .flatten()
                {
                    let key = item.get(PK).and_then(|v| v.as_s().ok());
                    let record = item.get(RECORD).and_then(|v| v.as_s().ok());
                    if let (Some(key), Some(record)) = (key, record) {
                        found.insert(key.clone(), record.clone());
                    }
                }
                match output
                    .unprocessed_keys()
                    .and_then(|u| u.get(&self.ledger.table))
                {
                    Some(left) if !left.keys().is_empty() && round < READ_ATTEMPTS => {
                        // "We strongly recommend that you use an exponential backoff
                        // algorithm" (BatchGetItem, API reference).
                        tokio::time::sleep(UNPROCESSED_BACKOFF * 2u32.pow(round as u32 - 1)).await;
                        pending = left.clone();
                    }
                    Some(left) if !left.keys().is_empty() => {
                        return Err(PortError::Transient {
                            call: BATCH_GET_ITEM,
                            message: format!(
                                "{} keys unprocessed after {round} rounds",
                                left.keys().len()
                            ),
                        });
                    }
                    _ => break,
                }
            }
        }
        Ok(found)
    }

    /// One attempt at a load: the head, then its entries; `None` when an entry is missing
    /// (a save replaced it after the head was read).
    async fn try_load<E: DeserializeOwned>(
        &self,
        repository: &RepositoryName,
        destination: &str,
    ) -> PortResult<Option<StoredQueue<E>>> {
        let head = self.head(repository, destination).await?;
        let keys = unique(&head.entries)
            .into_iter()
            .map(|d| queue_entry_key(repository, destination, d))
            .collect();
        let records = self.records(keys).await?;
        let mut entries = Vec::with_capacity(head.entries.len());
        for digest in &head.entries {
            let Some(json) = records.get(&queue_entry_key(repository, destination, digest)) else {
                return Ok(None);
            };
            entries.push(serde_json::from_str(json).map_err(|e| {
                permanent(BATCH_GET_ITEM, format!("a queue entry is not valid: {e}"))
            })?);
        }
        Ok(Some(StoredQueue {
            repository: repository.clone(),
            destination: destination.to_owned(),
            entries,
            version: head.version,
        }))
    }
}

/// The entries of a queue to save as (digest, JSON), checked against the limits.
fn entry_items<E: Serialize>(entries: &[E]) -> PortResult<Vec<(String, String)>> {
    if entries.len() > MAX_QUEUE_ENTRIES {
        return Err(permanent(
            TRANSACT_WRITE_ITEMS,
            format!(
                "a merge queue holds at most {MAX_QUEUE_ENTRIES} entries, not {}",
                entries.len()
            ),
        ));
    }
    entries
        .iter()
        .map(|entry| {
            let json = serde_json::to_string(entry).map_err(|e| {
                permanent(
                    TRANSACT_WRITE_ITEMS,
                    format!("cannot serialize an entry: {e}"),
                )
            })?;
            if json.len() > MAX_ENTRY_BYTES {
                return Err(permanent(
                    TRANSACT_WRITE_ITEMS,
                    format!(
                        "a queue entry takes {} bytes of JSON, more than {MAX_ENTRY_BYTES}",
                        json.len()
                    ),
                ));
            }
            Ok((entry_digest(&json), json))
        })
        .collect()
}

/// What a saved queue's transaction writes.
struct Change<'a> {
    repository: &'a RepositoryName,
    destination: &'a str,
    /// The version read (0: never written).
    expected: u64,
    /// The new entries as (digest, JSON), in order.
    entries: Vec<(String, String)>,
    /// The digests stored now.
    stored: Vec<String>,
}

impl Change<'_> {
    /// The head's `Put` at `expected + 1`, conditional on `expected`.
    fn head_put(&self, table: &str) -> PortResult<TransactWriteItem> {
        let head = Head {
            entries: self.entries.iter().map(|(d, _)| d.clone()).collect(),
            version: 0,
        };
        let record = serde_json::to_string(&head).map_err(|e| {
            permanent(
                TRANSACT_WRITE_ITEMS,
                format!("cannot serialize the head: {e}"),
            )
        })?;
        let put = Put::builder()
            .table_name(table)
            .item(
                PK,
                AttributeValue::S(queue_key(self.repository, self.destination)),
            )
            .item(VERSION, AttributeValue::N((self.expected + 1).to_string()))
            .item(RECORD, AttributeValue::S(record))
            .item(UPDATED_AT, AttributeValue::N(now().to_string()));
        let put = if self.expected == 0 {
            put.condition_expression(format!("attribute_not_exists({PK})"))
        } else {
            put.condition_expression("#v = :expected")
                .expression_attribute_names("#v", VERSION)
                .expression_attribute_values(
                    ":expected",
                    AttributeValue::N(self.expected.to_string()),
                )
        };
        let put = put
            .build()
            .map_err(|e| permanent(TRANSACT_WRITE_ITEMS, e.to_string()))?;
        Ok(TransactWriteItem::builder().put(put).build())
    }

    /// The head's `Put`, then a `Put` per new entry and a `Delete` per entry that left.
    fn actions(&self, table: &str) -> PortResult<Vec<TransactWriteItem>> {
        let stored: BTreeSet<&str> = self.stored.iter().map(String::as_str).collect();
        let kept: BTreeSet<&str> = self.entries.iter().map(|(d, _)| d.as_str()).collect();
        let mut actions = vec![self.head_put(table)?];
        let mut put = BTreeSet::new();
        for (digest, json) in &self.entries {
            if stored.contains(digest.as_str()) || !put.insert(digest.as_str()) {
                continue;
            }
            let item = Put::builder()
                .table_name(table)
                .item(
                    PK,
                    AttributeValue::S(queue_entry_key(self.repository, self.destination, digest)),
                )
                .item(RECORD, AttributeValue::S(json.clone()))
                .item(UPDATED_AT, AttributeValue::N(now().to_string()))
                .build()
                .map_err(|e| permanent(TRANSACT_WRITE_ITEMS, e.to_string()))?;
            actions.push(TransactWriteItem::builder().put(item).build());
        }
        for digest in stored.difference(&kept) {
            let item = Delete::builder()
                .table_name(table)
                .set_key(Some(key_of(queue_entry_key(
                    self.repository,
                    self.destination,
                    digest,
                ))))
                .build()
                .map_err(|e| permanent(TRANSACT_WRITE_ITEMS, e.to_string()))?;
            actions.push(TransactWriteItem::builder().delete(item).build());
        }
        Ok(actions)
    }
}

/// The reason codes a cancellation's message lists ("Transaction cancelled, please refer
/// cancellation reasons for specific reasons [ConditionalCheckFailed, None]"), for a response
/// without `CancellationReasons` (the API reference once documented them for Java only).
fn reasons_in_message(message: &str) -> Vec<String> {
    let Some((_, list)) = message.rsplit_once('[') else {
        return Vec::new();
    };
    list.split(']')
        .next()
        .unwrap_or_default()
        .split(',')
        .map(|c| c.trim().to_owned())
        .filter(|c| !c.is_empty())
        .collect()
}

/// A cancelled transaction as the port sees it: [`Written::Conflict`] when a condition failed
/// (only the head has one), a transient error when every reason is a conflict with another
/// transaction or throttling, a permanent one otherwise.
fn cancelled(reasons: &[String], message: String) -> PortResult<Written> {
    let real: Vec<&str> = reasons
        .iter()
        .map(String::as_str)
        .filter(|c| *c != "None")
        .collect();
    if real.contains(&"ConditionalCheckFailed") {
        return Ok(Written::Conflict);
    }
    let transient = !real.is_empty()
        && real.iter().all(|c| {
            matches!(*c, "TransactionConflict" | "ThrottlingError") || is_transient_code(c)
        });
    let message = format!("{message} (reasons: {})", real.join(", "));
    tracing::warn!(call = TRANSACT_WRITE_ITEMS, transient, error = %message, "AWS call failed");
    Err(if transient {
        PortError::Transient {
            call: TRANSACT_WRITE_ITEMS,
            message,
        }
    } else {
        PortError::Permanent {
            call: TRANSACT_WRITE_ITEMS,
            message,
        }
    })
}

impl<E> MergeQueues<E> for AwsMergeQueues
where
    E: Serialize + DeserializeOwned + Send + Sync,
{
    async fn load(
        &self,
        repository: &RepositoryName,
        destination: &str,
    ) -> PortResult<StoredQueue<E>> {
        for _ in 0..READ_ATTEMPTS {
            if let Some(queue) = self.try_load(repository, destination).await? {
                return Ok(queue);
            }
        }
        Err(PortError::Transient {
            call: BATCH_GET_ITEM,
            message: format!(
                "the queue of {destination} changed during each of {READ_ATTEMPTS} reads"
            ),
        })
    }

    async fn save(&self, queue: &StoredQueue<E>) -> PortResult<Written> {
        let entries = entry_items(&queue.entries)?;
        let head = self.head(&queue.repository, &queue.destination).await?;
        if head.version != queue.version {
            return Ok(Written::Conflict);
        }
        let change = Change {
            repository: &queue.repository,
            destination: &queue.destination,
            expected: queue.version,
            entries,
            stored: head.entries,
        };
        let result = self
            .ledger
            .client
            .transact_write_items()
            .set_transact_items(Some(change.actions(&self.ledger.table)?))
            .send()
            .await;
        match result {
            Ok(_) => Ok(Written::Written),
            Err(e) => match service_err(&e) {
                Some(TransactWriteItemsError::TransactionCanceledException(t)) => {
                    let mut reasons: Vec<String> = t
                        .cancellation_reasons()
                        .iter()
                        .map(|r| r.code().unwrap_or("None").to_owned())
                        .collect();
                    if reasons.is_empty() {
                        reasons = reasons_in_message(t.message().unwrap_or_default());
                    }
                    cancelled(&reasons, t.to_string())
                }
                _ => Err(port_error(TRANSACT_WRITE_ITEMS, e)),
            },
        }
    }
}
