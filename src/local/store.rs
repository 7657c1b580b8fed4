//! The local store: everything the embedded default keeps under `.gate/` in a repository (logs, reports, history, pull requests, comments, ledger, executions).
//!
//! Layout (documented for users in `docs/local.md`):
//!
//! ```text
//! .gate/
//!   .gitignore              `*`: the folder ignores itself, in every repository
//!   history.jsonl           one JSON object per `gate run` (see `history`)
//!   last-report.md          the last `gate run`'s report (the PR comment it would post)
//!   logs/<run-id>/          one `<check>.log` per check, `report.md`, `run.json`
//!   prs/<id>.json           local pull requests (`gate event` writes them)
//!   comments/<id>.json      comments on them (`gate event comment --text`, the gate's own)
//!   ledger/<id>.json        the ledger record of a PR (`LocalLedger`)
//!   executions/<name>.json  the results of a local execution (`LocalExecutions`)
//!   lock                    advisory lock held while a read-modify-write runs
//! ```
//!
//! Every JSON file is written atomically (a temporary file in the same folder, fsync, rename),
//! and every read-modify-write holds an exclusive advisory lock (`flock` through
//! [`std::fs::File::lock`]), released by the kernel if the process dies, so two processes
//! cannot both win and a crash cannot wedge the store.

use serde::Serialize;
use serde::de::DeserializeOwned;
use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

/// The folder name of the store, at the top of a repository's work tree.
pub const DIR: &str = ".gate";

/// A repository's `.gate/` folder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Store {
    root: PathBuf,
}

impl Store {
    /// The store of the repository whose work tree is `repo_dir` (not created yet).
    pub fn new(repo_dir: impl AsRef<Path>) -> Self {
        Self {
            root: repo_dir.as_ref().join(DIR),
        }
    }

    /// The `.gate/` folder.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Creates `.gate/` with its `.gitignore` (`*`), so the store never shows up in
    /// `git status` and is never committed, whatever the repository's own ignore rules say.
    pub fn ensure(&self) -> io::Result<()> {
        std::fs::create_dir_all(&self.root)?;
        let ignore = self.root.join(".gitignore");
        if !ignore.exists() {
            write_atomic(
                &ignore,
                b"# Written by codecommit-gate: the local store is never committed.\n*\n",
            )?;
        }
        Ok(())
    }

    /// `history.jsonl`.
    pub fn history(&self) -> PathBuf {
        self.root.join("history.jsonl")
    }

    /// `last-report.md`.
    pub fn last_report(&self) -> PathBuf {
        self.root.join("last-report.md")
    }

    /// `logs/<run-id>/`.
    pub fn run_dir(&self, run_id: &str) -> PathBuf {
        self.root.join("logs").join(run_id)
    }

    /// `prs/<id>.json`.
    pub fn pull_request(&self, id: &str) -> PathBuf {
        self.root
            .join("prs")
            .join(format!("{}.json", file_name(id)))
    }

    /// `prs/`.
    pub fn pull_requests(&self) -> PathBuf {
        self.root.join("prs")
    }

    /// `comments/<id>.json`.
    pub fn comment(&self, id: &str) -> PathBuf {
        self.root
            .join("comments")
            .join(format!("{}.json", file_name(id)))
    }

    /// `comments/`.
    pub fn comments(&self) -> PathBuf {
        self.root.join("comments")
    }

    /// `ledger/<pr>.json`.
    pub fn ledger(&self, pr: &str) -> PathBuf {
        self.root
            .join("ledger")
            .join(format!("{}.json", file_name(pr)))
    }

    /// `coverage/<branch>.json`: a destination branch's coverage bases (the ledger's item).
    pub fn coverage_bases(&self, branch: &str) -> PathBuf {
        self.root
            .join("coverage")
            .join(format!("{}.json", file_name(branch)))
    }

    /// `ledger-reuse.json`: the repository's recorded passes as the ledger keeps them
    /// ([`crate::reuse::ledger`]; `gate run`'s own records are under `reuse/`).
    pub fn ledger_passes(&self) -> PathBuf {
        self.root.join("ledger-reuse.json")
    }

