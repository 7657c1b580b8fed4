//! Where a Lambda's cold start goes: the phases of `src/bin/gate-start.rs`'s `main`, each timed
//! in a fresh process (one-time costs only show up once per process), 30 processes.
//! `cargo bench --bench startup`; the figures go in docs/performance.md.
//!
//! The parent re-runs this executable as a child with the environment the template gives the
//! function (fake credentials, region, the GATE_* variables, the reporter role, an empty HOME);
//! the child times each phase and prints one line of microseconds. Two variants: with the
//! reporter role (`GATE_REPORTER_ROLE_ARN`, as deployed) and without it.

use codecommit_gate::config::Config;
use codecommit_gate::{aws, lambda};
use std::process::Command;
use std::time::Instant;

const CHILD: &str = "GATE_STARTUP_BENCH_CHILD";
const RUNS: usize = 30;
const PHASES: [&str; 6] = [
    "tokio runtime",
    "tracing init",
    "Config::from_env",
    "aws_config load",
    "clients (+AssumeRoleProvider)",
    "total",
];

fn child() {
    let t0 = Instant::now();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let t1 = Instant::now();
    lambda::init_logging();
    let t2 = Instant::now();
    let config = Config::from_env(true).expect("config");
    let t3 = Instant::now();
    let (t4, t5) = rt.block_on(async {
        let sdk = aws::load_sdk_config().await;
        let t4 = Instant::now();
        let clients = aws::Clients::from_config(&sdk, config.reporter_role_arn.as_deref()).await;
        let _keep = (
            clients.pull_requests(),
            clients.executions(config.state_machine_arn.clone().unwrap_or_default()),
            clients.ledger(config.table_name.clone()),
            clients.notifier(config.topic_arn.clone()),
            clients.logs(),
        );
        (t4, Instant::now())
    });
    let us = |a: Instant, b: Instant| (b - a).as_secs_f64() * 1e6;
    println!(
        "{:.1} {:.1} {:.1} {:.1} {:.1} {:.1}",
        us(t0, t1),
        us(t1, t2),
        us(t2, t3),
        us(t3, t4),
        us(t4, t5),
        us(t0, t5)
    );
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

fn run_children(runs: usize, with_role: bool, home: &std::path::Path) -> Vec<Vec<f64>> {
    let exe = std::env::current_exe().expect("current exe");
    let mut samples = vec![Vec::new(); PHASES.len()];
    for i in 0..=runs {
        let mut cmd = Command::new(&exe);
        cmd.env_clear()
            .env(CHILD, "1")
            .env("HOME", home)
            .env("PATH", "/usr/bin:/bin")
            .env("AWS_LAMBDA_LOG_FORMAT", "JSON")
            .env("AWS_REGION", "us-east-1")
            .env("AWS_DEFAULT_REGION", "us-east-1")
            .env("AWS_ACCESS_KEY_ID", "AKIAIOSFODNN7EXAMPLE")
            .env(
                "AWS_SECRET_ACCESS_KEY",
                "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
            )
            .env("AWS_SESSION_TOKEN", "FwoGZXIvYXdzEXAMPLETOKEN")
            .env(
                "GATE_STATE_MACHINE_ARN",
                "arn:aws:states:us-east-1:123456789012:stateMachine:gate",
            )
            .env("GATE_TABLE_NAME", "gate-ledger")
            .env(
                "GATE_TOPIC_ARN",
                "arn:aws:sns:us-east-1:123456789012:gate-failures",
            )
            .env(
                "GATE_APPROVER_ARN",
                "arn:aws:sts::123456789012:assumed-role/gate-reporter/codecommit-gate",
            );
        if with_role {
            cmd.env(
                "GATE_REPORTER_ROLE_ARN",
                "arn:aws:iam::123456789012:role/gate-reporter",
            );
        }
        let out = cmd.output().expect("run the child");
        assert!(out.status.success(), "child failed: {out:?}");
        let text = String::from_utf8_lossy(&out.stdout);
        let line = text.lines().last().expect("the child's figures");
        if i == 0 {
            continue; // warm-up
        }
        for (slot, value) in samples.iter_mut().zip(line.split_whitespace()) {
            slot.push(value.parse().expect("a number"));
        }
    }
    samples
}

fn main() {
    if std::env::var_os(CHILD).is_some() {
        child();
        return;
    }
    // `cargo bench` passes `--bench`; `cargo test --benches` does not and gets a quick check.
    let quick = !std::env::args().any(|a| a == "--bench");
    let home = tempfile::tempdir().expect("temp HOME");
    if quick {
        let s = run_children(2, true, home.path());
        assert!(s[5].iter().all(|t| *t > 0.0));
        return;
    }
    let with_role = run_children(RUNS, true, home.path());
    let without = run_children(RUNS, false, home.path());
    println!("start-up phases of gate-start's main, median of {RUNS} fresh processes (µs)");
    println!("{:<32} {:>12} {:>12}", "phase", "with role", "without role");
    for (i, phase) in PHASES.iter().enumerate() {
        println!(
            "{phase:<32} {:>12.0} {:>12.0}",
            median(with_role[i].clone()),
            median(without[i].clone())
        );
    }
}
