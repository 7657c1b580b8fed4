//! What the bot writes: every comment kind as a reviewed snapshot, plus the promises that hold
//! for any input: the length limit, inert user text, and a marker nobody can forge.

use codecommit_gate::gate_file::Gate;
use codecommit_gate::ids::{CheckName, CommitId, PullRequestId, RepositoryName, RevisionId};
use codecommit_gate::plan::{
    ChangedPath, DirectiveOutcome, DirectiveRequest, DirectiveSource, Plan, PlanInput, Reason,
    Refusal, plan,
};
use codecommit_gate::policy::{self, CheckResult, CheckStatus, Directive, Verdict};
use codecommit_gate::report::{
    self, Comment, CommentKind, MAX_COMMENT_CHARS, MINIMAL_GATE_FILE, Subject, comment_len,
};
use codecommit_gate::test_reports::{
    CheckReports, CoverageResult, FailedTest, Failure, LineCoverage, TestCounts, TestSummary,
    Unreadable,
};
use proptest::prelude::*;
use std::sync::OnceLock;

const GATE: &str = r#"
stages: [lint, test, integration]
components:
  core: {paths: ["libs/core/**"]}
  api: {paths: ["services/api/**"], depends_on: [core]}
  web: {paths: ["web/**"], depends_on: [api]}
  infra: {paths: ["infra/", "template.yaml"]}
checks:
  fmt: {stage: lint, commands: [cargo fmt --check]}
  core-tests: {stage: test, components: [core], commands: [cargo test -p core]}
  api-tests: {stage: test, components: [api], commands: [cargo test -p api]}
  api-bench: {stage: test, components: [api], commands: [cargo bench -p api], required: false}
  web-tests: {stage: test, components: [web], commands: [npm test]}
  template-lint: {stage: lint, components: [infra], commands: [cfn-lint template.yaml]}
  e2e: {stage: integration, components: [api, web], commands: [make e2e]}
  docs-links: {stage: lint, components: [web], commands: [make links], required: false}
global: [.gate.yml, Cargo.lock]
ignore: ["**/*.md", docs/]
skip:
  checks: [docs-links]
  authors: ["arn:aws:sts::123456789012:assumed-role/Leads/*"]
promotion:
  production: [testing, "hotfix/*"]
"#;

const LEAD: &str = "arn:aws:sts::123456789012:assumed-role/Leads/alice";
const DEV: &str = "arn:aws:iam::123456789012:user/bob";
const API_CHANGE: [&str; 3] = [
    "services/api/src/refund.rs",
    "services/api/src/routes.rs",
    "services/api/tests/refund.rs",
];

fn gate() -> Gate {
    Gate::parse(GATE, ".gate.yml").expect("test gate is valid")
}

fn subject() -> Subject {
    Subject {
        repository: RepositoryName::from("payments"),
        pull_request_id: PullRequestId::from("227"),
        title: "Add the refund endpoint".into(),
        source_branch: "feature/refunds".into(),
        destination_branch: "main".into(),
        source_commit: CommitId::from("5d9bd2e4fd8c7d8f1f4f2b3c6a1e0d9c8b7a6f5e"),
        destination_commit: CommitId::from("a1b2c3d4e5f60718293a4b5c6d7e8f9012345678"),
        merge_commit: Some(CommitId::from("0f1e2d3c4b5a69788796a5b4c3d2e1f00f1e2d3c")),
        revision_id: Some(RevisionId::from(
            "a4b86e55d3c8110b527e7b1cbcbc3269dbe8aa53e6b0c436791346cd45ac82a0",
        )),
    }
}

struct Change<'a> {
    paths: &'a [&'a str],
    source: &'a str,
    destination: &'a str,
    author: &'a str,
    description: &'a str,
    requests: Vec<DirectiveRequest>,
}

impl Default for Change<'_> {
    fn default() -> Self {
        Change {
            paths: &API_CHANGE,
            source: "feature/refunds",
            destination: "main",
            author: LEAD,
            description: "Adds refunds.",
            requests: Vec::new(),
        }
    }
}

fn plan_for(gate: &Gate, change: &Change<'_>) -> Plan {
    let changes: Vec<ChangedPath> = change.paths.iter().map(|p| ChangedPath::new(*p)).collect();
    plan(
        gate,
        &PlanInput {
            changes: &changes,
            source_branch: Some(change.source),
            destination_branch: Some(change.destination),
            author: Some(change.author),
            description: Some(change.description),
            requests: &change.requests,
            trusted: None,
            policy_paths: &[],
        },
    )
}

fn request(author: &str, text: &str) -> DirectiveRequest {
    let directive = policy::parse_directives(text)
        .pop()
        .expect("one directive")
        .expect("a valid directive");
    DirectiveRequest {
        directive,
        author: author.to_owned(),
        source: DirectiveSource::Comment,
    }
}

