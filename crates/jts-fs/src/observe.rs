//! Observing devices: the signature `blkid` finds and the size of the filesystem on it.

use std::collections::BTreeMap;
use std::path::Path;

use jts_core::{CmdSpec, Runner};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::kind::FsKind;

/// A filesystem grown to within this of its device counts as filling it: mkfs and the grow
/// tools leave a tail smaller than one allocation unit (an XFS allocation group can drop up
/// to 16 MiB), so a planner compares sizes with this slack.
pub const GROW_SLACK: u64 = 32 << 20;

/// What `blkid -p` found on a device.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Signature {
    /// `TYPE=` (`ext4`, `xfs`, `LVM2_member`, `crypto_LUKS`, …), or the partition-table type
    /// (`PTTYPE=`, `gpt` or `dos`) on a partitioned device.
    pub fstype: String,
    /// `UUID=`, when the signature has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uuid: Option<String>,
    /// `LABEL=`, when set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
}

impl Signature {
    /// Parses `blkid -p -o export` output; `None` when it names no type.
    ///
    /// ```
    /// use jts_fs::Signature;
    /// let sig = Signature::parse_blkid_export("DEVNAME=/dev/sdb\nLABEL=pg\\ data\nUUID=ec0a\nTYPE=ext4\n").unwrap();
    /// assert_eq!(sig.fstype, "ext4");
    /// assert_eq!(sig.label.as_deref(), Some("pg data"));
    /// ```
    pub fn parse_blkid_export(text: &str) -> Option<Self> {
        let mut fields: BTreeMap<&str, String> = BTreeMap::new();
        for line in text.lines() {
            if let Some((key, value)) = line.split_once('=') {
                fields.insert(key.trim(), unescape(value));
            }
        }
        let fstype = fields.get("TYPE").or_else(|| fields.get("PTTYPE")).filter(|t| !t.is_empty())?.clone();
        let nonempty = |key| fields.get(key).filter(|value| !value.is_empty()).cloned();
        let uuid = nonempty("UUID").or_else(|| if fields.contains_key("TYPE") { None } else { nonempty("PTUUID") });
        Some(Self { fstype, uuid, label: nonempty("LABEL") })
    }

    /// The filesystem, when it is one jts makes.
    pub fn kind(&self) -> Option<FsKind> {
        FsKind::from_blkid_type(&self.fstype)
    }
}

/// blkid's export format escapes spaces and specials with a backslash.
fn unescape(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    let mut chars = value.chars();
    while let Some(c) = chars.next() {
        out.push(if c == '\\' { chars.next().unwrap_or('\\') } else { c });
    }
    out
}

/// What is on one device.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeviceFs {
    /// The signature blkid found, if any.
    pub signature: Option<Signature>,
    /// The size of the filesystem in bytes, for ext4, xfs and btrfs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fs_size: Option<u64>,
    /// The size of the device in bytes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device_size: Option<u64>,
    /// Where the device is mounted, if it is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mounted_at: Option<std::path::PathBuf>,
    /// The filesystem's features as its own tool lists them: ext4's `Filesystem
    /// features` from `tune2fs -l` (e.g. `has_journal`), xfs's flags set to 1 in
    /// `xfs_info` (e.g. `crc`, `reflink`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub features: Vec<String>,
}

impl DeviceFs {
    /// Whether the filesystem is smaller than its device by more than [`GROW_SLACK`].
    pub fn needs_grow(&self) -> bool {
        match (self.fs_size, self.device_size) {
            (Some(fs), Some(device)) => device > fs.saturating_add(GROW_SLACK),
            _ => false,
        }
    }
}

/// What jts-fs observed: each device a spec names, by path.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FsObserved {
    /// Device path → what is on it.
    pub devices: BTreeMap<String, DeviceFs>,
}

