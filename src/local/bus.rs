//! `LocalBus`: the embedded default's event bus. Each announcement is appended as one JSON
//! line to the repository's `.gate/events.jsonl`, shaped like the EventBridge event a rule
//! would receive (`source`, `detail-type`, `time`, `resources`, `detail`), so a team can try
//! its routing on what a laptop run announced (`tail -f .gate/events.jsonl | jq`).
//!
//! Appending goes through [`store::append_json_line`]: under the store's lock, synced, and a
//! line torn by a crash stays alone on its line, so readers skip it and every other line parses.

use crate::announce::{Announcement, SOURCE};
use crate::ids::RepositoryName;
use crate::local::store::{self, Store};
use crate::ports::{Bus, PortError, PortResult};
use std::path::PathBuf;

const PUT_EVENTS: &str = "events:PutEvents";

/// The announcements of the repositories under one folder, one `.gate/events.jsonl` each.
#[derive(Debug, Clone)]
pub struct LocalBus {
    repos_dir: PathBuf,
}

impl LocalBus {
    /// The bus of the repositories under `repos_dir`.
    pub fn new(repos_dir: impl Into<PathBuf>) -> Self {
        Self {
            repos_dir: repos_dir.into(),
        }
    }

    /// The bus of the repositories under `$GATE_REPOS_DIR` (else the current folder).
    pub fn from_env() -> Self {
        Self::new(crate::local::pull_requests::repos_dir(
            std::path::Path::new("."),
        ))
    }

    /// `.gate/events.jsonl` of `repository`.
    pub fn path(&self, repository: &RepositoryName) -> PathBuf {
        Store::new(self.repos_dir.join(repository.as_str()))
            .root()
            .join("events.jsonl")
    }

    /// The repository an announcement is about: its detail's `repository`, which must name a
    /// folder under the bus's (never a path out of it).
    fn repository(&self, event: &Announcement) -> PortResult<RepositoryName> {
        let name = event.detail["repository"].as_str().unwrap_or_default();
        let dir = self.repos_dir.join(name);
        if name.is_empty() || name.contains(['/', '\\']) || name.starts_with('.') || !dir.is_dir() {
            return Err(PortError::Permanent {
                call: PUT_EVENTS,
                message: format!(
                    "the announcement names no repository under {}: `{name}`",
                    self.repos_dir.display()
                ),
            });
        }
        Ok(RepositoryName::new(name.to_owned()))
    }
}

impl Bus for LocalBus {
    async fn put(&self, event: &Announcement) -> PortResult<()> {
        let repository = self.repository(event)?;
        let store = Store::new(self.repos_dir.join(repository.as_str()));
        let line = serde_json::json!({
            "source": SOURCE,
            "detail-type": event.detail_type,
            "time": crate::clock::Utc::now().rfc3339(),
            "resources": event.resources,
            "detail": event.detail,
        });
        store
            .ensure()
            .and_then(|()| store::append_json_line(&store, &self.path(&repository), &line))
            .map_err(|e| PortError::Transient {
                call: PUT_EVENTS,
                message: format!("cannot append to {}: {e}", self.path(&repository).display()),
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::announce::RUN_DETAIL_TYPE;

    fn event(repository: &str) -> Announcement {
        Announcement {
            detail_type: RUN_DETAIL_TYPE.to_owned(),
            resources: vec!["arn:aws:states:local:execution:gate:run-1".to_owned()],
            detail: serde_json::json!({"state": "PASSED", "repository": repository}),
        }
    }

    #[tokio::test]
    async fn announcements_are_appended_as_eventbridge_shaped_lines() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::create_dir(dir.path().join("my-repo")).expect("repo");
        let bus = LocalBus::new(dir.path());
        bus.put(&event("my-repo")).await.expect("first");
        bus.put(&event("my-repo")).await.expect("second");
        let path = bus.path(&RepositoryName::from("my-repo"));
        let text = std::fs::read_to_string(&path).expect("written");
        let lines: Vec<serde_json::Value> = text
            .lines()
            .map(|l| serde_json::from_str(l).expect("one JSON value a line"))
            .collect();
        assert_eq!(lines.len(), 2);
        assert_eq!(lines[0]["source"], SOURCE);
        assert_eq!(lines[0]["detail-type"], RUN_DETAIL_TYPE);
        assert_eq!(lines[1]["detail"]["state"], "PASSED");
    }

    #[tokio::test]
    async fn an_announcement_about_no_known_repository_is_refused() {
        let dir = tempfile::tempdir().expect("tempdir");
        let bus = LocalBus::new(dir.path());
        for name in ["", "../etc", "absent"] {
            let e = bus.put(&event(name)).await.expect_err(name);
            assert!(matches!(e, PortError::Permanent { .. }), "{e:?}");
        }
    }
}
