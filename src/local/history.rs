//! The run history, the local counterpart of the DynamoDB ledger: `.gate/history.jsonl`, one JSON object per `gate run`, appended atomically.
//!
//! Each line is a complete [`Entry`] (format version [`VERSION`]). A line is appended with a
//! single `write` to a file opened for appending, under the store's lock, then fsynced; a
//! writer that finds the file not ending in a newline (a crash mid-write) starts a new line
//! first. Readers skip a truncated last line, and count (but skip) any other damaged line.

use crate::ids::{CheckName, short_id};
use crate::local::merge::MergeStrategy;
use crate::local::progress::status_text;
use crate::local::runner::format_duration;
use crate::local::store::{self, Store};
use crate::policy::{CheckResult, CheckStatus};
use crate::test_reports::{LineCoverage, TestCounts, percent_text};
use serde::{Deserialize, Serialize};
use std::io;
use std::path::Path;
use std::time::Duration;

/// The format version of a history line.
pub const VERSION: u32 = 1;

/// A ref as given and the commit it named.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RefAt {
    /// The ref as given (`main`, `HEAD`, `feature/x`).
    #[serde(rename = "ref")]
    pub reference: String,
    /// The full commit id.
    pub commit: String,
}

/// How a run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HistoryVerdict {
    /// The gate passed.
    Passed,
    /// The gate failed (a required check, a merge conflict, an invalid gate file, a promotion
    /// rule).
    Failed,
    /// Stopped by Ctrl-C.
    Cancelled,
}

/// Why a run failed without running checks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NoRunReason {
    /// The source does not merge cleanly into the destination.
    MergeConflict,
    /// The gate file does not parse or validate.
    InvalidGateFile,
    /// A promotion rule refuses the source branch.
    PromotionRefused,
}

/// One check of a run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckEntry {
    /// The check.
    pub name: String,
    /// Its stage.
    pub stage: String,
    /// Whether a failure blocks.
    pub required: bool,
    /// How it ended.
    pub status: CheckStatus,
    /// Wall time of its last attempt.
    pub duration_ms: Option<u64>,
    /// Attempts made (0: never started).
    pub attempts: u32,
    /// Passed only after a retry.
    #[serde(default)]
    pub flaky: bool,
    /// What its JUnit reports counted, when it declares them and one was read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tests: Option<TestCounts>,
    /// Its line coverage, when it declares a coverage report and it was read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub line_coverage: Option<LineCoverage>,
}

impl CheckEntry {
    /// A check's entry from its result; with none it never finished, so it counts as
    /// cancelled.
    pub fn new(
        name: &CheckName,
        stage: &str,
        required: bool,
        result: Option<&CheckResult>,
    ) -> Self {
        let reports = result.and_then(|r| r.reports.as_ref());
        Self {
            name: name.as_str().to_owned(),
            stage: stage.to_owned(),
            required,
            status: result.map_or(CheckStatus::Cancelled, |r| r.status),
            duration_ms: result.and_then(|r| r.duration_ms),
            attempts: result.map_or(0, |r| r.attempts),
            flaky: result.is_some_and(|r| r.flaky),
            tests: reports.and_then(|r| r.tests.as_ref()).map(|t| t.counts),
            line_coverage: reports.and_then(|r| r.coverage.as_ref()).map(|c| c.line),
        }
    }
}

/// One run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    /// Format version ([`VERSION`]).
    pub version: u32,
    /// The run id (also the folder of its logs: `.gate/logs/<id>/`).
    pub id: String,
    /// When it started, RFC 3339 UTC with milliseconds.
    pub started_at: String,
    /// How long it took.
    pub duration_ms: u64,
    /// The repository's name.
    pub repository: String,
    /// The destination.
    pub base: RefAt,
    /// The source.
    pub head: RefAt,
    /// The merge commit that was tested, when the merge succeeded.
    pub merge_commit: Option<String>,
    /// How it ended.
    pub verdict: HistoryVerdict,
    /// Why it failed without running checks.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<NoRunReason>,
    /// The checks that ran (or were to run), in stage order.
    pub checks: Vec<CheckEntry>,
    /// The checks the plan skipped.
    #[serde(default)]
    pub skipped: Vec<String>,
    /// What `gate merge` merged where after this run passed (absent for `gate run`, and when
    /// nothing was merged).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub merged: Option<Merged>,
}

