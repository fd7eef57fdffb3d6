//! Sprig's date functions over a `time.Time` in UTC: `now`, `date`, `dateInZone`, `htmlDate`,
//! `htmlDateInZone`, `unixEpoch`, `dateModify`, `mustDateModify`, `ago`, and the seconds-based
//! `duration`/`durationRound`; Go's reference-layout formatting (`2006-01-02T15:04:05Z07:00`).
//!
//! Zones: `UTC`, `Local` and `""` are UTC (the agent runs in UTC); another zone name needs the
//! tz database, which a pure renderer does not read, so it falls back to UTC as Sprig does when
//! a zone cannot be loaded. `toDate`/`mustToDate` parse with Go's layout rules.

use std::rc::Rc;

use super::reg;
use crate::template::{Func, Templates};
use crate::value::{Object, Type, Value};

/// A `time.Time`: seconds since the Unix epoch, nanoseconds, and its zone (offset east of UTC
/// in seconds and abbreviation; `""` for a fixed zone without a name).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Time {
    pub unix: i64,
    pub nsec: u32,
    pub offset: i32,
    pub zone: String,
}

impl Time {
    fn utc(unix: i64, nsec: u32) -> Time {
        Time {
            unix,
            nsec,
            offset: 0,
            zone: "UTC".into(),
        }
    }
}

const MONTHS: [&str; 12] = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];
const DAYS: [&str; 7] = [
    "Sunday",
    "Monday",
    "Tuesday",
    "Wednesday",
    "Thursday",
    "Friday",
    "Saturday",
];

struct Civil {
    year: i64,
    month: usize,
    day: i64,
    yday: i64,
    weekday: usize,
    hour: i64,
    min: i64,
    sec: i64,
}

fn is_leap(y: i64) -> bool {
    (y % 4 == 0 && y % 100 != 0) || y % 400 == 0
}

fn days_in(month: i64, year: i64) -> i64 {
    match month {
        2 if is_leap(year) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's days_from_civil).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146097 + doe - 719468
}

fn civil(t: &Time) -> Civil {
    let local = t.unix + t.offset as i64;
    let days = local.div_euclid(86400);
    let secs = local.rem_euclid(86400);
    let z = days + 719468;
    let era = z.div_euclid(146097);
    let doe = z - era * 146097;
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    const CUM: [i64; 12] = [0, 31, 59, 90, 120, 151, 181, 212, 243, 273, 304, 334];
    let yday = CUM[(month - 1) as usize] + day + i64::from(is_leap(year) && month > 2);
    Civil {
        year,
        month: month as usize,
        day,
        yday,
        weekday: (days + 4).rem_euclid(7) as usize,
        hour: secs / 3600,
        min: secs % 3600 / 60,
        sec: secs % 60,
    }
}

fn pad(out: &mut String, v: i64, width: usize) {
    let s = v.unsigned_abs().to_string();
    if v < 0 {
        out.push('-');
    }
    for _ in s.len()..width {
        out.push('0');
    }
    out.push_str(&s);
}

fn starts_lower(s: &str) -> bool {
    s.chars().next().is_some_and(|c| c.is_ascii_lowercase())
}

/// Go's layout elements (`stdLongMonth` …).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Std {
    LongMonth,
    Month,
    NumMonth,
    ZeroMonth,
    LongWeekDay,
    WeekDay,
    Day,
    UnderDay,
    ZeroDay,
    UnderYearDay,
    ZeroYearDay,
    Hour,
    Hour12,
    ZeroHour12,
    Minute,
    ZeroMinute,
    Second,
    ZeroSecond,
    LongYear,
    Year,
    PM,
    Pm,
    Tz,
    Iso8601Tz,
    Iso8601SecondsTz,
    Iso8601ShortTz,
    Iso8601ColonTz,
    Iso8601ColonSecondsTz,
    NumTz,
    NumSecondsTz,
    NumShortTz,
    NumColonTz,
    NumColonSecondsTz,
    /// Fractional seconds: `0` (fixed) or `9` (trimmed), digits, separator.
    Frac(u8, usize, u8),
}

