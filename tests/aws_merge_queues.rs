//! The DynamoDB merge queues ([`AwsMergeQueues`]) against a mocked SDK client: keys, consistent
//! reads, the transaction a save sends (head conditional on the version read, entries put and
//! deleted with it), cancellation reasons, and the limits.
//!
//! Bodies are awsJson 1.0 as DynamoDB sends them (`Item`, `Responses`, `UnprocessedKeys`; a
//! `TransactionCanceledException` with its `CancellationReasons` as the DynamoDB API reference
//! shows it); rules run in `RuleMode::Sequential`, so a call the adapter should not make fails
//! the test.

use crate::queue_entry;

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsInput;
use aws_sdk_dynamodb::types::{AttributeValue, TransactWriteItem};
use aws_smithy_mocks::{Rule, RuleMode, mock, mock_client};
use codecommit_gate::aws::dynamodb::queue::{
    MAX_ENTRY_BYTES, MAX_QUEUE_ENTRIES, entry_digest, queue_entry_key, queue_key,
};
use codecommit_gate::aws::{AwsMergeQueues, retry_config};
use codecommit_gate::ids::RepositoryName;
use codecommit_gate::ports::merges::{MergeQueues, StoredQueue};
use codecommit_gate::ports::{PortError, Written};
use queue_entry::{Entry, entry};
use serde_json::{Value, json};

const TABLE: &str = "codecommit-gate-ledger";

fn json_of(e: &Entry) -> String {
    serde_json::to_string(e).expect("json")
}

fn digest(e: &Entry) -> String {
    entry_digest(&json_of(e))
}

fn queues(rules: &[&Rule]) -> AwsMergeQueues {
    let client: Client = mock_client!(aws_sdk_dynamodb, RuleMode::Sequential, rules, |c| c
        .retry_config(retry_config()));
    AwsMergeQueues::new(client, TABLE)
}

fn body(value: Value) -> Option<String> {
    Some(value.to_string())
}

fn repo() -> RepositoryName {
    RepositoryName::new("MyDemoRepo")
}

fn head_key() -> String {
    queue_key(&repo(), "main")
}

fn entry_key(e: &Entry) -> String {
    queue_entry_key(&repo(), "main", &digest(e))
}

/// `GetItem` of a head at `version` listing `entries`.
fn head_item(version: u64, entries: &[&Entry]) -> Value {
    let digests: Vec<String> = entries.iter().map(|e| digest(e)).collect();
    json!({
        "Item": {
            "pk": { "S": head_key() },
            "version": { "N": version.to_string() },
            "record": { "S": json!({ "entries": digests }).to_string() },
            "updated_at": { "N": "1767225600" }
        }
    })
}

/// `BatchGetItem` answering with `entries`' items.
fn batch(entries: &[&Entry]) -> Value {
    let items: Vec<Value> = entries
        .iter()
        .map(|e| json!({ "pk": { "S": entry_key(e) }, "record": { "S": json_of(e) } }))
        .collect();
    json!({ "Responses": { TABLE: items }, "UnprocessedKeys": {} })
}

/// A `TransactionCanceledException` with these reason codes, as DynamoDB sends it.
fn cancelled(codes: &[&str]) -> Option<String> {
    let reasons: Vec<Value> = codes
        .iter()
        .map(|c| match *c {
            "None" => json!({ "Code": "None" }),
            "ConditionalCheckFailed" => {
                json!({ "Code": c, "Message": "The conditional request failed" })
            }
            _ => json!({ "Code": c, "Message": format!("{c} (mocked)") }),
        })
        .collect();
    body(json!({
        "__type": "com.amazonaws.dynamodb.v20120810#TransactionCanceledException",
        "message": format!(
            "Transaction cancelled, please refer cancellation reasons for specific reasons [{}]",
            codes.join(", ")
        ),
        "CancellationReasons": reasons
    }))
}

