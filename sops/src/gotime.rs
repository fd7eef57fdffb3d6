//! The few Go `time` behaviours sops depends on: `time.Parse(time.RFC3339, …)` and
//! `Format(time.RFC3339)` for `lastmodified` (the additional data of the MAC), `MarshalText`
//! (RFC 3339 with nanoseconds) for timestamps, and go-yaml v3's plain-timestamp forms.

use std::fmt::Write as _;

/// An instant with the UTC offset it was written with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct GoTime {
    /// Seconds since the Unix epoch.
    pub unix: i64,
    /// Nanoseconds within the second.
    pub nanos: u32,
    /// Offset from UTC in seconds (east positive).
    pub offset: i32,
}

fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = i64::from(m);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = u32::try_from(doy - (153 * mp + 2) / 5 + 1).unwrap_or(1);
    let m = u32::try_from(if mp < 10 { mp + 3 } else { mp - 9 }).unwrap_or(1);
    (if m <= 2 { y + 1 } else { y }, m, d)
}

fn days_in_month(y: i64, m: u32) -> u32 {
    match m {
        2 if (y % 4 == 0 && y % 100 != 0) || y % 400 == 0 => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

struct Cursor<'a> {
    b: &'a [u8],
    i: usize,
}

impl Cursor<'_> {
    /// Between `min` and `max` digits.
    fn num(&mut self, min: usize, max: usize) -> Option<u32> {
        let start = self.i;
        while self.i < self.b.len() && self.i - start < max && self.b[self.i].is_ascii_digit() {
            self.i += 1;
        }
        if self.i - start < min {
            return None;
        }
        std::str::from_utf8(&self.b[start..self.i])
            .ok()?
            .parse()
            .ok()
    }
    fn lit(&mut self, c: u8) -> Option<()> {
        (self.b.get(self.i) == Some(&c)).then(|| self.i += 1)
    }
    fn peek(&self) -> Option<u8> {
        self.b.get(self.i).copied()
    }
    fn done(&self) -> bool {
        self.i == self.b.len()
    }
}

/// Fractional seconds after `.` (Go also accepts `,`): up to 9 digits kept, more ignored.
fn fraction(c: &mut Cursor<'_>) -> Option<u32> {
    if !matches!(c.peek(), Some(b'.' | b',')) {
        return Some(0);
    }
    let save = c.i;
    c.i += 1;
    let start = c.i;
    while c.peek().is_some_and(|d| d.is_ascii_digit()) {
        c.i += 1;
    }
    if c.i == start {
        c.i = save;
        return None;
    }
    let digits = &c.b[start..c.i];
    let mut n: u32 = 0;
    for k in 0..9 {
        n = n * 10 + digits.get(k).map_or(0, |d| u32::from(d - b'0'));
    }
    Some(n)
}

/// `Z` or `±hh:mm`.
fn zone(c: &mut Cursor<'_>) -> Option<i32> {
    match c.peek()? {
        b'Z' => {
            c.i += 1;
            Some(0)
        }
        sign @ (b'+' | b'-') => {
            c.i += 1;
            let h = c.num(2, 2)?;
            c.lit(b':')?;
            let m = c.num(2, 2)?;
            if h >= 24 || m >= 60 {
                return None;
            }
            let off = i32::try_from(h * 3600 + m * 60).ok()?;
            Some(if sign == b'-' { -off } else { off })
        }
        _ => None,
    }
}

#[allow(clippy::too_many_arguments, reason = "the fields of a civil time")]
fn build(
    y: u32,
    mo: u32,
    d: u32,
    h: u32,
    mi: u32,
    s: u32,
    nanos: u32,
    offset: i32,
) -> Option<GoTime> {
    let y = i64::from(y);
    if !(1..=12).contains(&mo) || d == 0 || d > days_in_month(y, mo) || h > 23 || mi > 59 || s > 59
    {
        return None;
    }
    let local = days_from_civil(y, mo, d) * 86_400
        + i64::from(h) * 3600
        + i64::from(mi) * 60
        + i64::from(s);
    Some(GoTime {
        unix: local - i64::from(offset),
        nanos,
        offset,
    })
}

impl GoTime {
    /// `time.Parse(time.RFC3339, s)`: `2006-01-02T15:04:05Z07:00`, fractional seconds allowed.
    pub fn parse_rfc3339(s: &str) -> Option<GoTime> {
        let mut c = Cursor {
            b: s.as_bytes(),
            i: 0,
        };
        let y = c.num(4, 4)?;
        c.lit(b'-')?;
        let mo = c.num(2, 2)?;
        c.lit(b'-')?;
        let d = c.num(2, 2)?;
        c.lit(b'T')?;
        let h = c.num(2, 2)?;
        c.lit(b':')?;
        let mi = c.num(2, 2)?;
        c.lit(b':')?;
        let sec = c.num(2, 2)?;
        let nanos = fraction(&mut c)?;
        let off = zone(&mut c)?;
        c.done().then_some(())?;
        build(y, mo, d, h, mi, sec, nanos, off)
    }

