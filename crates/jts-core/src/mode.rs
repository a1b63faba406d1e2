//! Permission modes written as octal strings: `"0750"`, `"2775"`, `"1777"`.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Permission bits including setuid (4000), setgid (2000) and sticky (1000).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Mode(u32);

impl Mode {
    /// The mode `bits`, truncated to `0o7777`.
    pub const fn new(bits: u32) -> Self {
        Self(bits & 0o7777)
    }

    /// The bits.
    pub const fn bits(self) -> u32 {
        self.0
    }

    /// The owner's `rwx` bits as an ACL permission triple (0–7).
    pub const fn user(self) -> u8 {
        ((self.0 >> 6) & 7) as u8
    }

    /// The group's `rwx` bits (0–7); under an ACL these are the mask.
    pub const fn group(self) -> u8 {
        ((self.0 >> 3) & 7) as u8
    }

    /// The others' `rwx` bits (0–7).
    pub const fn other(self) -> u8 {
        (self.0 & 7) as u8
    }

    /// The mode a regular file gets under a `recursive` directory: read and write bits
    /// as for the directory, execute bits only if the file was executable (like `chmod X`),
    /// and never setuid, setgid or sticky.
    pub const fn for_file(self, current: Mode) -> Mode {
        let exec = if current.0 & 0o111 != 0 { self.0 & 0o111 } else { 0 };
        Mode((self.0 & 0o666) | exec)
    }
}

impl fmt::Display for Mode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04o}", self.0)
    }
}

impl FromStr for Mode {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        let hint = "write it as an octal string of 3 or 4 digits, e.g. \"0750\" or \"2775\"";
        if !(3..=4).contains(&text.len()) {
            return Err(format!("invalid mode {text:?}: {hint}"));
        }
        if let Some(bad) = text.chars().find(|c| !('0'..='7').contains(c)) {
            return Err(format!("invalid mode {text:?}: {bad:?} is not an octal digit; {hint}"));
        }
        u32::from_str_radix(text, 8).map(Self).map_err(|_| format!("invalid mode {text:?}: {hint}"))
    }
}

impl Serialize for Mode {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Mode {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Text(String),
            Number(i64),
        }
        match Raw::deserialize(deserializer)? {
            Raw::Text(text) => text.parse().map_err(serde::de::Error::custom),
            Raw::Number(number) => Err(serde::de::Error::custom(format!(
                "mode {number} is a decimal number; quote it as an octal string, e.g. mode = \"0750\""
            ))),
        }
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    proptest! {
        #[test]
        fn display_then_parse_round_trips(bits in 0u32..=0o7777) {
            prop_assert_eq!(Mode::new(bits).to_string().parse::<Mode>().unwrap(), Mode::new(bits));
        }
    }

    #[test]
    fn parses_octal_strings() {
        assert_eq!("0750".parse::<Mode>().unwrap().bits(), 0o750);
        assert_eq!("750".parse::<Mode>().unwrap().bits(), 0o750);
        assert_eq!("2775".parse::<Mode>().unwrap().bits(), 0o2775);
        assert_eq!(Mode::new(0o750).to_string(), "0750");
    }

    #[test]
    fn rejects_non_octal() {
        assert!("0799".parse::<Mode>().unwrap_err().contains("'9' is not an octal digit"));
        assert!("75".parse::<Mode>().is_err());
        assert!("07500".parse::<Mode>().is_err());
        assert!("rwx".parse::<Mode>().is_err());
    }

    #[test]
    fn file_mode_follows_chmod_capital_x() {
        let dir = Mode::new(0o2750);
        assert_eq!(dir.for_file(Mode::new(0o644)), Mode::new(0o640));
        assert_eq!(dir.for_file(Mode::new(0o700)), Mode::new(0o750));
    }

    #[test]
    fn splits_into_acl_triples() {
        let mode = Mode::new(0o751);
        assert_eq!((mode.user(), mode.group(), mode.other()), (7, 5, 1));
    }
}
