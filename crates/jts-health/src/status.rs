//! [`Status`] and its roll-up, and [`Thresholds`]: how a usage percentage becomes a status.

use std::cmp::Ordering;
use std::fmt;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// The health of one probe, a tier, or the whole host, in the monitoring-plugin
/// convention.
///
/// Statuses are ordered by severity, **Ok < Warning < Unknown < Critical**, and a roll-up
/// takes the worst ([`Status::worst`]). Unknown ranks above Warning because "we could
/// not tell" deserves more attention than a known warning, and below Critical so that a
/// probe we could not read never hides one we know is critical.
///
/// The numeric [`Status::code`] is the plugin exit code (0 OK, 1 WARNING, 2 CRITICAL,
/// 3 UNKNOWN), which is **not** the severity order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Everything within limits.
    #[default]
    Ok,
    /// At or above a warning threshold, or a drift that does not stop service.
    Warning,
    /// At or above a critical threshold, not mounted, read-only, or not responding.
    Critical,
    /// The probe could not tell (e.g. the mount table could not be read).
    Unknown,
}

impl Status {
    /// Every status, in severity order.
    pub const ALL: [Status; 4] = [Status::Ok, Status::Warning, Status::Unknown, Status::Critical];

    /// Rank in the severity order: Ok 0, Warning 1, Unknown 2, Critical 3.
    pub fn severity(self) -> u8 {
        match self {
            Status::Ok => 0,
            Status::Warning => 1,
            Status::Unknown => 2,
            Status::Critical => 3,
        }
    }

    /// The monitoring-plugin exit code: 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN. Also the
    /// value of the `jts_*_status` Prometheus gauges.
    pub fn code(self) -> u8 {
        match self {
            Status::Ok => 0,
            Status::Warning => 1,
            Status::Critical => 2,
            Status::Unknown => 3,
        }
    }

    /// The upper-case name a monitoring plugin prints: `OK`, `WARNING`, `CRITICAL`, `UNKNOWN`.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Ok => "OK",
            Status::Warning => "WARNING",
            Status::Critical => "CRITICAL",
            Status::Unknown => "UNKNOWN",
        }
    }

    /// The worse of two statuses.
    #[must_use]
    pub fn and(self, other: Status) -> Status {
        self.max(other)
    }

    /// The worst of many statuses; [`Status::Ok`] for none.
    pub fn worst(statuses: impl IntoIterator<Item = Status>) -> Status {
        statuses.into_iter().max().unwrap_or(Status::Ok)
    }
}

