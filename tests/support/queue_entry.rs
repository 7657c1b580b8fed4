//! A stand-in for the merge queue core's entry type: the queue adapters store any serde type
//! whole and never look inside, so their tests use this small one.

use serde::{Deserialize, Serialize};

/// A queued pull request and its state, as the core might store it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    pub pr: String,
    pub state: String,
}

/// The entry of pull request `pr` in `state`.
pub fn entry(pr: &str, state: &str) -> Entry {
    Entry {
        pr: pr.into(),
        state: state.into(),
    }
}
