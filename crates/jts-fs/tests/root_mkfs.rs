//! Root tier: real mkfs, mount, blkid, tune2fs, xfs_info, btrfs and growth on loop devices.
//!
//! Every test is named `root_*`, is ignored unless asked for, fails when asked for
//! without root (docs/architecture.md, "Testing tiers"), and cleans up its mounts and
//! loop devices through jts-testkit's drop guards, also when it fails.

use jts_core::{CmdSpec, Context, Root, Runner, SystemRunner};
use jts_fs::{
    FormatSpec, FsKind, FsStep, GROW_SLACK, Preset, Problem, Severity, check_filesystem, effective_mount_options,
    has_errors, mkfs_command, observe_device,
};
use jts_testkit::{LoopDevice, MIB, Mount, require_root, tempdir};

fn run(cmd: &CmdSpec) -> jts_core::Result<String> {
    SystemRunner.run(cmd).map(|out| out.stdout)
}

/// The size of a mounted filesystem, as statvfs reports it.
fn fs_size(mount: &Mount) -> u64 {
    let stat = nix::sys::statvfs::statvfs(mount.at()).unwrap();
    stat.blocks() * stat.fragment_size()
}

/// Mounts `device` at `at` as `kind` with `options`; the failed run when the kernel refuses.
fn mount(kind: FsKind, device: &LoopDevice, options: &[String], at: &std::path::Path) -> Result<Mount, String> {
    Mount::try_new(device.path(), at, Some(&kind.to_string()), options).map_err(|run| format!("{run:?}"))
}

fn context<'a>(root: &'a Root) -> Context<'a> {
    Context { root, runner: &SystemRunner }
}

fn apply(step: &FsStep) -> jts_fs::Result<()> {
    use jts_core::Step;
    let root = Root::default();
    step.recheck(&context(&root))?;
    step.execute(&context(&root))
}

/// Every preset on `kind`: made through [`FsStep::Mkfs`] (forced after the first, as
/// consent would allow), mounted with the preset's options, observed with blkid and the
/// filesystem's own tool.
fn presets_on(kind: FsKind) {
    let disk = LoopDevice::new(1 << 30);
    let mount_point = tempdir();
    for (i, preset) in Preset::ALL.into_iter().enumerate() {
        let format = FormatSpec::new(kind).with_preset(preset).with_label("jts test");
        let problems: Vec<Problem> =
            check_filesystem(&format, &[], Some(1 << 30)).into_iter().filter(|p| p.rule != "label-awkward").collect();
        assert!(problems.is_empty(), "{preset} on {kind}: {problems:#?}");
        let step = FsStep::Mkfs {
            object: "disk".into(),
            device: disk.path().to_path_buf(),
            format: format.clone(),
            overwrite: i > 0,
        };
        apply(&step).unwrap_or_else(|err| panic!("mkfs {preset} on {kind}: {err}"));

        let observed = observe_device(&SystemRunner, disk.path()).unwrap();
        let signature = observed.signature.clone().unwrap();
        assert_eq!(signature.kind(), Some(kind));
        assert_eq!(signature.label.as_deref(), Some("jts test"), "blkid's escaped label");
        assert!(signature.uuid.is_some());
        assert_eq!(observed.device_size, Some(1 << 30));
        let fs_size = observed.fs_size.unwrap();
        assert!(fs_size <= 1 << 30 && fs_size + GROW_SLACK > 1 << 30, "{preset} on {kind}: fs {fs_size}");
        assert!(!observed.needs_grow());

        let options = effective_mount_options(Some(preset), kind, &[]);
        let mounted = mount(kind, &disk, &options, mount_point.path())
            .unwrap_or_else(|err| panic!("mount {preset} on {kind} with {options:?}: {err}"));
        let active = mounted.options();
        for option in &options {
            assert!(active.contains(option), "{preset} on {kind}: {option} not in {active:?}");
        }
        let observed = observe_device(&SystemRunner, disk.path()).unwrap();
        assert_eq!(observed.fs_size, Some(fs_size), "size while mounted");
        drop(mounted);
    }
}

