//! The integration tests, one crate: each file of `tests/` is a module of it, so the suite
//! compiles and links one test binary instead of one per file (docs/performance.md §12).
//! `cargo test --test suite <file>::` runs one file's tests.

// The shared set-up (`tests/support/`), under the names the files use.
#[path = "support/codecommit_mock.rs"]
mod codecommit_mock;
#[path = "support/moto_machine.rs"]
mod moto_machine;
#[path = "support/moto.rs"]
mod moto_server;
#[path = "support/queue_entry.rs"]
mod queue_entry;
#[path = "support/queue_world.rs"]
mod queue_world;
#[path = "support/scratch.rs"]
mod scratch;
#[path = "support/approval_story.rs"]
mod story;
#[path = "support/world.rs"]
mod world;

mod aws_codebuild;
mod aws_codecommit;
mod aws_dynamodb;
mod aws_events;
mod aws_logs;
mod aws_merge_queues;
mod aws_merges;
mod aws_rule_templates;
mod aws_sfn;
mod aws_sns;
mod build_cache;
mod cache_reuse;
mod calls;
mod cli;
mod critical_path;
mod events;
mod faults;
mod gate_file;
mod gate_report;
mod gate_report_coverage_delta;
mod gate_report_reports;
mod gate_start;
mod gate_start_reuse;
mod lambda;
mod lifecycle;
mod local_reports;
mod local_run;
mod logging;
mod machine;
mod merge;
mod merge_queue;
mod merge_queue_gate;
mod merge_queue_ordering;
mod merge_queue_sim;
mod monorepo;
mod moto;
mod ordering;
mod plan;
mod release;
mod release_approval;
mod release_asl;
mod release_finish;
mod release_lane;
mod release_machine;
mod release_plan;
mod release_start;
mod report;
mod report_queue;
mod setup;
mod template;
mod test_reports;
mod trust;