    /// `executions/<name>.json`.
    pub fn execution(&self, name: &str) -> PathBuf {
        self.root
            .join("executions")
            .join(format!("{}.json", file_name(name)))
    }

    /// `environments/<env>.record.json`: the ledger's record of an environment (the lane and
    /// what is deployed) for the local adapters.
    pub fn environment_record(&self, environment: &str) -> PathBuf {
        self.root
            .join("environments")
            .join(format!("{}.record.json", file_name(environment)))
    }

    /// Takes the store's exclusive lock (blocking until it is free); released on drop.
    pub fn lock(&self) -> io::Result<StoreLock> {
        self.ensure()?;
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(self.root.join("lock"))?;
        file.lock()?;
        Ok(StoreLock { _file: file })
    }
}

/// The store's lock, held until dropped.
#[derive(Debug)]
pub struct StoreLock {
    _file: File,
}

/// A file name for an identifier: characters other than `[A-Za-z0-9._-]` become `_`, and a
/// short hash keeps two identifiers that map to the same text apart.
pub fn file_name(id: &str) -> String {
    let clean: String = id
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.') {
                c
            } else {
                '_'
            }
        })
        .collect();
    if clean == id && !id.starts_with('.') && !id.is_empty() {
        return clean;
    }
    let digest = sha2::Sha256::digest(id.as_bytes());
    let hash: String = digest.iter().take(4).map(|b| format!("{b:02x}")).collect();
    format!("{}-{hash}", clean.trim_start_matches('.'))
}

use sha2::Digest as _;

/// Writes `bytes` to `path` atomically: a temporary file next to it, fsync, rename, fsync of
/// the folder. Readers see the old or the new content, never a mix, and the new content
/// survives a crash once this returns.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> io::Result<()> {
    write_replacing(path, bytes, true)
}

/// Like [`write_atomic`] without the fsyncs (two disk flushes fewer): readers still see the
/// old or the new content, but a crash may lose the new one. For reports and logs that a run
/// can write again.
pub fn write_replace(path: &Path, bytes: &[u8]) -> io::Result<()> {
    write_replacing(path, bytes, false)
}

fn write_replacing(path: &Path, bytes: &[u8], durable: bool) -> io::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir)?;
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = dir.join(format!(".{name}.{}.{}.tmp", std::process::id(), unique()));
    let result = (|| {
        let mut file = File::create(&tmp)?;
        file.write_all(bytes)?;
        if durable {
            file.sync_all()?;
        }
        std::fs::rename(&tmp, path)?;
        if durable && let Ok(d) = File::open(dir) {
            let _ = d.sync_all();
        }
        Ok(())
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

/// Writes `value` as pretty JSON (with a final newline), atomically.
pub fn write_json<T: Serialize>(path: &Path, value: &T) -> io::Result<()> {
    let mut text = serde_json::to_string_pretty(value).map_err(io::Error::other)?;
    text.push('\n');
    write_atomic(path, text.as_bytes())
}

/// Writes `value` as pretty JSON, atomically but without fsync ([`write_replace`]).
pub fn write_json_replace<T: Serialize>(path: &Path, value: &T) -> io::Result<()> {
    let mut text = serde_json::to_string_pretty(value).map_err(io::Error::other)?;
    text.push('\n');
    write_replace(path, text.as_bytes())
}

/// Writes `next` to `path` if the record stored there is at version `expected` (or absent
/// when `expected` is 0), under the store's lock, as DynamoDB's condition expression does:
/// of two writers of the same version exactly one wins. `version_of` reads a stored record's
/// version. Returns whether it wrote.
pub fn write_if_version<T: Serialize + DeserializeOwned>(
    store: &Store,
    path: &Path,
    expected: u64,
    version_of: fn(&T) -> u64,
    next: &T,
) -> io::Result<bool> {
    let _lock = store.lock()?;
    let stored: Option<T> = read_json(path)?;
    if stored.as_ref().map_or(0, version_of) != expected {
        return Ok(false);
    }
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)?;
    }
    write_json(path, next)?;
    Ok(true)
}

