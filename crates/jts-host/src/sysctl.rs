//! `[sysctl]`: kernel settings the host keeps, such as the NFS client's socket buffers.
//!
//! The settings go to one drop-in, [`DROP_IN`], rendered and written atomically like the
//! other rendered files (so `systemd-sysctl` applies them at every boot). On a live host
//! (no `--root`) each is also applied now: written to `/proc/sys/…` and read back.
//! `validate` reports a live value that differs from the spec (a hand change, or a
//! drop-in of another package that sorts later) and a drop-in that differs.
//!
//! Keys are written as in `sysctl.conf`, quoted in TOML because of their dots:
//! `"net.core.rmem_max" = 16777216`. A key with no `/proc/sys` entry is a spec error.

use std::collections::BTreeMap;
use std::path::PathBuf;

use jts_core::{AbsPath, Context, Drift, Root, SpecError, Step, StepInfo};
use jts_mounts::RenderedFile;
use serde::{Deserialize, Serialize};
use toml::Spanned;

/// The drop-in jts writes.
pub const DROP_IN: &str = "/etc/sysctl.d/60-jts.conf";

/// Where the kernel shows its settings.
const PROC_SYS: &str = "/proc/sys";

/// One value as the spec writes it: a number or a string (`"4096 87380 16777216"`).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(untagged)]
pub enum SysctlValue {
    /// A number.
    Number(i64),
    /// Text, e.g. several numbers separated by spaces.
    Text(String),
    /// A nested table: the key was written without quotes (an error, with the fix).
    Table(toml::Table),
}

impl SysctlValue {
    /// The value as `sysctl.conf` and `/proc/sys` write it; `None` for a table.
    fn text(&self) -> Option<String> {
        match self {
            Self::Number(n) => Some(n.to_string()),
            Self::Text(text) => Some(normalize(text)),
            Self::Table(_) => None,
        }
    }
}

/// The kernel separates the numbers of a vector setting with tabs; the spec with spaces.
fn normalize(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// The `/proc/sys` file of `key`.
fn proc_path(key: &str) -> PathBuf {
    PathBuf::from(PROC_SYS).join(key.replace('.', "/"))
}

/// The checked settings, in key order.
pub(crate) fn settings(raw: &BTreeMap<String, Spanned<SysctlValue>>) -> BTreeMap<String, String> {
    raw.iter().filter_map(|(key, value)| Some((key.clone(), value.get_ref().text()?))).collect()
}

/// Every problem with `[sysctl]`: keys that are not written as dotted names, or that the
/// running kernel does not have.
pub(crate) fn check_sysctl(raw: &BTreeMap<String, Spanned<SysctlValue>>) -> Vec<SpecError> {
    let mut errors = Vec::new();
    for (key, value) in raw {
        let at = Some(value.span());
        let name = format!("sysctl.{key}");
        if let SysctlValue::Table(_) = value.get_ref() {
            errors.push(SpecError::new(
                at,
                name,
                format!("{key} is a table: a sysctl key has dots, so quote it, e.g. \"net.core.rmem_max\" = 16777216"),
            ));
            continue;
        }
        let valid = !key.is_empty()
            && key.split('.').all(|part| {
                !part.is_empty()
                    && part != ".."
                    && part.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
            });
        if !valid {
            errors.push(SpecError::new(
                at,
                name,
                format!("{key:?} is not a sysctl key; write it as sysctl.conf does, e.g. \"net.core.rmem_max\""),
            ));
        } else if !proc_path(key).is_file() {
            errors.push(SpecError::new(at, name, format!(
                "this kernel has no {key} ({} does not exist); check the spelling with `sysctl -a | grep {}`, or load the module that provides it",
                proc_path(key).display(),
                key.rsplit('.').next().unwrap_or(key)
            )));
        }
    }
    errors
}

/// The drop-in's text, or `None` when the spec has no settings.
pub(crate) fn drop_in(settings: &BTreeMap<String, String>) -> Option<RenderedFile> {
    if settings.is_empty() {
        return None;
    }
    let mut text =
        String::from("# Written by jts-provision from the host spec's [sysctl]; changes here are overwritten.\n");
    for (key, value) in settings {
        text.push_str(&format!("{key} = {value}\n"));
    }
    Some(RenderedFile { path: AbsPath::new(DROP_IN).expect("absolute"), contents: text })
}

/// The live values of the spec's keys (a live host only: under `--root` the kernel is
/// not the one the root will boot).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct SysctlObserved {
    /// Key → the value `/proc/sys` shows, normalized; absent when not observed.
    #[serde(default)]
    pub live: BTreeMap<String, String>,
}

/// Reads the live value of each key, on a live host.
pub(crate) fn observe_sysctl(root: &Root, settings: &BTreeMap<String, String>) -> SysctlObserved {
    if !root.is_host() {
        return SysctlObserved::default();
    }
    let live = settings
        .keys()
        .filter_map(|key| Some((key.clone(), normalize(&std::fs::read_to_string(proc_path(key)).ok()?))))
        .collect();
    SysctlObserved { live }
}

