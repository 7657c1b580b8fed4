//! Artifacts on AWS: where a package build uploads a component's `outputs` and a deploy build
//! downloads them, with the same meaning as the local store ([`crate::local::release`]): the
//! artifact is the outputs at their paths relative to the checkout, found by its key
//! ([`crate::release::artifact_key`]), and a deploy sees it as `GATE_ARTIFACT_DIR`.
//!
//! In the bucket an artifact is the objects under `<repository>/<key>/`, complete once its
//! marker `<repository>/<key>.complete` exists: the package build writes the marker last, after
//! every output uploaded, so a build that failed or stopped halfway leaves no marker and the
//! state machine builds the artifact again. The key does not name the environment: every
//! environment deploys the same artifact for the same content.
//!
//! Every path reaches the shell single-quoted: the outputs come from the gate file.

/// `GATE_ARTIFACT_DIR` of a deploy build on AWS: the folder its pre_build phase downloads the
/// artifact into, outside the checkout.
pub const ARTIFACT_DIR: &str = "/tmp/gate-artifact";

/// The suffix of an artifact's completion marker.
pub const MARKER_SUFFIX: &str = ".complete";

/// Where one artifact lives in the stack's bucket.
#[derive(Debug, Clone, Copy)]
pub struct ArtifactLocation<'a> {
    /// The artifact bucket.
    pub bucket: &'a str,
    /// The repository.
    pub repository: &'a str,
    /// The artifact's key.
    pub key: &'a str,
}

impl ArtifactLocation<'_> {
    /// The object key prefix of its outputs: `<repository>/<key>/`.
    pub fn prefix(&self) -> String {
        format!("{}/{}/", self.repository, self.key)
    }

    /// The object key of its completion marker: `<repository>/<key>.complete`, beside (not
    /// under) the prefix, so a download of the prefix does not fetch it.
    pub fn marker(&self) -> String {
        format!("{}/{}{MARKER_SUFFIX}", self.repository, self.key)
    }

    fn url(&self, object: &str) -> String {
        format!("s3://{}/{object}", self.bucket)
    }

    /// The shell lines a package build runs after its commands: back to the checkout (the
    /// outputs are relative to it, as locally, whatever folder the commands ended in: a
    /// buildspec's commands share one shell), then each output must exist (the same error as
    /// locally) and is uploaded to `<prefix><output>` (a folder recursively), then the marker
    /// is written, last. Each line fails the build if it fails.
    pub fn upload_lines(&self, outputs: &[String]) -> Vec<String> {
        let mut lines = Vec::with_capacity(outputs.len() + 2);
        lines.push("cd \"$CODEBUILD_SRC_DIR\"".to_owned());
        for output in outputs {
            let relative = output.trim_end_matches('/');
            let path = quote(relative);
            let to = quote(&self.url(&format!("{}{relative}", self.prefix())));
            let missing = quote(&format!(
                "package output `{output}` does not exist after the package commands"
            ));
            lines.push(format!(
                "if [ -d {path} ]; then aws s3 cp --only-show-errors --recursive {path} {to}; \
                 elif [ -e {path} ]; then aws s3 cp --only-show-errors {path} {to}; \
                 else echo {missing} >&2; exit 1; fi"
            ));
        }
        lines.push(format!(
            "printf '%s\\n' \"$GATE_COMMIT\" | aws s3 cp --only-show-errors - {}",
            quote(&self.url(&self.marker()))
        ));
        lines
    }

    /// The shell line a rollback that deploys a previous release again runs before the
    /// download: the artifact's marker must exist, else the build fails saying so (an artifact
    /// past the bucket's retention, or never built, is not deployed as nothing).
    pub fn require_line(&self) -> String {
        let missing = quote(&format!(
            "the artifact {} of the previous release is not in the artifact bucket \
             (expired, or never built): nothing is deployed without it",
            self.key
        ));
        format!(
            "aws s3 cp --only-show-errors {} - >/dev/null || {{ echo {missing} >&2; exit 1; }}",
            quote(&self.url(&self.marker()))
        )
    }

    /// The shell lines a deploy build runs in pre_build, before its commands: the artifact's
    /// objects into `$GATE_ARTIFACT_DIR` ([`ARTIFACT_DIR`]), at their paths.
    pub fn download_lines(&self) -> Vec<String> {
        vec![
            "mkdir -p \"$GATE_ARTIFACT_DIR\"".to_owned(),
            format!(
                "aws s3 cp --only-show-errors --recursive {} \"$GATE_ARTIFACT_DIR\"",
                quote(&self.url(&self.prefix()))
            ),
        ]
    }
}

/// `s` as one single-quoted shell word.
pub fn quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shell_words_are_single_quoted() {
        assert_eq!(quote("dist/"), "'dist/'");
        assert_eq!(quote("it's $(rm -rf /)"), r"'it'\''s $(rm -rf /)'");
    }

    #[test]
    fn the_marker_sits_beside_the_prefix() {
        let at = ArtifactLocation {
            bucket: "b",
            repository: "shop",
            key: "k1",
        };
        assert_eq!(at.prefix(), "shop/k1/");
        assert_eq!(at.marker(), "shop/k1.complete");
        assert!(!at.marker().starts_with(&at.prefix()));
    }
}