impl FsObserved {
    /// Observes each of `devices`.
    pub fn observe<'a>(runner: &dyn Runner, devices: impl IntoIterator<Item = &'a Path>) -> Result<Self> {
        let mut observed = Self::default();
        for device in devices {
            observed.devices.insert(key(device), observe_device(runner, device)?);
        }
        Ok(observed)
    }

    /// What was observed on `device`.
    pub fn get(&self, device: &Path) -> Option<&DeviceFs> {
        self.devices.get(&key(device))
    }
}

/// The key of `device` in [`FsObserved::devices`].
pub(crate) fn key(device: &Path) -> String {
    device.display().to_string()
}

/// `blkid -p -o export DEVICE`: low-level probing, ignoring the blkid cache.
pub fn blkid_command(device: &Path) -> CmdSpec {
    CmdSpec::new("blkid").arg("-p").opt("-o", "export").arg(device)
}

/// The signature on `device`, or `None` when blkid finds none (its exit status 2).
pub fn probe_signature(runner: &dyn Runner, device: &Path) -> Result<Option<Signature>> {
    match runner.run(&blkid_command(device)) {
        Ok(output) => Ok(Signature::parse_blkid_export(&output.stdout)),
        Err(jts_core::Error::Command(failure)) if failure.status == "exited with status 2" => Ok(None),
        Err(jts_core::Error::Command(failure)) if failure.status == "exited with status 8" => {
            Err(Error::Ambivalent { device: device.to_path_buf(), detail: failure.stderr.trim().to_owned() })
        }
        Err(err) => Err(err.into()),
    }
}

/// The filesystem size from `tune2fs -l`: `Block count` × `Block size`.
///
/// ```
/// assert_eq!(jts_fs::parse_tune2fs_size("Block count:   262144\nBlock size:    4096\n"), Some(1 << 30));
/// ```
pub fn parse_tune2fs_size(text: &str) -> Option<u64> {
    let field = |name: &str| {
        text.lines().find_map(|line| {
            let (key, value) = line.split_once(':')?;
            (key.trim() == name).then(|| value.trim().parse::<u64>().ok()).flatten()
        })
    };
    field("Block count")?.checked_mul(field("Block size")?)
}

/// The data-section size from `xfs_info`: `bsize` × `blocks` on the `data` line.
///
/// ```
/// let text = "data     =                       bsize=4096   blocks=262144, imaxpct=25\n";
/// assert_eq!(jts_fs::parse_xfs_info_size(text), Some(1 << 30));
/// ```
pub fn parse_xfs_info_size(text: &str) -> Option<u64> {
    let line = text.lines().find(|line| line.trim_start().starts_with("data") && line.contains("blocks="))?;
    let field = |name: &str| {
        line.split(|c: char| c.is_whitespace() || c == ',')
            .find_map(|word| word.strip_prefix(name)?.strip_prefix('=')?.parse::<u64>().ok())
    };
    field("bsize")?.checked_mul(field("blocks")?)
}

/// This device's share of a btrfs filesystem from `btrfs inspect-internal dump-super`:
/// `dev_item.total_bytes` (the whole filesystem's `total_bytes` when that is missing).
///
/// ```
/// let text = "total_bytes\t\t2147483648\ndev_item.total_bytes\t1073741824\n";
/// assert_eq!(jts_fs::parse_btrfs_super_size(text), Some(1 << 30));
/// ```
pub fn parse_btrfs_super_size(text: &str) -> Option<u64> {
    let field = |name: &str| {
        text.lines().find_map(|line| {
            let mut words = line.split_whitespace();
            (words.next()? == name).then(|| words.next()?.parse::<u64>().ok()).flatten()
        })
    };
    field("dev_item.total_bytes").or_else(|| field("total_bytes"))
}

