//! The CodeBuild reports adapter against a mocked SDK client: `BatchGetReports` on the API
//! sample, `DescribeTestCases` by status and page, `DescribeCodeCoverages` summed when a
//! coverage report has no summary, errors classified; then the same answers as a check's
//! reports.
//!
//! Response bodies are the API samples copied into `tests/data/api-samples/` (the AWS CLI
//! examples). The CLI prints timestamps as ISO 8601 text; on the wire (awsJson 1.1) they are
//! epoch seconds, so [`sample`] turns them back into numbers before the SDK's own deserializer
//! reads them. Rules run in `RuleMode::Sequential`: a request that does not satisfy its rule's
//! `match_requests` fails the test.

use aws_sdk_codebuild::Client;
use aws_sdk_codebuild::primitives::{DateTime, DateTimeFormat};
use aws_smithy_mocks::{Rule, RuleMode, mock, mock_client};
use codecommit_gate::aws::{AwsTestReports, retry_config};
use codecommit_gate::gate_file::{CoverageFormat, CoverageReport, Reports};
use codecommit_gate::ports::PortError;
use codecommit_gate::ports::test_reports::{BuildReportKind, TestReports};
use codecommit_gate::test_reports::codebuild::from_codebuild;
use codecommit_gate::test_reports::{Failure, LineCoverage, TestCounts};
use serde_json::{Value, json};

fn adapter(rules: &[&Rule]) -> AwsTestReports {
    let client: Client = mock_client!(aws_sdk_codebuild, RuleMode::Sequential, rules, |c| c
        .retry_config(retry_config()));
    AwsTestReports::new(client)
}

/// An API sample with its timestamps as the wire has them (epoch seconds).
fn sample(file: &str) -> Value {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/api-samples")
        .join(file);
    let mut value: Value =
        serde_json::from_str(&std::fs::read_to_string(path).expect("sample")).expect("JSON");
    epoch_seconds(&mut value);
    value
}

