//! The DynamoDB ledger against a mocked SDK client: key, consistent reads, conditional writes, error mapping.

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::operation::put_item::{PutItemError, PutItemInput};
use aws_sdk_dynamodb::types::AttributeValue;
use aws_sdk_dynamodb::types::error::ConditionalCheckFailedException;
use aws_smithy_mocks::{Rule, RuleMode, mock, mock_client};
use codecommit_gate::aws::dynamodb::partition_key;
use codecommit_gate::aws::{AwsLedger, retry_config};
use codecommit_gate::ids::{CommentId, PullRequestId, RepositoryName};
use codecommit_gate::ports::{Ledger, PortError, PrRecord, Written};
use serde_json::{Value, json};
use std::time::{SystemTime, UNIX_EPOCH};

const TABLE: &str = "codecommit-gate-ledger";

fn ledger(rules: &[&Rule]) -> AwsLedger {
    let client: Client = mock_client!(aws_sdk_dynamodb, RuleMode::Sequential, rules, |c| c
        .retry_config(retry_config()));
    AwsLedger::new(client, TABLE)
}

fn body(value: Value) -> Option<String> {
    Some(value.to_string())
}

/// An awsJson 1.0 error body as DynamoDB sends it (namespaced `__type`).
fn error(code: &str) -> Option<String> {
    body(json!({
        "__type": format!("com.amazonaws.dynamodb.v20120810#{code}"),
        "message": format!("{code} (mocked)")
    }))
}

fn repo() -> RepositoryName {
    RepositoryName::new("MyDemoRepo")
}

fn pr() -> PullRequestId {
    PullRequestId::new("27")
}

fn record(version: u64) -> PrRecord {
    PrRecord {
        version,
        comment_id: Some(CommentId::new("c-1")),
        environment: Some("gate-MyDemoRepo-27".into()),
        ..PrRecord::new(repo(), pr())
    }
}

fn s<'a>(item: &'a std::collections::HashMap<String, AttributeValue>, key: &str) -> &'a str {
    item.get(key)
        .and_then(|v| v.as_s().ok())
        .map_or("", String::as_str)
}

fn n(item: &std::collections::HashMap<String, AttributeValue>, key: &str) -> Option<u64> {
    item.get(key)
        .and_then(|v| v.as_n().ok())
        .and_then(|v| v.parse().ok())
}

#[test]
fn the_partition_key_is_repository_hash_id() {
    assert_eq!(partition_key(&repo(), &pr()), "MyDemoRepo#27");
}

#[tokio::test]
async fn get_reads_consistently_by_key_and_trusts_the_version_attribute() {
    let mut stored: Value = serde_json::to_value(record(2)).expect("json");
    stored["run"] = json!({
        "source_commit": "ca45e279EXAMPLE",
        "destination_commit": "2abfc6beEXAMPLE",
        "revision_id": "e47def21EXAMPLE",
        "attempt": 1,
        "execution_name": "gate-MyDemoRepo-pr27-ca45e279-1-0123456789",
        "execution_arn": null,
        "verdict": null
    });
    let rule = mock!(Client::get_item)
        .match_requests(|r| {
            r.table_name() == Some(TABLE)
                && r.consistent_read() == Some(true)
                && r.key().is_some_and(|k| {
                    k.len() == 1 && k.get("pk") == Some(&AttributeValue::S("MyDemoRepo#27".into()))
                })
        })
        .sequence()
        .http_status(
            200,
            body(json!({
                "Item": {
                    "pk": { "S": "MyDemoRepo#27" },
                    "version": { "N": "3" },
                    "record": { "S": stored.to_string() },
                    "closed": { "BOOL": false },
                    "updated_at": { "N": "1700000000" }
                }
            })),
        )
        .build();
    let got = ledger(&[&rule])
        .get(&repo(), &pr())
        .await
        .expect("get")
        .expect("found");
    assert_eq!(got.version, 3, "the version attribute wins over the JSON");
    assert_eq!(got.comment_id, Some(CommentId::new("c-1")));
    let run = got.run.expect("run");
    assert_eq!(run.attempt, 1);
    assert_eq!(run.execution_arn, None);
}

