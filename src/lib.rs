//! codecommit-gate: a gated check-in for AWS CodeCommit pull requests.
//!
//! EventBridge delivers a pull-request event → [`event`] turns it into our own typed event →
//! the repository's gate file ([`gate_file`]) and the changed paths give a [`plan`] of checks →
//! the checks run (Step Functions + CodeBuild on AWS, local processes with `gate run`) →
//! [`policy`] turns the results into a verdict and [`report`] writes the one sticky PR comment.
//!
//! The core (`event`, `gate_file`, `plan`, `policy`, `report`) is pure: no AWS SDK, no tokio,
//! no I/O. `local` holds the adapters for the embedded default; `cli` is the `gate` command.
//! `setup` is gate-setup, the CloudFormation custom resource that keeps the approval rule
//! template (one approval from the gate, on every gated repository) in place.
//!
//! The feature `aws` (default) builds `aws` (the SDK adapters), `lambda` and `setup`; without
//! it the crate is the core, the local adapters and the `gate` CLI, whose `approve`, `reject`
//! and `--remote` then refuse with a usage error (docs/performance.md §12).

pub mod announce;
#[cfg(feature = "aws")]
pub mod aws;
pub mod cli;
pub mod clock;
pub mod config;
pub mod event;
pub mod flows;
pub mod gate_file;
pub mod ids;
#[cfg(feature = "aws")]
pub mod lambda;
pub mod local;
pub mod machine;
pub mod memory;
pub mod merge_queue;
pub mod metrics;
pub mod plan;
pub mod policy;
pub mod ports;
pub mod release;
pub mod report;
pub mod reuse;
pub mod rule_content;
#[cfg(feature = "aws")]
pub mod setup;
pub mod test_reports;
pub mod trust;
