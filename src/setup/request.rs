//! The custom-resource request, parsed at the edge: the envelope into [`SetupRequest`], `ResourceProperties` into a validated [`TemplateSpec`].
//!
//! Field names and presence follow CFN-UG `crpg-ref-requests.md` (aws-reference-2 §3).
//! CloudFormation delivers every scalar property as a string (numbers and booleans included),
//! so a scalar is read as its text whatever its JSON type.

use crate::rule_content::{MAX_CONTENT_CHARS, rule_content};
use serde_json::Value;
use std::fmt;

/// Where and as what the response goes: `ResponseURL`, and the three ids the response copies
/// verbatim.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResponseTarget {
    /// `ResponseURL`: the pre-signed S3 URL to PUT the response to.
    pub response_url: String,
    /// `StackId`.
    pub stack_id: String,
    /// `RequestId`.
    pub request_id: String,
    /// `LogicalResourceId`.
    pub logical_resource_id: String,
}

/// `RequestType`, with the `PhysicalResourceId` CloudFormation sends on Update and Delete.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RequestKind {
    /// Create: no physical id yet.
    Create,
    /// Update of the resource named `physical_id`.
    Update {
        /// `PhysicalResourceId`: the template name a previous response gave.
        physical_id: String,
    },
    /// Delete of the resource named `physical_id` (empty when the request had none).
    Delete {
        /// `PhysicalResourceId`.
        physical_id: String,
    },
}

/// A custom-resource request.
#[derive(Debug, Clone, PartialEq)]
pub struct SetupRequest {
    /// Where the response goes.
    pub target: ResponseTarget,
    /// Create, Update or Delete.
    pub kind: RequestKind,
    /// `ResourceProperties` as sent (validated by [`TemplateSpec::from_properties`] when needed).
    pub properties: Value,
}

/// What makes a payload an unusable request.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RequestProblem {
    /// The payload is not a JSON object.
    #[error("the payload is not a JSON object")]
    NotAnObject,
    /// A required field is missing, empty or not a string.
    #[error("the request has no {0}")]
    Missing(&'static str),
    /// `RequestType` is none of Create, Update, Delete.
    #[error("unknown RequestType `{0}` (expected Create, Update or Delete)")]
    UnknownRequestType(String),
}

/// A payload that is not a request the flow can run. With a `target`, a FAILED response can
/// still be sent; without one, nobody can be told.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{problem}")]
pub struct RequestError {
    /// Where a FAILED response can go, when the envelope had that much.
    pub target: Option<ResponseTarget>,
    /// What is wrong.
    pub problem: RequestProblem,
}

fn text(object: &serde_json::Map<String, Value>, key: &'static str) -> Option<String> {
    object.get(key).and_then(scalar).filter(|s| !s.is_empty())
}

/// A scalar as CloudFormation would stringify it; `None` for null, arrays and objects.
pub fn scalar(value: &Value) -> Option<String> {
    match value {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        Value::Null | Value::Array(_) | Value::Object(_) => None,
    }
}

impl SetupRequest {
    /// Reads a custom-resource request.
    pub fn parse(payload: &Value) -> Result<Self, RequestError> {
        let object = payload.as_object().ok_or(RequestError {
            target: None,
            problem: RequestProblem::NotAnObject,
        })?;
        let required = |key: &'static str| {
            text(object, key).ok_or(RequestError {
                target: None,
                problem: RequestProblem::Missing(key),
            })
        };
        let target = ResponseTarget {
            response_url: required("ResponseURL")?,
            stack_id: required("StackId")?,
            request_id: required("RequestId")?,
            logical_resource_id: required("LogicalResourceId")?,
        };
        let fail = |problem| RequestError {
            target: Some(target.clone()),
            problem,
        };
        let request_type = text(object, "RequestType")
            .ok_or_else(|| fail(RequestProblem::Missing("RequestType")))?;
        let physical_id = text(object, "PhysicalResourceId");
        let kind = match request_type.as_str() {
            "Create" => RequestKind::Create,
            "Update" => RequestKind::Update {
                physical_id: physical_id
                    .ok_or_else(|| fail(RequestProblem::Missing("PhysicalResourceId")))?,
            },
            // A Delete must succeed for an id that never existed; none at all names nothing.
            "Delete" => RequestKind::Delete {
                physical_id: physical_id.unwrap_or_default(),
            },
            _ => return Err(fail(RequestProblem::UnknownRequestType(request_type))),
        };
        Ok(Self {
            target,
            kind,
            properties: object
                .get("ResourceProperties")
                .cloned()
                .unwrap_or(Value::Null),
        })
    }
}

