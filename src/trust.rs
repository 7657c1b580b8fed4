//! Which gate file governs a change: the destination's (trusted), never the code under test's; what the change's own file may add, and what it would change once merged.
//!
//! A pull request carries its own copy of the gate file. If the gate read its policy from
//! there, the code under test could weaken the rules that judge it: `ignore: ["**"]`, a
//! failing check deleted or made optional, its author added to `skip.authors`, a check's
//! commands replaced with `true`. So the policy comes from the destination commit (the tip the
//! merge is tested against) and the change's file only ever *adds*:
//!
//! - every check, rule and setting comes from the trusted file;
//! - checks that exist only in the change's file run too (so their authors see them work),
//!   with the change's definition — they can only make the gate stricter;
//! - a change that touches the gate file or a buildspec the trusted file names runs every
//!   trusted check ([`crate::plan::Reason::PolicyChanged`]);
//! - everything else the change's file would change is listed ([`GateFileChange`]) and takes
//!   effect only once it is merged.
//!
//! Pure: the flows read the two files and call [`govern`].

use crate::gate_file::{Check, Gate, GateFileErrors, Run};
use crate::ids::{CheckName, CommitId};
use crate::plan::ChangedPath;
use serde::{Deserialize, Serialize};

/// Where the governing gate file was read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum TrustSource {
    /// The destination branch at the commit the merge is tested against.
    Destination {
        /// The branch (without `refs/heads/`), or the ref as given.
        branch: String,
        /// Its commit.
        commit: CommitId,
    },
    /// A file given explicitly (`gate run --gate-file`): an experiment, not the trusted file.
    Override {
        /// The file as given.
        file: String,
    },
}

/// One thing the change's own gate file would change once merged.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum GateFileChange {
    /// A check only the change's file has: it runs now too.
    CheckAdded {
        /// The check.
        check: CheckName,
    },
    /// A trusted check the change's file removes: it still runs until the merge.
    CheckRemoved {
        /// The check.
        check: CheckName,
    },
    /// A trusted check the change's file redefines: the trusted definition runs until the merge.
    CheckChanged {
        /// The check.
        check: CheckName,
        /// What differs (`commands`, `required`, `env`, ...), in a fixed order.
        fields: Vec<String>,
    },
    /// A setting the change's file changes (`ignore`, `skip`, `promotion`, ...): the trusted
    /// one applies until the merge.
    SettingChanged {
        /// The setting's key.
        setting: String,
    },
    /// The change deletes the gate file.
    FileRemoved,
}

/// Which gate file governed a plan, and what the change would do to it (the report says so).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GateFileNote {
    /// The gate file's path in the repository (or the file given).
    pub path: String,
    /// Where it was read.
    pub source: TrustSource,
    /// Changed paths that decide the policy: the gate file and the buildspecs the trusted file
    /// names. Any of them changed runs every trusted check.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub touched: Vec<String>,
    /// What the change's own gate file would change once merged.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub changes: Vec<GateFileChange>,
}

impl GateFileNote {
    /// A note for a plan governed by the trusted file at `path`, read from `source`.
    pub fn new(path: impl Into<String>, source: TrustSource) -> Self {
        Self {
            path: path.into(),
            source,
            touched: Vec::new(),
            changes: Vec::new(),
        }
    }

    /// Whether the report should mention the gate file at all: an override, or a change that
    /// touches the policy.
    pub fn is_notable(&self) -> bool {
        matches!(self.source, TrustSource::Override { .. })
            || !self.touched.is_empty()
            || !self.changes.is_empty()
    }

    /// The checks the change's file adds (they run with the change's definition).
    pub fn added(&self) -> impl Iterator<Item = &CheckName> {
        self.changes.iter().filter_map(|c| match c {
            GateFileChange::CheckAdded { check } => Some(check),
            _ => None,
        })
    }
}

/// The paths whose change decides the policy: the gate file itself and every buildspec the
/// trusted file names.
pub fn policy_paths(trusted: &Gate, gate_file_path: &str) -> Vec<String> {
    let mut paths = vec![normalize(gate_file_path).to_owned()];
    for check in &trusted.checks {
        if let Run::Buildspec(path) = &check.run {
            let path = normalize(path).to_owned();
            if !paths.contains(&path) {
                paths.push(path);
            }
        }
    }
    paths
}

/// The policy paths among `changes` (either side of a rename), in `policy` order.
pub fn touched(changes: &[ChangedPath], policy: &[String]) -> Vec<String> {
    policy
        .iter()
        .filter(|p| {
            changes.iter().any(|c| {
                normalize(&c.path) == p.as_str()
                    || c.old_path
                        .as_deref()
                        .is_some_and(|o| normalize(o) == p.as_str())
            })
        })
        .cloned()
        .collect()
}

