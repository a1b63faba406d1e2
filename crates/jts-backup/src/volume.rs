//! A `volume` source: a temporary LVM snapshot of the LV, mounted read-only under
//! `/run/jts/backup/NAME` (ext4 `ro,noload`, xfs `ro,nouuid,norecovery`: nothing is
//! written to the snapshot, not even a journal replay), archived, then unmounted and
//! removed, on success and failure alike.
//!
//! While the archive is written a watcher reads the snapshot's COW fill every
//! [`WATCH_INTERVAL`]; past `max_cow_percent` reading stops. Whatever the watcher saw,
//! the fill is read once more after the last byte: a snapshot over budget or invalid
//! fails the backup, and no archive is kept.

use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use jts_core::nofollow;
use jts_core::{AbsPath, CmdSpec, Root, Runner};
use jts_fs::FsKind;
use jts_lvm::{
    LvInfo, Percent, backup_snapshot_name, backup_snapshots_of, create_backup_snapshot_command, read_lv,
    remove_lv_command,
};
use nix::mount::{MntFlags, MsFlags};

use crate::error::{Error, Result};
use crate::manifest::SourceIdentity;
use crate::spec::VolumeSource;
use crate::write::ArchiveWriter;

/// How often the watcher reads the snapshot's COW fill.
pub const WATCH_INTERVAL: Duration = Duration::from_secs(1);

/// Where the snapshots of backups are mounted, one directory per backup.
pub const MOUNT_BASE: &str = "/run/jts/backup";

/// The `volume` source of one backup.
pub(crate) struct Volume<'a> {
    /// The backup's name.
    pub backup: &'a str,
    /// The LV and its budget.
    pub source: &'a VolumeSource,
}

/// The mount options that read a snapshot without writing to it.
fn read_only_options(filesystem: FsKind) -> Option<&'static str> {
    match filesystem {
        FsKind::Ext4 => Some("noload"),
        FsKind::Xfs => Some("nouuid,norecovery"),
        FsKind::Btrfs | FsKind::None => None,
    }
}

