//! A check's `cache` on AWS: CodeBuild's S3 cache, in the stack's bucket under
//! `cache/<repository>` (`GATE_CACHE_LOCATION` plus the repository), shared by every CodeBuild
//! project of the repository through one cache namespace and one key per check
//! (docs/design.md, "The build cache on AWS").
//!
//! Trust (threat T24): an entry holds whatever the build that saved it left in the cached
//! folders, so only builds of trusted content save: a release's environment checks, which
//! build a commit of an environment's (protected) branch. A pull request's build restores and
//! never saves: its buildspec says `action: restore`, and its role (the repository's build
//! role) may read the cache prefix but not write it, so neither the buildspec nor the pull
//! request's own code calling S3 can leave an entry.

use super::yaml_quote;
use crate::gate_file::cache::HOME_PREFIX;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// The home folder of a check's build: the buildspec names no `run-as`, so the commands run as
/// root, whose home in CodeBuild's images is `/root` (the CodeBuild docs' cache examples name
/// `/root/.m2/**/*`). A `~/` cache path is this folder's.
pub const BUILD_HOME: &str = "/root/";

/// The project cache one build uses: `StartBuild`'s `cacheOverride`, in Step Functions'
/// PascalCase. `NO_CACHE` for a check without `cache` (an S3 cache without buildspec paths
/// would make CodeBuild cache "common language dependencies" on its own).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct CacheOverride {
    /// `S3` or `NO_CACHE`.
    #[serde(rename = "Type")]
    pub kind: String,
    /// `<bucket>/cache/<repository>` for `S3`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub location: Option<String>,
    /// The repository: one namespace for every project of the repository, so the release
    /// projects' entries reach the pull requests' projects.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache_namespace: Option<String>,
}

impl Default for CacheOverride {
    fn default() -> Self {
        Self {
            kind: "NO_CACHE".to_owned(),
            location: None,
            cache_namespace: None,
        }
    }
}

/// What a run's builds may do with the cache.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CacheAccess {
    /// A pull request's checks: restore only (buildspec `action: restore`).
    Restore,
    /// A release's environment checks (trusted content): restore, then save an entry keyed
    /// by the released commit.
    RestoreAndSave,
}

/// The cache of one run: whose, at which commit, and what it may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CacheScope<'a> {
    /// `<bucket>/<prefix>` of the stack's cache (`GATE_CACHE_LOCATION`); `None`: the stack
    /// has no cache (releases off: no bucket and no trusted writer), every check runs cold.
    pub location: Option<&'a str>,
    /// The repository.
    pub repository: &'a str,
    /// The commit whose entry is looked up first: for a pull request the destination commit
    /// (an exact hit when that commit was released), for a release the released commit (the
    /// key it saves under).
    pub commit: &'a str,
    /// Restore, or restore and save.
    pub access: CacheAccess,
}

impl CacheScope<'_> {
    /// The project cache of a check with `paths`: the repository's S3 location and namespace,
    /// or `NO_CACHE` without paths or without a stack cache.
    pub fn project_cache(&self, paths: &[String]) -> CacheOverride {
        match self.location {
            Some(location) if !paths.is_empty() => CacheOverride {
                kind: "S3".to_owned(),
                location: Some(format!(
                    "{}/{}",
                    location.trim_end_matches('/'),
                    self.repository
                )),
                cache_namespace: Some(self.repository.to_owned()),
            },
            _ => CacheOverride::default(),
        }
    }

    /// The buildspec's `cache:` section for check `check` with `paths` (empty when
    /// [`CacheScope::project_cache`] is `NO_CACHE`): the key `<check key>-<commit>`, the
    /// check's other entries as the fallback (a prefix search), `action: restore` for a pull
    /// request, and each path as `<path>/**/*` (`~/` as [`BUILD_HOME`]).
    pub fn section(&self, check: &str, paths: &[String]) -> String {
        if self.location.is_none() || paths.is_empty() {
            return String::new();
        }
        let base = check_key(check);
        let commit: String = self
            .commit
            .chars()
            .filter(char::is_ascii_alphanumeric)
            .collect();
        let mut out = format!(
            "cache:\n  key: {}\n  fallback-keys:\n    - {}\n",
            yaml_quote(&format!("{base}-{commit}")),
            yaml_quote(&format!("{base}-"))
        );
        if self.access == CacheAccess::Restore {
            out.push_str("  action: restore\n");
        }
        out.push_str("  paths:\n");
        for path in paths {
            out.push_str("    - ");
            out.push_str(&yaml_quote(&build_path(path)));
            out.push('\n');
        }
        out
    }
}

