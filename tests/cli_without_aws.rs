//! The `gate` CLI with and without the `aws` feature (`cargo gate` builds it without): every
//! subcommand and flag stays, and only `approve`, `reject` and `--remote` need AWS. Without it
//! they answer with a usage error (exit 2) that says how to get a `gate` with it.
//!
//! `cargo test` runs these with the default features; `cargo test --no-default-features --test
//! cli_without_aws` runs them on the build without AWS (`.ci/run` runs both, and clippy keeps
//! that build free of warnings).

use codecommit_gate::cli::{EXIT_ERROR, built_without_aws, main_with_args};

/// Runs `gate args…` in this process: its exit code, standard output and standard error.
fn gate(args: &[&str]) -> (u8, String, String) {
    let (mut out, mut err) = (Vec::new(), Vec::new());
    let code = main_with_args(
        std::iter::once("gate").chain(args.iter().copied()),
        &mut out,
        &mut err,
    );
    (
        code,
        String::from_utf8_lossy(&out).into_owned(),
        String::from_utf8_lossy(&err).into_owned(),
    )
}

#[test]
fn the_refusal_names_the_command_and_how_to_get_a_gate_with_aws() {
    insta::assert_snapshot!(built_without_aws("approve"), @"`gate approve` needs AWS, and this gate was built without AWS support (without the `aws` feature, as `cargo gate` builds it). Use a gate built with it (default features): `cargo run --profile cli --bin gate -- approve ...` in this repository, or install one with `cargo install --path . --profile cli --bin gate`");
    let remote = built_without_aws("release status --remote");
    assert!(
        remote.starts_with("`gate release status --remote` needs AWS")
            && remote
                .contains("`cargo run --profile cli --bin gate -- release status --remote ...`"),
        "{remote}"
    );
}

/// What `gate command` says about AWS: with the `aws` feature, the command goes as far as
/// `with_aws` (a usage error met before any request); without it, the refusal.
fn needs_aws(args: &[&str], command: &str, with_aws: &str) {
    let (code, out, err) = gate(args);
    assert_eq!(code, EXIT_ERROR, "{args:?}: {err}");
    assert_eq!(out, "", "{args:?}");
    if cfg!(feature = "aws") {
        assert!(
            err.contains(with_aws) && !err.contains("without AWS support"),
            "{args:?}: {err}"
        );
    } else {
        assert_eq!(
            err,
            format!("gate: {}\n", built_without_aws(command)),
            "{args:?}"
        );
    }
}

#[test]
fn approve_and_reject_need_aws() {
    // A URL without a region in it: the aws build stops there, before any credentials or
    // request.
    let decide = |verb| {
        [
            verb,
            "--repository",
            "api",
            "--environment",
            "production",
            "--url",
            "https://gate.invalid/",
        ]
    };
    let region = "cannot tell the region from `https://gate.invalid/`";
    needs_aws(&decide("approve"), "approve", region);
    needs_aws(&decide("reject"), "reject", region);
}

#[test]
fn remote_reads_need_aws() {
    // Without --repository: the aws build stops at that usage error, before any request.
    let repository = "--remote needs --repository NAME";
    needs_aws(&["history", "--remote"], "history --remote", repository);
    needs_aws(
        &["history", "--remote", "--releases", "--limit", "3"],
        "history --remote --releases",
        repository,
    );
    needs_aws(
        &["release", "status", "--remote"],
        "release status --remote",
        repository,
    );
}

#[test]
fn every_subcommand_and_flag_is_there_either_way() {
    let (code, out, _) = gate(&["--help"]);
    assert_eq!(code, 0);
    for command in [
        "validate", "plan", "inspect", "schema", "run", "merge", "release", "approve", "reject",
        "history", "event",
    ] {
        assert!(out.contains(&format!("\n  {command} ")), "{command}: {out}");
    }
    for (args, flags) in [
        (
            &["approve", "--help"][..],
            &[
                "--repository",
                "--environment",
                "--reason",
                "--url",
                "--region",
            ][..],
        ),
        (
            &["reject", "--help"],
            &[
                "--repository",
                "--environment",
                "--reason",
                "--url",
                "--region",
            ],
        ),
        (
            &["history", "--help"],
            &["--remote", "--repository", "--table"],
        ),
        (
            &["release", "--help"],
            &["--remote", "--repository", "--table"],
        ),
    ] {
        let (code, out, _) = gate(args);
        assert_eq!(code, 0, "{args:?}");
        for flag in flags {
            assert!(out.contains(&format!(" {flag} ")), "{args:?} {flag}: {out}");
        }
    }
}