#[test]
#[ignore = "root tier: needs uid 0 (loop devices, mount, chown, ACLs)"]
fn root_presets_make_and_mount_ext4() {
    require_root();
    presets_on(FsKind::Ext4);
}

#[test]
#[ignore = "root tier: needs uid 0 (loop devices, mount, chown, ACLs)"]
fn root_presets_make_and_mount_xfs() {
    require_root();
    presets_on(FsKind::Xfs);
}

#[test]
#[ignore = "root tier: needs uid 0 (loop devices, mount, chown, ACLs)"]
fn root_presets_make_and_mount_btrfs() {
    require_root();
    presets_on(FsKind::Btrfs);
}

#[test]
#[ignore = "root tier: needs uid 0 (loop devices, mount, chown, ACLs)"]
fn root_mkfs_refuses_a_signature_without_consent() {
    require_root();
    let disk = LoopDevice::new(512 * MIB).formatted("mkfs.ext4", &["-q"]);
    for kind in FsKind::FILESYSTEMS {
        let step = FsStep::Mkfs {
            object: "disk".into(),
            device: disk.path().to_path_buf(),
            format: FormatSpec::new(kind),
            overwrite: false,
        };
        let err = apply(&step).unwrap_err();
        assert!(err.to_string().contains("now carries a ext4 signature"), "{err}");
        // Without the recheck, mkfs.xfs and mkfs.btrfs still refuse without their force
        // flag. mke2fs asks only on a terminal and overwrites otherwise: for ext4 the
        // recheck is the only guard.
        if kind != FsKind::Ext4 {
            let cmd = mkfs_command(&FormatSpec::new(kind), disk.path(), false).unwrap();
            assert!(run(&cmd).is_err(), "{cmd} overwrote an ext4 signature");
        }
    }
    let observed = observe_device(&SystemRunner, disk.path()).unwrap();
    assert_eq!(observed.signature.unwrap().fstype, "ext4");
}

/// One real attempt: mkfs, then mount.
struct Case {
    name: &'static str,
    format: FormatSpec,
    mount: &'static [&'static str],
    size: u64,
    /// Whether mkfs or the mount fails for real.
    kernel_refuses: bool,
    /// Errors jts raises although mkfs and mount succeed (the result would differ from the
    /// spec, or is unsafe for the preset).
    policy: &'static [&'static str],
}

fn case(name: &'static str, kind: FsKind, mkfs: &[&str], mount: &'static [&'static str], size: u64) -> Case {
    Case {
        name,
        format: FormatSpec::new(kind).with_mkfs_options(mkfs.iter().copied()),
        mount,
        size,
        kernel_refuses: false,
        policy: &[],
    }
}

impl Case {
    fn refused(mut self) -> Self {
        self.kernel_refuses = true;
        self
    }

    fn policy(mut self, rules: &'static [&'static str]) -> Self {
        self.policy = rules;
        self
    }

    fn preset(mut self, preset: Preset) -> Self {
        self.format.preset = Some(preset);
        self
    }
}

const SEED_EXT4_INIT: [&str; 2] = ["-E", "lazy_itable_init=0,lazy_journal_init=0,discard"];
const SEED_KAFKA_MKFS: [&str; 4] = ["-d", "agcount=32,su=64k,sw=1", "-l", "size=128m,su=64k"];

