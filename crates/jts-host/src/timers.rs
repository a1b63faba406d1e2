//! Timers that are on: which rendered timers are enabled, and the step that enables
//! them (and, on a live host, reloads systemd and starts them).
//!
//! A timer is enabled when its `timers.target.wants/` link exists under the root: what
//! `systemctl enable` makes, read without following it. On a live host (the root is `/`
//! and systemd runs it) the step is `systemctl daemon-reload` then `systemctl enable
//! --now`; under another root, `systemctl --root DIR enable`, which only makes links.

use std::collections::BTreeSet;

use jts_core::{AbsPath, CmdSpec, Context, Drift, Root, Runner, Step, StepInfo, nofollow};
use serde::{Deserialize, Serialize};

/// What the machine has of the rendered timers.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct TimersObserved {
    /// The rendered timers that are enabled.
    #[serde(default)]
    pub enabled: BTreeSet<String>,
    /// Whether systemd runs this root: the root is `/` and `/run/systemd/system` exists.
    #[serde(default)]
    pub live: bool,
    /// The services of rendered timers whose last run failed, with systemd's `Result`
    /// (e.g. `exit-code`); live hosts only.
    #[serde(default)]
    pub last_run_failed: std::collections::BTreeMap<String, String>,
}

const UNIT_DIR: &str = "/etc/systemd/system";

/// Reads which of `timers` are enabled under `root`, and on a live host whose service's
/// last run failed.
pub fn observe_timers(root: &Root, timers: &[String], runner: &dyn Runner) -> crate::Result<TimersObserved> {
    let live = root.is_host() && std::path::Path::new("/run/systemd/system").is_dir();
    let mut observed = TimersObserved { live, ..TimersObserved::default() };
    for timer in timers {
        let link = AbsPath::new(format!("{UNIT_DIR}/timers.target.wants/{timer}"))?;
        if matches!(nofollow::lookup(root, &link)?, nofollow::Lookup::Found(_)) {
            observed.enabled.insert(timer.clone());
        }
        if live {
            let service = format!("{}.service", timer.trim_end_matches(".timer"));
            let cmd = CmdSpec::new("systemctl").arg("show").arg("--property=Result").arg("--value").arg(&service);
            let result = runner.run(&cmd).map(|out| out.stdout.trim().to_owned()).unwrap_or_default();
            if !result.is_empty() && result != "success" {
                observed.last_run_failed.insert(service, result);
            }
        }
    }
    Ok(observed)
}

/// Enables timers (and on a live host reloads systemd first and starts them).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnableTimers {
    /// The timers to enable, e.g. `jts-health.timer`.
    pub timers: Vec<String>,
    /// Reload systemd and start the timers now (a live host).
    pub live: bool,
}

/// The step that turns on the rendered `timers` not yet enabled; on a live host also the
/// reload that unit files written by the same plan (`units_written`) need.
pub(crate) fn plan_timers(timers: &[String], observed: &TimersObserved, units_written: bool) -> Option<EnableTimers> {
    let missing: Vec<String> = timers.iter().filter(|t| !observed.enabled.contains(*t)).cloned().collect();
    (!missing.is_empty() || (observed.live && units_written))
        .then_some(EnableTimers { timers: missing, live: observed.live })
}

impl EnableTimers {
    fn commands(&self, root: &Root) -> Vec<CmdSpec> {
        let mut commands = Vec::new();
        if self.live {
            commands.push(CmdSpec::new("systemctl").arg("daemon-reload"));
        }
        if !self.timers.is_empty() {
            let mut enable = CmdSpec::new("systemctl");
            if !self.live {
                enable = enable.arg("--root").arg(root.dir());
            }
            enable = enable.arg("enable");
            if self.live {
                enable = enable.arg("--now");
            }
            commands.push(self.timers.iter().fold(enable, |cmd, timer| cmd.arg(timer)));
        }
        commands
    }
}

impl Step for EnableTimers {
    type State = TimersObserved;
    type Error = jts_core::Error;

    fn info(&self, root: &Root) -> StepInfo {
        let description = match (self.timers.is_empty(), self.live) {
            (true, _) => "reload systemd: its unit files changed".to_owned(),
            (false, true) => format!("reload systemd, enable and start {}", self.timers.join(", ")),
            (false, false) => format!("enable {}", self.timers.join(", ")),
        };
        StepInfo {
            kind: "EnableTimers",
            object: if self.timers.is_empty() { "systemd".into() } else { self.timers.join(" ") },
            description,
            destructive: false,
            commands: self.commands(root).iter().map(CmdSpec::to_shell).collect(),
            preconditions: Vec::new(),
            drift: (!self.timers.is_empty()).then(|| Drift {
                object: format!("timers {}", self.timers.join(", ")),
                path: None,
                expected: "enabled".into(),
                actual: "disabled: nothing runs them unattended".into(),
            }),
        }
    }

    fn simulate(&self, state: &mut TimersObserved) {
        state.enabled.extend(self.timers.iter().cloned());
    }

    fn recheck(&self, _ctx: &Context<'_>) -> jts_core::Result<()> {
        Ok(())
    }

    fn execute(&self, ctx: &Context<'_>) -> jts_core::Result<()> {
        for cmd in self.commands(ctx.root) {
            ctx.runner.run(&cmd)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn only_disabled_timers_are_enabled_and_a_live_host_reloads_for_new_units() {
        let timers = names(&["jts-health.timer", "jts-tier.timer"]);
        let mut observed = TimersObserved::default();
        observed.enabled.insert("jts-health.timer".into());
        let step = plan_timers(&timers, &observed, true).unwrap();
        assert_eq!(step, EnableTimers { timers: names(&["jts-tier.timer"]), live: false });
        let root = Root::new("/tmp/r").unwrap();
        assert_eq!(step.info(&root).commands, ["systemctl --root /tmp/r enable jts-tier.timer"]);
        step.simulate(&mut observed);
        assert_eq!(plan_timers(&timers, &observed, false), None, "converged");

        let live = TimersObserved { live: true, enabled: observed.enabled.clone(), ..TimersObserved::default() };
        let reload = plan_timers(&timers, &live, true).unwrap();
        assert_eq!(reload.info(&Root::host()).commands, ["systemctl daemon-reload"]);
        assert!(reload.info(&Root::host()).drift.is_none(), "a reload is not drift");
        let fresh = TimersObserved { live: true, ..TimersObserved::default() };
        let start = plan_timers(&timers, &fresh, true).unwrap();
        assert_eq!(
            start.info(&Root::host()).commands,
            ["systemctl daemon-reload", "systemctl enable --now jts-health.timer jts-tier.timer"]
        );
    }
}