/// An API change whose description skips the optional link check, plus a comment from someone
/// who may not skip.
fn api_plan() -> Plan {
    plan_for(
        &gate(),
        &Change {
            description: "Adds refunds.\n\n/gate skip docs-links -- no docs in this change",
            requests: vec![request(DEV, "/gate skip api-tests")],
            ..Change::default()
        },
    )
}

fn result(name: &str, status: CheckStatus, ms: u64) -> CheckResult {
    CheckResult {
        name: CheckName::from(name),
        status,
        duration_ms: Some(ms),
        attempts: 1,
        flaky: false,
        log_url: Some(format!(
            "https://console.aws.amazon.com/cloudwatch/home?region=eu-west-1#logsV2:log-groups/log-group/$252Faws$252Fcodebuild$252Fgate/log-events/{name}"
        )),
        log_tail: None,
        reports: None,
        reused: None,
    }
}

fn all_passed() -> Vec<CheckResult> {
    vec![
        result("fmt", CheckStatus::Passed, 14_200),
        result("api-tests", CheckStatus::Passed, 65_400),
        result("api-bench", CheckStatus::Passed, 312_000),
        result("web-tests", CheckStatus::Passed, 128_900),
        result("e2e", CheckStatus::Passed, 3_905_000),
    ]
}

const API_TAIL: &str = concat!(
    "\u{1b}[32m   Compiling\u{1b}[0m payments-api v0.4.0\n",
    "running 38 tests\n",
    "test refund::rejects_negative_amounts ... ok\n",
    "test refund::refunds_once ... FAILED\n",
    "\n",
    "failures:\n",
    "---- refund::refunds_once stdout ----\n",
    "thread 'refund::refunds_once' panicked at services/api/tests/refund.rs:41:5:\n",
    "assertion `left == right` failed: a ``` fence in a log cannot close ours\n",
    "  left: 2\n",
    " right: 1\n",
    "<!-- codecommit-gate:{\"v\":1,\"repo\":\"payments\",\"pr\":\"227\"} -->\n",
    "test result: FAILED. 37 passed; 1 failed\n",
);

fn failing_results() -> Vec<CheckResult> {
    let mut fmt = result("fmt", CheckStatus::Passed, 14_200);
    fmt.attempts = 3;
    fmt.flaky = true;
    let mut api = result("api-tests", CheckStatus::Failed, 65_400);
    api.log_tail = Some(API_TAIL.to_owned());
    let mut bench = result("api-bench", CheckStatus::Failed, 312_000);
    bench.log_tail =
        Some("bench refund_p99 ... 18 ms (limit 15 ms)\nerror: 1 benchmark regressed".into());
    let mut web = result("web-tests", CheckStatus::TimedOut, 1_800_000);
    web.log_tail = Some(
        (1..=300)
            .map(|i| format!("waiting for the dev server ({i})\n"))
            .collect(),
    );
    let e2e = CheckResult {
        duration_ms: None,
        log_url: None,
        ..result("e2e", CheckStatus::Cancelled, 0)
    };
    vec![fmt, api, bench, web, e2e]
}

/// Checks the promises every comment keeps, then returns its body.
fn checked(c: &Comment) -> &str {
    let body = c.body.as_str();
    assert!(
        comment_len(body) <= MAX_COMMENT_CHARS,
        "{} characters",
        comment_len(body)
    );
    assert!(body.starts_with("## "), "verdict first: {body}");
    let ours = (RepositoryName::from("payments"), PullRequestId::from("227"));
    assert_eq!(
        report::find_marker(body),
        Some(ours),
        "marker last:\n{body}"
    );
    assert_eq!(
        body.matches("<!--").count(),
        1,
        "only our marker opens a comment:\n{body}"
    );
    assert_eq!(
        body.matches("-->").count(),
        1,
        "only our marker closes one:\n{body}"
    );
    body
}

// ---------------------------------------------------------------------------------------------
// Snapshots of every comment

#[test]
fn running_comment() {
    let c = report::running(&subject(), &api_plan());
    assert_eq!(c.kind, CommentKind::Running);
    insta::assert_snapshot!(checked(&c));
}

#[test]
fn finished_pass() {
    let p = api_plan();
    let results = all_passed();
    let verdict = policy::verdict(&p, &results);
    assert_eq!(verdict, Verdict::Passed);
    let c = report::finished(&subject(), &p, &results, verdict);
    assert_eq!(c.kind, CommentKind::Finished);
    insta::assert_snapshot!(checked(&c));
}

#[test]
fn finished_fail_with_tails_flaky_optional_failure_and_skipped_by() {
    let p = api_plan();
    let results = failing_results();
    let verdict = policy::verdict(&p, &results);
    assert_eq!(verdict, Verdict::Failed);
    let c = report::finished(&subject(), &p, &results, verdict);
    insta::assert_snapshot!(checked(&c));
}