/// Sets one kernel setting now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SetSysctl {
    /// The key, e.g. `net.core.rmem_max`.
    pub key: String,
    /// The value to write.
    pub value: String,
    /// What the kernel has now.
    pub current: String,
}

/// One step per live value that differs from the spec; none under `--root`, where no
/// live value is observed.
pub(crate) fn plan_sysctl(settings: &BTreeMap<String, String>, observed: &SysctlObserved) -> Vec<SetSysctl> {
    settings
        .iter()
        .filter_map(|(key, value)| {
            let current = observed.live.get(key)?;
            (current != value).then(|| SetSysctl { key: key.clone(), value: value.clone(), current: current.clone() })
        })
        .collect()
}

impl Step for SetSysctl {
    type State = SysctlObserved;
    type Error = jts_core::Error;

    fn info(&self, _root: &Root) -> StepInfo {
        let path = proc_path(&self.key);
        StepInfo {
            kind: "SetSysctl",
            object: format!("sysctl {}", self.key),
            description: format!("set {} = {} now (the kernel has {})", self.key, self.value, self.current),
            destructive: false,
            commands: vec![format!("write {:?} to {} and read it back", self.value, path.display())],
            preconditions: Vec::new(),
            drift: Some(Drift {
                object: format!("sysctl {}", self.key),
                path: Some(path),
                expected: self.value.clone(),
                actual: self.current.clone(),
            }),
        }
    }

    fn simulate(&self, state: &mut SysctlObserved) {
        state.live.insert(self.key.clone(), self.value.clone());
    }

    fn recheck(&self, _ctx: &Context<'_>) -> jts_core::Result<()> {
        Ok(())
    }

    fn execute(&self, _ctx: &Context<'_>) -> jts_core::Result<()> {
        let path = proc_path(&self.key);
        std::fs::write(&path, format!("{}\n", self.value)).map_err(|err| jts_core::Error::io("write", &path, err))?;
        let now = std::fs::read_to_string(&path).map_err(|err| jts_core::Error::io("read", &path, err))?;
        if normalize(&now) != self.value {
            let why = format!(
                "the kernel reads back {} instead of {}: it clamps or rejects this value; choose one it keeps",
                normalize(&now),
                self.value
            );
            return Err(jts_core::Error::io("write", &path, std::io::Error::other(why)));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(text: &str) -> BTreeMap<String, Spanned<SysctlValue>> {
        #[derive(Deserialize)]
        struct Doc {
            sysctl: BTreeMap<String, Spanned<SysctlValue>>,
        }
        toml::from_str::<Doc>(text).unwrap().sysctl
    }

    #[test]
    fn known_keys_pass_and_unknown_or_unquoted_ones_are_errors_with_the_fix() {
        let spec = raw(
            "[sysctl]\n\"net.core.rmem_max\" = 16777216\n\"vm.nope_nope\" = 1\nnet.core.wmem_max = 1\n\"../x\" = 1\n",
        );
        let errors: Vec<String> = check_sysctl(&spec).iter().map(ToString::to_string).collect();
        assert_eq!(errors.len(), 3, "{errors:?}");
        let joined = errors.join("\n");
        assert!(joined.contains("quote it, e.g. \"net.core.rmem_max\""), "{joined}");
        assert!(joined.contains("this kernel has no vm.nope_nope"), "{joined}");
        assert!(joined.contains("\"../x\" is not a sysctl key"), "{joined}");
    }

    #[test]
    fn the_drop_in_lists_each_key_once_in_order() {
        let settings = settings(&raw(
            "[sysctl]\n\"net.ipv4.tcp_rmem\" = \"4096  87380 16777216\"\n\"net.core.rmem_max\" = 16777216\n",
        ));
        let file = drop_in(&settings).unwrap();
        assert_eq!(file.path.to_string(), DROP_IN);
        assert!(
            file.contents.ends_with("net.core.rmem_max = 16777216\nnet.ipv4.tcp_rmem = 4096 87380 16777216\n"),
            "{}",
            file.contents
        );
        assert!(drop_in(&BTreeMap::new()).is_none());
    }

    #[test]
    fn only_a_live_host_with_a_different_value_gets_a_step() {
        let settings = BTreeMap::from([("net.core.rmem_max".to_owned(), "16777216".to_owned())]);
        let observed = SysctlObserved { live: BTreeMap::from([("net.core.rmem_max".to_owned(), "212992".to_owned())]) };
        let steps = plan_sysctl(&settings, &observed);
        assert_eq!(steps.len(), 1);
        let under_root = observe_sysctl(&Root::new("/tmp/r").unwrap(), &settings);
        assert!(plan_sysctl(&settings, &under_root).is_empty(), "not applied live under --root");
        let mut after = observed.clone();
        steps[0].simulate(&mut after);
        assert!(plan_sysctl(&settings, &after).is_empty());
    }
}