    /// go-yaml v3's plain timestamps: `2006-1-2T15:4:5.999999999Z07:00` (or with `t`),
    /// `2006-1-2 15:4:5.999999999` (UTC) and `2006-1-2` (UTC midnight).
    pub fn parse_yaml(s: &str) -> Option<GoTime> {
        let b = s.as_bytes();
        if b.len() < 5 || !b[..4].iter().all(u8::is_ascii_digit) || b[4] != b'-' {
            return None;
        }
        let mut c = Cursor { b, i: 0 };
        let y = c.num(4, 4)?;
        c.lit(b'-')?;
        let mo = c.num(1, 2)?;
        c.lit(b'-')?;
        let d = c.num(1, 2)?;
        if c.done() {
            return build(y, mo, d, 0, 0, 0, 0, 0);
        }
        let sep = c.peek()?;
        c.i += 1;
        let h = c.num(1, 2)?;
        c.lit(b':')?;
        let mi = c.num(1, 2)?;
        c.lit(b':')?;
        let sec = c.num(1, 2)?;
        let nanos = fraction(&mut c)?;
        let off = match sep {
            b'T' | b't' => zone(&mut c)?,
            b' ' => 0,
            _ => return None,
        };
        c.done().then_some(())?;
        build(y, mo, d, h, mi, sec, nanos, off)
    }

    fn civil(&self) -> (i64, u32, u32, u32, u32, u32) {
        let local = self.unix + i64::from(self.offset);
        let days = local.div_euclid(86_400);
        let secs = local.rem_euclid(86_400);
        let (y, m, d) = civil_from_days(days);
        let h = u32::try_from(secs / 3600).unwrap_or(0);
        let mi = u32::try_from(secs % 3600 / 60).unwrap_or(0);
        let s = u32::try_from(secs % 60).unwrap_or(0);
        (y, m, d, h, mi, s)
    }

    fn format(&self, nanos: bool) -> String {
        let (y, m, d, h, mi, s) = self.civil();
        let mut out = format!("{y:04}-{m:02}-{d:02}T{h:02}:{mi:02}:{s:02}");
        if nanos && self.nanos > 0 {
            let frac = format!("{:09}", self.nanos);
            let _ = write!(out, ".{}", frac.trim_end_matches('0'));
        }
        if self.offset == 0 {
            out.push('Z');
        } else {
            let sign = if self.offset < 0 { '-' } else { '+' };
            let a = self.offset.unsigned_abs();
            let _ = write!(out, "{sign}{:02}:{:02}", a / 3600, a % 3600 / 60);
        }
        out
    }

    /// `Format(time.RFC3339)`: no fractional seconds.
    pub fn rfc3339(&self) -> String {
        self.format(false)
    }

    /// `MarshalText`, `Format(time.RFC3339Nano)`: fractional seconds without trailing zeros.
    pub fn rfc3339_nano(&self) -> String {
        self.format(true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_should_round_trip_as_go_formats_it() {
        let t = GoTime::parse_rfc3339("2024-02-29T23:59:58Z").unwrap();
        assert_eq!(t.unix, 1_709_251_198);
        assert_eq!(t.rfc3339(), "2024-02-29T23:59:58Z");
        let t = GoTime::parse_rfc3339("2024-01-01T01:02:03.500+02:00").unwrap();
        assert_eq!(
            t.rfc3339(),
            "2024-01-01T01:02:03+02:00",
            "fractions dropped"
        );
        assert_eq!(t.rfc3339_nano(), "2024-01-01T01:02:03.5+02:00");
        assert_eq!(
            GoTime::parse_rfc3339("2024-01-01T00:00:00+00:00")
                .unwrap()
                .rfc3339(),
            "2024-01-01T00:00:00Z"
        );
        for bad in [
            "2024-1-01T00:00:00Z",
            "2024-02-30T00:00:00Z",
            "2024-01-01 00:00:00Z",
            "2024-01-01T00:00:00",
            "2024-01-01T24:00:00Z",
            "2024-01-01T00:00:00Zx",
        ] {
            assert!(GoTime::parse_rfc3339(bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn yaml_timestamps_should_follow_go_yaml_v3() {
        assert_eq!(
            GoTime::parse_yaml("2024-01-02").unwrap().rfc3339_nano(),
            "2024-01-02T00:00:00Z"
        );
        assert_eq!(
            GoTime::parse_yaml("2024-1-2 3:4:5.25")
                .unwrap()
                .rfc3339_nano(),
            "2024-01-02T03:04:05.25Z"
        );
        assert_eq!(
            GoTime::parse_yaml("2001-12-14t21:59:43.10-05:00")
                .unwrap()
                .rfc3339_nano(),
            "2001-12-14T21:59:43.1-05:00"
        );
        for no in [
            "2024",
            "24-01-01",
            "2024-01-01T",
            "2024-13-01",
            "2024-01-01x",
        ] {
            assert!(GoTime::parse_yaml(no).is_none(), "{no}");
        }
    }

    #[test]
    fn dates_before_the_epoch_should_format() {
        let t = GoTime::parse_rfc3339("1969-12-31T23:59:59Z").unwrap();
        assert_eq!(t.unix, -1);
        assert_eq!(t.rfc3339(), "1969-12-31T23:59:59Z");
    }
}
