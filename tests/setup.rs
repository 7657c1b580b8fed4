//! gate-setup stories: CloudFormation's real request files in, the in-memory CodeCommit changed, exactly one response body out.
//!
//! Requests are the fixtures in `tests/data/cloudformation/` (aws-lambda-events' and the
//! Lambda developer guide's samples) with our `ResourceProperties`; the CodeCommit fake
//! follows aws-reference-2 §2 and the response sink keeps every body PUT to the ResponseURL.

use codecommit_gate::ports::{PortError, PortResult};
use codecommit_gate::rule_content::same_content;
use codecommit_gate::setup::flow::{BATCH_ASSOCIATE, CREATE, DELETE_ROUNDS};
use codecommit_gate::setup::handler::{RESPONSE_RESERVE, handle, time_left};
use codecommit_gate::setup::memory::{CapturedResponses, MemoryRuleTemplates};
use codecommit_gate::setup::request::{
    PropertyProblem, RequestKind, RequestProblem, SetupRequest, TemplateSpec,
};
use codecommit_gate::setup::response::{
    CustomResourceResponse, MAX_RESPONSE_BYTES, ResponseStatus, TRUNCATED,
};
use codecommit_gate::setup::{
    BatchResult, CreateResult, DeleteResult, RespondError, RuleTemplates, TemplateRecord,
};
use serde_json::{Value, json};
use std::time::Duration;

const APPROVER: &str = "arn:aws:sts::123456789012:assumed-role/gate-stack-reporter/codecommit-gate";
const NAME: &str = "codecommit-gate";
const DESCRIPTION: &str = "Pull requests need the gate's approval";
const STACK: &str = "arn:aws:cloudformation:us-east-1:123456789012:stack/stack-name/16580499-7622-4a9c-b32f-4eba35da93da";
const URL: &str =
    "https://cr-response-bucket.s3.us-east-1.amazonaws.com/cr-response-key?sig-params=sig-values";
const CREATE_ID: &str = "82304eb2-bdda-469f-a33b-a3f1406d0a52";
const UPDATE_ID: &str = "49347ca5-c603-44e5-a34b-10cf1854a887";
const DELETE_ID: &str = "ef70561d-d4ba-42a4-801b-33ad88dafc37";
const FALLBACK: &str = "codecommit-gate:no-template:CustomResource";
/// Plenty of time: the stories that are not about the deadline.
const TIME: Duration = Duration::from_secs(300);

fn data(path: &str) -> Value {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(path);
    serde_json::from_str(&std::fs::read_to_string(&path).expect("fixture")).expect("JSON")
}

/// The content the template must have: the gate's one approval, on pull requests into main.
fn content_for(approver: &str) -> String {
    format!(
        r#"{{"Version":"2018-11-08","DestinationReferences":["refs/heads/main"],"Statements":[{{"Type":"Approvers","NumberOfApprovalsNeeded":1,"ApprovalPoolMembers":["{approver}"]}}]}}"#
    )
}

fn props(name: &str, repositories: &[&str]) -> Value {
    json!({
        "ServiceToken": "arn:aws:lambda:eu-west-2:123456789012:function:gate-setup",
        "TemplateName": name,
        "Description": DESCRIPTION,
        "ApproverArn": APPROVER,
        "DestinationReferences": ["refs/heads/main"],
        "RepositoryNames": repositories,
    })
}

fn with_type(mut request: Value) -> Value {
    request["ResourceType"] = json!("Custom::ApprovalRuleTemplate");
    request
}

fn create(properties: Value) -> Value {
    let mut r = with_type(data(
        "cloudformation/cloudformation-custom-resource-create-aws-lambda-events-fixture.json",
    ));
    r["ResourceProperties"] = properties;
    r
}

fn update(physical_id: &str, properties: Value, old: Value) -> Value {
    let mut r = with_type(data(
        "cloudformation/cloudformation-custom-resource-update-aws-lambda-events-fixture.json",
    ));
    r["PhysicalResourceId"] = json!(physical_id);
    r["ResourceProperties"] = properties;
    r["OldResourceProperties"] = old;
    r
}

fn delete(physical_id: &str, properties: Value) -> Value {
    let mut r = with_type(data(
        "cloudformation/cloudformation-custom-resource-delete-aws-lambda-events-fixture.json",
    ));
    r["PhysicalResourceId"] = json!(physical_id);
    r["ResourceProperties"] = properties;
    r
}

struct World {
    cc: MemoryRuleTemplates,
    out: CapturedResponses,
}

impl World {
    fn new(repositories: &[&str]) -> Self {
        Self {
            cc: MemoryRuleTemplates::with_repositories(repositories.iter().copied()),
            out: CapturedResponses::default(),
        }
    }

    /// Delivers `request` with `time` left and returns the one body it PUT.
    async fn send_with(&self, request: Value, time: Duration) -> Value {
        let before = self.out.sent().len();
        handle(&self.cc, &self.out, request, time)
            .await
            .expect("a response was delivered");
        let sent = self.out.sent();
        assert_eq!(sent.len(), before + 1, "exactly one response per request");
        let (url, body) = sent.last().expect("a response").clone();
        assert_eq!(url, URL, "the response goes to the request's ResponseURL");
        assert!(body.len() <= MAX_RESPONSE_BYTES, "{} bytes", body.len());
        serde_json::from_str(&body).expect("the body is JSON")
    }

    async fn send(&self, request: Value) -> Value {
        self.send_with(request, TIME).await
    }
}

fn repos(n: usize) -> Vec<String> {
    (0..n).map(|i| format!("repo-{i:03}")).collect()
}

// Requests