#[tokio::test]
async fn get_of_a_missing_item_is_none() {
    let rule = mock!(Client::get_item)
        .sequence()
        .http_status(200, body(json!({})))
        .build();
    assert_eq!(
        ledger(&[&rule]).get(&repo(), &pr()).await.expect("get"),
        None
    );
}

#[tokio::test]
async fn a_corrupt_item_is_permanent() {
    let rule = mock!(Client::get_item)
        .sequence()
        .http_status(
            200,
            body(json!({ "Item": { "pk": { "S": "MyDemoRepo#27" }, "version": { "N": "1" }, "record": { "S": "{not json" } } })),
        )
        .build();
    let err = ledger(&[&rule])
        .get(&repo(), &pr())
        .await
        .expect_err("corrupt");
    assert!(
        matches!(
            err,
            PortError::Permanent {
                call: "dynamodb:GetItem",
                ..
            }
        ),
        "{err:?}"
    );
}

fn common_item_checks(r: &PutItemInput, version: u64, closed: bool) -> bool {
    let Some(item) = r.item() else { return false };
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock")
        .as_secs();
    let json: PrRecord = serde_json::from_str(s(item, "record")).expect("record JSON");
    r.table_name() == Some(TABLE)
        && item.len() == 5
        && s(item, "pk") == "MyDemoRepo#27"
        && n(item, "version") == Some(version)
        && json.version == version
        && json.environment.as_deref() == Some("gate-MyDemoRepo-27")
        && json.closed == closed
        && item.get("closed") == Some(&AttributeValue::Bool(closed))
        && n(item, "updated_at").is_some_and(|t| t.abs_diff(now) < 600)
}

#[tokio::test]
async fn the_first_write_requires_that_no_item_exists() {
    let rule = mock!(Client::put_item)
        .match_requests(|r| {
            common_item_checks(r, 1, false)
                && r.condition_expression() == Some("attribute_not_exists(pk)")
                && r.expression_attribute_names().is_none()
                && r.expression_attribute_values().is_none()
        })
        .sequence()
        .http_status(200, body(json!({})))
        .build();
    assert_eq!(
        ledger(&[&rule]).put(&record(0)).await.expect("put"),
        Written::Written
    );
    assert_eq!(rule.num_calls(), 1);
}

#[tokio::test]
async fn later_writes_require_the_version_that_was_read() {
    let rule = mock!(Client::put_item)
        .match_requests(|r| {
            common_item_checks(r, 5, true)
                && r.condition_expression() == Some("#v = :expected")
                && r.expression_attribute_names().is_some_and(|names| {
                    names.len() == 1 && names.get("#v").map(String::as_str) == Some("version")
                })
                && r.expression_attribute_values().is_some_and(|values| {
                    values.len() == 1
                        && values.get(":expected") == Some(&AttributeValue::N("4".into()))
                })
        })
        .sequence()
        .http_status(200, body(json!({})))
        .build();
    let mut closed = record(4);
    closed.closed = true;
    assert_eq!(
        ledger(&[&rule]).put(&closed).await.expect("put"),
        Written::Written
    );
}

#[tokio::test]
async fn a_failed_condition_is_a_conflict() {
    let wire = mock!(Client::put_item)
        .sequence()
        .http_status(400, error("ConditionalCheckFailedException"))
        .build();
    let modelled = mock!(Client::put_item).then_error(|| {
        PutItemError::ConditionalCheckFailedException(
            ConditionalCheckFailedException::builder()
                .message("The conditional request failed")
                .build(),
        )
    });
    let ledger = ledger(&[&wire, &modelled]);
    assert_eq!(
        ledger.put(&record(4)).await.expect("put"),
        Written::Conflict
    );
    assert_eq!(
        ledger.put(&record(0)).await.expect("put"),
        Written::Conflict
    );
    assert_eq!(wire.num_calls(), 1, "not retried");
}

#[tokio::test(start_paused = true)]
async fn throughput_exceeded_is_retried_until_it_succeeds() {
    let rule = mock!(Client::put_item)
        .sequence()
        .http_status(400, error("ProvisionedThroughputExceededException"))
        .http_status(200, body(json!({})))
        .build();
    assert_eq!(
        ledger(&[&rule]).put(&record(1)).await.expect("put"),
        Written::Written
    );
    assert_eq!(rule.num_calls(), 2);
}

