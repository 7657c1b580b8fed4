//! The gate file's `merge` section: who may queue a pull request for the destination's merge
//! queue (`/gate merge`), the strategy a command that names none uses, and how deep the queue
//! tests speculatively. Read from the destination's (trusted) gate file only.

use super::{Errors, Globs, at, compile_arn_globs};
use crate::ports::merges::QueueStrategy;

/// The deepest speculation a gate file may ask for: each level is one more run that a failure
/// ahead of it wastes.
pub const MAX_DEPTH: u32 = 8;

/// The YAML as written.
pub mod raw {
    use schemars::JsonSchema;
    use serde::Deserialize;
    use serde_saphyr::Spanned;

    /// The merge queue of pull requests into this branch (`/gate merge`).
    #[derive(Debug, Default, Deserialize, JsonSchema)]
    #[serde(deny_unknown_fields)]
    pub struct Merge {
        /// IAM ARN globs of who may queue a pull request (`/gate merge`). Default: none, so
        /// the pull request's author and the `skip.authors` may.
        #[serde(default)]
        #[schemars(with = "Vec<String>")]
        pub allowed_authors: Vec<Spanned<String>>,
        /// How a pull request queued without a strategy becomes one commit on the
        /// destination. Default: `three-way`.
        #[serde(default)]
        pub default_strategy: Option<Strategy>,
        /// How many queued pull requests are tested at once, each on the merge of those ahead
        /// of it (1–8). Default: 1 (one at a time).
        #[serde(default)]
        #[schemars(with = "Option<u32>")]
        pub depth: Option<Spanned<u32>>,
    }

    /// A merge strategy.
    #[derive(Debug, Clone, Copy, Deserialize, JsonSchema)]
    #[serde(rename_all = "kebab-case")]
    pub enum Strategy {
        /// The destination moves to the source itself (only when it is an ancestor).
        FastForward,
        /// One commit with the merged tree, the destination its only parent.
        Squash,
        /// A merge commit with both parents.
        ThreeWay,
    }
}

/// The validated `merge` section.
#[derive(Debug, Clone)]
pub struct MergeSettings {
    /// Who may queue (empty: the PR's author and the `skip.authors`).
    pub allowed_authors: Globs,
    /// The strategy of a `/gate merge` that names none.
    pub default_strategy: QueueStrategy,
    /// How many entries are tested at once (1: serial).
    pub depth: u32,
}

impl From<raw::Strategy> for QueueStrategy {
    fn from(s: raw::Strategy) -> Self {
        match s {
            raw::Strategy::FastForward => QueueStrategy::FastForward,
            raw::Strategy::Squash => QueueStrategy::Squash,
            raw::Strategy::ThreeWay => QueueStrategy::ThreeWay,
        }
    }
}

/// Validates `merge`: ARN globs that compile, a depth in 1..=[`MAX_DEPTH`].
pub(super) fn validate(raw: &raw::Merge, errors: &mut Errors<'_>) -> MergeSettings {
    let depth = match &raw.depth {
        Some(d) if !(1..=MAX_DEPTH).contains(&d.value) => {
            errors.push(
                at(d),
                format!("`merge.depth` {} is out of range", d.value),
                "use 1 (one pull request at a time) up to 8",
            );
            1
        }
        Some(d) => d.value,
        None => 1,
    };
    MergeSettings {
        allowed_authors: compile_arn_globs(&raw.allowed_authors, errors),
        default_strategy: raw
            .default_strategy
            .map_or(QueueStrategy::ThreeWay, QueueStrategy::from),
        depth,
    }
}
