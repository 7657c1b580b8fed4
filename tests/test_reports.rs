//! Test and coverage reports: real reports of real tools (tests/data/reports/, README there)
//! parse to the counts the tools printed; hostile and malformed reports are refused or
//! bounded, never expanded.

use codecommit_gate::gate_file::CoverageFormat;
use codecommit_gate::test_reports::{
    Failure, LineCoverage, MAX_FAILED_TESTS, MAX_MESSAGE_CHARS, MAX_MESSAGE_LINES,
    MAX_REPORT_BYTES, ReportError, TestCounts, TestSummary, parse_coverage, parse_junit,
    read_report,
};
use std::path::Path;
use std::time::{Duration, Instant};

fn fixture(path: &str) -> Vec<u8> {
    read_report(&Path::new("tests/data/reports").join(path)).expect("fixture")
}

fn junit(path: &str) -> TestSummary {
    parse_junit(&fixture(path)).expect("a valid JUnit report")
}

fn coverage(format: CoverageFormat, path: &str) -> LineCoverage {
    parse_coverage(format, &fixture(path)).expect("a valid coverage report")
}

fn counts(passed: u64, failed: u64, errored: u64, skipped: u64) -> TestCounts {
    TestCounts {
        passed,
        failed,
        errored,
        skipped,
    }
}

/// (name, failure, first line of the message) of each failed test.
fn failed(summary: &TestSummary) -> Vec<(&str, Failure, &str)> {
    summary
        .failed
        .iter()
        .map(|t| {
            let first = t.message.lines().next().unwrap_or_default();
            (t.name.as_str(), t.failure, first)
        })
        .collect()
}

#[test]
fn pytest_junit_gives_the_counts_pytest_printed() {
    // pytest: "2 failed, 6 passed, 1 skipped, 1 xfailed, 1 error"; JUnit has no xfail, pytest
    // writes it as <skipped type="pytest.xfail">.
    let summary = junit("pytest/junit.xml");
    assert_eq!(summary.counts, counts(6, 2, 1, 2));
    assert_eq!(summary.counts.total(), 11);
    assert_eq!(
        failed(&summary),
        [
            (
                "test_calc.test_add_wrong",
                Failure::Failed,
                "AssertionError: two and two make four"
            ),
            (
                "test_calc.test_grade_wrong",
                Failure::Failed,
                "AssertionError: assert 'B' == 'A'"
            ),
            (
                "test_calc.test_uses_broken_fixture",
                Failure::Errored,
                // Entities in the attribute resolved: &lt;db&gt; &amp; → <db> &.
                "failed on setup with \"RuntimeError: fixture could not connect to <db> & gave up\""
            ),
        ]
    );
    // The `message` attribute, then the element's text (the test's code) up to five lines.
    assert_eq!(
        summary.failed[0].message,
        "AssertionError: two and two make four\nassert 4 == 5\n +  where 4 = add(2, 2)\n\
         def test_add_wrong():\n>       assert add(2, 2) == 5, \"two and two make four\""
    );
    assert_eq!(summary.failed_left_out, 0);
}

#[test]
fn nextest_junit_gives_the_counts_nextest_printed() {
    // nextest: "4 tests run: 2 passed, 2 failed, 1 skipped"; its JUnit leaves the ignored test out.
    let summary = junit("nextest/junit.xml");
    assert_eq!(summary.counts, counts(2, 2, 0, 0));
    let names: Vec<_> = failed(&summary).into_iter().map(|f| f.0).collect();
    assert_eq!(
        names,
        [
            "nextest-fixture.tests::refuses_a_big_port",
            "nextest-fixture.tests::panics_on_purpose"
        ]
    );
    assert!(
        summary.failed[0]
            .message
            .starts_with("thread 'tests::refuses_a_big_port' (29253) panicked at src/lib.rs:24:9"),
        "{}",
        summary.failed[0].message
    );
}