fn epoch_seconds(value: &mut Value) {
    match value {
        Value::Object(map) => {
            for (key, v) in map.iter_mut() {
                if let (true, Some(text)) =
                    (matches!(key.as_str(), "created" | "expired"), v.as_str())
                {
                    let at = DateTime::from_str(text, DateTimeFormat::DateTimeWithOffset)
                        .unwrap_or_else(|e| panic!("{text}: {e}"));
                    *v = json!(at.as_secs_f64());
                } else {
                    epoch_seconds(v);
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(epoch_seconds),
        _ => {}
    }
}

fn body(value: Value) -> Option<String> {
    Some(value.to_string())
}

fn error(code: &str) -> Option<String> {
    body(json!({ "__type": code, "message": format!("{code} (mocked)") }))
}

const TEST_ARN: &str = "arn:aws:codebuild:eu-west-1:123456789012:report/gate-shop-tests:0f4a";
const COVERAGE_ARN: &str =
    "arn:aws:codebuild:eu-west-1:123456789012:report/gate-shop-coverage:7c2e";

fn spec() -> Reports {
    Reports {
        junit: vec!["target/nextest/ci/junit.xml".into()],
        coverage: Some(CoverageReport {
            format: CoverageFormat::Cobertura,
            path: "coverage.xml".into(),
            min_line: Some(80),
        }),
    }
}

/// The sample's first report made a coverage report without a summary (the sample has none).
fn coverage_report(reports: &Value) -> Value {
    let mut coverage = reports["reports"][0].clone();
    coverage["arn"] = json!(COVERAGE_ARN);
    coverage["type"] = json!("CODE_COVERAGE");
    coverage["status"] = json!("SUCCEEDED");
    coverage
        .as_object_mut()
        .expect("report")
        .remove("testSummary");
    coverage
}

#[tokio::test]
async fn reports_come_from_batch_get_reports_and_coverage_without_a_summary_is_summed() {
    let mut reports = sample("codebuild-batch-get-reports-output.json");
    // The sample's first report, and a coverage report without its summary: the adapter then
    // sums DescribeCodeCoverages over two pages.
    let coverage = coverage_report(&reports);
    reports["reports"][0]["arn"] = json!(TEST_ARN);
    reports["reports"][1] = coverage;
    let get = mock!(Client::batch_get_reports)
        .match_requests(|r| r.report_arns() == [TEST_ARN, COVERAGE_ARN])
        .sequence()
        .http_status(200, body(reports))
        .build();
    let mut first = sample("codebuild-describe-code-coverages-output.json");
    first["nextToken"] = json!("page-2");
    let page1 = mock!(Client::describe_code_coverages)
        .match_requests(|r| {
            r.report_arn() == Some(COVERAGE_ARN)
                && r.max_results() == Some(100)
                && r.next_token().is_none()
        })
        .sequence()
        .http_status(200, body(first))
        .build();
    let page2 = mock!(Client::describe_code_coverages)
        .match_requests(|r| r.next_token() == Some("page-2"))
        .sequence()
        .http_status(
            200,
            body(sample("codebuild-describe-code-coverages-output.json")),
        )
        .build();
    let reader = adapter(&[&get, &page1, &page2]);
    let got = reader
        .reports(&[TEST_ARN.into(), COVERAGE_ARN.into()])
        .await
        .expect("reports");
    assert_eq!(got.len(), 2);
    let tests = &got[0];
    assert_eq!(
        (tests.kind, tests.status.as_str(), tests.truncated),
        (BuildReportKind::Test, "FAILED", false)
    );
    assert_eq!(
        tests
            .status_counts
            .iter()
            .map(|(k, v)| (k.as_str(), *v))
            .collect::<Vec<_>>(),
        [
            ("ERROR", 5),
            ("FAILED", 1),
            ("SKIPPED", 4),
            ("SUCCEEDED", 18),
            ("UNKNOWN", 0)
        ]
    );
    // Two pages of the sample's two files: (5 + 10) covered, (1 + 1) missed, twice.
    let cov = &got[1];
    assert_eq!(cov.kind, BuildReportKind::Coverage);
    assert_eq!((cov.lines_covered, cov.lines_missed), (Some(30), Some(4)));
}

#[tokio::test]
async fn failed_cases_are_read_by_status_failed_first_and_page_by_page() {
    let failed = mock!(Client::describe_test_cases)
        .match_requests(|r| {
            r.report_arn() == Some(TEST_ARN)
                && r.filter().and_then(|f| f.status()) == Some("FAILED")
                && r.max_results() == Some(100)
        })
        .sequence()
        .http_status(200, body(json!({ "testCases": [] })))
        .build();
    let mut first = sample("codebuild-describe-test-cases-output.json");
    first["nextToken"] = json!("more");
    let errored1 = mock!(Client::describe_test_cases)
        .match_requests(|r| {
            r.filter().and_then(|f| f.status()) == Some("ERROR") && r.next_token().is_none()
        })
        .sequence()
        .http_status(200, body(first))
        .build();
    let errored2 = mock!(Client::describe_test_cases)
        .match_requests(|r| r.next_token() == Some("more"))
        .sequence()
        .http_status(
            200,
            body(sample("codebuild-describe-test-cases-output.json")),
        )
        .build();
    let reader = adapter(&[&failed, &errored1, &errored2]);
    let cases = reader.failed_cases(TEST_ARN, 3).await.expect("cases");
    assert_eq!(cases.len(), 3, "bounded by the limit");
    assert_eq!(
        cases[0].name,
        "NUnit.Tests.Assemblies.MockTestFixture.NotRunnableTest"
    );
    assert_eq!(cases[0].status, "ERROR");
    assert_eq!(
        cases[1].message.as_deref(),
        Some(
            "System.ApplicationException : Intentional Exception\nat NUnit.Tests.Assemblies.MockTestFixture.MethodThrowsException()\nat NUnit.Tests.Assemblies.MockTestFixture.TestWithException()\n\n"
        )
    );

    // As a check's reports: counts from the summary, failed tests by name with message heads.
    let summary = sample("codebuild-batch-get-reports-output.json");
    let get = mock!(Client::batch_get_reports)
        .sequence()
        .http_status(200, body(summary))
        .build();
    let reader = adapter(&[&get]);
    let arn = "arn:aws:codebuild:<region-ID>:<user-ID>:report/<report-group-name>:<report 1 ID>";
    let reports = reader.reports(&[arn.into()]).await.expect("reports");
    let check = from_codebuild(&spec(), &reports[..1], &[(arn.to_owned(), cases)]);
    let tests = check.tests.expect("tests");
    assert_eq!(
        tests.counts,
        TestCounts {
            passed: 18,
            failed: 1,
            errored: 5,
            skipped: 4
        }
    );
    assert_eq!(tests.failed.len(), 3);
    assert_eq!(tests.failed[1].failure, Failure::Errored);
    assert_eq!(
        tests.failed[1].message,
        "System.ApplicationException : Intentional Exception\nat NUnit.Tests.Assemblies.MockTestFixture.MethodThrowsException()\nat NUnit.Tests.Assemblies.MockTestFixture.TestWithException()"
    );
    assert_eq!(tests.failed_left_out, 3, "6 did not pass, 3 listed");
    assert_eq!(check.coverage, None);
    assert_eq!(
        check
            .unreadable
            .iter()
            .map(|u| u.why.as_str())
            .collect::<Vec<_>>(),
        ["the build has no coverage report: the file was missing, or CodeBuild could not read it"]
    );
}

#[tokio::test]
async fn a_coverage_summary_is_used_as_it_is() {
    let mut reports = sample("codebuild-batch-get-reports-output.json");
    let mut coverage = coverage_report(&reports);
    coverage["codeCoverageSummary"] = json!({
        "lineCoveragePercentage": 81.2, "linesCovered": 812, "linesMissed": 188,
        "branchCoveragePercentage": 50.0, "branchesCovered": 1, "branchesMissed": 1
    });
    reports["reports"] = json!([coverage]);
    let get = mock!(Client::batch_get_reports)
        .sequence()
        .http_status(200, body(reports))
        .build();
    let reader = adapter(&[&get]);
    let got = reader
        .reports(&[COVERAGE_ARN.into()])
        .await
        .expect("reports");
    let check = from_codebuild(&spec(), &got, &[]);
    assert_eq!(
        check.coverage.map(|c| (c.line, c.min_line)),
        Some((
            LineCoverage {
                covered: 812,
                valid: 1000
            },
            Some(80)
        ))
    );
    assert_eq!(check.unreadable.len(), 1, "no test report: {check:?}");
}

#[tokio::test(start_paused = true)]
async fn throttling_is_transient_and_a_denied_call_permanent() {
    let throttled = mock!(Client::batch_get_reports)
        .sequence()
        .http_status(400, error("ThrottlingException"))
        .times(3)
        .build();
    let denied = mock!(Client::describe_test_cases)
        .sequence()
        .http_status(400, error("AccessDeniedException"))
        .build();
    let reader = adapter(&[&throttled, &denied]);
    let err = reader
        .reports(&[TEST_ARN.into()])
        .await
        .expect_err("throttled");
    assert!(
        matches!(
            err,
            PortError::Transient {
                call: "codebuild:BatchGetReports",
                ..
            }
        ),
        "{err:?}"
    );
    let err = reader.failed_cases(TEST_ARN, 10).await.expect_err("denied");
    assert!(
        matches!(
            err,
            PortError::Permanent {
                call: "codebuild:DescribeTestCases",
                ..
            }
        ),
        "{err:?}"
    );
    assert!(
        reader.reports(&[]).await.expect("nothing asked").is_empty(),
        "no ARN, no call"
    );
}

/// A release's checks on the real adapter: gate-release reads the reports of each check that
/// declares any, from its run's build (`ReportArns`), as gate-report reads a pull request's;
/// a check that declares none is not read.
#[tokio::test]
async fn a_releases_check_reports_are_read_from_its_build() {
    use codecommit_gate::flows::build_reports::read_stage_reports;
    use codecommit_gate::machine::{CheckRun, CheckSpec, RunOutcome, StageSpec};
    let mut reports = sample("codebuild-batch-get-reports-output.json");
    let mut coverage = coverage_report(&reports);
    coverage["codeCoverageSummary"] = json!({"linesCovered": 700, "linesMissed": 300});
    reports["reports"][0]["arn"] = json!(TEST_ARN);
    reports["reports"][1] = coverage;
    let get = mock!(Client::batch_get_reports)
        .match_requests(|r| r.report_arns() == [TEST_ARN, COVERAGE_ARN])
        .sequence()
        .http_status(200, body(reports))
        .build();
    let failed = mock!(Client::describe_test_cases)
        .match_requests(|r| r.filter().and_then(|f| f.status()) == Some("FAILED"))
        .sequence()
        .http_status(200, body(json!({ "testCases": [] })))
        .build();
    let errored = mock!(Client::describe_test_cases)
        .match_requests(|r| r.filter().and_then(|f| f.status()) == Some("ERROR"))
        .sequence()
        .http_status(
            200,
            body(sample("codebuild-describe-test-cases-output.json")),
        )
        .build();
    let reader = adapter(&[&get, &failed, &errored]);
    let check = |name: &str, reports: Option<Reports>| CheckSpec {
        name: name.into(),
        stage: "test".into(),
        required: true,
        buildspec: String::new(),
        image: "aws/codebuild/amazonlinux-x86_64-standard:5.0".into(),
        compute_type: "BUILD_GENERAL1_SMALL".into(),
        timeout_minutes: 10,
        task_timeout_seconds: None,
        retries: 0,
        retry_on_failure: false,
        env: Vec::new(),
        reports,
        cache: Default::default(),
    };
    let stages = [StageSpec {
        name: "test".into(),
        checks: vec![check("unit", Some(spec())), check("lint", None)],
    }];
    let run = |name: &str| CheckRun {
        name: name.into(),
        required: true,
        outcome: RunOutcome::Passed,
        attempts: 1,
        build: Some(json!({
            "Arn": format!("arn:aws:codebuild:eu-west-1:123456789012:build/gate-release-shop-production:{name}"),
            "BuildStatus": "SUCCEEDED",
            "ReportArns": [TEST_ARN, COVERAGE_ARN],
        })),
        error: None,
        cause: None,
    };
    let (unit, lint) = (run("unit"), run("lint"));
    let read = read_stage_reports(&reader, &stages, &[&unit, &lint]).await;
    assert_eq!(
        read.keys().map(|k| k.as_str()).collect::<Vec<_>>(),
        ["unit"]
    );
    let unit = &read[&codecommit_gate::ids::CheckName::from("unit")];
    let tests = unit.tests.as_ref().expect("tests");
    assert_eq!(
        tests.counts,
        TestCounts {
            passed: 18,
            failed: 1,
            errored: 5,
            skipped: 4
        }
    );
    assert_eq!(
        tests.failed[0].name,
        "NUnit.Tests.Assemblies.MockTestFixture.NotRunnableTest"
    );
    let coverage = unit.coverage.as_ref().expect("coverage");
    assert_eq!(
        (coverage.line, coverage.min_line),
        (
            LineCoverage {
                covered: 700,
                valid: 1000
            },
            Some(80)
        )
    );
    assert!(
        unit.shortfall().is_some(),
        "70 % under 80 %: the check fails"
    );
}
