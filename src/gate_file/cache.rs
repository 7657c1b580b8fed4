//! A check's `cache` (folders kept from one run of the check to the next) and `reuse` (a pass
//! on identical inputs stands), validated like the rest of the file (line, column, hint).
//! Keeping and restoring the folders is [`crate::local::cache`]'s job locally and CodeBuild's
//! S3 cache on AWS; the reuse key is [`crate::reuse::check_key`].

use super::releases::inside_repository;
use super::{Errors, at};
use serde_saphyr::Spanned;

/// The prefix of a cache path in the home folder of whoever runs the check.
pub const HOME_PREFIX: &str = "~/";

const CACHE_PATH_HINT: &str = "a cache path is a folder or file relative to the repository \
     (`target/`, `node_modules/`) or to the home folder (`~/.cargo/registry`), without `..` \
     or glob characters";

/// Validates a `cache` list (of check `owner`, or `defaults`): each path relative to the
/// repository or to `~/`, with no `..`, no glob characters, each once. Returns the paths
/// without `./` and trailing `/`.
pub(super) fn validate_paths(
    owner: &str,
    list: &[Spanned<String>],
    errors: &mut Errors<'_>,
) -> Vec<String> {
    let mut paths: Vec<String> = Vec::with_capacity(list.len());
    for p in list {
        match normalize(&p.value) {
            Some(path) if !paths.contains(&path) => paths.push(path),
            Some(_) => errors.push(
                at(p),
                format!("{owner} lists the cache path `{}` twice", p.value),
                "list each cache path once",
            ),
            None => errors.push(
                at(p),
                format!("{owner} has an invalid cache path `{}`", p.value),
                CACHE_PATH_HINT,
            ),
        }
    }
    paths
}

/// The valid paths of a `cache` list, normalized and each once (what a check without its own
/// `cache` inherits from `defaults`, whose problems [`validate_paths`] reports once).
pub(super) fn normalized(list: &[Spanned<String>]) -> Vec<String> {
    let mut paths: Vec<String> = Vec::with_capacity(list.len());
    for path in list.iter().filter_map(|p| normalize(&p.value)) {
        if !paths.contains(&path) {
            paths.push(path);
        }
    }
    paths
}

/// `./target/` → `target`, `~/.cargo/registry/` → `~/.cargo/registry`; `None` when the path
/// leaves its root, is absolute or holds glob characters.
fn normalize(path: &str) -> Option<String> {
    let (home, rest) = match path.strip_prefix(HOME_PREFIX) {
        Some(rest) => (true, rest),
        None => (false, path),
    };
    let rest = rest.trim_start_matches("./").trim_end_matches('/');
    if rest.contains(['*', '?', '[', ']', '{', '}', '\\'])
        || (!home && rest.starts_with('~'))
        || !inside_repository(rest)
    {
        return None;
    }
    let rest = rest
        .split('/')
        .filter(|part| !part.is_empty() && *part != ".")
        .collect::<Vec<_>>()
        .join("/");
    Some(if home {
        format!("{HOME_PREFIX}{rest}")
    } else {
        rest
    })
}

/// Whether a (validated) cache path is in the home folder rather than the repository.
pub fn in_home(path: &str) -> bool {
    path.starts_with(HOME_PREFIX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_are_normalized_and_leaving_the_root_is_refused() {
        assert_eq!(normalize("./target/").as_deref(), Some("target"));
        assert_eq!(normalize("target/gate").as_deref(), Some("target/gate"));
        assert_eq!(
            normalize("~/.cargo/registry/").as_deref(),
            Some("~/.cargo/registry")
        );
        for bad in [
            "",
            "/",
            "/tmp/x",
            "../x",
            "a/../../b",
            "~/../x",
            "~",
            "~/",
            "target/**",
            "a/[b]",
            "~user/x",
        ] {
            assert_eq!(normalize(bad), None, "{bad}");
        }
        assert!(in_home("~/.npm") && !in_home("node_modules"));
    }
}