#[test]
fn jest_junit_gives_the_counts_jest_printed() {
    // jest: "2 failed, 1 skipped, 1 todo, 3 passed, 7 total"; jest-junit writes the todo test
    // as a test case with no outcome element, so JUnit readers count it as passed.
    let summary = junit("jest/junit.xml");
    assert_eq!(summary.counts, counts(4, 2, 0, 1));
    let names: Vec<_> = failed(&summary).into_iter().map(|f| f.0).collect();
    assert_eq!(
        names,
        ["shout is wrong on purpose", "initials crashes on purpose"],
        "jest-junit repeats the name as class name: kept once"
    );
    // No `message` attribute: the element's text, first lines only, entities resolved.
    let message = &summary.failed[0].message;
    assert_eq!(message.lines().count(), MAX_MESSAGE_LINES);
    assert_eq!(
        message.lines().take(3).collect::<Vec<_>>(),
        [
            "Error: expect(received).toBe(expected) // Object.is equality",
            "Expected: \"a < b & c\"",
            "Received: \"A < B & C!\"",
        ]
    );
}

/// What `go test -v` printed for the failing Go test (tests/data/reports/go-junit-report/src).
const GO_FAILURE: &str = "    ports_test.go:14: ports <wrap> & fail: bad port \"70000\": \
                          strconv.ParseUint: parsing \"70000\": value out of range";

#[test]
fn go_junit_report_gives_the_counts_go_test_printed() {
    // go test -v: PASS TestParsesAPort, FAIL TestRefusesABigPort, SKIP TestTalksToAServer.
    let summary = junit("go-junit-report/junit.xml");
    assert_eq!(summary.counts, counts(1, 1, 0, 1));
    assert_eq!(
        failed(&summary),
        [(
            "example.com/ports.TestRefusesABigPort",
            Failure::Failed,
            // go-junit-report's `message` attribute is only "Failed"; the test's output is
            // the element's text (CDATA), and follows it.
            "Failed"
        )]
    );
    assert_eq!(summary.failed[0].message, format!("Failed\n{GO_FAILURE}"));
}

#[test]
fn gotestsum_gives_the_counts_go_test_printed() {
    // gotestsum: "DONE 3 tests, 1 skipped, 1 failure"; the same package as go-junit-report.
    let summary = junit("go-junit-report/gotestsum.xml");
    assert_eq!(summary.counts, counts(1, 1, 0, 1));
    assert_eq!(
        summary.failed[0].name,
        "example.com/ports.TestRefusesABigPort"
    );
    assert_eq!(
        summary.failed[0].message,
        format!(
            "Failed\n=== RUN   TestRefusesABigPort\n{GO_FAILURE}\n\
             --- FAIL: TestRefusesABigPort (0.00s)"
        )
    );
}

#[test]
fn nextest_messages_are_the_whole_panic_not_only_its_first_line() {
    // nextest's `message` attribute is the panic's first line; its text begins with the same
    // line and goes on with the assertion: the text is kept.
    let summary = junit("nextest/junit.xml");
    let lines: Vec<_> = summary.failed[1].message.lines().take(2).collect();
    assert_eq!(
        lines,
        [
            "thread 'tests::panics_on_purpose' (29250) panicked at src/lib.rs:29:9:",
            "boom: the <config> & the port disagree",
        ]
    );
}

#[test]
fn grcov_lcov_and_cobertura_agree_with_the_profile() {
    // grcov over cargo test's -Cinstrument-coverage profile: `LF:24`, `LH:15` in lcov.info,
    // lines-valid="24" lines-covered="15" line-rate="0.625" in cobertura.xml.
    let expected = LineCoverage {
        covered: 15,
        valid: 24,
    };
    assert_eq!(coverage(CoverageFormat::Lcov, "grcov/lcov.info"), expected);
    assert_eq!(
        coverage(CoverageFormat::Cobertura, "grcov/cobertura.xml"),
        expected
    );
    assert_eq!(expected.percent(), Some(62.5));
}