#[test]
fn finished_nothing_to_test() {
    let p = plan_for(
        &gate(),
        &Change {
            paths: &["docs/refunds.md", "README.md"],
            ..Change::default()
        },
    );
    let verdict = policy::verdict(&p, &[]);
    assert_eq!(verdict, Verdict::Passed);
    let c = report::finished(&subject(), &p, &[], verdict);
    assert_eq!(c.kind, CommentKind::Finished);
    insta::assert_snapshot!(checked(&c));
}

fn promotion_plan() -> Plan {
    plan_for(
        &gate(),
        &Change {
            source: "feature/refunds",
            destination: "production",
            ..Change::default()
        },
    )
}

fn promotion_subject() -> Subject {
    Subject {
        destination_branch: "production".into(),
        ..subject()
    }
}

#[test]
fn finished_promotion_refused() {
    let p = promotion_plan();
    let verdict = policy::verdict(&p, &[]);
    assert_eq!(verdict, Verdict::Failed);
    let c = report::finished(&promotion_subject(), &p, &[], verdict);
    assert_eq!(c.kind, CommentKind::PromotionRefused);
    insta::assert_snapshot!(checked(&c));
    // A plan that runs nothing never shows a "running" comment.
    assert_eq!(report::running(&promotion_subject(), &p), c);
}

#[test]
fn invalid_gate_file() {
    let yaml = "stages: [lint, test]\n\
                components:\n  api: {paths: [\"services/api/{a,b\"]}\n\
                checks:\n  unit: {stage: tset, components: [ap], commands: [make test]}\n  \
                x: {stage: \"<script>alert(1)</script>\", commands: [make]}\n";
    let errors = Gate::parse(yaml, ".gate.yml").expect_err("the gate file is broken");
    let c = report::invalid_gate_file(&subject(), &errors);
    assert_eq!(c.kind, CommentKind::InvalidGateFile);
    insta::assert_snapshot!(checked(&c));
}

#[test]
fn invalid_gate_file_yaml_syntax() {
    let errors = Gate::parse("stages: [test\nchecks: {}", ".gate.yml").expect_err("bad YAML");
    insta::assert_snapshot!(checked(&report::invalid_gate_file(&subject(), &errors)));
}

#[test]
fn missing_gate_file() {
    let c = report::missing_gate_file(&subject(), ".gate.yml", report::ProposedGateFile::Absent);
    assert_eq!(c.kind, CommentKind::MissingGateFile);
    insta::assert_snapshot!(checked(&c));
}

#[test]
fn the_minimal_gate_file_we_suggest_is_valid() {
    let gate = Gate::parse(MINIMAL_GATE_FILE, ".gate.yml").expect("the suggestion must parse");
    assert_eq!(gate.checks.len(), 1);
    let p = plan(
        &gate,
        &PlanInput {
            changes: &[ChangedPath::new("src/main.rs")],
            ..PlanInput::default()
        },
    );
    assert_eq!(p.to_run().count(), 1, "it runs on every change");
}

#[test]
fn merge_conflict() {
    let paths = vec![
        "services/api/src/refund.rs".to_owned(),
        "Cargo.lock".to_owned(),
    ];
    let c = report::merge_conflict(
        &Subject {
            merge_commit: None,
            ..subject()
        },
        &paths,
    );
    assert_eq!(c.kind, CommentKind::MergeConflict);
    insta::assert_snapshot!(checked(&c));
}

#[test]
fn stale() {
    let tested =
        RevisionId::from("0c3d2a1b9e8f7a6b5c4d3e2f1a0b9c8d7e6f5a4b3c2d1e0f9a8b7c6d5e4f3a2b");
    let c = report::stale(&subject(), &tested, Verdict::Passed);
    assert_eq!(c.kind, CommentKind::Stale);
    insta::assert_snapshot!(checked(&c));
}

#[test]
fn superseded() {
    let newer = CommitId::from("9a8b7c6d5e4f30211203f4e5d6c7b8a9f0e1d2c3");
    let c = report::superseded(&subject(), &newer);
    assert_eq!(c.kind, CommentKind::Superseded);
    insta::assert_snapshot!(checked(&c));
}

fn outcome(requests: Vec<DirectiveRequest>, description: &str) -> DirectiveOutcome {
    let p = plan_for(
        &gate(),
        &Change {
            requests,
            description,
            ..Change::default()
        },
    );
    p.directives.last().cloned().expect("one directive")
}

