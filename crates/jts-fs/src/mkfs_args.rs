//! The option syntax of `mke2fs`, `mkfs.xfs` and `mkfs.btrfs`: the flags each takes,
//! their arguments lexed the way getopt would ([`parse_args`]), a preset's arguments
//! merged with the spec's ([`merge`]) and rendered back ([`render`]). A leaf: the rules
//! tables, presets and [`crate::mkfs_command`] all read it; it reads none of them.

use crate::kind::FsKind;

/// One option a mkfs program takes.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct FlagDef {
    /// The canonical spelling, `-E` or `--csum`.
    pub flag: &'static str,
    /// Long spellings that mean the same.
    pub long: &'static [&'static str],
    /// Whether it takes a value.
    pub value: bool,
    /// Whether the value is a comma-separated list of sub-options, merged key by key.
    pub list: bool,
    /// Whether jts sets it itself (force, label, quiet).
    pub managed: bool,
}

const fn opt(flag: &'static str, long: &'static [&'static str], value: bool) -> FlagDef {
    FlagDef { flag, long, value, list: false, managed: false }
}

const fn list(flag: &'static str, long: &'static [&'static str]) -> FlagDef {
    FlagDef { flag, long, value: true, list: true, managed: false }
}

const fn managed(flag: &'static str, long: &'static [&'static str], value: bool) -> FlagDef {
    FlagDef { flag, long, value, list: false, managed: true }
}

/// `mke2fs` 1.47 (`b:cd:e:g:i:jl:m:no:qr:s:t:vC:DE:FG:I:J:KL:M:N:O:R:ST:U:Vz:`).
/// `-R` is the deprecated spelling of `-E` and is read as `-E`.
const EXT4_FLAGS: &[FlagDef] = &[
    opt("-b", &[], true),
    opt("-c", &[], false),
    opt("-d", &[], true),
    opt("-e", &[], true),
    opt("-g", &[], true),
    opt("-i", &[], true),
    opt("-j", &[], false),
    opt("-l", &[], true),
    opt("-m", &[], true),
    opt("-n", &[], false),
    opt("-o", &[], true),
    managed("-q", &[], false),
    opt("-r", &[], true),
    opt("-s", &[], true),
    opt("-t", &[], true),
    opt("-v", &[], false),
    opt("-C", &[], true),
    opt("-D", &[], false),
    list("-E", &[]),
    managed("-F", &[], false),
    opt("-G", &[], true),
    opt("-I", &[], true),
    list("-J", &[]),
    opt("-K", &[], false),
    managed("-L", &[], true),
    opt("-M", &[], true),
    opt("-N", &[], true),
    list("-O", &[]),
    opt("-S", &[], false),
    opt("-T", &[], true),
    opt("-U", &[], true),
    opt("-V", &[], false),
    opt("-z", &[], true),
];

/// `mkfs.xfs` 6.1 (`b:c:d:i:l:L:m:n:KNp:qr:s:CfV`).
const XFS_FLAGS: &[FlagDef] = &[
    list("-b", &[]),
    list("-c", &[]),
    list("-d", &[]),
    list("-i", &[]),
    list("-l", &[]),
    managed("-L", &[], true),
    list("-m", &[]),
    list("-n", &[]),
    opt("-K", &[], false),
    opt("-N", &[], false),
    opt("-p", &[], true),
    managed("-q", &[], false),
    list("-r", &[]),
    list("-s", &[]),
    opt("-C", &[], false),
    managed("-f", &[], false),
    opt("-V", &[], false),
];

/// `mkfs.btrfs` 6.2, short and long spellings.
const BTRFS_FLAGS: &[FlagDef] = &[
    opt("-b", &["byte-count"], true),
    opt("-d", &["data"], true),
    managed("-f", &["force"], false),
    opt("-K", &["nodiscard"], false),
    managed("-L", &["label"], true),
    opt("-M", &["mixed"], false),
    opt("-m", &["metadata"], true),
    opt("-n", &["nodesize", "leafsize"], true),
    list("-O", &["features"]),
    managed("-q", &["quiet"], false),
    list("-R", &["runtime-features"]),
    opt("-r", &["rootdir"], true),
    opt("-s", &["sectorsize"], true),
    opt("-U", &["uuid"], true),
    opt("-V", &["version"], false),
    opt("-v", &["verbose"], false),
    opt("--csum", &["csum", "checksum"], true),
    opt("--shrink", &["shrink"], false),
];

/// The options `kind`'s mkfs program takes.
pub(crate) fn flag_defs(kind: FsKind) -> &'static [FlagDef] {
    match kind {
        FsKind::Ext4 => EXT4_FLAGS,
        FsKind::Xfs => XFS_FLAGS,
        FsKind::Btrfs => BTRFS_FLAGS,
        FsKind::None => &[],
    }
}

/// Why an argument is not an option mkfs takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum BadArg {
    /// An option the program does not have.
    Unknown,
    /// A bare word: mkfs would read it as a device or a size.
    Positional,
    /// An option that needs a value, at the end of the list.
    MissingValue,
}

/// One mkfs argument, parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Token {
    /// A known option.
    Opt {
        /// Its definition.
        def: &'static FlagDef,
        /// Its value, if it takes one.
        value: Option<String>,
        /// How it was written, for messages.
        raw: String,
    },
    /// An argument mkfs would refuse or misread.
    Bad {
        /// How it was written.
        raw: String,
        /// What is wrong with it.
        why: BadArg,
    },
}

