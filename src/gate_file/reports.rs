//! A check's `reports`: the JUnit files and the coverage report its commands write, validated
//! like the rest of the file (line, column, hint). Reading them is [`crate::test_reports`]'s job.

use super::releases::inside_repository;
use super::{Errors, at, compile_glob, raw};
use serde::{Deserialize, Serialize};
use serde_saphyr::Spanned;

/// The reports a check writes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reports {
    /// Globs of JUnit XML files, relative to the repository, as written.
    pub junit: Vec<String>,
    /// The line-coverage report, if any.
    pub coverage: Option<CoverageReport>,
}

/// A check's line-coverage report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CoverageReport {
    /// Its format.
    pub format: raw::CoverageFormat,
    /// Its path, relative to the repository.
    pub path: String,
    /// The least line coverage the check accepts, in whole percent.
    pub min_line: Option<u32>,
}

const PATH_HINT: &str = "use a path relative to the repository without `..`, e.g. \
     `target/nextest/ci/junit.xml` or `coverage.xml`";

/// Validates check `check`'s `reports`: at least one report, paths inside the repository,
/// globs that compile, `min_line` a percentage.
pub(super) fn validate(
    check: &str,
    spec: &Spanned<raw::Reports>,
    errors: &mut Errors<'_>,
) -> Reports {
    let reports = &spec.value;
    if reports.junit.is_empty() && reports.coverage.is_none() {
        errors.push(
            at(spec),
            format!("check `{check}` declares `reports` but no report"),
            "add `junit: [path/to/junit.xml]` or `coverage: {format: cobertura, path: coverage.xml}`, or remove `reports`",
        );
    }
    for glob in &reports.junit {
        check_junit_glob(check, glob, errors);
    }
    Reports {
        junit: reports.junit.iter().map(|g| g.value.clone()).collect(),
        coverage: reports
            .coverage
            .as_ref()
            .map(|c| validate_coverage(check, &c.value, errors)),
    }
}

/// A JUnit glob must stay inside the repository and compile.
fn check_junit_glob(check: &str, glob: &Spanned<String>, errors: &mut Errors<'_>) {
    if !inside_repository(&glob.value) {
        errors.push(
            at(glob),
            format!(
                "check `{check}`: JUnit report `{}` is not a path inside the repository",
                glob.value
            ),
            PATH_HINT,
        );
    } else if let Err(e) = compile_glob(&glob.value) {
        errors.push(
            at(glob),
            format!(
                "check `{check}`: invalid JUnit glob `{}`: {}",
                glob.value,
                e.kind()
            ),
            "e.g. `reports/junit-*.xml` or `**/TEST-*.xml`",
        );
    }
}

/// The coverage report's path must stay inside the repository; `min_line` is 0 to 100.
fn validate_coverage(check: &str, spec: &raw::Coverage, errors: &mut Errors<'_>) -> CoverageReport {
    if !inside_repository(&spec.path.value) {
        errors.push(
            at(&spec.path),
            format!(
                "check `{check}`: coverage report `{}` is not a path inside the repository",
                spec.path.value
            ),
            PATH_HINT,
        );
    }
    if let Some(min) = spec.min_line.as_ref().filter(|m| m.value > 100) {
        errors.push(
            at(min),
            format!("check `{check}`: min_line {} is over 100", min.value),
            "min_line is a percentage of lines, 0 to 100, e.g. `min_line: 80`",
        );
    }
    CoverageReport {
        format: spec.format,
        path: spec.path.value.clone(),
        min_line: spec.min_line.as_ref().map(|m| m.value),
    }
}
