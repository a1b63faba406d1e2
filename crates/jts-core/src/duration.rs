//! Durations as written in a spec: `"30s"`, `"15m"`, `"12h"`, `"7d"`, `"2w"`.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use crate::error::{Error, Result};

/// A whole number of seconds, written with the largest unit that divides it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct SpecDuration(u64);

const UNITS: [(&str, u64); 5] = [("w", 604_800), ("d", 86_400), ("h", 3_600), ("m", 60), ("s", 1)];

impl SpecDuration {
    /// A duration of `seconds` seconds.
    pub const fn from_secs(seconds: u64) -> Self {
        Self(seconds)
    }

    /// The whole seconds.
    pub const fn as_secs(self) -> u64 {
        self.0
    }
}

impl From<SpecDuration> for Duration {
    fn from(value: SpecDuration) -> Self {
        Duration::from_secs(value.0)
    }
}

impl FromStr for SpecDuration {
    type Err = Error;

    fn from_str(input: &str) -> Result<Self> {
        let invalid = |reason| Error::InvalidDuration { input: input.to_owned(), reason };
        let trimmed = input.trim();
        let digits_end = trimmed.find(|c: char| !c.is_ascii_digit()).unwrap_or(trimmed.len());
        let (digits, unit) = trimmed.split_at(digits_end);
        if digits.is_empty() {
            return Err(invalid("it does not start with a number"));
        }
        let factor = UNITS
            .iter()
            .find(|(name, _)| *name == unit)
            .map(|(_, factor)| *factor)
            .ok_or_else(|| invalid("missing or unknown unit"))?;
        let number: u64 = digits.parse().map_err(|_| invalid("the number is too large"))?;
        number.checked_mul(factor).map(Self).ok_or_else(|| invalid("the duration overflows"))
    }
}

impl fmt::Display for SpecDuration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (unit, factor) = UNITS.iter().find(|(_, factor)| self.0 % factor == 0 && self.0 != 0).unwrap_or(&("s", 1));
        write!(f, "{}{unit}", self.0 / factor)
    }
}

crate::serde_via_str!(SpecDuration);

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn parses_each_unit() {
        assert_eq!("30s".parse::<SpecDuration>().unwrap().as_secs(), 30);
        assert_eq!("15m".parse::<SpecDuration>().unwrap().as_secs(), 900);
        assert_eq!("12h".parse::<SpecDuration>().unwrap().as_secs(), 43_200);
        assert_eq!("7d".parse::<SpecDuration>().unwrap().as_secs(), 604_800);
        assert_eq!("7d".parse::<SpecDuration>().unwrap().to_string(), "1w");
    }

    #[test]
    fn rejects_missing_units() {
        for bad in ["7", "d", "7 days", "1.5h", ""] {
            assert!(bad.parse::<SpecDuration>().is_err(), "{bad}");
        }
    }

    proptest! {
        #[test]
        fn display_then_parse_round_trips(secs in 0u64..(u64::MAX / 1_000_000)) {
            let duration = SpecDuration::from_secs(secs);
            prop_assert_eq!(duration.to_string().parse::<SpecDuration>().unwrap(), duration);
        }
    }
}