/// The key part of check `check`: its name in key-safe characters (CodeBuild evaluates a key
/// in a shell: `$(…)` and `$VAR` expand), cut to 40, and a hash of the full name so two names
/// that read the same there stay apart.
pub fn check_key(check: &str) -> String {
    let digest = Sha256::digest(check.as_bytes());
    let hash: String = digest.iter().take(4).map(|b| format!("{b:02x}")).collect();
    format!("{}-{hash}", super::name_part(check, 40))
}

/// A (validated) cache path as CodeBuild's S3 cache takes it: every file below the folder,
/// `<path>/**/*`, a `~/` path in [`BUILD_HOME`].
pub fn build_path(path: &str) -> String {
    match path.strip_prefix(HOME_PREFIX) {
        Some(rest) => format!("{BUILD_HOME}{rest}/**/*"),
        None => format!("{path}/**/*"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LOCATION: &str = "gate-artifacts-123/cache";
    const COMMIT: &str = "02c0ffee00000000000000002222222222222222";

    fn scope(access: CacheAccess) -> CacheScope<'static> {
        CacheScope {
            location: Some(LOCATION),
            repository: "shop.web",
            commit: COMMIT,
            access,
        }
    }

    fn paths() -> Vec<String> {
        vec!["target/gate".into(), "~/.cargo/registry".into()]
    }

    #[test]
    fn a_pull_request_restores_only_and_a_release_saves_under_its_commit() {
        let restore = scope(CacheAccess::Restore).section("unit tests", &paths());
        let key = check_key("unit tests");
        assert!(key.starts_with("unit-tests-") && key.len() == "unit-tests-".len() + 8);
        assert_eq!(
            restore,
            format!(
                "cache:\n  key: \"{key}-{COMMIT}\"\n  fallback-keys:\n    - \"{key}-\"\n  action: restore\n  paths:\n    - \"target/gate/**/*\"\n    - \"/root/.cargo/registry/**/*\"\n"
            )
        );
        let save = scope(CacheAccess::RestoreAndSave).section("unit tests", &paths());
        assert!(!save.contains("action"), "{save}");
        assert_eq!(
            save.replace("  action: restore\n", ""),
            restore.replace("  action: restore\n", ""),
            "readers and writers use the same key, fallback and paths (CodeBuild's cache version)"
        );
        let buildspec = format!(
            "{}{restore}",
            crate::machine::buildspec(&["cargo test".into()])
        );
        let parsed: serde_json::Value = serde_saphyr::from_str(&buildspec).expect("YAML");
        assert_eq!(parsed["cache"]["action"], "restore");
        assert_eq!(parsed["cache"]["paths"][1], "/root/.cargo/registry/**/*");
        assert_eq!(parsed["cache"]["fallback-keys"][0], format!("{key}-"));
    }

    #[test]
    fn the_project_cache_is_the_repositorys_location_and_namespace() {
        let cache = scope(CacheAccess::Restore).project_cache(&paths());
        assert_eq!(
            serde_json::to_value(&cache).expect("json"),
            serde_json::json!({
                "Type": "S3",
                "Location": "gate-artifacts-123/cache/shop.web",
                "CacheNamespace": "shop.web"
            })
        );
        assert_eq!(
            scope(CacheAccess::RestoreAndSave).project_cache(&paths()),
            cache,
            "releases save where pull requests restore from"
        );
    }

    #[test]
    fn without_paths_or_a_stack_cache_there_is_no_cache_at_all() {
        let none = serde_json::json!({"Type": "NO_CACHE"});
        let s = scope(CacheAccess::RestoreAndSave);
        assert_eq!(
            serde_json::to_value(s.project_cache(&[])).expect("json"),
            none
        );
        assert_eq!(s.section("unit", &[]), "");
        let off = CacheScope {
            location: None,
            ..s
        };
        assert_eq!(
            serde_json::to_value(off.project_cache(&paths())).expect("json"),
            none
        );
        assert_eq!(off.section("unit", &paths()), "");
    }

    #[test]
    fn keys_are_shell_inert_and_tell_similar_names_apart() {
        let key = check_key("lint $(rm -rf ~) `id`");
        assert!(
            key.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_'),
            "{key}"
        );
        assert_ne!(check_key("a b"), check_key("a-b"));
        let odd = CacheScope {
            commit: "abc$(id)",
            ..scope(CacheAccess::RestoreAndSave)
        };
        assert!(odd.section("x", &paths()).contains("-abcid\""));
    }
}
