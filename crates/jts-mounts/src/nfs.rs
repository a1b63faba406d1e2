//! NFS rules: the `host:/path` source and the client's mount options (nfs(5), Linux 6.1+).

use jts_fs::{Problem, Severity};

/// What an option's value must look like.
#[derive(Clone, Copy)]
enum Value {
    Flag,
    Number(u64, u64),
    OneOf(&'static [&'static str]),
    Any,
}

const NFS_OPTIONS: &[(&str, Value)] = &[
    ("vers", Value::OneOf(&["3", "4", "4.0", "4.1", "4.2"])),
    ("nfsvers", Value::OneOf(&["3", "4", "4.0", "4.1", "4.2"])),
    ("minorversion", Value::Number(0, 2)),
    ("hard", Value::Flag),
    ("soft", Value::Flag),
    ("softerr", Value::Flag),
    ("timeo", Value::Number(1, 6000)),
    ("retrans", Value::Number(0, 100)),
    ("rsize", Value::Number(1024, 1 << 20)),
    ("wsize", Value::Number(1024, 1 << 20)),
    ("acregmin", Value::Number(0, 3600)),
    ("acregmax", Value::Number(0, 3600)),
    ("acdirmin", Value::Number(0, 3600)),
    ("acdirmax", Value::Number(0, 3600)),
    ("actimeo", Value::Number(0, 3600)),
    ("ac", Value::Flag),
    ("noac", Value::Flag),
    ("cto", Value::Flag),
    ("nocto", Value::Flag),
    ("lock", Value::Flag),
    ("nolock", Value::Flag),
    ("sharecache", Value::Flag),
    ("nosharecache", Value::Flag),
    ("resvport", Value::Flag),
    ("noresvport", Value::Flag),
    ("fsc", Value::Flag),
    ("nofsc", Value::Flag),
    ("bg", Value::Flag),
    ("fg", Value::Flag),
    ("retry", Value::Number(0, 100_000)),
    ("sec", Value::OneOf(&["sys", "krb5", "krb5i", "krb5p", "none"])),
    ("proto", Value::OneOf(&["tcp", "tcp6", "rdma", "rdma6"])),
    ("port", Value::Number(0, 65535)),
    ("nconnect", Value::Number(1, 16)),
    ("max_connect", Value::Number(1, 16)),
    ("lookupcache", Value::OneOf(&["all", "none", "pos", "positive"])),
    ("local_lock", Value::OneOf(&["none", "all", "flock", "posix"])),
    ("clientaddr", Value::Any),
    ("mountport", Value::Number(0, 65535)),
    ("mountproto", Value::OneOf(&["tcp", "udp"])),
    ("mountvers", Value::OneOf(&["3"])),
    ("fsid", Value::Any),
    // Generic VFS and mount(8) options.
    ("defaults", Value::Flag),
    ("ro", Value::Flag),
    ("rw", Value::Flag),
    ("noatime", Value::Flag),
    ("relatime", Value::Flag),
    ("strictatime", Value::Flag),
    ("nodiratime", Value::Flag),
    ("nodev", Value::Flag),
    ("nosuid", Value::Flag),
    ("noexec", Value::Flag),
    ("sync", Value::Flag),
    ("async", Value::Flag),
    ("auto", Value::Flag),
    ("noauto", Value::Flag),
    ("nofail", Value::Flag),
    ("_netdev", Value::Flag),
    ("context", Value::Any),
];