impl Volume<'_> {
    fn fail(&self, what: String) -> Error {
        Error::Source { backup: self.backup.to_owned(), what }
    }

    /// `max_cow_percent` as lvm2 reports fill.
    fn limit(&self) -> Percent {
        Percent::from_hundredths(u32::from(self.source.max_cow_percent) * 100)
    }

    fn mount_dir(&self) -> Result<AbsPath> {
        Ok(AbsPath::new(Path::new(MOUNT_BASE).join(self.backup))?)
    }

    /// Removes what an interrupted run of this backup left: its mount under
    /// `/run/jts/backup/NAME`, and every backup snapshot of the LV (the backup lock is
    /// held, so none belongs to a running backup). Returns what it removed.
    pub fn clean_leftovers(&self, runner: &dyn Runner, root: &Root) -> Result<Vec<String>> {
        let mut cleaned = Vec::new();
        let dir = self.mount_dir()?;
        if let nofollow::Lookup::Found(node) = nofollow::lookup(root, &dir)? {
            let parent = nofollow::lookup(root, &AbsPath::new(MOUNT_BASE)?)?;
            let covered = matches!(&parent, nofollow::Lookup::Found(p) if p.stat().st_dev != node.stat().st_dev);
            if covered {
                unmount(&root.resolve(&dir)).map_err(|what| self.fail(what))?;
                cleaned.push(root.resolve(&dir).display().to_string());
            }
        }
        for name in backup_snapshots_of(runner, &self.source.vg, &self.source.lv)? {
            runner.run(&remove_lv_command(&self.source.vg, &name))?;
            tracing::info!(snapshot = %name, "removed the snapshot of an interrupted backup");
            cleaned.push(format!("{}/{name}", self.source.vg));
        }
        Ok(cleaned)
    }

    /// Snapshots the LV, mounts the snapshot read-only, archives the mounted tree into
    /// `writer` while the watcher keeps the budget, then unmounts and removes the
    /// snapshot. A snapshot that cannot be removed fails the backup too (it holds COW
    /// space in the VG), saying how to remove it.
    pub fn read(
        &self,
        runner: &dyn Runner,
        root: &Root,
        id: &str,
        writer: &mut ArchiveWriter<'_>,
    ) -> Result<SourceIdentity> {
        let snapshot = backup_snapshot_name(&self.source.lv, id);
        let create =
            create_backup_snapshot_command(&self.source.vg, &self.source.lv, &snapshot, self.source.snapshot_size);
        runner.run(&create).map_err(|err| {
            self.fail(format!(
                "could not take the snapshot: {err}; free extents in {} (`vgs`, `snapshot prune`) or lower \
                 `snapshot_size`",
                &self.source.vg
            ))
        })?;
        let dir = self.mount_dir()?;
        let mut watched = None;
        let read = self.mount_and_read(runner, root, &dir, &snapshot, writer, &mut watched);
        let result = self.decide(runner, &snapshot, read, watched);
        let removed = runner.run(&remove_lv_command(&self.source.vg, &snapshot));
        match (result, removed) {
            (Ok(identity), Ok(_)) => Ok(identity),
            (Err(err), Ok(_)) => Err(err),
            (Ok(_), Err(err)) => Err(self.fail(format!(
                "the snapshot {}/{snapshot} could not be removed: {err}; remove it with `lvremove {}/{snapshot}`",
                &self.source.vg, &self.source.vg
            ))),
            (Err(first), Err(err)) => Err(self.fail(format!(
                "{}; then the snapshot {}/{snapshot} could not be removed: {err}; remove it with \
                 `lvremove {}/{snapshot}`",
                first.source_detail(),
                &self.source.vg,
                &self.source.vg
            ))),
        }
    }

    /// The decisive reading of the snapshot, after the last byte and whatever happened
    /// before: a snapshot over budget or invalid fails the backup (and explains a mount
    /// or a read that failed because of it); one whose state cannot be read fails it too.
    fn decide(
        &self,
        runner: &dyn Runner,
        snapshot: &str,
        read: Result<SourceIdentity>,
        watched: Option<String>,
    ) -> Result<SourceIdentity> {
        let last = match read_lv(runner, &self.source.vg, snapshot) {
            Ok(last) => last,
            Err(err) => {
                return Err(read.err().unwrap_or_else(|| {
                    self.fail(format!("could not read the snapshot's copy-on-write fill afterwards: {err}"))
                }));
            }
        };
        let limit = self.limit();
        if let Some(problem) = self.over_budget(last.as_ref(), limit).or(watched) {
            return Err(self.fail(problem));
        }
        let mut identity = read?;
        if let SourceIdentity::Volume { cow_fill, .. } = &mut identity {
            *cow_fill = last.and_then(|lv| lv.data_percent).map(|fill| fill.to_string());
        }
        Ok(identity)
    }

    /// Mounts the snapshot, archives it while a watcher keeps the COW budget (what it
    /// saw goes to `watched`), and unmounts it.
    fn mount_and_read(
        &self,
        runner: &dyn Runner,
        root: &Root,
        dir: &AbsPath,
        snapshot: &str,
        writer: &mut ArchiveWriter<'_>,
        watched: &mut Option<String>,
    ) -> Result<SourceIdentity> {
        let device = PathBuf::from(jts_lvm::lv_path(&self.source.vg, snapshot));
        let uuid = runner
            .run(&CmdSpec::new("blkid").opt("-o", "value").opt("-s", "UUID").arg(&device))
            .map(|out| out.stdout.trim().to_owned())
            .unwrap_or_default();
        let node = nofollow::create_dir_all(root, dir, 0o700)?;
        let target = root.resolve(dir);
        let fstype = self.source.filesystem.blkid_type().unwrap_or("auto");
        let options = read_only_options(self.source.filesystem);
        nix::mount::mount(
            Some(&device),
            &target,
            Some(fstype),
            MsFlags::MS_RDONLY | MsFlags::MS_NODEV | MsFlags::MS_NOSUID,
            options,
        )
        .map_err(|errno| {
            self.fail(format!(
                "could not mount the snapshot {} on {} ({fstype}, ro,{}): {}; `dmesg` says why",
                device.display(),
                target.display(),
                options.unwrap_or_default(),
                errno.desc()
            ))
        })?;
        drop(node);
        let read = self.read_watched(runner, &target, snapshot, writer, watched);
        let unmounted = unmount(&target);
        if unmounted.is_ok() {
            // Only an empty directory goes; one that is not is left alone.
            let _ = std::fs::remove_dir(&target);
        }
        read?;
        unmounted.map_err(|what| self.fail(what))?;
        Ok(SourceIdentity::Volume {
            vg: self.source.vg.clone(),
            lv: self.source.lv.clone(),
            snapshot: snapshot.to_owned(),
            filesystem: fstype.to_owned(),
            uuid,
            cow_fill: None,
        })
    }

    /// Archives the mounted snapshot at `target` while a watcher reads its COW fill every
    /// [`WATCH_INTERVAL`] and stops the reading past the budget, saying why in `watched`.
    fn read_watched(
        &self,
        runner: &dyn Runner,
        target: &Path,
        snapshot: &str,
        writer: &mut ArchiveWriter<'_>,
        watched: &mut Option<String>,
    ) -> Result<()> {
        let source = open_mounted(target)?;
        let limit = self.limit();
        let over = Arc::new(AtomicBool::new(false));
        let done = AtomicBool::new(false);
        let seen: Mutex<Option<String>> = Mutex::new(None);
        let read = std::thread::scope(|scope| {
            let watcher = scope.spawn(|| {
                while !done.load(Ordering::Relaxed) {
                    if let Ok(state) = read_lv(runner, &self.source.vg, snapshot) {
                        if let Some(problem) = self.over_budget(state.as_ref(), limit) {
                            *seen.lock().unwrap_or_else(std::sync::PoisonError::into_inner) = Some(problem);
                            over.store(true, Ordering::Relaxed);
                            return;
                        }
                    }
                    std::thread::park_timeout(WATCH_INTERVAL);
                }
            });
            writer.stop_when(Arc::clone(&over));
            let read = writer.add_tree_fd(source, target);
            done.store(true, Ordering::Relaxed);
            watcher.thread().unpark();
            read
        });
        *watched = seen.into_inner().unwrap_or_else(std::sync::PoisonError::into_inner);
        read
    }

    /// What is wrong with the snapshot `state`, if anything: gone, invalid, or past the
    /// budget.
    fn over_budget(&self, state: Option<&LvInfo>, limit: Percent) -> Option<String> {
        let budget = match self.source.snapshot_size {
            Some(size) => format!("snapshot_size = \"{size}\""),
            None => format!("the default {}", jts_lvm::DEFAULT_BACKUP_COW),
        };
        let fix = format!(
            "raise `snapshot_size` (now {budget}) or `max_cow_percent` (now {}), or run the backup when {} is written \
             to less",
            self.source.max_cow_percent, &self.source.lv
        );
        match state {
            None => Some("the snapshot disappeared while it was read (someone removed it)".to_owned()),
            Some(lv) if lv.attr.invalid_snapshot || lv.data_percent.is_some_and(|fill| fill >= Percent::FULL) => Some(
                format!("the snapshot overflowed its copy-on-write space and was invalidated while it was read; {fix}"),
            ),
            Some(LvInfo { data_percent: Some(fill), .. }) if *fill > limit => Some(format!(
                "the snapshot's copy-on-write space filled to {fill}, past max_cow_percent = {}; {fix}",
                self.source.max_cow_percent
            )),
            Some(_) => None,
        }
    }
}