/// The longest template description (CC-UG `limits.md`).
pub const MAX_DESCRIPTION_CHARS: usize = 1000;
/// The most destination references one template may name (CC-UG `limits.md`).
pub const MAX_DESTINATION_REFERENCES: usize = 100;
/// The longest template or repository name.
pub const MAX_NAME_CHARS: usize = 100;

/// The template the stack asks for: `ResourceProperties`, validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TemplateSpec {
    /// `TemplateName`: also the resource's physical id.
    pub name: String,
    /// `Description` (optional; empty when absent).
    pub description: String,
    /// `ApproverArn`: the only approval pool member.
    pub approver_arn: String,
    /// `DestinationReferences`, deduplicated in order (empty: every branch).
    pub destination_references: Vec<String>,
    /// `RepositoryNames`, deduplicated in order.
    pub repositories: Vec<String>,
}

/// What is wrong with one property.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PropertyProblem {
    /// `ResourceProperties` is not an object.
    NotAnObject,
    /// Absent or null.
    Missing,
    /// An array or object where text belongs.
    NotText,
    /// Not a list.
    NotAList,
    /// Empty text.
    Empty,
    /// Longer than allowed.
    TooLong {
        /// The limit, in characters.
        max: usize,
    },
    /// More entries than allowed.
    TooMany {
        /// The limit.
        max: usize,
    },
    /// Not a valid approval rule template name.
    InvalidTemplateName(String),
    /// A list entry that is not a valid repository name.
    InvalidRepositoryName(String),
    /// A destination reference that is not `refs/heads/<branch>`.
    NotABranchReference(String),
    /// A destination reference whose branch name starts with a wildcard.
    LeadingWildcard(String),
    /// Whitespace in an ARN.
    InvalidArn(String),
    /// The resulting content is longer than CodeCommit accepts.
    ContentTooLong {
        /// Its length in characters.
        chars: usize,
    },
}

impl fmt::Display for PropertyProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NotAnObject => f.write_str("must be an object of properties"),
            Self::Missing => f.write_str("is missing"),
            Self::NotText => f.write_str("must be a string"),
            Self::NotAList => f.write_str("must be a list of strings"),
            Self::Empty => f.write_str("must not be empty"),
            Self::TooLong { max } => write!(f, "is longer than {max} characters"),
            Self::TooMany { max } => write!(f, "has more than {max} entries"),
            Self::InvalidTemplateName(why) => write!(f, "is not a valid template name: {why}"),
            Self::InvalidRepositoryName(name) => write!(
                f,
                "names `{name}`, which is not a repository name (1-100 letters, digits, `.`, `_`, `-`)"
            ),
            Self::NotABranchReference(r) => write!(
                f,
                "names `{r}`; write a branch as refs/heads/<branch>, e.g. refs/heads/main"
            ),
            Self::LeadingWildcard(r) => {
                write!(f, "names `{r}`; a branch name cannot start with a wildcard")
            }
            Self::InvalidArn(arn) => write!(f, "`{arn}` contains whitespace"),
            Self::ContentTooLong { chars } => write!(
                f,
                "makes a template content of {chars} characters; CodeCommit accepts at most {MAX_CONTENT_CHARS}"
            ),
        }
    }
}

/// A `ResourceProperties` entry the template cannot be built from.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct PropertyError {
    /// The property (empty: `ResourceProperties` itself).
    pub field: &'static str,
    /// What is wrong with it.
    pub problem: PropertyProblem,
}

impl fmt::Display for PropertyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.field.is_empty() {
            write!(f, "ResourceProperties {}", self.problem)
        } else {
            write!(f, "ResourceProperties.{} {}", self.field, self.problem)
        }
    }
}

fn problem(field: &'static str, problem: PropertyProblem) -> PropertyError {
    PropertyError { field, problem }
}

/// Why `name` cannot be an approval rule template name, if it cannot: 1-100 characters of
/// letters, digits, `.`, space, `_` and `-`, not ending in `.git` (CC-UG `limits.md`, which
/// also lists the forbidden characters, `:` and `/` among them).
pub fn template_name_problem(name: &str) -> Option<String> {
    let chars = name.chars().count();
    if chars == 0 {
        return Some("it is empty".to_owned());
    }
    if chars > MAX_NAME_CHARS {
        return Some(format!("it is longer than {MAX_NAME_CHARS} characters"));
    }
    if let Some(c) = name
        .chars()
        .find(|c| !(c.is_alphanumeric() || matches!(c, '.' | ' ' | '_' | '-')))
    {
        return Some(format!(
            "`{c}` is not allowed (use letters, digits, `.`, space, `_`, `-`)"
        ));
    }
    if name.ends_with(".git") {
        return Some("it ends in .git".to_owned());
    }
    None
}