#[tokio::test(start_paused = true)]
async fn transient_and_permanent_failures_are_told_apart() {
    let server = mock!(Client::put_item)
        .sequence()
        .http_status(500, error("InternalServerError"))
        .times(3)
        .build();
    let conflict = mock!(Client::put_item)
        .sequence()
        .http_status(400, error("TransactionConflictException"))
        .build();
    let denied = mock!(Client::put_item)
        .sequence()
        .http_status(400, error("AccessDeniedException"))
        .build();
    let missing = mock!(Client::get_item)
        .sequence()
        .http_status(400, error("ResourceNotFoundException"))
        .build();
    let ledger = ledger(&[&server, &conflict, &denied, &missing]);
    let err = ledger.put(&record(1)).await.expect_err("5xx");
    assert!(
        matches!(
            err,
            PortError::Transient {
                call: "dynamodb:PutItem",
                ..
            }
        ),
        "{err:?}"
    );
    assert_eq!(server.num_calls(), 3);
    let err = ledger.put(&record(1)).await.expect_err("conflict");
    assert!(matches!(err, PortError::Transient { .. }), "{err:?}");
    let err = ledger.put(&record(1)).await.expect_err("denied");
    assert!(
        matches!(
            &err,
            PortError::Permanent {
                call: "dynamodb:PutItem",
                message
            } if message.contains("AccessDeniedException")
        ),
        "{err:?}"
    );
    let err = ledger.get(&repo(), &pr()).await.expect_err("no table");
    assert!(
        matches!(
            err,
            PortError::Permanent {
                call: "dynamodb:GetItem",
                ..
            }
        ),
        "{err:?}"
    );
}

#[tokio::test]
async fn a_connection_failure_is_transient() {
    use aws_sdk_dynamodb::config::retry::RetryConfig;
    use aws_sdk_dynamodb::config::{BehaviorVersion, Credentials, Region};
    // A loopback port nobody listens on: the connection is refused.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port();
    let client = Client::from_conf(
        aws_sdk_dynamodb::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new("us-east-1"))
            .credentials_provider(Credentials::new("testing", "testing", None, None, "test"))
            .endpoint_url(format!("http://127.0.0.1:{port}"))
            .retry_config(RetryConfig::disabled())
            .build(),
    );
    let err = AwsLedger::new(client, TABLE)
        .get(&repo(), &pr())
        .await
        .expect_err("refused");
    assert!(
        matches!(
            err,
            PortError::Transient {
                call: "dynamodb:GetItem",
                ..
            }
        ),
        "{err:?}"
    );
}

mod environments {
    use super::*;
    use codecommit_gate::aws::dynamodb::{environment_key, release_key};
    use codecommit_gate::ports::EnvironmentRecord;
    use codecommit_gate::release::lane::Lane;

    fn environment(version: u64) -> EnvironmentRecord {
        let mut record = EnvironmentRecord::new(repo(), "production");
        record.version = version;
        let mut lane = Lane::default();
        lane.push("c1", None, "2026-12-02T13:00:00Z");
        record.lane = lane;
        record.state.commit = Some("c0".into());
        record
    }

    #[test]
    fn keys_never_meet_a_pull_requests() {
        assert_eq!(
            environment_key(&repo(), "production"),
            "MyDemoRepo#environment#production"
        );
        assert_eq!(release_key(&repo(), "r-1"), "MyDemoRepo#release#r-1");
        assert_ne!(
            environment_key(&repo(), "27"),
            partition_key(&repo(), &pr())
        );
    }

    #[tokio::test]
    async fn an_environment_is_read_consistently_with_its_version_attribute() {
        let stored = serde_json::to_string(&environment(1)).expect("json");
        let rule = mock!(Client::get_item)
            .match_requests(|r| {
                r.consistent_read() == Some(true)
                    && r.key().and_then(|k| k.get("pk"))
                        == Some(&AttributeValue::S(
                            "MyDemoRepo#environment#production".into(),
                        ))
            })
            .sequence()
            .http_status(
                200,
                body(json!({ "Item": {
                    "pk": { "S": "MyDemoRepo#environment#production" },
                    "version": { "N": "2" },
                    "record": { "S": stored },
                } })),
            )
            .build();
        let got = ledger(&[&rule])
            .environment(&repo(), "production")
            .await
            .expect("get")
            .expect("found");
        assert_eq!(got.version, 2);
        assert_eq!(got.lane.running.map(|r| r.commit).as_deref(), Some("c1"));
        assert_eq!(got.state.commit.as_deref(), Some("c0"));
    }

