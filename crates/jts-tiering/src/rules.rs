//! The `[[rules]]` spec section (README, "Spec reference") and its checks.

use std::collections::BTreeMap;
use std::ops::Range;

use jts_core::{AbsPath, Size, SpecDuration, SpecError};
use serde::Deserialize;
use serde_spanned::Spanned;

use crate::glob::Glob;

/// What a rule does with the files it selects.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    /// Move to `to`, keeping the path relative to `from`.
    Move,
    /// Delete in place.
    Delete,
}

/// How a moved file is compressed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Compression {
    /// Zstandard; the moved file gets a `.zst` suffix.
    Zstd,
}

/// How a moved file's copy is checked before its source is removed (docs/architecture.md, "The mover").
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Verify {
    /// The guarantee rsync gives, at one read of the source: the blake3 hash of every
    /// byte read is computed while copying and journaled, every write must complete, the
    /// copy on disk must have the source's size, and the source must not have changed.
    /// The journaled hash is checked against the destination on recovery and before a
    /// duplicate's source is removed.
    #[default]
    Copy,
    /// All of `copy`, and after the copy is durable it is dropped from the page cache,
    /// read back from the device and its hash compared: twice the reads, for the tier
    /// whose device is not trusted (the NAS).
    Readback,
}

/// Free space a `move` rule leaves on its destination when `reserve` is not given.
pub const DEFAULT_RESERVE: Size = Size::from_bytes(1 << 30);

/// `[[rules]]`: one lifecycle rule between tiers.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleSpec {
    /// A unique name, used in reports and the journal.
    pub name: Spanned<String>,
    /// The directory whose files the rule applies to.
    pub from: Spanned<AbsPath>,
    /// Where files are moved; required for `move`, forbidden for `delete`.
    pub to: Option<Spanned<AbsPath>>,
    /// Globs relative to `from`; a file must match one (default: every file).
    #[serde(default)]
    pub include: Vec<Spanned<String>>,
    /// Globs relative to `from`; a file matching any is left alone.
    #[serde(default)]
    pub exclude: Vec<Spanned<String>>,
    /// Minimum age by modification time.
    pub older_than: Spanned<SpecDuration>,
    /// `move` or `delete`.
    pub action: Spanned<Action>,
    /// Optional compression, only for `move`.
    pub compress: Option<Spanned<Compression>>,
    /// How copies are checked (`move` only; default `readback`).
    pub verify: Option<Spanned<Verify>>,
    /// Free space always left on the destination (`move` only; default 1GiB).
    pub reserve: Option<Spanned<Size>>,
    /// Remove directories below `from` that the rule leaves empty (never `from` itself).
    #[serde(default)]
    pub prune_empty_dirs: bool,
    /// Only files larger than this.
    pub larger_than: Option<Spanned<Size>>,
    /// Run only while `from`'s filesystem is at least this full (percent of its bytes).
    pub when_source_above_percent: Option<Spanned<u8>>,
}

/// A checked rule, ready to run: what [`RuleSpec::compile`] makes of a `[[rules]]` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule {
    /// The rule's unique name.
    pub name: String,
    /// The directory whose files the rule applies to.
    pub from: AbsPath,
    /// Move or delete; a move knows where to.
    pub action: RuleAction,
    /// Which files, by path and age.
    pub selector: crate::scan::Selector,
    /// Remove directories below `from` that the rule leaves empty.
    pub prune_empty_dirs: bool,
    /// Run only while `from`'s filesystem is at least this full (percent).
    pub when_source_above_percent: Option<u8>,
}

/// What a [`Rule`] does with its files.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RuleAction {
    /// Move to `to`, keeping relative paths.
    Move {
        /// The destination directory.
        to: AbsPath,
        /// Compression of the copies.
        compress: Option<Compression>,
        /// How copies are checked.
        verify: Verify,
        /// Bytes always left free on the destination.
        reserve: u64,
    },
    /// Delete in place.
    Delete,
}

impl RuleAction {
    /// `"move"` or `"delete"`, as reports name it.
    pub fn name(&self) -> &'static str {
        match self {
            Self::Move { .. } => "move",
            Self::Delete => "delete",
        }
    }
}