/// A branch `gate merge` advanced to the commit it tested.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Merged {
    /// The branch's full ref (`refs/heads/main`).
    pub base_ref: String,
    /// The commit the branch pointed at, which the gate tested on.
    pub from: String,
    /// The commit it points at now.
    pub to: String,
    /// How: the head itself, the tested merge commit, or its squash.
    pub strategy: MergeStrategy,
}

/// What reading the history found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct History {
    /// The entries, oldest first.
    pub entries: Vec<Entry>,
    /// Damaged lines skipped (a truncated last line is not counted).
    pub damaged: usize,
}

impl History {
    /// The newest `limit` entries, newest first.
    pub fn newest(&self, limit: usize) -> Vec<&Entry> {
        let mut all: Vec<&Entry> = self.entries.iter().collect();
        // Appends happen when runs end; order by start, newest first (stable for equal times).
        all.reverse();
        all.sort_by(|a, b| b.started_at.cmp(&a.started_at));
        all.truncate(limit);
        all
    }

    /// The destination's last recorded line coverage of `check`: the coverage the check
    /// recorded in the newest run (by start) that passed and whose destination was the branch
    /// `destination` (`main` and `refs/heads/main` are one branch). A passed run is what may
    /// merge, so its coverage is what the destination holds once it merged; a failed run's
    /// coverage is not a base. Runs that recorded no coverage for `check` (it was skipped, its
    /// report could not be read) are passed over; `None` when no run recorded any.
    pub fn coverage_base(&self, destination: &str, check: &str) -> Option<LineCoverage> {
        let branch = crate::test_reports::branch_name;
        let destination = branch(destination);
        self.newest(usize::MAX)
            .into_iter()
            .filter(|e| e.verdict == HistoryVerdict::Passed)
            .filter(|e| branch(&e.base.reference) == destination)
            .find_map(|e| {
                e.checks
                    .iter()
                    .find(|c| c.name == check)
                    .and_then(|c| c.line_coverage)
            })
    }
}

/// Appends one entry to `store`'s history.
pub fn append(store: &Store, entry: &Entry) -> io::Result<()> {
    store::append_json_line(store, &store.history(), entry)
}

/// Reads a history file (empty when it does not exist).
pub fn read(path: &Path) -> io::Result<History> {
    let text = match std::fs::read(path) {
        Ok(bytes) => String::from_utf8_lossy(&bytes).into_owned(),
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(History::default()),
        Err(e) => return Err(e),
    };
    Ok(parse(&text))
}

/// Parses history text: one entry a line; a truncated last line is skipped silently.
pub fn parse(text: &str) -> History {
    let mut history = History::default();
    let complete = text.ends_with('\n');
    let lines: Vec<&str> = text.split('\n').collect();
    let last = lines.len().saturating_sub(1);
    for (i, line) in lines.iter().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        match serde_json::from_str::<Entry>(line) {
            Ok(entry) => history.entries.push(entry),
            Err(_) if i == last && !complete => {}
            Err(_) => history.damaged += 1,
        }
    }
    history
}

/// One check of a run in `gate history`: `unit failed 12s [6 passed, 3 failed] [lines 70.0 %]`.
fn check_text(c: &CheckEntry) -> String {
    let mut s = format!("{} {}", c.name, status_text(c.status));
    if let Some(ms) = c.duration_ms {
        s.push_str(&format!(" {}", format_duration(Duration::from_millis(ms))));
    }
    if let Some(tests) = &c.tests {
        s.push_str(&format!(
            " [{} passed, {} failed]",
            tests.passed,
            tests.failed + tests.errored
        ));
    }
    if let Some(percent) = c.line_coverage.and_then(|l| l.percent()) {
        s.push_str(&format!(" [lines {}]", percent_text(percent)));
    }
    if c.flaky {
        s.push_str(" (flaky)");
    } else if c.attempts > 1 {
        s.push_str(&format!(" ({} attempts)", c.attempts));
    }
    if !c.required {
        s.push_str(" (optional)");
    }
    s
}

