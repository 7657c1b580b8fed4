//! Newtypes for the identifiers the gate passes around, so a commit id is never mistaken for a revision id.

use serde::{Deserialize, Serialize};
use std::fmt;

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            /// Wraps a raw identifier.
            pub fn new(value: impl Into<String>) -> Self {
                Self(value.into())
            }

            /// The identifier as AWS spells it.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl From<&str> for $name {
            fn from(value: &str) -> Self {
                Self(value.to_owned())
            }
        }

        impl From<String> for $name {
            fn from(value: String) -> Self {
                Self(value)
            }
        }
    };
}

id_type!(
    /// A CodeCommit pull request id: a string of digits, e.g. `"227"`.
    PullRequestId
);
id_type!(
    /// A git commit id (40 hex characters in real events).
    CommitId
);
id_type!(
    /// A pull request revision id; approvals are bound to exactly one.
    RevisionId
);
id_type!(
    /// A CodeCommit repository name.
    RepositoryName
);
id_type!(
    /// The name of a check in the gate file.
    CheckName
);
id_type!(
    /// The name of a component in the gate file.
    ComponentName
);
id_type!(
    /// A CodeCommit comment id.
    CommentId
);

impl CommitId {
    /// The first 8 characters, for humans.
    pub fn short(&self) -> &str {
        short_id(&self.0)
    }
}

impl RevisionId {
    /// The first 8 characters, for humans.
    pub fn short(&self) -> &str {
        short_id(&self.0)
    }
}

/// The first 8 characters of an id (a commit, a revision) as a plain string, for humans (all
/// of it when shorter). [`CommitId::short`] and [`RevisionId::short`] for the typed ids.
pub fn short_id(id: &str) -> &str {
    let end = id.char_indices().nth(8).map_or(id.len(), |(i, _)| i);
    &id[..end]
}