#[test]
fn grcov_cobertura_without_its_totals_counts_each_line_once() {
    // grcov lists each line twice, under its <method> and under its <class>: without the
    // root's totals the class lines alone count.
    let xml = String::from_utf8(fixture("grcov/cobertura.xml")).expect("UTF-8");
    let without_totals = xml.replace(
        r#"lines-covered="15" lines-valid="24" line-rate="0.625""#,
        "",
    );
    assert_ne!(xml, without_totals, "the totals were in the file");
    assert_eq!(
        parse_coverage(CoverageFormat::Cobertura, without_totals.as_bytes()),
        Ok(LineCoverage {
            covered: 15,
            valid: 24
        })
    );
}

#[test]
fn coverage_py_cobertura_and_lcov_agree_with_coverage_report() {
    // `coverage report`: TOTAL 41 statements, 3 missed.
    let expected = LineCoverage {
        covered: 38,
        valid: 41,
    };
    assert_eq!(
        coverage(CoverageFormat::Cobertura, "coverage-py/cobertura.xml"),
        expected
    );
    assert_eq!(
        coverage(CoverageFormat::Lcov, "coverage-py/coverage.lcov"),
        expected
    );
    let percent = expected.percent().expect("lines measured");
    assert!((percent - 92.68).abs() < 0.01, "{percent}");
}

#[test]
fn istanbul_cobertura_lcov_and_clover_agree_with_jests_summary() {
    // jest: "Lines : 85.71% ( 6/7 )". Istanbul's Cobertura names an external DTD: never fetched.
    let expected = LineCoverage {
        covered: 6,
        valid: 7,
    };
    for (format, path) in [
        (CoverageFormat::Cobertura, "istanbul/cobertura-coverage.xml"),
        (CoverageFormat::Lcov, "istanbul/lcov.info"),
        (CoverageFormat::Clover, "istanbul/clover.xml"),
    ] {
        assert_eq!(coverage(format, path), expected, "{path}");
    }
}

/// JaCoCo's report shape (report.dtd 1.1); no JaCoCo run here (README says why).
#[test]
fn a_real_jacoco_report_gives_its_report_level_line_counter() {
    // JaCoCo's own XMLFormatter wrote it (tests/data/reports/README.md): the DOCTYPE names
    // `report.dtd`, which is never fetched nor read.
    assert_eq!(
        coverage(CoverageFormat::Jacoco, "jacoco/jacoco.xml"),
        LineCoverage {
            covered: 7,
            valid: 17
        }
    );
}

#[test]
fn jacoco_reads_the_report_level_line_counter() {
    let xml = br#"<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<!DOCTYPE report PUBLIC "-//JACOCO//DTD Report 1.1//EN" "report.dtd">
<report name="demo"><sessioninfo id="s" start="1" dump="2"/>
  <package name="demo"><class name="demo/A"><counter type="LINE" missed="1" covered="1"/></class>
    <counter type="LINE" missed="4" covered="16"/></package>
  <counter type="INSTRUCTION" missed="9" covered="90"/>
  <counter type="LINE" missed="4" covered="16"/>
</report>"#;
    assert_eq!(
        parse_coverage(CoverageFormat::Jacoco, xml),
        Ok(LineCoverage {
            covered: 16,
            valid: 20
        })
    );
}

#[test]
fn cobertura_without_totals_counts_class_lines_once() {
    let xml = br#"<coverage><packages><package><classes><class filename="a.py">
<methods><method><lines><line number="1" hits="1"/></lines></method></methods>
<lines><line number="1" hits="1"/><line number="2" hits="0"/><line number="3" hits="7"/></lines>
</class></classes></package></packages></coverage>"#;
    assert_eq!(
        parse_coverage(CoverageFormat::Cobertura, xml),
        Ok(LineCoverage {
            covered: 2,
            valid: 3
        })
    );
}

#[test]
fn nothing_measured_has_no_percentage() {
    let none = LineCoverage {
        covered: 0,
        valid: 0,
    };
    assert_eq!(none.percent(), None);
}

const BILLION_LAUGHS: &str = r#"<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
 <!ENTITY lol5 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">
 <!ENTITY lol6 "&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;">
 <!ENTITY lol7 "&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;">
 <!ENTITY lol8 "&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;">
 <!ENTITY lol9 "&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;">
]>
<testsuites><testsuite name="&lol9;">
  <testcase classname="&lol9;" name="attribute"><failure message="&lol9;"/></testcase>
  <testcase name="text"><failure>&lol9;&lol9;</failure></testcase>