    #[tokio::test]
    async fn environment_writes_are_conditional_and_carry_no_closed_flag() {
        let first = mock!(Client::put_item)
            .match_requests(|r| {
                let Some(item) = r.item() else { return false };
                let json: EnvironmentRecord =
                    serde_json::from_str(s(item, "record")).expect("record JSON");
                item.len() == 4
                    && s(item, "pk") == "MyDemoRepo#environment#production"
                    && n(item, "version") == Some(1)
                    && json.version == 1
                    && !item.contains_key("closed")
                    && r.condition_expression() == Some("attribute_not_exists(pk)")
            })
            .sequence()
            .http_status(200, body(json!({})))
            .build();
        let later = mock!(Client::put_item)
            .match_requests(|r| {
                r.condition_expression() == Some("#v = :expected")
                    && r.expression_attribute_values()
                        .and_then(|v| v.get(":expected"))
                        == Some(&AttributeValue::N("3".into()))
            })
            .sequence()
            .http_status(400, error("ConditionalCheckFailedException"))
            .build();
        let ledger = ledger(&[&first, &later]);
        assert_eq!(
            ledger.put_environment(&environment(0)).await.expect("put"),
            Written::Written
        );
        assert_eq!(
            ledger.put_environment(&environment(3)).await.expect("put"),
            Written::Conflict
        );
    }

    #[tokio::test]
    async fn a_release_is_stored_whole_under_its_id() {
        let record: codecommit_gate::release::ReleaseRecord = serde_json::from_value(json!({
            "version": 1, "id": "20261202T130000Z-abc123-production", "repository": "MyDemoRepo",
            "started_at": "2026-12-02T13:00:00.000Z", "duration_ms": 1200,
            "started_by": "arn:aws:sts::123456789012:assumed-role/Release/ann",
            "plan": {"environment": "production", "branch": "main", "commit": "c1",
                     "previous": "c0", "changed_paths": 1, "components": [], "checks": [],
                     "approval": {"required": false, "approvers": [], "timeout_minutes": 0}},
            "checks": [], "outcome": "nothing_to_release"
        }))
        .expect("a release record");
        let rule = mock!(Client::put_item)
            .match_requests(|r| {
                let Some(item) = r.item() else { return false };
                s(item, "pk") == "MyDemoRepo#release#20261202T130000Z-abc123-production"
                    && s(item, "environment") == "production"
                    && s(item, "started_at") == "2026-12-02T13:00:00.000Z"
                    && !item.contains_key("closed")
                    && !item.contains_key("version")
                    && r.condition_expression().is_none()
                    && serde_json::from_str::<codecommit_gate::release::ReleaseRecord>(s(
                        item, "record",
                    ))
                    .is_ok_and(|back| back.id == "20261202T130000Z-abc123-production")
            })
            .sequence()
            .http_status(200, body(json!({})))
            .build();
        ledger(&[&rule])
            .put_release(&repo(), &record)
            .await
            .expect("stored");
        assert_eq!(rule.num_calls(), 1);
    }
}

mod history {
    use super::*;
    use codecommit_gate::ports::LedgerHistory;

    fn release(id: &str) -> String {
        json!({
            "version": 1, "id": id, "repository": "MyDemoRepo",
            "started_at": "2026-12-02T13:00:00.000Z", "duration_ms": 1200,
            "started_by": "arn:aws:sts::123456789012:assumed-role/Release/ann",
            "plan": {"environment": "production", "branch": "main", "commit": "c1",
                     "previous": "c0", "changed_paths": 1, "components": [], "checks": [],
                     "approval": {"required": false, "approvers": [], "timeout_minutes": 0}},
            "checks": [], "outcome": "released"
        })
        .to_string()
    }

