//! The approval-rule content CodeCommit stores (format version `2018-11-08`): built in one place, compared by meaning.
//!
//! A per-PR rule and a template share one shape: one `Approvers` statement needing one approval
//! from a pool whose only member is the gate's reporting identity. A template adds
//! `DestinationReferences` (the branches whose pull requests get the rule; none = every
//! branch). `flow::approval_rule_content` still builds the per-PR rule on its own; it is the
//! same as [`rule_content`] with no destination references, and should call it.

use serde_json::{Value, json};

/// The format version every approval rule content carries.
pub const CONTENT_VERSION: &str = "2018-11-08";

/// The longest content CodeCommit accepts, in characters (CC-UG `limits.md`).
pub const MAX_CONTENT_CHARS: usize = 3000;

/// One approval from `approver_arn`, for pull requests into any of `destination_references`
/// (`refs/heads/...`); an empty list leaves the key out, which means every branch.
pub fn rule_content(approver_arn: &str, destination_references: &[String]) -> String {
    let statements = json!([{
        "Type": "Approvers",
        "NumberOfApprovalsNeeded": 1,
        "ApprovalPoolMembers": [approver_arn],
    }]);
    let content = if destination_references.is_empty() {
        json!({ "Version": CONTENT_VERSION, "Statements": statements })
    } else {
        json!({
            "Version": CONTENT_VERSION,
            "DestinationReferences": destination_references,
            "Statements": statements,
        })
    };
    content.to_string()
}

/// The content of the gate's approval rule template.
pub fn template_content(approver_arn: &str, destination_references: &[String]) -> String {
    rule_content(approver_arn, destination_references)
}

/// Whether two contents say the same thing: equal as JSON values, so key order and
/// whitespace do not matter (CodeCommit returns the content as it was written, e.g. with
/// spaces after colons). Text that is not JSON only equals the identical text.
pub fn same_content(a: &str, b: &str) -> bool {
    match (
        serde_json::from_str::<Value>(a),
        serde_json::from_str::<Value>(b),
    ) {
        (Ok(a), Ok(b)) => a == b,
        _ => a == b,
    }
}
