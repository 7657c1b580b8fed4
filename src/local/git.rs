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
        self.diff_paths(&merge_base, head)
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

/// What merging two commits would give, found without touching any work tree.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MergeTrial {
    /// The merge is clean; the tree it would commit.
    Clean {
        /// The merged tree's id.
        tree: String,
    },
    /// These paths conflict.
    Conflicts {
        /// The conflicting paths, sorted.
        paths: Vec<String>,
    },
}

/// The identity the person at the keyboard acts as locally: `local:<user.email>`, else
/// `local:<$USER>`, else `local:unknown`.
pub fn local_identity(repo: Option<&Repo>) -> String {
    let email = repo
        .and_then(|r| r.config_value("user.email"))
        .or_else(|| {
            Command::new("git")
                .args(["config", "--get", "user.email"])
                .output()
                .ok()
                .filter(|o| o.status.success())
                .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        })
        .filter(|e| !e.is_empty());
    let who = email
        .or_else(|| std::env::var("USER").ok().filter(|u| !u.trim().is_empty()))
        .unwrap_or_else(|| "unknown".to_owned());
    format!("local:{who}")
}

impl Repo {
    /// The work tree at `dir`, taken as given: `dir` must be a work tree's root (use
    /// [`Repo::open`] to find it from any folder inside).
    pub fn at(dir: impl Into<PathBuf>) -> Self {
        Repo { dir: dir.into() }
    }

