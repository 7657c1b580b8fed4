//! Reading a check's declared reports from its worktree after it ran: the JUnit globs and the
//! coverage path, relative to the worktree, bounded (see [`crate::test_reports`] for the
//! limits of one file).
//!
//! A glob is walked only from its literal prefix (`target/nextest/ci/junit.xml` is one
//! look-up, `reports/**/TEST-*.xml` walks `reports/`), at most [`MAX_WALK_ENTRIES`] entries
//! per glob and [`MAX_JUNIT_FILES`] files per check. Symbolic links are neither followed nor
//! read, and `.git` is never walked: a report is a regular file the check wrote in the
//! worktree.

use crate::gate_file::Reports;
use crate::test_reports::{CheckReports, ReportError, read_report};
use globset::{GlobBuilder, GlobMatcher};
use std::path::{Path, PathBuf};

/// Directory entries one JUnit glob may visit.
pub const MAX_WALK_ENTRIES: usize = 100_000;
/// JUnit files read for one check.
pub const MAX_JUNIT_FILES: usize = 100;

/// Reads the reports `spec` declares from `root` (the check's worktree).
pub fn read_check_reports(root: &Path, spec: &Reports) -> CheckReports {
    let mut reports = CheckReports::default();
    let mut files = 0;
    for glob in &spec.junit {
        match junit_files(root, glob) {
            Ok(found) if found.is_empty() => {
                reports.note(glob, "no file matches it".to_owned());
            }
            Ok(found) => {
                for (shown, path) in found {
                    if files == MAX_JUNIT_FILES {
                        reports.note(
                            glob,
                            format!(
                                "more than {MAX_JUNIT_FILES} JUnit files; the rest are not read"
                            ),
                        );
                        break;
                    }
                    files += 1;
                    reports.add_junit_bytes(&shown, read_regular(&path));
                }
            }
            Err(why) => reports.note(glob, why),
        }
    }
    if let Some(coverage) = &spec.coverage {
        let path = root.join(clean(&coverage.path));
        reports.set_coverage_bytes(coverage, read_regular(&path));
    }
    reports
}

/// A report file's bytes: a regular file only (a symbolic link or a folder is refused).
fn read_regular(path: &Path) -> Result<Vec<u8>, ReportError> {
    let meta = std::fs::symlink_metadata(path).map_err(|e| ReportError::Io(e.to_string()))?;
    if meta.file_type().is_symlink() {
        return Err(ReportError::Io(
            "it is a symbolic link, which the gate does not follow".to_owned(),
        ));
    }
    if !meta.is_file() {
        return Err(ReportError::Io("it is not a regular file".to_owned()));
    }
    read_report(path)
}

/// A declared path without a leading `./` or `/`.
fn clean(path: &str) -> &str {
    path.trim_start_matches("./").trim_start_matches('/')
}

/// The files under `root` that `glob` matches, as (path relative to `root`, full path), sorted.
fn junit_files(root: &Path, glob: &str) -> Result<Vec<(String, PathBuf)>, String> {
    let pattern = clean(glob);
    let matcher = GlobBuilder::new(pattern)
        .literal_separator(true)
        .build()
        .map_err(|e| format!("invalid glob: {}", e.kind()))?
        .compile_matcher();
    let prefix = literal_prefix(pattern);
    let start = root.join(&prefix);
    let mut walk = Walk {
        root,
        matcher: &matcher,
        visited: 0,
        found: Vec::new(),
    };
    if prefix == pattern {
        // No wildcard: one look-up.
        if std::fs::symlink_metadata(&start).is_ok() {
            walk.found.push((pattern.to_owned(), start));
        }
        return Ok(walk.found);
    }
    walk.dir(&start)?;
    walk.found.sort();
    Ok(walk.found)
}

/// The folders of `pattern` before its first part with a wildcard (`a/b` of `a/b/**/*.xml`);
/// the whole pattern when it has none.
fn literal_prefix(pattern: &str) -> String {
    let wild = |part: &str| part.contains(['*', '?', '[', '{', '\\']);
    let parts: Vec<&str> = pattern.split('/').collect();
    match parts.iter().position(|p| wild(p)) {
        None => pattern.to_owned(),
        Some(i) => parts[..i].join("/"),
    }
}

/// A bounded walk collecting the files a glob matches.
struct Walk<'a> {
    root: &'a Path,
    matcher: &'a GlobMatcher,
    visited: usize,
    found: Vec<(String, PathBuf)>,
}

impl Walk<'_> {
    /// Walks `dir` (a missing one holds nothing), never into `.git` nor through a link.
    fn dir(&mut self, dir: &Path) -> Result<(), String> {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return Ok(());
        };
        for entry in entries.flatten() {
            self.visited += 1;
            if self.visited > MAX_WALK_ENTRIES {
                return Err(format!(
                    "the glob visits more than {MAX_WALK_ENTRIES} files and folders; \
                     start it with the folder the reports are in"
                ));
            }
            let Ok(kind) = entry.file_type() else {
                continue;
            };
            let path = entry.path();
            if kind.is_dir() && entry.file_name() != ".git" {
                self.dir(&path)?;
            } else if !kind.is_dir() {
                let Ok(relative) = path.strip_prefix(self.root) else {
                    continue;
                };
                let relative = relative.to_string_lossy().replace('\\', "/");
                if self.matcher.is_match(&relative) {
                    self.found.push((relative, path));
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_literal_prefix_stops_at_the_first_wildcard() {
        assert_eq!(
            literal_prefix("target/nextest/ci/junit.xml"),
            "target/nextest/ci/junit.xml"
        );
        assert_eq!(literal_prefix("reports/**/TEST-*.xml"), "reports");
        assert_eq!(literal_prefix("**/TEST-*.xml"), "");
        assert_eq!(literal_prefix("out/junit-?.xml"), "out");
    }
}