impl PartialOrd for Status {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Status {
    fn cmp(&self, other: &Self) -> Ordering {
        self.severity().cmp(&other.severity())
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Warning and critical levels for a usage percentage (bytes or inodes).
///
/// **Classification**, with `p` the unrounded percentage used:
/// - `p >= crit_percent` is [`Status::Critical`];
/// - otherwise `p >= warn_percent` is [`Status::Warning`];
/// - otherwise [`Status::Ok`]; a NaN is [`Status::Unknown`].
///
/// A value *exactly at* a threshold therefore takes that threshold's status (85.0 with
/// `warn_percent = 85` is WARNING, 84.99 is OK). The critical test comes first, which is
/// the fix for the seeds' monitor: it tested `> 80` before `> 90`, so CRITICAL never fired.
///
/// ```
/// use jts_health::{Status, Thresholds};
///
/// let seeds = Thresholds::new(80.0, 90.0).unwrap();
/// assert_eq!(seeds.classify(85.0), Status::Warning);
/// assert_eq!(seeds.classify(95.0), Status::Critical);
/// assert_eq!(seeds.classify(90.0), Status::Critical);
/// assert_eq!(seeds.classify(79.9), Status::Ok);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "RawThresholds", deny_unknown_fields)]
pub struct Thresholds {
    warn_percent: f64,
    crit_percent: f64,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawThresholds {
    warn_percent: f64,
    crit_percent: f64,
}

impl TryFrom<RawThresholds> for Thresholds {
    type Error = Error;

    fn try_from(raw: RawThresholds) -> Result<Self> {
        Thresholds::new(raw.warn_percent, raw.crit_percent)
    }
}

impl Default for Thresholds {
    /// The seeds' policy: warn at 80 %, critical at 90 %.
    fn default() -> Self {
        Self { warn_percent: 80.0, crit_percent: 90.0 }
    }
}

impl Thresholds {
    /// Thresholds with `0 <= warn_percent <= crit_percent <= 100`.
    pub fn new(warn_percent: f64, crit_percent: f64) -> Result<Self> {
        let invalid = |reason| Err(Error::InvalidThresholds { warn: warn_percent, crit: crit_percent, reason });
        if !(warn_percent.is_finite() && crit_percent.is_finite()) {
            return invalid("both must be finite numbers");
        }
        if !(0.0..=100.0).contains(&warn_percent) || !(0.0..=100.0).contains(&crit_percent) {
            return invalid("both must be between 0 and 100");
        }
        if warn_percent > crit_percent {
            return invalid("warn_percent is above crit_percent");
        }
        Ok(Self { warn_percent, crit_percent })
    }

    /// The warning level, in percent.
    pub fn warn_percent(&self) -> f64 {
        self.warn_percent
    }

    /// The critical level, in percent.
    pub fn crit_percent(&self) -> f64 {
        self.crit_percent
    }

    /// The status of `percent` used; see the type's documentation for values at a threshold.
    pub fn classify(&self, percent: f64) -> Status {
        if percent.is_nan() {
            Status::Unknown
        } else if percent >= self.crit_percent {
            Status::Critical
        } else if percent >= self.warn_percent {
            Status::Warning
        } else {
            Status::Ok
        }
    }
}

/// Warning and critical levels for a *free* percentage (a volume group's free space):
/// less free is worse.
///
/// **Classification**, with `f` the unrounded percentage free:
/// - `f <= crit_below_percent` is [`Status::Critical`];
/// - otherwise `f <= warn_below_percent` is [`Status::Warning`];
/// - otherwise [`Status::Ok`]; a NaN is [`Status::Unknown`].
///
/// A value exactly at a threshold takes that threshold's status, as with [`Thresholds`].
///
/// ```
/// use jts_health::{FreeThresholds, Status};
///
/// let vg = FreeThresholds::default(); // warn at 10 % free, critical at 5 %
/// assert_eq!(vg.classify(25.0), Status::Ok);
/// assert_eq!(vg.classify(10.0), Status::Warning);
/// assert_eq!(vg.classify(4.0), Status::Critical);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct FreeThresholds {
    warn_below_percent: f64,
    crit_below_percent: f64,
}

impl Default for FreeThresholds {
    /// Warn at 10 % free, critical at 5 % free.
    fn default() -> Self {
        Self { warn_below_percent: 10.0, crit_below_percent: 5.0 }
    }
}

impl FreeThresholds {
    /// Thresholds with `0 <= crit_below_percent <= warn_below_percent <= 100`.
    pub fn new(warn_below_percent: f64, crit_below_percent: f64) -> Result<Self> {
        let ok = warn_below_percent.is_finite()
            && crit_below_percent.is_finite()
            && (0.0..=100.0).contains(&warn_below_percent)
            && (0.0..=100.0).contains(&crit_below_percent)
            && crit_below_percent <= warn_below_percent;
        if !ok {
            return Err(Error::InvalidConfig(format!(
                "free-space thresholds warn below {warn_below_percent}%, critical below {crit_below_percent}%: \
                 write 0 <= critical <= warn <= 100, e.g. vg_free_warn_percent = 10, vg_free_crit_percent = 5"
            )));
        }
        Ok(Self { warn_below_percent, crit_below_percent })
    }

    /// Free percentage at or below which the status is WARNING.
    pub fn warn_below_percent(&self) -> f64 {
        self.warn_below_percent
    }

    /// Free percentage at or below which the status is CRITICAL.
    pub fn crit_below_percent(&self) -> f64 {
        self.crit_below_percent
    }

    /// The status of `free_percent` free.
    pub fn classify(&self, free_percent: f64) -> Status {
        if free_percent.is_nan() {
            Status::Unknown
        } else if free_percent <= self.crit_below_percent {
            Status::Critical
        } else if free_percent <= self.warn_below_percent {
            Status::Warning
        } else {
            Status::Ok
        }
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn thresholds() -> impl Strategy<Value = Thresholds> {
        (0.0..=100.0f64, 0.0..=100.0f64).prop_map(|(a, b)| Thresholds::new(a.min(b), a.max(b)).unwrap())
    }

    proptest! {
        #[test]
        fn more_usage_never_lowers_severity(t in thresholds(), a in -10.0..110.0f64, b in -10.0..110.0f64) {
            let (low, high) = (a.min(b), a.max(b));
            prop_assert!(t.classify(low) <= t.classify(high), "{t:?}: {low} -> {:?}, {high} -> {:?}",
                t.classify(low), t.classify(high));
        }

        #[test]
        fn values_exactly_at_a_threshold_take_its_status(t in thresholds()) {
            prop_assert_eq!(t.classify(t.crit_percent()), Status::Critical);
            if t.warn_percent() < t.crit_percent() {
                prop_assert_eq!(t.classify(t.warn_percent()), Status::Warning);
                let below_crit = t.crit_percent() - (t.crit_percent() - t.warn_percent()) / 2.0;
                prop_assert!(t.classify(below_crit) == Status::Warning || below_crit >= t.crit_percent());
            }
            if t.warn_percent() > 0.0 {
                let below = t.warn_percent() - f64::EPSILON * 128.0;
                prop_assert_eq!(t.classify(below), Status::Ok);
            }
        }

        #[test]
        fn less_free_space_never_lowers_severity(a in 0.0..=100.0f64, b in 0.0..=100.0f64,
                                                 x in -10.0..110.0f64, y in -10.0..110.0f64) {
            let t = FreeThresholds::new(a.max(b), a.min(b)).unwrap();
            let (less, more) = (x.min(y), x.max(y));
            prop_assert!(t.classify(less) >= t.classify(more));
            prop_assert_eq!(t.classify(t.crit_below_percent()), Status::Critical);
            if t.crit_below_percent() < t.warn_below_percent() {
                prop_assert_eq!(t.classify(t.warn_below_percent()), Status::Warning);
            }
        }

        #[test]
        fn the_worst_status_wins(list in proptest::collection::vec(proptest::sample::select(Status::ALL.to_vec()), 0..8)) {
            let worst = Status::worst(list.clone());
            prop_assert!(list.iter().all(|s| *s <= worst));
            prop_assert!(list.is_empty() || list.contains(&worst));
        }
    }

    #[test]
    fn the_seeds_policy_fires_warning_and_critical() {
        let seeds = Thresholds::default();
        assert_eq!((seeds.warn_percent(), seeds.crit_percent()), (80.0, 90.0));
        assert_eq!(seeds.classify(50.0), Status::Ok);
        assert_eq!(seeds.classify(80.0), Status::Warning);
        assert_eq!(seeds.classify(85.0), Status::Warning);
        assert_eq!(seeds.classify(90.0), Status::Critical, "the seeds tested > 80 first and never got here");
        assert_eq!(seeds.classify(95.0), Status::Critical);
        assert_eq!(seeds.classify(100.0), Status::Critical);
        assert_eq!(seeds.classify(f64::NAN), Status::Unknown);
    }

    #[test]
    fn invalid_thresholds_are_refused_with_the_fix() {
        let err = Thresholds::new(90.0, 80.0).unwrap_err().to_string();
        assert!(err.contains("warn_percent is above crit_percent") && err.contains("e.g. 80 and 90"), "{err}");
        assert!(Thresholds::new(-1.0, 50.0).is_err());
        assert!(Thresholds::new(50.0, f64::NAN).is_err());
        assert!(serde_json::from_str::<Thresholds>(r#"{"warn_percent":95,"crit_percent":90}"#).is_err());
        let ok: Thresholds = serde_json::from_str(r#"{"warn_percent":70,"crit_percent":85}"#).unwrap();
        assert_eq!(ok, Thresholds::new(70.0, 85.0).unwrap());
    }

    #[test]
    fn severity_order_and_exit_codes() {
        assert!(Status::Ok < Status::Warning && Status::Warning < Status::Unknown);
        assert!(Status::Unknown < Status::Critical);
        assert_eq!(Status::ALL.map(Status::code), [0, 1, 3, 2]);
        assert_eq!(Status::worst([Status::Unknown, Status::Critical, Status::Ok]), Status::Critical);
        assert_eq!(Status::worst([]), Status::Ok);
        assert_eq!(serde_json::to_string(&Status::Critical).unwrap(), r#""critical""#);
    }
}
