//! The local artifact store, `.gate/artifacts/<component>/<key>/`: what a component's
//! `package` commands produced for one content ([`crate::release::artifact_key`]), stored
//! once and handed to every later deploy of the same content (`GATE_ARTIFACT_DIR`).
//!
//! An artifact is complete once its folder exists: it is filled under a temporary name and
//! renamed into place, so a build that fails or is interrupted leaves nothing a later release
//! would take for an artifact.

use crate::local::store::{self, Store, file_name};
use std::io;
use std::path::{Path, PathBuf};

/// The artifact store of a repository's `.gate/` folder.
#[derive(Debug, Clone)]
pub struct Artifacts {
    root: PathBuf,
}

impl Artifacts {
    /// The store under `store`'s root.
    pub fn new(store: &Store) -> Self {
        Self {
            root: store.root().join("artifacts"),
        }
    }

    /// Where the artifact of `component` with `key` lives (whether or not it exists).
    pub fn dir(&self, component: &str, key: &str) -> PathBuf {
        self.root.join(file_name(component)).join(file_name(key))
    }

    /// The stored artifact, if there is one.
    pub fn find(&self, component: &str, key: &str) -> Option<PathBuf> {
        let dir = self.dir(component, key);
        dir.is_dir().then_some(dir)
    }

    /// Copies `outputs` (paths relative to `worktree`, files or folders) into the store as the
    /// artifact of `component` with `key`, and returns its folder. An output that does not
    /// exist is an error naming it.
    pub fn save(
        &self,
        component: &str,
        key: &str,
        worktree: &Path,
        outputs: &[String],
    ) -> Result<PathBuf, String> {
        let dir = self.dir(component, key);
        let parent = dir.parent().unwrap_or(&self.root).to_path_buf();
        let staging = parent.join(format!(".{}.partial-{}", file_name(key), store::unique()));
        let fill = || -> Result<(), String> {
            std::fs::create_dir_all(&staging).map_err(|e| describe(&staging, &e))?;
            for output in outputs {
                let relative = output.trim_end_matches('/');
                let from = worktree.join(relative);
                if !from.exists() {
                    return Err(format!(
                        "package output `{output}` does not exist after the package commands"
                    ));
                }
                copy(&from, &staging.join(relative)).map_err(|e| describe(&from, &e))?;
            }
            Ok(())
        };
        if let Err(e) = fill() {
            let _ = std::fs::remove_dir_all(&staging);
            return Err(e);
        }
        match std::fs::rename(&staging, &dir) {
            Ok(()) => Ok(dir),
            // Another release stored the same content first: theirs is as good as ours.
            Err(_) if dir.is_dir() => {
                let _ = std::fs::remove_dir_all(&staging);
                Ok(dir)
            }
            Err(e) => {
                let _ = std::fs::remove_dir_all(&staging);
                Err(describe(&dir, &e))
            }
        }
    }
}

fn describe(path: &Path, e: &io::Error) -> String {
    format!("{}: {e}", path.display())
}

/// Copies a file, or a folder recursively (symbolic links as links), creating parents.
fn copy(from: &Path, to: &Path) -> io::Result<()> {
    if let Some(parent) = to.parent() {
        std::fs::create_dir_all(parent)?;
    }
    let meta = std::fs::symlink_metadata(from)?;
    if meta.file_type().is_symlink() {
        std::os::unix::fs::symlink(std::fs::read_link(from)?, to)
    } else if meta.is_dir() {
        std::fs::create_dir_all(to)?;
        for entry in std::fs::read_dir(from)? {
            let entry = entry?;
            copy(&entry.path(), &to.join(entry.file_name()))?;
        }
        Ok(())
    } else {
        std::fs::copy(from, to).map(|_| ())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outputs_are_stored_whole_or_not_at_all() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let repo = tmp.path().join("repo");
        std::fs::create_dir_all(repo.join("dist/sub")).expect("mkdir");
        std::fs::write(repo.join("dist/sub/app.js"), "app").expect("write");
        std::fs::write(repo.join("manifest.json"), "{}").expect("write");
        let artifacts = Artifacts::new(&Store::new(&repo));
        assert!(artifacts.find("web", "k1").is_none());
        let outputs = ["dist/".to_owned(), "manifest.json".to_owned()];
        let dir = artifacts.save("web", "k1", &repo, &outputs).expect("saved");
        assert_eq!(artifacts.find("web", "k1"), Some(dir.clone()));
        assert_eq!(
            std::fs::read_to_string(dir.join("dist/sub/app.js")).expect("read"),
            "app"
        );
        assert!(dir.join("manifest.json").is_file());

        let missing = ["dist/".to_owned(), "nope.zip".to_owned()];
        let e = artifacts
            .save("web", "k2", &repo, &missing)
            .expect_err("missing");
        assert!(e.contains("`nope.zip` does not exist"), "{e}");
        assert!(artifacts.find("web", "k2").is_none());
        let left: Vec<_> = std::fs::read_dir(dir.parent().expect("parent"))
            .expect("ls")
            .collect();
        assert_eq!(left.len(), 1, "no partial folder is left behind");
    }
}
