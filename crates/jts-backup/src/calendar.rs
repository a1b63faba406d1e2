//! UTC calendar arithmetic for archive ids and retention periods, without a time-zone
//! database: Howard Hinnant's `civil_from_days` and `days_from_civil`.

/// A UTC date and time of day.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Civil {
    pub(crate) year: i64,
    pub(crate) month: i64,
    pub(crate) day: i64,
    pub(crate) hour: i64,
    pub(crate) minute: i64,
    pub(crate) second: i64,
}

impl Civil {
    /// The UTC date and time of Unix time `unix`.
    pub(crate) fn from_unix(unix: i64) -> Self {
        let days = unix.div_euclid(86_400);
        let secs = unix.rem_euclid(86_400);
        let z = days + 719_468;
        let era = z.div_euclid(146_097);
        let doe = z - era * 146_097;
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
        let mp = (5 * doy + 2) / 153;
        let day = doy - (153 * mp + 2) / 5 + 1;
        let month = if mp < 10 { mp + 3 } else { mp - 9 };
        let year = yoe + era * 400 + i64::from(month <= 2);
        Self { year, month, day, hour: secs / 3600, minute: secs / 60 % 60, second: secs % 60 }
    }

    /// Unix time of this date and time; `None` for a date that does not exist.
    pub(crate) fn to_unix(self) -> Option<i64> {
        let valid = (1..=12).contains(&self.month)
            && (1..=days_in_month(self.year, self.month)).contains(&self.day)
            && (0..24).contains(&self.hour)
            && (0..60).contains(&self.minute)
            && (0..60).contains(&self.second);
        valid.then(|| {
            days_from_civil(self.year, self.month, self.day) * 86_400
                + self.hour * 3600
                + self.minute * 60
                + self.second
        })
    }

    /// The ISO 8601 week-numbering year and week (weeks start on Monday; week 1 holds
    /// the year's first Thursday).
    pub(crate) fn iso_week(self) -> (i64, i64) {
        let days = days_from_civil(self.year, self.month, self.day);
        let weekday = (days + 3).rem_euclid(7); // 0 = Monday; 1970-01-01 was a Thursday
        let thursday = days - weekday + 3;
        let year = Self::from_unix(thursday * 86_400).year;
        let first = days_from_civil(year, 1, 1);
        (year, (thursday - first) / 7 + 1)
    }
}

fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn days_in_month(year: i64, month: i64) -> i64 {
    match month {
        2 if year % 4 == 0 && (year % 100 != 0 || year % 400 == 0) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// The id of an archive taken at `unix`: `YYYYMMDDTHHMMSSZ` (UTC).
pub fn archive_id(unix: i64) -> String {
    let c = Civil::from_unix(unix);
    format!("{:04}{:02}{:02}T{:02}{:02}{:02}Z", c.year, c.month, c.day, c.hour, c.minute, c.second)
}

/// The Unix time of an archive id; `None` when `id` is not one.
pub fn parse_archive_id(id: &str) -> Option<i64> {
    let b = id.as_bytes();
    if b.len() != 16
        || b[8] != b'T'
        || b[15] != b'Z'
        || !id[..8].bytes().chain(id[9..15].bytes()).all(|c| c.is_ascii_digit())
    {
        return None;
    }
    let n = |range: std::ops::Range<usize>| id[range].parse::<i64>().ok();
    Civil { year: n(0..4)?, month: n(4..6)?, day: n(6..8)?, hour: n(9..11)?, minute: n(11..13)?, second: n(13..15)? }
        .to_unix()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_round_trip_and_match_date() {
        // `date -u -d @1764803045 +%Y%m%dT%H%M%SZ`
        assert_eq!(archive_id(1_764_803_045), "20251203T230405Z");
        assert_eq!(parse_archive_id("20251203T230405Z"), Some(1_764_803_045));
        assert_eq!(parse_archive_id("20250230T000000Z"), None);
        assert_eq!(parse_archive_id("2025-12-03"), None);
        for unix in [0, 951_782_400, 4_102_444_799, 1_000_000_007] {
            assert_eq!(parse_archive_id(&archive_id(unix)), Some(unix));
        }
    }

    #[test]
    fn iso_weeks_match_date() {
        // `date -u -d 2021-01-03 +%G-%V` is 2020-53; 2024-12-30 is 2025-01.
        let week = |y, m, d| Civil { year: y, month: m, day: d, hour: 0, minute: 0, second: 0 }.iso_week();
        assert_eq!(week(2021, 1, 3), (2020, 53));
        assert_eq!(week(2021, 1, 4), (2021, 1));
        assert_eq!(week(2024, 12, 30), (2025, 1));
        assert_eq!(week(2026, 12, 3), (2026, 49));
    }
}
