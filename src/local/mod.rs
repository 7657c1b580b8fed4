//! Adapters for the embedded default: a git repository on this machine instead of CodeCommit.

pub mod git;