fn normalize(path: &str) -> &str {
    path.trim_start_matches("./").trim_start_matches('/')
}

/// A gate file as read at one commit: `None` when absent, else parsed (valid or not).
pub type GateRead = Option<Result<Gate, GateFileErrors>>;

/// The paths of a change that decide the policy, measured against the trusted file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyChange {
    /// The gate file and every buildspec the trusted file names ([`policy_paths`]).
    pub paths: Vec<String>,
    /// Those the change touches ([`touched`]).
    pub touched: Vec<String>,
}

impl PolicyChange {
    /// What `changes` do to the policy of `trusted`, read from `gate_file_path`.
    pub fn of(trusted: &Gate, gate_file_path: &str, changes: &[ChangedPath]) -> Self {
        let paths = policy_paths(trusted, gate_file_path);
        let touched = touched(changes, &paths);
        Self { paths, touched }
    }

    /// Whether the change touches the gate file itself: then its own file must be read, to
    /// add its checks and list what it would change.
    pub fn touches_gate_file(&self) -> bool {
        self.paths.first().is_some_and(|p| self.touched.contains(p))
    }
}

/// What governs a change, from the files as read.
#[derive(Debug)]
pub enum Governing {
    /// The governing gate and where it came from.
    Gate {
        /// The trusted gate plus the change's added checks.
        gate: Box<Gate>,
        /// Which file governed, and what the change's own would change.
        note: GateFileNote,
    },
    /// The change's own gate file is invalid: merging it would break the gate for everyone.
    InvalidProposed(GateFileErrors),
}

/// [`govern`] from the change's own gate file as read: `None` when it was not read (the
/// change does not touch it, [`PolicyChange::touches_gate_file`]). The AWS flow and `gate run`
/// both decide here.
pub fn govern_read(
    trusted: &Gate,
    proposed: Option<GateRead>,
    note: GateFileNote,
    change: PolicyChange,
) -> Governing {
    let (gate, note) = match proposed {
        None => govern(trusted, Proposed::Untouched, note, change.touched),
        Some(None) => govern(trusted, Proposed::Removed, note, change.touched),
        Some(Some(Ok(mine))) => govern(trusted, Proposed::File(&mine), note, change.touched),
        Some(Some(Err(errors))) => return Governing::InvalidProposed(errors),
    };
    Governing::Gate {
        gate: Box::new(gate),
        note,
    }
}

/// Whether `path`, a buildspec the governing `gate` names, is read at the destination: yes
/// when a trusted check names it (the change cannot rewrite what a trusted check runs), no when
/// only a check the change adds names it, or under an override (`gate run --gate-file`).
pub fn buildspec_from_destination(gate: &Gate, note: &GateFileNote, path: &str) -> bool {
    if matches!(note.source, TrustSource::Override { .. }) {
        return false;
    }
    let added: Vec<&CheckName> = note.added().collect();
    gate.checks
        .iter()
        .any(|c| !added.contains(&&c.name) && matches!(&c.run, Run::Buildspec(p) if p == path))
}

/// The change's own gate file, when the change touches it.
#[derive(Debug, Clone, Copy)]
pub enum Proposed<'g> {
    /// The change does not touch the gate file (or it was not read): nothing to add or compare.
    Untouched,
    /// The change's file, valid.
    File(&'g Gate),
    /// The change deletes the gate file.
    Removed,
}

/// The gate that governs a change: the trusted gate plus the checks only the change's file
/// has; and the note that says where it came from and what the change's file would change.
/// `touched` are the policy paths the change touches ([`touched`]).
pub fn govern(
    trusted: &Gate,
    proposed: Proposed<'_>,
    mut note: GateFileNote,
    touched: Vec<String>,
) -> (Gate, GateFileNote) {
    note.touched = touched;
    let mut gate = trusted.clone();
    match proposed {
        Proposed::Untouched => {}
        Proposed::Removed => note.changes.push(GateFileChange::FileRemoved),
        Proposed::File(proposed) => {
            note.changes = differences(trusted, proposed);
            for check in proposed
                .checks
                .iter()
                .filter(|c| trusted.check(c.name.as_str()).is_none())
            {
                add_check(&mut gate, proposed, check);
            }
        }
    }
    (gate, note)
}

/// Appends a check of `proposed` to `gate`: its stage if the trusted file has one of that name,
/// else a new last stage; its components mapped by name (a component only the proposed file
/// has is dropped: a change that adds checks touches the gate file, so every check runs anyway).
fn add_check(gate: &mut Gate, proposed: &Gate, check: &Check) {
    let stage_index = match gate.stages.iter().position(|s| *s == check.stage) {
        Some(i) => i,
        None => {
            gate.stages.push(check.stage.clone());
            gate.stages.len() - 1
        }
    };
    let components = check
        .components
        .iter()
        .filter_map(|&i| proposed.components.get(i))
        .filter_map(|c| gate.components.iter().position(|t| t.name == c.name))
        .collect();
    gate.checks.push(Check {
        stage_index,
        components,
        // A pass is reused only where the trusted gate file says so.
        reuse: false,
        ..check.clone()
    });
}

