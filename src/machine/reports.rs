//! The `reports:` section of a check's buildspec on AWS: its JUnit globs into the repository's
//! test report group, its coverage report into the repository's coverage report group, both
//! named by ARN so CodeBuild never creates a group of its own (a name would create
//! `<project>-<name>` for every per-PR project). The groups are the stack's, one pair per
//! gated repository (template.yaml, `TestReports<repo>` / `CoverageReports<repo>`;
//! docs/design.md, "Test results and coverage").

use super::yaml_quote;
use crate::gate_file::Reports;
use crate::test_reports::codebuild::codebuild_coverage_format;

/// The suffix of a repository's test report group's name.
pub const TESTS_SUFFIX: &str = "-tests";
/// The suffix of a repository's coverage report group's name.
pub const COVERAGE_SUFFIX: &str = "-coverage";

/// The ARN of one of `repository`'s report groups: `prefix` (`arn:…:report-group/<prefix>-`,
/// `GATE_REPORT_GROUP_PREFIX`), the repository with each `.` as `-` (as the template names
/// them), then `suffix`.
pub fn report_group_arn(prefix: &str, repository: &str, suffix: &str) -> String {
    format!("{prefix}{}{suffix}", repository.replace('.', "-"))
}

/// The `reports:` section for `reports` (empty when there is nothing CodeBuild can read: an
/// LCOV report alone), its groups named from `prefix` and `repository`.
pub fn reports_section(reports: &Reports, prefix: &str, repository: &str) -> String {
    let mut groups = String::new();
    if !reports.junit.is_empty() {
        let arn = report_group_arn(prefix, repository, TESTS_SUFFIX);
        groups.push_str(&group(&arn, &reports.junit, "JUNITXML"));
    }
    if let Some(coverage) = &reports.coverage
        && let Some(format) = codebuild_coverage_format(coverage.format)
    {
        let arn = report_group_arn(prefix, repository, COVERAGE_SUFFIX);
        groups.push_str(&group(&arn, std::slice::from_ref(&coverage.path), format));
    }
    if groups.is_empty() {
        return groups;
    }
    format!("reports:\n{groups}")
}

/// One report group's entry: its files (relative to the source folder) and their format.
fn group(arn: &str, files: &[String], format: &str) -> String {
    let mut out = format!("  {}:\n    files:\n", yaml_quote(arn));
    for file in files {
        let file = file.trim_start_matches("./").trim_start_matches('/');
        out.push_str("      - ");
        out.push_str(&yaml_quote(file));
        out.push('\n');
    }
    out.push_str("    file-format: ");
    out.push_str(format);
    out.push('\n');
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gate_file::{CoverageFormat, CoverageReport};

    const PREFIX: &str = "arn:aws:codebuild:eu-west-1:123456789012:report-group/gate-";

    #[test]
    fn the_section_names_the_repositorys_groups_by_arn() {
        let reports = Reports {
            junit: vec![
                "./target/nextest/ci/junit.xml".into(),
                "reports/**/TEST-*.xml".into(),
            ],
            coverage: Some(CoverageReport {
                format: CoverageFormat::Jacoco,
                path: "build/jacoco.xml".into(),
                min_line: Some(80),
            }),
        };
        let section = reports_section(&reports, PREFIX, "shop.web");
        assert_eq!(
            section,
            "reports:\n  \"arn:aws:codebuild:eu-west-1:123456789012:report-group/gate-shop-web-tests\":\n    files:\n      - \"target/nextest/ci/junit.xml\"\n      - \"reports/**/TEST-*.xml\"\n    file-format: JUNITXML\n  \"arn:aws:codebuild:eu-west-1:123456789012:report-group/gate-shop-web-coverage\":\n    files:\n      - \"build/jacoco.xml\"\n    file-format: JACOCOXML\n"
        );
        let buildspec = format!("{}{section}", crate::machine::buildspec(&["make".into()]));
        let parsed: serde_json::Value = serde_saphyr::from_str(&buildspec).expect("YAML");
        assert_eq!(
            parsed["reports"][format!("{PREFIX}shop-web-tests")]["files"][1],
            "reports/**/TEST-*.xml"
        );
        let mut commands: Vec<String> = crate::machine::MERGE_PRELUDE
            .iter()
            .map(|c| (*c).to_owned())
            .collect();
        commands.push("make".into());
        assert_eq!(
            crate::machine::buildspec_commands(&buildspec).expect("phases"),
            commands,
            "the section leaves the phases as they were"
        );
    }

    #[test]
    fn lcov_alone_gives_no_section() {
        let reports = Reports {
            junit: Vec::new(),
            coverage: Some(CoverageReport {
                format: CoverageFormat::Lcov,
                path: "lcov.info".into(),
                min_line: None,
            }),
        };
        assert_eq!(reports_section(&reports, PREFIX, "shop"), "");
    }
}