/// ext4's `Filesystem features:` from `tune2fs -l`.
///
/// ```
/// let text = "Filesystem features:      ext_attr dir_index extent 64bit\n";
/// assert_eq!(jts_fs::parse_tune2fs_features(text), ["ext_attr", "dir_index", "extent", "64bit"]);
/// ```
pub fn parse_tune2fs_features(text: &str) -> Vec<String> {
    let line = text.lines().find_map(|line| line.strip_prefix("Filesystem features:"));
    let mut features: Vec<String> =
        line.map(|features| features.split_whitespace().map(str::to_owned).collect()).unwrap_or_default();
    // The RAID geometry, as mkfs.ext4's -E takes it: `stride=16`, `stripe_width=64`.
    for (label, name) in [("RAID stride:", "stride"), ("RAID stripe width:", "stripe_width")] {
        if let Some(value) = text.lines().find_map(|line| line.strip_prefix(label)) {
            features.push(format!("{name}={}", value.trim()));
        }
    }
    features
}

/// btrfs's `incompat_flags` from `btrfs inspect-internal dump-super`, in lower case
/// (`no_holes`, `skinny_metadata`, …).
///
/// ```
/// let text = "incompat_flags\t\t0x341\n\t\t\t( MIXED_BACKREF |\n\t\t\t  NO_HOLES )\ncsum_type\t0\n";
/// assert_eq!(jts_fs::parse_btrfs_features(text), ["mixed_backref", "no_holes"]);
/// ```
pub fn parse_btrfs_features(text: &str) -> Vec<String> {
    let Some(start) = text.find("incompat_flags") else { return Vec::new() };
    let rest = &text[start..];
    let Some(open) = rest.find('(') else { return Vec::new() };
    let Some(close) = rest[open..].find(')') else { return Vec::new() };
    rest[open + 1..open + close]
        .split(|c: char| c == '|' || c.is_whitespace())
        .filter(|flag| !flag.is_empty())
        .map(str::to_lowercase)
        .collect()
}

/// xfs's flags set to 1 in `xfs_info` (`crc=1` → `crc`).
///
/// ```
/// let text = "meta-data=/dev/x isize=512 agcount=4\n         =   crc=1 finobt=1, sparse=1, rmapbt=0\n         =   reflink=1\n";
/// assert_eq!(jts_fs::parse_xfs_info_features(text), ["crc", "finobt", "sparse", "reflink"]);
/// ```
pub fn parse_xfs_info_features(text: &str) -> Vec<String> {
    const FLAGS: [&str; 7] = ["crc", "finobt", "sparse", "rmapbt", "reflink", "bigtime", "inobtcount"];
    text.split(|c: char| c.is_whitespace() || c == ',')
        .filter_map(|word| word.split_once('='))
        .filter(|(key, value)| FLAGS.contains(key) && *value == "1")
        .map(|(key, _)| key.to_owned())
        .collect()
}

/// Runs `cmd` and reads a size from its output with `parse`, and the features with
/// `features`.
fn size_from(runner: &dyn Runner, cmd: &CmdSpec, what: &'static str, parse: fn(&str) -> Option<u64>) -> Result<u64> {
    Ok(sized(runner, cmd, what, parse, |_| Vec::new())?.0)
}

fn sized(
    runner: &dyn Runner,
    cmd: &CmdSpec,
    what: &'static str,
    parse: fn(&str) -> Option<u64>,
    features: fn(&str) -> Vec<String>,
) -> Result<(u64, Vec<String>)> {
    let output = runner.run(cmd)?;
    let size = parse(&output.stdout).ok_or_else(|| Error::Unparsable { command: cmd.to_shell(), what })?;
    Ok((size, features(&output.stdout)))
}