/// What `proposed` changes relative to `trusted`: checks added, removed and redefined, then
/// settings, each in file order.
pub fn differences(trusted: &Gate, proposed: &Gate) -> Vec<GateFileChange> {
    let mut changes = Vec::new();
    for check in &proposed.checks {
        if trusted.check(check.name.as_str()).is_none() {
            changes.push(GateFileChange::CheckAdded {
                check: check.name.clone(),
            });
        }
    }
    for check in &trusted.checks {
        match proposed.check(check.name.as_str()) {
            None => changes.push(GateFileChange::CheckRemoved {
                check: check.name.clone(),
            }),
            Some((_, mine)) => {
                let fields = check_fields(trusted, check, proposed, mine);
                if !fields.is_empty() {
                    changes.push(GateFileChange::CheckChanged {
                        check: check.name.clone(),
                        fields,
                    });
                }
            }
        }
    }
    for setting in setting_changes(trusted, proposed) {
        changes.push(GateFileChange::SettingChanged {
            setting: setting.to_owned(),
        });
    }
    changes
}

fn component_names(gate: &Gate, indices: &[usize]) -> Vec<String> {
    indices
        .iter()
        .filter_map(|&i| gate.components.get(i))
        .map(|c| c.name.as_str().to_owned())
        .collect()
}

fn check_fields(trusted: &Gate, a: &Check, proposed: &Gate, b: &Check) -> Vec<String> {
    let differs = [
        ("stage", a.stage != b.stage),
        (
            "components",
            component_names(trusted, &a.components) != component_names(proposed, &b.components),
        ),
        (
            "commands",
            matches!((&a.run, &b.run), (Run::Commands(x), Run::Commands(y)) if x != y)
                || std::mem::discriminant(&a.run) != std::mem::discriminant(&b.run),
        ),
        (
            "buildspec",
            matches!((&a.run, &b.run), (Run::Buildspec(x), Run::Buildspec(y)) if x != y),
        ),
        ("required", a.required != b.required),
        ("timeout", a.timeout_minutes != b.timeout_minutes),
        ("retries", a.retries != b.retries),
        ("retry_on_failure", a.retry_on_failure != b.retry_on_failure),
        ("image", a.image != b.image),
        ("compute_type", a.compute_type != b.compute_type),
        ("env", a.env != b.env),
        ("cache", a.cache != b.cache),
        ("reuse", a.reuse != b.reuse),
    ];
    differs
        .iter()
        .filter(|(_, d)| *d)
        .map(|(f, _)| (*f).to_owned())
        .collect()
}

fn setting_changes(a: &Gate, b: &Gate) -> Vec<&'static str> {
    let components = |g: &Gate| -> Vec<(String, Vec<String>, Vec<String>)> {
        g.components
            .iter()
            .map(|c| {
                (
                    c.name.as_str().to_owned(),
                    c.paths.clone(),
                    component_names(g, &c.depends_on),
                )
            })
            .collect()
    };
    let skippable = |g: &Gate| -> Vec<String> {
        g.skippable
            .iter()
            .filter_map(|&i| g.checks.get(i))
            .map(|c| c.name.as_str().to_owned())
            .collect()
    };
    let promotion = |g: &Gate| -> Vec<(String, Vec<String>)> {
        g.promotion
            .iter()
            .map(|r| (r.destination.clone(), r.sources.patterns().to_vec()))
            .collect()
    };
    let differs = [
        ("stages", a.stages != b.stages),
        ("components", components(a) != components(b)),
        ("global", a.global.patterns() != b.global.patterns()),
        ("ignore", a.ignore.patterns() != b.ignore.patterns()),
        ("unmatched", a.unmatched != b.unmatched),
        (
            "skip",
            skippable(a) != skippable(b) || a.skip_authors.patterns() != b.skip_authors.patterns(),
        ),
        ("promotion", promotion(a) != promotion(b)),
        ("strict", a.strict != b.strict),
    ];
    differs
        .iter()
        .filter(|(_, d)| *d)
        .map(|(s, _)| *s)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const TRUSTED: &str = r#"stages: [lint, test]
components:
  api: {paths: [api/]}
checks:
  fmt: {stage: lint, commands: [cargo fmt --check]}
  unit: {stage: test, components: [api], buildspec: ci/unit.yml}
  docs: {stage: lint, commands: [make docs], required: false}