impl RuleSpec {
    /// The runnable rule; fails like [`check`] on an invalid glob or a `move` without `to`.
    pub fn compile(&self) -> Result<Rule, String> {
        let compile = |globs: &[Spanned<String>]| -> Result<Vec<Glob>, String> {
            globs.iter().map(|g| Glob::new(g.get_ref())).collect()
        };
        let action = match (self.action.get_ref(), &self.to) {
            (Action::Move, Some(to)) => RuleAction::Move {
                to: to.get_ref().clone(),
                compress: self.compress.as_ref().map(|c| *c.get_ref()),
                verify: self.verify.as_ref().map(|v| *v.get_ref()).unwrap_or_default(),
                reserve: self.reserve.as_ref().map_or(DEFAULT_RESERVE, |r| *r.get_ref()).bytes(),
            },
            (Action::Move, None) => return Err(format!("rule {}: a `move` rule needs `to`", self.name.get_ref())),
            (Action::Delete, _) => RuleAction::Delete,
        };
        Ok(Rule {
            name: self.name.get_ref().clone(),
            from: self.from.get_ref().clone(),
            action,
            selector: crate::scan::Selector {
                include: compile(&self.include)?,
                exclude: compile(&self.exclude)?,
                older_than: *self.older_than.get_ref(),
                larger_than: self.larger_than.as_ref().map(|size| size.get_ref().bytes()),
            },
            prune_empty_dirs: self.prune_empty_dirs,
            when_source_above_percent: self.when_source_above_percent.as_ref().map(|p| *p.get_ref()),
        })
    }
}

/// Directories a rule may never work in: the system itself, whole (a rule there could
/// move or delete what the machine runs on), and jts's own state.
const FORBIDDEN: [&str; 13] =
    ["/", "/bin", "/boot", "/dev", "/etc", "/lib", "/lib64", "/proc", "/run", "/sbin", "/sys", "/usr", "/var"];

/// Why `path` may not be a rule's `from` or `to`, if it may not.
fn forbidden(path: &AbsPath) -> Option<String> {
    let path = path.as_path();
    if let Some(system) = FORBIDDEN.iter().find(|dir| path == std::path::Path::new(dir)) {
        return Some(format!("{system} is a system directory as a whole"));
    }
    ["/proc", "/sys", "/dev", "/var/lib/jts"]
        .iter()
        .find(|dir| path.starts_with(dir))
        .map(|dir| format!("{} is inside {dir}", path.display()))
}

fn span<T>(value: &Spanned<T>) -> Option<Range<usize>> {
    Some(value.span())
}