/// Go's `nextStdChunk`: the literal prefix length, the element, and its length.
fn next_std_chunk(layout: &str) -> (usize, Option<(Std, usize)>) {
    let b = layout.as_bytes();
    let has = |i: usize, s: &str| layout[i..].starts_with(s);
    for i in 0..b.len() {
        let r = match b[i] {
            b'J' if has(i, "Jan") => {
                if has(i, "January") {
                    Some((Std::LongMonth, 7))
                } else if !starts_lower(&layout[i + 3..]) {
                    Some((Std::Month, 3))
                } else {
                    None
                }
            }
            b'M' if has(i, "Mon") && (has(i, "Monday") || !starts_lower(&layout[i + 3..])) => {
                if has(i, "Monday") {
                    Some((Std::LongWeekDay, 6))
                } else {
                    Some((Std::WeekDay, 3))
                }
            }
            b'M' if has(i, "MST") => Some((Std::Tz, 3)),
            b'0' if i + 1 < b.len() && (b'1'..=b'6').contains(&b[i + 1]) => Some((
                [
                    Std::ZeroMonth,
                    Std::ZeroDay,
                    Std::ZeroHour12,
                    Std::ZeroMinute,
                    Std::ZeroSecond,
                    Std::Year,
                ][(b[i + 1] - b'1') as usize],
                2,
            )),
            b'0' if has(i, "002") => Some((Std::ZeroYearDay, 3)),
            b'1' => Some(if has(i, "15") {
                (Std::Hour, 2)
            } else {
                (Std::NumMonth, 1)
            }),
            b'2' => Some(if has(i, "2006") {
                (Std::LongYear, 4)
            } else {
                (Std::Day, 1)
            }),
            b'_' if has(i, "_2") => {
                if has(i, "_2006") {
                    return (i + 1, Some((Std::LongYear, 4)));
                }
                Some((Std::UnderDay, 2))
            }
            b'_' if has(i, "__2") => Some((Std::UnderYearDay, 3)),
            b'3' => Some((Std::Hour12, 1)),
            b'4' => Some((Std::Minute, 1)),
            b'5' => Some((Std::Second, 1)),
            b'P' if has(i, "PM") => Some((Std::PM, 2)),
            b'p' if has(i, "pm") => Some((Std::Pm, 2)),
            b'-' => [
                ("-070000", Std::NumSecondsTz),
                ("-07:00:00", Std::NumColonSecondsTz),
                ("-0700", Std::NumTz),
                ("-07:00", Std::NumColonTz),
                ("-07", Std::NumShortTz),
            ]
            .iter()
            .find(|(p, _)| has(i, p))
            .map(|(p, s)| (*s, p.len())),
            b'Z' => [
                ("Z070000", Std::Iso8601SecondsTz),
                ("Z07:00:00", Std::Iso8601ColonSecondsTz),
                ("Z0700", Std::Iso8601Tz),
                ("Z07:00", Std::Iso8601ColonTz),
                ("Z07", Std::Iso8601ShortTz),
            ]
            .iter()
            .find(|(p, _)| has(i, p))
            .map(|(p, s)| (*s, p.len())),
            b'.' | b',' if i + 1 < b.len() && (b[i + 1] == b'0' || b[i + 1] == b'9') => {
                let ch = b[i + 1];
                let mut j = i + 1;
                while j < b.len() && b[j] == ch {
                    j += 1;
                }
                if j < b.len() && b[j].is_ascii_digit() {
                    None
                } else {
                    Some((Std::Frac(ch, j - (i + 1), b[i]), j - i))
                }
            }
            _ => None,
        };
        if let Some(r) = r {
            return (i, Some(r));
        }
    }
    (b.len(), None)
}