/// Observes one device: its signature (blkid), the size of the filesystem on it (tune2fs,
/// xfs_info or btrfs dump-super, by type) and its own size (`blockdev --getsize64`).
pub fn observe_device(runner: &dyn Runner, device: &Path) -> Result<DeviceFs> {
    let signature = probe_signature(runner, device)?;
    let (fs_size, features) = match signature.as_ref().map(|sig| sig.fstype.as_str()) {
        Some("ext2" | "ext3" | "ext4") => {
            let cmd = CmdSpec::new("tune2fs").arg("-l").arg(device);
            let (size, features) =
                sized(runner, &cmd, "Block count and Block size", parse_tune2fs_size, parse_tune2fs_features)?;
            (Some(size), features)
        }
        Some("xfs") => {
            let cmd = CmdSpec::new("xfs_info").arg(device);
            let (size, features) =
                sized(runner, &cmd, "data bsize and blocks", parse_xfs_info_size, parse_xfs_info_features)?;
            (Some(size), features)
        }
        Some("btrfs") => {
            let cmd = CmdSpec::new("btrfs").arg("inspect-internal").arg("dump-super").arg(device);
            let (size, features) =
                sized(runner, &cmd, "dev_item.total_bytes", parse_btrfs_super_size, parse_btrfs_features)?;
            (Some(size), features)
        }
        _ => (None, Vec::new()),
    };
    let cmd = CmdSpec::new("blockdev").arg("--getsize64").arg(device);
    let device_size = Some(size_from(runner, &cmd, "the device size", |text| text.trim().parse().ok())?);
    Ok(DeviceFs { signature, fs_size, device_size, mounted_at: crate::mounted::mount_point(device), features })
}

#[cfg(test)]
mod tests {
    use jts_core::{CmdFailure, CmdOutput, RecordingRunner};
    use proptest::prelude::*;

    use super::*;

    fn out(stdout: &str) -> jts_core::Reply {
        Ok(CmdOutput { stdout: stdout.to_owned(), stderr: String::new() })
    }

    fn failed(status: &str, stderr: &str) -> jts_core::Reply {
        Err(CmdFailure { command: "blkid".into(), status: status.into(), stderr: stderr.into(), stdout: String::new() })
    }

    const BLKID_EXT4: &str = "DEVNAME=/dev/loop0\nLABEL=pg\\ data\nUUID=ec0aac3c-8209-47bc-abeb-a3dbd1207021\n\
        VERSION=1.0\nBLOCK_SIZE=4096\nTYPE=ext4\nUSAGE=filesystem\n";
    const XFS_INFO: &str = "meta-data=/dev/loop1             isize=512    agcount=4, agsize=65536 blks\n\
        data     =                       bsize=4096   blocks=262144, imaxpct=25\n\
                 =                       sunit=0      swidth=0 blks\n\
        naming   =version 2              bsize=4096   ascii-ci=0, ftype=1\n\
        log      =internal log           bsize=4096   blocks=16384, version=2\n";

    #[test]
    fn blkid_fields() {
        let sig = Signature::parse_blkid_export(BLKID_EXT4).unwrap();
        assert_eq!(sig.uuid.as_deref(), Some("ec0aac3c-8209-47bc-abeb-a3dbd1207021"));
        assert_eq!(sig.kind(), Some(FsKind::Ext4));
        let gpt = Signature::parse_blkid_export("DEVNAME=/dev/sdb\nPTUUID=abc\nPTTYPE=gpt\n").unwrap();
        assert_eq!((gpt.fstype.as_str(), gpt.uuid.as_deref(), gpt.kind()), ("gpt", Some("abc"), None));
        assert_eq!(Signature::parse_blkid_export("DEVNAME=/dev/sdb\n"), None);
    }

    #[test]
    fn blkid_status_2_means_no_signature() {
        let runner = RecordingRunner::new().reply(failed("exited with status 2", ""));
        assert_eq!(probe_signature(&runner, Path::new("/dev/sdb")).unwrap(), None);
        assert_eq!(runner.calls()[0].to_shell(), "blkid -p -o export /dev/sdb");
    }

    #[test]
    fn blkid_status_8_is_ambivalent() {
        let runner = RecordingRunner::new().reply(failed("exited with status 8", "ambivalent result"));
        let err = probe_signature(&runner, Path::new("/dev/sdb")).unwrap_err();
        assert!(err.to_string().contains("wipefs /dev/sdb"), "{err}");
    }

    #[test]
    fn other_blkid_failures_are_errors() {
        let runner = RecordingRunner::new().reply(failed("exited with status 4", "usage"));
        assert!(matches!(probe_signature(&runner, Path::new("/dev/sdb")), Err(Error::Core(_))));
    }

