//! Reads a local git repository with the `git` command: changed paths from the merge base, files at a commit.

use crate::plan::ChangedPath;
use std::path::{Path, PathBuf};
use std::process::Command;

/// A failed git invocation.
#[derive(Debug, thiserror::Error)]
pub enum GitError {
    /// git could not be started.
    #[error("cannot run git: {0}")]
    Spawn(#[from] std::io::Error),
    /// git ran and failed.
    #[error("`git {args}` failed: {stderr}")]
    Failed {
        /// The arguments.
        args: String,
        /// What git said.
        stderr: String,
    },
}

/// A git repository on disk.
#[derive(Debug, Clone)]
pub struct Repo {
    dir: PathBuf,
}

impl Repo {
    /// The repository containing `dir`.
    pub fn open(dir: impl AsRef<Path>) -> Result<Self, GitError> {
        let repo = Repo {
            dir: dir.as_ref().to_path_buf(),
        };
        let top = repo.git(&["rev-parse", "--show-toplevel"])?;
        Ok(Repo {
            dir: PathBuf::from(top.trim()),
        })
    }

    /// The work tree's root.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Runs git with `args` and returns its standard output.
    pub fn git(&self, args: &[&str]) -> Result<String, GitError> {
        let out = Command::new("git")
            .arg("-C")
            .arg(&self.dir)
            .args(args)
            .env("GIT_TERMINAL_PROMPT", "0")
            .output()?;
        if out.status.success() {
            Ok(String::from_utf8_lossy(&out.stdout).into_owned())
        } else {
            Err(GitError::Failed {
                args: args.join(" "),
                stderr: String::from_utf8_lossy(&out.stderr).trim().to_owned(),
            })
        }
    }

    /// The full commit id `rev` names.
    pub fn resolve(&self, rev: &str) -> Result<String, GitError> {
        let spec = format!("{rev}^{{commit}}");
        Ok(self
            .git(&[
                "rev-parse",
                "--verify",
                "--quiet",
                "--end-of-options",
                &spec,
            ])
            .map_err(|e| match e {
                GitError::Failed { args, .. } => GitError::Failed {
                    args,
                    stderr: format!("unknown revision `{rev}`"),
                },
                other => other,
            })?
            .trim()
            .to_owned())
    }

    /// The repository's default branch: `origin/HEAD` if set, else `main` or `master`.
    pub fn default_branch(&self) -> Result<String, GitError> {
        if let Ok(r) = self.git(&[
            "symbolic-ref",
            "--quiet",
            "--short",
            "refs/remotes/origin/HEAD",
        ]) {
            return Ok(r.trim().to_owned());
        }
        for candidate in ["main", "master"] {
            if self.resolve(candidate).is_ok() {
                return Ok(candidate.to_owned());
            }
        }
        Err(GitError::Failed {
            args: "symbolic-ref refs/remotes/origin/HEAD".into(),
            stderr: "no default branch found (no origin/HEAD, main or master): pass --base".into(),
        })
    }

    /// The merge base of two commits.
    pub fn merge_base(&self, a: &str, b: &str) -> Result<String, GitError> {
        Ok(self.git(&["merge-base", a, b])?.trim().to_owned())
    }

    /// Paths changed from the merge base of `base` and `head` to `head`, like CodeCommit's
    /// `GetDifferences` from the PR's merge base: adds, modifications, deletes, and both sides
    /// of renames.
    pub fn changed_paths(&self, base: &str, head: &str) -> Result<Vec<ChangedPath>, GitError> {
        let merge_base = self.merge_base(base, head)?;
        let out = self.git(&[
            "diff",
            "--name-status",
            "-z",
            "--find-renames",
            "--no-ext-diff",
            &merge_base,
            head,
        ])?;
        Ok(parse_name_status_z(&out))
    }

    /// The contents of `path` at commit `rev`, or `None` when it does not exist there.
    pub fn file_at(&self, rev: &str, path: &str) -> Result<Option<Vec<u8>>, GitError> {
        let spec = format!("{rev}:{path}");
        let out = Command::new("git")
            .arg("-C")
            .arg(&self.dir)
            .args(["cat-file", "blob", &spec])
            .output()?;
        Ok(out.status.success().then_some(out.stdout))
    }
}

/// Parses `git diff --name-status -z` output (renames and copies name both sides).
pub fn parse_name_status_z(out: &str) -> Vec<ChangedPath> {
    let mut fields = out.split('\0').filter(|f| !f.is_empty());
    let mut changes = Vec::new();
    while let Some(status) = fields.next() {
        if status.starts_with('R') || status.starts_with('C') {
            if let (Some(old), Some(new)) = (fields.next(), fields.next()) {
                changes.push(ChangedPath::renamed(old, new));
            }
        } else if let Some(path) = fields.next() {
            changes.push(ChangedPath::new(path));
        }
    }
    changes
}

/// Parses a list of changed paths: one per line, either a bare path or a line of
/// `git diff --name-status` (`M\tpath`, `R100\told\tnew`). Blank lines and `#` comments are skipped.
pub fn parse_path_list(text: &str) -> Vec<ChangedPath> {
    text.lines()
        .map(|l| l.trim_end_matches('\r'))
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
        .map(|line| {
            let parts: Vec<&str> = line.split('\t').collect();
            match parts.as_slice() {
                [status, old, new] if status.starts_with(['R', 'C']) => {
                    ChangedPath::renamed(*old, *new)
                }
                [status, path] if status.len() <= 4 && status.starts_with(char::is_uppercase) => {
                    ChangedPath::new(*path)
                }
                _ => ChangedPath::new(line.trim()),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn name_status_z_counts_both_sides_of_a_rename() {
        let out = "M\0a.rs\0R100\0old/x.rs\0new/x.rs\0D\0gone.txt\0";
        assert_eq!(
            parse_name_status_z(out),
            vec![
                ChangedPath::new("a.rs"),
                ChangedPath::renamed("old/x.rs", "new/x.rs"),
                ChangedPath::new("gone.txt"),
            ]
        );
    }

    #[test]
    fn path_lists_accept_bare_paths_and_name_status_lines() {
        let text =
            "# changed\nsrc/a.rs\n\nM\tsrc/b.rs\nR087\tdocs/x.md\tdocs/y.md\n  spaced name.txt\n";
        assert_eq!(
            parse_path_list(text),
            vec![
                ChangedPath::new("src/a.rs"),
                ChangedPath::new("src/b.rs"),
                ChangedPath::renamed("docs/x.md", "docs/y.md"),
                ChangedPath::new("spaced name.txt"),
            ]
        );
    }
}
