//! A temporary git worktree that holds exactly the code that would merge: the destination checked out, the source merged in; removed when the guard drops.
//!
//! `git worktree add --detach` under a folder of the system's temporary directory, so the
//! user's own work tree (and its uncommitted changes) is never touched. The guard removes the
//! worktree on every way out: normal return, early return, unwinding panic; the registry in
//! [`crate::local::cleanup`] covers Ctrl-C and aborting panics.
//!
//! **The same folder every run** (`Slot`). Builds bake absolute paths into their outputs
//! (cargo compiles `CARGO_MANIFEST_DIR` and `CARGO_BIN_EXE_*` into test binaries), so outputs
//! the build cache restores are right only in the folder they were built in: in a new folder
//! each run, a test binary cargo finds fresh would read the fixtures, and start the binaries,
//! of a run that is gone. So the worktree of a repository lives in the same folder,
//! `gate-<hash of the repository's path>-0`, run after run, like a developer's own checkout; a
//! run holds that slot's lock (`.gate/worktree-0.lock`) for its life, and a run started
//! meanwhile takes slot 1, 2, ….
//! The cache restores an entry only into the folder it was saved from
//! ([`crate::local::cache`]).

use crate::local::cleanup::{self, LiveWorktree};
use crate::local::git::{GitError, MergeTrial, Repo};
use crate::local::store;
use sha2::{Digest, Sha256};
use std::fs::File;
use std::path::{Path, PathBuf};

/// Who the merge commit is by (no git identity needs to be configured).
pub const MERGE_USER_NAME: &str = "codecommit-gate";
/// The merge commit's e-mail address.
pub const MERGE_USER_EMAIL: &str = "gate@invalid";

/// A temporary worktree; removed on drop unless [`Worktree::keep`] was called.
#[derive(Debug)]
pub struct Worktree {
    live: LiveWorktree,
    repo: Repo,
    keep: bool,
    /// The lock of its slot, released after the worktree is removed (fields drop after
    /// [`Drop::drop`]); `None` when every slot was busy and a fresh folder was used.
    _slot: Option<File>,
}

/// How many runs of one repository at once get a folder of their own that lasts (slots);
/// a run beyond them gets a fresh folder, and so no cache restore.
const SLOTS: usize = 8;
/// The file in a slot's folder that marks a worktree kept by `--keep-worktree`: the slot is
/// not reused until the folder is removed.
const KEPT_MARKER: &str = "kept-by-gate";

/// The lasting folder of one run of a repository, claimed by its lock (see the module's
/// documentation).
struct Slot {
    parent: PathBuf,
    lock: File,
}

impl Slot {
    /// The first free slot of `repo`, emptied of what a run that died left there; `None` when
    /// all are busy (or the store refuses the locks). The locks are `.gate/worktree-<n>.lock`.
    fn claim(repo: &Repo) -> Option<Slot> {
        let id = Sha256::digest(repo.dir().to_string_lossy().as_bytes());
        let id: String = id.iter().take(6).map(|b| format!("{b:02x}")).collect();
        let temp = std::env::temp_dir();
        let store = store::Store::new(repo.dir());
        store.ensure().ok()?;
        (0..SLOTS).find_map(|n| {
            let parent = temp.join(format!("gate-{id}-{n}"));
            let lock = File::create(store.root().join(format!("worktree-{n}.lock"))).ok()?;
            lock.try_lock().ok()?;
            if parent.join(KEPT_MARKER).exists() {
                return None;
            }
            if parent.exists() {
                remove(&LiveWorktree {
                    repo_dir: repo.dir().to_path_buf(),
                    path: parent.join(store::file_name(&repo.name())),
                    parent: parent.clone(),
                });
            }
            Some(Slot { parent, lock })
        })
    }
}

/// What merging the source into the worktree gave.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Merge {
    /// The merge commit (or the checked-out commit when the source was already merged).
    Merged {
        /// The commit now checked out.
        commit: String,
    },
    /// The merge stopped on conflicts in these paths.
    Conflicts {
        /// Conflicting paths, sorted.
        paths: Vec<String>,
    },
}

impl Worktree {
    /// Adds a detached worktree of `repo` at `commit`, in the repository's first free slot
    /// (else a new temporary folder). The worktree's folder is named like the repository.
    pub fn add(repo: &Repo, commit: &str) -> Result<Worktree, GitError> {
        let (parent, slot) = match Slot::claim(repo) {
            Some(Slot { parent, lock }) => (parent, Some(lock)),
            None => (
                std::env::temp_dir().join(format!(
                    "gate-{}-{:x}",
                    std::process::id(),
                    store::unique()
                )),
                None,
            ),
        };
        std::fs::create_dir_all(&parent)?;
        let path = parent.join(store::file_name(&repo.name()));
        let live = LiveWorktree {
            repo_dir: repo.dir().to_path_buf(),
            path: path.clone(),
            parent: parent.clone(),
        };
        cleanup::register_worktree(live.clone());
        // The guard exists before git runs, so a failed or interrupted `worktree add` is
        // cleaned up too.
        let mut guard = Worktree {
            live,
            repo: repo.clone(),
            keep: false,
            _slot: slot,
        };
        let path_text = path.to_string_lossy().into_owned();
        repo.git(&["worktree", "add", "--detach", "--quiet", &path_text, commit])?;
        guard.repo = Repo::at(&path);
        Ok(guard)
    }

    /// The worktree's folder.
    pub fn path(&self) -> &Path {
        &self.live.path
    }

    /// The worktree as a repository.
    pub fn repo(&self) -> &Repo {
        &self.repo
    }