/// `gate history` as text: per run a line with its verdict, then its checks.
pub fn render_text(entries: &[&Entry]) -> String {
    if entries.is_empty() {
        return "No runs yet: `gate run` records each run here.\n".to_owned();
    }
    let mut out = String::new();
    for e in entries {
        let verdict = match (e.verdict, e.reason) {
            (HistoryVerdict::Passed, _) => "passed".to_owned(),
            (HistoryVerdict::Cancelled, _) => "cancelled".to_owned(),
            (HistoryVerdict::Failed, Some(NoRunReason::MergeConflict)) => {
                "failed: merge conflict".to_owned()
            }
            (HistoryVerdict::Failed, Some(NoRunReason::InvalidGateFile)) => {
                "failed: invalid gate file".to_owned()
            }
            (HistoryVerdict::Failed, Some(NoRunReason::PromotionRefused)) => {
                "failed: promotion refused".to_owned()
            }
            (HistoryVerdict::Failed, None) => "failed".to_owned(),
        };
        out.push_str(&format!(
            "{}  {:<9} {:>7}  {} {} into {} {}  ({})\n",
            e.started_at
                .get(..19)
                .unwrap_or(&e.started_at)
                .replace('T', " "),
            verdict,
            format_duration(Duration::from_millis(e.duration_ms)),
            e.head.reference,
            short_id(&e.head.commit),
            e.base.reference,
            short_id(&e.base.commit),
            e.id,
        ));
        if !e.checks.is_empty() {
            let checks: Vec<String> = e.checks.iter().map(check_text).collect();
            out.push_str(&format!("    {}\n", checks.join(" · ")));
        }
        if !e.skipped.is_empty() {
            out.push_str(&format!("    skipped: {}\n", e.skipped.join(", ")));
        }
        if let Some(m) = &e.merged {
            out.push_str(&format!(
                "    {}\n",
                crate::report::merge::history_line(
                    &m.base_ref,
                    &m.from,
                    &m.to,
                    m.strategy.as_str()
                )
            ));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs::OpenOptions;
    use std::io::Write;

    fn entry(id: &str, started_at: &str, verdict: HistoryVerdict) -> Entry {
        Entry {
            version: VERSION,
            id: id.into(),
            started_at: started_at.into(),
            duration_ms: 3_210,
            repository: "shop".into(),
            base: RefAt {
                reference: "main".into(),
                commit: "1".repeat(40),
            },
            head: RefAt {
                reference: "feature".into(),
                commit: "2".repeat(40),
            },
            merge_commit: Some("3".repeat(40)),
            verdict,
            reason: None,
            merged: None,
            checks: vec![CheckEntry {
                name: "api".into(),
                stage: "test".into(),
                required: true,
                status: CheckStatus::Passed,
                duration_ms: Some(1_000),
                attempts: 2,
                flaky: true,
                tests: None,
                line_coverage: None,
            }],
            skipped: vec!["web".into()],
        }
    }

    #[test]
    fn appends_survive_a_truncated_line_and_read_newest_first() {
        let dir =
            std::env::temp_dir().join(format!("gate-history-{:x}", crate::local::store::unique()));
        let store = Store::new(&dir);
        append(
            &store,
            &entry("r1", "2026-11-22T04:00:00.000Z", HistoryVerdict::Passed),
        )
        .expect("append");
        // A crash in the middle of the second append.
        let mut f = OpenOptions::new()
            .append(true)
            .open(store.history())
            .expect("open");
        f.write_all(b"{\"version\":1,\"id\":\"r2\",\"star")
            .expect("write");
        drop(f);
        let h = read(&store.history()).expect("read");
        assert_eq!((h.entries.len(), h.damaged), (1, 0));
        append(
            &store,
            &entry("r3", "2026-11-22T05:00:00.000Z", HistoryVerdict::Failed),
        )
        .expect("append");
        let h = read(&store.history()).expect("read");
        assert_eq!(h.damaged, 1, "the truncated line is now in the middle");
        let ids: Vec<&str> = h.newest(10).iter().map(|e| e.id.as_str()).collect();
        assert_eq!(ids, vec!["r3", "r1"]);
        assert_eq!(h.newest(1).len(), 1);
        let text = render_text(&h.newest(10));
        assert!(
            text.starts_with("2026-11-22 05:00:00  failed       3.2s  feature 22222222 into main 11111111  (r3)\n    api passed 1.0s (flaky)\n    skipped: web\n"),
            "{text}"
        );
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_line_without_merged_still_reads_and_a_merge_is_listed() {
        let mut e = entry("r1", "2026-11-22T04:00:00.000Z", HistoryVerdict::Passed);
        let mut line = serde_json::to_value(&e).expect("json");
        assert!(
            line.get("merged").is_none(),
            "absent unless gate merge merged"
        );
        line.as_object_mut().expect("object").remove("merged");
        let read: Entry = serde_json::from_value(line).expect("an older line reads");
        assert_eq!(read.merged, None);
        e.merged = Some(Merged {
            base_ref: "refs/heads/main".into(),
            from: "1".repeat(40),
            to: "3".repeat(40),
            strategy: MergeStrategy::Squash,
        });
        let json = serde_json::to_string(&e).expect("json");
        assert!(json.contains(r#""strategy":"squash""#), "{json}");
        assert_eq!(serde_json::from_str::<Entry>(&json).expect("reads"), e);
        let text = render_text(&[&e]);
        assert!(
            text.ends_with("    merged: main 11111111 → 33333333 (squash)\n"),
            "{text}"
        );
    }

    #[test]
    fn a_missing_history_is_empty() {
        let h = read(Path::new("/nonexistent/history.jsonl")).expect("read");
        assert!(h.entries.is_empty());
        assert!(render_text(&[]).starts_with("No runs yet"));
    }

    fn with_coverage(mut e: Entry, base: &str, covered: u64) -> Entry {
        e.base.reference = base.into();
        e.checks[0].line_coverage = Some(LineCoverage {
            covered,
            valid: 1000,
        });
        e
    }

    #[test]
    fn the_coverage_base_is_the_newest_passed_run_onto_the_same_branch() {
        let t = |s: &str| format!("2026-07-01T10:{s}:00.000Z");
        let history = History {
            entries: vec![
                with_coverage(entry("a", &t("00"), HistoryVerdict::Passed), "main", 800),
                with_coverage(
                    entry("b", &t("01"), HistoryVerdict::Passed),
                    "refs/heads/main",
                    810,
                ),
                // Newer, but failed, onto another branch, or without coverage: not a base.
                with_coverage(entry("c", &t("02"), HistoryVerdict::Failed), "main", 500),
                with_coverage(entry("d", &t("03"), HistoryVerdict::Passed), "develop", 900),
                entry("e", &t("04"), HistoryVerdict::Passed),
            ],
            damaged: 0,
        };
        let base = history.coverage_base("main", "api").expect("a base");
        assert_eq!(base.covered, 810);
        assert_eq!(
            history
                .coverage_base("refs/heads/develop", "api")
                .map(|b| b.covered),
            Some(900)
        );
        assert_eq!(history.coverage_base("main", "web"), None);
        assert_eq!(history.coverage_base("release", "api"), None);
    }

    #[test]
    fn the_coverage_base_is_the_run_that_started_last_not_the_one_that_ended_last() {
        // Appended as runs end: `slow` started first on an older `main` and ended last. The
        // ledger's bases order the same way (`CoverageBases::record`, by the run's start).
        let t = |s: &str| format!("2026-07-01T10:{s}:00.000Z");
        let history = History {
            entries: vec![
                with_coverage(
                    entry("quick", &t("05"), HistoryVerdict::Passed),
                    "main",
                    812,
                ),
                with_coverage(entry("slow", &t("00"), HistoryVerdict::Passed), "main", 700),
            ],
            damaged: 0,
        };
        assert_eq!(
            history.coverage_base("main", "api").map(|b| b.covered),
            Some(812)
        );
    }
}