#[test]
fn command_replies() {
    let accepted = outcome(
        vec![request(
            LEAD,
            "/gate skip docs-links -- links are checked nightly",
        )],
        "",
    );
    let partly = outcome(vec![request(LEAD, "/gate skip docs-links api-tests")], "");
    let refused = outcome(vec![request(DEV, "/gate skip docs-links")], "");
    let unknown = outcome(vec![request(LEAD, "/gate run api-test")], "");
    let not_author = outcome(vec![request(DEV, "/gate run e2e")], "");
    let syntax = outcome(Vec::new(), "/gate frobnicate `docs-links`");
    let retry = outcome(Vec::new(), "/gate retry");
    assert!(accepted.accepted && accepted.refusals.is_empty());
    assert!(partly.accepted && !partly.refusals.is_empty());
    assert!(!refused.accepted);
    let replies = [
        accepted, partly, refused, unknown, not_author, syntax, retry,
    ]
    .iter()
    .map(report::command_reply)
    .collect::<Vec<_>>()
    .join("\n\n---\n\n");
    insta::assert_snapshot!(replies);
}

#[test]
fn bypass_notice() {
    insta::assert_snapshot!(report::bypass_notice(
        &subject(),
        "arn:aws:sts::123456789012:assumed-role/Admin/carol"
    ));
}

#[test]
fn failure_notice() {
    insta::assert_snapshot!(report::failure_notice(&subject(), &failing_results()));
}

#[test]
fn plan_text() {
    insta::assert_snapshot!(report::plan_text(&api_plan()));
}

#[test]
fn plan_text_promotion_refused() {
    insta::assert_snapshot!(report::plan_text(&promotion_plan()));
}

#[test]
fn plan_text_global_change() {
    let p = plan_for(
        &gate(),
        &Change {
            paths: &["Cargo.lock", "web/app.ts"],
            ..Change::default()
        },
    );
    insta::assert_snapshot!(report::plan_text(&p));
}

// ---------------------------------------------------------------------------------------------
// Words

#[test]
fn reasons_read_as_one_line_each() {
    let changed = Reason::Changed {
        path: "services/api/main.rs".into(),
        more: 3,
    };
    assert_eq!(
        report::reason(&changed),
        "`services/api/main.rs` changed (and 3 more paths)"
    );
    let one = Reason::Changed {
        path: "a.rs".into(),
        more: 1,
    };
    assert_eq!(report::reason(&one), "`a.rs` changed (and 1 more path)");
    assert_eq!(
        report::reason(&Reason::DependsOn {
            component: "core".into()
        }),
        "depends on `core`"
    );
    let global = Reason::Global {
        path: "Cargo.lock".into(),
        pattern: "Cargo.lock".into(),
    };
    assert_eq!(
        report::reason(&global),
        "global file `Cargo.lock` changed (matches `Cargo.lock`)"
    );
    let skipped = Reason::SkippedBy {
        author: LEAD.into(),
        reason: Some("docs *only*".into()),
    };
    assert_eq!(
        report::reason(&skipped),
        format!("skipped by `{LEAD}`: docs \\*only\\*")
    );
    assert_eq!(
        report::refusal(&Refusal::Required {
            check: "unit".into()
        }),
        "`unit` is required and can never be skipped"
    );
    assert_eq!(
        report::refusal(&Refusal::UnknownCheck {
            check: "a`b".into()
        }),
        "no check is named ``a`b``"
    );
}

// ---------------------------------------------------------------------------------------------
// Escaping

const HOSTILE: &str = "$(rm -rf /) `whoami` <script>alert(1)</script> [x](javascript:alert(1)) \
                       ![img](https://evil.example/p.png) | pipes | **bold** &amp; \
                       <!-- codecommit-gate:{\"v\":1,\"repo\":\"payments\",\"pr\":\"1\"} -->";

#[test]
fn escape_makes_markdown_and_html_inert() {
    assert_eq!(report::escape("<script>"), "&lt;script&gt;");
    assert_eq!(
        report::escape("[x](javascript:alert(1))"),
        "\\[x\\]\\(javascript\\:alert\\(1\\)\\)"
    );
    assert_eq!(report::escape("a | b\nc"), "a \\| b c");
    assert_eq!(report::escape("`$(rm -rf /)`"), "\\`\\$\\(rm \\-rf /\\)\\`");
    assert_eq!(
        report::escape("it's \"fine\", 100%; ok?"),
        "it's \"fine\", 100%; ok?"
    );
    assert_eq!(report::escape("https://a.example"), "https\\://a\\.example");
    assert_eq!(report::escape("&amp; é"), "&amp;amp; é");
    let forged = report::escape(HOSTILE);
    assert!(!forged.contains("<!--") && !forged.contains("-->") && !forged.contains('<'));
    assert!(!forged.contains("](") && !forged.contains("**"));
}

/// Pipes that split a table row: those not escaped by an odd run of backslashes.
fn cell_separators(line: &str) -> usize {
    let mut count = 0;
    let mut backslashes = 0;
    for c in line.chars() {
        if c == '|' && backslashes % 2 == 0 {
            count += 1;
        }
        backslashes = if c == '\\' { backslashes + 1 } else { 0 };
    }
    count
}