fn cases(kind: FsKind) -> Vec<Case> {
    let g = 1 << 30;
    let seed_pg = [&SEED_EXT4_INIT[..], &["-O", "^has_journal,extent,flex_bg,sparse_super2"]].concat();
    let seed_redis = [&SEED_EXT4_INIT[..], &["-O", "^has_journal,extent,flex_bg"]].concat();
    let seed_ch = [&SEED_EXT4_INIT[..], &["-O", "extent,flex_bg,sparse_super2"]].concat();
    let all = vec![
        case(
            "seed postgresql",
            FsKind::Ext4,
            &seed_pg,
            &["defaults", "noatime", "data=writeback", "barrier=0", "commit=30"],
            g,
        )
        .preset(Preset::Postgresql)
        .refused(),
        case("seed redis", FsKind::Ext4, &seed_redis, &["defaults", "noatime", "data=writeback", "barrier=0"], g)
            .preset(Preset::Redis)
            .refused(),
        case("seed clickhouse", FsKind::Ext4, &seed_ch, &["defaults", "noatime", "data=ordered", "commit=5"], g)
            .preset(Preset::Clickhouse),
        case("seed mongodb", FsKind::Ext4, &SEED_EXT4_INIT, &["defaults", "noatime", "commit=10"], g)
            .preset(Preset::Mongodb),
        case("seed backup", FsKind::Ext4, &SEED_EXT4_INIT, &["defaults", "nodev", "nosuid"], g).preset(Preset::Backup),
        case("seed docker", FsKind::Ext4, &seed_ch, &["defaults", "noatime"], g).preset(Preset::Docker),
        case("seed postgresql journal kept, barrier=0", FsKind::Ext4, &[], &["barrier=0"], g)
            .preset(Preset::Postgresql)
            .policy(&["preset-barrier-off"]),
        case("ext4 journal_async_commit in ordered mode", FsKind::Ext4, &[], &["journal_async_commit"], g).refused(),
        case(
            "ext4 journal_async_commit with data=journal",
            FsKind::Ext4,
            &[],
            &["data=journal", "journal_async_commit"],
            g,
        ),
        case("ext4 data=journal,delalloc", FsKind::Ext4, &[], &["data=journal", "delalloc"], g).refused(),
        case("ext4 prjquota without project", FsKind::Ext4, &[], &["prjquota"], g).refused(),
        case("ext4 nouser_xattr", FsKind::Ext4, &[], &["nouser_xattr"], g).refused(),
        case("ext4 xfs's largeio", FsKind::Ext4, &[], &["largeio"], g).refused(),
        case("ext4 meta_bg", FsKind::Ext4, &["-O", "meta_bg"], &[], g).refused(),
        case("ext4 8 KiB blocks", FsKind::Ext4, &["-b", "8192"], &[], g).refused(),
        case("ext4 data= twice", FsKind::Ext4, &[], &["data=ordered", "data=writeback"], g)
            .policy(&["mount-contradiction"]),
        case("ext4 1 MiB", FsKind::Ext4, &[], &[], MIB).policy(&["size-too-small"]),
        case(
            "seed kafka 600G-style on 8 GiB",
            FsKind::Xfs,
            &SEED_KAFKA_MKFS,
            &["defaults", "noatime", "nobarrier", "logbufs=8", "logbsize=256k", "largeio", "swalloc"],
            8 * g,
        )
        .preset(Preset::Kafka)
        .refused(),
        case(
            "seed kafka without nobarrier on 8 GiB",
            FsKind::Xfs,
            &SEED_KAFKA_MKFS,
            &["defaults", "noatime", "logbufs=8", "logbsize=256k", "largeio", "swalloc"],
            8 * g,
        )
        .preset(Preset::Kafka),
        case("seed kafka on 4 GiB", FsKind::Xfs, &SEED_KAFKA_MKFS, &[], 4 * g).refused(),
        case("xfs agcount=32 on 2 GiB", FsKind::Xfs, &["-d", "agcount=32"], &[], 2 * g).refused(),
        case("xfs agcount=32 on 2100 MiB", FsKind::Xfs, &["-d", "agcount=32"], &[], 2100 * MIB),
        case("xfs 299 MiB", FsKind::Xfs, &[], &[], 299 * MIB).refused(),
        case("xfs crc=0,reflink=1", FsKind::Xfs, &["-m", "crc=0,reflink=1"], &[], g).refused(),
        case("xfs V4 format", FsKind::Xfs, &["-m", "crc=0"], &[], g).refused(),
        case("xfs 64 KiB blocks (6.12+ only)", FsKind::Xfs, &["-b", "size=65536"], &[], g).policy(&["xfs-block-size"]),
        case("xfs su without sw", FsKind::Xfs, &["-d", "su=64k"], &[], g).refused(),
        case("xfs mount stripe without mkfs stripe", FsKind::Xfs, &[], &["sunit=128", "swidth=256"], g).refused(),
        case("xfs logbsize below log stripe", FsKind::Xfs, &["-l", "su=256k"], &["logbsize=64k"], g).refused(),
        case("xfs ext4's -E", FsKind::Xfs, &["-E", "discard"], &[], g).refused(),
        case("xfs ext4's data=", FsKind::Xfs, &[], &["data=ordered"], g).refused(),
        case("xfs attr2", FsKind::Xfs, &[], &["attr2"], g),
        case("seed warm tier", FsKind::Btrfs, &[], &["defaults", "compress=zstd:3", "autodefrag", "noatime"], g),
        case("btrfs 100 MiB", FsKind::Btrfs, &[], &[], 100 * MIB).refused(),
        case("btrfs raid1 on one device", FsKind::Btrfs, &["-d", "raid1"], &[], g).refused(),
        case("btrfs free-space-tree as -O", FsKind::Btrfs, &["-O", "free-space-tree"], &[], g).refused(),
        case("btrfs nodesize 12288", FsKind::Btrfs, &["-n", "12288"], &[], g).refused(),
        case("btrfs sectorsize 8192", FsKind::Btrfs, &["-s", "8192"], &[], g).refused(),
        case(
            "btrfs space_cache=v1 without free space tree",
            FsKind::Btrfs,
            &["-R", "^free-space-tree"],
            &["space_cache=v1"],
            g,
        ),
        case("btrfs space_cache=v1", FsKind::Btrfs, &[], &["space_cache=v1"], g).refused(),
        case("btrfs zstd:16 is clamped", FsKind::Btrfs, &[], &["compress=zstd:16"], g)
            .policy(&["btrfs-compress-level"]),
        case("btrfs inode_cache", FsKind::Btrfs, &[], &["inode_cache"], g).refused(),
        case("btrfs nologreplay", FsKind::Btrfs, &[], &["nologreplay"], g).refused(),
        case("btrfs rescue=nologreplay rw", FsKind::Btrfs, &[], &["rescue=nologreplay"], g).refused(),
    ];
    all.into_iter().filter(|case| case.format.filesystem == kind).collect()
}