    #[test]
    fn observes_ext4_size_and_device_size() {
        let runner = RecordingRunner::new()
            .reply(out(BLKID_EXT4))
            .reply(out("Block count:              262144\nBlock size:               4096\n"))
            .reply(out("2147483648\n"));
        let fs = observe_device(&runner, Path::new("/dev/loop0")).unwrap();
        assert_eq!((fs.fs_size, fs.device_size), (Some(1 << 30), Some(2 << 30)));
        assert!(fs.needs_grow());
        let calls: Vec<String> = runner.calls().iter().map(CmdSpec::to_shell).collect();
        assert_eq!(calls[1..], ["tune2fs -l /dev/loop0", "blockdev --getsize64 /dev/loop0"]);
    }

    #[test]
    fn observes_xfs_and_btrfs_sizes() {
        let runner = RecordingRunner::new().reply(out("TYPE=xfs\n")).reply(out(XFS_INFO)).reply(out("1073741824\n"));
        let fs = observe_device(&runner, Path::new("/dev/loop1")).unwrap();
        assert_eq!(fs.fs_size, Some(1 << 30));
        assert!(!fs.needs_grow());
        let runner = RecordingRunner::new()
            .reply(out("TYPE=btrfs\n"))
            .reply(out("total_bytes\t\t1073741824\ndev_item.total_bytes\t1073741824\n"))
            .reply(out("1073741824\n"));
        let fs = observe_device(&runner, Path::new("/dev/loop2")).unwrap();
        assert_eq!(fs.fs_size, Some(1 << 30));
        assert_eq!(runner.calls()[1].to_shell(), "btrfs inspect-internal dump-super /dev/loop2");
    }

    #[test]
    fn unreadable_tool_output_is_an_error() {
        let runner = RecordingRunner::new().reply(out("TYPE=xfs\n")).reply(out("garbage"));
        let err = observe_device(&runner, Path::new("/dev/x")).unwrap_err();
        assert!(err.to_string().contains("xfs_info /dev/x"), "{err}");
    }

    #[test]
    fn a_blank_device_has_no_filesystem_size() {
        let runner = RecordingRunner::new().reply(failed("exited with status 2", "")).reply(out("4096\n"));
        let fs = observe_device(&runner, Path::new("/dev/x")).unwrap();
        assert_eq!(
            fs,
            DeviceFs {
                signature: None,
                fs_size: None,
                device_size: Some(4096),
                mounted_at: None,
                features: Vec::new()
            }
        );
        let observed = FsObserved { devices: [("/dev/x".to_owned(), fs)].into() };
        let json = serde_json::to_string(&observed).unwrap();
        assert_eq!(json, r#"{"devices":{"/dev/x":{"signature":null,"device_size":4096}}}"#);
        assert_eq!(serde_json::from_str::<FsObserved>(&json).unwrap(), observed);
    }

    proptest! {
        #[test]
        fn parsers_never_panic(text in "(?s).{0,400}") {
            let _ = Signature::parse_blkid_export(&text);
            let _ = parse_tune2fs_size(&text);
            let _ = parse_xfs_info_size(&text);
            let _ = parse_btrfs_super_size(&text);
        }

        #[test]
        fn parsers_never_panic_on_near_misses(
            count in any::<u64>(),
            size in any::<u64>(),
            junk in "[ =,:\\\\a-z0-9]{0,20}",
        ) {
            let tune = format!("Block count: {count}\nBlock size:{junk}{size}\n");
            let _ = parse_tune2fs_size(&tune);
            let xfs = format!("data ={junk} bsize={size} blocks={count},{junk}\n");
            let _ = parse_xfs_info_size(&xfs);
            let blkid = format!("TYPE={junk}\\\nLABEL=\\{junk}\nUUID={count}\n");
            let _ = Signature::parse_blkid_export(&blkid);
        }
    }
}
