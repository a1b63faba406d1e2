//! Rules on the spec's own mkfs arguments, before they are merged with the preset's:
//! syntax, options jts owns, options of another filesystem, contradictions.

use std::collections::BTreeMap;

use super::Problem;
use crate::kind::FsKind;
use crate::mkfs_args::{BadArg, Token, flag_defs, subopt_key, subopts};

pub(super) fn check(kind: FsKind, args: &[String], user: &[Token], problems: &mut Vec<Problem>) {
    if kind == FsKind::None {
        for token in user {
            problems.push(Problem::error(
                "mkfs-raw-volume",
                token.raw(),
                "a raw volume (filesystem = \"none\") is not formatted",
                "remove mkfs_options, or declare a filesystem",
            ));
        }
        return;
    }
    let spaced = |text: &str| text.chars().any(char::is_whitespace);
    for arg in args.iter().filter(|arg| spaced(arg)) {
        problems.push(Problem::error(
            "mkfs-not-one-word",
            arg,
            "an argument contains whitespace; mkfs would read the space as part of the value",
            "write each argv word as its own list item, e.g. [\"-E\", \"discard\"]",
        ));
    }
    for token in user {
        let already_reported = match token {
            Token::Opt { value, .. } => value.as_deref().is_some_and(spaced),
            Token::Bad { raw, .. } => spaced(raw),
        };
        if already_reported {
            continue;
        }
        match token {
            Token::Bad { raw, why } => problems.push(bad_arg(kind, raw, *why)),
            Token::Opt { def, value, raw } => {
                if def.managed {
                    problems.push(managed(kind, def.flag, raw));
                } else if let Some(problem) = not_here(kind, def.flag, raw) {
                    problems.push(problem);
                } else if let Some(other) = value.as_deref().and_then(|value| other_fs_value(kind, def.flag, value)) {
                    problems.push(Problem::error(
                        "mkfs-other-filesystem",
                        raw,
                        format!(
                            "looks like {other}'s {} option; mkfs.{kind}'s {} means something else",
                            def.flag, def.flag
                        ),
                        format!("remove it, or write the mkfs.{kind} equivalent"),
                    ));
                }
            }
        }
    }
    contradictions(user, problems);
}

fn bad_arg(kind: FsKind, raw: &str, why: BadArg) -> Problem {
    match why {
        BadArg::Positional => Problem::error(
            "mkfs-positional",
            raw,
            format!("a bare word: mkfs.{kind} would read it as a device or a size"),
            "attach it to its option, or remove it (jts passes the device itself)",
        ),
        BadArg::MissingValue => Problem::error(
            "mkfs-missing-value",
            raw,
            "the option needs a value and none follows",
            "add the value as the next list item",
        ),
        BadArg::Unknown => {
            let flag = raw.split_once('=').map_or(raw, |(flag, _)| flag);
            let flag = if flag.starts_with("--") { flag } else { flag.get(..2).unwrap_or(flag) };
            let owner = FsKind::FILESYSTEMS
                .into_iter()
                .find(|other| *other != kind && flag_defs(*other).iter().any(|def| def.flag == flag));
            match owner {
                Some(other) => Problem::error(
                    "mkfs-other-filesystem",
                    raw,
                    format!("is a mkfs.{other} option; mkfs.{kind} refuses it (\"invalid option\")"),
                    format!("remove it, or write the mkfs.{kind} equivalent"),
                ),
                None => Problem::error(
                    "mkfs-unknown",
                    raw,
                    format!("mkfs.{kind} has no such option"),
                    format!("check the spelling against the mkfs.{kind}(8) manual page"),
                ),
            }
        }
    }
}

fn managed(kind: FsKind, flag: &str, raw: &str) -> Problem {
    let fix = match flag {
        "-L" => "set `label = \"...\"` instead",
        "-q" => "remove it: jts captures mkfs output itself",
        _ => "remove it: jts forces mkfs only over a signature named in allow_destroy and --allow-destroy",
    };
    Problem::error("mkfs-managed", raw, format!("mkfs.{kind}'s {flag} is set by jts"), fix)
}