#[test]
fn the_fixture_requests_parse() {
    let create = SetupRequest::parse(&data(
        "cloudformation/cloudformation-custom-resource-create-aws-lambda-events-fixture.json",
    ))
    .expect("create");
    assert_eq!(create.kind, RequestKind::Create);
    assert_eq!(create.target.response_url, URL);
    assert_eq!(create.target.stack_id, STACK);
    assert_eq!(create.target.request_id, CREATE_ID);
    assert_eq!(create.target.logical_resource_id, "CustomResource");
    assert_eq!(create.properties["Key3"]["Key4"], "map");

    let update = SetupRequest::parse(&data(
        "cloudformation/cloudformation-custom-resource-update-aws-lambda-events-fixture.json",
    ))
    .expect("update");
    assert_eq!(
        update.kind,
        RequestKind::Update {
            physical_id: "custom-resource-f4bd5382-3de3-4caf-b7ad-1be06b899647".into()
        }
    );
    assert_eq!(update.target.request_id, UPDATE_ID);

    let delete = SetupRequest::parse(&data(
        "cloudformation/cloudformation-custom-resource-delete-aws-lambda-events-fixture.json",
    ))
    .expect("delete");
    assert_eq!(
        delete.kind,
        RequestKind::Delete {
            physical_id: "custom-resource-f4bd5382-3de3-4caf-b7ad-1be06b899647".into()
        }
    );
    assert_eq!(delete.target.request_id, DELETE_ID);

    let guide = SetupRequest::parse(&data(
        "cloudformation/cloudformation-custom-resource-create.json",
    ))
    .expect("the Lambda developer guide's sample");
    assert_eq!(guide.kind, RequestKind::Create);
    assert_eq!(guide.target.logical_resource_id, "primerinvoke");
    assert!(
        guide
            .target
            .response_url
            .starts_with("https://cloudformation-custom-resource-response-useast2.s3-us-east-2.amazonaws.com/arn%3Aaws%3Acloudformation")
    );
}

#[tokio::test]
async fn a_request_for_other_properties_fails_with_the_missing_one_named() {
    let w = World::new(&[]);
    let mut request = with_type(data(
        "cloudformation/cloudformation-custom-resource-create.json",
    ));
    request["ResponseURL"] = json!(URL);
    let body = w.send(request).await;
    assert_eq!(
        body,
        json!({
            "Status": "FAILED",
            "Reason": "ResourceProperties.TemplateName is missing",
            "PhysicalResourceId": "codecommit-gate:no-template:primerinvoke",
            "StackId": "arn:aws:cloudformation:us-east-2:123456789012:stack/lambda-error-processor/1134083a-2608-1e91-9897-022501a2c456",
            "RequestId": "5d478078-13e9-baf0-464a-7ef285ecc786",
            "LogicalResourceId": "primerinvoke"
        })
    );
    assert!(w.cc.calls().is_empty(), "{:?}", w.cc.calls());
}

#[test]
fn properties_arrive_as_strings_and_are_validated() {
    let mut p = props("123", &["MyDemoRepo", "MyDemoRepo", "my.repo_2-x"]);
    p["DestinationReferences"] = json!(["refs/heads/main", "refs/heads/release/*"]);
    let spec = TemplateSpec::from_properties(&p).expect("valid");
    assert_eq!(spec.name, "123");
    assert_eq!(spec.repositories, vec!["MyDemoRepo", "my.repo_2-x"]);
    p["TemplateName"] = json!(123);
    p["Description"] = json!(true);
    let spec = TemplateSpec::from_properties(&p).expect("numbers and booleans are their text");
    assert_eq!(
        (spec.name.as_str(), spec.description.as_str()),
        ("123", "true")
    );
    p.as_object_mut().expect("object").remove("Description");
    assert_eq!(
        TemplateSpec::from_properties(&p)
            .expect("no description")
            .description,
        ""
    );

    let cases: Vec<(Value, &str)> = vec![
        (
            json!("not an object"),
            "ResourceProperties must be an object of properties",
        ),
        (
            json!({"TemplateName": "x"}),
            "ResourceProperties.ApproverArn is missing",
        ),
        (
            with(&p, "TemplateName", json!(["a"])),
            "ResourceProperties.TemplateName must be a string",
        ),
        (
            with(&p, "TemplateName", json!("  ")),
            "ResourceProperties.TemplateName must not be empty",
        ),
        (
            with(&p, "TemplateName", json!("gate: main")),
            "ResourceProperties.TemplateName is not a valid template name: `:` is not allowed (use letters, digits, `.`, space, `_`, `-`)",
        ),
        (
            with(&p, "TemplateName", json!("gate.git")),
            "ResourceProperties.TemplateName is not a valid template name: it ends in .git",
        ),
        (
            with(&p, "TemplateName", json!("x".repeat(101))),
            "ResourceProperties.TemplateName is not a valid template name: it is longer than 100 characters",
        ),
        (
            with(&p, "Description", json!("d".repeat(1001))),
            "ResourceProperties.Description is longer than 1000 characters",
        ),
        (
            with(&p, "ApproverArn", json!("arn:aws:sts::1:assumed-role/a b")),
            "ResourceProperties.ApproverArn `arn:aws:sts::1:assumed-role/a b` contains whitespace",
        ),
        (
            with(&p, "DestinationReferences", json!("refs/heads/main")),
            "ResourceProperties.DestinationReferences must be a list of strings",
        ),
        (
            with(&p, "DestinationReferences", json!(["main"])),
            "ResourceProperties.DestinationReferences names `main`; write a branch as refs/heads/<branch>, e.g. refs/heads/main",
        ),
        (
            with(&p, "DestinationReferences", json!(["refs/heads/*-release"])),
            "ResourceProperties.DestinationReferences names `refs/heads/*-release`; a branch name cannot start with a wildcard",
        ),
        (
            with(
                &p,
                "DestinationReferences",
                json!(
                    (0..101)
                        .map(|i| format!("refs/heads/b{i}"))
                        .collect::<Vec<_>>()
                ),
            ),
            "ResourceProperties.DestinationReferences has more than 100 entries",
        ),
        (
            with(&p, "RepositoryNames", Value::Null),
            "ResourceProperties.RepositoryNames is missing",
        ),
        (
            with(&p, "RepositoryNames", json!(["ok", {"Ref": "Repo"}])),
            "ResourceProperties.RepositoryNames must be a list of strings",
        ),
        (
            with(&p, "RepositoryNames", json!(["my repo"])),
            "ResourceProperties.RepositoryNames names `my repo`, which is not a repository name (1-100 letters, digits, `.`, `_`, `-`)",
        ),
    ];
    for (properties, expected) in cases {
        let err = TemplateSpec::from_properties(&properties).expect_err(expected);
        assert_eq!(err.to_string(), expected);
    }
    let long_branches: Vec<String> = (0..60)
        .map(|i| format!("refs/heads/{i:02}-{}", "b".repeat(40)))
        .collect();
    let err =
        TemplateSpec::from_properties(&with(&p, "DestinationReferences", json!(long_branches)))
            .expect_err("too long");
    assert!(
        matches!(err.problem, PropertyProblem::ContentTooLong { chars } if chars > 3000),
        "{err}"
    );
}