fn get_head(response: Value) -> Rule {
    mock!(Client::get_item)
        .match_requests(|r| {
            r.table_name() == Some(TABLE)
                && r.consistent_read() == Some(true)
                && r.key().and_then(|k| k.get("pk")) == Some(&AttributeValue::S(head_key()))
        })
        .sequence()
        .http_status(200, body(response))
        .build()
}

fn s<'a>(item: &'a std::collections::HashMap<String, AttributeValue>, key: &str) -> &'a str {
    item.get(key)
        .and_then(|v| v.as_s().ok())
        .map_or("", String::as_str)
}

/// The keys put and deleted by a transaction, after its first action (the head).
fn puts_and_deletes(items: &[TransactWriteItem]) -> (Vec<String>, Vec<String>) {
    let puts = items[1..]
        .iter()
        .filter_map(|i| i.put())
        .map(|p| s(p.item(), "pk").to_owned())
        .collect();
    let deletes = items[1..]
        .iter()
        .filter_map(|i| i.delete())
        .map(|d| s(d.key(), "pk").to_owned())
        .collect();
    (puts, deletes)
}

fn queue(version: u64, entries: Vec<Entry>) -> StoredQueue<Entry> {
    StoredQueue {
        repository: repo(),
        destination: "main".into(),
        entries,
        version,
    }
}

#[test]
fn keys_name_the_repository_the_destination_and_the_entry_digest() {
    assert_eq!(head_key(), "MyDemoRepo#queue#main");
    let e = entry("27", "queued");
    let key = entry_key(&e);
    assert!(key.starts_with("MyDemoRepo#queue-entry#main#"), "{key}");
    assert_eq!(digest(&e).len(), 64);
    assert_ne!(digest(&e), digest(&entry("27", "testing")));
}

#[tokio::test]
async fn a_queue_never_written_is_empty_at_version_zero() {
    let head = get_head(json!({}));
    let loaded: StoredQueue<Entry> = queues(&[&head]).load(&repo(), "main").await.expect("load");
    assert_eq!(loaded, queue(0, vec![]));
    assert_eq!(head.num_calls(), 1);
}

#[tokio::test]
async fn load_reads_the_head_then_its_entries_consistently_in_order() {
    let (a, b) = (entry("27", "testing"), entry("28", "queued"));
    let head = get_head(head_item(5, &[&a, &b, &a]));
    let wanted = [entry_key(&a), entry_key(&b)];
    let entries = mock!(Client::batch_get_item)
        .match_requests(move |r| {
            let Some(asked) = r.request_items().and_then(|m| m.get(TABLE)) else {
                return false;
            };
            let keys: Vec<&str> = asked.keys().iter().map(|k| s(k, "pk")).collect();
            asked.consistent_read() == Some(true)
                && keys == [wanted[0].as_str(), wanted[1].as_str()]
        })
        .sequence()
        .http_status(200, body(batch(&[&b, &a])))
        .build();
    let loaded: StoredQueue<Entry> = queues(&[&head, &entries])
        .load(&repo(), "main")
        .await
        .expect("load");
    assert_eq!(loaded, queue(5, vec![a.clone(), b, a]));
    assert_eq!(entries.num_calls(), 1, "each entry read once");
}

#[tokio::test]
async fn a_load_that_raced_a_save_reads_again() {
    let (a, b) = (entry("27", "testing"), entry("28", "queued"));
    // The first head names `a`, whose item a save deleted before the entries were read.
    let old_head = get_head(head_item(5, &[&a]));
    let none = mock!(Client::batch_get_item)
        .sequence()
        .http_status(200, body(batch(&[])))
        .build();
    let new_head = get_head(head_item(6, &[&b]));
    let found = mock!(Client::batch_get_item)
        .sequence()
        .http_status(200, body(batch(&[&b])))
        .build();
    let loaded: StoredQueue<Entry> = queues(&[&old_head, &none, &new_head, &found])
        .load(&repo(), "main")
        .await
        .expect("load");
    assert_eq!(loaded, queue(6, vec![b]));
}