impl Token {
    /// How the argument was written.
    pub(crate) fn raw(&self) -> &str {
        match self {
            Self::Opt { raw, .. } | Self::Bad { raw, .. } => raw,
        }
    }

    /// The canonical flag and value of a known option.
    #[cfg(test)]
    pub(crate) fn opt(&self) -> Option<(&'static str, Option<&str>)> {
        match self {
            Self::Opt { def, value, .. } => Some((def.flag, value.as_deref())),
            Self::Bad { .. } => None,
        }
    }
}

/// Parses mkfs arguments the way the program's getopt would.
pub(crate) fn parse_args(kind: FsKind, args: &[String]) -> Vec<Token> {
    let defs = flag_defs(kind);
    let mut tokens = Vec::new();
    let mut rest = args.iter();
    while let Some(arg) = rest.next() {
        let bad = |why| Token::Bad { raw: arg.clone(), why };
        if let Some(long) = arg.strip_prefix("--") {
            let (name, inline) = match long.split_once('=') {
                Some((name, value)) => (name, Some(value.to_owned())),
                None => (long, None),
            };
            let Some(def) = defs.iter().find(|def| def.long.contains(&name)) else {
                tokens.push(bad(BadArg::Unknown));
                continue;
            };
            let token = match (def.value, inline) {
                (true, Some(value)) => Token::Opt { def, value: Some(value), raw: arg.clone() },
                (true, None) => match rest.next() {
                    Some(value) => Token::Opt { def, value: Some(value.clone()), raw: format!("{arg} {value}") },
                    None => bad(BadArg::MissingValue),
                },
                (false, Some(_)) => bad(BadArg::Unknown),
                (false, None) => Token::Opt { def, value: None, raw: arg.clone() },
            };
            tokens.push(token);
        } else if let Some(cluster) = arg.strip_prefix('-').filter(|c| !c.is_empty()) {
            parse_cluster(kind, arg, cluster, &mut rest, &mut tokens);
        } else {
            tokens.push(bad(BadArg::Positional));
        }
    }
    tokens
}

/// Parses `-Fq` or `-Ediscard` or `-E` followed by its value.
fn parse_cluster<'a>(
    kind: FsKind,
    arg: &str,
    cluster: &str,
    rest: &mut impl Iterator<Item = &'a String>,
    tokens: &mut Vec<Token>,
) {
    for (at, letter) in cluster.char_indices() {
        let short = format!("-{letter}");
        // `-R` is mke2fs's old name for `-E`.
        let lookup = if short == "-R" && kind == FsKind::Ext4 { "-E" } else { short.as_str() };
        let Some(def) = flag_defs(kind).iter().find(|def| def.flag == lookup) else {
            tokens.push(Token::Bad { raw: arg.to_owned(), why: BadArg::Unknown });
            return;
        };
        if !def.value {
            tokens.push(Token::Opt { def, value: None, raw: short });
            continue;
        }
        let attached = &cluster[at + letter.len_utf8()..];
        let token = if !attached.is_empty() {
            Token::Opt { def, value: Some(attached.to_owned()), raw: arg.to_owned() }
        } else {
            match rest.next() {
                Some(value) => Token::Opt { def, value: Some(value.clone()), raw: format!("{short} {value}") },
                None => Token::Bad { raw: arg.to_owned(), why: BadArg::MissingValue },
            }
        };
        tokens.push(token);
        return;
    }
}

/// The items of a comma-separated sub-option list, without empty ones.
pub(crate) fn subopts(value: &str) -> impl Iterator<Item = &str> {
    value.split(',').filter(|item| !item.is_empty())
}

/// The key of a sub-option: `agcount` for `agcount=32`, `has_journal` for `^has_journal`.
pub(crate) fn subopt_key(item: &str) -> &str {
    let item = item.trim_start_matches('^');
    item.split_once('=').map_or(item, |(key, _)| key)
}

