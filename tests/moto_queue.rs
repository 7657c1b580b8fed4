//! The DynamoDB merge queues over HTTP against moto: saves and loads round-trip, entry items
//! follow the queue, a stale save loses, and of concurrent savers from one version exactly
//! one wins.
//!
//! Each test starts its own moto server (`tests/support/moto.rs`, one request at a time so a
//! conditional write is atomic as on AWS); without moto they fail under `CI` and are skipped
//! with a notice otherwise. Install it with `scripts/install-moto.sh`.

// Not every helper of the shared support module is used here.
#[allow(dead_code)]
#[path = "support/moto.rs"]
mod moto_server;

use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_sdk_dynamodb::types::{
    AttributeDefinition, AttributeValue, BillingMode, KeySchemaElement, KeyType,
    ScalarAttributeType,
};
use aws_sdk_sfn::config::Credentials;
use codecommit_gate::aws::{AwsMergeQueues, Clients, retry_config};
use codecommit_gate::ids::RepositoryName;
use codecommit_gate::ports::Written;
use codecommit_gate::ports::merges::{MergeQueues, StoredQueue};
use moto_server::MotoServer;
use serde::{Deserialize, Serialize};

const TABLE: &str = "codecommit-gate-ledger";

/// A stand-in for the queue core's entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Entry {
    pr: String,
    state: String,
}

fn entry(pr: &str, state: &str) -> Entry {
    Entry {
        pr: pr.into(),
        state: state.into(),
    }
}

async fn sdk_config(moto: &MotoServer) -> SdkConfig {
    aws_config::defaults(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .credentials_provider(Credentials::new("testing", "testing", None, None, "moto"))
        .endpoint_url(moto.endpoint())
        .retry_config(retry_config())
        .load()
        .await
}

async fn create_table(clients: &Clients) {
    clients
        .dynamodb
        .create_table()
        .table_name(TABLE)
        .attribute_definitions(
            AttributeDefinition::builder()
                .attribute_name("pk")
                .attribute_type(ScalarAttributeType::S)
                .build()
                .expect("attribute"),
        )
        .key_schema(
            KeySchemaElement::builder()
                .attribute_name("pk")
                .key_type(KeyType::Hash)
                .build()
                .expect("key"),
        )
        .billing_mode(BillingMode::PayPerRequest)
        .send()
        .await
        .expect("table");
}

/// Every key in the table, sorted.
async fn keys(clients: &Clients) -> Vec<String> {
    let output = clients
        .dynamodb
        .scan()
        .table_name(TABLE)
        .consistent_read(true)
        .send()
        .await
        .expect("scan");
    let mut keys: Vec<String> = output
        .items()
        .iter()
        .filter_map(|i| i.get("pk").and_then(|v| v.as_s().ok()).cloned())
        .collect();
    keys.sort();
    keys
}

/// The `version` attribute of `main`'s head as stored.
async fn raw_version(clients: &Clients) -> AttributeValue {
    let head = clients
        .dynamodb
        .get_item()
        .table_name(TABLE)
        .key("pk", AttributeValue::S("MyDemoRepo#queue#main".into()))
        .consistent_read(true)
        .send()
        .await
        .expect("raw head")
        .item
        .expect("head");
    head.get("version").cloned().expect("version")
}

fn repo() -> RepositoryName {
    RepositoryName::new("MyDemoRepo")
}

async fn load(queues: &AwsMergeQueues, destination: &str) -> StoredQueue<Entry> {
    queues.load(&repo(), destination).await.expect("load")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn saves_and_loads_round_trip_and_entry_items_follow_the_queue() {
    let Some(moto) = MotoServer::start() else {
        return;
    };
    let clients = Clients::from_config(&sdk_config(&moto).await, None).await;
    create_table(&clients).await;
    let queues = clients.merge_queues(TABLE);

    let mut queue = load(&queues, "main").await;
    assert_eq!((queue.entries.len(), queue.version), (0, 0));
    queue.entries = vec![entry("27", "testing"), entry("28", "queued")];
    assert_eq!(queues.save(&queue).await.expect("save"), Written::Written);
    assert_eq!(
        queues.save(&queue).await.expect("save"),
        Written::Conflict,
        "a second first write loses"
    );

    let mut stored = load(&queues, "main").await;
    assert_eq!(stored.version, 1);
    assert_eq!(stored.entries, queue.entries);
    assert_eq!(keys(&clients).await.len(), 3, "the head and two entries");

    // 27 merged and left; 28 is tested now; 29 joined behind it.
    let stale = stored.clone();
    stored.entries = vec![entry("28", "testing"), entry("29", "queued")];
    assert_eq!(queues.save(&stored).await.expect("save"), Written::Written);
    assert_eq!(
        queues.save(&stale).await.expect("save"),
        Written::Conflict,
        "a save from a stale version loses"
    );
    let latest = load(&queues, "main").await;
    assert_eq!(latest.version, 2);
    assert_eq!(latest.entries, stored.entries);
    let all = keys(&clients).await;
    assert_eq!(all.len(), 3, "the entries that left are deleted: {all:?}");
    assert!(all.contains(&"MyDemoRepo#queue#main".to_owned()), "{all:?}");

    // Another destination is another queue; emptying one keeps its head (and its version).
    let other = load(&queues, "release").await;
    assert_eq!((other.entries.len(), other.version), (0, 0));
    let mut empty = latest.clone();
    empty.entries.clear();
    assert_eq!(queues.save(&empty).await.expect("save"), Written::Written);
    assert_eq!(keys(&clients).await, ["MyDemoRepo#queue#main"]);
    let emptied = load(&queues, "main").await;
    assert_eq!((emptied.entries.len(), emptied.version), (0, 3));

    assert_eq!(raw_version(&clients).await, AttributeValue::N("3".into()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_savers_from_one_version_have_exactly_one_winner() {
    let Some(moto) = MotoServer::start() else {
        return;
    };
    let clients = Clients::from_config(&sdk_config(&moto).await, None).await;
    create_table(&clients).await;
    let queues = clients.merge_queues(TABLE);
    let mut first = load(&queues, "main").await;
    first.entries = vec![entry("27", "queued")];
    assert_eq!(queues.save(&first).await.expect("save"), Written::Written);
    let from = load(&queues, "main").await;

    let mut tasks = tokio::task::JoinSet::new();
    for writer in 0..10 {
        let queues = queues.clone();
        let mut queue = from.clone();
        queue
            .entries
            .push(entry(&format!("{}", 100 + writer), "queued"));
        tasks.spawn(async move { (queues.save(&queue).await.expect("save"), queue) });
    }
    let mut winners = Vec::new();
    while let Some(result) = tasks.join_next().await {
        let (written, queue) = result.expect("task");
        if written == Written::Written {
            winners.push(queue.entries);
        }
    }
    assert_eq!(winners.len(), 1, "exactly one winner: {winners:?}");
    let stored = load(&queues, "main").await;
    assert_eq!(stored.version, 2);
    assert_eq!(
        stored.entries, winners[0],
        "the winner's queue is the one stored"
    );
    assert_eq!(
        keys(&clients).await.len(),
        3,
        "no loser's entry was written"
    );
}
