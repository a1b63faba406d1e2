//! The two-phase apply without root: an NFS mount (its `mount` goes through the runner,
//! recorded here) and a directory on it, applied under a scratch root. Between the
//! phases the test's observer plays the mounted filesystem: it reveals what lies on it,
//! and the second plan must act on that, not on what the first plan assumed.

use std::cell::Cell;
use std::os::unix::fs::{MetadataExt, PermissionsExt, symlink};
use std::path::{Path, PathBuf};

use jts_core::{Context, RecordingRunner, Root, Step};
use jts_host::{Applied, HostObserved, HostSpec, HostStep, MachineObserver, Observer};

/// A spec with an NFS mount at /srv/cold and a directory on it, owned by whoever runs
/// the test (so no root is needed to apply it).
fn spec(dir: &Path) -> HostSpec {
    let (uid, gid) = (nix::unistd::getuid(), nix::unistd::getgid());
    let text = format!(
        "version = 1\n\
         [nfs_mounts.cold]\n\
         source = \"127.0.0.1:/export\"\n\
         mount_point = \"/srv/cold\"\n\
         options = [\"vers=4.2\", \"hard\"]\n\
         [[directories]]\n\
         path = \"/srv/cold/archive\"\n\
         owner = {uid}\n\
         group = {gid}\n\
         mode = \"0750\"\n"
    );
    let file = dir.join("storage.toml");
    std::fs::write(&file, text).unwrap();
    jts_host::load(&file).unwrap_or_else(|err| panic!("{err}"))
}

/// The machine under the scratch root, with the NFS mount taken as done once the first
/// phase ran it; the first look after mounting calls `reveal` (what lies on the mount).
struct MountedNfs<'a> {
    machine: MachineObserver<'a>,
    runner: &'a RecordingRunner,
    reveal: &'a dyn Fn(),
    looks: Cell<usize>,
}

impl Observer for MountedNfs<'_> {
    fn observe(&self, spec: &HostSpec) -> jts_host::Result<HostObserved> {
        if self.looks.replace(self.looks.get() + 1) == 0 {
            (self.reveal)();
        }
        let mut observed = self.machine.observe(spec)?;
        let mounted = self.runner.calls().iter().any(|call| call.program() == "mount");
        if mounted {
            for target in jts_host::mount_targets(spec) {
                jts_mounts::MountStep::Mount { target }.simulate(&mut observed.mounts);
            }
        }
        // The recorded `systemctl enable` made no links: play what it does.
        for call in self.runner.calls().iter().filter(|call| call.program() == "systemctl") {
            let timers = call.args().iter().filter_map(|arg| arg.to_str()).filter(|arg| arg.ends_with(".timer"));
            observed.timers.enabled.extend(timers.map(str::to_owned));
        }
        Ok(observed)
    }
}

struct Scratch {
    _dir: tempfile::TempDir,
    root: Root,
    spec: HostSpec,
}

fn scratch() -> Scratch {
    let dir = tempfile::tempdir().unwrap();
    let root_dir: PathBuf = dir.path().join("root");
    std::fs::create_dir_all(root_dir.join("etc")).unwrap();
    std::fs::write(root_dir.join("etc/fstab"), "").unwrap();
    let spec = spec(dir.path());
    Scratch { root: Root::new(root_dir).unwrap(), spec, _dir: dir }
}

fn apply(scratch: &Scratch, runner: &RecordingRunner, reveal: &dyn Fn()) -> (Applied, usize) {
    let observer =
        MountedNfs { machine: MachineObserver { root: &scratch.root, runner }, runner, reveal, looks: Cell::new(0) };
    let first = observer.machine.observe(&scratch.spec).unwrap();
    let plan = jts_host::plan(&scratch.spec, &first).unwrap();
    assert!(plan.steps.iter().any(|s| matches!(s, HostStep::Mount(_))), "the first plan mounts");
    let ctx = Context { root: &scratch.root, runner };
    let mut journal = jts_host::open_journal(&scratch.root, None, "apply").unwrap();
    let applied = jts_host::apply(&scratch.spec, plan, &ctx, &observer, &mut journal, &[]).unwrap();
    (applied, observer.looks.get())
}

#[test]
fn the_second_phase_plans_what_the_mount_revealed() {
    let scratch = scratch();
    let runner = RecordingRunner::new();
    let archive = scratch.root.dir().join("srv/cold/archive");
    // On the "mounted" filesystem, archive already exists, world-writable.
    let reveal = || {
        std::fs::create_dir_all(&archive).unwrap();
        std::fs::set_permissions(&archive, std::fs::Permissions::from_mode(0o777)).unwrap();
    };
    let (applied, looks) = apply(&scratch, &runner, &reveal);
    let Applied::Ran { report, not_converged } = applied else { panic!("refused: {applied:?}") };
    assert!(report.failed.is_none(), "{:?}", report.failed);
    assert!(not_converged.is_empty(), "verify found: {not_converged:?}");
    assert_eq!(looks, 2, "observed once between the phases and once to verify");
    let commands: Vec<String> = runner.calls().iter().map(|c| c.to_shell()).collect();
    assert_eq!(commands.iter().filter(|c| c.starts_with("mount ")).count(), 1, "{commands:?}");
    let kinds: Vec<&str> = report.done.iter().map(|s| s.kind).collect();
    let mount_at = kinds.iter().position(|k| *k == "Mount").expect("mounted");
    // The first plan would have created archive; the second found it and fixed its mode.
    assert!(!kinds[mount_at..].contains(&"CreateDirectory"), "{kinds:?}");
    assert!(kinds[mount_at..].contains(&"Chmod"), "{kinds:?}");
    let meta = std::fs::symlink_metadata(&archive).unwrap();
    assert_eq!(meta.mode() & 0o7777, 0o750);
    assert_eq!(meta.uid(), nix::unistd::getuid().as_raw());
    let fstab = std::fs::read_to_string(scratch.root.dir().join("etc/fstab")).unwrap();
    assert!(fstab.contains("127.0.0.1:/export /srv/cold nfs4"), "{fstab}");
}

#[test]
fn a_refusal_after_mounting_stops_before_the_second_phase() {
    let scratch = scratch();
    let runner = RecordingRunner::new();
    let cold = scratch.root.dir().join("srv/cold");
    let elsewhere = scratch.root.dir().join("elsewhere");
    // On the "mounted" filesystem, archive is a symlink: never followed, refused.
    let reveal = || {
        std::fs::create_dir_all(&elsewhere).unwrap();
        symlink(&elsewhere, cold.join("archive")).unwrap();
    };
    let (applied, _) = apply(&scratch, &runner, &reveal);
    let Applied::RefusedAfterMounting { done, replan } = applied else { panic!("not refused: {applied:?}") };
    assert_eq!(done.done.last().map(|s| s.kind), Some("WriteFstab"), "mounted, then fstab: {:?}", done.done);
    assert!(replan.refused.iter().any(|r| r.reason.contains("symlink")), "{:?}", replan.refused);
    let untouched = std::fs::metadata(&elsewhere).unwrap();
    assert_ne!(untouched.mode() & 0o7777, 0o750, "the symlink's target was changed");
}
