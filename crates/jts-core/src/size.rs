//! Byte sizes as written in a spec: `"800GiB"`, `"4M"`, `"500GB"`.
//!
//! `K`/`M`/`G`/`T`/`P` and `KiB`…`PiB` are powers of 1024, as LVM reads them;
//! `KB`…`PB` are powers of 1000. A bare number, or one ending in `B`, is bytes.

use std::fmt;
use std::str::FromStr;

use crate::error::{Error, Result};

/// A number of bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Size(u64);

const BINARY: [(&str, u64); 5] =
    [("PiB", 1 << 50), ("TiB", 1 << 40), ("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)];

impl Size {
    /// A size of `bytes` bytes.
    pub const fn from_bytes(bytes: u64) -> Self {
        Self(bytes)
    }

    /// The number of bytes.
    pub const fn bytes(self) -> u64 {
        self.0
    }
}

fn unit_factor(unit: &str) -> Option<u64> {
    let factor = match unit {
        "" | "B" => 1,
        "K" | "KiB" => 1 << 10,
        "M" | "MiB" => 1 << 20,
        "G" | "GiB" => 1 << 30,
        "T" | "TiB" => 1 << 40,
        "P" | "PiB" => 1 << 50,
        "KB" => 1_000,
        "MB" => 1_000_000,
        "GB" => 1_000_000_000,
        "TB" => 1_000_000_000_000,
        "PB" => 1_000_000_000_000_000,
        _ => return None,
    };
    Some(factor)
}

impl FromStr for Size {
    type Err = Error;

    fn from_str(input: &str) -> Result<Self> {
        let invalid = |reason| Error::InvalidSize { input: input.to_owned(), reason };
        let trimmed = input.trim();
        let digits_end = trimmed.find(|c: char| !c.is_ascii_digit()).unwrap_or(trimmed.len());
        let (digits, unit) = trimmed.split_at(digits_end);
        if digits.is_empty() {
            return Err(invalid("it does not start with a number"));
        }
        if unit.starts_with('.') {
            return Err(invalid("fractions are not accepted, use a smaller unit"));
        }
        let factor = unit_factor(unit.trim_start()).ok_or_else(|| invalid("unknown unit"))?;
        let number: u64 = digits.parse().map_err(|_| invalid("the number is too large"))?;
        number.checked_mul(factor).map(Self).ok_or_else(|| invalid("the size overflows 64 bits"))
    }
}

impl fmt::Display for Size {
    /// Prints the largest binary unit that divides the size exactly, else bytes.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0 != 0 {
            for (unit, factor) in BINARY {
                if self.0 % factor == 0 {
                    return write!(f, "{}{unit}", self.0 / factor);
                }
            }
        }
        write!(f, "{}B", self.0)
    }
}

/// A duration for messages and tables, to two units: `42s`, `5m 2s`, `5h 2m`, `3d 4h`.
pub fn human_duration(seconds: u64) -> String {
    let s = seconds;
    match s {
        0..60 => format!("{s}s"),
        60..3600 => format!("{}m {}s", s / 60, s % 60),
        3600..86400 => format!("{}h {}m", s / 3600, (s % 3600) / 60),
        _ => format!("{}d {}h", s / 86400, (s % 86400) / 3600),
    }
}

/// A byte count for messages and tables: `512 B`, `300 MiB`, `1.5 GiB` (tenths truncated,
/// never rounded up past what is there).
pub fn human_bytes(bytes: u64) -> String {
    const UNITS: [(&str, u64); 4] = [("TiB", 1 << 40), ("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)];
    for (unit, factor) in UNITS {
        if bytes >= factor {
            let whole = bytes / factor;
            let tenths = (bytes % factor) * 10 / factor;
            return if tenths == 0 { format!("{whole} {unit}") } else { format!("{whole}.{tenths} {unit}") };
        }
    }
    format!("{bytes} B")
}

crate::serde_via_str!(Size);

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn humans_read_sizes() {
        assert_eq!(human_bytes(300 << 20), "300 MiB");
        assert_eq!(human_bytes(3 << 29), "1.5 GiB");
        assert_eq!(human_bytes(12), "12 B");
    }

    #[test]
    fn parses_binary_and_decimal_units() {
        assert_eq!("4MiB".parse::<Size>().unwrap().bytes(), 4 << 20);
        assert_eq!("4M".parse::<Size>().unwrap().bytes(), 4 << 20);
        assert_eq!("800GiB".parse::<Size>().unwrap().bytes(), 800 << 30);
        assert_eq!("500GB".parse::<Size>().unwrap().bytes(), 500_000_000_000);
        assert_eq!("512".parse::<Size>().unwrap().bytes(), 512);
        assert_eq!("512B".parse::<Size>().unwrap().bytes(), 512);
    }

    #[test]
    fn rejects_bad_sizes_with_reason() {
        for bad in ["", "GiB", "1.5G", "4 parsecs", "-1G", "99999999999P"] {
            let err = bad.parse::<Size>().unwrap_err().to_string();
            assert!(err.contains("invalid size"), "{bad}: {err}");
        }
        assert!("1.5G".parse::<Size>().unwrap_err().to_string().contains("fractions"));
    }

    #[test]
    fn prints_largest_exact_unit() {
        assert_eq!(Size::from_bytes(4 << 20).to_string(), "4MiB");
        assert_eq!(Size::from_bytes(1536 << 20).to_string(), "1536MiB");
        assert_eq!(Size::from_bytes(500_000_000_000).to_string(), "488281250KiB");
        assert_eq!(Size::from_bytes(1001).to_string(), "1001B");
        assert_eq!(Size::from_bytes(0).to_string(), "0B");
    }

    proptest! {
        #[test]
        fn display_then_parse_round_trips(bytes in any::<u64>()) {
            let size = Size::from_bytes(bytes);
            prop_assert_eq!(size.to_string().parse::<Size>().unwrap(), size);
        }

        #[test]
        fn parse_then_display_is_stable(n in 0u64..1_000_000, unit in prop::sample::select(vec!["", "B", "K", "MiB", "G", "TiB", "KB", "GB"])) {
            let text = format!("{n}{unit}");
            let size: Size = text.parse().unwrap();
            prop_assert_eq!(size.to_string().parse::<Size>().unwrap(), size);
        }
    }
}
