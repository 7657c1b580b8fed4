//! The approval-rule content CodeCommit stores (format version `2018-11-08`): built in one place, compared by meaning.
//!
//! A per-PR rule and a template share one shape: one `Approvers` statement needing one approval
//! from a pool whose only member is the gate's reporting identity. A template adds
//! `DestinationReferences` (the branches whose pull requests get the rule; none = every
//! branch). [`requires_only`] tells whether a rule found on a pull request is as strict as the
//! gate's own.

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

/// Whether a rule's content requires an approval from `approver_arn` and from nobody else: an
/// `Approvers` statement needing one approval or more whose pool is exactly `approver_arn`.
/// Content that is not JSON requires nothing.
pub fn requires_only(content: &str, approver_arn: &str) -> bool {
    let Ok(value) = serde_json::from_str::<Value>(content) else {
        return false;
    };
    value
        .get("Statements")
        .and_then(Value::as_array)
        .is_some_and(|statements| {
            statements.iter().any(|st| {
                let pool = st.get("ApprovalPoolMembers").and_then(Value::as_array);
                st.get("Type").and_then(Value::as_str) == Some("Approvers")
                    && st
                        .get("NumberOfApprovalsNeeded")
                        .and_then(Value::as_u64)
                        .is_some_and(|n| n >= 1)
                    && pool.is_some_and(|p| {
                        !p.is_empty() && p.iter().all(|m| m.as_str() == Some(approver_arn))
                    })
            })
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    const GATE: &str = "arn:aws:sts::123456789012:assumed-role/R/codecommit-gate";

    #[test]
    fn only_a_pool_of_exactly_the_gate_requires_the_gate() {
        assert!(requires_only(&rule_content(GATE, &[]), GATE));
        assert!(requires_only(
            &rule_content(GATE, &["refs/heads/main".to_owned()]),
            GATE
        ));
        let wider = rule_content(GATE, &[]).replace(
            &format!("[\"{GATE}\"]"),
            &format!("[\"{GATE}\",\"arn:aws:iam::123456789012:user/mallory\"]"),
        );
        assert!(!requires_only(&wider, GATE), "another member could approve");
        let none = rule_content(GATE, &[]).replace(
            "\"NumberOfApprovalsNeeded\":1",
            "\"NumberOfApprovalsNeeded\":0",
        );
        assert!(!requires_only(&none, GATE));
        assert!(!requires_only("not json", GATE));
        assert!(!requires_only(
            &rule_content("arn:aws:iam::1:user/x", &[]),
            GATE
        ));
    }
}