/// `time.Time.Format`.
pub fn format(t: &Time, layout: &str) -> String {
    let c = civil(t);
    let mut out = String::new();
    let mut rest = layout;
    loop {
        let (plen, std) = next_std_chunk(rest);
        out.push_str(&rest[..plen]);
        let Some((std, len)) = std else { break };
        rest = &rest[plen + len..];
        match std {
            Std::LongMonth => out.push_str(MONTHS[c.month - 1]),
            Std::Month => out.push_str(&MONTHS[c.month - 1][..3]),
            Std::NumMonth => out.push_str(&c.month.to_string()),
            Std::ZeroMonth => pad(&mut out, c.month as i64, 2),
            Std::LongWeekDay => out.push_str(DAYS[c.weekday]),
            Std::WeekDay => out.push_str(&DAYS[c.weekday][..3]),
            Std::Day => out.push_str(&c.day.to_string()),
            Std::UnderDay => {
                if c.day < 10 {
                    out.push(' ');
                }
                out.push_str(&c.day.to_string());
            }
            Std::ZeroDay => pad(&mut out, c.day, 2),
            Std::UnderYearDay => {
                let s = c.yday.to_string();
                for _ in s.len()..3 {
                    out.push(' ');
                }
                out.push_str(&s);
            }
            Std::ZeroYearDay => pad(&mut out, c.yday, 3),
            Std::Hour => pad(&mut out, c.hour, 2),
            Std::Hour12 | Std::ZeroHour12 => {
                let h = if c.hour % 12 == 0 { 12 } else { c.hour % 12 };
                if std == Std::Hour12 {
                    out.push_str(&h.to_string())
                } else {
                    pad(&mut out, h, 2)
                }
            }
            Std::Minute => out.push_str(&c.min.to_string()),
            Std::ZeroMinute => pad(&mut out, c.min, 2),
            Std::Second => out.push_str(&c.sec.to_string()),
            Std::ZeroSecond => pad(&mut out, c.sec, 2),
            Std::LongYear => pad(&mut out, c.year, 4),
            Std::Year => pad(&mut out, c.year.rem_euclid(100), 2),
            Std::PM => out.push_str(if c.hour >= 12 { "PM" } else { "AM" }),
            Std::Pm => out.push_str(if c.hour >= 12 { "pm" } else { "am" }),
            Std::Tz => {
                if !t.zone.is_empty() {
                    out.push_str(&t.zone);
                } else {
                    let z = t.offset / 60;
                    out.push(if z < 0 { '-' } else { '+' });
                    pad(&mut out, (z.abs() / 60) as i64, 2);
                    pad(&mut out, (z.abs() % 60) as i64, 2);
                }
            }
            Std::Frac(ch, n, sep) => {
                let digits = format!("{:09}", t.nsec);
                let mut frac = digits[..n.min(9)].to_string();
                if ch == b'9' {
                    while frac.ends_with('0') {
                        frac.pop();
                    }
                    if !frac.is_empty() {
                        out.push(sep as char);
                        out.push_str(&frac);
                    }
                } else {
                    out.push(sep as char);
                    out.push_str(&frac);
                }
            }
            tz => {
                let iso = matches!(
                    tz,
                    Std::Iso8601Tz
                        | Std::Iso8601SecondsTz
                        | Std::Iso8601ShortTz
                        | Std::Iso8601ColonTz
                        | Std::Iso8601ColonSecondsTz
                );
                if iso && t.offset == 0 {
                    out.push('Z');
                    continue;
                }
                let zone = t.offset / 60;
                out.push(if zone < 0 { '-' } else { '+' });
                let (zone, abs) = (zone.abs(), t.offset.abs());
                pad(&mut out, (zone / 60) as i64, 2);
                let colon = matches!(
                    tz,
                    Std::Iso8601ColonTz
                        | Std::NumColonTz
                        | Std::Iso8601ColonSecondsTz
                        | Std::NumColonSecondsTz
                );
                if colon {
                    out.push(':');
                }
                if !matches!(tz, Std::NumShortTz | Std::Iso8601ShortTz) {
                    pad(&mut out, (zone % 60) as i64, 2);
                }
                if matches!(
                    tz,
                    Std::Iso8601SecondsTz
                        | Std::NumSecondsTz
                        | Std::NumColonSecondsTz
                        | Std::Iso8601ColonSecondsTz
                ) {
                    if matches!(tz, Std::NumColonSecondsTz | Std::Iso8601ColonSecondsTz) {
                        out.push(':');
                    }
                    pad(&mut out, (abs % 60) as i64, 2);
                }
            }
        }
    }
    out
}

/// time's own `quote` (non-ASCII and control bytes as `\xNN`).
fn tquote(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        if (c as u32) >= 0x80 || c < ' ' {
            let mut buf = [0u8; 4];
            for b in c.encode_utf8(&mut buf).bytes() {
                out.push_str(&format!("\\x{b:02x}"));
            }
        } else {
            if c == '"' || c == '\\' {
                out.push('\\');
            }
            out.push(c);
        }
    }
    out.push('"');
    out
}

fn lookup<'a>(tab: &[&str], val: &'a str) -> Option<(usize, &'a str)> {
    for (i, v) in tab.iter().enumerate() {
        if val.len() >= v.len() && val.as_bytes()[..v.len()].eq_ignore_ascii_case(v.as_bytes()) {
            return Some((i, &val[v.len()..]));
        }
    }
    None
}

fn getnum(s: &str, fixed: bool) -> Option<(i64, &str)> {
    let b = s.as_bytes();
    if b.is_empty() || !b[0].is_ascii_digit() {
        return None;
    }
    if b.len() < 2 || !b[1].is_ascii_digit() {
        if fixed {
            return None;
        }
        return Some(((b[0] - b'0') as i64, &s[1..]));
    }
    Some((((b[0] - b'0') * 10 + (b[1] - b'0')) as i64, &s[2..]))
}

