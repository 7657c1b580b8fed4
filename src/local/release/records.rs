//! What releases leave in `.gate/`: each environment's record (`environments/<env>.record.json`:
//! the release lane and what is deployed, the same [`EnvironmentRecord`] the ledger keeps on
//! AWS), its lock (`environments/<env>.lock`), each release's
//! folder (`releases/<id>/`: `release.json`, `report.md`, the logs) and the list of every
//! release (`releases.jsonl`, one record a line, appended).

use crate::ids::RepositoryName;
use crate::local::store::{self, Store, file_name};
use crate::ports::EnvironmentRecord;
use crate::release::{EnvironmentState, ReleaseRecord};

/// How often saving a state re-reads a record another writer changed.
const SAVE_ATTEMPTS: usize = 5;
use std::fs::{File, OpenOptions, TryLockError};
use std::io::{self, Read, Seek, Write};
use std::path::PathBuf;

/// The release records of a repository's store.
#[derive(Debug, Clone)]
pub struct Records {
    root: PathBuf,
    store: Store,
}

impl Records {
    /// The records under `store`'s root.
    pub fn new(store: &Store) -> Self {
        Self {
            root: store.root().to_path_buf(),
            store: store.clone(),
        }
    }

    /// `environments/<env>.record.json`.
    pub fn state_path(&self, environment: &str) -> PathBuf {
        self.store.environment_record(environment)
    }

    /// The environment's record, if it was ever written.
    pub fn environment(&self, environment: &str) -> io::Result<Option<EnvironmentRecord>> {
        store::read_json(&self.state_path(environment))
    }

    /// Writes `record` at version `record.version + 1` if the stored one is still at
    /// `record.version` (absent at 0); returns whether it wrote.
    pub fn put_environment(&self, record: &EnvironmentRecord) -> io::Result<bool> {
        let next = EnvironmentRecord {
            version: record.version + 1,
            ..record.clone()
        };
        store::write_if_version(
            &self.store,
            &self.state_path(&record.environment),
            record.version,
            |r: &EnvironmentRecord| r.version,
            &next,
        )
    }

    /// The environment's state; an environment never released has the default (empty) one.
    pub fn state(&self, environment: &str) -> io::Result<EnvironmentState> {
        let mut state = self
            .environment(environment)?
            .map(|r| r.state)
            .unwrap_or_default();
        state.environment = environment.to_owned();
        Ok(state)
    }

    /// Replaces the environment's state in its record (keeping the lane), re-reading when
    /// another writer won. The environment's lock is held, so that is never a release.
    pub fn save_state(
        &self,
        repository: &RepositoryName,
        state: &EnvironmentState,
    ) -> io::Result<()> {
        for _ in 0..SAVE_ATTEMPTS {
            let mut record = self
                .environment(&state.environment)?
                .unwrap_or_else(|| EnvironmentRecord::new(repository.clone(), &state.environment));
            record.state = state.clone();
            if self.put_environment(&record)? {
                return Ok(());
            }
        }
        Err(io::Error::other(format!(
            "the record of {} kept changing under {SAVE_ATTEMPTS} writes",
            state.environment
        )))
    }

    /// The folder of release `id`.
    pub fn release_dir(&self, id: &str) -> PathBuf {
        self.root.join("releases").join(file_name(id))
    }

    /// `releases.jsonl`.
    pub fn log_path(&self) -> PathBuf {
        self.root.join("releases.jsonl")
    }

    /// Writes the record to its folder and appends it to `releases.jsonl`.
    pub fn record(&self, record: &ReleaseRecord) -> io::Result<()> {
        let dir = self.release_dir(&record.id);
        std::fs::create_dir_all(&dir)?;
        store::write_json_replace(&dir.join("release.json"), record)?;
        store::append_json_line(&self.store, &self.log_path(), record)
    }

    /// Every release recorded, oldest first; lines that do not parse (a torn last line) are
    /// skipped.
    pub fn releases(&self) -> io::Result<Vec<ReleaseRecord>> {
        let text = match std::fs::read_to_string(self.log_path()) {
            Ok(text) => text,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(e),
        };
        Ok(text
            .lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect())
    }

    /// Takes the environment's lock without waiting: `Err(holder)` says who holds it (what
    /// the holder wrote into the lock file). The operating system releases the lock when the
    /// process ends, however it ends, so a crash leaves no stale lock behind.
    pub fn lock(&self, environment: &str, holder: &str) -> io::Result<Result<EnvLock, String>> {
        let path = self
            .root
            .join("environments")
            .join(format!("{}.lock", file_name(environment)));
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)?;
        }
        let mut file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .read(true)
            .write(true)
            .open(&path)?;
        match file.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => {
                let mut text = String::new();
                let _ = file.read_to_string(&mut text);
                return Ok(Err(text.trim().to_owned()));
            }
            Err(TryLockError::Error(e)) => return Err(e),
        }
        file.set_len(0)?;
        file.rewind()?;
        file.write_all(holder.as_bytes())?;
        file.flush()?;
        Ok(Ok(EnvLock { _file: file }))
    }
}

/// An environment's release lock, held until dropped.
#[derive(Debug)]
pub struct EnvLock {
    _file: File,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_lock_per_environment_and_it_says_who_holds_it() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let records = Records::new(&Store::new(tmp.path()));
        let held = records
            .lock("production", "release r1 (pid 7)")
            .expect("io")
            .expect("free");
        let busy = records.lock("production", "release r2").expect("io");
        assert_eq!(busy.err().as_deref(), Some("release r1 (pid 7)"));
        assert!(records.lock("testing", "r3").expect("io").is_ok());
        drop(held);
        assert!(records.lock("production", "r4").expect("io").is_ok());
    }
}