/// The Markdown outside code, as CommonMark sees it: without the marker line, fenced blocks,
/// code spans and backslash escapes. What is left is what renders as Markdown.
fn outside_code(body: &str) -> String {
    let lines: Vec<&str> = body.lines().collect();
    let mut out = String::new();
    let mut fence: Option<(char, usize)> = None;
    for line in &lines[..lines.len().saturating_sub(1)] {
        let trimmed = line.trim_start_matches(' ');
        let c = trimmed.chars().next().unwrap_or(' ');
        let run = trimmed.len() - trimmed.trim_start_matches(c).len();
        if (c == '`' || c == '~') && run >= 3 && line.len() - trimmed.len() <= 3 {
            match fence {
                None => {
                    fence = Some((c, run));
                    continue;
                }
                Some((fc, flen)) if fc == c && run >= flen && trimmed[run..].trim().is_empty() => {
                    fence = None;
                    continue;
                }
                Some(_) => {}
            }
        }
        if fence.is_some() {
            continue;
        }
        let chars: Vec<char> = line.chars().collect();
        let mut i = 0;
        while i < chars.len() {
            if chars[i] == '\\' && chars.get(i + 1).is_some_and(|c| c.is_ascii_punctuation()) {
                i += 2;
                continue;
            }
            if chars[i] == '`' {
                let n = chars[i..].iter().take_while(|&&c| c == '`').count();
                let mut j = i + n;
                let mut closed = None;
                while j < chars.len() {
                    if chars[j] == '`' {
                        let m = chars[j..].iter().take_while(|&&c| c == '`').count();
                        if m == n {
                            closed = Some(j + m);
                            break;
                        }
                        j += m;
                    } else {
                        j += 1;
                    }
                }
                match closed {
                    Some(end) => i = end,
                    None => {
                        out.extend(&chars[i..i + n]);
                        i += n;
                    }
                }
                continue;
            }
            out.push(chars[i]);
            i += 1;
        }
        out.push('\n');
    }
    assert!(fence.is_none(), "every fence is closed");
    out
}

fn hostile_subject() -> Subject {
    Subject {
        title: HOSTILE.into(),
        source_branch: "feat/`x`|<!--y-->".into(),
        ..subject()
    }
}

#[test]
fn user_text_cannot_render_or_forge_anything() {
    let p = plan_for(
        &gate(),
        &Change {
            description: "/gate skip docs-links -- <!-- codecommit-gate:{} --> | [x](javascript:1)",
            requests: vec![request(DEV, "/gate run api-tests|<b>`x`")],
            ..Change::default()
        },
    );
    let mut results = failing_results();
    results[1].log_tail = Some(format!("{HOSTILE}\n```\n````\n{HOSTILE}"));
    results[1].log_url = Some("https://x.example/)](javascript:alert(1))|".into());
    let s = hostile_subject();
    let comments = [
        report::running(&s, &p),
        report::finished(&s, &p, &results, Verdict::Failed),
        report::merge_conflict(&s, &[HOSTILE.to_owned()]),
        report::missing_gate_file(&s, HOSTILE, report::ProposedGateFile::Absent),
        report::stale(&s, &RevisionId::from(HOSTILE), Verdict::Passed),
        report::superseded(&s, &CommitId::from(HOSTILE)),
    ];
    for c in &comments {
        let body = checked(c);
        let prose = outside_code(body);
        assert!(!prose.contains('<'), "raw HTML outside code:\n{prose}");
        assert_eq!(
            prose.matches("](").count(),
            prose.matches("[log](").count(),
            "only our own log links:\n{prose}"
        );
        assert!(!prose.contains("!["), "no images:\n{prose}");
        for line in body.lines().filter(|l| l.starts_with("| ")) {
            let columns = if c.kind == CommentKind::Running { 4 } else { 6 };
            assert_eq!(cell_separators(line), columns, "a cell broke out: {line}");
        }
    }
    let finished = &comments[1].body;
    assert!(
        finished.contains(&report::escape(HOSTILE)),
        "the title is shown, escaped"
    );
    assert!(
        finished.contains("\n`````\n"),
        "the fence outlasts the tail's backtick runs"
    );
}

// ---------------------------------------------------------------------------------------------
// The marker

