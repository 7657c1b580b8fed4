//! The local build cache: a check's `cache` paths kept under `.gate/cache/` from one `gate run`
//! to the next, restored into the run's worktree before its checks and saved after they pass.
//!
//! ```text
//! .gate/cache/
//!   lock                  flock: shared while an entry is read, exclusive while one is replaced
//!   <check>/meta.json     the check, the tree it was saved from, its definition's hash, bytes
//!   <check>/used          touched on every restore: the eviction's "last used"
//!   <check>/data/<path>   the saved paths, relative to the repository
//!   tmp-*/                saves in progress and entries being removed
//! ```
//!
//! Safety: a save is written in full under `tmp-*` and then swapped in with two renames under
//! the exclusive lock, while restores copy out under the shared one, so a reader never sees a
//! half-written entry and two runs saving at once each leave a whole one (the later wins). A
//! restore never replaces a file already in the worktree (the tested tree is never changed).
//! Only `~/`-less paths are kept: locally the home folder is the user's own and persists
//! between runs anyway (`~/.cargo/registry`), so there is nothing to restore. The size is
//! bounded ([`max_bytes`]): after each save the least recently used entries are removed until
//! the total fits.
//!
//! Restored outputs are only useful if the tools that check their freshness by modification
//! time (cargo, make) see the sources as older. A fresh worktree's files are all new, so after
//! a restore every tracked file whose content equals the one in the tree every restored entry
//! was saved from gets an old fixed time ([`SOURCES_TIME`]); a changed file keeps its new time
//! and so rebuilds what depends on it. Only entries saved by the same check definition count.

mod files;

use crate::local::git::Repo;
use crate::local::store::{self, Store};
use files::{copy_tree, set_mtime, size};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeSet, HashMap};
use std::fs::{self, File, OpenOptions};
use std::io;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

pub use files::{Copied, How};

/// The variable that bounds the cache's size in bytes.
pub const MAX_BYTES_VARIABLE: &str = "GATE_CACHE_MAX_BYTES";
/// The default bound: 10 GiB.
pub const DEFAULT_MAX_BYTES: u64 = 10 * 1024 * 1024 * 1024;
/// The time unchanged sources get after a restore: 2001-09-09, older than any cached output.
pub const SOURCES_TIME: Duration = Duration::from_secs(1_000_000_000);
/// A `tmp-*` folder older than this is left over from a run that died: removed.
const STALE_TMP: Duration = Duration::from_secs(24 * 3600);

/// The cache's size bound: [`MAX_BYTES_VARIABLE`] when set to a number, else
/// [`DEFAULT_MAX_BYTES`].
pub fn max_bytes() -> u64 {
    std::env::var(MAX_BYTES_VARIABLE)
        .ok()
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(DEFAULT_MAX_BYTES)
}

/// What is known of a saved entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Meta {
    /// The check it belongs to.
    pub check: String,
    /// The git tree of the worktree it was saved from.
    pub tree: String,
    /// The hash of the check's definition when it was saved.
    pub definition: String,
    /// The paths it holds, relative to the repository.
    pub paths: Vec<String>,
    /// Its size in bytes.
    pub bytes: u64,
    /// When it was saved, milliseconds since the epoch.
    pub saved_at_ms: u64,
    /// The worktree folder it was saved from: it is restored only there, since build outputs
    /// hold absolute paths (`None`: saved before folders were recorded, never restored).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub worktree: Option<PathBuf>,
}

/// One check's wish: its name, its definition's hash and its (validated) cache paths.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Want {
    /// The check.
    pub check: String,
    /// The hash of its definition ([`definition_hash`]).
    pub definition: String,
    /// Its cache paths as the gate file gives them (`~/` ones are left out locally).
    pub paths: Vec<String>,
}