#[tokio::test]
async fn unprocessed_keys_are_asked_again() {
    let (a, b) = (entry("27", "testing"), entry("28", "queued"));
    let head = get_head(head_item(2, &[&a, &b]));
    let partial = mock!(Client::batch_get_item)
        .sequence()
        .http_status(
            200,
            body(json!({
                "Responses": { TABLE: [ { "pk": { "S": entry_key(&a) }, "record": { "S": json_of(&a) } } ] },
                "UnprocessedKeys": { TABLE: { "Keys": [ { "pk": { "S": entry_key(&b) } } ], "ConsistentRead": true } }
            })),
        )
        .build();
    let wanted = entry_key(&b);
    let rest = mock!(Client::batch_get_item)
        .match_requests(move |r| {
            r.request_items()
                .and_then(|m| m.get(TABLE))
                .is_some_and(|k| k.keys().len() == 1 && s(&k.keys()[0], "pk") == wanted)
        })
        .sequence()
        .http_status(200, body(batch(&[&b])))
        .build();
    let loaded: StoredQueue<Entry> = queues(&[&head, &partial, &rest])
        .load(&repo(), "main")
        .await
        .expect("load");
    assert_eq!(loaded, queue(2, vec![a, b]));
}

/// The head's `Put` in a transaction: (version written, condition, values).
fn head_put(r: &TransactWriteItemsInput) -> (String, String, Option<String>, Vec<String>) {
    let put = r.transact_items()[0].put().expect("the head is put first");
    let record: Value = serde_json::from_str(s(put.item(), "record")).expect("head record");
    let digests = record["entries"]
        .as_array()
        .expect("entries")
        .iter()
        .map(|d| d.as_str().expect("digest").to_owned())
        .collect();
    (
        put.item()
            .get("version")
            .and_then(|v| v.as_n().ok())
            .cloned()
            .unwrap_or_default(),
        put.condition_expression().unwrap_or_default().to_owned(),
        put.expression_attribute_values()
            .and_then(|v| v.get(":expected"))
            .and_then(|v| v.as_n().ok())
            .cloned(),
        digests,
    )
}

#[tokio::test]
async fn the_first_save_creates_the_head_only_if_absent_with_its_entries() {
    let (a, b) = (entry("27", "queued"), entry("28", "queued"));
    let head = get_head(json!({}));
    let (da, db) = (digest(&a), digest(&b));
    let (ka, kb) = (entry_key(&a), entry_key(&b));
    let write = mock!(Client::transact_write_items)
        .match_requests(move |r| {
            let (version, condition, expected, digests) = head_put(r);
            let (puts, deletes) = puts_and_deletes(r.transact_items());
            s(r.transact_items()[0].put().expect("put").item(), "pk") == "MyDemoRepo#queue#main"
                && version == "1"
                && condition == "attribute_not_exists(pk)"
                && expected.is_none()
                && digests == [da.clone(), db.clone()]
                && puts == [ka.clone(), kb.clone()]
                && deletes.is_empty()
        })
        .sequence()
        .http_status(200, body(json!({})))
        .build();
    let written = queues(&[&head, &write])
        .save(&queue(0, vec![a, b]))
        .await
        .expect("save");
    assert_eq!(written, Written::Written);
    assert_eq!(write.num_calls(), 1);
}