/// Whether `name` could name an approval rule template at all.
pub fn is_template_name(name: &str) -> bool {
    template_name_problem(name).is_none()
}

fn is_repository_name(name: &str) -> bool {
    (1..=MAX_NAME_CHARS).contains(&name.chars().count())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
}

fn required_text(
    properties: &serde_json::Map<String, Value>,
    field: &'static str,
) -> Result<String, PropertyError> {
    match properties.get(field) {
        None | Some(Value::Null) => Err(problem(field, PropertyProblem::Missing)),
        Some(value) => {
            let text = scalar(value).ok_or_else(|| problem(field, PropertyProblem::NotText))?;
            if text.trim().is_empty() {
                return Err(problem(field, PropertyProblem::Empty));
            }
            Ok(text)
        }
    }
}

/// A list of scalars, each as text, deduplicated in order.
fn text_list(
    properties: &serde_json::Map<String, Value>,
    field: &'static str,
) -> Result<Vec<String>, PropertyError> {
    let items = match properties.get(field) {
        None | Some(Value::Null) => return Err(problem(field, PropertyProblem::Missing)),
        Some(Value::Array(items)) => items,
        Some(_) => return Err(problem(field, PropertyProblem::NotAList)),
    };
    let mut out: Vec<String> = Vec::with_capacity(items.len());
    for item in items {
        let text = scalar(item).ok_or_else(|| problem(field, PropertyProblem::NotAList))?;
        if text.is_empty() {
            return Err(problem(field, PropertyProblem::Empty));
        }
        if !out.contains(&text) {
            out.push(text);
        }
    }
    Ok(out)
}

fn check_reference(reference: &str) -> Result<(), PropertyProblem> {
    let branch = reference
        .strip_prefix("refs/heads/")
        .filter(|b| !b.is_empty())
        .ok_or_else(|| PropertyProblem::NotABranchReference(reference.to_owned()))?;
    if branch.starts_with('*') {
        return Err(PropertyProblem::LeadingWildcard(reference.to_owned()));
    }
    Ok(())
}

impl TemplateSpec {
    /// Validates `ResourceProperties` (`ServiceToken` and unknown keys are ignored).
    pub fn from_properties(properties: &Value) -> Result<Self, PropertyError> {
        let properties = properties
            .as_object()
            .ok_or_else(|| problem("", PropertyProblem::NotAnObject))?;
        let name = required_text(properties, "TemplateName")?;
        if let Some(why) = template_name_problem(&name) {
            return Err(problem(
                "TemplateName",
                PropertyProblem::InvalidTemplateName(why),
            ));
        }
        let description = match properties.get("Description") {
            None | Some(Value::Null) => String::new(),
            Some(value) => {
                scalar(value).ok_or_else(|| problem("Description", PropertyProblem::NotText))?
            }
        };
        if description.chars().count() > MAX_DESCRIPTION_CHARS {
            return Err(problem(
                "Description",
                PropertyProblem::TooLong {
                    max: MAX_DESCRIPTION_CHARS,
                },
            ));
        }
        let approver_arn = required_text(properties, "ApproverArn")?;
        if approver_arn.chars().any(char::is_whitespace) {
            return Err(problem(
                "ApproverArn",
                PropertyProblem::InvalidArn(approver_arn),
            ));
        }
        let destination_references = text_list(properties, "DestinationReferences")?;
        if destination_references.len() > MAX_DESTINATION_REFERENCES {
            return Err(problem(
                "DestinationReferences",
                PropertyProblem::TooMany {
                    max: MAX_DESTINATION_REFERENCES,
                },
            ));
        }
        for reference in &destination_references {
            check_reference(reference).map_err(|p| problem("DestinationReferences", p))?;
        }
        let repositories = text_list(properties, "RepositoryNames")?;
        if let Some(bad) = repositories.iter().find(|r| !is_repository_name(r)) {
            return Err(problem(
                "RepositoryNames",
                PropertyProblem::InvalidRepositoryName(bad.clone()),
            ));
        }
        let spec = Self {
            name,
            description,
            approver_arn,
            destination_references,
            repositories,
        };
        let chars = spec.content().chars().count();
        if chars > MAX_CONTENT_CHARS {
            return Err(problem(
                "DestinationReferences",
                PropertyProblem::ContentTooLong { chars },
            ));
        }
        Ok(spec)
    }

    /// The template content: one approval from [`TemplateSpec::approver_arn`] for pull
    /// requests into [`TemplateSpec::destination_references`].
    pub fn content(&self) -> String {
        rule_content(&self.approver_arn, &self.destination_references)
    }
}