impl Want {
    /// The paths kept locally: those inside the repository.
    fn local_paths(&self) -> impl Iterator<Item = &str> {
        self.paths
            .iter()
            .map(String::as_str)
            .filter(|p| !crate::gate_file::cache::in_home(p))
    }
}

/// What a restore did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Restored {
    /// The checks whose entry was restored.
    pub checks: Vec<String>,
    /// Files and bytes copied in.
    pub copied: Copied,
    /// Tracked files given [`SOURCES_TIME`].
    pub aged: usize,
    /// The checks whose entry was saved from another folder, so not restored.
    pub elsewhere: Vec<String>,
}

/// The hash of a check's definition, as its cache entry records it.
pub fn definition_hash(check: &crate::gate_file::Check) -> String {
    let text = serde_json::to_string(check).unwrap_or_default();
    store::hex_digest(&[&text], 32)
}

/// A repository's `.gate/cache/`.
#[derive(Debug, Clone)]
pub struct Cache {
    root: PathBuf,
    max_bytes: u64,
}

impl Cache {
    /// The cache of the repository whose store is `store`, bounded by `max_bytes`.
    pub fn new(store: &Store, max_bytes: u64) -> Self {
        Cache {
            root: store.root().join("cache"),
            max_bytes,
        }
    }

    fn entry(&self, check: &str) -> PathBuf {
        self.root.join(store::file_name(check))
    }

    fn lock(&self, exclusive: bool) -> io::Result<File> {
        fs::create_dir_all(&self.root)?;
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(self.root.join("lock"))?;
        if exclusive {
            file.lock()?;
        } else {
            file.lock_shared()?;
        }
        Ok(file)
    }

    /// The entry of `check`, if there is a whole one.
    pub fn meta(&self, check: &str) -> Option<Meta> {
        store::read_json(&self.entry(check).join("meta.json"))
            .ok()
            .flatten()
    }

    /// Restores the entries of `wants` into `worktree` (newest saved first; a file already
    /// there stays), then ages the unchanged tracked files (see the module's documentation).
    /// With `saved_in`, only the entries saved from that folder are restored (the others are
    /// listed in [`Restored::elsewhere`]): `gate run` passes the worktree itself, since build
    /// outputs hold the absolute paths of the folder they were built in.
    pub fn restore(
        &self,
        worktree: &Path,
        wants: &[Want],
        saved_in: Option<&Path>,
    ) -> io::Result<Restored> {
        let mut restored = Restored::default();
        let mut trees = BTreeSet::new();
        let mut every_tree_counts = true;
        {
            let _shared = self.lock(false)?;
            let mut found: Vec<(Meta, &Want)> = Vec::new();
            for want in wants {
                match self.meta(&want.check) {
                    Some(meta)
                        if saved_in
                            .is_none_or(|folder| meta.worktree.as_deref() == Some(folder)) =>
                    {
                        found.push((meta, want));
                    }
                    Some(_) => restored.elsewhere.push(want.check.clone()),
                    None => {}
                }
            }
            found.sort_by_key(|(m, _)| std::cmp::Reverse(m.saved_at_ms));
            for (meta, want) in found {
                let entry = self.entry(&want.check);
                for path in want
                    .local_paths()
                    .filter(|p| meta.paths.iter().any(|m| m == p))
                {
                    let from = entry.join("data").join(path);
                    if from.exists() || fs::symlink_metadata(&from).is_ok() {
                        let to = worktree.join(path);
                        if let Some(parent) = to.parent() {
                            fs::create_dir_all(parent)?;
                        }
                        let copied = copy_tree(&from, &to, How::Copy, true)?;
                        restored.copied.files += copied.files;
                        restored.copied.bytes += copied.bytes;
                    }
                }
                touch(&entry.join("used"));
                if meta.definition == want.definition {
                    trees.insert(meta.tree);
                } else {
                    every_tree_counts = false;
                }
                restored.checks.push(want.check.clone());
            }
        }
        if every_tree_counts && !trees.is_empty() {
            restored.aged = age_unchanged(&Repo::at(worktree), &trees)?;
        }
        Ok(restored)
    }