fn getnum3(s: &str, fixed: bool) -> Option<(i64, &str)> {
    let b = s.as_bytes();
    let mut n = 0i64;
    let mut i = 0;
    while i < 3 && i < b.len() && b[i].is_ascii_digit() {
        n = n * 10 + (b[i] - b'0') as i64;
        i += 1;
    }
    if i == 0 || (fixed && i != 3) {
        return None;
    }
    Some((n, &s[i..]))
}

fn skip<'a>(mut value: &'a str, mut prefix: &str) -> Option<&'a str> {
    while !prefix.is_empty() {
        if prefix.starts_with(' ') {
            if !value.is_empty() && !value.starts_with(' ') {
                return None;
            }
            prefix = prefix.trim_start_matches(' ');
            value = value.trim_start_matches(' ');
            continue;
        }
        let c = prefix.chars().next()?;
        if !value.starts_with(c) {
            return None;
        }
        prefix = &prefix[c.len_utf8()..];
        value = &value[c.len_utf8()..];
    }
    Some(value)
}

fn parse_nanos(value: &str, nbytes: usize) -> Result<(u32, Option<&'static str>), ()> {
    let b = value.as_bytes();
    if b.is_empty() || !(b[0] == b'.' || b[0] == b',') {
        return Err(());
    }
    let nbytes = nbytes.min(10);
    let digits = &value[1..nbytes];
    if !digits.bytes().all(|c| c.is_ascii_digit()) {
        return Err(());
    }
    let mut ns: u64 = digits.parse().map_err(|_| ())?;
    for _ in 0..(10 - nbytes) {
        ns *= 10;
    }
    Ok((ns as u32, None))
}

fn parse_time_zone(value: &str) -> Option<usize> {
    let b = value.as_bytes();
    if b.len() < 3 {
        return None;
    }
    if value.starts_with("ChST") || value.starts_with("MeST") {
        return Some(4);
    }
    if let Some(rest) = value.strip_prefix("GMT") {
        // GMT with an optional signed hour offset.
        if let Some(sign) = rest.chars().next()
            && (sign == '+' || sign == '-')
        {
            let digits = rest[1..].bytes().take_while(u8::is_ascii_digit).count();
            if digits > 0
                && rest[1..1 + digits]
                    .parse::<i64>()
                    .is_ok_and(|h| (-23..=23).contains(&h))
            {
                return Some(3 + 1 + digits);
            }
        }
        return Some(3);
    }
    if b[0] == b'+' || b[0] == b'-' {
        let digits = value[1..].bytes().take_while(u8::is_ascii_digit).count();
        let ok =
            digits > 0 && value[1..1 + digits].parse::<i64>().is_ok_and(|h| h <= 23) && digits <= 2;
        return if ok { Some(1 + digits) } else { None };
    }
    let n = b
        .iter()
        .take(6)
        .take_while(|c| c.is_ascii_uppercase())
        .count();
    match n {
        5 if b[4] == b'T' => Some(5),
        4 if b[3] == b'T' || value.starts_with("WITA") => Some(4),
        3 => Some(3),
        _ => None,
    }
}