</testsuite></testsuites>"#;

#[test]
fn a_billion_laughs_document_is_not_expanded() {
    let start = Instant::now();
    let summary = parse_junit(BILLION_LAUGHS.as_bytes()).expect("well-formed");
    assert!(start.elapsed() < Duration::from_secs(1));
    assert_eq!(summary.counts, counts(0, 2, 0, 0));
    assert_eq!(
        failed(&summary),
        [
            ("&lol9;.attribute", Failure::Failed, "&lol9;"),
            ("text", Failure::Failed, "&lol9;&lol9;"),
        ],
        "entity references are kept as written"
    );
}

#[test]
fn external_entities_are_never_read() {
    let xml = r#"<?xml version="1.0"?>
<!DOCTYPE t [<!ENTITY xxe SYSTEM "file:///etc/hostname">]>
<testsuite><testcase name="x"><error>&xxe;</error></testcase></testsuite>"#;
    let summary = parse_junit(xml.as_bytes()).expect("well-formed");
    assert_eq!(failed(&summary), [("x", Failure::Errored, "&xxe;")]);
}

fn refusal(result: Result<TestSummary, ReportError>) -> String {
    match result {
        Ok(summary) => panic!("expected an error, got {summary:?}"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn malformed_reports_say_why() {
    let cases: [(&[u8], &str); 5] = [
        (
            b"<testsuite><testcase name=\"a\"></testsuite>",
            "not well-formed XML (near byte 30): ill-formed document: expected `</testcase>`, but `</testsuite>` was found",
        ),
        (
            b"<testsuites><testsuite><testcase name=\"a\"/>",
            "not well-formed XML (near byte 43): the document ends inside <testsuites><testsuite>",
        ),
        (
            b"<coverage line-rate=\"1\"/>",
            "not a JUnit report: the root element is <coverage>, not <testsuites> or <testsuite>",
        ),
        (b"", "not a JUnit report: the document has no element"),
        (
            b"PK\x03\x04 not xml at all",
            "not a JUnit report: the document has no element",
        ),
    ];
    for (bytes, expected) in cases {
        assert_eq!(
            refusal(parse_junit(bytes)),
            expected,
            "{}",
            String::from_utf8_lossy(bytes)
        );
    }
}

#[test]
fn malformed_coverage_says_why() {
    let cases: [(CoverageFormat, &[u8], &str); 5] = [
        (
            CoverageFormat::Lcov,
            b"SF:a.py\nDA:1,x\nend_of_record\n",
            "not a LCOV report: line 2: `x` is not a count",
        ),
        (
            CoverageFormat::Lcov,
            b"<coverage/>",
            "not a LCOV report: it has no record (`SF:` \u{2026} `end_of_record`)",
        ),
        (
            CoverageFormat::Cobertura,
            b"<report name=\"jacoco\"/>",
            "not a Cobertura report: the root element is <report>, not <coverage>",
        ),
        (
            CoverageFormat::Cobertura,
            b"<coverage lines-valid=\"3\" lines-covered=\"9\"/>",
            "not a Cobertura report: it says 9 of 3 lines are covered",
        ),
        (
            CoverageFormat::Clover,
            b"<coverage><project><metrics statements=\"-1\"/></project></coverage>",
            "not a Clover report: <metrics> has statements=\"-1\", not a whole number",
        ),
    ];
    for (format, bytes, expected) in cases {
        let error = parse_coverage(format, bytes).expect_err("malformed");
        assert_eq!(error.to_string(), expected);
    }
}

#[test]
fn deep_nesting_is_refused() {
    let xml = format!(
        "<testsuites>{}{}</testsuites>",
        "<testsuite>".repeat(100),
        "</testsuite>".repeat(100)
    );
    let error = refusal(parse_junit(xml.as_bytes()));
    assert!(error.contains("elements nest deeper than 64"), "{error}");
}

#[test]
fn an_oversized_file_is_refused_before_it_is_read() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("huge.xml");
    // Sparse: the size is there, the bytes are not, and nothing reads them.
    let file = std::fs::File::create(&path).expect("create");
    file.set_len(200 * 1024 * 1024).expect("set_len");
    assert_eq!(
        read_report(&path),
        Err(ReportError::TooLarge {
            size: 200 * 1024 * 1024,
            limit: MAX_REPORT_BYTES
        })
    );
    let missing = read_report(&dir.path().join("absent.xml")).expect_err("missing");
    assert!(matches!(missing, ReportError::Io(_)), "{missing:?}");
}

#[test]
fn oversized_bytes_are_refused_by_the_parsers_too() {
    let bytes = vec![b' '; usize::try_from(MAX_REPORT_BYTES).expect("fits") + 1];
    assert!(matches!(
        parse_junit(&bytes),
        Err(ReportError::TooLarge { .. })
    ));
    assert!(matches!(
        parse_coverage(CoverageFormat::Lcov, &bytes),
        Err(ReportError::TooLarge { .. })
    ));
}

/// A suite of `n` failing tests, each with a long many-line message.
fn failing_suite(n: usize) -> String {
    let message = "a very long line of failure text ".repeat(100);
    let cases: String = (0..n)
        .map(|i| format!("<testcase name=\"t{i}\"><failure>{message}\n{message}\n{message}\n{message}\n{message}\n{message}</failure></testcase>"))
        .collect();
    format!("<testsuite>{cases}</testsuite>")
}

#[test]
fn failed_tests_and_messages_are_bounded() {
    let summary = parse_junit(failing_suite(500).as_bytes()).expect("valid");
    assert_eq!(summary.counts.failed, 500);
    assert_eq!(summary.failed.len(), MAX_FAILED_TESTS);
    assert_eq!(summary.failed_left_out, 450);
    for test in &summary.failed {
        assert_eq!(test.message.chars().count(), MAX_MESSAGE_CHARS + 1);
        assert!(test.message.ends_with('…'), "cut messages say so");
    }
}

#[test]
fn merging_reports_adds_counts_and_keeps_the_bound() {
    let mut summary = junit("pytest/junit.xml");
    summary.merge(parse_junit(failing_suite(60).as_bytes()).expect("valid"));
    assert_eq!(summary.counts, counts(6, 62, 1, 2));
    assert_eq!(summary.failed.len(), MAX_FAILED_TESTS);
    assert_eq!(summary.failed[0].name, "test_calc.test_add_wrong");
    assert_eq!(summary.failed_left_out, 3 + 60 - 50);
}

#[test]
fn nested_suites_count_each_case_once() {
    let xml = br#"<testsuites tests="99"><testsuite name="outer" tests="3">
  <testsuite name="inner"><testcase name="a"/><testcase name="b"><skipped/></testcase></testsuite>
  <testcase classname="C" name="c"><error message="boom"/><failure message="later"/></testcase>
</testsuite></testsuites>"#;
    let summary = parse_junit(xml).expect("valid");
    assert_eq!(summary.counts, counts(1, 0, 1, 1));
    assert_eq!(
        failed(&summary),
        [("C.c", Failure::Errored, "boom")],
        "the first outcome decides"
    );
}

mod properties {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        /// Whatever the bytes, the readers answer (a summary or an error) without panicking.
        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
            let _ = parse_junit(&bytes);
            for format in [
                CoverageFormat::Cobertura,
                CoverageFormat::Lcov,
                CoverageFormat::Jacoco,
                CoverageFormat::Clover,
            ] {
                let _ = parse_coverage(format, &bytes);
            }
        }

        /// A real report cut anywhere is refused or read, never a panic, and a cut report
        /// never counts more tests than the whole.
        #[test]
        fn truncated_reports_never_panic(cut in 0usize..2186) {
            let whole = fixture("pytest/junit.xml");
            let part = &whole[..cut.min(whole.len())];
            if let Ok(summary) = parse_junit(part) {
                prop_assert!(summary.counts.total() <= 11);
            }
        }
    }
}