    #[tokio::test]
    async fn releases_are_every_page_of_a_scan_filtered_on_the_repositorys_release_keys() {
        let filtered = |r: &aws_sdk_dynamodb::operation::scan::ScanInput| {
            r.filter_expression() == Some("begins_with(#k, :prefix)")
                && r.expression_attribute_names().and_then(|n| n.get("#k")) == Some(&"pk".into())
                && r.expression_attribute_values()
                    .and_then(|v| v.get(":prefix"))
                    == Some(&AttributeValue::S("MyDemoRepo#release#".into()))
                && r.consistent_read() == Some(true)
        };
        let first = mock!(Client::scan)
            .match_requests(move |r| filtered(r) && r.exclusive_start_key().is_none())
            .sequence()
            .http_status(
                200,
                body(json!({
                    "Items": [{"pk": {"S": "MyDemoRepo#release#r-1"}, "record": {"S": release("r-1")}}],
                    "LastEvaluatedKey": {"pk": {"S": "MyDemoRepo#release#r-1"}}
                })),
            )
            .build();
        let second = mock!(Client::scan)
            .match_requests(move |r| {
                filtered(r)
                    && r.exclusive_start_key().and_then(|k| k.get("pk"))
                        == Some(&AttributeValue::S("MyDemoRepo#release#r-1".into()))
            })
            .sequence()
            .http_status(
                200,
                body(json!({
                    "Items": [{"pk": {"S": "MyDemoRepo#release#r-2"}, "record": {"S": release("r-2")}},
                              {"pk": {"S": "MyDemoRepo#release#odd"}}]
                })),
            )
            .build();
        let got = ledger(&[&first, &second])
            .releases(&repo())
            .await
            .expect("scanned");
        let ids: Vec<&str> = got.iter().map(|r| r.id.as_str()).collect();
        assert_eq!(
            ids,
            ["r-1", "r-2"],
            "both pages; an item without a record is skipped"
        );
    }

    #[tokio::test]
    async fn pull_requests_are_the_items_with_a_closed_flag_and_carry_their_version() {
        let stored = serde_json::to_string(&PrRecord::new(repo(), pr())).expect("json");
        let rule = mock!(Client::scan)
            .match_requests(|r| {
                r.filter_expression()
                    == Some("begins_with(#k, :prefix) AND attribute_exists(closed)")
                    && r.expression_attribute_values()
                        .and_then(|v| v.get(":prefix"))
                        == Some(&AttributeValue::S("MyDemoRepo#".into()))
            })
            .sequence()
            .http_status(
                200,
                body(json!({ "Items": [{
                    "pk": {"S": "MyDemoRepo#27"}, "version": {"N": "7"},
                    "record": {"S": stored}, "closed": {"BOOL": false}
                }]})),
            )
            .build();
        let got = ledger(&[&rule])
            .pull_requests(&repo())
            .await
            .expect("scanned");
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].version, 7);
    }

    #[tokio::test]
    async fn a_record_that_does_not_parse_is_an_error_naming_the_scan() {
        let rule = mock!(Client::scan)
            .sequence()
            .http_status(
                200,
                body(json!({ "Items": [{"pk": {"S": "MyDemoRepo#environment#x"}, "record": {"S": "{"}}]})),
            )
            .build();
        let err = ledger(&[&rule])
            .environments(&repo())
            .await
            .expect_err("not valid");
        assert_eq!(err.call(), "dynamodb:Scan");
    }
}

mod coverage {
    use super::*;
    use codecommit_gate::aws::dynamodb::coverage_key;
    use codecommit_gate::test_reports::{CoverageBases, LineCoverage, RecordedCoverage};

    fn bases(version: u64) -> CoverageBases {
        let mut bases = CoverageBases::empty("refs/heads/main");
        bases.version = version;
        bases.record(&[(
            "api-tests".into(),
            RecordedCoverage {
                line: LineCoverage {
                    covered: 816,
                    valid: 1000,
                },
                execution: "gate-MyDemoRepo-27-a1b2c3d".into(),
                commit: "5d036259ec0e8dd8e1a2d5b8e4a3d1c2b0a9f8e7".into(),
                started_ms: 1_764_680_000_000,
            },
        )]);
        bases
    }

    #[test]
    fn the_key_names_the_branch_without_refs_heads() {
        assert_eq!(
            coverage_key(&repo(), "refs/heads/main"),
            "MyDemoRepo#coverage#main"
        );
        assert_eq!(coverage_key(&repo(), "main"), "MyDemoRepo#coverage#main");
        assert_ne!(coverage_key(&repo(), "27"), partition_key(&repo(), &pr()));
    }