/// `time.ParseInLocation(layout, value, Local)` with Local = UTC.
///
/// # Errors
/// Go's `*time.ParseError` text.
pub fn parse(layout: &str, value: &str) -> Result<Time, String> {
    let (alayout, avalue) = (layout, value);
    let perr = |lelem: &str, velem: &str| {
        format!(
            "parsing time {} as {}: cannot parse {} as {}",
            tquote(avalue),
            tquote(alayout),
            tquote(velem),
            tquote(lelem)
        )
    };
    let perr_msg = |msg: String| format!("parsing time {}{msg}", tquote(avalue));
    let (mut year, mut month, mut day, mut yday) = (0i64, -1i64, -1i64, -1i64);
    let (mut hour, mut min, mut sec, mut nsec) = (0i64, 0i64, 0i64, 0u32);
    let (mut am, mut pm) = (false, false);
    let mut utc_z = false;
    let mut zone_offset: Option<i32> = None;
    let mut zone_name = String::new();
    let mut layout = layout;
    let mut value = value;
    loop {
        let (plen, std) = next_std_chunk(layout);
        let prefix = &layout[..plen];
        value = skip(value, prefix).ok_or_else(|| perr(prefix, value))?;
        let Some((std, len)) = std else {
            if !value.is_empty() {
                return Err(perr_msg(format!(": extra text: {}", tquote(value))));
            }
            break;
        };
        let stdstr = &layout[plen..plen + len];
        layout = &layout[plen + len..];
        let hold = value;
        let mut range_err: Option<&str> = None;
        let ok: Option<&str> = (|| -> Option<&str> {
            match std {
                Std::Year => {
                    let p = value.get(..2)?;
                    let y: i64 = p
                        .parse()
                        .ok()
                        .filter(|_| p.bytes().all(|b| b.is_ascii_digit()))?;
                    year = if y >= 69 { y + 1900 } else { y + 2000 };
                    Some(&value[2..])
                }
                Std::LongYear => {
                    let p = value.get(..4)?;
                    if !p.bytes().all(|b| b.is_ascii_digit()) {
                        return None;
                    }
                    year = p.parse().ok()?;
                    Some(&value[4..])
                }
                Std::Month | Std::LongMonth => {
                    let tab: Vec<&str> = if std == Std::Month {
                        MONTHS.iter().map(|m| &m[..3]).collect()
                    } else {
                        MONTHS.to_vec()
                    };
                    let (i, rest) = lookup(&tab, value)?;
                    month = i as i64 + 1;
                    Some(rest)
                }
                Std::NumMonth | Std::ZeroMonth => {
                    let (m, rest) = getnum(value, std == Std::ZeroMonth)?;
                    month = m;
                    if !(1..=12).contains(&m) {
                        range_err = Some("month");
                    }
                    Some(rest)
                }
                Std::WeekDay | Std::LongWeekDay => {
                    let tab: Vec<&str> = if std == Std::WeekDay {
                        DAYS.iter().map(|d| &d[..3]).collect()
                    } else {
                        DAYS.to_vec()
                    };
                    lookup(&tab, value).map(|(_, r)| r)
                }
                Std::Day | Std::UnderDay | Std::ZeroDay => {
                    let v = if std == Std::UnderDay {
                        value.strip_prefix(' ').unwrap_or(value)
                    } else {
                        value
                    };
                    let (d, rest) = getnum(v, std == Std::ZeroDay)?;
                    day = d;
                    Some(rest)
                }
                Std::UnderYearDay | Std::ZeroYearDay => {
                    let mut v = value;
                    for _ in 0..2 {
                        if std == Std::UnderYearDay {
                            v = v.strip_prefix(' ').unwrap_or(v);
                        }
                    }
                    let (d, rest) = getnum3(v, std == Std::ZeroYearDay)?;
                    yday = d;
                    Some(rest)
                }
                Std::Hour => {
                    let (h, rest) = getnum(value, false)?;
                    hour = h;
                    if !(0..24).contains(&h) {
                        range_err = Some("hour");
                    }
                    Some(rest)
                }
                Std::Hour12 | Std::ZeroHour12 => {
                    let (h, rest) = getnum(value, std == Std::ZeroHour12)?;
                    hour = h;
                    if !(0..=12).contains(&h) {
                        range_err = Some("hour");
                    }
                    Some(rest)
                }
                Std::Minute | Std::ZeroMinute => {
                    let (m, rest) = getnum(value, std == Std::ZeroMinute)?;
                    min = m;
                    if !(0..60).contains(&m) {
                        range_err = Some("minute");
                    }
                    Some(rest)
                }
                Std::Second | Std::ZeroSecond => {
                    let (s, mut rest) = getnum(value, std == Std::ZeroSecond)?;
                    sec = s;
                    if !(0..60).contains(&s) {
                        range_err = Some("second");
                        return Some(rest);
                    }
                    let rb = rest.as_bytes();
                    if rb.len() >= 2 && (rb[0] == b'.' || rb[0] == b',') && rb[1].is_ascii_digit() {
                        let (_, next) = next_std_chunk(layout);
                        if !matches!(next, Some((Std::Frac(..), _))) {
                            let mut n = 2;
                            while n < rb.len() && rb[n].is_ascii_digit() {
                                n += 1;
                            }
                            nsec = parse_nanos(rest, n).ok()?.0;
                            rest = &rest[n..];
                        }
                    }
                    Some(rest)
                }
                Std::PM | Std::Pm => {
                    let p = value.get(..2)?;
                    let (up, low) = if std == Std::PM {
                        ("PM", "AM")
                    } else {
                        ("pm", "am")
                    };
                    if p == up {
                        pm = true;
                    } else if p == low {
                        am = true;
                    } else {
                        return None;
                    }
                    Some(&value[2..])
                }
                Std::Tz => {
                    if let Some(rest) = value.strip_prefix("UTC") {
                        utc_z = true;
                        return Some(rest);
                    }
                    let n = parse_time_zone(value)?;
                    zone_name = value[..n].to_string();
                    Some(&value[n..])
                }
                Std::Frac(ch, n, _) => {
                    if ch == b'0' {
                        let nd = 1 + n;
                        if value.len() < nd {
                            return None;
                        }
                        nsec = parse_nanos(value, nd).ok()?.0;
                        Some(&value[nd..])
                    } else {
                        let vb = value.as_bytes();
                        if vb.len() < 2
                            || !(vb[0] == b'.' || vb[0] == b',')
                            || !vb[1].is_ascii_digit()
                        {
                            return Some(value);
                        }
                        let mut i = 0;
                        while i + 1 < vb.len() && vb[i + 1].is_ascii_digit() {
                            i += 1;
                        }
                        nsec = parse_nanos(value, 1 + i).ok()?.0;
                        Some(&value[1 + i..])
                    }
                }
                tz => {
                    let iso = matches!(
                        tz,
                        Std::Iso8601Tz
                            | Std::Iso8601SecondsTz
                            | Std::Iso8601ShortTz
                            | Std::Iso8601ColonTz
                            | Std::Iso8601ColonSecondsTz
                    );
                    if iso && value.starts_with('Z') {
                        utc_z = true;
                        return Some(&value[1..]);
                    }
                    let vb = value.as_bytes();
                    let colon = matches!(tz, Std::Iso8601ColonTz | Std::NumColonTz);
                    let short = matches!(tz, Std::NumShortTz | Std::Iso8601ShortTz);
                    let colon_secs =
                        matches!(tz, Std::Iso8601ColonSecondsTz | Std::NumColonSecondsTz);
                    let secs = matches!(tz, Std::Iso8601SecondsTz | Std::NumSecondsTz);
                    let (sign, h, m, s, rest): (u8, &str, &str, &str, &str) = if colon {
                        if vb.len() < 6 || vb[3] != b':' {
                            return None;
                        }
                        (vb[0], &value[1..3], &value[4..6], "00", &value[6..])
                    } else if short {
                        if vb.len() < 3 {
                            return None;
                        }
                        (vb[0], &value[1..3], "00", "00", &value[3..])
                    } else if colon_secs {
                        if vb.len() < 9 || vb[3] != b':' || vb[6] != b':' {
                            return None;
                        }
                        (vb[0], &value[1..3], &value[4..6], &value[7..9], &value[9..])
                    } else if secs {
                        if vb.len() < 7 {
                            return None;
                        }
                        (vb[0], &value[1..3], &value[3..5], &value[5..7], &value[7..])
                    } else {
                        if vb.len() < 5 {
                            return None;
                        }
                        (vb[0], &value[1..3], &value[3..5], "00", &value[5..])
                    };
                    let (hr, _) = getnum(h, true)?;
                    let (mm, _) = getnum(m, true)?;
                    let (ss, _) = getnum(s, true)?;
                    if hr > 24 {
                        range_err = Some("time zone offset hour");
                    }
                    if mm > 60 {
                        range_err = Some("time zone offset minute");
                    }
                    if ss > 60 {
                        range_err = Some("time zone offset second");
                    }
                    let off = ((hr * 60 + mm) * 60 + ss) as i32;
                    zone_offset = Some(match sign {
                        b'+' => off,
                        b'-' => -off,
                        _ => return None,
                    });
                    Some(rest)
                }
            }
        })();
        if let Some(r) = range_err {
            return Err(perr_msg(format!(": {r} out of range")));
        }
        match ok {
            Some(rest) => value = rest,
            None => return Err(perr(stdstr, hold)),
        }
    }
    if pm && hour < 12 {
        hour += 12;
    } else if am && hour == 12 {
        hour = 0;
    }
    if yday >= 0 {
        let leap = is_leap(year);
        if yday < 1 || yday > 365 + i64::from(leap) {
            return Err(perr_msg(": day-of-year out of range".into()));
        }
        let mut m = 1;
        let mut d = yday;
        while d > days_in(m, year) {
            d -= days_in(m, year);
            m += 1;
        }
        if month >= 0 && month != m {
            return Err(perr_msg(": day-of-year does not match month".into()));
        }
        if day >= 0 && day != d {
            return Err(perr_msg(": day-of-year does not match day".into()));
        }
        month = m;
        day = d;
    } else {
        if month < 0 {
            month = 1;
        }
        if day < 0 {
            day = 1;
        }
    }
    if day < 1 || day > days_in(month, year) {
        return Err(perr_msg(": day out of range".into()));
    }
    let unix = days_from_civil(year, month, day) * 86400 + hour * 3600 + min * 60 + sec;
    if utc_z {
        return Ok(Time::utc(unix, nsec));
    }
    if let Some(off) = zone_offset {
        let t = unix - off as i64;
        if off == 0 && (zone_name.is_empty() || zone_name == "UTC") {
            return Ok(Time::utc(t, nsec));
        }
        return Ok(Time {
            unix: t,
            nsec,
            offset: off,
            zone: zone_name,
        });
    }
    if !zone_name.is_empty() {
        if zone_name == "UTC" {
            return Ok(Time::utc(unix, nsec));
        }
        let mut off = 0i32;
        if zone_name.len() > 3 && zone_name.starts_with("GMT") {
            off = zone_name[3..].parse::<i32>().unwrap_or(0) * 3600;
        }
        // Go records the guessed offset without moving the instant (setLoc, no addSec).
        return Ok(Time {
            unix,
            nsec,
            offset: off,
            zone: zone_name,
        });
    }
    Ok(Time::utc(unix, nsec))
}

