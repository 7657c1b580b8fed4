//! The words of `gate merge`: what was merged where (report, standard output, `gate history`), why nothing was, the squash commit's message and the messages the command stops with.

use super::escape::escape;
use crate::ids::short_id;

/// What became of a passing run's merge, as the words need it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MergeNote<'a> {
    /// The base now points at the tested commit.
    Landed {
        /// The branch's full ref.
        base_ref: &'a str,
        /// The commit it pointed at (the one the gate tested on).
        from: &'a str,
        /// The commit it points at now.
        to: &'a str,
        /// `fast-forward`, `merge` or `squash`.
        strategy: &'a str,
    },
    /// The base moved while the gate ran.
    BaseMoved {
        /// The branch's full ref.
        base_ref: &'a str,
        /// The commit the gate tested on.
        tested_on: &'a str,
        /// Where the branch points now.
        now: &'a str,
    },
    /// Nothing was merged, for this reason.
    Refused {
        /// Why.
        why: &'a str,
    },
}

/// The branch name of a full ref (`refs/heads/main` → `main`).
fn branch(base_ref: &str) -> &str {
    base_ref.strip_prefix("refs/heads/").unwrap_or(base_ref)
}

/// One plain-text line (standard output).
pub fn line(note: MergeNote<'_>) -> String {
    match note {
        MergeNote::Landed {
            base_ref,
            from,
            to,
            strategy,
        } => format!(
            "Merged ({strategy}): {} {} → {}, the commit the gate tested.",
            branch(base_ref),
            short_id(from),
            short_id(to)
        ),
        MergeNote::BaseMoved {
            base_ref,
            tested_on,
            now,
        } => format!(
            "Not merged: {} moved from {} to {} while the gate ran; its new commits were not \
             tested with this change.",
            branch(base_ref),
            short_id(tested_on),
            short_id(now)
        ),
        MergeNote::Refused { why } => format!("Not merged: {why}"),
    }
}

/// The Markdown section the report ends with.
pub fn section(note: MergeNote<'_>) -> String {
    let text = match note {
        MergeNote::Landed {
            base_ref,
            from,
            to,
            strategy,
        } => format!(
            "**Merged** ({strategy}): {} moved from `{}` to `{}`, the commit whose tree the \
             checks above ran on.",
            escape(branch(base_ref)),
            short_id(from),
            short_id(to)
        ),
        MergeNote::BaseMoved {
            base_ref,
            tested_on,
            now,
        } => format!(
            "**Not merged**: {} moved from `{}` to `{}` while the gate ran, so this result \
             does not cover what would merge now.",
            escape(branch(base_ref)),
            short_id(tested_on),
            short_id(now)
        ),
        MergeNote::Refused { why } => format!("**Not merged**: {}", escape(why)),
    };
    format!("\n### Gated merge\n\n{text}\n")
}

/// A merge in `gate history`'s text.
pub fn history_line(base_ref: &str, from: &str, to: &str, strategy: &str) -> String {
    format!(
        "merged: {} {} → {} ({strategy})",
        branch(base_ref),
        short_id(from),
        short_id(to)
    )
}

/// The reflog message of the base's move.
pub fn reflog_message(strategy: &str, head: &str) -> String {
    format!("gate merge ({strategy}): {head}, tested")
}

/// A squash commit's message: the head's subject, then where it came from.
pub fn squash_message(subject: &str, source: &str, head: &str) -> String {
    format!(
        "{subject}\n\nSquash of {source} at {head}, tested and merged by `gate merge`.\n",
        head = short_id(head)
    )
}

/// Why a fast-forward is impossible.
pub fn not_fast_forward(source: &str, base_commit: &str) -> String {
    format!(
        "{source} is not a fast-forward of the base ({}): the base has commits {source} does not \
         have. Rebase {source} on the base, or use --strategy merge or squash.",
        short_id(base_commit)
    )
}

/// The check before moving: the commit to land must have the tested tree.
pub fn tree_differs(commit: &str, tree: &str, tested_tree: &str) -> String {
    format!(
        "the commit to land ({}) has tree {}, not the tested tree {}; the base was not moved.",
        short_id(commit),
        short_id(tree),
        short_id(tested_tree)
    )
}

/// Said before testing again on the moved base.
pub fn retesting(base: &str, retest: u32, max: u32) -> String {
    format!("gate: testing again on top of the new {base} (retest {retest} of {max})")
}

/// Said when the base kept moving.
pub fn gave_up(base: &str, max: u32) -> String {
    format!(
        "{base} kept moving while the gate ran; gave up after {max} retest{}. {base} was not \
         changed by the gate.",
        if max == 1 { "" } else { "s" }
    )
}

/// Said when the head is already part of the base.
pub fn nothing_to_merge(head: &str, base: &str) -> String {
    format!("Nothing to merge: {head} is already part of {base}.")
}

/// Why `gate merge` refuses a base checked out in a work tree.
pub fn checked_out(base: &str, path: &str) -> String {
    format!(
        "{base} is checked out in {path}: moving it there would leave that working tree stale. \
         Check out another branch there (e.g. `git switch --detach`), then run gate merge again."
    )
}

/// Why `gate merge` needs a local branch.
pub fn not_a_branch(base: &str) -> String {
    format!("--base {base} is not a local branch: gate merge can only advance a local branch")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_landing_names_the_branch_both_commits_and_the_strategy() {
        let note = MergeNote::Landed {
            base_ref: "refs/heads/main",
            from: &"a".repeat(40),
            to: &"b".repeat(40),
            strategy: "squash",
        };
        assert_eq!(
            line(note),
            "Merged (squash): main aaaaaaaa → bbbbbbbb, the commit the gate tested."
        );
        assert!(section(note).contains("main moved from `aaaaaaaa` to `bbbbbbbb`"));
    }

    #[test]
    fn user_text_in_the_report_is_made_inert() {
        let note = MergeNote::Refused {
            why: "<!-- x --> [link](http://e)",
        };
        assert!(!section(note).contains("<!--"));
        assert!(!section(note).contains("[link]("));
    }
}