/// Options that make mkfs do something other than format the device once.
fn not_here(kind: FsKind, flag: &str, raw: &str) -> Option<Problem> {
    let why = match (kind, flag) {
        (FsKind::Ext4, "-n") | (FsKind::Xfs, "-N") => "is a dry run: nothing would be formatted",
        (FsKind::Ext4, "-S") => "writes only superblocks over an existing filesystem (a last-resort recovery tool)",
        (_, "-V") => "prints the version and formats nothing",
        _ => return None,
    };
    Some(Problem::error("mkfs-not-a-format", raw, format!("mkfs.{kind}'s {flag} {why}"), "remove it"))
}

/// Values that show an option was copied from another filesystem's mkfs.
fn other_fs_value(kind: FsKind, flag: &str, value: &str) -> Option<FsKind> {
    let numeric = value.parse::<f64>().is_ok();
    match (kind, flag) {
        (FsKind::Ext4, "-d" | "-l") if value.contains('=') => Some(FsKind::Xfs),
        (FsKind::Ext4, "-m") if !numeric => Some(FsKind::Xfs),
        (FsKind::Xfs, "-m") if numeric => Some(FsKind::Ext4),
        (FsKind::Btrfs, "-d" | "-m") if value.contains('=') => Some(FsKind::Xfs),
        _ => None,
    }
}

/// The same sub-option set twice to different values within the spec's own arguments.
fn contradictions(user: &[Token], problems: &mut Vec<Problem>) {
    let mut seen: BTreeMap<(&str, &str), &str> = BTreeMap::new();
    for token in user {
        let Token::Opt { def, value: Some(value), .. } = token else { continue };
        if !def.list {
            continue;
        }
        for item in subopts(value) {
            let key = (def.flag, subopt_key(item));
            match seen.get(&key) {
                Some(before) if before != &item => problems.push(Problem::error(
                    "mkfs-contradiction",
                    &format!("{} {item}", def.flag),
                    format!("contradicts {} {before}", def.flag),
                    format!("keep only one of {before} and {item}"),
                )),
                _ => {
                    seen.insert(key, item);
                }
            }
        }
    }
}

/// The value of the last `flag` in merged arguments, with how it was written.
pub(super) fn value_of<'a>(tokens: &'a [Token], flag: &str) -> Option<(&'a str, &'a str)> {
    tokens.iter().rev().find_map(|token| match token {
        Token::Opt { def, value: Some(value), raw } if def.flag == flag => Some((value.as_str(), raw.as_str())),
        _ => None,
    })
}

/// Whether `flag` (one that takes no value) is present, and how it was written.
pub(super) fn flag_of<'a>(tokens: &'a [Token], flag: &str) -> Option<&'a str> {
    tokens.iter().find_map(|token| match token {
        Token::Opt { def, value: None, raw } if def.flag == flag => Some(raw.as_str()),
        _ => None,
    })
}

/// The sub-options of every `flag` in merged arguments.
pub(super) fn items_of<'a>(tokens: &'a [Token], flag: &str) -> Vec<&'a str> {
    tokens
        .iter()
        .filter_map(|token| match token {
            Token::Opt { def, value: Some(value), .. } if def.flag == flag => Some(subopts(value)),
            _ => None,
        })
        .flatten()
        .collect()
}

/// A sub-option's value: `32` for `agcount=32`, `None` for `noalign`.
pub(super) fn item_value(item: &str) -> Option<&str> {
    item.split_once('=').map(|(_, value)| value)
}

/// The last value of sub-option `key` under `flag`, and the item as written.
pub(super) fn sub_of<'a>(tokens: &'a [Token], flag: &str, key: &str) -> Option<(Option<&'a str>, &'a str)> {
    items_of(tokens, flag).into_iter().rev().find(|item| subopt_key(item) == key).map(|item| (item_value(item), item))
}