    /// Saves each check's paths from `worktree` (at git tree `tree`) as its entry, replacing
    /// the one before, then evicts down to the bound. Checks with the same paths share one
    /// copy (hard links: a cache file is never written again). `from_worktree` is
    /// [`How::Link`] when nothing writes the worktree's files any more (it is removed next):
    /// the save then costs no copy and no space.
    pub fn save(
        &self,
        worktree: &Path,
        tree: &str,
        wants: &[Want],
        from_worktree: How,
    ) -> io::Result<Copied> {
        fs::create_dir_all(&self.root)?;
        let mut copied = Copied::default();
        let mut staged: Vec<(PathBuf, &Want)> = Vec::new();
        for want in wants {
            let tmp = self.root.join(format!("tmp-{:x}", store::unique()));
            let data = tmp.join("data");
            fs::create_dir_all(&data)?;
            let twin = staged.iter().find(|(_, w)| w.paths == want.paths);
            let (from, how) = match twin {
                Some((dir, _)) => (dir.join("data"), How::Link),
                None => (worktree.to_path_buf(), from_worktree),
            };
            let mut saved_paths = Vec::new();
            for path in want.local_paths() {
                if fs::symlink_metadata(from.join(path)).is_err() {
                    continue;
                }
                if let Some(parent) = data.join(path).parent() {
                    fs::create_dir_all(parent)?;
                }
                let c = copy_tree(&from.join(path), &data.join(path), how, false)?;
                if twin.is_none() {
                    copied.files += c.files;
                    copied.bytes += c.bytes;
                }
                saved_paths.push(path.to_owned());
            }
            let meta = Meta {
                check: want.check.clone(),
                tree: tree.to_owned(),
                definition: want.definition.clone(),
                paths: saved_paths,
                bytes: size(&data),
                saved_at_ms: now_ms(),
                worktree: Some(worktree.to_path_buf()),
            };
            store::write_json(&tmp.join("meta.json"), &meta)?;
            staged.push((tmp, want));
        }
        for (tmp, want) in &staged {
            self.swap_in(tmp, &want.check)?;
        }
        self.evict()?;
        Ok(copied)
    }

    /// Replaces `check`'s entry with the whole one at `tmp` (two renames under the exclusive
    /// lock); the old one is removed after the lock is released.
    fn swap_in(&self, tmp: &Path, check: &str) -> io::Result<()> {
        let entry = self.entry(check);
        let old = self.root.join(format!("tmp-{:x}", store::unique()));
        {
            let _exclusive = self.lock(true)?;
            if entry.exists() {
                fs::rename(&entry, &old)?;
            }
            fs::rename(tmp, &entry)?;
            touch(&entry.join("used"));
        }
        let _ = fs::remove_dir_all(&old);
        Ok(())
    }

    /// Removes the least recently used entries until the total fits the bound, and `tmp-*`
    /// folders left by runs that died. Returns the checks whose entry was removed. Entries that
    /// share files (hard links) count them once; removing one frees only what no other holds.
    pub fn evict(&self) -> io::Result<Vec<String>> {
        let mut removed = Vec::new();
        let mut doomed = Vec::new();
        {
            let _exclusive = self.lock(true)?;
            let (mut entries, stale) = self.entries()?;
            doomed.extend(stale);
            entries.sort_by_key(|e| e.used);
            let mut holders: HashMap<(u64, u64), (u64, usize)> = HashMap::new();
            for e in &entries {
                for (inode, bytes) in &e.files {
                    holders.entry(*inode).or_insert((*bytes, 0)).1 += 1;
                }
            }
            let mut total: u64 = holders.values().map(|(bytes, _)| bytes).sum();
            for e in entries {
                if total <= self.max_bytes {
                    break;
                }
                let away = self.root.join(format!("tmp-{:x}", store::unique()));
                fs::rename(&e.dir, &away)?;
                doomed.push(away);
                for (inode, _) in &e.files {
                    if let Some((bytes, count)) = holders.get_mut(inode) {
                        *count -= 1;
                        if *count == 0 {
                            total -= *bytes;
                        }
                    }
                }
                removed.push(e.check);
            }
        }
        for dir in doomed {
            let _ = fs::remove_dir_all(dir);
        }
        Ok(removed)
    }

