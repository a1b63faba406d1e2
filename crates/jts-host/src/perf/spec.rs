//! `[performance.NAME]`: the profile and limits of one mount's fio run, and its
//! thresholds. NAME is the mount's name in the spec: an LV (`lv_postgres`), a
//! `[filesystems.NAME]` or an `[nfs_mounts.NAME]`.

use std::fmt;
use std::str::FromStr;

use jts_core::{Size, SpecDuration, SpecError};
use serde::{Deserialize, Serialize};
use toml::Spanned;

use crate::spec::HostSpec;

/// The workload a mount is tested with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Profile {
    /// 8 KiB random reads and writes, each write followed by fsync.
    Postgresql,
    /// 1 MiB sequential appends.
    Kafka,
    /// 1 MiB sequential reads and writes.
    Clickhouse,
    /// 4 KiB appends with an fsync every 256 writes (the AOF's `everysec`, at a write
    /// rate of a few hundred per second).
    Redis,
    /// 16 KiB random reads and writes (WiredTiger pages), fsync every 64 writes.
    Mongodb,
    /// 1 MiB sequential write, then the same file read back.
    Nas,
}

impl Profile {
    /// The profile of a workload preset, if it has one.
    pub fn of_preset(preset: jts_fs::Preset) -> Option<Self> {
        match preset {
            jts_fs::Preset::Postgresql => Some(Self::Postgresql),
            jts_fs::Preset::Kafka => Some(Self::Kafka),
            jts_fs::Preset::Clickhouse => Some(Self::Clickhouse),
            jts_fs::Preset::Redis => Some(Self::Redis),
            jts_fs::Preset::Mongodb => Some(Self::Mongodb),
            jts_fs::Preset::Docker | jts_fs::Preset::Backup => None,
        }
    }

    /// The lowercase name.
    pub fn name(self) -> &'static str {
        match self {
            Self::Postgresql => "postgresql",
            Self::Kafka => "kafka",
            Self::Clickhouse => "clickhouse",
            Self::Redis => "redis",
            Self::Mongodb => "mongodb",
            Self::Nas => "nas",
        }
    }
}

/// A latency with its unit: `"500us"`, `"5ms"`, `"1s"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Latency(pub u64);

impl Latency {
    /// Nanoseconds.
    pub fn nanos(self) -> u64 {
        self.0
    }
}

impl FromStr for Latency {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        let end = text.find(|c: char| !c.is_ascii_digit()).unwrap_or(text.len());
        let (digits, unit) = text.split_at(end);
        let factor = match unit {
            "ns" => 1,
            "us" => 1_000,
            "ms" => 1_000_000,
            "s" => 1_000_000_000,
            _ => return Err(format!("latency {text:?} needs a unit: ns, us, ms or s, e.g. \"5ms\"")),
        };
        let number: u64 =
            digits.parse().map_err(|_| format!("latency {text:?} must start with a whole number, e.g. \"5ms\""))?;
        number.checked_mul(factor).map(Self).ok_or_else(|| format!("latency {text:?} is too large"))
    }
}

impl fmt::Display for Latency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            n if n >= 1_000_000_000 => write!(f, "{:.2}s", n as f64 / 1e9),
            n if n >= 1_000_000 => write!(f, "{:.2}ms", n as f64 / 1e6),
            n => write!(f, "{:.1}us", n as f64 / 1e3),
        }
    }
}

impl<'de> Deserialize<'de> for Latency {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        String::deserialize(deserializer)?.parse().map_err(serde::de::Error::custom)
    }
}

impl Serialize for Latency {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_u64(self.0)
    }
}

/// `[performance.NAME]`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PerformanceSpec {
    /// The workload (default: the mount's preset; `nas` for an NFS mount).
    pub profile: Option<Profile>,
    /// How much data the run writes (default 64MiB).
    pub size: Option<Size>,
    /// The longest the run may take (default 10s).
    pub runtime: Option<SpecDuration>,
    /// Fewer IOPS (reads and writes together) than this is a miss.
    pub min_iops: Option<u64>,
    /// Less bandwidth per second (reads and writes together) than this is a miss, e.g.
    /// `"200MiB"`.
    pub min_bandwidth: Option<Size>,
    /// A 99th-percentile completion latency above this is a miss, e.g. `"5ms"`.
    pub max_p99_latency: Option<Latency>,
}

/// The default test size.
pub const DEFAULT_SIZE: u64 = 64 << 20;
/// The default time limit, seconds.
pub const DEFAULT_RUNTIME: u64 = 10;

/// Every `[performance.NAME]` must name a managed mount with a profile.
pub(crate) fn check_performance(
    spec: &HostSpec,
    sections: &std::collections::BTreeMap<String, Spanned<PerformanceSpec>>,
) -> Vec<SpecError> {
    let mounts = super::run::perf_mounts(spec);
    let mut errors = Vec::new();
    for (name, section) in sections {
        let key = format!("performance.{name}");
        let span = Some(section.span());
        match mounts.iter().find(|m| m.name == *name) {
            None => {
                let known = mounts.iter().map(|m| m.name.as_str()).collect::<Vec<_>>().join(", ");
                errors.push(SpecError::new(span, key, format!(
                    "{name} is not a mount of this spec; name an LV with a mount_point, a [filesystems.NAME] or an [nfs_mounts.NAME] (here: {known})"
                )));
            }
            Some(mount) if mount.profile.is_none() && section.get_ref().profile.is_none() => {
                errors.push(SpecError::new(span, key, format!(
                    "{name} has no workload preset to test with; set profile = \"postgresql\", \"kafka\", \"clickhouse\", \"redis\", \"mongodb\" or \"nas\""
                )));
            }
            Some(_) => {}
        }
        if section.get_ref().size.is_some_and(|s| s.bytes() < 1 << 20) {
            errors.push(SpecError::new(
                Some(section.span()),
                format!("performance.{name}.size"),
                "size is below 1MiB, too small to measure; e.g. size = \"64MiB\"".to_owned(),
            ));
        }
    }
    errors
}