#[cfg(test)]
mod tests {
    use super::super::Severity::Error;
    use super::super::test_util::{assert_one, opts, rules};
    use super::*;
    use crate::mkfs_args::parse_args;

    fn run(kind: FsKind, args: &[&str]) -> Vec<Problem> {
        let mut problems = Vec::new();
        check(kind, &opts(args), &parse_args(kind, &opts(args)), &mut problems);
        problems
    }

    #[test]
    fn raw_volume_takes_no_mkfs_options() {
        assert_one(&run(FsKind::None, &["-K"]), "mkfs-raw-volume", "-K", Error);
    }

    #[test]
    fn whitespace_in_an_argument_fails() {
        assert_one(&run(FsKind::Ext4, &["-E discard"]), "mkfs-not-one-word", "-E discard", Error);
    }

    #[test]
    fn stray_words_and_missing_values_fail() {
        assert_one(&run(FsKind::Ext4, &["discard"]), "mkfs-positional", "discard", Error);
        assert_one(&run(FsKind::Xfs, &["-d"]), "mkfs-missing-value", "-d", Error);
    }

    #[test]
    fn options_of_another_mkfs_are_named() {
        let problems = run(FsKind::Xfs, &["-E", "discard"]);
        assert_one(&problems, "mkfs-other-filesystem", "-E", Error);
        assert!(problems[0].message.contains("mkfs.ext4 option"), "{problems:?}");
        assert_one(&run(FsKind::Btrfs, &["-E", "discard"]), "mkfs-other-filesystem", "-E", Error);
        assert_one(&run(FsKind::Ext4, &["-d", "agcount=32"]), "mkfs-other-filesystem", "-d agcount=32", Error);
        assert_one(&run(FsKind::Ext4, &["-m", "crc=1"]), "mkfs-other-filesystem", "-m crc=1", Error);
        assert_one(&run(FsKind::Xfs, &["-m", "1"]), "mkfs-other-filesystem", "-m 1", Error);
        assert_one(&run(FsKind::Btrfs, &["-d", "su=64k"]), "mkfs-other-filesystem", "-d su=64k", Error);
    }

    #[test]
    fn unknown_options_fail() {
        assert_one(&run(FsKind::Ext4, &["-Y"]), "mkfs-unknown", "-Y", Error);
        assert_one(&run(FsKind::Btrfs, &["--frobnicate"]), "mkfs-unknown", "--frobnicate", Error);
    }

    #[test]
    fn jts_owns_force_label_and_quiet() {
        assert_eq!(rules(&run(FsKind::Ext4, &["-F", "-L", "x", "-q"])), ["mkfs-managed"; 3]);
        assert_one(&run(FsKind::Btrfs, &["--force"]), "mkfs-managed", "--force", Error);
        assert!(run(FsKind::Xfs, &["-L", "x"])[0].fix.contains("label ="));
    }

    #[test]
    fn dry_runs_and_superblock_rewrites_fail() {
        assert_one(&run(FsKind::Ext4, &["-n"]), "mkfs-not-a-format", "-n", Error);
        assert_one(&run(FsKind::Ext4, &["-S"]), "mkfs-not-a-format", "-S", Error);
        assert_one(&run(FsKind::Xfs, &["-N"]), "mkfs-not-a-format", "-N", Error);
    }

    #[test]
    fn contradictory_suboptions_fail() {
        let problems = run(FsKind::Ext4, &["-O", "has_journal,^has_journal"]);
        assert_one(&problems, "mkfs-contradiction", "-O ^has_journal", Error);
        let problems = run(FsKind::Xfs, &["-d", "agcount=4", "-d", "agcount=8"]);
        assert_one(&problems, "mkfs-contradiction", "-d agcount=8", Error);
        assert!(run(FsKind::Ext4, &["-E", "discard", "-E", "discard"]).is_empty());
    }
}