    /// The whole entries (with their files by inode) and the stale `tmp-*` folders.
    fn entries(&self) -> io::Result<(Vec<Held>, Vec<PathBuf>)> {
        let mut entries = Vec::new();
        let mut stale = Vec::new();
        for dir in fs::read_dir(&self.root)?.flatten() {
            let path = dir.path();
            if dir.file_name().to_string_lossy().starts_with("tmp-") {
                if age(&path) > STALE_TMP {
                    stale.push(path);
                }
                continue;
            }
            let Some(meta) = store::read_json::<Meta>(&path.join("meta.json"))
                .ok()
                .flatten()
            else {
                continue;
            };
            let used = fs::metadata(path.join("used"))
                .and_then(|m| m.modified())
                .unwrap_or(UNIX_EPOCH);
            let mut files = Vec::new();
            inodes(&path.join("data"), &mut files);
            entries.push(Held {
                check: meta.check,
                dir: path,
                used,
                files,
            });
        }
        Ok((entries, stale))
    }
}

/// An entry as eviction sees it.
struct Held {
    check: String,
    dir: PathBuf,
    used: SystemTime,
    /// (device, inode) and size of each file.
    files: Vec<((u64, u64), u64)>,
}

/// The (device, inode) and size of every file under `path` (links not followed).
fn inodes(path: &Path, out: &mut Vec<((u64, u64), u64)>) {
    use std::os::unix::fs::MetadataExt;
    let Ok(meta) = fs::symlink_metadata(path) else {
        return;
    };
    if meta.is_dir() {
        for entry in fs::read_dir(path).into_iter().flatten().flatten() {
            inodes(&entry.path(), out);
        }
    } else if meta.is_file() {
        out.push(((meta.dev(), meta.ino()), meta.len()));
    }
}

/// Gives every tracked file of `repo` whose content is the same as in each of `trees` the time
/// [`SOURCES_TIME`]; returns how many. A tree git no longer has ages nothing.
fn age_unchanged(repo: &Repo, trees: &BTreeSet<String>) -> io::Result<usize> {
    let mut changed = BTreeSet::new();
    for tree in trees {
        let Ok(diff) = repo.git(&["diff", "--name-only", "--no-renames", "-z", tree, "HEAD"])
        else {
            return Ok(0);
        };
        changed.extend(
            diff.split('\0')
                .filter(|p| !p.is_empty())
                .map(str::to_owned),
        );
    }
    let tracked = repo
        .git(&["ls-files", "-z"])
        .map_err(|e| io::Error::other(e.to_string()))?;
    let time = UNIX_EPOCH + SOURCES_TIME;
    let mut aged = 0;
    for path in tracked.split('\0').filter(|p| !p.is_empty()) {
        let file = repo.dir().join(path);
        let regular = fs::symlink_metadata(&file).is_ok_and(|m| m.is_file());
        if regular && !changed.contains(path) && set_mtime(&file, time).is_ok() {
            aged += 1;
        }
    }
    Ok(aged)
}

/// Marks an entry as used now (its `used` file's modification time).
fn touch(path: &Path) {
    if File::create(path).is_ok() {
        let _ = set_mtime(path, SystemTime::now());
    }
}

fn age(path: &Path) -> Duration {
    fs::metadata(path)
        .and_then(|m| m.modified())
        .ok()
        .and_then(|t| t.elapsed().ok())
        .unwrap_or_default()
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}