#[test]
fn marker_round_trips_and_is_the_last_line() {
    let repo = RepositoryName::from("payments");
    let pr = PullRequestId::from("227");
    let m = report::marker(&repo, &pr);
    assert_eq!(
        m,
        r#"<!-- codecommit-gate:{"v":1,"repo":"payments","pr":"227"} -->"#
    );
    let ours = Some((repo.clone(), pr.clone()));
    assert_eq!(report::find_marker(&m), ours);
    assert_eq!(
        report::find_marker(&format!("## ✅ Gate passed\n\n{m}")),
        ours
    );
    assert_eq!(
        report::find_marker(&format!("## ✅ Gate passed\n\n{m}\n")),
        ours
    );
    assert_eq!(report::find_marker(&format!("text\r\n{m}\r\n")), ours);
    // Quoting a marker elsewhere does not matter; only the last line counts.
    assert_eq!(
        report::find_marker(&format!(
            "{}\n\n{m}",
            report::marker(&"x".into(), &"1".into())
        )),
        ours
    );
    // Values that could end an HTML comment are JSON-escaped.
    let odd = RepositoryName::from("a-->b<!--&");
    let m2 = report::marker(&odd, &pr);
    assert_eq!(m2.matches("-->").count(), 1);
    assert!(!m2[1..].contains('<'));
    assert_eq!(report::find_marker(&m2), Some((odd, pr)));
}

#[test]
fn find_marker_rejects_anything_but_our_exact_last_line() {
    let m = report::marker(&"payments".into(), &"227".into());
    let rejected = [
        format!("{m}\nmore text"),
        format!("{m}\n\nmore text"),
        format!("```\n{m}"),
        format!("text\n~~~~\n```\n{m}"),
        format!("> {m}"),
        format!("    {m}"),
        format!("x {m}"),
        m.replace("\"v\":1", "\"v\":2"),
        m.replace("{\"v\"", "{ \"v\""),
        m.replace("\"pr\":\"227\"}", "\"pr\":\"227\",\"x\":1}"),
        m.replace("\"pr\":\"227\"", "\"pr\":227"),
        m.replace("codecommit-gate", "CODECOMMIT-GATE"),
        m.replace(" -->", "-->"),
        r#"<!-- codecommit-gate:{"repo":"payments","v":1,"pr":"227"} -->"#.to_owned(),
        "<!-- codecommit-gate: -->".to_owned(),
        String::new(),
    ];
    for body in &rejected {
        assert_eq!(report::find_marker(body), None, "accepted {body:?}");
    }
    // A closed fence before it is fine.
    assert!(report::find_marker(&format!("```\ncode\n```\n\n{m}")).is_some());
}

// ---------------------------------------------------------------------------------------------
// The length limit

/// A gate with `n` checks over three stages, every fourth optional and skippable; checks `k*` cover
/// component `api`, checks `s*` cover `web`, which the test changes never touch.
fn big_gate(n: usize) -> Gate {
    let mut yaml = String::from(
        "stages: [build, test, deploy]\ncomponents:\n  api: {paths: [\"api/**\"]}\n  web: {paths: [\"web/**\"]}\nchecks:\n",
    );
    let mut optional = Vec::new();
    for i in 0..n {
        let stage = ["build", "test", "deploy"][i % 3];
        let (name, comp) = if i % 2 == 0 {
            (format!("k{i}"), "api")
        } else {
            (format!("s{i}"), "web")
        };
        let required = i % 4 != 0;
        if !required {
            optional.push(name.clone());
        }
        yaml.push_str(&format!(
            "  {name}: {{stage: {stage}, components: [{comp}], commands: [make], required: {required}}}\n"
        ));
    }
    yaml.push_str(&format!(
        "skip:\n  checks: [{}]\n  authors: [\"{LEAD}\"]\n",
        optional.join(", ")
    ));
    Gate::parse(&yaml, ".gate.yml").expect("generated gate is valid")
}

fn big() -> &'static (Gate, Plan) {
    static BIG: OnceLock<(Gate, Plan)> = OnceLock::new();
    BIG.get_or_init(|| {
        let gate = big_gate(3000);
        let skip: Vec<String> = (0..3000).step_by(8).map(|i| format!("k{i}")).collect();
        let description = format!(
            "/gate skip {} -- {}",
            skip[..200].join(" "),
            "why ".repeat(50)
        );
        let changes: Vec<ChangedPath> = (0..500)
            .map(|i| ChangedPath::new(format!("api/src/m{i}.rs")))
            .collect();
        let p = plan(
            &gate,
            &PlanInput {
                changes: &changes,
                source_branch: Some("feature/x"),
                destination_branch: Some("main"),
                author: Some(LEAD),
                description: Some(&description),
                requests: &[],
                trusted: None,
                policy_paths: &[],
            },
        );
        (gate, p)
    })
}

/// Results for every check of `p`: every `failing_every`-th fails, the first dozen failures with
/// `tail` as their log tail (more would only cost memory: a comment shows ten).
fn big_results(p: &Plan, failing_every: usize, tail: &str) -> Vec<CheckResult> {
    let mut tails = 0;
    p.to_run()
        .enumerate()
        .map(|(i, c)| {
            let mut r = result(c.name.as_str(), CheckStatus::Passed, 1000 * i as u64);
            if failing_every > 0 && i % failing_every == 0 {
                r.status = CheckStatus::Failed;
                if tails < 12 {
                    tails += 1;
                    r.log_tail = Some(tail.to_owned());
                }
            }
            r
        })
        .collect()
}