    #[tokio::test]
    async fn the_bases_are_read_consistently_with_their_version_attribute() {
        let stored = serde_json::to_string(&bases(1)).expect("json");
        let found = mock!(Client::get_item)
            .match_requests(|r| {
                r.consistent_read() == Some(true)
                    && r.key().and_then(|k| k.get("pk"))
                        == Some(&AttributeValue::S("MyDemoRepo#coverage#main".into()))
            })
            .sequence()
            .http_status(
                200,
                body(json!({ "Item": {
                    "pk": { "S": "MyDemoRepo#coverage#main" },
                    "version": { "N": "4" },
                    "record": { "S": stored },
                    "updated_at": { "N": "1764680000" },
                } })),
            )
            .build();
        // GetItem of a key that does not exist answers `{}` (no `Item`).
        let missing = mock!(Client::get_item)
            .sequence()
            .http_status(200, body(json!({})))
            .build();
        let ledger = ledger(&[&found, &missing]);
        let got = ledger
            .coverage_bases(&repo(), "refs/heads/main")
            .await
            .expect("get");
        assert_eq!(got.version, 4, "the version attribute is the truth");
        assert_eq!(
            got.base("api-tests"),
            Some(LineCoverage {
                covered: 816,
                valid: 1000
            })
        );
        let none = ledger
            .coverage_bases(&repo(), "develop")
            .await
            .expect("get");
        assert_eq!(none, CoverageBases::empty("develop"));
    }

    #[tokio::test]
    async fn writes_are_conditional_on_the_version_read() {
        let first = mock!(Client::put_item)
            .match_requests(|r| {
                let Some(item) = r.item() else { return false };
                let json: CoverageBases =
                    serde_json::from_str(s(item, "record")).expect("record JSON");
                item.len() == 4
                    && s(item, "pk") == "MyDemoRepo#coverage#main"
                    && n(item, "version") == Some(1)
                    && json.version == 1
                    && json.branch == "main"
                    && !item.contains_key("closed")
                    && r.condition_expression() == Some("attribute_not_exists(pk)")
            })
            .sequence()
            .http_status(200, body(json!({})))
            .build();
        let later = mock!(Client::put_item)
            .match_requests(|r| {
                r.condition_expression() == Some("#v = :expected")
                    && r.expression_attribute_values()
                        .and_then(|v| v.get(":expected"))
                        == Some(&AttributeValue::N("2".into()))
            })
            .sequence()
            .http_status(400, error("ConditionalCheckFailedException"))
            .build();
        let ledger = ledger(&[&first, &later]);
        assert_eq!(
            ledger
                .put_coverage_bases(&repo(), &bases(0))
                .await
                .expect("put"),
            Written::Written
        );
        assert_eq!(
            ledger
                .put_coverage_bases(&repo(), &bases(2))
                .await
                .expect("put"),
            Written::Conflict
        );
    }
}

mod reuse {
    use super::*;
    use codecommit_gate::aws::dynamodb::reuse_key;
    use codecommit_gate::reuse::ledger::{LedgerPass, LedgerPasses, MergeInputs};
    use codecommit_gate::reuse::{PassRecord, Reused};

    fn passes(version: u64) -> LedgerPasses {
        let mut passes = LedgerPasses {
            version,
            ..LedgerPasses::default()
        };
        passes.record(&[LedgerPass {
            destination: "main".into(),
            source_branch: "feature/refunds".into(),
            inputs: MergeInputs {
                base: "0d1e2f3a4b5c6d7e8f9a0b1c2d3e4f5a6b7c8d9e".into(),
                destination: "317f8570EXAMPLE".into(),
                source: "5d036259ec0e8dd8e1a2d5b8e4a3d1c2b0a9f8e7".into(),
            },
            pass: PassRecord {
                check: "api-tests".into(),
                key: "3f0c1d2e4a5b6c7d8e9f0a1b2c3d4e5f".into(),
                reused: Reused {
                    run: "gate-MyDemoRepo-27-a1b2c3d".into(),
                    commit: "5d036259ec0e8dd8e1a2d5b8e4a3d1c2b0a9f8e7".into(),
                },
            },
        }]);
        passes
    }