    /// The repository's name: its work tree's folder name (as CodeCommit names repositories).
    pub fn name(&self) -> String {
        self.dir
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "repository".to_owned())
    }

    /// Runs git with `args` and extra environment, returning whatever it did (for commands
    /// whose failure the caller inspects, like a merge).
    pub fn git_output(
        &self,
        args: &[&str],
        env: &[(&str, &str)],
    ) -> Result<std::process::Output, GitError> {
        Ok(Command::new("git")
            .arg("-C")
            .arg(&self.dir)
            .args(args)
            .env("GIT_TERMINAL_PROMPT", "0")
            .envs(env.iter().copied())
            .stdin(std::process::Stdio::null())
            .output()?)
    }

    /// A git configuration value, if set.
    pub fn config_value(&self, key: &str) -> Option<String> {
        self.git(&["config", "--get", key])
            .ok()
            .map(|v| v.trim().to_owned())
            .filter(|v| !v.is_empty())
    }

    /// One `git log -1 --format=<format>` of a commit.
    fn show(&self, rev: &str, format: &str) -> Result<String, GitError> {
        let format = format!("--format={format}");
        self.git(&[
            "log",
            "-1",
            "--no-walk",
            &format,
            "--end-of-options",
            rev,
            "--",
        ])
    }

    /// A commit's subject line.
    pub fn commit_subject(&self, rev: &str) -> Result<String, GitError> {
        Ok(self.show(rev, "%s")?.trim_end().to_owned())
    }

    /// A commit's subject line and committer date (one git call for both).
    pub fn commit_subject_and_date(&self, rev: &str) -> Result<(String, String), GitError> {
        let out = self.show(rev, "%cI%n%s")?;
        let (date, subject) = out.split_once('\n').unwrap_or((out.as_str(), ""));
        Ok((subject.trim_end().to_owned(), date.trim().to_owned()))
    }

    /// A commit's message after the subject line (empty when there is none).
    pub fn commit_body(&self, rev: &str) -> Result<String, GitError> {
        Ok(self.show(rev, "%b")?.trim().to_owned())
    }

    /// A commit's committer date, strict ISO 8601 (what `GIT_COMMITTER_DATE` accepts).
    pub fn commit_date(&self, rev: &str) -> Result<String, GitError> {
        Ok(self.show(rev, "%cI")?.trim().to_owned())
    }

    /// A branch name for `rev` if it names a branch (`main`, `origin/main`, `refs/heads/main`,
    /// or `HEAD` on a branch), without `origin/`.
    pub fn branch_name(&self, rev: &str) -> Option<String> {
        if rev.starts_with('-') {
            return None;
        }
        let name = self
            .git(&["rev-parse", "--abbrev-ref", rev])
            .ok()?
            .trim()
            .to_owned();
        if name.is_empty() || name == "HEAD" {
            return None;
        }
        Some(name.strip_prefix("origin/").unwrap_or(&name).to_owned())
    }

    /// Every file of commit `rev`: (path, git object id), as `git ls-tree -r` lists them.
    pub fn files_at(&self, rev: &str) -> Result<Vec<(String, String)>, GitError> {
        let out = self.git(&[
            "ls-tree",
            "-r",
            "-z",
            "--full-tree",
            "--end-of-options",
            rev,
        ])?;
        Ok(parse_ls_tree_z(&out))
    }

    /// Whether `ancestor` is `descendant` or one of its ancestors.
    pub fn is_ancestor(&self, ancestor: &str, descendant: &str) -> Result<bool, GitError> {
        let status = Command::new("git")
            .arg("-C")
            .arg(&self.dir)
            .args(["merge-base", "--is-ancestor", ancestor, descendant])
            .status()?;
        match status.code() {
            Some(0) => Ok(true),
            Some(1) => Ok(false),
            _ => Err(GitError::Failed {
                args: format!("merge-base --is-ancestor {ancestor} {descendant}"),
                stderr: "cannot compare the commits".to_owned(),
            }),
        }
    }

    /// The author e-mail addresses of the commits in `from..to` (of `to` alone without
    /// `from`), each once, in the order git lists them.
    pub fn author_emails(&self, from: Option<&str>, to: &str) -> Result<Vec<String>, GitError> {
        let range = from.map_or_else(|| to.to_owned(), |f| format!("{f}..{to}"));
        let mut args = vec!["log", "--format=%ae"];
        if from.is_none() {
            args.push("-1");
        }
        args.extend(["--end-of-options", &range, "--"]);
        let mut emails: Vec<String> = Vec::new();
        for line in self.git(&args)?.lines().map(str::trim) {
            if !line.is_empty() && !emails.iter().any(|e| e == line) {
                emails.push(line.to_owned());
            }
        }
        Ok(emails)
    }

    /// Whether the work tree has changes that are not committed (staged, unstaged or untracked
    /// files that are not ignored).
    pub fn has_uncommitted_changes(&self) -> Result<bool, GitError> {
        Ok(!self.git(&["status", "--porcelain"])?.trim().is_empty())
    }

    /// Paths changed from `before` to `after` directly (no merge base), like CodeCommit's
    /// `GetDifferences` between two commits; renames name both sides.
    pub fn diff_paths(&self, before: &str, after: &str) -> Result<Vec<ChangedPath>, GitError> {
        let out = self.git(&[
            "diff",
            "--name-status",
            "-z",
            "--find-renames",
            "--no-ext-diff",
            before,
            after,
            "--",
        ])?;
        Ok(parse_name_status_z(&out))
    }

    /// Merges `theirs` into `ours` in memory (`git merge-tree --write-tree`, git 2.38 or
    /// newer): clean with the resulting tree, or the conflicting paths. Writes objects to the
    /// repository's object store but changes no ref and no work tree.
    pub fn merge_tree(&self, ours: &str, theirs: &str) -> Result<MergeTrial, GitError> {
        let args = [
            "merge-tree",
            "--write-tree",
            "--name-only",
            "--no-messages",
            "-z",
            ours,
            theirs,
        ];
        let out = self.git_output(&args, &[])?;
        let stdout = String::from_utf8_lossy(&out.stdout);
        let mut fields = stdout.split('\0').filter(|f| !f.is_empty());
        match out.status.code() {
            Some(0) => Ok(MergeTrial::Clean {
                tree: fields.next().unwrap_or_default().trim().to_owned(),
            }),
            Some(1) => {
                let _tree = fields.next();
                let mut paths: Vec<String> = fields.map(str::to_owned).collect();
                paths.sort();
                paths.dedup();
                Ok(MergeTrial::Conflicts { paths })
            }
            _ => Err(GitError::Failed {
                args: args.join(" "),
                stderr: String::from_utf8_lossy(&out.stderr).trim().to_owned(),
            }),
        }
    }
}

/// Parses `git ls-tree -r -z`: `<mode> <type> <object>\t<path>` records ending in NUL.
pub fn parse_ls_tree_z(out: &str) -> Vec<(String, String)> {
    out.split('\0')
        .filter_map(|record| {
            let (meta, path) = record.split_once('\t')?;
            let object = meta.split(' ').nth(2)?;
            Some((path.to_owned(), object.to_owned()))
        })
        .collect()
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
