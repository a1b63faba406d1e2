//! The seeds' own mkfs and mount option sets (002_a5106e52ea7c1f5d and 004_43de2e6364f0d431),
//! copied verbatim except for the device and the force flag (`-F`/`-f` is jts's consent
//! flag; see `seed_force_flags_are_jts_owned`), checked against the rules table.
//!
//! `cargo test -p jts-fs --test seeds -- --nocapture` prints the verdicts.

use jts_fs::{FormatSpec, FsKind, Preset, Severity, check_filesystem};

const GIB: u64 = 1 << 30;
const EXT4_INIT: &str = "lazy_itable_init=0,lazy_journal_init=0,discard";

struct Case {
    name: &'static str,
    format: FormatSpec,
    mount: &'static str,
    size: u64,
    expected: &'static [(Severity, &'static str, &'static str)],
}

fn ext4(preset: Preset, features: Option<&str>) -> FormatSpec {
    let mut args = vec!["-E", EXT4_INIT];
    if let Some(features) = features {
        args.extend(["-O", features]);
    }
    FormatSpec::new(FsKind::Ext4).with_preset(preset).with_mkfs_options(args)
}

fn kafka() -> FormatSpec {
    FormatSpec::new(FsKind::Xfs).with_preset(Preset::Kafka).with_mkfs_options([
        "-d",
        "agcount=32,su=64k,sw=1",
        "-l",
        "size=128m,su=64k",
    ])
}

use Severity::{Error, Warning};

fn cases() -> Vec<Case> {
    vec![
        Case {
            name: "002/004 lv_postgres (ext4)",
            format: ext4(Preset::Postgresql, Some("^has_journal,extent,flex_bg,sparse_super2")),
            mount: "defaults,noatime,data=writeback,barrier=0,commit=30",
            size: 800 * GIB,
            expected: &[
                (Error, "preset-barrier-off", "barrier=0"),
                (Error, "ext4-journal-option-without-journal", "data=writeback"),
                (Error, "ext4-journal-option-without-journal", "commit=30"),
                (Warning, "ext4-no-journal", "-O ^has_journal"),
                (Warning, "ext4-data-writeback", "data=writeback"),
            ],
        },
        Case {
            name: "002 lv_clickhouse (ext4, 2000G; 004: 1500G)",
            format: ext4(Preset::Clickhouse, Some("extent,flex_bg,sparse_super2")),
            mount: "defaults,noatime,data=ordered,commit=5",
            size: 2000 * GIB,
            expected: &[],
        },
        Case {
            name: "002/004 lv_kafka (xfs, 600G)",
            format: kafka(),
            mount: "defaults,noatime,nobarrier,logbufs=8,logbsize=256k,largeio,swalloc",
            size: 600 * GIB,
            expected: &[(Error, "mount-removed", "nobarrier"), (Warning, "xfs-stripe-without-raid", "-d su=64k")],
        },
        Case {
            name: "002/004 lv_kafka scaled to a 4 GiB test disk",
            format: kafka(),
            mount: "defaults,noatime,logbufs=8,logbsize=256k,largeio,swalloc",
            size: 4 * GIB,
            expected: &[(Error, "xfs-log-fits-ag", "-d agcount=32"), (Warning, "xfs-stripe-without-raid", "-d su=64k")],
        },
        Case {
            name: "002/004 lv_mongodb (ext4)",
            format: ext4(Preset::Mongodb, None),
            mount: "defaults,noatime,commit=10",
            size: 200 * GIB,
            expected: &[],
        },
        Case {
            name: "002/004 lv_redis (ext4)",
            format: ext4(Preset::Redis, Some("^has_journal,extent,flex_bg")),
            mount: "defaults,noatime,data=writeback,barrier=0",
            size: 50 * GIB,
            expected: &[
                (Error, "preset-barrier-off", "barrier=0"),
                (Error, "ext4-journal-option-without-journal", "data=writeback"),
                (Warning, "ext4-no-journal", "-O ^has_journal"),
                (Warning, "ext4-data-writeback", "data=writeback"),
            ],
        },
        Case {
            name: "002 lv_backup / 004 lv_local_backup (ext4)",
            format: ext4(Preset::Backup, None),
            mount: "defaults,nodev,nosuid",
            size: 350 * GIB,
            expected: &[],
        },
        Case {
            name: "004 lv_docker (ext4)",
            format: ext4(Preset::Docker, Some("extent,flex_bg,sparse_super2")),
            mount: "defaults,noatime",
            size: 500 * GIB,
            expected: &[],
        },
        Case {
            name: "004 warm tier /dev/sda2 (btrfs, 931G)",
            format: FormatSpec::new(FsKind::Btrfs).with_label("jts-warm-storage"),
            mount: "defaults,compress=zstd:3,autodefrag,noatime",
            size: 931_000_000_000,
            expected: &[],
        },
    ]
}

#[test]
fn seed_option_sets_are_judged() {
    let mut failures = Vec::new();
    for case in cases() {
        let mount: Vec<String> = case.mount.split(',').map(str::to_owned).collect();
        let problems = check_filesystem(&case.format, &mount, Some(case.size));
        println!("{}: mkfs {:?}, mount {}", case.name, case.format.mkfs_options, case.mount);
        if problems.is_empty() {
            println!("    accepted");
        }
        for problem in &problems {
            println!("    {problem}");
        }
        let got: Vec<(Severity, &str, &str)> =
            problems.iter().map(|p| (p.severity, p.rule, p.option.as_str())).collect();
        if got != case.expected {
            failures.push(format!("{}: expected {:?}, got {got:?}", case.name, case.expected));
        }
    }
    assert!(failures.is_empty(), "{failures:#?}");
}

#[test]
fn seed_force_flags_are_jts_owned() {
    for (kind, force) in [(FsKind::Ext4, "-F"), (FsKind::Xfs, "-f"), (FsKind::Btrfs, "-f")] {
        let format = FormatSpec::new(kind).with_mkfs_options([force]);
        let problems = check_filesystem(&format, &[], None);
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert_eq!(problems[0].rule, "mkfs-managed");
        assert!(problems[0].fix.contains("allow_destroy"), "{}", problems[0].fix);
    }
    let format = FormatSpec::new(FsKind::Btrfs).with_mkfs_options(["-L", "jts-warm-storage"]);
    assert!(check_filesystem(&format, &[], None)[0].fix.contains("label = "));
}

#[test]
fn the_presets_fix_every_seed_line() {
    for case in cases() {
        let fixed = FormatSpec { mkfs_options: Vec::new(), ..case.format.clone() };
        let problems = check_filesystem(&fixed, &[], Some(case.size));
        assert!(problems.is_empty(), "{}: {problems:#?}", case.name);
    }
}