/// Checks `host:/path`; the error says what is wrong and how to write it.
///
/// ```
/// assert!(jts_mounts::check_nfs_source("nas.internal:/volume1/jts").is_ok());
/// assert!(jts_mounts::check_nfs_source("/volume1/jts").unwrap_err().contains("host:/path"));
/// ```
pub fn check_nfs_source(source: &str) -> Result<(), String> {
    let fix = "write it as host:/path, e.g. source = \"nas.internal:/volume1/jts\" or \"[fd00::2]:/export\"";
    let split = if source.starts_with('[') { source.find("]:").map(|i| i + 1) } else { source.find(':') };
    let Some((host, path)) = split.map(|i| (&source[..i], &source[i + 1..])) else {
        return Err(format!("NFS source {source:?} has no host: {fix}"));
    };
    let host_ok = !host.is_empty()
        && host.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | ':' | '[' | ']' | '_'));
    if !host_ok {
        return Err(format!("NFS source {source:?} has no valid host before `:`: {fix}"));
    }
    if !path.starts_with('/') || path.chars().any(char::is_whitespace) {
        return Err(format!("NFS source {source:?} needs an absolute export path after `:`: {fix}"));
    }
    Ok(())
}

fn problem(severity: Severity, rule: &'static str, option: &str, message: String, fix: &str) -> Problem {
    Problem { severity, rule, option: option.to_owned(), message, fix: fix.to_owned() }
}

/// Checks NFS mount options: unknown options, values, contradictions, options the kernel
/// ignores, and `soft` (unsafe under a database). Errors first. (`_netdev` needs no
/// warning: [`crate::BootPolicy`] adds it to every NFS mount.)
///
/// ```
/// use jts_fs::Severity;
/// let problems = jts_mounts::check_nfs_options(&["vers=4.2".into(), "soft".into(), "_netdev".into()]);
/// assert_eq!(problems.len(), 1);
/// assert_eq!((problems[0].option.as_str(), problems[0].severity), ("soft", Severity::Warning));
/// ```
pub fn check_nfs_options(options: &[String]) -> Vec<Problem> {
    let mut problems = Vec::new();
    for option in options {
        let (name, value) = option.split_once('=').map_or((option.as_str(), None), |(n, v)| (n, Some(v)));
        if name.starts_with("x-") {
            continue;
        }
        if matches!(name, "intr" | "nointr") {
            problems.push(problem(
                Severity::Warning,
                "nfs-ignored",
                option,
                "ignored by the kernel since Linux 2.6.25 (a hard mount can always be killed with SIGKILL)".into(),
                "remove it",
            ));
            continue;
        }
        if matches!(name, "udp" | "tcp") || (name == "proto" && value.is_some_and(|v| v.starts_with("udp"))) {
            problems.push(problem(
                Severity::Error,
                "nfs-udp",
                option,
                "NFS over UDP is not supported by NFSv4 and disabled in Debian's kernels".into(),
                "remove it; TCP is the default (proto=tcp)",
            ));
            continue;
        }
        let Some((_, kind)) = NFS_OPTIONS.iter().find(|(known, _)| *known == name) else {
            problems.push(problem(
                Severity::Error,
                "nfs-unknown",
                option,
                "is not an NFS mount option; mount.nfs would refuse it".into(),
                "check the spelling against nfs(5)",
            ));
            continue;
        };
        let bad = |message: String, fix: &str| problem(Severity::Error, "nfs-bad-value", option, message, fix);
        match (kind, value) {
            (Value::Flag, Some(_)) => problems.push(bad(format!("{name} takes no value"), "write it without `=`")),
            (Value::Flag | Value::Any, _) => {}
            (_, None) => problems.push(bad(format!("{name} needs a value"), "write it as name=value")),
            (Value::Number(min, max), Some(v)) => {
                if !v.parse::<u64>().is_ok_and(|n| (*min..=*max).contains(&n)) {
                    problems.push(bad(
                        format!("{v:?} is not a whole number from {min} to {max}"),
                        "use a number in that range (timeo is in tenths of a second)",
                    ));
                }
            }
            (Value::OneOf(choices), Some(v)) => {
                if !choices.contains(&v) {
                    let fix = if name.ends_with("vers") { "use vers=4.2 (or 4.1, 4, 3)" } else { "see nfs(5)" };
                    problems.push(bad(format!("{v:?} must be one of {}", choices.join(", ")), fix));
                }
            }
        }
    }
    check_combinations(options, &mut problems);
    problems.sort_by_key(|p| std::cmp::Reverse(p.severity));
    problems
}

