//! The custom-resource response body: the fields CFN-UG `crpg-ref-responses.md` names, always a `Reason`, never more than 4096 bytes.
//!
//! `aws_lambda_events`' response type is not used: it serializes `"Reason": null`, defaults
//! `PhysicalResourceId` to `""` and always writes `NoEcho` (aws-reference-2 §3).

use super::request::ResponseTarget;
use indexmap::IndexMap;
use serde::{Deserialize, Serialize};
use std::fmt;

/// The most bytes CloudFormation accepts in a response body.
pub const MAX_RESPONSE_BYTES: usize = 4096;

/// What a cut `Reason` ends with.
pub const TRUNCATED: &str = " [truncated]";

/// The physical id of a resource for which no template is ours (a failed Create, a malformed
/// request): non-empty, the same for every delivery of the request, and never a template name
/// (`:` cannot appear in one), so the Delete that follows a FAILED Create touches nothing.
pub fn fallback_physical_id(logical_resource_id: &str) -> String {
    let logical: String = logical_resource_id.chars().take(255).collect();
    if logical.is_empty() {
        "codecommit-gate:no-template".to_owned()
    } else {
        format!("codecommit-gate:no-template:{logical}")
    }
}

/// `SUCCESS` or `FAILED`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ResponseStatus {
    /// The resource is as requested.
    Success,
    /// It is not; `Reason` says why.
    Failed,
}

impl fmt::Display for ResponseStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Success => "SUCCESS",
            Self::Failed => "FAILED",
        })
    }
}

/// The attributes a successful Create or Update returns in `Data` (`Fn::GetAtt`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TemplateData {
    /// `TemplateName`.
    pub template_name: String,
    /// `TemplateId` (`approvalRuleTemplateId`).
    pub template_id: String,
}

impl TemplateData {
    /// As `Data`'s name-value pairs.
    pub fn to_data(&self) -> IndexMap<String, String> {
        IndexMap::from([
            ("TemplateName".to_owned(), self.template_name.clone()),
            ("TemplateId".to_owned(), self.template_id.clone()),
        ])
    }
}

/// A response to one request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct CustomResourceResponse {
    /// `Status`.
    pub status: ResponseStatus,
    /// `Reason`: why it failed, or what was done (always sent; optional in samples).
    #[serde(default)]
    pub reason: String,
    /// `PhysicalResourceId`.
    pub physical_resource_id: String,
    /// `StackId`, verbatim.
    pub stack_id: String,
    /// `RequestId`, verbatim.
    pub request_id: String,
    /// `LogicalResourceId`, verbatim.
    pub logical_resource_id: String,
    /// `Data`, on success of Create and Update: name-value pairs for `Fn::GetAtt`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data: Option<IndexMap<String, String>>,
}

impl CustomResourceResponse {
    /// A response to the request `target` came from.
    pub fn new(
        target: &ResponseTarget,
        status: ResponseStatus,
        reason: impl Into<String>,
        physical_resource_id: impl Into<String>,
        data: Option<&TemplateData>,
    ) -> Self {
        let physical_resource_id = physical_resource_id.into();
        Self {
            status,
            reason: reason.into(),
            physical_resource_id: if physical_resource_id.is_empty() {
                fallback_physical_id(&target.logical_resource_id)
            } else {
                physical_resource_id
            },
            stack_id: target.stack_id.clone(),
            request_id: target.request_id.clone(),
            logical_resource_id: target.logical_resource_id.clone(),
            data: data.map(TemplateData::to_data),
        }
    }

    fn render(&self, reason: &str) -> String {
        let mut copy = self.clone();
        copy.reason = reason.to_owned();
        // Strings and a two-string map: serialization cannot fail.
        serde_json::to_string(&copy).unwrap_or_default()
    }

    /// The JSON body, at most [`MAX_RESPONSE_BYTES`]: a `Reason` that does not fit is cut
    /// to the longest prefix (on a character boundary) that fits with [`TRUNCATED`] after it.
    pub fn body(&self) -> String {
        let body = self.render(&self.reason);
        if body.len() <= MAX_RESPONSE_BYTES {
            return body;
        }
        let cut = |keep: usize| {
            let prefix: String = self.reason.chars().take(keep).collect();
            self.render(&format!("{prefix}{TRUNCATED}"))
        };
        // The longest prefix that fits: escaping makes bytes per character vary (1 to 6),
        // so search rather than subtract.
        let (mut fits, mut too_long) = (0, self.reason.chars().count());
        while too_long - fits > 1 {
            let mid = fits + (too_long - fits) / 2;
            if cut(mid).len() <= MAX_RESPONSE_BYTES {
                fits = mid;
            } else {
                too_long = mid;
            }
        }
        let body = cut(fits);
        if body.len() > MAX_RESPONSE_BYTES {
            tracing::error!(
                bytes = body.len(),
                "the response is over 4096 bytes even without a reason"
            );
        }
        body
    }
}