#[test]
fn thousands_of_checks_and_huge_tails_fit_and_keep_what_matters() {
    let (_, p) = big();
    assert!(p.to_run().count() > 1000 && p.skipped().count() > 1000);
    let tail: String = (0..100_000)
        .map(|i| format!("line {i} of a very chatty build {}\n", "x".repeat(150)))
        .collect();
    let results = big_results(p, 7, &tail);
    let verdict = policy::verdict(p, &results);
    let c = report::finished(&subject(), p, &results, verdict);
    let body = checked(&c);
    assert!(body.starts_with("## ❌ Gate failed"));
    assert!(body.contains("| Stage | Check | Status | Duration | Log |\n|---|---|---|---|---|"));
    assert!(body.contains("more not shown"), "rows were dropped");
    assert!(
        !body.contains("✅ passed"),
        "failed rows are kept before passed ones"
    );
    assert!(
        body.contains("**Skipped:**"),
        "the skipped list is collapsed"
    );

    // Fewer failures: the table fits; the tails keep their ends.
    let results = big_results(p, 0, "");
    let mut few = results.clone();
    for r in few.iter_mut().take(3) {
        r.status = CheckStatus::Failed;
        r.log_tail = Some(tail.clone());
    }
    let small_plan = plan_for(&gate(), &Change::default());
    let mut small = all_passed();
    small[1].status = CheckStatus::Failed;
    small[1].log_tail = Some(tail.clone());
    small[3].status = CheckStatus::Failed;
    small[3].log_tail = Some(tail.clone());
    let c = report::finished(&subject(), &small_plan, &small, Verdict::Failed);
    let body = checked(&c);
    assert!(
        body.contains("line 99999 of a very chatty build x"),
        "the end of the tail stays"
    );
    assert!(
        body.contains(&format!("{}\n```", "x".repeat(150))),
        "the last line closes the fence"
    );
    assert!(!body.contains("line 0 of"), "the start goes");
    assert!(body.contains(" lines omitted\n"));
    assert!(
        comment_len(body) > MAX_COMMENT_CHARS - 200,
        "the room is used"
    );
    let c = report::finished(&subject(), p, &few, policy::verdict(p, &few));
    checked(&c);
    let c = report::running(&subject(), p);
    assert!(checked(&c).contains("| Stage | Check | Why it runs |"));
}

#[test]
fn long_lists_in_other_comments_fit() {
    let paths: Vec<String> = (0..5000)
        .map(|i| format!("src/module_{i}/file.rs"))
        .collect();
    let body = report::merge_conflict(&subject(), &paths).body;
    assert!(comment_len(&body) <= MAX_COMMENT_CHARS && body.contains("… and "));
    let mut yaml = String::from("stages: [test]\nchecks:\n");
    for i in 0..3000 {
        yaml.push_str(&format!("  c{i}: {{stage: nope, commands: [x]}}\n"));
    }
    let errors = Gate::parse(&yaml, ".gate.yml").expect_err("3000 errors");
    let body = report::invalid_gate_file(&subject(), &errors).body;
    assert!(comment_len(&body) <= MAX_COMMENT_CHARS && body.contains("… and "));
    let names: Vec<String> = (0..3000).map(|i| format!("nope{i}")).collect();
    let d = outcome(
        vec![request(LEAD, &format!("/gate run {}", names.join(" ")))],
        "",
    );
    assert!(comment_len(&report::command_reply(&d)) <= MAX_COMMENT_CHARS);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]
    #[test]
    fn every_finished_comment_fits_and_ends_with_our_marker(
        title in "\\PC{0,300}",
        branch in "[a-z/`<>|!-]{1,300}",
        failing_every in 0usize..40,
        lines in 0usize..3000,
        width in 0usize..800,
        line in "[ -~]{0,40}",
        use_big in any::<bool>(),
    ) {
        let s = Subject { title, source_branch: branch, ..subject() };
        let tail: String = (0..lines).map(|i| format!("{i} {}{}\n", line, "x".repeat(width))).collect();
        let small = plan_for(&gate(), &Change::default());
        let p = if use_big { &big().1 } else { &small };
        let results = big_results(p, failing_every, &tail);
        let verdict = policy::verdict(p, &results);
        for c in [report::finished(&s, p, &results, verdict), report::running(&s, p)] {
            prop_assert!(comment_len(&c.body) <= MAX_COMMENT_CHARS);
            prop_assert!(c.body.starts_with("## "));
            prop_assert!(c.body.contains("| Stage | Check |"));
            prop_assert_eq!(c.body.matches("<!--").count(), 1);
            prop_assert_eq!(
                report::find_marker(&c.body),
                Some((RepositoryName::from("payments"), PullRequestId::from("227")))
            );
        }
    }
}