    /// Merges `commit` into the checked-out commit (`git merge --no-ff --no-edit`) as
    /// [`MERGE_USER_NAME`], without hooks that verify or sign. `date` (ISO 8601), when given,
    /// is the merge commit's author and committer date, so the same two commits always give
    /// the same merge commit.
    pub fn merge(&self, commit: &str, date: Option<&str>) -> Result<Merge, GitError> {
        let name = format!("user.name={MERGE_USER_NAME}");
        let email = format!("user.email={MERGE_USER_EMAIL}");
        // The environment beats `-c user.*`, so a user's GIT_AUTHOR_NAME & co. are overridden too.
        let mut env: Vec<(&str, &str)> = vec![
            ("GIT_AUTHOR_NAME", MERGE_USER_NAME),
            ("GIT_AUTHOR_EMAIL", MERGE_USER_EMAIL),
            ("GIT_COMMITTER_NAME", MERGE_USER_NAME),
            ("GIT_COMMITTER_EMAIL", MERGE_USER_EMAIL),
        ];
        if let Some(date) = date {
            env.push(("GIT_AUTHOR_DATE", date));
            env.push(("GIT_COMMITTER_DATE", date));
        }
        let args = [
            "-c",
            &name,
            "-c",
            &email,
            "-c",
            "commit.gpgsign=false",
            "-c",
            "maintenance.auto=false",
            "-c",
            "gc.auto=0",
            "-c",
            "merge.autoStash=false",
            "merge",
            "--no-ff",
            "--no-edit",
            "--no-verify",
            "--quiet",
            commit,
        ];
        let out = self.repo.git_output(&args, &env)?;
        if out.status.success() {
            return Ok(Merge::Merged {
                commit: self.repo.resolve("HEAD")?,
            });
        }
        let unmerged = self
            .repo
            .git(&["diff", "--name-only", "-z", "--diff-filter=U"])?;
        let mut paths: Vec<String> = unmerged
            .split('\0')
            .filter(|p| !p.is_empty())
            .map(str::to_owned)
            .collect();
        if paths.is_empty() {
            return Err(GitError::Failed {
                args: "merge --no-ff --no-edit".to_owned(),
                stderr: String::from_utf8_lossy(&out.stderr).trim().to_owned(),
            });
        }
        paths.sort();
        paths.dedup();
        Ok(Merge::Conflicts { paths })
    }

    /// Keeps the worktree after the guard drops (for `--keep-worktree`); returns its path.
    pub fn keep(&mut self) -> PathBuf {
        self.keep = true;
        cleanup::unregister_worktree(&self.live.path);
        // A best effort: without the marker, a later run would take the kept folder's slot
        // and remove it.
        let _ = File::create(self.live.parent.join(KEPT_MARKER));
        self.live.path.clone()
    }
}

impl Drop for Worktree {
    fn drop(&mut self) {
        if !self.keep {
            cleanup::unregister_worktree(&self.live.path);
            remove(&self.live);
        }
    }
}

/// Removes a worktree and its temporary folder, and prunes the repository's worktree list.
/// Never fails: what cannot be removed is left for `git worktree prune`.
pub fn remove(w: &LiveWorktree) {
    let repo = Repo::at(&w.repo_dir);
    let path = w.path.to_string_lossy().into_owned();
    let removed = w.path.exists()
        && repo
            .git(&["worktree", "remove", "--force", "--force", &path])
            .is_ok();
    let _ = std::fs::remove_dir_all(&w.parent);
    if !removed {
        // The folder went another way: drop git's record of it.
        let _ = repo.git(&["worktree", "prune"]);
    }
}

/// Whether `theirs` merges cleanly into `ours`: `git merge-tree --write-tree` where git has it
/// (2.38+), else a trial merge in a throwaway worktree.
pub fn trial_merge(repo: &Repo, ours: &str, theirs: &str) -> Result<MergeTrial, GitError> {
    match repo.merge_tree(ours, theirs) {
        Ok(trial) => Ok(trial),
        Err(GitError::Failed { stderr, .. })
            if stderr.contains("usage") || stderr.contains("unknown option") =>
        {
            let worktree = Worktree::add(repo, ours)?;
            match worktree.merge(theirs, None)? {
                Merge::Merged { commit } => Ok(MergeTrial::Clean {
                    tree: worktree
                        .repo()
                        .git(&["rev-parse", &format!("{commit}^{{tree}}")])?
                        .trim()
                        .to_owned(),
                }),
                Merge::Conflicts { paths } => Ok(MergeTrial::Conflicts { paths }),
            }
        }
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_repository_gets_the_same_folder_each_run_and_another_while_one_is_held() {
        let dir = std::env::temp_dir().join(format!("gate-slot-test-{:x}", store::unique()));
        std::fs::create_dir_all(&dir).expect("mkdir");
        let repo = Repo::at(&dir);
        let first = Slot::claim(&repo).expect("slot 0");
        let second = Slot::claim(&repo).expect("slot 1");
        assert_ne!(first.parent, second.parent, "a held slot is not shared");
        let usual = first.parent.clone();
        std::fs::create_dir_all(&usual).expect("a dead run's leftovers");
        drop(first);
        let again = Slot::claim(&repo).expect("slot 0 again");
        assert_eq!(again.parent, usual, "the same folder run after run");
        assert!(!usual.exists(), "what a dead run left is removed");
        std::fs::create_dir_all(&usual).expect("mkdir");
        std::fs::write(usual.join(KEPT_MARKER), "").expect("kept");
        drop(again);
        let next = Slot::claim(&repo).expect("a free slot");
        assert_ne!(next.parent, usual, "a kept worktree's folder is left alone");
        drop((second, next));
        let _ = std::fs::remove_dir_all(&usual);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