/// Checks `[[rules]]`: unique names, `to` given exactly for `move`, `from` and `to` not
/// nested, valid globs, `compress` only on `move`. Each message says how to fix it.
pub fn check(rules: &[RuleSpec]) -> Vec<SpecError> {
    let mut errors = Vec::new();
    let mut names: BTreeMap<&str, usize> = BTreeMap::new();
    for (index, rule) in rules.iter().enumerate() {
        let key = |field: &str| format!("rules[{index}].{field}");
        let name = rule.name.get_ref();
        if name.trim().is_empty() {
            errors.push(SpecError::new(span(&rule.name), key("name"), "empty name; give the rule a unique name"));
        } else if !name.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b)) || name.starts_with('.') {
            errors.push(SpecError::new(
                span(&rule.name),
                key("name"),
                format!(
                    "name {name:?} names the rule's journal file; use only letters, digits, `-`, `_` and `.`, not first"
                ),
            ));
        } else if let Some(first) = names.insert(name, index) {
            names.insert(name, first);
            errors.push(SpecError::new(
                span(&rule.name),
                key("name"),
                format!("name {name:?} is already used by rules[{first}]; give each rule a unique name"),
            ));
        }
        let ends = std::iter::once(("from", &rule.from)).chain(rule.to.as_ref().map(|to| ("to", to)));
        for (field, path) in ends {
            if let Some(why) = forbidden(path.get_ref()) {
                errors.push(SpecError::new(
                    span(path),
                    key(field),
                    format!("a rule may not work in {}: {why}; name the data directory itself", path.get_ref()),
                ));
            }
        }
        match (rule.action.get_ref(), &rule.to) {
            (Action::Move, None) => errors.push(SpecError::new(
                span(&rule.action),
                key("to"),
                "a `move` rule needs a destination; add `to = \"/data/warm-storage/...\"`",
            )),
            (Action::Delete, Some(to)) => errors.push(SpecError::new(
                span(to),
                key("to"),
                "a `delete` rule has no destination; remove `to`, or set `action = \"move\"`",
            )),
            (Action::Move, Some(to)) => {
                let (from_path, to_path) = (rule.from.get_ref().as_path(), to.get_ref().as_path());
                if to_path.starts_with(from_path) || from_path.starts_with(to_path) {
                    errors.push(SpecError::new(
                        span(to),
                        key("to"),
                        format!(
                            "`to` ({}) and `from` ({}) are the same or nested, so moved files would be found again; \
                             choose a destination outside `from`",
                            to.get_ref(),
                            rule.from.get_ref()
                        ),
                    ));
                }
            }
            (Action::Delete, None) => {}
        }
        if *rule.action.get_ref() == Action::Delete {
            let move_only = [
                ("compress", rule.compress.as_ref().map(Spanned::span)),
                ("verify", rule.verify.as_ref().map(Spanned::span)),
                ("reserve", rule.reserve.as_ref().map(Spanned::span)),
            ];
            for (field, at) in move_only.into_iter().filter_map(|(field, at)| Some((field, at?))) {
                errors.push(SpecError::new(
                    Some(at),
                    key(field),
                    format!("`{field}` applies only to `move` rules; remove it from this `delete` rule"),
                ));
            }
        }
        if let Some(percent) = &rule.when_source_above_percent
            && *percent.get_ref() > 100
        {
            errors.push(SpecError::new(
                span(percent),
                key("when_source_above_percent"),
                format!("{} is not a percentage; write a whole number from 0 to 100, e.g. 80", percent.get_ref()),
            ));
        }
        for (field, globs) in [("include", &rule.include), ("exclude", &rule.exclude)] {
            for (position, glob) in globs.iter().enumerate() {
                if let Err(message) = Glob::new(glob.get_ref()) {
                    errors.push(SpecError::new(span(glob), key(&format!("{field}[{position}]")), message));
                }
            }
        }
    }
    errors
}

