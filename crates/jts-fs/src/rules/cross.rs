//! Rules that need the mkfs arguments, the mount options and the preset together.

use super::mount::{MountOpt, has, last, parse};
use super::xfs::{ftype_off, has_stripe, log_stripe};
use super::{Problem, btrfs, ext4, parse_binary_size};
use crate::format::FormatSpec;
use crate::kind::{FsKind, Preset};
use crate::mkfs_args::Token;

/// `format` with merged mkfs arguments `tokens`, mounted with `mount_options` (the
/// preset's merged with the spec's).
pub(super) fn check(format: &FormatSpec, tokens: &[Token], mount_options: &[String], problems: &mut Vec<Problem>) {
    let opts = parse(format.filesystem, mount_options);
    match format.filesystem {
        FsKind::Ext4 => ext4_rules(tokens, &opts, problems),
        FsKind::Xfs => xfs_rules(tokens, &opts, problems),
        FsKind::Btrfs => btrfs_rules(tokens, &opts, problems),
        FsKind::None => {}
    }
    if format.preset == Some(Preset::Docker) {
        docker_needs_d_type(format.filesystem, tokens, problems);
    }
}

fn ext4_rules(tokens: &[Token], opts: &[MountOpt<'_>], problems: &mut Vec<Problem>) {
    if !ext4::has_journal(tokens) {
        for opt in opts {
            let needs_journal = match opt.name {
                "data" | "journal_checksum" | "journal_async_commit" => true,
                "commit" => opt.value.is_some_and(|value| value != "0"),
                _ => false,
            };
            if needs_journal {
                problems.push(Problem::error(
                    "ext4-journal-option-without-journal",
                    opt.raw,
                    "the filesystem is made without a journal (-O ^has_journal): the kernel refuses the mount \
                     (\"can't mount with ..., fs mounted w/o journal\")",
                    format!("keep the journal (remove ^has_journal), or remove {}", opt.raw),
                ));
            }
        }
    }
    if let Some(opt) = last(opts, "prjquota").filter(|_| ext4::feature(tokens, "project") != Some(true)) {
        problems.push(Problem::error(
            "ext4-prjquota-needs-project",
            opt.raw,
            "project quota needs the project feature at mkfs time; the kernel refuses the mount",
            "add -O project,quota to mkfs_options, or remove prjquota",
        ));
    }
}

fn xfs_rules(tokens: &[Token], opts: &[MountOpt<'_>], problems: &mut Vec<Problem>) {
    let stripe = has_stripe(tokens);
    if let Some(opt) = last(opts, "sunit").or_else(|| last(opts, "swidth")).filter(|_| !stripe) {
        {
            problems.push(Problem::error(
                "xfs-mount-stripe-needs-mkfs-stripe",
                opt.raw,
                "the kernel can change the stripe only of a filesystem made with one (\"superblock does not \
                 support data alignment\")",
                "remove it, or give -d su=,sw= at mkfs time",
            ));
        }
    }
    if let Some(opt) = last(opts, "swalloc").filter(|_| !stripe) {
        problems.push(no_effect(opt.raw, "swalloc rounds allocations to the stripe width, and there is none"));
    }
    if let Some(opt) = last(opts, "largeio").filter(|_| !stripe && !has(opts, "allocsize")) {
        problems.push(no_effect(
            opt.raw,
            "largeio reports the stripe width or allocsize as the I/O size; there is neither",
        ));
    }
    let logbsize = last(opts, "logbsize").and_then(|opt| Some((parse_binary_size(opt.value?)?, opt)));
    if let (Some((bytes, opt)), Some((stripe, raw))) = (logbsize, log_stripe(tokens)) {
        if bytes < stripe {
            problems.push(Problem::error(
                "xfs-logbsize-below-log-stripe",
                opt.raw,
                format!("the log buffer is smaller than the log stripe unit ({raw}); the kernel refuses the mount"),
                format!("use logbsize of at least {}k", stripe >> 10),
            ));
        }
    }
}

fn no_effect(option: &str, why: &str) -> Problem {
    Problem::warning("xfs-stripe-option-no-effect", option, why, "remove it")
}

fn btrfs_rules(tokens: &[Token], opts: &[MountOpt<'_>], problems: &mut Vec<Problem>) {
    if !btrfs::free_space_tree(tokens) {
        return;
    }
    for opt in opts {
        let v1 = matches!((opt.name, opt.value), ("space_cache", None | Some("v1")) | ("nospace_cache", None));
        if v1 {
            problems.push(Problem::error(
                "btrfs-space-cache-v1",
                opt.raw,
                "mkfs.btrfs makes the free space tree (space_cache=v2) by default, and the kernel refuses to mount \
                 it with the v1 cache or none",
                "remove it, or write space_cache=v2",
            ));
        }
    }
}

fn docker_needs_d_type(kind: FsKind, tokens: &[Token], problems: &mut Vec<Problem>) {
    let (off, option) = match kind {
        FsKind::Xfs => (ftype_off(tokens), "-n ftype=0"),
        FsKind::Ext4 => (ext4::feature(tokens, "filetype") == Some(false), "-O ^filetype"),
        _ => return,
    };
    if off {
        problems.push(Problem::error(
            "preset-docker-d-type",
            option,
            "Docker's overlay2 driver refuses a filesystem without d_type (file types in directory entries)",
            "remove it",
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::super::Severity::{Error, Warning};
    use super::super::check_filesystem;
    use super::super::test_util::{assert_one, opts, rules};
    use super::*;

    fn run(format: FormatSpec, mount: &[&str]) -> Vec<Problem> {
        check_filesystem(&format, &opts(mount), None)
    }

    fn fs(kind: FsKind, mkfs: &[&str]) -> FormatSpec {
        FormatSpec::new(kind).with_mkfs_options(mkfs.iter().copied())
    }

    #[test]
    fn journal_mount_options_need_a_journal() {
        let format = fs(FsKind::Ext4, &["-O", "^has_journal"]);
        for option in ["data=ordered", "commit=30", "journal_checksum"] {
            let problems = run(format.clone(), &[option]);
            assert_one(&problems, "ext4-journal-option-without-journal", option, Error);
        }
        assert_eq!(rules(&run(format.clone(), &["commit=0", "noatime"])), ["ext4-no-journal"]);
        assert!(run(fs(FsKind::Ext4, &[]), &["data=ordered", "commit=30"]).is_empty());
    }

    #[test]
    fn project_quota_needs_the_project_feature() {
        assert_one(&run(fs(FsKind::Ext4, &[]), &["prjquota"]), "ext4-prjquota-needs-project", "prjquota", Error);
        assert!(run(fs(FsKind::Ext4, &["-O", "quota,project"]), &["prjquota"]).is_empty());
    }

    #[test]
    fn xfs_mount_stripe_needs_a_mkfs_stripe() {
        let problems = run(fs(FsKind::Xfs, &[]), &["sunit=128", "swidth=256"]);
        assert_one(&problems, "xfs-mount-stripe-needs-mkfs-stripe", "sunit=128", Error);
        assert!(
            run(fs(FsKind::Xfs, &["-d", "sunit=128,swidth=256"]), &["sunit=128", "swidth=256"])
                .iter()
                .all(|p| p.rule == "xfs-stripe-without-raid")
        );
    }

    #[test]
    fn xfs_stripe_allocation_options_need_a_stripe() {
        let problems = run(fs(FsKind::Xfs, &[]), &["swalloc", "largeio"]);
        assert_eq!(rules(&problems), ["xfs-stripe-option-no-effect"; 2]);
        assert_one(&run(fs(FsKind::Xfs, &[]), &["swalloc"]), "xfs-stripe-option-no-effect", "swalloc", Warning);
        assert!(run(fs(FsKind::Xfs, &[]), &["largeio", "allocsize=64m"]).is_empty());
    }

    #[test]
    fn xfs_log_buffer_must_cover_the_log_stripe() {
        let problems = run(fs(FsKind::Xfs, &["-l", "su=256k"]), &["logbsize=64k"]);
        assert_one(&problems, "xfs-logbsize-below-log-stripe", "logbsize=64k", Error);
        assert!(run(fs(FsKind::Xfs, &["-l", "su=64k"]), &["logbsize=256k"]).is_empty());
    }

    #[test]
    fn btrfs_v1_space_cache_needs_no_free_space_tree() {
        for option in ["space_cache", "space_cache=v1", "nospace_cache"] {
            assert_one(&run(fs(FsKind::Btrfs, &[]), &[option]), "btrfs-space-cache-v1", option, Error);
        }
        assert!(run(fs(FsKind::Btrfs, &["-R", "^free-space-tree"]), &["space_cache=v1"]).is_empty());
        assert!(run(fs(FsKind::Btrfs, &[]), &["space_cache=v2"]).is_empty());
    }

    #[test]
    fn presets_make_barriers_off_an_error() {
        let problems = run(fs(FsKind::Ext4, &[]), &["barrier=0"]);
        assert_one(&problems, "mount-barrier-off", "barrier=0", Warning);
        let problems = run(fs(FsKind::Ext4, &[]).with_preset(Preset::Postgresql), &["barrier=0"]);
        assert_one(&problems, "preset-barrier-off", "barrier=0", Error);
        assert!(problems[0].message.contains("postgresql"));
        let problems = run(fs(FsKind::Btrfs, &[]).with_preset(Preset::Backup), &["nobarrier"]);
        assert_one(&problems, "preset-barrier-off", "nobarrier", Error);
    }

    #[test]
    fn docker_needs_d_type() {
        let format = fs(FsKind::Xfs, &["-m", "crc=0", "-n", "ftype=0"]).with_preset(Preset::Docker);
        assert_one(&run(format, &[]), "preset-docker-d-type", "-n ftype=0", Error);
        let format = fs(FsKind::Ext4, &["-O", "^filetype"]).with_preset(Preset::Docker);
        assert_one(&run(format, &[]), "preset-docker-d-type", "-O ^filetype", Error);
    }

    #[test]
    fn every_preset_passes_every_rule() {
        for preset in Preset::ALL {
            for kind in FsKind::FILESYSTEMS {
                let format = FormatSpec::new(kind).with_preset(preset).with_label("jts-data");
                let problems = check_filesystem(&format, &[], Some(1 << 30));
                assert!(problems.is_empty(), "{preset} on {kind}: {problems:#?}");
            }
        }
    }
}