ignore: ["**/*.md"]
skip: {checks: [docs], authors: ["arn:aws:iam::1:user/lead"]}
"#;

    fn gate(text: &str) -> Gate {
        Gate::parse(text, ".gate.yml").expect("valid")
    }

    fn note() -> GateFileNote {
        GateFileNote::new(
            ".gate.yml",
            TrustSource::Destination {
                branch: "main".into(),
                commit: CommitId::from("d"),
            },
        )
    }

    #[test]
    fn policy_paths_are_the_gate_file_and_the_trusted_buildspecs() {
        let t = gate(TRUSTED);
        let policy = policy_paths(&t, "./.gate.yml");
        assert_eq!(policy, vec![".gate.yml", "ci/unit.yml"]);
        let changes = [
            ChangedPath::renamed("ci/unit.yml", "ci/old.yml"),
            ChangedPath::new("api/x.rs"),
        ];
        assert_eq!(touched(&changes, &policy), vec!["ci/unit.yml"]);
        assert!(touched(&[ChangedPath::new("api/x.rs")], &policy).is_empty());
    }

    #[test]
    fn weakening_takes_no_effect_and_is_listed() {
        let t = gate(TRUSTED);
        let weak = gate(
            r#"stages: [lint, test, extra]
components:
  api: {paths: [api/]}
checks:
  unit: {stage: test, components: [api], commands: ["true"], required: false}
  docs: {stage: lint, commands: [make docs], required: false}
  mine: {stage: extra, commands: [./new-check.sh]}
ignore: ["**"]
skip: {checks: [docs, unit], authors: ["*"]}
"#,
        );
        let (governing, note) = govern(&t, Proposed::File(&weak), note(), vec![".gate.yml".into()]);
        // The trusted checks keep their definitions; the new one is added in a new stage.
        assert_eq!(governing.checks.len(), 4);
        let (_, unit) = governing.check("unit").expect("unit");
        assert!(unit.required);
        assert_eq!(unit.run, Run::Buildspec("ci/unit.yml".into()));
        assert!(
            governing.check("fmt").is_some(),
            "a removed check still runs"
        );
        assert_eq!(governing.ignore.patterns(), ["**/*.md"]);
        let (_, mine) = governing.check("mine").expect("added");
        assert_eq!(governing.stages[mine.stage_index], "extra");
        assert_eq!(
            note.changes,
            vec![
                GateFileChange::CheckAdded {
                    check: "mine".into()
                },
                GateFileChange::CheckRemoved {
                    check: "fmt".into()
                },
                GateFileChange::CheckChanged {
                    check: "unit".into(),
                    fields: vec!["commands".into(), "required".into()]
                },
                GateFileChange::SettingChanged {
                    setting: "stages".into()
                },
                GateFileChange::SettingChanged {
                    setting: "ignore".into()
                },
                GateFileChange::SettingChanged {
                    setting: "skip".into()
                },
            ]
        );
        assert_eq!(
            note.added().map(CheckName::as_str).collect::<Vec<_>>(),
            ["mine"]
        );
        assert!(note.is_notable());
    }

    #[test]
    fn trusted_buildspecs_come_from_the_destination_unless_overridden() {
        let t = gate(TRUSTED);
        let mine = gate(&TRUSTED.replace(
            "  docs:",
            "  extra: {stage: test, buildspec: ci/extra.yml}\n  docs:",
        ));
        let Governing::Gate { gate: g, note: n } = govern_read(
            &t,
            Some(Some(Ok(mine))),
            note(),
            PolicyChange::of(&t, ".gate.yml", &[]),
        ) else {
            panic!("valid");
        };
        assert!(buildspec_from_destination(&g, &n, "ci/unit.yml"));
        assert!(!buildspec_from_destination(&g, &n, "ci/extra.yml"), "added");
        let over = GateFileNote::new(
            ".gate.yml",
            TrustSource::Override {
                file: "x.yml".into(),
            },
        );
        assert!(!buildspec_from_destination(&g, &over, "ci/unit.yml"));
        let broken = Gate::parse("stages: []", ".gate.yml").expect_err("invalid");
        assert!(matches!(
            govern_read(
                &t,
                Some(Some(Err(broken))),
                note(),
                PolicyChange::of(&t, ".gate.yml", &[])
            ),
            Governing::InvalidProposed(_)
        ));
    }

    #[test]
    fn an_untouched_gate_file_governs_as_it_is() {
        let t = gate(TRUSTED);
        let (governing, note) = govern(&t, Proposed::Untouched, note(), Vec::new());
        assert_eq!(governing.checks.len(), t.checks.len());
        assert!(!note.is_notable());
        let (_, note) = govern(
            &t,
            Proposed::Removed,
            super::tests::note(),
            vec![".gate.yml".into()],
        );
        assert_eq!(note.changes, vec![GateFileChange::FileRemoved]);
    }
}