/// A `time.Time` in templates: prints as Go's `String()`, with the common methods.
struct TimeObject(Time);

impl Object for TimeObject {
    fn type_name(&self) -> String {
        "time.Time".into()
    }
    fn field(&self, _name: &str) -> Option<Value> {
        None
    }
    fn method(&self, name: &str) -> Option<Rc<Func>> {
        let t = self.0.clone();
        let c = civil(&t);
        Some(match name {
            "Year" => Func::constant(name, Type::Int, Value::Int(c.year)),
            "Day" => Func::constant(name, Type::Int, Value::Int(c.day)),
            "Hour" => Func::constant(name, Type::Int, Value::Int(c.hour)),
            "Minute" => Func::constant(name, Type::Int, Value::Int(c.min)),
            "Second" => Func::constant(name, Type::Int, Value::Int(c.sec)),
            "YearDay" => Func::constant(name, Type::Int, Value::Int(c.yday)),
            "Nanosecond" => Func::constant(name, Type::Int, Value::Int(t.nsec as i64)),
            "Unix" => Func::constant(name, Type::Int64, Value::Int64(t.unix)),
            "UnixNano" => {
                let n = t
                    .unix
                    .wrapping_mul(1_000_000_000)
                    .wrapping_add(t.nsec as i64);
                Func::constant(name, Type::Int64, Value::Int64(n))
            }
            "String" => Func::constant(name, Type::String, Value::from(go_string(&t))),
            "Format" => {
                let mut f = Func::new(name, vec![Type::String], None, Type::String, move |_, a| {
                    Ok(Value::from(format(&t, a[0].as_str().unwrap_or(""))))
                });
                f.returns_error = false;
                Rc::new(f)
            }
            "UTC" | "Local" => {
                Func::constant(name, time_type(), time_value(Time::utc(t.unix, t.nsec)))
            }
            _ => return None,
        })
    }
    fn stringer(&self) -> Option<String> {
        Some(go_string(&self.0))
    }
    fn is_pointer(&self) -> bool {
        false
    }
    fn as_any(&self) -> Option<&dyn std::any::Any> {
        Some(self)
    }
}