/// Appends `value` as one JSON line to `path`, under the store's lock, and syncs it. A file
/// that does not end in a newline (a crash mid-write) gets one first, so the torn line stays
/// alone and readers skip it.
pub fn append_json_line<T: Serialize>(store: &Store, path: &Path, value: &T) -> io::Result<()> {
    use std::io::{Read as _, Seek as _, SeekFrom, Write as _};
    let _lock = store.lock()?;
    let mut line = serde_json::to_string(value).map_err(io::Error::other)?;
    line.push('\n');
    let mut file = OpenOptions::new()
        .create(true)
        .append(true)
        .read(true)
        .open(path)?;
    let len = file.metadata()?.len();
    if len > 0 {
        let mut last = [0u8; 1];
        file.seek(SeekFrom::Start(len - 1))?;
        file.read_exact(&mut last)?;
        if last[0] != b'\n' {
            line.insert(0, '\n');
        }
    }
    file.write_all(line.as_bytes())?;
    file.sync_data()
}

/// Reads a JSON file; `None` when it does not exist.
pub fn read_json<T: DeserializeOwned>(path: &Path) -> io::Result<Option<T>> {
    match std::fs::read(path) {
        Ok(bytes) => serde_json::from_slice(&bytes).map(Some).map_err(|e| {
            io::Error::new(
                io::ErrorKind::InvalidData,
                format!("{}: {e}", path.display()),
            )
        }),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

/// The JSON files of a folder, sorted by name (none when it does not exist).
pub fn json_files(dir: &Path) -> io::Result<Vec<PathBuf>> {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    let mut files: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| {
            p.extension().is_some_and(|x| x == "json")
                && !p
                    .file_name()
                    .is_some_and(|n| n.to_string_lossy().starts_with('.'))
        })
        .collect();
    files.sort();
    Ok(files)
}

/// A number that differs between calls in this process (for temporary file names and ids).
pub fn unique() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64);
    nanos.wrapping_add(NEXT.fetch_add(1, Ordering::Relaxed))
}

/// Hex digits of a SHA-256 of `parts` joined by newlines.
pub fn hex_digest(parts: &[&str], hex_chars: usize) -> String {
    let digest = sha2::Sha256::digest(parts.join("\n").as_bytes());
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    hex.chars().take(hex_chars).collect()
}

pub use crate::clock::Utc;

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn calendar_times_match_known_dates() {
        let t = UNIX_EPOCH + Duration::from_millis(1_795_778_042_123);
        let utc = Utc::from_system(t);
        assert_eq!(utc.rfc3339_millis(), "2026-11-27T11:14:02.123Z");
        assert_eq!(utc.codecommit(), "Fri Nov 27 11:14:02 UTC 2026");
        assert_eq!(utc.compact(), "20261127T111402Z");
        let leap = Utc::from_system(UNIX_EPOCH + Duration::from_secs(951_782_400));
        assert_eq!(leap.rfc3339(), "2000-02-29T00:00:00Z");
        assert_eq!(leap.codecommit(), "Tue Feb 29 00:00:00 UTC 2000");
    }

    #[test]
    fn file_names_are_safe_and_distinct() {
        assert_eq!(file_name("api-tests"), "api-tests");
        assert_eq!(file_name("42"), "42");
        let a = file_name("a/b");
        let b = file_name("a_b");
        assert_ne!(a, b);
        assert!(!a.contains('/'));
        assert!(!file_name("..").starts_with('.'));
        assert!(!file_name("").is_empty());
    }

    #[test]
    fn atomic_writes_replace_whole_files() {
        let dir = std::env::temp_dir().join(format!("gate-store-test-{}", unique()));
        let path = dir.join("x").join("f.json");
        write_json(&path, &serde_json::json!({"a": 1})).expect("write");
        write_json(&path, &serde_json::json!({"a": 2})).expect("rewrite");
        let back: serde_json::Value = read_json(&path).expect("read").expect("exists");
        assert_eq!(back["a"], 2);
        assert_eq!(
            json_files(&dir.join("x")).expect("list"),
            vec![path.clone()]
        );
        assert!(
            read_json::<serde_json::Value>(&dir.join("none.json"))
                .expect("ok")
                .is_none()
        );
        let _ = std::fs::remove_dir_all(&dir);
    }
}