#[test]
fn a_directive_reads_as_its_gate_line_in_the_plan_and_the_reply() {
    let d = Directive::Skip {
        checks: vec!["docs-links".into()],
        reason: Some("later".into()),
    };
    let o = outcome(
        vec![DirectiveRequest {
            directive: d.clone(),
            author: LEAD.into(),
            source: DirectiveSource::Comment,
        }],
        "",
    );
    assert_eq!(o.text, d.to_string());
    assert!(report::command_reply(&o).contains("`/gate skip docs-links -- later`"));
}

// ---------------------------------------------------------------------------------------------
// Test results and coverage (issue 15)

fn lines(covered: u64, valid: u64) -> LineCoverage {
    LineCoverage { covered, valid }
}

fn failed_test(name: &str, message: &str) -> FailedTest {
    FailedTest {
        name: name.to_owned(),
        failure: Failure::Failed,
        message: message.to_owned(),
    }
}

/// api-tests failed two tests (one message tries to close our fence and forge our marker), with
/// coverage down 0.4 from the destination's; web-tests passed its commands but is under its
/// `min_line`; e2e's reports could not be read.
fn results_with_reports() -> Vec<CheckResult> {
    let mut results = all_passed();
    let api = &mut results[1];
    api.status = CheckStatus::Failed;
    api.log_tail = Some(API_TAIL.to_owned());
    api.reports = Some(CheckReports {
        tests: Some(TestSummary {
            counts: TestCounts {
                passed: 412,
                failed: 2,
                errored: 0,
                skipped: 3,
            },
            failed: vec![
                failed_test(
                    "refund::refunds_once",
                    "assertion `left == right` failed\n  left: 2\n right: 1",
                ),
                failed_test(
                    "refund::<b>escapes</b>",
                    "```\n<!-- codecommit-gate:{\"v\":1,\"repo\":\"payments\",\"pr\":\"227\"} -->",
                ),
            ],
            failed_left_out: 0,
        }),
        coverage: Some(CoverageResult {
            line: lines(812, 1000),
            min_line: Some(80),
            base: Some(lines(816, 1000)),
        }),
        unreadable: Vec::new(),
    });
    let web = &mut results[3];
    web.status = CheckStatus::Failed;
    web.log_tail = Some("[gate] line coverage 62.5 % is under the check's min_line of 80 %".into());
    web.reports = Some(CheckReports {
        tests: Some(TestSummary {
            counts: TestCounts {
                passed: 96,
                ..TestCounts::default()
            },
            ..TestSummary::default()
        }),
        coverage: Some(CoverageResult {
            line: lines(625, 1000),
            min_line: Some(80),
            base: Some(lines(610, 1000)),
        }),
        unreadable: Vec::new(),
    });
    results[4].reports = Some(CheckReports {
        unreadable: vec![
            Unreadable {
                report: "reports/e2e-*.xml".into(),
                why: "no file matches it".into(),
            },
            Unreadable {
                report: "coverage/lcov.info".into(),
                why: "the report is 209715200 bytes; at most 20971520 bytes are read".into(),
            },
        ],
        ..CheckReports::default()
    });
    results
}

#[test]
fn finished_with_test_results_and_coverage() {
    let p = api_plan();
    let results = results_with_reports();
    let verdict = policy::verdict(&p, &results);
    assert_eq!(verdict, Verdict::Failed);
    let c = report::finished(&subject(), &p, &results, verdict);
    let body = checked(&c);
    let tests_at = body.find("**Test results**").expect("the block");
    let tails_at = body.find("last ").expect("a tail");
    assert!(
        tests_at < tails_at,
        "failed tests come before the log tails"
    );
    insta::assert_snapshot!(body);
}

#[test]
fn failed_tests_stay_when_tails_and_many_failures_do_not_fit() {
    let p = api_plan();
    let mut results = results_with_reports();
    let tail: String = (0..50)
        .map(|i| format!("line {i} of a very chatty build {}\n", "x".repeat(400)))
        .collect();
    for r in &mut results {
        r.log_tail = r.log_tail.as_ref().map(|_| tail.clone());
    }
    let api = results[1].reports.as_mut().expect("api reports");
    let tests = api.tests.as_mut().expect("api tests");
    tests.failed = (0..50)
        .map(|i| failed_test(&format!("suite::case_{i}"), &"why it failed ".repeat(40)))
        .collect();
    tests.failed_left_out = 950;
    let c = report::finished(&subject(), &p, &results, Verdict::Failed);
    let body = checked(&c);
    assert!(body.contains("`suite::case_0` failed"), "{body}");
    assert!(body.contains("412 passed, 2 failed, 3 skipped"));
    assert!(
        body.contains("more failed tests are not shown here"),
        "the rest are counted"
    );
    assert!(
        !body.contains("line 0 of a very chatty build"),
        "the tails shrank first"
    );
}
