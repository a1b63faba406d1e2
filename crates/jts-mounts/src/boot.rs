//! How a managed mount behaves at boot: the userspace options that keep a missing disk
//! or an unreachable NAS from holding the whole host in emergency mode.
//!
//! A trading host must come up reachable over ssh even when one data disk is gone: the
//! database on it is held back by its `RequiresMountsFor=` drop-in, everything else
//! starts. So by default every managed mount is `nofail` (a failed mount does not fail
//! `local-fs.target`), a local one waits at most [`BootPolicy::device_timeout`] for its
//! device (without `x-systemd.device-timeout=` a missing disk still holds the boot for
//! systemd's default 90 s), and the NAS is `_netdev` and gives up after
//! [`BootPolicy::nas_mount_timeout`]. An option the spec sets itself (the same name)
//! wins; `[boot] nofail = false` makes every data mount required for booting.

use std::time::Duration;

use crate::spec::{MountSource, MountTarget};

/// The boot behaviour of every managed mount (`[boot]` in the spec).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BootPolicy {
    /// Whether a failed mount lets the boot go on (`nofail`). Default true.
    pub nofail: bool,
    /// How long a local mount waits for its device (`x-systemd.device-timeout=`).
    pub device_timeout: Duration,
    /// How long the NAS mount may take (`x-systemd.mount-timeout=`).
    pub nas_mount_timeout: Duration,
}

impl Default for BootPolicy {
    fn default() -> Self {
        Self { nofail: true, device_timeout: Duration::from_secs(10), nas_mount_timeout: Duration::from_secs(30) }
    }
}

impl BootPolicy {
    /// `target` with the boot options it lacks appended (never one whose name the spec
    /// already set).
    pub fn apply(&self, mut target: MountTarget) -> MountTarget {
        let nfs = matches!(target.source, MountSource::Nfs { .. });
        let mut wanted = Vec::new();
        if nfs {
            wanted.push("_netdev".to_owned());
        }
        if self.nofail {
            wanted.push("nofail".to_owned());
        }
        wanted.push(if nfs {
            format!("x-systemd.mount-timeout={}s", self.nas_mount_timeout.as_secs())
        } else {
            format!("x-systemd.device-timeout={}s", self.device_timeout.as_secs())
        });
        for option in wanted {
            let name = option.split('=').next().unwrap_or_default();
            let set = |o: &String| o == name || o.starts_with(&format!("{name}=")) || (name == "nofail" && o == "auto");
            if !target.options.iter().any(set) {
                target.options.push(option);
            }
        }
        target
    }
}

#[cfg(test)]
mod tests {
    use jts_core::AbsPath;

    use super::*;
    use crate::spec::MountFs;

    fn block(options: &[&str]) -> MountTarget {
        let options = options.iter().map(|o| (*o).to_owned()).collect();
        MountTarget::block("x", AbsPath::new("/dev/sdb").unwrap(), MountFs::Ext4, AbsPath::new("/x").unwrap(), options)
    }

    #[test]
    fn data_mounts_never_hold_the_boot_and_the_nas_waits_for_the_network() {
        let policy = BootPolicy::default();
        assert_eq!(policy.apply(block(&["noatime"])).options, ["noatime", "nofail", "x-systemd.device-timeout=10s"]);
        let nas = MountTarget::nfs("n", "nas:/v", AbsPath::new("/mnt/nas").unwrap(), vec!["vers=3".into()]);
        assert_eq!(policy.apply(nas).options, ["vers=3", "_netdev", "nofail", "x-systemd.mount-timeout=30s"]);
    }

    #[test]
    fn the_spec_s_own_options_win() {
        let policy = BootPolicy::default();
        let own = policy.apply(block(&["x-systemd.device-timeout=0", "nofail"]));
        assert_eq!(own.options, ["x-systemd.device-timeout=0", "nofail"]);
        let required = BootPolicy { nofail: false, ..policy }.apply(block(&[]));
        assert_eq!(required.options, ["x-systemd.device-timeout=10s"], "a required mount still bounds its wait");
    }
}