/// mkfs then mount; `Err` names the stage that failed.
fn attempt(case: &Case) -> Result<(), String> {
    let disk = LoopDevice::new(case.size);
    let cmd = mkfs_command(&case.format, disk.path(), false).map_err(|err| err.to_string())?;
    run(&cmd).map_err(|err| format!("mkfs: {err}"))?;
    let at = tempdir();
    let options: Vec<String> = case.mount.iter().map(|o| (*o).to_owned()).collect();
    mount(case.format.filesystem, &disk, &options, at.path()).map(drop).map_err(|err| format!("mount: {err}"))
}

/// Each case's real outcome matches the rules: refused for real ⇒ an error; accepted for
/// real ⇒ no error beyond the declared policy ones.
fn rules_agree_with_the_kernel(kind: FsKind) {
    let mut disagreements = Vec::new();
    for case in cases(kind) {
        let mount: Vec<String> = case.mount.iter().map(|o| (*o).to_owned()).collect();
        let problems = check_filesystem(&case.format, &mount, Some(case.size));
        let outcome = attempt(&case);
        let errors: Vec<&str> = problems.iter().filter(|p| p.severity == Severity::Error).map(|p| p.rule).collect();
        let unexpected: Vec<&&str> = errors.iter().filter(|rule| !case.policy.contains(rule)).collect();
        let agrees = match (&outcome, case.kernel_refuses) {
            (Err(_), true) => has_errors(&problems),
            (Ok(()), false) => unexpected.is_empty() && case.policy.iter().all(|rule| errors.contains(rule)),
            _ => false,
        };
        println!("{}: real {:?}; rules {:?}", case.name, outcome, errors);
        if !agrees {
            disagreements.push(format!("{}: real {outcome:?}, rules {problems:#?}", case.name));
        }
    }
    assert!(disagreements.is_empty(), "{disagreements:#?}");
}