fn time_type() -> Type {
    Type::Named(Rc::from("time.Time"))
}

/// `time.Time.String()`.
fn go_string(t: &Time) -> String {
    format(t, "2006-01-02 15:04:05.999999999 -0700 MST")
}

fn as_time(v: &Value) -> Option<Time> {
    match v {
        Value::Object(o) => o
            .as_any()?
            .downcast_ref::<TimeObject>()
            .map(|t| t.0.clone()),
        _ => None,
    }
}

fn now() -> Time {
    let d = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    Time::utc(d.as_secs() as i64, d.subsec_nanos())
}

/// Sprig's `dateInZone` argument rules: a time, or Unix seconds as `int`/`int64`; anything else is
/// the current time. The result is in UTC (`t.In(loc)` with every zone read as UTC).
fn date_arg(v: &Value) -> Time {
    match v {
        Value::Int(i) | Value::Int64(i) => Time::utc(*i, 0),
        v => as_time(v)
            .map(|t| Time::utc(t.unix, t.nsec))
            .unwrap_or_else(now),
    }
}

fn time_value(t: Time) -> Value {
    Value::Object(Rc::new(TimeObject(t)))
}

fn add_duration(t: Time, d: i64) -> Time {
    let total = t.nsec as i128 + d as i128;
    let secs = total.div_euclid(1_000_000_000);
    Time {
        unix: t.unix + secs as i64,
        nsec: total.rem_euclid(1_000_000_000) as u32,
        ..t
    }
}

fn since(t: &Time) -> i64 {
    let n = now();
    let d = (n.unix as i128 - t.unix as i128) * 1_000_000_000 + (n.nsec as i128 - t.nsec as i128);
    d.clamp(i64::MIN as i128, i64::MAX as i128) as i64
}