fn check_combinations(options: &[String], problems: &mut Vec<Problem>) {
    let has = |name: &str| options.iter().any(|o| o == name);
    let value = |name: &str| options.iter().rev().find_map(|o| o.strip_prefix(name)?.strip_prefix('='));
    if has("hard") && (has("soft") || has("softerr")) {
        problems.push(problem(
            Severity::Error,
            "nfs-contradiction",
            "soft",
            "contradicts hard; the kernel silently keeps whichever comes last".into(),
            "keep only hard",
        ));
    } else if let Some(soft) = options.iter().find(|o| matches!(o.as_str(), "soft" | "softerr")) {
        problems.push(problem(
            Severity::Warning,
            "nfs-soft",
            soft,
            "a soft mount returns EIO after retrans timeouts: a database or backup writer sees failed or short \
             writes during a NAS hiccup, which can corrupt data"
                .into(),
            "use hard (the default) for anything a database or backup writes",
        ));
    }
    let versions: Vec<&str> = ["vers", "nfsvers"].into_iter().filter_map(value).collect();
    if versions.windows(2).any(|pair| pair[0] != pair[1]) {
        problems.push(problem(
            Severity::Error,
            "nfs-contradiction",
            "nfsvers",
            format!("vers={} and nfsvers={} contradict each other", versions[0], versions[1]),
            "write vers once",
        ));
    }
    if value("minorversion").is_some() && versions.first().is_some_and(|v| *v != "4") {
        problems.push(problem(
            Severity::Error,
            "nfs-minorversion",
            "minorversion",
            "minorversion only goes with vers=4".into(),
            "write vers=4.2 (or 4.1) instead of vers and minorversion",
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts(list: &[&str]) -> Vec<String> {
        list.iter().map(|o| (*o).to_owned()).collect()
    }

    fn rules(list: &[&str]) -> Vec<(&'static str, String)> {
        check_nfs_options(&opts(list)).into_iter().map(|p| (p.rule, p.option)).collect()
    }

    #[test]
    fn the_design_example_is_clean() {
        let design = ["vers=4.2", "hard", "timeo=600", "retrans=2", "rsize=1048576", "wsize=1048576", "_netdev"];
        assert_eq!(rules(&design), []);
    }

    #[test]
    fn seed_004_line_gets_a_warning_for_intr() {
        let seed = ["rw", "hard", "intr", "rsize=1048576", "wsize=1048576", "timeo=600", "retrans=2", "_netdev"];
        assert_eq!(rules(&seed), [("nfs-ignored", "intr".to_owned())]);
    }

    #[test]
    fn bad_values_unknown_options_and_contradictions() {
        let found = rules(&["vers=5", "timeo=ten", "retrans", "hard", "soft", "compress=zstd", "proto=udp", "_netdev"]);
        let names: Vec<&str> = found.iter().map(|(rule, _)| *rule).collect();
        assert_eq!(
            names,
            ["nfs-bad-value", "nfs-bad-value", "nfs-bad-value", "nfs-unknown", "nfs-udp", "nfs-contradiction"]
        );
        assert!(
            check_nfs_options(&opts(&["vers=3", "minorversion=1", "_netdev"]))
                .iter()
                .any(|p| p.rule == "nfs-minorversion")
        );
        assert!(check_nfs_options(&opts(&["vers=4.2"])).is_empty(), "the boot policy adds _netdev");
    }

    #[test]
    fn sources_need_host_and_absolute_path() {
        for good in ["nas:/v", "192.168.1.101:/volume1/cocodev", "[fd00::2]:/export"] {
            assert!(check_nfs_source(good).is_ok(), "{good}");
        }
        for bad in ["/volume1", "nas:volume1", ":/v", "nas /x:/v", "[fd00::2]/x"] {
            assert!(check_nfs_source(bad).unwrap_err().contains("host:/path"), "{bad}");
        }
    }
}