    #[test]
    fn one_item_per_repository_that_no_pull_request_can_name() {
        assert_eq!(reuse_key(&repo()), "MyDemoRepo#reuse");
        assert_ne!(reuse_key(&repo()), partition_key(&repo(), &pr()));
    }

    #[tokio::test]
    async fn the_passes_are_read_consistently_with_their_version_attribute() {
        let stored = serde_json::to_string(&passes(1)).expect("json");
        let found = mock!(Client::get_item)
            .match_requests(|r| {
                r.consistent_read() == Some(true)
                    && r.key().and_then(|k| k.get("pk"))
                        == Some(&AttributeValue::S("MyDemoRepo#reuse".into()))
            })
            .sequence()
            .http_status(
                200,
                body(json!({ "Item": {
                    "pk": { "S": "MyDemoRepo#reuse" },
                    "version": { "N": "3" },
                    "record": { "S": stored },
                    "updated_at": { "N": "1764680000" },
                } })),
            )
            .build();
        let missing = mock!(Client::get_item)
            .sequence()
            .http_status(200, body(json!({})))
            .build();
        let ledger = ledger(&[&found, &missing]);
        let got = ledger.reuse_passes(&repo()).await.expect("get");
        assert_eq!(got.version, 3, "the version attribute is the truth");
        assert_eq!(got.passes, passes(1).passes);
        let none = ledger.reuse_passes(&repo()).await.expect("get");
        assert_eq!(none, LedgerPasses::default());
    }

    #[tokio::test]
    async fn writes_are_conditional_on_the_version_read() {
        let first = mock!(Client::put_item)
            .match_requests(|r| {
                let Some(item) = r.item() else { return false };
                let json: LedgerPasses =
                    serde_json::from_str(s(item, "record")).expect("record JSON");
                item.len() == 4
                    && s(item, "pk") == "MyDemoRepo#reuse"
                    && n(item, "version") == Some(1)
                    && json.version == 1
                    && json.passes.len() == 1
                    && r.condition_expression() == Some("attribute_not_exists(pk)")
            })
            .sequence()
            .http_status(200, body(json!({})))
            .build();
        let later = mock!(Client::put_item)
            .match_requests(|r| {
                r.condition_expression() == Some("#v = :expected")
                    && r.expression_attribute_values()
                        .and_then(|v| v.get(":expected"))
                        == Some(&AttributeValue::N("2".into()))
            })
            .sequence()
            .http_status(400, error("ConditionalCheckFailedException"))
            .build();
        let ledger = ledger(&[&first, &later]);
        let written = ledger.put_reuse_passes(&repo(), &passes(0)).await;
        assert_eq!(written.expect("put"), Written::Written);
        let lost = ledger.put_reuse_passes(&repo(), &passes(2)).await;
        assert_eq!(lost.expect("put"), Written::Conflict);
    }

    #[tokio::test]
    async fn a_failed_read_is_an_error_the_flow_runs_the_checks_on() {
        let throttled = mock!(Client::get_item)
            .sequence()
            .http_status(400, error("ProvisionedThroughputExceededException"))
            .build();
        let ledger = ledger(&[&throttled]);
        let err = ledger.reuse_passes(&repo()).await.expect_err("throttled");
        assert_eq!(err.call(), "dynamodb:GetItem");
    }
}

// One client per service per cold start

#[tokio::test]
async fn the_ledger_and_the_merge_queues_share_one_dynamodb_client() {
    use aws_config::{BehaviorVersion, Region, SdkConfig};
    let config = SdkConfig::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .build();
    let clients = codecommit_gate::aws::Clients::from_config(&config, None).await;
    // A client is a reference-counted handle: the same handle has its configuration at one
    // address, and a client built again would have its own (one connection pool per client).
    let (ledger, queues) = (clients.dynamodb(), clients.dynamodb());
    assert!(std::ptr::eq(ledger.config(), queues.config()));
    let (executions, tokens) = (clients.sfn(), clients.sfn());
    assert!(std::ptr::eq(executions.config(), tokens.config()));
    let again = aws_sdk_dynamodb::Client::new(&config);
    assert!(
        !std::ptr::eq(ledger.config(), again.config()),
        "the comparison tells two clients apart"
    );
}