/// The compiled rules named in `names`, in spec order, or all when `names` is empty. A
/// spec without rules, or an unknown name, is an error that says what the spec has.
pub fn select(specs: &[RuleSpec], names: &[String]) -> Result<Vec<Rule>, String> {
    let rules: Vec<Rule> = specs.iter().map(RuleSpec::compile).collect::<Result<_, _>>()?;
    if rules.is_empty() {
        return Err("the spec has no [[rules]]; add one (see README, \"Tiering\")".into());
    }
    for name in names {
        if !rules.iter().any(|rule| &rule.name == name) {
            let known: Vec<&str> = rules.iter().map(|rule| rule.name.as_str()).collect();
            return Err(format!("no rule named {name:?}; the spec has: {}", known.join(", ")));
        }
    }
    Ok(rules.into_iter().filter(|rule| names.is_empty() || names.contains(&rule.name)).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Doc {
        rules: Vec<RuleSpec>,
    }

    fn parse(text: &str) -> Vec<RuleSpec> {
        toml::from_str::<Doc>(text).unwrap().rules
    }

    #[test]
    fn the_design_example_parses_and_passes() {
        let rules = parse(
            r#"
[[rules]]
name = "logs-to-warm"
from = "/data/jts/hot/postgresql/logs"
to = "/data/warm-storage/logs/postgresql"
include = ["**/*.log"]
exclude = []
older_than = "7d"
action = "move"
compress = "zstd"

[[rules]]
name = "tmp"
from = "/data/jts/hot/tmp"
older_than = "3d"
action = "delete"
"#,
        );
        assert_eq!(rules.len(), 2);
        assert_eq!(rules[0].older_than.get_ref().as_secs(), 7 * 86_400);
        assert_eq!(rules[0].compress.as_ref().map(|c| *c.get_ref()), Some(Compression::Zstd));
        assert_eq!(*rules[1].action.get_ref(), Action::Delete);
        assert_eq!(check(&rules), []);
        assert!(rules[0].compile().unwrap().selector.include[0].matches("a/b.log"));
    }

    #[test]
    fn unknown_fields_and_values_are_rejected() {
        let base = "name = \"x\"\nfrom = \"/a\"\nolder_than = \"1d\"\n";
        assert!(toml::from_str::<Doc>(&format!("[[rules]]\n{base}action = \"delete\"\nsize = 3\n")).is_err());
        assert!(toml::from_str::<Doc>(&format!("[[rules]]\n{base}action = \"copy\"\n")).is_err());
        assert!(
            toml::from_str::<Doc>(&format!("[[rules]]\n{base}action = \"move\"\nto = \"/b\"\ncompress = \"gz\"\n"))
                .is_err()
        );
        assert!(
            toml::from_str::<Doc>(
                "[[rules]]\nname = \"x\"\nfrom = \"rel\"\nolder_than = \"1d\"\naction = \"delete\"\n"
            )
            .is_err()
        );
    }

    #[test]
    fn every_problem_is_reported_with_a_fix() {
        let text = r#"
[[rules]]
name = "a"
from = "/hot"
older_than = "1d"
action = "move"

[[rules]]
name = "a"
from = "/hot/tmp"
to = "/cold"
compress = "zstd"
older_than = "1d"
action = "delete"

[[rules]]
name = "b"
from = "/hot/x"
to = "/hot/x/archive"
include = ["[abc", "ok/*"]
exclude = ["/abs"]
older_than = "1d"
action = "move"

[[rules]]
name = "c"
from = "/hot/y/z"
to = "/hot/y"
older_than = "1d"
action = "move"
"#;
        let errors = check(&parse(text));
        let keys: Vec<&str> = errors.iter().map(|e| e.key.as_str()).collect();
        assert_eq!(
            keys,
            [
                "rules[0].to",
                "rules[1].name",
                "rules[1].to",
                "rules[1].compress",
                "rules[2].to",
                "rules[2].include[0]",
                "rules[2].exclude[0]",
                "rules[3].to"
            ]
        );
        for error in &errors {
            assert!(error.span.is_some(), "{error}");
            assert!(
                ["add", "remove", "unique", "choose", "write", "close"].iter().any(|w| error.message.contains(w)),
                "{error}"
            );
            let (line, _) = error.line_col(text).unwrap();
            assert!(line > 1);
        }
    }

    #[test]
    fn system_directories_and_jts_state_are_refused() {
        for (from, to) in [("/", "/data"), ("/etc", "/data"), ("/data", "/var"), ("/var/lib/jts/tier", "/data/x")] {
            let text = format!(
                "[[rules]]\nname = \"x\"\nfrom = \"{from}\"\nto = \"{to}\"\nolder_than = \"1d\"\naction = \"move\"\n"
            );
            let errors = check(&parse(&text));
            assert!(errors.iter().any(|e| e.message.contains("may not work in")), "{from} → {to}: {errors:?}");
        }
        let fine = "[[rules]]\nname = \"x\"\nfrom = \"/var/log/jts\"\nolder_than = \"1d\"\naction = \"delete\"\n";
        assert_eq!(check(&parse(fine)), []);
        let errors = check(&parse(&format!("{fine}when_source_above_percent = 101\n")));
        assert_eq!(errors.len(), 1);
        assert_eq!(errors[0].key, "rules[0].when_source_above_percent");
    }

    #[test]
    fn siblings_with_a_common_prefix_are_not_nested() {
        let rules = parse(
            "[[rules]]\nname = \"x\"\nfrom = \"/data/hot\"\nto = \"/data/hot-archive\"\nolder_than = \"1d\"\naction = \"move\"\n",
        );
        assert_eq!(check(&rules), []);
    }
}
