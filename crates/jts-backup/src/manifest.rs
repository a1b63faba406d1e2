//! The manifest: what an archive holds (every file's path, size and blake3), where it
//! came from, when, and what the hooks said. It travels inside the archive twice: as the
//! tar's last member [`MANIFEST_MEMBER`], and in the footer ([`crate::footer`]).

use serde::{Deserialize, Serialize};

/// The manifest's name as the tar's last member (extracted by stock `tar` too).
pub const MANIFEST_MEMBER: &str = ".jts-manifest.json";

/// The manifest format this version writes and reads.
pub const MANIFEST_FORMAT: u32 = 1;

/// One archive's manifest. `F` holds its files: the list itself by default, a
/// [`FileTally`] when only their number matters, or records streamed from a spool as it
/// is written.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest<F = Vec<FileRecord>> {
    /// [`MANIFEST_FORMAT`].
    pub format: u32,
    /// The backup's name.
    pub backup: String,
    /// The archive's id (`YYYYMMDDTHHMMSSZ`, UTC).
    pub id: String,
    /// The jts version that wrote it.
    pub jts_version: String,
    /// What was read.
    pub source: SourceIdentity,
    /// When reading started and ended (Unix seconds).
    pub started: i64,
    /// See `started`.
    pub finished: i64,
    /// Every regular file (and dump member), in archive order.
    pub files: F,
    /// Files that changed while they were read (their archived content may be torn).
    #[serde(default)]
    pub changed: Vec<String>,
    /// What the hooks did.
    #[serde(default)]
    pub hooks: Vec<HookRecord>,
}

impl Manifest {
    /// The bytes of file content the archive holds.
    pub fn bytes(&self) -> u64 {
        self.files.iter().map(|f| f.size).sum()
    }
}

impl<F> Manifest<F> {
    /// The same manifest with other `files`.
    pub fn with_files<G>(self, files: G) -> Manifest<G> {
        Manifest {
            format: self.format,
            backup: self.backup,
            id: self.id,
            jts_version: self.jts_version,
            source: self.source,
            started: self.started,
            finished: self.finished,
            files,
            changed: self.changed,
            hooks: self.hooks,
        }
    }
}

/// A manifest's files counted as they are read, not kept: what listing needs of a
/// manifest of any size.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct FileTally {
    /// How many files.
    pub files: usize,
    /// Their bytes of content.
    pub bytes: u64,
}

impl<'de> Deserialize<'de> for FileTally {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Count;
        impl<'de> serde::de::Visitor<'de> for Count {
            type Value = FileTally;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a list of file records")
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<FileTally, A::Error> {
                let mut tally = FileTally::default();
                while let Some(record) = seq.next_element::<FileRecord>()? {
                    tally.files += 1;
                    tally.bytes += record.size;
                }
                Ok(tally)
            }
        }
        deserializer.deserialize_seq(Count)
    }
}

/// One regular file of the archive.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileRecord {
    /// Its path relative to the source (`etc/jts/storage.toml`).
    pub path: String,
    /// Its size in bytes (holes included).
    pub size: u64,
    /// The blake3 of its content, hex.
    pub blake3: String,
}

/// Where an archive's content came from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum SourceIdentity {
    /// An LV, read through a temporary snapshot mounted read-only.
    Volume {
        /// The LV's VG.
        vg: String,
        /// The LV.
        lv: String,
        /// The snapshot that was read (removed since).
        snapshot: String,
        /// The filesystem (`ext4`, `xfs`).
        filesystem: String,
        /// The filesystem's UUID (the origin's: a snapshot keeps it).
        uuid: String,
        /// How full the snapshot's COW space was when the archive was finished
        /// (`"12.57%"`), when lvm2 reported it.
        cow_fill: Option<String>,
    },
    /// A live directory.
    Path {
        /// The directory.
        path: String,
    },
    /// A command's output.
    Command {
        /// Its argv.
        argv: Vec<String>,
        /// The user it ran as.
        user: Option<String>,
        /// How it ended (`exited with status 0`).
        status: String,
        /// The tail of its stderr.
        stderr: String,
    },
}

/// One hook's run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HookRecord {
    /// `before` or `after`.
    pub phase: String,
    /// Its argv.
    pub argv: Vec<String>,
    /// How it ended.
    pub status: String,
    /// The tail of what it printed.
    pub output: String,
}