fn with(base: &Value, key: &str, value: Value) -> Value {
    let mut v = base.clone();
    v[key] = value;
    v
}

#[test]
fn the_template_content_is_the_documented_shape_with_one_approval_from_the_gate() {
    let spec = TemplateSpec::from_properties(&props(NAME, &[])).expect("valid");
    assert_eq!(spec.content(), content_for(APPROVER));
    // AWS's own template sample, with the gate's single approver.
    let mut sample = data("api-samples/approval-rule-content-template.json");
    sample["Statements"][0]["NumberOfApprovalsNeeded"] = json!(1);
    sample["Statements"][0]["ApprovalPoolMembers"] = json!([APPROVER]);
    assert!(same_content(&spec.content(), &sample.to_string()));
    // No destination references: the key is left out (every branch).
    let mut p = props(NAME, &[]);
    p["DestinationReferences"] = json!([]);
    let spec = TemplateSpec::from_properties(&p).expect("valid");
    assert_eq!(
        spec.content(),
        format!(
            r#"{{"Version":"2018-11-08","Statements":[{{"Type":"Approvers","NumberOfApprovalsNeeded":1,"ApprovalPoolMembers":["{APPROVER}"]}}]}}"#
        )
    );
    // Comparison is by meaning: CodeCommit hands content back as it was written.
    assert!(same_content(
        r#"{"b": 1, "a": [1, 2]}"#,
        r#"{"a":[1,2],"b":1}"#
    ));
    assert!(!same_content(r#"{"a":[1,2]}"#, r#"{"a":[2,1]}"#));
    assert!(!same_content("not json", "not  json"));
}

// Create

#[tokio::test]
async fn create_makes_the_template_and_associates_every_repository() {
    let w = World::new(&["MyDemoRepo", "MyOtherDemoRepo"]);
    let body = w
        .send(create(props(NAME, &["MyDemoRepo", "MyOtherDemoRepo"])))
        .await;
    let template = w.cc.get(NAME).expect("created");
    assert_eq!(
        body,
        json!({
            "Status": "SUCCESS",
            "Reason": "created the approval rule template and associated it with 2 repositories",
            "PhysicalResourceId": NAME,
            "StackId": STACK,
            "RequestId": CREATE_ID,
            "LogicalResourceId": "CustomResource",
            "Data": {"TemplateName": NAME, "TemplateId": template.id}
        })
    );
    assert_eq!(template.content, content_for(APPROVER));
    assert_eq!(template.description, DESCRIPTION);
    assert_eq!(w.cc.associated(NAME), vec!["MyDemoRepo", "MyOtherDemoRepo"]);
    assert_eq!(
        w.cc.calls(),
        vec![
            "codecommit:CreateApprovalRuleTemplate codecommit-gate",
            "codecommit:BatchAssociateApprovalRuleTemplateWithRepositories codecommit-gate (2)",
        ]
    );
}

#[tokio::test]
async fn repositories_are_associated_in_batches_of_at_most_100() {
    let names = repos(250);
    let w = World::new(&names.iter().map(String::as_str).collect::<Vec<_>>());
    let body = w
        .send(create(props(
            NAME,
            &names.iter().map(String::as_str).collect::<Vec<_>>(),
        )))
        .await;
    assert_eq!(body["Status"], "SUCCESS", "{body}");
    assert_eq!(w.cc.associated(NAME).len(), 250);
    assert_eq!(
        w.cc.calls(),
        vec![
            "codecommit:CreateApprovalRuleTemplate codecommit-gate",
            "codecommit:BatchAssociateApprovalRuleTemplateWithRepositories codecommit-gate (100)",
            "codecommit:BatchAssociateApprovalRuleTemplateWithRepositories codecommit-gate (100)",
            "codecommit:BatchAssociateApprovalRuleTemplateWithRepositories codecommit-gate (50)",
        ]
    );
}

#[tokio::test]
async fn a_redelivered_create_adopts_its_own_template_without_writing() {
    let w = World::new(&["MyDemoRepo"]);
    let request = create(props(NAME, &["MyDemoRepo"]));
    let first = w.send(request.clone()).await;
    w.cc.clear_calls();
    let second = w.send(request).await;
    assert_eq!(second["Status"], "SUCCESS", "{second}");
    assert_eq!(second["PhysicalResourceId"], first["PhysicalResourceId"]);
    assert_eq!(second["Data"], first["Data"]);
    assert_eq!(
        second["Reason"],
        "the approval rule template already existed with this content and was adopted; 0 repositories associated, 0 disassociated"
    );
    assert_eq!(
        w.cc.calls(),
        vec![
            "codecommit:CreateApprovalRuleTemplate codecommit-gate",
            "codecommit:GetApprovalRuleTemplate codecommit-gate",
            "codecommit:ListRepositoriesForApprovalRuleTemplate codecommit-gate",
        ]
    );
    assert_eq!(w.cc.names(), vec![NAME]);
}

#[tokio::test]
async fn a_create_that_died_half_way_is_finished_by_its_redelivery() {
    // The first invocation created the template (content written by another JSON
    // serializer) and associated one repository, then died before responding.
    let w = World::new(&["a", "b", "c"]);
    let stored = r#"{"Version": "2018-11-08", "DestinationReferences": ["refs/heads/main"], "Statements": [{"ApprovalPoolMembers": ["APPROVER"], "NumberOfApprovalsNeeded": 1, "Type": "Approvers"}]}"#
        .replace("APPROVER", APPROVER);
    let existing = w.cc.put_template(NAME, &stored, "an older description");
    w.cc.put_association(NAME, "a");
    let body = w.send(create(props(NAME, &["a", "b", "c"]))).await;
    assert_eq!(body["Status"], "SUCCESS", "{body}");
    assert_eq!(body["PhysicalResourceId"], NAME);
    assert_eq!(body["Data"]["TemplateId"], existing.id.as_str());
    assert_eq!(
        body["Reason"],
        "the approval rule template already existed with this content and was adopted; 2 repositories associated, 0 disassociated, description rewritten"
    );
    assert_eq!(w.cc.associated(NAME), vec!["a", "b", "c"]);
    assert_eq!(w.cc.get(NAME).expect("kept").description, DESCRIPTION);
}

#[tokio::test]
async fn create_never_takes_over_a_template_with_other_content() {
    let w = World::new(&["MyDemoRepo"]);
    let theirs = w.cc.put_template(
        NAME,
        &content_for("arn:aws:sts::123456789012:assumed-role/someone-else/x"),
        "theirs",
    );
    w.cc.put_association(NAME, "MyDemoRepo");
    let body = w.send(create(props(NAME, &["MyDemoRepo"]))).await;
    assert_eq!(
        body,
        json!({
            "Status": "FAILED",
            "Reason": "an approval rule template named `codecommit-gate` already exists with different content; gate-setup does not take over a template it did not create. Delete or rename that template, or choose another TemplateName",
            "PhysicalResourceId": FALLBACK,
            "StackId": STACK,
            "RequestId": CREATE_ID,
            "LogicalResourceId": "CustomResource"
        })
    );
    // CloudFormation now deletes the failed resource by the id we gave: nothing is touched.
    w.cc.clear_calls();
    let body = w.send(delete(FALLBACK, props(NAME, &["MyDemoRepo"]))).await;
    assert_eq!(body["Status"], "SUCCESS", "{body}");
    assert_eq!(body["PhysicalResourceId"], FALLBACK);
    assert_eq!(
        body["Reason"],
        "no approval rule template was created for this resource; nothing to delete"
    );
    assert!(w.cc.calls().is_empty(), "{:?}", w.cc.calls());
    assert_eq!(w.cc.get(NAME), Some(theirs));
    assert_eq!(w.cc.associated(NAME), vec!["MyDemoRepo"]);
}

#[tokio::test]
async fn batch_errors_fail_the_create_naming_each_repository_and_the_delete_cleans_up() {
    let w = World::new(&["MyDemoRepo"]);
    let body = w
        .send(create(props(NAME, &["MyDemoRepo", "ghost", "phantom"])))
        .await;
    assert_eq!(body["Status"], "FAILED");
    assert_eq!(
        body["Reason"],
        "could not associate the approval rule template `codecommit-gate` with 2 repositories: \
         ghost (RepositoryDoesNotExistException: ghost does not exist), \
         phantom (RepositoryDoesNotExistException: phantom does not exist)"
    );
    // The template is ours: its name is the physical id, so the Delete that follows removes it.
    assert_eq!(body["PhysicalResourceId"], NAME);
    assert!(body.get("Data").is_none());
    let body = w.send(delete(NAME, props(NAME, &[]))).await;
    assert_eq!(body["Status"], "SUCCESS", "{body}");
    assert_eq!(
        body["Reason"],
        "disassociated 1 repository and deleted the approval rule template"
    );
    assert!(w.cc.names().is_empty());
}

#[tokio::test]
async fn invalid_properties_fail_the_create_and_its_delete_succeeds_without_a_call() {
    let w = World::new(&[]);
    let mut p = props(NAME, &[]);
    p["DestinationReferences"] = json!(["main"]);
    let body = w.send(create(p.clone())).await;
    assert_eq!(body["Status"], "FAILED");
    assert_eq!(body["PhysicalResourceId"], FALLBACK);
    assert!(
        body["Reason"]
            .as_str()
            .is_some_and(|r| r.starts_with("ResourceProperties.DestinationReferences names `main`")),
        "{body}"
    );
    let body = w.send(delete(FALLBACK, p)).await;
    assert_eq!(body["Status"], "SUCCESS");
    assert!(w.cc.calls().is_empty(), "{:?}", w.cc.calls());
}

// Delete

#[tokio::test]
async fn deleting_a_template_that_never_existed_succeeds() {
    let w = World::new(&[]);
    let body = w.send(delete("never-made", Value::Null)).await;
    assert_eq!(
        body,
        json!({
            "Status": "SUCCESS",
            "Reason": "the approval rule template does not exist; nothing to delete",
            "PhysicalResourceId": "never-made",
            "StackId": STACK,
            "RequestId": DELETE_ID,
            "LogicalResourceId": "CustomResource"
        })
    );
    assert_eq!(
        w.cc.calls(),
        vec!["codecommit:ListRepositoriesForApprovalRuleTemplate never-made"]
    );
    // Also the fixture's own physical id, and a Delete with none at all.
    let body = w
        .send(with_type(data(
            "cloudformation/cloudformation-custom-resource-delete-aws-lambda-events-fixture.json",
        )))
        .await;
    assert_eq!(body["Status"], "SUCCESS");
    let mut none = delete("x", Value::Null);
    none.as_object_mut()
        .expect("object")
        .remove("PhysicalResourceId");
    let body = w.send(none).await;
    assert_eq!(body["Status"], "SUCCESS");
    assert_eq!(body["PhysicalResourceId"], FALLBACK);
}

#[tokio::test]
async fn delete_disassociates_every_repository_in_batches_then_deletes() {
    let names = repos(150);
    let refs: Vec<&str> = names.iter().map(String::as_str).collect();
    let w = World::new(&refs);
    w.send(create(props(NAME, &refs))).await;
    w.cc.put_association(NAME, "repo-000"); // already there: no duplicate
    w.cc.clear_calls();
    let body = w.send(delete(NAME, props(NAME, &refs))).await;
    assert_eq!(
        body["Reason"],
        "disassociated 150 repositories and deleted the approval rule template"
    );
    assert_eq!(
        w.cc.calls(),
        vec![
            "codecommit:ListRepositoriesForApprovalRuleTemplate codecommit-gate",
            "codecommit:BatchDisassociateApprovalRuleTemplateFromRepositories codecommit-gate (100)",
            "codecommit:BatchDisassociateApprovalRuleTemplateFromRepositories codecommit-gate (50)",
            "codecommit:DeleteApprovalRuleTemplate codecommit-gate",
        ]
    );
    assert!(w.cc.names().is_empty());
    // A second delivery of the same Delete.
    let body = w.send(delete(NAME, props(NAME, &refs))).await;
    assert_eq!(body["Status"], "SUCCESS");
}

/// A fake whose template keeps getting associated again (someone else's automation).
struct Reassociating {
    inner: MemoryRuleTemplates,
}

impl RuleTemplates for Reassociating {
    async fn template(&self, name: &str) -> PortResult<Option<TemplateRecord>> {
        self.inner.template(name).await
    }
    async fn create(
        &self,
        name: &str,
        content: &str,
        description: &str,
    ) -> PortResult<CreateResult> {
        self.inner.create(name, content, description).await
    }
    async fn update_content(
        &self,
        name: &str,
        content: &str,
    ) -> PortResult<Option<TemplateRecord>> {
        self.inner.update_content(name, content).await
    }
    async fn update_description(
        &self,
        name: &str,
        description: &str,
    ) -> PortResult<Option<TemplateRecord>> {
        self.inner.update_description(name, description).await
    }
    async fn repositories(&self, name: &str) -> PortResult<Option<Vec<String>>> {
        self.inner.repositories(name).await
    }
    async fn associate(
        &self,
        name: &str,
        repositories: &[String],
    ) -> PortResult<Option<BatchResult>> {
        self.inner.associate(name, repositories).await
    }
    async fn disassociate(
        &self,
        name: &str,
        repositories: &[String],
    ) -> PortResult<Option<BatchResult>> {
        let result = self.inner.disassociate(name, repositories).await;
        self.inner.put_association(name, "MyDemoRepo");
        result
    }
    async fn delete(&self, name: &str) -> PortResult<DeleteResult> {
        self.inner.delete(name).await
    }
}

#[tokio::test]
async fn a_template_that_stays_in_use_fails_the_delete_after_a_few_rounds() {
    let fake = Reassociating {
        inner: MemoryRuleTemplates::with_repositories(["MyDemoRepo"]),
    };
    fake.inner.put_template(NAME, &content_for(APPROVER), "");
    fake.inner.put_association(NAME, "MyDemoRepo");
    let out = CapturedResponses::default();
    handle(&fake, &out, delete(NAME, Value::Null), TIME)
        .await
        .expect("delivered");
    let body = &out.bodies()[0];
    assert_eq!(body["Status"], "FAILED");
    assert_eq!(body["PhysicalResourceId"], NAME);
    assert_eq!(
        body["Reason"],
        format!(
            "the approval rule template `codecommit-gate` is still associated with repositories after {DELETE_ROUNDS} rounds of disassociation (ApprovalRuleTemplateInUseException); is something associating it concurrently?"
        )
    );
    let deletes = fake
        .inner
        .calls()
        .iter()
        .filter(|c| c.starts_with("codecommit:DeleteApprovalRuleTemplate"))
        .count();
    assert_eq!(deletes, DELETE_ROUNDS);
}

// Update

#[tokio::test]
async fn update_changes_content_description_and_repositories_in_place() {
    let w = World::new(&["a", "b", "c"]);
    let old = props(NAME, &["a", "b"]);
    w.send(create(old.clone())).await;
    let id = w.cc.get(NAME).expect("created").id;
    w.cc.clear_calls();
    let mut new = props(NAME, &["b", "c"]);
    new["DestinationReferences"] = json!(["refs/heads/main", "refs/heads/release"]);
    new["Description"] = json!("new words");
    let body = w.send(update(NAME, new, old)).await;
    assert_eq!(
        body,
        json!({
            "Status": "SUCCESS",
            "Reason": "updated the approval rule template: content changed, description changed, 1 repository associated, 1 disassociated",
            "PhysicalResourceId": NAME,
            "StackId": STACK,
            "RequestId": UPDATE_ID,
            "LogicalResourceId": "CustomResource",
            "Data": {"TemplateName": NAME, "TemplateId": id}
        })
    );
    let template = w.cc.get(NAME).expect("kept");
    assert!(
        template
            .content
            .contains(r#"["refs/heads/main","refs/heads/release"]"#)
    );
    assert_eq!(template.description, "new words");
    assert_eq!(w.cc.associated(NAME), vec!["b", "c"]);
    assert_eq!(
        w.cc.calls(),
        vec![
            "codecommit:GetApprovalRuleTemplate codecommit-gate",
            "codecommit:UpdateApprovalRuleTemplateContent codecommit-gate",
            "codecommit:UpdateApprovalRuleTemplateDescription codecommit-gate",
            "codecommit:ListRepositoriesForApprovalRuleTemplate codecommit-gate",
            "codecommit:BatchAssociateApprovalRuleTemplateWithRepositories codecommit-gate (1)",
            "codecommit:BatchDisassociateApprovalRuleTemplateFromRepositories codecommit-gate (1)",
        ]
    );
}

#[tokio::test]
async fn an_update_that_changes_nothing_writes_nothing() {
    let w = World::new(&["a"]);
    let p = props(NAME, &["a"]);
    w.send(create(p.clone())).await;
    w.cc.clear_calls();
    let body = w.send(update(NAME, p.clone(), p)).await;
    assert_eq!(
        body["Reason"],
        "updated the approval rule template: content unchanged, description unchanged, 0 repositories associated, 0 disassociated"
    );
    assert_eq!(
        w.cc.calls(),
        vec![
            "codecommit:GetApprovalRuleTemplate codecommit-gate",
            "codecommit:ListRepositoriesForApprovalRuleTemplate codecommit-gate",
        ]
    );
}

#[tokio::test]
async fn a_renamed_template_is_a_new_resource_and_the_old_one_is_deleted_after() {
    let w = World::new(&["a"]);
    let old = props(NAME, &["a"]);
    w.send(create(old.clone())).await;
    let body = w
        .send(update(NAME, props("gate-v2", &["a"]), old.clone()))
        .await;
    assert_eq!(body["Status"], "SUCCESS", "{body}");
    assert_eq!(body["PhysicalResourceId"], "gate-v2");
    assert_eq!(body["Data"]["TemplateName"], "gate-v2");
    assert_eq!(w.cc.names(), vec![NAME, "gate-v2"]);
    // CloudFormation's clean-up: Delete of the old physical id.
    let body = w.send(delete(NAME, old)).await;
    assert_eq!(body["Status"], "SUCCESS");
    assert_eq!(w.cc.names(), vec!["gate-v2"]);
    assert_eq!(w.cc.associated("gate-v2"), vec!["a"]);
}

#[tokio::test]
async fn a_rollback_of_a_rename_adopts_the_old_template() {
    let w = World::new(&["a"]);
    let old = props(NAME, &["a"]);
    w.send(create(old.clone())).await;
    w.send(update(NAME, props("gate-v2", &["a"]), old.clone()))
        .await;
    // Another resource failed: CloudFormation updates back, with the new physical id.
    let body = w
        .send(update("gate-v2", old.clone(), props("gate-v2", &["a"])))
        .await;
    assert_eq!(body["Status"], "SUCCESS", "{body}");
    assert_eq!(body["PhysicalResourceId"], NAME);
    // ... and then deletes the replacement.
    w.send(delete("gate-v2", Value::Null)).await;
    assert_eq!(w.cc.names(), vec![NAME]);
    assert_eq!(w.cc.associated(NAME), vec!["a"]);
}

#[tokio::test]
async fn a_failed_rename_keeps_the_old_id_and_removes_the_template_it_made() {
    let w = World::new(&["a"]);
    let old = props(NAME, &["a"]);
    w.send(create(old.clone())).await;
    let body = w
        .send(update(NAME, props("gate-v2", &["a", "ghost"]), old))
        .await;
    assert_eq!(body["Status"], "FAILED");
    assert_eq!(body["PhysicalResourceId"], NAME);
    assert_eq!(
        body["Reason"],
        "could not associate the approval rule template `gate-v2` with 1 repository: ghost (RepositoryDoesNotExistException: ghost does not exist)"
    );
    assert_eq!(w.cc.names(), vec![NAME], "the new template was removed");
    assert_eq!(w.cc.associated(NAME), vec!["a"], "the old one is untouched");
}

#[tokio::test]
async fn a_rename_onto_someone_elses_template_fails_and_leaves_both_alone() {
    let w = World::new(&["a"]);
    let old = props(NAME, &["a"]);
    w.send(create(old.clone())).await;
    let theirs =
        w.cc.put_template("taken", "{\"Version\":\"2018-11-08\"}", "");
    let body = w.send(update(NAME, props("taken", &["a"]), old)).await;
    assert_eq!(body["Status"], "FAILED");
    assert_eq!(body["PhysicalResourceId"], NAME);
    assert_eq!(w.cc.get("taken"), Some(theirs));
    assert!(w.cc.get(NAME).is_some());
}

#[tokio::test]
async fn an_update_recreates_a_template_deleted_outside_the_stack() {
    let w = World::new(&["a"]);
    let p = props(NAME, &["a"]);
    w.send(create(p.clone())).await;
    w.cc.drop_template(NAME);
    let body = w.send(update(NAME, p.clone(), p)).await;
    assert_eq!(body["Status"], "SUCCESS", "{body}");
    assert_eq!(
        body["Reason"],
        "the approval rule template had been deleted outside the stack; created it again and associated it with 1 repository"
    );
    assert_eq!(w.cc.associated(NAME), vec!["a"]);
}

#[tokio::test]
async fn an_update_with_invalid_properties_fails_and_keeps_the_physical_id() {
    let w = World::new(&["a"]);
    let p = props(NAME, &["a"]);
    w.send(create(p.clone())).await;
    let body = w
        .send(update(NAME, with(&p, "ApproverArn", Value::Null), p))
        .await;
    assert_eq!(body["Status"], "FAILED");
    assert_eq!(body["PhysicalResourceId"], NAME);
    assert_eq!(body["Reason"], "ResourceProperties.ApproverArn is missing");
}

// Responses

#[tokio::test]
async fn a_huge_error_message_is_cut_to_fit_4096_bytes() {
    let w = World::new(&["a"]);
    let message = format!("AccessDeniedException: {}", "\"é\u{1}✓".repeat(3000));
    w.cc.fail_next(
        CREATE,
        PortError::Permanent {
            call: CREATE,
            message,
        },
    );
    let body = w.send(create(props(NAME, &["a"]))).await;
    let raw = &w.out.sent()[0].1;
    assert!(raw.len() <= MAX_RESPONSE_BYTES, "{} bytes", raw.len());
    assert!(
        raw.len() > MAX_RESPONSE_BYTES - 16,
        "cut no more than needed: {}",
        raw.len()
    );
    let reason = body["Reason"].as_str().expect("reason");
    assert!(
        reason.starts_with(
            "codecommit:CreateApprovalRuleTemplate failed: AccessDeniedException: \"é\u{1}✓"
        ),
        "{reason}"
    );
    assert!(reason.ends_with(TRUNCATED), "{reason}");
    assert_eq!(body["Status"], "FAILED");
    assert_eq!(body["PhysicalResourceId"], FALLBACK);
    assert_eq!(body["StackId"], STACK);
}

#[test]
fn response_bodies_have_the_documented_shape() {
    for file in [
        "cloudformation/cloudformation-custom-resource-response-lambda-dg.json",
        "cloudformation/cloudformation-custom-resource-response-aws-lambda-events-fixture.json",
    ] {
        let sample = data(file);
        let parsed: CustomResourceResponse =
            serde_json::from_value(sample.clone()).expect("the sample reads as our response");
        let ours: Value = serde_json::from_str(&parsed.body()).expect("JSON");
        for (key, value) in ours.as_object().expect("object") {
            match key.as_str() {
                // Every field we send is a documented one with the sample's value...
                "Reason" if sample.get("Reason").is_none() => assert_eq!(value, ""),
                "Data" => {
                    assert!(value.is_object(), "{file}: Data is name-value pairs")
                }
                _ => assert_eq!(Some(value), sample.get(key), "{file}: {key}"),
            }
        }
        // ... and every documented field but NoEcho (optional, default false) is sent.
        for key in sample.as_object().expect("object").keys() {
            assert!(
                key == "NoEcho" || key == "Data" || ours.get(key).is_some(),
                "{file}: {key} missing"
            );
        }
    }
    let parsed: CustomResourceResponse = serde_json::from_value(data(
        "cloudformation/cloudformation-custom-resource-response-aws-lambda-events-fixture.json",
    ))
    .expect("parse");
    assert_eq!(parsed.status, ResponseStatus::Failed);
    assert_eq!(parsed.reason, "This is a test failure.");
}

// The Lambda edge

#[tokio::test]
async fn a_payload_with_nobody_to_answer_is_acknowledged_and_nothing_is_sent() {
    let w = World::new(&[]);
    let out = handle(&w.cc, &w.out, json!({"RequestType": "Create"}), TIME)
        .await
        .expect("acknowledged");
    assert_eq!(out["action"], "rejected");
    assert_eq!(out["error"], "the request has no ResponseURL");
    let out = handle(&w.cc, &w.out, json!([1]), TIME)
        .await
        .expect("acknowledged");
    assert_eq!(out["error"], "the payload is not a JSON object");
    assert!(w.out.sent().is_empty());
}

#[tokio::test]
async fn an_unknown_request_type_is_answered_failed() {
    let w = World::new(&[]);
    let mut request = create(props(NAME, &[]));
    request["RequestType"] = json!("Import");
    let body = w.send(request).await;
    assert_eq!(body["Status"], "FAILED");
    assert_eq!(
        body["Reason"],
        "unknown RequestType `Import` (expected Create, Update or Delete)"
    );
    assert_eq!(body["PhysicalResourceId"], FALLBACK);
    let mut request = update(NAME, props(NAME, &[]), Value::Null);
    request
        .as_object_mut()
        .expect("object")
        .remove("PhysicalResourceId");
    let body = w.send(request).await;
    assert_eq!(body["Reason"], "the request has no PhysicalResourceId");
    assert!(w.cc.calls().is_empty());
    let err = SetupRequest::parse(&json!({"ResponseURL": URL})).expect_err("no StackId");
    assert_eq!(err.problem, RequestProblem::Missing("StackId"));
    assert!(err.target.is_none());
}

#[tokio::test(start_paused = true)]
async fn transient_failures_are_run_again_within_the_deadline() {
    let w = World::new(&["a"]);
    for _ in 0..2 {
        w.cc.fail_next(
            CREATE,
            PortError::Transient {
                call: CREATE,
                message: "ThrottlingException: Rate exceeded".into(),
            },
        );
    }
    let start = tokio::time::Instant::now();
    let body = w.send(create(props(NAME, &["a"]))).await;
    assert_eq!(body["Status"], "SUCCESS", "{body}");
    assert_eq!(
        start.elapsed(),
        Duration::from_secs(3),
        "backoff 1 s, then 2 s"
    );
    let creates =
        w.cc.calls()
            .iter()
            .filter(|c| c.starts_with(CREATE))
            .count();
    assert_eq!(creates, 3);
}

#[tokio::test(start_paused = true)]
async fn a_failure_that_stays_transient_is_answered_before_the_deadline() {
    let w = World::new(&["a"]);
    for _ in 0..100 {
        w.cc.fail_next(
            CREATE,
            PortError::Transient {
                call: CREATE,
                message: "ServiceUnavailableException".into(),
            },
        );
    }
    let start = tokio::time::Instant::now();
    let time = Duration::from_secs(60);
    let body = w.send_with(create(props(NAME, &["a"])), time).await;
    assert!(
        start.elapsed() < time - RESPONSE_RESERVE,
        "{:?}",
        start.elapsed()
    );
    assert_eq!(body["Status"], "FAILED");
    assert_eq!(
        body["Reason"],
        "codecommit:CreateApprovalRuleTemplate failed (transient, retry later): ServiceUnavailableException"
    );
}

#[tokio::test(start_paused = true)]
async fn a_hung_call_is_answered_failed_before_the_lambda_times_out() {
    let w = World::new(&["a"]);
    w.cc.hang_next(BATCH_ASSOCIATE);
    let start = tokio::time::Instant::now();
    let time = Duration::from_secs(60);
    let body = w.send_with(create(props(NAME, &["a"])), time).await;
    assert_eq!(start.elapsed(), time - RESPONSE_RESERVE);
    assert_eq!(
        body["Reason"],
        "gate-setup ran out of time (the function timeout) while waiting on codecommit:BatchAssociateApprovalRuleTemplateWithRepositories; the request may be retried safely"
    );
    // The template was created: it is ours, and the Delete that follows will remove it.
    assert_eq!(body["PhysicalResourceId"], NAME);
    w.send(delete(NAME, Value::Null)).await;
    assert!(w.cc.names().is_empty());
}

#[tokio::test(start_paused = true)]
async fn with_no_time_left_the_answer_is_failed_at_once() {
    let w = World::new(&["a"]);
    let body = w
        .send_with(create(props(NAME, &["a"])), Duration::from_secs(3))
        .await;
    assert_eq!(body["Status"], "FAILED");
    assert_eq!(body["PhysicalResourceId"], FALLBACK);
    assert_eq!(
        body["Reason"],
        "gate-setup ran out of time (the function timeout) while waiting on nothing (no time to start); the request may be retried safely"
    );
    assert!(w.cc.names().is_empty());
}

#[tokio::test(start_paused = true)]
async fn a_response_put_is_retried_and_an_undeliverable_one_fails_the_invocation() {
    let w = World::new(&[]);
    w.out
        .fail_next(RespondError::Transport("connection reset".into()));
    let body = w.send(delete("x", Value::Null)).await;
    assert_eq!(body["Status"], "SUCCESS");
    for _ in 0..3 {
        w.out.fail_next(RespondError::Status {
            status: 403,
            body: "<Code>AccessDenied</Code>".into(),
        });
    }
    let err = handle(&w.cc, &w.out, delete("x", Value::Null), TIME)
        .await
        .expect_err("undeliverable: Lambda retries the event");
    assert_eq!(err.error_type, "GateSetupResponseNotDelivered");
    assert_eq!(
        err.error_message,
        "SUCCESS response for CustomResource not delivered: the ResponseURL answered HTTP 403: <Code>AccessDenied</Code>"
    );
}

#[test]
fn the_time_left_comes_from_the_context_deadline() {
    let mut context = lambda_runtime::Context::default();
    assert_eq!(time_left(&context), Duration::ZERO);
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_millis() as u64;
    context.deadline = now_ms + 30_000;
    let left = time_left(&context);
    assert!(
        left <= Duration::from_secs(30) && left > Duration::from_secs(29),
        "{left:?}"
    );
}

// The real PUT

/// What a one-shot HTTP/1.1 server on 127.0.0.1 received.
#[derive(Debug)]
struct Received {
    request_line: String,
    headers: Vec<(String, String)>,
    body: String,
}

impl Received {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// Serves one request with `reply` (a full HTTP response) and hands back what came in.
fn one_shot_server(reply: String) -> (String, std::thread::JoinHandle<Received>) {
    use std::io::{BufRead, BufReader, Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let address = listener.local_addr().expect("address");
    let server = std::thread::spawn(move || {
        let (stream, _) = listener.accept().expect("accept");
        let mut reader = BufReader::new(stream.try_clone().expect("clone"));
        let mut request_line = String::new();
        reader.read_line(&mut request_line).expect("request line");
        let mut headers = Vec::new();
        loop {
            let mut line = String::new();
            reader.read_line(&mut line).expect("header");
            let line = line.trim_end_matches(['\r', '\n']);
            if line.is_empty() {
                break;
            }
            let (name, value) = line.split_once(':').expect("name: value");
            headers.push((name.to_owned(), value.trim().to_owned()));
        }
        let length: usize = headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case("content-length"))
            .map(|(_, v)| v.parse().expect("length"))
            .unwrap_or(0);
        let mut body = vec![0; length];
        reader.read_exact(&mut body).expect("body");
        let mut stream = stream;
        stream.write_all(reply.as_bytes()).expect("reply");
        Received {
            request_line: request_line.trim_end().to_owned(),
            headers,
            body: String::from_utf8(body).expect("UTF-8"),
        }
    });
    (format!("http://{address}"), server)
}

const SIGNED_PATH: &str = "/arn%3Aaws%3Acloudformation%3Aus-east-2%3A123456789012%3Astack/gate/1134083a%7CCustomResource%7C5d478078?AWSAccessKeyId=AKIAIOSFODNN7EXAMPLE&Expires=1555451971&Signature=28UijZePE5I4dvukKQqM%2F9Rf1o4%3D";

#[tokio::test]
async fn the_response_is_a_real_put_with_cfn_responses_headers() {
    use codecommit_gate::setup::Respond;
    use codecommit_gate::setup::http::HttpResponder;
    let (base, server) = one_shot_server("HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n".into());
    let w = World::new(&["a"]);
    let responder = HttpResponder::allowing_plain_http().expect("client");
    let mut request = create(props(NAME, &["a"]));
    request["ResponseURL"] = json!(format!("{base}{SIGNED_PATH}"));
    let out = handle(&w.cc, &responder, request, TIME)
        .await
        .expect("delivered");
    assert_eq!(out["status"], "SUCCESS");
    let got = tokio::task::spawn_blocking(move || server.join().expect("server"))
        .await
        .expect("join");
    assert_eq!(got.request_line, format!("PUT {SIGNED_PATH} HTTP/1.1"));
    assert_eq!(got.header("content-type"), Some(""), "{:?}", got.headers);
    assert_eq!(
        got.header("content-length"),
        Some(got.body.len().to_string().as_str())
    );
    assert_eq!(got.header("host"), Some(&base["http://".len()..]));
    let body: Value = serde_json::from_str(&got.body).expect("JSON");
    assert_eq!(body["Status"], "SUCCESS");
    assert_eq!(body["PhysicalResourceId"], NAME);
    assert_eq!(body["RequestId"], CREATE_ID);
    // An error status is reported with what the server said.
    let xml = "<Error><Code>SignatureDoesNotMatch</Code></Error>";
    let (base, server) = one_shot_server(format!(
        "HTTP/1.1 403 Forbidden\r\ncontent-type: application/xml\r\ncontent-length: {}\r\n\r\n{xml}",
        xml.len()
    ));
    let err = responder
        .put(&format!("{base}/key"), "{}")
        .await
        .expect_err("403");
    server.join().expect("server");
    assert_eq!(
        err,
        RespondError::Status {
            status: 403,
            body: xml.into()
        }
    );
}

#[tokio::test]
async fn the_production_client_puts_over_https_only() {
    use codecommit_gate::setup::Respond;
    use codecommit_gate::setup::http::HttpResponder;
    let responder = HttpResponder::new().expect("platform roots");
    let err = responder
        .put("http://127.0.0.1:9/key", "{}")
        .await
        .expect_err("plain http");
    assert!(matches!(err, RespondError::Transport(_)), "{err:?}");
    let err = responder.put("not a url", "{}").await.expect_err("bad");
    assert!(matches!(err, RespondError::InvalidUrl(_)), "{err:?}");
}
