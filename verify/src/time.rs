//! Calendar arithmetic for the few timestamps this crate reads: `allowed_signers` validity
//! options (`YYYYMMDD[HHMM[SS]][Z]`) and the seconds-since-epoch of git signatures.
//!
//! Hand-written (Howard Hinnant's `days_from_civil`) so the crate needs no date library.

use std::fmt;

/// Seconds since the Unix epoch, UTC. Git commit times may be negative (before 1970).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct UnixTime(pub i64);

impl UnixTime {
    /// `now`, as seconds since the epoch; a clock before 1970 counts as the epoch.
    pub fn from_system_time(time: std::time::SystemTime) -> Self {
        match time.duration_since(std::time::UNIX_EPOCH) {
            Ok(d) => UnixTime(i64::try_from(d.as_secs()).unwrap_or(i64::MAX)),
            Err(e) => UnixTime(-i64::try_from(e.duration().as_secs()).unwrap_or(i64::MAX)),
        }
    }
}

impl fmt::Display for UnixTime {
    /// RFC 3339 in UTC, `2024-01-15T12:00:00Z`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let days = self.0.div_euclid(86_400);
        let secs = self.0.rem_euclid(86_400);
        let (y, m, d) = civil_from_days(days);
        write!(
            f,
            "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
            secs / 3600,
            (secs / 60) % 60,
            secs % 60
        )
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date.
pub(crate) fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = i64::from(m);
    let mp = if m > 2 { m - 3 } else { m + 9 };
    let doy = (153 * mp + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The inverse of [`days_from_civil`].
pub(crate) fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

fn days_in_month(y: i64, m: u32) -> u32 {
    match m {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        _ if (y % 4 == 0 && y % 100 != 0) || y % 400 == 0 => 29,
        _ => 28,
    }
}

/// Parses an `allowed_signers` time, `YYYYMMDD[HHMM[SS]][Z]`, as ssh-keygen does.
///
/// ssh-keygen reads a time without `Z` in the local time zone of the machine; the agent runs in
/// UTC containers, so both forms are read as UTC here (documented in the crate docs).
///
/// # Errors
/// A message naming what is wrong with the value.
pub fn parse_ssh_time(value: &str) -> Result<UnixTime, String> {
    let digits = value.strip_suffix(['Z', 'z']).unwrap_or(value);
    if !digits.bytes().all(|b| b.is_ascii_digit()) || !matches!(digits.len(), 8 | 12 | 14) {
        return Err(format!(
            "`{value}` is not a time of the form YYYYMMDD[HHMM[SS]][Z]"
        ));
    }
    let num = |r: std::ops::Range<usize>| -> u32 {
        digits[r]
            .bytes()
            .fold(0, |acc, b| acc * 10 + u32::from(b - b'0'))
    };
    let (y, m, d) = (i64::from(num(0..4)), num(4..6), num(6..8));
    let (hh, mm, ss) = match digits.len() {
        8 => (0, 0, 0),
        12 => (num(8..10), num(10..12), 0),
        _ => (num(8..10), num(10..12), num(12..14)),
    };
    if !(1..=12).contains(&m) || d == 0 || d > days_in_month(y, m) || hh > 23 || mm > 59 || ss > 59
    {
        return Err(format!("`{value}` is not a valid date and time"));
    }
    let days = days_from_civil(y, m, d);
    Ok(UnixTime(
        days * 86_400 + i64::from(hh) * 3600 + i64::from(mm) * 60 + i64::from(ss),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn date_only_should_be_midnight_utc() {
        assert_eq!(parse_ssh_time("20240115"), Ok(UnixTime(1_705_276_800)));
        assert_eq!(parse_ssh_time("20240115Z"), Ok(UnixTime(1_705_276_800)));
    }

    #[test]
    fn hours_minutes_and_seconds_should_add_up() {
        assert_eq!(parse_ssh_time("202401151200"), Ok(UnixTime(1_705_320_000)));
        assert_eq!(
            parse_ssh_time("20240115120001Z"),
            Ok(UnixTime(1_705_320_001))
        );
    }

    #[test]
    fn epoch_and_leap_day_should_parse() {
        assert_eq!(parse_ssh_time("19700101"), Ok(UnixTime(0)));
        assert_eq!(parse_ssh_time("20240229"), Ok(UnixTime(1_709_164_800)));
    }

    #[test]
    fn impossible_dates_should_be_refused() {
        for bad in [
            "20230229",
            "20241301",
            "20240100",
            "20240132",
            "202401152400",
            "2024011512",
            "2024-01-15",
            "",
            "Z",
            "20240115ZZ",
            "+0240115",
        ] {
            assert!(parse_ssh_time(bad).is_err(), "{bad} should be refused");
        }
    }

    #[test]
    fn display_should_be_rfc3339_utc() {
        assert_eq!(UnixTime(1_705_320_000).to_string(), "2024-01-15T12:00:00Z");
        assert_eq!(UnixTime(-1).to_string(), "1969-12-31T23:59:59Z");
    }

    #[test]
    fn civil_round_trip_should_hold_over_centuries() {
        for days in (-800_000..800_000).step_by(997) {
            let (y, m, d) = civil_from_days(days);
            assert_eq!(days_from_civil(y, m, d), days);
        }
    }
}