/// Merges `over` into `base`: list options key by key, other options replacing the same
/// option. Managed options are dropped from both.
pub(crate) fn merge(base: Vec<Token>, over: Vec<Token>) -> Vec<Token> {
    let mut merged: Vec<Token> = Vec::new();
    for token in base.into_iter().chain(over) {
        let (def, value) = match &token {
            Token::Opt { def, .. } if def.managed => continue,
            Token::Opt { def, value, .. } => (*def, value.clone()),
            Token::Bad { .. } => {
                merged.push(token);
                continue;
            }
        };
        let existing = merged.iter_mut().find(|t| matches!(t, Token::Opt { def: d, .. } if d.flag == def.flag));
        match (existing, value) {
            (Some(Token::Opt { value: Some(old), raw, .. }), Some(new)) if def.list => {
                let keys: Vec<&str> = subopts(&new).map(subopt_key).collect();
                let mut items: Vec<&str> = subopts(old).filter(|item| !keys.contains(&subopt_key(item))).collect();
                items.extend(subopts(&new));
                let joined = items.join(",");
                *raw = format!("{} {joined}", def.flag);
                *old = joined;
            }
            (Some(slot), _) => *slot = token,
            (None, _) => merged.push(token),
        }
    }
    merged
}

/// Turns tokens back into argv words.
pub(crate) fn render(tokens: &[Token]) -> Vec<String> {
    let mut args = Vec::new();
    for token in tokens {
        match token {
            Token::Opt { def, value, .. } => {
                args.push(def.flag.to_owned());
                args.extend(value.clone());
            }
            Token::Bad { raw, .. } => args.push(raw.clone()),
        }
    }
    args
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn strings(args: &[&str]) -> Vec<String> {
        args.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn getopt_forms_are_understood() {
        let tokens = parse_args(FsKind::Ext4, &strings(&["-Ediscard", "-Fq", "-O", "^has_journal", "-R", "x=1"]));
        let opts: Vec<_> = tokens.iter().map(Token::opt).collect();
        assert_eq!(
            opts,
            [
                Some(("-E", Some("discard"))),
                Some(("-F", None)),
                Some(("-q", None)),
                Some(("-O", Some("^has_journal"))),
                Some(("-E", Some("x=1"))),
            ]
        );
        let tokens = parse_args(FsKind::Btrfs, &strings(&["--data=single", "--csum", "xxhash", "--nope", "-d"]));
        assert_eq!(tokens[0].opt(), Some(("-d", Some("single"))));
        assert_eq!(tokens[1].opt(), Some(("--csum", Some("xxhash"))));
        assert!(matches!(tokens[2], Token::Bad { why: BadArg::Unknown, .. }));
        assert!(matches!(tokens[3], Token::Bad { why: BadArg::MissingValue, .. }));
        let tokens = parse_args(FsKind::Xfs, &strings(&["-E", "discard", "/dev/sdb"]));
        assert!(matches!(tokens[0], Token::Bad { why: BadArg::Unknown, .. }));
        assert!(matches!(tokens[1], Token::Bad { why: BadArg::Positional, .. }));
    }

    #[test]
    fn xfs_suboptions_merge_by_key() {
        let base = parse_args(FsKind::Xfs, &strings(&["-d", "agcount=32,su=64k,sw=1", "-n", "ftype=1"]));
        let over = parse_args(FsKind::Xfs, &strings(&["-d", "agcount=8", "-f", "-K"]));
        assert_eq!(render(&merge(base, over)), ["-d", "su=64k,sw=1,agcount=8", "-n", "ftype=1", "-K"]);
    }

    #[test]
    fn scalar_options_are_replaced() {
        let base = parse_args(FsKind::Btrfs, &strings(&["-m", "dup"]));
        let over = parse_args(FsKind::Btrfs, &strings(&["--metadata", "single"]));
        assert_eq!(render(&merge(base, over)), ["-m", "single"]);
    }

    proptest! {
        #[test]
        fn parsing_never_panics_and_keeps_every_word(
            kind in prop::sample::select(FsKind::FILESYSTEMS.to_vec()),
            args in prop::collection::vec("(-{0,2}[a-zA-Z=,^ ]{0,6})|[a-z0-9=,]{0,8}", 0..8),
        ) {
            let tokens = parse_args(kind, &args);
            let words: usize = tokens.iter().map(|t| render(std::slice::from_ref(t)).len()).sum();
            prop_assert!(words <= args.len() + tokens.len());
            let _ = merge(tokens.clone(), tokens);
        }
    }
}
