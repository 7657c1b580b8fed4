//! [`Logs`] for the embedded default: check logs are files (`group` is a folder, `stream` a file in it).

use crate::ports::test_reports::{BuildReport, ReportTestCase, TestReports};
use crate::ports::{Logs, PortError, PortResult};
use std::path::PathBuf;

/// Log files on this machine.
#[derive(Debug, Clone, Default)]
pub struct LocalLogs;

impl Logs for LocalLogs {
    async fn tail(&self, group: &str, stream: &str, lines: usize) -> PortResult<Option<String>> {
        let path = PathBuf::from(group).join(stream);
        match std::fs::read(&path) {
            Ok(bytes) => {
                let text = String::from_utf8_lossy(&bytes);
                let all: Vec<&str> = text.lines().collect();
                Ok(Some(all[all.len().saturating_sub(lines)..].join("\n")))
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(PortError::Transient {
                call: "logs:GetLogEvents",
                message: format!("{}: {e}", path.display()),
            }),
        }
    }
}

/// Locally the runner reads a check's report files itself and hands them over with its result,
/// so there is no build report to fetch: every call finds nothing.
impl TestReports for LocalLogs {
    async fn reports(&self, _arns: &[String]) -> PortResult<Vec<BuildReport>> {
        Ok(Vec::new())
    }

    async fn failed_cases(&self, _arn: &str, _limit: usize) -> PortResult<Vec<ReportTestCase>> {
        Ok(Vec::new())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_tail_is_the_last_lines_of_the_file() {
        let dir = tempfile::tempdir().expect("dir");
        std::fs::write(dir.path().join("check.log"), "a\nb\nc\n").expect("write");
        let group = dir.path().to_string_lossy().into_owned();
        assert_eq!(
            LocalLogs.tail(&group, "check.log", 2).await,
            Ok(Some("b\nc".to_owned()))
        );
        assert_eq!(LocalLogs.tail(&group, "missing.log", 2).await, Ok(None));
    }
}