#[test]
#[ignore = "root tier: needs uid 0 (loop devices, mount, chown, ACLs)"]
fn root_rules_agree_with_the_kernel_ext4() {
    require_root();
    rules_agree_with_the_kernel(FsKind::Ext4);
}

#[test]
#[ignore = "root tier: needs uid 0 (loop devices, mount, chown, ACLs)"]
fn root_rules_agree_with_the_kernel_xfs() {
    require_root();
    rules_agree_with_the_kernel(FsKind::Xfs);
}

#[test]
#[ignore = "root tier: needs uid 0 (loop devices, mount, chown, ACLs)"]
fn root_rules_agree_with_the_kernel_btrfs() {
    require_root();
    rules_agree_with_the_kernel(FsKind::Btrfs);
}

/// Makes a 300 MiB filesystem, grows the backing file to 700 MiB and the loop device with
/// it, then grows the filesystem with [`FsStep::Grow`] (mounted, and for ext4 also
/// unmounted after a mount, which needs the e2fsck first).
fn grow(kind: FsKind, mounted: bool) {
    let disk = LoopDevice::new(300 * MIB);
    run(&mkfs_command(&FormatSpec::new(kind), disk.path(), false).unwrap()).unwrap();
    let at = tempdir();
    let mut mounted_fs = Some(mount(kind, &disk, &[], at.path()).unwrap());
    let before = fs_size(mounted_fs.as_ref().unwrap());
    assert!(before <= 300 * MIB);

    disk.image().resize(700 * MIB);
    disk.refresh_capacity();
    let observed = observe_device(&SystemRunner, disk.path()).unwrap();
    assert_eq!(observed.device_size, Some(700 * MIB));
    assert!(observed.needs_grow(), "{observed:?}");
    if !mounted {
        mounted_fs = None;
    }
    let step = FsStep::Grow {
        object: "disk".into(),
        device: disk.path().to_path_buf(),
        kind,
        mount_point: mounted.then(|| at.path().to_path_buf()),
    };
    apply(&step).unwrap_or_else(|err| panic!("grow {kind}: {err}"));

    let observed = observe_device(&SystemRunner, disk.path()).unwrap();
    assert!(!observed.needs_grow(), "{observed:?}");
    let mounted_fs = mounted_fs.unwrap_or_else(|| mount(kind, &disk, &[], at.path()).unwrap());
    let after = fs_size(&mounted_fs);
    assert!(after > 600 * MIB && after > before, "{kind}: {before} -> {after} bytes (statvfs)");
}

// Online ext4 growth needs CAP_SYS_RESOURCE (EXT4_IOC_RESIZE_FS), which this machine's
// sandbox drops: the VM tier proves it instead
// (tests/vm_lvm.rs, `vm_growing_a_volume_grows_its_mounted_filesystem_online`).

#[test]
#[ignore = "root tier: needs uid 0 (loop devices, mount, chown, ACLs)"]
fn root_grow_ext4_offline_after_use() {
    require_root();
    grow(FsKind::Ext4, false);
}

#[test]
#[ignore = "root tier: needs uid 0 (loop devices, mount, chown, ACLs)"]
fn root_grow_xfs_online() {
    require_root();
    grow(FsKind::Xfs, true);
}

#[test]
#[ignore = "root tier: needs uid 0 (loop devices, mount, chown, ACLs)"]
fn root_grow_btrfs_online() {
    require_root();
    grow(FsKind::Btrfs, true);
}