#[tokio::test]
async fn a_save_puts_new_entries_deletes_gone_ones_and_keeps_the_rest() {
    let (a, b, c) = (
        entry("27", "testing"),
        entry("28", "queued"),
        entry("29", "queued"),
    );
    let head = get_head(head_item(3, &[&a, &b]));
    let (kc, ka) = (entry_key(&c), entry_key(&a));
    let order = vec![digest(&b), digest(&c), digest(&c)];
    let write = mock!(Client::transact_write_items)
        .match_requests(move |r| {
            let (version, condition, expected, digests) = head_put(r);
            let (puts, deletes) = puts_and_deletes(r.transact_items());
            version == "4"
                && condition == "#v = :expected"
                && expected.as_deref() == Some("3")
                && digests == order
                && puts == [kc.clone()]
                && deletes == [ka.clone()]
                && r.transact_items().len() == 3
        })
        .sequence()
        .http_status(200, body(json!({})))
        .build();
    let written = queues(&[&head, &write])
        .save(&queue(3, vec![b, c.clone(), c]))
        .await
        .expect("save");
    assert_eq!(written, Written::Written);
}

/// A save of one new entry over a head at `version` (no entries), whose transaction DynamoDB
/// answers with `status` and `response`.
async fn save_answered(
    version: u64,
    status: u16,
    response: Option<String>,
) -> Result<Written, PortError> {
    let head = get_head(head_item(version, &[]));
    let write = mock!(Client::transact_write_items)
        .sequence()
        .http_status(status, response)
        .build();
    let result = queues(&[&head, &write])
        .save(&queue(version, vec![entry("28", "queued")]))
        .await;
    assert_eq!(write.num_calls(), 1);
    result
}

#[tokio::test]
async fn a_save_from_a_stale_version_is_a_conflict_without_a_write() {
    let a = entry("27", "testing");
    let head = get_head(head_item(4, &[&a]));
    // No TransactWriteItems rule: sending one would fail the test.
    let written = queues(&[&head])
        .save(&queue(3, vec![]))
        .await
        .expect("answer");
    assert_eq!(written, Written::Conflict);
}

#[tokio::test]
async fn a_failed_head_condition_in_the_transaction_is_a_conflict() {
    let written = save_answered(3, 400, cancelled(&["ConditionalCheckFailed", "None"])).await;
    assert_eq!(written.expect("answer"), Written::Conflict);
}

#[tokio::test]
async fn reasons_named_only_in_the_message_are_read_from_it() {
    let response = body(json!({
        "__type": "com.amazonaws.dynamodb.v20120810#TransactionCanceledException",
        "message": "Transaction cancelled, please refer cancellation reasons for specific reasons [ConditionalCheckFailed, None]"
    }));
    let written = save_answered(3, 400, response).await;
    assert_eq!(written.expect("answer"), Written::Conflict);
}

#[tokio::test]
async fn other_cancellation_reasons_are_errors() {
    let cases: [(&[&str], &str); 3] = [
        (&["None", "ValidationError"], "GatePermanentError"),
        (&["TransactionConflict", "None"], "GateTransientError"),
        (
            &["None", "ItemCollectionSizeLimitExceeded"],
            "GatePermanentError",
        ),
    ];
    for (codes, kind) in cases {
        let err = save_answered(0, 400, cancelled(codes))
            .await
            .expect_err("cancelled");
        assert_eq!(err.call(), "dynamodb:TransactWriteItems", "{codes:?}");
        assert_eq!(err.error_type(), kind, "{codes:?}: {err}");
        let reason = codes.iter().find(|c| **c != "None").expect("a reason");
        assert!(err.to_string().contains(reason), "{err}");
    }
}

#[tokio::test]
async fn a_queue_beyond_the_limits_is_refused_before_any_call() {
    let long: Vec<Entry> = (0..=MAX_QUEUE_ENTRIES)
        .map(|i| entry(&i.to_string(), "queued"))
        .collect();
    let err = queues(&[])
        .save(&queue(1, long))
        .await
        .expect_err("too long");
    assert!(matches!(err, PortError::Permanent { .. }), "{err:?}");
    assert!(err.to_string().contains("at most 49 entries"), "{err}");

    let big = entry("27", &"x".repeat(MAX_ENTRY_BYTES));
    let err = queues(&[])
        .save(&queue(1, vec![big]))
        .await
        .expect_err("too big");
    assert!(err.to_string().contains("bytes of JSON"), "{err}");
}