/// The zero `time.Time`: 0001-01-01 00:00:00 UTC.
fn zero_time() -> Time {
    Time::utc(-62135596800, 0)
}

pub(super) fn add(t: &mut Templates) {
    use Type::{Interface as Any, String as Str};
    reg(t, "now", vec![], None, time_type(), |_| {
        Ok(time_value(now()))
    });
    reg(t, "toDate", vec![Str, Str], None, time_type(), |a| {
        Ok(time_value(
            parse(a[0].as_str().unwrap_or(""), a[1].as_str().unwrap_or(""))
                .unwrap_or_else(|_| zero_time()),
        ))
    });
    reg(t, "mustToDate", vec![Str, Str], None, time_type(), |a| {
        Ok(time_value(parse(
            a[0].as_str().unwrap_or(""),
            a[1].as_str().unwrap_or(""),
        )?))
    });
    reg(t, "date", vec![Str, Any], None, Str, |a| {
        Ok(format(&date_arg(&a[1]), a[0].as_str().unwrap_or("")).into())
    });
    for name in ["dateInZone", "date_in_zone"] {
        reg(t, name, vec![Str, Any, Str], None, Str, |a| {
            Ok(format(&date_arg(&a[1]), a[0].as_str().unwrap_or("")).into())
        });
    }
    reg(t, "htmlDate", vec![Any], None, Str, |a| {
        Ok(format(&date_arg(&a[0]), "2006-01-02").into())
    });
    reg(t, "htmlDateInZone", vec![Any, Str], None, Str, |a| {
        Ok(format(&date_arg(&a[0]), "2006-01-02").into())
    });
    reg(t, "unixEpoch", vec![time_type()], None, Str, |a| {
        Ok(as_time(&a[0])
            .map(|t| t.unix)
            .unwrap_or(0)
            .to_string()
            .into())
    });
    for name in ["dateModify", "date_modify"] {
        reg(t, name, vec![Str, time_type()], None, time_type(), |a| {
            let tm = as_time(&a[1]).unwrap_or_else(zero_time);
            Ok(time_value(
                match crate::duration::parse(a[0].as_str().unwrap_or("")) {
                    Ok(d) => add_duration(tm, d),
                    Err(_) => tm,
                },
            ))
        });
    }
    for name in ["mustDateModify", "must_date_modify"] {
        reg(t, name, vec![Str, time_type()], None, time_type(), |a| {
            let tm = as_time(&a[1]).unwrap_or_else(zero_time);
            let d = crate::duration::parse(a[0].as_str().unwrap_or(""))?;
            Ok(time_value(add_duration(tm, d)))
        });
    }
    reg(t, "ago", vec![Any], None, Str, |a| {
        let tm = match &a[0] {
            Value::Int(i) | Value::Int64(i) => Time::utc(*i, 0),
            v => as_time(v).unwrap_or_else(now),
        };
        Ok(crate::duration::format(round_secs(since(&tm))).into())
    });
    reg(t, "duration", vec![Any], None, Str, |a| {
        let n: i64 = match &a[0] {
            Value::String(s) => s.parse().unwrap_or(0),
            Value::Int64(i) => *i,
            _ => 0,
        };
        Ok(crate::duration::format(n.wrapping_mul(1_000_000_000)).into())
    });
    reg(t, "durationRound", vec![Any], None, Str, |a| {
        let d: i64 = match &a[0] {
            Value::String(s) => crate::duration::parse(s).unwrap_or(0),
            Value::Int64(i) => *i,
            v => as_time(v).map(|t| since(&t)).unwrap_or(0),
        };
        let u = d.unsigned_abs();
        let second = 1_000_000_000u64;
        let (minute, hour) = (60 * second, 3600 * second);
        let (day, month, year) = (24 * hour, 24 * hour * 30, 24 * hour * 365);
        Ok(if u > year {
            format!("{}y", u / year)
        } else if u > month {
            format!("{}mo", u / month)
        } else if u > day {
            format!("{}d", u / day)
        } else if u > hour {
            format!("{}h", u / hour)
        } else if u > minute {
            format!("{}m", u / minute)
        } else if u > second {
            format!("{}s", u / second)
        } else {
            "0s".to_string()
        }
        .into())
    });
}

fn round_secs(d: i64) -> i64 {
    let m = 1_000_000_000i64;
    let r = d % m;
    if d < 0 {
        let r = -r;
        if (r as u64) * 2 < m as u64 {
            d + r
        } else {
            d - m + r
        }
    } else if (r as u64) * 2 < m as u64 {
        d - r
    } else {
        d + m - r
    }
}