/// Opens the mounted snapshot's root for reading.
fn open_mounted(target: &Path) -> Result<OwnedFd> {
    nix::fcntl::open(
        target,
        nix::fcntl::OFlag::O_RDONLY
            | nix::fcntl::OFlag::O_DIRECTORY
            | nix::fcntl::OFlag::O_NOFOLLOW
            | nix::fcntl::OFlag::O_CLOEXEC,
        nix::sys::stat::Mode::empty(),
    )
    .map_err(|err| Error::io("open", target, err))
}

/// Unmounts `target`; a busy filesystem is retried briefly (a reader may be closing).
fn unmount(target: &Path) -> std::result::Result<(), String> {
    let mut last = nix::errno::Errno::EBUSY;
    for _ in 0..10 {
        match nix::mount::umount2(target, MntFlags::UMOUNT_NOFOLLOW) {
            Ok(()) => return Ok(()),
            Err(nix::errno::Errno::EBUSY) => std::thread::sleep(Duration::from_millis(200)),
            Err(errno) => {
                last = errno;
                break;
            }
        }
    }
    Err(format!(
        "could not unmount the snapshot at {}: {}; see what holds it with `fuser -vm {}`, then `umount {}`",
        target.display(),
        last.desc(),
        target.display(),
        target.display()
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn snapshots_are_mounted_without_a_journal_replay() {
        assert_eq!(read_only_options(FsKind::Ext4), Some("noload"));
        assert_eq!(read_only_options(FsKind::Xfs), Some("nouuid,norecovery"));
    }

    fn volume() -> Volume<'static> {
        let source = VolumeSource {
            vg: "vg".into(),
            lv: "lv_pg".into(),
            filesystem: FsKind::Ext4,
            snapshot_size: None,
            max_cow_percent: 80,
        };
        Volume { backup: "pg", source: Box::leak(Box::new(source)) }
    }

    fn lv(attr: &str, fill: Option<u32>) -> LvInfo {
        LvInfo {
            vg: "vg".into(),
            name: "s".into(),
            uuid: String::new(),
            size: 1 << 20,
            attr: jts_lvm::LvAttr::decode(attr),
            origin: Some("lv_pg".into()),
            data_percent: fill.map(Percent::from_hundredths),
            created: None,
        }
    }

    /// `lvs`'s report of the one snapshot `name`.
    fn lvs_output(name: &str, attr: &str, fill: &str) -> jts_core::CmdOutput {
        let stdout = format!(
            r#"{{"report":[{{"lv":[{{"vg_name":"vg","lv_name":"{name}","lv_uuid":"u","lv_size":"8388608",
            "lv_attr":"{attr}","origin":"lv_pg","data_percent":"{fill}","snap_percent":"","lv_time":"1"}}]}}]}}"#
        );
        jts_core::CmdOutput { stdout, ..Default::default() }
    }

    fn lvs_reply(attr: &str, fill: &str) -> jts_core::RecordingRunner {
        jts_core::RecordingRunner::new().reply(Ok(lvs_output("s", attr, fill)))
    }

    #[test]
    fn a_failed_read_and_a_snapshot_left_behind_are_told_once_each() {
        let scratch = tempfile::tempdir().unwrap();
        let root = Root::new(scratch.path()).unwrap();
        let stuck = jts_core::CmdFailure {
            command: "lvremove --yes vg/lv_pg-jtsbackup-20261204T060000Z".into(),
            status: "exited with status 5".into(),
            stderr: "Logical volume in use.".into(),
            stdout: String::new(),
        };
        let ok = || Ok(jts_core::CmdOutput::default());
        // lvcreate, blkid; the mount of a device that does not exist fails; lvs; lvremove.
        let healthy = lvs_output("lv_pg-jtsbackup-20261204T060000Z", "swi-a-s---", "1.00");
        let runner = jts_core::RecordingRunner::new().reply(ok()).reply(ok()).reply(Ok(healthy)).reply(Err(stuck));
        let progress = |_| {};
        let mut writer = ArchiveWriter::new(
            tempfile::tempfile().unwrap(),
            tempfile::tempfile().unwrap(),
            scratch.path().join("archive"),
            scratch.path().to_path_buf(),
            "pg",
            3,
            &progress,
        )
        .unwrap();
        let err = volume().read(&runner, &root, "20261204T060000Z", &mut writer).unwrap_err().to_string();
        assert_eq!(err.matches("backup pg:").count(), 1, "{err}");
        assert_eq!(err.matches("no archive was kept").count(), 1, "{err}");
        assert!(err.contains("could not mount the snapshot"), "{err}");
        assert!(err.contains("`lvremove vg/lv_pg-jtsbackup-20261204T060000Z`"), "{err}");
    }

    #[test]
    fn an_overflow_explains_a_mount_that_failed_because_of_it() {
        let v = volume();
        let mount_failed = Err(v.fail("could not mount the snapshot: I/O error".to_owned()));
        let err = v.decide(&lvs_reply("swi-I-s---", ""), "s", mount_failed, None).unwrap_err();
        assert!(err.to_string().contains("overflowed its copy-on-write space"), "{err}");
        let mount_failed = Err(v.fail("could not mount the snapshot: I/O error".to_owned()));
        let err = v.decide(&lvs_reply("swi-a-s---", "12.00"), "s", mount_failed, None).unwrap_err();
        assert!(err.to_string().contains("I/O error"), "a healthy snapshot keeps the real reason: {err}");
    }

    #[test]
    fn a_good_read_of_a_snapshot_over_budget_is_no_backup() {
        let v = volume();
        let identity = SourceIdentity::Volume {
            vg: "vg".into(),
            lv: "lv_pg".into(),
            snapshot: "s".into(),
            filesystem: "ext4".into(),
            uuid: String::new(),
            cow_fill: None,
        };
        let err = v.decide(&lvs_reply("swi-a-s---", "85.00"), "s", Ok(identity.clone()), None).unwrap_err();
        assert!(err.to_string().contains("past max_cow_percent = 80"), "{err}");
        let watched = Some("seen by the watcher".to_owned());
        let err = v.decide(&lvs_reply("swi-a-s---", "10.00"), "s", Ok(identity.clone()), watched).unwrap_err();
        assert!(err.to_string().contains("seen by the watcher"), "{err}");
        let ok = v.decide(&lvs_reply("swi-a-s---", "10.00"), "s", Ok(identity), None).unwrap();
        assert!(matches!(ok, SourceIdentity::Volume { cow_fill: Some(ref fill), .. } if fill == "10.00%"), "{ok:?}");
    }

    #[test]
    fn the_budget_fails_a_snapshot_that_is_gone_invalid_full_or_past_the_limit() {
        let limit = Percent::from_hundredths(8000);
        let v = volume();
        assert_eq!(v.over_budget(Some(&lv("swi-a-s---", Some(7999))), limit), None);
        assert_eq!(v.over_budget(Some(&lv("swi-a-s---", Some(8000))), limit), None);
        let past = v.over_budget(Some(&lv("swi-a-s---", Some(8001))), limit).unwrap();
        assert!(past.contains("80.01%") && past.contains("max_cow_percent = 80"), "{past}");
        assert!(past.contains("10%ORIGIN"), "{past}");
        assert!(v.over_budget(Some(&lv("swi-I-s---", None)), limit).unwrap().contains("invalidated"));
        assert!(v.over_budget(Some(&lv("swi-a-s---", Some(10_000))), limit).unwrap().contains("overflowed"));
        assert!(v.over_budget(None, limit).unwrap().contains("disappeared"));
    }
}
