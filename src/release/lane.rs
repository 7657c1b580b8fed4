//! One environment's release lane: releases of one (repository, environment) run one at a
//! time, in push order, and a commit that is superseded before it starts is skipped.
//!
//! The lane is a small record the AWS flow keeps in its table and writes with optimistic
//! concurrency (every write is conditional on the version it read), so two pushes delivered at
//! once cannot both start a release. Pure: the flow reads the lane, asks it what a push or the
//! end of a release means, writes it back and then acts.
//!
//! - A push when nothing runs starts a release of that commit.
//! - A push while a release runs waits: it becomes the lane's one queued commit. A queued
//!   commit that a newer push replaces before it started is *superseded*: it never runs, and
//!   the flow records it as such. Waiting for the newest commit only is what a release wants:
//!   the newest commit contains the older ones, and the plan against the last release covers
//!   their changes.
//! - A push of a commit that runs or waits already (EventBridge delivers at least once) is a
//!   duplicate and changes nothing; so is a push of the commit the environment is at. A push
//!   that puts the branch back at the running commit (a force push) withdraws the waiting one.
//! - When the running release ends, the queued commit, if any, starts.

use serde::{Deserialize, Serialize};

/// A release in the lane: which commit, and the sequence number that names its execution.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LaneRelease {
    /// The commit to release.
    pub commit: String,
    /// The lane's count of releases when this one was queued or started (1 for the first):
    /// part of the execution name, so a later release of the same commit gets a new name while
    /// a redelivered event finds the same one.
    pub sequence: u64,
    /// When it was pushed, RFC 3339.
    pub pushed_at: String,
    /// Who pushed it (the push event's `callerUserArn`): an author of the change, who may not
    /// approve it alone.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pushed_by: Option<String>,
}

/// One (repository, environment)'s lane (kept in [`crate::ports::EnvironmentRecord`], whose
/// version makes every write conditional on what was read).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Lane {
    /// How many releases were ever queued or started.
    pub sequence: u64,
    /// The release that runs.
    pub running: Option<LaneRelease>,
    /// The one commit that waits for it.
    pub queued: Option<LaneRelease>,
}

/// What a push to the environment's branch means.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Push {
    /// Nothing runs: start this release now.
    Start(LaneRelease),
    /// A release runs: this one waits; `superseded` is the queued commit it replaces, which
    /// never runs.
    Queued {
        /// The waiting release.
        release: LaneRelease,
        /// The commit it replaced in the queue.
        superseded: Option<LaneRelease>,
    },
    /// The branch is back at the running commit (a force push): the waiting commit is
    /// superseded and never runs.
    Withdrawn(LaneRelease),
    /// The commit runs or waits already: nothing changes.
    Duplicate,
    /// The environment is at that commit already: nothing changes.
    Released,
}

impl Lane {
    /// Applies a push of `commit` to the lane; `deployed` is the commit the environment is at.
    /// The lane changed (and must be written) unless the answer is `Duplicate` or `Released`.
    /// The branch's tip is what the lane ends at: the newest push always wins.
    pub fn push(&mut self, commit: &str, deployed: Option<&str>, now: &str) -> Push {
        let here = |r: &Option<LaneRelease>| r.as_ref().is_some_and(|r| r.commit == commit);
        if here(&self.queued) {
            return Push::Duplicate;
        }
        if here(&self.running) {
            return match self.queued.take() {
                Some(waiting) => Push::Withdrawn(waiting),
                None => Push::Duplicate,
            };
        }
        if self.running.is_none() && deployed == Some(commit) {
            return Push::Released;
        }
        self.sequence += 1;
        let release = LaneRelease {
            commit: commit.to_owned(),
            sequence: self.sequence,
            pushed_at: now.to_owned(),
            pushed_by: None,
        };
        if self.running.is_none() {
            self.running = Some(release.clone());
            Push::Start(release)
        } else {
            let superseded = self.queued.replace(release.clone());
            Push::Queued {
                release,
                superseded,
            }
        }
    }

    /// The release of `commit` with `sequence` ended: the queued release, if any, runs next
    /// and is returned (start it). `None` also when the ended release is not the one running
    /// (a redelivered end event): nothing changes then.
    pub fn finished(&mut self, commit: &str, sequence: u64) -> Option<LaneRelease> {
        let running = self.running.as_ref()?;
        if running.commit != commit || running.sequence != sequence {
            return None;
        }
        self.running = self.queued.take();
        self.running.clone()
    }

    /// Records who pushed `commit`, if it runs or waits in the lane.
    pub fn pushed_by(&mut self, commit: &str, who: Option<&str>) {
        for release in [&mut self.running, &mut self.queued].into_iter().flatten() {
            if release.commit == commit {
                release.pushed_by = who.map(str::to_owned);
            }
        }
    }

    /// Whether the lane has nothing running and nothing waiting.
    pub fn is_idle(&self) -> bool {
        self.running.is_none() && self.queued.is_none()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pushes_wait_for_the_running_release_and_only_the_newest_waits() {
        let mut lane = Lane::default();
        let Push::Start(first) = lane.push("c1", None, "t1") else {
            panic!("starts");
        };
        assert_eq!(first.sequence, 1);
        assert_eq!(lane.push("c1", None, "t1"), Push::Duplicate);
        let Push::Queued { superseded, .. } = lane.push("c2", None, "t2") else {
            panic!("waits");
        };
        assert_eq!(superseded, None);
        let Push::Queued {
            release,
            superseded,
        } = lane.push("c3", None, "t3")
        else {
            panic!("waits");
        };
        assert_eq!(superseded.map(|s| s.commit).as_deref(), Some("c2"));
        assert_eq!(release.sequence, 3);
        assert_eq!(lane.finished("c1", 7), None, "not the running release");
        let mut back = lane.clone();
        assert!(matches!(back.push("c1", None, "t"), Push::Withdrawn(w) if w.commit == "c3"));
        assert_eq!(back.queued, None);
        let next = lane.finished("c1", 1).expect("the queued one runs");
        assert_eq!(next.commit, "c3");
        assert_eq!(lane.finished("c3", 3), None);
        assert!(lane.is_idle());
        assert_eq!(lane.push("c3", Some("c3"), "t4"), Push::Released);
    }
}
